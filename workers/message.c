/*
 * message.c - the content pipeline of one message: data_frame ->
 * mime_state -> header/body checks -> output for the next hop. See
 * message.h for what goes out and how the fate is decided.
 *
 * Nothing is allocated after message_create(): the lookup key buffer and
 * the result buffer are sized from line_length_limit / header_size_limit.
 * message_free() parks one object per process and the next
 * message_create() with the same limits takes it back: a worker makes one
 * per SMTP session, and its buffers (~110 KB with the defaults: seven
 * allocations) were a measurable part of a session's CPU. Workers are
 * single-threaded, so the parked object needs no lock.
 */
#include "message.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content_action.h"
#include "maps.h"

#define RESULT_MAX 4096

struct message {
    struct message_opts o;
    struct message_env env;
    struct data_frame frame;
    struct mime_state *mime;
    struct message_verdict v;
    int checking;   /* 0 after REJECT, DISCARD, PASS, a lookup error */
    int output;     /* 0 after REJECT, DISCARD */
    char *key;      /* a body line as a NUL-terminated lookup key */
    size_t key_cap;
    unsigned mopts; /* what mime_state was made with */
    char result[RESULT_MAX];
    char line[2048];
};

static void out(struct message *m, const char *p, size_t n)
{
    if (m->output && n > 0 && m->o.out) {
        m->o.out(m->o.ctx, p, n);
        m->v.out_bytes += n;
    }
}

/* Write a line's text: LF (header continuations) becomes CRLF, CR space. */
static void out_text(struct message *m, const char *p, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            out(m, p + s, i - s);
            out(m, "\r\n", 2);
            s = i + 1;
        } else if (p[i] == '\r') {
            out(m, p + s, i - s);
            out(m, " ", 1);
            s = i + 1;
        }
    }
    out(m, p + s, n - s);
}

static void logf_line(struct message *m, enum message_log_level lvl, const char *line)
{
    if (m->o.log)
        m->o.log(m->o.ctx, lvl, line);
}

static void log_action(struct message *m, const char *action, int body, const char *content,
                       size_t clen, const char *text, size_t tlen)
{
    char c[256], t[CONTENT_REASON_MAX];
    /* maillog cuts the content to 200 bytes; more is not needed here. */
    snprintf(c, sizeof(c), "%.*s", (int)(clen < 220 ? clen : 220), content);
    snprintf(t, sizeof(t), "%.*s", (int)tlen, text ? text : "");
    maillog_content_action(m->line, sizeof(m->line), m->env.queue_id, action,
                           body ? "body" : "header", c, m->env.client, m->env.sender,
                           m->env.recipient, t);
    logf_line(m, MESSAGE_LOG_INFO, m->line);
}

static void set_fate(struct message *m, enum message_fate fate, const char *reply)
{
    m->v.fate = fate;
    if (reply)
        snprintf(m->v.reply, sizeof(m->v.reply), "%s", reply);
    m->checking = 0;
    m->output = 0;
}

/*
 * Look the unit up in its table and act. Returns 1 when the unit is to be
 * dropped from the output. prefix: what to write before it (PREPEND).
 */
