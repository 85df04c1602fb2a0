/*
 * sasl_client.c - SASL PLAIN and LOGIN for the SMTP client (sasl_client.h):
 * option and filter parsing, base64, and the AUTH exchange as a pure step
 * function over complete server replies.
 *
 * What the server sends us is outside input: a 334 challenge is decoded
 * strictly and bounded, a reply of an unexpected kind ends the exchange,
 * and the exchange ends after at most two challenges (LOGIN's two prompts;
 * PLAIN has sent everything with its AUTH command), so no server can keep
 * us answering.
 */
#include "sasl_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- words ------------------------------------------------------------ */

static int is_sep(char c)
{
    return c == ' ' || c == '\t' || c == ',' || c == '\r' || c == '\n';
}

/* Next word of buf from index i: 1 with the word in w and n, 0 at the end. */
static int next_word(const char *buf, size_t len, size_t *i, const char **w, size_t *n)
{
    while (*i < len && is_sep(buf[*i]))
        (*i)++;
    if (*i >= len)
        return 0;
    size_t s = *i;
    while (*i < len && !is_sep(buf[*i]))
        (*i)++;
    *w = buf + s;
    *n = *i - s;
    return 1;
}

static int word_is(const char *w, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(w, name, n) == 0;
}

int sasl_options_parse(const char *buf, size_t len, unsigned *flags, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        unsigned flag;
    } names[] = {
        {"noplaintext", SASL_SEC_NOPLAINTEXT},   {"noactive", SASL_SEC_NOACTIVE},
        {"nodictionary", SASL_SEC_NODICTIONARY}, {"noanonymous", SASL_SEC_NOANONYMOUS},
        {"mutual_auth", SASL_SEC_MUTUAL_AUTH},   {"forward_secrecy", SASL_SEC_FORWARD_SECRECY},
    };
    size_t i = 0, n;
    const char *w;
    *flags = 0;
    while (next_word(buf, len, &i, &w, &n)) {
        size_t k;
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (word_is(w, n, names[k].name))
                break;
        if (k == sizeof(names) / sizeof(names[0])) {
            /* Postfix: "unknown SASL security option", fatal. */
            if (errlen)
                snprintf(err, errlen, "unknown SASL security option \"%.*s\"",
                         (int)(n > 64 ? 64 : n), w);
            return -EINVAL;
        }
        *flags |= names[k].flag;
    }
    return 0;
}

int sasl_filter_parse(const char *buf, size_t len, unsigned *mask, char *err, size_t errlen)
{
    size_t i = 0, n;
    const char *w;
    unsigned yes = 0, no = 0;
    int any = 0;
    (void)err;
    (void)errlen;
    while (next_word(buf, len, &i, &w, &n)) {
        int neg = 0;
        if (n > 0 && w[0] == '!') {
            neg = 1;
            w++;
            n--;
        }
        unsigned m = word_is(w, n, "PLAIN") ? SASL_MECH_PLAIN
                     : word_is(w, n, "LOGIN") ? SASL_MECH_LOGIN
                                               : 0;
        if (neg) {
            no |= m;
        } else {
            yes |= m;
            any = 1;
        }
    }
    /* Postfix's string_list: a "!name" alone leaves nothing matched; the
     * first match wins, so "!PLAIN PLAIN" excludes PLAIN. Empty: no filter. */
    if (!any && !no) {
        *mask = SASL_MECH_ALL;
        return 0;
    }
    *mask = yes & ~no;
    return 0;
}

unsigned sasl_mechs_usable(unsigned offered, unsigned filter, unsigned sec_flags)
{
    unsigned m = offered & filter & SASL_MECH_ALL;
    /* Cyrus: a mechanism is used only if it has every property asked for;
     * PLAIN and LOGIN have only noanonymous. */
    if (sec_flags & (SASL_SEC_NOPLAINTEXT | SASL_SEC_NOACTIVE | SASL_SEC_NODICTIONARY |
                     SASL_SEC_MUTUAL_AUTH | SASL_SEC_FORWARD_SECRECY))
        m &= ~(unsigned)(SASL_MECH_PLAIN | SASL_MECH_LOGIN);
    return m;
}

