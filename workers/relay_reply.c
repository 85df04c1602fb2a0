/*
 * relay_reply.c - delivery_mode = proxy, the next hop's answers (see
 * relay.c for the whole): each reply to MAIL, RCPT, DATA and the final
 * dot becomes the client's answer (relay_on_reply), with smtp(8)'s
 * delivery log lines (status=sent/deferred/bounced, one per recipient;
 * one per LMTP reply), and a next hop lost to TLS or AUTH is logged as
 * smtp(8) does (relay_log_link_failure).
 *
 * Failure: nothing here fails; a reply that cannot be parsed is passed
 * on as the next hop's code with an empty text.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "maillog.h"
#include "restrict.h"
#include "relay_int.h"
#include "worker_int.h"

void relay_verdict_from_reply(struct session_verdict *v, const struct smtp_client_event *ev)
{
    const char *r = ev->reply;
    memset(v, 0, sizeof(*v));
    v->code = (unsigned)ev->code;
    v->action = ev->code >= 500 ? SESSION_REJECT : SESSION_DEFER;
    const char *t = strlen(r) > 4 ? r + 4 : "";
    if (ev->dsn && ev->dsn[0]) {
        snprintf(v->dsn, sizeof(v->dsn), "%s", ev->dsn);
        size_t dl = strlen(ev->dsn);
        if (!strncmp(t, ev->dsn, dl))
            t += dl;
        while (*t == ' ')
            t++;
    } else {
        snprintf(v->dsn, sizeof(v->dsn), "%c.0.0", ev->code >= 500 ? '5' : '4');
    }
    size_t n = strcspn(t, "\r\n");
    if (n >= sizeof(v->text))
        n = sizeof(v->text) - 1;
    memcpy(v->text, t, n);
    v->text[n] = 0;
}

void relay_log_discarded(const struct relay_txn *rt, const char *rcpt, const char *why)
{
    /* discard(8): dsn_split(&dp, "2.0.0", nexthop) - a leading RFC 3463
     * code in the reason is the DSN, the rest the text - then sent() with
     * relay "none" for each recipient. */
    char dsn[16] = "2.0.0";
    size_t dl = restrict_dsn_len(why);
    if (dl && dl < sizeof(dsn)) {
        memcpy(dsn, why, dl);
        dsn[dl] = 0;
        why += dl;
        while (*why == ' ' || *why == '\t')
            why++;
    }
    uint64_t now = worker_now_us();
    uint64_t dot = rt->dot_us ? rt->dot_us : now;
    char line[2048];
    struct maillog_delivery d = {
        .queue_id = rt->queue_id,
        .recipient = rcpt,
        .delay_us = now - rt->start_us,
        .delays_us = {dot - rt->start_us, now - dot, 0, 0},
        .dsn = dsn,
        .status = "sent",
        .reply = why,
    };
    if (maillog_delivery(line, sizeof(line), &d) >= 0)
        log_info("%s", line);
}

/* only: the one recipient (LMTP's reply for it), or -1 for all. A
 * discard: recipient (never given to the next hop) gets discard(8)'s line
 * once the message is accepted; when the next hop refuses, the client
 * sends the whole message again and nothing was discarded yet. */
static void log_delivery(struct conn *c, const struct smtp_client_event *ev, int only)
{
    struct relay_txn *rt = &c->rt;
    struct upstream *u = rt->up;
    uint64_t now = worker_now_us();
    char line[2048];
    if (only <= 0)
        log_info("%s: from=<%s>, size=%llu, nrcpt=%u (queue active)", rt->queue_id, rt->sender,
                 (unsigned long long)rt->msg_size, rt->nrcpts);
    const char *r = rt->rcpts, *why = rt->rwhy;
    for (unsigned i = 0; r && i < rt->nrcpts; i++, r += strlen(r) + 1,
                  why = why ? why + strlen(why) + 1 : NULL) {
        if (only >= 0 && i != (unsigned)only)
            continue;
        if (why && why[0]) {
            if (ev->ok)
                relay_log_discarded(rt, r, why);
            continue;
        }
        struct maillog_delivery d = {
            .queue_id = rt->queue_id,
            .recipient = r,
            .relay_host = u->host,
            .relay_addr = u->addr_text,
            .relay_port = u->port,
            .conn_use = u->cl.ntxn, /* this transaction included */
            .delay_us = now - rt->start_us,
            .delays_us = {rt->dot_us - rt->start_us, 0, 0, now - rt->dot_us},
            .dsn = ev->dsn && ev->dsn[0] ? ev->dsn : (ev->ok ? "2.0.0" : "4.0.0"),
            .status = ev->ok ? "sent" : ev->code >= 500 ? "bounced" : "deferred",
            .reply = ev->reply,
        };
        if (maillog_delivery(line, sizeof(line), &d) >= 0)
            log_info("%s", line);
    }
    if (ev->ok && only < 0)
        log_info("%s: removed", rt->queue_id);
}

/* One LMTP end-of-data reply (RFC 2033: one per recipient the next hop
 * accepted, in RCPT order, which is rt->rcpts' order since a transaction
 * with an LMTP next hop has no discard: recipient). 1 when it was the
 * last, with *v the client's answer: Postfix's smtpd cannot proxy to LMTP,
 * so this is our rule, chosen so that nothing is lost or falsely bounced:
 * 250 only when every recipient got 2xx; 5xx only when every one got 5xx
 * (the first such reply); otherwise the first 4xx reply, or the fake
 * "451 4.3.0" when the others were delivered and the rest refused - the
 * client sends again, and recipients already delivered may get a
 * duplicate, which is the safe side of a partial delivery. */
