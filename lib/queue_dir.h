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
 *   free/      the inode pool: files of finished messages, named "p-SLOT"
 *              (never a queue id), kept for a worker's next message
 *              instead of unlink + create (qdir_recycle, qdir_pool_next)
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
 *   - a pooled file is garbage: nothing reads free/; a worker renames a
 *     slot into tmp/ and opens it with O_TRUNC before it writes, so a
 *     message never carries a byte of the one the file held before.
 *
 * Why a pool: on ext4 every inode allocation walks the inodes freed in
 * the last ~30 s (recently_deleted()), under the directory lock; with
 * one unlink and one create per message that was the largest single
 * cost of a queued message (bench/queue/README.md). The pool is bounded
 * in count (QDIR_POOL_SLOTS) and in what it keeps on disk (files over
 * QDIR_POOL_FILE_MAX are unlinked), so a full disk still means a full
 * disk and not a pool holding the space.
 *
 * Failure: functions return 0 or -errno; what they log is left to the
 * caller, which knows the context.
 */
#ifndef MX_QUEUE_DIR_H
#define MX_QUEUE_DIR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum qdir_queue {
    QDIR_TMP,
    QDIR_INCOMING,
    QDIR_ACTIVE,
    QDIR_DEFERRED,
    QDIR_HOLD,
    QDIR_CORRUPT,
    QDIR_FREE, /* the pool: not a queue, never scanned for messages */
    QDIR_COUNT,
};

#define QDIR_POOL_SLOTS 128            /* files kept at most */
#define QDIR_POOL_FILE_MAX (256u << 10) /* larger files are unlinked, not kept */
#define QDIR_POOL_NAME_MAX 8           /* "p-SLOT" and its NUL */
#define QDIR_POOL_EMPTY_MS 10          /* free/ found empty: not read again sooner */

struct qdir {
    int fd[QDIR_COUNT]; /* one O_DIRECTORY descriptor per queue; fd[QDIR_FREE]
                         * is -1 in a tree without free/ (no pool) */
    /* the pool as this process last saw it */
    unsigned fill_next;          /* qdir_recycle: the next slot to try */
    unsigned npool, ipool;       /* qdir_pool_next: names read, names used */
    char pool[QDIR_POOL_SLOTS][QDIR_POOL_NAME_MAX];
    long long pool_empty_ms;     /* when free/ was last read and found empty */
};

/* "incoming", ...; NULL for an unknown index. */
const char *qdir_name(enum qdir_queue q);

/* Create queue_directory and its queues where missing (mode 0700); when
 * running as root, chown what it creates (and the existing tree's top
 * directories) to uid:gid. */
int qdir_create(const char *path, uid_t uid, gid_t gid);

/* Open every queue of an existing tree. -ENOENT if one is missing
 * (free/ aside: without it there is no pool). */
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

/* ---- the inode pool (free/) ---- */

/* The name of a pooled file for a worker to rename to its tmp/ name
 * (that rename may still find it gone: another worker took it; then the
 * worker creates a file). The names of one read of free/ are handed out
 * one by one, from a point that depends on the pid so that workers
 * seldom reach for the same file; free/ is read again when they are used
 * up: one short blocking getdents64 per up to QDIR_POOL_SLOTS messages,
 * at most one per QDIR_POOL_EMPTY_MS while free/ is empty. 0, or
 * -ENOENT: nothing pooled (or no pool). */
int qdir_pool_next(struct qdir *q, char out[QDIR_POOL_NAME_MAX]);
/* A name from qdir_pool_next was gone (another worker took it): the
 * rest of that read is likely stale too; the next call reads free/. */
void qdir_pool_stale(struct qdir *q);

/* A finished message leaves queue from: its file (size bytes) goes to
 * an empty slot of the pool (renameat2 RENAME_NOREPLACE, two slots
 * tried), or is unlinked when the pool is full, missing or size is over
 * QDIR_POOL_FILE_MAX. Not synced, as the unlink it replaces: a system
 * crash may bring the old name back, pointing at a file a worker has
 * since reused; the runner moves such a file (its I record is not its
 * name) to corrupt/ instead of delivering it. 1: pooled; 0: unlinked;
 * -errno: neither (-ENOENT: id is not in from). */
int qdir_recycle(struct qdir *q, const char *id, enum qdir_queue from, uint64_t size);

/* Start-up: remove from free/ every name that is not a slot of this
 * build's pool (other files, other slot counts). How many, or -errno. */
int qdir_clean_pool(const struct qdir *q);

#endif
