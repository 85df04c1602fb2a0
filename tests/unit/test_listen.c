/* test_listen.c - master/listen.c: listen_addresses items and lists, and
 * opening real sockets on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"

struct item_case {
    const char *in;
    enum listen_result want;
    enum listen_kind kind;
    unsigned port;
    const char *norm; /* listen_format_sa() for KIND_ADDR, host for NAME */
};

static const struct item_case items[] = {
    {"127.0.0.1:2525", LISTEN_OK, LISTEN_KIND_ADDR, 2525, "127.0.0.1:2525"},
    {"0.0.0.0:25", LISTEN_OK, LISTEN_KIND_ADDR, 25, "0.0.0.0:25"},
    {"[::1]:25", LISTEN_OK, LISTEN_KIND_ADDR, 25, "[::1]:25"},
    {"[2001:db8::1]:65535", LISTEN_OK, LISTEN_KIND_ADDR, 65535, "[2001:db8::1]:65535"},
    {"[fe80::1%2]:25", LISTEN_OK, LISTEN_KIND_ADDR, 25, "[fe80::1%2]:25"},
    {"[::ffff:192.0.2.1]:25", LISTEN_OK, LISTEN_KIND_ADDR, 25, "[::ffff:192.0.2.1]:25"},
    {"*:25", LISTEN_OK, LISTEN_KIND_ANY, 25, NULL},
    {":587", LISTEN_OK, LISTEN_KIND_ANY, 587, NULL},
    {"mx.example.com:25", LISTEN_OK, LISTEN_KIND_NAME, 25, "mx.example.com"},
    {"localhost:1", LISTEN_OK, LISTEN_KIND_NAME, 1, "localhost"},
    {"", LISTEN_EMPTY, 0, 0, NULL},
    {"127.0.0.1", LISTEN_NO_PORT, 0, 0, NULL},
    {"[::1]", LISTEN_NO_PORT, 0, 0, NULL},
    {"127.0.0.1:", LISTEN_BAD_PORT, 0, 0, NULL},
    {"127.0.0.1:0", LISTEN_BAD_PORT, 0, 0, NULL},
    {"127.0.0.1:65536", LISTEN_BAD_PORT, 0, 0, NULL},
    {"127.0.0.1:99999", LISTEN_BAD_PORT, 0, 0, NULL},
    {"127.0.0.1:000025", LISTEN_BAD_PORT, 0, 0, NULL},
    {"127.0.0.1:+25", LISTEN_BAD_PORT, 0, 0, NULL},
    {"127.0.0.1:25 ", LISTEN_BAD_PORT, 0, 0, NULL},
    {"127.0.0.1:smtp", LISTEN_BAD_PORT, 0, 0, NULL},
    {"::1:25", LISTEN_NEED_BRACKET, 0, 0, NULL},
    {"2001:db8::1:25", LISTEN_NEED_BRACKET, 0, 0, NULL},
    {"[::1:25", LISTEN_BAD_BRACKET, 0, 0, NULL},
    {"[::1]25", LISTEN_BAD_BRACKET, 0, 0, NULL},
    {"[127.0.0.1]:25", LISTEN_BAD_BRACKET, 0, 0, NULL},
    {"[]:25", LISTEN_BAD_BRACKET, 0, 0, NULL},
    {"[::g]:25", LISTEN_BAD_ADDR, 0, 0, NULL},
    {"[fe80::1%eth0]:25", LISTEN_BAD_ADDR, 0, 0, NULL},
    {"[fe80::1%]:25", LISTEN_BAD_ADDR, 0, 0, NULL},
    {"256.0.0.1:25", LISTEN_BAD_ADDR, 0, 0, NULL},
    {"1.2.3:25", LISTEN_BAD_ADDR, 0, 0, NULL},
    {"1.2.3.4.5:25", LISTEN_BAD_ADDR, 0, 0, NULL},
    {"127.000.0.1:25", LISTEN_BAD_ADDR, 0, 0, NULL},
    {"-bad.example:25", LISTEN_BAD_HOST, 0, 0, NULL},
    {"bad-.example:25", LISTEN_BAD_HOST, 0, 0, NULL},
    {"a..b:25", LISTEN_BAD_HOST, 0, 0, NULL},
    {"host.:25", LISTEN_BAD_HOST, 0, 0, NULL},
    {"ho st:25", LISTEN_BAD_HOST, 0, 0, NULL},
    {"h_st:25", LISTEN_BAD_HOST, 0, 0, NULL},
    {"**:25", LISTEN_BAD_HOST, 0, 0, NULL},
};

