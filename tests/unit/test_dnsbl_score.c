/* test_dnsbl_score.c - postscreen_dnsbl_sites scoring: list parsing and its
 * errors, Postfix's own score/TTL test vectors (postscreen_dnsbl_test.c),
 * partial results on timeout, shared queries per client, release inside
 * callbacks, pool exhaustion, verdicts and the "DNSBL rank" log text. The
 * resolver is a fake that records queries; the test answers them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsbl_score.h"

/* ---- fake resolver ------------------------------------------------------- */

struct fake_q {
    char zone[256];
    char addr[INET6_ADDRSTRLEN];
    dns_cb cb;
    void *arg;
    int done;
};

static struct fake_q fq[256];
static size_t nfq;
static int refuse_zone_all; /* refuse every query with -EAGAIN */
static const char *refuse_zone;
static unsigned forgotten;

static int fake_query(struct dns_ctx *ctx, const struct sockaddr *sa, const char *zone,
                      unsigned timeout_ms, dns_cb cb, void *arg)
{
    (void)ctx;
    (void)timeout_ms;
    if (refuse_zone_all || (refuse_zone && strcmp(zone, refuse_zone) == 0))
        return -EAGAIN;
    assert_true(nfq < 256);
    struct fake_q *q = &fq[nfq++];
    snprintf(q->zone, sizeof(q->zone), "%s", zone);
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, q->addr,
                  sizeof(q->addr));
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, q->addr,
                  sizeof(q->addr));
    q->cb = cb;
    q->arg = arg;
    q->done = 0;
    return 0;
}

static unsigned fake_forget(struct dns_ctx *ctx, const void *arg)
{
    (void)ctx;
    unsigned n = 0;
    for (size_t i = 0; i < nfq; i++)
        if (!fq[i].done && fq[i].arg == arg) {
            fq[i].done = 1;
            n++;
        }
    forgotten += n;
    return n;
}

static size_t queries_for(const char *zone)
{
    size_t n = 0;
    for (size_t i = 0; i < nfq; i++)
        n += strcmp(fq[i].zone, zone) == 0;
    return n;
}

/* Answer the oldest open query for zone: status, TTL, space-separated A
 * records ("" = none). */
static void answer(const char *zone, enum dns_status st, uint32_t ttl, const char *addrs)
{
    for (size_t i = 0; i < nfq; i++) {
        if (fq[i].done || strcmp(fq[i].zone, zone) != 0)
            continue;
        struct dns_result r;
        memset(&r, 0, sizeof(r));
        r.status = st;
        r.type = DNS_T_A;
        r.ttl = ttl;
        r.why = "";
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", addrs);
        for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
            assert_int_equal(inet_pton(AF_INET, t, &r.u.a[r.count++]), 1);
        if (st == DNS_OK && r.count == 0)
            r.status = DNS_NXDOMAIN;
        fq[i].done = 1;
        fq[i].cb(fq[i].arg, &r);
        return;
    }
    fail_msg("no open query for %s", zone);
}

static void fake_reset(void)
{
    nfq = 0;
    refuse_zone_all = 0;
    refuse_zone = NULL;
    forgotten = 0;
}

static struct dnsbl_score *open_engine(const char *list, unsigned max_clients)
{
    static struct dnsbl_sites sites;
    struct dnsbl_sites_err err;
    struct dnsbl_score *s = NULL;
    int rc = dnsbl_sites_parse(list, strlen(list), &sites, &err);
    if (rc != 0)
        fail_msg("parse %s: %s", list, err.msg);
    struct dnsbl_score_opts o = {.timeout_ms = 1000, .min_ttl = 60, .max_ttl = 3600,
                                 .max_clients = max_clients, .query = fake_query,
                                 .forget = fake_forget};
    assert_int_equal(dnsbl_score_open(&sites, (struct dns_ctx *)(void *)&sites, &o, &s), 0);
    fake_reset();
    return s;
}

static struct sockaddr_storage sa_of(const char *text, unsigned port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
    }
    return ss;
}

