/* test_smtp_reply.c - SMTP reply and EHLO parsing: good, partial, hostile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

struct reply_case {
    const char *in;
    enum smtp_reply_result want;
    int code;
    unsigned nlines;
    size_t len; /* consumed; 0: strlen(in) */
    const char *dsn;
    const char *text;
};

static const struct reply_case cases[] = {
    {"250 ok\r\n", SMTP_REPLY_OK, 250, 1, 0, "", "ok"},
    {"250 2.1.0 Ok\r\n", SMTP_REPLY_OK, 250, 1, 0, "2.1.0", "Ok"},
    {"250 2.1.0\r\n", SMTP_REPLY_OK, 250, 1, 0, "2.1.0", ""},
    {"250\r\n", SMTP_REPLY_OK, 250, 1, 0, "", ""},
    {"250\n", SMTP_REPLY_OK, 250, 1, 0, "", ""},
    {"354 End data with <CR><LF>.<CR><LF>\r\n", SMTP_REPLY_OK, 354, 1, 0, "", "End data with <CR><LF>.<CR><LF>"},
    {"550 5.1.1 <x@y>: Recipient address rejected\r\n", SMTP_REPLY_OK, 550, 1, 0, "5.1.1",
     "<x@y>: Recipient address rejected"},
    /* dsn of another class than the code is text, not a dsn */
    {"550 4.1.1 odd\r\n", SMTP_REPLY_OK, 550, 1, 0, "", "4.1.1 odd"},
    {"250 2.1000.0 x\r\n", SMTP_REPLY_OK, 250, 1, 0, "", "2.1000.0 x"},
    {"250 2.1.0x\r\n", SMTP_REPLY_OK, 250, 1, 0, "", "2.1.0x"},
    {"451 4.3.0 Error: queue file write error\r\n", SMTP_REPLY_OK, 451, 1, 0, "4.3.0",
     "Error: queue file write error"},
    {"250-a\r\n250-PIPELINING\r\n250 8BITMIME\r\n", SMTP_REPLY_OK, 250, 3, 0, "", "a"},
    {"250-a\n250 b\n", SMTP_REPLY_OK, 250, 2, 0, "", "a"},
    /* a following reply is left alone */
    {"250 ok\r\n354 go\r\n", SMTP_REPLY_OK, 250, 1, 8, "", "ok"},
    /* partial */
    {"", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, NULL},
    {"25", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, NULL},
    {"250 ok\r", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, NULL},
    {"250-a\r\n", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, NULL},
    {"250-a\r\n250 b", SMTP_REPLY_NEED_MORE, 0, 0, 0, NULL, NULL},
    /* garbage */
    {"hello\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"25\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"2500 x\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"250x\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"150 x\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"650 x\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"260 x\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"25a x\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {" 250 x\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"250-a\r\n251 b\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"250-a\r\nxyz\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
    {"250-a\r\n\r\n", SMTP_REPLY_BAD, 0, 0, 0, NULL, NULL},
};

static void reply_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct reply_case *t = &cases[i];
        size_t n = strlen(t->in);
        /* Whole, and byte by byte with the resumable state. */
        for (int split = 0; split <= 1; split++) {
            struct smtp_reply r;
            smtp_reply_reset(&r);
            const char *why = NULL;
            enum smtp_reply_result got = SMTP_REPLY_NEED_MORE;
            if (!split) {
                got = smtp_reply_parse(t->in, n, &r, &why);
            } else {
                for (size_t k = 0; k <= n; k++) {
                    got = smtp_reply_parse(t->in, k, &r, &why);
                    if (got != SMTP_REPLY_NEED_MORE)
                        break;
                }
            }
            if (got != t->want)
                fail_msg("case %zu (%s) split=%d: got %d want %d", i, t->in, split, got,
                         t->want);
            if (got == SMTP_REPLY_BAD)
                assert_non_null(why);
            if (got != SMTP_REPLY_OK)
                continue;
            assert_int_equal(r.code, t->code);
            assert_int_equal(r.nlines, t->nlines);
            assert_int_equal(r.len, t->len ? t->len : n);
            assert_string_equal(r.dsn, t->dsn);
            char text[256];
            snprintf(text, sizeof(text), "%.*s", (int)r.text_len, t->in + r.text_off);
            assert_string_equal(text, t->text);
        }
    }
}

