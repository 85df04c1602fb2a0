/*
 * fe_int.h - what the frontend's files share:
 *   frontend.c   the loop: ring, signals, listeners (multishot accept),
 *                the master's control channel, counters
 *   fe_conn.c    one connection: the screening step list, the greet wait,
 *                actions, the conclusion (handoff, tarpit, enforce, drop)
 *   fe_workers.c the worker channels: least-loaded choice, handoff, acks,
 *                holding a clean client while every worker is full
 *   fe_dummy.c   the enforce engine: a tiny SMTP server that rejects
 *                every recipient with the reply of the failed test
 *   fe_conf.c    the prepared configuration (struct fe_conf)
 *   fe_deep.c    the deep protocol tests after the 220 greeting
 *                (deep_proto.c judges the lines), handoff in the session
 *   access_list.c, pregreet.c, tarpit.c: pure helpers
 *
 * A connection is a pool object (lib/pool.h) of a couple of hundred
 * bytes; io_uring requests name it by (index, generation) in user_data.
 * Replies are never copied per connection: they point into struct
 * fe_conf (read-only while the process lives).
 */
#ifndef MX_FE_INT_H
#define MX_FE_INT_H

#include <stdbool.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "access_list.h"
#include "anvil.h"
#include "dnsbl_score.h"
#include "dummy_cmd.h"
#include "ehlo_reply.h"
#include "fe_ctl.h"
#include "fe_limits.h"
#include "frontend.h"
#include "handoff.h"
#include "maps.h"
#include "pool.h"
#include "ring.h"
#include "screen_cache.h"
#include "timer_wheel.h"

struct fe_conf {
    int greet_action, denylist_action; /* PS_ACT_* */
    uint64_t greet_wait_ms, greet_wait_stress_ms;
    char *teaser; /* "220-BANNER\r\n", NULL when postscreen_greet_banner is empty */
    size_t teaser_len;
    char *greeting; /* "220 $smtpd_banner\r\n": the enforce engine finishes with it */
    size_t greeting_len;
    char *ehlo_reply, *helo_reply;
    size_t ehlo_len, helo_len;
    /* postscreen_discard_ehlo_keywords (EHLO_KW_*, without the PIPELINING
     * the engine never offers) and the options ehlo_reply was formatted
     * with: a client's postscreen_discard_ehlo_keyword_address_maps entry
     * reformats it (fe_dummy.c). */
    unsigned ehlo_discard;
    struct ehlo_opts ehlo_opts;
    struct map **ehlo_maps; /* postscreen_discard_ehlo_keyword_address_maps */
    size_t n_ehlo_maps;
    /* postscreen_command_filter (NULL: none): the enforce engine's
     * postscreen mode rewrites each command line with it, not for invalid
     * UTF-8 with smtputf8_enable (psc_smtpd_read_event()). */
    struct map *cmd_filter;
    /* smtpd_command_filter (NULL: none): smtpd mode's (fe_dummy.c). */
    struct map *smtpd_cmd_filter;
    bool smtputf8;
    /* line_length_limit: a postscreen-mode command line that reaches it
     * ends the session (COMMAND LENGTH LIMIT). */
    uint32_t line_limit;
    struct fe_acl *acl; /* NULL when postscreen_access_list is empty */
    bool respectful;    /* respectful_logging: ALLOW/DENY, else WHITE/BLACK */
    unsigned tarpit_rate; /* bytes per second */
    uint64_t tarpit_ms;
    char *tarpit_drip; /* what is dripped: the teaser line, repeated */
    size_t tarpit_drip_len;
    char *tarpit_reply; /* final reply with CRLF */
    size_t tarpit_reply_len;
    uint64_t error_sleep_ms;
    uint32_t pool_size;
    long command_count_limit;
    struct fe_screen_conf *screen; /* fe_screen*.c: limits, cache, DNSBL */
    struct fe_deep_conf *deep;     /* fe_deep.c: the deep protocol tests */
    struct fe_early_conf *early;   /* fe_early*.c: PTR, smtpd_client_restrictions */
    uint64_t command_time_ms, command_time_stress_ms;
    /* postscreen_helo_required, postscreen_disable_vrfy_command: the
     * enforce engine's postscreen mode (MAIL/ETRN, VRFY). */
    bool helo_required, disable_vrfy;
    /* smtpd_timeout: the enforce engine's smtpd mode reads as smtpd. */
    uint64_t smtpd_timeout_ms, smtpd_timeout_stress_ms;
    char myhostname[256];
};

