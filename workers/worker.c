/*
 * worker.c - the worker's event loop: one io_uring ring, the handoff
 * channel, signals, timers and DNS, dispatching completions to client
 * connections (conn.c) and next-hop connections (upstream.c).
 *
 * The loop: submit what is queued, wait for a completion or the nearest
 * deadline (timer wheel, c-ares), handle every completion, expire timers.
 * A completion whose object was freed and reused meanwhile is dropped by
 * its generation (ring.h); requests still in flight keep their object
 * alive (worker_int.h).
 *
 * Output is handed to the kernel at the end of each batch of completions
 * (conn_flush_queued, upstream_flush_queued): what several events of one
 * batch produce for one socket leaves in one send.
 *
 * Channels: one per frontend process (worker.h); a receive is armed on
 * each. Acks: every handoff is acked at once on its own channel (its
 * frontend counts them); a session's end is reported by the next ack,
 * and to every frontend by a LOAD ack after
 * WORKER_LOAD_ACK_MS (at once while the worker is half full or more, so
 * that the acceptor's capacity and stress decisions never lag there).
 *
 * Stopping: SIGTERM stops taking handoffs; transactions in progress get up
 * to WORKER_DRAIN_MS; then every session left gets 421 and is closed.
 * SIGUSR1 (retire) stops taking handoffs and waits for sessions to end.
 * Both exit once no session is left.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maps_lmdb.h"
#include "worker.h"
#include "worker_int.h"
#include "util.h"

#define WORKER_RING_ENTRIES 1024
#define WORKER_DRAIN_GRACE_MS 3000u
/* A load report waits this long for an ACCEPTED ack to carry it instead. */
#define WORKER_LOAD_ACK_MS 10u

uint64_t worker_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* An SQE, submitting what is queued when the submission queue is full. */
struct io_uring_sqe *worker_sqe(struct worker *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring.uring);
    while (!sqe) {
        log_flush(); /* what goes out now may be a reply: its lines first (as fe_sqe) */
        io_uring_submit(&w->ring.uring);
        sqe = io_uring_get_sqe(&w->ring.uring);
    }
    return sqe;
}

/* ---- acks to the acceptor ---- */

/* Acks go out as io_uring sends, submitted with the loop pass's other I/O:
 * one system call less per connection than a sendmsg each (bench/relay/
 * README.md). An ack needs its bytes until its completion, so each has a
 * buffer of its own; with all of them in flight (a frontend that stopped
 * reading) the ack is sent at once, as before. */
#define WORKER_ACK_SLOTS 64u
static struct {
    unsigned char buf[HANDOFF_ACK_LEN];
    bool busy, load;
} ack_slot[WORKER_ACK_SLOTS]; /* one process, one thread */

static int ack_queue(struct worker *w, unsigned k, const struct handoff_ack *a)
{
    for (unsigned s = 0; s < WORKER_ACK_SLOTS; s++) {
        if (ack_slot[s].busy)
            continue;
        int rc = handoff_ack_encode(a, ack_slot[s].buf);
        if (rc < 0)
            return rc;
        struct io_uring_sqe *sqe = worker_sqe(w);
        io_uring_prep_send(sqe, w->args->chans[k], ack_slot[s].buf, HANDOFF_ACK_LEN,
                           MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, ring_ud(OP_CHAN_ACK, k, s));
        ack_slot[s].busy = true;
        ack_slot[s].load = a->kind == HANDOFF_ACK_LOAD;
        return 0;
    }
    return handoff_ack_send(w->args->chans[k], a);
}

static void ack_done(struct worker *w, unsigned k, unsigned s, int res)
{
    if (s >= WORKER_ACK_SLOTS || k >= w->nchan)
        return;
    ack_slot[s].busy = false;
    if (res == HANDOFF_ACK_LEN || res == -EAGAIN || res == -EINTR) {
        if (res != HANDOFF_ACK_LEN && ack_slot[s].load) {
            w->load_dirty = true; /* sent again by the loop */
            w->load_due = 0;
        }
        return;
    }
    if (!w->chan[k].dead)
        log_warn("handoff channel: cannot send ack: %s",
                 strerror(res < 0 ? -res : EMSGSIZE));
    w->chan[k].dead = true;
}

