/* test_config_parse.c - the pure main.cf reader: logical lines, comments,
 * continuations, last-wins, and Postfix's messages for bad lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "config.h"

struct good {
    const char *text;
    const char *name;
    const char *value; /* NULL: name must be absent */
    int line;
};

static const struct good goods[] = {
    {"a = b\n", "a", "b", 1},
    {"a=b", "a", "b", 1},                             /* no newline at end, no blanks */
    {"a   =   b c  \t\n", "a", "b c", 1},             /* value trimmed, inside kept */
    {"a =\n", "a", "", 1},                            /* empty value */
    {"# c\n  # indented comment\n\na = 1\n", "a", "1", 4},
    {"a = one\n two\n", "a", "one two", 1},           /* newline dropped, blank kept */
    {"a = one\n\ttwo\n   three\n", "a", "one\ttwo   three", 1},
    {"a = y\n#comment\n  cont\n", "a", "y  cont", 1}, /* comment inside continuation */
    {"a = y\n\n  cont\n", "a", "y  cont", 1},         /* blank line inside continuation */
    {"a = 1\nb = 2\na = 3\n", "a", "3", 3},           /* last definition wins */
    {"a = 1\nb = 2\na = 3\n", "b", "2", 2},
    {"a = x # not a comment\n", "a", "x # not a comment", 1},
    {"a = b = c\n", "a", "b = c", 1},
    {"a = b\r\n", "a", "b", 1},                       /* CR is whitespace, trimmed */
    {"  lead = x\nb = 1\n", "lead", NULL, 0},        /* skipped with a warning */
    {"  lead = x\nb = 1\n", "b", "1", 2},
    {"a = $b ${c} $(d)\n", "a", "$b ${c} $(d)", 1},  /* not expanded here */
};

static void good_lines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        struct cfg_file f = {0};
        struct cfg_diag d;
        cfg_diag_init(&d);
        const struct good *g = &goods[i];
        int rc = cfg_parse(g->text, strlen(g->text), "main.cf", &f, &d);
        assert_int_equal(rc, 0);
        assert_int_equal(d.errors, 0);
        const struct cfg_entry *e = cfg_file_find(&f, g->name, strlen(g->name));
        if (!g->value) {
            assert_null(e);
        } else {
            assert_non_null(e);
            assert_string_equal(e->value, g->value);
            assert_int_equal(e->line, g->line);
        }
        cfg_file_free(&f);
        cfg_diag_free(&d);
    }
}

struct bad {
    const char *text;
    const char *msg; /* substring of the first message */
    int rc;
};

static const struct bad bads[] = {
    {"foo bar\n", "main.cf, line 1: missing '=' after attribute name: \"foo bar\"", -EINVAL},
    {"a = 1\n= value\n", "main.cf, line 2: missing attribute name: \"= value\"", -EINVAL},
    {"a b = c\n", "line 1: missing '=' after attribute name", -EINVAL},
    {"a = 1\nfoo\n  bar\n", "line 2: missing '=' after attribute name: \"foo  bar\"", -EINVAL},
    {"x\n", "line 1: missing '='", -EINVAL},
    {"  indented first\n", "line 1: logical line must not start with whitespace", 0},
    {"a = 1\0b\n", "line 1: text after null byte may be ignored", 0},
};

static void bad_lines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        struct cfg_file f = {0};
        struct cfg_diag d;
        cfg_diag_init(&d);
        const struct bad *b = &bads[i];
        size_t len = strlen(b->text);
        if (strstr(b->msg, "null byte"))
            len = 9;
        int rc = cfg_parse(b->text, len, "main.cf", &f, &d);
        assert_int_equal(rc, b->rc);
        assert_non_null(cfg_diag_find(&d, b->msg));
        cfg_file_free(&f);
        cfg_diag_free(&d);
    }
}

static void all_bad_lines_reported(void **state)
{
    (void)state;
    const char *t = "bad one\na = 1\nbad two\n";
    struct cfg_file f = {0};
    struct cfg_diag d;
    cfg_diag_init(&d);
    assert_int_equal(cfg_parse(t, strlen(t), "m", &f, &d), -EINVAL);
    assert_int_equal(d.errors, 2);
    assert_non_null(cfg_file_find(&f, "a", 1));
    cfg_file_free(&f);
    cfg_diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_lines),
        cmocka_unit_test(bad_lines),
        cmocka_unit_test(all_bad_lines_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
