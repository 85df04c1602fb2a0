/*
 * fe_limits.h - postscreen's two queue limits, and the DNSBL reply text,
 * as pure bookkeeping (no I/O): the frontend (fe_screen.c, fe_workers.c)
 * keeps one struct fe_queues and moves each connection through it with the
 * FE_QF_* bits in the connection's qflags.
 *
 * postscreen's words, mapped onto mxscreen:
 *   pre-queue  "clients waiting for a decision whether they will receive
 *              service from a real SMTP server": here the connections the
 *              frontend is screening (greet wait, DNSBL wait, error sleep,
 *              enforce engine, a tarpit after a failed test) that were not
 *              allowlisted (postscreen_access_list, PASS OLD) before the
 *              check. A client denylisted and dropped or tarpitted before
 *              the check is not counted: postscreen checks its pre-queue
 *              after the access list, and mxscreen's tarpit is bounded by
 *              postscreen_connection_pool_size instead.
 *   post-queue "clients waiting for service from a real SMTP server
 *              process": here the clean clients no worker could take yet
 *              (held, fe_conn.c) plus the handoffs sent to a worker and
 *              not yet acknowledged (fe_workers.c). A session a worker
 *              runs is not waiting: it is served, as a client that an
 *              smtpd process took; a worker's capacity plays the part of
 *              smtpd's process limit.
 * A connection is counted at most once, in one queue; fe_queues_leave()
 * at close releases whatever it holds, so the counts cannot drift.
 */
#ifndef MX_FE_LIMITS_H
#define MX_FE_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fe_queues {
    uint32_t pre;  /* screening, counted against postscreen_pre_queue_limit */
    uint32_t held; /* clean, waiting for a worker with room */
};

/* qflags of a connection */
enum {
    FE_QF_PRE = 1u << 0,  /* counted in pre */
    FE_QF_HELD = 1u << 1, /* counted in held */
    FE_QF_VETO = 1u << 2, /* postscreen_allowlist_interfaces said no */
};

/* Screening starts: counted in the pre-queue (once). */
void fe_queues_enter_pre(struct fe_queues *q, uint8_t *qflags);
/* No worker can take the client now: from the pre-queue (if there) to the
 * held part of the post-queue (once). */
void fe_queues_hold(struct fe_queues *q, uint8_t *qflags);
/* The connection is closed or handed over: released from both. */
void fe_queues_leave(struct fe_queues *q, uint8_t *qflags);

/* Postfix's tests at connect time (a limit of 0 is no limit):
 * post-queue: held + unacked >= limit; pre-queue: pre >= limit. */
bool fe_queues_post_full(const struct fe_queues *q, uint64_t unacked, uint32_t limit);
bool fe_queues_pre_full(const struct fe_queues *q, uint32_t limit);

/*
 * postscreen's DNSBL reply, "CODE 5.7.1 Service unavailable; client [ADDR]
 * blocked using NAME\r\n", into buf (cap bytes). NAME is what
 * postscreen_dnsbl_reply_map made of the DNSBL domain. A name too long
 * for buf is cut so that the reply still ends in CRLF; CR, LF and other
 * control characters in it become '?' (a table value must not end the
 * reply line early). Returns the length without the NUL, or -1 when not
 * even the fixed part fits (cap too small).
 */
int fe_dnsbl_reply_format(char *buf, size_t cap, const char *code, const char *addr,
                          const char *name, size_t name_len);

#endif
