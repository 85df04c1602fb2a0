/*
 * qrun_job.c - one delivery job of the queue runner: some recipients of
 * one message going to one next hop. Addresses come from mx_select.h
 * (MX hosts with the backup-MX rule, or a [host]'s own addresses); the
 * candidates are tried in order until one completes the SMTP handshake
 * (connection refused, timeout, greeting or EHLO failure, TLS failure: the
 * next one, as Postfix's smtp_connect.c does); then MAIL, RCPT per
 * recipient, DATA, the content read from the queue file, the final dot,
 * QUIT. As Postfix's smtp_trouble.c: a soft failure after the handshake
 * (a 4xx to MAIL, RCPT, DATA or the dot, a lost connection, a timeout) at
 * a server that is not the last one keeps the recipients it concerns for
 * the next address ("QUEUEID: reason" logged); at the final server (no
 * address left, or smtp_mx_session_limit sessions that completed the
 * handshake) it defers them; a 5xx bounces at once. TLS and AUTH happen inside the link (client_tls.h), as in the
 * workers' proxy delivery.
 * After its transaction a connection carries the next job waiting for the
 * same destination or stays idle for a while (qrun_cache.c, Postfix's
 * connection cache); a reused connection logs conn_use=N.
 * A greeting other than 2xx is "host H[A] refused to talk to me: REPLY"
 * with the reply's own status; smtp_skip_5xx_greeting = yes (Postfix's
 * default) turns a 5 into a 4 (try the next address, defer at the last),
 * no leaves it a hard error that bounces the recipients at once, at any
 * server (smtp_proto.c + smtp_trouble.c).
 *
 * An LMTP next hop (transport_maps lmtp:[host]:port, lmtp:inet:host:port,
 * lmtp:unix:/path) is the same conversation with LHLO, and after the dot
 * one reply per accepted recipient (smtp_client.h), each settling its own
 * recipient as Postfix's lmtp(8) does; a unix socket is logged as
 * relay=$myhostname[/path] and is never asked for STARTTLS or AUTH.
 *
 * Each recipient ends with one qrun_rcpt_sent() or qrun_rcpt_fail() call;
 * a recipient that got no answer at all is deferred with the reason of
 * the last failure. Non-blocking socket in the runner's poll loop; one
 * deadline per job, from the smtp_*_timeout that smtp_client_timer()
 * names.
 *
 * Failure: socket errors are results (deferrals), never exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "qrun_int.h"
#include "util.h"

static long timer_secs(const struct qrun *r, enum smtp_timer t)
{
    struct cfg_value v;
    long s = 300;
    if (t == SMTP_TIMER_CONNECT)
        return r->cfg->p.smtp_connect_timeout > 0 ? r->cfg->p.smtp_connect_timeout : 30;
    if (config_get(r->cfg, smtp_timer_name(t), &v) == 0) {
        const char *txt = v.expanded ? v.expanded : v.raw;
        if (txt && cfg_value_time(txt, 's', &s) < 0)
            s = 300;
    }
    return s > 0 ? s : 300;
}

static void set_deadline(struct qjob *j)
{
    enum smtp_timer t = j->state == QJ_CONNECT ? SMTP_TIMER_CONNECT : smtp_client_timer(j->cl);
    if (t == SMTP_TIMER_NONE)
        t = SMTP_TIMER_QUIT;
    j->deadline_ms = qrun_now_ms() + timer_secs(j->r, t) * 1000;
}

void qjob_close_conn(struct qjob *j)
{
    if (j->fd >= 0) {
        close(j->fd);
        j->fd = -1;
    }
    if (j->cl) {
        client_link_free(&j->link);
        free(j->cl);
        j->cl = NULL;
    }
    j->ready = j->data_ok = j->body_done = j->dot_sent = false;
    j->sout_off = j->sout_len = 0;
    j->cbuf_off = j->cbuf_len = 0;
    j->body_off = 0;
}

static void finish(struct qjob *j)
{
    struct qrun *r = j->r;
    struct qmsg *m = j->m;
    if (j->lookup) {
        mx_lookup_cancel(j->lookup);
        j->lookup = NULL;
    }
    qjob_close_conn(j);
    for (unsigned k = 0; k < j->nrcpt; k++)
        if (m->out[j->rcpt[k]].fate == QR_NONE)
            qrun_rcpt_fail(r, m, j->rcpt[k], j, false,
                           j->last_status[0] ? j->last_status : "4.4.1",
                           j->last_why[0] ? j->last_why : "delivery interrupted", "");
    if (j->state != QJ_WAIT) {
        sched_dest_done(&j->d->sd, &r->conc, j->dest_ok, time(NULL));
        qconn_dest_done(r, j);
    }
    if (!j->dest_ok && j->last_why[0])
        qrun_fmt(j->d->why, sizeof(j->d->why), "%s", j->last_why);
    j->state = QJ_DONE;
    j->m = NULL;
    if (--m->jobs == 0)
        qrun_job_done(r, m);
}

static void fail_all(struct qjob *j, bool perm, const char *status, const char *why)
{
    for (unsigned k = 0; k < j->nrcpt; k++)
        if (j->m->out[j->rcpt[k]].fate == QR_NONE)
            qrun_rcpt_fail(j->r, j->m, j->rcpt[k], j, perm, status, why, "");
}

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

static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    if (ss->ss_family == AF_UNIX)
        qrun_fmt(buf, size, "%s", ((const struct sockaddr_un *)(const void *)ss)->sun_path);
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr, buf,
                  (socklen_t)size);
    else
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, buf,
                  (socklen_t)size);
}

static void set_port(struct sockaddr_storage *ss, unsigned port, socklen_t *len)
{
    if (ss->ss_family == AF_UNIX) {
        *len = sizeof(struct sockaddr_un);
    } else if (ss->ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons((uint16_t)port);
        *len = sizeof(struct sockaddr_in6);
    } else {
        ((struct sockaddr_in *)(void *)ss)->sin_port = htons((uint16_t)port);
        *len = sizeof(struct sockaddr_in);
    }
}

/* Try the next candidate address; when none is left, defer what remains. */
static void connect_next(struct qjob *j)
{
    struct qrun *r = j->r;
    qjob_close_conn(j);
    unsigned limit = r->mxo.session_limit;
    while (j->mx && j->cand < j->mx->n && (limit == 0 || j->sessions < limit)) {
        struct mx_candidate *c = &j->mx->c[j->cand++];
        struct sockaddr_storage ss = c->addr;
        socklen_t len;
        j->port = c->addr.ss_family == AF_UNIX ? 0 : j->nh.port == 25 ? r->tcp_port : j->nh.port;
        set_port(&ss, j->port, &len);
        qrun_fmt(j->host, sizeof(j->host), "%s", c->host);
        fmt_addr(&ss, j->addr, sizeof(j->addr));
        j->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (j->fd < 0) {
            qrun_fmt(j->last_why, sizeof(j->last_why), "socket: %s", strerror(errno));
            break;
        }
        int one = 1;
        if (ss.ss_family != AF_UNIX)
            setsockopt(j->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(j->fd, (struct sockaddr *)&ss, len) == 0 || errno == EINPROGRESS) {
            j->state = QJ_CONNECT;
            set_deadline(j);
            return;
        }
        if (ss.ss_family == AF_UNIX)
            qrun_fmt(j->last_why, sizeof(j->last_why), "connect to %s[%s]: %s", j->host, j->addr,
                     strerror(errno));
        else
            qrun_fmt(j->last_why, sizeof(j->last_why), "connect to %s[%s]:%u: %s", j->host,
                     j->addr, j->port, strerror(errno));
        qrun_fmt(j->last_status, sizeof(j->last_status), "4.4.1");
        log_info("%s", j->last_why);
        close(j->fd);
        j->fd = -1;
    }
    finish(j);
}

