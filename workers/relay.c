/*
 * relay.c - delivery_mode = proxy: each transaction is passed to the next
 * hop while the client waits, and the client never gets a 250 for a
 * message that the next hop did not accept with 250.
 *
 * RCPT: once the restrictions let a recipient through, transport_maps /
 * relayhost (transport.h) say where it goes. error: refuses it with its
 * text, discard: takes it and passes nothing on, smtp:/relay: need the
 * next hop: an idle cached connection to it, or a new one (the address
 * from the name by DNS: MX records unless [bracketed], then A). MAIL goes
 * with the first recipient, and the next hop's reply to each RCPT is the
 * client's. One transaction has one next hop: a recipient that routes
 * elsewhere gets "452 4.5.3 Error: too many recipients" (RFC 5321: the
 * client sends it again in another transaction), so nothing is ever half
 * delivered.
 * DATA (or the first BDAT): DATA to the next hop; its 354 lets the
 * client's DATA through, anything else is the client's reply. A client
 * that pipelines DATA behind its RCPT has the DATA go to the next hop in
 * the same write as that RCPT (pipe_data, as Postfix's smtp(8) sends MAIL,
 * RCPT and DATA together); the reply waits for the session to get there,
 * and is never shown when the session refuses DATA itself.
 * Content: raw bytes -> message.c (framing, header/body checks, our
 * Received: first) -> smtp_client_body() -> next hop. What the client's
 * output buffer cannot take waits in rt->pend; past RELAY_PEND_HIGH the
 * connection stops reading the client (relay_backlogged()).
 * End: a content REJECT/DISCARD/defer never completes the next-hop
 * transaction (the connection is closed without the final dot); an
 * accepted message gets the dot, and the client gets 250 only after the
 * next hop's 250 (its refusal otherwise).
 *
 * delivery_mode = queue forks here to spool.c: recipients are taken
 * without a next hop, the content goes to the queue file, and the 250
 * waits for its syncs instead of the next hop's 250.
 *
 * LMTP next hop (lmtp:[host]:port, lmtp:unix:/path): the same, with
 * LHLO; after the dot one reply per recipient, each logged on its own,
 * and the client's one reply made from them by lmtp_dot_reply()'s rule
 * (250 only when all were delivered; relay_reply.c has the next hop's
 * answers). A transaction to an LMTP next hop
 * takes no discard: recipient (452 4.5.3, sent again separately).
 *
 * HOLD and REDIRECT need a queue: in proxy mode they defer the message
 * (451 4.3.5) with an error in the log, rather than deliver it elsewhere
 * than the rules say. In queue mode the REDIRECT target goes into the
 * queue file (spool_end) and the runner delivers to it alone.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maillog.h"
#include "matchlist.h"
#include "policy.h"
#include "policy_int.h"
#include "received.h"
#include "restrict.h"
#include "tls.h"
#include "relay_int.h"
#include "worker_int.h"

#define RELAY_PEND_HIGH (64u * 1024u)

void relay_verdict(struct session_verdict *v, enum session_action a, unsigned code,
                   const char *dsn, const char *fmt, ...)
{
    va_list ap;
    memset(v, 0, sizeof(*v));
    v->action = a;
    v->code = code;
    snprintf(v->dsn, sizeof(v->dsn), "%s", dsn);
    va_start(ap, fmt);
    vsnprintf(v->text, sizeof(v->text), fmt, ap);
    va_end(ap);
}

static void new_queue_id(struct conn *c)
{
    struct worker *w = c->w;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->rt.queue_id, sizeof(c->rt.queue_id), "%08llX%05X%04X",
             (unsigned long long)ts.tv_sec & 0xffffffffull, (unsigned)log_pid_get() & 0xfffff,
             (unsigned)(++w->queue_seq & 0xffff));
}

static void log_client(struct conn *c)
{
    char line[600];
    struct maillog_client mc = {.name = c->peer.name, .addr = c->peer.addr};
    if (maillog_client(line, sizeof(line), c->rt.queue_id, &mc) >= 0)
        log_info("%s", line);
}

void relay_dsn_facts(struct conn *c, const struct session_facts *f)
{
    struct relay_txn *rt = &c->rt;
    rt->dsn_ret = f->dsn_ret;
    if (!rt->dsn_envid && f->dsn_envid)
        rt->dsn_envid = strdup(f->dsn_envid);
    rt->rcpt_notify = f->dsn_notify;
    free(rt->rcpt_orcpt);
    rt->rcpt_orcpt = f->dsn_orcpt ? strdup(f->dsn_orcpt) : NULL;
}

/* The accepted recipient's DSN facts, kept beside it (queue file). */
static int rcpt_dsn_remember(struct relay_txn *rt, const char *why)
{
    /* why: discard:'s reason, "" for a recipient that goes on. */
    size_t wn = strlen(why) + 1;
    if (rt->rwhy_len + wn > rt->rwhy_cap) {
        size_t cap = rt->rwhy_cap ? rt->rwhy_cap * 2 : 256;
        while (cap < rt->rwhy_len + wn)
            cap *= 2;
        char *p = realloc(rt->rwhy, cap);
        if (!p)
            return -ENOMEM;
        rt->rwhy = p;
        rt->rwhy_cap = cap;
    }
    const char *o = rt->rcpt_orcpt ? rt->rcpt_orcpt : "";
    size_t n = strlen(o) + 1;
    if (rt->rorcpts_len + n > rt->rorcpts_cap) {
        size_t cap = rt->rorcpts_cap ? rt->rorcpts_cap * 2 : 1024;
        while (cap < rt->rorcpts_len + n)
            cap *= 2;
        char *p = realloc(rt->rorcpts, cap);
        if (!p)
            return -ENOMEM;
        rt->rorcpts = p;
        rt->rorcpts_cap = cap;
    }
    unsigned *nf = realloc(rt->rnotify, (rt->nrcpts + 1) * sizeof(*nf));
    if (!nf)
        return -ENOMEM;
    rt->rnotify = nf;
    nf[rt->nrcpts] = rt->rcpt_notify;
    memcpy(rt->rorcpts + rt->rorcpts_len, o, n);
    rt->rorcpts_len += n;
    memcpy(rt->rwhy + rt->rwhy_len, why, wn);
    rt->rwhy_len += wn;
    return 0;
}

