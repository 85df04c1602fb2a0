/*
 * test_mime_state.c - the content parser against what Postfix's smtpd +
 * cleanup + mime_state would hand to header/body checks.
 *
 * Each case is a message and the transcript of callbacks it must give:
 *   P: primary header   M: MIME header   N: nested header   E  header end
 *   B: body line   C: body piece continued in the next   S: --boundary
 *   Z: --boundary--   a leading '!' marks a body unit past
 *   body_checks_size_limit, a trailing " [T]" a truncated header.
 * Newlines, tabs, CRs and 8-bit bytes in the text are shown escaped.
 * Every case is also fed split at every offset and byte by byte, and must
 * give the same transcript.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime_state.h"

struct rec {
    char buf[16384];
    size_t len;
};

static void put(struct rec *r, const char *s, size_t n)
{
    if (r->len + n < sizeof(r->buf)) {
        memcpy(r->buf + r->len, s, n);
        r->len += n;
        r->buf[r->len] = '\0';
    }
}

static void record(void *ctx, const struct mime_unit *u)
{
    struct rec *r = ctx;
    const char *tag = "?";
    switch (u->cls) {
    case MIME_CLASS_HEADER: tag = "P:"; break;
    case MIME_CLASS_MIME_HEADER: tag = "M:"; break;
    case MIME_CLASS_NESTED_HEADER: tag = "N:"; break;
    case MIME_CLASS_HEADER_END: tag = "E"; break;
    case MIME_CLASS_BODY:
        tag = (u->flags & MIME_UNIT_BOUNDARY_END) ? "Z:"
              : (u->flags & MIME_UNIT_BOUNDARY) ? "S:"
              : (u->flags & MIME_UNIT_CONT)     ? "C:"
                                                : "B:";
        if (u->flags & MIME_UNIT_UNCHECKED)
            put(r, "!", 1);
        break;
    }
    put(r, tag, strlen(tag));
    for (size_t i = 0; i < u->len; i++) {
        unsigned char c = (unsigned char)u->text[i];
        char esc[8];
        if (c == '\n')
            put(r, "\\n", 2);
        else if (c == '\t')
            put(r, "\\t", 2);
        else if (c == '\r')
            put(r, "\\r", 2);
        else if (c < 32 || c >= 127) {
            snprintf(esc, sizeof(esc), "\\x%02x", c);
            put(r, esc, 4);
        } else
            put(r, (const char *)&c, 1);
    }
    if (u->flags & MIME_UNIT_TRUNCATED)
        put(r, " [T]", 4);
    put(r, "\n", 1);
    /* Invariants every unit must keep. */
    if (u->cls != MIME_CLASS_BODY && u->len != strlen(u->text))
        fail_msg("header text not NUL-terminated at its length");
}

struct mcase {
    const char *name;
    const char *in;
    size_t in_len; /* 0: strlen */
    const char *want;
    unsigned errs;
    size_t header_limit, line_limit, body_limit; /* 0: default */
    unsigned nesting;                            /* 0: default */
    unsigned opts;
    const char *server_hdr;
};

static struct mime_state *make(const struct mcase *c, struct rec *r)
{
    struct mime_limits lim;
    struct mime_state *st;
    mime_limits_default(&lim);
    if (c->header_limit)
        lim.header_size_limit = c->header_limit;
    if (c->line_limit)
        lim.line_length_limit = c->line_limit;
    if (c->body_limit)
        lim.body_checks_size_limit = c->body_limit;
    if (c->nesting)
        lim.nesting_limit = c->nesting;
    assert_int_equal(mime_state_create(&lim, c->opts, record, r, &st), 0);
    return st;
}

/* Feed in pieces cut at the given offsets (ascending, within len). */
static unsigned run(const struct mcase *c, struct rec *r, const size_t *cuts, size_t ncuts)
{
    size_t len = c->in_len ? c->in_len : strlen(c->in), pos = 0;
    struct mime_state *st = make(c, r);
    r->len = 0;
    r->buf[0] = '\0';
    if (c->server_hdr)
        mime_state_header(st, c->server_hdr, strlen(c->server_hdr));
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        mime_state_feed(st, c->in + pos, end - pos);
        pos = end;
    }
    unsigned errs = mime_state_finish(st);
    mime_state_free(st);
    return errs;
}

