/*
 * config.c - load DIR/main.cf: parse, apply the parameter table, validate
 * every value after $name expansion (defaults too), fill struct
 * cfg_params for the workers and keep generic access by name for tools.
 *
 * Names: ours (the table) are typed and checked; Postfix's are accepted
 * silently; smtpd_restriction_classes names are restriction lists; any
 * other name is warned about with its file:line but can still be used as
 * $name, as Postfix users do.
 *
 * $name lookup order: main.cf, our default, Postfix's default, undefined
 * (empty). Raw parameters (CFG_F_RAW) are kept unexpanded.
 *
 * Failure: -EINVAL with one error per bad value, e.g.
 *   "DIR/main.cf, line 12: smtpd_error_sleep_time = 20x: expected a time: ..."
 * and "default for NAME: ..." when a default (perhaps through a $name set
 * in main.cf) is bad; -errno when main.cf cannot be read. On failure the
 * configuration is freed.
 */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *lookup(void *ctx, const char *name, size_t len)
{
    const struct config *cfg = ctx;
    const struct cfg_entry *e = cfg_file_find(&cfg->file, name, len);
    if (e)
        return e->value;
    const struct cfg_param_def *d = config_param_find(name, len);
    if (d)
        return config_default(cfg, d);
    const struct cfg_postfix_name *pf = config_postfix_find(name, len);
    return pf ? pf->def : NULL;
}

const char *config_default(const struct config *cfg, const struct cfg_param_def *d)
{
    size_t n;
    const struct cfg_param_def *tab = config_param_table(&n);
    size_t i = (size_t)(d - tab);
    if (cfg->defaults && i < n && cfg->defaults[i])
        return cfg->defaults[i];
    return d->def_fn ? "" : d->def;
}

char *config_expand(const struct config *cfg, const char *value, struct cfg_expand_err *err)
{
    struct strbuf sb;
    strbuf_init(&sb);
    if (cfg_expand(value, strlen(value), lookup, (void *)cfg, &sb, err) < 0) {
        strbuf_free(&sb);
        return NULL;
    }
    strbuf_cstr(&sb);
    return sb.buf;
}

static bool in_list(const struct cfg_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return true;
    return false;
}

int config_get(const struct config *cfg, const char *name, struct cfg_value *out)
{
    memset(out, 0, sizeof(*out));
    out->name = name;
    const struct cfg_entry *e = cfg_file_find(&cfg->file, name, strlen(name));
    const struct cfg_param_def *d = config_param_find(name, strlen(name));
    if (e) {
        out->set = true;
        out->raw = e->value;
        out->line = e->line;
    }
    if (d) {
        size_t n;
        out->kind = CFG_KIND_OURS;
        out->def = d;
        out->expanded = cfg->expanded ? cfg->expanded[d - config_param_table(&n)] : NULL;
        if (!e)
            out->raw = config_default(cfg, d);
        return 0;
    }
    const struct cfg_postfix_name *pf = config_postfix_find(name, strlen(name));
    if (pf) {
        out->kind = CFG_KIND_POSTFIX;
        if (!e)
            out->raw = pf->def;
        return 0;
    }
    if (!e)
        return -ENOENT;
    out->kind = in_list(&cfg->p.smtpd_restriction_classes, name) ? CFG_KIND_CLASS : CFG_KIND_USER;
    return 0;
}

/* Where a value came from, for messages. */
static void where(const struct config *cfg, const char *name, char *buf, size_t cap)
{
    const struct cfg_entry *e = cfg_file_find(&cfg->file, name, strlen(name));
    if (e)
        snprintf(buf, cap, "%s, line %d: %s = %s", cfg->path, e->line, name, e->value);
    else
        snprintf(buf, cap, "default for %s", name);
}

