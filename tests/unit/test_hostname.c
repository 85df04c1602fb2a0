/*
 * test_hostname.c - host name/address verdicts, each as Postfix 3.7 gives it.
 *
 * Every row was checked against the installed Postfix 3.7.11: the
 * validator rows against libpostfix-util/-global (valid_hostname & co.,
 * called through dlopen), the HELO rows against smtpd's replies with
 * reject_invalid_helo_hostname / reject_non_fqdn_helo_hostname.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "hostname.h"

#define UTF8_NAME "ex\xc3\xa4mple.com"
#define A63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define L63 A63 "."

struct vcase {
    const char *in;
    int name, addr, ipv4, ipv6, port, literal, mailhost;
};

static void validators_table(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        /* in                      name addr v4 v6 port lit mh */
        {"", 0, 0, 0, 0, 0, 0, 0},
        {"a", 1, 0, 0, 0, 0, 0, 0},
        {"a.b", 1, 0, 0, 0, 0, 0, 0},
        {"a.", 0, 0, 0, 0, 0, 0, 0},       /* trailing dot: misplaced delimiter */
        {".a", 0, 0, 0, 0, 0, 0, 0},
        {"a..b", 0, 0, 0, 0, 0, 0, 0},     /* empty label */
        {"-a.com", 0, 0, 0, 0, 0, 0, 0},
        {"a-.com", 0, 0, 0, 0, 0, 0, 0},
        {"a-b.com", 1, 0, 0, 0, 0, 0, 0},
        {"a_b.com", 1, 0, 0, 0, 0, 0, 0},  /* underscore allowed ("grr..") */
        {"_", 1, 0, 0, 0, 0, 0, 0},
        {"123", 0, 0, 0, 0, 1, 0, 0},      /* all-numeric name */
        {"1-2.3", 1, 0, 0, 0, 0, 0, 0},    /* hyphen counts as non-numeric */
        {"1.2.3.4", 0, 1, 1, 0, 0, 0, 1},
        {"0.0.0.0", 0, 1, 1, 0, 0, 0, 1},
        {"0.1.2.3", 0, 0, 0, 0, 0, 0, 0},  /* bad initial octet */
        {"01.2.3.4", 0, 1, 1, 0, 0, 0, 1}, /* leading zero is fine */
        {"256.1.1.1", 0, 0, 0, 0, 0, 0, 0},
        {"1.2.3", 0, 0, 0, 0, 0, 0, 0},
        {"1.2.3.4.", 0, 0, 0, 0, 0, 0, 0},
        {"::1", 0, 1, 0, 1, 0, 0, 0},
        {"::", 0, 1, 0, 1, 0, 0, 0},
        {":1", 0, 0, 0, 0, 0, 0, 0},
        {"1::2::3", 0, 0, 0, 0, 0, 0, 0},
        {"1:2:3:4:5:6:7:8", 0, 1, 0, 1, 0, 0, 0},
        {"1:2:3:4:5:6:7:8:9", 0, 0, 0, 0, 0, 0, 0},
        {"::ffff:1.2.3.4", 0, 1, 0, 1, 0, 0, 0},
        {"1:2:3:4:5:6:7:1.2.3.4", 0, 0, 0, 0, 0, 0, 0},
        {"12345::", 0, 0, 0, 0, 0, 0, 0},
        {"IPv6:::1", 0, 0, 0, 0, 0, 0, 1},
        {"ipv6:::1", 0, 0, 0, 0, 0, 0, 1},
        {"IPv6:1.2.3.4", 0, 0, 0, 0, 0, 0, 0},
        {"[1.2.3.4]", 0, 0, 0, 0, 0, 1, 0},
        {"[IPv6:::1]", 0, 0, 0, 0, 0, 1, 0},
        {"[IPv6:1.2.3.4]", 0, 0, 0, 0, 0, 0, 0},
        {"[::1]", 0, 0, 0, 0, 0, 0, 0},
        {"[]", 0, 0, 0, 0, 0, 0, 0},
        {"[1.2.3.4]x", 0, 0, 0, 0, 0, 0, 0},
        {"[1.2.3.4]]", 0, 0, 0, 0, 0, 0, 0},
        /* valid address, but too long for Postfix's MAI_HOSTADDR_STR */
        {"[IPv6:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]", 0, 0, 0, 0, 0, 0, 0},
        {"[IPv6:1:2:3:4:5:6:7:8]", 0, 0, 0, 0, 0, 1, 0},
        {"0", 0, 0, 0, 0, 1, 0, 0},
        {"65535", 0, 0, 0, 0, 1, 0, 0},
        {"65536", 0, 0, 0, 0, 0, 0, 0},
        {"025", 0, 0, 0, 0, 0, 0, 0},
        {"-1", 0, 0, 0, 0, 0, 0, 0},
        {"ex\xc3\xa4mple.com", 0, 0, 0, 0, 0, 0, 0}, /* UTF-8: not an ASCII name */
        {A63 ".com", 1, 0, 0, 0, 0, 0, 0},
        {A63 "a.com", 0, 0, 0, 0, 0, 0, 0},          /* 64-char label */
        {L63 L63 L63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1, 0, 0, 0,
         0, 0, 0},                                    /* 254 */
        {L63 L63 L63 A63, 1, 0, 0, 0, 0, 0, 0},       /* 255 */
        {L63 L63 L63 A63 ".a", 0, 0, 0, 0, 0, 0, 0},  /* 257 */
        {"foo bar", 0, 0, 0, 0, 0, 0, 0},
        {"a@b", 0, 0, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct vcase *c = &cases[i];
        size_t n = strlen(c->in), bare = 99;
        int got[7] = {hostname_valid(c->in, n),       hostname_valid_addr(c->in, n),
                      hostname_valid_ipv4(c->in, n),  hostname_valid_ipv6(c->in, n),
                      hostname_valid_port(c->in, n),  hostname_valid_literal(c->in, n),
                      hostname_mailhost_addr(c->in, n, &bare)};
        int want[7] = {c->name, c->addr, c->ipv4, c->ipv6, c->port, c->literal, c->mailhost};
        for (int k = 0; k < 7; k++)
            if (got[k] != want[k])
                fail_msg("case %zu \"%s\" check %d: got %d want %d", i, c->in, k, got[k],
                         want[k]);
        if (c->mailhost)
            assert_int_equal(bare, strncasecmp(c->in, "IPv6:", 5) == 0 ? 5 : 0);
    }
}

