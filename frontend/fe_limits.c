/*
 * fe_limits.c - see fe_limits.h. Counts only move through the qflags
 * bits, so a connection that leaves twice, or leaves without ever being
 * counted, changes nothing.
 */
#include "fe_limits.h"

#include <stdio.h>
#include <string.h>

void fe_queues_enter_pre(struct fe_queues *q, uint8_t *qflags)
{
    if (*qflags & (FE_QF_PRE | FE_QF_HELD))
        return;
    *qflags |= FE_QF_PRE;
    q->pre++;
}

void fe_queues_hold(struct fe_queues *q, uint8_t *qflags)
{
    if (*qflags & FE_QF_HELD)
        return;
    if (*qflags & FE_QF_PRE) {
        *qflags &= (uint8_t)~FE_QF_PRE;
        q->pre--;
    }
    *qflags |= FE_QF_HELD;
    q->held++;
}

void fe_queues_leave(struct fe_queues *q, uint8_t *qflags)
{
    if ((*qflags & FE_QF_PRE) && q->pre > 0)
        q->pre--;
    if ((*qflags & FE_QF_HELD) && q->held > 0)
        q->held--;
    *qflags &= (uint8_t) ~(FE_QF_PRE | FE_QF_HELD);
}

bool fe_queues_post_full(const struct fe_queues *q, uint64_t unacked, uint32_t limit)
{
    return limit > 0 && (uint64_t)q->held + unacked >= limit;
}

bool fe_queues_pre_full(const struct fe_queues *q, uint32_t limit)
{
    return limit > 0 && q->pre >= limit;
}

int fe_dnsbl_reply_format(char *buf, size_t cap, const char *code, const char *addr,
                          const char *name, size_t name_len)
{
    int n = snprintf(buf, cap, "%s 5.7.1 Service unavailable; client [%s] blocked using ", code,
                     addr);
    /* The fixed part, CRLF and the NUL must fit. */
    if (n < 0 || (size_t)n + 3 > cap)
        return -1;
    size_t off = (size_t)n;
    size_t room = cap - off - 3;
    size_t take = name_len < room ? name_len : room;
    for (size_t i = 0; i < take; i++) {
        unsigned char ch = (unsigned char)name[i];
        buf[off++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    memcpy(buf + off, "\r\n", 3);
    return (int)(off + 2);
}
