/* test_policy.c - the session's policy callback through policy.h: each
 * stage's list, verdict mapping (reject/defer/discard/hold), Postfix's log
 * lines, smtpd_delay_reject chains (held verdict and lines, postmaster),
 * defer_if_permit carried between stages, DNS without a resolver, the
 * PENDING + done() path against a real (dead) resolver, and freeing a
 * session while its query is in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "policy.h"

/* ---- helpers -------------------------------------------------------------- */

struct fixture {
    struct config cfg;
    struct policy *p;
    struct policy_session *ps;
    struct session_peer peer;
    int done_calls;
    struct session_verdict done_v;
};

static void on_done(void *arg, const struct session_verdict *v)
{
    struct fixture *fx = arg;
    fx->done_calls++;
    fx->done_v = *v;
}

static void fx_open(struct fixture *fx, const char *maincf, struct dns_ctx *dns)
{
    struct cfg_diag d;
    char err[512];
    memset(fx, 0, sizeof(*fx));
    cfg_diag_init(&d);
    int rc = config_load_buf("/nonexistent", maincf, strlen(maincf), &fx->cfg, &d);
    if (rc != 0)
        fail_msg("config: %s", d.n ? d.v[0].text : "?");
    cfg_diag_free(&d);
    rc = policy_create(&fx->cfg, &fx->p, err, sizeof(err));
    if (rc != 0)
        fail_msg("policy_create: %s", err);
    fx->ps = policy_session_create(fx->p, dns, on_done, fx);
    assert_non_null(fx->ps);
    snprintf(fx->peer.name, sizeof(fx->peer.name), "unknown");
    snprintf(fx->peer.addr, sizeof(fx->peer.addr), "192.0.2.1");
    fx->peer.port = 40000;
    policy_session_client(fx->ps, &fx->peer, DNS_NAME_PERM, DNS_NAME_PERM, NULL);
}

static void fx_close(struct fixture *fx)
{
    policy_session_free(fx->ps);
    policy_free(fx->p);
    config_free(&fx->cfg);
}

static enum session_action check(struct fixture *fx, enum session_stage st, const char *helo,
                                 const char *sender, const char *rcpt,
                                 struct session_verdict *v)
{
    struct session_facts f = {
        .stage = st, .peer = &fx->peer, .helo = helo, .proto = helo ? "ESMTP" : "SMTP",
        .sender = sender, .recipient = rcpt,
    };
    return policy_session_check(fx->ps, &f, v);
}

/* stderr (the log sink of tests) captured into a file. */
static int saved_err = -1;
static char cap_path[64];