static void queue_transaction(struct qjob *j)
{
    struct qmsg *m = j->m;
    const char *s = m->env.sender;
    smtp_client_mail(j->cl, s, strlen(s), m->env.content_len, SMTP_BODY_NONE, 0);
    /* DSN goes on to a next hop that announces it (smtp_client decides). */
    const char *ret = m->env.ret;
    smtp_client_mail_dsn(j->cl, ret && !strcmp(ret, "FULL") ? 1 : ret && !strcmp(ret, "HDRS") ? 2 : 0,
                         m->env.envid);
    for (unsigned k = 0; k < j->nrcpt; k++) {
        const struct qf_rcpt *qr = &m->env.rcpt[j->rcpt[k]];
        smtp_client_rcpt(j->cl, qr->addr, strlen(qr->addr));
        int nt = qr->notify ? qf_notify_parse(qr->notify, strlen(qr->notify)) : 0;
        smtp_client_rcpt_dsn(j->cl, nt > 0 ? (unsigned)nt : 0, qr->orcpt);
    }
    smtp_client_data(j->cl);
}

static void connected(struct qjob *j)
{
    struct qrun *r = j->r;
    j->conn_us = qrun_now_us();
    j->state = QJ_SMTP;
    j->cl = xmalloc(sizeof(*j->cl));
    struct smtp_client_opts o = {.helo_name = r->cfg->p.myhostname,
                                 .lmtp = j->nh.kind == TRANSPORT_LMTP};
    char dest[300];
    if (j->nh.port != 25)
        qrun_fmt(dest, sizeof(dest), j->nh.mx ? "%s:%u" : "[%s]:%u", j->nh.host, j->nh.port);
    else
        qrun_fmt(dest, sizeof(dest), j->nh.mx ? "%s" : "[%s]", j->nh.host);
    struct client_link_peer peer = {
        .host = j->host, .addr = j->addr, .port = j->port, .nexthop = j->nh.host, .dest = dest};
    /* a unix socket (lmtp:unix:) is never asked for STARTTLS or AUTH */
    client_link_init(&j->link, j->cl, &o, j->port == 0 ? NULL : r->g->client_tls, &r->tls_cache,
                     &peer);
    client_link_set_clock(&j->link, (uint64_t)qrun_now_ms());
    smtp_client_connected(j->cl);
    j->born_us = j->conn_us;
    j->conn_use = 1;
    memset(j->accepted, 0, j->nrcpt * sizeof(j->accepted[0]));
    queue_transaction(j);
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
        finish(j);
        return;
    }
    qrun_fmt(j->last_status, sizeof(j->last_status), "%s", status);
    qrun_fmt(j->last_why, sizeof(j->last_why), "%s", why);
    if (!final_server(j))
        log_info("%s: %s", j->m->env.queue_id, why);
    connect_next(j);
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

