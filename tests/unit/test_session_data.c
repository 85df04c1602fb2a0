/*
 * test_session_data.c - scripted SMTP sessions through the sans-I/O session:
 * the message itself (no 250 before the end of data is judged, BDAT, long
 * lines and line ends, XCLIENT, EOF in DATA, unauth pipelining).
 *
 * Each script is client input; the transcript is the session's output
 * with markers for its waits ([SLEEP ms], [TLS], [CLOSE]). Every script is
 * fed whole, byte by byte and in odd chunks: the transcripts must match.
 * Expected replies are Postfix 3.7.11's, recorded from the private
 * instance (tests/lib/postfix_peer.py, XCLIENT from 127.0.0.1) and from
 * `sendmail -bs` with the same settings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session_script.h"
#include "workers/session.h"


static void test_no_250_before_data_end(void **state)
{
    struct session_cfg cfg;
    struct session_peer peer;
    struct tctx t = {.rules = script_no_rules, .eod_pending = 1};
    const char *in = "HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n";
    const char *p;
    size_t n, used;
    (void)state;
    script_cfg_init(&cfg);
    script_peer_init(&peer);
    struct session *s = session_create(&cfg, &peer, &script_ops, &t);
    session_start(s, NULL);
    used = session_input(s, in, strlen(in));
    assert_int_equal(session_wait(s, NULL), SESSION_WAIT_POLICY);
    assert_int_equal(used, strlen(in) - strlen("QUIT\r\n")); /* QUIT waits */
    session_output(s, &p, &n);
    assert_null(strstr(p, "queued"));
    session_output_done(s, n);
    struct session_verdict v = {.action = SESSION_DEFER, .code = 451, .dsn = "4.4.1",
                                .text = "next hop did not answer"};
    assert_int_equal(session_policy_done(s, &v), 0);
    session_input(s, in + used, strlen(in) - used);
    session_output(s, &p, &n);
    assert_int_equal(n, strlen("451 4.4.1 next hop did not answer\r\n221 2.0.0 Bye\r\n"));
    assert_memory_equal(p, "451 4.4.1 next hop did not answer\r\n221 2.0.0 Bye\r\n", n);
    assert_int_equal(session_wait(s, NULL), SESSION_WAIT_CLOSE);
    /* Nothing after CLOSE. */
    assert_int_equal(session_input(s, "NOOP\r\n", 6), 6);
    session_output(s, &p, &n);
    assert_int_equal(n, strlen("451 4.4.1 next hop did not answer\r\n221 2.0.0 Bye\r\n"));
    session_free(s);
}

static void test_bdat(void **state)
{
    struct session_cfg cfg;
    (void)state;
    script_cfg_init(&cfg);
    /* sendmail -bs: a BDAT refused for want of RCPT still eats its chunk. */
    script_expect(&cfg, script_no_rules,
                  "EHLO x\r\nBDAT 10\r\nHELP\r\nQUIT\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\n"
                  "BDAT 5\r\nhelloBDAT 0 LAST\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nBDAT 3\r\nabcDATA\r\n"
                  "RSET\r\nBDAT 2 LAST\r\nab",
                  GREET EHLO_REPLY "503 5.5.1 Error: need RCPT command\r\n500 5.5.2 Error: bad syntax\r\n"
                  "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 5 bytes\r\n"
                  "250 2.0.0 Ok: 5 bytes queued as QID1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                  "250 2.0.0 Ok: 3 bytes\r\n503 5.5.1 Error: DATA after BDAT\r\n250 2.0.0 Ok\r\n"
                  "503 5.5.1 Error: need RCPT command\r\n");
    script_expect(&cfg, script_no_rules, "EHLO x\r\nBDAT x\r\nNOOP\r\n",
                  GREET EHLO_REPLY "521 5.5.4 Syntax: BDAT count [LAST]\r\n[CLOSE]");
}

/*
 * BDAT counts as Postfix 3.7.11 gives them (tests/peer/bdat_peer.py): a
 * chunk that is not the last is answered with its own size, the last with
 * the pipeline's act_size from data_end (here the stub's eod_size: 10 is
 * what Postfix says for "hello" + "abc" LAST), also when data_end answers
 * later; without one the raw byte count stands.
 */
static void test_bdat_counts(void **state)
{
    struct session_cfg cfg;
    struct session_peer peer;
    struct out *o = malloc(sizeof(*o));
    static const char in[] =
        "EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nBDAT 5\r\nhelloBDAT 3 LAST\r\nabc"
        "MAIL FROM:<>\r\nRCPT TO:<a@b>\r\nBDAT 3\r\na\r\nBDAT 3\r\nb\r\nBDAT 3 LAST\r\nc\r\n";
    static const char *const want[] = {
        GREET EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 5 bytes\r\n"
        "250 2.0.0 Ok: 10 bytes queued as QID1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
        "250 2.0.0 Ok: 3 bytes\r\n250 2.0.0 Ok: 3 bytes\r\n250 2.0.0 Ok: 10 bytes queued as QID2\r\n",
        GREET EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 5 bytes\r\n"
        "250 2.0.0 Ok: 8 bytes queued as QID1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
        "250 2.0.0 Ok: 3 bytes\r\n250 2.0.0 Ok: 3 bytes\r\n250 2.0.0 Ok: 9 bytes queued as QID2\r\n",
    };
    size_t steps[] = {0, 1, 7};
    (void)state;
    script_cfg_init(&cfg);
    script_peer_init(&peer);
    for (int pending = 0; pending < 2; pending++) {
        for (int sized = 1; sized >= 0; sized--) {
            for (size_t i = 0; i < 3; i++) {
                struct tctx t = {.eod_pending = pending, .eod_size = sized ? 10 : 0};
                script_run(&cfg, &peer, &t, in, strlen(in), steps[i], o);
                if (strcmp(o->buf, want[!sized]) != 0)
                    fail_msg("pending %d sized %d step %zu:\n--- got\n%s--- want\n%s", pending,
                             sized, steps[i], o->buf, want[!sized]);
            }
        }
    }
    free(o);
}

