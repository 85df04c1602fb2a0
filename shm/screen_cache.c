/*
 * screen_cache.c - postscreen_cache_map: Postfix's cache record format and
 * the LMDB environment shared by every process (see screen_cache.h).
 *
 * Value parsing follows Postfix 3.7's psc_parse_tests() field by field:
 * each of the five fields is read as strtoul() reads it and taken when it
 * is followed by ';' or the end; otherwise it is DISABLED, and because
 * Postfix then does not move past the bad text, every later field is
 * DISABLED too. An empty field before a ';' reads as 0 (NEW), an empty
 * field at the end as DISABLED (missing fields of records written by older
 * versions), fields after the fifth are ignored.
 * Deliberate differences, for outside input: a field must be plain digits
 * (strtoul would also skip white space and accept a sign, so "-1" would
 * become a stamp that never expires), and a number beyond INT64_MAX is
 * DISABLED (in Postfix it wraps to a negative time, i.e. also expired).
 */
#include "screen_cache.h"
#include "lmdb_shared.h"
#include "log.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- stamps ------------------------------------------------------------------ */

const char *screen_test_name(enum screen_test t)
{
    static const char *const names[SCREEN_NTESTS] = {"pregreet", "dnsbl", "pipelining",
                                                      "non-smtp", "bare newline"};
    return (unsigned)t < SCREEN_NTESTS ? names[t] : "unknown";
}

unsigned screen_tests_enabled(const char *greet_banner, size_t ndnsbl_sites, bool pipelining,
                              bool non_smtp, bool bare_newline)
{
    unsigned m = 0;
    if (greet_banner && *greet_banner)
        m |= SCREEN_BIT(SCREEN_TEST_PREGR);
    if (ndnsbl_sites)
        m |= SCREEN_BIT(SCREEN_TEST_DNSBL);
    if (pipelining)
        m |= SCREEN_BIT(SCREEN_TEST_PIPEL);
    if (non_smtp)
        m |= SCREEN_BIT(SCREEN_TEST_NSMTP);
    if (bare_newline)
        m |= SCREEN_BIT(SCREEN_TEST_BARLF);
    return m;
}

void screen_stamps_new(struct screen_stamps *s)
{
    for (int i = 0; i < SCREEN_NTESTS; i++)
        s->t[i] = SCREEN_STAMP_NEW;
}

enum screen_parse screen_stamps_parse(const char *buf, size_t len, struct screen_stamps *out)
{
    const char *nul = memchr(buf, '\0', len);
    if (nul)
        len = (size_t)(nul - buf);
    size_t pos = 0;
    enum screen_parse res = SCREEN_PARSE_OK;

    for (int i = 0; i < SCREEN_NTESTS; i++) {
        size_t start = pos, end = pos;
        uint64_t v = 0;
        int overflow = 0;
        while (end < len && buf[end] >= '0' && buf[end] <= '9') {
            unsigned d = (unsigned)(buf[end] - '0');
            if (v > ((uint64_t)INT64_MAX - d) / 10)
                overflow = 1;
            else
                v = v * 10 + d;
            end++;
        }
        /* strtoul's end pointer: back at start when no digit was read. */
        size_t cp = end > start ? end : start;
        int at_end = cp >= len;
        if (start >= len || (!at_end && buf[cp] != ';') || overflow) {
            out->t[i] = SCREEN_STAMP_DISABLED;
            res = SCREEN_PARSE_PARTIAL;
        } else {
            out->t[i] = (int64_t)v;
        }
        pos = !at_end && buf[cp] == ';' ? cp + 1 : cp;
    }
    return res;
}

unsigned screen_stamps_todo(const struct screen_stamps *s, unsigned enabled, int64_t now)
{
    unsigned todo = 0;
    for (int i = 0; i < SCREEN_NTESTS; i++)
        if ((enabled & SCREEN_BIT(i)) && now > s->t[i])
            todo |= SCREEN_BIT(i);
    return todo;
}

bool screen_stamps_is_new(const struct screen_stamps *s)
{
    for (int i = 0; i < SCREEN_NTESTS; i++)
        if (s->t[i] == SCREEN_STAMP_NEW)
            return true;
    return false;
}

int screen_stamps_format(struct screen_stamps *s, unsigned enabled, char *buf, size_t size)
{
    for (int i = 0; i < SCREEN_NTESTS; i++)
        if (!(enabled & SCREEN_BIT(i)) && s->t[i] == SCREEN_STAMP_NEW)
            s->t[i] = SCREEN_STAMP_DISABLED;
    /* Postfix prints (unsigned long) time_t; a negative stamp never comes
     * from our parser, and is written as 1 (DISABLED) rather than wrapped. */
    unsigned long long v[SCREEN_NTESTS];
    for (int i = 0; i < SCREEN_NTESTS; i++)
        v[i] = s->t[i] < 0 ? SCREEN_STAMP_DISABLED : (unsigned long long)s->t[i];
    int n = snprintf(buf, size, "%llu;%llu;%llu;%llu;%llu", v[0], v[1], v[2], v[3], v[4]);
    if (n < 0 || (size_t)n >= size)
        return -ENOSPC;
    return n;
}

