/*
 * maps_regexp_parse.c - regexp_table(5)/pcre_table(5) text to a rule list.
 *
 * Follows Postfix 3.7 dict_regexp.c/dict_pcre.c, readllines() and
 * mac_parse(); behaviour checked against the installed postmap. Every
 * place where Postfix only warns is noted with what we do instead.
 * No I/O, no globals; see maps_regexp_parse.h for the interface.
 */
#include "maps_regexp_parse.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Postfix's ISSPACE/ISALNUM: ASCII only, whatever the locale. */
static int rx_isspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int rx_isalnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

struct rxp_ctx {
    enum rxp_dialect dialect;
    struct rxp_table *t;
    struct rxp_error *err;
    unsigned lineno;
    int32_t *if_stack;
    size_t nesting, if_cap;
};

__attribute__((format(printf, 2, 3))) static enum rxp_status fail(struct rxp_ctx *c, const char *fmt, ...)
{
    va_list ap;
    c->err->line = c->lineno;
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
    va_end(ap);
    return RXP_SYNTAX;
}

static uint32_t pool_add(struct rxp_table *t, const char *s, size_t len)
{
    if (t->pool_len + len + 1 > t->pool_cap) {
        while (t->pool_len + len + 1 > t->pool_cap)
            t->pool_cap = t->pool_cap ? t->pool_cap * 2 : 256;
        t->pool = xrealloc(t->pool, t->pool_cap);
    }
    uint32_t off = (uint32_t)t->pool_len;
    memcpy(t->pool + off, s, len);
    t->pool[off + len] = '\0';
    t->pool_len += len + 1;
    return off;
}

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap) * 2 : 16;                                                        \
            (arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                                       \
        }                                                                                          \
    } while (0)

/*
 * One "[!...]<delim>text<delim>flags" as dict_regexp_get_pat() reads it:
 * '!' toggles negation and may be mixed with blanks; a backslash protects
 * the next character from ending the pattern but stays in the pattern.
 */
static enum rxp_status get_pat(struct rxp_ctx *c, const char **pp, int32_t *id, uint8_t *neg)
{
    const char *p = *pp;
    int match = 1;

    for (;; p++) {
        if (*p == '!')
            match = !match;
        else if (!rx_isspace(*p))
            break;
    }
    /* Postfix: "no regexp: skipping this rule". A rule that vanishes is an error. */
    if (*p == 0)
        return fail(c, "no regexp");
    char delim = *p++;
    const char *start = p;
    while (*p) {
        if (*p == '\\') {
            if (p[1])
                p++;
            else
                break;
        } else if (*p == delim) {
            break;
        }
        p++;
    }
    /* Postfix skips the rule with a warning; a broken pattern is an error here. */
    if (*p == 0)
        return fail(c, "no closing regexp delimiter \"%c\"", delim);
    size_t len = (size_t)(p - start);
    p++;

    /* Defaults: regexp_table(5) i and x on; pcre_table(5) i and s on. */
    uint32_t flags = RXP_F_ICASE | (c->dialect == RXP_REGEXP ? RXP_F_EXTENDED : RXP_F_DOTALL);
    while (*p && !rx_isspace(*p) && !(c->dialect == RXP_REGEXP && *p == '!')) {
        switch (*p) {
        case 'i':
            flags ^= RXP_F_ICASE;
            break;
        case 'm':
            flags ^= RXP_F_MULTILINE;
            break;
        case 'x':
            flags ^= RXP_F_EXTENDED;
            break;
        case 's':
        case 'A':
        case 'E':
        case 'U':
        case 'X':
            if (c->dialect == RXP_PCRE) {
                /* X is "obsolete" in Postfix with PCRE2: warned about and ignored. */
                flags ^= *p == 's'   ? RXP_F_DOTALL
                         : *p == 'A' ? RXP_F_ANCHORED
                         : *p == 'E' ? RXP_F_DOLLAR_ENDONLY
                         : *p == 'U' ? RXP_F_UNGREEDY
                                     : 0;
                break;
            }
            /* FALLTHROUGH */
        default:
            return fail(c, "unknown regexp option \"%c\"", *p);
        }
        p++;
    }
    if (len > UINT32_MAX / 2)
        return fail(c, "pattern too long");
    struct rxp_table *t = c->t;
    GROW(t->pats, t->npats, t->pats_cap);
    struct rxp_pattern *pat = &t->pats[t->npats];
    pat->text_off = pool_add(t, start, len);
    pat->text_len = (uint32_t)len;
    pat->flags = flags;
    pat->lineno = c->lineno;
    *id = (int32_t)t->npats++;
    *neg = (uint8_t)!match;
    *pp = p;
    return RXP_OK;
}

