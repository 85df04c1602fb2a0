/*
 * supervisor.c - the worker processes: fork them with their handoff
 * channel, reap them through the signalfd's SIGCHLD, restart one that dies
 * (backoff 1 s doubling to 60 s, back to 1 s after it ran 60 s), build the
 * next generation on reload and retire the old workers, and stop them all.
 *
 * Deaths are logged as Postfix's master logs them:
 *   warning: process /path/mxscreen pid N exit status N
 *   warning: process /path/mxscreen pid N killed by signal N
 * A retiring or stopping worker that exits is not restarted. A generation
 * is freed once none of its workers is left.
 *
 * Each generation also has its frontend processes (fe_link.c): forked
 * first, told about every worker as it starts, retired with its
 * generation; a generation is freed once its frontends and its workers
 * are all gone. A worker gets one handoff channel per frontend of its
 * generation.
 *
 * Failure: fork or socketpair failing is logged and retried through the
 * same backoff; a reload that cannot load is refused and the old
 * generation keeps serving.
 */
#include "master_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frontend.h"
#include "log.h"
#include "util.h"

const char *supervisor_fe_state_name(enum mfe_state s)
{
    switch (s) {
    case MFE_NONE: return "gone";
    case MFE_RUNNING: return "running";
    case MFE_RETIRING: return "retiring";
    case MFE_STOPPING: return "stopping";
    case MFE_WAITING: return "restarting";
    }
    return "?";
}

const char *supervisor_state_name(enum mworker_state s)
{
    switch (s) {
    case MW_FREE: return "free";
    case MW_RUNNING: return "running";
    case MW_RETIRING: return "retiring";
    case MW_STOPPING: return "stopping";
    case MW_WAITING: return "restarting";
    }
    return "?";
}

static unsigned gen_workers(struct master *m, struct mgen *g)
{
    long n = m->h->config(g->gen)->p.worker_processes;
    if (n < 1)
        n = 1;
    if (n > MASTER_MAX_WORKERS)
        n = MASTER_MAX_WORKERS;
    return (unsigned)n;
}

static size_t new_slot(struct master *m)
{
    for (size_t i = 0; i < m->nw; i++)
        if (m->w[i].state == MW_FREE)
            return i;
    if (m->nw == m->wcap) {
        m->wcap = m->wcap ? m->wcap * 2 : 8;
        m->w = xrealloc(m->w, m->wcap * sizeof(*m->w));
    }
    memset(&m->w[m->nw], 0, sizeof(m->w[0]));
    return m->nw++;
}

void supervisor_close_chan(struct master *m, size_t wi)
{
    struct mworker *w = &m->w[wi];
    for (unsigned k = 0; k < w->nchan; k++) {
        if (w->chan[k] >= 0)
            close(w->chan[k]);
        w->chan[k] = -1;
    }
    w->nchan = 0;
}

static noreturn void child_main(struct master *m, struct mworker *w, const int *chans,
                                unsigned nchan)
{
    sigset_t none;
    log_after_fork();
    /* Postfix's name for the SMTP server process, so log tools find its
     * lines; the worker may rename itself again. */
    log_init("mxscreen/smtpd", 1);
    master_child_sched(m->h->config(w->gen->gen));
    int keep[MASTER_MAX_FE + 1];
    size_t n = 0;
    for (unsigned k = 0; k < nchan; k++)
        keep[n++] = chans[k];
    if (log_file_fd() >= 0)
        keep[n++] = log_file_fd();
    master_close_all_but(keep, n);
    /* The master's signal set-up is not the worker's: defaults, unblocked. */
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* A master killed outright must not leave orphans serving forever:
     * SIGTERM is the worker's "drain and exit". */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != m->pid)
        _exit(0);
    int st = m->h->run_worker(w->gen->gen, w->index, chans, nchan);
    _exit(st);
}

static void close_pairs(int (*sv)[2], unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        close(sv[k][0]);
        close(sv[k][1]);
    }
}

/* Fork slot wi's process with one channel per frontend of its
 * generation. 0, or -errno (logged). */
static int spawn(struct master *m, size_t wi)
{
    struct mworker *w = &m->w[wi];
    unsigned nchan = w->gen->nfe ? w->gen->nfe : 1;
    int sv[MASTER_MAX_FE][2], theirs[MASTER_MAX_FE];
    for (unsigned k = 0; k < nchan; k++) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv[k]) < 0 ||
            fcntl(sv[k][0], F_SETFL, O_NONBLOCK) < 0) {
            int e = errno;
            log_warn("handoff channel for worker %u: %s", w->index, strerror(e));
            close_pairs(sv, k);
            return -e;
        }
        theirs[k] = sv[k][1];
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        log_warn("fork worker %u: %s", w->index, strerror(e));
        close_pairs(sv, nchan);
        return -e;
    }
    if (pid == 0)
        child_main(m, w, theirs, nchan);
    for (unsigned k = 0; k < nchan; k++) {
        close(sv[k][1]);
        w->chan[k] = sv[k][0];
    }
    w->nchan = nchan;
    w->pid = pid;
    w->state = MW_RUNNING;
    w->sessions = 0;
    w->capacity = 0;
    w->sent = w->acked = 0;
    memset(w->fe_pending, 0, sizeof(w->fe_pending));
    w->started_ms = master_now_ms();
    log_debug("worker %u generation %u started: pid %ld", w->index, w->gen->id, (long)pid);
    fe_link_worker_added(m, wi);
    return 0;
}

