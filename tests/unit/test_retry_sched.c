/* test_retry_sched.c - qmgr's scheduling arithmetic, table-driven: backoff
 * between minimal and maximal_backoff_time from the message's age, expiry
 * (bounce_queue_lifetime for the null sender, capped), the delay warning
 * exactly once, queue scans, feedback parsing, the destination concurrency
 * window (slow start, negative feedback, dead and revived), and the
 * per-transport limit from main.cf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "config.h"
#include "retry_sched.h"

static const struct sched_params defaults = {
    .minimal_backoff_time = 300, .maximal_backoff_time = 4000, .queue_run_delay = 300,
    .maximal_queue_lifetime = 5 * 86400, .bounce_queue_lifetime = 5 * 86400,
    .delay_warning_time = 0,
};

#define T0 1700000000

static void backoff_follows_age(void **state)
{
    (void)state;
    static const struct {
        long age;
        long want;
    } t[] = {
        {0, 300}, {10, 300}, {299, 300}, {300, 300}, {301, 301}, {1000, 1000},
        {3999, 3999}, {4000, 4000}, {4001, 4000}, {86400, 4000},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(sched_backoff(T0, T0 + t[i].age, &defaults), t[i].want);
    /* No arrival time: the minimum. */
    assert_int_equal(sched_backoff(0, T0, &defaults), 300);
    /* A clock that went backwards is not a negative wait. */
    assert_int_equal(sched_backoff(T0, T0 - 50, &defaults), 300);
    /* Successive attempts: each waits as long as the message is old. */
    time_t now = T0 + 300;
    long waits[6];
    for (int i = 0; i < 6; i++) {
        waits[i] = sched_backoff(T0, now, &defaults);
        now += waits[i];
    }
    static const long want[6] = {300, 600, 1200, 2400, 4000, 4000};
    for (int i = 0; i < 6; i++)
        assert_int_equal(waits[i], want[i]);
}

static void expiry_and_lifetimes(void **state)
{
    (void)state;
    struct sched_params p = defaults;
    p.bounce_queue_lifetime = 86400;
    static const struct {
        bool null_sender;
        long age;
        bool expired;
    } t[] = {
        {false, 5 * 86400 - 1, false}, {false, 5 * 86400, true}, {false, 6 * 86400, true},
        {true, 86400 - 1, false},      {true, 86400, true},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(sched_expired(T0, t[i].null_sender, T0 + t[i].age, &p), t[i].expired);
    /* bounce_queue_lifetime above maximal_queue_lifetime is cut to it. */
    p.bounce_queue_lifetime = 10 * 86400;
    assert_int_equal(sched_lifetime(true, &p), 5 * 86400);
    assert_int_equal(sched_lifetime(false, &p), 5 * 86400);
    /* maximal_queue_lifetime = 0: the first deferral bounces. */
    p.maximal_queue_lifetime = 0;
    p.bounce_queue_lifetime = 0;
    struct sched_decision d;
    sched_after_deferral(T0, false, 0, T0, &p, &d);
    assert_int_equal(d.action, SCHED_EXPIRE);
}

static void delay_warning_once(void **state)
{
    (void)state;
    struct sched_params p = defaults;
    p.delay_warning_time = 4 * 3600;
    assert_int_equal(sched_warn_time(T0, &defaults), 0);
    time_t warn = sched_warn_time(T0, &p);
    assert_int_equal(warn, T0 + 4 * 3600);
    struct sched_decision d;
    /* Before: plain deferral. */
    sched_after_deferral(T0, false, warn, T0 + 3600, &p, &d);
    assert_int_equal(d.action, SCHED_DEFER);
    assert_int_equal(d.warn_time, warn);
    assert_int_equal(d.next_attempt, T0 + 3600 + 3600);
    /* One second early counts (qmgr's "warn_time - 1"). */
    sched_after_deferral(T0, false, warn, warn - 1, &p, &d);
    assert_int_equal(d.action, SCHED_WARN);
    assert_int_equal(d.warn_time, 0);
    assert_int_equal(d.next_attempt, warn - 1 + 4000);
    sched_after_deferral(T0, false, warn, warn - 2, &p, &d);
    assert_int_equal(d.action, SCHED_DEFER);
    /* After it was sent (warn_time 0): never again. */
    sched_after_deferral(T0, false, 0, warn + 3600, &p, &d);
    assert_int_equal(d.action, SCHED_DEFER);
    /* Expiry wins over a due warning. */
    sched_after_deferral(T0, false, warn, T0 + 5 * 86400, &p, &d);
    assert_int_equal(d.action, SCHED_EXPIRE);
}

static void queue_scans(void **state)
{
    (void)state;
    assert_true(sched_due(T0, T0));
    assert_true(sched_due(T0 - 1, T0));
    assert_false(sched_due(T0 + 1, T0));
    assert_int_equal(sched_next_scan(T0, &defaults), T0 + 300);
    /* A message deferred at T0+10 for 300 s is taken by the scan at
     * T0+600, not the one at T0+300. */
    time_t next = T0 + 10 + sched_backoff(T0, T0 + 10, &defaults);
    time_t scan = T0;
    while (!sched_due(next, scan))
        scan = sched_next_scan(scan, &defaults);
    assert_int_equal(scan, T0 + 600);
}

static void feedback_parse_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        double num;
        bool per;
    } t[] = {
        {"1", 0, 1, false},         {"0.5", 0, 0.5, false},   {"1/concurrency", 0, 1, true},
        {"2/concurrency", 0, 2, true}, {"0", 0, 0, false},    {"", -EINVAL, 0, false},
        {"x", -EINVAL, 0, false},   {"1/sqrt_concurrency", -EINVAL, 0, false},
        {"-1", -EINVAL, 0, false},  {"1 ", -EINVAL, 0, false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct sched_feedback f = {0, false};
        assert_int_equal(sched_feedback_parse(t[i].in, &f), t[i].rc);
        if (t[i].rc == 0) {
            assert_true(f.num == t[i].num);
            assert_int_equal(f.per_concurrency, t[i].per);
        }
    }
}

