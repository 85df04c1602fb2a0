/*
 * dnsbl_drive.c - score clients against postscreen_dnsbl_sites through
 * lib/dnsbl_score.c and lib/dns.c, driven by poll(), and print one JSON
 * line per client (in the order given) for test_dnsbl_score.py.
 *
 *   dnsbl_drive -s SERVERS -l SITES [-t TIMEOUT_MS] [-g GREET_MS]
 *               [-m MIN_TTL] [-M MAX_TTL] ADDR...
 *
 * Every ADDR is started at once (the same address twice shares the
 * queries). Without -g each line is the callback's result; with -g, the
 * requests still running after GREET_MS are read with dnsbl_score_get()
 * (partial, as the frontend does when postscreen_greet_wait ends) and
 * released. Exit 2 on a usage or start error, or after 60 s.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "dnsbl_score.h"
#include "dns_drive.h"

struct client {
    const char *addr;
    struct dnsbl_score_req req;
    int done;
    char line[1024];
};

static struct timespec t0;
static int pending;

static long elapsed_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L;
}

static void report(struct client *c, const struct dnsbl_score_result *r, int partial)
{
    snprintf(c->line, sizeof(c->line),
             "{\"addr\":\"%s\",\"score\":%d,\"name\":\"%s\",\"ttl\":%u,\"queried\":%u,"
             "\"answered\":%u,\"listed\":%u,\"failed\":%u,\"complete\":%s,\"partial\":%s,"
             "\"ms\":%ld}",
             c->addr, r->score, r->name ? r->name : "", r->ttl, r->queried, r->answered,
             r->listed, r->failed, r->complete ? "true" : "false", partial ? "true" : "false",
             elapsed_ms());
    c->done = 1;
    pending--;
}

static void on_done(void *arg, const struct dnsbl_score_result *r)
{
    report(arg, r, 0);
}

int main(int argc, char **argv)
{
    struct dns_opts dopts;
    struct dnsbl_score_opts sopts = {.min_ttl = 60, .max_ttl = 3600};
    const char *list = NULL;
    long greet = -1;
    int opt;
    memset(&dopts, 0, sizeof(dopts));
    while ((opt = getopt(argc, argv, "s:l:t:g:m:M:")) != -1) {
        switch (opt) {
        case 's': dopts.servers = optarg; break;
        case 'l': list = optarg; break;
        case 't': sopts.timeout_ms = (unsigned)atoi(optarg); break;
        case 'g': greet = atol(optarg); break;
        case 'm': sopts.min_ttl = (uint32_t)atol(optarg); break;
        case 'M': sopts.max_ttl = (uint32_t)atol(optarg); break;
        default:
            fprintf(stderr, "usage: dnsbl_drive -s servers -l sites [-t ms] [-g ms] [-m s] "
                            "[-M s] ADDR...\n");
            return 2;
        }
    }
    if (!list)
        return 2;
    static struct dnsbl_sites sites;
    struct dnsbl_sites_err err;
    if (dnsbl_sites_parse(list, strlen(list), &sites, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    dopts.hosts_file = "";
    struct dns_ctx *dns;
    int rc = dns_open(&dopts, &dns);
    if (rc) {
        fprintf(stderr, "dns_open: %s\n", strerror(-rc));
        return 2;
    }
    struct dnsbl_score *s;
    if ((rc = dnsbl_score_open(&sites, dns, &sopts, &s)) != 0) {
        fprintf(stderr, "dnsbl_score_open: %s\n", strerror(-rc));
        return 2;
    }
    int n = argc - optind;
    struct client *cl = calloc((size_t)(n ? n : 1), sizeof(*cl));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        struct sockaddr_storage ss;
        cl[i].addr = argv[optind + i];
        if (dns_drive_parse_addr(cl[i].addr, &ss) != 0) {
            fprintf(stderr, "bad address %s\n", cl[i].addr);
            return 2;
        }
        pending++;
        rc = dnsbl_score_start(s, (struct sockaddr *)&ss, &cl[i].req, on_done, &cl[i]);
        if (rc != 0) {
            fprintf(stderr, "start %s: %s\n", cl[i].addr, strerror(-rc));
            return 2;
        }
    }
    while (pending > 0 && elapsed_ms() < 60000) {
        if (greet >= 0 && elapsed_ms() >= greet) {
            for (int i = 0; i < n; i++) {
                if (cl[i].done)
                    continue;
                struct dnsbl_score_result r;
                dnsbl_score_get(s, &cl[i].req, &r);
                report(&cl[i], &r, 1);
                dnsbl_score_release(s, &cl[i].req);
            }
            break;
        }
        /* 100 ms: also the greet wait's resolution */
        if (dns_drive_step(dns, 100) != 0) {
            perror("poll");
            return 2;
        }
    }
    for (int i = 0; i < n; i++) {
        printf("%s\n", cl[i].line[0] ? cl[i].line : "{\"error\":\"no result\"}");
        dnsbl_score_release(s, &cl[i].req);
    }
    printf("{\"active\":%u}\n", dnsbl_score_active(s));
    rc = pending > 0 ? 2 : 0;
    dnsbl_score_close(s);
    dns_close(dns);
    free(cl);
    return rc;
}
