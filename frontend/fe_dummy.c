/*
 * fe_dummy.c - the enforce engine: postscreen's answer to a client that
 * failed a test whose action is "enforce". The client gets the rest of
 * the greeting (not a pregreeter: psc_smtpd_tests()) and a tiny SMTP
 * server that accepts HELO/EHLO and MAIL, rejects every RCPT with the
 * failed test's reply (logged as "NOQUEUE: reject: RCPT from
 * [addr]:port: REPLY; from=<s>, to=<r>, proto=ESMTP, helo=<h>"), so that
 * the sender learns why, drops a client that sends DATA or BDAT ("DATA
 * without valid RCPT from [addr]:port"; BDAT is "not implemented" when
 * the client's EHLO discarded CHUNKING) and never passes the connection
 * on; the other commands as psc_smtpd.c's handlers (doc/enforce.md).
 * postscreen_command_count_limit, postscreen_command_time_limit (per
 * command) and a line of line_length_limit bytes end the session ("COMMAND COUNT /
 * TIME / LENGTH LIMIT from [addr]:port after VERB", then 421).
 *
 * Memory: the line buffer and the HELO/sender of this session come from
 * a second pool (struct fe_dummy_state), so only enforced clients pay for
 * them. Replies are constants or prepared in struct fe_conf.
 *
 * smtpd mode (FE_F_SMTPD: a client that smtpd_client_restrictions, or
 * smtpd_helo_restrictions for its HELO name, reject: fe_early.c,
 * fe_deep.c): the session is smtpd's, not postscreen's. Lines are read
 * as smtpd reads them and answered by dummy_cmd.h's smtpd machine (its
 * header lists the replies); with smtpd_delay_reject = yes every RCPT,
 * VRFY and ETRN gets the reject and smtpd's "NOQUEUE: reject: RCPT from
 * NAME[ADDR]: REPLY; from=<s> to=<r> proto=ESMTP helo=<h>". With
 * smtpd_delay_reject = no the reject replaces the 220 greeting
 * ("NOQUEUE: reject: CONNECT from NAME[ADDR]: REPLY; proto=SMTP"), counts
 * an error, and every command but QUIT gets "503 5.7.0 Error: access
 * denied for NAME[ADDR]", as smtpd.c's access_denied. EHLO is the
 * worker's reply for this client (its smtpd_discard_ehlo_keyword_address_maps
 * entry, else smtpd_discard_ehlo_keywords, and smtpd's "discarding EHLO
 * keywords" line). smtpd's error limits hold: once smtpd_soft_error_limit
 * errors are made each reply LINE waits smtpd_error_sleep_time (the
 * connection's timer on the wheel; the line stays unread in the socket -
 * input is peeked and taken only as it is answered); at
 * smtpd_hard_error_limit "421 4.7.0 HOST Error: too many errors" and "too
 * many errors after VERB from NAME[ADDR]"; commands past
 * smtpd_junk_command_limit count as errors. RCPT TO:<postmaster>, which
 * smtpd_check_rcpt() accepts before any delayed restriction, hands the
 * session to a worker mid-transaction (HANDOFF_F_MAIL_DONE: the MAIL line
 * this engine answered, then that RCPT line, first in the preread; the
 * HELO name and the error count in the record): the worker runs MAIL
 * without replying, answers the RCPT and the rest itself with its own
 * restriction engine. Not handed off (the reject stands): a MAIL line
 * over 512 bytes, a cut RCPT line. The worker's disconnect line counts
 * the commands answered here too (HANDOFF_F_CMD_COUNTS: smtpd's counters,
 * those of the deep tests before included, less the MAIL and RCPT lines
 * the worker runs again). A session that ends here is logged as smtpd's:
 * "connect from NAME[ADDR] id=ID" when it ends (not before: a worker that
 * takes it over logs its own, and there must be one), "lost
 * connection" / "timeout" / "too many errors after VERB from NAME[ADDR]",
 * and "disconnect from NAME[ADDR] ehlo=1 ... commands=N/M" with these
 * counters (postscreen's DISCONNECT is postscreen mode's).
 * doc/enforce.md tells the whole story.
 * Command lines are kept up to FE_LINE_MAX bytes (the rest is read and
 * dropped); postscreen mode ends the session at line_length_limit.
 *
 * Failure: that pool empty: the failed test's reply at once, and close.
 */
