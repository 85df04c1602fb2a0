/* test_restrict.c - the restriction engine: compile errors, every
 * restriction's reply text and code (Postfix 3.7's wording, the same texts
 * tests/peer/restrict_peer.py checks against a running Postfix),
 * access-map results, classes, warn_if_reject, defer_if_permit across
 * stages, and resumable DNS evaluation driven by a fake resolver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "restrict.h"

/* ---- fake resolver ------------------------------------------------------ */

struct fake_rr {
    const char *name;
    enum restrict_qtype type;
    enum dns_status status;
    const char *data; /* A: "a.b.c.d[,a.b.c.d]"; MX: "pref host"; TXT: text */
};

static void fake_answer(const struct fake_rr *zone, const struct restrict_query *q,
                        struct dns_result *res)
{
    static const enum dns_type map[] = {0, DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT};
    memset(res, 0, sizeof(*res));
    res->type = map[q->type];
    res->status = DNS_NXDOMAIN;
    for (; zone && zone->name; zone++) {
        if (strcasecmp(zone->name, q->name) != 0)
            continue;
        res->status = DNS_NODATA;
        if (zone->type != q->type)
            continue;
        res->status = zone->status;
        if (zone->status != DNS_OK)
            return;
        if (q->type == RQ_A) {
            char tmp[256];
            snprintf(tmp, sizeof(tmp), "%s", zone->data);
            for (char *t = strtok(tmp, ","); t; t = strtok(NULL, ","))
                inet_pton(AF_INET, t, &res->u.a[res->count++]);
        } else if (q->type == RQ_MX) {
            sscanf(zone->data, "%u %255s", &res->u.mx[0].pref, res->u.mx[0].host);
            res->count = 1;
        } else if (q->type == RQ_TXT) {
            res->u.txt.off[0] = 0;
            res->u.txt.len[0] = strlen(zone->data);
            memcpy(res->u.txt.buf, zone->data, res->u.txt.len[0] + 1);
            res->count = 1;
        } else {
            res->count = 1;
        }
        return;
    }
}

/* ---- cases ---------------------------------------------------------------- */

struct rcase {
    const char *maincf; /* extra main.cf lines */
    enum restrict_stage stage;
    const char *list;
    const char *name, *addr;
    enum dns_name_status name_status;
    const char *helo, *sender, *rcpt;
    const struct fake_rr *dns;
    enum restrict_result want;
    const char *reply; /* REJECT: the whole reply */
    int queries;       /* DNS suspensions expected (-1: don't care) */
};

static const struct fake_rr zone1[] = {
    {"2.0.0.127.zen.test", RQ_A, DNS_OK, "127.0.0.2"},
    {"2.0.0.127.zen.test", RQ_TXT, DNS_OK, "listed, see http://zen.test/"},
    {"3.0.0.127.zen.test", RQ_A, DNS_OK, "127.0.0.10"},
    {"bad.example.rhs.test", RQ_A, DNS_OK, "127.0.0.2"},
    {"good.example", RQ_MX, DNS_OK, "10 mx.good.example"},
    {"aonly.example", RQ_A, DNS_OK, "192.0.2.1"},
    {"temp.example", RQ_MX, DNS_TEMPFAIL, NULL},
    {"temp.example", RQ_A, DNS_TEMPFAIL, NULL},
    {"temp.example", RQ_AAAA, DNS_TEMPFAIL, NULL},
    {"nullmx.example", RQ_MX, DNS_OK, "0 ."},
    {NULL, RQ_NONE, DNS_OK, NULL},
};

