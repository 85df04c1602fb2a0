/*
 * test_handoff.c - the handoff record and ack codecs: round trips with
 * every field at its bounds, the wire layout, and decode of every kind of
 * malformation (each a patch of a few bytes of a valid record).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "handoff.h"

static void set4(struct sockaddr_storage *ss, const char *a, unsigned port)
{
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof(*ss));
    s->sin_family = AF_INET;
    s->sin_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET, a, &s->sin_addr), 1);
}

static void set6(struct sockaddr_storage *ss, const char *a, unsigned port, uint32_t scope)
{
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    s->sin6_family = AF_INET6;
    s->sin6_port = htons((uint16_t)port);
    s->sin6_scope_id = scope;
    assert_int_equal(inet_pton(AF_INET6, a, &s->sin6_addr), 1);
}

/* Smallest valid record: what the master's acceptor sends. */
static void rec_min(struct handoff *h)
{
    memset(h, 0, sizeof(*h));
    h->seq = 1;
    set4(&h->client, "192.0.2.1", 1);
    set4(&h->server, "198.51.100.2", 25);
    strcpy(h->conn_id, "A");
}

/* Every field at its upper bound. */
static void rec_max(struct handoff *h)
{
    memset(h, 0, sizeof(*h));
    h->seq = UINT64_MAX;
    h->flags = HANDOFF_F_ALL;
    set6(&h->client, "2001:db8::1", 65535, 0xffffffffu);
    set6(&h->server, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 7);
    set4(&h->sock_client, "255.255.255.255", 65535);
    set4(&h->sock_server, "10.0.0.1", 1);
    h->connect_mono = (struct timespec){.tv_sec = INT64_MAX - 1, .tv_nsec = 999999999};
    h->handoff_mono = (struct timespec){.tv_sec = INT64_MAX, .tv_nsec = 999999999};
    h->connect_real = (struct timespec){.tv_sec = INT64_MAX, .tv_nsec = 0};
    h->handoff_real = (struct timespec){.tv_sec = 0, .tv_nsec = 999999999};
    h->reverse_status = HANDOFF_PEER_OK;
    h->name_status = HANDOFF_PEER_FORGED;
    for (size_t i = 0; i < HANDOFF_PTR_MAX; i++)
        h->ptr_name[i] = "ab-._9Z"[i % 7];
    h->helo_cmd = HANDOFF_HELO_EHLO;
    /* Every byte an SMTP line may hold: all but NUL, CR and LF. */
    for (size_t i = 0; i < HANDOFF_HELO_MAX; i++) {
        char c = (char)(1 + i % 255);
        h->helo[i] = c == '\r' || c == '\n' ? 'x' : c;
    }
    h->banner = HANDOFF_BANNER_DONE;
    h->verdict = HANDOFF_VERDICT_ALLOWLISTED;
    h->error_count = UINT16_MAX;
    h->tests_done = HANDOFF_TEST_ALL;
    h->tests_failed = HANDOFF_TEST_ALL;
    h->dnsbl_score = INT32_MIN;
    for (size_t i = 0; i < HANDOFF_ID_MAX; i++)
        h->conn_id[i] = "0Zz9"[i % 4];
    h->preread_len = HANDOFF_PREREAD_MAX;
    for (size_t i = 0; i < HANDOFF_PREREAD_MAX; i++)
        h->preread[i] = (unsigned char)i; /* every byte value, NUL and CR too */
    for (size_t i = 0; i < HANDOFF_NCMDS; i++)
        h->cmd_ok[i] = h->cmd_total[i] = UINT16_MAX;
}

/* A typical frontend record: PTR ok, EHLO read, pipelined bytes. */
static void rec_mid(struct handoff *h)
{
    memset(h, 0, sizeof(*h));
    h->seq = 42;
    set4(&h->client, "192.0.2.7", 40000);
    set4(&h->server, "192.0.2.25", 25);
    h->connect_mono = (struct timespec){.tv_sec = 100, .tv_nsec = 5};
    h->handoff_mono = (struct timespec){.tv_sec = 106, .tv_nsec = 0};
    h->connect_real = (struct timespec){.tv_sec = 1700000000, .tv_nsec = 1};
    h->handoff_real = (struct timespec){.tv_sec = 1700000006, .tv_nsec = 2};
    h->reverse_status = HANDOFF_PEER_OK;
    h->name_status = HANDOFF_PEER_OK;
    strcpy(h->ptr_name, "mail.example.com");
    h->helo_cmd = HANDOFF_HELO_EHLO;
    strcpy(h->helo, "mail.example.com");
    h->banner = HANDOFF_BANNER_CONT;
    h->verdict = HANDOFF_VERDICT_PASS_NEW;
    h->tests_done = HANDOFF_TEST_PREGREET | HANDOFF_TEST_DNSBL | HANDOFF_TEST_PTR;
    h->dnsbl_score = -5;
    strcpy(h->conn_id, "4VxQ1");
    static const char pre[] = "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n";
    h->preread_len = sizeof(pre) - 1;
    memcpy(h->preread, pre, sizeof(pre) - 1);
}

