/*
 * maps_static.c - "static:value": every lookup returns value.
 *
 * As in Postfix 3.7, "static:{ text with spaces }" strips the braces and
 * the blanks just inside them, so the value may contain white space.
 */
#include "maps.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct static_map {
    size_t len;
    int placed; /* in the placer's memory (maps.h): not ours to free */
    char value[];
};

static int static_open(struct map *m, struct map_err *err)
{
    const char *v = m->name;
    size_t len = strlen(v);

    if (len > 0 && v[0] == '{') {
        if (v[len - 1] != '}') {
            map_err_set(err, "static:%s: missing '}' at end of value", m->name);
            return -EINVAL;
        }
        v = str_skip_space(v + 1);
        len = str_trim_len(v, (size_t)(m->name + len - 1 - v));
    }
    /* With a placer (the master's policy segment) the value is shared. */
    struct static_map *s = maps_placing() ? maps_place_alloc(sizeof(*s) + len + 1, 16)
                                          : xmalloc(sizeof(*s) + len + 1);
    if (!s) {
        map_err_set(err, "static:%s: cannot place the value in the policy segment", m->name);
        return -ENOMEM;
    }
    s->placed = maps_placing();
    memcpy(s->value, v, len);
    s->value[len] = '\0';
    s->len = len;
    m->priv = s;
    return 0;
}

static int static_lookup(struct map *m, const char *key, size_t keylen, struct map_value *out)
{
    const struct static_map *s = m->priv;
    (void)key;
    (void)keylen;
    int rc = map_value_set(out, s->value, s->len);
    return rc < 0 ? rc : 1;
}

static void static_close(struct map *m)
{
    struct static_map *s = m->priv;
    if (s && !s->placed)
        free(s);
}

/* maps.h shared_parts. */
static size_t static_shared_parts(const struct map *m, const void **out, size_t max)
{
    if (max > 0)
        out[0] = m->priv;
    return 1;
}

const struct map_type map_type_static = {
    .name = "static",
    .flags = MAP_FIXED,
    .open = static_open,
    .lookup = static_lookup,
    .close = static_close,
    .shared_parts = static_shared_parts,
};