/* why: "" or, for a discard: recipient, the reason discard(8) logs. */
static void rcpt_remember(struct conn *c, const char *rcpt, const char *why)
{
    struct relay_txn *rt = &c->rt;
    size_t n = strlen(rcpt) + 1;
    if (rt->rcpts_len + n > rt->rcpts_cap) {
        size_t cap = rt->rcpts_cap ? rt->rcpts_cap * 2 : 1024;
        while (cap < rt->rcpts_len + n)
            cap *= 2;
        char *p = realloc(rt->rcpts, cap);
        if (!p)
            return; /* only the log line is lost */
        rt->rcpts = p;
        rt->rcpts_cap = cap;
    }
    if (rcpt_dsn_remember(rt, why) < 0)
        return; /* nothing is remembered: the lists stay aligned */
    memcpy(rt->rcpts + rt->rcpts_len, rcpt, n);
    rt->rcpts_len += n;
    rt->nrcpts++;
}

void relay_rcpt_remember(struct conn *c, const char *rcpt)
{
    rcpt_remember(c, rcpt, "");
}

/* The first recipient that is let through opens the transaction: its
 * queue id, and "QID: client=" as smtpd logs it. */
static void rcpt_activate(struct conn *c)
{
    struct relay_txn *rt = &c->rt;
    if (rt->active)
        return;
    rt->active = true;
    rt->start_us = worker_now_us();
    new_queue_id(c);
    policy_session_queue_id(c->ps, rt->queue_id);
    log_client(c);
}

