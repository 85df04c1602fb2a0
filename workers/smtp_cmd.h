/*
 * smtp_cmd.h - SMTP command-line parser for the workers (pure, no I/O).
 *
 * smtp_cmd_parse() takes one command line as the client sent it (without
 * CRLF) and says what Postfix's smtpd would make of its syntax: the verb and
 * its arguments (SMTP_PARSE_OK), a syntax error with the exact reply Postfix
 * gives (SMTP_PARSE_ERROR), an unknown command (SMTP_PARSE_UNKNOWN, "500
 * 5.5.2 Error: command not recognized"), or a non-SMTP command such as an
 * HTTP request or a message header sent as a command (SMTP_PARSE_NONSMTP:
 * "221 2.7.0 Error: I can break rules, too. Goodbye." and hang up).
 *
 * Only syntax is judged here. Session state (nested MAIL, need RCPT),
 * policy (message_size_limit against SIZE, disable_vrfy_command, AUTH and
 * XCLIENT permissions, ETRN) is the session's business: the parser hands
 * it the decoded values. Replies are named constants (enum smtp_reply_id)
 * with their enhanced status codes; smtp_reply_format() prints one.
 *
 * Nothing is allocated: string results point into the line, or (decoded
 * address, ENVID, ORCPT) into o->scratch, which must hold at least
 * SMTP_SCRATCH_NEED(len) bytes; a smaller one gives SMTP_PARSE_ERROR with
 * SMTP_R_NOSPACE. The behaviour was checked against Postfix 3.7's smtpd
 * (tests/peer/smtpd_syntax.py).
 */
#ifndef MX_SMTP_CMD_H
#define MX_SMTP_CMD_H

#include <stddef.h>
#include <stdint.h>

/* Postfix's line_length_limit default: longer lines are cut there. */
#define SMTP_LINE_LIMIT_DEFAULT 2048
/* Scratch needed for a line of len bytes: each decoded string is no longer
 * than the part of the line it comes from, plus a NUL for each of three. */
#define SMTP_SCRATCH_NEED(len) ((len) + 4)

enum smtp_verb {
    SMTP_VERB_NONE,
    SMTP_VERB_HELO,
    SMTP_VERB_EHLO,
    SMTP_VERB_MAIL,
    SMTP_VERB_RCPT,
    SMTP_VERB_DATA,
    SMTP_VERB_BDAT,
    SMTP_VERB_RSET,
    SMTP_VERB_NOOP,
    SMTP_VERB_QUIT,
    SMTP_VERB_VRFY,
    SMTP_VERB_ETRN,
    SMTP_VERB_STARTTLS,
    SMTP_VERB_XCLIENT,
    SMTP_VERB_AUTH,
    /* Recognised so a session could offer it, but Postfix has no HELP:
     * the parse result is SMTP_PARSE_UNKNOWN, as Postfix answers. */
    SMTP_VERB_HELP,
};

enum smtp_parse_result {
    SMTP_PARSE_OK,
    SMTP_PARSE_ERROR,   /* out->reply says what to answer */
    SMTP_PARSE_UNKNOWN, /* out->reply = SMTP_R_UNKNOWN */
    SMTP_PARSE_NONSMTP, /* out->reply = SMTP_R_NONSMTP; close the session */
};

/* Replies, with Postfix's exact texts (see smtp_reply_table in smtp_cmd.c). */
enum smtp_reply_id {
    SMTP_R_NONE,
    SMTP_R_BAD_SYNTAX,      /* 500 5.5.2 Error: bad syntax */
    SMTP_R_BAD_UTF8,        /* 500 5.5.2 Error: bad UTF-8 syntax */
    SMTP_R_UNKNOWN,         /* 500 5.5.2 Error: command not recognized */
    SMTP_R_NONSMTP,         /* 221 2.7.0 Error: I can break rules, too. Goodbye. */
    SMTP_R_SYNTAX_HELO,     /* 501 Syntax: HELO hostname */
    SMTP_R_SYNTAX_EHLO,     /* 501 Syntax: EHLO hostname */
    SMTP_R_SYNTAX_MAIL,     /* 501 5.5.4 Syntax: MAIL FROM:<address> */
    SMTP_R_SYNTAX_RCPT,     /* 501 5.5.4 Syntax: RCPT TO:<address> */
    SMTP_R_BAD_SENDER,      /* 501 5.1.7 Bad sender address syntax */
    SMTP_R_BAD_RCPT,        /* 501 5.1.3 Bad recipient address syntax */
    SMTP_R_BAD_SIZE,        /* 501 5.5.4 Bad message size syntax */
    SMTP_R_SIZE_OVERFLOW,   /* 552 5.3.4 Message size exceeds file system imposed limit */
    SMTP_R_BAD_RET,         /* 501 5.5.4 Bad RET parameter syntax */
    SMTP_R_BAD_ENVID,       /* 501 5.5.4 Bad ENVID parameter syntax */
    SMTP_R_BAD_NOTIFY,      /* 501 5.5.4 Error: Bad NOTIFY parameter syntax */
    SMTP_R_BAD_ORCPT,       /* 501 5.5.4 Error: Bad ORCPT parameter syntax */
    SMTP_R_UNSUPPORTED_OPT, /* 555 5.5.4 Unsupported option: <reply_arg> */
    SMTP_R_DSN_DISABLED,    /* 501 5.7.1 DSN support is disabled */
    SMTP_R_SYNTAX_DATA,     /* 501 5.5.4 Syntax: DATA */
    SMTP_R_SYNTAX_BDAT,     /* 521 5.5.4 Syntax: BDAT count [LAST]; close */
    SMTP_R_SYNTAX_RSET,     /* 501 5.5.4 Syntax: RSET */
    SMTP_R_SYNTAX_VRFY,     /* 501 5.5.4 Syntax: VRFY address [SMTPUTF8] */
    SMTP_R_SYNTAX_ETRN,     /* 500 Syntax: ETRN domain */
    SMTP_R_SYNTAX_STARTTLS, /* 501 5.5.4 Syntax: STARTTLS */
    SMTP_R_SYNTAX_XCLIENT,  /* 501 5.5.4 Syntax: XCLIENT attribute=value... */
    SMTP_R_SYNTAX_AUTH,     /* 501 5.5.4 Syntax: AUTH mechanism */
    SMTP_R_NOSPACE,         /* 451 4.3.0 Error: insufficient scratch (caller bug) */
    SMTP_R_COUNT
};

