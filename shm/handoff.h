/*
 * handoff.h - the record that travels with a client socket from the
 * acceptor/frontend to a worker, and the worker's ack/credit reply.
 *
 * A connection that the frontend (or, until the frontend exists, the
 * master's acceptor) finds clean is passed to a worker: the socket goes as
 * SCM_RIGHTS over an AF_UNIX SOCK_SEQPACKET channel, in the same message as
 * one encoded struct handoff. The worker continues the SMTP session where
 * the sender stopped: the record says what the client was told (banner
 * state, whether its HELO/EHLO was answered), what the client said (the
 * HELO/EHLO line, bytes read but not consumed), and what screening learned
 * (PTR name and its status with Postfix's peer_code meaning, verdict,
 * DNSBL score, which tests ran). A worker that receives a record with
 * verdict HANDOFF_VERDICT_UNSCREENED and peer status HANDOFF_PEER_UNCHECKED
 * (the master's acceptor) does the lookups itself; one with a verdict from
 * the frontend does not: so the frontend plugs in without changing workers.
 *
 * Wire format (version 1). All integers are little-endian, whatever the
 * host: both ends are on one host, but a fixed byte order keeps the layout
 * independent of the compiler's struct layout (no padding ever reaches the
 * wire: every byte is written field by field, and unused bytes are zero
 * and checked to be zero). A record starts with magic "MXHO", a version
 * and its total length, so a stale binary left running after an upgrade
 * is refused (HANDOFF_BAD_VERSION) instead of misread.
 *
 *   off len field
 *     0   4 magic "MXHO"
 *     4   4 version (HANDOFF_VERSION)
 *     8   4 total length = HANDOFF_FIXED_LEN + ptr_len + helo_len
 *                          + id_len + preread_len [+ HANDOFF_CMDS_LEN]
 *    12   4 flags (HANDOFF_F_*)
 *    16   8 seq
 *    24  24 client endpoint     \  endpoint: u8 family (0, 4 or 6), u8 0,
 *    48  24 server endpoint      | u16 port, u32 IPv6 scope id, 16 bytes
 *    72  24 socket client        | address (IPv4 in the first 4, the rest
 *    96  24 socket server       /  zero)
 *   120  12 connect, monotonic   \  timestamp: i64 seconds, u32 nanoseconds
 *   132  12 connect, realtime     |
 *   144  12 handoff, monotonic    |
 *   156  12 handoff, realtime    /
 *   168   1 name_status       169 1 reverse_status
 *   170   1 helo_cmd          171 1 banner
 *   172   1 verdict           173 1 zero
 *   174   2 error_count
 *   176   4 tests_done        180 4 tests_failed
 *   184   4 dnsbl_score (signed)
 *   188   2 ptr_len           190 2 helo_len
 *   192   2 id_len            194 2 preread_len
 *   196     ptr name, HELO argument, connection id, preread bytes
 *     then, with HANDOFF_F_CMD_COUNTS only: HANDOFF_NCMDS pairs of u16
 *           (commands that succeeded, commands tried), 4 * HANDOFF_NCMDS
 *           bytes, included in the total length
 *
 * Strings travel as (length, bytes) without a terminator; decode refuses a
 * NUL inside one (a C string and its length would disagree) and stores
 * each NUL-terminated in the struct.
 *
 * handoff_decode() is a pure parser of input from another process: it
 * trusts nothing, checks every length, family, port, enum, flag, reserved
 * byte and cross-field rule, and says which check failed. handoff_encode()
 * refuses (-EINVAL) a struct that decode would refuse, so whatever it
 * produces decodes to the same struct. Neither allocates or does I/O; the
 * socket side is handoff_io.c.
 */
#ifndef MX_HANDOFF_H
#define MX_HANDOFF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define HANDOFF_VERSION 1u
#define HANDOFF_FIXED_LEN 196u

/* Longest PTR name: a DNS name in text form (RFC 1035's 255 octets). */
#define HANDOFF_PTR_MAX 255u
/* Longest HELO/EHLO argument: Postfix's line_length_limit default; a
 * longer line is not read as a command by the frontend. */
