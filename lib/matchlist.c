/*
 * matchlist.c - compiling and matching Postfix match lists (see
 * matchlist.h): include files are read and expanded in place, tables are
 * opened once, network patterns are parsed once; matching walks the items
 * in order, first match wins, as Postfix's match_list_match() with
 * match_hostname() / match_hostaddr().
 *
 * Under a maps.h placer the finished list moves into placer memory (the
 * policy segment; see matchlist_compile in matchlist.h).
 *
 * Failure: compiling returns -errno with "PARAM: what" in err; matching
 * returns -errno only when a table lookup fails (Postfix's list->error).
 * Matching allocates nothing: keys are folded into stack buffers.
 */
#include "matchlist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casefold.h"
#include "util.h"

#define MAX_INCLUDE_DEPTH 16 /* Postfix has none; a self-include would loop */

static void set_err(struct matchlist_err *err, const char *pname, const char *what)
{
    snprintf(err->msg, sizeof(err->msg), "%.100s: %.500s", pname, what);
}

static struct map *open_table(struct matchlist *l, const char *ref, struct matchlist_err *err)
{
    for (size_t i = 0; i < l->nmaps; i++)
        if (strcmp(l->maps[i]->ref, ref) == 0)
            return l->maps[i];
    struct map *m;
    struct map_err me;
    int rc = map_open(ref, 0, &m, &me);
    if (rc < 0) {
        char what[MATCHLIST_ERR_MAX];
        snprintf(what, sizeof(what), "%.100s: %.500s", ref, me.msg);
        set_err(err, l->name, what);
        return NULL;
    }
    l->maps = xrealloc(l->maps, (l->nmaps + 1) * sizeof(*l->maps));
    l->maps[l->nmaps++] = m;
    return m;
}

static int parse_text(struct matchlist *l, const char *buf, size_t len, int match, int depth,
                      struct matchlist_err *err);

static int include_file(struct matchlist *l, const char *path, int match, int depth,
                        struct matchlist_err *err)
{
    char what[MATCHLIST_ERR_MAX];
    if (depth >= MAX_INCLUDE_DEPTH) {
        snprintf(what, sizeof(what), "%s: files included too deeply", path);
        set_err(err, l->name, what);
        return -ELOOP;
    }
    char *text;
    size_t len;
    int rc = file_read_all(path, &text, &len);
    if (rc < 0) {
        snprintf(what, sizeof(what), "open file %s: %s", path, strerror(-rc));
        set_err(err, l->name, what);
        return rc;
    }
    struct strbuf line;
    strbuf_init(&line);
    size_t pos = 0;
    while (rc == 0 && matchlist_next_line(text, len, &pos, &line))
        rc = parse_text(l, line.buf, line.len, match, depth + 1, err);
    strbuf_free(&line);
    free(text);
    return rc;
}

static int parse_text(struct matchlist *l, const char *buf, size_t len, int match, int depth,
                      struct matchlist_err *err)
{
    size_t pos = 0, start, tlen;
    while (matchlist_next_token(buf, len, &pos, &start, &tlen)) {
        struct matchlist_item it;
        struct matchlist_err ie;
        int rc = matchlist_item_parse(buf + start, tlen, l->kind, match, &it, &ie);
        if (rc < 0) {
            char what[MATCHLIST_ERR_MAX];
            snprintf(what, sizeof(what), "%.400s: \"%.*s\"", ie.msg, (int)(tlen > 200 ? 200 : tlen),
                     buf + start);
            set_err(err, l->name, what);
            return rc;
        }
        if (it.type == MLI_FILE) {
            rc = include_file(l, it.text, it.match, depth, err);
            matchlist_item_clear(&it);
            if (rc < 0)
                return rc;
            continue;
        }
        if (it.type == MLI_TABLE && !(it.map = open_table(l, it.text, err))) {
            matchlist_item_clear(&it);
            return -EINVAL;
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 8;
            l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
        }
        l->items[l->n++] = it;
    }
    return 0;
}

