/*
 * dns.c - the c-ares resolver behind dns.h, driven by the caller's loop.
 *
 * Every query holds one slot of a table sized at dns_open() (max_inflight):
 * a full table refuses new queries with -EAGAIN instead of growing. A slot
 * is released only when c-ares is done with its query: a query that passes
 * its deadline is answered DNS_TIMEOUT at once and marked abandoned, and
 * c-ares's late answer is then dropped (c-ares 1.18 cannot cancel one
 * query). c-ares may call back from inside ares_query() (e.g. no server);
 * such a result is stashed and delivered from the next dns_process() or
 * dns_timeout(), so a caller is never called back from its own request.
 * The free list is LIFO, so the slots in use stay among the lowest
 * indices (never more than the most ever in flight at once): the walks
 * for deadlines, stashed answers and dns_forget() stop at a high-water
 * mark instead of visiting every slot (1,024 by default) after each
 * hosts-file answer.
 *
 * TTLs: the c-ares 1.18 parsers give no TTL for PTR, MX or TXT, so the
 * answer section is walked here (names skipped with ares_expand_name) for
 * the lowest TTL, and the authority SOA for negative answers.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns_reply.h"
#include "hostname.h"
#include "hosts_file.h"
#include "util.h"

#define DNS_SOCK_MAX 32

enum slot_kind { SLOT_QUERY, SLOT_CLIENT_PTR, SLOT_CLIENT_FWD };

struct dns_slot {
    struct dns_ctx *ctx;
    struct dns_slot *next_free;
    int busy;       /* c-ares holds this query */
    int abandoned;  /* the caller already got DNS_TIMEOUT */
    int submitting; /* inside ares_query(): stash a synchronous result */
    int stashed;
    int stash_status;
    int local;      /* answered from the hosts file: stash_status is the client status */
    enum slot_kind kind;
    enum dns_type type;
    uint64_t deadline; /* CLOCK_MONOTONIC ms */
    unsigned timeout_ms;
    dns_cb cb;
    dns_client_cb ccb;
    void *arg;
    /* dns_client() state */
    struct sockaddr_storage caddr;
    char name[DNS_NAME_MAX + 1];
    uint32_t ttl;
};

