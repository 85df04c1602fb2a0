/*
 * test_queue_pool.c - the queue-file inode pool of lib/queue_dir.h
 * (queue_directory/free/): qdir_recycle's bound and size limit, the
 * names qdir_pool_next hands out and its back-off on an empty pool,
 * qdir_clean_pool's idea of a slot name, a tree without free/, and that
 * free/ is never a queue (scan, find, rename refuse it). Real files in a
 * temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue_dir.h"

static char top[64];

static int setup(void **state)
{
    (void)state;
    snprintf(top, sizeof(top), "/tmp/mxq-pool-XXXXXX");
    if (!mkdtemp(top))
        return -1;
    return qdir_create(top, getuid(), getgid());
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(int dirfd, const char *name, size_t size)
{
    int fd = openat(dirfd, name, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(fd >= 0);
    if (size)
        assert_int_equal(ftruncate(fd, (off_t)size), 0);
    close(fd);
}

static unsigned count(int dirfd)
{
    unsigned n = 0;
    for (unsigned s = 0; s < QDIR_POOL_SLOTS + 10; s++) {
        char name[16];
        snprintf(name, sizeof(name), "p-%u", s);
        n += faccessat(dirfd, name, F_OK, 0) == 0;
    }
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_recycle_and_take(void **state)
{
    (void)state;
    struct qdir q;
    assert_int_equal(qdir_open(top, &q), 0);
    assert_true(q.fd[QDIR_FREE] >= 0);
    char name[QDIR_POOL_NAME_MAX];
    assert_int_equal(qdir_pool_next(&q, name), -ENOENT); /* empty */

    put(q.fd[QDIR_ACTIVE], "M1", 4000);
    struct stat st1;
    assert_int_equal(fstatat(q.fd[QDIR_ACTIVE], "M1", &st1, 0), 0);
    assert_int_equal(qdir_recycle(&q, "M1", QDIR_ACTIVE, 4000), 1);
    assert_int_equal(qdir_find(&q, "M1"), -ENOENT);
    assert_int_equal(count(q.fd[QDIR_FREE]), 1);

    sleep_ms(QDIR_POOL_EMPTY_MS * 3); /* free/ was found empty: read again after that */
    assert_int_equal(qdir_pool_next(&q, name), 0);
    struct stat st2;
    assert_int_equal(fstatat(q.fd[QDIR_FREE], name, &st2, 0), 0);
    assert_int_equal(st1.st_ino, st2.st_ino); /* the very file */
    /* handed out once per read: the next call reads free/ again */
    assert_int_equal(renameat(q.fd[QDIR_FREE], name, q.fd[QDIR_TMP], "1.M1"), 0);
    assert_int_equal(qdir_pool_next(&q, name), -ENOENT);
    assert_int_equal(unlinkat(q.fd[QDIR_TMP], "1.M1", 0), 0);

    /* too large to keep: unlinked */
    put(q.fd[QDIR_DEFERRED], "M2", QDIR_POOL_FILE_MAX + 1);
    assert_int_equal(qdir_recycle(&q, "M2", QDIR_DEFERRED, QDIR_POOL_FILE_MAX + 1), 0);
    assert_int_equal(qdir_find(&q, "M2"), -ENOENT);
    assert_int_equal(count(q.fd[QDIR_FREE]), 0);

    assert_int_equal(qdir_recycle(&q, "M3", QDIR_ACTIVE, 10), -ENOENT);
    assert_int_equal(qdir_recycle(&q, "../x", QDIR_ACTIVE, 10), -EINVAL);
    assert_int_equal(qdir_recycle(&q, "M3", QDIR_FREE, 10), -EINVAL);
    qdir_close(&q);
}

static void test_bound(void **state)
{
    (void)state;
    struct qdir q;
    assert_int_equal(qdir_open(top, &q), 0);
    int pooled = 0, unlinked = 0;
    for (unsigned i = 0; i < QDIR_POOL_SLOTS + 20; i++) {
        char id[16];
        snprintf(id, sizeof(id), "B%u", i);
        put(q.fd[QDIR_ACTIVE], id, 100);
        int rc = qdir_recycle(&q, id, QDIR_ACTIVE, 100);
        assert_true(rc == 0 || rc == 1);
        pooled += rc == 1;
        unlinked += rc == 0;
        assert_int_equal(qdir_find(&q, id), -ENOENT);
    }
    assert_int_equal(pooled, QDIR_POOL_SLOTS);
    assert_int_equal(unlinked, 20);
    assert_int_equal(count(q.fd[QDIR_FREE]), QDIR_POOL_SLOTS);

    /* every name handed out is a distinct pooled file */
    sleep_ms(QDIR_POOL_EMPTY_MS * 3);
    char seen[QDIR_POOL_SLOTS][QDIR_POOL_NAME_MAX];
    for (unsigned i = 0; i < QDIR_POOL_SLOTS; i++) {
        assert_int_equal(qdir_pool_next(&q, seen[i]), 0);
        assert_int_equal(faccessat(q.fd[QDIR_FREE], seen[i], F_OK, 0), 0);
        for (unsigned k = 0; k < i; k++)
            assert_string_not_equal(seen[k], seen[i]);
    }
    qdir_close(&q);
}

