/*
 * spool.c - delivery_mode = queue in the worker (spool.h): the message
 * file (from the inode pool or new), its writes, sync and rename through
 * the ring (one request of a session in flight at a time, each step
 * started by the completion of the previous one: step()), the group
 * commit of directory syncs, and the 250 after them. Set-up: spool_setup.c.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maillog.h"
#include "qrun.h"
#include "queue_file.h"
#include "relay_int.h"
#include "smtp_cmd.h"
#include "spool.h"
#include "spool_int.h"
#include "worker_int.h"

/* ---- writing ---- */

static const char *qpath(const struct conn *c)
{
    return c->gen->cfg.p.queue_directory;
}

static void fail(struct conn *c, int err, const char *step)
{
    struct spool_txn *sp = &c->sp;
    if (sp->err)
        return;
    sp->err = err;
    sp->err_step = step;
    c->rt.pend_len = 0; /* never written now: nor waited for (relay_backlogged) */
    log_warn("%s: %s %s/tmp/%s: %s", c->rt.queue_id, step, qpath(c), sp->tmp_name,
             strerror(-err));
}

/* ---- the session's requests ---- */

static bool busy(const struct spool_io *io)
{
    return io->nops != 0;
}

static struct io_uring_sqe *submit(struct conn *c, enum spool_op op)
{
    struct spool_io *io = &c->sp.io;
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    assert(io->nops < SPOOL_CHAIN_MAX); /* step(): claim+open, or write+patch+trim+sync+rename */
    io->ops[io->nops++] = (unsigned char)op;
    io->owner = c->sp.id;
    io_uring_sqe_set_data64(sqe, ring_ud_for(OP_CONN_SPOOL, &c->w->conns, c));
    c->inflight++;
    return sqe;
}

/* sqe's request runs only once the one before it completed in full. */
static void chain_after(struct io_uring_sqe *prev)
{
    if (prev)
        prev->flags |= IOSQE_IO_LINK;
}

/* What is left of wbuf[0..wlen) at woff. */
static struct io_uring_sqe *write_submit(struct conn *c)
{
    struct spool_io *io = &c->sp.io;
    struct io_uring_sqe *sqe = submit(c, SPOOL_OP_WRITE);
    io_uring_prep_write(sqe, c->sp.fd, io->wbuf + io->wdone, (unsigned)(io->wlen - io->wdone),
                        io->woff + io->wdone);
    return sqe;
}

/* Hand the filled buffer (rt.pend: the file's last pend_len bytes) to the
 * kernel and give the session the other one to fill. */
static struct io_uring_sqe *content_submit(struct conn *c)
{
    struct relay_txn *rt = &c->rt;
    struct spool_io *io = &c->sp.io;
    char *b = io->wbuf;
    size_t cap = io->wcap;
    io->wbuf = rt->pend;
    io->wcap = rt->pend_cap;
    rt->pend = b;
    rt->pend_cap = b ? cap : 0;
    io->wlen = rt->pend_len;
    io->wdone = 0;
    io->woff = c->sp.off - rt->pend_len;
    rt->pend_len = 0;
    return write_submit(c);
}

/* The transaction's next request(s), when none is in flight: the file's
 * creation, a full buffer, and once spool_end accepted the message, what
 * is left, the length patch, the sync and the rename, as one linked
 * chain: one trip through the loop and, where the kernel hands the chain
 * to a worker thread (always from the sync on), one thread for all of it
 * (a link runs in the thread that completed the one before). A failure
 * or a short write cancels the rest of the chain (-ECANCELED); what is
 * not done is asked again from here once the last completion is in. */
