/*
 * dummy_cmd.c - see dummy_cmd.h.
 */
#include "dummy_cmd.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ehlo_reply.h"
#include "hostname.h"
#include "smtp_cmd.h"
#include "xclient.h"

/* psc_smtpd.c's command_table names, which are also its state->where. */
static const struct {
    const char *name;
    enum dummy_verb v;
} verbs[] = {
    {"HELO", DUMMY_HELO},         {"EHLO", DUMMY_EHLO},         {"STARTTLS", DUMMY_STARTTLS},
    {"XCLIENT", DUMMY_XCLIENT},   {"XFORWARD", DUMMY_XFORWARD}, {"AUTH", DUMMY_AUTH},
    {"MAIL", DUMMY_MAIL},         {"RCPT", DUMMY_RCPT},         {"DATA", DUMMY_DATA},
    {"BDAT", DUMMY_BDAT},         {"RSET", DUMMY_RSET},         {"NOOP", DUMMY_NOOP},
    {"VRFY", DUMMY_VRFY},         {"ETRN", DUMMY_ETRN},         {"QUIT", DUMMY_QUIT},
};

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

const char *dummy_cmd_name(enum dummy_verb v)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (verbs[i].v == v)
            return verbs[i].name;
    return "UNIMPLEMENTED";
}

enum dummy_verb dummy_cmd_parse(const char *line, size_t len, const char **arg, size_t *arglen)
{
    const char *nul = memchr(line, '\0', len);
    if (nul)
        len = (size_t)(nul - line);
    if (len > 0 && line[len - 1] == '\r')
        len--;
    size_t i = 0;
    while (i < len && line[i] == ' ')
        i++;
    *arg = line + len;
    *arglen = 0;
    if (i == len)
        return DUMMY_EMPTY;
    size_t w = i;
    while (i < len && line[i] != ' ')
        i++;
    size_t wl = i - w;
    if (i < len) /* mystrtok() ends the word at one space */
        i++;
    *arg = line + i;
    *arglen = len - i;
    for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
        if (strlen(verbs[k].name) == wl && strncasecmp(line + w, verbs[k].name, wl) == 0)
            return verbs[k].v;
    return DUMMY_UNKNOWN;
}

bool dummy_cmd_word(const char *arg, size_t len, const char **w, size_t *wlen)
{
    size_t i = 0;
    while (i < len && arg[i] == ' ')
        i++;
    size_t b = i;
    while (i < len && arg[i] != ' ')
        i++;
    *w = arg + b;
    *wlen = i - b;
    return i > b;
}

int dummy_cmd_addr(const char *arg, size_t len, char *out, size_t size)
{
    const char *colon = memchr(arg, ':', len);
    if (!colon || size == 0)
        return -1;
    const char *cp = colon + 1, *end = arg + len;
    while (cp < end && *cp == ' ')
        cp++;
    char stop = ' ';
    if (cp < end && *cp == '<') {
        cp++;
        stop = '>';
    }
    size_t n = 0;
    bool quoted = false;
    for (; cp < end; cp++) {
        if (!quoted && *cp == stop)
            break;
        if (*cp == '"') {
            quoted = !quoted;
            continue;
        }
        if (*cp == '\\' && ++cp == end)
            break;
        if (n + 1 < size)
            out[n++] = *cp;
    }
    out[n] = '\0';
    /* The deprecated route form is cut "to simplify logfile analysis". */
    char *c2;
    if (out[0] == '@' && (c2 = strchr(out, ':')) != NULL) {
        n = strlen(c2 + 1);
        memmove(out, c2 + 1, n + 1);
    }
    return (int)n;
}

/* ---- smtpd mode ---- */

enum { F_JUNK = 1u, F_CHECK_HELO = 2u };

static void say(struct dummy_smtpd_out *out, const char *fmt, const char *a)
{
    out->what = DUMMY_DO_SAY;
    snprintf(out->text, sizeof(out->text), fmt, a);
}

