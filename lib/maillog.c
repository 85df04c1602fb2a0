/*
 * maillog.c - Postfix 3.7's log line texts, built into caller buffers.
 *
 * Each format below was compared with lines written by a real Postfix
 * 3.7 (tests/peer/postfix_format.py); the source of each is named so the
 * next reader can check it: smtpd.c (connect, disconnect counters, lost
 * connection), smtpd_check.c log_whatsup() (NOQUEUE reject),
 * cleanup_message.c (message-id), cleanup_act_log() (header_checks),
 * qmgr_active.c (queue active), log_adhoc.c + format_tv.c (delivery).
 *
 * Failure: -ENOSPC (line truncated, still sanitized and NUL-terminated) or
 * -EINVAL; no allocation, no I/O, no global state.
 */
#include "maillog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* An output cursor over the caller's buffer; overflow is sticky. */
struct out {
    char *buf;
    size_t size;
    size_t len;
    int full;
};

static void out_init(struct out *o, char *buf, size_t size)
{
    o->buf = buf;
    o->size = size;
    o->len = 0;
    o->full = 0;
    buf[0] = 0;
}

static void out_mem(struct out *o, const char *s, size_t n)
{
    if (o->full)
        return;
    if (n >= o->size - o->len) {
        n = o->size - o->len - 1;
        o->full = 1;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = 0;
}

static void out_str(struct out *o, const char *s)
{
    out_mem(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void out_fmt(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->full)
        return;
    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->full = 1;
        o->buf[o->len] = 0;
    } else if ((size_t)n >= o->size - o->len) {
        o->full = 1;
        o->len = o->size - 1;
    } else {
        o->len += (size_t)n;
    }
}

/* RFC 822 dot-string test of quote_822_local.c, 8-bit clean. */
static int is_dot_string(const char *s, const char *end)
{
    const char *cp;

    if (s == end || s[0] == '.')
        return 0;
    for (cp = s; cp < end; cp++) {
        unsigned char ch = (unsigned char)*cp;
        if (ch == '.' && cp + 1 < end && cp[1] == '.')
            return 0;
        if (ch == ' ' || ch < 0x20 || ch == 0x7f)
            return 0;
        if (strchr("()<>@,;:\\\"[]", ch))
            return 0;
    }
    return cp[-1] != '.';
}

/* The address in external form, appended to o. */
static void out_addr(struct out *o, const char *addr)
{
    const char *start = addr, *end, *colon, *cp;

    if (*addr == 0)
        return;
    /* A source route "@a,@b:" precedes the local part and is not quoted. */
    if (addr[0] == '@' && (colon = strchr(addr, ':')) != NULL)
        start = colon + 1;
    if ((end = strrchr(start, '@')) == NULL)
        end = start + strlen(start);
    if (is_dot_string(start, end)) {
        out_str(o, addr);
        return;
    }
    out_mem(o, addr, (size_t)(start - addr));
    out_mem(o, "\"", 1);
    for (cp = start; cp < end; cp++) {
        if (*cp == '"' || *cp == '\\' || *cp == '\r')
            out_mem(o, "\\", 1);
        out_mem(o, cp, 1);
    }
    out_mem(o, "\"", 1);
    out_str(o, end);
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static void out_namaddr(struct out *o, const struct maillog_client *c)
{
    out_str(o, nz(c->name));
    out_mem(o, "[", 1);
    out_str(o, nz(c->addr));
    out_mem(o, "]", 1);
}

/* from=<s> to=<r> proto=P helo=<h>, each only when known: log_whatsup()
 * and cleanup_act_log() append the same fields in the same order. */
static void out_context(struct out *o, const struct maillog_client *c,
                        const char *sender, const char *recipient)
{
    if (sender) {
        out_str(o, " from=<");
        out_addr(o, sender);
        out_mem(o, ">", 1);
    }
    if (recipient) {
        out_str(o, " to=<");
        out_addr(o, recipient);
        out_mem(o, ">", 1);
    }
    if (c->proto) {
        out_str(o, " proto=");
        out_str(o, c->proto);
    }
    if (c->helo) {
        out_str(o, " helo=<");
        out_str(o, c->helo);
        out_mem(o, ">", 1);
    }
}

void maillog_printable(char *s)
{
    unsigned char *cp = (unsigned char *)s;

    /* printable.c with util_utf8_enable: a lead byte followed by
     * continuation bytes passes whole; anything else outside 0x20..0x7e
     * is replaced. */
    while (*cp) {
        if (*cp >= 0x20 && *cp < 0x7f) {
            /* ok */
        } else if (*cp >= 194 && *cp <= 254 && cp[1] >= 128 && cp[1] < 192) {
            while (cp[1] >= 128 && cp[1] < 192)
                cp++;
        } else {
            *cp = '?';
        }
        cp++;
    }
}

static int out_done(struct out *o)
{
    maillog_printable(o->buf);
    return o->full ? -ENOSPC : 0;
}

#define CHECK_BUF(buf, size)                \
    do {                                    \
        if ((buf) == NULL || (size) == 0)   \
            return -EINVAL;                 \
    } while (0)

int maillog_connect(char *buf, size_t size, const struct maillog_client *c)
{
    struct out o;

    CHECK_BUF(buf, size);
    if (c == NULL)
        return -EINVAL;
    out_init(&o, buf, size);
    out_str(&o, "connect from ");
    out_namaddr(&o, c);
    return out_done(&o);
}

int maillog_disconnect(char *buf, size_t size, const struct maillog_client *c,
                       const struct maillog_cmd_stats *st)
{
    /* smtpd_cmd_table order; "unknown" is the table's terminator row. */
    static const char *const names[MAILLOG_NCMDS] = {
        "helo", "ehlo", "xclient", "xforward", "starttls", "auth", "mail", "rcpt",
        "data", "bdat", "rset", "noop", "vrfy", "etrn", "quit", "unknown",
    };
    unsigned long long all_ok = 0, all_total = 0;
    struct out o;

    CHECK_BUF(buf, size);
    if (c == NULL || st == NULL)
        return -EINVAL;
    out_init(&o, buf, size);
    out_str(&o, "disconnect from ");
    out_namaddr(&o, c);
    for (int i = 0; i < MAILLOG_NCMDS; i++) {
        if (st->total[i] == 0)
            continue;
        out_fmt(&o, " %s=%u", names[i], (unsigned)st->ok[i]);
        if (st->ok[i] != st->total[i])
            out_fmt(&o, "/%u", (unsigned)st->total[i]);
        all_ok += st->ok[i];
        all_total += st->total[i];
    }
    out_fmt(&o, " commands=%llu", all_ok);
    if (all_ok != all_total)
        out_fmt(&o, "/%llu", all_total);
    return out_done(&o);
}

int maillog_lost(char *buf, size_t size, const char *what, const char *where,
                 long long data_bytes, const struct maillog_client *c)
{
    struct out o;

    CHECK_BUF(buf, size);
    if (what == NULL || where == NULL || c == NULL)
        return -EINVAL;
    out_init(&o, buf, size);
    out_fmt(&o, "%s after %s", what, where);
    if (data_bytes >= 0)
        out_fmt(&o, " (%lld bytes)", data_bytes);
    out_str(&o, " from ");
    out_namaddr(&o, c);
    return out_done(&o);
}

int maillog_reject(char *buf, size_t size, const char *queue_id, const char *action,
                   const char *where, const struct maillog_client *c, const char *text,
                   const char *sender, const char *recipient)
{
    struct out o;

    CHECK_BUF(buf, size);
    if (action == NULL || where == NULL || c == NULL || text == NULL)
        return -EINVAL;
    out_init(&o, buf, size);
    out_fmt(&o, "%s: %s: %s from ", queue_id ? queue_id : "NOQUEUE", action, where);
    out_namaddr(&o, c);
    out_str(&o, ": ");
    out_str(&o, text);
    out_mem(&o, ";", 1);
    out_context(&o, c, sender, recipient);
    return out_done(&o);
}

int maillog_client(char *buf, size_t size, const char *queue_id,
                   const struct maillog_client *c)
{
    struct out o;

    CHECK_BUF(buf, size);
    if (queue_id == NULL || c == NULL)
        return -EINVAL;
    out_init(&o, buf, size);
    out_fmt(&o, "%s: client=", queue_id);
    out_namaddr(&o, c);
    return out_done(&o);
}

int maillog_message_id(char *buf, size_t size, const char *queue_id, const char *value)
{
    struct out o;

    CHECK_BUF(buf, size);
    if (queue_id == NULL || value == NULL)
        return -EINVAL;
    /* cleanup skips the white space after the colon, keeps the rest. */
    while (*value == ' ' || *value == '\t' || *value == '\r' || *value == '\n')
        value++;
    out_init(&o, buf, size);
    out_fmt(&o, "%s: message-id=", queue_id);
    out_str(&o, value);
    return out_done(&o);
}

int maillog_queue_active(char *buf, size_t size, const char *queue_id, const char *sender,
                         unsigned long long msg_size, unsigned nrcpt)
{
    struct out o;

    CHECK_BUF(buf, size);
    if (queue_id == NULL || sender == NULL)
        return -EINVAL;
    out_init(&o, buf, size);
    out_fmt(&o, "%s: from=<", queue_id);
    out_addr(&o, sender);
    out_fmt(&o, ">, size=%llu, nrcpt=%u (queue active)", msg_size, nrcpt);
    return out_done(&o);
}

/* format_tv(buf, sec, usec, 2 significant digits, delay_max_res = 2). */
int maillog_format_delay(char *buf, size_t size, uint64_t usec_total)
{
    enum { MILLION = 1000000, SIG_WID = 100 };
    uint64_t sec = usec_total / MILLION;
    uint64_t usec = usec_total % MILLION;
    uint64_t ures = MILLION / 100; /* delay_max_res = 2 decimals */
    struct out o;

    CHECK_BUF(buf, size);
    /* Coarser resolution when the integer part already holds the
     * significant digits; finer values are rounded away. */
    if (sec > 0) {
        uint64_t n;
        for (n = 1; sec >= n && n <= SIG_WID / 10; n *= 10)
            ;
        ures = (MILLION / SIG_WID) * n;
    } else {
        while (usec >= SIG_WID * ures)
            ures *= 10;
    }
    if (ures > 1) {
        usec += ures / 2;
        if (usec >= MILLION) {
            sec += 1;
            usec -= MILLION;
        }
    }
    out_init(&o, buf, size);
    out_fmt(&o, "%llu", (unsigned long long)sec);
    if (usec >= ures) {
        uint64_t rem = usec, n;
        out_mem(&o, ".", 1);
        for (n = MILLION / 10; rem >= ures && n > 0; n /= 10) {
            char d = (char)('0' + rem / n);
            out_mem(&o, &d, 1);
            rem %= n;
        }
    }
    return o.full ? -ENOSPC : 0;
}

static void out_delay(struct out *o, uint64_t us)
{
    char tmp[32];

    maillog_format_delay(tmp, sizeof(tmp), us);
    out_str(o, tmp);
}

int maillog_delivery(char *buf, size_t size, const struct maillog_delivery *d)
{
    struct out o;

    CHECK_BUF(buf, size);
    if (d == NULL || d->queue_id == NULL || d->recipient == NULL || d->dsn == NULL
        || d->status == NULL)
        return -EINVAL;
    out_init(&o, buf, size);
    out_fmt(&o, "%s: to=<", d->queue_id);
    out_addr(&o, d->recipient);
    out_mem(&o, ">", 1);
    if (d->orig_recipient && strcmp(d->orig_recipient, d->recipient) != 0) {
        out_str(&o, ", orig_to=<");
        out_addr(&o, d->orig_recipient);
        out_mem(&o, ">", 1);
    }
    out_str(&o, ", relay=");
    if (d->relay_host) {
        out_str(&o, d->relay_host);
        out_mem(&o, "[", 1);
        out_str(&o, nz(d->relay_addr));
        out_mem(&o, "]", 1);
        if (d->relay_port)
            out_fmt(&o, ":%u", d->relay_port);
    } else {
        out_str(&o, "none");
    }
    if (d->conn_use > 1)
        out_fmt(&o, ", conn_use=%u", d->conn_use);
    out_str(&o, ", delay=");
    out_delay(&o, d->delay_us);
    out_str(&o, ", delays=");
    for (int i = 0; i < 4; i++) {
        if (i)
            out_mem(&o, "/", 1);
        out_delay(&o, d->delays_us[i]);
    }
    out_fmt(&o, ", dsn=%s, status=%s", d->dsn, d->status);
    if (d->reply) {
        out_str(&o, " (");
        out_str(&o, d->reply);
        out_mem(&o, ")", 1);
    }
    return out_done(&o);
}

int maillog_content_action(char *buf, size_t size, const char *queue_id, const char *action,
                           const char *class, const char *content,
                           const struct maillog_client *c, const char *sender,
                           const char *recipient, const char *text)
{
    struct out o;

    CHECK_BUF(buf, size);
    if (queue_id == NULL || action == NULL || class == NULL || content == NULL
        || c == NULL)
        return -EINVAL;
    out_init(&o, buf, size);
    /* cleanup_act_log(): "%.200s" of the (unfolded) header or body line. */
    out_fmt(&o, "%s: %s: %s %.200s from ", queue_id, action, class, content);
    out_namaddr(&o, c);
    out_mem(&o, ";", 1);
    out_context(&o, c, sender, recipient);
    if (text && *text) {
        out_str(&o, ": ");
        out_str(&o, text);
    }
    return out_done(&o);
}

int maillog_quote_addr(char *buf, size_t size, const char *addr)
{
    struct out o;

    CHECK_BUF(buf, size);
    if (addr == NULL)
        return -EINVAL;
    out_init(&o, buf, size);
    out_addr(&o, addr);
    return o.full ? -ENOSPC : 0;
}
