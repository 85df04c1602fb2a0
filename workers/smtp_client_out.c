/*
 * smtp_client_out.c - the sending side of the next-hop SMTP/LMTP client:
 * commands queued by the caller (MAIL, RCPT with their RFC 3461
 * parameters, DATA, RSET, NOOP, QUIT), written to the output buffer as
 * far as RFC 2920 grouping allows, and the message content dot-stuffed.
 *
 * Interface: smtp_client.h (the queueing calls and smtp_client_output /
 * _output_done, _body, _body_end); smtp_client_int.h for what the reply
 * side (smtp_client.c) uses. Nothing here reads a reply or changes the
 * session state except BODY -> READY after the final dot. Failure: a
 * command that does not fit the queue or the output is -ENOSPC and is
 * left queued; nothing is lost or half-written.
 */
#include "smtp_client_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ output */

size_t smtp_client_out_room(struct smtp_client *c)
{
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    return sizeof(c->out) - c->out_len;
}

int smtp_client_out_printf(struct smtp_client *c, const char *fmt, ...)
{
    size_t room = smtp_client_out_room(c);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->out + c->out_len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        return -ENOSPC;
    c->out_len += (size_t)n;
    return 0;
}

int smtp_client_pipelining(const struct smtp_client *c)
{
    return (c->ehlo.ext & SMTP_EXT_PIPELINING) && !c->opts.no_pipelining;
}

void smtp_client_on_flush(struct smtp_client *c, void (*fn)(void *arg), void *arg)
{
    c->flush_fn = fn;
    c->flush_arg = fn ? arg : NULL;
}

#define DSN_PARAM_MAX 1000

/* RFC 3461 xtext: '+', '=' and bytes outside '!'..'~' as "+XX". 0, or
 * -ENOSPC when it does not fit in size. */
static int xtext_put(char *out, size_t size, size_t *len, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool plain = ch >= '!' && ch <= '~' && ch != '+' && ch != '=';
        if (*len + (plain ? 1 : 3) >= size)
            return -ENOSPC;
        if (plain) {
            out[(*len)++] = (char)ch;
        } else {
            out[(*len)++] = '+';
            out[(*len)++] = hex[ch >> 4];
            out[(*len)++] = hex[ch & 15];
        }
    }
    out[*len] = '\0';
    return 0;
}

/* " ENVID=.. RET=.." / " ORCPT=.. NOTIFY=..", Postfix's order. */
static void dsn_params(const struct smtp_client *c, const struct smtp_client_entry *e,
                       char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    if (!(c->ehlo.ext & SMTP_EXT_DSN))
        return;
    const char *s = e->dsn_str;
    if (e->cmd == SMTP_CMD_MAIL) {
        if (s && *s) {
            len = (size_t)snprintf(out, size, " ENVID=");
            if (xtext_put(out, size, &len, s, strlen(s)) < 0)
                len = 0;
            out[len] = '\0';
        }
        if (e->dsn_code == 1 || e->dsn_code == 2)
            snprintf(out + len, size - len, " RET=%s", e->dsn_code == 1 ? "FULL" : "HDRS");
        return;
    }
    const char *semi = s ? strchr(s, ';') : NULL;
    if (semi && semi > s) {
        len = (size_t)snprintf(out, size, " ORCPT=%.*s;", (int)(semi - s), s);
        if (len >= size || xtext_put(out, size, &len, semi + 1, strlen(semi + 1)) < 0)
            len = 0;
        out[len] = '\0';
    }
    static const char *const words[] = {"NEVER", "SUCCESS", "FAILURE", "DELAY"};
    unsigned m = e->dsn_code & 15u;
    if (m & 1u)
        m = 1u;
    for (unsigned b = 0, first = 1; b < 4; b++) {
        if (!(m & (1u << b)))
            continue;
        int k = snprintf(out + len, size - len, "%s%s", first ? " NOTIFY=" : ",", words[b]);
        if (k > 0 && (size_t)k < size - len)
            len += (size_t)k;
        first = 0;
    }
}

int smtp_client_mail_dsn(struct smtp_client *c, unsigned ret, const char *envid)
{
    if (c->tail == c->sent || c->q[QI(c->tail - 1)].cmd != SMTP_CMD_MAIL)
        return -EINVAL;
    c->q[QI(c->tail - 1)].dsn_code = (uint8_t)(ret & 3u);
    c->q[QI(c->tail - 1)].dsn_str = envid;
    return 0;
}

int smtp_client_rcpt_dsn(struct smtp_client *c, unsigned notify, const char *orcpt)
{
    if (c->tail == c->sent || c->q[QI(c->tail - 1)].cmd != SMTP_CMD_RCPT)
        return -EINVAL;
    c->q[QI(c->tail - 1)].dsn_code = (uint8_t)(notify & 15u);
    c->q[QI(c->tail - 1)].dsn_str = orcpt;
    return 0;
}

