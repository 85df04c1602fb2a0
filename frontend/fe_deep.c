/*
 * fe_deep.c - postscreen's deep protocol tests (postscreen_pipelining_*,
 * postscreen_non_smtp_command_*, postscreen_bare_newline_*) in the
 * frontend, WITHOUT postscreen's reconnect: the client that passes is
 * handed to a worker in the same session.
 *
 * When the tests are to run (fe_deep_wanted: enabled, not passed in
 * postscreen_cache_map, client not allowlisted), the frontend ends the
 * greeting itself ("220 $smtpd_banner", after the "220-" teaser if one
 * went out), reads the client's lines into a small per-connection buffer
 * (struct fe_deep_state, from its own pool: only clients under test pay
 * for it) and judges every line (deep_proto.c). It answers HELO and EHLO
 * with exactly the worker's reply (lib/ehlo_reply.h, the builder the
 * worker uses; PIPELINING left out while the pipelining test runs, as
 * postscreen never announces it), NOOP, RSET and QUIT. The first MAIL or
 * STARTTLS line passes the tests (PASS NEW, stamps in the cache with
 * postscreen_*_ttl); the client is then handed off with
 * HANDOFF_F_HELO_REPLIED, the HELO argument, and that unanswered line and
 * whatever followed it as preread: the worker answers it and the client
 * never notices. Any other command is handed off the same way without a
 * pass (deep_proto.h says why).
 *
 * THE HELO POINT: fe_deep_helo_known() (fe_deep_helo.c) is the one place where the frontend
 * knows the HELO/EHLO argument before it answers. There the HELO
 * restrictions are pre-evaluated (fe_early_helo: smtpd_client_restrictions
 * then smtpd_helo_restrictions with the workers' engine, acting only on a
 * definite final 5xx). With smtpd_delay_reject = yes smtpd answers the
 * HELO and rejects at RCPT: the HELO is answered here, and when the
 * client starts its transaction (MAIL: the deep tests pass as usual) with
 * a rejected HELO, the enforce engine continues in smtpd mode (each RCPT
 * gets the reject and smtpd's NOQUEUE line) instead of a handoff. With
 * smtpd_delay_reject = no smtpd judges the name at the HELO command
 * (helo_cmd(): smtpd_check_helo before the name is taken): a definite
 * final 5xx is answered here with smtpd's reply and its "NOQUEUE: reject:
 * EHLO from NAME[ADDR]: REPLY; proto=P helo=<new name>" line, counts an
 * error (the record carries the count), keeps the name in force (none,
 * or the last one accepted) and the tests go on; a clean name is answered
 * as usual; anything the frontend cannot decide goes to a worker
 * unanswered. So does every HELO when the answer depends on a per-client
 * EHLO reply (smtpd_authorized_xclient_hosts,
 * smtpd_discard_ehlo_keyword_address_maps). smtpd's error limits hold
 * for the replies given here (answer(): smtpd_error_sleep_time before
 * each reply line from smtpd_soft_error_limit errors on, on the timer
 * wheel with the reply held; the 421 of smtpd_hard_error_limit).
 *
 * A failed test is logged as postscreen logs it ("BARE NEWLINE from
 * [a]:p after LINE", "NON-SMTP COMMAND from [a]:p after WHERE: CMD REST",
 * "COMMAND PIPELINING from [a]:p after CMD: INPUT") and goes to its
 * action as the other tests (fe_conn_act): drop (postscreen's 521
 * replies), enforce (the enforce engine continues this session:
 * fe_dummy_continue), tarpit, or ignore (an error is counted and the test
 * is stamped with the shortest TTL, as postscreen's psc_min_ttl).
 * postscreen_command_count_limit and postscreen_command_time_limit bound
 * the session ("COMMAND COUNT LIMIT", "COMMAND TIME LIMIT", 421).
 *
 * A postscreen_forbidden_commands table that does not open is skipped
 * with a warning and lookup errors count as no match; the words still
 * count. Postfix's psc_smtpd.c does the same ("Ignore forbid_cmds lookup
 * errors. Non-critical feature."). Postfix's default, the inline
 * "regexp:{{/^[^A-Z]/ Bogus}}", opens (maps_regexp.c).
 *
 * Failure: no deep state left in the pool: the tests are skipped and the
 * client is handed off as it is (fail open). A line longer than the
 * buffer is handed to the worker unanswered (its line_length_limit rules
 * apply there). A client that leaves: "HANGUP after T from [a]:p in tests
 * after SMTP handshake".
 */
