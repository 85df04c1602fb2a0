/*
 * master.c - mxscreen's master: the command line, start-up and the one
 * poll(2) loop that drives the supervisor, the frontends' control
 * channels (fe_link.c) and the control socket. The master accepts no
 * client itself: each generation's frontend process does.
 *
 * Start-up order, and why:
 *   1. load generation 1 (main.cf, maps): a bad configuration stops here,
 *      with every error printed as "FILE, line N: ...";
 *   2. open maillog_file (or syslog with -d) while still privileged;
 *   3. bind listen_addresses: privileged ports need root;
 *   4. started as root: drop to mail_owner (initgroups, setgid, setuid) in
 *      the master too, so every child runs unprivileged and nothing runs
 *      as root afterwards. Consequence (noted in the log on reload): a
 *      reload cannot bind new privileged ports; new listen_addresses need
 *      a restart;
 *   5. -d: fork, setsid, stdio to /dev/null, $data_directory/mxscreen.pid;
 *   6. the control socket, then SIGCHLD/SIGHUP/SIGTERM/SIGINT blocked and
 *      read through a signalfd (no async handlers), then the workers.
 * Each failure prints what and where and makes master_cli() return 1.
 *
 * Stop (SIGTERM, SIGINT, "stop"): close the listeners and the control
 * socket, SIGTERM the frontends (421 to what they hold) and every worker (they finish their transactions for up to
 * WORKER_DRAIN_MS, then answer 421), wait up to WORKER_DRAIN_MS + 5 s,
 * SIGKILL whatever remains, exit 0.
 */
#include "master_int.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "frontend.h"
#include "listen.h"
#include "log.h"
#include "maps_lmdb.h"
#include "mxscreen_version.h"
#include "util.h"
#include "workers/worker.h"

#define LISTEN_BACKLOG 4096
#define STOP_GRACE_MS 5000

int64_t master_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
    fprintf(stderr, "usage: mxscreen [-c config_dir] [-C control_socket] [-d] [-v]\n");
}

static void print_diag(const struct cfg_diag *d)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->v[i].level == CFG_DIAG_ERROR)
            log_error("%s", d->v[i].text);
        else
            log_warn("%s", d->v[i].text);
    }
}

static int open_listeners(struct master *m, const struct config *cfg)
{
    const struct cfg_list *l = &cfg->p.listen_addresses;
    char err[512];
    if (l->n == 0) {
        log_error("%s: listen_addresses is empty: nothing to listen on", cfg->path);
        return -EINVAL;
    }
    for (size_t i = 0; i < l->n; i++) {
        struct listen_addr a;
        enum listen_result r = listen_addr_parse(l->v[i], strlen(l->v[i]), &a);
        if (r != LISTEN_OK) {
            log_error("%s: listen_addresses: \"%s\": %s", cfg->path, l->v[i], listen_strerror(r));
            return -EINVAL;
        }
        size_t n;
        int e = listen_open(&a, LISTEN_BACKLOG, m->lfd + m->nl, MASTER_MAX_LISTEN - m->nl, &n,
                            err, sizeof(err));
        if (e < 0) {
            log_error("listen_addresses: %s", err);
            return e;
        }
        m->nl += n;
    }
    return 0;
}

static int drop_privileges(const struct config *cfg)
{
    if (geteuid() != 0)
        return 0; /* started unprivileged: keep the user */
    const char *user = cfg->p.mail_owner;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        log_error("%s: mail_owner: unknown user \"%s\"", cfg->path, user);
        return -ENOENT;
    }
    if (pw->pw_uid == 0) {
        /* Postfix refuses this too: the point is never to run as root. */
        log_error("%s: mail_owner: user %s has privileged user ID", cfg->path, user);
        return -EPERM;
    }
    if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        int e = errno;
        log_error("cannot become mail_owner %s: %s", user, strerror(e));
        return -e;
    }
    return 0;
}

/* SCHED_BATCH (scheduling_policy = batch): a worker woken by the client's
 * command no longer preempts the process that woke it, and is not preempted
 * in turn by each reply it sends; every process finishes its loop pass.
 * bench/relay, one message per connection: 6-9% less CPU per message and
 * 4-8% more messages per second (bench/relay/README.md). Neither policy
 * needs a privilege; a refusal is logged and the child runs on. */
