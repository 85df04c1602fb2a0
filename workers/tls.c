/*
 * tls.c - the TLS contexts of a configuration generation: the smtpd side
 * (smtpd_tls_*) and the queue runner's client side (smtp_tls_*), built
 * once by the master as Postfix's tls_server_init()/tls_client_init() do.
 *
 * Parameters mapped to OpenSSL 3:
 *   *_tls_security_level  none: no context; may; encrypt (and, client
 *                         side, dane/verify/secure... which the caller
 *                         enforces on the result)
 *   *_tls_chain_files     key1, cert1, [chain1], key2, ... (concatenated
 *                         in order, each key directly before its chain)
 *   *_tls_cert_file/key_file  the legacy pair, used when no chain files
 *   *_tls_[mandatory_]protocols  ">=TLSv1", "<=TLSv1.2", "!SSLv3, !TLSv1",
 *                         "TLSv1.2 TLSv1.3" as Postfix's tls_protocol_mask()
 *                         reads them -> minimum/maximum version and
 *                         SSL_OP_NO_* for holes
 *   *_tls_[mandatory_]ciphers  grade high/medium/low/export/null -> the
 *                         default tls_<grade>_cipherlist of Postfix 3.7
 *   *_tls_exclude_ciphers ":!NAME" appended (TLS 1.2 and below, as Postfix)
 *   smtpd_tls_eecdh_grade auto/strong/ultra -> key-exchange groups
 *   smtpd_tls_CAfile/CApath, smtpd_tls_ask_ccert  client certificates
 *   smtpd_tls_session_cache_timeout  ticket lifetime; 0: no tickets
 *   smtpd_tls_dh1024_param_file  ignored (logged once): OpenSSL 3 picks a
 *                         RFC 7919 group matched to the certificate
 *
 * Failure: -EINVAL with err naming the parameter and, for files, the file
 * and OpenSSL's reason; -ENOMEM when OpenSSL cannot allocate. Nothing is
 * left allocated on failure.
 */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls_int.h"

/* Postfix 3.7 defaults of tls_<grade>_cipherlist (postconf -d). */
static const struct {
    const char *grade, *list;
} cipher_grades[] = {
    {"high", "aNULL:-aNULL:HIGH:@STRENGTH"},
    {"medium", "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH"},
    {"low", "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH"},
    {"export", "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH"},
    {"null", "eNULL:!aNULL"},
};

/* tls_eecdh_auto_curves, tls_eecdh_strong_curve, tls_eecdh_ultra_curve. */
static const struct {
    const char *grade, *groups;
} eecdh_grades[] = {
    {"auto", "X25519:X448:prime256v1:secp521r1:secp384r1"},
    {"strong", "prime256v1"},
    {"ultra", "secp384r1"},
};

/* Protocol names as Postfix's protocol_table, in version order. SSLv2
 * and SSLv3 are accepted names that OpenSSL 3 never offers anyway. */
static const struct {
    const char *name;
    int version;
    unsigned long no_op;
} protocols[] = {
    {"SSLv2", 0, 0},
    {"SSLv3", SSL3_VERSION, 0},
    {"TLSv1", TLS1_VERSION, SSL_OP_NO_TLSv1},
    {"TLSv1.1", TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
    {"TLSv1.2", TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
    {"TLSv1.3", TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
};
#define NPROTO (sizeof(protocols) / sizeof(protocols[0]))

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen > 0)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    ERR_clear_error();
    return rc;
}

/* OpenSSL's reason for the last failure ("no such file", "bad decrypt"). */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "unknown error";
}

static int proto_index(const char *tok, size_t len)
{
    for (size_t i = 0; i < NPROTO; i++)
        if (strlen(protocols[i].name) == len && strncmp(protocols[i].name, tok, len) == 0)
            return (int)i;
    return -1;
}

/* Postfix 3.7 tls_proto_mask_lims(): tokens separated by commas, spaces
 * or colons; "!NAME" excludes, "NAME" includes (when any include is given,
 * everything else is excluded), ">=NAME" and "<=NAME" bound the range. */
