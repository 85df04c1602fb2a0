/*
 * test_ring.c - the io_uring helpers on a real ring over loopback sockets:
 * user_data round trips; one multishot accept takes N connections, each
 * completion becoming a pool object; reads through a provided buffer ring
 * (and -ENOBUFS when it runs dry); a read with a linked timeout, both when
 * it fires and when data wins; a completion for a connection whose pool
 * object was reused is recognised as stale; the wait wrapper's timeouts.
 *
 * Exits 77 (skipped, as liburing's tests do) when io_uring is missing or
 * disabled here; a test whose feature the kernel lacks is skipped alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ring.h"
#include "timer_wheel.h"

enum { OP_ACCEPT = 1, OP_RECV, OP_LINK_TIMEOUT, OP_NOP, OP_CANCEL };

struct conn {
    int fd;
    int id;
    char buf[64]; /* for reads without a provided buffer */
};

static struct ring ring;

static int listener(struct sockaddr_in *sin)
{
    socklen_t sl = sizeof(*sin);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l >= 0);
    *sin = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(l, (struct sockaddr *)sin, sl), 0);
    assert_int_equal(listen(l, 128), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)sin, &sl), 0);
    return l;
}

static int client(const struct sockaddr_in *sin)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c >= 0);
    assert_int_equal(connect(c, (const struct sockaddr *)sin, sizeof(*sin)), 0);
    return c;
}

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring.uring);
    assert_non_null(sqe);
    return sqe;
}

/* Wait for one completion (2 s at most), copy it out and consume it. */
static void reap(struct io_uring_cqe *out)
{
    struct io_uring_cqe *cqe;
    int ret = ring_submit_and_wait_timeout(&ring, &cqe, 2000);
    if (ret != 0)
        fail_msg("no completion: %s", strerror(-ret));
    out->user_data = cqe->user_data;
    out->res = cqe->res;
    out->flags = cqe->flags;
    io_uring_cqe_seen(&ring.uring, cqe);
}

/* n accepted connections (plain accept4: the multishot test is separate). */
static void pairs(int n, int *cli, struct conn **conns, struct pool *p)
{
    struct sockaddr_in sin;
    int l = listener(&sin);
    for (int i = 0; i < n; i++) {
        cli[i] = client(&sin);
        conns[i] = pool_get(p);
        assert_non_null(conns[i]);
        conns[i]->fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        assert_true(conns[i]->fd >= 0);
        conns[i]->id = i;
    }
    close(l);
}

static void user_data_round_trips(void **state)
{
    (void)state;
    const unsigned ops[] = {0, 1, 7, RING_UD_OP_RESERVED - 1};
    const uint32_t idxs[] = {0, 1, 4095, POOL_MAX_OBJECTS - 1};
    const uint32_t gens[] = {0, 1, 0x80000001u, UINT32_MAX};

    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 4; b++)
            for (size_t c = 0; c < 4; c++) {
                uint64_t ud = ring_ud(ops[a], idxs[b], gens[c]);
                assert_int_equal(ring_ud_op(ud), ops[a]);
                assert_int_equal(ring_ud_index(ud), idxs[b]);
                assert_int_equal(ring_ud_gen(ud), gens[c]);
                /* Never liburing's own timeout marker. */
                assert_false(ring_ud_is_internal(ud));
                assert_true(ud != LIBURING_UDATA_TIMEOUT);
            }
    assert_true(ring_ud_is_internal(LIBURING_UDATA_TIMEOUT));
}

static void setup_reports_features(void **state)
{
    (void)state;
    char desc[256];
    struct ring r2;

    ring_describe(&ring, desc, sizeof(desc));
    print_message("kernel offers: %s\n", desc);
    assert_true(ring.have & RING_HAVE_ACCEPT);
    assert_true(strlen(desc) > 0);
    /* A tiny buffer truncates and stays a string. */
    ring_describe(&ring, desc, 5);
    assert_true(strlen(desc) < 5);
    /* DEFER_TASKRUN on request, and it implies SINGLE_ISSUER. */
    assert_int_equal(ring_init(&r2, 8, 0, RING_INIT_DEFER_TASKRUN), 0);
    if (r2.have & RING_HAVE_DEFER_TASKRUN)
        assert_true(r2.have & RING_HAVE_SINGLE_ISSUER);
    ring_exit(&r2);
    assert_int_equal(ring_init(&r2, 0, 0, 0), -EINVAL);
}

