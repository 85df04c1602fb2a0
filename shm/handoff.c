/*
 * handoff.c - encode and decode the handoff record and the worker's ack.
 *
 * Layout and field rules are in handoff.h. One set of checks
 * (check_record) runs on the decoded struct in handoff_decode() and on the
 * caller's struct in handoff_encode(), so that encode can only produce
 * what decode accepts; decode adds the checks that only exist on the wire
 * (lengths, reserved bytes, address padding). Pure: no I/O, no
 * allocation, no globals.
 */
#include "handoff.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#define REC_MAGIC 0x4f48584du /* "MXHO" read as little-endian */
#define ACK_MAGIC 0x4148584du /* "MXHA" */

enum { OFF_ENDPOINTS = 24, EP_LEN = 24, OFF_TIMES = 120, TS_LEN = 12, OFF_STATUS = 168 };

/* Little-endian accessors: the wire order is fixed whatever the host. */
static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

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

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* An endpoint that a TCP connection can have. */
static enum handoff_result check_endpoint(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        if (sin->sin_port == 0)
            return HANDOFF_BAD_PORT;
        if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
            return HANDOFF_BAD_ADDR;
        return HANDOFF_OK;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        if (sin6->sin6_port == 0)
            return HANDOFF_BAD_PORT;
        /* A v4-mapped client would escape IPv4 mynetworks and access
         * rules: the sender normalises it to AF_INET, as Postfix does. */
        if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) || IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
            return HANDOFF_BAD_ADDR;
        return HANDOFF_OK;
    }
    return HANDOFF_BAD_FAMILY;
}

static enum handoff_result check_time(const struct timespec *ts)
{
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
        return HANDOFF_BAD_TIME;
    return HANDOFF_OK;
}

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bounded length of a struct string, or max + 1 when unterminated. */
static size_t str_len(const char *s, size_t max)
{
    const char *nul = memchr(s, '\0', max + 1);
    return nul ? (size_t)(nul - s) : max + 1;
}

/* Hostname characters, as Postfix's valid_hostname() allows them. */
static enum handoff_result check_ptr(const char *s, size_t n)
{
    if (n > HANDOFF_PTR_MAX)
        return HANDOFF_BAD_STRING;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '.' && c != '-' && c != '_')
            return HANDOFF_BAD_STRING;
    }
    return HANDOFF_OK;
}

/* Anything an SMTP command line may hold: not NUL (it would cut the C
 * string), not CR or LF (they would end the line in a log or a reply). */
static enum handoff_result check_helo(const char *s, size_t n)
{
    if (n > HANDOFF_HELO_MAX)
        return HANDOFF_BAD_STRING;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n')
            return HANDOFF_BAD_STRING;
    return HANDOFF_OK;
}

static enum handoff_result check_id(const char *s, size_t n)
{
    if (n == 0 || n > HANDOFF_ID_MAX)
        return HANDOFF_BAD_STRING;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum((unsigned char)s[i]))
            return HANDOFF_BAD_STRING;
    return HANDOFF_OK;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        enum handoff_result r_ = (expr);                                                           \
        if (r_ != HANDOFF_OK)                                                                      \
            return r_;                                                                             \
    } while (0)

