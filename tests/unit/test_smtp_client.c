/* test_smtp_client.c - every state transition of the next-hop SMTP client
 * with scripted server replies, each script run twice: replies fed whole
 * and fed byte by byte. A transcript of what the client wrote and which
 * events it raised is compared with the expectation at each step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_client_sim.h"

static void pipelined_transaction(void **state)
{
    (void)state;
    for (int bw = 0; bw <= 1; bw++) {
        struct sim *s = sim_ready(bw, EHLO_PIPE);
        assert_int_equal(smtp_client_mail(&s->c, "a@b", 3, 500, SMTP_BODY_8BITMIME, 1), 0);
        assert_int_equal(smtp_client_rcpt(&s->c, "x@y", 3), 0);
        assert_int_equal(smtp_client_rcpt(&s->c, "z@y", 3), 0);
        assert_int_equal(smtp_client_data(&s->c), 0);
        pump(s);
        /* One group: MAIL, RCPT, RCPT, DATA. */
        expect(s, "MAIL FROM:<a@b> SIZE=500 BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<x@y>\r\n"
                  "RCPT TO:<z@y>\r\nDATA\r\n", "");
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_MAIL);
        server(s, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <z@y>: no\r\n354 go ahead\r\n");
        expect(s, "", "MAIL ok[250 2.1.0 Ok];RCPT0 ok[250 2.1.5 Ok];"
                      "RCPT1 no[550 5.1.1 <z@y>: no];DATA ok[354 go ahead];");
        assert_int_equal(s->c.state, SMTP_CLIENT_BODY);
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_DATA_XFER);
        body_all(s, ".hidden\r\n.\r\nx\n.y\r\n..\r\nlast");
        expect(s, "..hidden\r\n..\r\nx\n..y\r\n...\r\nlast\r\n.\r\n", "");
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_DATA_DONE);
        server(s, "250 2.0.0 Ok: queued as ABC\r\n");
        expect(s, "", "DOT ok[250 2.0.0 Ok: queued as ABC];");
        assert_int_equal(s->c.ntxn, 1);
        /* Reuse: RSET goes first, pipelined with the next MAIL. */
        assert_int_equal(smtp_client_mail(&s->c, "", 0, 0, SMTP_BODY_NONE, 0), 0);
        assert_int_equal(smtp_client_rcpt(&s->c, "q@r", 3), 0);
        pump(s);
        expect(s, "RSET\r\nMAIL FROM:<>\r\nRCPT TO:<q@r>\r\n", "");
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_RSET);
        server(s, "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
        expect(s, "", "RSET ok[250 2.0.0 Ok];MAIL ok[250 2.1.0 Ok];RCPT0 ok[250 2.1.5 Ok];");
        assert_int_equal(smtp_client_data(&s->c), 0);
        pump(s);
        expect(s, "DATA\r\n", "");
        server(s, "354 go\r\n");
        expect(s, "", "DATA ok[354 go];");
        body_all(s, "");   /* empty content: just the dot */
        expect(s, ".\r\n", "");
        /* Commands queued after the dot may follow it in one group. */
        assert_int_equal(smtp_client_quit(&s->c), 0);
        assert_int_equal(smtp_client_rset(&s->c), -EINVAL);
        pump(s);
        expect(s, "QUIT\r\n", "");
        server(s, "250 ok\r\n221 bye\r\n");
        expect(s, "", "DOT ok[250 ok];QUIT ok[221 bye];CLOSED;");
        assert_false(smtp_client_usable(&s->c));
        free(s);
    }
}

