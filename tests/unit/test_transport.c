/* test_transport.c - transport(5) results (table-driven, with the manual's
 * examples and malformed values), the lookup order of trivial-rewrite
 * (full address, extension stripped, domain, parents in both
 * parent_domain_matches_subdomains styles, "*"), pattern tables asked only
 * the full address, relayhost as the default, and configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "transport.h"

/* The case tables leave trailing fields out: empty strings, false, 0. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct pcase {
    const char *value;
    const char *domain;
    int rc;
    enum transport_kind kind;
    const char *host;
    unsigned port;
    bool mx;
    const char *unix_path, *text, *more;
};

static const struct pcase pcases[] = {
    /* "do not change" */
    {"", "example.com", 1},
    {":", "example.com", 1},
    {"  :  ", "example.com", 1},
    /* transport(5) examples */
    {":[gateway.example.com]", "example.com", 0, TRANSPORT_SMTP, "gateway.example.com", 25, false},
    {"smtp:", "example.com", 0, TRANSPORT_SMTP, "example.com", 25, true},
    {"relay:", "example.com", 0, TRANSPORT_SMTP, "example.com", 25, true},
    {"smtp", "example.com", 0, TRANSPORT_SMTP, "example.com", 25, true},
    {"smtp:bar.example:2025", "example.com", 0, TRANSPORT_SMTP, "bar.example", 2025, true},
    {"smtp:[mail.example.com]", "x.example.com", 0, TRANSPORT_SMTP, "mail.example.com", 25, false},
    {"smtp:[mail.example.com]:2025", "example.com", 0, TRANSPORT_SMTP, "mail.example.com", 2025,
     false},
    {"smtp:bar.example, foo.example", "example.com", 0, TRANSPORT_SMTP, "bar.example", 25, true,
     "", "", "foo.example"},
    {"smtp:[a.example]:26 [b.example]:27", "example.com", 0, TRANSPORT_SMTP, "a.example", 26,
     false, "", "", "[b.example]:27"},
    {"error:mail for *.example.com is not deliverable", "example.com", 0, TRANSPORT_ERROR, "", 0,
     false, "", "mail for *.example.com is not deliverable"},
    {"smtp:[192.0.2.7]", "example.com", 0, TRANSPORT_SMTP, "192.0.2.7", 25, false},
    {"smtp:[IPv6:2001:db8::1]:587", "example.com", 0, TRANSPORT_SMTP, "2001:db8::1", 587, false},
    {"smtp:[ipv6:2001:db8::1]", "example.com", 0, TRANSPORT_SMTP, "2001:db8::1", 25, false},
    {"smtp:[2001:db8::1]:2525", "example.com", 0, TRANSPORT_SMTP, "2001:db8::1", 2525, false},
    {"smtp:mx.example:submission", "example.com", 0, TRANSPORT_SMTP, "mx.example", 587, true},
    {"smtp:mx.example:smtp", "example.com", 0, TRANSPORT_SMTP, "mx.example", 25, true},
    {"smtp:mx.example.", "example.com", 0, TRANSPORT_SMTP, "mx.example.", 25, true},
    /* LMTP */
    {"lmtp:unix:/run/dovecot/lmtp", "example.com", 0, TRANSPORT_LMTP, "", 0, false,
     "/run/dovecot/lmtp"},
    {"lmtp:unix:private/dovecot-lmtp", "example.com", 0, TRANSPORT_LMTP, "", 0, false,
     "private/dovecot-lmtp"},
    {"lmtp:inet:localhost:24", "example.com", 0, TRANSPORT_LMTP, "localhost", 24, false},
    {"lmtp:inet:[127.0.0.1]:2003", "example.com", 0, TRANSPORT_LMTP, "127.0.0.1", 2003, false},
    {"lmtp:[127.0.0.1]:2003", "example.com", 0, TRANSPORT_LMTP, "127.0.0.1", 2003, false},
    {"lmtp:mailstore.example", "example.com", 0, TRANSPORT_LMTP, "mailstore.example", 24, false},
    {"lmtp:", "example.com", 0, TRANSPORT_LMTP, "example.com", 24, false},
    /* error / retry / discard */
    {"error:5.1.1 user unknown", "example.com", 0, TRANSPORT_ERROR, "", 0, false, "",
     "5.1.1 user unknown"},
    {"error:", "example.com", 0, TRANSPORT_ERROR, "", 0, false, "", "Address is undeliverable"},
    {"error:5.7.1 see: http://x", "example.com", 0, TRANSPORT_ERROR, "", 0, false, "",
     "5.7.1 see: http://x"},
    {"retry:4.3.0 try later", "example.com", 0, TRANSPORT_RETRY, "", 0, false, "",
     "4.3.0 try later"},
    {"retry", "example.com", 0, TRANSPORT_RETRY, "", 0, false, "", "Address is undeliverable"},
    {"discard:", "sub.example.org", 0, TRANSPORT_DISCARD, "", 0, false, "", "sub.example.org"},
    {"discard:silently", "example.com", 0, TRANSPORT_DISCARD, "", 0, false, "", "silently"},
    /* nasty */
    {"local:", "example.com", -EINVAL},
    {"virtual:", "example.com", -EINVAL},
    {"SMTP:", "example.com", -EINVAL},
    {"smtp:", "", -EINVAL},
    {"smtp:[mail.example.com", "example.com", -EINVAL},
    {"smtp:[]", "example.com", -EINVAL},
    {"smtp:[]:587", "example.com", -EINVAL},
    {"smtp:[mail.example.com]x", "example.com", -EINVAL},
    {"smtp:[mail.example.com]:", "example.com", -EINVAL},
    {"smtp:host:", "example.com", -EINVAL},
    {"smtp:host:0", "example.com", -EINVAL},
    {"smtp:host:65536", "example.com", -EINVAL},
    {"smtp:host:123456", "example.com", -EINVAL},
    {"smtp:host:nosuchservice", "example.com", -EINVAL},
    {"smtp:2001:db8::1", "example.com", -EINVAL},
    {"smtp:[2001:db8::zz]", "example.com", -EINVAL},
    {"smtp:[IPv6:192.0.2.1]", "example.com", -EINVAL},
    {"smtp:bad..host", "example.com", -EINVAL},
    {"smtp:.host", "example.com", -EINVAL},
    {"smtp:ho$t", "example.com", -EINVAL},
    {":,", "example.com", -EINVAL},
    {"lmtp:unix:", "example.com", -EINVAL},
    {"[mail.example.com]", "example.com", -EINVAL}, /* split at the first ':': no transport */
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
        const struct pcase *c = &pcases[i];
        struct nexthop h;
        int rc = transport_parse_value(c->value, strlen(c->value), c->domain, &h);
        if (rc != c->rc)
            fail_msg("case %zu \"%s\": rc %d, want %d", i, c->value, rc, c->rc);
        if (rc != 0)
            continue;
        if (h.kind != c->kind || strcmp(h.host, c->host) != 0 || h.port != c->port || h.mx != c->mx
            || strcmp(h.unix_path, c->unix_path ? c->unix_path : "") != 0
            || strcmp(h.text, c->text ? c->text : "") != 0
            || strcmp(h.more, c->more ? c->more : "") != 0)
            fail_msg("case %zu \"%s\": kind %d host \"%s\" port %u mx %d unix \"%s\" text \"%s\" "
                     "more \"%s\"",
                     i, c->value, h.kind, h.host, h.port, h.mx, h.unix_path, h.text, h.more);
    }
}