#define CLIENT "mail.example.net", "192.0.2.9", DNS_NAME_OK
#define UNKNOWN "unknown", "192.0.2.9", DNS_NAME_PERM
static const struct rcase cases[] = {
    /* generic */
    {"", RESTRICT_CLIENT, "permit", CLIENT, NULL, NULL, NULL, NULL, RESTRICT_PERMIT, NULL, 0},
    {"", RESTRICT_CLIENT, "reject", CLIENT, NULL, NULL, NULL, NULL, RESTRICT_REJECT,
     "554 5.7.1 <mail.example.net[192.0.2.9]>: Client host rejected: Access denied", 0},
    {"reject_code = 550", RESTRICT_HELO, "reject", CLIENT, "x.test", NULL, NULL, NULL,
     RESTRICT_REJECT, "550 5.7.1 <x.test>: Helo command rejected: Access denied", 0},
    {"", RESTRICT_SENDER, "defer", CLIENT, "x.test", "a@b.test", NULL, NULL, RESTRICT_REJECT,
     "450 4.3.2 <a@b.test>: Sender address rejected: Try again later", 0},
    {"default_rbl_reply = 299 listed", RESTRICT_CLIENT, "reject_rbl_client zen.test", "h.test",
     "127.0.0.2", DNS_NAME_OK, NULL, NULL, NULL, zone1, RESTRICT_REJECT,
     "450 4.7.1 Service unavailable", 2},
    {"", RESTRICT_CLIENT, "warn_if_reject reject", CLIENT, NULL, NULL, NULL, NULL, RESTRICT_DUNNO,
     NULL, 0},
    {"", RESTRICT_CLIENT, "warn_if_reject reject_unknown_client_hostname reject", CLIENT, NULL,
     NULL, NULL, NULL, RESTRICT_REJECT,
     "554 5.7.1 <mail.example.net[192.0.2.9]>: Client host rejected: Access denied", 0},
    /* client name facts */
    {"", RESTRICT_CLIENT, "reject_unknown_client_hostname", UNKNOWN, NULL, NULL, NULL, NULL,
     RESTRICT_REJECT, "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.9]",
     0},
    {"unknown_client_reject_code = 550", RESTRICT_CLIENT, "reject_unknown_client", UNKNOWN, NULL,
     NULL, NULL, NULL, RESTRICT_REJECT,
     "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.9]", 0},
    {"unknown_client_reject_code = 550", RESTRICT_CLIENT, "reject_unknown_client",
     "unknown", "192.0.2.9", DNS_NAME_TEMP, NULL, NULL, NULL, NULL, RESTRICT_REJECT,
     "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.9]", 0},
    {"", RESTRICT_CLIENT, "permit_mynetworks reject", "h", "127.0.0.1", DNS_NAME_OK, NULL, NULL,
     NULL, NULL, RESTRICT_PERMIT, NULL, 0},
    /* access maps */
    {"", RESTRICT_CLIENT, "check_client_access inline:{192.0.2=REJECT}", CLIENT, NULL, NULL, NULL,
     NULL, RESTRICT_REJECT,
     "554 5.7.1 <mail.example.net[192.0.2.9]>: Client host rejected: Access denied", 0},
    {"", RESTRICT_CLIENT, "check_client_access inline:{{example.net=REJECT go away}}", CLIENT,
     NULL, NULL, NULL, NULL, RESTRICT_REJECT,
     "554 5.7.1 <mail.example.net[192.0.2.9]>: Client host rejected: go away", 0},
    {"", RESTRICT_CLIENT, "check_client_access inline:{{192.0.2.9=550 5.1.1 no}}", CLIENT, NULL,
     NULL, NULL, NULL, RESTRICT_REJECT,
     "550 5.0.0 <mail.example.net[192.0.2.9]>: Client host rejected: no", 0},
    {"", RESTRICT_SENDER, "check_sender_access inline:{{a@b.test=550 5.1.1 no}}", CLIENT, "h.test",
     "a@b.test", NULL, NULL, RESTRICT_REJECT,
     "550 5.1.7 <a@b.test>: Sender address rejected: no", 0},
    {"", RESTRICT_RECIPIENT, "check_recipient_access inline:{{b.test=421 4.1.7 later}}", CLIENT,
     "h.test", "a@b.test", "u@b.test", NULL, RESTRICT_REJECT,
     "421 4.1.3 <u@b.test>: Recipient address rejected: later", 0},
    {"access_map_defer_code = 451", RESTRICT_HELO, "check_helo_access inline:{x.test=DEFER}",
     CLIENT, "x.test", NULL, NULL, NULL, RESTRICT_REJECT,
     "451 4.7.1 <x.test>: Helo command rejected: Access denied", 0},
    {"", RESTRICT_HELO, "check_helo_access inline:{x.test=OK} reject", CLIENT, "x.test", NULL,
     NULL, NULL, RESTRICT_PERMIT, NULL, 0},
    {"", RESTRICT_HELO, "check_helo_access inline:{x.test=12345} reject", CLIENT, "x.test", NULL,
     NULL, NULL, RESTRICT_PERMIT, NULL, 0},
    {"", RESTRICT_HELO, "check_helo_access inline:{x.test=DUNNO} reject", CLIENT, "x.test", NULL,
     NULL, NULL, RESTRICT_REJECT, "554 5.7.1 <x.test>: Helo command rejected: Access denied", 0},
    {"", RESTRICT_HELO, "check_helo_access inline:{x.test=bogus_name}", CLIENT, "x.test", NULL,
     NULL, NULL, RESTRICT_REJECT, "451 4.3.5 Server configuration error", 0},
    {"", RESTRICT_HELO, "check_helo_access inline:{x.test=static:x}", CLIENT, "x.test", NULL,
     NULL, NULL, RESTRICT_REJECT, "451 4.3.5 Server configuration error", 0},
    {"", RESTRICT_HELO, "check_helo_access inline:{{x.test=permit_mynetworks, reject}}", CLIENT,
     "x.test", NULL, NULL, NULL, RESTRICT_REJECT,
     "554 5.7.1 <x.test>: Helo command rejected: Access denied", 0},
    {"", RESTRICT_HELO, "inline:{x.test=REJECT}", CLIENT, "x.test", NULL, NULL, NULL,
     RESTRICT_REJECT, "554 5.7.1 <x.test>: Helo command rejected: Access denied", 0},
    {"", RESTRICT_SENDER, "check_sender_access inline:{a@b.test=DISCARD} reject", CLIENT, "h",
     "a@b.test", NULL, NULL, RESTRICT_PERMIT, NULL, 0},
    {"", RESTRICT_SENDER, "check_sender_access inline:{<>=REJECT}", CLIENT, "h", "", NULL, NULL,
     RESTRICT_REJECT, "554 5.7.1 <>: Sender address rejected: Access denied", 0},
    /* restriction classes */
    {"smtpd_restriction_classes = strict\nstrict = reject_non_fqdn_sender, reject",
     RESTRICT_SENDER, "check_sender_access inline:{b.test=strict}", CLIENT, "h", "a@b.test",
     NULL, NULL, RESTRICT_REJECT, "554 5.7.1 <a@b.test>: Sender address rejected: Access denied",
     0},
    {"smtpd_restriction_classes = strict\nstrict = reject_non_fqdn_sender, reject",
     RESTRICT_SENDER, "strict", CLIENT, "h", "a@b", NULL, NULL, RESTRICT_REJECT,
     "504 5.5.2 <a@b>: Sender address rejected: need fully-qualified address", 0},
    /* HELO syntax */
    {"", RESTRICT_HELO, "reject_non_fqdn_helo_hostname", CLIENT, "x", NULL, NULL, NULL,
     RESTRICT_REJECT, "504 5.5.2 <x>: Helo command rejected: need fully-qualified hostname", 0},
    {"", RESTRICT_HELO, "reject_invalid_helo_hostname", CLIENT, "a..b", NULL, NULL, NULL,
     RESTRICT_REJECT, "501 5.5.2 <a..b>: Helo command rejected: Invalid name", 0},
    {"", RESTRICT_HELO, "reject_invalid_helo_hostname", CLIENT, "[1.2.3]", NULL, NULL, NULL,
     RESTRICT_REJECT, "501 5.5.2 <[1.2.3]>: Helo command rejected: invalid ip address", 0},
    {"", RESTRICT_HELO, "reject_invalid_helo_hostname reject_non_fqdn_helo_hostname", CLIENT,
     "ok.test.", NULL, NULL, NULL, RESTRICT_DUNNO, NULL, 0},
    /* relay control */
    {"mydestination = here.test\nrelay_domains = relay.test", RESTRICT_RELAY,
     "permit_mynetworks reject_unauth_destination", CLIENT, "h", "a@b.test", "u@else.test", NULL,
     RESTRICT_REJECT, "554 5.7.1 <u@else.test>: Relay access denied", 0},
    {"mydestination = here.test\nrelay_domains = relay.test", RESTRICT_RELAY,
     "reject_unauth_destination", CLIENT, "h", "a@b.test", "u@RELAY.test", NULL, RESTRICT_DUNNO,
     NULL, 0},
    {"mydestination = here.test\nrelay_domains = relay.test", RESTRICT_RELAY,
     "reject_unauth_destination", CLIENT, "h", "a@b.test", "u%x.test@relay.test", NULL,
     RESTRICT_REJECT, "554 5.7.1 <u%x.test@relay.test>: Relay access denied", 0},
    {"mydestination = here.test\nallow_untrusted_routing = yes\nrelay_domains = relay.test",
     RESTRICT_RELAY, "reject_unauth_destination", CLIENT, "h", "a@b.test", "u%x@relay.test",
     NULL, RESTRICT_DUNNO, NULL, 0},
    {"mydestination = here.test", RESTRICT_RELAY, "defer_unauth_destination", CLIENT, "h",
     "a@b.test", "u@else.test", NULL, RESTRICT_REJECT,
     "454 4.7.1 <u@else.test>: Relay access denied", 0},
    {"mydestination = here.test", RESTRICT_RELAY, "reject_unauth_destination", CLIENT, "h",
     "a@b.test", "u@here.test.", NULL, RESTRICT_DUNNO, NULL, 0},
    {"relay_domains = relay.test\nrelay_recipient_maps = inline:{u@relay.test=x}",
     RESTRICT_RECIPIENT, "reject_unlisted_recipient", CLIENT, "h", "a@b.test", "v@relay.test",
     NULL, RESTRICT_REJECT,
     "550 5.1.1 <v@relay.test>: Recipient address rejected: User unknown in relay recipient table",
     0},
    {"relay_domains = relay.test\nrelay_recipient_maps = inline:{u@relay.test=x}\n"
     "recipient_delimiter = +",
     RESTRICT_RECIPIENT, "reject_unlisted_recipient reject", CLIENT, "h", "a@b.test",
     "u+ext@relay.test", NULL, RESTRICT_REJECT,
     "554 5.7.1 <u+ext@relay.test>: Recipient address rejected: Access denied", 0},
    /* trivial-rewrite's resolve loop (checked by tests/peer/restrict_peer.py):
     * a mydestination domain is stripped and user%site / site!user left
     * over is rewritten, so these are remote, not final */
    {"mydestination = here.test\nallow_untrusted_routing = yes", RESTRICT_RELAY,
     "reject_unauth_destination", CLIENT, "h", "a@b.test", "u%else.test@here.test", NULL,
     RESTRICT_REJECT, "554 5.7.1 <u%else.test@here.test>: Relay access denied", 0},
    {"mydestination = here.test\nallow_untrusted_routing = yes", RESTRICT_RELAY,
     "reject_unauth_destination", CLIENT, "h", "a@b.test", "else.test!u@here.test", NULL,
     RESTRICT_REJECT, "554 5.7.1 <else.test!u@here.test>: Relay access denied", 0},
    {"mydestination = here.test\nrelay_domains = relay.test", RESTRICT_RELAY,
     "reject_unauth_destination", CLIENT, "h", "a@b.test", "u%relay.test@here.test", NULL,
     RESTRICT_DUNNO, NULL, 0},
    {"mydestination = here.test\nallow_percent_hack = no", RESTRICT_RELAY,
     "reject_unauth_destination", CLIENT, "h", "a@b.test", "u%relay.test@here.test", NULL,
     RESTRICT_REJECT, "554 5.7.1 <u%relay.test@here.test>: Relay access denied", 0},
    {"mydestination = here.test", RESTRICT_RECIPIENT,
     "check_recipient_access inline:{{u@else.test=REJECT rewritten}}", CLIENT, "h", "a@b.test",
     "u%else.test@here.test", NULL, RESTRICT_REJECT,
     "554 5.7.1 <u%else.test@here.test>: Recipient address rejected: rewritten", 0},
    {"myorigin = origin.test", RESTRICT_RECIPIENT,
     "check_recipient_access inline:{{bare@origin.test=REJECT qualified}}", CLIENT, "h",
     "a@b.test", "bare", NULL, RESTRICT_REJECT,
     "554 5.7.1 <bare>: Recipient address rejected: qualified", 0},
    /* access-map DEFER_IF_PERMIT / DEFER_IF_REJECT use access_map_defer_code */
    {"access_map_defer_code = 451", RESTRICT_RECIPIENT,
     "check_recipient_access inline:{{u@x.test=DEFER_IF_PERMIT later}} permit", CLIENT, "h",
     "a@b.test", "u@x.test", NULL, RESTRICT_REJECT,
     "451 4.7.1 <u@x.test>: Recipient address rejected: later", 0},
    {"access_map_defer_code = 451", RESTRICT_RECIPIENT,
     "check_recipient_access inline:{u@x.test=DEFER_IF_REJECT} reject", CLIENT, "h", "a@b.test",
     "u@x.test", NULL, RESTRICT_REJECT,
     "451 4.7.1 <u@x.test>: Recipient address rejected: Service unavailable", 0},
    /* DNS, resumed */
    {"", RESTRICT_CLIENT, "reject_rbl_client zen.test", "h.test", "127.0.0.2", DNS_NAME_OK, NULL,
     NULL, NULL, zone1, RESTRICT_REJECT,
     "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using zen.test; "
     "listed, see http://zen.test/", 2},
    {"", RESTRICT_CLIENT, "reject_rbl_client zen.test=127.0.0.[2..9]", "h.test", "127.0.0.3",
     DNS_NAME_OK, NULL, NULL, NULL, zone1, RESTRICT_DUNNO, NULL, 1},
    {"", RESTRICT_CLIENT, "reject_rbl_client zen.test", "h.test", "127.0.0.4", DNS_NAME_OK, NULL,
     NULL, NULL, zone1, RESTRICT_DUNNO, NULL, 1},
    {"default_rbl_reply = $rbl_code 5.7.9 $client_address in $rbl_domain${rbl_reason:!}",
     RESTRICT_CLIENT, "reject_rbl_client zen.test=127.0.0.10", "h.test", "127.0.0.3",
     DNS_NAME_OK, NULL, NULL, NULL, zone1, RESTRICT_REJECT,
     "554 5.7.9 127.0.0.3 in zen.test!", 2},
    {"", RESTRICT_SENDER, "reject_rhsbl_sender rhs.test", CLIENT, "h", "a@bad.example", NULL,
     zone1, RESTRICT_REJECT,
     "554 5.7.1 Service unavailable; Sender address [a@bad.example] blocked using rhs.test", 2},
    {"", RESTRICT_HELO, "reject_unknown_helo_hostname", CLIENT, "aonly.example", NULL, NULL,
     zone1, RESTRICT_DUNNO, NULL, 1},
    {"", RESTRICT_HELO, "reject_unknown_helo_hostname", CLIENT, "none.example", NULL, NULL, zone1,
     RESTRICT_REJECT, "450 4.7.1 <none.example>: Helo command rejected: Host not found", 3},
    /* dns_lookup() refuses what valid_hostname() refuses: not found, no query */
    {"", RESTRICT_HELO, "reject_unknown_helo_hostname", CLIENT, "aonly.example.", NULL, NULL,
     zone1, RESTRICT_REJECT, "450 4.7.1 <aonly.example.>: Helo command rejected: Host not found",
     0},
    {"unknown_hostname_reject_code = 550", RESTRICT_HELO, "reject_unknown_helo_hostname", CLIENT,
     "1.2.3.4", NULL, NULL, zone1, RESTRICT_REJECT,
     "550 5.7.1 <1.2.3.4>: Helo command rejected: Host not found", 0},
    {"", RESTRICT_SENDER, "reject_unknown_sender_domain", CLIENT, "h", "a@x-.example", NULL,
     zone1, RESTRICT_REJECT,
     "450 4.1.8 <a@x-.example>: Sender address rejected: Domain not found", 0},
    {"", RESTRICT_SENDER, "reject_unknown_sender_domain", CLIENT, "h", "a@good.example", NULL,
     zone1, RESTRICT_DUNNO, NULL, 1},
    {"", RESTRICT_SENDER, "reject_unknown_sender_domain", CLIENT, "h", "a@none.example", NULL,
     zone1, RESTRICT_REJECT,
     "450 4.1.8 <a@none.example>: Sender address rejected: Domain not found", 3},
    {"unknown_address_reject_code = 550", RESTRICT_RECIPIENT, "reject_unknown_recipient_domain",
     CLIENT, "h", "a@b.test", "u@none.example", zone1, RESTRICT_REJECT,
     "550 5.1.2 <u@none.example>: Recipient address rejected: Domain not found", 3},
    {"", RESTRICT_RECIPIENT, "reject_unknown_recipient_domain", CLIENT, "h", "a@b.test",
     "u@nullmx.example", zone1, RESTRICT_REJECT,
     "556 5.1.10 <u@nullmx.example>: Recipient address rejected: Domain nullmx.example does not "
     "accept mail (nullMX)", 1},
    /* temporary failure: defer_if_permit, turned into a deferral at the end */
    {"", RESTRICT_RECIPIENT, "reject_unknown_recipient_domain permit", CLIENT, "h", "a@b.test",
     "u@temp.example", zone1, RESTRICT_REJECT,
     "450 4.1.2 <u@temp.example>: Recipient address rejected: Domain not found", 3},
    {"", RESTRICT_RECIPIENT, "reject_unknown_recipient_domain reject", CLIENT, "h", "a@b.test",
     "u@temp.example", zone1, RESTRICT_REJECT,
     "554 5.7.1 <u@temp.example>: Recipient address rejected: Access denied", 3},
    {"", RESTRICT_RECIPIENT, "defer_if_reject reject", CLIENT, "h", "a@b.test", "u@x.test", NULL,
     RESTRICT_REJECT,
     "450 4.7.0 <u@x.test>: Recipient address rejected: defer_if_reject requested", 0},
};