static unsigned char wire[HANDOFF_RECORD_MAX + 16];

static size_t encode_ok(const struct handoff *h)
{
    size_t len = 0;
    assert_int_equal(handoff_check(h), HANDOFF_OK);
    assert_int_equal(handoff_encode(h, wire, sizeof(wire), &len), 0);
    assert_int_equal(len, handoff_encoded_len(h));
    return len;
}

static void round_trip_one(const struct handoff *h)
{
    static struct handoff back;
    static unsigned char again[HANDOFF_RECORD_MAX];
    size_t len = encode_ok(h), len2;

    assert_int_equal(handoff_decode(wire, len, &back), HANDOFF_OK);
    /* Both structs were zeroed before being filled, padding included. */
    assert_memory_equal(h, &back, sizeof(back));
    /* Canonical: the decoded struct encodes to the same bytes. */
    assert_int_equal(handoff_encode(&back, again, sizeof(again), &len2), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(wire, again, len);
}

static void round_trip_bounds(void **state)
{
    (void)state;
    static struct handoff h;
    rec_min(&h);
    round_trip_one(&h);
    assert_int_equal(handoff_encoded_len(&h), HANDOFF_FIXED_LEN + 1);
    rec_mid(&h);
    round_trip_one(&h);
    rec_max(&h);
    round_trip_one(&h);
    assert_int_equal(handoff_encoded_len(&h), HANDOFF_RECORD_MAX);

    /* Every peer-status combination Postfix can produce. */
    static const struct {
        enum handoff_peer rev, name;
        const char *ptr;
    } peers[] = {
        {HANDOFF_PEER_UNCHECKED, HANDOFF_PEER_UNCHECKED, ""},
        {HANDOFF_PEER_PERM, HANDOFF_PEER_PERM, ""},
        {HANDOFF_PEER_TEMP, HANDOFF_PEER_TEMP, ""},
        {HANDOFF_PEER_OK, HANDOFF_PEER_TEMP, "x"},
        {HANDOFF_PEER_OK, HANDOFF_PEER_FORGED, "a.b"},
        {HANDOFF_PEER_OK, HANDOFF_PEER_OK, "h_1.example"},
    };
    for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
        rec_min(&h);
        h.reverse_status = peers[i].rev;
        h.name_status = peers[i].name;
        strcpy(h.ptr_name, peers[i].ptr);
        round_trip_one(&h);
    }
    /* Other enum values at their edges, and the HELO command alone. */
    rec_min(&h);
    h.helo_cmd = HANDOFF_HELO_HELO;
    strcpy(h.helo, "x");
    h.flags = HANDOFF_F_HELO_REPLIED;
    h.banner = HANDOFF_BANNER_DONE;
    h.verdict = HANDOFF_VERDICT_PASS_OLD;
    h.dnsbl_score = INT32_MAX;
    h.tests_done = HANDOFF_TEST_DNSBL;
    round_trip_one(&h);
    /* Mid-transaction: HELO answered, MAIL answered, the MAIL line first. */
    rec_mid(&h);
    h.banner = HANDOFF_BANNER_DONE;
    h.flags = HANDOFF_F_HELO_REPLIED | HANDOFF_F_MAIL_DONE;
    round_trip_one(&h);
    /* IPv6 link-local with a scope id; v4-like bytes in a real v6 address. */
    rec_min(&h);
    set6(&h.client, "fe80::1", 2525, 3);
    set6(&h.server, "::1", 25, 0);
    round_trip_one(&h);
}

/* HANDOFF_F_CMD_COUNTS: the counters after the preread, (ok, total) per
 * counter; ok > total refused; without the flag, counters a reused struct
 * still holds are neither sent nor refused, and decode to zero. */