static void capture_start(void)
{
    snprintf(cap_path, sizeof(cap_path), "/tmp/test_policy.XXXXXX");
    int fd = mkstemp(cap_path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_err = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* Everything logged since capture_start() (static buffer). */
static const char *capture_end(void)
{
    static char buf[16384];
    fflush(stderr);
    dup2(saved_err, 2);
    close(saved_err);
    int fd = open(cap_path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    unlink(cap_path);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

#define BASE "compatibility_level = 3.6\nmynetworks = 127.0.0.0/8\nmydestination = example.com\n" \
             "relay_domains =\nsmtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"

/* ---- tests ------------------------------------------------------------------ */

static void test_create_error_names_param(void **state)
{
    (void)state;
    struct config cfg;
    struct cfg_diag d;
    struct policy *p = NULL;
    char err[512] = "";
    const char *maincf = "smtpd_helo_restrictions = permit, no_such_restriction\n";
    cfg_diag_init(&d);
    assert_int_equal(config_load_buf("/nonexistent", maincf, strlen(maincf), &cfg, &d), 0);
    assert_int_equal(policy_create(&cfg, &p, err, sizeof(err)), -EINVAL);
    assert_null(p);
    assert_non_null(strstr(err, "smtpd_helo_restrictions"));
    assert_non_null(strstr(err, "no_such_restriction"));
    config_free(&cfg);
    cfg_diag_free(&d);
}

/* smtpd_delay_reject = no: each stage answers for itself. */
static void test_stages_immediate(void **state)
{
    (void)state;
    struct fixture fx;
    struct session_verdict v;
    fx_open(&fx, BASE "smtpd_delay_reject = no\n"
                      "smtpd_client_restrictions = check_client_access static:OK\n"
                      "smtpd_helo_restrictions = defer\n"
                      "smtpd_sender_restrictions = check_sender_access static:HOLD\n"
                      "smtpd_data_restrictions = reject\n"
                      "smtpd_end_of_data_restrictions = check_client_access static:DISCARD\n"
                      "smtpd_etrn_restrictions = reject\n",
            NULL);
    assert_int_equal(check(&fx, SESSION_STAGE_CONNECT, NULL, NULL, NULL, &v), SESSION_PERMIT);

    capture_start();
    assert_int_equal(check(&fx, SESSION_STAGE_HELO, "h.example", NULL, NULL, &v), SESSION_DEFER);
    const char *log = capture_end();
    assert_int_equal(v.code, 450);
    assert_string_equal(v.dsn, "4.3.2");
    assert_string_equal(v.text, "<h.example>: Helo command rejected: Try again later");
    assert_non_null(strstr(log, "NOQUEUE: reject: HELO from unknown[192.0.2.1]: 450 4.3.2 "
                                "<h.example>: Helo command rejected: Try again later; "
                                "proto=ESMTP helo=<h.example>\n"));

    capture_start();
    assert_int_equal(check(&fx, SESSION_STAGE_MAIL, "h.example", "a@b.example", NULL, &v),
                     SESSION_HOLD);
    log = capture_end();
    assert_non_null(strstr(log, "NOQUEUE: hold: MAIL from unknown[192.0.2.1]: <a@b.example>: "
                                "Sender address triggers HOLD action; from=<a@b.example> "
                                "proto=ESMTP helo=<h.example>\n"));

    /* RCPT: the relay list denies a foreign domain, takes a local one. */
    capture_start();
    assert_int_equal(check(&fx, SESSION_STAGE_RCPT, "h.example", "a@b.example", "x@other.org", &v),
                     SESSION_REJECT);
    log = capture_end();
    assert_int_equal(v.code, 554);
    assert_string_equal(v.dsn, "5.7.1");
    assert_string_equal(v.text, "<x@other.org>: Relay access denied");
    assert_non_null(strstr(log, "NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 "
                                "<x@other.org>: Relay access denied; from=<a@b.example> "
                                "to=<x@other.org> proto=ESMTP helo=<h.example>\n"));
    assert_int_equal(check(&fx, SESSION_STAGE_RCPT, "h.example", "a@b.example", "u@example.com", &v),
                     SESSION_DUNNO);

    /* DATA names the only recipient; the queue ID replaces NOQUEUE. */
    policy_session_queue_id(fx.ps, "4AbCdEf");
    struct session_facts f = {
        .stage = SESSION_STAGE_DATA, .peer = &fx.peer, .helo = "h.example", .proto = "ESMTP",
        .sender = "a@b.example", .rcpt_count = 1,
    };
    capture_start();
    assert_int_equal(policy_session_check(fx.ps, &f, &v), SESSION_REJECT);
    log = capture_end();
    assert_string_equal(v.text, "<DATA>: Data command rejected: Access denied");
    assert_non_null(strstr(log, "4AbCdEf: reject: DATA from unknown[192.0.2.1]: 554 5.7.1 "
                                "<DATA>: Data command rejected: Access denied; from=<a@b.example> "
                                "to=<u@example.com> proto=ESMTP helo=<h.example>\n"));
    /* Two recipients: no to= (smtpd_check_data). */
    f.rcpt_count = 2;
    capture_start();
    assert_int_equal(policy_session_check(fx.ps, &f, &v), SESSION_REJECT);
    log = capture_end();
    assert_null(strstr(log, "to=<"));

    f.stage = SESSION_STAGE_EOD;
    f.rcpt_count = 1;
    assert_int_equal(policy_session_check(fx.ps, &f, &v), SESSION_DISCARD);
    /* Already discarded in this transaction: nothing new to report. */
    f.discard = 1;
    assert_int_equal(policy_session_check(fx.ps, &f, &v), SESSION_DUNNO);

    policy_session_queue_id(fx.ps, NULL);
    assert_int_equal(check(&fx, SESSION_STAGE_ETRN, "h.example", NULL, "example.com", &v),
                     SESSION_REJECT);
    assert_string_equal(v.text, "<example.com>: Etrn command rejected: Access denied");
    fx_close(&fx);
}

/* VRFY is smtpd_check_rcpt(); postmaster passes every list. */
static void test_vrfy_and_postmaster(void **state)
{
    (void)state;
    struct fixture fx;
    struct session_verdict v;
    fx_open(&fx, BASE "smtpd_delay_reject = no\n", NULL);
    assert_int_equal(check(&fx, SESSION_STAGE_VRFY, NULL, NULL, "x@other.org", &v), SESSION_REJECT);
    assert_string_equal(v.text, "<x@other.org>: Relay access denied");
    assert_int_equal(check(&fx, SESSION_STAGE_RCPT, NULL, "", "PostMaster", &v), SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_RCPT, NULL, "", "postmaster@other.org", &v),
                     SESSION_REJECT);
    fx_close(&fx);
}

/* reject_non_fqdn_helo_hostname accepts a non-ASCII (UTF-8) name only when
 * the client asked for SMTPUTF8 in its MAIL command, as Postfix's
 * valid_utf8_hostname(state->flags & SMTPD_FLAG_SMTPUTF8, ...) does. */
static void test_smtputf8_helo_name(void **state)
{
    (void)state;
    struct fixture fx;
    struct session_verdict v;
    fx_open(&fx, BASE "smtpd_delay_reject = no\n"
                      "smtpd_sender_restrictions = reject_non_fqdn_helo_hostname\n", NULL);
    const char *helo = "m\xc3\xbcller.example";
    struct session_facts f = {
        .stage = SESSION_STAGE_MAIL, .peer = &fx.peer, .helo = helo, .proto = "ESMTP",
        .sender = "a@b.example",
    };
    assert_int_equal(policy_session_check(fx.ps, &f, &v), SESSION_REJECT);
    assert_non_null(strstr(v.text, "need fully-qualified hostname"));
    f.smtputf8 = 1;
    assert_int_equal(policy_session_check(fx.ps, &f, &v), SESSION_DUNNO);
    fx_close(&fx);
}

/* smtpd_delay_reject = yes: a client reject is answered and logged at the
 * RCPT with the recipient, and not at all for postmaster. */
static void test_delay_reject_chain(void **state)
{
    (void)state;
    struct fixture fx;
    struct session_verdict v;
    fx_open(&fx, BASE "smtpd_client_restrictions = reject\n", NULL);

    capture_start();
    assert_int_equal(check(&fx, SESSION_STAGE_CONNECT, "h.example", "a@b.example", NULL, &v),
                     SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_HELO, "h.example", "a@b.example", NULL, &v),
                     SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_MAIL, "h.example", "a@b.example", NULL, &v),
                     SESSION_DUNNO);
    const char *log = capture_end();
    assert_string_equal(log, ""); /* held until the command is known */

    capture_start();
    assert_int_equal(check(&fx, SESSION_STAGE_RCPT, "h.example", "a@b.example", "u@example.com", &v),
                     SESSION_REJECT);
    log = capture_end();
    assert_int_equal(v.code, 554);
    assert_string_equal(v.text, "<unknown[192.0.2.1]>: Client host rejected: Access denied");
    assert_non_null(strstr(log, "NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 "
                                "<unknown[192.0.2.1]>: Client host rejected: Access denied; "
                                "from=<a@b.example> to=<u@example.com> proto=ESMTP "
                                "helo=<h.example>\n"));
    /* Exactly one line. */
    assert_null(strchr(strchr(log, '\n') + 1, '\n'));

    capture_start();
    assert_int_equal(check(&fx, SESSION_STAGE_CONNECT, "h.example", "a@b.example", NULL, &v),
                     SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_HELO, "h.example", "a@b.example", NULL, &v),
                     SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_MAIL, "h.example", "a@b.example", NULL, &v),
                     SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_RCPT, "h.example", "a@b.example", "Postmaster", &v),
                     SESSION_DUNNO);
    log = capture_end();
    assert_string_equal(log, "");

    /* ETRN chain: no to=, the command is ETRN. */
    capture_start();
    assert_int_equal(check(&fx, SESSION_STAGE_CONNECT, "h.example", NULL, NULL, &v), SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_HELO, "h.example", NULL, NULL, &v), SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_ETRN, "h.example", NULL, "example.com", &v),
                     SESSION_REJECT);
    log = capture_end();
    assert_non_null(strstr(log, "NOQUEUE: reject: ETRN from unknown[192.0.2.1]: 554 5.7.1 "
                                "<unknown[192.0.2.1]>: Client host rejected: Access denied; "
                                "proto=ESMTP helo=<h.example>\n"));
    fx_close(&fx);
}

