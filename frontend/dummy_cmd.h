/*
 * dummy_cmd.h - the command reader of the enforce engine (fe_dummy.c):
 * which SMTP verb a line holds and its argument. Pure: no I/O.
 *
 * postscreen mode reads as postscreen's psc_smtpd_read_event() does
 * (Postfix 3.7): a line is what the client sent up to (not including) its
 * LF, a CR before the LF dropped; a NUL ends it (postscreen works on C
 * strings). The verb is the first word (words are separated by spaces
 * only, not tabs), compared case-insensitively with the whole word; the
 * argument is everything after that word and one space, as mystrtok()
 * leaves it. dummy_cmd_word() then takes the next word (HELO name, VRFY,
 * ETRN, "is there an argument"), dummy_cmd_addr() the MAIL/RCPT address
 * the way psc_extract_addr() does: after the first ':' anywhere in the
 * argument (no FROM:/TO: keyword is checked), spaces skipped, "<...>" or
 * up to a space, double quotes dropped, a backslash taking the next byte
 * literally, and a source route ("@a,@b:") cut off. smtpd mode below
 * reads as smtpd does.
 */
#ifndef MX_FE_DUMMY_CMD_H
#define MX_FE_DUMMY_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maillog.h"

enum dummy_verb {
    DUMMY_UNKNOWN = 0,
    DUMMY_HELO,
    DUMMY_EHLO,
    DUMMY_MAIL,
    DUMMY_RCPT,
    DUMMY_DATA,
    DUMMY_RSET,
    DUMMY_NOOP,
    DUMMY_QUIT,
    DUMMY_BDAT,
    DUMMY_VRFY,
    DUMMY_ETRN,
    DUMMY_STARTTLS,
    DUMMY_XCLIENT,  /* known to postscreen, never enabled */
    DUMMY_XFORWARD, /* likewise */
    DUMMY_AUTH,     /* likewise */
    DUMMY_EMPTY,    /* nothing but spaces */
};

enum dummy_verb dummy_cmd_parse(const char *line, size_t len, const char **arg, size_t *arglen);
/* postscreen's state->where for a verb: "HELO", ...; "UNIMPLEMENTED" for
 * an unknown verb or an empty line. */
const char *dummy_cmd_name(enum dummy_verb v);
/* The first space-separated word of arg[0..len): true and *w, *wlen when
 * there is one (PSC_SMTPD_NEXT_TOKEN). */
bool dummy_cmd_word(const char *arg, size_t len, const char **w, size_t *wlen);
/* The MAIL/RCPT address in arg[0..len) as psc_extract_addr(), into out
 * (NUL-terminated, cut to size - 1 bytes). -1: no ':' in arg (postscreen's
 * "501 5.5.4 Syntax: MAIL FROM:<address>"); else the address length. */
int dummy_cmd_addr(const char *arg, size_t len, char *out, size_t size);

/*
 * smtpd mode (fe_dummy.c with FE_F_SMTPD): what Postfix 3.7's smtpd says
 * to a client whose reject is already known (smtpd_client_restrictions,
 * or smtpd_helo_restrictions for the HELO name in force), one command
 * line at a time. Pure: the caller sends, logs, sleeps and closes.
 *
 * Syntax is smtp_cmd_parse's (workers/smtp_cmd.h: Postfix's exact syntax
 * replies); state and counting are smtpd_proto()'s as the worker's
 * session_cmds.c has them: an empty line "500 5.5.2 Error: bad syntax"; a
 * header-like or HTTP line "221 2.7.0 Error: I can break rules, too.
 * Goodbye." and close; with the reject given at connect (denied) every
 * command but QUIT "503 5.7.0 Error: access denied for NAME[ADDR]"; an
 * unknown verb "500 5.5.2 Error: command not recognized"; HELO/EHLO take
 * the name and reset the transaction; MAIL needs HELO with
 * smtpd_helo_required, no nesting, SIZE within message_size_limit; RCPT
 * needs MAIL and gets the reject (DUMMY_DO_REJECT), except the bare
 * "postmaster" (see DUMMY_DO_POSTMASTER); VRFY and ETRN get the reject
 * (smtpd_delay_reject: the client and HELO restrictions run there too);
 * DATA/BDAT: "503 5.5.1 Error: need RCPT command" / "554 5.5.1 Error: no
 * valid recipients" (a BDAT chunk is skipped: out->skip), but BDAT from a
 * client whose mask discards CHUNKING is "521 5.5.1 Error: command not
 * implemented" and close, whatever its syntax or the state; RSET, NOOP,
 * QUIT as smtpd; STARTTLS "502 5.5.1 Error: command not implemented" when
 * no TLS is offered; AUTH "503 5.5.1 Error: authentication not enabled";
 * XCLIENT as to an unauthorized client.
 *
 * Counting: a command that fails counts an error; HELO, EHLO, RSET, NOOP,
 * VRFY and ETRN count against smtpd_junk_command_limit, and each one past
 * it is an error. The disconnect line's counters (st->counts, as the
 * worker's session_cmds.c keeps them: smtpd_proto()'s total_count and
 * success_count): every parsed command counts as tried under its row,
 * an unknown verb or a non-SMTP line under "unknown", an empty line not
 * at all; one that succeeds counts as done too (a REJECT: never).
 * The client's EHLO keyword mask (st->ehlo_discard: its
 * smtpd_discard_ehlo_keyword_address_maps entry, else
 * smtpd_discard_ehlo_keywords) refuses MAIL's DSN parameters when it
 * holds DSN, as smtpd's "501 5.7.1 DSN support is disabled". dummy_smtpd_sleeps() says whether the next reply waits
 * smtpd_error_sleep_time (errors >= smtpd_soft_error_limit);
 * dummy_smtpd_hard_limit() whether the session ends before the next
 * command with "421 4.7.0 HOST Error: too many errors".
 */
