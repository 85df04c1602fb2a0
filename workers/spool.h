/*
 * spool.h - delivery_mode = queue in the worker: each accepted message is
 * written to queue_directory (lib/queue_file.h, lib/queue_dir.h) and the
 * client gets "250 2.0.0 Ok: queued as ID" only once the file and the
 * directory entry that makes it a message are on disk.
 *
 * One message: at the start of the content a file "tmp/PID.ID" is taken
 * from the inode pool (IORING_OP_RENAMEAT of a free/ slot, queue_dir.h)
 * or, the slot being empty, created (IORING_OP_OPENAT), and its envelope
 * put in the session's buffer (the
 * content length left to patch); the content, as message.c passes it on (our Received: first,
 * after the header/body checks, exactly the bytes the proxy path would
 * send), follows. Every write goes through the worker's ring: a full
 * SPOOL_BUF_SIZE buffer is handed to the kernel (IORING_OP_WRITE) and a
 * second one fills meanwhile; while that one is full too the session
 * stops reading its client (relay_backlogged), so a slow disk slows the
 * sender, never the worker. At the end of DATA / BDAT LAST the trailer
 * is added, the length digits patched (in the buffer when the envelope is
 * still there, as for any message under SPOOL_BUF_SIZE, else by one more
 * write), and, as one linked chain (IOSQE_IO_LINK: each starts when the
 *   one before completed in full; one loop round, one kernel thread):
 *   1. the last write(s) and the length patch, then the file cut to the
 *      message's length (IORING_OP_FTRUNCATE, Linux 6.9: a pooled file
 *      is overwritten in place and what is left of its old content cut
 *      off here; without that opcode the open empties it, O_TRUNC);
 *   2. fdatasync of the file (IORING_OP_FSYNC, DATASYNC);
 *   3. rename tmp/PID.ID -> incoming/ID (hold/ID for a HOLD action)
 *      (IORING_OP_RENAMEAT);
 * then, on the rename's completion:
 *   4. fsync of that directory, through the ring, shared by every session
 *      whose rename completed before it was submitted (group commit: one
 *      directory sync per batch, the next batch forms while one runs);
 *   5. the 250 for each session of the batch.
 * A failure at any step (ENOSPC, EDQUOT, EIO, a write that writes
 * nothing...) removes the file and answers "452 4.3.1 Insufficient system
 * storage" (no space) or "451 4.3.0 Error: queue file write error", with
 * a log line naming the file and the error: the message is never
 * acknowledged. A short write cancels the rest of its chain, which is
 * asked again from where it stopped (the next attempt reports the error,
 * as pwrite() would).
 *
 * The blocking calls left in the loop, short and rare: unlinkat() of a
 * file whose message failed or was abandoned, and the getdents64 of
 * free/ that lists the pool (qdir_pool_next: once per up to 128
 * messages, at most every 10 ms while the pool is empty). The worker refuses queue
 * mail (451) on a kernel whose ring lacks IORING_OP_OPENAT, WRITE, FSYNC
 * or RENAMEAT (Linux < 5.11).
 *
 * A session that closes before its rename was submitted leaves nothing
 * (the file is removed); one that closes after it leaves a queued message
 * that its client was not told about (it may send it again: the
 * duplicate SMTP itself cannot avoid). A worker that dies leaves tmp/
 * files that the next worker start removes (qdir_clean_tmp). Buffers and
 * names the kernel may still read when a session ends (struct spool_io)
 * live until its last request completed: the conn is freed only then.
 */
#ifndef MX_SPOOL_H
#define MX_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "queue_dir.h"
#include "queue_file.h"
#include "session.h"

#define SPOOL_BUF_SIZE (64u * 1024u)
#define SPOOL_MSGID_MAX 256

/* The spool requests of a session in flight (one, or one chain), and
 * what the kernel reads for them: kept when the transaction ends
 * (spool_reset), freed with the conn (spool_conn_free), so a late
 * completion never finds it gone. */
enum spool_op {
    SPOOL_OP_OPEN = 1,
    SPOOL_OP_WRITE,
    SPOOL_OP_PATCH,
    SPOOL_OP_SYNC,
    SPOOL_OP_RENAME,
    SPOOL_OP_CLAIM, /* free/ slot -> tmp/ name, before the open */
    SPOOL_OP_TRIM,  /* ftruncate to the message's length, before the sync */
};

