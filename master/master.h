/*
 * master.h - the mxscreen master process: command line, start-up (bind,
 * drop privileges, detach), the supervisor of the worker processes, the
 * acceptor that hands fresh connections to them, and the control socket.
 *
 * What a worker is comes in through struct master_hooks, so that the
 * daemon (master/main.c: generation_load() and worker_run()) and the test
 * harness (tests/integration/master_fake.c: a fake worker) run the same
 * supervisor and acceptor.
 *
 * Failure: master_cli() prints what failed and where, and returns 1, for
 * anything wrong at start-up (bad arguments, configuration, listen
 * address, data_directory, mail_owner, control socket). Once running, it
 * never exits on an error of a worker, a client or a reload; it returns 0
 * after SIGTERM/SIGINT or "stop" once every worker is gone.
 */
#ifndef MX_MASTER_H
#define MX_MASTER_H

#include "config.h"

struct master_hooks {
    /* Load generation id from dir: 0 with *gen, or -errno with the reasons
     * in diag (the first error is what the log and "reload" say). */
    int (*load)(const char *dir, unsigned id, void **gen, struct cfg_diag *diag);
    void (*free)(void *gen);
    /* Optional: called once the master built the frontend configuration
     * from a loaded generation (so that load can place both in one policy
     * segment), before any fork. 0 or -errno with the reason in diag. */
    int (*seal)(void *gen, struct cfg_diag *diag);
    const struct config *(*config)(const void *gen);
    /* In the forked child: serve handoffs from chans[0..nchan) (one per
     * frontend of the generation); the exit status. */
    int (*run_worker)(const void *gen, unsigned index, const int *chans, unsigned nchan);
    /* The queue runner (qrun_link.c), both NULL for none: whether this
     * generation wants one, and its body in the forked child. */
    int (*want_qrun)(const void *gen);
    int (*run_qrun)(const void *gen);
};

/* Parse "mxscreen -c DIR [-C CTLPATH] [-d] [-v]" and run. Exit status. */
int master_cli(int argc, char **argv, const struct master_hooks *h);

#endif
