/*
 * restrict_exec.c - one function per restriction, as Postfix 3.7's
 * smtpd_check.c implements them: access-map results (check_table_result),
 * client, HELO, sender and recipient checks, relay control, DNS-based
 * checks that suspend for a query, and DNSBL replies (default_rbl_reply,
 * rbl_reply_maps). Every reply text and code comes from here.
 * Address resolution (what trivial-rewrite tells smtpd) is in
 * restrict_resolve.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "access.h"
#include "hostname.h"
#include "maps.h"
#include "matchlist.h"
#include "restrict_int.h"
#include "util.h"

/* ---- access maps -------------------------------------------------------- */

static bool is_header(const char *s)
{
    size_t n = 0;
    while (s[n] && s[n] != ':' && (unsigned char)s[n] > 32 && (unsigned char)s[n] < 127)
        n++;
    return n > 0 && s[n] == ':';
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* dsn_split + smtpd_dsn_fix: the code at the start of text, or def. */
static const char *split_dsn(const char *text, const char *def, char dsn[16],
                             enum restrict_stage stage)
{
    size_t n = restrict_dsn_len(text);
    if (n) {
        snprintf(dsn, 16, "%.*s", (int)n, text);
        text += n;
        while (*text == ' ' || *text == '\t')
            text++;
    } else {
        snprintf(dsn, 16, "%s", def);
    }
    restrict_dsn_fix(dsn, stage);
    return text;
}

/* check_table_result(): what an access-map value means. s is the kind of
 * the check (check_sender_access: RESTRICT_SENDER), not the stage being
 * evaluated: Postfix names what was looked up ("<a@b>: Sender address
 * rejected") in every restriction list, also at END-OF-MESSAGE. */
static enum restrict_result table_result(struct rx *x, const char *value, bool rcpt_routed,
                                         enum restrict_stage s)
{
    const struct restrict_ctx *c = x->ctx;
    const char *name = restrict_reply_name(x->f, s), *cls = restrict_reply_class(s);
    size_t cmd_len = strcspn(value, " \t");
    const char *text = value + cmd_len;
    char dsn[16], line[RESTRICT_REPLY_MAX];
    while (*text == ' ' || *text == '\t')
        text++;
#define IS(word) (cmd_len == sizeof(word) - 1 && strncasecmp(value, word, cmd_len) == 0)
    if (IS("DUNNO"))
        return RESTRICT_DUNNO;
    if (IS("REJECT") || IS("DEFER")) {
        bool rej = IS("REJECT");
        text = split_dsn(text, rej ? "5.7.1" : "4.7.1", dsn, s);
        return restrict_reject(x, false,
                               (int)(rej ? c->access_map_reject_code : c->access_map_defer_code),
                               dsn, "<%s>: %s rejected: %s", name, cls,
                               *text ? text : RESTRICT_TXT_ACCESS_DENIED);
    }
    if (IS("WARN")) {
        if (x->f->log)
            x->f->log(x->f->log_arg, "warn", text);
        return RESTRICT_DUNNO;
    }
    /* Actions for the message; Postfix skips them outside a transaction
     * ("with smtpd_delay_reject=no, action ... is always skipped"). */
    if (IS("FILTER") || IS("HOLD") || IS("DISCARD") || IS("REDIRECT") || IS("PREPEND")) {
        if (x->f->sender == NULL)
            return RESTRICT_DUNNO;
        if (IS("FILTER")) {
            if (!strchr(text, ':'))
                return RESTRICT_DUNNO;
            snprintf(x->st->filter, sizeof(x->st->filter), "%s", text);
            snprintf(line, sizeof(line), "<%s>: %s triggers FILTER %s", name, cls, text);
            if (x->f->log)
                x->f->log(x->f->log_arg, "filter", line);
            return RESTRICT_DUNNO;
        }
        if (IS("REDIRECT")) {
            if (!strchr(text, '@'))
                return RESTRICT_DUNNO;
            snprintf(x->st->redirect, sizeof(x->st->redirect), "%s", text);
            snprintf(line, sizeof(line), "<%s>: %s triggers REDIRECT %s", name, cls, text);
            if (x->f->log)
                x->f->log(x->f->log_arg, "redirect", line);
            return RESTRICT_DUNNO;
        }
        if (IS("PREPEND")) {
            if (*text && is_header(text))
                snprintf(x->st->prepend, sizeof(x->st->prepend), "%s", text);
            return RESTRICT_DUNNO;
        }
        bool hold = IS("HOLD");
        snprintf(line, sizeof(line), "<%s>: %s %s", name, cls,
                 *text ? text : hold ? "triggers HOLD action" : "triggers DISCARD action");
        if (x->f->log)
            x->f->log(x->f->log_arg, hold ? "hold" : "discard", line);
        if (hold) {
            x->st->hold = true;
            return RESTRICT_DUNNO;
        }
        x->st->discard = true;
        return RESTRICT_PERMIT;
    }
    if (IS("DEFER_IF_PERMIT")) {
        text = split_dsn(text, "4.7.1", dsn, s);
        /* Access-map deferrals use access_map_defer_code (check_table_result). */
        return restrict_defer_if_permit(x, (int)c->access_map_defer_code, dsn,
                                        "<%s>: %s rejected: %s", name, cls,
                                        *text ? text : RESTRICT_TXT_SERVICE_UNAVAILABLE);
    }
    if (IS("DEFER_IF_REJECT")) {
        text = split_dsn(text, "4.7.1", dsn, s);
        restrict_defer_if(&x->st->defer_if_reject, (int)c->access_map_defer_code, dsn,
                          "<%s>: %s rejected: %s", name, cls,
                          *text ? text : RESTRICT_TXT_SERVICE_UNAVAILABLE);
        return RESTRICT_DUNNO;
    }
    /* All digits: OK (some out-of-band authentication stores time stamps). */
    if (all_digits(value))
        return rcpt_routed ? RESTRICT_DUNNO : RESTRICT_PERMIT;
    if (cmd_len == 3 && *text && (value[0] == '4' || value[0] == '5')
        && isdigit((unsigned char)value[1]) && isdigit((unsigned char)value[2])) {
        char def[6] = {value[0], '.', '7', '.', '1', 0};
        text = split_dsn(text, def, dsn, s);
        return restrict_reject(x, false, atoi(value), dsn, "<%s>: %s rejected: %s", name, cls,
                               *text ? text : RESTRICT_TXT_ACCESS_DENIED);
    }
    if (IS("OK") || IS("RELAY"))
        return rcpt_routed ? RESTRICT_DUNNO : RESTRICT_PERMIT;
#undef IS
    /* Anything else names restrictions (or a class). */
    return restrict_push_value(x, value);
}

static enum restrict_result check_access(struct rx *x, enum restrict_op op, struct map *m)
{
    const struct restrict_facts *f = x->f;
    struct access_opts o;
    char buf[1024];
    struct map_value val = {buf, sizeof(buf), 0};
    struct access_match match;
    struct restrict_resolved res;
    const char *lookup_name = NULL;
    int rc = 0;
    bool routed = false;

    access_opts_default(&o);
    o.parent_matches_subdomains = x->ctx->parent_access;
    o.recipient_delimiter = x->ctx->recipient_delimiter;
    o.null_access_key = x->ctx->null_access_key;
    switch (op) {
    case ROP_CHECK_CLIENT:
        lookup_name = f->namaddr;
        rc = access_lookup_client(m, &o, f->name, f->addr, &val, &match);
        break;
    case ROP_CHECK_HELO:
        if (!f->helo)
            return RESTRICT_DUNNO;
        lookup_name = f->helo;
        rc = access_lookup_helo(m, &o, f->helo, &val, &match);
        break;
    case ROP_CHECK_SENDER:
        if (!f->sender)
            return RESTRICT_DUNNO;
        lookup_name = f->sender;
        if (*f->sender) {
            restrict_resolve(x->ctx, f->sender, &res);
            rc = access_lookup_sender(m, &o, res.addr, &val, &match);
        } else {
            rc = access_lookup_sender(m, &o, "", &val, &match);
        }
        break;
    case ROP_CHECK_RECIPIENT:
        if (!f->recipient)
            return RESTRICT_DUNNO;
        lookup_name = f->recipient;
        restrict_resolve(x->ctx, f->recipient, &res);
        /* Source-routed recipients are too suspicious for an OK. */
        routed = !x->ctx->allow_untrusted_routing && res.routed;
        rc = access_lookup_recipient(m, &o, res.addr, &val, &match);
        break;
    default:
        return restrict_config_error(x);
    }
    if (rc < 0)
        return restrict_lookup_failure(x, lookup_name);
    if (rc == 0)
        return RESTRICT_DUNNO;
    return table_result(x, buf, routed, op == ROP_CHECK_CLIENT ? RESTRICT_CLIENT
                                        : op == ROP_CHECK_HELO ? RESTRICT_HELO
                                        : op == ROP_CHECK_SENDER ? RESTRICT_SENDER
                                                                 : RESTRICT_RECIPIENT);
}

/* ---- DNS-based checks ------------------------------------------------- */

static enum restrict_result need(struct rx *x, enum restrict_qtype t, const char *name, int step)
{
    x->st->query.type = t;
    snprintf(x->st->query.name, sizeof(x->st->query.name), "%s", name);
    x->st->step = step;
    return RESTRICT_NEED_DNS;
}

/* A name has A, AAAA or MX records (types in order). 1 yes, 0 not found,
 * -EAGAIN temporary failure, RESTRICT_NEED_DNS-style suspension as 2. */
static int lookup_any(struct rx *x, const char *name, const enum restrict_qtype *types,
                      enum restrict_result *r)
{
    struct restrict_state *st = x->st;
    if (st->step > 0) {
        if (st->dns_status == DNS_OK)
            return 1;
        if (st->dns_status == DNS_TEMPFAIL || st->dns_status == DNS_TIMEOUT)
            st->dns_temp = true;
    }
    if (st->step < 3) {
        *r = need(x, types[st->step], name, st->step + 1);
        return 2;
    }
    return st->dns_temp ? -EAGAIN : 0;
}

static enum restrict_result unknown_helo(struct rx *x)
{
    static const enum restrict_qtype types[] = {RQ_A, RQ_AAAA, RQ_MX};
    const char *helo = x->f->helo, *cls = restrict_reply_class(RESTRICT_HELO);
    enum restrict_result r = RESTRICT_DUNNO;
    if (!helo)
        return RESTRICT_DUNNO;
    if (helo[0] == '[') {
        if (hostname_helo_invalid(helo, strlen(helo)) == HOSTNAME_PASS)
            return RESTRICT_DUNNO;
        return restrict_reject(x, false, (int)x->ctx->invalid_hostname_reject_code, "5.5.2",
                               "<%s>: %s rejected: %s", helo, cls,
                               hostname_verdict_text(HOSTNAME_INVALID_ADDR));
    }
    /* dns_lookup() answers DNS_NOTFOUND for what valid_hostname() refuses
     * (a trailing dot, an all-numeric name) without asking. */
    int found = hostname_valid(helo, strlen(helo)) ? lookup_any(x, helo, types, &r) : 0;
    if (found == 2)
        return r;
    if (found == 1)
        return RESTRICT_DUNNO;
    if (found == 0)
        return restrict_reject(x, false, (int)x->ctx->unknown_hostname_reject_code, "4.7.1",
                               "<%s>: %s rejected: %s", helo, cls, RESTRICT_TXT_HOST_NOT_FOUND);
    return restrict_defer_if_permit(x, RESTRICT_CODE_TEMP, "4.7.1", "<%s>: %s rejected: %s", helo, cls,
                                    RESTRICT_TXT_HOST_NOT_FOUND);
}

static enum restrict_result unknown_mailhost(struct rx *x, const char *addr, bool sender)
{
    static const enum restrict_qtype types[] = {RQ_MX, RQ_A, RQ_AAAA};
    const char *cls = restrict_reply_class(sender ? RESTRICT_SENDER : RESTRICT_RECIPIENT);
    const char *dsn = sender ? "4.1.8" : "4.1.2";
    struct restrict_resolved res;
    enum restrict_result r = RESTRICT_DUNNO;
    restrict_resolve(x->ctx, addr, &res);
    if (res.final || (res.domain[0] == '[' && res.domain[strlen(res.domain) - 1] == ']'))
        return RESTRICT_DUNNO;
    if (x->st->step == 1 && x->st->dns_status == DNS_OK && x->st->null_mx)
        return restrict_reject(x, false, sender ? 550 : 556, sender ? "5.7.27" : "5.1.10",
                               "<%s>: %s rejected: Domain %s does not accept mail (nullMX)", addr,
                               cls, res.domain);
    int found = hostname_valid(res.domain, strlen(res.domain))
                    ? lookup_any(x, res.domain, types, &r) : 0;
    if (found == 2)
        return r;
    if (found == 1)
        return RESTRICT_DUNNO;
    if (found == 0)
        return restrict_reject(x, false, (int)x->ctx->unknown_address_reject_code, dsn,
                               "<%s>: %s rejected: %s", addr, cls, RESTRICT_TXT_DOMAIN_NOT_FOUND);
    return restrict_defer_if_permit(x, RESTRICT_CODE_TEMP, dsn, "<%s>: %s rejected: %s", addr, cls,
                                    RESTRICT_TXT_DOMAIN_NOT_FOUND);
}

/* $name expansion of an RBL reply template (mac_expand without recursion
 * into values): $name, ${name}, $(name), ${name?text}, ${name:text}. */
struct rbl_exp {
    const struct rx *x;
    const char *domain, *what, *cls, *txt;
    char code[8];
};

static const char *rbl_value(const struct rbl_exp *e, const char *n, size_t len)
{
    const struct restrict_facts *f = e->x->f;
#define N(s) (len == sizeof(s) - 1 && memcmp(n, s, len) == 0)
    if (N("rbl_code")) return e->code;
    if (N("rbl_domain")) return e->domain;
    if (N("rbl_reason") || N("rbl_txt")) return e->txt;
    if (N("rbl_what")) return e->what;
    if (N("rbl_class")) return e->cls;
    if (N("client")) return f->namaddr;
    if (N("client_address")) return f->addr;
    if (N("client_name")) return f->name;
    if (N("reverse_client_name")) return f->reverse_name;
    if (N("helo_name")) return f->helo ? f->helo : "";
    if (N("sender")) return f->sender ? (*f->sender ? f->sender : "<>") : "";
    if (N("recipient")) return f->recipient ? f->recipient : "";
#undef N
    return NULL;
}

static int rbl_expand(const struct rbl_exp *e, const char *t, size_t tl, char *out, size_t *o,
                      size_t cap, int depth)
{
    for (size_t i = 0; i < tl;) {
        if (t[i] != '$' || i + 1 >= tl) {
            if (*o + 1 < cap)
                out[(*o)++] = t[i];
            i++;
            continue;
        }
        i++;
        const char *n;
        size_t nl, alt = 0, altl = 0;
        char op = 0;
        if (t[i] == '{' || t[i] == '(') {
            char close = t[i] == '{' ? '}' : ')';
            size_t j = i + 1, lvl = 1;
            while (j < tl && lvl) {
                if (t[j] == t[i]) lvl++;
                else if (t[j] == close) lvl--;
                if (lvl) j++;
            }
            if (j >= tl)
                return -EINVAL;
            n = t + i + 1;
            nl = strcspn(n, "?:}");
            if (nl > j - i - 1)
                nl = j - i - 1;
            if (i + 1 + nl < j) {
                op = n[nl];
                alt = i + 2 + nl;
                altl = j - alt;
            }
            i = j + 1;
        } else {
            n = t + i;
            nl = 0;
            while (i + nl < tl && (isalnum((unsigned char)n[nl]) || n[nl] == '_'))
                nl++;
            if (nl == 0)
                return -EINVAL;
            i += nl;
        }
        const char *val = rbl_value(e, n, nl);
        if (!val)
            val = "";
        if (op == '?' || op == ':') {
            bool use = op == '?' ? *val != 0 : *val == 0;
            if (use && depth < 10 && rbl_expand(e, t + alt, altl, out, o, cap, depth + 1) < 0)
                return -EINVAL;
            continue;
        }
        for (; *val; val++)
            if (*o + 1 < cap)
                out[(*o)++] = *val;
    }
    out[*o] = 0;
    return 0;
}

static enum restrict_result rbl_reply(struct rx *x, const char *zone, const char *what)
{
    struct rbl_exp e = {x, zone, what, restrict_reply_class(x->st->stage), x->st->txt, {0}};
    char tbuf[RESTRICT_REPLY_MAX], out[RESTRICT_REPLY_MAX], key[DNS_NAME_MAX + 1];
    struct map_value val = {tbuf, sizeof(tbuf), 0};
    const char *tmpl = x->ctx->default_rbl_reply;
    size_t o = 0;
    snprintf(e.code, sizeof(e.code), "%ld", x->ctx->maps_rbl_reject_code);
    snprintf(key, sizeof(key), "%s", zone);
    for (char *p = key; *p; p++)
        *p = ascii_lower(*p);
    for (size_t i = 0; i < x->ctx->n_rbl_reply_maps; i++) {
        int rc = map_lookup_str(x->ctx->rbl_reply_maps[i], key, &val);
        if (rc < 0)
            return restrict_lookup_failure(x, zone);
        if (rc > 0) {
            tmpl = tbuf;
            break;
        }
    }
    if (rbl_expand(&e, tmpl, strlen(tmpl), out, &o, sizeof(out), 0) < 0) {
        o = 0;
        tmpl = x->ctx->default_rbl_reply;
        if (rbl_expand(&e, tmpl, strlen(tmpl), out, &o, sizeof(out), 0) < 0)
            return restrict_config_error(x);
    }
    if ((out[0] != '4' && out[0] != '5') || !isdigit((unsigned char)out[1])
        || !isdigit((unsigned char)out[2]) || out[3] != ' ')
        return restrict_reject(x, false, RESTRICT_CODE_TEMP, "4.7.1", "%s",
                               RESTRICT_TXT_SERVICE_UNAVAILABLE);
    char dsn[16];
    const char *text = split_dsn(out + 4, "4.7.1", dsn, x->st->stage);
    return restrict_reject(x, false, atoi(out), dsn, "%s",
                           *text ? text : RESTRICT_TXT_SERVICE_UNAVAILABLE);
}

static bool filter_match(const struct restrict_item *it, const struct restrict_state *st)
{
    if (!it->has_filter)
        return st->naddr > 0;
    for (unsigned i = 0; i < st->naddr; i++) {
        const unsigned char *b = (const unsigned char *)&st->addrs[i].s_addr;
        bool ok = true;
        for (int k = 0; k < 4 && ok; k++)
            ok = (it->filter[k][b[k] >> 3] >> (b[k] & 7)) & 1;
        if (ok)
            return true;
    }
    return false;
}

/* reject_rbl_client / reject_rhsbl_*: A lookup, then TXT for the reason. */
static enum restrict_result rbl_check(struct rx *x, const struct restrict_item *it,
                                      const char *what, bool client_addr)
{
    struct restrict_state *st = x->st;
    char zone[DNS_NAME_MAX + 1], q[DNS_NAME_MAX + 2];
    const char *z = it->zone ? it->zone : it->arg;
    snprintf(zone, sizeof(zone), "%.*s", (int)strcspn(z, "="), z);
    if (client_addr) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, what, &s4->sin_addr) == 1)
            s4->sin_family = AF_INET;
        else if (inet_pton(AF_INET6, what, &s6->sin6_addr) == 1)
            s6->sin6_family = AF_INET6;
        else
            return RESTRICT_DUNNO;
        if (dns_reverse_name((struct sockaddr *)&ss, zone, q, sizeof(q)) < 0)
            return RESTRICT_DUNNO;
    } else {
        const char *d = strrchr(what, '@');
        d = d ? d + 1 : what;
        if (*d == 0 || *d == '[')
            return RESTRICT_DUNNO;
        if ((size_t)snprintf(q, sizeof(q), "%s.%s", d, zone) >= sizeof(q))
            return RESTRICT_DUNNO;
    }
    switch (st->step) {
    case 0:
        return need(x, RQ_A, q, 1);
    case 1:
        /* No definitive answer: the benefit of the doubt. */
        if (st->dns_status != DNS_OK || !filter_match(it, st))
            return RESTRICT_DUNNO;
        return need(x, RQ_TXT, q, 2);
    default:
        return rbl_reply(x, zone, what);
    }
}

