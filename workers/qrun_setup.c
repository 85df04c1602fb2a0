/*
 * qrun_setup.c - the queue runner's set-up from the configuration: whether
 * a runner is wanted, its options (concurrency, MX address selection,
 * port), the addresses that are "ourselves" for the backup-MX rule
 * (inet_interfaces, proxy_interfaces), the resolver, and the qmgr FIFO
 * that workers and mxscreen-ctl write a byte into to wake it.
 *
 * Failure: set-up functions return -errno (the runner then stops with the
 * reason logged by qrun_run); an unusable configuration value falls back
 * to Postfix's default, as the master has already refused invalid ones.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "matchlist.h"
#include "qrun_int.h"
#include "spool.h"
#include "util.h"

static long param_long(const struct config *cfg, const char *name, long dflt)
{
    long n;
    return cfg_value_long(spool_param(cfg, name, ""), &n) == 0 ? n : dflt;
}

static bool param_bool(const struct config *cfg, const char *name, bool dflt)
{
    bool b;
    return cfg_value_bool(spool_param(cfg, name, ""), &b) == 0 ? b : dflt;
}

static bool has_word(const char *list, const char *const *words)
{
    struct cfg_list l;
    bool hit = false;
    if (cfg_value_list(list, &l) < 0)
        return false;
    for (size_t i = 0; i < l.n && !hit; i++)
        for (size_t k = 0; words[k]; k++)
            if (!strcmp(l.v[i], words[k]))
                hit = true;
    cfg_list_free(&l);
    return hit;
}

static bool dir_has_files(const char *top, const char *sub)
{
    char path[4200];
    qrun_fmt(path, sizeof(path), "%s/%s", top, sub);
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *e;
    bool any = false;
    while (!any && (e = readdir(d)))
        any = qf_id_valid(e->d_name);
    closedir(d);
    return any;
}

bool qrun_wanted(const struct config *cfg)
{
    static const char *const off[] = {"qmgr", "qmgr.fifo", "qmgr/fifo", "fifo", NULL};
    if (has_word(spool_param(cfg, "master_service_disable", ""), off))
        return false;
    if (cfg->p.delivery_mode == DELIVERY_QUEUE)
        return true;
    const char *q = cfg->p.queue_directory;
    return q && *q &&
           (dir_has_files(q, "incoming") || dir_has_files(q, "active") ||
            dir_has_files(q, "deferred"));
}

int qrun_trigger(const char *queue_dir, char what)
{
    char path[4200];
    qrun_fmt(path, sizeof(path), "%s/%s", queue_dir, QRUN_TRIGGER);
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENXIO : -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
        rc = -ENXIO;
    else if (write(fd, &what, 1) != 1)
        rc = errno == EAGAIN ? 0 : -errno; /* a full FIFO: a trigger is pending anyway */
    close(fd);
    return rc;
}


static size_t add_addr(struct sockaddr_storage *a, size_t n, const char *text)
{
    char buf[80];
    unsigned char b[16];
    if (n >= QRUN_SELF_MAX)
        return n;
    qrun_fmt(buf, sizeof(buf), "%s", text);
    char *s = buf;
    if (*s == '[') {
        s++;
        s[strcspn(s, "]")] = 0;
    }
    memset(&a[n], 0, sizeof(a[n]));
    if (inet_pton(AF_INET, s, b) == 1) {
        a[n].ss_family = AF_INET;
        memcpy(&((struct sockaddr_in *)(void *)&a[n])->sin_addr, b, 4);
        return n + 1;
    }
    if (inet_pton(AF_INET6, s, b) == 1) {
        a[n].ss_family = AF_INET6;
        memcpy(&((struct sockaddr_in6 *)(void *)&a[n])->sin6_addr, b, 16);
        return n + 1;
    }
    return n;
}

/* inet_interfaces ("all": every interface address, as Postfix's
 * inet_addr_local) and proxy_interfaces: who "ourselves" is. */
static void self_init(struct qrun *r)
{
    struct cfg_list l;
    size_t n = 0, np = 0;
    if (cfg_value_list(spool_param(r->cfg, "inet_interfaces", "all"), &l) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            if (!strcmp(l.v[i], "all")) {
                struct ifaddrs *ifa, *it;
                if (getifaddrs(&ifa) == 0) {
                    for (it = ifa; it && n < QRUN_SELF_MAX; it = it->ifa_next) {
                        if (!it->ifa_addr || (it->ifa_addr->sa_family != AF_INET &&
                                              it->ifa_addr->sa_family != AF_INET6))
                            continue;
                        memset(&r->self_addr[n], 0, sizeof(r->self_addr[n]));
                        memcpy(&r->self_addr[n], it->ifa_addr,
                               it->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                                  : sizeof(struct sockaddr_in6));
                        n++;
                    }
                    freeifaddrs(ifa);
                }
            } else if (!strcmp(l.v[i], "loopback-only") || !strcmp(l.v[i], "localhost")) {
                n = add_addr(r->self_addr, n, "127.0.0.1");
                n = add_addr(r->self_addr, n, "::1");
            } else {
                n = add_addr(r->self_addr, n, l.v[i]);
            }
        }
        cfg_list_free(&l);
    }
    if (cfg_value_list(spool_param(r->cfg, "proxy_interfaces", ""), &l) == 0) {
        for (size_t i = 0; i < l.n; i++)
            np = add_addr(r->proxy_addr, np, l.v[i]);
        cfg_list_free(&l);
    }
    r->self = (struct mx_self){r->self_addr, n, r->proxy_addr, np};
}

