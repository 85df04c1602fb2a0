/*
 * maps_texthash.c - "texthash:FILE": the postmap source file itself.
 *
 * As in Postfix, the file is read into an in-memory hash table when the
 * table is opened; no NAME.lmdb is needed. Parsing follows postmap (see
 * maps_source.h) with dict_thash's wording ("-- ignoring this line");
 * a duplicate key keeps its first value with a warning naming the line.
 * Keys are folded to lower case unless opened with MAP_OPEN_KEEPCASE.
 *
 * The refresh hook rereads the file when its inode or mtime changed; if
 * the file cannot be read, the old contents stay in use. A missing file
 * at open is an error ("FILE: No such file or directory").
 *
 * Storage: one arena with "key\0value\0" records and an open-addressing
 * index (linear probing, at most half full), so a lookup is one hash and
 * a few comparisons, without allocation. With a placer set (maps.h: the
 * master's policy segment) both are moved into it once loaded; a table
 * re-read later (refresh) lives on the re-reading process's heap.
 */
#include "log.h"
#include "maps.h"
#include "maps_source.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct th_slot {
    uint64_t hash;
    size_t off; /* key at arena + off, value after its NUL; 0 = empty */
    size_t keylen;
};

struct th_table {
    struct strbuf arena;
    struct th_slot *slots;
    size_t mask, used;
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    int placed; /* arena and slots in the placer's memory */
};

struct th_map {
    struct th_table *t;
    const char *path;
    unsigned flags; /* enum map_source_flags */
};

/* FNV-1a: short keys, no adversary who could choose them at run time. */
static uint64_t th_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static struct th_slot *th_find(struct th_table *t, const char *key, size_t keylen, uint64_t h)
{
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        struct th_slot *s = &t->slots[i];
        if (s->off == 0 ||
            (s->hash == h && s->keylen == keylen && memcmp(t->arena.buf + s->off, key, keylen) == 0))
            return s;
    }
}

static void th_grow(struct th_table *t)
{
    size_t n = t->mask ? (t->mask + 1) * 2 : 64;
    struct th_slot *old = t->slots;
    size_t oldn = t->mask ? t->mask + 1 : 0;

    t->slots = xcalloc(n, sizeof(*t->slots));
    t->mask = n - 1;
    for (size_t i = 0; i < oldn; i++) {
        if (old[i].off == 0)
            continue;
        size_t j = old[i].hash & t->mask;
        while (t->slots[j].off != 0)
            j = (j + 1) & t->mask;
        t->slots[j] = old[i];
    }
    free(old);
}

static void th_free(struct th_table *t)
{
    if (!t)
        return;
    if (!t->placed) {
        strbuf_free(&t->arena);
        free(t->slots);
    }
    free(t);
}

/* Move the records and the index into the placer's memory (maps.h), all or
 * nothing. The index holds offsets, so both copy as they are. */
static int th_place(struct th_table *t)
{
    char *arena = maps_place_dup(t->arena.buf, t->arena.len);
    struct th_slot *slots = maps_place_dup(t->slots, (t->mask + 1) * sizeof(*slots));
    if (!arena || !slots)
        return -ENOMEM;
    strbuf_free(&t->arena);
    free(t->slots);
    t->arena.buf = arena;
    t->arena.len = t->arena.cap = 0; /* never appended to again */
    t->slots = slots;
    t->placed = 1;
    return 0;
}

/* maps.h shared_parts. */
static size_t th_shared_parts(const struct map *m, const void **out, size_t max)
{
    const struct th_map *tm = m->priv;
    if (max > 0)
        out[0] = tm->t->arena.buf;
    if (max > 1)
        out[1] = tm->t->slots;
    return 2;
}

struct th_load {
    struct th_table *t;
    const char *path;
};

static void th_warn(void *ctx, const char *msg)
{
    (void)ctx;
    log_warn("%s", msg);
}

