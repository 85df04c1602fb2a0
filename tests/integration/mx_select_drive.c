/*
 * mx_select_drive.c - run lib/mx_select.h lookups against a DNS server,
 * driven by poll(), and print one JSON line per domain (in the order
 * given) for test_mx_select.py.
 *
 *   mx_select_drive -s SERVERS [-S SELF_IP,...] [-P PROXY_IP,...] [-4|-6]
 *                   [-r SEED] [-l ADDRESS_LIMIT] [-x] [-t TIMEOUT_MS] DOMAIN...
 *
 * -r randomizes equal preferences with SEED (else DNS order is kept), -x is
 * a [host] next hop (no MX lookup). Output: {"d", "outcome" (ok, temp,
 * perm), "status", "why", "self", "implicit", "c": [[pref, host, ip]...]}.
 * All lookups start at once; after 60 s the driver gives up (exit 2).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mx_select.h"
#include "dns_drive.h"

struct job {
    const char *domain;
    char line[8192];
};

static int pending;

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void on_done(void *arg, const struct mx_result *r)
{
    struct job *j = arg;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    static const char *const oc[] = {"ok", "temp", "perm"};
    fprintf(f, "{\"d\":");
    json_str(f, j->domain);
    fprintf(f, ",\"outcome\":\"%s\",\"status\":", oc[r->outcome]);
    json_str(f, r->status);
    fprintf(f, ",\"why\":");
    json_str(f, r->why);
    fprintf(f, ",\"self\":%s,\"implicit\":%s,\"c\":[", r->found_myself ? "true" : "false",
            r->implicit_mx ? "true" : "false");
    for (size_t i = 0; i < r->n; i++) {
        char ip[INET6_ADDRSTRLEN];
        const struct sockaddr_storage *s = &r->c[i].addr;
        if (s->ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)s)->sin6_addr, ip, sizeof(ip));
        else
            inet_ntop(AF_INET, &((const struct sockaddr_in *)s)->sin_addr, ip, sizeof(ip));
        fprintf(f, "%s[%u,", i ? "," : "", r->c[i].pref);
        json_str(f, r->c[i].host);
        fputc(',', f);
        json_str(f, ip);
        fputc(']', f);
    }
    fprintf(f, "]}");
    fclose(f);
    snprintf(j->line, sizeof(j->line), "%s", buf);
    free(buf);
    pending--;
}

static size_t parse_addrs(char *list, struct sockaddr_storage *out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(list, ","); tok && n < max; tok = strtok(NULL, ",")) {
        memset(&out[n], 0, sizeof(out[n]));
        struct sockaddr_in *s4 = (struct sockaddr_in *)&out[n];
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[n];
        if (inet_pton(AF_INET, tok, &s4->sin_addr) == 1)
            s4->sin_family = AF_INET;
        else if (inet_pton(AF_INET6, tok, &s6->sin6_addr) == 1)
            s6->sin6_family = AF_INET6;
        else
            continue;
        n++;
    }
    return n;
}

int main(int argc, char **argv)
{
    struct dns_opts dopts = {0};
    struct mx_opts o = {.want_ipv4 = true, .want_ipv6 = true, .balance = true,
                        .address_limit = 5, .session_limit = 2};
    struct sockaddr_storage self[8], proxy[8];
    struct mx_self me = {self, 0, proxy, 0};
    int c;
    dopts.hosts_file = "";
    while ((c = getopt(argc, argv, "s:S:P:46r:l:xt:")) != -1) {
        switch (c) {
        case 's':
            dopts.servers = optarg;
            break;
        case 'S':
            me.naddrs = parse_addrs(optarg, self, 8);
            break;
        case 'P':
            me.nproxy = parse_addrs(optarg, proxy, 8);
            break;
        case '4':
            o.want_ipv6 = false;
            break;
        case '6':
            o.want_ipv4 = false;
            break;
        case 'r':
            o.randomize = true;
            o.seed = strtoull(optarg, NULL, 10);
            break;
        case 'l':
            o.address_limit = (unsigned)atoi(optarg);
            break;
        case 'x':
            o.no_mx = true;
            break;
        case 't':
            dopts.timeout_ms = (unsigned)atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: see the file header\n");
            return 2;
        }
    }
    struct dns_ctx *ctx;
    int err = dns_open(&dopts, &ctx);
    if (err) {
        fprintf(stderr, "dns_open: %s\n", strerror(-err));
        return 2;
    }
    int n = argc - optind;
    struct job *jobs = calloc((size_t)(n ? n : 1), sizeof(*jobs));
    for (int i = 0; i < n; i++) {
        jobs[i].domain = argv[optind + i];
        pending++;
        if ((err = mx_lookup_start(ctx, jobs[i].domain, &o, &me, on_done, &jobs[i], NULL)) < 0) {
            pending--;
            snprintf(jobs[i].line, sizeof(jobs[i].line), "{\"d\":\"%s\",\"error\":%d}",
                     jobs[i].domain, err);
        }
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (pending > 0) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 60)
            break;
        if (dns_drive_step(ctx, 1000) != 0) {
            perror("poll");
            return 2;
        }
    }
    for (int i = 0; i < n; i++)
        printf("%s\n", jobs[i].line[0] ? jobs[i].line : "{\"error\":\"no answer\"}");
    int rc = pending > 0 ? 2 : 0;
    dns_close(ctx);
    free(jobs);
    return rc;
}
