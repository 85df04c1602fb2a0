/*
 * mx_lookup.c - the asynchronous half of mx_select.h on lib/dns.h: the MX
 * query, then the A/AAAA queries of every MX host (or of the domain
 * itself when it has no MX record) all in flight at once, then the pure
 * rule in mx_select.c. One callback per lookup, never from inside
 * mx_lookup_start().
 *
 * Failure: a query the resolver refuses at start (-EAGAIN: its table is
 * full) counts as a temporary failure of that lookup; out of memory at
 * start is -ENOMEM. mx_lookup_cancel() forgets the outstanding queries.
 */
#include "mx_select.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MX_ADDRS_PER_HOST (2 * DNS_MAX_RR)

struct host_state {
    unsigned pref;
    char name[DNS_NAME_MAX + 1];
    enum dns_status st4, st6; /* per family; DNS_OK when asked and answered */
    bool ask4, ask6;
    char why[300];
    struct sockaddr_storage addrs[MX_ADDRS_PER_HOST];
    size_t n4, n6; /* v4 first in addrs[0..n4), v6 after DNS_MAX_RR */
};

struct query_ref {
    struct mx_lookup *l;
    size_t host;
    int v6;
};

struct mx_lookup {
    struct dns_ctx *dns;
    char domain[DNS_NAME_MAX + 1];
    struct mx_opts o;
    struct mx_self self;
    mx_done_cb cb;
    void *arg;
    bool implicit;
    size_t nhosts;
    unsigned pending;
    struct host_state hosts[DNS_MAX_RR];
    struct query_ref refs[DNS_MAX_RR][2];
    uint64_t rng;
};

static void finish(struct mx_lookup *l)
{
    struct mx_host mh[DNS_MAX_RR];
    struct sockaddr_storage packed[DNS_MAX_RR][MX_ADDRS_PER_HOST];
    for (size_t i = 0; i < l->nhosts; i++) {
        struct host_state *h = &l->hosts[i];
        size_t n = 0;
        for (size_t a = 0; a < h->n4; a++)
            packed[i][n++] = h->addrs[a];
        for (size_t a = 0; a < h->n6; a++)
            packed[i][n++] = h->addrs[DNS_MAX_RR + a];
        /* dns_lookup_v(): OK when any type gave addresses; else the
         * most telling failure (temporary beats not found). */
        enum dns_status st = n ? DNS_OK : DNS_NXDOMAIN;
        if (!n) {
            enum dns_status s4 = h->ask4 ? h->st4 : DNS_NXDOMAIN;
            enum dns_status s6 = h->ask6 ? h->st6 : DNS_NXDOMAIN;
            if (s4 == DNS_TEMPFAIL || s4 == DNS_TIMEOUT || s6 == DNS_TEMPFAIL || s6 == DNS_TIMEOUT)
                st = DNS_TEMPFAIL;
            else if (s4 == DNS_NODATA || s6 == DNS_NODATA)
                st = DNS_NODATA;
        }
        mh[i] = (struct mx_host){h->pref, h->name, st, h->why, packed[i], n};
    }
    struct mx_result *res = malloc(sizeof(*res));
    if (res) {
        mx_select_finish(l->domain, mh, l->nhosts, l->implicit, &l->self, &l->o, &l->rng, res);
    }
    mx_done_cb cb = l->cb;
    void *arg = l->arg;
    free(l->self.addrs ? (void *)l->self.addrs : NULL);
    free(l);
    if (res) {
        cb(arg, res);
        free(res);
    } else {
        struct mx_result oom = {.outcome = MX_TEMPFAIL, .status = "4.3.0"};
        snprintf(oom.why, sizeof(oom.why), "out of memory");
        cb(arg, &oom);
    }
}

