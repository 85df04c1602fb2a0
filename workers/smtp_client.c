/*
 * smtp_client.c - SMTP client toward the next hop (sans-I/O state machine).
 *
 * See smtp_client.h for the interface and the reply policy. This file is
 * the receiving side and the session state: all state changes caused by a
 * server reply happen in handle_reply(). Commands go out from one place,
 * flush_queue() in smtp_client_out.c, which applies the RFC 2920 grouping
 * rules. On any failure the connection is marked FAILED once, pending
 * output is dropped, and every command still queued is answered with the
 * fake 451 reply, so no caller ever waits for a reply that cannot come.
 */
#include "smtp_client_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char fake_dsn[] = "4.3.0";

void smtp_client_init(struct smtp_client *c, const struct smtp_client_opts *opts)
{
    memset(c, 0, sizeof(*c));
    c->opts = *opts;
    if (c->opts.helo_name == NULL)
        c->opts.helo_name = "localhost";
    c->state = SMTP_CLIENT_CONNECTING;
    c->body_bol = c->body_crlf = 1;
    c->body_col = 0, c->body_cr = 0;
}

/* Postfix's smtp_proto.c names the stage in "... while <stage>". */
static const char *stage_of(const struct smtp_client *c)
{
    switch (c->state) {
    case SMTP_CLIENT_CONNECTING:
        return "connecting";
    case SMTP_CLIENT_GREETING:
        return "receiving the initial server greeting";
    case SMTP_CLIENT_EHLO:
        return c->opts.lmtp ? "performing the LHLO handshake" : "performing the EHLO handshake";
    case SMTP_CLIENT_HELO:
        return "performing the HELO handshake";
    case SMTP_CLIENT_STARTTLS:
    case SMTP_CLIENT_TLS:
        return "performing the STARTTLS handshake";
    case SMTP_CLIENT_BODY:
        return "sending message body";
    case SMTP_CLIENT_READY:
        break;
    case SMTP_CLIENT_CLOSED:
    case SMTP_CLIENT_FAILED:
        return c->stage ? c->stage : "idle";
    }
    unsigned i = c->head != c->sent ? c->head : c->sent;
    if (i == c->tail)
        return "idle";
    switch ((enum smtp_client_cmd)c->q[QI(i)].cmd) {
    case SMTP_CMD_MAIL:
        return "sending MAIL FROM";
    case SMTP_CMD_RCPT:
        return "sending RCPT TO";
    case SMTP_CMD_DATA:
        return "sending DATA command";
    case SMTP_CMD_DOT:
        return "sending end of data -- message may be sent more than once";
    case SMTP_CMD_RSET:
        return "sending RSET";
    case SMTP_CMD_NOOP:
        return "sending NOOP";
    case SMTP_CMD_QUIT:
        return "sending QUIT";
    case SMTP_CMD_NONE:
        break;
    }
    return "idle";
}

/* Down because of the transport (no reply to show): the last reply is
 * cleared so that SMTP_EV_DOWN never shows a stale one. */
static void fail_keep(struct smtp_client *c, const char *why);

static void fail(struct smtp_client *c, const char *why)
{
    if (c->state != SMTP_CLIENT_FAILED && c->state != SMTP_CLIENT_CLOSED)
        c->reply[0] = '\0';
    fail_keep(c, why);
}

/* Down because of the reply just received, which stays in c->reply. */
static void fail_keep(struct smtp_client *c, const char *why)
{
    if (c->state == SMTP_CLIENT_FAILED || c->state == SMTP_CLIENT_CLOSED)
        return;
    c->stage = stage_of(c);
    c->state = SMTP_CLIENT_FAILED;
    c->why = why;
    c->out_off = c->out_len = 0;
}

void smtp_client_connected(struct smtp_client *c)
{
    if (c->state == SMTP_CLIENT_CONNECTING)
        c->state = SMTP_CLIENT_GREETING;
}

void smtp_client_connect_failed(struct smtp_client *c)
{
    fail(c, "connect failed");
}

void smtp_client_timed_out(struct smtp_client *c)
{
    fail(c, "timed out");
}