/* A configuration and a restriction context made from it: what every
 * test starts from (main.cf is the lines below plus extra). */
struct world {
    struct config cfg;
    struct cfg_diag d;
    struct restrict_ctx *ctx;
    struct restrict_err err;
};

static void world_open(struct world *w, const char *extra)
{
    char maincf[1024];
    snprintf(maincf, sizeof(maincf), "compatibility_level = 3.6\nmyhostname = mx.test\n%s\n",
             extra);
    cfg_diag_init(&w->d);
    if (config_load_buf("/nonexistent", maincf, strlen(maincf), &w->cfg, &w->d) != 0)
        fail_msg("config: %s", w->d.n ? w->d.v[0].text : "?");
    if (restrict_ctx_create(&w->cfg, &w->ctx, &w->err) != 0)
        fail_msg("ctx: %s", w->err.msg);
}

static struct restrict_list *world_compile(struct world *w, const char *list)
{
    struct restrict_list *l;
    if (restrict_compile(w->ctx, "test_restrictions", list, strlen(list), &l, &w->err) != 0)
        fail_msg("compile %s: %s", list, w->err.msg);
    return l;
}

static void world_close(struct world *w)
{
    restrict_ctx_free(w->ctx);
    config_free(&w->cfg);
    cfg_diag_free(&w->d);
}

