/* test_anvil.c - the shared per-client table: keys and prefixes (IPv4 per
 * address or prefix, IPv6 per /64, IPv4-mapped as IPv4), count and rate
 * limits with the fixed window, stale slot reuse, the full table failing
 * open, attach by fd, a lock left by a killed process (also by a parent
 * whose pid its child must not take for its own), and several forked
 * processes hammering the table with exact counts at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "anvil.h"

static struct sockaddr_storage sa_of(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
        s6->sin6_family = AF_INET6;
    }
    return ss;
}

static struct anvil_key key_of(const struct anvil *a, const char *text)
{
    struct sockaddr_storage ss = sa_of(text);
    struct anvil_key k;
    assert_int_equal(anvil_key(a, (struct sockaddr *)&ss, &k), 0);
    return k;
}

static int same_key(const struct anvil *a, const char *x, const char *y)
{
    struct anvil_key kx = key_of(a, x), ky = key_of(a, y);
    return kx.tag == ky.tag && kx.k[0] == ky.k[0] && kx.k[1] == ky.k[1];
}

static void test_keys(void **state)
{
    (void)state;
    struct anvil a;
    assert_int_equal(anvil_create(NULL, &a), 0);
    assert_int_equal(a.sh->ipv4_prefix, 32);
    assert_int_equal(a.sh->ipv6_prefix, 64);
    assert_int_equal(a.sh->nbuckets * ANVIL_BUCKET_SLOTS, 65536);
    assert_true(same_key(&a, "192.0.2.1", "::ffff:192.0.2.1"));
    assert_false(same_key(&a, "192.0.2.1", "192.0.2.2"));
    assert_true(same_key(&a, "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"));
    assert_false(same_key(&a, "2001:db8:1:2::1", "2001:db8:1:3::1"));
    /* 0.0.0.0/32 and ::/64 are different clients */
    assert_false(same_key(&a, "0.0.0.0", "::"));
    char buf[64];
    struct anvil_key k = key_of(&a, "2001:db8:1:2:3:4:5:6");
    anvil_key_text(&k, buf, sizeof(buf));
    assert_string_equal(buf, "2001:db8:1:2::/64");
    k = key_of(&a, "::ffff:10.9.8.7");
    anvil_key_text(&k, buf, sizeof(buf));
    assert_string_equal(buf, "10.9.8.7");
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(anvil_key(&a, &un, &k), -EINVAL);
    anvil_detach(&a);

    struct anvil_opts o = {.ipv4_prefix = 24, .ipv6_prefix = 48, .slots = 100};
    assert_int_equal(anvil_create(&o, &a), 0);
    assert_int_equal(a.sh->nbuckets, 16); /* 100 slots -> 16 buckets of 8 */
    assert_true(same_key(&a, "192.0.2.1", "192.0.2.254"));
    assert_false(same_key(&a, "192.0.2.1", "192.0.3.1"));
    assert_true(same_key(&a, "2001:db8:1::1", "2001:db8:1:ffff::1"));
    assert_false(same_key(&a, "2001:db8:1::1", "2001:db8:2::1"));
    k = key_of(&a, "192.0.2.77");
    anvil_key_text(&k, buf, sizeof(buf));
    assert_string_equal(buf, "192.0.2.0/24");
    anvil_detach(&a);

    /* odd prefixes mask inside a byte */
    o = (struct anvil_opts){.ipv4_prefix = 20, .ipv6_prefix = 61};
    assert_int_equal(anvil_create(&o, &a), 0);
    assert_true(same_key(&a, "10.1.16.1", "10.1.31.255"));
    assert_false(same_key(&a, "10.1.16.1", "10.1.32.0"));
    assert_true(same_key(&a, "2001:db8:0:8::", "2001:db8:0:f::1"));
    assert_false(same_key(&a, "2001:db8:0:8::", "2001:db8:0:10::"));
    anvil_detach(&a);

    o = (struct anvil_opts){.ipv4_prefix = 33};
    assert_int_equal(anvil_create(&o, &a), -EINVAL);
    o = (struct anvil_opts){.ipv6_prefix = 129};
    assert_int_equal(anvil_create(&o, &a), -EINVAL);
}