static int set_protocols(SSL_CTX *ctx, const char *param, const char *val, char *err,
                         size_t errlen)
{
    unsigned include = 0, exclude = 0;
    int lo = 0, hi = (int)NPROTO - 1;
    const char *p = val;

    while (*p) {
        size_t n = strcspn(p, ", \t\r\n:");
        if (n == 0) {
            p++;
            continue;
        }
        const char *tok = p;
        size_t tlen = n;
        p += n;
        int kind = 0; /* 0 include, 1 exclude, 2 >=, 3 <= */
        if (tok[0] == '!') {
            kind = 1, tok++, tlen--;
        } else if (tlen >= 2 && tok[0] == '>' && tok[1] == '=') {
            kind = 2, tok += 2, tlen -= 2;
        } else if (tlen >= 2 && tok[0] == '<' && tok[1] == '=') {
            kind = 3, tok += 2, tlen -= 2;
        }
        int i = proto_index(tok, tlen);
        if (i < 0)
            return fail(err, errlen, -EINVAL, "invalid %s value: \"%s\"", param, val);
        switch (kind) {
        case 0: include |= 1u << i; break;
        case 1: exclude |= 1u << i; break;
        case 2: lo = i > lo ? i : lo; break;
        default: hi = i < hi ? i : hi; break;
        }
    }
    if (include)
        exclude |= ~include;
    int min = -1, max = -1;
    unsigned long ops = 0;
    for (int i = lo; i <= hi; i++) {
        if (exclude & (1u << i) || protocols[i].no_op == 0)
            continue;
        if (min < 0)
            min = i;
        max = i;
    }
    if (min < 0)
        return fail(err, errlen, -EINVAL, "%s = %s leaves no TLS protocol enabled", param, val);
    for (int i = min; i <= max; i++)
        if (exclude & (1u << i))
            ops |= protocols[i].no_op;
    if (!SSL_CTX_set_min_proto_version(ctx, protocols[min].version)
        || !SSL_CTX_set_max_proto_version(ctx, protocols[max].version))
        return fail(err, errlen, -EINVAL, "%s = %s: %s", param, val, ssl_reason());
    SSL_CTX_set_options(ctx, ops);
    return 0;
}

/* Postfix tls_set_ciphers(): the grade's list plus ":!x" per exclusion. */
static int set_ciphers(SSL_CTX *ctx, const char *gparam, const char *grade, const char *xparam,
                       const char *excl, char *err, size_t errlen)
{
    const char *base = NULL;
    for (size_t i = 0; i < sizeof(cipher_grades) / sizeof(cipher_grades[0]); i++)
        if (strcasecmp(grade, cipher_grades[i].grade) == 0)
            base = cipher_grades[i].list;
    if (!base)
        return fail(err, errlen, -EINVAL, "invalid %s cipher grade: \"%s\"", gparam, grade);
    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, base);
    for (const char *p = excl; *p;) {
        size_t n = strcspn(p, ", \t\r\n:");
        if (n == 0) {
            p++;
            continue;
        }
        if (strchr("!+-@", *p)) {
            strbuf_free(&sb);
            return fail(err, errlen, -EINVAL, "invalid unary '!+-@' in %s: \"%.*s\"", xparam,
                        (int)n, p);
        }
        strbuf_puts(&sb, ":!");
        strbuf_append(&sb, p, n);
        p += n;
    }
    int ok = SSL_CTX_set_cipher_list(ctx, strbuf_cstr(&sb));
    int rc = ok ? 0 : fail(err, errlen, -EINVAL, "invalid cipher list from %s and %s: \"%s\"",
                           gparam, xparam, strbuf_cstr(&sb));
    strbuf_free(&sb);
    return rc;
}

