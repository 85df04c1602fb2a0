/*
 * fe_dummy_ps.c - the enforce engine's postscreen mode (fe_dummy.c reads
 * the lines and keeps the session): each command line answered as
 * Postfix 3.7's postscreen dummy SMTP engine answers it (psc_smtpd.c's
 * handlers, with dummy_cmd.h's reader): HELO/EHLO (psc_ehlo_cmd()'s
 * per-client keyword list), MAIL, RCPT (the failed test's reply and
 * postscreen's NOQUEUE line), DATA and BDAT (the end), RSET, NOOP, VRFY,
 * ETRN, STARTTLS, QUIT; postscreen_command_filter (fe_ps_filter);
 * postscreen_command_count_limit; and the 421 ends
 * (count, time, length limits). Interface: fe_int.h (fe_dummy_ps_*).
 * doc/enforce.md has the replies.
 *
 * Failure: none of its own; a reply the socket does not take is lost as
 * with any reply of the frontend (fe_conn_say).
 */
#include "fe_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "dummy_cmd.h"
#include "cmd_filter.h"
#include "ehlo_reply.h"
#include "log.h"

#define S(x) x, sizeof(x) - 1
static const char r_ok[] = "250 2.0.0 Ok\r\n";
static const char r_mail[] = "250 2.1.0 Ok\r\n";
static const char r_data[] = "554 5.5.1 Error: no valid recipients\r\n";
static const char r_data_syntax[] = "501 5.5.4 Syntax: DATA\r\n";
static const char r_need_rcpt[] = "503 5.5.1 Error: need RCPT command\r\n";
static const char r_bdat_syntax[] = "501 5.5.4 Syntax: BDAT count [LAST]\r\n";
static const char r_bdat_mail[] = "554 5.5.1 Error: need MAIL command\r\n";
static const char r_bye[] = "221 2.0.0 Bye\r\n";
static const char r_unknown[] = "502 5.5.2 Error: command not recognized\r\n";
static const char r_helo_syntax[] = "501 Syntax: HELO hostname\r\n";
static const char r_ehlo_syntax[] = "501 Syntax: EHLO hostname\r\n";
static const char r_helo_first[] = "503 5.5.1 Error: send HELO/EHLO first\r\n";
static const char r_nested[] = "503 5.5.1 Error: nested MAIL command\r\n";
static const char r_mail_syntax[] = "501 5.5.4 Syntax: MAIL FROM:<address>\r\n";
static const char r_need_mail[] = "503 5.5.1 Error: need MAIL command\r\n";
static const char r_rcpt_syntax[] = "501 5.5.4 Syntax: RCPT TO:<address>\r\n";
static const char r_vrfy_syntax[] = "501 5.5.4 Syntax: VRFY address\r\n";
static const char r_vrfy_off[] = "502 5.5.1 VRFY command is disabled\r\n";
static const char r_etrn_syntax[] = "500 Syntax: ETRN domain\r\n";
static const char r_etrn[] = "458 Unable to queue messages\r\n";
static const char r_starttls_syntax[] = "501 5.5.4 Syntax: STARTTLS\r\n";
static const char r_not_impl[] = "502 5.5.1 Error: command not implemented\r\n";

/* psc_ehlo_cmd(): the client's postscreen_discard_ehlo_keyword_address_maps
 * entry, looked up on each EHLO by address alone, replaces
 * postscreen_discard_ehlo_keywords when its mask differs; it is logged
 * unless empty or "silent-discard". The mask in force is kept (BDAT). A
 * lookup error is fatal in postscreen; here it is logged and the global
 * list kept, as the worker does. */
static void ps_ehlo(struct fe *fe, struct fe_conn *c)
{
    const struct fe_conf *cf = fe->conf;
    char addr[INET6_ADDRSTRLEN], buf[1024];
    struct map_value v = {.buf = buf, .cap = sizeof(buf)};
    unsigned mask = cf->ehlo_discard;
    bool found = false;
    if (cf->n_ehlo_maps && inet_ntop(c->client.family, c->client.addr, addr, sizeof(addr))) {
        for (size_t i = 0; i < cf->n_ehlo_maps && !found; i++) {
            int r = map_lookup(cf->ehlo_maps[i], addr, strlen(addr), &v);
            if (r < 0) {
                log_warn("postscreen_discard_ehlo_keyword_address_maps lookup error for %s: %s",
                         addr, strerror(-r));
                break;
            }
            if (r > 0) {
                found = true;
                mask = ehlo_reply_mask_text(v.buf, v.len);
            }
        }
    }
    c->dummy->sm.ehlo_discard = found ? mask : cf->ehlo_discard; /* for BDAT */
    if (!found || mask == cf->ehlo_discard) {
        fe_conn_say(c, cf->ehlo_reply, cf->ehlo_len);
        return;
    }
    char names[256];
    /* Postfix 3.7.11's own format, "[ADDR]PORT: ..." with no colon before
     * the port (seen in its log), so that a pattern written for it matches. */
    if (mask && !(mask & EHLO_KW_SILENT) && ehlo_reply_mask_str(mask, names, sizeof(names)) >= 0)
        log_info("[%s]%u: discarding EHLO keywords: %s", addr, (unsigned)c->client.port, names);
    struct ehlo_opts o = cf->ehlo_opts;
    o.discard = EHLO_KW_PIPELINING | mask;
    char e[EHLO_REPLY_MAX];
    int n = ehlo_reply_format(&o, e, sizeof(e) - 2);
    if (n < 0) {
        fe_conn_say(c, cf->ehlo_reply, cf->ehlo_len);
        return;
    }
    memcpy(e + n, "\r\n", 2);
    fe_conn_say(c, e, (size_t)n + 2);
}

