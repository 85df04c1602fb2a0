/*
 * maillog.h - the text of Postfix 3.7's smtpd/cleanup/qmgr/smtp log lines.
 *
 * Pure formatting: each builder writes one line (without the syslog or
 * "PROG[PID]: " prefix, which log.h adds) into a caller buffer, NUL
 * terminated, and never allocates. The caller passes the whole line to
 * log_info("%s", buf).
 *
 * As Postfix's msg_info() does, every finished line goes through
 * maillog_printable(): bytes that are neither printable ASCII nor the
 * start of a UTF-8 sequence become '?', so CR, LF, NUL-free control bytes
 * or Latin-1 junk from a client can never split or forge a log line.
 * Addresses are logged in external form (info_log_address_format =
 * external, the 3.5+ default): a local part that is not an RFC 822
 * dot-string is quoted; the null sender stays "<>".
 *
 * Failure: -ENOSPC when the line does not fit (buf then holds a truncated
 * but still sanitized, NUL-terminated line), -EINVAL on a NULL required
 * argument. Success: 0.
 */
#ifndef MX_MAILLOG_H
#define MX_MAILLOG_H

#include <stddef.h>
#include <stdint.h>

/* A client as smtpd logs it: NAME[ADDR] plus the context of a reject. */
struct maillog_client {
    const char *name;  /* validated PTR name or "unknown" */
    const char *addr;  /* printable address; IPv6 without "IPv6:" */
    const char *helo;  /* HELO/EHLO argument, NULL before HELO */
    const char *proto; /* "SMTP", "ESMTP", ... NULL before HELO */
};

/* smtpd's command table, in the order Postfix logs the counters. */
enum maillog_cmd {
    MAILLOG_HELO, MAILLOG_EHLO, MAILLOG_XCLIENT, MAILLOG_XFORWARD,
    MAILLOG_STARTTLS, MAILLOG_AUTH, MAILLOG_MAIL, MAILLOG_RCPT, MAILLOG_DATA,
    MAILLOG_BDAT, MAILLOG_RSET, MAILLOG_NOOP, MAILLOG_VRFY, MAILLOG_ETRN,
    MAILLOG_QUIT, MAILLOG_UNKNOWN, MAILLOG_NCMDS
};

/* Per-session command counters: total tries and successful ones. */
struct maillog_cmd_stats {
    uint32_t ok[MAILLOG_NCMDS];
    uint32_t total[MAILLOG_NCMDS];
};

/* One delivery attempt as the smtp client logs it. Durations in usec. */
struct maillog_delivery {
    const char *queue_id;
    const char *recipient;      /* internal form */
    const char *orig_recipient; /* NULL or same as recipient: not logged */
    const char *relay_host;     /* NULL: "relay=none" */
    const char *relay_addr;
    unsigned relay_port;        /* 0: no ":port" */
    unsigned conn_use;          /* >1: ", conn_use=N" (connection reuse) */
    uint64_t delay_us;          /* total */
    uint64_t delays_us[4];      /* before queue / in queue / connect / transmit */
    const char *dsn;            /* "2.0.0" */
    const char *status;         /* "sent", "deferred", "bounced" */
    const char *reply;          /* "250 2.0.0 Ok: queued as X" */
};

/* "connect from NAME[ADDR]" */
int maillog_connect(char *buf, size_t size, const struct maillog_client *c);
/* "disconnect from NAME[ADDR] ehlo=1 ... commands=N[/M]" */
int maillog_disconnect(char *buf, size_t size, const struct maillog_client *c,
                       const struct maillog_cmd_stats *st);
/* "WHAT after WHERE from NAME[ADDR]", e.g. WHAT = "lost connection",
 * "timeout", "too many errors"; WHERE = "DATA", "END-OF-MESSAGE", "RCPT".
 * data_bytes >= 0 adds " (N bytes)" after WHERE, as Postfix does when the
 * client vanished inside DATA/BDAT. */
int maillog_lost(char *buf, size_t size, const char *what, const char *where,
                 long long data_bytes, const struct maillog_client *c);
/* "QID|NOQUEUE: ACTION: WHERE from NAME[ADDR]: TEXT; from=<s> to=<r>
 * proto=P helo=<h>" (smtpd_check's log_whatsup). ACTION is "reject",
 * "reject_warning", "discard", "hold", ...; sender/recipient NULL when not
 * yet given. */
int maillog_reject(char *buf, size_t size, const char *queue_id, const char *action,
                   const char *where, const struct maillog_client *c, const char *text,
                   const char *sender, const char *recipient);
/* "QID: client=NAME[ADDR]" */
int maillog_client(char *buf, size_t size, const char *queue_id,
                   const struct maillog_client *c);
/* "QID: message-id=VALUE" (VALUE as in the header, leading space dropped) */
int maillog_message_id(char *buf, size_t size, const char *queue_id, const char *value);
/* "QID: from=<s>, size=N, nrcpt=M (queue active)" */
int maillog_queue_active(char *buf, size_t size, const char *queue_id, const char *sender,
                         unsigned long long msg_size, unsigned nrcpt);
/* "QID: to=<r>, relay=h[a]:p, delay=D, delays=a/b/c/d, dsn=X, status=S (reply)" */
int maillog_delivery(char *buf, size_t size, const struct maillog_delivery *d);
/* cleanup's header/body_checks line: "QID: ACTION: CLASS CONTENT from
 * NAME[ADDR]; from=<s> to=<r> proto=P helo=<h>: TEXT". ACTION "warning",
 * "reject", "hold", "discard", ...; CLASS "header" or "body"; CONTENT is
 * cut to 200 bytes as cleanup does; TEXT empty/NULL: no ": TEXT". */
int maillog_content_action(char *buf, size_t size, const char *queue_id, const char *action,
                           const char *class, const char *content,
                           const struct maillog_client *c, const char *sender,
                           const char *recipient, const char *text);

/* Postfix's format_tv(): seconds with 2 significant digits and at most 2
 * decimals, trailing zeros dropped ("0.02", "1.2", "12", "0"). */
int maillog_format_delay(char *buf, size_t size, uint64_t usec);
/* quote_822_local(): quote the local part unless it is a dot-string.
 * "" stays "" (the null sender). */
int maillog_quote_addr(char *buf, size_t size, const char *addr);
/* printable(s, '?') in place, UTF-8 allowed (smtputf8_enable = yes). */
void maillog_printable(char *s);

#endif
