/*
 * client_tls.c - the next-hop TLS and SASL policy of a generation
 * (client_tls.h): built once by the master from smtp_tls_* and smtp_sasl_*,
 * the level decisions as pure functions, and each process's handle on the
 * shared TLS session cache (shm/tls_scache.h).
 *
 * Failure: client_tls_policy_create() returns -EINVAL with err naming the
 * parameter (a level we cannot honour, an unknown SASL option, a password
 * table that does not open, SASL enabled without a table as Postfix's
 * "specify a password table via the smtp_sasl_password_maps") and leaves
 * nothing allocated.
 */
#include "client_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "maps.h"
#include "tls.h"
#include "tls_scache.h"

static const char *list_text(const struct cfg_list *l, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < l->n && o + 1 < size; i++) {
        int n = snprintf(buf + o, size - o, "%s%s", i ? " " : "", l->v[i]);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    if (o >= size)
        buf[size - 1] = 0;
    return buf;
}

int client_tls_policy_create(const struct config *cfg, struct client_tls_policy **out, char *err,
                             size_t errlen)
{
    const struct cfg_params *p = &cfg->p;
    char text[1024];
    int rc;
    *out = NULL;
    struct client_tls_policy *pol = calloc(1, sizeof(*pol));
    if (!pol)
        return -ENOMEM;
    pol->level = p->smtp_tls_security_level;
    switch (pol->level) {
    case TLS_LEV_DANE:
        /* Postfix without a DNSSEC-validating resolver: no TLSA records
         * can be trusted, and dane behaves as may. */
        log_warn("smtp_tls_security_level = dane: no DNSSEC resolver, using \"may\"");
        pol->level = TLS_LEV_MAY;
        break;
    case TLS_LEV_DANE_ONLY:
    case TLS_LEV_FINGERPRINT:
        snprintf(err, errlen, "smtp_tls_security_level: %s is not supported",
                 pol->level == TLS_LEV_DANE_ONLY ? "dane-only" : "fingerprint");
        free(pol);
        return -EINVAL;
    case TLS_LEV_EMPTY:
        pol->level = TLS_LEV_NONE;
        break;
    default:
        break;
    }
    pol->match = pol->level == TLS_LEV_SECURE ? &p->smtp_tls_secure_cert_match
                                              : &p->smtp_tls_verify_cert_match;
    pol->servername = p->smtp_tls_servername ? p->smtp_tls_servername : "";
    pol->loglevel = (int)p->smtp_tls_loglevel;
    if (p->smtp_tls_session_cache_database && p->smtp_tls_session_cache_database[0]) {
        pol->cache_timeout = p->smtp_tls_session_cache_timeout;
        pol->cache_db = p->smtp_tls_session_cache_database;
    }
    if (pol->level != TLS_LEV_NONE &&
        (rc = tls_client_create(cfg, &pol->ctx, err, errlen)) < 0) {
        free(pol);
        return rc;
    }

    pol->sasl_enable = p->smtp_sasl_auth_enable;
    /* One parameter at a time: the text buffer is reused. */
    list_text(&p->smtp_sasl_security_options, text, sizeof(text));
    rc = sasl_options_parse(text, strlen(text), &pol->sasl_opts, err, errlen);
    if (rc == 0) {
        list_text(&p->smtp_sasl_tls_security_options, text, sizeof(text));
        rc = sasl_options_parse(text, strlen(text), &pol->sasl_tls_opts, err, errlen);
    }
    if (rc == 0) {
        list_text(&p->smtp_sasl_mechanism_filter, text, sizeof(text));
        rc = sasl_filter_parse(text, strlen(text), &pol->mech_filter, err, errlen);
    }
    if (rc < 0) {
        char e[300];
        snprintf(e, sizeof(e), "smtp_sasl_*: %s", err);
        snprintf(err, errlen, "%s", e);
        client_tls_policy_free(pol);
        return rc;
    }
    if (pol->sasl_enable) {
        const struct cfg_list *l = &p->smtp_sasl_password_maps;
        if (l->n == 0) {
            snprintf(err, errlen,
                     "smtp_sasl_auth_enable: specify a password table via the "
                     "`smtp_sasl_password_maps' configuration parameter");
            client_tls_policy_free(pol);
            return -EINVAL;
        }
        pol->pw_maps = calloc(l->n, sizeof(*pol->pw_maps));
        if (!pol->pw_maps) {
            client_tls_policy_free(pol);
            return -ENOMEM;
        }
        for (size_t i = 0; i < l->n; i++) {
            struct map_err merr;
            if ((rc = map_open(l->v[i], 0, &pol->pw_maps[i], &merr)) < 0) {
                snprintf(err, errlen, "smtp_sasl_password_maps: %s", merr.msg);
                client_tls_policy_free(pol);
                return rc;
            }
            pol->npw++;
        }
    }
    *out = pol;
    return 0;
}

void client_tls_policy_free(struct client_tls_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->npw; i++)
        map_close(p->pw_maps[i]);
    free(p->pw_maps);
    tls_client_free(p->ctx);
    free(p);
}

