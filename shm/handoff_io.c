/*
 * handoff_io.c - send and receive a client socket with its handoff record
 * over AF_UNIX SOCK_SEQPACKET, and the worker's ack on the same channel.
 *
 * One message per handoff: the encoded record as data and exactly one
 * descriptor as SCM_RIGHTS. SEQPACKET keeps message boundaries and sends
 * a message whole or not at all, so there is no reassembly and no dummy
 * byte. The receive side is written once, as prepare (msghdr over a
 * struct handoff_rxbuf) + finish (validate a completed receive), so that
 * recvmsg(2) and an io_uring IORING_OP_RECVMSG completion go through the
 * same checks.
 *
 * Failure: every function returns 0 or -errno (see handoff.h). The
 * receive side never leaves a descriptor open after an error: whatever
 * arrived in the ancillary data is closed before returning, whether the
 * record was bad, the descriptor count wrong, or the message cut short.
 */
#include "handoff.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

static int send_msg(int chan, const void *data, size_t len, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        size_t align; /* as struct cmsghdr, which -Wpedantic refuses here */
    } ctl;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

    if (fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    for (;;) {
        /* MSG_NOSIGNAL: a dead worker is an error return, not SIGPIPE. */
        ssize_t n = sendmsg(chan, &msg, MSG_NOSIGNAL);
        if (n >= 0)
            /* SEQPACKET is all or nothing; anything else is a broken
             * channel (not a SEQPACKET socket). */
            return (size_t)n == len ? 0 : -EMSGSIZE;
        if (errno != EINTR)
            return -errno;
    }
}

int handoff_send(int chan, int client_fd, const struct handoff *h)
{
    unsigned char buf[HANDOFF_RECORD_MAX];
    size_t len;

    if (client_fd < 0)
        return -EBADF;
    int err = handoff_encode(h, buf, sizeof(buf), &len);
    if (err < 0)
        return err;
    return send_msg(chan, buf, len, client_fd);
}

int handoff_ack_send(int chan, const struct handoff_ack *a)
{
    unsigned char buf[HANDOFF_ACK_LEN];
    int err = handoff_ack_encode(a, buf);
    if (err < 0)
        return err;
    return send_msg(chan, buf, sizeof(buf), -1);
}

void handoff_recv_prepare(struct handoff_rxbuf *rx)
{
    memset(&rx->msg, 0, sizeof(rx->msg));
    memset(&rx->ctl, 0, sizeof(rx->ctl));
    rx->iov.iov_base = rx->data;
    rx->iov.iov_len = sizeof(rx->data);
    rx->msg.msg_iov = &rx->iov;
    rx->msg.msg_iovlen = 1;
    rx->msg.msg_control = rx->ctl.buf;
    rx->msg.msg_controllen = sizeof(rx->ctl.buf);
}

/*
 * Take every descriptor out of the ancillary data: the first into *fd,
 * the rest closed. Returns how many there were. The kernel installed them
 * in our table whether we wanted them or not, so each must be accounted
 * for. Bounds come from msg_controllen (what the kernel wrote back), never
 * beyond our buffer.
 */
static int take_fds(struct handoff_rxbuf *rx, int *fd)
{
    int count = 0;
    *fd = -1;
    if (rx->msg.msg_controllen > sizeof(rx->ctl.buf))
        rx->msg.msg_controllen = sizeof(rx->ctl.buf);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&rx->msg); c; c = CMSG_NXTHDR(&rx->msg, c)) {
        if (c->cmsg_len < CMSG_LEN(0))
            break;
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *p = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int one;
            memcpy(&one, p + i * sizeof(int), sizeof(int));
            if (count++ == 0)
                *fd = one;
            else
                close(one);
        }
    }
    return count;
}

static int errno_of(enum handoff_result r)
{
    return r == HANDOFF_BAD_VERSION ? -EPROTONOSUPPORT : -EBADMSG;
}

/* Checks shared by both message types; on success, *len is the data size
 * and *fd the one descriptor (or -1). On failure nothing is left open. */
static int finish_common(struct handoff_rxbuf *rx, int res, int *fd, int *nfds)
{
    *fd = -1;
    *nfds = 0;
    if (res < 0)
        return res; /* the kernel installed no descriptor */
    *nfds = take_fds(rx, fd);
    int err = 0;
    if (res == 0)
        err = -ECONNRESET; /* end of file: we never send empty messages */
    else if (rx->msg.msg_flags & MSG_TRUNC)
        err = -EMSGSIZE;
    else if (rx->msg.msg_flags & MSG_CTRUNC)
        err = -EPROTO; /* more ancillary data than any sender of ours sends */
    if (err < 0 && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    return err;
}

static int recv_finish(struct handoff_rxbuf *rx, int res, int *client_fd, struct handoff *h,
                       bool check_type)
{
    int fd, nfds;
    *client_fd = -1;
    int err = finish_common(rx, res, &fd, &nfds);
    if (err < 0)
        return err;
    if (nfds != 1) {
        err = -EPROTO;
        goto fail;
    }
    enum handoff_result r = handoff_decode(rx->data, (size_t)res, h);
    if (r != HANDOFF_OK) {
        err = errno_of(r);
        goto fail;
    }
    /* Trust the record's sender no more for the descriptor: a pipe or a
     * datagram socket would confuse the session much later. */
    int type;
    socklen_t tlen = sizeof(type);
    if (check_type && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0) {
        err = -errno;
        goto fail;
    }
    if (check_type && type != SOCK_STREAM) {
        err = -ENOTSOCK;
        goto fail;
    }
    *client_fd = fd;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    return err;
}

int handoff_recv_finish(struct handoff_rxbuf *rx, int res, int *client_fd, struct handoff *h)
{
    return recv_finish(rx, res, client_fd, h, true);
}

int handoff_recv_finish_accepted(struct handoff_rxbuf *rx, int res, int *client_fd,
                                 struct handoff *h)
{
    return recv_finish(rx, res, client_fd, h, false);
}

int handoff_ack_recv_finish(struct handoff_rxbuf *rx, int res, struct handoff_ack *a)
{
    int fd, nfds;
    int err = finish_common(rx, res, &fd, &nfds);
    if (err < 0)
        return err;
    if (nfds != 0) {
        close(fd);
        return -EPROTO;
    }
    enum handoff_result r = handoff_ack_decode(rx->data, (size_t)res, a);
    return r == HANDOFF_OK ? 0 : errno_of(r);
}

static int recv_msg(int chan, struct handoff_rxbuf *rx)
{
    handoff_recv_prepare(rx);
    for (;;) {
        ssize_t n = recvmsg(chan, &rx->msg, MSG_CMSG_CLOEXEC);
        if (n >= 0)
            return (int)n;
        if (errno != EINTR)
            return -errno;
        handoff_recv_prepare(rx);
    }
}

int handoff_recv(int chan, int *client_fd, struct handoff *h)
{
    struct handoff_rxbuf rx;
    return handoff_recv_finish(&rx, recv_msg(chan, &rx), client_fd, h);
}

int handoff_ack_recv(int chan, struct handoff_ack *a)
{
    struct handoff_rxbuf rx;
    return handoff_ack_recv_finish(&rx, recv_msg(chan, &rx), a);
}