#define HANDOFF_HELO_MAX 2048u
/* Connection id for log lines ("NOQUEUE", queue-id style): [A-Za-z0-9]. */
#define HANDOFF_ID_MAX 32u
/*
 * Bytes read from the client and not yet consumed (pipelined commands
 * after the HELO, or anything read ahead). The frontend reads into a
 * buffer no larger than this, so whatever it read always fits; a client
 * that fills the buffer without a complete command is refused by the
 * frontend (line too long / non-SMTP), never handed off. A record cannot
 * carry more: encode refuses it.
 */
#define HANDOFF_PREREAD_MAX 4096u
/* Command counters (HANDOFF_F_CMD_COUNTS): one per row of smtpd's command
 * table, in lib/maillog.h's enum maillog_cmd order (helo, ehlo, xclient,
 * xforward, starttls, auth, mail, rcpt, data, bdat, rset, noop, vrfy,
 * etrn, quit, unknown). */
#define HANDOFF_NCMDS 16u
#define HANDOFF_CMDS_LEN (4u * HANDOFF_NCMDS)
#define HANDOFF_RECORD_MAX                                                                     \
    (HANDOFF_FIXED_LEN + HANDOFF_PTR_MAX + HANDOFF_HELO_MAX + HANDOFF_ID_MAX +                  \
     HANDOFF_PREREAD_MAX + HANDOFF_CMDS_LEN)

/* Flags. Unknown bits are refused by decode. The connection is always
 * plaintext at handoff: a TLS session cannot travel with the descriptor,
 * so the frontend hands off before STARTTLS (it never offers it). */
enum {
    /* client/server came from a PROXY header (smtpd_upstream_proxy_protocol);
     * sock_client/sock_server hold the socket's own endpoints (the proxy). */
    HANDOFF_F_PROXIED = 1u << 0,
    /* The sender already answered the HELO/EHLO in the record (deep protocol
     * tests): the worker continues after it and must not answer it again.
     * Requires helo_cmd != NONE and banner == DONE. */
    HANDOFF_F_HELO_REPLIED = 1u << 1,
    /* The frontend was in stress mode (postscreen's ${stress?...}). */
    HANDOFF_F_STRESS = 1u << 2,
    /* Mid-transaction (the enforce engine's smtpd mode, RCPT TO:<postmaster>):
     * the first preread line is the MAIL command the client already got
     * "250 2.1.0 Ok" for; the worker runs it and sends no reply to it.
     * Requires banner == DONE and a preread. */
    HANDOFF_F_MAIL_DONE = 1u << 3,
    /* The sender answered SMTP commands itself (the deep protocol tests,
     * the enforce engine's smtpd mode): cmd_ok/cmd_total count them, as
     * smtpd's disconnect line counts ("ehlo=1 mail=1 rcpt=0/1 ..."), and
     * the worker goes on counting from there. They include the HELO/EHLO
     * of helo_cmd and exclude the preread lines, which the worker runs (and
     * counts) itself. Requires cmd_ok[i] <= cmd_total[i]; without the
     * flag they are not sent, and decode leaves them zero. */
    HANDOFF_F_CMD_COUNTS = 1u << 4,
};
#define HANDOFF_F_ALL                                                                      \
    (HANDOFF_F_PROXIED | HANDOFF_F_HELO_REPLIED | HANDOFF_F_STRESS | HANDOFF_F_MAIL_DONE |  \
     HANDOFF_F_CMD_COUNTS)

/*
 * PTR lookup outcome, with Postfix's SMTPD_PEER_CODE_* values (smtpd_peer.c).
 * reverse_status is the PTR lookup alone (Postfix's reverse_name_status,
 * used by reject_unknown_reverse_client_hostname); name_status adds the
 * forward confirmation (name_status, reject_unknown_client_hostname):
 *   no PTR                  -> reverse PERM, name PERM, ptr_name ""
 *   PTR lookup temp failure -> reverse TEMP, name TEMP, ptr_name ""
 *   PTR ok, forward temp    -> reverse OK,   name TEMP
 *   PTR ok, not confirmed   -> reverse OK,   name FORGED
 *   PTR ok and confirmed    -> reverse OK,   name OK
 * UNCHECKED (both) means no lookup was made: the worker makes it.
 */
