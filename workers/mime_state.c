/*
 * mime_state.c - cut streamed message bytes into Postfix's records and run
 * them through a port of Postfix's MIME state machine, calling back with
 * the units that cleanup(8) gives header_checks, mime_header_checks,
 * nested_header_checks and body_checks. See mime_state.h for the rules.
 *
 * Two layers:
 *  - records: smtpd's DATA loop, smtp_get() with line_length_limit as the
 *    bound, the From_ and leading-white-space first-line fixes and, with
 *    MIME_OPT_DOT_STUFFED, the dot removal. Bytes are copied into one
 *    line-sized buffer; a record is handed on as soon as it is complete.
 *  - mime_update(): mime_state_update() for REC_TYPE_NORM/CONT records and
 *    the end of the message, with cleanup_header_callback()'s choice of
 *    check table and cleanup_body_callback()'s body_checks_size_limit.
 *
 * No allocation after mime_state_create(); nothing here fails.
 */
#include "mime_state_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Postfix's state names; header states double as sections. */
#define ST_PRIMARY MIME_SECT_PRIMARY
#define ST_MULTIPART MIME_SECT_MULTIPART
#define ST_NESTED MIME_SECT_NESTED
#define ST_BODY MIME_SECT_BODY

#define XMAILBOX "X-Mailbox-Line: "
#define XMAILBOX_LEN (sizeof(XMAILBOX) - 1)

void mime_limits_default(struct mime_limits *lim)
{
    lim->header_size_limit = MIME_DEF_HEADER_SIZE_LIMIT;
    lim->line_length_limit = MIME_DEF_LINE_LENGTH_LIMIT;
    lim->nesting_limit = MIME_DEF_NESTING_LIMIT;
    lim->boundary_length_limit = MIME_DEF_BOUNDARY_LENGTH_LIMIT;
    lim->body_checks_size_limit = MIME_DEF_BODY_CHECKS_SIZE_LIMIT;
}

int mime_state_create(const struct mime_limits *lim, unsigned opts, mime_unit_fn fn, void *ctx,
                      struct mime_state **out)
{
    /* Caps keep the buffer arithmetic below far from overflow. */
    if (!lim || !fn || lim->header_size_limit < 1 || lim->header_size_limit > (1u << 30) ||
        lim->line_length_limit < 1 || lim->line_length_limit > (1u << 24) ||
        lim->boundary_length_limit < 1 || lim->boundary_length_limit > (1u << 24) ||
        lim->nesting_limit > 100000 ||
        (size_t)(lim->nesting_limit + 1) * lim->boundary_length_limit > (1u << 30))
        return -EINVAL;
    struct mime_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->lim = *lim;
    st->opts = opts;
    st->fn = fn;
    st->ctx = ctx;
    /*
     * A header keeps growing while shorter than the limit, by a newline and
     * one whole record (at most a line plus the X-Mailbox-Line prefix).
     */
    size_t rec_max = lim->line_length_limit + XMAILBOX_LEN;
    st->hdr_cap = lim->header_size_limit + 1 + rec_max;
    st->tok_cap = lim->boundary_length_limit < 32 ? 32 : lim->boundary_length_limit;
    st->rec = malloc(rec_max + 1);
    st->hdr = malloc(st->hdr_cap + 1);
    st->stack = calloc((size_t)lim->nesting_limit + 1, sizeof(*st->stack));
    /* Touched only as deep as a message nests: pages stay unmapped. */
    st->arena = malloc(((size_t)lim->nesting_limit + 1) * lim->boundary_length_limit);
    char *toks = malloc(MIME_MAX_TOKEN * st->tok_cap);
    if (!st->rec || !st->hdr || !st->stack || !st->arena || !toks) {
        free(toks);
        mime_state_free(st);
        return -ENOMEM;
    }
    for (int i = 0; i < MIME_MAX_TOKEN; i++)
        st->tok[i].val = toks + (size_t)i * st->tok_cap;
    mime_state_reset(st);
    *out = st;
    return 0;
}

