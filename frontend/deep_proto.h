/*
 * deep_proto.h - postscreen's deep protocol tests ("tests after SMTP
 * handshake") on the lines a client sends, as pure functions: no I/O, no
 * clock, no maps (the postscreen_forbidden_commands lookup is the
 * caller's predicate). The connection side is fe_deep.c.
 *
 * Framing (deep_line_next): postscreen's reader. A line ends at the first
 * LF; with a CR right before it that is CRLF, otherwise a BARE NEWLINE.
 * The line text excludes the terminator (a lone CR elsewhere stays in).
 *
 * Judging (deep_judge), for one line with what was read after it, in
 * postscreen 3.7's order (postscreen_smtpd.c):
 *   bare newline  the line ended in a bare LF;
 *   non-SMTP      its first word (split on spaces, as mystrtok(" ")) is not
 *                 in postscreen's command table (HELO EHLO STARTTLS XCLIENT
 *                 XFORWARD AUTH MAIL RCPT DATA BDAT RSET NOOP VRFY ETRN
 *                 QUIT) and looks like a message header ("Name:"), or is
 *                 not UTF-8 (with smtputf8_enable), or is in
 *                 postscreen_forbidden_commands;
 *   pipelining    more input was already read after the line, unless the
 *                 command is BDAT (its payload follows it).
 * Only the tests still to do (in->todo) are judged.
 *
 * Then what the frontend does with the line (out->next). It answers only
 * what it can answer byte for byte as the worker would: HELO/EHLO whose
 * syntax the worker's parser (workers/smtp_cmd.h) accepts, NOOP, RSET,
 * QUIT. MAIL and STARTTLS start real work: the client is handed to a
 * worker with that line unanswered, and the tests count as passed here
 * (postscreen passes them at RCPT, but it never lets the client get that
 * far for real; STARTTLS is where a TLS client must be handed, since a
 * TLS session cannot travel with the socket). Anything else (a syntax
 * error, RCPT/DATA/VRFY/ETRN/AUTH/XCLIENT before MAIL, an unknown
 * command) is handed off unanswered WITHOUT a pass: the worker's answer
 * may depend on policy, and such a client is tested again next time.
 */
#ifndef MX_FE_DEEP_PROTO_H
#define MX_FE_DEEP_PROTO_H

#include <stdbool.h>
#include <stddef.h>

/* The deep tests (bits). */
enum {
    DEEP_T_PIPEL = 1u << 0,
    DEEP_T_NSMTP = 1u << 1,
    DEEP_T_BARLF = 1u << 2,
};

/* Longest HELO/EHLO argument the frontend answers itself (a longer one is
 * handed to the worker unanswered). */
#define DEEP_HELO_MAX 255u

struct deep_line {
    size_t len;   /* text length, terminator excluded */
    size_t used;  /* bytes up to and including the LF */
    bool bare_lf; /* LF without CR before it */
};

/* 1: a whole line at buf[0..out->used); 0: no LF in buf[0..len) yet. */
int deep_line_next(const char *buf, size_t len, struct deep_line *out);

/* postscreen's command table. */
enum deep_verb {
    DEEP_V_NONE = 0, /* not in the table */
    DEEP_V_HELO,
    DEEP_V_EHLO,
    DEEP_V_STARTTLS,
    DEEP_V_XCLIENT,
    DEEP_V_XFORWARD,
    DEEP_V_AUTH,
    DEEP_V_MAIL,
    DEEP_V_RCPT,
    DEEP_V_DATA,
    DEEP_V_BDAT,
    DEEP_V_RSET,
    DEEP_V_NOOP,
    DEEP_V_VRFY,
    DEEP_V_ETRN,
    DEEP_V_QUIT,
};
/* "HELO", ..., "UNIMPLEMENTED" for DEEP_V_NONE (postscreen's "where"). */
const char *deep_verb_name(enum deep_verb v);

/* Postfix's is_header(): printable ASCII name, optional blanks, ':'. */
bool deep_is_header(const char *s, size_t len);
/* Postfix's valid_utf8_string() (no overlongs, surrogates or > U+10FFFF). */
bool deep_utf8_valid(const char *s, size_t len);

enum deep_next {
    DEEP_NEXT_HELO,         /* answer "250 myhostname" */
    DEEP_NEXT_EHLO,         /* answer the EHLO reply */
    DEEP_NEXT_OK,           /* NOOP, RSET: "250 2.0.0 Ok" */
    DEEP_NEXT_QUIT,         /* "221 2.0.0 Bye", close */
    DEEP_NEXT_HANDOFF_PASS, /* MAIL, STARTTLS: hand off unanswered, passed */
    DEEP_NEXT_HANDOFF,      /* hand off unanswered, not passed */
};

struct deep_in {
    unsigned todo;     /* DEEP_T_* still to judge */
    bool more;         /* input was read after this line */
    bool bare_lf;      /* the line ended in a bare LF */
    bool smtputf8;     /* smtputf8_enable */
    bool strict;       /* strict_rfc821_envelopes (for the worker's parser) */
    /* postscreen_forbidden_commands: nonzero when word[0..len) is listed;
     * NULL when the list is empty. */
    int (*forbidden)(void *ctx, const char *word, size_t len);
    void *ctx;
};

struct deep_verdict {
    unsigned failed;        /* DEEP_T_* failed by this line */
    enum deep_verb verb;
    const char *word;       /* the first word (for the logs) */
    size_t word_len;
    const char *rest;       /* after the word and its spaces */
    size_t rest_len;
    enum deep_next next;
    const char *helo;       /* DEEP_NEXT_HELO/EHLO: the argument */
    size_t helo_len;
};

void deep_judge(const char *line, size_t len, const struct deep_in *in, struct deep_verdict *out);

#endif