/* The client of the stage tests: h[192.0.2.1], HELO h.test. */
static struct restrict_facts client_facts(const char *sender, const char *rcpt)
{
    return (struct restrict_facts){.name = "h", .reverse_name = "h", .addr = "192.0.2.1",
                                   .namaddr = "h[192.0.2.1]", .helo = "h.test",
                                   .sender = sender, .recipient = rcpt};
}

static void run_case(size_t i, const struct rcase *c)
{
    struct world w;
    char extra[1024];
    snprintf(extra, sizeof(extra), "mynetworks = 127.0.0.0/8\n%s", c->maincf);
    world_open(&w, extra);
    struct restrict_ctx *ctx = w.ctx;
    struct restrict_list *l = world_compile(&w, c->list);

    char namaddr[300];
    snprintf(namaddr, sizeof(namaddr), "%s[%s]", c->name, c->addr);
    struct restrict_facts f = {
        .name = c->name, .reverse_name = c->name, .addr = c->addr, .namaddr = namaddr,
        .name_status = c->name_status, .reverse_name_status = c->name_status,
        .helo = c->helo, .sender = c->sender, .recipient = c->rcpt, .esmtp = true,
    };
    struct restrict_state *st = calloc(1, sizeof(*st));
    struct restrict_verdict v;
    int queries = 0;
    restrict_stage_begin(st, c->stage);
    enum restrict_result r;
    while ((r = restrict_eval(ctx, l, &f, st, &v)) == RESTRICT_NEED_DNS) {
        struct dns_result res;
        fake_answer(c->dns, &st->query, &res);
        restrict_dns_answer(st, &res);
        if (++queries > 10)
            fail_msg("case %zu: endless DNS", i);
    }
    r = restrict_stage_end(st, r, &f, &v);
    if (r != c->want)
        fail_msg("case %zu (%s): result %d want %d (%s)", i, c->list, r, c->want, v.reply);
    if (c->reply && strcmp(v.reply, c->reply) != 0)
        fail_msg("case %zu (%s):\n got  %s\n want %s", i, c->list, v.reply, c->reply);
    if (c->queries >= 0 && queries != c->queries)
        fail_msg("case %zu (%s): %d DNS queries, want %d", i, c->list, queries, c->queries);
    free(st);
    restrict_list_free(l);
    world_close(&w);
}