static void multishot_accept_takes_n(void **state)
{
    (void)state;
    enum { N = 32 };
    struct sockaddr_in sin;
    struct pool p;
    int cli[N];
    struct conn *c[N];

    if (!(ring.have & RING_HAVE_MSHOT_ACCEPT))
        skip();
    assert_int_equal(pool_init(&p, "conn", sizeof(struct conn), N), 0);
    int l = listener(&sin);
    uint64_t acc_ud = ring_ud(OP_ACCEPT, 0, 0);
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, l, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, acc_ud);
    assert_int_equal(io_uring_submit(&ring.uring), 1);

    uint16_t ports[N];
    for (int i = 0; i < N; i++) {
        struct sockaddr_in me;
        socklen_t sl = sizeof(me);
        cli[i] = client(&sin);
        assert_int_equal(getsockname(cli[i], (struct sockaddr *)&me, &sl), 0);
        ports[i] = ntohs(me.sin_port);
    }
    /* One SQE, N completions, each still armed (F_MORE). */
    int matched = 0;
    for (int i = 0; i < N; i++) {
        struct io_uring_cqe cqe;
        reap(&cqe);
        assert_true(cqe.user_data == acc_ud);
        if (cqe.res < 0)
            fail_msg("accept %d: %s", i, strerror(-cqe.res));
        assert_true(cqe.flags & IORING_CQE_F_MORE);
        c[i] = pool_get(&p);
        assert_non_null(c[i]);
        c[i]->fd = cqe.res;
        struct sockaddr_in peer;
        socklen_t sl = sizeof(peer);
        assert_int_equal(getpeername(c[i]->fd, (struct sockaddr *)&peer, &sl), 0);
        for (int j = 0; j < N; j++)
            if (ports[j] == ntohs(peer.sin_port)) {
                ports[j] = 0; /* each client accepted once */
                matched++;
            }
    }
    assert_int_equal(matched, N);
    /* The pool is full now: the next connection would get a 421. */
    assert_null(pool_get(&p));

    /* Cancel the multishot: its last completion has no F_MORE. */
    sqe = sqe_get();
    io_uring_prep_cancel64(sqe, acc_ud, 0);
    io_uring_sqe_set_data64(sqe, ring_ud(OP_CANCEL, 0, 0));
    int seen_cancel = 0, seen_final = 0;
    for (int i = 0; i < 2; i++) {
        struct io_uring_cqe cqe;
        reap(&cqe);
        if (cqe.user_data == acc_ud) {
            assert_int_equal(cqe.res, -ECANCELED);
            assert_false(cqe.flags & IORING_CQE_F_MORE);
            seen_final = 1;
        } else {
            assert_int_equal(ring_ud_op(cqe.user_data), OP_CANCEL);
            assert_int_equal(cqe.res, 0);
            seen_cancel = 1;
        }
    }
    assert_true(seen_cancel && seen_final);
    for (int i = 0; i < N; i++) {
        close(c[i]->fd);
        close(cli[i]);
    }
    close(l);
    pool_destroy(&p);
}

