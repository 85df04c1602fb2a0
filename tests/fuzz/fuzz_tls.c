/* fuzz_tls.c - any bytes as a TLS client's ciphertext into the server
 * engine: tls_conn_cipher_in() in chunks (the first byte picks the chunk
 * size, as a socket splits reads), tls_conn_handshake() after each, the
 * ciphertext out drained, then tls_conn_read()/tls_conn_write() tried.
 * The context is built once from an EC certificate made at start-up.
 * Invariants: a failure always comes with a reason, cipher_in never takes
 * more than offered, no plaintext moves before the handshake is done. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tls_server *srv;
static char dir[64], pem[96];

static void cleanup(void)
{
    tls_server_free(srv);
    unlink(pem);
    rmdir(dir);
}

static void init(void)
{
    strcpy(dir, "/tmp/fuzz_tls.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(pem, sizeof(pem), "%s/ec.pem", dir);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!k || !x)
        abort();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"fuzz.example", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    FILE *f = fopen(pem, "w");
    if (!f || !X509_sign(x, k, EVP_sha256()) || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)
        || !PEM_write_X509(f, x))
        abort();
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);

    char cf[256];
    int n = snprintf(cf, sizeof(cf), "smtpd_tls_security_level = may\nsmtpd_tls_chain_files = %s\n"
                     "smtpd_tls_ask_ccert = yes\n", pem);
    struct config cfg;
    char err[256];
    if (config_load_buf(dir, cf, (size_t)n, &cfg, NULL) != 0
        || tls_server_create(&cfg, &srv, err, sizeof(err)) != 0 || !srv)
        abort();
    config_free(&cfg);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv)
        init();
    if (size == 0)
        return 0;
    size_t chunk = (size_t)data[0] * 37 + 1;
    data++, size--;
    struct tls_conn *c = tls_conn_server(srv);
    if (!c)
        return 0;
    unsigned char out[4096];
    int hs = 0;
    while (size > 0 && hs == 0) {
        size_t n = size < chunk ? size : chunk;
        size_t took = tls_conn_cipher_in(c, data, n);
        if (took > n)
            __builtin_trap();
        data += took, size -= took;
        hs = tls_conn_handshake(c);
        if (hs < 0 && tls_conn_error(c)[0] == 0)
            __builtin_trap();
        while (tls_conn_cipher_out(c, out, sizeof(out)) > 0)
            ;
        if (took == 0 && hs == 0)
            break;
    }
    if (hs == 1) {
        long r = tls_conn_read(c, out, sizeof(out));
        if (r > (long)sizeof(out))
            __builtin_trap();
        char sum[512];
        tls_conn_summary(c, sum, sizeof(sum));
    } else if (tls_conn_read(c, out, sizeof(out)) != -EPROTO || tls_conn_write(c, "x", 1) != -EPROTO) {
        __builtin_trap();
    }
    tls_conn_close_notify(c);
    tls_conn_free(c);
    return 0;
}