void smtp_client_io_error(struct smtp_client *c)
{
    fail(c, "lost connection");
}

/* ------------------------------------------------------------ input */

size_t smtp_client_input_space(struct smtp_client *c, char **p)
{
    *p = c->in + c->in_len;
    return sizeof(c->in) - c->in_len;
}

void smtp_client_input_done(struct smtp_client *c, size_t n)
{
    if (n > sizeof(c->in) - c->in_len)
        n = sizeof(c->in) - c->in_len;
    c->in_len += n;
}

size_t smtp_client_feed(struct smtp_client *c, const char *buf, size_t len)
{
    char *p;
    size_t room = smtp_client_input_space(c, &p);
    if (len > room)
        len = room;
    memcpy(p, buf, len);
    smtp_client_input_done(c, len);
    return len;
}

void smtp_client_input_eof(struct smtp_client *c)
{
    c->eof = 1;
}

/* ------------------------------------------------------------ replies */

static void send_ehlo(struct smtp_client *c, const char *verb)
{
    /* The output is empty during the handshake: this always fits. */
    smtp_client_out_printf(c, "%s %s\r\n", verb, c->opts.helo_name);
}

static void ev_fake(struct smtp_client_event *ev, const struct smtp_client_entry *e)
{
    ev->type = SMTP_EV_REPLY;
    ev->cmd = e->cmd;
    ev->index = e->index;
    ev->code = 451;
    ev->ok = 0;
    ev->fake = 1;
    ev->reply = SMTP_CLIENT_FAKE_REPLY;
    ev->dsn = fake_dsn;
}

static int ready(struct smtp_client *c, struct smtp_client_event *ev)
{
    c->state = SMTP_CLIENT_READY;
    ev->type = SMTP_EV_READY;
    return 1;
}

/* The reply to the command at the head of the queue (ev already names
 * it): SMTP's rules, and LMTP's once lmtp_reply() has done its part. */
static int common_reply(struct smtp_client *c, struct smtp_client_entry *e, int code,
                        struct smtp_client_event *ev)
{
    int cls = code / 100;
    int expect = e->cmd == SMTP_CMD_DATA ? 3 : 2;
    if (cls == expect) {
        ev->ok = 1;
        switch ((enum smtp_client_cmd)e->cmd) {
        case SMTP_CMD_DATA:
            /* The entry stays at the head and now waits for the dot. */
            e->cmd = SMTP_CMD_DOT;
            c->state = SMTP_CLIENT_BODY;
            c->body_bol = c->body_crlf = 1;
            c->body_col = 0, c->body_cr = 0;
            return 1;
        case SMTP_CMD_DOT:
            if (!c->opts.lmtp)
                c->ntxn++;
            break;
        case SMTP_CMD_QUIT:
            c->state = SMTP_CLIENT_CLOSED;
            break;
        default:
            break;
        }
        c->head++;
        return 1;
    }
    if (e->cmd == SMTP_CMD_QUIT) {
        c->head++;
        c->state = SMTP_CLIENT_CLOSED;
        return 1;
    }
    /* Fail before the head moves on, so that the stage names this
     * command. */
    if (cls == 4 || cls == 5) {
        /* Relayed as is. After a 421 the server hangs up; after a failed
         * RSET the transaction state is unknown: either way the
         * connection cannot carry more. */
        if (code == 421)
            fail_keep(c, "server closed the session (421)");
        else if (e->cmd == SMTP_CMD_RSET)
            fail_keep(c, "RSET refused");
    } else {
        /* 2xx or 3xx where the other was due: the dialogue is out of
         * step. Postfix (2.6+) replaces such replies by its generic error
         * too. */
        ev_fake(ev, e);
        fail_keep(c, "unexpected reply");
    }
    c->head++;
    return 1;
}

/* The next LMTP end-of-data reply: whose it is, and whether more follow. */
static void lmtp_dot_next(struct smtp_client *c, struct smtp_client_event *ev)
{
    unsigned k = c->lmtp_done++;
    ev->index = k < c->lmtp_nok ? c->lmtp_ok[k] : 0;
    ev->more = c->lmtp_done < c->lmtp_nok;
}