#include "fe_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd_filter.h"
#include "dummy_cmd.h"
#include "ehlo_reply.h"
#include "fe_deep_int.h"
#include "fe_early.h"
#include "log.h"
#include "maillog.h"
#include "smtp_cmd.h"

#define S(x) x, sizeof(x) - 1
/* postscreen's defaults when no test failed (an allowlist veto):
 * rcpt_reply, and final_reply when even the engine is full. */
static const char r_unavail_rcpt[] = "450 4.3.2 Service currently unavailable\r\n";
static const char r_unavail[] = "421 4.3.2 Service currently unavailable\r\n";

void fe_dummy_end(struct fe *fe, struct fe_conn *c, const char *reply, size_t len)
{
    fe_conn_say(c, reply, len);
    fe_dummy_log_end(c);
    fe_conn_close(fe, c);
}

/* The time to read the next command, from now: postscreen_command_time_limit
 * (postscreen mode; psc_smtpd_read_event() resets it after each command),
 * or smtpd_timeout (smtpd mode: smtpd's per-read timeout); their stress
 * values in stress mode. */
static void read_timer(struct fe *fe, struct fe_conn *c)
{
    const struct fe_conf *cf = fe->conf;
    uint64_t t = (c->flags & FE_F_SMTPD)
                     ? (fe->stress ? cf->smtpd_timeout_stress_ms : cf->smtpd_timeout_ms)
                     : (fe->stress ? cf->command_time_stress_ms : cf->command_time_ms);
    timer_wheel_cancel(&fe->tw, &c->timer);
    timer_wheel_add(&fe->tw, &c->timer, timer_clock_ms() + t);
}

static void arm(struct fe *fe, struct fe_conn *c)
{
    struct io_uring_sqe *sqe = fe_sqe(fe);
    io_uring_prep_poll_add(sqe, c->fd, POLLIN | POLLRDHUP);
    io_uring_sqe_set_data64(sqe, ring_ud_for(FE_OP_CONN_POLL, &fe->conns, c));
    c->flags |= FE_F_POLL;
}

/* ---- smtpd mode ---- */

static void say_crlf(struct fe_conn *c, const char *text)
{
    char buf[620];
    int n = snprintf(buf, sizeof(buf), "%s\r\n", text);
    fe_conn_say(c, buf, n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : 0);
}

/* smtpd_proto()'s end: "too many errors after VERB from NAME[ADDR]",
 * "421 4.7.0 HOST Error: too many errors", close. */
static void too_many(struct fe *fe, struct fe_conn *c)
{
    const struct fe_early_conf *ec = fe->conf->early;
    char r[400];
    fe_dummy_log_after(c, "too many errors");
    snprintf(r, sizeof(r), "421 4.7.0 %s Error: too many errors", ec->myhostname);
    say_crlf(c, r);
    fe_dummy_log_end(c);
    fe_conn_close(fe, c);
}

/* Before the next reply: smtpd_chat_reply()'s sleep once the soft limit
 * is reached (and not yet waited for this step). */
static bool sleep_due(const struct fe *fe, const struct fe_conn *c)
{
    const struct fe_dummy_state *d = c->dummy;
    const struct fe_early_conf *ec = fe->conf->early;
    return !d->slept && ec->error_sleep_ms > 0 && dummy_smtpd_sleeps(&d->sm, &ec->smtpd);
}

/* smtpd_error_sleep_time before each LINE of a reply of `lines` lines
 * (Postfix 3.7 checked: its 10-line EHLO reply takes 10 s with a 1 s
 * sleep; the worker's session_wait() does the same), on the timer wheel;
 * the timer (fe_dummy_timeout) resumes this same step. */
static void sleep_lines(struct fe *fe, struct fe_conn *c, unsigned lines)
{
    struct fe_dummy_state *d = c->dummy;
    const struct fe_early_conf *ec = fe->conf->early;
    d->sleeping = true;
    timer_wheel_cancel(&fe->tw, &c->timer);
    timer_wheel_add(&fe->tw, &c->timer,
                    timer_clock_ms() + ec->error_sleep_ms * (lines ? lines : 1));
}

