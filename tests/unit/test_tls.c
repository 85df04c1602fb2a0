/* test_tls.c - the TLS engine: contexts from main.cf parameters (with
 * certificates made here, in a temporary directory), full handshakes
 * between tls_conn_server() and tls_conn_client() by shuttling bytes in
 * memory, data both ways, close_notify, failures, and the negotiated
 * facts against what a real Postfix 3.7.11 logged for the same setups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "received.h"
#include "tls.h"

static char dir[64];

/* ---- fixtures --------------------------------------------------------- */

static X509 *self_signed(EVP_PKEY *k, const char *cn)
{
    X509 *x = X509_new();
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    return x;
}

static void write_pem(const char *name, EVP_PKEY *k, X509 *x)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (k)
        assert_true(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL));
    if (x)
        assert_true(PEM_write_X509(f, x));
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test_tls.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    assert_non_null(rsa);
    assert_non_null(ec);
    X509 *rcert = self_signed(rsa, "mx.example.com");
    X509 *ecert = self_signed(ec, "ec.example.com");
    write_pem("rsa.key", rsa, NULL);
    write_pem("rsa.crt", NULL, rcert);
    write_pem("rsa.pem", rsa, rcert);  /* key, then its certificate */
    write_pem("ec.pem", ec, ecert);
    write_pem("ec.key", ec, NULL);
    write_pem("empty.pem", NULL, NULL);
    X509_free(rcert);
    X509_free(ecert);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"rsa.key", "rsa.crt", "rsa.pem", "ec.pem", "ec.key", "empty.pem"};
    char path[128];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}

