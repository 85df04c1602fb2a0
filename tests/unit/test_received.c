/* test_received.c - received_format()/received_date(): Postfix 3.7's forms
 * (expected texts are copies of headers a real Postfix 3.7 wrote, see
 * tests/peer/postfix_format.py) and inputs that try to break out of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "received.h"

#define T_NOV21 ((time_t)1795286183) /* Sat 2026-11-21 18:36:23 UTC */
#define T_MAR01 ((time_t)1772355907) /* Sun 2026-03-01 09:05:07 UTC */

static const struct received_tls tls13 = {
    .protocol = "TLSv1.3", .cipher_name = "TLS_AES_256_GCM_SHA384",
    .cipher_usebits = 256, .cipher_algbits = 256,
    .kex_name = "X25519", .srvr_sig_name = "RSA-PSS", .srvr_sig_bits = 2048,
    .srvr_sig_dgst = "SHA256",
};

static const struct received_tls tls12_cert = {
    .protocol = "TLSv1.2", .cipher_name = "ECDHE-RSA-AES128-GCM-SHA256",
    .cipher_usebits = 128, .cipher_algbits = 128,
    .kex_name = "ECDHE", .kex_curve = "prime256v1",
    .clnt_sig_name = "ECDSA", .clnt_sig_curve = "prime256v1", .clnt_sig_dgst = "SHA256",
    .peer_cn = "client (x", .issuer_cn = "CA\\)", .peer_trusted = 0,
};

static const struct received_tls tls_ask = {
    .protocol = "TLSv1.3", .cipher_name = "TLS_AES_128_GCM_SHA256",
    .cipher_usebits = 128, .cipher_algbits = 128, .ask_ccert = 1,
};

struct rcase {
    const char *what;
    struct received_info ri;
    const char *expect;
};

#define BASE .myhostname = "mx.test", .mail_name = "Postfix", .queue_id = "6294AA74208"

