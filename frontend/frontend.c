/*
 * frontend.c - the frontend's event loop (frontend.h): one io_uring ring
 * with multishot accept on every listener, the master's control channel,
 * the worker channels (fe_workers.c), signals, and one timer wheel for
 * every connection deadline (greet wait, drips, holds, error sleep).
 *
 * Addresses: a single-shot accept (several frontends, or an old kernel)
 * writes the client's address into its listener's buffer, and a listener
 * bound to one address gives every connection that local address, so a
 * connection costs no getpeername/getsockname then; a multishot accept
 * (one frontend) gives no address and a wildcard listener no local one,
 * and those are asked per connection (fe_conn_accepted). strace -c over
 * 2,000 connections: bench/storm/README.md.
 *
 * Log lines are held (log.h) and written once per loop pass, before the
 * pass's I/O is submitted, and before any system call the client sees at
 * once: a reply or teaser sent directly, a close (fe_conn.c) and the
 * handoff, after which the worker greets the client (fe_workers.c). A
 * connection that passes costs one write(2) for its CONNECT and PASS
 * lines instead of two.
 *
 * Counters go to the master as STATS when they changed, at most every
 * FE_STATS_MS, so that status is at most that stale and a storm does not
 * cost a message per connection.
 *
 * Failure: an accept error other than running out of descriptors is
 * logged and accepting goes on; out of descriptors pauses accepting for
 * 100 ms. A kernel without multishot accept (-EINVAL) gets one accept at a
 * time. End of file on the control channel (the master died) stops.
 */
#include "fe_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "maps_lmdb.h"
#include "util.h"

#define FE_RING_ENTRIES 1024
#define FE_STATS_MS 50u
#define FE_ACCEPT_PAUSE_MS 100u
/* A retiring frontend waits this long past its deadline for the acks of
 * its last handoffs (the master retires the workers once it is gone). */
#define FE_ACK_GRACE_MS 2000u

struct io_uring_sqe *fe_sqe(struct fe *fe)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&fe->ring.uring);
    while (!sqe) {
        log_flush(); /* what goes out now may be a reply: its lines first */
        io_uring_submit(&fe->ring.uring);
        sqe = io_uring_get_sqe(&fe->ring.uring);
    }
    return sqe;
}

void fe_ep_format(const struct fe_ep *e, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(e->family, e->addr, a, sizeof(a)))
        snprintf(a, sizeof(a), "?");
    snprintf(buf, len, "[%s]:%u", a, (unsigned)e->port);
}

void fe_stats_changed(struct fe *fe)
{
    fe->stats_dirty = true;
}

void fe_queues_others(const struct fe *fe, uint32_t *pre, uint32_t *post)
{
    fe_board_others(fe->a->board, fe->a->index, pre, post);
}

/* Where a count changes, before the client can see any effect of it (a
 * teaser, a worker's 220), and once per loop pass as a catch-all; stored
 * only when changed. The other frontends read them for the two queue
 * limits (fe_ledger.c). */
void fe_board_sync(struct fe *fe)
{
    if (!fe->a->board)
        return;
    uint64_t post = (uint64_t)fe->q.held + fe_workers_unacked(fe);
    uint32_t p32 = post > UINT32_MAX ? UINT32_MAX : (uint32_t)post;
    if (fe->q.pre == fe->board_pre && p32 == fe->board_post)
        return;
    fe->board_pre = fe->q.pre;
    fe->board_post = p32;
    fe_board_publish(fe->a->board, fe->a->index, fe->board_pre, fe->board_post);
}

static void stats_send(struct fe *fe, bool force)
{
    static struct fe_ctl_msg m;
    uint64_t now = timer_clock_ms();
    if (fe->ctl_dead || (!fe->stats_dirty && !force))
        return;
    if (!force && now < fe->stats_sent_ms + FE_STATS_MS)
        return;
    fe->st.held = pool_in_use(&fe->conns);
    m.kind = FE_CTL_STATS;
    m.st = fe->st;
    fe_workers_fill_stats(fe, &m);
    int r = fe_ctl_send(fe->a->ctl, &m, -1);
    if (r == 0 || r == -EAGAIN) { /* EAGAIN: the next change sends it again */
        fe->stats_dirty = r != 0;
        fe->stats_sent_ms = now;
    } else if (r == -EPIPE || r == -ECONNRESET) {
        fe->ctl_dead = true;
    }
}