/* ---- relay control and recipient tables ----------------------------- */

static enum restrict_result auth_destination(struct rx *x, struct restrict_resolved *res)
{
    restrict_resolve(x->ctx, x->f->recipient, res);
    if (res->err < 0)
        return restrict_lookup_failure(x, x->f->recipient);
    if (!x->ctx->allow_untrusted_routing && res->routed)
        return RESTRICT_DUNNO;
    return res->final || res->relay ? RESTRICT_PERMIT : RESTRICT_DUNNO;
}

/* check_rcpt_maps(): "anything that resolves to the error mailer is known
 * to be undeliverable" (retry: too, temporarily): 550 (450 for retry:)
 * with the text's status code (X.1.1 without one) forced to the reply's
 * class and fitted to the address (smtpd_dsn_fix), as Postfix 3.7. */
static enum restrict_result error_mailer(struct rx *x, const char *addr, bool sender, bool retry,
                                         const char *text)
{
    char dsn[16];
    enum restrict_stage cls = sender ? RESTRICT_SENDER : RESTRICT_RECIPIENT;
    size_t n = restrict_dsn_len(text);
    if (n && n < sizeof(dsn)) {
        memcpy(dsn, text, n);
        dsn[n] = 0;
        text += n;
        while (*text == ' ' || *text == '\t')
            text++;
    } else {
        snprintf(dsn, sizeof(dsn), "5.1.1");
    }
    dsn[0] = retry ? '4' : '5';
    restrict_dsn_fix(dsn, cls);
    return restrict_reject(x, false, retry ? 450 : 550, dsn, "<%s>: %s rejected: %s", addr,
                           restrict_reply_class(cls), *text ? text : "Address is undeliverable");
}

