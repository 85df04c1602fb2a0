/*
 * fe_screen.c - the screening steps of the frontend that use shared state
 * (fe_int.h lists the entry points; fe_conn.c calls them in postscreen's
 * order after the access list):
 *
 *   limits  postscreen_client_connection_count_limit and
 *           postscreen_client_connection_rate_limit in the shared anvil
 *           table (shm/anvil.h; IPv6 clients per prefix). A client over a
 *           limit gets postscreen's "421 4.7.0 Error: too many connections"
 *           and "NOQUEUE: reject: CONNECT from [addr]:port: too many
 *           connections" (the rate limit also logs smtpd's "Connection
 *           rate limit exceeded" warning). As in postscreen, only the
 *           connections the frontend holds count: the count goes down at
 *           handoff. A full table fails open. Then
 *           postscreen_post_queue_limit (fe_limits.h): when that many
 *           clean clients already wait for a worker, "NOQUEUE: reject:
 *           CONNECT from [addr]:port: all server ports busy" and "421 4.3.2
 *           All server ports are busy". Both run before the access list,
 *           so they hold for an allowlisted client too (psc_service()).
 *           Both queue limits count the clients of every frontend of the
 *           generation (fe_ledger.c's board), as one postscreen would.
 *   cache   postscreen_cache_map (shm/screen_cache.h): a client whose
 *           enabled tests have all passed and not expired is "PASS OLD"
 *           and handed off at once (verdict PASS_OLD in the record).
 *           Any other client: postscreen_allowlist_interfaces (a client
 *           of a local address not listed is "ALLOWLIST VETO [addr]:port"
 *           and never handed to a worker: its tests run, no PASS is
 *           logged or cached, and the enforce engine answers its RCPT
 *           with "450 4.3.2 Service currently unavailable", as postscreen
 *           does for a backup MX address), then postscreen_pre_queue_limit:
 *           "reject: connect from [addr]:port: all screening ports busy"
 *           and "421 4.3.2 All screening ports are busy" when full, else
 *           the client is counted in the pre-queue until it leaves.
 *   dnsbl   postscreen_dnsbl_sites (lib/dnsbl_score.h): the queries start
 *           here and run during the greet wait. When the pregreet test is
 *           not run (postscreen_greet_action = ignore, or passed in the
 *           cache) the wait is only for DNS and ends when every answer is
 *           in, as postscreen's early test ends when nothing else is to
 *           do. A score at or below a negative
 *           postscreen_dnsbl_allowlist_threshold ends the wait at once
 *           and allowlists the other tests (screen_stamps_allowlist), as
 *           Postfix's psc_whitelist_non_dnsbl(). At the end of the wait the
 *           (possibly partial) score is judged: "DNSBL rank N for
 *           [addr]:port", then postscreen_dnsbl_action (ignore, enforce:
 *           550, drop: 521 "5.7.1 Service unavailable; client [addr]
 *           blocked using NAME", tarpit). NAME is the DNSBL domain, or
 *           what postscreen_dnsbl_reply_map says for it (a table that
 *           fails: logged, and the domain is shown; Postfix gives up).
 *   pass    the passed tests' stamps go to the cache (greet:
 *           postscreen_greet_ttl, dnsbl: the scorer's TTL from
 *           postscreen_dnsbl_min_ttl/max_ttl).
 *   sweep   one timer on the wheel: every minute (or cleanup interval,
 *           when shorter) it asks whether a pass is due
 *           (postscreen_cache_cleanup_interval); a pass runs in
 *           steps of FE_SWEEP_BATCH records FE_SWEEP_GAP_MS apart, so the
 *           loop is never held for long; expired records are kept for
 *           postscreen_cache_retention_time.
 *
 * Failure: a cache that does not open, a resolver that does not start, a
 * scorer that is full: logged, and the test is skipped (fail open), never
 * fatal. A cache write that fails is logged.
 */
#include "fe_screen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "maps.h"
#include "matchlist.h"
#include "util.h"

