/*
 * generation.c - load one configuration generation (generation.h): the
 * configuration, the session limits, the restriction lists (policy.c),
 * the content check tables, the next-hop routing (transport.c), the TLS
 * server context (tls.c) and the client lists the workers match.
 * The policy segment (shm/segment.h) gets the parsed configuration
 * (config_place) and then, under the maps placer (maps_set_placer), every
 * map's shared tables, the compiled match lists (mynetworks,
 * relay_domains, ...) and restriction lists, and the transport table's
 * tables, before it is sealed: the children read all of it from one
 * read-only copy.
 *
 * Every failure names what and where ("header_checks: regexp:/x: line 3:
 * ...") and leaves nothing allocated; the master keeps the generation it
 * had.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_tls.h"
#include "generation.h"
#include "log.h"
#include "maps.h"
#include "matchlist.h"
#include "policy.h"
#include "restrict.h"
#include "segment.h"
#include "spool.h"
#include "tls.h"
#include "transport.h"
#include "util.h"

/* For the restrictions (policy_set_transport): does addr resolve to
 * error: or retry:, and with which text. */
static int transport_kind(void *arg, const char *addr, char *text, size_t size)
{
    struct nexthop nh;
    int rc = transport_resolve(arg, addr, &nh);
    if (rc == -EAGAIN)
        return rc;
    if (rc < 0 || (nh.kind != TRANSPORT_ERROR && nh.kind != TRANSPORT_RETRY))
        return 0;
    snprintf(text, size, "%s", nh.text);
    return nh.kind == TRANSPORT_ERROR ? RESTRICT_TRANSPORT_ERROR : RESTRICT_TRANSPORT_RETRY;
}

#define ERR_MAX 1024

static void fail(struct cfg_diag *diag, const char *msg)
{
    if (diag)
        cfg_diag_add(diag, CFG_DIAG_ERROR, "%s", msg);
    else
        log_error("%s", msg);
}

static const char *value_of(const struct config *cfg, const char *name)
{
    struct cfg_value v;
    if (config_get(cfg, name, &v) < 0)
        return "";
    return v.expanded ? v.expanded : v.raw ? v.raw : "";
}

/* One check table per parameter (Postfix allows a list; one table per
 * kind is what the content pipeline takes: more is refused, not ignored). */
static int open_check(struct generation *g, const char *pname, const struct cfg_list *l,
                      struct map **out, char *err, size_t errlen)
{
    const struct cfg_list *hc = &g->cfg.p.header_checks;
    *out = NULL;
    if (l->n == 0)
        return 0;
    if (l->n > 1) {
        snprintf(err, errlen, "%s: more than one table is not supported (%zu given)", pname,
                 l->n);
        return -EINVAL;
    }
    /* mime_header_checks and nested_header_checks default to
     * $header_checks: the same table, opened once. */
    if (l != hc && hc->n == 1 && g->checks.header && !strcmp(hc->v[0], l->v[0])) {
        *out = g->checks.header;
        return 0;
    }
    struct map_err merr;
    struct map *m;
    int rc = map_open(l->v[0], 0, &m, &merr);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", pname, merr.msg);
        return rc;
    }
    g->maps = xrealloc(g->maps, (g->nmaps + 1) * sizeof(*g->maps));
    g->maps[g->nmaps++] = m;
    *out = m;
    return 0;
}

static int compile_list(const struct config *cfg, const char *pname, enum matchlist_kind kind,
                        struct matchlist **out, char *err, size_t errlen)
{
    struct matchlist_err merr;
    unsigned flags = matchlist_parent_style(value_of(cfg, "parent_domain_matches_subdomains"),
                                            pname)
                         ? MATCHLIST_PARENT
                         : 0;
    int rc = matchlist_compile(pname, kind, flags, value_of(cfg, pname), out, &merr);
    if (rc < 0)
        snprintf(err, errlen, "%s", merr.msg);
    return rc;
}

