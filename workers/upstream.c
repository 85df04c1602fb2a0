/*
 * upstream.c - connections to the next hop, driven through the worker's
 * ring, with the SMTP protocol in the sans-I/O client (smtp_client.h).
 *
 * An upstream is lent to one session (its owner) for a transaction; when
 * the transaction ends cleanly it is kept idle for reuse by any session of
 * this worker going to the same next hop (Postfix's connection cache: kept
 * smtp_connection_cache_time_limit, 2 s), else closed. Replies and
 * connection loss reach the owner through relay_upstream_ready(), which
 * reads smtp_client_event(); an idle connection that goes down is closed.
 *
 * Bytes are copied between the client's buffers and the upstream's own
 * (sbuf, rbuf), so a request in flight never points into a buffer that
 * the protocol code compacts meanwhile. They pass through the link
 * (client_tls.h): STARTTLS, the certificate checks of
 * smtp_tls_security_level and AUTH happen there, before the owner's
 * commands go out.
 *
 * Time limits: smtp_connect_timeout to connect, smtpd_proxy_timeout
 * (100 s, Postfix's default) for every reply in proxy mode; expiry is
 * smtp_client_timed_out(), which fails every command waiting with 451.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "worker_int.h"

#define UP_PROXY_TIMEOUT_S 100u  /* smtpd_proxy_timeout */
#define UP_IDLE_MS 2000u         /* smtp_connection_cache_time_limit */

static uint64_t up_ud(const struct worker *w, const struct upstream *u, unsigned op)
{
    return ring_ud_for(op, &w->ups, u);
}

/* The idle list: what upstream_find_idle() looks through, instead of
 * every object of the pool. */
static void idle_remove(struct upstream *u)
{
    struct worker *w = u->w;
    for (unsigned i = 0; i < w->nidle; i++)
        if (w->idle[i] == u) {
            w->idle[i] = w->idle[--w->nidle];
            return;
        }
}

static void up_free(struct upstream *u)
{
    struct worker *w = u->w;
    timer_wheel_cancel(&w->tw, &u->timer.node);
    if (u->fd >= 0)
        close(u->fd);
    client_link_free(&u->link);
    pool_put(&w->ups, u);
}

static void up_close(struct upstream *u)
{
    if (u->state == UP_CLOSING)
        return;
    u->state = UP_CLOSING;
    u->owner = NULL;
    idle_remove(u);
    timer_wheel_cancel(&u->w->tw, &u->timer.node);
    if (u->fd >= 0 && !u->shut) {
        shutdown(u->fd, SHUT_RDWR);
        u->shut = true;
    }
    /* Freed from a completion: callers up the stack may still hold u. */
    struct io_uring_sqe *sqe = worker_sqe(u->w);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, up_ud(u->w, u, OP_UP_NOP));
    u->inflight++;
}

static void timer_set(struct upstream *u)
{
    struct worker *w = u->w;
    uint64_t s;
    if (u->state == UP_CONNECTING) {
        s = (uint64_t)w->gen->cfg.p.smtp_connect_timeout;
        if (s == 0)
            s = 30;
    } else if (!u->owner) {
        timer_wheel_add(&w->tw, &u->timer.node, u->idle_since + UP_IDLE_MS);
        return;
    } else if (smtp_client_timer(&u->cl) == SMTP_TIMER_NONE) {
        timer_wheel_cancel(&w->tw, &u->timer.node);
        return;
    } else {
        s = UP_PROXY_TIMEOUT_S;
    }
    timer_wheel_add(&w->tw, &u->timer.node, timer_clock_ms() + s * 1000u);
}

/* Arm what the connection waits for: a send of what the protocol has
 * queued, a receive, and its timer. */
static void pump_now(struct upstream *u)
{
    struct worker *w = u->w;
    if (u->state == UP_CLOSING || u->state == UP_FREE)
        return;
    if (u->state == UP_OPEN && !u->send_armed) {
        size_t n = client_link_output(&u->link, u->sbuf, sizeof(u->sbuf));
        if (n > 0) {
            struct io_uring_sqe *sqe = worker_sqe(w);
            io_uring_prep_send(sqe, u->fd, u->sbuf, n, MSG_NOSIGNAL);
            io_uring_sqe_set_data64(sqe, up_ud(w, u, OP_UP_SEND));
            u->send_armed = true;
            u->send_len = n;
            u->inflight++;
        }
    }
    if (u->state == UP_OPEN && !u->recv_armed && !u->cl.eof && u->rbuf_len == 0) {
        struct io_uring_sqe *sqe = worker_sqe(w);
        io_uring_prep_recv(sqe, u->fd, u->rbuf, sizeof(u->rbuf), 0);
        io_uring_sqe_set_data64(sqe, up_ud(w, u, OP_UP_RECV));
        u->recv_armed = true;
        u->inflight++;
    }
    timer_set(u);
}