/* check_rcpt_maps(): an address of a relay domain must be in
 * relay_recipient_maps (when it is set). sender: the address is the
 * sender ("Sender address rejected", 5.1.0), else the recipient (5.1.1);
 * Postfix gives these codes as they are, without smtpd_dsn_fix. */
static enum restrict_result unlisted_address(struct rx *x, const char *addr, bool sender)
{
    struct restrict_resolved res;
    char key[RESTRICT_ADDR_MAX];
    char buf[512];
    struct map_value val = {buf, sizeof(buf), 0};
    if (sender)
        x->st->sender_checked = true;
    else
        x->st->rcpt_checked = true;
    restrict_resolve(x->ctx, addr, &res);
    if (res.err < 0)
        return restrict_lookup_failure(x, addr);
    if (x->ctx->transport) {
        int k = x->ctx->transport(x->ctx->transport_arg, addr, buf, sizeof(buf));
        if (k == -EAGAIN)
            return restrict_lookup_failure(x, addr);
        if (k == RESTRICT_TRANSPORT_ERROR || k == RESTRICT_TRANSPORT_RETRY)
            return error_mailer(x, addr, sender, k == RESTRICT_TRANSPORT_RETRY, buf);
    }
    if (!res.relay || x->ctx->n_relay_rcpt_maps == 0)
        return RESTRICT_DUNNO;
    /* mail_addr_find(): the address, without its extension, then @domain. */
    const char *keys[3] = {res.addr, NULL, NULL};
    char bare[RESTRICT_ADDR_MAX], atdom[RESTRICT_ADDR_MAX];
    const char *delim = x->ctx->recipient_delimiter;
    size_t local_len = (size_t)(res.domain - 1 - res.addr);
    size_t ext = *delim ? strcspn(res.addr, delim) : local_len;
    if (ext < local_len) {
        snprintf(bare, sizeof(bare), "%.*s@%s", (int)ext, res.addr, res.domain);
        keys[1] = bare;
    }
    snprintf(atdom, sizeof(atdom), "@%s", res.domain);
    keys[2] = atdom;
    for (size_t i = 0; i < x->ctx->n_relay_rcpt_maps; i++) {
        for (int k = 0; k < 3; k++) {
            if (!keys[k])
                continue;
            snprintf(key, sizeof(key), "%s", keys[k]);
            int rc = map_lookup_str(x->ctx->relay_rcpt_maps[i], key, &val);
            if (rc < 0)
                return restrict_lookup_failure(x, addr);
            if (rc > 0)
                return RESTRICT_DUNNO;
        }
    }
    return restrict_reject(x, false, (int)x->ctx->unknown_relay_recipient_reject_code,
                           sender ? "5.1.0" : "5.1.1", "<%s>: %s rejected: User unknown%s", addr,
                           restrict_reply_class(sender ? RESTRICT_SENDER : RESTRICT_RECIPIENT),
                           x->ctx->show_user_unknown_table_name ? " in relay recipient table" : "");
}

