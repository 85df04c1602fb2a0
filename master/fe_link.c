/*
 * fe_link.c - the master's side of the frontend processes (frontend/):
 * one per generation, forked with the listening sockets and a control
 * channel (frontend/fe_ctl.h).
 *
 *   - Each worker's handoff channel stays the master's (so a frontend that
 *     exits never makes a worker see end of file, which means "drain"),
 *     and a copy goes to the generation's frontend as ADD; the frontend
 *     hands connections to it and reads its acks. A worker that dies is
 *     announced as DEL; its restart as a new ADD.
 *   - The frontend reports STATS; the master keeps the latest for
 *     "status" and folds them into fe_base when that frontend is gone.
 *   - A frontend that dies is restarted with the workers' backoff (1 s
 *     doubling to 60 s) and gets every running worker again.
 *   - Reload: the old generation's frontend gets RETIRE (stop accepting,
 *     finish its held connections for up to FE_RETIRE_MS, exit). Once it
 *     is gone the master reads the acks of that generation's retiring
 *     workers itself, so their session counts stay true in "status".
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
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frontend.h"
#include "handoff.h"
#include "log.h"

/* Close every descriptor from 3 up but those in keep[0..n). */
static void close_all_but(const int *keep, size_t n)
{
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
}

static noreturn void child(struct master *m, struct mgen *g, int ctl)
{
    log_after_fork();
    log_init("mxscreen/postscreen", 1);
    int keep[MASTER_MAX_LISTEN + 2];
    size_t n = 0;
    for (size_t i = 0; i < m->nl; i++)
        keep[n++] = m->lfd[i];
    keep[n++] = ctl;
    if (log_file_fd() >= 0)
        keep[n++] = log_file_fd();
    close_all_but(keep, n);
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
    };
    _exit(frontend_run(&a));
}

static void send_add(struct master *m, struct mgen *g, size_t wi)
{
    struct mworker *w = &m->w[wi];
    if (g->fe.ctl < 0 || w->chan < 0 || w->pid <= 0 || w->state != MW_RUNNING)
        return;
    struct fe_ctl_msg msg = {.kind = FE_CTL_ADD, .slot = (uint32_t)wi, .pid = (uint32_t)w->pid,
                             .index = w->index};
    int r = fe_ctl_send(g->fe.ctl, &msg, w->chan);
    if (r < 0)
        log_warn("frontend of generation %u: cannot pass worker %u: %s", g->id, w->index,
                 strerror(-r));
    /* Whatever it had reported for this slot is the old process's. */
    w->sent = w->acked = 0;
}

static void schedule(struct master *m, struct mgen *g, int64_t now)
{
    (void)m;
    struct mfe *f = &g->fe;
    if (f->backoff_s == 0 || now - f->started_ms >= MASTER_BACKOFF_RESET_S * 1000)
        f->backoff_s = 1;
    f->state = MFE_WAITING;
    f->pid = 0;
    f->restart_at_ms = now + (int64_t)f->backoff_s * 1000;
    log_warn("frontend (generation %u): restarting in %u s", g->id, f->backoff_s);
    f->backoff_s = f->backoff_s * 2 > MASTER_BACKOFF_MAX_S ? MASTER_BACKOFF_MAX_S
                                                         : f->backoff_s * 2;
}

int fe_link_spawn(struct master *m, struct mgen *g)
{
    struct mfe *f = &g->fe;
    int sv[2];
    int64_t now = master_now_ms();
    f->started_ms = now;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        int e = errno;
        log_warn("socketpair for the frontend: %s", strerror(e));
        schedule(m, g, now);
        return -e;
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        log_warn("fork frontend: %s", strerror(e));
        close(sv[0]);
        close(sv[1]);
        schedule(m, g, now);
        return -e;
    }
    if (pid == 0) {
        close(sv[0]);
        child(m, g, sv[1]);
    }
    close(sv[1]);
    f->pid = pid;
    f->ctl = sv[0];
    f->state = MFE_RUNNING;
    memset(&f->st, 0, sizeof(f->st));
    log_debug("frontend generation %u started: pid %ld", g->id, (long)pid);
    for (size_t i = 0; i < m->nw; i++)
        if (m->w[i].gen == g)
            send_add(m, g, i);
    return 0;
}

void fe_link_worker_added(struct master *m, size_t wi)
{
    struct mgen *g = m->w[wi].gen;
    if (g && g->fe.state == MFE_RUNNING)
        send_add(m, g, wi);
}

void fe_link_worker_gone(struct master *m, size_t wi)
{
    struct mworker *w = &m->w[wi];
    struct mgen *g = w->gen;
    if (!g || g->fe.ctl < 0 || w->pid <= 0)
        return;
    struct fe_ctl_msg msg = {.kind = FE_CTL_DEL, .slot = (uint32_t)wi, .pid = (uint32_t)w->pid};
    (void)fe_ctl_send(g->fe.ctl, &msg, -1);
}

void fe_link_retire(struct master *m, struct mgen *g)
{
    (void)m;
    struct mfe *f = &g->fe;
    if (f->state == MFE_WAITING) {
        f->state = MFE_NONE; /* the caller retires the workers */
        return;
    }
    if (f->state != MFE_RUNNING)
        return;
    struct fe_ctl_msg msg = {.kind = FE_CTL_RETIRE};
    if (fe_ctl_send(f->ctl, &msg, -1) < 0)
        kill(f->pid, SIGUSR1); /* the same, by signal */
    f->state = MFE_RETIRING;
}

