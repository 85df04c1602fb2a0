/*
 * fe_screen_conf.c - the screening parameters of the frontend, prepared in
 * the master per generation (from fe_conf_load), before the frontend is
 * forked:
 *   - postscreen_client_connection_count_limit / _rate_limit: the anvil
 *     table (shm/anvil.h) is created here, in the master, so the frontend
 *     and its restarts share one mapping; IPv4/IPv6 prefixes and
 *     anvil_rate_time_unit are the table's options. No limit, no table.
 *   - postscreen_dnsbl_sites (parsed: a bad list refuses the generation,
 *     with Postfix's words), the thresholds (the whitelist name already
 *     feeds the allowlist default in config.c), action, timeout, TTLs,
 *     dns_resolver.
 *   - postscreen_cache_map and the TTLs: the cache is only opened (after
 *     fork, in fe_screen.c) when some test runs that it could remember:
 *     pregreet when postscreen_greet_action is not ignore (this frontend
 *     skips an ignored greet test, see fe_conn.c), dnsbl when the list is
 *     not empty.
 *   - postscreen_pre_queue_limit / postscreen_post_queue_limit
 *     (fe_limits.h), postscreen_allowlist_interfaces (compiled here as
 *     Postfix's addr_match_list; an empty list vetoes every interface, as
 *     in Postfix) and postscreen_dnsbl_reply_map (its tables opened here,
 *     like the access list's).
 *
 * Failure: -errno with the reason in diag.
 */
#include "fe_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matchlist.h"
#include "util.h"

static const char *value_of(const struct config *cfg, const char *name)
{
    struct cfg_value v;
    if (config_get(cfg, name, &v) < 0)
        return "";
    return v.expanded ? v.expanded : v.raw ? v.raw : "";
}

/* postscreen_allowlist_interfaces and postscreen_dnsbl_reply_map. */
static int load_veto_reply(const struct config *cfg, struct fe_screen_conf *s,
                           struct cfg_diag *diag)
{
    const struct cfg_params *p = &cfg->p;
    s->pre_queue_limit = (uint32_t)p->postscreen_pre_queue_limit;
    s->post_queue_limit = (uint32_t)p->postscreen_post_queue_limit;
    struct matchlist_err merr;
    int r = matchlist_compile("postscreen_allowlist_interfaces", MATCHLIST_ADDR, 0,
                              value_of(cfg, "postscreen_allowlist_interfaces"), &s->allow_if,
                              &merr);
    if (r < 0) {
        cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: %s", cfg->path, merr.msg);
        return r;
    }
    const struct cfg_list *l = &p->postscreen_dnsbl_reply_map;
    if (l->n == 0)
        return 0;
    s->reply_maps = xcalloc(l->n, sizeof(*s->reply_maps));
    for (size_t i = 0; i < l->n; i++) {
        struct map_err err;
        if ((r = map_open(l->v[i], 0, &s->reply_maps[i], &err)) < 0) {
            cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: postscreen_dnsbl_reply_map: %s: %s",
                         cfg->path, l->v[i], err.msg);
            return r;
        }
        s->nreply_maps++;
    }
    return 0;
}