static void on_addr(void *arg, const struct dns_result *r)
{
    struct query_ref *q = arg;
    struct mx_lookup *l = q->l;
    struct host_state *h = &l->hosts[q->host];
    if (q->v6) {
        h->st6 = r->status;
        for (unsigned i = 0; r->status == DNS_OK && i < r->count && i < DNS_MAX_RR; i++) {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->addrs[DNS_MAX_RR + h->n6++];
            memset(s, 0, sizeof(*s));
            s->sin6_family = AF_INET6;
            s->sin6_addr = r->u.aaaa[i];
        }
    } else {
        h->st4 = r->status;
        for (unsigned i = 0; r->status == DNS_OK && i < r->count && i < DNS_MAX_RR; i++) {
            struct sockaddr_in *s = (struct sockaddr_in *)&h->addrs[h->n4++];
            memset(s, 0, sizeof(*s));
            s->sin_family = AF_INET;
            s->sin_addr = r->u.a[i];
        }
    }
    /* The text names the last type asked that failed, as dns_lookup_v's
     * reason buffer does; a temporary failure is not overwritten. */
    if (r->status != DNS_OK) {
        bool have_soft = strstr(h->why, "try again") != NULL;
        if (!have_soft || r->status == DNS_TEMPFAIL || r->status == DNS_TIMEOUT)
            mx_dns_why(h->name, q->v6 ? DNS_T_AAAA : DNS_T_A, r->status, h->why, sizeof(h->why));
    }
    if (--l->pending == 0)
        finish(l);
}

/* An MX host named by a numeric address is that address (smtp_addr_one). */
static bool numeric_host(struct host_state *h, const struct mx_opts *o)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, h->name, &a4) == 1) {
        if (o->want_ipv4) {
            struct sockaddr_in *s = (struct sockaddr_in *)&h->addrs[h->n4++];
            memset(s, 0, sizeof(*s));
            s->sin_family = AF_INET;
            s->sin_addr = a4;
        }
        return true;
    }
    if (inet_pton(AF_INET6, h->name, &a6) == 1) {
        if (o->want_ipv6) {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->addrs[DNS_MAX_RR + h->n6++];
            memset(s, 0, sizeof(*s));
            s->sin6_family = AF_INET6;
            s->sin6_addr = a6;
        }
        return true;
    }
    return false;
}

static void ask(struct mx_lookup *l, size_t i, int v6)
{
    struct host_state *h = &l->hosts[i];
    struct query_ref *q = &l->refs[i][v6];
    *q = (struct query_ref){l, i, v6};
    if (v6)
        h->ask6 = true;
    else
        h->ask4 = true;
    l->pending++;
    int rc = dns_query(l->dns, h->name, v6 ? DNS_T_AAAA : DNS_T_A, l->o.timeout_ms, on_addr, q);
    if (rc < 0) {
        /* Refused at once: a temporary failure of this lookup, reported
         * through the same path (the caller's callback must not run from
         * inside mx_lookup_start, so only count it here). */
        l->pending--;
        if (v6)
            h->st6 = rc == -EINVAL ? DNS_NXDOMAIN : DNS_TEMPFAIL;
        else
            h->st4 = rc == -EINVAL ? DNS_NXDOMAIN : DNS_TEMPFAIL;
        mx_dns_why(h->name, v6 ? DNS_T_AAAA : DNS_T_A,
                   rc == -EINVAL ? DNS_NXDOMAIN : DNS_TEMPFAIL, h->why, sizeof(h->why));
    }
}

/* Start the address queries of every host; false when none is in flight
 * (all numeric or refused): the caller must then finish through a
 * deferred path. */
static bool ask_all(struct mx_lookup *l)
{
    for (size_t i = 0; i < l->nhosts; i++) {
        if (numeric_host(&l->hosts[i], &l->o))
            continue;
        if (l->o.want_ipv4)
            ask(l, i, 0);
        if (l->o.want_ipv6)
            ask(l, i, 1);
    }
    return l->pending > 0;
}

/* Nothing left in flight but we are inside a dns callback: finishing now
 * is allowed (the rule is "never from inside mx_lookup_start"). */
