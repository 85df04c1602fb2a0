/*
 * session.h - the SMTP server session as a sans-I/O state machine.
 *
 * A session takes the client's bytes and gives back reply bytes and the
 * one thing the caller must do next. It owns no socket, reads no clock,
 * makes no DNS query and opens no map: policy and delivery are the
 * caller's, reached through struct session_ops.
 *
 * Driving it (the io_uring glue does exactly this):
 *   s = session_create(&cfg, &peer, &ops, ctx);
 *   session_start(s, &start);                  greeting (or handoff state)
 *   loop:
 *     n = session_input(s, buf, len);          consumes 0..len bytes
 *     session_output(s, &p, &plen);            send these, then
 *     session_output_done(s, sent);
 *     switch (session_wait(s, &ms)):
 *       SESSION_WAIT_INPUT    read more; keep the len - n unconsumed bytes
 *       SESSION_WAIT_OUTPUT   output is full: drain it, then input again
 *       SESSION_WAIT_POLICY   a policy/data_end callback said PENDING: call
 *                             session_policy_done(s, &verdict) later
 *       SESSION_WAIT_SLEEP    flush output, wait ms, session_sleep_done(s)
 *       SESSION_WAIT_TLS      flush output ("220 2.0.0 Ready to start TLS"),
 *                             hand the transport to TLS, session_tls_started()
 *       SESSION_WAIT_CLOSE    flush output, then close; nothing more comes
 * After any resume call, feed the bytes that session_input left unconsumed.
 * Input is never lost: what the session does not consume stays the
 * caller's, so a pipelined batch waits in the caller's buffer while a
 * policy answer is pending.
 *
 * Protocol (Postfix 3.7 smtpd, replies checked against the real daemon):
 *   - command lines end at LF (a CR before it is dropped); a line longer
 *     than line_length_limit is cut there and the rest up to LF discarded
 *     (smtp_get(..., SMTP_GET_FLAG_SKIP));
 *   - commands dispatch through one table (session_cmds.c); a handler that
 *     fails counts an error; NOOP/VRFY/ETRN/RSET/HELO/EHLO count as junk
 *     and each one past smtpd_junk_command_limit is an error;
 *   - once error_count >= smtpd_soft_error_limit every reply waits
 *     smtpd_error_sleep_time first (SESSION_WAIT_SLEEP); at
 *     smtpd_hard_error_limit: "421 4.7.0 HOST Error: too many errors" and
 *     close. A delivered message resets the count ("errors without
 *     delivering mail");
 *   - smtpd_delay_reject: with yes, the CLIENT, HELO and MAIL policy stages
 *     run at each RCPT (and VRFY, ETRN: CLIENT and HELO) before the RCPT
 *     stage, so their rejects are reported there; with no, they run at
 *     connect, HELO and MAIL. A connect-stage reject answers every later
 *     command but QUIT with "503 5.7.0 Error: access denied for NAME[ADDR]";
 *   - smtpd_helo_required: MAIL before HELO/EHLO gets 503 5.5.1.
 *
 * Message content: after "354", the bytes between the DATA command and the
 * terminating CRLF.CRLF go to ops->data_chunk() AS SENT: still dot-stuffed,
 * CRLF line ends, the final CRLF before "." included, the ".CRLF" not.
 * Only CRLF "." CRLF ends DATA: a bare LF never does (no SMTP smuggling).
 * Un-stuffing and header parsing are message.c's. BDAT chunks go to the
 * same data_chunk() byte for byte. Then ops->data_end() decides; the
 * client's "250 ... queued as ID" never goes out before its verdict.
 * BDAT replies count as Postfix 3.7.11's smtpd does (checked against the
 * private Postfix, tests/peer/bdat_peer.py): a chunk that is not the last
 * gets "250 2.0.0 Ok: N bytes" with N that chunk's size as declared; the
 * last gets "250 2.0.0 Ok: N bytes queued as ID" with N the whole
 * message's act_size, which only the content pipeline knows: each stored
 * record (line, or line_length_limit piece, after CR-before-LF removal)
 * counts its length plus 2, so "hello" + "abc" LAST is 10 and "a\nb\n" is
 * 6. data_end passes that count back in verdict->size (message_verdict's
 * size from message_finish()); with 0 the session's raw byte count is used.
 * A message over message_size_limit is not passed on past the limit;
 * at its end the client gets "552 5.3.4 Message size exceeds fixed
 * limit" and ops->data_abort() is called.
 *
 * PROXY protocol: the caller parses it (proxy_parse) before session_start
 * and fills the peer. XCLIENT is in-session: on success the peer is
 * replaced, HELO and the transaction are reset, ops->xclient() is told,
 * and the client gets a new "220" greeting.
 *
 * Failure: session_create returns NULL only if malloc fails; everything
 * the client sends is handled with a reply. Calling a resume function when
 * the session does not wait for it returns -EINVAL and changes nothing.
 */
