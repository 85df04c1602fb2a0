/*
 * fe_early_conf.c - the early client screening's configuration, prepared
 * in the master with the rest of struct fe_conf (before fork, so the
 * tables of smtpd_client_restrictions - the S25R regexp: tables compiled
 * to Hyperscan - are built once and shared by the forked frontend).
 *
 * smtpd_client_restrictions is compiled by the workers' engine
 * (restrict_ctx_create + restrict_compile_param): the same text gives the
 * same list in both processes; smtpd_helo_restrictions the same way,
 * judged when the deep tests see the HELO (fe_deep.c). A list the frontend cannot decide at
 * connect time (fe_early_list_decidable) is not kept: the worker
 * evaluates it as before. The PTR lookup runs when smtpd_peername_lookup
 * is on (the worker would make it otherwise), each step bounded by
 * postscreen_dnsbl_timeout, the frontend's DNS time limit.
 *
 * smtpd_discard_ehlo_keyword_address_maps is opened here too: the enforce
 * engine's smtpd mode answers EHLO per client as the worker does.
 *
 * Failure: a list the workers would refuse is refused here too (-EINVAL
 * with the engine's message in diag), so the generation fails as a whole;
 * so is a smtpd_discard_ehlo_keyword_address_maps table that does not
 * open (the workers refuse it: workers/generation.c).
 */
#include "fe_early_rule.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "maps.h"
#include "util.h"

int fe_early_conf_load(const struct config *cfg, struct fe_early_conf **out,
                       struct cfg_diag *diag)
{
    const struct cfg_params *p = &cfg->p;
    struct fe_early_conf *e = xcalloc(1, sizeof(*e));
    struct restrict_err err;
    *out = NULL;
    e->ptr = p->smtpd_peername_lookup;
    e->delay_reject = p->smtpd_delay_reject;
    e->helo_required = p->smtpd_helo_required;
    e->timeout_ms = p->postscreen_dnsbl_timeout > 0 ? (unsigned)p->postscreen_dnsbl_timeout * 1000u
                                                    : 10000u;
    snprintf(e->myhostname, sizeof(e->myhostname), "%s", p->myhostname);
    e->error_sleep_ms = (uint64_t)p->smtpd_error_sleep_time * 1000u;
    e->smtpd = (struct dummy_smtpd_conf){
        .myhostname = e->myhostname,
        .message_size_limit = (uint64_t)p->message_size_limit,
        .soft_limit = (unsigned)p->smtpd_soft_error_limit,
        .hard_limit = (unsigned)p->smtpd_hard_error_limit,
        .junk_limit = (unsigned)p->smtpd_junk_command_limit,
        .helo_required = p->smtpd_helo_required,
        .disable_vrfy = p->disable_vrfy_command,
        .strict = p->strict_rfc821_envelopes,
        .smtputf8 = p->smtputf8_enable, /* workers/generation.c session_limits() */
        /* tls_server_create(): a context for levels may and encrypt. */
        .tls_offered = p->smtpd_tls_security_level == TLS_LEV_MAY ||
                       p->smtpd_tls_security_level == TLS_LEV_ENCRYPT,
    };
    e->ehlo = (struct ehlo_opts){
        .myhostname = e->myhostname,
        .message_size_limit = (uint64_t)p->message_size_limit,
        .discard = ehlo_reply_mask((const char *const *)p->smtpd_discard_ehlo_keywords.v,
                                   p->smtpd_discard_ehlo_keywords.n),
        .vrfy = !p->disable_vrfy_command,
        .starttls = e->smtpd.tls_offered,
        .smtputf8 = p->smtputf8_enable,
    };
    const struct cfg_list *el = &p->smtpd_discard_ehlo_keyword_address_maps;
    e->ehlo_maps = el->n ? xcalloc(el->n, sizeof(*e->ehlo_maps)) : NULL;
    for (size_t i = 0; i < el->n; i++) {
        struct map_err merr;
        if (map_open(el->v[i], 0, &e->ehlo_maps[e->n_ehlo_maps], &merr) < 0) {
            snprintf(err.msg, sizeof(err.msg), "smtpd_discard_ehlo_keyword_address_maps: %s",
                     merr.msg);
            goto fail;
        }
        e->n_ehlo_maps++;
    }
    bool client = p->smtpd_client_restrictions.n > 0, helo = p->smtpd_helo_restrictions.n > 0;
    if ((client || helo) && restrict_ctx_create(cfg, &e->ctx, &err) != 0)
        goto fail;
    if (client) {
        if (restrict_compile_param(e->ctx, cfg, "smtpd_client_restrictions", &e->client, &err) !=
            0)
            goto fail;
        if (!fe_early_list_decidable(e->ctx, e->client)) {
            restrict_list_free(e->client);
            e->client = NULL;
        }
    }
    /* The HELO list is judged after the client list, so only when that one
     * is empty or decidable here too. */
    if (helo && (!client || e->client)) {
        if (restrict_compile_param(e->ctx, cfg, "smtpd_helo_restrictions", &e->helo, &err) != 0)
            goto fail;
        if (!fe_early_helo_decidable(e->ctx, e->helo)) {
            restrict_list_free(e->helo);
            e->helo = NULL;
        }
    }
    *out = e;
    return 0;
fail:
    cfg_diag_add(diag, CFG_DIAG_ERROR, "%s", err.msg);
    fe_early_conf_free(e);
    return -EINVAL;
}

void fe_early_conf_free(struct fe_early_conf *e)
{
    if (!e)
        return;
    restrict_list_free(e->client);
    restrict_list_free(e->helo);
    restrict_ctx_free(e->ctx);
    for (size_t i = 0; i < e->n_ehlo_maps; i++)
        map_close(e->ehlo_maps[i]);
    free(e->ehlo_maps);
    free(e);
}