/* A refusal made here after the restrictions let the recipient through
 * (transport_maps error:/retry:, a lookup failure): smtpd's reject line
 * ("NOQUEUE: reject: RCPT from ...; from=<> to=<> proto= helo=<>"), written
 * through the policy session that knows the client, HELO and sender. */
static void log_refusal(struct conn *c, const struct session_verdict *v)
{
    char text[sizeof(v->text) + 32];
    snprintf(text, sizeof(text), "%u %s %s", v->code, v->dsn, v->text);
    if (c->ps)
        policy_log_event(c->ps, "reject", text);
}

/* The session waits for us: give it the verdict and move on. */
void relay_answer(struct conn *c, struct session_verdict *v)
{
    c->rt.waiting = false;
    session_policy_done(c->s, v);
    conn_pump(c);
}

void relay_nexthop_key(const struct nexthop *nh, char *buf, size_t size)
{
    snprintf(buf, size, "%d:%s:%s:%u", (int)nh->kind, nh->unix_path, nh->host, nh->port);
}

/* ---- stages ---- */

enum session_action relay_rcpt(struct conn *c, struct session_verdict *v)
{
    struct relay_txn *rt = &c->rt;
    if (rt->discard) { /* the whole message goes nowhere: the next hop need not know */
        rcpt_activate(c);
        relay_rcpt_remember(c, rt->rcpt);
        return SESSION_PERMIT;
    }
    struct nexthop nh;
    int rc = transport_resolve(c->gen->transport, rt->rcpt, &nh);
    if (rc == -EAGAIN) {
        relay_verdict(v, SESSION_DEFER, 451, "4.3.0", "<%s>: Temporary lookup failure", rt->rcpt);
        log_refusal(c, v);
        return SESSION_DEFER;
    }
    if (rc < 0) {
        relay_verdict(v, SESSION_DEFER, 451, "4.3.5", "Server configuration error");
        return SESSION_DEFER;
    }
    /* Refused recipients do not open the transaction: smtpd makes its
     * queue file for the first recipient it accepts, and a refusal before
     * that is logged as NOQUEUE. */
    if (nh.kind != TRANSPORT_ERROR && nh.kind != TRANSPORT_RETRY)
        rcpt_activate(c);
    if (spool_enabled(c) && nh.kind != TRANSPORT_ERROR && nh.kind != TRANSPORT_RETRY) {
        /* Queued: the queue runner finds the next hop later, a discard:
         * one too, as Postfix queues it for discard(8), whose "relay=none
         * ... status=sent (nexthop)" line the runner writes. */
        relay_rcpt_remember(c, rt->rcpt);
        return SESSION_PERMIT;
    }
    switch (nh.kind) {
    case TRANSPORT_ERROR:
    case TRANSPORT_RETRY: { /* refused at RCPT: proxy mode has nothing to bounce later */
        const char *t = nh.text[0] ? nh.text : "Address is undeliverable";
        size_t dl = restrict_dsn_len(t);
        char dsn[16];
        snprintf(dsn, sizeof(dsn), "%s", nh.kind == TRANSPORT_RETRY ? "4.0.0" : "5.0.0");
        if (dl && dl < sizeof(dsn)) {
            memcpy(dsn, t, dl);
            dsn[dl] = 0;
            t += dl;
            while (*t == ' ')
                t++;
        }
        int temp = dsn[0] == '4' || nh.kind == TRANSPORT_RETRY;
        if (temp)
            dsn[0] = '4';
        relay_verdict(v, temp ? SESSION_DEFER : SESSION_REJECT, temp ? 450 : 550, dsn,
                    "<%s>: %s", rt->rcpt, t);
        log_refusal(c, v);
        return v->action;
    }
    case TRANSPORT_DISCARD:
        if (rt->have_nh && rt->nh.kind == TRANSPORT_LMTP) {
            /* LMTP's end-of-data replies are matched to the accepted
             * recipients in order: none may be missing from the next hop. */
            relay_verdict(v, SESSION_DEFER, 452, "4.5.3", "Error: too many recipients");
            return SESSION_DEFER;
        }
        rt->ndiscard++;
        rcpt_remember(c, rt->rcpt, nh.text[0] ? nh.text : "none");
        return SESSION_PERMIT;
    case TRANSPORT_LMTP:
        if (rt->ndiscard > 0) {
            relay_verdict(v, SESSION_DEFER, 452, "4.5.3", "Error: too many recipients");
            return SESSION_DEFER;
        }
        break;
    case TRANSPORT_SMTP:
        break;
    }
    if (rt->have_nh) {
        char a[320], b[320];
        relay_nexthop_key(&rt->nh, a, sizeof(a));
        relay_nexthop_key(&nh, b, sizeof(b));
        if (strcmp(a, b) != 0) {
            relay_verdict(v, SESSION_DEFER, 452, "4.5.3", "Error: too many recipients");
            return SESSION_DEFER;
        }
    }
    rt->waiting = true;
    rt->wait_stage = SESSION_STAGE_RCPT;
    if (!rt->have_nh) {
        rt->nh = nh;
        rt->have_nh = true;
        return relay_open_nexthop(c, v);
    }
    if (!rt->up) { /* an earlier recipient is still resolving: not pipelined here */
        relay_verdict(v, SESSION_DEFER, 451, "4.3.0", "Error: queue file write error");
        rt->waiting = false;
        return SESSION_DEFER;
    }
    if (rt->data_piped) {
        /* The session refused the DATA we passed on ahead of it (no valid
         * recipient, smtpd_data_restrictions) and the client goes on with
         * RCPT. After a refused DATA the next hop takes more recipients;
         * one that is in DATA (or may be) does not: this recipient goes in
         * another transaction, and a DATA that the session lets through
         * later still finds the next hop's 354. */
        if (rt->data_sent) {
            rt->waiting = false;
            relay_verdict(v, SESSION_DEFER, 452, "4.5.3", "Error: too many recipients");
            return SESSION_DEFER;
        }
        rt->data_piped = rt->data_early = false;
    }
    smtp_client_rcpt(&rt->up->cl, rt->rcpt, strlen(rt->rcpt));
    relay_watch_data(c);
    upstream_pump(rt->up);
    return SESSION_PENDING;
}