static void test_parse_embedded_nul(void **state)
{
    (void)state;
    struct nexthop h;
    assert_int_equal(transport_parse_value("smtp:[a\0b]", 11, "example.com", &h), -EINVAL);
    assert_int_equal(transport_parse_value("error:x\0y", 9, "example.com", &h), -EINVAL);
    /* A long error text is cut, not refused. */
    char big[2000];
    memset(big, 'x', sizeof(big));
    memcpy(big, "error:", 6);
    assert_int_equal(transport_parse_value(big, sizeof(big), "example.com", &h), 0);
    assert_int_equal(strlen(h.text), sizeof(h.text) - 1);
}

/* ---- resolution ---------------------------------------------------------------- */

static struct transport *open_cf(const char *maincf, struct config *cfg)
{
    struct cfg_diag d;
    struct transport *t = NULL;
    char err[512];
    cfg_diag_init(&d);
    if (config_load_buf("/nonexistent", maincf, strlen(maincf), cfg, &d) != 0)
        fail_msg("config: %s", d.n ? d.v[0].text : "?");
    cfg_diag_free(&d);
    if (transport_create(cfg, &t, err, sizeof(err)) != 0)
        fail_msg("transport_create: %s", err);
    return t;
}

struct rcase {
    const char *rcpt;
    int rc;
    enum transport_kind kind;
    const char *host;
    unsigned port;
    bool mx;
    const char *detail; /* unix_path or text */
};

