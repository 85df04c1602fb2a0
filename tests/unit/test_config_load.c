/* test_config_load.c - the parameter table applied to main.cf: the seed
 * configuration, typed values, every kind of bad value, ranges, names that
 * are ours, Postfix's, a restriction class's or nobody's. */
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

static int load(const char *text, struct config *cfg, struct cfg_diag *d)
{
    cfg_diag_init(d);
    return config_load_buf("/etc/mx", text, strlen(text), cfg, d);
}

static void seed_loads_cleanly(void **state)
{
    (void)state;
    char *buf;
    size_t len;
    struct config cfg;
    struct cfg_diag d;
    assert_int_equal(file_read_all("../data/seed-main.cf", &buf, &len), 0);
    cfg_diag_init(&d);
    int rc = config_load_buf("/etc/postfix", buf, len, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        print_message("diag: %s\n", d.v[i].text);
    assert_int_equal(rc, 0);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.warnings, 0); /* Postfix-only names are silent */
    const struct cfg_params *p = &cfg.p;
    assert_int_equal(p->smtpd_error_sleep_time, 20);
    assert_int_equal(p->bounce_queue_lifetime, 4 * 3600);
    assert_int_equal(p->delay_warning_time, 3600);
    assert_int_equal(p->message_size_limit, 102400000);
    assert_int_equal(p->unknown_client_reject_code, 450);
    assert_true(p->smtpd_helo_required);
    assert_false(p->allow_percent_hack);
    assert_string_equal(p->smtpd_banner, "YOUR_HOST Daemon. All Spam Is Reported. ESMTP");
    assert_int_equal(p->smtpd_helo_restrictions.n, 5);
    assert_string_equal(p->smtpd_helo_restrictions.v[1], "check_helo_access");
    assert_string_equal(p->smtpd_helo_restrictions.v[2], "hash:/etc/postfix/helo_access");
    assert_string_equal(p->relayhost, "[]:587");                 /* last wins */
    assert_int_equal(p->smtpd_tls_security_level, TLS_LEV_MAY);  /* smtpd_use_tls = yes */
    assert_int_equal(p->smtp_tls_security_level, TLS_LEV_MAY);
    assert_int_equal(p->mydestination.n, 2); /* "$myhostname" is empty */
    assert_int_equal(p->delivery_mode, DELIVERY_PROXY);
    assert_int_equal(p->mynetworks_style, MYNET_HOST);
    assert_int_equal(p->smtpd_relay_restrictions.n, 3);
    assert_int_equal(p->postscreen_greet_wait, 6);
    assert_int_equal(p->postscreen_dnsbl_max_ttl, 3600);
    assert_int_equal(p->postscreen_denylist_action, PS_ACT_IGNORE);
    assert_string_equal(p->postscreen_cache_map, "btree:/var/lib/mxscreen/postscreen_cache");
    assert_true(p->worker_processes >= 1);

    struct cfg_value v;
    assert_int_equal(config_get(&cfg, "biff", &v), 0);
    assert_int_equal(v.kind, CFG_KIND_POSTFIX);
    assert_true(v.set);
    assert_int_equal(config_get(&cfg, "smtpd_banner", &v), 0);
    assert_string_equal(v.raw, "$mail_name. All Spam Is Reported. ESMTP");
    assert_int_equal(v.line, 14);
    assert_int_equal(config_get(&cfg, "program_directory", &v), 0); /* obsolete, known */
    assert_int_equal(config_get(&cfg, "no_such_name", &v), -ENOENT);
    config_free(&cfg);
    cfg_diag_free(&d);
    free(buf);
}

struct bad {
    const char *text;
    const char *msg;
};

