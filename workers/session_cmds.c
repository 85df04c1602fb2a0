/*
 * session_cmds.c - the SMTP command table: one row per verb with its
 * state check and its proceed step, as OpenSMTPD's smtp_session.c; the
 * replies and their order are Postfix 3.7 smtpd's (smtpd.c), checked
 * against the real daemon (tests/unit/test_session.c records them).
 *
 * A check answers a sequence error (503...) before the syntax is looked
 * at, as Postfix's handlers do; then a syntax error gets the parser's
 * reply; then proceed runs, usually by asking the policy chain, and the
 * chain's end comes back through session_proceed() with the verdict.
 * Return values: 0 done, -1 failed (an error is counted), 1 still running
 * (policy pending, or DATA/BDAT content to come).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/ehlo_reply.h"
#include "lib/hostname.h"
#include "lib/xclient.h"
#include "session_int.h"

#define F_JUNK 1u    /* SMTPD_CMD_FLAG_LIMIT: counts against junk_command_limit */
#define F_LAST 2u    /* SMTPD_CMD_FLAG_LAST: nothing may be pipelined after it */
#define F_PRETLS 4u  /* SMTPD_CMD_FLAG_PRE_TLS: allowed before STARTTLS when required */
#define F_SYNTAX 8u  /* syntax before state: a bad BDAT has no chunk size to skip */

struct cmd_row {
    enum smtp_verb verb;
    enum maillog_cmd counter;
    unsigned flags;
    int (*check)(struct session *s, const struct smtp_cmd *c);
    int (*proceed)(struct session *s, const struct smtp_cmd *c);
};

void session_verdict_reply(struct session *s, const struct session_verdict *v)
{
    unsigned code = v->code ? v->code : (v->action == SESSION_DEFER ? 450 : 554);
    if (v->dsn[0])
        session_reply(s, "%u %s %s", code, v->dsn, v->text);
    else
        session_reply(s, "%u %s", code, v->text);
}

static void reset_helo(struct session *s)
{
    s->have_helo = 0;
    s->helo[0] = 0;
    s->proto = "SMTP";
}

/* ---- HELO / EHLO ---- */

/* smtpd's state->ehlo_discard_mask: the client's entry in
 * smtpd_discard_ehlo_keyword_address_maps, else smtpd_discard_ehlo_keywords. */
static unsigned session_ehlo_discard(const struct session *s)
{
    return s->peer.ehlo_discard_found ? s->peer.ehlo_discard : s->cfg.ehlo_discard;
}

static int helo_proceed(struct session *s, const struct smtp_cmd *c)
{
    static const enum session_stage st[] = {SESSION_STAGE_HELO};
    size_t n = c->arg_len < sizeof(s->arg) - 1 ? c->arg_len : sizeof(s->arg) - 1;

    memcpy(s->arg, c->arg, n);
    s->arg[n] = 0;
    s->is_ehlo = c->verb == SMTP_VERB_EHLO;
    if (!s->cfg.delay_reject) {
        return session_run_chain(s, st, 1, SC_HELO);
    }
    return session_proceed(s, SC_HELO, NULL);
}

