/*
 * content_action.h - the result of a header_checks / body_checks rule,
 * parsed as Postfix 3.7's cleanup_act() reads it (header_checks(5)).
 *
 * The result is "ACTION [text]": the action is the first word (case
 * insensitive, ended by space or tab), the text is the rest after white
 * space. What each action means for the message is the caller's business
 * (workers/message.c); this file only decides which action it is, whether
 * its argument is acceptable, and the texts Postfix uses:
 *  - REJECT [text]: reason = text with "5.7.1" put in front unless the
 *    text starts with an enhanced status code (dsn_prepend()); without
 *    text, "5.7.1 message content rejected". A code whose class is not 4
 *    or 5 is warned about and made 4 ("bad DSN action in TEXT -- need
 *    4.x.x or 5.x.x"). A 4.x.x reason defers the message.
 *  - PREPEND text: text required; before a header it must itself be a
 *    header ("name: value"). REPLACE likewise.
 *  - REDIRECT and BCC need an '@'; FILTER needs "transport:destination".
 *  - OK is DUNNO (Postfix: "(and always has been) treated as DUNNO").
 *  - An unknown action, or a bad argument, is CONTENT_ACT_DUNNO after a
 *    warning: content_action_warning() writes Postfix's text.
 *
 * Pure: no I/O; text points into the caller's buffer. Failure: the parser
 * never fails; its outcome carries the warning, if any.
 */
#ifndef MX_CONTENT_ACTION_H
#define MX_CONTENT_ACTION_H

#include <stddef.h>

enum content_act {
    CONTENT_ACT_DUNNO,    /* also OK, and any rule that was warned about */
    CONTENT_ACT_REJECT,   /* reason in out->reason; defer if it is 4.x.x */
    CONTENT_ACT_WARN,
    CONTENT_ACT_INFO,
    CONTENT_ACT_DISCARD,
    CONTENT_ACT_HOLD,
    CONTENT_ACT_IGNORE,
    CONTENT_ACT_STRIP,
    CONTENT_ACT_PREPEND,
    CONTENT_ACT_REPLACE,
    CONTENT_ACT_REDIRECT,
    CONTENT_ACT_BCC,
    CONTENT_ACT_FILTER,
    CONTENT_ACT_PASS,
};

/* Where the rule matched: PREPEND/REPLACE before a header must be headers. */
enum content_ctx {
    CONTENT_CTX_HEADER,
    CONTENT_CTX_BODY,
};

enum content_warn {
    CONTENT_WARN_NONE,
    CONTENT_WARN_UNKNOWN,          /* "unknown command in %s map: %s" */
    CONTENT_WARN_BAD_DSN,          /* REJECT code class not 4/5 (made 4) */
    CONTENT_WARN_PREPEND_EMPTY,    /* "PREPEND action without text in %s map" */
    CONTENT_WARN_PREPEND_HEADER,   /* "bad PREPEND header text ..." */
    CONTENT_WARN_REPLACE_EMPTY,
    CONTENT_WARN_REPLACE_HEADER,
    CONTENT_WARN_REDIRECT_TARGET,  /* "bad REDIRECT target ..." */
    CONTENT_WARN_BCC_ADDRESS,
    CONTENT_WARN_FILTER_EMPTY,     /* "missing FILTER command argument in %s map" */
    CONTENT_WARN_FILTER_BAD,       /* "bad FILTER command %s in %s -- need transport:destination" */
};

#define CONTENT_REASON_MAX 1024

struct content_action {
    enum content_act act;
    enum content_warn warn;
    const char *word;   /* the action word as written */
    size_t word_len;
    const char *text;   /* the optional text (not NUL-terminated) */
    size_t text_len;
    /* REJECT: "D.D.D text", NUL-terminated (cut to fit). */
    char reason[CONTENT_REASON_MAX];
    int defer;          /* REJECT with a 4.x.x reason */
};

/* Parse one lookup result. Never fails. */
void content_action_parse(const char *buf, size_t len, enum content_ctx ctx,
                          struct content_action *out);

/* Postfix's warning for out->warn (map_class as "header_checks"), into
 * buf. 0, -EINVAL (no warning) or -ENOSPC. */
int content_action_warning(const struct content_action *a, const char *map_class, char *buf,
                           size_t size);

/* Postfix's is_header(): the length of "name" when s starts with a
 * header label (printable, no ':' or space, then optional white space and
 * ':'), else 0. */
size_t content_is_header(const char *s, size_t len);

/* dsn_valid(): length of an enhanced status code at s ("5.7.1"), or 0. */
size_t content_dsn_valid(const char *s, size_t len);

#endif