void mime_state_free(struct mime_state *st)
{
    if (!st)
        return;
    free(st->tok[0].val);
    free(st->rec);
    free(st->hdr);
    free(st->stack);
    free(st->arena);
    free(st);
}

static void set_state(struct mime_state *st, int state, int ctype, int stype, int enc, int dom)
{
    st->curr_state = state;
    st->curr_ctype = ctype;
    st->curr_stype = stype;
    st->curr_encoding = enc;
    st->curr_domain = dom;
    if (state == ST_BODY)
        st->body_offset = 0;
}

/* SET_CURR_STATE(): entering the body starts a new body segment. */
static void set_curr_state(struct mime_state *st, int state)
{
    st->curr_state = state;
    if (state == ST_BODY)
        st->body_offset = 0;
}

void mime_state_reset(struct mime_state *st)
{
    st->rec_len = 0;
    st->cr_wait = 0;
    st->smtpd_prev = 0;
    st->first = 1;
    st->prev_rec_type = 0;
    st->err_flags = 0;
    st->body_offset = 0;
    st->hdr_len = 0;
    st->hdr_trunc = 0;
    st->depth = 0;
    set_state(st, ST_PRIMARY, CTYPE_TEXT, STYPE_PLAIN, ENC_7BIT, ENC_7BIT);
}

unsigned mime_state_errors(const struct mime_state *st)
{
    return st->err_flags;
}

/* vstring_strncat(): append up to len bytes, stopping at a NUL. */
static void hdr_cat(struct mime_state *st, const char *text, size_t len)
{
    const char *nul = memchr(text, 0, len);
    if (nul)
        len = (size_t)(nul - text);
    if (len > st->hdr_cap - st->hdr_len) /* only the server's own long lines */
        len = st->hdr_cap - st->hdr_len;
    memcpy(st->hdr + st->hdr_len, text, len);
    st->hdr_len += len;
    st->hdr[st->hdr_len] = '\0';
}

static void head_out(struct mime_state *st)
{
    int kind = mime_header_kind(st->hdr, st->hdr_len);
    struct mime_unit u = {0};
    /* cleanup_header_callback(): MIME headers go to mime_header_checks
     * wherever they are; part headers after a boundary are MIME headers. */
    if (kind != HDR_OTHER || st->curr_state == ST_MULTIPART)
        u.cls = MIME_CLASS_MIME_HEADER;
    else if (st->curr_state == ST_NESTED)
        u.cls = MIME_CLASS_NESTED_HEADER;
    else
        u.cls = MIME_CLASS_HEADER;
    u.section = (enum mime_section)st->curr_state;
    u.flags = st->hdr_trunc ? MIME_UNIT_TRUNCATED : 0;
    u.text = st->hdr;
    u.len = st->hdr_len;
    st->fn(st->ctx, &u);
}

static void body_out(struct mime_state *st, int rec_type, const char *text, size_t len,
                     unsigned flags)
{
    const char *nul = memchr(text, 0, len);
    struct mime_unit u = {0};
    u.cls = MIME_CLASS_BODY;
    u.section = MIME_SECT_BODY;
    u.flags = flags | (rec_type == REC_CONT ? MIME_UNIT_CONT : 0);
    if (st->lim.body_checks_size_limit && st->body_offset >= st->lim.body_checks_size_limit)
        u.flags |= MIME_UNIT_UNCHECKED;
    u.text = text;
    u.len = nul ? (size_t)(nul - text) : len;
    u.raw_len = len;
    u.offset = st->body_offset;
    st->body_offset += len + 1;
    st->fn(st->ctx, &u);
}

static void hdr_append_or_truncate(struct mime_state *st, int newline, const char *text,
                                   size_t len)
{
    if (st->hdr_len < st->lim.header_size_limit) {
        if (newline)
            hdr_cat(st, "\n", 1);
        hdr_cat(st, text, len);
    } else {
        st->hdr_trunc = 1;
        st->err_flags |= MIME_ERR_TRUNC_HEADER;
    }
}

