/*
 * transport_parse.c - the pure parsers behind transport.h: one
 * transport(5) result "transport:nexthop" and one SMTP/LMTP destination.
 *
 * As trivial-rewrite's parse_transport_entry(): the value is split at its
 * first ':'; an empty transport keeps the default one (SMTP here), an
 * empty nexthop means the recipient domain (or "Address is undeliverable"
 * for error and retry). Destinations follow the Postfix SMTP/LMTP client:
 * "[host]" or "[addr]" turns MX lookups off, ":port" takes a number or a
 * well-known service name, IPv6 addresses only inside brackets (with or
 * without the "IPv6:" prefix).
 *
 * No I/O, no allocation, no globals; -EINVAL for anything malformed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "transport.h"

#define SEPARATORS ", \t\r\n"

/* The service names Postfix users write after a host (services(5)); the
 * parser reads no /etc/services. */
static const struct {
    const char *name;
    unsigned port;
} services[] = {
    {"smtp", 25}, {"lmtp", 24}, {"submission", 587}, {"smtps", 465}, {"submissions", 465},
};

static int parse_port(const char *p, size_t n, unsigned *port)
{
    if (n == 0)
        return -EINVAL;
    if (p[0] >= '0' && p[0] <= '9') {
        unsigned long v = 0;
        if (n > 5)
            return -EINVAL;
        for (size_t i = 0; i < n; i++) {
            if (p[i] < '0' || p[i] > '9')
                return -EINVAL;
            v = v * 10 + (unsigned long)(p[i] - '0');
        }
        if (v == 0 || v > 65535)
            return -EINVAL;
        *port = (unsigned)v;
        return 0;
    }
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        if (strlen(services[i].name) == n && memcmp(services[i].name, p, n) == 0) {
            *port = services[i].port;
            return 0;
        }
    }
    return -EINVAL;
}

/* A host name as a destination: letters, digits, '-', '_', dots between
 * non-empty labels (a trailing dot allowed). */
static bool host_ok(const char *p, size_t n)
{
    size_t label = 0;
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_'))
            return false;
        if (++label > 63)
            return false;
    }
    return true;
}

static int set_host(struct nexthop *out, const char *p, size_t n)
{
    if (n >= sizeof(out->host))
        return -EINVAL;
    memcpy(out->host, p, n);
    out->host[n] = 0;
    return 0;
}

/* Inside brackets: an IPv4 or IPv6 address, or a host name. */
static int parse_bracketed(const char *p, size_t n, struct nexthop *out)
{
    char tmp[64];
    unsigned char bin[16];
    if (n > 5 && strncasecmp(p, "IPv6:", 5) == 0) {
        p += 5;
        n -= 5;
        if (n == 0 || n >= sizeof(tmp))
            return -EINVAL;
        memcpy(tmp, p, n);
        tmp[n] = 0;
        return inet_pton(AF_INET6, tmp, bin) == 1 ? set_host(out, p, n) : -EINVAL;
    }
    if (memchr(p, ':', n)) {
        if (n >= sizeof(tmp))
            return -EINVAL;
        memcpy(tmp, p, n);
        tmp[n] = 0;
        return inet_pton(AF_INET6, tmp, bin) == 1 ? set_host(out, p, n) : -EINVAL;
    }
    return host_ok(p, n) ? set_host(out, p, n) : -EINVAL;
}

int transport_parse_dest(const char *buf, size_t len, enum transport_kind kind,
                         struct nexthop *out)
{
    const char *p = buf;
    size_t n = len;