enum restrict_result restrict_stage_unlisted(const struct restrict_ctx *ctx,
                                             const struct restrict_facts *f,
                                             struct restrict_state *st, enum restrict_result r,
                                             struct restrict_verdict *v)
{
    struct rx x = {ctx, f, st, v};
    if (r == RESTRICT_REJECT || st->discard)
        return r;
    st->warn_level = 0; /* a list's warn_if_reject ended with the list */
    enum restrict_result u = RESTRICT_DUNNO;
    if (st->stage == RESTRICT_SENDER) {
        if (ctx->reject_unlisted_sender && !st->sender_checked && f->sender && *f->sender)
            u = unlisted_address(&x, f->sender, true);
    } else if (st->stage == RESTRICT_RELAY || st->stage == RESTRICT_RECIPIENT) {
        if (ctx->reject_unlisted_recipient && !st->rcpt_checked && f->recipient
            && *f->recipient)
            u = unlisted_address(&x, f->recipient, false);
    }
    if (u != RESTRICT_REJECT)
        return r;
    v->result = u;
    return u;
}

/* ---- dispatch -------------------------------------------------------------- */

static const enum restrict_op def_acl[RESTRICT_STAGES] = {
    ROP_CHECK_CLIENT, ROP_CHECK_HELO, ROP_CHECK_SENDER, ROP_CHECK_RECIPIENT,
    ROP_CHECK_RECIPIENT, ROP_DEFAULT_ACL, ROP_DEFAULT_ACL, ROP_DEFAULT_ACL,
};

