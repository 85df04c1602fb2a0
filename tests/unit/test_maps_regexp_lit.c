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

struct split_case {
    const char *expr;
    const char *run;    /* the literal bytes it ends with; NULL: none, or refused */
    const char *prefix; /* the expression without them */
};

static const struct split_case splits[] = {
    {"abc", "abc", ""},
    {"\\x40domain00001\\x2eexample", "@domain00001.example", ""},
    {"a\\.b\\*c\\\\d", "a.b*c\\d", ""},
    {"@-<>/,:;=\"'%&!~` #", "@-<>/,:;=\"'%&!~` #", ""},
    {"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9", ""},
    {"\\xFf", "\xff", ""},
    {"^ from .*\\.host1\\.net", ".host1.net", "^ from .*"},
    {"^ from .*\\x2ehost1\\x2enet", ".host1.net", "^ from .*"},
    {"ab+cdef", "cdef", "ab+"},
    {"ab+?cd", "cd", "ab+?"},
    {"abc{2}xyz", "xyz", "abc{2}"},
    {"x{2,}yz", "yz", "x{2,}"},
    {"x{2,5}yz", "yz", "x{2,5}"},
    {"a(b)c", "c", "a(b)"},
    {"a(?:b|c)de", "de", "a(?:b|c)"},
    {"(a|b)cd", "cd", "(a|b)"},
    {"a[bc]de", "de", "a[bc]"},
    {"a[]x]de", "de", "a[]x]"},
    {"a[^]x]de", "de", "a[^]x]"},
    {"a[[:alpha:]x]de", "de", "a[[:alpha:]x]"},
    {"a[\\]\\x41-\\x5a\\d]de", "de", "a[\\]\\x41-\\x5a\\d]"},
    {"a\\dxy", "xy", "a\\d"},
    {"a\\bxy", "xy", "a\\b"},
    {"a.bc", "bc", "a."},
    {"a^bc", "bc", "a^"},
    {"a]b", "b", "a]"},
    {"ab?", NULL, NULL},
    {"abc$", NULL, NULL},
    {"abc\\z", NULL, NULL},
    {"(abc)", NULL, NULL},
    {"abc+", NULL, NULL},
    {"", NULL, NULL},
    {"a|bc", NULL, NULL},
    {"(?i)abc", NULL, NULL},
    {"(?x)a b", NULL, NULL},
    {"a(?=b)cd", NULL, NULL},
    {"a(?-i:b)cd", NULL, NULL},
    {"x{,2}yz", NULL, NULL},
    {"x{a}yz", NULL, NULL},
    {"x{2yz", NULL, NULL},
    {"ab)", NULL, NULL},
    {"(ab", NULL, NULL},
    {"a[bc", NULL, NULL},
    {"a[[:alpha]bc", NULL, NULL},
    {"a[\\Q]\\E]bc", NULL, NULL},
    {"ab\\", NULL, NULL},
    {"a\\x4", NULL, NULL},
    {"a\\x4g", NULL, NULL},
    {"a\\x00", NULL, NULL},
    {"a\\x{41}", NULL, NULL},
    {"a\\Qb\\E", NULL, NULL},
    {"a\\1b", NULL, NULL},
    {"a\\0b", NULL, NULL},
    {"a\\pLb", NULL, NULL},
    {"a\\\xc3\xa9", NULL, NULL},
};

static void split_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        const struct split_case *c = &splits[i];
        char run[64];
        size_t off[64];
        size_t n = rx_lit_split(c->expr, run, off);
        if (!c->run) {
            if (n != 0)
                fail_msg("case %zu \"%s\": run of %zu, want none", i, c->expr, n);
            continue;
        }
        if (n != strlen(c->run) || memcmp(run, c->run, n) != 0)
            fail_msg("case %zu \"%s\": run \"%.*s\", want \"%s\"", i, c->expr, (int)n, run, c->run);
        if (off[0] != strlen(c->prefix) || memcmp(c->expr, c->prefix, off[0]) != 0)
            fail_msg("case %zu \"%s\": prefix \"%.*s\", want \"%s\"", i, c->expr, (int)off[0], c->expr,
                     c->prefix);
        for (size_t k = 1; k < n; k++)
            assert_true(off[k] > off[k - 1]);
    }
}

