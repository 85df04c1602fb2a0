/*
 * tls.h - TLS for the workers (STARTTLS server) and the queue runner
 * (STARTTLS client): a sans-I/O engine over OpenSSL 3 memory BIOs.
 *
 * The caller's io_uring loop moves the bytes; nothing here touches a
 * socket or blocks. A connection is driven like this:
 *
 *   c = tls_conn_server(srv);             after "220 2.0.0 Ready to start TLS"
 *   loop: bytes from the socket     -> tls_conn_cipher_in(c, ...)
 *         tls_conn_handshake(c) / tls_conn_read(c) / tls_conn_write(c)
 *         while tls_conn_cipher_pending(c): tls_conn_cipher_out(c) -> socket
 *
 * Any call may produce ciphertext (handshake messages, alerts, session
 * tickets, TLS 1.3 key updates answered during tls_conn_read), so the
 * caller checks tls_conn_cipher_pending() after each of them.
 *
 * Contexts: one struct tls_server (and one struct tls_client) per
 * configuration generation, built by the master from the typed
 * parameters; built before fork, it is shared copy-on-write by the
 * workers (and so are its session ticket keys). A connection holds only an
 * SSL object, two memory BIOs and the negotiated facts: no per-connection
 * SSL_CTX, and SSL_MODE_RELEASE_BUFFERS gives the record buffers back
 * between records. A connection keeps its context alive by reference (an
 * older generation may be freed while its connections finish).
 *
 * Failure: context creation returns -EINVAL with err naming the parameter
 * and the file (a broken TLS configuration is refused at load, where
 * Postfix would only warn and run without TLS), -ENOMEM when OpenSSL
 * cannot allocate. Connection calls return -EPROTO on a TLS failure with
 * tls_conn_error() saying why; tls_conn_log_error() writes Postfix's lines.
 */
#ifndef MX_TLS_H
#define MX_TLS_H

#include <stddef.h>

#include "config.h"
#include "received.h"

/* ---- contexts (tls.c) -------------------------------------------------- */

struct tls_server;
/* *out = NULL (and 0) when smtpd_tls_security_level is none (empty resolves
 * through smtpd_use_tls/smtpd_enforce_tls at config load). With may or
 * encrypt: SSL_CTX from smtpd_tls_chain_files, or else smtpd_tls_cert_file
 * + smtpd_tls_key_file; protocols and cipher grade from smtpd_tls_protocols
 * and smtpd_tls_ciphers (the mandatory_ ones with encrypt),
 * smtpd_tls_exclude_ciphers, smtpd_tls_eecdh_grade, smtpd_tls_CAfile/
 * CApath with smtpd_tls_ask_ccert, smtpd_tls_session_cache_timeout (0: no
 * session tickets). smtpd_tls_dh1024_param_file is ignored with a note:
 * OpenSSL 3 picks an RFC 7919 group itself. */
int tls_server_create(const struct config *cfg, struct tls_server **out, char *err,
                      size_t errlen);
void tls_server_free(struct tls_server *s);
/* smtpd_tls_security_level = encrypt. */
int tls_server_required(const struct tls_server *s);
/* smtpd_tls_loglevel: >= 1 means log the "TLS connection established"
 * summary (Postfix's TLS_LOG_SUMMARY). */
int tls_server_loglevel(const struct tls_server *s);

struct tls_client;
/* The queue runner's context from smtp_tls_*: *out = NULL (and 0) when
 * smtp_tls_security_level is none. Client certificate from
 * smtp_tls_chain_files or smtp_tls_cert_file/smtp_tls_key_file (optional:
 * none configured is fine), trust anchors from smtp_tls_CAfile/CApath,
 * protocols and ciphers (the mandatory_ ones at encrypt and above). The
 * handshake never fails on an untrusted certificate: the caller decides
 * from tls_conn_peer_status() and tls_conn_peer_matches(), as the levels
 * (may, encrypt, verify, secure...) require. */
int tls_client_create(const struct config *cfg, struct tls_client **out, char *err,
                      size_t errlen);
void tls_client_free(struct tls_client *c);
/* smtp_tls_loglevel, as tls_server_loglevel(). */
int tls_client_loglevel(const struct tls_client *c);

/* ---- connections (tls_conn.c) ------------------------------------------ */

struct tls_conn;
/* NULL on allocation failure. */
struct tls_conn *tls_conn_server(const struct tls_server *s);
/* sni: the name sent in the server_name extension (NULL or "": none;
 * smtp_tls_servername decides in the caller). NULL on allocation failure. */
struct tls_conn *tls_conn_client(const struct tls_client *c, const char *sni);
void tls_conn_free(struct tls_conn *c);

/* Ciphertext from the socket: returns bytes taken (all, unless
 * TLS_CONN_IN_MAX bytes already wait unread; then call tls_conn_read or
 * tls_conn_handshake first). */