/* main.cf text with "@" replaced by the temporary directory. */
static void load(struct config *cfg, const char *text)
{
    char buf[2048];
    size_t o = 0;
    for (const char *p = text; *p && o < sizeof(buf) - 64; p++) {
        if (*p == '@')
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", dir);
        else
            buf[o++] = *p;
    }
    buf[o] = 0;
    struct cfg_diag d;
    cfg_diag_init(&d);
    int rc = config_load_buf(dir, buf, o, cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        print_message("diag: %s\n", d.v[i].text);
    cfg_diag_free(&d);
    assert_int_equal(rc, 0);
}

static int server_rc(const char *text, struct tls_server **s, char *err, size_t errlen)
{
    struct config cfg;
    load(&cfg, text);
    int rc = tls_server_create(&cfg, s, err, errlen);
    config_free(&cfg);
    return rc;
}

static struct tls_server *server(const char *text)
{
    struct tls_server *s = NULL;
    char err[256];
    int rc = server_rc(text, &s, err, sizeof(err));
    if (rc)
        print_message("err: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

static struct tls_client *client(const char *text)
{
    struct config cfg;
    struct tls_client *c = NULL;
    char err[256];
    load(&cfg, text);
    int rc = tls_client_create(&cfg, &c, err, sizeof(err));
    if (rc)
        print_message("err: %s\n", err);
    config_free(&cfg);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

/* Move every pending ciphertext byte from a to b, through a small
 * buffer as a socket would; returns the bytes moved. */
static size_t move(struct tls_conn *a, struct tls_conn *b)
{
    unsigned char buf[3000];
    size_t total = 0, n;
    while ((n = tls_conn_cipher_out(a, buf, sizeof(buf))) > 0) {
        assert_int_equal(tls_conn_cipher_in(b, buf, n), n);
        total += n;
    }
    assert_int_equal(tls_conn_cipher_pending(a), 0);
    return total;
}

static void handshake(struct tls_conn *cl, struct tls_conn *sv)
{
    int hc = 0, hs = 0;
    for (int i = 0; i < 20 && (hc != 1 || hs != 1); i++) {
        hc = tls_conn_handshake(cl);
        assert_true(hc >= 0);
        move(cl, sv);
        hs = tls_conn_handshake(sv);
        if (hs < 0)
            print_message("server: %s\n", tls_conn_error(sv));
        assert_true(hs >= 0);
        move(sv, cl);
    }
    assert_int_equal(hc, 1);
    assert_int_equal(hs, 1);
}

/* ---- contexts ---------------------------------------------------------- */

static void level_none_gives_no_context(void **state)
{
    (void)state;
    static const char *const none[] = {
        "",  /* smtpd_use_tls = no, smtpd_enforce_tls = no */
        "smtpd_tls_security_level = none\nsmtpd_tls_cert_file = @/missing.pem\n",
        "smtpd_use_tls = no\nsmtpd_tls_cert_file = @/rsa.pem\n",
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        struct tls_server *s = (struct tls_server *)1;
        char err[128];
        assert_int_equal(server_rc(none[i], &s, err, sizeof(err)), 0);
        assert_null(s);
        assert_int_equal(tls_server_required(s), 0);
    }
    struct tls_server *s = server("smtpd_use_tls = yes\nsmtpd_tls_cert_file = @/rsa.pem\n");
    assert_int_equal(tls_server_required(s), 0);
    assert_int_equal(tls_server_loglevel(s), 0);
    tls_server_free(s);
    s = server("smtpd_enforce_tls = yes\nsmtpd_tls_cert_file = @/rsa.pem\nsmtpd_tls_loglevel = 1\n");
    assert_int_equal(tls_server_required(s), 1);
    assert_int_equal(tls_server_loglevel(s), 1);
    tls_server_free(s);
}

static void broken_configurations_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *cf, *want1, *want2;
    } cases[] = {
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/missing.pem\n",
         "smtpd_tls_cert_file", "missing.pem"},
        {"smtpd_tls_security_level = encrypt\n", "smtpd_tls_cert_file", "empty"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/empty.pem\n",
         "smtpd_tls_cert_file", "empty.pem"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.crt\n",
         "smtpd_tls_key_file", "no private key"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.crt\n"
         "smtpd_tls_key_file = @/nokey.pem\n",
         "smtpd_tls_key_file", "nokey.pem"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.crt\n"
         "smtpd_tls_key_file = @/ec.key\n",
         "does not match", "smtpd_tls_key_file"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_chain_files = @/rsa.crt\n",
         "smtpd_tls_chain_files", "before any private key"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_chain_files = @/rsa.key\n",
         "smtpd_tls_chain_files", "no certificate"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.pem\n"
         "smtpd_tls_protocols = >=TLSv9\n",
         "smtpd_tls_protocols", "TLSv9"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.pem\n"
         "smtpd_tls_protocols = !TLSv1 !TLSv1.1 !TLSv1.2 !TLSv1.3\n",
         "smtpd_tls_protocols", "no TLS protocol"},
        {"smtpd_tls_security_level = encrypt\nsmtpd_tls_cert_file = @/rsa.pem\n"
         "smtpd_tls_mandatory_protocols = SSLv3\n",
         "smtpd_tls_mandatory_protocols", "no TLS protocol"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.pem\n"
         "smtpd_tls_ciphers = strongest\n",
         "smtpd_tls_ciphers", "strongest"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.pem\n"
         "smtpd_tls_exclude_ciphers = aNULL, !RC4\n",
         "smtpd_tls_exclude_ciphers", "!RC4"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.pem\n"
         "smtpd_tls_eecdh_grade = extreme\n",
         "smtpd_tls_eecdh_grade", "extreme"},
        {"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.pem\n"
         "smtpd_tls_CAfile = @/nothere.pem\n",
         "smtpd_tls_CAfile", "nothere.pem"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tls_server *s = (struct tls_server *)1;
        char err[256] = "";
        int rc = server_rc(cases[i].cf, &s, err, sizeof(err));
        print_message("case %zu: %s\n", i, err);
        assert_int_equal(rc, -EINVAL);
        assert_null(s);
        assert_non_null(strstr(err, cases[i].want1));
        assert_non_null(strstr(err, cases[i].want2));
    }
}

/* ---- handshakes -------------------------------------------------------- */

static void rsa_tls13_as_postfix_logs_it(void **state)
{
    (void)state;
    struct tls_server *s = server("smtpd_tls_security_level = may\n"
                                  "smtpd_tls_cert_file = @/rsa.crt\n"
                                  "smtpd_tls_key_file = @/rsa.key\n"
                                  "smtpd_tls_dh1024_param_file = @/dh.pem\n");
    struct tls_client *k = client("smtp_tls_security_level = may\n");
    struct tls_conn *sv = tls_conn_server(s), *cl = tls_conn_client(k, "mx.example.com");
    assert_non_null(sv);
    assert_non_null(cl);
    /* Nothing may be read or written before the handshake. */
    char b[16];
    assert_int_equal(tls_conn_read(sv, b, sizeof(b)), -EPROTO);
    assert_int_equal(tls_conn_write(sv, "x", 1), -EPROTO);
    handshake(cl, sv);

    char sum[512];
    /* Postfix 3.7.11 + OpenSSL 3.0, same key type, logged:
     * "Anonymous TLS connection established from localhost[127.0.0.1]:
     * TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
     * key-exchange X25519 server-signature RSA-PSS (2048 bits)
     * server-digest SHA256" */
    assert_int_equal(tls_conn_summary(sv, sum, sizeof(sum)), 0);
    assert_string_equal(sum, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) "
                             "key-exchange X25519 server-signature RSA-PSS (2048 bits) "
                             "server-digest SHA256");
    assert_string_equal(tls_conn_peer_status(sv), "Anonymous");
    assert_int_equal(tls_conn_summary(cl, sum, sizeof(sum)), 0);
    assert_string_equal(sum, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) "
                             "key-exchange X25519 server-signature RSA-PSS (2048 bits) "
                             "server-digest SHA256");
    /* Self-signed and no smtp_tls_CAfile: untrusted, but the name is right. */
    assert_string_equal(tls_conn_peer_status(cl), "Untrusted");
    assert_int_equal(tls_conn_peer_matches(cl, "mx.example.com"), 1);
    assert_int_equal(tls_conn_peer_matches(cl, "MX.Example.COM"), 1);
    assert_int_equal(tls_conn_peer_matches(cl, "example.com"), 0);
    assert_int_equal(tls_conn_peer_matches(sv, "mx.example.com"), 0);
    assert_int_equal(tls_conn_summary(sv, sum, 20), -ENOSPC);
    assert_int_equal(strlen(sum), 19);

    struct received_tls rt;
    tls_conn_received(sv, &rt);
    assert_string_equal(rt.protocol, "TLSv1.3");
    assert_string_equal(rt.cipher_name, "TLS_AES_256_GCM_SHA384");
    assert_int_equal(rt.cipher_usebits, 256);
    assert_int_equal(rt.cipher_algbits, 256);
    assert_string_equal(rt.kex_name, "X25519");
    assert_null(rt.kex_curve);
    assert_string_equal(rt.srvr_sig_name, "RSA-PSS");
    assert_int_equal(rt.srvr_sig_bits, 2048);
    assert_string_equal(rt.srvr_sig_dgst, "SHA256");
    assert_null(rt.clnt_sig_name);
    assert_null(rt.peer_cn);
    assert_int_equal(rt.ask_ccert, 0);

    /* As received_format() then writes it (Postfix 3.7's Received: form). */
    struct received_info ri = {.helo = "client.example", .name = "localhost",
                               .addr = "127.0.0.1", .myhostname = "mx.example.com",
                               .mail_name = "mxscreen", .protocol = "ESMTPS",
                               .queue_id = "4Q1", .recipient = "a@b", .rcpt_count = 1,
                               .tls = &rt, .arrival = 0};
    char hdr[1024];
    assert_int_equal(received_format(&ri, "\n", hdr, sizeof(hdr), NULL), 0);
    assert_non_null(strstr(hdr, "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
                                "(256/256 bits)\n\t key-exchange X25519 server-signature "
                                "RSA-PSS (2048 bits) server-digest SHA256)\n"
                                "\t(No client certificate requested)\n"));
    tls_conn_free(sv);
    tls_conn_free(cl);
    tls_client_free(k);
    tls_server_free(s);
}

