/*
 * data_frame.c - SMTP DATA/BDAT framing with Postfix 3.7.11's rules for
 * the end of data, discarded dot lines, bare <LF>, line_length_limit
 * records and message_size_limit. See data_frame.h for the rules.
 *
 * One pass over the bytes, no copy: the message is passed on as spans of
 * the caller's buffer. Only a "." at the start of a line is kept back
 * (with the CRs after it) until the byte that decides whether it is the
 * end of the message, a discarded line, or content.
 */
#include "data_frame.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char crs[64] = "\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r"
                            "\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r";

int data_bare_lf_parse(const char *s, size_t len, enum data_bare_lf *out)
{
    static const struct {
        const char *name;
        enum data_bare_lf v;
    } names[] = {
        {"no", DATA_BARE_LF_NO},
        {"yes", DATA_BARE_LF_NORMALIZE},
        {"normalize", DATA_BARE_LF_NORMALIZE},
        {"reject", DATA_BARE_LF_REJECT},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == len && strncasecmp(s, names[i].name, len) == 0) {
            *out = names[i].v;
            return 0;
        }
    }
    return -EINVAL;
}

static int init(struct data_frame *f, const struct data_frame_opts *o, int bdat)
{
    if (!o || o->line_length_limit == 0)
        return -EINVAL;
    memset(f, 0, sizeof(*f));
    f->o = *o;
    f->at_line_start = 1;
    f->bdat = bdat;
    return 0;
}

int data_frame_init(struct data_frame *f, const struct data_frame_opts *o)
{
    return init(f, o, 0);
}

int data_frame_init_bdat(struct data_frame *f, const struct data_frame_opts *o)
{
    return init(f, o, 1);
}

static void emit(struct data_frame *f, data_frame_out_fn out, void *ctx, const char *p, size_t n)
{
    /* After an error Postfix stores nothing more of the message. */
    if (n > 0 && f->err == 0 && out)
        out(ctx, p, n);
}

/* The kept-back "." and the CRs after it turn out to be content. */
static void flush_held(struct data_frame *f, data_frame_out_fn out, void *ctx)
{
    if (f->held == 0)
        return;
    emit(f, out, ctx, ".", 1);
    for (size_t n = f->held - 1; n > 0;) {
        size_t k = n < sizeof(crs) ? n : sizeof(crs);
        emit(f, out, ctx, crs, k);
        n -= k;
    }
    f->held = 0;
}

/* smtpd's act_size check, for a record stored with len bytes. */
static void account(struct data_frame *f, size_t len)
{
    if (f->err)
        return;
    uint64_t need = (uint64_t)len + 2;
    if (f->o.message_size_limit > 0 &&
        (f->size > f->o.message_size_limit || f->o.message_size_limit - f->size < need))
        f->err |= DATA_ERR_SIZE;
    else
        f->size += need;
}

static void next_record(struct data_frame *f, int line_start)
{
    f->rec_len = 0;
    f->trail_cr = 0;
    f->rec_dot = 0;
    f->at_line_start = line_start;
}

/* A record cut at line_length_limit: the line goes on. */
static void record_cont(struct data_frame *f, data_frame_out_fn out, void *ctx)
{
    flush_held(f, out, ctx);
    account(f, f->rec_len - (f->rec_dot && !f->bdat ? 1 : 0));
    f->prev_bare_lf = 0;
    next_record(f, 0);
}

/*
 * LF: the record ends. Returns 1 when it was the end of the message, 2
 * when it is a discarded dot line, 0 for content.
 */
static int record_lf(struct data_frame *f, data_frame_out_fn out, void *ctx)
{
    int detect = f->o.bare_lf != DATA_BARE_LF_NO;
    /* smtp_get(): with bare-LF detection on, one CR goes; without, all. */
    size_t stripped = detect ? (f->trail_cr > 0) : f->trail_cr;
    int bare = f->trail_cr == 0;
    size_t content = f->rec_len - stripped;
    int r = 0;

    if (bare && f->o.bare_lf == DATA_BARE_LF_REJECT)
        f->err |= DATA_ERR_BARE_LF;
    if (!f->bdat && f->rec_dot && content == 1) {
        /* Postfix 3.7.11: with detection on, "." ending in or following a
         * bare LF is neither the end nor stored (the smuggling fix). */
        r = detect && (bare || f->prev_bare_lf) ? 2 : 1;
        f->held = 0;
    } else {
        flush_held(f, out, ctx);
        account(f, content - (f->rec_dot && !f->bdat ? 1 : 0));
    }
    f->prev_bare_lf = detect && bare;
    next_record(f, 1);
    return r;
}

