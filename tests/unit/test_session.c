/*
 * test_session.c - scripted SMTP sessions through the sans-I/O session.
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


static void test_clean_message(void **state)
{
    struct session_cfg cfg;
    (void)state;
    script_cfg_init(&cfg);
    script_expect(&cfg, script_no_rules,
                  "EHLO client.example.org\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"
                  "DATA\r\nSubject: x\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n",
                  GREET EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                  "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as QID1\r\n"
                  "221 2.0.0 Bye\r\n[CLOSE]");
}

/* RFC 3461 facts reach the RCPT stage as smtpd records them: ORCPT
 * decoded, or made up as "rfc822;" + the address as sent; NOTIFY only when
 * given; RET/ENVID forgotten after RSET. With DSN discarded from EHLO it
 * is not announced and its parameters are refused. */
static void test_dsn_facts(void **state)
{
    struct session_cfg cfg;
    struct session_peer peer;
    struct out *o = malloc(sizeof(*o));
    (void)state;
    script_cfg_init(&cfg);
    script_peer_init(&peer);
    const char *in = "EHLO x\r\nMAIL FROM:<a@b> RET=HDRS ENVID=e+2B1\r\n"
                     "RCPT TO:<c@d> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;O+40x\r\n"
                     "RCPT TO:<Name <e@f>>\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:g@h\r\n"
                     "QUIT\r\n";
    struct tctx t = {.rules = script_no_rules};
    script_run(&cfg, &peer, &t, in, strlen(in), 0, o);
    assert_string_equal(t.dsn_seen, "[2 e+1 10 rfc822;O@x][2 e+1 0 rfc822;Name <e@f>]"
                                    "[0 - 0 rfc822;g@h]");

    cfg.ehlo_discard = EHLO_KW_DSN | EHLO_KW_PIPELINING;
    script_expect(&cfg, script_no_rules,
                  "EHLO x\r\nMAIL FROM:<a@b> RET=FULL\r\nMAIL FROM:<a@b>\r\n"
                  "RCPT TO:<c@d> NOTIFY=NEVER\r\nQUIT\r\n",
                  GREET "250-mx.example.test\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
                 "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
                 "501 5.7.1 DSN support is disabled\r\n250 2.1.0 Ok\r\n"
                 "501 5.7.1 DSN support is disabled\r\n221 2.0.0 Bye\r\n[CLOSE]");
    /* Everything discarded: the host name is the last line. */
    cfg.ehlo_discard = ~0u;
    script_expect(&cfg, script_no_rules, "EHLO x\r\nQUIT\r\n",
                  GREET "250 mx.example.test\r\n221 2.0.0 Bye\r\n[CLOSE]");
    /* A client's entry in smtpd_discard_ehlo_keyword_address_maps replaces
     * smtpd_discard_ehlo_keywords (not merged: Postfix 3.7 checked), DSN
     * included. */
    cfg.ehlo_discard = EHLO_KW_DSN;
    peer.ehlo_discard_found = 1;
    peer.ehlo_discard = EHLO_KW_ETRN | EHLO_KW_CHUNKING;
    struct tctx t2 = {.rules = script_no_rules};
    const char *in2 = "EHLO x\r\nMAIL FROM:<a@b> RET=FULL\r\nQUIT\r\n";
    script_run(&cfg, &peer, &t2, in2, strlen(in2), 0, o);
    assert_string_equal(o->buf, GREET "250-mx.example.test\r\n250-PIPELINING\r\n"
                                      "250-SIZE 10240000\r\n250-VRFY\r\n"
                                      "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
                                      "250 SMTPUTF8\r\n250 2.1.0 Ok\r\n221 2.0.0 Bye\r\n[CLOSE]");
        const char *const words[] = {"DSN", "silent-discard", "Chunking", "bogus"};
    assert_int_equal(ehlo_reply_mask(words, 4), EHLO_KW_DSN | EHLO_KW_SILENT | EHLO_KW_CHUNKING);
    free(o);
}