int client_tls_starttls_mode(int level)
{
    switch (level) {
    case TLS_LEV_NONE:
    case TLS_LEV_EMPTY:
        return 0;
    case TLS_LEV_MAY:
    case TLS_LEV_DANE:
        return 1;
    default:
        return 2; /* Postfix's TLS_REQUIRED(): every level above may */
    }
}

enum client_tls_verdict client_tls_judge(int level, int present, int trusted, int matched)
{
    /* smtp_proto.c: TLS_MUST_TRUST, then TLS_MUST_MATCH; below verify
     * (may, encrypt) the certificate is not looked at. */
    if (level < TLS_LEV_VERIFY)
        return CLIENT_TLS_OK;
    if (!present || !trusted)
        return CLIENT_TLS_NOT_TRUSTED;
    if (!matched)
        return CLIENT_TLS_NOT_VERIFIED;
    return CLIENT_TLS_OK;
}

int client_tls_match_name(const char *word, const char *host, const char *nexthop, char *out,
                          size_t size)
{
    int n;
    if (!strcasecmp(word, "hostname"))
        n = snprintf(out, size, "%s", host);
    else if (!strcasecmp(word, "nexthop"))
        n = snprintf(out, size, "%s", nexthop);
    else if (!strcasecmp(word, "dot-nexthop"))
        n = snprintf(out, size, ".%s", nexthop);
    else
        n = snprintf(out, size, "%s", word);
    return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

const char *client_tls_sni(const char *servername, const char *host, const char *nexthop)
{
    if (!servername || !*servername)
        return NULL;
    if (!strcasecmp(servername, "hostname"))
        return host;
    if (!strcasecmp(servername, "nexthop"))
        return nexthop;
    return servername;
}

/* ---- session cache ---------------------------------------------------- */

int client_tls_cache_ready(struct client_tls_cache *c, const struct client_tls_policy *pol)
{
    if (!c || !pol || pol->cache_timeout <= 0 || !pol->cache_db || !pol->cache_db[0] || c->failed)
        return 0;
    if (c->db)
        return 1;
    char err[512];
    int rc = tls_scache_open(pol->cache_db, pol->cache_timeout, &c->db, err, sizeof(err));
    if (rc < 0) {
        /* Postfix's tlsmgr would die and be restarted; here the process
         * goes on with full handshakes rather than stop delivering. */
        log_warn("smtp_tls_session_cache_database: %s; TLS session reuse is off", err);
        c->failed = 1;
        return 0;
    }
    return 1;
}

int client_tls_cache_get(struct client_tls_cache *c, const struct client_tls_policy *pol,
                         const char *key, int64_t now, unsigned char *der, size_t cap,
                         size_t *len)
{
    if (!client_tls_cache_ready(c, pol))
        return 0;
    int rc = tls_scache_lookup(c->db, key, now, der, cap, len);
    if (rc < 0)
        log_warn("%s: TLS session cache lookup for %s: %s", tls_scache_path(c->db), key,
                 strerror(-rc));
    return rc == 1;
}

void client_tls_cache_put(struct client_tls_cache *c, const struct client_tls_policy *pol,
                          const char *key, const void *der, size_t len, int64_t now)
{
    if (!client_tls_cache_ready(c, pol))
        return;
    int rc = tls_scache_update(c->db, key, der, len, now);
    if (rc < 0)
        log_warn("%s: TLS session cache update for %s: %s", tls_scache_path(c->db), key,
                 strerror(-rc));
}

void client_tls_cache_drop(struct client_tls_cache *c, const struct client_tls_policy *pol,
                           const char *key)
{
    if (client_tls_cache_ready(c, pol))
        (void)tls_scache_delete(c->db, key);
}

#define SWEEP_BATCH 64

void client_tls_cache_sweep(struct client_tls_cache *c, const struct client_tls_policy *pol,
                            int64_t now)
{
    if (!client_tls_cache_ready(c, pol))
        return;
    if (!c->sw) {
        c->sw = calloc(1, sizeof(*c->sw));
        if (!c->sw)
            return;
    }
    if (!c->sw->running && now < c->next_pass)
        return;
    int rc = tls_scache_sweep_step(c->db, c->sw, now, SWEEP_BATCH);
    if (rc == 1)
        return;
    c->sw->running = 0;
    c->next_pass = now + pol->cache_timeout;
    if (rc < 0)
        log_warn("%s: TLS session cache cleanup: %s", tls_scache_path(c->db), strerror(-rc));
    else if (pol->loglevel >= 2)
        log_info("%s: TLS session cache cleanup: retained=%u dropped=%u entries",
                 tls_scache_path(c->db), c->sw->retained, c->sw->dropped);
}

void client_tls_cache_close(struct client_tls_cache *c)
{
    if (!c)
        return;
    tls_scache_close(c->db);
    free(c->sw);
    memset(c, 0, sizeof(*c));
}
