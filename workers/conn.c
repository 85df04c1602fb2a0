/*
 * conn.c - one client connection in a worker: moves bytes between the
 * socket (or its TLS layer) and the sans-I/O session, runs the PROXY
 * header and the client name lookup before the greeting, and keeps the
 * session's time limits.
 *
 * conn_pump() is the one place that decides what happens next: it feeds
 * buffered input while the session wants input (and the next hop is not
 * backlogged), sends what the session wrote, and acts on session_wait():
 * read more, wait for policy, sleep (error sleep), start TLS, or close
 * once the last reply is out. Every completion ends in conn_pump().
 *
 * Failure: a socket error or end of file ends the session as the client
 * leaving (an open transaction is aborted: nothing was acknowledged);
 * smtpd_timeout gives "421 4.4.2 HOST Error: timeout exceeded", as
 * Postfix's smtpd does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "maillog.h"
#include "matchlist.h"
#include "policy.h"
#include "proxy_proto.h"
#include "tls.h"
#include "worker_int.h"

#define CONN_TLS_BUF 17408  /* one TLS record and its overhead */
#define CONN_BYE_MS 5000u   /* time for a client to take our 421 */

static void conn_close(struct conn *c);
static void conn_free(struct conn *c);

static uint64_t conn_ud(const struct conn *c, unsigned op)
{
    return ring_ud_for(op, &c->w->conns, c);
}

static void client_of(const struct conn *c, struct maillog_client *mc)
{
    mc->name = c->peer.name;
    mc->addr = c->peer.addr;
    mc->helo = NULL;
    mc->proto = NULL;
}

/* "timeout after EHLO from ..." / "lost connection after DATA (N bytes)
 * from ...", as Postfix's smtpd says where the client left it. */
static void log_lost(struct conn *c, const char *what)
{
    struct maillog_client mc;
    char line[700];
    long long bytes = -1;
    const char *where = c->phase == CONN_TLS_HANDSHAKE ? "STARTTLS"
                        : c->s                      ? session_where(c->s, &bytes)
                                                    : "CONNECT";
    client_of(c, &mc);
    if (maillog_lost(line, sizeof(line), what, where, bytes, &mc) >= 0)
        log_info("%s", line);
}

static void timer_arm(struct conn *c, uint64_t ms)
{
    timer_wheel_add(&c->w->tw, &c->timer.node, timer_clock_ms() + ms);
}

static void idle_timer(struct conn *c)
{
    timer_arm(c, (uint64_t)c->gen->cfg.p.smtpd_timeout * 1000u);
}

/* ---- reading ---- */

static void recv_arm(struct conn *c)
{
    if (c->recv_armed || c->eof || c->shut)
        return;
    char *buf;
    size_t room;
    if (c->tls) {
        buf = c->tls_in + c->tls_in_len;
        room = CONN_TLS_BUF - c->tls_in_len;
    } else {
        if (c->in_off > 0) { /* keep unconsumed bytes at the front */
            memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
            c->in_len -= c->in_off;
            c->in_off = 0;
        }
        buf = c->in + c->in_len;
        room = CONN_IN_SIZE - c->in_len;
    }
    if (room == 0)
        return; /* the session has not consumed what it has: no more yet */
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    io_uring_prep_recv(sqe, c->fd, buf, room, 0);
    io_uring_sqe_set_data64(sqe, conn_ud(c, OP_CONN_RECV));
    c->recv_armed = true;
    c->inflight++;
}

/* Plaintext out of the TLS layer into c->in. */
static int tls_drain_in(struct conn *c)
{
    size_t taken = tls_conn_cipher_in(c->tls, c->tls_in, c->tls_in_len);
    memmove(c->tls_in, c->tls_in + taken, c->tls_in_len - taken);
    c->tls_in_len -= taken;
    if (c->phase != CONN_SMTP)
        return 0;
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    while (c->in_len < CONN_IN_SIZE) {
        long n = tls_conn_read(c->tls, c->in + c->in_len, CONN_IN_SIZE - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n == 0)
            break;
        return (int)n; /* close_notify or a TLS error: the client is gone */
    }
    return 0;
}

/* ---- writing ---- */

static void send_arm(struct conn *c, const char *p, size_t n)
{
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, conn_ud(c, OP_CONN_SEND));
    c->send_armed = true;
    c->send_len = n;
    c->inflight++;
}

