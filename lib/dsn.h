/*
 * dsn.h - delivery status notifications (RFC 3464) as Postfix's bounce(8)
 * writes them: the non-delivery report ("Undelivered Mail Returned to
 * Sender"), the delay warning ("Delayed Mail (still being retried)") and the
 * success report for NOTIFY=SUCCESS ("Successful Mail Delivery Report").
 *
 * dsn_build() turns a plain description of one queued message (queue id,
 * sender, arrival time, the recipients with their status and diagnostic,
 * the original content) into the complete notification message, CRLF line
 * ends, ready to be queued from the null sender to the original sender:
 *
 *   top-level headers (Received/Date/From/Subject/To/Auto-Submitted/MIME/
 *     Message-Id: what bounce(8) writes plus what cleanup(8) adds to it)
 *   multipart/report; report-type=delivery-status
 *     1. text/plain "Notification": Postfix 3.7's default failure_template
 *        or delay_template text, then "<rcpt>: reason" per recipient
 *     2. message/delivery-status "Delivery report": Reporting-MTA,
 *        X-<mail_name>-Queue-ID, X-<mail_name>-Sender, Arrival-Date, and per
 *        recipient Final-Recipient, Original-Recipient, Action, Status,
 *        Remote-MTA, Diagnostic-Code (and Will-Retry-Until for a delay)
 *     3. the original: message/rfc822 when it fits bounce_size_limit, else
 *        (and for delay warnings, success reports, and RET=HDRS) its headers only as
 *        text/rfc822-headers, as Postfix 3.7 does (it never cuts a message
 *        in the middle: that would damage its MIME structure).
 *
 * Text that came from outside (the remote server's reply in reason and
 * diag_text, addresses) is masked as Postfix masks it (control characters
 * and, unless smtputf8_enable, non-ASCII bytes become '?') and wrapped at
 * 79 columns with a 4-space indent (Postfix's line_wrap), so no input can
 * break the report's header or MIME structure. The MIME boundary is
 * Postfix's "QUEUEID.TIME/MYHOSTNAME", made longer if the original content
 * happens to contain a line that starts with it.
 *
 * Interface: fill struct dsn_message (and struct dsn_params from the
 * configuration), call dsn_build(). Returns 1 with the message appended to
 * out; 0 when no notification is due (null sender - Postfix's mail to
 * postmaster for a double bounce is left to the caller via
 * postmaster_copy - or no recipient asked for this kind of notice); or
 * -EINVAL for a missing field, -EIO when the content reader fails.
 * Allocation failure is fatal (strbuf).
 */
#ifndef MX_DSN_H
#define MX_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "util.h"

enum dsn_kind {
    DSN_FAILURE, /* bounce: "Undelivered Mail Returned to Sender", Action: failed */
    DSN_DELAY,   /* delay warning: "Delayed Mail (still being retried)", Action: delayed */
    /* success: "Successful Mail Delivery Report" for NOTIFY=SUCCESS
     * recipients only, Action: relayed (or the recipient's action), the
     * original's headers as "Message Headers" */
    DSN_SUCCESS,
};

/* The original message's body type as received (BODY=), Postfix's
 * "encoding" queue attribute. Only used when smtputf8_enable is off:
 * with it on, Postfix always declares 8bit. */
enum dsn_encoding { DSN_ENC_NONE, DSN_ENC_7BIT, DSN_ENC_8BIT };

/* RCPT TO NOTIFY= flags; 0 = not given (every notice is sent). */
#define DSN_NOTIFY_NEVER 1u
#define DSN_NOTIFY_SUCCESS 2u
#define DSN_NOTIFY_FAILURE 4u
#define DSN_NOTIFY_DELAY 8u

/* MAIL FROM RET=. */
enum dsn_ret { DSN_RET_DEFAULT, DSN_RET_FULL, DSN_RET_HDRS };

