/*
 * dnsbl_score.h - postscreen_dnsbl_sites evaluation: the whole site list,
 * the parallel queries for one client, the weighted score, the threshold
 * verdict, the TTL to cache the result with, and the log text.
 *
 * List (pure, dnsbl_sites_parse / dnsbl_sites_add): items as lib/dnsbl_site.h
 * reads them, separated by commas and white space. As in Postfix's
 * psc_dnsbl_add_site(), one domain may appear several times with different
 * filters and weights: it is queried once, and every (filter, weight) entry
 * whose filter accepts the reply adds its weight. Errors use Postfix's fatal
 * wording ("bad DNSBL weight factor ...").
 *
 * Engine (dnsbl_score_open ... dnsbl_score_release), for an event loop that
 * never blocks: dnsbl_score_start() sends one dns_query_dnsbl() per domain
 * through lib/dns.h (each with the postscreen_dnsbl_timeout deadline, so
 * dns.c itself ends a slow list with DNS_TIMEOUT) and returns at once. When
 * every query has answered or timed out, the callback of every request for
 * that client runs once, from dns_process()/dns_timeout(), never from inside
 * dnsbl_score_start(). dnsbl_score_get() reads the current, possibly partial
 * score at any time (the frontend does so when postscreen_greet_wait ends
 * first: partial results count, as in Postfix); dnsbl_score_release()
 * detaches a request (the connection is done or gone) and no callback runs
 * for it after that.
 *
 * Sharing: as Postfix's psc_dnsbl_request() does, connections from the same
 * address that start while that address's queries are still in flight share
 * them (one reference-counted entry per address). Unlike Postfix, a request
 * that starts after the queries completed does not join the finished
 * entry: it starts fresh queries (the resolver's cache answers them), which
 * keeps "the callback never runs inside start" without a zero-delay timer.
 *
 * Memory: everything is allocated at open (max_clients entries, each with
 * one query slot per domain); the caller embeds struct dnsbl_score_req in
 * its connection. No allocation per client.
 *
 * Failure: dnsbl_score_start() returns -EAGAIN when every entry is in use
 * (the caller skips the DNSBL test for that client: fail open), -EINVAL for
 * an address that is not IPv4/IPv6 or when the list is empty. A query that
 * dns.c refuses to start (-EAGAIN: its in-flight cap) is logged and counts
 * as a failed lookup, like a dnsblog connection failure in Postfix. Not
 * thread-safe: one engine per event loop.
 */
#ifndef MX_DNSBL_SCORE_H
#define MX_DNSBL_SCORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns.h"
#include "dnsbl_site.h"

#define DNSBL_SITES_MAX 128 /* entries (and so domains) in one list */

struct dnsbl_domain {
    char name[DNSBL_SITE_NAME_MAX + 1];
    /* The name shown to clients and in logs (postscreen_dnsbl_reply_map can
     * replace it, e.g. to hide a key in the domain); = name by default. */
    char display[DNSBL_SITE_NAME_MAX + 1];
};

struct dnsbl_sites {
    size_t ndomains, nentries;
    struct dnsbl_domain domain[DNSBL_SITES_MAX];
    struct dnsbl_site entry[DNSBL_SITES_MAX];
    uint16_t entry_domain[DNSBL_SITES_MAX]; /* index into domain[] */
};

struct dnsbl_sites_err {
    char msg[600];
};

/* Empty the list. */
void dnsbl_sites_init(struct dnsbl_sites *s);
/* Add one item (buf[0..len), not NUL-terminated). 0, -EINVAL (syntax, with
 * err->msg in Postfix's words) or -ENOSPC (more than DNSBL_SITES_MAX). */
int dnsbl_sites_add(struct dnsbl_sites *s, const char *buf, size_t len, struct dnsbl_sites_err *err);
/* Parse a whole postscreen_dnsbl_sites value (items separated by ", \t\r\n")
 * into s (emptied first). 0 or as dnsbl_sites_add(). */
int dnsbl_sites_parse(const char *buf, size_t len, struct dnsbl_sites *s, struct dnsbl_sites_err *err);
/* Set the display name of a domain already in the list. 0 or -ENOENT /
 * -ENAMETOOLONG. */
int dnsbl_sites_set_display(struct dnsbl_sites *s, const char *domain, const char *display);