static int set_groups(SSL_CTX *ctx, const char *param, const char *grade, char *err,
                      size_t errlen)
{
    for (size_t i = 0; i < sizeof(eecdh_grades) / sizeof(eecdh_grades[0]); i++) {
        if (strcasecmp(grade, eecdh_grades[i].grade) != 0)
            continue;
        if (!SSL_CTX_set1_groups_list(ctx, eecdh_grades[i].groups))
            return fail(err, errlen, -EINVAL, "%s = %s: %s", param, grade, ssl_reason());
        return 0;
    }
    /* "none" (and Postfix's obsolete grades): OpenSSL's own default list. */
    if (strcasecmp(grade, "none") == 0)
        return 0;
    return fail(err, errlen, -EINVAL, "invalid %s value: \"%s\"", param, grade);
}

/* ---- keys and certificates --------------------------------------------- */

/* Never prompt on a terminal for a passphrase: an encrypted key is an
 * error (the daemon has nobody to ask). */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

struct certkey {
    EVP_PKEY *key;
    STACK_OF(X509) *certs; /* leaf first */
};

struct pem_set {
    struct certkey *v;
    size_t n;
};

static void pem_set_free(struct pem_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        EVP_PKEY_free(s->v[i].key);
        sk_X509_pop_free(s->v[i].certs, X509_free);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static struct certkey *pem_set_add(struct pem_set *s)
{
    struct certkey *v = realloc(s->v, (s->n + 1) * sizeof(*v));
    if (!v)
        return NULL;
    s->v = v;
    v[s->n].key = NULL;
    v[s->n].certs = sk_X509_new_null();
    if (!v[s->n].certs)
        return NULL;
    return &v[s->n++];
}

/* Decode one PEM block as a key (re-encoded so that every key form
 * OpenSSL knows, PKCS#8 or traditional, goes through one reader). */
static EVP_PKEY *decode_key(const char *name, const char *hdr, const unsigned char *data,
                            long len)
{
    BIO *mem = BIO_new(BIO_s_mem());
    EVP_PKEY *k = NULL;
    if (mem && PEM_write_bio(mem, name, hdr, data, len) > 0)
        k = PEM_read_bio_PrivateKey(mem, NULL, no_password, NULL);
    BIO_free(mem);
    return k;
}

/* Read every key and certificate of path, in order. mode 'c' (chain
 * files): a key opens a group, certificates join the open group. mode
 * 'k'/'x' (legacy key_file/cert_file): only keys / only certificates, into
 * group 0. */
static int pem_read_file(struct pem_set *s, int mode, const char *param, const char *path,
                         char *err, size_t errlen)
{
    BIO *bio = BIO_new_file(path, "r");
    if (!bio)
        return fail(err, errlen, -EINVAL, "%s: cannot read %s: %s", param, path, ssl_reason());
    int rc = 0, found = 0;
    for (;;) {
        char *name = NULL, *hdr = NULL;
        unsigned char *data = NULL;
        long len = 0;
        if (!PEM_read_bio(bio, &name, &hdr, &data, &len)) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_REASON(e) != PEM_R_NO_START_LINE || !found)
                rc = fail(err, errlen, -EINVAL, "%s: %s: %s", param, path,
                          found          ? ssl_reason()
                          : mode == 'k' ? "no private key found"
                          : mode == 'x' ? "no certificate found"
                                        : "no PEM key or certificate found");
            ERR_clear_error();
            break;
        }
        int is_key = strstr(name, "PRIVATE KEY") != NULL;
        int is_cert = !is_key && strstr(name, "CERTIFICATE") != NULL
                      && strstr(name, "REQUEST") == NULL;
        if (is_key && mode != 'x') {
            EVP_PKEY *k = decode_key(name, hdr, data, len);
            struct certkey *g = NULL;
            if (!k)
                rc = fail(err, errlen, -EINVAL, "%s: %s: cannot load the private key: %s",
                          param, path, ssl_reason());
            else if (mode == 'c' || s->n == 0)
                g = pem_set_add(s);
            else
                g = &s->v[0];
            if (k && !g)
                rc = -ENOMEM;
            if (g && !g->key)
                g->key = k, k = NULL;
            EVP_PKEY_free(k);
            found++;
        } else if (is_cert && mode != 'k') {
            const unsigned char *p = data;
            X509 *x = strcmp(name, "TRUSTED CERTIFICATE") == 0 ? d2i_X509_AUX(NULL, &p, len)
                                                                : d2i_X509(NULL, &p, len);
            if (!x) {
                rc = fail(err, errlen, -EINVAL, "%s: %s: bad certificate: %s", param, path,
                          ssl_reason());
            } else if (s->n == 0 && mode == 'c') {
                X509_free(x);
                rc = fail(err, errlen, -EINVAL,
                          "%s: %s: a certificate comes before any private key", param, path);
            } else if (s->n == 0 && !pem_set_add(s)) {
                X509_free(x);
                rc = -ENOMEM;
            } else if (!sk_X509_push(s->v[s->n - 1].certs, x)) {
                X509_free(x);
                rc = -ENOMEM;
            }
            found++;
        }
        OPENSSL_free(name);
        OPENSSL_free(hdr);
        OPENSSL_free(data);
        if (rc)
            break;
    }
    BIO_free(bio);
    if (rc == -ENOMEM)
        fail(err, errlen, rc, "%s: %s: out of memory", param, path);
    return rc;
}

