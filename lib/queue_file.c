/*
 * queue_file.c - the queue file codec and its in-place updates (format
 * and rules: queue_file.h).
 *
 * The decoder trusts nothing: lengths are bounded before they are used,
 * every string is checked for NUL/CR/LF, fixed-width records must have
 * their exact width and digits, and the content length must put the
 * trailer exactly at the end of the file. Any failure leaves out empty
 * and says what and at which offset.
 */
#include "queue_file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int id_ok(const char *id, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return 0;
    }
    return n >= 1 && n <= QF_ID_MAX;
}

int qf_id_valid(const char *id)
{
    return id_ok(id, strnlen(id, QF_ID_MAX + 1));
}

/* ---- DSN fields ---- */

static const struct {
    const char *word;
    unsigned bit;
} notify_words[] = {
    {"NEVER", QF_NOTIFY_NEVER},
    {"SUCCESS", QF_NOTIFY_SUCCESS},
    {"FAILURE", QF_NOTIFY_FAILURE},
    {"DELAY", QF_NOTIFY_DELAY},
};

void qf_notify_format(unsigned mask, char out[QF_NOTIFY_TEXT_MAX])
{
    size_t len = 0;
    out[0] = '\0';
    if (mask & QF_NOTIFY_NEVER)
        mask = QF_NOTIFY_NEVER;
    for (size_t i = 0; i < sizeof(notify_words) / sizeof(notify_words[0]); i++) {
        if (!(mask & notify_words[i].bit))
            continue;
        int n = snprintf(out + len, QF_NOTIFY_TEXT_MAX - len, "%s%s", len ? "," : "",
                         notify_words[i].word);
        if (n > 0)
            len += (size_t)n;
    }
}

int qf_notify_parse(const char *s, size_t n)
{
    unsigned mask = 0;
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        size_t k;
        for (k = 0; k < sizeof(notify_words) / sizeof(notify_words[0]); k++)
            if (strlen(notify_words[k].word) == j - i &&
                strncasecmp(s + i, notify_words[k].word, j - i) == 0)
                break;
        if (k == sizeof(notify_words) / sizeof(notify_words[0]) || (mask & notify_words[k].bit))
            return -EINVAL;
        mask |= notify_words[k].bit;
        if (j == n)
            break;
        i = j + 1;
    }
    if ((mask & QF_NOTIFY_NEVER) && mask != QF_NOTIFY_NEVER)
        return -EINVAL;
    return (int)mask;
}

/* What each DSN record may hold, checked by the writer and the reader
 * alike, so a file that decodes means what the runner will act on. */
static int dsn_field_ok(char type, const char *s, size_t n)
{
    switch (type) {
    case 'E': /* smtpd: xtext-decoded, allprint, not empty */
        if (n == 0)
            return 0;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
                return 0;
        return 1;
    case 'V':
        return (n == 4 && (memcmp(s, "FULL", 4) == 0 || memcmp(s, "HDRS", 4) == 0));
    case 'N':
        return qf_notify_parse(s, n) > 0;
    case 'O': { /* "type;address", the type not empty */
        const char *semi = memchr(s, ';', n);
        return semi && semi > s;
    }
    default:
        return 1;
    }
}

/* ---- encoder ---- */

static int state_ok(char s)
{
    return s == QF_PENDING || s == QF_DELIVERED || s == QF_BOUNCED || s == QF_SUCCESS_DUE;
}

