/* test_dsn.c - delivery status notifications: byte for byte against real
 * Postfix 3.7 output (tests/data/dsn/), the rules around it (null sender,
 * NOTIFY, RET, size limit, encodings, SMTPUTF8, hostile diagnostic text,
 * boundary clashes, the content reader), the text helpers, and a parse
 * back with Python's email package. Runs with TZ=UTC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsn.h"

#define T0 1795292826 /* Sat, 21 Nov 2026 20:27:06 UTC, the reference run */

static const char body_line_fmt[] = "line %05d of the body, some filler text to make it longer\r\n";

static const char hdrs7[] = "From: Sender <sender@origin.test>\r\n"
                            "To: bad@remote.test\r\n"
                            "Subject: test 7bit\r\n"
                            "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                            "Message-ID: <m1@origin.test>\r\n";

static char *big_message(const char *received)
{
    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, received);
    strbuf_puts(&sb, hdrs7);
    strbuf_puts(&sb, "\r\n");
    for (int i = 0; i < 60; i++) {
        char line[100];
        snprintf(line, sizeof(line), body_line_fmt, i);
        strbuf_puts(&sb, line);
    }
    return (char *)strbuf_cstr(&sb);
}

static char *slurp(const char *path, size_t *len)
{
    char *buf;
    assert_int_equal(file_read_all(path, &buf, len), 0);
    return buf;
}

static struct dsn_params ref_params(void)
{
    struct dsn_params p = {
        .myhostname = "mx.example.test",
        .mail_name = "Postfix",
        .bounce_size_limit = 1000,
        .maximal_queue_lifetime = 86400,
        .delay_warning_time = 1,
        .smtputf8_enable = true,
    };
    return p;
}

static const struct dsn_rcpt bad_rcpt = {
    .address = "bad@remote.test",
    .orcpt = "rfc822;bad@remote.test",
    .status = "5.1.1",
    .reason = "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <bad@remote.test>: Recipient "
              "address rejected: User unknown in virtual mailbox table (in reply to RCPT "
              "TO command)",
    .mta_type = "dns",
    .mta_name = "127.0.0.1",
    .diag_type = "smtp",
    .diag_text = "550 5.1.1 <bad@remote.test>: Recipient address rejected: User unknown in "
                 "virtual mailbox table",
};

static void expect_file(const struct strbuf *got, const char *path)
{
    size_t len;
    char *want = slurp(path, &len);
    if (got->len != len || memcmp(got->buf, want, len) != 0) {
        fprintf(stderr, "---- got:\n%.*s\n---- want (%s):\n%s\n", (int)got->len, got->buf,
                path, want);
        fail_msg("notification differs from %s", path);
    }
    free(want);
}

static void failure_headers_only_like_postfix(void **state)
{
    (void)state;
    char *content = big_message(
        "Received: from client.test (localhost [127.0.0.1])\r\n"
        "\tby mx.example.test (Postfix) with ESMTP id 5C517A7813A;\r\n"
        "\tSat, 21 Nov 2026 20:27:06 +0000 (UTC)\r\n");
    struct dsn_params p = ref_params();
    struct dsn_message m = {
        .kind = DSN_FAILURE, .queue_id = "5C517A7813A", .sender = "sender@origin.test",
        .arrival = T0, .now = T0, .dsn_queue_id = "63C03A780D5",
        .rcpt = &bad_rcpt, .nrcpt = 1, .content = content, .content_size = strlen(content),
    };
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(dsn_build(&m, &p, &out), 1);
    expect_file(&out, "../data/dsn/postfix37_failure_headers.eml");
    strbuf_free(&out);
    free(content);
}