/* LMTP bookkeeping around the common reply handling: the MAIL reply
 * starts a transaction's list of accepted RCPTs, a 2xx RCPT joins it, and
 * the dot's entry stays at the head until every accepted RCPT has had its
 * reply. */
static int lmtp_reply(struct smtp_client *c, struct smtp_client_entry *e, int code,
                      struct smtp_client_event *ev)
{
    int cls = code / 100;
    switch ((enum smtp_client_cmd)e->cmd) {
    case SMTP_CMD_MAIL:
        c->lmtp_nok = c->lmtp_done = 0;
        break;
    case SMTP_CMD_RCPT:
        if (cls == 2 && c->lmtp_nok < SMTP_CLIENT_LMTP_RCPT_MAX)
            c->lmtp_ok[c->lmtp_nok++] = (uint16_t)e->index;
        break;
    case SMTP_CMD_DOT:
        lmtp_dot_next(c, ev);
        ev->ok = cls == 2;
        if (ev->more) {
            if (code == 421)
                fail_keep(c, "server closed the session (421)");
            else if (cls != 2 && cls != 4 && cls != 5) {
                ev_fake(ev, e);
                ev->index = c->lmtp_ok[c->lmtp_done - 1];
                ev->more = 1;
                fail_keep(c, "unexpected reply");
            }
            return 1; /* the entry waits for the other recipients' replies */
        }
        c->ntxn++; /* the transaction is over, whatever each recipient got */
        break;
    default:
        break;
    }
    return common_reply(c, e, code, ev);
}

/* One complete reply (raw bytes buf/len at the start of c->in, already
 * copied to c->reply).
 * Returns 1 when *ev is an event for the caller. */
static int handle_reply(struct smtp_client *c, const char *buf, size_t len, int code,
                        struct smtp_client_event *ev)
{
    int cls = code / 100;
    switch (c->state) {
    case SMTP_CLIENT_GREETING:
        if (cls != 2) {
            fail_keep(c, "refused to talk to me");
            return 0;
        }
        send_ehlo(c, c->opts.lmtp ? "LHLO" : "EHLO");
        c->state = SMTP_CLIENT_EHLO;
        return 0;
    case SMTP_CLIENT_EHLO:
        if (cls == 2) {
            smtp_ehlo_parse(buf, len, &c->ehlo);
            if (c->opts.starttls && !c->tls_active) {
                if (c->ehlo.ext & SMTP_EXT_STARTTLS) {
                    smtp_client_out_printf(c, "STARTTLS\r\n");
                    c->state = SMTP_CLIENT_STARTTLS;
                    return 0;
                }
                if (c->opts.starttls >= 2) {
                    fail_keep(c, "STARTTLS not offered");
                    return 0;
                }
            }
            return ready(c, ev);
        }
        /* A 5xx to EHLO is an old server: try HELO (RFC 5321 3.2). A 4xx
         * (421 included) is a refusal, not a lack of ESMTP. */
        if (cls == 5 && !c->opts.lmtp) {
            send_ehlo(c, "HELO");
            c->state = SMTP_CLIENT_HELO;
            return 0;
        }
        fail_keep(c, c->opts.lmtp ? "LHLO refused" : "EHLO refused");
        return 0;
    case SMTP_CLIENT_HELO:
        if (cls != 2) {
            fail_keep(c, "HELO refused");
            return 0;
        }
        memset(&c->ehlo, 0, sizeof(c->ehlo));
        if (c->opts.starttls >= 2) {
            fail_keep(c, "STARTTLS not offered");
            return 0;
        }
        return ready(c, ev);
    case SMTP_CLIENT_STARTTLS:
        if (code == 220) {
            /* Bytes after the 220 were sent before the handshake: a
             * STARTTLS command injection (CVE-2011-0411 class). */
            if (c->in_len > len) {
                fail_keep(c, "plaintext after STARTTLS reply");
                return 0;
            }
            c->state = SMTP_CLIENT_TLS;
            ev->type = SMTP_EV_STARTTLS;
            return 1;
        }
        if (c->opts.starttls >= 2) {
            fail_keep(c, "STARTTLS refused");
            return 0;
        }
        return ready(c, ev);
    case SMTP_CLIENT_READY:
        break;
    case SMTP_CLIENT_BODY:
        /* Nothing is owed to a server in the middle of the content. */
        fail_keep(c, "unexpected reply during DATA");
        return 0;
    case SMTP_CLIENT_CONNECTING:
    case SMTP_CLIENT_TLS:
    case SMTP_CLIENT_CLOSED:
    case SMTP_CLIENT_FAILED:
        fail_keep(c, "unexpected reply");
        return 0;
    }
    if (c->head == c->sent) {
        /* Typically "421 timeout" from an idle next hop about to close. */
        fail_keep(c, code == 421 ? "server closed the session (421)" : "unexpected reply");
        return 0;
    }
    struct smtp_client_entry *e = &c->q[QI(c->head)];
    ev->type = SMTP_EV_REPLY;
    ev->cmd = e->cmd;
    ev->index = e->index;
    ev->code = code;
    if (c->opts.lmtp)
        return lmtp_reply(c, e, code, ev);
    return common_reply(c, e, code, ev);
}

