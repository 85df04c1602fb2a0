/* fuzz_restrict.c - the restriction-list compiler (text -> compiled list)
 * and the evaluation of what it compiled, with fixed facts and a resolver
 * that answers NXDOMAIN (or, every other query, a listing). Only inline:
 * and static: tables are allowed in the input, so nothing touches files. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "matchlist.h"
#include "restrict.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg;
static struct restrict_ctx *ctx;

static int tables_are_in_memory(const char *buf, size_t len)
{
    size_t pos = 0, s, n;
    while (matchlist_next_token(buf, len, &pos, &s, &n)) {
        const char *t = buf + s;
        if (n && *t == '{')
            t++, n--;
        if (memchr(t, ':', n) && !(n >= 7 && memcmp(t, "inline:", 7) == 0)
            && !(n >= 7 && memcmp(t, "static:", 7) == 0))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    if (!ctx) {
        static const char maincf[] =
            "compatibility_level = 3.6\nmyhostname = mx.test\nmynetworks = 127.0.0.0/8\n"
            "mydestination = here.test\nrelay_domains = relay.test\n"
            "smtpd_restriction_classes = c1\nc1 = reject_non_fqdn_sender, c1\n";
        struct cfg_diag d;
        struct restrict_err err;
        cfg_diag_init(&d);
        if (config_load_buf("/nonexistent", maincf, strlen(maincf), &cfg, &d) != 0
            || restrict_ctx_create(&cfg, &ctx, &err) != 0)
            __builtin_trap();
        cfg_diag_free(&d);
    }
    if (size > 4096 || !tables_are_in_memory(buf, size))
        return 0;
    struct restrict_list *l;
    struct restrict_err err;
    if (restrict_compile(ctx, "smtpd_fuzz_restrictions", buf, size, &l, &err) != 0) {
        if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL || l != NULL)
            __builtin_trap();
        return 0;
    }
    struct restrict_facts f = {
        .name = "mail.example.net", .reverse_name = "mail.example.net", .addr = "192.0.2.9",
        .namaddr = "mail.example.net[192.0.2.9]", .helo = "x", .sender = "a@b",
        .recipient = "u%v@relay.test", .esmtp = true, .pipelined = true,
    };
    struct restrict_state *st = calloc(1, sizeof(*st));
    struct restrict_verdict v;
    for (int stage = RESTRICT_CLIENT; stage < RESTRICT_STAGES; stage++) {
        restrict_stage_begin(st, (enum restrict_stage)stage);
        enum restrict_result r;
        int q = 0;
        while ((r = restrict_eval(ctx, l, &f, st, &v)) == RESTRICT_NEED_DNS) {
            struct dns_result res;
            memset(&res, 0, sizeof(res));
            res.type = st->query.type == RQ_TXT ? DNS_T_TXT
                       : st->query.type == RQ_MX ? DNS_T_MX : DNS_T_A;
            res.status = (q & 1) ? DNS_OK : DNS_NXDOMAIN;
            res.count = res.status == DNS_OK ? 1 : 0;
            res.u.a[0].s_addr = htonl(0x7f000002);
            restrict_dns_answer(st, &res);
            if (++q > 64)
                __builtin_trap();
        }
        r = restrict_stage_end(st, r, &f, &v);
        if (r == RESTRICT_REJECT
            && (strlen(v.reply) < 10 || (v.reply[0] != '4' && v.reply[0] != '5')
                || v.reply[4] != v.reply[0]))
            __builtin_trap();
    }
    free(st);
    restrict_list_free(l);
    return 0;
}
