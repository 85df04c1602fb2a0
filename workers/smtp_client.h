/*
 * smtp_client.h - SMTP client toward the next hop, as a sans-I/O state
 * machine.
 *
 * The client never reads, writes, sleeps or looks at a clock. The caller
 * owns the socket (or TLS stream) and the timers and moves bytes:
 *   - after connect(): smtp_client_connected() (or _connect_failed());
 *   - bytes to send: smtp_client_output() then smtp_client_output_done();
 *   - bytes read: smtp_client_input_space() then smtp_client_input_done(),
 *     or smtp_client_feed(); end of stream: smtp_client_input_eof();
 *   - then smtp_client_event() until it returns 0: each event is one thing
 *     the caller must act on (handshake done, a reply for a command, the
 *     connection went down, STARTTLS granted).
 *   - the deadline: smtp_client_timer() names the Postfix parameter whose
 *     limit applies now (smtp_helo_timeout, smtp_rcpt_timeout, ... or
 *     smtpd_proxy_timeout in proxy mode); restart the timer on progress, and
 *     on expiry call smtp_client_timed_out().
 *
 * Session: connect -> 220 greeting -> EHLO (HELO if EHLO gets a 5xx) ->
 * [STARTTLS -> caller's handshake -> smtp_client_tls_done() -> EHLO] ->
 * SMTP_EV_READY. Transactions: smtp_client_mail(), _rcpt() per recipient,
 * _data(), then on the DATA reply with ok the caller streams the content
 * with smtp_client_body() (dot-unstuffed bytes in, dot-stuffed out) and
 * ends with smtp_client_body_end(). Commands may be queued at any time
 * (also before READY: they wait); with PIPELINING (RFC 2920) MAIL, RCPT,
 * RSET go out together and DATA ends a group, otherwise one command per
 * reply. A second transaction on the same connection is preceded by an
 * automatic RSET. smtp_client_quit() ends the session.
 *
 * Replies, and what to tell our own SMTP client (as Postfix's
 * smtpd_proxy.c does with a before-queue proxy): each queued command gets
 * exactly one SMTP_EV_REPLY, in order, with ev->reply = the next hop's
 * reply joined with "\r\n", non-printable bytes as '?', at most two lines'
 * worth (smtp_reply_copy()). A 4xx/5xx reply is passed through as is. A
 * reply of the wrong kind that is not 4xx/5xx (250 to DATA, 354 to RCPT),
 * a greeting or EHLO failure, a lost connection, garbage, or a timeout
 * give SMTP_CLIENT_FAKE_REPLY ("451 4.3.0 Error: queue file write error",
 * Postfix's CLEANUP_STAT_PROXY text) with ev->fake = 1 to the command in
 * progress and to every command queued after it: never a 250 that the next
 * hop did not send. As in Postfix, on success of MAIL, RCPT and DATA the
 * session answers with its own text ("250 2.1.0 Ok", "354 End data with
 * <CR><LF>.<CR><LF>"); after the final dot it relays ev->reply verbatim.
 * LMTP (opts.lmtp, RFC 2033, as Postfix's lmtp(8)): LHLO instead of EHLO,
 * no HELO fallback (a 5xx to LHLO fails the session), and after the final
 * dot one SMTP_EV_REPLY (cmd DOT) per recipient that got 2xx to RCPT, in
 * RCPT order, ev->index naming that recipient and ev->more set on all but
 * the last. With no recipient accepted (a server that still said 354) one
 * reply is read and belongs to no recipient (ev->index 0, as Postfix
 * ignores it). If the connection fails part way, the recipients still
 * owed a reply each get the fake reply. At most
 * SMTP_CLIENT_LMTP_RCPT_MAX RCPTs per transaction (-ENOSPC beyond).
 * Deliberate choices where Postfix has no rule: a 3xx after the final dot
 * gets the fake reply (Postfix would relay it); a 421 is relayed and the
 * connection is then treated as down; an unreadable reply is a protocol
 * error (Postfix skips garbage lines).
 *
 * Hooks for issue 5 (queue runner to a relayhost): STARTTLS is asked for
 * with opts.starttls; on SMTP_EV_STARTTLS the caller switches its transport
 * to TLS (OpenSSL memory BIOs) and calls smtp_client_tls_done(), which
 * sends a new EHLO and forgets the plain-text capabilities. AUTH (SASL
 * PLAIN/LOGIN) belongs between SMTP_EV_READY and the first MAIL; the
 * mechanisms offered are in smtp_client_ehlo(c)->auth. The exchange itself
 * is not written yet.
 *
 * Memory: struct smtp_client is self-contained (fixed buffers, about 44
 * KiB), so the caller can keep a pool of them. Strings given to _mail() and
 * _rcpt() are borrowed: they must stay valid until their reply event.
 * Functions return 0 or -errno: -EINVAL for a call that makes no sense in
 * the current state, -ENOSPC when the command queue is full or an argument
 * is too long.
 */