    out->host[0] = 0;
    out->unix_path[0] = 0;
    out->port = kind == TRANSPORT_LMTP ? 24 : 25;
    out->mx = kind == TRANSPORT_SMTP;
    if (n == 0 || memchr(p, 0, n))
        return -EINVAL;
    if (kind == TRANSPORT_LMTP) {
        if (n >= 5 && memcmp(p, "unix:", 5) == 0) {
            p += 5;
            n -= 5;
            /* A path, absolute or relative to the queue directory as
             * Postfix allows ("private/dovecot-lmtp"). */
            if (n == 0 || n >= sizeof(out->unix_path))
                return -EINVAL;
            for (size_t i = 0; i < n; i++)
                if (strchr(SEPARATORS, p[i]))
                    return -EINVAL;
            memcpy(out->unix_path, p, n);
            out->unix_path[n] = 0;
            out->port = 0;
            return 0;
        }
        if (n >= 5 && memcmp(p, "inet:", 5) == 0) {
            p += 5;
            n -= 5;
        }
    }
    const char *rest;
    if (n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (!close || close == p + 1)
            return -EINVAL;
        if (parse_bracketed(p + 1, (size_t)(close - p - 1), out) < 0)
            return -EINVAL;
        out->mx = false;
        rest = close + 1;
    } else {
        const char *colon = memchr(p, ':', n);
        size_t hl = colon ? (size_t)(colon - p) : n;
        if (!host_ok(p, hl) || set_host(out, p, hl) < 0)
            return -EINVAL;
        rest = p + hl;
    }
    size_t rl = (size_t)(buf + len - rest);
    if (rl == 0)
        return 0;
    if (rest[0] != ':')
        return -EINVAL;
    return parse_port(rest + 1, rl - 1, &out->port);
}

/* The nexthop of SMTP/LMTP: the first destination of a list; the others
 * are kept as written. */
static int parse_dest_list(const char *p, size_t n, enum transport_kind kind,
                           struct nexthop *out)
{
    size_t first = 0;
    while (first < n && !strchr(SEPARATORS, p[first]))
        first++;
    int rc = transport_parse_dest(p, first, kind, out);
    if (rc < 0)
        return rc;
    while (first < n && strchr(SEPARATORS, p[first]))
        first++;
    size_t ml = n - first;
    if (ml >= sizeof(out->more))
        return -EINVAL;
    memcpy(out->more, p + first, ml);
    out->more[ml] = 0;
    return 0;
}

static void set_text(struct nexthop *out, const char *p, size_t n)
{
    if (n >= sizeof(out->text))
        n = sizeof(out->text) - 1; /* a reply text: cut, as smtpd cuts replies */
    memcpy(out->text, p, n);
    out->text[n] = 0;
}

int transport_parse_value(const char *buf, size_t len, const char *domain, struct nexthop *out)
{
    memset(out, 0, sizeof(*out));
    if (memchr(buf, 0, len))
        return -EINVAL;
    /* Table values come trimmed; a value built by hand may not be. */
    while (len > 0 && strchr(" \t\r\n", buf[0])) {
        buf++;
        len--;
    }
    while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
        len--;

    const char *colon = memchr(buf, ':', len);
    size_t tl = colon ? (size_t)(colon - buf) : len;
    const char *hop = colon ? colon + 1 : buf + len;
    size_t hl = (size_t)(buf + len - hop);
    size_t dl = domain ? strlen(domain) : 0;

#define IS(word) (tl == sizeof(word) - 1 && memcmp(buf, word, tl) == 0)
    if (tl == 0) {
        /* ":" changes nothing; ":nexthop" keeps the default transport. */
        if (hl == 0)
            return 1;
        out->kind = TRANSPORT_SMTP;
        return parse_dest_list(hop, hl, TRANSPORT_SMTP, out);
    }
    if (IS("smtp") || IS("relay") || IS("lmtp")) {
        out->kind = IS("lmtp") ? TRANSPORT_LMTP : TRANSPORT_SMTP;
        if (hl > 0)
            return parse_dest_list(hop, hl, out->kind, out);
        /* "transport:" resets the nexthop to the recipient domain. */
        if (dl == 0)
            return -EINVAL;
        return transport_parse_dest(domain, dl, out->kind, out);
    }
    if (IS("error") || IS("retry")) {
        out->kind = IS("error") ? TRANSPORT_ERROR : TRANSPORT_RETRY;
        if (hl == 0)
            set_text(out, "Address is undeliverable", strlen("Address is undeliverable"));
        else
            set_text(out, hop, hl);
        return 0;
    }
    if (IS("discard")) {
        out->kind = TRANSPORT_DISCARD;
        /* update_entry(): only error and retry get a fixed text; discard's
         * empty nexthop becomes the recipient domain. */
        if (hl == 0)
            set_text(out, domain ? domain : "", dl);
        else
            set_text(out, hop, hl);
        return 0;
    }
#undef IS
    return -EINVAL;
}