static void lockstep_without_pipelining(void **state)
{
    (void)state;
    for (int bw = 0; bw <= 1; bw++) {
        struct sim *s = sim_ready(bw, EHLO_PLAIN);
        smtp_client_mail(&s->c, "a@b", 3, 500, SMTP_BODY_7BIT, 1);
        smtp_client_rcpt(&s->c, "x@y", 3);
        smtp_client_data(&s->c);
        pump(s);
        /* No SIZE or SMTPUTF8 offered: no such parameters; one at a time. */
        expect(s, "MAIL FROM:<a@b> BODY=7BIT\r\n", "");
        server(s, "250 ok\r\n");
        expect(s, "RCPT TO:<x@y>\r\n", "MAIL ok[250 ok];");
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_RCPT);
        server(s, "250 ok\r\n");
        expect(s, "DATA\r\n", "RCPT0 ok[250 ok];");
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_DATA_INIT);
        server(s, "451 4.3.0 not now\r\n");
        expect(s, "", "DATA no[451 4.3.0 not now];");
        assert_true(smtp_client_usable(&s->c));
        free(s);
    }
}

static void pipelining_disabled_by_option(void **state)
{
    (void)state;
    struct smtp_client_opts o = {.helo_name = "h", .no_pipelining = 1, .proxy = 1};
    struct sim *s = sim_new(0, &o);
    assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_PROXY);
    server(s, "220 x\r\n");
    expect(s, "EHLO h\r\n", "");
    server(s, EHLO_PIPE);
    expect(s, "", "READY;");
    smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
    smtp_client_rcpt(&s->c, "b", 1);
    pump(s);
    expect(s, "MAIL FROM:<a>\r\n", "");
    assert_string_equal(smtp_timer_name(smtp_client_timer(&s->c)), "smtpd_proxy_timeout");
    free(s);
}

static void commands_queued_before_ready(void **state)
{
    (void)state;
    for (int bw = 0; bw <= 1; bw++) {
        struct sim *s = sim_new(bw, NULL);
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        pump(s);
        expect(s, "", "");
        server(s, "220-multi\r\n220 line greeting\r\n");
        expect(s, "EHLO mx.test\r\n", "");
        server(s, "250 only\r\n");
        expect(s, "MAIL FROM:<a>\r\n", "READY;");
        free(s);
    }
}

static void helo_fallback(void **state)
{
    (void)state;
    for (int bw = 0; bw <= 1; bw++) {
        struct sim *s = sim_new(bw, NULL);
        server(s, "220 old\r\n");
        expect(s, "EHLO mx.test\r\n", "");
        server(s, "502 5.5.2 what?\r\n");
        expect(s, "HELO mx.test\r\n", "");
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_HELO);
        server(s, "250 old\r\n");
        expect(s, "", "READY;");
        assert_int_equal(smtp_client_ehlo(&s->c)->ext, 0);
        free(s);
        /* HELO refused too. */
        s = sim_new(bw, NULL);
        server(s, "220 old\r\n");
        server(s, "500 no\r\n");
        server(s, "501 no\r\n");
        expect(s, "EHLO mx.test\r\nHELO mx.test\r\n", "DOWN(HELO refused);");
        free(s);
    }
}

static void setup_failures(void **state)
{
    (void)state;
    for (int bw = 0; bw <= 1; bw++) {
        /* 421 greeting: down; a MAIL queued later gets the fake reply. */
        struct sim *s = sim_new(bw, NULL);
        server(s, "421 4.3.2 busy\r\n");
        expect(s, "", "DOWN(refused to talk to me);");
        assert_string_equal(s->c.reply, "421 4.3.2 busy");
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "b", 1);
        pump(s);
        expect(s, "", "MAIL no fake[451 4.3.0 Error: queue file write error];"
                      "RCPT0 no fake[451 4.3.0 Error: queue file write error];");
        free(s);
        /* EHLO 4xx is a refusal, no HELO. */
        s = sim_new(bw, NULL);
        server(s, "220 x\r\n");
        server(s, "421 4.7.0 go away\r\n");
        expect(s, "EHLO mx.test\r\n", "DOWN(EHLO refused);");
        free(s);
        /* Garbage greeting. */
        s = sim_new(bw, NULL);
        server(s, "HTTP/1.0 200 OK\r\n");
        expect(s, "", "DOWN(reply does not start with a valid 3-digit code);");
        free(s);
        /* Connection closed before the greeting. */
        s = sim_new(bw, NULL);
        server(s, "220 partial");
        smtp_client_input_eof(&s->c);
        pump(s);
        expect(s, "", "DOWN(lost connection);");
        assert_string_equal(smtp_client_stage(&s->c), "receiving the initial server greeting");
        free(s);
    }
    /* Connect failure and timeout, with the stage for the log line. */
    struct smtp_client_opts o = {.helo_name = "h"};
    struct sim *s = calloc(1, sizeof(*s));
    smtp_client_init(&s->c, &o);
    smtp_client_connect_failed(&s->c);
    smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
    pump(s);
    expect(s, "", "DOWN(connect failed);MAIL no fake[451 4.3.0 Error: queue file write error];");
    free(s);
    s = sim_ready(0, EHLO_PLAIN);
    smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
    pump(s);
    expect(s, "MAIL FROM:<a>\r\n", "");
    smtp_client_timed_out(&s->c);
    pump(s);
    expect(s, "", "DOWN(timed out);MAIL no fake[451 4.3.0 Error: queue file write error];");
    assert_string_equal(smtp_client_stage(&s->c), "sending MAIL FROM");
    assert_string_equal(s->c.reply, ""); /* no stale reply on a timeout */
    assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_NONE);
    free(s);
}

