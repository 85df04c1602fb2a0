/*
 * master_int.h - the master's state, shared by its files:
 *   master.c      command line, start-up, the poll loop, stop
 *   supervisor.c  forking, reaping, restarting and retiring workers; reload
 *   acceptor.c    accept, handoff to the least-loaded worker, acks
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

#include "master.h"

#define MASTER_MAX_LISTEN 32
#define MASTER_MAX_GENS 8      /* generations alive at once (reloads draining) */
#define MASTER_MAX_WORKERS 256 /* worker_processes is capped to this */
#define MASTER_MAX_CTL 8       /* control clients at once */
#define MASTER_BACKOFF_MAX_S 60
#define MASTER_BACKOFF_RESET_S 60

struct mgen {
    bool used, retiring;
    unsigned id;
    void *gen;
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
    int chan;       /* master's end of the handoff channel, or -1 */
    unsigned index; /* 1..worker_processes within its generation */
    struct mgen *gen;
    uint32_t sessions, capacity; /* from the latest ack (capacity 0: none yet) */
    uint64_t sent, acked;        /* handoffs sent / ACCEPTED+REFUSED acks, this process */
    int64_t started_ms, restart_at_ms;
    unsigned backoff_s, restarts;
    uint64_t tried; /* acceptor: the seq it was last tried for */
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
    int64_t accept_pause_until_ms;

    int sfd; /* signalfd */
    int ctl_fd;
    struct ctl_client ctl[MASTER_MAX_CTL];

    uint64_t seq, accepted, handed, refused_busy, refused_worker;
    uint32_t id_counter;

    bool stopping;
    int64_t stop_deadline_ms;
};

int64_t master_now_ms(void);

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

/* acceptor.c */
void acceptor_ready(struct master *m, int lfd);
void acceptor_acks(struct master *m, size_t wi);

/* control.c */
int control_open(struct master *m, char *err, size_t errlen);
void control_close(struct master *m);
void control_accept(struct master *m);
void control_client_io(struct master *m, size_t ci);
void control_expire(struct master *m, int64_t now, int64_t *next_ms);

#endif