/* The flush hook of a RCPT (relay_watch_data): when the client's next
 * command, already read, is DATA, it goes to the next hop in the same
 * write as that RCPT (and MAIL), as Postfix's smtp(8) pipelines MAIL, RCPT
 * and DATA (RFC 2920): one round trip less per message for a pipelining
 * client. The session is waiting for this RCPT's answer, so the input not
 * yet given to it starts right after the RCPT line. Only the exact line
 * "DATA" CRLF, which the session takes as DATA, and only from a client
 * that said EHLO: one that pipelines without having been offered
 * PIPELINING is what reject_unauth_pipelining refuses at DATA, and a
 * next hop left in DATA cannot be used again. What the DATA's reply
 * becomes: relay_data() and relay_on_reply(). */
static void pipe_data(void *arg)
{
    struct conn *c = arg;
    struct relay_txn *rt = &c->rt;
    if (!rt->up || rt->data_sent || !rt->waiting || rt->wait_stage != SESSION_STAGE_RCPT ||
        c->phase != CONN_SMTP || !smtp_client_pipelining(&rt->up->cl))
        return;
    const struct maillog_cmd_stats *st = session_stats(c->s);
    if (!st || st->ok[MAILLOG_EHLO] == 0)
        return;
    const char *p = c->in + c->in_off;
    if (c->in_len - c->in_off < 6 || strncasecmp(p, "DATA", 4) != 0 || p[4] != '\r' ||
        p[5] != '\n')
        return;
    if (smtp_client_data(&rt->up->cl) < 0)
        return;
    rt->data_sent = rt->data_piped = true;
}

