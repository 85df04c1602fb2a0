/*
 * test_timer_wheel.c - the timing wheel against a naive reference: a sorted
 * array of (deadline, id). Random arms, re-arms, cancels and advances (by
 * one millisecond up to jumps of years, across the 2^36 ms horizon) must
 * expire exactly the model's set, in deadline order, each at its own
 * millisecond; plus the edge cases one by one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "timer_wheel.h"

#define DAY_MS (86400u * 1000u)

struct conn {
    int id;
    struct timer_node timer;
    int armed;          /* model: armed */
    uint64_t deadline;  /* model: expected deadline */
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: reproducible from the seed printed on failure. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static uint64_t rnd_below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

/* Deadlines from "already past" to beyond the wheel's horizon. */
static uint64_t rnd_delta(void)
{
    switch (rnd_below(10)) {
    case 0: return 0;
    case 1: case 2: return rnd_below(70);
    case 3: case 4: return rnd_below(5000);
    case 5: return rnd_below(300000);
    case 6: return rnd_below(20u * 3600u * 1000u);
    case 7: return rnd_below(30ull * DAY_MS);
    case 8: return rnd_below(UINT64_C(1) << 38);
    default: return rnd_below(1u << 20);
    }
}

/* The reference: armed conns sorted by deadline (insertion sort). */
#define NCONN 3000
static struct conn conns[NCONN];
static struct conn *model[NCONN];
static size_t model_n;

static void model_remove(struct conn *c)
{
    size_t lo = 0, hi = model_n;
    while (lo < hi) { /* first entry with deadline >= c's */
        size_t mid = lo + (hi - lo) / 2;
        if (model[mid]->deadline < c->deadline)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < model_n && model[i]->deadline == c->deadline; i++)
        if (model[i] == c) {
            memmove(&model[i], &model[i + 1], (model_n - i - 1) * sizeof(model[0]));
            model_n--;
            c->armed = 0;
            return;
        }
    fail_msg("conn %d not in model", c->id);
}

static void model_arm(struct conn *c, uint64_t deadline)
{
    if (c->armed)
        model_remove(c);
    size_t i = model_n;
    while (i > 0 && model[i - 1]->deadline > deadline) {
        model[i] = model[i - 1];
        i--;
    }
    model[i] = c;
    model_n++;
    c->armed = 1;
    c->deadline = deadline;
}

static void arm(struct timer_wheel *tw, struct conn *c, uint64_t deadline, uint64_t wheel_now)
{
    timer_wheel_add(tw, &c->timer, deadline);
    model_arm(c, deadline < wheel_now ? wheel_now : deadline);
}

static void check_next(struct timer_wheel *tw, uint64_t now)
{
    uint64_t next = timer_wheel_next(tw);
    assert_int_equal(timer_wheel_count(tw), model_n);
    if (model_n == 0) {
        assert_true(next == UINT64_MAX);
        assert_int_equal(timer_wheel_next_ms(tw, now), -1);
        return;
    }
    /* Never later than the earliest deadline, never in the wheel's past. */
    assert_true(next <= model[0]->deadline);
    assert_true(next >= now);
    assert_true(timer_wheel_next_ms(tw, now) == (int64_t)(next - now));
}

/* Expire everything due at target; check against the model. Sometimes arm
 * more timers from inside the loop, as a tarpit re-arming its drip does. */
static void advance(struct timer_wheel *tw, uint64_t *now, uint64_t target, size_t *fired)
{
    uint64_t wheel_now = *now, last = 0;
    struct timer_node *n;

    while ((n = timer_wheel_expire(tw, target)) != NULL) {
        struct conn *c = TIMER_OWNER(n, struct conn, timer);
        if (!c->armed)
            fail_msg("conn %d fired but was not armed (target %llu)", c->id,
                     (unsigned long long)target);
        assert_false(timer_pending(n));
        if (n->expires != c->deadline)
            fail_msg("conn %d fired with deadline %llu, model %llu", c->id,
                     (unsigned long long)n->expires, (unsigned long long)c->deadline);
        assert_true(c->deadline <= target);
        assert_true(c->deadline >= last);
        /* Deadline order means it must be the model's earliest. */
        assert_true(model[0]->deadline == c->deadline);
        last = c->deadline;
        wheel_now = c->deadline;
        model_remove(c);
        (*fired)++;
        if (rnd_below(10) == 0) {
            struct conn *d = &conns[rnd_below(NCONN)];
            uint64_t lo = wheel_now > 5 ? wheel_now - 5 : 0;
            arm(tw, d, lo + rnd_below(target - lo + 1), wheel_now);
        }
    }
    if (model_n)
        assert_true(model[0]->deadline > target);
    if (target > *now)
        *now = target;
}

