/*
 * queue_file.h - one queued message in one file: its envelope (sender,
 * recipients with their delivery state, client, DSN fields, schedule)
 * and its content, as the workers write it in delivery_mode = queue and
 * the queue runner and mxscreen-ctl read and update it.
 *
 * The file (version 1), every record "T<len>:<len bytes>\n" (T one
 * letter, len decimal, no sign, at most 9 digits), so any byte string is
 * stored as it is and a reader never guesses where a field ends:
 *
 *   MXQ1\n                      magic and version
 *   I<n>:QUEUEID\n              first record; the file's name in the queue
 *   T<n>:ARRIVAL\n              seconds since the epoch
 *   S<n>:SENDER\n               "" for the null sender
 *   C A H P (optional)          client name, client address, HELO, protocol
 *   E V (optional)              DSN ENVID (printable ASCII, not empty),
 *                               DSN RET (FULL or HDRS)
 *   W31:AAAAAAAAAA NNNNNNNNNNNNNNNNNNNN\n
 *                               attempts, next attempt time (fixed width:
 *                               rewritten in place, qf_set_schedule)
 *   per recipient, in order:
 *     O<n>:ORCPT\n  N<n>:NOTIFY\n  (optional, belong to the next R;
 *                               ORCPT "type;address" with a type, NOTIFY
 *                               "NEVER" or a comma list of SUCCESS,
 *                               FAILURE, DELAY, each once)
 *     R<n>:ADDRESS\n
 *     D258:S ERROR...\n         state byte ('P' pending, 'D' delivered,
 *                               'B' bounced, 'S' delivered and a success
 *                               notice (NOTIFY=SUCCESS) still to be queued:
 *                               never delivered again, becomes 'D' once the
 *                               notice is queued), a space, the last error text
 *                               padded with spaces to QF_ERROR_MAX (fixed
 *                               width: rewritten in place, qf_mark)
 *   M20:LLLLLLLLLLLLLLLLLLLL\n  content length, fixed width (the writer
 *                               learns it at the end of DATA)
 *   CONTENT                     exactly that many bytes: the message as it
 *                               goes to the next hop (our Received: first,
 *                               CRLF line ends, not dot-stuffed)
 *   G<n>:ADDRESS\n              optional, at most once: REDIRECT target
 *                               (user@domain). After the content because a
 *                               header/body_checks REDIRECT is known only
 *                               at its end; like Postfix's REC_TYPE_RDR in
 *                               cleanup's extracted segment, one target for
 *                               the whole message (qf_redirect_pick).
 *   X0:\n                       trailer: the file is complete
 *
 * The records after the content (the tail, trailer included) are at most
 * QF_TAIL_MAX bytes, so a reader that wants only the envelope reads the
 * head and this small tail (qf_decode_tail), never the content.
 *
 * Strings other than the content may not hold NUL, CR or LF. I must be
 * first, W, S and M exactly once, every R followed by its D, at least one
 * recipient, M last before the content, the trailer at the very end.
 *
 * Exactly once per recipient: the runner marks a recipient 'D' after the
 * next hop's 250 (or 'B' once its bounce is itself queued and synced),
 * with one pwrite of the state slot before it goes on (qf_mark). A
 * recipient not 'P' is never tried again, so a message is delivered or
 * bounced at most once per recipient; a crash between the next hop's 250
 * and the mark can deliver twice, the case SMTP itself cannot tell. The
 * mark is not synced, as Postfix's deliver_completed() does not sync:
 * kill -9 of any process loses no write already made (the page cache
 * survives it), and the one thing an operating system crash can undo is
 * a mark or a removal, which delivers again - never a loss, since the
 * message itself was synced before its 250. An fdatasync per delivery
 * held the runner to the disk's sync rate (78 msg/s on a loaded shared
 * disk, bench/queue).
 *
 * The codec (qf_encode_*, qf_decode, qf_format_*) is pure: no I/O, no
 * globals; qf_decode takes outside input (a file may be truncated or
 * corrupt) and says what is wrong and where. qf_read_envelope and
 * qf_mark/qf_set_schedule are the blocking file operations for the queue
 * runner and the tools (the worker writes through its ring instead).
 * Directory layout and moves between queues: queue_dir.h.
 */
