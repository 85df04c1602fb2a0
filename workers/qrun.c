/*
 * qrun.c - the queue runner's loop (qrun.h): scans of incoming/ and
 * deferred/, a message's recipients dispatched to delivery jobs by next
 * hop, and the end of each attempt as Postfix's qmgr does it - the
 * notification for bounced recipients queued and only then the 'B' marks,
 * the errors of deferred recipients kept in the file, expiry, the delay
 * warning, the backoff, and removal once no recipient is pending.
 *
 * Order that makes it crash safe: a 2xx is marked 'D' (pwrite, not synced:
 * queue_file.h "Exactly once") before its log line and before anything else happens to the message; a
 * bounce is queued (synced and renamed into incoming/) before its
 * recipients are marked 'B'; a message leaves active/ only by a rename or
 * by its removal once nothing is pending. A runner that dies leaves its
 * messages in active/, and the next one takes them first.
 *
 * Failure: see qrun.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsn.h"
#include "log.h"
#include "maps_lmdb.h"
#include "qrun_int.h"
#include "util.h"

#define QRUN_POLL_MAX 1024
#define QRUN_DRAIN_MS 4000 /* under the master's stop grace (5 s) */

void qrun_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

int64_t qrun_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t qrun_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


struct qdest *qrun_dest(struct qrun *r, const char *key, const struct sched_conc *conc)
{
    struct qdest *free_slot = NULL;
    for (size_t i = 0; i < QRUN_MAX_DEST; i++) {
        if (r->dest[i].used && r->dest[i].conc == conc && !strcmp(r->dest[i].key, key))
            return &r->dest[i];
        if (!r->dest[i].used && !free_slot)
            free_slot = &r->dest[i];
    }
    if (!free_slot) {
        /* forget an idle destination (its feedback is lost, as qmgr
         * forgets an empty queue) */
        for (size_t i = 0; i < QRUN_MAX_DEST && !free_slot; i++)
            if (r->dest[i].sd.busy == 0)
                free_slot = &r->dest[i];
        if (!free_slot)
            free_slot = &r->dest[0];
    }
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->used = true;
    qrun_fmt(free_slot->key, sizeof(free_slot->key), "%s", key);
    free_slot->conc = conc;
    sched_dest_init(&free_slot->sd, conc);
    return free_slot;
}

/* ---- recipients ---- */

