/*
 * queue_dir.c - queue_directory's queues and the moves between them
 * (queue_dir.h). Blocking system calls: the master at start, the queue
 * runner and the tools use these; the worker only opens the tree here and
 * does its own per-message I/O through its ring (workers/spool.c).
 */
#include "queue_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue_file.h"

static const char *const names[QDIR_COUNT] = {
    "tmp", "incoming", "active", "deferred", "hold", "corrupt", "free",
};

const char *qdir_name(enum qdir_queue q)
{
    return (unsigned)q < QDIR_COUNT ? names[q] : NULL;
}

static int make_dir(const char *path, uid_t uid, gid_t gid)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (geteuid() == 0 && (st.st_uid != uid || st.st_gid != gid) && chown(path, uid, gid) < 0)
        return -errno;
    return 0;
}

int qdir_create(const char *path, uid_t uid, gid_t gid)
{
    char p[4096];
    int rc = make_dir(path, uid, gid);
    if (rc < 0)
        return rc;
    for (int i = 0; i < QDIR_COUNT; i++) {
        if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, names[i]) >= sizeof(p))
            return -ENAMETOOLONG;
        if ((rc = make_dir(p, uid, gid)) < 0)
            return rc;
    }
    return 0;
}

int qdir_open(const char *path, struct qdir *q)
{
    int top = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < QDIR_COUNT; i++)
        q->fd[i] = -1;
    if (top < 0)
        return -errno;
    for (int i = 0; i < QDIR_COUNT; i++) {
        q->fd[i] = openat(top, names[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (q->fd[i] < 0 && i == QDIR_FREE && errno == ENOENT)
            continue; /* a tree from before the pool: no pool */
        if (q->fd[i] < 0) {
            int e = errno;
            close(top);
            qdir_close(q);
            return -e;
        }
    }
    close(top);
    q->fill_next = (unsigned)getpid() % QDIR_POOL_SLOTS;
    q->npool = q->ipool = 0;
    q->pool_empty_ms = -1;
    return 0;
}

void qdir_close(struct qdir *q)
{
    for (int i = 0; i < QDIR_COUNT; i++) {
        if (q->fd[i] >= 0)
            close(q->fd[i]);
        q->fd[i] = -1;
    }
}

int qdir_sync(const struct qdir *q, enum qdir_queue which)
{
    return fsync(q->fd[which]) < 0 ? -errno : 0;
}

int qdir_rename(const struct qdir *q, const char *id, enum qdir_queue from, enum qdir_queue to)
{
    if (!qf_id_valid(id) || (unsigned)from >= QDIR_COUNT || (unsigned)to >= QDIR_COUNT ||
        from == QDIR_FREE || to == QDIR_FREE)
        return -EINVAL;
    if (from == to)
        return 0;
    /* RENAME_NOREPLACE semantics by hand would race; a queue id is unique
     * across queues, so a plain rename never overwrites another message. */
    if (renameat(q->fd[from], id, q->fd[to], id) < 0)
        return -errno;
    return 0;
}

int qdir_move(const struct qdir *q, const char *id, enum qdir_queue from, enum qdir_queue to)
{
    int rc = qdir_rename(q, id, from, to);
    if (rc < 0 || from == to)
        return rc;
    rc = qdir_sync(q, to);
    int rc2 = qdir_sync(q, from);
    return rc < 0 ? rc : rc2;
}

int qdir_find(const struct qdir *q, const char *id)
{
    if (!qf_id_valid(id))
        return -EINVAL;
    for (int i = QDIR_INCOMING; i <= QDIR_CORRUPT; i++) {
        struct stat st;
        if (fstatat(q->fd[i], id, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            return i;
    }
    return -ENOENT;
}

/* A directory stream of its own on dirfd's directory (dirfd keeps its
 * offset for the *at calls and the pool's getdents64). */
static int dir_open(int dirfd, DIR **out)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    *out = fdopendir(fd);
    if (!*out) {
        int e = errno;
        close(fd);
        return -e;
    }
    return 0;
}

int qdir_scan(const struct qdir *q, enum qdir_queue which,
              int (*fn)(void *ctx, const char *id), void *ctx)
{
    if ((unsigned)which >= QDIR_COUNT || which == QDIR_FREE)
        return -EINVAL;
    DIR *d;
    int rc = dir_open(q->fd[which], &d);
    if (rc < 0)
        return rc;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!qf_id_valid(de->d_name))
            continue;
        if ((rc = fn(ctx, de->d_name)) != 0)
            break;
    }
    closedir(d);
    return rc;
}

/* Remove every entry of dirfd's directory that keep() does not want
 * (what unlinkat cannot remove, such as a directory, stays): how many,
 * or -errno. */
