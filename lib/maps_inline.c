/*
 * maps_inline.c - "inline:{ key=value, { key = text, with commas } }"
 * tables: the parser (see maps_inline.h) and the map type.
 *
 * The type is a fixed-key table that folds keys (MAP_FIXED | MAP_FOLD),
 * like Postfix's, so access(5) partial lookups apply to it. An error at
 * open is reported as Postfix reports it:
 *   missing '=' after attribute name: "inline:{a = b}"; need "inline:{name=value...}"
 * With a placer set (maps.h: the master's policy segment) the entries and
 * their strings are moved into it once parsed.
 */
#include "maps_inline.h"
#include "casefold.h"
#include "maps.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int c_isspace(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}


/* Postfix balpar(): length of the balanced "{...}" group at s, or 0. */
static size_t balanced_len(const char *s)
{
    if (*s != '{')
        return 0;
    int level = 1;
    for (const char *cp = s + 1; *cp; cp++) {
        if (*cp == '}') {
            if (--level == 0)
                return (size_t)(cp - s + 1);
        } else if (*cp == '{') {
            level++;
        }
    }
    return 0;
}

/* Postfix mystrtokq(sp, ", \t\r\n", "{}"): the next item, NUL-terminated
 * in place, or NULL. Separators inside braces do not count. */
static char *next_item(char **sp)
{
    static const char sep[] = ", \t\r\n";
    char *cp = *sp + strspn(*sp, sep);
    char *start = NULL;

    if (*cp) {
        int level = 0;
        for (start = cp; *cp; cp++) {
            if (*cp == '{') {
                level++;
            } else if (level > 0 && *cp == '}') {
                level--;
            } else if (level == 0 && strchr(sep, *cp)) {
                *cp++ = '\0';
                break;
            }
        }
    }
    *sp = cp;
    return start;
}

static void trim_trailing(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && c_isspace((unsigned char)s[n - 1]))
        n--;
    s[n] = '\0';
}

/* Postfix extpar(.., "{}", EXTPAR_FLAG_STRIP). NULL or the reason. */
static const char *strip_braces(char **item, char *why, size_t whylen)
{
    char *cp = *item;
    const char *err = NULL;
    size_t len = balanced_len(cp);

    if (len == 0) {
        snprintf(why, whylen, "missing '}' in \"%s\"", cp);
        err = why;
        cp += 1;
    } else {
        if (cp[len] != '\0') {
            snprintf(why, whylen, "syntax error after '}' in \"%s\"", cp);
            err = why;
        }
        cp += 1;
        cp[len - 2] = '\0';
    }
    trim_trailing(cp);
    while (c_isspace((unsigned char)*cp))
        cp++;
    *item = cp;
    return err;
}

/* Postfix split_qnameval(): NULL, or the reason. */
static const char *split_item(char *buf, char **key, char **value)
{
    int in_quotes = 0;
    char *k = buf;
    while (*k && c_isspace((unsigned char)*k))
        k++;
    if (*k == '\0')
        return "no key found; expected format: key = value";
    char *end = k;
    for (; *end; end++) {
        if (*end == '\\') {
            if (*++end == '\0')
                break;
        } else if (c_isspace((unsigned char)*end) || *end == '=') {
            if (!in_quotes)
                break;
        } else if (*end == '"') {
            in_quotes = !in_quotes;
        }
    }
    if (in_quotes)
        return "unbalanced '\"'";
    char *v = end;
    while (c_isspace((unsigned char)*v))
        v++;
    if (*v != '=')
        return "missing '=' after attribute name";
    *end = '\0';
    do
        v++;
    while (c_isspace((unsigned char)*v));
    trim_trailing(v);
    *key = k;
    *value = v;
    return NULL;
}

struct sort_item {
    struct inline_entry e;
    size_t order;
};

static int sort_cmp(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    int c = strcmp(x->e.key, y->e.key);
    if (c)
        return c;
    return x->order < y->order ? -1 : (x->order > y->order);
}

enum inline_parse_result inline_parse(const char *buf, size_t len, int fold,
                                      struct inline_table *out, char *why, size_t whylen)
{
    char dummy[8];
    enum inline_parse_result res = INLINE_OK;
    struct sort_item *items = NULL;
    size_t n = 0, cap = 0;
    char whybuf[512];

