/*
 * dnsbl_score.c - postscreen_dnsbl_sites: list parsing, parallel queries
 * per client, weighted score, TTL, verdict and log text (see dnsbl_score.h).
 *
 * Scoring follows Postfix 3.7's psc_dnsbl_receive(): for an answer with A
 * records from domain D, every entry of D whose filter accepts one of the
 * records (or that has no filter) adds its weight to the total; the entry
 * with the largest weight names the result (the first one wins ties, and
 * a negative weight can name it when it is the only match, as in Postfix).
 *
 * TTL, as psc_dnsbl_retrieve() computes it: two running minima start at
 * postscreen_dnsbl_max_ttl. A matching entry with a positive weight lowers
 * the "fail" TTL with its answer's TTL, one with weight <= 0 lowers the
 * "pass" TTL; an answer without A records (NXDOMAIN, NODATA) lowers the
 * pass TTL with its negative-caching TTL (the SOA's), and a lookup that
 * failed or timed out has no TTL, which Postfix writes as -1: the pass TTL
 * then drops to the floor. The result takes the fail TTL when the score is
 * above 0, else the pass TTL, raised to postscreen_dnsbl_min_ttl.
 * Deliberate difference: a result read before every query is done (the
 * greet wait ended first) treats the missing answers like failed ones, so
 * a partial pass is cached for postscreen_dnsbl_min_ttl only.
 */
#include "dnsbl_score.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the list ------------------------------------------------------------ */

void dnsbl_sites_init(struct dnsbl_sites *s)
{
    s->ndomains = 0;
    s->nentries = 0;
}

static int find_domain(const struct dnsbl_sites *s, const char *name)
{
    for (size_t i = 0; i < s->ndomains; i++)
        if (strcasecmp(s->domain[i].name, name) == 0)
            return (int)i;
    return -1;
}

int dnsbl_sites_add(struct dnsbl_sites *s, const char *buf, size_t len, struct dnsbl_sites_err *err)
{
    struct dnsbl_site site;
    const char *why = NULL;
    enum dnsbl_site_result r = dnsbl_site_parse(buf, len, &site, &why);
    int shown = len > 255 ? 255 : (int)len;

    if (r != DNSBL_SITE_OK) {
        if (!err)
            return -EINVAL;
        /* The parts psc_dnsbl_add_site() quotes: the weight text after the
         * first '*', the domain before the first '=' or '*'. */
        const char *star = memchr(buf, '*', len);
        size_t dlen = star ? (size_t)(star - buf) : len;
        const char *eq = memchr(buf, '=', dlen);
        if (eq)
            dlen = (size_t)(eq - buf);
        if (r == DNSBL_SITE_BAD_WEIGHT) {
            size_t wlen = star ? len - (size_t)(star + 1 - buf) : 0;
            snprintf(err->msg, sizeof(err->msg), "bad DNSBL weight factor \"%.*s\" in \"%.*s\"",
                     wlen > 255 ? 255 : (int)wlen, star ? star + 1 : "", shown, buf);
        }
        else if (r == DNSBL_SITE_BAD_FILTER)
            snprintf(err->msg, sizeof(err->msg), "bad DNSBL filter syntax: %s",
                     why ? why : "syntax error");
        else
            snprintf(err->msg, sizeof(err->msg), "bad DNSBL domain name \"%.*s\" in \"%.*s\"",
                     dlen > 255 ? 255 : (int)dlen, buf, shown, buf);
        return -EINVAL;
    }
    if (s->nentries >= DNSBL_SITES_MAX) {
        if (err)
            snprintf(err->msg, sizeof(err->msg), "too many postscreen_dnsbl_sites entries (at most %d)",
                     DNSBL_SITES_MAX);
        return -ENOSPC;
    }
    int d = find_domain(s, site.domain);
    if (d < 0) {
        d = (int)s->ndomains++;
        memcpy(s->domain[d].name, site.domain, site.domain_len + 1);
        memcpy(s->domain[d].display, site.domain, site.domain_len + 1);
    }
    s->entry[s->nentries] = site;
    s->entry_domain[s->nentries] = (uint16_t)d;
    s->nentries++;
    return 0;
}

int dnsbl_sites_parse(const char *buf, size_t len, struct dnsbl_sites *s, struct dnsbl_sites_err *err)
{
    dnsbl_sites_init(s);
    size_t i = 0;
    while (i < len) {
        /* CHARS_COMMA_SP, as argv_split() in psc_dnsbl_init(). */
        if (strchr(", \t\r\n", buf[i]) && buf[i] != '\0') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && (buf[j] == '\0' || !strchr(", \t\r\n", buf[j])))
            j++;
        int rc = dnsbl_sites_add(s, buf + i, j - i, err);
        if (rc < 0)
            return rc;
        i = j;
    }
    return 0;
}

