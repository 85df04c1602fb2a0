/* test_smtp_client_more.c - the next-hop client's LMTP mode, its flush hook
 * (DATA pipelined with MAIL and RCPT) and the long-line split at
 * smtp_line_length_limit, with the scripted server of smtp_client_sim.c
 * (replies fed whole and byte by byte, as test_smtp_client.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_client_sim.h"

static struct sim *lmtp_ready(int bw)
{
    struct smtp_client_opts o = {.helo_name = "mx.test", .lmtp = 1};
    struct sim *s = sim_new(bw, &o);
    server(s, "220 lmtp ready\r\n");
    expect(s, "LHLO mx.test\r\n", "");
    server(s, "250-lmtp.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
    expect(s, "", "READY;");
    return s;
}

static void lmtp_three(struct sim *s)
{
    assert_int_equal(smtp_client_mail(&s->c, "a@b", 3, 0, SMTP_BODY_NONE, 0), 0);
    assert_int_equal(smtp_client_rcpt(&s->c, "r0@y", 4), 0);
    assert_int_equal(smtp_client_rcpt(&s->c, "r1@y", 4), 0);
    assert_int_equal(smtp_client_rcpt(&s->c, "r2@y", 4), 0);
    assert_int_equal(smtp_client_data(&s->c), 0);
    pump(s);
    expect(s, "MAIL FROM:<a@b>\r\nRCPT TO:<r0@y>\r\nRCPT TO:<r1@y>\r\nRCPT TO:<r2@y>\r\nDATA\r\n",
           "");
    /* r1 refused at RCPT: only r0 and r2 are owed a reply after the dot */
    server(s, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no such user\r\n250 2.1.5 Ok\r\n354 go\r\n");
    expect(s, "", "MAIL ok[250 2.1.0 Ok];RCPT0 ok[250 2.1.5 Ok];RCPT1 no[550 5.1.1 no such user];"
                  "RCPT2 ok[250 2.1.5 Ok];DATA ok[354 go];");
    body_all(s, "x\r\n");
    expect(s, "x\r\n.\r\n", "");
}

static void lmtp_session(void **state)
{
    (void)state;
    for (int bw = 0; bw <= 1; bw++) {
        struct sim *s = lmtp_ready(bw);
        lmtp_three(s);
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_DATA_DONE);
        server(s, "250 2.0.0 <r0@y> delivered\r\n");
        expect(s, "", "DOT0+ ok[250 2.0.0 <r0@y> delivered];");
        /* still waiting for r2's reply: the same timer, no transaction done */
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_DATA_DONE);
        assert_int_equal(s->c.ntxn, 0);
        server(s, "452 4.2.2 <r2@y> mailbox full\r\n");
        expect(s, "", "DOT2 no[452 4.2.2 <r2@y> mailbox full];");
        assert_int_equal(s->c.ntxn, 1);
        assert_true(smtp_client_usable(&s->c));
        /* the next transaction: RSET first, a fresh list of accepted RCPTs */
        assert_int_equal(smtp_client_mail(&s->c, "", 0, 0, SMTP_BODY_NONE, 0), 0);
        assert_int_equal(smtp_client_rcpt(&s->c, "q@r", 3), 0);
        assert_int_equal(smtp_client_data(&s->c), 0);
        pump(s);
        expect(s, "RSET\r\nMAIL FROM:<>\r\nRCPT TO:<q@r>\r\nDATA\r\n", "");
        server(s, "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
        expect(s, "", "RSET ok[250 ok];MAIL ok[250 ok];RCPT0 ok[250 ok];DATA ok[354 go];");
        body_all(s, "");
        expect(s, ".\r\n", "");
        server(s, "250 ok\r\n");
        expect(s, "", "DOT0 ok[250 ok];");
        assert_int_equal(s->c.ntxn, 2);
        free(s);

        /* no recipient accepted but the server says 354: one reply, ignored */
        s = lmtp_ready(bw);
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "b", 1);
        smtp_client_data(&s->c);
        pump(s);
        expect(s, "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n", "");
        server(s, "250 ok\r\n550 no\r\n354 go\r\n");
        expect(s, "", "MAIL ok[250 ok];RCPT0 no[550 no];DATA ok[354 go];");
        body_all(s, "");
        server(s, "250 ok\r\n");
        expect(s, ".\r\n", "DOT0 ok[250 ok];");
        assert_true(smtp_client_usable(&s->c));
        free(s);
    }
}