static void add_seg(struct rxp_table *t, uint32_t group, const char *s, size_t len)
{
    GROW(t->segs, t->nsegs, t->segs_cap);
    struct rxp_seg *g = &t->segs[t->nsegs++];
    g->group = group;
    g->off = group ? 0 : pool_add(t, s, len);
    g->len = group ? 0 : (uint32_t)len;
}

/*
 * The result template, parsed as mac_parse() does: "$$" is "$"; "$name"
 * takes [A-Za-z0-9_]*; "${...}" and "$(...)" take everything up to the
 * matching bracket of the same kind. Names must be all digits and >= 1
 * (dict_regexp_prescan). Postfix skips rules with a bad template: error.
 */
static enum rxp_status parse_result(struct rxp_ctx *c, const char *p, struct rxp_rule *r)
{
    struct rxp_table *t = c->t;
    struct strbuf lit;
    enum rxp_status st = RXP_OK;

    strbuf_init(&lit);
    r->seg_first = (uint32_t)t->nsegs;
    r->max_sub = 0;
    while (*p) {
        if (*p != '$') {
            strbuf_putc(&lit, *p++);
            continue;
        }
        if (p[1] == '$') {
            strbuf_putc(&lit, '$');
            p += 2;
            continue;
        }
        p++;
        const char *name, *end;
        if (*p == '{' || *p == '(') {
            char open = *p, close = *p == '{' ? '}' : ')';
            int level = 1;
            name = ++p;
            for (;; p++) {
                if (*p == 0) {
                    st = fail(c, "bad replacement syntax: truncated macro reference");
                    goto out;
                }
                if (*p == open)
                    level++;
                else if (*p == close && --level == 0)
                    break;
            }
            end = p++;
        } else {
            name = p;
            while (rx_isalnum(*p) || *p == '_')
                p++;
            end = p;
        }
        if (end == name) {
            st = fail(c, "bad replacement syntax: empty macro name");
            goto out;
        }
        unsigned long n = 0;
        for (const char *q = name; q < end; q++) {
            if (*q < '0' || *q > '9') {
                st = fail(c, "non-numeric replacement index \"%.*s\"", (int)(end - name), name);
                goto out;
            }
            if (n < 1000000)
                n = n * 10 + (unsigned long)(*q - '0');
        }
        if (n < 1) {
            st = fail(c, "out-of-range replacement index \"%.*s\"", (int)(end - name), name);
            goto out;
        }
        if (lit.len) {
            add_seg(t, 0, lit.buf, lit.len);
            strbuf_reset(&lit);
        }
        add_seg(t, (uint32_t)n, NULL, 0);
        if (n > r->max_sub)
            r->max_sub = (uint32_t)n;
    }
    if (lit.len)
        add_seg(t, 0, lit.buf, lit.len);
out:
    r->seg_count = (uint32_t)t->nsegs - r->seg_first;
    strbuf_free(&lit);
    return st;
}

static struct rxp_rule *new_rule(struct rxp_ctx *c, enum rxp_op op)
{
    struct rxp_table *t = c->t;
    GROW(t->rules, t->nrules, t->rules_cap);
    struct rxp_rule *r = &t->rules[t->nrules++];
    memset(r, 0, sizeof(*r));
    r->op = (uint8_t)op;
    r->lineno = c->lineno;
    r->pat1 = r->pat2 = -1;
    r->endif = -1;
    r->parent = c->nesting ? c->if_stack[c->nesting - 1] : -1;
    return r;
}

static const char *skip_space(const char *p)
{
    while (*p && rx_isspace(*p))
        p++;
    return p;
}

/* One logical line, trailing blanks already removed, not empty. */
static enum rxp_status parse_line(struct rxp_ctx *c, const char *p)
{
    struct rxp_table *t = c->t;
    enum rxp_status st;

