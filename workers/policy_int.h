/*
 * policy_int.h - what policy.c and policy_log.c share: the compiled
 * policy and one client's evaluation state. Not for other modules.
 */
#ifndef MX_POLICY_INT_H
#define MX_POLICY_INT_H

#include <stdbool.h>

#include "policy.h"
#include "restrict.h"
#include "smtp_cmd.h"

struct policy {
    struct restrict_ctx *ctx;
    struct restrict_list *lists[RESTRICT_STAGES];
    bool delay_reject; /* smtpd_delay_reject */
    bool relay_first;  /* smtpd_relay_before_recipient_restrictions */
};

/* Log lines of a delayed chain's early stages, written at its last stage. */
#define POLICY_LOG_HELD 8
struct policy_held_log {
    char whatsup[16];
    char text[RESTRICT_REPLY_MAX];
};

struct policy_session {
    const struct policy *p;
    struct dns_ctx *dns;
    policy_done_fn done;
    void *arg;

    /* The client. */
    char name[256], reverse_name[256], addr[64], namaddr[256 + 64 + 2];
    enum dns_name_status name_status, reverse_status;
    char queue_id[32];

    /* The stage being decided: copies of its facts (a walk may wait for
     * DNS longer than the session's facts live). */
    enum session_stage stage;
    const char *where; /* the session's command word (static string) */
    char helo[SMTP_LINE_LIMIT_DEFAULT + 1], sender[SMTP_LINE_LIMIT_DEFAULT + 1];
    char rcpt[SMTP_LINE_LIMIT_DEFAULT + 1], proto[16];
    unsigned rcpt_count;
    bool bdat;
    struct restrict_facts rf;
    /* The transaction's first accepted recipient: DATA/END-OF-DATA lines
     * name it when it is the only one, as Postfix does. */
    char first_rcpt[SMTP_LINE_LIMIT_DEFAULT + 1];

    /* The walk: up to two lists, the current one, the engine's state. */
    enum restrict_stage plan[2];
    int nplan, pos;
    bool begun, pending;
    enum restrict_result result;
    struct restrict_state st;
    struct restrict_verdict rv;

    /* smtpd_delay_reject chain (CONNECT, HELO, MAIL before RCPT/VRFY/ETRN). */
    bool chain, held;
    struct restrict_verdict held_rv;
    bool base_discard, base_hold, snap_dip[3];
    struct policy_held_log log[POLICY_LOG_HELD];
    unsigned nlog;
};

/* policy.c */
enum session_action policy_finish(struct policy_session *ps, enum restrict_result r,
                                  struct session_verdict *v);

/* policy_log.c: the engine's log callback (restrict_log_fn), and the
 * delayed chain's held lines written with the last stage's context. */
void policy_log_event(void *arg, const char *whatsup, const char *text);
void policy_log_flush(struct policy_session *ps);

#endif