static int helo_done(struct session *s, const struct session_verdict *v)
{
    if (v) {
        session_verdict_reply(s, v);
        return -1;
    }
    reset_helo(s);
    session_reset_mail(s);
    /* printable(name, '?'), as Postfix stores it */
    for (char *p = s->arg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    memcpy(s->helo, s->arg, sizeof(s->helo));
    s->have_helo = 1;
    if (!s->is_ehlo) {
        s->proto = "SMTP";
        session_reply(s, "250 %s", s->cfg.myhostname);
        return 0;
    }
    s->proto = "ESMTP";
    /* One builder for the worker and the frontend (lib/ehlo_reply.h). */
    const unsigned d = session_ehlo_discard(s);
    if (ehlo_reply_logged(d) && s->ops->note) {
        char names[256], line[300];
        if (ehlo_reply_mask_str(d, names, sizeof(names)) >= 0) {
            snprintf(line, sizeof(line), "discarding EHLO keywords: %s", names);
            s->ops->note(s->ctx, line);
        }
    }
    const struct ehlo_opts o = {
        .myhostname = s->cfg.myhostname,
        .message_size_limit = s->cfg.message_size_limit,
        .discard = d,
        .vrfy = !s->cfg.disable_vrfy,
        .starttls = s->cfg.tls_available && !s->tls,
        .xclient = s->peer.xclient_authorized,
        .smtputf8 = s->cfg.smtputf8,
    };
    char reply[EHLO_REPLY_MAX];
    if (ehlo_reply_format(&o, reply, sizeof(reply)) < 0) {
        /* Only a myhostname over 255 bytes, which config_load refuses. */
        session_reply(s, "250 %s", s->cfg.myhostname);
        return 0;
    }
    session_reply(s, "%s", reply);
    return 0;
}

/* ---- MAIL ---- */

static int mail_check(struct session *s, const struct smtp_cmd *c)
{
    (void)c;
    if (s->cfg.helo_required && !s->have_helo) {
        session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
        return -1;
    }
    if (s->in_mail) {
        session_reply(s, "503 5.5.1 Error: nested MAIL command");
        return -1;
    }
    return 0;
}

static int mail_proceed(struct session *s, const struct smtp_cmd *c)
{
    static const enum session_stage st[] = {SESSION_STAGE_MAIL};
    size_t n = c->addr_len < sizeof(s->sender) - 1 ? c->addr_len : sizeof(s->sender) - 1;

    if (c->has_size && s->cfg.message_size_limit && c->size > s->cfg.message_size_limit) {
        session_reply(s, "552 5.3.4 Message size exceeds fixed limit");
        return -1;
    }
    memcpy(s->sender, c->addr, n);
    s->sender[n] = 0;
    s->mail_size = c->has_size ? c->size : 0;
    s->mail_body = (int)c->body;
    s->mail_smtputf8 = c->smtputf8;
    s->mail_ret = (int)c->ret;
    snprintf(s->mail_envid, sizeof(s->mail_envid), "%s", c->envid ? c->envid : "");
    if (!s->cfg.delay_reject) {
        return session_run_chain(s, st, 1, SC_MAIL);
    }
    return session_proceed(s, SC_MAIL, NULL);
}

static int mail_done(struct session *s, const struct session_verdict *v)
{
    if (v) {
        s->sender[0] = 0;
        s->mail_ret = 0;
        s->mail_envid[0] = 0;
        session_verdict_reply(s, v);
        return -1;
    }
    s->in_mail = 1;
    session_reply(s, "250 2.1.0 Ok");
    return 0;
}

/* ---- RCPT / VRFY ---- */

static int rcpt_check(struct session *s, const struct smtp_cmd *c)
{
    (void)c;
    if (!s->in_mail) {
        session_reply(s, "503 5.5.1 Error: need MAIL command");
        return -1;
    }
    return 0;
}

/* smtpd_check_rcpt(): with smtpd_delay_reject the client, HELO and (in a
 * transaction) sender restrictions run again first. */
static unsigned rcpt_chain(const struct session *s, enum session_stage last,
                           enum session_stage *st)
{
    unsigned n = 0;
    if (s->cfg.delay_reject) {
        st[n++] = SESSION_STAGE_CONNECT;
        st[n++] = SESSION_STAGE_HELO;
        if (s->in_mail && last != SESSION_STAGE_ETRN)
            st[n++] = SESSION_STAGE_MAIL;
    }
    st[n++] = last;
    return n;
}

static void copy_arg(struct session *s, const char *p, size_t len)
{
    size_t n = len < sizeof(s->arg) - 1 ? len : sizeof(s->arg) - 1;
    memcpy(s->arg, p, n);
    s->arg[n] = 0;
}

static int rcpt_proceed(struct session *s, const struct smtp_cmd *c)
{
    enum session_stage st[SESSION_CHAIN_MAX];

    if (s->cfg.recipient_limit && s->rcpt_count >= s->cfg.recipient_limit) {
        session_reply(s, "452 4.5.3 Error: too many recipients");
        return s->rcpt_overshoot++ < s->cfg.recipient_overshoot_limit ? 0 : -1;
    }
    copy_arg(s, c->addr, c->addr_len);
    s->rcpt_notify = c->notify;
    /* smtpd's rcpt_cmd: without ORCPT=, "rfc822;" + the address as sent
     * (its <> stripped) is recorded, as RFC 3461 5.2.1 allows. */
    if (c->orcpt)
        snprintf(s->rcpt_orcpt, sizeof(s->rcpt_orcpt), "%.*s;%s", (int)c->orcpt_type_len,
                 c->orcpt_type, c->orcpt);
    else {
        const char *a = c->addr_raw;
        size_t n = c->addr_raw_len;
        if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
            a++;
            n -= 2;
        }
        snprintf(s->rcpt_orcpt, sizeof(s->rcpt_orcpt), "rfc822;%.*s", (int)n, a);
    }
    return session_run_chain(s, st, rcpt_chain(s, SESSION_STAGE_RCPT, st), SC_RCPT);
}

