/*
 * pool.c - fixed-size object pools; see pool.h.
 *
 * The objects live in one anonymous mapping (MAP_NORESERVE) so that a pool
 * sized for the worst storm costs address space, not memory, until it is
 * used. Free objects are tracked in a separate index stack rather than a
 * link inside the object, so that a free object can be poisoned whole.
 */
#include "pool.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif

#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(addr, len) ASAN_POISON_MEMORY_REGION((addr), (len))
#define UNPOISON(addr, len) ASAN_UNPOISON_MEMORY_REGION((addr), (len))
#else
#define POISON(addr, len) ((void)(addr), (void)(len))
#define UNPOISON(addr, len) ((void)(addr), (void)(len))
#endif

int pool_init(struct pool *p, const char *name, size_t obj_size, uint32_t capacity)
{
    const size_t align = alignof(max_align_t);

    memset(p, 0, sizeof(*p));
    if (obj_size == 0 || obj_size > POOL_MAX_OBJ_SIZE || capacity == 0 ||
        capacity > POOL_MAX_OBJECTS)
        return -EINVAL;
    p->name = name;
    p->obj_size = obj_size;
    p->clear_len = obj_size;
    p->stride = (obj_size + align - 1) / align * align;
    p->capacity = capacity;
    p->map_len = p->stride * capacity;
    void *m = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        goto fail;
    p->base = m;
    p->free_idx = malloc(sizeof(p->free_idx[0]) * capacity);
    p->gen = calloc(capacity, sizeof(p->gen[0]));
    if (!p->free_idx || !p->gen)
        goto fail;
    /* Highest index at the bottom: the first get returns object 0, and a
     * lightly used pool touches only its first pages. */
    for (uint32_t i = 0; i < capacity; i++)
        p->free_idx[i] = capacity - 1 - i;
    p->nfree = capacity;
    POISON(p->base, p->map_len);
    return 0;

fail:
    pool_destroy(p);
    return -ENOMEM;
}

void pool_destroy(struct pool *p)
{
    if (p->base) {
        UNPOISON(p->base, p->map_len);
        munmap(p->base, p->map_len);
    }
    free(p->free_idx);
    free(p->gen);
    memset(p, 0, sizeof(*p));
}

void pool_set_clear_len(struct pool *p, size_t len)
{
    p->clear_len = len < p->obj_size ? len : p->obj_size;
}

void *pool_get(struct pool *p)
{
    if (p->nfree == 0)
        return NULL;
    uint32_t idx = p->free_idx[--p->nfree];
    unsigned char *obj = p->base + (size_t)idx * p->stride;
    p->gen[idx]++;
    UNPOISON(obj, p->obj_size);
    memset(obj, 0, p->clear_len);
    return obj;
}

int pool_put(struct pool *p, void *obj)
{
    uintptr_t a = (uintptr_t)obj, base = (uintptr_t)p->base;

    if (!obj || a < base || a >= base + p->map_len || (a - base) % p->stride != 0)
        return -EINVAL;
    uint32_t idx = (uint32_t)((a - base) / p->stride);
    if (!(p->gen[idx] & 1u))
        return -EALREADY;
    p->gen[idx]++;
#ifndef NDEBUG
    memset(obj, 0xa5, p->clear_len);
#endif
    POISON(obj, p->obj_size);
    p->free_idx[p->nfree++] = idx;
    return 0;
}
