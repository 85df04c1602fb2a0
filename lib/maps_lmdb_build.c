/*
 * maps_lmdb_build.c - write side of hash:, btree: and lmdb: tables.
 *
 * Interface: map_lmdb_build(), map_lmdb_insert(), map_lmdb_delete() (see
 * maps_lmdb.h). Every change writes a complete new environment:
 *   NAME.lmdb.tmp.PID  (MDB_NOSUBDIR|MDB_NOLOCK, one write transaction)
 *   -> mdb_env_sync + fsync -> rename over NAME.lmdb -> fsync(directory)
 * so a reader sees either the old table or the new one, never a half
 * written one, and a crash leaves at worst a stray temporary file. On any
 * error the temporary file is removed and NAME.lmdb is left untouched.
 * Concurrent writers of tables in one directory are serialized by an
 * exclusive flock() on the directory, so that an insert cannot lose a
 * delete that ran at the same time.
 *
 * The source is parsed completely before the first byte is written: a
 * key too long for LMDB fails the build before anything changes. The map
 * size is estimated from the input; when LMDB still reports MDB_MAP_FULL
 * the transaction is redone with a map twice as large (warnings are only
 * reported on the first attempt). Sorted input is appended (MDB_APPEND),
 * which is several times faster and packs pages fully.
 */
#include "log.h"
#include "maps_lmdb.h"
#include "maps_source.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* LMDB 0.9's compile-time key limit (mdb_env_get_maxkeysize()), NUL included. */
#define LMDB_MAX_KEY 511
#define MAPSIZE_MIN ((size_t)16 << 20) /* Postfix's lmdb_map_size default */
#define MAPSIZE_MAX ((size_t)1 << 40)

/* Parsed entries: key\0value\0 pairs in one arena, located by offset. */
struct entry {
    size_t koff;
    size_t voff;
    uint32_t klen; /* with the trailing NUL, as stored */
    uint32_t vlen;
};

struct entries {
    struct strbuf arena;
    struct entry *v;
    size_t n, cap;
    const char *srcpath;
    struct map_err *err;
    void (*warn)(void *ctx, const char *msg);
    void *warn_ctx;
};

static void warn_default(void *ctx, const char *msg)
{
    (void)ctx;
    log_warn("%s", msg);
}

static void entries_warn(void *ctx, const char *msg)
{
    struct entries *es = ctx;
    es->warn(es->warn_ctx, msg);
}

static int entries_add(void *ctx, const struct map_source_entry *e)
{
    struct entries *es = ctx;

    if (e->keylen + 1 > LMDB_MAX_KEY) {
        map_err_set(es->err, "%s, line %d: key is too long for an LMDB table (%zu bytes, at most %d)",
                    es->srcpath, e->line, e->keylen, LMDB_MAX_KEY - 1);
        return -EINVAL;
    }
    if (e->valuelen + 1 > UINT32_MAX) {
        map_err_set(es->err, "%s, line %d: value is too long", es->srcpath, e->line);
        return -EINVAL;
    }
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 1024;
        es->v = xrealloc(es->v, es->cap * sizeof(*es->v));
    }
    struct entry *x = &es->v[es->n++];
    x->koff = es->arena.len;
    x->klen = (uint32_t)e->keylen + 1;
    strbuf_append(&es->arena, e->key, e->keylen + 1);
    x->voff = es->arena.len;
    x->vlen = (uint32_t)e->valuelen + 1;
    strbuf_append(&es->arena, e->value, e->valuelen + 1);
    return 0;
}

static void entries_free(struct entries *es)
{
    strbuf_free(&es->arena);
    free(es->v);
}

/* Parse the whole source into es before anything is written. */
static int entries_parse(struct entries *es, const char *src, size_t len, const char *srcpath,
                         const struct map_lmdb_build_opts *o, struct map_err *err)
{
    static const struct map_source_ops ops = {entries_add, entries_warn};

    memset(es, 0, sizeof(*es));
    strbuf_init(&es->arena);
    es->srcpath = srcpath;
    es->err = err;
    es->warn = o->warn ? o->warn : warn_default;
    es->warn_ctx = o->warn_ctx;
    return map_source_parse(src, len, srcpath, o->source_flags, &ops, es) == 0 ? 0 : -EINVAL;
}

static int lmdb_to_errno(int rc)
{
    return rc > 0 ? -rc : (rc == MDB_MAP_FULL ? -ENOSPC : -EIO);
}