struct dsn_rcpt {
    const char *address;   /* final recipient (required) */
    const char *orig_addr; /* address before rewriting, or NULL */
    /* ORCPT as "type;address", xtext-decoded, or NULL. Postfix's smtpd
     * records "rfc822;" + the RCPT TO address when the client gave none,
     * and prints it verbatim ("Original-Recipient: rfc822;a@b"). */
    const char *orcpt;
    unsigned notify;       /* DSN_NOTIFY_* */
    const char *action;    /* Action: field; NULL: failed/delayed/relayed by kind */
    const char *status;    /* enhanced status "5.1.1" (required) */
    /* Human-readable reason, e.g. "host mx.example[192.0.2.1] said: 550
     * 5.1.1 <a@b>: User unknown (in reply to RCPT TO command)" (required). */
    const char *reason;
    const char *mta_type;  /* "dns" */
    const char *mta_name;  /* the remote MTA's name; Remote-MTA needs both */
    const char *diag_type; /* "smtp" */
    /* The remote reply "550 5.1.1 <a@b>: User unknown", multi-line replies
     * joined with spaces. Without type and text the line is
     * "Diagnostic-Code: X-<mail_name>; <reason>". */
    const char *diag_text;
};

/* Returns bytes read into buf (0 = end), or -errno. */
typedef ssize_t (*dsn_read_fn)(void *arg, char *buf, size_t len);

struct dsn_message {
    enum dsn_kind kind;
    const char *queue_id;     /* the original message's queue id (required) */
    const char *sender;       /* envelope sender; "" = null sender */
    time_t arrival;           /* arrival time; 0 = unknown (no Arrival-Date) */
    time_t now;               /* the notification's time (Date, boundary) */
    /* Queue id of the notification itself (Received: id, Message-Id);
     * NULL: no Received: header, Message-Id made from queue_id. */
    const char *dsn_queue_id;
    enum dsn_encoding encoding;
    bool smtputf8;            /* the original asked for SMTPUTF8 */
    const char *envid;        /* ENVID, or NULL */
    enum dsn_ret ret;
    /* Send to this address instead of the sender, as a postmaster copy
     * ("Postmaster Copy: Undelivered Mail", Auto-Submitted:
     * auto-generated): Postfix's bounce/2bounce_notice_recipient. Also
     * for the null sender. NULL: to the sender. */
    const char *postmaster_to;
    const struct dsn_rcpt *rcpt;
    size_t nrcpt;
    /* The original content (headers, blank line, body) with LF or CRLF
     * line ends, either in memory or through read(); content_size is its
     * size in bytes (compared with bounce_size_limit) and is required with
     * read. */
    const char *content;
    size_t content_size;
    dsn_read_fn read;
    void *read_arg;
};

struct dsn_params {
    const char *myhostname;       /* Reporting-MTA, boundary, template text */
    const char *myorigin;         /* MAILER-DAEMON@myorigin; NULL = myhostname */
    const char *mail_name;        /* X-<mail_name>-Queue-ID, Received: (...) */
    long bounce_size_limit;       /* bytes; bigger originals: headers only */
    long maximal_queue_lifetime;  /* seconds: Will-Retry-Until, delay text */
    long delay_warning_time;      /* seconds: delay text */
    bool smtputf8_enable;         /* Postfix default yes (8bit, utf-8) */
};

/* Build the notification into out (appended). See the file header. */
int dsn_build(const struct dsn_message *m, const struct dsn_params *p, struct strbuf *out);

/* ---- pure helpers (dsn_text.c), exposed for tests and fuzzing ---------- */

/* Postfix printable(): control bytes and (unless utf8) non-ASCII become
 * '?'; with utf8, valid UTF-8 sequences are kept. In place. */
void dsn_printable(char *s, bool utf8);
/* Postfix line_wrap(): words of text[0..len) onto lines of at most width
 * columns (longer words are not broken), lines after the first indented
 * by indent blanks, trailing blanks stripped; each line + CRLF is appended. */
void dsn_line_wrap(const char *text, size_t len, int width, int indent, struct strbuf *out);
/* Postfix quote_822_local(): the local part of addr in double quotes when
 * it holds RFC 822 specials, appended to out. */
void dsn_quote_822_local(const char *addr, struct strbuf *out);
/* Postfix mail_date(): "Sat, 21 Nov 2026 20:27:06 +0000 (UTC)", local time.
 * 0, or -EINVAL / -ENOSPC. */
int dsn_mail_date(time_t t, char *buf, size_t size);
/* Postfix is_header(): length of the header name when line[0..len) starts
 * "name:" (optional blanks before the colon), else 0. */
size_t dsn_is_header(const char *line, size_t len);

#endif
