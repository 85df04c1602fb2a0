/*
 * ehlo_reply.h - the EHLO reply of mxscreen's SMTP server, built in one
 * place for the two processes that send it: the worker's session
 * (workers/session_cmds.c) and the frontend, which answers EHLO itself
 * while it runs postscreen's deep protocol tests and then hands the
 * client to a worker in the same session (frontend/fe_deep.c). The
 * client must not be able to tell the two apart, so both call this.
 *
 * The keywords and their order are Postfix 3.7 smtpd's ehlo_cmd(),
 * checked against the daemon: hostname, PIPELINING, SIZE [limit], VRFY,
 * ETRN, STARTTLS, XCLIENT, ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8,
 * CHUNKING; a discarded keyword is left out, and with all of them gone
 * the reply is the single line "250 HOSTNAME". The frontend discards
 * PIPELINING during its pipelining test (postscreen never announces it, so
 * that a client which pipelines anyway shows itself).
 *
 * The keyword lists (smtpd_discard_ehlo_keywords, the values of
 * smtpd_discard_ehlo_keyword_address_maps) are read as Postfix's
 * ehlo_mask() reads them, and the "discarding EHLO keywords: ..." log
 * text is Postfix 3.7's str_ehlo_mask(), checked with the daemon: its
 * own order, and SMTPUTF8 spelled "EHLO_MASK_SMTPUTF8" as 3.7 spells it.
 *
 * Pure: formats into the caller's buffer, nothing else. The lines are
 * joined by CRLF, without a CRLF after the last one (the session's reply
 * writer adds it).
 */
#ifndef MX_EHLO_REPLY_H
#define MX_EHLO_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keywords a configuration can discard (smtpd_discard_ehlo_keywords). */
#define EHLO_KW_PIPELINING (1u << 0)
#define EHLO_KW_SIZE (1u << 1)
#define EHLO_KW_VRFY (1u << 2)
#define EHLO_KW_ETRN (1u << 3)
#define EHLO_KW_STARTTLS (1u << 4)
#define EHLO_KW_ENHANCEDSTATUSCODES (1u << 5)
#define EHLO_KW_8BITMIME (1u << 6)
#define EHLO_KW_DSN (1u << 7)
#define EHLO_KW_SMTPUTF8 (1u << 8)
#define EHLO_KW_CHUNKING (1u << 9)
#define EHLO_KW_XCLIENT (1u << 10)
/* Known to Postfix's ehlo_mask() but never announced by us: they only
 * change what is logged. */
#define EHLO_KW_AUTH (1u << 11)
#define EHLO_KW_VERP (1u << 12)
#define EHLO_KW_XFORWARD (1u << 13)
/* "silent-discard": discard without the log line. */
#define EHLO_KW_SILENT (1u << 14)

struct ehlo_opts {
    const char *myhostname;
    uint64_t message_size_limit; /* 0: "SIZE" without a number */
    unsigned discard;            /* EHLO_KW_* not announced */
    bool vrfy;                   /* !disable_vrfy_command */
    bool starttls;               /* TLS offered and not yet active */
    bool xclient;                /* client in smtpd_authorized_xclient_hosts */
    bool smtputf8;               /* smtputf8_enable */
};

/* Longest reply for a myhostname of up to 255 bytes. */
#define EHLO_REPLY_MAX 640

/* Postfix's ehlo_mask(): the EHLO_KW_* bits of a keyword list such as
 * smtpd_discard_ehlo_keywords (case-insensitive; unknown words are
 * ignored, as Postfix ignores them). */
unsigned ehlo_reply_mask(const char *const *words, size_t n);

/* The same for one text, a map value such as "pipelining, dsn": words
 * separated by commas and white space (Postfix's CHARS_COMMA_SP). */
unsigned ehlo_reply_mask_text(const char *text, size_t len);

/* Whether smtpd logs "discarding EHLO keywords: ..." for this mask: some
 * bit set, no silent-discard, and (3.7's ehlo_cmd) not when
 * ENHANCEDSTATUSCODES itself is discarded. */
bool ehlo_reply_logged(unsigned mask);

/* Postfix's str_ehlo_mask(): the names of the bits, space-separated, in
 * Postfix's table order. Returns the length, or -ENOSPC (cut copy). */
int ehlo_reply_mask_str(unsigned mask, char *buf, size_t size);

/* Write the reply into buf (NUL-terminated). Returns its length, or
 * -ENOSPC when size is too small (buf then holds a cut copy). */
int ehlo_reply_format(const struct ehlo_opts *o, char *buf, size_t size);

#endif
