/* test_proxy_proto.c - PROXY v1/v2 headers: the good, the partial, the bad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "proxy_proto.h"

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t n, unsigned *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s->sin_addr, buf, (socklen_t)n);
        *port = ntohs(s->sin_port);
    } else {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, buf, (socklen_t)n);
        *port = ntohs(s->sin6_port);
    }
}

struct v1_case {
    const char *in;
    enum proxy_result want;
    int proxied;
    const char *client;
    unsigned cport;
    const char *server;
    unsigned sport;
    size_t consumed;
};

static void v1_table(void **state)
{
    (void)state;
    static const struct v1_case cases[] = {
        {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO x\r\n", PROXY_OK, 1, "192.0.2.1",
         56324, "198.51.100.2", 25, 44},
        {"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", PROXY_OK, 1, "2001:db8::1", 1,
         "2001:db8::2", 65535, 44},
        {"PROXY UNKNOWN\r\n", PROXY_OK, 0, NULL, 0, NULL, 0, 15},
        {"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", PROXY_OK, 0, NULL, 0, NULL, 0, 35},
        /* partial input */
        {"", PROXY_NEED_MORE, 0, NULL, 0, NULL, 0, 0},
        {"PRO", PROXY_NEED_MORE, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25", PROXY_NEED_MORE, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r", PROXY_NEED_MORE, 0, NULL, 0, NULL, 0,
         0},
        /* bad */
        {"EHLO foo\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25 9\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1  198.51.100.2 56324 25\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25 \r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 2001:db8::1 198.51.100.2 1 25\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP6 192.0.2.1 2001:db8::2 1 25\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1 198.51.100.2 025 25\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1 198.51.100.2 -1 25\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY UDP4 192.0.2.1 198.51.100.2 1 25\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1 198.51.100.2 1 25\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 192.0.2.1\0 198.51.100.2 1 25\r\n", PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
        {"PROXY TCP4 000000000000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000\r\n",
         PROXY_BAD, 0, NULL, 0, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct v1_case *c = &cases[i];
        struct proxy_info pi;
        const char *why;
        size_t len = strlen(c->in);
        if (i == 21) /* the embedded NUL case */
            len = sizeof("PROXY TCP4 192.0.2.1\0 198.51.100.2 1 25\r\n") - 1;
        enum proxy_result r = proxy_parse(c->in, len, &pi, &why);
        if (r != c->want)
            fail_msg("case %zu (%s): got %d want %d (%s)", i, c->in, r, c->want, why);
        if (r != PROXY_OK)
            continue;
        assert_int_equal(pi.version, 1);
        assert_int_equal(pi.proxied, c->proxied);
        assert_int_equal(pi.consumed, c->consumed);
        if (!c->proxied)
            continue;
        char a[64];
        unsigned port;
        addr_str(&pi.client, a, sizeof(a), &port);
        assert_string_equal(a, c->client);
        assert_int_equal(port, c->cport);
        addr_str(&pi.server, a, sizeof(a), &port);
        assert_string_equal(a, c->server);
        assert_int_equal(port, c->sport);
    }
}

static size_t v2_header(unsigned char *b, unsigned verc, unsigned famp, const void *addrs,
                        size_t alen, size_t tlv_len)
{
    memcpy(b, "\r\n\r\n\0\r\nQUIT\n", 12);
    b[12] = (unsigned char)verc;
    b[13] = (unsigned char)famp;
    size_t hlen = alen + tlv_len;
    b[14] = (unsigned char)(hlen >> 8);
    b[15] = (unsigned char)hlen;
    memcpy(b + 16, addrs, alen);
    memset(b + 16 + alen, 0x04, tlv_len); /* content is skipped */
    return 16 + hlen;
}

static void v2_ipv4_and_partial(void **state)
{
    (void)state;
    unsigned char b[128], a[12] = {192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0, 25};
    size_t n = v2_header(b, 0x21, 0x11, a, sizeof(a), 7);
    struct proxy_info pi;
    const char *why;
    char txt[64];
    unsigned port;

    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(proxy_parse((char *)b, cut, &pi, &why), PROXY_NEED_MORE);
    assert_int_equal(proxy_parse((char *)b, n, &pi, &why), PROXY_OK);
    assert_int_equal(pi.version, 2);
    assert_int_equal(pi.proxied, 1);
    assert_int_equal(pi.consumed, 16 + 12 + 7);
    addr_str(&pi.client, txt, sizeof(txt), &port);
    assert_string_equal(txt, "192.0.2.1");
    assert_int_equal(port, 0xdc04);
    addr_str(&pi.server, txt, sizeof(txt), &port);
    assert_string_equal(txt, "198.51.100.2");
    assert_int_equal(port, 25);
}

static void v2_ipv6_local_and_bad(void **state)
{
    (void)state;
    unsigned char b[128], a[36] = {0};
    struct proxy_info pi;
    const char *why;
    char txt[64];
    unsigned port;

    a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8, a[15] = 1;
    a[16] = 0x20, a[17] = 0x01, a[18] = 0x0d, a[19] = 0xb8, a[31] = 2;
    a[32] = 0x30, a[33] = 0x39, a[35] = 25;
    size_t n = v2_header(b, 0x21, 0x21, a, sizeof(a), 0);
    assert_int_equal(proxy_parse((char *)b, n, &pi, &why), PROXY_OK);
    addr_str(&pi.client, txt, sizeof(txt), &port);
    assert_string_equal(txt, "2001:db8::1");
    assert_int_equal(port, 12345);

    /* LOCAL command: a health check, keep the real endpoints */
    n = v2_header(b, 0x20, 0x00, a, 0, 0);
    assert_int_equal(proxy_parse((char *)b, n, &pi, &why), PROXY_OK);
    assert_int_equal(pi.proxied, 0);
    assert_int_equal(pi.consumed, 16);
    /* UDP over IPv4: not ours, treated as unproxied */
    n = v2_header(b, 0x21, 0x12, a, 12, 0);
    assert_int_equal(proxy_parse((char *)b, n, &pi, &why), PROXY_OK);
    assert_int_equal(pi.proxied, 0);
    /* version 1 in a v2 signature, bad command, length too short */
    n = v2_header(b, 0x11, 0x11, a, 12, 0);
    assert_int_equal(proxy_parse((char *)b, n, &pi, &why), PROXY_BAD);
    n = v2_header(b, 0x22, 0x11, a, 12, 0);
    assert_int_equal(proxy_parse((char *)b, n, &pi, &why), PROXY_BAD);
    n = v2_header(b, 0x21, 0x11, a, 8, 0);
    assert_int_equal(proxy_parse((char *)b, n, &pi, &why), PROXY_BAD);
    assert_non_null(strstr(why, "too short"));
    n = v2_header(b, 0x21, 0x21, a, 20, 0);
    assert_int_equal(proxy_parse((char *)b, n, &pi, &why), PROXY_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_table),
        cmocka_unit_test(v2_ipv4_and_partial),
        cmocka_unit_test(v2_ipv6_local_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
