/*
 * test_sasl_client.c - workers/sasl_client.c: base64 (strict decode), the
 * option and filter words, the password value, and the AUTH exchange
 * against hostile server replies.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sasl_client.h"

static void test_b64_roundtrip(void **state)
{
    (void)state;
    static const struct {
        const char *raw, *enc;
    } t[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
        {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char out[64], raw[64];
        size_t n;
        assert_int_equal(sasl_b64_encode(t[i].raw, strlen(t[i].raw), out, sizeof(out), &n), 0);
        assert_string_equal(out, t[i].enc);
        assert_int_equal(sasl_b64_decode(t[i].enc, strlen(t[i].enc), raw, sizeof(raw), &n), 0);
        assert_int_equal(n, strlen(t[i].raw));
        assert_memory_equal(raw, t[i].raw, n);
    }
    char small[4];
    size_t n;
    assert_int_equal(sasl_b64_encode("foo", 3, small, sizeof(small), &n), -ENOSPC);
    assert_int_equal(sasl_b64_decode("Zm9vYmFy", 8, small, 5, &n), -ENOSPC);
}

static void test_b64_decode_nasty(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg",        /* not a multiple of 4 */
        "Zg=",       /* same */
        "Z===",      /* too much padding */
        "====",      /* padding only */
        "Zg==Zg==",  /* padding in the middle */
        "Zm=v",      /* data after padding */
        "Zh==",      /* non-canonical: leftover bits */
        "Zm9=",      /* the same with one pad */
        "Zm9v ",     /* whitespace */
        "Zm 9",      /* inner whitespace */
        "Zm9-",      /* URL alphabet */
        "Zm9\x80",   /* high byte */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[16];
        size_t n = 99;
        assert_int_equal(sasl_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n), -EINVAL);
    }
    /* An embedded NUL in the input is just a bad character. */
    char out[16];
    size_t n;
    assert_int_equal(sasl_b64_decode("Zm\0v", 4, out, sizeof(out), &n), -EINVAL);
}

static void test_options(void **state)
{
    (void)state;
    unsigned f;
    char err[128];
    assert_int_equal(sasl_options_parse("", 0, &f, err, sizeof(err)), 0);
    assert_int_equal(f, 0);
    const char *s = "noplaintext, noanonymous";
    assert_int_equal(sasl_options_parse(s, strlen(s), &f, err, sizeof(err)), 0);
    assert_int_equal(f, SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS);
    s = " NoAnonymous,,\tmutual_auth ";
    assert_int_equal(sasl_options_parse(s, strlen(s), &f, err, sizeof(err)), 0);
    assert_int_equal(f, SASL_SEC_NOANONYMOUS | SASL_SEC_MUTUAL_AUTH);
    s = "noanonymous noplain";
    assert_int_equal(sasl_options_parse(s, strlen(s), &f, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "noplain"));
}

static void test_filter_and_usable(void **state)
{
    (void)state;
    unsigned m;
    char err[64];
    assert_int_equal(sasl_filter_parse("", 0, &m, err, sizeof(err)), 0);
    assert_int_equal(m, SASL_MECH_ALL);
    assert_int_equal(sasl_filter_parse("login", 5, &m, err, sizeof(err)), 0);
    assert_int_equal(m, SASL_MECH_LOGIN);
    assert_int_equal(sasl_filter_parse("cram-md5", 8, &m, err, sizeof(err)), 0);
    assert_int_equal(m, 0);
    assert_int_equal(sasl_filter_parse("!plain", 6, &m, err, sizeof(err)), 0);
    assert_int_equal(m, 0);
    assert_int_equal(sasl_filter_parse("!plain plain login", 18, &m, err, sizeof(err)), 0);
    assert_int_equal(m, SASL_MECH_LOGIN);

    /* noanonymous allows both; every other option refuses both. */
    assert_int_equal(sasl_mechs_usable(SASL_MECH_ALL, SASL_MECH_ALL, SASL_SEC_NOANONYMOUS),
                     SASL_MECH_ALL);
    assert_int_equal(sasl_mechs_usable(SASL_MECH_ALL, SASL_MECH_ALL,
                                       SASL_SEC_NOANONYMOUS | SASL_SEC_NOPLAINTEXT),
                     0);
    assert_int_equal(sasl_mechs_usable(SASL_MECH_ALL, SASL_MECH_ALL, SASL_SEC_NODICTIONARY), 0);
    assert_int_equal(sasl_mechs_usable(SASL_MECH_LOGIN | 0x10, SASL_MECH_ALL, 0),
                     SASL_MECH_LOGIN);
    assert_int_equal(sasl_mech_pick(SASL_MECH_ALL), SASL_MECH_PLAIN);
    assert_int_equal(sasl_mech_pick(SASL_MECH_LOGIN), SASL_MECH_LOGIN);
    assert_int_equal(sasl_mech_pick(0), SASL_MECH_NONE);
}

