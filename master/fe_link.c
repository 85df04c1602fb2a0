/*
 * fe_link.c - the master's side of the frontend processes (frontend/):
 * frontend_processes of them per generation (master_frontends()), each
 * forked with the listening sockets and its own control channel
 * (frontend/fe_ctl.h). They all accept on the same listeners and share
 * the anvil table and the screening cache (shm/), so connection count and
 * rate limits stay global; each has its own pools.
 *
 *   - Every worker has one handoff channel per frontend of its generation
 *     (mworker.chan[k] is frontend k's). The master keeps its end of each
 *     (so a frontend that exits never makes a worker see end of file,
 *     which means "drain"), and a copy goes to frontend k as ADD; frontend
 *     k hands connections over it and reads the acks that come back on it.
 *     A worker that dies is announced as DEL to every frontend; its
 *     restart as a new ADD.
 *   - Each frontend reports STATS; the master keeps the latest per
 *     frontend for "status" and folds them into fe_base when it is gone.
 *   - A frontend that dies is restarted alone, with the workers' backoff
 *     (1 s doubling to 60 s), and gets every running worker's channel k
 *     again (what the dead one left unread on it is still there: handoffs
 *     reach the worker, stale acks are ignored by the new one). The other
 *     frontends keep serving meanwhile.
 *   - Reload: every frontend of the old generation gets RETIRE (stop
 *     accepting, finish its held connections for up to FE_RETIRE_MS,
 *     exit). Once all are gone the master reads the acks of that
 *     generation's retiring workers itself, so their session counts stay
 *     true in "status".
 *
 * Failure: fork or socketpair failing is logged and retried through the
 * backoff; a control message that cannot be sent is logged (the frontend
 * may be dying: SIGCHLD follows).
 */
#include "master_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frontend.h"
#include "handoff.h"
#include "log.h"
#include "maps_lmdb.h"
#include "util.h"

void master_close_all_but(const int *keep_, size_t n_)
{
    /* The open LMDB tables stay too: the child's copies of them own their
     * descriptors (maps_lmdb.h, map_lmdb_fds). The master is one thread:
     * malloc is safe here after fork. */
    size_t nl = map_lmdb_fds(NULL, 0);
    int *keep = xmalloc((n_ + nl + 1) * sizeof(*keep));
    memcpy(keep, keep_, n_ * sizeof(*keep));
    size_t n = n_ + map_lmdb_fds(keep + n_, nl);
    int lo = 3;
    for (;;) {
        int next = -1;
        for (size_t i = 0; i < n; i++)
            if (keep[i] >= lo && (next < 0 || keep[i] < next))
                next = keep[i];
        if (next < 0)
            break;
        if (next > lo)
            close_range((unsigned)lo, (unsigned)next - 1, 0);
        lo = next + 1;
    }
    close_range((unsigned)lo, ~0u, 0);
    free(keep);
}

unsigned master_frontends(const struct config *cfg)
{
    long n = cfg->p.frontend_processes;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 1 ? cpus / 2 : 1;
    }
    if (n < 1)
        n = 1;
    return n > MASTER_MAX_FE ? MASTER_MAX_FE : (unsigned)n;
}

static noreturn void child(struct master *m, struct mgen *g, unsigned k, int ctl)
{
    log_after_fork();
    log_init("mxscreen/postscreen", 1);
    master_child_sched(m->h->config(g->gen));
    int keep[MASTER_MAX_LISTEN + 2];
    size_t n = 0;
    for (size_t i = 0; i < m->nl; i++)
        keep[n++] = m->lfd[i];
    keep[n++] = ctl;
    if (log_file_fd() >= 0)
        keep[n++] = log_file_fd();
    master_close_all_but(keep, n);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != m->pid)
        _exit(0);
    struct frontend_args a = {
        .gen_id = g->id,
        .cfg = m->h->config(g->gen),
        .conf = g->fec,
        .lfd = m->lfd,
        .nl = m->nl,
        .ctl = ctl,
        .index = k + 1,
        .count = g->nfe,
        .ledger = g->fe[k].ledger,
        .board = g->board,
    };
    _exit(frontend_run(&a));
}

/* A worker's pending handoffs are every frontend's own unacked ones. */
static uint64_t pending_sum(const struct mworker *w)
{
    uint64_t n = 0;
    for (unsigned k = 0; k < w->nchan && k < MASTER_MAX_FE; k++)
        n += w->fe_pending[k];
    return n;
}