static void table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(i, &cases[i]);
}

/* Lists that must not compile, and the parameter named in the error. */
static void compile_errors(void **state)
{
    (void)state;
    static const struct { const char *list, *needle; } bad[] = {
        {"permit_mynetwork", "smtpd_client_restrictions: unknown restriction: \"permit_mynetwork\""},
        {"check_client_access", "needs maptype:mapname"},
        {"check_client_access permit", "need maptype:mapname"},
        {"reject_rbl_client", "needs a domain name argument"},
        {"reject_rbl_client bad..zone", "bad argument"},
        {"reject_rbl_client zen.test=127.0.0.300", "bad argument"},
        {"check_helo_access nosuchtype:/x", "smtpd_client_restrictions"},
    };
    struct world w;
    world_open(&w, "mynetworks = 127.0.0.0/8");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct restrict_list *l = (void *)1;
        int rc = restrict_compile(w.ctx, "smtpd_client_restrictions", bad[i].list,
                                  strlen(bad[i].list), &l, &w.err);
        if (rc == 0 || l != NULL)
            fail_msg("case %zu: %s compiled", i, bad[i].list);
        if (!strstr(w.err.msg, bad[i].needle))
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, w.err.msg, bad[i].needle);
    }
    world_close(&w);
}

/* defer_if_permit raised at the client stage survives into RCPT and turns
 * its permit into a deferral (smtpd_check_rcpt), unless RCPT rejects. */
