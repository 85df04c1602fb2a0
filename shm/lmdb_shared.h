/*
 * lmdb_shared.h - a read-write LMDB environment that every process opens
 * on its own (the caches: postscreen_cache_map, smtp_tls_session_cache_database).
 *
 * One file NAME.lmdb (MDB_NOSUBDIR), one unnamed database, MDB_NOSYNC (a
 * cache may lose its last writes in a crash, never its consistency),
 * MDB_NOTLS with one read transaction per process that is reset between
 * reads and renewed at the next. The map starts at a given size and grows
 * by doubling up to a limit when a write finds it full; a process follows
 * a map another process has grown (MDB_MAP_RESIZED). Reader slots of
 * processes that died in a read are cleared at open.
 *
 * Functions return LMDB's codes (0, MDB_*, or errno values) except where
 * said; lmdb_shared_err() turns one into -errno for the callers' callers.
 */
#ifndef MX_LMDB_SHARED_H
#define MX_LMDB_SHARED_H

#include <lmdb.h>
#include <stddef.h>

struct lmdb_shared {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rtxn; /* reset between reads, renewed at the next */
    size_t mapsize, mapmax;
    const char *what; /* "cache", "TLS session cache": in the growth warning */
    char *path;       /* NAME.lmdb */
};

/* "[proxy:]btree|hash|lmdb:NAME" -> NAME, or NULL for another type. */
const char *lmdb_shared_ref_name(const char *ref);

/* Open NAME.lmdb (created with mode). On failure err says
 * "open PATH: reason" and the struct is left closed; returns -errno. */
int lmdb_shared_open(struct lmdb_shared *s, const char *name, size_t mapsize, size_t mapmax,
                     int mode, const char *what, char *err, size_t errsize);
void lmdb_shared_close(struct lmdb_shared *s);

/* Begin a transaction / renew the read one, following a grown map. */
int lmdb_shared_txn_begin(struct lmdb_shared *s, unsigned flags, MDB_txn **txn);
int lmdb_shared_renew_read(struct lmdb_shared *s);

/* One write transaction running fn (which returns 0 to commit, else its
 * code to abort), redone after each growth of a full map. */
int lmdb_shared_write(struct lmdb_shared *s, int (*fn)(struct lmdb_shared *, MDB_txn *, void *),
                      void *arg);

/* An LMDB code as -errno: MDB_NOTFOUND -ENOENT, other LMDB codes -EIO. */
int lmdb_shared_err(int rc);

#endif
