/*
 * smtp_reply.c - SMTP server reply and EHLO capability parser (pure).
 *
 * See smtp_reply.h for the interface. Every limit is checked before the
 * bytes are trusted, so a hostile next hop can make us neither read past
 * len nor buffer without end: a partial line longer than the line limit
 * is refused before its line end arrives.
 */
#include "smtp_reply.h"

#include <string.h>

void smtp_reply_reset(struct smtp_reply *r)
{
    memset(r, 0, sizeof(*r));
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "X.Y.Z" at s (n bytes available) with X the reply class, Y and Z 1-3
 * digits, followed by a space or the end of the text (RFC 3463). Returns
 * its length, or 0. */
static size_t dsn_scan(const char *s, size_t n, int code)
{
    size_t i = 0;
    if (n < 5 || s[0] != (char)('0' + code / 100) || s[1] != '.')
        return 0;
    i = 2;
    for (int part = 0; part < 2; part++) {
        size_t start = i;
        while (i < n && is_digit(s[i]) && i - start < 4)
            i++;
        if (i == start || i - start > 3)
            return 0;
        if (part == 0) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < n && s[i] != ' ')
        return 0;
    return i;
}

enum smtp_reply_result smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *r,
                                        const char **why)
{
    static const char *dummy;
    if (why == NULL)
        why = &dummy;
    *why = NULL;
    for (;;) {
        if (r->pos > len) {
            *why = "reply state does not match the buffer";
            return SMTP_REPLY_BAD;
        }
        const char *s = buf + r->pos;
        size_t avail = len - r->pos;
        const char *lf = memchr(s, '\n', avail);
        if (lf == NULL) {
            /* +1: the CR of a line of exactly the maximum length. */
            if (avail > SMTP_REPLY_LINE_MAX + 1) {
                *why = "reply line too long";
                return SMTP_REPLY_BAD;
            }
            if (r->pos + avail > SMTP_REPLY_BYTES_MAX) {
                *why = "reply too long";
                return SMTP_REPLY_BAD;
            }
            return SMTP_REPLY_NEED_MORE;
        }
        size_t n = (size_t)(lf - s);
        size_t next = r->pos + n + 1;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        if (n > SMTP_REPLY_LINE_MAX) {
            *why = "reply line too long";
            return SMTP_REPLY_BAD;
        }
        if (next > SMTP_REPLY_BYTES_MAX) {
            *why = "reply too long";
            return SMTP_REPLY_BAD;
        }
        if (memchr(s, '\0', n) != NULL) {
            *why = "NUL byte in reply";
            return SMTP_REPLY_BAD;
        }
        if (n < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '5' || !is_digit(s[2])) {
            *why = "reply does not start with a valid 3-digit code";
            return SMTP_REPLY_BAD;
        }
        int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
        int last;
        if (n == 3 || s[3] == ' ')
            last = 1;
        else if (s[3] == '-')
            last = 0;
        else {
            *why = "garbage after reply code";
            return SMTP_REPLY_BAD;
        }
        if (r->nlines > 0 && code != r->code) {
            *why = "reply code changes between lines";
            return SMTP_REPLY_BAD;
        }
        if (r->nlines >= SMTP_REPLY_LINES_MAX) {
            *why = "too many reply lines";
            return SMTP_REPLY_BAD;
        }
        if (r->nlines == 0) {
            r->code = code;
            size_t t = n > 3 ? 4 : 3;
            size_t d = dsn_scan(s + t, n - t, code);
            if (d > 0 && d < sizeof(r->dsn)) {
                memcpy(r->dsn, s + t, d);
                r->dsn[d] = '\0';
                t += d;
                if (t < n)
                    t++;
            } else {
                r->dsn[0] = '\0';
            }
            r->text_off = r->pos + t;
            r->text_len = n - t;
        }
        r->nlines++;
        r->pos = next;
        if (last) {
            r->len = next;
            return SMTP_REPLY_OK;
        }
    }
}

