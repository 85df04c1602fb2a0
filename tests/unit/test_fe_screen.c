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

/* postscreen mode's reader (psc_smtpd_read_event()): the verb is the
 * whole first word (spaces only separate words), the argument the rest
 * after one space; then the next word, and the MAIL/RCPT address as
 * psc_extract_addr() takes it. Each row: line, verb, raw argument, the
 * next word (NULL: none), the address (NULL: no ':', a syntax error). */
static void enforce_commands(void **state)
{
    (void)state;
    struct {
        const char *line;
        enum dummy_verb v;
        const char *arg, *word, *addr;
    } t[] = {
        {"HELO host.example\r", DUMMY_HELO, "host.example", "host.example", NULL},
        {"ehlo   x  \r", DUMMY_EHLO, "  x  ", "x", NULL},
        {"HELO", DUMMY_HELO, "", NULL, NULL},
        {"HELO   ", DUMMY_HELO, "  ", NULL, NULL},
        {"MAIL FROM:<a@b.example> SIZE=10", DUMMY_MAIL, "FROM:<a@b.example> SIZE=10", "FROM:<a@b.example>",
         "a@b.example"},
        {"mail from: <>", DUMMY_MAIL, "from: <>", "from:", ""},
        {"MAIL FROM:a@b SIZE=1", DUMMY_MAIL, "FROM:a@b SIZE=1", "FROM:a@b", "a@b"},
        /* no keyword is checked: any colon will do */
        {"MAIL TO:<a@b>", DUMMY_MAIL, "TO:<a@b>", "TO:<a@b>", "a@b"},
        {"MAIL FROM", DUMMY_MAIL, "FROM", "FROM", NULL},
        {"MAIL", DUMMY_MAIL, "", NULL, NULL},
        {"RCPT TO:<c@d>", DUMMY_RCPT, "TO:<c@d>", "TO:<c@d>", "c@d"},
        {"RCPT TO:<unclosed", DUMMY_RCPT, "TO:<unclosed", "TO:<unclosed", "unclosed"},
        {"RCPT TO:<@r1,@r2:c@d>", DUMMY_RCPT, "TO:<@r1,@r2:c@d>", "TO:<@r1,@r2:c@d>", "c@d"},
        {"RCPT TO:<\"a b\"@d>", DUMMY_RCPT, "TO:<\"a b\"@d>", "TO:<\"a", "a b@d"},
        {"RCPT TO:<a\\>b@d>", DUMMY_RCPT, "TO:<a\\>b@d>", "TO:<a\\>b@d>", "a>b@d"},
        {"RCPT TO:a\\", DUMMY_RCPT, "TO:a\\", "TO:a\\", "a"},
        {"RCPT TO:  <x@y>", DUMMY_RCPT, "TO:  <x@y>", "TO:", "x@y"},
        {"RCPT TO:", DUMMY_RCPT, "TO:", "TO:", ""},
        {"DATA", DUMMY_DATA, "", NULL, NULL},
        {"DATA x", DUMMY_DATA, "x", "x", NULL},
        {"DATAX", DUMMY_UNKNOWN, "", NULL, NULL},
        {"BDAT 10 LAST\r", DUMMY_BDAT, "10 LAST", "10", NULL},
        {"BDAT", DUMMY_BDAT, "", NULL, NULL},
        {"BDAT10", DUMMY_UNKNOWN, "", NULL, NULL},
        /* a tab is part of a word, not a separator */
        {"bdat\t x y ", DUMMY_UNKNOWN, "x y ", "x", NULL},
        {"NOOP\t", DUMMY_UNKNOWN, "", NULL, NULL},
        {"VRFY a@b", DUMMY_VRFY, "a@b", "a@b", NULL},
        {"etrn  ", DUMMY_ETRN, " ", NULL, NULL},
        {"STARTTLS", DUMMY_STARTTLS, "", NULL, NULL},
        {"xclient ADDR=1.2.3.4", DUMMY_XCLIENT, "ADDR=1.2.3.4", "ADDR=1.2.3.4", NULL},
        {"AUTH PLAIN", DUMMY_AUTH, "PLAIN", "PLAIN", NULL},
        {"XFORWARD NAME=x", DUMMY_XFORWARD, "NAME=x", "NAME=x", NULL},
        {"QUIT\r", DUMMY_QUIT, "", NULL, NULL},
        {"QUIT\r\r", DUMMY_UNKNOWN, "", NULL, NULL},
        {"  \r", DUMMY_EMPTY, "", NULL, NULL},
        {"", DUMMY_EMPTY, "", NULL, NULL},
        {"GET / HTTP/1.0\r", DUMMY_UNKNOWN, "/ HTTP/1.0", "/", NULL},
        {"noop", DUMMY_NOOP, "", NULL, NULL},
        {"  RSET", DUMMY_RSET, "", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *arg, *w;
        size_t alen, wl;
        char addr[64];
        enum dummy_verb v = dummy_cmd_parse(t[i].line, strlen(t[i].line), &arg, &alen);
        if (v != t[i].v)
            fail_msg("%s: verb %d, want %d", t[i].line, (int)v, (int)t[i].v);
        if (v == DUMMY_UNKNOWN || v == DUMMY_EMPTY)
            continue;
        if (alen != strlen(t[i].arg) || memcmp(arg, t[i].arg, alen) != 0)
            fail_msg("%s: argument '%.*s', want '%s'", t[i].line, (int)alen, arg, t[i].arg);
        bool has = dummy_cmd_word(arg, alen, &w, &wl);
        if (has != (t[i].word != NULL) ||
            (has && (wl != strlen(t[i].word) || memcmp(w, t[i].word, wl) != 0)))
            fail_msg("%s: word '%.*s', want '%s'", t[i].line, has ? (int)wl : 0, w,
                     t[i].word ? t[i].word : "(none)");
        int n = dummy_cmd_addr(arg, alen, addr, sizeof(addr));
        if ((n < 0) != (t[i].addr == NULL) || (n >= 0 && strcmp(addr, t[i].addr) != 0))
            fail_msg("%s: address %d '%s', want '%s'", t[i].line, n, n >= 0 ? addr : "",
                     t[i].addr ? t[i].addr : "(none)");
    }
    /* a NUL ends the line, as postscreen's C string does */
    const char *arg;
    size_t alen;
    assert_int_equal(dummy_cmd_parse("NOOP\0QUIT", 9, &arg, &alen), DUMMY_NOOP);
    assert_int_equal(alen, 0);
    /* the address is cut to the buffer, still NUL-terminated */
    char small[4];
    assert_int_equal(dummy_cmd_addr("TO:<abcdef>", 11, small, sizeof(small)), 3);
    assert_string_equal(small, "abc");
    assert_string_equal(dummy_cmd_name(DUMMY_EMPTY), "UNIMPLEMENTED");
    assert_string_equal(dummy_cmd_name(DUMMY_STARTTLS), "STARTTLS");
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