static void recv_through_buffer_ring(void **state)
{
    (void)state;
    enum { N = 4 };
    struct pool p;
    struct ring_bufs b;
    struct conn *c[N];
    int cli[N];

    if (!(ring.have & RING_HAVE_BUF_RING))
        skip();
    assert_int_equal(pool_init(&p, "conn", sizeof(struct conn), N), 0);
    assert_int_equal(ring_bufs_init(&ring, &b, 7, 3, 64), -EINVAL); /* not a power of 2 */
    assert_int_equal(ring_bufs_init(&ring, &b, 7, 2, 64), 0);
    pairs(N, cli, c, &p);

    for (int i = 0; i < N; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof(msg), "EHLO client%d\r\n", c[i]->id);
        assert_int_equal(write(cli[i], msg, (size_t)len), len);
    }
    /* Two buffers for four reads: two get data, two get -ENOBUFS. */
    for (int i = 0; i < N; i++) {
        struct io_uring_sqe *sqe = sqe_get();
        io_uring_prep_recv(sqe, c[i]->fd, NULL, b.size, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = b.bgid;
        io_uring_sqe_set_data64(sqe, ring_ud_for(OP_RECV, &p, c[i]));
    }
    int got = 0, dry = 0, pending_bid = -1;
    struct conn *starved[N];
    for (int i = 0; i < N; i++) {
        struct io_uring_cqe cqe;
        reap(&cqe);
        assert_int_equal(ring_ud_op(cqe.user_data), OP_RECV);
        struct conn *x = ring_ud_object(&p, cqe.user_data);
        assert_non_null(x);
        if (cqe.res == -ENOBUFS) {
            assert_int_equal(ring_cqe_buffer(&cqe), -1);
            starved[dry++] = x;
            continue;
        }
        assert_true(cqe.res > 0);
        int bid = ring_cqe_buffer(&cqe);
        assert_true(bid >= 0 && (unsigned)bid < b.nbufs);
        char want[32];
        snprintf(want, sizeof(want), "EHLO client%d\r\n", x->id);
        assert_int_equal(cqe.res, (int)strlen(want));
        assert_memory_equal(ring_bufs_addr(&b, (unsigned)bid), want, strlen(want));
        got++;
        if (pending_bid < 0)
            pending_bid = bid; /* keep one, recycle it below */
        else
            ring_bufs_recycle(&b, (unsigned)bid);
    }
    assert_int_equal(got, 2);
    assert_int_equal(dry, 2);
    /* Recycled buffers serve the starved connections. */
    ring_bufs_recycle(&b, (unsigned)pending_bid);
    for (int i = 0; i < dry; i++) {
        struct io_uring_sqe *sqe = sqe_get();
        io_uring_prep_recv(sqe, starved[i]->fd, NULL, b.size, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = b.bgid;
        io_uring_sqe_set_data64(sqe, ring_ud_for(OP_RECV, &p, starved[i]));
    }
    for (int i = 0; i < dry; i++) {
        struct io_uring_cqe cqe;
        reap(&cqe);
        struct conn *x = ring_ud_object(&p, cqe.user_data);
        assert_non_null(x);
        assert_true(cqe.res > 0);
        int bid = ring_cqe_buffer(&cqe);
        assert_true(bid >= 0);
        assert_memory_equal(ring_bufs_addr(&b, (unsigned)bid), "EHLO client", 11);
        ring_bufs_recycle(&b, (unsigned)bid);
    }
    for (int i = 0; i < N; i++) {
        close(c[i]->fd);
        close(cli[i]);
    }
    ring_bufs_destroy(&ring, &b);
    pool_destroy(&p);
}

/* recv linked to a timeout: the timeout fires on a silent client, and is
 * cancelled when the client talks first. */
static void recv_with_linked_timeout(void **state)
{
    (void)state;
    struct pool p;
    struct conn *c[2];
    int cli[2];

    if (!(ring.have & RING_HAVE_LINK_TIMEOUT))
        skip();
    assert_int_equal(pool_init(&p, "conn", sizeof(struct conn), 2), 0);
    pairs(2, cli, c, &p);
    assert_int_equal(write(cli[1], "QUIT\r\n", 6), 6);

    for (int i = 0; i < 2; i++) {
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000000};
        struct io_uring_sqe *sqe = sqe_get();
        io_uring_prep_recv(sqe, c[i]->fd, c[i]->buf, sizeof(c[i]->buf), 0);
        sqe->flags |= IOSQE_IO_LINK;
        io_uring_sqe_set_data64(sqe, ring_ud_for(OP_RECV, &p, c[i]));
        sqe = sqe_get();
        io_uring_prep_link_timeout(sqe, &ts, 0); /* ts is copied at submit */
        io_uring_sqe_set_data64(sqe, ring_ud_for(OP_LINK_TIMEOUT, &p, c[i]));
        assert_int_equal(io_uring_submit(&ring.uring), 2);
    }
    uint64_t t0 = timer_clock_ms();
    int silent_recv = 0, silent_to = 0, talk_recv = 0, talk_to = 0;
    for (int i = 0; i < 4; i++) {
        struct io_uring_cqe cqe;
        reap(&cqe);
        struct conn *x = ring_ud_object(&p, cqe.user_data);
        assert_non_null(x);
        unsigned op = ring_ud_op(cqe.user_data);
        if (x == c[0] && op == OP_RECV) {
            assert_int_equal(cqe.res, -ECANCELED);
            silent_recv = 1;
        } else if (x == c[0]) {
            assert_int_equal(cqe.res, -ETIME);
            silent_to = 1;
        } else if (op == OP_RECV) {
            assert_int_equal(cqe.res, 6);
            assert_memory_equal(x->buf, "QUIT\r\n", 6);
            talk_recv = 1;
        } else {
            assert_int_equal(cqe.res, -ECANCELED);
            talk_to = 1;
        }
    }
    uint64_t elapsed = timer_clock_ms() - t0;
    assert_true(silent_recv && silent_to && talk_recv && talk_to);
    assert_true(elapsed >= 40 && elapsed < 2000);
    for (int i = 0; i < 2; i++) {
        close(c[i]->fd);
        close(cli[i]);
    }
    pool_destroy(&p);
}