#define MP_MSG                                                                                    \
    "From: a@example.com\r\n"                                                                     \
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"                                       \
    "\r\n"                                                                                        \
    "preamble\r\n"                                                                                \
    "--outer\r\n"                                                                                 \
    "Content-Type: text/plain\r\n"                                                                \
    "X-Part: one\r\n"                                                                             \
    "\r\n"                                                                                        \
    "part1\r\n"                                                                                   \
    "--outer\r\n"                                                                                 \
    "Content-Type: multipart/alternative;\r\n"                                                    \
    "\tboundary=inner\r\n"                                                                        \
    "\r\n"                                                                                        \
    "--inner\r\n"                                                                                 \
    "Content-Type: text/html\r\n"                                                                 \
    "Content-Transfer-Encoding: base64\r\n"                                                       \
    "\r\n"                                                                                        \
    "PGI+\r\n"                                                                                    \
    "--inner--\r\n"                                                                               \
    "epilogue-inner\r\n"                                                                          \
    "--outer\r\n"                                                                                 \
    "Content-Type: message/rfc822\r\n"                                                            \
    "\r\n"                                                                                        \
    "Subject: nested\r\n"                                                                         \
    "Content-Type: text/plain\r\n"                                                                \
    "\r\n"                                                                                        \
    "nested body\r\n"                                                                             \
    "--outer--\r\n"                                                                               \
    "epilogue\r\n"

#define MP_WANT                                                                                   \
    "P:From: a@example.com\n"                                                                     \
    "M:Content-Type: multipart/mixed; boundary=\"outer\"\n"                                       \
    "E\n"                                                                                         \
    "B:\n"                                                                                        \
    "B:preamble\n"                                                                                \
    "S:--outer\n"                                                                                 \
    "M:Content-Type: text/plain\n"                                                                \
    "M:X-Part: one\n"                                                                             \
    "B:\n"                                                                                        \
    "B:part1\n"                                                                                   \
    "S:--outer\n"                                                                                 \
    "M:Content-Type: multipart/alternative;\\n\\tboundary=inner\n"                                \
    "B:\n"                                                                                        \
    "S:--inner\n"                                                                                 \
    "M:Content-Type: text/html\n"                                                                 \
    "M:Content-Transfer-Encoding: base64\n"                                                       \
    "B:\n"                                                                                        \
    "B:PGI+\n"                                                                                    \
    "Z:--inner--\n"                                                                               \
    "B:epilogue-inner\n"                                                                          \
    "S:--outer\n"                                                                                 \
    "M:Content-Type: message/rfc822\n"                                                            \
    "B:\n"                                                                                        \
    "N:Subject: nested\n"                                                                         \
    "M:Content-Type: text/plain\n"                                                                \
    "B:\n"                                                                                        \
    "B:nested body\n"                                                                             \
    "Z:--outer--\n"                                                                               \
    "B:epilogue\n"

#define NUL_MSG "Subject: a\0b\r\n\r\nab\0cd\r\n"

#define CRS_MSG "Subject: a\r\r\n\r\n.\r\r\nx\r\r\r\ny\n\r\n"

