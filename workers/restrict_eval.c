/*
 * restrict_eval.c - evaluating compiled restriction lists (see restrict.h):
 * Postfix 3.7's generic_checks() and smtpd_check_reject() as a resumable
 * walk. The walk is a stack of frames (the list, then a class or an
 * access-map value naming restrictions, ...); a restriction that needs DNS
 * fills st->query and returns RESTRICT_NEED_DNS without moving, and runs
 * again with the answer when the caller resumes (st->step says how far it
 * got). No allocation, no I/O besides table lookups.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "dnsbl_site.h"
#include "hostname.h"
#include "maps.h"
#include "matchlist.h"
#include "restrict.h"
#include "restrict_int.h"

static const char *const stage_class[RESTRICT_STAGES] = {
    "Client host", "Helo command", "Sender address", "Recipient address",
    "Recipient address", "Data command", "End-of-data", "Etrn command",
};

const char *restrict_reply_class(enum restrict_stage s)
{
    return stage_class[s];
}

const char *restrict_reply_name(const struct restrict_facts *f, enum restrict_stage s)
{
    const char *n = NULL;
    switch (s) {
    case RESTRICT_CLIENT: n = f->namaddr; break;
    case RESTRICT_HELO: n = f->helo; break;
    case RESTRICT_SENDER: n = f->sender; break;
    case RESTRICT_RELAY:
    case RESTRICT_RECIPIENT: n = f->recipient; break;
    case RESTRICT_DATA: n = "DATA"; break;
    case RESTRICT_EOD: n = "END-OF-MESSAGE"; break;
    case RESTRICT_ETRN: n = f->etrn; break;
    case RESTRICT_STAGES: break;
    }
    return n ? n : "";
}

size_t restrict_dsn_len(const char *t)
{
    /* RFC 3463: class "." 1*3digit "." 1*3digit, class 2, 4 or 5. */
    size_t i = 0, n;
    if (t[0] != '2' && t[0] != '4' && t[0] != '5')
        return 0;
    if (t[1] != '.')
        return 0;
    i = 2;
    for (n = 0; isdigit((unsigned char)t[i]) && n < 3; n++, i++)
        ;
    if (n == 0 || isdigit((unsigned char)t[i]) || t[i] != '.')
        return 0;
    i++;
    for (n = 0; isdigit((unsigned char)t[i]) && n < 3; n++, i++)
        ;
    if (n == 0 || isdigit((unsigned char)t[i]))
        return 0;
    if (t[i] != 0 && t[i] != ' ' && t[i] != '\t')
        return 0;
    return i;
}

void restrict_dsn_fix(char dsn[16], enum restrict_stage stage)
{
    /* smtpd_dsn_fix.c: an address status (X.1.Y) is fitted to what is
     * being rejected: sender codes for a sender, recipient codes for a
     * recipient, X.0.0 for anything else. */
    static const struct { const char *micro, *snd, *rcpt; } map[] = {
        {"1", "7", "1"}, {"2", "8", "2"}, {"3", "7", "3"}, {"4", "7", "4"},
        {"5", "0", "5"}, {"6", "7", "6"}, {"7", "7", "3"}, {"8", "8", "2"},
    };
    if (strncmp(dsn + 1, ".1.", 3) != 0)
        return;
    /* Any other micro code: X.1.0 for both (smtpd_dsn_fix.c default). */
    const char *micro = dsn + 4, *snd = "0", *rcpt = "0";
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(micro, map[i].micro) == 0) {
            snd = map[i].snd;
            rcpt = map[i].rcpt;
            break;
        }
    }
    if (stage == RESTRICT_SENDER)
        snprintf(dsn + 2, 14, "1.%s", snd);
    else if (stage == RESTRICT_RELAY || stage == RESTRICT_RECIPIENT)
        snprintf(dsn + 2, 14, "1.%s", rcpt);
    else
        snprintf(dsn + 2, 14, "0.0");
}

static void log_what(const struct restrict_facts *f, const char *whatsup, const char *text)
{
    if (f->log)
        f->log(f->log_arg, whatsup, text);
}

/* Format "CODE DSN text" as smtpd_check_reject() does: a code outside
 * 400..599 or a bad DSN becomes "450 4.7.1 Service unavailable", the text
 * is cut at 510 bytes, non-printable bytes become spaces, and the DSN
 * class follows the reply code. */
