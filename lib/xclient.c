/*
 * xclient.c - XCLIENT attribute list parser (Postfix 3.7 smtpd.c xclient_cmd).
 *
 * The steps and their order follow xclient_cmd() so that the first error
 * found, and its reply, are Postfix's: for each token, split at the first
 * '=' (none, or an empty value: "attribute=value expected"), check the raw
 * length (> 255: "value too long"), xtext-decode, mask non-printables,
 * and only then look at the attribute name. A decoded +00 ends the value,
 * as the NUL ends Postfix's C string ("NAME=+00" gives "Bad NAME syntax: ").
 *
 * Checked against the installed Postfix 3.7.11 smtpd (run on stdin as the
 * mail_owner, with smtpd_authorized_xclient_hosts matching): every reply
 * text in the unit test table is what it answered.
 */
#include "xclient.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hostname.h"

static const char *const attr_names[XCLIENT_NATTR] = {
    [XCLIENT_NAME] = "NAME",
    [XCLIENT_REVERSE_NAME] = "REVERSE_NAME",
    [XCLIENT_ADDR] = "ADDR",
    [XCLIENT_PORT] = "PORT",
    [XCLIENT_PROTO] = "PROTO",
    [XCLIENT_HELO] = "HELO",
    [XCLIENT_LOGIN] = "LOGIN",
    [XCLIENT_DESTADDR] = "DESTADDR",
    [XCLIENT_DESTPORT] = "DESTPORT",
};

const char *xclient_attr_name(enum xclient_attr a)
{
    return (unsigned)a < XCLIENT_NATTR ? attr_names[a] : "";
}

static int is_space(unsigned c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* smtp_quoted(): i is just past the opening '<' or '"'. The parser stack
 * of smtpd_token.c only ever holds some '>' with at most one '"' on top,
 * so a count and a flag stand for it. Returns the index past the closing
 * character, or len when it is missing. */
static size_t skip_quoted(const char *s, size_t len, size_t i, char open)
{
    size_t angles = open == '<';
    int quote = open == '"';

    while (i < len) {
        char c = s[i++];
        char wanted = quote ? '"' : '>';
        if (c == '\\') {
            if (i == len)
                break;
            i++;
        } else if (c == wanted) {
            if (angles + (size_t)quote == 1)
                return i;
            if (quote)
                quote = 0;
            else
                angles--;
        } else if (c == '"') {
            quote = 1;
        } else if (c == '<' && !quote) {
            angles++;
        }
    }
    return len;
}

/* smtp_next_token(): a token is always a contiguous piece of the input
 * (only white space between tokens is dropped). 0 when none is left. */
static int next_token(const char *s, size_t len, size_t *pos, const char **tok, size_t *tlen)
{
    size_t i = *pos, start = i;

    while (i < len) {
        char c = s[i];
        if (is_space((unsigned char)c)) {
            if (i > start)
                break;
            start = ++i;
            continue;
        }
        i++;
        if (c == '<' || c == '"') {
            i = skip_quoted(s, len, i, c);
        } else if (c == ':') {
            /* "this is gross, but...": "to:" and "from:" end a token. */
            size_t n = i - start;
            if ((n == 3 && strncasecmp(s + start, "to:", 3) == 0) ||
                (n == 5 && strncasecmp(s + start, "from:", 5) == 0))
                break;
        } else if (c == '\\' && i < len) {
            i++;
        }
    }
    *pos = i;
    if (i == start)
        return 0;
    *tok = s + start;
    *tlen = i - start;
    return 1;
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

/* xtext_unquote(); on malformed +HH the raw value is used as it is. The
 * result is cut at the first NUL. dst has room for len + 1 bytes. */
static size_t decode_value(const char *raw, size_t len, char *dst)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (raw[i] != '+') {
            dst[n++] = raw[i];
            continue;
        }
        int hi = i + 1 < len ? hexval((unsigned char)raw[i + 1]) : -1;
        int lo = i + 2 < len ? hexval((unsigned char)raw[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            memcpy(dst, raw, len);
            n = len;
            break;
        }
        dst[n++] = (char)(hi << 4 | lo);
        i += 2;
    }
    dst[n] = '\0';
    return strlen(dst);
}

/* printable(): with UTF-8 enabled a lead byte 0xc2..0xfe followed by a
 * continuation byte is kept with all the continuation bytes after it. */
static void printable(char *s, size_t len, int utf8)
{
    unsigned char *p = (unsigned char *)s;

    for (size_t i = 0; i < len; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f)
            continue;
        if (utf8 && p[i] >= 194 && p[i] <= 254 && i + 1 < len && p[i + 1] >= 128 &&
            p[i + 1] < 192) {
            while (i + 1 < len && p[i + 1] >= 128 && p[i + 1] < 192)
                i++;
            continue;
        }
        p[i] = '?';
    }
}

static int is_word(const char *v, size_t n, const char *w)
{
    return n == strlen(w) && strncasecmp(v, w, n) == 0;
}

