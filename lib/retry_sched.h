/*
 * retry_sched.h - Postfix qmgr's scheduling arithmetic for the queue
 * runner, as pure functions of times and counters (no clock, no I/O).
 *
 * Per message (qmgr_active.c, after a delivery attempt left recipients
 * deferred):
 *   expiry first: now >= arrival + maximal_queue_lifetime (bounce_queue_
 *     lifetime for the null sender, itself capped at maximal_queue_lifetime
 *     as qmgr does) -> SCHED_EXPIRE: bounce the deferred recipients
 *     ("status=expired, returned to sender");
 *   else a delay warning once: warn_time set (arrival + delay_warning_time
 *     at queueing, 0 when delay_warning_time is 0) and now >= warn_time - 1
 *     -> SCHED_WARN: send it, and the new warn_time is 0;
 *   then the next attempt: now + the time already spent in the queue,
 *     clamped to [minimal_backoff_time, maximal_backoff_time] (each retry
 *     roughly doubles the message's age). The deferred queue is scanned
 *     every queue_run_delay; a message is taken at the first scan at or
 *     after its next attempt (sched_due()).
 *
 * Per destination (qmgr_queue.c, Postfix >= 2.5 scheduler): a concurrency
 * window starting at initial_destination_concurrency; each delivery that
 * completes without connection or handshake failure adds positive feedback
 * (default_destination_concurrency_positive_feedback, "1" or
 * "1/concurrency"), each failure negative feedback; the window stays within
 * 1..the destination concurrency limit (default_destination_concurrency_
 * limit or transport_destination_concurrency_limit; 0 = no limit) and grows
 * only while it is below busy + initial. After
 * default_destination_concurrency_failed_cohort_limit pseudo-cohorts of
 * failures (sum of 1/window per failure) the destination is dead
 * (window 0) for minimal_backoff_time; any success, or the end of that
 * time, revives it at the number of deliveries still busy, else the
 * initial concurrency. Hysteresis is 1, as Postfix's default.
 *
 * Errors: sched_feedback_parse() and sched_transport_limit() return 0 or
 * -EINVAL (value that Postfix would refuse).
 */
#ifndef MX_RETRY_SCHED_H
#define MX_RETRY_SCHED_H

#include <stdbool.h>
#include <time.h>

struct config;

struct sched_params {
    long minimal_backoff_time, maximal_backoff_time, queue_run_delay;
    long maximal_queue_lifetime, bounce_queue_lifetime, delay_warning_time;
};

enum sched_action {
    SCHED_DEFER,  /* try again at next_attempt */
    SCHED_WARN,   /* send the delay warning now, then as SCHED_DEFER */
    SCHED_EXPIRE, /* too old: bounce the deferred recipients, remove the message */
};

struct sched_decision {
    enum sched_action action;
    time_t next_attempt; /* SCHED_DEFER, SCHED_WARN */
    time_t warn_time;    /* the message's warn_time from now on */
};

/* The warn_time recorded at queueing (cleanup): 0 = no warning. */
time_t sched_warn_time(time_t arrival, const struct sched_params *p);
/* Seconds until the next attempt after a deferral at now. */
long sched_backoff(time_t arrival, time_t now, const struct sched_params *p);
/* The lifetime that applies: bounce_queue_lifetime (capped) for "". */
long sched_lifetime(bool null_sender, const struct sched_params *p);
bool sched_expired(time_t arrival, bool null_sender, time_t now, const struct sched_params *p);
/* What to do with a message that has deferred recipients after an attempt
 * at now. warn_time as recorded (0: none due any more). */
void sched_after_deferral(time_t arrival, bool null_sender, time_t warn_time, time_t now,
                          const struct sched_params *p, struct sched_decision *out);
/* Whether a deferred message is taken by a queue scan at now. */
bool sched_due(time_t next_attempt, time_t now);
/* The next deferred-queue scan after one at last_scan. */
time_t sched_next_scan(time_t last_scan, const struct sched_params *p);

/* ---- destination concurrency ------------------------------------------- */

struct sched_feedback {
    double num;
    bool per_concurrency; /* "N/concurrency": N / window */
};
/* "1", "0.5", "1/concurrency", "2/concurrency". */
int sched_feedback_parse(const char *s, struct sched_feedback *out);

struct sched_conc {
    int initial;      /* initial_destination_concurrency (5) */
    int limit;        /* destination concurrency limit (20); 0 = none */
    double cohort_limit; /* ..._failed_cohort_limit (1); 0 = never dead */
    struct sched_feedback pos, neg; /* ..._positive/negative_feedback ("1") */
    long dead_time;   /* minimal_backoff_time */
};
void sched_conc_defaults(struct sched_conc *c);

struct sched_dest {
    int window;       /* deliveries allowed at once; 0 = dead */
    int busy;         /* deliveries in progress */
    double success, failure, fail_cohorts;
    time_t dead_until;
};
void sched_dest_init(struct sched_dest *d, const struct sched_conc *c);
/* A dead destination whose time is over comes back (call before asking). */
void sched_dest_tick(struct sched_dest *d, const struct sched_conc *c, time_t now);
/* Whether one more delivery may start now. */
bool sched_dest_may_start(const struct sched_dest *d);
void sched_dest_start(struct sched_dest *d);
/* A delivery ended: ok = no connection or handshake failure (a 5xx to a
 * recipient is ok for the destination). */
void sched_dest_done(struct sched_dest *d, const struct sched_conc *c, bool ok, time_t now);

/* The concurrency limit of a transport: transport_destination_
 * concurrency_limit from the configuration if set, else
 * default_destination_concurrency_limit. */
int sched_transport_limit(const struct config *cfg, const char *transport, long *out);

#endif