static void send_add(struct master *m, struct mgen *g, unsigned k, size_t wi)
{
    struct mworker *w = &m->w[wi];
    struct mfe *f = &g->fe[k];
    if (f->ctl < 0 || k >= w->nchan || w->chan[k] < 0 || w->pid <= 0 || w->state != MW_RUNNING)
        return;
    struct fe_ctl_msg msg = {.kind = FE_CTL_ADD, .slot = (uint32_t)wi, .pid = (uint32_t)w->pid,
                             .index = w->index};
    int r = fe_ctl_send(f->ctl, &msg, w->chan[k]);
    if (r < 0)
        log_warn("frontend %u of generation %u: cannot pass worker %u: %s", k + 1, g->id,
                 w->index, strerror(-r));
    /* Whatever it had reported for this slot is the old process's. */
    w->fe_pending[k] = 0;
    w->sent = pending_sum(w);
    w->acked = 0;
}

/* "frontend (generation G)" as with one frontend, else "frontend K
 * (generation G)", for the master's log lines. */
static const char *fe_name(const struct mgen *g, unsigned k, char *buf, size_t len)
{
    if (g->nfe > 1)
        snprintf(buf, len, "frontend %u (generation %u)", k + 1, g->id);
    else
        snprintf(buf, len, "frontend (generation %u)", g->id);
    return buf;
}

static void schedule(struct master *m, struct mgen *g, unsigned k, int64_t now)
{
    (void)m;
    struct mfe *f = &g->fe[k];
    if (f->backoff_s == 0 || now - f->started_ms >= MASTER_BACKOFF_RESET_S * 1000)
        f->backoff_s = 1;
    f->state = MFE_WAITING;
    f->pid = 0;
    f->restart_at_ms = now + (int64_t)f->backoff_s * 1000;
    char name[64];
    log_warn("%s: restarting in %u s", fe_name(g, k, name, sizeof(name)), f->backoff_s);
    f->backoff_s = f->backoff_s * 2 > MASTER_BACKOFF_MAX_S ? MASTER_BACKOFF_MAX_S
                                                         : f->backoff_s * 2;
}

int fe_link_spawn(struct master *m, struct mgen *g, unsigned k)
{
    struct mfe *f = &g->fe[k];
    int sv[2];
    int64_t now = master_now_ms();
    f->index = k;
    f->started_ms = now;
    if (g->nfe > 1 && !f->ledger)
        f->ledger = fe_ledger_create(g->fec); /* NULL: counts may leak at its death */
    if (g->nfe > 1 && !g->board)
        g->board = fe_board_create(g->nfe); /* NULL: each counts its own queues */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        int e = errno;
        log_warn("socketpair for frontend %u: %s", k + 1, strerror(e));
        schedule(m, g, k, now);
        return -e;
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        log_warn("fork frontend %u: %s", k + 1, strerror(e));
        close(sv[0]);
        close(sv[1]);
        schedule(m, g, k, now);
        return -e;
    }
    if (pid == 0) {
        close(sv[0]);
        child(m, g, k, sv[1]);
    }
    close(sv[1]);
    f->pid = pid;
    f->ctl = sv[0];
    f->state = MFE_RUNNING;
    memset(&f->st, 0, sizeof(f->st));
    log_debug("frontend %u generation %u started: pid %ld", k + 1, g->id, (long)pid);
    for (size_t i = 0; i < m->nw; i++)
        if (m->w[i].gen == g)
            send_add(m, g, k, i);
    return 0;
}

void fe_link_worker_added(struct master *m, size_t wi)
{
    struct mgen *g = m->w[wi].gen;
    if (!g)
        return;
    for (unsigned k = 0; k < g->nfe; k++)
        if (g->fe[k].state == MFE_RUNNING)
            send_add(m, g, k, wi);
}

void fe_link_worker_gone(struct master *m, size_t wi)
{
    struct mworker *w = &m->w[wi];
    struct mgen *g = w->gen;
    if (!g || w->pid <= 0)
        return;
    struct fe_ctl_msg msg = {.kind = FE_CTL_DEL, .slot = (uint32_t)wi, .pid = (uint32_t)w->pid};
    for (unsigned k = 0; k < g->nfe; k++)
        if (g->fe[k].ctl >= 0)
            (void)fe_ctl_send(g->fe[k].ctl, &msg, -1);
}

