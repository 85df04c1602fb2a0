/* test_maillog.c - maillog_* builders against lines a real Postfix 3.7
 * wrote (tests/peer/postfix_format.py captures them), and inputs that try
 * to forge or split a log line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "maillog.h"

static const struct maillog_client lo = {"localhost", "127.0.0.1", NULL, NULL};
static const struct maillog_client lo_helo = {"localhost", "127.0.0.1", "bad.helo", "ESMTP"};
static const struct maillog_client v6 = {"bar.example", "2001:db8::6", "h", "ESMTP"};

static void connect_and_client(void **state)
{
    (void)state;
    char buf[256];

    assert_int_equal(maillog_connect(buf, sizeof(buf), &lo), 0);
    assert_string_equal(buf, "connect from localhost[127.0.0.1]");
    assert_int_equal(maillog_client(buf, sizeof(buf), "65163A7420D", &v6), 0);
    assert_string_equal(buf, "65163A7420D: client=bar.example[2001:db8::6]");
    assert_int_equal(maillog_message_id(buf, sizeof(buf), "6294AA74208", " <x@y>"), 0);
    assert_string_equal(buf, "6294AA74208: message-id=<x@y>");
}

struct dcase {
    int n;
    struct {
        enum maillog_cmd cmd;
        unsigned ok, total;
    } c[8];
    const char *expect;
};

static void disconnect_counters(void **state)
{
    (void)state;
    static const struct dcase cases[] = {
        {1, {{MAILLOG_QUIT, 1, 1}}, " quit=1 commands=1"},
        {5, {{MAILLOG_EHLO, 1, 1}, {MAILLOG_MAIL, 1, 1}, {MAILLOG_RCPT, 1, 1},
             {MAILLOG_DATA, 1, 1}, {MAILLOG_QUIT, 1, 1}},
         " ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5"},
        /* given out of order: logged in smtpd's table order */
        {6, {{MAILLOG_QUIT, 1, 1}, {MAILLOG_XCLIENT, 0, 1}, {MAILLOG_EHLO, 2, 2},
             {MAILLOG_MAIL, 1, 1}, {MAILLOG_RCPT, 0, 1}, {MAILLOG_RSET, 1, 1}},
         " ehlo=2 xclient=0/1 mail=1 rcpt=0/1 rset=1 quit=1 commands=5/7"},
        {6, {{MAILLOG_EHLO, 2, 2}, {MAILLOG_STARTTLS, 1, 1}, {MAILLOG_MAIL, 1, 1},
             {MAILLOG_RCPT, 2, 2}, {MAILLOG_DATA, 1, 1}, {MAILLOG_QUIT, 1, 1}},
         " ehlo=2 starttls=1 mail=1 rcpt=2 data=1 quit=1 commands=8"},
        {2, {{MAILLOG_UNKNOWN, 0, 3}, {MAILLOG_HELO, 1, 1}},
         " helo=1 unknown=0/3 commands=1/4"},
        {0, {{0, 0, 0}}, " commands=0"},
    };
    char buf[512], want[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct maillog_cmd_stats st = {{0}, {0}};
        for (int k = 0; k < cases[i].n; k++) {
            st.ok[cases[i].c[k].cmd] = cases[i].c[k].ok;
            st.total[cases[i].c[k].cmd] = cases[i].c[k].total;
        }
        assert_int_equal(maillog_disconnect(buf, sizeof(buf), &v6, &st), 0);
        strcpy(want, "disconnect from bar.example[2001:db8::6]");
        strcat(want, cases[i].expect);
        assert_string_equal(buf, want);
    }
}

