/*
 * relay_int.h - what relay.c and relay_nexthop.c share.
 */
#ifndef MX_RELAY_INT_H
#define MX_RELAY_INT_H

#include "worker_int.h"

/* Fill a verdict: action, code, DSN and printf-style text. */
void relay_verdict(struct session_verdict *v, enum session_action a, unsigned code,
                   const char *dsn, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The session waits for the next hop: give it the verdict, then pump. */
void relay_answer(struct conn *c, struct session_verdict *v);
/* "kind:path:host:port": connections are reused between equal keys. */
void relay_nexthop_key(const struct nexthop *nh, char *buf, size_t size);
/* Connect (or reuse) and send MAIL + RCPT: PENDING, or DEFER with v. */
enum session_action relay_open_nexthop(struct conn *c, struct session_verdict *v);
/* The next hop's reply ("451 4.3.0 text\r\n451 ...") as the client's. */
void relay_verdict_from_reply(struct session_verdict *v, const struct smtp_client_event *ev);
/* Keep an accepted recipient (and its DSN facts) for the log and queue. */
void relay_rcpt_remember(struct conn *c, const char *rcpt);
/* Have the client's DATA, if it is the next command already read, go out
 * with the RCPT just queued (one write: pipelining). */
void relay_watch_data(struct conn *c);
/* Give up the next-hop connection without the final dot. */
void relay_drop_upstream(struct relay_txn *rt);
/* relay_reply.c: one reply of the next hop; a link lost to TLS/AUTH. */
void relay_on_reply(struct conn *c, const struct smtp_client_event *ev);
void relay_log_link_failure(struct conn *c);
/* discard(8)'s "QID: to=<r>, relay=none, ..., status=sent (why)" line. */
void relay_log_discarded(const struct relay_txn *rt, const char *rcpt, const char *why);

#endif
