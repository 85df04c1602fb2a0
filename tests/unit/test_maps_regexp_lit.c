/* test_maps_regexp_lit.c - literal expressions cut before Hyperscan
 * (lib/maps_regexp_lit.c) and the lookups that compare the cut tails.
 *
 * rx_lit_decode must accept exactly the expressions that are one literal;
 * rx_lit_expr must give an expression for exactly its bytes; rx_lit_cuts
 * must cut common ends and leave rare ones. Then tables of header_checks
 * with shared tails (the case the cut exists for) must answer as glibc's
 * regexec()/PCRE2 over the rules in file order, which is what Postfix
 * does: keys where the prefix occurs without its tail, twice with the tail
 * only on the second, at the end of the key, in another case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"
#include "maps_regexp_int.h"
#include "util.h"

struct decode_case {
    const char *expr;
    int literal;
    const char *bytes; /* when literal */
};

static const struct decode_case decodes[] = {
    {"abc", 1, "abc"},
    {"\\x40domain00001\\x2eexample", 1, "@domain00001.example"},
    {"a\\.b\\*c\\\\d", 1, "a.b*c\\d"},
    {"@-<>/,:;=\"'%&!~`", 1, "@-<>/,:;=\"'%&!~`"},
    {"\xc3\xa9t\xc3\xa9", 1, "\xc3\xa9t\xc3\xa9"},
    {"\\xFf", 1, "\xff"},
    {"", 0, NULL},
    {"a.b", 0, NULL},
    {"a b", 0, NULL},
    {"a\tb", 0, NULL},
    {"a\\ b", 0, NULL},
    {"#a", 0, NULL},
    {"a{2}", 0, NULL},
    {"a{", 0, NULL},
    {"(?x)ab", 0, NULL},
    {"(?i)ab", 0, NULL},
    {"^ab", 0, NULL},
    {"ab$", 0, NULL},
    {"a|b", 0, NULL},
    {"ab?", 0, NULL},
    {"a+", 0, NULL},
    {"a*", 0, NULL},
    {"[ab]", 0, NULL},
    {"\\d", 0, NULL},
    {"\\Qab\\E", 0, NULL},
    {"\\x4", 0, NULL},
    {"\\x4g", 0, NULL},
    {"\\x00", 0, NULL},
    {"\\x{41}", 0, NULL},
    {"ab\\", 0, NULL},
    {"\\\x01", 0, NULL},
};

static void decode_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(decodes) / sizeof(decodes[0]); i++) {
        const struct decode_case *c = &decodes[i];
        char out[64];
        size_t len = 0;
        int got = rx_lit_decode(c->expr, out, &len);
        if (got != c->literal)
            fail_msg("case %zu \"%s\": literal %d, want %d", i, c->expr, got, c->literal);
        if (got) {
            assert_int_equal(len, strlen(c->bytes));
            assert_memory_equal(out, c->bytes, len);
        }
    }
}

/* Every byte 1..255 written by rx_lit_expr reads back as itself, and the
 * expression is a literal to Hyperscan too: it matches those bytes only. */
static void expr_round_trip(void **state)
{
    (void)state;
    char lit[255];
    for (int b = 1; b < 256; b++)
        lit[b - 1] = (char)b;
    char *e = rx_lit_expr(lit, sizeof(lit));
    char out[255];
    size_t len = 0;
    assert_int_equal(rx_lit_decode(e, out, &len), 1);
    assert_int_equal(len, sizeof(lit));
    assert_memory_equal(out, lit, len);

    hs_database_t *db = NULL;
    hs_compile_error_t *ce = NULL;
    assert_int_equal(hs_compile(e, 0, HS_MODE_BLOCK, NULL, &db, &ce), HS_SUCCESS);
    hs_free_database(db);
    free(e);
}

static const char *const *dup_list(size_t n, const char *fmt, size_t *lens, char **store)
{
    for (size_t i = 0; i < n; i++) {
        store[i] = xasprintf(fmt, (unsigned)i * 7);
        lens[i] = strlen(store[i]);
    }
    return (const char *const *)store;
}

