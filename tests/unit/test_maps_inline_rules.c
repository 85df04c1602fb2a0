/*
 * test_maps_inline_rules.c - Postfix 3.7's inline pattern tables
 * "regexp:{ {rule}, {rule} }" / "pcre:{...}": inline_rules_text() (the
 * rules as table text) and map_open() of such references. Every answer and
 * error text was first taken from postmap 3.7.11
 * (printf KEYS | postmap -q - 'regexp:{...}').
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maps.h"
#include "maps_inline.h"

struct text_case {
    const char *in;
    const char *text;  /* expected table text; NULL: an error */
    const char *error; /* expected reason when text is NULL */
};

static const struct text_case text_cases[] = {
    {"{{/^[^A-Z]/ Bogus}}", "/^[^A-Z]/ Bogus\n", NULL},
    {"{ {/a/ A}, {/b/ B} }", "/a/ A\n/b/ B\n", NULL},
    {"{{/a/ A},{/b/ B}}", "/a/ A\n/b/ B\n", NULL},
    {"{\t{/a/ A}\n{/b/ B}\t}", "/a/ A\n/b/ B\n", NULL},
    {"{ , {/a/ A} , }", "/a/ A\n", NULL},
    {"{ {/a/ A},, {/b/ B} }", "/a/ A\n/b/ B\n", NULL},
    {"{ {  /a/   A  } }", "/a/   A\n", NULL},
    {"{}", "", NULL},
    {"{  }", "", NULL},
    {"{ {} }", "\n", NULL},                          /* an empty line: still line 1 */
    {"{ {} , {/a/ A} }", "\n/a/ A\n", NULL},
    {"{ {/a{2}/ A} }", "/a{2}/ A\n", NULL},          /* balanced braces in a pattern */
    {"{ {/(a)/ x${1}y} }", "/(a)/ x${1}y\n", NULL},
    {"{ {/^[{]}/ b} }", "/^[{]}/ b\n", NULL},
    {"{{/a/\n A}}", "/a/\n A\n", NULL},               /* a continuation line */
    {"{{/a/ A\n/b/ B}}", "/a/ A\n/b/ B\n", NULL},
    {"{ { {/a/ A} } }", "{/a/ A}\n", NULL},          /* the regexp parser refuses "{" */
    {"{ {#c}, {/b/ B} }", "#c\n/b/ B\n", NULL},
    {"{ /a/ A }", NULL, "no '{' at start of text in \"/a/\""},
    {"{ {/a/ A} x }", NULL, "no '{' at start of text in \"x\""},
    {"{ {/a/ A}, \"{/b/ B}\" }", NULL, "no '{' at start of text in \"\"{/b/ B}\"\""},
    {"{ {/a/ A}", NULL, "missing '}' in \"{ {/a/ A}\""},
    {"{ {/a{2/ A} }", NULL, "missing '}' in \"{ {/a{2/ A} }\""},
    {"{ {/[{]/ x} }", NULL, "missing '}' in \"{ {/[{]/ x} }\""},
    {"{ {/a/ A} } x", NULL, "syntax error after '}' in \"{ {/a/ A} } x\""},
    {"{ {/a/ A}} }", NULL, "syntax error after '}' in \"{ {/a/ A}} }\""},
    {"{ {/\\}/ x} }", NULL, "syntax error after '}' in \"{ {/\\}/ x} }\""},
    {"{{/a/ A}{/b/ B}}", NULL, "syntax error after '}' in \"{/a/ A}{/b/ B}\""},
    {"", NULL, "no '{' at start of text in \"\""},
    {"{", NULL, "missing '}' in \"{\""},
    {"}", NULL, "no '{' at start of text in \"}\""},
};

static void rules_text_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
        const struct text_case *tc = &text_cases[i];
        char *text = (char *)"unset";
        size_t len = 99;
        char why[256] = "";
        enum inline_parse_result r =
            inline_rules_text(tc->in, strlen(tc->in), &text, &len, why, sizeof(why));
        if (tc->text) {
            if (r != INLINE_OK)
                fail_msg("case %zu \"%s\": %s", i, tc->in, why);
            assert_string_equal(text, tc->text);
            assert_int_equal(len, strlen(tc->text));
            free(text);
        } else {
            if (r != INLINE_BAD_ITEM)
                fail_msg("case %zu \"%s\": accepted as \"%s\"", i, tc->in, text);
            assert_null(text);
            assert_int_equal(len, 0);
            assert_string_equal(why, tc->error);
        }
    }
}

/* The reference is a C string: bytes after a NUL are not part of it. */
static void rules_text_stops_at_nul(void **state)
{
    (void)state;
    static const char in[] = "{ {/a/ A} }\0 {/b/ B}";
    char *text = NULL;
    size_t len = 0;
    char why[64];
    assert_int_equal(inline_rules_text(in, sizeof(in) - 1, &text, &len, why, sizeof(why)),
                     INLINE_OK);
    assert_string_equal(text, "/a/ A\n");
    free(text);
}

