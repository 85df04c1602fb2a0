/*
 * policy.h - the glue between the SMTP session (session.h) and the
 * restriction engine (restrict.h): smtpd_check.c's stage drivers.
 *
 * A struct policy is one generation's compiled smtpd_*_restrictions,
 * built by the master, read-only afterwards. A struct policy_session is
 * one client's evaluation state (defer_if_permit carried between stages,
 * the DNS query in flight). The worker's session_ops.policy callback is
 * policy_session_check():
 *
 *   session stage   lists evaluated (Postfix 3.7 smtpd_check_*)
 *   CONNECT         smtpd_client_restrictions
 *   HELO            smtpd_helo_restrictions (nothing without a HELO name)
 *   MAIL            smtpd_sender_restrictions (nothing without a sender)
 *   RCPT, VRFY      smtpd_relay_restrictions, then smtpd_recipient_
 *                   restrictions (the other order when
 *                   smtpd_relay_before_recipient_restrictions = no); a bare
 *                   "postmaster" is accepted without any check, the
 *                   delayed client/HELO/sender lists included (RFC 5321
 *                   4.5.1, smtpd_check_rcpt()); VRFY is checked as RCPT,
 *                   as vrfy_cmd() calls smtpd_check_rcpt()
 *   DATA / EOD      smtpd_data / smtpd_end_of_data_restrictions
 *   ETRN            smtpd_etrn_restrictions
 *
 * smtpd_delay_reject = yes: the session asks CONNECT, HELO (and MAIL) again
 * before each RCPT/VRFY/ETRN stage. Those early stages are evaluated when
 * asked, but their verdict and their log lines are held until the last
 * stage of the chain, where the command ("RCPT", "VRFY", "ETRN") and the
 * recipient are known: Postfix logs "reject: RCPT from ...: <client
 * reject>; from=<s> to=<r>", and accepts postmaster before any of them.
 * So with delay_reject an early stage always answers DUNNO and the chain's
 * last stage carries the first reject of the chain.
 *
 * Results: REJECT with a 4xx reply -> SESSION_DEFER, 5xx -> SESSION_REJECT
 * (code, dsn and text split out of "CODE D.D.D text"); a DISCARD action ->
 * SESSION_DISCARD, HOLD -> SESSION_HOLD, else PERMIT or DUNNO.
 *
 * Logging: one line per event as smtpd_check.c's log_whatsup() writes it,
 * through log_info(): "NOQUEUE: reject: RCPT from NAME[ADDR]: 554 5.7.1
 * <x>: Relay access denied; from=<a> to=<b> proto=ESMTP helo=<h>", and the
 * same form for reject_warning, warn, hold, discard, filter, redirect.
 *
 * DNS: a restriction that needs DNS (rbl, rhsbl, unknown domain...) makes
 * policy_session_check() answer SESSION_PENDING after starting the query on
 * the caller's dns_ctx; the answer arrives through dns_process() /
 * dns_timeout() in the caller's loop, the walk resumes there and ends with
 * done(arg, &verdict), called exactly once and never from inside
 * policy_session_check(). Without a dns_ctx, or when the resolver refuses
 * the query (table full), the lookup counts as a temporary failure, as
 * Postfix treats a dead resolver.
 *
 * Failure: policy_create returns -errno with err naming the parameter;
 * policy_session_create returns NULL only if malloc fails.
 */
#ifndef MX_POLICY_H
#define MX_POLICY_H

#include <stddef.h>

#include "dns.h"
#include "session.h"

struct config;
struct policy;
struct policy_session;

typedef void (*policy_done_fn)(void *arg, const struct session_verdict *v);

/* Compile every smtpd_*_restrictions list of a loaded configuration. */
int policy_create(const struct config *cfg, struct policy **out, char *err, size_t errlen);
void policy_free(struct policy *p);
/* Where recipients are delivered (transport_maps): fn answers for an
 * address (restrict.h, restrict_transport_fn); addresses that resolve to
 * error: or retry: are refused by the unlisted-address checks. */
void policy_set_transport(struct policy *p, int (*fn)(void *arg, const char *addr, char *text,
                                                      size_t size),
                          void *arg);

/* dns may be NULL: DNS-needing restrictions then answer as a temporary
 * failure. p and dns must outlive the session. */
struct policy_session *policy_session_create(const struct policy *p, struct dns_ctx *dns,
                                             policy_done_fn done, void *arg);
/* Forgets a pending DNS query: no done() call after this. */
void policy_session_free(struct policy_session *ps);

/* The client, after its PTR lookup (or from XCLIENT / the handoff record).
 * reverse_name: the PTR name ("" or NULL: none). Resets the evaluation
 * state (defer_if_permit of earlier stages), as a new client does. */
void policy_session_client(struct policy_session *ps, const struct session_peer *peer,
                           enum dns_name_status name_status,
                           enum dns_name_status reverse_status, const char *reverse_name);

/* The queue ID logged in reject lines ("NOQUEUE" while NULL): Postfix
 * names the queue file from the first accepted RCPT on. */
void policy_session_queue_id(struct policy_session *ps, const char *queue_id);

/* Decide one stage (session_ops.policy). SESSION_PENDING: the verdict comes
 * through done(). */
enum session_action policy_session_check(struct policy_session *ps,
                                         const struct session_facts *f,
                                         struct session_verdict *v);

/* A decision is waiting for DNS. */
int policy_session_pending(const struct policy_session *ps);

/* The REDIRECT target an access map gave since the last call (copied to
 * out, "" if none) and forgotten: the caller keeps it for its
 * transaction, as smtpd's saved_redirect. */
void policy_session_take_redirect(struct policy_session *ps, char *out, size_t size);

#endif
