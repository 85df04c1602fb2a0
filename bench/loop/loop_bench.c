/*
 * loop_bench.c - throughput of the event-loop building blocks (lib/mxloop),
 * so that reports can cite measured figures: timer wheel add, cancel,
 * re-arm and expire for 100,000 timers, a tarpit-like drip where every
 * timer re-arms itself each second, pool get/put, and the memory each
 * costs. Not a test: it asserts nothing, it prints.
 *
 * Usage: loop_bench [timers] [runs]   (defaults 100000 and 7; the median
 * of the runs is printed, in nanoseconds per operation).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "pool.h"
#include "ring.h"
#include "timer_wheel.h"

struct conn {
    struct timer_node timer;
    unsigned drips;
};

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
    return v[n / 2];
}

enum { ADD, CANCEL, REARM, EXPIRE_JUMP, EXPIRE_STEP, DRIP, POOL_GETPUT, NMEASURES };
static const char *const names[NMEASURES] = {
    "add (deadline 1 ms..300 s)", "cancel", "re-arm (mod to +1 s)",
    "expire, one jump past all", "expire, loop driven by next_ms", "drip: expire + re-arm +1 s",
#ifdef NDEBUG
    "pool get + put (512 B, zeroed)",
#else
    "pool get + put (512 B, debug poison)",
#endif
};

static void run_once(struct conn *c, uint64_t *dl, size_t n, double *out)
{
    struct timer_wheel tw;
    uint64_t t0 = 1000000;
    double s;
    struct timer_node *x;
    size_t fired;

    for (size_t i = 0; i < n; i++)
        dl[i] = t0 + 1 + rnd() % 300000;

    timer_wheel_init(&tw, t0);
    s = now_ns();
    for (size_t i = 0; i < n; i++)
        timer_wheel_add(&tw, &c[i].timer, dl[i]);
    out[ADD] = (now_ns() - s) / (double)n;

    s = now_ns();
    for (size_t i = 0; i < n; i++)
        timer_wheel_cancel(&tw, &c[i].timer);
    out[CANCEL] = (now_ns() - s) / (double)n;

    for (size_t i = 0; i < n; i++)
        timer_wheel_add(&tw, &c[i].timer, dl[i]);
    s = now_ns();
    for (size_t i = 0; i < n; i++)
        timer_wheel_add(&tw, &c[i].timer, dl[i] + 1000);
    out[REARM] = (now_ns() - s) / (double)n;

    s = now_ns();
    fired = 0;
    while ((x = timer_wheel_expire(&tw, t0 + 400000)) != NULL)
        fired++;
    out[EXPIRE_JUMP] = (now_ns() - s) / (double)fired;

    /* As the event loop will: sleep until next_ms, expire, repeat. */
    timer_wheel_init(&tw, t0);
    for (size_t i = 0; i < n; i++)
        timer_wheel_add(&tw, &c[i].timer, dl[i]);
    uint64_t now = t0;
    int64_t ms;
    s = now_ns();
    fired = 0;
    while ((ms = timer_wheel_next_ms(&tw, now)) >= 0) {
        now += (uint64_t)ms;
        while ((x = timer_wheel_expire(&tw, now)) != NULL)
            fired++;
    }
    out[EXPIRE_STEP] = (now_ns() - s) / (double)fired;

    /* Tarpit: n held connections each drip a byte per second for 30 s. */
    timer_wheel_init(&tw, t0);
    for (size_t i = 0; i < n; i++) {
        c[i].drips = 0;
        timer_wheel_add(&tw, &c[i].timer, t0 + 1 + rnd() % 1000);
    }
    now = t0;
    fired = 0;
    s = now_ns();
    while ((ms = timer_wheel_next_ms(&tw, now)) >= 0) {
        now += (uint64_t)ms;
        while ((x = timer_wheel_expire(&tw, now)) != NULL) {
            struct conn *cc = TIMER_OWNER(x, struct conn, timer);
            fired++;
            if (++cc->drips < 30)
                timer_wheel_add(&tw, x, now + 1000);
        }
    }
    out[DRIP] = (now_ns() - s) / (double)fired;

    struct pool p;
    if (pool_init(&p, "bench", 512, (uint32_t)n) == 0) {
        void **held = malloc(n * sizeof(*held));
        if (!held) {
            pool_destroy(&p);
            out[POOL_GETPUT] = 0;
            return;
        }
        /* Two passes, the second timed: the first pays the page faults of
         * a fresh mapping, which a running server pays once. */
        for (int pass = 0; pass < 2; pass++) {
            s = now_ns();
            for (size_t i = 0; i < n; i++)
                held[i] = pool_get(&p);
            for (size_t i = 0; i < n; i++)
                pool_put(&p, held[i]);
            out[POOL_GETPUT] = (now_ns() - s) / (double)n;
        }
        free(held);
        pool_destroy(&p);
    }
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (n == 0 || n > POOL_MAX_OBJECTS || runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: loop_bench [timers 1..%u] [runs 1..1000]\n", POOL_MAX_OBJECTS);
        return 2;
    }
    struct conn *c = calloc(n, sizeof(*c));
    uint64_t *dl = calloc(n, sizeof(*dl));
    double (*res)[NMEASURES] = calloc((size_t)runs, sizeof(*res));
    if (!c || !dl || !res) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int r = 0; r < runs; r++)
        run_once(c, dl, n, res[r]);

    struct utsname u;
    uname(&u);
    printf("mxloop bench: %zu timers, median of %d runs, kernel %s\n", n, runs, u.release);
    for (int m = 0; m < NMEASURES; m++) {
        double v[1000];
        for (int r = 0; r < runs; r++)
            v[r] = res[r][m];
        double ns = median(v, runs);
        printf("  %-34s %8.1f ns/op  %6.2f M ops/s\n", names[m], ns, ns > 0 ? 1e3 / ns : 0.0);
    }
    struct pool p;
    size_t per_obj = 0;
    if (pool_init(&p, "size", 512, 1) == 0) {
        per_obj = pool_bytes_per_object(&p) - p.stride;
        pool_destroy(&p);
    }
    printf("memory: timer node %zu bytes (embedded), wheel %zu bytes once,\n"
           "        pool bookkeeping %zu bytes per object + the object rounded to %zu\n",
           sizeof(struct timer_node), sizeof(struct timer_wheel), per_obj,
           (size_t)_Alignof(max_align_t));

    struct ring r;
    int ret = ring_init(&r, 8, 0, RING_INIT_DEFER_TASKRUN);
    if (ret == 0) {
        char desc[512];
        ring_describe(&r, desc, sizeof(desc));
        printf("io_uring: %s\n", desc);
        ring_exit(&r);
    } else {
        printf("io_uring: unavailable (%s)\n", strerror(-ret));
    }
    free(res);
    free(dl);
    free(c);
    return 0;
}