struct conn {
    struct dnsbl_score_req req;
    int calls;
    struct dnsbl_score_result res;
    char name[256];
    struct dnsbl_score *s;
    struct conn *release_other; /* released from inside our callback */
    int release_self;
};

static void on_done(void *arg, const struct dnsbl_score_result *r)
{
    struct conn *c = arg;
    c->calls++;
    c->res = *r;
    snprintf(c->name, sizeof(c->name), "%s", r->name ? r->name : "");
    if (c->release_other)
        dnsbl_score_release(c->s, &c->release_other->req);
    if (c->release_self)
        dnsbl_score_release(c->s, &c->req);
}

static void start(struct dnsbl_score *s, struct conn *c, const char *addr)
{
    memset(c, 0, sizeof(*c));
    c->s = s;
    struct sockaddr_storage ss = sa_of(addr, 1234);
    assert_int_equal(dnsbl_score_start(s, (struct sockaddr *)&ss, &c->req, on_done, c), 0);
}

/* ---- the list ------------------------------------------------------------ */

struct list_case {
    const char *in;
    int rc;
    size_t ndomains, nentries;
    const char *msg; /* expected error text */
};

static const struct list_case list_cases[] = {
    {"", 0, 0, 0, NULL},
    {" ,\t\r\n, ", 0, 0, 0, NULL},
    {"zen.spamhaus.org", 0, 1, 1, NULL},
    {"zen.test*3, bl.test\twl.test=127.0.[0..255].[2..3]*-2\nx.test", 0, 4, 4, NULL},
    {"zen.test=127.0.0.[2..11]*3,zen.test=127.0.0.10*-1 ZEN.TEST", 0, 1, 3, NULL},
    {"bl.test*x", -EINVAL, 0, 0, "bad DNSBL weight factor \"x\" in \"bl.test*x\""},
    {"ok.test, bl.test*", -EINVAL, 0, 0, "bad DNSBL weight factor \"\" in \"bl.test*\""},
    {"bl.test=127.0.0", -EINVAL, 0, 0, "bad DNSBL filter syntax: "},
    {"bl..test=127.0.0.2", -EINVAL, 0, 0, "bad DNSBL domain name \"bl..test\" in \"bl..test=127.0.0.2\""},
    {"-bad*2", -EINVAL, 0, 0, "bad DNSBL domain name \"-bad\" in \"-bad*2\""},
};

static void test_list_parse(void **state)
{
    (void)state;
    static struct dnsbl_sites s;
    for (size_t i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
        const struct list_case *c = &list_cases[i];
        struct dnsbl_sites_err err = {{0}};
        int rc = dnsbl_sites_parse(c->in, strlen(c->in), &s, &err);
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d (%s)", c->in, rc, c->rc, err.msg);
        if (rc == 0) {
            assert_int_equal(s.ndomains, c->ndomains);
            assert_int_equal(s.nentries, c->nentries);
        } else if (strncmp(err.msg, c->msg, strlen(c->msg)) != 0) {
            fail_msg("%s: message \"%s\", want \"%s\"", c->in, err.msg, c->msg);
        }
    }
}

static void test_list_limits(void **state)
{
    (void)state;
    static struct dnsbl_sites s;
    static char buf[DNSBL_SITES_MAX * 16 + 32];
    struct dnsbl_sites_err err;
    size_t n = 0;
    for (int i = 0; i < DNSBL_SITES_MAX; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "d%d.test,", i);
    assert_int_equal(dnsbl_sites_parse(buf, n, &s, &err), 0);
    assert_int_equal(s.ndomains, DNSBL_SITES_MAX);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "one.more.test");
    assert_int_equal(dnsbl_sites_parse(buf, n, &s, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "too many"));
    /* A NUL inside the value is not a separator: the item is refused. */
    assert_int_equal(dnsbl_sites_parse("bl.test\0x", 9, &s, &err), -EINVAL);
    /* display names */
    assert_int_equal(dnsbl_sites_parse("key123.bl.test", 14, &s, &err), 0);
    assert_int_equal(dnsbl_sites_set_display(&s, "KEY123.bl.test", "bl.test"), 0);
    assert_string_equal(s.domain[0].display, "bl.test");
    assert_int_equal(dnsbl_sites_set_display(&s, "other.test", "x"), -ENOENT);
}

