/*
 * timer_wheel.h - one hierarchical timing wheel for every deadline of an
 * event loop (greet wait, tarpit drips, smtpd_timeout, cache sweeps).
 *
 * Why a wheel: the frontend holds tens of thousands of connections, each
 * with a deadline that is re-armed on every byte it drips or reads. One
 * kernel timer (or one io_uring timeout SQE) per connection would cost a
 * syscall or an SQE per re-arm; the wheel costs a few pointer writes, and
 * the loop asks it once per iteration how long it may sleep.
 *
 * Interface:
 *   - struct timer_node is embedded in the owner (a connection); the wheel
 *     never allocates. Zero-initialise it (or timer_node_init) before use.
 *     Find the owner from an expired node with TIMER_OWNER().
 *   - timer_wheel_add() arms (or re-arms) a node for an absolute deadline in
 *     milliseconds on the caller's clock (normally timer_clock_ms(), the
 *     monotonic clock). A deadline at or before the wheel's current time is
 *     due at once, on the next timer_wheel_expire().
 *   - timer_wheel_cancel() disarms; safe on a node that is not armed.
 *   - timer_wheel_expire(tw, now) returns one due node per call, unlinked,
 *     or NULL when nothing is due at `now`; call it in a loop. Nodes come
 *     out in non-decreasing deadline order (ties in any order), even across
 *     a jump of days. Nodes armed during the loop for a deadline <= now are
 *     returned by the same loop (a deadline already past fires at the
 *     wheel's current time and its node's deadline is set to that time).
 *   - timer_wheel_next_ms(tw, now) is the io_uring wait timeout: -1 when no
 *     timer is armed, else the milliseconds until the wheel next has work.
 *     That is never later than the earliest deadline, but may be earlier: a
 *     far timer moves down one level at a time, so a timer wakes the loop at
 *     most TIMER_WHEEL_LEVELS + 2 times (a timer_wheel_expire() that
 *     returns NULL is cheap).
 *
 * Cost: add, cancel and each expiry are O(1): a node is moved at most
 * TIMER_WHEEL_LEVELS times between levels before it fires, and the next
 * busy slot is found with a count-trailing-zeros on a 64-bit map per level.
 * Memory: 24 bytes per timer (struct timer_node, on LP64), plus about 3.2 KiB
 * per wheel. Resolution 1 ms; levels of 64 slots cover 2^36 ms (795 days)
 * and anything further waits on an overflow list.
 *
 * Failure: none at run time; nothing here can fail or allocate. Arming a
 * node that belongs to another wheel is a caller bug (not detected).
 * Not thread-safe: one wheel per event loop.
 */
#ifndef MX_TIMER_WHEEL_H
#define MX_TIMER_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#define TIMER_WHEEL_BITS 6
#define TIMER_WHEEL_SLOTS (1u << TIMER_WHEEL_BITS)
#define TIMER_WHEEL_LEVELS 6

/* Intrusive list links (next, and the address of whatever points at us, so
 * that cancel is O(1) without knowing the slot) and the deadline. */
struct timer_node {
    struct timer_node *next;
    struct timer_node **pprev; /* NULL when not armed */
    uint64_t expires;          /* absolute deadline, ms */
};

struct timer_wheel {
    uint64_t now;                                   /* ms, wheel time */
    uint64_t busy[TIMER_WHEEL_LEVELS];              /* bit s: slot s non-empty */
    size_t count;                                   /* armed nodes */
    uint64_t overflow_min; /* <= every deadline on the overflow list */
    /* [level * SLOTS + slot], then the overflow list, then the due list. */
    struct timer_node *heads[TIMER_WHEEL_LEVELS * TIMER_WHEEL_SLOTS + 2];
};

#define TIMER_OWNER(node, type, member) \
    ((type *)(void *)((char *)(node) - offsetof(type, member)))

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t timer_clock_ms(void);

static inline void timer_node_init(struct timer_node *n)
{
    n->next = NULL;
    n->pprev = NULL;
    n->expires = 0;
}

static inline int timer_pending(const struct timer_node *n)
{
    return n->pprev != NULL;
}

/* Start the wheel at time now_ms (normally timer_clock_ms()). */
void timer_wheel_init(struct timer_wheel *tw, uint64_t now_ms);

/* Arm n for expires_ms; re-arms it if it was armed already. */
void timer_wheel_add(struct timer_wheel *tw, struct timer_node *n, uint64_t expires_ms);

/* Disarm n. Returns 1 if it was armed, 0 if not. */
int timer_wheel_cancel(struct timer_wheel *tw, struct timer_node *n);

/* Next node due at now_ms, unlinked; NULL when none (the wheel's time is
 * then now_ms, or stays where it was if now_ms is in its past). */
struct timer_node *timer_wheel_expire(struct timer_wheel *tw, uint64_t now_ms);

/* Absolute time of the wheel's next work, UINT64_MAX if nothing is armed
 * (or if that work is at UINT64_MAX, a deadline that means "never"). */
uint64_t timer_wheel_next(const struct timer_wheel *tw);

/* Milliseconds from now_ms until the next work (0 if due), -1 if none. */
int64_t timer_wheel_next_ms(const struct timer_wheel *tw, uint64_t now_ms);

static inline size_t timer_wheel_count(const struct timer_wheel *tw)
{
    return tw->count;
}

#endif