static const struct bad bads[] = {
    {"smtpd_error_sleep_time = 20x\n",
     "/etc/mx/main.cf, line 1: smtpd_error_sleep_time = 20x: expected a time: a number with "
     "optional unit s, m, h, d or w"},
    {"smtpd_error_sleep_time = 1.5s\n", "expected a time"},
    {"smtpd_error_sleep_time = s\n", "expected a time"},
    {"smtpd_error_sleep_time = -1\n", "expected a time"},
    {"smtpd_error_sleep_time = 99999999999999999999\n", "number too large"},
    {"smtpd_helo_required = maybe\n", "smtpd_helo_required = maybe: expected yes or no"},
    {"smtpd_hard_error_limit = 0\n", "out of range: must be at least 1"},
    {"smtpd_hard_error_limit = 10k\n", "expected an integer"},
    {"message_size_limit = 10M\n", "expected a size"},
    {"maximal_queue_lifetime = 101d\n", "out of range: must be 0..8640000 seconds"},
    {"reject_code = 250\n", "reject_code = 250: expected an SMTP reply code 400..599"},
    {"reject_code = 600\n", "expected an SMTP reply code"},
    {"unverified_sender_defer_code = 550\n", "400..499 or 250"},
    {"smtpd_tls_security_level = dane\n", "expected one of: (empty), none, may, encrypt"},
    {"smtp_tls_security_level = sometimes\n", "expected one of"},
    {"delivery_mode = later\n", "expected one of: queue, proxy"},
    {"scheduling_policy = fifo\n", "scheduling_policy = fifo: expected one of: normal, batch"},
    {"header_checks = /etc/postfix/header_checks\n", "expected type:name table references"},
    {"address_verify_map = verify_cache\n", "expected one type:name"},
    {"smtpd_client_restrictions = check_client_access {hash:/x\n", "balanced {}"},
    {"x = 20x\nsmtpd_error_sleep_time = $x\n",
     "line 2: smtpd_error_sleep_time = $x (expands to \"20x\"): expected a time"},
    {"default_process_limit = abc\n", "default for postscreen_pre_queue_limit (expands to"},
    {"myhostname = $a\na = $myhostname\n", "unreasonable macro call nesting"},
    {"smtpd_banner = ${oops\n", "truncated macro reference"},
    {"smtpd_restriction_classes = nosuch\n", "restriction class nosuch is not defined"},
    {"foo bar\n", "line 1: missing '=' after attribute name"},
};

static void bad_values_fail_with_file_and_line(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        struct config cfg;
        struct cfg_diag d;
        int rc = load(bads[i].text, &cfg, &d);
        if (rc != -EINVAL || !cfg_diag_find(&d, bads[i].msg)) {
            for (size_t k = 0; k < d.n; k++)
                print_message("diag: %s\n", d.v[k].text);
            fail_msg("case %zu: rc %d, want message \"%s\"", i, rc, bads[i].msg);
        }
        cfg_diag_free(&d);
    }
}

struct good {
    const char *text;
    const char *name;
    const char *expanded;
};

static const struct good goods[] = {
    {"smtpd_error_sleep_time = 2m\n", "smtpd_error_sleep_time", "2m"},
    {"bounce_queue_lifetime = 2\n", "bounce_queue_lifetime", "2"},
    {"smtpd_tls_security_level = ENCRYPT\n", "smtpd_tls_security_level", "ENCRYPT"},
    {"unverified_sender_defer_code = 250\n", "unverified_sender_defer_code", "250"},
    {"mydomain = example.org\n", "mydestination", "localhost.example.org"},
    {"smtpd_reject_footer = $myhostname x\n", "smtpd_reject_footer", "$myhostname x"},
};

static void good_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        struct config cfg;
        struct cfg_diag d;
        assert_int_equal(load(goods[i].text, &cfg, &d), 0);
        struct cfg_value v;
        assert_int_equal(config_get(&cfg, goods[i].name, &v), 0);
        assert_non_null(strstr(v.expanded, goods[i].expanded));
        config_free(&cfg);
        cfg_diag_free(&d);
    }
    struct config cfg;
    struct cfg_diag d;
    assert_int_equal(load("smtpd_error_sleep_time = 2m\nbounce_queue_lifetime = 2\n"
                          "smtpd_tls_security_level = encrypt\n",
                          &cfg, &d),
                     0);
    assert_int_equal(cfg.p.smtpd_error_sleep_time, 120);
    assert_int_equal(cfg.p.bounce_queue_lifetime, 2 * 86400); /* default unit d */
    assert_int_equal(cfg.p.smtpd_tls_security_level, TLS_LEV_ENCRYPT);
    assert_int_equal(cfg.p.postscreen_tls_security_level, TLS_LEV_ENCRYPT);
    config_free(&cfg);
    cfg_diag_free(&d);
}

