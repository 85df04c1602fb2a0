/*
 * dns_ring.c - c-ares sockets watched through an io_uring (dns_ring.h).
 */
#include "dns_ring.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <string.h>

#include "dns.h"
#include "log.h"
#include "ring.h"

void dns_ring_init(struct dns_ring *r, struct io_uring_sqe *(*sqe)(void *owner), void *owner,
                   unsigned op_poll, unsigned op_ignore)
{
    memset(r, 0, sizeof(*r));
    r->sqe = sqe;
    r->owner = owner;
    r->op_poll = op_poll;
    r->op_ignore = op_ignore;
    for (uint32_t i = 0; i < DNS_RING_SOCKS; i++)
        r->socks[i].fd = -1;
}

static void poll_arm(struct dns_ring *r, uint32_t slot)
{
    struct dns_ring_sock *d = &r->socks[slot];
    if (d->armed || d->fd < 0 || !d->events)
        return;
    struct io_uring_sqe *sqe = r->sqe(r->owner);
    io_uring_prep_poll_add(sqe, d->fd, (unsigned)d->events);
    io_uring_sqe_set_data64(sqe, ring_ud(r->op_poll, slot, d->gen));
    d->armed = true;
}

/* Cancel the slot's poll (its current generation), then move to the next. */
static void poll_retire(struct dns_ring *r, uint32_t slot)
{
    struct dns_ring_sock *d = &r->socks[slot];
    if (d->armed) {
        struct io_uring_sqe *sqe = r->sqe(r->owner);
        io_uring_prep_poll_remove(sqe, ring_ud(r->op_poll, slot, d->gen));
        io_uring_sqe_set_data64(sqe, ring_ud(r->op_ignore, 0, 0));
        d->armed = false;
    }
    d->gen++;
}

void dns_ring_sock_cb(void *arg, int fd, int want_read, int want_write)
{
    struct dns_ring *r = arg;
    short ev = (short)((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0));
    uint32_t free_slot = DNS_RING_SOCKS;
    for (uint32_t i = 0; i < DNS_RING_SOCKS; i++) {
        struct dns_ring_sock *d = &r->socks[i];
        if (d->fd == fd) {
            if (ev == d->events)
                return;
            poll_retire(r, i);
            d->events = ev;
            if (!ev)
                d->fd = -1;
            else
                poll_arm(r, i);
            return;
        }
        if (d->fd < 0 && free_slot == DNS_RING_SOCKS)
            free_slot = i;
    }
    if (!ev)
        return;
    if (free_slot == DNS_RING_SOCKS) {
        log_warn("DNS: more than %d resolver sockets; fd %d not watched", DNS_RING_SOCKS, fd);
        return;
    }
    struct dns_ring_sock *d = &r->socks[free_slot];
    d->fd = fd;
    d->events = ev;
    d->armed = false;
    d->gen++;
    poll_arm(r, free_slot);
}

void dns_ring_event(struct dns_ring *r, struct dns_ctx *dns, uint32_t slot, uint32_t gen, int res)
{
    if (!dns || slot >= DNS_RING_SOCKS)
        return;
    struct dns_ring_sock *d = &r->socks[slot];
    if (d->gen != gen || d->fd < 0)
        return;
    d->armed = false;
    if (res == -ECANCELED)
        return;
    int fd = d->fd;
    int readable = res > 0 && (res & (POLLIN | POLLERR | POLLHUP));
    int writable = res > 0 && (res & POLLOUT);
    if (res < 0)
        readable = 1; /* let c-ares see the error on the socket */
    dns_process(dns, fd, readable, writable);
    /* c-ares may have closed it or changed its wishes meanwhile. */
    if (d->fd == fd && d->gen == gen)
        poll_arm(r, slot);
}
