/* test_fe_early.c - the frontend's early client screening rules
 * (frontend/fe_early_rule.c): Postfix's peer codes, which lists the
 * frontend may decide, and the "definite final 5xx only" rule, table-driven
 * over the real restriction engine with the seed's S25R regexps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fe_early_rule.h"

static char s25r_path[64];

/* The seed's client_restrictions (examples/client_restrictions), plus a
 * WARN and a HOLD rule and a value that names restrictions. */
static const char s25r[] =
    "/\\.hotmail\\.com$/      OK\n"
    "/^(dhcp|dialup|ppp|adsl|pool)[^.]*[0-9]/  550 S25R6 check\n"
    "/\\.dip\\.t-dialin\\.net$/                 550 domain check t-dialin\n"
    "/^warn[0-9]/   WARN looks dynamic\n"
    "/^hold[0-9]/   HOLD\n"
    "/^soft[0-9]/   450 try later\n"
    "/^both[0-9]/   reject_unknown_reverse_client_hostname, reject\n"
    "/^tls[0-9]/    permit_tls_clientcerts, reject\n";

static int setup(void **state)
{
    (void)state;
    snprintf(s25r_path, sizeof(s25r_path), "/tmp/test_fe_early.%ld", (long)getpid());
    FILE *f = fopen(s25r_path, "w");
    if (!f)
        return -1;
    fputs(s25r, f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(s25r_path);
    return 0;
}

static void peer_codes(void **state)
{
    (void)state;
    static const struct {
        enum dns_client_status s;
        enum handoff_peer rev, name;
    } t[] = {
        {DNS_CLIENT_OK, HANDOFF_PEER_OK, HANDOFF_PEER_OK},
        {DNS_CLIENT_FORGED, HANDOFF_PEER_OK, HANDOFF_PEER_FORGED},
        {DNS_CLIENT_FWD_TEMP, HANDOFF_PEER_OK, HANDOFF_PEER_TEMP},
        {DNS_CLIENT_NOPTR, HANDOFF_PEER_PERM, HANDOFF_PEER_PERM},
        {DNS_CLIENT_TEMP, HANDOFF_PEER_TEMP, HANDOFF_PEER_TEMP},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(fe_early_reverse_code(t[i].s), t[i].rev);
        assert_int_equal(fe_early_name_code(t[i].s), t[i].name);
    }
    /* The engine's view: FORGED is a permanent failure (>= PERM). */
    assert_int_equal(fe_early_status(HANDOFF_PEER_FORGED), DNS_NAME_PERM);
    assert_int_equal(fe_early_status(HANDOFF_PEER_PERM), DNS_NAME_PERM);
    assert_int_equal(fe_early_status(HANDOFF_PEER_TEMP), DNS_NAME_TEMP);
    assert_int_equal(fe_early_status(HANDOFF_PEER_OK), DNS_NAME_OK);
}

struct ecase {
    const char *maincf; /* extra main.cf lines */
    const char *list;   /* smtpd_client_restrictions; %s = the regexp table */
    bool decidable;
    const char *addr, *ptr;
    enum handoff_peer name, rev;
    enum fe_early_outcome want;
    const char *reply; /* on REJECT */
    bool connect;      /* smtpd_delay_reject = no: evaluated outside a transaction */
};

#define OK HANDOFF_PEER_OK
#define S25R "permit_mynetworks, check_client_access regexp:%s"

static const struct ecase cases[] = {
    /* The seed's S25R rule on a confirmed dynamic-looking name. */
    {"", S25R, true, "192.0.2.5", "ppp123.example.net", OK, OK, FE_EARLY_REJECT,
     "550 5.7.1 <ppp123.example.net[192.0.2.5]>: Client host rejected: S25R6 check", false},
    /* Forged: the name is "unknown", the regexp sees no name: handed off. */
    {"", S25R, true, "192.0.2.6", "ppp123.example.net", HANDOFF_PEER_FORGED, OK, FE_EARLY_HANDOFF,
     NULL, false},
    /* Allowlisted name, a plain name, mynetworks: no reject. */
    {"", S25R, true, "192.0.2.7", "mx1.hotmail.com", OK, OK, FE_EARLY_HANDOFF, NULL, false},
    {"", S25R, true, "192.0.2.8", "mail.example.org", OK, OK, FE_EARLY_HANDOFF, NULL, false},
    {"", S25R, true, "127.0.0.9", "ppp9.example.net", OK, OK, FE_EARLY_HANDOFF, NULL, false},
    /* access_map_reject_code does not touch an explicit code. */
    {"access_map_reject_code = 554", S25R, true, "192.0.2.10", "dhcp10.isp.test", OK, OK,
     FE_EARLY_REJECT, "550 5.7.1 <dhcp10.isp.test[192.0.2.10]>: Client host rejected: S25R6 check", false},
    /* WARN, HOLD: side effects the worker must log or carry. */
    {"", S25R, true, "192.0.2.11", "warn1.isp.test", OK, OK, FE_EARLY_HANDOFF, NULL, false},
    {"", S25R ", reject", true, "192.0.2.12", "hold1.isp.test", OK, OK, FE_EARLY_HANDOFF, NULL, false},
    /* ... but at connect (smtpd_delay_reject = no) Postfix skips HOLD. */
    {"", S25R ", reject", true, "192.0.2.12", "hold1.isp.test", OK, OK, FE_EARLY_REJECT,
     "554 5.7.1 <hold1.isp.test[192.0.2.12]>: Client host rejected: Access denied", true},
    /* A 4xx reject is never definite. */
    {"", S25R, true, "192.0.2.13", "soft1.isp.test", OK, OK, FE_EARLY_HANDOFF, NULL, false},
    /* A value naming restrictions: followed, a final 5xx. */
    {"", S25R, true, "192.0.2.14", "both1.isp.test", OK, OK, FE_EARLY_REJECT,
     "554 5.7.1 <both1.isp.test[192.0.2.14]>: Client host rejected: Access denied", false},
    /* No PTR, reject_unknown_client_hostname: the code from the parameter. */
    {"unknown_client_reject_code = 550", "reject_unknown_client_hostname", true, "192.0.2.15", "",
     HANDOFF_PEER_PERM, HANDOFF_PEER_PERM, FE_EARLY_REJECT,
     "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.15]", false},
    /* Forged counts as permanent, as in smtpd_check.c. */
    {"unknown_client_reject_code = 550", "reject_unknown_client_hostname", true, "192.0.2.16",
     "x.example.net", HANDOFF_PEER_FORGED, OK, FE_EARLY_REJECT,
     "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.16]", false},
    /* A temporary lookup failure gives 450: handed off. */
    {"", "reject_unknown_client_hostname", true, "192.0.2.17", "", HANDOFF_PEER_TEMP,
     HANDOFF_PEER_TEMP, FE_EARLY_HANDOFF, NULL, false},
    /* defer_if_reject turns the reject into 450: handed off. */
    {"", "defer_if_reject, reject", true, "192.0.2.18", "a.example", OK, OK, FE_EARLY_HANDOFF,
     NULL, false},
    /* warn_if_reject: a reject_warning line, and no reject. */
    {"", "warn_if_reject, reject, permit", true, "192.0.2.19", "a.example", OK, OK,
     FE_EARLY_HANDOFF, NULL, false},
    /* A DNS list: the walk needs DNS, the worker asks. */
    {"", "reject_rbl_client zen.example, reject", true, "192.0.2.20", "a.example", OK, OK,
     FE_EARLY_HANDOFF, NULL, false},
    /* Lists the frontend cannot decide at connect time: not kept. */
    {"", "permit_tls_clientcerts, reject", false, "192.0.2.21", "a.example", OK, OK,
     FE_EARLY_REJECT, "554 5.7.1 <a.example[192.0.2.21]>: Client host rejected: Access denied", false},
    {"", "check_helo_access static:REJECT", false, NULL, NULL, OK, OK, FE_EARLY_HANDOFF, NULL, false},
    {"", "reject_unauth_pipelining, reject", false, NULL, NULL, OK, OK, FE_EARLY_HANDOFF, NULL, false},
    {"smtpd_restriction_classes = c1\nc1 = permit_sasl_authenticated, reject", "c1", false, NULL,
     NULL, OK, OK, FE_EARLY_HANDOFF, NULL, false},
    {"smtpd_restriction_classes = c2\nc2 = permit_mynetworks, reject", "c2", true, "192.0.2.22",
     "a.example", OK, OK, FE_EARLY_REJECT,
     "554 5.7.1 <a.example[192.0.2.22]>: Client host rejected: Access denied", false},
};

static void evaluate_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ecase *c = &cases[i];
        char maincf[1024], list[512];
        snprintf(list, sizeof(list), c->list, s25r_path);
        snprintf(maincf, sizeof(maincf),
                 "compatibility_level = 3.6\nmyhostname = mx.test\nmynetworks = 127.0.0.0/8\n%s\n",
                 c->maincf);
        struct config cfg;
        struct cfg_diag d;
        cfg_diag_init(&d);
        if (config_load_buf("/nonexistent", maincf, strlen(maincf), &cfg, &d) != 0)
            fail_msg("case %zu: config", i);
        struct restrict_ctx *ctx;
        struct restrict_list *l;
        struct restrict_err err;
        if (restrict_ctx_create(&cfg, &ctx, &err) != 0)
            fail_msg("case %zu: ctx: %s", i, err.msg);
        if (restrict_compile(ctx, "smtpd_client_restrictions", list, strlen(list), &l, &err) != 0)
            fail_msg("case %zu: compile: %s", i, err.msg);
        if (fe_early_list_decidable(ctx, l) != c->decidable)
            fail_msg("case %zu: decidable %d", i, !c->decidable);
        if (c->addr) {
            struct fe_early_client cl = {c->addr, c->ptr, c->name, c->rev, !c->connect};
            struct restrict_state *st = malloc(sizeof(*st));
            struct restrict_verdict v;
            enum fe_early_outcome o = fe_early_evaluate(ctx, l, &cl, st, &v);
            if (o != c->want)
                fail_msg("case %zu: outcome %d (%s)", i, (int)o, v.reply);
            if (c->reply && strcmp(v.reply, c->reply) != 0)
                fail_msg("case %zu: reply '%s' want '%s'", i, v.reply, c->reply);
            free(st);
        }
        restrict_list_free(l);
        restrict_ctx_free(ctx);
        config_free(&cfg);
        cfg_diag_free(&d);
    }
}