static void failures_in_transaction(void **state)
{
    (void)state;
    for (int bw = 0; bw <= 1; bw++) {
        /* 250 where 354 was due: out of step, fake reply, down. */
        struct sim *s = sim_ready(bw, EHLO_PIPE);
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "b", 1);
        smtp_client_data(&s->c);
        pump(s);
        expect(s, "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n", "");
        server(s, "250 ok\r\n354 weird\r\n250 ok\r\n");
        expect(s, "", "MAIL ok[250 ok];RCPT0 no fake[451 4.3.0 Error: queue file write error];"
                      "DOWN(unexpected reply);DATA no fake[451 4.3.0 Error: queue file write error];");
        free(s);
        /* 421 at a RCPT: relayed, then everything after it is fake. */
        s = sim_ready(bw, EHLO_PIPE);
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "b", 1);
        smtp_client_rcpt(&s->c, "c", 1);
        pump(s);
        expect(s, "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nRCPT TO:<c>\r\n", "");
        server(s, "250 ok\r\n421 4.4.2 bye\r\n");
        expect(s, "", "MAIL ok[250 ok];RCPT0 no[421 4.4.2 bye];DOWN(server closed the session (421));"
                      "RCPT1 no fake[451 4.3.0 Error: queue file write error];");
        assert_string_equal(smtp_client_stage(&s->c), "sending RCPT TO");
        assert_string_equal(s->c.reply, "421 4.4.2 bye");
        free(s);
        /* Connection lost mid-DATA: the body is swallowed, the dot gets
         * the fake reply. */
        s = sim_ready(bw, EHLO_PIPE);
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "b", 1);
        smtp_client_data(&s->c);
        pump(s);
        server(s, "250 ok\r\n250 ok\r\n354 go\r\n");
        expect(s, "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n",
               "MAIL ok[250 ok];RCPT0 ok[250 ok];DATA ok[354 go];");
        assert_int_equal(smtp_client_body(&s->c, "abc\r\n", 5), 5);
        pump(s);
        smtp_client_input_eof(&s->c);
        pump(s);
        assert_int_equal(smtp_client_body(&s->c, "more\r\n", 6), 6);
        assert_int_equal(smtp_client_body_end(&s->c), 0);
        pump(s);
        expect(s, "abc\r\n", "DOWN(lost connection);DOT no fake[451 4.3.0 Error: queue file write error];");
        assert_string_equal(smtp_client_stage(&s->c), "sending message body");
        free(s);
        /* A reply in the middle of the content. */
        s = sim_ready(bw, EHLO_PIPE);
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "b", 1);
        smtp_client_data(&s->c);
        pump(s);
        server(s, "250 ok\r\n250 ok\r\n354 go\r\n554 5.0.0 no thanks\r\n");
        expect(s, "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n",
               "MAIL ok[250 ok];RCPT0 ok[250 ok];DATA ok[354 go];DOWN(unexpected reply during DATA);"
               "DOT no fake[451 4.3.0 Error: queue file write error];");
        free(s);
        /* 5xx at end of data: relayed, connection stays usable. */
        s = sim_ready(bw, EHLO_PIPE);
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "b", 1);
        smtp_client_data(&s->c);
        pump(s);
        server(s, "250 ok\r\n250 ok\r\n354 go\r\n");
        body_all(s, "x\r\n");
        expect(s, "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nx\r\n.\r\n",
               "MAIL ok[250 ok];RCPT0 ok[250 ok];DATA ok[354 go];");
        server(s, "554-5.7.1 rejected\r\n554 5.7.1 really\r\n");
        expect(s, "", "DOT no[554-5.7.1 rejected\r\n554 5.7.1 really];");
        assert_true(smtp_client_usable(&s->c));
        /* 3xx after the dot: fake (deliberate, see smtp_client.h). */
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        smtp_client_rcpt(&s->c, "b", 1);
        smtp_client_data(&s->c);
        pump(s);
        server(s, "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
        body_all(s, "x\r\n");
        expect(s, "RSET\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nx\r\n.\r\n",
               "RSET ok[250 ok];MAIL ok[250 ok];RCPT0 ok[250 ok];DATA ok[354 go];");
        server(s, "354 again?\r\n");
        expect(s, "", "DOT no fake[451 4.3.0 Error: queue file write error];DOWN(unexpected reply);");
        free(s);
        /* RSET refused: the connection is not reused. */
        s = sim_ready(bw, EHLO_PLAIN);
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        pump(s);
        server(s, "550 no\r\n");
        smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
        pump(s);
        server(s, "502 no RSET here\r\n");
        expect(s, "MAIL FROM:<a>\r\nRSET\r\n", "MAIL no[550 no];RSET no[502 no RSET here];"
                  "DOWN(RSET refused);MAIL no fake[451 4.3.0 Error: queue file write error];");
        free(s);
        /* Idle next hop says 421 and closes. */
        s = sim_ready(bw, EHLO_PLAIN);
        server(s, "421 4.4.2 idle timeout\r\n");
        expect(s, "", "DOWN(server closed the session (421));");
        free(s);
        /* QUIT answered by a hang-up. */
        s = sim_ready(bw, EHLO_PLAIN);
        smtp_client_quit(&s->c);
        pump(s);
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_QUIT);
        smtp_client_input_eof(&s->c);
        pump(s);
        expect(s, "QUIT\r\n", "CLOSED;");
        free(s);
    }
}