/* Done once per batch of completions (upstream_flush_queued), so that a
 * message's content, which message.c hands over line by line, and the
 * commands of one batch leave in one send; the queue holds one of
 * u->inflight, so the connection is not freed under it. */
void upstream_pump(struct upstream *u)
{
    struct worker *w = u->w;
    if (u->state == UP_CLOSING || u->state == UP_FREE || u->flush_queued)
        return;
    u->flush_queued = true;
    u->inflight++;
    w->up_flushq[w->n_up_flushq++] = u;
}

/* pump_now() never queues: the queue can be emptied first. */
void upstream_flush_queued(struct worker *w)
{
    unsigned n = w->n_up_flushq;
    w->n_up_flushq = 0;
    for (unsigned i = 0; i < n; i++) {
        struct upstream *u = w->up_flushq[i];
        u->flush_queued = false;
        u->inflight--;
        if (u->state == UP_CLOSING) {
            if (u->inflight == 0)
                up_free(u);
            continue;
        }
        pump_now(u);
    }
}

/* Give what was read to the protocol, as far as it has room. */
static void feed(struct upstream *u)
{
    while (u->rbuf_len > 0) {
        size_t n = client_link_input(&u->link, u->rbuf + u->rbuf_off, u->rbuf_len);
        if (n == 0)
            break;
        u->rbuf_off += n;
        u->rbuf_len -= n;
    }
    if (u->rbuf_len == 0)
        u->rbuf_off = 0;
}

/* Events for a connection nobody owns: it can only go down. */
static void idle_events(struct upstream *u)
{
    struct smtp_client_event ev;
    while (client_link_event(&u->link, &ev))
        ;
    if (!smtp_client_usable(&u->cl))
        up_close(u);
}

static void notify(struct upstream *u)
{
    client_link_set_clock(&u->link, timer_clock_ms());
    for (int round = 0; round < 64 && u->state == UP_OPEN; round++) {
        feed(u);
        if (u->owner) {
            struct conn *c = pool_lookup(&u->w->conns, u->owner_idx, u->owner_gen);
            if (!c) {
                u->owner = NULL;
                up_close(u);
                return;
            }
            relay_upstream_ready(c);
        } else {
            idle_events(u);
        }
        if (u->rbuf_len == 0 || u->state != UP_OPEN)
            break;
    }
    upstream_pump(u);
}

void upstream_event(struct worker *w, struct upstream *u, unsigned op, int res)
{
    (void)w;
    if (u->inflight > 0)
        u->inflight--;
    if (u->state == UP_CLOSING) {
        if (op == OP_UP_SEND)
            u->send_armed = false;
        if (op == OP_UP_RECV)
            u->recv_armed = false;
        if (u->inflight == 0)
            up_free(u);
        return;
    }
    switch (op) {
    case OP_UP_CONNECT:
        if (res < 0) {
            log_warn("connect to %s[%s]:%u: %s", u->host, u->addr_text, u->port,
                     strerror(-res));
            smtp_client_connect_failed(&u->cl);
        } else {
            u->state = UP_OPEN;
            u->connected_ms = timer_clock_ms();
            smtp_client_connected(&u->cl);
        }
        break;
    case OP_UP_RECV:
        u->recv_armed = false;
        if (res > 0) {
            u->rbuf_off = 0;
            u->rbuf_len = (size_t)res;
        } else if (res == 0) {
            smtp_client_input_eof(&u->cl);
        } else if (res != -EINTR && res != -EAGAIN) {
            smtp_client_io_error(&u->cl);
        }
        break;
    case OP_UP_SEND:
        u->send_armed = false;
        if (res < 0 && res != -EINTR && res != -EAGAIN)
            smtp_client_io_error(&u->cl);
        break;
    default:
        break;
    }
    if (u->state == UP_CONNECTING) { /* connect failed: tell the owner, then go */
        u->state = UP_OPEN;
        notify(u);
        if (u->state != UP_CLOSING && !u->owner)
            up_close(u);
        return;
    }
    notify(u);
}

