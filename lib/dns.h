/*
 * dns.h - DNS lookups through c-ares, driven by the caller's event loop.
 *
 * One context per process (or per event loop). It never blocks and starts
 * no thread: c-ares says which sockets it wants watched through the
 * sock_cb given to dns_open() (and dns_fds() lists them); the caller polls
 * them (poll(), io_uring POLL_ADD) and calls dns_process() when one is
 * ready, and calls dns_timeout() when dns_next_timeout_ms() has elapsed.
 *
 * Queries: PTR of an address, A, AAAA, MX (with preferences), TXT, DNSBL
 * (reversed octets or nibbles + zone, type A) and RHSBL (domain + zone),
 * and dns_client(): PTR plus forward confirmation, as Postfix's smtpd
 * resolves a client name. Each result reaches its callback exactly once,
 * from dns_process() or dns_timeout(), never from inside the call that
 * started the query; the dns_result is valid only during the callback.
 *
 * Limits: each query has a deadline (its own timeout_ms, or the context's
 * default); at most max_inflight queries are in flight - beyond that the
 * query functions return -EAGAIN at once (a temporary failure for the
 * caller), so memory stays bounded. dns_close() drops pending queries
 * without calling their callbacks.
 *
 * Errors: functions return 0 or -errno (-EINVAL for a bad name or address,
 * -EAGAIN for a full table, -ENOMEM, -EIO when c-ares refuses to start).
 */
#ifndef MX_DNS_H
#define MX_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNS_NAME_MAX 255
#define DNS_MAX_RR 16     /* records kept per answer; the rest are dropped */
#define DNS_TXT_MAX 2048  /* bytes of TXT text kept */

enum dns_status {
    DNS_OK,       /* answers of the asked type */
    DNS_NXDOMAIN, /* no such name */
    DNS_NODATA,   /* the name exists, no record of this type */
    DNS_TEMPFAIL, /* SERVFAIL, REFUSED, malformed reply, no server... */
    DNS_TIMEOUT,  /* no answer before the query's deadline */
};
const char *dns_status_str(enum dns_status s);

enum dns_type { DNS_T_A = 1, DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28 };

struct dns_mx {
    unsigned pref;
    char host[DNS_NAME_MAX + 1];
};

struct dns_result {
    enum dns_status status;
    enum dns_type type;
    /* Lowest TTL of the answer records; for NXDOMAIN/NODATA the negative
     * TTL from the SOA in the authority section (min of its TTL and
     * MINIMUM), 0 when the reply has none. */
    uint32_t ttl;
    unsigned count; /* records of the asked type kept (<= DNS_MAX_RR) */
    const char *why; /* c-ares's error text for the logs; "" on success */
    union {
        struct in_addr a[DNS_MAX_RR];
        struct in6_addr aaaa[DNS_MAX_RR];
        char ptr[DNS_MAX_RR][DNS_NAME_MAX + 1];
        struct dns_mx mx[DNS_MAX_RR]; /* in answer order; sort by pref */
        struct {
            /* record i is txt.buf[off[i] .. off[i]+len[i]), its strings
             * concatenated, NUL-terminated; truncated at DNS_TXT_MAX. */
            size_t off[DNS_MAX_RR], len[DNS_MAX_RR];
            char buf[DNS_TXT_MAX];
        } txt;
    } u;
};

typedef void (*dns_cb)(void *arg, const struct dns_result *res);

/*
 * dns_client() outcome, with Postfix's two statuses derived from it:
 *                      reverse_name_status   name_status
 *   DNS_CLIENT_OK           ok                 ok        (PTR, forward confirmed)
 *   DNS_CLIENT_FORGED       ok                 perm      (forward lookup does not
 *                                                         give the address back)
 *   DNS_CLIENT_FWD_TEMP     ok                 temp      (forward lookup failed
 *                                                         temporarily)
 *   DNS_CLIENT_NOPTR        perm               perm      (NXDOMAIN/NODATA, or a
 *                                                         PTR that is no valid name)
 *   DNS_CLIENT_TEMP         temp               temp      (PTR lookup failed
 *                                                         temporarily or timed out)
 * reject_unknown_reverse_client_hostname looks at the first,
 * reject_unknown_client_hostname at the second.
 */
enum dns_client_status {
    DNS_CLIENT_OK,
    DNS_CLIENT_FORGED,
    DNS_CLIENT_FWD_TEMP,
    DNS_CLIENT_NOPTR,
    DNS_CLIENT_TEMP,
};
enum dns_name_status { DNS_NAME_OK, DNS_NAME_TEMP, DNS_NAME_PERM };
enum dns_name_status dns_client_reverse_status(enum dns_client_status s);
enum dns_name_status dns_client_name_status(enum dns_client_status s);
const char *dns_client_status_str(enum dns_client_status s);