static void nul_and_limits(void **state)
{
    (void)state;
    struct smtp_reply r;
    const char *why;
    smtp_reply_reset(&r);
    assert_int_equal(smtp_reply_parse("250 a\0b\r\n", 9, &r, &why), SMTP_REPLY_BAD);

    /* A line of exactly the limit passes; one byte more does not, and a
     * partial line over the limit fails before its line end arrives. */
    static char buf[SMTP_REPLY_BYTES_MAX * 2];
    memset(buf, 'x', SMTP_REPLY_LINE_MAX + 10);
    memcpy(buf, "250 ", 4);
    memcpy(buf + SMTP_REPLY_LINE_MAX, "\r\n", 2);
    smtp_reply_reset(&r);
    assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_LINE_MAX + 2, &r, &why), SMTP_REPLY_OK);
    memset(buf, 'x', SMTP_REPLY_LINE_MAX + 10);
    memcpy(buf, "250 ", 4);
    memcpy(buf + SMTP_REPLY_LINE_MAX + 1, "\r\n", 2);
    smtp_reply_reset(&r);
    assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_LINE_MAX + 3, &r, &why), SMTP_REPLY_BAD);
    smtp_reply_reset(&r);
    assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_LINE_MAX + 1, &r, &why),
                     SMTP_REPLY_NEED_MORE);
    assert_int_equal(smtp_reply_parse(buf, SMTP_REPLY_LINE_MAX + 2, &r, &why), SMTP_REPLY_BAD);

    /* Line count: 100 lines pass, 101 do not. */
    size_t n = 0;
    for (int i = 0; i < SMTP_REPLY_LINES_MAX - 1; i++)
        n += (size_t)sprintf(buf + n, "250-line %d\r\n", i);
    n += (size_t)sprintf(buf + n, "250 last\r\n");
    smtp_reply_reset(&r);
    assert_int_equal(smtp_reply_parse(buf, n, &r, &why), SMTP_REPLY_OK);
    assert_int_equal(r.nlines, SMTP_REPLY_LINES_MAX);
    n = 0;
    for (int i = 0; i < SMTP_REPLY_LINES_MAX; i++)
        n += (size_t)sprintf(buf + n, "250-line %d\r\n", i);
    n += (size_t)sprintf(buf + n, "250 last\r\n");
    smtp_reply_reset(&r);
    assert_int_equal(smtp_reply_parse(buf, n, &r, &why), SMTP_REPLY_BAD);

    /* Total size: 20 lines of 1000 bytes exceed SMTP_REPLY_BYTES_MAX. */
    n = 0;
    for (int i = 0; i < 20; i++) {
        memcpy(buf + n, "250-", 4);
        memset(buf + n + 4, 'y', 994);
        memcpy(buf + n + 998, "\r\n", 2);
        n += 1000;
    }
    smtp_reply_reset(&r);
    assert_int_equal(smtp_reply_parse(buf, n, &r, &why), SMTP_REPLY_BAD);
}

static void copy_like_postfix(void **state)
{
    (void)state;
    char dst[SMTP_REPLY_COPY_MAX];
    const char *in = "550-5.7.1 first\r\n550 5.7.1 se\x01" "cond\xff\r\n";
    size_t n = smtp_reply_copy(in, strlen(in), dst);
    assert_string_equal(dst, "550-5.7.1 first\r\n550 5.7.1 se?cond?");
    assert_int_equal(n, strlen(dst));
    /* Lines stop being appended once the copy reaches the line limit. */
    static char big[4 * 3000];
    size_t m = 0;
    for (int i = 0; i < 4; i++) {
        memcpy(big + m, i == 3 ? "250 " : "250-", 4);
        memset(big + m + 4, 'a' + i, 1500);
        memcpy(big + m + 1504, "\r\n", 2);
        m += 1506;
    }
    n = smtp_reply_copy(big, m, dst);
    assert_int_equal(n, 1504 + 2 + 1504);
    assert_int_equal(dst[1504 + 2 + 4], 'b');
}

static void ehlo_caps(void **state)
{
    (void)state;
    const char *in = "250-mx.example.com Hello\r\n"
                     "250-PIPELINING\r\n"
                     "250-SIZE 10240000\r\n"
                     "250-8bitmime\r\n"
                     "250-SMTPUTF8\r\n"
                     "250-STARTTLS\r\n"
                     "250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
                     "250-AUTH=XOAUTH2\r\n"
                     "250-ENHANCEDSTATUSCODES\r\n"
                     "250-CHUNKING\r\n"
                     "250-ETRN\r\n"
                     "250 DSN\r\n";
    struct smtp_ehlo e;
    smtp_ehlo_parse(in, strlen(in), &e);
    assert_int_equal(e.ext, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
                                SMTP_EXT_SMTPUTF8 | SMTP_EXT_STARTTLS | SMTP_EXT_AUTH |
                                SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_CHUNKING |
                                SMTP_EXT_DSN);
    assert_int_equal(e.auth, SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN | SMTP_AUTH_CRAM_MD5 |
                                 SMTP_AUTH_XOAUTH2);
    assert_true(e.size_max == 10240000);

    static const struct {
        const char *in;
        unsigned ext;
        uint64_t size;
        unsigned auth;
    } t[] = {
        /* the greeting line is the server's name, never a keyword */
        {"250 PIPELINING\r\n", 0, 0, 0},
        {"250-x\r\n250 SIZE\r\n", SMTP_EXT_SIZE, 0, 0},
        {"250-x\r\n250 SIZE 0\r\n", SMTP_EXT_SIZE, 0, 0},
        {"250-x\r\n250 SIZE 12x\r\n", SMTP_EXT_SIZE, 0, 0},
        {"250-x\r\n250 SIZE 99999999999999999999999\r\n", SMTP_EXT_SIZE, 0, 0},
        {"250-x\r\n250 PIPELININGX\r\n", 0, 0, 0},
        {"250-x\r\n250 AUTHX PLAIN\r\n", 0, 0, 0},
        {"250-x\r\n250 AUTH\r\n", SMTP_EXT_AUTH, 0, 0},
        {"250-x\r\n250 AUTH GSSAPI\r\n", SMTP_EXT_AUTH, 0, SMTP_AUTH_OTHER},
        {"250-x\r\n250-\r\n250  \t pipelining\r\n", SMTP_EXT_PIPELINING, 0, 0},
        {"250-x\n250 STARTTLS\n", SMTP_EXT_STARTTLS, 0, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        smtp_ehlo_parse(t[i].in, strlen(t[i].in), &e);
        if (e.ext != t[i].ext || e.size_max != t[i].size || e.auth != t[i].auth)
            fail_msg("ehlo case %zu: ext %x size %llu auth %x", i, e.ext,
                     (unsigned long long)e.size_max, e.auth);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reply_table),
        cmocka_unit_test(nul_and_limits),
        cmocka_unit_test(copy_like_postfix),
        cmocka_unit_test(ehlo_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
