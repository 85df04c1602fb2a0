/*
 * qrun_int.h - the queue runner's state, shared by its files:
 *   qrun.c         the poll loop, queue scans, messages and their end
 *                  (defer, warn, expire, remove), destinations
 *   qrun_job.c     one delivery job: next-hop addresses, connection, the
 *                  SMTP transaction through client_tls.h's link
 *   qrun_reply.c   the next hop's replies settling the job's recipients
 *                  (smtp_trouble.c's rules), the session's end
 *   qrun_notify.c  notifications (dsn.h) written into the queue, the
 *                  Postfix delivery log lines
 *   qrun_cache.c   next-hop connections kept for the next job: handed
 *                  straight to a waiting job, or idle for
 *                  smtp_connection_cache_time_limit
 * One thread: handlers run to completion, nothing is locked.
 */
#ifndef MX_QRUN_INT_H
#define MX_QRUN_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "client_tls.h"
#include "dns.h"
#include "generation.h"
#include "mx_select.h"
#include "qrun.h"
#include "queue_dir.h"
#include "queue_file.h"
#include "retry_sched.h"
#include "smtp_client.h"
#include "transport.h"

struct matchlist;

#define QRUN_MAX_MSGS 500    /* messages in active/ at once (qmgr_message_active_limit is 20000) */
#define QRUN_MAX_DEST 256
#define QRUN_SELF_MAX 64
/* Added to the W record's attempt count (at most 999999999 there): the
 * delay warning was sent. Postfix keeps its warning time in the queue
 * file for the same reason: a restarted runner must not warn twice. */
#define QRUN_WARNED 500000000u

/* What became of one recipient in this attempt. */
enum qr_fate { QR_NONE, QR_SENT, QR_DEFER, QR_BOUNCE };

struct qr_rcpt_out {
    enum qr_fate fate;
    char status[12];   /* enhanced status */
    char why[600];     /* Postfix's reason text */
    char mta[256];     /* Remote-MTA name, "" none */
    char diag[600];    /* the remote reply, "" none */
};

struct qmsg {
    struct qmsg *next;
    int fd;                  /* the file in active/ */
    struct qf_env env;
    struct qr_rcpt_out *out; /* env.nrcpt */
    unsigned jobs;           /* jobs still running */
    int64_t active_us;       /* when the runner took it (delays=a/b) */
};

struct qdest {
    bool used;
    char key[320];
    struct sched_dest sd;
    const struct sched_conc *conc; /* its transport's rules: r->conc or r->conc_relay */
    char why[600];     /* the last failure, for "delivery temporarily suspended" */
    time_t last_done;  /* when a delivery to it last ended (qmgr's last_done) */
    bool conn_store;   /* on-demand caching on (qmgr's DEL_REQ_FLAG_CONN_STORE) */
};

/* QJ_IDLE: no message, the connection kept for the next job to the same
 * destination (qrun_cache.c). */
enum qjob_state { QJ_WAIT, QJ_RESOLVE, QJ_CONNECT, QJ_SMTP, QJ_IDLE, QJ_DONE };

/* Connection handling of one protocol, smtp_* or lmtp_* parameters. */
struct qrun_conn_opts {
    bool skip_5xx_greeting;     /* smtp_skip_5xx_greeting */
    bool cache_on_demand;       /* smtp_connection_cache_on_demand */
    long cache_time_limit;      /* smtp_connection_cache_time_limit, s */
    long reuse_time_limit;      /* smtp_connection_reuse_time_limit, s */
    long reuse_count_limit;     /* smtp_connection_reuse_count_limit, 0 none */
    struct matchlist *cache_destinations; /* smtp_connection_cache_destinations, or NULL */
};

