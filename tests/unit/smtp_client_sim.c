/* smtp_client_sim.c - the scripted next-hop server of the smtp_client unit
 * tests (smtp_client_sim.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_client_sim.h"

static const char *cmd_name(enum smtp_client_cmd c)
{
    static const char *n[] = {"NONE", "MAIL", "RCPT", "DATA", "DOT", "RSET", "NOOP", "QUIT"};
    return n[c];
}

static void logf_(struct sim *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s->loglen += (size_t)vsnprintf(s->log + s->loglen, sizeof(s->log) - s->loglen, fmt, ap);
    va_end(ap);
}

void pump(struct sim *s)
{
    for (;;) {
        struct smtp_client_event ev;
        int any = 0;
        while (smtp_client_event(&s->c, &ev)) {
            any = 1;
            switch (ev.type) {
            case SMTP_EV_READY:
                logf_(s, "READY;");
                break;
            case SMTP_EV_STARTTLS:
                logf_(s, "STARTTLS;");
                break;
            case SMTP_EV_CLOSED:
                logf_(s, "CLOSED;");
                break;
            case SMTP_EV_DOWN:
                logf_(s, "DOWN(%s);", ev.why);
                break;
            case SMTP_EV_REPLY:
                logf_(s, "%s", cmd_name(ev.cmd));
                if (ev.cmd == SMTP_CMD_RCPT || (ev.cmd == SMTP_CMD_DOT && s->c.opts.lmtp))
                    logf_(s, "%u%s", ev.index, ev.more ? "+" : "");
                logf_(s, " %s%s[%s];", ev.ok ? "ok" : "no", ev.fake ? " fake" : "", ev.reply);
                break;
            case SMTP_EV_NONE:
                fail_msg("empty event");
            }
        }
        const char *p;
        size_t n = smtp_client_output(&s->c, &p);
        if (n > 0) {
            any = 1;
            memcpy(s->out + s->outlen, p, n);
            s->outlen += n;
            smtp_client_output_done(&s->c, n);
        }
        if (!any)
            return;
    }
}

void server(struct sim *s, const char *bytes)
{
    size_t n = strlen(bytes);
    if (s->bytewise) {
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(smtp_client_feed(&s->c, bytes + i, 1), 1);
            pump(s);
        }
    } else {
        assert_int_equal(smtp_client_feed(&s->c, bytes, n), n);
    }
    pump(s);
}

void expect_(struct sim *s, const char *out, const char *log, int line)
{
    s->out[s->outlen] = '\0';
    s->log[s->loglen] = '\0';
    if (strcmp(s->out, out) != 0 || strcmp(s->log, log) != 0)
        fail_msg("line %d (bytewise=%d):\n out [%s]\nwant [%s]\n log [%s]\nwant [%s]", line,
                 s->bytewise, s->out, out, s->log, log);
    s->outlen = s->loglen = 0;
}

struct sim *sim_new(int bytewise, const struct smtp_client_opts *o)
{
    struct sim *s = calloc(1, sizeof(*s));
    struct smtp_client_opts d = {.helo_name = "mx.test"};
    smtp_client_init(&s->c, o ? o : &d);
    s->bytewise = bytewise;
    assert_int_equal(smtp_client_timer(&s->c),
                     s->c.opts.proxy ? SMTP_TIMER_PROXY : SMTP_TIMER_CONNECT);
    smtp_client_connected(&s->c);
    pump(s);
    expect(s, "", "");
    assert_int_equal(smtp_client_timer(&s->c),
                     s->c.opts.proxy ? SMTP_TIMER_PROXY : SMTP_TIMER_HELO);
    return s;
}


struct sim *sim_ready(int bytewise, const char *ehlo)
{
    struct sim *s = sim_new(bytewise, NULL);
    server(s, "220 sink ESMTP\r\n");
    expect(s, "EHLO mx.test\r\n", "");
    server(s, ehlo);
    expect(s, "", "READY;");
    assert_int_equal(smtp_client_state_name(s->c.state)[0], 'r');
    assert_int_equal(smtp_client_timer(&s->c), SMTP_TIMER_NONE);
    return s;
}

void body_chunks(struct sim *s, const char *const *chunk)
{
    for (size_t k = 0; k < 4 && chunk[k]; k++) {
        size_t n = strlen(chunk[k]), off = 0;
        int stuck = 0;
        while (off < n) {
            size_t step = s->bytewise ? 1 : n - off;
            size_t got = smtp_client_body(&s->c, chunk[k] + off, step);
            if (got == 0) {
                /* nothing taken with the output drained: a broken split */
                if (++stuck > 1)
                    fail_msg("smtp_client_body takes nothing at byte %zu of chunk %zu", off, k);
                pump(s);
            } else {
                stuck = 0;
            }
            off += got;
        }
    }
    while (smtp_client_body_end(&s->c) == -EAGAIN)
        pump(s);
    pump(s);
}

void body_all(struct sim *s, const char *b)
{
    const char *const chunk[] = {b, NULL};
    body_chunks(s, chunk);
}