static void schedule_restart(struct master *m, size_t wi, int64_t now)
{
    struct mworker *w = &m->w[wi];
    if (w->backoff_s == 0 || now - w->started_ms >= MASTER_BACKOFF_RESET_S * 1000)
        w->backoff_s = 1;
    w->state = MW_WAITING;
    w->pid = 0;
    w->restart_at_ms = now + (int64_t)w->backoff_s * 1000;
    log_warn("worker %u (generation %u): restarting in %u s", w->index, w->gen->id, w->backoff_s);
    w->backoff_s = w->backoff_s * 2 > MASTER_BACKOFF_MAX_S ? MASTER_BACKOFF_MAX_S
                                                         : w->backoff_s * 2;
}

void supervisor_gen_maybe_free(struct master *m, struct mgen *g)
{
    if (g->used && g->live == 0 && g != m->cur && fe_link_all_gone(g)) {
        log_info("generation %u retired", g->id);
        fe_link_gen_free(g);
        fe_conf_free(g->fec);
        m->h->free(g->gen);
        memset(g, 0, sizeof(*g));
        for (unsigned k = 0; k < MASTER_MAX_FE; k++)
            g->fe[k].ctl = -1;
    }
}

static void gen_release(struct master *m, struct mgen *g)
{
    if (g->live > 0)
        g->live--;
    supervisor_gen_maybe_free(m, g);
}

static void free_slot(struct master *m, size_t wi)
{
    struct mgen *g = m->w[wi].gen;
    supervisor_close_chan(m, wi);
    memset(&m->w[wi], 0, sizeof(m->w[wi]));
    gen_release(m, g);
}

int supervisor_start_gen(struct master *m, struct mgen *g)
{
    unsigned n = gen_workers(m, g);
    int64_t now = master_now_ms();
    g->nfe = master_frontends(m->h->config(g->gen));
    for (unsigned k = 0; k < g->nfe; k++) {
        g->fe[k].ctl = -1;
        (void)fe_link_spawn(m, g, k); /* on failure it restarts with the backoff */
    }
    for (unsigned i = 1; i <= n; i++) {
        size_t wi = new_slot(m);
        struct mworker *w = &m->w[wi];
        memset(w, 0, sizeof(*w));
        w->index = i;
        w->gen = g;
        g->live++;
        w->started_ms = now;
        if (spawn(m, wi) < 0)
            schedule_restart(m, wi, now);
    }
    return 0;
}

static size_t find_pid(const struct master *m, pid_t pid)
{
    for (size_t i = 0; i < m->nw; i++)
        if (m->w[i].state != MW_FREE && m->w[i].state != MW_WAITING && m->w[i].pid == pid)
            return i;
    return SIZE_MAX;
}

void supervisor_reap(struct master *m)
{
    int st;
    pid_t pid;
    int64_t now = master_now_ms();
    /* Bounded by the number of children: each waitpid reaps one. */
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (WIFSIGNALED(st))
            log_warn("process %s pid %ld killed by signal %d", m->exe, (long)pid, WTERMSIG(st));
        else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
            log_warn("process %s pid %ld exit status %d", m->exe, (long)pid, WEXITSTATUS(st));
        if (fe_link_reaped(m, pid, now) || qrun_link_reaped(m, pid, now))
            continue;
        size_t wi = find_pid(m, pid);
        if (wi == SIZE_MAX)
            continue;
        struct mworker *w = &m->w[wi];
        fe_link_worker_gone(m, wi);
        if (m->stopping || w->state != MW_RUNNING || w->gen->retiring) {
            free_slot(m, wi);
            continue;
        }
        supervisor_close_chan(m, wi);
        w->restarts++;
        schedule_restart(m, wi, now);
    }
}

void supervisor_restart_due(struct master *m, int64_t now, int64_t *next_ms)
{
    for (size_t i = 0; i < m->nw; i++) {
        struct mworker *w = &m->w[i];
        if (w->state != MW_WAITING)
            continue;
        if (w->restart_at_ms <= now) {
            if (spawn(m, i) < 0)
                schedule_restart(m, i, now);
            else
                log_info("worker %u (generation %u) restarted: pid %ld", w->index, w->gen->id,
                         (long)w->pid);
        }
        if (w->state == MW_WAITING && (*next_ms < 0 || w->restart_at_ms < *next_ms))
            *next_ms = w->restart_at_ms;
    }
}