/*
 * Move a finished heap list into placer memory: the struct, the items and
 * the table pointers as arrays, every text (and the name) in one string
 * pool, so that the pages hold nothing but the list. All or nothing: when
 * the placer runs out, -ENOMEM and the heap list is untouched (what was
 * taken from the placer goes with the segment).
 */
static int place_list(struct matchlist *l, struct matchlist **out)
{
    size_t pool = strlen(l->name) + 1;
    for (size_t i = 0; i < l->n; i++)
        pool += strlen(l->items[i].text) + 1;
    struct matchlist *c = maps_place_alloc(sizeof(*c), _Alignof(struct matchlist));
    struct matchlist_item *items =
        l->n ? maps_place_alloc(l->n * sizeof(*items), _Alignof(struct matchlist_item)) : NULL;
    struct map **maps = l->nmaps ? maps_place_alloc(l->nmaps * sizeof(*maps), sizeof(void *))
                                 : NULL;
    char *s = maps_place_alloc(pool, 1);
    if (!c || !s || (l->n && !items) || (l->nmaps && !maps))
        return -ENOMEM;
    *c = *l;
    c->placed = true;
    c->cap = l->n;
    c->items = items;
    c->maps = maps;
    if (l->nmaps)
        memcpy(maps, l->maps, l->nmaps * sizeof(*maps));
    size_t n = strlen(l->name) + 1;
    c->name = memcpy(s, l->name, n);
    s += n;
    for (size_t i = 0; i < l->n; i++) {
        items[i] = l->items[i];
        n = strlen(l->items[i].text) + 1;
        items[i].text = memcpy(s, l->items[i].text, n);
        s += n;
        matchlist_item_clear(&l->items[i]);
    }
    free(l->items);
    free(l->maps);
    free(l->name);
    free(l);
    *out = c;
    return 0;
}

int matchlist_compile(const char *pname, enum matchlist_kind kind, unsigned flags,
                      const char *value, struct matchlist **out, struct matchlist_err *err)
{
    struct matchlist *l = xcalloc(1, sizeof(*l));
    l->name = xstrdup(pname);
    l->kind = kind;
    l->flags = flags;
    *out = NULL;
    int rc = parse_text(l, value, strlen(value), 1, 0, err);
    if (rc == 0 && maps_placing() && (rc = place_list(l, &l)) < 0)
        set_err(err, pname, "policy segment full");
    if (rc < 0) {
        matchlist_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void matchlist_free(struct matchlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nmaps; i++)
        map_close(l->maps[i]);
    if (l->placed)
        return; /* the rest belongs to the segment */
    for (size_t i = 0; i < l->n; i++)
        matchlist_item_clear(&l->items[i]);
    free(l->maps);
    free(l->items);
    free(l->name);
    free(l);
}

bool matchlist_parent_style(const char *pdms_value, const char *pname)
{
    size_t pos = 0, start, tlen, n = strlen(pname);
    size_t len = strlen(pdms_value);
    while (matchlist_next_token(pdms_value, len, &pos, &start, &tlen))
        if (tlen == n && strncasecmp(pdms_value + start, pname, n) == 0)
            return true;
    return false;
}

/* ---- matching --------------------------------------------------------- */

/* A table hit of any value is a match (Postfix ignores the value). */
static int table_has(struct map *m, const char *key, size_t keylen)
{
    char vbuf[8];
    struct map_value v = {vbuf, sizeof(vbuf), 0};
    int rc = map_lookup(m, key, keylen, &v);
    if (rc == -ENOSPC)
        return 1; /* found, the value just does not fit: still a hit */
    return rc;
}

/* match_hostname(): name is folded. */
static int match_name(const struct matchlist *l, const struct matchlist_item *it,
                      const char *name, size_t nlen)
{
    if (it->type == MLI_TABLE) {
        int fixed = (it->map->type->flags & MAP_FIXED) != 0;
        const char *entry = name;
        while (*entry) {
            if (entry == name || fixed) {
                int rc = table_has(it->map, entry, nlen - (size_t)(entry - name));
                if (rc != 0)
                    return rc;
            }
            const char *next = strchr(entry + 1, '.');
            if (!next)
                break;
            if (l->flags & MATCHLIST_PARENT)
                next++;
            entry = next;
        }
        return 0;
    }
    const char *pat = it->text;
    if (strcmp(name, pat) == 0)
        return 1;
    if (nlen <= it->len)
        return 0;
    const char *pd = name + nlen - it->len;
    if (l->flags & MATCHLIST_PARENT)
        return pd[-1] == '.' && strcmp(pd, pat) == 0;
    return pat[0] == '.' && strcmp(pd, pat) == 0;
}

struct addr_key {
    const char *text; /* folded printable form */
    size_t len;
    int family;       /* 4, 6, or 0 when not parseable */
    uint8_t bytes[16];
    int addr_chars;   /* only address characters (match_hostaddr's gate) */
};

/* match_hostaddr(). */
static int match_addr(const struct matchlist_item *it, const struct addr_key *a)
{
    if (!a->addr_chars)
        return 0;
    if (it->type == MLI_TABLE)
        return table_has(it->map, a->text, a->len);
    const char *pat = it->text;
    if (pat[0] != '[') {
        if (strcmp(a->text, pat) == 0)
            return 1;
    } else if (strncmp(a->text, pat + 1, a->len) == 0 && strcmp(pat + 1 + a->len, "]") == 0) {
        return 1;
    }
    if (!it->has_net || a->family == 0)
        return 0;
    return cidr_rule_accepts(&it->net, a->bytes, a->family);
}

static int fold_key(const char *s, char *out, size_t cap, size_t *len)
{
    size_t n = strlen(s);
    if (3 * n + 1 > cap)
        return -ENAMETOOLONG;
    long r = casefold_utf8(s, n, out, cap);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            out[i] = ascii_lower(s[i]);
        out[n] = '\0';
        r = (long)n;
    }
    *len = (size_t)r;
    return 0;
}