void master_child_sched(const struct config *cfg)
{
    struct sched_param sp = {.sched_priority = 0};
    int policy = cfg->p.scheduling_policy == SCHED_POLICY_BATCH ? SCHED_BATCH : SCHED_OTHER;
    if (sched_setscheduler(0, policy, &sp) < 0)
        log_warn("scheduling_policy: sched_setscheduler: %s", strerror(errno));
}

static int detach(void)
{
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        return -errno;
    }
    if (pid > 0)
        _exit(0);
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    if (chdir("/") < 0)
        log_warn("chdir /: %s", strerror(errno));
    return 0;
}

static int write_pid(struct master *m, const char *data_dir)
{
    snprintf(m->pid_path, sizeof(m->pid_path), "%s/mxscreen.pid", data_dir);
    FILE *f = fopen(m->pid_path, "w");
    if (!f) {
        log_error("pid file %s: %s", m->pid_path, strerror(errno));
        m->pid_path[0] = '\0';
        return -errno;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    return 0;
}

static int setup_signals(struct master *m)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    signal(SIGPIPE, SIG_IGN);
    m->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return m->sfd < 0 ? -errno : 0;
}

static void begin_stop(struct master *m)
{
    if (m->stop_deadline_ms)
        return;
    m->stopping = true;
    log_info("terminating on request: stopping %zu worker(s)", supervisor_live_processes(m));
    for (size_t i = 0; i < m->nl; i++)
        close(m->lfd[i]);
    m->nl = 0;
    control_close(m);
    supervisor_stop(m);
    m->stop_deadline_ms = master_now_ms() + WORKER_DRAIN_MS + STOP_GRACE_MS;
}

static void read_signals(struct master *m)
{
    struct signalfd_siginfo si;
    bool chld = false;
    /* Bounded: the signalfd holds at most one pending instance of each. */
    for (int i = 0; i < 16 && read(m->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si); i++) {
        if (si.ssi_signo == SIGCHLD) {
            chld = true;
        } else if (si.ssi_signo == SIGHUP) {
            char err[512];
            if (!m->stopping)
                (void)supervisor_reload(m, err, sizeof(err)); /* logs either way */
        } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            begin_stop(m);
        }
    }
    if (chld)
        supervisor_reap(m);
}

enum { PFD_SIG, PFD_CTL, PFD_FIXED };

