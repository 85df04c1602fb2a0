/*
 * mime_state_int.h - the parser state shared by mime_state.c (records and
 * the state machine) and mime_header.c (header names, Content-Type and
 * Content-Transfer-Encoding). Not for other callers.
 */
#ifndef MX_MIME_STATE_INT_H
#define MX_MIME_STATE_INT_H

#include "mime_state.h"

/* Content types and encodings Postfix's mime_state.c tells apart. */
enum { CTYPE_OTHER, CTYPE_TEXT, CTYPE_MESSAGE, CTYPE_MULTIPART };
enum { STYPE_OTHER, STYPE_PLAIN, STYPE_RFC822, STYPE_PARTIAL, STYPE_EXTERN_BODY };
enum { ENC_QP = 1, ENC_BASE64 = 2, ENC_7BIT = 7, ENC_8BIT = 8, ENC_BINARY = 9 };

/* Header names with a meaning here (header_opts.c's table, MIME part). */
enum { HDR_OTHER, HDR_MIME, HDR_CONTENT_TYPE, HDR_CONTENT_TRANSFER_ENCODING };

/* One pushed multipart boundary; its text lives in the boundary arena. */
struct mime_bound {
    int def_ctype, def_stype;
    size_t off, len;
};

/* A header_token() result; the value is kept up to cap bytes. */
struct mime_tok {
    int type; /* TOK_TOKEN, TOK_QSTRING, or the special character */
    size_t len; /* full length of the value */
    size_t kept; /* bytes stored in val */
    size_t trail_lwsp; /* trailing white space in the full value */
    char *val;
};
#define TOK_TOKEN 256
#define TOK_QSTRING 257
#define MIME_MAX_TOKEN 3

struct mime_state {
    struct mime_limits lim;
    unsigned opts;
    mime_unit_fn fn;
    void *ctx;

    /* Record layer (smtpd's smtp_get() loop). */
    char *rec;        /* line_length_limit + prefix + 1 */
    size_t rec_len;
    int cr_wait;      /* record full and ends in CR: the next byte decides */
    int smtpd_prev;   /* previous record type as smtpd saw it */
    int first;        /* next record is the first of the client's data */

    /* State machine (mime_state.c). */
    int curr_state, curr_ctype, curr_stype, curr_encoding, curr_domain;
    int prev_rec_type;
    unsigned err_flags;
    uint64_t body_offset;
    char *hdr;        /* the logical header being collected, NUL-terminated */
    size_t hdr_len, hdr_cap;
    int hdr_trunc;
    struct mime_bound *stack;
    unsigned depth;   /* Postfix's nesting_level */
    char *arena;      /* boundary strings, stack order */
    struct mime_tok tok[MIME_MAX_TOKEN];
    size_t tok_cap;
};

/* Record types (rec_type.h's REC_TYPE_NORM, _CONT, and "anything else"). */
#define REC_NORM 'N'
#define REC_CONT 'w'
#define REC_END 'X'

/* mime_header.c */
int mime_header_kind(const char *hdr, size_t len);
size_t mime_is_header(const char *s, size_t len);
void mime_content_type(struct mime_state *st, size_t name_len);
void mime_content_encoding(struct mime_state *st, size_t name_len);

#endif
