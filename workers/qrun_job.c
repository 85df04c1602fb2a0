/*
 * qrun_job.c - one delivery job of the queue runner: some recipients of
 * one message going to one next hop. Its life: waiting for a slot of its
 * destination (qjob_kick, retry_sched.h's window), the next hop's kind
 * (error:/retry:/discard: settle the recipients at once), addresses from
 * mx_select.h (MX hosts with the backup-MX rule, or a [host]'s own
 * addresses), then the candidates in order until one completes the SMTP
 * handshake (connection refused, timeout, greeting or EHLO failure, TLS
 * failure: the next one, as Postfix's smtp_connect.c does); on it MAIL,
 * RCPT per recipient, DATA, the content read from the queue file, the
 * final dot. TLS and AUTH happen inside the link (client_tls.h), as in
 * the workers' proxy delivery. What each reply means for the recipients,
 * and where the session goes next, is qrun_reply.c's; a connection kept
 * for the next job is qrun_cache.c's (a reused one logs conn_use=N).
 *
 * An LMTP next hop (transport_maps lmtp:[host]:port, lmtp:inet:host:port,
 * lmtp:unix:/path) is the same conversation with LHLO; a unix socket is
 * one candidate logged as relay=$myhostname[/path] and is never asked for
 * STARTTLS or AUTH.
 *
 * Interface (qrun_int.h): qjob_start/kick/io/timers/pollfds/reap/abort_all
 * for the runner's poll loop; qjob_finish (settle what is left, tell the
 * message), qjob_connect_next and qjob_transaction for qrun_reply.c and
 * qrun_cache.c. Non-blocking socket in the runner's poll loop; one
 * deadline per job, from the smtp_*_timeout that smtp_client_timer()
 * names.
 *
 * Failure: socket errors, a failed DNS lookup, an unreadable queue file
 * are results (the recipients are deferred with the reason of the last
 * failure), never exits.
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

void qjob_finish(struct qjob *j)
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
        sched_dest_done(&j->d->sd, j->d->conc, j->dest_ok, time(NULL));
        qconn_dest_done(r, j);
        /* The destination's reason is what an attempt met (qmgr keeps the
         * transport's reason in queue->dsn); a job that never started
         * only repeats it, "delivery temporarily suspended: " once. */
        if (!j->dest_ok && j->last_why[0])
            qrun_fmt(j->d->why, sizeof(j->d->why), "%s", j->last_why);
    }
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
void qjob_connect_next(struct qjob *j)
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
    qjob_finish(j);
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
    bool lmtp = j->nh.kind == TRANSPORT_LMTP;
    struct smtp_client_opts o = {
        .helo_name = r->cfg->p.myhostname,
        .lmtp = lmtp,
        .line_limit = lmtp ? r->cfg->p.lmtp_line_length_limit : r->cfg->p.smtp_line_length_limit};
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
        if (qjob_events(j))
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
        (void)qjob_events(j);
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
            qjob_connect_next(j);
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
                if (t == 0 && qjob_events(j))
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
            qjob_connect_next(j);
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
        qjob_finish(j);
        return;
    }
    j->mx = xmalloc(sizeof(*j->mx));
    *j->mx = *res;
    j->cand = 0;
    qjob_connect_next(j);
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
        qjob_finish(j);
        return;
    }
    case TRANSPORT_DISCARD:
        j->dest_ok = true;
        for (unsigned k = 0; k < j->nrcpt; k++)
            qrun_rcpt_sent(r, j->m, j->rcpt[k], j, j->nh.text);
        qjob_finish(j);
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
            qjob_connect_next(j);
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
        qjob_connect_next(j);
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
        qjob_finish(j);
    }
}

void qjob_kick(struct qrun *r)
{
    time_t now = time(NULL);
    for (struct qjob *j = r->jobs; j; j = j->next) {
        if (j->state != QJ_WAIT)
            continue;
        sched_dest_tick(&j->d->sd, j->d->conc, now);
        if (j->d->sd.window == 0) {
            /* Postfix: the destination is dead; its mail waits */
            qrun_fmt(j->last_why, sizeof(j->last_why), "delivery temporarily suspended: %s",
                     j->d->why[0] ? j->d->why : "destination unavailable");
            qrun_fmt(j->last_status, sizeof(j->last_status), "4.4.1");
            j->start_us = qrun_now_us();
            qjob_finish(j);
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
    /* one queue per transport and next hop, as qmgr's: the job's
     * recipients share a domain class (dispatch groups them so) */
    j->d = qrun_dest(r, key, qrun_conc_for(r, m->env.rcpt[rcpt[0]].addr));
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
