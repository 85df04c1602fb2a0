/* test_tls_scache.c - smtp_tls_session_cache_database: Postfix's
 * TLS_SCACHE_ENTRY hex format (byte order of the stamp, upper-case digits,
 * the nasty values: odd length, non-hex, short, early NUL, too big for
 * the buffer), the expiry rule, and the LMDB store: map names, an entry
 * saved by one process and read by another, expired and malformed entries
 * dropped on lookup, and the bounded sweep over more records than a
 * batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tls_scache.h"

static void test_encode_format(void **state)
{
    (void)state;
    char out[64];
    /* stamp little endian first (time_t on amd64), then the session */
    long n = tls_scache_encode(0x0102030405060708LL, "AB\xff", 3, out, sizeof(out));
    assert_int_equal(n, 22);
    assert_string_equal(out, "080706050403020141" "42FF");
    /* exactly the room needed (NUL included), and one byte less */
    assert_int_equal(tls_scache_encode(1, "A", 1, out, 19), 18);
    assert_int_equal(tls_scache_encode(1, "A", 1, out, 18), -ENOSPC);
}

struct dcase {
    const char *in;
    size_t len; /* 0: strlen */
    size_t cap;
    enum tls_scache_decode want;
    int64_t stamp;
    const char *sess;
    size_t slen;
};

static const struct dcase dcases[] = {
    {"0807060504030201" "4142FF", 0, 16, TLS_SCACHE_OK, 0x0102030405060708LL, "AB\xff", 3},
    /* lower case, as Postfix's hex_decode takes it */
    {"0807060504030201" "4142ff", 0, 16, TLS_SCACHE_OK, 0x0102030405060708LL, "AB\xff", 3},
    /* a stamp and no session: decodes (the TLS layer refuses it later) */
    {"E803000000000000", 0, 16, TLS_SCACHE_OK, 1000, "", 0},
    /* the NUL stored after the value ends it */
    {"E803000000000000" "41\0" "42", 21, 16, TLS_SCACHE_OK, 1000, "A", 1},
    {"E803000000000000" "4", 0, 16, TLS_SCACHE_MALFORMED, 0, NULL, 0},   /* odd */
    {"E80300000000000", 0, 16, TLS_SCACHE_MALFORMED, 0, NULL, 0},        /* short stamp */
    {"", 0, 16, TLS_SCACHE_MALFORMED, 0, NULL, 0},
    {"E803000000000000" "4G", 0, 16, TLS_SCACHE_MALFORMED, 0, NULL, 0},  /* not hex */
    {"E80300000000000 " "41", 0, 16, TLS_SCACHE_MALFORMED, 0, NULL, 0},  /* in the stamp */
    {"\0E803000000000000", 17, 16, TLS_SCACHE_MALFORMED, 0, NULL, 0},
    {"E803000000000000" "414243", 0, 2, TLS_SCACHE_TOO_BIG, 0, NULL, 0},
    {"E803000000000000" "4142", 0, 2, TLS_SCACHE_OK, 1000, "AB", 2},    /* fits exactly */
    /* negative stamp bytes: stored as written, expiry judges it */
    {"FFFFFFFFFFFFFFFF", 0, 16, TLS_SCACHE_OK, -1, "", 0},
};

static void test_decode_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
        const struct dcase *c = &dcases[i];
        unsigned char out[16];
        int64_t stamp = 77;
        size_t n = 99;
        size_t len = c->len ? c->len : strlen(c->in);
        enum tls_scache_decode r = tls_scache_decode(c->in, len, &stamp, out, c->cap, &n);
        if (r != c->want)
            fail_msg("case %zu \"%s\": got %d want %d", i, c->in, r, c->want);
        if (r == TLS_SCACHE_OK) {
            assert_int_equal(stamp, c->stamp);
            assert_int_equal(n, c->slen);
            assert_memory_equal(out, c->sess, c->slen);
        }
    }
}

