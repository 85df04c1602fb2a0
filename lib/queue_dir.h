/*
 * queue_dir.h - the queue under queue_directory, as Postfix lays out its
 * own: a message is a file named by its queue id (queue_file.h) in one
 * of the queues, and moving it between queues is one rename.
 *
 *   tmp/       being written by a worker: "PID.ID"; never a message yet
 *   incoming/  written, synced, acknowledged: the runner picks it up
 *   active/    the runner is delivering it
 *   deferred/  waiting for its next attempt (W record)
 *   hold/      kept until released (HOLD action, mxscreen-ctl hold)
 *   corrupt/   unreadable files set aside by the runner or the tools
 *
 * Rules that make it crash safe:
 *   - a file becomes a message only by rename() out of tmp/ after its
 *     data was synced, and the target directory is synced before anyone
 *     is told (the worker's 250, a tool's "ok");
 *   - every move between queues is renameat() of the same name, so a
 *     message is in exactly one queue at any instant; a crash mid-move
 *     leaves it in the old queue or the new one, whole;
 *   - files left in tmp/ by a process that is gone are half-written and
 *     removed at start (qdir_clean_tmp), never delivered.
 *
 * Failure: functions return 0 or -errno; what they log is left to the
 * caller, which knows the context.
 */
#ifndef MX_QUEUE_DIR_H
#define MX_QUEUE_DIR_H

#include <stdbool.h>
#include <sys/types.h>

enum qdir_queue {
    QDIR_TMP,
    QDIR_INCOMING,
    QDIR_ACTIVE,
    QDIR_DEFERRED,
    QDIR_HOLD,
    QDIR_CORRUPT,
    QDIR_COUNT,
};

struct qdir {
    int fd[QDIR_COUNT]; /* one O_DIRECTORY descriptor per queue */
};

/* "incoming", ...; NULL for an unknown index. */
const char *qdir_name(enum qdir_queue q);

/* Create queue_directory and its queues where missing (mode 0700); when
 * running as root, chown what it creates (and the existing tree's top
 * directories) to uid:gid. */
int qdir_create(const char *path, uid_t uid, gid_t gid);

/* Open every queue of an existing tree. -ENOENT if one is missing. */
int qdir_open(const char *path, struct qdir *q);
void qdir_close(struct qdir *q);

/* fsync the queue's directory. */
int qdir_sync(const struct qdir *q, enum qdir_queue which);

/* Move message id from one queue to another (renameat, then fsync of
 * both directories). -ENOENT: it is not in from. */
int qdir_move(const struct qdir *q, const char *id, enum qdir_queue from, enum qdir_queue to);
/* The same without the directory syncs: the queue runner's own moves
 * (incoming/deferred -> active -> deferred), as Postfix's qmgr renames
 * without fsync. A rename is atomic, and a system crash leaves the file
 * under one of the names, in a queue the runner scans at start; never
 * lost. The tools' moves (hold, release) keep qdir_move. */
int qdir_rename(const struct qdir *q, const char *id, enum qdir_queue from, enum qdir_queue to);

/* Which queue holds id (QDIR_INCOMING..QDIR_CORRUPT), or -ENOENT. */
int qdir_find(const struct qdir *q, const char *id);

/* Call fn for each message (a valid queue id) in queue which, in
 * directory order; fn returning non-zero stops the scan with that value. */
int qdir_scan(const struct qdir *q, enum qdir_queue which,
              int (*fn)(void *ctx, const char *id), void *ctx);

/* Remove tmp/ files whose writer is gone: "PID.ID" with PID not a live
 * process (kill(PID, 0) says ESRCH), and any name not of that form.
 * own_pid's files are kept too (a restarted worker never shares its pid
 * with the live one, but a caller may pass 0). Returns how many were
 * removed, or -errno. */
int qdir_clean_tmp(const struct qdir *q, pid_t own_pid);

#endif
