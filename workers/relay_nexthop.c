/*
 * relay_nexthop.c - the next hop of a proxied transaction: an idle cached
 * connection to it, or a new one to its address - a literal, a unix
 * socket (lmtp:unix:), or found by DNS (MX records unless [bracketed],
 * the name itself without MX, then its A record) - and the transaction's
 * MAIL and first RCPT on it. The answer reaches the session through
 * relay.c when the next hop replies to that RCPT; a DNS or connect failure
 * is answered here (4xx: the client tries again later).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "log.h"
#include "relay_int.h"
#include "worker_int.h"

/* ---- connecting to the next hop ---- */

static void start_upstream_txn(struct conn *c)
{
    struct relay_txn *rt = &c->rt;
    struct upstream *u = rt->up;
    smtp_client_mail(&u->cl, rt->sender, strlen(rt->sender), rt->mail_size,
                     (enum smtp_body)rt->body, rt->smtputf8);
    smtp_client_rcpt(&u->cl, rt->rcpt, strlen(rt->rcpt));
    relay_watch_data(c);
    upstream_pump(u);
}

static void connect_to(struct conn *c, const struct sockaddr_storage *ss, socklen_t len,
                       const char *host, unsigned port)
{
    struct relay_txn *rt = &c->rt;
    char key[320], text[64] = "";
    relay_nexthop_key(&rt->nh, key, sizeof(key));
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, text,
                  sizeof(text));
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr, text,
                  sizeof(text));
    else
        snprintf(text, sizeof(text), "unix");
    /* Postfix's next hop as written (the SASL password key after the
     * host name) and its domain (the nexthop of the cert match lists). */
    char dest[300];
    if (rt->nh.unix_path[0])
        snprintf(dest, sizeof(dest), "%s", rt->nh.unix_path);
    else if (rt->nh.port != 25)
        snprintf(dest, sizeof(dest), rt->nh.mx ? "%s:%u" : "[%s]:%u", rt->nh.host, rt->nh.port);
    else
        snprintf(dest, sizeof(dest), rt->nh.mx ? "%s" : "[%s]", rt->nh.host);
    struct upstream *u = upstream_open(c->w, key, ss, len, host, text, port, rt->nh.host, dest);
    if (!u) {
        struct session_verdict v;
        rt->have_nh = false;
        relay_verdict(&v, SESSION_DEFER, 451, "4.3.0", "Error: queue file write error");
        relay_answer(c, &v);
        return;
    }
    /* Nothing has been read or sent yet: the greeting will get LHLO. */
    u->cl.opts.lmtp = rt->nh.kind == TRANSPORT_LMTP;
    rt->up = u;
    upstream_attach(u, c);
    start_upstream_txn(c);
}

static void fill_addr(struct sockaddr_storage *ss, socklen_t *len, int family, const void *a,
                      unsigned port)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (void *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        memcpy(&s4->sin_addr, a, sizeof(s4->sin_addr));
        *len = sizeof(*s4);
    } else {
        struct sockaddr_in6 *s6 = (void *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        memcpy(&s6->sin6_addr, a, sizeof(s6->sin6_addr));
        *len = sizeof(*s6);
    }
}

static void resolve_failed(struct conn *c, const char *what, const struct dns_result *r)
{
    struct session_verdict v;
    log_warn("%s: cannot find the next hop %s: %s", c->rt.queue_id, what, dns_status_str(r->status));
    c->rt.resolving = false;
    c->rt.have_nh = false; /* a later recipient may try again */
    if (r->status == DNS_NXDOMAIN || r->status == DNS_NODATA)
        relay_verdict(&v, SESSION_DEFER, 450, "4.4.4", "<%s>: Host or domain name not found; "
                    "next hop %s", c->rt.rcpt, what);
    else
        relay_verdict(&v, SESSION_DEFER, 451, "4.4.3", "<%s>: Temporary lookup failure",
                    c->rt.rcpt);
    relay_answer(c, &v);
}

static void on_a(void *arg, const struct dns_result *r)
{
    struct conn *c = arg;
    struct relay_txn *rt = &c->rt;
    const char *host = rt->mx_host[0] ? rt->mx_host : rt->nh.host;
    if (r->status != DNS_OK || r->count == 0) {
        resolve_failed(c, host, r);
        return;
    }
    rt->resolving = false;
    struct sockaddr_storage ss;
    socklen_t len;
    fill_addr(&ss, &len, AF_INET, &r->u.a[0], rt->nh.port);
    connect_to(c, &ss, len, host, rt->nh.port);
}

static void on_mx(void *arg, const struct dns_result *r)
{
    struct conn *c = arg;
    struct relay_txn *rt = &c->rt;
    if (r->status == DNS_OK && r->count > 0) {
        unsigned best = 0;
        for (unsigned i = 1; i < r->count; i++)
            if (r->u.mx[i].pref < r->u.mx[best].pref)
                best = i;
        snprintf(rt->mx_host, sizeof(rt->mx_host), "%s", r->u.mx[best].host);
    } else if (r->status == DNS_NXDOMAIN || r->status == DNS_NODATA) {
        rt->mx_host[0] = 0; /* no MX: the name itself (RFC 5321 5.1) */
        if (r->status == DNS_NXDOMAIN) {
            resolve_failed(c, rt->nh.host, r);
            return;
        }
    } else {
        resolve_failed(c, rt->nh.host, r);
        return;
    }
    const char *host = rt->mx_host[0] ? rt->mx_host : rt->nh.host;
    if (dns_query(c->w->dns, host, DNS_T_A, 0, on_a, c) < 0) {
        struct dns_result fake = {.status = DNS_TEMPFAIL};
        resolve_failed(c, host, &fake);
    }
}

/* Find the next hop's address and connect: PENDING until its RCPT reply. */
enum session_action relay_open_nexthop(struct conn *c, struct session_verdict *v)
{
    struct relay_txn *rt = &c->rt;
    char key[320];
    relay_nexthop_key(&rt->nh, key, sizeof(key));
    struct upstream *u = upstream_find_idle(c->w, key);
    if (u) {
        rt->up = u;
        upstream_attach(u, c);
        start_upstream_txn(c);
        return SESSION_PENDING;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    unsigned char a[16];
    if (rt->nh.unix_path[0]) {
        struct sockaddr_un *sun = (void *)&ss;
        memset(&ss, 0, sizeof(ss));
        sun->sun_family = AF_UNIX;
        snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", rt->nh.unix_path);
        connect_to(c, &ss, sizeof(*sun), rt->nh.unix_path, 0);
        return SESSION_PENDING;
    }
    if (inet_pton(AF_INET, rt->nh.host, a) == 1) {
        fill_addr(&ss, &len, AF_INET, a, rt->nh.port);
    } else if (inet_pton(AF_INET6, rt->nh.host, a) == 1) {
        fill_addr(&ss, &len, AF_INET6, a, rt->nh.port);
    } else {
        rt->mx_host[0] = 0;
        int rc = rt->nh.mx ? dns_query(c->w->dns, rt->nh.host, DNS_T_MX, 0, on_mx, c)
                           : dns_query(c->w->dns, rt->nh.host, DNS_T_A, 0, on_a, c);
        if (rc < 0) {
            relay_verdict(v, SESSION_DEFER, 451, "4.4.3", "<%s>: Temporary lookup failure",
                        rt->rcpt);
            return SESSION_DEFER;
        }
        rt->resolving = true;
        return SESSION_PENDING;
    }
    connect_to(c, &ss, len, rt->nh.host, rt->nh.port);
    return SESSION_PENDING;
}
