/*
 * anvil.h - the shared per-client table: concurrent connection counts
 * (postscreen_client_connection_count_limit) and connection rates
 * (postscreen_client_connection_rate_limit per anvil_rate_time_unit),
 * IPv4 clients counted per postscreen_client_ipv4_prefix_length (default
 * 32: per address), IPv6 clients per postscreen_client_ipv6_prefix_length
 * (default 64), an IPv4-mapped IPv6 address as IPv4.
 *
 * Memory: one fixed-size table in a memfd mapping (MAP_SHARED), made by the
 * master before fork with anvil_create(); children inherit the mapping, and
 * a process started with exec can map the same fd with anvil_attach().
 * Nothing is allocated after creation. The layout is public (below) so
 * that mxscreen-ctl can read the statistics without asking any process.
 *
 * Table: buckets of ANVIL_BUCKET_SLOTS slots; a client may live in one of
 * two buckets chosen by a keyed hash (random key per table, so a client
 * cannot aim at a bucket), so a lookup probes at most 2 * 8 slots. Each
 * bucket has a lock word (C11 atomic compare-and-swap, owner pid); an
 * operation takes the one or two locks of its buckets (lower index first,
 * so no deadlock) for a few dozen instructions. A waiter that has spun for
 * long checks whether the owner still lives and takes over the lock of a
 * process that died inside it (kill -9): that bucket's counts may then be
 * off by the one update the dead process did not finish.
 *
 * Counting: anvil_connect() counts the attempt in the client's rate
 * window (every attempt counts, a refused one too, as Postfix's anvil
 * does), then refuses it with ANVIL_COUNT_LIMIT when the client already
 * holds count_limit connections, or ANVIL_RATE_LIMIT when the attempts in
 * the current window exceed rate_limit (0 = no limit; count is checked
 * first, as smtpd does); otherwise the connection is counted and the
 * caller must call anvil_disconnect() for it later. The rate window is
 * fixed, as in anvil(8): it starts at the first attempt and resets once
 * anvil_rate_time_unit has passed. A slot whose count is 0 and whose rate
 * window is over is stale and is reused.
 *
 * Full table: when both buckets of a new client hold live clients only,
 * anvil_connect() returns ANVIL_FAIL_OPEN: the connection is allowed and
 * NOT counted (do not call anvil_disconnect() for it), the table's
 * fail_open counter goes up, and a warning is logged at most once a
 * minute for all processes together. Size the table at a few times the
 * number of distinct clients expected within one rate window.
 *
 * Time is the caller's: now_ms on CLOCK_MONOTONIC (timer_clock_ms()), the
 * same clock in every process of the machine. Functions return 0 or
 * -errno unless said otherwise.
 */
#ifndef MX_ANVIL_H
#define MX_ANVIL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ANVIL_BUCKET_SLOTS 8
#define ANVIL_MAGIC 0x6d78616eu /* "mxan" */

struct anvil_slot {
    uint64_t key[2];  /* the masked address */
    uint32_t tag;     /* 0: empty; else family | prefix << 8 | 1 << 31 */
    uint32_t count;   /* connections held now */
    uint32_t rate;    /* attempts in the current window */
    uint32_t pad;
    int64_t window;   /* start of the rate window, ms */
};

struct anvil_bucket {
    _Atomic int32_t lock; /* 0 or the owner's pid */
    uint32_t used;        /* slots with a tag */
    struct anvil_slot slot[ANVIL_BUCKET_SLOTS];
} __attribute__((aligned(64)));

struct anvil_shared {
    uint32_t magic;
    uint32_t nbuckets; /* a power of two */
    uint32_t ipv4_prefix, ipv6_prefix;
    int64_t rate_unit_ms;
    uint64_t seed[2];
    _Atomic uint64_t fail_open;   /* connections not counted: table full */
    _Atomic uint64_t stolen;      /* locks taken over from dead processes */
    _Atomic int64_t last_warn_ms; /* the last "table full" warning */
    struct anvil_bucket bucket[] __attribute__((aligned(64)));
};

struct anvil {
    struct anvil_shared *sh;
    size_t size;
    int fd;
};

struct anvil_opts {
    unsigned slots;          /* rounded up to whole buckets, a power of two; 0 = 65536 */
    unsigned ipv4_prefix;    /* 1..32; 0 = 32 */
    unsigned ipv6_prefix;    /* 1..128; 0 = 64 */
    int64_t rate_unit_ms;    /* anvil_rate_time_unit; 0 = 60000 */
};

/* A client's table key (address masked to its prefix). */
struct anvil_key {
    uint64_t k[2];
    uint32_t tag;
};

enum anvil_verdict {
    ANVIL_OK,          /* counted: call anvil_disconnect() later */
    ANVIL_COUNT_LIMIT, /* "too many connections" */
    ANVIL_RATE_LIMIT,  /* too many connection attempts in this window */
    ANVIL_FAIL_OPEN,   /* table full: allowed, not counted */
};

struct anvil_counts {
    uint32_t count; /* connections held (after this call) */
    uint32_t rate;  /* attempts in the current window (after this call) */
};

/* Master, before fork: a new zeroed table in a memfd. -EINVAL, -ENOMEM,
 * or the errno of memfd_create/ftruncate/mmap. */
int anvil_create(const struct anvil_opts *o, struct anvil *out);
/* Map an existing table from its fd (a dup is kept). */
int anvil_attach(int fd, struct anvil *out);
/* Unmap in this process (and close its fd). */
void anvil_detach(struct anvil *a);

/* The key of a client: -EINVAL unless AF_INET/AF_INET6. */
int anvil_key(const struct anvil *a, const struct sockaddr *sa, struct anvil_key *out);
/* "192.0.2.1" or "2001:db8:1:2::/64" (the prefix shown when it is not the
 * whole address). Returns snprintf's length. */
int anvil_key_text(const struct anvil_key *k, char *buf, size_t size);

enum anvil_verdict anvil_connect(struct anvil *a, const struct anvil_key *k, int64_t now_ms,
                                 uint32_t count_limit, uint32_t rate_limit,
                                 struct anvil_counts *out);
/* End a connection anvil_connect() counted. -ENOENT if the client is not
 * in the table (a caller bug, or a table reset since). */
int anvil_disconnect(struct anvil *a, const struct anvil_key *k, int64_t now_ms);
/* Current counts (0 when absent); the rate is 0 once its window is over. */
void anvil_lookup(struct anvil *a, const struct anvil_key *k, int64_t now_ms,
                  struct anvil_counts *out);
/* Forget every client (e.g. after the only frontend died holding counts). */
void anvil_reset(struct anvil *a);
/* Slots in use (live or stale). */
size_t anvil_used(struct anvil *a);

#endif