struct smtp_cmd_reply {
    unsigned code;    /* 221, 500, 501, ... */
    const char *dsn;  /* enhanced status code, "" when Postfix sends none */
    const char *text; /* the rest of the line */
    int close;        /* the session ends after this reply */
};

extern const struct smtp_cmd_reply smtp_reply_table[SMTP_R_COUNT];

#include "smtp_body.h"
enum smtp_ret { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS };

/* NOTIFY= bits (RFC 3461). */
#define SMTP_NOTIFY_NEVER (1u << 0)
#define SMTP_NOTIFY_SUCCESS (1u << 1)
#define SMTP_NOTIFY_FAILURE (1u << 2)
#define SMTP_NOTIFY_DELAY (1u << 3)

struct smtp_parse_opts {
    int strict;          /* strict_rfc821_envelopes */
    int smtputf8;        /* smtputf8_enable: lines must be valid UTF-8 */
    size_t line_limit;   /* line_length_limit; 0 means the default */
    int dsn_disabled;    /* DSN is in smtpd_discard_ehlo_keywords: RET=, ENVID=,
                          * NOTIFY=, ORCPT= get SMTP_R_DSN_DISABLED (smtpd.c) */
    char *scratch;       /* decoded strings go here */
    size_t scratch_size; /* at least SMTP_SCRATCH_NEED(len) */
};

struct smtp_cmd {
    enum smtp_verb verb;
    enum smtp_reply_id reply; /* for every result but SMTP_PARSE_OK */
    const char *reply_arg;    /* SMTP_R_UNSUPPORTED_OPT: the option */
    size_t reply_arg_len;

    /* HELO/EHLO hostname, VRFY/ETRN/AUTH/XCLIENT/NOOP arguments: the rest
     * of the line after the verb, without surrounding white space. */
    const char *arg;
    size_t arg_len;

    /* MAIL, RCPT, VRFY: the address as sent and in internal (unquoted,
     * route stripped) form, NUL-terminated in scratch. */
    const char *addr_raw;
    size_t addr_raw_len;
    const char *addr;
    size_t addr_len;

    /* MAIL parameters. */
    int has_size;
    uint64_t size; /* the caller compares it with message_size_limit */
    enum smtp_body body;
    int smtputf8; /* MAIL ... SMTPUTF8, VRFY ... SMTPUTF8 */
    enum smtp_ret ret;
    const char *envid; /* decoded xtext, NULL when absent */
    const char *auth;  /* AUTH= value as sent (xtext), NULL when absent */
    size_t auth_len;
    int auth_xtext_ok; /* the AUTH= value is well-formed xtext */

    /* RCPT parameters. */
    unsigned notify;        /* SMTP_NOTIFY_* bits, 0 when absent */
    const char *orcpt_type; /* e.g. "rfc822", not NUL-terminated */
    size_t orcpt_type_len;
    const char *orcpt; /* decoded address, NULL when absent */

    /* BDAT. */
    uint64_t chunk_size;
    int last;
};

enum smtp_parse_result smtp_cmd_parse(const char *line, size_t len,
                                      const struct smtp_parse_opts *o, struct smtp_cmd *out);

/* Print the reply for out->reply ("555 5.5.4 Unsupported option: FOO") into
 * buf without CRLF. Returns the length it needed (snprintf-like). */
size_t smtp_reply_format(const struct smtp_cmd *c, char *buf, size_t size);

const char *smtp_verb_name(enum smtp_verb v);

/*
 * Address helpers (smtp_addr.c), also used by smtp_cmd_parse.
 *
 * smtp_addr_extract: Postfix's extract_addr() for one MAIL/RCPT/VRFY
 * argument token: strip <>, strip a source route, find exactly one
 * address in RFC 822 syntax (phrases and comments allowed unless strict),
 * write its internal form to dst (NUL-terminated, at most tok_len+1).
 * Returns 0 or -EINVAL (bad syntax: the caller answers 501).
 */
int smtp_addr_extract(const char *tok, size_t tok_len, int strict, int allow_empty, char *dst,
                      size_t *dst_len);

/* RFC 3461 xtext as Postfix decodes it: "+XX" with two hex digits (either
 * case) is one byte, everything else is itself. Returns 0 or -EINVAL;
 * dst holds at most len+1 bytes and is NUL-terminated. */
int smtp_xtext_decode(const char *src, size_t len, char *dst, size_t *dst_len);

/* allow_percent_hack / swap_bangpath rewriting of an internal-form address
 * in place: "user%dom@here" -> "user@dom", "a!b" -> "b@a". Returns 1 when
 * rewritten, 0 when not applicable. */
int smtp_addr_percent_hack(char *addr, size_t *len);
int smtp_addr_swap_bangpath(char *addr, size_t *len, size_t size);

#endif
