/*
 * listen.h - listen_addresses: the parser of one "host:port" item (and of
 * a whole comma/space separated list), and the opening of the listening
 * sockets the master binds before dropping privileges.
 *
 * Accepted forms (as Postfix master.cf writes inet service addresses):
 *   192.0.2.1:25          numeric IPv4
 *   [2001:db8::1]:25      numeric IPv6, in brackets; "[fe80::1%2]:25" with
 *                         a numeric scope id
 *   *:25  or  :25         every address: one dual-stack [::] socket, or
 *                         0.0.0.0 where the host has no IPv6
 *   mx.example.com:25     a host name, resolved when the sockets are
 *                         opened (every address it has is bound)
 * Port: decimal 1..65535. Anything else is refused with the reason.
 *
 * The parsers are pure (no I/O, no globals). listen_open() does the
 * sockets: SO_REUSEADDR, non-blocking, close-on-exec, listen(backlog);
 * it returns -errno with a message naming the address and the call that
 * failed ("bind 127.0.0.1:25: Address already in use").
 */
#ifndef MX_MASTER_LISTEN_H
#define MX_MASTER_LISTEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LISTEN_HOST_MAX 255u   /* a DNS name in text form */
#define LISTEN_TEXT_MAX 300u   /* an item as written, for messages */

enum listen_kind {
    LISTEN_KIND_ADDR = 1, /* numeric address in sa */
    LISTEN_KIND_ANY,      /* every address */
    LISTEN_KIND_NAME,     /* host name in host, resolved by listen_open */
};

struct listen_addr {
    enum listen_kind kind;
    uint16_t port;
    struct sockaddr_storage sa; /* KIND_ADDR: AF_INET or AF_INET6, port set */
    socklen_t salen;
    char host[LISTEN_HOST_MAX + 1]; /* KIND_NAME */
    char text[LISTEN_TEXT_MAX + 1]; /* the item as written (cut if longer) */
};

enum listen_result {
    LISTEN_OK = 0,
    LISTEN_EMPTY,        /* nothing to parse */
    LISTEN_NO_PORT,      /* no ":port" */
    LISTEN_BAD_PORT,     /* not a decimal 1..65535 */
    LISTEN_BAD_BRACKET,  /* "[" without "]:" or a bracketed non-IPv6 */
    LISTEN_BAD_ADDR,     /* not a valid numeric address */
    LISTEN_NEED_BRACKET, /* IPv6 address without brackets */
    LISTEN_BAD_HOST,     /* neither an address nor a valid host name */
    LISTEN_TOO_MANY,     /* list: more items than the caller has room for */
};

/* Parse one item buf[0..len). */
enum listen_result listen_addr_parse(const char *buf, size_t len, struct listen_addr *out);
/* Parse a comma and/or whitespace separated list into out[0..cap). *n is
 * the number parsed; on failure *err_off is the offset of the bad item. An
 * empty list is LISTEN_EMPTY. */
enum listen_result listen_list_parse(const char *buf, size_t len, struct listen_addr *out,
                                     size_t cap, size_t *n, size_t *err_off);
const char *listen_strerror(enum listen_result r);

/* "192.0.2.1:25" / "[2001:db8::1]:25" for a socket address. */
void listen_format_sa(const struct sockaddr *sa, char *buf, size_t len);

/* Open and listen on every socket a names (a name may give several).
 * fds[0..*n) are filled; 0, or -errno with err set (sockets opened by this
 * call are closed again). */
int listen_open(const struct listen_addr *a, int backlog, int *fds, size_t cap, size_t *n,
                char *err, size_t errlen);

#endif