void upstream_timer(struct worker *w, struct upstream *u)
{
    (void)w;
    if (u->state == UP_CLOSING)
        return;
    if (!u->owner && u->state == UP_OPEN) {
        if (smtp_client_usable(&u->cl) && !u->cl.quit_queued) {
            smtp_client_quit(&u->cl);
            u->idle_since = timer_clock_ms() + 5000u; /* time for QUIT, then close */
            upstream_pump(u);
            return;
        }
        up_close(u);
        return;
    }
    log_warn("conversation with %s[%s]:%u timed out while %s", u->host, u->addr_text, u->port,
             smtp_client_stage(&u->cl));
    smtp_client_timed_out(&u->cl);
    if (u->state == UP_CONNECTING)
        u->state = UP_OPEN;
    notify(u);
}

struct upstream *upstream_find_idle(struct worker *w, const char *key)
{
    for (unsigned i = 0; i < w->nidle; i++) {
        struct upstream *u = w->idle[i];
        if (u->state == UP_OPEN && smtp_client_usable(&u->cl) && !u->cl.quit_queued &&
            strcmp(u->key, key) == 0) {
            idle_remove(u);
            return u;
        }
    }
    return NULL;
}

struct upstream *upstream_open(struct worker *w, const char *key,
                               const struct sockaddr_storage *addr, socklen_t alen,
                               const char *host, const char *addr_text, unsigned port,
                               const char *nexthop, const char *dest)
{
    struct upstream *u = pool_get(&w->ups);
    if (!u)
        return NULL;
    u->w = w;
    u->timer.kind = WT_UP;
    u->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0) {
        log_warn("socket for %s[%s]:%u: %s", host, addr_text, port, strerror(errno));
        pool_put(&w->ups, u);
        return NULL;
    }
    if (addr->ss_family != AF_UNIX) {
        /* Our writes are whole commands or content: never wait for the
         * peer's delayed ACK (".\r\n" alone took 40 ms with Nagle). */
        int one = 1;
        setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    snprintf(u->key, sizeof(u->key), "%s", key);
    snprintf(u->host, sizeof(u->host), "%s", host);
    snprintf(u->addr_text, sizeof(u->addr_text), "%s", addr_text);
    u->port = port;
    u->addr = *addr;
    u->addrlen = alen;
    struct smtp_client_opts o = {.helo_name = w->gen->cfg.p.myhostname, .proxy = 1};
    struct client_link_peer peer = {
        .host = host, .addr = addr_text, .port = port, .nexthop = nexthop, .dest = dest};
    /* A unix socket (lmtp:unix:) is never asked for STARTTLS or AUTH. */
    client_link_init(&u->link, &u->cl, &o,
                     addr->ss_family == AF_UNIX ? NULL : w->gen->client_tls, &w->tls_cache,
                     &peer);
    u->state = UP_CONNECTING;
    struct io_uring_sqe *sqe = worker_sqe(w);
    io_uring_prep_connect(sqe, u->fd, (const struct sockaddr *)&u->addr, u->addrlen);
    io_uring_sqe_set_data64(sqe, up_ud(w, u, OP_UP_CONNECT));
    u->inflight++;
    timer_set(u);
    return u;
}

void upstream_attach(struct upstream *u, struct conn *c)
{
    u->owner = c;
    u->owner_idx = pool_index(&u->w->conns, c);
    u->owner_gen = pool_gen(&u->w->conns, c);
    timer_set(u);
}

void upstream_release(struct upstream *u, bool reusable)
{
    u->owner = NULL;
    if (!reusable || u->state != UP_OPEN || !smtp_client_usable(&u->cl)) {
        up_close(u);
        return;
    }
    if (u->w->nidle == WORKER_IDLE_UPSTREAMS) {
        up_close(u);
        return;
    }
    u->w->idle[u->w->nidle++] = u;
    u->idle_since = timer_clock_ms();
    upstream_pump(u);
}

void upstream_close_idle(struct worker *w)
{
    for (uint32_t i = 0; i < w->ups.capacity; i++) {
        struct upstream *u = pool_lookup(&w->ups, i, w->ups.gen[i]);
        if (u && u->fd >= 0) {
            close(u->fd);
            u->fd = -1;
        }
    }
}
