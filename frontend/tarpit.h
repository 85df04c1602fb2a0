/*
 * tarpit.h - the drip schedule of the tarpit action: a reply sent at
 * postscreen_tarpit_byte_rate bytes per second (default 1, as OpenBSD's
 * spamd), the first byte at once. Pure arithmetic, no I/O: the frontend's
 * timer wheel calls tarpit_plan() at each tick.
 *
 * Phase: tens of thousands of held bots each drip once a second. If their
 * schedules shared a phase (all tarpits begun in one loop pass begin in
 * the same millisecond) the frontend would send a burst of drips in one
 * tick and good clients would wait behind it. tarpit_phase() gives each
 * connection slot its own offset inside the drip period, so the drips of
 * a whole pool are spread evenly over each second; the first byte is still
 * sent at once and the average rate is unchanged (at most one byte more
 * over postscreen_tarpit_time).
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

/*
 * How far (ms) to move the schedule's start back for connection slot
 * `slot`: in [0, period) with period = 1000/rate ms rounded up (0 when
 * rate >= 1000: every tick sends anyway), consecutive slots spread over
 * the whole period. tarpit_plan(rate, start - phase, ...) still sends the
 * first byte at once (phase < period) and the second one at most a period
 * later.
 */
unsigned tarpit_phase(unsigned rate, uint32_t slot);

#endif
