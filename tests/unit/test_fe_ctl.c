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
    buf[FE_CTL_HDR_LEN + 97] = 0xff; /* nworkers 0xff01 */
    assert_int_equal(fe_ctl_decode(buf, len, &out), FE_CTL_BAD_VALUE);
    in.w[0].sessions = 4;
    assert_int_equal(fe_ctl_encode(&in, buf, sizeof(buf), &len), -EINVAL);
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
        cmocka_unit_test(socket_carries_one_descriptor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