/* On channel k, or (LOAD) on every channel. */
static void send_ack(struct worker *w, unsigned k, enum handoff_ack_kind kind, uint64_t seq)
{
    struct handoff_ack a = {.kind = kind,
                            .seq = kind == HANDOFF_ACK_LOAD ? 0 : seq,
                            .sessions = w->sessions,
                            .capacity = w->capacity};
    if (kind == HANDOFF_ACK_ACCEPTED && a.sessions == 0)
        a.sessions = 1;
    bool sent = false;
    for (unsigned i = 0; i < w->nchan; i++) {
        if ((kind != HANDOFF_ACK_LOAD && i != k) || w->chan[i].dead)
            continue;
        int rc = ack_queue(w, i, &a);
        if (rc < 0 && rc != -EAGAIN) {
            log_warn("handoff channel: cannot send ack: %s", strerror(-rc));
            w->chan[i].dead = true;
        }
        sent |= rc >= 0;
    }
    /* The frontends learn the count from a LOAD ack; an ACCEPTED one tells
     * only its own frontend, so the others still get the LOAD ack. */
    if (sent && (kind == HANDOFF_ACK_LOAD || w->nchan == 1))
        w->load_dirty = false;
}

void worker_session_ended(struct worker *w)
{
    if (w->sessions > 0)
        w->sessions--;
    if (!w->load_dirty)
        w->load_due = timer_clock_ms() + WORKER_LOAD_ACK_MS;
    if (w->stopping || w->retiring || (uint64_t)w->sessions * 2 + 2 >= w->capacity)
        w->load_due = 0; /* near the acceptor's thresholds: no lag */
    w->load_dirty = true;
}

/* ---- handoff channel ---- */

static void chan_arm(struct worker *w, unsigned k)
{
    struct worker_chan *ch = &w->chan[k];
    if (ch->armed || ch->dead || w->stopping || w->retiring)
        return;
    handoff_recv_prepare(&ch->rx);
    struct io_uring_sqe *sqe = worker_sqe(w);
    io_uring_prep_recvmsg(sqe, w->args->chans[k], &ch->rx.msg, MSG_CMSG_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ring_ud(OP_CHAN_RECV, k, 0));
    ch->armed = true;
}

static void chan_event(struct worker *w, unsigned k, int res)
{
    struct handoff h;
    int fd = -1;
    if (k >= w->nchan)
        return;
    struct worker_chan *ch = &w->chan[k];
    ch->armed = false;
    int rc = handoff_recv_finish_accepted(&ch->rx, res, &fd, &h); /* from our frontend */
    if (rc == -ECONNRESET) {
        /* The master holds every channel: one ending means it is gone. */
        if (!w->stopping)
            log_info("handoff channel closed: stopping");
        ch->dead = true;
        w->stopping = true;
        w->drain_deadline = timer_clock_ms() + WORKER_DRAIN_MS;
        return;
    }
    if (rc < 0) {
        if (rc != -EAGAIN && rc != -EINTR)
            log_warn("handoff channel: %s", strerror(-rc));
        chan_arm(w, k);
        return;
    }
    if (w->stopping || w->retiring || w->sessions >= w->capacity) {
        static const char busy[] = "421 4.3.2 Service shutting down\r\n";
        if (!w->stopping && !w->retiring)
            log_warn("too many sessions (%u): refusing connection from [%s]", w->sessions,
                     h.conn_id);
        (void)!write(fd, busy, sizeof(busy) - 1);
        close(fd);
        send_ack(w, k, HANDOFF_ACK_REFUSED, h.seq);
    } else {
        w->sessions++;
        send_ack(w, k, HANDOFF_ACK_ACCEPTED, h.seq);
        if (w->nchan > 1) {
            /* The other frontends' view of our load is one session short:
             * a LOAD ack tells them, as when a session ends. */
            if (!w->load_dirty)
                w->load_due = timer_clock_ms() + WORKER_LOAD_ACK_MS;
            if ((uint64_t)w->sessions * 2 + 2 >= w->capacity)
                w->load_due = 0;
            w->load_dirty = true;
        }
        conn_start(w, fd, &h);
    }
    chan_arm(w, k);
}

/* ---- signals ---- */

static int signals_open(struct worker *w)
{
    int fd = daemon_signalfd();
    w->sigfd = fd < 0 ? -1 : fd;
    return fd < 0 ? fd : 0;
}

static void signal_arm(struct worker *w)
{
    struct io_uring_sqe *sqe = worker_sqe(w);
    io_uring_prep_read(sqe, w->sigfd, w->sigbuf, sizeof(struct signalfd_siginfo), 0);
    io_uring_sqe_set_data64(sqe, ring_ud(OP_SIGNAL, 0, 0));
}