#define SPOOL_CHAIN_MAX 5

struct spool_io {
    /* In flight: one request, or a linked chain whose completions come
     * in this order (ops[done..nops)); nops == 0: nothing. */
    unsigned char ops[SPOOL_CHAIN_MAX];
    unsigned nops, done;
    uint32_t owner;          /* spool_txn.id of the transaction that asked */
    uint32_t last_id;        /* the last id given out */
    char *wbuf;              /* content being written (the other buffer is rt.pend) */
    size_t wcap;
    size_t wlen, wdone;      /* its length, how much the kernel took so far */
    uint64_t woff;           /* file offset of wbuf[0] */
    char digits[QF_LENGTH_LEN + 1]; /* the M record's length, for a late patch */
    char from[64], to[24];   /* the tmp file's name (create, rename), its queue name */
    /* The file's descriptor, closed while a request on it was prepared:
     * closed at its completion instead, so that the number cannot go to
     * another session's new file before the request reaches the kernel. */
    int defer_fd;
    bool defer_close;
};

/* One session's message on its way to the queue. */
struct spool_txn {
    uint32_t id;             /* nonzero while a transaction is open */
    int fd;                  /* tmp file, when has_fd */
    bool has_fd;
    char tmp_name[64];       /* "PID.ID" in tmp/ */
    uint64_t off;            /* bytes in the file (written, in flight or buffered) */
    uint64_t length_off;     /* the M record's digits */
    uint64_t content_start;  /* file offset where the content begins */
    int err;                 /* first failure, -errno; 0: none */
    const char *err_step;    /* what failed ("write", "fsync"...) */
    bool open;               /* a message is being written */
    bool ending;             /* spool_end accepted it: the steps run, the client waits */
    bool patched, trimmed, synced; /* steps done */
    bool renamed;            /* in its queue: waiting for the directory sync */
    bool held;               /* target is hold/ */
    uint64_t size;           /* the content pipeline's count, for logs and BDAT */
    /* Message-ID, caught from the headers as they pass, for the log. */
    bool in_headers;
    size_t line_len;
    char line[SPOOL_MSGID_MAX + 16];
    char msgid[SPOOL_MSGID_MAX];
    struct spool_io io;
};

struct conn;
struct worker;
struct session_facts;

/* Create queue_directory and its queues where missing, owned by
 * mail_owner when running as root (generation load, in the master). */
int spool_prepare(const struct config *cfg, char *err, size_t errlen);
/* A parameter's value as a string through the generic table (the
 * default when unset, dflt when nobody knows the name): the queue's
 * parameters without a typed field (duplicate_filter_limit,
 * smtputf8_enable, ...), for the workers' spool and the queue runner. */
const char *spool_param(const struct config *cfg, const char *name, const char *dflt);

/* Worker start: open the queues, remove tmp/ files of writers that are
 * gone. A failure is logged; every message then gets 451. */
void spool_worker_init(struct worker *w);
void spool_worker_close(struct worker *w);

bool spool_enabled(const struct conn *c);
/* Content begins (after message_begin): create the file, write the envelope. */
void spool_begin(struct conn *c);
/* message.c's output callback (ctx: the conn). */
void spool_out(void *ctx, const char *buf, size_t len);
/* Content complete and accepted by the checks: start the syncs. PENDING,
 * or DEFER with v filled when the file could not be written. redirect:
 * the REDIRECT target (queue_file.h's G record) or NULL. */
enum session_action spool_end(struct conn *c, bool hold, const char *redirect, uint64_t size,
                              struct session_verdict *v);
/* The transaction is over or abandoned: a file not yet renamed is removed. */
void spool_reset(struct conn *c);
/* The conn is freed (no request in flight): its buffers go. */
void spool_conn_free(struct conn *c);
/* Completions: the session's write / sync / rename (a conn op,
 * OP_CONN_SPOOL), a directory sync (worker op, index: which batch). */
void spool_event(struct conn *c, int res);
void spool_dirsync_done(struct worker *w, uint32_t batch, int res);

#endif