static void step(struct conn *c)
{
    struct spool_txn *sp = &c->sp;
    struct spool_io *io = &sp->io;
    struct spool_worker *sw = c->w->spool;
    struct io_uring *ring = &c->w->ring.uring;
    if (busy(io) || sp->err || sp->id == 0 || sp->renamed)
        return;
    /* The chain must reach the kernel in one submission: a split one
     * would be two chains, run side by side. */
    if (io_uring_sq_space_left(ring) < SPOOL_CHAIN_MAX)
        io_uring_submit(ring);
    struct io_uring_sqe *sqe = NULL;
    if (!sp->has_fd) {
        /* The kernel may read the names after this dispatch: io keeps
         * them. A file from the inode pool (queue_dir.h) is renamed to
         * the tmp name first; the open runs after it whatever it did
         * (IOSQE_IO_HARDLINK) and creates the file when the slot was
         * empty. A pooled file is overwritten in place from offset 0 and
         * cut to the new length before its sync (SPOOL_OP_TRIM): no block
         * is freed and allocated again, and no byte of the message it
         * held survives. Without IORING_OP_FTRUNCATE, O_TRUNC empties it
         * here instead. Both block: straight to a thread. */
        snprintf(io->from, sizeof(io->from), "%s", sp->tmp_name);
        if (qdir_pool_next(&sw->q, io->to) == 0) {
            sqe = submit(c, SPOOL_OP_CLAIM);
            io_uring_prep_renameat(sqe, sw->q.fd[QDIR_FREE], io->to, sw->q.fd[QDIR_TMP],
                                   io->from, RENAME_NOREPLACE);
            sqe->flags |= IOSQE_ASYNC | IOSQE_IO_HARDLINK;
        }
        sqe = submit(c, SPOOL_OP_OPEN);
        io_uring_prep_openat(sqe, sw->q.fd[QDIR_TMP], io->from,
                             O_WRONLY | O_CREAT | (sw->trim ? 0 : O_TRUNC) | O_CLOEXEC, 0600);
        sqe->flags |= IOSQE_ASYNC;
        return;
    }
    if (io->wdone < io->wlen) { /* after a short write: the rest first */
        write_submit(c);
        return;
    }
    if (c->rt.pend_len >= SPOOL_BUF_SIZE || (sp->ending && c->rt.pend_len > 0))
        sqe = content_submit(c);
    if (!sp->ending)
        return;
    if (!sp->patched) {
        chain_after(sqe);
        sqe = submit(c, SPOOL_OP_PATCH);
        io_uring_prep_write(sqe, sp->fd, io->digits, QF_LENGTH_LEN, sp->length_off);
    }
    if (sw->trim && !sp->trimmed) {
        chain_after(sqe);
        sqe = submit(c, SPOOL_OP_TRIM);
        io_uring_prep_rw(SPOOL_OP_FTRUNCATE_NR, sqe, sp->fd, NULL, 0, sp->off);
    }
    if (!sp->synced) {
        chain_after(sqe);
        sqe = submit(c, SPOOL_OP_SYNC);
        io_uring_prep_fsync(sqe, sp->fd, IORING_FSYNC_DATASYNC);
        sqe->flags |= IOSQE_ASYNC;
    }
    chain_after(sqe);
    /* The kernel may read the names after this dispatch: io keeps them. */
    snprintf(io->from, sizeof(io->from), "%s", sp->tmp_name);
    snprintf(io->to, sizeof(io->to), "%s", c->rt.queue_id);
    sqe = submit(c, SPOOL_OP_RENAME);
    io_uring_prep_renameat(sqe, sw->q.fd[QDIR_TMP], io->from,
                           sw->q.fd[sp->held ? QDIR_HOLD : QDIR_INCOMING], io->to, 0);
    sqe->flags |= IOSQE_ASYNC;
}

/* Room for n more bytes in rt.pend: the first buffer, or a larger one
 * while the other is still with the kernel (the session stops reading its
 * client past RELAY_PEND_HIGH, so this stays near two buffers). */
static int reserve(struct conn *c, size_t n)
{
    struct relay_txn *rt = &c->rt;
    if (rt->pend_cap - rt->pend_len >= n)
        return 0;
    size_t cap = rt->pend_cap ? rt->pend_cap : SPOOL_BUF_SIZE;
    while (cap - rt->pend_len < n)
        cap *= 2;
    char *p = realloc(rt->pend, cap);
    if (!p)
        return -ENOMEM;
    rt->pend = p;
    rt->pend_cap = cap;
    return 0;
}

static void buffer(struct conn *c, const char *p, size_t n)
{
    struct relay_txn *rt = &c->rt;
    struct spool_txn *sp = &c->sp;
    while (n > 0 && !sp->err && sp->open) {
        size_t k = n < SPOOL_BUF_SIZE ? n : SPOOL_BUF_SIZE;
        if (reserve(c, k) < 0) {
            fail(c, -ENOMEM, "buffer");
            return;
        }
        memcpy(rt->pend + rt->pend_len, p, k);
        rt->pend_len += k;
        sp->off += k;
        p += k;
        n -= k;
        step(c);
    }
}