static void test_data_bytes_as_sent(void **state)
{
    struct session_cfg cfg;
    struct session_peer peer;
    struct tctx t = {.rules = script_no_rules};
    struct out *o = malloc(sizeof(*o));
    const char *in = "HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<b@c>\r\nDATA\r\n"
                     ".\r\r\n..x\r\na\n.\nb\r\n.x\r\n.\r\nNOOP\r\n";
    const char *content = ".\r\r\n..x\r\na\n.\nb\r\n.x\r\n";
    (void)state;
    script_cfg_init(&cfg);
    script_peer_init(&peer);
    for (size_t step = 0; step < 4; step++) {
        memset(&t, 0, sizeof(t));
        t.rules = script_no_rules;
        script_run(&cfg, &peer, &t, in, strlen(in), step, o);
        /* Still dot-stuffed, CRLF kept, bare LF "." not an end. */
        assert_int_equal(t.data_len, strlen(content));
        assert_memory_equal(t.data, content, t.data_len);
        assert_non_null(strstr(o->buf, "250 2.0.0 Ok: queued as QID1\r\n250 2.0.0 Ok\r\n"));
    }
    free(o);
}

static void test_ehlo_tls_xclient_keywords(void **state)
{
    struct session_cfg cfg;
    struct session_peer peer;
    struct tctx t = {.rules = script_no_rules};
    struct out *o = malloc(sizeof(*o));
    (void)state;
    script_cfg_init(&cfg);
    cfg.tls_available = 1;
    script_peer_init(&peer);
    peer.xclient_authorized = 1;
    /* Pipelined after EHLO, STARTTLS is refused: Postfix's improper
     * pipelining flag (SMTPD_FLAG_ILL_PIPELINING) is set. */
    const char *in = "EHLO x\r\nSTARTTLS\r\nQUIT\r\n";
    script_run(&cfg, &peer, &t, in, strlen(in), 0, o);
    assert_string_equal(o->buf,
        GREET "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
        "250-ETRN\r\n250-STARTTLS\r\n"
        "250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT\r\n"
        "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
        "502 5.5.1 Error: command not implemented\r\n221 2.0.0 Bye\r\n[CLOSE]");
    /* One command at a time: 220, bytes pipelined behind STARTTLS are
     * dropped (CVE-2011-0411), and after TLS STARTTLS is not offered. */
    struct session *s = session_create(&cfg, &peer, &script_ops, &t);
    o->len = 0;
    session_start(s, NULL);
    session_input(s, "EHLO x\r\n", 8);
    script_settle(s, &t, o);
    o->len = 0;
    o->buf[0] = 0;
    assert_int_equal(session_input(s, "STARTTLS\r\nNOOP\r\n", 16), 16);
    script_settle(s, &t, o);
    assert_string_equal(o->buf, "220 2.0.0 Ready to start TLS\r\n[TLS]");
    o->len = 0;
    const char *m = "EHLO y\r\n";
    assert_int_equal(session_input(s, m, strlen(m)), strlen(m));
    script_settle(s, &t, o);
    m = "STARTTLS\r\n";
    session_input(s, m, strlen(m));
    script_settle(s, &t, o);
    assert_null(strstr(o->buf, "250-STARTTLS"));
    assert_non_null(strstr(o->buf, "250-XCLIENT"));
    assert_non_null(strstr(o->buf, "554 5.5.1 Error: TLS already active\r\n"));
    session_free(s);
    free(o);
}

static const struct rule partial[] = {
    {SESSION_STAGE_RCPT, "bad", SESSION_REJECT, 550, "5.1.1",
     "<bad@example.test>: Recipient address rejected: User unknown"},
    {SESSION_STAGE_RCPT, "later", SESSION_DEFER, 450, "4.7.1", "<later@example.test>: try later"},
    {0},
};

static void test_pipelined_partial_reject(void **state)
{
    struct session_cfg cfg;
    (void)state;
    script_cfg_init(&cfg);
    script_expect(&cfg, partial,
                  "EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<ok@example.test>\r\n"
                  "RCPT TO:<bad@example.test>\r\nRCPT TO:<later@example.test>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
                  GREET EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                  "550 5.1.1 <bad@example.test>: Recipient address rejected: User unknown\r\n"
                  "450 4.7.1 <later@example.test>: try later\r\n"
                  "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as QID1\r\n"
                  "221 2.0.0 Bye\r\n[CLOSE]");
}

