/*
 * maps_lmdb.h - hash:, btree: and lmdb: tables: LMDB files NAME.lmdb.
 *
 * All three types are the same file format as Postfix's lmdb: tables: a
 * single-file environment (MDB_NOSUBDIR), the unnamed database, key and
 * value each stored with a trailing NUL byte. A table built by Postfix's
 * "postmap lmdb:FILE" is read here, and ours are read by Postfix.
 *
 * Readers (maps_lmdb.c) open the file read-only and without LMDB's lock
 * file; writers (maps_lmdb_build.c) never modify a file that readers may
 * have open: every change (build, insert, delete) writes a new file
 * NAME.lmdb.tmp.PID, syncs it and renames it over NAME.lmdb. On any error
 * the old NAME.lmdb stays and the temporary file is removed.
 */
#ifndef MX_MAPS_LMDB_H
#define MX_MAPS_LMDB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "maps.h"

/* The file descriptors of the LMDB environments open in this process:
 * up to max of them into out; returns how many there are. A process that
 * forks and then closes the descriptors it does not need (the master's
 * children) must keep these: the child's tables still own them, and
 * mdb_env_close() at the child's next refresh would otherwise close
 * whatever reused the number (an io_uring, a socket). */
size_t map_lmdb_fds(int *out, size_t max);

/* Run the refresh check of every hash:/btree:/lmdb: table open in this
 * process now: a table whose file was replaced (new inode, or new mtime)
 * is reopened and the old environment closed - its descriptor and its
 * mapping, so the old file's blocks and cached pages can go. For a
 * process that never looks its tables up (map_lookup() is where tables
 * refresh otherwise): the master. Returns how many were reopened. */
size_t map_lmdb_refresh_all(void);

/* For an event loop: map_lmdb_refresh_all() when one is due, at most every
 * MAP_REFRESH_INTERVAL_MS (once per process, whatever the caller), and
 * *next lowered to when the next one is due (absolute, the CLOCK_MONOTONIC
 * milliseconds of now; -1 in *next means none yet). Nothing at all while
 * no such table is open. Every process that holds tables calls it from its
 * loop (master, workers, frontends, queue runner): one that never looks a
 * table up would otherwise keep a rebuilt file's old inode mapped. */
void map_lmdb_refresh_due(int64_t now, int64_t *next);

/* The same for a loop that waits up to wait_ms (-1: no limit): returns
 * wait_ms, lowered to the time left until the next refresh is due. */
int64_t map_lmdb_refresh_wait(int64_t now, int64_t wait_ms);

/* What to do with a key that is already present (postmap -w / -r). */
enum map_lmdb_dup {
    MAP_LMDB_DUP_WARN,    /* keep the first value, warn (postmap default) */
    MAP_LMDB_DUP_IGNORE,  /* keep the first value silently (-w) */
    MAP_LMDB_DUP_REPLACE, /* the last value wins (-r) */
};

struct map_lmdb_build_opts {
    const char *type;         /* "hash", "btree" or "lmdb": for messages */
    unsigned source_flags;    /* enum map_source_flags (fold, utf8) */
    enum map_lmdb_dup dup;
    int mode;                 /* file mode of a new table, e.g. 0644; -1: keep/0644 */
    uid_t uid;                /* owner to give the new file, or (uid_t)-1 */
    gid_t gid;
    /* Warnings without program name; NULL: log_warn(). */
    void (*warn)(void *ctx, const char *msg);
    void *warn_ctx;
};

/*
 * Build NAME.lmdb from source text src[0..srclen) (srcpath for messages),
 * replacing any previous table atomically. 0 or -errno with err filled.
 */
int map_lmdb_build(const char *name, const char *src, size_t srclen, const char *srcpath,
                   const struct map_lmdb_build_opts *o, struct map_err *err);

/*
 * Add the entries of source text src (postmap -i) to the existing
 * NAME.lmdb: copy, modify, rename. 0 or -errno.
 */
int map_lmdb_insert(const char *name, const char *src, size_t srclen, const char *srcpath,
                    const struct map_lmdb_build_opts *o, struct map_err *err);

/*
 * Delete keys (already folded by the caller if the table folds) from
 * NAME.lmdb: copy, modify, rename; nothing is written when no key is
 * present. Returns the number of keys deleted (>= 0) or -errno.
 */
int map_lmdb_delete(const char *name, const char *const *keys, size_t nkeys,
                    const struct map_lmdb_build_opts *o, struct map_err *err);

/*
 * Call fn for every entry of an opened hash/btree/lmdb table in key order
 * (postmap -s). Returns 0, -errno, or fn's first nonzero result.
 */
int map_lmdb_foreach(struct map *m,
                     int (*fn)(void *ctx, const char *key, size_t keylen, const char *value,
                               size_t valuelen),
                     void *ctx);

/* Whether m is a hash:, btree: or lmdb: table. */
int map_is_lmdb(const struct map *m);

/* "NAME.lmdb", malloc'ed. */
char *map_lmdb_path(const char *name);

#endif
