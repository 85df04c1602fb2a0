/*
 * ring.c - io_uring set-up with feature fallbacks, the one wait call, and
 * provided buffer rings; see ring.h.
 */
#include "ring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Newest first: kernels refuse the whole set if one flag is unknown, so we
 * drop the most recent ones until the kernel accepts.
 * SUBMIT_ALL 5.18, COOP_TASKRUN 5.19, SINGLE_ISSUER 6.0, DEFER_TASKRUN 6.1. */
static const struct {
    unsigned setup;
    unsigned have;
} optional_flags[] = {
    {IORING_SETUP_DEFER_TASKRUN, RING_HAVE_DEFER_TASKRUN},
    {IORING_SETUP_SINGLE_ISSUER, RING_HAVE_SINGLE_ISSUER},
    {IORING_SETUP_COOP_TASKRUN, RING_HAVE_COOP_TASKRUN},
    {IORING_SETUP_SUBMIT_ALL, RING_HAVE_SUBMIT_ALL},
};

#define PROBE_BGID 0xfffe

/* Buffer rings (5.19) cannot be probed as an opcode: register one entry. */
static int probe_buf_ring(struct ring *r)
{
    size_t len = (size_t)sysconf(_SC_PAGESIZE);
    void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return 0;
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)mem, .ring_entries = 1,
                                   .bgid = PROBE_BGID};
    int ok = io_uring_register_buf_ring(&r->uring, &reg, 0) == 0;
    if (ok)
        io_uring_unregister_buf_ring(&r->uring, PROBE_BGID);
    munmap(mem, len);
    return ok;
}

static void probe_ops(struct ring *r)
{
    struct io_uring_probe *p = io_uring_get_probe_ring(&r->uring);
    if (!p)
        return; /* before 5.6: no probe, and none of these opcodes either */
    if (io_uring_opcode_supported(p, IORING_OP_ACCEPT))
        r->have |= RING_HAVE_ACCEPT;
    if (io_uring_opcode_supported(p, IORING_OP_LINK_TIMEOUT))
        r->have |= RING_HAVE_LINK_TIMEOUT;
    if (io_uring_opcode_supported(p, IORING_OP_ASYNC_CANCEL))
        r->have |= RING_HAVE_ASYNC_CANCEL;
    if (io_uring_opcode_supported(p, IORING_OP_SOCKET))
        r->have |= RING_HAVE_MSHOT_ACCEPT;
    if (io_uring_opcode_supported(p, IORING_OP_SEND_ZC))
        r->have |= RING_HAVE_RECV_MSHOT | RING_HAVE_SEND_ZC;
    io_uring_free_probe(p);
}

int ring_init(struct ring *r, unsigned sq_entries, unsigned cq_entries, unsigned flags)
{
    unsigned want = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    size_t first = (flags & RING_INIT_DEFER_TASKRUN) ? 0 : 1;
    int ret = -EINVAL;

    memset(r, 0, sizeof(*r));
    for (size_t i = first; i < sizeof(optional_flags) / sizeof(optional_flags[0]); i++)
        want |= optional_flags[i].setup;
    for (size_t drop = first;; drop++) {
        struct io_uring_params p = {.flags = want,
                                    .cq_entries = cq_entries ? cq_entries : 4 * sq_entries};
        ret = io_uring_queue_init_params(sq_entries, &r->uring, &p);
        if (ret == 0) {
            r->setup_flags = want;
            if (p.features & IORING_FEAT_EXT_ARG)
                r->have |= RING_HAVE_EXT_ARG;
            if (p.features & IORING_FEAT_NODROP)
                r->have |= RING_HAVE_NODROP;
            if (p.features & IORING_FEAT_FAST_POLL)
                r->have |= RING_HAVE_FAST_POLL;
            break;
        }
        if (ret != -EINVAL || drop >= sizeof(optional_flags) / sizeof(optional_flags[0]))
            return ret;
        want &= ~optional_flags[drop].setup;
    }
    for (size_t i = 0; i < sizeof(optional_flags) / sizeof(optional_flags[0]); i++)
        if (r->setup_flags & optional_flags[i].setup)
            r->have |= optional_flags[i].have;
    probe_ops(r);
    if (probe_buf_ring(r))
        r->have |= RING_HAVE_BUF_RING;
    return 0;
}