static void test_stale(void **state)
{
    (void)state;
    struct qdir q;
    assert_int_equal(qdir_open(top, &q), 0);
    put(q.fd[QDIR_FREE], "p-1", 1);
    put(q.fd[QDIR_FREE], "p-2", 1);
    put(q.fd[QDIR_FREE], "p-3", 1);
    char name[QDIR_POOL_NAME_MAX];
    assert_int_equal(qdir_pool_next(&q, name), 0); /* reads the three */
    /* another worker empties the pool and the runner fills another slot */
    unlinkat(q.fd[QDIR_FREE], "p-1", 0);
    unlinkat(q.fd[QDIR_FREE], "p-2", 0);
    unlinkat(q.fd[QDIR_FREE], "p-3", 0);
    put(q.fd[QDIR_FREE], "p-50", 1);
    qdir_pool_stale(&q);
    assert_int_equal(qdir_pool_next(&q, name), 0);
    assert_string_equal(name, "p-50");
    qdir_close(&q);
}

static void test_clean(void **state)
{
    (void)state;
    struct qdir q;
    assert_int_equal(qdir_open(top, &q), 0);
    static const char *const keep[] = {"p-0", "p-5", "p-127"};
    static const char *const junk[] = {"p-128", "p-999", "p-007", "p-", "p-12x", "P-1",
                                       "ABC", "p-1.tmp", "p--1", "p-4294967301"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        put(q.fd[QDIR_FREE], keep[i], 1);
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        put(q.fd[QDIR_FREE], junk[i], 1);
    assert_int_equal(mkdirat(q.fd[QDIR_FREE], "adir", 0700), 0);
    assert_int_equal(qdir_clean_pool(&q), (int)(sizeof(junk) / sizeof(junk[0])));
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        assert_int_equal(faccessat(q.fd[QDIR_FREE], keep[i], F_OK, 0), 0);
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        assert_int_not_equal(faccessat(q.fd[QDIR_FREE], junk[i], F_OK, 0), 0);
    assert_int_equal(unlinkat(q.fd[QDIR_FREE], "adir", AT_REMOVEDIR), 0);

    /* the pool is not a queue */
    int n = 0;
    assert_int_equal(qdir_scan(&q, QDIR_FREE, NULL, &n), -EINVAL);
    put(q.fd[QDIR_INCOMING], "M9", 1);
    assert_int_equal(qdir_rename(&q, "M9", QDIR_INCOMING, QDIR_FREE), -EINVAL);
    assert_int_equal(qdir_find(&q, "M9"), QDIR_INCOMING);
    unlinkat(q.fd[QDIR_INCOMING], "M9", 0);
    qdir_close(&q);
}

static void test_no_pool_dir(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof(p), "%s/free", top);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
    assert_int_equal(system(cmd), 0);
    struct qdir q;
    assert_int_equal(qdir_open(top, &q), 0); /* a tree from before the pool */
    assert_int_equal(q.fd[QDIR_FREE], -1);
    char name[QDIR_POOL_NAME_MAX];
    assert_int_equal(qdir_pool_next(&q, name), -ENOENT);
    put(q.fd[QDIR_ACTIVE], "M1", 10);
    assert_int_equal(qdir_recycle(&q, "M1", QDIR_ACTIVE, 10), 0);
    assert_int_equal(qdir_find(&q, "M1"), -ENOENT);
    assert_int_equal(qdir_clean_pool(&q), 0);
    qdir_close(&q);
    assert_int_equal(qdir_create(top, getuid(), getgid()), 0); /* brings it back */
    assert_int_equal(qdir_open(top, &q), 0);
    assert_true(q.fd[QDIR_FREE] >= 0);
    qdir_close(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recycle_and_take, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_pool_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
