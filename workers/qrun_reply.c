/*
 * qrun_reply.c - what the next hop's replies mean for a queue runner
 * job's recipients, and where the session goes next (qjob_events, called
 * by qrun_job.c whenever the client link may have events).
 *
 * As Postfix's smtp_trouble.c: a soft failure after the handshake (a 4xx
 * to MAIL, RCPT, DATA or the dot, a lost connection, a timeout) at a
 * server that is not the last one keeps the recipients it concerns for
 * the next address ("QUEUEID: reason" logged); at the final server (no
 * address left, or smtp_mx_session_limit sessions that completed the
 * handshake) it defers them; a 5xx bounces at once. A handshake that
 * fails moves to the next address. A greeting other than 2xx is "host
 * H[A] refused to talk to me: REPLY" with the reply's own status;
 * smtp_skip_5xx_greeting = yes (Postfix's default) turns a 5 into a 4
 * (try the next address, defer at the last), no leaves it a hard error
 * that bounces the recipients at once, at any server (smtp_proto.c +
 * smtp_trouble.c). An LMTP next hop answers the dot once per accepted
 * recipient, each reply settling its own recipient as Postfix's lmtp(8)
 * does.
 *
 * Each recipient ends with one qrun_rcpt_sent() or qrun_rcpt_fail() call
 * (qjob_finish defers one that got no answer at all with the reason of
 * the last failure). When the transaction is over the connection carries
 * a waiting job or idles (qconn_keep), else QUIT; recipients kept for the
 * next server go to the next address (qjob_connect_next).
 *
 * Failure: none of its own; every outcome is a recipient's fate.
 */
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "qrun_int.h"

/* Postfix's SMTP_MISC_FLAG_FINAL_SERVER: no address left to try, or
 * this session reaches smtp_mx_session_limit (which counts only sessions
 * that completed the handshake). */
static bool final_server(const struct qjob *j)
{
    unsigned limit = j->r->mxo.session_limit;
    return !j->mx || j->cand >= j->mx->n || (limit && j->sessions >= limit);
}

/* A soft failure for a recipient: 1 when it is kept for the next server
 * (logged as Postfix's smtp_bulk_fail does), 0 when it must be decided
 * here. */
static int keep_for_next(struct qjob *j, const char *why)
{
    if (final_server(j))
        return 0;
    log_info("%s: %s", j->m->env.queue_id, why);
    return 1;
}

/* The reason for a reply we made up (connection down, TLS, SASL). */
static void fake_reason(struct qjob *j, char *status, size_t ssize, char *why, size_t wsize)
{
    const char *dsn = NULL;
    const char *lw = client_link_why(&j->link, &dsn);
    const char *cw = j->cl->why ? j->cl->why : "lost connection";
    qrun_fmt(status, ssize, "%s", dsn && *dsn ? dsn : "4.4.2");
    if (lw) {
        qrun_fmt(why, wsize, "%s", lw);
    } else if (!strcmp(cw, "timed out")) {
        qrun_fmt(why, wsize, "conversation with %s[%s] timed out while %s", j->host, j->addr,
                 smtp_client_stage(j->cl));
    } else if (!strcmp(cw, "lost connection")) {
        qrun_fmt(why, wsize, "lost connection with %s[%s] while %s", j->host, j->addr,
                 smtp_client_stage(j->cl));
    } else if (j->cl->reply[0] && strstr(cw, "refused")) {
        qrun_fmt(why, wsize, "host %s[%s] %s: %s", j->host, j->addr, cw, j->cl->reply);
    } else {
        qrun_fmt(why, wsize, "%s with %s[%s] while %s", cw, j->host, j->addr,
                 smtp_client_stage(j->cl));
    }
}

/* The greeting was not 2xx (smtp_proto.c smtp_helo): the server's status,
 * a 5 made a 4 by smtp_skip_5xx_greeting; a hard one bounces every
 * recipient left, a soft one moves on to the next address. */
