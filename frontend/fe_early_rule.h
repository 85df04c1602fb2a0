/*
 * fe_early_rule.h - the pure parts of the frontend's early client
 * screening (see fe_early.h): the prepared configuration, Postfix's peer
 * codes from a lookup, which restriction lists the frontend can decide,
 * and which outcomes of the engine it acts on. No I/O, no globals.
 */
#ifndef MX_FE_EARLY_RULE_H
#define MX_FE_EARLY_RULE_H

#include <stdbool.h>
#include <stdint.h>

#include "dns.h"
#include "dummy_cmd.h"
#include "ehlo_reply.h"
#include "handoff.h"
#include "restrict.h"

struct config;
struct cfg_diag;
struct map;

struct fe_early_conf {
    bool ptr;          /* smtpd_peername_lookup: the frontend looks the client up */
    bool delay_reject; /* smtpd_delay_reject: the reject waits for RCPT */
    bool helo_required; /* smtpd_helo_required: MAIL before HELO is refused */
    unsigned timeout_ms; /* per lookup step: postscreen_dnsbl_timeout */
    struct restrict_ctx *ctx;
    /* smtpd_client_restrictions; NULL when empty or not decidable here
     * (fe_early_list_decidable). */
    struct restrict_list *client;
    /* smtpd_helo_restrictions; NULL when empty or not decidable here
     * (fe_early_helo_decidable), or when smtpd_client_restrictions is set
     * but not decidable (the worker's client verdict would come first). */
    struct restrict_list *helo;
    /* The enforce engine's smtpd mode (dummy_cmd.h): smtpd's limits and
     * switches; myhostname points into the same struct fe_conf. */
    struct dummy_smtpd_conf smtpd;
    uint64_t error_sleep_ms; /* smtpd_error_sleep_time */
    /* smtpd's EHLO reply in the enforce engine's smtpd mode (the worker's
     * options: session_limits()); its discard is smtpd_discard_ehlo_keywords,
     * replaced for a client by its entry in
     * smtpd_discard_ehlo_keyword_address_maps (ehlo_maps). */
    struct ehlo_opts ehlo;
    struct map **ehlo_maps;
    size_t n_ehlo_maps;
    char myhostname[256];
};

/* fe_early_conf.c. 0 or -errno with the reason in diag. */
int fe_early_conf_load(const struct config *cfg, struct fe_early_conf **out,
                       struct cfg_diag *diag);
void fe_early_conf_free(struct fe_early_conf *e);

/* fe_early_rule.c (pure). */
/* Postfix's reverse_name_status / name_status codes for a lookup. */
enum handoff_peer fe_early_reverse_code(enum dns_client_status s);
enum handoff_peer fe_early_name_code(enum dns_client_status s);
/* The engine's status for a record code (FORGED counts as PERM, as
 * smtpd_check.c's ">= SMTPD_PEER_CODE_PERM"). */
enum dns_name_status fe_early_status(enum handoff_peer p);
/* May the frontend evaluate list at connect time? Not when it (or a
 * class it names) holds a restriction whose answer depends on what the
 * session may still bring before Postfix evaluates the list (TLS client
 * certificates, SASL, pipelining, HELO/sender/recipient checks). */
bool fe_early_list_decidable(const struct restrict_ctx *ctx, const struct restrict_list *list);
/* The same for smtpd_helo_restrictions once the HELO argument is known:
 * also check_helo_access, reject_invalid_helo_hostname,
 * reject_non_fqdn_helo_hostname and the DNS ones (which hand off). */
bool fe_early_helo_decidable(const struct restrict_ctx *ctx, const struct restrict_list *list);
/* CLEAN (fe_early_evaluate_helo only): nothing decided, nothing to log or
 * carry - the frontend may answer the HELO as the worker would. */
enum fe_early_outcome { FE_EARLY_HANDOFF, FE_EARLY_REJECT, FE_EARLY_CLEAN };
/* The walk ended with r (after restrict_stage_end), st as it left it,
 * nlog log events asked for: REJECT only for a plain final 5xx. */
enum fe_early_outcome fe_early_judge_result(enum restrict_result r,
                                            const struct restrict_verdict *v,
                                            const struct restrict_state *st, unsigned nlog);

/* The client as the frontend knows it at connect time. */
struct fe_early_client {
    const char *addr;           /* printable address */
    const char *ptr;            /* PTR name ("" without one) */
    enum handoff_peer name_code, reverse_code; /* not UNCHECKED */
    /* smtpd_delay_reject = yes: Postfix evaluates the list at RCPT, inside
     * a transaction, where HOLD/DISCARD/FILTER/REDIRECT/PREPEND values
     * take effect (at connect they are skipped). */
    bool delay_reject;
};
/* Walk list for the client stage on st (zeroed here) as the worker would
 * at the client's first check: FE_EARLY_REJECT with v->reply holding
 * smtpd's reply, or FE_EARLY_HANDOFF (anything else, including a walk
 * that needs DNS). */
enum fe_early_outcome fe_early_evaluate(const struct restrict_ctx *ctx,
                                        const struct restrict_list *list,
                                        const struct fe_early_client *cl,
                                        struct restrict_state *st, struct restrict_verdict *v);

/* Walk client (may be NULL: empty) and then helo on st as the worker does
 * at the HELO check (smtpd_delay_reject = no) or at RCPT (= yes), the
 * HELO argument being helo: FE_EARLY_REJECT only when the client list
 * decides nothing (permit or dunno, no side effect) and the helo list
 * ends in a plain final 5xx, v->reply holding smtpd's reply; CLEAN when
 * both lists end in permit or dunno without any flag or log event. */
enum fe_early_outcome fe_early_evaluate_helo(const struct restrict_ctx *ctx,
                                             const struct restrict_list *client,
                                             const struct restrict_list *helo,
                                             const struct fe_early_client *cl,
                                             const char *helo_name, bool esmtp,
                                             struct restrict_state *st,
                                             struct restrict_verdict *v);

#endif
