/*
 * ring.h - thin io_uring helpers shared by the frontend and the workers:
 * ring set-up that degrades gracefully on older kernels, the encoding of
 * user_data, provided buffer rings, and one wait call. The event loops
 * themselves belong to frontend/ and workers/.
 *
 * user_data (64 bits), as liburing's examples/proxy.c does it:
 *     63..56 operation (0..254; 255 is reserved: liburing's internal
 *            timeout uses user_data ~0 on kernels without EXT_ARG)
 *     55..32 pool index (24 bits, see POOL_MAX_OBJECTS)
 *     31..0  generation of that pool object (pool.h)
 * so a completion finds its connection without a lookup table, and a
 * completion for a connection that was closed and reused meanwhile is
 * recognised (ring_ud_object() returns NULL) and dropped.
 *
 * Set-up: ring_init() asks for IORING_SETUP_SUBMIT_ALL, COOP_TASKRUN,
 * SINGLE_ISSUER (and DEFER_TASKRUN when RING_INIT_DEFER_TASKRUN is given)
 * and drops them newest first while the kernel says -EINVAL. What it got
 * and what the kernel offers is in r->have (RING_HAVE_*):
 *   - opcodes are asked of the kernel (io_uring_get_probe_ring);
 *   - multishot accept has no probe bit: it came in 5.19 with
 *     IORING_OP_SOCKET, so that opcode stands for it; multishot recv
 *     (6.0) likewise is inferred from IORING_OP_SEND_ZC (6.0). A caller
 *     must still handle -EINVAL in the first completion;
 *   - provided buffer rings are probed by registering a one-entry ring.
 * With SINGLE_ISSUER only one task may submit: create the ring in the
 * process (after fork) and thread that runs its loop.
 *
 * Failure: ring_init returns -errno from io_uring_setup (-ENOSYS: no
 * io_uring; -EPERM: disabled by sysctl kernel.io_uring_disabled or a
 * seccomp policy; -ENOMEM: RLIMIT_MEMLOCK on kernels before 5.12). Tests
 * exit 77 (skipped) on those. ring_bufs_init returns -EINVAL for bad sizes
 * or a kernel without buffer rings, -ENOMEM.
 */
#ifndef MX_RING_H
#define MX_RING_H

#include <assert.h>
#include <liburing.h>
#include <stdint.h>

#include "pool.h"

/* ---- user_data ---- */

#define RING_UD_OP_SHIFT 56
#define RING_UD_IDX_SHIFT 32
#define RING_UD_OP_RESERVED 0xffu

static inline uint64_t ring_ud(unsigned op, uint32_t idx, uint32_t gen)
{
    assert(op < RING_UD_OP_RESERVED);
    assert(idx < POOL_MAX_OBJECTS);
    return (uint64_t)op << RING_UD_OP_SHIFT | (uint64_t)idx << RING_UD_IDX_SHIFT | gen;
}

static inline unsigned ring_ud_op(uint64_t ud)
{
    return (unsigned)(ud >> RING_UD_OP_SHIFT);
}

static inline uint32_t ring_ud_index(uint64_t ud)
{
    return (uint32_t)(ud >> RING_UD_IDX_SHIFT) & (POOL_MAX_OBJECTS - 1);
}

static inline uint32_t ring_ud_gen(uint64_t ud)
{
    return (uint32_t)ud;
}

/* liburing's own completions (ring_ud_op() == RING_UD_OP_RESERVED). */
static inline int ring_ud_is_internal(uint64_t ud)
{
    return ring_ud_op(ud) == RING_UD_OP_RESERVED;
}

/* user_data for operation op on obj, an object of pool p that is in use. */
static inline uint64_t ring_ud_for(unsigned op, const struct pool *p, const void *obj)
{
    return ring_ud(op, pool_index(p, obj), pool_gen(p, obj));
}

