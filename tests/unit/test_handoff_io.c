/*
 * test_handoff_io.c - handoff over real sockets: a loopback TCP connection
 * passed through a SOCK_SEQPACKET pair still carries data; every way a
 * receive can fail fails with its errno and leaves no descriptor behind
 * (counted in /proc/self/fd before and after); EINTR is retried; acks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"

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

static void chan_pair(int sv[2], int nonblock)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
                                0, sv),
                     0);
}

/* A loopback TCP connection: *cli is the client end, *srv the accepted
 * one. Returns -1 when the family is not available here. */
static int tcp_pair(int family, int *cli, int *srv)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*s);
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        s->sin6_addr = in6addr_loopback;
        sl = sizeof(*s);
    }
    int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
        return -1;
    if (bind(l, (struct sockaddr *)&ss, sl) < 0 || listen(l, 1) < 0) {
        close(l);
        return -1;
    }
    assert_int_equal(getsockname(l, (struct sockaddr *)&ss, &sl), 0);
    *cli = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(*cli >= 0);
    assert_int_equal(connect(*cli, (struct sockaddr *)&ss, sl), 0);
    *srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(*srv >= 0);
    close(l);
    return 0;
}

/* The record the acceptor would send for an accepted socket. */
static void rec_for(int fd, struct handoff *h, uint64_t seq)
{
    socklen_t sl = sizeof(h->client);
    memset(h, 0, sizeof(*h));
    h->seq = seq;
    assert_int_equal(getpeername(fd, (struct sockaddr *)&h->client, &sl), 0);
    sl = sizeof(h->server);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&h->server, &sl), 0);
    clock_gettime(CLOCK_MONOTONIC, &h->connect_mono);
    clock_gettime(CLOCK_REALTIME, &h->connect_real);
    h->handoff_mono = h->connect_mono;
    h->handoff_real = h->connect_real;
    strcpy(h->conn_id, "T1");
    memcpy(h->preread, "NOOP\r\n", 6);
    h->preread_len = 6;
}

/* A record that decodes, for tests that only care about the fds. */
static void rec_any(struct handoff *h)
{
    memset(h, 0, sizeof(*h));
    h->seq = 5;
    struct sockaddr_in *c = (struct sockaddr_in *)&h->client, *s = (struct sockaddr_in *)&h->server;
    c->sin_family = s->sin_family = AF_INET;
    c->sin_port = htons(1234);
    s->sin_port = htons(25);
    c->sin_addr.s_addr = htonl(0xc0000201);
    s->sin_addr.s_addr = htonl(0xc0000202);
    strcpy(h->conn_id, "X");
}

