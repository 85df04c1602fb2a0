/*
 * mx_select.h - the next-hop addresses for a domain as Postfix's smtp(8)
 * finds them (smtp_addr.c: smtp_domain_addr, smtp_host_addr), with the
 * backup MX rule: every MX of equal or worse preference than ourselves is
 * dropped, and mail for a domain whose best MX is us "loops back to
 * myself".
 *
 * Two layers:
 *   mx_select_finish()  pure: MX hosts with their resolved addresses in,
 *                       the ordered candidate list or the failure (DSN
 *                       status + Postfix's reason text) out.
 *   mx_lookup_start()   asynchronous, on lib/dns.h: the MX query, then A
 *                       (and AAAA, per inet_protocols) of every MX host in
 *                       parallel, then mx_select_finish(); the result
 *                       reaches the callback once, from dns_process() or
 *                       dns_timeout().
 *
 * Order of the candidates (smtp_domain_addr): MX hosts sorted by
 * preference, their addresses looked up in that order, ourselves found by
 * address (own inet_interfaces addresses and proxy_interfaces, as Postfix
 * does; the MX host name is not compared), the list cut at the first
 * address with our preference; then, with smtp_randomize_addresses, all
 * addresses shuffled and sorted again by preference (equal preferences in
 * random order), smtp_address_preference applied, IPv4/IPv6 balanced
 * within smtp_mx_address_limit (smtp_balance_inet_protocols) and the list
 * cut at smtp_mx_address_limit. smtp_mx_session_limit is the caller's
 * (sessions actually made): it is only carried in the options.
 *
 * Outcomes and texts (Postfix 3.7):
 *   no MX record (NODATA/NXDOMAIN)  the domain's own A/AAAA at preference 0
 *   null MX (RFC 7505)              5.1.0 "Domain D does not accept mail (nullMX)"
 *   MX lookup temporary failure     4.4.3 "Host or domain name not found. Name
 *                                   service error for name=D type=MX: Host not
 *                                   found, try again"
 *   no MX host has an address       4.4.3 / 5.4.4 with the lookup's text
 *   we are the best MX              5.4.6 "mail for D loops back to myself"
 *   we are MX, better ones unknown  4.4.4 "unable to find primary relay for D"
 *
 * Errors: mx_lookup_start() returns 0 or -errno (-EINVAL, -ENOMEM); lookup
 * failures are results, not errors.
 */
#ifndef MX_MX_SELECT_H
#define MX_MX_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns.h"

#define MX_SELECT_MAX 64 /* addresses considered per domain */

enum mx_addr_pref { MX_ADDR_ANY, MX_ADDR_IPV4, MX_ADDR_IPV6 }; /* smtp_address_preference */

struct mx_opts {
    bool want_ipv4, want_ipv6;   /* inet_protocols */
    bool randomize;              /* smtp_randomize_addresses (yes) */
    bool balance;                /* smtp_balance_inet_protocols (yes) */
    enum mx_addr_pref addr_pref; /* smtp_address_preference (any) */
    unsigned address_limit;      /* smtp_mx_address_limit (5; 0 = none) */
    unsigned session_limit;      /* smtp_mx_session_limit (2), for the caller */
    bool no_mx;                  /* [host]: addresses of the name, no MX lookup */
    unsigned timeout_ms;         /* per DNS query; 0 = the context's default */
    uint64_t seed;               /* shuffle seed; 0 = from getrandom() */
};

/* Our identity: inet_interfaces addresses and proxy_interfaces addresses
 * (ports ignored). */
struct mx_self {
    const struct sockaddr_storage *addrs;
    size_t naddrs;
    const struct sockaddr_storage *proxy;
    size_t nproxy;
};

struct mx_candidate {
    unsigned pref;
    char host[DNS_NAME_MAX + 1];
    struct sockaddr_storage addr; /* port 0: the caller adds 25 or its own */
};

enum mx_outcome { MX_OK, MX_TEMPFAIL, MX_PERMFAIL };

struct mx_result {
    enum mx_outcome outcome;
    char status[8];   /* enhanced status of a failure: "5.4.6" */
    char why[600];    /* Postfix's reason text of a failure */
    bool found_myself;
    bool implicit_mx; /* no MX records: the domain's own addresses */
    size_t n;
    struct mx_candidate c[MX_SELECT_MAX];
};

/* One MX host and the outcome of its address lookups. */
struct mx_host {
    unsigned pref;
    const char *host;
    enum dns_status status; /* DNS_OK when addrs holds its addresses */
    const char *why;        /* Postfix-style text of a failed lookup */
    const struct sockaddr_storage *addrs;
    size_t naddrs;
};

/* The selection rule (pure). domain is for the texts; hosts need not be
 * sorted; rng is the shuffle state (any non-zero value). implicit: hosts is
 * the domain itself (no MX record, or no_mx). */
void mx_select_finish(const char *domain, const struct mx_host *hosts, size_t n, bool implicit,
                      const struct mx_self *self, const struct mx_opts *o, uint64_t *rng,
                      struct mx_result *out);
/* A null MX answer: one record, preference 0, root host ("" or "."). */
bool mx_is_null(const struct dns_mx *mx, unsigned count);
/* Postfix dns_lookup()'s reason text for a failed lookup of name/type. */
void mx_dns_why(const char *name, enum dns_type type, enum dns_status st, char *buf,
                size_t size);

struct mx_lookup;
typedef void (*mx_done_cb)(void *arg, const struct mx_result *res);
int mx_lookup_start(struct dns_ctx *dns, const char *domain, const struct mx_opts *o,
                    const struct mx_self *self, mx_done_cb cb, void *arg,
                    struct mx_lookup **out);
/* With o->no_mx a numeric name is refused (-EINVAL): the caller has its
 * address already. *out stays valid until the callback has run (then the
 * lookup is freed) or until mx_lookup_cancel(). */
/* Drop a lookup before its callback ran (its DNS queries are forgotten). */
void mx_lookup_cancel(struct mx_lookup *l);

#endif