/* A transport's destination concurrency rules. */
static void conc_init(const struct config *c, const char *transport, struct sched_conc *out)
{
    sched_conc_defaults(out);
    out->initial = (int)param_long(c, "initial_destination_concurrency", 5);
    long lim = 20;
    if (sched_transport_limit(c, transport, &lim) == 0)
        out->limit = (int)lim;
    /* qmgr_transport_create(): the first window never exceeds the limit
     * (with the default initial 5 a limit of 1 or 2 let 5 connections
     * open at once; test_daemon_queue_concurrency) */
    if (out->limit > 0 && out->initial > out->limit)
        out->initial = out->limit;
    out->dead_time = c->p.minimal_backoff_time;
}

const struct sched_conc *qrun_conc_for(const struct qrun *r, const char *rcpt)
{
    const char *at = strrchr(rcpt, '@');
    if (r->relay_domains && at && at[1] && matchlist_match_domain(r->relay_domains, at + 1) > 0)
        return &r->conc_relay;
    return &r->conc;
}

void qrun_conc_free(struct qrun *r)
{
    matchlist_free(r->relay_domains);
    r->relay_domains = NULL;
}

void qrun_opts_init(struct qrun *r)
{
    const struct config *c = r->cfg;
    r->sp = (struct sched_params){
        .minimal_backoff_time = c->p.minimal_backoff_time,
        .maximal_backoff_time = c->p.maximal_backoff_time,
        .queue_run_delay = c->p.queue_run_delay,
        .maximal_queue_lifetime = c->p.maximal_queue_lifetime,
        .bounce_queue_lifetime = c->p.bounce_queue_lifetime,
        .delay_warning_time = c->p.delay_warning_time,
    };
    conc_init(c, "smtp", &r->conc);
    /* relay_transport's name (default "relay"): the transport that
     * trivial-rewrite gives a recipient in relay_domains */
    char relay[64];
    const char *rt = spool_param(c, "relay_transport", "relay");
    size_t rn = strcspn(rt, ": \t");
    qrun_fmt(relay, sizeof(relay), "%.*s", (int)(rn < 63 ? rn : 63), rn ? rt : "relay");
    conc_init(c, relay, &r->conc_relay);
    const char *rd = spool_param(c, "relay_domains", "");
    if (rd[strspn(rd, " \t,\r\n")]) {
        struct matchlist_err err;
        unsigned flags = matchlist_parent_style(
                             spool_param(c, "parent_domain_matches_subdomains", ""),
                             "relay_domains") ? MATCHLIST_PARENT : 0;
        if (matchlist_compile("relay_domains", MATCHLIST_DOMAIN, flags, rd, &r->relay_domains,
                              &err) < 0) {
            log_warn("%s: the %s transport's concurrency is not applied", err.msg, relay);
            r->relay_domains = NULL;
        }
    }
    const char *proto = spool_param(c, "inet_protocols", "all");
    r->mxo.want_ipv4 = strstr(proto, "all") || strstr(proto, "ipv4");
    r->mxo.want_ipv6 = strstr(proto, "all") || strstr(proto, "ipv6");
    r->mxo.randomize = param_bool(c, "smtp_randomize_addresses", true);
    r->mxo.balance = param_bool(c, "smtp_balance_inet_protocols", true);
    const char *pref = spool_param(c, "smtp_address_preference", "any");
    r->mxo.addr_pref = !strcmp(pref, "ipv4") ? MX_ADDR_IPV4
                       : !strcmp(pref, "ipv6") ? MX_ADDR_IPV6 : MX_ADDR_ANY;
    r->mxo.address_limit = (unsigned)param_long(c, "smtp_mx_address_limit", 5);
    r->mxo.session_limit = (unsigned)param_long(c, "smtp_mx_session_limit", 2);
    /* smtp_tcp_port: a number, or a service name (known_tcp_ports: smtp=25) */
    long port = param_long(c, "smtp_tcp_port", 25);
    r->tcp_port = port > 0 && port < 65536 ? (unsigned)port : 25;
    qrun_conn_opts_init(r);
    self_init(r);
}

int qrun_open_trigger(struct qrun *r)
{
    char path[4200];
    qrun_fmt(path, sizeof(path), "%s/%s", r->cfg->p.queue_directory, QRUN_TRIGGER);
    if (mkfifo(path, 0620) < 0 && errno != EEXIST)
        return -errno;
    /* O_RDWR: the FIFO never reports end of file when a writer closes */
    r->trigger_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    return r->trigger_fd < 0 ? -errno : 0;
}

int qrun_dns_init(struct qrun *r)
{
    const struct cfg_list *res = &r->cfg->p.dns_resolver;
    char servers[1024];
    int rc = dns_servers_join((const char *const *)res->v, res->n, servers, sizeof(servers));
    if (rc < 0)
        return rc;
    struct dns_opts o = {.servers = servers, .timeout_ms = 10000};
    return dns_open(&o, &r->dns);
}
