/*
 * qrun_notify.c - what the queue runner writes besides marks: delivery
 * notifications (dsn.h) queued as new messages from <> to the original
 * sender, and Postfix's per-recipient delivery log line.
 *
 * A notification is queued exactly as a worker queues a message
 * (queue_dir.h): written to tmp/PID.ID, fdatasync, renamed into incoming/,
 * incoming/ synced; only then does the caller mark the recipients 'B'. A
 * crash in between sends the notification twice, never not at all.
 *
 * Failure: qrun_notify() returns -errno when the file cannot be written
 * (nothing is left in incoming/; a tmp/ file is removed); dsn_build()
 * errors come back as they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsn.h"
#include "log.h"
#include "maillog.h"
#include "qrun_int.h"
#include "spool.h"
#include "util.h"

void qrun_new_id(struct qrun *r, char out[QF_ID_MAX + 1])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* the workers' form (time, pid, sequence): unique across processes */
    qrun_fmt(out, QF_ID_MAX + 1, "%08llX%05X%04X",
             (unsigned long long)ts.tv_sec & 0xffffffffull, (unsigned)getpid() & 0xfffff,
             (unsigned)(++r->seq & 0xffff));
}

struct reader {
    int fd;
    uint64_t off, end;
};

static ssize_t read_content(void *arg, char *buf, size_t len)
{
    struct reader *rd = arg;
    if (rd->off >= rd->end)
        return 0;
    if (len > rd->end - rd->off)
        len = (size_t)(rd->end - rd->off);
    ssize_t n = pread(rd->fd, buf, len, (off_t)rd->off);
    if (n < 0)
        return -errno;
    rd->off += (uint64_t)n;
    return n;
}

