/*
 * master_int.h - the master's state, shared by its files:
 *   master.c      command line, start-up, the poll loop, stop
 *   supervisor.c  forking, reaping, restarting and retiring workers; reload
 *   fe_link.c     the frontends of each generation: fork, control channel
 *                 (worker channels out, counters in), restart, retire; the
 *                 acks of workers whose frontend is gone
 *   control.c     the control socket (reload, stop, status)
 * One thread, one poll(2) loop: every handler runs to completion, so the
 * state needs no locking. Workers are referred to by index into m->w
 * (the array grows), generations by pointer (fixed array).
 */
#ifndef MX_MASTER_INT_H
#define MX_MASTER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fe_ctl.h"
#include "master.h"

#define MASTER_MAX_LISTEN 32
#define MASTER_MAX_GENS 8      /* generations alive at once (reloads draining) */
#define MASTER_MAX_WORKERS 256 /* worker_processes is capped to this */
#define MASTER_MAX_CTL 8       /* control clients at once */
#define MASTER_MAX_FE 16       /* frontend_processes is capped to this */
#define MASTER_BACKOFF_MAX_S 60
#define MASTER_BACKOFF_RESET_S 60

enum mfe_state {
    MFE_NONE = 0, /* no process (never started, or gone) */
    MFE_RUNNING,
    MFE_RETIRING, /* RETIRE sent: finishing its held connections */
    MFE_STOPPING, /* SIGTERM sent */
    MFE_WAITING,  /* died; restart at restart_at_ms */
};

/* One frontend process of a generation (frontend_processes of them). */
struct mfe {
    enum mfe_state state;
    unsigned index;          /* 0..nfe-1: also its channel in every worker */
    pid_t pid;
    int ctl;                 /* master's end of the control channel, or -1 */
    struct fe_stats st;      /* its latest STATS */
    int64_t started_ms, restart_at_ms;
    unsigned backoff_s, restarts;
    /* Its anvil counts (frontend_processes > 1): released by the master
     * when it dies, kept for its restarts, freed with the generation. */
    struct fe_ledger *ledger;
};

struct mgen {
    bool used, retiring;
    unsigned id;
    void *gen;
    struct fe_conf *fec;
    struct mfe fe[MASTER_MAX_FE];
    unsigned nfe;  /* frontends of this generation */
    struct fe_board *board; /* their queue counts, nfe > 1 (frontend/fe_ledger.c) */
    unsigned live; /* worker slots that still count: running, retiring, waiting */
};

enum mworker_state {
    MW_FREE = 0,  /* slot unused */
    MW_RUNNING,   /* takes handoffs */
    MW_RETIRING,  /* SIGUSR1 sent (new generation): finishing its sessions */
    MW_STOPPING,  /* SIGTERM sent (master stopping) */
    MW_WAITING,   /* died; restart at restart_at_ms */
};

struct mworker {
    enum mworker_state state;
    pid_t pid;      /* > 0 while the process exists */
    /* Master's ends of the handoff channels, one per frontend of the
     * generation (chan[k] is frontend k's), or -1. */
    int chan[MASTER_MAX_FE];
    unsigned nchan;
    unsigned index; /* 1..worker_processes within its generation */
    struct mgen *gen;
    uint32_t sessions, capacity; /* from the latest ack (capacity 0: none yet) */
    uint64_t sent, acked;        /* handoffs sent / ACCEPTED+REFUSED acks, this process */
    uint64_t fe_pending[MASTER_MAX_FE]; /* each frontend's unacked handoffs (STATS) */
    int64_t started_ms, restart_at_ms;
    unsigned backoff_s, restarts;
};

enum mqrun_state { MQR_NONE = 0, MQR_RUNNING, MQR_STOPPING, MQR_WAITING };

/* The queue runner process (qrun_link.c): one, of the current generation. */
struct mqrun {
    enum mqrun_state state;
    pid_t pid;
    int64_t started_ms, restart_at_ms;
    unsigned backoff_s;
};

struct ctl_client {
    int fd; /* -1: free */
    int64_t deadline_ms;
    size_t len;
    char buf[256];
};