struct qjob {
    struct qjob *next;
    struct qrun *r;
    struct qmsg *m;
    struct qdest *d;
    enum qjob_state state;
    struct nexthop nh;
    unsigned *rcpt;          /* indexes into m->env.rcpt */
    unsigned nrcpt;
    unsigned *accepted;      /* per rcpt of the job: RCPT got 2xx */
    struct mx_lookup *lookup;
    struct mx_result *mx;    /* candidates */
    size_t cand;             /* next candidate to try */
    unsigned sessions;       /* connections made (smtp_mx_session_limit) */
    int fd;
    int64_t deadline_ms;
    int64_t start_us, conn_us; /* job start, connection ready for this job's MAIL */
    int64_t born_us;         /* the connection was made (reuse time limit) */
    unsigned conn_use;       /* transactions on this connection, this one included */
    bool conn_store;         /* this job may leave its connection idle */
    int64_t idle_until_ms;   /* QJ_IDLE: closed then */
    char idle_key[320];      /* QJ_IDLE: d->key when parked (d slots are recycled) */
    bool dest_ok;            /* no connection/handshake failure */
    bool ready, data_ok, body_done, dot_sent;
    uint64_t body_off;
    char host[DNS_NAME_MAX + 1], addr[64];
    unsigned port;
    char last_why[600], last_status[12]; /* the last connection's failure */
    struct smtp_client *cl;
    struct client_link link;
    size_t sout_off, sout_len;
    char sout[16384];
    char rbuf[8192];
    char cbuf[65536];        /* content read from the file */
    size_t cbuf_off, cbuf_len;
};

struct qrun {
    const struct generation *g;
    const struct config *cfg;
    struct qdir q;
    int trigger_fd;
    struct dns_ctx *dns;
    struct sched_params sp;
    struct sched_conc conc;       /* the smtp transport (default_transport) */
    /* relay_transport's, for recipients in relay_domains, as
     * trivial-rewrite routes them: relay_destination_concurrency_limit */
    struct sched_conc conc_relay;
    struct matchlist *relay_domains;
    struct mx_opts mxo;
    struct mx_self self;
    struct sockaddr_storage self_addr[QRUN_SELF_MAX], proxy_addr[QRUN_SELF_MAX];
    unsigned tcp_port;       /* smtp_tcp_port */
    struct client_tls_cache tls_cache;
    struct qrun_conn_opts co[2]; /* [0] smtp_*, [1] lmtp_* */
    struct qmsg *msgs;
    unsigned nmsgs;
    struct qjob *jobs;
    struct qdest dest[QRUN_MAX_DEST];
    time_t next_deferred_scan;
    int64_t next_incoming_ms; /* incoming/ scan: 0 when woken, else the safety poll */
    bool incoming_more;      /* the incoming/ scan in progress still holds ids */
    /* The incoming/ scan in progress, as qmgr's scan_dir: the ids read,
     * taken as room appears; the directory is read again only once they
     * are used up. Re-reading it at every wake-up or freed slot cost a
     * full readdir per delivered message with a backlog (O(n^2)). */
    char (*inq)[QF_ID_MAX + 1];
    size_t inq_n, inq_next;
    bool inq_stale;          /* woken since it was read: read again once used up */
    bool flush;              /* take every deferred message at the next scan */
    bool stop;
    unsigned seq;            /* queue id sequence */
};

/* snprintf that cuts long texts silently (reasons from outside are long). */
void qrun_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int64_t qrun_now_ms(void);
int64_t qrun_now_us(void);

/* qrun_job.c */
/* Start a job for m's recipients rcpt[0..n) going to nh (copied). */
void qjob_start(struct qrun *r, struct qmsg *m, const struct nexthop *nh, const unsigned *rcpt,
                unsigned n);
/* Jobs waiting for their destination: start those that may. */
void qjob_kick(struct qrun *r);
/* Poll set: fds of running jobs. */
size_t qjob_pollfds(struct qrun *r, struct pollfd *pfd, struct qjob **who, size_t cap,
                    int64_t *next_ms);
void qjob_io(struct qjob *j, short revents);
void qjob_timers(struct qrun *r, int64_t now);
/* Free jobs in QJ_DONE (their message was told). */
void qjob_reap(struct qrun *r);
void qjob_abort_all(struct qrun *r);

/* Shared with qrun_cache.c: drop the connection; queue j's transaction on
 * its (ready) connection and move bytes; the job's deadline. */
void qjob_close_conn(struct qjob *j);
void qjob_transaction(struct qjob *j);
/* Shared with qrun_reply.c: the job is over (recipients without a fate
 * deferred with its last failure, the message told); try the next
 * candidate address (none left: qjob_finish). */