enum sasl_mech sasl_mech_pick(unsigned usable)
{
    if (usable & SASL_MECH_PLAIN)
        return SASL_MECH_PLAIN;
    if (usable & SASL_MECH_LOGIN)
        return SASL_MECH_LOGIN;
    return SASL_MECH_NONE;
}

const char *sasl_mech_name(enum sasl_mech m)
{
    return m == SASL_MECH_PLAIN ? "PLAIN" : m == SASL_MECH_LOGIN ? "LOGIN" : "none";
}

int sasl_passwd_parse(const char *buf, size_t len, char *user, char *pass)
{
    if (memchr(buf, 0, len))
        return -EINVAL;
    const char *colon = memchr(buf, ':', len);
    size_t ul = colon ? (size_t)(colon - buf) : len;
    size_t pl = colon ? len - ul - 1 : 0;
    if (ul == 0 || ul >= SASL_CRED_MAX || pl >= SASL_CRED_MAX)
        return -EINVAL;
    memcpy(user, buf, ul);
    user[ul] = 0;
    if (pl)
        memcpy(pass, colon + 1, pl);
    pass[pl] = 0;
    return 0;
}

/* ---- base64 ------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sasl_b64_encode(const void *in, size_t len, char *out, size_t cap, size_t *outlen)
{
    const unsigned char *p = in;
    size_t need = (len + 2) / 3 * 4;
    if (cap < need + 1)
        return -ENOSPC;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = 0;
    *outlen = o;
    return 0;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sasl_b64_decode(const char *in, size_t len, void *out, size_t cap, size_t *outlen)
{
    unsigned char *o = out;
    size_t n = 0;
    *outlen = 0;
    if (len % 4 != 0)
        return -EINVAL;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = in[i + (size_t)k];
            if (c == '=') {
                /* Padding: only in the last group, only at its end. */
                if (i + 4 != len || k < 2)
                    return -EINVAL;
                pad++;
                v[k] = 0;
                continue;
            }
            if (pad)
                return -EINVAL;
            if ((v[k] = b64_val(c)) < 0)
                return -EINVAL;
        }
        /* Canonical: the bits dropped by the padding must be zero. */
        if ((pad == 2 && (v[1] & 15)) || (pad == 1 && (v[2] & 3)))
            return -EINVAL;
        unsigned bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
                        (unsigned)v[3];
        size_t take = 3 - (size_t)pad;
        if (n + take > cap)
            return -ENOSPC;
        o[n++] = (unsigned char)(bits >> 16);
        if (take > 1)
            o[n++] = (unsigned char)(bits >> 8);
        if (take > 2)
            o[n++] = (unsigned char)bits;
    }
    *outlen = n;
    return 0;
}

/* ---- the exchange ------------------------------------------------------ */

/* "AUTH MECH b64\r\n" or "b64\r\n" from raw bytes. */
static int line_b64(const char *prefix, const void *raw, size_t rawlen, char *out, size_t *outlen)
{
    size_t pl = strlen(prefix);
    size_t n;
    if (pl >= SASL_LINE_MAX)
        return -ENOSPC;
    memcpy(out, prefix, pl);
    if (sasl_b64_encode(raw, rawlen, out + pl, SASL_LINE_MAX - pl - 2, &n) < 0)
        return -ENOSPC;
    memcpy(out + pl + n, "\r\n", 3);
    *outlen = pl + n + 2;
    return 0;
}

void sasl_client_fail(struct sasl_client *s, const char *server, const char *what)
{
    s->code = 451;
    snprintf(s->dsn, sizeof(s->dsn), "4.7.0");
    snprintf(s->why, sizeof(s->why),
             "SASL authentication failed; cannot authenticate to server %s: %s", server, what);
}

int sasl_client_start(struct sasl_client *s, enum sasl_mech m, const char *user,
                      const char *pass, const char *server, char *out, size_t *outlen)
{
    memset(s, 0, sizeof(*s));
    size_t ul = strlen(user), pl = strlen(pass);
    if (ul >= SASL_CRED_MAX || pl >= SASL_CRED_MAX)
        return -ENOSPC;
    memcpy(s->user, user, ul + 1);
    memcpy(s->pass, pass, pl + 1);
    snprintf(s->server, sizeof(s->server), "%s", server);
    s->mech = m;
    if (m == SASL_MECH_LOGIN) {
        memcpy(out, "AUTH LOGIN\r\n", 13);
        *outlen = 12;
        return 0;
    }
    if (m != SASL_MECH_PLAIN)
        return -EINVAL;
    /* RFC 4616: authzid NUL authcid NUL passwd; no authzid, as Cyrus
     * sends it for Postfix. */
    char raw[2 * SASL_CRED_MAX + 2];
    raw[0] = 0;
    memcpy(raw + 1, user, ul);
    raw[1 + ul] = 0;
    memcpy(raw + 2 + ul, pass, pl);
    int rc = line_b64("AUTH PLAIN ", raw, ul + pl + 2, out, outlen);
    memset(raw, 0, sizeof(raw));
    return rc;
}

