/*
 * test_handoff_uring.c - the worker's way of receiving a handoff: a real
 * io_uring IORING_OP_RECVMSG over handoff_recv_prepare(), its completion
 * through handoff_recv_finish(). Same checks as the syscall path: a TCP
 * socket arrives and carries data; bad fd counts, cut ancillary data,
 * oversized messages and end of file fail without leaking a descriptor.
 *
 * Exits 77 (skipped, as liburing's own tests do) when the kernel or the
 * sandbox does not allow io_uring or its RECVMSG operation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "handoff.h"

static struct io_uring ring;

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void tcp_pair(int *cli, int *srv)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&sin, sl), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
    *cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(*cli, (struct sockaddr *)&sin, sl), 0);
    *srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(*srv >= 0);
    close(l);
}

static void rec_for(int fd, struct handoff *h)
{
    socklen_t sl = sizeof(h->client);
    memset(h, 0, sizeof(*h));
    h->seq = 11;
    assert_int_equal(getpeername(fd, (struct sockaddr *)&h->client, &sl), 0);
    sl = sizeof(h->server);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&h->server, &sl), 0);
    strcpy(h->conn_id, "U1");
    h->helo_cmd = HANDOFF_HELO_EHLO;
    strcpy(h->helo, "client.example");
    h->banner = HANDOFF_BANNER_CONT;
}

/* Arm a RECVMSG on chan; the completion is collected by uring_wait(). */
static void uring_arm(int chan, struct handoff_rxbuf *rx)
{
    handoff_recv_prepare(rx);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    assert_non_null(sqe);
    io_uring_prep_recvmsg(sqe, chan, &rx->msg, MSG_CMSG_CLOEXEC);
    io_uring_sqe_set_data64(sqe, 1);
    assert_int_equal(io_uring_submit(&ring), 1);
}

static int uring_wait(void)
{
    struct io_uring_cqe *cqe;
    assert_int_equal(io_uring_wait_cqe(&ring, &cqe), 0);
    assert_int_equal(io_uring_cqe_get_data64(cqe), 1);
    int res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    return res;
}

static void send_fds(int chan, const void *data, size_t len, int n)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 16)];
        size_t align;
    } ctl;
    int fds[16] = {0};
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
    }
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    memset(&ctl, 0, sizeof(ctl));
    if (n > 0) {
        msg.msg_control = ctl.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
    }
    assert_int_equal(sendmsg(chan, &msg, MSG_NOSIGNAL), (ssize_t)len);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void pass_tcp(int arm_first)
{
    static struct handoff h, got;
    static struct handoff_rxbuf rx;
    int cli, srv, sv[2], fd = -1;
    char buf[32];
    int before = count_fds();

    tcp_pair(&cli, &srv);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    rec_for(srv, &h);
    /* Armed before the handoff is sent: the worker's normal case, where
     * the kernel completes the receive later, asynchronously. */
    if (arm_first)
        uring_arm(sv[1], &rx);
    assert_int_equal(handoff_send(sv[0], srv, &h), 0);
    close(srv);
    if (!arm_first)
        uring_arm(sv[1], &rx);
    assert_int_equal(handoff_recv_finish(&rx, uring_wait(), &fd, &got), 0);
    assert_memory_equal(&h, &got, sizeof(got));
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

    assert_int_equal(write(fd, "220 mx\r\n", 8), 8);
    assert_int_equal(read(cli, buf, sizeof(buf)), 8);
    assert_int_equal(write(cli, "QUIT\r\n", 6), 6);
    assert_int_equal(read(fd, buf, sizeof(buf)), 6);
    assert_memory_equal(buf, "QUIT\r\n", 6);
    close(fd);
    close(cli);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(count_fds(), before);
}

static void uring_pass_tcp(void **state)
{
    (void)state;
    pass_tcp(0);
}

static void uring_pass_tcp_armed_first(void **state)
{
    (void)state;
    pass_tcp(1);
}

static void uring_failures(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        int fds;
        size_t extra; /* bytes past a valid record */
        int close_sender;
        int want;
    } cases[] = {
        {"no fd", 0, 0, 0, -EPROTO},
        {"two fds", 2, 0, 0, -EPROTO},
        {"twelve fds (MSG_CTRUNC)", 12, 0, 0, -EPROTO},
        {"oversized message (MSG_TRUNC)", 1, HANDOFF_RECORD_MAX, 0, -EMSGSIZE},
        {"one byte too many", 1, 1, 0, -EBADMSG},
        {"end of file", -1, 0, 1, -ECONNRESET},
    };
    static struct handoff h;
    static struct handoff_rxbuf rx;
    static unsigned char b[2 * HANDOFF_RECORD_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int sv[2], fd = 77;
        size_t len;
        int before = count_fds();
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
        memset(&h, 0, sizeof(h));
        h.seq = 1;
        struct sockaddr_in *c = (struct sockaddr_in *)&h.client;
        struct sockaddr_in *s = (struct sockaddr_in *)&h.server;
        c->sin_family = s->sin_family = AF_INET;
        c->sin_port = s->sin_port = htons(25);
        c->sin_addr.s_addr = s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        strcpy(h.conn_id, "F");
        assert_int_equal(handoff_encode(&h, b, sizeof(b), &len), 0);
        memset(b + len, 'x', cases[i].extra);
        if (cases[i].fds >= 0)
            send_fds(sv[0], b, len + cases[i].extra, cases[i].fds);
        if (cases[i].close_sender)
            close(sv[0]);
        uring_arm(sv[1], &rx);
        int r = handoff_recv_finish(&rx, uring_wait(), &fd, &h);
        if (r != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].what, r, cases[i].want);
        assert_int_equal(fd, -1);
        if (!cases[i].close_sender)
            close(sv[0]);
        close(sv[1]);
        if (count_fds() != before)
            fail_msg("%s: descriptor leaked", cases[i].what);
    }
}

static void uring_ack(void **state)
{
    (void)state;
    static struct handoff_rxbuf rx;
    int sv[2];
    struct handoff_ack a = {HANDOFF_ACK_ACCEPTED, 11, 1, 64}, got;
    unsigned char b[HANDOFF_ACK_LEN];
    int before = count_fds();
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    assert_int_equal(handoff_ack_send(sv[1], &a), 0);
    uring_arm(sv[0], &rx);
    assert_int_equal(handoff_ack_recv_finish(&rx, uring_wait(), &got), 0);
    assert_int_equal(got.seq, 11);
    assert_int_equal(got.capacity, 64);
    /* An ack carrying a descriptor: refused, and the descriptor closed. */
    assert_int_equal(handoff_ack_encode(&a, b), 0);
    send_fds(sv[1], b, sizeof(b), 1);
    uring_arm(sv[0], &rx);
    assert_int_equal(handoff_ack_recv_finish(&rx, uring_wait(), &got), -EPROTO);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(count_fds(), before);
}

int main(void)
{
    int err = io_uring_queue_init(8, &ring, 0);
    if (err < 0) {
        printf("io_uring not available here (%s): skipped\n", strerror(-err));
        return 77;
    }
    struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
    int ok = probe && io_uring_opcode_supported(probe, IORING_OP_RECVMSG);
    if (probe)
        io_uring_free_probe(probe);
    if (!ok) {
        printf("io_uring lacks IORING_OP_RECVMSG here: skipped\n");
        io_uring_queue_exit(&ring);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uring_pass_tcp),
        cmocka_unit_test(uring_pass_tcp_armed_first),
        cmocka_unit_test(uring_failures),
        cmocka_unit_test(uring_ack),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    io_uring_queue_exit(&ring);
    return failed;
}
