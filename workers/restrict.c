/*
 * restrict.c - compiling smtpd restriction lists (see restrict.h).
 *
 * A list is tokenized as Postfix's smtpd_check_parse() splits it (commas
 * and white space, "{...}" groups), each token is looked up in the table of
 * restriction names below (case-insensitively, as generic_checks() does),
 * restrictions that take an argument consume the next token, and every
 * "type:table" is opened once per context (the same table named twice is
 * one struct map). Names from smtpd_restriction_classes compile to a
 * reference to the class's own compiled list.
 *
 * Under a maps.h placer (the master building a generation) the compiled
 * lists move into placer memory, the policy segment (restrict.h).
 *
 * Failure: -EINVAL with "PARAM: unknown restriction: NAME",
 * "PARAM: restriction NAME needs TYPE:NAME" and the like; a table that does
 * not open gives its map_open() error. Nothing is half-built on failure.
 */
#include "restrict.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "dnsbl_site.h"
#include "maps.h"
#include "matchlist.h"
#include "util.h"

/* Argument kinds. */
#define ARG_NONE 0
#define ARG_TABLE 1
#define ARG_DOMAIN 2

static const struct {
    const char *name;
    enum restrict_op op;
    int arg;
} restrict_names[] = {
    {"permit", ROP_PERMIT, ARG_NONE},
    {"reject", ROP_REJECT, ARG_NONE},
    {"defer", ROP_DEFER, ARG_NONE},
    {"warn_if_reject", ROP_WARN_IF_REJECT, ARG_NONE},
    {"defer_if_permit", ROP_DEFER_IF_PERMIT, ARG_NONE},
    {"defer_if_reject", ROP_DEFER_IF_REJECT, ARG_NONE},
    {"permit_mynetworks", ROP_PERMIT_MYNETWORKS, ARG_NONE},
    {"permit_sasl_authenticated", ROP_PERMIT_SASL, ARG_NONE},
    {"permit_tls_clientcerts", ROP_PERMIT_TLS_CERTS, ARG_NONE},
    {"permit_tls_all_clientcerts", ROP_PERMIT_TLS_CERTS, ARG_NONE},
    {"reject_unauth_pipelining", ROP_REJECT_UNAUTH_PIPELINING, ARG_NONE},
    {"reject_unknown_client_hostname", ROP_REJECT_UNKNOWN_CLIENT, ARG_NONE},
    {"reject_unknown_client", ROP_REJECT_UNKNOWN_CLIENT, ARG_NONE},
    {"reject_unknown_reverse_client_hostname", ROP_REJECT_UNKNOWN_REVERSE, ARG_NONE},
    {"check_client_access", ROP_CHECK_CLIENT, ARG_TABLE},
    {"check_helo_access", ROP_CHECK_HELO, ARG_TABLE},
    {"check_sender_access", ROP_CHECK_SENDER, ARG_TABLE},
    {"check_recipient_access", ROP_CHECK_RECIPIENT, ARG_TABLE},
    {"reject_rbl_client", ROP_REJECT_RBL_CLIENT, ARG_DOMAIN},
    {"reject_rbl", ROP_REJECT_RBL_CLIENT, ARG_DOMAIN},
    {"reject_rhsbl_client", ROP_REJECT_RHSBL_CLIENT, ARG_DOMAIN},
    {"reject_rhsbl_helo", ROP_REJECT_RHSBL_HELO, ARG_DOMAIN},
    {"reject_rhsbl_sender", ROP_REJECT_RHSBL_SENDER, ARG_DOMAIN},
    {"reject_rhsbl_recipient", ROP_REJECT_RHSBL_RECIPIENT, ARG_DOMAIN},
    {"reject_invalid_helo_hostname", ROP_REJECT_INVALID_HELO, ARG_NONE},
    {"reject_invalid_hostname", ROP_REJECT_INVALID_HELO, ARG_NONE},
    {"reject_non_fqdn_helo_hostname", ROP_REJECT_NON_FQDN_HELO, ARG_NONE},
    {"reject_non_fqdn_hostname", ROP_REJECT_NON_FQDN_HELO, ARG_NONE},
    {"reject_unknown_helo_hostname", ROP_REJECT_UNKNOWN_HELO, ARG_NONE},
    {"reject_unknown_hostname", ROP_REJECT_UNKNOWN_HELO, ARG_NONE},
    {"reject_non_fqdn_sender", ROP_REJECT_NON_FQDN_SENDER, ARG_NONE},
    {"reject_non_fqdn_recipient", ROP_REJECT_NON_FQDN_RECIPIENT, ARG_NONE},
    {"reject_unknown_sender_domain", ROP_REJECT_UNKNOWN_SENDER_DOMAIN, ARG_NONE},
    {"reject_unknown_address", ROP_REJECT_UNKNOWN_SENDER_DOMAIN, ARG_NONE},
    {"reject_unknown_recipient_domain", ROP_REJECT_UNKNOWN_RECIPIENT_DOMAIN, ARG_NONE},
    {"permit_auth_destination", ROP_PERMIT_AUTH_DESTINATION, ARG_NONE},
    {"reject_unauth_destination", ROP_REJECT_UNAUTH_DESTINATION, ARG_NONE},
    {"defer_unauth_destination", ROP_DEFER_UNAUTH_DESTINATION, ARG_NONE},
    {"reject_unlisted_recipient", ROP_REJECT_UNLISTED_RECIPIENT, ARG_NONE},
    {"check_recipient_maps", ROP_REJECT_UNLISTED_RECIPIENT, ARG_NONE},
    {"reject_unlisted_sender", ROP_REJECT_UNLISTED_SENDER, ARG_NONE},
};

