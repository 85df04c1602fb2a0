/*
 * worker_int.h - what the worker's files share: the worker (one event loop),
 * client connections (conn.c), next-hop connections (upstream.c), the
 * proxy delivery of one session (relay.c) and DNS sockets (worker_dns.c).
 *
 * Ownership and lifetime: a conn and an upstream are pool objects
 * (lib/pool.h); every io_uring request on them carries (op, index,
 * generation) in its user_data, and the object counts its requests in
 * flight. Closing shuts the socket down (pending requests complete) and
 * the object returns to its pool only when none is left in flight, so the
 * kernel never writes into a buffer that belongs to someone else.
 */
#ifndef MX_WORKER_INT_H
#define MX_WORKER_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client_tls.h"
#include "dns.h"
#include "dns_ring.h"
#include "generation.h"
#include "handoff.h"
#include "message.h"
#include "pool.h"
#include "ring.h"
#include "session.h"
#include "smtp_client.h"
#include "spool.h"
#include "timer_wheel.h"
#include "transport.h"

struct policy_session;
struct tls_conn;
struct conn;

/* io_uring operations (user_data bits 63..56). */
enum worker_op {
    OP_NONE,
    OP_CHAN_RECV,   /* handoff from the acceptor */
    OP_SIGNAL,      /* signalfd read */
    OP_CONN_RECV,
    OP_CONN_SEND,
    OP_UP_CONNECT,
    OP_UP_RECV,
    OP_UP_SEND,
    OP_CONN_NOP,    /* closing: frees the conn once the current dispatch is over */
    OP_UP_NOP,      /* same for an upstream */
    OP_DNS_POLL,    /* index: slot in worker.dnsr */
    OP_IGNORE,      /* cancellations, shutdowns: nothing to do */
    OP_CONN_SPOOL,  /* delivery_mode = queue: the message file's fsync (spool.c) */
    OP_SPOOL_DIRSYNC, /* index: which group-commit batch (spool.c) */
    OP_CHAN_ACK,    /* an ack's send: index channel, gen its buffer (worker.c) */
};

#define CONN_IN_SIZE 8192
#define UP_IN_CHUNK 4096

/* A timer in the worker's wheel, tagged with the kind of its owner. */
enum worker_timer_kind { WT_CONN, WT_UP };
struct worker_timer {
    struct timer_node node;
    enum worker_timer_kind kind;
};
/* ---- next hop --------------------------------------------------------- */

enum upstream_state { UP_FREE, UP_CONNECTING, UP_OPEN, UP_CLOSING };

struct upstream {
    struct worker *w;
    int fd;
    enum upstream_state state;
    unsigned inflight;        /* io_uring requests on fd */
    bool recv_armed, send_armed, shut;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char key[320];            /* "kind:host:port" of the next hop, for reuse */
    char host[256], addr_text[64];
    unsigned port;
    struct conn *owner;       /* session using it; NULL while idle in the cache */
    uint32_t owner_idx, owner_gen;
    uint64_t idle_since, connected_ms;
    struct worker_timer timer; /* smtp_*_timeout, or idle expiry */
    bool flush_queued;        /* in w->up_flushq (holds one of inflight) */
    size_t send_len;          /* bytes of sbuf handed to the kernel */
    size_t rbuf_off, rbuf_len; /* read, not yet taken by the client */
    char sbuf[SMTP_CLIENT_OUT_SIZE];
    char rbuf[UP_IN_CHUNK];
    struct smtp_client cl;
    struct client_link link;  /* STARTTLS, certificate checks, AUTH around cl */
};

/* ---- one client connection ----------------------------------------------- */

enum conn_phase {
    CONN_PROXY,      /* reading the PROXY header */
    CONN_LOOKUP,     /* PTR + forward lookup before the greeting */
    CONN_SMTP,       /* the session runs */
    CONN_TLS_HANDSHAKE,
    CONN_CLOSING,    /* shut down, waiting for requests in flight */
};