/* Between transactions, nothing in flight: keep one buffer, not two. */
static void io_release(struct conn *c)
{
    struct spool_io *io = &c->sp.io;
    struct relay_txn *rt = &c->rt;
    if (busy(io) || !io->wbuf)
        return;
    if (!rt->pend) {
        rt->pend = io->wbuf;
        rt->pend_cap = io->wcap;
    } else {
        free(io->wbuf);
    }
    io->wbuf = NULL;
    io->wcap = 0;
}

void spool_conn_free(struct conn *c)
{
    if (c->sp.io.defer_close)
        close(c->sp.io.defer_fd);
    c->sp.io.defer_close = false;
    free(c->sp.io.wbuf);
    c->sp.io.wbuf = NULL;
}

/* The file's descriptor, unless a request on it is still to complete
 * (one of an earlier transaction is on that one's descriptor). */
static void close_file(struct conn *c)
{
    struct spool_txn *sp = &c->sp;
    if (!sp->has_fd)
        return;
    if (busy(&sp->io) && sp->io.owner == sp->id) {
        sp->io.defer_fd = sp->fd;
        sp->io.defer_close = true;
    } else {
        close(sp->fd);
    }
    sp->has_fd = false;
}

static void remove_tmp(struct conn *c)
{
    struct spool_txn *sp = &c->sp;
    struct spool_worker *sw = c->w->spool;
    close_file(c);
    if (sp->tmp_name[0] && sw && sw->ok)
        unlinkat(sw->q.fd[QDIR_TMP], sp->tmp_name, 0);
    sp->tmp_name[0] = '\0';
}

void spool_begin(struct conn *c)
{
    struct spool_txn *sp = &c->sp;
    struct relay_txn *rt = &c->rt;
    struct spool_worker *sw = c->w->spool;
    spool_reset(c);
    if (++sp->io.last_id == 0) /* 0: no transaction */
        sp->io.last_id = 1;
    sp->id = sp->io.last_id;
    sp->open = true;
    sp->in_headers = true;
    snprintf(sp->tmp_name, sizeof(sp->tmp_name), "%ld.%s", (long)getpid(), rt->queue_id);
    if (!sw || !sw->ok) {
        fail(c, -ENOENT, "open");
        return;
    }
    step(c); /* the file is created through the ring; the envelope waits in the buffer */
    /* The envelope: recipients as accepted, in order. */
    struct qf_rcpt *r = calloc(rt->nrcpts ? rt->nrcpts : 1, sizeof(*r));
    if (!r) {
        fail(c, -ENOMEM, "envelope");
        return;
    }
    const char *a = rt->rcpts, *o = rt->rorcpts;
    char (*notify)[QF_NOTIFY_TEXT_MAX] = calloc(rt->nrcpts ? rt->nrcpts : 1, sizeof(*notify));
    if (!notify) {
        free(r);
        fail(c, -ENOMEM, "envelope");
        return;
    }
    for (unsigned i = 0; a && i < rt->nrcpts; i++, a += strlen(a) + 1) {
        r[i].addr = (char *)a;
        /* RFC 3461: a NOTIFY not given is not made up (smtpd rcpt_cmd). */
        if (rt->rnotify && rt->rnotify[i]) {
            qf_notify_format(rt->rnotify[i], notify[i]);
            r[i].notify = notify[i];
        }
        if (o) {
            r[i].orcpt = *o ? (char *)o : NULL;
            o += strlen(o) + 1;
        }
    }
    /* As cleanup(8): a recipient given twice (case aside, same DSN
     * facts) is queued once; smtpd said 250 to each RCPT all the same. */
    unsigned nrcpt = qf_rcpt_dedup(r, rt->nrcpts, sw->dup_limit, sw->utf8);
    struct qf_env e = {
        .arrival = (int64_t)time(NULL),
        .sender = rt->sender,
        .client_name = c->peer.name,
        .client_addr = c->peer.addr,
        .helo = (char *)rt->mc.helo,
        .proto = (char *)rt->mc.proto,
        .envid = rt->dsn_envid,
        .ret = rt->dsn_ret == SMTP_RET_FULL   ? (char *)"FULL"
               : rt->dsn_ret == SMTP_RET_HDRS ? (char *)"HDRS"
                                              : NULL,
        .rcpt = r,
        .nrcpt = nrcpt,
    };
    snprintf(e.queue_id, sizeof(e.queue_id), "%s", rt->queue_id);
    struct strbuf sb;
    strbuf_init(&sb);
    size_t loff = 0;
    int rc = qf_encode_head(&e, &sb, &loff);
    free(r);
    free(notify);
    if (rc < 0) {
        fail(c, rc, "envelope");
    } else {
        sp->length_off = loff;
        buffer(c, sb.buf, sb.len);
        sp->content_start = sp->off;
    }
    strbuf_free(&sb);
}