static void defer_if_permit_across_stages(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "mynetworks = 127.0.0.0/8");
    struct restrict_ctx *ctx = w.ctx;
    struct restrict_list *cl = world_compile(&w, "defer_if_permit");
    struct restrict_list *rl = world_compile(&w, "permit");
    struct restrict_facts f = client_facts("a@b.test", "u@c.test");
    struct restrict_state *st = calloc(1, sizeof(*st));
    struct restrict_verdict v;
    restrict_stage_begin(st, RESTRICT_CLIENT);
    enum restrict_result r = restrict_eval(ctx, cl, &f, st, &v);
    assert_int_equal(restrict_stage_end(st, r, &f, &v), RESTRICT_DUNNO);
    restrict_stage_begin(st, RESTRICT_HELO);
    assert_int_equal(restrict_stage_end(st, RESTRICT_DUNNO, &f, &v), RESTRICT_DUNNO);
    restrict_stage_begin(st, RESTRICT_SENDER);
    assert_int_equal(restrict_stage_end(st, RESTRICT_DUNNO, &f, &v), RESTRICT_DUNNO);
    restrict_stage_begin(st, RESTRICT_RECIPIENT);
    r = restrict_eval(ctx, rl, &f, st, &v);
    assert_int_equal(restrict_stage_end(st, r, &f, &v), RESTRICT_REJECT);
    assert_string_equal(v.reply, "450 4.7.0 <h[192.0.2.1]>: Client host rejected: "
                                 "defer_if_permit requested");
    free(st);
    restrict_list_free(cl);
    restrict_list_free(rl);
    world_close(&w);
}