    if (!why) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    memset(out, 0, sizeof(*out));
    /* The reference is a C string: text after a NUL byte does not exist. */
    len = strnlen(buf, len);
    if (!utf8_valid(buf, len)) {
        snprintf(why, whylen, "bad UTF-8 syntax");
        return INLINE_BAD_UTF8;
    }
    char *arena = xstrndup(buf, len);
    size_t glen = balanced_len(arena);
    if (glen == 0 || arena[glen] != '\0' || glen == 2) {
        free(arena);
        snprintf(why, whylen, "bad syntax");
        return INLINE_BAD_SYNTAX;
    }
    arena[glen - 1] = '\0';
    char *cp = arena + 1;
    char *item;
    while ((item = next_item(&cp)) != NULL) {
        const char *err = NULL;
        char *key, *value;
        if (item[0] == '{')
            err = strip_braces(&item, whybuf, sizeof(whybuf));
        if (!err)
            err = split_item(item, &key, &value);
        if (err) {
            snprintf(why, whylen, "%s", err);
            res = INLINE_BAD_ITEM;
            break;
        }
        /* Fold as every fixed table does (Unicode, as Postfix). The text
         * was checked to be UTF-8 above; a key that grows when folded
         * ("ß" -> "ss") is kept in a buffer owned by the table. */
        if (fold) {
            size_t klen = strlen(key);
            char *f = xmalloc(3 * klen + 1);
            if (casefold_utf8(key, klen, f, 3 * klen + 1) < 0)
                str_lower(strcpy(f, key));
            if (strlen(f) <= klen) {
                strcpy(key, f);
                free(f);
            } else {
                out->grown = xrealloc(out->grown, (out->ngrown + 1) * sizeof(*out->grown));
                out->grown[out->ngrown++] = key = f;
            }
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            items = xrealloc(items, cap * sizeof(*items));
        }
        items[n].e = (struct inline_entry){key, strlen(key), value, strlen(value)};
        items[n].order = n;
        n++;
    }
    if (res == INLINE_OK && n == 0) {
        snprintf(why, whylen, "empty table");
        res = INLINE_EMPTY;
    }
    if (res != INLINE_OK) {
        free(items);
        free(arena);
        inline_table_free(out);
        return res;
    }
    /* Sorted by key, then by position: the last of equal keys wins. */
    qsort(items, n, sizeof(*items), sort_cmp);
    out->entries = xmalloc(n * sizeof(*out->entries));
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && strcmp(items[i].e.key, items[i + 1].e.key) == 0)
            continue;
        out->entries[out->n++] = items[i].e;
    }
    free(items);
    out->arena = arena;
    return INLINE_OK;
}

enum inline_parse_result inline_rules_text(const char *buf, size_t len, char **text,
                                           size_t *textlen, char *why, size_t whylen)
{
    char dummy[8];
    char whybuf[512];
    const char *err = NULL;

    if (!why) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    *text = NULL;
    *textlen = 0;
    /* The reference is a C string: text after a NUL byte does not exist. */
    len = strnlen(buf, len);
    char *copy = xstrndup(buf, len);
    struct strbuf out;
    strbuf_init(&out);

    /* Postfix extpar(.., EXTPAR_FLAG_NONE) on the whole text. */
    size_t glen = balanced_len(copy);
    if (copy[0] != '{') {
        snprintf(whybuf, sizeof(whybuf), "no '{' at start of text in \"%s\"", copy);
        err = whybuf;
    } else if (glen == 0) {
        snprintf(whybuf, sizeof(whybuf), "missing '}' in \"%s\"", copy);
        err = whybuf;
    } else if (copy[glen] != '\0') {
        snprintf(whybuf, sizeof(whybuf), "syntax error after '}' in \"%s\"", copy);
        err = whybuf;
    }
    if (!err) {
        copy[glen - 1] = '\0';
        char *cp = copy + 1;
        char *item;
        while (!err && (item = next_item(&cp)) != NULL) {
            if (item[0] != '{') {
                snprintf(whybuf, sizeof(whybuf), "no '{' at start of text in \"%s\"", item);
                err = whybuf;
            } else if ((err = strip_braces(&item, whybuf, sizeof(whybuf))) == NULL) {
                strbuf_puts(&out, item);
                strbuf_putc(&out, '\n');
            }
        }
    }
    free(copy);
    if (err) {
        snprintf(why, whylen, "%s", err);
        strbuf_free(&out);
        return INLINE_BAD_ITEM;
    }
    *textlen = out.len;
    *text = xstrndup(strbuf_cstr(&out), out.len);
    strbuf_free(&out);
    return INLINE_OK;
}

