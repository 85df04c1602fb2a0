/*
 * timer_wheel.c - hierarchical timing wheel; see timer_wheel.h for the
 * interface and its promises.
 *
 * Placement: a node with deadline e goes to the level of the highest bit in
 * which e and the wheel's time differ, at the slot given by e's bits of
 * that level (the scheme of W. Ahern's timeout.c). So at every level each
 * busy slot lies strictly after the slot that holds `now`, within the same
 * slot of the level above. Two consequences drive the code:
 *   - the next work of level L is the start of its lowest busy slot, and
 *     every busy level L ends before any work of level L+1 begins, so the
 *     wheel's next work is simply the first busy slot of the lowest busy
 *     level: one ctz per level, no scan of the lists;
 *   - stepping `now` to exactly that time and re-placing the nodes of that
 *     one slot keeps the invariant, and the re-placed nodes land on lower
 *     levels (or are due when their deadline is that time). Stepping from
 *     work to work, never tick by tick, is what makes a jump of days cost
 *     only the nodes it moves, and gives expiry in deadline order.
 * Deadlines that differ from `now` above bit 36 wait on an overflow list.
 * Its work is at the start of the 2^36 ms epoch of its earliest deadline
 * (kept as a lower bound, so a cancel need not rescan), when the whole list
 * is re-placed: stepping epoch by epoch instead would make a deadline of
 * "never" (UINT64_MAX) cost 2^28 steps.
 */
#include "timer_wheel.h"

#include <time.h>

#define LEVEL_SHIFT(l) ((unsigned)(l) * TIMER_WHEEL_BITS)
#define WHEEL_HEADS (TIMER_WHEEL_LEVELS * TIMER_WHEEL_SLOTS)
#define OVERFLOW_IDX WHEEL_HEADS
#define DUE_IDX (WHEEL_HEADS + 1)
#define HORIZON_BITS (TIMER_WHEEL_LEVELS * TIMER_WHEEL_BITS)

uint64_t timer_clock_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail with a valid pointer. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void timer_wheel_init(struct timer_wheel *tw, uint64_t now_ms)
{
    *tw = (struct timer_wheel){.now = now_ms, .overflow_min = UINT64_MAX};
}

static void link_head(struct timer_node **head, struct timer_node *n)
{
    n->next = *head;
    if (n->next)
        n->next->pprev = &n->next;
    *head = n;
    n->pprev = head;
}

/* Put n where its deadline belongs relative to tw->now. */
static void place(struct timer_wheel *tw, struct timer_node *n)
{
    uint64_t e = n->expires;

    if (e <= tw->now) {
        n->expires = tw->now;
        link_head(&tw->heads[DUE_IDX], n);
        return;
    }
    unsigned level = (63u - (unsigned)__builtin_clzll(e ^ tw->now)) / TIMER_WHEEL_BITS;
    if (level >= TIMER_WHEEL_LEVELS) {
        if (e < tw->overflow_min)
            tw->overflow_min = e;
        link_head(&tw->heads[OVERFLOW_IDX], n);
        return;
    }
    unsigned slot = (unsigned)(e >> LEVEL_SHIFT(level)) & (TIMER_WHEEL_SLOTS - 1);
    tw->busy[level] |= UINT64_C(1) << slot;
    link_head(&tw->heads[level * TIMER_WHEEL_SLOTS + slot], n);
}

static void unlink_node(struct timer_wheel *tw, struct timer_node *n)
{
    struct timer_node **pp = n->pprev;

    *pp = n->next;
    if (n->next)
        n->next->pprev = pp;
    /* When pp is a slot head left empty, clear the slot's busy bit so that
     * a cancelled far timer does not wake the loop. Comparing integer
     * addresses is how we learn that without a slot field in every node. */
    uintptr_t p = (uintptr_t)pp, base = (uintptr_t)&tw->heads[0];
    if (*pp == NULL && p >= base && p < (uintptr_t)&tw->heads[WHEEL_HEADS]) {
        size_t idx = (p - base) / sizeof(tw->heads[0]);
        tw->busy[idx / TIMER_WHEEL_SLOTS] &= ~(UINT64_C(1) << (idx % TIMER_WHEEL_SLOTS));
    }
    n->next = NULL;
    n->pprev = NULL;
}

void timer_wheel_add(struct timer_wheel *tw, struct timer_node *n, uint64_t expires_ms)
{
    if (n->pprev)
        unlink_node(tw, n);
    else
        tw->count++;
    n->expires = expires_ms;
    place(tw, n);
}

int timer_wheel_cancel(struct timer_wheel *tw, struct timer_node *n)
{
    if (!n->pprev)
        return 0;
    unlink_node(tw, n);
    tw->count--;
    return 1;
}

/* The wheel's next step, ignoring the due list: its time in *t and the
 * head index of the list to re-place then. 0 when nothing is in the wheel
 * (not a sentinel time: a deadline of UINT64_MAX is a valid step). */
static int next_step(const struct timer_wheel *tw, uint64_t *t, size_t *idx)
{
    for (unsigned l = 0; l < TIMER_WHEEL_LEVELS; l++) {
        if (!tw->busy[l])
            continue;
        unsigned slot = (unsigned)__builtin_ctzll(tw->busy[l]);
        uint64_t above = LEVEL_SHIFT(l + 1) >= 64 ? 0 : ~((UINT64_C(1) << LEVEL_SHIFT(l + 1)) - 1);
        *idx = l * TIMER_WHEEL_SLOTS + slot;
        *t = (tw->now & above) | ((uint64_t)slot << LEVEL_SHIFT(l));
        return 1;
    }
    if (tw->heads[OVERFLOW_IDX]) {
        /* overflow_min lies in a later epoch than now (or is a stale, lower
         * bound that is still later than now's epoch), so this is after
         * every slot of the wheel and the invariant holds when we get there. */
        *idx = OVERFLOW_IDX;
        *t = tw->overflow_min & ~((UINT64_C(1) << HORIZON_BITS) - 1);
        return 1;
    }
    return 0;
}

struct timer_node *timer_wheel_expire(struct timer_wheel *tw, uint64_t now_ms)
{
    for (;;) {
        struct timer_node *n = tw->heads[DUE_IDX];
        if (n && tw->now <= now_ms) {
            unlink_node(tw, n);
            tw->count--;
            return n;
        }
        size_t idx = 0;
        uint64_t t = 0;
        if (!next_step(tw, &t, &idx) || t > now_ms) {
            if (now_ms > tw->now)
                tw->now = now_ms;
            return NULL;
        }
        tw->now = t;
        n = tw->heads[idx];
        tw->heads[idx] = NULL;
        if (idx == OVERFLOW_IDX)
            tw->overflow_min = UINT64_MAX; /* place() recomputes it */
        if (idx < WHEEL_HEADS)
            tw->busy[idx / TIMER_WHEEL_SLOTS] &= ~(UINT64_C(1) << (idx % TIMER_WHEEL_SLOTS));
        while (n) {
            struct timer_node *next = n->next;
            place(tw, n);
            n = next;
        }
    }
}

uint64_t timer_wheel_next(const struct timer_wheel *tw)
{
    size_t idx;
    uint64_t t;

    if (tw->heads[DUE_IDX])
        return tw->now;
    return next_step(tw, &t, &idx) ? t : UINT64_MAX;
}

int64_t timer_wheel_next_ms(const struct timer_wheel *tw, uint64_t now_ms)
{
    uint64_t t = timer_wheel_next(tw);

    if (t == UINT64_MAX)
        return -1;
    if (t <= now_ms)
        return 0;
    return t - now_ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(t - now_ms);
}