#ifndef MX_SMTP_CLIENT_H
#define MX_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "smtp_reply.h"

#define SMTP_CLIENT_FAKE_REPLY "451 4.3.0 Error: queue file write error"
#define SMTP_CLIENT_QUEUE 256          /* commands queued or awaiting a reply */
#define SMTP_CLIENT_ARG_MAX 2048       /* longest address given to MAIL/RCPT */
#define SMTP_CLIENT_OUT_SIZE 16384
/* LMTP: recipients per transaction (Postfix's smtpd_recipient_limit
 * default), whose end-of-data replies are matched to them. */
#define SMTP_CLIENT_LMTP_RCPT_MAX 1000
#define SMTP_CLIENT_IN_SIZE (SMTP_REPLY_BYTES_MAX + 1024)

enum smtp_client_state {
    SMTP_CLIENT_CONNECTING,
    SMTP_CLIENT_GREETING,
    SMTP_CLIENT_EHLO,
    SMTP_CLIENT_HELO,
    SMTP_CLIENT_STARTTLS,   /* STARTTLS sent, waiting for 220 */
    SMTP_CLIENT_TLS,        /* the caller runs the TLS handshake */
    SMTP_CLIENT_READY,      /* handshake done; transactions run */
    SMTP_CLIENT_BODY,       /* 354 received; caller streams content */
    SMTP_CLIENT_CLOSED,     /* QUIT answered, or EOF after QUIT */
    SMTP_CLIENT_FAILED,     /* unusable: see why */
};

enum smtp_client_cmd {
    SMTP_CMD_NONE,
    SMTP_CMD_MAIL,
    SMTP_CMD_RCPT,
    SMTP_CMD_DATA,
    SMTP_CMD_DOT,   /* the end of the content; the DATA entry becomes this */
    SMTP_CMD_RSET,
    SMTP_CMD_NOOP,
    SMTP_CMD_QUIT,
};

/* Which Postfix time limit applies to what the client waits for now. */
enum smtp_timer {
    SMTP_TIMER_NONE,          /* idle: nothing sent, nothing awaited */
    SMTP_TIMER_CONNECT,       /* smtp_connect_timeout */
    SMTP_TIMER_HELO,          /* smtp_helo_timeout: greeting, EHLO/HELO, STARTTLS */
    SMTP_TIMER_STARTTLS,      /* smtp_starttls_timeout: the TLS handshake */
    SMTP_TIMER_MAIL,          /* smtp_mail_timeout */
    SMTP_TIMER_RCPT,          /* smtp_rcpt_timeout */
    SMTP_TIMER_DATA_INIT,     /* smtp_data_init_timeout: DATA until 354 */
    SMTP_TIMER_DATA_XFER,     /* smtp_data_xfer_timeout: content */
    SMTP_TIMER_DATA_DONE,     /* smtp_data_done_timeout: after the dot */
    SMTP_TIMER_RSET,          /* smtp_rset_timeout */
    SMTP_TIMER_QUIT,          /* smtp_quit_timeout */
    SMTP_TIMER_PROXY,         /* smtpd_proxy_timeout: every stage, proxy mode */
};

enum smtp_client_ev_type {
    SMTP_EV_NONE,
    SMTP_EV_READY,     /* handshake done; smtp_client_ehlo() is valid */
    SMTP_EV_STARTTLS,  /* 220 to STARTTLS: switch transport, then tls_done() */
    SMTP_EV_REPLY,     /* the reply to one queued command */
    SMTP_EV_DOWN,      /* the connection is unusable (once; replies follow) */
    SMTP_EV_CLOSED,    /* QUIT done */
};