static void delay_warning_like_postfix(void **state)
{
    (void)state;
    char *content = big_message(
        "Received: from client.test (localhost [127.0.0.1])\r\n"
        "\tby mx.example.test (Postfix) with ESMTP id 5C517A7813A;\r\n"
        "\tSat, 21 Nov 2026 20:27:06 +0000 (UTC)\r\n");
    struct dsn_rcpt slow = {
        .address = "slow@remote.test",
        .orcpt = "rfc822;slow@remote.test",
        .status = "4.2.0",
        .reason = "host 127.0.0.1[127.0.0.1] said: 450 4.2.0 <slow@remote.test>: Recipient "
                  "address rejected: Greylisted, see "
                  "http://postgrey.schweikert.ch/help/remote.test.html (in reply to RCPT TO "
                  "command)",
        .mta_type = "dns", .mta_name = "127.0.0.1", .diag_type = "smtp",
        .diag_text = "450 4.2.0 <slow@remote.test>: Recipient address rejected: Greylisted, "
                     "see http://postgrey.schweikert.ch/help/remote.test.html",
    };
    struct dsn_params p = ref_params();
    struct dsn_message m = {
        .kind = DSN_DELAY, .queue_id = "5C517A7813A", .sender = "sender@origin.test",
        .arrival = T0, .now = T0, .dsn_queue_id = "640C8A7813E",
        .rcpt = &slow, .nrcpt = 1, .content = content, .content_size = strlen(content),
    };
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(dsn_build(&m, &p, &out), 1);
    expect_file(&out, "../data/dsn/postfix37_delay.eml");
    strbuf_free(&out);
    free(content);
}

static const char msg8[] =
    "Received: from client.test (localhost [127.0.0.1])\r\n"
    "\tby mx.example.test (Postfix) with ESMTP id 5E1EBA7813B\r\n"
    "\tfor <bad@remote.test>; Sat, 21 Nov 2026 20:27:06 +0000 (UTC)\r\n"
    "From: Sender <sender@origin.test>\r\n"
    "To: bad@remote.test\r\n"
    "Subject: test 8bit\r\n"
    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "Message-ID: <m2@origin.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "h\xc3\xa9llo w\xc3\xb6rld\r\n";

static void failure_full_8bit_like_postfix(void **state)
{
    (void)state;
    struct dsn_params p = ref_params();
    struct dsn_message m = {
        .kind = DSN_FAILURE, .queue_id = "5E1EBA7813B", .sender = "sender@origin.test",
        .arrival = T0, .now = T0, .dsn_queue_id = "6112CA780D4", .encoding = DSN_ENC_8BIT,
        .rcpt = &bad_rcpt, .nrcpt = 1, .content = msg8, .content_size = strlen(msg8),
    };
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(dsn_build(&m, &p, &out), 1);
    expect_file(&out, "../data/dsn/postfix37_failure_8bit_full.eml");
    strbuf_free(&out);
}

static void failure_orcpt_like_postfix(void **state)
{
    (void)state;
    char *content = big_message(
        "Received: from client.test (localhost [127.0.0.1])\r\n"
        "\tby mx.example.test (Postfix) with ESMTP id 5E57EA7813C\r\n"
        "\tfor <bad@remote.test>; Sat, 21 Nov 2026 20:27:06 +0000 (UTC)\r\n");
    struct dsn_rcpt r = bad_rcpt;
    r.orcpt = "rfc822;Orig+x@remote.test";
    r.notify = DSN_NOTIFY_FAILURE;
    struct dsn_params p = ref_params();
    struct dsn_message m = {
        .kind = DSN_FAILURE, .queue_id = "5E57EA7813C", .sender = "sender@origin.test",
        .arrival = T0, .now = T0, .dsn_queue_id = "65F7BA780D6",
        .rcpt = &r, .nrcpt = 1, .content = content, .content_size = strlen(content),
    };
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(dsn_build(&m, &p, &out), 1);
    expect_file(&out, "../data/dsn/postfix37_failure_orcpt.eml");
    strbuf_free(&out);
    free(content);
}

/* NOTIFY=SUCCESS relayed to a next hop without DSN: one report for the
 * recipients that asked, Action: relayed, the headers as "Message
 * Headers" (tests/data/dsn/README.md says how Postfix made it). */
