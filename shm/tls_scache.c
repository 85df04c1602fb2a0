/*
 * tls_scache.c - smtp_tls_session_cache_database: Postfix's tls_scache
 * entry format and the LMDB environment shared by the processes that
 * deliver (see tls_scache.h).
 *
 * The value is Postfix's hex_encode() of TLS_SCACHE_ENTRY: upper-case hex
 * digits, two per byte; decode also takes lower case, as Postfix's
 * hex_decode() does. Deletions of expired entries are checked again inside
 * the write transaction: another process may have saved a fresh session
 * under the same id since the entry was read (Postfix's delete-behind
 * assumes a single updater, tlsmgr; here every delivering process writes).
 */
#include "tls_scache.h"
#include "lmdb_shared.h"
#include "log.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- entry format ------------------------------------------------------------- */

long tls_scache_encode(int64_t now, const void *der, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len > (SIZE_MAX - 1) / 2 - TLS_SCACHE_STAMP || cap < 2 * (TLS_SCACHE_STAMP + len) + 1)
        return -ENOSPC;
    uint64_t t = (uint64_t)now;
    size_t o = 0;
    for (int i = 0; i < TLS_SCACHE_STAMP; i++) {
        unsigned b = (unsigned)(t >> (8 * i)) & 0xff;
        out[o++] = hex[b >> 4];
        out[o++] = hex[b & 15];
    }
    const unsigned char *p = der;
    for (size_t i = 0; i < len; i++) {
        out[o++] = hex[p[i] >> 4];
        out[o++] = hex[p[i] & 15];
    }
    out[o] = '\0';
    return (long)o;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

enum tls_scache_decode tls_scache_decode(const char *buf, size_t len, int64_t *stamp,
                                         unsigned char *out, size_t cap, size_t *outlen)
{
    const char *nul = memchr(buf, '\0', len);
    if (nul)
        len = (size_t)(nul - buf);
    if (len % 2 || len < 2 * TLS_SCACHE_STAMP)
        return TLS_SCACHE_MALFORMED;
    size_t n = len / 2 - TLS_SCACHE_STAMP;
    uint64_t t = 0;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = nibble(buf[2 * i]), lo = nibble(buf[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return TLS_SCACHE_MALFORMED;
        unsigned b = (unsigned)(hi << 4 | lo);
        if (i < TLS_SCACHE_STAMP)
            t |= (uint64_t)b << (8 * i);
        else if (n <= cap)
            out[i - TLS_SCACHE_STAMP] = (unsigned char)b;
    }
    if (n > cap)
        return TLS_SCACHE_TOO_BIG;
    *stamp = (int64_t)t;
    *outlen = n;
    return TLS_SCACHE_OK;
}

int tls_scache_expired(int64_t stamp, int64_t now, long timeout)
{
    /* Postfix: entry->timestamp + cp->timeout < now. A stamp far in the
     * future (a clock set back, or garbage) must not live forever: it is
     * taken as expired when it lies more than timeout ahead, and so is a
     * negative one (before the epoch: garbage). */
    if (stamp < 0 || stamp > now + timeout)
        return 1;
    return stamp + timeout < now;
}

/* ---- the store ---------------------------------------------------------------- */

#define MAPSIZE_DEFAULT ((size_t)16 << 20)
#define MAPSIZE_MAX ((size_t)1 << 36)
/* A session with its hex: OpenSSL's TLS 1.3 tickets are a few KiB at most. */
#define SESSION_MAX 16384
#define VALUE_MAX (2 * (TLS_SCACHE_STAMP + SESSION_MAX) + 1)

struct tls_scache {
    struct lmdb_shared db;
    long timeout;
};

const char *tls_scache_path(const struct tls_scache *c)
{
    return c->db.path;
}

int tls_scache_open(const char *ref, long timeout, struct tls_scache **out, char *err,
                    size_t errsize)
{
    const char *name = ref ? lmdb_shared_ref_name(ref) : NULL;
    *out = NULL;
    if (!name) {
        snprintf(err, errsize, "smtp_tls_session_cache_database \"%s\": unsupported map type "
                 "(use btree:, hash: or lmdb:)", ref ? ref : "");
        return -EINVAL;
    }
    struct tls_scache *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errsize, "out of memory");
        return -ENOMEM;
    }
    c->timeout = timeout;
    int rc = lmdb_shared_open(&c->db, name, MAPSIZE_DEFAULT, MAPSIZE_MAX, 0600, "TLS session cache",
                              err, errsize);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void tls_scache_close(struct tls_scache *c)
{
    if (!c)
        return;
    lmdb_shared_close(&c->db);
    free(c);
}

