/*
 * fe_deep_conf.c - the deep protocol tests' configuration, prepared in
 * the master with the rest of struct fe_conf (fe_deep.c runs the tests):
 * which tests run and their actions and TTLs, the HELO and EHLO replies
 * the frontend gives (the worker's own, built by lib/ehlo_reply.c), the
 * timeout and overload replies, and postscreen_forbidden_commands (words
 * and tables).
 *
 * Failure: a postscreen_forbidden_commands table that does not open is
 * skipped with a warning in diag (postscreen: a non-critical feature);
 * nothing else fails.
 */
#include "fe_deep_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ehlo_reply.h"
#include "maps.h"
#include "util.h"

static char *crlf_line(const char *text, size_t *len)
{
    size_t n = strlen(text) + 3;
    char *s = xmalloc(n);
    *len = (size_t)snprintf(s, n, "%s\r\n", text);
    return s;
}

static char *ehlo_text(const struct ehlo_opts *o, size_t *len)
{
    char buf[EHLO_REPLY_MAX];
    if (ehlo_reply_format(o, buf, sizeof(buf)) < 0)
        buf[0] = '\0';
    return crlf_line(buf, len);
}

int fe_deep_conf_load(const struct config *cfg, struct fe_conf *fc, struct cfg_diag *diag)
{
    const struct cfg_params *p = &cfg->p;
    struct fe_deep_conf *d = xcalloc(1, sizeof(*d));
    fc->deep = d;
    if (p->postscreen_pipelining_enable)
        d->enabled |= DEEP_T_PIPEL;
    if (p->postscreen_non_smtp_command_enable)
        d->enabled |= DEEP_T_NSMTP;
    if (p->postscreen_bare_newline_enable)
        d->enabled |= DEEP_T_BARLF;
    d->action[T_PIPEL] = p->postscreen_pipelining_action;
    d->action[T_NSMTP] = p->postscreen_non_smtp_command_action;
    d->action[T_BARLF] = p->postscreen_bare_newline_action;
    d->ttl[T_PIPEL] = p->postscreen_pipelining_ttl;
    d->ttl[T_NSMTP] = p->postscreen_non_smtp_command_ttl;
    d->ttl[T_BARLF] = p->postscreen_bare_newline_ttl;
    /* postscreen's psc_min_ttl: what an ignored failure is stamped with. */
    d->min_ttl = p->postscreen_greet_ttl;
    for (int t = 0; t < T_N; t++)
        if (d->ttl[t] < d->min_ttl)
            d->min_ttl = d->ttl[t];
    /* The worker's EHLO reply (workers/generation.c session_limits()). */
    struct ehlo_opts eo = {
        .myhostname = p->myhostname,
        .message_size_limit = (uint64_t)p->message_size_limit,
        .discard = ehlo_reply_mask((const char *const *)p->smtpd_discard_ehlo_keywords.v,
                                   p->smtpd_discard_ehlo_keywords.n),
        .vrfy = !p->disable_vrfy_command,
        /* tls_server_create(): a context for levels may and encrypt; a
         * certificate that does not load refuses the whole generation. */
        .starttls = p->smtpd_tls_security_level == TLS_LEV_MAY ||
                    p->smtpd_tls_security_level == TLS_LEV_ENCRYPT,
        .smtputf8 = p->smtputf8_enable,
    };
    d->ehlo_pipe = ehlo_text(&eo, &d->ehlo_pipe_len);
    eo.discard |= EHLO_KW_PIPELINING;
    d->ehlo = ehlo_text(&eo, &d->ehlo_len);
    d->helo_reply = fc->helo_reply ? xstrdup(fc->helo_reply) : NULL;
    d->helo_len = fc->helo_len;
    char t[400];
    snprintf(t, sizeof(t), "421 4.4.2 %s Error: timeout exceeded", p->myhostname);
    d->r_time = crlf_line(t, &d->r_time_len);
    snprintf(t, sizeof(t), "421 %s Service unavailable - try again later", p->myhostname);
    d->r_421 = crlf_line(t, &d->r_421_len);
    d->smtputf8 = p->smtputf8_enable;
    d->strict = p->strict_rfc821_envelopes;
    d->helo_now = !p->smtpd_delay_reject && p->smtpd_helo_restrictions.n > 0;
    d->helo_handoff = p->smtpd_authorized_xclient_hosts.n > 0 ||
                      p->smtpd_discard_ehlo_keyword_address_maps.n > 0;
    /* postscreen_forbidden_commands: words, or tables (any match). */
    const struct cfg_list *fl = &p->postscreen_forbidden_commands;
    if (d->enabled & DEEP_T_NSMTP) {
        d->words = xcalloc(fl->n + 1, sizeof(char *));
        d->maps = xcalloc(fl->n + 1, sizeof(struct map *));
        for (size_t i = 0; i < fl->n; i++) {
            if (!cfg_token_is_map(fl->v[i])) {
                d->words[d->nwords++] = xstrdup(fl->v[i]);
                continue;
            }
            struct map_err err;
            int r = map_open(fl->v[i], 0, &d->maps[d->nmaps], &err);
            if (r < 0) { /* postscreen: a non-critical feature; skipped, said once */
                cfg_diag_add(diag, CFG_DIAG_WARN,
                             "%s: postscreen_forbidden_commands: %s: %s -- entry ignored",
                             cfg->path, fl->v[i], err.msg);
                continue;
            }
            d->nmaps++;
        }
    }
    return 0;
}

void fe_deep_conf_free(struct fe_deep_conf *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nwords; i++)
        free(d->words[i]);
    for (size_t i = 0; i < d->nmaps; i++)
        map_close(d->maps[i]);
    free(d->words);
    free(d->maps);
    free(d->ehlo);
    free(d->ehlo_pipe);
    free(d->helo_reply);
    free(d->r_time);
    free(d->r_421);
    free(d);
}

size_t fe_deep_state_size(void)
{
    return sizeof(struct fe_deep_state);
}

int fe_deep_forbidden(void *ctx, const char *word, size_t len)
{
    const struct fe_deep_conf *d = ctx;
    char key[128];
    if (len >= sizeof(key))
        len = sizeof(key) - 1;
    memcpy(key, word, len);
    key[len] = '\0';
    for (size_t i = 0; i < d->nwords; i++)
        if (strcasecmp(d->words[i], key) == 0)
            return 1;
    char vbuf[256];
    struct map_value v = {.buf = vbuf, .cap = sizeof(vbuf)};
    /* Lookup errors are ignored, as postscreen: a non-critical feature. */
    for (size_t i = 0; i < d->nmaps; i++)
        if (map_lookup(d->maps[i], key, len, &v) == 1)
            return 1;
    return 0;
}
