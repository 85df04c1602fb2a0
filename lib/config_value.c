/*
 * config_value.c - typed main.cf values, parsed as Postfix parses them.
 * Pure: strings in, numbers and vectors out.
 *
 *   boolean  "yes" or "no", any case (Postfix mail_conf_bool)
 *   integer  optional '-', then digits only (Postfix conv_int: no "10k")
 *   time     digits with an optional one-letter unit s, m, h, d, w; without
 *            a unit the parameter's default unit applies (conv_time)
 *   size     bytes, digits only (Postfix has no size units)
 *   list     tokens separated by commas and/or whitespace; a {...} group
 *            keeps its separators (Postfix mystrtokq); a token that is a
 *            whole group loses its outer braces and blanks (Postfix extpar)
 *
 * Return: 0, -EINVAL (malformed) or -ERANGE (does not fit in a long).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int cfg_value_bool(const char *s, bool *out)
{
    if (strcasecmp(s, "yes") == 0)
        *out = true;
    else if (strcasecmp(s, "no") == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

/* Digits [with '-'] up to end; *end points after them. */
static int parse_digits(const char *s, bool neg_ok, long *out, const char **end)
{
    const char *p = s;
    bool neg = false;
    if (neg_ok && *p == '-') {
        neg = true;
        p++;
    }
    if (*p < '0' || *p > '9')
        return -EINVAL;
    long v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (v > (LONG_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = neg ? -v : v;
    *end = p;
    return 0;
}

int cfg_value_long(const char *s, long *out)
{
    const char *end;
    int rc = parse_digits(s, true, out, &end);
    if (rc < 0)
        return rc;
    return *end ? -EINVAL : 0;
}

int cfg_value_time(const char *s, char unit, long *out)
{
    const char *end;
    long v;
    int rc = parse_digits(s, false, &v, &end);
    if (rc < 0)
        return rc;
    char u = *end ? *end : unit;
    if (*end && end[1])
        return -EINVAL;
    long mul;
    switch (u) {
    case 's': mul = 1; break;
    case 'm': mul = 60; break;
    case 'h': mul = 3600; break;
    case 'd': mul = 86400; break;
    case 'w': mul = 604800; break;
    default: return -EINVAL;
    }
    if (v > LONG_MAX / mul)
        return -ERANGE;
    *out = v * mul;
    return 0;
}

int cfg_value_size(const char *s, long *out)
{
    const char *end;
    int rc = parse_digits(s, false, out, &end);
    if (rc < 0)
        return rc;
    return *end ? -EINVAL : 0;
}

static bool is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

int cfg_value_list(const char *s, struct cfg_list *out)
{
    size_t cap = 4;
    out->n = 0;
    out->v = xmalloc(cap * sizeof(char *));
    const char *p = s;
    for (;;) {
        while (*p && is_sep(*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        int level = 0;
        for (; *p; p++) {
            if (*p == '{')
                level++;
            else if (*p == '}' && level > 0)
                level--;
            else if (level == 0 && is_sep(*p))
                break;
        }
        if (level > 0) {
            cfg_list_free(out);
            return -EINVAL;
        }
        const char *ts = start, *te = p;
        /* A whole "{ ... }" group: strip the braces and the blanks inside. */
        if (*ts == '{' && te[-1] == '}') {
            int lv = 0;
            const char *q = ts;
            for (; q < te; q++) {
                if (*q == '{')
                    lv++;
                else if (*q == '}' && --lv == 0)
                    break;
            }
            if (q == te - 1) {
                ts++;
                te--;
                while (ts < te && is_blank(*ts))
                    ts++;
                while (te > ts && is_blank(te[-1]))
                    te--;
            }
        }
        if (out->n + 2 > cap) {
            cap *= 2;
            out->v = xrealloc(out->v, cap * sizeof(char *));
        }
        out->v[out->n++] = xstrndup(ts, (size_t)(te - ts));
    }
    out->v[out->n] = NULL;
    return 0;
}

void cfg_list_free(struct cfg_list *l)
{
    if (l->v)
        for (size_t i = 0; i < l->n; i++)
            free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

bool cfg_token_is_map(const char *tok)
{
    /* Postfix MATCH_DICTIONARY(): not "[...]", and a ':' after a type name
     * (so that "[::1]/128" and "127.0.0.1" are addresses, not tables). */
    if (*tok == '!')
        tok++;
    if (*tok == '[')
        return false;
    const char *c = strchr(tok, ':');
    if (!c || c == tok)
        return false;
    for (const char *p = tok; p < c; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
    return true;
}
