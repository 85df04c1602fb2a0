/* test_content_action.c - header/body_checks results as cleanup_act()
 * reads them (header_checks(5), Postfix 3.7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "content_action.h"

static const struct acase {
    const char *in;
    enum content_ctx ctx;
    enum content_act act;
    enum content_warn warn;
    const char *text;   /* optional text expected */
    const char *reason; /* REJECT reason, or NULL */
    int defer;
} cases[] = {
    {"REJECT", CONTENT_CTX_HEADER, CONTENT_ACT_REJECT, CONTENT_WARN_NONE, "",
     "5.7.1 message content rejected", 0},
    {"reject go away", CONTENT_CTX_HEADER, CONTENT_ACT_REJECT, CONTENT_WARN_NONE, "go away",
     "5.7.1 go away", 0},
    {"REJECT 5.7.0 custom", CONTENT_CTX_BODY, CONTENT_ACT_REJECT, CONTENT_WARN_NONE,
     "5.7.0 custom", "5.7.0 custom", 0},
    {"REJECT 4.7.1 later", CONTENT_CTX_BODY, CONTENT_ACT_REJECT, CONTENT_WARN_NONE,
     "4.7.1 later", "4.7.1 later", 1},
    {"REJECT 2.0.0 odd", CONTENT_CTX_BODY, CONTENT_ACT_REJECT, CONTENT_WARN_BAD_DSN,
     "2.0.0 odd", "4.0.0 odd", 1},
    {"REJECT 554 no dsn", CONTENT_CTX_BODY, CONTENT_ACT_REJECT, CONTENT_WARN_NONE,
     "554 no dsn", "5.7.1 554 no dsn", 0},
    {"REJECT 5.7.1234 x", CONTENT_CTX_BODY, CONTENT_ACT_REJECT, CONTENT_WARN_NONE,
     "5.7.1234 x", "5.7.1 5.7.1234 x", 0},
    {"REJECT\t\t tabbed", CONTENT_CTX_BODY, CONTENT_ACT_REJECT, CONTENT_WARN_NONE, "tabbed",
     "5.7.1 tabbed", 0},
    {"WARN", CONTENT_CTX_HEADER, CONTENT_ACT_WARN, CONTENT_WARN_NONE, "", NULL, 0},
    {"Warn look here", CONTENT_CTX_HEADER, CONTENT_ACT_WARN, CONTENT_WARN_NONE, "look here",
     NULL, 0},
    {"IGNORE", CONTENT_CTX_HEADER, CONTENT_ACT_IGNORE, CONTENT_WARN_NONE, "", NULL, 0},
    {"DISCARD spam", CONTENT_CTX_BODY, CONTENT_ACT_DISCARD, CONTENT_WARN_NONE, "spam", NULL, 0},
    {"HOLD", CONTENT_CTX_BODY, CONTENT_ACT_HOLD, CONTENT_WARN_NONE, "", NULL, 0},
    {"DUNNO", CONTENT_CTX_BODY, CONTENT_ACT_DUNNO, CONTENT_WARN_NONE, "", NULL, 0},
    {"OK", CONTENT_CTX_BODY, CONTENT_ACT_DUNNO, CONTENT_WARN_NONE, "", NULL, 0},
    {"INFO seen", CONTENT_CTX_BODY, CONTENT_ACT_INFO, CONTENT_WARN_NONE, "seen", NULL, 0},
    {"PASS", CONTENT_CTX_BODY, CONTENT_ACT_PASS, CONTENT_WARN_NONE, "", NULL, 0},
    {"STRIP gone", CONTENT_CTX_HEADER, CONTENT_ACT_STRIP, CONTENT_WARN_NONE, "gone", NULL, 0},
    {"PREPEND X-Tag: yes", CONTENT_CTX_HEADER, CONTENT_ACT_PREPEND, CONTENT_WARN_NONE,
     "X-Tag: yes", NULL, 0},
    {"PREPEND X-Tag : spaced", CONTENT_CTX_HEADER, CONTENT_ACT_PREPEND, CONTENT_WARN_NONE,
     "X-Tag : spaced", NULL, 0},
    {"PREPEND not a header", CONTENT_CTX_HEADER, CONTENT_ACT_DUNNO,
     CONTENT_WARN_PREPEND_HEADER, "not a header", NULL, 0},
    {"PREPEND not a header", CONTENT_CTX_BODY, CONTENT_ACT_PREPEND, CONTENT_WARN_NONE,
     "not a header", NULL, 0},
    {"PREPEND", CONTENT_CTX_BODY, CONTENT_ACT_DUNNO, CONTENT_WARN_PREPEND_EMPTY, "", NULL, 0},
    {"PREPEND :x", CONTENT_CTX_HEADER, CONTENT_ACT_DUNNO, CONTENT_WARN_PREPEND_HEADER, ":x",
     NULL, 0},
    {"REPLACE Subject: new", CONTENT_CTX_HEADER, CONTENT_ACT_REPLACE, CONTENT_WARN_NONE,
     "Subject: new", NULL, 0},
    {"REDIRECT a@b", CONTENT_CTX_HEADER, CONTENT_ACT_REDIRECT, CONTENT_WARN_NONE, "a@b", NULL,
     0},
    {"REDIRECT nobody", CONTENT_CTX_HEADER, CONTENT_ACT_DUNNO, CONTENT_WARN_REDIRECT_TARGET,
     "nobody", NULL, 0},
    {"BCC x@y", CONTENT_CTX_HEADER, CONTENT_ACT_BCC, CONTENT_WARN_NONE, "x@y", NULL, 0},
    {"BCC", CONTENT_CTX_HEADER, CONTENT_ACT_DUNNO, CONTENT_WARN_BCC_ADDRESS, "", NULL, 0},
    {"FILTER smtp:[h]:25", CONTENT_CTX_HEADER, CONTENT_ACT_FILTER, CONTENT_WARN_NONE,
     "smtp:[h]:25", NULL, 0},
    {"FILTER", CONTENT_CTX_HEADER, CONTENT_ACT_DUNNO, CONTENT_WARN_FILTER_EMPTY, "", NULL, 0},
    {"FILTER smtp", CONTENT_CTX_HEADER, CONTENT_ACT_DUNNO, CONTENT_WARN_FILTER_BAD, "smtp",
     NULL, 0},
    {"REJECTX", CONTENT_CTX_HEADER, CONTENT_ACT_DUNNO, CONTENT_WARN_UNKNOWN, "", NULL, 0},
    {"550 go away", CONTENT_CTX_HEADER, CONTENT_ACT_DUNNO, CONTENT_WARN_UNKNOWN, "go away",
     NULL, 0},
    {"", CONTENT_CTX_HEADER, CONTENT_ACT_DUNNO, CONTENT_WARN_UNKNOWN, "", NULL, 0},
    /* only space and tab end the word (strcspn " \t") */
    {"WARN\nx", CONTENT_CTX_HEADER, CONTENT_ACT_DUNNO, CONTENT_WARN_UNKNOWN, "", NULL, 0},
};

