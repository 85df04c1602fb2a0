/*
 * qrun.h - the queue runner: the process that delivers what
 * delivery_mode = queue left in queue_directory (Postfix's qmgr and smtp
 * in one process), supervised by the master like a worker.
 *
 * What it does (qrun.c, qrun_job.c, qrun_notify.c):
 *   - at start, messages left in active/ by a runner that died are taken
 *     again, then incoming/ (when woken, else every queue_run_delay)
 *     and deferred/ (every queue_run_delay, a message when its next
 *     attempt is due) are moved to active/ and delivered;
 *   - each message's pending recipients are grouped by next hop
 *     (transport_maps, relayhost, else the recipient domain's MX hosts with
 *     the backup-MX rule of mx_select.h) and one delivery job per group
 *     runs, several in parallel within each destination's concurrency
 *     window (retry_sched.h);
 *   - per recipient: 2xx after the final dot -> 'D' in the queue file
 *     (pwrite + fdatasync) before anything else; 5xx -> a non-delivery
 *     notification (dsn.h) queued from <> to the sender, then 'B'; 4xx
 *     or no connection -> deferred with the error kept in the file; the
 *     message then goes to deferred/ with its next attempt (backoff), a
 *     delay warning once at delay_warning_time, and bounces at
 *     maximal_queue_lifetime (bounce_queue_lifetime for <>); a message with
 *     no recipient pending is removed;
 *   - the null sender is never sent a notification.
 *
 * Trigger: a FIFO queue_directory/qmgr (as Postfix's public/qmgr). One
 * byte 'F' (mxscreen-ctl flush) makes every deferred message due now and
 * revives dead destinations; 'R' (requeue) moves every deferred message
 * back to incoming/ with its schedule reset; 'W' scans incoming/ now: a
 * worker writes one after each directory sync that made messages of
 * incoming/ (spool.c; as Postfix's cleanup wakes qmgr), so one byte
 * stands for a whole group commit, and the bytes waiting in the FIFO when
 * the runner reads it make one scan. Nothing is lost when a trigger is:
 * the scan every queue_run_delay finds what nobody announced.
 *
 * One process, one poll(2) loop (non-blocking sockets, c-ares sockets,
 * the trigger FIFO); the queue file updates are blocking pwrite+fdatasync
 * (qf_mark), done between events.
 *
 * Failure: qrun_run() returns the exit status: 1 when queue_directory
 * cannot be opened (the master restarts it with its backoff); a corrupt
 * queue file is moved to corrupt/ and logged, never retried.
 */
#ifndef MX_QRUN_H
#define MX_QRUN_H

#include <stdbool.h>

struct generation;
struct config;

#define QRUN_TRIGGER "qmgr"  /* FIFO name under queue_directory */

/* Whether the master should run a queue runner for this configuration:
 * delivery_mode = queue, or messages waiting in queue_directory; never
 * when master_service_disable names it ("qmgr", "qmgr.fifo", "fifo"). */
bool qrun_wanted(const struct config *cfg);

/* The runner process's body (returns its exit status). */
int qrun_run(const struct generation *g);

/* Write one trigger byte to the runner of queue_dir. 0, -ENXIO when no
 * runner listens, or -errno. */
int qrun_trigger(const char *queue_dir, char what);

#endif