void relay_watch_data(struct conn *c)
{
    if (c->rt.up && !c->rt.data_sent)
        smtp_client_on_flush(&c->rt.up->cl, pipe_data, c);
}

enum session_action relay_data(struct conn *c, struct session_verdict *v)
{
    struct relay_txn *rt = &c->rt;
    if (!rt->up)
        return SESSION_PERMIT; /* every recipient discarded: nothing to pass on */
    if (rt->data_early) { /* the DATA went ahead, and its reply is here */
        rt->data_piped = rt->data_early = false;
        if (rt->data_v.action == SESSION_PERMIT) {
            rt->data_ok = true;
            return SESSION_PERMIT;
        }
        *v = rt->data_v;
        return v->action;
    }
    rt->waiting = true;
    rt->wait_stage = SESSION_STAGE_DATA;
    if (rt->data_piped) { /* the DATA went ahead: its reply is on its way */
        rt->data_piped = false;
        return SESSION_PENDING;
    }
    rt->data_sent = true;
    smtp_client_data(&rt->up->cl);
    upstream_pump(rt->up);
    return SESSION_PENDING;
}

/* ---- content ---- */

static void pend_add(struct relay_txn *rt, const char *buf, size_t len)
{
    if (rt->pend_len + len > rt->pend_cap) {
        size_t cap = rt->pend_cap ? rt->pend_cap : 16384;
        while (cap < rt->pend_len + len)
            cap *= 2;
        char *p = realloc(rt->pend, cap);
        if (!p) { /* the message cannot go on whole: never complete it */
            rt->body_failed = true;
            return;
        }
        rt->pend = p;
        rt->pend_cap = cap;
    }
    memcpy(rt->pend + rt->pend_len, buf, len);
    rt->pend_len += len;
}

static void pend_drain(struct conn *c)
{
    struct relay_txn *rt = &c->rt;
    size_t off = 0;
    while (rt->up && off < rt->pend_len) {
        size_t n = smtp_client_body(&rt->up->cl, rt->pend + off, rt->pend_len - off);
        if (n == 0) {
            upstream_pump(rt->up);
            if (smtp_client_body(&rt->up->cl, "", 0) == 0 && rt->up->send_armed)
                break;
            n = smtp_client_body(&rt->up->cl, rt->pend + off, rt->pend_len - off);
            if (n == 0)
                break;
        }
        off += n;
    }
    if (off) { /* pend is NULL until the first backlog (UBSan: memmove(NULL)) */
        memmove(rt->pend, rt->pend + off, rt->pend_len - off);
        rt->pend_len -= off;
    }
    if (rt->up)
        upstream_pump(rt->up);
}

/* message.c's output: the content as the next hop gets it. */
static void relay_out(void *ctx, const char *buf, size_t len)
{
    struct conn *c = ctx;
    struct relay_txn *rt = &c->rt;
    if (!rt->up || rt->body_failed || !len)
        return;
    size_t n = 0;
    if (rt->data_ok && rt->pend_len == 0)
        n = smtp_client_body(&rt->up->cl, buf, len);
    if (n < len)
        pend_add(rt, buf + n, len - n);
    upstream_pump(rt->up);
}

static void relay_log(void *ctx, enum message_log_level level, const char *line)
{
    (void)ctx;
    if (level == MESSAGE_LOG_ERROR)
        log_error("%s", line);
    else if (level == MESSAGE_LOG_WARN)
        log_warn("%s", line);
    else
        log_info("%s", line);
}

