/*
 * control.c - the control socket: AF_UNIX stream at
 * $data_directory/mxscreen.ctl (or -C PATH), mode 0600, owned by the user
 * the master runs as. A client sends one command line and gets a text
 * answer, then the master closes the connection:
 *   status   "ok" line, then "name value" lines (generation, pid, the
 *            frontends' counters: accepted, handed_off, refused_busy,
 *            refused_by_worker, refused_pool, held, pregreet, denylisted,
 *            allowlisted, tarpitted, dropped, hangup), a "counters" line
 *            with every counter summed over all frontends as name=value
 *            (doc/status.md: the stable form), one "frontend ..." line per
 *            frontend process and one "worker ..." line per worker process
 *   reload   "ok generation N", or "error: reload refused: REASON"
 *   stop     "ok stopping" (then the master stops as on SIGTERM)
 * Anything else: "error: unknown command ...". The first word of the
 * answer is what mxscreen-ctl turns into its exit status.
 *
 * Failure: a socket path that another master answers on is refused at
 * start-up; a stale one is removed. A client that sends no full line in 5
 * seconds, or more than 255 bytes, is dropped.
 */
#include "master_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define CTL_TIMEOUT_MS 5000

int control_open(struct master *m, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(m->ctl_path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "control socket path %s: too long", m->ctl_path);
        return -ENAMETOOLONG;
    }
    strcpy(sun.sun_path, m->ctl_path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    struct stat st;
    if (lstat(m->ctl_path, &st) == 0) {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && S_ISSOCK(st.st_mode)
            && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            close(probe);
            close(s);
            snprintf(err, errlen, "control socket %s: another mxscreen master is running",
                     m->ctl_path);
            return -EADDRINUSE;
        }
        if (probe >= 0)
            close(probe);
        if (!S_ISSOCK(st.st_mode)) {
            close(s);
            snprintf(err, errlen, "control socket %s: exists and is not a socket", m->ctl_path);
            return -EEXIST;
        }
        unlink(m->ctl_path); /* stale: left by a master that died */
    }
    mode_t old = umask(0077);
    int r = bind(s, (struct sockaddr *)&sun, sizeof(sun));
    int e = errno;
    umask(old);
    if (r < 0 || listen(s, 16) < 0) {
        if (r == 0)
            e = errno;
        snprintf(err, errlen, "control socket %s: %s", m->ctl_path, strerror(e));
        close(s);
        return -e;
    }
    m->ctl_fd = s;
    for (size_t i = 0; i < MASTER_MAX_CTL; i++)
        m->ctl[i].fd = -1;
    return 0;
}

static void client_close(struct master *m, size_t ci)
{
    close(m->ctl[ci].fd);
    m->ctl[ci].fd = -1;
    m->ctl[ci].len = 0;
}

void control_close(struct master *m)
{
    for (size_t i = 0; i < MASTER_MAX_CTL; i++)
        if (m->ctl[i].fd >= 0)
            client_close(m, i);
    if (m->ctl_fd >= 0) {
        close(m->ctl_fd);
        unlink(m->ctl_path);
    }
    m->ctl_fd = -1;
}

void control_accept(struct master *m)
{
    for (int n = 0; n < MASTER_MAX_CTL; n++) {
        int fd = accept4(m->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        size_t ci = 0;
        while (ci < MASTER_MAX_CTL && m->ctl[ci].fd >= 0)
            ci++;
        if (ci == MASTER_MAX_CTL) {
            static const char busy[] = "error: too many control connections\n";
            ssize_t w = send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)w;
            close(fd);
            continue;
        }
        m->ctl[ci].fd = fd;
        m->ctl[ci].len = 0;
        m->ctl[ci].deadline_ms = master_now_ms() + CTL_TIMEOUT_MS;
    }
}