static void dsn_helpers(void **state)
{
    (void)state;
    static const struct { const char *text; size_t want; } lens[] = {
        {"5.7.1 x", 5}, {"4.123.456", 9}, {"5.7.1x", 0}, {"6.7.1", 0}, {"5.1234.1", 0},
        {"5..1", 0},
    };
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        if (restrict_dsn_len(lens[i].text) != lens[i].want)
            fail_msg("restrict_dsn_len(\"%s\") = %zu, want %zu", lens[i].text,
                     restrict_dsn_len(lens[i].text), lens[i].want);
    /* smtpd_dsn_fix.c, each row checked against Postfix 3.7 */
    static const struct {
        const char *in;
        enum restrict_stage stage;
        const char *want;
    } fixes[] = {
        {"5.1.1", RESTRICT_SENDER, "5.1.7"},
        {"5.1.8", RESTRICT_RECIPIENT, "5.1.2"},
        {"4.1.2", RESTRICT_HELO, "4.0.0"},
        {"5.7.1", RESTRICT_HELO, "5.7.1"},
        /* the default row: X.1.0 for a sender as for a recipient */
        {"5.1.0", RESTRICT_SENDER, "5.1.0"},
        {"4.1.9", RESTRICT_SENDER, "4.1.0"},
    };
    for (size_t i = 0; i < sizeof(fixes) / sizeof(fixes[0]); i++) {
        char d[16];
        snprintf(d, sizeof(d), "%s", fixes[i].in);
        restrict_dsn_fix(d, fixes[i].stage);
        if (strcmp(d, fixes[i].want) != 0)
            fail_msg("restrict_dsn_fix(%s, stage %d) = %s, want %s", fixes[i].in,
                     (int)fixes[i].stage, d, fixes[i].want);
    }
}

/* A transport for the unlisted checks: *.err is error:, *.retry retry:. */
static int fake_transport(void *arg, const char *addr, char *text, size_t size)
{
    (void)arg;
    size_t n = strlen(addr);
    if (n > 4 && strcmp(addr + n - 4, ".err") == 0) {
        snprintf(text, size, "%s", "4.2.0 gone away");
        return RESTRICT_TRANSPORT_ERROR;
    }
    if (n > 6 && strcmp(addr + n - 6, ".retry") == 0) {
        text[0] = 0;
        return RESTRICT_TRANSPORT_RETRY;
    }
    if (n > 5 && strcmp(addr + n - 5, ".fail") == 0)
        return -EAGAIN;
    return 0;
}