static void run_random(uint64_t seed, uint64_t start, int ops)
{
    struct timer_wheel tw;
    uint64_t now = start;
    size_t fired = 0, cancelled = 0, peak = 0;

    rng_state = seed;
    model_n = 0;
    for (int i = 0; i < NCONN; i++) {
        conns[i] = (struct conn){.id = i};
        timer_node_init(&conns[i].timer);
    }
    timer_wheel_init(&tw, start);
    print_message("seed %llu start %llu\n", (unsigned long long)seed, (unsigned long long)start);

    /* Thousands armed from the start, as after a storm of connections. */
    for (int i = 0; i < NCONN; i++)
        arm(&tw, &conns[i], now + rnd_delta(), now);
    check_next(&tw, now);
    peak = model_n;

    for (int op = 0; op < ops; op++) {
        unsigned r = (unsigned)rnd_below(100);
        struct conn *c = &conns[rnd_below(NCONN)];
        if (r < 45) {
            uint64_t d = rnd_delta();
            uint64_t dl = (rnd_below(20) == 0) ? now - (d < now ? d : now) : now + d;
            arm(&tw, c, dl, now);
        } else if (r < 55) {
            /* Mostly an armed timer (a connection closing), sometimes any. */
            if (model_n && rnd_below(5) != 0)
                c = model[rnd_below(model_n)];
            int was = c->armed;
            assert_int_equal(timer_wheel_cancel(&tw, &c->timer), was);
            if (was) {
                model_remove(c);
                cancelled++;
            }
            assert_false(timer_pending(&c->timer));
        } else if (r < 90) {
            uint64_t step = rnd_below(150) == 0 ? rnd_delta() : rnd_below(rnd_below(8) ? 100 : 20000);
            advance(&tw, &now, now + step, &fired);
        } else if (model_n) {
            /* Drive the loop by next_ms alone, as the frontend will: the
             * earliest timer must fire within LEVELS+2 wake-ups. */
            int wakeups = 0;
            size_t before = fired;
            while (fired == before) {
                int64_t ms = timer_wheel_next_ms(&tw, now);
                assert_true(ms >= 0);
                advance(&tw, &now, now + (uint64_t)ms, &fired);
                wakeups++;
                assert_true(wakeups <= TIMER_WHEEL_LEVELS + 2);
            }
        }
        check_next(&tw, now);
        if (model_n > peak)
            peak = model_n;
    }
    /* Drain: one jump past every deadline. */
    advance(&tw, &now, UINT64_MAX - 1, &fired);
    assert_int_equal(model_n, 0);
    assert_int_equal(timer_wheel_count(&tw), 0);
    assert_true(timer_wheel_next(&tw) == UINT64_MAX);
    print_message("fired %zu cancelled %zu, up to %zu armed at once\n", fired, cancelled, peak);
    assert_true(fired > (size_t)ops / 10);
    assert_true(cancelled > (size_t)ops / 20);
    assert_true(peak > NCONN / 2);
}

static void random_against_model(void **state)
{
    (void)state;
    run_random(1, 0, 150000);
    run_random(0x9e3779b97f4a7c15ull, 123456789, 150000);
    /* Start just below the 2^36 ms horizon so jumps cross it. */
    run_random(42, (UINT64_C(1) << 36) - 3000, 150000);
    run_random(7, (UINT64_C(5) << 36) - 1, 60000);
}

static void fires_at_its_millisecond(void **state)
{
    (void)state;
    struct timer_wheel tw;
    struct conn a = {.id = 1};
    uint64_t t0 = 1000;

    timer_wheel_init(&tw, t0);
    /* Every interesting distance: slot and level boundaries, both sides. */
    for (unsigned b = 0; b < 40; b++) {
        for (int d = -1; d <= 1; d++) {
            uint64_t delta = (UINT64_C(1) << b) + (uint64_t)(int64_t)d;
            uint64_t now = tw.now;
            timer_wheel_add(&tw, &a.timer, now + delta);
            if (delta > 1)
                assert_null(timer_wheel_expire(&tw, now + delta - 1));
            struct timer_node *n = timer_wheel_expire(&tw, now + delta);
            if (n != &a.timer)
                fail_msg("delta %llu did not fire on time", (unsigned long long)delta);
            assert_true(n->expires == now + delta);
            assert_null(timer_wheel_expire(&tw, now + delta));
        }
    }
}

static void cancel_far_timer_leaves_no_wakeup(void **state)
{
    (void)state;
    struct timer_wheel tw;
    struct conn a = {.id = 1}, b = {.id = 2};

    timer_wheel_init(&tw, 5);
    timer_wheel_add(&tw, &a.timer, 5 + 3 * DAY_MS);
    timer_wheel_add(&tw, &b.timer, 5 + 300000);
    assert_int_equal(timer_wheel_count(&tw), 2);
    assert_int_equal(timer_wheel_cancel(&tw, &a.timer), 1);
    assert_int_equal(timer_wheel_cancel(&tw, &a.timer), 0);
    assert_int_equal(timer_wheel_cancel(&tw, &b.timer), 1);
    assert_int_equal(timer_wheel_next_ms(&tw, 5), -1);
    assert_int_equal(timer_wheel_count(&tw), 0);
    /* Nothing fires, even after a jump past both. */
    assert_null(timer_wheel_expire(&tw, 10 * DAY_MS));
}

