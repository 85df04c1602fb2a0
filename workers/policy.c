/*
 * policy.c - smtpd_check.c's stage drivers over the restriction engine
 * (see policy.h): which lists run at which session stage, the
 * smtpd_delay_reject chain, DNS suspension and resumption, and the
 * verdict handed back to the session. Log lines are policy_log.c's.
 *
 * A walk is one session stage: up to two restriction lists (relay and
 * recipient at RCPT) evaluated in turn on one restrict_state. It stops
 * when a list needs DNS (the query goes to the caller's dns_ctx and the
 * walk continues in the answer's callback) and ends with a result mapped
 * to a session_verdict.
 *
 * Failure: configuration problems are refused at policy_create(); at run
 * time everything ends in a verdict (the engine's 451 replies for table
 * errors, a temporary DNS failure when the resolver cannot be asked).
 */
#include "policy.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "policy_int.h"
#include "pool.h"
#include "util.h"

/* ---- compile ------------------------------------------------------------ */

static const char *const list_params[RESTRICT_STAGES] = {
    [RESTRICT_CLIENT] = "smtpd_client_restrictions",
    [RESTRICT_HELO] = "smtpd_helo_restrictions",
    [RESTRICT_SENDER] = "smtpd_sender_restrictions",
    [RESTRICT_RELAY] = "smtpd_relay_restrictions",
    [RESTRICT_RECIPIENT] = "smtpd_recipient_restrictions",
    [RESTRICT_DATA] = "smtpd_data_restrictions",
    [RESTRICT_EOD] = "smtpd_end_of_data_restrictions",
    [RESTRICT_ETRN] = "smtpd_etrn_restrictions",
};

/* A boolean Postfix parameter we do not type ourselves (its default may
 * depend on compatibility_level): expanded and parsed; def when unknown. */
static bool bool_param(const struct config *cfg, const char *name, bool def)
{
    struct cfg_value v;
    if (config_get(cfg, name, &v) < 0)
        return def;
    const char *val = v.expanded;
    char *owned = NULL;
    if (!val && v.raw) {
        struct cfg_expand_err e;
        owned = config_expand(cfg, v.raw, &e);
        val = owned;
    }
    bool b = def;
    if (val && cfg_value_bool(val, &b) < 0)
        b = def;
    free(owned);
    return b;
}

void policy_set_transport(struct policy *p, int (*fn)(void *arg, const char *addr, char *text,
                                                      size_t size),
                          void *arg)
{
    restrict_ctx_set_transport(p->ctx, fn, arg);
}

int policy_create(const struct config *cfg, struct policy **out, char *err, size_t errlen)
{
    struct policy *p = xcalloc(1, sizeof(*p));
    struct restrict_err re;

    *out = NULL;
    if (restrict_ctx_create(cfg, &p->ctx, &re) != 0) {
        snprintf(err, errlen, "%s", re.msg);
        free(p);
        return -EINVAL;
    }
    for (int i = 0; i < RESTRICT_STAGES; i++) {
        if (restrict_compile_param(p->ctx, cfg, list_params[i], &p->lists[i], &re) != 0) {
            /* The engine's messages start with the parameter name; make
             * sure the caller's does whatever the engine said. */
            if (strncmp(re.msg, list_params[i], strlen(list_params[i])) == 0)
                snprintf(err, errlen, "%s", re.msg);
            else
                snprintf(err, errlen, "%s: %s", list_params[i], re.msg);
            policy_free(p);
            return -EINVAL;
        }
    }
    p->delay_reject = cfg->p.smtpd_delay_reject;
    /* Postfix 3.6+: "yes" at compatibility_level >= 3.6, "no" below. */
    p->relay_first = bool_param(cfg, "smtpd_relay_before_recipient_restrictions", true);
    *out = p;
    return 0;
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    for (int i = 0; i < RESTRICT_STAGES; i++)
        restrict_list_free(p->lists[i]);
    restrict_ctx_free(p->ctx);
    free(p);
}