static const struct rcase cases[] = {
    {"one recipient, EHLO (captured)",
     {.helo = "client.example", .name = "localhost", .addr = "127.0.0.1", .protocol = "ESMTP",
      .recipient = "u@example.org", .rcpt_count = 1, .arrival = T_NOV21, BASE},
     "Received: from client.example (localhost [127.0.0.1])\r\n"
     "\tby mx.test (Postfix) with ESMTP id 6294AA74208\r\n"
     "\tfor <u@example.org>; Sat, 21 Nov 2026 18:36:23 +0000 (UTC)"},
    {"unknown IPv6 client (captured)",
     {.helo = "h", .name = "unknown", .addr = "2001:db8::5", .protocol = "ESMTP",
      .recipient = "u@example.org", .rcpt_count = 1, .arrival = T_NOV21, BASE},
     "Received: from h (unknown [IPv6:2001:db8::5])\r\n"
     "\tby mx.test (Postfix) with ESMTP id 6294AA74208\r\n"
     "\tfor <u@example.org>; Sat, 21 Nov 2026 18:36:23 +0000 (UTC)"},
    {"no HELO: the name stands in, single-digit day padded",
     {.name = "mail.example", .addr = "192.0.2.1", .protocol = "SMTP",
      .recipient = "u@example.org", .rcpt_count = 1, .arrival = T_MAR01, BASE},
     "Received: from mail.example (mail.example [192.0.2.1])\r\n"
     "\tby mx.test (Postfix) with SMTP id 6294AA74208\r\n"
     "\tfor <u@example.org>; Sun,  1 Mar 2026 09:05:07 +0000 (UTC)"},
    {"quoted local part (captured)",
     {.helo = "x", .name = "localhost", .addr = "127.0.0.1", .protocol = "SMTP",
      .recipient = "c d@example.org", .rcpt_count = 1, .arrival = T_NOV21, BASE},
     "Received: from x (localhost [127.0.0.1])\r\n"
     "\tby mx.test (Postfix) with SMTP id 6294AA74208\r\n"
     "\tfor <\"c d\"@example.org>; Sat, 21 Nov 2026 18:36:23 +0000 (UTC)"},
    {"TLS 1.3, two recipients (captured)",
     {.helo = "tls.example", .name = "localhost", .addr = "127.0.0.1", .protocol = "ESMTPS",
      .recipient = "a@example.org", .rcpt_count = 2, .tls = &tls13, .arrival = T_NOV21, BASE},
     "Received: from tls.example (localhost [127.0.0.1])\r\n"
     "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n"
     "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n"
     "\t(No client certificate requested)\r\n"
     "\tby mx.test (Postfix) with ESMTPS id 6294AA74208;\r\n"
     "\tSat, 21 Nov 2026 18:36:23 +0000 (UTC)"},
    {"TLS 1.2 client certificate, names sanitized as comments",
     {.helo = "c", .name = "c.example", .addr = "192.0.2.9", .protocol = "ESMTPS",
      .recipient = "a@example.org", .rcpt_count = 1, .tls = &tls12_cert, .arrival = T_NOV21,
      BASE},
     "Received: from c (c.example [192.0.2.9])\r\n"
     "\t(using TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)\r\n"
     "\t key-exchange ECDHE (prime256v1) client-signature ECDSA (prime256v1)"
     " client-digest SHA256)\r\n"
     "\t(Client CN \"client (x)\", Issuer \"CA??\" (not verified))\r\n"
     "\tby mx.test (Postfix) with ESMTPS id 6294AA74208\r\n"
     "\tfor <a@example.org>; Sat, 21 Nov 2026 18:36:23 +0000 (UTC)"},
    {"TLS without kex details, certificate asked",
     {.helo = "c", .name = "c.example", .addr = "192.0.2.9", .protocol = "ESMTPS",
      .rcpt_count = 0, .tls = &tls_ask, .arrival = T_NOV21, BASE},
     "Received: from c (c.example [192.0.2.9])\r\n"
     "\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits))\r\n"
     "\t(Client did not present a certificate)\r\n"
     "\tby mx.test (Postfix) with ESMTPS id 6294AA74208;\r\n"
     "\tSat, 21 Nov 2026 18:36:23 +0000 (UTC)"},
    {"CR/LF/control bytes in every field stay on their line",
     {.helo = "evil\r\nX-Injected: 1", .name = "n\n", .addr = "1.2.3.4\r",
      .protocol = "ESMTP\n", .recipient = "a\r\nBcc: x@y", .rcpt_count = 1,
      .arrival = T_NOV21, .myhostname = "mx\t.test", .mail_name = "P\x7f",
      .queue_id = "Q\n"},
     "Received: from evil??X-Injected: 1 (n? [1.2.3.4?])\r\n"
     "\tby mx?.test (P?) with ESMTP? id Q?\r\n"
     "\tfor <\"a\\??Bcc: x\"@y>; Sat, 21 Nov 2026 18:36:23 +0000 (UTC)"},
    {"UTF-8 HELO kept, Latin-1 byte replaced",
     {.helo = "h\xc3\xa9llo.\xe9x", .name = "unknown", .addr = "192.0.2.1",
      .protocol = "ESMTP", .rcpt_count = 3, .arrival = T_NOV21, BASE},
     "Received: from h\xc3\xa9llo.?x (unknown [192.0.2.1])\r\n"
     "\tby mx.test (Postfix) with ESMTP id 6294AA74208;\r\n"
     "\tSat, 21 Nov 2026 18:36:23 +0000 (UTC)"},
};

static void forms_match_postfix(void **state)
{
    (void)state;
    char buf[2048];
    size_t len;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = received_format(&cases[i].ri, "\r\n", buf, sizeof(buf), &len);
        if (r != 0 || strcmp(buf, cases[i].expect) != 0)
            fail_msg("case '%s': r=%d\n got: %s\nwant: %s", cases[i].what, r, buf,
                     cases[i].expect);
        assert_int_equal(len, strlen(buf));
    }
}

/* Whatever the inputs, the only line breaks are the ones we put there,
 * each followed by a TAB: no input can start a new header. */