/* worker_processes: three per online CPU in proxy mode, one in queue mode
 * (lib/config_params.c def_worker_processes); an explicit value wins.
 * scheduling_policy: batch unless set. */
static void worker_and_sched_defaults(void **state)
{
    (void)state;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    static const struct {
        const char *text;
        long per_cpu, fixed; /* want per_cpu x CPUs, or fixed when set */
        int sched;
    } rows[] = {
        {"", 3, 0, SCHED_POLICY_BATCH},
        {"delivery_mode = proxy\n", 3, 0, SCHED_POLICY_BATCH},
        {"delivery_mode = queue\n", 1, 0, SCHED_POLICY_BATCH},
        {"delivery_mode = Queue\n", 1, 0, SCHED_POLICY_BATCH},
        {"mode = queue\ndelivery_mode = $mode\n", 1, 0, SCHED_POLICY_BATCH},
        {"delivery_mode = queue\nworker_processes = 5\n", 0, 5, SCHED_POLICY_BATCH},
        {"scheduling_policy = normal\n", 3, 0, SCHED_POLICY_NORMAL},
        {"scheduling_policy = BATCH\n", 3, 0, SCHED_POLICY_BATCH},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct config cfg;
        struct cfg_diag d;
        assert_int_equal(load(rows[i].text, &cfg, &d), 0);
        long want = rows[i].fixed ? rows[i].fixed : rows[i].per_cpu * cpus;
        if (cfg.p.worker_processes != want || cfg.p.scheduling_policy != rows[i].sched)
            fail_msg("row %zu %s: worker_processes %ld (want %ld), scheduling_policy %d (want %d)",
                     i, rows[i].text, cfg.p.worker_processes, want, cfg.p.scheduling_policy,
                     rows[i].sched);
        config_free(&cfg);
        cfg_diag_free(&d);
    }
}

static void unknown_names_warn_with_line(void **state)
{
    (void)state;
    struct config cfg;
    struct cfg_diag d;
    assert_int_equal(load("biff = no\nmy_typo = 1\nbase = example.net\n"
                          "myorigin = $base\n",
                          &cfg, &d),
                     0);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.warnings, 2);
    assert_non_null(cfg_diag_find(&d, "/etc/mx/main.cf, line 2: unknown parameter: my_typo"));
    assert_non_null(cfg_diag_find(&d, "line 3: base: not a Postfix or mxscreen parameter"));
    assert_string_equal(cfg.p.myorigin, "example.net"); /* still expands */
    config_free(&cfg);
    cfg_diag_free(&d);

    assert_int_equal(load("myorigin = $nosuch\n", &cfg, &d), 0);
    assert_non_null(cfg_diag_find(&d, "line 1: myorigin: undefined parameter: nosuch"));
    config_free(&cfg);
    cfg_diag_free(&d);
}

static int collect(void *ctx, const char *param, int line, const char *ref)
{
    struct strbuf *sb = ctx;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s:%d:%s;", param, line, ref);
    strbuf_puts(sb, buf);
    return 0;
}

