/*
 * fe_workers.c - the frontend's side of the worker channels: the table of
 * workers the master announced (ADD/DEL, fe_ctl.h), the least-loaded
 * choice, the handoff itself and the acks.
 *
 * Load of a worker = sessions in its latest ack + handoffs sent and not
 * yet acked (postscreen's view of smtpd's backlog). A worker whose load
 * reached its announced capacity is skipped, and so is one whose unacked
 * backlog reached FE_BACKLOG_MAX: it has fallen behind. A channel that
 * says -EAGAIN (its socket buffer full of unread handoffs) makes us try
 * the next. When nobody can take a connection, fe_workers_handoff() says
 * -EAGAIN and the caller holds the client (fe_conn.c); from then on the
 * client counts in the post-queue (fe_limits.h), as do the handoffs not
 * yet acked. Every client, an allowlisted one too, met the connect-time
 * check of postscreen_post_queue_limit before (fe_screen.c).
 *
 * Acks are read with recvmmsg, up to FE_ACK_BATCH per call: one system
 * call per ack in the usual case (bench/storm/README.md).
 *
 * Failure: a channel that ends (the worker died) is dropped; the master
 * restarts the worker and sends a new ADD.
 */
#include "fe_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fe_early.h"
#include "log.h"

#define FE_BACKLOG_MAX 64u
#define FE_ACK_BURST 256

static void drop(struct fe *fe, struct fe_worker *w)
{
    (void)fe;
    if (w->chan >= 0)
        close(w->chan);
    /* The poll in flight, if any, completes with an error for the closed
     * descriptor or is ignored by its stale generation. */
    w->chan = -1;
    w->used = false;
    w->poll = false;
    w->gen++;
}

void fe_workers_ctl(struct fe *fe, const struct fe_ctl_msg *m, int fd)
{
    struct fe_worker *w = NULL, *free_w = NULL;
    for (size_t i = 0; i < FE_WORKERS; i++) {
        if (fe->w[i].used && fe->w[i].slot == m->slot)
            w = &fe->w[i];
        else if (!fe->w[i].used && !free_w)
            free_w = &fe->w[i];
    }
    if (m->kind == FE_CTL_DEL) {
        if (w && w->pid == m->pid)
            drop(fe, w);
        return;
    }
    if (m->kind != FE_CTL_ADD)
        return;
    if (w)
        drop(fe, w); /* a restart: the old channel is gone */
    else
        w = free_w;
    if (!w) {
        log_warn("more than %u worker channels: worker pid %u not used", FE_WORKERS, m->pid);
        close(fd);
        return;
    }
    uint32_t gen = w->gen;
    memset(w, 0, sizeof(*w));
    w->gen = gen + 1;
    w->used = true;
    w->slot = m->slot;
    w->pid = m->pid;
    w->index = m->index;
    w->chan = fd;
    fe_stats_changed(fe);
}

/* One ack: false when the channel ended (dropped). */
static bool ack_one(struct fe *fe, struct fe_worker *w, int r, const struct handoff_ack *a)
{
    if (r == -ECONNRESET) {
        drop(fe, w);
        fe_stats_changed(fe);
        return false;
    }
    if (r < 0) {
        log_warn("worker %u pid %u: bad ack: %s", w->index, w->pid, strerror(-r));
        return true;
    }
    /* An ack for a handoff of an earlier frontend (restarted) is not ours. */
    if ((a->kind == HANDOFF_ACK_ACCEPTED || a->kind == HANDOFF_ACK_REFUSED) && w->acked < w->sent)
        w->acked++;
    if (a->kind == HANDOFF_ACK_REFUSED)
        fe->st.refused_worker++;
    w->sessions = a->sessions;
    w->capacity = a->capacity;
    fe_stats_changed(fe);
    return true;
}

/* The poll said readable: read what is queued with recvmmsg, FE_ACK_BATCH
 * at a time. A batch that comes back short means the queue is empty, so
 * the usual single ack costs one system call, not a recvmsg and then a
 * recvmsg that says EAGAIN. */
