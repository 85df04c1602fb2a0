/*
 * fe_early_rule.c - pure rules of the frontend's early client screening
 * (fe_early_rule.h): Postfix's peer codes, which restriction lists the
 * frontend may evaluate at connect time, and which outcomes it acts on.
 *
 * Why so narrow: the frontend's verdict replaces the worker's, so it must
 * be one the worker would give whatever the client does next. Only a
 * final 5xx reject of the whole list, reached without a side effect that
 * the worker would have to log or carry (warn, hold, discard, redirect,
 * filter, prepend, reject_warning), qualifies; everything else is left to
 * the worker.
 *
 * No I/O, no allocation; nothing here fails.
 */
#include "fe_early_rule.h"

#include <stdio.h>
#include <string.h>

enum handoff_peer fe_early_reverse_code(enum dns_client_status s)
{
    switch (s) {
    case DNS_CLIENT_OK:
    case DNS_CLIENT_FORGED:
    case DNS_CLIENT_FWD_TEMP: return HANDOFF_PEER_OK;
    case DNS_CLIENT_NOPTR: return HANDOFF_PEER_PERM;
    default: return HANDOFF_PEER_TEMP;
    }
}

enum handoff_peer fe_early_name_code(enum dns_client_status s)
{
    switch (s) {
    case DNS_CLIENT_OK: return HANDOFF_PEER_OK;
    case DNS_CLIENT_FORGED: return HANDOFF_PEER_FORGED;
    case DNS_CLIENT_NOPTR: return HANDOFF_PEER_PERM;
    default: return HANDOFF_PEER_TEMP; /* FWD_TEMP, TEMP */
    }
}

enum dns_name_status fe_early_status(enum handoff_peer p)
{
    switch (p) {
    case HANDOFF_PEER_OK: return DNS_NAME_OK;
    case HANDOFF_PEER_TEMP: return DNS_NAME_TEMP;
    default: return DNS_NAME_PERM;
    }
}

/* Restrictions whose answer the frontend knows at connect time exactly as
 * the worker would know it when Postfix evaluates the list (at RCPT with
 * smtpd_delay_reject = yes): the client's address and names only. DNS
 * lookups (reject_rbl_client) are allowed: the walk stops there and hands
 * off (NEED_DNS). */
static bool op_known(enum restrict_op op, bool helo)
{
    switch (op) {
    /* Facts of the HELO argument alone, known once it is: the check_helo_access
     * lookups and the name's syntax; the DNS ones stop the walk (NEED_DNS). */
    case ROP_CHECK_HELO:
    case ROP_REJECT_INVALID_HELO:
    case ROP_REJECT_NON_FQDN_HELO:
    case ROP_REJECT_UNKNOWN_HELO:
    case ROP_REJECT_RHSBL_HELO: return helo;
    case ROP_PERMIT:
    case ROP_REJECT:
    case ROP_DEFER:
    case ROP_WARN_IF_REJECT:
    case ROP_DEFER_IF_PERMIT:
    case ROP_DEFER_IF_REJECT:
    case ROP_PERMIT_MYNETWORKS:
    case ROP_REJECT_UNKNOWN_CLIENT:
    case ROP_REJECT_UNKNOWN_REVERSE:
    case ROP_CHECK_CLIENT:
    case ROP_DEFAULT_ACL:
    case ROP_REJECT_RBL_CLIENT:
    case ROP_REJECT_RHSBL_CLIENT:
    case ROP_CLASS: return true;
    default: return false;
    }
}

static bool decidable(const struct restrict_ctx *ctx, const struct restrict_list *l, int depth,
                      bool helo)
{
    if (depth > RESTRICT_DEPTH_MAX)
        return false;
    for (size_t i = 0; i < l->n; i++) {
        const struct restrict_item *it = &l->v[i];
        if (!op_known((enum restrict_op)it->op, helo))
            return false;
        if (it->op == ROP_CLASS &&
            (it->cls >= ctx->nclasses ||
             !decidable(ctx, &ctx->classes[it->cls], depth + 1, helo)))
            return false;
    }
    return true;
}

bool fe_early_list_decidable(const struct restrict_ctx *ctx, const struct restrict_list *list)
{
    if (!ctx || !list || list->n == 0)
        return false;
    return decidable(ctx, list, 0, false);
}

bool fe_early_helo_decidable(const struct restrict_ctx *ctx, const struct restrict_list *list)
{
    if (!ctx || !list || list->n == 0)
        return false;
    return decidable(ctx, list, 0, true);
}

enum fe_early_outcome fe_early_judge_result(enum restrict_result r,
                                            const struct restrict_verdict *v,
                                            const struct restrict_state *st, unsigned nlog)
{
    if (r != RESTRICT_REJECT || !v)
        return FE_EARLY_HANDOFF;
    if (v->code < 500 || v->code > 599 || v->reply[0] != '5')
        return FE_EARLY_HANDOFF; /* 4xx, or a deferral that the flags made of it */
    if (nlog > 0 || st->hold || st->discard || st->redirect[0] || st->filter[0] ||
        st->prepend[0] || st->defer_if_reject.active || st->warn_level > 0)
        return FE_EARLY_HANDOFF;
    return FE_EARLY_REJECT;
}