static unsigned count_lines(const char *text, size_t len)
{
    unsigned n = 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    return n;
}

/* smtpd's EHLO reply for this client (CRLF-ended): the worker's builder
 * with the client's keyword mask (fe_early_ehlo_discard, taken at the
 * start of the session). */
static size_t ehlo_reply(const struct fe *fe, const struct fe_conn *c, char *buf, size_t size)
{
    struct ehlo_opts o = fe->conf->early->ehlo;
    o.discard = c->dummy->sm.ehlo_discard;
    int n = ehlo_reply_format(&o, buf, size - 2);
    if (n < 0) /* only a myhostname over 255 bytes, which config_load refuses */
        n = snprintf(buf, size - 2, "250 %s", o.myhostname);
    memcpy(buf + n, "\r\n", 2);
    return (size_t)n + 2;
}

enum sm_res { SM_NEXT, SM_SLEEP, SM_GONE, SM_HANDOFF };

/* RCPT TO:<postmaster>: smtpd_check_rcpt() accepts the bare postmaster
 * before any delayed client/HELO restriction, so a worker takes the
 * session over from the MAIL line (HANDOFF_F_MAIL_DONE) and answers the
 * RCPT itself. Not when the lines do not fit the record. */
static bool postmaster_fits(const struct fe_conn *c, size_t rcpt_len)
{
    const struct fe_dummy_state *d = c->dummy;
    return d->mail_len && !d->line_long &&
           d->mail_len + 2u + rcpt_len + 1u + d->pend_len <= HANDOFF_PREREAD_MAX;
}

static bool postmaster_handoff(struct fe_conn *c, size_t rcpt_len)
{
    struct fe_dummy_state *d = c->dummy;
    if (!postmaster_fits(c, rcpt_len))
        return false;
    d->handoff = true;
    d->rcpt_len = (uint16_t)rcpt_len;
    dummy_smtpd_handed_off(&d->sm); /* the worker runs (and counts) those two lines */
    c->errors = d->sm.errors; /* the worker goes on counting */
    return true;
}

/* The lines of the reply the engine gives for outcome o (from state st):
 * what the error sleep before it is multiplied by. 0: no reply from us
 * (the postmaster handoff: the worker answers, after its own sleep). */
static unsigned reply_lines(const struct fe *fe, const struct fe_conn *c,
                            const struct dummy_smtpd *st, const struct dummy_smtpd_out *o,
                            size_t len)
{
    char e[EHLO_REPLY_MAX + 2];
    switch (o->what) {
    case DUMMY_DO_HELO: return st->esmtp ? count_lines(e, ehlo_reply(fe, c, e, sizeof(e))) : 1;
    case DUMMY_DO_POSTMASTER:
        if (postmaster_fits(c, len))
            return 0;
        /* fall through - the reject stands */
    case DUMMY_DO_REJECT: return count_lines(c->final, c->final_len);
    default: return 1;
    }
}

/* One command line in smtpd mode. The command runs on a copy of the
 * state first: the error sleep (judged on the errors before it) depends
 * on its reply's length, and after the sleep the line runs again. */