#include "fe_deep_int.h"
#include "fe_screen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fe_early.h"
#include "log.h"
#include "maillog.h"
#include "pregreet.h"
#include "util.h"

#define S(x) x, sizeof(x) - 1

static const char r_ok[] = "250 2.0.0 Ok\r\n";
static const char r_bye[] = "221 2.0.0 Bye\r\n";
static const char r_proto_drop[] = "521 5.5.1 Protocol error\r\n";
static const char r_proto_enf[] = "550 5.5.1 Protocol error\r\n";
static const char r_nsmtp_drop[] = "521 5.7.0 Error: I can break rules, too. Goodbye.\r\n";


static const unsigned test_bit[T_N] = {DEEP_T_PIPEL, DEEP_T_NSMTP, DEEP_T_BARLF};
static const unsigned handoff_bit[T_N] = {HANDOFF_TEST_PIPELINING, HANDOFF_TEST_NON_SMTP,
                                          HANDOFF_TEST_BARE_NEWLINE};
static const enum screen_test screen_idx[T_N] = {SCREEN_TEST_PIPEL, SCREEN_TEST_NSMTP,
                                                 SCREEN_TEST_BARLF};

/* Test i's pass or fail counter (mxscreen-ctl status). */
static uint64_t *deep_stat(struct fe *fe, int i, bool fail)
{
    switch (i) {
    case T_PIPEL: return fail ? &fe->st.pipelining_fail : &fe->st.pipelining_pass;
    case T_NSMTP: return fail ? &fe->st.non_smtp_fail : &fe->st.non_smtp_pass;
    default: return fail ? &fe->st.bare_newline_fail : &fe->st.bare_newline_pass;
    }
}


/* ---- the session ---- */

static unsigned todo_of(const struct fe_conn *c)
{
    unsigned t = 0;
    for (int i = 0; i < T_N; i++)
        if (c->todo & SCREEN_BIT(screen_idx[i]))
            t |= test_bit[i];
    return t;
}

bool fe_deep_wanted(const struct fe *fe, const struct fe_conn *c)
{
    const struct fe_deep_conf *d = fe->conf->deep;
    return d && (d->enabled & todo_of(c)) && !(c->flags & (FE_F_ALLOWED | FE_F_NOFORWARD)) &&
           !(c->sflags & (FE_SF_PASS_OLD | FE_SF_DNSWL)) && !c->deep;
}

static void client(const struct fe_conn *c, char *a, size_t n)
{
    fe_ep_format(&c->client, a, n);
}

static void arm(struct fe *fe, struct fe_conn *c)
{
    if (c->flags & FE_F_POLL)
        return;
    struct io_uring_sqe *sqe = fe_sqe(fe);
    io_uring_prep_poll_add(sqe, c->fd, POLLIN | POLLRDHUP);
    io_uring_sqe_set_data64(sqe, ring_ud_for(FE_OP_CONN_POLL, &fe->conns, c));
    c->flags |= FE_F_POLL;
}

static void rearm_timer(struct fe *fe, struct fe_conn *c)
{
    const struct fe_conf *cf = fe->conf;
    timer_wheel_cancel(&fe->tw, &c->timer);
    timer_wheel_add(&fe->tw, &c->timer,
                    timer_clock_ms() + (fe->stress ? cf->command_time_stress_ms
                                                   : cf->command_time_ms));
}

static void end(struct fe *fe, struct fe_conn *c, const char *reply, size_t len)
{
    fe_conn_finish(fe, c, reply, len);
}

void fe_deep_start(struct fe *fe, struct fe_conn *c)
{
    const struct fe_conf *cf = fe->conf;
    c->deep = pool_get(&fe->deeps);
    if (!c->deep) { /* fail open: the worker takes the client untested */
        char a[80];
        client(c, a, sizeof(a));
        log_warn("deep protocol tests skipped for %s: no session state left", a);
        fe_conn_handoff(fe, c);
        return;
    }
    memset(c->deep, 0, offsetof(struct fe_deep_state, buf));
    c->deep->where = "CONNECT";
    unsigned run = cf->deep->enabled & todo_of(c);
    for (int i = 0; i < T_N; i++)
        if (run & test_bit[i])
            c->tests_done |= (uint16_t)handoff_bit[i];
    fe_conn_say(c, cf->greeting, cf->greeting_len);
    c->state = FE_S_DEEP;
    c->ncommands = 0;
    rearm_timer(fe, c);
    arm(fe, c);
}