/* ---- listeners ---- */

static void accept_arm(struct fe *fe, size_t i)
{
    if (fe->retiring || fe->stopping || fe->listening[i])
        return;
    struct io_uring_sqe *sqe = fe_sqe(fe);
    /* Blocking sockets, as the worker expects: the frontend itself never
     * blocks on one (io_uring, or MSG_DONTWAIT). */
    /* Several frontends on the same listeners: a multishot accept stays
     * first in the socket's wait queue, so one frontend would take every
     * connection (measured: 200 of 200). A single accept re-armed after each
     * connection goes to the back of the queue: the frontends take turns,
     * and a busy one (not re-armed yet) leaves its turn to the others. */
    struct fe_listener *l = &fe->lsn[i];
    l->single = fe->accept_single || fe->a->count > 1;
    if (l->single) {
        /* One accept in flight per listener: its own buffer for the client's
         * address, read before the next is armed. */
        l->peer_len = sizeof(l->peer);
        io_uring_prep_accept(sqe, fe->a->lfd[i], (struct sockaddr *)&l->peer, &l->peer_len,
                             SOCK_CLOEXEC);
    } else {
        /* A multishot accept takes every pending connection in one go, each
         * overwriting one buffer before we see its completion: no address. */
        io_uring_prep_multishot_accept(sqe, fe->a->lfd[i], NULL, NULL, SOCK_CLOEXEC);
    }
    io_uring_sqe_set_data64(sqe, ring_ud(FE_OP_ACCEPT, (uint32_t)i, 0));
    fe->listening[i] = true;
}

static void accept_event(struct fe *fe, uint32_t i, int res, unsigned flags)
{
    if (i >= fe->a->nl)
        return;
    if (!(flags & IORING_CQE_F_MORE))
        fe->listening[i] = false;
    if (res >= 0) {
        if (fe->retiring || fe->stopping) {
            /* Raced with the stop: a busy 421 is better than a silent close. */
            static const char bye[] = "421 4.3.2 Service shutting down\r\n";
            log_flush();
            ssize_t n = send(res, bye, sizeof(bye) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)n;
            close(res);
        } else {
            const struct fe_listener *l = &fe->lsn[i];
            bool peer_ok = l->single && l->peer_len > 0 && l->peer_len <= sizeof(l->peer) &&
                           (l->peer.ss_family == AF_INET || l->peer.ss_family == AF_INET6);
            fe_conn_accepted(fe, res, peer_ok ? &l->peer : NULL,
                             l->fixed_local ? &l->local : NULL);
        }
    } else if (res == -EINVAL && !fe->accept_single) {
        log_info("no multishot accept in this kernel: accepting one at a time");
        fe->accept_single = true;
    } else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
        log_warn("accept: %s", strerror(-res));
        fe->accept_pause_until = timer_clock_ms() + FE_ACCEPT_PAUSE_MS;
    } else if (res != -ECANCELED && res != -EINTR && res != -ECONNABORTED && res != -EAGAIN) {
        log_warn("accept: %s", strerror(-res));
    }
    if (!fe->listening[i] && timer_clock_ms() >= fe->accept_pause_until)
        accept_arm(fe, i);
}

static void accept_resume(struct fe *fe)
{
    if (fe->accept_pause_until == 0 || timer_clock_ms() < fe->accept_pause_until)
        return;
    fe->accept_pause_until = 0;
    for (size_t i = 0; i < fe->a->nl; i++)
        accept_arm(fe, i);
}