static void field_set(struct config *cfg, size_t i, const struct cfg_param_def *d, const char *raw,
                      const char *v, struct cfg_diag *diag)
{
    char *base = (char *)&cfg->p + d->off;
    char form[256], at[512];
    long num = 0;
    int rc = 0;

    switch (d->type) {
    case CFG_STR:
        memcpy(base, &v, sizeof(v));
        return;
    case CFG_CACHE:
        memcpy(base, &v, sizeof(v));
        if (*v && !cfg_token_is_map(v[0] == '{' ? v + 1 : v))
            rc = -EINVAL;
        break;
    case CFG_BOOL: {
        bool b = false;
        rc = cfg_value_bool(v, &b);
        memcpy(base, &b, sizeof(b));
        break;
    }
    case CFG_INT:
    case CFG_CODE:
        rc = cfg_value_long(v, &num);
        break;
    case CFG_TIME:
        rc = cfg_value_time(v, d->unit, &num);
        break;
    case CFG_SIZE:
        rc = cfg_value_size(v, &num);
        break;
    case CFG_ENUM: {
        int idx = -1;
        for (int k = 0; d->values[k]; k++)
            if (strcasecmp(d->values[k], v) == 0)
                idx = k;
        if (idx < 0)
            rc = -EINVAL;
        memcpy(base, &idx, sizeof(idx));
        break;
    }
    case CFG_LIST:
    case CFG_MATCH:
    case CFG_MAPS:
    case CFG_RESTRICT: {
        struct cfg_list *l = &cfg->lists[i];
        rc = cfg_value_list(v, l);
        if (rc == 0 && d->type == CFG_MAPS)
            for (size_t k = 0; k < l->n; k++)
                if (!cfg_token_is_map(l->v[k]))
                    rc = -EINVAL;
        if (rc == 0)
            memcpy(base, l, sizeof(*l));
        break;
    }
    }
    where(cfg, d->name, at, sizeof(at));
    if (strcmp(raw, v) != 0) {
        size_t o = strlen(at);
        snprintf(at + o, sizeof(at) - o, " (expands to \"%s\")", v);
    }
    if (rc == -ERANGE) {
        cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: number too large", at);
        return;
    }
    if (rc < 0) {
        cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: %s", at, config_type_form(d, form, sizeof(form)));
        return;
    }
    if (d->type == CFG_INT || d->type == CFG_TIME || d->type == CFG_SIZE || d->type == CFG_CODE) {
        bool ok = num >= d->min && (d->max == 0 || num <= d->max);
        if (d->type == CFG_CODE && (d->flags & CFG_F_ACCEPT_250) && num == 250)
            ok = true;
        if (!ok) {
            if (d->type == CFG_CODE)
                cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: %s", at,
                             config_type_form(d, form, sizeof(form)));
            else if (d->max)
                cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: out of range: must be %ld..%ld%s", at,
                             d->min, d->max, d->type == CFG_TIME ? " seconds" : "");
            else
                cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: out of range: must be at least %ld%s", at,
                             d->min, d->type == CFG_TIME ? " seconds" : "");
        }
        memcpy(base, &num, sizeof(num));
    }
}

/* Postfix: an empty *_tls_security_level follows the obsolete booleans. */
static void resolve_tls_levels(struct cfg_params *p)
{
    if (p->smtpd_tls_security_level == TLS_LEV_EMPTY)
        p->smtpd_tls_security_level = p->smtpd_enforce_tls ? TLS_LEV_ENCRYPT
                                      : p->smtpd_use_tls    ? TLS_LEV_MAY
                                                            : TLS_LEV_NONE;
    if (p->postscreen_tls_security_level == TLS_LEV_EMPTY)
        p->postscreen_tls_security_level = p->smtpd_tls_security_level;
    if (p->smtp_tls_security_level == TLS_LEV_EMPTY)
        p->smtp_tls_security_level = p->smtp_enforce_tls
                                         ? (p->smtp_tls_enforce_peername ? TLS_LEV_VERIFY
                                                                         : TLS_LEV_ENCRYPT)
                                     : p->smtp_use_tls ? TLS_LEV_MAY
                                                       : TLS_LEV_NONE;
}

struct ref_scan {
    const char *name;
    bool found;
};

static void ref_cb(void *ctx, const char *name, size_t len)
{
    struct ref_scan *r = ctx;
    if (strlen(r->name) == len && memcmp(r->name, name, len) == 0)
        r->found = true;
}

