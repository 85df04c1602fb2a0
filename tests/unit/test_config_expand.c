/* test_config_expand.c - $name expansion against Postfix mac_expand()
 * results (checked with postconf -x on Postfix 3.7.11). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "config.h"

static const char *const vars[][2] = {
    {"a", "one"}, {"empty", ""}, {"ref", "$a"}, {"loop1", "$loop2"}, {"loop2", "$loop1"},
    {"self", "x$self"}, {"dollar", "$$x"}, {"ten", "10"}, {"level", "3.6"},
    {"e1", "$e2$e2"},
    {"e2", "$e3$e3"},
    {"e3", "$e4$e4"},
    {"e4", "$e5$e5"},
    {"e5", "$e6$e6"},
    {"e6", "$e7$e7"},
    {"e7", "$e8$e8"},
    {"e8", "$e9$e9"},
    {"e9", "$e10$e10"},
    {"e10", "$e11$e11"},
    {"e11", "$e12$e12"},
    {"e12", "$e13$e13"},
    {"e13", "$e14$e14"},
    {"e14", "$e15$e15"},
    {"e15", "$e16$e16"},
    {"e16", "$e17$e17"},
    {"e17", "$e18$e18"},
    {"e18", "$e19$e19"},
    {"e19", "$e20$e20"},
    {"e20", "$e21$e21"},
    {"e21", "$e22$e22"},
    {"e22", "$e23$e23"},
    {"e23", "$e24$e24"},
    {"e24", "$e25$e25"},
    {"e25", "x"},
};

static const char *lookup(void *ctx, const char *name, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (strlen(vars[i][0]) == len && memcmp(vars[i][0], name, len) == 0)
            return vars[i][1];
    return NULL;
}

struct tc {
    const char *in;
    int rc;
    const char *out; /* result, or a substring of err.msg when rc < 0 */
};

static const struct tc cases[] = {
    {"plain", 0, "plain"},
    {"", 0, ""},
    {"$a", 0, "one"},
    {"h.$a.example", 0, "h.one.example"},
    {"${a}x$(a)y", 0, "onexoney"},
    {"${ a }", 0, "one"},
    {"$a_b", 0, ""},                 /* name is a_b: undefined -> empty */
    {"$a-b", 0, "one-b"},
    {"$undefinedname end", 0, " end"},
    {"$$lit $$$a", 0, "$lit $one"},
    {"$ref", 0, "one"},              /* recursive */
    {"$dollar", 0, "$x"},
    {"${a?set}:${zz?set}:${a:unset}:${zz:unset}", 0, "set:::unset"},
    {"${empty?set}:${empty:unset}", 0, ":unset"},
    {"${a?{braced, val}}|${zz:{un, set}}", 0, "braced, val|un, set"},
    {"${a ? { sp } : {no}}", 0, " sp "},
    {"${zz?{y}:{n}}", 0, "n"},
    {"${a?$a}", 0, "one"},
    {"${a?x:y}", 0, "x:y"},          /* no braces: the rest is the text */
    {"${{$a} == {one} ? {eq} : {ne}}", 0, "eq"},
    {"${{10} < {9}?{lt}:{ge}}", 0, "ge"},       /* numeric */
    {"${{abc} < {abd}?{lt}:{ge}}", 0, "lt"},    /* lexical */
    {"${{$ten} >= {10}?{y}:{n}}", 0, "y"},
    {"${{$level} <level {3.10} ? {old} : {new}}", 0, "old"},
    {"${{a} != {a}}", 0, ""},
    {"$", -EINVAL, "empty macro name"},
    {"a $ b", -EINVAL, "empty macro name"},
    {"${", -EINVAL, "truncated macro reference"},
    {"${a", -EINVAL, "truncated macro reference"},
    {"$(a}", -EINVAL, "truncated macro reference"},
    {"${}", -EINVAL, "empty macro name"},
    {"${na me}", -EINVAL, "attribute name syntax error"},
    {"${a?{x}y}", -EINVAL, "\":\" expected"},
    {"${a?{x}", -EINVAL, "truncated macro reference"},
    {"${a?{x}:{y}z}", -EINVAL, "unexpected input"},
    {"${a?{x}:{y}", -EINVAL, "truncated"},
    {"${a?{x}}", 0, "x"},
    {"${{a} = {b}?{x}}", -EINVAL, "expected at"},
    {"${{a} == b}", -EINVAL, "\"{expression}\" expected"},
    {"${{a} ==foo {b}}", -EINVAL, "bad operator suffix"},
    {"${{a}", -EINVAL, "truncated"},
    {"$({a == {b})", -EINVAL, "unbalanced {}"},
    {"$loop1", -ELOOP, "unreasonable macro call nesting"},
    {"$self", -ELOOP, "unreasonable macro call nesting"},
    {"$e1", -E2BIG, "expansion too large"},
};

static void expansion_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tc *c = &cases[i];
        struct strbuf sb;
        struct cfg_expand_err err;
        strbuf_init(&sb);
        int rc = cfg_expand(c->in, strlen(c->in), lookup, NULL, &sb, &err);
        if (rc != c->rc)
            fail_msg("case %zu \"%s\": rc %d, want %d (%s)", i, c->in, rc, c->rc, err.msg);
        if (rc == 0) {
            if (strcmp(strbuf_cstr(&sb), c->out) != 0)
                fail_msg("case %zu \"%s\": got \"%s\", want \"%s\"", i, c->in, sb.buf, c->out);
        } else if (!strstr(err.msg, c->out)) {
            fail_msg("case %zu \"%s\": message \"%s\" lacks \"%s\"", i, c->in, err.msg, c->out);
        }
        strbuf_free(&sb);
    }
}

static void undefined_name_is_reported(void **state)
{
    (void)state;
    struct strbuf sb;
    struct cfg_expand_err err;
    strbuf_init(&sb);
    assert_int_equal(cfg_expand("x$nosuch y", 10, lookup, NULL, &sb, &err), 0);
    assert_string_equal(err.undef, "nosuch");
    strbuf_free(&sb);
}

static void scan_cb(void *ctx, const char *name, size_t len)
{
    struct strbuf *sb = ctx;
    strbuf_append(sb, name, len);
    strbuf_putc(sb, ',');
}

static void scan_finds_every_reference(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb);
    cfg_expand_scan("$a ${b?$c} ${d:{$e}} $$f", scan_cb, &sb);
    assert_string_equal(strbuf_cstr(&sb), "a,b,c,d,e,");
    strbuf_free(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expansion_table),
        cmocka_unit_test(undefined_name_is_reported),
        cmocka_unit_test(scan_finds_every_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