static enum data_frame_status run(struct data_frame *f, const char *buf, size_t len, size_t *used,
                                  data_frame_out_fn out, void *ctx)
{
    size_t limit = f->o.line_length_limit;
    size_t span = 0; /* start of the bytes not yet passed on */
    int spanning = f->held == 0; /* a "." kept back from the last call */

    if (f->ended) {
        *used = 0;
        return DATA_FRAME_END;
    }
    for (size_t i = 0; i < len; i++) {
        if (spanning && f->held == 0 && f->rec_len > 0 && !f->cr_wait && f->rec_len + 1 < limit) {
            /* Inside a record with nothing kept back, only an LF or the
             * line_length_limit can end it: skip to the byte before either
             * (memchr), keeping rec_len and trail_cr as the byte loop
             * would. Most of a message goes here, not byte by byte. */
            size_t n = len - i, room = limit - f->rec_len - 1;
            const char *lf = memchr(buf + i, '\n', n < room ? n : room);
            size_t take = lf ? (size_t)(lf - (buf + i)) : (n < room ? n : room);
            size_t k = take;
            while (k > 0 && buf[i + k - 1] == '\r')
                k--;
            f->trail_cr = k == 0 ? f->trail_cr + take : take - k;
            f->rec_len += take;
            i += take;
            if (i == len)
                break;
        }
        char c = buf[i];
        if (f->cr_wait) {
            f->cr_wait = 0;
            if (c != '\n') {
                record_cont(f, out, ctx);
                if (!spanning) {
                    spanning = 1;
                    span = i;
                }
            }
        }
        if (c == '\n') {
            int r = record_lf(f, out, ctx);
            if (r == 1) {
                f->ended = 1;
                f->wire_bytes += i + 1;
                *used = i + 1;
                return DATA_FRAME_END;
            }
            if (r == 2) { /* nothing of the line goes on */
                spanning = 1;
                span = i + 1;
            } else if (!spanning) {
                spanning = 1;
                span = i;
            }
            continue;
        }
        if (f->rec_len == 0 && f->at_line_start && c == '.') {
            f->rec_dot = 1;
            if (spanning)
                emit(f, out, ctx, buf + span, i - span);
            if (f->bdat) {
                /* Stuff it: the consumer unstuffs DATA and BDAT alike. */
                emit(f, out, ctx, ".", 1);
                span = i;
            } else {
                spanning = 0;
                f->held = 1;
            }
        } else if (f->held > 0) {
            if (c == '\r') {
                f->held++;
            } else {
                flush_held(f, out, ctx);
                spanning = 1;
                span = i;
            }
        }
        f->rec_len++;
        f->trail_cr = c == '\r' ? f->trail_cr + 1 : 0;
        if (f->rec_len == limit) {
            if (c == '\r') {
                f->cr_wait = 1;
            } else {
                if (spanning)
                    emit(f, out, ctx, buf + span, i + 1 - span);
                record_cont(f, out, ctx);
                spanning = 1;
                span = i + 1;
            }
        }
    }
    if (spanning)
        emit(f, out, ctx, buf + span, len - span);
    f->wire_bytes += len;
    *used = len;
    return DATA_FRAME_MORE;
}

enum data_frame_status data_frame_feed(struct data_frame *f, const char *buf, size_t len,
                                       size_t *used, data_frame_out_fn out, void *ctx)
{
    return run(f, buf, len, used, out, ctx);
}

enum data_frame_status data_frame_bdat(struct data_frame *f, const char *buf, size_t len,
                                       int last, data_frame_out_fn out, void *ctx)
{
    size_t used;
    if (f->ended)
        return DATA_FRAME_END;
    run(f, buf, len, &used, out, ctx);
    if (!last)
        return DATA_FRAME_MORE;
    /* A last line without LF is a record of its own (smtp_get at EOF),
     * counted whole: BDAT has no dot to remove (Postfix 3.7.11 says 7
     * bytes for "a\r\n.x"). */
    if (f->cr_wait) {
        f->cr_wait = 0;
        record_cont(f, out, ctx);
    } else if (f->rec_len > 0) {
        flush_held(f, out, ctx);
        account(f, f->rec_len);
        next_record(f, 1);
    }
    f->ended = 1;
    return DATA_FRAME_END;
}

int data_frame_reply(unsigned err, unsigned bare_lf_code, const char *myhostname, char *buf,
                     size_t size)
{
    int n;
    if (err & DATA_ERR_BARE_LF)
        n = snprintf(buf, size, "%u 5.5.2 %s Error: bare <LF> received", bare_lf_code,
                     myhostname ? myhostname : "");
    else if (err & DATA_ERR_SIZE)
        n = snprintf(buf, size, "552 5.3.4 Error: message file too big");
    else
        return -EINVAL;
    return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}