static void test_limits(void **state)
{
    (void)state;
    struct anvil a;
    struct anvil_opts o = {.rate_unit_ms = 60000};
    assert_int_equal(anvil_create(&o, &a), 0);
    struct anvil_key k = key_of(&a, "192.0.2.1");
    struct anvil_counts c;
    int64_t t = 1000000;
    /* count limit 2, rate limit 4 per minute */
    assert_int_equal(anvil_connect(&a, &k, t, 2, 4, &c), ANVIL_OK);
    assert_int_equal(c.count, 1);
    assert_int_equal(anvil_connect(&a, &k, t + 1, 2, 4, &c), ANVIL_OK);
    assert_int_equal(anvil_connect(&a, &k, t + 2, 2, 4, &c), ANVIL_COUNT_LIMIT);
    assert_int_equal(c.count, 2);
    assert_int_equal(c.rate, 3); /* the refused attempt counts */
    assert_int_equal(anvil_disconnect(&a, &k, t + 3), 0);
    assert_int_equal(anvil_connect(&a, &k, t + 4, 2, 4, &c), ANVIL_OK);
    assert_int_equal(c.rate, 4);
    assert_int_equal(anvil_disconnect(&a, &k, t + 5), 0);
    /* the fifth attempt in the minute: rate limit (count not raised) */
    assert_int_equal(anvil_connect(&a, &k, t + 6, 2, 4, &c), ANVIL_RATE_LIMIT);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.rate, 5);
    /* 0 = no limit */
    assert_int_equal(anvil_connect(&a, &k, t + 7, 0, 0, &c), ANVIL_OK);
    assert_int_equal(c.count, 2);
    /* the fixed window ends 60 s after its first attempt */
    assert_int_equal(anvil_connect(&a, &k, t + 59999, 3, 4, &c), ANVIL_RATE_LIMIT);
    assert_int_equal(anvil_connect(&a, &k, t + 60000, 3, 4, &c), ANVIL_OK);
    assert_int_equal(c.rate, 1);
    assert_int_equal(c.count, 3);
    anvil_lookup(&a, &k, t + 60000, &c);
    assert_int_equal(c.count, 3);
    assert_int_equal(c.rate, 1);
    anvil_lookup(&a, &k, t + 120000, &c);
    assert_int_equal(c.rate, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(anvil_disconnect(&a, &k, t + 120000), 0);
    assert_int_equal(anvil_disconnect(&a, &k, t + 120000), -ENOENT);
    /* the slot was freed with its last connection (window over) */
    assert_int_equal(anvil_used(&a), 0);
    /* a client in another /64 is not affected */
    struct anvil_key k6 = key_of(&a, "2001:db8::1"), k6b = key_of(&a, "2001:db8::2");
    assert_int_equal(anvil_connect(&a, &k6, t, 1, 0, &c), ANVIL_OK);
    assert_int_equal(anvil_connect(&a, &k6b, t, 1, 0, &c), ANVIL_COUNT_LIMIT);
    struct anvil_key other = key_of(&a, "2001:db8:0:1::1");
    assert_int_equal(anvil_connect(&a, &other, t, 1, 0, &c), ANVIL_OK);
    anvil_reset(&a);
    assert_int_equal(anvil_used(&a), 0);
    assert_int_equal(anvil_disconnect(&a, &k6, t), -ENOENT);
    anvil_detach(&a);
}

static void test_full_and_stale(void **state)
{
    (void)state;
    struct anvil a;
    struct anvil_opts o = {.slots = 16, .rate_unit_ms = 1000};
    assert_int_equal(anvil_create(&o, &a), 0);
    assert_int_equal(a.sh->nbuckets, 2);
    struct anvil_counts c;
    char addr[64];
    int ok = 0, open = 0, okd[100];
    /* 100 clients over 2 buckets: with two choices each, both buckets fill
     * up (every slot used) and the rest fail open, not counted. */
    for (int i = 0; i < 100; i++) {
        snprintf(addr, sizeof(addr), "10.0.0.%d", i);
        struct anvil_key k = key_of(&a, addr);
        enum anvil_verdict v = anvil_connect(&a, &k, 5000, 0, 0, &c);
        okd[i] = v == ANVIL_OK;
        if (v == ANVIL_OK)
            ok++;
        else if (v == ANVIL_FAIL_OPEN)
            open++;
        else
            fail_msg("verdict %d", v);
    }
    assert_int_equal(ok, 16);
    assert_int_equal(open, 84);
    assert_int_equal(atomic_load(&a.sh->fail_open), 84);
    /* a fail-open client was never counted */
    struct anvil_key kf;
    for (int i = 0; i < 100; i++)
        if (!okd[i]) {
            snprintf(addr, sizeof(addr), "10.0.0.%d", i);
            kf = key_of(&a, addr);
            assert_int_equal(anvil_disconnect(&a, &kf, 5100), -ENOENT);
            break;
        }
    /* closed clients' slots become stale only after their rate window */
    for (int i = 0; i < 100; i++)
        if (okd[i]) {
            snprintf(addr, sizeof(addr), "10.0.0.%d", i);
            struct anvil_key k = key_of(&a, addr);
            assert_int_equal(anvil_disconnect(&a, &k, 5500), 0);
        }
    struct anvil_key kn = key_of(&a, "10.0.1.1");
    assert_int_equal(anvil_connect(&a, &kn, 5600, 0, 0, &c), ANVIL_FAIL_OPEN);
    assert_int_equal(anvil_connect(&a, &kn, 6000, 0, 0, &c), ANVIL_OK);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.rate, 1); /* a fresh window for the new client */
    assert_int_equal(anvil_used(&a), 16);
    anvil_detach(&a);
}

