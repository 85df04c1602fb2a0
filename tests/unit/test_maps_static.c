/* test_maps_static.c - static: tables and the "type:name" dispatcher. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "maps.h"

static void static_returns_value_for_any_key(void **state)
{
    (void)state;
    struct map *m;
    struct map_err err;
    char buf[64];
    struct map_value v = {buf, sizeof(buf), 0};

    assert_int_equal(map_open("static:REJECT", 0, &m, &err), 0);
    assert_int_equal(map_lookup_str(m, "anything", &v), 1);
    assert_string_equal(buf, "REJECT");
    assert_int_equal(map_lookup_str(m, "", &v), 1);
    map_close(m);
}

static void static_braces_keep_spaces(void **state)
{
    (void)state;
    struct map *m;
    struct map_err err;
    char buf[64];
    struct map_value v = {buf, sizeof(buf), 0};

    assert_int_equal(map_open("static:{ 550 go away }", 0, &m, &err), 0);
    assert_int_equal(map_lookup_str(m, "x", &v), 1);
    assert_string_equal(buf, "550 go away");
    map_close(m);
    assert_int_equal(map_open("static:{ unclosed", 0, &m, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "missing '}'"));
}

static void result_too_long_is_enospc(void **state)
{
    (void)state;
    struct map *m;
    struct map_err err;
    char buf[4];
    struct map_value v = {buf, sizeof(buf), 0};

    assert_int_equal(map_open("static:toolong", 0, &m, &err), 0);
    assert_int_equal(map_lookup_str(m, "k", &v), -ENOSPC);
    map_close(m);
}

static void bad_references_are_rejected(void **state)
{
    (void)state;
    struct map *m;
    struct map_err err;

    assert_int_equal(map_open("nosuchtype:/x", 0, &m, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unsupported table type: nosuchtype"));
    assert_int_equal(map_open("/etc/postfix/x", 0, &m, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "expected type:name"));
    assert_int_equal(map_open(":x", 0, &m, &err), -EINVAL);
    /* proxy: is accepted and stripped */
    assert_int_equal(map_open("proxy:static:OK", 0, &m, &err), 0);
    assert_string_equal(m->ref, "static:OK");
    map_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(static_returns_value_for_any_key),
        cmocka_unit_test(static_braces_keep_spaces),
        cmocka_unit_test(result_too_long_is_enospc),
        cmocka_unit_test(bad_references_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