static int loop(struct master *m)
{
    size_t cap = PFD_FIXED + MASTER_MAX_LISTEN + MASTER_MAX_CTL + 64;
    struct pollfd *pfd = NULL;
    for (;;) {
        int64_t now = master_now_ms();
        int64_t next = -1;
        if (m->stopping && !m->stop_deadline_ms)
            begin_stop(m); /* "stop" from the control socket */
        if (m->stopping) {
            if (supervisor_live_processes(m) == 0)
                break;
            if (now >= m->stop_deadline_ms) {
                supervisor_kill_remaining(m);
                break;
            }
            next = m->stop_deadline_ms;
        }
        supervisor_restart_due(m, now, &next);
        control_expire(m, now, &next);

        fe_link_restart_due(m, now, &next);
        qrun_link_restart_due(m, now, &next);
        /* The master opened every generation's tables first and never
         * looks one up, so map_lookup()'s refresh never runs here: without
         * this a rebuilt hash:/lmdb: file's old inode stayed pinned here
         * (and in every child forked later) until the next reload. */
        map_lmdb_refresh_due(now, &next);

        size_t want = PFD_FIXED + MASTER_MAX_GENS * MASTER_MAX_FE + MASTER_MAX_CTL +
                      m->nw * MASTER_MAX_FE;
        if (want > cap || !pfd) {
            cap = want > cap ? want : cap;
            pfd = xrealloc(pfd, cap * sizeof(*pfd));
        }
        size_t n = 0;
        pfd[n++] = (struct pollfd){.fd = m->sfd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = m->ctl_fd, .events = POLLIN};
        size_t f0 = n;
        for (size_t i = 0; i < MASTER_MAX_GENS; i++)
            for (unsigned k = 0; k < MASTER_MAX_FE; k++)
                pfd[n++] = (struct pollfd){
                    .fd = m->gens[i].used && k < m->gens[i].nfe ? m->gens[i].fe[k].ctl : -1,
                    .events = POLLIN};
        size_t c0 = n;
        for (size_t i = 0; i < MASTER_MAX_CTL; i++)
            pfd[n++] = (struct pollfd){.fd = m->ctl_fd >= 0 ? m->ctl[i].fd : -1, .events = POLLIN};
        size_t w0 = n;
        /* A worker's acks are its frontends' to read, unless they are gone. */
        for (size_t i = 0; i < m->nw; i++) {
            bool orphan = fe_link_orphan(m, i);
            for (unsigned k = 0; k < MASTER_MAX_FE; k++)
                pfd[n++] = (struct pollfd){
                    .fd = orphan && k < m->w[i].nchan ? m->w[i].chan[k] : -1, .events = POLLIN};
        }

        int timeout = next < 0 ? -1 : (int)(next > now ? next - now : 0);
        int r = poll(pfd, n, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            break;
        }
        if (pfd[PFD_SIG].revents)
            read_signals(m);
        for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
            bool any = false;
            for (unsigned k = 0; k < MASTER_MAX_FE; k++) {
                const struct pollfd *p = &pfd[f0 + i * MASTER_MAX_FE + k];
                any |= p->revents && m->gens[i].used && k < m->gens[i].nfe &&
                       m->gens[i].fe[k].ctl == p->fd;
            }
            if (any)
                fe_link_ctl_io(m, &m->gens[i]);
        }
        for (size_t i = 0; i < m->nw && w0 + i * MASTER_MAX_FE < n; i++) {
            for (unsigned k = 0; k < MASTER_MAX_FE; k++) {
                const struct pollfd *p = &pfd[w0 + i * MASTER_MAX_FE + k];
                if (!p->revents || k >= m->w[i].nchan || m->w[i].chan[k] != p->fd)
                    continue;
                fe_link_acks(m, i, k);
                if ((p->revents & (POLLHUP | POLLERR)) && k < m->w[i].nchan &&
                    m->w[i].chan[k] >= 0)
                    supervisor_close_chan(m, i);
            }
        }
        if (m->ctl_fd >= 0 && pfd[PFD_CTL].revents && pfd[PFD_CTL].fd == m->ctl_fd)
            control_accept(m);
        for (size_t i = 0; i < MASTER_MAX_CTL; i++)
            if (m->ctl_fd >= 0 && pfd[c0 + i].revents && m->ctl[i].fd == pfd[c0 + i].fd
                && m->ctl[i].fd >= 0)
                control_client_io(m, i);
    }
    free(pfd);
    return 0;
}

static void cleanup(struct master *m)
{
    for (size_t i = 0; i < m->nl; i++)
        close(m->lfd[i]);
    control_close(m);
    for (size_t i = 0; i < m->nw; i++)
        supervisor_close_chan(m, i);
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        if (!m->gens[i].used)
            continue;
        for (unsigned k = 0; k < m->gens[i].nfe; k++)
            if (m->gens[i].fe[k].ctl >= 0)
                close(m->gens[i].fe[k].ctl);
        fe_conf_free(m->gens[i].fec);
        m->h->free(m->gens[i].gen);
    }
    free(m->w);
    if (m->sfd >= 0)
        close(m->sfd);
    if (m->pid_path[0])
        unlink(m->pid_path);
}

