/*
 * session_script.h - the scripted-session harness of the session unit tests
 * (test_session.c, test_session_data.c): a policy/data driver that answers
 * from a rule table, and runs that feed a script whole, byte by byte and in
 * odd chunks and compare the transcripts (replies plus [SLEEP ms], [TLS],
 * [CLOSE] markers for the session's waits).
 */
#ifndef MXSCREEN_TESTS_SESSION_SCRIPT_H
#define MXSCREEN_TESTS_SESSION_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "workers/session.h"

struct rule {
    enum session_stage stage;
    const char *match; /* substring of recipient/sender/helo/peer name */
    enum session_action action;
    unsigned code;
    const char *dsn, *text;
};

struct tctx {
    const struct rule *rules;
    int pending;             /* policy answers PENDING, the driver resumes */
    int eod_pending;         /* data_end answers PENDING */
    uint64_t eod_size;       /* data_end's verdict size (the pipeline's count) */
    struct session_verdict stash;
    char data[8192];
    size_t data_len;
    int begins, aborts, ends;
    unsigned stages_seen;    /* bit per stage asked */
    int saw_pipelined;
    char dsn_seen[512];      /* RCPT stage: the DSN facts, one "[...]" per RCPT */
};

struct out {
    char buf[65536];
    size_t len;
};

#define GREET "220 mx.example.test ESMTP Postfix\r\n"
#define EHLO_REPLY                                                                         \
    "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n" \
    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"

extern const struct session_ops script_ops;
extern const struct rule script_no_rules[];
/* The connect stage rejects client.example.org (the peer script_peer_init makes). */
extern const struct rule script_client_reject[];

/* Postfix-like defaults, limits out of the way (error sleep 0). */
void script_cfg_init(struct session_cfg *c);
void script_peer_init(struct session_peer *p);
/* Drain output and resolve every wait but input. Returns 0 when closed. */
int script_settle(struct session *s, struct tctx *t, struct out *o);
/* Feed input in chunks of `step` bytes (0: all at once). */
void script_run(const struct session_cfg *cfg, const struct session_peer *peer, struct tctx *t,
                const char *in, size_t inlen, size_t step, struct out *o);
/* The same script whole, byte by byte and in 7-byte chunks: one transcript. */
void script_expect(const struct session_cfg *cfg, const struct rule *rules, const char *in,
                   const char *want);

#endif
