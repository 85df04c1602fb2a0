/*
 * maps_source.c - parser of postmap(1) source text; see maps_source.h.
 *
 * The logical-line rules mirror Postfix 3.7 readllines() byte for byte
 * (including its quirks: a comment or blank line inside a multi-line entry
 * does not end it; continuation text without a preceding line is dropped
 * with a warning that carries no line number), and the key/value split
 * mirrors postmap.c, so that a source file gives the same table and the
 * same warnings here as under postmap.
 */
#include "maps_source.h"
#include "casefold.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Postfix ISSPACE(): isspace() restricted to ASCII, locale-independent. */
static int src_isspace(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Copy at most max bytes of the C string s into out for a warning, with
 * control characters and invalid UTF-8 replaced by '?', as Postfix's
 * logging does. Returns whether s was longer than max.
 */
static void printable_copy(char *out, size_t outsz, const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t slen = strlen(s), lim = slen < max ? slen : max, o = 0;

    for (size_t i = 0; i < lim && o + 5 < outsz;) {
        size_t n = utf8_seq_len(u + i, lim - i);
        if (n <= 1 || i + n > lim) {
            out[o++] = (u[i] < 0x20 || u[i] >= 0x7f) ? '?' : (char)u[i];
            i++;
        } else {
            memcpy(out + o, u + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
}

struct src_state {
    const char *path;
    unsigned flags;
    const struct map_source_ops *ops;
    void *ctx;
};

__attribute__((format(printf, 2, 3))) static void src_warn(struct src_state *st, const char *fmt,
                                                           ...)
{
    char msg[1024];
    va_list ap;

    if (!st->ops->warn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    st->ops->warn(st->ctx, msg);
}

/* Split one logical line (a C string, modified in place) and report it. */
static int src_entry(struct src_state *st, char *line, size_t len, int lineno)
{
    char shown[640];
    const char *ignoring = (st->flags & MAP_SOURCE_TEXTHASH) ? " -- ignoring this line" : "";
    size_t clen = strlen(line); /* callers see a C string: stop at a NUL byte */
    int in_quotes = 0;
    char *value;

    if (st->flags & MAP_SOURCE_UTF8) {
        int ascii = 1;
        for (size_t i = 0; i < clen && ascii; i++)
            ascii = (unsigned char)line[i] < 0x80;
        /* Postfix checks all bytes of the buffer here, not only the C string. */
        if (!ascii && !utf8_valid(line, len)) {
            printable_copy(shown, sizeof(shown), line, 512);
            src_warn(st, "%s, line %d: non-UTF-8 input \"%s\" -- ignoring this line", st->path,
                     lineno, shown);
            return 0;
        }
    }

    /* The key ends at the first white space outside quotes; '\' protects. */
    for (value = line; *value; value++) {
        if (*value == '\\') {
            if (*++value == 0)
                break;
        } else if (src_isspace((unsigned char)*value)) {
            if (!in_quotes)
                break;
        } else if (*value == '"') {
            in_quotes = !in_quotes;
        }
    }
    if (in_quotes) {
        printable_copy(shown, sizeof(shown), line, 512);
        src_warn(st, "%s, line %d: unbalanced '\"' in '%s' -- ignoring this line", st->path, lineno,
                 shown);
        return 0;
    }
    size_t keylen = (size_t)(value - line);
    if (*value)
        *value++ = 0;
    while (src_isspace((unsigned char)*value))
        value++;
    size_t vlen = strlen(value);
    while (vlen > 0 && src_isspace((unsigned char)value[vlen - 1]))
        vlen--;
    value[vlen] = 0;

    if (keylen == 0 || vlen == 0) {
        src_warn(st, "%s, line %d: expected format: key whitespace value%s", st->path, lineno,
                 ignoring);
        return 0;
    }
    if (line[keylen - 1] == ':')
        src_warn(st, "%s, line %d: record is in \"key: value\" format; is this an alias file?",
                 st->path, lineno);
    /* Fold as postmap does: full Unicode case folding when UTF-8 is on
     * (the line was checked above), ASCII only with -u. In place when the
     * folded key is no longer (always for ASCII); a key that grows ("ß" ->
     * "ss") goes through a scratch buffer. */
    char *key = line;
    char grown[3 * 512 + 1];
    if ((st->flags & MAP_SOURCE_FOLD) && !(st->flags & MAP_SOURCE_UTF8)) {
        for (size_t i = 0; i < keylen; i++)
            line[i] = ascii_lower(line[i]);
    } else if (st->flags & MAP_SOURCE_FOLD) {
        char *tmp = keylen <= 512 ? grown : xmalloc(3 * keylen + 1);
        long n = casefold_utf8(line, keylen, tmp, 3 * keylen + 1);
        if (n < 0) /* cannot happen: valid UTF-8 and room for 3x */
            n = 0;
        if ((size_t)n <= keylen) {
            memcpy(line, tmp, (size_t)n);
            line[n] = '\0';
            if (tmp != grown)
                free(tmp);
        } else {
            key = tmp;
        }
        keylen = (size_t)n;
    }

    struct map_source_entry e = {key, keylen, value, vlen, lineno};
    int rc = st->ops->entry(st->ctx, &e);
    if (key != line && key != grown)
        free(key);
    return rc;
}

int map_source_parse(const char *buf, size_t len, const char *path, unsigned flags,
                     const struct map_source_ops *ops, void *ctx)
{
    struct src_state st = {path, flags, ops, ctx};
    struct strbuf lb;
    size_t pos = 0;
    int lineno = 0, rc = 0;

    strbuf_init(&lb);
    for (;;) {
        /* Collect one logical line (readllines()). */
        int first_line = lineno + 1;
        int at_eof = 0;

        strbuf_reset(&lb);
        for (;;) {
            size_t start = lb.len;
            const char *nl = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
            size_t end = nl ? (size_t)(nl - buf) : len;

            strbuf_append(&lb, buf + pos, end - pos);
            at_eof = (nl == NULL);
            pos = nl ? end + 1 : len;
            if (!at_eof || lb.len > start)
                lineno++;
            /* Ignore comment lines, white-space-only lines, empty lines. */
            size_t i = start;
            while (i < lb.len && src_isspace((unsigned char)lb.buf[i]))
                i++;
            if (i == lb.len || lb.buf[i] == '#')
                lb.len = start;
            if (start == 0)
                first_line = lineno;
            if (at_eof)
                break;
            /* The next line continues this one if it starts with white
             * space or '#' (a comment inside a multi-line entry). */
            if (lb.len > 0 &&
                (pos >= len || (buf[pos] != '#' && !src_isspace((unsigned char)buf[pos]))))
                break;
        }
        strbuf_cstr(&lb);
        if (lb.len == 0)
            break;
        if (src_isspace((unsigned char)lb.buf[0])) {
            char shown[160];
            printable_copy(shown, sizeof(shown), lb.buf, 30);
            /* Postfix compares the buffer length, NUL bytes included. */
            src_warn(&st, "%s: logical line must not start with whitespace: \"%s%s\"", path, shown,
                     lb.len > 30 ? "..." : "");
            if (at_eof)
                break;
            continue;
        }
        rc = src_entry(&st, lb.buf, lb.len, first_line);
        if (rc != 0 || at_eof)
            break;
    }
    strbuf_free(&lb);
    return rc;
}