/* fe_screen_conf.c: the screening parameters, prepared in the master. */
struct fe_screen_conf {
    struct anvil *anvil; /* made before fork; NULL when neither limit is set */
    uint32_t count_limit, rate_limit;
    struct dnsbl_sites *sites; /* NULL: postscreen_dnsbl_sites is empty */
    long dnsbl_threshold, dnsbl_allowlist;
    int dnsbl_action;
    unsigned dnsbl_timeout_ms;
    uint32_t dnsbl_min_ttl, dnsbl_max_ttl;
    char servers[1024]; /* dns_resolver, comma-separated ("" = resolv.conf) */
    char *cache_map;    /* NULL: no cache (or no test that it could remember) */
    unsigned enabled;   /* SCREEN_BIT()s of the tests this frontend runs */
    int64_t greet_ttl, cleanup_interval, retention; /* seconds */
    /* fe_limits.h: postscreen_pre_queue_limit, postscreen_post_queue_limit */
    uint32_t pre_queue_limit, post_queue_limit;
    struct matchlist *allow_if; /* postscreen_allowlist_interfaces */
    struct map **reply_maps;    /* postscreen_dnsbl_reply_map (NULL: none) */
    size_t nreply_maps;
};
int fe_screen_conf_load(const struct config *cfg, long greet_action, uint32_t pool_size,
                        struct fe_screen_conf **out, struct cfg_diag *diag);
void fe_screen_conf_free(struct fe_screen_conf *s);

enum fe_op {
    FE_OP_NONE,
    FE_OP_ACCEPT,    /* index: listener */
    FE_OP_SIGNAL,
    FE_OP_CTL,       /* poll on the master's channel */
    FE_OP_CHAN,      /* poll on a worker channel; index: table slot, gen: its life */
    FE_OP_CONN_POLL, /* readable/hangup on a client */
    FE_OP_CONN_SEND, /* one tarpit drip */
    FE_OP_DNS,       /* poll on a resolver socket; index: slot, gen: its use */
    FE_OP_IGNORE,
};

enum fe_state {
    FE_S_SCREEN,  /* running the step list */
    FE_S_GREET,   /* teaser sent (or not): waiting out the greet wait */
    FE_S_SLEEP,   /* smtpd_error_sleep_time before the handoff */
    FE_S_HOLD,    /* clean, waiting for a worker with room */
    FE_S_TARPIT,  /* dripping */
    FE_S_DUMMY,   /* enforce engine */
    FE_S_DEEP,    /* deep protocol tests after our 220 (fe_deep.c) */
    FE_S_CLOSING, /* done: waiting for requests in flight, then freed */
};

/* Flags */
enum {
    FE_F_TEASER = 1u << 0,    /* "220-" went out */
    FE_F_NOFORWARD = 1u << 1, /* enforce: never handed off */
    FE_F_POLL = 1u << 2,      /* a poll is in flight */
    FE_F_SEND = 1u << 3,      /* a drip send is in flight */
    FE_F_HANDED = 1u << 4,    /* the worker owns the socket: never shut it down */
    FE_F_SMTPD = 1u << 5,     /* enforce as smtpd: an early client reject (fe_early.c) */
    FE_F_ALLOWED = 1u << 6,   /* postscreen_access_list permit */
    FE_F_DENIED = 1u << 7,    /* smtpd rejected at connect: 503 to every command */
};

/* An endpoint in 24 bytes instead of a sockaddr_storage's 128. */
struct fe_ep {
    uint8_t family; /* AF_INET, AF_INET6 */
    uint16_t port;
    uint32_t scope;
    uint8_t addr[16];
};

/* The enforce engine's extra state (a second pool: only enforced clients
 * pay for it). */