struct smtp_client_event {
    enum smtp_client_ev_type type;
    enum smtp_client_cmd cmd;   /* REPLY: which command */
    unsigned index;             /* REPLY to RCPT: 0-based recipient number */
    int code;                   /* the next hop's code; 451 when fake */
    int ok;                     /* the expected kind: 2xx, or 354 for DATA */
    int fake;                   /* made up here, see above */
    const char *reply;          /* what to tell our client; valid until the
                                   next call on this client */
    const char *dsn;            /* "4.3.0", or "" */
    const char *why;            /* DOWN: "lost connection", "timed out", ... */
    int more;                   /* LMTP reply to DOT: more replies for this
                                   dot follow (index = the RCPT's number) */
};

#include "smtp_body.h"

struct smtp_client_opts {
    const char *helo_name;  /* our EHLO name (myhostname); borrowed */
    int proxy;              /* 1: every deadline is smtpd_proxy_timeout */
    int no_pipelining;      /* 1: never pipeline even when offered */
    int starttls;           /* 0: never, 1: if offered, 2: required */
    int lmtp;               /* 1: LMTP (RFC 2033): LHLO, one reply per
                               accepted recipient after the dot */
    long line_limit;        /* smtp_line_length_limit: content lines longer
                               than this are broken with CRLF SPACE, as
                               Postfix's smtp(8) does; 0: sent as they are */
};

/* One queued command. */
struct smtp_client_entry {
    const char *arg;        /* address for MAIL/RCPT, borrowed */
    uint32_t arg_len;
    uint32_t index;
    uint64_t size;          /* MAIL: SIZE=, 0: unknown */
    uint8_t cmd;            /* enum smtp_client_cmd */
    uint8_t body;           /* MAIL: enum smtp_body */
    uint8_t smtputf8;       /* MAIL: SMTPUTF8 wanted */
    uint8_t dsn_code;       /* MAIL: RET= (1 FULL, 2 HDRS); RCPT: NOTIFY= bits (1 NEVER,
                             * 2 SUCCESS, 4 FAILURE, 8 DELAY); 0 none */
    const char *dsn_str;    /* MAIL: ENVID, RCPT: ORCPT "type;address"; borrowed, or NULL */
};

struct smtp_client {
    struct smtp_client_opts opts;
    enum smtp_client_state state;
    int tls_active;
    int eof;                /* the peer closed its side */
    int down_reported;
    int quit_queued;
    int dirty;              /* a MAIL was sent since connect or RSET */
    int body_bol;           /* content so far ends at a line start */
    int body_crlf;          /* content so far ends with CRLF (or is empty) */
    long body_col;          /* content bytes on the current output line */
    int body_cr;            /* a CR at line_limit held: CRLF or content? */
    int down_after;         /* 421 relayed: go down after this reply */
    const char *why;        /* reason the connection went down */
    const char *stage;      /* Postfix's "while ..." text of the stage */
    unsigned ntxn;          /* transactions completed (maillog conn_use) */
    unsigned nrcpt;         /* RCPTs queued in the current transaction */
    /* LMTP: the RCPTs (their index) that got 2xx in the transaction whose
     * replies are being read, and how many end-of-data replies came. */
    unsigned lmtp_nok, lmtp_done;
    uint16_t lmtp_ok[SMTP_CLIENT_LMTP_RCPT_MAX];
    struct smtp_ehlo ehlo;
    struct smtp_reply rp;   /* parser progress on in[] */
    /* Command ring: [head, sent) awaiting replies, [sent, tail) queued. */
    unsigned head, sent, tail;
    struct smtp_client_entry q[SMTP_CLIENT_QUEUE];
    size_t out_off, out_len;
    size_t in_len;
    char out[SMTP_CLIENT_OUT_SIZE];
    char in[SMTP_CLIENT_IN_SIZE];
    char reply[SMTP_REPLY_COPY_MAX];
    char dsn[12];
    /* smtp_client_on_flush(): called once, then cleared. */
    void (*flush_fn)(void *arg);
    void *flush_arg;
};