static void test_attach_and_dead_lock(void **state)
{
    (void)state;
    struct anvil a, b;
    assert_int_equal(anvil_create(NULL, &a), 0);
    assert_int_equal(anvil_attach(a.fd, &b), 0);
    struct anvil_key k = key_of(&a, "198.51.100.7");
    struct anvil_counts c;
    assert_int_equal(anvil_connect(&a, &k, 1, 0, 0, &c), ANVIL_OK);
    anvil_lookup(&b, &k, 1, &c);
    assert_int_equal(c.count, 1);
    assert_int_equal(anvil_attach(-1, &b), -EBADF);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct anvil bad;
    assert_int_equal(anvil_attach(p[0], &bad), -EINVAL);
    close(p[0]);
    close(p[1]);

    /* A process killed while holding every lock: the others take over. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    for (uint32_t i = 0; i < a.sh->nbuckets; i++)
        atomic_store(&a.sh->bucket[i].lock, (int32_t)pid);
    assert_int_equal(anvil_connect(&b, &k, 2, 0, 0, &c), ANVIL_OK);
    assert_int_equal(c.count, 2);
    assert_true(atomic_load(&a.sh->stolen) >= 1);
    anvil_detach(&b);
    anvil_detach(&a);
}

/* anvil.c asks getpid() once per process and forgets it in a forked
 * child. A child that kept its parent's pid would, once the parent died
 * holding a lock, see the dead owner as itself and wait for ever. Here A
 * takes locks (caching its pid) and forks B, A dies and is reaped, every
 * lock word then names A: B must take them over. B reports through a
 * pipe; alarm() ends a B that hangs, which the parent sees as EOF. First
 * in main()'s list: the test process itself must not have taken a lock
 * yet, or A and B would both start from its pid and not show the bug. */
static void test_child_pid_not_parents(void **state)
{
    (void)state;
    struct anvil a;
    assert_int_equal(anvil_create(NULL, &a), 0);
    struct anvil_key k = key_of(&a, "192.0.2.55");
    struct anvil_counts c;
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid_t pa = fork();
    assert_true(pa >= 0);
    if (pa == 0) {
        if (anvil_connect(&a, &k, 1, 0, 0, &c) != ANVIL_OK) /* A's pid cached */
            _exit(2);
        pid_t pb = fork();
        if (pb < 0)
            _exit(3);
        if (pb > 0)
            _exit(0); /* A dies; B goes on */
        alarm(20);
        close(up[0]);
        close(down[1]);
        char x;
        if (read(down[0], &x, 1) != 1) /* A has been reaped */
            _exit(4);
        int32_t owner;
        if (read(down[0], &owner, sizeof(owner)) != (ssize_t)sizeof(owner))
            _exit(5);
        for (uint32_t i = 0; i < a.sh->nbuckets; i++)
            atomic_store(&a.sh->bucket[i].lock, owner);
        if (anvil_connect(&a, &k, 2, 0, 0, &c) != ANVIL_OK || c.count != 2)
            _exit(6);
        (void)!write(up[1], "k", 1);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    int st;
    assert_int_equal(waitpid(pa, &st, 0), pa);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    int32_t owner = (int32_t)pa; /* dead and reaped: kill(pa, 0) fails */
    assert_int_equal(write(down[1], "g", 1), 1);
    assert_int_equal(write(down[1], &owner, sizeof(owner)), (ssize_t)sizeof(owner));
    struct pollfd pfd = {.fd = up[0], .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 30000), 1);
    char x = 0;
    assert_int_equal(read(up[0], &x, 1), 1); /* EOF (0): B hung and alarm() ended it */
    assert_int_equal(x, 'k');
    assert_true(atomic_load(&a.sh->stolen) >= 1);
    close(up[0]);
    close(down[1]);
    anvil_detach(&a);
}

/* Children connect and disconnect at random on a few shared clients (the
 * same buckets, lock contention) and on their own; in the middle they all
 * hold HOLD connections of one client and the parent checks the exact sum;
 * at the end every count is back to 0. */
static void test_processes(void **state)
{
    (void)state;
    enum { KIDS = 6, ROUNDS = 100000, HOLD = 50, SHARED = 5 };
    struct anvil a;
    struct anvil_opts o = {.slots = 4096};
    assert_int_equal(anvil_create(&o, &a), 0);
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid_t pid[KIDS];
    for (int n = 0; n < KIDS; n++) {
        pid[n] = fork();
        assert_true(pid[n] >= 0);
        if (pid[n] != 0)
            continue;
        unsigned seed = (unsigned)n * 7919u + 1;
        struct anvil_key sk[SHARED], own, held = key_of(&a, "203.0.113.200");
        char addr[64];
        int open[SHARED] = {0}, own_open = 0;
        for (int i = 0; i < SHARED; i++) {
            snprintf(addr, sizeof(addr), "2001:db8:%d::%d", i, n);
            sk[i] = key_of(&a, addr);
        }
        snprintf(addr, sizeof(addr), "10.1.%d.1", n);
        own = key_of(&a, addr);
        struct anvil_counts c;
        for (int r = 0; r < ROUNDS; r++) {
            seed = seed * 1103515245u + 12345u;
            int i = (int)((seed >> 16) % (SHARED + 1));
            int conn = (seed >> 8) & 1;
            struct anvil_key *k = i < SHARED ? &sk[i] : &own;
            int *cnt = i < SHARED ? &open[i] : &own_open;
            if (conn || *cnt == 0) {
                if (anvil_connect(&a, k, r, 0, 0, &c) != ANVIL_OK)
                    _exit(2);
                ++*cnt;
            } else {
                if (anvil_disconnect(&a, k, r) != 0)
                    _exit(3);
                --*cnt;
            }
            if (r == ROUNDS / 2) {
                for (int h = 0; h < HOLD; h++)
                    if (anvil_connect(&a, &held, r, 0, 0, &c) != ANVIL_OK)
                        _exit(4);
                char x = 'h';
                if (write(up[1], &x, 1) != 1 || read(down[0], &x, 1) != 1)
                    _exit(5);
                for (int h = 0; h < HOLD; h++)
                    if (anvil_disconnect(&a, &held, r) != 0)
                        _exit(6);
            }
        }
        for (int i = 0; i < SHARED; i++)
            while (open[i]--)
                if (anvil_disconnect(&a, &sk[i], ROUNDS) != 0)
                    _exit(7);
        while (own_open--)
            if (anvil_disconnect(&a, &own, ROUNDS) != 0)
                _exit(8);
        _exit(0);
    }
    /* All children hold HOLD connections of one client now. */
    char x;
    for (int n = 0; n < KIDS; n++)
        assert_int_equal(read(up[0], &x, 1), 1);
    struct anvil_key held = key_of(&a, "203.0.113.200");
    struct anvil_counts c;
    anvil_lookup(&a, &held, ROUNDS / 2, &c);
    assert_int_equal(c.count, KIDS * HOLD);
    for (int n = 0; n < KIDS; n++)
        assert_int_equal(write(down[1], "g", 1), 1);
    for (int n = 0; n < KIDS; n++) {
        int st;
        assert_int_equal(waitpid(pid[n], &st, 0), pid[n]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    anvil_lookup(&a, &held, ROUNDS, &c);
    assert_int_equal(c.count, 0);
    char addr[64];
    for (int n = 0; n < KIDS; n++)
        for (int i = 0; i < SHARED; i++) {
            snprintf(addr, sizeof(addr), "2001:db8:%d::%d", i, n);
            struct anvil_key k = key_of(&a, addr);
            anvil_lookup(&a, &k, ROUNDS, &c);
            assert_int_equal(c.count, 0);
        }
    /* no lock is left held */
    for (uint32_t i = 0; i < a.sh->nbuckets; i++)
        assert_int_equal(atomic_load(&a.sh->bucket[i].lock), 0);
    assert_int_equal(atomic_load(&a.sh->fail_open), 0);
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
    anvil_detach(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_pid_not_parents), /* first: see there */
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_full_and_stale),
        cmocka_unit_test(test_attach_and_dead_lock),
        cmocka_unit_test(test_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
