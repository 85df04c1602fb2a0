/*
 * fe_screen_dns.c - the frontend's resolver (lib/dns.h, c-ares) driven by
 * its ring (lib/dns_ring.h). The resolver is dns_resolver (empty:
 * /etc/resolv.conf). Its in-flight cap is the scorer's clients times the
 * DNSBL domains, so a DNSBL query is never refused for lack of room.
 *
 * Failure: dns_open failing leaves the DNSBL test off.
 */
#include "fe_screen.h"

static struct io_uring_sqe *sqe_of(void *fe)
{
    return fe_sqe(fe);
}

void fe_screen_dns_event(struct fe *fe, uint32_t slot, uint32_t gen, int res)
{
    if (fe->scr)
        dns_ring_event(&fe->scr->dnsr, fe->scr->dns, slot, gen, res);
}

int fe_screen_dns_open(struct fe *fe, unsigned max_inflight)
{
    dns_ring_init(&fe->scr->dnsr, sqe_of, fe, FE_OP_DNS, FE_OP_IGNORE);
    const struct fe_screen_conf *sc = fe->conf->screen;
    struct dns_opts o = {.servers = sc->servers,
                         .timeout_ms = sc->dnsbl_timeout_ms,
                         .max_inflight = max_inflight,
                         /* dns_client() (fe_early.c) reads /etc/hosts first, as
                          * smtpd and the workers do; DNSBL queries never do. */
                         .hosts_file = NULL,
                         .sock_cb = dns_ring_sock_cb,
                         .sock_arg = &fe->scr->dnsr};
    return dns_open(&o, &fe->scr->dns);
}
