/*
 * client_tls.c - the next-hop TLS and SASL policy of a generation
 * (client_tls.h): built once by the master from smtp_tls_* and smtp_sasl_*,
 * the level decisions as pure functions, and the per-process TLS session
 * cache.
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
    if (p->smtp_tls_session_cache_database && p->smtp_tls_session_cache_database[0])
        pol->cache_timeout = p->smtp_tls_session_cache_timeout;
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

void client_tls_cache_put(struct client_tls_cache *c, const char *key, const void *der,
                          size_t len, uint64_t expires_ms)
{
    if (len > CLIENT_TLS_SESSION_MAX || strlen(key) >= sizeof(c->slot[0].key))
        return;
    /* The slot with this key, else the one that expires first. */
    struct client_tls_cache_slot *s = &c->slot[0];
    for (unsigned i = 0; i < CLIENT_TLS_CACHE_SLOTS; i++) {
        struct client_tls_cache_slot *t = &c->slot[i];
        if (t->len && !strcmp(t->key, key)) {
            s = t;
            break;
        }
        if (t->expires_ms < s->expires_ms)
            s = t;
    }
    snprintf(s->key, sizeof(s->key), "%s", key);
    memcpy(s->der, der, len);
    s->len = len;
    s->expires_ms = expires_ms;
}

const struct client_tls_cache_slot *client_tls_cache_get(const struct client_tls_cache *c,
                                                         const char *key, uint64_t now_ms)
{
    for (unsigned i = 0; i < CLIENT_TLS_CACHE_SLOTS; i++) {
        const struct client_tls_cache_slot *s = &c->slot[i];
        if (s->len && s->expires_ms > now_ms && !strcmp(s->key, key))
            return s;
    }
    return NULL;
}

void client_tls_cache_drop(struct client_tls_cache *c, const char *key)
{
    for (unsigned i = 0; i < CLIENT_TLS_CACHE_SLOTS; i++)
        if (c->slot[i].len && !strcmp(c->slot[i].key, key))
            c->slot[i].len = 0, c->slot[i].expires_ms = 0;
}