/* The rules both ends agree on, on a struct with terminated strings. */
static enum handoff_result check_record(const struct handoff *h, size_t ptr_len, size_t helo_len,
                                        size_t id_len)
{
    if (h->flags & ~(uint32_t)HANDOFF_F_ALL)
        return HANDOFF_BAD_FLAGS;
    TRY(check_endpoint(&h->client));
    TRY(check_endpoint(&h->server));
    if (h->flags & HANDOFF_F_PROXIED) {
        TRY(check_endpoint(&h->sock_client));
        TRY(check_endpoint(&h->sock_server));
    } else if (h->sock_client.ss_family != AF_UNSPEC || h->sock_server.ss_family != AF_UNSPEC) {
        return HANDOFF_BAD_FAMILY;
    }
    /* The client and the address it reached are one connection's ends. */
    if (h->client.ss_family != h->server.ss_family ||
        h->sock_client.ss_family != h->sock_server.ss_family)
        return HANDOFF_INCONSISTENT;
    TRY(check_time(&h->connect_mono));
    TRY(check_time(&h->connect_real));
    TRY(check_time(&h->handoff_mono));
    TRY(check_time(&h->handoff_real));
    if (h->handoff_mono.tv_sec < h->connect_mono.tv_sec ||
        (h->handoff_mono.tv_sec == h->connect_mono.tv_sec &&
         h->handoff_mono.tv_nsec < h->connect_mono.tv_nsec))
        return HANDOFF_BAD_TIME;

    switch (h->name_status) {
    case HANDOFF_PEER_UNCHECKED:
    case HANDOFF_PEER_OK:
    case HANDOFF_PEER_TEMP:
    case HANDOFF_PEER_PERM:
    case HANDOFF_PEER_FORGED:
        break;
    default:
        return HANDOFF_BAD_ENUM;
    }
    switch (h->reverse_status) {
    case HANDOFF_PEER_UNCHECKED:
    case HANDOFF_PEER_TEMP:
    case HANDOFF_PEER_PERM:
        /* No PTR name: the forward check cannot have run either. */
        if (h->name_status != h->reverse_status || ptr_len != 0)
            return HANDOFF_INCONSISTENT;
        break;
    case HANDOFF_PEER_OK:
        /* The PTR lookup worked, so a forward failure is TEMP or FORGED
         * (Postfix maps a permanent one to FORGED), never PERM. */
        if (h->name_status == HANDOFF_PEER_UNCHECKED || h->name_status == HANDOFF_PEER_PERM)
            return HANDOFF_INCONSISTENT;
        if (ptr_len == 0)
            return HANDOFF_BAD_STRING;
        break;
    default:
        return HANDOFF_BAD_ENUM;
    }
    TRY(check_ptr(h->ptr_name, ptr_len));

    if ((unsigned)h->helo_cmd > HANDOFF_HELO_EHLO || (unsigned)h->banner > HANDOFF_BANNER_DONE)
        return HANDOFF_BAD_ENUM;
    TRY(check_helo(h->helo, helo_len));
    if ((h->helo_cmd == HANDOFF_HELO_NONE) != (helo_len == 0))
        return h->helo_cmd == HANDOFF_HELO_NONE ? HANDOFF_INCONSISTENT : HANDOFF_BAD_STRING;
    if ((h->flags & HANDOFF_F_HELO_REPLIED) &&
        (h->helo_cmd == HANDOFF_HELO_NONE || h->banner != HANDOFF_BANNER_DONE))
        return HANDOFF_INCONSISTENT;

    if ((unsigned)h->verdict > HANDOFF_VERDICT_ALLOWLISTED)
        return HANDOFF_BAD_ENUM;
    if ((h->tests_done | h->tests_failed) & ~(uint32_t)HANDOFF_TEST_ALL)
        return HANDOFF_BAD_FLAGS;
    if ((h->tests_failed & ~h->tests_done) ||
        (h->dnsbl_score != 0 && !(h->tests_done & HANDOFF_TEST_DNSBL)))
        return HANDOFF_INCONSISTENT;
    if (h->verdict == HANDOFF_VERDICT_UNSCREENED && h->tests_done != 0)
        return HANDOFF_INCONSISTENT;
    if (h->verdict == HANDOFF_VERDICT_ALLOWLISTED && !(h->tests_done & HANDOFF_TEST_ACCESS_LIST))
        return HANDOFF_INCONSISTENT;

    TRY(check_id(h->conn_id, id_len));
    if (h->preread_len > HANDOFF_PREREAD_MAX)
        return HANDOFF_BAD_LENGTH;
    if ((h->flags & HANDOFF_F_MAIL_DONE) &&
        (h->banner != HANDOFF_BANNER_DONE || h->preread_len == 0))
        return HANDOFF_INCONSISTENT;
    /* Counters: ok within total. Without the flag they are not sent (and
     * decode to zero), whatever the struct holds: a sender may reuse one. */
    if (h->flags & HANDOFF_F_CMD_COUNTS)
        for (unsigned i = 0; i < HANDOFF_NCMDS; i++)
            if (h->cmd_ok[i] > h->cmd_total[i])
                return HANDOFF_INCONSISTENT;
    if (h->seq == 0)
        return HANDOFF_INCONSISTENT;
    return HANDOFF_OK;
}

