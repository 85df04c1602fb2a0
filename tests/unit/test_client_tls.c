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
#include <stdlib.h>
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

/* The process's handle on the shared cache: opened at first use, entries
 * expire with the policy's timeout, a second handle (another process)
 * sees them; no database or an unusable one means no cache. */
static void test_cache(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_client_tls.XXXXXX", ref[128], cmd[160];
    assert_non_null(mkdtemp(dir));
    snprintf(ref, sizeof(ref), "btree:%s/smtp_scache", dir);
    struct client_tls_policy pol = {.cache_timeout = 100, .cache_db = ref};
    unsigned char der[CLIENT_TLS_SESSION_MAX];
    size_t len;
    memset(&cache, 0, sizeof(cache));
    assert_int_equal(client_tls_cache_ready(&cache, &pol), 1);
    client_tls_cache_put(&cache, &pol, "a:1", "AAA", 3, 1000);
    client_tls_cache_put(&cache, &pol, "b:2", "BB", 2, 2000);
    assert_int_equal(client_tls_cache_get(&cache, &pol, "a:1", 1100, der, sizeof(der), &len), 1);
    assert_int_equal(len, 3);
    assert_memory_equal(der, "AAA", 3);
    assert_int_equal(client_tls_cache_get(&cache, &pol, "a:1", 1101, der, sizeof(der), &len), 0);
    assert_int_equal(client_tls_cache_get(&cache, &pol, "c:3", 0, der, sizeof(der), &len), 0);
    /* another handle on the same file */
    struct client_tls_cache other = {0};
    assert_int_equal(client_tls_cache_get(&other, &pol, "b:2", 2000, der, sizeof(der), &len), 1);
    client_tls_cache_drop(&other, &pol, "b:2");
    assert_int_equal(client_tls_cache_get(&cache, &pol, "b:2", 2000, der, sizeof(der), &len), 0);
    /* the sweep: a pass at once, then not before the timeout */
    client_tls_cache_put(&cache, &pol, "old", "x", 1, 1000);
    client_tls_cache_put(&cache, &pol, "new", "y", 1, 5000);
    client_tls_cache_sweep(&cache, &pol, 5000);
    assert_int_equal(client_tls_cache_get(&cache, &pol, "new", 5000, der, sizeof(der), &len), 1);
    client_tls_cache_put(&cache, &pol, "old2", "x", 1, 1000);
    client_tls_cache_sweep(&cache, &pol, 5050); /* too early: old2 stays */
    client_tls_cache_close(&other);
    assert_int_equal(client_tls_cache_ready(&other, &pol), 1);
    client_tls_cache_close(&other);
    client_tls_cache_close(&cache);
    /* no database named, no timeout, or one that cannot open */
    struct client_tls_policy none = {.cache_timeout = 100, .cache_db = ""};
    assert_int_equal(client_tls_cache_ready(&cache, &none), 0);
    struct client_tls_policy zero = {.cache_timeout = 0, .cache_db = ref};
    assert_int_equal(client_tls_cache_ready(&cache, &zero), 0);
    struct client_tls_policy bad = {.cache_timeout = 100, .cache_db = "btree:/nonexistent/x"};
    assert_int_equal(client_tls_cache_ready(&cache, &bad), 0);
    assert_int_equal(cache.failed, 1);
    client_tls_cache_put(&cache, &bad, "a", "A", 1, 1); /* harmless */
    assert_int_equal(client_tls_cache_get(&cache, &bad, "a", 1, der, sizeof(der), &len), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
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