/* A listener bound to one address (not 0.0.0.0 or ::) gives every
 * connection that local address: asked once here instead of per
 * connection. A wildcard listener's connections each need getsockname. */
static void listeners_local(struct fe *fe)
{
    for (size_t i = 0; i < fe->a->nl && i < FE_MAX_LISTEN; i++) {
        struct fe_listener *l = &fe->lsn[i];
        socklen_t len = sizeof(l->local);
        l->fixed_local = false;
        if (getsockname(fe->a->lfd[i], (struct sockaddr *)&l->local, &len) < 0 ||
            len > sizeof(l->local))
            continue;
        if (l->local.ss_family == AF_INET) {
            struct sockaddr_in s4;
            memcpy(&s4, &l->local, sizeof(s4));
            l->fixed_local = s4.sin_addr.s_addr != htonl(INADDR_ANY);
        } else if (l->local.ss_family == AF_INET6) {
            struct sockaddr_in6 s6;
            memcpy(&s6, &l->local, sizeof(s6));
            l->fixed_local = !IN6_IS_ADDR_UNSPECIFIED(&s6.sin6_addr);
        }
    }
}

/* Stop accepting: cancel the accepts and close our copies of the
 * listeners (the master and the next frontend keep theirs). */
static void listeners_close(struct fe *fe)
{
    for (size_t i = 0; i < fe->a->nl; i++) {
        if (fe->listening[i]) {
            struct io_uring_sqe *sqe = fe_sqe(fe);
            io_uring_prep_cancel64(sqe, ring_ud(FE_OP_ACCEPT, (uint32_t)i, 0), 0);
            io_uring_sqe_set_data64(sqe, ring_ud(FE_OP_IGNORE, 0, 0));
        }
    }
    io_uring_submit(&fe->ring.uring);
    for (size_t i = 0; i < fe->a->nl; i++)
        close(fe->a->lfd[i]);
}

/* ---- every held connection ---- */

static void shutdown_all(struct fe *fe)
{
    for (uint32_t i = 0; i < fe->conns.capacity; i++) {
        struct fe_conn *c = pool_lookup(&fe->conns, i, fe->conns.gen[i]);
        if (c && c->state != FE_S_CLOSING)
            fe_conn_shutdown(fe, c);
    }
}

static void retire(struct fe *fe, const char *why)
{
    if (fe->retiring || fe->stopping)
        return;
    log_info("%s: no new connections; %u held", why, pool_in_use(&fe->conns));
    fe->retiring = true;
    fe->retire_deadline = timer_clock_ms() + FE_RETIRE_MS;
    listeners_close(fe);
}

static void stop(struct fe *fe)
{
    if (fe->stopping)
        return;
    log_info("stopping: %u connection(s) held", pool_in_use(&fe->conns));
    if (!fe->retiring)
        listeners_close(fe);
    fe->stopping = true;
    shutdown_all(fe);
}

/* ---- master channel ---- */

static void ctl_arm(struct fe *fe)
{
    if (fe->ctl_poll || fe->ctl_dead)
        return;
    struct io_uring_sqe *sqe = fe_sqe(fe);
    io_uring_prep_poll_add(sqe, fe->a->ctl, POLLIN);
    io_uring_sqe_set_data64(sqe, ring_ud(FE_OP_CTL, 0, 0));
    fe->ctl_poll = true;
}

static void ctl_event(struct fe *fe)
{
    static struct fe_ctl_msg m;
    fe->ctl_poll = false;
    for (int i = 0; i < 64; i++) {
        int fd;
        int r = fe_ctl_recv(fe->a->ctl, &m, &fd);
        if (r == -EAGAIN)
            break;
        if (r == -ECONNRESET) {
            fe->ctl_dead = true;
            log_info("master channel closed: stopping");
            stop(fe);
            return;
        }
        if (r < 0) {
            log_warn("master channel: %s", strerror(-r));
            continue;
        }
        if (m.kind == FE_CTL_RETIRE)
            retire(fe, "retiring: a new generation took over");
        else
            fe_workers_ctl(fe, &m, fd);
    }
    ctl_arm(fe);
}

