/* test_segment.c - the policy segment: allocation and alignment, growth
 * without moving, seal (trimmed, sealed, read-only: a write faults), and a
 * forked child seeing the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "segment.h"

struct align_case {
    size_t first;   /* a first allocation of this size */
    size_t align;   /* then one aligned to this */
    int rc;
};

static const struct align_case align_cases[] = {
    {1, 8, 0},
    {3, 64, 0},
    {65, 16, 0},
    {7, 4096, 0},
    {0, 1, 0},
    {1, 0, -EINVAL},    /* not a power of two */
    {1, 24, -EINVAL},
    {1, 8192, -EINVAL}, /* more than a page: the base is only page-aligned */
};

static void test_alignment(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(align_cases) / sizeof(align_cases[0]); i++) {
        const struct align_case *c = &align_cases[i];
        struct segment *s;
        void *a, *b;
        assert_int_equal(segment_create(1, 1 << 20, &s), 0);
        assert_int_equal(segment_alloc(s, c->first, 1, &a), 0);
        int rc = segment_alloc(s, 100, c->align, &b);
        assert_int_equal(rc, c->rc);
        if (rc == 0) {
            assert_int_equal((uintptr_t)b % c->align, 0);
            assert_true((char *)b >= (char *)a + c->first);
            assert_true(segment_contains(s, b));
            /* fresh memory is zero and writable */
            for (size_t k = 0; k < 100; k++)
                assert_int_equal(((unsigned char *)b)[k], 0);
            memset(b, 0xab, 100);
        } else {
            assert_null(b);
        }
        segment_free(s);
    }
}

/* Many allocations across several grows: earlier memory never moves and
 * keeps its contents; the reservation is a hard limit. */
static void test_grow(void **state)
{
    (void)state;
    struct segment *s;
    assert_int_equal(segment_create(2, 8 << 20, &s), 0);
    unsigned char *blocks[40];
    for (int i = 0; i < 40; i++) {
        void *p;
        assert_int_equal(segment_alloc(s, 100000, 8, &p), 0);
        blocks[i] = p;
        memset(p, i + 1, 100000);
    }
    for (int i = 0; i < 40; i++) {
        assert_int_equal(blocks[i][0], i + 1);
        assert_int_equal(blocks[i][99999], i + 1);
        if (i)
            assert_true(blocks[i] >= blocks[i - 1] + 100000);
    }
    struct segment_stats st;
    segment_stats(s, &st);
    assert_int_equal(st.used, 40 * 100000);
    assert_true(st.mapped >= st.used);
    void *p;
    assert_int_equal(segment_alloc(s, 8 << 20, 8, &p), -ENOSPC);
    assert_int_equal(segment_alloc(s, SIZE_MAX, 8, &p), -ENOSPC);
    assert_null(p);
    /* what fits still fits after a refusal */
    assert_int_equal(segment_alloc(s, 1000, 8, &p), 0);
    segment_free(s);
}

static void test_seal(void **state)
{
    (void)state;
    struct segment *s;
    void *p;
    assert_int_equal(segment_create(3, 0, &s), 0);
    assert_int_equal(segment_alloc(s, 5000, 8, &p), 0);
    memcpy(p, "policy", 7);
    segment_count_database(s);
    segment_count_database(s);
    assert_int_equal(segment_seal(s), 0);
    assert_int_equal(segment_seal(s), 0); /* idempotent */

    struct segment_stats st;
    segment_stats(s, &st);
    assert_int_equal(st.used, 5000);
    assert_int_equal(st.databases, 2);
    assert_true(st.sealed);
    assert_string_equal(p, "policy"); /* same address, same bytes */

    /* trimmed to the bytes used, and every seal in place */
    struct stat sb;
    assert_int_equal(fstat(segment_fd(s), &sb), 0);
    assert_int_equal(sb.st_size, 5000);
    int seals = fcntl(segment_fd(s), F_GET_SEALS);
    assert_int_equal(seals & (F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_WRITE | F_SEAL_SEAL),
                     F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_WRITE | F_SEAL_SEAL);
    assert_true(ftruncate(segment_fd(s), 8192) < 0);
    assert_int_equal(errno, EPERM);
    assert_true(pwrite(segment_fd(s), "x", 1, 0) < 0);
    assert_int_equal(errno, EPERM);
    /* nobody can map it writable again, nor make this mapping writable */
    assert_true(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, segment_fd(s), 0) ==
                MAP_FAILED);
    uintptr_t page = (uintptr_t)p & ~(uintptr_t)4095;
    assert_int_not_equal(mprotect((void *)page, 4096, PROT_READ | PROT_WRITE), 0);

    assert_int_equal(segment_alloc(s, 1, 1, &p), -EPERM);
    segment_free(s);
}

static void test_seal_empty(void **state)
{
    (void)state;
    struct segment *s;
    assert_int_equal(segment_create(4, 0, &s), 0);
    assert_int_equal(segment_seal(s), 0);
    struct segment_stats st;
    segment_stats(s, &st);
    assert_int_equal(st.used, 0);
    assert_int_equal(st.mapped, 0);
    segment_free(s);
}

/* Fork a child running fn(p); return its wait status. */
static int in_child(void (*fn)(volatile unsigned char *), volatile unsigned char *p)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        fn(p);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void child_write(volatile unsigned char *p)
{
    p[0] = 'X';
    _exit(3); /* the write went through: a failure the parent sees */
}

static void child_check(volatile unsigned char *p)
{
    _exit(memcmp((const void *)p, "shared bytes", 13) == 0 && p[4095] == 0x5a ? 0 : 4);
}

static void test_child_after_seal(void **state)
{
    (void)state;
    struct segment *s;
    void *p;
    assert_int_equal(segment_create(5, 0, &s), 0);
    assert_int_equal(segment_alloc(s, 4096, 64, &p), 0);
    memcpy(p, "shared bytes", 13);
    ((unsigned char *)p)[4095] = 0x5a;
    assert_int_equal(segment_seal(s), 0);

    int status = in_child(child_check, p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    status = in_child(child_write, p);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    assert_int_equal(((unsigned char *)p)[0], 's');
    segment_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_seal),
        cmocka_unit_test(test_seal_empty),
        cmocka_unit_test(test_child_after_seal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
