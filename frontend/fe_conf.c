/*
 * fe_conf.c - the frontend's configuration, prepared once per generation
 * in the master (fe_conf_load) so that a bad value refuses the
 * generation, and so that the forked frontend only reads it.
 *
 * ${stress?...}: main.cf values are expanded at load without "stress"; the
 * stress variants of postscreen_greet_wait, postscreen_command_time_limit
 * and smtpd_timeout are expanded here a second time with
 * stress = yes, as Postfix's postscreen asks its master for both.
 *
 * Failure: -errno with the reason in diag (an access list table that does
 * not open, a tarpit reply that is not a 4XX/5XX reply).
 */
#include "fe_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe_early_rule.h"
#include "ehlo_reply.h"
#include "log.h"
#include "util.h"

struct stress_ctx {
    const struct config *cfg;
};

static const char *stress_lookup(void *ctx, const char *name, size_t len)
{
    const struct stress_ctx *s = ctx;
    if (len == 6 && memcmp(name, "stress", 6) == 0)
        return "yes";
    char buf[128];
    if (len >= sizeof(buf))
        return NULL;
    memcpy(buf, name, len);
    buf[len] = '\0';
    struct cfg_value v;
    if (config_get(s->cfg, buf, &v) < 0)
        return NULL;
    return v.raw;
}

/* A time parameter expanded with stress = yes, in milliseconds; the
 * normal value when that fails. */
static uint64_t stress_time_ms(const struct config *cfg, const char *name, char unit, long normal)
{
    struct cfg_value v;
    uint64_t ms = (uint64_t)normal * 1000u;
    if (config_get(cfg, name, &v) < 0 || !v.raw)
        return ms;
    struct stress_ctx ctx = {cfg};
    struct strbuf out;
    struct cfg_expand_err err;
    strbuf_init(&out);
    long sec;
    if (cfg_expand(v.raw, strlen(v.raw), stress_lookup, &ctx, &out, &err) == 0 && out.buf &&
        cfg_value_time(out.buf, unit, &sec) == 0 && sec > 0)
        ms = (uint64_t)sec * 1000u;
    strbuf_free(&out);
    return ms;
}

static char *line(const char *prefix, const char *text, size_t *len)
{
    size_t n = strlen(prefix) + strlen(text) + 3;
    char *s = xmalloc(n);
    *len = (size_t)snprintf(s, n, "%s%s\r\n", prefix, text);
    return s;
}

/* "421 4.7.0 text": three digits starting with 4 or 5, then a space. */
static bool reply_ok(const char *r)
{
    return (r[0] == '4' || r[0] == '5') && r[1] >= '0' && r[1] <= '9' && r[2] >= '0' &&
           r[2] <= '9' && r[3] == ' ' && !strpbrk(r, "\r\n");
}

/* A command filter: NULL when empty, else its one table; -EINVAL (and a
 * diagnostic) for a list or a table that does not open. */
static int open_filter(const struct config *cfg, const char *name, const struct cfg_list *cl,
                       struct map **out, struct cfg_diag *diag)
{
    if (cl->n > 1) {
        cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: %s: one table only", cfg->path, name);
        return -EINVAL;
    }
    struct map_err merr;
    if (cl->n == 1 && map_open(cl->v[0], 0, out, &merr) < 0) {
        cfg_diag_add(diag, CFG_DIAG_ERROR, "%s: %s: %s", cfg->path, name, merr.msg);
        return -EINVAL;
    }
    return 0;
}

