/*
 * mx_select.c - the pure selection rule of mx_select.h: Postfix
 * smtp_addr.c's smtp_domain_addr()/smtp_host_addr() after the lookups
 * (sort, find self, truncate, shuffle, sort, balance, limit) and the texts
 * of dns_lookup() failures.
 */
#include "mx_select.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

struct ent {
    unsigned pref;
    size_t host;  /* index into the sorted host array */
    const struct sockaddr_storage *sa;
};

static const char *dns_errtext(enum dns_status st)
{
    /* dns_strerror() of the h_errno res_search() leaves. */
    switch (st) {
    case DNS_NXDOMAIN:
        return "Host not found";
    case DNS_NODATA:
        return "No address associated with hostname";
    default:
        return "Host not found, try again";
    }
}

static const char *type_name(enum dns_type t)
{
    switch (t) {
    case DNS_T_A:
        return "A";
    case DNS_T_AAAA:
        return "AAAA";
    case DNS_T_MX:
        return "MX";
    case DNS_T_TXT:
        return "TXT";
    default:
        return "PTR";
    }
}

void mx_dns_why(const char *name, enum dns_type type, enum dns_status st, char *buf,
                size_t size)
{
    snprintf(buf, size,
             "Host or domain name not found. Name service error for name=%s type=%s: %s", name,
             type_name(type), dns_errtext(st));
}

bool mx_is_null(const struct dns_mx *mx, unsigned count)
{
    return count == 1 && mx[0].pref == 0 && (mx[0].host[0] == '\0' || strcmp(mx[0].host, ".") == 0);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr)) == 0;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return false;
}

static bool is_self(const struct sockaddr_storage *sa, const struct mx_self *self)
{
    if (!self)
        return false;
    for (size_t i = 0; i < self->naddrs; i++)
        if (same_addr(sa, &self->addrs[i]))
            return true;
    for (size_t i = 0; i < self->nproxy; i++)
        if (same_addr(sa, &self->proxy[i]))
            return true;
    return false;
}

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64*: enough to spread load, not for secrets. */
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static int fam_rank(const struct ent *e, enum mx_addr_pref p)
{
    if (p == MX_ADDR_ANY)
        return 0;
    bool v4 = e->sa->ss_family == AF_INET;
    return (p == MX_ADDR_IPV4) == v4 ? 0 : 1;
}

/* Stable insertion sort by preference, then address family preference
 * (dns_rr_sort with dns_rr_compare_pref_*). Lists are short. */
static void sort_ents(struct ent *v, size_t n, enum mx_addr_pref p)
{
    for (size_t i = 1; i < n; i++) {
        struct ent t = v[i];
        size_t j = i;
        while (j > 0 && (v[j - 1].pref > t.pref ||
                         (v[j - 1].pref == t.pref && fam_rank(&v[j - 1], p) > fam_rank(&t, p)))) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = t;
    }
}

/* smtp_balance_inet_proto(): keep both families within the limit. */
static size_t balance(struct ent *v, size_t n, unsigned limit)
{
    size_t v4 = 0, v6 = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].sa->ss_family == AF_INET)
            v4++;
        else
            v6++;
    if (!(v4 > 0 && v6 > 0 && v4 + v6 > limit))
        return n;
    size_t t4, t6;
    if (v6 <= limit / 2) {
        t6 = v6;
        t4 = limit - t6;
    } else if (v4 <= limit / 2) {
        t4 = v4;
        t6 = limit - t4;
    } else {
        t4 = (limit + (v[0].sa->ss_family == AF_INET)) / 2;
        t6 = limit - t4;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t *t = v[i].sa->ss_family == AF_INET ? &t4 : &t6;
        if (*t > 0) {
            v[k++] = v[i];
            (*t)--;
        }
    }
    return k;
}

static void fail(struct mx_result *out, enum mx_outcome o, const char *status, const char *why)
{
    out->outcome = o;
    snprintf(out->status, sizeof(out->status), "%s", status);
    snprintf(out->why, sizeof(out->why), "%s", why);
    out->n = 0;
}