/* ---- sessions ------------------------------------------------------------ */

/* snprintf(dst, size, "%s", src) without the format machinery: several
 * copies per SMTP command. */
static void set_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A worker makes one policy session per SMTP session: the 27 KB objects
 * of ended sessions are kept for the next ones (pool.h spares), and of a
 * reused one only the part before the held log lines is zeroed (those are
 * read below nlog only). One event loop per process, so one static set. */
static struct pool_spares ps_spares;
_Static_assert(offsetof(struct policy_session, nlog) + sizeof(unsigned) + 8
                   > sizeof(struct policy_session),
               "policy_session_create zeroes all but log[] and nlog: keep them last");

struct policy_session *policy_session_create(const struct policy *p, struct dns_ctx *dns,
                                             policy_done_fn done, void *arg)
{
    struct policy_session *ps = pool_spares_take(&ps_spares);
    if (ps) {
        memset(ps, 0, offsetof(struct policy_session, log));
        ps->nlog = 0;
    } else {
        ps = calloc(1, sizeof(*ps));
    }
    if (!ps)
        return NULL;
    ps->p = p;
    ps->dns = dns;
    ps->done = done;
    ps->arg = arg;
    set_str(ps->name, sizeof(ps->name), "unknown");
    set_str(ps->reverse_name, sizeof(ps->reverse_name), "unknown");
    set_str(ps->namaddr, sizeof(ps->namaddr), "unknown[unknown]");
    set_str(ps->addr, sizeof(ps->addr), "unknown");
    ps->name_status = ps->reverse_status = DNS_NAME_PERM;
    return ps;
}

void policy_session_free(struct policy_session *ps)
{
    if (!ps)
        return;
    /* Only a walk waiting for DNS has a query naming ps (ask_dns); the
     * resolver's table is scanned for it then only. */
    if (ps->dns && ps->pending)
        (void)dns_forget(ps->dns, ps);
    if (!pool_spares_keep(&ps_spares, ps))
        free(ps);
}

void policy_session_client(struct policy_session *ps, const struct session_peer *peer,
                           enum dns_name_status name_status,
                           enum dns_name_status reverse_status, const char *reverse_name)
{
    set_str(ps->name, sizeof(ps->name), peer->name[0] ? peer->name : "unknown");
    set_str(ps->addr, sizeof(ps->addr), peer->addr);
    set_str(ps->reverse_name, sizeof(ps->reverse_name),
            reverse_name && *reverse_name ? reverse_name : "unknown");
    snprintf(ps->namaddr, sizeof(ps->namaddr), "%s[%s]", ps->name, ps->addr);
    ps->name_status = name_status;
    ps->reverse_status = reverse_status;
    /* A new client: nothing carries over from the previous one. */
    memset(&ps->st, 0, sizeof(ps->st));
    ps->chain = false;
    ps->first_rcpt[0] = 0;
}

void policy_session_queue_id(struct policy_session *ps, const char *queue_id)
{
    set_str(ps->queue_id, sizeof(ps->queue_id), queue_id ? queue_id : "");
}

int policy_session_pending(const struct policy_session *ps)
{
    return ps->pending;
}

void policy_session_take_redirect(struct policy_session *ps, char *out, size_t size)
{
    snprintf(out, size, "%s", ps->st.redirect);
    ps->st.redirect[0] = '\0';
}

/* ---- the walk ------------------------------------------------------------ */

static bool is_early(const struct policy *p, enum session_stage s)
{
    return p->delay_reject
           && (s == SESSION_STAGE_CONNECT || s == SESSION_STAGE_HELO || s == SESSION_STAGE_MAIL);
}

static void copy_str(char *dst, size_t size, const char *src, const char **ptr)
{
    if (!src) {
        dst[0] = 0;
        *ptr = NULL;
        return;
    }
    set_str(dst, size, src);
    *ptr = dst;
}