static void signal_event(struct worker *w, int res)
{
    if (res == (int)sizeof(struct signalfd_siginfo)) {
        struct signalfd_siginfo si;
        memcpy(&si, w->sigbuf, sizeof(si));
        if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !w->stopping) {
            log_info("stopping: %u session(s) open", w->sessions);
            w->stopping = true;
            w->drain_deadline = timer_clock_ms() + WORKER_DRAIN_MS;
        } else if (si.ssi_signo == SIGUSR1 && !w->retiring) {
            log_info("retiring: a new generation took over; %u session(s) open", w->sessions);
            w->retiring = true;
        }
    }
    signal_arm(w);
}

/* ---- timers ---- */

static void expire_timers(struct worker *w)
{
    uint64_t now = timer_clock_ms();
    struct timer_node *n;
    while ((n = timer_wheel_expire(&w->tw, now)) != NULL) {
        struct worker_timer *t = TIMER_OWNER(n, struct worker_timer, node);
        if (t->kind == WT_CONN)
            conn_timer(w, TIMER_OWNER(t, struct conn, timer));
        else
            upstream_timer(w, TIMER_OWNER(t, struct upstream, timer));
    }
}

/* SIGTERM: when the drain time is over, every session still open is told. */
static void drain_check(struct worker *w)
{
    uint64_t now = timer_clock_ms();
    if (!w->stopping || now < w->drain_deadline)
        return;
    /* A client that does not even read its last replies is cut after a
     * few more seconds. */
    bool force = now >= w->drain_deadline + WORKER_DRAIN_GRACE_MS;
    for (uint32_t i = 0; i < w->conns.capacity; i++) {
        struct conn *c = pool_lookup(&w->conns, i, w->conns.gen[i]);
        if (c && c->phase != CONN_CLOSING)
            conn_stop(c, force);
    }
}

/* A stopping worker also ends sessions that sit idle between
 * transactions: nothing is lost, the client may come back. */
static void drain_idle(struct worker *w)
{
    if (!w->stopping)
        return;
    for (uint32_t i = 0; i < w->conns.capacity; i++) {
        struct conn *c = pool_lookup(&w->conns, i, w->conns.gen[i]);
        if (c && c->phase == CONN_SMTP && !conn_in_transaction(c))
            conn_stop(c, false);
    }
}

/* ---- dispatch ---- */

static void dispatch(struct worker *w, const struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    if (ring_ud_is_internal(ud))
        return;
    unsigned op = ring_ud_op(ud);
    switch (op) {
    case OP_CHAN_RECV:
        chan_event(w, ring_ud_index(ud), cqe->res);
        return;
    case OP_SIGNAL:
        signal_event(w, cqe->res);
        return;
    case OP_CHAN_ACK:
        ack_done(w, ring_ud_index(ud), ring_ud_gen(ud), cqe->res);
        return;
    case OP_DNS_POLL:
        worker_dns_event(w, ring_ud_index(ud), ring_ud_gen(ud), cqe->res);
        return;
    case OP_CONN_RECV:
    case OP_CONN_SEND:
    case OP_CONN_NOP:
    case OP_CONN_SPOOL: {
        /* In-flight requests hold the object: look it up by index, then
         * check the generation against the life the request began in. */
        struct conn *c = pool_lookup(&w->conns, ring_ud_index(ud), ring_ud_gen(ud));
        if (c)
            conn_event(w, c, op, cqe->res);
        return;
    }
    case OP_UP_CONNECT:
    case OP_UP_RECV:
    case OP_UP_SEND:
    case OP_UP_NOP: {
        struct upstream *u = pool_lookup(&w->ups, ring_ud_index(ud), ring_ud_gen(ud));
        if (u)
            upstream_event(w, u, op, cqe->res);
        return;
    }
    case OP_SPOOL_DIRSYNC:
        spool_dirsync_done(w, ring_ud_index(ud), cqe->res);
        return;
    default:
        return;
    }
}

/* Also runs the LMDB tables' refresh when it is due (maps_lmdb.h): a
 * table this worker never looks up would keep a rebuilt file's old inode
 * mapped, and an idle worker must wake for it. */