void fe_link_retire(struct master *m, struct mgen *g)
{
    (void)m;
    for (unsigned k = 0; k < g->nfe; k++) {
        struct mfe *f = &g->fe[k];
        if (f->state == MFE_WAITING) {
            f->state = MFE_NONE; /* the caller retires the workers */
            continue;
        }
        if (f->state != MFE_RUNNING)
            continue;
        struct fe_ctl_msg msg = {.kind = FE_CTL_RETIRE};
        if (fe_ctl_send(f->ctl, &msg, -1) < 0)
            kill(f->pid, SIGUSR1); /* the same, by signal */
        f->state = MFE_RETIRING;
    }
}

void fe_link_stop(struct master *m)
{
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        if (!m->gens[i].used)
            continue;
        for (unsigned k = 0; k < m->gens[i].nfe; k++) {
            struct mfe *f = &m->gens[i].fe[k];
            if (f->state == MFE_WAITING)
                f->state = MFE_NONE;
            else if (f->pid > 0 && f->state != MFE_NONE) {
                kill(f->pid, SIGTERM);
                f->state = MFE_STOPPING;
            }
        }
    }
}

static void add_stats(struct fe_stats *b, const struct fe_stats *s, bool with_held)
{
    fe_stats_add(b, s, with_held); /* every counter of fe_stats_fields[] */
}

static void fold(struct master *m, struct mfe *f)
{
    add_stats(&m->fe_base, &f->st, false);
    memset(&f->st, 0, sizeof(f->st));
}

bool fe_link_all_gone(const struct mgen *g)
{
    for (unsigned k = 0; k < g->nfe; k++)
        if (g->fe[k].state != MFE_NONE)
            return false;
    return true;
}

bool fe_link_reaped(struct master *m, pid_t pid, int64_t now)
{
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        struct mgen *g = &m->gens[i];
        if (!g->used)
            continue;
        for (unsigned k = 0; k < g->nfe; k++) {
            struct mfe *f = &g->fe[k];
            if (f->pid != pid || f->state == MFE_NONE || f->state == MFE_WAITING)
                continue;
            /* Its last counters, then the channel. */
            fe_link_ctl_io(m, g);
            fold(m, f);
            /* The connections it held are gone: so are their counts (the
             * others' stay; with one frontend the restart resets). */
            unsigned freed = fe_ledger_release(g->fec, f->ledger);
            if (freed)
                log_info("frontend pid %ld: %u client connection count(s) it held released",
                         (long)pid, freed);
            fe_board_publish(g->board, k + 1, 0, 0); /* its queued clients went with it */
            if (f->ctl >= 0)
                close(f->ctl);
            f->ctl = -1;
            f->pid = 0;
            if (f->state == MFE_RUNNING && !m->stopping && !g->retiring) {
                f->restarts++;
                schedule(m, g, k, now);
            } else {
                f->state = MFE_NONE;
                if (!fe_link_all_gone(g))
                    return true; /* its siblings still hand connections over */
                if (g->retiring)
                    supervisor_retire_workers(m, g);
                else
                    supervisor_gen_maybe_free(m, g);
            }
            return true;
        }
    }
    return false;
}

void fe_link_restart_due(struct master *m, int64_t now, int64_t *next_ms)
{
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        struct mgen *g = &m->gens[i];
        if (!g->used)
            continue;
        for (unsigned k = 0; k < g->nfe; k++) {
            struct mfe *f = &g->fe[k];
            if (f->state != MFE_WAITING)
                continue;
            if (f->restart_at_ms <= now) {
                /* The dead one's anvil counts (only when it was alone:
                 * a reset would also forget its siblings' live counts). */
                if (g->nfe == 1)
                    fe_conf_restarted(g->fec);
                char name[64];
                if (fe_link_spawn(m, g, k) == 0)
                    log_info("%s restarted: pid %ld", fe_name(g, k, name, sizeof(name)),
                             (long)f->pid);
            }
            if (f->state == MFE_WAITING && (*next_ms < 0 || f->restart_at_ms < *next_ms))
                *next_ms = f->restart_at_ms;
        }
    }
}

