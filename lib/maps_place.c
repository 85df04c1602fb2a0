/*
 * maps_place.c - the placer (maps.h): where the tables opened while it is
 * set put what every process only reads (rule arrays, result strings,
 * compiled PCRE2 code, Hyperscan databases), so that the master's policy
 * segment holds one read-only copy for all workers.
 *
 * A type builds its table on the heap as it always did, then moves each
 * finished block with maps_place_move(): a copy in placer memory, the heap
 * block freed. Placer memory is never freed piecewise (the segment goes as
 * a whole), so a type remembers what it placed and skips those blocks when
 * it closes. With no placer set every call here is a no-op that keeps the
 * heap block, which is what the tools and refreshed tables get.
 *
 * Failure: maps_place_move() returns NULL when the placer is out of memory
 * and leaves the heap block as it was; the caller fails its open.
 */
#include "maps.h"

#include <stdlib.h>
#include <string.h>

static struct map_placer placer;
static int placer_set;

void maps_set_placer(const struct map_placer *p)
{
    placer_set = p != NULL;
    if (p)
        placer = *p;
}

int maps_placing(void)
{
    return placer_set;
}

void *maps_place_alloc(size_t size, size_t align)
{
    if (!placer_set)
        return NULL;
    return placer.alloc(placer.ctx, size ? size : 1, align);
}

void maps_place_count_db(void)
{
    if (placer_set && placer.placed_db)
        placer.placed_db(placer.ctx);
}

void *maps_place_move(void *heap, size_t size)
{
    if (!placer_set || !heap)
        return heap;
    /* 16: what malloc guarantees, so any array type stays aligned. */
    void *at = maps_place_alloc(size, 16);
    if (!at)
        return NULL;
    memcpy(at, heap, size);
    free(heap);
    return at;
}

void *maps_place_dup(const void *p, size_t size)
{
    void *at = maps_place_alloc(size, 16);
    if (at && size)
        memcpy(at, p, size);
    return at;
}