struct master {
    const struct master_hooks *h;
    char dir[4096];
    char exe[4096];
    char ctl_path[108];
    char pid_path[4096];
    bool detach;
    pid_t pid;

    struct mgen gens[MASTER_MAX_GENS];
    struct mgen *cur;
    unsigned next_gen_id;

    struct mworker *w;
    size_t nw, wcap;

    int lfd[MASTER_MAX_LISTEN];
    size_t nl;

    int sfd; /* signalfd */
    int ctl_fd;
    struct ctl_client ctl[MASTER_MAX_CTL];

    struct fe_stats fe_base; /* counters of frontends that are gone */
    struct mqrun qr;

    bool stopping;
    int64_t stop_deadline_ms;
};

int64_t master_now_ms(void);
/* In a forked child: close every descriptor from 3 up but keep[0..n). */
void master_close_all_but(const int *keep, size_t n);
/* In a new child: the scheduling policy its generation's configuration names. */
void master_child_sched(const struct config *cfg);
/* frontend_processes of a configuration: 0 means one per 2 online CPUs. */
unsigned master_frontends(const struct config *cfg);

/* supervisor.c */
int supervisor_start_gen(struct master *m, struct mgen *g);
void supervisor_reap(struct master *m);
void supervisor_restart_due(struct master *m, int64_t now, int64_t *next_ms);
/* 0, or -errno with the reason in err ("reload refused: ..." is logged). */
int supervisor_reload(struct master *m, char *err, size_t errlen);
void supervisor_stop(struct master *m);
void supervisor_kill_remaining(struct master *m);
size_t supervisor_live_processes(const struct master *m);
const char *supervisor_state_name(enum mworker_state s);
void supervisor_close_chan(struct master *m, size_t wi);
const char *supervisor_fe_state_name(enum mfe_state s);
void supervisor_gen_maybe_free(struct master *m, struct mgen *g);
/* SIGUSR1 to g's running workers (its frontend is gone). */
void supervisor_retire_workers(struct master *m, struct mgen *g);

/* fe_link.c */
int fe_link_spawn(struct master *m, struct mgen *g, unsigned k);
/* Tell g's frontend about worker slot wi (ADD) or that it is gone (DEL). */
void fe_link_worker_added(struct master *m, size_t wi);
void fe_link_worker_gone(struct master *m, size_t wi);
void fe_link_retire(struct master *m, struct mgen *g);
void fe_link_stop(struct master *m);
/* A reaped pid: true if it was a frontend (handled). */
bool fe_link_reaped(struct master *m, pid_t pid, int64_t now);
void fe_link_restart_due(struct master *m, int64_t now, int64_t *next_ms);
void fe_link_ctl_io(struct master *m, struct mgen *g);
/* Whether the master reads slot wi's acks itself (its frontends are gone). */
bool fe_link_orphan(const struct master *m, size_t wi);
void fe_link_acks(struct master *m, size_t wi, unsigned k);
/* No frontend of g is left (all MFE_NONE). */
bool fe_link_all_gone(const struct mgen *g);
void fe_link_totals(const struct master *m, struct fe_stats *out);
size_t fe_link_live(const struct master *m);
void fe_link_kill_remaining(struct master *m);
/* The generation is being freed: its frontends' ledgers go. */
void fe_link_gen_free(struct mgen *g);

/* qrun_link.c */
void qrun_link_start(struct master *m);
bool qrun_link_reaped(struct master *m, pid_t pid, int64_t now);
void qrun_link_restart_due(struct master *m, int64_t now, int64_t *next_ms);
void qrun_link_reload(struct master *m);
void qrun_link_stop(struct master *m);
void qrun_link_kill_remaining(struct master *m);
size_t qrun_link_live(const struct master *m);

/* control.c */
int control_open(struct master *m, char *err, size_t errlen);
void control_close(struct master *m);
void control_accept(struct master *m);
void control_client_io(struct master *m, size_t ci);
void control_expire(struct master *m, int64_t now, int64_t *next_ms);

#endif