static int message_open(struct conn *c)
{
    const struct generation *g = c->gen;
    struct message_opts mo;
    memset(&mo, 0, sizeof(mo));
    mime_limits_default(&mo.mime);
    mo.mime.header_size_limit = (size_t)g->cfg.p.header_size_limit;
    mo.mime.line_length_limit = (size_t)g->cfg.p.line_length_limit;
    mo.frame.line_length_limit = (size_t)g->cfg.p.line_length_limit;
    mo.frame.message_size_limit = (uint64_t)g->cfg.p.message_size_limit;
    /* Only CRLF.CRLF ends DATA here, whatever smtpd_forbid_bare_newline
     * says (the session frames it): "no" behaves as "normalize". */
    mo.frame.bare_lf = g->cfg.p.smtpd_forbid_bare_newline == 3 ? DATA_BARE_LF_REJECT
                                                               : DATA_BARE_LF_NORMALIZE;
    if (mo.frame.bare_lf == DATA_BARE_LF_REJECT && g->bare_lf_exclusions &&
        matchlist_match_namadr(g->bare_lf_exclusions, c->peer.name, c->peer.addr) > 0)
        mo.frame.bare_lf = DATA_BARE_LF_NORMALIZE;
    mo.checks = g->checks;
    mo.bare_lf_reject_code = (unsigned)g->cfg.p.smtpd_forbid_bare_newline_reject_code;
    mo.myhostname = g->cfg.p.myhostname;
    mo.out = spool_enabled(c) ? spool_out : relay_out;
    mo.log = relay_log;
    mo.ctx = c;
    if (c->msg) {
        message_free(c->msg);
        c->msg = NULL;
    }
    return message_create(&mo, &c->msg);
}

int relay_begin(struct conn *c, const struct session_facts *f)
{
    struct relay_txn *rt = &c->rt;
    const struct generation *g = c->gen;
    rt->bdat = f->bdat;
    if (message_open(c) < 0)
        return -1;
    struct received_tls rtls;
    char proto[16];
    snprintf(proto, sizeof(proto), "%s%s", f->proto ? f->proto : "SMTP", c->tls ? "S" : "");
    if (c->tls)
        tls_conn_received(c->tls, &rtls);
    struct received_info ri = {
        .helo = f->helo,
        .name = c->peer.name,
        .addr = c->peer.addr,
        .myhostname = g->cfg.p.myhostname,
        .mail_name = g->cfg.p.mail_name,
        .protocol = proto,
        .queue_id = rt->queue_id,
        .recipient = rt->nrcpts == 1 ? rt->rcpts : NULL,
        .rcpt_count = rt->nrcpts,
        .tls = c->tls && g->cfg.p.smtpd_tls_received_header ? &rtls : NULL,
        .arrival = time(NULL),
    };
    char received[4096];
    size_t rlen = 0;
    if (received_format(&ri, "\r\n", received, sizeof(received), &rlen) < 0)
        rlen = 0;
    rt->mc.name = c->peer.name;
    rt->mc.addr = c->peer.addr;
    rt->mc.helo = f->helo;
    rt->mc.proto = f->proto;
    struct message_env env = {
        .queue_id = rt->queue_id,
        .client = &rt->mc,
        .sender = rt->sender,
        .recipient = rt->nrcpts == 1 ? rt->rcpts : NULL,
        .received = rlen ? received : NULL,
        .received_len = rlen,
        .bdat = f->bdat,
    };
    if (message_begin(c->msg, &env) < 0)
        return -1;
    rt->message_open = true;
    if (spool_enabled(c))
        spool_begin(c);
    return 0;
}

int relay_chunk(struct conn *c, const char *buf, size_t len)
{
    if (!c->rt.message_open)
        return -1;
    size_t used;
    if (c->rt.bdat)
        message_bdat(c->msg, buf, len, 0);
    else
        message_feed(c->msg, buf, len, &used);
    return 0;
}

/* The next-hop transaction cannot be completed: drop the connection
 * without the final dot, so the next hop discards what it got. */
void relay_drop_upstream(struct relay_txn *rt)
{
    rt->data_piped = rt->data_early = false;
    if (rt->up) {
        smtp_client_on_flush(&rt->up->cl, NULL, NULL);
        upstream_release(rt->up, false);
        rt->up = NULL;
    }
}

void relay_abort(struct conn *c)
{
    struct relay_txn *rt = &c->rt;
    rt->message_open = false;
    rt->pend_len = 0;
    spool_reset(c);
    if (rt->data_sent)
        relay_drop_upstream(rt);
}

