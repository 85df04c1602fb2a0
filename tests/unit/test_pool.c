/*
 * test_pool.c - fixed object pools: exhaustion gives NULL and recovers,
 * double and foreign puts are refused without damage, generations expose
 * a stale reference, objects come back zeroed, a big idle pool stays out
 * of resident memory, and random get/put traffic keeps every object unique.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

struct conn {
    int fd;
    char buf[300];
};

static void init_rejects_bad_sizes(void **state)
{
    (void)state;
    struct pool p;
    assert_int_equal(pool_init(&p, "x", 0, 10), -EINVAL);
    assert_int_equal(pool_init(&p, "x", 16, 0), -EINVAL);
    assert_int_equal(pool_init(&p, "x", 16, POOL_MAX_OBJECTS + 1), -EINVAL);
    assert_int_equal(pool_init(&p, "x", POOL_MAX_OBJ_SIZE + 1, 1), -EINVAL);
    assert_int_equal(pool_init(&p, "x", 1, 1), 0);
    assert_true(p.stride >= 1 && p.stride % sizeof(void *) == 0);
    pool_destroy(&p);
}

static void exhaustion_returns_null_then_recovers(void **state)
{
    (void)state;
    struct pool p;
    struct conn *c[3];

    assert_int_equal(pool_init(&p, "conn", sizeof(struct conn), 3), 0);
    for (int i = 0; i < 3; i++) {
        c[i] = pool_get(&p);
        assert_non_null(c[i]);
        c[i]->fd = i;
    }
    assert_true(c[0] != c[1] && c[1] != c[2] && c[0] != c[2]);
    assert_int_equal(pool_in_use(&p), 3);
    /* Dry: NULL, as often as asked, and nothing else changes. */
    for (int i = 0; i < 5; i++)
        assert_null(pool_get(&p));
    assert_int_equal(c[2]->fd, 2);
    assert_int_equal(pool_put(&p, c[1]), 0);
    struct conn *again = pool_get(&p);
    assert_ptr_equal(again, c[1]);
    assert_null(pool_get(&p));
    for (int i = 0; i < 3; i++)
        assert_int_equal(pool_put(&p, c[i]), 0);
    assert_int_equal(pool_in_use(&p), 0);
    pool_destroy(&p);
}

static void double_and_foreign_puts_are_refused(void **state)
{
    (void)state;
    struct pool p;
    struct conn outside;

    assert_int_equal(pool_init(&p, "conn", sizeof(struct conn), 4), 0);
    struct conn *a = pool_get(&p);
    struct conn *b = pool_get(&p);
    assert_int_equal(pool_put(&p, a), 0);
    assert_int_equal(pool_put(&p, a), -EALREADY);
    assert_int_equal(pool_in_use(&p), 1);
    assert_int_equal(pool_put(&p, &outside), -EINVAL);
    assert_int_equal(pool_put(&p, NULL), -EINVAL);
    assert_int_equal(pool_put(&p, (char *)b + 1), -EINVAL);
    assert_int_equal(pool_put(&p, p.base + p.map_len), -EINVAL);
    /* A never-used object is free too. */
    assert_int_equal(pool_put(&p, p.base + 3 * p.stride), -EALREADY);
    /* The refused puts did not corrupt the free stack: exactly 3 left. */
    assert_int_equal(pool_in_use(&p), 1);
    void *x[3];
    for (int i = 0; i < 3; i++) {
        x[i] = pool_get(&p);
        assert_non_null(x[i]);
        assert_true(x[i] != b);
    }
    assert_true(x[0] != x[1] && x[1] != x[2] && x[0] != x[2]);
    assert_null(pool_get(&p));
    pool_destroy(&p);
}

static void generations_expose_stale_references(void **state)
{
    (void)state;
    struct pool p;

    assert_int_equal(pool_init(&p, "conn", sizeof(struct conn), 2), 0);
    struct conn *a = pool_get(&p);
    uint32_t idx = pool_index(&p, a), g1 = pool_gen(&p, a);
    assert_true(g1 & 1u);
    assert_ptr_equal(pool_lookup(&p, idx, g1), a);
    assert_int_equal(pool_put(&p, a), 0);
    /* Freed: the old reference is dead even before reuse. */
    assert_null(pool_lookup(&p, idx, g1));
    assert_null(pool_lookup(&p, idx, g1 + 1));
    struct conn *b = pool_get(&p);
    assert_ptr_equal(b, a); /* LIFO: same slot, new life */
    uint32_t g2 = pool_gen(&p, b);
    assert_true(g2 != g1);
    assert_null(pool_lookup(&p, idx, g1));
    assert_ptr_equal(pool_lookup(&p, idx, g2), b);
    assert_null(pool_lookup(&p, 2, g2));
    assert_null(pool_lookup(&p, UINT32_MAX, g2));
    pool_destroy(&p);
}

static void objects_come_back_zeroed(void **state)
{
    (void)state;
    struct pool p;

    assert_int_equal(pool_init(&p, "conn", sizeof(struct conn), 1), 0);
    struct conn *a = pool_get(&p);
    memset(a, 0x3c, sizeof(*a));
    assert_int_equal(pool_put(&p, a), 0);
#if !defined(NDEBUG) && !defined(TEST_ASAN)
    /* Debug builds scribble over a freed object (use after put shows). */
    assert_int_equal((unsigned char)a->buf[10], 0xa5);
#endif
    a = pool_get(&p);
    for (size_t i = 0; i < sizeof(a->buf); i++)
        assert_int_equal(a->buf[i], 0);
    assert_int_equal(a->fd, 0);
    pool_destroy(&p);
}

