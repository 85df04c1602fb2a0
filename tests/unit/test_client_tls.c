/*
 * test_client_tls.c - workers/client_tls.c: the level decisions, the
 * certificate match names, SNI, and the TLS session cache.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "client_tls.h"

static void test_levels(void **state)
{
    (void)state;
    assert_int_equal(client_tls_starttls_mode(TLS_LEV_NONE), 0);
    assert_int_equal(client_tls_starttls_mode(TLS_LEV_MAY), 1);
    assert_int_equal(client_tls_starttls_mode(TLS_LEV_ENCRYPT), 2);
    assert_int_equal(client_tls_starttls_mode(TLS_LEV_VERIFY), 2);
    assert_int_equal(client_tls_starttls_mode(TLS_LEV_SECURE), 2);
    static const struct {
        int level, present, trusted, matched;
        enum client_tls_verdict v;
    } t[] = {
        {TLS_LEV_MAY, 0, 0, 0, CLIENT_TLS_OK},
        {TLS_LEV_ENCRYPT, 1, 0, 0, CLIENT_TLS_OK},
        {TLS_LEV_VERIFY, 0, 0, 0, CLIENT_TLS_NOT_TRUSTED},
        {TLS_LEV_VERIFY, 1, 0, 0, CLIENT_TLS_NOT_TRUSTED},
        {TLS_LEV_VERIFY, 1, 1, 0, CLIENT_TLS_NOT_VERIFIED},
        {TLS_LEV_VERIFY, 1, 1, 1, CLIENT_TLS_OK},
        {TLS_LEV_SECURE, 1, 0, 1, CLIENT_TLS_NOT_TRUSTED},
        {TLS_LEV_SECURE, 1, 1, 0, CLIENT_TLS_NOT_VERIFIED},
        {TLS_LEV_SECURE, 1, 1, 1, CLIENT_TLS_OK},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(client_tls_judge(t[i].level, t[i].present, t[i].trusted, t[i].matched),
                         t[i].v);
}

static void test_match_names(void **state)
{
    (void)state;
    char out[64];
    static const struct {
        const char *word, *want;
    } t[] = {
        {"hostname", "mx1.example.com"}, {"HostName", "mx1.example.com"},
        {"nexthop", "example.com"},      {"dot-nexthop", ".example.com"},
        {".example.net", ".example.net"}, {"smtp.example.org", "smtp.example.org"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(client_tls_match_name(t[i].word, "mx1.example.com", "example.com", out,
                                               sizeof(out)),
                         0);
        assert_string_equal(out, t[i].want);
    }
    char tiny[4];
    assert_int_equal(client_tls_match_name("nexthop", "h", "example.com", tiny, sizeof(tiny)),
                     -ENOSPC);
    assert_null(client_tls_sni("", "h", "n"));
    assert_null(client_tls_sni(NULL, "h", "n"));
    assert_string_equal(client_tls_sni("hostname", "h", "n"), "h");
    assert_string_equal(client_tls_sni("NEXTHOP", "h", "n"), "n");
    assert_string_equal(client_tls_sni("other.example", "h", "n"), "other.example");
}

static struct client_tls_cache cache;

static void test_cache(void **state)
{
    (void)state;
    memset(&cache, 0, sizeof(cache));
    client_tls_cache_put(&cache, "a:1", "AAA", 3, 1000);
    client_tls_cache_put(&cache, "b:2", "BB", 2, 2000);
    const struct client_tls_cache_slot *s = client_tls_cache_get(&cache, "a:1", 500);
    assert_non_null(s);
    assert_int_equal(s->len, 3);
    assert_memory_equal(s->der, "AAA", 3);
    assert_null(client_tls_cache_get(&cache, "a:1", 1000)); /* expired */
    assert_null(client_tls_cache_get(&cache, "c:3", 0));
    client_tls_cache_put(&cache, "a:1", "A2", 2, 3000); /* same key: replaced */
    s = client_tls_cache_get(&cache, "a:1", 2500);
    assert_non_null(s);
    assert_memory_equal(s->der, "A2", 2);
    client_tls_cache_drop(&cache, "a:1");
    assert_null(client_tls_cache_get(&cache, "a:1", 0));
    /* Too big, or a key too long: not stored. */
    static unsigned char big[CLIENT_TLS_SESSION_MAX + 1];
    client_tls_cache_put(&cache, "big", big, sizeof(big), 9000);
    assert_null(client_tls_cache_get(&cache, "big", 0));
    /* Full: the slot that expires first goes. */
    char key[16];
    for (unsigned i = 0; i < CLIENT_TLS_CACHE_SLOTS + 4; i++) {
        snprintf(key, sizeof(key), "k%u", i);
        client_tls_cache_put(&cache, key, "x", 1, 10000 + i);
    }
    assert_null(client_tls_cache_get(&cache, "k0", 0));
    snprintf(key, sizeof(key), "k%u", CLIENT_TLS_CACHE_SLOTS + 3);
    assert_non_null(client_tls_cache_get(&cache, key, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_match_names),
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
