/*
 * tls_conn.c - one TLS connection as a sans-I/O engine: ciphertext goes in
 * and out through two OpenSSL memory BIOs that the caller fills and
 * drains; plaintext through tls_conn_read()/tls_conn_write(). After the
 * handshake the negotiated facts are kept as Postfix's TLS_SESS_STATE
 * keeps them (tls_server_post_accept(), tls_get_signature_params()) for
 * the summary log line and the Received: header.
 *
 * Memory: the SSL object (record buffers released between records) and
 * two memory BIOs; a BIO whose buffer grew past BIO_KEEP bytes for one big
 * burst is replaced by an empty one once drained, so an idle connection
 * goes back to a few KiB. Strings are OpenSSL's static names, except the
 * peer certificate's CN and issuer CN (allocated only when present).
 *
 * Failure: -EPROTO with the OpenSSL error queue saved as text for
 * tls_conn_error() and tls_conn_log_error(); allocation failure in
 * tls_conn_new() returns NULL.
 */
#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls_int.h"

#define BIO_KEEP 4096

struct sig {
    const char *name, *curve, *dgst;
    int bits;
};

struct tls_conn {
    SSL *ssl;
    unsigned server : 1, done : 1, ask_ccert : 1, peer_present : 1, peer_trusted : 1,
        peer_matched : 1;
    int ret; /* last SSL_do_handshake() result, for the log line */
    const char *protocol, *cipher_name, *kex_name, *kex_curve;
    int cipher_usebits, cipher_algbits, kex_bits;
    struct sig srvr, clnt;
    char *peer_cn, *issuer_cn;
    char *err;    /* first error, OpenSSL's text */
    char *errlog; /* every queued error with file:line, '\n' between */
};

struct tls_conn *tls_conn_new(const struct tls_ctx *t, const char *sni)
{
    struct tls_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->server = t->server ? 1 : 0;
    c->ask_ccert = t->ask_ccert ? 1 : 0;
    BIO *rbio = NULL, *wbio = NULL;
    if (!(c->ssl = SSL_new(t->ctx)) || !(rbio = BIO_new(BIO_s_mem()))
        || !(wbio = BIO_new(BIO_s_mem())))
        goto fail;
    SSL_set_bio(c->ssl, rbio, wbio);
    if (t->server) {
        SSL_set_accept_state(c->ssl);
    } else {
        if (sni && *sni && !SSL_set_tlsext_host_name(c->ssl, sni))
            goto fail_ssl;
        SSL_set_connect_state(c->ssl);
    }
    return c;
fail:
    BIO_free(rbio);
    BIO_free(wbio);
fail_ssl:
    SSL_free(c->ssl);
    free(c);
    ERR_clear_error();
    return NULL;
}

void tls_conn_free(struct tls_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    free(c->peer_cn);
    free(c->issuer_cn);
    free(c->err);
    free(c->errlog);
    free(c);
}

/* A memory BIO keeps its largest buffer; give it back once drained. */
static void shrink(struct tls_conn *c, int wr)
{
    BIO *b = wr ? SSL_get_wbio(c->ssl) : SSL_get_rbio(c->ssl);
    BUF_MEM *bm = NULL;
    if (BIO_ctrl_pending(b) != 0 || BIO_get_mem_ptr(b, &bm) != 1 || !bm || bm->max <= BIO_KEEP)
        return;
    BIO *nb = BIO_new(BIO_s_mem());
    if (!nb)
        return; /* keep the big one: correct, only larger */
    if (wr)
        SSL_set0_wbio(c->ssl, nb);
    else
        SSL_set0_rbio(c->ssl, nb);
}

size_t tls_conn_cipher_in(struct tls_conn *c, const void *p, size_t n)
{
    BIO *b = SSL_get_rbio(c->ssl);
    size_t pend = BIO_ctrl_pending(b);
    if (pend >= TLS_CONN_IN_MAX || n == 0)
        return 0;
    if (n > TLS_CONN_IN_MAX - pend)
        n = TLS_CONN_IN_MAX - pend;
    int w = BIO_write(b, p, (int)n);
    return w > 0 ? (size_t)w : 0;
}

size_t tls_conn_cipher_out(struct tls_conn *c, void *buf, size_t cap)
{
    BIO *b = SSL_get_wbio(c->ssl);
    if (cap > INT_MAX)
        cap = INT_MAX;
    int r = cap ? BIO_read(b, buf, (int)cap) : 0;
    shrink(c, 1);
    return r > 0 ? (size_t)r : 0;
}