static void tls12_names_no_kex(void **state)
{
    (void)state;
    struct tls_server *s = server("smtpd_tls_security_level = may\n"
                                  "smtpd_tls_cert_file = @/rsa.pem\n"
                                  "smtpd_tls_protocols = <=TLSv1.2\n");
    struct tls_client *k = client("smtp_tls_security_level = encrypt\n");
    struct tls_conn *sv = tls_conn_server(s), *cl = tls_conn_client(k, NULL);
    handshake(cl, sv);
    char sum[512];
    /* Postfix 3.7.11 logged "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384
     * (256/256 bits)": no key-exchange or signature before TLS 1.3. */
    assert_int_equal(tls_conn_summary(sv, sum, sizeof(sum)), 0);
    assert_string_equal(sum, "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)");
    struct received_tls rt;
    tls_conn_received(sv, &rt);
    assert_null(rt.kex_name);
    assert_null(rt.srvr_sig_name);
    tls_conn_free(sv);
    tls_conn_free(cl);
    tls_client_free(k);
    tls_server_free(s);
}

/* Which protocol and cipher come out of the protocol and cipher
 * parameters (the mandatory ones with encrypt), against an OpenSSL client
 * that offers everything it has. */
static void protocols_and_ciphers_negotiated(void **state)
{
    (void)state;
    static const struct {
        const char *cf, *protocol, *not_cipher;
    } cases[] = {
        {"smtpd_tls_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.3\n", "TLSv1.2", NULL},
        {"smtpd_tls_protocols = TLSv1.2\n", "TLSv1.2", NULL},
        {"smtpd_tls_protocols = TLSv1.3\n", "TLSv1.3", NULL},
        {"smtpd_tls_protocols = >=TLSv1.2 <=TLSv1.3\n", "TLSv1.3", NULL},
        {"smtpd_tls_protocols = >=TLSv1.2:<=TLSv1.2\n", "TLSv1.2", NULL},
        /* with encrypt only the mandatory_ parameters count */
        {"smtpd_tls_security_level = encrypt\nsmtpd_tls_protocols = TLSv1.3\n"
         "smtpd_tls_mandatory_protocols = <=TLSv1.2\n", "TLSv1.2", NULL},
        {"smtpd_tls_protocols = <=TLSv1.2\n"
         "smtpd_tls_exclude_ciphers = ECDHE-RSA-AES256-GCM-SHA384\n",
         "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"},
        {"smtpd_tls_protocols = <=TLSv1.2\nsmtpd_tls_ciphers = high\n"
         "smtpd_tls_exclude_ciphers = AESGCM, CHACHA20\n", "TLSv1.2", "GCM"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cf[512];
        snprintf(cf, sizeof(cf), "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.pem\n%s",
                 cases[i].cf);
        struct tls_server *s = server(cf);
        struct tls_client *k = client("smtp_tls_security_level = may\n");
        struct tls_conn *sv = tls_conn_server(s), *cl = tls_conn_client(k, NULL);
        handshake(cl, sv);
        struct received_tls rt;
        tls_conn_received(sv, &rt);
        print_message("case %zu: %s %s\n", i, rt.protocol, rt.cipher_name);
        assert_string_equal(rt.protocol, cases[i].protocol);
        if (cases[i].not_cipher)
            assert_null(strstr(rt.cipher_name, cases[i].not_cipher));
        tls_conn_free(sv);
        tls_conn_free(cl);
        tls_client_free(k);
        tls_server_free(s);
    }
}

static void ec_chain_file_and_strong_grade(void **state)
{
    (void)state;
    struct tls_server *s = server("smtpd_tls_security_level = may\n"
                                  "smtpd_tls_chain_files = @/ec.pem, @/rsa.pem\n"
                                  "smtpd_tls_eecdh_grade = strong\n");
    struct tls_client *k = client("smtp_tls_security_level = may\n");
    struct tls_conn *sv = tls_conn_server(s), *cl = tls_conn_client(k, "ec.example.com");
    handshake(cl, sv);
    char sum[512];
    /* Postfix 3.7.11 with an ECDSA P-256 certificate and a P-256 key share:
     * "... key-exchange ECDHE (prime256v1) server-signature ECDSA
     * (prime256v1) server-digest SHA256". OpenSSL's client prefers the
     * ECDSA certificate of the two. */
    assert_int_equal(tls_conn_summary(sv, sum, sizeof(sum)), 0);
    assert_string_equal(sum, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) "
                             "key-exchange ECDHE (prime256v1) server-signature ECDSA "
                             "(prime256v1) server-digest SHA256");
    assert_int_equal(tls_conn_peer_matches(cl, "ec.example.com"), 1);
    tls_conn_free(sv);
    tls_conn_free(cl);
    tls_client_free(k);
    tls_server_free(s);
}