static enum sm_res smtpd_line(struct fe *fe, struct fe_conn *c, const char *line, size_t len)
{
    struct fe_dummy_state *d = c->dummy;
    const struct fe_early_conf *ec = fe->conf->early;
    const struct fe_conf *cf = fe->conf;
    char na[330], scratch[SMTP_SCRATCH_NEED(FE_LINE_MAX)];
    fe_early_namaddr_str(c, na, sizeof(na));
    /* smtpd_command_filter, as smtpd_proto() (lib/cmd_filter.c). The
     * raw line is what a handoff carries (d->line, mail_line): the worker
     * filters it again as smtpd would read it. Logged once, not again when
     * the line runs after its error sleep. A lookup error is smtpd's: the
     * warning, 421 and the end. */
    const char *raw = line;
    size_t rawlen = len;
    char edited[FE_LINE_MAX + 1];
    if (cf->smtpd_cmd_filter) {
        size_t bare = len && line[len - 1] == '\r' ? len - 1 : len;
        char msg[CMD_FILTER_LOG_MAX];
        size_t n = 0;
        int r = cmd_filter_apply(cf->smtpd_cmd_filter, line, bare, false, edited,
                                 sizeof(edited), &n, msg);
        char note[CMD_FILTER_LOG_MAX + 400];
        if (r < 0) { /* smtpd's SMTP_ERR_DATA, as the worker (session.c) */
            char text[CMD_FILTER_ERR_MAX];
            cmd_filter_error_text(cf->smtpd_cmd_filter, line, bare, text);
            fe_smtpd_log_line(LOG_LVL_WARN, text);
            snprintf(note, sizeof(note), "421 4.3.0 %s Server local data error", ec->myhostname);
            say_crlf(c, note);
            fe_dummy_log_end(c);
            fe_conn_close(fe, c);
            return SM_GONE;
        }
        if (r > 0) {
            if (!d->slept) {
                snprintf(note, sizeof(note), "%s: %s", na, msg);
                fe_smtpd_log_line(LOG_LVL_INFO, note);
            }
            line = edited;
            len = n;
        }
    }
    struct dummy_smtpd_out o;
    struct dummy_smtpd next = d->sm;
    dummy_smtpd_command(&next, &ec->smtpd, na, line, len, scratch, sizeof(scratch), &o);
    unsigned lines;
    if (sleep_due(fe, c) && (lines = reply_lines(fe, c, &next, &o, rawlen)) > 0) {
        sleep_lines(fe, c, lines);
        return SM_SLEEP;
    }
    d->slept = false;
    d->sm = next;
    d->verb = o.verb;
    d->skip = o.skip;
    switch (o.what) {
    case DUMMY_DO_SAY:
        say_crlf(c, o.text);
        if (o.text[0] == '2' && o.arg && d->sm.in_mail) { /* MAIL taken: the sender is logged */
            snprintf(d->from, sizeof(d->from), "%.*s", (int)(o.arg_len > 255 ? 255 : o.arg_len),
                     o.arg);
            size_t ml = rawlen && raw[rawlen - 1] == '\r' ? rawlen - 1 : rawlen;
            d->mail_len = ml <= sizeof(d->mail_line) ? (uint16_t)ml : 0;
            memcpy(d->mail_line, raw, d->mail_len);
        }
        break;
    case DUMMY_DO_HELO:
        snprintf(d->helo, sizeof(d->helo), "%.*s", (int)(o.arg_len > 127 ? 127 : o.arg_len),
                 o.arg);
        for (char *p = d->helo; *p; p++) /* printable(name, '?') */
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        d->esmtp = d->sm.esmtp;
        d->from[0] = '\0';
        if (d->esmtp) { /* smtpd's EHLO for this client, PIPELINING included */
            char e[EHLO_REPLY_MAX + 2];
            fe_dummy_log_ehlo(c);
            fe_conn_say(c, e, ehlo_reply(fe, c, e, sizeof(e)));
        } else {
            fe_conn_say(c, cf->helo_reply, cf->helo_len);
        }
        break;
    case DUMMY_DO_POSTMASTER:
        if (postmaster_handoff(c, rawlen))
            return SM_HANDOFF;
        /* fall through - too long to carry: the reject stands */
    case DUMMY_DO_REJECT: {
        char arg[301];
        snprintf(arg, sizeof(arg), "%.*s", (int)(o.arg_len > 300 ? 300 : o.arg_len), o.arg);
        /* log_whatsup(): from= in a transaction; to= for RCPT and VRFY,
         * not for ETRN's domain. */
        bool rcpt = strcmp(o.where, "RCPT") == 0;
        fe_dummy_log_reject(c, o.where, rcpt ? d->from : NULL,
                            strcmp(o.where, "ETRN") ? arg : NULL, d);
        fe_conn_say(c, c->final, c->final_len);
        dummy_smtpd_rejected(&d->sm);
        break;
    }
    case DUMMY_DO_CLOSE:
        say_crlf(c, o.text);
        fe_dummy_log_end(c);
        fe_conn_close(fe, c);
        return SM_GONE;
    }
    if (dummy_smtpd_hard_limit(&d->sm, &ec->smtpd)) {
        if (sleep_due(fe, c)) {
            sleep_lines(fe, c, 1);
            d->hard = true;
            return SM_SLEEP;
        }
        too_many(fe, c);
        return SM_GONE;
    }
    return SM_NEXT;
}