static void status(struct master *m, struct strbuf *out)
{
    char line[512];
    struct fe_stats t;
    fe_link_totals(m, &t);
    snprintf(line, sizeof(line),
             "ok\ngeneration %u\npid %ld\naccepted %llu\nhanded_off %llu\n"
             "refused_busy %llu\nrefused_by_worker %llu\nrefused_pool %llu\nheld %llu\n"
             "pregreet %llu\ndenylisted %llu\nallowlisted %llu\ntarpitted %llu\n"
             "dropped %llu\nhangup %llu\n",
             m->cur->id, (long)m->pid, (unsigned long long)t.accepted,
             (unsigned long long)t.handed, (unsigned long long)t.refused_busy,
             (unsigned long long)t.refused_worker, (unsigned long long)t.refused_pool,
             (unsigned long long)t.held, (unsigned long long)t.pregreet,
             (unsigned long long)t.denylisted, (unsigned long long)t.allowlisted,
             (unsigned long long)t.tarpitted, (unsigned long long)t.dropped,
             (unsigned long long)t.hangup);
    strbuf_puts(out, line);
    /* Every counter again, in the stable form of doc/status.md. */
    strbuf_puts(out, "counters");
    for (size_t i = 0; i < FE_STATS_N; i++) {
        snprintf(line, sizeof(line), " %s=%llu", fe_stats_fields[i].name,
                 (unsigned long long)fe_stats_get(&t, i));
        strbuf_puts(out, line);
    }
    strbuf_puts(out, "\n");
    for (size_t i = 0; i < MASTER_MAX_GENS; i++) {
        const struct mgen *g = &m->gens[i];
        for (unsigned k = 0; g->used && k < g->nfe; k++) {
            const struct mfe *f = &g->fe[k];
            if (f->state == MFE_NONE)
                continue;
            snprintf(line, sizeof(line),
                     "frontend pid %ld generation %u state %s held %llu restarts %u\n",
                     (long)f->pid, g->id, supervisor_fe_state_name(f->state),
                     (unsigned long long)f->st.held, f->restarts);
            strbuf_puts(out, line);
        }
    }
    for (size_t i = 0; i < m->nw; i++) {
        const struct mworker *w = &m->w[i];
        if (w->state == MW_FREE)
            continue;
        snprintf(line, sizeof(line),
                 "worker %u pid %ld generation %u state %s sessions %u pending %llu "
                 "capacity %u restarts %u\n",
                 w->index, (long)w->pid, w->gen->id, supervisor_state_name(w->state),
                 w->sessions,
                 (unsigned long long)(w->sent > w->acked ? w->sent - w->acked : 0),
                 w->capacity, w->restarts);
        strbuf_puts(out, line);
    }
}

static void answer(int fd, const char *text, size_t len)
{
    /* Answers are small (a line per worker); give a slow reader one
     * second, then drop it: the master never waits on a client for long. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    while (len > 0) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

static void execute(struct master *m, int fd, const char *cmd)
{
    struct strbuf out;
    strbuf_init(&out);
    char err[512];
    if (strcmp(cmd, "status") == 0) {
        status(m, &out);
    } else if (strcmp(cmd, "reload") == 0) {
        if (supervisor_reload(m, err, sizeof(err)) == 0) {
            snprintf(err, sizeof(err), "ok generation %u\n", m->cur->id);
            strbuf_puts(&out, err);
        } else {
            strbuf_puts(&out, "error: reload refused: ");
            strbuf_puts(&out, err);
            strbuf_puts(&out, "\n");
        }
    } else if (strcmp(cmd, "stop") == 0) {
        strbuf_puts(&out, "ok stopping\n");
        answer(fd, out.buf, out.len);
        strbuf_free(&out);
        log_info("stop requested on the control socket");
        m->stopping = true; /* the loop does the rest */
        return;
    } else {
        snprintf(err, sizeof(err), "error: unknown command \"%.64s\" (status, reload, stop)\n",
                 cmd);
        strbuf_puts(&out, err);
    }
    answer(fd, out.buf, out.len);
    strbuf_free(&out);
}

void control_client_io(struct master *m, size_t ci)
{
    struct ctl_client *c = &m->ctl[ci];
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0)
        c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *nl = strchr(c->buf, '\n');
    if (!nl && n > 0 && c->len < sizeof(c->buf) - 1)
        return;
    if (!nl && (n <= 0 && c->len == 0)) {
        client_close(m, ci);
        return;
    }
    if (nl)
        *nl = '\0';
    else if (c->len == sizeof(c->buf) - 1) {
        client_close(m, ci);
        return;
    }
    size_t l = strlen(c->buf);
    while (l > 0 && (c->buf[l - 1] == '\r' || c->buf[l - 1] == ' '))
        c->buf[--l] = '\0';
    execute(m, c->fd, c->buf);
    client_close(m, ci);
}

void control_expire(struct master *m, int64_t now, int64_t *next_ms)
{
    for (size_t i = 0; i < MASTER_MAX_CTL; i++) {
        if (m->ctl[i].fd < 0)
            continue;
        if (m->ctl[i].deadline_ms <= now)
            client_close(m, i);
        else if (*next_ms < 0 || m->ctl[i].deadline_ms < *next_ms)
            *next_ms = m->ctl[i].deadline_ms;
    }
}
