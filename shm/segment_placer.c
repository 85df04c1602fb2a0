/*
 * segment_placer.c - segment_map_placer() (segment.h): the maps.h placer
 * that puts regexp:/pcre: Hyperscan databases into a policy segment.
 * Its own file because maps.h's MAP_FIXED flag and <sys/mman.h>'s cannot
 * meet in one translation unit.
 */
#include "maps.h"
#include "segment.h"

static void *placer_alloc(void *ctx, size_t size, size_t align)
{
    void *p;
    return segment_alloc(ctx, size, align, &p) < 0 ? NULL : p;
}

static void placer_placed(void *ctx)
{
    segment_count_database(ctx);
}

void segment_map_placer(struct segment *s, struct map_placer *out)
{
    out->ctx = s;
    out->alloc = placer_alloc;
    out->placed_db = placer_placed;
}