/* smtpd_helo_restrictions after smtpd_client_restrictions, as the worker
 * walks them at the HELO check (fe_early_evaluate_helo). */
struct hcase {
    const char *client; /* smtpd_client_restrictions ("" = empty) */
    const char *helo;   /* smtpd_helo_restrictions; %s = the helo table */
    bool decidable;
    const char *addr;
    enum handoff_peer name; /* name and reverse code */
    const char *helo_name;
    enum fe_early_outcome want;
    const char *reply; /* on REJECT */
};

/* The seed's helo_access (a claim to be us or localhost) and its list. */
static const char helo_table[] = "localhost REJECT\nmx.test 550 you are not me\n"
                                 "warn.test WARN odd\nok.test OK\n";
#define SEEDH "permit_mynetworks, check_helo_access texthash:%s, " \
              "warn_if_reject reject_unknown_helo_hostname"

static const struct hcase hcases[] = {
    {"", SEEDH, true, "192.0.2.5", OK, "localhost", FE_EARLY_REJECT,
     "554 5.7.1 <localhost>: Helo command rejected: Access denied"},
    {"", SEEDH, true, "192.0.2.5", OK, "mx.test", FE_EARLY_REJECT,
     "550 5.7.1 <mx.test>: Helo command rejected: you are not me"},
    /* Case-insensitive lookup, the reply names the HELO as sent. */
    {"", SEEDH, true, "192.0.2.5", OK, "LocalHost", FE_EARLY_REJECT,
     "554 5.7.1 <LocalHost>: Helo command rejected: Access denied"},
    /* Not in the table: reject_unknown_helo_hostname needs DNS. */
    {"", SEEDH, true, "192.0.2.5", OK, "mail.example.org", FE_EARLY_HANDOFF, NULL},
    /* OK ends the list: nothing to say. */
    {"", SEEDH, true, "192.0.2.5", OK, "ok.test", FE_EARLY_CLEAN, NULL},
    /* WARN: a log line the worker writes. */
    {"", SEEDH, true, "192.0.2.5", OK, "warn.test", FE_EARLY_HANDOFF, NULL},
    /* Our own network: permit_mynetworks first. */
    {"", SEEDH, true, "127.0.0.1", OK, "localhost", FE_EARLY_CLEAN, NULL},
    {"", "reject_invalid_helo_hostname", true, "192.0.2.5", OK, "bad..name", FE_EARLY_REJECT,
     "501 5.5.2 <bad..name>: Helo command rejected: Invalid name"},
    {"", "reject_invalid_helo_hostname", true, "192.0.2.5", OK, "a_b!", FE_EARLY_REJECT,
     "501 5.5.2 <a_b!>: Helo command rejected: Invalid name"},
    {"", "reject_invalid_helo_hostname", true, "192.0.2.5", OK, "[192.0.2.5]", FE_EARLY_CLEAN,
     NULL},
    {"", "reject_non_fqdn_helo_hostname", true, "192.0.2.5", OK, "foo", FE_EARLY_REJECT,
     "504 5.5.2 <foo>: Helo command rejected: need fully-qualified hostname"},
    {"", "reject_non_fqdn_helo_hostname", true, "192.0.2.5", OK, "foo.example", FE_EARLY_CLEAN,
     NULL},
    /* warn_if_reject: reject_warning logged, no reject. */
    {"", "warn_if_reject reject_non_fqdn_helo_hostname", true, "192.0.2.5", OK, "foo",
     FE_EARLY_HANDOFF, NULL},
    /* The client list permits: the HELO list still runs (one per stage). */
    {"permit_mynetworks, check_client_access static:OK", "reject_non_fqdn_helo_hostname", true,
     "192.0.2.5", OK, "foo", FE_EARLY_REJECT,
     "504 5.5.2 <foo>: Helo command rejected: need fully-qualified hostname"},
    /* The client list rejects or defers: its verdict comes first. */
    {"reject_unknown_client_hostname", "reject_non_fqdn_helo_hostname", true, "192.0.2.5",
     HANDOFF_PEER_TEMP, "foo", FE_EARLY_HANDOFF, NULL},
    {"reject", "reject_non_fqdn_helo_hostname", true, "192.0.2.5", OK, "foo", FE_EARLY_HANDOFF,
     NULL},
    /* defer_if_reject does not outlive its list (smtpd_check.c's
     * SMTPD_CHECK_RESET at each stage): the HELO reject stands. */
    {"defer_if_reject", "reject_non_fqdn_helo_hostname", true, "192.0.2.5", OK, "foo",
     FE_EARLY_REJECT, "504 5.5.2 <foo>: Helo command rejected: need fully-qualified hostname"},
    /* ... but within the HELO list it turns the reject into a 450. */
    {"", "defer_if_reject, reject_non_fqdn_helo_hostname", true, "192.0.2.5", OK, "foo",
     FE_EARLY_HANDOFF, NULL},
    /* defer_if_permit carried: a reject still wins, as in Postfix. */
    {"defer_if_permit", "reject_non_fqdn_helo_hostname", true, "192.0.2.5", OK, "foo",
     FE_EARLY_REJECT, "504 5.5.2 <foo>: Helo command rejected: need fully-qualified hostname"},
    {"defer_if_permit", "reject_non_fqdn_helo_hostname", true, "192.0.2.5", OK, "foo.example",
     FE_EARLY_HANDOFF, NULL},
    /* Lists whose answer the session may still change: not decidable. */
    {"", "permit_sasl_authenticated, reject", false, NULL, OK, NULL, FE_EARLY_HANDOFF, NULL},
    {"", "reject_unauth_pipelining", false, NULL, OK, NULL, FE_EARLY_HANDOFF, NULL},
    {"", "check_sender_access static:REJECT", false, NULL, OK, NULL, FE_EARLY_HANDOFF, NULL},
};

