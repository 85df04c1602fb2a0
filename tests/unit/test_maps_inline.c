/*
 * test_maps_inline.c - inline:{...} tables. Every case was run through
 * postmap 3.7.11 (printf KEYS | postmap -q - 'inline:{...}') first; the
 * expected answers and error texts are what it printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "maps.h"
#include "maps_inline.h"

struct probe {
    const char *key;
    const char *want; /* NULL: not found */
};

struct inline_case {
    const char *ref;
    const char *error; /* NULL: opens; else the start of map_err */
    struct probe probes[4];
};

static const struct inline_case cases[] = {
    {"inline:{a=1, b=2}", NULL, {{"a", "1"}, {"b", "2"}, {"A", "1"}, {"c", NULL}}},
    {"inline:{a=1, a=2}", NULL, {{"a", "2"}}},
    {"inline:{A=1, a=2}", NULL, {{"a", "2"}}},
    {"inline:{ {a=x, y}, b=z }", NULL, {{"a", "x, y"}, {"b", "z"}}},
    {"inline:{ { a=x, y }, b=z }", NULL, {{"a", "x, y"}, {"b", "z"}}},
    {"inline:{ {a =x} }", NULL, {{"a", "x"}}},
    {"inline:{ {a=  x  y  } }", NULL, {{"a", "x  y"}}},
    {"inline:{ {\"a b\"=1} }", NULL, {{"\"a b\"", "1"}, {"a b", NULL}}},
    {"inline:{a=1,,b=2}", NULL, {{"a", "1"}, {"b", "2"}}},
    {"inline:{a=1;b=2}", NULL, {{"a", "1;b=2"}}},
    {"inline:{a=b=c}", NULL, {{"a", "b=c"}}},
    {"inline:{a={x,y}}", NULL, {{"a", "{x,y}"}}},
    {"inline:{a={x,y} z=1}", NULL, {{"a", "{x,y}"}, {"z", "1"}}},
    {"inline:{a={ 1 2 }}", NULL, {{"a", "{ 1 2 }"}}},
    {"inline:{{a=1}}", NULL, {{"a", "1"}}},
    {"inline:{=1}", NULL, {{"a", NULL}}},
    {"inline:{a=}", NULL, {{"a", ""}}},
    {"inline:{ {a\\ b=1} }", NULL, {{"a\\ b", "1"}, {"a b", NULL}}},
    {"inline:{a\\ b=1}", "missing '=' after attribute name", {{NULL, NULL}}},
    {"inline:{ { a = x, y }, b = z }",
     "missing '=' after attribute name: \"inline:{ { a = x, y }, b = z }\"; "
     "need \"inline:{name=value...}\"",
     {{NULL, NULL}}},
    {"inline:{a = b}", "missing '=' after attribute name", {{NULL, NULL}}},
    {"inline:{{ a b = 1 }}", "missing '=' after attribute name", {{NULL, NULL}}},
    {"inline:{}", "bad syntax: \"inline:{}\"; need \"inline:{name=value...}\"", {{NULL, NULL}}},
    {"inline:{ }", "empty table: \"inline:{ }\"", {{NULL, NULL}}},
    {"inline:{a=1", "bad syntax", {{NULL, NULL}}},
    {"inline:{a=1}x", "bad syntax", {{NULL, NULL}}},
    {"inline:{a=1}}", "bad syntax", {{NULL, NULL}}},
    {"inline:a=1", "bad syntax", {{NULL, NULL}}},
    {"inline:{{a=1}x}", "syntax error after '}' in \"{a=1}x\": \"inline:{{a=1}x}\"", {{NULL, NULL}}},
    {"inline:{{a}=1}", "syntax error after '}' in \"{a}=1\"", {{NULL, NULL}}},
    {"inline:{{}}", "no key found; expected format: key = value: \"inline:{{}}\"", {{NULL, NULL}}},
    {"inline:{{ }}", "no key found; expected format: key = value", {{NULL, NULL}}},
    {"inline:{\"a=1}", "unbalanced '\"'", {{NULL, NULL}}},
    {"inline:{a=\xff}", "bad UTF-8 syntax: \"inline:{a=\xff}\"", {{NULL, NULL}}},
};