static void pump(struct qjob *j);

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
        connect_next(j); /* the kept recipients, at the next address */
        return;
    }
    finish(j);
}

/* 1: the job ended (j is done), 0: go on. */
static int events(struct qjob *j)
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
            connect_next(j);
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

/* Content from the queue file into the client, as far as it has room. */
static void feed_body(struct qjob *j)
{
    struct qmsg *m = j->m;
    while (j->body_off < m->env.content_len || j->cbuf_len > 0) {
        if (j->cbuf_len == 0) {
            uint64_t left = m->env.content_len - j->body_off;
            size_t want = left < sizeof(j->cbuf) ? (size_t)left : sizeof(j->cbuf);
            ssize_t n = pread(m->fd, j->cbuf, want, (off_t)(m->env.content_off + j->body_off));
            if (n <= 0) {
                qrun_fmt(j->last_why, sizeof(j->last_why), "error reading queue file: %s",
                         n < 0 ? strerror(errno) : "short file");
                qrun_fmt(j->last_status, sizeof(j->last_status), "4.3.0");
                smtp_client_io_error(j->cl);
                return;
            }
            j->cbuf_off = 0;
            j->cbuf_len = (size_t)n;
            j->body_off += (uint64_t)n;
        }
        size_t t = smtp_client_body(j->cl, j->cbuf + j->cbuf_off, j->cbuf_len);
        if (t == 0)
            return;
        j->cbuf_off += t;
        j->cbuf_len -= t;
    }
    if (smtp_client_body_end(j->cl) == 0)
        j->body_done = true;
}