/* Load the keys and chains named by the prefix's chain_files, or else its
 * cert_file/key_file. optional: none configured is fine (client side). */
static int load_certs(SSL_CTX *ctx, const char *pfx, const struct cfg_list *chain,
                      const char *cert, const char *key, int optional, char *err, size_t errlen)
{
    struct pem_set set = {0};
    char cparam[64], kparam[64];
    int rc = 0;

    snprintf(cparam, sizeof(cparam), "%s_tls_cert_file", pfx);
    snprintf(kparam, sizeof(kparam), "%s_tls_key_file", pfx);
    if (chain->n > 0) {
        char param[64];
        snprintf(param, sizeof(param), "%s_tls_chain_files", pfx);
        if (*cert || (*key && strcmp(key, cert) != 0))
            log_warn("%s is set: %s and %s are ignored", param, cparam, kparam);
        for (size_t i = 0; i < chain->n && rc == 0; i++)
            rc = pem_read_file(&set, 'c', param, chain->v[i], err, errlen);
        for (size_t i = 0; i < set.n && rc == 0; i++)
            if (sk_X509_num(set.v[i].certs) == 0)
                rc = fail(err, errlen, -EINVAL, "%s: a private key has no certificate after it",
                          param);
        if (rc)
            goto out;
        strncpy(cparam, param, sizeof(cparam)); /* for the messages below */
        strncpy(kparam, param, sizeof(kparam));
    } else if (*cert == 0) {
        if (!optional)
            rc = fail(err, errlen, -EINVAL,
                      "%s is empty: TLS needs a server certificate (or %s_tls_chain_files)", cparam,
                      pfx);
        goto out;
    } else {
        if (*key == 0)
            key = cert;
        if ((rc = pem_read_file(&set, 'x', cparam, cert, err, errlen)) != 0
            || (rc = pem_read_file(&set, 'k', kparam, key, err, errlen)) != 0)
            goto out;
        if (set.n == 0 || sk_X509_num(set.v[0].certs) == 0) {
            rc = fail(err, errlen, -EINVAL, "%s: %s: no certificate found", cparam, cert);
            goto out;
        }
        if (!set.v[0].key) {
            rc = fail(err, errlen, -EINVAL, "%s: %s: no private key found", kparam, key);
            goto out;
        }
    }
    for (size_t i = 0; i < set.n; i++) {
        struct certkey *g = &set.v[i];
        X509 *leaf = sk_X509_shift(g->certs);
        ERR_clear_error();
        int ok = SSL_CTX_use_cert_and_key(ctx, leaf, g->key, g->certs, 1);
        X509_free(leaf);
        if (!ok) {
            rc = fail(err, errlen, -EINVAL, "%s/%s: the private key does not match the certificate"
                      " (%s)", cparam, kparam, ssl_reason());
            goto out;
        }
    }
out:
    pem_set_free(&set);
    return rc;
}