/* Counts what the engine asks to log besides the reject itself (which
 * the enforce engine logs as smtpd would): warn, reject_warning, hold... */
static void count_log(void *arg, const char *whatsup, const char *text)
{
    (void)text;
    if (strcmp(whatsup, "reject") != 0)
        (*(unsigned *)arg)++;
}

/* The client's facts as the worker loads them (workers/policy.c). */
static void client_facts(const struct fe_early_client *cl, char *namaddr, size_t nlen,
                         unsigned *nlog, struct restrict_facts *f)
{
    const char *name = cl->name_code == HANDOFF_PEER_OK && cl->ptr[0] ? cl->ptr : "unknown";
    snprintf(namaddr, nlen, "%s[%s]", name, cl->addr);
    *f = (struct restrict_facts){
        .name = name,
        .reverse_name = cl->reverse_code == HANDOFF_PEER_OK && cl->ptr[0] ? cl->ptr : "unknown",
        .addr = cl->addr,
        .namaddr = namaddr,
        .name_status = fe_early_status(cl->name_code),
        .reverse_name_status = fe_early_status(cl->reverse_code),
        /* Any sender will do: only table actions look at it (ops that
         * read the sender make a list undecidable). */
        .sender = cl->delay_reject ? "" : NULL,
        .log = count_log, /* whatever the engine wants logged, the worker logs */
        .log_arg = nlog,
    };
}

enum fe_early_outcome fe_early_evaluate(const struct restrict_ctx *ctx,
                                        const struct restrict_list *list,
                                        const struct fe_early_client *cl,
                                        struct restrict_state *st, struct restrict_verdict *v)
{
    char namaddr[DNS_NAME_MAX + 64];
    unsigned nlog = 0;
    struct restrict_facts f;
    client_facts(cl, namaddr, sizeof(namaddr), &nlog, &f);
    memset(st, 0, sizeof(*st));
    memset(v, 0, sizeof(*v));
    if (!ctx || !list || cl->name_code == HANDOFF_PEER_UNCHECKED ||
        cl->reverse_code == HANDOFF_PEER_UNCHECKED)
        return FE_EARLY_HANDOFF;
    restrict_stage_begin(st, RESTRICT_CLIENT);
    enum restrict_result r = restrict_eval(ctx, list, &f, st, v);
    if (r == RESTRICT_NEED_DNS)
        return FE_EARLY_HANDOFF; /* a DNS list: the worker asks it */
    r = restrict_stage_end(st, r, &f, v);
    return fe_early_judge_result(r, v, st, nlog);
}

enum fe_early_outcome fe_early_evaluate_helo(const struct restrict_ctx *ctx,
                                             const struct restrict_list *client,
                                             const struct restrict_list *helo,
                                             const struct fe_early_client *cl,
                                             const char *helo_name, bool esmtp,
                                             struct restrict_state *st,
                                             struct restrict_verdict *v)
{
    char namaddr[DNS_NAME_MAX + 64];
    unsigned nlog = 0;
    struct restrict_facts f;
    client_facts(cl, namaddr, sizeof(namaddr), &nlog, &f);
    memset(st, 0, sizeof(*st));
    memset(v, 0, sizeof(*v));
    if (!ctx || !helo || !helo_name || cl->name_code == HANDOFF_PEER_UNCHECKED ||
        cl->reverse_code == HANDOFF_PEER_UNCHECKED)
        return FE_EARLY_HANDOFF;
    f.helo = helo_name;
    f.esmtp = esmtp;
    /* smtpd_check_client() first, as the worker runs it (with
     * smtpd_delay_reject = yes, from smtpd_check_rcpt()): its defer flags
     * carry over; any verdict of its own is the worker's to give. */
    enum restrict_result r = RESTRICT_DUNNO;
    restrict_stage_begin(st, RESTRICT_CLIENT);
    if (client) {
        r = restrict_eval(ctx, client, &f, st, v);
        if (r == RESTRICT_NEED_DNS)
            return FE_EARLY_HANDOFF;
    }
    r = restrict_stage_end(st, r, &f, v);
    if (r == RESTRICT_REJECT || nlog > 0)
        return FE_EARLY_HANDOFF;
    restrict_stage_begin(st, RESTRICT_HELO);
    memset(v, 0, sizeof(*v));
    r = restrict_eval(ctx, helo, &f, st, v);
    if (r == RESTRICT_NEED_DNS)
        return FE_EARLY_HANDOFF; /* reject_unknown_helo_hostname, rhsbl: the worker's */
    r = restrict_stage_end(st, r, &f, v);
    if ((r == RESTRICT_DUNNO || r == RESTRICT_PERMIT) && nlog == 0 && !st->hold &&
        !st->discard && !st->redirect[0] && !st->filter[0] && !st->prepend[0] &&
        !st->defer_if_permit.active && !st->defer_if_reject.active && !st->dip_client &&
        !st->dip_helo && st->warn_level == 0)
        return FE_EARLY_CLEAN;
    return fe_early_judge_result(r, v, st, nlog);
}