/* Hand what is due to the kernel; true when nothing is left to send. */
static bool flush_now(struct conn *c)
{
    const char *p;
    size_t n;
    if (c->shut)
        return true;
    if (c->send_armed)
        return false;
    if (c->tls) {
        session_output(c->s, &p, &n);
        if (n > 0 && c->phase == CONN_SMTP) {
            long t = tls_conn_write(c->tls, p, n);
            if (t > 0)
                session_output_done(c->s, (size_t)t);
        }
        if (c->tls_out_len == 0)
            c->tls_out_len = tls_conn_cipher_out(c->tls, c->tls_out, CONN_TLS_BUF);
        if (c->tls_out_len > 0) {
            send_arm(c, c->tls_out, c->tls_out_len);
            return false;
        }
        session_output(c->s, &p, &n);
        return n == 0;
    }
    session_output(c->s, &p, &n);
    if (n == 0)
        return true;
    send_arm(c, p, n);
    return false;
}

/* Start sending what is due; returns true when nothing is left to send.
 * Plaintext waits in the session's buffer until the worker's batch of
 * completions is over (conn_flush_queued), so that replies produced by
 * several events of the batch go out in one send. The queue holds one of
 * c->inflight: the connection is not freed under it. TLS is flushed at
 * once (its records are cut as it goes). */
static bool flush(struct conn *c)
{
    const char *p;
    size_t n;
    if (c->tls || c->shut || c->send_armed)
        return flush_now(c);
    session_output(c->s, &p, &n);
    if (n == 0)
        return true;
    if (!c->flush_queued) {
        struct worker *w = c->w;
        c->flush_queued = true;
        c->inflight++;
        w->conn_flushq[w->n_conn_flushq++] = c;
    }
    return false;
}

/* A connection handled here may queue itself again (conn_pump): it is
 * then behind the n taken, and taken in the next round; the queue has
 * room for every connection twice (worker.c). */
void conn_flush_queued(struct worker *w)
{
    unsigned n = w->n_conn_flushq;
    for (unsigned i = 0; i < n; i++) {
        struct conn *c = w->conn_flushq[i];
        c->flush_queued = false;
        c->inflight--;
        if (c->phase == CONN_CLOSING) {
            if (c->inflight == 0)
                conn_free(c);
            continue;
        }
        /* Nothing left after all: what waited for the output to drain
         * (close, TLS, error sleep) is decided again. */
        if (flush_now(c))
            conn_pump(c);
    }
    w->n_conn_flushq -= n;
    memmove(w->conn_flushq, w->conn_flushq + n, w->n_conn_flushq * sizeof(*w->conn_flushq));
}

/* ---- life cycle ---- */

static void conn_free(struct conn *c)
{
    struct worker *w = c->w;
    log_flush(); /* the client must not see the close before its log lines */
    if (c->fd >= 0)
        close(c->fd);
    if (c->s)
        session_free(c->s);
    if (c->msg)
        message_free(c->msg);
    if (c->tls)
        tls_conn_free(c->tls);
    free(c->tls_in);
    free(c->tls_out);
    free(c->helo);
    free(c->fe_counts);
    free(c->rt.pend);
    spool_conn_free(c);
    if (c->counted)
        worker_session_ended(w);
    pool_put(&w->conns, c);
}

static void conn_close(struct conn *c)
{
    if (c->phase == CONN_CLOSING)
        return;
    if (c->s) {
        struct maillog_client mc;
        char line[1024];
        client_of(c, &mc);
        if (maillog_disconnect(line, sizeof(line), &mc, session_stats(c->s)) >= 0)
            log_info("%s", line);
    }
    c->phase = CONN_CLOSING;
    relay_reset(c);
    if (c->ps) {
        policy_session_free(c->ps);
        c->ps = NULL;
    }
    if (c->lookup_pending) /* dns_forget() scans the resolver's table */
        dns_forget(c->w->dns, c);
    c->lookup_pending = false;
    timer_wheel_cancel(&c->w->tw, &c->timer.node);
    if (!c->shut) {
        log_flush(); /* the client sees EOF now: its log lines first */
        if (c->recv_armed || c->send_armed) {
            shutdown(c->fd, SHUT_RDWR); /* ends what is still out on it */
        } else { /* after QUIT's 221: nothing out, close alone says the same */
            close(c->fd);
            c->fd = -1;
        }
        c->shut = true;
    }
    /* Freed from a completion, never here: callers up the stack (relay,
     * upstream events) may still hold c and see it CLOSING. */
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, conn_ud(c, OP_CONN_NOP));
    c->inflight++;
}