static void success_relayed_like_postfix(void **state)
{
    (void)state;
    const time_t t = 1795296023; /* Sat, 21 Nov 2026 21:20:23 UTC */
    static const char content[] =
        "Received: from client.test (localhost [127.0.0.1])\r\n"
        "\tby mx.example.test (Postfix) with ESMTP id 715F3A921AC;\r\n"
        "\tSat, 21 Nov 2026 21:20:23 +0000 (UTC)\r\n"
        "Subject: t\r\nMessage-Id: <m1@example.org>\r\n"
        "Date: Sat, 21 Nov 2026 21:20:23 +0000 (UTC)\r\nFrom: s@example.org\r\n"
        "\r\nhello\r\n";
    struct dsn_rcpt r[3];
    memset(r, 0, sizeof(r));
    const char *addrs[] = {"ok@remote.test", "three@remote.test", "two@remote.test"};
    const char *orcpts[] = {"rfc822;O+k@remote.test", "rfc822;three@remote.test",
                            "rfc822;two@remote.test"};
    const unsigned notify[] = {DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE, 0, DSN_NOTIFY_SUCCESS};
    char why[3][128];
    for (int i = 0; i < 3; i++) {
        r[i].address = addrs[i];
        r[i].orcpt = orcpts[i];
        r[i].notify = notify[i];
        r[i].status = "2.0.0";
        snprintf(why[i], sizeof(why[i]),
                 "delivery via 127.0.0.1[127.0.0.1]:35441: 250 2.0.0 Ok: queued");
        r[i].reason = why[i];
        r[i].mta_type = "dns";
        r[i].mta_name = "127.0.0.1";
        r[i].diag_type = "smtp";
        r[i].diag_text = "250 2.0.0 Ok: queued";
    }
    struct dsn_params p = ref_params();
    struct dsn_message m = {
        .kind = DSN_SUCCESS, .queue_id = "715F3A921AC", .sender = "s@example.org",
        .arrival = t, .now = t, .dsn_queue_id = "77FB6A921B2", .envid = "abc+d",
        .ret = DSN_RET_HDRS, .rcpt = r, .nrcpt = 3, .content = content,
        .content_size = sizeof(content) - 1,
    };
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(dsn_build(&m, &p, &out), 1);
    expect_file(&out, "../data/dsn/postfix37_success_relayed.eml");
    /* RET=FULL changes nothing: a success report returns headers only. */
    strbuf_reset(&out);
    m.ret = DSN_RET_FULL;
    assert_int_equal(dsn_build(&m, &p, &out), 1);
    expect_file(&out, "../data/dsn/postfix37_success_relayed.eml");
    /* Nobody asked for SUCCESS: no report (NOTIFY not given is not SUCCESS). */
    strbuf_reset(&out);
    m.rcpt = &r[1];
    m.nrcpt = 1;
    assert_int_equal(dsn_build(&m, &p, &out), 0);
    assert_int_equal(out.len, 0);
    strbuf_free(&out);
}

/* ---- rules ----------------------------------------------------------------- */

static const char small_msg[] = "Subject: hi\r\nFrom: a@b\r\n\r\nbody line\r\n.dot line\r\n";

static struct dsn_message small(const struct dsn_rcpt *r, size_t n)
{
    struct dsn_message m = {
        .kind = DSN_FAILURE, .queue_id = "ABC123", .sender = "s@origin.test",
        .arrival = T0, .now = T0 + 60, .rcpt = r, .nrcpt = n,
        .content = small_msg, .content_size = sizeof(small_msg) - 1,
    };
    return m;
}

static int build(const struct dsn_message *m, const struct dsn_params *p, struct strbuf *out)
{
    strbuf_reset(out);
    int rc = dsn_build(m, p, out);
    strbuf_cstr(out);
    return rc;
}

static void null_sender_is_never_notified(void **state)
{
    (void)state;
    struct dsn_params p = ref_params();
    struct dsn_message m = small(&bad_rcpt, 1);
    struct strbuf out;
    strbuf_init(&out);
    m.sender = "";
    assert_int_equal(build(&m, &p, &out), 0);
    assert_int_equal(out.len, 0);
    m.kind = DSN_DELAY;
    assert_int_equal(build(&m, &p, &out), 0);
    /* The postmaster copy of a double bounce is the caller's choice. */
    m.kind = DSN_FAILURE;
    m.postmaster_to = "postmaster";
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "\r\nSubject: Postmaster Copy: Undelivered Mail\r\n"));
    assert_non_null(strstr(out.buf, "\r\nTo: postmaster\r\n"));
    assert_non_null(strstr(out.buf, "\r\nAuto-Submitted: auto-generated\r\n"));
    assert_non_null(strstr(out.buf, "\r\nX-Postfix-Sender: rfc822; MAILER-DAEMON\r\n"));
    assert_non_null(strstr(out.buf, "\r\nReturn-Path: <MAILER-DAEMON>\r\n"));
    m.kind = DSN_DELAY;
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "\r\nSubject: Postmaster Warning: Delayed Mail\r\n"));
    strbuf_free(&out);
}