/* The saved header is complete: look at it, then hand it out. */
static void head_flush(struct mime_state *st)
{
    int kind = mime_header_kind(st->hdr, st->hdr_len);
    size_t name_len = (size_t)((char *)memchr(st->hdr, ':', st->hdr_len) - st->hdr);
    if (!(st->opts & MIME_OPT_DISABLE_MIME)) {
        if (kind == HDR_CONTENT_TYPE)
            mime_content_type(st, name_len);
        if (kind == HDR_CONTENT_TRANSFER_ENCODING)
            mime_content_encoding(st, name_len);
    }
    for (size_t i = 0; i < st->hdr_len; i++) {
        if ((unsigned char)st->hdr[i] & 0x80) {
            st->err_flags |= MIME_ERR_8BIT_IN_HEADER;
            break;
        }
    }
    head_out(st);
    st->prev_rec_type = 0;
    st->hdr_len = 0;
    st->hdr_trunc = 0;
}

static void header_end(struct mime_state *st)
{
    struct mime_unit u = {0};
    u.cls = MIME_CLASS_HEADER_END;
    u.section = MIME_SECT_PRIMARY;
    u.text = "";
    st->fn(st->ctx, &u);
}

/* The end of a header block: was the encoding right for message/multipart? */
static void check_domain(struct mime_state *st)
{
    if (st->curr_ctype == CTYPE_MESSAGE) {
        if (st->curr_stype == STYPE_PARTIAL || st->curr_stype == STYPE_EXTERN_BODY) {
            if (st->curr_domain != ENC_7BIT)
                st->err_flags |= MIME_ERR_ENCODING_DOMAIN;
        } else if (st->curr_stype == STYPE_RFC822) { /* message/global may encode */
            if (st->curr_encoding != st->curr_domain)
                st->err_flags |= MIME_ERR_ENCODING_DOMAIN;
        }
    } else if (st->curr_ctype == CTYPE_MULTIPART) {
        if (st->curr_encoding != st->curr_domain)
            st->err_flags |= MIME_ERR_ENCODING_DOMAIN;
    }
}

/* A body line: maybe a boundary; then out it goes. */
static void body_line(struct mime_state *st, int rec_type, const char *text, size_t len)
{
    unsigned flags = 0;
    if (st->curr_encoding == ENC_7BIT && !(st->err_flags & MIME_ERR_8BIT_IN_7BIT_BODY)) {
        for (size_t i = 0; i < len; i++) {
            if ((unsigned char)text[i] & 0x80) {
                st->err_flags |= MIME_ERR_8BIT_IN_7BIT_BODY;
                break;
            }
        }
    }
    /* Innermost boundary first; matching an outer one closes the inner
     * ones. Trailing text after the boundary is ignored, as in Postfix:
     * the stored boundary may have been truncated anyway. */
    if (st->depth > 0 && st->prev_rec_type != REC_CONT && len > 2 && text[0] == '-' &&
        text[1] == '-') {
        for (unsigned i = st->depth; i-- > 0;) {
            const struct mime_bound *b = &st->stack[i];
            if (len >= 2 + b->len && memcmp(text + 2, st->arena + b->off, b->len) == 0) {
                st->depth = i + 1;
                if (len >= 4 + b->len && memcmp(text + 2 + b->len, "--", 2) == 0) {
                    st->depth = i;
                    set_state(st, ST_BODY, CTYPE_OTHER, STYPE_OTHER, ENC_7BIT, ENC_7BIT);
                    flags = MIME_UNIT_BOUNDARY_END;
                } else {
                    set_state(st, ST_MULTIPART, b->def_ctype, b->def_stype, ENC_7BIT, ENC_7BIT);
                    flags = MIME_UNIT_BOUNDARY;
                }
                break;
            }
        }
    }
    body_out(st, rec_type, text, len, flags);
}