/* What relay.c keeps per transaction. */
struct relay_txn {
    bool active;             /* a recipient was accepted: queue id assigned */
    /* Facts copied from the session for steps that complete later. */
    enum session_stage pol_stage; /* stage waiting for the restrictions */
    bool pol_waiting;
    bool discard, hold, smtputf8, bdat;
    int body;
    uint64_t mail_size;
    /* REDIRECT from an access map in smtpd_*_restrictions (the last one
     * wins, as smtpd's saved_redirect); a header/body_checks REDIRECT
     * (mv.redirect) overrides it, as cleanup's does. "" if none. */
    char redirect[MESSAGE_ADDR_MAX];
    /* Resolving the next hop's address (DNS). */
    bool resolving;
    char mx_host[DNS_NAME_MAX + 1];
    char *rcpts;             /* accepted recipients, NUL-separated */
    size_t rcpts_len, rcpts_cap;
    unsigned nrcpts;
    /* RFC 3461, for the queue file: MAIL RET= (enum smtp_ret), ENVID= (malloc'd
     * or NULL); per accepted recipient (same order as rcpts) its NOTIFY= bits
     * and its ORCPT ("type;address", NUL-separated). */
    int dsn_ret;
    char *dsn_envid;
    unsigned *rnotify;
    char *rorcpts;
    size_t rorcpts_len, rorcpts_cap;
    /* Per accepted recipient (same order): discard:'s reason, "" if none. */
    char *rwhy;
    size_t rwhy_len, rwhy_cap;
    unsigned rcpt_notify;    /* the RCPT in flight */
    char *rcpt_orcpt;        /* its ORCPT (malloc'd), or NULL */
    bool mail_failed, data_sent, data_ok, end_wanted;
    struct session_verdict mail_v;  /* the next hop's refusal of MAIL */
    /* DATA went to the next hop with the RCPT its client had pipelined it
     * behind (relay.c, pipe_data); data_early: its reply came before the
     * session got to DATA, kept in data_v (action PERMIT for a 354). */
    bool data_piped, data_early;
    struct session_verdict data_v;
    struct maillog_client mc;       /* for message.c's log lines */
    uint64_t dot_us;
    char queue_id[24];
    uint64_t start_us;       /* MAIL time, for delays */
    struct upstream *up;     /* next-hop connection lent to this session */
    struct nexthop nh;       /* where this transaction goes */
    bool have_nh;
    unsigned nrcpt_up;       /* RCPTs the next hop accepted */
    unsigned ndiscard;       /* recipients that a discard: transport took */
    /* LMTP next hop (relay.c): end-of-data replies so far, how many were
     * 2xx / 5xx, and the first failure's reply for the client. */
    unsigned lmtp_got, lmtp_ok, lmtp_5xx;
    struct session_verdict lmtp_v;
    /* Pending stage waiting for the next hop (RCPT, DATA, end of data). */
    enum session_stage wait_stage;
    bool waiting;
    char sender[SMTP_CLIENT_ARG_MAX];
    char rcpt[SMTP_CLIENT_ARG_MAX];    /* RCPT in flight (borrowed by the client) */
    /* Content on its way to the next hop that smtp_client_body did not take. */
    char *pend;
    size_t pend_len, pend_cap;
    bool body_started, body_failed;
    struct message_verdict mv;
    bool message_open;
    uint64_t msg_size;
};

struct conn {
    int fd;
    enum conn_phase phase;
    unsigned inflight;
    bool recv_armed, send_armed, shut, eof, counted;
    bool stop_pending;              /* SIGTERM: 421 once the output is out */
    bool flush_queued;              /* in w->conn_flushq (holds one of inflight) */
    bool lookup_pending;            /* dns_client() has not answered yet */
    bool saying_bye;                /* our 421 is queued: close after it */
    struct worker *w;
    const struct generation *gen;   /* the generation this session began on */
    /* From the handoff record (the rest of it is not kept). */
    struct sockaddr_storage client, server;
    enum handoff_banner banner;
    int helo_cmd;                   /* HELO/EHLO already answered by the frontend */
    int mail_done;                  /* so was the MAIL line that starts the preread */
    char *helo;                     /* its argument (malloc'd), or NULL */
    /* HANDOFF_F_CMD_COUNTS: the commands the frontend answered (malloc'd:
     * only sessions the enforce engine hands over have them), or NULL. */
    struct maillog_cmd_stats *fe_counts;
    unsigned error_count;
    bool lookup_needed;             /* the PTR lookup is the worker's */
    char conn_id[HANDOFF_ID_MAX + 1];
    struct session_peer peer;
    enum dns_name_status name_status, reverse_status;
    char reverse_name[256];
    struct session *s;
    struct policy_session *ps;
    struct message *msg;
    struct tls_conn *tls;
    char *tls_in;                   /* ciphertext read, not yet given to TLS */
    size_t tls_in_len;
    char *tls_out;                  /* ciphertext being sent */
    size_t tls_out_len;
    size_t send_len;                /* bytes in flight (session out or tls_out) */
    struct worker_timer timer;      /* smtpd_timeout, error sleep */
    bool sleeping;
    struct relay_txn rt;
    struct spool_txn sp;            /* delivery_mode = queue (spool.c) */
    uint64_t connect_ms;
    size_t in_off, in_len;
    char in[CONN_IN_SIZE];
};