enum handoff_peer {
    HANDOFF_PEER_UNCHECKED = 0,
    HANDOFF_PEER_OK = 2,
    HANDOFF_PEER_TEMP = 4,
    HANDOFF_PEER_PERM = 5,
    HANDOFF_PEER_FORGED = 6, /* name_status only */
};

enum handoff_helo { HANDOFF_HELO_NONE = 0, HANDOFF_HELO_HELO = 1, HANDOFF_HELO_EHLO = 2 };

/* How much of the 220 greeting the client has seen. */
enum handoff_banner {
    HANDOFF_BANNER_NONE = 0, /* nothing: the worker sends the greeting */
    HANDOFF_BANNER_CONT = 1, /* a "220-" line (postscreen_greet_banner): the
                                worker ends it with its "220 " line */
    HANDOFF_BANNER_DONE = 2, /* the whole greeting went out */
};

/* Screening verdict, as postscreen logs it. */
enum handoff_verdict {
    HANDOFF_VERDICT_UNSCREENED = 0,  /* master's acceptor: no tests ran */
    HANDOFF_VERDICT_PASS_NEW = 1,    /* passed the tests just now */
    HANDOFF_VERDICT_PASS_OLD = 2,    /* screening cache hit */
    HANDOFF_VERDICT_ALLOWLISTED = 3, /* postscreen_access_list permit */
};

/* Screening tests (tests_done: ran; tests_failed: failed, but their action
 * was "ignore" so the client still passed). */
enum {
    HANDOFF_TEST_ACCESS_LIST = 1u << 0,
    HANDOFF_TEST_PREGREET = 1u << 1,
    HANDOFF_TEST_DNSBL = 1u << 2,
    HANDOFF_TEST_PIPELINING = 1u << 3,
    HANDOFF_TEST_NON_SMTP = 1u << 4,
    HANDOFF_TEST_BARE_NEWLINE = 1u << 5,
    HANDOFF_TEST_PTR = 1u << 6,          /* PTR + forward confirmation */
    HANDOFF_TEST_CLIENT_REGEX = 1u << 7, /* S25R-style client name regexps */
    HANDOFF_TEST_HELO = 1u << 8,         /* helo_access, syntax, claims to be us */
};
#define HANDOFF_TEST_ALL 0x1ffu

struct handoff {
    uint64_t seq; /* sender's number for this handoff, > 0: acks name it */
    uint32_t flags;
    /* The SMTP client and the address it connected to: AF_INET or AF_INET6,
     * port 1..65535, not unspecified, not IPv4-mapped IPv6 (normalise to
     * AF_INET first, as Postfix does); scope id only for IPv6. */
    struct sockaddr_storage client, server;
    /* With HANDOFF_F_PROXIED: the socket's endpoints (same rules);
     * otherwise ss_family == AF_UNSPEC. */
    struct sockaddr_storage sock_client, sock_server;
    /* tv_sec >= 0, 0 <= tv_nsec < 1e9; handoff_mono >= connect_mono
     * (CLOCK_MONOTONIC is system-wide, so comparable across processes). */
    struct timespec connect_mono, connect_real, handoff_mono, handoff_real;
    enum handoff_peer name_status, reverse_status;
    /* PTR name when reverse_status is OK: 1..255 of [A-Za-z0-9._-];
     * else "". */
    char ptr_name[HANDOFF_PTR_MAX + 1];
    enum handoff_helo helo_cmd;
    /* Argument of helo_cmd, 1..HANDOFF_HELO_MAX bytes, no NUL, CR or LF;
     * "" when helo_cmd is NONE. */
    char helo[HANDOFF_HELO_MAX + 1];
    enum handoff_banner banner;
    enum handoff_verdict verdict;
    uint16_t error_count; /* SMTP errors so far (smtpd_*_error_limit) */
    uint32_t tests_done, tests_failed; /* HANDOFF_TEST_*, failed within done */
    int32_t dnsbl_score; /* weighted sum; nonzero only with TEST_DNSBL done */
    char conn_id[HANDOFF_ID_MAX + 1]; /* 1..32 of [A-Za-z0-9] */
    uint16_t preread_len;             /* 0..HANDOFF_PREREAD_MAX */
    unsigned char preread[HANDOFF_PREREAD_MAX];
    /* HANDOFF_F_CMD_COUNTS: commands the sender answered, per counter. */
    uint16_t cmd_ok[HANDOFF_NCMDS], cmd_total[HANDOFF_NCMDS];
};