/* ---- Postfix's vectors ----------------------------------------------------- */

struct single_case {
    const char *label, *sites, *zone, *reply;
    uint32_t ttl;
    int score;
};

/* postscreen_dnsbl_test.c, single_dnsbl_tests: min_ttl 60, max_ttl 3600. */
static const struct single_case single[] = {
    {"single site listed address", "zen.spamhaus.org", "zen.spamhaus.org",
     "127.0.0.2 127.0.0.4 127.0.0.10", 60, 1},
    {"repeated site 1x rpc 2x score", "zen.spamhaus.org, zen.spamhaus.org", "zen.spamhaus.org",
     "127.0.0.2 127.0.0.4 127.0.0.10", 60, 2},
    {"unlisted address zero score", "zen.spamhaus.org", "zen.spamhaus.org", "", 60, 0},
    {"site with weight first", "zen.spamhaus.org*3, zen.spamhaus.org", "zen.spamhaus.org",
     "127.0.0.2 127.0.0.4 127.0.0.10", 60, 4},
    {"site with weight last", "zen.spamhaus.org, zen.spamhaus.org*3", "zen.spamhaus.org",
     "127.0.0.2 127.0.0.4 127.0.0.10", 60, 4},
    {"site with filter+weight first", "zen.spamhaus.org=127.0.0.10*3, zen.spamhaus.org",
     "zen.spamhaus.org", "127.0.0.2 127.0.0.4 127.0.0.10", 60, 4},
    {"site with filter+weight last", "zen.spamhaus.org, zen.spamhaus.org=127.0.0.10*3",
     "zen.spamhaus.org", "127.0.0.2 127.0.0.4 127.0.0.10", 60, 4},
    {"filter+weight add and subtract",
     "zen.spamhaus.org=127.0.0.[1..255]*3, zen.spamhaus.org=127.0.0.3*-1", "zen.spamhaus.org",
     "127.0.0.3 127.0.0.10", 60, 2},
    {"filter+weight add and not subtract",
     "zen.spamhaus.org=127.0.0.[1..255]*3, zen.spamhaus.org=127.0.0.3*-1", "zen.spamhaus.org",
     "127.0.0.10", 60, 3},
};

static void test_postfix_single(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
        const struct single_case *c = &single[i];
        struct dnsbl_score *s = open_engine(c->sites, 8);
        struct conn a;
        start(s, &a, "10.2.3.4");
        assert_int_equal(queries_for(c->zone), 1); /* one query per domain */
        assert_string_equal(fq[0].addr, "10.2.3.4");
        answer(c->zone, DNS_OK, c->ttl, c->reply);
        if (a.calls != 1 || a.res.score != c->score || a.res.ttl != c->ttl)
            fail_msg("%s: calls %d score %d ttl %u", c->label, a.calls, a.res.score, a.res.ttl);
        assert_true(a.res.complete);
        dnsbl_score_release(s, &a.req);
        assert_int_equal(dnsbl_score_active(s), 0);
        dnsbl_score_close(s);
    }
}

struct reply {
    const char *zone, *reply;
    uint32_t ttl;
};
struct multi_case {
    const char *label, *sites;
    struct reply r[2];
    uint32_t ttl;
    int score;
    const char *name;
};