/* Move bytes and events until nothing more happens without I/O. */
static void pump(struct qjob *j)
{
    for (int round = 0; round < 1000 && j->state == QJ_SMTP; round++) {
        bool progress = false;
        if (events(j))
            return;
        if (j->data_ok && !j->body_done) {
            feed_body(j);
            progress = true;
        }
        if (j->sout_len == 0) {
            j->sout_off = 0;
            j->sout_len = client_link_output(&j->link, j->sout, sizeof(j->sout));
        }
        if (j->sout_len > 0) {
            ssize_t n = write(j->fd, j->sout + j->sout_off, j->sout_len);
            if (n > 0) {
                j->sout_off += (size_t)n;
                j->sout_len -= (size_t)n;
                progress = true;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                smtp_client_io_error(j->cl);
                progress = true;
            }
        }
        if (!progress || (j->sout_len > 0 && !j->data_ok))
            break;
        if (j->data_ok && !j->body_done && j->sout_len > 0)
            break; /* wait for the socket */
    }
    if (j->state == QJ_SMTP)
        (void)events(j);
}

void qjob_transaction(struct qjob *j)
{
    queue_transaction(j);
    pump(j);
    if (j->state == QJ_SMTP)
        set_deadline(j);
}

void qjob_io(struct qjob *j, short revents)
{
    if (j->state == QJ_IDLE) {
        qconn_idle_io(j);
        return;
    }
    if (j->state == QJ_CONNECT) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(j->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            err = errno;
        if (err) {
            qrun_fmt(j->last_why, sizeof(j->last_why), "connect to %s[%s]:%u: %s", j->host,
                     j->addr, j->port, strerror(err));
            qrun_fmt(j->last_status, sizeof(j->last_status), "4.4.1");
            log_info("%s", j->last_why);
            connect_next(j);
            return;
        }
        connected(j);
        pump(j);
        if (j->state == QJ_SMTP)
            set_deadline(j);
        return;
    }
    if (j->state != QJ_SMTP)
        return;
    client_link_set_clock(&j->link, (uint64_t)qrun_now_ms());
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = read(j->fd, j->rbuf, sizeof(j->rbuf));
        if (n > 0) {
            size_t off = 0;
            for (int guard = 0; off < (size_t)n && guard < 10000; guard++) {
                size_t t = client_link_input(&j->link, j->rbuf + off, (size_t)n - off);
                off += t;
                if (t == 0 && events(j))
                    return;
            }
        } else if (n == 0) {
            smtp_client_input_eof(j->cl);
        } else if (errno != EAGAIN && errno != EINTR) {
            smtp_client_io_error(j->cl);
        }
    }
    pump(j);
    if (j->state == QJ_SMTP)
        set_deadline(j);
}

size_t qjob_pollfds(struct qrun *r, struct pollfd *pfd, struct qjob **who, size_t cap,
                    int64_t *next_ms)
{
    size_t n = 0;
    for (struct qjob *j = r->jobs; j; j = j->next) {
        if (j->state != QJ_CONNECT && j->state != QJ_SMTP && j->state != QJ_IDLE)
            continue;
        if (*next_ms < 0 || j->deadline_ms < *next_ms)
            *next_ms = j->deadline_ms;
        if (n == cap)
            continue;
        short ev = POLLIN;
        if (j->state == QJ_CONNECT || j->sout_len > 0)
            ev = POLLOUT;
        if (j->state == QJ_SMTP && j->sout_len > 0)
            ev |= POLLIN;
        pfd[n] = (struct pollfd){.fd = j->fd, .events = ev};
        who[n++] = j;
    }
    return n;
}