static int str_ok(const char *s, size_t n)
{
    if (n > QF_RECORD_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n')
            return 0;
    return 1;
}

static void put_rec(struct strbuf *out, char type, const char *data, size_t n)
{
    char hdr[16];
    int h = snprintf(hdr, sizeof(hdr), "%c%zu:", type, n);
    strbuf_append(out, hdr, (size_t)h);
    strbuf_append(out, data, n);
    strbuf_putc(out, '\n');
}

static int put_str(struct strbuf *out, char type, const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (!str_ok(s, n) || !dsn_field_ok(type, s, n))
        return -EINVAL;
    put_rec(out, type, s, n);
    return 0;
}

void qf_format_length(uint64_t len, char out[QF_LENGTH_LEN + 1])
{
    snprintf(out, QF_LENGTH_LEN + 1, "%020" PRIu64, len);
}

void qf_format_schedule(unsigned attempts, int64_t next, char out[QF_SCHED_LEN + 1])
{
    if (next < 0)
        next = 0;
    if (attempts > 999999999u)
        attempts = 999999999u;
    snprintf(out, QF_SCHED_LEN + 1, "%010u %020" PRId64, attempts, next);
}

void qf_format_status(char state, const char *error, char out[QF_STATUS_LEN + 1])
{
    memset(out, ' ', QF_STATUS_LEN);
    out[QF_STATUS_LEN] = '\0';
    out[0] = state;
    for (size_t i = 0; error && error[i] && i < QF_ERROR_MAX; i++) {
        unsigned char c = (unsigned char)error[i];
        out[2 + i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
}

int qf_encode_head(const struct qf_env *e, struct strbuf *out, size_t *length_off)
{
    size_t start = out->len;
    char num[32];
    int rc = -EINVAL;
    if (!qf_id_valid(e->queue_id) || !e->sender || e->nrcpt == 0)
        goto fail;
    strbuf_append(out, QF_MAGIC, QF_MAGIC_LEN);
    put_rec(out, 'I', e->queue_id, strlen(e->queue_id));
    snprintf(num, sizeof(num), "%" PRId64, e->arrival < 0 ? 0 : e->arrival);
    put_rec(out, 'T', num, strlen(num));
    if (put_str(out, 'S', e->sender) < 0 || put_str(out, 'C', e->client_name) < 0 ||
        put_str(out, 'A', e->client_addr) < 0 || put_str(out, 'H', e->helo) < 0 ||
        put_str(out, 'P', e->proto) < 0 || put_str(out, 'E', e->envid) < 0 ||
        put_str(out, 'V', e->ret) < 0)
        goto fail;
    char sched[QF_SCHED_LEN + 1];
    qf_format_schedule(e->attempts, e->next_attempt, sched);
    put_rec(out, 'W', sched, QF_SCHED_LEN);
    for (unsigned i = 0; i < e->nrcpt; i++) {
        const struct qf_rcpt *r = &e->rcpt[i];
        if (!r->addr || put_str(out, 'O', r->orcpt) < 0 || put_str(out, 'N', r->notify) < 0 ||
            put_str(out, 'R', r->addr) < 0)
            goto fail;
        char st[QF_STATUS_LEN + 1];
        char state = r->state ? r->state : QF_PENDING;
        if (!state_ok(state))
            goto fail;
        qf_format_status(state, r->error, st);
        put_rec(out, 'D', st, QF_STATUS_LEN);
    }
    char len[QF_LENGTH_LEN + 1];
    qf_format_length(e->content_len, len);
    strbuf_append(out, "M20:", 4);
    if (length_off)
        *length_off = out->len - start;
    strbuf_append(out, len, QF_LENGTH_LEN);
    strbuf_putc(out, '\n');
    return 0;
fail:
    out->len = start;
    return rc;
}

static int redirect_ok(const char *s, size_t n)
{
    return n > 0 && n <= QF_REDIRECT_MAX && str_ok(s, n) && memchr(s, '@', n) != NULL;
}

int qf_encode_tail(const char *redirect, struct strbuf *out)
{
    if (redirect) {
        size_t n = strlen(redirect);
        if (!redirect_ok(redirect, n))
            return -EINVAL;
        put_rec(out, 'G', redirect, n);
    }
    strbuf_append(out, QF_TRAILER, QF_TRAILER_LEN);
    return 0;
}

/* ---- decoder ---- */

struct cursor {
    const char *buf;
    size_t len, pos;
    uint64_t file_size;
    struct qf_error *err;
};

static enum qf_result bad(struct cursor *c, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum qf_result bad(struct cursor *c, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    c->err->offset = off;
    va_start(ap, fmt);
    vsnprintf(c->err->what, sizeof(c->err->what), fmt, ap);
    va_end(ap);
    return QF_BAD;
}

/* Past the end of buf: more to read, or the file ends there. */
static enum qf_result short_or_truncated(struct cursor *c, const char *what)
{
    if (c->len < c->file_size)
        return QF_SHORT;
    return bad(c, c->len, "truncated in %s", what);
}

struct rec {
    char type;
    const char *data;
    size_t len;
    uint64_t off; /* of the data */
};

static enum qf_result next_rec(struct cursor *c, struct rec *r)
{
    size_t p = c->pos;
    if (p >= c->len)
        return short_or_truncated(c, "record header");
    r->type = c->buf[p++];
    if (!(r->type >= 'A' && r->type <= 'Z'))
        return bad(c, c->pos, "bad record type 0x%02x", (unsigned char)r->type);
    size_t n = 0, digits = 0;
    for (;;) {
        if (p >= c->len)
            return short_or_truncated(c, "record header");
        char ch = c->buf[p];
        if (ch == ':')
            break;
        /* One spelling per length (no leading zero), so that a decoded
         * envelope encodes back to the same offsets. */
        if (ch < '0' || ch > '9' || digits == 9 || (digits == 1 && n == 0))
            return bad(c, p, "record %c: bad length", r->type);
        n = n * 10 + (size_t)(ch - '0');
        digits++;
        p++;
    }
    if (digits == 0)
        return bad(c, p, "record %c: bad length", r->type);
    p++; /* ':' */
    if (n > QF_RECORD_MAX)
        return bad(c, c->pos, "record %c: length %zu over %d", r->type, n, QF_RECORD_MAX);
    if (c->len - p < n + 1)
        return short_or_truncated(c, "record data");
    if (c->buf[p + n] != '\n')
        return bad(c, p + n, "record %c: no newline after %zu bytes", r->type, n);
    r->data = c->buf + p;
    r->len = n;
    r->off = p;
    c->pos = p + n + 1;
    return QF_OK;
}

static int digits_only(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static uint64_t parse_u64(const char *s, size_t n, int *overflow)
{
    uint64_t v = 0;
    *overflow = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            *overflow = 1;
        v = v * 10 + d;
    }
    return v;
}

static enum qf_result take_str(struct cursor *c, const struct rec *r, char **dst)
{
    if (*dst)
        return bad(c, r->off - 1, "record %c: more than once", r->type);
    if (!str_ok(r->data, r->len))
        return bad(c, r->off, "record %c: NUL, CR or LF in text", r->type);
    if (!dsn_field_ok(r->type, r->data, r->len))
        return bad(c, r->off, "record %c: not a valid DSN value", r->type);
    *dst = xstrndup(r->data, r->len);
    return QF_OK;
}

static enum qf_result take_int(struct cursor *c, const struct rec *r, int64_t max,
                               int64_t *out)
{
    int of;
    if (!digits_only(r->data, r->len) || r->len > 20)
        return bad(c, r->off, "record %c: not a number", r->type);
    uint64_t v = parse_u64(r->data, r->len, &of);
    if (of || v > (uint64_t)max)
        return bad(c, r->off, "record %c: number out of range", r->type);
    *out = (int64_t)v;
    return QF_OK;
}

static enum qf_result take_schedule(struct cursor *c, const struct rec *r, struct qf_env *e)
{
    int64_t a, n;
    if (r->len != QF_SCHED_LEN || r->data[10] != ' ')
        return bad(c, r->off, "record W: expected %d bytes \"attempts next\"", QF_SCHED_LEN);
    struct rec ra = {'W', r->data, 10, r->off}, rn = {'W', r->data + 11, 20, r->off + 11};
    enum qf_result q;
    if ((q = take_int(c, &ra, 999999999, &a)) != QF_OK ||
        (q = take_int(c, &rn, INT64_MAX, &n)) != QF_OK)
        return q;
    e->attempts = (unsigned)a;
    e->next_attempt = n;
    e->sched_off = r->off;
    return QF_OK;
}

static enum qf_result take_status(struct cursor *c, const struct rec *r, struct qf_rcpt *rc)
{
    if (r->len != QF_STATUS_LEN)
        return bad(c, r->off, "record D: expected %d bytes, got %zu", QF_STATUS_LEN, r->len);
    char s = r->data[0];
    if (!state_ok(s) || r->data[1] != ' ')
        return bad(c, r->off, "record D: bad recipient state 0x%02x", (unsigned char)s);
    if (!str_ok(r->data, r->len))
        return bad(c, r->off, "record D: NUL, CR or LF in text");
    size_t n = QF_ERROR_MAX;
    while (n > 0 && r->data[2 + n - 1] == ' ')
        n--;
    memcpy(rc->error, r->data + 2, n);
    rc->error[n] = '\0';
    rc->state = s;
    rc->status_off = r->off;
    return QF_OK;
}

static void env_free_parts(struct qf_env *e)
{
    free(e->sender);
    free(e->client_name);
    free(e->client_addr);
    free(e->helo);
    free(e->proto);
    free(e->envid);
    free(e->ret);
    free(e->redirect);
    for (unsigned i = 0; i < e->nrcpt; i++) {
        free(e->rcpt[i].addr);
        free(e->rcpt[i].orig_addr);
        free(e->rcpt[i].orcpt);
        free(e->rcpt[i].notify);
    }
    free(e->rcpt);
    memset(e, 0, sizeof(*e));
}

void qf_env_free(struct qf_env *e)
{
    if (e)
        env_free_parts(e);
}

/* The records between the queue id and M; 1 when M was read. */
static enum qf_result decode_body(struct cursor *c, struct qf_env *e)
{
    struct rec r;
    enum qf_result q;
    int have_t = 0, have_w = 0;
    char *orcpt = NULL, *notify = NULL;
    unsigned cap = 0;
    for (;;) {
        if ((q = next_rec(c, &r)) != QF_OK)
            goto out;
        q = QF_OK;
        if ((orcpt || notify) && r.type != 'O' && r.type != 'N' && r.type != 'R') {
            q = bad(c, r.off - 1, "record %c: ORCPT/NOTIFY not followed by a recipient",
                    r.type);
            goto out;
        }
        switch (r.type) {
        case 'T':
            if (have_t++) {
                q = bad(c, r.off - 1, "record T: more than once");
                break;
            }
            if (r.len > 1 && r.data[0] == '0') /* one spelling, as for lengths */
                q = bad(c, r.off, "record T: not a number");
            else
                q = take_int(c, &r, INT64_MAX, &e->arrival);
            break;
        case 'S': q = take_str(c, &r, &e->sender); break;
        case 'C': q = take_str(c, &r, &e->client_name); break;
        case 'A': q = take_str(c, &r, &e->client_addr); break;
        case 'H': q = take_str(c, &r, &e->helo); break;
        case 'P': q = take_str(c, &r, &e->proto); break;
        case 'E': q = take_str(c, &r, &e->envid); break;
        case 'V': q = take_str(c, &r, &e->ret); break;
        case 'W':
            if (have_w++) {
                q = bad(c, r.off - 1, "record W: more than once");
                break;
            }
            q = take_schedule(c, &r, e);
            break;
        case 'O': q = take_str(c, &r, &orcpt); break;
        case 'N': q = take_str(c, &r, &notify); break;
        case 'R': {
            if (e->nrcpt == cap) {
                cap = cap ? cap * 2 : 8;
                e->rcpt = xrealloc(e->rcpt, cap * sizeof(*e->rcpt));
            }
            struct qf_rcpt *rc = &e->rcpt[e->nrcpt];
            memset(rc, 0, sizeof(*rc));
            e->nrcpt++; /* owned from here on, even if the rest fails */
            rc->orcpt = orcpt;
            rc->notify = notify;
            orcpt = notify = NULL;
            if ((q = take_str(c, &r, &rc->addr)) != QF_OK)
                break;
            struct rec d;
            if ((q = next_rec(c, &d)) != QF_OK)
                break;
            if (d.type != 'D') {
                q = bad(c, d.off - 1, "recipient %u: record %c where its state D belongs",
                        e->nrcpt, d.type);
                break;
            }
            q = take_status(c, &d, rc);
            break;
        }
        case 'M':
            if (r.len != QF_LENGTH_LEN || !digits_only(r.data, r.len)) {
                q = bad(c, r.off, "record M: expected %d digits", QF_LENGTH_LEN);
                goto out;
            }
            int of;
            e->content_len = parse_u64(r.data, r.len, &of);
            e->length_off = r.off;
            e->content_off = c->pos;
            if (of) {
                q = bad(c, r.off, "record M: number out of range");
                goto out;
            }
            if (!e->sender)
                q = bad(c, r.off - 1, "no sender (S record)");
            else if (!have_t)
                q = bad(c, r.off - 1, "no arrival time (T record)");
            else if (!have_w)
                q = bad(c, r.off - 1, "no schedule (W record)");
            else if (e->nrcpt == 0)
                q = bad(c, r.off - 1, "no recipient");
            goto out;
        case 'I':
            q = bad(c, r.off - 1, "record I: more than once");
            break;
        default:
            q = bad(c, r.off - 1, "unknown record type %c", r.type);
            break;
        }
        if (q != QF_OK)
            goto out;
    }
out:
    free(orcpt);
    free(notify);
    return q;
}

enum qf_result qf_decode(const char *buf, size_t len, uint64_t file_size, struct qf_env *out,
                         struct qf_error *err)
{
    struct qf_error dummy;
    struct cursor c = {buf, len, 0, file_size, err ? err : &dummy};
    struct rec r;
    enum qf_result q;
    memset(out, 0, sizeof(*out));
    c.err->offset = 0;
    c.err->what[0] = '\0';
    if (len > file_size)
        return bad(&c, 0, "buffer longer than the file");
    if (len < QF_MAGIC_LEN) {
        if (memcmp(buf, QF_MAGIC, len) != 0)
            return bad(&c, 0, "not a queue file (bad magic)");
        return short_or_truncated(&c, "magic");
    }
    if (memcmp(buf, QF_MAGIC, QF_MAGIC_LEN) != 0)
        return bad(&c, 0, "not a queue file (bad magic)");
    c.pos = QF_MAGIC_LEN;
    if ((q = next_rec(&c, &r)) != QF_OK)
        return q;
    if (r.type != 'I')
        return bad(&c, QF_MAGIC_LEN, "first record is not a queue id");
    if (!id_ok(r.data, r.len))
        return bad(&c, r.off, "bad queue id");
    memcpy(out->queue_id, r.data, r.len);
    out->queue_id[r.len] = '\0';
    q = decode_body(&c, out);
    if (q != QF_OK)
        goto fail;
    /* Content by position; the tail by its size, its records when in buf. */
    uint64_t end = out->content_off + out->content_len;
    out->tail_off = end;
    if (end < out->content_off || end > file_size || file_size - end < QF_TRAILER_LEN) {
        q = bad(&c, out->content_off, "truncated: content of %" PRIu64
                                      " bytes and trailer do not fit the file (%" PRIu64
                                      " bytes)",
                out->content_len, file_size);
        goto fail;
    }
    if (file_size - end > QF_TAIL_MAX) {
        q = bad(&c, end, "%" PRIu64 " bytes after the content where the trailer belongs",
                file_size - end);
        goto fail;
    }
    if (len == file_size && (q = qf_decode_tail(buf + end, (size_t)(len - end), out, c.err))
                                != QF_OK)
        goto fail;
    return QF_OK;
fail:
    env_free_parts(out);
    return q;
}

enum qf_result qf_decode_tail(const char *buf, size_t len, struct qf_env *e,
                              struct qf_error *err)
{
    struct qf_error dummy;
    struct cursor c = {buf, len, 0, len, err ? err : &dummy};
    struct rec r;
    char *rdr = NULL;
    enum qf_result q;
    for (;;) {
        size_t at = c.pos;
        if ((q = next_rec(&c, &r)) != QF_OK) {
            /* say where in the file, and that it is the tail */
            c.err->offset += e->tail_off;
            if (at < len && buf[at] == 'X')
                snprintf(c.err->what, sizeof(c.err->what),
                         "no trailer after the content (file not complete)");
            else if (strlen(c.err->what) < sizeof(c.err->what) - 20)
                strcat(c.err->what, " after the content");
            free(rdr);
            return QF_BAD;
        }
        if (r.type == 'X' && r.len == 0 && c.pos == len)
            break;
        if (r.type == 'G' && !rdr && redirect_ok(r.data, r.len)) {
            rdr = xstrndup(r.data, r.len);
            continue;
        }
        free(rdr);
        c.err->offset = e->tail_off + at;
        snprintf(c.err->what, sizeof(c.err->what),
                 r.type == 'X'   ? "no trailer after the content (file not complete)"
                 : r.type == 'G' ? "record G: not one user@domain after the content"
                                 : "record %c after the content where the trailer belongs",
                 r.type);
        return QF_BAD;
    }
    free(e->redirect);
    e->redirect = rdr;
    return QF_OK;
}

/* qmgr_message_sort_compare() before the recipients are resolved (no
 * queue yet): domain then address. */
static int sort_cmp(const char *a, const char *b)
{
    const char *at1 = strrchr(a, '@'), *at2 = strrchr(b, '@');
    if (!at1 && at2)
        return 1;
    if (at1 && !at2)
        return -1;
    int r;
    if (at1 && at2 && (r = strcasecmp(at1, at2)) != 0)
        return r;
    return strcmp(a, b);
}

int qf_redirect_pick(const struct qf_env *e)
{
    int best = -1;
    for (unsigned i = 0; i < e->nrcpt; i++)
        if (e->rcpt[i].state == QF_PENDING &&
            (best < 0 || sort_cmp(e->rcpt[i].addr, e->rcpt[best].addr) < 0))
            best = (int)i;
    return best;
}

int qf_redirect_apply(struct qf_env *e)
{
    int k = e->redirect ? qf_redirect_pick(e) : -1;
    if (k < 0)
        return -1;
    for (unsigned i = 0; i < e->nrcpt; i++)
        if (i != (unsigned)k && e->rcpt[i].state == QF_PENDING)
            e->rcpt[i].state = QF_DELIVERED;
    struct qf_rcpt *r = &e->rcpt[k];
    if (!r->orig_addr) {
        r->orig_addr = r->addr;
        r->addr = xstrdup(e->redirect);
    }
    return k;
}

unsigned qf_pending(const struct qf_env *e)
{
    unsigned n = 0;
    for (unsigned i = 0; i < e->nrcpt; i++)
        n += e->rcpt[i].state == QF_PENDING;
    return n;
}

/* ---- blocking file operations ---- */

/* The envelope is decoded from the head: now the few bytes after the
 * content (qf_decode checked their size). */
static int read_tail(int fd, struct qf_env *out, uint64_t fsize, struct qf_error *err)
{
    char tail[QF_TAIL_MAX];
    size_t want = (size_t)(fsize - out->tail_off), got = 0;
    int rc = 0;
    while (got < want) {
        ssize_t n = pread(fd, tail + got, want - got, (off_t)(out->tail_off + got));
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (rc == 0 && qf_decode_tail(tail, got, out, err) != QF_OK)
        rc = -EBADMSG;
    if (rc < 0)
        qf_env_free(out);
    return rc;
}

int qf_read_envelope(int fd, struct qf_env *out, struct qf_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    uint64_t size = (uint64_t)st.st_size;
    size_t cap = 8192;
    char *buf = NULL;
    for (;;) {
        size_t want = size < cap ? (size_t)size : cap;
        buf = xrealloc(buf, want ? want : 1);
        size_t got = 0;
        while (got < want) {
            ssize_t n = pread(fd, buf + got, want - got, (off_t)got);
            if (n < 0) {
                int e = errno;
                free(buf);
                return -e;
            }
            if (n == 0)
                break;
            got += (size_t)n;
        }
        uint64_t fsize = got < want ? got : size;
        enum qf_result q = qf_decode(buf, got, fsize, out, err);
        if (q == QF_SHORT && cap < 64u * 1024 * 1024) {
            cap *= 4;
            continue;
        }
        free(buf);
        if (q == QF_OK && got < fsize)
            return read_tail(fd, out, fsize, err);
        if (q == QF_OK)
            return 0;
        if (q == QF_SHORT && err) {
            err->offset = got;
            snprintf(err->what, sizeof(err->what), "envelope over 64 MiB");
        }
        return -EBADMSG;
    }
}

static int pwrite_all(int fd, const char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int qf_mark(int fd, struct qf_env *e, unsigned i, char state, const char *error)
{
    if (i >= e->nrcpt || !state_ok(state))
        return -EINVAL;
    char st[QF_STATUS_LEN + 1];
    qf_format_status(state, error, st);
    int rc = pwrite_all(fd, st, QF_STATUS_LEN, e->rcpt[i].status_off);
    if (rc < 0)
        return rc;
    e->rcpt[i].state = state;
    memcpy(e->rcpt[i].error, st + 2, QF_ERROR_MAX);
    size_t n = QF_ERROR_MAX;
    while (n > 0 && e->rcpt[i].error[n - 1] == ' ')
        n--;
    e->rcpt[i].error[n] = '\0';
    return 0;
}

int qf_set_schedule(int fd, struct qf_env *e, unsigned attempts, int64_t next)
{
    char s[QF_SCHED_LEN + 1];
    qf_format_schedule(attempts, next, s);
    int rc = pwrite_all(fd, s, QF_SCHED_LEN, e->sched_off);
    if (rc < 0)
        return rc;
    e->attempts = attempts;
    e->next_attempt = next < 0 ? 0 : next;
    return 0;
}