void fe_dummy_start(struct fe *fe, struct fe_conn *c)
{
    const struct fe_conf *cf = fe->conf;
    c->dummy = pool_get(&fe->dummies);
    if (!c->final && !c->dummy) {
        fe_dummy_end(fe, c, S(r_unavail));
        return;
    }
    if (!c->final) {
        c->final = r_unavail_rcpt;
        c->final_len = (uint16_t)(sizeof(r_unavail_rcpt) - 1);
    }
    if (!c->dummy) {
        fe_dummy_end(fe, c, c->final, c->final_len);
        return;
    }
    memset(c->dummy, 0, offsetof(struct fe_dummy_state, helo));
    c->dummy->helo[0] = c->dummy->from[0] = '\0';
    if (c->flags & FE_F_SMTPD)
        c->dummy->sm.ehlo_discard = fe_early_ehlo_discard(fe, c);
    if ((c->flags & FE_F_SMTPD) && !cf->early->delay_reject) {
        /* smtpd: the reject instead of the greeting, counted as an error;
         * every later command but QUIT is refused. */
        fe_dummy_log_reject(c, "CONNECT", NULL, NULL, NULL);
        fe_conn_say(c, c->final, c->final_len);
        c->flags |= FE_F_DENIED;
        c->dummy->sm.denied = true;
        c->dummy->sm.errors = 1;
    } else if ((c->flags & FE_F_SMTPD) || !(c->tests_failed & HANDOFF_TEST_PREGREET)) {
        /* psc_smtpd_tests(): no banner for a pregreeter ("eliminates a lot
         * of NON-SMTP COMMAND events"): it saw the 220- teaser only. */
        fe_conn_say(c, cf->greeting, cf->greeting_len);
    }
    c->state = FE_S_DUMMY;
    c->phase_ms = timer_clock_ms();
    read_timer(fe, c);
    arm(fe, c);
}

/* Input bytes buf[0..n): postscreen mode takes every byte; smtpd mode
 * stops after the line whose reply must first wait out the error sleep.
 * *used: the bytes taken. false: the session ended (c is gone). */
static bool feed(struct fe *fe, struct fe_conn *c, const char *buf, size_t n, size_t *used)
{
    struct fe_dummy_state *d = c->dummy;
    bool smtpd = (c->flags & FE_F_SMTPD) != 0;
    size_t i = 0;
    *used = 0;
    while (i < n) {
        if (d->skip) { /* a refused BDAT chunk */
            size_t k = n - i < d->skip ? n - i : (size_t)d->skip;
            d->skip -= k;
            i += k;
            *used = i;
            continue;
        }
        char ch = buf[i];
        /* psc_smtpd_read_event(): a byte that comes with line_length_limit
         * bytes of the line already read ends the session, unless the byte
         * before it was a CR (read_state CR: it may be a CRLF's LF). Only
         * the first FE_LINE_MAX bytes are kept. */
        if (!smtpd && d->line_total >= fe->conf->line_limit && !d->cr) {
            fe_dummy_ps_drop(fe, c, "COMMAND LENGTH LIMIT", false);
            return false;
        }
        if (ch != '\n') {
            if (d->line_len < FE_LINE_MAX)
                d->line[d->line_len++] = ch;
            else
                d->line_long = true;
            if (d->line_total < UINT32_MAX) /* smtpd mode never resets it */
                d->line_total++;
            d->cr = ch == '\r';
            *used = ++i;
            continue;
        }
        size_t len = d->line_len;
        if (!smtpd) {
            *used = ++i;
            d->line_len = 0;
            d->line_long = false;
            d->line_total = 0;
            d->cr = false;
            if (!fe_dummy_ps_command(fe, c, d->line, len))
                return false;
            read_timer(fe, c);
            continue;
        }
        /* smtpd cuts a long line and still reads its start as the
         * command (smtp_get with line_length_limit). */
        enum sm_res r = smtpd_line(fe, c, d->line, len);
        if (r == SM_GONE)
            return false;
        if (r == SM_HANDOFF) { /* the line stays in d->line for the record */
            *used = ++i;
            return true;
        }
        if (r == SM_SLEEP && !d->hard) /* its LF is read again after the sleep */
            return true;
        *used = ++i;
        d->line_len = 0;
        d->line_long = false;
        if (r == SM_SLEEP)
            return true;
        read_timer(fe, c);
    }
    return true;
}

