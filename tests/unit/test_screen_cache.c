/* test_screen_cache.c - postscreen_cache_map: the record parser's nasty
 * cases (psc_parse_tests rules), todo/PASS OLD, NEW -> DISABLED on write,
 * the sweep validator and allowlist extension; the LMDB store: map names,
 * Postfix's file format (read back through our lmdb: map reader), several
 * processes writing at once, map growth seen by another process, and the
 * bounded sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maps.h"
#include "screen_cache.h"

#define D SCREEN_STAMP_DISABLED

struct parse_case {
    const char *in;
    size_t len; /* 0: strlen */
    enum screen_parse want;
    int64_t t[SCREEN_NTESTS];
};

static const struct parse_case parse_cases[] = {
    {"100;200;300;400;500", 0, SCREEN_PARSE_OK, {100, 200, 300, 400, 500}},
    {"0;1;0;1;1700000000", 0, SCREEN_PARSE_OK, {0, 1, 0, 1, 1700000000}},
    /* older versions wrote fewer fields: the rest count as disabled */
    {"100", 0, SCREEN_PARSE_PARTIAL, {100, D, D, D, D}},
    {"100;200", 0, SCREEN_PARSE_PARTIAL, {100, 200, D, D, D}},
    {"", 0, SCREEN_PARSE_PARTIAL, {D, D, D, D, D}},
    /* an empty field before ';' reads as 0 (NEW), as strtoul gives 0 */
    {";;;;", 0, SCREEN_PARSE_PARTIAL, {0, 0, 0, 0, D}},
    {";;;;;", 0, SCREEN_PARSE_OK, {0, 0, 0, 0, 0}},
    /* extra fields and a trailing ';' are ignored */
    {"1;2;3;4;5;6;7", 0, SCREEN_PARSE_OK, {1, 2, 3, 4, 5}},
    {"1;2;3;4;5;", 0, SCREEN_PARSE_OK, {1, 2, 3, 4, 5}},
    /* garbage stops the parse: every later field is disabled */
    {"5x;6;7;8;9", 0, SCREEN_PARSE_PARTIAL, {D, D, D, D, D}},
    {"1;x;3;4;5", 0, SCREEN_PARSE_PARTIAL, {1, D, D, D, D}},
    {"1;2;3;4;5x", 0, SCREEN_PARSE_PARTIAL, {1, 2, 3, 4, D}},
    /* no sign, no white space (deliberate: "-1" would never expire) */
    {"-1;2;3;4;5", 0, SCREEN_PARSE_PARTIAL, {D, D, D, D, D}},
    {"+1;2;3;4;5", 0, SCREEN_PARSE_PARTIAL, {D, D, D, D, D}},
    {" 1;2;3;4;5", 0, SCREEN_PARSE_PARTIAL, {D, D, D, D, D}},
    {"1 ;2;3;4;5", 0, SCREEN_PARSE_PARTIAL, {D, D, D, D, D}},
    /* out of range: that field only (the parse goes on after it) */
    {"9223372036854775807;2;3;4;5", 0, SCREEN_PARSE_OK, {INT64_MAX, 2, 3, 4, 5}},
    {"9223372036854775808;2;3;4;5", 0, SCREEN_PARSE_PARTIAL, {D, 2, 3, 4, 5}},
    {"99999999999999999999999999;2;3;4;5", 0, SCREEN_PARSE_PARTIAL, {D, 2, 3, 4, 5}},
    /* a NUL ends the value (the stored value carries one) */
    {"1;2\0;3;4;5", 10, SCREEN_PARSE_PARTIAL, {1, 2, D, D, D}},
    {"1;2;3;4;5\0", 10, SCREEN_PARSE_OK, {1, 2, 3, 4, 5}},
    /* length limits the read: no NUL needed */
    {"1;2;3;4;5999", 9, SCREEN_PARSE_OK, {1, 2, 3, 4, 5}},
    {"\xff;\x80", 0, SCREEN_PARSE_PARTIAL, {D, D, D, D, D}},
};

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct screen_stamps s;
        memset(&s, 0x55, sizeof(s));
        size_t len = c->len ? c->len : strlen(c->in);
        enum screen_parse r = screen_stamps_parse(c->in, len, &s);
        if (r != c->want)
            fail_msg("case %zu \"%s\": result %d, want %d", i, c->in, r, c->want);
        for (int t = 0; t < SCREEN_NTESTS; t++)
            if (s.t[t] != c->t[t])
                fail_msg("case %zu \"%s\": field %d = %lld, want %lld", i, c->in, t,
                         (long long)s.t[t], (long long)c->t[t]);
    }
}