void qrun_rcpt_sent(struct qrun *r, struct qmsg *m, unsigned i, const struct qjob *j,
                    const char *reply)
{
    struct qr_rcpt_out *o = &m->out[i];
    /* NOTIFY=SUCCESS and a next hop without DSN: we owe the sender a
     * "relayed" report (Postfix's smtp sent() with DSN_NOTIFY_SUCCESS). The
     * 'S' mark keeps the reason, so a restarted runner still sends it. A
     * next hop with DSN got NOTIFY itself: the report is its business. */
    const char *nt = m->env.rcpt[i].notify;
    bool report = nt && (qf_notify_parse(nt, strlen(nt)) & QF_NOTIFY_SUCCESS) && j && j->cl &&
                  j->host[0] && !(j->cl->ehlo.ext & SMTP_EXT_DSN);
    o->mta[0] = o->diag[0] = 0;
    qrun_fmt(o->why, sizeof(o->why), "delivery via %s[%s]:%u: %s", j && j->host[0] ? j->host : "none",
             j && j->addr[0] ? j->addr : "none", j ? j->port : 0, reply);
    if (j && j->host[0]) {
        qrun_fmt(o->mta, sizeof(o->mta), "%s", j->host);
        qrun_fmt(o->diag, sizeof(o->diag), "%s", reply);
    }
    for (char *p = o->why; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    for (char *p = o->diag; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    int rc = qf_mark(m->fd, &m->env, i, report ? QF_SUCCESS_DUE : QF_DELIVERED,
                     report ? o->why : NULL);
    if (rc < 0) {
        /* Delivered but not recorded: it stays pending and may go twice. */
        log_error("%s: cannot record the delivery to <%s>: %s", m->env.queue_id,
                  m->env.rcpt[i].addr, strerror(-rc));
        m->out[i].fate = QR_DEFER;
        qrun_fmt(m->out[i].why, sizeof(m->out[i].why), "queue file write error");
        qrun_fmt(m->out[i].status, sizeof(m->out[i].status), "4.3.0");
    } else {
        m->out[i].fate = QR_SENT;
    }
    char text[600];
    qrun_fmt(text, sizeof(text), "%s", reply);
    for (char *p = text; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    char dsn[12] = "2.0.0";
    if (text[0] == '2' && text[3] == ' ' && text[4] == '2' && text[5] == '.') {
        size_t n = strcspn(text + 4, " ");
        if (n < sizeof(dsn))
            qrun_fmt(dsn, sizeof(dsn), "%.*s", (int)n, text + 4);
    }
    qrun_fmt(o->status, sizeof(o->status), "%s", dsn);
    qrun_log_delivery(r, m, i, j, "sent", dsn, text);
}

/* Recipients marked 'S': their success report, then 'D'. A report that
 * cannot be queued leaves them 'S' for the next time the message is taken. */
static void success_reports(struct qrun *r, struct qmsg *m, unsigned *idx)
{
    struct qf_env *e = &m->env;
    unsigned n = 0;
    for (unsigned i = 0; i < e->nrcpt; i++)
        if (e->rcpt[i].state == QF_SUCCESS_DUE)
            idx[n++] = i;
    if (n == 0)
        return;
    char newid[QF_ID_MAX + 1];
    int rc = qrun_notify(r, m, DSN_SUCCESS, idx, n, newid);
    if (rc < 0) {
        log_warn("%s: cannot queue the delivery status notification: %s", e->queue_id,
                 strerror(-rc));
        return;
    }
    if (rc == 1)
        qrun_log_notice(e->queue_id, "delivery status", newid);
    for (unsigned k = 0; k < n; k++) {
        char why[QF_ERROR_MAX + 1];
        qrun_fmt(why, sizeof(why), "%s", e->rcpt[idx[k]].error);
        rc = qf_mark(m->fd, e, idx[k], QF_DELIVERED, why);
        if (rc < 0)
            log_error("%s: cannot record the report for <%s>: %s", e->queue_id,
                      e->rcpt[idx[k]].addr, strerror(-rc));
    }
}

static bool success_due(const struct qf_env *e)
{
    for (unsigned i = 0; i < e->nrcpt; i++)
        if (e->rcpt[i].state == QF_SUCCESS_DUE)
            return true;
    return false;
}

void qrun_rcpt_fail(struct qrun *r, struct qmsg *m, unsigned i, const struct qjob *j, bool perm,
                    const char *status, const char *why, const char *diag)
{
    struct qr_rcpt_out *o = &m->out[i];
    o->fate = perm ? QR_BOUNCE : QR_DEFER;
    qrun_fmt(o->status, sizeof(o->status), "%s", status);
    qrun_fmt(o->why, sizeof(o->why), "%s", why);
    qrun_fmt(o->diag, sizeof(o->diag), "%s", diag ? diag : "");
    o->mta[0] = 0;
    if (j && j->host[0] && diag && *diag)
        qrun_fmt(o->mta, sizeof(o->mta), "%s", j->host);
    qrun_log_delivery(r, m, i, j, perm ? "bounced" : "deferred", status, why);
}

/* ---- messages ---- */

static void msg_free(struct qrun *r, struct qmsg *m)
{
    for (struct qmsg **pp = &r->msgs; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    r->nmsgs--;
    if (r->incoming_more)
        r->next_incoming_ms = 0; /* room again for what the last scan left */
    if (m->fd >= 0)
        close(m->fd);
    qf_env_free(&m->env);
    free(m->out);
    free(m);
}

/* Notification for idx[0..n), then their 'B' marks. */
static void bounce_rcpts(struct qrun *r, struct qmsg *m, const unsigned *idx, unsigned n)
{
    char newid[QF_ID_MAX + 1];
    if (n == 0)
        return;
    int rc = qrun_notify(r, m, DSN_FAILURE, idx, n, newid);
    if (rc < 0) {
        log_warn("%s: cannot queue the non-delivery notification: %s; recipients stay "
                 "deferred", m->env.queue_id, strerror(-rc));
        for (unsigned k = 0; k < n; k++)
            (void)qf_mark(m->fd, &m->env, idx[k], QF_PENDING, m->out[idx[k]].why);
        return;
    }
    if (rc == 1)
        qrun_log_notice(m->env.queue_id, "non-delivery", newid);
    for (unsigned k = 0; k < n; k++) {
        rc = qf_mark(m->fd, &m->env, idx[k], QF_BOUNCED, m->out[idx[k]].why);
        if (rc < 0)
            log_error("%s: cannot record the bounce of <%s>: %s", m->env.queue_id,
                      m->env.rcpt[idx[k]].addr, strerror(-rc));
    }
}

void qrun_job_done(struct qrun *r, struct qmsg *m)
{
    struct qf_env *e = &m->env;
    unsigned *idx = xmalloc((e->nrcpt + 1) * sizeof(*idx));
    unsigned n = 0;
    success_reports(r, m, idx);
    for (unsigned i = 0; i < e->nrcpt; i++)
        if (e->rcpt[i].state == QF_PENDING && m->out[i].fate == QR_BOUNCE)
            idx[n++] = i;
    bounce_rcpts(r, m, idx, n);
    for (unsigned i = 0; i < e->nrcpt; i++)
        if (e->rcpt[i].state == QF_PENDING && m->out[i].fate == QR_DEFER)
            (void)qf_mark(m->fd, e, i, QF_PENDING, m->out[i].why);

    time_t now = time(NULL);
    bool null_sender = e->sender[0] == 0;
    if (qf_pending(e) > 0) {
        struct sched_decision dec;
        unsigned flags = e->attempts >= QRUN_WARNED ? QRUN_WARNED : 0;
        time_t warn = flags ? 0 : sched_warn_time((time_t)e->arrival, &r->sp);
        sched_after_deferral((time_t)e->arrival, null_sender, warn, now, &r->sp, &dec);
        if (dec.action == SCHED_EXPIRE) {
            /* qmgr_active_done: one line for the message, none per
             * recipient (Postfix 3.7.11 checked, test_daemon_queue_limits) */
            log_info("%s: from=<%s>, status=expired, returned to sender", e->queue_id, e->sender);
            n = 0;
            for (unsigned i = 0; i < e->nrcpt; i++) {
                if (e->rcpt[i].state != QF_PENDING)
                    continue;
                struct qr_rcpt_out *o = &m->out[i];
                if (!o->why[0])
                    qrun_fmt(o->why, sizeof(o->why), "%s", e->rcpt[i].error[0]
                             ? e->rcpt[i].error : "message expired");
                if (!o->status[0])
                    qrun_fmt(o->status, sizeof(o->status), "4.4.7");
                o->fate = QR_BOUNCE;
                idx[n++] = i;
            }
            bounce_rcpts(r, m, idx, n);
        } else {
            if (dec.action == SCHED_WARN && !null_sender) {
                char newid[QF_ID_MAX + 1];
                n = 0;
                for (unsigned i = 0; i < e->nrcpt; i++)
                    if (e->rcpt[i].state == QF_PENDING) {
                        if (!m->out[i].why[0])
                            qrun_fmt(m->out[i].why, sizeof(m->out[i].why), "%s",
                                     e->rcpt[i].error);
                        if (!m->out[i].status[0])
                            qrun_fmt(m->out[i].status, sizeof(m->out[i].status), "4.0.0");
                        idx[n++] = i;
                    }
                int rc = qrun_notify(r, m, DSN_DELAY, idx, n, newid);
                if (rc == 1)
                    qrun_log_notice(e->queue_id, "delay", newid);
                if (rc >= 0)
                    flags = QRUN_WARNED;
            } else if (dec.action == SCHED_WARN) {
                flags = QRUN_WARNED;
            }
            unsigned tries = e->attempts % QRUN_WARNED;
            unsigned attempts = (tries + 1 < QRUN_WARNED ? tries + 1 : tries) + flags;
            int rc = qf_set_schedule(m->fd, e, attempts, (int64_t)dec.next_attempt);
            if (rc < 0)
                log_error("%s: cannot record the next attempt: %s", e->queue_id, strerror(-rc));
            close(m->fd);
            m->fd = -1;
            rc = qdir_rename(&r->q, e->queue_id, QDIR_ACTIVE, QDIR_DEFERRED);
            if (rc < 0)
                log_error("%s: move to deferred: %s", e->queue_id, strerror(-rc));
            free(idx);
            msg_free(r, m);
            return;
        }
    }
    free(idx);
    if (qf_pending(e) == 0 && !success_due(e)) {
        close(m->fd);
        m->fd = -1;
        /* not synced: a removal a system crash undoes delivers again
         * what every recipient's mark says is done - the runner skips it.
         * The file goes to the inode pool for a worker's next message
         * (queue_dir.h) unless the pool is full. */
        int rc = qdir_recycle(&r->q, e->queue_id, QDIR_ACTIVE, e->tail_off);
        if (rc < 0)
            log_error("%s: remove: %s", e->queue_id, strerror(-rc));
        log_info("%s: removed", e->queue_id);
    } else {
        /* a bounce or success report could not be queued: try again later */
        close(m->fd);
        m->fd = -1;
        (void)qdir_rename(&r->q, e->queue_id, QDIR_ACTIVE, QDIR_DEFERRED);
    }
    msg_free(r, m);
}

static bool same_hop(const struct nexthop *a, const struct nexthop *b)
{
    return a->kind == b->kind && a->port == b->port && a->mx == b->mx &&
           !strcmp(a->host, b->host) && !strcmp(a->text, b->text) &&
           !strcmp(a->unix_path, b->unix_path);
}

/* One job per next hop for the pending recipients. */
static void dispatch(struct qrun *r, struct qmsg *m)
{
    struct qf_env *e = &m->env;
    struct nexthop *hop = xcalloc(e->nrcpt, sizeof(*hop));
    int *ok = xcalloc(e->nrcpt, sizeof(*ok));
    unsigned *grp = xmalloc(e->nrcpt * sizeof(*grp));
    m->jobs++; /* hold the message while its jobs start */
    for (unsigned i = 0; i < e->nrcpt; i++) {
        if (e->rcpt[i].state != QF_PENDING)
            continue;
        int rc = transport_resolve(r->g->transport, e->rcpt[i].addr, &hop[i]);
        if (rc < 0) {
            qrun_rcpt_fail(r, m, i, NULL, false, "4.3.0",
                           rc == -EAGAIN ? "transport table lookup failure"
                                         : "mail transport unavailable", "");
            continue;
        }
        ok[i] = 1;
    }
    for (unsigned i = 0; i < e->nrcpt; i++) {
        if (!ok[i])
            continue;
        unsigned n = 0;
        for (unsigned k = i; k < e->nrcpt; k++)
            if (ok[k] && same_hop(&hop[i], &hop[k]) &&
                qrun_conc_for(r, e->rcpt[k].addr) == qrun_conc_for(r, e->rcpt[i].addr)) {
                grp[n++] = k;
                ok[k] = 0;
            }
        qjob_start(r, m, &hop[i], grp, n);
    }
    free(hop);
    free(ok);
    free(grp);
    if (--m->jobs == 0)
        qrun_job_done(r, m);
}

/* Take message id from queue `from` (moved to active/ first). */
static void take(struct qrun *r, const char *id, enum qdir_queue from)
{
    if (from != QDIR_ACTIVE) {
        int rc = qdir_rename(&r->q, id, from, QDIR_ACTIVE);
        if (rc < 0) {
            if (rc != -ENOENT)
                log_warn("%s: move to active: %s", id, strerror(-rc));
            return;
        }
    }
    int fd = openat(r->q.fd[QDIR_ACTIVE], id, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        log_warn("%s: open active/%s: %s", id, id, strerror(errno));
        return;
    }
    struct qmsg *m = xcalloc(1, sizeof(*m));
    struct qf_error err;
    int rc = qf_read_envelope(fd, &m->env, &err);
    if (rc < 0) {
        if (rc == -EBADMSG)
            log_warn("%s: corrupt queue file at offset %llu: %s; moved to corrupt", id,
                     (unsigned long long)err.offset, err.what);
        else
            log_warn("%s: read: %s; moved to corrupt", id, strerror(-rc));
        close(fd);
        free(m);
        (void)qdir_rename(&r->q, id, QDIR_ACTIVE, QDIR_CORRUPT);
        return;
    }
    if (strcmp(m->env.queue_id, id) != 0) {
        /* A name a system crash brought back after its file went to the
         * pool and on to another message (queue_dir.h): that message is
         * queued under its own name; never deliver it twice. */
        log_warn("%s: queue file holds message %s; moved to corrupt", id, m->env.queue_id);
        qf_env_free(&m->env);
        close(fd);
        free(m);
        (void)qdir_rename(&r->q, id, QDIR_ACTIVE, QDIR_CORRUPT);
        return;
    }
    m->fd = fd;
    m->out = xcalloc(m->env.nrcpt, sizeof(*m->out));
    m->active_us = qrun_now_us();
    /* REDIRECT: one delivery, to the target, as qmgr_message_resolve() */
    (void)qf_redirect_apply(&m->env);
    m->next = r->msgs;
    r->msgs = m;
    r->nmsgs++;
    dispatch(r, m);
}

struct idlist {
    char (*id)[QF_ID_MAX + 1];
    size_t n, cap;
};

static int collect(void *ctx, const char *id)
{
    struct idlist *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->id = xrealloc(l->id, l->cap * sizeof(*l->id));
    }
    qrun_fmt(l->id[l->n++], QF_ID_MAX + 1, "%s", id);
    return 0;
}

static bool is_active(const struct qrun *r, const char *id)
{
    for (const struct qmsg *m = r->msgs; m; m = m->next)
        if (!strcmp(m->env.queue_id, id))
            return true;
    return false;
}

/* Returns true when files were left for want of room (QRUN_MAX_MSGS). */
static bool scan(struct qrun *r, enum qdir_queue which, bool all)
{
    struct idlist l = {0};
    (void)qdir_scan(&r->q, which, collect, &l);
    time_t now = time(NULL);
    size_t i;
    for (i = 0; i < l.n && r->nmsgs < QRUN_MAX_MSGS; i++) {
        if (is_active(r, l.id[i]))
            continue;
        if (which == QDIR_DEFERRED && !all) {
            /* only when due: read the W record without moving the file */
            int fd = openat(r->q.fd[QDIR_DEFERRED], l.id[i], O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            struct qf_env e;
            struct qf_error err;
            int rc = qf_read_envelope(fd, &e, &err);
            close(fd);
            if (rc == 0) {
                bool due = sched_due((time_t)e.next_attempt, now);
                qf_env_free(&e);
                if (!due)
                    continue;
            }
        }
        take(r, l.id[i], which);
    }
    free(l.id);
    return i < l.n;
}

/* incoming/: continue the scan in progress; read the directory again only
 * when its ids are used up and a wake-up (trigger, our own notice, the
 * safety poll) came since it was read - as qmgr's scan_dir, which a
 * trigger during a scan restarts once the scan completes. A file that
 * arrived meanwhile thus waits for the ids read before it, never for the
 * next trigger. An id taken or moved since it was read fails its rename
 * with ENOENT quietly. Returns true when ids were left for want of room.
 * At most two reads: inq_stale is cleared by a read and set only from
 * outside. */
static bool scan_incoming(struct qrun *r)
{
    for (;;) {
        if (r->inq_next >= r->inq_n) {
            if (!r->inq_stale)
                return false;
            struct idlist l = {0};
            r->inq_stale = false;
            (void)qdir_scan(&r->q, QDIR_INCOMING, collect, &l);
            free(r->inq);
            r->inq = l.id;
            r->inq_n = l.n;
            r->inq_next = 0;
            if (l.n == 0)
                return false;
        }
        while (r->inq_next < r->inq_n && r->nmsgs < QRUN_MAX_MSGS) {
            const char *id = r->inq[r->inq_next++];
            if (!is_active(r, id))
                take(r, id, QDIR_INCOMING);
        }
        if (r->inq_next < r->inq_n)
            return true;
    }
}

/* 'R': every deferred message back to incoming/ with its schedule reset. */
static void requeue(struct qrun *r)
{
    struct idlist l = {0};
    unsigned n = 0;
    (void)qdir_scan(&r->q, QDIR_DEFERRED, collect, &l);
    for (size_t i = 0; i < l.n; i++) {
        int fd = openat(r->q.fd[QDIR_DEFERRED], l.id[i], O_RDWR | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct qf_env e;
        struct qf_error err;
        if (qf_read_envelope(fd, &e, &err) == 0) {
            (void)qf_set_schedule(fd, &e, e.attempts, 0);
            qf_env_free(&e);
        }
        close(fd);
        if (qdir_rename(&r->q, l.id[i], QDIR_DEFERRED, QDIR_INCOMING) == 0)
            n++;
    }
    free(l.id);
    log_info("requeue: %u message%s", n, n == 1 ? "" : "s");
}

static void on_trigger(struct qrun *r)
{
    char buf[64];
    ssize_t n;
    while ((n = read(r->trigger_fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == 'F') {
                r->flush = true;
                for (size_t k = 0; k < QRUN_MAX_DEST; k++)
                    if (r->dest[k].used && r->dest[k].sd.window == 0)
                        sched_dest_init(&r->dest[k].sd, r->dest[k].conc);
            } else if (buf[i] == 'R') {
                requeue(r);
            }
            r->next_incoming_ms = 0;
            r->inq_stale = true;
        }
    }
}

static void loop(struct qrun *r, int sfd)
{
    struct pollfd pfd[QRUN_POLL_MAX];
    struct qjob *who[QRUN_POLL_MAX];
    int64_t drain_until = 0;
    for (;;) {
        int64_t now = qrun_now_ms();
        if (r->stop) {
            /* SIGTERM (stop, reload): no new message; deliveries in
             * progress may finish for QRUN_DRAIN_MS, so a reload does
             * not cut transactions after their final dot */
            if (!drain_until)
                drain_until = now + QRUN_DRAIN_MS;
            bool busy = false;
            for (struct qjob *j = r->jobs; j && !busy; j = j->next)
                busy = j->state == QJ_CONNECT || j->state == QJ_SMTP || j->state == QJ_RESOLVE;
            if (!busy || now >= drain_until)
                return;
        } else if (now >= r->next_incoming_ms && (r->nmsgs < QRUN_MAX_MSGS || !r->incoming_more)) {
            /* Woken (a worker's or our own 'W', flush, requeue, room
             * again) or the safety poll: queue_run_delay, as qmgr's
             * clock scans incoming too. A full active set waits for
             * room instead of reading a big directory for nothing. */
            if (r->next_incoming_ms != 0)
                r->inq_stale = true; /* the safety poll, not a wake-up or room */
            r->incoming_more = scan_incoming(r);
            r->next_incoming_ms = now + (int64_t)r->sp.queue_run_delay * 1000;
        }
        time_t t = time(NULL);
        if (!r->stop && (t >= r->next_deferred_scan || r->flush)) {
            scan(r, QDIR_DEFERRED, r->flush);
            r->flush = false;
            r->next_deferred_scan = sched_next_scan(t, &r->sp);
        }
        if (!r->stop)
            qjob_kick(r);
        qjob_reap(r);
        /* the runner is the one process that sweeps the shared TLS
         * session cache (a bounded batch per turn) */
        client_tls_cache_sweep(&r->tls_cache, r->g->client_tls, (int64_t)t);

        int64_t next = r->stop ? drain_until
                       : r->incoming_more && r->nmsgs >= QRUN_MAX_MSGS
                           ? now + (int64_t)r->sp.queue_run_delay * 1000
                           : r->next_incoming_ms;
        size_t n = 0;
        pfd[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = r->trigger_fd, .events = POLLIN};
        size_t dns0 = n;
        n += dns_fds(r->dns, pfd + n, 32);
        size_t job0 = n;
        n += qjob_pollfds(r, pfd + n, who + n, QRUN_POLL_MAX - n, &next);
        /* tables the runner never looks up (inherited from the master)
         * must not keep a rebuilt file's old inode mapped (maps_lmdb.h) */
        map_lmdb_refresh_due(qrun_now_ms(), &next);
        int dt = dns_next_timeout_ms(r->dns);
        int64_t timeout = next - qrun_now_ms();
        int64_t scan_ms = ((int64_t)r->next_deferred_scan - (int64_t)time(NULL)) * 1000;
        if (scan_ms < timeout)
            timeout = scan_ms;
        if (dt >= 0 && dt < timeout)
            timeout = dt;
        if (timeout < 0)
            timeout = 0;
        int rc = poll(pfd, n, (int)timeout);
        if (rc < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            return;
        }
        if (rc > 0) {
            if (pfd[0].revents & POLLIN) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof(si)) == sizeof(si))
                    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                        r->stop = true;
                    else if (si.ssi_signo == SIGUSR1)
                        r->flush = true;
            }
            if (pfd[1].revents & POLLIN)
                on_trigger(r);
            for (size_t i = dns0; i < job0; i++)
                if (pfd[i].revents)
                    dns_process(r->dns, pfd[i].fd, !!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)),
                                !!(pfd[i].revents & POLLOUT));
            for (size_t i = job0; i < n; i++)
                if (pfd[i].revents)
                    qjob_io(who[i], pfd[i].revents);
        }
        dns_timeout(r->dns);
        qjob_timers(r, qrun_now_ms());
    }
}