size_t tls_conn_cipher_pending(const struct tls_conn *c)
{
    return BIO_ctrl_pending(SSL_get_wbio(c->ssl));
}

/* Save the OpenSSL error queue (Postfix's tls_print_errors() text). */
static void save_errors(struct tls_conn *c, const char *fallback)
{
    struct strbuf full;
    char buf[256];
    const char *file, *data;
    int line, flags;
    unsigned long e;

    strbuf_init(&full);
    free(c->err);
    c->err = NULL;
    while ((e = ERR_get_error_all(&file, &line, NULL, &data, &flags)) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        if (!c->err)
            c->err = xstrdup(buf);
        if (full.len)
            strbuf_putc(&full, '\n');
        char tail[512];
        if (flags & ERR_TXT_STRING)
            snprintf(tail, sizeof(tail), "%s:%s:%d:%s:", buf, file, line, data);
        else
            snprintf(tail, sizeof(tail), "%s:%s:%d:", buf, file, line);
        strbuf_puts(&full, tail);
    }
    if (!c->err)
        c->err = xstrdup(fallback);
    free(c->errlog);
    c->errlog = full.len ? xstrdup(strbuf_cstr(&full)) : NULL;
    strbuf_free(&full);
}

const char *tls_conn_error(const struct tls_conn *c)
{
    return c->err ? c->err : "";
}

/* ---- what was negotiated ------------------------------------------------ */

/* The curve of an EC key as OpenSSL's short name ("prime256v1", as
 * Postfix 3.7 on OpenSSL 3 logs it); a static string or NULL. */
static const char *ec_curve(const EVP_PKEY *k)
{
    char name[80];
    size_t len = 0;
    if (!EVP_PKEY_get_group_name(k, name, sizeof(name), &len))
        return NULL;
    int nid = OBJ_txt2nid(name);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    return nid == NID_undef ? NULL : OBJ_nid2sn(nid);
}

/* tls_get_signature_params(): the algorithm of a certificate key. */
static void cert_sig(const X509 *x, struct sig *s)
{
    EVP_PKEY *k = X509_get0_pubkey(x);
    if (!k)
        return;
    int nid = EVP_PKEY_get_base_id(k);
    if (nid == EVP_PKEY_RSA) {
        s->name = "RSA-PSS"; /* TLS 1.3 mandates PSS with RSA keys */
        s->bits = EVP_PKEY_get_bits(k);
    } else if (nid == EVP_PKEY_EC) {
        s->name = "ECDSA";
        s->curve = ec_curve(k);
    } else if (nid != NID_undef) {
        s->name = OBJ_nid2sn(nid);
    }
}

static char *name_entry(const X509_NAME *n)
{
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    if (i < 0)
        return NULL;
    const ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
    unsigned char *u = NULL;
    int len = ASN1_STRING_to_UTF8(&u, d);
    if (len < 0)
        return NULL;
    /* An embedded NUL would cut the name short silently: refuse it. */
    char *r = memchr(u, 0, (size_t)len) ? NULL : xstrdup((char *)u);
    OPENSSL_free(u);
    return r;
}

static void collect(struct tls_conn *c)
{
    SSL *ssl = c->ssl;
    const SSL_CIPHER *ciph = SSL_get_current_cipher(ssl);

    c->protocol = SSL_get_version(ssl);
    c->cipher_name = SSL_CIPHER_get_name(ciph);
    c->cipher_usebits = SSL_CIPHER_get_bits(ciph, &c->cipher_algbits);

    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (peer) {
        c->peer_present = 1;
        c->peer_trusted = SSL_get_verify_result(ssl) == X509_V_OK;
        c->peer_cn = name_entry(X509_get_subject_name(peer));
        c->issuer_cn = name_entry(X509_get_issuer_name(peer));
        if (!c->peer_cn)
            c->peer_cn = xstrdup("");
    }

    /* Postfix 3.7 reports key exchange and signatures for TLS 1.3 only:
     * before it the cipher name says them. */
    if (SSL_version(ssl) < TLS1_3_VERSION)
        return;
    EVP_PKEY *k = NULL;
    if (SSL_get_peer_tmp_key(ssl, &k) && k) {
        int id = EVP_PKEY_get_base_id(k);
        if (id == EVP_PKEY_DH) {
            c->kex_name = "DHE";
            c->kex_bits = EVP_PKEY_get_bits(k);
        } else if (id == EVP_PKEY_EC) {
            c->kex_name = "ECDHE";
            c->kex_curve = ec_curve(k);
        } else if (id != NID_undef) {
            c->kex_name = OBJ_nid2sn(id);
        }
        EVP_PKEY_free(k);
    }
    struct sig *local = c->server ? &c->srvr : &c->clnt;
    struct sig *remote = c->server ? &c->clnt : &c->srvr;
    int nid;
    /* A client certificate may be loaded but not used: then no signature
     * nid (as Postfix checks it). */
    X509 *mine = (c->server || SSL_get_signature_nid(ssl, &nid)) ? SSL_get_certificate(ssl) : NULL;
    if (mine) {
        cert_sig(mine, local);
        if (SSL_get_signature_nid(ssl, &nid) && nid != NID_undef)
            local->dgst = OBJ_nid2sn(nid);
    }
    if (peer) {
        cert_sig(peer, remote);
        if (SSL_get_peer_signature_nid(ssl, &nid) && nid != NID_undef)
            remote->dgst = OBJ_nid2sn(nid);
    }
}

