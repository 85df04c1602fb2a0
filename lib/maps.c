/*
 * maps.c - "type:name" dispatch, key folding and refresh for all tables.
 *
 * The per-type code lives in maps_<type>.c; this file only parses the
 * reference, keeps the registry, folds keys for MAP_FOLD tables and calls
 * the type's refresh hook at most once per MAP_REFRESH_INTERVAL_MS.
 */
#include "maps.h"
#include "casefold.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every table type. Add new types here. */
extern const struct map_type map_type_static;
extern const struct map_type map_type_cidr;
extern const struct map_type map_type_inline;
extern const struct map_type map_type_hash;
extern const struct map_type map_type_btree;
extern const struct map_type map_type_lmdb;
extern const struct map_type map_type_texthash;
extern const struct map_type map_type_regexp;
extern const struct map_type map_type_pcre;
static const struct map_type *const map_types[] = {
    &map_type_static,
    &map_type_cidr,
    &map_type_inline,
    &map_type_hash,
    &map_type_btree,
    &map_type_lmdb,
    &map_type_texthash,
    &map_type_regexp,
    &map_type_pcre,
};

void map_err_set(struct map_err *err, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

const struct map_type *map_type_find(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(map_types); i++)
        if (strlen(map_types[i]->name) == len && memcmp(map_types[i]->name, name, len) == 0)
            return map_types[i];
    return NULL;
}

int64_t map_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int map_open(const char *ref, unsigned open_flags, struct map **out, struct map_err *err)
{
    const char *r = ref;

    *out = NULL;
    if (strncmp(r, "proxy:", 6) == 0)
        r += 6;
    const char *colon = strchr(r, ':');
    if (!colon || colon == r) {
        map_err_set(err, "%s: bad table reference: expected type:name", ref);
        return -EINVAL;
    }
    const struct map_type *t = map_type_find(r, (size_t)(colon - r));
    if (!t) {
        map_err_set(err, "%s: unsupported table type: %.*s", ref, (int)(colon - r), r);
        return -EINVAL;
    }
    struct map *m = xcalloc(1, sizeof(*m));
    m->type = t;
    m->ref = xstrdup(r);
    m->name = m->ref + (colon - r) + 1;
    m->open_flags = open_flags;
    m->next_refresh_ms = map_now_ms() + MAP_REFRESH_INTERVAL_MS;
    int rc = t->open(m, err);
    if (rc < 0) {
        free(m->ref);
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int map_folds_keys(const struct map *m)
{
    return (m->type->flags & MAP_FOLD) && !(m->open_flags & MAP_OPEN_KEEPCASE);
}

/* Postfix's warning for a key it will not look up, with unprintable bytes
 * shown as '?' (as its printable() does). */
static void map_warn_non_utf8(const struct map *m, const char *key, size_t keylen)
{
    char shown[128];
    size_t n = keylen < sizeof(shown) - 1 ? keylen : sizeof(shown) - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        shown[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    shown[n] = '\0';
    log_warn("%s: non-UTF-8 key \"%s\": malformed UTF-8 or invalid codepoint", m->ref, shown);
}

int map_lookup(struct map *m, const char *key, size_t keylen, struct map_value *out)
{
    if (m->type->refresh) {
        int64_t now = map_now_ms();
        if (now >= m->next_refresh_ms) {
            m->next_refresh_ms = now + MAP_REFRESH_INTERVAL_MS;
            (void)m->type->refresh(m); /* on failure the old table stays */
        }
    }
    /* As Postfix with smtputf8_enable = yes: a key that is not UTF-8 is
     * not looked up in any table, and is simply not found. */
    int has8 = str_has_8bit(key, keylen);
    if (has8 && !utf8_valid(key, keylen)) {
        map_warn_non_utf8(m, key, keylen);
        return 0;
    }
    if (!map_folds_keys(m))
        return m->type->lookup(m, key, keylen, out);

    /* Fold into a stack buffer; keys of fixed tables are short (addresses,
     * host names), the rare long one goes to the heap. Unicode folding can
     * grow a key, at most threefold. */
    char small[1024];
    size_t cap = has8 ? 3 * keylen + 1 : keylen + 1;
    char *k = cap <= sizeof(small) ? small : xmalloc(cap);
    long n = casefold_utf8(key, keylen, k, cap);
    int rc = n < 0 ? (int)n : m->type->lookup(m, k, (size_t)n, out);
    if (k != small)
        free(k);
    return rc;
}

void map_close(struct map *m)
{
    if (!m)
        return;
    if (m->type->close)
        m->type->close(m);
    free(m->ref);
    free(m);
}

size_t map_shared_parts(const struct map *m, const void **out, size_t max)
{
    return m->type->shared_parts ? m->type->shared_parts(m, out, max) : 0;
}

int map_value_set(struct map_value *out, const char *s, size_t len)
{
    if (!out->buf || len + 1 > out->cap)
        return -ENOSPC;
    memcpy(out->buf, s, len);
    out->buf[len] = '\0';
    out->len = len;
    return 0;
}
