/* test_fe_screen.c - the frontend's pure helpers: the tarpit drip schedule,
 * the PREGREET text (Postfix's escape()), the enforce engine's command
 * reader and the access list's table values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "access_list.h"
#include "dummy_cmd.h"
#include "pregreet.h"
#include "tarpit.h"

static void drip_schedule(void **state)
{
    (void)state;
    struct {
        unsigned rate;
        uint64_t start, sent, now;
        unsigned burst;
        unsigned want_n;
        uint64_t want_next;
    } t[] = {
        {1, 1000, 0, 1000, 8, 1, 2000},    /* first byte at once */
        {1, 1000, 1, 1000, 8, 0, 2000},    /* then wait a second */
        {1, 1000, 1, 1999, 8, 0, 2000},
        {1, 1000, 1, 2000, 8, 1, 3000},
        {1, 1000, 1, 5500, 8, 4, 6000},    /* late: catch up with what is due */
        {1, 1000, 1, 5500, 2, 2, 4000},    /* ... at most a burst */
        {3, 0, 1, 333, 8, 0, 334},         /* 1000/3 rounded up */
        {3, 0, 1, 334, 8, 1, 667},
        {2000, 0, 0, 0, 8, 1, 1},          /* above 1000/s: several a tick */
        {2000, 0, 1, 1, 8, 2, 2},
        {1, 5000, 0, 10, 8, 1, 6000},      /* now before start counts as start */
        {0, 0, 0, 0, 8, 1, 1000},          /* rate 0 is taken as 1 */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        unsigned n;
        uint64_t next;
        tarpit_plan(t[i].rate, t[i].start, t[i].sent, t[i].now, t[i].burst, &n, &next);
        assert_int_equal(n, t[i].want_n);
        assert_int_equal(next, t[i].want_next);
    }
}

static void pregreet_text(void **state)
{
    (void)state;
    struct {
        const char *in;
        size_t len;
        const char *want;
    } t[] = {
        {"EHLO example.com\r\n", 18, "EHLO example.com\\r\\n"},
        {"a\\b", 3, "a\\\\b"},
        {"\a\b\f\t\v", 5, "\\a\\b\\f\\t\\v"},
        {"\x01X", 2, "\\1X"},
        {"\x01" "7", 2, "\\0017"},           /* a digit follows: three digits */
        {"\xff\xfe", 2, "\\377\\376"},
        {"\0x", 2, "\\0x"},
        {"", 0, ""},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char out[PREGREET_TEXT_MAX + 1];
        size_t n = pregreet_escape((const unsigned char *)t[i].in, t[i].len, out, sizeof(out));
        assert_string_equal(out, t[i].want);
        assert_int_equal(n, strlen(t[i].want));
    }
    /* %.100s: cut at 100 characters, even inside an escape. */
    unsigned char big[300];
    memset(big, '\n', sizeof(big));
    char out[PREGREET_TEXT_MAX + 1];
    assert_int_equal(pregreet_escape(big, sizeof(big), out, sizeof(out)), 100);
    assert_int_equal(strlen(out), 100);
    char small[8];
    assert_int_equal(pregreet_escape((const unsigned char *)"abcdefghij", 10, small, sizeof(small)),
                     7);
    assert_string_equal(small, "abcdefg");
}

static void enforce_commands(void **state)
{
    (void)state;
    struct {
        const char *line;
        enum dummy_verb v;
        const char *arg;
    } t[] = {
        {"HELO host.example\r", DUMMY_HELO, "host.example"},
        {"ehlo   x  \r", DUMMY_EHLO, "x"},
        {"MAIL FROM:<a@b.example> SIZE=10", DUMMY_MAIL, "a@b.example"},
        {"mail from: <>", DUMMY_MAIL, ""},
        {"MAIL FROM:a@b", DUMMY_MAIL, "a@b"},
        {"MAIL TO:<a@b>", DUMMY_UNKNOWN, ""},
        {"MAIL", DUMMY_UNKNOWN, ""},
        {"RCPT TO:<c@d>", DUMMY_RCPT, "c@d"},
        {"RCPT TO:<unclosed", DUMMY_RCPT, "<unclosed"},
        {"DATA", DUMMY_DATA, ""},
        {"DATAX", DUMMY_UNKNOWN, ""},
        {"BDAT 10 LAST\r", DUMMY_BDAT, "10 LAST"},
        {"bdat\t x y ", DUMMY_BDAT, "x y"},
        {"BDAT", DUMMY_BDAT, ""},
        {"BDAT10", DUMMY_UNKNOWN, ""},
        {"QUIT\r", DUMMY_QUIT, ""},
        {"  \r", DUMMY_EMPTY, ""},
        {"", DUMMY_EMPTY, ""},
        {"GET / HTTP/1.0\r", DUMMY_UNKNOWN, ""},
        {"noop", DUMMY_NOOP, ""},
        {"RSET", DUMMY_RSET, ""},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *arg;
        size_t alen;
        enum dummy_verb v = dummy_cmd_parse(t[i].line, strlen(t[i].line), &arg, &alen);
        assert_int_equal(v, t[i].v);
        if (v != DUMMY_UNKNOWN && v != DUMMY_EMPTY) {
            assert_int_equal(alen, strlen(t[i].arg));
            assert_memory_equal(arg, t[i].arg, alen);
        }
    }
}

static void access_table_values(void **state)
{
    (void)state;
    struct {
        const char *val;
        int mynet;
        enum fe_acl_result want;
    } t[] = {
        {"permit", 0, FE_ACL_PERMIT},
        {"REJECT", 0, FE_ACL_REJECT},
        {"  dunno, reject", 0, FE_ACL_DUNNO},
        {"permit_mynetworks reject", 0, FE_ACL_REJECT},
        {"permit_mynetworks reject", 1, FE_ACL_PERMIT},
        {"permit_mynetworks", -1, FE_ACL_ERROR},
        {"cidr:/etc/x permit", 0, FE_ACL_DUNNO}, /* no tables in a table */
        {"OK", 0, FE_ACL_ERROR},                 /* unknown word */
        {"", 0, FE_ACL_DUNNO},
        {",\t\r", 0, FE_ACL_DUNNO},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(fe_acl_value(t[i].val, strlen(t[i].val), "cidr:test", t[i].mynet),
                         t[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(drip_schedule),
        cmocka_unit_test(pregreet_text),
        cmocka_unit_test(enforce_commands),
        cmocka_unit_test(access_table_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