enum handoff_result {
    HANDOFF_OK = 0,
    HANDOFF_SHORT,       /* fewer bytes than the fixed part */
    HANDOFF_BAD_MAGIC,   /* not a record (or not this message type) */
    HANDOFF_BAD_VERSION, /* the other end runs another version */
    HANDOFF_BAD_LENGTH,  /* declared length != bytes, or parts don't add up */
    HANDOFF_BAD_FLAGS,   /* unknown flag bits */
    HANDOFF_BAD_FAMILY,  /* address family not 4/6 (or present when it must not be) */
    HANDOFF_BAD_ADDR,    /* unspecified, v4-mapped, nonzero padding or scope */
    HANDOFF_BAD_PORT,    /* port 0 */
    HANDOFF_BAD_TIME,    /* nanoseconds out of range, negative, or order */
    HANDOFF_BAD_ENUM,    /* status, command, banner, verdict or kind out of range */
    HANDOFF_BAD_STRING,  /* too long, empty when required, or a bad byte */
    HANDOFF_BAD_RESERVED, /* a reserved byte is not zero */
    HANDOFF_INCONSISTENT, /* fields contradict each other */
};

/* Bytes handoff_encode() will write for h (valid or not). */
size_t handoff_encoded_len(const struct handoff *h);
/* Run decode's checks on a struct: HANDOFF_OK or what is wrong. */
enum handoff_result handoff_check(const struct handoff *h);
/* Encode h into buf. 0 with *len set, -EINVAL if handoff_check() fails,
 * -ENOBUFS if cap is too small. */
int handoff_encode(const struct handoff *h, void *buf, size_t cap, size_t *len);
/* Decode exactly len bytes. On anything but HANDOFF_OK, *out is undefined. */
enum handoff_result handoff_decode(const void *buf, size_t len, struct handoff *out);
/* A short phrase for log lines ("bad version"). */
const char *handoff_strerror(enum handoff_result r);

/*
 * Ack/credit: worker -> sender on the same channel, 32 bytes, no fd.
 * The sender watches each worker's backlog as postscreen watches smtpd's:
 * handoffs sent minus acks seen is the worker's backlog, sessions and
 * capacity its load; it stops handing to a worker whose backlog grows or
 * whose sessions reach capacity, until a LOAD ack shows room again.
 * The channel itself also bounds the backlog: once the socket buffer
 * holds about a couple of hundred unread handoffs, a non-blocking send
 * gets -EAGAIN, and the sender tries another worker.
 *
 *   off len field
 *     0   4 magic "MXHA"    4 4 version     8 4 length (32)
 *    12   4 kind           16 8 seq
 *    24   4 sessions       28 4 capacity
 */
#define HANDOFF_ACK_LEN 32u

enum handoff_ack_kind {
    HANDOFF_ACK_ACCEPTED = 1, /* took handoff seq; now holds sessions */
    HANDOFF_ACK_REFUSED = 2,  /* could not hold seq: answered 421 and closed it */
    HANDOFF_ACK_LOAD = 3,     /* load report (sessions ended); seq = 0 */
};