static void struct_lens(const struct handoff *h, size_t *ptr, size_t *helo, size_t *id)
{
    *ptr = str_len(h->ptr_name, HANDOFF_PTR_MAX);
    *helo = str_len(h->helo, HANDOFF_HELO_MAX);
    *id = str_len(h->conn_id, HANDOFF_ID_MAX);
}

enum handoff_result handoff_check(const struct handoff *h)
{
    size_t ptr, helo, id;
    struct_lens(h, &ptr, &helo, &id);
    return check_record(h, ptr, helo, id);
}

/* The counters' bytes after the preread (HANDOFF_F_CMD_COUNTS). */
static size_t cmds_len(uint32_t flags)
{
    return (flags & HANDOFF_F_CMD_COUNTS) ? HANDOFF_CMDS_LEN : 0;
}

size_t handoff_encoded_len(const struct handoff *h)
{
    size_t ptr, helo, id;
    struct_lens(h, &ptr, &helo, &id);
    return HANDOFF_FIXED_LEN + ptr + helo + id + h->preread_len + cmds_len(h->flags);
}

static void put_endpoint(unsigned char *p, const struct sockaddr_storage *ss)
{
    memset(p, 0, EP_LEN);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        p[0] = 4;
        put16(p + 2, ntohs(sin->sin_port));
        memcpy(p + 8, &sin->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        p[0] = 6;
        put16(p + 2, ntohs(sin6->sin6_port));
        put32(p + 4, sin6->sin6_scope_id);
        memcpy(p + 8, &sin6->sin6_addr, 16);
    }
}

static void put_time(unsigned char *p, const struct timespec *ts)
{
    put64(p, (uint64_t)ts->tv_sec);
    put32(p + 8, (uint32_t)ts->tv_nsec);
}

int handoff_encode(const struct handoff *h, void *buf, size_t cap, size_t *len)
{
    size_t ptr, helo, id;
    struct_lens(h, &ptr, &helo, &id);
    if (check_record(h, ptr, helo, id) != HANDOFF_OK)
        return -EINVAL;
    size_t total = HANDOFF_FIXED_LEN + ptr + helo + id + h->preread_len + cmds_len(h->flags);
    if (cap < total)
        return -ENOBUFS;

    unsigned char *b = buf;
    memset(b, 0, HANDOFF_FIXED_LEN);
    put32(b, REC_MAGIC);
    put32(b + 4, HANDOFF_VERSION);
    put32(b + 8, (uint32_t)total);
    put32(b + 12, h->flags);
    put64(b + 16, h->seq);
    put_endpoint(b + OFF_ENDPOINTS, &h->client);
    put_endpoint(b + OFF_ENDPOINTS + EP_LEN, &h->server);
    put_endpoint(b + OFF_ENDPOINTS + 2 * EP_LEN, &h->sock_client);
    put_endpoint(b + OFF_ENDPOINTS + 3 * EP_LEN, &h->sock_server);
    put_time(b + OFF_TIMES, &h->connect_mono);
    put_time(b + OFF_TIMES + TS_LEN, &h->connect_real);
    put_time(b + OFF_TIMES + 2 * TS_LEN, &h->handoff_mono);
    put_time(b + OFF_TIMES + 3 * TS_LEN, &h->handoff_real);
    b[168] = (unsigned char)h->name_status;
    b[169] = (unsigned char)h->reverse_status;
    b[170] = (unsigned char)h->helo_cmd;
    b[171] = (unsigned char)h->banner;
    b[172] = (unsigned char)h->verdict;
    put16(b + 174, h->error_count);
    put32(b + 176, h->tests_done);
    put32(b + 180, h->tests_failed);
    put32(b + 184, (uint32_t)h->dnsbl_score);
    put16(b + 188, (uint16_t)ptr);
    put16(b + 190, (uint16_t)helo);
    put16(b + 192, (uint16_t)id);
    put16(b + 194, h->preread_len);

    unsigned char *p = b + HANDOFF_FIXED_LEN;
    memcpy(p, h->ptr_name, ptr);
    p += ptr;
    memcpy(p, h->helo, helo);
    p += helo;
    memcpy(p, h->conn_id, id);
    p += id;
    memcpy(p, h->preread, h->preread_len);
    p += h->preread_len;
    if (h->flags & HANDOFF_F_CMD_COUNTS)
        for (unsigned i = 0; i < HANDOFF_NCMDS; i++, p += 4) {
            put16(p, h->cmd_ok[i]);
            put16(p + 2, h->cmd_total[i]);
        }
    *len = total;
    return 0;
}