static void no_input_adds_a_header_line(void **state)
{
    (void)state;
    char buf[4096];
    char junk[256];
    unsigned seed = 12345;

    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < sizeof(junk) - 1; i++) {
            seed = seed * 1103515245u + 12345u;
            junk[i] = (char)((seed >> 16) % 255 + 1);
        }
        junk[sizeof(junk) - 1] = 0;
        struct received_info ri = {.helo = junk, .name = junk + 10, .addr = junk + 20,
                                   .protocol = junk + 30, .recipient = junk + 40,
                                   .rcpt_count = 1, .arrival = T_NOV21, .tls = &tls12_cert,
                                   .myhostname = junk + 50, .mail_name = junk, .queue_id = junk};
        assert_int_equal(received_format(&ri, "\n", buf, sizeof(buf), NULL), 0);
        for (char *p = buf; (p = strpbrk(p, "\r\n")) != NULL; p++) {
            assert_int_equal(p[0], '\n');
            assert_int_equal(p[1], '\t');
        }
        for (unsigned char *p = (unsigned char *)buf; *p; p++)
            assert_true(*p >= 0x20 || *p == '\n' || *p == '\t');
    }
}

static void long_helo_and_small_buffers(void **state)
{
    (void)state;
    static char helo[5000];
    static char buf[6000];
    struct received_info ri = cases[0].ri;
    size_t full;

    memset(helo, 'a', sizeof(helo) - 1);
    ri.helo = helo;
    assert_int_equal(received_format(&ri, "\n", buf, sizeof(buf), &full), 0);
    assert_int_equal(strncmp(buf + 15, helo, sizeof(helo) - 1), 0);
    /* Every size short of the full length fails cleanly. */
    ri = cases[4].ri;
    assert_int_equal(received_format(&ri, "\n", buf, sizeof(buf), &full), 0);
    for (size_t sz = 1; sz <= full; sz++) {
        assert_int_equal(received_format(&ri, "\n", buf, sz, NULL), -ENOSPC);
        assert_string_equal(buf, "");
    }
    assert_int_equal(received_format(&ri, "\n", buf, full + 1, NULL), 0);
}

static void missing_fields_are_einval(void **state)
{
    (void)state;
    char buf[512];
    struct received_info ri = cases[0].ri;

    ri.name = NULL;
    assert_int_equal(received_format(&ri, "\n", buf, sizeof(buf), NULL), -EINVAL);
    ri = cases[0].ri;
    ri.protocol = NULL;
    assert_int_equal(received_format(&ri, "\n", buf, sizeof(buf), NULL), -EINVAL);
    assert_int_equal(received_format(NULL, "\n", buf, sizeof(buf), NULL), -EINVAL);
    assert_int_equal(received_format(&cases[0].ri, NULL, buf, sizeof(buf), NULL), -EINVAL);
}

static void dates_in_other_zones(void **state)
{
    (void)state;
    static const struct {
        const char *tz;
        time_t t;
        const char *expect;
    } dates[] = {
        {"UTC", T_MAR01, "Sun,  1 Mar 2026 09:05:07 +0000 (UTC)"},
        {"Europe/Berlin", T_NOV21, "Sat, 21 Nov 2026 19:36:23 +0100 (CET)"},
        {"America/St_Johns", T_NOV21, "Sat, 21 Nov 2026 15:06:23 -0330 (NST)"},
        {"Asia/Kolkata", T_MAR01, "Sun,  1 Mar 2026 14:35:07 +0530 (IST)"},
    };
    char buf[80];

    for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        setenv("TZ", dates[i].tz, 1);
        tzset();
        assert_int_equal(received_date(dates[i].t, buf, sizeof(buf)), 0);
        assert_string_equal(buf, dates[i].expect);
    }
    assert_int_equal(received_date(T_NOV21, buf, 10), -ENOSPC);
    setenv("TZ", "UTC", 1);
    tzset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forms_match_postfix),
        cmocka_unit_test(no_input_adds_a_header_line),
        cmocka_unit_test(long_helo_and_small_buffers),
        cmocka_unit_test(missing_fields_are_einval),
        cmocka_unit_test(dates_in_other_zones),
    };
    setenv("TZ", "UTC", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
