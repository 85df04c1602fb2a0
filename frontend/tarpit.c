/*
 * tarpit.c - see tarpit.h. Byte k (from 0) is due at start + k*1000/rate
 * ms, rounded up: so a rate of 1 sends at 0, 1000, 2000 ms; 3 at 0, 334,
 * 667, 1000 ms; above 1000 several bytes share a millisecond tick.
 */
#include "tarpit.h"

static uint64_t due(unsigned rate, uint64_t start, uint64_t k)
{
    return start + (k * 1000u + rate - 1) / rate;
}

void tarpit_plan(unsigned rate, uint64_t start, uint64_t sent, uint64_t now, unsigned max_burst,
                 unsigned *nbytes, uint64_t *next)
{
    if (rate == 0)
        rate = 1;
    if (now < start)
        now = start;
    /* Bytes due by now: those with due(k) <= now, i.e. k*1000 <= (now-start)*rate. */
    uint64_t total = (now - start) * rate / 1000u + 1u;
    uint64_t n = total > sent ? total - sent : 0;
    if (n > max_burst)
        n = max_burst;
    *nbytes = (unsigned)n;
    *next = due(rate, start, sent + n);
}