static void client_certificate_asked_and_trusted(void **state)
{
    (void)state;
    struct tls_server *s = server("smtpd_tls_security_level = may\n"
                                  "smtpd_tls_cert_file = @/rsa.pem\n"
                                  "smtpd_tls_ask_ccert = yes\n"
                                  "smtpd_tls_CAfile = @/ec.pem\n");
    struct tls_client *k = client("smtp_tls_security_level = may\n"
                                  "smtp_tls_chain_files = @/ec.pem\n"
                                  "smtp_tls_CAfile = @/rsa.pem\n");
    struct tls_conn *sv = tls_conn_server(s), *cl = tls_conn_client(k, NULL);
    handshake(cl, sv);
    assert_string_equal(tls_conn_peer_status(sv), "Trusted");
    assert_string_equal(tls_conn_peer_status(cl), "Trusted");
    struct received_tls rt;
    tls_conn_received(sv, &rt);
    assert_string_equal(rt.peer_cn, "ec.example.com");
    assert_string_equal(rt.issuer_cn, "ec.example.com");
    assert_int_equal(rt.peer_trusted, 1);
    assert_int_equal(rt.ask_ccert, 1);
    assert_string_equal(rt.clnt_sig_name, "ECDSA");
    assert_string_equal(rt.clnt_sig_curve, "prime256v1");
    char sum[512];
    assert_int_equal(tls_conn_summary(sv, sum, sizeof(sum)), 0);
    /* Postfix 3.7.11 with smtpd_tls_ask_ccert = yes, the client's CA in
     * smtpd_tls_CAfile, logged "Trusted TLS connection established from
     * localhost[127.0.0.1]: " and then exactly this. */
    assert_string_equal(sum, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) "
                             "key-exchange X25519 server-signature RSA-PSS (2048 bits) "
                             "server-digest SHA256 client-signature ECDSA (prime256v1) "
                             "client-digest SHA256");
    tls_conn_free(sv);
    tls_conn_free(cl);
    tls_client_free(k);
    tls_server_free(s);
}

