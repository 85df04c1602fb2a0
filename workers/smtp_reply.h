/*
 * smtp_reply.h - parser of SMTP server replies and EHLO capabilities (pure).
 *
 * smtp_reply_parse() looks at the bytes read so far from a server and says
 * whether they start with one complete reply (SMTP_REPLY_OK: out->len bytes
 * to drop, code, line count, enhanced status code), need more bytes
 * (SMTP_REPLY_NEED_MORE), or are not a reply (SMTP_REPLY_BAD, *why says
 * what is wrong, for the log line). It is resumable: keep the same struct
 * (zeroed by smtp_reply_reset() before the first call) and pass the same,
 * grown buffer; lines already checked are not scanned again, so feeding a
 * reply byte by byte costs O(n).
 *
 * Syntax accepted (RFC 5321 4.2): each line is three digits (2-5, 0-5,
 * 0-9), then '-' (more lines follow), ' ' or nothing (last line), text,
 * CRLF. A bare LF ends a line too (Postfix's smtp_get() accepts it; the CR
 * is not part of the text). Deliberately stricter than Postfix's
 * smtpd_proxy, which skips garbage lines: garbage, a code that changes
 * between lines, a NUL byte, a line longer than SMTP_REPLY_LINE_MAX, more
 * than SMTP_REPLY_LINES_MAX lines or SMTP_REPLY_BYTES_MAX bytes give
 * SMTP_REPLY_BAD, and the caller drops the connection: a next hop that
 * talks garbage cannot be trusted with the rest of the session.
 *
 * smtp_ehlo_parse() reads the capabilities from a complete EHLO reply.
 * Nothing is allocated; no global state.
 */
#ifndef MX_SMTP_REPLY_H
#define MX_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

/* Postfix's line_length_limit: longest reply line, without the line end. */
#define SMTP_REPLY_LINE_MAX 2048
#define SMTP_REPLY_LINES_MAX 100
/* Whole reply, line ends included: bounds the caller's input buffer. */
#define SMTP_REPLY_BYTES_MAX 16384

enum smtp_reply_result { SMTP_REPLY_OK, SMTP_REPLY_NEED_MORE, SMTP_REPLY_BAD };

struct smtp_reply {
    /* Progress between calls: bytes of complete lines checked so far. */
    size_t pos;
    /* Results. code and nlines grow as lines are checked; the rest is
     * valid on SMTP_REPLY_OK only. */
    int code;         /* 200..559 */
    unsigned nlines;
    size_t len;       /* bytes of the reply, the final line end included */
    size_t text_off;  /* first line's text after "NNN " (and after the dsn) */
    size_t text_len;
    char dsn[12];     /* enhanced status code of the first line ("4.2.0"),
                         "" when absent or of another class than code */
};

void smtp_reply_reset(struct smtp_reply *r);
enum smtp_reply_result smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *r,
                                        const char **why);

/* Copy the reply as Postfix's smtpd_proxy relays it to its client: lines
 * joined with "\r\n" (no final line end), bytes that are not printable
 * ASCII replaced by '?', lines appended only while the copy is shorter
 * than SMTP_REPLY_LINE_MAX (so at most two lines' worth). dst must hold
 * SMTP_REPLY_COPY_MAX bytes; the result is NUL-terminated. Returns its
 * length. buf/len is a complete reply as smtp_reply_parse() delimited it. */
#define SMTP_REPLY_COPY_MAX (2 * SMTP_REPLY_LINE_MAX + 3)
size_t smtp_reply_copy(const char *buf, size_t len, char *dst);

/* EHLO capabilities (RFC 1869 keywords, case-insensitive). */
enum {
    SMTP_EXT_PIPELINING = 1u << 0,
    SMTP_EXT_SIZE = 1u << 1,
    SMTP_EXT_8BITMIME = 1u << 2,
    SMTP_EXT_SMTPUTF8 = 1u << 3,
    SMTP_EXT_STARTTLS = 1u << 4,
    SMTP_EXT_AUTH = 1u << 5,
    SMTP_EXT_ENHANCEDSTATUSCODES = 1u << 6,
    SMTP_EXT_CHUNKING = 1u << 7,
    SMTP_EXT_DSN = 1u << 8,
};
/* SASL mechanisms named by AUTH (or the old "AUTH=" form). */
enum {
    SMTP_AUTH_PLAIN = 1u << 0,
    SMTP_AUTH_LOGIN = 1u << 1,
    SMTP_AUTH_CRAM_MD5 = 1u << 2,
    SMTP_AUTH_XOAUTH2 = 1u << 3,
    SMTP_AUTH_OTHER = 1u << 4,
};

struct smtp_ehlo {
    unsigned ext;       /* SMTP_EXT_* */
    unsigned auth;      /* SMTP_AUTH_* */
    uint64_t size_max;  /* SIZE n; 0 = no limit announced (or unreadable) */
};

/* buf/len: one complete reply (smtp_reply_parse() said OK). The first line
 * is the server's name and is skipped. Unknown keywords are ignored. */
void smtp_ehlo_parse(const char *buf, size_t len, struct smtp_ehlo *out);

#endif