/* The object ud refers to if it is still the same life of it, else NULL. */
static inline void *ring_ud_object(const struct pool *p, uint64_t ud)
{
    return pool_lookup(p, ring_ud_index(ud), ring_ud_gen(ud));
}

/* ---- set-up ---- */

enum {
    RING_HAVE_SUBMIT_ALL = 1u << 0,
    RING_HAVE_COOP_TASKRUN = 1u << 1,
    RING_HAVE_SINGLE_ISSUER = 1u << 2,
    RING_HAVE_DEFER_TASKRUN = 1u << 3,
    RING_HAVE_EXT_ARG = 1u << 4,      /* wait with timeout without an SQE */
    RING_HAVE_NODROP = 1u << 5,       /* CQ overflow is kept, not dropped */
    RING_HAVE_FAST_POLL = 1u << 6,
    RING_HAVE_ACCEPT = 1u << 7,
    RING_HAVE_LINK_TIMEOUT = 1u << 8,
    RING_HAVE_ASYNC_CANCEL = 1u << 9,
    RING_HAVE_MSHOT_ACCEPT = 1u << 10, /* inferred, see above */
    RING_HAVE_RECV_MSHOT = 1u << 11,   /* inferred, see above */
    RING_HAVE_BUF_RING = 1u << 12,     /* probed by registering one */
    RING_HAVE_SEND_ZC = 1u << 13,
};

/* ring_init() flags */
#define RING_INIT_DEFER_TASKRUN 1u

struct ring {
    struct io_uring uring;
    unsigned have;        /* RING_HAVE_* */
    unsigned setup_flags; /* IORING_SETUP_* the kernel accepted */
};

/* sq_entries rounded up to a power of two by the kernel; cq_entries 0 means
 * 4 * sq_entries (multishot requests make many completions per SQE). */
int ring_init(struct ring *r, unsigned sq_entries, unsigned cq_entries, unsigned flags);
void ring_exit(struct ring *r);

/* "single_issuer coop_taskrun ..." for logs and benchmark reports. */
void ring_describe(const struct ring *r, char *buf, size_t len);

/* Submit what is queued and wait for one completion, at most timeout_ms
 * milliseconds (< 0: no limit; 0: do not wait). 0 with *cqe set (consume
 * it and any others with io_uring_for_each_cqe/io_uring_cq_advance),
 * -ETIME when the time ran out, -EINTR on a signal, or another -errno. */
int ring_submit_and_wait_timeout(struct ring *r, struct io_uring_cqe **cqe, int64_t timeout_ms);

/* ---- provided buffer ring ---- */

struct ring_bufs {
    struct io_uring_buf_ring *br;
    unsigned char *mem;
    size_t br_len, mem_len;
    unsigned nbufs, size;
    uint16_t bgid;
};

/* Register nbufs (a power of two, at most 32768) buffers of size bytes as
 * group bgid, all handed to the kernel. */
int ring_bufs_init(struct ring *r, struct ring_bufs *b, uint16_t bgid, unsigned nbufs,
                   unsigned size);
void ring_bufs_destroy(struct ring *r, struct ring_bufs *b);

/* Buffer id a completion consumed, or -1 if it carries none (an error, or
 * -ENOBUFS when the group ran dry). */
static inline int ring_cqe_buffer(const struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_BUFFER))
        return -1;
    return (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
}

static inline unsigned char *ring_bufs_addr(const struct ring_bufs *b, unsigned bid)
{
    return b->mem + (size_t)bid * b->size;
}

/* Give buffer bid back to the kernel once its bytes are consumed. */
static inline void ring_bufs_recycle(struct ring_bufs *b, unsigned bid)
{
    io_uring_buf_ring_add(b->br, ring_bufs_addr(b, bid), b->size, (unsigned short)bid,
                          io_uring_buf_ring_mask(b->nbufs), 0);
    io_uring_buf_ring_advance(b->br, 1);
}

#endif