/* ---- signals ---- */

static int signals_open(struct fe *fe)
{
    int fd = daemon_signalfd();
    fe->sigfd = fd < 0 ? -1 : fd;
    return fd < 0 ? fd : 0;
}

static void signal_arm(struct fe *fe)
{
    struct io_uring_sqe *sqe = fe_sqe(fe);
    io_uring_prep_read(sqe, fe->sigfd, fe->sigbuf, sizeof(struct signalfd_siginfo), 0);
    io_uring_sqe_set_data64(sqe, ring_ud(FE_OP_SIGNAL, 0, 0));
}

static void signal_event(struct fe *fe, int res)
{
    if (res == (int)sizeof(struct signalfd_siginfo)) {
        struct signalfd_siginfo si;
        memcpy(&si, fe->sigbuf, sizeof(si));
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            stop(fe);
        else if (si.ssi_signo == SIGUSR1)
            retire(fe, "retiring");
    }
    signal_arm(fe);
}

/* ---- the loop ---- */

static void dispatch(struct fe *fe, const struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    if (ring_ud_is_internal(ud))
        return;
    unsigned op = ring_ud_op(ud);
    switch (op) {
    case FE_OP_ACCEPT: accept_event(fe, ring_ud_index(ud), cqe->res, cqe->flags); return;
    case FE_OP_SIGNAL: signal_event(fe, cqe->res); return;
    case FE_OP_CTL: ctl_event(fe); return;
    case FE_OP_CHAN: fe_workers_event(fe, ring_ud_index(ud), ring_ud_gen(ud), cqe->res); return;
    case FE_OP_DNS: fe_screen_dns_event(fe, ring_ud_index(ud), ring_ud_gen(ud), cqe->res); return;
    case FE_OP_CONN_POLL:
    case FE_OP_CONN_SEND: {
        struct fe_conn *c = pool_lookup(&fe->conns, ring_ud_index(ud), ring_ud_gen(ud));
        if (c)
            fe_conn_event(fe, c, op, cqe->res);
        return;
    }
    default: return;
    }
}

/* At most this many timers per loop pass: tens of thousands of tarpit
 * drips can fall due together when the loop was held up (a loaded CPU);
 * the rest stay due on the wheel (next_wait() is then 0) and the next pass
 * first reaps completions, so good clients' accepts, reads and handoffs
 * are served between batches instead of after the whole backlog. 256
 * drips are about 1 ms of work and fit the ring's 1,024 SQEs, so each
 * batch goes to the kernel in the loop's one submit. */
#define FE_TIMERS_PER_PASS 256u

static void expire_timers(struct fe *fe)
{
    uint64_t now = timer_clock_ms();
    struct timer_node *n;
    for (unsigned k = 0; k < FE_TIMERS_PER_PASS && (n = timer_wheel_expire(&fe->tw, now)) != NULL;
         k++)
        if (!fe_screen_timer(fe, n))
            fe_conn_timer(fe, TIMER_OWNER(n, struct fe_conn, timer));
}

/* Also runs the LMDB tables' refresh when it is due (maps_lmdb.h): the
 * frontend inherits the master's tables (the workers' configuration) and
 * never looks them up, so they would keep a rebuilt file's old inode
 * mapped; an idle frontend must wake for it. */
static int64_t next_wait(struct fe *fe)
{
    uint64_t now = timer_clock_ms();
    int64_t t = fe_screen_next_ms(fe, timer_wheel_next_ms(&fe->tw, now));
    t = map_lmdb_refresh_wait((int64_t)now, t);
    if (fe->stats_dirty && (t < 0 || t > (int64_t)FE_STATS_MS))
        t = FE_STATS_MS;
    if (fe->accept_pause_until && (t < 0 || t > (int64_t)FE_ACCEPT_PAUSE_MS))
        t = FE_ACCEPT_PAUSE_MS;
    if ((fe->retiring || fe->stopping) && (t < 0 || t > 200))
        t = 200;
    return t;
}

