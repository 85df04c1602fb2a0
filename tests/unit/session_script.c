/*
 * session_script.c - the scripted-session harness (see session_script.h).
 * Expected replies in the tests are Postfix 3.7.11's, recorded from the
 * private instance (tests/lib/postfix_peer.py) and `sendmail -bs`.
 */
#include "session_script.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int match_fact(const struct session_facts *f, const char *m)
{
    const char *c[] = {f->recipient, f->sender, f->helo, f->peer->name};
    for (size_t i = 0; i < 4; i++)
        if (c[i] && strstr(c[i], m))
            return 1;
    return 0;
}

static enum session_action t_policy(void *ctx, const struct session_facts *f,
                                    struct session_verdict *v)
{
    struct tctx *t = ctx;
    enum session_action a = SESSION_DUNNO;

    t->stages_seen |= 1u << f->stage;
    if (f->stage == SESSION_STAGE_RCPT) {
        size_t n = strlen(t->dsn_seen);
        snprintf(t->dsn_seen + n, sizeof(t->dsn_seen) - n, "[%d %s %u %s]", f->dsn_ret,
                 f->dsn_envid ? f->dsn_envid : "-", f->dsn_notify,
                 f->dsn_orcpt ? f->dsn_orcpt : "-");
    }
    if (f->stage == SESSION_STAGE_DATA && f->pipelined)
        t->saw_pipelined = 1;
    memset(v, 0, sizeof(*v));
    for (const struct rule *r = t->rules; r && r->match; r++) {
        if (r->stage == f->stage && match_fact(f, r->match)) {
            a = r->action;
            v->code = r->code;
            snprintf(v->dsn, sizeof(v->dsn), "%s", r->dsn);
            snprintf(v->text, sizeof(v->text), "%s", r->text);
            break;
        }
    }
    if (t->pending) {
        t->stash = *v;
        t->stash.action = a;
        return SESSION_PENDING;
    }
    return a;
}

static int t_begin(void *ctx, const struct session_facts *f)
{
    struct tctx *t = ctx;
    (void)f;
    t->begins++;
    t->data_len = 0;
    return 0;
}

static int t_chunk(void *ctx, const char *buf, size_t len)
{
    struct tctx *t = ctx;
    if (len > sizeof(t->data) - t->data_len)
        len = sizeof(t->data) - t->data_len;
    memcpy(t->data + t->data_len, buf, len);
    t->data_len += len;
    return 0;
}

static void t_abort(void *ctx)
{
    ((struct tctx *)ctx)->aborts++;
}

static enum session_action t_end(void *ctx, const struct session_facts *f,
                                 struct session_verdict *v)
{
    struct tctx *t = ctx;
    (void)f;
    t->ends++;
    memset(v, 0, sizeof(*v));
    snprintf(v->queue_id, sizeof(v->queue_id), "QID%d", t->ends);
    v->size = t->eod_size;
    if (t->eod_pending) {
        t->stash = *v;
        t->stash.action = SESSION_PERMIT;
        return SESSION_PENDING;
    }
    return SESSION_PERMIT;
}

const struct session_ops script_ops = {
    .policy = t_policy, .data_begin = t_begin, .data_chunk = t_chunk,
    .data_abort = t_abort, .data_end = t_end,
};

void script_cfg_init(struct session_cfg *c)
{
    session_cfg_defaults(c);
    c->myhostname = "mx.example.test";
    c->banner = "mx.example.test ESMTP Postfix";
    c->error_sleep_ms = 0;
    c->soft_error_limit = 1000;
    c->hard_error_limit = 1000;
    c->junk_command_limit = 1000;
}

void script_peer_init(struct session_peer *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "client.example.org");
    snprintf(p->addr, sizeof(p->addr), "192.0.2.10");
    p->port = 40000;
}

static void put(struct out *o, const char *p, size_t n)
{
    if (n > sizeof(o->buf) - 1 - o->len)
        n = sizeof(o->buf) - 1 - o->len;
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    o->buf[o->len] = 0;
}

/* Drain output and resolve every wait but input. Returns 0 when closed. */
int script_settle(struct session *s, struct tctx *t, struct out *o)
{
    for (;;) {
        const char *p;
        size_t n;
        unsigned ms;
        char m[40];

        session_output(s, &p, &n);
        put(o, p, n);
        session_output_done(s, n);
        switch (session_wait(s, &ms)) {
        case SESSION_WAIT_INPUT:
            return 1;
        case SESSION_WAIT_OUTPUT:
            break;
        case SESSION_WAIT_SLEEP:
            snprintf(m, sizeof(m), "[SLEEP %u]", ms);
            put(o, m, strlen(m));
            assert_int_equal(session_sleep_done(s), 0);
            break;
        case SESSION_WAIT_TLS:
            put(o, "[TLS]", 5);
            assert_int_equal(session_tls_started(s), 0);
            break;
        case SESSION_WAIT_POLICY:
            assert_int_equal(session_policy_done(s, &t->stash), 0);
            break;
        case SESSION_WAIT_CLOSE:
            put(o, "[CLOSE]", 7);
            return 0;
        }
    }
}

/* Feed input in chunks of `step` bytes (0: all at once). */
void script_run(const struct session_cfg *cfg, const struct session_peer *peer, struct tctx *t,
                const char *in, size_t inlen, size_t step, struct out *o)
{
    struct session *s = session_create(cfg, peer, &script_ops, t);
    size_t off = 0;

    assert_non_null(s);
    o->len = 0;
    o->buf[0] = 0;
    assert_int_equal(session_start(s, NULL), 0);
    if (!script_settle(s, t, o))
        goto done;
    while (off < inlen) {
        size_t n = step ? step : inlen;
        if (n > inlen - off)
            n = inlen - off;
        size_t used = session_input(s, in + off, n);
        off += used;
        if (!script_settle(s, t, o))
            goto done;
    }
done:
    session_free(s);
}

/* The same script whole, byte by byte and in 7-byte chunks: one transcript. */
void script_expect(const struct session_cfg *cfg, const struct rule *rules, const char *in,
                   const char *want)
{
    struct session_peer peer;
    struct out *o = malloc(sizeof(*o));
    size_t steps[] = {0, 1, 7};

    script_peer_init(&peer);
    for (size_t i = 0; i < 3; i++) {
        struct tctx t = {.rules = rules};
        script_run(cfg, &peer, &t, in, strlen(in), steps[i], o);
        if (strcmp(o->buf, want) != 0)
            fail_msg("step %zu:\n--- got\n%s\n--- want\n%s", steps[i], o->buf, want);
    }
    free(o);
}

const struct rule script_no_rules[] = {{0}};

const struct rule script_client_reject[] = {
    {SESSION_STAGE_CONNECT, "client.example.org", SESSION_REJECT, 554, "5.7.1",
     "<client.example.org[192.0.2.10]>: Client host rejected: Access denied"},
    {0},
};