static enum restrict_result helo_syntax(struct rx *x, bool fqdn)
{
    const char *h = x->f->helo;
    if (!h)
        return RESTRICT_DUNNO;
    enum hostname_verdict hv = fqdn ? hostname_helo_non_fqdn(h, strlen(h), x->f->smtputf8)
                                    : hostname_helo_invalid(h, strlen(h));
    if (hv == HOSTNAME_PASS)
        return RESTRICT_DUNNO;
    long code = hv == HOSTNAME_NON_FQDN_HOST || hv == HOSTNAME_NON_FQDN_ADDR
                    ? x->ctx->non_fqdn_reject_code : x->ctx->invalid_hostname_reject_code;
    return restrict_reject(x, false, (int)code, "5.5.2", "<%s>: %s rejected: %s", h,
                           restrict_reply_class(RESTRICT_HELO), hostname_verdict_text(hv));
}

static enum restrict_result addr_fqdn(struct rx *x, const char *a, enum restrict_stage cls)
{
    if (hostname_address_non_fqdn(a, strlen(a), x->f->smtputf8) == HOSTNAME_PASS)
        return RESTRICT_DUNNO;
    return restrict_reject(x, false, (int)x->ctx->non_fqdn_reject_code, "4.5.2",
                           "<%s>: %s rejected: need fully-qualified address", a,
                           restrict_reply_class(cls));
}

