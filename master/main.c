/*
 * main.c - the mxscreen daemon: the master (master.h) with the real
 * workers. A generation is workers/generation.h's (main.cf, maps,
 * restriction lists, content checks, TLS); a worker is worker_run().
 *
 * Failure: see master.h; exit status 1 for anything wrong at start-up.
 */
#include "generation.h"
#include "master.h"
#include "qrun.h"
#include "worker.h"

static int gen_load(const char *dir, unsigned id, void **gen, struct cfg_diag *diag)
{
    struct generation *g;
    int r = generation_load(dir, id, &g, diag);
    if (r == 0)
        *gen = g;
    return r;
}

static int gen_seal(void *gen, struct cfg_diag *diag)
{
    return generation_seal(gen, diag);
}

static void gen_free(void *gen)
{
    generation_free(gen);
}

static const struct config *gen_config(const void *gen)
{
    return &((const struct generation *)gen)->cfg;
}

static int run_worker(const void *gen, unsigned index, const int *chans, unsigned nchan)
{
    struct worker_args a = {
        .index = index, .chans = chans, .nchan = nchan, .gen = gen, .capacity = 0};
    return worker_run(&a);
}

static int want_qrun(const void *gen)
{
    return qrun_wanted(gen_config(gen));
}

static int run_qrun(const void *gen)
{
    return qrun_run(gen);
}

int main(int argc, char **argv)
{
    static const struct master_hooks hooks = {
        .load = gen_load, .free = gen_free, .seal = gen_seal, .config = gen_config,
        .run_worker = run_worker,
        .want_qrun = want_qrun, .run_qrun = run_qrun,
    };
    return master_cli(argc, argv, &hooks);
}