static int id_ok(const char *id)
{
    size_t n = strlen(id);
    return n > 0 && n <= TLS_SCACHE_ID_MAX && id[0] != '_';
}

/* Whether a stored value should go: expired or unreadable. */
static int stale(const struct tls_scache *c, const MDB_val *v, int64_t now)
{
    int64_t stamp;
    size_t n;
    static unsigned char scratch[SESSION_MAX];
    enum tls_scache_decode d = tls_scache_decode(v->mv_data, v->mv_size, &stamp, scratch,
                                                 sizeof(scratch), &n);
    return d != TLS_SCACHE_OK || tls_scache_expired(stamp, now, c->timeout);
}

struct del_arg {
    const struct tls_scache *c;
    const char *const *ids;
    unsigned n;
    int64_t now;
    int check;          /* delete only what is still stale */
    unsigned deleted, kept;
};

static int del_fn(struct lmdb_shared *db, MDB_txn *txn, void *arg)
{
    struct del_arg *a = arg;
    for (unsigned i = 0; i < a->n; i++) {
        MDB_val k = {strlen(a->ids[i]) + 1, (void *)a->ids[i]}, v;
        int rc = mdb_get(txn, db->dbi, &k, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0)
            return rc;
        if (a->check && !stale(a->c, &v, a->now)) {
            a->kept++;
            continue;
        }
        if ((rc = mdb_del(txn, db->dbi, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
            return rc;
        a->deleted++;
    }
    return 0;
}

int tls_scache_lookup(struct tls_scache *c, const char *id, int64_t now, unsigned char *out,
                      size_t cap, size_t *outlen)
{
    if (!id_ok(id))
        return 0;
    MDB_val k = {strlen(id) + 1, (void *)id}, v;
    int rc = lmdb_shared_renew_read(&c->db);
    if (rc != 0)
        return lmdb_shared_err(rc);
    rc = mdb_get(c->db.rtxn, c->db.dbi, &k, &v);
    int found = 0;
    if (rc == 0) {
        int64_t stamp;
        enum tls_scache_decode d = tls_scache_decode(v.mv_data, v.mv_size, &stamp, out, cap,
                                                     outlen);
        if (d == TLS_SCACHE_MALFORMED)
            log_warn("%s: malformed TLS session cache entry for %s", c->db.path, id);
        found = d == TLS_SCACHE_OK && !tls_scache_expired(stamp, now, c->timeout) ? 1 : -1;
    }
    mdb_txn_reset(c->db.rtxn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_shared_err(rc);
    if (found < 0) {
        const char *ids[1] = {id};
        struct del_arg a = {c, ids, 1, now, 1, 0, 0};
        (void)lmdb_shared_write(&c->db, del_fn, &a); /* best effort: the sweep retries */
        return 0;
    }
    return found;
}

struct put_arg {
    MDB_val k, v;
};

static int put_fn(struct lmdb_shared *db, MDB_txn *txn, void *arg)
{
    struct put_arg *p = arg;
    return mdb_put(txn, db->dbi, &p->k, &p->v, 0);
}

int tls_scache_update(struct tls_scache *c, const char *id, const void *der, size_t len,
                      int64_t now)
{
    if (!id_ok(id) || len == 0 || len > SESSION_MAX)
        return -EINVAL;
    char *val = malloc(VALUE_MAX);
    if (!val)
        return -ENOMEM;
    long n = tls_scache_encode(now, der, len, val, VALUE_MAX);
    int rc = -ENOSPC;
    if (n > 0) {
        struct put_arg p = {{strlen(id) + 1, (void *)id}, {(size_t)n + 1, val}};
        rc = lmdb_shared_write(&c->db, put_fn, &p);
        rc = rc == 0 ? 0 : lmdb_shared_err(rc);
    }
    free(val);
    return rc;
}

int tls_scache_delete(struct tls_scache *c, const char *id)
{
    if (!id_ok(id))
        return 0;
    const char *ids[1] = {id};
    struct del_arg a = {c, ids, 1, 0, 0, 0, 0};
    int rc = lmdb_shared_write(&c->db, del_fn, &a);
    if (rc != 0)
        return lmdb_shared_err(rc);
    return a.deleted ? 1 : 0;
}

int tls_scache_sweep_step(struct tls_scache *c, struct tls_scache_sweep *sw, int64_t now,
                          unsigned batch)
{
    if (batch == 0 || batch > TLS_SCACHE_SWEEP_BATCH_MAX)
        batch = TLS_SCACHE_SWEEP_BATCH_MAX;
    if (!sw->running) {
        sw->resume[0] = '\0';
        sw->retained = sw->dropped = 0;
        sw->running = 1;
    }
    sw->ndel = 0;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = lmdb_shared_renew_read(&c->db);
    if (rc != 0)
        return lmdb_shared_err(rc);
    if ((rc = mdb_cursor_open(c->db.rtxn, c->db.dbi, &cur)) != 0) {
        mdb_txn_reset(c->db.rtxn);
        return lmdb_shared_err(rc);
    }
    if (sw->resume[0]) {
        k = (MDB_val){strlen(sw->resume) + 1, sw->resume};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    unsigned seen = 0;
    for (; rc == 0 && seen < batch; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        seen++;
        const char *key = k.mv_data;
        size_t klen = k.mv_size;
        if (klen > 0 && key[klen - 1] == '\0')
            klen--;
        /* keys that are not ours to judge (too long, empty, '_' stamps),
         * and a key with a NUL inside, which no id can name */
        if (klen == 0 || klen > TLS_SCACHE_ID_MAX || key[0] == '_' || memchr(key, '\0', klen)) {
            sw->retained++;
            continue;
        }
        if (!stale(c, &v, now)) {
            sw->retained++;
            continue;
        }
        memcpy(sw->del[sw->ndel], key, klen);
        sw->del[sw->ndel][klen] = '\0';
        sw->ndel++;
    }
    int more = rc == 0; /* stopped at the batch limit: k is the next key */
    if (more) {
        size_t klen = k.mv_size;
        if (klen > 0 && ((const char *)k.mv_data)[klen - 1] == '\0')
            klen--;
        if (klen > TLS_SCACHE_ID_MAX)
            klen = TLS_SCACHE_ID_MAX; /* a prefix sorts before the key */
        memcpy(sw->resume, k.mv_data, klen);
        sw->resume[klen] = '\0';
        /* a key with a NUL inside would stop the copy short: still a
         * prefix, still sorts before it */
    }
    mdb_cursor_close(cur);
    mdb_txn_reset(c->db.rtxn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_shared_err(rc);
    if (sw->ndel) {
        const char *ids[TLS_SCACHE_SWEEP_BATCH_MAX];
        for (unsigned i = 0; i < sw->ndel; i++)
            ids[i] = sw->del[i];
        struct del_arg a = {c, ids, sw->ndel, now, 1, 0, 0};
        if ((rc = lmdb_shared_write(&c->db, del_fn, &a)) != 0)
            return lmdb_shared_err(rc);
        sw->dropped += a.deleted;
        sw->retained += a.kept;
    }
    if (more)
        return 1;
    sw->running = 0;
    return 0;
}
