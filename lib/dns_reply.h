/*
 * dns_reply.h - build a struct dns_result from a DNS answer (dns.c's
 * internal parser, separate so that it can be fuzzed on its own).
 */
#ifndef MX_DNS_REPLY_H
#define MX_DNS_REPLY_H

#include "dns.h"

/* Fill r for a query of the given type from c-ares's status and the raw
 * answer abuf[0..alen) (may be NULL when st is not ARES_SUCCESS). */
void dns_reply_build(struct dns_result *r, enum dns_type type, int st, const unsigned char *abuf,
                     int alen);

#endif