static void nul_and_length(void **state)
{
    (void)state;
    /* A NUL inside the buffer is never valid; len bounds every read. */
    assert_int_equal(hostname_valid("a\0b", 3), 0);
    assert_int_equal(hostname_valid_addr("1.2.3.4\0", 8), 0);
    assert_int_equal(hostname_valid("a.b.c", 3), 1); /* "a.b" */
    assert_int_equal(hostname_valid("a.b.c", 2), 0); /* "a." */
    assert_int_equal(hostname_valid_ipv6("::1:", 3), 1);
    assert_int_equal(hostname_valid_literal("[1.2.3.4]]", 9), 1);
}

static void utf8_names(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int ascii, utf8;
    } cases[] = {
        {"ex\xc3\xa4mple.com", 0, 1},
        {"stra\xc3\x9f" "e.de", 0, 1},
        {"\xc3\x84\xc3\x96\xc3\x9c.DE", 0, 1},
        {"\xe2\x98\x83.com", 0, 1},           /* snowman: UTS #46 allows it */
        {"-\xc3\xa4.com", 0, 0},              /* leading hyphen */
        {"\xc3\xa4-.com", 0, 0},
        {"a..\xc3\xa4", 0, 0},                /* empty label */
        {"\xe2\x98.com", 0, 0},               /* truncated UTF-8 */
        {"\xc0\xae.com", 0, 0},               /* overlong */
        {"example.com", 1, 1},
        {"xn--exmple-cua.com", 1, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].in);
        if (hostname_valid_utf8(cases[i].in, n, 0) != cases[i].ascii ||
            hostname_valid_utf8(cases[i].in, n, 1) != cases[i].utf8)
            fail_msg("utf8 case %zu", i);
    }
}