static void starttls_hook(void **state)
{
    (void)state;
    for (int bw = 0; bw <= 1; bw++) {
        struct smtp_client_opts o = {.helo_name = "h", .starttls = 2};
        struct sim *s = sim_new(bw, &o);
        server(s, "220 x\r\n");
        expect(s, "EHLO h\r\n", "");
        server(s, "250-x\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n");
        expect(s, "STARTTLS\r\n", "");
        server(s, "220 2.0.0 Ready to start TLS\r\n");
        expect(s, "", "STARTTLS;");
        assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_STARTTLS);
        assert_int_equal(smtp_client_tls_done(&s->c), 0);
        pump(s);
        expect(s, "EHLO h\r\n", "");
        assert_int_equal(smtp_client_ehlo(&s->c)->ext, 0);
        server(s, "250-x\r\n250 AUTH PLAIN LOGIN\r\n");
        expect(s, "", "READY;");
        assert_int_equal(smtp_client_ehlo(&s->c)->auth, SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN);
        assert_int_equal(smtp_client_tls_done(&s->c), -EINVAL);
        free(s);
        /* Injected plaintext after the 220. */
        s = sim_new(0, &o);
        server(s, "220 x\r\n");
        server(s, "250-x\r\n250 STARTTLS\r\n");
        expect(s, "EHLO h\r\nSTARTTLS\r\n", "");
        server(s, "220 go\r\n250 injected\r\n");
        expect(s, "", "DOWN(plaintext after STARTTLS reply);");
        free(s);
        /* Required but not offered; and "may" falls back to plain. */
        s = sim_new(bw, &o);
        server(s, "220 x\r\n");
        server(s, "250 x\r\n");
        expect(s, "EHLO h\r\n", "DOWN(STARTTLS not offered);");
        free(s);
        o.starttls = 1;
        s = sim_new(bw, &o);
        server(s, "220 x\r\n");
        server(s, "250-x\r\n250 STARTTLS\r\n");
        server(s, "454 4.7.0 TLS not available\r\n");
        expect(s, "EHLO h\r\nSTARTTLS\r\n", "READY;");
        free(s);
    }
}