struct dns_client_result {
    enum dns_client_status status;
    char name[DNS_NAME_MAX + 1]; /* the PTR name ("" without one) */
    uint32_t ttl;                /* min TTL of the PTR and forward answers */
};
typedef void (*dns_client_cb)(void *arg, const struct dns_client_result *res);

/* want_read/want_write both 0: stop watching fd. */
typedef void (*dns_sock_cb)(void *arg, int fd, int want_read, int want_write);

struct dns_opts {
    /* Comma/space-separated "ip", "ip:port", "[ipv6]:port" list
     * (dns_resolver); NULL or "" = the system resolver (resolv.conf). */
    const char *servers;
    unsigned timeout_ms;   /* default per-query deadline; 0 = 10000 */
    unsigned try_ms;       /* c-ares per-attempt timeout; 0 = 2000 */
    unsigned tries;        /* c-ares attempts per server; 0 = 2 */
    unsigned max_inflight; /* 0 = 1024 */
    /* dns_client() looks here before DNS, as the C library does ("hosts:
     * files dns"): NULL = /etc/hosts, "" = never. */
    const char *hosts_file;
    dns_sock_cb sock_cb;   /* may be NULL (then use dns_fds()) */
    void *sock_arg;
};

struct dns_ctx;

/* The dns_resolver list as dns_opts.servers wants it ("a,b"): 0, or
 * -ENAMETOOLONG when it does not fit buf. */
int dns_servers_join(const char *const *v, size_t n, char *buf, size_t size);
int dns_open(const struct dns_opts *opts, struct dns_ctx **out);
void dns_close(struct dns_ctx *ctx);

/* The sockets c-ares wants watched now: up to n entries of fd and
 * POLLIN/POLLOUT wishes; returns how many there are (may exceed n). */
struct pollfd;
size_t dns_fds(const struct dns_ctx *ctx, struct pollfd *pfd, size_t n);
/* One socket is ready (either flag may be 0). */
void dns_process(struct dns_ctx *ctx, int fd, int readable, int writable);
/* Milliseconds until dns_timeout() must be called; -1: nothing pending. */
int dns_next_timeout_ms(struct dns_ctx *ctx);
/* Run c-ares's retransmissions and expire queries past their deadline. */
void dns_timeout(struct dns_ctx *ctx);
/* Forget every query started with this callback argument: none of their
 * callbacks will be called (the owner of arg is going away). Their slots
 * stay held until c-ares finishes them, as with a deadline. Returns how
 * many were forgotten. */
unsigned dns_forget(struct dns_ctx *ctx, const void *arg);
/* Queries in flight (including ones abandoned at their deadline whose
 * c-ares lookup has not finished yet: they hold a slot). */
unsigned dns_inflight(const struct dns_ctx *ctx);

/* timeout_ms 0 = the context's default. */
int dns_query(struct dns_ctx *ctx, const char *name, enum dns_type type, unsigned timeout_ms,
              dns_cb cb, void *arg);
int dns_query_ptr(struct dns_ctx *ctx, const struct sockaddr *addr, unsigned timeout_ms,
                  dns_cb cb, void *arg);
/* A lookup of addr reversed under zone (1.2.0.192.zone, nibbles for IPv6). */
int dns_query_dnsbl(struct dns_ctx *ctx, const struct sockaddr *addr, const char *zone,
                    unsigned timeout_ms, dns_cb cb, void *arg);
/* A lookup of domain.zone (reject_rhsbl_*). */
int dns_query_rhsbl(struct dns_ctx *ctx, const char *domain, const char *zone,
                    unsigned timeout_ms, dns_cb cb, void *arg);
/* PTR, then A or AAAA (the client's family) of the name, compared with
 * the address; timeout_ms applies to each of the two steps. */
int dns_client(struct dns_ctx *ctx, const struct sockaddr *addr, unsigned timeout_ms,
               dns_client_cb cb, void *arg);

/* Pure helpers. The reverse name of an address ("4.3.2.1.in-addr.arpa",
 * nibbles + "ip6.arpa"), or reversed + "." + zone when zone is not NULL.
 * Return the length, or -EINVAL / -ENAMETOOLONG. */
int dns_reverse_name(const struct sockaddr *addr, const char *zone, char *buf, size_t size);

#endif
