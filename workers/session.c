/*
 * session.c - the SMTP session's transition function, input framing,
 * output buffer and waits (see session.h for the contract).
 *
 * session_goto() is the only place that changes the state. Input is
 * framed here: command lines (LF-terminated, cut at line_length_limit as
 * Postfix's smtp_get() with SKIP does), DATA content up to CRLF.CRLF, and
 * BDAT chunk bytes; command lines go to the command table in
 * session_cmds.c. Replies go through session_reply(), which holds a reply
 * back behind an error sleep exactly where Postfix's smtpd_chat_reply()
 * would sleep(3).
 *
 * Failure: malloc failure in session_create() gives NULL; nothing else
 * allocates. Ended sessions' objects are kept for reuse (session_alloc).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_filter.h"
#include "maps.h"
#include "pool.h"
#include "session_int.h"

/* Postfix's defaults (postconf -d, 3.7). */
void session_cfg_defaults(struct session_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->message_size_limit = 10240000;
    c->recipient_limit = 1000;
    c->recipient_overshoot_limit = 1000;
    c->soft_error_limit = 10;
    c->hard_error_limit = 20;
    c->junk_command_limit = 100;
    c->error_sleep_ms = 1000;
    c->line_length_limit = SMTP_LINE_LIMIT_DEFAULT;
    c->delay_reject = 1;
    c->smtputf8 = 1;
}

/* A worker makes one session object per SMTP session: the 30 KB objects
 * of ended sessions are kept for the next ones (pool.h spares) with their
 * line and scratch buffers, and the 16 KB output buffer, read only below
 * out_len, is not zeroed. One event loop per process: one static set. */
static struct pool_spares session_spares;

static struct session *session_alloc(size_t line_cap, size_t scratch_size)
{
    struct session *s = pool_spares_take(&session_spares);
    if (!s)
        return calloc(1, sizeof(*s));
    char *line = s->line, *scratch = s->scratch;
    size_t old_cap = s->line_cap, old_scratch = s->scratch_size;
    const size_t out_end = offsetof(struct session, out) + sizeof(s->out);
    memset(s, 0, offsetof(struct session, out));
    memset((char *)s + out_end, 0, sizeof(*s) - out_end);
    s->out[0] = '\0';
    /* The buffers fit a line_length_limit (a new generation may change it). */
    if (old_cap == line_cap && old_scratch == scratch_size) {
        s->line = line;
        s->scratch = scratch;
    } else {
        free(line);
        free(scratch);
    }
    return s;
}

struct session *session_create(const struct session_cfg *cfg, const struct session_peer *peer,
                               const struct session_ops *ops, void *ctx)
{
    size_t limit = cfg->line_length_limit;
    if (limit == 0 || limit > SMTP_LINE_LIMIT_DEFAULT)
        limit = SMTP_LINE_LIMIT_DEFAULT; /* fixed buffers below */
    /* One CR past the limit, so "limit bytes + CRLF" is not an over-long line. */
    size_t line_cap = limit + 1, scratch_size = SMTP_SCRATCH_NEED(line_cap);
    struct session *s = session_alloc(line_cap, scratch_size);
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->cfg.line_length_limit = limit;
    if (!s->cfg.myhostname)
        s->cfg.myhostname = "localhost";
    if (!s->cfg.banner)
        s->cfg.banner = s->cfg.myhostname;
    s->peer = *peer;
    s->ops = ops;
    s->ctx = ctx;
    s->line_cap = line_cap;
    s->scratch_size = scratch_size;
    if (!s->line)
        s->line = malloc(s->line_cap);
    if (!s->scratch)
        s->scratch = malloc(s->scratch_size);
    if (!s->line || !s->scratch) {
        session_free(s);
        return NULL;
    }
    s->proto = "SMTP";
    s->state = SS_INIT;
    s->where = "CONNECT";
    return s;
}

