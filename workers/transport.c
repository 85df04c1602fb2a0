/*
 * transport.c - transport_maps and relayhost resolution (see transport.h):
 * the table search order of trivial-rewrite's transport_lookup() over
 * lib/maps, results through transport_parse.c.
 *
 * Built once per generation (tables opened, relayhost parsed); read-only
 * afterwards, so every session of a worker resolves through the same one.
 * A lookup copies results into a stack buffer: nothing is allocated per
 * recipient.
 *
 * Failure: see transport.h. Errors and malformed results are logged with
 * log_warn() naming the table and the key, as Postfix's trivial-rewrite
 * warns about them.
 */
#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "maps.h"
#include "util.h"

#define ADDR_MAX 2100  /* an SMTP path (line_length_limit) plus "@myorigin" */
#define VALUE_MAX 1024 /* a transport table result */

struct transport {
    struct map **maps;
    size_t nmaps;
    bool parent_style; /* transport_maps in parent_domain_matches_subdomains */
    char *delim;       /* recipient_delimiter */
    char *myorigin;
    bool have_relayhost;
    struct nexthop relayhost;
};

int transport_create(const struct config *cfg, struct transport **out, char *err, size_t errlen)
{
    struct transport *t = xcalloc(1, sizeof(*t));
    const struct cfg_params *p = &cfg->p;

    *out = NULL;
    for (size_t i = 0; i < p->transport_maps.n; i++) {
        struct map_err me;
        struct map *m;
        if (map_open(p->transport_maps.v[i], 0, &m, &me) != 0) {
            snprintf(err, errlen, "transport_maps: %s", me.msg);
            transport_free(t);
            return -EINVAL;
        }
        t->maps = xrealloc(t->maps, (t->nmaps + 1) * sizeof(*t->maps));
        t->maps[t->nmaps++] = m;
    }
    for (size_t i = 0; i < p->parent_domain_matches_subdomains.n; i++)
        if (strcmp(p->parent_domain_matches_subdomains.v[i], "transport_maps") == 0)
            t->parent_style = true;
    t->delim = xstrdup(p->recipient_delimiter ? p->recipient_delimiter : "");
    t->myorigin = xstrdup(p->myorigin ? p->myorigin : "");
    if (p->relayhost && *p->relayhost) {
        char buf[VALUE_MAX];
        int n = snprintf(buf, sizeof(buf), ":%s", p->relayhost);
        /* relayhost has the syntax of a nexthop for the default transport. */
        if (n <= 0 || (size_t)n >= sizeof(buf)
            || transport_parse_value(buf, (size_t)n, "", &t->relayhost) != 0) {
            snprintf(err, errlen, "relayhost: malformed destination \"%s\"", p->relayhost);
            transport_free(t);
            return -EINVAL;
        }
        t->have_relayhost = true;
    }
    *out = t;
    return 0;
}

void transport_free(struct transport *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nmaps; i++)
        map_close(t->maps[i]);
    free(t->maps);
    free(t->delim);
    free(t->myorigin);
    free(t);
}

/* One key asked of every table in order; partial keys (everything but the
 * full address and "*") only of fixed-key tables, as Postfix's PARTIAL
 * flag keeps regular expressions from matching them. 1 found (value,
 * table ref), 0 not found, -EAGAIN. */
static int lookup(const struct transport *t, const char *key, bool partial, char *val,
                  size_t cap, const char **ref)
{
    for (size_t i = 0; i < t->nmaps; i++) {
        struct map *m = t->maps[i];
        if (partial && !(m->type->flags & MAP_FIXED))
            continue;
        struct map_value mv = {val, cap, 0};
        int rc = map_lookup_str(m, key, &mv);
        if (rc == 1) {
            *ref = m->ref;
            return 1;
        }
        if (rc < 0) {
            log_warn("transport_maps: %s: lookup of \"%s\" failed: %s", m->ref, key,
                     strerror(-rc));
            return -EAGAIN;
        }
    }
    return 0;
}

/* Postfix's split_addr(): where the extension starts in a local part, or
 * 0. "owner-" lists and "-request" addresses keep their '-'. */
static size_t ext_start(const char *local, size_t n, const char *delim)
{
    if (!*delim || n == 0)
        return 0;
    if (strchr(delim, '-')) {
        if (n > 6 && strncasecmp(local, "owner-", 6) == 0)
            return 0;
        if (n > 8 && strncasecmp(local + n - 8, "-request", 8) == 0)
            return 0;
    }
    for (size_t i = 1; i < n; i++)
        if (strchr(delim, local[i]))
            return i;
    return 0;
}

static void default_hop(const struct transport *t, const char *domain, struct nexthop *out)
{
    if (t->have_relayhost) {
        *out = t->relayhost;
        return;
    }
    memset(out, 0, sizeof(*out));
    out->kind = TRANSPORT_SMTP;
    snprintf(out->host, sizeof(out->host), "%s", domain);
    out->port = 25;
    out->mx = true;
}

/* A found value: parsed, or logged and refused. */
static int found(const struct transport *t, const char *ref, const char *key, const char *val,
                 const char *domain, struct nexthop *out)
{
    int rc = transport_parse_value(val, strlen(val), domain, out);
    if (rc == 1) {
        default_hop(t, domain, out);
        return 0;
    }
    if (rc < 0) {
        log_warn("transport_maps: %s: key \"%s\": malformed or unsupported result \"%s\"", ref,
                 key, val);
        return -EINVAL;
    }
    return 0;
}

int transport_resolve(const struct transport *t, const char *recipient, struct nexthop *out)
{
    char addr[ADDR_MAX], key[ADDR_MAX], val[VALUE_MAX];
    const char *ref = NULL;
    int rc;

    const char *at = strrchr(recipient, '@');
    int n = at ? snprintf(addr, sizeof(addr), "%s", recipient)
               : snprintf(addr, sizeof(addr), "%s@%s", recipient, t->myorigin);
    if (n < 0 || (size_t)n >= sizeof(addr))
        return -EINVAL;
    at = strrchr(addr, '@');
    const char *domain = at + 1;
    size_t llen = (size_t)(at - addr);
    if (!*domain)
        return -EINVAL;

    /* user+ext@domain: every table. */
    if ((rc = lookup(t, addr, false, val, sizeof(val), &ref)) != 0)
        return rc < 0 ? rc : found(t, ref, addr, val, domain, out);
    /* user@domain. */
    size_t e = ext_start(addr, llen, t->delim);
    if (e > 0) {
        snprintf(key, sizeof(key), "%.*s%s", (int)e, addr, at);
        if ((rc = lookup(t, key, true, val, sizeof(val), &ref)) != 0)
            return rc < 0 ? rc : found(t, ref, key, val, domain, out);
    }
    /* domain, then its parents. */
    for (const char *name = domain; name;) {
        if ((rc = lookup(t, name, true, val, sizeof(val), &ref)) != 0)
            return rc < 0 ? rc : found(t, ref, name, val, domain, out);
        const char *next = strchr(name + 1, '.');
        if (next && t->parent_style)
            next++;
        name = next && *next && strcmp(next, ".") != 0 ? next : NULL;
    }
    /* The wildcard: every table. */
    if ((rc = lookup(t, "*", false, val, sizeof(val), &ref)) != 0)
        return rc < 0 ? rc : found(t, ref, "*", val, domain, out);
    default_hop(t, domain, out);
    return 0;
}
