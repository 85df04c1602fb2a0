/*
 * maps_regexp_lit.c - literal patterns whose tails would make Hyperscan's
 * literal matcher slow, cut before they reach it.
 *
 * Why: Hyperscan's literal engine (FDR) sorts literals into buckets by
 * their last bytes and confirms a bucket hit by comparing the literals of
 * that bucket. Header checks often share a tail: 1,249 rules
 * /^(From|Reply-To):.*@domainNNNNN\.example/ all end in ".example", so
 * every From: key with ".example" in it made Hyperscan compare about a
 * hundred literals: 2.7 us per key, measured, against 25 ns when each
 * literal was given as "@domainNNNNN" and the common tail confirmed by us.
 * The same happens with real lists of sender domains (".com", ".net").
 *
 * Worse with a regular expression that ends in such a literal: 1,249
 * rules /^Received: from .*\.hostNNNN\.example\.net/ took 58 us per key
 * with ".example.net" twice in it, 41 ns once cut before ".example.net".
 *
 * So an expression that ends in literal bytes (rx_lit_split) may be handed
 * to Hyperscan without the last of them (the first off[keep] characters of
 * the expression); the lookup then compares the rest of the literal at
 * each reported end offset (maps_regexp.c: on_hs_match) and the pattern is
 * compiled without HS_FLAG_SINGLEMATCH, so that every end of the prefix is
 * reported. rx_lit_cuts chooses keep: the longest prefix of the run whose
 * last four bytes are rare among all the table's runs (in at most
 * RX_LIT_RARE of them), never shorter than RX_LIT_MIN_KEEP bytes. A run
 * whose own end is already rare is left whole.
 *
 * Everything here is pure: no I/O, no globals. Failure: none (allocation
 * failure dies, as everywhere on the open path).
 */
#include "maps_regexp_int.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The end of a valid quantifier "{n}", "{n,}" or "{n,m}" starting at
 * e[i] == '{', or 0. */
static size_t quantifier_end(const char *e, size_t i)
{
    size_t j = i + 1, digits = 0;
    while (e[j] >= '0' && e[j] <= '9')
        j++, digits++;
    if (!digits)
        return 0;
    if (e[j] == ',')
        for (j++; e[j] >= '0' && e[j] <= '9'; j++)
            ;
    return e[j] == '}' ? j + 1 : 0;
}

/* Escapes that are one non-literal atom or assertion, in classes or not. */
static int simple_escape(unsigned char d)
{
    return d && strchr("dDwWsShHvVbBAzZG", d) != NULL;
}

/* The byte of "\xHH" at e[i] (two hex digits, not NUL), or -1. */
static int hex_escape(const char *e, size_t i)
{
    if (e[i] != '\\' || e[i + 1] != 'x')
        return -1;
    int h = hexval((unsigned char)e[i + 2]), l = h < 0 ? -1 : hexval((unsigned char)e[i + 3]);
    return h < 0 || l < 0 || h * 16 + l == 0 ? -1 : h * 16 + l;
}

/* The end of the class starting at e[i] == '[', or 0 when it uses syntax
 * we do not read ("[\Q]\E]", "\p{..}", octal...) or never ends. */
static size_t class_end(const char *e, size_t i)
{
    size_t j = i + 1;
    if (e[j] == '^')
        j++;
    if (e[j] == ']')
        j++; /* a ']' first is a member */
    while (e[j] && e[j] != ']') {
        if (e[j] == '[' && e[j + 1] == ':') {
            const char *c = strstr(e + j + 2, ":]");
            if (!c)
                return 0;
            j = (size_t)(c - e) + 2;
        } else if (e[j] == '\\') {
            unsigned char d = (unsigned char)e[j + 1];
            if (hex_escape(e, j) >= 0)
                j += 4;
            else if (d && !is_alnum(d) && d < 0x80)
                j += 2;
            else if (simple_escape(d))
                j += 2;
            else
                return 0;
        } else {
            j++;
        }
    }
    return e[j] == ']' ? j + 1 : 0;
}

/*
 * The literal bytes the Hyperscan (PCRE-syntax) expression expr ends with:
 * the run of literal atoms, none quantified, at the end of its top-level
 * concatenation. run[] gets the bytes and off[k] the offset in expr where
 * byte k's atom starts, so expr[0..off[k]) is expr without run[k..n): a
 * match of expr ends where a match of that prefix ends followed by
 * run[k..n). Literal atoms: bytes that are not operators, "\xHH" (two hex
 * digits: what regex_posix.c writes) and a backslash before punctuation.
 * Returns n, or 0 when there is no such run or expr uses syntax this does
 * not read: a top-level '|', "(?" other than "(?:" (inline options could
 * change the case or white space rules), a backslash before a letter or
 * digit other than the one-atom escapes, "{" that is not a quantifier,
 * unbalanced groups or classes. Refusing is always safe.
 * run and off have room for strlen(expr) entries.
 */
