/* test_segment_restrict.c - restriction lists compiled while a maps.h
 * placer points at a policy segment live in the segment: a list's struct,
 * items and strings (rbl zone and argument, the parameter name), the lists
 * of smtpd_restriction_classes, and the context's match lists (mynetworks,
 * relay_domains, mydestination) lie inside it after the seal and a write
 * to them faults (in a forked child). Every case is evaluated on the
 * sealed lists and on the same lists compiled on the heap: same result,
 * same reply. Freeing placed lists leaves the segment alone (ASan would
 * see a bad free).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "maps.h"
#include "matchlist.h"
#include "restrict.h"
#include "segment.h"
#include "util.h"
#include "write_fault.h"

static const char maincf[] =
    "compatibility_level = 3.6\n"
    "myhostname = mx.test\n"
    "mydestination = mx.test, localhost\n"
    "mynetworks = 127.0.0.0/8 [::1]/128 !192.0.2.7 192.0.2.0/24\n"
    "relay_domains = relay1.test relay2.test\n"
    "smtpd_restriction_classes = friends\n"
    "friends = check_sender_access inline:{{friend@x.test = OK}}, reject_rbl_client "
    "zen.example=127.0.0.[2..11]\n";

static const char list[] =
    "permit_mynetworks, check_client_access inline:{{198.51.100.9 = REJECT listed}}, "
    "check_recipient_access inline:{{vip@relay1.test = friends}}, reject_unauth_destination";

struct rcase {
    const char *addr, *sender, *rcpt;
};

static const struct rcase cases[] = {
    {"127.0.0.1", "a@x.test", "u@elsewhere.test"},     /* mynetworks: permit */
    {"192.0.2.7", "a@x.test", "u@elsewhere.test"},     /* "!": relay denied */
    {"192.0.2.8", "a@x.test", "u@elsewhere.test"},     /* network: permit */
    {"198.51.100.9", "a@x.test", "u@relay1.test"},     /* client table: REJECT */
    {"198.51.100.1", "a@x.test", "u@relay2.test"},     /* relay_domains: dunno */
    {"198.51.100.1", "a@x.test", "u@mx.test"},         /* mydestination: dunno */
    {"198.51.100.1", "friend@x.test", "vip@relay1.test"}, /* class: OK */
    {"198.51.100.1", "a@x.test", "u@elsewhere.test"},  /* relay access denied */
};

static void eval(const struct restrict_ctx *ctx, const struct restrict_list *l,
                 const struct rcase *c, struct restrict_verdict *v)
{
    char namaddr[300];
    snprintf(namaddr, sizeof(namaddr), "unknown[%s]", c->addr);
    struct restrict_facts f = {
        .name = "unknown", .reverse_name = "unknown", .addr = c->addr, .namaddr = namaddr,
        .helo = "h.test", .sender = c->sender, .recipient = c->rcpt, .esmtp = true,
    };
    struct restrict_state *st = xcalloc(1, sizeof(*st));
    memset(v, 0, sizeof(*v));
    restrict_stage_begin(st, RESTRICT_RECIPIENT);
    v->result = restrict_eval(ctx, l, &f, st, v);
    free(st);
}

static void test_placed_lists(void **state)
{
    (void)state;
    struct config cfg;
    struct cfg_diag d;
    cfg_diag_init(&d);
    assert_int_equal(config_load_buf("/nonexistent", maincf, strlen(maincf), &cfg, &d), 0);
    struct restrict_err err;

    struct restrict_ctx *hctx, *pctx;
    struct restrict_list *hl, *pl = NULL; /* clang: fail_msg() is not noreturn */
    assert_int_equal(restrict_ctx_create(&cfg, &hctx, &err), 0);
    assert_int_equal(restrict_compile(hctx, "smtpd_recipient_restrictions", list, strlen(list),
                                      &hl, &err), 0);
    assert_false(hl->placed);

    struct segment *seg;
    struct map_placer placer;
    assert_int_equal(segment_create(41, 0, &seg), 0);
    segment_map_placer(seg, &placer);
    maps_set_placer(&placer);
    int rc = restrict_ctx_create(&cfg, &pctx, &err);
    if (rc == 0)
        rc = restrict_compile(pctx, "smtpd_recipient_restrictions", list, strlen(list), &pl, &err);
    maps_set_placer(NULL);
    if (rc != 0)
        fail_msg("placed: %s", err.msg);
    assert_int_equal(segment_seal(seg), 0);

    /* Where everything is. */
    assert_true(pl->placed);
    assert_true(segment_contains(seg, pl));
    assert_true(segment_contains(seg, pl->v));
    assert_true(segment_contains(seg, pl->param));
    assert_string_equal(pl->param, "smtpd_recipient_restrictions");
    assert_int_equal(pl->n, hl->n);
    assert_int_equal(pctx->nclasses, 1);
    const struct restrict_list *cls = &pctx->classes[0];
    assert_true(cls->placed);
    assert_true(segment_contains(seg, cls->v));
    assert_int_equal(cls->n, 2);
    assert_string_equal(cls->v[1].zone, "zen.example");
    assert_string_equal(cls->v[1].arg, "zen.example=127.0.0.[2..11]");
    assert_true(segment_contains(seg, cls->v[1].zone));
    assert_true(segment_contains(seg, cls->v[1].arg));
    const struct matchlist *ml[] = {pctx->mynetworks, pctx->relay_domains, pctx->mydestination};
    for (size_t i = 0; i < ARRAY_LEN(ml); i++) {
        assert_true(ml[i]->placed);
        assert_true(segment_contains(seg, ml[i]));
        assert_true(segment_contains(seg, ml[i]->items));
    }
    assert_int_equal(write_fault_signal(pl->v), SIGSEGV);
    assert_int_equal(write_fault_signal(cls->v[1].zone), SIGSEGV);
    assert_int_equal(write_fault_signal(pctx->mynetworks->items[0].text), SIGSEGV);

    /* Same answers from both. */
    static const enum restrict_result want[] = {
        RESTRICT_PERMIT, RESTRICT_REJECT, RESTRICT_PERMIT, RESTRICT_REJECT,
        RESTRICT_DUNNO,  RESTRICT_DUNNO,  RESTRICT_PERMIT, RESTRICT_REJECT,
    };
    _Static_assert(ARRAY_LEN(want) == ARRAY_LEN(cases), "one result per case");
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct restrict_verdict hv, pv;
        eval(hctx, hl, &cases[i], &hv);
        eval(pctx, pl, &cases[i], &pv);
        if (hv.result != want[i] || pv.result != hv.result || strcmp(hv.reply, pv.reply) != 0)
            fail_msg("case %zu: want %d, heap %d \"%s\", segment %d \"%s\"", i, want[i],
                     hv.result, hv.reply, pv.result, pv.reply);
    }

    restrict_list_free(pl);
    restrict_ctx_free(pctx);
    restrict_list_free(hl);
    restrict_ctx_free(hctx);
    segment_free(seg);
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placed_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