static void cmd_counts(void **state)
{
    (void)state;
    static struct handoff h, back;
    rec_mid(&h);
    size_t plain = encode_ok(&h);
    h.flags |= HANDOFF_F_CMD_COUNTS;
    h.cmd_ok[1] = h.cmd_total[1] = 1; /* ehlo=1 */
    h.cmd_total[7] = 2;               /* rcpt=0/2 */
    h.cmd_ok[15] = 0;
    h.cmd_total[15] = 0x1234;         /* unknown=0/4660 */
    round_trip_one(&h);
    size_t len = encode_ok(&h);
    assert_int_equal(len, plain + HANDOFF_CMDS_LEN);
    assert_int_equal(wire[8] | wire[9] << 8, len);
    const unsigned char *t = wire + plain;
    assert_memory_equal(t + 4, "\x01\x00\x01\x00", 4);
    assert_memory_equal(t + 28, "\x00\x00\x02\x00", 4);
    assert_memory_equal(t + 60, "\x00\x00\x34\x12", 4);

    h.cmd_ok[7] = 3; /* more succeeded than were tried */
    assert_int_equal(handoff_check(&h), HANDOFF_INCONSISTENT);
    size_t n;
    assert_int_equal(handoff_encode(&h, wire, sizeof(wire), &n), -EINVAL);
    /* The same bytes on the wire: decode refuses them too. */
    h.cmd_ok[7] = 0;
    len = encode_ok(&h);
    wire[plain + 28] = 3;
    assert_int_equal(handoff_decode(wire, len, &back), HANDOFF_INCONSISTENT);
    /* The flag without its bytes (or the bytes without the flag). */
    wire[plain + 28] = 0;
    assert_int_equal(handoff_decode(wire, len - 1, &back), HANDOFF_BAD_LENGTH);
    wire[12] &= (unsigned char)~HANDOFF_F_CMD_COUNTS;
    assert_int_equal(handoff_decode(wire, len, &back), HANDOFF_BAD_LENGTH);

    h.flags &= ~(uint32_t)HANDOFF_F_CMD_COUNTS;
    h.cmd_ok[7] = 9; /* stale, and inconsistent: ignored without the flag */
    assert_int_equal(encode_ok(&h), plain);
    assert_int_equal(handoff_decode(wire, plain, &back), HANDOFF_OK);
    for (size_t i = 0; i < HANDOFF_NCMDS; i++)
        assert_true(back.cmd_ok[i] == 0 && back.cmd_total[i] == 0);
}

/* Offsets in handoff.h's table, checked on the bytes themselves. */
static void wire_layout(void **state)
{
    (void)state;
    static struct handoff h;
    rec_mid(&h);
    size_t len = encode_ok(&h);
    assert_memory_equal(wire, "MXHO", 4);
    assert_memory_equal(wire + 4, "\x01\0\0\0", 4);
    assert_int_equal(wire[8] | wire[9] << 8, len);
    assert_int_equal(wire[16], 42);
    /* client endpoint: family 4, port 40000 = 0x9c40 little-endian */
    assert_int_equal(wire[24], 4);
    assert_int_equal(wire[26], 0x40);
    assert_int_equal(wire[27], 0x9c);
    assert_memory_equal(wire + 32, "\xc0\x00\x02\x07", 4);
    /* socket endpoints absent: all zero */
    for (size_t i = 72; i < 120; i++)
        assert_int_equal(wire[i], 0);
    assert_int_equal(wire[168], 2);
    assert_int_equal(wire[170], 2);
    assert_int_equal(wire[171], 1);
    assert_memory_equal(wire + 184, "\xfb\xff\xff\xff", 4); /* -5 */
    assert_int_equal(wire[188], 16);
    assert_memory_equal(wire + HANDOFF_FIXED_LEN, "mail.example.com", 16);
    assert_memory_equal(wire + HANDOFF_FIXED_LEN + 32, "4VxQ1", 5);
}