#define FE_ACK_BATCH 16
static struct handoff_rxbuf ack_rx[FE_ACK_BATCH]; /* one process, one thread */

static void acks(struct fe *fe, struct fe_worker *w)
{
    for (int done = 0; done < FE_ACK_BURST && w->chan >= 0;) {
        struct mmsghdr v[FE_ACK_BATCH];
        for (int i = 0; i < FE_ACK_BATCH; i++) {
            handoff_recv_prepare(&ack_rx[i]);
            v[i].msg_hdr = ack_rx[i].msg;
            v[i].msg_len = 0;
        }
        int n = recvmmsg(w->chan, v, FE_ACK_BATCH, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, NULL);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (e != EAGAIN) { /* ECONNRESET drops the channel, others are logged */
                struct handoff_ack none = {0};
                (void)ack_one(fe, w, -e, &none);
            }
            return;
        }
        for (int i = 0; i < n; i++) {
            /* The kernel filled in v[i]'s copy of the header (flags,
             * control length): what the finish step checks. */
            ack_rx[i].msg = v[i].msg_hdr;
            struct handoff_ack a;
            int r = handoff_ack_recv_finish(&ack_rx[i], (int)v[i].msg_len, &a);
            if (!ack_one(fe, w, r, &a))
                return;
        }
        done += n;
        if (n < FE_ACK_BATCH)
            return;
    }
}

void fe_workers_event(struct fe *fe, uint32_t slot, uint32_t gen, int res)
{
    if (slot >= FE_WORKERS)
        return;
    struct fe_worker *w = &fe->w[slot];
    if (!w->used || w->gen != gen)
        return;
    w->poll = false;
    (void)res;
    acks(fe, w);
    fe_board_sync(fe); /* fewer unacked: once for the whole batch */
}

void fe_workers_arm(struct fe *fe)
{
    for (uint32_t i = 0; i < FE_WORKERS; i++) {
        struct fe_worker *w = &fe->w[i];
        if (!w->used || w->poll || w->chan < 0)
            continue;
        struct io_uring_sqe *sqe = fe_sqe(fe);
        io_uring_prep_poll_add(sqe, w->chan, POLLIN);
        io_uring_sqe_set_data64(sqe, ring_ud(FE_OP_CHAN, i, w->gen));
        w->poll = true;
    }
}

static uint64_t load_of(const struct fe_worker *w)
{
    return (uint64_t)w->sessions + (w->sent > w->acked ? w->sent - w->acked : 0);
}

static struct fe_worker *pick(struct fe *fe, uint64_t seq)
{
    struct fe_worker *best = NULL;
    uint64_t best_load = UINT64_MAX;
    for (size_t i = 0; i < FE_WORKERS; i++) {
        struct fe_worker *w = &fe->w[i];
        if (!w->used || w->chan < 0 || w->tried == seq)
            continue;
        uint64_t l = load_of(w);
        if (w->capacity && l >= w->capacity)
            continue;
        if (w->sent > w->acked && w->sent - w->acked >= FE_BACKLOG_MAX)
            continue; /* fallen behind: its acks do not keep up */
        if (l < best_load) {
            best = w;
            best_load = l;
        }
    }
    return best;
}

static void ep_to_ss(const struct fe_ep *e, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (e->family == AF_INET) {
        struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(e->port)};
        memcpy(&s4.sin_addr, e->addr, 4);
        memcpy(ss, &s4, sizeof(s4));
    } else {
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(e->port),
                                  .sin6_scope_id = e->scope};
        memcpy(&s6.sin6_addr, e->addr, 16);
        memcpy(ss, &s6, sizeof(s6));
    }
}