/* ---- contexts ---------------------------------------------------------- */

/* Client certificates are asked for but never fail the handshake here:
 * Postfix records whether the chain verified and decides later. */
static int accept_any_cert(int ok, X509_STORE_CTX *store)
{
    (void)ok, (void)store;
    return 1;
}

static int set_trust(SSL_CTX *ctx, const char *pfx, const char *cafile, const char *capath,
                     char *err, size_t errlen)
{
    if (!*cafile && !*capath)
        return 0;
    if (!SSL_CTX_load_verify_locations(ctx, *cafile ? cafile : NULL, *capath ? capath : NULL))
        return fail(err, errlen, -EINVAL, "%s_tls_CAfile/CApath: cannot load %s%s%s: %s", pfx,
                    cafile, *cafile && *capath ? " and " : "", capath, ssl_reason());
    return 0;
}

static SSL_CTX *ctx_new(int server)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx)
        return NULL;
    /* Buffers only while a record is in flight: thousands of idle TLS
     * sessions per worker must stay cheap. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* Postfix's tls_bug_bits(): every interoperability work-around
     * (SSL_OP_ALL); no renegotiation (a CPU sink for a client) and no
     * compression (CRIME). */
    SSL_CTX_set_options(ctx, SSL_OP_ALL | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    return ctx;
}

int tls_server_create(const struct config *cfg, struct tls_server **out, char *err,
                      size_t errlen)
{
    const struct cfg_params *p = &cfg->p;
    *out = NULL;
    if (errlen)
        err[0] = 0;
    if (p->smtpd_tls_security_level != TLS_LEV_MAY && p->smtpd_tls_security_level != TLS_LEV_ENCRYPT)
        return 0;
    int required = p->smtpd_tls_security_level == TLS_LEV_ENCRYPT;

    SSL_CTX *ctx = ctx_new(1);
    if (!ctx)
        return fail(err, errlen, -ENOMEM, "cannot allocate an SSL_CTX");
    int rc;
    if ((rc = set_protocols(ctx, required ? "smtpd_tls_mandatory_protocols" : "smtpd_tls_protocols",
                            required ? p->smtpd_tls_mandatory_protocols : p->smtpd_tls_protocols,
                            err, errlen))
        || (rc = set_ciphers(ctx, required ? "smtpd_tls_mandatory_ciphers" : "smtpd_tls_ciphers",
                             required ? p->smtpd_tls_mandatory_ciphers : p->smtpd_tls_ciphers,
                             "smtpd_tls_exclude_ciphers", p->smtpd_tls_exclude_ciphers, err,
                             errlen))
        || (rc = set_groups(ctx, "smtpd_tls_eecdh_grade", p->smtpd_tls_eecdh_grade, err, errlen))
        || (rc = load_certs(ctx, "smtpd", &p->smtpd_tls_chain_files, p->smtpd_tls_cert_file,
                            p->smtpd_tls_key_file, 0, err, errlen))
        || (rc = set_trust(ctx, "smtpd", p->smtpd_tls_CAfile, p->smtpd_tls_CApath, err, errlen)))
        goto fail;

    if (*p->smtpd_tls_dh1024_param_file)
        log_info("smtpd_tls_dh1024_param_file = %s is ignored: OpenSSL 3 chooses an RFC 7919 "
                 "DH group matched to the certificate",
                 p->smtpd_tls_dh1024_param_file);
    SSL_CTX_set_dh_auto(ctx, 1);

    if (p->smtpd_tls_ask_ccert || p->smtpd_tls_req_ccert) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, accept_any_cert);
        SSL_CTX_set_verify_depth(ctx, (int)p->smtpd_tls_ccert_verifydepth);
        if (*p->smtpd_tls_CAfile) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(p->smtpd_tls_CAfile);
            if (names)
                SSL_CTX_set_client_CA_list(ctx, names);
        }
    }
    /* No server-side session cache: it would cost memory per session in
     * every worker and cannot be shared between them. Resumption uses
     * stateless tickets whose keys the workers inherit from the master's
     * context; smtpd_tls_session_cache_timeout = 0 turns them off. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    static const unsigned char sid_ctx[] = "mxscreen/TLS";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (p->smtpd_tls_session_cache_timeout > 0) {
        SSL_CTX_set_timeout(ctx, p->smtpd_tls_session_cache_timeout);
        SSL_CTX_set_num_tickets(ctx, 1);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }

    struct tls_server *s = calloc(1, sizeof(*s));
    if (!s) {
        rc = fail(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    s->c.ctx = ctx;
    s->c.server = 1;
    s->c.required = required;
    s->c.loglevel = (int)p->smtpd_tls_loglevel;
    s->c.ask_ccert = p->smtpd_tls_ask_ccert;
    *out = s;
    return 0;
fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

void tls_server_free(struct tls_server *s)
{
    if (!s)
        return;
    SSL_CTX_free(s->c.ctx); /* live connections hold their own reference */
    free(s);
}