/* Take the first used bytes that a MSG_PEEK left in the socket. */
static void consume(struct fe_conn *c, size_t used)
{
    char sink[2048];
    while (used > 0) {
        ssize_t k = recv(c->fd, sink, used < sizeof(sink) ? used : sizeof(sink), MSG_DONTWAIT);
        if (k <= 0)
            return;
        used -= (size_t)k;
    }
}

/* smtpd mode: what the deep tests read and did not answer goes first. */
static bool feed_pending(struct fe *fe, struct fe_conn *c)
{
    struct fe_dummy_state *d = c->dummy;
    size_t used;
    if (!d->pend_len)
        return true;
    if (!feed(fe, c, d->pend, d->pend_len, &used))
        return false;
    d->pend += used;
    d->pend_len = (uint16_t)(d->pend_len - used);
    return true;
}

/* After feeding: a RCPT TO:<postmaster> sends the session to a worker.
 * true: it did (c is no longer the engine's). */
static bool handed(struct fe *fe, struct fe_conn *c)
{
    if (!c->dummy->handoff)
        return false;
    timer_wheel_cancel(&fe->tw, &c->timer);
    fe_conn_handoff(fe, c);
    return true;
}

void fe_dummy_fill(const struct fe_conn *c, struct handoff *h)
{
    const struct fe_dummy_state *d = c->dummy;
    if (!d || !d->handoff)
        return;
    h->banner = HANDOFF_BANNER_DONE;
    h->flags = (h->flags & ~(uint32_t)HANDOFF_F_HELO_REPLIED) | HANDOFF_F_MAIL_DONE |
               HANDOFF_F_CMD_COUNTS;
    /* What this engine answered, for the worker's disconnect line. */
    _Static_assert(HANDOFF_NCMDS == MAILLOG_NCMDS, "one counter per smtpd command row");
    for (unsigned i = 0; i < HANDOFF_NCMDS; i++) {
        h->cmd_ok[i] = (uint16_t)(d->sm.counts.ok[i] > UINT16_MAX ? UINT16_MAX
                                                                  : d->sm.counts.ok[i]);
        h->cmd_total[i] = (uint16_t)(d->sm.counts.total[i] > UINT16_MAX
                                         ? UINT16_MAX
                                         : d->sm.counts.total[i]);
    }
    h->helo_cmd = HANDOFF_HELO_NONE;
    h->helo[0] = '\0';
    if (d->helo[0]) {
        h->flags |= HANDOFF_F_HELO_REPLIED;
        h->helo_cmd = d->esmtp ? HANDOFF_HELO_EHLO : HANDOFF_HELO_HELO;
        snprintf(h->helo, sizeof(h->helo), "%s", d->helo);
    }
    /* MAIL line, RCPT line, then what the deep tests read beyond it (what
     * the socket holds the worker reads itself: input was only peeked). */
    size_t n = 0;
    memcpy(h->preread, d->mail_line, d->mail_len);
    n += d->mail_len;
    memcpy(h->preread + n, "\r\n", 2);
    n += 2;
    memcpy(h->preread + n, d->line, d->rcpt_len);
    n += d->rcpt_len;
    h->preread[n++] = '\n';
    if (d->pend_len) { /* pend is NULL without deep tests */
        memcpy(h->preread + n, d->pend, d->pend_len);
        n += d->pend_len;
    }
    h->preread_len = (uint16_t)n;
}

