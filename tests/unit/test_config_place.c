/* test_config_place.c - config_place(): a loaded configuration moved into
 * a policy segment. After the seal its strings (typed fields, main.cf
 * entries, defaults), list vectors and tokens are inside the segment, a
 * write to them faults in a forked child, generic access and $name
 * expansion still answer, the typed fields read the same as before; a
 * placer that runs dry leaves the configuration whole on the heap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "segment.h"
#include "write_fault.h"

static const char maincf[] =
    "myhostname = mx.example.com\n"
    "mydomain = example.com\n"
    "smtpd_banner = $myhostname ESMTP $mail_name\n"
    "mynetworks = 127.0.0.0/8, [::1]/128\n"
    "smtpd_recipient_restrictions = permit_mynetworks,\n"
    "    check_recipient_access inline:{ {a@example.com = REJECT no} },\n"
    "    reject_unauth_destination\n"
    "smtpd_error_sleep_time = 2s\n"
    "my_own_name = kept\n";

static void *seg_alloc(void *ctx, size_t size, size_t align)
{
    void *p;
    return segment_alloc(ctx, size, align, &p) < 0 ? NULL : p;
}

static void load(struct config *cfg)
{
    struct cfg_diag d;
    cfg_diag_init(&d);
    assert_int_equal(config_load_buf("/nonexistent", maincf, strlen(maincf), cfg, &d), 0);
    cfg_diag_free(&d);
}

static void test_placed(void **state)
{
    (void)state;
    struct config cfg;
    struct segment *seg;
    load(&cfg);
    assert_int_equal(segment_create(31, 0, &seg), 0);
    assert_false(segment_contains(seg, cfg.p.myhostname));
    assert_int_equal(config_place(&cfg, seg_alloc, seg), 0);
    assert_int_equal(segment_seal(seg), 0);

    const struct cfg_list *rr = &cfg.p.smtpd_recipient_restrictions;
    const void *inside[] = {cfg.p.myhostname,      cfg.p.smtpd_banner, cfg.p.mail_name,
                            cfg.p.mynetworks.v,    cfg.p.mynetworks.v[1], rr->v,
                            rr->v[2],              cfg.file.v,         cfg.file.v[0].value,
                            cfg.path,              cfg.expanded,       cfg.lists};
    for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
        if (!segment_contains(seg, inside[i]))
            fail_msg("block %zu (%p) is not in the segment", i, inside[i]);
    assert_int_equal(write_fault_signal(cfg.p.myhostname), SIGSEGV);
    assert_int_equal(write_fault_signal(rr->v), SIGSEGV);

    /* The same answers as before the move. */
    assert_string_equal(cfg.p.myhostname, "mx.example.com");
    assert_string_equal(cfg.p.smtpd_banner, "mx.example.com ESMTP mxscreen");
    assert_int_equal(cfg.p.smtpd_error_sleep_time, 2);
    assert_int_equal(rr->n, 4);
    assert_string_equal(rr->v[1], "check_recipient_access");
    assert_string_equal(rr->v[2], "inline:{ {a@example.com = REJECT no} }");
    assert_null(rr->v[4]);
    struct cfg_value v;
    assert_int_equal(config_get(&cfg, "my_own_name", &v), 0);
    assert_string_equal(v.raw, "kept");
    assert_true(segment_contains(seg, v.raw));
    assert_int_equal(config_get(&cfg, "mydomain", &v), 0);
    assert_string_equal(v.expanded, "example.com");
    struct cfg_expand_err e;
    char *x = config_expand(&cfg, "$myhostname/$mydomain", &e);
    assert_string_equal(x, "mx.example.com/example.com");
    free(x);

    config_free(&cfg); /* forgets, frees nothing: ASan would see it */
    segment_free(seg);
}

/* A segment too small: -ENOMEM and the configuration is still whole. */
static void test_full(void **state)
{
    (void)state;
    struct config cfg;
    struct segment *seg;
    load(&cfg);
    assert_int_equal(segment_create(32, 4096, &seg), 0);
    assert_int_equal(config_place(&cfg, seg_alloc, seg), -ENOMEM);
    assert_false(cfg.placed);
    assert_false(segment_contains(seg, cfg.p.myhostname));
    assert_string_equal(cfg.p.myhostname, "mx.example.com");
    assert_string_equal(cfg.p.smtpd_recipient_restrictions.v[3], "reject_unauth_destination");
    config_free(&cfg);
    segment_free(seg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placed),
        cmocka_unit_test(test_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
