/*
 * regex_posix.c - translate glibc POSIX ERE into a Hyperscan expression.
 *
 * glibc's ERE (RE_SYNTAX_POSIX_EXTENDED without RE_NO_GNU_OPS) differs
 * from PCRE in ways that matter for exact answers:
 *  - backslash is literal inside [...]; outside, "\c" is the literal c
 *    except for the GNU operators \w \W \s \S \b \B \< \> \` \' and the
 *    back-references \1..\9 ("\{" is a literal brace, "\n" a literal n,
 *    except that with REG_ICASE "\n" matches nothing: a glibc quirk);
 *  - "$" without REG_NEWLINE matches only at the very end (PCRE also
 *    before a final newline), so it becomes \z;
 *  - with REG_NEWLINE "^" also matches after a newline that ends the
 *    string, which Hyperscan's multi-line ^ does not: such patterns are
 *    left to regexec();
 *  - "." and [^x] match a newline unless REG_NEWLINE;
 *  - quantifiers stack ("a**", "a+?", "x{2}{3}" are greedy repeats of
 *    repeats), "{,n}" means {0,n}, an unmatched ")" is literal.
 * Anything not understood makes the result RXPOSIX_UNSUPPORTED, never a
 * guess. See regex_posix.h for the interface.
 */
#include "regex_posix.h"

#include <hs/hs.h>
#include <regex.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#define NO_ATOM SIZE_MAX

/* The set of bytes 1..255 that the one-character expression re[0..len)
 * matches, asked of glibc itself. 0 on success, -1 if it does not compile. */
static int probe_class(const char *re, size_t len, int cflags, uint8_t set[256])
{
    char pat[512];
    regex_t r;

    if (len + 1 > sizeof(pat))
        return -1;
    memcpy(pat, re, len);
    pat[len] = '\0';
    if (regcomp(&r, pat, cflags | REG_NOSUB) != 0)
        return -1;
    memset(set, 0, 256);
    for (int c = 1; c < 256; c++) {
        char s[2] = {(char)c, 0};
        set[c] = regexec(&r, s, 0, NULL, 0) == 0;
    }
    regfree(&r);
    return 0;
}

static void put_byte(struct strbuf *out, unsigned c)
{
    static const char hex[] = "0123456789abcdef";
    char b[4] = {'\\', 'x', hex[(c >> 4) & 15], hex[c & 15]};
    strbuf_append(out, b, 4);
}

/* A literal byte, escaped so that PCRE syntax cannot read it as an operator. */
static void put_literal(struct strbuf *out, unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        strbuf_putc(out, (char)c);
    else
        put_byte(out, c);
}

/* A byte set as a Hyperscan class of ranges. -1 if empty. */
static int put_set(struct strbuf *out, const uint8_t set[256])
{
    int any = 0;
    strbuf_putc(out, '[');
    for (int c = 1; c < 256;) {
        if (!set[c]) {
            c++;
            continue;
        }
        int e = c;
        while (e + 1 < 256 && set[e + 1])
            e++;
        put_byte(out, (unsigned)c);
        if (e > c) {
            strbuf_putc(out, '-');
            put_byte(out, (unsigned)e);
        }
        any = 1;
        c = e + 1;
    }
    strbuf_putc(out, ']');
    return any ? 0 : -1;
}

/* End of the bracket expression starting at re[i] == '[', or 0 if unclosed. */
static size_t bracket_end(const char *re, size_t i)
{
    i++;
    if (re[i] == '^')
        i++;
    if (re[i] == ']')
        i++;
    while (re[i]) {
        if (re[i] == '[' && (re[i + 1] == ':' || re[i + 1] == '=' || re[i + 1] == '.')) {
            char k = re[i + 1];
            size_t j = i + 2;
            while (re[j] && !(re[j] == k && re[j + 1] == ']'))
                j++;
            if (!re[j])
                return 0;
            i = j + 2;
            continue;
        }
        if (re[i] == ']')
            return i + 1;
        i++;
    }
    return 0;
}

/* Digits at re[j] into *v (saturating; glibc's own limit is 32767). */
static size_t get_count(const char *re, size_t j, long *v)
{
    for (; re[j] >= '0' && re[j] <= '9'; j++)
        *v = *v < 0 ? re[j] - '0' : (*v > 100000 ? *v : *v * 10 + (re[j] - '0'));
    return j;
}

/* Parse "{m}", "{m,}", "{m,n}", "{,n}" at re[i]; emit it; return the index
 * after '}' or 0 when it is not an interval we understand. */
static size_t put_interval(const char *re, size_t i, struct strbuf *out)
{
    long lo = -1, hi = -1;
    int comma = 0;
    size_t j = i + 1;
    j = get_count(re, j, &lo);
    if (re[j] == ',') {
        comma = 1;
        j = get_count(re, j + 1, &hi);
    }
    if (re[j] != '}' || (lo < 0 && hi < 0))
        return 0;
    if (lo < 0)
        lo = 0;
    char b[64];
    int n = !comma ? snprintf(b, sizeof(b), "{%ld}", lo)
            : hi < 0 ? snprintf(b, sizeof(b), "{%ld,}", lo)
                     : snprintf(b, sizeof(b), "{%ld,%ld}", lo, hi);
    strbuf_append(out, b, (size_t)n);
    return j + 1;
}