struct hcase {
    const char *helo;
    enum hostname_verdict invalid, fqdn;
};

static void helo_table(void **state)
{
    (void)state;
    static const struct hcase cases[] = {
        {"foo", HOSTNAME_PASS, HOSTNAME_NON_FQDN_HOST},
        {"foo.bar", HOSTNAME_PASS, HOSTNAME_PASS},
        {"foo.bar.", HOSTNAME_PASS, HOSTNAME_PASS},   /* one trailing dot dropped */
        {"foo.bar..", HOSTNAME_INVALID_NAME, HOSTNAME_NON_FQDN_HOST},
        {"foo.", HOSTNAME_PASS, HOSTNAME_NON_FQDN_HOST},
        {".", HOSTNAME_INVALID_NAME, HOSTNAME_NON_FQDN_HOST},
        {"-a.com", HOSTNAME_INVALID_NAME, HOSTNAME_NON_FQDN_HOST},
        {"a_b.com", HOSTNAME_PASS, HOSTNAME_PASS},
        {"1-2.3", HOSTNAME_PASS, HOSTNAME_PASS},
        {"1.2.3.4", HOSTNAME_PASS, HOSTNAME_NON_FQDN_HOST}, /* bare address: back compat */
        {"::1", HOSTNAME_PASS, HOSTNAME_NON_FQDN_HOST},
        {"[1.2.3.4]", HOSTNAME_PASS, HOSTNAME_PASS},
        {"[IPv6:::1]", HOSTNAME_PASS, HOSTNAME_PASS},
        {"[IPv6:1.2.3.4]", HOSTNAME_INVALID_ADDR, HOSTNAME_INVALID_ADDR},
        {"[::1]", HOSTNAME_INVALID_ADDR, HOSTNAME_INVALID_ADDR},
        {"[1.2.3.4", HOSTNAME_INVALID_ADDR, HOSTNAME_INVALID_ADDR},
        {"[]", HOSTNAME_INVALID_ADDR, HOSTNAME_INVALID_ADDR},
        {"[1.2.3.4].", HOSTNAME_INVALID_ADDR, HOSTNAME_INVALID_ADDR},
        {"[.1.2.3.4]", HOSTNAME_INVALID_ADDR, HOSTNAME_INVALID_ADDR},
        {"ex\xc3\xa4mple.com", HOSTNAME_INVALID_NAME, HOSTNAME_NON_FQDN_HOST},
        {A63 "a.com", HOSTNAME_INVALID_NAME, HOSTNAME_NON_FQDN_HOST},
        {"", HOSTNAME_INVALID_NAME, HOSTNAME_NON_FQDN_HOST},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hcase *c = &cases[i];
        size_t n = strlen(c->helo);
        enum hostname_verdict a = hostname_helo_invalid(c->helo, n);
        enum hostname_verdict b = hostname_helo_non_fqdn(c->helo, n, 0);
        if (a != c->invalid || b != c->fqdn)
            fail_msg("helo case %zu \"%s\": got %d/%d want %d/%d", i, c->helo, a, b,
                     c->invalid, c->fqdn);
    }
    /* With SMTPUTF8 a U-label name is an FQDN; "invalid" never takes it. */
    assert_int_equal(hostname_helo_non_fqdn(UTF8_NAME, strlen(UTF8_NAME), 1), HOSTNAME_PASS);
    assert_int_equal(hostname_helo_invalid(UTF8_NAME, strlen(UTF8_NAME)), HOSTNAME_INVALID_NAME);
    assert_string_equal(hostname_verdict_text(HOSTNAME_INVALID_NAME), "Invalid name");
    assert_string_equal(hostname_verdict_text(HOSTNAME_INVALID_ADDR), "invalid ip address");
    assert_string_equal(hostname_verdict_text(HOSTNAME_NON_FQDN_HOST),
                        "need fully-qualified hostname");
}