void smtp_client_init(struct smtp_client *c, const struct smtp_client_opts *opts);

/* Transport events. */
void smtp_client_connected(struct smtp_client *c);
void smtp_client_connect_failed(struct smtp_client *c);
void smtp_client_timed_out(struct smtp_client *c);
void smtp_client_io_error(struct smtp_client *c);
int smtp_client_tls_done(struct smtp_client *c);

/* Bytes to send: returns how many, *p points at them. */
size_t smtp_client_output(struct smtp_client *c, const char **p);
void smtp_client_output_done(struct smtp_client *c, size_t n);
/* Bytes received. */
size_t smtp_client_input_space(struct smtp_client *c, char **p);
void smtp_client_input_done(struct smtp_client *c, size_t n);
size_t smtp_client_feed(struct smtp_client *c, const char *buf, size_t len);
void smtp_client_input_eof(struct smtp_client *c);

/* 1 with *ev filled, 0 when nothing more until more I/O happens. */
int smtp_client_event(struct smtp_client *c, struct smtp_client_event *ev);

/* Commands. */
int smtp_client_mail(struct smtp_client *c, const char *sender, size_t len, uint64_t size,
                     enum smtp_body body, int smtputf8);
int smtp_client_rcpt(struct smtp_client *c, const char *rcpt, size_t len);
/* RFC 3461 parameters for the MAIL (ret, envid) or RCPT (notify, orcpt)
 * just queued, sent only when the next hop announced DSN (as Postfix's
 * smtp(8)): MAIL ... ENVID=xtext RET=FULL|HDRS, RCPT ...
 * ORCPT=type;xtext NOTIFY=... The strings are borrowed until the reply;
 * one whose xtext would pass 1000 bytes is left out (RFC 3461 allows 100
 * for ENVID and 500 for ORCPT). -EINVAL when the last command is not
 * that verb. */
int smtp_client_mail_dsn(struct smtp_client *c, unsigned ret, const char *envid);
int smtp_client_rcpt_dsn(struct smtp_client *c, unsigned notify, const char *orcpt);
int smtp_client_data(struct smtp_client *c);
int smtp_client_rset(struct smtp_client *c);
int smtp_client_noop(struct smtp_client *c);
int smtp_client_quit(struct smtp_client *c);
/* Content after a DATA reply with ok: returns the bytes of buf taken (0:
 * write the output first). In FAILED state everything is taken and
 * dropped, so the caller's loop finishes and gets the fake reply. */
size_t smtp_client_body(struct smtp_client *c, const char *buf, size_t len);
/* The final dot; -EAGAIN when the output has no room for it yet. */
int smtp_client_body_end(struct smtp_client *c);

/* Have fn(arg) called once, the next time smtp_client_output() is about to
 * write queued commands (READY, something unsent), before it does: what fn
 * queues then goes out in the same group. The proxy relay (relay.c) adds
 * there the DATA that its own client pipelined behind the RCPT being
 * sent, which it only sees once the RCPT has left the session, so that
 * MAIL, RCPT and DATA reach the next hop in one write as Postfix's
 * smtp(8) sends them. fn NULL: cancel (the owner goes away). */
void smtp_client_on_flush(struct smtp_client *c, void (*fn)(void *arg), void *arg);
/* 1 when commands are pipelined (RFC 2920): the next hop announced
 * PIPELINING and opts.no_pipelining is not set. */
int smtp_client_pipelining(const struct smtp_client *c);

enum smtp_timer smtp_client_timer(const struct smtp_client *c);
const char *smtp_timer_name(enum smtp_timer t);
/* 1 while new transactions may be started on this connection. */
int smtp_client_usable(const struct smtp_client *c);
const struct smtp_ehlo *smtp_client_ehlo(const struct smtp_client *c);
const char *smtp_client_state_name(enum smtp_client_state s);
/* Postfix's words for the stage, for "conversation with HOST timed out
 * while ..." / "lost connection with HOST while ...": after a failure, the
 * stage where it happened. */
const char *smtp_client_stage(const struct smtp_client *c);

#endif
