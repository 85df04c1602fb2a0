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

/* The registered type for a name, or NULL. */
const struct map_type *map_type_find(const char *name, size_t len);
/* Whether the table folds keys (for callers that build keys themselves). */
int map_folds_keys(const struct map *m);

/* Helpers for types: copy a result into out (-ENOSPC if too long). */
int map_value_set(struct map_value *out, const char *s, size_t len);

/*
 * Where pattern tables (regexp:, pcre:) put their compiled Hyperscan
 * databases: the master points this at the generation's policy segment
 * (shm/segment.h) while it opens that generation's maps, so that the
 * databases end up in shared read-only memory; NULL (the default, and what
 * the tools use) keeps them on the heap. Process-wide, set and cleared
 * around the opens. alloc returns size bytes aligned to align, or NULL;
 * placed_db is told of each database placed (for the segment's stats).
 */
struct map_placer {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size, size_t align);
    void (*placed_db)(void *ctx);
};
void maps_set_placer(const struct map_placer *p);

/* Monotonic milliseconds (coarse clock; cheap). */
int64_t map_now_ms(void);

#include <string.h>
static inline int map_lookup_str(struct map *m, const char *key, struct map_value *out)
{
    return map_lookup(m, key, strlen(key), out);
}

#endif
