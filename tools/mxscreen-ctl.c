/*
 * mxscreen-ctl - talk to a running mxscreen master over its control socket.
 *
 *   mxscreen-ctl [-c DIR] [-C SOCKET] reload|stop|status
 *   mxscreen-ctl [-c DIR] queue | delete|hold|release ID|ALL | flush | requeue
 *
 * The queue commands (ctl_queue.c) work on queue_directory of DIR/main.cf
 * directly, whether the daemon runs or not.
 *
 * The socket is $data_directory/mxscreen.ctl of DIR/main.cf (as the
 * master computes it) unless -C names it. Prints the master's answer; exit
 * status 0 when it begins with "ok", 1 otherwise (a refused reload, an
 * unknown command, no master listening, no answer in 60 seconds).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl_queue.h"
#include "log.h"
#include "util.h"

#define CTL_ANSWER_TIMEOUT_MS 60000 /* a reload loads every map first */

/*
 * main.cf has an error (the very thing one reloads to find out about): the
 * master still runs on its old copy, so find its socket anyway from the
 * data_directory line as written, when it needs no $name expansion.
 */
static int raw_data_directory(const char *dir, char *out, size_t cap)
{
    char path[4096], *buf;
    size_t len;
    struct cfg_file f = {0};
    struct cfg_diag diag;
    int r = -ENOENT;

    snprintf(path, sizeof(path), "%s/main.cf", dir ? dir : CFG_DEFAULT_DIR);
    if (file_read_all(path, &buf, &len) < 0)
        return -ENOENT;
    cfg_diag_init(&diag);
    cfg_parse(buf, len, path, &f, &diag);
    const struct cfg_entry *e = cfg_file_find(&f, "data_directory", strlen("data_directory"));
    const char *v = e ? e->value : "/var/lib/mxscreen";
    if (!strchr(v, '$') && (size_t)snprintf(out, cap, "%s/mxscreen.ctl", v) < cap)
        r = 0;
    cfg_file_free(&f);
    cfg_diag_free(&diag);
    free(buf);
    return r;
}

static void usage(void)
{
    fprintf(stderr, "usage: mxscreen-ctl [-c config_dir] [-C control_socket] reload|stop|status\n"
                    "       mxscreen-ctl [-c config_dir] queue | delete|hold|release ID|ALL\n");
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *path = NULL;
    char pbuf[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int c;

    log_init("mxscreen-ctl", 0);
    while ((c = getopt(argc, argv, "c:C:")) != -1) {
        switch (c) {
        case 'c': dir = optarg; break;
        case 'C': path = optarg; break;
        default: usage(); return 1;
        }
    }
    if (optind < argc && ctl_queue_command(argv[optind])) {
        struct config cfg;
        struct cfg_diag diag;
        cfg_diag_init(&diag);
        int r = config_load(dir, &cfg, &diag);
        for (size_t i = 0; r < 0 && i < diag.n; i++)
            if (diag.v[i].level == CFG_DIAG_ERROR)
                log_error("%s", diag.v[i].text);
        cfg_diag_free(&diag);
        if (r < 0)
            return 1;
        int st = ctl_queue(cfg.p.queue_directory, argc - optind, argv + optind);
        config_free(&cfg);
        return st;
    }
    if (optind + 1 != argc) {
        usage();
        return 1;
    }
    const char *cmd = argv[optind];
    if (strcmp(cmd, "reload") != 0 && strcmp(cmd, "stop") != 0 && strcmp(cmd, "status") != 0) {
        usage();
        return 1;
    }
    if (!path) {
        struct config cfg;
        struct cfg_diag diag;
        cfg_diag_init(&diag);
        int r = config_load(dir, &cfg, &diag);
        if (r == 0) {
            int n = snprintf(pbuf, sizeof(pbuf), "%s/mxscreen.ctl", cfg.p.data_directory);
            config_free(&cfg);
            if (n < 0 || (size_t)n >= sizeof(pbuf)) {
                log_error("data_directory too long for a control socket path (use -C)");
                cfg_diag_free(&diag);
                return 1;
            }
        } else if (raw_data_directory(dir, pbuf, sizeof(pbuf)) == 0) {
            log_warn("%s/main.cf has errors; using control socket %s",
                     dir ? dir : CFG_DEFAULT_DIR, pbuf);
        } else {
            /* The file is what the master reads too: say what is wrong. */
            for (size_t i = 0; i < diag.n; i++)
                if (diag.v[i].level == CFG_DIAG_ERROR)
                    log_error("%s", diag.v[i].text);
            log_error("%s/main.cf: %s", dir ? dir : CFG_DEFAULT_DIR, strerror(-r));
            cfg_diag_free(&diag);
            return 1;
        }
        cfg_diag_free(&diag);
        path = pbuf;
    }

    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        log_error("%s: path too long", path);
        return 1;
    }
    strcpy(sun.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        log_error("connect to %s: %s (is mxscreen running?)", path, strerror(errno));
        return 1;
    }
    char line[32];
    int len = snprintf(line, sizeof(line), "%s\n", cmd);
    if (send(s, line, (size_t)len, MSG_NOSIGNAL) != len) {
        log_error("send to %s: %s", path, strerror(errno));
        return 1;
    }
    shutdown(s, SHUT_WR);

    char buf[4096], first[8] = "";
    size_t got = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = CTL_ANSWER_TIMEOUT_MS - ((t.tv_sec - t0.tv_sec) * 1000
                                             + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            log_error("%s: no answer in %d seconds", path, CTL_ANSWER_TIMEOUT_MS / 1000);
            return 1;
        }
        ssize_t n = read(s, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("read from %s: %s", path, strerror(errno));
            return 1;
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n && got < sizeof(first) - 1; i++)
            first[got++] = buf[i];
        fwrite(buf, 1, (size_t)n, stdout);
    }
    close(s);
    first[got] = '\0';
    return strncmp(first, "ok", 2) == 0 && (first[2] == '\n' || first[2] == ' ') ? 0 : 1;
}