/* Slow start: from 5, +1 per success while the window is below
 * busy + initial, never above the limit. */
static void concurrency_slow_start(void **state)
{
    (void)state;
    struct sched_conc c;
    sched_conc_defaults(&c);
    struct sched_dest d;
    sched_dest_init(&d, &c);
    assert_int_equal(d.window, 5);
    int started = 0;
    while (sched_dest_may_start(&d)) {
        sched_dest_start(&d);
        started++;
    }
    assert_int_equal(started, 5);
    /* 5 busy: successes widen the window up to busy + initial. */
    static const int want[] = {6, 7, 8, 9, 10};
    for (int i = 0; i < 5; i++) {
        sched_dest_done(&d, &c, true, T0);
        assert_int_equal(d.window, want[i]);
        sched_dest_start(&d);
    }
    /* Keep 10 busy: the window climbs to the limit of 20 and stops. */
    for (int i = 0; i < 100; i++) {
        while (sched_dest_may_start(&d))
            sched_dest_start(&d);
        sched_dest_done(&d, &c, true, T0);
    }
    assert_int_equal(d.window, 20);
    /* No limit: only busy + initial bounds it. */
    c.limit = 0;
    sched_dest_init(&d, &c);
    for (int i = 0; i < 5; i++)
        sched_dest_start(&d);
    for (int i = 0; i < 10; i++) {
        sched_dest_done(&d, &c, true, T0);
        sched_dest_start(&d);
    }
    assert_int_equal(d.window, 10); /* busy 5 + initial 5 */
}

/* Failures shrink the window (qmgr_queue_throttle, hysteresis 1) and a
 * cohort of them kills the destination for minimal_backoff_time. */
