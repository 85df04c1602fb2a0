/*
 * client_tls.h - TLS and SASL toward the next hop, as Postfix's smtp(8)
 * does them, in reusable sans-I/O pieces for the proxy delivery
 * (upstream.c) and the queue runner.
 *
 *   struct client_tls_policy  one per generation, built by the master from
 *       smtp_tls_* and smtp_sasl_*: the TLS client context, the level, the
 *       certificate match lists, SNI, the password tables and the SASL
 *       options. Read-only once built.
 *   struct client_tls_cache   TLS sessions for reuse
 *       (smtp_tls_session_cache_database set): each process's handle on
 *       the LMDB environment every delivering process shares
 *       (shm/tls_scache.h), opened at its first use in that process (never
 *       across a fork), entries expiring after
 *       smtp_tls_session_cache_timeout. A cache that cannot be opened is
 *       warned about once and the process runs without (full handshakes).
 *   struct client_link        one next-hop connection: the SMTP client
 *       (smtp_client.h, owned by the caller) plus STARTTLS, the TLS engine
 *       (tls.h) and the AUTH exchange (sasl_client.h). The caller moves
 *       bytes between its socket and the link and reads events; the link
 *       runs the handshake, certificate checks and AUTH itself and shows
 *       the caller only what smtp_client_event() would: replies, DOWN,
 *       READY once the session is ready for mail.
 *
 * Levels (smtp_tls_security_level; empty resolves through smtp_use_tls /
 * smtp_enforce_tls at config load): none - no STARTTLS; may - STARTTLS
 * when offered, no checks, plaintext when not offered or refused; encrypt -
 * STARTTLS required; verify - and a certificate trusted by
 * smtp_tls_CAfile/CApath whose names match smtp_tls_verify_cert_match
 * (default hostname); secure - the same with smtp_tls_secure_cert_match
 * (default nexthop, dot-nexthop). dane is taken as may (no DNSSEC
 * resolver here, as Postfix without one), dane-only and fingerprint are
 * refused at load.
 *
 * Failures, with Postfix's texts and DSNs (client_link_why()):
 *   4.7.4 TLS is required, but was not offered by host H[A]
 *   4.7.4 TLS is required, but host H[A] refused to start TLS: <reply>
 *   4.7.5 Cannot start TLS: handshake failure   (at may too: Postfix
 *         retries in plaintext only for mail queued minimal_backoff_time
 *         or longer, and never with SASL credentials; a proxied message is
 *         always new)
 *   4.7.5 Server certificate not trusted / Server certificate not verified
 *   4.7.x SASL authentication failed; server H[A] said: 535 ...
 *   4.7.0 SASL authentication failed; cannot authenticate to server H[A]:
 *         no mechanism available   (noplaintext without TLS: nothing sent)
 * The smtp_client then fails: every queued command gets its fake 451.
 */
#ifndef MX_CLIENT_TLS_H
#define MX_CLIENT_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sasl_client.h"
#include "smtp_client.h"
#include "smtp_reply.h"

struct map;
struct tls_client;
struct tls_conn;

/* ---- policy (client_tls.c) --------------------------------------------- */

struct client_tls_policy {
    struct tls_client *ctx;     /* NULL: level none */
    int level;                  /* enum cfg_enum_tls, dane mapped to may */
    const struct cfg_list *match; /* verify/secure: the cert match list */
    const char *servername;     /* smtp_tls_servername ("" none) */
    int loglevel;               /* smtp_tls_loglevel */
    long cache_timeout;         /* seconds; 0: no session cache */
    const char *cache_db;       /* smtp_tls_session_cache_database */
    /* SASL */
    int sasl_enable;
    struct map **pw_maps;       /* smtp_sasl_password_maps, owned */
    size_t npw;
    unsigned sasl_opts, sasl_tls_opts, mech_filter;
};

/* 0 with *out (never NULL: a level none policy still carries SASL), or
 * -EINVAL/-ENOMEM with err naming the parameter. */
int client_tls_policy_create(const struct config *cfg, struct client_tls_policy **out, char *err,
                             size_t errlen);
void client_tls_policy_free(struct client_tls_policy *p);

/* smtp_client_opts.starttls for a level: 0 never, 1 if offered, 2 required. */
int client_tls_starttls_mode(int level);
/* After the handshake: what the level says about the certificate. */
enum client_tls_verdict {
    CLIENT_TLS_OK,
    CLIENT_TLS_NOT_TRUSTED,   /* "Server certificate not trusted" */
    CLIENT_TLS_NOT_VERIFIED,  /* "Server certificate not verified" */
};
enum client_tls_verdict client_tls_judge(int level, int present, int trusted, int matched);
/* One smtp_tls_*_cert_match word to the name given to the certificate
 * check: "hostname" -> host, "nexthop" -> nexthop, "dot-nexthop" ->
 * ".nexthop", anything else as written (".domain": any subdomain). Returns
 * 0, or -ENOSPC. */
int client_tls_match_name(const char *word, const char *host, const char *nexthop, char *out,
                          size_t size);