static void notify_filters_recipients(void **state)
{
    (void)state;
    struct dsn_params p = ref_params();
    struct dsn_rcpt r[3] = {bad_rcpt, bad_rcpt, bad_rcpt};
    r[0].address = "never@x.test";
    r[0].notify = DSN_NOTIFY_NEVER;
    r[1].address = "delayonly@x.test";
    r[1].notify = DSN_NOTIFY_DELAY;
    r[2].address = "default@x.test";
    struct dsn_message m = small(r, 3);
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(build(&m, &p, &out), 1);
    assert_null(strstr(out.buf, "never@x.test"));
    assert_null(strstr(out.buf, "delayonly@x.test"));
    assert_non_null(strstr(out.buf, "Final-Recipient: rfc822; default@x.test\r\n"));
    m.kind = DSN_DELAY;
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "Final-Recipient: rfc822; delayonly@x.test\r\n"));
    assert_non_null(strstr(out.buf, "Action: delayed\r\n"));
    /* Nobody asked: no notice at all. */
    m.nrcpt = 1;
    assert_int_equal(build(&m, &p, &out), 0);
    m.nrcpt = 0;
    assert_int_equal(build(&m, &p, &out), 0);
    strbuf_free(&out);
}

static void size_limit_and_ret_choose_headers_only(void **state)
{
    (void)state;
    struct dsn_params p = ref_params();
    struct dsn_message m = small(&bad_rcpt, 1);
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "Content-Description: Undelivered Message\r\n"
                                    "Content-Type: message/rfc822\r\n"));
    /* The body is returned as is: no dot-stuffing here (that is SMTP's). */
    assert_non_null(strstr(out.buf, "\r\n\r\nbody line\r\n.dot line\r\n\r\n--ABC123."));
    p.bounce_size_limit = (long)m.content_size; /* equal still fits */
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "Content-Type: message/rfc822\r\n"));
    p.bounce_size_limit = (long)m.content_size - 1;
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "Content-Description: Undelivered Message Headers\r\n"
                                    "Content-Type: text/rfc822-headers\r\n"));
    assert_null(strstr(out.buf, "body line"));
    assert_non_null(strstr(out.buf, "Subject: hi\r\nFrom: a@b\r\n\r\n--ABC123."));
    p.bounce_size_limit = 50000;
    m.ret = DSN_RET_HDRS;
    assert_int_equal(build(&m, &p, &out), 1);
    assert_null(strstr(out.buf, "body line"));
    m.ret = DSN_RET_FULL;
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "body line"));
    strbuf_free(&out);
}

static void encodings_follow_smtputf8_enable(void **state)
{
    (void)state;
    struct dsn_params p = ref_params();
    struct dsn_message m = small(&bad_rcpt, 1);
    struct strbuf out;
    strbuf_init(&out);
    p.smtputf8_enable = false;
    m.encoding = DSN_ENC_NONE;
    assert_int_equal(build(&m, &p, &out), 1);
    assert_null(strstr(out.buf, "Content-Transfer-Encoding"));
    assert_non_null(strstr(out.buf, "Content-Type: text/plain; charset=us-ascii\r\n\r\n"));
    m.encoding = DSN_ENC_7BIT;
    assert_int_equal(build(&m, &p, &out), 1);
    /* Only the top level says 7bit (the template's encoding). */
    assert_non_null(strstr(out.buf, "\"\r\nContent-Transfer-Encoding: 7bit\r\nMessage-Id"));
    assert_null(strstr(out.buf, "Content-Transfer-Encoding: 8bit"));
    m.encoding = DSN_ENC_8BIT;
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"));
    assert_non_null(strstr(out.buf, "message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n"));
    /* The delivery-status part never gets a CTE without SMTPUTF8. */
    assert_non_null(strstr(out.buf, "message/delivery-status\r\n\r\nReporting-MTA"));
    strbuf_free(&out);
}