static void maps_are_enumerated(void **state)
{
    (void)state;
    struct config cfg;
    struct cfg_diag d;
    assert_int_equal(
        load("smtpd_restriction_classes = cls\n"
             "cls = check_sender_access hash:/c\n"
             "smtpd_helo_restrictions = permit_mynetworks, check_helo_access hash:/h,\n"
             " check_policy_service inet:127.0.0.1:10023\n"
             "mynetworks = 127.0.0.0/8 [::1]/128 !cidr:/n\n"
             "header_checks = regexp:/hc pcre:/hc2\n"
             "postscreen_access_list = permit_mynetworks, cidr:/pa\n",
             &cfg, &d),
        0);
    assert_int_equal(d.warnings, 0); /* cls is a restriction class */
    struct strbuf sb;
    strbuf_init(&sb);
    config_foreach_map(&cfg, collect, &sb);
    const char *s = strbuf_cstr(&sb);
    assert_non_null(strstr(s, "smtpd_helo_restrictions:3:hash:/h;"));
    assert_null(strstr(s, "inet:"));
    assert_non_null(strstr(s, "mynetworks:5:cidr:/n;"));
    assert_null(strstr(s, "::1"));
    assert_non_null(strstr(s, "header_checks:6:regexp:/hc;header_checks:6:pcre:/hc2;"));
    assert_non_null(strstr(s, "postscreen_access_list:7:cidr:/pa;"));
    assert_non_null(strstr(s, "cls:2:hash:/c;"));
    assert_null(strstr(s, "postscreen_cache")); /* caches are made at run time */
    strbuf_free(&sb);
    config_free(&cfg);
    cfg_diag_free(&d);
}

static void value_parsers(void **state)
{
    (void)state;
    long v;
    assert_int_equal(cfg_value_time("1w", 's', &v), 0);
    assert_int_equal(v, 604800);
    assert_int_equal(cfg_value_time("3", 'h', &v), 0);
    assert_int_equal(v, 10800);
    assert_int_equal(cfg_value_time("3hh", 's', &v), -EINVAL);
    assert_int_equal(cfg_value_time("", 's', &v), -EINVAL);
    assert_int_equal(cfg_value_time("9223372036854775807w", 's', &v), -ERANGE);
    assert_int_equal(cfg_value_long("-5", &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(cfg_value_long("5 ", &v), -EINVAL);
    bool b;
    assert_int_equal(cfg_value_bool("YES", &b), 0);
    assert_true(b);
    struct cfg_list l;
    assert_int_equal(cfg_value_list(" a,b  c,,{ d e }, inline:{x=1, y=2},", &l), 0);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.v[3], "d e");
    assert_string_equal(l.v[4], "inline:{x=1, y=2}");
    assert_null(l.v[5]);
    cfg_list_free(&l);
    assert_int_equal(cfg_value_list("{a", &l), -EINVAL);
    assert_true(cfg_token_is_map("hash:/x"));
    assert_true(cfg_token_is_map("proxy:btree:/x"));
    assert_false(cfg_token_is_map("[::1]/128"));
    assert_false(cfg_token_is_map("127.0.0.1"));
    assert_false(cfg_token_is_map("/file"));
}

static void tables_are_sane(void **state)
{
    (void)state;
    size_t n, pn;
    const struct cfg_param_def *t = config_param_table(&n);
    const struct cfg_postfix_name *pf = config_postfix_table(&pn);
    for (size_t i = 1; i < pn; i++)
        assert_true(strcmp(pf[i - 1].name, pf[i].name) < 0); /* bsearch order */
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].doc);
        for (size_t k = i + 1; k < n; k++)
            assert_string_not_equal(t[i].name, t[k].name);
        assert_ptr_equal(config_param_find(t[i].name, strlen(t[i].name)), &t[i]);
    }
    assert_non_null(config_postfix_find("biff", 4));
    assert_null(config_postfix_find("bif", 3));
    assert_null(config_postfix_find("smtpd_banner_x", 14));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seed_loads_cleanly),
        cmocka_unit_test(bad_values_fail_with_file_and_line),
        cmocka_unit_test(good_values),
        cmocka_unit_test(worker_and_sched_defaults),
        cmocka_unit_test(unknown_names_warn_with_line),
        cmocka_unit_test(maps_are_enumerated),
        cmocka_unit_test(value_parsers),
        cmocka_unit_test(tables_are_sane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
