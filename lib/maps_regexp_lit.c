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
 * So an expression that is one literal (rx_lit_decode) may be handed to
 * Hyperscan as a prefix of itself (rx_lit_expr of the first keep bytes);
 * the lookup then compares the rest of the literal at each reported end
 * offset (maps_regexp.c: on_hs_match) and the pattern is compiled without
 * HS_FLAG_SINGLEMATCH, so that every occurrence of the prefix is reported.
 * rx_lit_cuts chooses keep: the longest prefix whose last four bytes are
 * rare among all the table's literals (in at most RX_LIT_RARE of them),
 * never shorter than RX_LIT_MIN_KEEP bytes. A literal whose own end is
 * already rare is left whole.
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

/*
 * Whether the Hyperscan (PCRE-syntax) expression expr is a plain literal:
 * bytes that are not operators, "\xHH" with two hex digits (what
 * regex_posix.c writes) and a backslash before punctuation. Anything else,
 * including "{" (a quantifier or not, we do not guess), "#" and white space
 * (which (?x) would change: such expressions start with "(?x)" and are
 * refused anyway at the '(') is not a literal. On 1, out[0..*len) holds the
 * bytes (out has room for strlen(expr) bytes).
 */
int rx_lit_decode(const char *expr, char *out, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; expr[i]; i++) {
        unsigned char c = (unsigned char)expr[i];
        if (c == '\\') {
            unsigned char d = (unsigned char)expr[i + 1];
            if (d == 'x') {
                int h = hexval((unsigned char)expr[i + 2]), l = h < 0 ? -1 : hexval((unsigned char)expr[i + 3]);
                if (h < 0 || l < 0 || h * 16 + l == 0)
                    return 0;
                out[n++] = (char)(h * 16 + l);
                i += 3;
                continue;
            }
            if (d == 0 || d >= 0x80 || is_alnum(d) || d == ' ' || d < 0x20)
                return 0;
            out[n++] = (char)d;
            i++;
            continue;
        }
        if (strchr("^$.|?*+()[]{}#", c) || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
            c == '\f' || c == '\v')
            return 0;
        out[n++] = (char)c;
    }
    *len = n;
    return n > 0;
}

/* An expression for exactly the bytes lit[0..len): alphanumerics as they
 * are, every other byte as \xHH (never an operator, never white space). */
char *rx_lit_expr(const char *lit, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *e = xmalloc(4 * len + 1), *o = e;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)lit[i];
        if (is_alnum(c)) {
            *o++ = (char)c;
        } else {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return e;
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
