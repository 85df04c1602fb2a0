/*
 * dsn.c - build a delivery status notification as Postfix 3.7's bounce(8)
 * (bounce_notify_util.c, bounce_template.c, the default templates of
 * "postconf -t") and cleanup(8) together write it. See dsn.h.
 *
 * Checked against real Postfix 3.7.11 output (tests/data/dsn/, made
 * by a private Postfix bouncing to a sink): same headers, boundary form,
 * template text, per-recipient fields, wrapping, and choice between
 * message/rfc822 and text/rfc822-headers.
 *
 * Failure: -EINVAL for missing required fields, -EIO (or the reader's
 * -errno) when the content cannot be read; out may then hold a partial
 * message and must be discarded.
 */
#include "dsn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers-only copies stop here even if the header block goes on: a
 * notification must stay small enough to be delivered. */
#define DSN_HEADERS_MAX (1024 * 1024)
/* queue id + time + myhostname (<= 255) + a ".N" suffix. */
#define DSN_BOUNDARY_MAX 600

static const char failure_text[] =
    "I'm sorry to have to inform you that your message could not\r\n"
    "be delivered to one or more recipients. It's attached below.\r\n";

/* Postfix 3.7's success_template (a "Successful Mail Delivery Report"
 * for NOTIFY=SUCCESS recipients relayed to a next hop without DSN). */
static const char success_text[] =
    "Your message was successfully delivered to the destination(s)\r\n"
    "listed below. If the message was delivered to mailbox you will\r\n"
    "receive no further notifications. Otherwise you may still receive\r\n"
    "notifications of mail delivery errors from other systems.\r\n";

static const char delay_banner[] =
    "####################################################################\r\n"
    "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
    "####################################################################\r\n";

static const char help_text[] =
    "For further assistance, please send mail to postmaster.\r\n"
    "\r\n"
    "If you do so, please include this problem report. You can\r\n"
    "delete your own text from the attached returned message.\r\n"
    "\r\n"
    "                   The mail system\r\n";
static const char signature[] = "                   The mail system\r\n";