static void test_sequence_errors(void **state)
{
    struct session_cfg cfg;
    (void)state;
    script_cfg_init(&cfg);
    /* sendmail -bs, Postfix 3.7.11 */
    script_expect(&cfg, script_no_rules,
                  "RCPT TO:<a@b>\r\nDATA\r\nEHLO x\r\nMAIL FROM:<>\r\nMAIL FROM:<>\r\nDATA\r\n"
                  "RCPT x\r\nRSET x\r\nRSET\r\nRCPT TO:<a@b>\r\n\r\nFOO\r\nEHLO\r\nAUTH PLAIN\r\n"
                  "STARTTLS\r\nXCLIENT\r\nXCLIENT ADDR=1.2.3.4\r\nETRN\r\nETRN example.com\r\n"
                  "VRFY a\r\nQUIT\r\n",
                  GREET "503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need RCPT command\r\n"
                  EHLO_REPLY "250 2.1.0 Ok\r\n503 5.5.1 Error: nested MAIL command\r\n"
                  "554 5.5.1 Error: no valid recipients\r\n501 5.5.4 Syntax: RCPT TO:<address>\r\n"
                  "501 5.5.4 Syntax: RSET\r\n250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n"
                  "500 5.5.2 Error: bad syntax\r\n500 5.5.2 Error: command not recognized\r\n"
                  "501 Syntax: EHLO hostname\r\n503 5.5.1 Error: authentication not enabled\r\n"
                  "502 5.5.1 Error: command not implemented\r\n"
                  "501 5.5.4 Syntax: XCLIENT attribute=value...\r\n"
                  "550 5.7.0 Error: insufficient authorization\r\n500 Syntax: ETRN domain\r\n"
                  "459 <example.com>: service unavailable\r\n252 2.0.0 a\r\n221 2.0.0 Bye\r\n[CLOSE]");
}

static void test_helo_required_vrfy_disabled(void **state)
{
    struct session_cfg cfg;
    (void)state;
    script_cfg_init(&cfg);
    cfg.helo_required = 1;
    cfg.disable_vrfy = 1;
    /* Recorded from the private Postfix with the examples/ configuration. */
    script_expect(&cfg, script_no_rules, "MAIL FROM:<a@b>\r\nVRFY a@b\r\nQUIT\r\n",
                  GREET "503 5.5.1 Error: send HELO/EHLO first\r\n502 5.5.1 VRFY command is disabled\r\n"
                  "221 2.0.0 Bye\r\n[CLOSE]");
}

static void test_error_limits_and_sleep(void **state)
{
    struct session_cfg cfg;
    (void)state;
    script_cfg_init(&cfg);
    cfg.hard_error_limit = 3;
    script_expect(&cfg, script_no_rules, "FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n",
                  GREET "500 5.5.2 Error: command not recognized\r\n"
                  "500 5.5.2 Error: command not recognized\r\n"
                  "500 5.5.2 Error: command not recognized\r\n"
                  "421 4.7.0 mx.example.test Error: too many errors\r\n[CLOSE]");
    /* Soft limit 1, sleep 20 s: every reply after the first error waits,
     * even QUIT's (as the examples' sessions show with Postfix). */
    cfg.hard_error_limit = 3;
    cfg.soft_error_limit = 1;
    cfg.error_sleep_ms = 20000;
    script_expect(&cfg, script_no_rules, "FOO\r\nNOOP\r\nFOO\r\nFOO\r\nNOOP\r\n",
                  GREET "500 5.5.2 Error: command not recognized\r\n"
                  "[SLEEP 20000]250 2.0.0 Ok\r\n[SLEEP 20000]500 5.5.2 Error: command not recognized\r\n"
                  "[SLEEP 20000]500 5.5.2 Error: command not recognized\r\n"
                  "[SLEEP 20000]421 4.7.0 mx.example.test Error: too many errors\r\n[CLOSE]");
    /* A non-SMTP command after the soft limit: the 221 is slept on, then
     * sent, then the session closes (it was lost once: CLOSE won over SLEEP). */
    script_expect(&cfg, script_no_rules, "FOO\r\nSubject: hi\r\n",
                  GREET "500 5.5.2 Error: command not recognized\r\n"
                  "[SLEEP 20000]221 2.7.0 Error: I can break rules, too. Goodbye.\r\n[CLOSE]");
}

static void test_junk_limit(void **state)
{
    struct session_cfg cfg;
    (void)state;
    script_cfg_init(&cfg);
    cfg.hard_error_limit = 3;
    cfg.junk_command_limit = 2;
    /* sendmail -bs: six NOOPs answered, then 421 without reading more. */
    script_expect(&cfg, script_no_rules, "NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nQUIT\r\n",
                  GREET "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
                  "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n421 4.7.0 mx.example.test Error: too many errors\r\n"
                  "[CLOSE]");
}

