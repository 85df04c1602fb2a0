/*
 * fe_conn.c - one connection in the frontend: accept, the screening step
 * list, the greet wait, the actions of a failed test and the conclusion.
 *
 * Steps run in postscreen's order; each returns NEXT (go on), WAIT (an
 * event or a timer will call fe_conn_advance again) or END (the
 * connection was closed or taken over by an action):
 *   1. fe_screen.c: the connection count and rate limits (anvil) and
 *      postscreen_post_queue_limit, for every client (as postscreen);
 *   2. access list (postscreen_access_list): permit hands off at once
 *      (ALLOWLISTED), reject applies postscreen_denylist_action;
 *   3-4. fe_screen.c: the screening cache (PASS OLD skips the rest), the
 *      DNSBL queries (sent there, judged when the greet wait ends);
 *   5. early tests: the "220-" teaser and the greet wait, during which a
 *      client that talks is a PREGREET. The wait also runs, without the
 *      teaser and without reading, when only DNSBL answers are awaited;
 *      it then ends as soon as they are in.
 * Then the conclusion: a client that failed an enforced test goes to the
 * enforce engine (fe_dummy.c); one that erred (a failed test whose action
 * is ignore) sleeps smtpd_error_sleep_time; the rest is handed to a
 * worker, or held up to FE_HOLD_MS when every worker is full, then 421.
 *
 * Deliberate difference to postscreen: a test whose action is "ignore"
 * is not run at all when nothing else needs its wait, so the default
 * (postscreen_greet_action = ignore) hands a client over at once, without
 * a greet delay.
 *
 * Actions: ignore (count one error, go on), enforce (enforce engine:
 * reject every RCPT with the test's reply), drop (the 521 reply and
 * close), tarpit (mxscreen: drip a 220- line at
 * postscreen_tarpit_byte_rate for postscreen_tarpit_time, then
 * postscreen_tarpit_reply and close).
 *
 * Stress: when the pool is 90% full the frontend enters postscreen's
 * stress mode (the ${stress?...} values: a shorter greet wait), and leaves
 * it at 50%, logging "entering/leaving STRESS mode with N connections".
 *
 * Failure: nothing here is fatal. A client that leaves is logged HANGUP;
 * a full pool gets "421 4.3.2 All screening ports are busy".
 */
#include "fe_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fe_early.h"
#include "log.h"
#include "maillog.h"
#include "pregreet.h"
#include "tarpit.h"

#define S(x) x, sizeof(x) - 1
static const char busy_screen[] = "421 4.3.2 All screening ports are busy\r\n";
static const char busy_server[] = "421 4.3.2 All server ports are busy\r\n";
static const char shutting[] = "421 4.3.2 Service shutting down\r\n";
static const char dn_drop[] = "521 5.3.2 Service currently unavailable\r\n";
static const char dn_enforce[] = "550 5.3.2 Service currently unavailable\r\n";
static const char pg_drop[] = "521 5.5.1 Protocol error\r\n";
static const char pg_enforce[] = "550 5.5.1 Protocol error\r\n";

#define FE_HOLD_RETRY_MS 100u
#define PSC_READ_BUF_SIZE 1024

static void advance(struct fe *fe, struct fe_conn *c);

/* ---- small helpers ---- */

static void ep_from(struct fe_ep *e, const struct sockaddr_storage *ss)
{
    memset(e, 0, sizeof(*e));
    if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 s6;
        memcpy(&s6, ss, sizeof(s6));
        e->port = ntohs(s6.sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr)) { /* as Postfix: plain IPv4 */
            e->family = AF_INET;
            memcpy(e->addr, &s6.sin6_addr.s6_addr[12], 4);
        } else {
            e->family = AF_INET6;
            e->scope = s6.sin6_scope_id;
            memcpy(e->addr, &s6.sin6_addr, 16);
        }
    } else {
        struct sockaddr_in s4;
        memcpy(&s4, ss, sizeof(s4));
        e->family = AF_INET;
        e->port = ntohs(s4.sin_port);
        memcpy(e->addr, &s4.sin_addr, 4);
    }
}

