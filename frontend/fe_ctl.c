/*
 * fe_ctl.c - the master <-> frontend control messages (fe_ctl.h): a pure
 * encoder/decoder and the SEQPACKET send/receive with one optional
 * descriptor.
 *
 * Failure: see fe_ctl.h. The receive side closes every descriptor that
 * arrived with a message it refuses.
 */
#include "fe_ctl.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const unsigned char magic[4] = {'M', 'X', 'F', 'C'};

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

#define F(name, field, gauge) {name, offsetof(struct fe_stats, field), gauge}
/* Wire order and status names: append only (doc/status.md promises that a
 * name keeps its meaning). */
const struct fe_stats_field fe_stats_fields[FE_STATS_N] = {
    F("accepted", accepted, 0),
    F("handed_off", handed, 0),
    F("refused_busy", refused_busy, 0),
    F("refused_by_worker", refused_worker, 0),
    F("refused_pool", refused_pool, 0),
    F("held", held, 1),
    F("pregreet_fail", pregreet, 0),
    F("denylisted", denylisted, 0),
    F("allowlisted", allowlisted, 0),
    F("tarpitted", tarpitted, 0),
    F("dropped", dropped, 0),
    F("hangup", hangup, 0),
    F("pregreet_pass", pregreet_pass, 0),
    F("dnsbl_pass", dnsbl_pass, 0),
    F("dnsbl_fail", dnsbl_fail, 0),
    F("pipelining_pass", pipelining_pass, 0),
    F("pipelining_fail", pipelining_fail, 0),
    F("non_smtp_command_pass", non_smtp_pass, 0),
    F("non_smtp_command_fail", non_smtp_fail, 0),
    F("bare_newline_pass", bare_newline_pass, 0),
    F("bare_newline_fail", bare_newline_fail, 0),
    F("pass_new", pass_new, 0),
    F("pass_old", pass_old, 0),
    F("client_reject", client_reject, 0),
    F("helo_reject", helo_reject, 0),
};
#undef F
/* Every field is in the table once: as many u64s as table rows. */
_Static_assert(sizeof(struct fe_stats) == FE_STATS_N * sizeof(uint64_t),
               "struct fe_stats and fe_stats_fields[] disagree");

static uint64_t *stat_field(struct fe_stats *s, size_t i)
{
    return (uint64_t *)(void *)((unsigned char *)s + fe_stats_fields[i].off);
}

uint64_t fe_stats_get(const struct fe_stats *s, size_t i)
{
    uint64_t v;
    memcpy(&v, (const unsigned char *)s + fe_stats_fields[i].off, sizeof(v));
    return v;
}

void fe_stats_add(struct fe_stats *sum, const struct fe_stats *s, int with_gauges)
{
    for (size_t i = 0; i < FE_STATS_N; i++)
        if (with_gauges || !fe_stats_fields[i].gauge)
            *stat_field(sum, i) += fe_stats_get(s, i);
}

static size_t kind_len(enum fe_ctl_kind k, uint32_t n)
{
    switch (k) {
    case FE_CTL_ADD: return FE_CTL_HDR_LEN + 12;
    case FE_CTL_DEL: return FE_CTL_HDR_LEN + 8;
    case FE_CTL_RETIRE: return FE_CTL_HDR_LEN;
    case FE_CTL_STATS: return FE_CTL_STATS_FIXED + (size_t)n * FE_CTL_WORKER_LEN;
    }
    return 0;
}

static enum fe_ctl_result check(const struct fe_ctl_msg *m)
{
    switch (m->kind) {
    case FE_CTL_ADD:
    case FE_CTL_DEL:
        return m->pid == 0 ? FE_CTL_BAD_VALUE : FE_CTL_OK;
    case FE_CTL_RETIRE:
        return FE_CTL_OK;
    case FE_CTL_STATS:
        if (m->nworkers > FE_CTL_MAX_WORKERS)
            return FE_CTL_BAD_VALUE;
        for (uint32_t i = 0; i < m->nworkers; i++)
            if (m->w[i].pid == 0 || m->w[i].sessions > m->w[i].capacity)
                return FE_CTL_BAD_VALUE;
        return FE_CTL_OK;
    }
    return FE_CTL_BAD_KIND;
}

size_t fe_ctl_encoded_len(const struct fe_ctl_msg *m)
{
    return kind_len(m->kind, m->kind == FE_CTL_STATS ? m->nworkers : 0);
}

int fe_ctl_encode(const struct fe_ctl_msg *m, unsigned char *buf, size_t cap, size_t *len)
{
    if (check(m) != FE_CTL_OK)
        return -EINVAL;
    size_t n = fe_ctl_encoded_len(m);
    if (n > cap)
        return -ENOBUFS;
    memcpy(buf, magic, 4);
    put32(buf + 4, (uint32_t)m->kind);
    put32(buf + 8, (uint32_t)n);
    unsigned char *p = buf + FE_CTL_HDR_LEN;
    switch (m->kind) {
    case FE_CTL_ADD:
        put32(p + 8, m->index);
        /* fall through */
    case FE_CTL_DEL:
        put32(p, m->slot);
        put32(p + 4, m->pid);
        break;
    case FE_CTL_RETIRE:
        break;
    case FE_CTL_STATS: {
        for (size_t i = 0; i < FE_STATS_N; i++)
            put64(p + 8 * i, fe_stats_get(&m->st, i));
        p += 8 * FE_STATS_N;
        put32(p, m->nworkers);
        p += 4;
        for (uint32_t i = 0; i < m->nworkers; i++, p += FE_CTL_WORKER_LEN) {
            put32(p, m->w[i].slot);
            put32(p + 4, m->w[i].pid);
            put32(p + 8, m->w[i].sessions);
            put32(p + 12, m->w[i].capacity);
            put32(p + 16, m->w[i].pending);
        }
        break;
    }
    }
    *len = n;
    return 0;
}