void fe_link_stop(struct master *m)
{
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        struct mfe *f = &m->gens[i].fe;
        if (!m->gens[i].used)
            continue;
        if (f->state == MFE_WAITING)
            f->state = MFE_NONE;
        else if (f->pid > 0 && f->state != MFE_NONE) {
            kill(f->pid, SIGTERM);
            f->state = MFE_STOPPING;
        }
    }
}

static void fold(struct master *m, struct mfe *f)
{
    struct fe_stats *b = &m->fe_base, *s = &f->st;
    b->accepted += s->accepted;
    b->handed += s->handed;
    b->refused_busy += s->refused_busy;
    b->refused_worker += s->refused_worker;
    b->refused_pool += s->refused_pool;
    b->pregreet += s->pregreet;
    b->denylisted += s->denylisted;
    b->allowlisted += s->allowlisted;
    b->tarpitted += s->tarpitted;
    b->dropped += s->dropped;
    b->hangup += s->hangup;
    memset(s, 0, sizeof(*s));
}

bool fe_link_reaped(struct master *m, pid_t pid, int64_t now)
{
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        struct mgen *g = &m->gens[i];
        struct mfe *f = &g->fe;
        if (!g->used || f->pid != pid || f->state == MFE_NONE || f->state == MFE_WAITING)
            continue;
        /* Its last counters, then the channel. */
        fe_link_ctl_io(m, g);
        fold(m, f);
        if (f->ctl >= 0)
            close(f->ctl);
        f->ctl = -1;
        f->pid = 0;
        if (f->state == MFE_RUNNING && !m->stopping && !g->retiring) {
            f->restarts++;
            schedule(m, g, now);
        } else {
            f->state = MFE_NONE;
            if (g->retiring)
                supervisor_retire_workers(m, g);
            else
                supervisor_gen_maybe_free(m, g);
        }
        return true;
    }
    return false;
}

void fe_link_restart_due(struct master *m, int64_t now, int64_t *next_ms)
{
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        struct mgen *g = &m->gens[i];
        if (!g->used || g->fe.state != MFE_WAITING)
            continue;
        if (g->fe.restart_at_ms <= now)
            fe_conf_restarted(g->fec); /* the dead one's anvil counts */
        if (g->fe.restart_at_ms <= now && fe_link_spawn(m, g) == 0)
            log_info("frontend (generation %u) restarted: pid %ld", g->id, (long)g->fe.pid);
        if (g->fe.state == MFE_WAITING && (*next_ms < 0 || g->fe.restart_at_ms < *next_ms))
            *next_ms = g->fe.restart_at_ms;
    }
}

void fe_link_ctl_io(struct master *m, struct mgen *g)
{
    static struct fe_ctl_msg msg;
    struct mfe *f = &g->fe;
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
            log_warn("frontend generation %u: %s", g->id, strerror(-r));
            continue;
        }
        if (fd >= 0)
            close(fd);
        if (msg.kind != FE_CTL_STATS)
            continue;
        f->st = msg.st;
        for (uint32_t k = 0; k < msg.nworkers; k++) {
            const struct fe_ctl_worker *e = &msg.w[k];
            if (e->slot >= m->nw)
                continue;
            struct mworker *w = &m->w[e->slot];
            if (w->gen != g || w->pid != (pid_t)e->pid)
                continue;
            w->sessions = e->sessions;
            w->capacity = e->capacity;
            w->sent = e->pending; /* pending = sent - acked, for status */
            w->acked = 0;
        }
    }
}

bool fe_link_orphan(const struct master *m, size_t wi)
{
    const struct mworker *w = &m->w[wi];
    return w->chan >= 0 && w->gen && w->gen->fe.state == MFE_NONE;
}

void fe_link_acks(struct master *m, size_t wi)
{
    struct mworker *w = &m->w[wi];
    for (int i = 0; i < 256 && w->chan >= 0; i++) {
        struct handoff_ack a;
        int r = handoff_ack_recv(w->chan, &a);
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
        const struct fe_stats *s = &g->fe.st;
        out->accepted += s->accepted;
        out->handed += s->handed;
        out->refused_busy += s->refused_busy;
        out->refused_worker += s->refused_worker;
        out->refused_pool += s->refused_pool;
        out->held += s->held;
        out->pregreet += s->pregreet;
        out->denylisted += s->denylisted;
        out->allowlisted += s->allowlisted;
        out->tarpitted += s->tarpitted;
        out->dropped += s->dropped;
        out->hangup += s->hangup;
    }
}

size_t fe_link_live(const struct master *m)
{
    size_t n = 0;
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        const struct mfe *f = &m->gens[i].fe;
        if (m->gens[i].used && f->pid > 0 && f->state != MFE_NONE && f->state != MFE_WAITING)
            n++;
    }
    return n;
}

void fe_link_kill_remaining(struct master *m)
{
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        struct mgen *g = &m->gens[i];
        struct mfe *f = &g->fe;
        if (!g->used || f->pid <= 0 || f->state == MFE_NONE || f->state == MFE_WAITING)
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