/* Tests still judged in this session: enabled, to do, not yet failed. */
static unsigned running(const struct fe *fe, const struct fe_conn *c)
{
    unsigned t = fe->conf->deep->enabled & todo_of(c);
    for (int i = 0; i < T_N; i++)
        if (c->tests_failed & handoff_bit[i])
            t &= ~test_bit[i];
    return t;
}

static void cache_write(struct fe *fe, struct fe_conn *c)
{
    if (!fe->scr || !fe->scr->cache || !(c->sflags & FE_SF_CACHED))
        return;
    char addr[INET6_ADDRSTRLEN];
    if (!inet_ntop(c->client.family, c->client.addr, addr, sizeof(addr)))
        return;
    int r = screen_cache_update(fe->scr->cache, addr, &c->stamps, fe->conf->screen->enabled);
    if (r < 0)
        log_warn("postscreen_cache_map update %s: %s", addr, strerror(-r));
}

/* The client starts real work: the tests that ran and did not fail pass. */
static void passed(struct fe *fe, struct fe_conn *c)
{
    const struct fe_deep_conf *d = fe->conf->deep;
    unsigned run = running(fe, c);
    int64_t now = (int64_t)time(NULL);
    for (int i = 0; i < T_N; i++)
        if (run & test_bit[i]) {
            c->stamps.t[screen_idx[i]] = now + d->ttl[i];
            (*deep_stat(fe, i, false))++;
        }
    if (!c->tests_failed && !(c->flags & FE_F_NOFORWARD)) {
        char a[80];
        client(c, a, sizeof(a));
        log_info("PASS NEW %s", a);
        fe->st.pass_new++;
    }
    cache_write(fe, c);
}


void fe_deep_fill(const struct fe_conn *c, struct handoff *h)
{
    const struct fe_deep_state *s = c->deep;
    if (!s)
        return;
    h->banner = HANDOFF_BANNER_DONE;
    if (s->helo_cmd != HANDOFF_HELO_NONE) {
        h->flags |= HANDOFF_F_HELO_REPLIED;
        h->helo_cmd = s->helo_cmd;
        snprintf(h->helo, sizeof(h->helo), "%s", s->helo);
    }
    h->preread_len = s->have;
    memcpy(h->preread, s->buf, s->have);
    /* What was answered here counts in the worker's disconnect line. */
    unsigned answered = 0;
    for (unsigned i = 0; i < HANDOFF_NCMDS; i++)
        answered |= s->cmd_total[i];
    if (answered) {
        h->flags |= HANDOFF_F_CMD_COUNTS;
        memcpy(h->cmd_ok, s->cmd_ok, sizeof(h->cmd_ok));
        memcpy(h->cmd_total, s->cmd_total, sizeof(h->cmd_total));
    }
}

void fe_deep_counts(const struct fe_conn *c, struct maillog_cmd_stats *out)
{
    memset(out, 0, sizeof(*out));
    _Static_assert(HANDOFF_NCMDS == MAILLOG_NCMDS, "one counter per smtpd command row");
    for (unsigned i = 0; c->deep && i < HANDOFF_NCMDS; i++) {
        out->ok[i] = c->deep->cmd_ok[i];
        out->total[i] = c->deep->cmd_total[i];
    }
}

/* smtpd_proto()'s counters for a command answered here. */
static void counted(struct fe_deep_state *s, enum maillog_cmd k, bool ok)
{
    if (s->cmd_total[k] == UINT16_MAX)
        return;
    s->cmd_total[k]++;
    s->cmd_ok[k] = (uint16_t)(s->cmd_ok[k] + ok);
}

/* Hand off with buf[off..have) unanswered. */
static void handoff(struct fe *fe, struct fe_conn *c, size_t off)
{
    struct fe_deep_state *s = c->deep;
    memmove(s->buf, s->buf + off, s->have - off);
    s->have = (uint16_t)(s->have - off);
    timer_wheel_cancel(&fe->tw, &c->timer);
    fe_conn_handoff(fe, c);
}