/* pool_set_clear_len: only the head is zeroed (and scribbled over at put
 * in debug builds); the tail keeps what its last user wrote. */
static void clear_len_zeroes_only_the_head(void **state)
{
    (void)state;
    struct pool p;
    enum { SIZE = 256, HEAD = 40 };

    assert_int_equal(pool_init(&p, "head", SIZE, 1), 0);
    pool_set_clear_len(&p, SIZE * 4); /* clamped to the object */
    assert_int_equal(p.clear_len, SIZE);
    pool_set_clear_len(&p, HEAD);
    unsigned char *a = pool_get(&p);
    for (size_t i = 0; i < SIZE; i++)
        assert_int_equal(a[i], 0); /* a fresh mapping is zero anyway */
    memset(a, 0x3c, SIZE);
    assert_int_equal(pool_put(&p, a), 0);
#if !defined(NDEBUG) && !defined(TEST_ASAN)
    assert_int_equal(a[HEAD - 1], 0xa5);
    assert_int_equal(a[HEAD], 0x3c);
#endif
    a = pool_get(&p);
    for (size_t i = 0; i < HEAD; i++)
        assert_int_equal(a[i], 0);
    for (size_t i = HEAD; i < SIZE; i++)
        assert_int_equal(a[i], 0x3c);
    pool_destroy(&p);
}

/* Spares: up to POOL_SPARES_MAX kept, handed back last in first out, then
 * NULL; under AddressSanitizer none is kept (the caller frees). */
static void spares_keep_a_few_lifo(void **state)
{
    (void)state;
    struct pool_spares sp = {0};
    static char objs[POOL_SPARES_MAX + 1][8];

    assert_null(pool_spares_take(&sp));
    assert_false(pool_spares_keep(&sp, NULL));
    for (int i = 0; i < POOL_SPARES_MAX; i++) {
#ifdef TEST_ASAN
        assert_false(pool_spares_keep(&sp, objs[i]));
#else
        assert_true(pool_spares_keep(&sp, objs[i]));
#endif
    }
    assert_false(pool_spares_keep(&sp, objs[POOL_SPARES_MAX])); /* full: free it */
#ifndef TEST_ASAN
    for (int i = POOL_SPARES_MAX - 1; i >= 0; i--)
        assert_ptr_equal(pool_spares_take(&sp), objs[i]);
#endif
    assert_null(pool_spares_take(&sp));
}

static long resident_kib(void)
{
    long size, res;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &size, &res), 2);
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void idle_capacity_is_not_resident(void **state)
{
    (void)state;
    struct pool p;
    const uint32_t cap = 100000;

    long before = resident_kib();
    assert_int_equal(pool_init(&p, "storm", 1024, cap), 0);
    for (int i = 0; i < 100; i++)
        assert_non_null(pool_get(&p));
    long grown = resident_kib() - before;
    print_message("pool of %u x %zu bytes: resident +%ld KiB\n", cap, p.stride, grown);
    /* 100 MB reserved; the bookkeeping (8 bytes per object) and the
     * AddressSanitizer shadow may be resident, the objects may not. */
    assert_true(grown < (long)(cap * p.stride / 1024 / 4));
    pool_destroy(&p);
}

static void random_traffic_keeps_objects_unique(void **state)
{
    (void)state;
    enum { CAP = 257 };
    struct pool p;
    struct conn *held[CAP];
    uint32_t nheld = 0, seed = 12345;

    assert_int_equal(pool_init(&p, "conn", sizeof(struct conn), CAP), 0);
    for (int op = 0; op < 200000; op++) {
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 3 != 0) {
            struct conn *c = pool_get(&p);
            if (nheld == CAP) {
                assert_null(c);
                continue;
            }
            assert_non_null(c);
            assert_int_equal(c->fd, 0);
            c->fd = op + 1;
            held[nheld++] = c;
        } else if (nheld) {
            uint32_t i = (seed >> 8) % nheld;
            struct conn *c = held[i];
            /* Nobody else was handed this object while we held it. */
            assert_true(c->fd > 0);
            assert_ptr_equal(pool_lookup(&p, pool_index(&p, c), pool_gen(&p, c)), c);
            assert_int_equal(pool_put(&p, c), 0);
            held[i] = held[--nheld];
        }
        assert_int_equal(pool_in_use(&p), nheld);
    }
    pool_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_rejects_bad_sizes),
        cmocka_unit_test(exhaustion_returns_null_then_recovers),
        cmocka_unit_test(double_and_foreign_puts_are_refused),
        cmocka_unit_test(generations_expose_stale_references),
        cmocka_unit_test(objects_come_back_zeroed),
        cmocka_unit_test(clear_len_zeroes_only_the_head),
        cmocka_unit_test(spares_keep_a_few_lifo),
        cmocka_unit_test(idle_capacity_is_not_resident),
        cmocka_unit_test(random_traffic_keeps_objects_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