/* Wire endpoint -> sockaddr; family 0 is "absent" (checked by the caller). */
static enum handoff_result get_endpoint(const unsigned char *p, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (p[1] != 0)
        return HANDOFF_BAD_RESERVED;
    uint16_t port = get16(p + 2);
    uint32_t scope = get32(p + 4);
    switch (p[0]) {
    case 0:
        if (port != 0 || scope != 0 || !all_zero(p + 8, 16))
            return HANDOFF_BAD_RESERVED;
        ss->ss_family = AF_UNSPEC;
        return HANDOFF_OK;
    case 4: {
        /* Bytes past the IPv4 address must be zero: no stale memory, and
         * one encoding per record. */
        if (scope != 0 || !all_zero(p + 12, 12))
            return HANDOFF_BAD_ADDR;
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, p + 8, 4);
        return HANDOFF_OK;
    }
    case 6: {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sin6->sin6_scope_id = scope;
        memcpy(&sin6->sin6_addr, p + 8, 16);
        return HANDOFF_OK;
    }
    default:
        return HANDOFF_BAD_FAMILY;
    }
}

static void get_time(const unsigned char *p, struct timespec *ts)
{
    /* Out-of-range values are caught by check_time(): a huge u64 becomes
     * a negative tv_sec and is refused there. */
    ts->tv_sec = (time_t)(int64_t)get64(p);
    ts->tv_nsec = (long)get32(p + 8);
}

/* Common prefix of both message types. */
static enum handoff_result check_header(const unsigned char *b, size_t len, uint32_t magic,
                                        size_t min)
{
    if (len < 12)
        return len >= 4 && get32(b) != magic ? HANDOFF_BAD_MAGIC : HANDOFF_SHORT;
    if (get32(b) != magic)
        return HANDOFF_BAD_MAGIC;
    if (get32(b + 4) != HANDOFF_VERSION)
        return HANDOFF_BAD_VERSION;
    if (len < min)
        return HANDOFF_SHORT;
    if (get32(b + 8) != len)
        return HANDOFF_BAD_LENGTH;
    return HANDOFF_OK;
}

enum handoff_result handoff_decode(const void *buf, size_t len, struct handoff *out)
{
    const unsigned char *b = buf;

    TRY(check_header(b, len, REC_MAGIC, HANDOFF_FIXED_LEN));
    size_t ptr = get16(b + 188), helo = get16(b + 190), id = get16(b + 192);
    size_t pre = get16(b + 194), cmds = cmds_len(get32(b + 12));
    if (ptr > HANDOFF_PTR_MAX || helo > HANDOFF_HELO_MAX || id > HANDOFF_ID_MAX ||
        pre > HANDOFF_PREREAD_MAX || HANDOFF_FIXED_LEN + ptr + helo + id + pre + cmds != len)
        return HANDOFF_BAD_LENGTH;
    if (b[173] != 0)
        return HANDOFF_BAD_RESERVED;

    memset(out, 0, sizeof(*out));
    out->flags = get32(b + 12);
    out->seq = get64(b + 16);
    TRY(get_endpoint(b + OFF_ENDPOINTS, &out->client));
    TRY(get_endpoint(b + OFF_ENDPOINTS + EP_LEN, &out->server));
    TRY(get_endpoint(b + OFF_ENDPOINTS + 2 * EP_LEN, &out->sock_client));
    TRY(get_endpoint(b + OFF_ENDPOINTS + 3 * EP_LEN, &out->sock_server));
    get_time(b + OFF_TIMES, &out->connect_mono);
    get_time(b + OFF_TIMES + TS_LEN, &out->connect_real);
    get_time(b + OFF_TIMES + 2 * TS_LEN, &out->handoff_mono);
    get_time(b + OFF_TIMES + 3 * TS_LEN, &out->handoff_real);
    /* Enums are stored through unsigned: an out-of-range byte stays out of
     * range and check_record() refuses it. */
    out->name_status = (enum handoff_peer)b[168];
    out->reverse_status = (enum handoff_peer)b[169];
    out->helo_cmd = (enum handoff_helo)b[170];
    out->banner = (enum handoff_banner)b[171];
    out->verdict = (enum handoff_verdict)b[172];
    out->error_count = get16(b + 174);
    out->tests_done = get32(b + 176);
    out->tests_failed = get32(b + 180);
    out->dnsbl_score = (int32_t)get32(b + 184);