int fe_workers_handoff(struct fe *fe, struct fe_conn *c)
{
    static struct handoff h; /* 6 KB: one at a time */
    memset(&h, 0, offsetof(struct handoff, preread));
    h.seq = c->seq = ++fe->seq;
    ep_to_ss(&c->client, &h.client);
    ep_to_ss(&c->server, &h.server);
    h.connect_mono = c->connect_mono;
    h.connect_real = c->connect_real;
    h.name_status = h.reverse_status = HANDOFF_PEER_UNCHECKED;
    fe_early_fill(c, &h); /* the PTR lookup's result, when the frontend made it */
    h.helo_cmd = HANDOFF_HELO_NONE;
    h.banner = (c->flags & FE_F_TEASER) ? HANDOFF_BANNER_CONT : HANDOFF_BANNER_NONE;
    h.verdict = (c->flags & FE_F_ALLOWED)        ? HANDOFF_VERDICT_ALLOWLISTED
                : (c->sflags & FE_SF_PASS_OLD) ? HANDOFF_VERDICT_PASS_OLD
                                               : HANDOFF_VERDICT_PASS_NEW;
    h.dnsbl_score = (c->tests_done & HANDOFF_TEST_DNSBL) ? c->dnsbl_score : 0;
    h.error_count = c->errors;
    h.tests_done = c->tests_done;
    h.tests_failed = c->tests_failed;
    if (fe->stress)
        h.flags |= HANDOFF_F_STRESS;
    fe_deep_fill(c, &h); /* after the deep tests: HELO answered, preread */
    fe_dummy_fill(c, &h); /* RCPT TO:<postmaster> in the enforce engine */
    snprintf(h.conn_id, sizeof(h.conn_id), "%s", c->id);
    for (;;) {
        struct fe_worker *w = pick(fe, h.seq);
        if (!w) {
            fe_queues_hold(&fe->q, &c->qflags); /* held, or closed: counted till then */
            fe_board_sync(fe);
            return -EAGAIN;
        }
        w->tried = h.seq;
        clock_gettime(CLOCK_MONOTONIC, &h.handoff_mono);
        clock_gettime(CLOCK_REALTIME, &h.handoff_real);
        log_flush(); /* the worker greets the client at once: our lines first */
        int r = handoff_send(w->chan, c->fd, &h);
        if (r == 0) {
            w->sent++;
            fe_board_sync(fe);
            fe->st.handed++;
            fe_stats_changed(fe);
            return 0;
        }
        if (r == -EPIPE || r == -ECONNRESET) {
            drop(fe, w);
        } else if (r != -EAGAIN) {
            log_warn("handoff to worker %u pid %u: %s (record %s)", w->index, w->pid,
                     strerror(-r), handoff_strerror(handoff_check(&h)));
            if (r == -EINVAL)
                return -EINVAL;
        }
    }
}

void fe_workers_fill_stats(const struct fe *fe, struct fe_ctl_msg *m)
{
    m->nworkers = 0;
    for (size_t i = 0; i < FE_WORKERS; i++) {
        const struct fe_worker *w = &fe->w[i];
        if (!w->used)
            continue;
        struct fe_ctl_worker *o = &m->w[m->nworkers++];
        o->slot = w->slot;
        o->pid = w->pid;
        o->capacity = w->capacity;
        o->sessions = w->sessions > w->capacity ? w->capacity : w->sessions;
        o->pending = (uint32_t)(w->sent > w->acked ? w->sent - w->acked : 0);
    }
}

uint64_t fe_workers_unacked(const struct fe *fe)
{
    uint64_t n = 0;
    for (size_t i = 0; i < FE_WORKERS; i++)
        if (fe->w[i].used && fe->w[i].chan >= 0 && fe->w[i].sent > fe->w[i].acked)
            n += fe->w[i].sent - fe->w[i].acked;
    return n;
}

void fe_workers_close(struct fe *fe)
{
    for (size_t i = 0; i < FE_WORKERS; i++)
        if (fe->w[i].used)
            drop(fe, &fe->w[i]);
}
