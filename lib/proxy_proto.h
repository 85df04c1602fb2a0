/*
 * proxy_proto.h - HAProxy PROXY protocol v1 and v2 header parser.
 *
 * With smtpd_upstream_proxy_protocol = haproxy, the first bytes of a
 * connection are a PROXY header naming the real client. proxy_parse() looks
 * at what has been read so far and says whether it holds a complete header
 * (PROXY_OK, with out->consumed bytes to drop), needs more bytes
 * (PROXY_NEED_MORE), or is not a valid header (PROXY_BAD, *why says what is
 * wrong, for the log line). It never reads past len and never allocates.
 *
 * "PROXY UNKNOWN" (v1) and the LOCAL command or an unsupported address
 * family (v2) give out->proxied = 0: the caller keeps the connection's own
 * endpoints, as Postfix does.
 */
#ifndef MX_PROXY_PROTO_H
#define MX_PROXY_PROTO_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* Longest v1 header including CRLF (the spec's 107 bytes). */
#define PROXY_V1_MAX 107
/* A v2 header: 16 fixed bytes plus at most 65535 of addresses and TLVs. */
#define PROXY_V2_MAX (16 + 65535)

enum proxy_result { PROXY_OK, PROXY_NEED_MORE, PROXY_BAD };

struct proxy_info {
    int version;  /* 1 or 2 */
    int proxied;  /* 0: UNKNOWN/LOCAL, use the socket's own addresses */
    struct sockaddr_storage client;
    struct sockaddr_storage server;
    size_t consumed; /* bytes of header, to be dropped from the input */
};

enum proxy_result proxy_parse(const char *buf, size_t len, struct proxy_info *out,
                              const char **why);

#endif