bool conn_in_transaction(const struct conn *c)
{
    return c->rt.active || c->phase != CONN_SMTP;
}

/* The server ends the session with a 421 that goes out like any reply
 * (through TLS when it is on), then closes; a client that does not take
 * it within CONN_BYE_MS is cut. */
static void say_goodbye(struct conn *c, const char *fmt)
{
    char msg[400];
    snprintf(msg, sizeof(msg), fmt, c->gen->cfg.p.myhostname);
    session_shutdown(c->s, msg);
    c->saying_bye = true;
    c->sleeping = false;
    timer_arm(c, CONN_BYE_MS);
    conn_pump(c);
}

/* SIGTERM: the drain time is over, or the session is idle. */
void conn_stop(struct conn *c, bool force)
{
    if (c->phase == CONN_CLOSING)
        return;
    if (c->saying_bye && !force)
        return; /* the 421 is on its way */
    if (c->phase != CONN_SMTP || force) {
        if (c->s)
            session_eof(c->s);
        conn_close(c);
        return;
    }
    /* Replies still on their way (the 250 of a transaction that just
     * ended) go first: the pump calls us again once they are out. */
    const char *p;
    size_t n;
    session_output(c->s, &p, &n);
    if (c->send_armed || n > 0 || c->tls_out_len > 0) {
        c->stop_pending = true;
        return;
    }
    say_goodbye(c, "421 4.3.2 %s Service shutting down");
}

/* The greeting: the peer is known, the session begins. */
static void begin_smtp(struct conn *c)
{
    const struct generation *g = c->gen;
    struct worker *w = c->w;
    if (g->xclient_hosts)
        c->peer.xclient_authorized =
            matchlist_match_namadr(g->xclient_hosts, c->peer.name, c->peer.addr) > 0;
    /* smtpd looks the client up once, before the greeting; a lookup error
     * (logged) leaves smtpd_discard_ehlo_keywords in force. */
    c->peer.ehlo_discard_found =
        generation_ehlo_discard(g, c->peer.addr, &c->peer.ehlo_discard) > 0;
    c->ps = policy_session_create(g->policy, w->dns, conn_policy_done, c);
    c->s = session_create(&g->session, &c->peer, &conn_session_ops, c);
    if (!c->ps || !c->s) {
        log_warn("out of memory for the session of %s[%s]", c->peer.name, c->peer.addr);
        conn_close(c);
        return;
    }
    policy_session_client(c->ps, &c->peer, c->name_status, c->reverse_status,
                          c->reverse_name);
    struct maillog_client mc;
    char line[600];
    client_of(c, &mc);
    /* The frontend's connection id ends smtpd's connect line, after the
     * "]" where parsers stop reading it (pflogsumm: ": connect from ",
     * fail2ban: no connect rule), and only there: lines that tools match
     * to their end ("lost connection after X from host[addr]$") stay
     * Postfix's, byte for byte. The id is the frontend's (handoff record),
     * so one connection's screening and session can be told apart from
     * another client session's on the same worker. */
    int n = maillog_connect(line, sizeof(line), &mc);
    if (n >= 0 && c->conn_id[0])
        log_info("%s id=%s", line, c->conn_id);
    else if (n >= 0)
        log_info("%s", line);
    struct session_start st = {
        .banner = c->banner == HANDOFF_BANNER_NONE   ? SESSION_BANNER_SEND
                  : c->banner == HANDOFF_BANNER_CONT ? SESSION_BANNER_FINISH
                                                     : SESSION_BANNER_SENT,
        .helo_cmd = c->helo_cmd,
        .helo = c->helo,
        .error_count = c->error_count,
        .mail_done = c->mail_done,
        .counts = c->fe_counts,
    };
    c->phase = CONN_SMTP;
    if (session_start(c->s, &st) < 0) {
        conn_close(c);
        return;
    }
    idle_timer(c);
    conn_pump(c);
}

static void on_client_name(void *arg, const struct dns_client_result *r)
{
    struct conn *c = arg;
    c->lookup_pending = false;
    c->reverse_status = dns_client_reverse_status(r->status);
    c->name_status = dns_client_name_status(r->status);
    snprintf(c->reverse_name, sizeof(c->reverse_name), "%s",
             c->reverse_status == DNS_NAME_OK ? r->name : "unknown");
    snprintf(c->peer.name, sizeof(c->peer.name), "%s",
             c->name_status == DNS_NAME_OK ? r->name : "unknown");
    begin_smtp(c);
}