    const unsigned char *p = b + HANDOFF_FIXED_LEN;
    /* A NUL inside a string is caught by the checks below, which look at
     * the declared length, not at strlen(). */
    memcpy(out->ptr_name, p, ptr);
    p += ptr;
    memcpy(out->helo, p, helo);
    p += helo;
    memcpy(out->conn_id, p, id);
    p += id;
    memcpy(out->preread, p, pre);
    out->preread_len = (uint16_t)pre;
    p += pre;
    for (unsigned i = 0; i < cmds / 4; i++, p += 4) {
        out->cmd_ok[i] = get16(p);
        out->cmd_total[i] = get16(p + 2);
    }
    return check_record(out, ptr, helo, id);
}

enum handoff_result handoff_ack_check(const struct handoff_ack *a)
{
    switch (a->kind) {
    case HANDOFF_ACK_ACCEPTED:
        if (a->seq == 0 || a->sessions == 0)
            return HANDOFF_INCONSISTENT;
        break;
    case HANDOFF_ACK_REFUSED:
        if (a->seq == 0)
            return HANDOFF_INCONSISTENT;
        break;
    case HANDOFF_ACK_LOAD:
        if (a->seq != 0)
            return HANDOFF_INCONSISTENT;
        break;
    default:
        return HANDOFF_BAD_ENUM;
    }
    if (a->capacity == 0 || a->sessions > a->capacity)
        return HANDOFF_INCONSISTENT;
    return HANDOFF_OK;
}

int handoff_ack_encode(const struct handoff_ack *a, unsigned char buf[HANDOFF_ACK_LEN])
{
    if (handoff_ack_check(a) != HANDOFF_OK)
        return -EINVAL;
    put32(buf, ACK_MAGIC);
    put32(buf + 4, HANDOFF_VERSION);
    put32(buf + 8, HANDOFF_ACK_LEN);
    put32(buf + 12, (uint32_t)a->kind);
    put64(buf + 16, a->seq);
    put32(buf + 24, a->sessions);
    put32(buf + 28, a->capacity);
    return 0;
}

enum handoff_result handoff_ack_decode(const void *buf, size_t len, struct handoff_ack *out)
{
    const unsigned char *b = buf;
    TRY(check_header(b, len, ACK_MAGIC, HANDOFF_ACK_LEN));
    /* Fixed size: a longer ack with a matching length field is still not
     * one this version sends (found by the fuzzer). */
    if (len != HANDOFF_ACK_LEN)
        return HANDOFF_BAD_LENGTH;
    uint32_t kind = get32(b + 12);
    if (kind < HANDOFF_ACK_ACCEPTED || kind > HANDOFF_ACK_LOAD)
        return HANDOFF_BAD_ENUM;
    out->kind = (enum handoff_ack_kind)kind;
    out->seq = get64(b + 16);
    out->sessions = get32(b + 24);
    out->capacity = get32(b + 28);
    return handoff_ack_check(out);
}

const char *handoff_strerror(enum handoff_result r)
{
    switch (r) {
    case HANDOFF_OK:
        return "ok";
    case HANDOFF_SHORT:
        return "record too short";
    case HANDOFF_BAD_MAGIC:
        return "bad magic";
    case HANDOFF_BAD_VERSION:
        return "version mismatch (stale process after an upgrade?)";
    case HANDOFF_BAD_LENGTH:
        return "bad length";
    case HANDOFF_BAD_FLAGS:
        return "unknown flag bits";
    case HANDOFF_BAD_FAMILY:
        return "bad address family";
    case HANDOFF_BAD_ADDR:
        return "bad address";
    case HANDOFF_BAD_PORT:
        return "bad port";
    case HANDOFF_BAD_TIME:
        return "bad timestamp";
    case HANDOFF_BAD_ENUM:
        return "value out of range";
    case HANDOFF_BAD_STRING:
        return "bad string field";
    case HANDOFF_BAD_RESERVED:
        return "reserved byte not zero";
    case HANDOFF_INCONSISTENT:
        return "inconsistent fields";
    }
    return "unknown handoff error";
}
