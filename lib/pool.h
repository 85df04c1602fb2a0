/*
 * pool.h - fixed-size object pools, sized once at start-up, for the
 * per-connection data path (STYLE habit 5: no allocation per connection;
 * a dry pool means 421 to that client, not a crash).
 *
 * Interface:
 *   pool_init(p, name, obj_size, capacity) reserves every object at once;
 *   pool_get() returns a zeroed object in O(1), or NULL when all are in use;
 *   pool_put() gives it back in O(1). pool_set_clear_len(p, len) narrows
 *   the zeroing to the object's first len bytes (an object that ends with
 *   a large buffer its user fills before reading: a worker's session is
 *   22 KB, 8 KB of it the input buffer); the rest keeps what the last user
 *   left. Objects are reused last-in first-out,
 *   so memory never touched by a connection is never made resident: the
 *   resident size follows the peak number in use, not the capacity.
 *
 * Generations: every object has a 32-bit counter, bumped on get and on put
 * (odd while in use). An io_uring request carries (index, generation) in
 * its user_data (ring.h); when its completion arrives after the connection
 * was closed and the object reused, pool_lookup() sees another generation
 * and returns NULL, so the completion is dropped instead of being applied
 * to a stranger's connection.
 *
 * Failure: pool_init returns -EINVAL (zero or oversized arguments) or
 * -ENOMEM. pool_put returns -EINVAL for a pointer that is not an object of
 * this pool and -EALREADY for an object that is already free (a double put),
 * leaving the pool unchanged. In debug builds (NDEBUG unset) a freed object
 * is filled with 0xa5 (its first clear_len bytes: what its next user sees
 * as zeroes) so that use after put shows; under AddressSanitizer a free
 * object is poisoned whole, so any access to it is reported.
 * Not thread-safe: one pool per event loop.
 */
#ifndef MX_POOL_H
#define MX_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Indexes must fit the 24 bits that ring.h reserves in user_data. */
#define POOL_MAX_OBJECTS (UINT32_C(1) << 24)
#define POOL_MAX_OBJ_SIZE ((size_t)1 << 20)

struct pool {
    unsigned char *base; /* capacity * stride bytes, mmap()ed */
    size_t stride;       /* obj_size rounded up to max_align_t */
    size_t obj_size;
    size_t clear_len;    /* zeroed by pool_get: obj_size unless narrowed */
    size_t map_len;
    uint32_t capacity;
    uint32_t nfree;
    uint32_t *free_idx;  /* stack of free indexes, top at nfree - 1 */
    uint32_t *gen;       /* per object; odd while in use */
    const char *name;    /* for the caller's logs; not copied */
};

int pool_init(struct pool *p, const char *name, size_t obj_size, uint32_t capacity);
void pool_destroy(struct pool *p);

/* Zero only the first len bytes (at most obj_size) of the objects handed
 * out from now on. */
void pool_set_clear_len(struct pool *p, size_t len);
void *pool_get(struct pool *p);
int pool_put(struct pool *p, void *obj);

/* Index of an object of this pool (caller guarantees it is one). */
static inline uint32_t pool_index(const struct pool *p, const void *obj)
{
    return (uint32_t)(((const unsigned char *)obj - p->base) / p->stride);
}

static inline uint32_t pool_gen(const struct pool *p, const void *obj)
{
    return p->gen[pool_index(p, obj)];
}

/* The object at idx if it is in use with generation gen, else NULL. */
static inline void *pool_lookup(const struct pool *p, uint32_t idx, uint32_t gen)
{
    if (idx >= p->capacity || p->gen[idx] != gen || !(gen & 1u))
        return NULL;
    return p->base + (size_t)idx * p->stride;
}

static inline uint32_t pool_in_use(const struct pool *p)
{
    return p->capacity - p->nfree;
}

/* Bytes the pool can make resident per object (object + bookkeeping). */
static inline size_t pool_bytes_per_object(const struct pool *p)
{
    return p->stride + sizeof(p->free_idx[0]) + sizeof(p->gen[0]);
}

/*
 * Spares: a few freed heap objects of one size kept for the next user.
 * For per-session objects a worker allocates one after another (27-30 KB:
 * above malloc's fast bins, each calloc/free pair went through its
 * large-chunk paths and sometimes brk). pool_spares_take() returns a kept
 * object with whatever it held (the caller zeroes what it needs), or NULL
 * (allocate one); pool_spares_keep() keeps obj, or returns false when the
 * spares are full (free it then). Not thread-safe: one set per event
 * loop.
 */
#define POOL_SPARES_MAX 16

struct pool_spares {
    unsigned n;
    void *obj[POOL_SPARES_MAX];
};

/* Inline, so that sans-I/O libraries (session, policy) use them without
 * linking the event loop's library. Under AddressSanitizer nothing is
 * kept: every object is really freed, so a use after free is reported. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_SPARES_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_SPARES_OFF 1
#endif
#endif

static inline void *pool_spares_take(struct pool_spares *s)
{
    return s->n > 0 ? s->obj[--s->n] : NULL;
}

static inline bool pool_spares_keep(struct pool_spares *s, void *obj)
{
#ifdef POOL_SPARES_OFF
    (void)s;
    (void)obj;
    return false;
#else
    if (!obj || s->n >= POOL_SPARES_MAX)
        return false;
    s->obj[s->n++] = obj;
    return true;
#endif
}

#endif