static void address_table(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        enum hostname_verdict want;
    } cases[] = {
        {"user@example.com", HOSTNAME_PASS},
        {"user@example.com.", HOSTNAME_PASS},
        {"user@example", HOSTNAME_NON_FQDN_ADDR},
        {"user", HOSTNAME_NON_FQDN_ADDR},
        {"user@", HOSTNAME_NON_FQDN_ADDR},
        {"a@b@example.com", HOSTNAME_PASS},    /* last '@' */
        {"user@[1.2.3.4]", HOSTNAME_PASS},     /* literal: not judged */
        {"user@[junk]", HOSTNAME_PASS},
        {"user@[", HOSTNAME_NON_FQDN_ADDR},
        {"user@1.2.3.4", HOSTNAME_NON_FQDN_ADDR},
        {"user@-x.com", HOSTNAME_NON_FQDN_ADDR},
        {"user@ex\xc3\xa4mple.com", HOSTNAME_NON_FQDN_ADDR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (hostname_address_non_fqdn(cases[i].addr, strlen(cases[i].addr), 0) != cases[i].want)
            fail_msg("address case %zu \"%s\"", i, cases[i].addr);
    assert_int_equal(hostname_address_non_fqdn("u@" UTF8_NAME, strlen("u@" UTF8_NAME), 1), HOSTNAME_PASS);
    assert_string_equal(hostname_verdict_text(HOSTNAME_NON_FQDN_ADDR),
                        "need fully-qualified address");
}

static void claims_us(void **state)
{
    (void)state;
    struct sockaddr_storage addrs[2];
    memset(addrs, 0, sizeof(addrs));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&addrs[0];
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addrs[1];
    s4->sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.25", &s4->sin_addr);
    s6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::25", &s6->sin6_addr);
    struct hostname_self self = {"mx.example.com", addrs, 2};
    static const struct {
        const char *helo;
        int want;
    } cases[] = {
        {"mx.example.com", 1},    {"MX.Example.COM.", 1},  {"mx.example.com..", 0},
        {"mx2.example.com", 0},   {"example.com", 0},      {"localhost", 1},
        {"LOCALHOST.", 1},        {"localhost.localdomain", 1}, {"foo.localhost", 1},
        {"localhost.com", 0},     {"xlocalhost", 0},       {"[192.0.2.25]", 1},
        {"192.0.2.25", 1},        {"[192.0.2.26]", 0},     {"[IPv6:2001:db8::25]", 1},
        {"[IPv6:2001:DB8:0::25]", 1}, {"[2001:db8::25]", 0}, {"2001:db8::25", 1},
        {"[IPv6:::ffff:192.0.2.25]", 1}, {"[127.0.0.1]", 1}, {"[127.1.2.3]", 1},
        {"[IPv6:::1]", 1},        {"[0.1.2.3]", 0},        {"[192.0.2.25", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (hostname_claims_us(cases[i].helo, strlen(cases[i].helo), &self) != cases[i].want)
            fail_msg("claims_us case %zu \"%s\"", i, cases[i].helo);
    struct hostname_self none = {NULL, NULL, 0};
    assert_int_equal(hostname_claims_us("mx.example.com", 14, &none), 0);
    assert_int_equal(hostname_claims_us("[127.0.0.1]", 11, &none), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(validators_table), cmocka_unit_test(nul_and_length),
        cmocka_unit_test(utf8_names),       cmocka_unit_test(helo_table),
        cmocka_unit_test(address_table),    cmocka_unit_test(claims_us),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