/* ---- the engine ------------------------------------------------------- */

int tls_conn_handshake(struct tls_conn *c)
{
    if (c->done)
        return 1;
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    c->ret = r;
    if (r == 1) {
        c->done = 1;
        collect(c);
        shrink(c, 0);
        return 1;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    default:
        save_errors(c, "handshake failed");
        return -EPROTO;
    }
}

long tls_conn_read(struct tls_conn *c, void *buf, size_t cap)
{
    size_t n = 0;
    if (!c->done) {
        free(c->err);
        c->err = xstrdup("read before the handshake finished");
        return -EPROTO;
    }
    ERR_clear_error();
    int r = SSL_read_ex(c->ssl, buf, cap, &n);
    if (r == 1) {
        shrink(c, 0);
        return (long)n;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        shrink(c, 0);
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return -ECONNRESET;
    default:
        save_errors(c, "read failed");
        return -EPROTO;
    }
}

long tls_conn_write(struct tls_conn *c, const void *buf, size_t n)
{
    size_t w = 0;
    if (!c->done) {
        free(c->err);
        c->err = xstrdup("write before the handshake finished");
        return -EPROTO;
    }
    if (tls_conn_cipher_pending(c) > TLS_CONN_WRITE_MAX || n == 0)
        return 0;
    if (n > TLS_CONN_WRITE_MAX)
        n = TLS_CONN_WRITE_MAX;
    ERR_clear_error();
    /* A memory BIO never refuses a write, so SSL_write_ex() takes all n
     * or fails: no "repeat with the same buffer" rule for the caller. */
    if (SSL_write_ex(c->ssl, buf, n, &w) != 1) {
        save_errors(c, "write failed");
        return -EPROTO;
    }
    return (long)w;
}

void tls_conn_close_notify(struct tls_conn *c)
{
    if (!c->done || (SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN))
        return;
    ERR_clear_error();
    (void)SSL_shutdown(c->ssl); /* 0: sent, the peer's reply not awaited */
    ERR_clear_error();
}