static void smtputf8_request_uses_global_types(void **state)
{
    (void)state;
    struct dsn_params p = ref_params();
    struct dsn_rcpt r = bad_rcpt;
    r.address = "j\xc3\xbcrgen@b\xc3\xbc.test";
    r.orcpt = NULL;
    r.orig_addr = "alias@b.test";
    struct dsn_message m = small(&r, 1);
    m.smtputf8 = true;
    m.sender = "s\xc3\xa9@origin.test";
    m.envid = "ENV-42";
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "Content-Type: message/global-delivery-status\r\n"
                                    "Content-Transfer-Encoding: 8bit\r\n"));
    assert_non_null(strstr(out.buf, "Content-Type: message/global\r\n"));
    assert_non_null(strstr(out.buf, "Final-Recipient: utf-8; j\xc3\xbcrgen@b\xc3\xbc.test\r\n"));
    assert_non_null(strstr(out.buf, "Original-Recipient: rfc822; alias@b.test\r\n"));
    assert_non_null(strstr(out.buf, "X-Postfix-Sender: utf-8; s\xc3\xa9@origin.test\r\n"));
    assert_non_null(strstr(out.buf, "Original-Envelope-Id: ENV-42\r\nX-Postfix-Queue-ID"));
    assert_non_null(strstr(out.buf, "\r\n<j\xc3\xbcrgen@b\xc3\xbc.test> (expanded from "
                                    "<alias@b.test>): host"));
    strbuf_free(&out);
}

/* Every line ends in CRLF, no bare CR or LF, and the boundary delimits
 * exactly the three parts. */
static void assert_well_formed(const struct strbuf *out, const char *boundary)
{
    for (size_t i = 0; i < out->len; i++) {
        if (out->buf[i] == '\n')
            assert_true(i > 0 && out->buf[i - 1] == '\r');
        if (out->buf[i] == '\r')
            assert_true(i + 1 < out->len && out->buf[i + 1] == '\n');
    }
    char delim[700], close[700];
    snprintf(delim, sizeof(delim), "\r\n--%s\r\n", boundary);
    snprintf(close, sizeof(close), "\r\n--%s--\r\n", boundary);
    int n = 0;
    for (const char *s = out->buf; (s = strstr(s, delim)) != NULL; s++)
        n++;
    assert_int_equal(n, 3);
    size_t cl = strlen(close);
    assert_true(out->len >= cl && memcmp(out->buf + out->len - cl, close, cl) == 0);
}

static void hostile_reply_text_is_masked_and_wrapped(void **state)
{
    (void)state;
    struct dsn_params p = ref_params();
    struct dsn_rcpt r = bad_rcpt;
    r.reason = "host evil[192.0.2.9] said: 550 5.7.1 no\r\n--ABC123.1795292886/"
               "mx.example.test\r\nContent-Type: text/html\r\n\r\n<script>\x1b[0m\xff";
    r.diag_text = "550 5.7.1 no\r\nX-Injected: yes\n\x7f";
    r.mta_name = "evil\r\nBcc: victim@x.test";
    r.address = "a\r\nb@x.test";
    struct dsn_message m = small(&r, 1);
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(build(&m, &p, &out), 1);
    assert_well_formed(&out, "ABC123.1795292886/mx.example.test");
    assert_null(strstr(out.buf, "\r\nX-Injected"));
    assert_null(strstr(out.buf, "\r\nBcc:"));
    assert_null(strstr(out.buf, "\r\nContent-Type: text/html"));
    assert_non_null(strstr(out.buf, "Remote-MTA: dns; evil??Bcc: victim@x.test\r\n"));
    assert_non_null(strstr(out.buf, "Final-Recipient: rfc822; a??b@x.test\r\n"));
    assert_non_null(strstr(out.buf, "<script>?[0m?"));
    /* A word longer than the line is not broken; following lines are
     * indented by 4. */
    char longword[200];
    memset(longword, 'x', sizeof(longword) - 1);
    longword[sizeof(longword) - 1] = '\0';
    r = bad_rcpt;
    r.diag_text = longword;
    m = small(&r, 1);
    assert_int_equal(build(&m, &p, &out), 1);
    char want[300];
    snprintf(want, sizeof(want), "Diagnostic-Code: smtp;\r\n    %s\r\n", longword);
    assert_non_null(strstr(out.buf, want));
    strbuf_free(&out);
}

