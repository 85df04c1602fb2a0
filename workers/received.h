/*
 * received.h - the Received: header exactly as Postfix 3.7's smtpd writes it.
 *
 *   Received: from HELO (NAME [ADDR])
 *   <eol>\t(using PROTO with cipher C (U/A bits)           TLS, optional
 *   <eol>\t key-exchange K server-signature S ...)
 *   <eol>\t(No client certificate requested)
 *   <eol>\tby MYHOSTNAME (MAIL_NAME) with PROTOCOL id QUEUEID
 *   <eol>\tfor <RCPT>; DATE                       (exactly one recipient)
 * or, with several recipients:
 *   <eol>\tby MYHOSTNAME (MAIL_NAME) with PROTOCOL id QUEUEID;
 *   <eol>\tDATE
 *
 * HELO is the client's HELO/EHLO argument, or NAME when none was given;
 * ADDR of an IPv6 client is written "IPv6:addr". DATE is mail_date():
 * "Sat,  7 Nov 2026 18:36:23 +0000 (UTC)" (day space-padded, numeric zone,
 * zone name in a comment). The header ends without a final <eol>.
 *
 * Every field from outside goes through Postfix's printable() ('?' for
 * anything not printable ASCII or UTF-8), TLS names through
 * comment_sanitize(), so no input can add a header line or unbalance a
 * comment. Pure: no I/O, no allocation; the time zone is the process's
 * (localtime_r).
 *
 * Failure: -ENOSPC when the header does not fit in size bytes, -EINVAL on
 * a missing required field; buf is then the empty string.
 */
#ifndef MX_RECEIVED_H
#define MX_RECEIVED_H

#include <stddef.h>
#include <time.h>

/* What the TLS library negotiated (Postfix's TLS_SESS_STATE fields).
 * Empty or NULL strings and zero bit counts are left out, as Postfix does. */
struct received_tls {
    const char *protocol;    /* "TLSv1.3" */
    const char *cipher_name; /* "TLS_AES_256_GCM_SHA384" */
    int cipher_usebits, cipher_algbits;
    const char *kex_name, *kex_curve;  /* "X25519", or "ECDHE" + "prime256v1" */
    int kex_bits;                      /* FFDHE group size when no curve */
    const char *srvr_sig_name, *srvr_sig_curve, *srvr_sig_dgst;
    int srvr_sig_bits;
    const char *clnt_sig_name, *clnt_sig_curve, *clnt_sig_dgst;
    int clnt_sig_bits;
    const char *peer_cn;   /* NULL: the client presented no certificate */
    const char *issuer_cn;
    int peer_trusted;      /* certificate chain verified */
    int ask_ccert;         /* smtpd_tls_ask_ccert = yes */
};

struct received_info {
    const char *helo;       /* NULL: no HELO/EHLO (NAME is used) */
    const char *name;       /* client name, "unknown" when not verified */
    const char *addr;       /* "192.0.2.1", "2001:db8::1" */
    const char *myhostname;
    const char *mail_name;  /* "Postfix" in Postfix; ours says "mxscreen" */
    const char *protocol;   /* "SMTP", "ESMTP", "ESMTPS", ... */
    const char *queue_id;   /* NULL: no " id ..." (Postfix's proxy case) */
    const char *recipient;  /* the recipient when rcpt_count == 1 (internal form) */
    unsigned rcpt_count;
    const struct received_tls *tls; /* NULL: no TLS or smtpd_tls_received_header = no */
    time_t arrival;         /* when DATA began */
};

/* Write the header into buf (NUL-terminated), lines joined by eol ("\r\n"
 * for SMTP output, "\n" for a spool); *len (may be NULL) gets its length. */
int received_format(const struct received_info *ri, const char *eol, char *buf,
                    size_t size, size_t *len);

/* mail_date(): "%a, %e %b %Y %H:%M:%S +hhmm (%Z)" in local time. */
int received_date(time_t t, char *buf, size_t size);

#endif
