/*
 * worker.h - one worker process: an io_uring event loop that holds many
 * SMTP sessions, each continuing a connection handed over by the master's
 * acceptor (later the frontend) through shm/handoff.h.
 *
 * The master forks a worker after loading a generation (generation.h) and
 * calls worker_run() in the child; everything the child needs that is
 * per-process (io_uring ring, c-ares channel, Hyperscan scratch, TLS
 * state) is created there, after the fork. The generation itself is
 * inherited: read-only pages shared copy-on-write with the master and
 * every sibling of the same generation.
 *
 * The channels: the worker's ends of AF_UNIX SOCK_SEQPACKET pairs, one per
 * frontend process of the generation (frontend_processes). The worker
 * receives handoff records with the client socket (SCM_RIGHTS) on any of
 * them, answers each with an ACCEPTED or REFUSED ack on the channel it
 * came from, and sends a LOAD ack on every channel when sessions end, so
 * each sender can pick the least-loaded worker. The master keeps its end
 * of every channel (a frontend that dies closes only its copy), so end of
 * file on a channel means the master is gone: the worker drains as on
 * SIGTERM.
 *
 * Signals (the master sends them):
 *   SIGTERM, SIGINT  stop: take no new handoffs, let transactions in
 *                    progress finish for up to WORKER_DRAIN_MS, then send
 *                    "421 4.3.2 Service shutting down" to every session
 *                    still open (after the reply in progress, never in the
 *                    middle of one) and exit 0;
 *   SIGUSR1          retire (a new generation took over): take no new
 *                    handoffs, let every session end on its own (client
 *                    QUIT, smtpd_timeout), then exit 0.
 * Returns the process exit status (0 after a clean stop; 1 if the loop
 * could not start: no io_uring, no DNS channel), after logging why.
 */
#ifndef MX_WORKER_H
#define MX_WORKER_H

struct generation;

#define WORKER_DRAIN_MS 10000u   /* SIGTERM: how long transactions may finish */
#define WORKER_CAPACITY 4096u    /* default most sessions per worker */

struct worker_args {
    unsigned index;                 /* 1..worker_processes, for logs */
    const int *chans;               /* handoff channels (worker's ends) */
    unsigned nchan;                 /* >= 1 */
    const struct generation *gen;   /* configuration generation */
    unsigned capacity;              /* most sessions; 0: WORKER_CAPACITY */
};

int worker_run(const struct worker_args *a);

#endif