/* Structs that encode must refuse, with the reason decode would give. */
static void encode_refuses(void **state)
{
    (void)state;
    static struct handoff h;
    size_t len;

    rec_mid(&h);
    h.preread_len = HANDOFF_PREREAD_MAX + 1;
    assert_int_equal(handoff_check(&h), HANDOFF_BAD_LENGTH);
    assert_int_equal(handoff_encode(&h, wire, sizeof(wire), &len), -EINVAL);

    rec_mid(&h);
    memset(h.conn_id, 'a', sizeof(h.conn_id)); /* unterminated */
    assert_int_equal(handoff_check(&h), HANDOFF_BAD_STRING);
    assert_int_equal(handoff_encode(&h, wire, sizeof(wire), &len), -EINVAL);

    rec_mid(&h);
    memset(h.ptr_name, 'a', sizeof(h.ptr_name));
    assert_int_equal(handoff_check(&h), HANDOFF_BAD_STRING);

    rec_mid(&h);
    h.client.ss_family = AF_UNIX;
    assert_int_equal(handoff_check(&h), HANDOFF_BAD_FAMILY);
    assert_int_equal(handoff_encode(&h, wire, sizeof(wire), &len), -EINVAL);

    rec_mid(&h);
    set6(&h.client, "::ffff:192.0.2.1", 1, 0);
    set6(&h.server, "2001:db8::1", 25, 0);
    assert_int_equal(handoff_check(&h), HANDOFF_BAD_ADDR);

    rec_mid(&h);
    h.connect_real.tv_nsec = -1;
    assert_int_equal(handoff_check(&h), HANDOFF_BAD_TIME);

    rec_mid(&h);
    h.seq = 0;
    assert_int_equal(handoff_check(&h), HANDOFF_INCONSISTENT);

    /* Too small a buffer: -ENOBUFS, and nothing was valid to write. */
    rec_mid(&h);
    assert_int_equal(handoff_encode(&h, wire, handoff_encoded_len(&h) - 1, &len), -ENOBUFS);
    assert_int_equal(handoff_encode(&h, wire, handoff_encoded_len(&h), &len), 0);
}

/* A malformation: patch n bytes at off of a valid record. */
struct bad_case {
    const char *what;
    int base; /* 0: rec_mid, 1: rec_min, 2: rec_max */
    size_t off;
    size_t n;
    const char *bytes;
    enum handoff_result want;
};