/* One runner per queue. A runner whose master died (kill -9) gets SIGTERM
 * and drains its deliveries for up to QRUN_DRAIN_MS; a runner of the next
 * master must not start meanwhile: both would take active/ (duplicate
 * deliveries, and a file the old one moves into active/ after the new one
 * scanned it would wait there for yet another restart). The lock is an
 * flock on active/ itself, released by the kernel when the holder exits.
 * 0 locked, 1 stopped while waiting (SIGTERM), -errno. */
static int lock_queue(struct qrun *r, int sfd)
{
    bool told = false;
    while (flock(r->q.fd[QDIR_ACTIVE], LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return -errno;
        if (!told)
            log_warn("another queue runner still works on %s: waiting for it",
                     r->cfg->p.queue_directory);
        told = true;
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        if (sfd >= 0 && poll(&p, 1, 100) > 0) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == sizeof(si))
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                    return 1;
        } else if (sfd < 0) {
            (void)poll(NULL, 0, 100);
        }
    }
    return 0;
}

int qrun_run(const struct generation *g)
{
    static struct qrun run; /* one per process; big (TLS session cache) */
    struct qrun *r = &run;
    memset(r, 0, sizeof(*r));
    r->g = g;
    r->cfg = &g->cfg;
    r->trigger_fd = -1;
    log_init("mxscreen/qmgr", 1);
    const char *qd = r->cfg->p.queue_directory;
    int rc = qdir_open(qd, &r->q);
    if (rc < 0) {
        log_error("queue_directory %s: %s", qd, strerror(-rc));
        return 1;
    }
    if ((rc = qrun_open_trigger(r)) < 0)
        log_warn("trigger FIFO %s/%s: %s (flush/requeue will not reach the runner)", qd,
                 QRUN_TRIGGER, strerror(-rc));
    if ((rc = qrun_dns_init(r)) < 0) {
        log_error("DNS resolver: %s", strerror(-rc));
        qdir_close(&r->q);
        return 1;
    }
    qrun_opts_init(r);
    (void)qdir_clean_tmp(&r->q, getpid());
    (void)qdir_clean_pool(&r->q);

    int sfd = daemon_signalfd();
    if (sfd < 0)
        log_warn("signalfd: %s (stop and reload will not reach the runner)", strerror(-sfd));

    if ((rc = lock_queue(r, sfd)) != 0) {
        if (rc < 0)
            log_error("lock %s/active: %s", qd, strerror(-rc));
        if (sfd >= 0)
            close(sfd);
        dns_close(r->dns);
        if (r->trigger_fd >= 0)
            close(r->trigger_fd);
        qdir_close(&r->q);
        return rc < 0 ? 1 : 0;
    }
    /* what a runner that died was delivering comes first */
    scan(r, QDIR_ACTIVE, true);
    r->next_deferred_scan = 0;
    r->inq_stale = true;
    loop(r, sfd);

    /* stopping: messages in flight stay in active/ for the next runner */
    qjob_abort_all(r);
    while (r->msgs) {
        struct qmsg *m = r->msgs;
        r->msgs = m->next;
        if (m->fd >= 0)
            close(m->fd);
        qf_env_free(&m->env);
        free(m->out);
        free(m);
    }
    free(r->inq);
    qrun_conn_opts_free(r);
    qrun_conc_free(r);
    client_tls_cache_close(&r->tls_cache);
    if (sfd >= 0)
        close(sfd);
    if (r->trigger_fd >= 0)
        close(r->trigger_fd);
    dns_close(r->dns);
    qdir_close(&r->q);
    return 0;
}