/* Message-ID as cleanup logs it: the first one among the top headers. */
static void header_line(struct spool_txn *sp)
{
    const char *l = sp->line;
    size_t n = sp->line_len;
    if (n == 0) {
        sp->in_headers = false;
        return;
    }
    if (sp->msgid[0] || n < 11 || strncasecmp(l, "message-id:", 11) != 0)
        return;
    size_t k = n - 11 < sizeof(sp->msgid) - 1 ? n - 11 : sizeof(sp->msgid) - 1;
    memcpy(sp->msgid, l + 11, k);
    sp->msgid[k] = '\0';
    if (!sp->msgid[0])
        snprintf(sp->msgid, sizeof(sp->msgid), " ");
}

static void watch_headers(struct spool_txn *sp, const char *p, size_t n)
{
    for (size_t i = 0; i < n && sp->in_headers; i++) {
        if (p[i] == '\n') {
            if (sp->line_len && sp->line[sp->line_len - 1] == '\r')
                sp->line_len--;
            header_line(sp);
            sp->line_len = 0;
        } else if (sp->line_len < sizeof(sp->line) - 1) {
            sp->line[sp->line_len++] = p[i];
        }
    }
}

void spool_out(void *ctx, const char *buf, size_t len)
{
    struct conn *c = ctx;
    struct spool_txn *sp = &c->sp;
    if (!sp->open || !len)
        return;
    if (sp->in_headers)
        watch_headers(sp, buf, len);
    buffer(c, buf, len);
}

static void storage_verdict(struct conn *c, struct session_verdict *v)
{
    int e = -c->sp.err;
    if (e == ENOSPC || e == EDQUOT || e == EFBIG || e == ENOMEM)
        relay_verdict(v, SESSION_DEFER, 452, "4.3.1", "Insufficient system storage");
    else
        relay_verdict(v, SESSION_DEFER, 451, "4.3.0", "Error: queue file write error");
}

enum session_action spool_end(struct conn *c, bool hold, const char *redirect, uint64_t size,
                              struct session_verdict *v)
{
    struct spool_txn *sp = &c->sp;
    struct relay_txn *rt = &c->rt;
    char line[SPOOL_MSGID_MAX + 64];
    sp->size = size;
    sp->held = hold;
    if (!sp->err && !sp->open) /* no spool_begin: nothing to queue */
        fail(c, -EBADF, "write");
    if (!sp->err) {
        uint64_t clen = sp->off - sp->content_start;
        struct strbuf tail;
        strbuf_init(&tail);
        /* the checks let only user@domain through: a refusal is a bug */
        if (qf_encode_tail(redirect, &tail) < 0)
            fail(c, -EINVAL, "redirect");
        else
            buffer(c, tail.buf, tail.len);
        strbuf_free(&tail);
        qf_format_length(clen, sp->io.digits);
        /* Envelope still buffered (any message under SPOOL_BUF_SIZE):
         * patched there, one write fewer. */
        uint64_t pend_start = sp->off - rt->pend_len;
        if (!sp->err && sp->length_off >= pend_start) {
            memcpy(rt->pend + (sp->length_off - pend_start), sp->io.digits, QF_LENGTH_LEN);
            sp->patched = true;
        }
    }
    if (sp->err) {
        remove_tmp(c);
        sp->open = false;
        storage_verdict(c, v);
        return SESSION_DEFER;
    }
    if (maillog_message_id(line, sizeof(line), rt->queue_id,
                           sp->msgid[0] ? sp->msgid : "<>") >= 0)
        log_info("%s", line);
    sp->ending = true;
    rt->waiting = true;
    rt->wait_stage = SESSION_STAGE_EOD;
    step(c);
    return SESSION_PENDING;
}