static bool same_list(const struct cfg_list *a, const struct cfg_list *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

void supervisor_retire_workers(struct master *m, struct mgen *g)
{
    for (size_t i = 0; i < m->nw; i++) {
        struct mworker *w = &m->w[i];
        if (w->gen != g)
            continue;
        if (w->state == MW_RUNNING) {
            /* Keep the channel open: end of file would tell the worker
             * the master is gone (drain), not to retire. */
            kill(w->pid, SIGUSR1);
            w->state = MW_RETIRING;
        } else if (w->state == MW_WAITING) {
            free_slot(m, i);
        }
    }
    supervisor_gen_maybe_free(m, g); /* no workers left at all: free now */
}

int supervisor_reload(struct master *m, char *err, size_t errlen)
{
    struct mgen *g = NULL;
    struct cfg_diag diag;
    void *gen = NULL;

    if (m->stopping) {
        snprintf(err, errlen, "the master is stopping");
        return -ESHUTDOWN;
    }
    for (size_t i = 0; i < MASTER_MAX_GENS; i++)
        if (!m->gens[i].used) {
            g = &m->gens[i];
            break;
        }
    if (!g) {
        snprintf(err, errlen, "%d generations are still finishing their sessions",
                 MASTER_MAX_GENS - 1);
        log_error("reload refused: %s", err);
        return -EBUSY;
    }
    cfg_diag_init(&diag);
    unsigned id = m->next_gen_id;
    struct fe_conf *fec = NULL;
    int r = m->h->load(m->dir, id, &gen, &diag);
    if (r == 0 && (r = fe_conf_load(m->h->config(gen), &fec, &diag)) < 0) {
        m->h->free(gen);
        gen = NULL;
    } else if (r == 0 && m->h->seal && (r = m->h->seal(gen, &diag)) < 0) {
        fe_conf_free(fec);
        m->h->free(gen);
        gen = NULL;
    }
    if (r < 0) {
        const char *why = NULL;
        for (size_t i = 0; i < diag.n && !why; i++)
            if (diag.v[i].level == CFG_DIAG_ERROR)
                why = diag.v[i].text;
        snprintf(err, errlen, "%s", why ? why : strerror(-r));
        log_error("reload refused: %s", err);
        cfg_diag_free(&diag);
        return r;
    }
    for (size_t i = 0; i < diag.n; i++)
        log_warn("%s", diag.v[i].text);
    cfg_diag_free(&diag);
    m->next_gen_id++;

    const struct config *oc = m->h->config(m->cur->gen), *nc = m->h->config(gen);
    /* The master no longer has the privileges to bind (it dropped them, as
     * Postfix's master keeps running as root and we do not). */
    if (!same_list(&oc->p.listen_addresses, &nc->p.listen_addresses))
        log_warn("listen_addresses changed: restart mxscreen to listen on the new addresses");

    struct mgen *old = m->cur;
    unsigned old_id = old->id;
    g->used = true;
    g->id = id;
    g->gen = gen;
    g->fec = fec;
    g->live = 0;
    m->cur = g;
    supervisor_start_gen(m, g);
    qrun_link_reload(m);

    old->retiring = true;
    fe_link_retire(m, old);
    for (size_t i = 0; i < m->nw; i++)
        if (m->w[i].gen == old && m->w[i].state == MW_WAITING)
            free_slot(m, i);
    /* The old frontend may still hand over the clients it holds: its
     * workers retire once it is gone (fe_link.c calls back). */
    if (fe_link_all_gone(old))
        supervisor_retire_workers(m, old);
    else
        supervisor_gen_maybe_free(m, old);
    log_info("reload: generation %u serves new connections; generation %u retiring", id, old_id);
    return 0;
}

void supervisor_stop(struct master *m)
{
    fe_link_stop(m);
    qrun_link_stop(m);
    for (size_t i = 0; i < m->nw; i++) {
        struct mworker *w = &m->w[i];
        if (w->state == MW_WAITING) {
            free_slot(m, i);
        } else if (w->state != MW_FREE && w->pid > 0) {
            kill(w->pid, SIGTERM);
            w->state = MW_STOPPING;
        }
    }
}

void supervisor_kill_remaining(struct master *m)
{
    fe_link_kill_remaining(m);
    qrun_link_kill_remaining(m);
    for (size_t i = 0; i < m->nw; i++) {
        struct mworker *w = &m->w[i];
        if (w->state == MW_FREE || w->pid <= 0)
            continue;
        log_warn("worker %u pid %ld did not stop in time: killing it", w->index, (long)w->pid);
        kill(w->pid, SIGKILL);
    }
    for (size_t i = 0; i < m->nw; i++) {
        struct mworker *w = &m->w[i];
        if (w->state == MW_FREE || w->pid <= 0)
            continue;
        int st;
        while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
            ;
        free_slot(m, i);
    }
}

size_t supervisor_live_processes(const struct master *m)
{
    size_t n = fe_link_live(m) + qrun_link_live(m);
    for (size_t i = 0; i < m->nw; i++)
        if (m->w[i].state != MW_FREE && m->w[i].state != MW_WAITING && m->w[i].pid > 0)
            n++;
    return n;
}
