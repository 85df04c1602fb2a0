/*
 * maps_cidr_parse.c - cidr_table(5) parser and reference matcher; see
 * maps_cidr_parse.h.
 *
 * The logical-line reader follows Postfix 3.7 readllines(); the rule syntax
 * and every warning text follow dict_cidr.c and cidr_match.c, checked
 * against postmap 3.7.11 (tests/unit/test_maps_cidr.c holds the cases).
 */
#include "maps_cidr_parse.h"
#include "casefold.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Postfix ISSPACE()/ISALNUM(): ASCII only, locale-independent. */
static int c_isspace(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int c_isalnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

struct parse_state {
    const char *buf;
    size_t len;
    size_t pos;
    int lineno;
    const char *name;
    struct cidr_table *t;
    size_t rules_cap;
    size_t warn_cap;
    struct strbuf arena;
};

static void add_warning(struct parse_state *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_warning(struct parse_state *ps, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = xstrdup("cidr map: warning text lost (out of memory)");
    va_end(ap);
    if (ps->t->nwarnings == ps->warn_cap) {
        ps->warn_cap = ps->warn_cap ? ps->warn_cap * 2 : 8;
        ps->t->warnings = xrealloc(ps->t->warnings, ps->warn_cap * sizeof(char *));
    }
    ps->t->warnings[ps->t->nwarnings++] = msg;
}

/*
 * One logical line into sb, as readllines() builds it: physical lines that
 * are empty, blank or comments are dropped (also inside a multi-line
 * entry), a line that starts with white space is glued to the previous one
 * without its newline. *first gets the first physical line number.
 * Returns 0 at end of input.
 */
static int next_logical_line(struct parse_state *ps, struct strbuf *sb, int *first)
{
    for (;;) {
        strbuf_reset(sb);
        while (ps->pos < ps->len) {
            size_t start = sb->len;
            const char *nl = memchr(ps->buf + ps->pos, '\n', ps->len - ps->pos);
            size_t n = nl ? (size_t)(nl - (ps->buf + ps->pos)) : ps->len - ps->pos;
            strbuf_append(sb, ps->buf + ps->pos, n);
            ps->pos += n + (nl ? 1 : 0);
            if (nl || n > 0)
                ps->lineno++;
            size_t i = start;
            while (i < sb->len && c_isspace((unsigned char)sb->buf[i]))
                i++;
            if (i == sb->len || sb->buf[i] == '#')
                sb->len = start; /* comment, blank or empty line */
            else if (start == 0)
                *first = ps->lineno;
            if (!nl)
                break;
            if (sb->len > 0) {
                if (ps->pos >= ps->len)
                    break;
                unsigned char next = (unsigned char)ps->buf[ps->pos];
                if (next != '#' && !c_isspace(next))
                    break;
            }
        }
        strbuf_cstr(sb);
        if (sb->len == 0)
            return 0;
        /* Text after a NUL byte is invisible to Postfix's string functions. */
        sb->len = strlen(sb->buf);
        if (sb->len > 0 && c_isspace((unsigned char)sb->buf[0])) {
            add_warning(ps, "%s: logical line must not start with whitespace: \"%.30s%s\"",
                        ps->name, sb->buf, sb->len > 30 ? "..." : "");
            continue;
        }
        if (sb->len > 0)
            return 1;
    }
}

/* Postfix trimblanks(): drop trailing white space in place. */
static void trim_trailing(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && c_isspace((unsigned char)s[n - 1]))
        n--;
    s[n] = '\0';
}

/* Postfix alldig(): non-empty, digits only. */
static int all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/*
 * The prefix length as Postfix stores it: atoi() (strtol() saturating at
 * LONG_MAX) kept in an unsigned char. So "/280" is "/24" and a huge
 * number becomes 255, a bad length.
 */
static uint8_t mask_shift_of(const char *digits)
{
    unsigned long long v = 0;
    for (; *digits; digits++) {
        unsigned d = (unsigned)(*digits - '0');
        if (v > ((unsigned long long)LONG_MAX - d) / 10) {
            v = (unsigned long long)LONG_MAX;
            break;
        }
        v = v * 10 + d;
    }
    return (uint8_t)(v & 0xff);
}

static void make_mask(uint8_t mask[16], int bytes, int shift)
{
    memset(mask, 0, 16);
    for (int i = 0; i < bytes; i++) {
        int bits = shift - 8 * i;
        if (bits >= 8)
            mask[i] = 0xff;
        else if (bits > 0)
            mask[i] = (uint8_t)(0xff << (8 - bits));
    }
}

/*
 * cidr_match_parse(): pattern is modified. NULL on success, else the
 * reason (written into why).
 */
const char *cidr_pattern_parse(char *pattern, int match, struct cidr_rule *r, char *why,
                               size_t whylen)
{
    char *mask_search;
    char *mask;

    if (*pattern == '[') {
        pattern++;
        char *rb = strchr(pattern, ']');
        if (!rb) {
            snprintf(why, whylen, "missing ']' character after \"[%s\"", pattern);
            return why;
        }
        *rb = '\0';
        mask_search = rb + 1;
        if (*mask_search != '/') {
            if (*mask_search != '\0') {
                snprintf(why, whylen, "garbage after \"[%s]\"", pattern);
                return why;
            }
            mask_search = pattern;
        }
    } else {
        mask_search = pattern;
    }

    memset(r, 0, sizeof(*r));
    mask = strchr(mask_search, '/');
    if (mask)
        *mask++ = '\0';
    r->family = strchr(pattern, ':') ? 6 : 4;
    int af = r->family == 6 ? AF_INET6 : AF_INET;
    int bytes = r->family == 6 ? 16 : 4;
    int bits = bytes * 8;

    if (mask) {
        const char *err = NULL;
        if (!all_digits(mask))
            err = "bad mask value";
        else if ((r->prefix = mask_shift_of(mask)) > bits)
            err = "bad mask length";
        else if (inet_pton(af, pattern, r->net) != 1)
            err = "bad network value";
        if (err) {
            snprintf(why, whylen, "%s in \"%s/%s\"", err, pattern, mask);
            return why;
        }
        make_mask(r->mask, bytes, r->prefix);
        for (int i = 0; i < bytes; i++) {
            if (r->net[i] & ~r->mask[i]) {
                uint8_t fixed[16];
                char text[INET6_ADDRSTRLEN];
                for (int j = 0; j < 16; j++)
                    fixed[j] = r->net[j] & r->mask[j];
                inet_ntop(af, fixed, text, sizeof(text));
                snprintf(why, whylen,
                         "non-null host address bits in \"%s/%s\", "
                         "perhaps you should use \"%s/%d\" instead",
                         pattern, mask, text, r->prefix);
                return why;
            }
        }
    } else {
        if (inet_pton(af, pattern, r->net) != 1) {
            snprintf(why, whylen, "bad address pattern: \"%s\"", pattern);
            return why;
        }
        r->prefix = (uint8_t)bits;
        make_mask(r->mask, bytes, bits);
    }
    r->op = CIDR_OP_MATCH;
    r->match = (uint8_t)(match != 0);
    r->block_end = CIDR_NO_END;
    return NULL;
}

/* Skip white space and '!' operators; each '!' flips the sense. */
static char *skip_negations(char *p, int *match)
{
    for (;; p++) {
        if (*p == '!')
            *match = !*match;
        else if (!c_isspace((unsigned char)*p))
            return p;
    }
}


static struct cidr_rule *push_rule(struct parse_state *ps)
{
    struct cidr_table *t = ps->t;
    if (t->nrules == ps->rules_cap) {
        ps->rules_cap = ps->rules_cap ? ps->rules_cap * 2 : 64;
        t->rules = xrealloc(t->rules, ps->rules_cap * sizeof(*t->rules));
    }
    return &t->rules[t->nrules++];
}

size_t cidr_table_parse(const char *buf, size_t len, const char *name, struct cidr_table *out)
{
    struct parse_state ps = {.buf = buf, .len = len, .name = name, .t = out};
    struct strbuf line;
    uint32_t *ifs = NULL; /* open IF rules, innermost last */
    size_t nifs = 0, ifs_cap = 0;
    char why[512];
    int first = 0;

    memset(out, 0, sizeof(*out));
    strbuf_init(&line);
    strbuf_init(&ps.arena);
    while (next_logical_line(&ps, &line, &first)) {
        char *p = line.buf;
        struct cidr_rule r;
        const char *err = NULL;
        int match = 1;

        if (strncasecmp(p, "IF", 2) == 0 && !c_isalnum((unsigned char)p[2])) {
            p = skip_negations(p + 2, &match);
            if (*p == '\0') {
                err = "no address pattern";
            } else {
                trim_trailing(p);
                err = cidr_pattern_parse(p, match, &r, why, sizeof(why));
                r.op = CIDR_OP_IF;
            }
        } else if (strncasecmp(p, "ENDIF", 5) == 0 && !c_isalnum((unsigned char)p[5])) {
            p += 5;
            while (c_isspace((unsigned char)*p))
                p++;
            if (*p != '\0')
                err = "garbage after ENDIF";
            else if (nifs == 0)
                err = "ENDIF without IF";
            memset(&r, 0, sizeof(r));
            r.op = CIDR_OP_ENDIF;
            r.block_end = CIDR_NO_END;
        } else {
            p = skip_negations(p, &match);
            char *pattern = p;
            while (*p && !c_isspace((unsigned char)*p))
                p++;
            if (*p)
                *p++ = '\0';
            while (c_isspace((unsigned char)*p))
                p++;
            char *value = p;
            trim_trailing(value);
            if (*pattern == '\0')
                err = "no address pattern";
            else if ((err = cidr_pattern_parse(pattern, match, &r, why, sizeof(why))) == NULL &&
                     *value == '\0')
                err = "no lookup result";
            if (!err) {
                /* An offset: the arena moves while it grows. */
                r.valuelen = strlen(value);
                r.value_off = ps.arena.len;
                r.bad_utf8 = (uint8_t)!utf8_valid(value, r.valuelen);
                strbuf_append(&ps.arena, value, r.valuelen + 1);
            }
        }
        if (err) {
            add_warning(&ps, "cidr map %s, line %d: %s: skipping this rule", name, first, err);
            continue;
        }
        r.line = first;
        uint32_t idx = (uint32_t)out->nrules;
        *push_rule(&ps) = r;
        if (r.op == CIDR_OP_IF) {
            if (nifs == ifs_cap) {
                ifs_cap = ifs_cap ? ifs_cap * 2 : 8;
                ifs = xrealloc(ifs, ifs_cap * sizeof(*ifs));
            }
            ifs[nifs++] = idx;
        } else if (r.op == CIDR_OP_ENDIF) {
            out->rules[ifs[--nifs]].block_end = idx;
        }
    }
    while (nifs > 0)
        add_warning(&ps, "cidr map %s, line %d: IF has no matching ENDIF", name,
                    out->rules[ifs[--nifs]].line);
    free(ifs);
    strbuf_free(&line);

    out->arena = ps.arena.buf ? ps.arena.buf : xstrdup("");
    for (size_t i = 0; i < out->nrules; i++)
        if (out->rules[i].op == CIDR_OP_MATCH)
            out->rules[i].value = out->arena + out->rules[i].value_off;
    return out->nwarnings;
}

void cidr_table_free(struct cidr_table *t)
{
    for (size_t i = 0; i < t->nwarnings; i++)
        free(t->warnings[i]);
    free(t->warnings);
    free(t->rules);
    free(t->arena);
    memset(t, 0, sizeof(*t));
}

int cidr_key_parse(const char *key, uint8_t addr[16], int *family)
{
    memset(addr, 0, 16);
    if (strchr(key, ':')) {
        *family = 6;
        return inet_pton(AF_INET6, key, addr) == 1 ? 0 : -EINVAL;
    }
    *family = 4;
    return inet_pton(AF_INET, key, addr) == 1 ? 0 : -EINVAL;
}

int cidr_rule_accepts(const struct cidr_rule *r, const uint8_t addr[16], int family)
{
    if (r->family != family)
        return 0;
    int bytes = family == 6 ? 16 : 4;
    int inside = 1;
    for (int i = 0; i < bytes; i++) {
        if ((addr[i] & r->mask[i]) != r->net[i]) {
            inside = 0;
            break;
        }
    }
    return inside ? r->match : !r->match;
}

long cidr_table_match_linear(const struct cidr_table *t, const uint8_t addr[16], int family)
{
    for (size_t i = 0; i < t->nrules; i++) {
        const struct cidr_rule *r = &t->rules[i];
        switch (r->op) {
        case CIDR_OP_MATCH:
            if (cidr_rule_accepts(r, addr, family))
                return (long)i;
            break;
        case CIDR_OP_IF:
            if (cidr_rule_accepts(r, addr, family))
                break;
            /* A failed IF without ENDIF ends the search, as in Postfix. */
            if (r->block_end == CIDR_NO_END)
                return -1;
            i = r->block_end;
            break;
        default:
            break;
        }
    }
    return -1;
}