int smtp_client_event(struct smtp_client *c, struct smtp_client_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->reply = c->reply;
    ev->dsn = c->dsn;
    for (;;) {
        if (c->state == SMTP_CLIENT_FAILED || c->state == SMTP_CLIENT_CLOSED) {
            if (!c->down_reported) {
                c->down_reported = 1;
                ev->type = c->state == SMTP_CLIENT_FAILED ? SMTP_EV_DOWN : SMTP_EV_CLOSED;
                ev->why = c->why;
                return 1;
            }
            if (c->head != c->tail) {
                struct smtp_client_entry *e = &c->q[QI(c->head)];
                ev_fake(ev, e);
                if (c->opts.lmtp && e->cmd == SMTP_CMD_DOT) {
                    /* one fake per accepted recipient still owed a reply */
                    lmtp_dot_next(c, ev);
                    if (ev->more)
                        return 1;
                }
                c->head++;
                c->sent = c->head;
                return 1;
            }
            return 0;
        }
        if (c->state == SMTP_CLIENT_CONNECTING || c->state == SMTP_CLIENT_TLS)
            return 0;
        const char *why = NULL;
        enum smtp_reply_result r = smtp_reply_parse(c->in, c->in_len, &c->rp, &why);
        if (r == SMTP_REPLY_NEED_MORE) {
            if (!c->eof)
                return 0;
            if (c->state == SMTP_CLIENT_READY && c->head != c->sent &&
                c->q[QI(c->head)].cmd == SMTP_CMD_QUIT) {
                /* A server may hang up on QUIT without a word. */
                c->head++;
                c->state = SMTP_CLIENT_CLOSED;
                continue;
            }
            fail(c, "lost connection");
            continue;
        }
        if (r == SMTP_REPLY_BAD) {
            fail(c, why);
            continue;
        }
        size_t n = c->rp.len;
        int code = c->rp.code;
        smtp_reply_copy(c->in, n, c->reply);
        memcpy(c->dsn, c->rp.dsn, sizeof(c->dsn));
        smtp_reply_reset(&c->rp);
        /* Handle, then consume: the EHLO parser reads the raw reply and
         * the STARTTLS check looks at what follows it. */
        int got = handle_reply(c, c->in, n, code, ev);
        memmove(c->in, c->in + n, c->in_len - n);
        c->in_len -= n;
        if (got)
            return 1;
    }
}

int smtp_client_tls_done(struct smtp_client *c)
{
    if (c->state != SMTP_CLIENT_TLS)
        return -EINVAL;
    /* RFC 3207 4.2: forget everything learned before TLS. */
    c->tls_active = 1;
    memset(&c->ehlo, 0, sizeof(c->ehlo));
    c->in_len = 0;
    smtp_reply_reset(&c->rp);
    send_ehlo(c, c->opts.lmtp ? "LHLO" : "EHLO");
    c->state = SMTP_CLIENT_EHLO;
    return 0;
}