static void lmtp_failures(void **state)
{
    (void)state;
    for (int bw = 0; bw <= 1; bw++) {
        /* 5xx to LHLO: no HELO in LMTP */
        struct smtp_client_opts o = {.helo_name = "mx.test", .lmtp = 1};
        struct sim *s = sim_new(bw, &o);
        server(s, "220 x\r\n");
        server(s, "500 what\r\n");
        expect(s, "LHLO mx.test\r\n", "DOWN(LHLO refused);");
        assert_string_equal(smtp_client_stage(&s->c), "performing the LHLO handshake");
        free(s);

        /* lost after the first of two end-of-data replies: r2 gets the fake */
        s = lmtp_ready(bw);
        lmtp_three(s);
        server(s, "250 2.0.0 ok\r\n");
        expect(s, "", "DOT0+ ok[250 2.0.0 ok];");
        smtp_client_input_eof(&s->c);
        pump(s);
        expect(s, "", "DOWN(lost connection);DOT2 no fake[" SMTP_CLIENT_FAKE_REPLY "];");
        assert_false(smtp_client_usable(&s->c));
        free(s);

        /* 421 as the first reply: relayed for r0, fake for r2, then down */
        s = lmtp_ready(bw);
        lmtp_three(s);
        server(s, "421 4.3.0 going away\r\n");
        expect(s, "", "DOT0+ no[421 4.3.0 going away];DOWN(server closed the session (421));"
                      "DOT2 no fake[" SMTP_CLIENT_FAKE_REPLY "];");
        free(s);

        /* a 354 where an end-of-data reply was due: out of step */
        s = lmtp_ready(bw);
        lmtp_three(s);
        server(s, "354 what\r\n");
        expect(s, "", "DOT0+ no fake[" SMTP_CLIENT_FAKE_REPLY "];DOWN(unexpected reply);"
                      "DOT2 no fake[" SMTP_CLIENT_FAKE_REPLY "];");
        free(s);
    }
    /* at most SMTP_CLIENT_LMTP_RCPT_MAX recipients per transaction */
    struct sim *s = lmtp_ready(0);
    smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
    for (unsigned i = 0; i < SMTP_CLIENT_LMTP_RCPT_MAX; i++)
        s->c.nrcpt++;
    assert_int_equal(smtp_client_rcpt(&s->c, "b", 1), -ENOSPC);
    free(s);
}

/* The flush hook (what relay.c uses to send its client's pipelined DATA
 * with the RCPT): called once, only when queued commands are about to go
 * out, and what it queues joins their group. Then the replies to a
 * pipelined DATA: after every RCPT was refused, and after a RCPT was
 * accepted; either way the connection stays usable. */
static int hook_calls;

static void hook_add_data(void *arg)
{
    struct sim *s = arg;
    hook_calls++;
    assert_int_equal(s->c.state, SMTP_CLIENT_READY);
    assert_int_equal(smtp_client_data(&s->c), 0);
}

static void flush_hook_and_pipelined_data(void **state)
{
    (void)state;
    for (int bw = 0; bw <= 1; bw++) {
        hook_calls = 0;
        struct sim *s = sim_new(bw, NULL);
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "x@y", 3);
        smtp_client_on_flush(&s->c, hook_add_data, s);
        pump(s);
        server(s, "220 x\r\n");
        expect(s, "EHLO mx.test\r\n", "");
        assert_int_equal(hook_calls, 0);
        server(s, EHLO_PIPE);
        expect(s, "MAIL FROM:<a>\r\nRCPT TO:<x@y>\r\nDATA\r\n", "READY;");
        assert_int_equal(hook_calls, 1);
        server(s, "250 ok\r\n550 5.1.1 no\r\n503 5.5.1 no valid recipients\r\n");
        expect(s, "", "MAIL ok[250 ok];RCPT0 no[550 5.1.1 no];"
                      "DATA no[503 5.5.1 no valid recipients];");
        assert_true(smtp_client_usable(&s->c));
        smtp_client_mail(&s->c, "b", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "z@y", 3);
        smtp_client_on_flush(&s->c, hook_add_data, s);
        pump(s);
        expect(s, "RSET\r\nMAIL FROM:<b>\r\nRCPT TO:<z@y>\r\nDATA\r\n", "");
        server(s, "250 ok\r\n250 ok\r\n250 ok\r\n451 4.3.0 later\r\n");
        expect(s, "", "RSET ok[250 ok];MAIL ok[250 ok];RCPT0 ok[250 ok];DATA no[451 4.3.0 later];");
        assert_true(smtp_client_usable(&s->c));
        /* cancelled: not called */
        smtp_client_on_flush(&s->c, hook_add_data, s);
        smtp_client_on_flush(&s->c, NULL, s);
        smtp_client_noop(&s->c);
        pump(s);
        expect(s, "NOOP\r\n", "");
        assert_int_equal(hook_calls, 2);
        free(s);
        /* Without PIPELINING what the hook queues waits its turn. */
        s = sim_ready(bw, EHLO_PLAIN);
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "x@y", 3);
        smtp_client_on_flush(&s->c, hook_add_data, s);
        pump(s);
        expect(s, "MAIL FROM:<a>\r\n", "");
        assert_int_equal(hook_calls, 3);
        server(s, "250 ok\r\n");
        server(s, "250 ok\r\n");
        server(s, "354 go\r\n");
        expect(s, "RCPT TO:<x@y>\r\nDATA\r\n", "MAIL ok[250 ok];RCPT0 ok[250 ok];DATA ok[354 go];");
        assert_int_equal(s->c.state, SMTP_CLIENT_BODY);
        free(s);
    }
}