/* One new version of NAME.lmdb being written. */
struct writer {
    char *path;  /* NAME.lmdb */
    char *tmp;   /* NAME.lmdb.tmp.PID */
    int dirfd;   /* directory of both, locked */
    MDB_env *env;
    size_t mapsize;
    int mode;    /* final permissions */
    uid_t uid;
    gid_t gid;
};

static void writer_abort(struct writer *w)
{
    if (w->env) {
        mdb_env_close(w->env);
        w->env = NULL;
    }
    if (w->tmp)
        unlink(w->tmp);
    if (w->dirfd >= 0)
        close(w->dirfd); /* drops the flock */
    free(w->path);
    free(w->tmp);
    w->path = w->tmp = NULL;
    w->dirfd = -1;
}

/* Lock the directory and create an empty temporary environment. */
static int writer_begin(struct writer *w, const char *name, size_t mapsize, struct map_err *err)
{
    int rc;

    memset(w, 0, sizeof(*w));
    w->dirfd = -1;
    w->path = map_lmdb_path(name);
    w->tmp = xasprintf("%s.tmp.%ld", w->path, (long)getpid());
    w->mapsize = mapsize < MAPSIZE_MIN ? MAPSIZE_MIN : mapsize;

    const char *slash = strrchr(w->path, '/');
    char *dir = slash ? xstrndup(w->path, slash == w->path ? 1 : (size_t)(slash - w->path))
                      : xstrdup(".");
    w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0 || flock(w->dirfd, LOCK_EX) < 0) {
        rc = -errno;
        map_err_set(err, "%s: %s", dir, strerror(-rc));
        free(dir);
        goto fail;
    }
    free(dir);
    unlink(w->tmp); /* left over by a crashed run with our pid */
    if ((rc = mdb_env_create(&w->env)) != 0 || (rc = mdb_env_set_mapsize(w->env, w->mapsize)) != 0)
        goto fail_mdb;
    /* No sync per commit: the whole file is synced once, before rename. */
    rc = mdb_env_open(w->env, w->tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC | MDB_NOMETASYNC,
                      0600);
    if (rc != 0)
        goto fail_mdb;
    return 0;

fail_mdb:
    map_err_set(err, "%s: %s", w->tmp, mdb_strerror(rc));
    rc = lmdb_to_errno(rc);
fail:
    writer_abort(w);
    return rc;
}

/*
 * Run fill in one write transaction; redo it with twice the map size when
 * the map is full. attempt is 0 on the first run (warnings only then).
 */
typedef int (*fill_fn)(MDB_txn *txn, MDB_dbi dbi, void *ctx, int attempt);

static int writer_fill(struct writer *w, fill_fn fill, void *ctx, struct map_err *err)
{
    for (int attempt = 0;; attempt++) {
        MDB_txn *txn;
        MDB_dbi dbi;
        int rc = mdb_txn_begin(w->env, NULL, 0, &txn);
        if (rc != 0) {
            map_err_set(err, "%s: %s", w->tmp, mdb_strerror(rc));
            return lmdb_to_errno(rc);
        }
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
        if (rc == 0)
            rc = fill(txn, dbi, ctx, attempt);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc == MDB_MAP_FULL && w->mapsize < MAPSIZE_MAX) {
            w->mapsize *= 2;
            if ((rc = mdb_env_set_mapsize(w->env, w->mapsize)) == 0)
                continue;
        }
        if (rc == 0)
            return 0;
        if (rc < 0 && rc > -4096) /* an -errno from fill(), err already set */
            return rc;
        map_err_set(err, "%s: %s", w->tmp, mdb_strerror(rc));
        return lmdb_to_errno(rc);
    }
}

/* Sync the new file and rename it over NAME.lmdb. */
static int writer_commit(struct writer *w, struct map_err *err)
{
    int fd, rc;

    if ((rc = mdb_env_sync(w->env, 1)) != 0 || (rc = mdb_env_get_fd(w->env, &fd)) != 0) {
        map_err_set(err, "%s: %s", w->tmp, mdb_strerror(rc));
        rc = lmdb_to_errno(rc);
        goto fail;
    }
    if (fchmod(fd, (mode_t)w->mode) < 0 ||
        ((w->uid != (uid_t)-1 || w->gid != (gid_t)-1) && fchown(fd, w->uid, w->gid) < 0) ||
        fsync(fd) < 0) {
        rc = -errno;
        map_err_set(err, "%s: %s", w->tmp, strerror(errno));
        goto fail;
    }
    mdb_env_close(w->env);
    w->env = NULL;
    if (rename(w->tmp, w->path) < 0) {
        rc = -errno;
        map_err_set(err, "rename %s to %s: %s", w->tmp, w->path, strerror(errno));
        goto fail;
    }
    /* The rename is durable only once the directory is. */
    if (fsync(w->dirfd) < 0) {
        rc = -errno;
        map_err_set(err, "fsync directory of %s: %s", w->path, strerror(errno));
        free(w->tmp);
        w->tmp = NULL; /* renamed already: nothing to remove */
        goto fail;
    }
    free(w->tmp);
    w->tmp = NULL;
    writer_abort(w);
    return 0;
fail:
    writer_abort(w);
    return rc;
}