void session_free(struct session *s)
{
    if (!s)
        return;
    if (s->line && s->scratch && pool_spares_keep(&session_spares, s))
        return;
    free(s->line);
    free(s->scratch);
    free(s);
}

void session_goto(struct session *s, enum session_state next)
{
    /* CLOSE is final: nothing may revive a session that said goodbye. */
    if (s->state == SS_CLOSE)
        return;
    s->state = next;
}

/* A NUL after the output while there is room (session.h's readers use
 * the length; tests read it as a string), since a reused object's buffer
 * is not zeroed (session_alloc). */
static void out_terminate(struct session *s)
{
    if (s->out_len < sizeof(s->out))
        s->out[s->out_len] = '\0';
}

static void out_append(struct session *s, const char *p, size_t n)
{
    /* Replies stop being produced above SESSION_OUT_HIGH (session_input
     * returns), so one reply always fits; cut rather than overflow. */
    if (n > sizeof(s->out) - s->out_len)
        n = sizeof(s->out) - s->out_len;
    memcpy(s->out + s->out_len, p, n);
    s->out_len += n;
    out_terminate(s);
}

void session_reply(struct session *s, const char *fmt, ...)
{
    va_list ap;
    char buf[sizeof(s->held) - 2];
    int n;

    if (s->state == SS_CLOSE)
        return;
    if (s->mute_reply) { /* the MAIL the frontend answered (session_start) */
        s->mute_reply = 0;
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = (int)sizeof(buf) - 1;
    memcpy(s->held, buf, (size_t)n);
    memcpy(s->held + n, "\r\n", 2);
    s->held_len = (size_t)n + 2;
    /* smtpd_chat_reply(): sleep before every reply once the client has
     * made soft_error_limit errors. */
    if (s->error_count >= s->cfg.soft_error_limit && s->cfg.error_sleep_ms > 0) {
        s->sleeping = 1;
        return;
    }
    out_append(s, s->held, s->held_len);
    s->held_len = 0;
    /* smtpd_chat_reply(): a 421 or 521 reply ends the session. */
    if (!strncmp(buf, "421", 3) || !strncmp(buf, "521", 3))
        session_goto(s, SS_CLOSE);
}

void session_facts_fill(const struct session *s, enum session_stage st, struct session_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->stage = st;
    f->peer = &s->peer;
    f->helo = s->have_helo ? s->helo : NULL;
    /* HELO and MAIL stages without smtpd_delay_reject judge the name or
     * address being proposed, before it is taken. */
    if (st == SESSION_STAGE_HELO && s->cont == SC_HELO)
        f->helo = s->arg;
    f->proto = s->proto;
    f->sender = s->in_mail || (st == SESSION_STAGE_MAIL && s->cont == SC_MAIL) ? s->sender : NULL;
    if (st == SESSION_STAGE_RCPT || st == SESSION_STAGE_VRFY || st == SESSION_STAGE_ETRN)
        f->recipient = s->arg;
    f->size = st == SESSION_STAGE_EOD ? s->msg_bytes : s->mail_size;
    f->rcpt_count = s->rcpt_count;
    f->pipelined = s->ill_pipelining;
    f->tls = s->tls;
    f->discard = s->discard;
    f->hold = s->hold;
    f->bdat = s->bdat_seen;
    f->body = s->in_mail ? s->mail_body : 0;
    f->smtputf8 = s->in_mail && s->mail_smtputf8;
    if (s->in_mail || (st == SESSION_STAGE_MAIL && s->cont == SC_MAIL)) {
        f->dsn_ret = s->mail_ret;
        f->dsn_envid = s->mail_envid[0] ? s->mail_envid : NULL;
    }
    if (st == SESSION_STAGE_RCPT) {
        f->dsn_notify = s->rcpt_notify;
        f->dsn_orcpt = s->rcpt_orcpt;
    }
    f->where = s->where;
}

void session_reset_mail(struct session *s)
{
    if (s->in_mail && s->ops->txn_end)
        s->ops->txn_end(s->ctx);
    if (s->state == SS_DATA || s->state == SS_BDAT || s->bdat_seen) {
        if (!s->data_aborted && s->ops->data_abort)
            s->ops->data_abort(s->ctx);
    }
    s->in_mail = 0;
    s->sender[0] = 0;
    s->mail_ret = 0;
    s->mail_envid[0] = 0;
    s->mail_size = 0;
    s->rcpt_count = 0;
    s->rcpt_overshoot = 0;
    s->discard = s->hold = 0;
    s->bdat_seen = 0;
    s->msg_bytes = 0;
    s->too_big = 0;
    s->data_aborted = 0;
}

/* smtpd_proto()'s loop top: the hard error limit ends the session before
 * the next command is even read. */
static void check_hard_limit(struct session *s)
{
    if (s->state == SS_CMD && !s->sleeping && s->error_count >= s->cfg.hard_error_limit)
        session_reply(s, "421 4.7.0 %s Error: too many errors", s->cfg.myhostname);
}

/* A command finished (now, or after its policy answer): count it as
 * smtpd_proto() does after cmdp->action(). */
static void command_done(struct session *s, int rc)
{
    if (rc > 0)
        return; /* still running (or counted already): counted when it ends */
    if (rc < 0)
        s->error_count++;
    else if (s->cur_cmd < MAILLOG_NCMDS)
        s->stats.ok[s->cur_cmd]++;
}

/* Walk the policy chain from chain_pos until a verdict, the end, or
 * PENDING. Returns the command's result (1: still running). */
static int chain_advance(struct session *s)
{
    while (s->chain_pos < s->chain_len) {
        struct session_facts f;
        struct session_verdict v;
        enum session_action a;

        memset(&v, 0, sizeof(v));
        session_facts_fill(s, s->chain[s->chain_pos], &f);
        a = s->ops->policy ? s->ops->policy(s->ctx, &f, &v) : SESSION_DUNNO;
        switch (a) {
        case SESSION_PENDING:
            session_goto(s, SS_POLICY);
            return 1;
        case SESSION_DISCARD:
            s->discard = 1;
            break;
        case SESSION_HOLD:
            s->hold = 1;
            break;
        case SESSION_REJECT:
        case SESSION_DEFER:
            v.action = a;
            s->chain_len = 0;
            session_goto(s, SS_CMD);
            return session_proceed(s, s->cont, &v);
        case SESSION_DUNNO:
        case SESSION_PERMIT:
            break;
        }
        s->chain_pos++;
    }
    s->chain_len = 0;
    session_goto(s, SS_CMD);
    return session_proceed(s, s->cont, NULL);
}

int session_run_chain(struct session *s, const enum session_stage *stages, unsigned n,
                      enum session_cont cont)
{
    memcpy(s->chain, stages, n * sizeof(*stages));
    s->chain_len = n;
    s->chain_pos = 0;
    s->cont = cont;
    return chain_advance(s);
}

int session_policy_done(struct session *s, const struct session_verdict *v)
{
    int rc;

    if (s->state != SS_POLICY || !v || v->action == SESSION_PENDING)
        return -EINVAL;
    if (s->cont == SC_DATA_END) {
        session_goto(s, SS_CMD);
        rc = session_proceed(s, SC_DATA_END, v);
        command_done(s, rc);
        check_hard_limit(s);
        return 0;
    }
    switch (v->action) {
    case SESSION_REJECT:
    case SESSION_DEFER:
        s->chain_len = 0;
        session_goto(s, SS_CMD);
        command_done(s, session_proceed(s, s->cont, v));
        check_hard_limit(s);
        return 0;
    case SESSION_DISCARD:
        s->discard = 1;
        break;
    case SESSION_HOLD:
        s->hold = 1;
        break;
    default:
        break;
    }
    s->chain_pos++;
    command_done(s, chain_advance(s));
    check_hard_limit(s);
    return 0;
}

int session_sleep_done(struct session *s)
{
    if (!s->sleeping)
        return -EINVAL;
    s->sleeping = 0;
    out_append(s, s->held, s->held_len);
    if (!strncmp(s->held, "421", 3) || !strncmp(s->held, "521", 3))
        session_goto(s, SS_CLOSE);
    s->held_len = 0;
    check_hard_limit(s);
    return 0;
}

int session_tls_started(struct session *s)
{
    if (s->state != SS_TLS)
        return -EINVAL;
    s->tls = 1;
    session_goto(s, SS_CMD);
    return 0;
}

/* Waiting on something other than input? */
static int blocked(const struct session *s)
{
    return s->sleeping || s->out_len > SESSION_OUT_HIGH || s->state == SS_INIT
           || s->state == SS_POLICY || s->state == SS_TLS || s->state == SS_CLOSE;
}

int session_start(struct session *s, const struct session_start *st)
{
    static const enum session_stage connect[] = {SESSION_STAGE_CONNECT};

    if (s->state != SS_INIT)
        return -EINVAL;
    session_goto(s, SS_CMD);
    s->mute_reply = 0;
    if (st) {
        s->error_count = st->error_count;
        s->mute_reply = st->mail_done;
        if (st->helo_cmd && st->helo) {
            snprintf(s->helo, sizeof(s->helo), "%s", st->helo);
            s->have_helo = 1;
            s->proto = st->helo_cmd == 2 ? "ESMTP" : "SMTP";
            /* The frontend answered it in this session: smtpd's
             * disconnect line counts it ("ehlo=2 starttls=1 ..."). */
            enum maillog_cmd k = st->helo_cmd == 2 ? MAILLOG_EHLO : MAILLOG_HELO;
            if (!st->counts) {
                s->stats.ok[k]++;
                s->stats.total[k]++;
            }
        }
        if (st->counts) /* all the frontend answered, that HELO/EHLO included */
            s->stats = *st->counts;
    }
    if (!s->cfg.delay_reject) {
        s->banner_sent = st && st->banner == SESSION_BANNER_SENT;
        s->cur_cmd = MAILLOG_NCMDS; /* not a command: no counter moves */
        s->cont = SC_CONNECT;
        s->chain[0] = connect[0];
        s->chain_len = 1;
        s->chain_pos = 0;
        /* The connect verdict decides between banner and reject. */
        (void)chain_advance(s);
        return 0;
    }
    if (!st || st->banner != SESSION_BANNER_SENT)
        session_reply(s, "220 %s", s->cfg.banner);
    return 0;
}

/* smtpd_proto()'s smtpd_command_filter: the line is replaced in place
 * (cut to the line buffer) and "NAME[ADDR]: replacing command ..." noted.
 * A lookup error is smtpd's SMTP_ERR_DATA: a warning, "421 4.3.0 HOST
 * Server local data error", the end (false). */
static bool filter_line(struct session *s, size_t *len)
{
    char out[SMTP_LINE_LIMIT_DEFAULT + 2], msg[CMD_FILTER_LOG_MAX], note[CMD_FILTER_LOG_MAX + 400];
    size_t n = 0;
    int r = cmd_filter_apply(s->cfg.cmd_filter, s->line, *len, false, out, sizeof(out), &n, msg);
    if (r < 0) {
        if (s->ops->note) {
            char text[CMD_FILTER_ERR_MAX];
            cmd_filter_error_text(s->cfg.cmd_filter, s->line, *len, text);
            snprintf(note, sizeof(note), "warning: %s", text);
            s->ops->note(s->ctx, note);
        }
        session_reply(s, "421 4.3.0 %s Server local data error", s->cfg.myhostname);
        return false;
    }
    if (r == 0)
        return true;
    if (s->ops->note) {
        snprintf(note, sizeof(note), "%s[%s]: %s", s->peer.name, s->peer.addr, msg);
        s->ops->note(s->ctx, note);
    }
    if (n > s->cfg.line_length_limit) /* smtpd reads no more of a line */
        n = s->cfg.line_length_limit;
    memcpy(s->line, out, n);
    *len = n;
    return true;
}

/* One command line (CR stripped). */
static void process_line(struct session *s, int more)
{
    size_t len = s->line_len;

    if (len > s->cfg.line_length_limit)
        len = s->cfg.line_length_limit;
    if (s->cfg.cmd_filter && !filter_line(s, &len)) {
        s->line_len = 0;
        s->line_skip = 0;
        return;
    }
    s->more_input = more;
    command_done(s, session_dispatch(s, s->line, len));
    s->line_len = 0;
    s->line_skip = 0;
}

static size_t take_line(struct session *s, const char *buf, size_t len)
{
    const char *lf = memchr(buf, '\n', len);
    size_t n = lf ? (size_t)(lf - buf) : len;
    size_t room = s->line_cap - s->line_len;

    if (!s->line_skip) {
        size_t c = n < room ? n : room;
        memcpy(s->line + s->line_len, buf, c);
        s->line_len += c;
        if (n > room)
            s->line_skip = 1; /* over-long: the rest up to LF is dropped */
    }
    if (!lf)
        return len;
    if (s->line_len && s->line[s->line_len - 1] == '\r' && !s->line_skip)
        s->line_len--;
    process_line(s, n + 1 < len);
    return n + 1;
}

/* DATA terminator scan states. */
enum { D_BOL, D_MID, D_CR, D_DOT, D_DOTCR };

static void data_pass(struct session *s, const char *p, size_t n)
{
    if (!n)
        return;
    s->msg_bytes += n;
    if (s->cfg.message_size_limit && s->msg_bytes > s->cfg.message_size_limit) {
        /* Stop feeding the pipeline at once; the 552 waits for the end. */
        if (!s->too_big && s->ops->data_abort)
            s->ops->data_abort(s->ctx);
        s->too_big = s->data_aborted = 1;
        return;
    }
    if (s->ops->data_chunk && !s->data_aborted && s->ops->data_chunk(s->ctx, p, n) < 0) {
        if (s->ops->data_abort)
            s->ops->data_abort(s->ctx);
        s->data_aborted = 1;
    }
}

static size_t take_data(struct session *s, const char *buf, size_t len)
{
    size_t i, run = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        switch (s->dstate) {
        case D_BOL:
            if (c == '.') {
                data_pass(s, buf + run, i - run);
                run = i + 1;
                s->dstate = D_DOT;
                continue;
            }
            s->dstate = c == '\r' ? D_CR : D_MID;
            continue;
        case D_MID: {
            /* Mid-line only a CR can change the state: skip to it. The
             * byte loop is for line starts; most of a message goes here. */
            const char *cr = memchr(buf + i, '\r', len - i);
            if (!cr) {
                i = len - 1;
                continue;
            }
            i = (size_t)(cr - buf);
            s->dstate = D_CR;
            continue;
        }
        case D_CR:
            s->dstate = c == '\n' ? D_BOL : c == '\r' ? D_CR : D_MID;
            continue;
        case D_DOT:
            if (c == '\r') {
                run = i + 1;
                s->dstate = D_DOTCR;
                continue;
            }
            data_pass(s, ".", 1);
            run = i;
            s->dstate = D_MID;
            i--; /* this byte again, mid-line */
            continue;
        case D_DOTCR:
            if (c == '\n') {
                s->dstate = D_BOL;
                command_done(s, session_data_done(s));
                return i + 1;
            }
            data_pass(s, ".\r", 2);
            run = i;
            s->dstate = D_CR;
            i--;
            continue;
        }
    }
    if (s->dstate != D_DOT && s->dstate != D_DOTCR)
        data_pass(s, buf + run, len - run);
    return len;
}

