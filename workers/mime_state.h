/*
 * mime_state.h - streaming message-content parser for header_checks,
 * mime_header_checks, nested_header_checks and body_checks.
 *
 * A worker feeds the DATA (or BDAT) bytes of one message as they arrive,
 * in chunks of any size, and gets called back with the units Postfix's
 * cleanup(8) hands to its content checks, in the same order, with the same
 * text, split and truncated the same way. Nothing is allocated after
 * mime_state_create(): the header buffer, the line buffer and the boundary
 * stack are sized from the limits once; mime_state_reset() readies the
 * object for the next message.
 *
 * What Postfix does, and so what this does (sources: smtpd/smtpd.c DATA
 * loop, global/smtp_stream.c smtp_get(), global/mime_state.c,
 * global/header_token.c, global/is_header.c, global/header_opts.c,
 * cleanup/cleanup_message.c):
 *  - Lines are records of at most line_length_limit bytes counting the LF;
 *    a longer line is split (the pieces before the last are "continued",
 *    MIME_UNIT_CONT). LF ends a line; CRs right before it are all removed
 *    (smtpd_forbid_bare_newline = no), or with MIME_OPT_STRIP_ONE_CR only
 *    the last one (normalize, yes, reject: Postfix 3.7.10+'s smtp_get()
 *    with bare-LF detection on); a CR anywhere else is data. Whether a
 *    bare LF may end a line at all is the SMTP layer's decision, not ours.
 *  - The first line of the client's data: "From " (after any '>'s) becomes
 *    the header "X-Mailbox-Line: From ..."; a first line starting with
 *    space or tab is preceded by an empty line, so it cannot continue the
 *    Received: header the server put in front (mime_state_header()).
 *  - A logical header is its lines joined with "\n" kept between them (the
 *    continuation's leading white space stays), "Name :" normalised to
 *    "Name:". Once it holds header_size_limit bytes, further lines are
 *    dropped (MIME_ERR_TRUNC_HEADER); the line that crosses the limit is
 *    kept whole. Text after a NUL byte in a line is dropped (strncat).
 *  - A line that is neither a header, a continuation nor empty ends the
 *    header block: in the primary headers Postfix then emits an extra empty
 *    body line first.
 *  - Class, as cleanup_header_callback() decides: Content-Description,
 *    Content-Disposition, Content-ID, Content-Transfer-Encoding,
 *    Content-Type and MIME-Version anywhere, and every header of a part
 *    after a boundary, are MIME headers; other headers at the top of a
 *    message/rfc822 part are nested headers; the rest primary headers.
 *  - Body lines (and the empty line that ends a header block) are body
 *    units; boundaries are recognised from the Content-Type stack as
 *    mime_state.c does (prefix match, trailing text ignored, innermost
 *    first, outer boundaries pop inner ones). body_checks_size_limit is
 *    measured per body segment from its start (the offset counts each line
 *    plus one); units past it carry MIME_UNIT_UNCHECKED.
 *  - Errors are flags, reported on every message as if all of cleanup's
 *    MIME_OPT_REPORT_* options were on; which of them reject mail
 *    (strict_mime_encoding_domain, strict_7bit_headers, ...) is the
 *    caller's policy. MIME_ERR_NESTING also means a boundary was ignored,
 *    exactly as in Postfix.
 *
 * Input: by default, bytes after dot-unstuffing and without the final
 * ".CRLF". Postfix splits long lines before it removes the leading dot, so
 * for a long line that began with "." the split point differs by one byte;
 * with MIME_OPT_DOT_STUFFED the caller passes the still-stuffed lines and
 * the parser unstuffs them itself, matching Postfix exactly. Input that
 * ends without a line end is finished as if it had one.
 *
 * Failure: mime_state_create() returns -EINVAL for unusable limits and
 * -ENOMEM; feeding never fails (malformed MIME is not an error, only
 * flags). Callbacks must not call back into the same state.
 */
#ifndef MX_MIME_STATE_H
#define MX_MIME_STATE_H

#include <stddef.h>
#include <stdint.h>

/* Postfix defaults of the parameters that size the parser. */
#define MIME_DEF_HEADER_SIZE_LIMIT 102400
#define MIME_DEF_LINE_LENGTH_LIMIT 2048
#define MIME_DEF_NESTING_LIMIT 100
#define MIME_DEF_BOUNDARY_LENGTH_LIMIT 2048
#define MIME_DEF_BODY_CHECKS_SIZE_LIMIT 51200