static void greeting_refused(struct qjob *j)
{
    const struct smtp_client *cl = j->cl;
    char diag[600], why[700], status[12];
    qrun_fmt(diag, sizeof(diag), "%s", cl->reply);
    for (char *p = diag, *q = diag;; p++) {
        /* multi-line replies are joined with one space, as translit() */
        if (p[0] == '\r' && p[1] == '\n')
            p++;
        *q++ = *p == '\r' || *p == '\n' ? ' ' : *p;
        if (!*p)
            break;
    }
    if (cl->dsn[0])
        qrun_fmt(status, sizeof(status), "%s", cl->dsn);
    else
        qrun_fmt(status, sizeof(status), "%c.0.0", diag[0] == '5' ? '5' : '4');
    if (status[0] == '5' && qrun_conn_opts(j->r, j)->skip_5xx_greeting)
        status[0] = '4';
    qrun_fmt(why, sizeof(why), "host %s[%s] refused to talk to me: %s", j->host, j->addr, diag);
    if (status[0] == '5') {
        for (unsigned k = 0; k < j->nrcpt; k++)
            if (j->m->out[j->rcpt[k]].fate == QR_NONE)
                qrun_rcpt_fail(j->r, j->m, j->rcpt[k], j, true, status, why, diag);
        j->dest_ok = true; /* not a reason to throttle the destination */
        qjob_finish(j);
        return;
    }
    qrun_fmt(j->last_status, sizeof(j->last_status), "%s", status);
    qrun_fmt(j->last_why, sizeof(j->last_why), "%s", why);
    if (!final_server(j))
        log_info("%s: %s", j->m->env.queue_id, why);
    qjob_connect_next(j);
}