/* postscreen_dnsbl_test.c, multi_dnsbl_tests. */
static const struct multi_case multi[] = {
    {"dual dnsbl, listed by both", "zen.spamhaus.org, foo.example.org",
     {{"foo.example.org", "127.0.0.10", 60}, {"zen.spamhaus.org", "127.0.0.10", 60}}, 60, 2,
     "foo.example.org"},
    {"dual dnsbl, listed by first", "zen.spamhaus.org, foo.example.org",
     {{"foo.example.org", "", 62}, {"zen.spamhaus.org", "127.0.0.10", 61}}, 61, 1,
     "zen.spamhaus.org"},
    {"dual dnsbl, listed by last", "zen.spamhaus.org, foo.example.org",
     {{"foo.example.org", "127.0.0.10", 62}, {"zen.spamhaus.org", "", 61}}, 62, 1,
     "foo.example.org"},
    {"dual dnsbl, unlisted address zero score", "zen.spamhaus.org, foo.example.org",
     {{"foo.example.org", "", 62}, {"zen.spamhaus.org", "", 61}}, 61, 0, ""},
    {"dual dnsbl, allowlist wins", "list.dnswl.org=127.0.[0..255].[1..3]*-2, foo.example.org",
     {{"foo.example.org", "127.0.0.10", 62}, {"list.dnswl.org", "127.0.5.2", 61}}, 61, -1,
     "foo.example.org"},
    /* ours: the larger weight names the result, whatever the order */
    {"larger weight names", "a.test*2, b.test*5",
     {{"a.test", "127.0.0.2", 300}, {"b.test", "127.0.0.2", 100}}, 100, 7, "b.test"},
    /* a TTL below the floor is raised; max_ttl caps the default */
    {"min ttl floor", "a.test, b.test", {{"a.test", "127.0.0.2", 5}, {"b.test", "", 10}}, 60, 1,
     "a.test"},
    {"max ttl cap", "a.test, b.test", {{"a.test", "", 86400}, {"b.test", "", 7200}}, 3600, 0, ""},
};

static void test_postfix_multi(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(multi) / sizeof(multi[0]); i++) {
        const struct multi_case *c = &multi[i];
        struct dnsbl_score *s = open_engine(c->sites, 8);
        struct conn a;
        start(s, &a, "10.2.3.4");
        assert_int_equal(nfq, 2);
        answer(c->r[0].zone, DNS_OK, c->r[0].ttl, c->r[0].reply);
        assert_int_equal(a.calls, 0);
        answer(c->r[1].zone, DNS_OK, c->r[1].ttl, c->r[1].reply);
        if (a.calls != 1 || a.res.score != c->score || a.res.ttl != c->ttl ||
            strcmp(a.name, c->name) != 0)
            fail_msg("%s: calls %d score %d ttl %u name %s", c->label, a.calls, a.res.score,
                     a.res.ttl, a.name);
        dnsbl_score_release(s, &a.req);
        dnsbl_score_close(s);
    }
}

/* ---- timeouts, partial results ----------------------------------------------- */

static void test_timeout_partial(void **state)
{
    (void)state;
    struct dnsbl_score *s = open_engine("bl.test*2, slow.test*3, wl.test*-5", 8);
    struct conn a;
    start(s, &a, "192.0.2.3");
    answer("bl.test", DNS_OK, 900, "127.0.0.2");
    /* Read before the end (greet wait over): partial, listed so far. */
    struct dnsbl_score_result r;
    dnsbl_score_get(s, &a.req, &r);
    assert_int_equal(r.score, 2);
    assert_false(r.complete);
    assert_int_equal(r.queried, 3);
    assert_int_equal(r.answered, 1);
    assert_string_equal(r.name, "bl.test");
    assert_int_equal(r.ttl, 900); /* a fail keeps its TTL */
    answer("wl.test", DNS_NXDOMAIN, 300, "");
    answer("slow.test", DNS_TIMEOUT, 0, "");
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.res.score, 2);
    assert_int_equal(a.res.failed, 1);
    assert_int_equal(a.res.answered, 2);
    assert_int_equal(a.res.listed, 1);
    assert_true(a.res.complete);
    dnsbl_score_release(s, &a.req);
    dnsbl_score_close(s);

    /* A pass with a failed lookup has no TTL: the floor. */
    s = open_engine("bl.test, slow.test", 8);
    start(s, &a, "192.0.2.4");
    answer("bl.test", DNS_NXDOMAIN, 3000, "");
    dnsbl_score_get(s, &a.req, &r);
    assert_int_equal(r.ttl, 60); /* partial pass: floor */
    answer("slow.test", DNS_TEMPFAIL, 0, "");
    assert_int_equal(a.res.score, 0);
    assert_int_equal(a.res.ttl, 60);
    assert_string_equal(a.name, ""); /* nothing matched: no name */
    dnsbl_score_release(s, &a.req);
    dnsbl_score_close(s);
}

