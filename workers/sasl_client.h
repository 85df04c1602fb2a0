/*
 * sasl_client.h - the SMTP client's side of SASL authentication to the next
 * hop (RFC 4954), mechanisms PLAIN (RFC 4616) and LOGIN, as Postfix's
 * smtp(8) runs them through Cyrus SASL; pure: no I/O, no globals.
 *
 * Pieces:
 *   - sasl_options_parse(): smtp_sasl_security_options /
 *     smtp_sasl_tls_security_options words -> SASL_SEC_* flags;
 *   - sasl_filter_parse(): smtp_sasl_mechanism_filter -> a mechanism mask;
 *   - sasl_mechs_usable(): offered & filter & allowed by the options (PLAIN
 *     and LOGIN pass credentials in the clear inside the session, so Cyrus
 *     refuses both under noplaintext, noactive, nodictionary, mutual_auth
 *     and forward_secrecy; noanonymous refuses neither);
 *   - sasl_passwd_parse(): a smtp_sasl_password_maps value "user:password"
 *     (split at the first ':', as Postfix's split_at(); no ':' = empty
 *     password);
 *   - the exchange: sasl_client_start() gives the AUTH command line,
 *     sasl_client_step() takes each complete server reply (delimited by
 *     smtp_reply_parse()) and gives the next line, or says done / failed.
 *     PLAIN goes with its initial response ("AUTH PLAIN <b64>"); LOGIN
 *     answers the first 334 with the user name and the second with the
 *     password, whatever the prompt text says (Cyrus's LOGIN plugin does
 *     the same), but the challenge must be valid base64 (Postfix: "malformed
 *     SASL challenge from server").
 *   - sasl_b64_encode()/sasl_b64_decode(): RFC 4648 base64, strict on
 *     decode (no whitespace, padding only at the end, no bits left over).
 *
 * Failure: parsers return -EINVAL (err says which word), encoders -ENOSPC
 * when the output does not fit. The exchange reports SASL_STEP_FAILED with
 * a Postfix reason in s->why: "SASL authentication failed; server %s said:
 * <reply>" for a 4xx/5xx, "... cannot authenticate to server %s: malformed
 * SASL challenge from server" for a bad 334. Credentials are copied into the
 * struct and wiped by sasl_client_clear().
 */
#ifndef MX_SASL_CLIENT_H
#define MX_SASL_CLIENT_H

#include <stddef.h>

/* Mechanisms: the same bits as smtp_reply.h's SMTP_AUTH_PLAIN/LOGIN. */
enum sasl_mech {
    SASL_MECH_NONE = 0,
    SASL_MECH_PLAIN = 1u << 0,
    SASL_MECH_LOGIN = 1u << 1,
};
#define SASL_MECH_ALL (SASL_MECH_PLAIN | SASL_MECH_LOGIN)

/* smtp_sasl_*security_options words (Cyrus SASL_SEC_* names). */
enum {
    SASL_SEC_NOPLAINTEXT = 1u << 0,
    SASL_SEC_NOACTIVE = 1u << 1,
    SASL_SEC_NODICTIONARY = 1u << 2,
    SASL_SEC_NOANONYMOUS = 1u << 3,
    SASL_SEC_MUTUAL_AUTH = 1u << 4,
    SASL_SEC_FORWARD_SECRECY = 1u << 5,
};

#define SASL_CRED_MAX 256            /* user name or password, bytes */
#define SASL_LINE_MAX 1024           /* one line we send, CRLF and NUL included */
#define SASL_WHY_MAX 1200

/* Options list (words separated by blanks or commas; empty: none).
 * 0 with *flags, or -EINVAL with err naming the word. */
int sasl_options_parse(const char *buf, size_t len, unsigned *flags, char *err, size_t errlen);
/* Mechanism filter: names, "!name" to exclude; empty: every mechanism.
 * Names we have no code for are accepted and match nothing we offer. */
int sasl_filter_parse(const char *buf, size_t len, unsigned *mask, char *err, size_t errlen);
/* The mechanisms we may use. */
unsigned sasl_mechs_usable(unsigned offered, unsigned filter, unsigned sec_flags);
/* The mechanism to try: PLAIN (one round trip) before LOGIN. */
enum sasl_mech sasl_mech_pick(unsigned usable);
const char *sasl_mech_name(enum sasl_mech m);

/* "user:password" -> user and password, NUL-terminated. -EINVAL: empty
 * user, a NUL byte, or either part too long. */
int sasl_passwd_parse(const char *buf, size_t len, char *user, char *pass);

/* Base64. encode: -ENOSPC unless cap >= 4 * ceil(len / 3) + 1 (NUL added).
 * decode: -EINVAL on anything but canonical base64, -ENOSPC when the result
 * does not fit; *outlen bytes, not NUL-terminated. */
int sasl_b64_encode(const void *in, size_t len, char *out, size_t cap, size_t *outlen);
int sasl_b64_decode(const char *in, size_t len, void *out, size_t cap, size_t *outlen);

enum sasl_step {
    SASL_STEP_SEND,     /* out holds the next line to send (CRLF ended) */
    SASL_STEP_DONE,     /* 235: authenticated */
    SASL_STEP_FAILED,   /* s->why says why; s->code/s->dsn the reply's */
};

struct sasl_client {
    enum sasl_mech mech;
    unsigned step;            /* 334 challenges answered */
    int code;                 /* the final reply's code (451 when made up) */
    char dsn[12];             /* its enhanced status code, "4.7.0" when made up */
    char server[300];         /* host[addr], for the reason text */
    char user[SASL_CRED_MAX];
    char pass[SASL_CRED_MAX];
    char why[SASL_WHY_MAX];
};

/* Begin with mechanism m: writes "AUTH PLAIN <b64>\r\n" or "AUTH LOGIN\r\n"
 * into out (SASL_LINE_MAX bytes) with *outlen. -EINVAL for an unknown
 * mechanism, -ENOSPC when the credentials make the line too long. */
int sasl_client_start(struct sasl_client *s, enum sasl_mech m, const char *user,
                      const char *pass, const char *server, char *out, size_t *outlen);
/* One complete reply buf/len (CRLF or LF line ends, as delimited by
 * smtp_reply_parse()) with its code. For SASL_STEP_SEND the next line is in
 * out (SASL_LINE_MAX bytes). */
enum sasl_step sasl_client_step(struct sasl_client *s, const char *buf, size_t len, int code,
                                char *out, size_t *outlen);
/* Postfix's reason for a session that could not start: "SASL
 * authentication failed; cannot authenticate to server %s: %s". */
void sasl_client_fail(struct sasl_client *s, const char *server, const char *what);
/* Wipe the credentials. */
void sasl_client_clear(struct sasl_client *s);

#endif