/* The SNI name: smtp_tls_servername "hostname" -> host, "nexthop" ->
 * nexthop, "" -> none, else as written. */
const char *client_tls_sni(const char *servername, const char *host, const char *nexthop);

/* ---- session cache (client_tls.c) -------------------------------------- */

#define CLIENT_TLS_SESSION_MAX 8192
struct tls_scache;
struct tls_scache_sweep;
/* Zero-initialised by its owner; one per process. */
struct client_tls_cache {
    struct tls_scache *db;        /* NULL until the first use */
    int failed;                   /* could not open: no cache here */
    struct tls_scache_sweep *sw;  /* client_tls_cache_sweep() state */
    int64_t next_pass;            /* when the next sweep pass starts */
};
/* Open the policy's cache in this process if not done yet: 1 usable, 0
 * none configured or it failed (logged once). */
int client_tls_cache_ready(struct client_tls_cache *c, const struct client_tls_policy *pol);
/* 1 with der[0..*len) for key saved and fresh at now (wall-clock
 * seconds), else 0. */
int client_tls_cache_get(struct client_tls_cache *c, const struct client_tls_policy *pol,
                         const char *key, int64_t now, unsigned char *der, size_t cap,
                         size_t *len);
void client_tls_cache_put(struct client_tls_cache *c, const struct client_tls_policy *pol,
                          const char *key, const void *der, size_t len, int64_t now);
void client_tls_cache_drop(struct client_tls_cache *c, const struct client_tls_policy *pol,
                           const char *key);
/* Expired entries out, a bounded batch a call: a pass when the process
 * starts and every smtp_tls_session_cache_timeout after (one process
 * should call it: the queue runner). */
void client_tls_cache_sweep(struct client_tls_cache *c, const struct client_tls_policy *pol,
                            int64_t now);
void client_tls_cache_close(struct client_tls_cache *c);

/* ---- one connection (client_tls_link.c) --------------------------------- */

enum client_link_phase {
    LINK_SETUP,   /* greeting, EHLO, STARTTLS, handshake */
    LINK_AUTH,    /* AUTH exchange: the link owns the connection */
    LINK_OPEN,    /* the caller's transactions run */
};

struct client_link_peer {
    const char *host;     /* the server's name (MX host or relayhost name) */
    const char *addr;     /* its address, printable */
    unsigned port;
    const char *nexthop;  /* the next-hop domain, brackets and port removed */
    const char *dest;     /* the next hop as written: "[host]:587", "domain" */
};

struct client_link {
    struct smtp_client *cl;       /* the caller's, initialised by link_init */
    const struct client_tls_policy *pol;
    struct client_tls_cache *cache; /* may be NULL */
    struct tls_conn *tls;
    enum client_link_phase phase;
    int handshaking;
    int sasl_tried;
    int failed;                   /* why[] holds a reason */
    uint64_t now_ms;              /* caller's clock, for the cache */
    char host[256], addr[64], nexthop[256], dest[300];
    unsigned port;
    char namaddr[340];            /* host[addr]:port, as Postfix's namaddrport */
    char server[330];             /* host[addr], as Postfix's namaddr */
    char cache_key[340];
    char dsn[12];
    char why[SASL_WHY_MAX];
    /* AUTH: the line to send and the server's replies. */
    struct sasl_client sasl;
    char aout[SASL_LINE_MAX];
    size_t aout_off, aout_len;
    struct smtp_reply arp;
    size_t ain_len;
    char ain[2 * SMTP_REPLY_LINE_MAX + 64]; /* AUTH replies are short */
    /* Plaintext from TLS the SMTP client had no room for yet. */
    size_t pin_off, pin_len;
    char pin[4096];
};

/* Set up for a new connection: smtp_client_init(cl, opts) with STARTTLS
 * as the policy's level says. */
void client_link_init(struct client_link *l, struct smtp_client *cl,
                      const struct smtp_client_opts *opts, const struct client_tls_policy *pol,
                      struct client_tls_cache *cache, const struct client_link_peer *peer);
/* Release the TLS engine and wipe credentials. */
void client_link_free(struct client_link *l);
/* Bytes from the socket: returns how many were taken (0: read events
 * first). */
size_t client_link_input(struct client_link *l, const char *buf, size_t len);
/* Bytes for the socket: copies up to cap bytes into buf, returns the count. */
size_t client_link_output(struct client_link *l, char *buf, size_t cap);
/* As smtp_client_event(), with the handshake, checks and AUTH done here. */
int client_link_event(struct client_link *l, struct smtp_client_event *ev);
/* After a DOWN: Postfix's reason and DSN when the link failed it (TLS or
 * SASL), else NULL. */
const char *client_link_why(const struct client_link *l, const char **dsn);
int client_link_tls_active(const struct client_link *l);
/* The caller's clock (ms). The session cache uses wall-clock time
 * itself: its entries outlive processes. */
void client_link_set_clock(struct client_link *l, uint64_t now_ms);

#endif
