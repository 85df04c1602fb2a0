/*
 * access_list.c - postscreen_access_list (see access_list.h).
 *
 * Words are compared case-insensitively, separators are ", \t\r" as
 * Postfix's PSC_ACL_SEPARATORS (and \n, which a table value never has).
 *
 * Failure: load returns -errno with the reason in diag; evaluation never
 * fails, it answers FE_ACL_ERROR after a warning.
 */
#include "access_list.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "maps.h"
#include "matchlist.h"
#include "util.h"

enum item_kind { IT_PERMIT, IT_REJECT, IT_DUNNO, IT_MYNETWORKS, IT_TABLE, IT_UNKNOWN };

struct item {
    enum item_kind kind;
    char *text;
    struct map *map;
};

struct fe_acl {
    struct item *v;
    size_t n;
    struct matchlist *mynetworks;
};

static bool word_is(const char *w, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(w, name, len) == 0;
}

static enum item_kind classify(const char *w, size_t len)
{
    if (word_is(w, len, "permit"))
        return IT_PERMIT;
    if (word_is(w, len, "reject"))
        return IT_REJECT;
    if (word_is(w, len, "dunno"))
        return IT_DUNNO;
    if (word_is(w, len, "permit_mynetworks"))
        return IT_MYNETWORKS;
    if (memchr(w, ':', len))
        return IT_TABLE;
    return IT_UNKNOWN;
}

static bool is_sep(char ch)
{
    return ch == ',' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

enum fe_acl_result fe_acl_value(const char *val, size_t len, const char *origin, int mynet)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && is_sep(val[i]))
            i++;
        if (i == len)
            break;
        size_t s = i;
        while (i < len && !is_sep(val[i]))
            i++;
        const char *w = val + s;
        size_t wl = i - s;
        switch (classify(w, wl)) {
        case IT_PERMIT: return FE_ACL_PERMIT;
        case IT_REJECT: return FE_ACL_REJECT;
        case IT_DUNNO: return FE_ACL_DUNNO;
        case IT_TABLE:
            log_warn("table %s: lookup result \"%.*s\" is not allowed"
                     " -- ignoring remainder of access list",
                     origin, (int)(wl > 200 ? 200 : wl), w);
            return FE_ACL_DUNNO;
        case IT_MYNETWORKS:
            if (mynet > 0)
                return FE_ACL_PERMIT;
            if (mynet < 0)
                return FE_ACL_ERROR;
            break;
        case IT_UNKNOWN:
            log_warn("%s: unknown command: %.*s -- ignoring the remainder of this access list",
                     origin, (int)(wl > 200 ? 200 : wl), w);
            return FE_ACL_ERROR;
        }
    }
    return FE_ACL_DUNNO;
}

void fe_acl_free(struct fe_acl *acl)
{
    if (!acl)
        return;
    for (size_t i = 0; i < acl->n; i++) {
        if (acl->v[i].map)
            map_close(acl->v[i].map);
        free(acl->v[i].text);
    }
    free(acl->v);
    if (acl->mynetworks)
        matchlist_free(acl->mynetworks);
    free(acl);
}

static const char *value_of(const struct config *cfg, const char *name)
{
    struct cfg_value v;
    if (config_get(cfg, name, &v) < 0)
        return "";
    return v.expanded ? v.expanded : v.raw ? v.raw : "";
}

int fe_acl_load(const struct config *cfg, struct fe_acl **out, struct cfg_diag *diag)
{
    const struct cfg_list *l = &cfg->p.postscreen_access_list;
    *out = NULL;
    if (l->n == 0)
        return 0;
    struct fe_acl *acl = xcalloc(1, sizeof(*acl));
    acl->v = xcalloc(l->n, sizeof(*acl->v));
    for (size_t i = 0; i < l->n; i++) {
        struct item *it = &acl->v[acl->n++];
        it->text = xstrdup(l->v[i]);
        it->kind = classify(it->text, strlen(it->text));
        if (it->kind == IT_TABLE) {
            struct map_err err;
            int r = map_open(it->text, 0, &it->map, &err);
            if (r < 0) {
                cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: postscreen_access_list: %s: %s",
                             cfg->path, it->text, err.msg);
                fe_acl_free(acl);
                return r;
            }
        } else if (it->kind == IT_UNKNOWN) {
            cfg_diag_add(diag, CFG_DIAG_WARN,
                         "%s: postscreen_access_list: unknown command: %s -- the remainder of "
                         "the list is ignored when it is reached",
                         cfg->path, it->text);
        }
    }
    /* Table values may say permit_mynetworks too. */
    {
        struct matchlist_err merr;
        int r = matchlist_compile("mynetworks", MATCHLIST_ADDR, 0, value_of(cfg, "mynetworks"),
                                  &acl->mynetworks, &merr);
        if (r < 0) {
            cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: mynetworks: %s", cfg->path, merr.msg);
            fe_acl_free(acl);
            return r;
        }
    }
    *out = acl;
    return 0;
}

static int mynet(const struct fe_acl *acl, const char *addr)
{
    return matchlist_match_addr(acl->mynetworks, addr);
}

enum fe_acl_result fe_acl_eval(const struct fe_acl *acl, const char *addr)
{
    static char vbuf[4096]; /* one evaluation at a time */
    struct map_value val = {vbuf, sizeof(vbuf), 0};
    for (size_t i = 0; acl && i < acl->n; i++) {
        const struct item *it = &acl->v[i];
        switch (it->kind) {
        case IT_PERMIT: return FE_ACL_PERMIT;
        case IT_REJECT: return FE_ACL_REJECT;
        case IT_DUNNO: return FE_ACL_DUNNO;
        case IT_MYNETWORKS: {
            int r = mynet(acl, addr);
            if (r > 0)
                return FE_ACL_PERMIT;
            if (r < 0) {
                log_warn("mynetworks: table lookup error -- ignoring the remainder of this "
                         "access list");
                return FE_ACL_ERROR;
            }
            break;
        }
        case IT_TABLE: {
            int r = map_lookup_str(it->map, addr, &val);
            if (r > 0) {
                enum fe_acl_result v =
                    fe_acl_value(val.buf, val.len, it->text, mynet(acl, addr));
                if (v != FE_ACL_DUNNO)
                    return v;
            } else if (r < 0) {
                log_warn("%s: table lookup error -- ignoring the remainder of this access list",
                         it->text);
                return FE_ACL_ERROR;
            }
            break;
        }
        case IT_UNKNOWN:
            log_warn("postscreen_access_list: unknown command: %s -- ignoring the remainder of "
                     "this access list",
                     it->text);
            return FE_ACL_ERROR;
        }
    }
    return FE_ACL_DUNNO;
}