static enum dns_name_status name_status_of(enum handoff_peer p)
{
    return p == HANDOFF_PEER_OK ? DNS_NAME_OK : p == HANDOFF_PEER_TEMP ? DNS_NAME_TEMP
                                                                       : DNS_NAME_PERM;
}

/* Postfix's smtpd looks the client up before its greeting. */
static void lookup_client(struct conn *c)
{
    if (!c->lookup_needed) { /* the frontend did it (conn_start) */
        begin_smtp(c);
        return;
    }
    c->phase = CONN_LOOKUP;
    c->lookup_pending = true;
    int rc = dns_client(c->w->dns, (const struct sockaddr *)&c->client, 0, on_client_name, c);
    if (rc < 0) { /* resolver full or broken: a temporary failure, as Postfix has it */
        c->lookup_pending = false;
        c->name_status = c->reverse_status = DNS_NAME_TEMP;
        snprintf(c->reverse_name, sizeof(c->reverse_name), "unknown");
        begin_smtp(c);
    }
}

static void set_peer_addr(struct conn *c)
{
    const struct sockaddr_storage *ss = &c->client;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, c->peer.addr, sizeof(c->peer.addr));
        c->peer.port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const void *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, c->peer.addr, sizeof(c->peer.addr));
        c->peer.port = ntohs(s4->sin_port);
    }
    snprintf(c->peer.name, sizeof(c->peer.name), "unknown");
}

void conn_start(struct worker *w, int fd, const struct handoff *h)
{
    /* The input buffer ends the object and is only read below in_len:
     * zeroing (and poisoning at put) stops before its 8 KB. */
    _Static_assert(offsetof(struct conn, in) + CONN_IN_SIZE + 16 > sizeof(struct conn),
                   "the input buffer must end struct conn (not zeroed)");
    pool_set_clear_len(&w->conns, offsetof(struct conn, in));
    struct conn *c = pool_get(&w->conns);
    if (!c) {
        static const char busy[] = "421 4.3.2 Service temporarily unavailable\r\n";
        (void)!write(fd, busy, sizeof(busy) - 1);
        close(fd);
        worker_session_ended(w);
        return;
    }
    /* TCP_NODELAY comes from the listening socket (master/listen.c). */
    c->fd = fd;
    c->w = w;
    c->gen = w->gen;
    c->client = h->client;
    c->server = h->server;
    c->banner = h->banner;
    c->helo_cmd = (h->flags & HANDOFF_F_HELO_REPLIED) ? (int)h->helo_cmd : 0;
    c->mail_done = (h->flags & HANDOFF_F_MAIL_DONE) != 0;
    c->helo = h->helo[0] ? strdup(h->helo) : NULL;
    if (h->flags & HANDOFF_F_CMD_COUNTS) {
        _Static_assert(HANDOFF_NCMDS == MAILLOG_NCMDS, "one counter per smtpd command row");
        c->fe_counts = calloc(1, sizeof(*c->fe_counts)); /* NULL: counts lost, no more */
        for (unsigned i = 0; c->fe_counts && i < HANDOFF_NCMDS; i++) {
            c->fe_counts->ok[i] = h->cmd_ok[i];
            c->fe_counts->total[i] = h->cmd_total[i];
        }
    }
    c->error_count = h->error_count;
    memcpy(c->conn_id, h->conn_id, sizeof(c->conn_id));
    memcpy(c->in, h->preread, h->preread_len); /* read by the frontend, not yet used */
    c->in_len = h->preread_len;
    c->counted = true;
    c->timer.kind = WT_CONN;
    c->connect_ms = timer_clock_ms();
    set_peer_addr(c);
    if (h->name_status != HANDOFF_PEER_UNCHECKED) {
        c->name_status = name_status_of(h->name_status);
        c->reverse_status = name_status_of(h->reverse_status);
        snprintf(c->reverse_name, sizeof(c->reverse_name), "%s",
                 h->reverse_status == HANDOFF_PEER_OK ? h->ptr_name : "unknown");
        snprintf(c->peer.name, sizeof(c->peer.name), "%s",
                 h->name_status == HANDOFF_PEER_OK ? h->ptr_name : "unknown");
    } else if (c->gen->cfg.p.smtpd_peername_lookup) {
        c->lookup_needed = true;
    } else {
        c->name_status = c->reverse_status = DNS_NAME_PERM;
        snprintf(c->reverse_name, sizeof(c->reverse_name), "unknown");
    }
    if (c->gen->cfg.p.smtpd_upstream_proxy_protocol && !(h->flags & HANDOFF_F_PROXIED)) {
        c->phase = CONN_PROXY;
        timer_arm(c, (uint64_t)c->gen->cfg.p.smtpd_upstream_proxy_timeout * 1000u);
        recv_arm(c);
        return;
    }
    lookup_client(c);
}