static void on_mx(void *arg, const struct dns_result *r)
{
    struct mx_lookup *l = arg;
    l->pending--;
    if (r->status == DNS_OK && mx_is_null(r->u.mx, r->count)) {
        struct mx_result res = {.outcome = MX_PERMFAIL, .status = "5.1.0"};
        snprintf(res.why, sizeof(res.why), "Domain %s does not accept mail (nullMX)", l->domain);
        mx_done_cb cb = l->cb;
        void *cbarg = l->arg;
        free((void *)l->self.addrs);
        free(l);
        cb(cbarg, &res);
        return;
    }
    if (r->status == DNS_TEMPFAIL || r->status == DNS_TIMEOUT) {
        /* ignore_mx_lookup_error = no: defer. */
        struct mx_result res = {.outcome = MX_TEMPFAIL, .status = "4.4.3"};
        mx_dns_why(l->domain, DNS_T_MX, r->status, res.why, sizeof(res.why));
        mx_done_cb cb = l->cb;
        void *cbarg = l->arg;
        free((void *)l->self.addrs);
        free(l);
        cb(cbarg, &res);
        return;
    }
    if (r->status == DNS_OK && r->count > 0) {
        for (unsigned i = 0; i < r->count && i < DNS_MAX_RR; i++) {
            struct host_state *h = &l->hosts[l->nhosts++];
            h->pref = r->u.mx[i].pref;
            snprintf(h->name, sizeof(h->name), "%s", r->u.mx[i].host);
        }
    } else {
        /* RFC 5321 5.1: no MX, the domain itself at preference 0. */
        l->implicit = true;
        l->nhosts = 1;
        snprintf(l->hosts[0].name, sizeof(l->hosts[0].name), "%s", l->domain);
    }
    if (!ask_all(l))
        finish(l);
}

int mx_lookup_start(struct dns_ctx *dns, const char *domain, const struct mx_opts *o,
                    const struct mx_self *self, mx_done_cb cb, void *arg,
                    struct mx_lookup **out)
{
    if (!dns || !domain || !*domain || strlen(domain) > DNS_NAME_MAX || !o || !cb ||
        (!o->want_ipv4 && !o->want_ipv6))
        return -EINVAL;
    struct mx_lookup *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->dns = dns;
    snprintf(l->domain, sizeof(l->domain), "%s", domain);
    l->o = *o;
    l->cb = cb;
    l->arg = arg;
    l->rng = o->seed;
    if (!l->rng && getrandom(&l->rng, sizeof(l->rng), GRND_NONBLOCK) != sizeof(l->rng))
        l->rng = (uint64_t)(uintptr_t)l ^ 0x5deece66dull;
    /* A private copy of our addresses: the caller's may not outlive us. */
    size_t total = self ? self->naddrs + self->nproxy : 0;
    if (total) {
        struct sockaddr_storage *a = calloc(total, sizeof(*a));
        if (!a) {
            free(l);
            return -ENOMEM;
        }
        memcpy(a, self->addrs, self->naddrs * sizeof(*a));
        memcpy(a + self->naddrs, self->proxy, self->nproxy * sizeof(*a));
        l->self = (struct mx_self){a, self->naddrs, a + self->naddrs, self->nproxy};
    }
    int rc;
    if (o->no_mx) {
        l->implicit = true;
        l->nhosts = 1;
        snprintf(l->hosts[0].name, sizeof(l->hosts[0].name), "%s", domain);
        if (numeric_host(&l->hosts[0], o)) {
            /* Nothing to ask: finish from a zero-delay path is not
             * available without a query, so refuse a numeric [host] here:
             * the caller has its address already. */
            free((void *)l->self.addrs);
            free(l);
            return -EINVAL;
        }
        if (o->want_ipv4)
            ask(l, 0, 0);
        if (o->want_ipv6)
            ask(l, 0, 1);
        rc = l->pending ? 0 : -EAGAIN;
    } else {
        l->pending = 1;
        rc = dns_query(dns, domain, DNS_T_MX, o->timeout_ms, on_mx, l);
    }
    if (rc < 0) {
        dns_forget(dns, l);
        for (size_t i = 0; i < DNS_MAX_RR; i++) {
            dns_forget(dns, &l->refs[i][0]);
            dns_forget(dns, &l->refs[i][1]);
        }
        free((void *)l->self.addrs);
        free(l);
        return rc;
    }
    if (out)
        *out = l;
    return 0;
}

void mx_lookup_cancel(struct mx_lookup *l)
{
    if (!l)
        return;
    dns_forget(l->dns, l);
    for (size_t i = 0; i < DNS_MAX_RR; i++) {
        dns_forget(l->dns, &l->refs[i][0]);
        dns_forget(l->dns, &l->refs[i][1]);
    }
    free((void *)l->self.addrs);
    free(l);
}