static void items_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        const struct item_case *c = &items[i];
        struct listen_addr a;
        enum listen_result r = listen_addr_parse(c->in, strlen(c->in), &a);
        if (r != c->want)
            fail_msg("\"%s\": got %s, want %s", c->in, listen_strerror(r),
                     listen_strerror(c->want));
        assert_string_equal(a.text, c->in);
        if (r != LISTEN_OK)
            continue;
        assert_int_equal(a.kind, c->kind);
        assert_int_equal(a.port, c->port);
        if (a.kind == LISTEN_KIND_ADDR) {
            char buf[128];
            listen_format_sa((const struct sockaddr *)&a.sa, buf, sizeof(buf));
            assert_string_equal(buf, c->norm);
        } else if (a.kind == LISTEN_KIND_NAME) {
            assert_string_equal(a.host, c->norm);
        }
    }
}

static void embedded_nul_refused(void **state)
{
    (void)state;
    struct listen_addr a;
    assert_int_equal(listen_addr_parse("127.0.0.1\0:25", 13, &a), LISTEN_BAD_HOST);
    assert_int_equal(listen_addr_parse("a\0b:25", 6, &a), LISTEN_BAD_HOST);
}

static void long_name_refused(void **state)
{
    (void)state;
    char buf[400];
    struct listen_addr a;
    memset(buf, 'a', 64);
    strcpy(buf + 64, ".example:25"); /* label of 64 */
    assert_int_equal(listen_addr_parse(buf, strlen(buf), &a), LISTEN_BAD_HOST);
    memset(buf, 'a', 300);
    for (int i = 50; i < 300; i += 50)
        buf[i] = '.';
    strcpy(buf + 300, ":25"); /* over 255 in all; text is cut, not overrun */
    assert_int_equal(listen_addr_parse(buf, strlen(buf), &a), LISTEN_BAD_HOST);
    assert_int_equal(strlen(a.text), 300);
}

static void list_parse(void **state)
{
    (void)state;
    struct listen_addr v[4];
    size_t n, off;
    const char *s = " 127.0.0.1:25,[::1]:25\t*:587 ,, ";
    assert_int_equal(listen_list_parse(s, strlen(s), v, 4, &n, &off), LISTEN_OK);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].port, 25);
    assert_int_equal(v[1].sa.ss_family, AF_INET6);
    assert_int_equal(v[2].kind, LISTEN_KIND_ANY);
    s = "127.0.0.1:25, 127.0.0.1:x";
    assert_int_equal(listen_list_parse(s, strlen(s), v, 4, &n, &off), LISTEN_BAD_PORT);
    assert_int_equal(n, 1);
    assert_int_equal(off, 14);
    s = " , ";
    assert_int_equal(listen_list_parse(s, strlen(s), v, 4, &n, &off), LISTEN_EMPTY);
    s = ":1 :2 :3";
    assert_int_equal(listen_list_parse(s, strlen(s), v, 2, &n, &off), LISTEN_TOO_MANY);
    assert_int_equal(off, 6);
}

static void open_loopback_and_conflict(void **state)
{
    (void)state;
    struct listen_addr a;
    int fds[4], fds2[4];
    size_t n, n2;
    char err[256];
    assert_int_equal(listen_addr_parse("127.0.0.1:0", 11, &a), LISTEN_BAD_PORT);
    /* Find a free port via the kernel, then bind it through listen_open. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = {htonl(INADDR_LOOPBACK)}};
    assert_int_equal(bind(probe, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t sl = sizeof(sin);
    getsockname(probe, (struct sockaddr *)&sin, &sl);
    close(probe);
    char item[64];
    snprintf(item, sizeof(item), "127.0.0.1:%u", ntohs(sin.sin_port));
    assert_int_equal(listen_addr_parse(item, strlen(item), &a), LISTEN_OK);
    assert_int_equal(listen_open(&a, 16, fds, 4, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_true(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    /* The same address again: the error names it and the call. */
    assert_int_equal(listen_open(&a, 16, fds2, 4, &n2, err, sizeof(err)), -EADDRINUSE);
    assert_int_equal(n2, 0);
    char want[128];
    snprintf(want, sizeof(want), "bind %s: Address already in use", item);
    assert_string_equal(err, want);
    close(fds[0]);
    /* localhost resolves to at least one loopback address. */
    snprintf(item, sizeof(item), "localhost:%u", ntohs(sin.sin_port));
    assert_int_equal(listen_addr_parse(item, strlen(item), &a), LISTEN_OK);
    assert_int_equal(listen_open(&a, 16, fds, 4, &n, err, sizeof(err)), 0);
    assert_true(n >= 1);
    while (n > 0)
        close(fds[--n]);
    assert_int_equal(listen_open(&a, 16, fds, 0, &n, err, sizeof(err)), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(items_table),
        cmocka_unit_test(embedded_nul_refused),
        cmocka_unit_test(long_name_refused),
        cmocka_unit_test(list_parse),
        cmocka_unit_test(open_loopback_and_conflict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