/* Lines of the early stages come out at the RCPT in their order, as a
 * private Postfix 3.7.11 logged this very case:
 *   NOQUEUE: hold: RCPT from localhost[127.0.0.1]: <localhost[127.0.0.1]>:
 *   Client host triggers HOLD action; from=<a@b.example> to=<u@other.org>
 *   proto=ESMTP helo=<ok.example>
 * followed by the reject line. */
static void test_delay_reject_held_lines(void **state)
{
    (void)state;
    struct fixture fx;
    struct session_verdict v;
    fx_open(&fx, BASE "smtpd_client_restrictions = check_client_access static:HOLD, reject\n", NULL);
    capture_start();
    assert_int_equal(check(&fx, SESSION_STAGE_CONNECT, "ok.example", "a@b.example", NULL, &v),
                     SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_HELO, "ok.example", "a@b.example", NULL, &v),
                     SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_MAIL, "ok.example", "a@b.example", NULL, &v),
                     SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_RCPT, "ok.example", "a@b.example", "u@other.org", &v),
                     SESSION_REJECT);
    const char *log = capture_end();
    const char *hold = strstr(log, "NOQUEUE: hold: RCPT from unknown[192.0.2.1]: "
                                   "<unknown[192.0.2.1]>: Client host triggers HOLD action; "
                                   "from=<a@b.example> to=<u@other.org> proto=ESMTP "
                                   "helo=<ok.example>\n");
    const char *rej = strstr(log, "NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 "
                                  "<unknown[192.0.2.1]>: Client host rejected: Access denied; "
                                  "from=<a@b.example> to=<u@other.org> proto=ESMTP "
                                  "helo=<ok.example>\n");
    assert_non_null(hold);
    assert_non_null(rej);
    assert_true(hold < rej);
    fx_close(&fx);
}

