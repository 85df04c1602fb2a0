/*
 * screen_cache.h - postscreen_cache_map: the screening cache shared by every
 * process, in Postfix's postscreen cache format.
 *
 * Record: key = the client address as inet_ntop() writes it (no brackets),
 * value = one expiry time per test, "pregreet;dnsbl;pipelining;nsmtp;barlf"
 * in seconds since the epoch, exactly as Postfix's psc_print_tests() writes
 * it. A stamp of 0 (NEW) means the test was never passed, 1 (DISABLED) that
 * it was never passed and disabled when the record was written; anything
 * else is the time the pass expires. Key and value are stored with a
 * trailing NUL, as Postfix's dict_lmdb does, so a Postfix lmdb: cache file
 * can be reused and ours read by Postfix.
 *
 * Stamps (pure): screen_stamps_parse() reads a value as psc_parse_tests()
 * does (see screen_cache.c for the exact rules), screen_stamps_todo() says
 * which enabled tests must run at `now` (0 = PASS OLD), screen_stamps_format()
 * writes a value as psc_print_tests() does, screen_stamps_keep() is the sweep
 * validator (psc_cache_validator), screen_stamps_allowlist() extends the
 * other tests when a client passes postscreen_dnsbl_allowlist_threshold
 * (psc_allowlist_non_dnsbl). Times are wall-clock seconds (time()), since
 * the cache outlives processes and reboots.
 *
 * Store: one LMDB environment NAME.lmdb (+ LMDB's NAME.lmdb-lock), for map
 * names btree:NAME, hash:NAME or lmdb:NAME (a "proxy:" prefix is accepted
 * and ignored: the file is shared anyway). Every process opens it itself,
 * AFTER fork (an LMDB environment must not cross a fork), read-write;
 * writers serialise on LMDB's own write lock, and each write is one short
 * transaction (one record, or one sweep batch), so a process waits at most
 * for another's single small commit. Writes skip fsync (MDB_NOSYNC): a
 * crash of the machine may lose the last passes, which only means those
 * clients are tested again. The map grows by doubling when full; other
 * processes follow the new size on their next transaction.
 *
 * Sweep: screen_cache_sweep_step() examines at most `batch` records per
 * call (one read transaction, then one write transaction deleting the
 * expired ones after re-checking them), so the event loop is never held
 * long; when a pass over the whole file ends it records the time under
 * Postfix's key "_LAST_CACHE_CLEANUP_COMPLETED_" and logs Postfix's line
 * "cache NAME full cleanup: retained=N dropped=N entries".
 * screen_cache_sweep_due() says when the next pass should start
 * (postscreen_cache_cleanup_interval after the last one, at once when there
 * was none). Several processes sweeping at once is harmless but wasteful:
 * let one (frontend 0) do it.
 *
 * Errors: 0 / 1 or -errno; LMDB errors become -EIO (-ENOENT for a missing
 * directory, -EACCES etc. from the system); open() fills err with a message.
 */
#ifndef MX_SCREEN_CACHE_H
#define MX_SCREEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum screen_test {
    SCREEN_TEST_PREGR, /* pregreet (postscreen_greet_*) */
    SCREEN_TEST_DNSBL, /* postscreen_dnsbl_* */
    SCREEN_TEST_PIPEL, /* postscreen_pipelining_* */
    SCREEN_TEST_NSMTP, /* postscreen_non_smtp_command_* */
    SCREEN_TEST_BARLF, /* postscreen_bare_newline_* */
    SCREEN_NTESTS,
};
#define SCREEN_BIT(t) (1u << (t))
#define SCREEN_ALL_TESTS ((1u << SCREEN_NTESTS) - 1)

#define SCREEN_STAMP_NEW 0      /* never passed */
#define SCREEN_STAMP_DISABLED 1 /* never passed, disabled when written */

/* Longest value screen_stamps_format() writes, NUL included. */
#define SCREEN_VALUE_MAX (SCREEN_NTESTS * 21)

struct screen_stamps {
    int64_t t[SCREEN_NTESTS];
};

/* Postfix's test names ("pregreet", "dnsbl", "pipelining", "non-smtp",
 * "bare newline"), as in its "skip ... test" lines. */
