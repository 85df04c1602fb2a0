/* test_fe_ctl.c - the master <-> frontend control messages (frontend/fe_ctl.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fe_ctl.h"

static struct fe_ctl_msg in, out;
static unsigned char buf[FE_CTL_MAX_LEN + 16];

static void roundtrip_every_kind(void **state)
{
    (void)state;
    size_t len;
    memset(&in, 0, sizeof(in));
    in.kind = FE_CTL_ADD;
    in.slot = 7;
    in.pid = 1234;
    in.index = 3;
    assert_int_equal(fe_ctl_encode(&in, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, FE_CTL_HDR_LEN + 12);
    assert_int_equal(fe_ctl_decode(buf, len, &out), FE_CTL_OK);
    assert_int_equal(out.kind, FE_CTL_ADD);
    assert_int_equal(out.slot, 7);
    assert_int_equal(out.pid, 1234);
    assert_int_equal(out.index, 3);

    in.kind = FE_CTL_RETIRE;
    assert_int_equal(fe_ctl_encode(&in, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, FE_CTL_HDR_LEN);
    assert_int_equal(fe_ctl_decode(buf, len, &out), FE_CTL_OK);
    assert_int_equal(out.kind, FE_CTL_RETIRE);

    in.kind = FE_CTL_STATS;
    in.st.accepted = 1ull << 40;
    in.st.hangup = 99;
    in.nworkers = FE_CTL_MAX_WORKERS;
    for (uint32_t i = 0; i < in.nworkers; i++)
        in.w[i] = (struct fe_ctl_worker){i, 100 + i, i % 5, 5, i};
    assert_int_equal(fe_ctl_encode(&in, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, FE_CTL_MAX_LEN);
    assert_int_equal(fe_ctl_decode(buf, len, &out), FE_CTL_OK);
    assert_true(out.st.accepted == 1ull << 40);
    assert_int_equal(out.st.hangup, 99);
    assert_int_equal(out.nworkers, FE_CTL_MAX_WORKERS);
    assert_int_equal(out.w[255].pid, 355);
    assert_int_equal(out.w[255].pending, 255);
}

static void refuses_bad_messages(void **state)
{
    (void)state;
    size_t len;
    memset(&in, 0, sizeof(in));
    in.kind = FE_CTL_DEL;
    in.slot = 1;
    in.pid = 0; /* no such process */
    assert_int_equal(fe_ctl_encode(&in, buf, sizeof(buf), &len), -EINVAL);
    in.pid = 5;
    assert_int_equal(fe_ctl_encode(&in, buf, 10, &len), -ENOBUFS);
    assert_int_equal(fe_ctl_encode(&in, buf, sizeof(buf), &len), 0);

    struct {
        size_t cut;      /* bytes given */
        size_t at;       /* byte changed (or SIZE_MAX) */
        unsigned char v; /* to this */
        enum fe_ctl_result want;
    } cases[] = {
        {0, SIZE_MAX, 0, FE_CTL_SHORT},
        {11, SIZE_MAX, 0, FE_CTL_SHORT},
        {len, 0, 'X', FE_CTL_BAD_MAGIC},
        {len, 4, 9, FE_CTL_BAD_KIND},
        {len, 4, 0, FE_CTL_BAD_KIND},
        {len, 8, 99, FE_CTL_BAD_LENGTH},
        {len - 1, SIZE_MAX, 0, FE_CTL_BAD_LENGTH},
        {len, 4, FE_CTL_RETIRE, FE_CTL_BAD_LENGTH}, /* a DEL body under a RETIRE header */
        {len, 16, 0, FE_CTL_BAD_VALUE},             /* pid (offset 16) 5 -> 0 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char b[64];
        memcpy(b, buf, len);
        if (cases[i].at != SIZE_MAX)
            b[cases[i].at] = cases[i].v;
        assert_int_equal(fe_ctl_decode(b, cases[i].cut, &out), cases[i].want);
    }
    /* STATS claiming more workers than allowed, and sessions > capacity. */
    in.kind = FE_CTL_STATS;
    in.nworkers = 1;
    in.w[0] = (struct fe_ctl_worker){0, 1, 2, 3, 0};
    assert_int_equal(fe_ctl_encode(&in, buf, sizeof(buf), &len), 0);
    buf[FE_CTL_HDR_LEN + 8 * FE_STATS_N + 1] = 0xff; /* nworkers 0xff01 */
    assert_int_equal(fe_ctl_decode(buf, len, &out), FE_CTL_BAD_VALUE);
    in.w[0].sessions = 4;
    assert_int_equal(fe_ctl_encode(&in, buf, sizeof(buf), &len), -EINVAL);
}

/* Every counter travels in its own wire slot: distinct values in, the
 * same values out, at the offsets the table gives (a field left out of
 * the table, or two rows on one field, shows up here). */
