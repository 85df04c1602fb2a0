/*
 * fe_early.h - early client screening in the frontend: the client's PTR
 * name with forward confirmation, looked up through c-ares while the
 * greet wait and the DNSBL queries run, and a pre-evaluation of
 * smtpd_client_restrictions with the workers' restriction engine
 * (workers/restrict.h) on what the frontend knows.
 *
 *   fe_early.c       the steps (start the lookup, wait for it and judge),
 *                    the record's PTR fields, the per-connection state
 *   fe_early_conf.c  the prepared configuration (master, before fork):
 *                    the restriction context and smtpd_client_restrictions
 *   fe_early_rule.c  pure rules (fe_early_rule.h): Postfix's peer codes from a lookup, which
 *                    lists the frontend can decide, which outcomes it acts on
 *
 * The frontend acts only on a definite final 5xx reject of the whole list;
 * anything else (permit, dunno, 4xx, a deferral, HOLD/WARN/DISCARD/...,
 * a log line the engine asked for, a restriction needing facts or DNS the
 * frontend does not have) hands the client off and the worker decides as
 * it always did, with the lookup's result in the record so that it does
 * not look the client up again.
 */
#ifndef MX_FE_EARLY_H
#define MX_FE_EARLY_H

#include "fe_early_rule.h"
#include "fe_int.h"

/* fe_early.c: steps and hooks (fe_conn.c, fe_workers.c, fe_dummy.c). */
enum step_res fe_early_start(struct fe *fe, struct fe_conn *c);
enum step_res fe_early_judge(struct fe *fe, struct fe_conn *c);
/* The deep tests saw HELO/EHLO helo: FE_EARLY_REJECT with *reply (CRLF
 * ended, the connection's until release) holding smtpd's reply; CLEAN:
 * the worker would say nothing either; HANDOFF: the worker must judge. */
enum fe_early_outcome fe_early_helo(struct fe *fe, struct fe_conn *c, const char *helo, bool esmtp,
                                    const char **reply, size_t *len);
void fe_early_fill(const struct fe_conn *c, struct handoff *h);
void fe_early_release(struct fe *fe, struct fe_conn *c);
/* "name[addr]" as smtpd logs the client ("unknown" without a confirmed name). */
void fe_early_namaddr(const struct fe_conn *c, char *name, size_t nlen, char *addr, size_t alen);
/* The same as one "NAME[ADDR]" string. */
void fe_early_namaddr_str(const struct fe_conn *c, char *out, size_t len);
/* smtpd's state->ehlo_discard_mask for this client (EHLO_KW_*): its entry
 * in smtpd_discard_ehlo_keyword_address_maps, else
 * smtpd_discard_ehlo_keywords. */
unsigned fe_early_ehlo_discard(const struct fe *fe, const struct fe_conn *c);

#endif