static void boundary_clash_gets_suffix(void **state)
{
    (void)state;
    struct dsn_params p = ref_params();
    static const char clash[] = "Subject: x\r\n\r\n--ABC123.1795292886/mx.example.test\r\n"
                                "--ABC123.1795292886/mx.example.test.1--\r\n";
    struct dsn_message m = small(&bad_rcpt, 1);
    m.content = clash;
    m.content_size = sizeof(clash) - 1;
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "boundary=\"ABC123.1795292886/mx.example.test.2\""));
    assert_well_formed(&out, "ABC123.1795292886/mx.example.test.2");
    strbuf_free(&out);
}

struct reader {
    const char *data;
    size_t len, off, chunk;
    int fail_at_call, calls;
};

static ssize_t read_chunks(void *arg, char *buf, size_t len)
{
    struct reader *r = arg;
    if (++r->calls == r->fail_at_call)
        return -EIO;
    size_t n = r->len - r->off;
    if (n > len)
        n = len;
    if (n > r->chunk)
        n = r->chunk;
    memcpy(buf, r->data + r->off, n);
    r->off += n;
    return (ssize_t)n;
}

static void content_reader_and_lf_lines(void **state)
{
    (void)state;
    static const char lf[] = "Subject: lf\nX-Long: a\n continued\n\nbody\nmore\n";
    struct dsn_params p = ref_params();
    struct reader rd = {lf, sizeof(lf) - 1, 0, 3, 0, 0};
    struct dsn_message m = small(&bad_rcpt, 1);
    m.content = NULL;
    m.content_size = sizeof(lf) - 1;
    m.read = read_chunks;
    m.read_arg = &rd;
    struct strbuf out;
    strbuf_init(&out);
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "Return-Path: <s@origin.test>\r\nSubject: lf\r\n"
                                    "X-Long: a\r\n continued\r\n\r\nbody\r\nmore\r\n\r\n--"));
    /* Headers only through the reader: stops at the blank line. */
    rd = (struct reader){lf, sizeof(lf) - 1, 0, 1000, 0, 0};
    m.ret = DSN_RET_HDRS;
    assert_int_equal(build(&m, &p, &out), 1);
    assert_non_null(strstr(out.buf, "X-Long: a\r\n continued\r\n\r\n--ABC123"));
    assert_null(strstr(out.buf, "body"));
    /* A read error is the caller's error. */
    rd = (struct reader){lf, sizeof(lf) - 1, 0, 3, 2, 0};
    m.ret = DSN_RET_FULL;
    assert_int_equal(build(&m, &p, &out), -EIO);
    strbuf_free(&out);
}

static void missing_fields_are_einval(void **state)
{
    (void)state;
    struct dsn_params p = ref_params();
    struct dsn_message m = small(&bad_rcpt, 1);
    struct strbuf out;
    strbuf_init(&out);
    m.queue_id = NULL;
    assert_int_equal(build(&m, &p, &out), -EINVAL);
    m = small(&bad_rcpt, 1);
    m.sender = NULL;
    assert_int_equal(build(&m, &p, &out), -EINVAL);
    m = small(&bad_rcpt, 1);
    m.content = NULL;
    assert_int_equal(build(&m, &p, &out), -EINVAL);
    struct dsn_rcpt r = bad_rcpt;
    r.reason = NULL;
    m = small(&r, 1);
    assert_int_equal(build(&m, &p, &out), -EINVAL);
    m = small(&bad_rcpt, 1);
    p.myhostname = "";
    assert_int_equal(build(&m, &p, &out), -EINVAL);
    strbuf_free(&out);
}

/* ---- helpers --------------------------------------------------------------- */