/* sendmsg with any data and any number of descriptors. */
static void raw_send(int chan, const void *data, size_t len, const int *fds, int nfds)
{
    static union {
        char buf[CMSG_SPACE(sizeof(int) * 16)];
        size_t align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    assert_int_equal(sendmsg(chan, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

static void pass_tcp(int family)
{
    static struct handoff h, got;
    int cli, srv, sv[2], fd = -1;
    char buf[64];
    int before = count_fds();

    if (tcp_pair(family, &cli, &srv) < 0) {
        print_message("family %d not available here: skipped\n", family);
        return;
    }
    chan_pair(sv, 0);
    rec_for(srv, &h, 99);
    assert_int_equal(handoff_send(sv[0], srv, &h), 0);
    close(srv); /* the sender's copy: the connection now lives in flight */

    assert_int_equal(handoff_recv(sv[1], &fd, &got), 0);
    assert_true(fd >= 0);
    assert_memory_equal(&h, &got, sizeof(got));
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

    /* The received descriptor is the connection: both directions flow. */
    assert_int_equal(write(fd, "220 mx ESMTP\r\n", 14), 14);
    assert_int_equal(read(cli, buf, sizeof(buf)), 14);
    assert_memory_equal(buf, "220 mx ESMTP\r\n", 14);
    assert_int_equal(write(cli, "EHLO a.example\r\n", 16), 16);
    assert_int_equal(read(fd, buf, sizeof(buf)), 16);
    assert_memory_equal(buf, "EHLO a.example\r\n", 16);
    struct sockaddr_storage peer;
    socklen_t sl = sizeof(peer);
    assert_int_equal(getpeername(fd, (struct sockaddr *)&peer, &sl), 0);
    assert_memory_equal(&peer, &got.client, sl);

    close(fd);
    assert_int_equal(read(cli, buf, sizeof(buf)), 0); /* the worker's close reaches the client */
    close(cli);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(count_fds(), before);
}

static void pass_tcp_v4(void **state)
{
    (void)state;
    pass_tcp(AF_INET);
}

static void pass_tcp_v6(void **state)
{
    (void)state;
    pass_tcp(AF_INET6);
}

/* ---- receive failures: each sends something bad into chan ---- */

static unsigned char rec_buf[HANDOFF_RECORD_MAX + 64];

static size_t rec_bytes(void)
{
    static struct handoff h;
    size_t len;
    rec_any(&h);
    assert_int_equal(handoff_encode(&h, rec_buf, sizeof(rec_buf), &len), 0);
    return len;
}

/* Descriptors to send: stream socketpairs, so only the count is wrong.
 * The local copies are closed after sending, so a leak in the receiver
 * shows up in the count. */
static void send_n_fds(int chan, const void *data, size_t len, int n)
{
    int fds[16] = {0};
    for (int i = 0; i < n; i += 2) {
        int p[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
        fds[i] = p[0];
        if (i + 1 < n)
            fds[i + 1] = p[1];
        else
            close(p[1]);
    }
    raw_send(chan, data, len, fds, n);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void bad_no_fd(int chan)
{
    raw_send(chan, rec_buf, rec_bytes(), NULL, 0);
}

static void bad_two_fds(int chan)
{
    send_n_fds(chan, rec_buf, rec_bytes(), 2);
}

/* More than HANDOFF_RX_FDS: the kernel installs what fits, sets
 * MSG_CTRUNC, and those installed must still be closed. */
static void bad_ctrunc(int chan)
{
    send_n_fds(chan, rec_buf, rec_bytes(), 12);
}

static void bad_too_long(int chan)
{
    size_t len = rec_bytes();
    memset(rec_buf + len, 'x', sizeof(rec_buf) - len);
    send_n_fds(chan, rec_buf, HANDOFF_RECORD_MAX + 1, 1);
}

static void bad_magic(int chan)
{
    size_t len = rec_bytes();
    rec_buf[0] = 'Z';
    send_n_fds(chan, rec_buf, len, 1);
}

static void bad_version(int chan)
{
    size_t len = rec_bytes();
    rec_buf[4] = 2;
    send_n_fds(chan, rec_buf, len, 1);
}

static void bad_pipe(int chan)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    raw_send(chan, rec_buf, rec_bytes(), &p[0], 1);
    close(p[0]);
    close(p[1]);
}

static void bad_udp(int chan)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(u >= 0);
    raw_send(chan, rec_buf, rec_bytes(), &u, 1);
    close(u);
}

static void bad_ack_not_record(int chan)
{
    struct handoff_ack a = {HANDOFF_ACK_LOAD, 0, 1, 2};
    assert_int_equal(handoff_ack_send(chan, &a), 0);
}

static void bad_empty_with_fd(int chan)
{
    send_n_fds(chan, "", 0, 1);
}

static void bad_eof(int chan)
{
    (void)chan; /* the case closes the sending end */
}

static void bad_nothing(int chan)
{
    (void)chan;
}

struct recv_case {
    const char *what;
    void (*send)(int chan);
    int close_sender; /* close the sending end before receiving */
    int nonblock;
    int want;
};

static const struct recv_case recv_cases[] = {
    {"record without fd", bad_no_fd, 0, 0, -EPROTO},
    {"record with two fds", bad_two_fds, 0, 0, -EPROTO},
    {"record with twelve fds (MSG_CTRUNC)", bad_ctrunc, 0, 0, -EPROTO},
    {"message longer than a record (MSG_TRUNC)", bad_too_long, 0, 0, -EMSGSIZE},
    {"bad magic", bad_magic, 0, 0, -EBADMSG},
    {"other version", bad_version, 0, 0, -EPROTONOSUPPORT},
    {"a pipe instead of a socket", bad_pipe, 0, 0, -ENOTSOCK},
    {"a datagram socket", bad_udp, 0, 0, -ENOTSOCK},
    {"an ack where a record belongs", bad_ack_not_record, 0, 0, -EPROTO},
    {"empty message with an fd", bad_empty_with_fd, 0, 0, -ECONNRESET},
    {"sender closed the channel", bad_eof, 1, 0, -ECONNRESET},
    {"a queued record, then the sender died", bad_magic, 1, 0, -EBADMSG},
    {"nothing queued, non-blocking", bad_nothing, 0, 1, -EAGAIN},
};

static void recv_failures(void **state)
{
    (void)state;
    static struct handoff h;
    static struct handoff_rxbuf rx;
    /* Pass 0: handoff_recv(). Pass 1: the worker's receive from its own
     * frontend, handoff_recv_finish_accepted(), which does not ask the
     * descriptor's type (a pipe or a datagram socket passes: 0 and the
     * descriptor) and makes every other check. */
    for (size_t n = 0; n < 2 * sizeof(recv_cases) / sizeof(recv_cases[0]); n++) {
        int accepted = n % 2;
        const struct recv_case *c = &recv_cases[n / 2];
        int sv[2], fd = 12345;
        int before = count_fds();
        chan_pair(sv, c->nonblock);
        c->send(sv[0]);
        if (c->close_sender)
            close(sv[0]);
        int r, want = c->want;
        if (accepted) {
            handoff_recv_prepare(&rx);
            ssize_t got = recvmsg(sv[1], &rx.msg, MSG_CMSG_CLOEXEC);
            r = handoff_recv_finish_accepted(&rx, got < 0 ? -errno : (int)got, &fd, &h);
            if (want == -ENOTSOCK)
                want = 0;
        } else {
            r = handoff_recv(sv[1], &fd, &h);
        }
        if (r != want)
            fail_msg("%s%s: got %d (%s), want %d", c->what, accepted ? " (accepted)" : "", r,
                     strerror(-r), want);
        if (r == 0 && fd >= 0)
            close(fd);
        else if (fd != -1)
            fail_msg("%s: client_fd %d after an error", c->what, fd);
        if (!c->close_sender)
            close(sv[0]);
        close(sv[1]);
        int after = count_fds();
        if (after != before)
            fail_msg("%s: %d descriptors before, %d after", c->what, before, after);
    }
}

static void ack_recv_failures(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        int fds;
        int record;
        int want;
    } cases[] = {
        {"ack with an fd", 1, 0, -EPROTO},
        {"ack with three fds", 3, 0, -EPROTO},
        {"a record (with its fd) where an ack belongs", 1, 1, -EPROTO},
        {"a record without fd where an ack belongs", 0, 1, -EBADMSG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int sv[2];
        struct handoff_ack a = {HANDOFF_ACK_ACCEPTED, 3, 1, 1}, got;
        unsigned char b[HANDOFF_ACK_LEN];
        int before = count_fds();
        chan_pair(sv, 0);
        if (cases[i].record) {
            size_t len = rec_bytes();
            if (cases[i].fds)
                send_n_fds(sv[0], rec_buf, len, cases[i].fds);
            else
                raw_send(sv[0], rec_buf, len, NULL, 0);
        } else {
            assert_int_equal(handoff_ack_encode(&a, b), 0);
            send_n_fds(sv[0], b, sizeof(b), cases[i].fds);
        }
        int r = handoff_ack_recv(sv[1], &got);
        if (r != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].what, r, cases[i].want);
        close(sv[0]);
        close(sv[1]);
        if (count_fds() != before)
            fail_msg("%s: descriptor leaked", cases[i].what);
    }
}

static void send_failures(void **state)
{
    (void)state;
    static struct handoff h;
    int sv[2], cli, srv;
    int before = count_fds();

    assert_int_equal(tcp_pair(AF_INET, &cli, &srv), 0);
    rec_for(srv, &h, 1);
    chan_pair(sv, 1);

    assert_int_equal(handoff_send(sv[0], -1, &h), -EBADF);
    h.seq = 0;
    assert_int_equal(handoff_send(sv[0], srv, &h), -EINVAL);
    h.seq = 1;
    /* A worker that stops reading: the non-blocking channel fills up and
     * the caller hears -EAGAIN (and still owns srv). */
    int r, sent = 0;
    while ((r = handoff_send(sv[0], srv, &h)) == 0)
        sent++;
    assert_int_equal(r, -EAGAIN);
    assert_true(sent > 0);
    print_message("channel full after %d queued handoffs\n", sent);
    /* The worker dies with the handoffs unread: the kernel drops the
     * in-flight descriptors, and the sender hears -ECONNRESET (reset
     * with unread data), then -EPIPE, and never SIGPIPE. */
    close(sv[1]);
    assert_int_equal(handoff_send(sv[0], srv, &h), -ECONNRESET);
    assert_int_equal(handoff_send(sv[0], srv, &h), -EPIPE);
    struct handoff_ack a = {HANDOFF_ACK_LOAD, 0, 0, 1};
    assert_int_equal(handoff_ack_send(sv[0], &a), -EPIPE);
    a.capacity = 0;
    assert_int_equal(handoff_ack_send(sv[0], &a), -EINVAL);
    close(sv[0]);
    close(srv);
    close(cli);
    assert_int_equal(count_fds(), before);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* A blocking receive interrupted by a signal (no SA_RESTART) retries. */
static void recv_retries_eintr(void **state)
{
    (void)state;
    static struct handoff h, got;
    int sv[2], fd;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    chan_pair(sv, 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int p[2];
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
        socketpair(AF_UNIX, SOCK_STREAM, 0, p);
        rec_any(&h);
        _exit(handoff_send(sv[0], p[0], &h) == 0 ? 0 : 1);
    }
    struct itimerval it = {.it_value = {0, 50 * 1000}};
    alarms = 0;
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    assert_int_equal(handoff_recv(sv[1], &fd, &got), 0);
    assert_true(alarms > 0);
    assert_int_equal(got.seq, 5);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fd);
    close(sv[0]);
    close(sv[1]);
    sigaction(SIGALRM, &old, NULL);
}

static void ack_channel(void **state)
{
    (void)state;
    int sv[2];
    struct handoff_ack got;
    chan_pair(sv, 1);
    /* Worker side: accepted handoff 7, then a session ended. */
    struct handoff_ack acc = {HANDOFF_ACK_ACCEPTED, 7, 3, 100};
    struct handoff_ack load = {HANDOFF_ACK_LOAD, 0, 2, 100};
    assert_int_equal(handoff_ack_send(sv[1], &acc), 0);
    assert_int_equal(handoff_ack_send(sv[1], &load), 0);
    assert_int_equal(handoff_ack_recv(sv[0], &got), 0);
    assert_int_equal(got.kind, HANDOFF_ACK_ACCEPTED);
    assert_int_equal(got.seq, 7);
    assert_int_equal(got.sessions, 3);
    assert_int_equal(handoff_ack_recv(sv[0], &got), 0);
    assert_int_equal(got.kind, HANDOFF_ACK_LOAD);
    assert_int_equal(got.sessions, 2);
    assert_int_equal(handoff_ack_recv(sv[0], &got), -EAGAIN);
    close(sv[1]);
    assert_int_equal(handoff_ack_recv(sv[0], &got), -ECONNRESET);
    close(sv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pass_tcp_v4),       cmocka_unit_test(pass_tcp_v6),
        cmocka_unit_test(recv_failures),     cmocka_unit_test(ack_recv_failures),
        cmocka_unit_test(send_failures),     cmocka_unit_test(recv_retries_eintr),
        cmocka_unit_test(ack_channel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
