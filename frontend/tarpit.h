/*
 * tarpit.h - the drip schedule of the tarpit action: a reply sent at
 * postscreen_tarpit_byte_rate bytes per second (default 1, as OpenBSD's
 * spamd), the first byte at once. Pure arithmetic, no I/O: the frontend's
 * timer wheel calls tarpit_plan() at each tick.
 *
 * Each connection's phase is when its tarpit began (ms), so the tarpits
 * begun in one loop pass drip in the same tick. Spreading every slot over
 * the second (tried in 345e988) made good clients slower under a 20,000-bot
 * storm, not faster: one wakeup per ms instead of a few batched ones
 * (figures in the commit that took it out); the loop bounds a tick's work
 * instead (FE_TIMERS_PER_PASS in frontend.c).
 */
#ifndef MX_FE_TARPIT_H
#define MX_FE_TARPIT_H

#include <stdint.h>

/*
 * rate > 0 bytes per second; start: when the drip began; sent: bytes sent
 * so far; now >= start (earlier counts as start). *nbytes: bytes due now
 * (at most max_burst, 0 when none); *next: when the byte after those is
 * due (absolute, > now unless a burst was cut by max_burst).
 */
void tarpit_plan(unsigned rate, uint64_t start, uint64_t sent, uint64_t now, unsigned max_burst,
                 unsigned *nbytes, uint64_t *next);

#endif