static bool is_postmaster(const char *a, size_t n)
{
    return n == 10 && strncasecmp(a, "postmaster", 10) == 0;
}

/* The command proper; false: it failed (an error is counted). */
static bool smtpd_verb(struct dummy_smtpd *st, const struct dummy_smtpd_conf *cf,
                       const struct smtp_cmd *c, struct dummy_smtpd_out *out)
{
    switch (c->verb) {
    case SMTP_VERB_HELO:
    case SMTP_VERB_EHLO:
        /* helo_cmd/ehlo_cmd: a new name resets the transaction. */
        st->have_helo = true;
        st->esmtp = c->verb == SMTP_VERB_EHLO;
        st->in_mail = false;
        out->what = DUMMY_DO_HELO;
        out->arg = c->arg;
        out->arg_len = c->arg_len;
        return true;
    case SMTP_VERB_MAIL:
        if (c->has_size && cf->message_size_limit && c->size > cf->message_size_limit) {
            say(out, "%s", "552 5.3.4 Message size exceeds fixed limit");
            return false;
        }
        st->in_mail = true;
        say(out, "%s", "250 2.1.0 Ok");
        out->arg = c->addr;
        out->arg_len = c->addr_len;
        return true;
    case SMTP_VERB_RCPT:
        out->what = is_postmaster(c->addr, c->addr_len) ? DUMMY_DO_POSTMASTER : DUMMY_DO_REJECT;
        out->where = "RCPT";
        out->arg = c->addr;
        out->arg_len = c->addr_len;
        return true; /* counted by dummy_smtpd_rejected */
    case SMTP_VERB_RSET:
        st->in_mail = false;
        say(out, "%s", "250 2.0.0 Ok");
        return true;
    case SMTP_VERB_NOOP: say(out, "%s", "250 2.0.0 Ok"); return true;
    case SMTP_VERB_QUIT:
        out->what = DUMMY_DO_CLOSE;
        snprintf(out->text, sizeof(out->text), "221 2.0.0 Bye");
        return true;
    case SMTP_VERB_VRFY:
        if (is_postmaster(c->addr, c->addr_len)) { /* smtpd_check_rcpt() */
            snprintf(out->text, sizeof(out->text), "252 2.0.0 %.*s", (int)c->addr_len, c->addr);
            out->what = DUMMY_DO_SAY;
            return true;
        }
        out->what = DUMMY_DO_REJECT;
        out->where = "VRFY";
        out->arg = c->addr;
        out->arg_len = c->addr_len;
        return true;
    case SMTP_VERB_ETRN: {
        const char *d = c->arg;
        size_t n = c->arg_len;
        /* etrn_cmd(): one leading non-alphanumeric byte ("@", "#") is skipped. */
        if (n && !isalnum((unsigned char)*d)) {
            d++;
            n--;
        }
        if (!hostname_valid(d, n)) {
            say(out, "%s", "501 Error: invalid parameter syntax");
            return false;
        }
        out->what = DUMMY_DO_REJECT;
        out->where = "ETRN";
        out->arg = d;
        out->arg_len = n;
        return true;
    }
    case SMTP_VERB_STARTTLS:
        /* The frontend cannot run TLS: a STARTTLS-capable configuration
         * is answered as smtpd answers when TLS fails to start. */
        say(out, "%s", cf->tls_offered ? "454 4.7.0 TLS not available due to local problem"
                                       : "502 5.5.1 Error: command not implemented");
        return false;
    case SMTP_VERB_AUTH: say(out, "%s", "503 5.5.1 Error: authentication not enabled"); return false;
    case SMTP_VERB_XCLIENT: say(out, "%s", XCLIENT_REPLY_NOAUTH); return false;
    default: say(out, "%s", "500 5.5.2 Error: command not recognized"); return false;
    }
}

/* session_cmds.c's check step: the session state, judged before the
 * syntax (except BDAT's, whose chunk size must be known to skip it).
 * false: out holds the failure. */