static void hangup(struct fe *fe, struct fe_conn *c)
{
    char a[80], t[32];
    client(c, a, sizeof(a));
    maillog_format_delay(t, sizeof(t), (timer_clock_ms() - c->start_ms) * 1000u);
    log_info("HANGUP after %s from %s in tests after SMTP handshake", t, a);
    fe->st.hangup++;
    fe_conn_log_disconnect(c);
    fe_conn_close(fe, c);
}

/* Log the failures of one line, in postscreen's order, and act. STEP_END:
 * the connection is gone or taken over (drop, tarpit). */
static enum step_res failures(struct fe *fe, struct fe_conn *c, const struct deep_verdict *v,
                              const char *line, size_t len, const char *after, size_t after_len)
{
    const struct fe_deep_conf *d = fe->conf->deep;
    char a[80], e1[PREGREET_TEXT_MAX + 1], e2[PREGREET_TEXT_MAX + 1];
    client(c, a, sizeof(a));
    static const int order[T_N] = {T_BARLF, T_NSMTP, T_PIPEL};
    for (int k = 0; k < T_N; k++) {
        int i = order[k];
        if (!(v->failed & test_bit[i]))
            continue;
        /* printable(command, '?') */
        char word[101];
        size_t wl = v->word_len < 100 ? v->word_len : 100;
        for (size_t j = 0; j < wl; j++) {
            unsigned char ch = (unsigned char)v->word[j];
            word[j] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
        }
        word[wl] = '\0';
        if (i == T_BARLF) {
            pregreet_escape((const unsigned char *)line, len, e1, sizeof(e1));
            log_info("BARE NEWLINE from %s after %s", a, e1);
        } else if (i == T_NSMTP) {
            pregreet_escape((const unsigned char *)v->rest, v->rest_len, e1, sizeof(e1));
            log_info("NON-SMTP COMMAND from %s after %s: %s %s", a, c->deep->where, word, e1);
        } else {
            pregreet_escape((const unsigned char *)after, after_len, e2, sizeof(e2));
            log_info("COMMAND PIPELINING from %s after %s: %s", a, word, e2);
        }
        (*deep_stat(fe, i, true))++;
        const char *drop = i == T_NSMTP ? r_nsmtp_drop : r_proto_drop;
        size_t drop_len = i == T_NSMTP ? sizeof(r_nsmtp_drop) - 1 : sizeof(r_proto_drop) - 1;
        if (fe_conn_act(fe, c, handoff_bit[i], d->action[i], drop, drop_len, S(r_proto_enf)) ==
            STEP_END)
            return STEP_END;
        if (d->action[i] == PS_ACT_IGNORE) /* postscreen: passed until psc_min_ttl */
            c->stamps.t[screen_idx[i]] = (int64_t)time(NULL) + d->min_ttl;
    }
    return STEP_NEXT;
}

/* smtpd's error limits for the replies the frontend gives itself, with
 * the errors made so far (a HELO rejected here, an ignored test):
 * smtpd_chat_reply() waits smtpd_error_sleep_time before every reply
 * LINE once smtpd_soft_error_limit errors are made (Postfix 3.7 checked:
 * its 10-line EHLO reply takes 10 s with a 1 s sleep), here on the timer
 * wheel with the reply held; smtpd_proto() ends the session at
 * smtpd_hard_error_limit, after one more sleep. No limits without the
 * early configuration (fe_early_conf.c always makes it). */
static bool must_sleep(const struct fe *fe, const struct fe_conn *c)
{
    const struct fe_early_conf *ec = fe->conf->early;
    return ec && ec->error_sleep_ms > 0 && c->errors >= ec->smtpd.soft_limit;
}

static void deep_sleep(struct fe *fe, struct fe_conn *c, unsigned lines)
{
    c->deep->sleeping = true;
    timer_wheel_cancel(&fe->tw, &c->timer);
    timer_wheel_add(&fe->tw, &c->timer,
                    timer_clock_ms() + fe->conf->early->error_sleep_ms * (lines ? lines : 1));
}

/* "too many errors after VERB from NAME[ADDR]", smtpd's 421, close. Only
 * smtpd's errors (HELO rejects) get here, and no worker will see the
 * client: the session is logged as smtpd's ("connect from", that line,
 * "disconnect from ... commands=N/M" with the counters kept here). */