/* Write all of p through w, moving ciphertext to r and reading it there. */
static void transfer(struct tls_conn *w, struct tls_conn *r, const unsigned char *p, size_t n)
{
    unsigned char *got = malloc(n);
    size_t sent = 0, recvd = 0;
    assert_non_null(got);
    while (recvd < n) {
        long t = sent < n ? tls_conn_write(w, p + sent, n - sent) : 0;
        assert_true(t >= 0);
        assert_true(t <= TLS_CONN_WRITE_MAX);
        sent += (size_t)t;
        move(w, r);
        long g;
        while ((g = tls_conn_read(r, got + recvd, n - recvd)) > 0)
            recvd += (size_t)g;
        assert_int_equal(g, 0);
        move(r, w); /* session tickets, key updates */
    }
    assert_memory_equal(got, p, n);
    free(got);
}

static void data_both_ways_and_close_notify(void **state)
{
    (void)state;
    struct tls_server *s = server("smtpd_tls_security_level = may\n"
                                  "smtpd_tls_cert_file = @/rsa.pem\n");
    struct tls_client *k = client("smtp_tls_security_level = may\n");
    struct tls_conn *sv = tls_conn_server(s), *cl = tls_conn_client(k, NULL);
    handshake(cl, sv);

    transfer(cl, sv, (const unsigned char *)"EHLO client.example\r\n", 21);
    transfer(sv, cl, (const unsigned char *)"250-mx.example.com\r\n250 8BITMIME\r\n", 34);

    /* More than one 16 KiB record each way. */
    size_t big = 70000;
    unsigned char *p = malloc(big);
    assert_non_null(p);
    for (size_t i = 0; i < big; i++)
        p[i] = (unsigned char)(i * 7 + i / 251);
    transfer(cl, sv, p, big);
    transfer(sv, cl, p, big);

    /* Ciphertext waiting beyond TLS_CONN_WRITE_MAX: no more is taken. */
    assert_int_equal(tls_conn_write(sv, p, TLS_CONN_WRITE_MAX), TLS_CONN_WRITE_MAX);
    assert_int_equal(tls_conn_write(sv, p, 100), 0);
    move(sv, cl);
    unsigned char buf[TLS_CONN_WRITE_MAX];
    long got = 0, g;
    while ((g = tls_conn_read(cl, buf + got, sizeof(buf) - (size_t)got)) > 0)
        got += g;
    assert_int_equal(got, TLS_CONN_WRITE_MAX);
    assert_int_equal(tls_conn_write(sv, p, 100), 100);
    move(sv, cl);
    assert_int_equal(tls_conn_read(cl, buf, sizeof(buf)), 100);
    free(p);

    /* close_notify from the client: the server reads -ECONNRESET. */
    tls_conn_close_notify(cl);
    assert_true(move(cl, sv) > 0);
    tls_conn_close_notify(cl); /* once only */
    assert_int_equal(tls_conn_cipher_pending(cl), 0);
    assert_int_equal(tls_conn_read(sv, buf, sizeof(buf)), -ECONNRESET);
    tls_conn_free(sv);
    tls_conn_free(cl);
    tls_client_free(k);
    tls_server_free(s);
}

