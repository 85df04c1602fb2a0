/* test_hosts_file.c - /etc/hosts lookups for the client name. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hosts_file.h"

static const char hosts[] =
    "# comment line\n"
    "127.0.0.1 localhost\n"
    "127.0.0.1 runsc   # a second name for the same address\n"
    "192.0.2.7\tmx.Example.test mx alias.example.test\n"
    "192.0.2.8 mx.example.test\n"
    "::1 localhost ip6-localhost\n"
    "not-an-address bogus.example\n"
    "198.51.100.1\n"
    "2001:db8::5 six.example.test";

static struct sockaddr_storage v4(const char *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, a, &s4->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, a, &s6->sin6_addr), 1);
    return ss;
}

static void test_name_of_address(void **state)
{
    char name[256];
    (void)state;
    struct sockaddr_storage a = v4("127.0.0.1");
    assert_int_equal(hosts_file_name(hosts, (struct sockaddr *)&a, name, sizeof(name)), 1);
    assert_string_equal(name, "localhost"); /* the first line, its first name */
    a = v4("192.0.2.7");
    assert_int_equal(hosts_file_name(hosts, (struct sockaddr *)&a, name, sizeof(name)), 1);
    assert_string_equal(name, "mx.Example.test");
    a = v4("198.51.100.1"); /* a line without a name gives nothing */
    assert_int_equal(hosts_file_name(hosts, (struct sockaddr *)&a, name, sizeof(name)), 0);
    a = v4("203.0.113.1");
    assert_int_equal(hosts_file_name(hosts, (struct sockaddr *)&a, name, sizeof(name)), 0);
    a = v6("2001:db8::5"); /* last line without a newline */
    assert_int_equal(hosts_file_name(hosts, (struct sockaddr *)&a, name, sizeof(name)), 1);
    assert_string_equal(name, "six.example.test");
    assert_int_equal(hosts_file_name("", (struct sockaddr *)&a, name, sizeof(name)), 0);
}

static void test_forward_confirmation(void **state)
{
    (void)state;
    struct sockaddr_storage a = v4("192.0.2.8");
    /* names match case-insensitively; every line of the name counts */
    assert_int_equal(hosts_file_confirms(hosts, "MX.example.test", (struct sockaddr *)&a), 1);
    a = v4("192.0.2.9");
    assert_int_equal(hosts_file_confirms(hosts, "mx.example.test", (struct sockaddr *)&a), 0);
    /* an alias is a name too */
    a = v4("192.0.2.7");
    assert_int_equal(hosts_file_confirms(hosts, "alias.example.test", (struct sockaddr *)&a), 1);
    /* not listed: DNS decides */
    assert_int_equal(hosts_file_confirms(hosts, "other.example", (struct sockaddr *)&a), -1);
    /* listed for the other family only: DNS decides */
    a = v4("192.0.2.5");
    assert_int_equal(hosts_file_confirms(hosts, "six.example.test", (struct sockaddr *)&a), -1);
    a = v6("::1");
    assert_int_equal(hosts_file_confirms(hosts, "ip6-localhost", (struct sockaddr *)&a), 1);
}

static void test_missing_file_reads_empty(void **state)
{
    char *text = NULL;
    (void)state;
    assert_int_equal(hosts_file_read("/nonexistent/hosts", &text), 0);
    assert_string_equal(text, "");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_of_address),
        cmocka_unit_test(test_forward_confirmation),
        cmocka_unit_test(test_missing_file_reads_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