/* smtpd_upstream_proxy_protocol = haproxy: the header comes first. */
static void proxy_input(struct conn *c)
{
    struct proxy_info pi;
    const char *why = "";
    enum proxy_result r = proxy_parse(c->in, c->in_len, &pi, &why);
    if (r == PROXY_NEED_MORE && c->in_len < CONN_IN_SIZE && !c->eof) {
        recv_arm(c);
        return;
    }
    if (r != PROXY_OK) {
        log_warn("haproxy read: %s from [%s]:%u", r == PROXY_NEED_MORE ? "truncated header" : why,
                 c->peer.addr, c->peer.port);
        conn_close(c);
        return;
    }
    if (pi.proxied) {
        c->client = pi.client;
        c->server = pi.server;
        c->lookup_needed = c->gen->cfg.p.smtpd_peername_lookup;
        set_peer_addr(c);
    }
    c->in_off = pi.consumed;
    timer_wheel_cancel(&c->w->tw, &c->timer.node);
    lookup_client(c);
}

/* ---- TLS ---- */

static void tls_begin(struct conn *c)
{
    c->tls = tls_conn_server(c->gen->tls);
    c->tls_in = malloc(CONN_TLS_BUF);
    c->tls_out = malloc(CONN_TLS_BUF);
    if (!c->tls || !c->tls_in || !c->tls_out) {
        log_warn("out of memory for TLS with %s[%s]", c->peer.name, c->peer.addr);
        conn_close(c);
        return;
    }
    c->in_off = c->in_len = 0; /* plaintext pipelined behind STARTTLS is dropped */
    c->phase = CONN_TLS_HANDSHAKE;
    timer_arm(c, (uint64_t)c->gen->cfg.p.smtpd_starttls_timeout * 1000u);
}

static void tls_handshake(struct conn *c)
{
    tls_drain_in(c);
    int rc = tls_conn_handshake(c->tls);
    flush(c);
    char namaddr[sizeof(c->peer.name) + sizeof(c->peer.addr) + 2];
    snprintf(namaddr, sizeof(namaddr), "%s[%s]", c->peer.name, c->peer.addr);
    if (rc < 0 || (rc == 0 && c->eof)) {
        tls_conn_log_error(c->tls, namaddr, rc == 0);
        if (rc == 0)
            log_info("lost connection after STARTTLS from %s", namaddr);
        conn_close(c);
        return;
    }
    if (rc == 0) {
        recv_arm(c);
        return;
    }
    if (tls_server_loglevel(c->gen->tls) >= 1)
        tls_conn_log_summary(c->tls, namaddr);
    c->phase = CONN_SMTP;
    session_tls_started(c->s);
    idle_timer(c);
    if (tls_drain_in(c) < 0)
        c->eof = true;
    conn_pump(c);
}

/* ---- the pump ---- */

