/*
 * fe_dummy.c - the enforce engine: postscreen's answer to a client that
 * failed a test whose action is "enforce". The client gets the rest of
 * the greeting and a tiny SMTP server that accepts HELO/EHLO and MAIL,
 * rejects every RCPT with the failed test's reply (logged as
 * "NOQUEUE: reject: RCPT from [addr]:port: REPLY; from=<s>, to=<r>,
 * proto=ESMTP, helo=<h>"), so that the sender learns why, and never
 * passes the connection on. postscreen_command_count_limit and
 * postscreen_command_time_limit bound the session ("COMMAND COUNT LIMIT"
 * / "COMMAND TIME LIMIT from [addr]:port after VERB", then 421).
 *
 * Memory: the line buffer and the HELO/sender of this session come from
 * a second pool (struct fe_dummy_state), so only enforced clients pay for
 * them. Replies are constants or prepared in struct fe_conf.
 *
 * smtpd mode (FE_F_SMTPD: a client that smtpd_client_restrictions reject,
 * fe_early.c): the session is smtpd's, not postscreen's. With
 * smtpd_delay_reject = yes every RCPT gets the reject and smtpd's
 * "NOQUEUE: reject: RCPT from NAME[ADDR]: REPLY; from=<s> to=<r>
 * proto=ESMTP helo=<h>"; MAIL before HELO (smtpd_helo_required), a nested
 * MAIL, RCPT before MAIL and DATA before RCPT get smtpd's 503 replies.
 * With smtpd_delay_reject = no the reject replaces the 220 greeting
 * ("NOQUEUE: reject: CONNECT from NAME[ADDR]: REPLY; proto=SMTP") and
 * every command but QUIT gets "503 5.7.0 Error: access denied for
 * NAME[ADDR]", as smtpd.c's access_denied.
 *
 * Failure: that pool empty: the failed test's reply at once, and close.
 */
#include "fe_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dummy_cmd.h"
#include "fe_early.h"
#include "log.h"
#include "maillog.h"

#define S(x) x, sizeof(x) - 1
static const char r_ok[] = "250 2.0.0 Ok\r\n";
static const char r_mail[] = "250 2.1.0 Ok\r\n";
static const char r_data[] = "554 5.5.1 Error: no valid recipients\r\n";
static const char r_bye[] = "221 2.0.0 Bye\r\n";
static const char r_unknown[] = "502 5.5.2 Error: command not recognized\r\n";
static const char r_count[] = "421 4.7.0 Error: too many commands\r\n";
static const char r_time[] = "421 4.4.2 Error: timeout exceeded\r\n";
static const char r_long[] = "500 5.5.2 Error: line too long\r\n";
static const char r_need_helo[] = "503 5.5.1 Error: send HELO/EHLO first\r\n";
static const char r_nested[] = "503 5.5.1 Error: nested MAIL command\r\n";
static const char r_need_mail[] = "503 5.5.1 Error: need MAIL command\r\n";
static const char r_need_rcpt[] = "503 5.5.1 Error: need RCPT command\r\n";
/* postscreen's defaults when no test failed (an allowlist veto):
 * rcpt_reply, and final_reply when even the engine is full. */
static const char r_unavail_rcpt[] = "450 4.3.2 Service currently unavailable\r\n";
static const char r_unavail[] = "421 4.3.2 Service currently unavailable\r\n";

static void end(struct fe *fe, struct fe_conn *c, const char *reply, size_t len)
{
    fe_conn_say(c, reply, len);
    fe_conn_log_disconnect(c);
    fe_conn_close(fe, c);
}

static void arm(struct fe *fe, struct fe_conn *c)
{
    struct io_uring_sqe *sqe = fe_sqe(fe);
    io_uring_prep_poll_add(sqe, c->fd, POLLIN | POLLRDHUP);
    io_uring_sqe_set_data64(sqe, ring_ud_for(FE_OP_CONN_POLL, &fe->conns, c));
    c->flags |= FE_F_POLL;
}

/* smtpd_check.c's log_whatsup() line for the reject in c->final. */
static void smtpd_log(struct fe_conn *c, const char *where, const char *sender,
                      const char *rcpt, const struct fe_dummy_state *d)
{
    char name[256], addr[64], text[FE_LINE_MAX], line[1400];
    fe_early_namaddr(c, name, sizeof(name), addr, sizeof(addr));
    snprintf(text, sizeof(text), "%.*s", (int)(c->final_len - 2), c->final);
    struct maillog_client mc = {.name = name, .addr = addr};
    if (d && d->helo[0]) {
        mc.helo = d->helo;
        mc.proto = d->esmtp ? "ESMTP" : "SMTP";
    } else if (!d) {
        mc.proto = "SMTP";
    }
    if (maillog_reject(line, sizeof(line), "NOQUEUE", "reject", where, &mc, text, sender, rcpt) >= 0)
        log_info("%s", line);
}