static void run_cases(struct transport *t, const struct rcase *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct nexthop h;
        int rc = transport_resolve(t, c[i].rcpt, &h);
        if (rc != c[i].rc)
            fail_msg("%s: rc %d, want %d", c[i].rcpt, rc, c[i].rc);
        if (rc != 0)
            continue;
        const char *detail = h.kind == TRANSPORT_LMTP ? h.unix_path : h.text;
        if (h.kind != c[i].kind || strcmp(h.host, c[i].host) != 0 || h.port != c[i].port
            || h.mx != c[i].mx || strcmp(detail, c[i].detail ? c[i].detail : "") != 0)
            fail_msg("%s: kind %d host \"%s\" port %u mx %d detail \"%s\"", c[i].rcpt, h.kind,
                     h.host, h.port, h.mx, detail);
    }
}

static void test_resolve_order(void **state)
{
    (void)state;
    struct config cfg;
    struct transport *t = open_cf(
        "myorigin = example.com\nrecipient_delimiter = +\nrelayhost = [relay.example]:587\n"
        "transport_maps = inline:{ {user+x@example.com=error:5.1.1 ext user}, "
        "user@example.com=smtp:[one.example], example.com=smtp:[two.example]:2525, "
        ".example.net=lmtp:unix:/run/lmtp, sub.example.org=discard:, bad.example=local:, "
        "keep.example=: , gw.example=:[gw.internal] }\n",
        &cfg);
    static const struct rcase c[] = {
        {"user+x@example.com", 0, TRANSPORT_ERROR, "", 0, false, "5.1.1 ext user"},
        {"user+y@example.com", 0, TRANSPORT_SMTP, "one.example", 25, false},
        {"user@example.com", 0, TRANSPORT_SMTP, "one.example", 25, false},
        {"USER@Example.COM", 0, TRANSPORT_SMTP, "one.example", 25, false},
        {"other@example.com", 0, TRANSPORT_SMTP, "two.example", 2525, false},
        {"postmaster", 0, TRANSPORT_SMTP, "two.example", 2525, false}, /* @$myorigin */
        {"x@a.b.example.net", 0, TRANSPORT_LMTP, "", 0, false, "/run/lmtp"},
        {"x@example.net", 0, TRANSPORT_SMTP, "relay.example", 587, false}, /* .example.net: subdomains only */
        {"x@sub.example.org", 0, TRANSPORT_DISCARD, "", 0, false, "sub.example.org"},
        {"x@bad.example", -EINVAL},
        {"x@keep.example", 0, TRANSPORT_SMTP, "relay.example", 587, false},
        {"x@gw.example", 0, TRANSPORT_SMTP, "gw.internal", 25, false},
        {"x@unlisted.org", 0, TRANSPORT_SMTP, "relay.example", 587, false},
        {"x@", -EINVAL},
    };
    run_cases(t, c, sizeof(c) / sizeof(c[0]));
    transport_free(t);
    config_free(&cfg);
}