static void quote_822_local_table(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } t[] = {
        {"plain@x.test", "plain@x.test"},
        {"a.b-c+d@x.test", "a.b-c+d@x.test"},
        {"a b@x.test", "\"a b\"@x.test"},
        {"a..b@x.test", "\"a..b\"@x.test"},
        {".a@x.test", "\".a\"@x.test"},
        {"a.@x.test", "\"a.\"@x.test"},
        {"a\"b@x.test", "\"a\\\"b\"@x.test"},
        {"a\\b@x.test", "\"a\\\\b\"@x.test"},
        {"a@b@x.test", "\"a@b\"@x.test"},
        {"(c)@x.test", "\"(c)\"@x.test"},
        {"postmaster", "postmaster"},
        {"", "\"\""},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct strbuf sb;
        strbuf_init(&sb);
        dsn_quote_822_local(t[i].in, &sb);
        assert_string_equal(strbuf_cstr(&sb), t[i].out);
        strbuf_free(&sb);
    }
}

static void line_wrap_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int width, indent;
        const char *out;
    } t[] = {
        {"", 79, 4, "\r\n"},
        {"short line", 79, 4, "short line\r\n"},
        {"aaa bbb ccc ddd", 7, 2, "aaa bbb\r\n  ccc\r\n  ddd\r\n"},
        {"aaa    bbb", 5, 0, "aaa\r\nbbb\r\n"},
        {"trailing   ", 79, 4, "trailing\r\n"},
        {"xxxxxxxxxxxx yy", 5, 1, "xxxxxxxxxxxx\r\n yy\r\n"},
        {"a\tb", 2, 0, "a\r\nb\r\n"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct strbuf sb;
        strbuf_init(&sb);
        dsn_line_wrap(t[i].in, strlen(t[i].in), t[i].width, t[i].indent, &sb);
        assert_string_equal(strbuf_cstr(&sb), t[i].out);
        strbuf_free(&sb);
    }
}

static void printable_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool utf8;
        const char *out;
    } t[] = {
        {"abc", false, "abc"},
        {"a\tb\r\nc\x7f", true, "a?b??c?"},
        {"j\xc3\xbcrgen", false, "j??rgen"},
        {"j\xc3\xbcrgen", true, "j\xc3\xbcrgen"},
        {"bad\xc3", true, "bad?"},
        {"overlong\xc0\xaf", true, "overlong??"},
        {"surrogate\xed\xa0\x80", true, "surrogate???"},
        {"emoji\xf0\x9f\x98\x80", true, "emoji\xf0\x9f\x98\x80"},
        {"toobig\xf4\x90\x80\x80", true, "toobig????"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s", t[i].in);
        dsn_printable(buf, t[i].utf8);
        assert_string_equal(buf, t[i].out);
    }
}

static void is_header_and_date(void **state)
{
    (void)state;
    assert_int_equal(dsn_is_header("Subject: x", 10), 7);
    assert_int_equal(dsn_is_header("Subject : x", 11), 7);
    assert_int_equal(dsn_is_header("Subject", 7), 0);
    assert_int_equal(dsn_is_header(": x", 3), 0);
    assert_int_equal(dsn_is_header(" cont: x", 8), 0);
    assert_int_equal(dsn_is_header("Bad Name: x", 11), 0);
    assert_int_equal(dsn_is_header("", 0), 0);
    char d[80];
    assert_int_equal(dsn_mail_date(1704067200, d, sizeof(d)), 0);
    assert_string_equal(d, "Mon,  1 Jan 2024 00:00:00 +0000 (UTC)");
    assert_int_equal(dsn_mail_date(T0, d, sizeof(d)), 0);
    assert_string_equal(d, "Sat, 21 Nov 2026 20:27:06 +0000 (UTC)");
    assert_int_equal(dsn_mail_date(T0, d, 10), -ENOSPC);
}

/* ---- parsed back by Python's email package ----------------------------------- */