static void concurrency_failures_and_dead_destination(void **state)
{
    (void)state;
    struct sched_conc c;
    sched_conc_defaults(&c);
    c.cohort_limit = 0; /* first only the window */
    struct sched_dest d;
    sched_dest_init(&d, &c);
    for (int i = 0; i < 5; i++)
        sched_dest_start(&d);
    /* The negative cycle starts with an overshoot: 5 -> 3, then -1 each,
     * never below 1. */
    static const int want[] = {3, 2, 1, 1, 1};
    for (int i = 0; i < 5; i++) {
        sched_dest_done(&d, &c, false, T0);
        assert_int_equal(d.window, want[i]);
    }
    /* A success restarts growth (+1 per success, up to busy + initial). */
    sched_dest_start(&d);
    sched_dest_done(&d, &c, true, T0);
    assert_int_equal(d.window, 2);

    /* Cohort limit 1 (default): 1/5 + 1/3 + 1/2 >= 1 on the third failure. */
    sched_conc_defaults(&c);
    sched_dest_init(&d, &c);
    for (int i = 0; i < 5; i++)
        sched_dest_start(&d);
    sched_dest_done(&d, &c, false, T0);
    sched_dest_done(&d, &c, false, T0);
    assert_int_equal(d.window, 2);
    sched_dest_done(&d, &c, false, T0 + 5);
    assert_int_equal(d.window, 0);
    assert_int_equal(d.dead_until, T0 + 5 + 300);
    assert_false(sched_dest_may_start(&d));
    /* Failures while dead change nothing. */
    sched_dest_done(&d, &c, false, T0 + 6);
    assert_int_equal(d.dead_until, T0 + 305);
    sched_dest_tick(&d, &c, T0 + 304);
    assert_int_equal(d.window, 0);
    /* Revived at the busy count (1 left), else the initial window. */
    sched_dest_tick(&d, &c, T0 + 305);
    assert_int_equal(d.window, 1);
    assert_int_equal(d.busy, 1);
    sched_dest_init(&d, &c);
    for (int i = 0; i < 5; i++)
        sched_dest_start(&d);
    for (int i = 0; i < 3; i++)
        sched_dest_done(&d, &c, false, T0);
    assert_int_equal(d.window, 0);
    /* A late success of a delivery still running revives it at once. */
    sched_dest_done(&d, &c, true, T0 + 1);
    assert_int_equal(d.window, 2); /* busy counted before release */
    assert_int_equal(d.busy, 1);
    assert_int_equal(d.fail_cohorts, 0);

    /* 1/concurrency negative feedback: a gentler slope. */
    sched_conc_defaults(&c);
    c.cohort_limit = 0;
    c.neg = (struct sched_feedback){1, true};
    sched_dest_init(&d, &c);
    for (int i = 0; i < 5; i++)
        sched_dest_start(&d);
    sched_dest_done(&d, &c, false, T0);
    assert_int_equal(d.window, 4);
}

static void transport_limit_from_main_cf(void **state)
{
    (void)state;
    static const char cf[] = "default_destination_concurrency_limit = 7\n"
                             "relay_destination_concurrency_limit = 3\n"
                             "smtp_destination_concurrency_limit = $default_destination_"
                             "concurrency_limit\n";
    struct config cfg;
    struct cfg_diag diag;
    cfg_diag_init(&diag);
    assert_int_equal(config_load_buf("/nonexistent", cf, sizeof(cf) - 1, &cfg, &diag), 0);
    long n = -1;
    assert_int_equal(sched_transport_limit(&cfg, "relay", &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(sched_transport_limit(&cfg, "smtp", &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(sched_transport_limit(&cfg, "lmtp", &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(sched_transport_limit(&cfg, "", &n), -EINVAL);
    config_free(&cfg);
    cfg_diag_free(&diag);

    static const char bad[] = "relay_destination_concurrency_limit = many\n";
    cfg_diag_init(&diag);
    assert_int_equal(config_load_buf("/nonexistent", bad, sizeof(bad) - 1, &cfg, &diag), 0);
    assert_int_equal(sched_transport_limit(&cfg, "relay", &n), -EINVAL);
    assert_int_equal(sched_transport_limit(&cfg, "smtp", &n), 0);
    assert_int_equal(n, 20);
    config_free(&cfg);
    cfg_diag_free(&diag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_follows_age),
        cmocka_unit_test(expiry_and_lifetimes),
        cmocka_unit_test(delay_warning_once),
        cmocka_unit_test(queue_scans),
        cmocka_unit_test(feedback_parse_table),
        cmocka_unit_test(concurrency_slow_start),
        cmocka_unit_test(concurrency_failures_and_dead_destination),
        cmocka_unit_test(transport_limit_from_main_cf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