bool config_is_referenced(const struct config *cfg, const char *name)
{
    struct ref_scan r = {name, false};
    for (size_t i = 0; i < cfg->file.n && !r.found; i++)
        cfg_expand_scan(cfg->file.v[i].value, ref_cb, &r);
    return r.found;
}

static void warn_names(const struct config *cfg, struct cfg_diag *diag)
{
    for (size_t i = 0; i < cfg->file.n; i++) {
        const struct cfg_entry *e = &cfg->file.v[i];
        struct cfg_value v;
        if (config_get(cfg, e->name, &v) < 0 || v.kind != CFG_KIND_USER)
            continue;
        if (config_is_referenced(cfg, e->name))
            cfg_diag_add(diag, CFG_DIAG_WARN,
                         "%s, line %d: %s: not a Postfix or mxscreen parameter; kept for $%s",
                         cfg->path, e->line, e->name, e->name);
        else
            cfg_diag_add(diag, CFG_DIAG_WARN, "%s, line %d: unknown parameter: %s", cfg->path,
                         e->line, e->name);
    }
}

static int apply(struct config *cfg, struct cfg_diag *diag)
{
    size_t n;
    const struct cfg_param_def *tab = config_param_table(&n);
    cfg->defaults = xcalloc(n, sizeof(char *));
    cfg->expanded = xcalloc(n, sizeof(char *));
    cfg->lists = xcalloc(n, sizeof(struct cfg_list));
    /* Computed defaults first: they may look at other values. */
    for (size_t i = 0; i < n; i++) {
        if (!tab[i].def_fn)
            continue;
        struct strbuf sb;
        strbuf_init(&sb);
        tab[i].def_fn(cfg, &sb);
        strbuf_cstr(&sb);
        cfg->defaults[i] = sb.buf;
    }
    for (size_t i = 0; i < n; i++) {
        const struct cfg_param_def *d = &tab[i];
        const struct cfg_entry *e = cfg_file_find(&cfg->file, d->name, strlen(d->name));
        const char *raw = e ? e->value : config_default(cfg, d);
        struct cfg_expand_err err;
        char at[512];
        if (d->flags & CFG_F_RAW) {
            cfg->expanded[i] = xstrdup(raw);
        } else if (!(cfg->expanded[i] = config_expand(cfg, raw, &err))) {
            where(cfg, d->name, at, sizeof(at));
            cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: %s", at, err.msg);
            cfg->expanded[i] = xstrdup("");
            continue;
        } else if (e && err.undef[0]) {
            cfg_diag_add(diag, CFG_DIAG_WARN, "%s, line %d: %s: undefined parameter: %s",
                         cfg->path, e->line, d->name, err.undef);
        }
        field_set(cfg, i, d, raw, cfg->expanded[i], diag);
    }
    resolve_tls_levels(&cfg->p);
    /* Restriction classes are lists too: their syntax is checked here. */
    for (size_t i = 0; i < cfg->p.smtpd_restriction_classes.n; i++) {
        const char *cls = cfg->p.smtpd_restriction_classes.v[i];
        const struct cfg_entry *e = cfg_file_find(&cfg->file, cls, strlen(cls));
        if (!e)
            cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: restriction class %s is not defined",
                         cfg->path, cls);
    }
    return 0;
}

int config_load_buf(const char *dir, const char *buf, size_t len, struct config *cfg,
                    struct cfg_diag *diag)
{
    struct cfg_diag local;
    struct cfg_diag *dg = diag ? diag : &local;
    if (!diag)
        cfg_diag_init(&local);
    int errors0 = dg->errors;
    memset(cfg, 0, sizeof(*cfg));
    cfg->dir_given = dir != NULL;
    cfg->dir = xstrdup(dir ? dir : CFG_DEFAULT_DIR);
    cfg->path = xasprintf("%s/main.cf", cfg->dir);
    int rc = cfg_parse(buf, len, cfg->path, &cfg->file, dg);
    if (!cfg_file_find(&cfg->file, "config_directory", 16)) {
        /* Postfix sets config_directory from -c (postconf -n shows it). */
        if (cfg->file.n == cfg->file.cap) {
            cfg->file.cap = cfg->file.cap ? cfg->file.cap * 2 : 8;
            cfg->file.v = xrealloc(cfg->file.v, cfg->file.cap * sizeof(*cfg->file.v));
        }
        struct cfg_entry *e = &cfg->file.v[cfg->file.n];
        if (cfg->dir_given) {
            e->name = xstrdup("config_directory");
            e->value = xstrdup(cfg->dir);
            e->line = 0;
            cfg->file.n++;
        }
    }
    apply(cfg, dg);
    warn_names(cfg, dg);
    if (rc == 0 && dg->errors > errors0)
        rc = -EINVAL;
    if (!diag) {
        for (size_t i = 0; i < local.n; i++) {
            if (local.v[i].level == CFG_DIAG_ERROR)
                log_error("%s", local.v[i].text);
            else
                log_warn("%s", local.v[i].text);
        }
        cfg_diag_free(&local);
    }
    if (rc < 0)
        config_free(cfg);
    return rc;
}