void qjob_finish(struct qjob *j);
void qjob_connect_next(struct qjob *j);

/* qrun_reply.c */
/* Take the client link's events: replies settle recipients, a failed
 * handshake moves to the next address, the transaction's end keeps,
 * QUITs or moves the connection on. 1: the session moved on (job over,
 * next address, connection handed to a waiting job or idle): the caller
 * stops working on j, 0: go on. */
int qjob_events(struct qjob *j);

/* qrun_cache.c */
const struct qrun_conn_opts *qrun_conn_opts(const struct qrun *r, const struct qjob *j);
/* When j starts (its destination slot taken): whether it may leave its
 * connection idle afterwards (Postfix's smtp_connection_cache_destinations,
 * or qmgr's on-demand rule). */
void qconn_policy(struct qrun *r, struct qjob *j);
/* A delivery to j's destination ended (qmgr's last_done). */
void qconn_dest_done(struct qrun *r, const struct qjob *j);
/* j's transaction is over and all its recipients decided: its connection
 * carries a waiting job (RSET, MAIL) or is left idle (j then holds no
 * message). 1: taken, 0: the caller ends the session (QUIT). */
int qconn_keep(struct qjob *j);
/* j (state QJ_WAIT, slot taken) takes an idle connection to its
 * destination: 1 done (j is over, the idle job carries its message). */
int qconn_adopt(struct qrun *r, struct qjob *j);
/* QJ_IDLE: input (EOF, a 421) or the time limit closes it. */
void qconn_idle_io(struct qjob *j);
void qconn_idle_timer(struct qjob *j, int64_t now_ms);
void qrun_conn_opts_init(struct qrun *r);
void qrun_conn_opts_free(struct qrun *r);

/* qrun.c */
struct qdest *qrun_dest(struct qrun *r, const char *key, const struct sched_conc *conc);
/* The transport's concurrency rules for a recipient: relay_transport's
 * when its domain is in relay_domains, else the smtp transport's. */
const struct sched_conc *qrun_conc_for(const struct qrun *r, const char *rcpt);
/* relay_domains and the two transports' rules (qrun_setup.c). */
void qrun_conc_free(struct qrun *r);
/* A job is over: its recipients' fates are in m->out. */
void qrun_job_done(struct qrun *r, struct qmsg *m);
/* A recipient delivered: the durable mark and the log line. */
void qrun_rcpt_sent(struct qrun *r, struct qmsg *m, unsigned i, const struct qjob *j,
                    const char *reply);
/* A recipient deferred or bounced by this job (log line; fate kept). */
void qrun_rcpt_fail(struct qrun *r, struct qmsg *m, unsigned i, const struct qjob *j, bool perm,
                    const char *status, const char *why, const char *diag);

/* qrun_notify.c */
/* A new queue id, as the workers make them. */
void qrun_new_id(struct qrun *r, char out[QF_ID_MAX + 1]);
/* Queue a notification of kind (DSN_FAILURE/DSN_DELAY/DSN_SUCCESS) about m's
 * recipients idx[0..n) to its sender: 1 queued (new id in newid), 0 none
 * due (null sender, NOTIFY), -errno. */
int qrun_notify(struct qrun *r, struct qmsg *m, int kind, const unsigned *idx, unsigned n,
                char newid[QF_ID_MAX + 1]);
/* "ID: sender KIND notification: NEWID", logged as bounce(8) logs it
 * (program name mxscreen/bounce: log tools key on it). */
void qrun_log_notice(const char *queue_id, const char *kind, const char *newid);
/* "ID: to=<..>, relay=..., delay=..., delays=..., dsn=..., status=S (text)" */
void qrun_log_delivery(struct qrun *r, const struct qmsg *m, unsigned i, const struct qjob *j,
                       const char *status, const char *dsn, const char *text);

/* qrun_setup.c: the runner's set-up (0 or -errno). */
void qrun_opts_init(struct qrun *r);
int qrun_open_trigger(struct qrun *r);
int qrun_dns_init(struct qrun *r);

#endif