struct dummy_smtpd_conf {
    const char *myhostname;
    uint64_t message_size_limit;  /* 0: none */
    unsigned soft_limit, hard_limit, junk_limit;
    bool helo_required, disable_vrfy, strict, smtputf8, tls_offered;
};

struct dummy_smtpd {
    uint16_t errors, junk;
    bool denied;    /* rejected at connect (smtpd_delay_reject = no) */
    bool have_helo, esmtp, in_mail;
    unsigned ehlo_discard;           /* EHLO_KW_* (lib/ehlo_reply.h) for this client */
    struct maillog_cmd_stats counts; /* smtpd's disconnect line */
};

enum dummy_do {
    DUMMY_DO_SAY,        /* out->text */
    DUMMY_DO_HELO,       /* name taken (out->arg): the HELO or EHLO reply */
    DUMMY_DO_REJECT,     /* the known reject at out->where for out->arg */
    DUMMY_DO_POSTMASTER, /* RCPT TO:<postmaster>: smtpd_check_rcpt() accepts it
                          * before any delayed restriction (RFC 5321 4.5.1) */
    DUMMY_DO_CLOSE,      /* out->text, then close (QUIT, non-SMTP, bad BDAT) */
};

struct dummy_smtpd_out {
    enum dummy_do what;
    char text[600];      /* reply without CRLF (SAY, CLOSE) */
    const char *where;   /* "RCPT", "VRFY", "ETRN": the REJECT's stage */
    const char *verb;    /* smtpd's state->where: "HELO", ..., "UNKNOWN" */
    const char *arg;     /* HELO name, recipient, VRFY/ETRN argument */
    size_t arg_len;
    uint64_t skip;       /* BDAT: chunk bytes that follow the line, to drop */
};

/* One line (without its LF; a CR before it is allowed). scratch holds at
 * least SMTP_SCRATCH_NEED(len) bytes; out->arg may point into it. denied
 * answers need the client's NAME[ADDR] in namaddr. */
void dummy_smtpd_command(struct dummy_smtpd *st, const struct dummy_smtpd_conf *cf,
                         const char *namaddr, const char *line, size_t len, char *scratch,
                         size_t scratch_size, struct dummy_smtpd_out *out);
/* The REJECT or POSTMASTER outcome as the caller answered it: rejected
 * counts an error, accepted does not. */
void dummy_smtpd_rejected(struct dummy_smtpd *st);
/* POSTMASTER handed to a worker with the MAIL line it answered and that
 * RCPT line as its first input: the worker runs and counts both, so they
 * leave st->counts. */
void dummy_smtpd_handed_off(struct dummy_smtpd *st);
bool dummy_smtpd_sleeps(const struct dummy_smtpd *st, const struct dummy_smtpd_conf *cf);
bool dummy_smtpd_hard_limit(const struct dummy_smtpd *st, const struct dummy_smtpd_conf *cf);

#endif