/* smtp_line_length_limit (a1505cb): content lines longer than the limit
 * (CRLF not counted) are broken with CRLF SPACE as Postfix's
 * smtp_text_out() breaks them; the SPACE counts on the continuation line,
 * a doubled '.' does not. Each row's content is fed in the chunks given
 * (a CR right at the limit may arrive alone at a chunk's end, the byte
 * that says whether it ends the line in the next one), then byte by byte.
 * Limit 5 throughout, so a row shows every byte of the output. */
static const struct {
    const char *name;
    const char *chunk[4]; /* NULL-terminated */
    const char *out;      /* everything after DATA's 354, the dot included */
} line_limit_rows[] = {
    {"exactly at the limit", {"abcde\r\n", NULL}, "abcde\r\n.\r\n"},
    {"one over", {"abcdef\r\n", NULL}, "abcde\r\n f\r\n.\r\n"},
    {"one under", {"abcd\r\nxy\r\n", NULL}, "abcd\r\nxy\r\n.\r\n"},
    {"continuation lines count their space", {"abcdefghijkl\r\n", NULL},
     "abcde\r\n fghi\r\n jkl\r\n.\r\n"},
    {"continuation exactly full", {"abcdefghi\r\n", NULL}, "abcde\r\n fghi\r\n.\r\n"},
    {"bare LF line at the limit", {"abcde\nfghij\r\n", NULL}, "abcde\nfghij\r\n.\r\n"},
    {"CR at the limit, LF in the next chunk", {"abcde\r", "\nxy\r\n", NULL},
     "abcde\r\nxy\r\n.\r\n"},
    {"CR at the limit, content in the next chunk", {"abcde\r", "xy\r\n", NULL},
     "abcde\r\n \rxy\r\n.\r\n"},
    {"CR at the limit, its continuation full", {"abcde\r", "xyz\r\n", NULL},
     "abcde\r\n \rxyz\r\n.\r\n"},
    {"CR at the limit, its continuation over", {"abcde\r", "xyzw\r\n", NULL},
     "abcde\r\n \rxyz\r\n w\r\n.\r\n"},
    {"CR at the limit, CR LF in the next chunk", {"abcde\r", "\r\n", NULL},
     "abcde\r\n \r\r\n.\r\n"},
    {"CR at the limit alone, chunks of one", {"abcd", "e", "\r", "\n"}, "abcde\r\n.\r\n"},
    {"CR at the limit ends the content", {"abcde\r", NULL}, "abcde\r\n \r\r\n.\r\n"},
    {"CR before the limit is content", {"abc\r", "d\r\n", NULL}, "abc\rd\r\n.\r\n"},
    {"CR before the limit counts", {"abc\r", "de\r\n", NULL}, "abc\rd\r\n e\r\n.\r\n"},
    {"CR one past the limit", {"abcdef\r", "\n", NULL}, "abcde\r\n f\r\n.\r\n"},
    {"doubled dot not counted", {".abcd\r\n.abcde\r\n", NULL},
     "..abcd\r\n..abcd\r\n e\r\n.\r\n"},
    {"dot after a break not doubled", {"abcde.f\r\n", NULL}, "abcde\r\n .f\r\n.\r\n"},
    {"no CRLF at the end, at the limit", {"abcde", NULL}, "abcde\r\n.\r\n"},
    {"no CRLF at the end, one over", {"abcdef", NULL}, "abcde\r\n f\r\n.\r\n"},
};

static void line_length_limit(void **state)
{
    (void)state;
    for (size_t r = 0; r < sizeof(line_limit_rows) / sizeof(line_limit_rows[0]); r++) {
        for (int bw = 0; bw <= 1; bw++) {
            struct smtp_client_opts o = {.helo_name = "mx.test", .line_limit = 5};
            struct sim *s = sim_new(bw, &o);
            server(s, "220 sink ESMTP\r\n");
            server(s, EHLO_PIPE);
            expect(s, "EHLO mx.test\r\n", "READY;");
            assert_int_equal(smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0), 0);
            assert_int_equal(smtp_client_rcpt(&s->c, "x@y", 3), 0);
            assert_int_equal(smtp_client_data(&s->c), 0);
            pump(s);
            server(s, "250 ok\r\n250 ok\r\n354 go\r\n");
            s->outlen = s->loglen = 0;
            assert_int_equal(s->c.state, SMTP_CLIENT_BODY);
            body_chunks(s, line_limit_rows[r].chunk);
            s->out[s->outlen] = '\0';
            if (strcmp(s->out, line_limit_rows[r].out) != 0)
                fail_msg("%s (bytewise=%d):\n out [%s]\nwant [%s]", line_limit_rows[r].name, bw,
                         s->out, line_limit_rows[r].out);
            /* the next transaction starts at column 0 with nothing held */
            assert_int_equal(s->c.body_cr, 0);
            free(s);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flush_hook_and_pipelined_data),
        cmocka_unit_test(lmtp_session),
        cmocka_unit_test(lmtp_failures),
        cmocka_unit_test(line_length_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