static void session_limits(struct generation *g)
{
    const struct cfg_params *p = &g->cfg.p;
    struct session_cfg *s = &g->session;
    struct map *filter = s->cmd_filter; /* opened with the maps, before */
    session_cfg_defaults(s);
    s->cmd_filter = filter;
    s->myhostname = p->myhostname;
    s->banner = p->smtpd_banner;
    s->message_size_limit = (uint64_t)p->message_size_limit;
    s->recipient_limit = (unsigned)p->smtpd_recipient_limit;
    s->soft_error_limit = (unsigned)p->smtpd_soft_error_limit;
    s->hard_error_limit = (unsigned)p->smtpd_hard_error_limit;
    s->junk_command_limit = (unsigned)p->smtpd_junk_command_limit;
    s->error_sleep_ms = (unsigned)p->smtpd_error_sleep_time * 1000u;
    s->line_length_limit = (size_t)p->line_length_limit;
    s->delay_reject = p->smtpd_delay_reject;
    s->helo_required = p->smtpd_helo_required;
    s->disable_vrfy = p->disable_vrfy_command;
    s->strict_rfc821 = p->strict_rfc821_envelopes;
    s->smtputf8 = p->smtputf8_enable;
    s->tls_available = g->tls != NULL;
    s->tls_required = g->tls && tls_server_required(g->tls);
    s->ehlo_discard = ehlo_reply_mask((const char *const *)p->smtpd_discard_ehlo_keywords.v,
                                      p->smtpd_discard_ehlo_keywords.n);
}

/* The maps: restriction lists and content checks, their Hyperscan
 * databases placed in the policy segment while they open. */
static int open_maps(struct generation *g, char *err, size_t errlen)
{
    const struct cfg_params *p = &g->cfg.p;
    int rc = policy_create(&g->cfg, &g->policy, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = open_check(g, "header_checks", &p->header_checks, &g->checks.header, err,
                         errlen)) < 0 ||
        (rc = open_check(g, "mime_header_checks", &p->mime_header_checks,
                         &g->checks.mime_header, err, errlen)) < 0 ||
        (rc = open_check(g, "nested_header_checks", &p->nested_header_checks,
                         &g->checks.nested_header, err, errlen)) < 0 ||
        (rc = open_check(g, "body_checks", &p->body_checks, &g->checks.body, err, errlen)) < 0)
        return rc;
    /* smtpd's pre_jail_init(): smtpd_command_filter is one table
     * (dict_open() of the whole value). */
    const struct cfg_list *fl = &p->smtpd_command_filter;
    if (fl->n > 1) {
        snprintf(err, errlen, "smtpd_command_filter: one table only");
        return -EINVAL;
    }
    if (fl->n == 1) {
        struct map_err merr;
        struct map *m;
        rc = map_open(fl->v[0], 0, &m, &merr);
        if (rc < 0) {
            snprintf(err, errlen, "smtpd_command_filter: %s", merr.msg);
            return rc;
        }
        g->maps = xrealloc(g->maps, (g->nmaps + 1) * sizeof(*g->maps));
        g->maps[g->nmaps++] = m;
        g->session.cmd_filter = m;
    }
    const struct cfg_list *el = &p->smtpd_discard_ehlo_keyword_address_maps;
    if (el->n > 0)
        g->ehlo_discard_maps = xcalloc(el->n, sizeof(*g->ehlo_discard_maps));
    for (size_t i = 0; i < el->n; i++) {
        struct map_err merr;
        struct map *m;
        rc = map_open(el->v[i], 0, &m, &merr);
        if (rc < 0) {
            snprintf(err, errlen, "smtpd_discard_ehlo_keyword_address_maps: %s", merr.msg);
            return rc;
        }
        g->maps = xrealloc(g->maps, (g->nmaps + 1) * sizeof(*g->maps));
        g->maps[g->nmaps++] = m;
        g->ehlo_discard_maps[g->n_ehlo_discard_maps++] = m;
    }
    return 0;
}

int generation_ehlo_discard(const struct generation *g, const char *addr, unsigned *mask)
{
    char buf[1024];
    struct map_value v = {.buf = buf, .cap = sizeof(buf)};
    for (size_t i = 0; i < g->n_ehlo_discard_maps; i++) {
        int r = map_lookup(g->ehlo_discard_maps[i], addr, strlen(addr), &v);
        if (r < 0) {
            log_warn("smtpd_discard_ehlo_keyword_address_maps lookup error for %s: %s", addr,
                     strerror(-r));
            return r;
        }
        if (r > 0) {
            *mask = ehlo_reply_mask_text(v.buf, v.len);
            return 1;
        }
    }
    return 0;
}