/* warn_if_reject: a reject_warning line, no verdict. */
static void test_reject_warning(void **state)
{
    (void)state;
    struct fixture fx;
    struct session_verdict v;
    fx_open(&fx, BASE "smtpd_delay_reject = no\nsmtpd_client_restrictions = warn_if_reject, reject\n",
            NULL);
    capture_start();
    assert_int_equal(check(&fx, SESSION_STAGE_CONNECT, NULL, NULL, NULL, &v), SESSION_DUNNO);
    const char *log = capture_end();
    assert_non_null(strstr(log, "NOQUEUE: reject_warning: CONNECT from unknown[192.0.2.1]: 554 "
                                "5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied; "
                                "proto=SMTP\n"));
    fx_close(&fx);
}

/* defer_if_permit raised at one stage turns a later permit into a deferral. */
static void test_defer_if_permit_carried(void **state)
{
    (void)state;
    static const char *const delay[] = {"no", "yes"};
    for (int i = 0; i < 2; i++) {
        struct fixture fx;
        struct session_verdict v;
        char cf[1024];
        snprintf(cf, sizeof(cf),
                 BASE "smtpd_delay_reject = %s\nsmtpd_client_restrictions = defer_if_permit\n",
                 delay[i]);
        fx_open(&fx, cf, NULL);
        assert_int_equal(check(&fx, SESSION_STAGE_CONNECT, "h.example", i ? "a@b.example" : NULL,
                               NULL, &v),
                         SESSION_DUNNO);
        if (i) {
            assert_int_equal(check(&fx, SESSION_STAGE_HELO, "h.example", "a@b.example", NULL, &v),
                             SESSION_DUNNO);
            assert_int_equal(check(&fx, SESSION_STAGE_MAIL, "h.example", "a@b.example", NULL, &v),
                             SESSION_DUNNO);
        } else {
            assert_int_equal(check(&fx, SESSION_STAGE_MAIL, "h.example", "a@b.example", NULL, &v),
                             SESSION_DUNNO);
        }
        /* The relay list permits a local domain; the deferral wins. */
        assert_int_equal(check(&fx, SESSION_STAGE_RCPT, "h.example", "a@b.example",
                               "u@example.com", &v),
                         SESSION_DEFER);
        assert_int_equal(v.code, 450);
        assert_string_equal(v.text,
                            "<unknown[192.0.2.1]>: Client host rejected: defer_if_permit requested");
        /* A real reject is not softened. */
        assert_int_equal(check(&fx, SESSION_STAGE_CONNECT, "h.example", "a@b.example", NULL, &v),
                         SESSION_DUNNO);
        if (i) {
            assert_int_equal(check(&fx, SESSION_STAGE_MAIL, "h.example", "a@b.example", NULL, &v),
                             SESSION_DUNNO);
        }
        assert_int_equal(check(&fx, SESSION_STAGE_RCPT, "h.example", "a@b.example",
                               "x@other.org", &v),
                         SESSION_REJECT);
        assert_int_equal(v.code, 554);
        fx_close(&fx);
    }
}