static void garbage_and_limits(void **state)
{
    (void)state;
    struct tls_server *s = server("smtpd_tls_security_level = may\n"
                                  "smtpd_tls_cert_file = @/rsa.pem\n");
    struct tls_conn *sv = tls_conn_server(s);
    assert_string_equal(tls_conn_error(sv), "");
    /* Nothing yet: the handshake waits. */
    assert_int_equal(tls_conn_handshake(sv), 0);
    /* A plaintext line where a ClientHello should be: Postfix 3.7.11 logged
     * "SSL_accept error from localhost[127.0.0.1]: -1" and "warning: TLS
     * library problem: error:0A00010B:SSL routines::wrong version
     * number:../ssl/record/ssl3_record.c:350:". */
    static const char junk[] = "GARBAGE NOT TLS\r\n\r\n";
    assert_int_equal(tls_conn_cipher_in(sv, junk, sizeof(junk) - 1), sizeof(junk) - 1);
    assert_int_equal(tls_conn_handshake(sv), -EPROTO);
    assert_non_null(strstr(tls_conn_error(sv), "wrong version number"));
    assert_non_null(strstr(tls_conn_error(sv), "error:0A00010B:SSL routines"));
    tls_conn_log_error(sv, "localhost[127.0.0.1]", 0);
    tls_conn_log_error(sv, "localhost[127.0.0.1]", 1);
    tls_conn_free(sv);

    /* A ClientHello-shaped record with a broken body. */
    sv = tls_conn_server(s);
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00,
                                          0x04, 0x03, 0x03, 0xff, 0xff};
    tls_conn_cipher_in(sv, hello, sizeof(hello));
    assert_int_equal(tls_conn_handshake(sv), -EPROTO);
    assert_true(strlen(tls_conn_error(sv)) > 0);
    tls_conn_free(sv);

    /* Ciphertext in is bounded. */
    sv = tls_conn_server(s);
    size_t n = TLS_CONN_IN_MAX + 1000;
    char *lots = calloc(1, n);
    assert_non_null(lots);
    assert_int_equal(tls_conn_cipher_in(sv, lots, n), TLS_CONN_IN_MAX);
    assert_int_equal(tls_conn_cipher_in(sv, lots, 10), 0);
    free(lots);
    tls_conn_free(sv);
    tls_server_free(s);
}

/* The queue runner's session cache: a session saved from one connection
 * resumes the next (the server's stateless ticket); with
 * smtpd_tls_session_cache_timeout = 0 the server issues none. */