bool relay_backlogged(const struct conn *c)
{
    return c->rt.pend_len > RELAY_PEND_HIGH;
}

static void try_end(struct conn *c)
{
    struct relay_txn *rt = &c->rt;
    if (!rt->end_wanted || !rt->up || rt->pend_len > 0)
        return;
    if (smtp_client_body_end(&rt->up->cl) == 0)
        rt->end_wanted = false;
    upstream_pump(rt->up);
}

static void parse_reply(struct session_verdict *v, const char *reply)
{
    unsigned code = (unsigned)atoi(reply);
    if (code < 400 || code > 599)
        code = 451;
    struct smtp_client_event ev = {.code = (int)code, .reply = reply, .dsn = ""};
    char dsn[16] = "";
    const char *t = strlen(reply) > 4 ? reply + 4 : "";
    size_t dl = restrict_dsn_len(t);
    if (dl && dl < sizeof(dsn)) {
        memcpy(dsn, t, dl);
        ev.dsn = dsn;
    }
    relay_verdict_from_reply(v, &ev);
}

enum session_action relay_end(struct conn *c, struct session_verdict *v)
{
    struct relay_txn *rt = &c->rt;
    struct message_verdict *mv = &rt->mv;
    if (!rt->message_open) {
        relay_verdict(v, SESSION_DEFER, 451, "4.3.0", "Error: queue file write error");
        relay_drop_upstream(rt);
        return SESSION_DEFER;
    }
    if (rt->bdat)
        message_bdat(c->msg, "", 0, 1);
    message_finish(c->msg, mv);
    rt->message_open = false;
    rt->msg_size = mv->size;
    memset(v, 0, sizeof(*v));
    snprintf(v->queue_id, sizeof(v->queue_id), "%s", rt->queue_id);
    v->size = mv->size;
    if (mv->fate == MESSAGE_REJECT || mv->fate == MESSAGE_DEFER) {
        spool_reset(c);
        relay_drop_upstream(rt);
        parse_reply(v, mv->reply);
        return v->action;
    }
    if (mv->fate == MESSAGE_DISCARD || rt->discard || (spool_enabled(c) && rt->nrcpts == 0)) {
        spool_reset(c);
        relay_drop_upstream(rt);
        log_info("%s: removed", rt->queue_id);
        v->action = SESSION_PERMIT;
        return SESSION_PERMIT;
    }
    /* cleanup: a header/body_checks REDIRECT replaces smtpd's */
    const char *redirect = mv->redirect[0] ? mv->redirect : rt->redirect[0] ? rt->redirect : NULL;
    if (spool_enabled(c))
        return spool_end(c, mv->hold || rt->hold, redirect, mv->size, v);
    if (mv->hold || rt->hold || redirect) {
        spool_reset(c);
        log_error("%s: %s needs delivery_mode = queue: message deferred", rt->queue_id,
                  redirect ? "REDIRECT" : "HOLD");
        relay_drop_upstream(rt);
        relay_verdict(v, SESSION_DEFER, 451, "4.3.5", "Server configuration error");
        return SESSION_DEFER;
    }
    if (!rt->up) { /* every recipient went to discard: */
        log_info("%s: from=<%s>, size=%llu, nrcpt=%u (queue active)", rt->queue_id, rt->sender,
                 (unsigned long long)mv->size, rt->nrcpts);
        const char *r = rt->rcpts, *why = rt->rwhy;
        for (unsigned i = 0; r && why && i < rt->nrcpts; i++) {
            if (why[0])
                relay_log_discarded(rt, r, why);
            r += strlen(r) + 1;
            why += strlen(why) + 1;
        }
        log_info("%s: removed", rt->queue_id);
        v->action = SESSION_PERMIT;
        return SESSION_PERMIT;
    }
    rt->end_wanted = true;
    rt->waiting = true;
    rt->wait_stage = SESSION_STAGE_EOD;
    rt->dot_us = worker_now_us();
    pend_drain(c);
    try_end(c);
    return SESSION_PENDING;
}