static int format_entry(struct smtp_client *c, const struct smtp_client_entry *e)
{
    char dsn[DSN_PARAM_MAX + 64];
    dsn_params(c, e, dsn, sizeof(dsn));
    char params[96];
    size_t p = 0;
    params[0] = '\0';
    switch ((enum smtp_client_cmd)e->cmd) {
    case SMTP_CMD_MAIL:
        /* Parameters only where the next hop announced the extension. */
        if ((c->ehlo.ext & SMTP_EXT_SIZE) && e->size > 0)
            p += (size_t)snprintf(params + p, sizeof(params) - p, " SIZE=%llu",
                                  (unsigned long long)e->size);
        if ((c->ehlo.ext & SMTP_EXT_8BITMIME) && e->body != SMTP_BODY_NONE)
            p += (size_t)snprintf(params + p, sizeof(params) - p, " BODY=%s",
                                  e->body == SMTP_BODY_8BITMIME ? "8BITMIME" : "7BIT");
        if ((c->ehlo.ext & SMTP_EXT_SMTPUTF8) && e->smtputf8)
            snprintf(params + p, sizeof(params) - p, " SMTPUTF8");
        return smtp_client_out_printf(c, "MAIL FROM:<%.*s>%s%s\r\n", (int)e->arg_len, e->arg, params, dsn);
    case SMTP_CMD_RCPT:
        return smtp_client_out_printf(c, "RCPT TO:<%.*s>%s\r\n", (int)e->arg_len, e->arg, dsn);
    case SMTP_CMD_DATA:
        return smtp_client_out_printf(c, "DATA\r\n");
    case SMTP_CMD_RSET:
        return smtp_client_out_printf(c, "RSET\r\n");
    case SMTP_CMD_NOOP:
        return smtp_client_out_printf(c, "NOOP\r\n");
    case SMTP_CMD_QUIT:
        return smtp_client_out_printf(c, "QUIT\r\n");
    case SMTP_CMD_DOT:
    case SMTP_CMD_NONE:
        break;
    }
    return -EINVAL;
}

/* Move queued commands to the output as far as RFC 2920 allows: without
 * PIPELINING one command per reply; with it, DATA, NOOP and QUIT end a
 * group (the content, or nothing, must follow them). The final dot may be
 * followed by the next transaction's commands. The owner's flush hook
 * runs first, so that what it queues joins this group. */
static void flush_queue(struct smtp_client *c)
{
    if (c->state != SMTP_CLIENT_READY)
        return;
    if (c->flush_fn && c->sent != c->tail) {
        void (*fn)(void *) = c->flush_fn;
        c->flush_fn = NULL; /* once: fn may queue, and queueing may flush */
        fn(c->flush_arg);
    }
    while (c->sent != c->tail) {
        if (c->sent != c->head) {
            if (!smtp_client_pipelining(c))
                break;
            enum smtp_client_cmd last = c->q[QI(c->sent - 1)].cmd;
            if (last == SMTP_CMD_DATA || last == SMTP_CMD_NOOP || last == SMTP_CMD_QUIT)
                break;
        }
        if (format_entry(c, &c->q[QI(c->sent)]) < 0)
            break;
        c->sent++;
    }
}

size_t smtp_client_output(struct smtp_client *c, const char **p)
{
    flush_queue(c);
    *p = c->out + c->out_off;
    return c->out_len - c->out_off;
}

void smtp_client_output_done(struct smtp_client *c, size_t n)
{
    if (n > c->out_len - c->out_off)
        n = c->out_len - c->out_off;
    c->out_off += n;
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
}

/* ------------------------------------------------------------ commands */

static int enqueue(struct smtp_client *c, enum smtp_client_cmd cmd, const char *arg, size_t len,
                   unsigned index)
{
    if (c->quit_queued)
        return -EINVAL;
    if (c->tail - c->head >= SMTP_CLIENT_QUEUE)
        return -ENOSPC;
    struct smtp_client_entry *e = &c->q[QI(c->tail)];
    memset(e, 0, sizeof(*e));
    e->cmd = (uint8_t)cmd;
    e->arg = arg;
    e->arg_len = (uint32_t)len;
    e->index = index;
    c->tail++;
    return 0;
}

int smtp_client_mail(struct smtp_client *c, const char *sender, size_t len, uint64_t size,
                     enum smtp_body body, int smtputf8)
{
    if (len > SMTP_CLIENT_ARG_MAX || (len > 0 && sender == NULL))
        return -ENOSPC;
    if (c->quit_queued)
        return -EINVAL;
    /* The RSET that separates transactions on a reused connection. */
    if (c->dirty) {
        if (c->tail - c->head + 2 > SMTP_CLIENT_QUEUE)
            return -ENOSPC;
        enqueue(c, SMTP_CMD_RSET, NULL, 0, 0);
    }
    int err = enqueue(c, SMTP_CMD_MAIL, sender ? sender : "", len, 0);
    if (err < 0)
        return err;
    struct smtp_client_entry *e = &c->q[QI(c->tail - 1)];
    e->size = size;
    e->body = (uint8_t)body;
    e->smtputf8 = (uint8_t)(smtputf8 != 0);
    c->dirty = 1;
    c->nrcpt = 0;
    return 0;
}