static bool smtpd_check(const struct dummy_smtpd *st, const struct dummy_smtpd_conf *cf,
                        const struct smtp_cmd *c, struct dummy_smtpd_out *out)
{
    switch (c->verb) {
    case SMTP_VERB_MAIL:
        if (cf->helo_required && !st->have_helo)
            say(out, "%s", "503 5.5.1 Error: send HELO/EHLO first");
        else if (st->in_mail)
            say(out, "%s", "503 5.5.1 Error: nested MAIL command");
        else
            return true;
        return false;
    case SMTP_VERB_RCPT:
        if (st->in_mail)
            return true;
        say(out, "%s", "503 5.5.1 Error: need MAIL command");
        return false;
    case SMTP_VERB_DATA:
    case SMTP_VERB_BDAT:
        /* No recipient is ever accepted here. */
        say(out, "%s", st->in_mail ? "554 5.5.1 Error: no valid recipients"
                                   : "503 5.5.1 Error: need RCPT command");
        return false;
    case SMTP_VERB_VRFY:
        if (!cf->disable_vrfy)
            return true;
        say(out, "%s", "502 5.5.1 VRFY command is disabled");
        return false;
    case SMTP_VERB_ETRN:
        if (cf->helo_required && !st->have_helo)
            say(out, "%s", "503 Error: send HELO/EHLO first");
        else if (st->in_mail)
            say(out, "%s", "503 Error: MAIL transaction in progress");
        else
            return true;
        return false;
    case SMTP_VERB_XCLIENT:
        if (st->in_mail)
            say(out, "%s", XCLIENT_REPLY_IN_TRANSACTION);
        else if (c->arg_len == 0)
            say(out, "%s", XCLIENT_REPLY_SYNTAX);
        else
            return true;
        return false;
    default: return true;
    }
}

/* smtpd_cmd_table's row of a command (its disconnect-line counter). */
static enum maillog_cmd counter(enum smtp_verb v)
{
    switch (v) {
    case SMTP_VERB_HELO: return MAILLOG_HELO;
    case SMTP_VERB_EHLO: return MAILLOG_EHLO;
    case SMTP_VERB_XCLIENT: return MAILLOG_XCLIENT;
    case SMTP_VERB_STARTTLS: return MAILLOG_STARTTLS;
    case SMTP_VERB_AUTH: return MAILLOG_AUTH;
    case SMTP_VERB_MAIL: return MAILLOG_MAIL;
    case SMTP_VERB_RCPT: return MAILLOG_RCPT;
    case SMTP_VERB_DATA: return MAILLOG_DATA;
    case SMTP_VERB_BDAT: return MAILLOG_BDAT;
    case SMTP_VERB_RSET: return MAILLOG_RSET;
    case SMTP_VERB_NOOP: return MAILLOG_NOOP;
    case SMTP_VERB_VRFY: return MAILLOG_VRFY;
    case SMTP_VERB_ETRN: return MAILLOG_ETRN;
    case SMTP_VERB_QUIT: return MAILLOG_QUIT;
    default: return MAILLOG_UNKNOWN;
    }
}

static unsigned verb_flags(enum smtp_verb v)
{
    switch (v) {
    case SMTP_VERB_HELO:
    case SMTP_VERB_EHLO:
    case SMTP_VERB_RSET:
    case SMTP_VERB_NOOP:
    case SMTP_VERB_VRFY:
    case SMTP_VERB_ETRN: return F_JUNK;
    default: return 0;
    }
}