int restrict_op_lookup(const char *name, size_t len, enum restrict_op *op, int *takes_arg)
{
    for (size_t i = 0; i < ARRAY_LEN(restrict_names); i++) {
        if (strlen(restrict_names[i].name) == len
            && strncasecmp(restrict_names[i].name, name, len) == 0) {
            *op = restrict_names[i].op;
            *takes_arg = restrict_names[i].arg != ARG_NONE;
            return 0;
        }
    }
    return -ENOENT;
}

const char *restrict_op_name(enum restrict_op op)
{
    if (op == ROP_DEFAULT_ACL)
        return "type:table";
    if (op == ROP_CLASS)
        return "restriction class";
    for (size_t i = 0; i < ARRAY_LEN(restrict_names); i++)
        if (restrict_names[i].op == op)
            return restrict_names[i].name;
    return "?";
}

static void err_set(struct restrict_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void err_set(struct restrict_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

/* Open a table once per context. */
static int ctx_map(struct restrict_ctx *ctx, const char *ref, struct map **out,
                   struct restrict_err *err, const char *pname)
{
    const char *r = strncmp(ref, "proxy:", 6) == 0 ? ref + 6 : ref;
    for (size_t i = 0; i < ctx->nmaps; i++) {
        if (strcmp(ctx->maps[i]->ref, r) == 0) {
            *out = ctx->maps[i];
            return 0;
        }
    }
    struct map_err merr;
    struct map *m;
    int rc = map_open(ref, 0, &m, &merr);
    if (rc < 0) {
        err_set(err, "%s: %s", pname, merr.msg);
        return rc;
    }
    ctx->maps = xrealloc(ctx->maps, (ctx->nmaps + 1) * sizeof(*ctx->maps));
    ctx->maps[ctx->nmaps++] = m;
    *out = m;
    return 0;
}

static int class_index(const struct restrict_ctx *ctx, const char *name, size_t len)
{
    for (size_t i = 0; i < ctx->nclasses; i++)
        if (strlen(ctx->class_names[i]) == len && strncmp(ctx->class_names[i], name, len) == 0)
            return (int)i;
    return -1;
}

/* One token, with the outer braces of a "{...}" group removed. */
struct tok {
    const char *p;
    size_t len;
};

static int next_tok(const char *text, size_t len, size_t *pos, struct tok *t)
{
    size_t start, tlen;
    if (!matchlist_next_token(text, len, pos, &start, &tlen))
        return 0;
    t->p = text + start;
    t->len = tlen;
    if (t->len >= 2 && t->p[0] == '{' && t->p[t->len - 1] == '}') {
        t->p++;
        t->len -= 2;
        while (t->len && (*t->p == ' ' || *t->p == '\t'))
            t->p++, t->len--;
        t->len = str_trim_len(t->p, t->len);
    }
    return 1;
}

static void item_clear(struct restrict_item *it)
{
    free(it->zone);
    free(it->arg);
}

/* The heap parts of a list (not the struct); nothing for a placed one. */
static void list_clear(struct restrict_list *l)
{
    if (l->placed)
        return; /* the segment's */
    for (size_t i = 0; i < l->n; i++)
        item_clear(&l->v[i]);
    free(l->v);
    free(l->param);
}

void restrict_list_free(struct restrict_list *l)
{
    if (!l)
        return;
    /* A placed list's struct is placed too (restrict_compile). */
    int placed = l->placed;
    list_clear(l);
    if (!placed)
        free(l);
}

static char *pool_put(char **pool, const char *str)
{
    if (!str)
        return NULL;
    size_t n = strlen(str) + 1;
    char *at = memcpy(*pool, str, n);
    *pool += n;
    return at;
}

/*
 * Move the items, their zone/argument strings and the parameter name of a
 * finished heap list into placer memory (one array, one string pool) and
 * free the heap copies. All or nothing: -ENOMEM leaves the list as it was.
 */
static int place_items(struct restrict_list *l)
{
    size_t size = strlen(l->param) + 1;
    for (size_t i = 0; i < l->n; i++)
        size += (l->v[i].zone ? strlen(l->v[i].zone) + 1 : 0) +
                (l->v[i].arg ? strlen(l->v[i].arg) + 1 : 0);
    struct restrict_item *v =
        l->n ? maps_place_alloc(l->n * sizeof(*v), _Alignof(struct restrict_item)) : NULL;
    char *pool = maps_place_alloc(size, 1);
    if (!pool || (l->n && !v))
        return -ENOMEM;
    char *param = pool_put(&pool, l->param);
    for (size_t i = 0; i < l->n; i++) {
        v[i] = l->v[i];
        v[i].zone = pool_put(&pool, l->v[i].zone);
        v[i].arg = pool_put(&pool, l->v[i].arg);
    }
    list_clear(l);
    l->v = v;
    l->param = param;
    l->placed = true;
    return 0;
}

static int compile_domain_arg(struct restrict_item *it, const char *pname, const char *rname,
                              struct tok *a, struct restrict_err *err)
{
    struct dnsbl_site site;
    const char *why = NULL;
    if (memchr(a->p, '*', a->len) || dnsbl_site_parse(a->p, a->len, &site, &why) != DNSBL_SITE_OK) {
        err_set(err, "%s: restriction %s: bad argument \"%.*s\"%s%s", pname, rname, (int)a->len,
                a->p, why ? ": " : "", why ? why : "");
        return -EINVAL;
    }
    it->zone = xstrndup(site.domain, site.domain_len);
    it->arg = xstrndup(a->p, a->len);
    it->has_filter = site.has_filter != 0;
    memcpy(it->filter, site.octet, sizeof(it->filter));
    return 0;
}

/* Compile into *l (zeroed by the caller); on failure *l holds nothing. */
static int compile_into(struct restrict_ctx *ctx, const char *pname, const char *text,
                        size_t len, struct restrict_list *l, struct restrict_err *err)
{
    size_t pos = 0, cap = 0;
    struct tok t;
    int rc = 0;

    l->param = xstrdup(pname);
    if (memchr(text, '\0', len)) {
        err_set(err, "%s: NUL byte in restriction list", pname);
        rc = -EINVAL;
        goto fail;
    }
    while (next_tok(text, len, &pos, &t)) {
        struct restrict_item it;
        enum restrict_op op;
        int takes_arg;
        memset(&it, 0, sizeof(it));
        if (t.len == 0)
            continue;
        if (memchr(t.p, ':', t.len) && t.p[0] != '[') {
            /* Bare table: the stage's check_*_access (Postfix's def_acl). */
            char *ref = xstrndup(t.p, t.len);
            it.op = ROP_DEFAULT_ACL;
            rc = ctx_map(ctx, ref, &it.map, err, pname);
            free(ref);
            if (rc < 0)
                goto fail;
        } else if (restrict_op_lookup(t.p, t.len, &op, &takes_arg) == 0) {
            it.op = (uint8_t)op;
            if (takes_arg) {
                struct tok a;
                char rname[64];
                snprintf(rname, sizeof(rname), "%.*s", (int)(t.len < 60 ? t.len : 60), t.p);
                if (!next_tok(text, len, &pos, &a) || a.len == 0) {
                    err_set(err, "%s: restriction %s needs %s", pname, rname,
                            op >= ROP_CHECK_CLIENT && op <= ROP_CHECK_RECIPIENT
                                ? "maptype:mapname" : "a domain name argument");
                    rc = -EINVAL;
                    goto fail;
                }
                if (op >= ROP_CHECK_CLIENT && op <= ROP_CHECK_RECIPIENT) {
                    if (!memchr(a.p, ':', a.len)) {
                        err_set(err, "%s: restriction %s: bad argument \"%.*s\": need "
                                "maptype:mapname", pname, rname, (int)a.len, a.p);
                        rc = -EINVAL;
                        goto fail;
                    }
                    char *ref = xstrndup(a.p, a.len);
                    rc = ctx_map(ctx, ref, &it.map, err, pname);
                    free(ref);
                    if (rc < 0)
                        goto fail;
                } else if ((rc = compile_domain_arg(&it, pname, rname, &a, err)) < 0) {
                    goto fail;
                }
            }
        } else {
            int ci = class_index(ctx, t.p, t.len);
            if (ci < 0) {
                err_set(err, "%s: unknown restriction: \"%.*s\"", pname, (int)t.len, t.p);
                rc = -EINVAL;
                goto fail;
            }
            it.op = ROP_CLASS;
            it.cls = (uint16_t)ci;
        }
        if (l->n == cap) {
            cap = cap ? cap * 2 : 8;
            l->v = xrealloc(l->v, cap * sizeof(*l->v));
        }
        l->v[l->n++] = it;
    }
    if (maps_placing() && place_items(l) < 0) {
        err_set(err, "%s: policy segment full", pname);
        rc = -ENOMEM;
        goto fail;
    }
    return 0;
fail:
    list_clear(l);
    memset(l, 0, sizeof(*l));
    return rc;
}

int restrict_compile(struct restrict_ctx *ctx, const char *pname, const char *text, size_t len,
                     struct restrict_list **out, struct restrict_err *err)
{
    struct restrict_list *l = xcalloc(1, sizeof(*l));
    *out = NULL;
    int rc = compile_into(ctx, pname, text, len, l, err);
    if (rc == 0 && l->placed) {
        struct restrict_list *c = maps_place_move(l, sizeof(*l));
        if (!c) {
            err_set(err, "%s: policy segment full", pname);
            rc = -ENOMEM; /* the placed parts go with the segment */
        } else {
            l = c;
        }
    }
    if (rc < 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

static const char *cfg_value_of(const struct config *cfg, const char *name, char **owned)
{
    struct cfg_value v;
    *owned = NULL;
    if (config_get(cfg, name, &v) < 0)
        return "";
    if (v.expanded)
        return v.expanded;
    if (!v.raw)
        return "";
    struct cfg_expand_err e;
    *owned = config_expand(cfg, v.raw, &e);
    return *owned ? *owned : "";
}

int restrict_compile_param(struct restrict_ctx *ctx, const struct config *cfg, const char *pname,
                           struct restrict_list **out, struct restrict_err *err)
{
    char *owned;
    const char *val = cfg_value_of(cfg, pname, &owned);
    int rc = restrict_compile(ctx, pname, val, strlen(val), out, err);
    free(owned);
    return rc;
}

static int open_maps_param(struct restrict_ctx *ctx, const struct config *cfg, const char *pname,
                           struct map ***v, size_t *n, struct restrict_err *err)
{
    char *owned;
    const char *val = cfg_value_of(cfg, pname, &owned);
    size_t pos = 0, len = strlen(val);
    struct tok t;
    int rc = 0;
    while (rc == 0 && next_tok(val, len, &pos, &t)) {
        char *ref = xstrndup(t.p, t.len);
        struct map *m;
        rc = ctx_map(ctx, ref, &m, err, pname);
        free(ref);
        if (rc == 0) {
            *v = xrealloc(*v, (*n + 1) * sizeof(**v));
            (*v)[(*n)++] = m;
        }
    }
    free(owned);
    return rc;
}

static int compile_matchlist(const struct config *cfg, const char *pname, enum matchlist_kind k,
                             struct matchlist **out, struct restrict_err *err)
{
    char *owned, *pdms_owned;
    const char *val = cfg_value_of(cfg, pname, &owned);
    const char *pdms = cfg_value_of(cfg, "parent_domain_matches_subdomains", &pdms_owned);
    struct matchlist_err merr;
    unsigned flags = matchlist_parent_style(pdms, pname) ? MATCHLIST_PARENT : 0;
    int rc = matchlist_compile(pname, k, flags, val, out, &merr);
    if (rc < 0)
        err_set(err, "%s", merr.msg);
    free(owned);
    free(pdms_owned);
    return rc;
}

static char *dup_param(const struct config *cfg, const char *name)
{
    char *owned;
    const char *v = cfg_value_of(cfg, name, &owned);
    return owned ? owned : xstrdup(v);
}

int restrict_ctx_create(const struct config *cfg, struct restrict_ctx **out,
                        struct restrict_err *err)
{
    struct restrict_ctx *ctx = xcalloc(1, sizeof(*ctx));
    const struct cfg_params *p = &cfg->p;
    int rc;

    *out = NULL;
    ctx->access_map_reject_code = p->access_map_reject_code;
    ctx->access_map_defer_code = p->access_map_defer_code;
    ctx->defer_code = p->defer_code;
    ctx->reject_code = p->reject_code;
    ctx->invalid_hostname_reject_code = p->invalid_hostname_reject_code;
    ctx->maps_rbl_reject_code = p->maps_rbl_reject_code;
    ctx->non_fqdn_reject_code = p->non_fqdn_reject_code;
    ctx->relay_domains_reject_code = p->relay_domains_reject_code;
    ctx->unknown_address_reject_code = p->unknown_address_reject_code;
    ctx->unknown_client_reject_code = p->unknown_client_reject_code;
    ctx->unknown_hostname_reject_code = p->unknown_hostname_reject_code;
    ctx->unknown_relay_recipient_reject_code = p->unknown_relay_recipient_reject_code;
    ctx->allow_untrusted_routing = p->allow_untrusted_routing;
    ctx->show_user_unknown_table_name = p->show_user_unknown_table_name;
    ctx->reject_unlisted_sender = p->smtpd_reject_unlisted_sender;
    ctx->reject_unlisted_recipient = p->smtpd_reject_unlisted_recipient;
    {
        /* reject_tempfail_action (Postfix 3.0+): defer_if_permit or defer. */
        char *a = dup_param(cfg, "reject_tempfail_action");
        ctx->tempfail_defer_if_permit = strcasecmp(a, "defer") != 0;
        free(a);
    }
    ctx->percent_hack = p->allow_percent_hack;
    ctx->swap_bangpath = p->swap_bangpath;
    ctx->myorigin = dup_param(cfg, "myorigin");
    ctx->myhostname = dup_param(cfg, "myhostname");
    ctx->default_rbl_reply = p->default_rbl_reply ? xstrdup(p->default_rbl_reply)
                                                  : dup_param(cfg, "default_rbl_reply");
    ctx->recipient_delimiter = xstrdup(p->recipient_delimiter ? p->recipient_delimiter : "");
    ctx->null_access_key =
        xstrdup(p->smtpd_null_access_lookup_key ? p->smtpd_null_access_lookup_key : "<>");
    {
        char *pdms = dup_param(cfg, "parent_domain_matches_subdomains");
        ctx->parent_access = matchlist_parent_style(pdms, "smtpd_access_maps");
        free(pdms);
    }
    if ((rc = compile_matchlist(cfg, "mynetworks", MATCHLIST_NAMADR, &ctx->mynetworks, err)) < 0
        || (rc = compile_matchlist(cfg, "relay_domains", MATCHLIST_DOMAIN, &ctx->relay_domains,
                                   err)) < 0
        || (rc = compile_matchlist(cfg, "mydestination", MATCHLIST_DOMAIN, &ctx->mydestination,
                                   err)) < 0
        || (rc = open_maps_param(ctx, cfg, "relay_recipient_maps", &ctx->relay_rcpt_maps,
                                 &ctx->n_relay_rcpt_maps, err)) < 0
        || (rc = open_maps_param(ctx, cfg, "rbl_reply_maps", &ctx->rbl_reply_maps,
                                 &ctx->n_rbl_reply_maps, err)) < 0)
        goto fail;

    /* Classes: every name first, so that classes may name each other. */
    ctx->nclasses = p->smtpd_restriction_classes.n;
    ctx->class_names = xcalloc(ctx->nclasses + 1, sizeof(char *));
    ctx->classes = xcalloc(ctx->nclasses + 1, sizeof(struct restrict_list));
    for (size_t i = 0; i < ctx->nclasses; i++)
        ctx->class_names[i] = xstrdup(p->smtpd_restriction_classes.v[i]);
    for (size_t i = 0; i < ctx->nclasses; i++) {
        char *owned;
        const char *val = cfg_value_of(cfg, ctx->class_names[i], &owned);
        if (*val == 0) {
            err_set(err, "smtpd_restriction_classes: restriction class `%s' needs a definition",
                    ctx->class_names[i]);
            free(owned);
            rc = -EINVAL;
            goto fail;
        }
        rc = compile_into(ctx, ctx->class_names[i], val, strlen(val), &ctx->classes[i], err);
        free(owned);
        if (rc < 0)
            goto fail;
    }
    *out = ctx;
    return 0;
fail:
    restrict_ctx_free(ctx);
    return rc;
}

void restrict_ctx_set_transport(struct restrict_ctx *ctx, restrict_transport_fn fn, void *arg)
{
    ctx->transport = fn;
    ctx->transport_arg = arg;
}

void restrict_ctx_free(struct restrict_ctx *ctx)
{
    if (!ctx)
        return;
    for (size_t i = 0; i < ctx->nclasses; i++) {
        list_clear(&ctx->classes[i]);
        free(ctx->class_names[i]);
    }
    free(ctx->classes);
    free(ctx->class_names);
    for (size_t i = 0; i < ctx->nmaps; i++)
        map_close(ctx->maps[i]);
    free(ctx->maps);
    free(ctx->relay_rcpt_maps);
    free(ctx->rbl_reply_maps);
    matchlist_free(ctx->mynetworks);
    matchlist_free(ctx->relay_domains);
    matchlist_free(ctx->mydestination);
    free(ctx->myorigin);
    free(ctx->myhostname);
    free(ctx->default_rbl_reply);
    free(ctx->recipient_delimiter);
    free(ctx->null_access_key);
    free(ctx);
}