static void helo_table_cases(void **state)
{
    (void)state;
    char hpath[64];
    snprintf(hpath, sizeof(hpath), "/tmp/test_fe_early_helo.%ld", (long)getpid());
    FILE *hf = fopen(hpath, "w");
    assert_non_null(hf);
    fputs(helo_table, hf);
    fclose(hf);
    for (size_t i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++) {
        const struct hcase *c = &hcases[i];
        char list[512];
        snprintf(list, sizeof(list), c->helo, hpath);
        static const char maincf[] =
            "compatibility_level = 3.6\nmyhostname = mx.test\nmynetworks = 127.0.0.0/8\n";
        struct config cfg;
        struct cfg_diag d;
        cfg_diag_init(&d);
        if (config_load_buf("/nonexistent", maincf, strlen(maincf), &cfg, &d) != 0)
            fail_msg("hcase %zu: config", i);
        struct restrict_ctx *ctx;
        struct restrict_list *cl = NULL, *hl;
        struct restrict_err err;
        if (restrict_ctx_create(&cfg, &ctx, &err) != 0)
            fail_msg("hcase %zu: ctx: %s", i, err.msg);
        if (c->client[0] && restrict_compile(ctx, "smtpd_client_restrictions", c->client,
                                             strlen(c->client), &cl, &err) != 0)
            fail_msg("hcase %zu: compile client: %s", i, err.msg);
        if (restrict_compile(ctx, "smtpd_helo_restrictions", list, strlen(list), &hl, &err) != 0)
            fail_msg("hcase %zu: compile: %s", i, err.msg);
        if (fe_early_helo_decidable(ctx, hl) != c->decidable)
            fail_msg("hcase %zu: decidable %d", i, !c->decidable);
        if (c->addr) {
            struct fe_early_client fc = {c->addr, "a.example", c->name, c->name, true};
            struct restrict_state *st = malloc(sizeof(*st));
            struct restrict_verdict v;
            enum fe_early_outcome o =
                fe_early_evaluate_helo(ctx, cl, hl, &fc, c->helo_name, true, st, &v);
            if (o != c->want)
                fail_msg("hcase %zu: outcome %d (%s)", i, (int)o, v.reply);
            if (c->reply && strcmp(v.reply, c->reply) != 0)
                fail_msg("hcase %zu: reply '%s' want '%s'", i, v.reply, c->reply);
            /* No HELO yet, or no lookup: never judged. */
            assert_int_equal(fe_early_evaluate_helo(ctx, cl, hl, &fc, NULL, true, st, &v),
                             FE_EARLY_HANDOFF);
            fc.name_code = HANDOFF_PEER_UNCHECKED;
            assert_int_equal(
                fe_early_evaluate_helo(ctx, cl, hl, &fc, c->helo_name, true, st, &v),
                FE_EARLY_HANDOFF);
            free(st);
        }
        restrict_list_free(cl);
        restrict_list_free(hl);
        restrict_ctx_free(ctx);
        config_free(&cfg);
        cfg_diag_free(&d);
    }
    unlink(hpath);
}

