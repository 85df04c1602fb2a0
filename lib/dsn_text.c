/*
 * dsn_text.c - the small text routines Postfix's bounce(8) output depends
 * on, each redone from the Postfix routine it names so that a notification
 * reads byte for byte like Postfix's: printable() masking, line_wrap(),
 * quote_822_local(), mail_date() and is_header().
 *
 * All pure: no I/O, no globals (mail_date reads the local time zone as
 * Postfix does). Failure: only dsn_mail_date() can fail (-EINVAL, -ENOSPC).
 */
#include "dsn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0. Overlong forms,
 * surrogates and code points above U+10FFFF are not valid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0;
        if (c == 0xed && s[1] > 0x9f)
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90)
            return 0;
        if (c == 0xf4 && s[1] > 0x8f)
            return 0;
        return 4;
    }
    return 0;
}

void dsn_printable(char *s, bool utf8)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        if (*p >= 0x20 && *p < 0x7f) {
            p++;
            continue;
        }
        size_t n = (utf8 && *p >= 0x80) ? utf8_seq(p) : 0;
        if (n) {
            p += n;
        } else {
            *p++ = '?';
        }
    }
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void put_line(struct strbuf *out, int indent, const char *s, size_t len)
{
    for (int i = 0; i < indent; i++)
        strbuf_putc(out, ' ');
    strbuf_append(out, s, len);
    strbuf_append(out, "\r\n", 2);
}

/* Postfix line_wrap() with a positive indent, the only form bounce uses:
 * a word that would end past the width starts a new line (unless it is
 * the first on its line); whitespace at the break is dropped. */
void dsn_line_wrap(const char *text, size_t len, int width, int indent, struct strbuf *out)
{
    const char *end = text + len;
    const char *start = text, *word = text;
    int cur_indent = 0, cur_len = width;

    while (word != NULL) {
        const char *next_space = word;
        while (next_space < end && !is_blank(*next_space))
            next_space++;
        if (word > start && next_space - start > cur_len) {
            size_t n = (size_t)(word - start);
            while (n > 0 && is_blank(start[n - 1]))
                n--;
            put_line(out, cur_indent, start, n);
            while (word < end && is_blank(*word))
                word++;
            if (start == text) {
                cur_indent += indent;
                cur_len -= indent;
            }
            start = word;
        }
        word = next_space < end ? next_space + 1 : NULL;
    }
    size_t n = (size_t)(end - start);
    while (n > 0 && is_blank(start[n - 1]))
        n--;
    put_line(out, cur_indent, start, n);
}

/* RFC 822 specials plus space and controls (Postfix LEX_822_SPECIALS and
 * the dot-string rules of is_822_dot_string). */
static bool local_needs_quote(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* Specials but the dot, which is checked as a dot-string. */
        if (c <= ' ' || c == 0x7f || strchr("()<>@,;:\\\"[]", c))
            return true;
        if (c == '.' && i + 1 < n && s[i + 1] == '.')
            return true;
    }
    return false;
}

void dsn_quote_822_local(const char *addr, struct strbuf *out)
{
    const char *at = strrchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : strlen(addr);
    if (!local_needs_quote(addr, n)) {
        strbuf_puts(out, addr);
        return;
    }
    strbuf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        /* make_822_quoted_string(): backslash before " \ and CR. */
        if (addr[i] == '"' || addr[i] == '\\' || addr[i] == '\r')
            strbuf_putc(out, '\\');
        strbuf_putc(out, addr[i]);
    }
    strbuf_putc(out, '"');
    if (at)
        strbuf_puts(out, at);
}

int dsn_mail_date(time_t t, char *buf, size_t size)
{
    struct tm lt;
    if (buf == NULL || size == 0)
        return -EINVAL;
    buf[0] = '\0';
    if (localtime_r(&t, &lt) == NULL)
        return -EINVAL;
    /* Postfix 3.7: %e, a day below 10 has a leading blank. */
    size_t n = strftime(buf, size, "%a, %e %b %Y %H:%M:%S ", &lt);
    if (n == 0)
        return -ENOSPC;
    long off = lt.tm_gmtoff / 60;
    int m = snprintf(buf + n, size - n, "%+03d%02d", (int)(off / 60), (int)(labs(off) % 60));
    if (m < 0 || (size_t)m >= size - n)
        return -ENOSPC;
    n += (size_t)m;
    if (strftime(buf + n, size - n, " (%Z)", &lt) == 0)
        return -ENOSPC;
    return 0;
}

size_t dsn_is_header(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)line[i];
        if (c == ':')
            return i;
        if (c <= ' ' || c >= 0x7f)
            break;
        i++;
    }
    size_t name = i;
    if (name == 0)
        return 0;
    while (i < len && is_blank(line[i]))
        i++;
    return (i < len && line[i] == ':') ? name : 0;
}