static const struct bad_case bad_cases[] = {
    {"magic", 0, 0, 1, "X", HANDOFF_BAD_MAGIC},
    {"ack magic", 0, 3, 1, "A", HANDOFF_BAD_MAGIC},
    {"version 2", 0, 4, 1, "\x02", HANDOFF_BAD_VERSION},
    {"version 0", 0, 4, 1, "\x00", HANDOFF_BAD_VERSION},
    {"version high byte", 0, 7, 1, "\x01", HANDOFF_BAD_VERSION},
    {"declared length +1", 0, 8, 1, "\xff", HANDOFF_BAD_LENGTH},
    {"declared length huge", 0, 11, 1, "\x01", HANDOFF_BAD_LENGTH},
    {"high flag", 0, 15, 1, "\x80", HANDOFF_BAD_FLAGS},
    {"seq 0", 1, 16, 1, "\x00", HANDOFF_INCONSISTENT},
    {"family 5", 0, 24, 1, "\x05", HANDOFF_BAD_FAMILY},
    {"family AF_INET value", 0, 24, 1, "\x02", HANDOFF_BAD_FAMILY},
    {"client family 0", 0, 24, 8, "\0\0\0\0\0\0\0\0", HANDOFF_BAD_RESERVED},
    {"endpoint pad byte", 0, 25, 1, "\x01", HANDOFF_BAD_RESERVED},
    {"client port 0", 0, 26, 2, "\0\0", HANDOFF_BAD_PORT},
    {"server port 0", 0, 50, 2, "\0\0", HANDOFF_BAD_PORT},
    {"ipv4 with scope", 0, 28, 1, "\x01", HANDOFF_BAD_ADDR},
    {"ipv4 padding", 0, 36, 1, "\x01", HANDOFF_BAD_ADDR},
    {"ipv4 last padding", 0, 47, 1, "\x01", HANDOFF_BAD_ADDR},
    {"ipv4 unspecified", 0, 32, 4, "\0\0\0\0", HANDOFF_BAD_ADDR},
    {"ipv6 unspecified", 2, 32, 16, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", HANDOFF_BAD_ADDR},
    {"ipv6 v4-mapped", 2, 32, 16, "\0\0\0\0\0\0\0\0\0\0\xff\xff\xc0\0\2\1", HANDOFF_BAD_ADDR},
    {"client v4 server v6", 0, 48, 1, "\x06", HANDOFF_INCONSISTENT},
    {"socket endpoint without PROXIED", 0, 72, 4, "\x04\0\x19\0", HANDOFF_BAD_FAMILY},
    {"absent endpoint with port", 0, 74, 1, "\x19", HANDOFF_BAD_RESERVED},
    {"absent endpoint with address", 0, 80, 1, "\x01", HANDOFF_BAD_RESERVED},
    {"PROXIED without socket endpoints", 0, 12, 1, "\x01", HANDOFF_BAD_FAMILY},
    {"nsec 1e9", 0, 128, 4, "\x00\xca\x9a\x3b", HANDOFF_BAD_TIME},
    {"nsec huge", 0, 140, 4, "\xff\xff\xff\xff", HANDOFF_BAD_TIME},
    {"negative seconds", 0, 139, 1, "\x80", HANDOFF_BAD_TIME},
    {"handoff before connect", 0, 144, 8, "\x63\0\0\0\0\0\0\0", HANDOFF_BAD_TIME},
    {"handoff before connect by 1ns", 0, 144, 12, "\x64\0\0\0\0\0\0\0\x04\0\0\0",
     HANDOFF_BAD_TIME},
    {"name_status 3", 0, 168, 1, "\x03", HANDOFF_BAD_ENUM},
    {"name_status 255", 0, 168, 1, "\xff", HANDOFF_BAD_ENUM},
    {"reverse FORGED", 0, 169, 1, "\x06", HANDOFF_BAD_ENUM},
    {"reverse 1", 0, 169, 1, "\x01", HANDOFF_BAD_ENUM},
    {"reverse OK, name PERM", 0, 168, 1, "\x05", HANDOFF_INCONSISTENT},
    {"reverse OK, name unchecked", 0, 168, 1, "\x00", HANDOFF_INCONSISTENT},
    {"reverse PERM with a PTR name", 0, 168, 2, "\x05\x05", HANDOFF_INCONSISTENT},
    {"reverse TEMP, name OK", 1, 168, 2, "\x02\x04", HANDOFF_INCONSISTENT},
    {"reverse OK without a PTR name", 1, 168, 2, "\x02\x02", HANDOFF_BAD_STRING},
    {"helo_cmd 3", 0, 170, 1, "\x03", HANDOFF_BAD_ENUM},
    {"HELO text without command", 0, 170, 1, "\x00", HANDOFF_INCONSISTENT},
    {"EHLO without text", 1, 170, 1, "\x02", HANDOFF_BAD_STRING},
    {"banner 3", 0, 171, 1, "\x03", HANDOFF_BAD_ENUM},
    {"HELO_REPLIED before the banner ended", 0, 12, 1, "\x02", HANDOFF_INCONSISTENT},
    {"HELO_REPLIED without HELO", 1, 12, 1, "\x02", HANDOFF_INCONSISTENT},
    {"MAIL_DONE before the banner ended", 1, 12, 1, "\x08", HANDOFF_INCONSISTENT},
    {"MAIL_DONE without preread", 0, 12, 1, "\x08", HANDOFF_INCONSISTENT},
    {"unknown flag", 0, 12, 1, "\x20", HANDOFF_BAD_FLAGS},
    {"verdict 4", 0, 172, 1, "\x04", HANDOFF_BAD_ENUM},
    {"reserved byte 173", 0, 173, 1, "\x01", HANDOFF_BAD_RESERVED},
    {"unknown test bit", 0, 177, 1, "\x02", HANDOFF_BAD_FLAGS},
    {"unknown failed bit", 0, 183, 1, "\x80", HANDOFF_BAD_FLAGS},
    {"failed test not done", 0, 180, 1, "\x01", HANDOFF_INCONSISTENT},
    {"score without DNSBL", 0, 176, 1, "\x02", HANDOFF_INCONSISTENT},
    {"unscreened with tests", 0, 172, 1, "\x00", HANDOFF_INCONSISTENT},
    {"allowlisted without access list", 0, 172, 1, "\x03", HANDOFF_INCONSISTENT},
    {"ptr_len past the end", 0, 188, 1, "\x11", HANDOFF_BAD_LENGTH},
    {"ptr_len 256", 0, 188, 2, "\x00\x01", HANDOFF_BAD_LENGTH},
    {"helo_len 2049", 0, 190, 2, "\x01\x08", HANDOFF_BAD_LENGTH},
    {"id_len 33", 0, 192, 2, "\x21\x00", HANDOFF_BAD_LENGTH},
    {"preread_len 4097", 0, 194, 2, "\x01\x10", HANDOFF_BAD_LENGTH},
    {"lengths shifted", 0, 188, 4, "\x10\x00\x11\x00", HANDOFF_BAD_LENGTH},
    {"ptr with space", 0, HANDOFF_FIXED_LEN + 4, 1, " ", HANDOFF_BAD_STRING},
    {"ptr with NUL", 0, HANDOFF_FIXED_LEN, 1, "\0", HANDOFF_BAD_STRING},
    {"ptr with high byte", 0, HANDOFF_FIXED_LEN + 15, 1, "\xc3", HANDOFF_BAD_STRING},
    {"helo with CR", 0, HANDOFF_FIXED_LEN + 16 + 3, 1, "\r", HANDOFF_BAD_STRING},
    {"helo with LF", 0, HANDOFF_FIXED_LEN + 16 + 15, 1, "\n", HANDOFF_BAD_STRING},
    {"helo with NUL", 0, HANDOFF_FIXED_LEN + 16, 1, "\0", HANDOFF_BAD_STRING},
    {"id with dash", 0, HANDOFF_FIXED_LEN + 32 + 1, 1, "-", HANDOFF_BAD_STRING},
    {"id with NUL", 0, HANDOFF_FIXED_LEN + 32 + 4, 1, "\0", HANDOFF_BAD_STRING},
    {"id_len 0 but the byte still there", 1, 192, 1, "\x00", HANDOFF_BAD_LENGTH},
};

static void decode_malformed(void **state)
{
    (void)state;
    static struct handoff h, out;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        (c->base == 0 ? rec_mid : c->base == 1 ? rec_min : rec_max)(&h);
        size_t len = encode_ok(&h);
        assert_true(c->off + c->n <= len);
        memcpy(wire + c->off, c->bytes, c->n);
        enum handoff_result r = handoff_decode(wire, len, &out);
        if (r != c->want)
            fail_msg("%s: got %s, want %s", c->what, handoff_strerror(r),
                     handoff_strerror(c->want));
    }
}

