/*
 * restrict_probe.c - the restriction engine's RCPT replies for
 * tests/peer/restrict_peer.py.
 *
 *   restrict_probe DIR [DNS_SERVERS] < script
 *
 * Loads DIR/main.cf (config_load), builds the restriction context and
 * compiles smtpd_client/helo/sender/relay/recipient_restrictions. The
 * script on stdin has tab-separated lines:
 *   S NAME STATUS ADDR HELO SENDER   a new session (STATUS ok|perm|temp,
 *                                    HELO empty: none, SENDER empty: <>)
 *   R RECIPIENT                      one RCPT TO in that session
 * For each R line one line is printed: the reply the session sends with
 * smtpd_delay_reject = yes, i.e. Postfix's smtpd_check_rcpt(): the client,
 * HELO and sender lists run again at RCPT time (each answers for itself,
 * carrying defer_if_permit), then the relay and recipient lists, then a
 * pending defer_if_permit turns a permit into its deferral. A reject
 * prints "CODE D.D.D text"; anything else "250 2.1.5 Ok". A list that
 * wants DNS is resumed with the answer of lib/dns (c-ares) asking
 * DNS_SERVERS ("" = the system resolver), waited for with poll(); without
 * DNS_SERVERS it prints "NEED_DNS type name" instead.
 *
 * Exit 0; 2 with "ERROR ..." when the configuration or a list does not
 * load (the peer test reports that as a difference: Postfix took it).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dns.h"
#include "restrict.h"

static struct dns_ctx *dns; /* NULL: report NEED_DNS */

static const char *const list_params[] = {
    "smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
    "smtpd_relay_restrictions", "smtpd_recipient_restrictions",
};
static const enum restrict_stage list_stage[] = {
    RESTRICT_CLIENT, RESTRICT_HELO, RESTRICT_SENDER, RESTRICT_RELAY, RESTRICT_RECIPIENT,
};
#define NLISTS (sizeof(list_params) / sizeof(list_params[0]))

struct session {
    char name[256], addr[64], helo[512], sender[1024], namaddr[400];
    enum dns_name_status status;
    bool has_helo;
    struct restrict_state st;
};

struct pending {
    struct restrict_state *st;
    bool done;
};

/* The answer is valid only during the callback: hand it over at once. */
static void dns_done(void *arg, const struct dns_result *res)
{
    struct pending *p = arg;
    restrict_dns_answer(p->st, res);
    p->done = true;
}

static int resolve_query(struct restrict_state *st)
{
    static const enum dns_type types[] = {0, DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT};
    struct pending p = {st, false};
    int rc = dns_query(dns, st->query.name, types[st->query.type], 0, dns_done, &p);
    if (rc < 0)
        return rc;
    while (!p.done) {
        struct pollfd pfd[16];
        size_t n = dns_fds(dns, pfd, 16);
        int t = dns_next_timeout_ms(dns);
        rc = poll(pfd, n < 16 ? n : 16, t < 0 ? 1000 : t);
        if (rc > 0) {
            for (size_t i = 0; i < n && i < 16; i++)
                if (pfd[i].revents)
                    dns_process(dns, pfd[i].fd, (pfd[i].revents & ~POLLOUT) != 0,
                                (pfd[i].revents & POLLOUT) != 0);
        } else {
            dns_timeout(dns);
        }
    }
    return 0;
}

/* Run one list to its end, answering its DNS queries (or reporting the
 * first one when there is no resolver). */
static enum restrict_result run_list(const struct restrict_ctx *ctx,
                                     const struct restrict_list *l,
                                     const struct restrict_facts *f, struct restrict_state *st,
                                     struct restrict_verdict *v)
{
    enum restrict_result r;
    while ((r = restrict_eval(ctx, l, f, st, v)) == RESTRICT_NEED_DNS) {
        if (!dns || resolve_query(st) < 0) {
            snprintf(v->reply, sizeof(v->reply), "NEED_DNS %d %s", (int)st->query.type,
                     st->query.name);
            return r;
        }
    }
    return r;
}

/* smtpd_check_rcpt() with smtpd_delay_reject = yes. */
static void rcpt(const struct restrict_ctx *ctx, struct restrict_list *const *lists,
                 struct session *s, const char *recipient)
{
    struct restrict_facts f = {
        .name = s->name, .reverse_name = s->name, .addr = s->addr, .namaddr = s->namaddr,
        .name_status = s->status, .reverse_name_status = s->status,
        .helo = s->has_helo ? s->helo : NULL, .sender = s->sender, .recipient = recipient,
    };
    struct restrict_verdict v;
    enum restrict_result r = RESTRICT_DUNNO;