/* smtpd mode: one command; the reply, or NULL when postscreen's dummy
 * answers it the same. */
static bool smtpd_command(struct fe *fe, struct fe_conn *c, enum dummy_verb v, const char *arg,
                          size_t alen)
{
    struct fe_dummy_state *d = c->dummy;
    if (c->flags & FE_F_DENIED) {
        if (v == DUMMY_QUIT)
            return false;
        char name[256], addr[64], reply[400];
        fe_early_namaddr(c, name, sizeof(name), addr, sizeof(addr));
        int n = snprintf(reply, sizeof(reply), "503 5.7.0 Error: access denied for %s[%s]\r\n",
                         name, addr);
        fe_conn_say(c, reply, n > 0 && (size_t)n < sizeof(reply) ? (size_t)n : 0);
        return true;
    }
    switch (v) {
    case DUMMY_HELO:
    case DUMMY_EHLO:
        d->esmtp = v == DUMMY_EHLO;
        d->mail = false; /* HELO/EHLO reset the transaction */
        return false;
    case DUMMY_MAIL:
        if (fe->conf->early->helo_required && !d->helo[0])
            fe_conn_say(c, S(r_need_helo));
        else if (d->mail)
            fe_conn_say(c, S(r_nested));
        else {
            d->mail = true;
            return false; /* 250, the sender kept: as the dummy does */
        }
        return true;
    case DUMMY_RCPT: {
        if (!d->mail) {
            fe_conn_say(c, S(r_need_mail));
            return true;
        }
        char rcpt[301];
        snprintf(rcpt, sizeof(rcpt), "%.*s", (int)(alen > 300 ? 300 : alen), arg);
        smtpd_log(c, "RCPT", d->from, rcpt, d);
        fe_conn_say(c, c->final, c->final_len);
        return true;
    }
    case DUMMY_DATA:
        if (!d->mail) {
            fe_conn_say(c, S(r_need_rcpt));
            return true;
        }
        return false;
    case DUMMY_RSET: d->mail = false; return false;
    default: return false;
    }
}

void fe_dummy_start(struct fe *fe, struct fe_conn *c)
{
    const struct fe_conf *cf = fe->conf;
    c->dummy = pool_get(&fe->dummies);
    if (!c->final && !c->dummy) {
        end(fe, c, S(r_unavail));
        return;
    }
    if (!c->final) {
        c->final = r_unavail_rcpt;
        c->final_len = (uint16_t)(sizeof(r_unavail_rcpt) - 1);
    }
    if (!c->dummy) {
        end(fe, c, c->final, c->final_len);
        return;
    }
    if ((c->flags & FE_F_SMTPD) && !cf->early->delay_reject) {
        /* smtpd: the reject instead of the greeting. */
        smtpd_log(c, "CONNECT", NULL, NULL, NULL);
        fe_conn_say(c, c->final, c->final_len);
        c->flags |= FE_F_DENIED;
    } else {
        fe_conn_say(c, cf->greeting, cf->greeting_len);
    }
    c->state = FE_S_DUMMY;
    c->phase_ms = timer_clock_ms();
    timer_wheel_add(&fe->tw, &c->timer,
                    c->phase_ms + (fe->stress ? cf->command_time_stress_ms : cf->command_time_ms));
    arm(fe, c);
}

static void limit(struct fe *fe, struct fe_conn *c, const char *what, const char *after,
                  const char *reply, size_t len)
{
    char a[80];
    fe_ep_format(&c->client, a, sizeof(a));
    log_info("%s from %s after %s", what, a, after);
    end(fe, c, reply, len);
}