static int clean_dir(int dirfd, bool (*keep)(const char *name, const void *ctx),
                     const void *ctx)
{
    DIR *d;
    int rc = dir_open(dirfd, &d);
    if (rc < 0)
        return rc;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || keep(n, ctx))
            continue;
        if (unlinkat(dirfd, n, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

/* "PID.ID" whose writer lives (or is own_pid). */
static bool tmp_live(const char *n, const void *ctx)
{
    pid_t own_pid = *(const pid_t *)ctx;
    char *end;
    long pid = strtol(n, &end, 10);
    bool ours = end != n && *end == '.' && pid > 0 && qf_id_valid(end + 1);
    return ours && ((pid_t)pid == own_pid || kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int qdir_clean_tmp(const struct qdir *q, pid_t own_pid)
{
    int removed = clean_dir(q->fd[QDIR_TMP], tmp_live, &own_pid);
    if (removed > 0)
        qdir_sync(q, QDIR_TMP);
    return removed;
}

/* ---- the inode pool ---- */

/* "p-N" with N < QDIR_POOL_SLOTS, written as slot_name writes it. */
static bool pool_name(const char *n)
{
    if (n[0] != 'p' || n[1] != '-' || n[2] < '0' || n[2] > '9' || (n[2] == '0' && n[3]))
        return false;
    char *end;
    unsigned long v = strtoul(n + 2, &end, 10);
    return *end == '\0' && end - (n + 2) <= 6 && v < QDIR_POOL_SLOTS;
}

static void slot_name(unsigned slot, char out[QDIR_POOL_NAME_MAX])
{
    snprintf(out, QDIR_POOL_NAME_MAX, "p-%u", slot % QDIR_POOL_SLOTS);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The pool's names into q->pool, rotated by the pid. */
static void pool_read(struct qdir *q)
{
    int fd = q->fd[QDIR_FREE];
    char buf[8192];
    char seen[QDIR_POOL_SLOTS][QDIR_POOL_NAME_MAX];
    unsigned n = 0;
    q->npool = q->ipool = 0;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return;
    ssize_t got;
    while (n < QDIR_POOL_SLOTS && (got = getdents64(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; off < got && n < QDIR_POOL_SLOTS;) {
            const struct dirent64 *de = (const struct dirent64 *)(const void *)(buf + off);
            off += de->d_reclen;
            if (pool_name(de->d_name))
                memcpy(seen[n++], de->d_name, strlen(de->d_name) + 1); /* pool_name: <= 8 */
        }
    }
    unsigned start = n ? (unsigned)getpid() % n : 0;
    for (unsigned k = 0; k < n; k++)
        memcpy(q->pool[k], seen[(start + k) % n], QDIR_POOL_NAME_MAX);
    q->npool = n;
}

int qdir_pool_next(struct qdir *q, char out[QDIR_POOL_NAME_MAX])
{
    if (q->fd[QDIR_FREE] < 0)
        return -ENOENT;
    if (q->ipool == q->npool) {
        long long now = now_ms();
        if (q->pool_empty_ms >= 0 && now - q->pool_empty_ms < QDIR_POOL_EMPTY_MS)
            return -ENOENT;
        pool_read(q);
        q->pool_empty_ms = q->npool ? -1 : now;
        if (q->npool == 0)
            return -ENOENT;
    }
    memcpy(out, q->pool[q->ipool++], QDIR_POOL_NAME_MAX);
    return 0;
}

void qdir_pool_stale(struct qdir *q)
{
    q->ipool = q->npool;
}

int qdir_recycle(struct qdir *q, const char *id, enum qdir_queue from, uint64_t size)
{
    if (!qf_id_valid(id) || (unsigned)from >= QDIR_COUNT || from == QDIR_FREE)
        return -EINVAL;
    if (q->fd[QDIR_FREE] >= 0 && size <= QDIR_POOL_FILE_MAX) {
        for (int tries = 0; tries < 2; tries++) {
            char slot[QDIR_POOL_NAME_MAX];
            slot_name(q->fill_next++, slot);
            if (renameat2(q->fd[from], id, q->fd[QDIR_FREE], slot, RENAME_NOREPLACE) == 0)
                return 1;
            if (errno != EEXIST)
                break; /* ENOENT is for the unlink to report; EINVAL: no NOREPLACE here */
        }
    }
    return unlinkat(q->fd[from], id, 0) < 0 ? -errno : 0;
}

static bool pool_keep(const char *n, const void *ctx)
{
    (void)ctx;
    return pool_name(n);
}

int qdir_clean_pool(const struct qdir *q)
{
    return q->fd[QDIR_FREE] < 0 ? 0 : clean_dir(q->fd[QDIR_FREE], pool_keep, NULL);
}