static void test_parent_styles(void **state)
{
    (void)state;
    struct config cfg;
    /* Without transport_maps in parent_domain_matches_subdomains (the 3.x
     * default), "example.net" is that domain only. */
    struct transport *t = open_cf("transport_maps = inline:{ example.net=smtp:[p.example] }\n", &cfg);
    static const struct rcase dot[] = {
        {"x@example.net", 0, TRANSPORT_SMTP, "p.example", 25, false},
        {"x@a.example.net", 0, TRANSPORT_SMTP, "a.example.net", 25, true},
    };
    run_cases(t, dot, 2);
    transport_free(t);
    config_free(&cfg);

    t = open_cf("parent_domain_matches_subdomains = transport_maps\n"
                "transport_maps = inline:{ example.net=smtp:[p.example] }\n",
                &cfg);
    static const struct rcase parent[] = {
        {"x@example.net", 0, TRANSPORT_SMTP, "p.example", 25, false},
        {"x@a.b.example.net", 0, TRANSPORT_SMTP, "p.example", 25, false},
        {"x@example.org", 0, TRANSPORT_SMTP, "example.org", 25, true},
    };
    run_cases(t, parent, 3);
    transport_free(t);
    config_free(&cfg);
}

static void test_wildcard_and_patterns(void **state)
{
    (void)state;
    char path[] = "/tmp/test_transport.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    /* The second rule would match the domain key if Postfix asked pattern
     * tables for it: it does not. */
    const char *rx = "/^vip@/ smtp:[vip.example]\n/^example\\.com$/ smtp:[never.example]\n";
    assert_int_equal(write(fd, rx, strlen(rx)), (ssize_t)strlen(rx));
    close(fd);

    char cf[512];
    struct config cfg;
    snprintf(cf, sizeof(cf), "transport_maps = regexp:%s, inline:{ *=:[wild.example]:26 }\n", path);
    struct transport *t = open_cf(cf, &cfg);
    static const struct rcase c[] = {
        {"vip@example.com", 0, TRANSPORT_SMTP, "vip.example", 25, false},
        {"other@example.com", 0, TRANSPORT_SMTP, "wild.example", 26, false},
    };
    run_cases(t, c, 2);
    transport_free(t);
    config_free(&cfg);

    /* "*" with "smtp:" goes to each recipient's own domain, past relayhost. */
    t = open_cf("relayhost = relay.example\ntransport_maps = inline:{ *=smtp: }\n", &cfg);
    static const struct rcase c2[] = {{"a@b.example", 0, TRANSPORT_SMTP, "b.example", 25, true}};
    run_cases(t, c2, 1);
    transport_free(t);
    config_free(&cfg);

    /* No table: relayhost (an unbracketed one gets MX lookups), else MX. */
    t = open_cf("relayhost = relay.example:2525\n", &cfg);
    static const struct rcase c3[] = {{"a@b.example", 0, TRANSPORT_SMTP, "relay.example", 2525, true}};
    run_cases(t, c3, 1);
    transport_free(t);
    config_free(&cfg);
    t = open_cf("relayhost =\n", &cfg);
    static const struct rcase c4[] = {{"a@B.example", 0, TRANSPORT_SMTP, "B.example", 25, true}};
    run_cases(t, c4, 1);
    transport_free(t);
    config_free(&cfg);
    unlink(path);
}

static void test_create_errors(void **state)
{
    (void)state;
    static const struct {
        const char *cf, *needle;
    } bad[] = {
        {"relayhost = []:587\n", "relayhost"},
        {"relayhost = [relay.example\n", "relayhost"},
        {"transport_maps = regexp:/nonexistent/transport\n", "transport_maps"},
    };
    int refused_here = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct config cfg;
        struct cfg_diag d;
        struct transport *t = NULL;
        char err[512] = "";
        cfg_diag_init(&d);
        if (config_load_buf("/nonexistent", bad[i].cf, strlen(bad[i].cf), &cfg, &d) == 0) {
            assert_int_equal(transport_create(&cfg, &t, err, sizeof(err)), -EINVAL);
            assert_null(t);
            if (!strstr(err, bad[i].needle))
                fail_msg("%s: error \"%s\" does not name %s", bad[i].cf, err, bad[i].needle);
            refused_here++;
            config_free(&cfg);
        }
        cfg_diag_free(&d);
    }
    /* The configuration layer takes these values: transport_create() is
     * what refuses them. */
    assert_int_equal(refused_here, 3);
}

int main(void)
{
    log_init("mxscreen/smtpd", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_embedded_nul),
        cmocka_unit_test(test_resolve_order),
        cmocka_unit_test(test_parent_styles),
        cmocka_unit_test(test_wildcard_and_patterns),
        cmocka_unit_test(test_create_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