static void test_recipient_and_size_limits(void **state)
{
    struct session_cfg cfg;
    (void)state;
    script_cfg_init(&cfg);
    cfg.recipient_limit = 2;
    cfg.message_size_limit = 200000;
    script_expect(&cfg, script_no_rules,
                  "EHLO x\r\nMAIL FROM:<> SIZE=300000\r\nMAIL FROM:<> SIZE=200000\r\nRCPT TO:<a@b>\r\n"
                  "RCPT TO:<a@c>\r\nRCPT TO:<a@d>\r\nQUIT\r\n",
                  GREET "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 200000\r\n250-VRFY\r\n"
                  "250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n"
                  "250 CHUNKING\r\n552 5.3.4 Message size exceeds fixed limit\r\n250 2.1.0 Ok\r\n"
                  "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Error: too many recipients\r\n"
                  "221 2.0.0 Bye\r\n[CLOSE]");
    cfg.message_size_limit = 10;
    script_expect(&cfg, script_no_rules,
                  "HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n0123456789abc\r\n.\r\nNOOP\r\n",
                  GREET "250 mx.example.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                  "354 End data with <CR><LF>.<CR><LF>\r\n552 5.3.4 Message size exceeds fixed limit\r\n"
                  "250 2.0.0 Ok\r\n");
}

static const struct rule helo_reject[] = {
    {SESSION_STAGE_HELO, "localhost", SESSION_REJECT, 554, "5.7.1",
     "<localhost>: Helo command rejected: 554 BadSender1"},
    {0},
};

static void test_delay_reject(void **state)
{
    struct session_cfg cfg;
    (void)state;
    script_cfg_init(&cfg);
    /* examples/ with Postfix: the HELO reject shows at RCPT. */
    script_expect(&cfg, helo_reject, "HELO localhost\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.test>\r\nQUIT\r\n",
                  GREET "250 mx.example.test\r\n250 2.1.0 Ok\r\n"
                  "554 5.7.1 <localhost>: Helo command rejected: 554 BadSender1\r\n"
                  "221 2.0.0 Bye\r\n[CLOSE]");
    cfg.delay_reject = 0;
    script_expect(&cfg, helo_reject, "HELO localhost\r\nHELO ok.example\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n",
                  GREET "554 5.7.1 <localhost>: Helo command rejected: 554 BadSender1\r\n"
                  "250 mx.example.test\r\n250 2.1.0 Ok\r\n221 2.0.0 Bye\r\n[CLOSE]");
}

static void test_connect_reject(void **state)
{
    struct session_cfg cfg;
    (void)state;
    script_cfg_init(&cfg);
    cfg.delay_reject = 0;
    script_expect(&cfg, script_client_reject, "HELO x\r\nQUIT\r\n",
                  "554 5.7.1 <client.example.org[192.0.2.10]>: Client host rejected: Access denied\r\n"
                  "503 5.7.0 Error: access denied for client.example.org[192.0.2.10]\r\n"
                  "221 2.0.0 Bye\r\n[CLOSE]");
}

static void test_async_policy_holds_pipeline(void **state)
{
    struct session_cfg cfg;
    struct session_peer peer;
    struct tctx t = {.rules = partial, .pending = 1};
    const char *in = "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bad@example.test>\r\n"
                     "RCPT TO:<ok@example.test>\r\nDATA\r\nx\r\n.\r\n";
    const char *p;
    size_t n, used;
    (void)state;
    script_cfg_init(&cfg);
    cfg.delay_reject = 0; /* one stage per command: easy to count */
    script_peer_init(&peer);
    struct session *s = session_create(&cfg, &peer, &script_ops, &t);
    session_start(s, NULL);
    /* connect stage pending: no greeting yet, no input taken */
    assert_int_equal(session_wait(s, NULL), SESSION_WAIT_POLICY);
    session_output(s, &p, &n);
    assert_int_equal(n, 0);
    assert_int_equal(session_input(s, in, strlen(in)), 0);
    assert_int_equal(session_policy_done(s, &t.stash), 0);
    used = 0;
    int rounds = 0;
    while (used < strlen(in)) {
        used += session_input(s, in + used, strlen(in) - used);
        if (session_wait(s, NULL) == SESSION_WAIT_POLICY) {
            rounds++;
            assert_int_equal(session_policy_done(s, &t.stash), 0);
        }
    }
    assert_true(rounds >= 5); /* HELO, MAIL, RCPT, RCPT, DATA */
    session_output(s, &p, &n);
    assert_non_null(strstr(p, "550 5.1.1 <bad@example.test>"));
    assert_non_null(strstr(p, "250 2.0.0 Ok: queued as QID1\r\n"));
    assert_int_equal(session_policy_done(s, &t.stash), -22); /* nothing waits */
    session_free(s);
}