/* ---- threshold verdict -------------------------------------------------- */

enum dnsbl_verdict {
    DNSBL_VERDICT_PASS,      /* below postscreen_dnsbl_threshold */
    DNSBL_VERDICT_FAIL,      /* score >= postscreen_dnsbl_threshold: "DNSBL rank" */
    DNSBL_VERDICT_ALLOWLIST, /* passed, and score <= a negative allowlist threshold */
};

/* threshold = postscreen_dnsbl_threshold; allowlist = postscreen_dnsbl_
 * allowlist_threshold (which config.c already defaults from the old name
 * postscreen_dnsbl_whitelist_threshold); 0 or more disables allowlisting,
 * as in Postfix (var_psc_dnsbl_althresh < 0 && score <= it). */
enum dnsbl_verdict dnsbl_score_verdict(int score, long threshold, long allowlist);

/* "DNSBL rank N for [addr]:port" (postscreen's log text; an IPv4-mapped
 * address is shown as IPv4). Returns snprintf's length, or -EINVAL for an
 * address that is not IPv4/IPv6. */
int dnsbl_score_rank_text(char *buf, size_t size, int score, const struct sockaddr *client);

/* ---- the query engine --------------------------------------------------- */

struct dnsbl_score_result {
    int score;          /* sum of the weights of the matching entries */
    const char *name;   /* display name of the largest contribution (the first
                         * one with that weight), NULL when nothing matched */
    int name_weight;
    uint32_t ttl;       /* seconds to cache this result (see dnsbl_score.c) */
    unsigned queried;   /* domains asked */
    unsigned answered;  /* ... that answered (listed or not) */
    unsigned listed;    /* ... whose answer matched at least one entry */
    unsigned failed;    /* ... that timed out, failed or could not be asked */
    int complete;       /* every query is done (answered or failed) */
};

struct dnsbl_score;
typedef void (*dnsbl_score_cb)(void *arg, const struct dnsbl_score_result *res);

/* Embedded in the caller's connection; zero-initialise before first use. */
struct dnsbl_score_req {
    struct dnsbl_score_req *next, **pprev;
    uint32_t entry; /* entry index + 1; 0 when idle */
    int notified;
    dnsbl_score_cb cb;
    void *arg;
};

struct dnsbl_score_opts {
    unsigned timeout_ms;  /* postscreen_dnsbl_timeout (0 = 10000) */
    uint32_t min_ttl;     /* postscreen_dnsbl_min_ttl, seconds */
    uint32_t max_ttl;     /* postscreen_dnsbl_max_ttl, seconds */
    unsigned max_clients; /* addresses scored at once; 0 = 1024 */
    /* Tests replace lib/dns.c here; NULL = dns_query_dnsbl / dns_forget. */
    int (*query)(struct dns_ctx *ctx, const struct sockaddr *addr, const char *zone,
                 unsigned timeout_ms, dns_cb cb, void *arg);
    unsigned (*forget)(struct dns_ctx *ctx, const void *arg);
};

/* sites is copied; dns must outlive the engine. 0, -EINVAL or -ENOMEM. */
int dnsbl_score_open(const struct dnsbl_sites *sites, struct dns_ctx *dns,
                     const struct dnsbl_score_opts *o, struct dnsbl_score **out);
/* Forget every query in flight (no callback runs) and free everything. */
void dnsbl_score_close(struct dnsbl_score *s);

/* Score client for req (which must be idle). 0: the callback will run once;
 * -EAGAIN / -EINVAL as above (req stays idle). */
int dnsbl_score_start(struct dnsbl_score *s, const struct sockaddr *client,
                      struct dnsbl_score_req *req, dnsbl_score_cb cb, void *arg);
/* The current result of an active request (partial until complete). The
 * name pointer stays valid until the request is released. */
void dnsbl_score_get(const struct dnsbl_score *s, const struct dnsbl_score_req *req,
                     struct dnsbl_score_result *out);
/* Detach req (idle afterwards; idle requests are ignored). Safe inside any
 * callback of this engine. */
void dnsbl_score_release(struct dnsbl_score *s, struct dnsbl_score_req *req);
/* Entries in use (addresses being scored or waiting for their release). */
unsigned dnsbl_score_active(const struct dnsbl_score *s);

#endif