/* The facts the engine sees, copied: a PENDING walk outlives f. */
static void load_facts(struct policy_session *ps, const struct session_facts *f)
{
    struct restrict_facts *rf = &ps->rf;
    const char *tmp;

    memset(rf, 0, sizeof(*rf));
    rf->name = ps->name;
    rf->reverse_name = ps->reverse_name;
    rf->addr = ps->addr;
    rf->namaddr = ps->namaddr;
    rf->name_status = ps->name_status;
    rf->reverse_name_status = ps->reverse_status;
    copy_str(ps->helo, sizeof(ps->helo), f->helo, &rf->helo);
    copy_str(ps->sender, sizeof(ps->sender), f->sender, &rf->sender);
    copy_str(ps->proto, sizeof(ps->proto), f->proto ? f->proto : "SMTP", &tmp);
    if (f->stage == SESSION_STAGE_ETRN) {
        copy_str(ps->rcpt, sizeof(ps->rcpt), f->recipient, &rf->etrn);
    } else if (f->stage == SESSION_STAGE_RCPT || f->stage == SESSION_STAGE_VRFY) {
        copy_str(ps->rcpt, sizeof(ps->rcpt), f->recipient, &rf->recipient);
    } else {
        ps->rcpt[0] = 0;
    }
    rf->esmtp = f->proto && strcmp(f->proto, "ESMTP") == 0;
    rf->pipelined = f->pipelined != 0;
    rf->tls = f->tls != 0;
    rf->smtputf8 = f->smtputf8 != 0; /* MAIL ... SMTPUTF8: UTF-8 names pass */
    rf->log = policy_log_event;
    rf->log_arg = ps;
    ps->stage = f->stage;
    ps->where = f->where;
    ps->rcpt_count = f->rcpt_count;
    ps->bdat = f->bdat != 0;
}

/* Which lists a session stage runs; 0 when it runs none. */
static int plan_stage(struct policy_session *ps, enum restrict_stage plan[2])
{
    const struct restrict_facts *rf = &ps->rf;
    switch (ps->stage) {
    case SESSION_STAGE_CONNECT: plan[0] = RESTRICT_CLIENT; return 1;
    case SESSION_STAGE_HELO:
        /* smtpd_check_helo(): no HELO name, no check, no flag moves. */
        plan[0] = RESTRICT_HELO;
        return rf->helo ? 1 : 0;
    case SESSION_STAGE_MAIL:
        plan[0] = RESTRICT_SENDER;
        return rf->sender ? 1 : 0;
    case SESSION_STAGE_RCPT:
    case SESSION_STAGE_VRFY:
        if (!rf->recipient)
            return 0;
        plan[0] = ps->p->relay_first ? RESTRICT_RELAY : RESTRICT_RECIPIENT;
        plan[1] = ps->p->relay_first ? RESTRICT_RECIPIENT : RESTRICT_RELAY;
        return 2;
    case SESSION_STAGE_DATA: plan[0] = RESTRICT_DATA; return 1;
    case SESSION_STAGE_EOD: plan[0] = RESTRICT_EOD; return 1;
    case SESSION_STAGE_ETRN: plan[0] = RESTRICT_ETRN; return rf->etrn ? 1 : 0;
    }
    return 0;
}

/* Split "CODE D.D.D text" into the verdict. */
static void verdict_from_reply(const struct restrict_verdict *rv, struct session_verdict *v)
{
    const char *r = rv->reply;
    unsigned code = rv->code > 0 ? (unsigned)rv->code : 0;
    if (code == 0 && r[0] >= '2' && r[0] <= '5')
        code = (unsigned)strtoul(r, NULL, 10);
    r += strspn(r, "0123456789");
    r += strspn(r, " ");
    size_t dl = restrict_dsn_len(r);
    if (dl > 0 && dl < sizeof(v->dsn)) {
        memcpy(v->dsn, r, dl);
        v->dsn[dl] = 0;
        r += dl;
        r += strspn(r, " ");
    } else {
        v->dsn[0] = 0;
    }
    snprintf(v->text, sizeof(v->text), "%s", r);
    v->code = code;
    v->action = code >= 400 && code < 500 ? SESSION_DEFER : SESSION_REJECT;
}

