/*
 * master_fake.c - the real master (master/master.h: supervisor, the
 * frontend process, control socket) with a fake worker, for
 * tests/integration/test_master.py.
 *
 * The fake generation is main.cf loaded with config_load(). The fake
 * worker receives handoffs (handoff_recv), acks each (ACCEPTED with its
 * session count, or REFUSED with a 421 when it is full), greets the client
 * with "220 fake generation G worker I pid P id CONNID", closes a session
 * when the client does (or says QUIT), sends a LOAD ack, and obeys the
 * worker signals of workers/worker.h: SIGUSR1 retire (no new handoffs,
 * exit when the last session ends), SIGTERM drain (421 to every session,
 * exit 0); end of file on the channel is SIGTERM. MXFAKE_CAPACITY sets
 * the capacity it announces (default 100).
 *
 * Usage: master_fake -c DIR [-C CTL] (as mxscreen).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handoff.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define FAKE_MAX 256

struct fake_gen {
    unsigned id;
    struct config cfg;
};

static int fake_load(const char *dir, unsigned id, void **gen, struct cfg_diag *diag)
{
    struct fake_gen *g = xmalloc(sizeof(*g));
    g->id = id;
    int r = config_load(dir, &g->cfg, diag);
    if (r < 0) {
        free(g);
        return r;
    }
    *gen = g;
    return 0;
}

static void fake_free(void *gen)
{
    struct fake_gen *g = gen;
    config_free(&g->cfg);
    free(g);
}

static const struct config *fake_config(const void *gen)
{
    return &((const struct fake_gen *)gen)->cfg;
}

static void send_ack(int chan, enum handoff_ack_kind kind, uint64_t seq, unsigned n, unsigned cap)
{
    struct handoff_ack a = {.kind = kind, .seq = seq, .sessions = n, .capacity = cap};
    if (handoff_ack_send(chan, &a) < 0)
        log_warn("ack: %s", strerror(errno));
}

/* Serves the first frontend's channel only: the tests that use the fake
 * run one frontend (frontend_processes = 1, the default). */
static int fake_worker(const void *gen, unsigned index, const int *chans, unsigned nchan)
{
    const struct fake_gen *g = gen;
    int chan = chans[0];
    if (nchan > 1)
        log_warn("fake worker: %u frontends, serving the first only", nchan);
    int fds[FAKE_MAX];
    unsigned n = 0, cap = 100;
    const char *e = getenv("MXFAKE_CAPACITY");
    if (e && atoi(e) > 0 && atoi(e) <= FAKE_MAX)
        cap = (unsigned)atoi(e);
    log_init("mxscreen/smtpd", 1);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    bool retiring = false;
    log_info("fake worker %u generation %u ready", index, g->id);
    for (;;) {
        struct pollfd p[FAKE_MAX + 2];
        p[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
        p[1] = (struct pollfd){.fd = retiring ? -1 : chan, .events = POLLIN};
        for (unsigned i = 0; i < n; i++)
            p[2 + i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        if (poll(p, 2 + n, -1) < 0)
            continue;
        bool drain = false;
        if (p[0].revents) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGUSR1)
                    retiring = true;
                else
                    drain = true;
            }
        }
        if (!drain && !retiring && p[1].revents) {
            struct handoff h;
            int cfd;
            int r = handoff_recv(chan, &cfd, &h);
            if (r == -ECONNRESET) {
                drain = true;
            } else if (r == 0) {
                if (n == cap) {
                    static const char busy[] = "421 4.3.2 fake worker full\r\n";
                    ssize_t w = write(cfd, busy, sizeof(busy) - 1);
                    (void)w;
                    close(cfd);
                    send_ack(chan, HANDOFF_ACK_REFUSED, h.seq, n, cap);
                } else {
                    fds[n++] = cfd;
                    send_ack(chan, HANDOFF_ACK_ACCEPTED, h.seq, n, cap);
                    char line[200];
                    int len = snprintf(line, sizeof(line),
                                       "220 fake generation %u worker %u pid %ld id %s\r\n",
                                       g->id, index, (long)getpid(), h.conn_id);
                    ssize_t w = write(cfd, line, (size_t)len);
                    (void)w;
                }
            } else if (r != -EAGAIN) {
                log_warn("handoff_recv: %s", strerror(-r));
            }
        }
        if (drain) {
            for (unsigned i = 0; i < n; i++) {
                static const char bye[] = "421 4.3.2 Service shutting down\r\n";
                ssize_t w = write(fds[i], bye, sizeof(bye) - 1);
                (void)w;
                close(fds[i]);
            }
            return 0;
        }
        bool ended = false;
        for (unsigned i = 0; i < n; i++) {
            if (!p[2 + i].revents || p[2 + i].fd != fds[i])
                continue;
            char buf[512];
            ssize_t r = read(fds[i], buf, sizeof(buf));
            if (r <= 0 || (r >= 4 && strncmp(buf, "QUIT", 4) == 0)) {
                if (r > 0) {
                    ssize_t w = write(fds[i], "221 2.0.0 Bye\r\n", 15);
                    (void)w;
                }
                close(fds[i]);
                fds[i] = -1;
                ended = true;
            }
        }
        if (ended) {
            unsigned k = 0;
            for (unsigned i = 0; i < n; i++)
                if (fds[i] >= 0)
                    fds[k++] = fds[i];
            n = k;
            if (!retiring)
                send_ack(chan, HANDOFF_ACK_LOAD, 0, n, cap);
        }
        if (retiring && n == 0) {
            log_info("fake worker %u generation %u retired", index, g->id);
            return 0;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct master_hooks hooks = {
        .load = fake_load, .free = fake_free, .config = fake_config, .run_worker = fake_worker,
    };
    return master_cli(argc, argv, &hooks);
}