/* Every cut of a valid record, and one byte too many. */
static void decode_truncated(void **state)
{
    (void)state;
    static struct handoff h, out;
    rec_mid(&h);
    size_t len = encode_ok(&h);
    for (size_t n = 0; n < len; n++) {
        enum handoff_result r = handoff_decode(wire, n, &out);
        /* Below the fixed part the length cannot be judged yet. */
        enum handoff_result want = n < HANDOFF_FIXED_LEN ? HANDOFF_SHORT : HANDOFF_BAD_LENGTH;
        if (r != want)
            fail_msg("cut at %zu: got %s", n, handoff_strerror(r));
    }
    wire[len] = 'x';
    assert_int_equal(handoff_decode(wire, len + 1, &out), HANDOFF_BAD_LENGTH);
    /* A short buffer that is not ours at all. */
    assert_int_equal(handoff_decode("EHLO", 4, &out), HANDOFF_BAD_MAGIC);
    assert_int_equal(handoff_decode("MXHO", 4, &out), HANDOFF_SHORT);
    assert_int_equal(handoff_decode("MXHO\x02\0\0\0\0\0\0\0", 12, &out), HANDOFF_BAD_VERSION);

    /* An empty connection id, with lengths that add up. */
    rec_min(&h);
    len = encode_ok(&h);
    wire[192] = 0;
    wire[8] = (unsigned char)(len - 1);
    assert_int_equal(handoff_decode(wire, len - 1, &out), HANDOFF_BAD_STRING);
}