enum fe_ctl_result fe_ctl_decode(const unsigned char *buf, size_t len, struct fe_ctl_msg *out)
{
    if (len < FE_CTL_HDR_LEN)
        return FE_CTL_SHORT;
    if (memcmp(buf, magic, 4) != 0)
        return FE_CTL_BAD_MAGIC;
    uint32_t kind = get32(buf + 4);
    if (kind < FE_CTL_ADD || kind > FE_CTL_STATS)
        return FE_CTL_BAD_KIND;
    if (get32(buf + 8) != len)
        return FE_CTL_BAD_LENGTH;
    memset(out, 0, offsetof(struct fe_ctl_msg, w));
    out->kind = (enum fe_ctl_kind)kind;
    const unsigned char *p = buf + FE_CTL_HDR_LEN;
    if (kind == FE_CTL_STATS) {
        if (len < FE_CTL_STATS_FIXED)
            return FE_CTL_BAD_LENGTH;
        out->nworkers = get32(p + 8 * FE_STATS_N);
        if (out->nworkers > FE_CTL_MAX_WORKERS)
            return FE_CTL_BAD_VALUE;
    }
    if (len != kind_len(out->kind, out->nworkers))
        return FE_CTL_BAD_LENGTH;
    switch (out->kind) {
    case FE_CTL_ADD:
        out->index = get32(p + 8);
        /* fall through */
    case FE_CTL_DEL:
        out->slot = get32(p);
        out->pid = get32(p + 4);
        break;
    case FE_CTL_RETIRE:
        break;
    case FE_CTL_STATS:
        for (size_t i = 0; i < FE_STATS_N; i++)
            *stat_field(&out->st, i) = get64(p + 8 * i);
        p += 8 * FE_STATS_N + 4;
        for (uint32_t i = 0; i < out->nworkers; i++, p += FE_CTL_WORKER_LEN) {
            out->w[i].slot = get32(p);
            out->w[i].pid = get32(p + 4);
            out->w[i].sessions = get32(p + 8);
            out->w[i].capacity = get32(p + 12);
            out->w[i].pending = get32(p + 16);
        }
        break;
    }
    return check(out);
}

const char *fe_ctl_strerror(enum fe_ctl_result r)
{
    switch (r) {
    case FE_CTL_OK: return "ok";
    case FE_CTL_SHORT: return "short message";
    case FE_CTL_BAD_MAGIC: return "bad magic";
    case FE_CTL_BAD_KIND: return "unknown kind";
    case FE_CTL_BAD_LENGTH: return "bad length";
    case FE_CTL_BAD_VALUE: return "bad value";
    }
    return "?";
}

int fe_ctl_send(int chan, const struct fe_ctl_msg *m, int fd)
{
    static unsigned char buf[FE_CTL_MAX_LEN];
    size_t len;
    if ((m->kind == FE_CTL_ADD) != (fd >= 0))
        return -EINVAL;
    int r = fe_ctl_encode(m, buf, sizeof(buf), &len);
    if (r < 0)
        return r;
    union {
        char b[CMSG_SPACE(sizeof(int))];
        size_t align;
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.b;
        msg.msg_controllen = sizeof(ctl.b);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    for (;;) {
        ssize_t n = sendmsg(chan, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return (size_t)n == len ? 0 : -EMSGSIZE;
        if (errno != EINTR)
            return -errno;
    }
}

int fe_ctl_recv(int chan, struct fe_ctl_msg *m, int *fd)
{
    static unsigned char buf[FE_CTL_MAX_LEN + 1];
    union {
        char b[CMSG_SPACE(sizeof(int) * 4)];
        size_t align;
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                         .msg_controllen = sizeof(ctl.b)};
    ssize_t n;
    *fd = -1;
    do
        n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -ECONNRESET;
    int fds[4], nfd = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && nfd < 4; i++)
            memcpy(&fds[nfd++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    int rc = 0;
    if (msg.msg_flags & MSG_TRUNC)
        rc = -EMSGSIZE;
    else if (msg.msg_flags & MSG_CTRUNC)
        rc = -EPROTO;
    else if (fe_ctl_decode(buf, (size_t)n, m) != FE_CTL_OK)
        rc = -EBADMSG;
    else if ((m->kind == FE_CTL_ADD) != (nfd == 1))
        rc = -EPROTO;
    if (rc < 0) {
        for (int i = 0; i < nfd; i++)
            close(fds[i]);
        return rc;
    }
    if (nfd == 1)
        *fd = fds[0];
    return 0;
}