static void too_many(struct fe *fe, struct fe_conn *c)
{
    char r[400];
    struct maillog_cmd_stats st;
    fe_smtpd_log_connect(c);
    fe_smtpd_log_after(c, "too many errors", c->deep->where);
    snprintf(r, sizeof(r), "421 4.7.0 %s Error: too many errors\r\n", fe->conf->early->myhostname);
    fe_conn_say(c, r, strlen(r));
    fe_deep_counts(c, &st);
    fe_smtpd_log_disconnect(c, &st);
    fe_conn_close(fe, c);
}

enum line_res { LINE_NEXT, LINE_GONE, LINE_HELD };

/* Send a reply of ours (after the error sleep: HELD, the line is taken),
 * count the error it says (smtpd_proto() counts after the reply, so the
 * sleep before it depends on the errors before), then
 * smtpd_hard_error_limit. */
static enum line_res answer(struct fe *fe, struct fe_conn *c, const char *reply, size_t len,
                            bool close, bool error, bool sleep)
{
    struct fe_deep_state *s = c->deep;
    if (sleep && must_sleep(fe, c)) {
        unsigned lines = 0;
        for (size_t i = 0; i < len; i++)
            lines += reply[i] == '\n';
        s->held = reply;
        s->held_len = (uint16_t)len;
        s->held_close = close;
        s->held_error = error;
        deep_sleep(fe, c, lines);
        return LINE_HELD;
    }
    if (close) {
        end(fe, c, reply, len);
        return LINE_GONE;
    }
    fe_conn_say(c, reply, len);
    c->errors = (uint16_t)(c->errors + error);
    const struct fe_early_conf *ec = fe->conf->early;
    if (!ec || c->errors < ec->smtpd.hard_limit)
        return LINE_NEXT;
    if (must_sleep(fe, c)) {
        s->hard = true;
        deep_sleep(fe, c, 1);
        return LINE_HELD;
    }
    too_many(fe, c);
    return LINE_GONE;
}

/* One line at buf[off..). */
static enum line_res line(struct fe *fe, struct fe_conn *c, size_t off, const struct deep_line *ln)
{
    const struct fe_deep_conf *d = fe->conf->deep;
    const struct fe_conf *cf = fe->conf;
    struct fe_deep_state *s = c->deep;
    const char *text = s->buf + off;
    size_t after = off + ln->used;
    struct deep_in in = {
        .todo = running(fe, c),
        .more = after < s->have,
        .bare_lf = ln->bare_lf,
        .smtputf8 = d->smtputf8,
        .strict = d->strict,
        .forbidden = d->nwords || d->nmaps ? fe_deep_forbidden : NULL,
        .ctx = (void *)d,
    };
    /* psc_smtpd_read_event() applies postscreen_command_filter before the
     * tests look at a command (the deep tests are postscreen's command
     * reader). A line handed on stays as the client sent it: the worker
     * reads it with smtpd_command_filter, as Postfix's smtpd would. */
    char edited[FE_LINE_MAX + 1];
    size_t tlen = ln->len;
    if (cf->cmd_filter) {
        long e = fe_ps_filter(cf, c, text, tlen, edited, sizeof(edited));
        if (e >= 0) {
            text = edited;
            tlen = (size_t)e;
        }
    }
    struct deep_verdict v;
    deep_judge(text, tlen, &in, &v);
    const char *where = s->where;
    if (v.failed && failures(fe, c, &v, text, tlen, s->buf + after, s->have - after) ==
                        STEP_END)
        return LINE_GONE;
    s->where = deep_verb_name(v.verb);
    if (c->flags & FE_F_NOFORWARD) { /* enforce: the dummy engine goes on from this line */
        timer_wheel_cancel(&fe->tw, &c->timer);
        fe_dummy_continue(fe, c, s->helo_cmd ? s->helo : "", s->helo_cmd == HANDOFF_HELO_EHLO,
                          s->buf + off, s->have - off);
        return LINE_GONE;
    }
    if (++c->ncommands > cf->command_count_limit && v.next != DEEP_NEXT_QUIT) {
        char a[80];
        client(c, a, sizeof(a));
        log_info("COMMAND COUNT LIMIT from %s after %s", a, where);
        end(fe, c, d->r_421, d->r_421_len);
        return LINE_GONE;
    }
    /* A line that failed a test is answered as postscreen answers (no
     * smtpd error sleep); the rest as smtpd. */
    bool sleep = !v.failed;
    switch (v.next) {
    case DEEP_NEXT_HELO:
    case DEEP_NEXT_EHLO: {
        const char *reply;
        size_t rlen;
        switch (fe_deep_helo_known(fe, c, v.next == DEEP_NEXT_EHLO, v.helo, v.helo_len, &reply,
                                   &rlen)) {
        case FE_DEEP_HELO_HANDOFF: handoff(fe, c, off); return LINE_GONE;
        case FE_DEEP_HELO_REJECT:
            counted(s, v.next == DEEP_NEXT_EHLO ? MAILLOG_EHLO : MAILLOG_HELO, false);
            return answer(fe, c, reply, rlen, false, true, sleep);
        case FE_DEEP_HELO_ANSWER: break;
        }
        counted(s, v.next == DEEP_NEXT_EHLO ? MAILLOG_EHLO : MAILLOG_HELO, true);
        if (v.next == DEEP_NEXT_HELO)
            return answer(fe, c, d->helo_reply, d->helo_len, false, false, sleep);
        if (running(fe, c) & DEEP_T_PIPEL)
            return answer(fe, c, d->ehlo, d->ehlo_len, false, false, sleep);
        return answer(fe, c, d->ehlo_pipe, d->ehlo_pipe_len, false, false, sleep);
    }
    case DEEP_NEXT_OK:
        counted(s, v.verb == DEEP_V_RSET ? MAILLOG_RSET : MAILLOG_NOOP, true);
        return answer(fe, c, S(r_ok), false, false, sleep);
    case DEEP_NEXT_QUIT: return answer(fe, c, S(r_bye), true, false, sleep);
    case DEEP_NEXT_HANDOFF_PASS:
        passed(fe, c);
        if (s->helo_rej && v.verb == DEEP_V_MAIL) /* STARTTLS: the worker's */
            fe_deep_helo_enforce(fe, c, off);
        else
            handoff(fe, c, off);
        return LINE_GONE;
    default: handoff(fe, c, off); return LINE_GONE;
    }
}