int tls_server_required(const struct tls_server *s)
{
    return s && s->c.required;
}

int tls_server_loglevel(const struct tls_server *s)
{
    return s ? s->c.loglevel : 0;
}

struct tls_conn *tls_conn_server(const struct tls_server *s)
{
    return tls_conn_new(&s->c, NULL);
}

int tls_client_create(const struct config *cfg, struct tls_client **out, char *err,
                      size_t errlen)
{
    const struct cfg_params *p = &cfg->p;
    int lev = p->smtp_tls_security_level;
    *out = NULL;
    if (errlen)
        err[0] = 0;
    if (lev == TLS_LEV_NONE || lev == TLS_LEV_EMPTY)
        return 0;
    /* Postfix: the mandatory settings apply at encrypt and above. */
    int mand = lev != TLS_LEV_MAY;

    SSL_CTX *ctx = ctx_new(0);
    if (!ctx)
        return fail(err, errlen, -ENOMEM, "cannot allocate an SSL_CTX");
    int rc;
    if ((rc = set_protocols(ctx, mand ? "smtp_tls_mandatory_protocols" : "smtp_tls_protocols",
                            mand ? p->smtp_tls_mandatory_protocols : p->smtp_tls_protocols, err,
                            errlen))
        || (rc = set_ciphers(ctx, mand ? "smtp_tls_mandatory_ciphers" : "smtp_tls_ciphers",
                             mand ? p->smtp_tls_mandatory_ciphers : p->smtp_tls_ciphers,
                             "smtp_tls_exclude_ciphers", p->smtp_tls_exclude_ciphers, err, errlen))
        || (rc = load_certs(ctx, "smtp", &p->smtp_tls_chain_files, p->smtp_tls_cert_file,
                            p->smtp_tls_key_file, 1, err, errlen))
        || (rc = set_trust(ctx, "smtp", p->smtp_tls_CAfile, p->smtp_tls_CApath, err, errlen)))
        goto fail;
    /* Verify, record the result, never abort: the level decides later. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert);
    SSL_CTX_set_verify_depth(ctx, (int)p->smtp_tls_scert_verifydepth);
    /* Sessions are cached by the queue runner per next hop (issue 5);
     * here no internal client cache. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

    struct tls_client *c = calloc(1, sizeof(*c));
    if (!c) {
        rc = fail(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    c->c.ctx = ctx;
    c->c.required = mand;
    c->c.loglevel = (int)p->smtp_tls_loglevel;
    *out = c;
    return 0;
fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

void tls_client_free(struct tls_client *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->c.ctx);
    free(c);
}

int tls_client_loglevel(const struct tls_client *c)
{
    return c ? c->c.loglevel : 0;
}

struct tls_conn *tls_conn_client(const struct tls_client *c, const char *sni)
{
    return tls_conn_new(&c->c, sni);
}