int smtp_client_rcpt(struct smtp_client *c, const char *rcpt, size_t len)
{
    if (len > SMTP_CLIENT_ARG_MAX || rcpt == NULL)
        return -ENOSPC;
    if (c->opts.lmtp && c->nrcpt >= SMTP_CLIENT_LMTP_RCPT_MAX)
        return -ENOSPC;
    int err = enqueue(c, SMTP_CMD_RCPT, rcpt, len, c->nrcpt);
    if (err == 0)
        c->nrcpt++;
    return err;
}

int smtp_client_data(struct smtp_client *c)
{
    return enqueue(c, SMTP_CMD_DATA, NULL, 0, 0);
}

int smtp_client_rset(struct smtp_client *c)
{
    int err = enqueue(c, SMTP_CMD_RSET, NULL, 0, 0);
    if (err == 0)
        c->dirty = 0, c->nrcpt = 0;
    return err;
}

int smtp_client_noop(struct smtp_client *c)
{
    return enqueue(c, SMTP_CMD_NOOP, NULL, 0, 0);
}

int smtp_client_quit(struct smtp_client *c)
{
    int err = enqueue(c, SMTP_CMD_QUIT, NULL, 0, 0);
    if (err == 0)
        c->quit_queued = 1;
    return err;
}

/* Copy n bytes to the output (room checked by the caller) and note how
 * the content so far ends. */
static void body_put(struct smtp_client *c, const char *s, size_t n)
{
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
    char last = s[n - 1];
    char prev = n >= 2 ? s[n - 2] : (c->body_crlf == 2 ? '\r' : 0);
    c->body_bol = last == '\n';
    c->body_crlf = last == '\n' ? (prev == '\r') : (last == '\r' ? 2 : 0);
}

size_t smtp_client_body(struct smtp_client *c, const char *buf, size_t len)
{
    if (c->state == SMTP_CLIENT_FAILED)
        return len;
    if (c->state != SMTP_CLIENT_BODY)
        return 0;
    size_t i = 0;
    long limit = c->opts.line_limit;
    while (i < len) {
        size_t room = smtp_client_out_room(c);
        /* A CR held at the limit: with the LF after it, the line's end;
         * otherwise content that goes on the continuation line. */
        if (c->body_cr) {
            bool lf = buf[i] == '\n';
            if (room < (lf ? 2u : 4u))
                break;
            body_put(c, lf ? "\r\n" : "\r\n \r", lf ? 2 : 4);
            c->body_col = lf ? 0 : 2;
            c->body_cr = 0;
            i += lf;
            continue;
        }
        /* A '.' at a line start is doubled (RFC 5321 4.5.2). A line starts
         * after any LF, bare or not, so that no next hop, however it
         * splits lines, can see an end of data inside the content. Not
         * counted in the line's length, as in Postfix's smtp_text_out(). */
        if (c->body_bol && buf[i] == '.') {
            if (room < 2)
                break;
            c->out[c->out_len++] = '.';
            room--;
            c->body_bol = 0;
        }
        /* Postfix's smtp(8) breaks a line longer than smtp_line_length_limit
         * (CRLF not counted) by inserting CRLF SPACE, headers and body
         * alike, "to minimize the damage to MIME formatted mail". A CR
         * right at the limit may be the line's own CRLF: held until the
         * next byte says. */
        if (limit > 0 && c->body_col >= limit && buf[i] != '\n') {
            if (buf[i] == '\r') {
                c->body_cr = 1;
                i++;
                continue;
            }
            if (room < 3)
                break;
            body_put(c, "\r\n ", 3);
            c->body_col = 1;
            continue;
        }
        const char *lf = memchr(buf + i, '\n', len - i);
        size_t n = lf ? (size_t)(lf - (buf + i)) + 1 : len - i;
        size_t text = lf ? n - 1 : n;
        if (limit > 0 && text > (size_t)(limit - c->body_col))
            n = text = (size_t)(limit - c->body_col);
        if (n > room)
            n = text = room;
        if (n == 0)
            break;
        body_put(c, buf + i, n);
        c->body_col = c->body_bol ? 0 : c->body_col + (long)text;
        i += n;
    }
    return i;
}

int smtp_client_body_end(struct smtp_client *c)
{
    if (c->state == SMTP_CLIENT_FAILED)
        return 0;
    if (c->state != SMTP_CLIENT_BODY)
        return -EINVAL;
    /* Content that does not end with CRLF gets one, as Postfix's smtp
     * client ends every record with CRLF. */
    const char *end = c->body_crlf == 1 ? ".\r\n" : "\r\n.\r\n";
    /* A CR held at the line limit is content: the continuation line. */
    if (c->body_cr)
        end = "\r\n \r\r\n.\r\n";
    if (smtp_client_out_printf(c, "%s", end) < 0)
        return -EAGAIN;
    c->state = SMTP_CLIENT_READY;
    c->body_cr = 0;
    return 0;
}
