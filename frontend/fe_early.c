/*
 * fe_early.c - the frontend's early client screening steps (fe_early.h):
 *
 *   start  (after the DNSBL step) the client's PTR lookup with forward
 *          confirmation (lib/dns.h dns_client, as smtpd_peer.c resolves a
 *          client) is sent on the frontend's resolver; it runs while the
 *          greet wait and the DNSBL queries run. Each of its two steps is
 *          bounded by postscreen_dnsbl_timeout; a lookup that times out is
 *          Postfix's temporary failure.
 *   judge  (after the greet wait) waits for the lookup if it is still out,
 *          then, unless an enforced postscreen test already decided,
 *          evaluates smtpd_client_restrictions with the workers' engine on
 *          the client's address and names. A definite final 5xx reject
 *          (fe_early_judge_result) sends the client to the enforce engine
 *          in smtpd mode (fe_dummy.c): the reply at RCPT with
 *          smtpd_delay_reject = yes, at connect without it, logged as
 *          smtpd logs it. Anything else hands off.
 *   helo   (fe_deep.c, when the deep tests see HELO/EHLO) evaluates
 *          smtpd_client_restrictions then smtpd_helo_restrictions on the
 *          HELO argument as the worker would (fe_early_evaluate_helo);
 *          the caller acts on a definite final 5xx as smtpd does at that
 *          point of the session.
 *   fill   the handoff record carries Postfix's name_status,
 *          reverse_status and the PTR name: the worker does not look the
 *          client up again (workers/conn.c conn_start).
 *
 * Per connection: a small state from a pool (the PTR name and its codes)
 * and, only on a reject, a reply buffer from a second pool; both go back
 * at close or when the connection is tarpitted.
 *
 * Failure: fail open. No pool object, no resolver, a full resolver: no
 * lookup here (the record says UNCHECKED and the worker looks the client
 * up itself); a walk that needs DNS or a reply buffer missing: hand off.
 */
#include "fe_early.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fe_screen.h"
#include "log.h"
#include "maps.h"

struct fe_early_state {
    uint8_t name_code, reverse_code; /* enum handoff_peer; UNCHECKED until in */
    bool pending;                    /* the lookup is out */
    bool waiting;                    /* the judge step waits for it */
    char *reply;                     /* "CODE D.D.D text\r\n" on a reject */
    char ptr[DNS_NAME_MAX + 1];
};

#define FE_EARLY_REPLY_MAX (RESTRICT_REPLY_MAX + 2)

static struct {
    bool tried, ok;
    struct fe *fe; /* the lookup's callback has only the connection */
    struct pool states, replies;
} E;

/* Pools and, when no DNSBL test opened it, the resolver: made on first
 * use, in the frontend process (after fork). */
static bool ready(struct fe *fe)
{
    if (E.tried)
        return E.ok;
    E.tried = true;
    E.fe = fe;
    uint32_t n = fe->conf->pool_size;
    int r = pool_init(&E.states, "early client states", sizeof(struct fe_early_state), n);
    if (r == 0) {
        r = pool_init(&E.replies, "early client replies", FE_EARLY_REPLY_MAX, n);
        if (r < 0)
            pool_destroy(&E.states);
    }
    if (r == 0 && !fe->scr->dns) {
        r = fe_screen_dns_open(fe, n);
        if (r < 0) {
            fe->scr->dns = NULL;
            pool_destroy(&E.states);
            pool_destroy(&E.replies);
        }
    }
    if (r < 0)
        log_warn("cannot start the client name lookup: %s -- the workers make it", strerror(-r));
    E.ok = r == 0;
    return E.ok;
}

static void conn_sa(const struct fe_conn *c, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (c->client.family == AF_INET) {
        struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(c->client.port)};
        memcpy(&s4.sin_addr, c->client.addr, 4);
        memcpy(ss, &s4, sizeof(s4));
    } else {
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(c->client.port),
                                  .sin6_scope_id = c->client.scope};
        memcpy(&s6.sin6_addr, c->client.addr, 16);
        memcpy(ss, &s6, sizeof(s6));
    }
}

/* What the record may carry: 1..255 of [A-Za-z0-9._-] (handoff.h). */
static bool record_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > HANDOFF_PTR_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

void fe_early_namaddr(const struct fe_conn *c, char *name, size_t nlen, char *addr, size_t alen)
{
    const struct fe_early_state *s = c->early;
    snprintf(name, nlen, "%s",
             s && !s->pending && s->name_code == HANDOFF_PEER_OK ? s->ptr : "unknown");
    if (!inet_ntop(c->client.family, c->client.addr, addr, (socklen_t)alen))
        snprintf(addr, alen, "?");
}