static void insert_at(struct strbuf *sb, size_t pos, const char *s)
{
    size_t n = strlen(s);
    strbuf_append(sb, s, n); /* grow */
    memmove(sb->buf + pos + n, sb->buf + pos, sb->len - n - pos);
    memcpy(sb->buf + pos, s, n);
}

enum rxposix_result rxposix_translate(const char *re, int cflags, struct strbuf *out,
                                      unsigned *hs_flags)
{
    enum rxposix_result res = RXPOSIX_EXACT;
    size_t atom = NO_ATOM;   /* where the last atom starts in out */
    int after_quant = 0;     /* the last thing emitted was a quantifier */
    size_t groups[64];
    size_t depth = 0;
    uint8_t set[256];
    int newline = (cflags & REG_NEWLINE) != 0;

    strbuf_reset(out);
    *hs_flags = (cflags & REG_ICASE) ? HS_FLAG_CASELESS : 0;
    if (newline)
        *hs_flags |= HS_FLAG_MULTILINE;
    /* BRE (the x flag) has context-dependent * ^ $ and \( \{ \| \+ \?;
     * rare in tables, so regexec() decides rather than a half-right guess. */
    if (!(cflags & REG_EXTENDED))
        return RXPOSIX_UNSUPPORTED;

    for (size_t i = 0; re[i];) {
        unsigned char c = (unsigned char)re[i];
        size_t start = out->len;
        switch (c) {
        case '[': {
            size_t e = bracket_end(re, i);
            if (!e || probe_class(re + i, e - i, cflags, set) < 0 || put_set(out, set) < 0)
                return RXPOSIX_UNSUPPORTED;
            i = e;
            atom = start;
            after_quant = 0;
            continue;
        }
        case '.':
            if (probe_class(".", 1, cflags, set) < 0 || put_set(out, set) < 0)
                return RXPOSIX_UNSUPPORTED;
            i++;
            atom = start;
            after_quant = 0;
            continue;
        case '(':
            if (depth == sizeof(groups) / sizeof(groups[0]))
                return RXPOSIX_UNSUPPORTED;
            groups[depth++] = start;
            strbuf_putc(out, '(');
            i++;
            atom = NO_ATOM;
            after_quant = 0;
            continue;
        case ')':
            if (depth == 0) {
                /* RE_UNMATCHED_RIGHT_PAREN_ORD: a literal. */
                put_literal(out, c);
                atom = start;
            } else {
                strbuf_putc(out, ')');
                atom = groups[--depth];
            }
            i++;
            after_quant = 0;
            continue;
        case '|':
            strbuf_putc(out, '|');
            i++;
            atom = NO_ATOM;
            after_quant = 0;
            continue;
        case '^':
            if (newline)
                return RXPOSIX_UNSUPPORTED;
            strbuf_putc(out, '^');
            i++;
            atom = NO_ATOM;
            after_quant = 0;
            continue;
        case '$':
            strbuf_puts(out, newline ? "$" : "\\z");
            i++;
            atom = NO_ATOM;
            after_quant = 0;
            continue;
        case '*':
        case '+':
        case '?':
        case '{': {
            if (atom == NO_ATOM)
                return RXPOSIX_UNSUPPORTED;
            if (after_quant) {
                insert_at(out, atom, "(?:");
                strbuf_putc(out, ')');
            }
            if (c == '{') {
                size_t e = put_interval(re, i, out);
                if (!e)
                    return RXPOSIX_UNSUPPORTED;
                i = e;
            } else {
                strbuf_putc(out, (char)c);
                i++;
            }
            after_quant = 1;
            continue;
        }
        case '\\': {
            unsigned char d = (unsigned char)re[i + 1];
            const char *anchor = NULL;
            i += 2;
            switch (d) {
            case 0:
                return RXPOSIX_UNSUPPORTED; /* regcomp refuses a trailing backslash */
            case 'w':
            case 'W':
            case 's':
            case 'S': {
                char pat[3] = {'\\', (char)d, 0};
                if (probe_class(pat, 2, cflags, set) < 0 || put_set(out, set) < 0)
                    return RXPOSIX_UNSUPPORTED;
                atom = start;
                after_quant = 0;
                continue;
            }
            case 'b':
                anchor = "\\b";
                break;
            case 'B':
                anchor = "\\B";
                break;
            case '<':
            case '>':
                /* Start/end of word; \b accepts both, regexec() confirms. */
                anchor = "\\b";
                res = RXPOSIX_SUPERSET;
                break;
            case '`':
                anchor = "\\A";
                break;
            case '\'':
                anchor = "\\z";
                break;
            default:
                if (d >= '1' && d <= '9') {
                    char br[3] = {'\\', (char)d, 0};
                    strbuf_puts(out, br);
                } else if ((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || d == '0') {
                    /* "\n" is a literal n, but with REG_ICASE glibc's
                     * "\<lower-case letter>" matches nothing at all: ask. */
                    char pat[3] = {'\\', (char)d, 0};
                    if (probe_class(pat, 2, cflags, set) < 0 || put_set(out, set) < 0)
                        return RXPOSIX_UNSUPPORTED;
                } else {
                    put_literal(out, d);
                }
                atom = start;
                after_quant = 0;
                continue;
            }
            strbuf_puts(out, anchor);
            atom = NO_ATOM;
            after_quant = 0;
            continue;
        }
        default:
            put_literal(out, c);
            i++;
            atom = start;
            after_quant = 0;
            continue;
        }
    }
    if (depth != 0)
        return RXPOSIX_UNSUPPORTED;
    strbuf_cstr(out);
    return res;
}
