/*
 * smtp_cmd.c - split an SMTP command line and check its syntax as Postfix.
 *
 * The order of the checks is Postfix smtpd's (verified with
 * tests/peer/smtpd_syntax.py against Postfix 3.7):
 *   1. the line is cut at line_length_limit (the reader drops the rest) and
 *      at a NUL byte (Postfix works on C strings);
 *   2. with smtputf8_enable, a line that is not UTF-8 gets "bad UTF-8";
 *   3. it is split into tokens the way smtpd_token() does: white space
 *      separates, "<...>" (nesting, with quoted strings inside) and "..."
 *      group, a backslash quotes the next byte, and "TO:" / "FROM:" end a
 *      token by themselves so "FROM:<a@b>" is two; an unterminated "<" or
 *      quote marks the token bad;
 *   4. no token: "bad syntax"; the first token names the verb (any case);
 *      an unknown verb that looks like a message header ("Subject:") or is
 *      in smtpd_forbidden_commands' default (CONNECT, GET, POST, or not
 *      starting with a letter) is a non-SMTP command;
 *   5. per-verb argument checks; MAIL and RCPT parameters left to right,
 *      the first bad one decides.
 */
#include "smtp_cmd.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const struct smtp_cmd_reply smtp_reply_table[SMTP_R_COUNT] = {
    [SMTP_R_NONE] = {0, "", "", 0},
    [SMTP_R_BAD_SYNTAX] = {500, "5.5.2", "Error: bad syntax", 0},
    [SMTP_R_BAD_UTF8] = {500, "5.5.2", "Error: bad UTF-8 syntax", 0},
    [SMTP_R_UNKNOWN] = {500, "5.5.2", "Error: command not recognized", 0},
    [SMTP_R_NONSMTP] = {221, "2.7.0", "Error: I can break rules, too. Goodbye.", 1},
    [SMTP_R_SYNTAX_HELO] = {501, "", "Syntax: HELO hostname", 0},
    [SMTP_R_SYNTAX_EHLO] = {501, "", "Syntax: EHLO hostname", 0},
    [SMTP_R_SYNTAX_MAIL] = {501, "5.5.4", "Syntax: MAIL FROM:<address>", 0},
    [SMTP_R_SYNTAX_RCPT] = {501, "5.5.4", "Syntax: RCPT TO:<address>", 0},
    [SMTP_R_BAD_SENDER] = {501, "5.1.7", "Bad sender address syntax", 0},
    [SMTP_R_BAD_RCPT] = {501, "5.1.3", "Bad recipient address syntax", 0},
    [SMTP_R_BAD_SIZE] = {501, "5.5.4", "Bad message size syntax", 0},
    [SMTP_R_SIZE_OVERFLOW] = {552, "5.3.4", "Message size exceeds file system imposed limit", 0},
    [SMTP_R_BAD_RET] = {501, "5.5.4", "Bad RET parameter syntax", 0},
    [SMTP_R_BAD_ENVID] = {501, "5.5.4", "Bad ENVID parameter syntax", 0},
    [SMTP_R_BAD_NOTIFY] = {501, "5.5.4", "Error: Bad NOTIFY parameter syntax", 0},
    [SMTP_R_BAD_ORCPT] = {501, "5.5.4", "Error: Bad ORCPT parameter syntax", 0},
    [SMTP_R_UNSUPPORTED_OPT] = {555, "5.5.4", "Unsupported option:", 0},
    [SMTP_R_SYNTAX_DATA] = {501, "5.5.4", "Syntax: DATA", 0},
    [SMTP_R_SYNTAX_BDAT] = {521, "5.5.4", "Syntax: BDAT count [LAST]", 1},
    [SMTP_R_SYNTAX_RSET] = {501, "5.5.4", "Syntax: RSET", 0},
    [SMTP_R_SYNTAX_VRFY] = {501, "5.5.4", "Syntax: VRFY address [SMTPUTF8]", 0},
    [SMTP_R_SYNTAX_ETRN] = {500, "", "Syntax: ETRN domain", 0},
    [SMTP_R_SYNTAX_STARTTLS] = {501, "5.5.4", "Syntax: STARTTLS", 0},
    [SMTP_R_SYNTAX_XCLIENT] = {501, "5.5.4", "Syntax: XCLIENT attribute=value...", 0},
    [SMTP_R_SYNTAX_AUTH] = {501, "5.5.4", "Syntax: AUTH mechanism", 0},
    [SMTP_R_DSN_DISABLED] = {501, "5.7.1", "DSN support is disabled", 0},
    [SMTP_R_NOSPACE] = {451, "4.3.0", "Error: insufficient resources", 0},
};