unsigned fe_early_ehlo_discard(const struct fe *fe, const struct fe_conn *c)
{
    const struct fe_early_conf *e = fe->conf->early;
    char addr[INET6_ADDRSTRLEN], buf[1024];
    struct map_value v = {.buf = buf, .cap = sizeof(buf)};
    if (!e->n_ehlo_maps || !inet_ntop(c->client.family, c->client.addr, addr, sizeof(addr)))
        return e->ehlo.discard;
    /* ehlo_cmd(): maps_find() on the address string alone; a lookup error
     * leaves the global list, as the worker does (generation.c). */
    for (size_t i = 0; i < e->n_ehlo_maps; i++) {
        int r = map_lookup(e->ehlo_maps[i], addr, strlen(addr), &v);
        if (r < 0) {
            log_warn("smtpd_discard_ehlo_keyword_address_maps lookup error for %s: %s", addr,
                     strerror(-r));
            break;
        }
        if (r > 0)
            return ehlo_reply_mask_text(v.buf, v.len);
    }
    return e->ehlo.discard;
}

void fe_early_namaddr_str(const struct fe_conn *c, char *out, size_t len)
{
    char name[DNS_NAME_MAX + 1], addr[INET6_ADDRSTRLEN];
    fe_early_namaddr(c, name, sizeof(name), addr, sizeof(addr));
    snprintf(out, len, "%s[%s]", name, addr);
}

static void on_client(void *arg, const struct dns_client_result *r)
{
    struct fe_conn *c = arg;
    struct fe_early_state *s = c->early;
    if (!s)
        return;
    s->pending = false;
    s->reverse_code = (uint8_t)fe_early_reverse_code(r->status);
    s->name_code = (uint8_t)fe_early_name_code(r->status);
    if (s->reverse_code == HANDOFF_PEER_OK) {
        if (record_name(r->name)) {
            snprintf(s->ptr, sizeof(s->ptr), "%s", r->name);
        } else { /* cannot travel: the worker looks it up */
            s->reverse_code = s->name_code = HANDOFF_PEER_UNCHECKED;
        }
    }
    if (s->reverse_code != HANDOFF_PEER_UNCHECKED)
        c->tests_done |= HANDOFF_TEST_PTR;
    if (s->name_code == HANDOFF_PEER_FORGED) {
        char name[DNS_NAME_MAX + 1], addr[INET6_ADDRSTRLEN];
        fe_early_namaddr(c, name, sizeof(name), addr, sizeof(addr));
        /* smtpd_peer.c's words for the same finding. */
        log_warn("hostname %s does not resolve to address %s", s->ptr, addr);
    }
    if (s->waiting) {
        s->waiting = false;
        fe_conn_resume(E.fe, c);
    }
}

enum step_res fe_early_start(struct fe *fe, struct fe_conn *c)
{
    const struct fe_early_conf *ec = fe->conf->early;
    if (!ec || !ec->ptr || !ready(fe))
        return STEP_NEXT;
    struct fe_early_state *s = pool_get(&E.states);
    if (!s)
        return STEP_NEXT;
    memset(s, 0, sizeof(*s));
    struct sockaddr_storage ss;
    conn_sa(c, &ss);
    c->early = s;
    s->pending = true;
    if (dns_client(fe->scr->dns, (const struct sockaddr *)&ss, ec->timeout_ms, on_client, c) < 0) {
        c->early = NULL; /* resolver full: the worker looks the client up */
        pool_put(&E.states, s);
    }
    return STEP_NEXT;
}

/* The client as the lookup left it (s done and checked). */
static void client_of(const struct fe_conn *c, const struct fe_early_conf *ec, char *addr,
                      size_t alen, struct fe_early_client *cl)
{
    const struct fe_early_state *s = c->early;
    char name[DNS_NAME_MAX + 1];
    fe_early_namaddr(c, name, sizeof(name), addr, alen);
    *cl = (struct fe_early_client){.addr = addr,
                                   .ptr = s->reverse_code == HANDOFF_PEER_OK ? s->ptr : "",
                                   .name_code = (enum handoff_peer)s->name_code,
                                   .reverse_code = (enum handoff_peer)s->reverse_code,
                                   .delay_reject = ec->delay_reject};
}