static int rcpt_done(struct session *s, const struct session_verdict *v)
{
    if (v) {
        session_verdict_reply(s, v);
        return -1;
    }
    s->rcpt_count++;
    session_reply(s, "250 2.1.5 Ok");
    return 0;
}

static int vrfy_check(struct session *s, const struct smtp_cmd *c)
{
    (void)c;
    if (s->cfg.disable_vrfy) {
        session_reply(s, "502 5.5.1 VRFY command is disabled");
        return -1;
    }
    return 0;
}

static int vrfy_proceed(struct session *s, const struct smtp_cmd *c)
{
    enum session_stage st[SESSION_CHAIN_MAX];

    copy_arg(s, c->addr, c->addr_len);
    return session_run_chain(s, st, rcpt_chain(s, SESSION_STAGE_VRFY, st), SC_VRFY);
}

static int vrfy_done(struct session *s, const struct session_verdict *v)
{
    if (v) {
        session_verdict_reply(s, v);
        return -1;
    }
    session_reply(s, "252 2.0.0 %s", s->arg);
    return 0;
}

/* ---- ETRN: refused as Postfix refuses a domain outside fast_flush_domains ---- */

static int etrn_check(struct session *s, const struct smtp_cmd *c)
{
    (void)c;
    if (s->cfg.helo_required && !s->have_helo) {
        session_reply(s, "503 Error: send HELO/EHLO first");
        return -1;
    }
    if (s->in_mail) {
        session_reply(s, "503 Error: MAIL transaction in progress");
        return -1;
    }
    return 0;
}

static int etrn_proceed(struct session *s, const struct smtp_cmd *c)
{
    enum session_stage st[SESSION_CHAIN_MAX];
    const char *d = c->arg;
    size_t n = c->arg_len;

    /* etrn_cmd(): one leading non-alphanumeric byte ("@", "#") is skipped. */
    if (n && !((*d >= 'a' && *d <= 'z') || (*d >= 'A' && *d <= 'Z') || (*d >= '0' && *d <= '9'))) {
        d++;
        n--;
    }
    if (!hostname_valid(d, n)) {
        session_reply(s, "501 Error: invalid parameter syntax");
        return -1;
    }
    copy_arg(s, d, n);
    return session_run_chain(s, st, rcpt_chain(s, SESSION_STAGE_ETRN, st), SC_ETRN);
}

static int etrn_done(struct session *s, const struct session_verdict *v)
{
    if (v) {
        session_verdict_reply(s, v);
        return -1;
    }
    session_reply(s, "459 <%s>: service unavailable", s->arg);
    return -1;
}

/* ---- DATA / BDAT ---- */

static int need_rcpt(struct session *s)
{
    if (s->rcpt_count)
        return 0;
    if (!s->in_mail)
        session_reply(s, "503 5.5.1 Error: need RCPT command");
    else
        session_reply(s, "554 5.5.1 Error: no valid recipients");
    return -1;
}

static int data_check(struct session *s, const struct smtp_cmd *c)
{
    (void)c;
    if (s->bdat_seen) {
        session_reply(s, "503 5.5.1 Error: DATA after BDAT");
        return -1;
    }
    return need_rcpt(s);
}

static int data_proceed(struct session *s, const struct smtp_cmd *c)
{
    static const enum session_stage st[] = {SESSION_STAGE_DATA};
    (void)c;
    return session_run_chain(s, st, 1, SC_DATA);
}

static void content_begin(struct session *s)
{
    struct session_facts f;
    session_facts_fill(s, SESSION_STAGE_DATA, &f);
    s->msg_bytes = 0;
    s->too_big = 0;
    s->data_aborted = 0;
    if (s->ops->data_begin && s->ops->data_begin(s->ctx, &f) < 0)
        s->data_aborted = 1; /* the pipeline refused: 451 at the end */
}