/* Printable address as Postfix has it: folded, IPv4-mapped as IPv4. */
static void addr_prepare(const char *addr, char *buf, size_t cap, struct addr_key *a)
{
    size_t n = strlen(addr);
    memset(a, 0, sizeof(*a));
    if (n >= cap) {
        a->text = "";
        return;
    }
    for (size_t i = 0; i <= n; i++)
        buf[i] = ascii_lower(addr[i]);
    a->text = buf;
    a->len = n;
    a->addr_chars = buf[strspn(buf, "01234567890.abcdef:")] == '\0';
    if (!a->addr_chars)
        return;
    if (cidr_key_parse(buf, a->bytes, &a->family) < 0) {
        a->family = 0;
        return;
    }
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a->family == 6 && memcmp(a->bytes, v4mapped, 12) == 0) {
        uint8_t v4[4];
        memcpy(v4, a->bytes + 12, 4);
        memset(a->bytes, 0, 16);
        memcpy(a->bytes, v4, 4);
        a->family = 4;
        inet_ntop(AF_INET, v4, buf, (socklen_t)cap);
        a->len = strlen(buf);
    }
}

int matchlist_match_namadr(const struct matchlist *l, const char *name, const char *addr)
{
    char nbuf[3 * MATCHLIST_NAME_MAX + 1], abuf[MATCHLIST_NAME_MAX];
    size_t nlen = 0;
    int have_name = l->kind != MATCHLIST_ADDR && name &&
                    fold_key(name, nbuf, sizeof(nbuf), &nlen) == 0;
    struct addr_key a;
    int have_addr = l->kind != MATCHLIST_DOMAIN && addr;
    if (have_addr)
        addr_prepare(addr, abuf, sizeof(abuf), &a);
    for (size_t i = 0; i < l->n; i++) {
        const struct matchlist_item *it = &l->items[i];
        int rc;
        if (have_name && (rc = match_name(l, it, nbuf, nlen)) != 0)
            return rc < 0 ? rc : it->match;
        if (have_addr && (rc = match_addr(it, &a)) != 0)
            return rc < 0 ? rc : it->match;
    }
    return 0;
}

int matchlist_match_addr(const struct matchlist *l, const char *addr)
{
    return matchlist_match_namadr(l, NULL, addr);
}

int matchlist_match_domain(const struct matchlist *l, const char *domain)
{
    return matchlist_match_namadr(l, domain, NULL);
}
