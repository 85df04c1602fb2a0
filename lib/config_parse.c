/*
 * config_parse.c - read main.cf text the way Postfix does. Pure: no I/O.
 *
 * Logical lines (Postfix readllines()): a line whose first non-blank
 * character is '#', and a blank line, are skipped, even between a line and
 * its continuation; a line that starts with whitespace continues the
 * previous logical line (the newline is dropped, the leading whitespace is
 * kept); a logical line that starts with whitespace is skipped with a
 * warning. Each logical line must be "name = value" (Postfix
 * split_nameval(): the name ends at whitespace or '=', blanks around '='
 * are optional, the value is trimmed). The last definition of a name wins.
 *
 * Interface: cfg_parse(buf, len, fname, out, diag). Errors name the first
 * physical line of the logical line, as postconf does:
 *   "FILE, line N: missing '=' after attribute name: "foo bar""
 * Failure: -EINVAL when any line is bad; all bad lines are reported and
 * all good ones are still returned. A NUL byte ends its logical line with
 * a warning (Postfix: "text after null byte may be ignored").
 */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_space(char c)
{
    /* Postfix ISSPACE(): the C locale isspace(). */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void cfg_diag_init(struct cfg_diag *d)
{
    memset(d, 0, sizeof(*d));
}

void cfg_diag_free(struct cfg_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].text);
    free(d->v);
    cfg_diag_init(d);
}

void cfg_diag_add(struct cfg_diag *d, enum cfg_diag_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
    }
    d->v[d->n].level = lvl;
    d->v[d->n].text = text;
    d->n++;
    if (lvl == CFG_DIAG_ERROR)
        d->errors++;
    else
        d->warnings++;
}

const char *cfg_diag_find(const struct cfg_diag *d, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->v[i].text, needle))
            return d->v[i].text;
    return NULL;
}

const struct cfg_entry *cfg_file_find(const struct cfg_file *f, const char *name, size_t len)
{
    for (size_t i = 0; i < f->n; i++)
        if (strlen(f->v[i].name) == len && memcmp(f->v[i].name, name, len) == 0)
            return &f->v[i];
    return NULL;
}

void cfg_file_free(struct cfg_file *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        free(f->v[i].value);
    }
    free(f->v);
    memset(f, 0, sizeof(*f));
}

static void file_set(struct cfg_file *f, const char *name, size_t nlen, const char *val,
                     size_t vlen, int line)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strlen(f->v[i].name) == nlen && memcmp(f->v[i].name, name, nlen) == 0) {
            free(f->v[i].value);
            f->v[i].value = xstrndup(val, vlen);
            f->v[i].line = line;
            return;
        }
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 32;
        f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
    }
    f->v[f->n].name = xstrndup(name, nlen);
    f->v[f->n].value = xstrndup(val, vlen);
    f->v[f->n].line = line;
    f->n++;
}

/* Quote at most 60 bytes of a line in a message. */
static void report(struct cfg_diag *diag, enum cfg_diag_level lvl, const char *fname, int line,
                   const char *what, const char *text, size_t len)
{
    int shown = len > 60 ? 60 : (int)len;
    cfg_diag_add(diag, lvl, "%s, line %d: %s: \"%.*s%s\"", fname, line, what, shown, text,
                 len > 60 ? "..." : "");
}

/* split_nameval() on one logical line. */
static int split_line(const char *s, size_t len, const char *fname, int line,
                      struct cfg_file *out, struct cfg_diag *diag)
{
    size_t i = 0;
    while (i < len && is_space(s[i]))
        i++;
    size_t name_start = i;
    while (i < len && !is_space(s[i]) && s[i] != '=')
        i++;
    size_t name_end = i;
    while (i < len && is_space(s[i]))
        i++;
    if (name_end == name_start) {
        report(diag, CFG_DIAG_ERROR, fname, line, "missing attribute name", s, len);
        return -EINVAL;
    }
    if (i >= len || s[i] != '=') {
        report(diag, CFG_DIAG_ERROR, fname, line, "missing '=' after attribute name", s, len);
        return -EINVAL;
    }
    i++;
    while (i < len && is_space(s[i]))
        i++;
    size_t vend = len;
    while (vend > i && is_space(s[vend - 1]))
        vend--;
    file_set(out, s + name_start, name_end - name_start, s + i, vend - i, line);
    return 0;
}

int cfg_parse(const char *buf, size_t len, const char *fname, struct cfg_file *out,
              struct cfg_diag *diag)
{
    struct strbuf lbuf;
    int rc = 0;
    size_t pos = 0;
    int lineno = 0;

    strbuf_init(&lbuf);
    while (pos < len) {
        /* Collect one logical line. */
        strbuf_reset(&lbuf);
        int first_line = 0;
        bool got_nul = false;
        while (pos < len) {
            const char *p = buf + pos;
            const char *nl = memchr(p, '\n', len - pos);
            size_t plen = nl ? (size_t)(nl - p) : len - pos;
            pos += plen + (nl ? 1 : 0);
            lineno++;
            size_t k = 0;
            while (k < plen && is_space(p[k]))
                k++;
            bool skip = (k == plen || p[k] == '#');
            if (!skip) {
                if (lbuf.len == 0)
                    first_line = lineno;
                const char *z = memchr(p, '\0', plen);
                if (z) {
                    got_nul = true;
                    plen = (size_t)(z - p);
                }
                strbuf_append(&lbuf, p, plen);
            }
            /* Stop before the next line unless it continues this one
             * (starts with whitespace) or is a comment. */
            if (lbuf.len > 0 && pos < len && buf[pos] != '#' && !is_space(buf[pos]))
                break;
        }
        if (lbuf.len == 0)
            continue;
        const char *text = strbuf_cstr(&lbuf);
        if (got_nul)
            cfg_diag_add(diag, CFG_DIAG_WARN, "%s, line %d: text after null byte may be ignored",
                         fname, first_line);
        if (is_space(text[0])) {
            report(diag, CFG_DIAG_WARN, fname, first_line,
                   "logical line must not start with whitespace", text, lbuf.len);
            continue;
        }
        if (split_line(text, lbuf.len, fname, first_line, out, diag) < 0)
            rc = -EINVAL;
    }
    strbuf_free(&lbuf);
    return rc;
}