void mx_select_finish(const char *domain, const struct mx_host *hosts, size_t n, bool implicit,
                      const struct mx_self *self, const struct mx_opts *o, uint64_t *rng,
                      struct mx_result *out)
{
    memset(out, 0, sizeof(*out));
    out->implicit_mx = implicit;
    out->outcome = MX_OK;

    /* MX hosts by preference (stable: equal ones keep DNS order). */
    const struct mx_host *sorted[MX_SELECT_MAX];
    size_t nh = 0;
    for (size_t i = 0; i < n && nh < MX_SELECT_MAX; i++) {
        size_t j = nh++;
        while (j > 0 && sorted[j - 1]->pref > hosts[i].pref) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = &hosts[i];
    }
    unsigned best_pref = nh ? sorted[0]->pref : ~0u;

    /* Addresses in that order; remember the failures (a soft one wins). */
    struct ent v[MX_SELECT_MAX];
    size_t nv = 0;
    const struct mx_host *soft = NULL, *hard = NULL;
    for (size_t h = 0; h < nh; h++) {
        const struct mx_host *mh = sorted[h];
        if (mh->status != DNS_OK) {
            if (mh->status == DNS_TEMPFAIL || mh->status == DNS_TIMEOUT) {
                if (!soft)
                    soft = mh;
            } else {
                hard = mh;
            }
            continue;
        }
        for (size_t a = 0; a < mh->naddrs && nv < MX_SELECT_MAX; a++) {
            int fam = mh->addrs[a].ss_family;
            if ((fam == AF_INET && !o->want_ipv4) || (fam == AF_INET6 && !o->want_ipv6) ||
                (fam != AF_INET && fam != AF_INET6))
                continue;
            v[nv++] = (struct ent){mh->pref, h, &mh->addrs[a]};
        }
    }
    if (nv == 0) {
        const struct mx_host *e = soft ? soft : hard;
        char why[sizeof(out->why)];
        if (e && e->why && e->why[0])
            snprintf(why, sizeof(why), "%s", e->why);
        else
            snprintf(why, sizeof(why), "%s: host not found", nh ? sorted[0]->host : domain);
        if (soft || !e)
            fail(out, MX_TEMPFAIL, "4.4.3", why);
        else
            fail(out, MX_PERMFAIL, "5.4.4", why);
        return;
    }

    /* Ourselves: the first of our addresses in list order; everything
     * from its preference on goes. */
    for (size_t i = 0; i < nv; i++) {
        if (!is_self(v[i].sa, self))
            continue;
        out->found_myself = true;
        char why[sizeof(out->why)];
        if (implicit) {
            snprintf(why, sizeof(why), "mail for %s loops back to myself", domain);
            fail(out, MX_PERMFAIL, "5.4.6", why);
            return;
        }
        unsigned self_pref = v[i].pref;
        unsigned best_found = v[0].pref;
        size_t k = 0;
        while (k < nv && v[k].pref != self_pref)
            k++;
        nv = k;
        if (nv == 0) {
            if (best_pref != best_found) {
                snprintf(why, sizeof(why), "unable to find primary relay for %s", domain);
                fail(out, MX_TEMPFAIL, "4.4.4", why);
            } else {
                snprintf(why, sizeof(why), "mail for %s loops back to myself", domain);
                fail(out, MX_PERMFAIL, "5.4.6", why);
            }
            return;
        }
        break;
    }

    if (nv > 1) {
        if (o->randomize) {
            for (size_t i = nv - 1; i > 0; i--) {
                size_t j = (size_t)(next_rand(rng) % (i + 1));
                struct ent t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
        }
        /* smtp_host_addr() sorts only when both families are in use. */
        if (!implicit || (o->want_ipv4 && o->want_ipv6))
            sort_ents(v, nv, o->addr_pref);
        if (o->address_limit > 0 && o->balance)
            nv = balance(v, nv, o->address_limit);
    }
    if (o->address_limit > 0 && nv > o->address_limit)
        nv = o->address_limit;
    for (size_t i = 0; i < nv; i++) {
        out->c[i].pref = v[i].pref;
        snprintf(out->c[i].host, sizeof(out->c[i].host), "%s", sorted[v[i].host]->host);
        out->c[i].addr = *v[i].sa;
    }
    out->n = nv;
}