struct probe {
    const char *key;
    const char *want; /* NULL: not found */
};

struct open_case {
    const char *ref;
    const char *error; /* NULL: opens; else map_err starts with this */
    struct probe probes[5];
};

static const struct open_case open_cases[] = {
    /* Postfix's default smtpd_forbidden_commands table (case-insensitive). */
    {"regexp:{{/^[^A-Z]/ Bogus}}", NULL,
     {{"1x", "Bogus"}, {"GET", NULL}, {"get", NULL}, {"-x", "Bogus"}, {"", NULL}}},
    {"pcre:{{/^[^A-Z]/ Bogus}}", NULL, {{"1x", "Bogus"}, {"get", NULL}, {" x", "Bogus"}}},
    {"regexp:{ {/a/ A}, {/b/ B} }", NULL, {{"xb", "B"}, {"ab", "A"}, {"c", NULL}}},
    {"regexp:{ {/^(x+)(y*)$/ got ${1}-$2} }", NULL, {{"xxy", "got xx-y"}, {"x", "got x-"}}},
    {"pcre:{ {/(x)/ got$1}}", NULL, {{"x", "gotx"}, {"y", NULL}}},
    {"regexp:{ {if /^sub/}, {!/ject/ not-ject}, {endif}, {/./ any} }", NULL,
     {{"sub-x", "not-ject"}, {"subject", "any"}, {"x", "any"}}},
    {"regexp:{{/^a/\n  continued}, {/^b/ B\n/^c/ C}}", NULL,
     {{"a", "continued"}, {"b", "B"}, {"c", "C"}}},
    {"regexp:{ {/^[{]}/ braces} }", NULL, {{"{}", "braces"}, {"{", NULL}}},
    {"regexp:{}", NULL, {{"a", NULL}, {"", NULL}}},
    {"regexp:{ {} , {/a/ A} }", NULL, {{"a", "A"}}},
    {"proxy:regexp:{{/a/ A}}", NULL, {{"a", "A"}}},
    {"regexp:{ /a/ A }", "regexp map: no '{' at start of text in \"/a/\"", {{NULL, NULL}}},
    {"pcre:{ {/a/ A}", "pcre map: missing '}' in \"{ {/a/ A}\"", {{NULL, NULL}}},
    {"regexp:{ {/a/ A} } x", "regexp map: syntax error after '}'", {{NULL, NULL}}},
    /* A broken rule names its position: the Nth rule is line N. */
    {"regexp:{ {}, {/a/ A}, {/(b/ B} }", "{ {}, {/a/ A}, {/(b/ B} }, line 3: ", {{NULL, NULL}}},
    {"regexp:{ {/a/ A}, {/b/ $2} }", "{ {/a/ A}, {/b/ $2} }, line 2: out of range replacement",
     {{NULL, NULL}}},
    {"pcre:{ {/(b/ B} }", "{ {/(b/ B} }, line 1: missing closing parenthesis", {{NULL, NULL}}},
    {"regexp:{ { {/a/ A} } }", "{ { {/a/ A} } }, line 1: ", {{NULL, NULL}}},
    {"regexp:{ {if /a/}, {/b/ B} }", "{ {if /a/}, {/b/ B} }, line ", {{NULL, NULL}}},
};

static void open_cases_match_postmap(void **state)
{
    (void)state;
    char buf[128];
    struct map_value v = {buf, sizeof(buf), 0};

    for (size_t c = 0; c < sizeof(open_cases) / sizeof(open_cases[0]); c++) {
        const struct open_case *tc = &open_cases[c];
        struct map *m = NULL;
        struct map_err err = {{0}};
        int rc = map_open(tc->ref, 0, &m, &err);
        if (tc->error) {
            if (rc == 0)
                fail_msg("case %zu %s: opened", c, tc->ref);
            if (strncmp(err.msg, tc->error, strlen(tc->error)) != 0)
                fail_msg("case %zu %s: error \"%s\", want \"%s...\"", c, tc->ref, err.msg,
                         tc->error);
            assert_null(m);
            continue;
        }
        if (rc != 0)
            fail_msg("case %zu %s: %s", c, tc->ref, err.msg);
        for (size_t i = 0; i < 5 && tc->probes[i].key; i++) {
            const struct probe *p = &tc->probes[i];
            int r = map_lookup_str(m, p->key, &v);
            if (p->want == NULL) {
                if (r != 0)
                    fail_msg("case %zu %s key \"%s\": found \"%s\"", c, tc->ref, p->key, buf);
            } else {
                if (r != 1)
                    fail_msg("case %zu %s key \"%s\": rc %d", c, tc->ref, p->key, r);
                assert_string_equal(buf, p->want);
            }
        }
        map_close(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rules_text_cases),
        cmocka_unit_test(rules_text_stops_at_nul),
        cmocka_unit_test(open_cases_match_postmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