/* The reply as Postfix's resp->str shows it in the reason: lines joined
 * with a space, non-printable bytes as '?', bounded. */
static void reply_text(const char *buf, size_t len, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r')
            continue;
        if (c == '\n') {
            if (i + 1 < len)
                dst[o++] = ' ';
            continue;
        }
        dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[o] = 0;
}

enum sasl_step sasl_client_step(struct sasl_client *s, const char *buf, size_t len, int code,
                                char *out, size_t *outlen)
{
    *outlen = 0;
    if (code / 100 == 2) {
        if (code == 235)
            return SASL_STEP_DONE;
        /* A 2xx other than 235 is no success either (RFC 4954 6). */
    }
    if (code / 100 != 3) {
        char text[SASL_WHY_MAX - 200];
        reply_text(buf, len, text, sizeof(text));
        s->code = code / 100 == 5 || code / 100 == 4 ? code : 451;
        /* The DSN of the reply (after "NNN "), else one by class;
         * smtp_sasl_auth_soft_bounce (yes): a 5 becomes a 4, the
         * credentials may be fixed before the client retries. */
        size_t d = 0;
        if (len > 4) {
            const char *t = buf + 4;
            while (d < len - 4 && d < sizeof(s->dsn) - 1 &&
                   ((t[d] >= '0' && t[d] <= '9') || t[d] == '.'))
                d++;
            if (d >= 5 && t[1] == '.' && (t[0] == '4' || t[0] == '5') && t[0] == '0' + code / 100)
                memcpy(s->dsn, t, d);
            else
                d = 0;
        }
        s->dsn[d] = 0;
        if (!d)
            snprintf(s->dsn, sizeof(s->dsn), "4.7.0");
        s->dsn[0] = '4';
        snprintf(s->why, sizeof(s->why), "SASL authentication failed; server %s said: %s",
                 s->server, text);
        return SASL_STEP_FAILED;
    }
    /* 334: the challenge is base64 after "334 " (RFC 4954 4). */
    const char *t = len >= 4 ? buf + 4 : buf + len;
    size_t tl = (size_t)(buf + len - t);
    while (tl > 0 && (t[tl - 1] == '\n' || t[tl - 1] == '\r'))
        tl--;
    char ch[SASL_LINE_MAX];
    size_t chl;
    if ((len >= 4 && buf[3] != ' ') || memchr(t, '\n', tl) ||
        sasl_b64_decode(t, tl, ch, sizeof(ch), &chl) < 0) {
        sasl_client_fail(s, s->server, "malformed SASL challenge from server");
        return SASL_STEP_FAILED;
    }
    memset(ch, 0, sizeof(ch));
    s->step++;
    if (s->mech == SASL_MECH_LOGIN && s->step <= 2) {
        const char *v = s->step == 1 ? s->user : s->pass;
        if (line_b64("", v, strlen(v), out, outlen) < 0) {
            sasl_client_fail(s, s->server, "credentials too long");
            return SASL_STEP_FAILED;
        }
        return SASL_STEP_SEND;
    }
    /* PLAIN sent everything with AUTH; LOGIN has two prompts. A further
     * challenge is a server we do not understand: stop. */
    sasl_client_fail(s, s->server, "authentication protocol loop");
    return SASL_STEP_FAILED;
}

void sasl_client_clear(struct sasl_client *s)
{
    /* volatile: the wipe must not be optimised away. */
    volatile char *u = s->user, *p = s->pass;
    for (size_t i = 0; i < sizeof(s->user); i++)
        u[i] = 0;
    for (size_t i = 0; i < sizeof(s->pass); i++)
        p[i] = 0;
}