/* Every prefix rx_lit_split offers compiles where the whole did. */
static void prefixes_compile(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        const char *e = splits[i].expr;
        char run[64], pre[128];
        size_t off[64], n = rx_lit_split(e, run, off);
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *ce = NULL;
        if (hs_expression_info(e, HS_FLAG_ALLOWEMPTY, &info, &ce) != HS_SUCCESS) {
            hs_free_compile_error(ce); /* "a\\bxy" can never match, nor can "a\\bx" */
            continue;
        }
        free(info);
        for (size_t k = 0; k < n; k++) {
            if (off[k] == 0)
                continue;
            memcpy(pre, e, off[k]);
            pre[off[k]] = '\0';
            if (hs_expression_info(pre, HS_FLAG_ALLOWEMPTY, &info, &ce) != HS_SUCCESS)
                fail_msg("\"%s\" cut to \"%s\": %s", e, pre, ce->message);
            free(info);
        }
    }
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

#define NRULES 250

static char *table_text(void)
{
    struct strbuf sb;
    char line[128];
    strbuf_init(&sb);
    for (unsigned i = 0; i < NRULES; i++) {
        switch (i % 5) {
        case 0: /* a header partition, its rest a floating literal */
            snprintf(line, sizeof(line), "/^(From|Reply-To):.*@domain%05u\\.example/ FROM%u\n", i, i);
            break;
        case 1: /* a whole-key literal in the generic database */
            snprintf(line, sizeof(line), "/xq%04u\\.tail\\.common/ GEN%u\n", i, i);
            break;
        case 2: /* a partition whose rests are "^" + rest, not floating */
            snprintf(line, sizeof(line), "/^Subject: *w%04uzz-shared-end/ SUBJ%u\n", i, i);
            break;
        case 3: /* the same, a regular expression before the literal */
            snprintf(line, sizeof(line), "/^Received: from .*\\.h%04u\\.example\\.net/ RCV%u\n", i, i);
            break;
        default: /* a regular expression ending in a literal, generic */
            snprintf(line, sizeof(line), "/[0-9]+ms%04u\\.example\\.net/ RX%u\n", i, i);
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
    static const char *const names[] = {"From: ", "Reply-To: ", "Subject: ", "X: ", "", "FROM:", "Received: "};
    static const char *const from_tails[] = {".example", ".EXAMPLE", ".exampl", ".example.org", ""};
    static const char *const gen_tails[] = {".tail.common", ".TAIL.COMMON", ".tail.commo", ".tail", ""};
    static const char *const subj_tails[] = {"zz-shared-end", "zz-shared-en", "ZZ-SHARED-END"};
    static const char *const net_tails[] = {".example.net", ".EXAMPLE.NET", ".example.ne", ".example.net.org"};
    size_t len = (size_t)snprintf(out, cap, "%s", names[next(st, 7)]);
    for (int n = 1 + (int)next(st, 3); n > 0 && len < cap; n--) {
        unsigned num = (unsigned)next(st, NRULES + 10);
        const char *sep = next(st, 2) ? " " : "";
        switch (next(st, 5)) {
        case 0:
            len += (size_t)snprintf(out + len, cap - len, "%s@domain%05u%s", sep, num, from_tails[next(st, 5)]);
            break;
        case 1:
            len += (size_t)snprintf(out + len, cap - len, "%sxq%04u%s", sep, num, gen_tails[next(st, 5)]);
            break;
        case 2:
            len += (size_t)snprintf(out + len, cap - len, "%sw%04u%s", sep, num, subj_tails[next(st, 3)]);
            break;
        case 3:
            len += (size_t)snprintf(out + len, cap - len, "%sfrom x.h%04u%s", sep, num, net_tails[next(st, 4)]);
            break;
        default:
            len += (size_t)snprintf(out + len, cap - len, "%s%s%04u%s", sep, next(st, 2) ? "12ms" : "ms", num,
                                    net_tails[next(st, 4)]);
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
    "Received: from a.h0003.example.net",
    "Received: from a.h0003.example.ne",
    "Received: from a.h0003.example.ne a.h0003.EXAMPLE.NET",
    "Received:  from a.h0003.example.net",
    "x 7ms0004.example.net",
    "ms0004.example.net",
    "7ms0004.example.ne 8ms0004.example.net",
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
    assert_true(rm->s.tail_rest[0].len > 0);  /* FROM0: a literal rest */
    assert_true(rm->s.tail_whole[1].len > 0); /* GEN1: a whole literal */
    assert_true(rm->s.tail_rest[3].len > 0);  /* RCV3: a rest ending in a literal */
    assert_true(rm->s.tail_whole[4].len > 0); /* RX4: a whole one */

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
    for (size_t i = 0; i < n + 6000; i++) {
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
    if (hits < 300) /* the random keys do reach the rules */
        fail_msg("%s: only %zu hits", type, hits);
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
        cmocka_unit_test(split_cases),
        cmocka_unit_test(prefixes_compile),
        cmocka_unit_test(cuts_common_tails_only),
        cmocka_unit_test(regexp_table_agrees_with_regexec),
        cmocka_unit_test(pcre_table_agrees_with_regexec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