/* Without a resolver, DNS-based checks fail temporarily: the deferral. */
static void test_dns_null_tempfail(void **state)
{
    (void)state;
    struct fixture fx;
    struct session_verdict v;
    fx_open(&fx, BASE "smtpd_delay_reject = no\n"
                      "smtpd_relay_restrictions =\n"
                      "smtpd_recipient_restrictions = reject_unknown_recipient_domain\n",
            NULL);
    capture_start();
    enum session_action a =
        check(&fx, SESSION_STAGE_RCPT, "h.example", "a@b.example", "u@nowhere.example", &v);
    const char *log = capture_end();
    assert_int_equal(a, SESSION_DEFER);
    assert_int_equal(v.code, 450);
    assert_string_equal(v.dsn, "4.1.2");
    assert_string_equal(v.text, "<u@nowhere.example>: Recipient address rejected: Domain not found");
    assert_non_null(strstr(log, "NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 450 4.1.2"));
    assert_int_equal(fx.done_calls, 0);
    fx_close(&fx);
}

/* ---- a real resolver that never answers usefully ---------------------------- */

static struct dns_ctx *dead_resolver(void)
{
    struct dns_ctx *dns = NULL;
    struct dns_opts o = {.servers = "127.0.0.1:9", .timeout_ms = 400, .try_ms = 100, .tries = 1};
    assert_int_equal(dns_open(&o, &dns), 0);
    return dns;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The worker loop in small: poll c-ares's sockets, process, time out,
 * until cond() or 3 seconds. */
static void drive(struct dns_ctx *dns, int (*cond)(void *), void *arg)
{
    long end = now_ms() + 3000;
    while (!cond(arg) && now_ms() < end) {
        struct pollfd pfd[8];
        size_t n = dns_fds(dns, pfd, 8);
        int t = dns_next_timeout_ms(dns);
        if (t < 0 || t > 50)
            t = 50;
        int rc = poll(pfd, n < 8 ? n : 8, t);
        if (rc > 0) {
            for (size_t i = 0; i < n && i < 8; i++)
                if (pfd[i].revents)
                    dns_process(dns, pfd[i].fd, (pfd[i].revents & ~POLLOUT) != 0,
                                (pfd[i].revents & POLLOUT) != 0);
        }
        dns_timeout(dns);
    }
}

static int done_seen(void *arg)
{
    return ((struct fixture *)arg)->done_calls > 0;
}

static int dns_idle(void *arg)
{
    return dns_inflight(arg) == 0;
}

static void test_pending_then_done(void **state)
{
    (void)state;
    struct dns_ctx *dns = dead_resolver();
    struct fixture fx;
    struct session_verdict v;
    fx_open(&fx, BASE "smtpd_delay_reject = no\n"
                      "smtpd_relay_restrictions =\n"
                      "smtpd_recipient_restrictions = reject_unknown_recipient_domain\n",
            dns);
    capture_start();
    assert_int_equal(check(&fx, SESSION_STAGE_RCPT, "h.example", "a@b.example",
                           "u@nowhere.example", &v),
                     SESSION_PENDING);
    assert_true(policy_session_pending(fx.ps));
    assert_int_equal(fx.done_calls, 0); /* never from inside the check */
    drive(dns, done_seen, &fx);
    const char *log = capture_end();
    assert_int_equal(fx.done_calls, 1);
    assert_false(policy_session_pending(fx.ps));
    assert_int_equal(fx.done_v.action, SESSION_DEFER);
    assert_int_equal(fx.done_v.code, 450);
    assert_string_equal(fx.done_v.text,
                        "<u@nowhere.example>: Recipient address rejected: Domain not found");
    assert_non_null(strstr(log, "to=<u@nowhere.example>"));

    /* A delayed chain: the early stage's query ends in DUNNO via done(),
     * its reject arrives with the RCPT. */
    fx_close(&fx);
    fx_open(&fx, BASE "smtpd_sender_restrictions = reject_unknown_sender_domain\n", dns);
    assert_int_equal(check(&fx, SESSION_STAGE_CONNECT, "h.example", "a@nowhere.example", NULL, &v),
                     SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_HELO, "h.example", "a@nowhere.example", NULL, &v),
                     SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_MAIL, "h.example", "a@nowhere.example", NULL, &v),
                     SESSION_PENDING);
    drive(dns, done_seen, &fx);
    assert_int_equal(fx.done_calls, 1);
    assert_int_equal(fx.done_v.action, SESSION_DUNNO);
    assert_int_equal(check(&fx, SESSION_STAGE_RCPT, "h.example", "a@nowhere.example",
                           "u@example.com", &v),
                     SESSION_DEFER);
    assert_int_equal(v.code, 450);
    assert_string_equal(v.text, "<a@nowhere.example>: Sender address rejected: Domain not found");
    fx_close(&fx);
    drive(dns, dns_idle, dns);
    dns_close(dns);
}