struct mime_limits {
    size_t header_size_limit;       /* header_size_limit, >= 1 */
    size_t line_length_limit;       /* line_length_limit, >= 1 */
    unsigned nesting_limit;         /* mime_nesting_limit */
    size_t boundary_length_limit;   /* mime_boundary_length_limit, >= 1 */
    size_t body_checks_size_limit;  /* body_checks_size_limit, 0 = all */
};

/* Options. */
enum mime_opts {
    MIME_OPT_DISABLE_MIME = 1u << 0, /* disable_mime_input_processing = yes */
    MIME_OPT_DOT_STUFFED = 1u << 1,  /* input lines still carry SMTP dot-stuffing */
    MIME_OPT_STRIP_ONE_CR = 1u << 2, /* remove one CR before LF, not all (bare-LF detection) */
};

/* Error flags, the values and meaning of Postfix's MIME_ERR_*. */
enum mime_err {
    MIME_ERR_NESTING = 1u << 0,          /* boundary nesting beyond mime_nesting_limit */
    MIME_ERR_TRUNC_HEADER = 1u << 1,     /* a header was cut at header_size_limit */
    MIME_ERR_8BIT_IN_HEADER = 1u << 2,   /* 8-bit byte in a header */
    MIME_ERR_8BIT_IN_7BIT_BODY = 1u << 3,/* 8-bit byte in content declared 7bit */
    MIME_ERR_ENCODING_DOMAIN = 1u << 4,  /* message/multipart with qp/base64 etc. */
};

enum mime_class {
    MIME_CLASS_HEADER,        /* primary header: header_checks */
    MIME_CLASS_MIME_HEADER,   /* mime_header_checks */
    MIME_CLASS_NESTED_HEADER, /* nested_header_checks */
    MIME_CLASS_HEADER_END,    /* end of the primary headers (len 0) */
    MIME_CLASS_BODY,          /* body line or piece: body_checks */
};

/* Where a header was found (a MIME header's class does not say). */
enum mime_section {
    MIME_SECT_PRIMARY,
    MIME_SECT_MULTIPART, /* after a boundary */
    MIME_SECT_NESTED,    /* top of a message/rfc822 part */
    MIME_SECT_BODY,
};

enum mime_unit_flags {
    MIME_UNIT_CONT = 1u << 0,         /* body: line continues in the next unit */
    MIME_UNIT_UNCHECKED = 1u << 1,    /* body: beyond body_checks_size_limit */
    MIME_UNIT_BOUNDARY = 1u << 2,     /* body: a --boundary line */
    MIME_UNIT_BOUNDARY_END = 1u << 3, /* body: a --boundary-- line */
    MIME_UNIT_TRUNCATED = 1u << 4,    /* header: cut at header_size_limit */
};

struct mime_unit {
    enum mime_class cls;
    enum mime_section section;
    unsigned flags;   /* enum mime_unit_flags */
    /* What the check tables see: up to the first NUL byte of the line.
     * Header text is NUL-terminated; body text is not necessarily. */
    const char *text;
    size_t len;
    size_t raw_len;   /* body: the whole line piece, NULs included */
    uint64_t offset;  /* body: offset in its body segment */
};

typedef void (*mime_unit_fn)(void *ctx, const struct mime_unit *u);

struct mime_state;

/* Limits with Postfix's defaults. */
void mime_limits_default(struct mime_limits *lim);
/* 0 or -EINVAL / -ENOMEM. opts: enum mime_opts. */
int mime_state_create(const struct mime_limits *lim, unsigned opts, mime_unit_fn fn, void *ctx,
                      struct mime_state **out);
/* Forget the current message; keep the buffers. */
void mime_state_reset(struct mime_state *st);
void mime_state_free(struct mime_state *st);

/*
 * Lines the server itself puts in front of the client's data, as smtpd
 * does with its Received: header: LF-separated (CRs before LF dropped),
 * not split, no first-line treatment. Call before mime_state_feed().
 */
void mime_state_header(struct mime_state *st, const char *text, size_t len);
/* Message bytes in any chunking. Returns the error flags so far. */
unsigned mime_state_feed(struct mime_state *st, const char *buf, size_t len);
/* End of the message: flush what is pending. Returns the error flags. */
unsigned mime_state_finish(struct mime_state *st);
unsigned mime_state_errors(const struct mime_state *st);

/* Postfix's text and DSN for the most serious of flags (flags != 0). */
const char *mime_state_error_text(unsigned flags);
const char *mime_state_error_dsn(unsigned flags);

#endif