int dnsbl_sites_set_display(struct dnsbl_sites *s, const char *domain, const char *display)
{
    int d = find_domain(s, domain);
    if (d < 0)
        return -ENOENT;
    size_t n = strlen(display);
    if (n > DNSBL_SITE_NAME_MAX)
        return -ENAMETOOLONG;
    memcpy(s->domain[d].display, display, n + 1);
    return 0;
}

/* ---- verdict and log text -------------------------------------------------- */

enum dnsbl_verdict dnsbl_score_verdict(int score, long threshold, long allowlist)
{
    if (score >= threshold)
        return DNSBL_VERDICT_FAIL;
    if (allowlist < 0 && score <= allowlist)
        return DNSBL_VERDICT_ALLOWLIST;
    return DNSBL_VERDICT_PASS;
}

/* family + 16 address bytes; IPv4-mapped IPv6 becomes IPv4 (the client is
 * an IPv4 client, and Postfix sees it so after its address normalisation). */
struct client_key {
    int family;
    unsigned char a[16];
    unsigned port;
};

static int client_key(const struct sockaddr *sa, struct client_key *k)
{
    memset(k, 0, sizeof(*k));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        k->family = AF_INET;
        memcpy(k->a, &s4->sin_addr, 4);
        k->port = ntohs(s4->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        k->port = ntohs(s6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            k->family = AF_INET;
            memcpy(k->a, s6->sin6_addr.s6_addr + 12, 4);
        } else {
            k->family = AF_INET6;
            memcpy(k->a, &s6->sin6_addr, 16);
        }
        return 0;
    }
    return -EINVAL;
}

int dnsbl_score_rank_text(char *buf, size_t size, int score, const struct sockaddr *client)
{
    struct client_key k;
    char addr[INET6_ADDRSTRLEN];
    if (client_key(client, &k) < 0 || !inet_ntop(k.family, k.a, addr, sizeof(addr)))
        return -EINVAL;
    return snprintf(buf, size, "DNSBL rank %d for [%s]:%u", score, addr, k.port);
}

/* ---- the engine ------------------------------------------------------------- */

struct dnsbl_q {
    struct dnsbl_score *s;
    uint32_t entry;
    uint16_t domain;
    uint8_t pending;
};

struct dnsbl_entry {
    int family;
    unsigned char a[16];
    uint32_t hnext;  /* next in hash chain, index + 1 */
    int hashed;
    int in_use;
    int total;
    int name_domain; /* -1: nothing matched yet */
    int name_weight;
    int64_t fail_ttl, pass_ttl;
    unsigned pending, queried, answered, listed, failed;
    int notifying;
    struct dnsbl_score_req *reqs;
    uint32_t next_free; /* index + 1 */
};

struct dnsbl_score {
    struct dnsbl_sites sites;
    struct dns_ctx *dns;
    struct dnsbl_score_opts o;
    unsigned max;
    struct dnsbl_entry *e;
    struct dnsbl_q *q; /* [entry * ndomains + domain] */
    uint32_t *bucket;  /* index + 1 */
    uint32_t nbuckets; /* power of two */
    uint32_t free_head;
    unsigned active;
};

static uint32_t key_hash(int family, const unsigned char *a)
{
    /* FNV-1a: the table only holds the clients being scored right now. */
    uint32_t h = 2166136261u ^ (uint32_t)family;
    for (int i = 0; i < (family == AF_INET ? 4 : 16); i++) {
        h ^= a[i];
        h *= 16777619u;
    }
    return h;
}

int dnsbl_score_open(const struct dnsbl_sites *sites, struct dns_ctx *dns,
                     const struct dnsbl_score_opts *o, struct dnsbl_score **out)
{
    if (!sites || !dns || !o || sites->ndomains == 0)
        return -EINVAL;
    struct dnsbl_score *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->sites = *sites;
    s->dns = dns;
    s->o = *o;
    if (s->o.timeout_ms == 0)
        s->o.timeout_ms = 10000;
    if (!s->o.query)
        s->o.query = dns_query_dnsbl;
    if (!s->o.forget)
        s->o.forget = dns_forget;
    s->max = o->max_clients ? o->max_clients : 1024;
    s->nbuckets = 16;
    while (s->nbuckets < s->max * 2u && s->nbuckets < (1u << 30))
        s->nbuckets <<= 1;
    s->e = calloc(s->max, sizeof(*s->e));
    s->q = calloc((size_t)s->max * sites->ndomains, sizeof(*s->q));
    s->bucket = calloc(s->nbuckets, sizeof(*s->bucket));
    if (!s->e || !s->q || !s->bucket) {
        dnsbl_score_close(s);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < s->max; i++)
        s->e[i].next_free = i + 2 <= s->max ? i + 2 : 0;
    s->free_head = 1;
    *out = s;
    return 0;
}

