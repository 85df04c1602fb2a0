/*
 * spool_int.h - what the worker's spool files share (spool.h is the
 * interface): the per-worker state, set up in spool_setup.c and used by
 * spool.c's writes and group-committed directory syncs.
 */
#ifndef MX_SPOOL_INT_H
#define MX_SPOOL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "queue_dir.h"

/* IORING_OP_FTRUNCATE (Linux 6.9) by its number in the kernel's ABI:
 * liburing 2.3's headers stop at IORING_OP_SENDMSG_ZC (48). Used only
 * where the ring's probe says the kernel has it (spool_worker.trim). */
#define SPOOL_OP_FTRUNCATE_NR 55
/* Set to "1" in the daemon's environment, for tests only: the worker
 * acts as if the ring lacked IORING_OP_FTRUNCATE (doc/delivery.md). */
#define SPOOL_ENV_NO_FTRUNCATE "MXSCREEN_SPOOL_NO_FTRUNCATE"

struct spool_batch {
    enum qdir_queue dir;
    bool inflight;
    uint64_t *wait, *cover; /* conns as (index << 32 | generation) */
    unsigned nwait, ncover, cap;
};

struct spool_worker {
    bool ok;
    struct qdir q;
    struct spool_batch batch[2]; /* incoming, hold */
    /* cleanup(8)'s duplicate recipient filter (qf_rcpt_dedup) */
    unsigned long dup_limit; /* duplicate_filter_limit */
    bool utf8;               /* smtputf8_enable */
    bool trim;               /* the ring has IORING_OP_FTRUNCATE */
};

#endif