/* Put with the duplicate policy. 0, or an MDB error code. */
static int put_entry(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v,
                     const struct map_lmdb_build_opts *o, const char *name, int warn,
                     void (*wfn)(void *, const char *), void *wctx)
{
    unsigned flags = o->dup == MAP_LMDB_DUP_REPLACE ? 0 : MDB_NOOVERWRITE;
    int rc = mdb_put(txn, dbi, k, v, flags);
    if (rc == MDB_KEYEXIST) {
        if (o->dup == MAP_LMDB_DUP_WARN && warn) {
            char msg[1024];
            /* postmap's wording for lmdb: tables; keys are NUL-terminated. */
            snprintf(msg, sizeof(msg), "%s:%s: duplicate entry: \"%s\"", o->type, name,
                     (const char *)k->mv_data);
            wfn(wctx, msg);
        }
        rc = 0;
    }
    return rc;
}

/* LMDB's default key order: memcmp, then the shorter key first. */
static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al < bl ? -1 : al > bl);
}

struct build_ctx {
    const struct entries *es;
    const struct map_lmdb_build_opts *o;
    const char *name;
    MDB_env *old;      /* insert: the table to copy first, or NULL */
    MDB_dbi old_dbi;
    const char *const *delkeys; /* delete: keys to remove */
    size_t ndel;
    size_t deleted;
};

