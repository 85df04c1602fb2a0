/*
 * fe_screen_dns.c - the frontend's resolver (lib/dns.h, c-ares) driven by
 * its ring: each socket c-ares wants watched gets a slot with a one-shot
 * IORING_OP_POLL_ADD, re-armed after dns_process() while c-ares still
 * wants it; a completion for a slot reused meanwhile carries an older
 * generation and is dropped. The resolver is dns_resolver (empty:
 * /etc/resolv.conf). Its in-flight cap is the scorer's clients times the
 * DNSBL domains, so a DNSBL query is never refused for lack of room.
 *
 * Failure: more sockets than FE_DNS_SOCKS are logged and not watched
 * (their queries time out); dns_open failing leaves the DNSBL test off.
 */
#include "fe_screen.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "log.h"

static void poll_arm(struct fe *fe, uint32_t slot)
{
    struct fe_dns_sock *d = &fe->scr->socks[slot];
    if (d->armed || d->fd < 0 || !d->events)
        return;
    struct io_uring_sqe *sqe = fe_sqe(fe);
    io_uring_prep_poll_add(sqe, d->fd, (unsigned)d->events);
    io_uring_sqe_set_data64(sqe, ring_ud(FE_OP_DNS, slot, d->gen));
    d->armed = true;
}

static void poll_cancel(struct fe *fe, uint32_t slot)
{
    struct fe_dns_sock *d = &fe->scr->socks[slot];
    if (!d->armed)
        return;
    struct io_uring_sqe *sqe = fe_sqe(fe);
    io_uring_prep_poll_remove(sqe, ring_ud(FE_OP_DNS, slot, d->gen));
    io_uring_sqe_set_data64(sqe, ring_ud(FE_OP_IGNORE, 0, 0));
    d->armed = false;
}

static void on_sock(void *arg, int fd, int want_read, int want_write)
{
    struct fe *fe = arg;
    short ev = (short)((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0));
    uint32_t free_slot = FE_DNS_SOCKS;
    for (uint32_t i = 0; i < FE_DNS_SOCKS; i++) {
        struct fe_dns_sock *d = &fe->scr->socks[i];
        if (d->fd == fd) {
            if (ev == d->events)
                return;
            poll_cancel(fe, i);
            d->gen++;
            d->events = ev;
            if (!ev)
                d->fd = -1;
            else
                poll_arm(fe, i);
            return;
        }
        if (d->fd < 0 && free_slot == FE_DNS_SOCKS)
            free_slot = i;
    }
    if (!ev)
        return;
    if (free_slot == FE_DNS_SOCKS) {
        log_warn("DNS: more than %d resolver sockets; fd %d not watched", FE_DNS_SOCKS, fd);
        return;
    }
    struct fe_dns_sock *d = &fe->scr->socks[free_slot];
    d->fd = fd;
    d->events = ev;
    d->armed = false;
    d->gen++;
    poll_arm(fe, free_slot);
}

void fe_screen_dns_event(struct fe *fe, uint32_t slot, uint32_t gen, int res)
{
    if (!fe->scr || !fe->scr->dns || slot >= FE_DNS_SOCKS)
        return;
    struct fe_dns_sock *d = &fe->scr->socks[slot];
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
    dns_process(fe->scr->dns, fd, readable, writable);
    if (d->fd == fd && d->gen == gen)
        poll_arm(fe, slot);
}

int fe_screen_dns_open(struct fe *fe, unsigned max_inflight)
{
    for (uint32_t i = 0; i < FE_DNS_SOCKS; i++)
        fe->scr->socks[i].fd = -1;
    const struct fe_screen_conf *sc = fe->conf->screen;
    struct dns_opts o = {.servers = sc->servers,
                         .timeout_ms = sc->dnsbl_timeout_ms,
                         .max_inflight = max_inflight,
                         /* dns_client() (fe_early.c) reads /etc/hosts first, as
                          * smtpd and the workers do; DNSBL queries never do. */
                         .hosts_file = NULL,
                         .sock_cb = on_sock,
                         .sock_arg = fe};
    return dns_open(&o, &fe->scr->dns);
}