int fe_screen_conf_load(const struct config *cfg, long greet_action, uint32_t pool_size,
                        struct fe_screen_conf **out, struct cfg_diag *diag)
{
    const struct cfg_params *p = &cfg->p;
    struct fe_screen_conf *s = xcalloc(1, sizeof(*s));
    int r;
    s->count_limit = p->postscreen_client_connection_count_limit > 0
                         ? (uint32_t)p->postscreen_client_connection_count_limit
                         : 0;
    s->rate_limit = p->postscreen_client_connection_rate_limit > 0
                        ? (uint32_t)p->postscreen_client_connection_rate_limit
                        : 0;
    if (s->count_limit || s->rate_limit) {
        /* A few slots per connection the pool can hold (clients that
         * left stay until their rate window is over). */
        uint64_t slots = (uint64_t)pool_size * 4u;
        struct anvil_opts o = {
            .slots = slots > (1u << 22) ? (1u << 22) : (slots < 1024 ? 1024 : (unsigned)slots),
            .ipv4_prefix = (unsigned)p->postscreen_client_ipv4_prefix_length,
            .ipv6_prefix = (unsigned)p->postscreen_client_ipv6_prefix_length,
            .rate_unit_ms = (int64_t)p->anvil_rate_time_unit * 1000,
        };
        s->anvil = xcalloc(1, sizeof(*s->anvil));
        if ((r = anvil_create(&o, s->anvil)) < 0) {
            cfg_diag_add(diag, CFG_DIAG_ERROR, "cannot create the anvil table: %s",
                         strerror(-r));
            free(s->anvil);
            s->anvil = NULL;
            fe_screen_conf_free(s);
            return r;
        }
    }
    const struct cfg_list *sl = &p->postscreen_dnsbl_sites;
    if (sl->n > 0) {
        s->sites = xmalloc(sizeof(*s->sites));
        dnsbl_sites_init(s->sites);
        struct dnsbl_sites_err err;
        for (size_t i = 0; i < sl->n; i++) {
            if ((r = dnsbl_sites_add(s->sites, sl->v[i], strlen(sl->v[i]), &err)) < 0) {
                cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: postscreen_dnsbl_sites: %s", cfg->path,
                             r == -ENOSPC ? "too many entries" : err.msg);
                fe_screen_conf_free(s);
                return r;
            }
        }
    }
    s->dnsbl_threshold = p->postscreen_dnsbl_threshold;
    s->dnsbl_allowlist = p->postscreen_dnsbl_allowlist_threshold;
    s->dnsbl_action = p->postscreen_dnsbl_action;
    s->dnsbl_timeout_ms = (unsigned)p->postscreen_dnsbl_timeout * 1000u;
    s->dnsbl_min_ttl = (uint32_t)p->postscreen_dnsbl_min_ttl;
    s->dnsbl_max_ttl = (uint32_t)p->postscreen_dnsbl_max_ttl;
    if ((r = dns_servers_join((const char *const *)p->dns_resolver.v, p->dns_resolver.n, s->servers,
                                  sizeof(s->servers))) < 0) {
        cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: dns_resolver: too long", cfg->path);
        fe_screen_conf_free(s);
        return r;
    }
    if (greet_action != PS_ACT_IGNORE)
        s->enabled |= SCREEN_BIT(SCREEN_TEST_PREGR);
    if (s->sites)
        s->enabled |= SCREEN_BIT(SCREEN_TEST_DNSBL);
    /* The deep protocol tests (fe_deep.c) by their *_enable flags. */
    if (p->postscreen_pipelining_enable)
        s->enabled |= SCREEN_BIT(SCREEN_TEST_PIPEL);
    if (p->postscreen_non_smtp_command_enable)
        s->enabled |= SCREEN_BIT(SCREEN_TEST_NSMTP);
    if (p->postscreen_bare_newline_enable)
        s->enabled |= SCREEN_BIT(SCREEN_TEST_BARLF);
    if (s->enabled && p->postscreen_cache_map && p->postscreen_cache_map[0])
        s->cache_map = xstrdup(p->postscreen_cache_map);
    s->greet_ttl = p->postscreen_greet_ttl;
    s->cleanup_interval = p->postscreen_cache_cleanup_interval;
    s->retention = p->postscreen_cache_retention_time;
    if ((r = load_veto_reply(cfg, s, diag)) < 0) {
        fe_screen_conf_free(s);
        return r;
    }
    *out = s;
    return 0;
}

void fe_screen_conf_free(struct fe_screen_conf *s)
{
    if (!s)
        return;
    if (s->anvil) {
        anvil_detach(s->anvil);
        free(s->anvil);
    }
    free(s->sites);
    free(s->cache_map);
    if (s->allow_if)
        matchlist_free(s->allow_if);
    for (size_t i = 0; i < s->nreply_maps; i++)
        map_close(s->reply_maps[i]);
    free(s->reply_maps);
    free(s);
}