#define FE_LINE_MAX 512
struct fe_dummy_state {
    uint16_t line_len;
    bool line_long;    /* the current line overflowed: the rest is skipped */
    /* postscreen mode: the bytes of the current line read (kept or not:
     * only FE_LINE_MAX are), and whether the last one was a CR - the
     * length limit is not checked right after a CR (psc's read_state). */
    bool cr;
    uint32_t line_total;
    bool mail, esmtp;  /* postscreen mode: MAIL given (psc's sender); EHLO used */
    /* smtpd mode (fe_dummy.c): smtpd's session state and error counts; a
     * BDAT chunk being skipped; input carried over from the deep tests
     * (pend: into c->deep's buffer, which lives until close); the
     * smtpd_error_sleep_time wait before the next reply. */
    bool sleeping, slept, hard;
    /* RCPT TO:<postmaster> (fe_dummy.c): the connection goes to a worker
     * with the accepted MAIL line (mail_line, mail_len bytes without CRLF) and
     * that RCPT line (line, rcpt_len) first in its preread. */
    bool handoff;
    bool connect_logged; /* smtpd mode: smtpd's "connect from" line is out */
    uint16_t mail_len, rcpt_len;
    const char *verb; /* smtpd's state->where: the last command's name */
    uint16_t pend_len;
    const char *pend;
    uint64_t skip;
    struct dummy_smtpd sm;
    char helo[128];
    char from[256];
    char line[FE_LINE_MAX];
    char mail_line[512];
};

struct fe_conn {
    struct timer_node timer;
    int fd;
    uint8_t state, step, flags, inflight;
    uint16_t tests_done, tests_failed, errors, ncommands;
    const char *final;      /* reply of the failed test (enforce / drop) */
    uint16_t final_len;
    uint16_t drip_off;
    uint32_t dripped;       /* tarpit: bytes sent */
    uint64_t start_ms, phase_ms;
    uint64_t seq;           /* handoff sequence, > 0 once handed or tried */
    struct timespec connect_real, connect_mono;
    struct fe_ep client, server;
    struct fe_dummy_state *dummy;
    struct fe_deep_state *deep; /* fe_deep.c, from fe->deeps */
    char id[20];
    /* fe_screen*.c */
    uint8_t sflags;      /* FE_SF_* */
    uint8_t todo;        /* SCREEN_BIT()s of the cache tests still to run */
    uint8_t qflags;      /* FE_QF_* (fe_limits.h) */
    int32_t dnsbl_score;
    struct anvil_key akey;
    struct dnsbl_score_req dreq;
    struct screen_stamps stamps;
    struct fe_early_state *early; /* fe_early.c: PTR lookup; NULL: none */
};

#define FE_WORKERS FE_CTL_MAX_WORKERS

struct fe_worker {
    bool used, poll;
    uint32_t slot, pid, index, gen;
    int chan;
    uint32_t sessions, capacity;
    uint64_t sent, acked, tried;
};

/* Per listener (frontend.c), so that a connection costs no getpeername or
 * getsockname where the kernel already said (fe_conn_accepted). */
struct fe_listener {
    struct sockaddr_storage peer; /* a single-shot accept writes the client here */
    socklen_t peer_len;
    bool single;                  /* the accept armed is single-shot: peer is its own */
    bool fixed_local;             /* bound to one address, not a wildcard: local is it */
    struct sockaddr_storage local;
};

struct fe {
    const struct frontend_args *a;
    const struct fe_conf *conf;
    struct ring ring;
    struct pool conns, dummies, deeps;
    struct timer_wheel tw;
    int sigfd;
    unsigned char sigbuf[128];
    bool listening[FE_MAX_LISTEN];
    bool accept_single; /* kernel without multishot accept */
    uint64_t accept_pause_until;
    bool retiring, stopping, ctl_dead, ctl_poll;
    uint64_t retire_deadline;
    bool stress;
    struct fe_worker w[FE_WORKERS];
    uint64_t seq;
    uint32_t id_counter;
    struct fe_stats st;
    bool stats_dirty;
    uint64_t stats_sent_ms;
    struct fe_screen *scr; /* fe_screen*.c: this process's cache, resolver, scorer */
    struct fe_queues q;    /* fe_limits.h: pre- and post-queue lengths */
    uint32_t board_pre, board_post; /* last published on the board (fe_ledger.c) */
    struct fe_listener lsn[FE_MAX_LISTEN]; /* frontend.c: what accept tells per listener */
};

/* frontend.c */
struct io_uring_sqe *fe_sqe(struct fe *fe);
void fe_ep_format(const struct fe_ep *e, char *buf, size_t len); /* "[addr]:port" */
void fe_stats_changed(struct fe *fe);
/* The other frontends' pre- and post-queue counts (fe_ledger.c's board);
 * publish this frontend's after changing fe->q or a worker's sent/acked. */
void fe_queues_others(const struct fe *fe, uint32_t *pre, uint32_t *post);
void fe_board_sync(struct fe *fe);

/* fe_conn.c */
/* peer, local: the addresses when the caller knows them, else NULL
 * (then getpeername / getsockname ask the kernel). */
