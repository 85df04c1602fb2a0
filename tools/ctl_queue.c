/*
 * ctl_queue.c - mxscreen-ctl's queue commands, working on queue_directory
 * itself (lib/queue_dir.h) so they work whether the daemon runs or not:
 *
 *   queue             list like mailq: id (with '*' active, '!' on hold),
 *                     size, arrival, sender, and each pending recipient
 *                     with its last error in parentheses above it
 *   delete ID|ALL     remove messages (from any queue but tmp/)
 *   hold ID|ALL       move to hold/: the runner leaves it alone
 *   release ID|ALL    hold/ -> deferred/, as postsuper -H (see do_release)
 *   flush             the queue runner tries every deferred message now
 *   requeue           the queue runner puts every deferred message back
 *                     into incoming/ with its schedule reset
 *                     (both: one byte into the runner's trigger FIFO,
 *                     queue_directory/qmgr, as postqueue -f reaches qmgr)
 *
 * Every change is one rename or unlink followed by an fsync of the
 * directory, so a message is never half moved. Unreadable files are
 * listed with the reason and never touched except by delete.
 *
 * Exit status: 0 done; 1 a message was not found, a file system error, or
 * flush/requeue with no queue runner listening.
 */
#include "ctl_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue_dir.h"
#include "queue_file.h"

struct listing {
    const struct qdir *q;
    enum qdir_queue which;
    unsigned count;
    unsigned long long bytes;
};

static const enum qdir_queue listed[] = {QDIR_INCOMING, QDIR_ACTIVE, QDIR_DEFERRED, QDIR_HOLD,
                                         QDIR_CORRUPT};

static int list_one(void *ctx, const char *id)
{
    struct listing *l = ctx;
    int fd = openat(l->q->fd[l->which], id, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* moved or removed meanwhile */
    struct qf_env e;
    struct qf_error err;
    char mark = l->which == QDIR_ACTIVE ? '*' : l->which == QDIR_HOLD ? '!' : ' ';
    int rc = qf_read_envelope(fd, &e, &err);
    close(fd);
    if (l->count++ == 0)
        printf("-Queue ID-        --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
    if (rc < 0) {
        printf("%-17s%c %8s %-20s  (unreadable: %s at offset %llu)\n\n", id, mark, "?", "?",
               rc == -EBADMSG ? err.what : strerror(-rc), (unsigned long long)err.offset);
        return 0;
    }
    char when[32];
    time_t t = (time_t)e.arrival;
    struct tm tm;
    strftime(when, sizeof(when), "%a %b %e %H:%M:%S", localtime_r(&t, &tm));
    printf("%-17s%c %8llu %-20.20s  %s\n", e.queue_id, mark,
           (unsigned long long)e.content_len, when, e.sender[0] ? e.sender : "MAILER-DAEMON");
    for (unsigned i = 0; i < e.nrcpt; i++) {
        if (e.rcpt[i].state != QF_PENDING)
            continue;
        if (e.rcpt[i].error[0])
            printf("%-49s(%s)\n", "", e.rcpt[i].error);
        printf("%-49s%s\n", "", e.rcpt[i].addr);
    }
    printf("\n");
    l->bytes += e.content_len;
    qf_env_free(&e);
    return 0;
}

static int cmd_list(const struct qdir *q)
{
    struct listing l = {.q = q};
    for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
        l.which = listed[i];
        int rc = qdir_scan(q, l.which, list_one, &l);
        if (rc < 0) {
            fprintf(stderr, "mxscreen-ctl: queue %s: %s\n", qdir_name(l.which), strerror(-rc));
            return 1;
        }
    }
    if (l.count == 0)
        printf("Mail queue is empty\n");
    else
        printf("-- %llu Kbytes in %u Request%s.\n", (l.bytes + 1023) / 1024, l.count,
               l.count == 1 ? "" : "s");
    return 0;
}

/* What one command does to one message in queue `where`; 1 done, 0 not
 * applicable (e.g. release of a message not on hold), -errno. */
typedef int (*action_fn)(const struct qdir *q, const char *id, enum qdir_queue where);

static int do_delete(const struct qdir *q, const char *id, enum qdir_queue where)
{
    if (unlinkat(q->fd[where], id, 0) < 0)
        return errno == ENOENT ? 0 : -errno;
    return qdir_sync(q, where) < 0 ? -errno : 1;
}

static int do_hold(const struct qdir *q, const char *id, enum qdir_queue where)
{
    if (where == QDIR_HOLD || where == QDIR_CORRUPT)
        return 0;
    int rc = qdir_move(q, id, where, QDIR_HOLD);
    return rc == -ENOENT ? 0 : rc < 0 ? rc : 1;
}

/* Postfix's postsuper -H (release_one): hold/ -> deferred/, the file
 * untouched. What that means for the next attempt: the runner takes it at
 * its next deferred/ scan (every queue_run_delay) once the next attempt
 * time in the file has come - at once for a message held before any
 * attempt (none set), at the backoff it had for one held while deferred,
 * as Postfix keeps that time in the file's mtime. `flush` makes it due now.
 * The runner is not woken (postsuper does not wake qmgr either). */
static int do_release(const struct qdir *q, const char *id, enum qdir_queue where)
{
    if (where != QDIR_HOLD)
        return 0;
    int rc = qdir_move(q, id, QDIR_HOLD, QDIR_DEFERRED);
    if (rc == 0)
        printf("%s: released from hold\n", id); /* postsuper's msg_info */
    return rc == -ENOENT ? 0 : rc < 0 ? rc : 1;
}

struct all_ctx {
    const struct qdir *q;
    enum qdir_queue where;
    action_fn fn;
    unsigned done;
    int err;
};

static int all_one(void *ctx, const char *id)
{
    struct all_ctx *a = ctx;
    int rc = a->fn(a->q, id, a->where);
    if (rc < 0) {
        fprintf(stderr, "mxscreen-ctl: %s: %s\n", id, strerror(-rc));
        a->err = rc;
    } else {
        a->done += (unsigned)rc;
    }
    return 0;
}

static int cmd_change(const struct qdir *q, const char *cmd, const char *arg)
{
    action_fn fn = !strcmp(cmd, "delete") ? do_delete : !strcmp(cmd, "hold") ? do_hold
                                                                             : do_release;
    const char *verb = fn == do_delete ? "Deleted" : fn == do_hold ? "Placed on hold"
                                                                   : "Released from hold";
    unsigned done = 0;
    int err = 0;
    if (!strcmp(arg, "ALL")) {
        for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
            struct all_ctx a = {q, listed[i], fn, 0, 0};
            int rc = qdir_scan(q, listed[i], all_one, &a);
            done += a.done;
            if (rc < 0 || a.err < 0)
                err = rc < 0 ? rc : a.err;
        }
    } else {
        if (!qf_id_valid(arg)) {
            fprintf(stderr, "mxscreen-ctl: %s: not a queue id\n", arg);
            return 1;
        }
        int where = qdir_find(q, arg);
        if (where < 0) {
            fprintf(stderr, "mxscreen-ctl: %s: no such message in the queue\n", arg);
            return 1;
        }
        int rc = fn(q, arg, (enum qdir_queue)where);
        if (rc < 0) {
            fprintf(stderr, "mxscreen-ctl: %s: %s\n", arg, strerror(-rc));
            return 1;
        }
        if (rc == 0) {
            fprintf(stderr, "mxscreen-ctl: %s: in queue %s: nothing to do\n", arg,
                    qdir_name((enum qdir_queue)where));
            return 1;
        }
        done = 1;
    }
    printf("mxscreen-ctl: %s: %u message%s\n", verb, done, done == 1 ? "" : "s");
    return err < 0 ? 1 : 0;
}