/* mime_state_update(): one record, or the end of the message (REC_END). */
static void mime_update(struct mime_state *st, int rec_type, const char *text, size_t len)
{
    int is_text = rec_type == REC_NORM || rec_type == REC_CONT;

    if (!is_text && st->prev_rec_type == REC_CONT)
        mime_update(st, REC_NORM, "", 0);

    if (st->curr_state != ST_BODY) {
        if (st->hdr_len > 0) {
            if (is_text && st->prev_rec_type == REC_CONT) {
                hdr_append_or_truncate(st, 0, text, len);
                st->prev_rec_type = rec_type;
                return;
            }
            if (is_text && len > 0 && (text[0] == ' ' || text[0] == '\t')) {
                hdr_append_or_truncate(st, 1, text, len);
                st->prev_rec_type = rec_type;
                return;
            }
            head_flush(st);
        }
        if (is_text) {
            size_t name_len = mime_is_header(text, len);
            if (name_len > 0) { /* "Name :" becomes "Name:" */
                size_t i = name_len;
                st->hdr_len = 0;
                hdr_cat(st, text, name_len);
                while (i < len && (text[i] == ' ' || text[i] == '\t'))
                    i++;
                hdr_cat(st, text + i, len - i);
                st->prev_rec_type = rec_type;
                return;
            }
        }
        /* This record ends a header block. */
        if (st->curr_state == ST_PRIMARY)
            header_end(st);
        check_domain(st);
        if (is_text) {
            if (len == 0) {
                st->body_offset = 0;
                if (st->curr_ctype == CTYPE_MESSAGE) {
                    if (st->curr_stype == STYPE_RFC822)
                        set_state(st, ST_NESTED, CTYPE_TEXT, STYPE_PLAIN, ENC_7BIT, ENC_7BIT);
                    else
                        set_curr_state(st, ST_BODY);
                } else if (st->curr_ctype == CTYPE_MULTIPART) {
                    set_state(st, ST_BODY, CTYPE_OTHER, STYPE_OTHER, ENC_7BIT, ENC_7BIT);
                } else {
                    set_curr_state(st, ST_BODY);
                }
            } else {
                /* Not a header: the body starts here. Postfix inserts the
                 * missing empty line only after the primary headers. */
                if (st->curr_state == ST_PRIMARY)
                    body_out(st, REC_NORM, "", 0, 0);
                set_curr_state(st, ST_BODY);
            }
        } else {
            set_curr_state(st, ST_BODY);
        }
    }
    /* Body text (also the record that ended a header block). */
    if (is_text)
        body_line(st, rec_type, text, len);
    st->prev_rec_type = rec_type;
}

/* smtpd's DATA loop body for one record held in st->rec. */
static void record_out(struct mime_state *st, int type)
{
    char *start = st->rec;
    size_t len = st->rec_len;
    st->rec_len = 0;
    if (st->first) {
        /* strspn/strncmp: text up to a NUL byte. */
        size_t n = strnlen(start, len), gt = 0;
        while (gt < n && start[gt] == '>')
            gt++;
        if (n - gt >= 5 && memcmp(start + gt, "From ", 5) == 0) {
            memmove(start + XMAILBOX_LEN, start, n);
            memcpy(start, XMAILBOX, XMAILBOX_LEN);
            mime_update(st, type, start, n + XMAILBOX_LEN);
            st->smtpd_prev = type;
            return;
        }
        st->first = 0;
        if (len > 0 && (start[0] == ' ' || start[0] == '\t'))
            mime_update(st, REC_NORM, "", 0);
    }
    if ((st->opts & MIME_OPT_DOT_STUFFED) && st->smtpd_prev != REC_CONT && len > 0 &&
        start[0] == '.') {
        start++;
        len--;
    }
    mime_update(st, type, start, len);
    st->smtpd_prev = type;
}

/*
 * smtp_get(): LF ends the record. Without bare-LF detection every CR just
 * before it goes too (global/smtp_stream.c, smtp_get_noexcept(): "while
 * (VSTRING_LEN(vp) > 0 && vstring_end(vp)[-1] == '\r') vstring_truncate").
 * With smtpd_forbid_bare_newline = normalize/yes/reject Postfix 3.7.11
 * removes exactly one CR, the rest stay data: "x\r\r\r\n" reaches its next
 * hop as "x  ", ".\r\r\n" as " " (tests/peer/message_peer.py, case crs).
 * The 3.7.11 smtp_stream.c text was not at hand; the December 2023 first
 * fix there (smtp_forbid_bare_lf) still removed every CR, so this is the
 * later (3.7.10, January 2024) bare-LF detection rework, seen, not read.
 */