static void limits_and_misuse(void **state)
{
    (void)state;
    struct sim *s = sim_ready(0, EHLO_PIPE);
    char big[SMTP_CLIENT_ARG_MAX + 1];
    memset(big, 'a', sizeof(big));
    assert_int_equal(smtp_client_rcpt(&s->c, big, sizeof(big)), -ENOSPC);
    assert_int_equal(smtp_client_body_end(&s->c), -EINVAL);
    assert_int_equal(smtp_client_body(&s->c, "x", 1), 0);
    int err = 0, n = 0;
    while ((err = smtp_client_rcpt(&s->c, "r", 1)) == 0)
        n++;
    assert_int_equal(err, -ENOSPC);
    assert_int_equal(n, SMTP_CLIENT_QUEUE);
    /* Pipelined RCPTs fill the output in chunks, never overflow it. */
    pump(s);
    assert_int_equal(s->outlen, (size_t)SMTP_CLIENT_QUEUE * strlen("RCPT TO:<r>\r\n"));
    /* An unsolicited reply while idle after the queue drains. */
    s->outlen = 0;
    free(s);
}

static void output_backpressure(void **state)
{
    (void)state;
    /* Content larger than the output buffer: body() takes what fits and
     * the caller writes in between; stuffing stays right across chunks. */
    struct sim *s = sim_ready(0, EHLO_PIPE);
    smtp_client_mail(&s->c, "a", 1, 0, SMTP_BODY_NONE, 0);
    smtp_client_rcpt(&s->c, "b", 1);
    smtp_client_data(&s->c);
    pump(s);
    server(s, "250 ok\r\n250 ok\r\n354 go\r\n");
    s->outlen = s->loglen = 0;
    size_t n = 40000;
    char *b = malloc(n), *want = malloc(2 * n + 8);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        b[i] = (i % 7 == 0) ? '\n' : (i % 7 == 1 ? '.' : 'x');
    }
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '.' && (i == 0 || b[i - 1] == '\n'))
            want[w++] = '.';
        want[w++] = b[i];
    }
    memcpy(want + w, "\r\n.\r\n", 6);
    size_t off = 0;
    int stalls = 0;
    while (off < n) {
        size_t k = smtp_client_body(&s->c, b + off, n - off);
        if (k == 0) {
            stalls++;
            const char *p;
            size_t m = smtp_client_output(&s->c, &p);
            memcpy(s->out + s->outlen, p, m);
            s->outlen += m;
            smtp_client_output_done(&s->c, m);
        }
        off += k;
    }
    assert_true(stalls > 0);
    assert_int_equal(smtp_client_body_end(&s->c), 0);
    pump(s);
    assert_int_equal(s->outlen, w + 5);
    assert_memory_equal(s->out, want, w + 5);
    free(b);
    free(want);
    free(s);
}

/* LMTP (RFC 2033): LHLO, no HELO fallback, one end-of-data reply per
 * accepted recipient matched to it, fakes for the ones still owed when
 * the server goes away. */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipelined_transaction),
        cmocka_unit_test(lockstep_without_pipelining),
        cmocka_unit_test(pipelining_disabled_by_option),
        cmocka_unit_test(commands_queued_before_ready),
        cmocka_unit_test(helo_fallback),
        cmocka_unit_test(setup_failures),
        cmocka_unit_test(failures_in_transaction),
        cmocka_unit_test(starttls_hook),
        cmocka_unit_test(limits_and_misuse),
        cmocka_unit_test(output_backpressure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