/* One byte to the queue runner's FIFO (workers/qrun.h). O_NONBLOCK: with
 * no runner reading, open fails with ENXIO instead of waiting. */
static int trigger(const char *queue_dir, const char *cmd, char what)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/qmgr", queue_dir);
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))) {
        close(fd);
        fd = -1;
        errno = ENXIO;
    }
    if (fd < 0) {
        fprintf(stderr, "mxscreen-ctl: %s: %s\n", cmd,
                errno == ENXIO || errno == ENOENT ? "the queue runner is not running"
                                                  : strerror(errno));
        return 1;
    }
    ssize_t n = write(fd, &what, 1);
    int e = errno;
    close(fd);
    if (n != 1 && e != EAGAIN) {
        fprintf(stderr, "mxscreen-ctl: %s: %s\n", cmd, strerror(e));
        return 1;
    }
    printf("mxscreen-ctl: %s: requested\n", cmd);
    return 0;
}

bool ctl_queue_command(const char *cmd)
{
    static const char *const cmds[] = {"queue", "delete", "hold", "release", "flush",
                                       "requeue", NULL};
    for (size_t i = 0; cmds[i]; i++)
        if (!strcmp(cmd, cmds[i]))
            return true;
    return false;
}

int ctl_queue(const char *queue_dir, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (!strcmp(cmd, "flush") || !strcmp(cmd, "requeue"))
        return trigger(queue_dir, cmd, cmd[0] == 'f' ? 'F' : 'R');
    bool need_arg = strcmp(cmd, "queue") != 0;
    if (argc != (need_arg ? 2 : 1)) {
        fprintf(stderr, "usage: mxscreen-ctl [-c config_dir] %s\n",
                need_arg ? "delete|hold|release ID|ALL" : "queue");
        return 1;
    }
    struct qdir q;
    int rc = qdir_open(queue_dir, &q);
    if (rc < 0) {
        if (rc == -ENOENT && !need_arg) {
            printf("Mail queue is empty\n");
            return 0;
        }
        fprintf(stderr, "mxscreen-ctl: queue_directory %s: %s\n", queue_dir, strerror(-rc));
        return 1;
    }
    int st = need_arg ? cmd_change(&q, cmd, argv[1]) : cmd_list(&q);
    qdir_close(&q);
    return st;
}