static void ack_round_trip(void **state)
{
    (void)state;
    static const struct handoff_ack good[] = {
        {HANDOFF_ACK_ACCEPTED, 1, 1, 1},
        {HANDOFF_ACK_ACCEPTED, UINT64_MAX, UINT32_MAX, UINT32_MAX},
        {HANDOFF_ACK_REFUSED, 7, 0, 1},
        {HANDOFF_ACK_REFUSED, 7, 100, 100},
        {HANDOFF_ACK_LOAD, 0, 0, 5000},
    };
    unsigned char b[HANDOFF_ACK_LEN];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct handoff_ack back;
        assert_int_equal(handoff_ack_encode(&good[i], b), 0);
        assert_int_equal(handoff_ack_decode(b, sizeof(b), &back), HANDOFF_OK);
        assert_int_equal(back.kind, good[i].kind);
        assert_true(back.seq == good[i].seq);
        assert_int_equal(back.sessions, good[i].sessions);
        assert_int_equal(back.capacity, good[i].capacity);
    }
    assert_memory_equal(b, "MXHA\x01\0\0\0\x20\0\0\0\x03\0\0\0", 16);

    static const struct handoff_ack bad[] = {
        {0, 1, 1, 1},
        {4, 1, 1, 1},
        {HANDOFF_ACK_ACCEPTED, 0, 1, 1}, /* no seq */
        {HANDOFF_ACK_ACCEPTED, 1, 0, 1}, /* accepted but holds none */
        {HANDOFF_ACK_ACCEPTED, 1, 2, 1}, /* more than capacity */
        {HANDOFF_ACK_REFUSED, 0, 0, 1},
        {HANDOFF_ACK_LOAD, 3, 0, 1},     /* load names no handoff */
        {HANDOFF_ACK_LOAD, 0, 0, 0},     /* no capacity */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (handoff_ack_check(&bad[i]) == HANDOFF_OK)
            fail_msg("bad ack %zu accepted", i);
        assert_int_equal(handoff_ack_encode(&bad[i], b), -EINVAL);
    }
}

static void ack_malformed(void **state)
{
    (void)state;
    struct handoff_ack a = {HANDOFF_ACK_ACCEPTED, 9, 3, 10}, out;
    unsigned char b[HANDOFF_ACK_LEN + 1], t[HANDOFF_ACK_LEN + 1];
    assert_int_equal(handoff_ack_encode(&a, b), 0);
    static const struct {
        size_t off;
        unsigned char v;
        enum handoff_result want;
    } cases[] = {
        {3, 'O', HANDOFF_BAD_MAGIC},   /* a record's magic */
        {4, 2, HANDOFF_BAD_VERSION},
        {8, 33, HANDOFF_BAD_LENGTH},
        {12, 0, HANDOFF_BAD_ENUM},
        {12, 4, HANDOFF_BAD_ENUM},
        {15, 1, HANDOFF_BAD_ENUM},
        {16, 0, HANDOFF_INCONSISTENT}, /* seq 0 */
        {24, 11, HANDOFF_INCONSISTENT}, /* sessions > capacity */
        {28, 0, HANDOFF_INCONSISTENT}, /* capacity 0 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(t, b, HANDOFF_ACK_LEN);
        t[cases[i].off] = cases[i].v;
        enum handoff_result r = handoff_ack_decode(t, HANDOFF_ACK_LEN, &out);
        if (r != cases[i].want)
            fail_msg("ack case %zu: got %s", i, handoff_strerror(r));
    }
    for (size_t n = 0; n < HANDOFF_ACK_LEN; n++)
        assert_int_equal(handoff_ack_decode(b, n, &out), HANDOFF_SHORT);
    b[HANDOFF_ACK_LEN] = 0;
    assert_int_equal(handoff_ack_decode(b, HANDOFF_ACK_LEN + 1, &out), HANDOFF_BAD_LENGTH);
    b[8] = HANDOFF_ACK_LEN + 1; /* and with a length field that agrees */
    assert_int_equal(handoff_ack_decode(b, HANDOFF_ACK_LEN + 1, &out), HANDOFF_BAD_LENGTH);
    /* A record is not an ack, nor an ack a record. */
    static struct handoff h;
    rec_min(&h);
    size_t len = encode_ok(&h);
    assert_int_equal(handoff_ack_decode(wire, len, &out), HANDOFF_BAD_MAGIC);
    assert_int_equal(handoff_decode(b, HANDOFF_ACK_LEN, &h), HANDOFF_BAD_MAGIC);
}

static void strerror_covers_all(void **state)
{
    (void)state;
    for (int r = HANDOFF_OK; r <= HANDOFF_INCONSISTENT; r++) {
        const char *s = handoff_strerror((enum handoff_result)r);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown handoff error");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_bounds), cmocka_unit_test(cmd_counts),
        cmocka_unit_test(wire_layout),
        cmocka_unit_test(encode_refuses),    cmocka_unit_test(decode_malformed),
        cmocka_unit_test(decode_truncated),  cmocka_unit_test(ack_round_trip),
        cmocka_unit_test(ack_malformed),     cmocka_unit_test(strerror_covers_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