void dnsbl_score_close(struct dnsbl_score *s)
{
    if (!s)
        return;
    if (s->e && s->q) {
        for (unsigned i = 0; i < s->max; i++) {
            if (!s->e[i].in_use || s->e[i].pending == 0)
                continue;
            for (size_t d = 0; d < s->sites.ndomains; d++) {
                struct dnsbl_q *q = &s->q[(size_t)i * s->sites.ndomains + d];
                if (q->pending)
                    s->o.forget(s->dns, q);
            }
        }
    }
    free(s->e);
    free(s->q);
    free(s->bucket);
    free(s);
}

unsigned dnsbl_score_active(const struct dnsbl_score *s)
{
    return s->active;
}

static void unhash(struct dnsbl_score *s, uint32_t idx)
{
    struct dnsbl_entry *e = &s->e[idx];
    if (!e->hashed)
        return;
    uint32_t *pp = &s->bucket[key_hash(e->family, e->a) & (s->nbuckets - 1)];
    while (*pp && *pp != idx + 1)
        pp = &s->e[*pp - 1].hnext;
    if (*pp)
        *pp = e->hnext;
    e->hashed = 0;
    e->hnext = 0;
}

/* Free an entry nobody needs any more: no request attached, no query in
 * flight (a query's callback still points at its slot). */
static void maybe_free(struct dnsbl_score *s, uint32_t idx)
{
    struct dnsbl_entry *e = &s->e[idx];
    if (!e->in_use || e->reqs || e->pending || e->notifying)
        return;
    unhash(s, idx);
    e->in_use = 0;
    e->next_free = s->free_head;
    s->free_head = idx + 1;
    s->active--;
}

static void fill_result(const struct dnsbl_score *s, const struct dnsbl_entry *e,
                        struct dnsbl_score_result *r)
{
    r->score = e->total;
    r->name = e->name_domain >= 0 ? s->sites.domain[e->name_domain].display : NULL;
    r->name_weight = e->name_domain >= 0 ? e->name_weight : 0;
    r->queried = e->queried;
    r->answered = e->answered;
    r->listed = e->listed;
    r->failed = e->failed;
    r->complete = e->pending == 0;
    int64_t ttl = e->total > 0 ? e->fail_ttl : e->pass_ttl;
    if (e->pending && e->total <= 0)
        ttl = -1; /* partial pass: see the file header */
    if (ttl < (int64_t)s->o.min_ttl)
        ttl = s->o.min_ttl;
    r->ttl = ttl > UINT32_MAX ? UINT32_MAX : (uint32_t)ttl;
}

static void notify(struct dnsbl_score *s, uint32_t idx)
{
    struct dnsbl_entry *e = &s->e[idx];
    struct dnsbl_score_result r;

    /* Callbacks may release their own or other requests of this entry:
     * restart from the head after each call, and keep the entry alive. */
    e->notifying = 1;
    for (;;) {
        struct dnsbl_score_req *req = e->reqs;
        while (req && req->notified)
            req = req->next;
        if (!req)
            break;
        req->notified = 1;
        fill_result(s, e, &r);
        req->cb(req->arg, &r);
    }
    e->notifying = 0;
    maybe_free(s, idx);
}

static void on_answer(void *arg, const struct dns_result *res)
{
    struct dnsbl_q *q = arg;
    struct dnsbl_score *s = q->s;
    struct dnsbl_entry *e = &s->e[q->entry];

    q->pending = 0;
    e->pending--;
    if (res->status == DNS_OK && res->type == DNS_T_A && res->count > 0) {
        int matched = 0;
        e->answered++;
        for (size_t i = 0; i < s->sites.nentries; i++) {
            if (s->sites.entry_domain[i] != q->domain)
                continue;
            const struct dnsbl_site *site = &s->sites.entry[i];
            if (!dnsbl_site_match(site, res->u.a, res->count))
                continue;
            matched = 1;
            if (e->name_domain < 0 || e->name_weight < site->weight) {
                e->name_domain = q->domain;
                e->name_weight = site->weight;
            }
            e->total += site->weight;
            if (site->weight > 0) {
                if ((int64_t)res->ttl < e->fail_ttl)
                    e->fail_ttl = res->ttl;
            } else if ((int64_t)res->ttl < e->pass_ttl) {
                e->pass_ttl = res->ttl;
            }
        }
        e->listed += (unsigned)matched;
    } else if (res->status == DNS_OK || res->status == DNS_NXDOMAIN ||
               res->status == DNS_NODATA) {
        e->answered++;
        if ((int64_t)res->ttl < e->pass_ttl)
            e->pass_ttl = res->ttl;
    } else {
        e->failed++;
        e->pass_ttl = -1; /* no reply TTL */
    }
    if (e->pending == 0)
        unhash(s, q->entry); /* done: later connections ask again */
    if (e->pending == 0)
        notify(s, q->entry);
    else
        maybe_free(s, q->entry);
}