static void test_long_line_and_line_ends(void **state)
{
    struct session_cfg cfg;
    static char in[8192];
    (void)state;
    script_cfg_init(&cfg);
    /* sendmail -bs: the first 2048 bytes are the command, the rest of the
     * line is dropped; bare LF ends a command line; CR inside is kept. */
    size_t n = (size_t)sprintf(in, "HELO ");
    memset(in + n, 'a', 2100);
    n += 2100;
    n += (size_t)sprintf(in + n, "\r\nNOOP\r\nNOOP ");
    memset(in + n, 'b', 2043);
    n += 2043;
    sprintf(in + n, "\r\nHELO x\nNOOP\rx\r\nQUIT\n");
    script_expect(&cfg, script_no_rules, in,
                  GREET "250 mx.example.test\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n250 mx.example.test\r\n"
                  "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n[CLOSE]");
}

static void test_xclient(void **state)
{
    struct session_cfg cfg;
    struct session_peer peer;
    struct tctx t = {.rules = script_client_reject};
    struct out *o = malloc(sizeof(*o));
    const char *in = "EHLO x\r\nMAIL FROM:<>\r\nXCLIENT ADDR=1.2.3.4\r\nRSET\r\n"
                     "XCLIENT FOO=bar\r\nXCLIENT ADDR=192.0.2.1 NAME=a.example\r\nHELO y\r\n"
                     "MAIL FROM:<>\r\nRCPT TO:<u@example.test>\r\nQUIT\r\n";
    (void)state;
    script_cfg_init(&cfg);
    script_peer_init(&peer);
    peer.xclient_authorized = 1;
    script_run(&cfg, &peer, &t, in, strlen(in), 0, o);
    /* Private Postfix 3.7.11, smtpd_authorized_xclient_hosts = 127.0.0.1;
     * the client rule no longer matches the new name. */
    const char *want_tail = "250 2.1.0 Ok\r\n503 5.5.1 Error: MAIL transaction in progress\r\n"
                            "250 2.0.0 Ok\r\n501 5.5.4 Bad XCLIENT attribute name: FOO\r\n"
                            "220 mx.example.test ESMTP Postfix\r\n250 mx.example.test\r\n"
                            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n221 2.0.0 Bye\r\n[CLOSE]";
    assert_non_null(strstr(o->buf, want_tail));
    free(o);
}

static void test_eof_mid_data(void **state)
{
    struct session_cfg cfg;
    struct session_peer peer;
    struct tctx t = {.rules = script_no_rules};
    const char *in = "HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\npartial";
    (void)state;
    script_cfg_init(&cfg);
    script_peer_init(&peer);
    struct session *s = session_create(&cfg, &peer, &script_ops, &t);
    long long bytes = 0;
    session_start(s, NULL);
    assert_string_equal(session_where(s, &bytes), "CONNECT");
    assert_int_equal(bytes, -1);
    assert_int_equal(session_input(s, in, 8), 8);
    assert_string_equal(session_where(s, &bytes), "HELO");
    assert_int_equal(session_input(s, in + 8, strlen(in) - 8), strlen(in) - 8);
    assert_int_equal(t.begins, 1);
    /* "lost connection after DATA (7 bytes)", as Postfix logs it. */
    assert_string_equal(session_where(s, &bytes), "DATA");
    assert_int_equal(bytes, 7);
    session_eof(s);
    assert_int_equal(t.aborts, 1);
    assert_int_equal(t.ends, 0);
    assert_int_equal(session_wait(s, NULL), SESSION_WAIT_CLOSE);
    const struct maillog_cmd_stats *st = session_stats(s);
    assert_int_equal(st->total[MAILLOG_DATA], 1);
    assert_int_equal(st->ok[MAILLOG_DATA], 0);
    assert_int_equal(st->ok[MAILLOG_RCPT], 1);
    session_free(s);
}

static void test_unauth_pipelining_fact(void **state)
{
    struct session_cfg cfg;
    struct session_peer peer;
    struct tctx t = {.rules = script_no_rules};
    struct out *o = malloc(sizeof(*o));
    const char *in = "HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n";
    (void)state;
    script_cfg_init(&cfg);
    script_peer_init(&peer);
    script_run(&cfg, &peer, &t, in, strlen(in), 0, o); /* HELO (not EHLO) client pipelines */
    assert_int_equal(t.saw_pipelined, 1);
    memset(&t, 0, sizeof(t));
    t.rules = script_no_rules;
    const char *cmds[] = {"EHLO x\r\n", "MAIL FROM:<>\r\n", "RCPT TO:<a@b>\r\n", "DATA\r\n"};
    struct session *s = session_create(&cfg, &peer, &script_ops, &t);
    session_start(s, NULL);
    for (size_t i = 0; i < 4; i++)
        session_input(s, cmds[i], strlen(cmds[i]));
    assert_int_equal(t.saw_pipelined, 0);
    session_free(s);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_250_before_data_end),
        cmocka_unit_test(test_bdat),
        cmocka_unit_test(test_bdat_counts),
        cmocka_unit_test(test_long_line_and_line_ends),
        cmocka_unit_test(test_xclient),
        cmocka_unit_test(test_eof_mid_data),
        cmocka_unit_test(test_unauth_pipelining_fact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
