/*
 * generation.h - one configuration generation: main.cf loaded, every map
 * opened, every restriction list and content check compiled, TLS context
 * built. The master loads it once, before forking the workers that use it;
 * on reload it loads the next one next to the old, and a failure leaves
 * the old one running (the error says what and where).
 *
 * A generation is read-only once loaded: workers only read it, which is
 * what lets every worker of a generation share its pages with the master
 * copy-on-write, one copy in memory. The Hyperscan databases of its
 * regexp:/pcre: tables go further: they live in the generation's policy
 * segment (shm/segment.h), a sealed memfd mapped read-only, shared for
 * real and unwritable by any process.
 */
#ifndef MX_GENERATION_H
#define MX_GENERATION_H

#include "config.h"
#include "message.h"
#include "session.h"

struct policy;
struct transport;
struct tls_server;
struct client_tls_policy;
struct matchlist;
struct segment;

struct generation {
    unsigned id;                    /* 1, 2, ... per reload */
    struct config cfg;
    struct session_cfg session;     /* smtpd_* limits, banner, TLS offer */
    char *banner;                   /* smtpd_banner, expanded */
    struct policy *policy;          /* restriction lists (policy.h) */
    struct message_checks checks;   /* header/mime/nested/body_checks */
    struct map **maps;              /* tables opened for checks, owned */
    size_t nmaps;
    struct transport *transport;    /* transport_maps + relayhost (transport.h) */
    struct tls_server *tls;         /* NULL: no STARTTLS (tls.h) */
    struct client_tls_policy *client_tls; /* smtp_tls_*, smtp_sasl_* (client_tls.h) */
    struct matchlist *xclient_hosts; /* smtpd_authorized_xclient_hosts */
    struct matchlist *bare_lf_exclusions; /* smtpd_forbid_bare_newline_exclusions */
    /* smtpd_discard_ehlo_keyword_address_maps: in maps (owned there). */
    struct map **ehlo_discard_maps;
    size_t n_ehlo_discard_maps;
    struct segment *seg;            /* policy segment: Hyperscan databases, sealed read-only */
};

/* Load DIR/main.cf and build everything. 0, or -errno with the reason
 * logged (and in diag when given). The policy segment is still open and
 * the maps placer (maps.h) still points at it: whatever the caller builds
 * from the generation next - the master: the frontend configuration, with
 * its own mynetworks and restriction lists - is placed in it too, instead
 * of on the heap every child inherits. generation_seal() ends that. */
int generation_load(const char *dir, unsigned id, struct generation **out, struct cfg_diag *diag);
/* Clear the placer, seal the segment (log: "generation N: policy segment
 * N KiB, ..."), give the freed heap back (malloc_trim). Before any fork.
 * 0 or -errno (in diag or logged). */
int generation_seal(struct generation *g, struct cfg_diag *diag);
/* Also of a generation never sealed (clears the placer). */
void generation_free(struct generation *g);

/* smtpd's per-client EHLO filter: the first of
 * smtpd_discard_ehlo_keyword_address_maps that has the client address
 * (the address string alone, no parent networks: Postfix's maps_find
 * with the address) gives the EHLO_KW_* bits in *mask and 1; 0 when no
 * table has it (smtpd_discard_ehlo_keywords applies); -errno on a lookup
 * error (logged). */
int generation_ehlo_discard(const struct generation *g, const char *addr, unsigned *mask);

#endif