/* psc_data_cmd() / psc_bdat_cmd(): no recipient is ever accepted here,
 * so a client that sends DATA or BDAT is not a legitimate one (it did not
 * wait for the RCPT reply, or ignored it): it is told why and dropped,
 * the chunk unread. BDAT is "not implemented" for a client whose EHLO
 * keyword mask (its last EHLO's: none before one) discards CHUNKING. */
static void payload(struct fe *fe, struct fe_conn *c, enum dummy_verb v, bool has_arg)
{
    const struct fe_dummy_state *d = c->dummy;
    char a[80];
    fe_ep_format(&c->client, a, sizeof(a));
    log_info("%s without valid RCPT from %s", dummy_cmd_name(v), a);
    if (v == DUMMY_DATA) {
        if (has_arg)
            fe_dummy_end(fe, c, S(r_data_syntax));
        else if (!d->mail)
            fe_dummy_end(fe, c, S(r_need_rcpt));
        else
            fe_dummy_end(fe, c, S(r_data));
    } else if (d->sm.ehlo_discard & EHLO_KW_CHUNKING) {
        fe_dummy_end(fe, c, S(r_not_impl));
    } else if (!has_arg) {
        fe_dummy_end(fe, c, S(r_bdat_syntax));
    } else if (!d->mail) {
        fe_dummy_end(fe, c, S(r_bdat_mail));
    } else {
        fe_dummy_end(fe, c, S(r_data));
    }
}

/* "421 HOST Service unavailable - try again later" (psc_smtpd_421_reply)
 * or "421 4.4.2 HOST Error: timeout exceeded", then the end. */
void fe_dummy_ps_drop(struct fe *fe, struct fe_conn *c, const char *what, bool timeout)
{
    char a[80], r[400];
    const struct fe_dummy_state *d = c->dummy;
    fe_ep_format(&c->client, a, sizeof(a));
    log_info("%s from %s after %s", what, a, d && d->verb ? d->verb : "CONNECT");
    if (timeout)
        snprintf(r, sizeof(r), "421 4.4.2 %s Error: timeout exceeded\r\n", fe->conf->myhostname);
    else
        snprintf(r, sizeof(r), "421 %s Service unavailable - try again later\r\n",
                 fe->conf->myhostname);
    fe_dummy_end(fe, c, r, strlen(r));
}

/* psc_smtpd_read_event()'s "last-resort command editing" with
 * postscreen_command_filter (lib/cmd_filter.c), logged
 * "[ADDR]:PORT: replacing command ...". Not for a line that is not valid
 * UTF-8 when smtputf8_enable is on (PSC_BAD_UTF8: such a key would only get
 * the table's "non-UTF-8 key" warning). The result goes to out; its length,
 * or -1 when the line stays. A lookup error is fatal in postscreen; here it
 * is logged and the line stays. Also used by the deep tests (fe_deep.c):
 * postscreen reads their commands with the same code. */
long fe_ps_filter(const struct fe_conf *cf, const struct fe_conn *c, const char *line,
                  size_t len, char *out, size_t size)
{
    char msg[CMD_FILTER_LOG_MAX];
    size_t n = 0;
    int r = cmd_filter_apply(cf->cmd_filter, line, len, cf->smtputf8, out, size, &n, msg);
    if (r < 0) {
        log_warn("postscreen_command_filter lookup error for \"%.*s\": %s",
                 (int)(len > 100 ? 100 : len), line, strerror(-r));
        return -1;
    }
    if (r == 0)
        return -1;
    char a[80];
    fe_ep_format(&c->client, a, sizeof(a));
    log_info("%s: %s", a, msg);
    return (long)n;
}

/* One command line, as psc_smtpd_read_event() and its command handlers;
 * false when the session ended. */
