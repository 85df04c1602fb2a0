/*
 * dummy_cmd.h - the command reader of the enforce engine (fe_dummy.c):
 * which SMTP verb a line holds and its argument. Pure: no I/O.
 *
 * A line is what the client sent up to (not including) its LF, with an
 * optional CR before it. The verb is the first word, case-insensitive;
 * "MAIL FROM:" and "RCPT TO:" must carry their keyword (else
 * DUMMY_UNKNOWN: a syntax error answers the same as an unknown command
 * here). The argument is the rest after one or more spaces, trailing
 * spaces and the CR removed; for MAIL/RCPT the address between < and >
 * when there is one, else the whole rest.
 */
#ifndef MX_FE_DUMMY_CMD_H
#define MX_FE_DUMMY_CMD_H

#include <stddef.h>

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
    DUMMY_EMPTY, /* nothing but white space */
};

enum dummy_verb dummy_cmd_parse(const char *line, size_t len, const char **arg, size_t *arglen);
/* "HELO", ... for logs ("CONNECT" for DUMMY_EMPTY is the caller's). */
const char *dummy_cmd_name(enum dummy_verb v);

#endif