static void rearm_moves_the_deadline(void **state)
{
    (void)state;
    struct timer_wheel tw;
    struct conn a = {.id = 1};

    timer_wheel_init(&tw, 0);
    timer_wheel_add(&tw, &a.timer, 300000);   /* smtpd_timeout */
    timer_wheel_add(&tw, &a.timer, 1000);     /* re-armed: next drip */
    assert_int_equal(timer_wheel_count(&tw), 1);
    assert_null(timer_wheel_expire(&tw, 999));
    assert_ptr_equal(timer_wheel_expire(&tw, 1000), &a.timer);
    assert_null(timer_wheel_expire(&tw, 400000));
}

static void past_deadline_fires_now(void **state)
{
    (void)state;
    struct timer_wheel tw;
    struct conn a = {.id = 1}, b = {.id = 2};

    timer_wheel_init(&tw, 50000);
    timer_wheel_add(&tw, &a.timer, 10);
    timer_wheel_add(&tw, &b.timer, 50000);
    assert_int_equal(timer_wheel_next_ms(&tw, 50000), 0);
    /* A clock running backwards does not fire what is due later. */
    assert_null(timer_wheel_expire(&tw, 49999));
    struct timer_node *n1 = timer_wheel_expire(&tw, 50000);
    struct timer_node *n2 = timer_wheel_expire(&tw, 50000);
    assert_non_null(n1);
    assert_non_null(n2);
    assert_true(n1 != n2);
    assert_true(n1->expires == 50000 && n2->expires == 50000);
    assert_null(timer_wheel_expire(&tw, 50000));
}

static void beyond_horizon_fires_exactly(void **state)
{
    (void)state;
    struct timer_wheel tw;
    struct conn a = {.id = 1}, b = {.id = 2};
    uint64_t far = (UINT64_C(1) << 36) * 3 + 12345; /* ~6 years */

    timer_wheel_init(&tw, 777);
    timer_wheel_add(&tw, &a.timer, far);
    timer_wheel_add(&tw, &b.timer, 778);
    assert_int_equal(timer_wheel_next_ms(&tw, 777), 1);
    assert_ptr_equal(timer_wheel_expire(&tw, 800), &b.timer);
    assert_null(timer_wheel_expire(&tw, far - 1));
    assert_ptr_equal(timer_wheel_expire(&tw, far), &a.timer);
}

static void never_is_cheap(void **state)
{
    (void)state;
    struct timer_wheel tw;
    struct conn a = {.id = 1}, b = {.id = 2};

    /* UINT64_MAX as "no deadline" must not make the wheel step through
     * 2^28 epochs to reach it. */
    timer_wheel_init(&tw, 0);
    timer_wheel_add(&tw, &a.timer, UINT64_MAX);
    timer_wheel_add(&tw, &b.timer, UINT64_MAX - 1);
    int wakeups = 0;
    struct timer_node *n = NULL;
    uint64_t now = 0;
    while (!n) {
        int64_t ms = timer_wheel_next_ms(&tw, now);
        assert_true(ms >= 0);
        now += (uint64_t)ms;
        n = timer_wheel_expire(&tw, now);
        assert_true(++wakeups <= TIMER_WHEEL_LEVELS + 2);
    }
    assert_ptr_equal(n, &b.timer);
    assert_true(now == UINT64_MAX - 1);
    /* "Never" still fires if the clock ever says so. */
    assert_int_equal(timer_wheel_next_ms(&tw, now), -1);
    assert_ptr_equal(timer_wheel_expire(&tw, UINT64_MAX), &a.timer);
    assert_int_equal(timer_wheel_count(&tw), 0);
}

static void node_is_small(void **state)
{
    (void)state;
    /* The budget for a held connection is a few hundred bytes. */
    assert_true(sizeof(struct timer_node) <= 32);
    if (sizeof(void *) == 8)
        assert_int_equal(sizeof(struct timer_node), 24);
    print_message("timer_node %zu bytes, timer_wheel %zu bytes\n", sizeof(struct timer_node),
                  sizeof(struct timer_wheel));
}

static void clock_is_monotonic(void **state)
{
    (void)state;
    uint64_t a = timer_clock_ms(), b = timer_clock_ms();
    assert_true(b >= a);
    assert_true(a > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fires_at_its_millisecond),
        cmocka_unit_test(cancel_far_timer_leaves_no_wakeup),
        cmocka_unit_test(rearm_moves_the_deadline),
        cmocka_unit_test(past_deadline_fires_now),
        cmocka_unit_test(beyond_horizon_fires_exactly),
        cmocka_unit_test(never_is_cheap),
        cmocka_unit_test(node_is_small),
        cmocka_unit_test(clock_is_monotonic),
        cmocka_unit_test(random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