static void cuts_common_tails_only(void **state)
{
    (void)state;
    enum { N = 60 };
    char *s[N + 2];
    size_t lens[N + 2], keep[N + 2];

    /* 60 domains sharing ".example": each is cut, to a prefix that ends in a
     * rare 4-byte string, at least RX_LIT_MIN_KEEP long, and that still
     * contains the number that tells them apart. */
    dup_list(N, "@domain%05u.example", lens, s);
    rx_lit_cuts((const char *const *)s, lens, N, keep);
    for (size_t i = 0; i < N; i++) {
        assert_true(keep[i] < lens[i]);
        assert_true(keep[i] >= strlen("@domain00000"));
    }
    for (size_t i = 0; i < N; i++)
        free(s[i]);

    /* Distinct ends, few literals, short ones: nothing is cut. */
    dup_list(N, "spam%05u", lens, s);
    s[N] = xstrdup("abc");
    lens[N] = 3;
    s[N + 1] = xstrdup("abcd");
    lens[N + 1] = 4;
    rx_lit_cuts((const char *const *)s, lens, N + 2, keep);
    for (size_t i = 0; i < N + 2; i++) {
        assert_int_equal(keep[i], lens[i]);
        free(s[i]);
    }

    /* Eight literals with the same end are not enough to cut. */
    dup_list(RX_LIT_RARE, "@d%05u.example", lens, s);
    rx_lit_cuts((const char *const *)s, lens, RX_LIT_RARE, keep);
    for (size_t i = 0; i < RX_LIT_RARE; i++) {
        assert_int_equal(keep[i], lens[i]);
        free(s[i]);
    }
    rx_lit_cuts(NULL, NULL, 0, NULL);
}

/* ---- tables with shared tails against the real engine ---- */

#define NRULES 300

static char *table_text(void)
{
    struct strbuf sb;
    char line[128];
    strbuf_init(&sb);
    for (unsigned i = 0; i < NRULES; i++) {
        switch (i % 3) {
        case 0: /* a header partition, its rest a floating literal */
            snprintf(line, sizeof(line), "/^(From|Reply-To):.*@domain%05u\\.example/ FROM%u\n", i, i);
            break;
        case 1: /* a whole-key literal in the generic database */
            snprintf(line, sizeof(line), "/xq%04u\\.tail\\.common/ GEN%u\n", i, i);
            break;
        default: /* a partition whose rests are "^" + rest, not floating */
            snprintf(line, sizeof(line), "/^Subject: *w%04uzz-shared-end/ SUBJ%u\n", i, i);
            break;
        }
        strbuf_puts(&sb, line);
    }
    char *t = xstrdup(strbuf_cstr(&sb));
    strbuf_free(&sb);
    return t;
}

static unsigned long next(unsigned long *st, unsigned long n)
{
    *st = *st * 6364136223846793005UL + 1442695040888963407UL;
    return (*st >> 33) % n;
}

/* A header name, then one to three items that each come close to a rule:
 * a number around the rules' own, a whole, short, case-changed or missing
 * tail. */
static void random_key(char *out, size_t cap, unsigned long *st)
{
    static const char *const names[] = {"From: ", "Reply-To: ", "Subject: ", "X: ", "", "FROM:"};
    static const char *const from_tails[] = {".example", ".EXAMPLE", ".exampl", ".example.org", ""};
    static const char *const gen_tails[] = {".tail.common", ".TAIL.COMMON", ".tail.commo", ".tail", ""};
    static const char *const subj_tails[] = {"zz-shared-end", "zz-shared-en", "ZZ-SHARED-END"};
    size_t len = (size_t)snprintf(out, cap, "%s", names[next(st, 6)]);
    for (int n = 1 + (int)next(st, 3); n > 0 && len < cap; n--) {
        unsigned num = (unsigned)next(st, NRULES + 10);
        const char *sep = next(st, 2) ? " " : "";
        switch (next(st, 3)) {
        case 0:
            len += (size_t)snprintf(out + len, cap - len, "%s@domain%05u%s", sep, num, from_tails[next(st, 5)]);
            break;
        case 1:
            len += (size_t)snprintf(out + len, cap - len, "%sxq%04u%s", sep, num, gen_tails[next(st, 5)]);
            break;
        default:
            len += (size_t)snprintf(out + len, cap - len, "%sw%04u%s", sep, num, subj_tails[next(st, 3)]);
            break;
        }
    }
}