void tls_conn_log_error(const struct tls_conn *c, const char *namaddr, int lost)
{
    const char *what = c->server ? "SSL_accept error from" : "SSL_connect error to";
    if (lost || (!c->errlog && c->ret == 0)) {
        log_info("%s %s: lost connection", what, namaddr);
        return;
    }
    log_info("%s %s: %d", what, namaddr, c->ret);
    for (const char *p = c->errlog; p && *p;) {
        size_t n = strcspn(p, "\n");
        log_warn("TLS library problem: %.*s", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

/* ---- reports ------------------------------------------------------------ */

void tls_conn_received(const struct tls_conn *c, struct received_tls *out)
{
    memset(out, 0, sizeof(*out));
    out->protocol = c->protocol;
    out->cipher_name = c->cipher_name;
    out->cipher_usebits = c->cipher_usebits;
    out->cipher_algbits = c->cipher_algbits;
    out->kex_name = c->kex_name;
    out->kex_curve = c->kex_curve;
    out->kex_bits = c->kex_bits;
    out->srvr_sig_name = c->srvr.name;
    out->srvr_sig_curve = c->srvr.curve;
    out->srvr_sig_dgst = c->srvr.dgst;
    out->srvr_sig_bits = c->srvr.bits;
    out->clnt_sig_name = c->clnt.name;
    out->clnt_sig_curve = c->clnt.curve;
    out->clnt_sig_dgst = c->clnt.dgst;
    out->clnt_sig_bits = c->clnt.bits;
    out->peer_cn = c->peer_present ? c->peer_cn : NULL;
    out->issuer_cn = c->peer_present ? (c->issuer_cn ? c->issuer_cn : "") : NULL;
    out->peer_trusted = c->peer_trusted;
    out->ask_ccert = c->ask_ccert;
}

struct out {
    char *buf;
    size_t size, len;
    int trunc;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    size_t room = o->len < o->size ? o->size - o->len : 0;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + (room ? o->len : 0), room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        o->trunc = 1;
    o->len += n > 0 ? (size_t)n : 0;
}

static int set(const char *s)
{
    return s && *s;
}

/* " (curve)" or " (N bits)". */
static void strength(struct out *o, const char *curve, int bits)
{
    if (set(curve))
        put(o, " (%s)", curve);
    else if (bits > 0)
        put(o, " (%d bits)", bits);
}

static void sig_text(struct out *o, const char *who, const struct sig *s)
{
    if (!set(s->name))
        return;
    put(o, " %s-signature %s", who, s->name);
    strength(o, s->curve, s->bits);
    if (set(s->dgst))
        put(o, " %s-digest %s", who, s->dgst);
}

/* tls_log_summary() after "from host[addr]: ". */
int tls_conn_summary(const struct tls_conn *c, char *buf, size_t size)
{
    struct out o = {buf, size, 0, 0};
    if (size == 0)
        return -ENOSPC;
    buf[0] = 0;
    if (!c->done)
        return -EINVAL;
    put(&o, "%s with cipher %s (%d/%d bits)", c->protocol, c->cipher_name, c->cipher_usebits,
        c->cipher_algbits);
    if (set(c->kex_name)) {
        put(&o, " key-exchange %s", c->kex_name);
        strength(&o, c->kex_curve, c->kex_bits);
    }
    sig_text(&o, "server", &c->srvr);
    sig_text(&o, "client", &c->clnt);
    return o.trunc ? -ENOSPC : 0;
}

const char *tls_conn_peer_status(const struct tls_conn *c)
{
    return !c->peer_present  ? "Anonymous"
           : c->peer_matched ? "Verified"
           : c->peer_trusted ? "Trusted"
                             : "Untrusted";
}

void tls_conn_log_summary(const struct tls_conn *c, const char *namaddr)
{
    char text[512];
    if (tls_conn_summary(c, text, sizeof(text)) == -EINVAL)
        return;
    log_info("%s TLS connection %s %s %s: %s", tls_conn_peer_status(c),
             !c->server && tls_conn_reused(c) ? "reused" : "established",
             c->server ? "from" : "to", namaddr, text);
}

int tls_conn_session_save(const struct tls_conn *c, unsigned char *buf, size_t cap,
                          size_t *len)
{
    *len = 0;
    if (c->server || !c->done)
        return -ENOENT;
    SSL_SESSION *sess = SSL_get1_session(c->ssl);
    if (!sess || !SSL_SESSION_is_resumable(sess)) {
        SSL_SESSION_free(sess);
        return -ENOENT;
    }
    int n = i2d_SSL_SESSION(sess, NULL);
    int rc = 0;
    if (n <= 0) {
        rc = -ENOENT;
    } else if ((size_t)n > cap) {
        *len = (size_t)n;
        rc = -ENOSPC;
    } else {
        unsigned char *p = buf;
        *len = (size_t)i2d_SSL_SESSION(sess, &p);
    }
    SSL_SESSION_free(sess);
    ERR_clear_error();
    return rc;
}

int tls_conn_session_load(struct tls_conn *c, const void *der, size_t len)
{
    if (c->server || c->done || len > LONG_MAX)
        return -EINVAL;
    const unsigned char *p = der;
    SSL_SESSION *sess = d2i_SSL_SESSION(NULL, &p, (long)len);
    int ok = sess && SSL_set_session(c->ssl, sess);
    SSL_SESSION_free(sess);
    ERR_clear_error();
    return ok ? 0 : -EINVAL;
}

int tls_conn_reused(const struct tls_conn *c)
{
    return c->done && SSL_session_reused(c->ssl);
}

int tls_conn_peer_matches(const struct tls_conn *c, const char *host)
{
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    if (!peer || !host || !*host)
        return 0;
    return X509_check_host(peer, host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

void tls_conn_set_matched(struct tls_conn *c)
{
    if (c->peer_present && c->peer_trusted)
        c->peer_matched = 1;
}

long tls_conn_verify_result(const struct tls_conn *c)
{
    if (!c->done || !c->peer_present)
        return X509_V_OK;
    return SSL_get_verify_result(c->ssl);
}

const char *tls_conn_issuer_cn(const struct tls_conn *c)
{
    return c->issuer_cn ? c->issuer_cn : "";
}