static int loop(struct fe *fe)
{
    listeners_local(fe);
    for (size_t i = 0; i < fe->a->nl; i++)
        accept_arm(fe, i);
    signal_arm(fe);
    ctl_arm(fe);
    for (;;) {
        struct io_uring_cqe *cqe;
        log_flush(); /* this pass's lines, in one write, before its I/O goes out */
        int rc = ring_submit_and_wait_timeout(&fe->ring, &cqe, next_wait(fe));
        if (rc < 0 && rc != -ETIME && rc != -EINTR) {
            log_error("io_uring wait: %s", strerror(-rc));
            return 1;
        }
        unsigned head, n = 0;
        io_uring_for_each_cqe(&fe->ring.uring, head, cqe)
        {
            dispatch(fe, cqe);
            n++;
        }
        io_uring_cq_advance(&fe->ring.uring, n);
        fe_screen_tick(fe);
        expire_timers(fe);
        accept_resume(fe);
        fe_workers_arm(fe);
        fe_board_sync(fe);
        if (fe->retiring && !fe->stopping && timer_clock_ms() >= fe->retire_deadline) {
            log_info("retiring: %u connection(s) still held after %u s: closing them",
                     pool_in_use(&fe->conns), FE_RETIRE_MS / 1000u);
            fe->stopping = true;
            shutdown_all(fe);
        }
        stats_send(fe, false);
        if ((fe->retiring || fe->stopping) && pool_in_use(&fe->conns) == 0 &&
            (fe_workers_unacked(fe) == 0 || fe->stopping ||
             timer_clock_ms() >= fe->retire_deadline + FE_ACK_GRACE_MS)) {
            stats_send(fe, true);
            return 0;
        }
    }
}

int frontend_run(const struct frontend_args *a)
{
    static struct fe fe_state;
    struct fe *fe = &fe_state;
    log_init("mxscreen/postscreen", 1);
    fe->a = a;
    fe->conf = a->conf;
    fe->sigfd = -1;
    /* A restarted frontend starts from nothing (the master zeroed its slot). */
    fe_board_publish(a->board, a->index, 0, 0);
    for (size_t i = 0; i < FE_WORKERS; i++)
        fe->w[i].chan = -1;
    int rc = signals_open(fe);
    if (rc < 0) {
        log_error("signalfd: %s", strerror(-rc));
        return 1;
    }
    rc = ring_init(&fe->ring, FE_RING_ENTRIES, 0, RING_INIT_DEFER_TASKRUN);
    if (rc < 0) {
        log_error("io_uring: %s", strerror(-rc));
        return 1;
    }
    if (pool_init(&fe->conns, "connections", sizeof(struct fe_conn), fe->conf->pool_size) < 0 ||
        pool_init(&fe->dummies, "enforced sessions", sizeof(struct fe_dummy_state),
                  fe->conf->pool_size) < 0 ||
        pool_init(&fe->deeps, "deep test sessions", fe_deep_state_size(),
                  fe->conf->pool_size) < 0) {
        log_error("cannot reserve memory for %u connections", fe->conf->pool_size);
        return 1;
    }
    timer_wheel_init(&fe->tw, timer_clock_ms());
    fe_screen_open(fe); /* after fork: LMDB and c-ares are per process */
    log_info("frontend %u of %u started: generation %u, %zu listener(s), %u connection "
             "states of %zu bytes",
             a->index ? a->index : 1, a->count ? a->count : 1, a->gen_id, a->nl,
             fe->conf->pool_size, pool_bytes_per_object(&fe->conns));
    log_hold(1); /* see the file header */
    rc = loop(fe);
    log_hold(0);
    fe_workers_close(fe);
    fe_screen_close(fe);
    ring_exit(&fe->ring);
    pool_destroy(&fe->conns);
    pool_destroy(&fe->dummies);
    pool_destroy(&fe->deeps);
    close(fe->sigfd);
    return rc;
}
