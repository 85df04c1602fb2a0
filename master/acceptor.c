/*
 * acceptor.c - until the frontend exists, the master accepts connections
 * itself and hands each one, with a struct handoff (shm/handoff.h), to the
 * least-loaded live worker of the current generation.
 *
 * Load of a worker = sessions in its latest ack + handoffs sent to it and
 * not acked yet (postscreen's view of smtpd's backlog). A worker whose
 * load reached the capacity it announced is skipped; a channel that says
 * -EAGAIN (socket buffer full of unread handoffs) makes the acceptor try
 * the next one. If no worker can take the connection the client gets
 * "421 4.3.2 All server ports are busy" and is closed: never a silent drop.
 *
 * The record says what the acceptor knows: client and server address
 * (IPv4-mapped IPv6 normalised to AF_INET, as Postfix does), connect and
 * handoff time, a connection id; verdict UNSCREENED, peer status
 * UNCHECKED, banner NONE: the worker greets and does the lookups.
 *
 * Failure: accept(2) errors other than running out of descriptors are
 * logged and skipped; out of descriptors pauses accepting for 100 ms
 * (the listener would otherwise stay readable and spin the loop).
 */
#include "master_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"
#include "listen.h"
#include "log.h"

#define ACCEPT_BURST 64
#define ACK_BURST 256
static const char busy_reply[] = "421 4.3.2 All server ports are busy\r\n";

/* IPv4-mapped IPv6 -> AF_INET, in place. */
static void normalise(struct sockaddr_storage *ss)
{
    if (ss->ss_family != AF_INET6)
        return;
    struct sockaddr_in6 s6;
    memcpy(&s6, ss, sizeof(s6));
    if (!IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr)) {
        s6.sin6_flowinfo = 0;
        memcpy(ss, &s6, sizeof(s6));
        return;
    }
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = s6.sin6_port};
    memcpy(&s4.sin_addr, &s6.sin6_addr.s6_addr[12], 4);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, &s4, sizeof(s4));
}

/* Queue-id-like: seconds, microseconds and a counter in hex, unique for
 * this master ([0-9A-F] is within the record's [A-Za-z0-9]). */
static void make_id(struct master *m, const struct timespec *real, char *out, size_t len)
{
    snprintf(out, len, "%llX%05lX%04X", (unsigned long long)real->tv_sec,
             (unsigned long)(real->tv_nsec / 1000), (unsigned)(m->id_counter++ & 0xffff));
}

static uint64_t load_of(const struct mworker *w)
{
    return (uint64_t)w->sessions + (w->sent > w->acked ? w->sent - w->acked : 0);
}

/* The least-loaded worker not yet tried for seq, or SIZE_MAX. */
static size_t pick(struct master *m, uint64_t seq)
{
    size_t best = SIZE_MAX;
    uint64_t best_load = UINT64_MAX;
    for (size_t i = 0; i < m->nw; i++) {
        struct mworker *w = &m->w[i];
        if (w->state != MW_RUNNING || w->gen != m->cur || w->chan < 0 || w->tried == seq)
            continue;
        uint64_t l = load_of(w);
        if (w->capacity && l >= w->capacity)
            continue;
        if (l < best_load) {
            best = i;
            best_load = l;
        }
    }
    return best;
}

static void reject_busy(struct master *m, int fd, const struct handoff *h)
{
    char a[80];
    listen_format_sa((const struct sockaddr *)&h->client, a, sizeof(a));
    /* The socket is new and its buffer empty: a short reply never blocks;
     * MSG_DONTWAIT anyway, a client is never allowed to stall the master. */
    ssize_t n = send(fd, busy_reply, sizeof(busy_reply) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n;
    m->refused_busy++;
    log_info("NOQUEUE: reject: CONNECT from %s: all server ports are busy", a);
}

static void dispatch(struct master *m, int fd, struct handoff *h)
{
    for (;;) {
        size_t wi = pick(m, h->seq);
        if (wi == SIZE_MAX)
            break;
        struct mworker *w = &m->w[wi];
        w->tried = h->seq;
        clock_gettime(CLOCK_MONOTONIC, &h->handoff_mono);
        clock_gettime(CLOCK_REALTIME, &h->handoff_real);
        int r = handoff_send(w->chan, fd, h);
        if (r == 0) {
            w->sent++;
            m->handed++;
            close(fd);
            return;
        }
        if (r == -EPIPE || r == -ECONNRESET) {
            /* Dying: SIGCHLD will follow and restart it. */
            supervisor_close_chan(m, wi);
        } else if (r != -EAGAIN) {
            log_warn("handoff to worker %u pid %ld: %s", w->index, (long)w->pid, strerror(-r));
        }
    }
    reject_busy(m, fd, h);
    close(fd);
}

void acceptor_ready(struct master *m, int lfd)
{
    static struct handoff h; /* 6 KB; one at a time, the loop is single-threaded */
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        /* Blocking socket: the worker picks its own mode. */
        int fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            log_warn("accept: %s", strerror(e));
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
                m->accept_pause_until_ms = master_now_ms() + 100;
            return;
        }
        m->accepted++;
        memset(&h, 0, offsetof(struct handoff, preread));
        clock_gettime(CLOCK_MONOTONIC, &h.connect_mono);
        clock_gettime(CLOCK_REALTIME, &h.connect_real);
        h.seq = ++m->seq;
        memcpy(&h.client, &peer, plen <= sizeof(peer) ? plen : sizeof(peer));
        socklen_t slen = sizeof(h.server);
        if (getsockname(fd, (struct sockaddr *)&h.server, &slen) < 0) {
            log_warn("getsockname: %s", strerror(errno));
            close(fd);
            continue;
        }
        normalise(&h.client);
        normalise(&h.server);
        h.verdict = HANDOFF_VERDICT_UNSCREENED;
        h.name_status = h.reverse_status = HANDOFF_PEER_UNCHECKED;
        h.banner = HANDOFF_BANNER_NONE;
        h.helo_cmd = HANDOFF_HELO_NONE;
        make_id(m, &h.connect_real, h.conn_id, sizeof(h.conn_id));
        if (m->stopping) {
            reject_busy(m, fd, &h);
            close(fd);
            continue;
        }
        dispatch(m, fd, &h);
    }
}

void acceptor_acks(struct master *m, size_t wi)
{
    struct mworker *w = &m->w[wi];
    for (int i = 0; i < ACK_BURST && w->chan >= 0; i++) {
        struct handoff_ack a;
        int r = handoff_ack_recv(w->chan, &a);
        if (r == -EAGAIN)
            return;
        if (r == -ECONNRESET) {
            supervisor_close_chan(m, wi);
            return;
        }
        if (r < 0) {
            log_warn("worker %u pid %ld: bad ack: %s", w->index, (long)w->pid, strerror(-r));
            continue;
        }
        if (a.kind == HANDOFF_ACK_ACCEPTED || a.kind == HANDOFF_ACK_REFUSED)
            w->acked++;
        if (a.kind == HANDOFF_ACK_REFUSED)
            m->refused_worker++;
        w->sessions = a.sessions;
        w->capacity = a.capacity;
    }
}
