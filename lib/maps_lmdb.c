/*
 * maps_lmdb.c - read side of hash:, btree: and lmdb: tables (NAME.lmdb).
 *
 * Open maps NAME.lmdb read-only with MDB_RDONLY|MDB_NOLOCK|MDB_NOSUBDIR.
 * Doing without LMDB's reader lock table is safe because mxscreen-map never
 * writes to a file after it has been renamed into place: a new version is
 * a new inode, so a reader can never see a page being rewritten, and no
 * writer needs to know which old pages readers still use. (Postfix's own
 * "postmap -i" rewrites lmdb files in place; rebuild with mxscreen-map, or
 * with a full postmap run followed by a reload, while mxscreen reads them.)
 *
 * Each table keeps one read transaction, reset after each lookup and
 * renewed at the next, so a lookup costs no allocation and no syscall.
 * The refresh hook (called by map_lookup() at most once per second)
 * reopens the file when its inode, device or mtime changed; if the new
 * file cannot be opened, the old environment stays in use.
 *
 * Postfix stores keys with a trailing NUL (and "postmap -n" without); the
 * convention of a file is taken from its first key at open.
 */
#include "maps_lmdb.h"
#include "util.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct lmdb_map {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn; /* long-lived, reset between lookups */
    int key_nul;  /* keys are stored with a trailing NUL */
    size_t maxkey; /* longer keys cannot be stored, so are not found */
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    char *path;
};

char *map_lmdb_path(const char *name)
{
    return xasprintf("%s.lmdb", name);
}

/* LMDB error codes are negative errno values or MDB_* codes above them. */
static int lmdb_errno(int rc)
{
    if (rc > 0)
        return -rc; /* a system errno */
    return rc == MDB_NOTFOUND ? -ENOENT : -EIO;
}

/* The descriptors of every environment open in this process (see
 * map_lmdb_fds() in maps_lmdb.h). A handful of tables: a small array. */
static int *open_fds;
static size_t n_open_fds, cap_open_fds;

static void fd_remember(int fd)
{
    if (n_open_fds == cap_open_fds) {
        cap_open_fds = cap_open_fds ? 2 * cap_open_fds : 8;
        open_fds = xrealloc(open_fds, cap_open_fds * sizeof(*open_fds));
    }
    open_fds[n_open_fds++] = fd;
}

static void fd_forget(int fd)
{
    for (size_t i = 0; i < n_open_fds; i++)
        if (open_fds[i] == fd) {
            open_fds[i] = open_fds[--n_open_fds];
            return;
        }
}

size_t map_lmdb_fds(int *out, size_t max)
{
    for (size_t i = 0; i < n_open_fds && i < max; i++)
        out[i] = open_fds[i];
    return n_open_fds;
}

/* Every hash:/btree:/lmdb: table open in this process, for
 * map_lmdb_refresh_all(). */
static struct map **open_maps;
static size_t n_open_maps, cap_open_maps;

static void map_remember(struct map *m)
{
    if (n_open_maps == cap_open_maps) {
        cap_open_maps = cap_open_maps ? 2 * cap_open_maps : 8;
        open_maps = xrealloc(open_maps, cap_open_maps * sizeof(*open_maps));
    }
    open_maps[n_open_maps++] = m;
}

static void map_forget(struct map *m)
{
    for (size_t i = 0; i < n_open_maps; i++)
        if (open_maps[i] == m) {
            open_maps[i] = open_maps[--n_open_maps];
            return;
        }
}

static void lmdb_close_env(struct lmdb_map *l)
{
    int fd;
    if (l->env && mdb_env_get_fd(l->env, &fd) == 0)
        fd_forget(fd);
    if (l->txn)
        mdb_txn_abort(l->txn);
    if (l->env)
        mdb_env_close(l->env);
    l->txn = NULL;
    l->env = NULL;
}

/* Open l->path into l (env, txn, dbi, identity). 0 or -errno. */
static int lmdb_open_env(struct lmdb_map *l, const char *ref, struct map_err *err)
{
    MDB_cursor *cur;
    MDB_val k, v;
    struct stat st;
    int rc;

    if ((rc = mdb_env_create(&l->env)) != 0)
        goto fail;
    rc = mdb_env_open(l->env, l->path, MDB_RDONLY | MDB_NOLOCK | MDB_NOSUBDIR, 0644);
    if (rc == ENOENT) {
        map_err_set(err, "%s: No such file or directory (run \"mxscreen-map %s\" to build it)",
                    l->path, ref);
        goto fail;
    }
    if (rc != 0)
        goto fail;
    if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &l->txn)) != 0)
        goto fail;
    if ((rc = mdb_dbi_open(l->txn, NULL, 0, &l->dbi)) != 0)
        goto fail;
    /* Learn the NUL convention from the first key; empty tables: Postfix's. */
    l->key_nul = 1;
    l->maxkey = (size_t)mdb_env_get_maxkeysize(l->env);
    if ((rc = mdb_cursor_open(l->txn, l->dbi, &cur)) != 0)
        goto fail;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    if (rc == 0 && (k.mv_size == 0 || ((const char *)k.mv_data)[k.mv_size - 1] != '\0'))
        l->key_nul = 0;
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto fail;
    /* The identity of the file actually opened, not of whatever the name
     * points to now. */
    int fd;
    if ((rc = mdb_env_get_fd(l->env, &fd)) != 0)
        goto fail;
    if (fstat(fd, &st) < 0) {
        rc = errno;
        goto fail;
    }
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    l->mtime = st.st_mtim;
    fd_remember(fd);
    mdb_txn_reset(l->txn);
    return 0;