static int data_done(struct session *s, const struct session_verdict *v)
{
    if (v) {
        session_verdict_reply(s, v);
        return -1;
    }
    content_begin(s);
    s->dstate = 0;
    session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
    session_goto(s, SS_DATA);
    return 1;
}

static int bdat_start(struct session *s, const struct smtp_cmd *c, int skip)
{
    s->chunk_left = s->chunk_size = c->chunk_size;
    s->chunk_last = c->last;
    session_goto(s, skip ? SS_BDAT_SKIP : SS_BDAT);
    return s->chunk_left == 0 ? session_bdat_done(s) : 1;
}

static int bdat_check(struct session *s, const struct smtp_cmd *c)
{
    /* The chunk follows whatever we answer: read and drop it. */
    if (need_rcpt(s) < 0) {
        (void)bdat_start(s, c, 1);
        return -1;
    }
    return 0;
}

static int bdat_proceed(struct session *s, const struct smtp_cmd *c)
{
    static const enum session_stage st[] = {SESSION_STAGE_DATA};

    if (s->bdat_seen)
        return bdat_start(s, c, 0);
    /* First chunk: smtpd_data_restrictions, then the content begins. */
    s->chunk_left = s->chunk_size = c->chunk_size;
    s->chunk_last = c->last;
    return session_run_chain(s, st, 1, SC_BDAT);
}

static int bdat_done(struct session *s, const struct session_verdict *v)
{
    if (v) {
        session_verdict_reply(s, v);
        session_goto(s, s->chunk_left ? SS_BDAT_SKIP : SS_CMD);
        return -1;
    }
    s->bdat_seen = 1;
    content_begin(s);
    session_goto(s, SS_BDAT);
    return s->chunk_left == 0 ? session_bdat_done(s) : 1;
}

static int content_end(struct session *s)
{
    static const enum session_stage st[] = {SESSION_STAGE_EOD};

    s->where = "END-OF-MESSAGE";
    session_goto(s, SS_CMD);
    if (s->too_big) {
        session_reply(s, "552 5.3.4 Message size exceeds fixed limit");
        s->data_aborted = 1;
        session_reset_mail(s);
        return -1;
    }
    return session_run_chain(s, st, 1, SC_EOD);
}

int session_data_done(struct session *s)
{
    return content_end(s);
}

int session_bdat_done(struct session *s)
{
    if (s->state == SS_BDAT_SKIP) {
        session_goto(s, SS_CMD);
        return 1; /* the refused BDAT was counted when refused */
    }
    if (!s->chunk_last) {
        session_goto(s, SS_CMD);
        /* Postfix answers with this chunk's size, not the total so far. */
        session_reply(s, "250 2.0.0 Ok: %llu bytes", (unsigned long long)s->chunk_size);
        return 0;
    }
    return content_end(s);
}

static int eod_done(struct session *s, const struct session_verdict *v)
{
    struct session_facts f;
    struct session_verdict dv;
    enum session_action a;

    if (v || s->data_aborted) {
        if (!s->data_aborted && s->ops->data_abort)
            s->ops->data_abort(s->ctx);
        s->data_aborted = 1;
        if (v)
            session_verdict_reply(s, v);
        else
            session_reply(s, "451 4.3.0 Error: queue file write error");
        session_reset_mail(s);
        return -1;
    }
    memset(&dv, 0, sizeof(dv));
    session_facts_fill(s, SESSION_STAGE_EOD, &f);
    a = s->ops->data_end ? s->ops->data_end(s->ctx, &f, &dv) : SESSION_REJECT;
    if (a == SESSION_PENDING) {
        s->cont = SC_DATA_END;
        session_goto(s, SS_POLICY);
        return 1;
    }
    dv.action = a;
    if (!s->ops->data_end)
        snprintf(dv.text, sizeof(dv.text), "Error: no delivery");
    return session_proceed(s, SC_DATA_END, &dv);
}