static int th_add(void *ctx, const struct map_source_entry *e)
{
    struct th_load *ld = ctx;
    struct th_table *t = ld->t;

    if ((t->used + 1) * 2 > t->mask + 1)
        th_grow(t);
    uint64_t h = th_hash(e->key, e->keylen);
    struct th_slot *s = th_find(t, e->key, e->keylen, h);
    if (s->off != 0) {
        log_warn("%s, line %d: duplicate entry: \"%s\"", ld->path, e->line, e->key);
        return 0; /* the first value stays, as in Postfix */
    }
    s->hash = h;
    s->keylen = e->keylen;
    s->off = t->arena.len;
    strbuf_append(&t->arena, e->key, e->keylen + 1);
    strbuf_append(&t->arena, e->value, e->valuelen + 1);
    t->used++;
    return 0;
}

static int th_load_file(const char *path, unsigned flags, struct th_table **out,
                        struct map_err *err)
{
    static const struct map_source_ops ops = {th_add, th_warn};
    char *buf;
    size_t len;
    struct stat st;

    int rc = stat(path, &st) < 0 ? -errno : file_read_all(path, &buf, &len);
    if (rc < 0) {
        map_err_set(err, "%s: %s", path, strerror(-rc));
        return rc;
    }
    struct th_table *t = xcalloc(1, sizeof(*t));
    strbuf_init(&t->arena);
    strbuf_putc(&t->arena, '\0'); /* offset 0 means "empty slot" */
    th_grow(t);
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    t->mtime = st.st_mtim;
    struct th_load ld = {t, path};
    map_source_parse(buf, len, path, flags, &ops, &ld);
    free(buf);
    if (maps_placing() && th_place(t) < 0) {
        map_err_set(err, "%s: cannot place the table in the policy segment", path);
        th_free(t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

static int th_open(struct map *m, struct map_err *err)
{
    struct th_map *tm = xcalloc(1, sizeof(*tm));

    tm->path = m->name;
    /* Postfix rejects non-UTF-8 lines by default (smtputf8_enable = yes). */
    tm->flags = MAP_SOURCE_TEXTHASH | MAP_SOURCE_UTF8;
    if (!(m->open_flags & MAP_OPEN_KEEPCASE))
        tm->flags |= MAP_SOURCE_FOLD;
    int rc = th_load_file(tm->path, tm->flags, &tm->t, err);
    if (rc < 0) {
        free(tm);
        return rc;
    }
    m->priv = tm;
    return 0;
}

static int th_lookup(struct map *m, const char *key, size_t keylen, struct map_value *out)
{
    struct th_map *tm = m->priv;
    struct th_table *t = tm->t;
    struct th_slot *s = th_find(t, key, keylen, th_hash(key, keylen));

    if (s->off == 0)
        return 0;
    const char *v = t->arena.buf + s->off + s->keylen + 1;
    int rc = map_value_set(out, v, strlen(v));
    return rc < 0 ? rc : 1;
}

static int th_refresh(struct map *m)
{
    struct th_map *tm = m->priv;
    struct stat st;
    struct th_table *fresh;

    if (stat(tm->path, &st) < 0)
        return -errno;
    if (st.st_dev == tm->t->dev && st.st_ino == tm->t->ino &&
        st.st_mtim.tv_sec == tm->t->mtime.tv_sec && st.st_mtim.tv_nsec == tm->t->mtime.tv_nsec)
        return 0;
    int rc = th_load_file(tm->path, tm->flags, &fresh, NULL);
    if (rc < 0)
        return rc;
    th_free(tm->t);
    tm->t = fresh;
    return 0;
}

static void th_close(struct map *m)
{
    struct th_map *tm = m->priv;
    if (!tm)
        return;
    th_free(tm->t);
    free(tm);
}

const struct map_type map_type_texthash = {
    .name = "texthash",
    .flags = MAP_FIXED | MAP_FOLD,
    .open = th_open,
    .lookup = th_lookup,
    .refresh = th_refresh,
    .close = th_close,
    .shared_parts = th_shared_parts,
};