static void test_todo_format(void **state)
{
    (void)state;
    unsigned all = screen_tests_enabled("banner", 2, true, true, true);
    assert_int_equal(all, SCREEN_ALL_TESTS);
    unsigned early = screen_tests_enabled("$smtpd_banner", 1, false, false, false);
    assert_int_equal(early, SCREEN_BIT(SCREEN_TEST_PREGR) | SCREEN_BIT(SCREEN_TEST_DNSBL));
    assert_int_equal(screen_tests_enabled("", 0, false, true, false), SCREEN_BIT(SCREEN_TEST_NSMTP));

    struct screen_stamps s;
    screen_stamps_new(&s);
    assert_true(screen_stamps_is_new(&s));
    assert_int_equal(screen_stamps_todo(&s, early, 1000), early);
    /* passes: pregreet until 2000, dnsbl until 1500 */
    s.t[SCREEN_TEST_PREGR] = 2000;
    s.t[SCREEN_TEST_DNSBL] = 1500;
    char buf[SCREEN_VALUE_MAX];
    /* written with the deep tests disabled: their NEW becomes DISABLED */
    assert_int_equal(screen_stamps_format(&s, early, buf, sizeof(buf)), 15);
    assert_string_equal(buf, "2000;1500;1;1;1");
    assert_false(screen_stamps_is_new(&s));
    /* PASS OLD at 1500 (a stamp equal to now is still valid), dnsbl due at 1501 */
    assert_int_equal(screen_stamps_todo(&s, early, 1500), 0);
    assert_int_equal(screen_stamps_todo(&s, early, 1501), SCREEN_BIT(SCREEN_TEST_DNSBL));
    /* a deep test enabled later is due, a disabled one never */
    assert_int_equal(screen_stamps_todo(&s, early | SCREEN_BIT(SCREEN_TEST_PIPEL), 1000),
                     SCREEN_BIT(SCREEN_TEST_PIPEL));
    assert_int_equal(screen_stamps_todo(&s, 0, 99999), 0);
    /* enabled NEW stays NEW */
    screen_stamps_new(&s);
    screen_stamps_format(&s, all, buf, sizeof(buf));
    assert_string_equal(buf, "0;0;0;0;0");
    /* round trip of big stamps, and a buffer too small */
    struct screen_stamps big = {{INT64_MAX, 1, 0, 1700000000, 42}}, back;
    assert_true(screen_stamps_format(&big, all, buf, sizeof(buf)) > 0);
    assert_int_equal(screen_stamps_parse(buf, strlen(buf), &back), SCREEN_PARSE_OK);
    assert_memory_equal(&big, &back, sizeof(big));
    assert_int_equal(screen_stamps_format(&big, all, buf, 10), -ENOSPC);
    assert_string_equal(screen_test_name(SCREEN_TEST_BARLF), "bare newline");
    assert_string_equal(screen_test_name(SCREEN_TEST_NSMTP), "non-smtp");
}