static int data_end_done(struct session *s, const struct session_verdict *v)
{
    s->data_aborted = 1; /* the pipeline is finished either way */
    if (v->action == SESSION_REJECT || v->action == SESSION_DEFER) {
        session_verdict_reply(s, v);
        session_reset_mail(s);
        return -1;
    }
    if (s->bdat_seen) /* smtpd's act_size: the pipeline's count (session.h) */
        session_reply(s, "250 2.0.0 Ok: %llu bytes queued as %s",
                      (unsigned long long)(v->size ? v->size : s->msg_bytes), v->queue_id);
    else
        session_reply(s, "250 2.0.0 Ok: queued as %s", v->queue_id);
    session_reset_mail(s);
    s->error_count = 0; /* the soft/hard limits count errors without delivering mail */
    return 0;
}

/* ---- RSET, NOOP, QUIT, STARTTLS, XCLIENT, AUTH ---- */

static int rset_proceed(struct session *s, const struct smtp_cmd *c)
{
    (void)c;
    session_reset_mail(s);
    session_reply(s, "250 2.0.0 Ok");
    return 0;
}

static int noop_proceed(struct session *s, const struct smtp_cmd *c)
{
    (void)c;
    session_reply(s, "250 2.0.0 Ok");
    return 0;
}

static int quit_proceed(struct session *s, const struct smtp_cmd *c)
{
    (void)c;
    session_reset_mail(s);
    session_reply(s, "221 2.0.0 Bye");
    session_goto(s, SS_CLOSE);
    return 0;
}

static int starttls_proceed(struct session *s, const struct smtp_cmd *c)
{
    (void)c;
    if (s->tls) {
        session_reply(s, "554 5.5.1 Error: TLS already active");
        return -1;
    }
    if (!s->cfg.tls_available || s->ill_pipelining) {
        session_reply(s, "502 5.5.1 Error: command not implemented");
        return -1;
    }
    session_reply(s, "220 2.0.0 Ready to start TLS");
    /* What the client said in plaintext does not survive the handshake. */
    reset_helo(s);
    session_reset_mail(s);
    session_goto(s, SS_TLS);
    return 0;
}

static int xclient_check(struct session *s, const struct smtp_cmd *c)
{
    if (s->in_mail) {
        session_reply(s, "%s", XCLIENT_REPLY_IN_TRANSACTION);
        return -1;
    }
    if (c->arg_len == 0) {
        session_reply(s, "%s", XCLIENT_REPLY_SYNTAX);
        return -1;
    }
    if (!s->peer.xclient_authorized) {
        session_reply(s, "%s", XCLIENT_REPLY_NOAUTH);
        return -1;
    }
    return 0;
}

static void xclient_apply(struct session *s, const struct xclient_attrs *a)
{
    const struct xclient_value *v;

    v = &a->attr[XCLIENT_NAME];
    if (v->state == XCLIENT_VALUE)
        snprintf(s->peer.name, sizeof(s->peer.name), "%s", v->text);
    else if (v->state != XCLIENT_ABSENT)
        snprintf(s->peer.name, sizeof(s->peer.name), "unknown");
    v = &a->attr[XCLIENT_ADDR];
    if (v->state == XCLIENT_VALUE)
        snprintf(s->peer.addr, sizeof(s->peer.addr), "%s", v->text + v->bare);
    else if (v->state != XCLIENT_ABSENT)
        snprintf(s->peer.addr, sizeof(s->peer.addr), "unknown");
    v = &a->attr[XCLIENT_PORT];
    if (v->state == XCLIENT_VALUE) {
        unsigned p = 0;
        for (size_t i = 0; i < v->len; i++)
            p = p * 10 + (unsigned)(v->text[i] - '0');
        s->peer.port = p;
    } else if (v->state != XCLIENT_ABSENT) {
        s->peer.port = 0;
    }
}