static void inline_cases_match_postmap(void **state)
{
    (void)state;
    char buf[128];
    struct map_value v = {buf, sizeof(buf), 0};

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct inline_case *tc = &cases[c];
        struct map *m = NULL;
        struct map_err err = {{0}};
        int rc = map_open(tc->ref, 0, &m, &err);
        if (tc->error) {
            if (rc != -EINVAL || strncmp(err.msg, tc->error, strlen(tc->error)) != 0)
                print_message("case %zu (%s): rc %d, err '%s'\n", c, tc->ref, rc, err.msg);
            assert_int_equal(rc, -EINVAL);
            assert_memory_equal(err.msg, tc->error, strlen(tc->error));
            continue;
        }
        if (rc != 0)
            print_message("case %zu (%s): %s\n", c, tc->ref, err.msg);
        assert_int_equal(rc, 0);
        for (size_t i = 0; i < 4 && tc->probes[i].key; i++) {
            rc = map_lookup_str(m, tc->probes[i].key, &v);
            if (tc->probes[i].want) {
                assert_int_equal(rc, 1);
                assert_string_equal(buf, tc->probes[i].want);
            } else {
                assert_int_equal(rc, 0);
            }
        }
        map_close(m);
    }
}

static void inline_keepcase_does_not_fold(void **state)
{
    (void)state;
    char buf[32];
    struct map_value v = {buf, sizeof(buf), 0};
    struct map *m;
    struct map_err err;

    assert_int_equal(map_open("inline:{Ab=1, ab=2}", MAP_OPEN_KEEPCASE, &m, &err), 0);
    assert_int_equal(map_lookup_str(m, "Ab", &v), 1);
    assert_string_equal(buf, "1");
    assert_int_equal(map_lookup_str(m, "ab", &v), 1);
    assert_string_equal(buf, "2");
    assert_int_equal(map_lookup_str(m, "AB", &v), 0);
    map_close(m);
}

/* postmap -q - 'inline:{ Straße=x, ÉCOLE=y }' answers x for STRASSE and
 * straße, y for École and école; a non-UTF-8 key is refused. */
static void inline_unicode_folding_as_postmap(void **state)
{
    (void)state;
    char buf[32];
    struct map_value v = {buf, sizeof(buf), 0};
    struct map *m;
    struct map_err err;
    static const char *const hits[][2] = {
        {"STRASSE", "x"}, {"stra\xc3\x9f" "e", "x"}, {"\xc3\x89" "cole", "y"},
        {"\xc3\xa9" "cole", "y"}, {"\xc3\x89" "COLE", "y"},
    };

    assert_int_equal(map_open("inline:{ Stra\xc3\x9f" "e=x, \xc3\x89" "COLE=y }", 0, &m, &err), 0);
    for (size_t i = 0; i < sizeof(hits) / sizeof(hits[0]); i++) {
        assert_int_equal(map_lookup_str(m, hits[i][0], &v), 1);
        assert_string_equal(buf, hits[i][1]);
    }
    assert_int_equal(map_lookup_str(m, "stra\xdf" "e", &v), 0); /* Latin-1, not UTF-8 */
    assert_int_equal(map_lookup_str(m, "ecole", &v), 0);
    map_close(m);
}

static void inline_parser_direct(void **state)
{
    (void)state;
    struct inline_table t;
    char why[128];

    /* A NUL ends the reference, as in a C string. */
    const char text[] = "{a=1}\0garbage";
    assert_int_equal(inline_parse(text, sizeof(text) - 1, 1, &t, why, sizeof(why)), INLINE_OK);
    assert_int_equal(t.n, 1);
    assert_non_null(inline_find(&t, "a", 1));
    assert_null(inline_find(&t, "b", 1));
    inline_table_free(&t);
    assert_int_equal(inline_parse("{ , , }", 7, 1, &t, why, sizeof(why)), INLINE_EMPTY);
    assert_string_equal(why, "empty table");
    assert_int_equal(inline_parse("", 0, 1, &t, NULL, 0), INLINE_BAD_SYNTAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inline_cases_match_postmap),
        cmocka_unit_test(inline_keepcase_does_not_fold),
        cmocka_unit_test(inline_unicode_folding_as_postmap),
        cmocka_unit_test(inline_parser_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