static int check(struct message *m, struct map *map, const char *map_class, int body,
                 const char *text, size_t len)
{
    struct map_value val = {m->result, sizeof(m->result), 0};
    struct content_action a;
    char warn[CONTENT_REASON_MAX + 128];
    int r;

    if (!map || !m->checking)
        return 0;
    r = map_lookup(map, text, len, &val);
    if (r < 0) {
        snprintf(warn, sizeof(warn),
                 "%s: %s map lookup problem -- message not accepted, try again later",
                 m->env.queue_id ? m->env.queue_id : "NOQUEUE", map->ref);
        logf_line(m, MESSAGE_LOG_WARN, warn);
        set_fate(m, MESSAGE_DEFER, "451 4.3.0 Error: queue file write error");
        return 0;
    }
    if (r == 0)
        return 0;
    content_action_parse(val.buf, val.len, body ? CONTENT_CTX_BODY : CONTENT_CTX_HEADER, &a);
    if (a.warn != CONTENT_WARN_NONE &&
        content_action_warning(&a, map_class, warn, sizeof(warn)) != -EINVAL)
        logf_line(m, MESSAGE_LOG_WARN, warn);
    switch (a.act) {
    case CONTENT_ACT_DUNNO:
        return 0;
    case CONTENT_ACT_REJECT: {
        char reply[MESSAGE_REPLY_MAX];
        log_action(m, "reject", body, text, len, a.reason, strlen(a.reason));
        snprintf(reply, sizeof(reply), "%d %s", a.defer ? 451 : 550, a.reason);
        set_fate(m, a.defer ? MESSAGE_DEFER : MESSAGE_REJECT, reply);
        return 0;
    }
    case CONTENT_ACT_WARN:
        log_action(m, "warning", body, text, len, a.text, a.text_len);
        return 0;
    case CONTENT_ACT_INFO:
        log_action(m, "info", body, text, len, a.text, a.text_len);
        return 0;
    case CONTENT_ACT_PASS:
        log_action(m, "pass", body, text, len, a.text, a.text_len);
        m->checking = 0;
        return 0;
    case CONTENT_ACT_DISCARD:
        log_action(m, "discard", body, text, len, a.text, a.text_len);
        set_fate(m, MESSAGE_DISCARD, NULL);
        return 0;
    case CONTENT_ACT_HOLD:
        if (!m->v.hold) {
            log_action(m, "hold", body, text, len, a.text, a.text_len);
            m->v.hold = 1;
        }
        return 0;
    case CONTENT_ACT_IGNORE:
        return 1;
    case CONTENT_ACT_STRIP:
        log_action(m, "strip", body, text, len, a.text, a.text_len);
        return 1;
    case CONTENT_ACT_PREPEND:
        out_text(m, a.text, a.text_len);
        out(m, "\r\n", 2);
        return 0;
    case CONTENT_ACT_REPLACE:
        out_text(m, a.text, a.text_len);
        out(m, "\r\n", 2);
        return 1;
    case CONTENT_ACT_REDIRECT:
        log_action(m, "redirect", body, text, len, a.text, a.text_len);
        snprintf(m->v.redirect, sizeof(m->v.redirect), "%.*s", (int)a.text_len, a.text);
        return 0;
    case CONTENT_ACT_FILTER:
    case CONTENT_ACT_BCC:
        snprintf(warn, sizeof(warn),
                 "%s: %s action in %s is not supported by mxscreen -- message deferred",
                 m->env.queue_id ? m->env.queue_id : "NOQUEUE",
                 a.act == CONTENT_ACT_FILTER ? "FILTER" : "BCC", map_class);
        logf_line(m, MESSAGE_LOG_ERROR, warn);
        set_fate(m, MESSAGE_DEFER, "451 4.3.5 Error: server configuration error");
        return 0;
    }
    return 0;
}

static void on_unit(void *ctx, const struct mime_unit *u)
{
    struct message *m = ctx;
    int drop = 0;
    switch (u->cls) {
    case MIME_CLASS_HEADER:
        drop = check(m, m->o.checks.header, "header_checks", 0, u->text, u->len);
        break;
    case MIME_CLASS_MIME_HEADER:
        drop = check(m, m->o.checks.mime_header, "mime_header_checks", 0, u->text, u->len);
        break;
    case MIME_CLASS_NESTED_HEADER:
        drop = check(m, m->o.checks.nested_header, "nested_header_checks", 0, u->text,
                     u->len);
        break;
    case MIME_CLASS_HEADER_END:
        return;
    case MIME_CLASS_BODY:
        if (!(u->flags & MIME_UNIT_UNCHECKED) && m->o.checks.body && m->checking) {
            size_t n = u->len < m->key_cap ? u->len : m->key_cap;
            memcpy(m->key, u->text, n);
            m->key[n] = '\0';
            drop = check(m, m->o.checks.body, "body_checks", 1, m->key, n);
        }
        if (!drop) {
            out_text(m, u->text, u->raw_len);
            if (!(u->flags & MIME_UNIT_CONT))
                out(m, "\r\n", 2);
        }
        return;
    }
    if (!drop) {
        out_text(m, u->text, u->len);
        out(m, "\r\n", 2);
    }
}

static struct message *parked;