static void test_roundtrip(void **state)
{
    (void)state;
    unsigned char der[300], back[300];
    char hex[1000];
    for (size_t i = 0; i < sizeof(der); i++)
        der[i] = (unsigned char)(i * 7);
    long n = tls_scache_encode(1700000000, der, sizeof(der), hex, sizeof(hex));
    assert_true(n > 0);
    int64_t stamp;
    size_t len;
    assert_int_equal(tls_scache_decode(hex, (size_t)n, &stamp, back, sizeof(back), &len),
                     TLS_SCACHE_OK);
    assert_int_equal(stamp, 1700000000);
    assert_int_equal(len, sizeof(der));
    assert_memory_equal(back, der, len);
}

static void test_expired(void **state)
{
    (void)state;
    /* Postfix: stamp + timeout < now */
    assert_false(tls_scache_expired(1000, 4600, 3600));
    assert_true(tls_scache_expired(1000, 4601, 3600));
    assert_false(tls_scache_expired(1000, 1000, 0));
    assert_true(tls_scache_expired(1000, 1001, 0));
    /* from the future beyond the timeout: not trusted to live forever */
    assert_false(tls_scache_expired(4600, 1000, 3600));
    assert_true(tls_scache_expired(4601, 1000, 3600));
    assert_true(tls_scache_expired(-1, 1000, 3600));
}

/* ---- the store ---- */