const char *screen_test_name(enum screen_test t);

/* The tests Postfix counts as enabled: pregreet when postscreen_greet_banner
 * is not empty, dnsbl when postscreen_dnsbl_sites is not empty, the deep
 * tests by their *_enable flags. */
unsigned screen_tests_enabled(const char *greet_banner, size_t ndnsbl_sites, bool pipelining,
                              bool non_smtp, bool bare_newline);

enum screen_parse {
    SCREEN_PARSE_OK,      /* five well-formed fields */
    SCREEN_PARSE_PARTIAL, /* some fields missing or malformed: DISABLED */
};

/* A new client: every stamp NEW. */
void screen_stamps_new(struct screen_stamps *s);
/* Parse a cached value buf[0..len) (no NUL needed; a NUL ends it). */
enum screen_parse screen_stamps_parse(const char *buf, size_t len, struct screen_stamps *out);
/* Enabled tests not passed or expired at now (bits SCREEN_BIT(t)). */
unsigned screen_stamps_todo(const struct screen_stamps *s, unsigned enabled, int64_t now);
/* Some stamp is NEW: the client has not passed every test yet (so a
 * client that now passes the last one is logged "PASS NEW"). */
bool screen_stamps_is_new(const struct screen_stamps *s);
/* Write the value: a NEW stamp of a disabled test becomes DISABLED (in s
 * too, as Postfix does). Returns the length, or -ENOSPC. */
int screen_stamps_format(struct screen_stamps *s, unsigned enabled, char *buf, size_t size);
/* Sweep validator: keep the record unless every enabled test has been
 * expired for longer than retention (Postfix's psc_cache_validator). */
bool screen_stamps_keep(const struct screen_stamps *s, unsigned enabled, int64_t now,
                        int64_t retention);
/* A client passed the DNSBL allowlist threshold: every test other than
 * dnsbl, enabled or not, now expires no earlier than now + ttl. */
void screen_stamps_allowlist(struct screen_stamps *s, int64_t now, uint32_t ttl);

/* ---- the store -------------------------------------------------------------- */

struct screen_cache;

struct screen_cache_opts {
    size_t map_size; /* initial LMDB map size; 0 = 16 MiB (Postfix's lmdb_map_size) */
    int mode;        /* file mode when created; 0 = 0600 */
};

/* ref: "btree:/path/postscreen_cache" etc. err (errsize bytes) gets a
 * message on failure. */
int screen_cache_open(const char *ref, const struct screen_cache_opts *o, struct screen_cache **out,
                      char *err, size_t errsize);
void screen_cache_close(struct screen_cache *c);
/* "NAME.lmdb" of an open cache. */
const char *screen_cache_path(const struct screen_cache *c);

/* 1 found (out filled), 0 not found, -errno. */
int screen_cache_lookup(struct screen_cache *c, const char *addr, struct screen_stamps *out);
/* Store s for addr (formatted as screen_stamps_format(), which may turn
 * NEW into DISABLED in s). 0 or -errno. */
int screen_cache_update(struct screen_cache *c, const char *addr, struct screen_stamps *s,
                        unsigned enabled);
/* 1 deleted, 0 not there, -errno. */
int screen_cache_delete(struct screen_cache *c, const char *addr);

/* Caller-owned sweep state: zero it before the first step of a pass. */
#define SCREEN_SWEEP_BATCH_MAX 256
struct screen_sweep {
    char resume[64]; /* first key of the next batch; "" = start */
    int running;
    unsigned retained, dropped;
    char del[SCREEN_SWEEP_BATCH_MAX][64];
};

/* 1 when a pass should start at now: interval > 0 and the last completed
 * pass is interval or more ago (or none was recorded). */
int screen_cache_sweep_due(struct screen_cache *c, int64_t now, int64_t interval);
/* Examine up to batch (<= SCREEN_SWEEP_BATCH_MAX) records. 1: more to do,
 * 0: the pass is complete (recorded and logged; sw is reset), -errno. */
int screen_cache_sweep_step(struct screen_cache *c, struct screen_sweep *sw, unsigned enabled,
                            int64_t now, int64_t retention, unsigned batch);

#endif