static int all_digits(const char *v, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

/* Check one decoded value; 0 if Postfix answers "Bad %s syntax". */
static int set_value(enum xclient_attr a, const char *v, size_t n, struct xclient_value *out)
{
    int unavail = is_word(v, n, "[UNAVAILABLE]");

    out->bare = 0;
    switch (a) {
    case XCLIENT_NAME:
    case XCLIENT_REVERSE_NAME:
        if (unavail)
            out->state = XCLIENT_UNAVAILABLE;
        else if (is_word(v, n, "[TEMPUNAVAIL]"))
            out->state = XCLIENT_TEMPUNAVAIL;
        else if (hostname_valid(v, n))
            out->state = XCLIENT_VALUE;
        else
            return 0;
        break;
    case XCLIENT_ADDR:
    case XCLIENT_DESTADDR:
        if (unavail)
            out->state = XCLIENT_UNAVAILABLE;
        else if (hostname_mailhost_addr(v, n, &out->bare))
            out->state = XCLIENT_VALUE;
        else
            return 0;
        break;
    case XCLIENT_PORT:
    case XCLIENT_DESTPORT:
        /* alldig() and at most five digits: no range check in 3.7. */
        if (unavail)
            out->state = XCLIENT_UNAVAILABLE;
        else if (all_digits(v, n) && n <= 5)
            out->state = XCLIENT_VALUE;
        else
            return 0;
        break;
    case XCLIENT_PROTO:
        if (!is_word(v, n, "SMTP") && !is_word(v, n, "ESMTP"))
            return 0;
        out->state = XCLIENT_VALUE;
        break;
    case XCLIENT_HELO:
        if (unavail)
            out->state = XCLIENT_UNAVAILABLE;
        else if (n > HOSTNAME_MAX)
            return 0;
        else
            out->state = XCLIENT_VALUE;
        break;
    case XCLIENT_LOGIN:
        out->state = unavail ? XCLIENT_UNAVAILABLE : XCLIENT_VALUE;
        break;
    case XCLIENT_NATTR:
        return 0;
    }
    memcpy(out->text, v, n);
    out->text[n] = '\0';
    out->len = n;
    if (out->state != XCLIENT_VALUE)
        return 1;
    if (a == XCLIENT_PROTO)
        for (size_t i = 0; i < n; i++)
            if (out->text[i] >= 'a' && out->text[i] <= 'z')
                out->text[i] = (char)(out->text[i] - 'a' + 'A');
    if (a == XCLIENT_HELO) /* neuter(NEUTER_CHARACTERS): keep headers sane */
        for (size_t i = 0; i < n; i++)
            if (strchr(" <>()\\\";@", out->text[i]))
                out->text[i] = '?';
    return 1;
}

enum xclient_result xclient_parse_flags(const char *args, size_t len, unsigned flags,
                                        struct xclient_attrs *out)
{
    size_t pos = 0, tlen;
    const char *tok;
    int count = 0;
    char value[XCLIENT_VALUE_MAX + 1];

    memset(out, 0, sizeof(*out));
    len = strnlen(args, len); /* Postfix sees a C string */
    while (next_token(args, len, &pos, &tok, &tlen)) {
        const char *eq = memchr(tok, '=', tlen);
        count++;
        if (eq == NULL || eq == tok + tlen - 1)
            return XCLIENT_ERR_ATTR_EXPECTED;
        size_t nlen = (size_t)(eq - tok), rawlen = tlen - nlen - 1;
        if (rawlen > XCLIENT_VALUE_MAX)
            return XCLIENT_ERR_TOO_LONG;
        size_t vlen = decode_value(eq + 1, rawlen, value);
        printable(value, vlen, !(flags & XCLIENT_FLAG_ASCII));

        enum xclient_attr a = XCLIENT_NATTR;
        for (int i = 0; i < XCLIENT_NATTR; i++)
            if (is_word(tok, nlen, attr_names[i]))
                a = (enum xclient_attr)i;
        if (a == XCLIENT_NATTR) {
            out->bad_name = tok;
            out->bad_name_len = nlen;
            return XCLIENT_ERR_BAD_NAME;
        }
        struct xclient_value tmp;
        if (!set_value(a, value, vlen, &tmp)) {
            out->bad_attr = a;
            memcpy(out->bad_value, value, vlen + 1);
            return XCLIENT_ERR_BAD_VALUE;
        }
        out->attr[a] = tmp;
    }
    return count ? XCLIENT_OK : XCLIENT_ERR_SYNTAX;
}

enum xclient_result xclient_parse(const char *args, size_t len, struct xclient_attrs *out)
{
    return xclient_parse_flags(args, len, 0, out);
}

size_t xclient_reply(enum xclient_result r, const struct xclient_attrs *a, char *buf, size_t size)
{
    int n = 0;

    switch (r) {
    case XCLIENT_OK:
        n = snprintf(buf, size, "%s", "");
        break;
    case XCLIENT_ERR_SYNTAX:
        n = snprintf(buf, size, "%s", XCLIENT_REPLY_SYNTAX);
        break;
    case XCLIENT_ERR_ATTR_EXPECTED:
        n = snprintf(buf, size, "%s", XCLIENT_REPLY_ATTR_EXPECTED);
        break;
    case XCLIENT_ERR_TOO_LONG:
        n = snprintf(buf, size, "%s", XCLIENT_REPLY_TOO_LONG);
        break;
    case XCLIENT_ERR_BAD_VALUE:
        n = snprintf(buf, size, XCLIENT_REPLY_BAD_VALUE, xclient_attr_name(a->bad_attr),
                     a->bad_value);
        break;
    case XCLIENT_ERR_BAD_NAME: {
        int nl = a->bad_name_len > 65535 ? 65535 : (int)a->bad_name_len;
        n = snprintf(buf, size, "501 5.5.4 Bad XCLIENT attribute name: %.*s", nl,
                     a->bad_name ? a->bad_name : "");
        break;
    }
    }
    return n < 0 ? 0 : (size_t)n;
}