static const enum dns_type qtype_map[] = {
    [RQ_NONE] = DNS_T_A, [RQ_A] = DNS_T_A, [RQ_AAAA] = DNS_T_AAAA,
    [RQ_MX] = DNS_T_MX, [RQ_TXT] = DNS_T_TXT,
};

static void dns_answered(void *arg, const struct dns_result *res);

/* Ask the resolver for st.query. 0: the answer will come; otherwise the
 * state already holds a temporary failure and the walk goes on. */
static int ask_dns(struct policy_session *ps)
{
    enum dns_type t = qtype_map[ps->st.query.type];
    int rc = -ENOTCONN;
    if (ps->dns)
        rc = dns_query(ps->dns, ps->st.query.name, t, 0, dns_answered, ps);
    if (rc == 0)
        return 0;
    /* No resolver, or its table is full: Postfix's dns_lookup() failing
     * with a temporary error. */
    struct dns_result res;
    memset(&res, 0, sizeof(res));
    res.status = DNS_TEMPFAIL;
    res.type = t;
    res.why = "";
    restrict_dns_answer(&ps->st, &res);
    return rc;
}

/* Begin the plan's current list on the engine's state. */
static void begin_list(struct policy_session *ps)
{
    enum restrict_stage s = ps->plan[ps->pos];
    if (ps->pos == 1 && s == RESTRICT_RELAY) {
        /* Recipient list first, relay second: one smtpd_check_rcpt()
         * walk, so the defer flags of the first list stay (the engine's
         * stage_begin keeps them only for relay -> recipient). */
        ps->st.stage = s;
        return;
    }
    restrict_stage_begin(&ps->st, s);
}

/* Run the current walk until it needs DNS (PENDING) or ends (the action,
 * with *v filled). */
static enum session_action walk(struct policy_session *ps, struct session_verdict *v)
{
    const struct restrict_ctx *ctx = ps->p->ctx;
    enum restrict_result r = ps->result;

    while (ps->pos < ps->nplan) {
        if (!ps->begun) {
            begin_list(ps);
            ps->begun = true;
        }
        r = restrict_eval(ctx, ps->p->lists[ps->plan[ps->pos]], &ps->rf, &ps->st, &ps->rv);
        if (r == RESTRICT_NEED_DNS) {
            if (ask_dns(ps) == 0) {
                ps->pending = true;
                return SESSION_PENDING;
            }
            continue; /* a temporary failure is already in the state */
        }
        ps->begun = false;
        ps->result = r;
        ps->pos++;
        if (r == RESTRICT_REJECT)
            break;
    }
    if (ps->nplan > 0) {
        r = restrict_stage_end(&ps->st, r, &ps->rf, &ps->rv);
        r = restrict_stage_unlisted(ctx, &ps->rf, &ps->st, r, &ps->rv);
    }
    return policy_finish(ps, r, v);
}

static void dns_answered(void *arg, const struct dns_result *res)
{
    struct policy_session *ps = arg;
    struct session_verdict v;

    ps->pending = false;
    restrict_dns_answer(&ps->st, res);
    memset(&v, 0, sizeof(v));
    enum session_action a = walk(ps, &v);
    if (a == SESSION_PENDING)
        return;
    v.action = a;
    /* Last use of ps: done() may free it. */
    ps->done(ps->arg, &v);
}

/* The walk ended with r: the session's verdict. */
enum session_action policy_finish(struct policy_session *ps, enum restrict_result r,
                                  struct session_verdict *v)
{
    bool early = is_early(ps->p, ps->stage);

