/*
 * test_ehlo_reply.c - lib/ehlo_reply.h: keyword lists read as Postfix
 * 3.7's ehlo_mask(), the "discarding EHLO keywords" text as its
 * str_ehlo_mask() (both checked against Postfix 3.7.11's smtpd with
 * smtpd_discard_ehlo_keyword_address_maps), and the reply builder.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/ehlo_reply.h"

static const struct {
    const char *text; /* a map value or main.cf list */
    unsigned mask;
    const char *logged; /* NULL: Postfix logs nothing for it */
} cases[] = {
    {"", 0, NULL},
    {" ,\t,\r\n", 0, NULL},
    {"pipelining", EHLO_KW_PIPELINING, "PIPELINING"},
    {"PIPELINING,dsn", EHLO_KW_PIPELINING | EHLO_KW_DSN, "PIPELINING DSN"},
    /* Seen in Postfix 3.7's log, in its own order, unknown words ignored. */
    {"pipelining, dsn, auth, chunking, silly", EHLO_KW_PIPELINING | EHLO_KW_DSN |
     EHLO_KW_AUTH | EHLO_KW_CHUNKING, "AUTH PIPELINING DSN CHUNKING"},
    {"8bitmime chunking smtputf8 dsn starttls xforward xclient vrfy verp size pipelining etrn auth",
     EHLO_KW_8BITMIME | EHLO_KW_CHUNKING | EHLO_KW_SMTPUTF8 | EHLO_KW_DSN | EHLO_KW_STARTTLS |
         EHLO_KW_XFORWARD | EHLO_KW_XCLIENT | EHLO_KW_VRFY | EHLO_KW_VERP | EHLO_KW_SIZE |
         EHLO_KW_PIPELINING | EHLO_KW_ETRN | EHLO_KW_AUTH,
     "8BITMIME AUTH ETRN PIPELINING SIZE VERP VRFY XCLIENT XFORWARD STARTTLS DSN "
     "EHLO_MASK_SMTPUTF8 CHUNKING"},
    /* ENHANCEDSTATUSCODES discarded: 3.7 logs nothing. */
    {"enhancedstatuscodes size", EHLO_KW_ENHANCEDSTATUSCODES | EHLO_KW_SIZE, NULL},
    {"dsn silent-discard", EHLO_KW_DSN | EHLO_KW_SILENT, NULL},
    {"ehlo_mask_smtputf8", EHLO_KW_SMTPUTF8, "EHLO_MASK_SMTPUTF8"},
    /* Words are whole: no prefixes, no suffixes, no other separators. */
    {"pipe pipeliningx dsn;etrn xdsn", 0, NULL},
    {"\tSize\r\n,,VRFY,", EHLO_KW_SIZE | EHLO_KW_VRFY, "SIZE VRFY"},
};

static void mask_text_and_log(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned m = ehlo_reply_mask_text(cases[i].text, strlen(cases[i].text));
        if (m != cases[i].mask)
            fail_msg("case %zu \"%s\": mask %#x, want %#x", i, cases[i].text, m, cases[i].mask);
        assert_int_equal(ehlo_reply_logged(m), cases[i].logged != NULL);
        if (cases[i].logged) {
            char buf[256];
            int n = ehlo_reply_mask_str(m, buf, sizeof(buf));
            assert_int_equal(n, (int)strlen(cases[i].logged));
            assert_string_equal(buf, cases[i].logged);
        }
    }
}

static void mask_text_is_bounded(void **state)
{
    (void)state;
    /* len, not the NUL, ends the text: "dsn" cut to "ds" is no word. */
    assert_int_equal(ehlo_reply_mask_text("dsn", 2), 0);
    assert_int_equal(ehlo_reply_mask_text("dsn etrn", 3), EHLO_KW_DSN);
    /* An embedded NUL separates nothing and matches nothing. */
    assert_int_equal(ehlo_reply_mask_text("ds\0n etrn", 9), EHLO_KW_ETRN);
    const char *w[] = {"DSN", NULL, "Chunking", "silent-discard", "bogus"};
    assert_int_equal(ehlo_reply_mask(w, 5), EHLO_KW_DSN | EHLO_KW_CHUNKING | EHLO_KW_SILENT);
}

static void mask_str_space(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(ehlo_reply_mask_str(0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(ehlo_reply_mask_str(EHLO_KW_DSN, buf, 4), 3);
    assert_int_equal(ehlo_reply_mask_str(EHLO_KW_DSN, buf, 3), -ENOSPC);
    assert_int_equal(ehlo_reply_mask_str(EHLO_KW_ENHANCEDSTATUSCODES, buf, sizeof(buf)), -ENOSPC);
    assert_int_equal(ehlo_reply_mask_str(EHLO_KW_DSN, buf, 0), -ENOSPC);
    /* Bits nobody names are not printed (Postfix would abort on them). */
    assert_int_equal(ehlo_reply_mask_str(1u << 30, buf, sizeof(buf)), 0);
}

/* What the worker and the frontend send for a per-client mask: the
 * announced-never words (AUTH, XFORWARD, VERP, silent-discard) change
 * nothing in the reply. */
static void reply_with_client_mask(void **state)
{
    (void)state;
    char buf[EHLO_REPLY_MAX];
    struct ehlo_opts o = {.myhostname = "mx.example.test", .message_size_limit = 10240000,
                          .vrfy = true, .smtputf8 = true};
    const char *t = "pipelining, dsn, auth, chunking, silly, xforward, verp, silent-discard";
    o.discard = ehlo_reply_mask_text(t, strlen(t));
    int n = ehlo_reply_format(&o, buf, sizeof(buf));
    assert_string_equal(buf, "250-mx.example.test\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
                             "250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
                             "250 SMTPUTF8");
    assert_int_equal(n, (int)strlen(buf));
    t = "8bitmime chunking smtputf8 dsn starttls xclient vrfy size pipelining etrn";
    o.discard = ehlo_reply_mask_text(t, strlen(t));
    o.starttls = o.xclient = true;
    ehlo_reply_format(&o, buf, sizeof(buf));
    assert_string_equal(buf, "250-mx.example.test\r\n250 ENHANCEDSTATUSCODES");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mask_text_and_log),
        cmocka_unit_test(mask_text_is_bounded),
        cmocka_unit_test(mask_str_space),
        cmocka_unit_test(reply_with_client_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