/* The first rule in file order that regexec() matches, as Postfix. */
static const char *oracle(regex_t *res, char **values, const char *key)
{
    for (size_t r = 0; r < NRULES; r++)
        if (regexec(&res[r], key, 0, NULL, 0) == 0)
            return values[r];
    return NULL;
}

static const char *const fixed_keys[] = {
    "From: a <x@domain00000.example>",
    "From: x@domain00003.exampl",
    "From: x@domain00003.EXAMPLE",
    "Reply-To: @domain00297.exa @domain00297.example",
    "From: @domain00006.example.org",
    "From:@domain00009.example",
    "From: @domain00009",
    "To: @domain00009.example",
    "x xq0001.tail.common y",
    "xq0001.tail.commo",
    "XQ0004.TAIL.COMMON",
    "xq0001.tail xq0001.tail.common",
    "Subject: w0002zz-shared-end",
    "Subject:   w0002zz-shared-en",
    "Subject: x w0002zz-shared-end",
    "SUBJECT:w0299ZZ-SHARED-END and more",
};

static void check_table(const char *type, int pcre)
{
    char *text = table_text();
    char path[] = "/tmp/test_maps_regexp_lit.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    char ref[300];
    struct map *m = NULL;
    struct map_err err;
    snprintf(ref, sizeof(ref), "%s:%s", type, path);
    if (map_open(ref, 0, &m, &err) < 0)
        fail_msg("open: %s", err.msg);
    /* The table is cut as intended, else this test proves nothing. */
    const struct rx_map *rm = m->priv;
    assert_non_null(rm->s.tail_rest);
    assert_non_null(rm->s.tail_whole);

    /* The oracle: each rule alone, in the engine Postfix uses. */
    regex_t res[NRULES];
    char *values[NRULES];
    char *line = text;
    for (size_t r = 0; r < NRULES; r++) {
        char *end = strchr(line, '\n');
        *end = '\0';
        char *close = strrchr(line, '/');
        *close = '\0';
        values[r] = close + 2;
        /* The table's patterns are valid in both dialects with the same
         * meaning; PCRE2's answer is checked against POSIX on one key. */
        assert_int_equal(regcomp(&res[r], line + 1, REG_EXTENDED | REG_ICASE | REG_NOSUB), 0);
        line = end + 1;
    }
    (void)pcre;

    char buf[256];
    struct map_value v = {buf, sizeof(buf), 0};
    char key[200];
    unsigned long st = 777;
    size_t hits = 0, n = sizeof(fixed_keys) / sizeof(fixed_keys[0]);
    for (size_t i = 0; i < n + 20000; i++) {
        if (i < n)
            strcpy(key, fixed_keys[i]);
        else
            random_key(key, sizeof(key), &st);
        const char *want = oracle(res, values, key);
        int rc = map_lookup(m, key, strlen(key), &v);
        if (rc != (want != NULL) || (want && strcmp(v.buf, want) != 0))
            fail_msg("%s key \"%s\": got %d \"%s\", want \"%s\"", type, key, rc, rc > 0 ? v.buf : "",
                     want ? want : "(none)");
        hits += want != NULL;
    }
    assert_true(hits > 200); /* the random keys do reach the rules */
    for (size_t r = 0; r < NRULES; r++)
        regfree(&res[r]);
    map_close(m);
    unlink(path);
    free(text);
}

static void regexp_table_agrees_with_regexec(void **state)
{
    (void)state;
    check_table("regexp", 0);
}

static void pcre_table_agrees_with_regexec(void **state)
{
    (void)state;
    check_table("pcre", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_cases),
        cmocka_unit_test(expr_round_trip),
        cmocka_unit_test(cuts_common_tails_only),
        cmocka_unit_test(regexp_table_agrees_with_regexec),
        cmocka_unit_test(pcre_table_agrees_with_regexec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