    memset(v, 0, sizeof(*v));
    if (early) {
        /* Held until the chain's last stage knows the command and the
         * recipient; a reject skips the chain's later early lists. */
        if (r == RESTRICT_REJECT && !ps->held) {
            ps->held = true;
            ps->held_rv = ps->rv;
        }
        v->action = SESSION_DUNNO;
        return SESSION_DUNNO;
    }
    if (r == RESTRICT_REJECT) {
        verdict_from_reply(&ps->rv, v);
        return v->action;
    }
    if ((ps->stage == SESSION_STAGE_RCPT) && ps->rcpt_count == 0)
        set_str(ps->first_rcpt, sizeof(ps->first_rcpt), ps->rcpt);
    if (ps->st.discard && !ps->base_discard)
        v->action = SESSION_DISCARD;
    else if (ps->st.hold && !ps->base_hold)
        v->action = SESSION_HOLD;
    else
        v->action = r == RESTRICT_PERMIT ? SESSION_PERMIT : SESSION_DUNNO;
    return v->action;
}

/* Start of a delayed chain (or of a lone stage): the transaction's
 * DISCARD/HOLD as the session knows them, nothing held yet. */
static void chain_start(struct policy_session *ps, const struct session_facts *f)
{
    ps->base_discard = f->discard != 0;
    ps->base_hold = f->hold != 0;
    ps->st.discard = ps->base_discard;
    ps->st.hold = ps->base_hold;
    ps->snap_dip[0] = ps->st.dip_client;
    ps->snap_dip[1] = ps->st.dip_helo;
    ps->snap_dip[2] = ps->st.dip_sender;
    ps->held = false;
    ps->nlog = 0;
}

enum session_action policy_session_check(struct policy_session *ps,
                                         const struct session_facts *f,
                                         struct session_verdict *v)
{
    bool early = is_early(ps->p, f->stage);
    bool closes = f->stage == SESSION_STAGE_RCPT || f->stage == SESSION_STAGE_VRFY
                  || f->stage == SESSION_STAGE_ETRN;
    bool last = ps->chain && closes;

    memset(v, 0, sizeof(*v));
    if (ps->pending)
        return SESSION_PENDING; /* one decision at a time; the first one's done() comes */
    if (early && !ps->chain) {
        chain_start(ps, f);
        ps->chain = true;
    } else if (!early && !last) {
        /* A lone stage (or a chain the session never finished: nothing it
         * held can be reported truthfully any more). */
        ps->chain = false;
        chain_start(ps, f);
    }
    load_facts(ps, f);
    ps->pos = 0;
    ps->begun = false;
    ps->result = RESTRICT_DUNNO;
    ps->nplan = plan_stage(ps, ps->plan);

    if (early && ps->held) {
        ps->nplan = 0; /* the chain is decided already */
        return policy_finish(ps, RESTRICT_DUNNO, v);
    }
    if (last) {
        ps->chain = false;
        if ((f->stage == SESSION_STAGE_RCPT || f->stage == SESSION_STAGE_VRFY) && ps->rf.recipient
            && strcasecmp(ps->rf.recipient, "postmaster") == 0) {
            /* smtpd_check_rcpt() accepts it before the delayed checks
             * run: forget what they did and said. */
            ps->st.dip_client = ps->snap_dip[0];
            ps->st.dip_helo = ps->snap_dip[1];
            ps->st.dip_sender = ps->snap_dip[2];
            ps->st.discard = ps->base_discard;
            ps->st.hold = ps->base_hold;
            ps->nlog = 0;
            ps->held = false;
            v->action = SESSION_DUNNO;
            return SESSION_DUNNO;
        }
        policy_log_flush(ps);
        if (ps->held) {
            ps->held = false;
            ps->rv = ps->held_rv;
            verdict_from_reply(&ps->rv, v);
            return v->action;
        }
    } else if (!early && (f->stage == SESSION_STAGE_RCPT || f->stage == SESSION_STAGE_VRFY)
               && ps->rf.recipient && strcasecmp(ps->rf.recipient, "postmaster") == 0) {
        v->action = SESSION_DUNNO;
        return SESSION_DUNNO;
    }
    enum session_action a = walk(ps, v);
    v->action = a;
    return a;
}