void ring_exit(struct ring *r)
{
    io_uring_queue_exit(&r->uring);
}

void ring_describe(const struct ring *r, char *buf, size_t len)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {RING_HAVE_SUBMIT_ALL, "submit_all"},       {RING_HAVE_COOP_TASKRUN, "coop_taskrun"},
        {RING_HAVE_SINGLE_ISSUER, "single_issuer"}, {RING_HAVE_DEFER_TASKRUN, "defer_taskrun"},
        {RING_HAVE_EXT_ARG, "ext_arg"},             {RING_HAVE_NODROP, "nodrop"},
        {RING_HAVE_FAST_POLL, "fast_poll"},         {RING_HAVE_ACCEPT, "accept"},
        {RING_HAVE_LINK_TIMEOUT, "link_timeout"},   {RING_HAVE_ASYNC_CANCEL, "async_cancel"},
        {RING_HAVE_MSHOT_ACCEPT, "multishot_accept"}, {RING_HAVE_RECV_MSHOT, "multishot_recv"},
        {RING_HAVE_BUF_RING, "buf_ring"},           {RING_HAVE_SEND_ZC, "send_zc"},
    };
    size_t off = 0;

    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(r->have & names[i].bit))
            continue;
        int n = snprintf(buf + off, len - off, "%s%s", off ? " " : "", names[i].name);
        if (n < 0 || (size_t)n >= len - off)
            return; /* truncated, still NUL-terminated */
        off += (size_t)n;
    }
}

int ring_submit_and_wait_timeout(struct ring *r, struct io_uring_cqe **cqe, int64_t timeout_ms)
{
    struct __kernel_timespec ts;

    *cqe = NULL;
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (timeout_ms % 1000) * 1000000;
    /* Without EXT_ARG liburing queues a timeout SQE (user_data ~0, which
     * ring_ud() never produces) and reaps its completion itself. */
    int ret = io_uring_submit_and_wait_timeout(&r->uring, cqe, 1, timeout_ms < 0 ? NULL : &ts,
                                               NULL);
    /* liburing 2.3 may return the number of SQEs it submitted, and then
     * even a timeout comes back as a count with no completion. */
    if (ret >= 0)
        ret = *cqe ? 0 : -ETIME;
    return ret;
}

int ring_bufs_init(struct ring *r, struct ring_bufs *b, uint16_t bgid, unsigned nbufs,
                   unsigned size)
{
    memset(b, 0, sizeof(*b));
    if (nbufs == 0 || nbufs > 32768 || (nbufs & (nbufs - 1)) || size == 0)
        return -EINVAL;
    b->bgid = bgid;
    b->nbufs = nbufs;
    b->size = size;
    /* The ring must be page aligned: mmap gives that. */
    b->br_len = nbufs * sizeof(struct io_uring_buf);
    void *m = mmap(NULL, b->br_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -ENOMEM;
    b->br = m;
    b->mem_len = (size_t)nbufs * size;
    m = mmap(NULL, b->mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        munmap(b->br, b->br_len);
        b->br = NULL;
        return -ENOMEM;
    }
    b->mem = m;
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)b->br, .ring_entries = nbufs,
                                   .bgid = bgid};
    int ret = io_uring_register_buf_ring(&r->uring, &reg, 0);
    if (ret < 0) {
        munmap(b->mem, b->mem_len);
        munmap(b->br, b->br_len);
        memset(b, 0, sizeof(*b));
        return ret;
    }
    io_uring_buf_ring_init(b->br);
    for (unsigned i = 0; i < nbufs; i++)
        io_uring_buf_ring_add(b->br, ring_bufs_addr(b, i), size, (unsigned short)i,
                              io_uring_buf_ring_mask(nbufs), (int)i);
    io_uring_buf_ring_advance(b->br, (int)nbufs);
    return 0;
}

void ring_bufs_destroy(struct ring *r, struct ring_bufs *b)
{
    if (!b->br)
        return;
    io_uring_unregister_buf_ring(&r->uring, b->bgid);
    munmap(b->mem, b->mem_len);
    munmap(b->br, b->br_len);
    memset(b, 0, sizeof(*b));
}