size_t smtp_reply_copy(const char *buf, size_t len, char *dst)
{
    size_t out = 0, pos = 0;
    while (pos < len && out < SMTP_REPLY_LINE_MAX) {
        const char *s = buf + pos;
        const char *lf = memchr(s, '\n', len - pos);
        size_t n = lf ? (size_t)(lf - s) : len - pos;
        pos += n + (lf != NULL);
        if (n > 0 && s[n - 1] == '\r')
            n--;
        if (n > SMTP_REPLY_LINE_MAX)
            n = SMTP_REPLY_LINE_MAX;
        if (out > 0) {
            dst[out++] = '\r';
            dst[out++] = '\n';
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            dst[out++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
    }
    dst[out] = '\0';
    return out;
}

/* Case-insensitive compare of token t (n bytes) with the keyword kw. */
static int tok_is(const char *t, size_t n, const char *kw)
{
    size_t k = strlen(kw);
    if (n != k)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = t[i];
        if (a >= 'a' && a <= 'z')
            a = (char)(a - 'a' + 'A');
        if (a != kw[i])
            return 0;
    }
    return 1;
}

/* Next space- or tab-separated token of s[*i..n). */
static int next_tok(const char *s, size_t n, size_t *i, const char **t, size_t *tn)
{
    while (*i < n && (s[*i] == ' ' || s[*i] == '\t'))
        (*i)++;
    if (*i >= n)
        return 0;
    size_t start = *i;
    while (*i < n && s[*i] != ' ' && s[*i] != '\t')
        (*i)++;
    *t = s + start;
    *tn = *i - start;
    return 1;
}

static unsigned auth_mech(const char *t, size_t n)
{
    if (tok_is(t, n, "PLAIN"))
        return SMTP_AUTH_PLAIN;
    if (tok_is(t, n, "LOGIN"))
        return SMTP_AUTH_LOGIN;
    if (tok_is(t, n, "CRAM-MD5"))
        return SMTP_AUTH_CRAM_MD5;
    if (tok_is(t, n, "XOAUTH2"))
        return SMTP_AUTH_XOAUTH2;
    return SMTP_AUTH_OTHER;
}

static void ehlo_line(const char *s, size_t n, struct smtp_ehlo *out)
{
    static const struct {
        const char *kw;
        unsigned ext;
    } simple[] = {
        {"PIPELINING", SMTP_EXT_PIPELINING}, {"8BITMIME", SMTP_EXT_8BITMIME},
        {"SMTPUTF8", SMTP_EXT_SMTPUTF8},     {"STARTTLS", SMTP_EXT_STARTTLS},
        {"ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES},
        {"CHUNKING", SMTP_EXT_CHUNKING},     {"DSN", SMTP_EXT_DSN},
    };
    size_t i = 0;
    const char *kw, *t;
    size_t kn, tn;
    if (!next_tok(s, n, &i, &kw, &kn))
        return;
    for (size_t k = 0; k < sizeof(simple) / sizeof(simple[0]); k++) {
        if (tok_is(kw, kn, simple[k].kw)) {
            out->ext |= simple[k].ext;
            return;
        }
    }
    if (tok_is(kw, kn, "SIZE")) {
        out->ext |= SMTP_EXT_SIZE;
        out->size_max = 0;
        if (next_tok(s, n, &i, &t, &tn)) {
            uint64_t v = 0;
            for (size_t j = 0; j < tn; j++) {
                if (!is_digit(t[j]) || v > (UINT64_MAX - 9) / 10)
                    return; /* unreadable: announced, no known limit */
                v = v * 10 + (uint64_t)(t[j] - '0');
            }
            out->size_max = v;
        }
        return;
    }
    /* "AUTH PLAIN LOGIN", or the pre-RFC 2554 "AUTH=PLAIN LOGIN" that
     * Postfix's client also honours. */
    if (kn >= 4 && tok_is(kw, 4, "AUTH") && (kn == 4 || kw[4] == '=')) {
        out->ext |= SMTP_EXT_AUTH;
        if (kn > 5)
            out->auth |= auth_mech(kw + 5, kn - 5);
        while (next_tok(s, n, &i, &t, &tn))
            out->auth |= auth_mech(t, tn);
    }
}

void smtp_ehlo_parse(const char *buf, size_t len, struct smtp_ehlo *out)
{
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    int first = 1;
    while (pos < len) {
        const char *s = buf + pos;
        const char *lf = memchr(s, '\n', len - pos);
        size_t n = lf ? (size_t)(lf - s) : len - pos;
        pos += n + (lf != NULL);
        if (n > 0 && s[n - 1] == '\r')
            n--;
        if (first) {
            first = 0;
            continue;
        }
        if (n > 4)
            ehlo_line(s + 4, n - 4, out);
    }
}
