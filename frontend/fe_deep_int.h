/*
 * fe_deep_int.h - what the parts of the deep protocol tests share (see
 * fe_deep.c's header for the whole): the prepared configuration and the
 * per-connection state, and the functions one part offers the other.
 *
 *   fe_deep.c       the session: lines judged, replies, error limits,
 *                   handoff, the test verdicts and their stamps
 *   fe_deep_conf.c  the configuration (master, before fork): actions,
 *                   TTLs, the EHLO replies, postscreen_forbidden_commands
 *   fe_deep_helo.c  THE HELO POINT: the HELO/EHLO name judged by the HELO
 *                   restrictions before the frontend answers it
 * and the enforce engine (fe_dummy.c), which may take a deep session over.
 */
#ifndef MX_FE_DEEP_INT_H
#define MX_FE_DEEP_INT_H

#include "fe_int.h"

#include "deep_proto.h"
#include "maillog.h"

#define FE_DEEP_BUF 1024u

enum { T_PIPEL, T_NSMTP, T_BARLF, T_N };

struct fe_deep_conf {
    unsigned enabled; /* DEEP_T_* */
    int action[T_N];
    int64_t ttl[T_N], min_ttl;
    char *ehlo, *ehlo_pipe; /* with CRLF; without / with PIPELINING */
    size_t ehlo_len, ehlo_pipe_len;
    char *helo_reply;
    size_t helo_len;
    char *r_time, *r_421;
    size_t r_time_len, r_421_len;
    bool smtputf8, strict, helo_handoff;
    bool helo_now; /* smtpd_delay_reject = no: the HELO restrictions judge the HELO */
    size_t nwords, nmaps;
    char **words;
    struct map **maps;
};

struct fe_deep_state {
    uint16_t have;     /* bytes in buf */
    uint8_t helo_cmd;  /* HANDOFF_HELO_* answered by us */
    /* smtpd_error_sleep_time before a reply of ours (errors made here or
     * before: smtpd_soft_error_limit): the reply held meanwhile (a
     * constant, the configuration's or fe_early's buffer), whether the
     * session ends after it, or the smtpd_hard_error_limit 421 due. */
    bool sleeping, hard, held_close, held_error;
    uint16_t held_len;
    const char *held;
    uint16_t helo_rej_len;
    const char *helo_rej; /* smtpd_helo_restrictions' reject, due at RCPT */
    const char *where;    /* postscreen's "after WHERE": the last command */
    /* The commands answered here, per smtpd command row (maillog.h order),
     * for smtpd's disconnect line: the worker or the enforce engine goes
     * on counting from them (handoff.h HANDOFF_F_CMD_COUNTS). */
    uint16_t cmd_ok[HANDOFF_NCMDS], cmd_total[HANDOFF_NCMDS];
    char helo[DEEP_HELO_MAX + 1];
    char buf[FE_DEEP_BUF];
};
/* fe_deep.c: the commands the deep tests answered (smtpd's counters, the
 * HELO/EHLO included), for the enforce engine that continues the session. */
void fe_deep_counts(const struct fe_conn *c, struct maillog_cmd_stats *out);

/* fe_deep_conf.c: postscreen_forbidden_commands has word[0..len) (a
 * deep_in.forbidden callback; ctx is the struct fe_deep_conf). */
int fe_deep_forbidden(void *ctx, const char *word, size_t len);

/* fe_deep_helo.c */
enum fe_deep_helo_res {
    FE_DEEP_HELO_ANSWER,  /* the frontend answers it as the worker would */
    FE_DEEP_HELO_HANDOFF, /* a worker answers it */
    FE_DEEP_HELO_REJECT,  /* rejected here (smtpd_delay_reject = no): *rej is the reply */
};
enum fe_deep_helo_res fe_deep_helo_known(struct fe *fe, struct fe_conn *c, bool ehlo,
                                         const char *arg, size_t len, const char **rej,
                                         size_t *rej_len);
/* A transaction starts with a HELO the restrictions reject: the enforce
 * engine in smtpd mode goes on from buf[off..). */
void fe_deep_helo_enforce(struct fe *fe, struct fe_conn *c, size_t off);

#endif