/* The text buffers of struct relay_txn, in member order: each is only
 * ever read as a NUL-terminated string (or copied whole with its struct),
 * so an empty string is as good as zeroes there. They are 9 KB of the
 * struct's 9.4: clearing only their first byte and all the rest saves a
 * 9 KB memset per message and per connection. */
#define TXN_TEXT(m) {offsetof(struct relay_txn, m), sizeof(((struct relay_txn *)0)->m)}
static const struct {
    size_t off, len;
} txn_text[] = {
    TXN_TEXT(redirect),    TXN_TEXT(mx_host),      TXN_TEXT(mail_v.text), TXN_TEXT(data_v.text),
    TXN_TEXT(nh.host),     TXN_TEXT(nh.unix_path), TXN_TEXT(nh.text),     TXN_TEXT(nh.more),
    TXN_TEXT(lmtp_v.text), TXN_TEXT(sender),       TXN_TEXT(rcpt),        TXN_TEXT(mv.reply),
    TXN_TEXT(mv.redirect),
};

/* As memset(rt, 0, sizeof(*rt)) for every reader of rt. */
static void txn_clear(struct relay_txn *rt)
{
    unsigned char *p = (unsigned char *)rt;
    size_t at = 0;
    for (size_t i = 0; i < sizeof(txn_text) / sizeof(txn_text[0]); i++) {
        assert(txn_text[i].off >= at && txn_text[i].len > 0); /* member order */
        memset(p + at, 0, txn_text[i].off - at);
        p[txn_text[i].off] = 0;
        at = txn_text[i].off + txn_text[i].len;
    }
    memset(p + at, 0, sizeof(*rt) - at);
}

void relay_reset(struct conn *c)
{
    struct relay_txn *rt = &c->rt;
    spool_reset(c);
    if (rt->up) {
        /* Reusable only between transactions with nothing outstanding. */
        bool clean = !rt->data_sent && rt->up->cl.head == rt->up->cl.tail;
        smtp_client_on_flush(&rt->up->cl, NULL, NULL); /* it points at c */
        upstream_release(rt->up, clean);
        rt->up = NULL;
    }
    if (rt->resolving)
        dns_forget(c->w->dns, c);
    free(rt->rcpts);
    free(rt->dsn_envid);
    free(rt->rnotify);
    free(rt->rorcpts);
    free(rt->rwhy);
    free(rt->rcpt_orcpt);
    if (c->ps)
        policy_session_queue_id(c->ps, NULL);
    char *pend = rt->pend;
    size_t cap = rt->pend_cap;
    txn_clear(rt);
    rt->pend = pend; /* keep the buffer for the next message */
    rt->pend_cap = cap;
}

/* ---- the next hop's answers (relay_reply.c) ---- */

void relay_upstream_ready(struct conn *c)
{
    struct relay_txn *rt = &c->rt;
    struct smtp_client_event ev;
    if (c->phase == CONN_CLOSING)
        return;
    pend_drain(c);
    try_end(c);
    while (rt->up && c->phase != CONN_CLOSING && client_link_event(&rt->up->link, &ev)) {
        if (ev.type == SMTP_EV_REPLY)
            relay_on_reply(c, &ev);
        else if (ev.type == SMTP_EV_DOWN && client_link_why(&rt->up->link, NULL))
            relay_log_link_failure(c);
        else if (ev.type == SMTP_EV_DOWN)
            log_warn("%s: %s with %s[%s]:%u while %s", rt->queue_id[0] ? rt->queue_id : "NOQUEUE",
                     ev.why ? ev.why : "lost connection", rt->up->host, rt->up->addr_text,
                     rt->up->port, smtp_client_stage(&rt->up->cl));
    }
    if (c->phase != CONN_CLOSING && !relay_backlogged(c))
        conn_pump(c);
}