static const struct mcase cases[] = {
    {"simple", "Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n",
     0, "P:Subject: hi\nP:From: a@b\nE\nB:\nB:body\n", 0, 0, 0, 0, 0, 0, NULL},
    {"folded tab and spaces", "Subject: a\r\n\tb\r\n  c\r\nTo: x\r\n\r\n",
     0, "P:Subject: a\\n\\tb\\n  c\nP:To: x\nE\nB:\n", 0, 0, 0, 0, 0, 0, NULL},
    {"obsolete name space colon", "Subject \t: x\r\n\r\n",
     0, "P:Subject: x\nE\nB:\n", 0, 0, 0, 0, 0, 0, NULL},
    {"no colon ends primary headers with an inserted empty line",
     "Subject: a\r\nnot a header\r\nX-Y: z\r\n",
     0, "P:Subject: a\nE\nB:\nB:not a header\nB:X-Y: z\n", 0, 0, 0, 0, 0, 0, NULL},
    {"space inside a name is not a header", "Sub ject: a\r\n\r\n",
     0, "E\nB:\nB:Sub ject: a\nB:\n", 0, 0, 0, 0, 0, 0, NULL},
    {"empty header section", "\r\nSubject: body\r\n",
     0, "E\nB:\nB:Subject: body\n", 0, 0, 0, 0, 0, 0, NULL},
    {"empty message", "", 0, "E\n", 0, 0, 0, 0, 0, 0, NULL},
    {"headers only, no empty line", "Subject: a\r\n", 0, "P:Subject: a\nE\n", 0, 0, 0, 0, 0, 0,
     NULL},
    {"leading white space cannot continue the Received header",
     " x: y\r\nSubject: s\r\n",
     0, "P:Received: by mx\\n\\tid 1\nE\nB:\nB: x: y\nB:Subject: s\n", 0, 0, 0, 0, 0, 0,
     "Received: by mx\r\n\tid 1\r\n"},
    {"From_ line becomes X-Mailbox-Line", ">From me  Mon\r\nSubject: s\r\n\r\n",
     0, "P:X-Mailbox-Line: >From me  Mon\nP:Subject: s\nE\nB:\n", 0, 0, 0, 0, 0, 0, NULL},
    {"MIME headers in the primary section; Content-Length is not one",
     "MIME-Version: 1.0\r\nContent-Type: text/plain\r\ncontent-id: <x>\r\n"
     "Content-Length: 5\r\nContent-Disposition: inline\r\nContent-Description: d\r\n\r\n",
     0,
     "M:MIME-Version: 1.0\nM:Content-Type: text/plain\nM:content-id: <x>\n"
     "P:Content-Length: 5\nM:Content-Disposition: inline\nM:Content-Description: d\nE\nB:\n",
     0, 0, 0, 0, 0, 0, NULL},
    {"multipart with nested multipart and message/rfc822", MP_MSG, 0, MP_WANT, 0, 0, 0, 0, 0, 0,
     NULL},
    {"boundary with trailing text, innermost first, outer pops inner",
     "Content-Type: multipart/mixed; boundary=\"=_a\"\r\n\r\n"
     "--=_a junk\r\nContent-Type: multipart/mixed; boundary=\"=_ab\"\r\n\r\n"
     "--=_ab\r\n\r\nx\r\n--=_a\r\nX: 1\r\n\r\n--=_ab\r\n--=_a--\r\n--=_a\r\n",
     0,
     "M:Content-Type: multipart/mixed; boundary=\"=_a\"\nE\nB:\n"
     "S:--=_a junk\nM:Content-Type: multipart/mixed; boundary=\"=_ab\"\nB:\n"
     "S:--=_ab\nB:\nB:x\nS:--=_a\nM:X: 1\nB:\nS:--=_ab\nZ:--=_a--\nB:--=_a\n",
     0, 0, 0, 0, 0, 0, NULL},
    {"inner boundary that is a prefix of the outer one wins",
     "Content-Type: multipart/mixed; boundary=abc\r\n\r\n--abc\r\n"
     "Content-Type: multipart/mixed; boundary=ab\r\n\r\n--abc\r\nX: 1\r\n",
     0,
     "M:Content-Type: multipart/mixed; boundary=abc\nE\nB:\nS:--abc\n"
     "M:Content-Type: multipart/mixed; boundary=ab\nB:\nS:--abc\nM:X: 1\n",
     0, 0, 0, 0, 0, 0, NULL},
    {"boundary tokens: comments, quoted-pair, special value, several boundaries",
     "Content-Type: multipart/mixed (c; boundary=no); boundary=\"a\\\"b\";"
     " boundary==x\r\n\r\n--=\r\n\r\n--a\"b\r\n",
     0,
     "M:Content-Type: multipart/mixed (c; boundary=no); boundary=\"a\\\"b\"; boundary==x\n"
     "E\nB:\nS:--=\nB:\nS:--a\"b\n",
     0, 0, 0, 0, 0, 0, NULL},
    {"quoted boundary folded across lines is unfolded",
     "Content-Type: multipart/mixed; boundary=\"x  \r\n\ty\"\r\n\r\n--x\tyz\r\n",
     0, "M:Content-Type: multipart/mixed; boundary=\"x  \\n\\ty\"\nE\nB:\nS:--x\\tyz\n", 0, 0,
     0, 0, 0, 0, NULL},
    {"boundary needs two dashes and one more byte",
     "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n-x\r\n--x\r\n",
     0,
     "M:Content-Type: multipart/mixed; boundary=\"\"\nE\nB:\nB:--\nB:-x\nS:--x\n", 0, 0, 0, 0,
     0, 0, NULL},
    {"header longer than header_size_limit",
     "Subject: 0123456789\r\n\tabcdefghij\r\n\tKLMN\r\nTo: t\r\n\r\n",
     0, "P:Subject: 0123456789\\n\\tabcdefghij [T]\nP:To: t\nE\nB:\n", MIME_ERR_TRUNC_HEADER,
     20, 0, 0, 0, 0, NULL},
    {"long lines are split at line_length_limit, header pieces rejoined",
     "Subject: 0123456789\r\n\r\n0123456789ABCDE\r\n--\r\n",
     0, "P:Subject: 0123456789\nE\nB:\nC:0123456789\nB:ABCDE\nB:--\n", 0, 0, 10, 0, 0, 0,
     NULL},
    {"bound between CR and LF; CR before the bound stays",
     "X: 012345\r\n\r\n012345678\r\n012345678\r\r\nabc\rd\r\r\n",
     0, "P:X: 012345\nE\nB:\nB:012345678\nC:012345678\\r\nB:\nB:abc\\rd\n", 0, 0, 10, 0, 0, 0,
     NULL},
    {"a header name cut by line_length_limit is no header (record without colon)",
     "Content-Type: multipart/mixed; boundary=b\r\n\r\n0123456789--b\r\n",
     0,
     "E\nB:\nC:Content-Ty\nC:pe: multip\nC:art/mixed;\nC: boundary=\nB:b\nB:\nC:0123456789\n"
     "B:--b\n",
     0, 0, 10, 0, 0, 0, NULL},
    {"a continued piece is never a boundary",
     "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
     "01234567890123456789012345678901234567890123456789--b\r\n--b\r\n",
     0,
     "M:Content-Type: multipart/mixed; boundary=b\nE\nB:\n"
     "C:01234567890123456789012345678901234567890123456789\nB:--b\nS:--b\n",
     0, 0, 50, 0, 0, 0, NULL},
    {"bare LF ends lines; lone CR is data", "Subject: a\nX: b\r\n\nbo\rdy\n",
     0, "P:Subject: a\nP:X: b\nE\nB:\nB:bo\\rdy\n", 0, 0, 0, 0, 0, 0, NULL},
    {"8-bit in a header", "Subject: caf\xc3\xa9\r\n\r\n",
     0, "P:Subject: caf\\xc3\\xa9\nE\nB:\n", MIME_ERR_8BIT_IN_HEADER, 0, 0, 0, 0, 0, NULL},
    {"8-bit body declared 7bit", "Subject: a\r\n\r\n\xe9t\xe9\r\n",
     0, "P:Subject: a\nE\nB:\nB:\\xe9t\\xe9\n", MIME_ERR_8BIT_IN_7BIT_BODY, 0, 0, 0, 0, 0, NULL},
    {"8-bit body declared 8bit", "Content-Transfer-Encoding: 8bit\r\n\r\n\xe9\r\n",
     0, "M:Content-Transfer-Encoding: 8bit\nE\nB:\nB:\\xe9\n", 0, 0, 0, 0, 0, 0, NULL},
    {"multipart in base64 is a bad encoding domain",
     "Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64\r\n\r\n",
     0,
     "M:Content-Type: multipart/mixed; boundary=b\nM:Content-Transfer-Encoding: base64\nE\nB:\n",
     MIME_ERR_ENCODING_DOMAIN, 0, 0, 0, 0, 0, NULL},
    {"nesting beyond mime_nesting_limit ignores the boundary",
     "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
     "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
     "Content-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nX: 1\r\n",
     0,
     "M:Content-Type: multipart/mixed; boundary=a\nE\nB:\nS:--a\n"
     "M:Content-Type: multipart/mixed; boundary=b\nB:\nS:--b\n"
     "M:Content-Type: multipart/mixed; boundary=c\nB:\nB:--c\nB:X: 1\n",
     MIME_ERR_NESTING, 0, 0, 0, 1, 0, NULL},
    {"body_checks_size_limit per body segment",
     "Content-Type: multipart/mixed; boundary=b\r\n\r\n12345\r\n67890\r\nabc\r\n--b\r\n\r\nx\r\n",
     0,
     "M:Content-Type: multipart/mixed; boundary=b\nE\nB:\nB:12345\nB:67890\n!B:abc\n!S:--b\n"
     "B:\nB:x\n",
     0, 0, 0, 10, 0, 0, NULL},
    {"NUL ends what the checks see", NUL_MSG, sizeof(NUL_MSG) - 1,
     "P:Subject: a\nE\nB:\nB:ab\n", 0, 0, 0, 0, 0, 0, NULL},
    {"garbage in part headers: no empty line inserted",
     "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nnot header\r\n",
     0, "M:Content-Type: multipart/mixed; boundary=b\nE\nB:\nS:--b\nB:not header\n", 0, 0, 0, 0,
     0, 0, NULL},
    {"multipart/digest parts default to message/rfc822",
     "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\r\nx\r\n",
     0,
     "M:Content-Type: multipart/digest; boundary=d\nE\nB:\nS:--d\nB:\nN:Subject: in\nB:\nB:x\n",
     0, 0, 0, 0, 0, 0, NULL},
    {"quoted-printable lines are checked encoded",
     "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =\r\nx\r\n",
     0, "M:Content-Transfer-Encoding: quoted-printable\nE\nB:\nB:caf=C3=A9 =\nB:x\n", 0, 0, 0, 0,
     0, 0, NULL},
    {"disable_mime_input_processing: one body, MIME headers still M",
     "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nSubject: x\r\n",
     0, "M:Content-Type: multipart/mixed; boundary=b\nE\nB:\nB:--b\nB:Subject: x\n", 0, 0, 0, 0,
     0, MIME_OPT_DISABLE_MIME, NULL},
    {"dot-stuffed input is unstuffed at record starts only",
     "..x: y\r\n\r\n..\r\n..23456789AB\r\n", 0, "P:.x: y\nE\nB:\nB:.\nC:.23456789\nB:AB\n", 0, 0, 10,
     0, 0, MIME_OPT_DOT_STUFFED, NULL},
    {"input without a final line end", "Subject: a\r\n\r\nlast", 0,
     "P:Subject: a\nE\nB:\nB:last\n", 0, 0, 0, 0, 0, 0, NULL},
    /* smtpd_forbid_bare_newline = no: smtp_get() drops every CR before LF. */
    {"all CRs before LF removed", CRS_MSG, 0,
     "P:Subject: a\nE\nB:\nB:\nB:x\nB:y\nB:\n", 0, 0, 0, 0, 0, MIME_OPT_DOT_STUFFED, NULL},
    /* normalize/reject (Postfix 3.7.11, seen at its next hop): one CR goes,
     * ".\r\r\n" is the line "\r", a bare LF keeps what is before it. */
    {"STRIP_ONE_CR: one CR before LF removed", CRS_MSG, 0,
     "P:Subject: a\\r\nE\nB:\nB:\\r\nB:x\\r\\r\nB:y\nB:\n", 0, 0, 0, 0, 0,
     MIME_OPT_DOT_STUFFED | MIME_OPT_STRIP_ONE_CR, NULL},
    /* The bound falls inside the CRs: smtp_get() reads the LF after a
     * CR at the bound and then drops one CR; a CR followed by another CR
     * ends a continued record. */
    {"STRIP_ONE_CR: CRs at the line_length_limit bound", "ab\r\r\nabc\r\r\nabc\r\n", 0,
     "E\nB:\nB:ab\\r\nC:abc\\r\nB:\nB:abc\n", 0, 0, 4, 0, 0, MIME_OPT_STRIP_ONE_CR, NULL},
    {"all CRs: CRs at the line_length_limit bound", "ab\r\r\nabc\r\r\nabc\r\n", 0,
     "E\nB:\nB:ab\nC:abc\\r\nB:\nB:abc\n", 0, 0, 4, 0, 0, 0, NULL},
};