/* A read is in flight when its connection is closed and its pool object
 * handed to the next client: the late completion must not reach the new
 * connection. */
static void stale_completion_is_detected(void **state)
{
    (void)state;
    struct pool p;
    struct conn *c[1];
    int cli[1];

    assert_int_equal(pool_init(&p, "conn", sizeof(struct conn), 1), 0);
    pairs(1, cli, c, &p);
    struct conn *old = c[0];
    int old_fd = old->fd;
    uint64_t old_ud = ring_ud_for(OP_RECV, &p, old);
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv(sqe, old_fd, old->buf, sizeof(old->buf), 0);
    io_uring_sqe_set_data64(sqe, old_ud);
    assert_int_equal(io_uring_submit(&ring.uring), 1);

    /* The session ends (say, its timer fired) while the read is armed. */
    assert_int_equal(pool_put(&p, old), 0);
    struct conn *fresh = pool_get(&p);
    assert_ptr_equal(fresh, old); /* same slot: only the generation differs */
    fresh->fd = -1;
    fresh->id = 99;
    uint64_t fresh_ud = ring_ud_for(OP_RECV, &p, fresh);
    assert_int_equal(ring_ud_index(fresh_ud), ring_ud_index(old_ud));
    assert_true(ring_ud_gen(fresh_ud) != ring_ud_gen(old_ud));

    assert_int_equal(write(cli[0], "late", 4), 4);
    struct io_uring_cqe cqe;
    reap(&cqe);
    assert_true(cqe.user_data == old_ud);
    assert_int_equal(cqe.res, 4);
    assert_null(ring_ud_object(&p, cqe.user_data));
    assert_ptr_equal(ring_ud_object(&p, fresh_ud), fresh);
    assert_int_equal(fresh->id, 99);
    close(old_fd);
    close(cli[0]);
    pool_destroy(&p);
}

static void wait_times_out(void **state)
{
    (void)state;
    struct io_uring_cqe *cqe;

    uint64_t t0 = timer_clock_ms();
    assert_int_equal(ring_submit_and_wait_timeout(&ring, &cqe, 30), -ETIME);
    uint64_t elapsed = timer_clock_ms() - t0;
    assert_null(cqe);
    assert_true(elapsed >= 25 && elapsed < 1000);
    assert_int_equal(ring_submit_and_wait_timeout(&ring, &cqe, 0), -ETIME);

    /* A queued NOP is submitted by the wait itself. */
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, ring_ud(OP_NOP, 5, 6));
    assert_int_equal(ring_submit_and_wait_timeout(&ring, &cqe, -1), 0);
    assert_non_null(cqe);
    assert_int_equal(ring_ud_op(cqe->user_data), OP_NOP);
    assert_int_equal(ring_ud_index(cqe->user_data), 5);
    assert_int_equal(cqe->res, 0);
    io_uring_cqe_seen(&ring.uring, cqe);
}

int main(void)
{
    int ret = ring_init(&ring, 64, 0, 0);
    if (ret == -ENOSYS || ret == -EPERM || ret == -EACCES) {
        fprintf(stderr, "io_uring unavailable (%s): skipped\n", strerror(-ret));
        return 77;
    }
    if (ret < 0) {
        fprintf(stderr, "ring_init: %s\n", strerror(-ret));
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_data_round_trips),
        cmocka_unit_test(setup_reports_features),
        cmocka_unit_test(multishot_accept_takes_n),
        cmocka_unit_test(recv_through_buffer_ring),
        cmocka_unit_test(recv_with_linked_timeout),
        cmocka_unit_test(stale_completion_is_detected),
        cmocka_unit_test(wait_times_out),
    };
    ret = cmocka_run_group_tests(tests, NULL, NULL);
    ring_exit(&ring);
    return ret;
}
