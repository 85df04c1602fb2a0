/*
 * dns_ring.h - lib/dns's c-ares sockets watched through an io_uring.
 *
 * c-ares says which sockets it wants watched (dns_opts.sock_cb =
 * dns_ring_sock_cb, sock_arg = the struct dns_ring); each gets a slot with
 * a one-shot IORING_OP_POLL_ADD whose user_data is ring_ud(op_poll, slot,
 * gen), re-armed after dns_process() as long as c-ares still wants the
 * socket. A completion for a slot reused meanwhile carries an older
 * generation and is dropped. The owner (frontend, worker) passes its poll
 * completions to dns_ring_event() and provides its sqe getter.
 *
 * Failure: more sockets than DNS_RING_SOCKS are logged and not watched
 * (their queries time out).
 */
#ifndef MX_DNS_RING_H
#define MX_DNS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dns_ctx;
struct io_uring_sqe;

#define DNS_RING_SOCKS 32

struct dns_ring_sock {
    int fd;       /* -1: free */
    short events; /* wanted */
    bool armed;   /* a poll is in flight */
    uint32_t gen;
};

struct dns_ring {
    struct io_uring_sqe *(*sqe)(void *owner); /* never NULL: the owner flushes when full */
    void *owner;
    unsigned op_poll, op_ignore; /* the owner's user_data op codes */
    struct dns_ring_sock socks[DNS_RING_SOCKS];
};

void dns_ring_init(struct dns_ring *r, struct io_uring_sqe *(*sqe)(void *owner), void *owner,
                   unsigned op_poll, unsigned op_ignore);
/* dns_opts.sock_cb, with sock_arg = the struct dns_ring. */
void dns_ring_sock_cb(void *arg, int fd, int want_read, int want_write);
/* A poll completion (res: the cqe's) for ring_ud(op_poll, slot, gen),
 * handed to the resolver dns (nothing happens when it is NULL: closed). */
void dns_ring_event(struct dns_ring *r, struct dns_ctx *dns, uint32_t slot, uint32_t gen, int res);

#endif