static void test_free_while_pending(void **state)
{
    (void)state;
    struct dns_ctx *dns = dead_resolver();
    struct fixture fx;
    struct session_verdict v;
    fx_open(&fx, BASE "smtpd_delay_reject = no\n"
                      "smtpd_relay_restrictions =\n"
                      "smtpd_recipient_restrictions = reject_unknown_recipient_domain\n",
            dns);
    assert_int_equal(check(&fx, SESSION_STAGE_RCPT, "h.example", "a@b.example",
                           "u@nowhere.example", &v),
                     SESSION_PENDING);
    policy_session_free(fx.ps);
    fx.ps = NULL;
    /* The query finishes (or expires) later: no callback into freed memory. */
    drive(dns, dns_idle, dns);
    assert_int_equal(fx.done_calls, 0);
    fx_close(&fx);
    dns_close(dns);
}

int main(void)
{
    log_init("mxscreen/smtpd", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_error_names_param),
        cmocka_unit_test(test_stages_immediate),
        cmocka_unit_test(test_vrfy_and_postmaster),
        cmocka_unit_test(test_smtputf8_helo_name),
        cmocka_unit_test(test_delay_reject_chain),
        cmocka_unit_test(test_delay_reject_held_lines),
        cmocka_unit_test(test_reject_warning),
        cmocka_unit_test(test_defer_if_permit_carried),
        cmocka_unit_test(test_dns_null_tempfail),
        cmocka_unit_test(test_pending_then_done),
        cmocka_unit_test(test_free_while_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