#ifndef MX_QUEUE_FILE_H
#define MX_QUEUE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define QF_MAGIC "MXQ1\n"
#define QF_MAGIC_LEN 5
#define QF_TRAILER "X0:\n"
#define QF_TRAILER_LEN 4
#define QF_ID_MAX 31         /* queue id: [0-9A-Za-z], 1..31 characters */
#define QF_ERROR_MAX 256     /* last error text in a recipient's slot */
#define QF_STATUS_LEN (2 + QF_ERROR_MAX)  /* state, space, error */
#define QF_SCHED_LEN 31      /* "%010u %020lld" */
#define QF_LENGTH_LEN 20     /* M record: content length */
#define QF_RECORD_MAX 65536  /* longest record other than the content */
#define QF_TAIL_MAX 2048     /* records after the content, trailer included */
#define QF_REDIRECT_MAX (QF_TAIL_MAX - QF_TRAILER_LEN - 8) /* G record data */

enum qf_state { QF_PENDING = 'P', QF_DELIVERED = 'D', QF_BOUNCED = 'B', QF_SUCCESS_DUE = 'S' };

/* NOTIFY= bits as the N record spells them (the same values as dsn.h's
 * DSN_NOTIFY_*); 0: no NOTIFY given. */
#define QF_NOTIFY_NEVER 1u
#define QF_NOTIFY_SUCCESS 2u
#define QF_NOTIFY_FAILURE 4u
#define QF_NOTIFY_DELAY 8u
#define QF_NOTIFY_TEXT_MAX 32 /* "SUCCESS,FAILURE,DELAY" + NUL */

struct qf_rcpt {
    char *addr;            /* as given at RCPT TO, internal form */
    char *orcpt, *notify;  /* DSN ORCPT= / NOTIFY=, NULL when absent */
    char state;            /* enum qf_state */
    char error[QF_ERROR_MAX + 1]; /* last error, trailing padding removed */
    uint64_t status_off;   /* file offset of the state byte (qf_mark) */
    char *orig_addr;       /* qf_redirect_apply: the address given at RCPT
                            * (addr is then the redirect target); else NULL */
};

struct qf_env {
    char queue_id[QF_ID_MAX + 1];
    int64_t arrival;
    char *sender;
    char *client_name, *client_addr, *helo, *proto; /* NULL when absent */
    char *envid, *ret;                              /* DSN, NULL when absent */
    unsigned attempts;
    int64_t next_attempt;  /* seconds since the epoch; 0: now */
    uint64_t sched_off;    /* offset of the W record's data (qf_set_schedule) */
    struct qf_rcpt *rcpt;
    unsigned nrcpt;
    uint64_t length_off;   /* offset of the M record's digits */
    uint64_t content_off, content_len;
    uint64_t tail_off;     /* content_off + content_len: the G record, trailer */
    char *redirect;        /* G record: REDIRECT target, NULL when absent */
};

/* ---- codec (pure) ---- */

/* The envelope through the M record, content_len as given (0 while it is
 * still unknown: the writer patches the QF_LENGTH_LEN digits at
 * *length_off with qf_format_length once it knows). Appends to out.
 * -EINVAL: a missing or malformed field (bad queue id, no recipient, a
 * string with NUL/CR/LF, a record over QF_RECORD_MAX). */
int qf_encode_head(const struct qf_env *e, struct strbuf *out, size_t *length_off);

/* The records after the content: the G record when redirect is not NULL,
 * then the trailer. -EINVAL (nothing appended): a redirect that is empty,
 * has no '@', holds NUL/CR/LF or is over QF_REDIRECT_MAX bytes. */
int qf_encode_tail(const char *redirect, struct strbuf *out);

/* Fixed-width fields, for writing in place. out gets exactly the record
 * data (no terminating NUL is needed by the file; one is written after). */
void qf_format_length(uint64_t len, char out[QF_LENGTH_LEN + 1]);
void qf_format_schedule(unsigned attempts, int64_t next, char out[QF_SCHED_LEN + 1]);
/* state one of enum qf_state; error may be NULL; control characters
 * become spaces and a longer text is cut. */
void qf_format_status(char state, const char *error, char out[QF_STATUS_LEN + 1]);

enum qf_result {
    QF_OK,
    QF_SHORT,   /* buf is a prefix of the file: read more and call again */
    QF_BAD,     /* corrupt or truncated: err says what and where */
};