/* The N record's words (queue_file.h: the same bits as DSN_NOTIFY_*). */
static unsigned notify_flags(const char *s)
{
    int m = s ? qf_notify_parse(s, strlen(s)) : 0;
    return m > 0 ? (unsigned)m : 0;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Queue content from <> to rcpt under id. */
static int queue_message(struct qrun *r, const char *id, const char *rcpt, const struct strbuf *body)
{
    struct qf_rcpt qr = {.addr = (char *)rcpt, .state = QF_PENDING};
    struct qf_env e = {0};
    qrun_fmt(e.queue_id, sizeof(e.queue_id), "%s", id);
    e.arrival = (int64_t)time(NULL);
    e.sender = (char *)"";
    e.proto = (char *)"bounce";
    e.rcpt = &qr;
    e.nrcpt = 1;
    e.content_len = body->len;
    struct strbuf head = {0};
    size_t length_off;
    int rc = qf_encode_head(&e, &head, &length_off);
    if (rc < 0) {
        strbuf_free(&head);
        return rc;
    }
    char tmp[64];
    qrun_fmt(tmp, sizeof(tmp), "%ld.%s", (long)getpid(), id);
    int fd = openat(r->q.fd[QDIR_TMP], tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        strbuf_free(&head);
        return -errno;
    }
    if ((rc = write_all(fd, head.buf, head.len)) == 0 &&
        (rc = write_all(fd, body->buf ? body->buf : "", body->len)) == 0 &&
        (rc = write_all(fd, QF_TRAILER, QF_TRAILER_LEN)) == 0 && fdatasync(fd) < 0)
        rc = -errno;
    close(fd);
    strbuf_free(&head);
    if (rc == 0 && renameat(r->q.fd[QDIR_TMP], tmp, r->q.fd[QDIR_INCOMING], id) < 0)
        rc = -errno;
    if (rc == 0)
        rc = qdir_sync(&r->q, QDIR_INCOMING);
    if (rc < 0) {
        unlinkat(r->q.fd[QDIR_TMP], tmp, 0);
        return rc;
    }
    r->next_incoming_ms = 0; /* our own trigger: the notice goes out at the next turn */
    r->inq_stale = true;
    return 0;
}

/* smtputf8_enable (Postfix default yes): 8-bit text in notifications,
 * and how addresses compare (qf_addr_equal). */
static bool smtputf8(const struct config *c)
{
    bool utf8 = true;
    (void)cfg_value_bool(spool_param(c, "smtputf8_enable", "yes"), &utf8);
    return utf8;
}

/* The original recipient worth naming beside addr (orig_to=, "expanded
 * from"): Postfix names it only when it differs in more than case. */
static const char *orig_of(const struct config *c, const struct qf_rcpt *qr)
{
    if (!qr->orig_addr || !qr->orig_addr[0] || qf_addr_equal(qr->addr, qr->orig_addr, smtputf8(c)))
        return NULL;
    return qr->orig_addr;
}

int qrun_notify(struct qrun *r, struct qmsg *m, int kind, const unsigned *idx, unsigned n,
                char newid[QF_ID_MAX + 1])
{
    const struct qf_env *e = &m->env;
    const struct config *c = r->cfg;
    if (e->sender[0] == 0) /* never to the null sender */
        return 0;
    struct dsn_rcpt *dr = xcalloc(n, sizeof(*dr));
    for (unsigned k = 0; k < n; k++) {
        const struct qf_rcpt *qr = &e->rcpt[idx[k]];
        const struct qr_rcpt_out *o = &m->out[idx[k]];
        dr[k].address = qr->addr;
        dr[k].orig_addr = orig_of(c, qr);
        dr[k].orcpt = qr->orcpt;
        dr[k].notify = notify_flags(qr->notify);
        dr[k].status = o->status[0]          ? o->status
                       : kind == DSN_FAILURE ? "5.0.0"
                       : kind == DSN_SUCCESS ? "2.0.0"
                                             : "4.0.0";
        dr[k].reason = o->why[0] ? o->why : qr->error;
        if (o->mta[0] && o->diag[0]) {
            dr[k].mta_type = "dns";
            dr[k].mta_name = o->mta;
            dr[k].diag_type = "smtp";
            dr[k].diag_text = o->diag;
        }
    }
    qrun_new_id(r, newid);
    struct reader rd = {m->fd, e->content_off, e->content_off + e->content_len};
    bool utf8 = smtputf8(c);
    struct dsn_message dm = {
        .kind = kind == DSN_FAILURE ? DSN_FAILURE : kind == DSN_SUCCESS ? DSN_SUCCESS : DSN_DELAY,
        .queue_id = e->queue_id,
        .sender = e->sender,
        .arrival = (time_t)e->arrival,
        .now = time(NULL),
        .dsn_queue_id = newid,
        .envid = e->envid,
        .ret = e->ret && !strcmp(e->ret, "HDRS")   ? DSN_RET_HDRS
               : e->ret && !strcmp(e->ret, "FULL") ? DSN_RET_FULL
                                                   : DSN_RET_DEFAULT,
        .rcpt = dr,
        .nrcpt = n,
        .content_size = (size_t)e->content_len,
        .read = read_content,
        .read_arg = &rd,
    };
    struct dsn_params p = {
        .myhostname = c->p.myhostname,
        .myorigin = c->p.myorigin,
        .mail_name = c->p.mail_name ? c->p.mail_name : "Postfix",
        .bounce_size_limit = c->p.bounce_size_limit,
        .maximal_queue_lifetime = c->p.maximal_queue_lifetime,
        .delay_warning_time = c->p.delay_warning_time,
        .smtputf8_enable = utf8,
    };
    struct strbuf out = {0};
    int rc = dsn_build(&dm, &p, &out);
    free(dr);
    if (rc == 1) {
        int q = queue_message(r, newid, e->sender, &out);
        if (q < 0)
            rc = q;
    }
    strbuf_free(&out);
    return rc;
}

void qrun_log_notice(const char *queue_id, const char *kind, const char *newid)
{
    log_init("mxscreen/bounce", 1);
    log_info("%s: sender %s notification: %s", queue_id, kind, newid);
    log_init("mxscreen/qmgr", 1);
}

void qrun_log_delivery(struct qrun *r, const struct qmsg *m, unsigned i, const struct qjob *j,
                       const char *status, const char *dsn, const char *text)
{
    int64_t now = qrun_now_us();
    int64_t arrival = m->env.arrival * 1000000;
    int64_t start = j && j->start_us ? j->start_us : now;
    int64_t conn = j && j->conn_us ? j->conn_us : start;
    if (conn > now)
        conn = now;
    struct maillog_delivery d = {
        .queue_id = m->env.queue_id,
        .recipient = m->env.rcpt[i].addr,
        .orig_recipient = orig_of(r->cfg, &m->env.rcpt[i]),
        .relay_host = j && j->host[0] ? j->host : NULL,
        .relay_addr = j && j->addr[0] ? j->addr : NULL,
        .relay_port = j && j->host[0] ? j->port : 0,
        .conn_use = j ? j->conn_use : 0, /* >1: this connection was reused */
        .delay_us = (uint64_t)(now > arrival ? now - arrival : 0),
        .delays_us = {(uint64_t)(m->active_us > arrival ? m->active_us - arrival : 0),
                      (uint64_t)(start > m->active_us ? start - m->active_us : 0),
                      (uint64_t)(conn > start ? conn - start : 0),
                      (uint64_t)(now > conn ? now - conn : 0)},
        .dsn = dsn,
        .status = status,
        .reply = text,
    };
    char line[2048];
    /* the delivery agent's line: smtp(8)'s name, as log tools expect */
    log_init("mxscreen/smtp", 1);
    int rc = maillog_delivery(line, sizeof(line), &d);
    if (rc == 0 || rc == -ENOSPC)
        log_info("%s", line);
    log_init("mxscreen/qmgr", 1);
}