enum restrict_result restrict_exec(struct rx *x, const struct restrict_item *it)
{
    const struct restrict_ctx *c = x->ctx;
    const struct restrict_facts *f = x->f;
    struct restrict_state *st = x->st;
    const char *name = restrict_reply_name(f, st->stage), *cls = restrict_reply_class(st->stage);
    struct restrict_resolved res;
    int m;

    switch ((enum restrict_op)it->op) {
    case ROP_PERMIT:
        return RESTRICT_PERMIT;
    case ROP_REJECT:
        return restrict_reject(x, false, (int)c->reject_code, "5.7.1", "<%s>: %s rejected: %s",
                               name, cls, RESTRICT_TXT_ACCESS_DENIED);
    case ROP_DEFER:
        return restrict_reject(x, false, (int)c->defer_code, "4.3.2", "<%s>: %s rejected: %s",
                               name, cls, RESTRICT_TXT_TRY_LATER);
    case ROP_WARN_IF_REJECT:
        return RESTRICT_DUNNO; /* handled by the walk */
    case ROP_DEFER_IF_PERMIT:
        if (st->warn_level == 0)
            restrict_defer_if(&st->defer_if_permit, RESTRICT_CODE_TEMP, "4.7.0",
                              "<%s>: %s rejected: defer_if_permit requested", name, cls);
        else
            return restrict_reject(x, false, RESTRICT_CODE_TEMP, "4.7.0",
                                   "<%s>: %s rejected: defer_if_permit requested", name, cls);
        return RESTRICT_DUNNO;
    case ROP_DEFER_IF_REJECT:
        restrict_defer_if(&st->defer_if_reject, RESTRICT_CODE_TEMP, "4.7.0",
                          "<%s>: %s rejected: defer_if_reject requested", name, cls);
        return RESTRICT_DUNNO;
    case ROP_PERMIT_MYNETWORKS:
        m = c->mynetworks ? matchlist_match_namadr(c->mynetworks, f->name, f->addr) : 0;
        if (m < 0)
            return restrict_lookup_failure(x, f->namaddr);
        return m > 0 ? RESTRICT_PERMIT : RESTRICT_DUNNO;
    case ROP_PERMIT_SASL:      /* no SASL in mxscreen's server */
    case ROP_PERMIT_TLS_CERTS: /* client certificates are not asked for */
        return RESTRICT_DUNNO;
    case ROP_REJECT_UNAUTH_PIPELINING:
        if (f->pipelined && (!f->esmtp || st->stage == RESTRICT_DATA))
            return restrict_reject(x, false, RESTRICT_CODE_PIPELINING, "5.5.0",
                                   "<%s>: %s rejected: %s", name, cls, RESTRICT_TXT_PIPELINING);
        return RESTRICT_DUNNO;
    case ROP_REJECT_UNKNOWN_CLIENT:
    case ROP_REJECT_UNKNOWN_REVERSE: {
        bool rev = it->op == ROP_REJECT_UNKNOWN_REVERSE;
        enum dns_name_status s = rev ? f->reverse_name_status : f->name_status;
        if (s == DNS_NAME_OK)
            return RESTRICT_DUNNO;
        return restrict_reject(x, false,
                               s == DNS_NAME_PERM ? (int)c->unknown_client_reject_code
                                                  : RESTRICT_CODE_TEMP,
                               rev ? "4.7.1" : "4.7.25", "Client host rejected: %s, [%s]",
                               rev ? RESTRICT_TXT_NO_REVERSE : RESTRICT_TXT_NO_HOSTNAME, f->addr);
    }
    case ROP_CHECK_CLIENT:
    case ROP_CHECK_HELO:
    case ROP_CHECK_SENDER:
    case ROP_CHECK_RECIPIENT:
        return check_access(x, (enum restrict_op)it->op, it->map);
    case ROP_DEFAULT_ACL:
        if (def_acl[st->stage] == ROP_DEFAULT_ACL) /* no default in DATA/ETRN context */
            return restrict_config_error(x);
        return check_access(x, def_acl[st->stage], it->map);
    case ROP_REJECT_RBL_CLIENT:
        return rbl_check(x, it, f->addr, true);
    case ROP_REJECT_RHSBL_CLIENT:
        if (strcasecmp(f->name, "unknown") == 0)
            return RESTRICT_DUNNO;
        return rbl_check(x, it, f->name, false);
    case ROP_REJECT_RHSBL_HELO:
        return f->helo ? rbl_check(x, it, f->helo, false) : RESTRICT_DUNNO;
    case ROP_REJECT_RHSBL_SENDER:
        return f->sender && *f->sender ? rbl_check(x, it, f->sender, false) : RESTRICT_DUNNO;
    case ROP_REJECT_RHSBL_RECIPIENT:
        return f->recipient ? rbl_check(x, it, f->recipient, false) : RESTRICT_DUNNO;
    case ROP_REJECT_INVALID_HELO:
        return helo_syntax(x, false);
    case ROP_REJECT_NON_FQDN_HELO:
        return helo_syntax(x, true);
    case ROP_REJECT_UNKNOWN_HELO:
        return unknown_helo(x);
    case ROP_REJECT_NON_FQDN_SENDER:
        return f->sender && *f->sender ? addr_fqdn(x, f->sender, RESTRICT_SENDER)
                                       : RESTRICT_DUNNO;
    case ROP_REJECT_NON_FQDN_RECIPIENT:
        return f->recipient ? addr_fqdn(x, f->recipient, RESTRICT_RECIPIENT) : RESTRICT_DUNNO;
    case ROP_REJECT_UNKNOWN_SENDER_DOMAIN:
        return f->sender && *f->sender ? unknown_mailhost(x, f->sender, true) : RESTRICT_DUNNO;
    case ROP_REJECT_UNKNOWN_RECIPIENT_DOMAIN:
        return f->recipient && *f->recipient ? unknown_mailhost(x, f->recipient, false)
                                             : RESTRICT_DUNNO;
    case ROP_PERMIT_AUTH_DESTINATION:
        return f->recipient ? auth_destination(x, &res) : RESTRICT_DUNNO;
    case ROP_REJECT_UNAUTH_DESTINATION:
    case ROP_DEFER_UNAUTH_DESTINATION: {
        if (!f->recipient)
            return RESTRICT_DUNNO;
        enum restrict_result r = auth_destination(x, &res);
        if (r == RESTRICT_PERMIT)
            return RESTRICT_DUNNO;
        if (r != RESTRICT_DUNNO)
            return r;
        bool rej = it->op == ROP_REJECT_UNAUTH_DESTINATION;
        return restrict_reject(x, false,
                               rej ? (int)c->relay_domains_reject_code
                                   : (int)c->relay_domains_reject_code - 100,
                               rej ? "5.7.1" : "4.7.1", "<%s>: %s", f->recipient,
                               RESTRICT_TXT_RELAY_DENIED);
    }
    case ROP_REJECT_UNLISTED_RECIPIENT:
        return f->recipient && *f->recipient ? unlisted_address(x, f->recipient, false)
                                             : RESTRICT_DUNNO;
    case ROP_REJECT_UNLISTED_SENDER:
        return f->sender && *f->sender ? unlisted_address(x, f->sender, true) : RESTRICT_DUNNO;
    case ROP_CLASS: {
        if (st->depth >= RESTRICT_DEPTH_MAX)
            return restrict_config_error(x);
        struct restrict_frame *fr = &st->frames[st->depth++];
        fr->list = &c->classes[it->cls];
        fr->pos = 0;
        fr->ntok = 0;
        if (fr->list->n == 0) {
            st->depth--;
            return RESTRICT_DUNNO;
        }
        return RESTRICT_NEED_FRAME;
    }
    }
    return restrict_config_error(x);
}
