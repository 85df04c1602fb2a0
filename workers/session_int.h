/*
 * session_int.h - the session's state, shared by session.c (input
 * framing, output, the transition function) and session_cmds.c (the
 * command table). Nothing outside workers/session*.c includes it.
 */
#ifndef MX_SESSION_INT_H
#define MX_SESSION_INT_H

#include "session.h"
#include "smtp_cmd.h"

/* Every state; session_goto() is the only place that changes s->state. */
enum session_state {
    SS_INIT,      /* created, session_start() not yet called */
    SS_CMD,       /* reading command lines */
    SS_POLICY,    /* a policy chain or data_end waits for a verdict */
    SS_DATA,      /* DATA content until CRLF.CRLF */
    SS_BDAT,      /* chunk bytes for the current transaction */
    SS_BDAT_SKIP, /* chunk bytes of a refused BDAT: read and dropped */
    SS_TLS,       /* 220 sent for STARTTLS; the caller switches transport */
    SS_CLOSE,     /* last reply queued; flush and close */
};

/* What to do when a policy chain ends (the command's proceed step). */
enum session_cont {
    SC_NONE, SC_CONNECT, SC_HELO, SC_MAIL, SC_RCPT, SC_VRFY, SC_ETRN, SC_DATA,
    SC_BDAT, SC_EOD, SC_DATA_END,
};

#define SESSION_CHAIN_MAX 5

struct session {
    enum session_state state;
    struct session_cfg cfg;
    struct session_peer peer;
    const struct session_ops *ops;
    void *ctx;

    /* Command line being assembled, and the parser's scratch. */
    char *line;
    size_t line_len, line_cap;
    int line_skip;  /* over-long: dropping bytes up to LF */
    char *scratch;
    size_t scratch_size;
    int more_input; /* bytes followed the line just parsed */
    int is_ehlo;    /* the HELO/EHLO being decided */

    /* Output, and one reply held back behind an error sleep. */
    char out[SESSION_OUT_MAX];
    size_t out_len;
    char held[1024 + SESSION_TEXT_MAX];
    size_t held_len;
    int sleeping;

    /* Counters. */
    unsigned error_count, junk_cmds, rcpt_overshoot;
    struct maillog_cmd_stats stats;
    enum maillog_cmd cur_cmd; /* for the ok counter */

    /* HELO and transaction. */
    char helo[SMTP_LINE_LIMIT_DEFAULT + 1];
    int have_helo;
    const char *proto;
    int tls, access_denied;
    int banner_sent; /* the frontend sent the 220 (smtpd_delay_reject = no: no second one) */
    int mute_reply;  /* the next reply was given by the frontend (session_start mail_done) */
    char access_denied_reply[16 + SESSION_TEXT_MAX];
    int in_mail;
    char sender[SMTP_LINE_LIMIT_DEFAULT + 1];
    uint64_t mail_size;
    const char *where;     /* Postfix's state->where: CONNECT, the command, END-OF-MESSAGE */
    int mail_body, mail_smtputf8; /* MAIL BODY= (enum smtp_body), SMTPUTF8 */
    int mail_ret;                 /* MAIL RET= (enum smtp_ret) */
    char mail_envid[SMTP_LINE_LIMIT_DEFAULT + 1]; /* MAIL ENVID=, decoded; "" none */
    unsigned rcpt_notify;         /* the RCPT in progress: NOTIFY= bits */
    char rcpt_orcpt[SMTP_LINE_LIMIT_DEFAULT + 1]; /* its ORCPT "type;address" */
    unsigned rcpt_count;
    int discard, hold, ill_pipelining;
    int bdat_seen;      /* this transaction used BDAT */
    uint64_t msg_bytes; /* content bytes (DATA as sent, BDAT chunks) */
    int too_big, data_aborted;

    /* Policy chain in progress. */
    enum session_stage chain[SESSION_CHAIN_MAX];
    unsigned chain_len, chain_pos;
    enum session_cont cont;
    char arg[SMTP_LINE_LIMIT_DEFAULT + 1]; /* the command's address/name */

    /* DATA terminator scan: bytes of "\r\n.\r" seen at a line start and
     * not yet passed on; BDAT bytes still due. */
    unsigned dstate;
    uint64_t chunk_left;
    uint64_t chunk_size; /* the current BDAT's declared size, for its reply */
    int chunk_last;
};

/* session.c */
void session_goto(struct session *s, enum session_state next);
void session_reply(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ask the policy each stage in turn; the chain's end calls
 * session_proceed(). Returns its result, 1 while a verdict is pending. */
int session_run_chain(struct session *s, const enum session_stage *stages, unsigned n,
                      enum session_cont cont);
void session_facts_fill(const struct session *s, enum session_stage st,
                        struct session_facts *f);
void session_reset_mail(struct session *s);

/* session_cmds.c */
/* One parsed command line: dispatch through the table. Returns 0, or -1
 * when the command failed (the caller counts the error). */
int session_dispatch(struct session *s, const char *line, size_t len);
/* A policy chain ended: the waiting command's proceed step. v is NULL when
 * every stage said DUNNO/PERMIT/DISCARD/HOLD. */
int session_proceed(struct session *s, enum session_cont c, const struct session_verdict *v);
void session_verdict_reply(struct session *s, const struct session_verdict *v);
/* DATA's CRLF.CRLF was read / a BDAT chunk is complete: the command's
 * result (1: still running or already counted). */
int session_data_done(struct session *s);
int session_bdat_done(struct session *s);

#endif
