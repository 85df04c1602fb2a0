/*
 * conn_session.c - struct session_ops for a worker's connection: each
 * stage asks the restriction lists first (policy.h) and, when they let the
 * command through, the delivery (relay.c): RCPT and DATA are then passed
 * to the next hop, whose answer the client gets.
 *
 * Either step may wait (DNS for the restrictions, the next hop for the
 * relay). The session then waits in SESSION_WAIT_POLICY and the verdict
 * reaches it through session_policy_done() from conn_policy_done(), which
 * is also where a restriction verdict that came late continues into the
 * relay step. Facts are only valid during the session's call, so what a
 * later step needs (sender, recipient) is copied into the transaction.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "matchlist.h"
#include "policy.h"
#include "worker_int.h"

static bool lets_through(enum session_action a)
{
    return a == SESSION_PERMIT || a == SESSION_DUNNO || a == SESSION_DISCARD ||
           a == SESSION_HOLD;
}

/* After the restrictions: the delivery's part of the stage. */
static enum session_action after_policy(struct conn *c, enum session_stage stage,
                                        enum session_action a, struct session_verdict *v)
{
    /* An access map's REDIRECT holds for the transaction whatever this
     * command's fate, as smtpd keeps saved_redirect until mail_reset(). */
    char rdr[sizeof(c->rt.redirect)];
    policy_session_take_redirect(c->ps, rdr, sizeof(rdr));
    if (rdr[0])
        memcpy(c->rt.redirect, rdr, sizeof(rdr));
    if (!lets_through(a))
        return a;
    if (a == SESSION_DISCARD)
        c->rt.discard = true;
    if (a == SESSION_HOLD)
        c->rt.hold = true;
    if (stage == SESSION_STAGE_RCPT) {
        enum session_action r = relay_rcpt(c, v);
        return r == SESSION_PERMIT ? a : r;
    }
    if (stage == SESSION_STAGE_DATA) {
        enum session_action r = relay_data(c, v);
        return r == SESSION_PERMIT ? a : r;
    }
    return a;
}

static enum session_action op_policy(void *ctx, const struct session_facts *f,
                                     struct session_verdict *v)
{
    struct conn *c = ctx;
    if (f->stage == SESSION_STAGE_MAIL && f->sender)
        snprintf(c->rt.sender, sizeof(c->rt.sender), "%s", f->sender);
    if (f->stage == SESSION_STAGE_RCPT && f->recipient) {
        snprintf(c->rt.rcpt, sizeof(c->rt.rcpt), "%s", f->recipient);
        relay_dsn_facts(c, f);
    }
    if (f->stage == SESSION_STAGE_RCPT || f->stage == SESSION_STAGE_DATA) {
        c->rt.discard = c->rt.discard || f->discard;
        c->rt.hold = c->rt.hold || f->hold;
        c->rt.smtputf8 = f->smtputf8;
        c->rt.body = f->body;
        if (f->stage == SESSION_STAGE_RCPT)
            c->rt.mail_size = f->size;
    }
    enum session_action a = policy_session_check(c->ps, f, v);
    if (a == SESSION_PENDING) {
        c->rt.pol_stage = f->stage;
        c->rt.pol_waiting = true;
        return a;
    }
    return after_policy(c, f->stage, a, v);
}

/* policy.h's done callback: the restrictions answered after DNS. */
void conn_policy_done(void *arg, const struct session_verdict *pv)
{
    struct conn *c = arg;
    struct session_verdict v = *pv;
    if (!c->rt.pol_waiting)
        return;
    c->rt.pol_waiting = false;
    enum session_action a = after_policy(c, c->rt.pol_stage, v.action, &v);
    if (a == SESSION_PENDING)
        return; /* the next hop answers through relay.c */
    v.action = a;
    session_policy_done(c->s, &v);
    conn_pump(c);
}

static int op_data_begin(void *ctx, const struct session_facts *f)
{
    return relay_begin(ctx, f);
}

static int op_data_chunk(void *ctx, const char *buf, size_t len)
{
    return relay_chunk(ctx, buf, len);
}

static void op_data_abort(void *ctx)
{
    relay_abort(ctx);
}

static enum session_action op_data_end(void *ctx, const struct session_facts *f,
                                       struct session_verdict *v)
{
    struct conn *c = ctx;
    c->rt.discard = c->rt.discard || f->discard;
    c->rt.hold = c->rt.hold || f->hold;
    return relay_end(c, v);
}

static void op_txn_end(void *ctx)
{
    relay_reset(ctx);
}

static int op_xclient(void *ctx, const struct session_peer *peer)
{
    struct conn *c = ctx;
    c->peer = *peer;
    c->peer.xclient_authorized =
        c->gen->xclient_hosts &&
        matchlist_match_namadr(c->gen->xclient_hosts, peer->name, peer->addr) > 0;
    relay_reset(c);
    policy_session_client(c->ps, peer, strcmp(peer->name, "unknown") ? DNS_NAME_OK : DNS_NAME_PERM,
                          strcmp(peer->name, "unknown") ? DNS_NAME_OK : DNS_NAME_PERM, peer->name);
    return c->peer.xclient_authorized;
}

static void op_note(void *ctx, const char *line)
{
    (void)ctx;
    log_info("%s", line);
}

const struct session_ops conn_session_ops = {
    .policy = op_policy,
    .data_begin = op_data_begin,
    .data_chunk = op_data_chunk,
    .data_abort = op_data_abort,
    .data_end = op_data_end,
    .txn_end = op_txn_end,
    .xclient = op_xclient,
    .note = op_note,
};
