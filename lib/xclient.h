/*
 * xclient.h - the XCLIENT command's attribute=value list, as Postfix 3.7 reads it.
 *
 * xclient_parse() takes what follows "XCLIENT" on the command line and
 * either fills out->attr[] (XCLIENT_OK) or names the first error with the
 * exact reply Postfix gives (xclient_reply() formats it). It splits the
 * line into tokens as smtpd_token() does (white space, "..." and <...>
 * quoting, backslash escapes), decodes xtext (+HH; a value that is not
 * valid xtext is taken literally, Postfix's pre-2.3 compatibility), masks
 * non-printable bytes with '?' (UTF-8 kept unless XCLIENT_FLAG_ASCII,
 * i.e. smtputf8_enable = no), and validates each attribute:
 *
 *   NAME, REVERSE_NAME  a valid host name, [UNAVAILABLE] or [TEMPUNAVAIL]
 *   ADDR, DESTADDR      IPv4, or IPv6: + IPv6 (prefix in any case), or
 *                       [UNAVAILABLE]
 *   PORT, DESTPORT      1-5 digits (Postfix 3.7 takes 99999 and 025), or
 *                       [UNAVAILABLE]
 *   PROTO               SMTP or ESMTP, any case (stored upper case)
 *   HELO                any text up to 255 bytes, or [UNAVAILABLE]; the
 *                       characters " <>()\";@" become '?'
 *   LOGIN               any text, or [UNAVAILABLE] (no login)
 *
 * Attribute names are case-insensitive; a repeated attribute overrides
 * the earlier one; each raw value is at most 255 bytes. Postfix applies
 * attributes one at a time and stops at the first bad one, so on error
 * out->attr[] holds the attributes before it (Postfix has already applied
 * them) and the rejected value is in out->bad_value. On success Postfix answers with a new greeting ("220 " banner),
 * resets HELO (unless HELO= was given), PROTO (to SMTP unless given), the
 * SASL login (unless LOGIN= was given) and the transaction.
 *
 * The parser is pure and does no authorization or state check: the
 * session answers XCLIENT_REPLY_IN_TRANSACTION first (between MAIL and
 * end of DATA/RSET), then XCLIENT_REPLY_SYNTAX for an empty list (this
 * parser's XCLIENT_ERR_SYNTAX), then XCLIENT_REPLY_NOAUTH for a client
 * outside smtpd_authorized_xclient_hosts, and only then parses.
 */
#ifndef MX_XCLIENT_H
#define MX_XCLIENT_H

#include <stddef.h>

#define XCLIENT_VALUE_MAX 255

/* Replies the session gives before parsing (Postfix 3.7 smtpd.c). */
#define XCLIENT_REPLY_IN_TRANSACTION "503 5.5.1 Error: MAIL transaction in progress"
#define XCLIENT_REPLY_SYNTAX "501 5.5.4 Syntax: XCLIENT attribute=value..."
#define XCLIENT_REPLY_NOAUTH "550 5.7.0 Error: insufficient authorization"
/* Replies for parse errors; xclient_reply() fills in the %s. */
#define XCLIENT_REPLY_ATTR_EXPECTED "501 5.5.4 Error: attribute=value expected"
#define XCLIENT_REPLY_TOO_LONG "501 5.5.4 Error: attribute value too long"
#define XCLIENT_REPLY_BAD_VALUE "501 5.5.4 Bad %s syntax: %s"
#define XCLIENT_REPLY_BAD_NAME "501 5.5.4 Bad XCLIENT attribute name: %s"
/* The EHLO keyword line Postfix 3.7 announces to authorized clients. */
#define XCLIENT_EHLO_KEYWORD "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT"

enum xclient_attr {
    XCLIENT_NAME,
    XCLIENT_REVERSE_NAME,
    XCLIENT_ADDR,
    XCLIENT_PORT,
    XCLIENT_PROTO,
    XCLIENT_HELO,
    XCLIENT_LOGIN,
    XCLIENT_DESTADDR,
    XCLIENT_DESTPORT,
    XCLIENT_NATTR
};

enum xclient_state {
    XCLIENT_ABSENT,      /* not given */
    XCLIENT_VALUE,       /* text holds the value */
    XCLIENT_UNAVAILABLE, /* [UNAVAILABLE]: name "unknown", no address... */
    XCLIENT_TEMPUNAVAIL, /* [TEMPUNAVAIL]: NAME and REVERSE_NAME only */
};

struct xclient_value {
    enum xclient_state state;
    size_t len;
    size_t bare; /* ADDR/DESTADDR: offset past "IPv6:", else 0 */
    char text[XCLIENT_VALUE_MAX + 1];
};

enum xclient_result {
    XCLIENT_OK,
    XCLIENT_ERR_SYNTAX,        /* no attributes: XCLIENT_REPLY_SYNTAX */
    XCLIENT_ERR_ATTR_EXPECTED, /* token without '=' or with empty value */
    XCLIENT_ERR_TOO_LONG,      /* raw value over 255 bytes */
    XCLIENT_ERR_BAD_VALUE,     /* bad_attr's value (in attr[].text) */
    XCLIENT_ERR_BAD_NAME,      /* unknown name: bad_name/bad_name_len */
};

#define XCLIENT_FLAG_ASCII 1u /* smtputf8_enable = no: mask UTF-8 too */

struct xclient_attrs {
    struct xclient_value attr[XCLIENT_NATTR];
    enum xclient_attr bad_attr; /* XCLIENT_ERR_BAD_VALUE: which one, */
    char bad_value[XCLIENT_VALUE_MAX + 1]; /* and its decoded value */
    const char *bad_name;       /* XCLIENT_ERR_BAD_NAME: points into args */
    size_t bad_name_len;
};

enum xclient_result xclient_parse(const char *args, size_t len, struct xclient_attrs *out);
enum xclient_result xclient_parse_flags(const char *args, size_t len, unsigned flags,
                                        struct xclient_attrs *out);

/* Upper-case attribute name as Postfix spells it ("REVERSE_NAME"). */
const char *xclient_attr_name(enum xclient_attr a);

/* The reply line (without CRLF) for a parse result; "" for XCLIENT_OK.
 * Truncated to size - 1 bytes; returns the untruncated length. */
size_t xclient_reply(enum xclient_result r, const struct xclient_attrs *a, char *buf, size_t size);

#endif