void spool_reset(struct conn *c)
{
    struct spool_txn *sp = &c->sp;
    /* Not renamed yet: not a message. Renamed: it stays queued. A rename
     * in flight either happened (the message stays, as after the rename)
     * or finds no file. */
    if (!sp->renamed)
        remove_tmp(c);
    else
        close_file(c);
    c->rt.pend_len = 0;
    struct spool_io io = sp->io;
    memset(sp, 0, sizeof(*sp));
    sp->io = io;
    sp->io.wlen = sp->io.wdone = 0; /* a short write's rest: this file's, never the next one's */
    io_release(c);
}

/* ---- syncs ---- */

static void batch_submit(struct worker *w, uint32_t bi)
{
    struct spool_batch *b = &w->spool->batch[bi];
    if (b->inflight || b->nwait == 0)
        return;
    uint64_t *t = b->cover;
    b->cover = b->wait;
    b->ncover = b->nwait;
    b->wait = t;
    b->nwait = 0;
    struct io_uring_sqe *sqe = worker_sqe(w);
    io_uring_prep_fsync(sqe, w->spool->q.fd[b->dir], 0);
    io_uring_sqe_set_data64(sqe, ring_ud(OP_SPOOL_DIRSYNC, bi, 0));
    b->inflight = true;
}

static int batch_add(struct worker *w, uint32_t bi, struct conn *c)
{
    struct spool_batch *b = &w->spool->batch[bi];
    if (b->nwait == b->cap || b->ncover == b->cap) {
        unsigned cap = b->cap ? b->cap * 2 : 64;
        uint64_t *nw = realloc(b->wait, cap * sizeof(*nw));
        if (!nw)
            return -ENOMEM;
        b->wait = nw;
        uint64_t *nc = realloc(b->cover, cap * sizeof(*nc));
        if (!nc)
            return -ENOMEM;
        b->cover = nc;
        b->cap = cap;
    }
    b->wait[b->nwait++] = (uint64_t)pool_index(&w->conns, c) << 32 | pool_gen(&w->conns, c);
    return 0;
}

static void answer_error(struct conn *c)
{
    struct session_verdict v;
    storage_verdict(c, &v);
    if (c->phase != CONN_CLOSING)
        relay_answer(c, &v);
}

/* The directory entry is on disk (res 0) or not: tell the client. */
static void finish(struct conn *c, int res)
{
    struct spool_txn *sp = &c->sp;
    struct relay_txn *rt = &c->rt;
    struct spool_worker *sw = c->w->spool;
    enum qdir_queue to = sp->held ? QDIR_HOLD : QDIR_INCOMING;
    if (!sp->renamed)
        return;
    if (res < 0) {
        log_warn("%s: fsync %s/%s: %s", rt->queue_id, qpath(c), qdir_name(to), strerror(-res));
        /* Not known to be on disk: not a message the client was told of. */
        unlinkat(sw->q.fd[to], rt->queue_id, 0);
        sp->renamed = false;
        sp->err = res;
        answer_error(c);
        return;
    }
    if (!sp->held) {
        char line[1200];
        if (maillog_queue_active(line, sizeof(line), rt->queue_id, rt->sender,
                                 (unsigned long long)sp->size, rt->nrcpts) >= 0)
            log_info("%s", line);
    }
    if (c->phase == CONN_CLOSING)
        return;
    struct session_verdict v;
    memset(&v, 0, sizeof(v));
    v.action = SESSION_PERMIT;
    snprintf(v.queue_id, sizeof(v.queue_id), "%s", rt->queue_id);
    v.size = sp->size;
    relay_answer(c, &v);
}

/* Wake the queue runner: one 'W' into queue_directory/qmgr (qrun.h), as
 * Postfix's cleanup triggers qmgr after each message. One per directory
 * sync, not per message: the sync made the whole batch visible. Opened
 * each time with O_NONBLOCK (no runner: ENXIO; a full FIFO: a wake-up is
 * pending anyway), so a runner restart needs nothing here; a trigger that
 * cannot be written is only a delay (the runner's queue_run_delay scan). */
static void wake_runner(const struct worker *w)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", w->gen->cfg.p.queue_directory, QRUN_TRIGGER);
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return;
    static const char wake = 'W';
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) /* never bytes into a plain file */
        (void)!write(fd, &wake, 1);
    close(fd);
}

