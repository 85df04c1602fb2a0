/*
 * qrun_cache.c - the queue runner's next-hop connections after their
 * transaction, as Postfix's smtp(8) with its connection cache:
 *   - handed on: when another job for the same destination waits, the
 *     connection carries it at once (RSET, then its MAIL), which is
 *     smtp_connection_cache_on_demand under a backlog;
 *   - idle: otherwise, when the job was allowed to store its connection,
 *     it stays open (no QUIT) for smtp_connection_cache_time_limit and
 *     the next job to the same destination takes it instead of
 *     connecting (RSET before its MAIL, as Postfix's RSET probe).
 * A job may store its connection when its destination is listed in
 * smtp_connection_cache_destinations (the next-hop host without [] or
 * port, or an LMTP socket path), or on demand as Postfix's qmgr decides
 * (qmgr_entry.c): caching turns on when a delivery to the destination
 * ended in the last second (back-to-back), and off again when that is no
 * longer so and no other delivery to it runs; as qmgr forgets a queue
 * that ran empty, a delivery counts only while more mail for the
 * destination is in the runner (Postfix 3.7 checked: two messages a
 * second apart, defaults: two connections, each ended with QUIT). A connection older than
 * smtp_connection_reuse_time_limit, or that has been reused
 * smtp_connection_reuse_count_limit times (so carried limit + 1
 * transactions: Postfix's smtp_reuse.c counts takes from the cache, and
 * THIS_SESSION_IS_EXPIRED once reuse_count >= the limit), is not kept.
 * LMTP next hops use the lmtp_* parameters of the same names.
 * An idle connection is closed, without QUIT as Postfix's scache(8) does,
 * when its time is up, when the next hop sends anything or closes (EOF,
 * a 421), and at runner shutdown (qjob_abort_all). Deliberate
 * difference: a time limit of 0 turns idle caching off (Postfix refuses
 * 0 as below the parameter's minimum).
 *
 * Failure: none reported; a connection that cannot be kept is ended by
 * the caller as before (QUIT).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "matchlist.h"
#include "qrun_int.h"

const struct qrun_conn_opts *qrun_conn_opts(const struct qrun *r, const struct qjob *j)
{
    return &r->co[j->nh.kind == TRANSPORT_LMTP ? 1 : 0];
}

static const char *value_of(const struct config *c, const char *name)
{
    struct cfg_value v;
    if (config_get(c, name, &v) < 0)
        return NULL;
    return v.expanded ? v.expanded : v.raw;
}

static void opts_read(const struct config *c, const char *proto, struct qrun_conn_opts *o)
{
    char name[80];
    const char *t;
    *o = (struct qrun_conn_opts){.skip_5xx_greeting = true, .cache_on_demand = true,
                                 .cache_time_limit = 2, .reuse_time_limit = 300};
#define NAME(suffix) (snprintf(name, sizeof(name), "%s_%s", proto, suffix), name)
    if ((t = value_of(c, NAME("skip_5xx_greeting"))))
        (void)cfg_value_bool(t, &o->skip_5xx_greeting);
    if ((t = value_of(c, NAME("connection_cache_on_demand"))))
        (void)cfg_value_bool(t, &o->cache_on_demand);
    if ((t = value_of(c, NAME("connection_cache_time_limit"))) &&
        cfg_value_time(t, 's', &o->cache_time_limit) < 0)
        o->cache_time_limit = 2;
    if ((t = value_of(c, NAME("connection_reuse_time_limit"))) &&
        cfg_value_time(t, 's', &o->reuse_time_limit) < 0)
        o->reuse_time_limit = 300;
    if ((t = value_of(c, NAME("connection_reuse_count_limit"))) &&
        cfg_value_long(t, &o->reuse_count_limit) < 0)
        o->reuse_count_limit = 0;
    if ((t = value_of(c, NAME("connection_cache_destinations"))) && t[strspn(t, " \t,\r\n")]) {
        struct matchlist_err err;
        if (matchlist_compile(name, MATCHLIST_DOMAIN, 0, t, &o->cache_destinations, &err) < 0) {
            log_warn("%s: ignored", err.msg);
            o->cache_destinations = NULL;
        }
    }
#undef NAME
}

void qrun_conn_opts_init(struct qrun *r)
{
    opts_read(r->cfg, "smtp", &r->co[0]);
    opts_read(r->cfg, "lmtp", &r->co[1]);
}

void qrun_conn_opts_free(struct qrun *r)
{
    for (int i = 0; i < 2; i++) {
        matchlist_free(r->co[i].cache_destinations);
        r->co[i].cache_destinations = NULL;
    }
}

void qconn_policy(struct qrun *r, struct qjob *j)
{
    const struct qrun_conn_opts *o = qrun_conn_opts(r, j);
    struct qdest *d = j->d;
    time_t now = time(NULL);
    const char *name = j->nh.unix_path[0] ? j->nh.unix_path : j->nh.host;
    j->conn_store = false;
    if (o->cache_destinations && matchlist_match_domain(o->cache_destinations, name) == 1) {
        j->conn_store = o->cache_time_limit > 0;
        return;
    }
    if (!o->cache_on_demand)
        return;
    /* qmgr_entry_select: on after back-to-back deliveries, off when
     * neither concurrent (busy includes this job) nor back-to-back */
    bool back_to_back = d->last_done + 1 >= now;
    if (!d->conn_store)
        d->conn_store = back_to_back;
    else if (!(d->sd.busy > 1 || back_to_back))
        d->conn_store = false;
    j->conn_store = d->conn_store && o->cache_time_limit > 0;
}