static void reply_fail(struct qjob *j, unsigned k, const struct smtp_client_event *ev,
                       const char *cmd)
{
    char status[12], why[600], diag[600];
    qrun_fmt(diag, sizeof(diag), "%s", ev->reply);
    for (char *p = diag; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    qrun_fmt(status, sizeof(status), "%s",
             ev->dsn && *ev->dsn ? ev->dsn : (ev->code >= 500 ? "5.0.0" : "4.0.0"));
    qrun_fmt(why, sizeof(why), "host %s[%s] said: %s (in reply to %s command)", j->host, j->addr,
             diag, cmd);
    j->accepted[k] = 2; /* answered in this session */
    if (ev->code < 500 && keep_for_next(j, why)) {
        qrun_fmt(j->last_why, sizeof(j->last_why), "%s", why);
        qrun_fmt(j->last_status, sizeof(j->last_status), "%s", status);
        return;
    }
    qrun_rcpt_fail(j->r, j->m, j->rcpt[k], j, ev->code >= 500, status, why, diag);
}

static bool any_accepted(const struct qjob *j)
{
    for (unsigned k = 0; k < j->nrcpt; k++)
        if (j->accepted[k] == 1)
            return true;
    return false;
}

/* Recipients kept for the next server (no fate yet), compacted to the
 * front of the job's list: their count. */
static unsigned keep_pending(struct qjob *j)
{
    unsigned n = 0;
    for (unsigned k = 0; k < j->nrcpt; k++)
        if (j->m->out[j->rcpt[k]].fate == QR_NONE)
            j->rcpt[n++] = j->rcpt[k];
    j->nrcpt = n;
    return n;
}

static void end_session(struct qjob *j)
{
    if (qconn_keep(j))
        return; /* a waiting job's now, or idle */
    if (j->cl && smtp_client_usable(j->cl) && !j->cl->quit_queued) {
        smtp_client_quit(j->cl);
        char buf[64];
        size_t n = client_link_output(&j->link, buf, sizeof(buf));
        if (n > 0 && write(j->fd, buf, n) < 0) { /* best effort: the mail is done */
        }
    }
    if (!final_server(j) && keep_pending(j) > 0) {
        qjob_connect_next(j); /* the kept recipients, at the next address */
        return;
    }
    qjob_finish(j);
}

/* 1: the session moved on (qrun_int.h), 0: go on. */
int qjob_events(struct qjob *j)
{
    struct smtp_client_event ev;
    while (j->state == QJ_SMTP && client_link_event(&j->link, &ev)) {
        if (ev.type == SMTP_EV_READY) {
            j->ready = true;
            j->dest_ok = true;
            j->sessions++; /* smtp_mx_session_limit counts these only */
            continue;
        }
        if (ev.type != SMTP_EV_REPLY)
            continue;
        if (ev.fake && !j->ready && j->cl->reply[0] && j->cl->why &&
            !strcmp(j->cl->why, "refused to talk to me")) {
            greeting_refused(j);
            return 1;
        }
        if (ev.fake && !j->ready) {
            /* The handshake failed: Postfix tries the next address. */
            fake_reason(j, j->last_status, sizeof(j->last_status), j->last_why,
                        sizeof(j->last_why));
            log_info("%s", j->last_why);
            qjob_connect_next(j);
            return 1;
        }
        if (ev.fake) {
            char status[12], why[600];
            fake_reason(j, status, sizeof(status), why, sizeof(why));
            qrun_fmt(j->last_why, sizeof(j->last_why), "%s", why);
            qrun_fmt(j->last_status, sizeof(j->last_status), "%s", status);
            j->dest_ok = false;
            /* every recipient not answered yet: kept for the next server,
             * or deferred at the final one */
            if (keep_for_next(j, why))
                j->dest_ok = true; /* another address may still take it */
            end_session(j);
            return 1;
        }
        switch (ev.cmd) {
        case SMTP_CMD_MAIL:
            if (!ev.ok) {
                for (unsigned k = 0; k < j->nrcpt; k++)
                    reply_fail(j, k, &ev, "MAIL FROM");
            }
            break;
        case SMTP_CMD_RCPT:
            if (ev.index < j->nrcpt) {
                /* not after a failed MAIL settled it (a 503 to RCPT
                 * then says nothing about the recipient) */
                if (j->accepted[ev.index] == 2)
                    break;
                if (ev.ok)
                    j->accepted[ev.index] = 1;
                else if (j->m->out[j->rcpt[ev.index]].fate == QR_NONE)
                    reply_fail(j, ev.index, &ev, "RCPT TO");
            }
            break;
        case SMTP_CMD_DATA:
            if (!ev.ok) {
                for (unsigned k = 0; k < j->nrcpt; k++)
                    if (j->accepted[k] == 1)
                        reply_fail(j, k, &ev, "DATA");
                end_session(j);
                return 1;
            }
            j->data_ok = true;
            /* 354 with no recipient left: end the content at once (the
             * dot's reply is then ignored) */
            if (!any_accepted(j))
                j->body_off = j->m->env.content_len;
            break;
        case SMTP_CMD_DOT:
            if (j->cl->opts.lmtp) {
                /* LMTP: this reply is one recipient's (none when no
                 * recipient was accepted: ignored, as Postfix does) */
                unsigned k = ev.index;
                if (k < j->nrcpt && j->accepted[k] == 1) {
                    if (ev.ok)
                        qrun_rcpt_sent(j->r, j->m, j->rcpt[k], j, ev.reply);
                    else
                        reply_fail(j, k, &ev, "end of DATA");
                }
                if (ev.more)
                    break;
                end_session(j);
                return 1;
            }
            for (unsigned k = 0; k < j->nrcpt; k++) {
                if (j->accepted[k] != 1)
                    continue;
                if (ev.ok)
                    qrun_rcpt_sent(j->r, j->m, j->rcpt[k], j, ev.reply);
                else
                    reply_fail(j, k, &ev, "end of DATA");
            }
            end_session(j);
            return 1;
        default:
            break;
        }
    }
    if (j->state == QJ_SMTP && j->cl->state == SMTP_CLIENT_FAILED && !j->cl->down_reported) {
        /* nothing queued to carry the failure: end here */
        end_session(j);
        return 1;
    }
    return 0;
}