struct dns_ctx {
    ares_channel channel;
    struct dns_slot *slots;
    struct dns_slot *free;
    unsigned nslots, inflight, nstashed;
    unsigned hwm; /* every busy slot's index is below it */
    unsigned timeout_ms;
    int closing;
    char *hosts_file; /* NULL: none */
    char *hosts_text; /* its contents, read again at most once a second */
    uint64_t hosts_read_ms;
    dns_sock_cb sock_cb;
    void *sock_arg;
    struct {
        int fd;
        short events;
    } socks[DNS_SOCK_MAX];
    size_t nsocks;
    struct dns_result res; /* scratch, valid during one callback */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *dns_status_str(enum dns_status s)
{
    switch (s) {
    case DNS_OK:
        return "ok";
    case DNS_NXDOMAIN:
        return "nxdomain";
    case DNS_NODATA:
        return "nodata";
    case DNS_TEMPFAIL:
        return "tempfail";
    case DNS_TIMEOUT:
        return "timeout";
    }
    return "?";
}

const char *dns_client_status_str(enum dns_client_status s)
{
    switch (s) {
    case DNS_CLIENT_OK:
        return "ok";
    case DNS_CLIENT_FORGED:
        return "forged";
    case DNS_CLIENT_FWD_TEMP:
        return "fwd_temp";
    case DNS_CLIENT_NOPTR:
        return "noptr";
    case DNS_CLIENT_TEMP:
        return "temp";
    }
    return "?";
}

enum dns_name_status dns_client_reverse_status(enum dns_client_status s)
{
    switch (s) {
    case DNS_CLIENT_OK:
    case DNS_CLIENT_FORGED:
    case DNS_CLIENT_FWD_TEMP:
        return DNS_NAME_OK;
    case DNS_CLIENT_NOPTR:
        return DNS_NAME_PERM;
    case DNS_CLIENT_TEMP:
        break;
    }
    return DNS_NAME_TEMP;
}

enum dns_name_status dns_client_name_status(enum dns_client_status s)
{
    switch (s) {
    case DNS_CLIENT_OK:
        return DNS_NAME_OK;
    case DNS_CLIENT_FORGED:
    case DNS_CLIENT_NOPTR:
        return DNS_NAME_PERM;
    case DNS_CLIENT_FWD_TEMP:
    case DNS_CLIENT_TEMP:
        break;
    }
    return DNS_NAME_TEMP;
}

/* ---- sockets c-ares wants watched ---- */

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns_ctx *c = data;
    size_t i;
    for (i = 0; i < c->nsocks && c->socks[i].fd != fd; i++)
        ;
    if (!readable && !writable) {
        if (i < c->nsocks)
            c->socks[i] = c->socks[--c->nsocks];
    } else {
        if (i == c->nsocks) {
            /* c-ares opens one socket per server (plus TCP on truncation):
             * more than DNS_SOCK_MAX means a misconfiguration; the caller's
             * sock_cb still hears of it. */
            if (i < DNS_SOCK_MAX) {
                c->socks[i].fd = fd;
                c->nsocks++;
            }
        }
        if (i < c->nsocks)
            c->socks[i].events = (short)((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
    }
    if (c->sock_cb)
        c->sock_cb(c->sock_arg, fd, readable, writable);
}

size_t dns_fds(const struct dns_ctx *ctx, struct pollfd *pfd, size_t n)
{
    for (size_t i = 0; i < ctx->nsocks && i < n; i++) {
        pfd[i].fd = ctx->socks[i].fd;
        pfd[i].events = ctx->socks[i].events;
        pfd[i].revents = 0;
    }
    return ctx->nsocks;
}

/* ---- slots ---- */

static struct dns_slot *slot_get(struct dns_ctx *c)
{
    struct dns_slot *s = c->free;
    if (!s)
        return NULL;
    c->free = s->next_free;
    c->inflight++;
    memset(&s->busy, 0, sizeof(*s) - offsetof(struct dns_slot, busy));
    s->busy = 1;
    unsigned i = (unsigned)(s - c->slots);
    if (i >= c->hwm)
        c->hwm = i + 1;
    return s;
}

static void slot_put(struct dns_ctx *c, struct dns_slot *s)
{
    s->busy = 0;
    s->next_free = c->free;
    c->free = s;
    c->inflight--;
    /* Lower the mark past the free slots at the top: each step down was
     * one step up in slot_get(). */
    while (c->hwm > 0 && !c->slots[c->hwm - 1].busy)
        c->hwm--;
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

static void submit(struct dns_slot *s, const char *name, enum dns_type type, unsigned timeout_ms)
{
    s->type = type;
    s->deadline = now_ms() + timeout_ms;
    s->submitting = 1;
    ares_query(s->ctx->channel, name, 1 /* C_IN */, (int)type, on_answer, s);
    s->submitting = 0;
}

static int addr_matches(const struct sockaddr_storage *ca, const struct dns_result *r)
{
    for (unsigned i = 0; i < r->count && i < DNS_MAX_RR; i++) {
        if (ca->ss_family == AF_INET && r->type == DNS_T_A &&
            memcmp(&r->u.a[i], &((const struct sockaddr_in *)ca)->sin_addr, 4) == 0)
            return 1;
        if (ca->ss_family == AF_INET6 && r->type == DNS_T_AAAA &&
            memcmp(&r->u.aaaa[i], &((const struct sockaddr_in6 *)ca)->sin6_addr, 16) == 0)
            return 1;
    }
    return 0;
}

static void client_done(struct dns_ctx *c, struct dns_slot *s, enum dns_client_status st)
{
    struct dns_client_result cr;
    cr.status = st;
    memcpy(cr.name, s->name, sizeof(cr.name));
    cr.ttl = s->ttl;
    dns_client_cb cb = s->ccb;
    void *arg = s->arg;
    if (s->abandoned)
        return;
    s->abandoned = 1; /* delivered; the slot is released by its owner */
    cb(arg, &cr);
    (void)c;
}

static uint32_t min_ttl(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* A finished c-ares query (or a stashed synchronous one: abuf NULL). */
static void complete(struct dns_ctx *c, struct dns_slot *s, int st, const unsigned char *abuf,
                     int alen)
{
    if (s->abandoned) {
        slot_put(c, s);
        return;
    }
    struct dns_result *r = &c->res;
    dns_reply_build(r, s->type, st, abuf, alen);

    if (s->kind == SLOT_QUERY) {
        dns_cb cb = s->cb;
        void *arg = s->arg;
        slot_put(c, s);
        cb(arg, r);
        return;
    }
    if (s->kind == SLOT_CLIENT_PTR) {
        s->ttl = r->ttl;
        if (r->status == DNS_OK && hostname_valid(r->u.ptr[0], strlen(r->u.ptr[0]))) {
            memcpy(s->name, r->u.ptr[0], sizeof(s->name));
            s->kind = SLOT_CLIENT_FWD;
            /* The slot stays busy: it carries the forward lookup now. */
            submit(s, s->name, s->caddr.ss_family == AF_INET ? DNS_T_A : DNS_T_AAAA,
                   s->timeout_ms);
            return;
        }
        enum dns_client_status cs = r->status == DNS_OK || r->status == DNS_NXDOMAIN ||
                                            r->status == DNS_NODATA
                                        ? DNS_CLIENT_NOPTR
                                        : DNS_CLIENT_TEMP;
        client_done(c, s, cs);
        slot_put(c, s);
        return;
    }
    /* SLOT_CLIENT_FWD */
    enum dns_client_status cs;
    if (r->status == DNS_OK) {
        s->ttl = min_ttl(s->ttl, r->ttl);
        cs = addr_matches(&s->caddr, r) ? DNS_CLIENT_OK : DNS_CLIENT_FORGED;
    } else if (r->status == DNS_NXDOMAIN || r->status == DNS_NODATA) {
        cs = DNS_CLIENT_FORGED;
    } else {
        cs = DNS_CLIENT_FWD_TEMP;
    }
    client_done(c, s, cs);
    slot_put(c, s);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_slot *s = arg;
    struct dns_ctx *c = s->ctx;
    (void)timeouts;
    if (c->closing)
        return;
    if (s->submitting) {
        s->stashed = 1;
        s->stash_status = status;
        c->nstashed++;
        return;
    }
    complete(c, s, status, abuf, alen);
}

static void deliver_stashed(struct dns_ctx *c)
{
    for (unsigned i = 0; c->nstashed > 0 && i < c->hwm; i++) {
        struct dns_slot *s = &c->slots[i];
        if (!s->busy || !s->stashed)
            continue;
        s->stashed = 0;
        c->nstashed--;
        if (s->local) {
            client_done(c, s, (enum dns_client_status)s->stash_status);
            slot_put(c, s);
            continue;
        }
        complete(c, s, s->stash_status, NULL, 0);
        /* complete() may have stashed again (a chained forward lookup
         * that failed at once): rescan from this slot. */
        if (s->busy && s->stashed)
            i--;
    }
}

/* ---- context ---- */

/* dns_resolver list -> c-ares "host:port,[v6]:port" CSV. */
static int servers_csv(const char *in, char *out, size_t size)
{
    size_t used = 0;
    const char *p = in;
    while (*p) {
        p += strspn(p, ", \t\r\n");
        size_t n = strcspn(p, ", \t\r\n");
        if (n == 0)
            break;
        /* A bare IPv6 address has two or more colons and no brackets. */
        int colons = 0;
        for (size_t i = 0; i < n; i++)
            colons += p[i] == ':';
        int wrap = colons > 1 && p[0] != '[';
        int w = snprintf(out + used, size - used, "%s%s%.*s%s", used ? "," : "",
                         wrap ? "[" : "", (int)n, p, wrap ? "]" : "");
        if (w < 0 || (size_t)w >= size - used)
            return -ENAMETOOLONG;
        used += (size_t)w;
        p += n;
    }
    return used ? 0 : -EINVAL;
}

int dns_open(const struct dns_opts *o, struct dns_ctx **out)
{
    static const struct dns_opts defaults;
    if (!o)
        o = &defaults;
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
        return -EIO;
    struct dns_ctx *c = xcalloc(1, sizeof(*c));
    c->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
    if (!o->hosts_file || o->hosts_file[0])
        c->hosts_file = xstrdup(o->hosts_file ? o->hosts_file : "/etc/hosts");
    c->nslots = o->max_inflight ? o->max_inflight : 1024;
    c->slots = xcalloc(c->nslots, sizeof(*c->slots));
    for (unsigned i = c->nslots; i-- > 0;) {
        c->slots[i].ctx = c;
        c->slots[i].next_free = c->free;
        c->free = &c->slots[i];
    }
    c->sock_cb = o->sock_cb;
    c->sock_arg = o->sock_arg;

    struct ares_options ao;
    memset(&ao, 0, sizeof(ao));
    ao.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    ao.timeout = (int)(o->try_ms ? o->try_ms : 2000);
    ao.tries = (int)(o->tries ? o->tries : 2);
    ao.sock_state_cb = on_sock_state;
    ao.sock_state_cb_data = c;
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
    int err = 0;
    if (ares_init_options(&c->channel, &ao, mask) != ARES_SUCCESS) {
        err = -EIO;
        goto fail;
    }
    if (o->servers && o->servers[strspn(o->servers, ", \t\r\n")]) {
        char csv[1024];
        if ((err = servers_csv(o->servers, csv, sizeof(csv))) != 0)
            goto fail_channel;
        if (ares_set_servers_ports_csv(c->channel, csv) != ARES_SUCCESS) {
            err = -EINVAL;
            goto fail_channel;
        }
    }
    *out = c;
    return 0;

fail_channel:
    c->closing = 1;
    ares_destroy(c->channel);
fail:
    free(c->hosts_file);
    free(c->hosts_text);
    free(c->slots);
    free(c);
    ares_library_cleanup();
    return err;
}

void dns_close(struct dns_ctx *c)
{
    if (!c)
        return;
    c->closing = 1;
    ares_destroy(c->channel);
    free(c->hosts_file);
    free(c->hosts_text);
    free(c->slots);
    free(c);
    ares_library_cleanup();
}

unsigned dns_inflight(const struct dns_ctx *c)
{
    return c->inflight;
}

void dns_process(struct dns_ctx *c, int fd, int readable, int writable)
{
    ares_process_fd(c->channel, readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
    deliver_stashed(c);
}

int dns_next_timeout_ms(struct dns_ctx *c)
{
    if (c->nstashed)
        return 0;
    if (c->inflight == 0)
        return -1;
    uint64_t now = now_ms(), best = UINT64_MAX;
    /* A scan of the table: one comparison per slot, only while queries
     * are in flight. */
    for (unsigned i = 0; i < c->hwm; i++) {
        const struct dns_slot *s = &c->slots[i];
        if (s->busy && !s->abandoned && s->deadline < best)
            best = s->deadline;
    }
    struct timeval tv, *tvp = ares_timeout(c->channel, NULL, &tv);
    if (tvp) {
        uint64_t t = now + (uint64_t)tvp->tv_sec * 1000u + (uint64_t)(tvp->tv_usec + 999) / 1000u;
        if (t < best)
            best = t;
    }
    if (best == UINT64_MAX)
        return -1;
    return best <= now ? 0 : (int)(best - now > 86400000u ? 86400000u : best - now);
}

void dns_timeout(struct dns_ctx *c)
{
    ares_process_fd(c->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    deliver_stashed(c);
    uint64_t now = now_ms();
    for (unsigned i = 0; i < c->hwm; i++) {
        struct dns_slot *s = &c->slots[i];
        if (!s->busy || s->abandoned || s->stashed || s->deadline > now)
            continue;
        /* Answer now; c-ares's late answer will only free the slot. */
        if (s->kind == SLOT_QUERY) {
            s->abandoned = 1;
            struct dns_result *r = &c->res;
            memset(r, 0, offsetof(struct dns_result, u));
            r->status = DNS_TIMEOUT;
            r->type = s->type;
            r->why = "deadline passed";
            s->cb(s->arg, r);
        } else {
            client_done(c, s,
                        s->kind == SLOT_CLIENT_PTR ? DNS_CLIENT_TEMP : DNS_CLIENT_FWD_TEMP);
        }
    }
}

unsigned dns_forget(struct dns_ctx *c, const void *arg)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->hwm; i++) {
        struct dns_slot *s = &c->slots[i];
        if (s->busy && !s->abandoned && s->arg == arg) {
            s->abandoned = 1;
            n++;
        }
    }
    return n;
}

/* ---- queries ---- */

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= 253 + (name[n - 1] == '.');
}

static int start(struct dns_ctx *c, const char *name, enum dns_type type, unsigned timeout_ms,
                 dns_cb cb, void *arg)
{
    if (!name_ok(name))
        return -EINVAL;
    struct dns_slot *s = slot_get(c);
    if (!s)
        return -EAGAIN;
    s->kind = SLOT_QUERY;
    s->cb = cb;
    s->arg = arg;
    submit(s, name, type, timeout_ms ? timeout_ms : c->timeout_ms);
    return 0;
}

int dns_query(struct dns_ctx *c, const char *name, enum dns_type type, unsigned timeout_ms,
              dns_cb cb, void *arg)
{
    switch (type) {
    case DNS_T_A:
    case DNS_T_AAAA:
    case DNS_T_PTR:
    case DNS_T_MX:
    case DNS_T_TXT:
        return start(c, name, type, timeout_ms, cb, arg);
    }
    return -EINVAL;
}

int dns_reverse_name(const struct sockaddr *addr, const char *zone, char *buf, size_t size)
{
    char tmp[80];
    size_t used = 0;
    if (addr->sa_family == AF_INET) {
        const unsigned char *b = (const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr;
        used = (size_t)snprintf(tmp, sizeof(tmp), "%u.%u.%u.%u", b[3], b[2], b[1], b[0]);
    } else if (addr->sa_family == AF_INET6) {
        const unsigned char *b =
            (const unsigned char *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
        static const char hex[] = "0123456789abcdef";
        for (int i = 15; i >= 0; i--) {
            tmp[used++] = hex[b[i] & 15];
            tmp[used++] = '.';
            tmp[used++] = hex[b[i] >> 4];
            tmp[used++] = i ? '.' : 0;
        }
        used--;
    } else {
        return -EINVAL;
    }
    const char *suffix = zone ? zone : addr->sa_family == AF_INET ? "in-addr.arpa" : "ip6.arpa";
    if (!*suffix)
        return -EINVAL;
    int n = snprintf(buf, size, "%.*s.%s", (int)used, tmp, suffix);
    if (n < 0 || (size_t)n >= size || n > 254)
        return -ENAMETOOLONG;
    return n;
}

int dns_query_ptr(struct dns_ctx *c, const struct sockaddr *addr, unsigned timeout_ms, dns_cb cb,
                  void *arg)
{
    char name[DNS_NAME_MAX + 1];
    int n = dns_reverse_name(addr, NULL, name, sizeof(name));
    return n < 0 ? n : start(c, name, DNS_T_PTR, timeout_ms, cb, arg);
}

int dns_query_dnsbl(struct dns_ctx *c, const struct sockaddr *addr, const char *zone,
                    unsigned timeout_ms, dns_cb cb, void *arg)
{
    char name[DNS_NAME_MAX + 1];
    int n = dns_reverse_name(addr, zone, name, sizeof(name));
    return n < 0 ? n : start(c, name, DNS_T_A, timeout_ms, cb, arg);
}

int dns_query_rhsbl(struct dns_ctx *c, const char *domain, const char *zone, unsigned timeout_ms,
                    dns_cb cb, void *arg)
{
    char name[DNS_NAME_MAX + 1];
    size_t dl = strlen(domain);
    if (dl && domain[dl - 1] == '.')
        dl--; /* "example.com." + zone: one dot between them */
    int n = snprintf(name, sizeof(name), "%.*s.%s", (int)dl, domain, zone);
    if (dl == 0 || !*zone || n < 0 || (size_t)n >= sizeof(name))
        return -EINVAL;
    return start(c, name, DNS_T_A, timeout_ms, cb, arg);
}

/* The C library's "files" source first, as Postfix's getnameinfo() and
 * getaddrinfo() see it: an address in the hosts file gets its name from
 * there, and a name listed there is confirmed from there, without a query.
 * The answer is stashed, so it reaches the callback from dns_timeout(),
 * never from inside dns_client(). Returns 1 when the slot is taken care of
 * (answered, or its forward lookup submitted). */
static int client_from_hosts(struct dns_ctx *c, struct dns_slot *s)
{
    if (!c->hosts_file)
        return 0;
    uint64_t now = now_ms();
    if (!c->hosts_text || now - c->hosts_read_ms >= 1000) {
        char *fresh;
        if (hosts_file_read(c->hosts_file, &fresh) == 0) {
            free(c->hosts_text);
            c->hosts_text = fresh;
        }
        c->hosts_read_ms = now;
    }
    const char *text = c->hosts_text ? c->hosts_text : "";
    const struct sockaddr *sa = (const struct sockaddr *)&s->caddr;
    int found = hosts_file_name(text, sa, s->name, sizeof(s->name)) == 1 &&
                hostname_valid(s->name, strlen(s->name));
    int fwd = found ? hosts_file_confirms(text, s->name, sa) : -1;
    if (!found)
        return 0;
    if (fwd < 0) { /* the name is not in the file: its addresses come from DNS */
        s->kind = SLOT_CLIENT_FWD;
        submit(s, s->name, s->caddr.ss_family == AF_INET ? DNS_T_A : DNS_T_AAAA, s->timeout_ms);
        return 1;
    }
    s->local = 1;
    s->stash_status = fwd ? DNS_CLIENT_OK : DNS_CLIENT_FORGED;
    s->stashed = 1;
    c->nstashed++;
    return 1;
}

int dns_client(struct dns_ctx *c, const struct sockaddr *addr, unsigned timeout_ms,
               dns_client_cb cb, void *arg)
{
    struct sockaddr_storage ca;
    memset(&ca, 0, sizeof(ca));
    if (addr->sa_family == AF_INET) {
        memcpy(&ca, addr, sizeof(struct sockaddr_in));
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)addr;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            /* ::ffff:a.b.c.d is the IPv4 client a.b.c.d, as Postfix sees it. */
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ca;
            s4->sin_family = AF_INET;
            memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
        } else {
            memcpy(&ca, addr, sizeof(struct sockaddr_in6));
        }
    } else {
        return -EINVAL;
    }
    char name[DNS_NAME_MAX + 1];
    int n = dns_reverse_name((const struct sockaddr *)&ca, NULL, name, sizeof(name));
    if (n < 0)
        return n;
    struct dns_slot *s = slot_get(c);
    if (!s)
        return -EAGAIN;
    s->kind = SLOT_CLIENT_PTR;
    s->ccb = cb;
    s->arg = arg;
    s->caddr = ca;
    s->timeout_ms = timeout_ms ? timeout_ms : c->timeout_ms;
    if (client_from_hosts(c, s))
        return 0;
    submit(s, name, DNS_T_PTR, s->timeout_ms);
    return 0;
}

int dns_servers_join(const char *const *v, size_t n, char *buf, size_t size)
{
    size_t off = 0;
    if (size == 0)
        return -ENAMETOOLONG;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(buf + off, size - off, "%s%s", off ? "," : "", v[i]);
        if (k < 0 || (size_t)k >= size - off)
            return -ENAMETOOLONG;
        off += (size_t)k;
    }
    return 0;
}