void spool_dirsync_done(struct worker *w, uint32_t bi, int res)
{
    if (!w->spool || bi > 1)
        return;
    struct spool_batch *b = &w->spool->batch[bi];
    b->inflight = false;
    if (res >= 0 && b->ncover > 0 && b->dir == QDIR_INCOMING)
        wake_runner(w);
    for (unsigned i = 0; i < b->ncover; i++) {
        uint64_t k = b->cover[i];
        struct conn *c = pool_lookup(&w->conns, (uint32_t)(k >> 32), (uint32_t)k);
        if (c)
            finish(c, res);
    }
    b->ncover = 0;
    batch_submit(w, bi); /* the next batch formed meanwhile */
}

/* The file is complete and on disk, and in its queue: wait for the
 * directory sync. */
static void renamed(struct conn *c)
{
    struct spool_txn *sp = &c->sp;
    struct worker *w = c->w;
    struct spool_worker *sw = w->spool;
    enum qdir_queue to = sp->held ? QDIR_HOLD : QDIR_INCOMING;
    sp->renamed = true;
    sp->tmp_name[0] = '\0';
    close_file(c);
    uint32_t bi = sp->held ? 1 : 0;
    if (batch_add(w, bi, c) < 0) { /* no room to wait: sync for this one alone */
        int rc = qdir_sync(&sw->q, to);
        if (rc >= 0 && to == QDIR_INCOMING)
            wake_runner(w);
        finish(c, rc);
        return;
    }
    batch_submit(w, bi);
}

/* A request of the session completed (res: its -errno or bytes written),
 * in the order they were linked. */
void spool_event(struct conn *c, int res)
{
    struct spool_txn *sp = &c->sp;
    struct spool_io *io = &sp->io;
    if (!busy(io))
        return;
    enum spool_op op = io->ops[io->done++];
    if (io->done == io->nops)
        io->nops = io->done = 0;
    bool backlogged = relay_backlogged(c);
    if (io->defer_close && !busy(io)) { /* the descriptor's last request */
        close(io->defer_fd);
        io->defer_close = false;
    }
    bool stale = c->phase == CONN_CLOSING || io->owner != sp->id || sp->id == 0 || sp->err;
    if (stale && op == SPOOL_OP_OPEN && res >= 0) { /* created for nobody */
        close(res);
        if (c->w->spool)
            unlinkat(c->w->spool->q.fd[QDIR_TMP], io->from, 0);
    }
    if (c->phase == CONN_CLOSING)
        return;
    if (stale) {
        /* A transaction abandoned (or failed) meanwhile: the next one
         * may have a buffer waiting for its turn. */
        if (!sp->open)
            io_release(c);
        step(c);
        if (backlogged && !relay_backlogged(c))
            conn_pump(c);
        return;
    }
    if (res == -ECANCELED && op != SPOOL_OP_OPEN) {
        /* A link after a short write: what it was to do is still to do. */
    } else {
        switch (op) {
        case SPOOL_OP_CLAIM: /* -ENOENT: taken meanwhile, the open creates the file */
            if (res == -ENOENT && c->w->spool)
                qdir_pool_stale(&c->w->spool->q);
            break;
        case SPOOL_OP_OPEN:
            if (res < 0) {
                fail(c, res, "create");
                break;
            }
            sp->fd = res;
            sp->has_fd = true;
            break;
        case SPOOL_OP_WRITE:
            if (res <= 0)
                fail(c, res < 0 ? res : -EIO, "write"); /* 0: nothing more fits */
            else
                io->wdone += (size_t)res; /* short: the rest (or its error) next */
            break;
        case SPOOL_OP_PATCH:
            if (res < 0)
                fail(c, res, "write");
            else if (res == QF_LENGTH_LEN)
                sp->patched = true; /* short: written again whole */
            break;
        case SPOOL_OP_TRIM:
            if (res < 0)
                fail(c, res, "ftruncate");
            else
                sp->trimmed = true;
            break;
        case SPOOL_OP_SYNC:
            if (res < 0)
                fail(c, res, "fsync");
            else
                sp->synced = true;
            break;
        case SPOOL_OP_RENAME:
            if (res < 0) {
                fail(c, res, "rename");
                break;
            }
            renamed(c);
            return;
        default:
            return;
        }
    }
    if (sp->err) {
        if (sp->ending) { /* the client waits for the verdict */
            remove_tmp(c);
            answer_error(c);
        }
        /* else spool_end answers; what still comes is dropped (fail) */
        if (!sp->ending && backlogged && !relay_backlogged(c))
            conn_pump(c);
        return;
    }
    step(c);
    if (backlogged && !relay_backlogged(c))
        conn_pump(c);
}
