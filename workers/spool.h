/*
 * spool.h - delivery_mode = queue in the worker: each accepted message is
 * written to queue_directory (lib/queue_file.h, lib/queue_dir.h) and the
 * client gets "250 2.0.0 Ok: queued as ID" only once the file and the
 * directory entry that makes it a message are on disk.
 *
 * One message: at the start of the content a file "tmp/PID.ID" is created
 * and its envelope written (the content length left to patch); the
 * content, as message.c passes it on (our Received: first, after the
 * header/body checks, exactly the bytes the proxy path would send),
 * follows through a per-session buffer; at the end of DATA / BDAT LAST
 * the length is patched, the trailer written, and:
 *   1. fdatasync of the file, through the worker's ring (IORING_OP_FSYNC);
 *   2. rename tmp/PID.ID -> incoming/ID (hold/ID for a HOLD action);
 *   3. fsync of that directory, through the ring, shared by every session
 *      whose rename happened before it was submitted (group commit: one
 *      directory sync per batch, the next batch forms while one runs);
 *   4. the 250 for each session of the batch.
 * A failure at any step (ENOSPC, EDQUOT, EIO...) removes the file and
 * answers "452 4.3.1 Insufficient system storage" (no space) or
 * "451 4.3.0 Error: queue file write error", with a log line naming the
 * file and the error: the message is never acknowledged.
 *
 * Blocking steps left in the loop, each short and bounded: open/create of
 * the tmp file, buffered pwrite() of the content in SPOOL_BUF_SIZE pieces
 * (page cache), rename(), unlink(). The syncs, where the time goes, never
 * block the loop.
 *
 * A session that closes before its file is renamed leaves nothing (the
 * file is removed); one that closes after the rename leaves a queued
 * message that its client was not told about (it may send it again: the
 * duplicate SMTP itself cannot avoid). A worker that dies leaves tmp/
 * files that the next worker start removes (qdir_clean_tmp).
 */
#ifndef MX_SPOOL_H
#define MX_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "queue_dir.h"
#include "session.h"

#define SPOOL_BUF_SIZE (64u * 1024u)
#define SPOOL_MSGID_MAX 256

/* One session's message on its way to the queue. */
struct spool_txn {
    int fd;                  /* tmp file, when has_fd */
    bool has_fd;
    char tmp_name[64];       /* "PID.ID" in tmp/ */
    uint64_t off;            /* bytes in the file (written or buffered) */
    uint64_t length_off;     /* the M record's digits */
    uint64_t content_start;  /* file offset where the content begins */
    int err;                 /* first failure, -errno; 0: none */
    const char *err_step;    /* what failed ("write", "fsync"...) */
    bool open;               /* a message is being written */
    bool syncing;            /* the file's fsync is in flight */
    bool renamed;            /* in its queue: waiting for the directory sync */
    bool held;               /* target is hold/ */
    uint64_t size;           /* the content pipeline's count, for logs and BDAT */
    /* Message-ID, caught from the headers as they pass, for the log. */
    bool in_headers;
    size_t line_len;
    char line[SPOOL_MSGID_MAX + 16];
    char msgid[SPOOL_MSGID_MAX];
};

struct conn;
struct worker;
struct session_facts;

/* Create queue_directory and its queues where missing, owned by
 * mail_owner when running as root (generation load, in the master). */
int spool_prepare(const struct config *cfg, char *err, size_t errlen);

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
/* Completions: the file's fsync (a conn op), a directory sync (worker op,
 * index: which batch). */
void spool_event(struct conn *c, int res);
void spool_dirsync_done(struct worker *w, uint32_t batch, int res);

#endif
