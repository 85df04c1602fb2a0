/*
 * qrun_link.c - the queue runner process under the master: one process
 * (not one per generation), forked with the current generation when the
 * hooks say one is wanted (delivery_mode = queue, or mail waiting in
 * queue_directory), restarted when it dies (backoff 1 s doubling to 60 s,
 * as the workers), replaced on reload (SIGTERM to the old one: it leaves
 * what it was delivering in active/, where the new one takes it up), and
 * stopped with the rest.
 *
 * The runner has no channel to the master: mxscreen-ctl flush/requeue
 * reach it through its trigger FIFO in queue_directory (qrun.h).
 *
 * Failure: a fork that fails is logged and retried with the backoff.
 */
#include "master_int.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

static noreturn void runner_main(struct master *m, const void *gen)
{
    sigset_t none;
    log_after_fork();
    log_init("mxscreen/qmgr", 1);
    master_child_sched(m->h->config(gen));
    int lf = log_file_fd();
    master_close_all_but(&lf, lf >= 0 ? 1 : 0);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_IGN); /* a next hop that goes away is an EPIPE, not a death */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != m->pid)
        _exit(0);
    _exit(m->h->run_qrun(gen));
}

static void spawn(struct master *m)
{
    struct mqrun *q = &m->qr;
    const void *gen = m->cur->gen;
    pid_t pid = fork();
    int64_t now = master_now_ms();
    if (pid < 0) {
        log_warn("fork queue runner: %s", strerror(errno));
        q->state = MQR_WAITING;
        q->restart_at_ms = now + 1000;
        return;
    }
    if (pid == 0)
        runner_main(m, gen);
    q->pid = pid;
    q->state = MQR_RUNNING;
    q->started_ms = now;
    log_debug("queue runner started: pid %ld", (long)pid);
}

void qrun_link_start(struct master *m)
{
    struct mqrun *q = &m->qr;
    if (!m->h->run_qrun || !m->h->want_qrun || q->state != MQR_NONE || m->stopping)
        return;
    if (!m->h->want_qrun(m->cur->gen))
        return;
    spawn(m);
}

bool qrun_link_reaped(struct master *m, pid_t pid, int64_t now)
{
    struct mqrun *q = &m->qr;
    if (q->pid <= 0 || pid != q->pid)
        return false;
    q->pid = 0;
    if (m->stopping || q->state == MQR_STOPPING) {
        q->state = MQR_NONE;
        if (!m->stopping)
            qrun_link_start(m); /* replaced on reload */
        return true;
    }
    if (q->backoff_s == 0 || now - q->started_ms >= MASTER_BACKOFF_RESET_S * 1000)
        q->backoff_s = 1;
    q->state = MQR_WAITING;
    q->restart_at_ms = now + (int64_t)q->backoff_s * 1000;
    log_warn("queue runner: restarting in %u s", q->backoff_s);
    q->backoff_s = q->backoff_s * 2 > MASTER_BACKOFF_MAX_S ? MASTER_BACKOFF_MAX_S
                                                         : q->backoff_s * 2;
    return true;
}

void qrun_link_restart_due(struct master *m, int64_t now, int64_t *next_ms)
{
    struct mqrun *q = &m->qr;
    if (q->state != MQR_WAITING || m->stopping)
        return;
    if (q->restart_at_ms <= now) {
        q->state = MQR_NONE;
        spawn(m);
        if (q->state == MQR_RUNNING)
            log_info("queue runner restarted: pid %ld", (long)q->pid);
    }
    if (q->state == MQR_WAITING && (*next_ms < 0 || q->restart_at_ms < *next_ms))
        *next_ms = q->restart_at_ms;
}

void qrun_link_reload(struct master *m)
{
    struct mqrun *q = &m->qr;
    if (q->state == MQR_RUNNING && q->pid > 0) {
        kill(q->pid, SIGTERM); /* the new one starts when it is reaped */
        q->state = MQR_STOPPING;
    } else if (q->state == MQR_NONE || q->state == MQR_WAITING) {
        q->state = MQR_NONE;
        qrun_link_start(m);
    }
}

void qrun_link_stop(struct master *m)
{
    struct mqrun *q = &m->qr;
    if (q->pid > 0) {
        kill(q->pid, SIGTERM);
        q->state = MQR_STOPPING;
    } else {
        q->state = MQR_NONE;
    }
}

void qrun_link_kill_remaining(struct master *m)
{
    struct mqrun *q = &m->qr;
    if (q->pid <= 0)
        return;
    log_warn("queue runner pid %ld did not stop in time: killing it", (long)q->pid);
    kill(q->pid, SIGKILL);
    int st;
    while (waitpid(q->pid, &st, 0) < 0 && errno == EINTR)
        ;
    q->pid = 0;
    q->state = MQR_NONE;
}

size_t qrun_link_live(const struct master *m)
{
    return m->qr.pid > 0 ? 1 : 0;
}