static void client_str(const struct fe_conn *c, char *buf, size_t len)
{
    fe_ep_format(&c->client, buf, len);
}

static void addr_str(const struct fe_conn *c, char *buf, size_t len)
{
    if (!inet_ntop(c->client.family, c->client.addr, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

static void elapsed(const struct fe_conn *c, char *buf, size_t len)
{
    uint64_t now = timer_clock_ms();
    maillog_format_delay(buf, len, (now - c->start_ms) * 1000u);
}

void fe_conn_say(struct fe_conn *c, const char *text, size_t len)
{
    /* Short replies on a socket whose buffer we never fill: never blocks;
     * MSG_DONTWAIT anyway, a client must not stall the frontend. Held log
     * lines first (frontend.c). */
    log_flush();
    ssize_t n = send(c->fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n;
}

void fe_conn_log_disconnect(struct fe_conn *c)
{
    char a[80];
    client_str(c, a, sizeof(a));
    log_info("DISCONNECT %s", a);
}

static void poll_arm(struct fe *fe, struct fe_conn *c)
{
    if (c->flags & FE_F_POLL)
        return;
    struct io_uring_sqe *sqe = fe_sqe(fe);
    io_uring_prep_poll_add(sqe, c->fd, POLLIN | POLLRDHUP);
    io_uring_sqe_set_data64(sqe, ring_ud_for(FE_OP_CONN_POLL, &fe->conns, c));
    c->flags |= FE_F_POLL;
}

static void poll_cancel(struct fe *fe, struct fe_conn *c)
{
    if (!(c->flags & FE_F_POLL))
        return;
    struct io_uring_sqe *sqe = fe_sqe(fe);
    io_uring_prep_cancel64(sqe, ring_ud_for(FE_OP_CONN_POLL, &fe->conns, c), 0);
    io_uring_sqe_set_data64(sqe, ring_ud(FE_OP_IGNORE, 0, 0));
    c->flags &= ~FE_F_POLL;
}

/*
 * The object goes back to the pool at once: requests still in flight
 * (a poll, a drip) write nothing into it, and their completions carry the
 * old generation and are dropped. The socket itself is released by the
 * kernel when the cancelled poll lets go of it.
 */
void fe_conn_close(struct fe *fe, struct fe_conn *c)
{
    fe_screen_release(fe, c);
    fe_early_release(fe, c);
    timer_wheel_cancel(&fe->tw, &c->timer);
    poll_cancel(fe, c);
    if (c->dummy)
        pool_put(&fe->dummies, c->dummy);
    if (c->deep)
        pool_put(&fe->deeps, c->deep);
    if ((c->flags & FE_F_HANDED) && (fe->ring.uring.features & IORING_FEAT_CQE_SKIP)) {
        /* The worker holds the socket now: closing our copy is nothing
         * the client sees, so it goes as an io_uring close with the loop
         * pass's other I/O instead of a system call of its own, and posts
         * no completion when it succeeds (a kernel without CQE_SKIP takes
         * close(2) below: a failed SQE there would leak the descriptor).
         * A/B: bench/relay/README.md, wave 11. */
        struct io_uring_sqe *sqe = fe_sqe(fe);
        io_uring_prep_close(sqe, c->fd);
        io_uring_sqe_set_data64(sqe, ring_ud(FE_OP_IGNORE, 0, 0));
        io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
    } else if (c->flags & FE_F_HANDED) {
        close(c->fd);
    } else {
        log_flush(); /* the client sees the close: its lines first (frontend.c) */
        /* Unread input at close(2) makes a reset that can destroy our
         * last reply at the client: end our side, then discard input. */
        shutdown(c->fd, SHUT_WR);
        char sink[2048];
        for (int i = 0; i < 4 && recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
            ;
        close(c->fd);
    }
    pool_put(&fe->conns, c);
    fe_stats_changed(fe);
    uint32_t n = pool_in_use(&fe->conns);
    if (fe->stress && n <= fe->conf->pool_size / 2) {
        fe->stress = false;
        log_info("leaving STRESS mode with %u connections", n);
    }
}

static void hangup(struct fe *fe, struct fe_conn *c, const char *where)
{
    char a[80], t[32];
    client_str(c, a, sizeof(a));
    elapsed(c, t, sizeof(t));
    log_info("HANGUP after %s from %s in %s", t, a, where);
    fe->st.hangup++;
    log_info("DISCONNECT %s", a);
    fe_conn_close(fe, c);
}

void fe_conn_finish(struct fe *fe, struct fe_conn *c, const char *reply, size_t len)
{
    fe_conn_say(c, reply, len);
    fe_conn_log_disconnect(c);
    fe_conn_close(fe, c);
}

/* ---- tarpit ---- */

static void tarpit_tick(struct fe *fe, struct fe_conn *c)
{
    const struct fe_conf *cf = fe->conf;
    uint64_t now = timer_clock_ms();
    uint64_t end = c->phase_ms + cf->tarpit_ms;
    if (now >= end) {
        if (c->flags & FE_F_SEND) { /* let the byte in flight go first */
            timer_wheel_add(&fe->tw, &c->timer, now + 1);
            return;
        }
        char a[80], t[32];
        client_str(c, a, sizeof(a));
        elapsed(c, t, sizeof(t));
        log_info("TARPIT END after %s from %s: %u bytes", t, a, c->dripped);
        if (c->drip_off != 0) /* end the line the drip was in */
            fe_conn_say(c, "\r\n", 2);
        fe_conn_finish(fe, c, cf->tarpit_reply, cf->tarpit_reply_len);
        return;
    }
    unsigned n = 0;
    uint64_t next;
    tarpit_plan(cf->tarpit_rate, c->phase_ms, c->dripped, now, 256, &n, &next);
    if (n > 0 && !(c->flags & FE_F_SEND)) {
        size_t left = cf->tarpit_drip_len - c->drip_off;
        size_t len = n < left ? n : left;
        struct io_uring_sqe *sqe = fe_sqe(fe);
        /* From the shared drip text: nothing per connection to keep. */
        io_uring_prep_send(sqe, c->fd, cf->tarpit_drip + c->drip_off, len, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, ring_ud_for(FE_OP_CONN_SEND, &fe->conns, c));
        c->flags |= FE_F_SEND;
    }
    if (next <= now)
        next = now + 1;
    timer_wheel_add(&fe->tw, &c->timer, next < end ? next : end);
}

static void tarpit_start(struct fe *fe, struct fe_conn *c)
{
    char a[80];
    client_str(c, a, sizeof(a));
    log_info("TARPIT %s for %llu s at %u bytes/s", a,
             (unsigned long long)(fe->conf->tarpit_ms / 1000u), fe->conf->tarpit_rate);
    fe->st.tarpitted++;
    fe_early_release(fe, c); /* a held bot keeps no more than it needs */
    timer_wheel_cancel(&fe->tw, &c->timer);
    c->state = FE_S_TARPIT;
    c->phase_ms = timer_clock_ms();
    c->dripped = 0;
    c->drip_off = 0;
    if (c->flags & FE_F_TEASER) /* the teaser is the first drip line */
        c->drip_off = 0;
    poll_arm(fe, c); /* to see it leave */
    tarpit_tick(fe, c);
}

/* ---- actions ---- */

enum step_res fe_conn_act(struct fe *fe, struct fe_conn *c, unsigned test, int action,
                          const char *drop, size_t drop_len, const char *enforce, size_t enf_len)
{
    c->tests_failed |= test;
    switch (action) {
    case PS_ACT_DROP:
        fe->st.dropped++;
        fe_conn_finish(fe, c, drop, drop_len);
        return STEP_END;
    case PS_ACT_ENFORCE:
        c->flags |= FE_F_NOFORWARD;
        if (!c->final) {
            c->final = enforce;
            c->final_len = (uint16_t)enf_len;
        }
        return STEP_NEXT;
    case PS_ACT_TARPIT:
        tarpit_start(fe, c);
        return STEP_END;
    default: /* ignore: the client goes on, with one error counted */
        c->errors++;
        return STEP_NEXT;
    }
}

/* ---- steps ---- */

static enum step_res step_access(struct fe *fe, struct fe_conn *c)
{
    if (!fe->conf->acl)
        return STEP_NEXT;
    char addr[INET6_ADDRSTRLEN], a[80];
    addr_str(c, addr, sizeof(addr));
    client_str(c, a, sizeof(a));
    c->tests_done |= HANDOFF_TEST_ACCESS_LIST;
    switch (fe_acl_eval(fe->conf->acl, addr)) {
    case FE_ACL_PERMIT:
        log_info("%sLISTED %s", fe->conf->respectful ? "ALLOW" : "WHITE", a);
        fe->st.allowlisted++;
        c->flags |= FE_F_ALLOWED;
        c->step = 0xff; /* skip every other test */
        return STEP_NEXT;
    case FE_ACL_REJECT:
        log_info("%sLISTED %s", fe->conf->respectful ? "DENY" : "BLACK", a);
        fe->st.denylisted++;
        return fe_conn_act(fe, c, HANDOFF_TEST_ACCESS_LIST, fe->conf->denylist_action, S(dn_drop),
                   S(dn_enforce));
    default:
        return STEP_NEXT;
    }
}

static enum step_res step_early(struct fe *fe, struct fe_conn *c)
{
    const struct fe_conf *cf = fe->conf;
    /* Skipped when ignored (see the file header) or passed in the cache,
     * unless the DNSBL answers are to be waited for. */
    if (!fe_screen_greet_needed(fe, c))
        return STEP_NEXT;
    bool pregr = (c->sflags & FE_SF_PREGR) != 0;
    if (pregr)
        c->tests_done |= HANDOFF_TEST_PREGREET;
    if (pregr && cf->teaser) {
        log_flush();
        ssize_t n = send(c->fd, cf->teaser, cf->teaser_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n != (ssize_t)cf->teaser_len) {
            hangup(fe, c, "tests before SMTP handshake");
            return STEP_END;
        }
        c->flags |= FE_F_TEASER;
    }
    c->state = FE_S_GREET;
    uint64_t wait = fe->stress ? cf->greet_wait_stress_ms : cf->greet_wait_ms;
    timer_wheel_add(&fe->tw, &c->timer, c->start_ms + wait);
    if (pregr) /* a DNS-only wait reads nothing, as postscreen's */
        poll_arm(fe, c);
    return STEP_WAIT;
}

/* postscreen's psc_service() order: the client's connection count and the
 * post-queue come before the access list, so an allowlisted client is
 * refused at connect like any other when the workers are backed up. */
static enum step_res (*const steps[])(struct fe *, struct fe_conn *) = {
    fe_screen_limits,
    step_access,
    fe_screen_cache,
    fe_screen_dnsbl,
    fe_early_start, /* PTR lookup: runs during the greet wait */
    step_early,
    fe_early_judge, /* waits for it; smtpd_client_restrictions */
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

/* The greet wait is over without a word from the client. */
static void greet_done(struct fe *fe, struct fe_conn *c)
{
    poll_cancel(fe, c);
    c->state = FE_S_SCREEN;
    if (c->sflags & FE_SF_PREGR) /* still set: the wait ran out in silence */
        fe->st.pregreet_pass++;
    if (fe_screen_greet_over(fe, c) == STEP_END)
        return;
    /* With deep tests to come, PASS NEW waits for them (fe_deep.c). */
    if (!(c->tests_failed & HANDOFF_TEST_PREGREET) && !(c->flags & FE_F_NOFORWARD) &&
        !c->tests_failed && !fe_deep_wanted(fe, c)) {
        char a[80];
        client_str(c, a, sizeof(a));
        log_info("PASS NEW %s", a);
        fe->st.pass_new++;
    }
    fe_screen_passed(fe, c);
    c->step++;
    advance(fe, c);
}

void fe_conn_resume(struct fe *fe, struct fe_conn *c)
{
    advance(fe, c);
}

void fe_conn_greet_end(struct fe *fe, struct fe_conn *c)
{
    timer_wheel_cancel(&fe->tw, &c->timer);
    greet_done(fe, c);
}

static void greet_input(struct fe *fe, struct fe_conn *c)
{
    unsigned char buf[PSC_READ_BUF_SIZE];
    ssize_t n = recv(c->fd, buf, sizeof(buf) - 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        poll_arm(fe, c);
        return;
    }
    if (n <= 0) {
        hangup(fe, c, "tests before SMTP handshake");
        return;
    }
    if (c->tests_failed & HANDOFF_TEST_PREGREET)
        return; /* already seen (enforce waits out the timer) */
    char a[80], t[32], text[PREGREET_TEXT_MAX + 1];
    client_str(c, a, sizeof(a));
    elapsed(c, t, sizeof(t));
    pregreet_escape(buf, (size_t)n, text, sizeof(text));
    log_info("PREGREET %zd after %s from %s: %s", n, t, a, text);
    fe->st.pregreet++;
    fe_stats_changed(fe);
    enum step_res r = fe_conn_act(fe, c, HANDOFF_TEST_PREGREET, fe->conf->greet_action, S(pg_drop),
                          S(pg_enforce));
    if (r == STEP_END)
        return;
    /* Conclude now, as postscreen does once every early test is done;
     * DNSBL answers still out are waited for (on_dnsbl ends the wait). */
    c->sflags &= (uint8_t)~FE_SF_PREGR;
    if ((c->sflags & FE_SF_DNSBL) && !(c->sflags & FE_SF_DNSBL_IN))
        return;
    timer_wheel_cancel(&fe->tw, &c->timer);
    greet_done(fe, c);
}

/* ---- conclusion ---- */

static void handoff_now(struct fe *fe, struct fe_conn *c)
{
    if (c->state == FE_S_DEEP)
        c->state = FE_S_SCREEN; /* a timer now means the hold's retry */
    poll_cancel(fe, c);
    int r = fe_workers_handoff(fe, c);
    if (r == 0) {
        c->flags |= FE_F_HANDED;
        fe_conn_close(fe, c);
        return;
    }
    uint64_t now = timer_clock_ms();
    if (c->state != FE_S_HOLD) {
        c->state = FE_S_HOLD;
        c->phase_ms = now;
    }
    if (r == -EAGAIN && now < c->phase_ms + FE_HOLD_MS && !fe->stopping) {
        timer_wheel_add(&fe->tw, &c->timer, now + FE_HOLD_RETRY_MS);
        return;
    }
    char a[80];
    client_str(c, a, sizeof(a));
    log_info("NOQUEUE: reject: CONNECT from %s: all server ports busy", a);
    fe->st.refused_busy++;
    fe_conn_say(c, S(busy_server));
    fe_conn_close(fe, c);
}

static void conclude(struct fe *fe, struct fe_conn *c)
{
    if (c->flags & FE_F_NOFORWARD) {
        fe_dummy_start(fe, c);
        return;
    }
    if (c->errors > 0 && fe->conf->error_sleep_ms > 0 && c->state != FE_S_SLEEP) {
        c->state = FE_S_SLEEP;
        timer_wheel_add(&fe->tw, &c->timer, timer_clock_ms() + fe->conf->error_sleep_ms);
        return;
    }
    if (fe_deep_wanted(fe, c)) {
        fe_deep_start(fe, c);
        return;
    }
    handoff_now(fe, c);
}

void fe_conn_handoff(struct fe *fe, struct fe_conn *c)
{
    handoff_now(fe, c);
}

static void advance(struct fe *fe, struct fe_conn *c)
{
    while (c->step < NSTEPS) {
        enum step_res r = steps[c->step](fe, c);
        if (r != STEP_NEXT)
            return;
        if (c->step < NSTEPS)
            c->step++;
    }
    conclude(fe, c);
}

/* ---- entry points ---- */

static void make_id(struct fe *fe, struct fe_conn *c)
{
    snprintf(c->id, sizeof(c->id), "%llX%05lX%04X", (unsigned long long)c->connect_real.tv_sec,
             (unsigned long)(c->connect_real.tv_nsec / 1000),
             (unsigned)(fe->id_counter++ & 0xffff));
}

void fe_conn_accepted(struct fe *fe, int fd, const struct sockaddr_storage *peer_in,
                      const struct sockaddr_storage *local_in)
{
    struct sockaddr_storage peer, local;
    socklen_t plen = sizeof(peer), llen = sizeof(local);
    fe->st.accepted++;
    fe_stats_changed(fe);
    /* Two system calls per connection saved where accept gave the client
     * and the listener has one local address (frontend.c). */
    if (peer_in) {
        peer = *peer_in;
    } else if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
        log_warn("getpeername: %s -- dropping this connection", strerror(errno));
        close(fd);
        return;
    }
    if (local_in) {
        local = *local_in;
    } else if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0) {
        log_warn("getsockname: %s -- dropping this connection", strerror(errno));
        close(fd);
        return;
    }
    struct fe_conn *c = pool_get(&fe->conns);
    if (!c) {
        struct fe_ep e;
        char a[80];
        ep_from(&e, &peer);
        fe_ep_format(&e, a, sizeof(a));
        /* postscreen's words when its pre-queue is full. */
        log_info("reject: connect from %s: all screening ports busy", a);
        fe->st.refused_pool++;
        log_flush();
        ssize_t n = send(fd, busy_screen, sizeof(busy_screen) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)n;
        close(fd);
        return;
    }
    /* postscreen's stress thresholds: on at 90% of the pre-queue (here the
     * pool), off again at 50%. */
    uint32_t n = pool_in_use(&fe->conns);
    if (!fe->stress && n >= (fe->conf->pool_size * 9u + 9u) / 10u) {
        fe->stress = true;
        log_info("entering STRESS mode with %u connections", n);
    }
    c->fd = fd;
    timer_node_init(&c->timer);
    c->start_ms = timer_clock_ms();
    clock_gettime(CLOCK_REALTIME, &c->connect_real);
    clock_gettime(CLOCK_MONOTONIC, &c->connect_mono);
    ep_from(&c->client, &peer);
    ep_from(&c->server, &local);
    make_id(fe, c);
    char a[80], b[80];
    client_str(c, a, sizeof(a));
    fe_ep_format(&c->server, b, sizeof(b));
    log_info("CONNECT from %s to %s", a, b);
    c->state = FE_S_SCREEN;
    advance(fe, c);
}

void fe_conn_timer(struct fe *fe, struct fe_conn *c)
{
    switch (c->state) {
    case FE_S_GREET: greet_done(fe, c); return;
    case FE_S_SLEEP: conclude(fe, c); return; /* the deep tests may follow */
    case FE_S_HOLD: handoff_now(fe, c); return;
    case FE_S_TARPIT: tarpit_tick(fe, c); return;
    case FE_S_DUMMY: fe_dummy_timeout(fe, c); return;
    case FE_S_DEEP: fe_deep_timeout(fe, c); return;
    default: return;
    }
}

void fe_conn_event(struct fe *fe, struct fe_conn *c, unsigned op, int res)
{
    if (op == FE_OP_CONN_SEND) {
        c->flags &= ~FE_F_SEND;
        if (res <= 0) {
            hangup(fe, c, "tarpit");
            return;
        }
        c->dripped += (uint32_t)res;
        c->drip_off = (uint16_t)((c->drip_off + (unsigned)res) % fe->conf->tarpit_drip_len);
        return;
    }
    c->flags &= ~FE_F_POLL;
    if (res == -ECANCELED)
        return;
    switch (c->state) {
    case FE_S_GREET: greet_input(fe, c); return;
    case FE_S_DUMMY: fe_dummy_input(fe, c); return;
    case FE_S_DEEP: fe_deep_input(fe, c); return;
    case FE_S_TARPIT: {
        char sink[2048]; /* what a tarpitted client says is not read, only discarded */
        ssize_t n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            hangup(fe, c, "tarpit");
        else
            poll_arm(fe, c);
        return;
    }
    default: return;
    }
}

void fe_conn_shutdown(struct fe *fe, struct fe_conn *c)
{
    fe_conn_say(c, S(shutting));
    fe_conn_close(fe, c);
}
