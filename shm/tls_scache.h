/*
 * tls_scache.h - smtp_tls_session_cache_database: the next-hop TLS session
 * cache shared by every process that delivers (workers in proxy delivery,
 * the queue runner), in Postfix's tls_scache record format.
 *
 * Record: key = a session id made by the caller (the server and what was
 * asked of it) with a trailing NUL, as Postfix's dict_lmdb stores keys;
 * value = Postfix's TLS_SCACHE_ENTRY in upper-case hex with a trailing NUL:
 * the time the session was saved (8 bytes, little endian: time_t on the
 * 64-bit machines Postfix runs on) followed by the session's DER bytes.
 * An entry older than smtp_tls_session_cache_timeout is dropped when it is
 * read (tls_scache_lookup) and by the sweep, as Postfix's
 * tls_scache_decode() does.
 *
 * Pure (tls_scache_encode/_decode): outside input is the file's value,
 * which any process (or an old Postfix) may have written: decode checks
 * the hex, the length and the size of the caller's buffer and never reads
 * past len.
 *
 * Store: one LMDB environment NAME.lmdb (+ NAME.lmdb-lock) for the map
 * names btree:NAME, hash:NAME or lmdb:NAME ("proxy:" accepted and
 * ignored), opened by each process itself AFTER fork, read-write, writes
 * without fsync (MDB_NOSYNC: a machine crash may lose sessions, which only
 * costs a full handshake). Unlike Postfix's tlsmgr, the file is not
 * emptied at start: LMDB needs no such protection, and sessions survive a
 * restart of the runner. The map doubles when full.
 *
 * Sweep: tls_scache_sweep_step() examines at most `batch` records per
 * call (one read transaction, then one write transaction that deletes
 * the expired ones after checking them again), so a caller's event loop is
 * never held long. Keys starting with '_' are left alone.
 *
 * Errors: 1 found / 0 not found / 0 done, or -errno; LMDB errors become
 * -EIO; open() fills err.
 */
#ifndef MX_TLS_SCACHE_H
#define MX_TLS_SCACHE_H

#include <stddef.h>
#include <stdint.h>

#define TLS_SCACHE_STAMP 8          /* bytes of the saved time */
#define TLS_SCACHE_ID_MAX 400       /* longest session id, NUL excluded */

/* The value for a session saved at `now`: hex of stamp + der, NUL
 * terminated. Returns the length (NUL excluded) or -ENOSPC. */
long tls_scache_encode(int64_t now, const void *der, size_t len, char *out, size_t cap);

enum tls_scache_decode {
    TLS_SCACHE_OK,        /* *stamp and out[0..*outlen) set */
    TLS_SCACHE_MALFORMED, /* not hex, odd length, shorter than the stamp */
    TLS_SCACHE_TOO_BIG,   /* the session does not fit in cap */
};
/* A stored value buf[0..len) (a NUL ends it early). */
enum tls_scache_decode tls_scache_decode(const char *buf, size_t len, int64_t *stamp,
                                         unsigned char *out, size_t cap, size_t *outlen);
/* Postfix's rule: expired when stamp + timeout < now. */
int tls_scache_expired(int64_t stamp, int64_t now, long timeout);

struct tls_scache;

/* ref: "btree:/var/lib/mxscreen/smtp_scache"; timeout: seconds
 * (smtp_tls_session_cache_timeout). */
int tls_scache_open(const char *ref, long timeout, struct tls_scache **out, char *err,
                    size_t errsize);
void tls_scache_close(struct tls_scache *c);
const char *tls_scache_path(const struct tls_scache *c);

/* 1 found and fresh (out[0..*outlen)), 0 not found; an expired or
 * malformed entry is deleted and reads as 0. -errno. */
int tls_scache_lookup(struct tls_scache *c, const char *id, int64_t now, unsigned char *out,
                      size_t cap, size_t *outlen);
int tls_scache_update(struct tls_scache *c, const char *id, const void *der, size_t len,
                      int64_t now);
/* 1 deleted, 0 not there, -errno. */
int tls_scache_delete(struct tls_scache *c, const char *id);

#define TLS_SCACHE_SWEEP_BATCH_MAX 128
struct tls_scache_sweep {
    char resume[TLS_SCACHE_ID_MAX + 1]; /* first key of the next batch; "" = start */
    int running;
    unsigned retained, dropped;         /* of the pass so far */
    unsigned ndel;
    char del[TLS_SCACHE_SWEEP_BATCH_MAX][TLS_SCACHE_ID_MAX + 1];
};
/* Examine up to batch records. 1: more to do, 0: the pass is complete (the
 * counts stay in sw until the next pass starts), -errno. */
int tls_scache_sweep_step(struct tls_scache *c, struct tls_scache_sweep *sw, int64_t now,
                          unsigned batch);

#endif
