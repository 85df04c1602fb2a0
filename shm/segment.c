/*
 * segment.c - the policy segment (segment.h): a memfd grown on demand under
 * a fixed address-space reservation, a bump allocator over it, and the seal
 * that makes it read-only for good.
 *
 * Failure leaves the segment usable as it was: a failed grow keeps the old
 * size, a failed seal step keeps the data mapped (read-only when the
 * writable mapping was already gone).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "segment.h"

/* The memfd grows by at least this much, so that a table of many small
 * databases does not cost one ftruncate+mmap each. */
#define SEGMENT_GROW_MIN ((size_t)256 << 10)

struct segment {
    int fd;
    char *base;      /* reservation start; never moves */
    size_t reserve;  /* reserved bytes (page multiple) */
    size_t mapped;   /* memfd bytes mapped at base (page multiple) */
    size_t used;
    unsigned databases;
    int sealed;
    int frozen;      /* no writable mapping any more (sealed, or a seal failed) */
};

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

/* PROT_NONE anonymous memory over [base, base+len): holds the addresses,
 * costs no memory. */
static int reserve_at(char *base, size_t len)
{
    void *p = mmap(base, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                   -1, 0);
    return p == MAP_FAILED ? -errno : 0;
}

int segment_create(unsigned id, size_t reserve, struct segment **out)
{
    char name[64];
    *out = NULL;
    reserve = round_up(reserve ? reserve : SEGMENT_RESERVE_DEFAULT, page_size());
    snprintf(name, sizeof(name), "mxscreen-policy-g%u", id);
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    void *base = mmap(NULL, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct segment *s = calloc(1, sizeof(*s));
    if (!s) {
        munmap(base, reserve);
        close(fd);
        return -ENOMEM;
    }
    s->fd = fd;
    s->base = base;
    s->reserve = reserve;
    *out = s;
    return 0;
}

/* Make at least need bytes of the memfd mapped read-write at base. */
static int segment_grow(struct segment *s, size_t need)
{
    size_t want = s->mapped * 2;
    if (want < s->mapped + SEGMENT_GROW_MIN)
        want = s->mapped + SEGMENT_GROW_MIN;
    if (want < need)
        want = need;
    want = round_up(want, page_size());
    if (want > s->reserve)
        want = round_up(need, page_size());
    if (want > s->reserve)
        return -ENOSPC;
    if (ftruncate(s->fd, (off_t)want) < 0)
        return -errno;
    /* Map only the new part: what is already handed out stays put. */
    void *p = mmap(s->base + s->mapped, want - s->mapped, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_FIXED, s->fd, (off_t)s->mapped);
    if (p == MAP_FAILED)
        return -errno; /* the file stays larger than mapped: trimmed at seal */
    s->mapped = want;
    return 0;
}

int segment_alloc(struct segment *s, size_t size, size_t align, void **out)
{
    *out = NULL;
    if (s->frozen)
        return -EPERM;
    if (align == 0 || (align & (align - 1)) || align > page_size())
        return -EINVAL;
    size_t off = round_up(s->used, align);
    if (off < s->used || size > s->reserve || off > s->reserve - size)
        return -ENOSPC;
    if (off + size > s->mapped) {
        int rc = segment_grow(s, off + size);
        if (rc < 0)
            return rc;
    }
    s->used = off + size;
    *out = s->base + off; /* fresh memfd pages read as zero */
    return 0;
}

void segment_count_database(struct segment *s)
{
    s->databases++;
}

/* The first keep bytes of the memfd, read-only at base. */
static int map_read_only(struct segment *s, size_t keep)
{
    if (!keep)
        return 0;
    void *p = mmap(s->base, keep, PROT_READ, MAP_SHARED | MAP_FIXED, s->fd, 0);
    /* Before Linux 6.7 a write-sealed memfd cannot be mapped shared at all;
     * a private read-only mapping still reads the memfd's own pages. */
    if (p == MAP_FAILED && errno == EPERM)
        p = mmap(s->base, keep, PROT_READ, MAP_PRIVATE | MAP_FIXED, s->fd, 0);
    return p == MAP_FAILED ? -errno : 0;
}

int segment_seal(struct segment *s)
{
    if (s->sealed)
        return 0;
    size_t keep = round_up(s->used, page_size());
    int rc;

    /* Drop the writable shared mapping (the data stays in the memfd):
     * F_SEAL_WRITE is refused while one exists. */
    if (s->mapped && (rc = reserve_at(s->base, s->mapped)) < 0)
        return rc;
    s->frozen = 1;
    if (ftruncate(s->fd, (off_t)s->used) < 0 ||
        fcntl(s->fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        rc = -errno;
        /* Unsealed but read-only: what was placed stays readable. */
        s->mapped = map_read_only(s, keep) == 0 ? keep : 0;
        return rc;
    }
    s->mapped = 0;
    if ((rc = map_read_only(s, keep)) < 0)
        return rc;
    /* Hand back the addresses the segment will never use. */
    if (s->reserve > keep)
        munmap(s->base + keep, s->reserve - keep);
    s->reserve = keep;
    s->mapped = keep;
    s->sealed = 1;
    return 0;
}

void segment_stats(const struct segment *s, struct segment_stats *out)
{
    out->used = s->used;
    out->mapped = s->mapped;
    out->databases = s->databases;
    out->sealed = s->sealed;
}

int segment_contains(const struct segment *s, const void *p)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)s->base;
    return a >= b && a - b < s->used;
}

int segment_fd(const struct segment *s)
{
    return s->fd;
}

void segment_free(struct segment *s)
{
    if (!s)
        return;
    if (s->reserve)
        munmap(s->base, s->reserve);
    close(s->fd);
    free(s);
}
