/*
 * proxy_proto.c - PROXY protocol v1 (text) and v2 (binary) parser.
 *
 * Follows the HAProxy specification (proxy-protocol.txt). v1 is strict:
 * single spaces, decimal ports without leading zeros or signs, addresses
 * that inet_pton accepts for the stated family, CRLF within 107 bytes.
 * v2 checks the signature, version, command, family and that the declared
 * length covers the addresses; TLVs are skipped (their length is covered by
 * the header length and we use none of them).
 */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

static const char v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";

/* Parse a decimal port 0..65535 without sign or leading zero. */
static int parse_port(const char *s, size_t n, uint16_t *port)
{
    unsigned v = 0;
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static int set_addr(struct sockaddr_storage *ss, int family, const char *txt, size_t n,
                    uint16_t port)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, txt, n);
    tmp[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        return inet_pton(AF_INET, tmp, &sin->sin_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    return inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1 ? 0 : -1;
}

/* Split off the next space-terminated field of line[*pos..end). */
static int next_field(const char *line, size_t end, size_t *pos, const char **f, size_t *n)
{
    size_t start = *pos;
    size_t i = start;
    while (i < end && line[i] != ' ')
        i++;
    if (i == start)
        return -1;
    *f = line + start;
    *n = i - start;
    *pos = i < end ? i + 1 : i;
    return 0;
}

static enum proxy_result parse_v1(const char *buf, size_t len, struct proxy_info *out,
                                  const char **why)
{
    size_t lim = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
    const char *cr = NULL;
    for (size_t i = 0; i < lim; i++) {
        if (buf[i] == '\r') {
            if (i + 1 == len)
                return PROXY_NEED_MORE;
            if (i + 1 < lim && buf[i + 1] == '\n') {
                cr = buf + i;
                break;
            }
            *why = "v1 header with CR not followed by LF";
            return PROXY_BAD;
        }
        if (buf[i] == '\n' || buf[i] == '\0') {
            *why = "bad character in v1 header";
            return PROXY_BAD;
        }
    }
    if (!cr) {
        if (len >= PROXY_V1_MAX) {
            *why = "v1 header longer than 107 bytes";
            return PROXY_BAD;
        }
        return PROXY_NEED_MORE;
    }
    size_t end = (size_t)(cr - buf), pos = 6; /* after "PROXY " */
    const char *proto, *src, *dst, *sp, *dp;
    size_t np, ns, nd, nsp, ndp;

    out->version = 1;
    out->consumed = end + 2;
    if (end < 6 || buf[5] != ' ' || next_field(buf, end, &pos, &proto, &np) < 0) {
        *why = "v1 header without protocol";
        return PROXY_BAD;
    }
    if (np == 7 && memcmp(proto, "UNKNOWN", 7) == 0) {
        out->proxied = 0;
        return PROXY_OK;
    }
    int family;
    if (np == 4 && memcmp(proto, "TCP4", 4) == 0)
        family = AF_INET;
    else if (np == 4 && memcmp(proto, "TCP6", 4) == 0)
        family = AF_INET6;
    else {
        *why = "v1 header with unsupported protocol";
        return PROXY_BAD;
    }
    uint16_t sport, dport;
    if (next_field(buf, end, &pos, &src, &ns) < 0 || next_field(buf, end, &pos, &dst, &nd) < 0 ||
        next_field(buf, end, &pos, &sp, &nsp) < 0 || next_field(buf, end, &pos, &dp, &ndp) < 0 ||
        pos != end || buf[end - 1] == ' ') {
        *why = "v1 header with wrong number of fields";
        return PROXY_BAD;
    }
    if (parse_port(sp, nsp, &sport) < 0 || parse_port(dp, ndp, &dport) < 0) {
        *why = "v1 header with bad port";
        return PROXY_BAD;
    }
    if (set_addr(&out->client, family, src, ns, sport) < 0 ||
        set_addr(&out->server, family, dst, nd, dport) < 0) {
        *why = "v1 header with bad address";
        return PROXY_BAD;
    }
    out->proxied = 1;
    return PROXY_OK;
}

static enum proxy_result parse_v2(const unsigned char *b, size_t len, struct proxy_info *out,
                                  const char **why)
{
    if (len < 16)
        return PROXY_NEED_MORE;
    unsigned ver = b[12] >> 4, cmd = b[12] & 0x0f, fam = b[13] >> 4, proto = b[13] & 0x0f;
    size_t hlen = ((size_t)b[14] << 8) | b[15];

    out->version = 2;
    if (ver != 2) {
        *why = "v2 header with bad version";
        return PROXY_BAD;
    }
    if (cmd > 1) {
        *why = "v2 header with bad command";
        return PROXY_BAD;
    }
    if (len < 16 + hlen)
        return PROXY_NEED_MORE;
    out->consumed = 16 + hlen;
    /* LOCAL (health checks) and UNSPEC/UDP/UNIX: keep the real endpoints. */
    if (cmd == 0 || proto != 1 || (fam != 1 && fam != 2)) {
        out->proxied = 0;
        return PROXY_OK;
    }
    const unsigned char *a = b + 16;
    memset(&out->client, 0, sizeof(out->client));
    memset(&out->server, 0, sizeof(out->server));
    if (fam == 1) {
        if (hlen < 12) {
            *why = "v2 header too short for IPv4 addresses";
            return PROXY_BAD;
        }
        struct sockaddr_in *c = (struct sockaddr_in *)&out->client;
        struct sockaddr_in *s = (struct sockaddr_in *)&out->server;
        c->sin_family = s->sin_family = AF_INET;
        memcpy(&c->sin_addr, a, 4);
        memcpy(&s->sin_addr, a + 4, 4);
        memcpy(&c->sin_port, a + 8, 2);
        memcpy(&s->sin_port, a + 10, 2);
    } else {
        if (hlen < 36) {
            *why = "v2 header too short for IPv6 addresses";
            return PROXY_BAD;
        }
        struct sockaddr_in6 *c = (struct sockaddr_in6 *)&out->client;
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->server;
        c->sin6_family = s->sin6_family = AF_INET6;
        memcpy(&c->sin6_addr, a, 16);
        memcpy(&s->sin6_addr, a + 16, 16);
        memcpy(&c->sin6_port, a + 32, 2);
        memcpy(&s->sin6_port, a + 34, 2);
    }
    out->proxied = 1;
    return PROXY_OK;
}

enum proxy_result proxy_parse(const char *buf, size_t len, struct proxy_info *out,
                              const char **why)
{
    static const char v1_sig[] = "PROXY ";
    size_t n;

    memset(out, 0, sizeof(*out));
    *why = "";
    /* Decide the version on the bytes we have; a prefix of either
     * signature needs more input. */
    n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
    if (memcmp(buf, v2_sig, n) == 0)
        return n < sizeof(v2_sig) ? PROXY_NEED_MORE
                                  : parse_v2((const unsigned char *)buf, len, out, why);
    n = len < sizeof(v1_sig) - 1 ? len : sizeof(v1_sig) - 1;
    if (memcmp(buf, v1_sig, n) == 0)
        return n < sizeof(v1_sig) - 1 ? PROXY_NEED_MORE : parse_v1(buf, len, out, why);
    *why = "not a PROXY protocol header";
    return PROXY_BAD;
}