/* smtpd_reject_unlisted_sender/_recipient after the lists (smtpd_check_mail
 * and smtpd_check_rcpt), with the replies Postfix 3.7.11 gave
 * (tests/integration/test_daemon_unlisted.py, test_daemon_transport_proxy.py). */
static void unlisted_implicit(void **state)
{
    (void)state;
    struct world w;
    world_open(&w, "relay_domains = r.test, x.err, x.retry, x.fail\n"
                   "relay_recipient_maps = inline:{known@r.test=ok}\n"
                   "smtpd_reject_unlisted_sender = yes");
    struct restrict_ctx *ctx = w.ctx;
    restrict_ctx_set_transport(ctx, fake_transport, NULL);
    struct restrict_list *permit = world_compile(&w, "permit");
    struct restrict_list *explicit = world_compile(&w, "reject_unlisted_recipient, permit");
    static const struct {
        enum restrict_stage stage;
        const char *sender, *rcpt;
        int explicit_list; /* the list ran the explicit check first */
        enum restrict_result want;
        const char *reply;
    } ucases[] = {
        {RESTRICT_RECIPIENT, "s@a.test", "nobody@r.test", 0, RESTRICT_REJECT,
         "550 5.1.1 <nobody@r.test>: Recipient address rejected: User unknown in relay "
         "recipient table"},
        {RESTRICT_RECIPIENT, "s@a.test", "known@r.test", 0, RESTRICT_PERMIT, ""},
        {RESTRICT_RECIPIENT, "s@a.test", "u@elsewhere.test", 0, RESTRICT_PERMIT, ""},
        {RESTRICT_RECIPIENT, "s@a.test", "u@x.err", 0, RESTRICT_REJECT,
         "550 5.2.0 <u@x.err>: Recipient address rejected: gone away"},
        {RESTRICT_RECIPIENT, "s@a.test", "u@x.retry", 0, RESTRICT_REJECT,
         "450 4.1.1 <u@x.retry>: Recipient address rejected: Address is undeliverable"},
        {RESTRICT_RECIPIENT, "s@a.test", "u@x.fail", 0, RESTRICT_REJECT,
         "451 4.3.0 <u@x.fail>: Temporary lookup failure"},
        {RESTRICT_RECIPIENT, "s@a.test", "nobody@r.test", 1, RESTRICT_REJECT,
         "550 5.1.1 <nobody@r.test>: Recipient address rejected: User unknown in relay "
         "recipient table"},
        {RESTRICT_SENDER, "nobody@r.test", NULL, 0, RESTRICT_REJECT,
         "550 5.1.0 <nobody@r.test>: Sender address rejected: User unknown in relay "
         "recipient table"},
        {RESTRICT_SENDER, "s@x.err", NULL, 0, RESTRICT_REJECT,
         "550 5.2.0 <s@x.err>: Sender address rejected: gone away"},
        {RESTRICT_SENDER, "", NULL, 0, RESTRICT_PERMIT, ""},
        {RESTRICT_SENDER, "known@r.test", NULL, 0, RESTRICT_PERMIT, ""},
    };
    for (size_t i = 0; i < sizeof(ucases) / sizeof(ucases[0]); i++) {
        struct restrict_facts f = client_facts(ucases[i].sender, ucases[i].rcpt);
        struct restrict_state *st = calloc(1, sizeof(*st));
        struct restrict_verdict v;
        restrict_stage_begin(st, ucases[i].stage);
        enum restrict_result r =
            restrict_eval(ctx, ucases[i].explicit_list ? explicit : permit, &f, st, &v);
        r = restrict_stage_end(st, r, &f, &v);
        r = restrict_stage_unlisted(ctx, &f, st, r, &v);
        if (r != ucases[i].want)
            fail_msg("case %zu: result %d, want %d (%s)", i, (int)r, (int)ucases[i].want,
                     v.reply);
        if (r == RESTRICT_REJECT)
            assert_string_equal(v.reply, ucases[i].reply);
        /* Once checked (explicitly or not), the implicit check is not repeated. */
        if (ucases[i].stage == RESTRICT_RECIPIENT)
            assert_true(st->rcpt_checked || !ucases[i].rcpt);
        free(st);
    }
    restrict_list_free(permit);
    restrict_list_free(explicit);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table),
        cmocka_unit_test(compile_errors),
        cmocka_unit_test(defer_if_permit_across_stages),
        cmocka_unit_test(dsn_helpers),
        cmocka_unit_test(unlisted_implicit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