static size_t take_chunk(struct session *s, const char *buf, size_t len)
{
    size_t n = len < s->chunk_left ? len : (size_t)s->chunk_left;

    if (s->state == SS_BDAT)
        data_pass(s, buf, n);
    s->chunk_left -= n;
    if (s->chunk_left == 0)
        command_done(s, session_bdat_done(s));
    return n;
}

size_t session_input(struct session *s, const char *buf, size_t len)
{
    size_t used = 0;

    check_hard_limit(s);
    while (used < len && !blocked(s)) {
        switch (s->state) {
        case SS_CMD:
            used += take_line(s, buf + used, len - used);
            break;
        case SS_DATA:
            used += take_data(s, buf + used, len - used);
            break;
        case SS_BDAT:
        case SS_BDAT_SKIP:
            used += take_chunk(s, buf + used, len - used);
            break;
        default:
            return used;
        }
        check_hard_limit(s);
    }
    /* Bytes pipelined behind STARTTLS are dropped (CVE-2011-0411). */
    if (s->state == SS_TLS)
        used = len;
    /* Nothing more is read after CLOSE. */
    if (s->state == SS_CLOSE)
        used = len;
    return used;
}

void session_eof(struct session *s)
{
    if (s->state == SS_CLOSE)
        return;
    if (s->in_mail)
        session_reset_mail(s);
    s->sleeping = 0;
    s->held_len = 0;
    session_goto(s, SS_CLOSE);
}

