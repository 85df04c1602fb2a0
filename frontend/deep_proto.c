/*
 * deep_proto.c - see deep_proto.h.
 */
#include "deep_proto.h"

#include <string.h>
#include <strings.h>

#include "smtp_cmd.h"

static const struct {
    const char *name;
    enum deep_verb v;
} table[] = {
    {"HELO", DEEP_V_HELO}, {"EHLO", DEEP_V_EHLO}, {"STARTTLS", DEEP_V_STARTTLS},
    {"XCLIENT", DEEP_V_XCLIENT}, {"XFORWARD", DEEP_V_XFORWARD}, {"AUTH", DEEP_V_AUTH},
    {"MAIL", DEEP_V_MAIL}, {"RCPT", DEEP_V_RCPT}, {"DATA", DEEP_V_DATA},
    {"BDAT", DEEP_V_BDAT}, {"RSET", DEEP_V_RSET}, {"NOOP", DEEP_V_NOOP},
    {"VRFY", DEEP_V_VRFY}, {"ETRN", DEEP_V_ETRN}, {"QUIT", DEEP_V_QUIT},
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

const char *deep_verb_name(enum deep_verb v)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (table[i].v == v)
            return table[i].name;
    return "UNIMPLEMENTED";
}

int deep_line_next(const char *buf, size_t len, struct deep_line *out)
{
    const char *lf = memchr(buf, '\n', len);
    if (!lf)
        return 0;
    size_t at = (size_t)(lf - buf);
    out->used = at + 1;
    out->bare_lf = at == 0 || buf[at - 1] != '\r';
    out->len = out->bare_lf ? at : at - 1;
    return 1;
}

bool deep_is_header(const char *s, size_t len)
{
    enum { INIT, IN_CHAR, IN_CHAR_SPACE } st = INIT;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == ':')
            return st != INIT;
        if (ch == ' ' || ch == '\t') {
            if (st == INIT)
                return false;
            st = IN_CHAR_SPACE;
            continue;
        }
        if (ch == 0 || ch >= 0x80 || ch < 0x20 || ch == 0x7f || st == IN_CHAR_SPACE)
            return false;
        st = IN_CHAR;
    }
    return false;
}

bool deep_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned min2 = 0x80, max2 = 0xbf;
        if (c < 0x80) {
            p++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                min2 = 0xa0; /* overlong */
            else if (c == 0xed)
                max2 = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                min2 = 0x90; /* overlong */
            else if (c == 0xf4)
                max2 = 0x8f; /* above U+10FFFF */
        } else {
            return false;
        }
        if ((size_t)(end - p) <= n)
            return false;
        if (p[1] < min2 || p[1] > max2)
            return false;
        for (size_t k = 2; k <= n; k++)
            if (p[k] < 0x80 || p[k] > 0xbf)
                return false;
        p += n + 1;
    }
    return true;
}

/* What the worker would make of the line's syntax (its own parser). */
static enum smtp_parse_result worker_parse(const char *line, size_t len, const struct deep_in *in,
                                           struct smtp_cmd *cmd)
{
    char scratch[SMTP_SCRATCH_NEED(1024)];
    if (SMTP_SCRATCH_NEED(len) > sizeof(scratch))
        return SMTP_PARSE_ERROR; /* longer than the frontend reads: the worker's */
    struct smtp_parse_opts o = {.strict = in->strict,
                                .smtputf8 = in->smtputf8,
                                .scratch = scratch,
                                .scratch_size = sizeof(scratch)};
    enum smtp_parse_result r = smtp_cmd_parse(line, len, &o, cmd);
    /* Pointers into scratch must not escape: only arg (into line) is used. */
    cmd->addr = cmd->envid = cmd->orcpt = NULL;
    return r;
}

static bool helo_ok(const char *a, size_t n)
{
    if (n == 0 || n > DEEP_HELO_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (a[i] == '\0' || a[i] == '\r' || a[i] == '\n')
            return false; /* the handoff record cannot carry it */
    return true;
}

void deep_judge(const char *line, size_t len, const struct deep_in *in, struct deep_verdict *out)
{
    memset(out, 0, sizeof(*out));
    /* The first word, as mystrtok(&p, " "): spaces only. */
    size_t i = 0;
    while (i < len && line[i] == ' ')
        i++;
    size_t w = i;
    while (i < len && line[i] != ' ')
        i++;
    out->word = line + w;
    out->word_len = i - w;
    while (i < len && line[i] == ' ')
        i++;
    out->rest = line + i;
    out->rest_len = len - i;
    out->verb = DEEP_V_NONE;
    for (size_t k = 0; k < NTABLE; k++)
        if (strlen(table[k].name) == out->word_len &&
            strncasecmp(out->word, table[k].name, out->word_len) == 0)
            out->verb = table[k].v;

    if ((in->todo & DEEP_T_BARLF) && in->bare_lf)
        out->failed |= DEEP_T_BARLF;
    if ((in->todo & DEEP_T_NSMTP) && out->verb == DEEP_V_NONE &&
        (deep_is_header(out->word, out->word_len) ||
         (in->smtputf8 && !deep_utf8_valid(out->word, out->word_len)) ||
         (in->forbidden && out->word_len > 0 && in->forbidden(in->ctx, out->word, out->word_len))))
        out->failed |= DEEP_T_NSMTP;
    if ((in->todo & DEEP_T_PIPEL) && in->more && out->verb != DEEP_V_BDAT)
        out->failed |= DEEP_T_PIPEL;

    struct smtp_cmd cmd;
    enum smtp_parse_result r = worker_parse(line, len, in, &cmd);
    out->next = DEEP_NEXT_HANDOFF;
    if (r != SMTP_PARSE_OK)
        return;
    switch (cmd.verb) {
    case SMTP_VERB_HELO:
    case SMTP_VERB_EHLO:
        if (helo_ok(cmd.arg, cmd.arg_len)) {
            out->next = cmd.verb == SMTP_VERB_HELO ? DEEP_NEXT_HELO : DEEP_NEXT_EHLO;
            out->helo = cmd.arg;
            out->helo_len = cmd.arg_len;
        }
        return;
    case SMTP_VERB_NOOP:
    case SMTP_VERB_RSET: out->next = DEEP_NEXT_OK; return;
    case SMTP_VERB_QUIT: out->next = DEEP_NEXT_QUIT; return;
    case SMTP_VERB_MAIL:
    case SMTP_VERB_STARTTLS: out->next = DEEP_NEXT_HANDOFF_PASS; return;
    default: return;
    }
}