/* ---- sharing, release, exhaustion ---------------------------------------------- */

static void test_shared_queries(void **state)
{
    (void)state;
    struct dnsbl_score *s = open_engine("bl.test*2, wl.test*-1", 8);
    struct conn a, b, c;
    start(s, &a, "192.0.2.3");
    start(s, &b, "::ffff:192.0.2.3"); /* the same IPv4 client */
    start(s, &c, "2001:db8::3");
    assert_int_equal(queries_for("bl.test"), 2);
    assert_int_equal(dnsbl_score_active(s), 2);
    assert_string_equal(fq[2].addr, "2001:db8::3");
    answer("bl.test", DNS_OK, 600, "127.0.0.2");
    answer("wl.test", DNS_NXDOMAIN, 0, "");
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.res.score, 2);
    assert_int_equal(c.calls, 0);
    /* Completed: a new connection asks again rather than joining. */
    struct conn d;
    start(s, &d, "192.0.2.3");
    assert_int_equal(queries_for("bl.test"), 3);
    dnsbl_score_release(s, &a.req);
    dnsbl_score_release(s, &b.req);
    dnsbl_score_release(s, &b.req); /* idle: ignored */
    answer("bl.test", DNS_NXDOMAIN, 600, "");
    answer("wl.test", DNS_NXDOMAIN, 600, "");
    answer("bl.test", DNS_NXDOMAIN, 600, "");
    answer("wl.test", DNS_OK, 600, "127.0.0.2");
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.res.score, 0);
    assert_int_equal(d.res.score, -1);
    dnsbl_score_release(s, &c.req);
    dnsbl_score_release(s, &d.req);
    assert_int_equal(dnsbl_score_active(s), 0);
    dnsbl_score_close(s);
}

static void test_release_in_callback(void **state)
{
    (void)state;
    struct dnsbl_score *s = open_engine("bl.test", 8);
    struct conn a, b, c;
    start(s, &a, "192.0.2.9");
    start(s, &b, "192.0.2.9");
    start(s, &c, "192.0.2.9");
    /* Whichever runs first releases another one and itself. */
    a.release_other = &b;
    a.release_self = 1;
    b.release_other = &c;
    b.release_self = 1;
    c.release_other = &a;
    c.release_self = 1;
    answer("bl.test", DNS_OK, 100, "127.0.0.2");
    /* Each request is called at most once; a released one never. */
    assert_true(a.calls <= 1 && b.calls <= 1 && c.calls <= 1);
    assert_true(a.calls + b.calls + c.calls >= 1);
    assert_int_equal(dnsbl_score_active(s), 0);
    /* Released before the answers: no callback, entry freed afterwards. */
    start(s, &a, "192.0.2.10");
    dnsbl_score_release(s, &a.req);
    assert_int_equal(dnsbl_score_active(s), 1); /* its query is in flight */
    answer("bl.test", DNS_OK, 100, "127.0.0.2");
    assert_int_equal(a.calls, 0);
    assert_int_equal(dnsbl_score_active(s), 0);
    dnsbl_score_close(s);
}