void inline_table_free(struct inline_table *t)
{
    if (t->placed) {
        memset(t, 0, sizeof(*t)); /* the segment's, freed with it */
        return;
    }
    for (size_t i = 0; i < t->ngrown; i++)
        free(t->grown[i]);
    free(t->grown);
    free(t->entries);
    free(t->arena);
    memset(t, 0, sizeof(*t));
}

const struct inline_entry *inline_find(const struct inline_table *t, const char *key,
                                       size_t keylen)
{
    size_t a = 0, b = t->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        const struct inline_entry *e = &t->entries[mid];
        size_t m = e->keylen < keylen ? e->keylen : keylen;
        int c = memcmp(e->key, key, m);
        if (c == 0)
            c = e->keylen < keylen ? -1 : (e->keylen > keylen);
        if (c == 0)
            return e;
        if (c < 0)
            a = mid + 1;
        else
            b = mid;
    }
    return NULL;
}

/* Copy the entries and their strings ("key\0value\0" each) into the
 * placer's memory (maps.h) and free the heap copy; all or nothing. */
static int inline_place(struct inline_table *t)
{
    size_t size = 1;
    for (size_t i = 0; i < t->n; i++)
        size += t->entries[i].keylen + t->entries[i].valuelen + 2;
    struct inline_entry *e = maps_place_alloc((t->n ? t->n : 1) * sizeof(*e), 16);
    char *str = maps_place_alloc(size, 1);
    if (!e || !str)
        return -ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        const struct inline_entry *o = &t->entries[i];
        e[i] = *o;
        e[i].key = memcpy(str, o->key, o->keylen + 1);
        str += o->keylen + 1;
        e[i].value = memcpy(str, o->value, o->valuelen + 1);
        str += o->valuelen + 1;
    }
    size_t n = t->n;
    inline_table_free(t);
    t->entries = e;
    t->n = n;
    t->placed = 1;
    return 0;
}

/* maps.h shared_parts: the entries, then the first key's string. */
static size_t inline_shared_parts(const struct map *m, const void **out, size_t max)
{
    const struct inline_table *t = m->priv;
    if (max > 0)
        out[0] = t->entries;
    if (max > 1)
        out[1] = t->entries[0].key;
    return 2;
}

static int inline_open(struct map *m, struct map_err *err)
{
    struct inline_table *t = xcalloc(1, sizeof(*t));
    char why[512];
    int fold = !(m->open_flags & MAP_OPEN_KEEPCASE);

    if (inline_parse(m->name, strlen(m->name), fold, t, why, sizeof(why)) != INLINE_OK) {
        map_err_set(err, "%s: \"inline:%s\"; need \"inline:{name=value...}\"", why, m->name);
        free(t);
        return -EINVAL;
    }
    if (maps_placing() && inline_place(t) < 0) {
        map_err_set(err, "inline:%s: cannot place the table in the policy segment", m->name);
        inline_table_free(t);
        free(t);
        return -ENOMEM;
    }
    m->priv = t;
    return 0;
}

static int inline_lookup(struct map *m, const char *key, size_t keylen, struct map_value *out)
{
    const struct inline_entry *e = inline_find(m->priv, key, keylen);
    if (!e)
        return 0;
    int rc = map_value_set(out, e->value, e->valuelen);
    return rc < 0 ? rc : 1;
}

static void inline_close(struct map *m)
{
    inline_table_free(m->priv);
    free(m->priv);
}

const struct map_type map_type_inline = {
    .name = "inline",
    .flags = MAP_FIXED | MAP_FOLD,
    .open = inline_open,
    .lookup = inline_lookup,
    .close = inline_close,
    .shared_parts = inline_shared_parts,
};
