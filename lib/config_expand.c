/*
 * config_expand.c - $name expansion with Postfix mac_parse()/mac_expand()
 * semantics, as main.cf values are expanded (recursively). Pure.
 *
 *   $$                 a literal '$'
 *   $name, ${name}, $(name)   the value (empty when undefined); names are
 *                      [A-Za-z0-9_]; ${ name } may have blanks around
 *   ${name?text}       text when $name is non-empty, else empty
 *   ${name:text}       text when $name is empty or undefined
 *   ${name?{t1}:{t2}}, ${name?{text}}, ${name:{text}}   brace operands
 *                      (Postfix 3.0): blanks around {..} are ignored
 *   ${{a} == {b} ? {t1} : {t2}}  relational (==, !=, <, <=, >=, >; numeric
 *                      when both sides are all digits); the "level" suffix
 *                      (<level ...) compares compatibility levels.
 * Within ${...} only the delimiter that opened it is counted, so "$(a}"
 * is a truncated reference, as in Postfix.
 *
 * Failure (-EINVAL): truncated reference, empty name, name syntax error,
 * unbalanced {}, a missing operator or ':'. -ELOOP: nesting deeper than
 * CFG_EXPAND_MAX_DEPTH ("a = $b", "b = $a"), where Postfix says
 * "unreasonable macro call nesting". -E2BIG: more than 100000 references
 * or 1 MiB of result (exponential definitions). err->msg tells which, in Postfix's
 * words where it has some.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct exp_ctx {
    cfg_lookup_fn lookup;
    void *ctx;
    struct strbuf *out; /* NULL: scan only */
    struct cfg_expand_err *err;
    void (*scan_fn)(void *ctx, const char *name, size_t len);
    void *scan_ctx;
    unsigned long *steps; /* shared by sub-expansions */
};

/* Bounds the work of "a = $b$b", "b = $c$c", ... (exponential without a
 * cap) and the size of a result: beyond these the value is refused. */
#define EXPAND_MAX_STEPS 100000
#define EXPAND_MAX_OUT (1u << 20)

static const char WS[] = " \t\r\n\f\v";

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int fail(struct exp_ctx *x, int rc, const char *what, const char *s, size_t len)
{
    if (x->err && x->err->msg[0] == '\0') {
        int shown = len > 60 ? 60 : (int)len;
        snprintf(x->err->msg, sizeof(x->err->msg), "%s: \"%.*s%s\"", what, shown, s,
                 len > 60 ? "..." : "");
    }
    return rc;
}

static int expand_text(struct exp_ctx *x, const char *s, size_t len, int depth);

static size_t skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && strchr(WS, s[i]) && s[i] != '\0')
        i++;
    return i;
}

/* At s[*i] (after blanks) expect '{'; return the balanced payload. */
static int curly_payload(struct exp_ctx *x, const char *s, size_t len, size_t *i, size_t *pstart,
                         size_t *plen)
{
    size_t j = *i + 1;
    int level = 1;
    for (; j < len; j++) {
        if (s[j] == '{')
            level++;
        else if (s[j] == '}' && --level == 0)
            break;
    }
    if (j >= len)
        return fail(x, -EINVAL, "unbalanced {} in attribute expression", s + *i, len - *i);
    *pstart = *i + 1;
    *plen = j - *i - 1;
    *i = skip_ws(s, j + 1, len);
    return 0;
}