int config_load(const char *dir, struct config *cfg, struct cfg_diag *diag)
{
    char *path = xasprintf("%s/main.cf", dir ? dir : CFG_DEFAULT_DIR);
    char *buf;
    size_t len;
    int rc = file_read_all(path, &buf, &len);
    if (rc < 0) {
        memset(cfg, 0, sizeof(*cfg));
        if (diag)
            cfg_diag_add(diag, CFG_DIAG_ERROR, "open %s: %s", path, strerror(-rc));
        else
            log_error("open %s: %s", path, strerror(-rc));
        free(path);
        return rc;
    }
    free(path);
    rc = config_load_buf(dir, buf, len, cfg, diag);
    free(buf);
    return rc;
}

void config_free(struct config *cfg)
{
    size_t n;
    if (cfg->placed) { /* the segment's: freed with it */
        memset(cfg, 0, sizeof(*cfg));
        return;
    }
    config_param_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (cfg->defaults)
            free(cfg->defaults[i]);
        if (cfg->expanded)
            free(cfg->expanded[i]);
        if (cfg->lists)
            cfg_list_free(&cfg->lists[i]);
    }
    free(cfg->defaults);
    free(cfg->expanded);
    free(cfg->lists);
    cfg_file_free(&cfg->file);
    free(cfg->dir);
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}

/* Map references in one list value; skip the endpoint after
 * check_policy_service (a socket, not a table). */
static int list_maps(const struct config *cfg, const char *param, int line, const char *value,
                     enum cfg_type type, cfg_map_fn fn, void *ctx)
{
    struct cfg_list l;
    if (cfg_value_list(value, &l) < 0)
        return 0; /* already reported by the load */
    int rc = 0;
    for (size_t k = 0; k < l.n && rc == 0; k++) {
        const char *t = l.v[k];
        if (strcmp(t, "check_policy_service") == 0) {
            k++;
            continue;
        }
        if (type == CFG_MATCH && t[0] == '!')
            t++;
        if (cfg_token_is_map(t) || type == CFG_MAPS)
            rc = fn(ctx, param, line, t);
    }
    (void)cfg;
    cfg_list_free(&l);
    return rc;
}

int config_foreach_map(const struct config *cfg, cfg_map_fn fn, void *ctx)
{
    size_t n;
    const struct cfg_param_def *tab = config_param_table(&n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct cfg_param_def *d = &tab[i];
        if (d->type != CFG_MAPS && d->type != CFG_MATCH && d->type != CFG_RESTRICT)
            continue;
        const struct cfg_entry *e = cfg_file_find(&cfg->file, d->name, strlen(d->name));
        rc = list_maps(cfg, d->name, e ? e->line : 0, cfg->expanded[i], d->type, fn, ctx);
    }
    for (size_t i = 0; i < cfg->p.smtpd_restriction_classes.n && rc == 0; i++) {
        const char *cls = cfg->p.smtpd_restriction_classes.v[i];
        const struct cfg_entry *e = cfg_file_find(&cfg->file, cls, strlen(cls));
        if (!e)
            continue;
        struct cfg_expand_err err;
        char *v = config_expand(cfg, e->value, &err);
        if (v)
            rc = list_maps(cfg, cls, e->line, v, CFG_RESTRICT, fn, ctx);
        free(v);
    }
    return rc;
}