static char dir[] = "/tmp/test_tls_scache.XXXXXX";
static char ref[200];

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(ref, sizeof(ref), "btree:%s/smtp_scache", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_open_names(void **state)
{
    (void)state;
    struct tls_scache *c;
    char err[300];
    assert_int_equal(tls_scache_open("texthash:/x", 10, &c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unsupported map type"));
    assert_int_equal(tls_scache_open("btree:", 10, &c, err, sizeof(err)), -EINVAL);
    assert_int_equal(tls_scache_open("/plain/path", 10, &c, err, sizeof(err)), -EINVAL);
    assert_int_equal(tls_scache_open("btree:/nonexistent/dir/x", 10, &c, err, sizeof(err)),
                     -ENOENT);
    char r2[220];
    snprintf(r2, sizeof(r2), "proxy:lmdb:%s/other", dir);
    assert_int_equal(tls_scache_open(r2, 10, &c, err, sizeof(err)), 0);
    assert_non_null(strstr(tls_scache_path(c), "/other.lmdb"));
    tls_scache_close(c);
}

static void test_store_across_processes(void **state)
{
    (void)state;
    char err[300];
    unsigned char out[64];
    size_t n;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* another process, its own environment, as a worker would */
        struct tls_scache *w;
        if (tls_scache_open(ref, 3600, &w, err, sizeof(err)) < 0)
            _exit(1);
        int rc = tls_scache_update(w, "mx.example:192.0.2.1:25::2", "SESSION", 7, 5000);
        tls_scache_close(w);
        _exit(rc == 0 ? 0 : 2);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct tls_scache *c;
    assert_int_equal(tls_scache_open(ref, 3600, &c, err, sizeof(err)), 0);
    assert_int_equal(tls_scache_lookup(c, "mx.example:192.0.2.1:25::2", 5000, out, sizeof(out),
                                       &n), 1);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "SESSION", 7);
    /* other ids, and ids no entry can have */
    assert_int_equal(tls_scache_lookup(c, "mx.example:192.0.2.1:25::3", 5000, out, sizeof(out),
                                       &n), 0);
    assert_int_equal(tls_scache_lookup(c, "", 5000, out, sizeof(out), &n), 0);
    assert_int_equal(tls_scache_update(c, "_LAST", "x", 1, 5000), -EINVAL);
    assert_int_equal(tls_scache_update(c, "k", "x", 0, 5000), -EINVAL);
    /* too big for the caller's buffer: not found, and kept */
    assert_int_equal(tls_scache_lookup(c, "mx.example:192.0.2.1:25::2", 5000, out, 3, &n), 0);
    /* still fresh at stamp + timeout, gone one second later (and deleted) */
    assert_int_equal(tls_scache_lookup(c, "mx.example:192.0.2.1:25::2", 8600, out, sizeof(out),
                                       &n), 1);
    assert_int_equal(tls_scache_lookup(c, "mx.example:192.0.2.1:25::2", 8601, out, sizeof(out),
                                       &n), 0);
    assert_int_equal(tls_scache_delete(c, "mx.example:192.0.2.1:25::2"), 0);
    /* replace, delete */
    assert_int_equal(tls_scache_update(c, "a", "one", 3, 100), 0);
    assert_int_equal(tls_scache_update(c, "a", "two!", 4, 200), 0);
    assert_int_equal(tls_scache_lookup(c, "a", 200, out, sizeof(out), &n), 1);
    assert_int_equal(n, 4);
    assert_int_equal(tls_scache_delete(c, "a"), 1);
    assert_int_equal(tls_scache_delete(c, "a"), 0);
    tls_scache_close(c);
}

/* A value Postfix or a broken writer left: raw LMDB put. */
static void raw_put(const char *key, const char *val)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/smtp_scache.lmdb", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    MDB_val k = {strlen(key) + 1, (void *)key}, v = {strlen(val) + 1, (void *)val};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_malformed_dropped(void **state)
{
    (void)state;
    char err[300];
    unsigned char out[64];
    size_t n;
    raw_put("bad", "not hex at all");
    raw_put("good", "E803000000000000" "414243");
    struct tls_scache *c;
    assert_int_equal(tls_scache_open(ref, 3600, &c, err, sizeof(err)), 0);
    assert_int_equal(tls_scache_lookup(c, "bad", 1000, out, sizeof(out), &n), 0);
    assert_int_equal(tls_scache_delete(c, "bad"), 0); /* the lookup removed it */
    assert_int_equal(tls_scache_lookup(c, "good", 1000, out, sizeof(out), &n), 1);
    assert_memory_equal(out, "ABC", 3);
    assert_int_equal(tls_scache_delete(c, "good"), 1);
    tls_scache_close(c);
}

static void test_sweep(void **state)
{
    (void)state;
    char err[300], id[32];
    struct tls_scache *c;
    assert_int_equal(tls_scache_open(ref, 100, &c, err, sizeof(err)), 0);
    /* 300 entries: even ones old, odd ones fresh; plus a '_' key and junk */
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "host%03d:192.0.2.%d:25", i, i % 250);
        assert_int_equal(tls_scache_update(c, id, "S", 1, i % 2 ? 10000 : 1000), 0);
    }
    tls_scache_close(c);
    raw_put("_LAST_CACHE_CLEANUP_COMPLETED_", "1");
    raw_put("junk", "zz");
    assert_int_equal(tls_scache_open(ref, 100, &c, err, sizeof(err)), 0);
    static struct tls_scache_sweep sw;
    memset(&sw, 0, sizeof(sw));
    int steps = 0, rc;
    while ((rc = tls_scache_sweep_step(c, &sw, 10050, 40)) == 1)
        steps++;
    assert_int_equal(rc, 0);
    assert_true(steps >= 7); /* 302 records, 40 a step */
    assert_int_equal(sw.dropped, 151);  /* 150 old + the junk */
    assert_int_equal(sw.retained, 151); /* 150 fresh + the '_' key */
    unsigned char out[8];
    size_t n;
    assert_int_equal(tls_scache_lookup(c, "host001:192.0.2.1:25", 10050, out, sizeof(out), &n),
                     1);
    assert_int_equal(tls_scache_delete(c, "host000:192.0.2.0:25"), 0);
    /* a second pass finds nothing more to drop */
    memset(&sw, 0, sizeof(sw));
    while ((rc = tls_scache_sweep_step(c, &sw, 10050, 0)) == 1)
        ;
    assert_int_equal(rc, 0);
    assert_int_equal(sw.dropped, 0);
    assert_int_equal(sw.retained, 151);
    tls_scache_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_format),
        cmocka_unit_test(test_decode_table),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_open_names),
        cmocka_unit_test(test_store_across_processes),
        cmocka_unit_test(test_malformed_dropped),
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