static void client_session_resumes(void **state)
{
    (void)state;
    static const char *const cf[] = {
        "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.pem\n",
        "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.pem\n"
        "smtpd_tls_protocols = <=TLSv1.2\n",
        "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = @/rsa.pem\n"
        "smtpd_tls_session_cache_timeout = 0\n",
    };
    for (size_t i = 0; i < sizeof(cf) / sizeof(cf[0]); i++) {
        struct tls_server *s = server(cf[i]);
        struct tls_client *k = client("smtp_tls_security_level = may\n");
        struct tls_conn *sv = tls_conn_server(s), *cl = tls_conn_client(k, "mx.example.com");
        unsigned char der[8192], small[8];
        size_t len = 0;
        assert_int_equal(tls_conn_session_save(cl, der, sizeof(der), &len), -ENOENT);
        assert_int_equal(tls_conn_session_load(sv, "x", 1), -EINVAL);
        handshake(cl, sv);
        assert_int_equal(tls_conn_reused(cl), 0);
        /* The TLS 1.3 ticket comes with the first data read. */
        transfer(sv, cl, (const unsigned char *)"220 ready\r\n", 11);
        int rc = tls_conn_session_save(cl, der, sizeof(der), &len);
        if (rc == 0) {
            size_t need = 0;
            assert_int_equal(tls_conn_session_save(cl, small, sizeof(small), &need), -ENOSPC);
            assert_int_equal(need, len);
        }
        tls_conn_free(sv);
        tls_conn_free(cl);
        if (i == 2) {
            assert_int_equal(rc, -ENOENT);
        } else {
            assert_int_equal(rc, 0);
            assert_true(len > 0);
            size_t len2 = 1;
            assert_int_equal(tls_conn_session_save(cl = tls_conn_client(k, NULL), small,
                                                   sizeof(small), &len2), -ENOENT);
            assert_int_equal(len2, 0);
            tls_conn_free(cl);
            sv = tls_conn_server(s);
            cl = tls_conn_client(k, "mx.example.com");
            assert_int_equal(tls_conn_session_load(cl, "garbage", 7), -EINVAL);
            assert_int_equal(tls_conn_session_load(cl, der, len), 0);
            handshake(cl, sv);
            assert_int_equal(tls_conn_reused(cl), 1);
            assert_int_equal(tls_conn_reused(sv), 1);
            char sum[512];
            assert_int_equal(tls_conn_summary(sv, sum, sizeof(sum)), 0);
            print_message("resumed: %s\n", sum);
            tls_conn_log_summary(cl, "mx.example.com[127.0.0.1]:25");
            transfer(cl, sv, (const unsigned char *)"QUIT\r\n", 6);
            tls_conn_free(sv);
            tls_conn_free(cl);
        }
        tls_client_free(k);
        tls_server_free(s);
    }
}

/* The TLS lines of the seed configuration (seeds/003: "smtpd_use_tls =
 * yes" with cert, key and CA files, "smtp_use_tls = yes" with a client
 * certificate, session cache tables, tls_random_source), with our files. */
static void seed_configuration(void **state)
{
    (void)state;
    static const char seed[] = "smtp_tls_CAfile = @/rsa.crt\n"
                               "smtp_tls_cert_file = @/ec.pem\n"
                               "smtp_tls_key_file = @/ec.key\n"
                               "smtp_tls_session_cache_database = btree:/var/run/smtp_tls_session_cache\n"
                               "smtp_use_tls = yes\n"
                               "smtpd_tls_CAfile = @/rsa.crt\n"
                               "smtpd_tls_cert_file = @/rsa.crt\n"
                               "smtpd_tls_key_file = @/rsa.key\n"
                               "smtpd_tls_received_header = yes\n"
                               "smtpd_tls_session_cache_database = btree:/var/run/smtpd_tls_session_cache\n"
                               "smtpd_use_tls = yes\n"
                               "tls_random_source = dev:/dev/urandom\n";
    struct tls_server *s = server(seed);
    struct tls_client *k = client(seed);
    assert_int_equal(tls_server_required(s), 0);
    struct tls_conn *sv = tls_conn_server(s), *cl = tls_conn_client(k, "mx.example.com");
    handshake(cl, sv);
    /* The server asks for no certificate, so the client sends none. */
    assert_string_equal(tls_conn_peer_status(sv), "Anonymous");
    /* smtp_tls_CAfile holds the server's certificate. */
    assert_string_equal(tls_conn_peer_status(cl), "Trusted");
    transfer(cl, sv, (const unsigned char *)"QUIT\r\n", 6);
    tls_conn_free(sv);
    tls_conn_free(cl);
    tls_client_free(k);
    tls_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(level_none_gives_no_context),
        cmocka_unit_test(broken_configurations_are_refused),
        cmocka_unit_test(rsa_tls13_as_postfix_logs_it),
        cmocka_unit_test(tls12_names_no_kex),
        cmocka_unit_test(protocols_and_ciphers_negotiated),
        cmocka_unit_test(ec_chain_file_and_strong_grade),
        cmocka_unit_test(client_certificate_asked_and_trusted),
        cmocka_unit_test(data_both_ways_and_close_notify),
        cmocka_unit_test(garbage_and_limits),
        cmocka_unit_test(seed_configuration),
        cmocka_unit_test(client_session_resumes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
