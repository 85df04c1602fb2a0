/*
 * dummy_cmd.c - see dummy_cmd.h.
 */
#include "dummy_cmd.h"

#include <strings.h>

static const struct {
    const char *name;
    size_t len;
    enum dummy_verb v;
} verbs[] = {
    {"HELO", 4, DUMMY_HELO}, {"EHLO", 4, DUMMY_EHLO}, {"MAIL", 4, DUMMY_MAIL},
    {"RCPT", 4, DUMMY_RCPT}, {"DATA", 4, DUMMY_DATA}, {"RSET", 4, DUMMY_RSET},
    {"NOOP", 4, DUMMY_NOOP}, {"QUIT", 4, DUMMY_QUIT},
};

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

const char *dummy_cmd_name(enum dummy_verb v)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (verbs[i].v == v)
            return verbs[i].name;
    return v == DUMMY_EMPTY ? "" : "UNKNOWN";
}

enum dummy_verb dummy_cmd_parse(const char *line, size_t len, const char **arg, size_t *arglen)
{
    *arg = line + len;
    *arglen = 0;
    while (len > 0 && (line[len - 1] == '\r' || is_space(line[len - 1])))
        len--;
    size_t i = 0;
    while (i < len && is_space(line[i]))
        i++;
    if (i == len)
        return DUMMY_EMPTY;
    size_t w = i;
    while (i < len && !is_space(line[i]))
        i++;
    size_t wl = i - w;
    enum dummy_verb v = DUMMY_UNKNOWN;
    for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
        if (wl >= 4 && strncasecmp(line + w, verbs[k].name, 4) == 0 &&
            (wl == 4 || verbs[k].v == DUMMY_MAIL || verbs[k].v == DUMMY_RCPT))
            v = verbs[k].v;
    if (v == DUMMY_UNKNOWN)
        return v;
    /* MAIL FROM: / RCPT TO: the keyword may follow the verb after spaces,
     * or be glued to it ("MAIL FROM:<a>"). */
    if (v == DUMMY_MAIL || v == DUMMY_RCPT) {
        const char *kw = v == DUMMY_MAIL ? "FROM:" : "TO:";
        size_t kl = v == DUMMY_MAIL ? 5 : 3;
        size_t p = w + 4;
        if (wl == 4) {
            while (p < len && is_space(line[p]))
                p++;
        }
        if (len - p < kl || strncasecmp(line + p, kw, kl) != 0)
            return DUMMY_UNKNOWN;
        p += kl;
        while (p < len && is_space(line[p]))
            p++;
        const char *a = line + p;
        size_t al = len - p;
        if (al > 0 && a[0] == '<') {
            size_t e = 1;
            while (e < al && a[e] != '>')
                e++;
            if (e < al) {
                *arg = a + 1;
                *arglen = e - 1;
                return v;
            }
        }
        *arg = a;
        *arglen = al;
        return v;
    }
    if (wl != 4)
        return DUMMY_UNKNOWN;
    while (i < len && is_space(line[i]))
        i++;
    *arg = line + i;
    *arglen = len - i;
    return v;
}