enum step_res fe_early_judge(struct fe *fe, struct fe_conn *c)
{
    const struct fe_early_conf *ec = fe->conf->early;
    struct fe_early_state *s = c->early;
    if (!s || (c->flags & FE_F_NOFORWARD))
        return STEP_NEXT; /* an enforced postscreen test decided already */
    if (s->pending) {
        s->waiting = true;
        return STEP_WAIT;
    }
    if (!ec->client || s->reverse_code == HANDOFF_PEER_UNCHECKED)
        return STEP_NEXT;
    /* Postfix answers a client rejected at connect instead of its 220;
     * once our 220- line went out that cannot be said any more. */
    if (!ec->delay_reject && (c->flags & FE_F_TEASER))
        return STEP_NEXT;

    char addr[INET6_ADDRSTRLEN];
    struct fe_early_client cl;
    client_of(c, ec, addr, sizeof(addr), &cl);
    static struct restrict_state st; /* ~10 KB: one walk at a time, never suspended */
    struct restrict_verdict v;
    enum fe_early_outcome o = fe_early_evaluate(ec->ctx, ec->client, &cl, &st, &v);
    c->tests_done |= HANDOFF_TEST_CLIENT_REGEX;
    if (o != FE_EARLY_REJECT)
        return STEP_NEXT;
    s->reply = pool_get(&E.replies);
    if (!s->reply)
        return STEP_NEXT;
    int n = snprintf(s->reply, FE_EARLY_REPLY_MAX, "%.*s\r\n", RESTRICT_REPLY_MAX - 1, v.reply);
    c->tests_failed |= HANDOFF_TEST_CLIENT_REGEX;
    fe->st.client_reject++;
    c->flags |= FE_F_NOFORWARD | FE_F_SMTPD;
    c->final = s->reply;
    c->final_len = (uint16_t)(n > 0 ? n : 0);
    return STEP_NEXT;
}

enum fe_early_outcome fe_early_helo(struct fe *fe, struct fe_conn *c, const char *helo, bool esmtp,
                                    const char **reply, size_t *len)
{
    const struct fe_early_conf *ec = fe->conf->early;
    struct fe_early_state *s = c->early;
    *reply = NULL;
    *len = 0;
    if (!ec || !ec->helo || !s || s->pending || s->reverse_code == HANDOFF_PEER_UNCHECKED)
        return FE_EARLY_HANDOFF;
    char addr[INET6_ADDRSTRLEN];
    struct fe_early_client cl;
    client_of(c, ec, addr, sizeof(addr), &cl);
    static struct restrict_state st; /* as in fe_early_judge */
    struct restrict_verdict v;
    enum fe_early_outcome o =
        fe_early_evaluate_helo(ec->ctx, ec->client, ec->helo, &cl, helo, esmtp, &st, &v);
    c->tests_done |= HANDOFF_TEST_HELO;
    c->tests_failed &= ~HANDOFF_TEST_HELO; /* a new HELO is judged afresh */
    if (o != FE_EARLY_REJECT)
        return o;
    if (!s->reply)
        s->reply = pool_get(&E.replies);
    if (!s->reply)
        return FE_EARLY_HANDOFF;
    int n = snprintf(s->reply, FE_EARLY_REPLY_MAX, "%.*s\r\n", RESTRICT_REPLY_MAX - 1, v.reply);
    c->tests_failed |= HANDOFF_TEST_HELO;
    fe->st.helo_reject++;
    *reply = s->reply;
    *len = n > 0 ? (size_t)n : 0;
    return FE_EARLY_REJECT;
}

void fe_early_fill(const struct fe_conn *c, struct handoff *h)
{
    const struct fe_early_state *s = c->early;
    if (!s || s->pending || s->reverse_code == HANDOFF_PEER_UNCHECKED)
        return;
    h->reverse_status = (enum handoff_peer)s->reverse_code;
    h->name_status = (enum handoff_peer)s->name_code;
    if (s->reverse_code == HANDOFF_PEER_OK)
        snprintf(h->ptr_name, sizeof(h->ptr_name), "%s", s->ptr);
}

void fe_early_release(struct fe *fe, struct fe_conn *c)
{
    struct fe_early_state *s = c->early;
    if (!s)
        return;
    if (s->pending && fe->scr && fe->scr->dns)
        dns_forget(fe->scr->dns, c);
    if (s->reply) {
        if (c->final == s->reply) {
            c->final = NULL;
            c->final_len = 0;
        }
        pool_put(&E.replies, s->reply);
    }
    pool_put(&E.states, s);
    c->early = NULL;
}