static void test_keep_allowlist(void **state)
{
    (void)state;
    unsigned en = SCREEN_BIT(SCREEN_TEST_PREGR) | SCREEN_BIT(SCREEN_TEST_DNSBL);
    struct screen_stamps s = {{1000, 900, 1, 1, 1}};
    /* retention 100: kept while now - 100 <= every enabled stamp */
    assert_true(screen_stamps_keep(&s, en, 1000, 100));
    assert_false(screen_stamps_keep(&s, en, 1001, 100));
    assert_true(screen_stamps_keep(&s, SCREEN_BIT(SCREEN_TEST_PREGR), 1100, 100));
    assert_false(screen_stamps_keep(&s, SCREEN_BIT(SCREEN_TEST_PREGR), 1101, 100));
    /* never passed: dropped once the retention time has run out */
    struct screen_stamps n;
    screen_stamps_new(&n);
    assert_false(screen_stamps_keep(&n, en, 1000, 100));
    /* no test enabled: kept (nothing can be due) */
    assert_true(screen_stamps_keep(&n, 0, 1000, 100));

    /* allowlisted at 5000 with ttl 600: others extended, dnsbl untouched,
     * a later stamp kept */
    struct screen_stamps a = {{0, 0, 9000, 1, 5100}};
    screen_stamps_allowlist(&a, 5000, 600);
    assert_int_equal(a.t[SCREEN_TEST_PREGR], 5600);
    assert_int_equal(a.t[SCREEN_TEST_DNSBL], 0);
    assert_int_equal(a.t[SCREEN_TEST_PIPEL], 9000);
    assert_int_equal(a.t[SCREEN_TEST_NSMTP], 5600);
    assert_int_equal(a.t[SCREEN_TEST_BARLF], 5600);
}

/* ---- the store --------------------------------------------------------------- */

