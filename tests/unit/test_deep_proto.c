/*
 * test_deep_proto.c - postscreen's deep protocol tests on client lines
 * (frontend/deep_proto.h): framing, the three tests, the answer/handoff
 * decision, and the shared EHLO reply builder (lib/ehlo_reply.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "deep_proto.h"
#include "lib/ehlo_reply.h"

static void framing(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int found;
        size_t len, used;
        bool bare;
    } t[] = {
        {"EHLO a\r\n", 1, 6, 8, false},
        {"EHLO a\n", 1, 6, 7, true},
        {"EHLO a\r\nMAIL", 1, 6, 8, false},
        {"EHLO a", 0, 0, 0, false},
        {"EHLO a\r", 0, 0, 0, false},
        {"\n", 1, 0, 1, true},
        {"\r\n", 1, 0, 2, false},
        {"a\r\r\n", 1, 2, 4, false}, /* CR CR LF: the first CR stays */
        {"a\r b\n", 1, 4, 5, true},  /* a CR not before LF: bare */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct deep_line ln = {0};
        int r = deep_line_next(t[i].in, strlen(t[i].in), &ln);
        assert_int_equal(r, t[i].found);
        if (!r)
            continue;
        assert_int_equal(ln.len, t[i].len);
        assert_int_equal(ln.used, t[i].used);
        assert_int_equal(ln.bare_lf, t[i].bare);
    }
}