static int build(struct generation *g, char *err, size_t errlen)
{
    int rc = segment_create(g->id, 0, &g->seg);
    if (rc < 0) {
        snprintf(err, errlen, "policy segment: %s", strerror(-rc));
        return rc;
    }
    struct map_placer placer;
    segment_map_placer(g->seg, &placer);
    /* The configuration first: the maps, the policy and everything built
     * below keep pointers into it. */
    if ((rc = config_place(&g->cfg, placer.alloc, placer.ctx)) < 0) {
        snprintf(err, errlen, "policy segment: configuration: %s", strerror(-rc));
        return rc;
    }
    maps_set_placer(&placer);
    rc = open_maps(g, err, errlen);
    /* The transport table and the client lists too: their tables and the
     * compiled lists (matchlist.h) go into the segment. */
    if (rc == 0)
        rc = transport_create(&g->cfg, &g->transport, err, errlen);
    if (rc == 0 &&
        (rc = compile_list(&g->cfg, "smtpd_authorized_xclient_hosts", MATCHLIST_NAMADR,
                           &g->xclient_hosts, err, errlen)) == 0)
        rc = compile_list(&g->cfg, "smtpd_forbid_bare_newline_exclusions", MATCHLIST_NAMADR,
                          &g->bare_lf_exclusions, err, errlen);
    /* The placer stays set until generation_seal(): the caller places
     * what it builds from this generation too. */
    if (rc < 0)
        return rc;
    policy_set_transport(g->policy, transport_kind, g->transport);
    if ((rc = tls_server_create(&g->cfg, &g->tls, err, errlen)) < 0)
        return rc;
    if ((rc = client_tls_policy_create(&g->cfg, &g->client_tls, err, errlen)) < 0)
        return rc;
    if (g->cfg.p.delivery_mode == DELIVERY_QUEUE && (rc = spool_prepare(&g->cfg, err, errlen)) < 0)
        return rc;
    session_limits(g);
    return 0;
}

int generation_load(const char *dir, unsigned id, struct generation **out, struct cfg_diag *diag)
{
    struct generation *g = xcalloc(1, sizeof(*g));
    char err[ERR_MAX] = "";
    *out = NULL;
    g->id = id;
    int rc = config_load(dir, &g->cfg, diag);
    if (rc < 0) {
        free(g);
        return rc;
    }
    rc = build(g, err, sizeof(err));
    if (rc < 0) {
        char msg[ERR_MAX + 300];
        snprintf(msg, sizeof(msg), "%s: %s", g->cfg.path ? g->cfg.path : "main.cf", err);
        fail(diag, msg);
        generation_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int generation_seal(struct generation *g, struct cfg_diag *diag)
{
    maps_set_placer(NULL); /* maps opened later (tools, refresh) stay on the heap */
    int rc = segment_seal(g->seg);
    if (rc < 0) {
        char msg[ERR_MAX];
        snprintf(msg, sizeof(msg), "%s: policy segment: seal: %s",
                 g->cfg.path ? g->cfg.path : "main.cf", strerror(-rc));
        fail(diag, msg);
        return rc;
    }
    struct segment_stats st;
    segment_stats(g->seg, &st);
    log_info("generation %u: policy segment %zu KiB, %u Hyperscan databases", g->id,
             (st.used + 1023) / 1024, st.databases);
    /* Compiling a big table leaves tens of MiB of freed heap behind
     * (Hyperscan's compiler: 84 MiB for 10,000 header_checks rules), still
     * resident and inherited by every child forked next. What the
     * generation keeps is in the segment; give the rest back. */
    malloc_trim(0);
    return 0;
}

void generation_free(struct generation *g)
{
    if (!g)
        return;
    struct segment_stats st;
    if (g->seg && (segment_stats(g->seg, &st), !st.sealed))
        maps_set_placer(NULL); /* loaded, never sealed: the placer is still ours */
    if (g->policy)
        policy_free(g->policy);
    for (size_t i = 0; i < g->nmaps; i++)
        map_close(g->maps[i]);
    free(g->maps);
    free(g->ehlo_discard_maps);
    if (g->transport)
        transport_free(g->transport);
    if (g->tls)
        tls_server_free(g->tls);
    client_tls_policy_free(g->client_tls);
    if (g->xclient_hosts)
        matchlist_free(g->xclient_hosts);
    if (g->bare_lf_exclusions)
        matchlist_free(g->bare_lf_exclusions);
    free(g->banner);
    config_free(&g->cfg);
    /* Last: the maps' tables and the configuration live in it. */
    segment_free(g->seg);
    free(g);
}