/* 62d006d: BDAT from a client whose EHLO mask discards CHUNKING is "521
 * 5.5.1 Error: command not implemented" and the end of the session, before
 * its syntax or the state is looked at (Postfix 3.7.11's bdat_cmd(), seen
 * with test_daemon_ehlo_discard --postfix); the chunk is never read. A
 * client offered CHUNKING gets the state error (503 before MAIL, 554 after
 * MAIL without RCPT, as bdat_cmd() words them) and goes on, whatever else
 * is discarded. */
#define EHLO_NO_CHUNKING                                                                   \
    "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n" \
    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n"
#define NOT_IMPL "521 5.5.1 Error: command not implemented\r\n[CLOSE]"
static const struct {
    unsigned discard;
    const char *in, *out;
} bdat_rows[] = {
    /* CHUNKING discarded: after HELO alone, a valid BDAT */
    {EHLO_KW_CHUNKING, "HELO x\r\nBDAT 4 LAST\r\nabcdNOOP\r\n",
     GREET "250 mx.example.test\r\n" NOT_IMPL},
    /* after MAIL, no RCPT, a bad size */
    {EHLO_KW_CHUNKING, "EHLO x\r\nMAIL FROM:<a@b>\r\nBDAT x LAST\r\nNOOP\r\n",
     GREET EHLO_NO_CHUNKING "250 2.1.0 Ok\r\n" NOT_IMPL},
    /* a BDAT the state would take: still refused */
    {EHLO_KW_CHUNKING | EHLO_KW_DSN,
     "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 4 LAST\r\nabcdQUIT\r\n",
     GREET "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
           "250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
           "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" NOT_IMPL},
    /* no command at all before it */
    {EHLO_KW_CHUNKING, "BDAT\r\nQUIT\r\n", GREET NOT_IMPL},
    /* CHUNKING kept: the state error, the chunk skipped, the session goes on */
    {0, "HELO x\r\nBDAT 4 LAST\r\nabcdNOOP\r\nQUIT\r\n",
     GREET "250 mx.example.test\r\n503 5.5.1 Error: need RCPT command\r\n250 2.0.0 Ok\r\n"
           "221 2.0.0 Bye\r\n[CLOSE]"},
    {EHLO_KW_DSN | EHLO_KW_PIPELINING, "EHLO x\r\nMAIL FROM:<a@b>\r\nBDAT 4 LAST\r\nabcdQUIT\r\n",
     GREET "250-mx.example.test\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
           "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
           "250 2.1.0 Ok\r\n554 5.5.1 Error: no valid recipients\r\n221 2.0.0 Bye\r\n[CLOSE]"},
};

static void test_bdat_chunking_discarded(void **state)
{
    struct session_cfg cfg;
    (void)state;
    for (size_t i = 0; i < sizeof(bdat_rows) / sizeof(bdat_rows[0]); i++) {
        script_cfg_init(&cfg);
        cfg.ehlo_discard = bdat_rows[i].discard;
        script_expect(&cfg, script_no_rules, bdat_rows[i].in, bdat_rows[i].out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_message),
        cmocka_unit_test(test_dsn_facts),
        cmocka_unit_test(test_data_bytes_as_sent),
        cmocka_unit_test(test_ehlo_tls_xclient_keywords),
        cmocka_unit_test(test_pipelined_partial_reject),
        cmocka_unit_test(test_sequence_errors),
        cmocka_unit_test(test_helo_required_vrfy_disabled),
        cmocka_unit_test(test_error_limits_and_sleep),
        cmocka_unit_test(test_junk_limit),
        cmocka_unit_test(test_recipient_and_size_limits),
        cmocka_unit_test(test_delay_reject),
        cmocka_unit_test(test_connect_reject),
        cmocka_unit_test(test_async_policy_holds_pipeline),
        cmocka_unit_test(test_bdat_chunking_discarded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
