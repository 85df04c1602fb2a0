/*
 * client_tls_link.c - one next-hop connection with STARTTLS, certificate
 * checks and AUTH around the caller's SMTP client (client_tls.h).
 *
 * Byte paths: before STARTTLS, socket bytes go straight to the SMTP client
 * (or, during AUTH, to our own reply buffer); after the 220 to STARTTLS a
 * TLS engine sits in between, and the SMTP client's output (or our AUTH
 * line) is encrypted on its way out. During AUTH the SMTP client is READY
 * with the caller's MAIL already queued, so its output is held back until
 * the server said 235: no command but ours reaches an unauthenticated
 * session.
 *
 * The link fails a connection by failing the SMTP client
 * (smtp_client_io_error()), so every queued command still gets exactly one
 * (fake) reply; the reason, in Postfix's words, is in client_link_why().
 */
#include "client_tls.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "log.h"
#include "maps.h"
#include "tls.h"

static void link_fail(struct client_link *l, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void link_fail(struct client_link *l, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    if (l->failed)
        return;
    l->failed = 1;
    snprintf(l->dsn, sizeof(l->dsn), "%s", dsn);
    va_start(ap, fmt);
    vsnprintf(l->why, sizeof(l->why), fmt, ap);
    va_end(ap);
    smtp_client_io_error(l->cl);
}

void client_link_init(struct client_link *l, struct smtp_client *cl,
                      const struct smtp_client_opts *opts, const struct client_tls_policy *pol,
                      struct client_tls_cache *cache, const struct client_link_peer *peer)
{
    memset(l, 0, sizeof(*l));
    l->cl = cl;
    l->pol = pol;
    l->cache = cache;
    snprintf(l->host, sizeof(l->host), "%s", peer->host ? peer->host : "");
    snprintf(l->addr, sizeof(l->addr), "%s", peer->addr ? peer->addr : "");
    snprintf(l->nexthop, sizeof(l->nexthop), "%s", peer->nexthop ? peer->nexthop : l->host);
    snprintf(l->dest, sizeof(l->dest), "%s", peer->dest ? peer->dest : l->nexthop);
    l->port = peer->port;
    snprintf(l->namaddr, sizeof(l->namaddr), "%s[%s]:%u", l->host, l->addr, l->port);
    snprintf(l->server, sizeof(l->server), "%s[%s]", l->host, l->addr);
    struct smtp_client_opts o = *opts;
    o.starttls = pol && pol->ctx ? client_tls_starttls_mode(pol->level) : 0;
    smtp_client_init(cl, &o);
}

void client_link_free(struct client_link *l)
{
    tls_conn_free(l->tls);
    l->tls = NULL;
    sasl_client_clear(&l->sasl);
}

int client_link_tls_active(const struct client_link *l)
{
    return l->tls && !l->handshaking;
}

const char *client_link_why(const struct client_link *l, const char **dsn)
{
    if (!l->failed)
        return NULL;
    if (dsn)
        *dsn = l->dsn;
    return l->why;
}

/* ---- TLS -------------------------------------------------------------- */

/* Postfix's tls_log_verify_error() for a server certificate. */
static void log_verify_error(struct client_link *l)
{
    long err = tls_conn_verify_result(l->tls);
    switch (err) {
    case X509_V_OK:
        return;
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        log_info("certificate verification failed for %s: self-signed certificate", l->namaddr);
        return;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        log_info("certificate verification failed for %s: untrusted issuer %s", l->namaddr,
                 tls_conn_issuer_cn(l->tls));
        return;
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
        log_info("server certificate verification failed for %s: certificate not yet valid",
                 l->namaddr);
        return;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
        log_info("server certificate verification failed for %s: certificate has expired",
                 l->namaddr);
        return;
    default:
        log_info("server certificate verification failed for %s: num=%ld:%s", l->namaddr, err,
                 X509_verify_cert_error_string(err));
    }
}

/* The level's name check: any word of the match list names the cert. */
static int names_match(struct client_link *l)
{
    const struct cfg_list *m = l->pol->match;
    char name[300];
    for (size_t i = 0; m && i < m->n; i++)
        if (client_tls_match_name(m->v[i], l->host, l->nexthop, name, sizeof(name)) == 0 &&
            tls_conn_peer_matches(l->tls, name))
            return 1;
    return 0;
}

static void handshake_done(struct client_link *l)
{
    int level = l->pol->level;
    int present = strcmp(tls_conn_peer_status(l->tls), "Anonymous") != 0;
    int trusted = present && tls_conn_verify_result(l->tls) == X509_V_OK;
    int matched = trusted && level >= TLS_LEV_VERIFY && names_match(l);
    if (matched)
        tls_conn_set_matched(l->tls);
    if (level >= TLS_LEV_VERIFY) {
        if (present && !trusted)
            log_verify_error(l);
        else if (trusted && !matched)
            log_info("server certificate verification failed for %s: num=%d:%s", l->namaddr,
                     X509_V_ERR_HOSTNAME_MISMATCH,
                     X509_verify_cert_error_string(X509_V_ERR_HOSTNAME_MISMATCH));
    }
    if (l->pol->loglevel >= 1)
        tls_conn_log_summary(l->tls, l->namaddr);
    switch (client_tls_judge(level, present, trusted, matched)) {
    case CLIENT_TLS_NOT_TRUSTED:
        link_fail(l, "4.7.5", "Server certificate not trusted");
        return;
    case CLIENT_TLS_NOT_VERIFIED:
        link_fail(l, "4.7.5", "Server certificate not verified");
        return;
    case CLIENT_TLS_OK:
        break;
    }
    smtp_client_tls_done(l->cl);
}

static void handshake_step(struct client_link *l)
{
    int r = tls_conn_handshake(l->tls);
    if (r == 0)
        return;
    l->handshaking = 0;
    if (r < 0) {
        tls_conn_log_error(l->tls, l->namaddr, 0);
        if (l->cache && l->cache_key[0])
            client_tls_cache_drop(l->cache, l->pol, l->cache_key);
        link_fail(l, "4.7.5", "Cannot start TLS: handshake failure");
        return;
    }
    handshake_done(l);
}

static void start_tls(struct client_link *l)
{
    const char *sni = client_tls_sni(l->pol->servername, l->host, l->nexthop);
    l->tls = tls_conn_client(l->pol->ctx, sni);
    if (!l->tls) {
        link_fail(l, "4.7.5", "Cannot start TLS: handshake failure");
        return;
    }
    l->handshaking = 1;
    if (l->cache && l->pol->cache_timeout > 0) {
        /* Postfix's serverid: the server and what we asked of it. */
        snprintf(l->cache_key, sizeof(l->cache_key), "%s:%s:%u:%s:%d", l->host, l->addr,
                 l->port, sni ? sni : "", l->pol->level);
        unsigned char der[CLIENT_TLS_SESSION_MAX];
        size_t len;
        if (client_tls_cache_get(l->cache, l->pol, l->cache_key, (int64_t)time(NULL), der,
                                 sizeof(der), &len))
            tls_conn_session_load(l->tls, der, len);
    }
    handshake_step(l);
}

static void save_session(struct client_link *l)
{
    unsigned char der[CLIENT_TLS_SESSION_MAX];
    size_t len;
    if (!l->cache || !l->cache_key[0] || tls_conn_reused(l->tls))
        return;
    if (tls_conn_session_save(l->tls, der, sizeof(der), &len) == 0)
        client_tls_cache_put(l->cache, l->pol, l->cache_key, der, len, (int64_t)time(NULL));
}

/* ---- input ------------------------------------------------------------ */

static size_t auth_in(struct client_link *l, const char *buf, size_t len)
{
    size_t room = sizeof(l->ain) - l->ain_len;
    if (len > room)
        len = room;
    memcpy(l->ain + l->ain_len, buf, len);
    l->ain_len += len;
    return len;
}

/* Plaintext from TLS to its reader, as far as it has room. */
static void deliver_plain(struct client_link *l)
{
    while (l->pin_len > 0) {
        size_t n = l->phase == LINK_AUTH
                       ? auth_in(l, l->pin + l->pin_off, l->pin_len)
                       : smtp_client_feed(l->cl, l->pin + l->pin_off, l->pin_len);
        if (n == 0)
            return;
        l->pin_off += n;
        l->pin_len -= n;
    }
    l->pin_off = 0;
}

static void pump_tls_in(struct client_link *l)
{
    if (!l->tls)
        return;
    if (l->handshaking) {
        handshake_step(l);
        if (l->handshaking || l->failed)
            return;
    }
    for (;;) {
        deliver_plain(l);
        if (l->pin_len > 0 || l->failed)
            return;
        long r = tls_conn_read(l->tls, l->pin, sizeof(l->pin));
        if (r > 0) {
            l->pin_off = 0;
            l->pin_len = (size_t)r;
            continue;
        }
        if (r == -ECONNRESET)
            smtp_client_input_eof(l->cl);
        else if (r < 0)
            smtp_client_io_error(l->cl);
        return;
    }
}

size_t client_link_input(struct client_link *l, const char *buf, size_t len)
{
    if (l->tls) {
        size_t n = tls_conn_cipher_in(l->tls, buf, len);
        pump_tls_in(l);
        return n;
    }
    if (l->phase == LINK_AUTH)
        return auth_in(l, buf, len);
    return smtp_client_feed(l->cl, buf, len);
}

/* ---- output ----------------------------------------------------------- */

/* Plaintext waiting to go out: our AUTH line, or the SMTP client's. */
static size_t plain_pending(struct client_link *l, const char **p)
{
    if (l->phase == LINK_AUTH) {
        *p = l->aout + l->aout_off;
        return l->aout_len - l->aout_off;
    }
    return smtp_client_output(l->cl, p);
}

static void plain_done(struct client_link *l, size_t n)
{
    if (l->phase == LINK_AUTH)
        l->aout_off += n;
    else
        smtp_client_output_done(l->cl, n);
}

size_t client_link_output(struct client_link *l, char *buf, size_t cap)
{
    const char *p;
    size_t m;
    if (!l->tls) {
        m = plain_pending(l, &p);
        if (m > cap)
            m = cap;
        memcpy(buf, p, m);
        plain_done(l, m);
        return m;
    }
    size_t n = 0;
    for (;;) {
        n += tls_conn_cipher_out(l->tls, buf + n, cap - n);
        if (n == cap || l->handshaking || l->failed)
            break;
        if ((m = plain_pending(l, &p)) == 0)
            break;
        long w = tls_conn_write(l->tls, p, m);
        if (w < 0) {
            smtp_client_io_error(l->cl);
            break;
        }
        if (w == 0)
            break;
        plain_done(l, (size_t)w);
    }
    return n;
}

/* ---- AUTH ------------------------------------------------------------- */

/* smtp_sasl_passwd_lookup(): the server's name, then the next hop as
 * written; keys folded to lower case as Postfix's DICT_FLAG_FOLD_FIX. */
static int passwd_lookup(struct client_link *l, char *user, char *pass)
{
    const char *keys[2] = {l->host, l->dest};
    char key[300], vbuf[2 * SASL_CRED_MAX + 2];
    struct map_value v = {.buf = vbuf, .cap = sizeof(vbuf)};
    for (int k = 0; k < 2; k++) {
        snprintf(key, sizeof(key), "%s", keys[k]);
        for (char *q = key; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        for (size_t i = 0; i < l->pol->npw; i++) {
            int rc = map_lookup_str(l->pol->pw_maps[i], key, &v);
            if (rc < 0) {
                log_warn("smtp_sasl_password_maps lookup error for \"%s\"", key);
                return -EAGAIN;
            }
            if (rc == 1) {
                if (sasl_passwd_parse(v.buf, v.len, user, pass) < 0) {
                    log_warn("smtp_sasl_password_maps: malformed value for \"%s\"", key);
                    return 0;
                }
                return 1;
            }
        }
    }
    return 0;
}

/* After the (last) EHLO: 1 when AUTH started or the link failed, 0 when
 * the session goes on without AUTH. */
static int start_auth(struct client_link *l)
{
    const struct smtp_ehlo *e = smtp_client_ehlo(l->cl);
    char user[SASL_CRED_MAX], pass[SASL_CRED_MAX];
    if (!l->pol || !l->pol->sasl_enable || l->sasl_tried || !(e->ext & SMTP_EXT_AUTH))
        return 0;
    l->sasl_tried = 1;
    int rc = passwd_lookup(l, user, pass);
    if (rc < 0) {
        link_fail(l, "4.3.0", "SASL authentication failed; password table lookup error");
        return 1;
    }
    if (rc == 0)
        return 0; /* "talk to each other like strangers" */
    unsigned offered = e->auth & SASL_MECH_ALL;
    unsigned filtered = offered & l->pol->mech_filter;
    int tls = client_link_tls_active(l);
    unsigned usable =
        sasl_mechs_usable(filtered, SASL_MECH_ALL, tls ? l->pol->sasl_tls_opts : l->pol->sasl_opts);
    if (!filtered) {
        link_fail(l, "4.7.0",
                  "SASL authentication failed: server %s offered no compatible authentication "
                  "mechanisms for this type of connection security",
                  l->server);
    } else if (!usable) {
        /* The security options exclude every mechanism offered: nothing,
         * credentials least of all, is sent. */
        sasl_client_fail(&l->sasl, l->server, "no mechanism available");
        link_fail(l, l->sasl.dsn, "%s", l->sasl.why);
    } else if (sasl_client_start(&l->sasl, sasl_mech_pick(usable), user, pass, l->server,
                                 l->aout, &l->aout_len) < 0) {
        sasl_client_fail(&l->sasl, l->server, "credentials too long");
        link_fail(l, l->sasl.dsn, "%s", l->sasl.why);
    } else {
        l->aout_off = 0;
        l->ain_len = 0;
        smtp_reply_reset(&l->arp);
        l->phase = LINK_AUTH;
    }
    memset(user, 0, sizeof(user));
    memset(pass, 0, sizeof(pass));
    return 1;
}

/* One step of the AUTH exchange: 1 when something happened, 0 when it
 * waits for the server. */
static int auth_progress(struct client_link *l)
{
    const char *why = NULL;
    enum smtp_reply_result r = smtp_reply_parse(l->ain, l->ain_len, &l->arp, &why);
    if (r == SMTP_REPLY_NEED_MORE) {
        if (l->ain_len < sizeof(l->ain))
            return 0;
        why = "reply too long";
        r = SMTP_REPLY_BAD;
    }
    if (r == SMTP_REPLY_BAD) {
        sasl_client_fail(&l->sasl, l->server, why ? why : "malformed reply");
        link_fail(l, l->sasl.dsn, "%s", l->sasl.why);
        l->phase = LINK_OPEN;
        return 1;
    }
    size_t n = l->arp.len;
    size_t outlen;
    enum sasl_step st = sasl_client_step(&l->sasl, l->ain, n, l->arp.code, l->aout, &outlen);
    memmove(l->ain, l->ain + n, l->ain_len - n);
    l->ain_len -= n;
    smtp_reply_reset(&l->arp);
    switch (st) {
    case SASL_STEP_SEND:
        l->aout_off = 0;
        l->aout_len = outlen;
        return 1;
    case SASL_STEP_DONE:
        sasl_client_clear(&l->sasl);
        l->phase = LINK_OPEN;
        /* Anything the server sent after 235 is the SMTP client's. */
        if (l->ain_len)
            smtp_client_feed(l->cl, l->ain, l->ain_len);
        l->ain_len = 0;
        return 1;
    case SASL_STEP_FAILED:
        sasl_client_clear(&l->sasl);
        l->phase = LINK_OPEN;
        link_fail(l, l->sasl.dsn, "%s", l->sasl.why);
        return 1;
    }
    return 1;
}

/* ---- events ----------------------------------------------------------- */

int client_link_event(struct client_link *l, struct smtp_client_event *ev)
{
    for (;;) {
        pump_tls_in(l);
        if (l->phase == LINK_AUTH) {
            if (auth_progress(l))
                continue;
            /* Waiting for the server, unless it is gone. */
            if (!l->cl->eof && l->cl->state != SMTP_CLIENT_FAILED)
                return 0;
            l->phase = LINK_OPEN;
        }
        if (!smtp_client_event(l->cl, ev))
            return 0;
        switch (ev->type) {
        case SMTP_EV_STARTTLS:
            start_tls(l);
            continue;
        case SMTP_EV_READY:
            if (client_link_tls_active(l))
                save_session(l);
            if (start_auth(l))
                continue;
            l->phase = LINK_OPEN;
            return 1;
        case SMTP_EV_DOWN:
            if (!l->failed && l->cl->why) {
                /* The SMTP client's own refusals, in Postfix's words. */
                if (!strcmp(l->cl->why, "STARTTLS not offered")) {
                    l->failed = 1;
                    snprintf(l->dsn, sizeof(l->dsn), "4.7.4");
                    snprintf(l->why, sizeof(l->why),
                             "TLS is required, but was not offered by host %s", l->server);
                } else if (!strcmp(l->cl->why, "STARTTLS refused")) {
                    l->failed = 1;
                    snprintf(l->dsn, sizeof(l->dsn), "4.7.4");
                    snprintf(l->why, sizeof(l->why),
                             "TLS is required, but host %s refused to start TLS: %s", l->server,
                             ev->reply ? ev->reply : "");
                }
            }
            if (l->failed)
                ev->why = l->why;
            return 1;
        default:
            return 1;
        }
    }
}

void client_link_set_clock(struct client_link *l, uint64_t now_ms)
{
    l->now_ms = now_ms;
}