    for (size_t i = 0; i < NLISTS; i++) {
        enum restrict_stage stage = list_stage[i];
        if (stage == RESTRICT_HELO && !f.helo)
            continue; /* smtpd_check_helo() without a HELO: nothing, no flags */
        if (stage == RESTRICT_RECIPIENT && r == RESTRICT_REJECT)
            break;
        restrict_stage_begin(&s->st, stage);
        r = run_list(ctx, lists[i], &f, &s->st, &v);
        if (r == RESTRICT_NEED_DNS) {
            puts(v.reply);
            return;
        }
        if (stage == RESTRICT_RELAY) /* the recipient list follows unless rejected */
            continue;
        r = restrict_stage_end(&s->st, r, &f, &v);
        if (r == RESTRICT_REJECT)
            break;
    }
    if (r == RESTRICT_REJECT)
        puts(v.reply);
    else
        puts("250 2.1.5 Ok");
}

/* Split a tab-separated line in place; returns the number of fields. */
static int split_tabs(char *line, char **fld, int max)
{
    int n = 0;
    fld[n++] = line;
    for (char *p = line; *p && n < max; p++) {
        if (*p == '\t') {
            *p = 0;
            fld[n++] = p + 1;
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: restrict_probe DIR [DNS_SERVERS] < script\n");
        return 1;
    }

    struct config cfg;
    struct cfg_diag diag;
    cfg_diag_init(&diag);
    if (config_load(argv[1], &cfg, &diag) != 0) {
        printf("ERROR config: %s\n", diag.n ? diag.v[0].text : "?");
        for (size_t i = 0; i < diag.n; i++)
            fprintf(stderr, "%s\n", diag.v[i].text);
        cfg_diag_free(&diag);
        return 2;
    }
    struct restrict_ctx *ctx;
    struct restrict_err err;
    struct restrict_list *lists[NLISTS] = {0};
    int rc = 0;
    if (restrict_ctx_create(&cfg, &ctx, &err) != 0) {
        printf("ERROR ctx: %s\n", err.msg);
        config_free(&cfg);
        cfg_diag_free(&diag);
        return 2;
    }
    for (size_t i = 0; i < NLISTS; i++) {
        if (restrict_compile_param(ctx, &cfg, list_params[i], &lists[i], &err) != 0) {
            printf("ERROR compile: %s\n", err.msg);
            rc = 2;
            goto out;
        }
    }

    if (argc == 3) {
        struct dns_opts o = {.servers = argv[2], .timeout_ms = 5000};
        if (dns_open(&o, &dns) < 0) {
            printf("ERROR dns_open\n");
            rc = 2;
            goto out;
        }
    }
    struct session *s = calloc(1, sizeof(*s));
    char line[4096];
    bool have = false;
    while (s && fgets(line, sizeof(line), stdin)) {
        char *fld[8];
        line[strcspn(line, "\r\n")] = 0;
        int n = split_tabs(line, fld, 8);
        if (strcmp(fld[0], "S") == 0 && n == 6) {
            memset(s, 0, sizeof(*s));
            snprintf(s->name, sizeof(s->name), "%s", fld[1]);
            s->status = strcmp(fld[2], "ok") == 0     ? DNS_NAME_OK
                        : strcmp(fld[2], "temp") == 0 ? DNS_NAME_TEMP
                                                      : DNS_NAME_PERM;
            snprintf(s->addr, sizeof(s->addr), "%s", fld[3]);
            snprintf(s->namaddr, sizeof(s->namaddr), "%s[%s]", s->name, s->addr);
            s->has_helo = *fld[4] != 0;
            snprintf(s->helo, sizeof(s->helo), "%s", fld[4]);
            snprintf(s->sender, sizeof(s->sender), "%s", fld[5]);
            have = true;
        } else if (strcmp(fld[0], "R") == 0 && n == 2 && have) {
            rcpt(ctx, lists, s, fld[1]);
        } else {
            printf("ERROR script line: %s\n", fld[0]);
            rc = 2;
            break;
        }
        fflush(stdout);
    }
    free(s);
out:
    for (size_t i = 0; i < NLISTS; i++)
        restrict_list_free(lists[i]);
    restrict_ctx_free(ctx);
    config_free(&cfg);
    cfg_diag_free(&diag);
    if (dns)
        dns_close(dns);
    return rc;
}
