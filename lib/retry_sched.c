/*
 * retry_sched.c - Postfix qmgr's scheduling arithmetic (see retry_sched.h):
 * qmgr_active.c (backoff, expiry, delay warning), qmgr.c (lifetime caps),
 * qmgr_queue.c and qmgr_feedback.c (destination concurrency window).
 * Pure; sched_transport_limit() reads a loaded configuration.
 */
#include "retry_sched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

time_t sched_warn_time(time_t arrival, const struct sched_params *p)
{
    return p->delay_warning_time > 0 ? arrival + p->delay_warning_time : 0;
}

long sched_backoff(time_t arrival, time_t now, const struct sched_params *p)
{
    /* qmgr_active_done_3_generic(): the time already spent in the queue,
     * so waits grow with the message's age; a message without a valid
     * arrival time gets the minimum. */
    long delay = arrival > 0 ? (long)(now - arrival) : p->minimal_backoff_time;
    if (delay > p->maximal_backoff_time)
        delay = p->maximal_backoff_time;
    if (delay < p->minimal_backoff_time)
        delay = p->minimal_backoff_time;
    return delay;
}

long sched_lifetime(bool null_sender, const struct sched_params *p)
{
    if (!null_sender)
        return p->maximal_queue_lifetime;
    /* qmgr_pre_init(): "bounce_queue_lifetime is larger than
     * maximal_queue_lifetime - adjusting bounce_queue_lifetime". */
    return p->bounce_queue_lifetime > p->maximal_queue_lifetime ? p->maximal_queue_lifetime
                                                               : p->bounce_queue_lifetime;
}

bool sched_expired(time_t arrival, bool null_sender, time_t now, const struct sched_params *p)
{
    return now >= arrival + sched_lifetime(null_sender, p);
}

void sched_after_deferral(time_t arrival, bool null_sender, time_t warn_time, time_t now,
                          const struct sched_params *p, struct sched_decision *out)
{
    out->warn_time = warn_time;
    out->next_attempt = 0;
    if (sched_expired(arrival, null_sender, now, p)) {
        out->action = SCHED_EXPIRE;
        return;
    }
    out->action = SCHED_DEFER;
    /* "event_time() >= message->warn_time - 1": a second early is on time. */
    if (warn_time > 0 && now >= warn_time - 1) {
        out->action = SCHED_WARN;
        out->warn_time = 0;
    }
    out->next_attempt = now + sched_backoff(arrival, now, p);
}

bool sched_due(time_t next_attempt, time_t now)
{
    return next_attempt <= now;
}

time_t sched_next_scan(time_t last_scan, const struct sched_params *p)
{
    return last_scan + (p->queue_run_delay > 0 ? p->queue_run_delay : 1);
}

/* ---- destination concurrency ------------------------------------------- */

int sched_feedback_parse(const char *s, struct sched_feedback *out)
{
    if (!s || !*s)
        return -EINVAL;
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0 || v > 1e6)
        return -EINVAL;
    out->num = v;
    out->per_concurrency = false;
    if (*end == '\0')
        return 0;
    if (strcmp(end, "/concurrency") == 0) {
        out->per_concurrency = true;
        return 0;
    }
    return -EINVAL;
}

void sched_conc_defaults(struct sched_conc *c)
{
    *c = (struct sched_conc){.initial = 5, .limit = 20, .cohort_limit = 1,
                             .pos = {1, false}, .neg = {1, false}, .dead_time = 300};
}

static double feedback(const struct sched_feedback *f, int window)
{
    return f->per_concurrency ? f->num / (window > 0 ? window : 1) : f->num;
}

void sched_dest_init(struct sched_dest *d, const struct sched_conc *c)
{
    *d = (struct sched_dest){.window = c->initial > 0 ? c->initial : 1};
}

static void revive(struct sched_dest *d, const struct sched_conc *c)
{
    /* "Back from the almost grave, best concurrency is anyone's guess." */
    d->window = d->busy > 0 ? d->busy : (c->initial > 0 ? c->initial : 1);
    d->success = d->failure = 0;
    d->dead_until = 0;
}

void sched_dest_tick(struct sched_dest *d, const struct sched_conc *c, time_t now)
{
    if (d->window == 0 && now >= d->dead_until)
        revive(d, c);
}

bool sched_dest_may_start(const struct sched_dest *d)
{
    return d->window > d->busy;
}

void sched_dest_start(struct sched_dest *d)
{
    d->busy++;
}

static void unthrottle(struct sched_dest *d, const struct sched_conc *c)
{
    d->fail_cohorts = 0;
    if (d->window == 0) {
        revive(d, c);
        return;
    }
    if ((c->limit == 0 || c->limit > d->window) && d->window < d->busy + c->initial) {
        double fb = feedback(&c->pos, d->window);
        d->success += fb;
        while (d->success + fb / 2 >= 1) {
            d->window += 1;
            d->success -= 1;
            d->failure = 0;
        }
        if (c->limit > 0 && d->window > c->limit)
            d->window = c->limit;
    }
}

static void throttle(struct sched_dest *d, const struct sched_conc *c, time_t now)
{
    if (d->window == 0)
        return; /* already dead: qmgr does not count failures then */
    d->fail_cohorts += 1.0 / d->window;
    if (c->cohort_limit > 0 && d->fail_cohorts >= c->cohort_limit) {
        d->window = 0;
        d->dead_until = now + c->dead_time;
        return;
    }
    double fb = feedback(&c->neg, d->window);
    d->failure -= fb;
    while (d->failure - fb / 2 < 0) {
        d->window -= 1;
        d->success = 0;
        d->failure += 1;
    }
    if (d->window < 1)
        d->window = 1;
}

void sched_dest_done(struct sched_dest *d, const struct sched_conc *c, bool ok, time_t now)
{
    /* The feedback sees the finishing delivery still busy, as qmgr updates
     * the window before it releases the entry. */
    if (ok)
        unthrottle(d, c);
    else
        throttle(d, c, now);
    if (d->busy > 0)
        d->busy--;
}

int sched_transport_limit(const struct config *cfg, const char *transport, long *out)
{
    char name[256];
    struct cfg_value v;
    struct cfg_expand_err err;
    if (!transport || !*transport ||
        snprintf(name, sizeof(name), "%s_destination_concurrency_limit", transport) >=
            (int)sizeof(name))
        return -EINVAL;
    const char *raw = "$default_destination_concurrency_limit";
    if (config_get(cfg, name, &v) == 0 && v.set)
        raw = v.raw;
    char *val = config_expand(cfg, raw, &err);
    if (!val)
        return -EINVAL;
    long n;
    int rc = cfg_value_long(val, &n);
    free(val);
    if (rc < 0 || n < 0)
        return -EINVAL;
    *out = n;
    return 0;
}
