/*
 * fuzz_session.c - random client bytes in random chunks through a session.
 *
 * Byte 0 picks the configuration (delay_reject, helo_required, TLS,
 * XCLIENT authorization, low error limits) and whether the policy and
 * data_end answer PENDING; byte 1 seeds the chunk sizes; the rest is what
 * the client sends. Invariants: nothing is output after CLOSE, output
 * never exceeds its buffer, every reply line ends in CRLF, and no "queued
 * as" reply goes out without a data_end verdict behind it.
 */
#include <stdint.h>
#include <string.h>

#include "workers/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fctx {
    int pending, eod_pending;
    int eod_waiting; /* the session waits for data_end's verdict */
    unsigned verdicts; /* data_end accepts handed to the session */
    struct session_verdict stash;
};

static enum session_action f_policy(void *ctx, const struct session_facts *f,
                                    struct session_verdict *v)
{
    struct fctx *c = ctx;
    enum session_action a = SESSION_DUNNO;
    memset(v, 0, sizeof(*v));
    if (f->recipient && strchr(f->recipient, 'x')) {
        a = SESSION_REJECT;
        v->code = 550;
        strcpy(v->dsn, "5.1.1");
        strcpy(v->text, "rejected");
    } else if (f->helo && strchr(f->helo, 'z')) {
        a = SESSION_DEFER;
        v->code = 450;
        strcpy(v->text, "later");
    }
    if (c->pending) {
        c->stash = *v;
        c->stash.action = a;
        return SESSION_PENDING;
    }
    return a;
}

static int f_chunk(void *ctx, const char *b, size_t n)
{
    (void)ctx, (void)b, (void)n;
    return 0;
}

static enum session_action f_end(void *ctx, const struct session_facts *f,
                                 struct session_verdict *v)
{
    struct fctx *c = ctx;
    (void)f;
    memset(v, 0, sizeof(*v));
    strcpy(v->queue_id, "Q");
    if (c->eod_pending) {
        c->stash = *v;
        c->stash.action = SESSION_PERMIT;
        c->eod_waiting = 1;
        return SESSION_PENDING;
    }
    c->verdicts++;
    return SESSION_PERMIT;
}

static const struct session_ops ops = {.policy = f_policy, .data_chunk = f_chunk,
                                       .data_end = f_end};

/* Our "250 2.0.0 Ok: [N bytes ]queued as" lines (a reply that echoes the
 * client's words, such as 555 Unsupported option, does not count). */
static unsigned count_queued(const char *p, size_t n)
{
    unsigned k = 0;
    for (size_t i = 0; i < n;) {
        const char *e = memchr(p + i, '\n', n - i);
        size_t len = e ? (size_t)(e - (p + i)) : n - i;
        if (len > 14 && !memcmp(p + i, "250 2.0.0 Ok: ", 14)) {
            for (size_t j = i; j + 9 <= i + len; j++)
                if (!memcmp(p + j, "queued as", 9)) {
                    k++;
                    break;
                }
        }
        i += len + 1;
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct session_cfg cfg;
    struct session_peer peer = {.name = "c.example", .addr = "192.0.2.1", .port = 1};
    struct fctx c = {0};
    unsigned queued = 0, seed;
    int closed = 0;

    if (size < 2)
        return 0;
    session_cfg_defaults(&cfg);
    cfg.myhostname = "mx.example";
    cfg.banner = "mx.example ESMTP";
    cfg.delay_reject = data[0] & 1;
    cfg.helo_required = (data[0] >> 1) & 1;
    cfg.tls_available = (data[0] >> 2) & 1;
    peer.xclient_authorized = (data[0] >> 3) & 1;
    if (data[0] & 16) {
        cfg.soft_error_limit = 1;
        cfg.hard_error_limit = 3;
        cfg.recipient_limit = 2;
        cfg.message_size_limit = 40;
    }
    c.pending = (data[0] >> 5) & 1;
    c.eod_pending = (data[0] >> 6) & 1;
    seed = data[1] | 1u;
    data += 2;
    size -= 2;

    struct session *s = session_create(&cfg, &peer, &ops, &c);
    if (!s)
        return 0;
    session_start(s, NULL);
    size_t off = 0;
    for (int guard = 0; guard < 100000; guard++) {
        const char *p;
        size_t n;
        unsigned ms;

        session_output(s, &p, &n);
        if (n > SESSION_OUT_MAX)
            __builtin_trap();
        if (closed && n)
            __builtin_trap(); /* output after CLOSE */
        if (n && (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n'))
            __builtin_trap(); /* a reply cut short */
        queued += count_queued(p, n);
        if (queued > c.verdicts)
            __builtin_trap(); /* 250 before data_end's verdict */
        session_output_done(s, n);
        enum session_wait w = session_wait(s, &ms);
        if (w == SESSION_WAIT_CLOSE) {
            closed = 1;
            session_output(s, &p, &n);
            if (n)
                __builtin_trap();
            if (off < size)
                session_input(s, (const char *)data + off, size - off);
            session_output(s, &p, &n);
            if (n)
                __builtin_trap();
            break;
        }
        if (w == SESSION_WAIT_SLEEP) {
            session_sleep_done(s);
            continue;
        }
        if (w == SESSION_WAIT_TLS) {
            session_tls_started(s);
            continue;
        }
        if (w == SESSION_WAIT_POLICY) {
            /* Callbacks run inside policy_done may stash the next answer. */
            struct session_verdict v = c.stash;
            memset(&c.stash, 0, sizeof(c.stash));
            if (c.eod_waiting)
                c.verdicts++;
            c.eod_waiting = 0;
            session_policy_done(s, &v);
            continue;
        }
        if (off >= size) {
            session_eof(s);
            continue;
        }
        seed = seed * 1103515245u + 12345u;
        size_t chunk = 1 + (seed >> 16) % 64;
        if (chunk > size - off)
            chunk = size - off;
        off += session_input(s, (const char *)data + off, chunk);
    }
    session_free(s);
    return 0;
}