static int64_t next_wait_ms(struct worker *w)
{
    uint64_t now0 = timer_clock_ms();
    int64_t t = map_lmdb_refresh_wait((int64_t)now0, timer_wheel_next_ms(&w->tw, now0));
    int d = w->dns ? dns_next_timeout_ms(w->dns) : -1;
    if (d >= 0 && (t < 0 || d < t))
        t = d;
    if (w->stopping) {
        uint64_t now = timer_clock_ms();
        int64_t left = w->drain_deadline > now ? (int64_t)(w->drain_deadline - now) : 0;
        if (t < 0 || left < t)
            t = left;
        if (t > 200)
            t = 200;
    }
    if (w->load_dirty) {
        uint64_t now = timer_clock_ms();
        int64_t left = w->load_due > now ? (int64_t)(w->load_due - now) : 0;
        if (t < 0 || left < t)
            t = left;
    }
    return t;
}

static int loop(struct worker *w)
{
    for (unsigned k = 0; k < w->nchan; k++)
        chan_arm(w, k);
    signal_arm(w);
    for (;;) {
        struct io_uring_cqe *cqe;
        log_flush(); /* this pass's lines, in one write, before its replies go out */
        int rc = ring_submit_and_wait_timeout(&w->ring, &cqe, next_wait_ms(w));
        if (rc < 0 && rc != -ETIME && rc != -EINTR) {
            log_error("io_uring wait: %s", strerror(-rc));
            return 1;
        }
        unsigned head, n = 0;
        io_uring_for_each_cqe(&w->ring.uring, head, cqe)
        {
            dispatch(w, cqe);
            n++;
        }
        io_uring_cq_advance(&w->ring.uring, n);
        /* Only when something is due: dns_timeout() scans every slot. */
        if (w->dns && dns_next_timeout_ms(w->dns) == 0)
            dns_timeout(w->dns);
        expire_timers(w);
        if (w->load_dirty && timer_clock_ms() >= w->load_due) {
            w->load_dirty = false;
            send_ack(w, 0, HANDOFF_ACK_LOAD, 0);
        }
        drain_idle(w);
        drain_check(w);
        /* Flushing a connection may queue its next hop, and the reverse
         * cannot happen, so this ends. */
        while (w->n_conn_flushq || w->n_up_flushq) {
            conn_flush_queued(w);
            upstream_flush_queued(w);
        }
        if ((w->stopping || w->retiring) && w->sessions == 0 && pool_in_use(&w->conns) == 0)
            return 0;
    }
}

int worker_run(const struct worker_args *a)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (!w)
        return 1;
    log_init("mxscreen/smtpd", 1); /* the master's sink stays (log.h) */
    w->args = a;
    w->gen = a->gen;
    w->capacity = a->capacity ? a->capacity : WORKER_CAPACITY;
    w->sigfd = -1;
    w->nchan = a->nchan ? a->nchan : 1;
    w->chan = calloc(w->nchan, sizeof(*w->chan));
    if (!w->chan)
        return 1;
    int rc = signals_open(w);
    if (rc < 0) {
        log_error("signalfd: %s", strerror(-rc));
        return 1;
    }
    rc = ring_init(&w->ring, WORKER_RING_ENTRIES, 0, RING_INIT_DEFER_TASKRUN);
    if (rc < 0) {
        log_error("io_uring: %s", strerror(-rc));
        return 1;
    }
    w->conn_flushq = calloc(2 * (size_t)w->capacity, sizeof(*w->conn_flushq));
    w->up_flushq = calloc(w->capacity, sizeof(*w->up_flushq));
    if (!w->conn_flushq || !w->up_flushq ||
        pool_init(&w->conns, "sessions", sizeof(struct conn), w->capacity) < 0 ||
        pool_init(&w->ups, "next-hop connections", sizeof(struct upstream), w->capacity) < 0) {
        log_error("cannot reserve memory for %u sessions", w->capacity);
        return 1;
    }
    timer_wheel_init(&w->tw, timer_clock_ms());
    rc = worker_dns_open(w);
    if (rc < 0) {
        log_error("DNS resolver: %s", strerror(-rc));
        return 1;
    }
    spool_worker_init(w);
    log_info("worker %u started: generation %u, capacity %u", a->index, w->gen->id,
             w->capacity);
    send_ack(w, 0, HANDOFF_ACK_LOAD, 0); /* capacity known before the first handoff */
    log_hold(1);
    rc = loop(w);
    log_hold(0);
    io_uring_submit(&w->ring.uring); /* the last acks queued */
    upstream_close_idle(w);
    spool_worker_close(w);
    worker_dns_close(w);
    ring_exit(&w->ring);
    pool_destroy(&w->conns);
    pool_destroy(&w->ups);
    close(w->sigfd);
    free(w->conn_flushq);
    free(w->up_flushq);
    free(w->chan);
    free(w);
    return rc;
}