static void destroy(struct message *m)
{
    mime_state_free(m->mime);
    free(m->key);
    free(m);
}

/* m's buffers and mime_state fit these options. */
static int parked_fits_m(const struct message *m, const struct message_opts *o, unsigned mopts)
{
    const struct mime_limits *a = &m->o.mime, *b = &o->mime;
    return m->mopts == mopts && a->header_size_limit == b->header_size_limit &&
           a->line_length_limit == b->line_length_limit &&
           a->nesting_limit == b->nesting_limit &&
           a->boundary_length_limit == b->boundary_length_limit &&
           a->body_checks_size_limit == b->body_checks_size_limit;
}

int message_create(const struct message_opts *o, struct message **res)
{
    struct message *m;
    unsigned mopts;
    int r;
    if (!o || o->frame.line_length_limit == 0 ||
        o->frame.line_length_limit != o->mime.line_length_limit)
        return -EINVAL;
    /* With bare-LF detection on, smtpd's smtp_get() removes one CR before
     * the LF, not all of them (mime_state.c, record_line_end()). */
    mopts = o->mime_opts | MIME_OPT_DOT_STUFFED;
    if (o->frame.bare_lf != DATA_BARE_LF_NO)
        mopts |= MIME_OPT_STRIP_ONE_CR;
    if (parked) {
        m = parked;
        parked = NULL;
        if (parked_fits_m(m, o, mopts)) {
            m->o = *o;
            if (m->o.bare_lf_reject_code == 0)
                m->o.bare_lf_reject_code = 550;
            memset(&m->env, 0, sizeof(m->env));
            memset(&m->v, 0, sizeof(m->v));
            m->checking = m->output = 0; /* message_begin() sets them */
            *res = m;
            return 0;
        }
        destroy(m); /* other limits (a reload) */
    }
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->o = *o;
    if (m->o.bare_lf_reject_code == 0)
        m->o.bare_lf_reject_code = 550;
    m->key_cap = o->mime.line_length_limit + 1;
    m->key = malloc(m->key_cap + 1);
    if (!m->key) {
        free(m);
        return -ENOMEM;
    }
    m->mopts = mopts;
    r = mime_state_create(&o->mime, mopts, on_unit, m, &m->mime);
    if (r < 0) {
        free(m->key);
        free(m);
        return r;
    }
    *res = m;
    return 0;
}

void message_free(struct message *m)
{
    if (!m)
        return;
    if (!parked) {
        parked = m;
        return;
    }
    destroy(m);
}

int message_begin(struct message *m, const struct message_env *env)
{
    int r = env && env->bdat ? data_frame_init_bdat(&m->frame, &m->o.frame)
                             : data_frame_init(&m->frame, &m->o.frame);
    if (r < 0)
        return r;
    m->env = *env;
    memset(&m->v, 0, sizeof(m->v));
    m->checking = 1;
    m->output = 1;
    mime_state_reset(m->mime);
    if (env->received && env->received_len > 0)
        mime_state_header(m->mime, env->received, env->received_len);
    return 0;
}

static void frame_out(void *ctx, const char *buf, size_t len)
{
    struct message *m = ctx;
    mime_state_feed(m->mime, buf, len);
}

enum data_frame_status message_feed(struct message *m, const char *buf, size_t len,
                                    size_t *used)
{
    return data_frame_feed(&m->frame, buf, len, used, frame_out, m);
}

enum data_frame_status message_bdat(struct message *m, const char *buf, size_t len, int last)
{
    return data_frame_bdat(&m->frame, buf, len, last, frame_out, m);
}

void message_finish(struct message *m, struct message_verdict *v)
{
    m->v.mime_err = mime_state_finish(m->mime);
    m->v.frame_err = m->frame.err;
    m->v.size = m->frame.size;
    /* smtpd's own errors come before cleanup's verdict. */
    if (m->frame.err) {
        m->v.fate = MESSAGE_REJECT;
        data_frame_reply(m->frame.err, m->o.bare_lf_reject_code, m->o.myhostname, m->v.reply,
                         sizeof(m->v.reply));
        if (m->v.reply[0] == '4')
            m->v.fate = MESSAGE_DEFER;
    }
    *v = m->v;
}
