/* cmd_filter.h - Postfix's "last-resort command editing" (smtpd_command_filter,
 * postscreen_command_filter), shared by the workers' SMTP session, the
 * frontend's deep protocol tests and its enforce engine.
 *
 * cmd_filter_apply() looks one command line up in the table the way
 * smtpd_proto() and psc_smtpd_read_event() do: the line (CRLF already
 * gone) ends at its first NUL (a C string in Postfix), its leading spaces
 * and tabs are not part of the key, and a result replaces the whole line.
 * It writes the log text Postfix prints after its "CLIENT: " prefix,
 * 'replacing command "OLD" with "NEW"' (each cut to 100 bytes, control
 * characters as '?', as msg_output() prints them); the caller adds its own
 * prefix (smtpd: NAME[ADDR], postscreen: [ADDR]:PORT) and logs it.
 *
 * Failure: a lookup error is returned (-errno) with the line unchanged;
 * what it means is the caller's (smtpd: 421 data error, postscreen: fatal).
 */
#ifndef MX_CMD_FILTER_H
#define MX_CMD_FILTER_H

#include <stdbool.h>
#include <stddef.h>

struct map;

/* The longest log text: two 100-byte commands and the words around them. */
#define CMD_FILTER_LOG_MAX 240

/* line/len: one command line without its CRLF. skip_bad_utf8: a line that
 * is not valid UTF-8 is not looked up (postscreen with smtputf8_enable:
 * PSC_BAD_UTF8). Returns 1 and the replacement in out (NUL-terminated, cut
 * to size - 1 bytes, its length in *outlen) and the log text in logbuf; 0
 * when the line stays; -errno on a lookup error. */
int cmd_filter_apply(struct map *m, const char *line, size_t len, bool skip_bad_utf8,
                     char *out, size_t size, size_t *outlen, char logbuf[CMD_FILTER_LOG_MAX]);

/* After a lookup error: smtpd's warning text (without "warning: "),
 * 'TYPE:NAME lookup error for "LINE"', the table reference cut to 300 bytes,
 * the line to 100, control characters as '?' (printable()). */
#define CMD_FILTER_ERR_MAX (300 + CMD_FILTER_LOG_MAX)
void cmd_filter_error_text(const struct map *m, const char *line, size_t len,
                           char buf[CMD_FILTER_ERR_MAX]);

#endif