size_t rx_lit_split(const char *expr, char *run, size_t *off)
{
    size_t n = 0, i = 0;
    int depth = 0;
    while (expr[i]) {
        unsigned char c = (unsigned char)expr[i];
        int lit = -1;
        size_t next = i + 1;
        switch (c) {
        case '\\': {
            unsigned char d = (unsigned char)expr[i + 1];
            if ((lit = hex_escape(expr, i)) >= 0)
                next = i + 4;
            else if (d && !is_alnum(d) && d < 0x80)
                lit = d, next = i + 2;
            else if (simple_escape(d))
                next = i + 2;
            else
                return 0;
            break;
        }
        case '*':
        case '+':
        case '?':
        case '{':
            if (c == '{' && !(next = quantifier_end(expr, i)))
                return 0;
            n = 0; /* the quantified atom ends any run: it starts after it */
            i = next;
            continue;
        case '(':
            if (expr[i + 1] == '?') {
                if (expr[i + 2] != ':')
                    return 0;
                next = i + 3;
            }
            depth++;
            break;
        case ')':
            if (--depth < 0)
                return 0;
            break;
        case '|':
            if (depth == 0)
                return 0;
            break;
        case '[':
            if (!(next = class_end(expr, i)))
                return 0;
            break;
        case '^':
        case '$':
        case '.':
        case ']':
        case '}':
            break;
        default:
            lit = c;
            break;
        }
        if (lit >= 0 && depth == 0) {
            run[n] = (char)lit;
            off[n++] = i;
        } else {
            n = 0;
        }
        i = next;
    }
    return depth == 0 ? n : 0;
}

static uint32_t gram_at(const char *s)
{
    uint32_t g = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a'); /* caseless or not: counted alike */
        g = g << 8 | c;
    }
    return g;
}

struct gram_slot {
    uint32_t gram;
    uint32_t count;     /* literals containing it */
    uint32_t last;      /* the last literal counted, + 1 (0: empty slot) */
};

static struct gram_slot *gram_find(struct gram_slot *tab, size_t mask, uint32_t g)
{
    size_t h = (size_t)((g * 2654435761u) >> 7) & mask;
    while (tab[h].last && tab[h].gram != g)
        h = (h + 1) & mask;
    return &tab[h];
}

void rx_lit_cuts(const char *const *lits, const size_t *lens, size_t n, size_t *keep)
{
    size_t grams = 0;
    for (size_t i = 0; i < n; i++)
        grams += lens[i] >= 4 ? lens[i] - 3 : 0;
    size_t cap = 16;
    while (cap < 2 * grams)
        cap <<= 1;
    struct gram_slot *tab = xcalloc(cap, sizeof(*tab));

    /* Document frequency: in how many literals each 4-byte string occurs. */
    for (size_t i = 0; i < n; i++)
        for (size_t e = 4; e <= lens[i]; e++) {
            uint32_t g = gram_at(lits[i] + e - 4);
            struct gram_slot *s = gram_find(tab, cap - 1, g);
            if (s->last == i + 1)
                continue;
            s->gram = g;
            s->last = (uint32_t)(i + 1);
            s->count++;
        }
    for (size_t i = 0; i < n; i++) {
        keep[i] = lens[i];
        if (lens[i] < RX_LIT_MIN_KEEP + 1)
            continue;
        uint32_t whole = gram_find(tab, cap - 1, gram_at(lits[i] + lens[i] - 4))->count;
        if (whole <= RX_LIT_RARE)
            continue;
        /* The longest prefix ending in a rare gram, else in the rarest if
         * that is rarer than the whole literal's end. */
        size_t best = lens[i];
        uint32_t best_count = whole;
        for (size_t e = lens[i] - 1; e >= RX_LIT_MIN_KEEP; e--) {
            uint32_t c = gram_find(tab, cap - 1, gram_at(lits[i] + e - 4))->count;
            if (c < best_count) {
                best = e;
                best_count = c;
            }
            if (c <= RX_LIT_RARE)
                break;
        }
        keep[i] = best;
    }
    free(tab);
}