struct qf_error {
    uint64_t offset;      /* where in the file */
    char what[160];       /* "record D: expected 258 bytes, got 12" */
};

/* buf holds the first len bytes of a file of file_size bytes
 * (len <= file_size). With len < file_size only the envelope must be in
 * buf (QF_SHORT otherwise); the content is then checked by its position
 * only and the tail by its size (QF_TRAILER_LEN..QF_TAIL_MAX bytes from
 * out->tail_off):
 * the caller decodes it with qf_decode_tail before it trusts
 * out->redirect (qf_read_envelope does both). With the whole file in buf
 * the tail is decoded too. On QF_OK out owns allocated strings
 * (qf_env_free); on anything else out holds nothing to free. */
enum qf_result qf_decode(const char *buf, size_t len, uint64_t file_size, struct qf_env *out,
                         struct qf_error *err);
/* The tail of a file whose envelope e holds: buf is the file's bytes from
 * e->tail_off to its end. Sets e->redirect; QF_BAD (err: offsets in the
 * file) leaves e as it was. */
enum qf_result qf_decode_tail(const char *buf, size_t len, struct qf_env *e,
                              struct qf_error *err);

/* REDIRECT: the one recipient Postfix's qmgr delivers to the redirect
 * address (qmgr_message_resolve: "Redirect overrides all else. But only
 * once (per entire message)"): the first of the pending recipients in
 * qmgr_message_sort order (recipients without '@' last, then the domain
 * case-insensitively, then the whole address byte by byte); the others
 * are never delivered. -1 when no recipient is pending. */
int qf_redirect_pick(const struct qf_env *e);
/* The runner's view of a message with a redirect (nothing is written):
 * the picked recipient's addr becomes the redirect target (orig_addr
 * keeps the original, for orig_to= in the logs), every other pending
 * recipient counts as done in memory only (never tried; Postfix leaves
 * them in the file and removes the file with the message). The index of
 * the redirected recipient, or -1 (no redirect or nothing pending). */
int qf_redirect_apply(struct qf_env *e);
void qf_env_free(struct qf_env *e);

/* ---- recipients compared as Postfix does (queue_rcpt.c, pure) ---- */

/* Postfix strcasecmp_utf8(): equal but for case (whole address; ICU
 * case folding for non-ASCII text when utf8 = smtputf8_enable). Decides
 * orig_to= in the log and "(expanded from <...>)" in a bounce. */
bool qf_addr_equal(const char *a, const char *b, bool utf8);
/* cleanup(8)'s duplicate elimination over r[0..n): a recipient whose
 * folded (ORCPT or "rfc822;" + address, NOTIFY, address) came before is
 * dropped, the first kept, order preserved; at most limit distinct keys
 * are remembered (duplicate_filter_limit, 0 = no limit). Returns the new
 * count; the strings are not freed (r[] only points at them). */
unsigned qf_rcpt_dedup(struct qf_rcpt *r, unsigned n, unsigned long limit, bool utf8);

/* The N record's text for a NOTIFY mask (canonical order), "" for 0. */
void qf_notify_format(unsigned mask, char out[QF_NOTIFY_TEXT_MAX]);
/* The mask of an N record's text (words case-insensitive, each once):
 * >0, or -EINVAL (empty, unknown or repeated word, NEVER with another). */
int qf_notify_parse(const char *s, size_t n);

/* A queue id as the file names use it: 1..QF_ID_MAX of [0-9A-Za-z]. */
int qf_id_valid(const char *id);

/* ---- blocking file operations (queue runner, tools) ---- */

/* Read and decode the envelope of an open queue file (reads only as much
 * as the envelope needs). 0; -EBADMSG with err filled for a corrupt or
 * truncated file; -errno from fstat/pread. */
int qf_read_envelope(int fd, struct qf_env *out, struct qf_error *err);

/* Recipient i of e takes state and error: one pwrite of its slot, not
 * synced (see "Exactly once" above). 0 or -errno (nothing is assumed
 * written on error). */
int qf_mark(int fd, struct qf_env *e, unsigned i, char state, const char *error);

/* Attempts and next attempt time, in place, not synced (lost by a
 * system crash, it only makes the next attempt come sooner). */
int qf_set_schedule(int fd, struct qf_env *e, unsigned attempts, int64_t next);

/* Recipients still 'P'. */
unsigned qf_pending(const struct qf_env *e);

#endif