/* One command line; false when the session ended. */
static bool command(struct fe *fe, struct fe_conn *c, const char *line, size_t len)
{
    struct fe_dummy_state *d = c->dummy;
    const struct fe_conf *cf = fe->conf;
    const char *arg;
    size_t alen;
    enum dummy_verb v = dummy_cmd_parse(line, len, &arg, &alen);
    if (v == DUMMY_EMPTY)
        v = DUMMY_UNKNOWN;
    if (++c->ncommands > cf->command_count_limit) {
        limit(fe, c, "COMMAND COUNT LIMIT", dummy_cmd_name(v), S(r_count));
        return false;
    }
    if ((c->flags & FE_F_SMTPD) && smtpd_command(fe, c, v, arg, alen))
        return true;
    switch (v) {
    case DUMMY_HELO:
    case DUMMY_EHLO:
        snprintf(d->helo, sizeof(d->helo), "%.*s", (int)alen, arg);
        if (v == DUMMY_EHLO)
            fe_conn_say(c, cf->ehlo_reply, cf->ehlo_len);
        else
            fe_conn_say(c, cf->helo_reply, cf->helo_len);
        return true;
    case DUMMY_MAIL:
        snprintf(d->from, sizeof(d->from), "%.*s", (int)alen, arg);
        fe_conn_say(c, S(r_mail));
        return true;
    case DUMMY_RCPT: {
        char a[80];
        fe_ep_format(&c->client, a, sizeof(a));
        /* final holds "CODE X.Y.Z text\r\n": logged without the CRLF. */
        log_info("NOQUEUE: reject: RCPT from %s: %.*s; from=<%s>, to=<%.*s>, proto=%s, helo=<%s>",
                 a, (int)(c->final_len - 2), c->final, d->from, (int)(alen > 300 ? 300 : alen),
                 arg, d->helo[0] ? "ESMTP" : "SMTP", d->helo);
        fe_conn_say(c, c->final, c->final_len);
        return true;
    }
    case DUMMY_DATA: fe_conn_say(c, S(r_data)); return true;
    case DUMMY_RSET: d->from[0] = '\0'; fe_conn_say(c, S(r_ok)); return true;
    case DUMMY_NOOP: fe_conn_say(c, S(r_ok)); return true;
    case DUMMY_QUIT: end(fe, c, S(r_bye)); return false;
    default: fe_conn_say(c, S(r_unknown)); return true;
    }
}

/* Lines of input; false when the session ended. */
static bool feed(struct fe *fe, struct fe_conn *c, const char *buf, size_t n)
{
    struct fe_dummy_state *d = c->dummy;
    for (size_t i = 0; i < n; i++) {
        char ch = buf[i];
        if (ch != '\n') {
            if (d->line_len < FE_LINE_MAX)
                d->line[d->line_len++] = ch;
            else
                d->line_long = true;
            continue;
        }
        bool was_long = d->line_long;
        size_t len = d->line_len;
        d->line_len = 0;
        d->line_long = false;
        if (was_long) {
            fe_conn_say(c, S(r_long));
            continue;
        }
        if (!command(fe, c, d->line, len))
            return false;
    }
    return true;
}

void fe_dummy_input(struct fe *fe, struct fe_conn *c)
{
    char buf[2048];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        arm(fe, c);
        return;
    }
    if (n <= 0) {
        char a[80], t[32];
        fe_ep_format(&c->client, a, sizeof(a));
        maillog_format_delay(t, sizeof(t), (timer_clock_ms() - c->start_ms) * 1000u);
        log_info("HANGUP after %s from %s in tests after SMTP handshake", t, a);
        fe->st.hangup++;
        fe_conn_log_disconnect(c);
        fe_conn_close(fe, c);
        return;
    }
    if (feed(fe, c, buf, (size_t)n))
        arm(fe, c);
}

void fe_dummy_continue(struct fe *fe, struct fe_conn *c, const char *helo, bool esmtp,
                       const char *pending, size_t len)
{
    const struct fe_conf *cf = fe->conf;
    c->dummy = pool_get(&fe->dummies);
    if (!c->dummy) {
        end(fe, c, c->final, c->final_len);
        return;
    }
    snprintf(c->dummy->helo, sizeof(c->dummy->helo), "%s", helo);
    c->dummy->esmtp = esmtp; /* smtpd mode logs proto=ESMTP after EHLO */
    c->state = FE_S_DUMMY;
    c->phase_ms = timer_clock_ms();
    timer_wheel_add(&fe->tw, &c->timer,
                    c->phase_ms + (fe->stress ? cf->command_time_stress_ms : cf->command_time_ms));
    if (feed(fe, c, pending, len))
        arm(fe, c);
}

void fe_dummy_timeout(struct fe *fe, struct fe_conn *c)
{
    limit(fe, c, "COMMAND TIME LIMIT", c->ncommands ? "a command" : "CONNECT", S(r_time));
}