static void reject_lines(void **state)
{
    (void)state;
    char buf[512];
    const struct maillog_client fresh = {"unknown", "192.0.2.1", NULL, NULL};

    assert_int_equal(maillog_reject(buf, sizeof(buf), NULL, "reject", "RCPT", &lo_helo,
                                    "554 5.7.1 <bad.helo>: Helo command rejected: go away",
                                    "s@example.com", "u@example.org"), 0);
    assert_string_equal(buf, "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 "
                             "<bad.helo>: Helo command rejected: go away; from=<s@example.com> "
                             "to=<u@example.org> proto=ESMTP helo=<bad.helo>");
    /* CONNECT stage: nothing known yet, so no context fields at all */
    assert_int_equal(maillog_reject(buf, sizeof(buf), NULL, "reject", "CONNECT", &fresh,
                                    "554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: no",
                                    NULL, NULL), 0);
    assert_string_equal(buf, "NOQUEUE: reject: CONNECT from unknown[192.0.2.1]: 554 5.7.1 "
                             "<unknown[192.0.2.1]>: Client host rejected: no;");
    /* null sender and a quoted local part */
    assert_int_equal(maillog_reject(buf, sizeof(buf), "ABC", "reject_warning", "MAIL", &v6,
                                    "t", "", "c d@example.org"), 0);
    assert_string_equal(buf, "ABC: reject_warning: MAIL from bar.example[2001:db8::6]: t; "
                             "from=<> to=<\"c d\"@example.org> proto=ESMTP helo=<h>");
}

static void queue_and_delivery(void **state)
{
    (void)state;
    char buf[512];
    struct maillog_delivery d = {
        .queue_id = "6294AA74208", .recipient = "u@example.org", .relay_host = "127.0.0.1",
        .relay_addr = "127.0.0.1", .relay_port = 37633, .delay_us = 20000,
        .delays_us = {10000, 10000, 0, 0}, .dsn = "2.0.0", .status = "sent",
        .reply = "250 2.0.0 Ok: queued",
    };

    assert_int_equal(maillog_queue_active(buf, sizeof(buf), "6C4E9A74208", "a b@example.com",
                                          259, 1), 0);
    assert_string_equal(buf, "6C4E9A74208: from=<\"a b\"@example.com>, size=259, nrcpt=1 "
                             "(queue active)");
    assert_int_equal(maillog_delivery(buf, sizeof(buf), &d), 0);
    assert_string_equal(buf, "6294AA74208: to=<u@example.org>, relay=127.0.0.1[127.0.0.1]:37633,"
                             " delay=0.02, delays=0.01/0.01/0/0, dsn=2.0.0, status=sent "
                             "(250 2.0.0 Ok: queued)");
    d.conn_use = 2;
    d.orig_recipient = "o@example.org";
    d.relay_host = NULL;
    d.reply = NULL;
    assert_int_equal(maillog_delivery(buf, sizeof(buf), &d), 0);
    assert_string_equal(buf, "6294AA74208: to=<u@example.org>, orig_to=<o@example.org>, "
                             "relay=none, conn_use=2, delay=0.02, delays=0.01/0.01/0/0, "
                             "dsn=2.0.0, status=sent");
}

static void delay_format(void **state)
{
    (void)state;
    static const struct {
        unsigned long long us;
        const char *expect;
    } cases[] = {
        {0, "0"}, {4999, "0"}, {5000, "0.01"}, {20000, "0.02"}, {123456, "0.12"},
        {999999, "1"}, {1000000, "1"}, {1234567, "1.2"}, {1950000, "2"},
        {12345678, "12"}, {99500000, "100"}, {123456789, "123"}, {3600000000ull, "3600"},
    };
    char buf[32];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(maillog_format_delay(buf, sizeof(buf), cases[i].us), 0);
        if (strcmp(buf, cases[i].expect) != 0)
            fail_msg("%llu us: got %s want %s", cases[i].us, buf, cases[i].expect);
    }
}

static void content_actions(void **state)
{
    (void)state;
    char buf[1024], content[400], want[1024];
    const struct maillog_client c = {"localhost", "127.0.0.1", "h?x", "ESMTP"};

    assert_int_equal(maillog_content_action(buf, sizeof(buf), "6B485A74208", "warning",
                                            "header", "Subject: warnme", &c, "s@example.com",
                                            "u@example.org", "warned text"), 0);
    assert_string_equal(buf, "6B485A74208: warning: header Subject: warnme from "
                             "localhost[127.0.0.1]; from=<s@example.com> to=<u@example.org> "
                             "proto=ESMTP helo=<h?x>: warned text");
    assert_int_equal(maillog_content_action(buf, sizeof(buf), "Q", "reject", "body", "spam",
                                            &c, "", NULL, ""), 0);
    assert_string_equal(buf, "Q: reject: body spam from localhost[127.0.0.1]; from=<> "
                             "proto=ESMTP helo=<h?x>");
    /* the content is cut at 200 bytes */
    memset(content, 'x', sizeof(content) - 1);
    content[sizeof(content) - 1] = 0;
    assert_int_equal(maillog_content_action(buf, sizeof(buf), "Q", "warning", "header", content,
                                            &c, NULL, NULL, "t"), 0);
    strcpy(want, "Q: warning: header ");
    memset(want + strlen(want), 'x', 200);
    strcpy(want + strlen("Q: warning: header ") + 200,
           " from localhost[127.0.0.1]; proto=ESMTP helo=<h?x>: t");
    assert_string_equal(buf, want);
}