void fe_conn_accepted(struct fe *fe, int fd, const struct sockaddr_storage *peer,
                      const struct sockaddr_storage *local);
void fe_conn_event(struct fe *fe, struct fe_conn *c, unsigned op, int res);
void fe_conn_timer(struct fe *fe, struct fe_conn *c);
void fe_conn_say(struct fe_conn *c, const char *text, size_t len); /* best effort */
void fe_conn_close(struct fe *fe, struct fe_conn *c);
/* Retiring or stopping: 421 to a connection still held, then close. */
void fe_conn_shutdown(struct fe *fe, struct fe_conn *c);
void fe_conn_log_disconnect(struct fe_conn *c);

/* fe_workers.c */
void fe_workers_ctl(struct fe *fe, const struct fe_ctl_msg *m, int fd);
void fe_workers_event(struct fe *fe, uint32_t slot, uint32_t gen, int res);
void fe_workers_arm(struct fe *fe);
/* 0: handed (the caller drops its copy); -EAGAIN: nobody can take it now. */
int fe_workers_handoff(struct fe *fe, struct fe_conn *c);
void fe_workers_fill_stats(const struct fe *fe, struct fe_ctl_msg *m);
/* Handoffs sent and not yet acked: a retiring frontend waits for them, so
 * that its workers retire only after they took every client. */
uint64_t fe_workers_unacked(const struct fe *fe);
void fe_workers_close(struct fe *fe);

/* fe_conn.c, for the steps in fe_screen.c */
enum step_res { STEP_NEXT, STEP_WAIT, STEP_END };
/* A failed test: its action (see fe_conn.c). */
enum step_res fe_conn_act(struct fe *fe, struct fe_conn *c, unsigned test, int action,
                          const char *drop, size_t drop_len, const char *enforce, size_t enf_len);
/* Final reply, DISCONNECT, close. */
void fe_conn_finish(struct fe *fe, struct fe_conn *c, const char *reply, size_t len);
/* Run the step list again from the current step (a step that returned
 * WAIT has what it waited for). */
void fe_conn_resume(struct fe *fe, struct fe_conn *c);
/* The greet wait ends now (a DNSBL-only wait whose answers are in). */
void fe_conn_greet_end(struct fe *fe, struct fe_conn *c);

/* fe_screen.c: see its header */
enum {
    FE_SF_ANVIL = 1u << 0,    /* counted in the anvil table: disconnect at close */
    FE_SF_DNSBL = 1u << 1,    /* a DNSBL request is active (c->dreq) */
    FE_SF_DNSBL_IN = 1u << 2, /* ... and its answers are all in */
    FE_SF_PREGR = 1u << 3,    /* the pregreet test runs in this greet wait */
    FE_SF_PASS_OLD = 1u << 4, /* screening cache: nothing to test */
    FE_SF_CACHED = 1u << 5,   /* c->stamps came from the cache (or are new) */
    FE_SF_DNSWL = 1u << 6,    /* DNSBL allowlist threshold reached */
    FE_SF_REPLY = 1u << 7,    /* c->final is ours (a DNSBL reply naming the client) */
};
int fe_screen_open(struct fe *fe);
void fe_screen_close(struct fe *fe);
enum step_res fe_screen_limits(struct fe *fe, struct fe_conn *c);
/* postscreen_post_queue_limit reached (fe_limits.h) */
bool fe_screen_post_full(struct fe *fe);
enum step_res fe_screen_cache(struct fe *fe, struct fe_conn *c);
enum step_res fe_screen_dnsbl(struct fe *fe, struct fe_conn *c);
/* Does the greet wait run, and with the pregreet test? (sets FE_SF_PREGR) */
bool fe_screen_greet_needed(struct fe *fe, struct fe_conn *c);
/* The greet wait is over: the DNSBL verdict and its action. */
enum step_res fe_screen_greet_over(struct fe *fe, struct fe_conn *c);
/* Passed (PASS NEW): remember the passed tests in the cache. */
void fe_screen_passed(struct fe *fe, struct fe_conn *c);
/* Connection closing: anvil disconnect, DNSBL release. */
void fe_screen_release(struct fe *fe, struct fe_conn *c);
/* The loop: resolver socket events, timeouts, the sweep timer. */
void fe_screen_dns_event(struct fe *fe, uint32_t slot, uint32_t gen, int res);
int64_t fe_screen_next_ms(struct fe *fe, int64_t t);
void fe_screen_tick(struct fe *fe);
bool fe_screen_timer(struct fe *fe, struct timer_node *n); /* true: it was ours */

