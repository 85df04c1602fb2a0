/*
 * smtp_client_int.h - what the two halves of the next-hop client share:
 * smtp_client.c (replies, events, state) and smtp_client_out.c (commands
 * queued and written, content). Not for callers: they use smtp_client.h.
 */
#ifndef MX_SMTP_CLIENT_INT_H
#define MX_SMTP_CLIENT_INT_H

#include "smtp_client.h"

/* The command ring index of a free-running counter. */
#define QI(i) ((i) % SMTP_CLIENT_QUEUE)

/* Room left in the output buffer, after moving what is unsent to its start. */
size_t smtp_client_out_room(struct smtp_client *c);
/* Append to the output: 0, or -ENOSPC (nothing appended). */
__attribute__((format(printf, 2, 3))) int smtp_client_out_printf(struct smtp_client *c,
                                                                 const char *fmt, ...);

#endif
