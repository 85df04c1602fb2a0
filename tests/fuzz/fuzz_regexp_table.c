/*
 * fuzz_regexp_table.c - regexp_table(5)/pcre_table(5) parser and the POSIX
 * ERE to Hyperscan translation.
 *
 * The input is parsed as both dialects; every regexp pattern that glibc
 * accepts (small ones only, to keep each run fast) is also translated.
 * Every pattern also goes through the header-name anchor analysis, whose
 * names must be non-empty, lower case and within bounds.
 * Crashes, sanitizer reports and broken invariants (indexes out of range)
 * are the failures.
 */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps_regexp_parse.h"
#include "regex_anchor.h"
#include "regex_posix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_anchor(const char *text, size_t len)
{
    char names[REGEX_ANCHOR_NAMES_MAX][REGEX_ANCHOR_NAME_MAX];
    for (int syn = 0; syn < 2; syn++) {
        int n = regex_anchor_names(text, len, (enum regex_anchor_syntax)syn, names);
        if (n < 0 || n > REGEX_ANCHOR_NAMES_MAX)
            abort();
        for (int k = 0; k < n; k++) {
            size_t l = strnlen(names[k], REGEX_ANCHOR_NAME_MAX);
            if (l == 0 || l == REGEX_ANCHOR_NAME_MAX)
                abort();
            for (size_t c = 0; c < l; c++)
                if (names[k][c] >= 'A' && names[k][c] <= 'Z')
                    abort();
        }
    }
}

/* glibc's regcomp duplicates the parse tree for every stacked quantifier
 * ("a++++++..."), exponentially: memory blows up inside glibc before our
 * code runs. Postfix calls the same regcomp. Not what this target tests. */
static int stacked_quantifiers(const char *s, size_t n)
{
    int run = 0;
    for (size_t i = 0; i < n; i++) {
        run = (s[i] == '+' || s[i] == '*' || s[i] == '?' || s[i] == '}') ? run + 1 : 0;
        if (run >= 4)
            return 1;
    }
    return 0;
}

static void check(const struct rxp_table *t)
{
    for (size_t i = 0; i < t->npats; i++)
        check_anchor(rxp_pattern_text(t, &t->pats[i]), t->pats[i].text_len);
    for (size_t i = 0; i < t->nrules; i++) {
        const struct rxp_rule *r = &t->rules[i];
        if (r->op == RXP_MATCH || r->op == RXP_IF)
            if (r->pat1 < 0 || (size_t)r->pat1 >= t->npats)
                abort();
        if (r->pat2 >= 0 && (size_t)r->pat2 >= t->npats)
            abort();
        if (r->parent >= 0 && (r->parent >= (int32_t)i || t->rules[r->parent].op != RXP_IF))
            abort();
        if ((size_t)r->seg_first + r->seg_count > t->nsegs)
            abort();
    }
    for (size_t i = 0; i < t->nsegs; i++)
        if (t->segs[i].group == 0 && (size_t)t->segs[i].off + t->segs[i].len > t->pool_len)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rxp_table t;
    struct rxp_error err;

    if (size > 4096)
        return 0;
    if (rxp_parse((const char *)data, size, RXP_PCRE, &t, &err) == RXP_OK)
        check(&t);
    rxp_table_free(&t);
    if (rxp_parse((const char *)data, size, RXP_REGEXP, &t, &err) == RXP_OK) {
        check(&t);
        struct strbuf sb;
        strbuf_init(&sb);
        for (size_t i = 0; i < t.npats && i < 16; i++) {
            const struct rxp_pattern *p = &t.pats[i];
            if (p->text_len > 64 || stacked_quantifiers(rxp_pattern_text(&t, p), p->text_len))
                continue;
            int cflags = ((p->flags & RXP_F_EXTENDED) ? REG_EXTENDED : 0) |
                         ((p->flags & RXP_F_ICASE) ? REG_ICASE : 0) |
                         ((p->flags & RXP_F_MULTILINE) ? REG_NEWLINE : 0);
            regex_t re;
            if (regcomp(&re, rxp_pattern_text(&t, p), cflags) != 0)
                continue;
            regfree(&re);
            unsigned hs_flags;
            (void)rxposix_translate(rxp_pattern_text(&t, p), cflags, &sb, &hs_flags);
        }
        strbuf_free(&sb);
    }
    rxp_table_free(&t);
    return 0;
}