static const char *const verb_names[] = {
    [SMTP_VERB_NONE] = "",          [SMTP_VERB_HELO] = "HELO",
    [SMTP_VERB_EHLO] = "EHLO",      [SMTP_VERB_MAIL] = "MAIL",
    [SMTP_VERB_RCPT] = "RCPT",      [SMTP_VERB_DATA] = "DATA",
    [SMTP_VERB_BDAT] = "BDAT",      [SMTP_VERB_RSET] = "RSET",
    [SMTP_VERB_NOOP] = "NOOP",      [SMTP_VERB_QUIT] = "QUIT",
    [SMTP_VERB_VRFY] = "VRFY",      [SMTP_VERB_ETRN] = "ETRN",
    [SMTP_VERB_STARTTLS] = "STARTTLS", [SMTP_VERB_XCLIENT] = "XCLIENT",
    [SMTP_VERB_AUTH] = "AUTH",      [SMTP_VERB_HELP] = "HELP",
};

const char *smtp_verb_name(enum smtp_verb v)
{
    return (unsigned)v < sizeof(verb_names) / sizeof(verb_names[0]) ? verb_names[v] : "";
}

size_t smtp_reply_format(const struct smtp_cmd *c, char *buf, size_t size)
{
    const struct smtp_cmd_reply *r = &smtp_reply_table[c->reply < SMTP_R_COUNT ? c->reply : 0];
    int n = snprintf(buf, size, "%u%s%s %s", r->code, r->dsn[0] ? " " : "", r->dsn, r->text);
    if (n >= 0 && c->reply == SMTP_R_UNSUPPORTED_OPT) {
        size_t used = (size_t)n < size ? (size_t)n : (size ? size - 1 : 0);
        int m = snprintf(buf + used, size - used, " %.*s", (int)c->reply_arg_len, c->reply_arg);
        n += m > 0 ? m : 0;
        /* The option is the client's text: a bare CR or other control
         * byte inside <...> must not break the reply line (found by
         * fuzz_dummy_smtpd: "555 5.5.4 Unsupported option: x\r..."). */
        for (char *p = buf + used; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    }
    return n < 0 ? 0 : (size_t)n;
}

struct stok {
    const char *s;
    size_t n;
    int bad; /* unterminated "<" or quote */
};

/* A line of line_length_limit bytes has at most half as many tokens. */
#define MAX_ARGS 1100

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int tok_is(const struct stok *t, const char *word)
{
    size_t n = strlen(word);
    return t->n == n && strncasecmp(t->s, word, n) == 0;
}

static int tok_prefix(const struct stok *t, const char *word)
{
    size_t n = strlen(word);
    return t->n >= n && strncasecmp(t->s, word, n) == 0;
}

/* Skip "<...>" or "..." starting at s[i] (the opening char); 0 if unclosed. */
static int skip_group(const char *s, size_t n, size_t *ip)
{
    size_t i = *ip;
    int angle = s[i] == '<', depth = 1, inq = !angle;
    for (i++; i < n; i++) {
        char c = s[i];
        if (c == '\\') {
            if (++i >= n)
                break;
        } else if (inq) {
            if (c == '"') {
                inq = 0;
                if (!angle) {
                    *ip = i + 1;
                    return 1;
                }
            }
        } else if (c == '>') {
            if (--depth == 0) {
                *ip = i + 1;
                return 1;
            }
        } else if (c == '"') {
            inq = 1;
        } else if (c == '<') {
            depth++;
        }
    }
    *ip = n;
    return 0;
}

static size_t tokenize(const char *s, size_t n, struct stok *t, size_t max)
{
    size_t i = 0, nt = 0;
    while (nt < max) {
        while (i < n && is_space(s[i]))
            i++;
        if (i >= n)
            break;
        size_t start = i;
        int bad = 0;
        while (i < n && !is_space(s[i])) {
            char c = s[i];
            if (c == '<' || c == '"') {
                if (!skip_group(s, n, &i))
                    bad = 1;
                continue;
            }
            if (c == '\\') {
                i += i + 1 < n ? 2 : 1;
                continue;
            }
            i++;
            if (c == ':') {
                struct stok sofar = {s + start, i - start, 0};
                if (tok_is(&sofar, "to:") || tok_is(&sofar, "from:"))
                    break;
            }
        }
        t[nt].s = s + start;
        t[nt].n = i - start;
        t[nt].bad = bad;
        nt++;
    }
    return nt;
}

/* RFC 3629 UTF-8, no overlongs, no surrogates, at most U+10FFFF. */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Postfix's is_header(): printable ASCII name, optional blanks, colon. */
static int looks_like_header(const struct stok *t)
{
    int state = 0; /* 0 start, 1 in name, 2 blanks after name */
    for (size_t i = 0; i < t->n; i++) {
        unsigned char c = (unsigned char)t->s[i];
        if (c == ':')
            return state != 0;
        if (c == ' ' || c == '\t') {
            if (state == 0)
                return 0;
            state = 2;
            continue;
        }
        if (c == 0 || c >= 0x80 || c < 0x20 || c == 0x7f || state == 2)
            return 0;
        state = 1;
    }
    return 0;
}

/* smtpd_forbidden_commands default: CONNECT GET POST /^[^A-Z]/ (regexp:
 * tables ignore case, so only a non-letter first byte matches). */
static int forbidden(const struct stok *t)
{
    unsigned char c = (unsigned char)t->s[0];
    int letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    return !letter || tok_is(t, "CONNECT") || tok_is(t, "GET") || tok_is(t, "POST");
}

static enum smtp_parse_result fail(struct smtp_cmd *out, enum smtp_reply_id r)
{
    out->reply = r;
    return r == SMTP_R_UNKNOWN   ? SMTP_PARSE_UNKNOWN
           : r == SMTP_R_NONSMTP ? SMTP_PARSE_NONSMTP
                                 : SMTP_PARSE_ERROR;
}

static enum smtp_parse_result fail_opt(struct smtp_cmd *out, const struct stok *t)
{
    out->reply_arg = t->s;
    out->reply_arg_len = t->n;
    return fail(out, SMTP_R_UNSUPPORTED_OPT);
}

/* Decimal digits only, at least one; -1 on syntax, -2 on overflow of
 * off_t, which is how Postfix tells the two apart. */
static int parse_count(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    for (size_t i = 0; i < n; i++) {
        if (x > (UINT64_C(0x7fffffffffffffff) - (uint64_t)(s[i] - '0')) / 10)
            return -2;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return 0;
}

/* Carve NUL-terminated strings out of the caller's scratch. */
struct scratch {
    char *p;
    size_t left;
};

static char *scratch_take(struct scratch *sc, size_t need)
{
    if (need > sc->left)
        return NULL;
    char *r = sc->p;
    sc->p += need;
    sc->left -= need;
    return r;
}

static void scratch_give_back(struct scratch *sc, char *from, size_t used)
{
    size_t unused = (size_t)(sc->p - from) - used;
    sc->p -= unused;
    sc->left += unused;
}

static int xtext_valid(const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (s[k] == '+') {
            if (k + 2 >= n || !strchr("0123456789ABCDEFabcdef", s[k + 1]) ||
                !strchr("0123456789ABCDEFabcdef", s[k + 2]) || !s[k + 1] || !s[k + 2])
                return 0;
            k += 2;
        }
    return 1;
}

static int decode_xtext(struct scratch *sc, const char *s, size_t n, const char **res,
                        size_t *rlen)
{
    char *d = scratch_take(sc, n + 1);
    if (!d)
        return -2;
    if (smtp_xtext_decode(s, n, d, rlen) < 0)
        return -1;
    scratch_give_back(sc, d, *rlen + 1);
    *res = d;
    return 0;
}

static enum smtp_parse_result take_addr(struct smtp_cmd *out, struct scratch *sc,
                                        const char *s, size_t n, int strict, int allow_empty,
                                        enum smtp_reply_id bad)
{
    char *d = scratch_take(sc, n + 1);
    size_t dl;
    if (!d)
        return fail(out, SMTP_R_NOSPACE);
    out->addr_raw = s;
    out->addr_raw_len = n;
    if (smtp_addr_extract(s, n, strict, allow_empty, d, &dl) < 0)
        return fail(out, bad);
    scratch_give_back(sc, d, dl + 1);
    out->addr = d;
    out->addr_len = dl;
    return SMTP_PARSE_OK;
}

static enum smtp_parse_result mail_params(struct smtp_cmd *out, struct scratch *sc,
                                          const struct stok *t, size_t argc, int utf8_ok,
                                          int dsn_off)
{
    for (size_t i = 3; i < argc; i++) {
        const struct stok *a = &t[i];
        if (tok_is(a, "BODY=8BITMIME")) {
            out->body = SMTP_BODY_8BITMIME;
        } else if (tok_is(a, "BODY=7BIT")) {
            out->body = SMTP_BODY_7BIT;
        } else if (tok_prefix(a, "SIZE=")) {
            int r = parse_count(a->s + 5, a->n - 5, &out->size);
            if (r == -1)
                return fail(out, SMTP_R_BAD_SIZE);
            if (r == -2)
                return fail(out, SMTP_R_SIZE_OVERFLOW);
            out->has_size = 1;
        } else if (tok_prefix(a, "AUTH=")) {
            /* Judged by the session: only meaningful with SASL active. */
            out->auth = a->s + 5;
            out->auth_len = a->n - 5;
            out->auth_xtext_ok = xtext_valid(out->auth, out->auth_len);
        } else if (utf8_ok && tok_is(a, "SMTPUTF8")) {
            out->smtputf8 = 1;
        } else if (dsn_off && (tok_prefix(a, "RET=") || tok_prefix(a, "ENVID="))) {
            /* Checked before the value, as smtpd's mail_cmd does. */
            return fail(out, SMTP_R_DSN_DISABLED);
        } else if (tok_prefix(a, "RET=")) {
            if (out->ret != SMTP_RET_NONE)
                return fail(out, SMTP_R_BAD_RET);
            struct stok v = {a->s + 4, a->n - 4, 0};
            if (tok_is(&v, "FULL"))
                out->ret = SMTP_RET_FULL;
            else if (tok_is(&v, "HDRS"))
                out->ret = SMTP_RET_HDRS;
            else
                return fail(out, SMTP_R_BAD_RET);
        } else if (tok_prefix(a, "ENVID=")) {
            size_t dl;
            int r;
            if (out->envid)
                return fail(out, SMTP_R_BAD_ENVID);
            r = decode_xtext(sc, a->s + 6, a->n - 6, &out->envid, &dl);
            if (r == -2)
                return fail(out, SMTP_R_NOSPACE);
            /* Postfix also wants the decoded ENVID printable and not empty. */
            if (r < 0 || dl == 0)
                return fail(out, SMTP_R_BAD_ENVID);
            for (size_t k = 0; k < dl; k++)
                if ((unsigned char)out->envid[k] < 0x20 || (unsigned char)out->envid[k] > 0x7e)
                    return fail(out, SMTP_R_BAD_ENVID);
        } else {
            return fail_opt(out, a);
        }
    }
    return SMTP_PARSE_OK;
}

static int parse_notify(const char *s, size_t n, unsigned *mask)
{
    static const struct {
        const char *name;
        unsigned bit;
    } kw[] = {{"NEVER", SMTP_NOTIFY_NEVER},
              {"SUCCESS", SMTP_NOTIFY_SUCCESS},
              {"FAILURE", SMTP_NOTIFY_FAILURE},
              {"DELAY", SMTP_NOTIFY_DELAY}};
    unsigned m = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        struct stok w = {s + i, j - i, 0};
        i = j + 1;
        if (w.n == 0)
            continue; /* Postfix splits with strtok: empty items vanish */
        size_t k;
        for (k = 0; k < sizeof(kw) / sizeof(kw[0]); k++)
            if (tok_is(&w, kw[k].name))
                break;
        if (k == sizeof(kw) / sizeof(kw[0]))
            return -1;
        m |= kw[k].bit;
    }
    if (m == 0 || ((m & SMTP_NOTIFY_NEVER) && m != SMTP_NOTIFY_NEVER))
        return -1;
    *mask = m;
    return 0;
}

static enum smtp_parse_result rcpt_params(struct smtp_cmd *out, struct scratch *sc,
                                          const struct stok *t, size_t argc, int dsn_off)
{
    for (size_t i = 3; i < argc; i++) {
        const struct stok *a = &t[i];
        if (dsn_off && (tok_prefix(a, "NOTIFY=") || tok_prefix(a, "ORCPT="))) {
            return fail(out, SMTP_R_DSN_DISABLED);
        } else if (tok_prefix(a, "NOTIFY=")) {
            if (out->notify || parse_notify(a->s + 7, a->n - 7, &out->notify) < 0)
                return fail(out, SMTP_R_BAD_NOTIFY);
        } else if (tok_prefix(a, "ORCPT=")) {
            const char *v = a->s + 6, *semi;
            size_t vn = a->n - 6, dl;
            if (out->orcpt || !(semi = memchr(v, ';', vn)) || semi == v)
                return fail(out, SMTP_R_BAD_ORCPT);
            out->orcpt_type = v;
            out->orcpt_type_len = (size_t)(semi - v);
            int r = decode_xtext(sc, semi + 1, vn - out->orcpt_type_len - 1, &out->orcpt, &dl);
            if (r == -2)
                return fail(out, SMTP_R_NOSPACE);
            if (r < 0)
                return fail(out, SMTP_R_BAD_ORCPT);
        } else {
            return fail_opt(out, a);
        }
    }
    return SMTP_PARSE_OK;
}

static const struct {
    const char *name;
    enum smtp_verb verb;
} verbs[] = {
    {"HELO", SMTP_VERB_HELO}, {"EHLO", SMTP_VERB_EHLO},         {"MAIL", SMTP_VERB_MAIL},
    {"RCPT", SMTP_VERB_RCPT}, {"DATA", SMTP_VERB_DATA},         {"BDAT", SMTP_VERB_BDAT},
    {"RSET", SMTP_VERB_RSET}, {"NOOP", SMTP_VERB_NOOP},         {"QUIT", SMTP_VERB_QUIT},
    {"VRFY", SMTP_VERB_VRFY}, {"ETRN", SMTP_VERB_ETRN},         {"STARTTLS", SMTP_VERB_STARTTLS},
    {"AUTH", SMTP_VERB_AUTH}, {"XCLIENT", SMTP_VERB_XCLIENT}, {"HELP", SMTP_VERB_HELP},
};

enum smtp_parse_result smtp_cmd_parse(const char *line, size_t len,
                                      const struct smtp_parse_opts *o, struct smtp_cmd *out)
{
    struct stok t[MAX_ARGS];
    size_t limit = o->line_limit ? o->line_limit : SMTP_LINE_LIMIT_DEFAULT;
    struct scratch sc = {o->scratch, o->scratch_size};

    memset(out, 0, sizeof(*out));
    /* A line that reaches the limit was cut by the reader; Postfix skips
     * the UTF-8 check for it (a cut may split a character). */
    int cut = len >= limit;
    if (cut)
        len = limit;
    const char *nul = memchr(line, '\0', len);
    if (o->smtputf8 && !cut && !valid_utf8((const unsigned char *)line, len))
        return fail(out, SMTP_R_BAD_UTF8);
    if (nul)
        len = (size_t)(nul - line);
    if (o->scratch_size < SMTP_SCRATCH_NEED(len))
        return fail(out, SMTP_R_NOSPACE);

    size_t argc = tokenize(line, len, t, MAX_ARGS);
    if (argc == 0)
        return fail(out, SMTP_R_BAD_SYNTAX);
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (tok_is(&t[0], verbs[i].name))
            out->verb = verbs[i].verb;
    if (out->verb == SMTP_VERB_NONE)
        return fail(out, looks_like_header(&t[0]) || forbidden(&t[0]) ? SMTP_R_NONSMTP
                                                                      : SMTP_R_UNKNOWN);
    if (argc > 1) {
        const char *end = line + len;
        while (end > t[1].s && is_space(end[-1]))
            end--;
        out->arg = t[1].s;
        out->arg_len = (size_t)(end - t[1].s);
    }

    switch (out->verb) {
    case SMTP_VERB_HELO:
    case SMTP_VERB_EHLO:
        if (argc < 2)
            return fail(out, out->verb == SMTP_VERB_HELO ? SMTP_R_SYNTAX_HELO
                                                         : SMTP_R_SYNTAX_EHLO);
        break;
    case SMTP_VERB_MAIL:
        if (argc < 3 || !tok_is(&t[1], "from:"))
            return fail(out, SMTP_R_SYNTAX_MAIL);
        if (t[2].bad ||
            take_addr(out, &sc, t[2].s, t[2].n, o->strict, 1, SMTP_R_BAD_SENDER) != SMTP_PARSE_OK)
            return fail(out, out->reply == SMTP_R_NOSPACE ? SMTP_R_NOSPACE : SMTP_R_BAD_SENDER);
        return mail_params(out, &sc, t, argc, o->smtputf8, o->dsn_disabled);
    case SMTP_VERB_RCPT:
        if (argc < 3 || !tok_is(&t[1], "to:"))
            return fail(out, SMTP_R_SYNTAX_RCPT);
        if (t[2].bad ||
            take_addr(out, &sc, t[2].s, t[2].n, o->strict, 0, SMTP_R_BAD_RCPT) != SMTP_PARSE_OK)
            return fail(out, out->reply == SMTP_R_NOSPACE ? SMTP_R_NOSPACE : SMTP_R_BAD_RCPT);
        return rcpt_params(out, &sc, t, argc, o->dsn_disabled);
    case SMTP_VERB_VRFY: {
        size_t last = argc;
        if (argc >= 2 && tok_is(&t[argc - 1], "SMTPUTF8")) {
            out->smtputf8 = 1;
            last--;
        }
        if (last < 2)
            return fail(out, SMTP_R_SYNTAX_VRFY);
        /* Postfix joins the remaining words into one address argument. */
        const char *s = t[1].s;
        size_t n = (size_t)(t[last - 1].s + t[last - 1].n - s);
        /* Unlike MAIL and RCPT, an unterminated "<" or quote is let through. */
        if (take_addr(out, &sc, s, n, 0, 0, SMTP_R_BAD_RCPT) != SMTP_PARSE_OK)
            return fail(out, out->reply == SMTP_R_NOSPACE ? SMTP_R_NOSPACE : SMTP_R_BAD_RCPT);
        break;
    }
    case SMTP_VERB_DATA:
        if (argc != 1)
            return fail(out, SMTP_R_SYNTAX_DATA);
        break;
    case SMTP_VERB_BDAT:
        if (argc < 2 || argc > 3 || parse_count(t[1].s, t[1].n, &out->chunk_size) < 0 ||
            (argc == 3 && !tok_is(&t[2], "LAST")))
            return fail(out, SMTP_R_SYNTAX_BDAT);
        out->last = argc == 3;
        break;
    case SMTP_VERB_RSET:
        if (argc != 1)
            return fail(out, SMTP_R_SYNTAX_RSET);
        break;
    case SMTP_VERB_ETRN:
        if (argc != 2)
            return fail(out, SMTP_R_SYNTAX_ETRN);
        break;
    case SMTP_VERB_STARTTLS:
        if (argc != 1)
            return fail(out, SMTP_R_SYNTAX_STARTTLS);
        break;
    case SMTP_VERB_XCLIENT:
        if (argc < 2)
            return fail(out, SMTP_R_SYNTAX_XCLIENT);
        break;
    case SMTP_VERB_AUTH:
        if (argc < 2 || argc > 3)
            return fail(out, SMTP_R_SYNTAX_AUTH);
        break;
    case SMTP_VERB_HELP:
        return fail(out, SMTP_R_UNKNOWN);
    case SMTP_VERB_NOOP:
    case SMTP_VERB_QUIT:
    case SMTP_VERB_NONE:
        break;
    }
    return SMTP_PARSE_OK;
}
