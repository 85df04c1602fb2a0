/*
 * message.h - one message from raw DATA/BDAT bytes to the bytes for the
 * next hop, through Postfix's content checks, sans I/O.
 *
 *   bytes -> data_frame (end of data, bare LF, size) -> mime_state
 *   (records, headers, MIME classes) -> header_checks / mime_header_checks
 *   / nested_header_checks / body_checks lookups -> content actions ->
 *   output callback.
 *
 * Output (for the next-hop client, workers' relay): the message content
 * as Postfix's cleanup would queue it and its smtp client send it: the
 * server's Received: header first, then the client's headers (IGNOREd
 * and STRIPped ones left out, PREPENDed lines before the line that
 * matched, REPLACEd ones replaced) and body, every line ended by CRLF,
 * NOT dot-stuffed and without the final "." line: the next-hop client
 * stuffs dots and writes the end marker itself. A line that was split at
 * line_length_limit is put back together. A CR inside a line is written
 * as a space, as Postfix 3.7.11's delivery does (seen at its next hop).
 *
 * Fate, as cleanup decides it: the first REJECT (or a 4.x.x one: defer)
 * or DISCARD ends all checking; HOLD is remembered and checking goes on;
 * PASS ends checking and keeps the message. Output stops after a reject
 * or discard (the caller must not complete the next-hop transaction);
 * the caller reads the verdict at the end. WARN, INFO, STRIP, HOLD,
 * DISCARD, REJECT, REDIRECT are logged through the log callback in
 * Postfix's format (maillog_content_action()).
 *
 * FILTER and BCC are not supported (proxy delivery has no queue to carry
 * them): the message is deferred with 451 4.3.5 and an error is logged,
 * rather than silently delivered elsewhere than the rules say.
 *
 * CRs before the LF: with smtpd_forbid_bare_newline = no all are removed;
 * with normalize/yes/reject only one (Postfix 3.7.10+), so a line ending
 * in "\r\r\n" goes out with a space for each extra CR, as Postfix's does.
 *
 * Failure: message_create() returns -EINVAL / -ENOMEM; a map lookup error
 * defers the message as Postfix does ("451 4.3.0 Error: queue file write
 * error", with a warning naming the map).
 */
#ifndef MX_MESSAGE_H
#define MX_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "data_frame.h"
#include "maillog.h"
#include "mime_state.h"

struct map;

/* The check tables; NULL: none. The caller applies Postfix's defaults
 * (mime_header_checks and nested_header_checks = $header_checks). */
struct message_checks {
    struct map *header, *mime_header, *nested_header, *body;
};

enum message_log_level { MESSAGE_LOG_INFO, MESSAGE_LOG_WARN, MESSAGE_LOG_ERROR };
typedef void (*message_log_fn)(void *ctx, enum message_log_level level, const char *line);
typedef void (*message_out_fn)(void *ctx, const char *buf, size_t len);

struct message_opts {
    struct data_frame_opts frame;
    struct mime_limits mime;
    unsigned mime_opts;           /* MIME_OPT_DISABLE_MIME; DOT_STUFFED and, with
                                   * bare-LF detection, STRIP_ONE_CR are implied */
    struct message_checks checks;
    unsigned bare_lf_reject_code; /* smtpd_forbid_bare_newline_reject_code (550) */
    const char *myhostname;
    message_out_fn out;
    message_log_fn log;
    void *ctx;                    /* for out and log */
};

/* Per message: who and what, for the log lines and the Received: header. */
struct message_env {
    const char *queue_id;
    const struct maillog_client *client;
    const char *sender, *recipient; /* recipient: NULL unless exactly one */
    const char *received;           /* the Received: header (received_format()), or NULL */
    size_t received_len;
    int bdat;                       /* BDAT instead of DATA */
};

enum message_fate {
    MESSAGE_ACCEPT,  /* pass it on (hold says whether a HOLD fired) */
    MESSAGE_REJECT,  /* 5xx */
    MESSAGE_DEFER,   /* 4xx */
    MESSAGE_DISCARD, /* answer 250, pass nothing on */
};

#define MESSAGE_REPLY_MAX 1100
#define MESSAGE_ADDR_MAX 512

struct message_verdict {
    enum message_fate fate;
    int hold;
    char reply[MESSAGE_REPLY_MAX]; /* for REJECT/DEFER: the reply to the client */
    char redirect[MESSAGE_ADDR_MAX]; /* last REDIRECT target, "" if none */
    unsigned frame_err;            /* enum data_frame_err */
    unsigned mime_err;             /* enum mime_err: the caller's strict_* policy */
    uint64_t size;                 /* message_size_limit count */
    uint64_t out_bytes;            /* bytes passed to out */
};

struct message;

int message_create(const struct message_opts *o, struct message **out);
void message_free(struct message *m);

/* Start a message (also resets the previous one). 0 or -EINVAL. */
int message_begin(struct message *m, const struct message_env *env);
/* DATA bytes: as data_frame_feed(). */
enum data_frame_status message_feed(struct message *m, const char *buf, size_t len,
                                    size_t *used);
/* One BDAT chunk. */
enum data_frame_status message_bdat(struct message *m, const char *buf, size_t len, int last);
/* After DATA_FRAME_END: finish the checks and fill the verdict. */
void message_finish(struct message *m, struct message_verdict *v);

#endif