#define S(x) x, sizeof(x) - 1
static const char too_many[] = "421 4.7.0 Error: too many connections\r\n";

#define FE_SWEEP_BATCH 64
#define FE_SWEEP_GAP_MS 10u
#define FE_SWEEP_CHECK_MS 60000u
#define FE_DNSBL_CLIENTS_MAX 8192u
#define FE_REPLY_MAX 192

static struct fe *the_fe; /* for the scorer's callbacks: one frontend per process */

static void conn_sa(const struct fe_conn *c, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (c->client.family == AF_INET) {
        struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(c->client.port)};
        memcpy(&s4.sin_addr, c->client.addr, 4);
        memcpy(ss, &s4, sizeof(s4));
    } else {
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(c->client.port)};
        memcpy(&s6.sin6_addr, c->client.addr, 16);
        memcpy(ss, &s6, sizeof(s6));
    }
}

static void conn_addr(const struct fe_conn *c, char *buf, size_t len)
{
    if (!inet_ntop(c->client.family, c->client.addr, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

/* ---- process state ---- */

int fe_screen_open(struct fe *fe)
{
    const struct fe_screen_conf *sc = fe->conf->screen;
    struct fe_screen *s = xcalloc(1, sizeof(*s));
    fe->scr = s;
    the_fe = fe;
    timer_node_init(&s->sweep_timer);
    if (sc->cache_map) {
        char err[256] = "";
        int r = screen_cache_open(sc->cache_map, NULL, &s->cache, err, sizeof(err));
        if (r < 0) {
            log_warn("cannot open postscreen_cache_map %s: %s -- running without the cache",
                     sc->cache_map, err[0] ? err : strerror(-r));
            s->cache = NULL;
        } else if (sc->cleanup_interval > 0) {
            timer_wheel_add(&fe->tw, &s->sweep_timer, timer_clock_ms() + 1000u);
        }
    }
    if (sc->sites) {
        unsigned clients = fe->conf->pool_size < FE_DNSBL_CLIENTS_MAX ? fe->conf->pool_size
                                                                      : FE_DNSBL_CLIENTS_MAX;
        int r = fe_screen_dns_open(fe, clients * (unsigned)sc->sites->ndomains);
        struct dnsbl_score_opts o = {.timeout_ms = sc->dnsbl_timeout_ms,
                                     .min_ttl = sc->dnsbl_min_ttl,
                                     .max_ttl = sc->dnsbl_max_ttl,
                                     .max_clients = clients};
        if (r == 0)
            r = dnsbl_score_open(sc->sites, s->dns, &o, &s->ds);
        if (r == 0)
            r = pool_init(&s->replies, "DNSBL replies", FE_REPLY_MAX, fe->conf->pool_size);
        if (r < 0) {
            log_warn("cannot start the DNSBL test: %s -- running without it", strerror(-r));
            if (s->ds)
                dnsbl_score_close(s->ds);
            if (s->dns)
                dns_close(s->dns);
            s->ds = NULL;
            s->dns = NULL;
        } else {
            s->replies_ok = true;
        }
    }
    return 0;
}

void fe_screen_close(struct fe *fe)
{
    struct fe_screen *s = fe->scr;
    if (!s)
        return;
    timer_wheel_cancel(&fe->tw, &s->sweep_timer);
    if (s->ds)
        dnsbl_score_close(s->ds);
    if (s->dns)
        dns_close(s->dns);
    if (s->replies_ok)
        pool_destroy(&s->replies);
    if (s->cache)
        screen_cache_close(s->cache);
    free(s);
    fe->scr = NULL;
}

/* ---- limits ---- */

static const char busy_server[] = "421 4.3.2 All server ports are busy\r\n";
static const char busy_screen[] = "421 4.3.2 All screening ports are busy\r\n";

/* Both limits count every frontend of the generation (fe_ledger.c's board). */
bool fe_screen_post_full(struct fe *fe)
{
    uint32_t pre, post;
    fe_queues_others(fe, &pre, &post);
    return fe_queues_post_full(&fe->q, fe_workers_unacked(fe) + post,
                               fe->conf->screen->post_queue_limit);
}

static bool pre_full(const struct fe *fe)
{
    uint32_t pre, post;
    fe_queues_others(fe, &pre, &post);
    struct fe_queues all = fe->q;
    all.pre += pre;
    return fe_queues_pre_full(&all, fe->conf->screen->pre_queue_limit);
}

static enum step_res post_queue(struct fe *fe, struct fe_conn *c)
{
    if (!fe_screen_post_full(fe))
        return STEP_NEXT;
    char a[80];
    fe_ep_format(&c->client, a, sizeof(a));
    log_info("NOQUEUE: reject: CONNECT from %s: all server ports busy", a);
    fe->st.refused_busy++;
    fe_conn_finish(fe, c, S(busy_server));
    return STEP_END;
}

static enum step_res anvil_limits(struct fe *fe, struct fe_conn *c)
{
    const struct fe_screen_conf *sc = fe->conf->screen;
    if (!sc->anvil)
        return STEP_NEXT;
    struct sockaddr_storage ss;
    conn_sa(c, &ss);
    if (anvil_key(sc->anvil, (const struct sockaddr *)&ss, &c->akey) < 0)
        return STEP_NEXT;
    struct anvil_counts n;
    uint32_t slot = pool_index(&fe->conns, c);
    fe_ledger_set(fe->a->ledger, slot, &c->akey); /* before: fe_ledger.c */
    enum anvil_verdict v = anvil_connect(sc->anvil, &c->akey, (int64_t)timer_clock_ms(),
                                         sc->count_limit, sc->rate_limit, &n);
    if (v == ANVIL_OK) {
        c->sflags |= FE_SF_ANVIL;
        return STEP_NEXT;
    }
    fe_ledger_clear(fe->a->ledger, slot);
    if (v != ANVIL_COUNT_LIMIT && v != ANVIL_RATE_LIMIT)
        return STEP_NEXT; /* table full: allowed, not counted */
    char a[80];
    fe_ep_format(&c->client, a, sizeof(a));
    if (v == ANVIL_RATE_LIMIT) /* smtpd's words for the same limit */
        log_warn("Connection rate limit exceeded: %u from %s for service smtp", n.rate, a);
    log_info("NOQUEUE: reject: CONNECT from %s: too many connections", a);
    fe->st.dropped++;
    fe_conn_finish(fe, c, S(too_many));
    return STEP_END;
}

/* postscreen's order: the client's connection count, then the post-queue. */
enum step_res fe_screen_limits(struct fe *fe, struct fe_conn *c)
{
    enum step_res r = anvil_limits(fe, c);
    return r == STEP_NEXT ? post_queue(fe, c) : r;
}

/* ---- cache ---- */

static void cache_lookup(struct fe *fe, struct fe_conn *c)
{
    const struct fe_screen_conf *sc = fe->conf->screen;
    c->todo = (uint8_t)sc->enabled;
    if (!sc->enabled)
        return;
    screen_stamps_new(&c->stamps);
    c->sflags |= FE_SF_CACHED;
    if (!fe->scr->cache)
        return;
    char addr[INET6_ADDRSTRLEN];
    conn_addr(c, addr, sizeof(addr));
    int r = screen_cache_lookup(fe->scr->cache, addr, &c->stamps);
    if (r < 0)
        log_warn("postscreen_cache_map lookup %s: %s", addr, strerror(-r));
    if (r != 1) {
        screen_stamps_new(&c->stamps);
        return;
    }
    c->todo = (uint8_t)screen_stamps_todo(&c->stamps, sc->enabled, (int64_t)time(NULL));
    if (c->todo)
        return;
    char a[80];
    fe_ep_format(&c->client, a, sizeof(a));
    log_info("PASS OLD %s", a);
    fe->st.pass_old++;
    c->sflags |= FE_SF_PASS_OLD;
    c->step = 0xff; /* nothing else to test */
}

/* Fail closed, as Postfix: a table that fails is no match. */
static bool interface_allowed(const struct fe_screen_conf *sc, const struct fe_conn *c)
{
    char addr[INET6_ADDRSTRLEN];
    if (!inet_ntop(c->server.family, c->server.addr, addr, sizeof(addr)))
        return false;
    int r = matchlist_match_addr(sc->allow_if, addr);
    if (r < 0)
        log_warn("postscreen_allowlist_interfaces: lookup of %s failed: %s", addr,
                 strerror(-r));
    return r > 0;
}

enum step_res fe_screen_cache(struct fe *fe, struct fe_conn *c)
{
    const struct fe_screen_conf *sc = fe->conf->screen;
    cache_lookup(fe, c);
    if (c->sflags & FE_SF_PASS_OLD)
        return STEP_NEXT;
    char a[80];
    fe_ep_format(&c->client, a, sizeof(a));
    if (sc->allow_if && !interface_allowed(sc, c)) {
        /* postscreen: WLIST_FAIL | NOFORWARD; the RCPT reply stays the
         * default one unless a test fails (fe_dummy.c). */
        c->qflags |= FE_QF_VETO;
        c->flags |= FE_F_NOFORWARD;
        log_info("%sLIST VETO %s", fe->conf->respectful ? "ALLOW" : "WHITE", a);
    }
    if (pre_full(fe)) {
        log_info("reject: connect from %s: all screening ports busy", a);
        fe->st.refused_pool++;
        fe_conn_finish(fe, c, S(busy_screen));
        return STEP_END;
    }
    fe_queues_enter_pre(&fe->q, &c->qflags);
    fe_board_sync(fe);
    return STEP_NEXT;
}

/* ---- DNSBL ---- */

static void on_dnsbl(void *arg, const struct dnsbl_score_result *res)
{
    struct fe_conn *c = arg;
    struct fe *fe = the_fe;
    const struct fe_screen_conf *sc = fe->conf->screen;
    c->sflags |= FE_SF_DNSBL_IN;
    if (dnsbl_score_verdict(res->score, sc->dnsbl_threshold, sc->dnsbl_allowlist) ==
        DNSBL_VERDICT_ALLOWLIST) {
        c->sflags |= FE_SF_DNSWL;
        c->sflags &= (uint8_t)~FE_SF_PREGR; /* allowlisted: nothing left to wait for */
    }
    if (c->state == FE_S_GREET && !(c->sflags & FE_SF_PREGR))
        fe_conn_greet_end(fe, c);
}

enum step_res fe_screen_dnsbl(struct fe *fe, struct fe_conn *c)
{
    if (!(c->todo & SCREEN_BIT(SCREEN_TEST_DNSBL)) || !fe->scr->ds)
        return STEP_NEXT;
    struct sockaddr_storage ss;
    conn_sa(c, &ss);
    int r = dnsbl_score_start(fe->scr->ds, (const struct sockaddr *)&ss, &c->dreq, on_dnsbl, c);
    if (r < 0) { /* full: fail open, as a dnsblog that cannot be reached */
        char a[80];
        fe_ep_format(&c->client, a, sizeof(a));
        log_warn("DNSBL test skipped for %s: %s", a, strerror(-r));
        return STEP_NEXT;
    }
    c->sflags |= FE_SF_DNSBL;
    c->tests_done |= HANDOFF_TEST_DNSBL;
    return STEP_NEXT;
}

bool fe_screen_greet_needed(struct fe *fe, struct fe_conn *c)
{
    (void)fe;
    if (c->todo & SCREEN_BIT(SCREEN_TEST_PREGR))
        c->sflags |= FE_SF_PREGR;
    return (c->sflags & (FE_SF_PREGR | FE_SF_DNSBL)) != 0;
}

/* postscreen_dnsbl_reply_map: the name shown for a DNSBL domain (value
 * buffer vbuf), or the domain itself. */
static const char *reply_name(const struct fe_screen_conf *sc, const char *name, char *vbuf,
                              size_t vcap)
{
    for (size_t i = 0; name && i < sc->nreply_maps; i++) {
        struct map_value v = {vbuf, vcap, 0};
        int r = map_lookup_str(sc->reply_maps[i], name, &v);
        if (r == 1)
            return vbuf;
        if (r < 0) {
            log_warn("postscreen_dnsbl_reply_map: %s: lookup of \"%s\" failed: %s -- "
                     "showing the DNSBL name",
                     sc->reply_maps[i]->ref, name, strerror(-r));
            break;
        }
    }
    return name ? name : "";
}

static const char *dnsbl_reply(struct fe *fe, struct fe_conn *c, const char *code,
                               const char *name, size_t *len)
{
    static char drop[FE_REPLY_MAX]; /* sent at once: need not outlive the call */
    char *buf = drop;
    if (code[0] == '5' && code[2] == '0') { /* 550: kept for the enforce engine */
        buf = pool_get(&fe->scr->replies);
        if (!buf)
            buf = drop; /* pool full: the enforce engine is full too, it drops */
        else
            c->sflags |= FE_SF_REPLY;
    }
    char addr[INET6_ADDRSTRLEN], vbuf[FE_REPLY_MAX];
    conn_addr(c, addr, sizeof(addr));
    const char *shown = reply_name(fe->conf->screen, name, vbuf, sizeof(vbuf));
    int n = fe_dnsbl_reply_format(buf, FE_REPLY_MAX, code, addr, shown, strlen(shown));
    *len = n < 0 ? 0 : (size_t)n;
    return buf;
}

enum step_res fe_screen_greet_over(struct fe *fe, struct fe_conn *c)
{
    const struct fe_screen_conf *sc = fe->conf->screen;
    if (!(c->sflags & FE_SF_DNSBL))
        return STEP_NEXT;
    struct dnsbl_score_result r;
    dnsbl_score_get(fe->scr->ds, &c->dreq, &r);
    c->dnsbl_score = r.score;
    enum dnsbl_verdict v = dnsbl_score_verdict(r.score, sc->dnsbl_threshold, sc->dnsbl_allowlist);
    if (v == DNSBL_VERDICT_ALLOWLIST)
        c->sflags |= FE_SF_DNSWL;
    if (v != DNSBL_VERDICT_FAIL) {
        fe->st.dnsbl_pass++;
        return STEP_NEXT;
    }
    fe->st.dnsbl_fail++;
    struct sockaddr_storage ss;
    char text[160];
    conn_sa(c, &ss);
    if (dnsbl_score_rank_text(text, sizeof(text), r.score, (const struct sockaddr *)&ss) > 0)
        log_info("%s", text);
    size_t dl = 0, el = 0;
    const char *drop = NULL, *enf = NULL;
    if (sc->dnsbl_action == PS_ACT_DROP)
        drop = dnsbl_reply(fe, c, "521", r.name, &dl);
    else if (sc->dnsbl_action == PS_ACT_ENFORCE && !c->final)
        enf = dnsbl_reply(fe, c, "550", r.name, &el);
    return fe_conn_act(fe, c, HANDOFF_TEST_DNSBL, sc->dnsbl_action, drop, dl, enf, el);
}

/* ---- pass ---- */

void fe_screen_passed(struct fe *fe, struct fe_conn *c)
{
    const struct fe_screen_conf *sc = fe->conf->screen;
    /* A veto fails the session (WLIST_FAIL): nothing passed is kept. */
    if (!fe->scr->cache || !(c->sflags & FE_SF_CACHED) || (c->qflags & FE_QF_VETO))
        return;
    int64_t now = (int64_t)time(NULL);
    bool upd = false;
    /* An allowlisted client's greet wait was cut short: its pregreet stamp
     * comes from the allowlist TTL below, as psc_whitelist_non_dnsbl(). */
    if ((c->tests_done & HANDOFF_TEST_PREGREET) && !(c->tests_failed & HANDOFF_TEST_PREGREET) &&
        !(c->sflags & FE_SF_DNSWL)) {
        c->stamps.t[SCREEN_TEST_PREGR] = now + sc->greet_ttl;
        upd = true;
    }
    if ((c->sflags & FE_SF_DNSBL) && !(c->tests_failed & HANDOFF_TEST_DNSBL)) {
        struct dnsbl_score_result r;
        dnsbl_score_get(fe->scr->ds, &c->dreq, &r);
        c->stamps.t[SCREEN_TEST_DNSBL] = now + (int64_t)r.ttl;
        if (c->sflags & FE_SF_DNSWL)
            screen_stamps_allowlist(&c->stamps, now, r.ttl);
        upd = true;
    }
    if (!upd)
        return;
    char addr[INET6_ADDRSTRLEN];
    conn_addr(c, addr, sizeof(addr));
    int r = screen_cache_update(fe->scr->cache, addr, &c->stamps, sc->enabled);
    if (r < 0)
        log_warn("postscreen_cache_map update %s: %s", addr, strerror(-r));
}

void fe_screen_release(struct fe *fe, struct fe_conn *c)
{
    const struct fe_screen_conf *sc = fe->conf->screen;
    if ((c->sflags & FE_SF_ANVIL) && sc->anvil) {
        anvil_disconnect(sc->anvil, &c->akey, (int64_t)timer_clock_ms());
        fe_ledger_clear(fe->a->ledger, pool_index(&fe->conns, c)); /* after: fe_ledger.c */
    }
    if ((c->sflags & FE_SF_DNSBL) && fe->scr->ds)
        dnsbl_score_release(fe->scr->ds, &c->dreq);
    if (c->sflags & FE_SF_REPLY) {
        pool_put(&fe->scr->replies, (void *)(uintptr_t)c->final);
        c->final = NULL;
    }
    c->sflags = 0;
    fe_queues_leave(&fe->q, &c->qflags);
    fe_board_sync(fe);
}

/* ---- the loop ---- */

int64_t fe_screen_next_ms(struct fe *fe, int64_t t)
{
    if (!fe->scr || !fe->scr->dns)
        return t;
    int d = dns_next_timeout_ms(fe->scr->dns);
    if (d >= 0 && (t < 0 || d < t))
        t = d;
    return t;
}

void fe_screen_tick(struct fe *fe)
{
    if (fe->scr && fe->scr->dns)
        dns_timeout(fe->scr->dns);
}

bool fe_screen_timer(struct fe *fe, struct timer_node *n)
{
    struct fe_screen *s = fe->scr;
    if (!s || n != &s->sweep_timer)
        return false;
    const struct fe_screen_conf *sc = fe->conf->screen;
    int64_t now = (int64_t)time(NULL);
    uint64_t next = FE_SWEEP_CHECK_MS;
    if ((uint64_t)sc->cleanup_interval * 1000u < next)
        next = (uint64_t)sc->cleanup_interval * 1000u;
    if (!s->sweeping && screen_cache_sweep_due(s->cache, now, sc->cleanup_interval) == 1) {
        memset(&s->sweep, 0, sizeof(s->sweep));
        s->sweeping = true;
    }
    if (s->sweeping) {
        int r = screen_cache_sweep_step(s->cache, &s->sweep, sc->enabled, now, sc->retention,
                                        FE_SWEEP_BATCH);
        if (r == 1) {
            next = FE_SWEEP_GAP_MS;
        } else {
            if (r < 0)
                log_warn("postscreen_cache_map cleanup: %s", strerror(-r));
            s->sweeping = false;
        }
    }
    timer_wheel_add(&fe->tw, &s->sweep_timer, timer_clock_ms() + next);
    return true;
}