static void test_exhaustion(void **state)
{
    (void)state;
    struct dnsbl_score *s = open_engine("bl.test, wl.test", 2);
    struct conn a, b, c;
    start(s, &a, "192.0.2.1");
    start(s, &b, "192.0.2.2");
    memset(&c, 0, sizeof(c));
    struct sockaddr_storage ss = sa_of("192.0.2.3", 25);
    assert_int_equal(dnsbl_score_start(s, (struct sockaddr *)&ss, &c.req, on_done, &c), -EAGAIN);
    assert_int_equal(c.req.entry, 0);
    /* The same client still joins. */
    start(s, &c, "192.0.2.2");
    /* A request that is not idle is refused. */
    assert_int_equal(dnsbl_score_start(s, (struct sockaddr *)&ss, &c.req, on_done, &c), -EINVAL);
    struct sockaddr un = {.sa_family = AF_UNIX};
    struct conn d;
    memset(&d, 0, sizeof(d));
    assert_int_equal(dnsbl_score_start(s, &un, &d.req, on_done, &d), -EINVAL);
    /* close forgets what is in flight */
    dnsbl_score_close(s);
    assert_int_equal(forgotten, 4);

    /* Every query refused: nothing would call back, so fail open now. */
    s = open_engine("bl.test, wl.test", 2);
    refuse_zone_all = 1;
    memset(&a, 0, sizeof(a));
    assert_int_equal(dnsbl_score_start(s, (struct sockaddr *)&ss, &a.req, on_done, &a), -EAGAIN);
    assert_int_equal(dnsbl_score_active(s), 0);
    /* One refused: it counts as failed, the other decides. */
    refuse_zone_all = 0;
    refuse_zone = "wl.test";
    start(s, &a, "192.0.2.3");
    answer("bl.test", DNS_OK, 100, "127.0.0.2");
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.res.failed, 1);
    assert_int_equal(a.res.score, 1);
    dnsbl_score_release(s, &a.req);
    dnsbl_score_close(s);
}

/* ---- verdict and log ------------------------------------------------------------ */

static void test_verdict(void **state)
{
    (void)state;
    static const struct {
        int score;
        long thr, allow;
        enum dnsbl_verdict want;
    } v[] = {
        {0, 1, 0, DNSBL_VERDICT_PASS},       {1, 1, 0, DNSBL_VERDICT_FAIL},
        {5, 3, -1, DNSBL_VERDICT_FAIL},      {-1, 1, 0, DNSBL_VERDICT_PASS},
        {-1, 1, -1, DNSBL_VERDICT_ALLOWLIST}, {-3, 1, -2, DNSBL_VERDICT_ALLOWLIST},
        {-1, 1, -2, DNSBL_VERDICT_PASS},     {0, 1, 1, DNSBL_VERDICT_PASS},
        {-5, -5, -1, DNSBL_VERDICT_FAIL}, /* at the threshold: fail wins */
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        assert_int_equal(dnsbl_score_verdict(v[i].score, v[i].thr, v[i].allow), v[i].want);
}

static void test_rank_text(void **state)
{
    (void)state;
    char buf[128];
    struct sockaddr_storage ss = sa_of("192.0.2.1", 40123);
    assert_true(dnsbl_score_rank_text(buf, sizeof(buf), 3, (struct sockaddr *)&ss) > 0);
    assert_string_equal(buf, "DNSBL rank 3 for [192.0.2.1]:40123");
    ss = sa_of("2001:db8::1", 25);
    dnsbl_score_rank_text(buf, sizeof(buf), -2, (struct sockaddr *)&ss);
    assert_string_equal(buf, "DNSBL rank -2 for [2001:db8::1]:25");
    ss = sa_of("::ffff:10.1.2.3", 7);
    dnsbl_score_rank_text(buf, sizeof(buf), 1, (struct sockaddr *)&ss);
    assert_string_equal(buf, "DNSBL rank 1 for [10.1.2.3]:7");
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(dnsbl_score_rank_text(buf, sizeof(buf), 1, &un), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_parse),      cmocka_unit_test(test_list_limits),
        cmocka_unit_test(test_postfix_single),  cmocka_unit_test(test_postfix_multi),
        cmocka_unit_test(test_timeout_partial), cmocka_unit_test(test_shared_queries),
        cmocka_unit_test(test_release_in_callback), cmocka_unit_test(test_exhaustion),
        cmocka_unit_test(test_verdict),         cmocka_unit_test(test_rank_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
