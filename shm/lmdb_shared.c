/*
 * lmdb_shared.c - the read-write LMDB environment shared by processes
 * (see lmdb_shared.h): open, the per-process read transaction, write
 * transactions that grow a full map, and following a map another process
 * has grown.
 */
#include "lmdb_shared.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lmdb_shared_err(int rc)
{
    if (rc > 0)
        return -rc;
    return rc == MDB_NOTFOUND ? -ENOENT : -EIO;
}

const char *lmdb_shared_ref_name(const char *ref)
{
    if (strncmp(ref, "proxy:", 6) == 0)
        ref += 6;
    static const char *const types[] = {"btree:", "hash:", "lmdb:"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(types[i]);
        if (strncmp(ref, types[i], n) == 0 && ref[n] != '\0')
            return ref + n;
    }
    return NULL;
}

int lmdb_shared_open(struct lmdb_shared *s, const char *name, size_t mapsize, size_t mapmax,
                     int mode, const char *what, char *err, size_t errsize)
{
    memset(s, 0, sizeof(*s));
    size_t nlen = strlen(name);
    if (!(s->path = malloc(nlen + 6))) {
        snprintf(err, errsize, "out of memory");
        return -ENOMEM;
    }
    memcpy(s->path, name, nlen);
    memcpy(s->path + nlen, ".lmdb", 6);
    s->mapsize = mapsize;
    s->mapmax = mapmax;
    s->what = what;

    MDB_txn *txn;
    int rc, dead;
    if ((rc = mdb_env_create(&s->env)) != 0 || (rc = mdb_env_set_mapsize(s->env, s->mapsize)) != 0)
        goto fail;
    /* One reader slot per process is enough (reads reuse one handle);
     * 126 is LMDB's default and covers every frontend and worker. */
    rc = mdb_env_open(s->env, s->path, MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS, (mdb_mode_t)mode);
    if (rc != 0)
        goto fail;
    mdb_reader_check(s->env, &dead); /* slots of processes that died reading */
    /* Another process may have grown the map: adopt the file's size. */
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->mapsize)
        s->mapsize = info.me_mapsize;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
        if (rc != 0)
            mdb_txn_abort(txn);
        goto fail;
    }
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn)) != 0)
        goto fail;
    mdb_txn_reset(s->rtxn);
    return 0;

fail:
    snprintf(err, errsize, "open %s: %s", s->path, mdb_strerror(rc));
    lmdb_shared_close(s);
    return lmdb_shared_err(rc);
}

void lmdb_shared_close(struct lmdb_shared *s)
{
    if (s->rtxn)
        mdb_txn_abort(s->rtxn);
    if (s->env)
        mdb_env_close(s->env);
    free(s->path);
    memset(s, 0, sizeof(*s));
}

int lmdb_shared_txn_begin(struct lmdb_shared *s, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(s->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        if ((rc = mdb_env_set_mapsize(s->env, 0)) != 0)
            return rc;
        rc = mdb_txn_begin(s->env, NULL, flags, txn);
    }
    return rc;
}

int lmdb_shared_renew_read(struct lmdb_shared *s)
{
    int rc = mdb_txn_renew(s->rtxn);
    if (rc == MDB_MAP_RESIZED && (rc = mdb_env_set_mapsize(s->env, 0)) == 0)
        rc = mdb_txn_renew(s->rtxn);
    return rc;
}

/* Grow the map after MDB_MAP_FULL (no transaction of ours is active). */
static int grow(struct lmdb_shared *s)
{
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->mapsize)
        s->mapsize = info.me_mapsize;
    if (s->mapsize >= s->mapmax)
        return MDB_MAP_FULL;
    s->mapsize *= 2;
    log_warn("%s: %s is full, growing the map to %zu KiB", s->path, s->what, s->mapsize >> 10);
    return mdb_env_set_mapsize(s->env, s->mapsize);
}

int lmdb_shared_write(struct lmdb_shared *s, int (*fn)(struct lmdb_shared *, MDB_txn *, void *),
                      void *arg)
{
    for (;;) {
        MDB_txn *txn;
        int rc = lmdb_shared_txn_begin(s, 0, &txn);
        if (rc != 0)
            return rc;
        rc = fn(s, txn, arg);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc != MDB_MAP_FULL)
            return rc;
        if ((rc = grow(s)) != 0)
            return rc;
    }
}