static void header_and_utf8(void **state)
{
    (void)state;
    assert_true(deep_is_header("Subject:", 8));
    assert_true(deep_is_header("Subject :", 9));
    assert_true(deep_is_header("X-Mailer:x", 10));
    assert_false(deep_is_header(":", 1));
    assert_false(deep_is_header(" Subject:", 9));
    assert_false(deep_is_header("Sub ject:", 9));
    assert_false(deep_is_header("Subject", 7));
    assert_false(deep_is_header("S\xc3\xa9:", 4));
    assert_false(deep_is_header("", 0));
    assert_true(deep_utf8_valid("abc", 3));
    assert_true(deep_utf8_valid("\xc3\xa9", 2));
    assert_true(deep_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(deep_utf8_valid("\xc3", 1));         /* cut */
    assert_false(deep_utf8_valid("\xc0\xaf", 2));     /* overlong */
    assert_false(deep_utf8_valid("\xe0\x80\xaf", 3)); /* overlong */
    assert_false(deep_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(deep_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(deep_utf8_valid("\xff", 1));
    assert_false(deep_utf8_valid("\x80", 1));
}

/* The default postscreen_forbidden_commands: CONNECT GET POST and
 * regexp:{{/^[^A-Z]/ Bogus}} (case-insensitive: a non-letter first byte). */
static int forbid(void *ctx, const char *w, size_t n)
{
    (void)ctx;
    unsigned char c = (unsigned char)w[0];
    bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    return !letter || (n == 7 && strncasecmp(w, "CONNECT", 7) == 0) ||
           (n == 3 && strncasecmp(w, "GET", 3) == 0) || (n == 4 && strncasecmp(w, "POST", 4) == 0);
}

#define ALL (DEEP_T_PIPEL | DEEP_T_NSMTP | DEEP_T_BARLF)

static void judge(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        unsigned todo;
        bool more, bare;
        unsigned failed;
        enum deep_next next;
        enum deep_verb verb;
        const char *helo; /* expected HELO argument, or NULL */
    } t[] = {
        {"EHLO client.example", ALL, false, false, 0, DEEP_NEXT_EHLO, DEEP_V_EHLO,
         "client.example"},
        {"helo  client.example  ", ALL, false, false, 0, DEEP_NEXT_HELO, DEEP_V_HELO,
         "client.example"},
        {"EHLO", ALL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_EHLO, NULL}, /* 501: worker */
        {"EHLO a\x01", ALL, false, false, 0, DEEP_NEXT_EHLO, DEEP_V_EHLO, "a\x01"},
        {"EHLO a\rb", ALL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_EHLO, NULL},
        {"NOOP", ALL, false, false, 0, DEEP_NEXT_OK, DEEP_V_NOOP, NULL},
        {"RSET", ALL, false, false, 0, DEEP_NEXT_OK, DEEP_V_RSET, NULL},
        {"RSET x", ALL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_RSET, NULL}, /* 501 */
        {"QUIT", ALL, false, false, 0, DEEP_NEXT_QUIT, DEEP_V_QUIT, NULL},
        {"MAIL FROM:<a@b.example>", ALL, false, false, 0, DEEP_NEXT_HANDOFF_PASS, DEEP_V_MAIL,
         NULL},
        {"MAIL FROM:<a@b.example>", ALL, true, false, DEEP_T_PIPEL, DEEP_NEXT_HANDOFF_PASS,
         DEEP_V_MAIL, NULL},
        {"MAIL FROM:<a@b.example>", 0, true, true, 0, DEEP_NEXT_HANDOFF_PASS, DEEP_V_MAIL, NULL},
        {"MAIL FROM:", ALL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_MAIL, NULL}, /* 501 */
        {"STARTTLS", ALL, false, false, 0, DEEP_NEXT_HANDOFF_PASS, DEEP_V_STARTTLS, NULL},
        {"STARTTLS", ALL, true, false, DEEP_T_PIPEL, DEEP_NEXT_HANDOFF_PASS, DEEP_V_STARTTLS,
         NULL},
        {"RCPT TO:<a@b.example>", ALL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_RCPT, NULL},
        {"AUTH PLAIN", ALL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_AUTH, NULL},
        {"BDAT 10", ALL, true, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_BDAT, NULL}, /* payload */
        {"EHLO x", ALL, false, true, DEEP_T_BARLF, DEEP_NEXT_EHLO, DEEP_V_EHLO, "x"},
        {"EHLO x", DEEP_T_PIPEL, false, true, 0, DEEP_NEXT_EHLO, DEEP_V_EHLO, "x"},
        {"GET / HTTP/1.0", ALL, false, false, DEEP_T_NSMTP, DEEP_NEXT_HANDOFF, DEEP_V_NONE, NULL},
        {"get / HTTP/1.0", ALL, false, false, DEEP_T_NSMTP, DEEP_NEXT_HANDOFF, DEEP_V_NONE, NULL},
        {"CONNECT x:25 HTTP/1.0", ALL, true, false, DEEP_T_NSMTP | DEEP_T_PIPEL,
         DEEP_NEXT_HANDOFF, DEEP_V_NONE, NULL},
        {"Subject: hi", ALL, false, false, DEEP_T_NSMTP, DEEP_NEXT_HANDOFF, DEEP_V_NONE, NULL},
        {"Subject : hi", ALL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_NONE, NULL},
        {"\x16\x03\x01", ALL, false, false, DEEP_T_NSMTP, DEEP_NEXT_HANDOFF, DEEP_V_NONE, NULL},
        {"FOO\xff", ALL, false, false, DEEP_T_NSMTP, DEEP_NEXT_HANDOFF, DEEP_V_NONE, NULL},
        {"XYZZY", ALL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_NONE, NULL},
        {"XFORWARD NAME=x", ALL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_XFORWARD, NULL},
        {"", ALL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_NONE, NULL},
        {"   ", ALL, true, true, DEEP_T_PIPEL | DEEP_T_BARLF, DEEP_NEXT_HANDOFF, DEEP_V_NONE,
         NULL},
        {"GET / HTTP/1.0", DEEP_T_PIPEL, false, false, 0, DEEP_NEXT_HANDOFF, DEEP_V_NONE, NULL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct deep_in in = {.todo = t[i].todo, .more = t[i].more, .bare_lf = t[i].bare,
                             .smtputf8 = true, .forbidden = forbid};
        struct deep_verdict v;
        deep_judge(t[i].line, strlen(t[i].line), &in, &v);
        if (v.failed != t[i].failed || v.next != t[i].next || v.verb != t[i].verb)
            fail_msg("case %zu \"%s\": failed %u next %d verb %d", i, t[i].line, v.failed,
                     (int)v.next, (int)v.verb);
        if (t[i].helo) {
            assert_int_equal(v.helo_len, strlen(t[i].helo));
            assert_memory_equal(v.helo, t[i].helo, v.helo_len);
        }
    }
}

static void words(void **state)
{
    (void)state;
    struct deep_in in = {.todo = ALL, .smtputf8 = true, .forbidden = forbid};
    struct deep_verdict v;
    const char *l = "  GET   /index.html HTTP/1.0";
    deep_judge(l, strlen(l), &in, &v);
    assert_int_equal(v.word_len, 3);
    assert_memory_equal(v.word, "GET", 3);
    assert_string_equal(v.rest, "/index.html HTTP/1.0");
    assert_string_equal(deep_verb_name(v.verb), "UNIMPLEMENTED");
    assert_string_equal(deep_verb_name(DEEP_V_MAIL), "MAIL");
    /* No forbidden list: only headers and bad UTF-8 are non-SMTP. */
    in.forbidden = NULL;
    deep_judge(l, strlen(l), &in, &v);
    assert_int_equal(v.failed, 0);
    /* A HELO name longer than DEEP_HELO_MAX is the worker's to answer. */
    char big[DEEP_HELO_MAX + 16] = "EHLO ";
    memset(big + 5, 'a', DEEP_HELO_MAX + 1);
    big[5 + DEEP_HELO_MAX + 1] = '\0';
    deep_judge(big, strlen(big), &in, &v);
    assert_int_equal(v.next, DEEP_NEXT_HANDOFF);
    big[5 + DEEP_HELO_MAX] = '\0';
    deep_judge(big, strlen(big), &in, &v);
    assert_int_equal(v.next, DEEP_NEXT_EHLO);
}

static void ehlo_reply(void **state)
{
    (void)state;
    char buf[EHLO_REPLY_MAX];
    struct ehlo_opts o = {.myhostname = "mx.example", .message_size_limit = 10240000,
                          .vrfy = true, .smtputf8 = true};
    int n = ehlo_reply_format(&o, buf, sizeof(buf));
    assert_true(n > 0);
    assert_string_equal(buf, "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                             "250-VRFY\r\n250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n"
                             "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING");
    o.discard = EHLO_KW_PIPELINING;
    o.starttls = true;
    o.vrfy = false;
    o.message_size_limit = 0;
    n = ehlo_reply_format(&o, buf, sizeof(buf));
    assert_string_equal(buf, "250-mx.example\r\n250-SIZE\r\n250-ETRN\r\n250-STARTTLS\r\n"
                             "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
                             "250-SMTPUTF8\r\n250 CHUNKING");
    const char *w[] = {"Pipelining", "SIZE", "etrn", "starttls", "ENHANCEDSTATUSCODES",
                       "8bitmime", "dsn", "smtputf8", "chunking", "auth", "bogus"};
    o.discard = ehlo_reply_mask(w, sizeof(w) / sizeof(w[0]));
    n = ehlo_reply_format(&o, buf, sizeof(buf));
    assert_string_equal(buf, "250 mx.example");
    assert_int_equal(n, 14);
    assert_int_equal(ehlo_reply_format(&o, buf, 10), -ENOSPC);
    assert_int_equal(ehlo_reply_format(&o, buf, 0), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(framing), cmocka_unit_test(header_and_utf8), cmocka_unit_test(judge),
        cmocka_unit_test(words), cmocka_unit_test(ehlo_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