bool fe_dummy_ps_command(struct fe *fe, struct fe_conn *c, const char *line, size_t len)
{
    struct fe_dummy_state *d = c->dummy;
    const struct fe_conf *cf = fe->conf;
    const char *arg, *w;
    size_t alen, wl;
    char addr[300], edited[FE_LINE_MAX + 1];
    if (cf->cmd_filter) {
        size_t bare = len && line[len - 1] == '\r' ? len - 1 : len; /* CRLF: both go */
        long e = fe_ps_filter(cf, c, line, bare, edited, sizeof(edited));
        if (e >= 0) {
            line = edited;
            len = (size_t)e;
        }
    }
    enum dummy_verb v = dummy_cmd_parse(line, len, &arg, &alen);
    bool word = dummy_cmd_word(arg, alen, &w, &wl);
    /* The count limit names the command before this one (saved_where). */
    if (++c->ncommands > cf->command_count_limit && v != DUMMY_QUIT) {
        fe_dummy_ps_drop(fe, c, "COMMAND COUNT LIMIT", false);
        return false;
    }
    d->verb = dummy_cmd_name(v);
    switch (v) {
    case DUMMY_HELO:
    case DUMMY_EHLO:
        if (!word) {
            if (v == DUMMY_HELO)
                fe_conn_say(c, S(r_helo_syntax));
            else
                fe_conn_say(c, S(r_ehlo_syntax));
            return true;
        }
        snprintf(d->helo, sizeof(d->helo), "%.*s", (int)wl, w);
        d->from[0] = '\0'; /* psc_helo_cmd(): the sender is reset */
        d->mail = false;
        d->esmtp |= v == DUMMY_EHLO; /* a later HELO does not downgrade */
        if (v == DUMMY_EHLO)
            ps_ehlo(fe, c);
        else
            fe_conn_say(c, cf->helo_reply, cf->helo_len);
        return true;
    case DUMMY_MAIL:
        if (cf->helo_required && !d->helo[0])
            fe_conn_say(c, S(r_helo_first));
        else if (d->mail)
            fe_conn_say(c, S(r_nested));
        else if (dummy_cmd_addr(arg, alen, addr, sizeof(addr)) < 0)
            fe_conn_say(c, S(r_mail_syntax));
        else {
            snprintf(d->from, sizeof(d->from), "%.255s", addr);
            d->mail = true;
            fe_conn_say(c, S(r_mail));
        }
        return true;
    case DUMMY_RCPT: {
        if (!d->mail) {
            fe_conn_say(c, S(r_need_mail));
            return true;
        }
        if (dummy_cmd_addr(arg, alen, addr, sizeof(addr)) < 0) {
            fe_conn_say(c, S(r_rcpt_syntax));
            return true;
        }
        char a[80];
        fe_ep_format(&c->client, a, sizeof(a));
        /* final holds "CODE X.Y.Z text\r\n": logged without the CRLF. */
        log_info("NOQUEUE: reject: RCPT from %s: %.*s; from=<%s>, to=<%s>, proto=%s, helo=<%s>",
                 a, (int)(c->final_len - 2), c->final, d->from, addr,
                 d->esmtp ? "ESMTP" : "SMTP", d->helo);
        fe_conn_say(c, c->final, c->final_len);
        return true;
    }
    case DUMMY_DATA:
    case DUMMY_BDAT: payload(fe, c, v, word); return false;
    case DUMMY_RSET:
        d->from[0] = '\0';
        d->mail = false;
        fe_conn_say(c, S(r_ok));
        return true;
    case DUMMY_NOOP: fe_conn_say(c, S(r_ok)); return true;
    case DUMMY_VRFY: /* psc_vrfy_cmd(): the RCPT reply, not logged */
        if (!word)
            fe_conn_say(c, S(r_vrfy_syntax));
        else if (cf->disable_vrfy)
            fe_conn_say(c, S(r_vrfy_off));
        else
            fe_conn_say(c, c->final, c->final_len);
        return true;
    case DUMMY_ETRN:
        if (cf->helo_required && !d->helo[0])
            fe_conn_say(c, S(r_helo_first));
        else if (!word)
            fe_conn_say(c, S(r_etrn_syntax));
        else
            fe_conn_say(c, S(r_etrn));
        return true;
    case DUMMY_STARTTLS: /* no TLS here, and none announced */
        if (word)
            fe_conn_say(c, S(r_starttls_syntax));
        else
            fe_conn_say(c, S(r_not_impl));
        return true;
    case DUMMY_QUIT: fe_dummy_end(fe, c, S(r_bye)); return false;
    default: fe_conn_say(c, S(r_unknown)); return true; /* XCLIENT, AUTH, ... too */
    }
}