static void putf(struct strbuf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct strbuf *out, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        strbuf_append(out, small, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    strbuf_append(out, big, (size_t)n);
    free(big);
}

static void crlf(struct strbuf *out)
{
    strbuf_append(out, "\r\n", 2);
}

/* A masked private copy of outside text (Postfix masks the bounce log as
 * it reads it back). */
static char *masked(const char *s, bool utf8)
{
    char *c = xstrdup(s ? s : "");
    dsn_printable(c, utf8);
    return c;
}

static bool nonempty(const char *s)
{
    return s && *s;
}

/* bounce_print_wrap(): one logical line, masked, wrapped at 79/4. */
static void wrap_line(struct strbuf *out, bool utf8, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void wrap_line(struct strbuf *out, bool utf8, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *line = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(line, (size_t)n + 1, fmt, ap);
    va_end(ap);
    dsn_printable(line, utf8);
    dsn_line_wrap(line, (size_t)n, 79, 4, out);
    free(line);
}

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* Whether this recipient gets this kind of notice (bounce_diagnostic_log:
 * NOTIFY not given, or it names the kind). */
static bool wants(const struct dsn_rcpt *r, enum dsn_kind kind)
{
    if (kind == DSN_SUCCESS) /* only on request (RFC 3461 5.2.2) */
        return (r->notify & DSN_NOTIFY_SUCCESS) != 0;
    if (r->notify == 0)
        return true;
    return (r->notify & (kind == DSN_FAILURE ? DSN_NOTIFY_FAILURE : DSN_NOTIFY_DELAY)) != 0;
}

/* ---- the original content ------------------------------------------------ */

/* The part of the original to return, as CRLF lines. Reads at most what is
 * needed: everything (it is within the limit) or the header block. */
static int load_original(const struct dsn_message *m, bool headers_only, struct strbuf *orig)
{
    struct strbuf raw;
    strbuf_init(&raw);
    size_t want = headers_only ? DSN_HEADERS_MAX : m->content_size;
    if (m->content) {
        strbuf_append(&raw, m->content, m->content_size < want ? m->content_size : want);
    } else {
        char buf[8192];
        while (raw.len < want) {
            size_t n = want - raw.len < sizeof(buf) ? want - raw.len : sizeof(buf);
            ssize_t got = m->read(m->read_arg, buf, n);
            if (got < 0) {
                strbuf_free(&raw);
                return got < -4095 ? -EIO : (int)got;
            }
            if (got == 0)
                break;
            strbuf_append(&raw, buf, (size_t)got);
            /* Headers only: stop reading at the blank line. */
            if (headers_only && (memmem(raw.buf, raw.len, "\n\n", 2) ||
                                 memmem(raw.buf, raw.len, "\n\r\n", 3)))
                break;
        }
    }

    /* Copy line by line with CRLF ends. Headers only: the leading lines
     * that are headers or their continuations (IS_HEADER in
     * bounce_original). */
    size_t i = 0;
    while (i < raw.len) {
        const char *line = raw.buf + i;
        const char *nl = memchr(line, '\n', raw.len - i);
        size_t full = nl ? (size_t)(nl - line) + 1 : raw.len - i;
        size_t len = nl ? (size_t)(nl - line) : full;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (headers_only && !(len > 0 && (line[0] == ' ' || line[0] == '\t')) &&
            dsn_is_header(line, len) == 0)
            break;
        strbuf_append(orig, line, len);
        crlf(orig);
        i += full;
    }
    strbuf_free(&raw);
    return 0;
}

/* Postfix's boundary "QUEUEID.TIME/MYHOSTNAME" is not checked against the
 * content; ours gets ".N" added until no line of the original starts with
 * "--" + boundary (which would end the part early). */
static void make_boundary(const struct dsn_message *m, const struct dsn_params *p,
                          const struct strbuf *orig, char *buf, size_t size)
{
    int base = snprintf(buf, size, "%s.%lu/%s", m->queue_id, (unsigned long)m->now,
                        p->myhostname);
    if (base < 0 || (size_t)base >= size)
        base = (int)strlen(buf);
    for (unsigned n = 1;; n++) {
        size_t blen = strlen(buf);
        bool clash = false;
        for (size_t i = 0; i + 2 + blen <= orig->len && !clash;) {
            const char *line = orig->buf + i;
            if (line[0] == '-' && line[1] == '-' && memcmp(line + 2, buf, blen) == 0)
                clash = true;
            const char *nl = memchr(line, '\n', orig->len - i);
            if (!nl)
                break;
            i = (size_t)(nl - orig->buf) + 1;
        }
        if (!clash)
            return;
        snprintf(buf + base, size - (size_t)base, ".%u", n);
    }
}

/* ---- the parts ------------------------------------------------------------ */

static void top_headers(struct strbuf *out, const struct dsn_message *m,
                        const struct dsn_params *p, const char *boundary, const char *enc)
{
    char date[80];
    if (dsn_mail_date(m->now, date, sizeof(date)) < 0)
        snprintf(date, sizeof(date), "%lu", (unsigned long)m->now);
    bool pm = m->postmaster_to != NULL;

    /* cleanup(8) adds Received:, Date: and Message-Id: to what bounce(8)
     * writes; the notification does not pass through a cleanup here. */
    if (nonempty(m->dsn_queue_id))
        putf(out, "Received: by %s (%s)\r\n\tid %s; %s\r\n", p->myhostname, p->mail_name,
             m->dsn_queue_id, date);
    putf(out, "Date: %s\r\n", date);
    putf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
         nonempty(p->myorigin) ? p->myorigin : p->myhostname);
    if (m->kind == DSN_SUCCESS)
        strbuf_puts(out, "Subject: Successful Mail Delivery Report\r\n");
    else if (m->kind == DSN_FAILURE)
        strbuf_puts(out, pm ? "Subject: Postmaster Copy: Undelivered Mail\r\n"
                            : "Subject: Undelivered Mail Returned to Sender\r\n");
    else
        strbuf_puts(out, pm ? "Subject: Postmaster Warning: Delayed Mail\r\n"
                            : "Subject: Delayed Mail (still being retried)\r\n");
    strbuf_puts(out, "To: ");
    char *to = masked(pm ? m->postmaster_to : m->sender, p->smtputf8_enable);
    dsn_quote_822_local(to, out);
    free(to);
    crlf(out);
    putf(out, "Auto-Submitted: %s\r\n", pm ? "auto-generated" : "auto-replied");
    strbuf_puts(out, "MIME-Version: 1.0\r\n"
                     "Content-Type: multipart/report; report-type=delivery-status;\r\n");
    putf(out, "\tboundary=\"%s\"\r\n", boundary);
    if (enc)
        putf(out, "Content-Transfer-Encoding: %s\r\n", enc);
    struct tm tm;
    char stamp[32] = "";
    if (localtime_r(&m->now, &tm))
        strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
    putf(out, "Message-Id: <%s.%s@%s>\r\n", stamp,
         nonempty(m->dsn_queue_id) ? m->dsn_queue_id : m->queue_id, p->myhostname);
    strbuf_puts(out, "\r\nThis is a MIME-encapsulated message.\r\n");
}

static void notification(struct strbuf *out, const struct dsn_message *m,
                         const struct dsn_params *p, const char *boundary, bool not7bit)
{
    putf(out, "\r\n--%s\r\nContent-Description: Notification\r\n", boundary);
    putf(out, "Content-Type: text/plain; charset=%s\r\n", not7bit ? "utf-8" : "us-ascii");
    if (not7bit)
        strbuf_puts(out, "Content-Transfer-Encoding: 8bit\r\n");
    putf(out, "\r\nThis is the mail system at host %s.\r\n\r\n", p->myhostname);
    if (m->kind == DSN_SUCCESS) {
        strbuf_puts(out, success_text);
    } else if (m->kind == DSN_FAILURE) {
        strbuf_puts(out, failure_text);
    } else {
        strbuf_puts(out, delay_banner);
        /* $delay_warning_time_hours, $maximal_queue_lifetime_days: integer
         * division, as bounce_template_lookup() does. */
        putf(out, "\r\nYour message could not be delivered for more than %ld hour(s).\r\n",
             p->delay_warning_time / 3600);
        putf(out, "It will be retried until it is %ld day(s) old.\r\n",
             p->maximal_queue_lifetime / 86400);
    }
    strbuf_puts(out, "\r\n");
    /* success_template has no help paragraph, only the signature. */
    strbuf_puts(out, m->kind == DSN_SUCCESS ? signature : help_text);
    for (size_t i = 0; i < m->nrcpt; i++) {
        const struct dsn_rcpt *r = &m->rcpt[i];
        if (!wants(r, m->kind))
            continue;
        crlf(out);
        if (nonempty(r->orig_addr) && strcasecmp(r->orig_addr, r->address) != 0)
            wrap_line(out, p->smtputf8_enable, "<%s> (expanded from <%s>): %s", r->address,
                      r->orig_addr, r->reason);
        else
            wrap_line(out, p->smtputf8_enable, "<%s>: %s", r->address, r->reason);
    }
}

/* RFC 1894: diagnostic-type is an atom; Postfix transliterates specials. */
static char *atom_mail_name(const char *name)
{
    char *c = xstrdup(name);
    for (char *s = c; *s; s++)
        if (strchr(" \t\r\n()<>@,;:\\\".[]", *s))
            *s = '-';
    dsn_printable(c, false);
    return c;
}

static const char *addr_type(const struct dsn_message *m, const char *addr)
{
    return m->smtputf8 && !is_ascii(addr) ? "utf-8" : "rfc822";
}

static void delivery_status(struct strbuf *out, const struct dsn_message *m,
                            const struct dsn_params *p, const char *boundary, bool not7bit)
{
    bool utf8 = p->smtputf8_enable;
    char *mname = atom_mail_name(p->mail_name);
    putf(out, "\r\n--%s\r\nContent-Description: Delivery report\r\n", boundary);
    putf(out, "Content-Type: message/%sdelivery-status\r\n", m->smtputf8 ? "global-" : "");
    if (not7bit && m->smtputf8)
        strbuf_puts(out, "Content-Transfer-Encoding: 8bit\r\n");
    putf(out, "\r\nReporting-MTA: dns; %s\r\n", p->myhostname);
    if (nonempty(m->envid)) {
        char *e = masked(m->envid, false);
        putf(out, "Original-Envelope-Id: %s\r\n", e);
        free(e);
    }
    putf(out, "X-%s-Queue-ID: %s\r\n", mname, m->queue_id);
    char *snd = masked(nonempty(m->sender) ? m->sender : "MAILER-DAEMON", utf8);
    struct strbuf q;
    strbuf_init(&q);
    dsn_quote_822_local(snd, &q);
    putf(out, "X-%s-Sender: %s; %s\r\n", mname, addr_type(m, snd), strbuf_cstr(&q));
    strbuf_free(&q);
    free(snd);
    char date[80];
    if (m->arrival > 0 && dsn_mail_date(m->arrival, date, sizeof(date)) == 0)
        putf(out, "Arrival-Date: %s\r\n", date);

    for (size_t i = 0; i < m->nrcpt; i++) {
        const struct dsn_rcpt *r = &m->rcpt[i];
        if (!wants(r, m->kind))
            continue;
        char *addr = masked(r->address, utf8);
        putf(out, "\r\nFinal-Recipient: %s; %s\r\n", addr_type(m, addr), addr);
        free(addr);
        if (nonempty(r->orcpt)) {
            char *o = masked(r->orcpt, utf8);
            putf(out, "Original-Recipient: %s\r\n", o);
            free(o);
        } else if (nonempty(r->orig_addr)) {
            char *o = masked(r->orig_addr, utf8);
            putf(out, "Original-Recipient: %s; %s\r\n", addr_type(m, o), o);
            free(o);
        }
        putf(out, "Action: %s\r\n",
             nonempty(r->action)       ? r->action
             : m->kind == DSN_FAILURE ? "failed"
             : m->kind == DSN_DELAY   ? "delayed"
                                      : "relayed");
        char *st = masked(r->status, false);
        putf(out, "Status: %s\r\n", st);
        free(st);
        if (nonempty(r->mta_type) && nonempty(r->mta_name))
            wrap_line(out, utf8, "Remote-MTA: %s; %s", r->mta_type, r->mta_name);
        if (nonempty(r->diag_type) && nonempty(r->diag_text))
            wrap_line(out, utf8, "Diagnostic-Code: %s; %s", r->diag_type, r->diag_text);
        else
            wrap_line(out, utf8, "Diagnostic-Code: X-%s; %s", mname, r->reason);
        if (m->kind == DSN_DELAY && dsn_mail_date(m->arrival + p->maximal_queue_lifetime,
                                                  date, sizeof(date)) == 0)
            putf(out, "Will-Retry-Until: %s\r\n", date);
    }
    free(mname);
}

static void original_part(struct strbuf *out, const struct dsn_message *m,
                          const char *boundary, bool headers_only, bool not7bit,
                          const struct strbuf *orig)
{
    if (m->kind == DSN_SUCCESS)
        putf(out, "\r\n--%s\r\nContent-Description: Message Headers\r\n", boundary);
    else
        putf(out, "\r\n--%s\r\nContent-Description: Undelivered Message%s\r\n", boundary,
             headers_only ? " Headers" : "");
    if (m->smtputf8)
        putf(out, "Content-Type: message/%s\r\n", headers_only ? "global-headers" : "global");
    else
        putf(out, "Content-Type: %s\r\n",
             headers_only ? "text/rfc822-headers" : "message/rfc822");
    if (not7bit)
        strbuf_puts(out, "Content-Transfer-Encoding: 8bit\r\n");
    crlf(out);
    /* bounce_original() prepends Return-Path: (cleanup removed the
     * original one). */
    strbuf_puts(out, "Return-Path: <");
    char *snd = masked(nonempty(m->sender) ? m->sender : "MAILER-DAEMON", false);
    dsn_quote_822_local(snd, out);
    free(snd);
    strbuf_puts(out, ">\r\n");
    if (orig->len > 0)
        strbuf_append(out, orig->buf, orig->len);
    putf(out, "\r\n--%s--\r\n", boundary);
}

/* ---- entry point ------------------------------------------------------- */

int dsn_build(const struct dsn_message *m, const struct dsn_params *p, struct strbuf *out)
{
    if (!m || !p || !out || !nonempty(m->queue_id) || !m->sender || !nonempty(p->myhostname) ||
        !nonempty(p->mail_name) || (m->nrcpt && !m->rcpt) || (!m->content && !m->read))
        return -EINVAL;
    for (size_t i = 0; i < m->nrcpt; i++)
        if (!m->rcpt[i].address || !m->rcpt[i].status || !m->rcpt[i].reason)
            return -EINVAL;

    /* The null sender is never notified (it would be a bounce of a
     * bounce); only an explicit postmaster copy goes out. */
    if (m->sender[0] == '\0' && !m->postmaster_to)
        return 0;
    /* Postfix cancels a notice that no recipient asked for. */
    size_t wanted = 0;
    for (size_t i = 0; i < m->nrcpt; i++)
        wanted += wants(&m->rcpt[i], m->kind);
    if (wanted == 0)
        return 0;

    /* Headers only for delay warnings, RET=HDRS, and originals bigger
     * than bounce_size_limit (bounce_original(): never cut a message). */
    bool headers_only = m->kind != DSN_FAILURE || m->ret == DSN_RET_HDRS ||
                        (p->bounce_size_limit > 0 &&
                         (m->content_size == 0 || m->content_size > (size_t)p->bounce_size_limit));
    struct strbuf orig;
    strbuf_init(&orig);
    int rc = load_original(m, headers_only, &orig);
    if (rc < 0) {
        strbuf_free(&orig);
        return rc;
    }

    /* With smtputf8_enable Postfix always says 8bit (addresses and
     * $myhostname may be UTF-8); else the original's BODY= decides. */
    const char *enc = p->smtputf8_enable              ? "8bit"
                      : m->encoding == DSN_ENC_8BIT ? "8bit"
                      : m->encoding == DSN_ENC_7BIT ? "7bit"
                                                    : NULL;
    bool not7bit = enc && strcmp(enc, "7bit") != 0;

    char boundary[DSN_BOUNDARY_MAX];
    make_boundary(m, p, &orig, boundary, sizeof(boundary));
    top_headers(out, m, p, boundary, enc);
    notification(out, m, p, boundary, not7bit);
    delivery_status(out, m, p, boundary, not7bit);
    original_part(out, m, boundary, headers_only, not7bit, &orig);
    strbuf_free(&orig);
    return 1;
}