void qjob_timers(struct qrun *r, int64_t now)
{
    for (struct qjob *j = r->jobs; j; j = j->next) {
        if (j->state == QJ_IDLE) {
            qconn_idle_timer(j, now);
            continue;
        }
        if ((j->state != QJ_CONNECT && j->state != QJ_SMTP) || j->deadline_ms > now)
            continue;
        if (j->state == QJ_CONNECT) {
            qrun_fmt(j->last_why, sizeof(j->last_why), "connect to %s[%s]:%u: Connection timed out",
                     j->host, j->addr, j->port);
            qrun_fmt(j->last_status, sizeof(j->last_status), "4.4.1");
            log_info("%s", j->last_why);
            connect_next(j);
            continue;
        }
        smtp_client_timed_out(j->cl);
        pump(j);
        if (j->state == QJ_SMTP)
            set_deadline(j);
    }
}

static void on_mx(void *arg, const struct mx_result *res)
{
    struct qjob *j = arg;
    j->lookup = NULL;
    if (res->outcome != MX_OK) {
        qrun_fmt(j->last_why, sizeof(j->last_why), "%s", res->why);
        qrun_fmt(j->last_status, sizeof(j->last_status), "%s", res->status);
        if (res->outcome == MX_PERMFAIL)
            fail_all(j, true, res->status, res->why);
        finish(j);
        return;
    }
    j->mx = xmalloc(sizeof(*j->mx));
    *j->mx = *res;
    j->cand = 0;
    connect_next(j);
}

static void begin(struct qjob *j)
{
    struct qrun *r = j->r;
    j->start_us = qrun_now_us();
    j->state = QJ_RESOLVE;
    switch (j->nh.kind) {
    case TRANSPORT_ERROR:
    case TRANSPORT_RETRY: {
        const char *t = j->nh.text;
        char st[12] = "";
        bool perm = j->nh.kind == TRANSPORT_ERROR;
        size_t sl = strspn(t, "0123456789.");
        if (sl > 0 && sl < sizeof(st) && (t[0] == '4' || t[0] == '5') && t[sl] == ' ') {
            memcpy(st, t, sl);
            st[sl] = 0;
            t += sl + 1;
        } else {
            qrun_fmt(st, sizeof(st), perm ? "5.0.0" : "4.0.0");
        }
        j->dest_ok = true;
        fail_all(j, perm, st, *t ? t : "Address is undeliverable");
        finish(j);
        return;
    }
    case TRANSPORT_DISCARD:
        j->dest_ok = true;
        for (unsigned k = 0; k < j->nrcpt; k++)
            qrun_rcpt_sent(r, j->m, j->rcpt[k], j, j->nh.text);
        finish(j);
        return;
    case TRANSPORT_LMTP:
        if (j->nh.unix_path[0]) {
            /* lmtp:unix:/path - one candidate, logged as Postfix's lmtp
             * does: relay=$myhostname[/path] */
            struct sockaddr_un *sun;
            j->mx = xcalloc(1, sizeof(*j->mx));
            j->mx->outcome = MX_OK;
            j->mx->n = 1;
            qrun_fmt(j->mx->c[0].host, sizeof(j->mx->c[0].host), "%s", r->cfg->p.myhostname);
            sun = (struct sockaddr_un *)(void *)&j->mx->c[0].addr;
            sun->sun_family = AF_UNIX;
            qrun_fmt(sun->sun_path, sizeof(sun->sun_path), "%s", j->nh.unix_path);
            connect_next(j);
            return;
        }
        break; /* lmtp:inet: host and port as for SMTP, never MX */
    case TRANSPORT_SMTP:
        break;
    }
    unsigned char a[16];
    int fam = inet_pton(AF_INET, j->nh.host, a) == 1    ? AF_INET
              : inet_pton(AF_INET6, j->nh.host, a) == 1 ? AF_INET6
                                                        : 0;
    if (fam) {
        j->mx = xcalloc(1, sizeof(*j->mx));
        j->mx->outcome = MX_OK;
        j->mx->n = 1;
        qrun_fmt(j->mx->c[0].host, sizeof(j->mx->c[0].host), "%s", j->nh.host);
        j->mx->c[0].addr.ss_family = (sa_family_t)fam;
        if (fam == AF_INET)
            memcpy(&((struct sockaddr_in *)(void *)&j->mx->c[0].addr)->sin_addr, a, 4);
        else
            memcpy(&((struct sockaddr_in6 *)(void *)&j->mx->c[0].addr)->sin6_addr, a, 16);
        connect_next(j);
        return;
    }
    struct mx_opts o = r->mxo;
    o.no_mx = !j->nh.mx;
    int rc = mx_lookup_start(r->dns, j->nh.host, &o, &r->self, on_mx, j, &j->lookup);
    if (rc < 0) {
        j->lookup = NULL;
        qrun_fmt(j->last_why, sizeof(j->last_why), "Host or domain name not found. Name "
                 "service error for name=%s: %s", j->nh.host, strerror(-rc));
        qrun_fmt(j->last_status, sizeof(j->last_status), "4.4.3");
        finish(j);
    }
}