static void stats_counters_each_in_place(void **state)
{
    (void)state;
    size_t len;
    memset(&in, 0, sizeof(in));
    in.kind = FE_CTL_STATS;
    unsigned char *raw = (unsigned char *)&in.st;
    for (size_t i = 0; i < FE_STATS_N; i++) {
        uint64_t v = 0x0101010101010101ull * (i + 1) + ((uint64_t)i << 56);
        memcpy(raw + 8 * i, &v, sizeof(v));
    }
    assert_int_equal(fe_ctl_encode(&in, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, FE_CTL_HDR_LEN + 8 * FE_STATS_N + 4);
    assert_int_equal(fe_ctl_decode(buf, len, &out), FE_CTL_OK);
    assert_memory_equal(&out.st, &in.st, sizeof(in.st));
    for (size_t i = 0; i < FE_STATS_N; i++) {
        uint64_t want = fe_stats_get(&in.st, i), got = 0;
        for (int b = 0; b < 8; b++) /* little-endian, in table order */
            got |= (uint64_t)buf[FE_CTL_HDR_LEN + 8 * i + (size_t)b] << (8 * b);
        assert_true(got == want);
    }
    /* Named fields land where their names say. */
    in.st = (struct fe_stats){0};
    in.st.handed = 7;
    in.st.pregreet = 3;
    in.st.non_smtp_fail = 11;
    in.st.helo_reject = 13;
    static const struct {
        const char *name;
        uint64_t v;
    } want[] = {{"handed_off", 7}, {"pregreet_fail", 3}, {"non_smtp_command_fail", 11},
                {"helo_reject", 13}};
    size_t seen = 0;
    for (size_t i = 0; i < FE_STATS_N; i++) {
        uint64_t v = fe_stats_get(&in.st, i), w = 0;
        for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
            if (strcmp(fe_stats_fields[i].name, want[k].name) == 0) {
                w = want[k].v;
                seen++;
            }
        assert_true(v == w);
    }
    assert_int_equal(seen, sizeof(want) / sizeof(want[0]));
}

/* Names are unique, non-empty, one word of [a-z_] (the status line is
 * split on spaces and '='). */
static void stats_names_stable_form(void **state)
{
    (void)state;
    int gauges = 0;
    for (size_t i = 0; i < FE_STATS_N; i++) {
        const char *n = fe_stats_fields[i].name;
        assert_non_null(n);
        assert_true(n[0] != '\0');
        for (const char *p = n; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(n, fe_stats_fields[j].name);
        assert_true(fe_stats_fields[i].off % 8 == 0 &&
                    fe_stats_fields[i].off < sizeof(struct fe_stats));
        gauges += fe_stats_fields[i].gauge != 0;
    }
    assert_int_equal(gauges, 1); /* held */
}

/* Summing frontends: counts add up, the held gauge only on request (a dead
 * frontend holds nothing). */
static void stats_add_sums(void **state)
{
    (void)state;
    struct fe_stats a = {0}, b = {0};
    a.accepted = 5;
    a.held = 2;
    a.pass_old = 1;
    b.accepted = 6;
    b.held = 3;
    b.dnsbl_fail = 4;
    b.bare_newline_pass = UINT64_C(1) << 40;
    struct fe_stats sum = {0};
    fe_stats_add(&sum, &a, 1);
    fe_stats_add(&sum, &b, 1);
    assert_int_equal(sum.accepted, 11);
    assert_int_equal(sum.held, 5);
    assert_int_equal(sum.pass_old, 1);
    assert_int_equal(sum.dnsbl_fail, 4);
    assert_true(sum.bare_newline_pass == UINT64_C(1) << 40);
    fe_stats_add(&sum, &b, 0);
    assert_int_equal(sum.accepted, 17);
    assert_int_equal(sum.held, 5);
    assert_int_equal(sum.dnsbl_fail, 8);
}

static void socket_carries_one_descriptor(void **state)
{
    (void)state;
    int sv[2], fd;
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    memset(&in, 0, sizeof(in));
    in.kind = FE_CTL_ADD;
    in.pid = 42;
    assert_int_equal(fe_ctl_send(sv[0], &in, -1), -EINVAL); /* ADD needs a descriptor */
    assert_int_equal(fe_ctl_send(sv[0], &in, 0), 0);
    assert_int_equal(fe_ctl_recv(sv[1], &out, &fd), 0);
    assert_true(fd >= 0);
    assert_int_equal(out.pid, 42);
    close(fd);
    in.kind = FE_CTL_RETIRE;
    assert_int_equal(fe_ctl_send(sv[0], &in, 0), -EINVAL); /* and only ADD */
    assert_int_equal(fe_ctl_send(sv[0], &in, -1), 0);
    assert_int_equal(fe_ctl_recv(sv[1], &out, &fd), 0);
    assert_int_equal(fd, -1);
    assert_int_equal(fe_ctl_recv(sv[1], &out, &fd), -EAGAIN);
    /* Garbage is refused. */
    assert_int_equal(send(sv[0], "MXFCjunk", 8, 0), 8);
    assert_int_equal(fe_ctl_recv(sv[1], &out, &fd), -EBADMSG);
    close(sv[0]);
    assert_int_equal(fe_ctl_recv(sv[1], &out, &fd), -ECONNRESET);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip_every_kind),
        cmocka_unit_test(refuses_bad_messages),
        cmocka_unit_test(stats_counters_each_in_place),
        cmocka_unit_test(stats_names_stable_form),
        cmocka_unit_test(stats_add_sums),
        cmocka_unit_test(socket_carries_one_descriptor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