/* Copy every record of the old table (already in order: append). */
static int copy_old(MDB_txn *txn, MDB_dbi dbi, struct build_ctx *b)
{
    MDB_txn *rtxn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_txn_begin(b->old, NULL, MDB_RDONLY, &rtxn)) != 0)
        return rc;
    if ((rc = mdb_cursor_open(rtxn, b->old_dbi, &cur)) != 0) {
        mdb_txn_abort(rtxn);
        return rc;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if ((rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND)) != 0)
            break;
    mdb_cursor_close(cur);
    mdb_txn_abort(rtxn);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int fill_entries(MDB_txn *txn, MDB_dbi dbi, void *ctx, int attempt)
{
    struct build_ctx *b = ctx;
    const struct entries *es = b->es;
    int rc, sorted = (b->old == NULL);

    if (b->old && (rc = copy_old(txn, dbi, b)) != 0)
        return rc;
    for (size_t i = 1; sorted && i < es->n; i++) {
        const struct entry *p = &es->v[i - 1], *q = &es->v[i];
        sorted = key_cmp(es->arena.buf + p->koff, p->klen, es->arena.buf + q->koff, q->klen) < 0;
    }
    for (size_t i = 0; i < es->n; i++) {
        const struct entry *e = &es->v[i];
        MDB_val k = {e->klen, es->arena.buf + e->koff};
        MDB_val v = {e->vlen, es->arena.buf + e->voff};
        if (sorted)
            rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
        else
            rc = put_entry(txn, dbi, &k, &v, b->o, b->name, attempt == 0, es->warn, es->warn_ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int fill_delete(MDB_txn *txn, MDB_dbi dbi, void *ctx, int attempt)
{
    struct build_ctx *b = ctx;
    int rc;

    (void)attempt;
    if ((rc = copy_old(txn, dbi, b)) != 0)
        return rc;
    b->deleted = 0;
    for (size_t i = 0; i < b->ndel; i++) {
        /* Postfix tries the key with and without its NUL (postmap -n). */
        MDB_val k = {strlen(b->delkeys[i]) + 1, (void *)b->delkeys[i]};
        rc = k.mv_size <= LMDB_MAX_KEY ? mdb_del(txn, dbi, &k, NULL) : MDB_NOTFOUND;
        if (rc == MDB_NOTFOUND && k.mv_size > 1) {
            k.mv_size--;
            rc = mdb_del(txn, dbi, &k, NULL);
        }
        if (rc == 0)
            b->deleted++;
        else if (rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

/* Size the new map from the data it will hold: pages half full, at worst. */
static size_t estimate_mapsize(size_t data_bytes, size_t nentries)
{
    return 3 * (data_bytes + nentries * 16) + ((size_t)1 << 20);
}

static void writer_owner(struct writer *w, const struct map_lmdb_build_opts *o,
                         const struct stat *old)
{
    w->mode = o->mode >= 0 ? o->mode : (old ? (int)(old->st_mode & 07777) : 0644);
    w->uid = o->uid;
    w->gid = o->gid;
    if (w->uid == (uid_t)-1 && old && geteuid() == 0) {
        w->uid = old->st_uid; /* root rewriting someone's table keeps the owner */
        w->gid = old->st_gid;
    }
}

int map_lmdb_build(const char *name, const char *src, size_t srclen, const char *srcpath,
                   const struct map_lmdb_build_opts *o, struct map_err *err)
{
    struct entries es;
    struct writer w;
    int rc;

    if ((rc = entries_parse(&es, src, srclen, srcpath, o, err)) < 0)
        goto out;
    if ((rc = writer_begin(&w, name, estimate_mapsize(es.arena.len, es.n), err)) < 0)
        goto out;
    writer_owner(&w, o, NULL);
    struct build_ctx b = {.es = &es, .o = o, .name = name};
    if ((rc = writer_fill(&w, fill_entries, &b, err)) < 0) {
        writer_abort(&w);
        goto out;
    }
    rc = writer_commit(&w, err);
out:
    entries_free(&es);
    return rc;
}

/* Open the current NAME.lmdb for copying. */
static int old_open(const char *name, MDB_env **env, MDB_dbi *dbi, struct stat *st,
                    struct map_err *err)
{
    char *path = map_lmdb_path(name);
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_env_create(env)) == 0 &&
        (rc = mdb_env_open(*env, path, MDB_RDONLY | MDB_NOLOCK | MDB_NOSUBDIR, 0644)) == 0 &&
        (rc = mdb_txn_begin(*env, NULL, MDB_RDONLY, &txn)) == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, dbi);
        mdb_txn_abort(txn);
    }
    int fd;
    if (rc == 0 && (rc = mdb_env_get_fd(*env, &fd)) == 0 && fstat(fd, st) < 0)
        rc = errno;
    if (rc != 0) {
        map_err_set(err, "%s: %s", path, mdb_strerror(rc));
        mdb_env_close(*env);
        *env = NULL;
    }
    free(path);
    return rc == 0 ? 0 : lmdb_to_errno(rc);
}

/* Copy the old table into a new one, apply fill's changes, rename. */
static int modify(const char *name, fill_fn fill, struct build_ctx *b, size_t extra_bytes,
                  const struct map_lmdb_build_opts *o, struct map_err *err)
{
    struct writer w;
    struct stat st;
    int rc;

    /* Lock first, then read the old table: no concurrent change is lost. */
    if ((rc = writer_begin(&w, name, 0, err)) < 0)
        return rc;
    if ((rc = old_open(name, &b->old, &b->old_dbi, &st, err)) < 0) {
        writer_abort(&w);
        return rc;
    }
    size_t want = 2 * (size_t)st.st_size + extra_bytes;
    if (want > w.mapsize && mdb_env_set_mapsize(w.env, want) == 0)
        w.mapsize = want;
    writer_owner(&w, o, &st);
    rc = writer_fill(&w, fill, b, err);
    mdb_env_close(b->old);
    b->old = NULL;
    if (rc < 0 || (fill == fill_delete && b->deleted == 0)) {
        writer_abort(&w); /* nothing deleted: leave the file as it is */
        return rc;
    }
    return writer_commit(&w, err);
}

int map_lmdb_insert(const char *name, const char *src, size_t srclen, const char *srcpath,
                    const struct map_lmdb_build_opts *o, struct map_err *err)
{
    struct entries es;
    int rc;

    if ((rc = entries_parse(&es, src, srclen, srcpath, o, err)) == 0) {
        struct build_ctx b = {.es = &es, .o = o, .name = name};
        rc = modify(name, fill_entries, &b, estimate_mapsize(es.arena.len, es.n), o, err);
    }
    entries_free(&es);
    return rc;
}

int map_lmdb_delete(const char *name, const char *const *keys, size_t nkeys,
                    const struct map_lmdb_build_opts *o, struct map_err *err)
{
    struct build_ctx b = {.o = o, .name = name, .delkeys = keys, .ndel = nkeys};
    int rc = modify(name, fill_delete, &b, 0, o, err);
    return rc < 0 ? rc : (int)b.deleted;
}