static void quoting(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a@b", "a@b"}, {"", ""}, {"a b@c", "\"a b\"@c"}, {"a\"b@c", "\"a\\\"b\"@c"},
        {"a\\b@c", "\"a\\\\b\"@c"}, {".a@b", "\".a\"@b"}, {"a.@b", "\"a.\"@b"},
        {"a..b@c", "\"a..b\"@c"}, {"a.b@c", "a.b@c"}, {"@r1,@r2:a b@c", "@r1,@r2:\"a b\"@c"},
        {"postmaster", "postmaster"}, {"x@y@z", "\"x@y\"@z"}, {"@d", "\"\"@d"},
        {"\xc3\xa9t\xc3\xa9@x", "\xc3\xa9t\xc3\xa9@x"}, {"a(b)@c", "\"a(b)\"@c"},
    };
    char buf[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(maillog_quote_addr(buf, sizeof(buf), cases[i].in), 0);
        if (strcmp(buf, cases[i].out) != 0)
            fail_msg("quote '%s': got '%s' want '%s'", cases[i].in, buf, cases[i].out);
    }
}

/* No builder ever emits CR, LF or another control byte, whatever it is
 * given; a full buffer is reported and still terminated. */
static void injection_and_overflow(void **state)
{
    (void)state;
    char buf[300];
    const struct maillog_client evil = {"n\r\nconnect from x[1.1.1.1]", "1.2.3.4\n",
                                        "h\r\n\x01\x1b[2J\xff", "ESMTP\n"};
    struct maillog_cmd_stats st = {{0}, {0}};

    st.total[MAILLOG_EHLO] = st.ok[MAILLOG_EHLO] = 1;
    assert_int_equal(maillog_reject(buf, sizeof(buf), NULL, "reject", "RCPT", &evil,
                                    "550 x\ny", "a\r\n@b", "c\n\rd@e"), 0);
    assert_null(strpbrk(buf, "\r\n\x01\x1b\xff"));
    assert_string_equal(buf, "NOQUEUE: reject: RCPT from n??connect from x[1.1.1.1][1.2.3.4?]: "
                             "550 x?y; from=<\"a\\??\"@b> to=<\"c?\\?d\"@e> proto=ESMTP? "
                             "helo=<h????[2J?>");
    assert_int_equal(maillog_connect(buf, sizeof(buf), &evil), 0);
    assert_null(strpbrk(buf, "\r\n"));
    assert_int_equal(maillog_disconnect(buf, sizeof(buf), &evil, &st), 0);
    assert_null(strpbrk(buf, "\r\n"));

    for (size_t sz = 1; sz < 60; sz++) {
        assert_int_equal(maillog_disconnect(buf, sz, &evil, &st), -ENOSPC);
        assert_int_equal(strlen(buf), sz - 1);
        assert_null(strpbrk(buf, "\r\n"));
    }
    assert_int_equal(maillog_connect(buf, 0, &lo), -EINVAL);
    assert_int_equal(maillog_connect(buf, sizeof(buf), NULL), -EINVAL);
    assert_int_equal(maillog_reject(buf, sizeof(buf), NULL, "reject", "RCPT", &lo, NULL, NULL,
                                    NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_and_client),
        cmocka_unit_test(disconnect_counters),
        cmocka_unit_test(reject_lines),
        cmocka_unit_test(queue_and_delivery),
        cmocka_unit_test(delay_format),
        cmocka_unit_test(content_actions),
        cmocka_unit_test(quoting),
        cmocka_unit_test(injection_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