/* ---- the worker ------------------------------------------------------------ */

#define WORKER_IDLE_UPSTREAMS 64 /* next-hop connections kept for reuse */


struct worker {
    const struct worker_args *args;
    const struct generation *gen;
    struct ring ring;
    struct pool conns, ups;
    struct timer_wheel tw;
    struct dns_ctx *dns;
    struct dns_ring dnsr;     /* the resolver's sockets in the ring */
    int sigfd;
    bool stopping, retiring;
    uint64_t drain_deadline;
    unsigned sessions, capacity;
    uint64_t queue_seq;
    /* One per frontend (worker_args.chans): its receive buffer, whether a
     * receive is in flight, whether it ended. */
    struct worker_chan {
        struct handoff_rxbuf rx;
        bool armed, dead;
    } *chan;
    unsigned nchan;
    unsigned char sigbuf[128];
    bool load_dirty;                /* the acceptor's count of our sessions is stale */
    uint64_t load_due;              /* when a LOAD ack reports it (timer_clock_ms) */
    struct upstream *idle[WORKER_IDLE_UPSTREAMS]; /* owner NULL, usable */
    unsigned nidle;
    struct client_tls_cache tls_cache; /* next-hop TLS sessions (this process) */
    struct spool_worker *spool;     /* delivery_mode = queue; NULL otherwise */
    /* Output is handed to the kernel once per loop iteration, after every
     * completion of the batch was handled: replies to pipelined commands,
     * a next-hop reply that answers several client commands, and a
     * message's content lines each leave in one send, not one apiece. */
    struct conn **conn_flushq;
    struct upstream **up_flushq;
    unsigned n_conn_flushq, n_up_flushq;
};

/* worker.c */
struct io_uring_sqe *worker_sqe(struct worker *w);
uint64_t worker_now_us(void);
void worker_session_ended(struct worker *w);

/* worker_dns.c */
int worker_dns_open(struct worker *w);
void worker_dns_event(struct worker *w, uint32_t slot, uint32_t gen, int res);
void worker_dns_close(struct worker *w);

/* conn.c */
void conn_start(struct worker *w, int fd, const struct handoff *h);
void conn_event(struct worker *w, struct conn *c, unsigned op, int res);
void conn_timer(struct worker *w, struct conn *c);
void conn_pump(struct conn *c);
/* SIGTERM: 421 and close, once pending replies are out (force: now). */
void conn_stop(struct conn *c, bool force);
bool conn_in_transaction(const struct conn *c);
/* Send what the queued connections have to send (worker loop). */
void conn_flush_queued(struct worker *w);

/* conn_session.c: struct session_ops for one connection */
extern const struct session_ops conn_session_ops;
void conn_policy_done(void *arg, const struct session_verdict *v);

/* relay.c: proxy delivery of one transaction */
enum session_action relay_rcpt(struct conn *c, struct session_verdict *v);
/* RCPT stage: keep the transaction's DSN facts (RET, ENVID, this NOTIFY, ORCPT). */
void relay_dsn_facts(struct conn *c, const struct session_facts *f);
enum session_action relay_data(struct conn *c, struct session_verdict *v);
int relay_begin(struct conn *c, const struct session_facts *f);
int relay_chunk(struct conn *c, const char *buf, size_t len);
void relay_abort(struct conn *c);
enum session_action relay_end(struct conn *c, struct session_verdict *v);
void relay_reset(struct conn *c);   /* transaction over (RSET, QUIT, close) */
bool relay_backlogged(const struct conn *c);
void relay_upstream_ready(struct conn *c);  /* the next hop produced events */

/* upstream.c */
struct upstream *upstream_find_idle(struct worker *w, const char *key);
struct upstream *upstream_open(struct worker *w, const char *key,
                               const struct sockaddr_storage *addr, socklen_t alen,
                               const char *host, const char *addr_text, unsigned port,
                               const char *nexthop, const char *dest);
void upstream_attach(struct upstream *u, struct conn *c);
void upstream_release(struct upstream *u, bool reusable);
void upstream_event(struct worker *w, struct upstream *u, unsigned op, int res);
void upstream_timer(struct worker *w, struct upstream *u);
void upstream_pump(struct upstream *u);
void upstream_close_idle(struct worker *w);
/* Arm the sends and receives the queued next-hop connections wait for. */
void upstream_flush_queued(struct worker *w);

#endif