static void ctl_io_one(struct master *m, struct mgen *g, struct mfe *f)
{
    static struct fe_ctl_msg msg;
    for (int i = 0; i < 64 && f->ctl >= 0; i++) {
        int fd;
        int r = fe_ctl_recv(f->ctl, &msg, &fd);
        if (r == -EAGAIN)
            return;
        if (r == -ECONNRESET) {
            /* Exiting: SIGCHLD follows; stop polling it. */
            close(f->ctl);
            f->ctl = -1;
            return;
        }
        if (r < 0) {
            log_warn("frontend %u generation %u: %s", f->index + 1, g->id, strerror(-r));
            continue;
        }
        if (fd >= 0)
            close(fd);
        if (msg.kind != FE_CTL_STATS)
            continue;
        f->st = msg.st;
        for (uint32_t e = 0; e < msg.nworkers; e++) {
            const struct fe_ctl_worker *x = &msg.w[e];
            if (x->slot >= m->nw)
                continue;
            struct mworker *w = &m->w[x->slot];
            if (w->gen != g || w->pid != (pid_t)x->pid)
                continue;
            /* sessions: the worker's own count, whichever frontend saw it
             * last; pending: the sum of each frontend's handoffs not yet
             * acked (the latest report of each). */
            w->sessions = x->sessions;
            w->capacity = x->capacity;
            if (f->index < MASTER_MAX_FE)
                w->fe_pending[f->index] = x->pending;
            w->sent = pending_sum(w);
            w->acked = 0;
        }
    }
}

void fe_link_ctl_io(struct master *m, struct mgen *g)
{
    for (unsigned k = 0; k < g->nfe; k++)
        ctl_io_one(m, g, &g->fe[k]);
}

bool fe_link_orphan(const struct master *m, size_t wi)
{
    const struct mworker *w = &m->w[wi];
    return w->gen && w->nchan > 0 && fe_link_all_gone(w->gen);
}

void fe_link_acks(struct master *m, size_t wi, unsigned k)
{
    struct mworker *w = &m->w[wi];
    for (int i = 0; i < 256 && k < w->nchan && w->chan[k] >= 0; i++) {
        struct handoff_ack a;
        int r = handoff_ack_recv(w->chan[k], &a);
        if (r == -EAGAIN)
            return;
        if (r == -ECONNRESET) {
            supervisor_close_chan(m, wi);
            return;
        }
        if (r < 0)
            continue;
        if ((a.kind == HANDOFF_ACK_ACCEPTED || a.kind == HANDOFF_ACK_REFUSED) && w->sent > 0)
            w->sent--;
        w->sessions = a.sessions;
        w->capacity = a.capacity;
    }
}

void fe_link_totals(const struct master *m, struct fe_stats *out)
{
    *out = m->fe_base;
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        const struct mgen *g = &m->gens[i];
        if (!g->used)
            continue;
        for (unsigned k = 0; k < g->nfe; k++)
            add_stats(out, &g->fe[k].st, true);
    }
}

size_t fe_link_live(const struct master *m)
{
    size_t n = 0;
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        if (!m->gens[i].used)
            continue;
        for (unsigned k = 0; k < m->gens[i].nfe; k++) {
            const struct mfe *f = &m->gens[i].fe[k];
            if (f->pid > 0 && f->state != MFE_NONE && f->state != MFE_WAITING)
                n++;
        }
    }
    return n;
}

void fe_link_kill_remaining(struct master *m)
{
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        struct mgen *g = &m->gens[i];
        if (!g->used)
            continue;
        for (unsigned k = 0; k < g->nfe; k++) {
            struct mfe *f = &g->fe[k];
            if (f->pid <= 0 || f->state == MFE_NONE || f->state == MFE_WAITING)
                continue;
            log_warn("frontend pid %ld did not stop in time: killing it", (long)f->pid);
            kill(f->pid, SIGKILL);
            int st;
            while (waitpid(f->pid, &st, 0) < 0 && errno == EINTR)
                ;
            if (f->ctl >= 0)
                close(f->ctl);
            f->ctl = -1;
            f->pid = 0;
            f->state = MFE_NONE;
        }
    }
}

void fe_link_gen_free(struct mgen *g)
{
    for (unsigned k = 0; k < MASTER_MAX_FE; k++) {
        fe_ledger_free(g->fe[k].ledger);
        g->fe[k].ledger = NULL;
    }
    fe_board_free(g->board);
    g->board = NULL;
}