static void attach(struct dnsbl_entry *e, uint32_t idx, struct dnsbl_score_req *req,
                   dnsbl_score_cb cb, void *arg)
{
    req->cb = cb;
    req->arg = arg;
    req->entry = idx + 1;
    req->notified = 0;
    req->next = e->reqs;
    req->pprev = &e->reqs;
    if (e->reqs)
        e->reqs->pprev = &req->next;
    e->reqs = req;
}

int dnsbl_score_start(struct dnsbl_score *s, const struct sockaddr *client,
                      struct dnsbl_score_req *req, dnsbl_score_cb cb, void *arg)
{
    struct client_key k;
    if (!cb || req->entry || client_key(client, &k) < 0)
        return -EINVAL;

    uint32_t *head = &s->bucket[key_hash(k.family, k.a) & (s->nbuckets - 1)];
    for (uint32_t i = *head; i; i = s->e[i - 1].hnext) {
        struct dnsbl_entry *e = &s->e[i - 1];
        if (e->family == k.family && memcmp(e->a, k.a, 16) == 0) {
            attach(e, i - 1, req, cb, arg);
            return 0;
        }
    }
    if (!s->free_head)
        return -EAGAIN;
    uint32_t idx = s->free_head - 1;
    struct dnsbl_entry *e = &s->e[idx];
    s->free_head = e->next_free;
    memset(e, 0, sizeof(*e));
    e->in_use = 1;
    e->family = k.family;
    memcpy(e->a, k.a, 16);
    e->name_domain = -1;
    e->fail_ttl = e->pass_ttl = s->o.max_ttl;
    s->active++;
    attach(e, idx, req, cb, arg);

    /* The address to reverse, normalised (IPv4-mapped -> IPv4). */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (k.family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, k.a, 4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, k.a, 16);
    }
    for (size_t d = 0; d < s->sites.ndomains; d++) {
        struct dnsbl_q *q = &s->q[(size_t)idx * s->sites.ndomains + d];
        q->s = s;
        q->entry = idx;
        q->domain = (uint16_t)d;
        e->queried++;
        int rc = s->o.query(s->dns, (const struct sockaddr *)&ss, s->sites.domain[d].name,
                                 s->o.timeout_ms, on_answer, q);
        if (rc < 0) {
            log_warn("DNSBL lookup of %s not started: %s", s->sites.domain[d].name, strerror(-rc));
            e->failed++;
            e->pass_ttl = -1;
            continue;
        }
        q->pending = 1;
        e->pending++;
    }
    /* Hashed only while queries are in flight, so that a later connection
     * from the same client joins them. */
    if (e->pending) {
        e->next_free = 0;
        e->hnext = *head;
        *head = idx + 1;
        e->hashed = 1;
        return 0;
    }
    /* Nothing in flight: nothing will ever call back. Give the entry up
     * and fail open, as a missing dnsblog service does. */
    req->pprev = NULL;
    e->reqs = NULL;
    req->entry = 0;
    maybe_free(s, idx);
    return -EAGAIN;
}

void dnsbl_score_get(const struct dnsbl_score *s, const struct dnsbl_score_req *req,
                     struct dnsbl_score_result *out)
{
    if (!req->entry) {
        memset(out, 0, sizeof(*out));
        out->ttl = s->o.min_ttl;
        return;
    }
    fill_result(s, &s->e[req->entry - 1], out);
}

void dnsbl_score_release(struct dnsbl_score *s, struct dnsbl_score_req *req)
{
    if (!req->entry)
        return;
    uint32_t idx = req->entry - 1;
    *req->pprev = req->next;
    if (req->next)
        req->next->pprev = req->pprev;
    req->next = NULL;
    req->pprev = NULL;
    req->entry = 0;
    maybe_free(s, idx);
}
