/*
 * dnsbl_site.c - parse one postscreen_dnsbl_sites item and match DNSBL
 * replies against its filter. See dnsbl_site.h for the syntax.
 *
 * The filter parser follows Postfix's ip_match.c token by token (a
 * tokenizer that yields an octet value, an error for a value over 255, a
 * literal character or end of input) so that the same strings are accepted
 * and refused with the same error text. Instead of Postfix's byte code the
 * result is a 256-bit set per octet: matching is four bit tests.
 */
#include "dnsbl_site.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

#include "hostname.h"

#define TOK_OVAL 256
#define TOK_ERR 257
#define TOK_EOF 0

struct tok {
    const char *p, *end;
    int oval;
};

/* ip_match_next_token(): a decimal octet, an error, a character or EOF. */
static int tok_next(struct tok *t)
{
    if (t->p >= t->end)
        return TOK_EOF;
    unsigned char c = (unsigned char)*t->p;
    if (isdigit(c)) {
        int v = 0, type = TOK_OVAL;
        while (t->p < t->end && isdigit((unsigned char)*t->p)) {
            /* Keep accumulating only while it can matter, so that a long
             * digit run cannot overflow (Postfix's int would). */
            if (v <= 255)
                v = v * 10 + (*t->p - '0');
            if (v > 255)
                type = TOK_ERR;
            t->p++;
        }
        t->oval = v;
        return type;
    }
    t->p++;
    /* A NUL byte inside the buffer is a literal here, never EOF: it can
     * only produce an error, as it should. */
    return c == 0 ? 1 : c;
}

static void set_bit(unsigned char *set, int v)
{
    set[v >> 3] |= (unsigned char)(1u << (v & 7));
}

/* ip_match_parse() on [p, end): fills out->octet or returns an error text. */
static const char *filter_parse(const char *p, const char *end, struct dnsbl_site *out)
{
    /* Strip [] around the entire pattern when the "]" closing the first
     * "[" is the last character. */
    if (p < end && *p == '[') {
        int level = 0;
        const char *cp;
        for (cp = p; cp < end; cp++) {
            if (*cp == '[')
                level++;
            if (*cp != ']')
                continue;
            if (--level == 0)
                break;
        }
        if (cp >= end)
            return "missing \"]\" character";
        if (cp + 1 == end) {
            end = cp;
            p++;
        }
    }
    if (p >= end)
        return "empty address pattern";

    memset(out->octet, 0, sizeof(out->octet));
    struct tok t = {p, end, 0};
    for (int octet = 0;; octet++) {
        int type = tok_next(&t);
        if (type == TOK_OVAL) {
            set_bit(out->octet[octet], t.oval);
        } else if (type == '[') {
            for (;;) {
                type = tok_next(&t);
                if (type != TOK_OVAL)
                    return "need decimal number 0..255";
                int lo = t.oval;
                int look = tok_next(&t);
                if (look == '.') {
                    if (tok_next(&t) != '.' || tok_next(&t) != TOK_OVAL || lo > t.oval)
                        return "numeric range error";
                    for (int v = lo; v <= t.oval; v++)
                        set_bit(out->octet[octet], v);
                    look = tok_next(&t);
                } else {
                    set_bit(out->octet[octet], lo);
                }
                if (look == ';')
                    continue;
                if (look == ']')
                    break;
                return "need \";\" or \"]\"";
            }
        } else {
            return "need decimal number 0..255 or \"[\"";
        }
        if (octet == 3)
            return t.p < t.end ? "garbage after pattern" : NULL;
        if (tok_next(&t) != '.')
            return "need \".\"";
    }
}

/* sscanf(text, "%d%c", &weight, &junk) == 1, without its overflow. */
static int weight_parse(const char *p, const char *end, int *weight)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    int neg = 0;
    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (p >= end || !isdigit((unsigned char)*p))
        return -1;
    long long v = 0;
    for (; p < end && isdigit((unsigned char)*p); p++) {
        v = v * 10 + (*p - '0');
        if (v > (long long)INT_MAX + 1)
            return -1;
    }
    if (p != end)
        return -1;
    if (neg)
        v = -v;
    if (v > INT_MAX || v < INT_MIN)
        return -1;
    *weight = (int)v;
    return 0;
}

enum dnsbl_site_result dnsbl_site_parse(const char *buf, size_t len, struct dnsbl_site *out,
                                        const char **why)
{
    const char *end = buf + len;
    const char *star = memchr(buf, '*', len);
    const char *dom_end = star ? star : end;
    const char *eq = memchr(buf, '=', (size_t)(dom_end - buf));
    const char *unused;

    if (!why)
        why = &unused;
    memset(out, 0, sizeof(*out));
    out->weight = 1;
    if (star && weight_parse(star + 1, end, &out->weight) != 0) {
        *why = "bad DNSBL weight factor";
        return DNSBL_SITE_BAD_WEIGHT;
    }
    if (eq) {
        const char *err = filter_parse(eq + 1, dom_end, out);
        if (err) {
            *why = err;
            return DNSBL_SITE_BAD_FILTER;
        }
        out->has_filter = 1;
        dom_end = eq;
    }
    size_t dlen = (size_t)(dom_end - buf);
    if (dlen == 0 || dlen > DNSBL_SITE_NAME_MAX || !hostname_valid(buf, dlen)) {
        *why = "bad DNSBL domain name";
        return DNSBL_SITE_BAD_DOMAIN;
    }
    memcpy(out->domain, buf, dlen);
    out->domain[dlen] = 0;
    out->domain_len = dlen;
    *why = NULL;
    return DNSBL_SITE_OK;
}

int dnsbl_site_match_addr(const struct dnsbl_site *site, const struct in_addr *addr)
{
    if (!site->has_filter)
        return 1;
    const unsigned char *b = (const unsigned char *)&addr->s_addr;
    for (int i = 0; i < 4; i++)
        if (!(site->octet[i][b[i] >> 3] & (1u << (b[i] & 7))))
            return 0;
    return 1;
}

int dnsbl_site_match(const struct dnsbl_site *site, const struct in_addr *addrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (dnsbl_site_match_addr(site, &addrs[i]))
            return 1;
    return 0;
}