static int start(struct master *m, const char *ctl_path)
{
    struct cfg_diag diag;
    void *gen;
    cfg_diag_init(&diag);
    struct fe_conf *fec = NULL;
    int r = m->h->load(m->dir, 1, &gen, &diag);
    if (r == 0 && (r = fe_conf_load(m->h->config(gen), &fec, &diag)) < 0)
        m->h->free(gen);
    else if (r == 0 && m->h->seal && (r = m->h->seal(gen, &diag)) < 0) {
        fe_conf_free(fec);
        m->h->free(gen);
    }
    print_diag(&diag);
    cfg_diag_free(&diag);
    if (r < 0) {
        log_error("%s/main.cf: configuration not loaded: %s", m->dir, strerror(-r));
        return r;
    }
    m->gens[0] = (struct mgen){.used = true, .id = 1, .gen = gen, .fec = fec};
    for (unsigned k = 0; k < MASTER_MAX_FE; k++)
        m->gens[0].fe[k].ctl = -1;
    m->cur = &m->gens[0];
    m->next_gen_id = 2;
    const struct config *cfg = m->h->config(gen);

    struct stat st;
    const char *dd = cfg->p.data_directory;
    if (stat(dd, &st) < 0) {
        int e = errno;
        log_error("%s: data_directory %s: %s", cfg->path, dd, strerror(e));
        return -e;
    }
    if (!S_ISDIR(st.st_mode)) {
        log_error("%s: data_directory %s: not a directory", cfg->path, dd);
        return -ENOTDIR;
    }
    log_tee_stderr(1); /* until start-up is done */
    if (cfg->p.maillog_file && cfg->p.maillog_file[0]) {
        r = log_open_file(cfg->p.maillog_file, cfg->p.myhostname);
        if (r < 0) {
            log_error("%s: maillog_file %s: %s", cfg->path, cfg->p.maillog_file, strerror(-r));
            return r;
        }
    } else if (m->detach) {
        log_open_syslog(cfg->p.syslog_name, cfg->p.syslog_facility);
    }
    if ((r = open_listeners(m, cfg)) < 0)
        return r;
    if ((r = drop_privileges(cfg)) < 0)
        return r;
    if (m->detach && (r = detach()) < 0)
        return r;
    m->pid = getpid();
    if (m->detach && (r = write_pid(m, dd)) < 0)
        return r;
    if (ctl_path)
        snprintf(m->ctl_path, sizeof(m->ctl_path), "%s", ctl_path);
    else if ((size_t)snprintf(m->ctl_path, sizeof(m->ctl_path), "%s/mxscreen.ctl", dd)
             >= sizeof(m->ctl_path)) {
        log_error("data_directory %s: too long for a control socket path (use -C)", dd);
        return -ENAMETOOLONG;
    }
    char err[512];
    if ((r = control_open(m, err, sizeof(err))) < 0) {
        log_error("%s", err);
        return r;
    }
    if ((r = setup_signals(m)) < 0) {
        log_error("signalfd: %s", strerror(-r));
        return r;
    }
    log_info("daemon started -- version %s, configuration %s", MXSCREEN_VERSION, m->dir);
    log_tee_stderr(0);
    r = supervisor_start_gen(m, m->cur);
    qrun_link_start(m);
    return r;
}

int master_cli(int argc, char **argv, const struct master_hooks *h)
{
    static struct master master;
    struct master *m = &master;
    const char *dir = CFG_DEFAULT_DIR, *ctl_path = NULL;
    int c, verbose = 0;

    log_init("mxscreen/master", 1);
    m->h = h;
    m->sfd = m->ctl_fd = -1;
    while ((c = getopt(argc, argv, "c:C:dv")) != -1) {
        switch (c) {
        case 'c': dir = optarg; break;
        case 'C': ctl_path = optarg; break;
        case 'd': m->detach = true; break;
        case 'v': verbose++; break;
        default: usage(); return 1;
        }
    }
    if (optind != argc) {
        usage();
        return 1;
    }
    if (verbose)
        log_set_level(LOG_LVL_DEBUG);
    /* Absolute: -d changes to / and reloads read DIR again. */
    if (!realpath(dir, m->dir)) {
        log_error("configuration directory %s: %s", dir, strerror(errno));
        return 1;
    }
    ssize_t n = readlink("/proc/self/exe", m->exe, sizeof(m->exe) - 1);
    if (n <= 0)
        snprintf(m->exe, sizeof(m->exe), "%s", argv[0]);
    else
        m->exe[n] = '\0';

    int r = start(m, ctl_path);
    if (r == 0)
        r = loop(m);
    if (m->stopping || r == 0)
        log_info("terminating");
    if (r < 0 && m->nw)
        supervisor_kill_remaining(m);
    cleanup(m);
    return r < 0 ? 1 : 0;
}