void qjob_kick(struct qrun *r)
{
    time_t now = time(NULL);
    for (struct qjob *j = r->jobs; j; j = j->next) {
        if (j->state != QJ_WAIT)
            continue;
        sched_dest_tick(&j->d->sd, &r->conc, now);
        if (j->d->sd.window == 0) {
            /* Postfix: the destination is dead; its mail waits */
            qrun_fmt(j->last_why, sizeof(j->last_why), "delivery temporarily suspended: %s",
                     j->d->why[0] ? j->d->why : "destination unavailable");
            qrun_fmt(j->last_status, sizeof(j->last_status), "4.4.1");
            j->start_us = qrun_now_us();
            finish(j);
            continue;
        }
        if (!sched_dest_may_start(&j->d->sd))
            continue;
        sched_dest_start(&j->d->sd);
        qconn_policy(r, j);
        if (qconn_adopt(r, j))
            continue; /* an idle connection carries it */
        begin(j);
    }
}

void qjob_start(struct qrun *r, struct qmsg *m, const struct nexthop *nh, const unsigned *rcpt,
                unsigned n)
{
    struct qjob *j = xcalloc(1, sizeof(*j));
    char key[320];
    j->r = r;
    j->m = m;
    j->nh = *nh;
    j->fd = -1;
    j->rcpt = xmalloc(n * sizeof(*j->rcpt));
    j->accepted = xcalloc(n, sizeof(*j->accepted));
    memcpy(j->rcpt, rcpt, n * sizeof(*rcpt));
    j->nrcpt = n;
    qrun_fmt(key, sizeof(key), "%d:%s%s:%u", (int)nh->kind, nh->mx ? "" : "[", nh->host,
             nh->port);
    j->d = qrun_dest(r, key);
    j->state = QJ_WAIT;
    m->jobs++;
    /* appended, so destinations are served in arrival order */
    struct qjob **pp = &r->jobs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = j;
}

void qjob_reap(struct qrun *r)
{
    struct qjob **pp = &r->jobs;
    while (*pp) {
        struct qjob *j = *pp;
        if (j->state != QJ_DONE) {
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        free(j->mx);
        free(j->rcpt);
        free(j->accepted);
        free(j);
    }
}

void qjob_abort_all(struct qrun *r)
{
    for (struct qjob *j = r->jobs; j; j = j->next) {
        if (j->lookup)
            mx_lookup_cancel(j->lookup);
        j->lookup = NULL;
        qjob_close_conn(j);
        j->state = QJ_DONE;
    }
    qjob_reap(r);
}