void qconn_dest_done(struct qrun *r, const struct qjob *j)
{
    /* qmgr frees a queue that has no entry left, and its last_done and
     * caching flag with it: back-to-back means within one backlog */
    for (const struct qjob *w = r->jobs; w; w = w->next)
        if (w != j && w->d == j->d && w->state != QJ_DONE && w->state != QJ_IDLE) {
            j->d->last_done = time(NULL);
            return;
        }
    j->d->last_done = 0;
    j->d->conn_store = false;
}

/* The waiting job w's message, recipients and start go to j, whose
 * connection is ready; w is over. */
static void take_over(struct qjob *j, struct qjob *w)
{
    j->m = w->m;
    unsigned *t = j->rcpt, *a = j->accepted, n = j->nrcpt;
    j->rcpt = w->rcpt, j->accepted = w->accepted, j->nrcpt = w->nrcpt;
    w->rcpt = t, w->accepted = a, w->nrcpt = n; /* freed with w */
    j->conn_store = w->conn_store;
    w->m = NULL;
    w->state = QJ_DONE;
    j->start_us = j->conn_us = qrun_now_us(); /* Postfix: conn_setup_done at MAIL */
    j->conn_use++;
    j->state = QJ_SMTP;
    j->data_ok = j->body_done = j->dot_sent = false;
    j->body_off = 0;
    j->cbuf_off = j->cbuf_len = 0;
    j->last_why[0] = j->last_status[0] = '\0';
    j->idle_key[0] = '\0';
    memset(j->accepted, 0, j->nrcpt * sizeof(j->accepted[0]));
    qjob_transaction(j);
}

/* The connection is not worn out by the reuse limits. */
static bool fresh(const struct qjob *j)
{
    const struct qrun_conn_opts *o = qrun_conn_opts(j->r, j);
    if ((qrun_now_us() - j->born_us) / 1000000 >= o->reuse_time_limit)
        return false;
    /* conn_use counts transactions; the reuses are one fewer */
    return o->reuse_count_limit <= 0 || j->conn_use - 1 < (unsigned long)o->reuse_count_limit;
}

int qconn_keep(struct qjob *j)
{
    struct qrun *r = j->r;
    const struct qrun_conn_opts *o = qrun_conn_opts(r, j);
    if (r->stop || !j->cl || !smtp_client_usable(j->cl) || j->cl->quit_queued || !j->ready ||
        j->sout_len > 0 || !fresh(j))
        return 0;
    for (unsigned k = 0; k < j->nrcpt; k++)
        if (j->m->out[j->rcpt[k]].fate == QR_NONE)
            return 0; /* kept for another server: this one said no */
    struct qjob *w = NULL;
    if (o->cache_on_demand)
        for (w = r->jobs; w && (w == j || w->state != QJ_WAIT || w->d != j->d); w = w->next) {
        }
    if (!w && !j->conn_store)
        return 0;
    /* this job's message is done with */
    struct qmsg *m = j->m;
    time_t now = time(NULL);
    sched_dest_done(&j->d->sd, j->d->conc, j->dest_ok, now);
    qconn_dest_done(r, j);
    if (w) {
        /* its slot goes to the waiting one */
        sched_dest_tick(&j->d->sd, j->d->conc, now);
        bool may = j->d->sd.window > 0 && sched_dest_may_start(&j->d->sd);
        sched_dest_start(&j->d->sd); /* when !may, the caller's qjob_finish() ends it */
        if (!may)
            return 0;
        if (--m->jobs == 0)
            qrun_job_done(r, m);
        qconn_policy(r, w);
        take_over(j, w);
        return 1;
    }
    j->m = NULL;
    if (--m->jobs == 0)
        qrun_job_done(r, m);
    j->state = QJ_IDLE;
    j->idle_until_ms = j->deadline_ms = qrun_now_ms() + o->cache_time_limit * 1000;
    qrun_fmt(j->idle_key, sizeof(j->idle_key), "%s", j->d->key);
    return 1;
}

static void idle_close(struct qjob *j)
{
    qjob_close_conn(j);
    j->state = QJ_DONE; /* reaped; it holds no message and no slot */
}

int qconn_adopt(struct qrun *r, struct qjob *w)
{
    for (struct qjob *i = r->jobs; i; i = i->next) {
        /* the key too: a destination slot may have been given to
         * another destination since the connection went idle */
        if (i->state != QJ_IDLE || i->d != w->d || strcmp(i->idle_key, w->d->key))
            continue;
        if (!fresh(i)) {
            idle_close(i);
            continue;
        }
        take_over(i, w);
        return 1;
    }
    return 0;
}

void qconn_idle_io(struct qjob *j)
{
    char buf[512];
    ssize_t n = read(j->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    /* EOF, an error, or anything said unasked (a 421 at its idle
     * timeout): the connection can carry nothing more */
    idle_close(j);
}

void qconn_idle_timer(struct qjob *j, int64_t now_ms)
{
    if (now_ms >= j->idle_until_ms)
        idle_close(j);
}