/* Compare compatibility levels "3.6", "3.10.1" numerically per part. */
static long compare_level(const char *a, const char *b)
{
    while (*a || *b) {
        long va = strtol(a, (char **)&a, 10), vb = strtol(b, (char **)&b, 10);
        if (va != vb)
            return va < vb ? -1 : 1;
        if (*a == '.')
            a++;
        if (*b == '.')
            b++;
        if ((*a && (*a < '0' || *a > '9')) || (*b && (*b < '0' || *b > '9')))
            return strcmp(a, b);
    }
    return 0;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Expand a sub-operand into a fresh string (for relational operands). */
static int expand_operand(struct exp_ctx *x, const char *s, size_t len, int depth, char **res)
{
    struct strbuf sb;
    strbuf_init(&sb);
    struct exp_ctx sub = *x;
    sub.out = x->out ? &sb : NULL;
    int rc = expand_text(&sub, s, len, depth);
    *res = xstrdup(rc == 0 && x->out ? strbuf_cstr(&sb) : "");
    strbuf_free(&sb);
    return rc;
}

/* {left} OP {right}: sets *value to "true" or "". */
static int relational(struct exp_ctx *x, const char *s, size_t len, size_t *i, int depth,
                      const char **value)
{
    size_t ls, ll, rs, rl;
    int rc = curly_payload(x, s, len, i, &ls, &ll);
    if (rc < 0)
        return rc;
    size_t op = *i, oplen = 0;
    while (op + oplen < len && strchr("<>!=?+-*/~&|%", s[op + oplen]) && s[op + oplen])
        oplen++;
    static const char *const ops[] = {"==", "!=", "<", "<=", ">=", ">"};
    int which = -1;
    for (int k = 0; k < 6; k++)
        if (strlen(ops[k]) == oplen && memcmp(ops[k], s + op, oplen) == 0)
            which = k;
    if (which < 0)
        return fail(x, -EINVAL, "\"==\" or \"!=\" or \"<\" or \"<=\" or \">=\" or \">\" expected at",
                    s + op, len - op);
    *i = op + oplen;
    bool level_cmp = false;
    if (*i < len && is_name_char(s[*i])) {
        size_t t = *i;
        while (t < len && is_name_char(s[t]))
            t++;
        if (t - *i != 5 || memcmp(s + *i, "level", 5) != 0)
            return fail(x, -EINVAL, "bad operator suffix at", s + op, len - op);
        level_cmp = true;
        *i = t;
    }
    *i = skip_ws(s, *i, len);
    if (*i >= len || s[*i] != '{')
        return fail(x, -EINVAL, "\"{expression}\" expected at", s + *i, len - *i);
    if ((rc = curly_payload(x, s, len, i, &rs, &rl)) < 0)
        return rc;
    char *left, *right;
    int rc1 = expand_operand(x, s + ls, ll, depth, &left);
    int rc2 = expand_operand(x, s + rs, rl, depth, &right);
    long delta;
    if (level_cmp)
        delta = compare_level(left, right);
    else if (all_digits(left) && all_digits(right))
        delta = strtol(left, NULL, 10) < strtol(right, NULL, 10)   ? -1
                : strtol(left, NULL, 10) > strtol(right, NULL, 10) ? 1
                                                                   : 0;
    else
        delta = strcmp(left, right);
    free(left);
    free(right);
    if (rc1 < 0)
        return rc1;
    if (rc2 < 0)
        return rc2;
    bool res = which == 0   ? delta == 0
               : which == 1 ? delta != 0
               : which == 2 ? delta < 0
               : which == 3 ? delta <= 0
               : which == 4 ? delta >= 0
                            : delta > 0;
    *value = res ? "true" : "";
    return 0;
}

/* The inside of ${...} or the name of $name. */
/* The text after '?' or ':': a {braced} payload, or the rest of the
 * reference. Sets *ps and *pl to it and advances *i past it. */
static int read_payload(struct exp_ctx *x, const char *s, size_t len, size_t *i, size_t *ps,
                        size_t *pl)
{
    *i = skip_ws(s, *i, len);
    if (*i < len && s[*i] == '{')
        return curly_payload(x, s, len, i, ps, pl);
    *ps = *i;
    *pl = len - *i;
    *i = len;
    return 0;
}

static int expand_expr(struct exp_ctx *x, const char *s, size_t len, int depth)
{
    if (depth > CFG_EXPAND_MAX_DEPTH)
        return fail(x, -ELOOP, "unreasonable macro call nesting", s, len);
    if (++*x->steps > EXPAND_MAX_STEPS || (x->out && x->out->len > EXPAND_MAX_OUT))
        return fail(x, -E2BIG, "expansion too large", s, len);
    const char *value = NULL;
    size_t i = skip_ws(s, 0, len);
    char ch;
    if (i < len && s[i] == '{') {
        int rc = relational(x, s, len, &i, depth, &value);
        if (rc < 0)
            return rc;
        ch = i < len ? s[i] : '\0';
        if (ch != '\0') {
            if (ch != '?' && ch != ':')
                return fail(x, -EINVAL, "\"?\" or \":\" expected at", s + i, len - i);
            i++;
        }
    } else {
        size_t start = i, end;
        for (;; i++) {
            size_t t = skip_ws(s, i, len);
            if (t >= len) {
                end = i;
                ch = '\0';
                i = t;
                break;
            }
            if (s[t] == '?' || s[t] == ':') {
                end = i;
                ch = s[t];
                i = t + 1;
                break;
            }
            if (!is_name_char(s[i]))
                return fail(x, -EINVAL, "attribute name syntax error at", s, len);
        }
        if (end == start)
            return fail(x, -EINVAL, "empty macro name", s, len);
        if (x->scan_fn)
            x->scan_fn(x->scan_ctx, s + start, end - start);
        if (x->lookup)
            value = x->lookup(x->ctx, s + start, end - start);
        if (!value && x->err && x->err->undef[0] == '\0' && x->out) {
            size_t n = end - start < sizeof(x->err->undef) - 1 ? end - start
                                                               : sizeof(x->err->undef) - 1;
            memcpy(x->err->undef, s + start, n);
            x->err->undef[n] = '\0';
        }
    }
    bool scan = x->out == NULL;
    size_t ps, pl;
    int rc;
    switch (ch) {
    case '?':
        if ((rc = read_payload(x, s, len, &i, &ps, &pl)) < 0)
            return rc;
        if ((value && *value) || scan)
            if ((rc = expand_text(x, s + ps, pl, depth + 1)) < 0)
                return rc;
        if (i >= len)
            break;
        if (s[i] != ':')
            return fail(x, -EINVAL, "\":\" expected at", s + i, len - i);
        i++;
        /* FALLTHROUGH */
    case ':':
        if ((rc = read_payload(x, s, len, &i, &ps, &pl)) < 0)
            return rc;
        if (!value || !*value || scan)
            if ((rc = expand_text(x, s + ps, pl, depth + 1)) < 0)
                return rc;
        if (i < len)
            return fail(x, -EINVAL, "unexpected input at", s + i, len - i);
        break;
    default:
        if (value && *value && !scan)
            return expand_text(x, value, strlen(value), depth + 1);
        break;
    }
    return 0;
}

static int expand_text(struct exp_ctx *x, const char *s, size_t len, int depth)
{
    if (depth > CFG_EXPAND_MAX_DEPTH)
        return fail(x, -ELOOP, "unreasonable macro call nesting", s, len);
    size_t i = 0;
    while (i < len) {
        const char *dollar = memchr(s + i, '$', len - i);
        size_t lit = dollar ? (size_t)(dollar - (s + i)) : len - i;
        if (x->out)
            strbuf_append(x->out, s + i, lit);
        i += lit;
        if (i >= len)
            break;
        if (i + 1 < len && s[i + 1] == '$') {
            if (x->out)
                strbuf_putc(x->out, '$');
            i += 2;
            continue;
        }
        size_t ref = i++;
        size_t bs, bl;
        if (i < len && (s[i] == '{' || s[i] == '(')) {
            char open = s[i], close = open == '{' ? '}' : ')';
            int level = 1;
            size_t j = i + 1;
            for (; j < len; j++) {
                if (s[j] == open)
                    level++;
                else if (s[j] == close && --level == 0)
                    break;
            }
            if (j >= len)
                return fail(x, -EINVAL, "truncated macro reference", s + ref, len - ref);
            bs = i + 1;
            bl = j - i - 1;
            i = j + 1;
        } else {
            size_t j = i;
            while (j < len && is_name_char(s[j]))
                j++;
            bs = i;
            bl = j - i;
            i = j;
        }
        if (bl == 0)
            return fail(x, -EINVAL, "empty macro name", s + ref, len - ref);
        int rc = expand_expr(x, s + bs, bl, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cfg_expand(const char *in, size_t len, cfg_lookup_fn lookup, void *ctx, struct strbuf *out,
               struct cfg_expand_err *err)
{
    unsigned long steps = 0;
    struct exp_ctx x = {lookup, ctx, out, err, NULL, NULL, &steps};
    if (err) {
        err->msg[0] = '\0';
        err->undef[0] = '\0';
    }
    strbuf_append(out, "", 0); /* out is a valid C string even when in is empty */
    return expand_text(&x, in, len, 0);
}

void cfg_expand_scan(const char *in, void (*fn)(void *ctx, const char *name, size_t len),
                     void *ctx)
{
    unsigned long steps = 0;
    struct exp_ctx x = {NULL, NULL, NULL, NULL, fn, ctx, &steps};
    (void)expand_text(&x, in, strlen(in), 0);
}