/* The lines in the buffer, then wait for more. */
static void process(struct fe *fe, struct fe_conn *c)
{
    struct fe_deep_state *s = c->deep;
    size_t off = 0;
    struct deep_line ln;
    enum line_res r = LINE_NEXT;
    while (deep_line_next(s->buf + off, s->have - off, &ln)) {
        r = line(fe, c, off, &ln);
        if (r == LINE_GONE)
            return;
        off += ln.used;
        if (r == LINE_HELD)
            break;
        rearm_timer(fe, c); /* postscreen: the time limit is per command */
    }
    memmove(s->buf, s->buf + off, s->have - off);
    s->have = (uint16_t)(s->have - off);
    if (s->sleeping)
        return; /* the input waits in the socket (fe_deep_timeout goes on) */
    if (s->have == FE_DEEP_BUF) { /* a line longer than we read: the worker's */
        handoff(fe, c, 0);
        return;
    }
    arm(fe, c);
}

void fe_deep_input(struct fe *fe, struct fe_conn *c)
{
    struct fe_deep_state *s = c->deep;
    if (s->sleeping)
        return;
    ssize_t n = recv(c->fd, s->buf + s->have, FE_DEEP_BUF - s->have, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        arm(fe, c);
        return;
    }
    if (n <= 0) {
        hangup(fe, c);
        return;
    }
    s->have = (uint16_t)(s->have + (size_t)n);
    process(fe, c);
}

void fe_deep_timeout(struct fe *fe, struct fe_conn *c)
{
    struct fe_deep_state *s = c->deep;
    if (s->sleeping) { /* smtpd_error_sleep_time is over: the held reply */
        s->sleeping = false;
        if (s->hard) {
            too_many(fe, c);
            return;
        }
        const char *held = s->held;
        s->held = NULL;
        if (answer(fe, c, held, s->held_len, s->held_close, s->held_error, false) != LINE_NEXT)
            return;
        rearm_timer(fe, c);
        process(fe, c);
        return;
    }
    char a[80];
    client(c, a, sizeof(a));
    log_info("COMMAND TIME LIMIT from %s after %s", a, s->where);
    end(fe, c, fe->conf->deep->r_time, fe->conf->deep->r_time_len);
}