static void test_passwd(void **state)
{
    (void)state;
    char u[SASL_CRED_MAX], p[SASL_CRED_MAX];
    const char *v = "user@example.org:pa:ss";
    assert_int_equal(sasl_passwd_parse(v, strlen(v), u, p), 0);
    assert_string_equal(u, "user@example.org");
    assert_string_equal(p, "pa:ss");
    assert_int_equal(sasl_passwd_parse("user", 4, u, p), 0);
    assert_string_equal(p, "");
    assert_int_equal(sasl_passwd_parse("user:", 5, u, p), 0);
    assert_string_equal(p, "");
    assert_int_equal(sasl_passwd_parse(":pw", 3, u, p), -EINVAL);
    assert_int_equal(sasl_passwd_parse("", 0, u, p), -EINVAL);
    assert_int_equal(sasl_passwd_parse("us\0er:pw", 8, u, p), -EINVAL);
    char big[600];
    memset(big, 'a', sizeof(big));
    big[10] = ':';
    assert_int_equal(sasl_passwd_parse(big, sizeof(big), u, p), -EINVAL);
}

#define R(s) (s), strlen(s)

static void test_plain(void **state)
{
    (void)state;
    struct sasl_client s;
    char out[SASL_LINE_MAX];
    size_t n;
    assert_int_equal(sasl_client_start(&s, SASL_MECH_PLAIN, "tim", "tanstaaftanstaaf",
                                       "h[1.2.3.4]", out, &n),
                     0);
    /* RFC 4616's example, without authzid. */
    assert_string_equal(out, "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    assert_int_equal(n, strlen(out));
    assert_int_equal(sasl_client_step(&s, R("235 2.7.0 Authentication successful\r\n"), 235, out,
                                      &n),
                     SASL_STEP_DONE);

    /* A 334 after PLAIN's initial response: a loop, stop. */
    sasl_client_start(&s, SASL_MECH_PLAIN, "u", "p", "h[a]", out, &n);
    assert_int_equal(sasl_client_step(&s, R("334 \r\n"), 334, out, &n), SASL_STEP_FAILED);
    assert_string_equal(s.dsn, "4.7.0");
    assert_non_null(strstr(s.why, "cannot authenticate to server h[a]"));

    /* 535: soft bounce (5 -> 4), the reply in the reason. */
    sasl_client_start(&s, SASL_MECH_PLAIN, "u", "p", "h[a]", out, &n);
    assert_int_equal(sasl_client_step(&s, R("535-5.7.8 Bad\r\n535 5.7.8 credentials\r\n"), 535,
                                      out, &n),
                     SASL_STEP_FAILED);
    assert_string_equal(s.dsn, "4.7.8");
    assert_string_equal(s.why,
                        "SASL authentication failed; server h[a] said: 535-5.7.8 Bad 535 5.7.8 "
                        "credentials");
    /* No enhanced code, an odd one, or one of the wrong class. */
    sasl_client_start(&s, SASL_MECH_PLAIN, "u", "p", "h[a]", out, &n);
    assert_int_equal(sasl_client_step(&s, R("535 nope\r\n"), 535, out, &n), SASL_STEP_FAILED);
    assert_string_equal(s.dsn, "4.7.0");
    sasl_client_start(&s, SASL_MECH_PLAIN, "u", "p", "h[a]", out, &n);
    assert_int_equal(sasl_client_step(&s, R("454 5.7.0 x\r\n"), 454, out, &n), SASL_STEP_FAILED);
    assert_string_equal(s.dsn, "4.7.0");
    assert_int_equal(s.code, 454);
    /* A 250 is no 235. Control bytes in the reason are made printable. */
    sasl_client_start(&s, SASL_MECH_PLAIN, "u", "p", "h[a]", out, &n);
    assert_int_equal(sasl_client_step(&s, R("250 ok\x01\r\n"), 250, out, &n), SASL_STEP_FAILED);
    assert_int_equal(s.code, 451);
    assert_non_null(strstr(s.why, "250 ok?"));
    /* The longest credentials still fit one line; longer ones are refused. */
    char big[SASL_CRED_MAX + 1];
    memset(big, 'x', sizeof(big) - 1);
    big[SASL_CRED_MAX - 1] = 0;
    assert_int_equal(sasl_client_start(&s, SASL_MECH_PLAIN, big, big, "h", out, &n), 0);
    assert_true(n < SASL_LINE_MAX && out[n - 2] == '\r' && out[n - 1] == '\n');
    big[SASL_CRED_MAX - 1] = 'x';
    big[SASL_CRED_MAX] = 0;
    assert_int_equal(sasl_client_start(&s, SASL_MECH_PLAIN, big, "p", "h", out, &n), -ENOSPC);
    assert_int_equal(sasl_client_start(&s, SASL_MECH_NONE, "u", "p", "h", out, &n), -EINVAL);
}

static void test_login(void **state)
{
    (void)state;
    struct sasl_client s;
    char out[SASL_LINE_MAX];
    size_t n;
    assert_int_equal(sasl_client_start(&s, SASL_MECH_LOGIN, "user", "pass", "h[a]", out, &n), 0);
    assert_string_equal(out, "AUTH LOGIN\r\n");
    assert_int_equal(sasl_client_step(&s, R("334 VXNlcm5hbWU6\r\n"), 334, out, &n), SASL_STEP_SEND);
    assert_string_equal(out, "dXNlcg==\r\n");
    /* The prompt text does not matter (Cyrus sends by step), a bare LF
     * line end is fine. */
    assert_int_equal(sasl_client_step(&s, R("334 VXNlcm5hbWU6\n"), 334, out, &n), SASL_STEP_SEND);
    assert_string_equal(out, "cGFzcw==\r\n");
    assert_int_equal(sasl_client_step(&s, R("334 UGFzc3dvcmQ6\r\n"), 334, out, &n),
                     SASL_STEP_FAILED);
    assert_non_null(strstr(s.why, "authentication protocol loop"));

    static const char *const malformed[] = {
        "334 not base64!\r\n", "334 VXNlcm5hbWU\r\n", "334-VXNlcm5hbWU6\r\n334 x\r\n",
        "334VXNlcm5hbWU6\r\n", "334 VXNl cm5h\r\n",
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        sasl_client_start(&s, SASL_MECH_LOGIN, "user", "pass", "h[a]", out, &n);
        assert_int_equal(sasl_client_step(&s, R(malformed[i]), 334, out, &n), SASL_STEP_FAILED);
        assert_string_equal(s.why, "SASL authentication failed; cannot authenticate to server "
                                   "h[a]: malformed SASL challenge from server");
    }
    /* An empty challenge is valid base64 (zero bytes). */
    sasl_client_start(&s, SASL_MECH_LOGIN, "user", "pass", "h[a]", out, &n);
    assert_int_equal(sasl_client_step(&s, R("334 \r\n"), 334, out, &n), SASL_STEP_SEND);
    /* The wipe. */
    sasl_client_clear(&s);
    assert_int_equal(s.user[0] | s.pass[0], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_roundtrip), cmocka_unit_test(test_b64_decode_nasty),
        cmocka_unit_test(test_options),       cmocka_unit_test(test_filter_and_usable),
        cmocka_unit_test(test_passwd),        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_login),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
