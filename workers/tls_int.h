/*
 * tls_int.h - what tls.c (contexts) and tls_conn.c (connections) share.
 * Not for other modules: they see only tls.h.
 */
#ifndef MX_TLS_INT_H
#define MX_TLS_INT_H

#include <openssl/ssl.h>

/* One generation's context, server or client side. */
struct tls_ctx {
    SSL_CTX *ctx;
    int server;     /* 1: smtpd side, 0: queue runner side */
    int required;   /* level encrypt (or above for the client) */
    int loglevel;   /* smtpd_tls_loglevel / smtp_tls_loglevel */
    int ask_ccert;  /* smtpd_tls_ask_ccert: for the Received: header */
};

struct tls_server {
    struct tls_ctx c;
};

struct tls_client {
    struct tls_ctx c;
};

struct tls_conn *tls_conn_new(const struct tls_ctx *t, const char *sni);

#endif