static char dir[] = "/tmp/test_screen_cache.XXXXXX";
static char ref[256];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test_screen_cache.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(ref, sizeof(ref), "btree:%s/postscreen_cache", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct screen_cache *open_ok(const char *r, size_t mapsize)
{
    struct screen_cache *c = NULL;
    char err[256];
    struct screen_cache_opts o = {.map_size = mapsize};
    int rc = screen_cache_open(r, &o, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("open %s: %d %s", r, rc, err);
    return c;
}

static void test_store_basic(void **state)
{
    (void)state;
    char err[256];
    struct screen_cache *c = NULL;
    static const char *const bad[] = {"", "cidr:/tmp/x", "btree:", "memcache:x", "proxy:",
                                      "proxy:regexp:/x", "btree"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(screen_cache_open(bad[i], NULL, &c, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "unsupported"));
    }
    char r[300];
    snprintf(r, sizeof(r), "btree:%s/nodir/x", dir);
    assert_true(screen_cache_open(r, NULL, &c, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "nodir"));

    c = open_ok(ref, 0);
    char path[300];
    snprintf(path, sizeof(path), "%s/postscreen_cache.lmdb", dir);
    assert_string_equal(screen_cache_path(c), path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    struct screen_stamps s, got;
    assert_int_equal(screen_cache_lookup(c, "192.0.2.1", &got), 0);
    screen_stamps_new(&s);
    s.t[SCREEN_TEST_PREGR] = 1700000000;
    unsigned en = SCREEN_BIT(SCREEN_TEST_PREGR) | SCREEN_BIT(SCREEN_TEST_DNSBL);
    assert_int_equal(screen_cache_update(c, "192.0.2.1", &s, en), 0);
    assert_int_equal(screen_cache_update(c, "2001:db8::1", &s, en), 0);
    assert_int_equal(screen_cache_update(c, "", &s, en), -EINVAL);
    assert_int_equal(screen_cache_update(c, "_LAST_CACHE_CLEANUP_COMPLETED_", &s, en), -EINVAL);
    assert_int_equal(screen_cache_lookup(c, "192.0.2.1", &got), 1);
    assert_int_equal(got.t[SCREEN_TEST_PREGR], 1700000000);
    assert_int_equal(got.t[SCREEN_TEST_DNSBL], SCREEN_STAMP_NEW);
    assert_int_equal(got.t[SCREEN_TEST_PIPEL], SCREEN_STAMP_DISABLED);
    assert_int_equal(screen_cache_lookup(c, "192.0.2.10", &got), 0);
    assert_int_equal(screen_cache_lookup(c, "", &got), 0);
    screen_cache_close(c);

    /* Postfix's format: lmdb: tables read it (keys and values with a NUL). */
    snprintf(r, sizeof(r), "lmdb:%s/postscreen_cache", dir);
    struct map *m = NULL;
    struct map_err merr;
    int mrc = map_open(r, 0, &m, &merr);
    if (mrc != 0)
        fail_msg("map_open %s: %d %s", r, mrc, merr.msg);
    char vbuf[64];
    struct map_value v = {vbuf, sizeof(vbuf), 0};
    assert_int_equal(map_lookup_str(m, "2001:db8::1", &v), 1);
    assert_int_equal(v.len, strlen("1700000000;0;1;1;1"));
    assert_string_equal(v.buf, "1700000000;0;1;1;1");
    map_close(m);

    /* hash:, lmdb: and proxy:btree: name the same file */
    snprintf(r, sizeof(r), "proxy:hash:%s/postscreen_cache", dir);
    c = open_ok(r, 0);
    assert_int_equal(screen_cache_lookup(c, "192.0.2.1", &got), 1);
    assert_int_equal(screen_cache_delete(c, "192.0.2.1"), 1);
    assert_int_equal(screen_cache_delete(c, "192.0.2.1"), 0);
    assert_int_equal(screen_cache_lookup(c, "192.0.2.1", &got), 0);
    screen_cache_close(c);
}

/* Several processes write at once; every record must be there afterwards,
 * and a shared key must hold one of the values written. */
static void test_store_processes(void **state)
{
    (void)state;
    enum { KIDS = 4, PER = 300 };
    pid_t pid[KIDS];
    for (int k = 0; k < KIDS; k++) {
        pid[k] = fork();
        assert_true(pid[k] >= 0);
        if (pid[k] == 0) {
            struct screen_cache *c = NULL;
            char err[256];
            if (screen_cache_open(ref, NULL, &c, err, sizeof(err)) != 0)
                _exit(2);
            for (int i = 0; i < PER; i++) {
                char addr[64];
                struct screen_stamps s = {{1000 + k, 2000 + i, 1, 1, 1}}, got;
                snprintf(addr, sizeof(addr), "10.%d.%d.%d", k, i / 256, i % 256);
                if (screen_cache_update(c, addr, &s, SCREEN_ALL_TESTS) != 0)
                    _exit(3);
                if (screen_cache_update(c, "198.51.100.1", &s, SCREEN_ALL_TESTS) != 0)
                    _exit(4);
                if (screen_cache_lookup(c, addr, &got) != 1 || got.t[1] != 2000 + i)
                    _exit(5);
            }
            screen_cache_close(c);
            _exit(0);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int st;
        assert_int_equal(waitpid(pid[k], &st, 0), pid[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    struct screen_cache *c = open_ok(ref, 0);
    struct screen_stamps got;
    for (int k = 0; k < KIDS; k++)
        for (int i = 0; i < PER; i++) {
            char addr[64];
            snprintf(addr, sizeof(addr), "10.%d.%d.%d", k, i / 256, i % 256);
            assert_int_equal(screen_cache_lookup(c, addr, &got), 1);
            assert_int_equal(got.t[0], 1000 + k);
            assert_int_equal(got.t[1], 2000 + i);
        }
    assert_int_equal(screen_cache_lookup(c, "198.51.100.1", &got), 1);
    assert_true(got.t[0] >= 1000 && got.t[0] < 1000 + KIDS);
    screen_cache_close(c);
}

/* A small map grows when full; a process that opened it before follows. */
static void test_store_growth(void **state)
{
    (void)state;
    char r[300];
    snprintf(r, sizeof(r), "lmdb:%s/grow", dir);
    struct screen_cache *reader = open_ok(r, 256 << 10);
    struct screen_cache *writer = open_ok(r, 256 << 10);
    struct screen_stamps s = {{7, 8, 9, 10, 11}}, got;
    for (int i = 0; i < 20000; i++) {
        char addr[64];
        snprintf(addr, sizeof(addr), "2001:db8:%x::%x", i / 4096, i % 4096);
        assert_int_equal(screen_cache_update(writer, addr, &s, SCREEN_ALL_TESTS), 0);
    }
    assert_int_equal(screen_cache_lookup(reader, "2001:db8:4::e1f", &got), 1);
    assert_int_equal(got.t[4], 11);
    /* and the reader can write into the grown map */
    assert_int_equal(screen_cache_update(reader, "192.0.2.77", &s, SCREEN_ALL_TESTS), 0);
    assert_int_equal(screen_cache_lookup(writer, "192.0.2.77", &got), 1);
    screen_cache_close(reader);
    screen_cache_close(writer);
}

static void test_sweep(void **state)
{
    (void)state;
    char r[300];
    snprintf(r, sizeof(r), "btree:%s/sweep", dir);
    struct screen_cache *c = open_ok(r, 0);
    const int64_t now = 1000000, ret = 1000;
    unsigned en = SCREEN_BIT(SCREEN_TEST_PREGR) | SCREEN_BIT(SCREEN_TEST_DNSBL);
    assert_int_equal(screen_cache_sweep_due(c, now, 0), 0);      /* disabled */
    assert_int_equal(screen_cache_sweep_due(c, now, 3600), 1);   /* never swept */
    int keep = 0;
    for (int i = 0; i < 1000; i++) {
        char addr[64];
        snprintf(addr, sizeof(addr), "172.16.%d.%d", i / 256, i % 256);
        struct screen_stamps s;
        switch (i % 4) {
        case 0: /* valid */
            s = (struct screen_stamps){{now + 100, now + 50, 1, 1, 1}};
            keep++;
            break;
        case 1: /* expired, but within the retention time */
            s = (struct screen_stamps){{now - 10, now - 500, 1, 1, 1}};
            keep++;
            break;
        case 2: /* expired longer ago than the retention time */
            s = (struct screen_stamps){{now - 2000, now - 5000, 1, 1, 1}};
            break;
        default: /* one test expired long ago is enough to drop */
            s = (struct screen_stamps){{now + 100000, now - ret - 1, 1, 1, 1}};
            break;
        }
        assert_int_equal(screen_cache_update(c, addr, &s, SCREEN_ALL_TESTS), 0);
    }
    struct screen_sweep *sw = calloc(1, sizeof(*sw));
    int steps = 0, rc;
    while ((rc = screen_cache_sweep_step(c, sw, en, now, ret, 64)) == 1) {
        steps++;
        assert_true(steps < 100);
        /* another process renews an expired record in the middle: kept */
        if (steps == 1) {
            struct screen_stamps fresh = {{now + 9, now + 9, 1, 1, 1}};
            assert_int_equal(screen_cache_update(c, "172.16.3.230", &fresh, SCREEN_ALL_TESTS), 0);
            keep++;
        }
    }
    assert_int_equal(rc, 0);
    assert_true(steps >= 1000 / 64 - 1);
    assert_int_equal(sw->retained, (unsigned)keep);
    assert_int_equal(sw->dropped, 1000u - (unsigned)keep);
    assert_int_equal(sw->running, 0);
    struct screen_stamps got;
    assert_int_equal(screen_cache_lookup(c, "172.16.0.0", &got), 1);  /* i=0 valid */
    assert_int_equal(screen_cache_lookup(c, "172.16.0.1", &got), 1);  /* in retention */
    assert_int_equal(screen_cache_lookup(c, "172.16.0.2", &got), 0);  /* dropped */
    assert_int_equal(screen_cache_lookup(c, "172.16.0.3", &got), 0);
    assert_int_equal(screen_cache_lookup(c, "172.16.3.230", &got), 1); /* renewed */
    /* the pass is recorded: not due again until the interval is over */
    assert_int_equal(screen_cache_sweep_due(c, now + 10, 3600), 0);
    assert_int_equal(screen_cache_sweep_due(c, now + 3600, 3600), 1);
    /* a second pass finds nothing more to drop; the stamp key survives */
    memset(sw, 0, sizeof(*sw));
    while ((rc = screen_cache_sweep_step(c, sw, en, now, ret, 0)) == 1)
        ;
    assert_int_equal(rc, 0);
    assert_int_equal(sw->dropped, 0);
    assert_int_equal(sw->retained, (unsigned)keep);
    assert_int_equal(screen_cache_sweep_due(c, now + 10, 3600), 0);
    free(sw);
    screen_cache_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_todo_format),
        cmocka_unit_test(test_keep_allowlist),
        cmocka_unit_test_setup_teardown(test_store_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
