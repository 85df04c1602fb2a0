/*
 * worker_dns.c - the worker's resolver: c-ares sockets watched through the
 * worker's ring (lib/dns_ring.h). The resolver is dns_resolver (empty:
 * /etc/resolv.conf); tests point it at a dnsmasq on loopback.
 */
#include "worker_int.h"

static struct io_uring_sqe *sqe_of(void *w)
{
    return worker_sqe(w);
}

void worker_dns_event(struct worker *w, uint32_t slot, uint32_t gen, int res)
{
    dns_ring_event(&w->dnsr, w->dns, slot, gen, res);
}

int worker_dns_open(struct worker *w)
{
    dns_ring_init(&w->dnsr, sqe_of, w, OP_DNS_POLL, OP_IGNORE);
    const struct cfg_list *res = &w->gen->cfg.p.dns_resolver;
    char servers[1024];
    int rc = dns_servers_join((const char *const *)res->v, res->n, servers, sizeof(servers));
    if (rc < 0)
        return rc;
    struct dns_opts o = {.servers = servers,
                         .timeout_ms = 10000,
                         .sock_cb = dns_ring_sock_cb,
                         .sock_arg = &w->dnsr};
    return dns_open(&o, &w->dns);
}

void worker_dns_close(struct worker *w)
{
    if (w->dns)
        dns_close(w->dns);
    w->dns = NULL;
}