bool screen_stamps_keep(const struct screen_stamps *s, unsigned enabled, int64_t now,
                        int64_t retention)
{
    return screen_stamps_todo(s, enabled, now - retention) == 0;
}

void screen_stamps_allowlist(struct screen_stamps *s, int64_t now, uint32_t ttl)
{
    for (int i = 0; i < SCREEN_NTESTS; i++)
        if (i != SCREEN_TEST_DNSBL && s->t[i] < now + (int64_t)ttl)
            s->t[i] = now + (int64_t)ttl;
}

/* ---- the store ------------------------------------------------------------------ */

#define LAST_CLEANUP_KEY "_LAST_CACHE_CLEANUP_COMPLETED_"
#define MAPSIZE_DEFAULT ((size_t)16 << 20)
#define MAPSIZE_MAX ((size_t)1 << 40)

struct screen_cache {
    struct lmdb_shared db;
    char *ref;
};

const char *screen_cache_path(const struct screen_cache *c)
{
    return c->db.path;
}

int screen_cache_open(const char *ref, const struct screen_cache_opts *o, struct screen_cache **out,
                      char *err, size_t errsize)
{
    const char *name = ref ? lmdb_shared_ref_name(ref) : NULL;
    if (!name) {
        snprintf(err, errsize, "postscreen_cache_map \"%s\": unsupported map type (use btree:, "
                 "hash: or lmdb:)", ref ? ref : "");
        return -EINVAL;
    }
    struct screen_cache *c = calloc(1, sizeof(*c));
    if (!c || !(c->ref = strdup(ref))) {
        free(c);
        snprintf(err, errsize, "out of memory");
        return -ENOMEM;
    }
    int rc = lmdb_shared_open(&c->db, name, o && o->map_size ? o->map_size : MAPSIZE_DEFAULT,
                              MAPSIZE_MAX, o && o->mode ? o->mode : 0600, "cache", err, errsize);
    if (rc < 0) {
        free(c->ref);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void screen_cache_close(struct screen_cache *c)
{
    if (!c)
        return;
    lmdb_shared_close(&c->db);
    free(c->ref);
    free(c);
}

static MDB_val key_of(const char *addr)
{
    MDB_val k = {strlen(addr) + 1, (void *)addr};
    return k;
}

int screen_cache_lookup(struct screen_cache *c, const char *addr, struct screen_stamps *out)
{
    MDB_val k = key_of(addr), v;
    if (k.mv_size < 2 || k.mv_size > 64)
        return 0;
    int rc = lmdb_shared_renew_read(&c->db);
    if (rc != 0)
        return lmdb_shared_err(rc);
    rc = mdb_get(c->db.rtxn, c->db.dbi, &k, &v);
    if (rc == 0)
        screen_stamps_parse(v.mv_data, v.mv_size, out);
    mdb_txn_reset(c->db.rtxn);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc == 0 ? 1 : lmdb_shared_err(rc);
}

struct put_arg {
    MDB_val k, v;
};

static int put_fn(struct lmdb_shared *db, MDB_txn *txn, void *arg)
{
    struct put_arg *p = arg;
    return mdb_put(txn, db->dbi, &p->k, &p->v, 0);
}

static int put(struct screen_cache *c, const char *key, const char *val)
{
    struct put_arg p = {key_of(key), {strlen(val) + 1, (void *)val}};
    return lmdb_shared_write(&c->db, put_fn, &p);
}

int screen_cache_update(struct screen_cache *c, const char *addr, struct screen_stamps *s,
                        unsigned enabled)
{
    char val[SCREEN_VALUE_MAX];
    size_t n = strlen(addr);
    if (n == 0 || n > 63 || addr[0] == '_')
        return -EINVAL;
    if (screen_stamps_format(s, enabled, val, sizeof(val)) < 0)
        return -ENOSPC;
    int rc = put(c, addr, val);
    return rc == 0 ? 0 : lmdb_shared_err(rc);
}

static int del_fn(struct lmdb_shared *db, MDB_txn *txn, void *arg)
{
    MDB_val k = key_of(arg);
    return mdb_del(txn, db->dbi, &k, NULL);
}

int screen_cache_delete(struct screen_cache *c, const char *addr)
{
    size_t n = strlen(addr);
    if (n == 0 || n > 63)
        return 0;
    int rc = lmdb_shared_write(&c->db, del_fn, (void *)addr);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc == 0 ? 1 : lmdb_shared_err(rc);
}

/* ---- sweep --------------------------------------------------------------------- */

static int64_t last_cleanup(struct screen_cache *c)
{
    MDB_val k = key_of(LAST_CLEANUP_KEY), v;
    int64_t t = -1;
    if (lmdb_shared_renew_read(&c->db) != 0)
        return -1;
    if (mdb_get(c->db.rtxn, c->db.dbi, &k, &v) == 0) {
        char buf[32];
        size_t n = v.mv_size < sizeof(buf) - 1 ? v.mv_size : sizeof(buf) - 1;
        memcpy(buf, v.mv_data, n);
        buf[n] = '\0';
        char *end;
        long long x = strtoll(buf, &end, 10);
        if (end != buf && x >= 0)
            t = x;
    }
    mdb_txn_reset(c->db.rtxn);
    return t;
}

int screen_cache_sweep_due(struct screen_cache *c, int64_t now, int64_t interval)
{
    if (interval <= 0)
        return 0;
    int64_t last = last_cleanup(c);
    return last < 0 || now - last >= interval;
}

struct sweep_arg {
    struct screen_sweep *sw;
    unsigned n;
    unsigned enabled;
    int64_t now, retention;
};

/* Delete the batch's expired records, each checked again: another process
 * may have renewed it since the read transaction saw it. */
static int sweep_del_fn(struct lmdb_shared *db, MDB_txn *txn, void *arg)
{
    struct sweep_arg *a = arg;
    for (unsigned i = 0; i < a->n; i++) {
        MDB_val k = key_of(a->sw->del[i]), v;
        int rc = mdb_get(txn, db->dbi, &k, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0)
            return rc;
        struct screen_stamps s;
        screen_stamps_parse(v.mv_data, v.mv_size, &s);
        if (screen_stamps_keep(&s, a->enabled, a->now, a->retention)) {
            a->sw->retained++;
            continue;
        }
        if ((rc = mdb_del(txn, db->dbi, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
            return rc;
        a->sw->dropped++;
    }
    return 0;
}

int screen_cache_sweep_step(struct screen_cache *c, struct screen_sweep *sw, unsigned enabled,
                            int64_t now, int64_t retention, unsigned batch)
{
    if (batch == 0 || batch > SCREEN_SWEEP_BATCH_MAX)
        batch = SCREEN_SWEEP_BATCH_MAX;
    if (!sw->running) {
        sw->resume[0] = '\0';
        sw->retained = sw->dropped = 0;
        sw->running = 1;
    }
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
        k = key_of(sw->resume);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    struct sweep_arg a = {sw, 0, enabled, now, retention};
    unsigned seen = 0;
    for (; rc == 0 && seen < batch; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        seen++;
        const char *key = k.mv_data;
        size_t klen = k.mv_size;
        if (klen > 0 && key[klen - 1] == '\0')
            klen--;
        /* The cleanup stamp, and keys no address can be (not ours to judge
         * but too long to remember): kept. */
        if ((klen > 0 && key[0] == '_') || klen == 0 || klen > 63) {
            if (klen == 0 || klen > 63)
                sw->retained++;
            continue;
        }
        struct screen_stamps s;
        screen_stamps_parse(v.mv_data, v.mv_size, &s);
        if (screen_stamps_keep(&s, enabled, now, retention)) {
            sw->retained++;
            continue;
        }
        memcpy(sw->del[a.n], key, klen);
        sw->del[a.n][klen] = '\0';
        a.n++;
    }
    int more = rc == 0; /* stopped at the batch limit, k is the next key */
    if (more) {
        size_t klen = k.mv_size;
        if (klen > 0 && ((const char *)k.mv_data)[klen - 1] == '\0')
            klen--;
        if (klen > sizeof(sw->resume) - 1)
            klen = sizeof(sw->resume) - 1; /* a prefix sorts before the key */
        memcpy(sw->resume, k.mv_data, klen);
        sw->resume[klen] = '\0';
    }
    mdb_cursor_close(cur);
    mdb_txn_reset(c->db.rtxn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_shared_err(rc);
    if (a.n && (rc = lmdb_shared_write(&c->db, sweep_del_fn, &a)) != 0)
        return lmdb_shared_err(rc);
    if (more)
        return 1;
    char stamp[32];
    snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
    if ((rc = put(c, LAST_CLEANUP_KEY, stamp)) != 0)
        return lmdb_shared_err(rc);
    log_info("cache %s full cleanup: retained=%u dropped=%u entries", c->ref, sw->retained,
             sw->dropped);
    sw->running = 0;
    return 0;
}
