/*
 * fe_screen.h - what fe_screen.c and fe_screen_dns.c share: the frontend
 * process's own screening state (the cache environment, the resolver, the
 * DNSBL scorer, the sweep timer), made after fork by fe_screen_open().
 */
#ifndef MX_FE_SCREEN_H
#define MX_FE_SCREEN_H

#include "dns_ring.h"
#include "fe_int.h"

struct fe_screen {
    struct screen_cache *cache; /* NULL: no cache */
    struct dns_ctx *dns;        /* NULL: no DNSBL test */
    struct dnsbl_score *ds;
    struct pool replies;        /* DNSBL enforce replies (they name the client) */
    bool replies_ok;
    struct timer_node sweep_timer;
    bool sweeping;
    struct screen_sweep sweep;
    struct dns_ring dnsr;       /* the resolver's sockets in the ring */
};

int fe_screen_dns_open(struct fe *fe, unsigned max_inflight);

#endif
