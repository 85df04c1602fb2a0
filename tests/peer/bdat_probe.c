/*
 * bdat_probe.c - one SMTP session through workers/session with the
 * content pipeline (workers/message) behind it, for tests/peer/bdat_peer.py.
 *
 * Usage: bdat_probe MODE < SESSION
 * MODE is a smtpd_forbid_bare_newline value; SESSION is what the client
 * sends, whole (pipelined). The session's data callbacks feed
 * message_bdat()/message_feed() and data_end hands message_finish()'s size
 * back in the verdict, as a worker does (session.h), so the BDAT replies
 * carry the pipeline's count. Output: the session's reply bytes; the queue
 * id is "ID". Exit 0, or 2 on a usage or setup error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "session.h"

static char in_buf[1 << 20];

struct probe {
    struct message *m;
    int bdat;
};

static enum session_action policy(void *ctx, const struct session_facts *f,
                                  struct session_verdict *v)
{
    (void)ctx;
    (void)f;
    (void)v;
    return SESSION_DUNNO;
}

static int begin(void *ctx, const struct session_facts *f)
{
    struct probe *p = ctx;
    struct message_env env = {.queue_id = "ID", .sender = "", .bdat = f->bdat};
    p->bdat = f->bdat;
    return message_begin(p->m, &env);
}

static int chunk(void *ctx, const char *buf, size_t len)
{
    struct probe *p = ctx;
    size_t used;
    if (p->bdat)
        message_bdat(p->m, buf, len, 0);
    else
        message_feed(p->m, buf, len, &used);
    return 0;
}

static void abort_msg(void *ctx)
{
    (void)ctx;
}

static enum session_action end(void *ctx, const struct session_facts *f,
                               struct session_verdict *v)
{
    struct probe *p = ctx;
    struct message_verdict mv;
    (void)f;
    if (p->bdat) /* the session saw BDAT ... LAST: no more chunks */
        message_bdat(p->m, "", 0, 1);
    message_finish(p->m, &mv);
    memset(v, 0, sizeof(*v));
    snprintf(v->queue_id, sizeof(v->queue_id), "ID");
    v->size = mv.size;
    return SESSION_PERMIT;
}

static const struct session_ops ops = {
    .policy = policy, .data_begin = begin, .data_chunk = chunk, .data_abort = abort_msg,
    .data_end = end,
};

int main(int argc, char **argv)
{
    struct message_opts mo;
    struct session_cfg cfg;
    struct session_peer peer = {.name = "localhost", .addr = "127.0.0.1", .port = 1};
    struct probe p = {0};
    size_t len = 0, off = 0, n;

    if (argc != 2) {
        fprintf(stderr, "usage: bdat_probe MODE < SESSION\n");
        return 2;
    }
    memset(&mo, 0, sizeof(mo));
    mime_limits_default(&mo.mime);
    mo.frame.line_length_limit = mo.mime.line_length_limit;
    mo.myhostname = "mx.test";
    if (data_bare_lf_parse(argv[1], strlen(argv[1]), &mo.frame.bare_lf) < 0 ||
        message_create(&mo, &p.m) < 0) {
        fprintf(stderr, "bdat_probe: bad mode or setup\n");
        return 2;
    }
    while ((n = fread(in_buf + len, 1, sizeof(in_buf) - len, stdin)) > 0)
        len += n;
    session_cfg_defaults(&cfg);
    cfg.myhostname = "mx.test";
    cfg.banner = "mx.test ESMTP";
    struct session *s = session_create(&cfg, &peer, &ops, &p);
    if (!s || session_start(s, NULL) < 0)
        return 2;
    for (;;) {
        const char *o;
        size_t olen;
        session_output(s, &o, &olen);
        fwrite(o, 1, olen, stdout);
        session_output_done(s, olen);
        enum session_wait w = session_wait(s, NULL);
        if (w == SESSION_WAIT_CLOSE || (w == SESSION_WAIT_INPUT && off == len))
            break;
        if (w == SESSION_WAIT_INPUT)
            off += session_input(s, in_buf + off, len - off);
        else if (w != SESSION_WAIT_OUTPUT)
            break; /* no policy waits, sleeps or TLS in these sessions */
    }
    session_free(s);
    message_free(p.m);
    return 0;
}