static void table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct acase *c = &cases[i];
        struct content_action a;
        content_action_parse(c->in, strlen(c->in), c->ctx, &a);
        if (a.act != c->act || a.warn != c->warn || a.text_len != strlen(c->text) ||
            memcmp(a.text, c->text, a.text_len) != 0 ||
            (c->reason && (strcmp(a.reason, c->reason) != 0 || a.defer != c->defer))) {
            print_error("case '%s': act %d warn %d text '%.*s' reason '%s'\n", c->in, a.act,
                        a.warn, (int)a.text_len, a.text, a.reason);
            fail();
        }
    }
}

static void warnings(void **state)
{
    (void)state;
    struct content_action a;
    char buf[256];
    content_action_parse("PREPEND oops", 12, CONTENT_CTX_HEADER, &a);
    assert_int_equal(content_action_warning(&a, "header_checks", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "bad PREPEND header text \"oops\" in header_checks map -- need "
                             "\"headername: headervalue\"");
    content_action_parse("FROB it", 7, CONTENT_CTX_BODY, &a);
    assert_int_equal(content_action_warning(&a, "body_checks", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "unknown command in body_checks map: FROB it");
    content_action_parse("REDIRECT x", 10, CONTENT_CTX_BODY, &a);
    assert_int_equal(content_action_warning(&a, "body_checks", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "bad REDIRECT target \"x\" in body_checks map -- need user@domain");
    content_action_parse("WARN", 4, CONTENT_CTX_BODY, &a);
    assert_int_equal(content_action_warning(&a, "body_checks", buf, sizeof(buf)), -EINVAL);
    content_action_parse("FROB it", 7, CONTENT_CTX_BODY, &a);
    assert_int_equal(content_action_warning(&a, "body_checks", buf, 8), -ENOSPC);
}

static void embedded_nul_ends_text(void **state)
{
    (void)state;
    struct content_action a;
    content_action_parse("REJECT ab\0cd", 12, CONTENT_CTX_HEADER, &a);
    assert_int_equal(a.act, CONTENT_ACT_REJECT);
    assert_string_equal(a.reason, "5.7.1 ab");
    assert_int_equal(a.text_len, 2);
}

static void helpers(void **state)
{
    (void)state;
    assert_int_equal(content_dsn_valid("5.7.1", 5), 5);
    assert_int_equal(content_dsn_valid("5.7.1 x", 7), 5);
    assert_int_equal(content_dsn_valid("5.7.1x", 6), 0);
    assert_int_equal(content_dsn_valid("3.7.1", 5), 0);
    assert_int_equal(content_dsn_valid("5.1234.1", 8), 0);
    assert_int_equal(content_dsn_valid("5..1", 4), 0);
    assert_int_equal(content_is_header("Subject: x", 10), 7);
    assert_int_equal(content_is_header("Subject :x", 10), 7);
    assert_int_equal(content_is_header(" Subject: x", 11), 0);
    assert_int_equal(content_is_header("Sub ject: x", 11), 0);
    assert_int_equal(content_is_header("Subject", 7), 0);
    assert_int_equal(content_is_header("S\xc3\xa9: x", 6), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table),
        cmocka_unit_test(warnings),
        cmocka_unit_test(embedded_nul_ends_text),
        cmocka_unit_test(helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
