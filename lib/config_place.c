/*
 * config_place.c - config_place() (config.h): move everything a loaded
 * configuration points to (the main.cf entries, every default and expanded
 * value, every parsed list and the typed fields' strings and vectors) into
 * memory from a placer, the generation's policy segment, so that the
 * workers and frontends read one sealed copy. struct config itself (the
 * typed scalars of struct cfg_params, a fixed few KiB) stays where the
 * caller keeps it.
 *
 * All or nothing: everything is copied first; only when every allocation
 * succeeded is the heap storage freed and the struct switched over. On
 * failure (-ENOMEM) the configuration is as it was, on the heap. A placed
 * configuration is never written again: config_free() just forgets it.
 */
#include <errno.h>
#include <string.h>

#include "config.h"

struct placer {
    void *(*alloc)(void *ctx, size_t size, size_t align);
    void *ctx;
    int failed;
};

static void *palloc(struct placer *pl, size_t size, size_t align)
{
    void *p = pl->alloc(pl->ctx, size ? size : 1, align);
    if (!p)
        pl->failed = 1;
    return p;
}

static char *pstr(struct placer *pl, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = palloc(pl, n, 1);
    return d ? memcpy(d, s, n) : NULL;
}

/* A list's vector (NULL-terminated, as cfg_value_list makes it) and its
 * tokens. An empty list keeps its NULL vector. */
static struct cfg_list plist(struct placer *pl, const struct cfg_list *l)
{
    struct cfg_list out = {l->n, NULL};
    if (!l->v)
        return out;
    out.v = palloc(pl, (l->n + 1) * sizeof(*out.v), sizeof(char *));
    for (size_t i = 0; out.v && i < l->n; i++)
        out.v[i] = pstr(pl, l->v[i]);
    return out;
}

static char **pstrings(struct placer *pl, char *const *v, size_t n)
{
    if (!v)
        return NULL;
    char **out = palloc(pl, n * sizeof(*out), sizeof(char *));
    for (size_t i = 0; out && i < n; i++)
        out[i] = pstr(pl, v[i]);
    return out;
}

/* The typed field of row i in the copy: its storage is the row's expanded
 * value or parsed list, already copied; anything else is copied here. */
static void place_field(struct placer *pl, const struct config *old, struct config *c, size_t i,
                        const struct cfg_param_def *d)
{
    char *ofield = (char *)&old->p + d->off, *nfield = (char *)&c->p + d->off;
    switch (d->type) {
    case CFG_STR:
    case CFG_CACHE: {
        const char *s, *n;
        memcpy(&s, ofield, sizeof(s));
        n = old->expanded && s == old->expanded[i] ? c->expanded[i] : pstr(pl, s);
        memcpy(nfield, &n, sizeof(n));
        break;
    }
    case CFG_LIST:
    case CFG_MATCH:
    case CFG_MAPS:
    case CFG_RESTRICT: {
        struct cfg_list l;
        memcpy(&l, ofield, sizeof(l));
        l = old->lists && l.v == old->lists[i].v ? c->lists[i] : plist(pl, &l);
        memcpy(nfield, &l, sizeof(l));
        break;
    }
    default:
        break;
    }
}

int config_place(struct config *cfg, void *(*alloc)(void *ctx, size_t size, size_t align),
                 void *ctx)
{
    struct placer pl = {alloc, ctx, 0};
    size_t n;
    const struct cfg_param_def *tab = config_param_table(&n);
    struct config c = *cfg;

    if (cfg->placed)
        return 0;
    c.dir = pstr(&pl, cfg->dir);
    c.path = pstr(&pl, cfg->path);
    c.file.cap = cfg->file.n;
    c.file.v = cfg->file.v ? palloc(&pl, cfg->file.n * sizeof(*c.file.v), sizeof(void *)) : NULL;
    for (size_t i = 0; c.file.v && i < cfg->file.n; i++) {
        c.file.v[i] = cfg->file.v[i];
        c.file.v[i].name = pstr(&pl, cfg->file.v[i].name);
        c.file.v[i].value = pstr(&pl, cfg->file.v[i].value);
    }
    c.defaults = pstrings(&pl, cfg->defaults, n);
    c.expanded = pstrings(&pl, cfg->expanded, n);
    c.lists = cfg->lists ? palloc(&pl, n * sizeof(*c.lists), sizeof(void *)) : NULL;
    for (size_t i = 0; c.lists && i < n; i++)
        c.lists[i] = plist(&pl, &cfg->lists[i]);
    if (pl.failed)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        place_field(&pl, cfg, &c, i, &tab[i]);
    if (pl.failed)
        return -ENOMEM;
    config_free(cfg);
    *cfg = c;
    cfg->placed = true;
    return 0;
}