void session_shutdown(struct session *s, const char *reply)
{
    if (s->state == SS_CLOSE)
        return;
    if (s->in_mail)
        session_reset_mail(s);
    s->sleeping = 0;
    s->held_len = 0;
    out_append(s, reply, strlen(reply));
    out_append(s, "\r\n", 2);
    session_goto(s, SS_CLOSE);
}

void session_output(const struct session *s, const char **p, size_t *len)
{
    *p = s->out;
    *len = s->out_len;
}

void session_output_done(struct session *s, size_t n)
{
    if (n > s->out_len)
        n = s->out_len;
    memmove(s->out, s->out + n, s->out_len - n);
    s->out_len -= n;
    out_terminate(s);
}

enum session_wait session_wait(const struct session *s, unsigned *sleep_ms)
{
    if (sleep_ms)
        *sleep_ms = 0;
    /* A reply held for the error sleep goes out before the close (the
     * 221 to a non-SMTP command after the soft limit). */
    if (s->sleeping) {
        /* smtpd_chat_reply() sleeps before each LINE: Postfix 3.7's
         * 10-line EHLO reply waits 10 times smtpd_error_sleep_time. */
        unsigned lines = 0;
        for (size_t i = 0; i < s->held_len; i++)
            lines += s->held[i] == '\n';
        if (sleep_ms)
            *sleep_ms = s->cfg.error_sleep_ms * (lines ? lines : 1);
        return SESSION_WAIT_SLEEP;
    }
    if (s->state == SS_CLOSE)
        return SESSION_WAIT_CLOSE;
    if (s->state == SS_POLICY)
        return SESSION_WAIT_POLICY;
    if (s->state == SS_TLS)
        return SESSION_WAIT_TLS;
    if (s->out_len > SESSION_OUT_HIGH)
        return SESSION_WAIT_OUTPUT;
    return SESSION_WAIT_INPUT;
}

const char *session_where(const struct session *s, long long *data_bytes)
{
    if (data_bytes)
        *data_bytes = s->state == SS_DATA || s->state == SS_BDAT || s->state == SS_BDAT_SKIP
                          ? (long long)s->msg_bytes
                          : -1;
    return s->where;
}

const struct maillog_cmd_stats *session_stats(const struct session *s)
{
    return &s->stats;
}

unsigned session_error_count(const struct session *s)
{
    return s->error_count;
}