static const char py_check[] =
    "import email, email.policy, sys\n"
    "m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.compat32)\n"
    "assert m.get_content_type() == 'multipart/report', m.get_content_type()\n"
    "assert m.get_param('report-type') == 'delivery-status'\n"
    "parts = m.get_payload()\n"
    "assert [p.get_content_type() for p in parts] == ['text/plain', "
    "'message/delivery-status', sys.argv[2]], [p.get_content_type() for p in parts]\n"
    "assert not m.defects and all(not p.defects for p in parts)\n"
    "ds = parts[1].get_payload()\n"
    "assert ds[0]['Reporting-MTA'] == 'dns; mx.example.test'\n"
    "assert ds[0]['X-Postfix-Queue-ID'] == 'ABC123'\n"
    "assert ds[0]['Arrival-Date'].startswith('Sat, 21 Nov 2026 20:27:06')\n"
    "rcpts = ds[1:]\n"
    "assert [r['Final-Recipient'] for r in rcpts] == ['rfc822; one@x.test', "
    "'rfc822; two@x.test'], [r['Final-Recipient'] for r in rcpts]\n"
    "assert [r['Action'] for r in rcpts] == ['failed', 'failed']\n"
    "assert [r['Status'] for r in rcpts] == ['5.1.1', '5.2.2']\n"
    "assert rcpts[0]['Remote-MTA'] == 'dns; mx1.x.test'\n"
    "d = ' '.join(rcpts[1]['Diagnostic-Code'].split())\n"
    "assert d == 'smtp; 552 5.2.2 ' + 'mailbox full ' * 9 + 'really', d\n"
    "assert rcpts[1]['Original-Recipient'] == 'rfc822;Two@x.test'\n"
    "assert 'Remote-MTA' not in rcpts[1]\n"
    "orig = parts[2].get_payload()\n"
    "if sys.argv[2] == 'message/rfc822':\n"
    "    assert orig[0]['Subject'] == 'hi' and orig[0].get_payload().replace('\\r\\n', '\\n') == 'body line\\n.dot line\\n', repr(orig[0].get_payload())\n"
    "else:\n"
    "    assert 'Subject: hi' in orig and 'body' not in orig\n"
    "print('ok')\n";

static void python_parses_the_report(void **state)
{
    (void)state;
    if (system("python3 -c 'import email' >/dev/null 2>&1") != 0)
        skip();
    struct dsn_rcpt r[2] = {bad_rcpt, bad_rcpt};
    r[0].address = "one@x.test";
    r[0].orcpt = NULL;
    r[0].mta_name = "mx1.x.test";
    r[1].address = "two@x.test";
    r[1].orcpt = "rfc822;Two@x.test";
    r[1].status = "5.2.2";
    r[1].mta_type = NULL;
    r[1].diag_text = "552 5.2.2 mailbox full mailbox full mailbox full mailbox full mailbox "
                     "full mailbox full mailbox full mailbox full mailbox full really";
    struct dsn_params p = ref_params();
    for (int hdrs = 0; hdrs < 2; hdrs++) {
        struct dsn_message m = small(r, 2);
        m.ret = hdrs ? DSN_RET_HDRS : DSN_RET_DEFAULT;
        struct strbuf out;
        strbuf_init(&out);
        assert_int_equal(build(&m, &p, &out), 1);
        char path[] = "/tmp/test_dsn_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, out.buf, out.len), (ssize_t)out.len);
        close(fd);
        char script[] = "/tmp/test_dsn_py_XXXXXX";
        fd = mkstemp(script);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, py_check, sizeof(py_check) - 1), (ssize_t)sizeof(py_check) - 1);
        close(fd);
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "python3 %s %s %s", script, path,
                 hdrs ? "text/rfc822-headers" : "message/rfc822");
        int st = system(cmd);
        unlink(path);
        unlink(script);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        strbuf_free(&out);
    }
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failure_headers_only_like_postfix),
        cmocka_unit_test(delay_warning_like_postfix),
        cmocka_unit_test(failure_full_8bit_like_postfix),
        cmocka_unit_test(failure_orcpt_like_postfix),
        cmocka_unit_test(success_relayed_like_postfix),
        cmocka_unit_test(null_sender_is_never_notified),
        cmocka_unit_test(notify_filters_recipients),
        cmocka_unit_test(size_limit_and_ret_choose_headers_only),
        cmocka_unit_test(encodings_follow_smtputf8_enable),
        cmocka_unit_test(smtputf8_request_uses_global_types),
        cmocka_unit_test(hostile_reply_text_is_masked_and_wrapped),
        cmocka_unit_test(boundary_clash_gets_suffix),
        cmocka_unit_test(content_reader_and_lf_lines),
        cmocka_unit_test(missing_fields_are_einval),
        cmocka_unit_test(quote_822_local_table),
        cmocka_unit_test(line_wrap_table),
        cmocka_unit_test(printable_table),
        cmocka_unit_test(is_header_and_date),
        cmocka_unit_test(python_parses_the_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