static int format_reply(char *out, int code, const char *dsn, const char *fmt, va_list ap)
{
    char text[RESTRICT_REPLY_MAX], line[RESTRICT_REPLY_MAX + 64];
    vsnprintf(text, sizeof(text), fmt, ap);
    snprintf(line, sizeof(line), "%d %.15s %s", code, dsn, text);
    if (code < 400 || code > 599 || restrict_dsn_len(dsn) == 0) {
        snprintf(line, sizeof(line), "450 4.7.1 %s", RESTRICT_TXT_SERVICE_UNAVAILABLE);
        code = 450;
    }
    /* RFC compliance, as Postfix: at most 510 bytes. */
    size_t n = strnlen(line, 510);
    memcpy(out, line, n);
    out[n] = 0;
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = ' ';
    out[4] = out[0];
    return code;
}

enum restrict_result restrict_reject(struct rx *x, bool software, int code, const char *dsn,
                                     const char *fmt, ...)
{
    struct restrict_state *st = x->st;
    char reply[RESTRICT_REPLY_MAX];
    va_list ap;
    bool warn = st->warn_level != 0 && !software;

    va_start(ap, fmt);
    code = format_reply(reply, code, dsn, fmt, ap);
    va_end(ap);
    /* An earlier temporary problem might have prevented a permit: report
     * that one instead of a permanent reject. */
    if (!warn && st->defer_if_reject.active && reply[0] == '5') {
        st->warn_level = 0;
        st->defer_if_reject.active = false;
        snprintf(x->v->reply, sizeof(x->v->reply), "%s", st->defer_if_reject.reply);
        x->v->code = st->defer_if_reject.code;
        log_what(x->f, "reject", x->v->reply);
        return RESTRICT_REJECT;
    }
    if (warn) {
        log_what(x->f, "reject_warning", reply);
        return RESTRICT_DUNNO;
    }
    memcpy(x->v->reply, reply, sizeof(reply));
    x->v->code = code;
    log_what(x->f, "reject", reply);
    return RESTRICT_REJECT;
}

void restrict_defer_if(struct restrict_defer *d, int code, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    if (d->active) /* the first reason is kept */
        return;
    d->active = true;
    va_start(ap, fmt);
    d->code = format_reply(d->reply, code, dsn, fmt, ap);
    va_end(ap);
}

/* DEFER_IF_PERMIT with reject_tempfail_action: a deferral that waits for a
 * permit, or (defer, or under warn_if_reject) an immediate one. */