    if (!rx_isalnum(*p)) {
        int32_t p1, p2 = -1;
        uint8_t n1, n2 = 0;
        if ((st = get_pat(c, &p, &p1, &n1)) != RXP_OK)
            return st;
        if (c->dialect == RXP_REGEXP && *p == '!' && (st = get_pat(c, &p, &p2, &n2)) != RXP_OK)
            return st;
        p = skip_space(p);
        /* Postfix: "no replacement text: using empty string", and every
         * lookup that hits the rule is then a configuration error in
         * maps_find(). Refuse it at start-up instead. */
        if (*p == 0)
            return fail(c, "no replacement text");
        struct rxp_rule *r = new_rule(c, RXP_MATCH);
        r->pat1 = p1;
        r->neg1 = n1;
        r->pat2 = p2;
        r->neg2 = n2;
        if ((st = parse_result(c, p, r)) != RXP_OK)
            return st;
        if (r->max_sub > 0 && r->neg1)
            return fail(c, "$number found in negative match replacement text");
        return RXP_OK;
    }
    if (strncasecmp(p, "IF", 2) == 0 && !rx_isalnum(p[2])) {
        int32_t id;
        uint8_t neg;
        p = skip_space(p + 2);
        if ((st = get_pat(c, &p, &id, &neg)) != RXP_OK)
            return st;
        p = skip_space(p);
        /* Postfix ignores the text with a warning; it is nearly always a
         * rule indented under the IF and glued to it as a continuation. */
        if (*p)
            return fail(c, "extra text after IF statement: \"%.40s\" "
                           "(do not prepend whitespace to statements between IF and ENDIF)",
                        p);
        struct rxp_rule *r = new_rule(c, RXP_IF);
        r->pat1 = id;
        r->neg1 = neg;
        GROW(c->if_stack, c->nesting, c->if_cap);
        c->if_stack[c->nesting++] = (int32_t)(t->nrules - 1);
        return RXP_OK;
    }
    if (strncasecmp(p, "ENDIF", 5) == 0 && !rx_isalnum(p[5])) {
        /* Postfix ignores both with a warning; an admin wants to know. */
        if (c->nesting == 0)
            return fail(c, "ENDIF without matching IF");
        if (*skip_space(p + 5))
            return fail(c, "extra text after ENDIF");
        int32_t if_rule = c->if_stack[--c->nesting];
        new_rule(c, RXP_ENDIF);
        t->rules[if_rule].endif = (int32_t)(t->nrules - 1);
        return RXP_OK;
    }
    return fail(c, "unrecognized request (expected /pattern/ result, IF or ENDIF)");
}

enum rxp_status rxp_parse(const char *buf, size_t len, enum rxp_dialect dialect,
                          struct rxp_table *out, struct rxp_error *err)
{
    struct rxp_ctx c = {.dialect = dialect, .t = out, .err = err};
    struct strbuf logical;
    unsigned physical = 0, logical_line = 0;
    enum rxp_status st = RXP_OK;

    memset(out, 0, sizeof(*out));
    err->line = 0;
    err->msg[0] = '\0';
    strbuf_init(&logical);
    int have = 0;
    size_t pos = 0;
    for (;;) {
        int at_end = pos >= len;
        const char *line = buf + pos;
        size_t n = 0;
        if (!at_end) {
            const char *nl = memchr(line, '\n', len - pos);
            n = nl ? (size_t)(nl - line) : len - pos;
            pos += n + 1;
            physical++;
            if (memchr(line, '\0', n)) {
                c.lineno = physical;
                st = fail(&c, "NUL character in table text");
                goto out;
            }
            /* readllines(): blank lines and comment lines (first non-blank
             * is '#') are skipped, even between a line and its continuation. */
            size_t i = 0;
            while (i < n && rx_isspace(line[i]))
                i++;
            if (i == n || line[i] == '#')
                continue;
            if (i > 0) {
                if (!have) {
                    /* Postfix warns and drops the line. */
                    c.lineno = physical;
                    st = fail(&c, "logical line must not start with whitespace");
                    goto out;
                }
                strbuf_append(&logical, line, n);
                continue;
            }
        }
        if (have) {
            c.lineno = logical_line;
            size_t l = logical.len;
            while (l > 0 && rx_isspace(logical.buf[l - 1]))
                l--;
            logical.len = l;
            if ((st = parse_line(&c, strbuf_cstr(&logical))) != RXP_OK)
                goto out;
            have = 0;
        }
        if (at_end)
            break;
        strbuf_reset(&logical);
        strbuf_append(&logical, line, n);
        logical_line = physical;
        have = 1;
    }
    if (c.nesting > 0) {
        /* Postfix warns; every rule after it silently belongs to the IF. */
        c.lineno = out->rules[c.if_stack[c.nesting - 1]].lineno;
        st = fail(&c, "IF has no matching ENDIF");
    }
out:
    strbuf_free(&logical);
    free(c.if_stack);
    return st;
}

void rxp_table_free(struct rxp_table *t)
{
    free(t->pool);
    free(t->pats);
    free(t->rules);
    free(t->segs);
    memset(t, 0, sizeof(*t));
}