static void table(void **state)
{
    (void)state;
    struct rec *r = malloc(sizeof(*r));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct mcase *c = &cases[i];
        unsigned errs = run(c, r, NULL, 0);
        if (strcmp(r->buf, c->want) != 0)
            fail_msg("case %zu (%s):\n--- got\n%s--- want\n%s", i, c->name, r->buf, c->want);
        if (errs != c->errs)
            fail_msg("case %zu (%s): errors %#x want %#x", i, c->name, errs, c->errs);
    }
    free(r);
}

/* Every case, cut once at every offset and also byte by byte. */
static void chunking(void **state)
{
    (void)state;
    struct rec *r = malloc(sizeof(*r));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct mcase *c = &cases[i];
        size_t len = c->in_len ? c->in_len : strlen(c->in);
        size_t *cuts = malloc((len + 1) * sizeof(*cuts));
        for (size_t at = 0; at <= len; at++) {
            unsigned errs = run(c, r, &at, 1);
            if (strcmp(r->buf, c->want) != 0 || errs != c->errs)
                fail_msg("case %zu (%s) cut at %zu:\n%s", i, c->name, at, r->buf);
        }
        for (size_t k = 0; k < len; k++)
            cuts[k] = k + 1;
        unsigned errs = run(c, r, cuts, len ? len - 1 : 0);
        if (strcmp(r->buf, c->want) != 0 || errs != c->errs)
            fail_msg("case %zu (%s) byte by byte:\n%s", i, c->name, r->buf);
        free(cuts);
    }
    free(r);
}

