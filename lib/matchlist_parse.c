/*
 * matchlist_parse.c - the pure half of match lists: cutting a list into
 * items (Postfix mystrtokq() with "{}" grouping), cutting an include file
 * into logical lines (readlline()), and classifying one item (negation,
 * /file, type:table, text, network pattern parsed as cidr_match_parse()
 * does). See matchlist.h for the semantics.
 *
 * No I/O, no globals. Failure: matchlist_item_parse() returns -EINVAL
 * with the reason in err; allocation failure is fatal (xmalloc).
 */
#include "matchlist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casefold.h"
#include "util.h"

#define SEPARATORS ", \t\r\n" /* Postfix CHARS_COMMA_SP */

static int is_sep(char c)
{
    return c != '\0' && strchr(SEPARATORS, c) != NULL;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int matchlist_next_token(const char *buf, size_t len, size_t *pos, size_t *start, size_t *tlen)
{
    size_t p = *pos;
    /* Postfix works on C strings: a NUL byte ends the list. */
    while (p < len && buf[p] != '\0' && is_sep(buf[p]))
        p++;
    if (p >= len || buf[p] == '\0') {
        *pos = len;
        return 0;
    }
    size_t s = p;
    int level = 0;
    for (; p < len && buf[p] != '\0'; p++) {
        if (buf[p] == '{')
            level++;
        else if (level > 0 && buf[p] == '}')
            level--;
        else if (level == 0 && is_sep(buf[p]))
            break;
    }
    *start = s;
    *tlen = p - s;
    *pos = p;
    return 1;
}

int matchlist_next_line(const char *buf, size_t len, size_t *pos, struct strbuf *line)
{
    for (;;) {
        strbuf_reset(line);
        int have = 0, skip = 0;
        while (*pos < len) {
            const char *b = buf + *pos;
            const char *nl = memchr(b, '\n', len - *pos);
            size_t n = nl ? (size_t)(nl - b) : len - *pos;
            size_t i = 0;
            while (i < n && is_space(b[i]))
                i++;
            int blank = i == n || b[i] == '#';
            int cont = n > 0 && is_space(b[0]);
            if (!blank && (have || skip) && !cont)
                break; /* the next logical line starts here */
            *pos += n + (nl ? 1 : 0);
            if (blank)
                continue;
            if (!have && !skip && cont) {
                skip = 1; /* a first line must not start with white space */
                continue;
            }
            if (skip)
                continue;
            strbuf_append(line, b, n);
            have = 1;
        }
        if (have) {
            strbuf_cstr(line);
            /* Text after a NUL byte is invisible to Postfix. */
            line->len = strlen(line->buf);
            return 1;
        }
        if (!skip)
            return 0;
    }
}

void matchlist_item_clear(struct matchlist_item *it)
{
    free(it->text);
    it->text = NULL;
}

/* cidr_match_parse() on a copy of the pattern. 0 or -EINVAL + err. */
static int parse_net(const char *text, struct cidr_rule *r, struct matchlist_err *err)
{
    /* The longest valid form, "[" v6 "]/128", is far below this. */
    char copy[128];
    if (strlen(text) >= sizeof(copy)) {
        snprintf(err->msg, sizeof(err->msg), "bad address pattern: \"%.100s...\"", text);
        return -EINVAL;
    }
    strcpy(copy, text);
    return cidr_pattern_parse(copy, 1, r, err->msg, sizeof(err->msg)) ? -EINVAL : 0;
}

#define V4_CHARS "01234567890."
#define V6_CHARS V4_CHARS "abcdefABCDEF:"

/*
 * Whether match_hostaddr() would reach cidr_match_parse() for this
 * pattern with an address of the pattern's own family: it has ':' or '/',
 * is not just IPv4 characters, and has nothing but address characters and
 * "[]/". Anything else is compared as text only (and silently never
 * matches an address unless equal to it), as in Postfix.
 */
static int is_net_pattern(const char *p)
{
    return p[strcspn(p, ":/")] != '\0' && p[strspn(p, V4_CHARS)] != '\0' &&
           p[strspn(p, V6_CHARS "[]/")] == '\0';
}

/* Fold as Postfix's casefold(): Unicode with valid UTF-8, else ASCII. */
static char *fold(const char *s, size_t len)
{
    char *out = xmalloc(3 * len + 1);
    if (casefold_utf8(s, len, out, 3 * len + 1) < 0) {
        for (size_t i = 0; i < len; i++)
            out[i] = ascii_lower(s[i]);
        out[len] = '\0';
    }
    return out;
}

int matchlist_item_parse(const char *tok, size_t len, enum matchlist_kind kind, int match,
                         struct matchlist_item *out, struct matchlist_err *err)
{
    memset(out, 0, sizeof(*out));
    size_t i = 0;
    for (; i < len && tok[i] == '!'; i++)
        match = !match;
    const char *item = tok + i;
    size_t n = len - i;
    if (memchr(item, '\0', n))
        n = strlen(item); /* C-string view, as Postfix has it */
    if (n == 0) {
        snprintf(err->msg, sizeof(err->msg), "no pattern after '!'");
        return -EINVAL;
    }
    if (n >= MATCHLIST_NAME_MAX) {
        snprintf(err->msg, sizeof(err->msg), "pattern too long: \"%.40s...\"", item);
        return -EINVAL;
    }
    out->match = (uint8_t)(match != 0);
    if (item[0] == '/') {
        out->type = MLI_FILE;
        out->text = xmalloc(n + 1);
        memcpy(out->text, item, n);
        out->text[n] = '\0';
        out->len = n;
        return 0;
    }
    if (item[0] != '[' && memchr(item, ':', n)) {
        /* Table references are not folded: file names keep their case. */
        out->type = MLI_TABLE;
        out->text = xmalloc(n + 1);
        memcpy(out->text, item, n);
        out->text[n] = '\0';
        out->len = n;
        return 0;
    }
    out->type = MLI_STRING;
    out->text = fold(item, n);
    out->len = strlen(out->text);
    if (kind != MATCHLIST_DOMAIN && is_net_pattern(out->text)) {
        int rc = parse_net(out->text, &out->net, err);
        if (rc < 0) {
            matchlist_item_clear(out);
            return rc;
        }
        out->has_net = 1;
    }
    return 0;
}