/* ------------------------------------------------------------ queries */

static enum smtp_timer timer_for(const struct smtp_client *c, enum smtp_client_cmd cmd)
{
    switch (cmd) {
    case SMTP_CMD_MAIL:
        return SMTP_TIMER_MAIL;
    case SMTP_CMD_RCPT:
        return SMTP_TIMER_RCPT;
    case SMTP_CMD_DATA:
        return SMTP_TIMER_DATA_INIT;
    case SMTP_CMD_DOT:
        /* Content still in the output is being transferred. */
        return c->out_len > c->out_off ? SMTP_TIMER_DATA_XFER : SMTP_TIMER_DATA_DONE;
    case SMTP_CMD_RSET:
    case SMTP_CMD_NOOP:
        return SMTP_TIMER_RSET;
    case SMTP_CMD_QUIT:
        return SMTP_TIMER_QUIT;
    case SMTP_CMD_NONE:
        break;
    }
    return SMTP_TIMER_NONE;
}

enum smtp_timer smtp_client_timer(const struct smtp_client *c)
{
    enum smtp_timer t = SMTP_TIMER_NONE;
    switch (c->state) {
    case SMTP_CLIENT_CONNECTING:
        t = SMTP_TIMER_CONNECT;
        break;
    case SMTP_CLIENT_GREETING:
    case SMTP_CLIENT_EHLO:
    case SMTP_CLIENT_HELO:
    case SMTP_CLIENT_STARTTLS:
        t = SMTP_TIMER_HELO;
        break;
    case SMTP_CLIENT_TLS:
        t = SMTP_TIMER_STARTTLS;
        break;
    case SMTP_CLIENT_BODY:
        t = SMTP_TIMER_DATA_XFER;
        break;
    case SMTP_CLIENT_READY:
        if (c->head != c->tail)
            t = timer_for(c, c->q[QI(c->head)].cmd);
        break;
    case SMTP_CLIENT_CLOSED:
    case SMTP_CLIENT_FAILED:
        break;
    }
    if (c->opts.proxy && t != SMTP_TIMER_NONE)
        t = SMTP_TIMER_PROXY;
    return t;
}

const char *smtp_timer_name(enum smtp_timer t)
{
    static const char *const names[] = {
        [SMTP_TIMER_NONE] = "none",
        [SMTP_TIMER_CONNECT] = "smtp_connect_timeout",
        [SMTP_TIMER_HELO] = "smtp_helo_timeout",
        [SMTP_TIMER_STARTTLS] = "smtp_starttls_timeout",
        [SMTP_TIMER_MAIL] = "smtp_mail_timeout",
        [SMTP_TIMER_RCPT] = "smtp_rcpt_timeout",
        [SMTP_TIMER_DATA_INIT] = "smtp_data_init_timeout",
        [SMTP_TIMER_DATA_XFER] = "smtp_data_xfer_timeout",
        [SMTP_TIMER_DATA_DONE] = "smtp_data_done_timeout",
        [SMTP_TIMER_RSET] = "smtp_rset_timeout",
        [SMTP_TIMER_QUIT] = "smtp_quit_timeout",
        [SMTP_TIMER_PROXY] = "smtpd_proxy_timeout",
    };
    if ((unsigned)t >= sizeof(names) / sizeof(names[0]))
        return "none";
    return names[t];
}

int smtp_client_usable(const struct smtp_client *c)
{
    return c->state != SMTP_CLIENT_FAILED && c->state != SMTP_CLIENT_CLOSED && !c->quit_queued;
}

const struct smtp_ehlo *smtp_client_ehlo(const struct smtp_client *c)
{
    return &c->ehlo;
}

const char *smtp_client_state_name(enum smtp_client_state s)
{
    static const char *const names[] = {
        "connecting", "greeting", "ehlo", "helo", "starttls", "tls",
        "ready", "body", "closed", "failed",
    };
    if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
        return "?";
    return names[s];
}

const char *smtp_client_stage(const struct smtp_client *c)
{
    return stage_of(c);
}