/* fe_conn.c: hand a clean client to a worker now (or hold it). */
void fe_conn_handoff(struct fe *fe, struct fe_conn *c);

/* fe_deep.c: see its header */
int fe_deep_conf_load(const struct config *cfg, struct fe_conf *fc, struct cfg_diag *diag);
void fe_deep_conf_free(struct fe_deep_conf *d);
size_t fe_deep_state_size(void);
/* The deep tests run for this client (enabled, to do, not allowlisted). */
bool fe_deep_wanted(const struct fe *fe, const struct fe_conn *c);
void fe_deep_start(struct fe *fe, struct fe_conn *c);
void fe_deep_input(struct fe *fe, struct fe_conn *c);
void fe_deep_timeout(struct fe *fe, struct fe_conn *c);
/* Fill the record's HELO, banner and preread fields (fe_workers.c). */
void fe_deep_fill(const struct fe_conn *c, struct handoff *h);

/* fe_dummy.c */
void fe_dummy_start(struct fe *fe, struct fe_conn *c);
/* Enforce after our own 220 (a deep test failed, or a HELO reject due at
 * RCPT): no greeting; the HELO so far (esmtp: it came with EHLO) and the
 * unprocessed input (from the current line on) go on. */
void fe_dummy_continue(struct fe *fe, struct fe_conn *c, const char *helo, bool esmtp,
                       const char *pending, size_t len);
void fe_dummy_input(struct fe *fe, struct fe_conn *c);
void fe_dummy_timeout(struct fe *fe, struct fe_conn *c);
/* The reply, the session's end line (fe_dummy_log_end), close. */
void fe_dummy_end(struct fe *fe, struct fe_conn *c, const char *reply, size_t len);
/* A connection the enforce engine hands off mid-transaction: its record. */
void fe_dummy_fill(const struct fe_conn *c, struct handoff *h);

/* fe_dummy_ps.c: postscreen mode. One command line; false when the
 * session ended. */
bool fe_dummy_ps_command(struct fe *fe, struct fe_conn *c, const char *line, size_t len);
/* postscreen_command_filter on one line (CRLF gone): the new line in out
 * and its length, or -1 when it stays (fe_dummy_ps.c). */
long fe_ps_filter(const struct fe_conf *cf, const struct fe_conn *c, const char *line,
                  size_t len, char *out, size_t size);
/* "WHAT from [ADDR]:PORT after VERB", the 421 (timeout: "421 4.4.2 HOST
 * Error: timeout exceeded", else "421 HOST Service unavailable - try again
 * later"), the end. */
void fe_dummy_ps_drop(struct fe *fe, struct fe_conn *c, const char *what, bool timeout);

/* fe_dummy_log.c: smtpd's session lines for a session that no worker
 * sees: "connect from NAME[ADDR] id=ID", "WHAT after WHERE from
 * NAME[ADDR]" (WHERE NULL: CONNECT), "disconnect from NAME[ADDR] ehlo=1
 * ... commands=N/M". */
void fe_smtpd_log_connect(const struct fe_conn *c);
/* One line of smtpd's own (lvl: LOG_LVL_INFO/WARN) under the workers'
 * name, as the engine's other smtpd lines (fe_dummy_log.c). */
void fe_smtpd_log_line(int lvl, const char *line);
void fe_smtpd_log_after(const struct fe_conn *c, const char *what, const char *where);
void fe_smtpd_log_disconnect(const struct fe_conn *c, const struct maillog_cmd_stats *st);
/* The enforce engine's lines (postscreen mode: the end only). */
/* "WHAT after VERB from NAME[ADDR]" (VERB: the last command, or CONNECT). */
void fe_dummy_log_after(struct fe_conn *c, const char *what);
/* The end: smtpd's disconnect line with its counters, or postscreen's
 * DISCONNECT in postscreen mode. */
void fe_dummy_log_end(struct fe_conn *c);
/* smtpd_check.c's log_whatsup() reject line for the reply in c->final; d:
 * the session's HELO (NULL: at CONNECT, proto=SMTP). */
void fe_dummy_log_reject(struct fe_conn *c, const char *where, const char *sender,
                         const char *rcpt, const struct fe_dummy_state *d);
/* ehlo_cmd()'s "discarding EHLO keywords: ..." for the client's mask. */
void fe_dummy_log_ehlo(struct fe_conn *c);

#endif
