/*
 * listen.c - parse listen_addresses items and open the listening sockets.
 * See listen.h for the accepted forms and the failure behaviour.
 */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *listen_strerror(enum listen_result r)
{
    switch (r) {
    case LISTEN_OK: return "ok";
    case LISTEN_EMPTY: return "empty address";
    case LISTEN_NO_PORT: return "missing \":port\"";
    case LISTEN_BAD_PORT: return "port must be a number from 1 to 65535";
    case LISTEN_BAD_BRACKET: return "\"[\" must enclose an IPv6 address and be followed by \"]:port\"";
    case LISTEN_BAD_ADDR: return "invalid numeric address";
    case LISTEN_NEED_BRACKET: return "an IPv6 address must be written in brackets: [addr]:port";
    case LISTEN_BAD_HOST: return "invalid host name";
    case LISTEN_TOO_MANY: return "too many addresses";
    }
    return "unknown error";
}

static int parse_port(const char *p, size_t len, uint16_t *out)
{
    unsigned long v = 0;
    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

/* A DNS host name: labels of letters, digits and '-', not starting or
 * ending with '-', 1..63 bytes each, 255 in all, not all-numeric (Postfix's
 * valid_hostname() refuses those as names: they look like addresses). */
static int valid_name(const char *s, size_t len)
{
    size_t label = 0;
    int alpha = 0;
    if (len == 0 || len > LISTEN_HOST_MAX || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (c == '-') {
            if (label == 0)
                return 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            alpha = 1;
        } else if (c < '0' || c > '9') {
            return 0;
        }
        if (++label > 63)
            return 0;
    }
    return s[len - 1] != '-' && alpha;
}

/* Numeric IPv6 with an optional numeric "%scope". */
static int parse_v6(const char *p, size_t len, struct sockaddr_in6 *sin6)
{
    char tmp[INET6_ADDRSTRLEN + 16];
    const char *pct = memchr(p, '%', len);
    size_t alen = pct ? (size_t)(pct - p) : len;
    uint32_t scope = 0;

    if (alen == 0 || alen >= INET6_ADDRSTRLEN)
        return -1;
    if (pct) {
        size_t slen = len - alen - 1;
        if (slen == 0 || slen > 10)
            return -1;
        unsigned long v = 0;
        for (size_t i = 0; i < slen; i++) {
            if (pct[1 + i] < '0' || pct[1 + i] > '9')
                return -1;
            v = v * 10 + (unsigned long)(pct[1 + i] - '0');
        }
        if (v > UINT32_MAX)
            return -1;
        scope = (uint32_t)v;
    }
    memcpy(tmp, p, alen);
    tmp[alen] = '\0';
    memset(sin6, 0, sizeof(*sin6));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_scope_id = scope;
    return inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1 ? 0 : -1;
}

enum listen_result listen_addr_parse(const char *buf, size_t len, struct listen_addr *out)
{
    memset(out, 0, sizeof(*out));
    size_t tl = len < LISTEN_TEXT_MAX ? len : LISTEN_TEXT_MAX;
    memcpy(out->text, buf, tl);
    out->text[tl] = '\0';
    if (len == 0)
        return LISTEN_EMPTY;
    if (memchr(buf, '\0', len))
        return LISTEN_BAD_HOST;

    const char *host;
    size_t hlen;
    const char *port;
    if (buf[0] == '[') {
        const char *close = memchr(buf, ']', len);
        if (!close)
            return LISTEN_BAD_BRACKET;
        size_t after = (size_t)(close - buf) + 1;
        if (after == len)
            return LISTEN_NO_PORT;
        if (buf[after] != ':')
            return LISTEN_BAD_BRACKET;
        host = buf + 1;
        hlen = (size_t)(close - buf) - 1;
        port = buf + after + 1;
        if (parse_port(port, len - after - 1, &out->port) < 0)
            return LISTEN_BAD_PORT;
        struct sockaddr_in6 sin6;
        if (hlen == 0 || parse_v6(host, hlen, &sin6) < 0)
            return memchr(host, ':', hlen) ? LISTEN_BAD_ADDR : LISTEN_BAD_BRACKET;
        sin6.sin6_port = htons(out->port);
        memcpy(&out->sa, &sin6, sizeof(sin6));
        out->salen = sizeof(sin6);
        out->kind = LISTEN_KIND_ADDR;
        return LISTEN_OK;
    }

    const char *colon = NULL;
    for (size_t i = len; i > 0; i--)
        if (buf[i - 1] == ':') {
            colon = buf + i - 1;
            break;
        }
    if (!colon)
        return LISTEN_NO_PORT;
    host = buf;
    hlen = (size_t)(colon - buf);
    if (memchr(host, ':', hlen) || memchr(host, ']', hlen))
        return LISTEN_NEED_BRACKET;
    if (parse_port(colon + 1, len - hlen - 1, &out->port) < 0)
        return LISTEN_BAD_PORT;
    if (hlen == 0 || (hlen == 1 && host[0] == '*')) {
        out->kind = LISTEN_KIND_ANY;
        return LISTEN_OK;
    }
    /* Digits and dots only: it must be an IPv4 address, never a name. */
    if (strspn(host, "0123456789.") >= hlen) {
        char tmp[INET_ADDRSTRLEN];
        struct sockaddr_in sin;
        if (hlen >= sizeof(tmp))
            return LISTEN_BAD_ADDR;
        memcpy(tmp, host, hlen);
        tmp[hlen] = '\0';
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(out->port);
        if (inet_pton(AF_INET, tmp, &sin.sin_addr) != 1)
            return LISTEN_BAD_ADDR;
        memcpy(&out->sa, &sin, sizeof(sin));
        out->salen = sizeof(sin);
        out->kind = LISTEN_KIND_ADDR;
        return LISTEN_OK;
    }
    if (!valid_name(host, hlen))
        return LISTEN_BAD_HOST;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->kind = LISTEN_KIND_NAME;
    return LISTEN_OK;
}

static int is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum listen_result listen_list_parse(const char *buf, size_t len, struct listen_addr *out,
                                     size_t cap, size_t *n, size_t *err_off)
{
    size_t i = 0;
    *n = 0;
    *err_off = 0;
    for (;;) {
        while (i < len && is_sep(buf[i]))
            i++;
        if (i == len)
            break;
        size_t start = i;
        while (i < len && !is_sep(buf[i]))
            i++;
        *err_off = start;
        if (*n == cap)
            return LISTEN_TOO_MANY;
        enum listen_result r = listen_addr_parse(buf + start, i - start, &out[*n]);
        if (r != LISTEN_OK)
            return r;
        (*n)++;
    }
    *err_off = 0;
    return *n ? LISTEN_OK : LISTEN_EMPTY;
}

void listen_format_sa(const struct sockaddr *sa, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
        snprintf(buf, len, "%s:%u", a, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
        if (sin6->sin6_scope_id)
            snprintf(buf, len, "[%s%%%u]:%u", a, (unsigned)sin6->sin6_scope_id,
                     ntohs(sin6->sin6_port));
        else
            snprintf(buf, len, "[%s]:%u", a, ntohs(sin6->sin6_port));
    } else {
        snprintf(buf, len, "(family %d)", sa->sa_family);
    }
}

/* One socket: 0 with *fd, or -errno with err naming the step. */
static int open_one(const struct sockaddr *sa, socklen_t salen, int v6only, int backlog, int *fd,
                    char *err, size_t errlen)
{
    char name[LISTEN_TEXT_MAX];
    int one = 1, e;
    const char *step = "socket";

    listen_format_sa(sa, name, sizeof(name));
    int s = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        goto fail;
    step = "setsockopt SO_REUSEADDR";
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    /* Whole SMTP replies only: no Nagle delay on the last one. Linux
     * gives an accepted socket the listener's TCP_NODELAY (checked on
     * 6.x), so it is set once here, not by a setsockopt(2) per connection
     * in the worker. */
    step = "setsockopt TCP_NODELAY";
    if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        goto fail;
    if (sa->sa_family == AF_INET6) {
        step = "setsockopt IPV6_V6ONLY";
        if (setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
            goto fail;
    }
    step = "bind";
    if (bind(s, sa, salen) < 0)
        goto fail;
    step = "listen";
    if (listen(s, backlog) < 0)
        goto fail;
    *fd = s;
    return 0;
fail:
    e = errno;
    snprintf(err, errlen, "%s %s: %s", step, name, strerror(e));
    if (s >= 0)
        close(s);
    return -e;
}

int listen_open(const struct listen_addr *a, int backlog, int *fds, size_t cap, size_t *n,
                char *err, size_t errlen)
{
    *n = 0;
    if (cap == 0) {
        snprintf(err, errlen, "%s: too many listening sockets", a->text);
        return -ENOSPC;
    }
    if (a->kind == LISTEN_KIND_ADDR) {
        int r = open_one((const struct sockaddr *)&a->sa, a->salen, 1, backlog, &fds[0], err,
                         errlen);
        if (r == 0)
            *n = 1;
        return r;
    }
    if (a->kind == LISTEN_KIND_ANY) {
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(a->port),
                                  .sin6_addr = IN6ADDR_ANY_INIT};
        int r = open_one((const struct sockaddr *)&s6, sizeof(s6), 0, backlog, &fds[0], err,
                         errlen);
        /* No IPv6 on this host: all IPv4 addresses instead. */
        if (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL) {
            struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(a->port),
                                     .sin_addr = {htonl(INADDR_ANY)}};
            r = open_one((const struct sockaddr *)&s4, sizeof(s4), 0, backlog, &fds[0], err,
                         errlen);
        }
        if (r == 0)
            *n = 1;
        return r;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG}, *res, *ai;
    char port[8];
    snprintf(port, sizeof(port), "%u", a->port);
    int g = getaddrinfo(a->host, port, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "%s: host name lookup failed: %s", a->text, gai_strerror(g));
        return -EADDRNOTAVAIL;
    }
    int r = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        if (*n == cap) {
            snprintf(err, errlen, "%s: too many addresses", a->text);
            r = -ENOSPC;
            break;
        }
        r = open_one(ai->ai_addr, ai->ai_addrlen, 1, backlog, &fds[*n], err, errlen);
        if (r < 0)
            break;
        (*n)++;
    }
    freeaddrinfo(res);
    if (r < 0) {
        while (*n > 0)
            close(fds[--(*n)]);
    }
    return r;
}