fail:
    if (rc != ENOENT || !err->msg[0])
        map_err_set(err, "%s: %s", l->path, mdb_strerror(rc));
    lmdb_close_env(l);
    return rc == ENOENT ? -ENOENT : lmdb_errno(rc);
}

static int lmdb_open(struct map *m, struct map_err *err)
{
    struct lmdb_map *l = xcalloc(1, sizeof(*l));
    struct map_err local;

    if (!err)
        err = &local;
    err->msg[0] = '\0';
    l->path = map_lmdb_path(m->name);
    int rc = lmdb_open_env(l, m->ref, err);
    if (rc < 0) {
        free(l->path);
        free(l);
        return rc;
    }
    m->priv = l;
    map_remember(m);
    return 0;
}

static int lmdb_lookup(struct map *m, const char *key, size_t keylen, struct map_value *out)
{
    struct lmdb_map *l = m->priv;
    /* key[keylen] is the NUL terminator: store format needs no copy. */
    MDB_val k = {keylen + (size_t)l->key_nul, (void *)key}, v;

    if (k.mv_size == 0 || k.mv_size > l->maxkey)
        return 0;
    int rc = mdb_txn_renew(l->txn);
    if (rc != 0)
        return lmdb_errno(rc);
    rc = mdb_get(l->txn, l->dbi, &k, &v);
    if (rc == 0) {
        size_t len = v.mv_size;
        if (len > 0 && ((const char *)v.mv_data)[len - 1] == '\0')
            len--;
        rc = map_value_set(out, v.mv_data, len);
        rc = rc < 0 ? rc : 1;
    } else
        rc = rc == MDB_NOTFOUND ? 0 : lmdb_errno(rc);
    mdb_txn_reset(l->txn);
    return rc;
}

static int lmdb_refresh(struct map *m)
{
    struct lmdb_map *l = m->priv;
    struct stat st;
    struct map_err err = {{0}};

    if (stat(l->path, &st) < 0)
        return -errno; /* removed: keep serving the old table */
    if (st.st_dev == l->dev && st.st_ino == l->ino && st.st_mtim.tv_sec == l->mtime.tv_sec &&
        st.st_mtim.tv_nsec == l->mtime.tv_nsec)
        return 0;
    struct lmdb_map fresh = {.path = l->path};
    int rc = lmdb_open_env(&fresh, m->ref, &err);
    if (rc < 0)
        return rc;
    lmdb_close_env(l);
    *l = fresh;
    return 0;
}

size_t map_lmdb_refresh_all(void)
{
    size_t reopened = 0;
    for (size_t i = 0; i < n_open_maps; i++) {
        const struct lmdb_map *l = open_maps[i]->priv;
        ino_t ino = l->ino;
        dev_t dev = l->dev;
        if (lmdb_refresh(open_maps[i]) == 0 && (l->ino != ino || l->dev != dev))
            reopened++;
    }
    return reopened;
}

void map_lmdb_refresh_due(int64_t now, int64_t *next)
{
    static int64_t due; /* inherited across fork: same clock, same schedule */
    if (n_open_maps == 0)
        return;
    if (now >= due) {
        map_lmdb_refresh_all();
        due = now + MAP_REFRESH_INTERVAL_MS;
    }
    if (*next < 0 || due < *next)
        *next = due;
}

int64_t map_lmdb_refresh_wait(int64_t now, int64_t wait_ms)
{
    int64_t next = -1;
    map_lmdb_refresh_due(now, &next);
    if (next < 0)
        return wait_ms;
    int64_t left = next > now ? next - now : 0;
    return wait_ms < 0 || left < wait_ms ? left : wait_ms;
}

static void lmdb_close(struct map *m)
{
    struct lmdb_map *l = m->priv;
    if (!l)
        return;
    map_forget(m);
    lmdb_close_env(l);
    free(l->path);
    free(l);
}

int map_lmdb_foreach(struct map *m,
                     int (*fn)(void *ctx, const char *key, size_t keylen, const char *value,
                               size_t valuelen),
                     void *ctx)
{
    struct lmdb_map *l = m->priv;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if (!map_is_lmdb(m))
        return -EOPNOTSUPP;
    if ((rc = mdb_txn_renew(l->txn)) != 0)
        return lmdb_errno(rc);
    if ((rc = mdb_cursor_open(l->txn, l->dbi, &cur)) != 0) {
        mdb_txn_reset(l->txn);
        return lmdb_errno(rc);
    }
    int out = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && out == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        size_t kl = k.mv_size, vl = v.mv_size;
        if (kl > 0 && ((const char *)k.mv_data)[kl - 1] == '\0')
            kl--;
        if (vl > 0 && ((const char *)v.mv_data)[vl - 1] == '\0')
            vl--;
        out = fn(ctx, k.mv_data, kl, v.mv_data, vl);
    }
    mdb_cursor_close(cur);
    mdb_txn_reset(l->txn);
    if (out != 0)
        return out;
    return rc == MDB_NOTFOUND ? 0 : lmdb_errno(rc);
}

#define LMDB_TYPE(n)                                                                               \
    const struct map_type map_type_##n = {                                                         \
        .name = #n,                                                                                \
        .flags = MAP_FIXED | MAP_FOLD,                                                             \
        .open = lmdb_open,                                                                         \
        .lookup = lmdb_lookup,                                                                     \
        .refresh = lmdb_refresh,                                                                   \
        .close = lmdb_close,                                                                       \
    }

LMDB_TYPE(hash);
LMDB_TYPE(btree);
LMDB_TYPE(lmdb);

int map_is_lmdb(const struct map *m)
{
    return m->type == &map_type_hash || m->type == &map_type_btree || m->type == &map_type_lmdb;
}