struct handoff_ack {
    enum handoff_ack_kind kind;
    uint64_t seq;      /* > 0 for ACCEPTED/REFUSED, 0 for LOAD */
    uint32_t sessions; /* sessions held now, <= capacity; >= 1 after ACCEPTED */
    uint32_t capacity; /* most sessions this worker will hold, > 0 */
};

enum handoff_result handoff_ack_check(const struct handoff_ack *a);
/* 0, or -EINVAL if handoff_ack_check() fails. */
int handoff_ack_encode(const struct handoff_ack *a, unsigned char buf[HANDOFF_ACK_LEN]);
enum handoff_result handoff_ack_decode(const void *buf, size_t len, struct handoff_ack *out);

/*
 * Socket side (handoff_io.c). All return 0 or -errno.
 *
 * handoff_send(): one message = encoded h + client_fd as SCM_RIGHTS. The
 * caller keeps client_fd either way: after 0 it closes its copy (the
 * worker owns the connection); after an error it may try another worker
 * or answer 421. Errors: -EINVAL (bad record), -EBADF, -EAGAIN
 * (non-blocking channel full), -EPIPE/-ECONNRESET (worker gone).
 *
 * handoff_recv(): *client_fd = the received socket (close-on-exec), or -1
 * after any error, with no descriptor left open. Errors: -EAGAIN
 * (non-blocking, nothing queued), -ECONNRESET (peer closed: end of file,
 * or reset), -EMSGSIZE (message longer than any record: MSG_TRUNC),
 * -EPROTO (no descriptor, more than one, or ancillary data cut:
 * MSG_CTRUNC), -EPROTONOSUPPORT (other version), -EBADMSG (any other
 * decode failure), -ENOTSOCK (the descriptor is not a stream socket).
 * EINTR is retried in both.
 */
int handoff_send(int chan, int client_fd, const struct handoff *h);
int handoff_recv(int chan, int *client_fd, struct handoff *h);

/* Ack I/O: same errors; an ack that arrives with descriptors has them
 * closed and gives -EPROTO. */
int handoff_ack_send(int chan, const struct handoff_ack *a);
int handoff_ack_recv(int chan, struct handoff_ack *a);

/*
 * io_uring shape: the same validation with a completion instead of a
 * syscall. handoff_recv_prepare() points rx->msg at rx's own buffers; pass
 * &rx->msg to io_uring_prep_recvmsg(sqe, chan, &rx->msg, MSG_CMSG_CLOEXEC)
 * and keep rx in place until the completion, then hand cqe->res to
 * handoff_recv_finish() (or handoff_ack_recv_finish()), which returns what
 * handoff_recv() would. Prepare again before each receive.
 */
#define HANDOFF_RX_FDS 8 /* room to see (and close) a few stray descriptors */
struct handoff_rxbuf {
    struct msghdr msg;
    struct iovec iov;
    union {
        char buf[CMSG_SPACE(sizeof(int) * HANDOFF_RX_FDS)];
        size_t align; /* a cmsghdr's alignment (its first member); the
                          struct itself has a flexible array */
    } ctl;
    unsigned char data[HANDOFF_RECORD_MAX];
};

void handoff_recv_prepare(struct handoff_rxbuf *rx);
int handoff_recv_finish(struct handoff_rxbuf *rx, int res, int *client_fd, struct handoff *h);
/* The same without asking the descriptor's type (one getsockopt(SO_TYPE)
 * per connection less), for a channel whose only sender is our own
 * frontend on a channel the master made: it sends only what accept(2)
 * gave it on a TCP listener, and the record's addresses (AF_INET or
 * AF_INET6, nonzero ports, checked by the decoder) are that accept's. A
 * descriptor of another type, a sender's bug, fails the session's first
 * socket operation (ENOTSOCK on a pipe) instead of here. Never -ENOTSOCK. */
int handoff_recv_finish_accepted(struct handoff_rxbuf *rx, int res, int *client_fd,
                                 struct handoff *h);
int handoff_ack_recv_finish(struct handoff_rxbuf *rx, int res, struct handoff_ack *a);

#endif