void conn_pump(struct conn *c)
{
    if (c->phase == CONN_TLS_HANDSHAKE) {
        tls_handshake(c);
        return;
    }
    if (c->phase != CONN_SMTP)
        return;
    unsigned ms = 0;
    enum session_wait wt;
    for (;;) {
        wt = session_wait(c->s, &ms);
        /* TLS keeps decrypted bytes we had no room for: pull them now. */
        if (c->tls && c->in_off >= c->in_len && tls_drain_in(c) < 0)
            c->eof = true;
        if (wt != SESSION_WAIT_INPUT || c->in_off >= c->in_len || relay_backlogged(c))
            break;
        size_t n = session_input(c->s, c->in + c->in_off, c->in_len - c->in_off);
        c->in_off += n;
        if (n == 0)
            break;
    }
    bool flushed = flush(c);
    wt = session_wait(c->s, &ms);
    switch (wt) {
    case SESSION_WAIT_INPUT:
        if (c->in_off < c->in_len && !relay_backlogged(c))
            break; /* more to feed after the output drained */
        if (c->eof) {
            log_lost(c, "lost connection");
            session_eof(c->s);
            conn_close(c);
            return;
        }
        if (c->stop_pending && flushed && !conn_in_transaction(c)) {
            conn_stop(c, false);
            return;
        }
        recv_arm(c);
        break;
    case SESSION_WAIT_OUTPUT:
    case SESSION_WAIT_POLICY:
        recv_arm(c); /* pipelined commands wait in our buffer */
        break;
    case SESSION_WAIT_SLEEP:
        if (flushed && !c->sleeping) {
            c->sleeping = true;
            timer_arm(c, ms);
        }
        break;
    case SESSION_WAIT_TLS:
        if (flushed) {
            tls_begin(c);
            if (c->phase == CONN_TLS_HANDSHAKE)
                recv_arm(c);
        }
        break;
    case SESSION_WAIT_CLOSE:
        if (flushed)
            conn_close(c);
        break;
    }
}

/* ---- completions and timers ---- */

static void on_recv(struct conn *c, int res)
{
    c->recv_armed = false;
    if (c->phase == CONN_CLOSING)
        return;
    if (res <= 0) {
        if (res == -EINTR || res == -EAGAIN) {
            recv_arm(c);
            return;
        }
        c->eof = true;
        if (c->phase == CONN_SMTP && session_wait(c->s, NULL) == SESSION_WAIT_INPUT &&
            c->in_off >= c->in_len) {
            log_lost(c, "lost connection");
            session_eof(c->s);
            conn_close(c);
            return;
        }
        if (c->phase != CONN_SMTP && c->phase != CONN_TLS_HANDSHAKE) {
            conn_close(c);
            return;
        }
        conn_pump(c);
        return;
    }
    if (c->tls) {
        c->tls_in_len += (size_t)res;
        if (c->phase == CONN_SMTP && tls_drain_in(c) < 0)
            c->eof = true;
    } else {
        c->in_len += (size_t)res;
    }
    if (c->phase == CONN_PROXY) {
        proxy_input(c);
        return;
    }
    if (c->phase == CONN_SMTP && !c->sleeping && !c->saying_bye)
        idle_timer(c);
    conn_pump(c);
}

static void on_send(struct conn *c, int res)
{
    c->send_armed = false;
    if (c->phase == CONN_CLOSING)
        return;
    if (res < 0) {
        if (res == -EINTR || res == -EAGAIN) {
            conn_pump(c);
            return;
        }
        c->eof = true;
        if (c->s)
            session_eof(c->s);
        conn_close(c);
        return;
    }
    if (c->tls) {
        memmove(c->tls_out, c->tls_out + res, c->tls_out_len - (size_t)res);
        c->tls_out_len -= (size_t)res;
    } else {
        session_output_done(c->s, (size_t)res);
    }
    conn_pump(c);
}

void conn_event(struct worker *w, struct conn *c, unsigned op, int res)
{
    (void)w;
    if (c->inflight > 0)
        c->inflight--;
    if (op == OP_CONN_RECV)
        on_recv(c, res);
    else if (op == OP_CONN_SEND)
        on_send(c, res);
    else if (op == OP_CONN_SPOOL)
        spool_event(c, res);
    if (c->phase == CONN_CLOSING && c->inflight == 0)
        conn_free(c);
}

void conn_timer(struct worker *w, struct conn *c)
{
    (void)w;
    if (c->phase == CONN_CLOSING)
        return;
    if (c->sleeping) {
        c->sleeping = false;
        session_sleep_done(c->s);
        idle_timer(c);
        conn_pump(c);
        return;
    }
    if (c->phase == CONN_SMTP && session_wait(c->s, NULL) == SESSION_WAIT_POLICY) {
        idle_timer(c); /* DNS and the next hop keep their own time limits */
        return;
    }
    if (c->saying_bye) { /* the client did not even take the 421 */
        conn_close(c);
        return;
    }
    log_lost(c, "timeout");
    if (c->phase == CONN_SMTP) {
        say_goodbye(c, "421 4.4.2 %s Error: timeout exceeded");
        return;
    }
    if (c->s)
        session_eof(c->s);
    conn_close(c);
}
