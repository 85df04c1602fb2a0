/*
 * fe_ctl.h - the control channel between the master and one frontend
 * process: an AF_UNIX SOCK_SEQPACKET pair made by the master when it forks
 * the frontend of a generation.
 *
 * master -> frontend
 *   ADD     "worker slot S (pid P, index I) of your generation is ready":
 *           the master's end of that worker's handoff channel travels with
 *           it as SCM_RIGHTS. The frontend hands connections to it and
 *           reads its acks. A restarted worker comes as a new ADD for the
 *           same slot (with another pid): the old channel is dropped.
 *   DEL     "slot S (pid P) is gone or retiring": hand nothing more to it.
 *   RETIRE  a new generation took over: stop accepting, finish the
 *           connections held now (bounded), then exit 0.
 * frontend -> master
 *   STATS   counters since the frontend started and, per worker channel,
 *           the load it sees (sessions, capacity, handoffs not yet acked),
 *           so that "mxscreen-ctl status" stays meaningful.
 *
 * Wire format: every message starts with magic "MXFC", u32 kind, u32 total
 * length, all little-endian; then the kind's fields (u32/u64 LE). STATS
 * carries FE_STATS_N u64 counters in fe_stats_fields[] order, then n (u32,
 * at most FE_CTL_MAX_WORKERS) worker entries of 20 bytes. Master and
 * frontend are one binary (fork, no exec), so the layout needs no version.
 * fe_ctl_decode() is a pure parser of input from another process: exact
 * lengths, known kinds, ranges; fe_ctl_encode() refuses what decode would
 * refuse. The socket side (fe_ctl_send/recv) returns 0 or -errno like
 * shm/handoff_io.c: -EAGAIN, -ECONNRESET (peer closed), -EMSGSIZE, -EPROTO
 * (descriptor count wrong for the kind), -EBADMSG (decode failed); a
 * received descriptor is close-on-exec and never leaked on an error.
 */
#ifndef MX_FE_CTL_H
#define MX_FE_CTL_H

#include <stddef.h>
#include <stdint.h>

#define FE_CTL_MAX_WORKERS 256u
#define FE_CTL_HDR_LEN 12u
#define FE_CTL_WORKER_LEN 20u
#define FE_STATS_N 25u /* counters in struct fe_stats (and fe_stats_fields[]) */
#define FE_CTL_STATS_FIXED (FE_CTL_HDR_LEN + 8u * FE_STATS_N + 4u)
#define FE_CTL_MAX_LEN (FE_CTL_STATS_FIXED + FE_CTL_MAX_WORKERS * FE_CTL_WORKER_LEN)

enum fe_ctl_kind {
    FE_CTL_ADD = 1,
    FE_CTL_DEL = 2,
    FE_CTL_RETIRE = 3,
    FE_CTL_STATS = 4,
};

/* Counters of one frontend (all since it started). */
struct fe_stats {
    uint64_t accepted;       /* connections accepted */
    uint64_t handed;         /* handed to a worker */
    uint64_t refused_busy;   /* 421: no worker could take it in time */
    uint64_t refused_worker; /* REFUSED acks (the worker answered 421) */
    uint64_t refused_pool;   /* 421: the frontend's connection pool was full */
    uint64_t held;           /* connections held now (screening, tarpit) */
    uint64_t pregreet;       /* PREGREET seen */
    uint64_t denylisted;     /* access list reject */
    uint64_t allowlisted;    /* access list permit */
    uint64_t tarpitted;      /* tarpits started */
    uint64_t dropped;        /* drop action: 521 and close */
    uint64_t hangup;         /* client left during the tests */
    /* Per test: a test counts once per connection that ran it to a
     * verdict (fail: its failure was logged; pass: it ran to the end
     * without one). A client that leaves first, or is allowlisted by
     * DNSBL score during the greet wait, counts neither. pregreet above
     * is the pregreet fails. */
    uint64_t pregreet_pass;
    uint64_t dnsbl_pass, dnsbl_fail;      /* fail: score >= threshold */
    uint64_t pipelining_pass, pipelining_fail;
    uint64_t non_smtp_pass, non_smtp_fail;
    uint64_t bare_newline_pass, bare_newline_fail;
    uint64_t pass_new, pass_old;          /* "PASS NEW" / "PASS OLD" logged */
    uint64_t client_reject;               /* smtpd_client_restrictions reject (fe_early) */
    uint64_t helo_reject;                 /* HELO/EHLO the HELO restrictions reject */
};

/* The counters in wire order, with the stable names that "mxscreen-ctl
 * status" prints (doc/status.md). gauge: a value now (held), not a count,
 * so a dead frontend's is not kept. */
struct fe_stats_field {
    const char *name;
    size_t off; /* offsetof(struct fe_stats, ...) */
    int gauge;
};
extern const struct fe_stats_field fe_stats_fields[FE_STATS_N];
uint64_t fe_stats_get(const struct fe_stats *s, size_t i);
/* sum += s, field by field (gauges only when with_gauges). */
void fe_stats_add(struct fe_stats *sum, const struct fe_stats *s, int with_gauges);

struct fe_ctl_worker {
    uint32_t slot, pid;
    uint32_t sessions, capacity;
    uint32_t pending; /* handoffs sent, not yet acked */
};

struct fe_ctl_msg {
    enum fe_ctl_kind kind;
    uint32_t slot, pid, index; /* ADD, DEL (index: ADD only) */
    struct fe_stats st;        /* STATS */
    uint32_t nworkers;         /* STATS */
    struct fe_ctl_worker w[FE_CTL_MAX_WORKERS];
};

enum fe_ctl_result {
    FE_CTL_OK = 0,
    FE_CTL_SHORT,       /* fewer bytes than a header */
    FE_CTL_BAD_MAGIC,
    FE_CTL_BAD_KIND,
    FE_CTL_BAD_LENGTH,  /* declared length != bytes, or != the kind's length */
    FE_CTL_BAD_VALUE,   /* pid 0, too many workers, pending/sessions out of range */
};

size_t fe_ctl_encoded_len(const struct fe_ctl_msg *m);
/* 0 with *len, -EINVAL (a message decode would refuse), -ENOBUFS. */
int fe_ctl_encode(const struct fe_ctl_msg *m, unsigned char *buf, size_t cap, size_t *len);
enum fe_ctl_result fe_ctl_decode(const unsigned char *buf, size_t len, struct fe_ctl_msg *out);
const char *fe_ctl_strerror(enum fe_ctl_result r);

/* ADD carries fd (>= 0); the others none (fd -1). */
int fe_ctl_send(int chan, const struct fe_ctl_msg *m, int fd);
/* *fd: the descriptor of an ADD (close-on-exec), else -1. */
int fe_ctl_recv(int chan, struct fe_ctl_msg *m, int *fd);

#endif