#ifndef MX_SESSION_H
#define MX_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ehlo_reply.h"
#include "lib/maillog.h"

#define SESSION_OUT_MAX 16384  /* output buffer; replies stop above HIGH */
#define SESSION_OUT_HIGH 8192
#define SESSION_TEXT_MAX 512   /* reject text in a verdict */

struct map;

struct session_cfg {
    const char *myhostname;        /* HELO reply, 421 text */
    const char *banner;            /* expanded smtpd_banner, without "220 " */
    uint64_t message_size_limit;   /* 0: no limit ("SIZE" without a number) */
    unsigned recipient_limit;      /* smtpd_recipient_limit */
    unsigned recipient_overshoot_limit;
    unsigned soft_error_limit, hard_error_limit, junk_command_limit;
    unsigned error_sleep_ms;       /* smtpd_error_sleep_time */
    size_t line_length_limit;
    int delay_reject, helo_required, disable_vrfy, strict_rfc821, smtputf8;
    int tls_available;             /* offer STARTTLS (cert loaded, level may/encrypt) */
    int tls_required;              /* smtpd_tls_security_level = encrypt */
    /* smtpd_discard_ehlo_keywords (EHLO_KW_*, lib/ehlo_reply.h): not
     * announced; a discarded DSN also refuses the DSN parameters, as
     * smtpd does. A client's entry in
     * smtpd_discard_ehlo_keyword_address_maps replaces it (peer). */
    unsigned ehlo_discard;
    /* smtpd_command_filter (NULL: none): each command line is looked up
     * and replaced as smtpd_proto() does (lib/cmd_filter.h); the table
     * belongs to the caller and outlives the session. */
    struct map *cmd_filter;
};

/* Postfix 3.7's defaults (myhostname/banner stay NULL: the caller's). */
void session_cfg_defaults(struct session_cfg *c);

struct session_peer {
    char name[256];  /* validated PTR name or "unknown" */
    char addr[64];   /* printable, IPv6 without "IPv6:" */
    unsigned port;
    int xclient_authorized; /* in smtpd_authorized_xclient_hosts */
    /* Found in smtpd_discard_ehlo_keyword_address_maps at connect (as
     * smtpd: by the address alone): these EHLO_KW_* bits replace
     * cfg.ehlo_discard for this client. */
    int ehlo_discard_found;
    unsigned ehlo_discard;
};

enum session_stage {
    SESSION_STAGE_CONNECT, SESSION_STAGE_HELO, SESSION_STAGE_MAIL,
    SESSION_STAGE_RCPT, SESSION_STAGE_DATA, SESSION_STAGE_EOD,
    SESSION_STAGE_VRFY, SESSION_STAGE_ETRN,
};

enum session_action {
    SESSION_DUNNO,   /* no opinion: next stage */
    SESSION_PERMIT,  /* this stage permits: next stage */
    SESSION_REJECT,  /* reply code/dsn/text (5xx, or 4xx for defer) */
    SESSION_DEFER,   /* same reply mechanics, 4xx: kept apart for logs */
    SESSION_DISCARD, /* accept, then drop the message: next stage */
    SESSION_HOLD,    /* accept, keep the message on hold: next stage */
    SESSION_PENDING, /* the answer comes through session_policy_done() */
};

struct session_verdict {
    enum session_action action;
    unsigned code;               /* REJECT/DEFER; data_end accept: 0 = 250 */
    char dsn[16];                /* "5.7.1" */
    char text[SESSION_TEXT_MAX]; /* reply text after the code and dsn */
    char queue_id[32];           /* data_end accept: "queued as ID" */
    uint64_t size;               /* data_end accept: message size as counted by the
                                  * content pipeline (message_verdict.size), for the
                                  * BDAT reply; 0: the session's raw byte count */
    unsigned flags;              /* policy's own (warn, prepend...) */
};

/* What the policy sees. Strings are NUL-terminated and live until the
 * callback returns (copy what a PENDING answer needs). */
struct session_facts {
    enum session_stage stage;
    const struct session_peer *peer;
    const char *helo;      /* NULL before HELO/EHLO */
    const char *proto;     /* "SMTP", "ESMTP" */
    const char *sender;    /* internal form; "" null sender; NULL outside MAIL */
    const char *recipient; /* RCPT/VRFY address, ETRN domain */
    uint64_t size;         /* MAIL SIZE=, message bytes at EOD */
    unsigned rcpt_count;   /* accepted so far */
    int pipelined;         /* sent commands before our reply (reject_unauth_pipelining) */
    int tls;               /* STARTTLS done */
    int discard, hold;     /* set by earlier verdicts in this transaction */
    int bdat;              /* EOD: the message came by BDAT */
    int body;              /* MAIL BODY=: 0 none, 1 7BIT, 2 8BITMIME (smtp_cmd.h) */
    int smtputf8;          /* MAIL ... SMTPUTF8 */
    /* RFC 3461. MAIL: RET= (enum smtp_ret) and decoded ENVID= or NULL;
     * RCPT: NOTIFY= bits (0: not given) and ORCPT "type;address" (decoded;
     * "rfc822;" + the address as sent when not given, as smtpd records). */
    int dsn_ret;
    const char *dsn_envid;
    unsigned dsn_notify;
    const char *dsn_orcpt;
    const char *where;     /* the command being answered (session_where()) */
};