int fe_conf_load(const struct config *cfg, struct fe_conf **out, struct cfg_diag *diag)
{
    const struct cfg_params *p = &cfg->p;
    struct fe_conf *c = xcalloc(1, sizeof(*c));
    c->greet_action = p->postscreen_greet_action;
    c->denylist_action = p->postscreen_denylist_action;
    c->greet_wait_ms = (uint64_t)p->postscreen_greet_wait * 1000u;
    c->greet_wait_stress_ms =
        stress_time_ms(cfg, "postscreen_greet_wait", 's', p->postscreen_greet_wait);
    c->command_time_ms = (uint64_t)p->postscreen_command_time_limit * 1000u;
    c->command_time_stress_ms = stress_time_ms(cfg, "postscreen_command_time_limit", 's',
                                               p->postscreen_command_time_limit);
    c->smtpd_timeout_ms = (uint64_t)p->smtpd_timeout * 1000u;
    c->smtpd_timeout_stress_ms = stress_time_ms(cfg, "smtpd_timeout", 's', p->smtpd_timeout);
    c->command_count_limit = p->postscreen_command_count_limit;
    c->helo_required = p->postscreen_helo_required;
    c->disable_vrfy = p->postscreen_disable_vrfy_command;
    const char *banner = p->postscreen_greet_banner ? p->postscreen_greet_banner : "";
    if (banner[0])
        c->teaser = line("220-", banner, &c->teaser_len);
    c->greeting = line("220 ", p->smtpd_banner ? p->smtpd_banner : p->myhostname,
                       &c->greeting_len);
    snprintf(c->myhostname, sizeof(c->myhostname), "%s", p->myhostname);
    c->helo_reply = line("250 ", c->myhostname, &c->helo_len);
    {
        /* The enforce engine's EHLO: postscreen's own list
         * (postscreen_discard_ehlo_keywords), in smtpd's order without
         * PIPELINING (psc_smtpd_format_ehlo_reply()) and STARTTLS (it
         * cannot do TLS). */
        char e[EHLO_REPLY_MAX];
        c->ehlo_discard = ehlo_reply_mask((const char *const *)p->postscreen_discard_ehlo_keywords.v,
                                          p->postscreen_discard_ehlo_keywords.n);
        c->ehlo_opts = (struct ehlo_opts){
            .myhostname = c->myhostname,
            .message_size_limit = (uint64_t)p->message_size_limit,
            .discard = EHLO_KW_PIPELINING | c->ehlo_discard,
            .vrfy = !p->disable_vrfy_command,
            .smtputf8 = p->smtputf8_enable,
        };
        if (ehlo_reply_format(&c->ehlo_opts, e, sizeof(e)) < 0)
            e[0] = '\0';
        c->ehlo_reply = line("", e, &c->ehlo_len);
    }
    /* psc_smtpd_init(): opened once; looked up on each EHLO. */
    const struct cfg_list *el = &p->postscreen_discard_ehlo_keyword_address_maps;
    c->ehlo_maps = el->n ? xcalloc(el->n, sizeof(*c->ehlo_maps)) : NULL;
    for (size_t i = 0; i < el->n; i++) {
        struct map_err merr;
        if (map_open(el->v[i], 0, &c->ehlo_maps[c->n_ehlo_maps], &merr) < 0) {
            cfg_diag_add(diag, CFG_DIAG_ERROR,
                         "%s: postscreen_discard_ehlo_keyword_address_maps: %s", cfg->path,
                         merr.msg);
            fe_conf_free(c);
            return -EINVAL;
        }
        c->n_ehlo_maps++;
    }
    /* psc_smtpd_pre_jail_init() and smtpd's pre_jail_init(): each command
     * filter is one table (dict_open() of the whole value: a list does not
     * open in Postfix). */
    if (open_filter(cfg, "postscreen_command_filter", &p->postscreen_command_filter,
                    &c->cmd_filter, diag) < 0 ||
        open_filter(cfg, "smtpd_command_filter", &p->smtpd_command_filter,
                    &c->smtpd_cmd_filter, diag) < 0) {
        fe_conf_free(c);
        return -EINVAL;
    }
    c->smtputf8 = p->smtputf8_enable;
    c->line_limit = p->line_length_limit <= 0           ? 1
                    : p->line_length_limit > UINT32_MAX ? UINT32_MAX
                                                        : (uint32_t)p->line_length_limit;

    /* respectful_logging (Postfix 3.6+, default yes at compatibility 3.6). */
    struct cfg_value rv;
    c->respectful = !(config_get(cfg, "respectful_logging", &rv) == 0 && rv.raw &&
                      (strcmp(rv.raw, "no") == 0 || strcmp(rv.raw, "false") == 0));
    c->tarpit_rate = (unsigned)p->postscreen_tarpit_byte_rate;
    c->tarpit_ms = (uint64_t)p->postscreen_tarpit_time * 1000u;
    /* The drip is a 220- line that never ends: a client waiting for the
     * greeting reads it byte by byte. */
    c->tarpit_drip = line("220-", banner[0] ? banner : c->myhostname, &c->tarpit_drip_len);
    const char *tr = p->postscreen_tarpit_reply ? p->postscreen_tarpit_reply : "";
    if (!reply_ok(tr)) {
        cfg_diag_add(diag, CFG_DIAG_ERROR,
                     "%s: postscreen_tarpit_reply: \"%s\": not a 4XX or 5XX reply", cfg->path, tr);
        fe_conf_free(c);
        return -EINVAL;
    }
    c->tarpit_reply = line("", tr, &c->tarpit_reply_len);
    c->error_sleep_ms = (uint64_t)p->smtpd_error_sleep_time * 1000u;
    c->pool_size = (uint32_t)p->postscreen_connection_pool_size;
    int r = fe_acl_load(cfg, &c->acl, diag);
    if (r == 0)
        r = fe_screen_conf_load(cfg, c->greet_action, c->pool_size, &c->screen, diag);
    if (r == 0)
        r = fe_deep_conf_load(cfg, c, diag);
    if (r == 0)
        r = fe_early_conf_load(cfg, &c->early, diag);
    if (r < 0) {
        fe_conf_free(c);
        return r;
    }
    *out = c;
    return 0;
}

void fe_conf_free(struct fe_conf *c)
{
    if (!c)
        return;
    free(c->teaser);
    free(c->greeting);
    free(c->helo_reply);
    free(c->ehlo_reply);
    for (size_t i = 0; i < c->n_ehlo_maps; i++)
        map_close(c->ehlo_maps[i]);
    free(c->ehlo_maps);
    if (c->cmd_filter)
        map_close(c->cmd_filter);
    if (c->smtpd_cmd_filter)
        map_close(c->smtpd_cmd_filter);
    free(c->tarpit_drip);
    free(c->tarpit_reply);
    fe_acl_free(c->acl);
    fe_screen_conf_free(c->screen);
    fe_deep_conf_free(c->deep);
    fe_early_conf_free(c->early);
    free(c);
}

void fe_conf_restarted(const struct fe_conf *c)
{
    /* The dead frontend's counts would never be disconnected. */
    if (c && c->screen && c->screen->anvil)
        anvil_reset(c->screen->anvil);
}