static int lmtp_dot_reply(struct conn *c, const struct smtp_client_event *ev,
                          struct session_verdict *v)
{
    struct relay_txn *rt = &c->rt;
    log_delivery(c, ev, (int)rt->lmtp_got);
    rt->lmtp_got++;
    if (ev->ok) {
        rt->lmtp_ok++;
    } else {
        struct session_verdict f;
        relay_verdict_from_reply(&f, ev);
        if (ev->code >= 500)
            rt->lmtp_5xx++;
        if (rt->lmtp_got - rt->lmtp_ok == 1 || (rt->lmtp_v.code >= 500 && ev->code < 500))
            rt->lmtp_v = f; /* the first failure, or the first 4xx */
    }
    if (ev->more)
        return 0;
    unsigned n = rt->lmtp_got;
    if (rt->lmtp_ok == n) {
        v->action = SESSION_PERMIT;
        snprintf(v->queue_id, sizeof(v->queue_id), "%s", rt->queue_id);
        v->size = rt->msg_size;
        log_info("%s: removed", rt->queue_id);
    } else if (rt->lmtp_5xx == n || rt->lmtp_v.code < 500) {
        *v = rt->lmtp_v;
    } else {
        relay_verdict(v, SESSION_DEFER, 451, "4.3.0", "Error: queue file write error");
        log_warn("%s: LMTP next hop delivered %u of %u recipients and refused the others: "
                 "the client is told to try again", rt->queue_id, rt->lmtp_ok, n);
    }
    rt->lmtp_got = rt->lmtp_ok = rt->lmtp_5xx = 0;
    memset(&rt->lmtp_v, 0, sizeof(rt->lmtp_v));
    return 1;
}

/* The next hop failed TLS or AUTH (client_tls.h): Postfix's smtp(8) line
 * for the recipient in flight, its reason in the status. */
void relay_log_link_failure(struct conn *c)
{
    struct relay_txn *rt = &c->rt;
    struct upstream *u = rt->up;
    const char *dsn = "4.7.0";
    const char *why = client_link_why(&u->link, &dsn);
    uint64_t now = worker_now_us();
    char line[2048];
    struct maillog_delivery d = {
        .queue_id = rt->queue_id[0] ? rt->queue_id : "NOQUEUE",
        .recipient = rt->rcpt,
        .relay_host = u->host,
        .relay_addr = u->addr_text,
        .relay_port = u->port,
        .delay_us = rt->start_us ? now - rt->start_us : 0,
        .dsn = dsn,
        .status = "deferred",
        .reply = why,
    };
    if (maillog_delivery(line, sizeof(line), &d) >= 0)
        log_info("%s", line);
}

void relay_on_reply(struct conn *c, const struct smtp_client_event *ev)
{
    struct relay_txn *rt = &c->rt;
    struct session_verdict v;
    memset(&v, 0, sizeof(v));
    switch (ev->cmd) {
    case SMTP_CMD_MAIL:
        if (!ev->ok) {
            rt->mail_failed = true;
            relay_verdict_from_reply(&rt->mail_v, ev);
        }
        return;
    case SMTP_CMD_RCPT:
        if (!rt->waiting || rt->wait_stage != SESSION_STAGE_RCPT)
            return;
        if (ev->ok && !rt->mail_failed) {
            relay_rcpt_remember(c, rt->rcpt);
            v.action = SESSION_PERMIT;
        } else if (rt->mail_failed) {
            v = rt->mail_v;
        } else {
            relay_verdict_from_reply(&v, ev);
        }
        /* A next hop that went down before any recipient was accepted
         * is let go: the client's next RCPT tries a fresh connection. */
        if (v.action != SESSION_PERMIT && rt->nrcpts == 0 && !smtp_client_usable(&rt->up->cl)) {
            relay_drop_upstream(rt);
            rt->have_nh = false;
            rt->mail_failed = false;
        }
        relay_answer(c, &v);
        return;
    case SMTP_CMD_DATA:
        if (!ev->ok)
            rt->data_sent = false; /* the next hop refused DATA: the connection stays usable */
        if (!rt->waiting || rt->wait_stage != SESSION_STAGE_DATA) {
            /* A DATA that went ahead of the session (relay.c, pipe_data),
             * answered before the session got to it: kept for then. When
             * the session refuses the DATA itself (every recipient was
             * refused, as Postfix's smtpd answers "554 5.5.1 Error: no
             * valid recipients"), this reply is never shown. */
            if (rt->data_piped) {
                rt->data_early = true;
                if (ev->ok)
                    rt->data_v.action = SESSION_PERMIT;
                else
                    relay_verdict_from_reply(&rt->data_v, ev);
            }
            return;
        }
        if (ev->ok) {
            rt->data_ok = true;
            v.action = SESSION_PERMIT;
        } else {
            relay_verdict_from_reply(&v, ev);
        }
        relay_answer(c, &v);
        return;
    case SMTP_CMD_DOT:
        if (!rt->waiting || rt->wait_stage != SESSION_STAGE_EOD)
            return;
        if (rt->up->cl.opts.lmtp) {
            if (!lmtp_dot_reply(c, ev, &v))
                return;
            rt->data_sent = false;
            relay_answer(c, &v);
            return;
        }
        log_delivery(c, ev, -1);
        if (ev->ok) {
            v.action = SESSION_PERMIT;
            snprintf(v.queue_id, sizeof(v.queue_id), "%s", rt->queue_id);
            v.size = rt->msg_size;
        } else {
            relay_verdict_from_reply(&v, ev);
        }
        /* The next-hop transaction is complete either way. */
        rt->data_sent = false;
        relay_answer(c, &v);
        return;
    default:
        return;
    }
}