/* Reset reuses the buffers: a second message parses like a first. */
static void reset_reuse(void **state)
{
    (void)state;
    struct rec *r = malloc(sizeof(*r));
    struct mime_limits lim;
    struct mime_state *st;
    mime_limits_default(&lim);
    assert_int_equal(mime_state_create(&lim, 0, record, r, &st), 0);
    r->len = 0;
    mime_state_feed(st, MP_MSG, strlen(MP_MSG) - 5); /* stop mid-message */
    mime_state_reset(st);
    r->len = 0;
    mime_state_feed(st, MP_MSG, strlen(MP_MSG));
    assert_int_equal(mime_state_finish(st), 0);
    assert_string_equal(r->buf, MP_WANT);
    mime_state_free(st);
    free(r);
}

static void limits_and_errors(void **state)
{
    (void)state;
    struct mime_limits lim;
    struct mime_state *st = NULL;
    struct rec r;
    mime_limits_default(&lim);
    lim.line_length_limit = 0;
    assert_int_equal(mime_state_create(&lim, 0, record, &r, &st), -22);
    mime_limits_default(&lim);
    lim.boundary_length_limit = 0;
    assert_int_equal(mime_state_create(&lim, 0, record, &r, &st), -22);
    mime_limits_default(&lim);
    assert_int_equal(mime_state_create(&lim, 0, NULL, &r, &st), -22);
    assert_string_equal(mime_state_error_text(MIME_ERR_ENCODING_DOMAIN | MIME_ERR_NESTING),
                        "MIME nesting exceeds safety limit");
    assert_string_equal(mime_state_error_text(MIME_ERR_8BIT_IN_7BIT_BODY),
                        "improper use of 8-bit data in message body");
    assert_string_equal(mime_state_error_dsn(MIME_ERR_TRUNC_HEADER), "5.6.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table),
        cmocka_unit_test(chunking),
        cmocka_unit_test(reset_reuse),
        cmocka_unit_test(limits_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
