/*
 * maps.h - Postfix-style lookup tables named "type:name".
 *
 * One opened table is a struct map. Types (hash, btree, lmdb, texthash,
 * regexp, pcre, cidr, inline, static) register a struct map_type in the
 * table in maps.c. "proxy:" in front of a reference is accepted and
 * stripped: every process opens LMDB files directly and shares their pages.
 *
 * Semantics follow Postfix:
 *  - fixed-key tables (MAP_FIXED) fold the lookup key to lower case unless
 *    opened with MAP_OPEN_KEEPCASE (postmap -f), and take part in access(5)
 *    partial lookups (parent domains, user@, ...);
 *  - pattern tables (MAP_PATTERN: regexp, pcre, cidr) see the key as given
 *    and only ever get the full-string lookups.
 *
 * Lookups copy the result into the caller's buffer (no allocation on the
 * data path) and return 1 (found), 0 (not found) or -errno:
 * -ENOSPC when the result does not fit, -EIO on a damaged table.
 * Opening reports errors as "FILE, line N: what" (or "FILE: what") in
 * struct map_err, and returns -errno (-EINVAL for a syntax error).
 *
 * A table built by mxscreen-map is replaced atomically (new file, fsync,
 * rename); map_lookup() notices a replaced file (checked at most once per
 * MAP_REFRESH_INTERVAL_MS) and reopens it, keeping the old one on failure.
 */
#ifndef MX_MAPS_H
#define MX_MAPS_H

#include <stddef.h>
#include <stdint.h>

#define MAP_ERR_MAX 512
#define MAP_REFRESH_INTERVAL_MS 1000

struct map_err {
    char msg[MAP_ERR_MAX];
};
void map_err_set(struct map_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The caller's result buffer: up to cap bytes, always NUL-terminated. */
struct map_value {
    char *buf;
    size_t cap;
    size_t len;
};

enum map_type_flags {
    MAP_FIXED = 1u << 0,   /* exact keys: access(5) partial lookups apply */
    MAP_PATTERN = 1u << 1, /* the whole key is matched against patterns */
    MAP_FOLD = 1u << 2,    /* keys are folded to lower case (build and lookup) */
};

enum map_open_flags {
    MAP_OPEN_KEEPCASE = 1u << 0, /* postmap -f: no case folding */
};

struct map;

struct map_type {
    const char *name;
    unsigned flags; /* enum map_type_flags */
    /* m->name, m->ref and m->open_flags are set; fill m->priv. */
    int (*open)(struct map *m, struct map_err *err);
    /* key is NUL-terminated at key[keylen]; already folded if MAP_FOLD. */
    int (*lookup)(struct map *m, const char *key, size_t keylen, struct map_value *out);
    /* Optional: reopen when the file was replaced. 0 or -errno (old kept). */
    int (*refresh)(struct map *m);
    void (*close)(struct map *m);
    /* Optional: up to max addresses of the blocks the table shares
     * (placed when a placer was set): rule arrays, strings, compiled code.
     * Returns how many there are (may exceed max). */
    size_t (*shared_parts)(const struct map *m, const void **out, size_t max);
};

struct map {
    const struct map_type *type;
    char *ref;          /* as written, without "proxy:" */
    char *name;         /* the part after "type:" */
    unsigned open_flags;
    int64_t next_refresh_ms;
    void *priv;
};

/* Open "type:name". 0 or -errno with err filled. */
int map_open(const char *ref, unsigned open_flags, struct map **out, struct map_err *err);
/* 1 found, 0 not found, -errno error. */
int map_lookup(struct map *m, const char *key, size_t keylen, struct map_value *out);
static inline int map_lookup_str(struct map *m, const char *key, struct map_value *out);
void map_close(struct map *m);
/* The table's shared blocks (struct map_type.shared_parts; 0 if the type
 * has none): lets a test or the master check they sit in the segment. */
size_t map_shared_parts(const struct map *m, const void **out, size_t max);

/* The registered type for a name, or NULL. */
const struct map_type *map_type_find(const char *name, size_t len);
/* Whether the table folds keys (for callers that build keys themselves). */
int map_folds_keys(const struct map *m);

/* Helpers for types: copy a result into out (-ENOSPC if too long). */
int map_value_set(struct map_value *out, const char *s, size_t len);

/*
 * The placer: where tables put what every process only reads (rule arrays,
 * result strings, compiled PCRE2 code, Hyperscan databases). The master
 * points it at the generation's policy segment (shm/segment.h) while it
 * opens that generation's maps, so that one read-only copy serves every
 * worker; NULL (the default, and what the tools and refreshed tables get)
 * keeps everything on the heap. Process-wide, set and cleared around the
 * opens. alloc returns size bytes aligned to align, or NULL; placed_db is
 * told of each Hyperscan database placed (for the segment's stats).
 * Placed memory is never freed piecewise: a type remembers what it placed
 * and leaves it alone at close (maps_place.c).
 */
struct map_placer {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size, size_t align);
    void (*placed_db)(void *ctx);
};
void maps_set_placer(const struct map_placer *p);
/* For the types (maps_place.c). Whether a placer is set. */
int maps_placing(void);
/* size bytes of placer memory, zero-filled; NULL if none or exhausted. */
void *maps_place_alloc(size_t size, size_t align);
void maps_place_count_db(void);
/* With a placer: copy heap's size bytes into placer memory, free heap and
 * return the copy (NULL, heap untouched, when the placer is full). Without
 * one: heap itself. */
void *maps_place_move(void *heap, size_t size);
/* A copy of p in placer memory, or NULL. */
void *maps_place_dup(const void *p, size_t size);

/* Monotonic milliseconds (coarse clock; cheap). */
int64_t map_now_ms(void);

#include <string.h>
static inline int map_lookup_str(struct map *m, const char *key, struct map_value *out)
{
    return map_lookup(m, key, strlen(key), out);
}

#endif