static int xclient_proceed(struct session *s, const struct smtp_cmd *c)
{
    static struct xclient_attrs a; /* large; the session never re-enters */
    char buf[600];
    enum xclient_result r;

    r = xclient_parse_flags(c->arg, c->arg_len, s->cfg.smtputf8 ? 0 : XCLIENT_FLAG_ASCII, &a);
    /* Attributes before a bad one are applied, as Postfix does. */
    xclient_apply(s, &a);
    if (r != XCLIENT_OK) {
        xclient_reply(r, &a, buf, sizeof(buf));
        session_reply(s, "%s", buf);
        return -1;
    }
    /* smtpd's xclient_cmd() goes back to the greeting with a longjmp, past
     * smtpd_proto()'s tally: a successful XCLIENT is tried, never done
     * ("xclient=0/1" on the disconnect line, Postfix 3.7.11 checked). */
    s->cur_cmd = MAILLOG_NCMDS;
    reset_helo(s);
    if (a.attr[XCLIENT_HELO].state == XCLIENT_VALUE) {
        snprintf(s->helo, sizeof(s->helo), "%s", a.attr[XCLIENT_HELO].text);
        s->have_helo = 1;
    }
    if (a.attr[XCLIENT_PROTO].state == XCLIENT_VALUE)
        s->proto = !strcmp(a.attr[XCLIENT_PROTO].text, "ESMTP") ? "ESMTP" : "SMTP";
    session_reset_mail(s);
    s->access_denied = 0;
    if (s->ops->xclient)
        s->peer.xclient_authorized = s->ops->xclient(s->ctx, &s->peer) > 0;
    if (!s->cfg.delay_reject) {
        /* smtpd's xclient_cmd goes back to the greeting: without
         * smtpd_delay_reject the client restrictions judge the new client
         * now, and a reject replaces the 220 (later commands get 503). */
        static const enum session_stage st[] = {SESSION_STAGE_CONNECT};
        s->banner_sent = 0;
        return session_run_chain(s, st, 1, SC_CONNECT);
    }
    session_reply(s, "220 %s", s->cfg.banner);
    return 0;
}

static int auth_proceed(struct session *s, const struct smtp_cmd *c)
{
    (void)c;
    session_reply(s, "503 5.5.1 Error: authentication not enabled");
    return -1;
}

static const struct cmd_row cmd_table[] = {
    {SMTP_VERB_HELO, MAILLOG_HELO, F_JUNK | F_LAST | F_PRETLS, NULL, helo_proceed},
    {SMTP_VERB_EHLO, MAILLOG_EHLO, F_JUNK | F_LAST | F_PRETLS, NULL, helo_proceed},
    {SMTP_VERB_XCLIENT, MAILLOG_XCLIENT, 0, xclient_check, xclient_proceed},
    {SMTP_VERB_STARTTLS, MAILLOG_STARTTLS, F_PRETLS, NULL, starttls_proceed},
    {SMTP_VERB_AUTH, MAILLOG_AUTH, 0, NULL, auth_proceed},
    {SMTP_VERB_MAIL, MAILLOG_MAIL, 0, mail_check, mail_proceed},
    {SMTP_VERB_RCPT, MAILLOG_RCPT, 0, rcpt_check, rcpt_proceed},
    {SMTP_VERB_DATA, MAILLOG_DATA, F_LAST, data_check, data_proceed},
    {SMTP_VERB_BDAT, MAILLOG_BDAT, F_SYNTAX, bdat_check, bdat_proceed},
    {SMTP_VERB_RSET, MAILLOG_RSET, F_JUNK, NULL, rset_proceed},
    {SMTP_VERB_NOOP, MAILLOG_NOOP, F_JUNK | F_LAST | F_PRETLS, NULL, noop_proceed},
    {SMTP_VERB_VRFY, MAILLOG_VRFY, F_JUNK | F_LAST, vrfy_check, vrfy_proceed},
    {SMTP_VERB_ETRN, MAILLOG_ETRN, F_JUNK, etrn_check, etrn_proceed},
    {SMTP_VERB_QUIT, MAILLOG_QUIT, F_PRETLS, NULL, quit_proceed},
};

int session_proceed(struct session *s, enum session_cont c, const struct session_verdict *v)
{
    int rc = 0;

    switch (c) {
    case SC_CONNECT:
        if (v) {
            /* The reject replaces the greeting; later commands get 503. */
            session_verdict_reply(s, v);
            snprintf(s->access_denied_reply, sizeof(s->access_denied_reply), "%s[%s]",
                     s->peer.name, s->peer.addr);
            s->access_denied = 1;
        } else if (!s->banner_sent) {
            /* Sent: the frontend judged the client clean (fe_early.c)
             * and greeted it; the first command is already in. */
            session_reply(s, "220 %s", s->cfg.banner);
        }
        rc = 0;
        break;
    case SC_HELO: rc = helo_done(s, v); break;
    case SC_MAIL: rc = mail_done(s, v); break;
    case SC_RCPT: rc = rcpt_done(s, v); break;
    case SC_VRFY: rc = vrfy_done(s, v); break;
    case SC_ETRN: rc = etrn_done(s, v); break;
    case SC_DATA: rc = data_done(s, v); break;
    case SC_BDAT: rc = bdat_done(s, v); break;
    case SC_EOD: rc = eod_done(s, v); break;
    case SC_DATA_END: rc = data_end_done(s, v); break;
    case SC_NONE: break;
    }
    return rc;
}