static void record_line_end(struct mime_state *st)
{
    if (st->opts & MIME_OPT_STRIP_ONE_CR) {
        if (st->rec_len > 0 && st->rec[st->rec_len - 1] == '\r')
            st->rec_len--;
    } else {
        while (st->rec_len > 0 && st->rec[st->rec_len - 1] == '\r')
            st->rec_len--;
    }
    record_out(st, REC_NORM);
}

unsigned mime_state_feed(struct mime_state *st, const char *buf, size_t len)
{
    size_t limit = st->lim.line_length_limit;
    while (len > 0) {
        if (st->cr_wait) {
            /* The bound fell between CR and LF: smtp_get() reads one more. */
            st->cr_wait = 0;
            if (*buf == '\n') {
                buf++;
                len--;
                record_line_end(st);
            } else {
                record_out(st, REC_CONT);
            }
            continue;
        }
        /* The bound counts the LF: at most limit bytes per read. */
        size_t room = limit - st->rec_len;
        size_t n = len < room ? len : room;
        const char *nl = memchr(buf, '\n', n);
        if (nl) {
            size_t k = (size_t)(nl - buf);
            memcpy(st->rec + st->rec_len, buf, k);
            st->rec_len += k;
            buf += k + 1;
            len -= k + 1;
            record_line_end(st);
            continue;
        }
        memcpy(st->rec + st->rec_len, buf, n);
        st->rec_len += n;
        buf += n;
        len -= n;
        if (st->rec_len == limit) {
            if (st->rec[limit - 1] == '\r')
                st->cr_wait = 1;
            else
                record_out(st, REC_CONT);
        }
    }
    return st->err_flags;
}

void mime_state_header(struct mime_state *st, const char *text, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(text, '\n', len);
        size_t k = nl ? (size_t)(nl - text) : len, n = k;
        while (n > 0 && text[n - 1] == '\r')
            n--;
        mime_update(st, REC_NORM, text, n);
        st->smtpd_prev = REC_NORM;
        if (!nl)
            break;
        text += k + 1;
        len -= k + 1;
    }
}

unsigned mime_state_finish(struct mime_state *st)
{
    if (st->cr_wait) {
        st->cr_wait = 0;
        record_out(st, REC_CONT);
    } else if (st->rec_len > 0) {
        record_line_end(st);
    }
    mime_update(st, REC_END, "", 0);
    return st->err_flags;
}

/* mime_state.c's mime_err_detail[]: most serious first. */
static const struct {
    unsigned code;
    const char *dsn, *text;
} err_detail[] = {
    {MIME_ERR_NESTING, "5.6.0", "MIME nesting exceeds safety limit"},
    {MIME_ERR_TRUNC_HEADER, "5.6.0", "message header length exceeds safety limit"},
    {MIME_ERR_8BIT_IN_HEADER, "5.6.0", "improper use of 8-bit data in message header"},
    {MIME_ERR_8BIT_IN_7BIT_BODY, "5.6.0", "improper use of 8-bit data in message body"},
    {MIME_ERR_ENCODING_DOMAIN, "5.6.0", "invalid message/* or multipart/* encoding domain"},
};

const char *mime_state_error_text(unsigned flags)
{
    for (size_t i = 0; i < sizeof(err_detail) / sizeof(err_detail[0]); i++)
        if (flags & err_detail[i].code)
            return err_detail[i].text;
    return "no MIME error";
}

const char *mime_state_error_dsn(unsigned flags)
{
    for (size_t i = 0; i < sizeof(err_detail) / sizeof(err_detail[0]); i++)
        if (flags & err_detail[i].code)
            return err_detail[i].dsn;
    return "2.0.0";
}
