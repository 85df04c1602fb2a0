/*
 * dns_probe.c - run DNS lookups through lib/dns.c, driven by poll(), and
 * print one JSON line per query (in the order given) for test_dns.py.
 *
 *   dns_probe [-s SERVERS] [-t TIMEOUT_MS] [-m MAX_INFLIGHT] [-r TRY_MS] QUERY...
 *
 * QUERY is KIND/ARG[/ZONE]: a/NAME aaaa/NAME mx/NAME txt/NAME ptr/ADDR
 * client/ADDR dnsbl/ADDR/ZONE rhsbl/DOMAIN/ZONE. All are started at once
 * (a query refused at start prints {"error": -errno}); the loop ends when
 * every callback has run, or after 60 s (exit 2). The output also carries
 * how long each query took ("ms") and the most queries in flight seen.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "dns_drive.h"

struct probe {
    const char *q;
    int done;
    int error;
    long ms;
    char line[8192];
};

static struct timespec t0;
static int pending;

static long elapsed_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L;
}

/* JSON string body: names and TXT from our own test zones, but escape
 * anyway so a surprise cannot break the parser on the other side. */
static size_t json_str(char *out, size_t size, const char *s, size_t n)
{
    size_t used = 0;
    for (size_t i = 0; i < n && used + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            used += (size_t)snprintf(out + used, size - used, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            used += (size_t)snprintf(out + used, size - used, "\\u%04x", c);
        else
            out[used++] = (char)c;
    }
    out[used] = 0;
    return used;
}

static void on_result(void *arg, const struct dns_result *r)
{
    struct probe *p = arg;
    char ans[6000];
    size_t used = 0;
    ans[0] = 0;
    for (unsigned i = 0; i < r->count && used + 600 < sizeof(ans); i++) {
        char buf[INET6_ADDRSTRLEN], esc[1100];
        const char *sep = i ? "," : "";
        switch (r->type) {
        case DNS_T_A:
            inet_ntop(AF_INET, &r->u.a[i], buf, sizeof(buf));
            used += (size_t)snprintf(ans + used, sizeof(ans) - used, "%s\"%s\"", sep, buf);
            break;
        case DNS_T_AAAA:
            inet_ntop(AF_INET6, &r->u.aaaa[i], buf, sizeof(buf));
            used += (size_t)snprintf(ans + used, sizeof(ans) - used, "%s\"%s\"", sep, buf);
            break;
        case DNS_T_PTR:
            json_str(esc, sizeof(esc), r->u.ptr[i], strlen(r->u.ptr[i]));
            used += (size_t)snprintf(ans + used, sizeof(ans) - used, "%s\"%s\"", sep, esc);
            break;
        case DNS_T_MX:
            json_str(esc, sizeof(esc), r->u.mx[i].host, strlen(r->u.mx[i].host));
            used += (size_t)snprintf(ans + used, sizeof(ans) - used, "%s[%u,\"%s\"]", sep,
                                     r->u.mx[i].pref, esc);
            break;
        case DNS_T_TXT:
            json_str(esc, sizeof(esc), r->u.txt.buf + r->u.txt.off[i],
                     r->u.txt.len[i] < 250 ? r->u.txt.len[i] : 250);
            used += (size_t)snprintf(ans + used, sizeof(ans) - used, "%s\"%s\"", sep, esc);
            break;
        }
    }
    p->ms = elapsed_ms();
    snprintf(p->line, sizeof(p->line),
             "{\"q\":\"%s\",\"status\":\"%s\",\"ttl\":%u,\"answers\":[%s],\"ms\":%ld}", p->q,
             dns_status_str(r->status), r->ttl, ans, p->ms);
    if (p->done++)
        snprintf(p->line, sizeof(p->line), "{\"q\":\"%s\",\"error\":\"called twice\"}", p->q);
    pending--;
}

static void on_client(void *arg, const struct dns_client_result *r)
{
    struct probe *p = arg;
    char esc[1100];
    json_str(esc, sizeof(esc), r->name, strlen(r->name));
    p->ms = elapsed_ms();
    snprintf(p->line, sizeof(p->line),
             "{\"q\":\"%s\",\"status\":\"%s\",\"name\":\"%s\",\"ttl\":%u,\"reverse\":%d,"
             "\"namestatus\":%d,\"ms\":%ld}",
             p->q, dns_client_status_str(r->status), esc, r->ttl,
             (int)dns_client_reverse_status(r->status), (int)dns_client_name_status(r->status),
             p->ms);
    if (p->done++)
        snprintf(p->line, sizeof(p->line), "{\"q\":\"%s\",\"error\":\"called twice\"}", p->q);
    pending--;
}

static int start(struct dns_ctx *ctx, struct probe *p, unsigned timeout_ms)
{
    char buf[600];
    snprintf(buf, sizeof(buf), "%s", p->q);
    char *kind = buf, *arg = strchr(buf, '/'), *zone = NULL;
    if (!arg)
        return -EINVAL;
    *arg++ = 0;
    if ((zone = strchr(arg, '/')) != NULL)
        *zone++ = 0;
    struct sockaddr_storage ss;
    if (!strcmp(kind, "a"))
        return dns_query(ctx, arg, DNS_T_A, timeout_ms, on_result, p);
    if (!strcmp(kind, "aaaa"))
        return dns_query(ctx, arg, DNS_T_AAAA, timeout_ms, on_result, p);
    if (!strcmp(kind, "mx"))
        return dns_query(ctx, arg, DNS_T_MX, timeout_ms, on_result, p);
    if (!strcmp(kind, "txt"))
        return dns_query(ctx, arg, DNS_T_TXT, timeout_ms, on_result, p);
    if (!strcmp(kind, "rhsbl") && zone)
        return dns_query_rhsbl(ctx, arg, zone, timeout_ms, on_result, p);
    if (dns_drive_parse_addr(arg, &ss) != 0)
        return -EINVAL;
    if (!strcmp(kind, "ptr"))
        return dns_query_ptr(ctx, (struct sockaddr *)&ss, timeout_ms, on_result, p);
    if (!strcmp(kind, "client"))
        return dns_client(ctx, (struct sockaddr *)&ss, timeout_ms, on_client, p);
    if (!strcmp(kind, "dnsbl") && zone)
        return dns_query_dnsbl(ctx, (struct sockaddr *)&ss, zone, timeout_ms, on_result, p);
    return -EINVAL;
}

int main(int argc, char **argv)
{
    struct dns_opts o;
    memset(&o, 0, sizeof(o));
    unsigned timeout_ms = 0;
    int opt;
    while ((opt = getopt(argc, argv, "s:t:m:r:")) != -1) {
        switch (opt) {
        case 's':
            o.servers = optarg;
            break;
        case 't':
            timeout_ms = (unsigned)atoi(optarg);
            break;
        case 'm':
            o.max_inflight = (unsigned)atoi(optarg);
            break;
        case 'r':
            o.try_ms = (unsigned)atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: dns_probe [-s servers] [-t ms] [-m max] [-r try_ms] Q...\n");
            return 2;
        }
    }
    o.timeout_ms = timeout_ms;
    struct dns_ctx *ctx;
    int err = dns_open(&o, &ctx);
    if (err) {
        fprintf(stderr, "dns_open: %s\n", strerror(-err));
        return 2;
    }
    int n = argc - optind;
    struct probe *pr = calloc((size_t)(n ? n : 1), sizeof(*pr));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned max_inflight = 0;
    for (int i = 0; i < n; i++) {
        pr[i].q = argv[optind + i];
        pending++;
        if ((err = start(ctx, &pr[i], 0)) != 0) {
            pending--;
            pr[i].error = err;
            snprintf(pr[i].line, sizeof(pr[i].line), "{\"q\":\"%s\",\"error\":%d}", pr[i].q,
                     err);
        }
        if (dns_inflight(ctx) > max_inflight)
            max_inflight = dns_inflight(ctx);
    }
    while (pending > 0 && elapsed_ms() < 60000) {
        if (dns_drive_step(ctx, 1000) != 0) {
            perror("poll");
            return 2;
        }
    }
    for (int i = 0; i < n; i++)
        printf("%s\n", pr[i].line[0] ? pr[i].line : "{\"error\":\"no answer\"}");
    printf("{\"max_inflight\":%u,\"left_inflight\":%u}\n", max_inflight, dns_inflight(ctx));
    int rc = pending > 0 ? 2 : 0;
    dns_close(ctx);
    free(pr);
    return rc;
}
