/*
 * worker_dns.c - c-ares sockets watched through the worker's ring.
 *
 * c-ares says which sockets it wants watched (dns_opts.sock_cb); each gets
 * a slot with a one-shot IORING_OP_POLL_ADD, re-armed after dns_process()
 * as long as c-ares still wants the socket. A poll completion that arrives
 * for a slot reused meanwhile carries an older generation and is dropped.
 * The resolver is dns_resolver (empty: /etc/resolv.conf); tests point it at
 * a dnsmasq on loopback.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "worker_int.h"

static void poll_arm(struct worker *w, uint32_t slot)
{
    struct worker_dns_sock *d = &w->dns_socks[slot];
    if (d->armed || d->fd < 0 || !d->events)
        return;
    struct io_uring_sqe *sqe = worker_sqe(w);
    io_uring_prep_poll_add(sqe, d->fd, (unsigned)d->events);
    io_uring_sqe_set_data64(sqe, ring_ud(OP_DNS_POLL, slot, d->gen));
    d->armed = true;
}

static void poll_cancel(struct worker *w, uint32_t slot)
{
    struct worker_dns_sock *d = &w->dns_socks[slot];
    if (!d->armed)
        return;
    struct io_uring_sqe *sqe = worker_sqe(w);
    io_uring_prep_poll_remove(sqe, ring_ud(OP_DNS_POLL, slot, d->gen));
    io_uring_sqe_set_data64(sqe, ring_ud(OP_IGNORE, 0, 0));
}

static void on_sock(void *arg, int fd, int want_read, int want_write)
{
    struct worker *w = arg;
    short ev = (short)((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0));
    uint32_t free_slot = WORKER_DNS_SOCKS;
    for (uint32_t i = 0; i < WORKER_DNS_SOCKS; i++) {
        struct worker_dns_sock *d = &w->dns_socks[i];
        if (d->fd == fd) {
            if (!ev) {
                poll_cancel(w, i);
                d->fd = -1;
                d->events = 0;
                d->armed = false;
                d->gen++;
            } else if (ev != d->events) {
                poll_cancel(w, i);
                d->armed = false;
                d->gen++;
                d->events = ev;
                poll_arm(w, i);
            }
            return;
        }
        if (d->fd < 0 && free_slot == WORKER_DNS_SOCKS)
            free_slot = i;
    }
    if (!ev)
        return;
    if (free_slot == WORKER_DNS_SOCKS) {
        log_warn("DNS: more than %d resolver sockets; fd %d not watched", WORKER_DNS_SOCKS, fd);
        return;
    }
    struct worker_dns_sock *d = &w->dns_socks[free_slot];
    d->fd = fd;
    d->events = ev;
    d->armed = false;
    d->gen++;
    poll_arm(w, free_slot);
}

void worker_dns_event(struct worker *w, uint32_t slot, uint32_t gen, int res)
{
    if (slot >= WORKER_DNS_SOCKS)
        return;
    struct worker_dns_sock *d = &w->dns_socks[slot];
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
    dns_process(w->dns, fd, readable, writable);
    /* c-ares may have closed it or changed the wishes meanwhile. */
    if (d->fd == fd && d->gen == gen)
        poll_arm(w, slot);
}

int worker_dns_open(struct worker *w)
{
    for (uint32_t i = 0; i < WORKER_DNS_SOCKS; i++)
        w->dns_socks[i].fd = -1;
    const struct cfg_list *res = &w->gen->cfg.p.dns_resolver;
    char servers[1024] = "";
    size_t off = 0;
    for (size_t i = 0; i < res->n; i++) {
        int n = snprintf(servers + off, sizeof(servers) - off, "%s%s", off ? "," : "",
                         res->v[i]);
        if (n < 0 || (size_t)n >= sizeof(servers) - off)
            return -ENAMETOOLONG;
        off += (size_t)n;
    }
    struct dns_opts o = {.servers = servers,
                         .timeout_ms = 10000,
                         .sock_cb = on_sock,
                         .sock_arg = w};
    return dns_open(&o, &w->dns);
}

void worker_dns_close(struct worker *w)
{
    if (w->dns)
        dns_close(w->dns);
    w->dns = NULL;
}
