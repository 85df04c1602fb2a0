/*
 * received.c - Postfix 3.7's Received: header (smtpd.c data_cmd()).
 *
 * The line breaks are Postfix's own: each out_fprintf() record of
 * data_cmd() is one line, continuation lines start with a TAB, and the
 * TLS details continue the "(using ..." comment on a line that starts
 * with TAB SPACE. tests/peer/postfix_format.py compares this output with
 * headers a real Postfix 3.7 wrote for the same client, HELO, queue id
 * and date.
 *
 * Fields are copied through printable() (helo, names, addresses: what
 * smtpd stores after HELO) and TLS names through comment_sanitize(); the
 * result can hold no CR, LF or other control byte except the eol and TAB
 * we put there. Failure: -ENOSPC / -EINVAL as received.h says.
 */
#include "received.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maillog.h"

struct hdr {
    char *buf;
    size_t size;
    size_t len;
    int full;
};

static void hdr_mem(struct hdr *h, const char *s, size_t n)
{
    if (h->full)
        return;
    if (n >= h->size - h->len) {
        h->full = 1;
        return;
    }
    memcpy(h->buf + h->len, s, n);
    h->len += n;
    h->buf[h->len] = 0;
}

static void hdr_raw(struct hdr *h, const char *s)
{
    hdr_mem(h, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void hdr_fmt(struct hdr *h, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (h->full)
        return;
    va_start(ap, fmt);
    n = vsnprintf(h->buf + h->len, h->size - h->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= h->size - h->len) {
        h->full = 1;
        h->buf[h->len] = 0;
        return;
    }
    h->len += (size_t)n;
}

/* A field from outside: appended, then made printable in place. */
static void hdr_text(struct hdr *h, const char *s)
{
    size_t at = h->len;

    hdr_raw(h, s);
    if (!h->full)
        maillog_printable(h->buf + at);
}

/* comment_sanitize(): no backslash or non-printable ASCII, parentheses
 * balanced, so a certificate name cannot end our comment early. */
static void hdr_comment(struct hdr *h, const char *s)
{
    int depth = 0;

    for (const unsigned char *cp = (const unsigned char *)s; *cp; cp++) {
        char ch = (char)*cp;
        if (*cp >= 0x80 || *cp < 0x20 || *cp == 0x7f || ch == '\\') {
            ch = '?';
        } else if (ch == '(') {
            depth++;
        } else if (ch == ')') {
            if (depth > 0)
                depth--;
            else
                ch = '?';
        }
        hdr_mem(h, &ch, 1);
    }
    while (depth-- > 0)
        hdr_mem(h, ")", 1);
}

static int set(const char *s)
{
    return s != NULL && *s != 0;
}

/* " (curve)" or " (N bits)": how Postfix qualifies kex and signatures. */
static void hdr_strength(struct hdr *h, const char *curve, int bits)
{
    if (set(curve)) {
        hdr_raw(h, " (");
        hdr_comment(h, curve);
        hdr_raw(h, ")");
    } else if (bits > 0) {
        hdr_fmt(h, " (%d bits)", bits);
    }
}

static void hdr_tls(struct hdr *h, const struct received_tls *t, const char *eol)
{
    int cont = 0;

    hdr_raw(h, eol);
    hdr_raw(h, "\t(using ");
    hdr_comment(h, t->protocol ? t->protocol : "");
    hdr_raw(h, " with cipher ");
    hdr_comment(h, t->cipher_name ? t->cipher_name : "");
    hdr_fmt(h, " (%d/%d bits)", t->cipher_usebits, t->cipher_algbits);
    if (set(t->kex_name)) {
        hdr_raw(h, eol);
        hdr_raw(h, "\t key-exchange ");
        hdr_comment(h, t->kex_name);
        hdr_strength(h, t->kex_curve, t->kex_bits);
        cont = 1;
    }
    if (set(t->srvr_sig_name)) {
        if (cont) {
            hdr_raw(h, " server-signature ");
        } else {
            hdr_raw(h, eol);
            hdr_raw(h, "\t server-signature ");
        }
        hdr_comment(h, t->srvr_sig_name);
        hdr_strength(h, t->srvr_sig_curve, t->srvr_sig_bits);
        if (set(t->srvr_sig_dgst)) {
            hdr_raw(h, " server-digest ");
            hdr_comment(h, t->srvr_sig_dgst);
        }
        cont = 1;
    }
    if (set(t->clnt_sig_name)) {
        if (cont) {
            hdr_raw(h, " client-signature ");
        } else {
            hdr_raw(h, eol);
            hdr_raw(h, "\t client-signature ");
        }
        hdr_comment(h, t->clnt_sig_name);
        hdr_strength(h, t->clnt_sig_curve, t->clnt_sig_bits);
        if (set(t->clnt_sig_dgst)) {
            hdr_raw(h, " client-digest ");
            hdr_comment(h, t->clnt_sig_dgst);
        }
    }
    hdr_raw(h, ")");
    hdr_raw(h, eol);
    if (t->peer_cn) {
        hdr_raw(h, "\t(Client CN \"");
        hdr_comment(h, t->peer_cn);
        hdr_raw(h, "\", Issuer \"");
        hdr_comment(h, t->issuer_cn ? t->issuer_cn : "");
        hdr_raw(h, t->peer_trusted ? "\" (verified OK))" : "\" (not verified))");
    } else if (t->ask_ccert) {
        hdr_raw(h, "\t(Client did not present a certificate)");
    } else {
        hdr_raw(h, "\t(No client certificate requested)");
    }
}

int received_date(time_t t, char *buf, size_t size)
{
    struct tm lt;
    size_t n;
    long gmtoff;
    int m;

    if (buf == NULL || size == 0)
        return -EINVAL;
    buf[0] = 0;
    if (localtime_r(&t, &lt) == NULL)
        return -EINVAL;
    n = strftime(buf, size, "%a, %e %b %Y %H:%M:%S ", &lt);
    if (n == 0)
        return -ENOSPC;
    /* mail_date.c's arithmetic, minutes east of UTC: the sign comes from
     * the hour part ("-0330"), as in Postfix. */
    gmtoff = lt.tm_gmtoff / 60;
    m = snprintf(buf + n, size - n, "%+03d%02d", (int)(gmtoff / 60), (int)(labs(gmtoff) % 60));
    if (m < 0 || (size_t)m >= size - n)
        return -ENOSPC;
    n += (size_t)m;
    if (strftime(buf + n, size - n, " (%Z)", &lt) == 0)
        return -ENOSPC;
    return 0;
}

int received_format(const struct received_info *ri, const char *eol, char *buf,
                    size_t size, size_t *len)
{
    struct hdr h = {buf, size, 0, 0};
    char date[80];
    int one;

    if (buf == NULL || size == 0)
        return -EINVAL;
    buf[0] = 0;
    if (ri == NULL || eol == NULL || ri->name == NULL || ri->addr == NULL
        || ri->myhostname == NULL || ri->mail_name == NULL || ri->protocol == NULL)
        return -EINVAL;
    if (received_date(ri->arrival, date, sizeof(date)) != 0)
        return -EINVAL;
    one = ri->rcpt_count == 1 && ri->recipient != NULL;

    hdr_raw(&h, "Received: from ");
    hdr_text(&h, ri->helo ? ri->helo : ri->name);
    hdr_raw(&h, " (");
    hdr_text(&h, ri->name);
    /* smtpd_peer.c: rfc_addr is "IPv6:" + addr for an IPv6 client. */
    hdr_raw(&h, strchr(ri->addr, ':') ? " [IPv6:" : " [");
    hdr_text(&h, ri->addr);
    hdr_raw(&h, "])");
    if (ri->tls)
        hdr_tls(&h, ri->tls, eol);
    hdr_raw(&h, eol);
    hdr_raw(&h, "\tby ");
    hdr_text(&h, ri->myhostname);
    hdr_raw(&h, " (");
    hdr_text(&h, ri->mail_name);
    hdr_raw(&h, ") with ");
    hdr_text(&h, ri->protocol);
    if (ri->queue_id) {
        hdr_raw(&h, " id ");
        hdr_text(&h, ri->queue_id);
    }
    if (one) {
        char *q;
        hdr_raw(&h, eol);
        hdr_raw(&h, "\tfor <");
        q = h.buf + h.len;
        if (!h.full) {
            int r = maillog_quote_addr(q, h.size - h.len, ri->recipient);
            if (r != 0) {
                h.full = 1;
            } else {
                h.len += strlen(q);
                maillog_printable(q);
            }
        }
        hdr_raw(&h, ">; ");
    } else {
        hdr_raw(&h, ";");
        hdr_raw(&h, eol);
        hdr_raw(&h, "\t");
    }
    hdr_raw(&h, date);
    if (h.full) {
        buf[0] = 0;
        return -ENOSPC;
    }
    if (len)
        *len = h.len;
    return 0;
}