#define TLS_CONN_IN_MAX (64 * 1024)
size_t tls_conn_cipher_in(struct tls_conn *c, const void *p, size_t n);
/* Ciphertext to send: copy up to cap bytes out, returns the count. */
size_t tls_conn_cipher_out(struct tls_conn *c, void *buf, size_t cap);
size_t tls_conn_cipher_pending(const struct tls_conn *c);

/* Handshake step: 1 done, 0 needs more ciphertext in (after flushing
 * what is pending out), -EPROTO failed (tls_conn_error() says why; an
 * alert for the peer may be pending out). */
int tls_conn_handshake(struct tls_conn *c);
/* Plaintext: > 0 bytes, 0 = need more ciphertext, -ECONNRESET on the
 * peer's close_notify, -EPROTO on error (also before the handshake). */
long tls_conn_read(struct tls_conn *c, void *buf, size_t cap);
/* Plaintext to encrypt: returns bytes taken (at most TLS_CONN_WRITE_MAX a
 * call; 0 while more than TLS_CONN_WRITE_MAX bytes of ciphertext wait in
 * tls_conn_cipher_out), -EPROTO on error. A call never needs repeating
 * with the same bytes: what was taken is encrypted. */
#define TLS_CONN_WRITE_MAX (16 * 1024)
long tls_conn_write(struct tls_conn *c, const void *buf, size_t n);
/* Queue a close_notify alert (then flush tls_conn_cipher_out). */
void tls_conn_close_notify(struct tls_conn *c);
/* Why the last call failed: OpenSSL's "error:0A00010B:SSL routines::wrong
 * version number", "" when nothing failed. */
const char *tls_conn_error(const struct tls_conn *c);
/* Postfix's lines for a failed handshake, as tls_server.c/tls_client.c
 * log them: "SSL_accept error from host[addr]: -1" followed by
 * "warning: TLS library problem: error:...:file:line:" (or "SSL_connect
 * error to ..." on the client side). lost = the peer closed or the
 * handshake timed out: "SSL_accept error from host[addr]: lost connection". */
void tls_conn_log_error(const struct tls_conn *c, const char *namaddr, int lost);

/* What was negotiated (valid after tls_conn_handshake() returned 1). */
/* For the Received: header: strings owned by c. */
void tls_conn_received(const struct tls_conn *c, struct received_tls *out);
/* Postfix's summary after "Anonymous TLS connection established from
 * host[addr]: ", e.g. "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384
 * (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits)
 * server-digest SHA256". Key exchange and signatures are given for TLS
 * 1.3 only, as Postfix 3.7 does. Returns 0, or -ENOSPC (truncated). */
int tls_conn_summary(const struct tls_conn *c, char *buf, size_t size);
/* The first word of that line: "Anonymous" (no peer certificate),
 * "Untrusted", "Trusted" (chain verified). */
const char *tls_conn_peer_status(const struct tls_conn *c);
/* Logs Postfix's whole line "Anonymous TLS connection established from
 * host[addr]: ..." (server) or "Untrusted TLS connection established to
 * host[addr]:port: ..." (client; "reused" for a resumed session, as
 * Postfix's client says; its server always says "established"). */
void tls_conn_log_summary(const struct tls_conn *c, const char *namaddr);
/* Session resumption for the queue runner's cache (issue 5): the
 * client's session as DER bytes, to store per next hop. In TLS 1.3 the
 * server's ticket arrives after the handshake, with the first
 * tls_conn_read(). Returns 0 with *len set, -ENOENT when there is nothing
 * resumable yet, -ENOSPC when cap is too small (*len says how much). */
int tls_conn_session_save(const struct tls_conn *c, unsigned char *buf, size_t cap,
                          size_t *len);
/* Offer a saved session in the next handshake (client side, before
 * tls_conn_handshake()). -EINVAL: bytes not a session, or a server-side
 * connection; the handshake then simply runs in full. */
int tls_conn_session_load(struct tls_conn *c, const void *der, size_t len);
/* The handshake resumed a session (Postfix's "reused" in the client's
 * summary line). */
int tls_conn_reused(const struct tls_conn *c);
/* Client side: the peer certificate names host (RFC 6125 rules, one
 * leading wildcard label) -> 1, else 0. */
int tls_conn_peer_matches(const struct tls_conn *c, const char *host);
/* Client side: the certificate passed the level's name check, so the
 * summary line says "Verified" (Postfix's TLS_CERT_IS_MATCHED). */
void tls_conn_set_matched(struct tls_conn *c);
/* Client side: OpenSSL's verification result (X509_V_OK when trusted or
 * no certificate), and the issuer's CN ("" when none), for Postfix's
 * "server certificate verification failed for ..." lines. */
long tls_conn_verify_result(const struct tls_conn *c);
const char *tls_conn_issuer_cn(const struct tls_conn *c);

#endif