static int all_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

/* Postfix's state->where for each command counter (maillog.h order). */
static const char *const where_names[MAILLOG_NCMDS + 1] = {
    "HELO", "EHLO", "XCLIENT", "XFORWARD", "STARTTLS", "AUTH", "MAIL", "RCPT",
    "DATA", "BDAT", "RSET", "NOOP", "VRFY", "ETRN", "QUIT", "UNKNOWN", "UNKNOWN",
};

int session_dispatch(struct session *s, const char *line, size_t len)
{
    struct smtp_parse_opts o = {
        .strict = s->cfg.strict_rfc821,
        .smtputf8 = s->cfg.smtputf8,
        .line_limit = s->cfg.line_length_limit,
        .dsn_disabled = (session_ehlo_discard(s) & EHLO_KW_DSN) != 0,
        .scratch = s->scratch,
        .scratch_size = s->scratch_size,
    };
    struct smtp_cmd c;
    enum smtp_parse_result r;
    const struct cmd_row *row = NULL;
    char buf[600];
    int rc;

    s->cur_cmd = MAILLOG_NCMDS;
    if (all_space(line, len)) {
        session_reply(s, "500 5.5.2 Error: bad syntax");
        return -1;
    }
    r = smtp_cmd_parse(line, len, &o, &c);
    if (r == SMTP_PARSE_NONSMTP) {
        s->stats.total[MAILLOG_UNKNOWN]++;
        session_reply(s, "221 2.7.0 Error: I can break rules, too. Goodbye.");
        session_goto(s, SS_CLOSE);
        return -1;
    }
    if (r != SMTP_PARSE_UNKNOWN)
        for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
            if (cmd_table[i].verb == c.verb)
                row = &cmd_table[i];
    s->cur_cmd = row ? row->counter : MAILLOG_UNKNOWN;
    s->where = where_names[s->cur_cmd];
    s->stats.total[s->cur_cmd]++;
    if (s->access_denied && (!row || row->verb != SMTP_VERB_QUIT)) {
        session_reply(s, "503 5.7.0 Error: access denied for %s", s->access_denied_reply);
        return -1;
    }
    if (!row) {
        session_reply(s, "500 5.5.2 Error: command not recognized");
        return -1;
    }
    if (s->cfg.tls_required && !s->tls && !(row->flags & F_PRETLS)) {
        session_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
        return -1;
    }
    /* Postfix notes "improper command pipelining" when a non-ESMTP client,
     * or any client after a LAST command, sent more before our reply. */
    if (s->more_input && (strcmp(s->proto, "ESMTP") != 0 || (row->flags & F_LAST)))
        s->ill_pipelining = 1;
    if (row->verb == SMTP_VERB_BDAT && (session_ehlo_discard(s) & EHLO_KW_CHUNKING)) {
        /* bdat_cmd(): CHUNKING was not offered to this client, so BDAT is
         * refused before its syntax or the state is looked at; the 521
         * ends the session (session_reply), the chunk is never read. */
        session_reply(s, "521 5.5.1 Error: command not implemented");
        rc = -1;
        goto done;
    }
    if (row->check && !(r == SMTP_PARSE_ERROR && (row->flags & F_SYNTAX))
        && (rc = row->check(s, &c)) < 0)
        goto done;
    if (r == SMTP_PARSE_ERROR) {
        smtp_reply_format(&c, buf, sizeof(buf));
        session_reply(s, "%s", buf);
        if (smtp_reply_table[c.reply].close)
            session_goto(s, SS_CLOSE);
        rc = -1;
        goto done;
    }
    rc = row->proceed(s, &c);
done:
    if ((row->flags & F_JUNK) && s->junk_cmds++ > s->cfg.junk_command_limit)
        s->error_count++;
    return rc;
}