void fe_dummy_input(struct fe *fe, struct fe_conn *c)
{
    struct fe_dummy_state *d = c->dummy;
    char buf[2048];
    if (d->sleeping)
        return;
    int flags = MSG_DONTWAIT | ((c->flags & FE_F_SMTPD) ? MSG_PEEK : 0);
    ssize_t n = recv(c->fd, buf, sizeof(buf), flags);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        arm(fe, c);
        return;
    }
    if (n <= 0) {
        fe->st.hangup++;
        if (c->flags & FE_F_SMTPD) {
            fe_dummy_log_after(c, "lost connection");
        } else {
            char a[80], t[32];
            fe_ep_format(&c->client, a, sizeof(a));
            maillog_format_delay(t, sizeof(t), (timer_clock_ms() - c->start_ms) * 1000u);
            log_info("HANGUP after %s from %s in tests after SMTP handshake", t, a);
        }
        fe_dummy_log_end(c);
        fe_conn_close(fe, c);
        return;
    }
    size_t used;
    if (!feed(fe, c, buf, (size_t)n, &used))
        return;
    if (c->flags & FE_F_SMTPD)
        consume(c, used);
    if (handed(fe, c))
        return;
    if (!d->sleeping)
        arm(fe, c);
}

/* The smtpd_error_sleep_time wait is over: the held step runs, then the
 * rest of the input. */
static void wake(struct fe *fe, struct fe_conn *c)
{
    struct fe_dummy_state *d = c->dummy;
    d->sleeping = false;
    d->slept = true;
    if (d->hard) {
        too_many(fe, c);
        return;
    }
    read_timer(fe, c);
    if (!feed_pending(fe, c) || handed(fe, c))
        return;
    if (!d->sleeping && !d->pend_len)
        fe_dummy_input(fe, c);
}

void fe_dummy_continue(struct fe *fe, struct fe_conn *c, const char *helo, bool esmtp,
                       const char *pending, size_t len)
{
    c->dummy = pool_get(&fe->dummies);
    if (!c->dummy) {
        fe_dummy_end(fe, c, c->final, c->final_len);
        return;
    }
    struct fe_dummy_state *d = c->dummy;
    memset(d, 0, offsetof(struct fe_dummy_state, helo));
    d->helo[0] = d->from[0] = '\0';
    snprintf(d->helo, sizeof(d->helo), "%s", helo);
    d->esmtp = esmtp; /* smtpd mode logs proto=ESMTP after EHLO */
    d->sm.have_helo = helo[0] != '\0';
    d->sm.esmtp = esmtp;
    d->sm.errors = c->errors; /* what the deep tests counted */
    if (c->flags & FE_F_SMTPD) {
        d->sm.ehlo_discard = fe_early_ehlo_discard(fe, c);
        fe_deep_counts(c, &d->sm.counts); /* what the deep tests answered */
    } else if (esmtp) {
        /* postscreen keeps the mask of the EHLO reply the client got
         * (psc_ehlo_cmd(): state->ehlo_discard_mask) for a later BDAT. The
         * deep tests answered EHLO with smtpd's reply (fe_deep.c: its
         * smtpd_discard_ehlo_keywords; a client with a per-address entry
         * never gets an EHLO answer from them), so that mask is in force. */
        d->sm.ehlo_discard = fe_early_ehlo_discard(fe, c);
    }
    c->state = FE_S_DUMMY;
    c->phase_ms = timer_clock_ms();
    read_timer(fe, c);
    if (c->flags & FE_F_SMTPD) {
        d->pend = pending; /* c->deep's buffer: it lives until close */
        d->pend_len = (uint16_t)len;
        if (!feed_pending(fe, c) || handed(fe, c))
            return;
        if (!d->sleeping)
            arm(fe, c);
        return;
    }
    size_t used;
    if (feed(fe, c, pending, len, &used))
        arm(fe, c);
}

void fe_dummy_timeout(struct fe *fe, struct fe_conn *c)
{
    if (c->dummy && c->dummy->sleeping) {
        wake(fe, c);
        return;
    }
    if (c->flags & FE_F_SMTPD) { /* smtpd's read timeout */
        char r[400];
        fe_dummy_log_after(c, "timeout");
        snprintf(r, sizeof(r), "421 4.4.2 %s Error: timeout exceeded",
                 fe->conf->early->myhostname);
        say_crlf(c, r);
        fe_dummy_log_end(c);
        fe_conn_close(fe, c);
        return;
    }
    fe_dummy_ps_drop(fe, c, "COMMAND TIME LIMIT", true);
}