static void judge_edges(void **state)
{
    (void)state;
    struct restrict_state *st = calloc(1, sizeof(*st));
    struct restrict_verdict v = {RESTRICT_REJECT, 550, "550 5.7.1 no"};
    assert_int_equal(fe_early_judge_result(RESTRICT_REJECT, &v, st, 0), FE_EARLY_REJECT);
    assert_int_equal(fe_early_judge_result(RESTRICT_REJECT, &v, st, 1), FE_EARLY_HANDOFF);
    assert_int_equal(fe_early_judge_result(RESTRICT_PERMIT, &v, st, 0), FE_EARLY_HANDOFF);
    assert_int_equal(fe_early_judge_result(RESTRICT_DUNNO, &v, st, 0), FE_EARLY_HANDOFF);
    assert_int_equal(fe_early_judge_result(RESTRICT_REJECT, NULL, st, 0), FE_EARLY_HANDOFF);
    st->discard = true;
    assert_int_equal(fe_early_judge_result(RESTRICT_REJECT, &v, st, 0), FE_EARLY_HANDOFF);
    st->discard = false;
    snprintf(st->prepend, sizeof(st->prepend), "X-A: b");
    assert_int_equal(fe_early_judge_result(RESTRICT_REJECT, &v, st, 0), FE_EARLY_HANDOFF);
    st->prepend[0] = 0;
    v.code = 450;
    snprintf(v.reply, sizeof(v.reply), "450 4.7.1 later");
    assert_int_equal(fe_early_judge_result(RESTRICT_REJECT, &v, st, 0), FE_EARLY_HANDOFF);
    v.code = 600;
    snprintf(v.reply, sizeof(v.reply), "600 6.0.0 odd");
    assert_int_equal(fe_early_judge_result(RESTRICT_REJECT, &v, st, 0), FE_EARLY_HANDOFF);
    /* No lookup made: never evaluated. */
    struct fe_early_client cl = {"192.0.2.1", "", HANDOFF_PEER_UNCHECKED, HANDOFF_PEER_UNCHECKED,
                                 true};
    assert_int_equal(fe_early_evaluate(NULL, NULL, &cl, st, &v), FE_EARLY_HANDOFF);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(peer_codes),
        cmocka_unit_test(evaluate_table),
        cmocka_unit_test(judge_edges),
        cmocka_unit_test(helo_table_cases),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
