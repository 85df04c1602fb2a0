/*
 * data_frame.h - SMTP DATA and BDAT framing as Postfix 3.7.11's smtpd does
 * it: where the message ends, which lines are dropped, how its size is
 * counted, and whether a bare <LF> makes it fail.
 *
 * Sans-I/O: the session feeds the bytes that follow the 354 reply, in
 * chunks of any size, and gets the message bytes back through a callback
 * as spans of its own buffer (no copy), still dot-stuffed and with the
 * client's line ends. They are meant for mime_state with
 * MIME_OPT_DOT_STUFFED, which cuts them into the same records. The final
 * "." line is never passed on, nor are the "." lines Postfix discards.
 *
 * Records (smtpd's smtp_get() loop with line_length_limit as the bound):
 * LF ends a record; a record holds at most line_length_limit bytes
 * counting the LF (one more byte is read when the bound falls between CR
 * and LF); a longer line is cut into "continued" records. Only a record
 * that starts a line can be a dot line.
 *
 * smtpd_forbid_bare_newline, as observed on Postfix 3.7.11:
 *  - no: every CR before the LF is removed, so ".\n", ".\r\n", ".\r\r\n"
 *    all end the message, after any line end ("\n.\n" smuggling works,
 *    as it does in Postfix with this setting);
 *  - normalize (yes): one CR before the LF is removed; a "." record that
 *    ends in a bare LF, or follows a line that did, is discarded: neither
 *    the end nor content. Only "\r\n.\r\n" ends the message;
 *  - reject: as normalize, and any bare LF sets DATA_ERR_BARE_LF: the
 *    reply at the end is "550 5.5.2 <myhostname> Error: bare <LF>
 *    received" (code from smtpd_forbid_bare_newline_reject_code).
 * A CR that is not before the LF is data.
 *
 * message_size_limit: each stored record counts its length after
 * unstuffing plus 2 (smtpd's act_size); when the next record would pass
 * the limit DATA_ERR_SIZE is set and the reply at the end is
 * "552 5.3.4 Error: message file too big" (Postfix 3.7.11's reply, not
 * "Message size exceeds fixed limit", which is its answer to MAIL SIZE=).
 * Postfix's cleanup also counts its queue file (envelope records and the
 * Received: header), so Postfix refuses a message a few hundred bytes
 * below the limit that we still take. After the first error nothing more
 * is passed on (the record in progress may have been, in part), but the
 * framing goes on to the end, as in Postfix.
 *
 * Failure: data_frame_init() returns -EINVAL for a zero line length
 * limit; feeding cannot fail: protocol violations are DATA_ERR_* flags.
 */
#ifndef MX_DATA_FRAME_H
#define MX_DATA_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum data_bare_lf {
    DATA_BARE_LF_NO,        /* smtpd_forbid_bare_newline = no (3.7 default) */
    DATA_BARE_LF_NORMALIZE, /* normalize, yes */
    DATA_BARE_LF_REJECT,    /* reject */
};

enum data_frame_err {
    DATA_ERR_SIZE = 1u << 0,    /* message_size_limit exceeded */
    DATA_ERR_BARE_LF = 1u << 1, /* bare LF with smtpd_forbid_bare_newline = reject */
};

enum data_frame_status {
    DATA_FRAME_MORE, /* the message goes on */
    DATA_FRAME_END,  /* the end was seen; *used says where */
};

struct data_frame_opts {
    enum data_bare_lf bare_lf;
    size_t line_length_limit;   /* >= 1 */
    uint64_t message_size_limit; /* 0: no limit */
};

typedef void (*data_frame_out_fn)(void *ctx, const char *buf, size_t len);

struct data_frame {
    struct data_frame_opts o;
    size_t rec_len;      /* bytes of the current record so far (CRs included) */
    size_t trail_cr;     /* CRs at the end of the current record */
    size_t held;         /* dot line candidate: "." + (held - 1) CRs kept back */
    int cr_wait;         /* record full, last byte CR: the next byte decides */
    int at_line_start;   /* the current record starts a line */
    int rec_dot;         /* the current record starts with '.' at a line start */
    int prev_bare_lf;    /* the previous record ended in a bare LF */
    int bdat;            /* BDAT: no dot-stuffing, no end marker */
    int ended;
    unsigned err;        /* enum data_frame_err */
    uint64_t size;       /* smtpd's act_size */
    uint64_t wire_bytes; /* bytes consumed, end marker included */
};

/* Parse "no", "yes", "normalize", "reject" (any case). 0 or -EINVAL. */
int data_bare_lf_parse(const char *s, size_t len, enum data_bare_lf *out);

/* Ready for a DATA message. 0 or -EINVAL. */
int data_frame_init(struct data_frame *f, const struct data_frame_opts *o);
/* Ready for a BDAT transaction (all its chunks): no end marker, no dots. */
int data_frame_init_bdat(struct data_frame *f, const struct data_frame_opts *o);

/*
 * DATA bytes. *used gets the number of bytes that belong to the message
 * (all of them with DATA_FRAME_MORE; up to and including the end line with
 * DATA_FRAME_END: the rest are the client's next, pipelined commands).
 * Feeding after the end returns DATA_FRAME_END with *used = 0.
 */
enum data_frame_status data_frame_feed(struct data_frame *f, const char *buf, size_t len,
                                       size_t *used, data_frame_out_fn out, void *ctx);
/* One BDAT chunk (all of len is used); last: BDAT ... LAST. Returns
 * DATA_FRAME_END after the last chunk. Bytes are passed on dot-stuffed
 * (a '.' is added before a line that starts with one), so the same
 * mime_state set-up serves DATA and BDAT. */
enum data_frame_status data_frame_bdat(struct data_frame *f, const char *buf, size_t len,
                                       int last, data_frame_out_fn out, void *ctx);

/* The reply Postfix gives at the end for err (!= 0), without the
 * hostname part: "552 5.3.4 Error: message file too big", or for the bare
 * LF the code and "5.5.2 %s Error: bare <LF> received" with %s the host
 * name written by the caller: see data_frame_reply(). */
int data_frame_reply(unsigned err, unsigned bare_lf_code, const char *myhostname, char *buf,
                     size_t size);

#endif