void dummy_smtpd_command(struct dummy_smtpd *st, const struct dummy_smtpd_conf *cf,
                         const char *namaddr, const char *line, size_t len, char *scratch,
                         size_t scratch_size, struct dummy_smtpd_out *out)
{
    memset(out, 0, sizeof(*out));
    out->verb = "UNKNOWN";
    if (len > 0 && line[len - 1] == '\r')
        len--;
    size_t i = 0;
    while (i < len && is_space(line[i]))
        i++;
    if (i == len) {
        say(out, "%s", "500 5.5.2 Error: bad syntax");
        st->errors++;
        return;
    }
    struct smtp_parse_opts o = {
        .strict = cf->strict,
        .smtputf8 = cf->smtputf8,
        .dsn_disabled = (st->ehlo_discard & EHLO_KW_DSN) != 0,
        .scratch = scratch,
        .scratch_size = scratch_size,
    };
    struct smtp_cmd c;
    enum smtp_parse_result r = smtp_cmd_parse(line, len, &o, &c);
    if (r == SMTP_PARSE_NONSMTP) {
        st->counts.total[MAILLOG_UNKNOWN]++;
        out->what = DUMMY_DO_CLOSE;
        smtp_reply_format(&c, out->text, sizeof(out->text));
        st->errors++;
        return;
    }
    bool known = r != SMTP_PARSE_UNKNOWN && c.verb != SMTP_VERB_NONE && c.verb != SMTP_VERB_HELP;
    if (known)
        out->verb = smtp_verb_name(c.verb);
    enum maillog_cmd k = known ? counter(c.verb) : MAILLOG_UNKNOWN;
    st->counts.total[k]++;
    if (st->denied && !(known && c.verb == SMTP_VERB_QUIT)) {
        out->what = DUMMY_DO_SAY;
        snprintf(out->text, sizeof(out->text), "503 5.7.0 Error: access denied for %s", namaddr);
        st->errors++;
        return;
    }
    if (!known) {
        say(out, "%s", "500 5.5.2 Error: command not recognized");
        st->errors++;
        return;
    }
    if (c.verb == SMTP_VERB_BDAT && (st->ehlo_discard & EHLO_KW_CHUNKING)) {
        /* bdat_cmd(): CHUNKING not announced to this client: refused
         * before its syntax or state is looked at, and the session ends
         * (the chunk is never read). */
        out->what = DUMMY_DO_CLOSE;
        snprintf(out->text, sizeof(out->text), "521 5.5.1 Error: command not implemented");
        st->errors++;
        return;
    }
    bool ok;
    bool syntax_first = c.verb == SMTP_VERB_BDAT;
    if (!(syntax_first && r == SMTP_PARSE_ERROR) && !smtpd_check(st, cf, &c, out)) {
        if (c.verb == SMTP_VERB_BDAT)
            out->skip = c.chunk_size; /* the chunk follows whatever we say */
        ok = false;
    } else if (r == SMTP_PARSE_ERROR) {
        out->what = smtp_reply_table[c.reply].close ? DUMMY_DO_CLOSE : DUMMY_DO_SAY;
        smtp_reply_format(&c, out->text, sizeof(out->text));
        ok = false;
    } else {
        ok = smtpd_verb(st, cf, &c, out);
    }
    if (!ok)
        st->errors++;
    else if (out->what != DUMMY_DO_REJECT && out->what != DUMMY_DO_POSTMASTER)
        st->counts.ok[k]++;
    if ((verb_flags(c.verb) & F_JUNK) && st->junk++ > cf->junk_limit)
        st->errors++;
}

void dummy_smtpd_rejected(struct dummy_smtpd *st)
{
    st->errors++;
}

void dummy_smtpd_handed_off(struct dummy_smtpd *st)
{
    if (st->counts.ok[MAILLOG_MAIL] > 0) {
        st->counts.ok[MAILLOG_MAIL]--;
        st->counts.total[MAILLOG_MAIL]--;
    }
    if (st->counts.total[MAILLOG_RCPT] > 0)
        st->counts.total[MAILLOG_RCPT]--;
}

bool dummy_smtpd_sleeps(const struct dummy_smtpd *st, const struct dummy_smtpd_conf *cf)
{
    return st->errors >= cf->soft_limit;
}

bool dummy_smtpd_hard_limit(const struct dummy_smtpd *st, const struct dummy_smtpd_conf *cf)
{
    return st->errors >= cf->hard_limit;
}
