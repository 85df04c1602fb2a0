/*
 * frontend.h - the frontend process: mxscreen's postscreen. One per
 * configuration generation, forked by the master beside the workers. It
 * owns every new connection until the connection is known to be clean,
 * then passes the socket with a struct handoff (shm/handoff.h) straight to
 * the least-loaded worker of its generation, in the middle of the session
 * (a "220-" teaser line already sent: the worker finishes the greeting).
 *
 * Two halves:
 *   - fe_conf_load(), in the master when a generation is loaded: every
 *     frontend parameter checked and prepared once (actions, greet wait
 *     with and without ${stress}, the access list with its tables opened,
 *     tarpit, the reply texts). A bad value refuses the generation (start-up
 *     or reload), as a bad main.cf does.
 *   - frontend_run(), in the forked child: the io_uring loop (multishot
 *     accept on every inherited listener, a fixed pool of per-connection
 *     states, one timer wheel) until the master says RETIRE or SIGTERM.
 *
 * The master talks to it over a control channel (fe_ctl.h): worker
 * channels come and go as ADD/DEL messages, the frontend reports counters
 * and worker loads back as STATS.
 *
 * Signals: SIGTERM/SIGINT stop at once (held connections get "421 4.3.2
 * Service shutting down"); RETIRE on the channel (or end of file on it)
 * stops accepting and lets held connections finish for up to
 * FE_RETIRE_MS, then the rest get the same 421.
 *
 * Failure: fe_conf_load returns -errno with the reason in diag;
 * frontend_run returns the exit status (1 when the loop cannot start: no
 * io_uring, no memory for the pools), after logging why.
 */
#ifndef MX_FRONTEND_H
#define MX_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define FE_RETIRE_MS 10000u /* a retiring frontend's connections: at most this long */
#define FE_HOLD_MS 2000u    /* no worker can take a clean client: retry this long */
#define FE_MAX_LISTEN 32

struct fe_conf;
struct fe_ledger;
struct fe_board;
struct anvil_key;

int fe_conf_load(const struct config *cfg, struct fe_conf **out, struct cfg_diag *diag);
void fe_conf_free(struct fe_conf *c);
/* The master restarts a frontend that died: forget the connection counts
 * it held in the shared anvil table (it cannot disconnect them). */
void fe_conf_restarted(const struct fe_conf *c);

struct frontend_args {
    unsigned gen_id;            /* for logs */
    const struct config *cfg;
    const struct fe_conf *conf;
    const int *lfd;             /* listening sockets (non-blocking) */
    size_t nl;
    int ctl;                    /* control channel (frontend's end) */
    unsigned index, count;      /* this frontend is index 1..count of its generation */
    struct fe_ledger *ledger;   /* its anvil counts, for the master (or NULL) */
    struct fe_board *board;     /* the generation's queue counts (or NULL) */
};

/*
 * fe_ledger.c: the anvil counts a frontend holds, in a shared mapping the
 * master makes before the fork (one per frontend, kept across its
 * restarts), so that the master can disconnect them when the frontend
 * died (several frontends share the table: no reset). create: NULL on
 * failure (logged). release: disconnect every count left, return how many.
 */
struct fe_ledger *fe_ledger_create(const struct fe_conf *c);
void fe_ledger_free(struct fe_ledger *l);
unsigned fe_ledger_release(const struct fe_conf *c, struct fe_ledger *l);
/* The frontend: slot (its pool index) counted as k / no longer counted. */
void fe_ledger_set(struct fe_ledger *l, uint32_t slot, const struct anvil_key *k);
void fe_ledger_clear(struct fe_ledger *l, uint32_t slot);

/*
 * fe_ledger.c: the board, every frontend's postscreen pre-queue and
 * post-queue counts in one shared mapping the master makes per generation
 * (n frontends), so the two limits hold for all of them together. publish:
 * frontend index (1..n) sets its own counts; others: the sum of every
 * other frontend's (0 with no board); the master publishes 0, 0 for a
 * frontend that died. create: NULL on failure (logged).
 */
struct fe_board *fe_board_create(unsigned n);
void fe_board_free(struct fe_board *b);
void fe_board_publish(struct fe_board *b, unsigned index, uint32_t pre, uint32_t post);
void fe_board_others(const struct fe_board *b, unsigned index, uint32_t *pre, uint32_t *post);

int frontend_run(const struct frontend_args *a);

#endif