struct session_ops {
    /* Decide one stage: return the action and fill *v for REJECT/DEFER.
     * PENDING: the session waits for session_policy_done(). */
    enum session_action (*policy)(void *ctx, const struct session_facts *f,
                                  struct session_verdict *v);
    /* A new transaction's content begins / continues / is abandoned. */
    int (*data_begin)(void *ctx, const struct session_facts *f);
    int (*data_chunk)(void *ctx, const char *buf, size_t len);
    void (*data_abort)(void *ctx);
    /* The content is complete: PERMIT (queue_id set), REJECT/DEFER, or
     * PENDING until the next hop answers (session_policy_done). */
    enum session_action (*data_end)(void *ctx, const struct session_facts *f,
                                    struct session_verdict *v);
    /* Optional: the transaction is over (delivered, RSET, refused, or
     * the client left): called before the session forgets the sender. */
    void (*txn_end)(void *ctx);
    /* Optional: XCLIENT replaced the peer (to re-log, recount, re-look-up).
     * Returns whether the new client may use XCLIENT itself (Postfix
     * checks smtpd_authorized_xclient_hosts again for it); without this
     * op the permission stays as it was. */
    int (*xclient)(void *ctx, const struct session_peer *peer);
    /* An informational log line of smtpd's (such as "discarding EHLO
     * keywords: ..."): the session does no I/O. Optional. */
    void (*note)(void *ctx, const char *line);
};

/* How the session begins: fresh, or continuing a frontend handoff. */
enum session_banner { SESSION_BANNER_SEND, SESSION_BANNER_FINISH, SESSION_BANNER_SENT };
struct session_start {
    enum session_banner banner; /* SEND/FINISH: "220 banner"; SENT: nothing */
    int helo_cmd;               /* 0 none, 1 HELO, 2 EHLO already answered */
    const char *helo;           /* its argument */
    unsigned error_count;
    /* The frontend answered the MAIL command that is the first input
     * line (handoff.h HANDOFF_F_MAIL_DONE): it is run, its reply dropped. */
    int mail_done;
    /* The commands the frontend answered (handoff.h HANDOFF_F_CMD_COUNTS),
     * its HELO/EHLO among them; NULL: just that HELO/EHLO. The disconnect
     * line counts them with the session's own. */
    const struct maillog_cmd_stats *counts;
};

enum session_wait {
    SESSION_WAIT_INPUT, SESSION_WAIT_OUTPUT, SESSION_WAIT_POLICY,
    SESSION_WAIT_SLEEP, SESSION_WAIT_TLS, SESSION_WAIT_CLOSE,
};

struct session;

struct session *session_create(const struct session_cfg *cfg, const struct session_peer *peer,
                               const struct session_ops *ops, void *ctx);
void session_free(struct session *s);
int session_start(struct session *s, const struct session_start *st);

/* Consume client bytes; returns how many were taken (the rest stays the
 * caller's until the session waits for input again). */
size_t session_input(struct session *s, const char *buf, size_t len);
/* The client closed its side (or timed out): abort any transaction. */
void session_eof(struct session *s);

/* The server ends the session (smtpd_timeout, shutdown): an open
 * transaction is aborted, a reply held for the error sleep is dropped,
 * reply (without CRLF) is queued, and the session waits to close. */
void session_shutdown(struct session *s, const char *reply);

void session_output(const struct session *s, const char **p, size_t *len);
void session_output_done(struct session *s, size_t n);

enum session_wait session_wait(const struct session *s, unsigned *sleep_ms);
int session_policy_done(struct session *s, const struct session_verdict *v);
int session_sleep_done(struct session *s);
int session_tls_started(struct session *s);

const struct maillog_cmd_stats *session_stats(const struct session *s);
/* Where the session is, in Postfix's words for "timeout after WHERE" and
 * "lost connection after WHERE": "CONNECT" before any command, then the
 * last command's name ("EHLO", "UNKNOWN" for one not recognized), and
 * "END-OF-MESSAGE" once the content is complete. *data_bytes (may be
 * NULL): the message bytes so far while inside DATA/BDAT content, else -1
 * (Postfix adds " (N bytes)" then). */
const char *session_where(const struct session *s, long long *data_bytes);
unsigned session_error_count(const struct session *s);

#endif