enum restrict_result restrict_defer_if_permit(struct rx *x, int code, const char *dsn,
                                              const char *fmt, ...)
{
    char text[RESTRICT_REPLY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (x->st->warn_level == 0 && x->ctx->tempfail_defer_if_permit) {
        restrict_defer_if(&x->st->defer_if_permit, code, dsn, "%s", text);
        return RESTRICT_DUNNO;
    }
    return restrict_reject(x, false, code, dsn, "%s", text);
}

enum restrict_result restrict_config_error(struct rx *x)
{
    return restrict_reject(x, true, RESTRICT_CODE_CONFIG, "4.3.5", RESTRICT_TXT_CONFIG_ERROR);
}

enum restrict_result restrict_lookup_failure(struct rx *x, const char *name)
{
    return restrict_reject(x, true, RESTRICT_CODE_CONFIG, "4.3.0", "<%s>: %s", name,
                           RESTRICT_TXT_LOOKUP_FAILURE);
}

/* ---- the stage drivers ----------------------------------------------- */

static void reset_walk(struct restrict_state *st)
{
    st->depth = 0;
    st->warn_level = 0;
    st->step = 0;
    st->dns_temp = false;
    st->query.type = RQ_NONE;
}

void restrict_stage_begin(struct restrict_state *st, enum restrict_stage stage)
{
    bool keep = stage == RESTRICT_RECIPIENT && st->stage == RESTRICT_RELAY;
    if (!keep) {
        switch (stage) {
        case RESTRICT_CLIENT: st->defer_if_permit.active = false; break;
        case RESTRICT_HELO: st->defer_if_permit.active = st->dip_client; break;
        case RESTRICT_SENDER:
        case RESTRICT_ETRN:
            st->defer_if_permit.active = st->dip_client || st->dip_helo;
            break;
        case RESTRICT_RELAY:
        case RESTRICT_RECIPIENT: st->defer_if_permit.active = st->dip_sender; break;
        default: st->defer_if_permit.active = false; break;
        }
        st->defer_if_reject.active = false;
        if (stage == RESTRICT_SENDER)
            st->sender_checked = false;
        else if (stage == RESTRICT_RELAY || stage == RESTRICT_RECIPIENT)
            st->rcpt_checked = false;
    }
    st->stage = stage;
    reset_walk(st);
}

enum restrict_result restrict_stage_end(struct restrict_state *st, enum restrict_result r,
                                        const struct restrict_facts *facts,
                                        struct restrict_verdict *v)
{
    switch (st->stage) {
    case RESTRICT_CLIENT: st->dip_client = st->defer_if_permit.active; break;
    case RESTRICT_HELO: st->dip_helo = st->defer_if_permit.active; break;
    case RESTRICT_SENDER: st->dip_sender = st->defer_if_permit.active; break;
    default:
        if (r != RESTRICT_REJECT && st->defer_if_permit.active) {
            snprintf(v->reply, sizeof(v->reply), "%s", st->defer_if_permit.reply);
            v->code = st->defer_if_permit.code;
            log_what(facts, "reject", v->reply);
            r = RESTRICT_REJECT;
        }
        break;
    }
    v->result = r;
    return r;
}

void restrict_dns_answer(struct restrict_state *st, const struct dns_result *res)
{
    st->dns_status = res->status;
    st->naddr = 0;
    st->null_mx = false;
    st->txt[0] = 0;
    if (res->status == DNS_OK) {
        if (res->type == DNS_T_A) {
            st->naddr = res->count;
            memcpy(st->addrs, res->u.a, res->count * sizeof(st->addrs[0]));
        } else if (res->type == DNS_T_MX) {
            /* RFC 7505: one MX of preference 0 with the root as host. */
            st->null_mx = res->count == 1 && res->u.mx[0].pref == 0
                          && (res->u.mx[0].host[0] == 0 || strcmp(res->u.mx[0].host, ".") == 0);
        } else if (res->type == DNS_T_TXT && res->count > 0) {
            snprintf(st->txt, sizeof(st->txt), "%.*s", (int)res->u.txt.len[0],
                     res->u.txt.buf + res->u.txt.off[0]);
        }
    }
    st->query.type = RQ_NONE;
}

/* ---- the walk --------------------------------------------------------- */

/* Tokenize an access-map value naming restrictions into a new frame. */
enum restrict_result restrict_push_value(struct rx *x, const char *value)
{
    struct restrict_state *st = x->st;
    if (st->depth >= RESTRICT_DEPTH_MAX)
        return restrict_config_error(x);
    if (strchr(value, ':')) /* "do not specify lookup tables inside SMTPD access maps" */
        return restrict_config_error(x);
    struct restrict_frame *f = &st->frames[st->depth];
    snprintf(f->buf, sizeof(f->buf), "%s", value);
    f->list = NULL;
    f->pos = 0;
    f->ntok = 0;
    char *p = f->buf;
    for (;;) {
        p += strspn(p, ", \t\r\n");
        if (!*p)
            break;
        if (f->ntok == RESTRICT_VALUE_TOKENS)
            return restrict_config_error(x);
        f->tok[f->ntok++] = (uint16_t)(p - f->buf);
        p += strcspn(p, ", \t\r\n");
        if (*p)
            *p++ = 0;
    }
    if (f->ntok == 0) /* "access table entry has empty value": OK */
        return RESTRICT_PERMIT;
    st->depth++;
    return RESTRICT_NEED_FRAME;
}

static enum restrict_result push_list(struct restrict_state *st, const struct restrict_list *l,
                                      struct rx *x)
{
    if (st->depth >= RESTRICT_DEPTH_MAX)
        return restrict_config_error(x);
    struct restrict_frame *f = &st->frames[st->depth++];
    f->list = l;
    f->pos = 0;
    f->ntok = 0;
    return RESTRICT_NEED_FRAME;
}

/* The item at the top frame's position, from the compiled list or parsed
 * from the value's tokens into *tmp. *width: tokens it takes. */
static const struct restrict_item *current_item(struct rx *x, struct restrict_frame *f,
                                                struct restrict_item *tmp, size_t *width,
                                                enum restrict_result *err)
{
    *width = 1;
    if (f->list)
        return &f->list->v[f->pos];
    const char *name = f->buf + f->tok[f->pos];
    enum restrict_op op;
    int takes_arg;
    memset(tmp, 0, sizeof(*tmp));
    if (strchr(name, ':')) {
        /* "do not specify lookup tables inside SMTPD access maps" */
        *err = restrict_config_error(x);
        return NULL;
    }
    if (restrict_op_lookup(name, strlen(name), &op, &takes_arg) == 0) {
        tmp->op = (uint8_t)op;
        if (takes_arg) {
            struct dnsbl_site site;
            if ((size_t)f->ntok <= f->pos + 1 || op <= ROP_CHECK_RECIPIENT) {
                *err = restrict_config_error(x);
                return NULL;
            }
            const char *arg = f->buf + f->tok[f->pos + 1];
            if (dnsbl_site_parse(arg, strlen(arg), &site, NULL) != DNSBL_SITE_OK) {
                *err = restrict_config_error(x);
                return NULL;
            }
            /* The zone is the argument up to '=' (no allocation). */
            tmp->arg = (char *)arg;
            tmp->has_filter = site.has_filter != 0;
            memcpy(tmp->filter, site.octet, sizeof(tmp->filter));
            *width = 2;
        }
        return tmp;
    }
    for (size_t i = 0; i < x->ctx->nclasses; i++) {
        if (strcmp(x->ctx->class_names[i], name) == 0) {
            tmp->op = ROP_CLASS;
            tmp->cls = (uint16_t)i;
            return tmp;
        }
    }
    /* "unknown smtpd restriction" */
    *err = restrict_config_error(x);
    return NULL;
}

static size_t frame_len(const struct restrict_frame *f)
{
    return f->list ? f->list->n : (size_t)f->ntok;
}

enum restrict_result restrict_eval(const struct restrict_ctx *ctx,
                                   const struct restrict_list *list,
                                   const struct restrict_facts *facts, struct restrict_state *st,
                                   struct restrict_verdict *v)
{
    struct rx x = {ctx, facts, st, v};
    enum restrict_result r = RESTRICT_DUNNO;

    v->result = RESTRICT_DUNNO;
    v->code = 0;
    v->reply[0] = 0;
    if (st->depth == 0) {
        if (!list || list->n == 0)
            return RESTRICT_DUNNO;
        st->warn_level = 0;
        st->step = 0;
        push_list(st, list, &x);
    }
    while (st->depth > 0) {
        struct restrict_frame *f = &st->frames[st->depth - 1];
        struct restrict_item tmp;
        size_t width;
        if (st->discard) {
            r = RESTRICT_DUNNO;
            break;
        }
        if (f->pos >= frame_len(f)) {
            /* The frame ran out: its item in the parent answered DUNNO. */
            st->depth--;
            if (st->depth == 0) {
                r = RESTRICT_DUNNO;
                break;
            }
            f = &st->frames[st->depth - 1];
            (void)current_item(&x, f, &tmp, &width, &r);
            r = RESTRICT_DUNNO;
            goto item_done;
        }
        const struct restrict_item *it = current_item(&x, f, &tmp, &width, &r);
        if (!it)
            break; /* configuration error: r holds the reply */
        if (it->op == ROP_WARN_IF_REJECT) {
            if (st->warn_level == 0)
                st->warn_level = st->depth;
            f->pos += width;
            continue;
        }
        r = restrict_exec(&x, it);
        if (r == RESTRICT_NEED_DNS) {
            v->result = r;
            return r;
        }
        if (r == RESTRICT_NEED_FRAME)
            continue;
    item_done:
        st->step = 0;
        st->dns_temp = false;
        if (st->warn_level >= st->depth)
            st->warn_level = 0;
        if (r != RESTRICT_DUNNO)
            break;
        if (st->defer_if_permit.active && st->defer_if_reject.active)
            break;
        f->pos += width;
    }
    st->depth = 0;
    st->step = 0;
    v->result = r;
    return r;
}
