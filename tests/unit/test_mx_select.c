/* test_mx_select.c - the backup-MX rule (mx_select_finish), table-driven:
 * we are primary / backup / tied / absent, implicit MX, null MX, lookup
 * failures and their Postfix texts, randomisation of equal preferences,
 * address families, balancing and the address limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "mx_select.h"

static struct sockaddr_storage sa(const char *ip)
{
    struct sockaddr_storage s;
    memset(&s, 0, sizeof(s));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&s;
        s6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&s;
        s4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    }
    return s;
}

static const char *ip(const struct sockaddr_storage *s, char *buf, size_t n)
{
    if (s->ss_family == AF_INET6)
        return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)s)->sin6_addr, buf,
                         (socklen_t)n);
    return inet_ntop(AF_INET, &((const struct sockaddr_in *)s)->sin_addr, buf, (socklen_t)n);
}

/* A table row: hosts as "pref host ip,ip" (or "pref host !temp" / "!nx"),
 * our addresses, and the expected outcome as "host/ip host/ip" or
 * "status why". */
struct row {
    const char *name;
    const char *hosts[6];
    const char *self;
    bool implicit;
    const char *want; /* candidates joined by ' ', or "status: why" */
};

static const struct mx_opts plain_opts = {
    .want_ipv4 = true, .want_ipv6 = true, .randomize = false, .balance = true,
    .addr_pref = MX_ADDR_ANY, .address_limit = 5,
};

static void run_row(const struct row *r, const struct mx_opts *o, uint64_t seed, char *got,
                    size_t gotsz)
{
    struct mx_host h[6];
    struct sockaddr_storage addrs[6][6];
    char names[6][64], whys[6][200];
    size_t n = 0;
    for (; n < 6 && r->hosts[n]; n++) {
        char ips[128];
        unsigned pref;
        assert_int_equal(sscanf(r->hosts[n], "%u %63s %127s", &pref, names[n], ips), 3);
        h[n] = (struct mx_host){pref, names[n], DNS_OK, NULL, addrs[n], 0};
        if (strcmp(ips, "!temp") == 0 || strcmp(ips, "!nx") == 0) {
            h[n].status = ips[1] == 't' ? DNS_TEMPFAIL : DNS_NXDOMAIN;
            mx_dns_why(names[n], DNS_T_A, h[n].status, whys[n], sizeof(whys[n]));
            h[n].why = whys[n];
            continue;
        }
        for (char *tok = strtok(ips, ","); tok; tok = strtok(NULL, ","))
            addrs[n][h[n].naddrs++] = sa(tok);
    }
    struct sockaddr_storage me[4];
    size_t nme = 0;
    if (r->self) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", r->self);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","))
            me[nme++] = sa(tok);
    }
    struct mx_self self = {me, nme, NULL, 0};
    struct mx_result res;
    uint64_t rng = seed;
    mx_select_finish("example.test", h, n, r->implicit, &self, o, &rng, &res);
    if (res.outcome != MX_OK) {
        snprintf(got, gotsz, "%s: %s", res.status, res.why);
        return;
    }
    assert_int_equal(res.status[0], '\0');
    got[0] = '\0';
    for (size_t i = 0; i < res.n; i++) {
        char b[64];
        size_t used = strlen(got);
        snprintf(got + used, gotsz - used, "%s%s/%s", i ? " " : "", res.c[i].host,
                 ip(&res.c[i].addr, b, sizeof(b)));
    }
}

static void backup_mx_rule_table(void **state)
{
    (void)state;
    static const struct row t[] = {
        {"not an MX: all, by preference",
         {"20 mx2 192.0.2.2", "10 mx1 192.0.2.1", "30 mx3 192.0.2.3"}, "198.51.100.1", false,
         "mx1/192.0.2.1 mx2/192.0.2.2 mx3/192.0.2.3"},
        {"we are the primary: loop",
         {"10 us 198.51.100.1", "20 mx2 192.0.2.2"}, "198.51.100.1", false,
         "5.4.6: mail for example.test loops back to myself"},
        {"we are the backup: only better ones",
         {"10 mx1 192.0.2.1", "20 us 198.51.100.1", "30 mx3 192.0.2.3"}, "198.51.100.1", false,
         "mx1/192.0.2.1"},
        {"equal preference to ours is dropped too",
         {"10 mx1 192.0.2.1", "20 us 198.51.100.1", "20 peer 192.0.2.20", "5 mx0 192.0.2.5"},
         "198.51.100.1", false, "mx0/192.0.2.5 mx1/192.0.2.1"},
        {"backup, better MX has no address: primary unknown",
         {"10 mx1 !nx", "20 us 198.51.100.1"}, "198.51.100.1", false,
         "4.4.4: unable to find primary relay for example.test"},
        {"backup, better MX lookup temporary: primary unknown",
         {"10 mx1 !temp", "20 us 198.51.100.1"}, "198.51.100.1", false,
         "4.4.4: unable to find primary relay for example.test"},
        {"our address under another name counts (found by address)",
         {"10 alias-of-us 198.51.100.1", "20 mx2 192.0.2.2"}, "198.51.100.1", false,
         "5.4.6: mail for example.test loops back to myself"},
        {"we share a host's address list: that host is us",
         {"5 mx0 192.0.2.5", "10 multi 192.0.2.9,198.51.100.1"}, "198.51.100.1", false,
         "mx0/192.0.2.5"},
        {"a host without address is skipped",
         {"10 mx1 !nx", "20 mx2 192.0.2.2"}, NULL, false, "mx2/192.0.2.2"},
        {"no host has an address, soft wins",
         {"10 mx1 !nx", "20 mx2 !temp"}, NULL, false,
         "4.4.3: Host or domain name not found. Name service error for name=mx2 type=A: "
         "Host not found, try again"},
        {"no host has an address, all hard",
         {"10 mx1 !nx", "20 mx2 !nx"}, NULL, false,
         "5.4.4: Host or domain name not found. Name service error for name=mx2 type=A: "
         "Host not found"},
        {"implicit MX: the domain's addresses",
         {"0 example.test 192.0.2.7,192.0.2.8"}, "198.51.100.1", true,
         "example.test/192.0.2.7 example.test/192.0.2.8"},
        {"implicit MX pointing at us: loop",
         {"0 example.test 192.0.2.7,198.51.100.1"}, "198.51.100.1", true,
         "5.4.6: mail for example.test loops back to myself"},
        {"implicit MX not found",
         {"0 example.test !nx"}, NULL, true,
         "5.4.4: Host or domain name not found. Name service error for name=example.test "
         "type=A: Host not found"},
        {"IPv6 self",
         {"10 mx1 2001:db8::1", "20 us 2001:db8::25"}, "2001:db8::25", false,
         "mx1/2001:db8::1"},
        {"address limit 5",
         {"10 a 192.0.2.1,192.0.2.2,192.0.2.3", "20 b 192.0.2.4,192.0.2.5,192.0.2.6"}, NULL,
         false, "a/192.0.2.1 a/192.0.2.2 a/192.0.2.3 b/192.0.2.4 b/192.0.2.5"},
        {"balance: IPv4 not crowded out by IPv6",
         {"10 a 2001:db8::1,2001:db8::2,2001:db8::3,2001:db8::4,2001:db8::5",
          "20 b 192.0.2.1,192.0.2.2"},
         NULL, false,
         "a/2001:db8::1 a/2001:db8::2 a/2001:db8::3 b/192.0.2.1 b/192.0.2.2"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char got[1024];
        run_row(&t[i], &plain_opts, 1, got, sizeof(got));
        if (strcmp(got, t[i].want) != 0)
            fail_msg("%s:\n  got  %s\n  want %s", t[i].name, got, t[i].want);
    }
}

static void families_and_preference(void **state)
{
    (void)state;
    static const struct row r = {"mixed", {"10 a 2001:db8::1,192.0.2.1", "20 b 192.0.2.2"},
                                 NULL, false, NULL};
    struct mx_opts o = plain_opts;
    char got[512];
    o.want_ipv6 = false;
    run_row(&r, &o, 1, got, sizeof(got));
    assert_string_equal(got, "a/192.0.2.1 b/192.0.2.2");
    o = plain_opts;
    o.want_ipv4 = false;
    run_row(&r, &o, 1, got, sizeof(got));
    assert_string_equal(got, "a/2001:db8::1");
    o = plain_opts;
    o.addr_pref = MX_ADDR_IPV4;
    run_row(&r, &o, 1, got, sizeof(got));
    assert_string_equal(got, "a/192.0.2.1 a/2001:db8::1 b/192.0.2.2");
    o.addr_pref = MX_ADDR_IPV6;
    run_row(&r, &o, 1, got, sizeof(got));
    assert_string_equal(got, "a/2001:db8::1 a/192.0.2.1 b/192.0.2.2");
    o = plain_opts;
    o.address_limit = 0;
    o.want_ipv6 = false;
    run_row(&r, &o, 1, got, sizeof(got));
    assert_string_equal(got, "a/192.0.2.1 b/192.0.2.2");
}

/* Equal preferences come out in every order over many seeds; a better
 * preference always stays first. */
static void equal_preferences_are_shuffled(void **state)
{
    (void)state;
    static const struct row r = {"tie", {"10 a 192.0.2.1", "10 b 192.0.2.2", "10 c 192.0.2.3",
                                         "5 best 192.0.2.9", "20 last 192.0.2.20"},
                                 NULL, false, NULL};
    struct mx_opts o = plain_opts;
    o.randomize = true;
    char seen[6][64];
    int nseen = 0, firsts[3] = {0};
    for (uint64_t seed = 1; seed <= 300; seed++) {
        char got[512];
        run_row(&r, &o, seed, got, sizeof(got));
        assert_true(strncmp(got, "best/192.0.2.9 ", 15) == 0);
        assert_non_null(strstr(got, " last/192.0.2.20"));
        assert_int_equal(strlen(got), strlen("best/192.0.2.9 a/192.0.2.1 b/192.0.2.2 "
                                             "c/192.0.2.3 last/192.0.2.20"));
        firsts[got[15] - 'a']++;
        char mid[64];
        snprintf(mid, sizeof(mid), "%.39s", got + 15);
        int k;
        for (k = 0; k < nseen; k++)
            if (strcmp(seen[k], mid) == 0)
                break;
        if (k == nseen && nseen < 6)
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", mid);
    }
    assert_int_equal(nseen, 6); /* all 3! orders */
    for (int i = 0; i < 3; i++)
        assert_true(firsts[i] > 50); /* roughly a third each */
    /* Without randomisation, DNS order is kept among equals. */
    char got[512];
    run_row(&r, &plain_opts, 7, got, sizeof(got));
    assert_string_equal(got, "best/192.0.2.9 a/192.0.2.1 b/192.0.2.2 c/192.0.2.3 "
                             "last/192.0.2.20");
}

static void proxy_interfaces_count_as_self(void **state)
{
    (void)state;
    const char *names[] = {"mx1", "nat"};
    struct sockaddr_storage a1 = sa("192.0.2.1"), a2 = sa("203.0.113.5");
    struct mx_host h[2] = {{10, names[0], DNS_OK, NULL, &a1, 1},
                           {20, names[1], DNS_OK, NULL, &a2, 1}};
    struct sockaddr_storage mine = sa("10.0.0.5"), proxy = sa("203.0.113.5");
    struct mx_self self = {&mine, 1, &proxy, 1};
    struct mx_result res;
    uint64_t rng = 1;
    mx_select_finish("example.test", h, 2, false, &self, &plain_opts, &rng, &res);
    assert_int_equal(res.outcome, MX_OK);
    assert_true(res.found_myself);
    assert_int_equal(res.n, 1);
    assert_string_equal(res.c[0].host, "mx1");
    /* Without the proxy address we would relay to ourselves. */
    self.nproxy = 0;
    mx_select_finish("example.test", h, 2, false, &self, &plain_opts, &rng, &res);
    assert_false(res.found_myself);
    assert_int_equal(res.n, 2);
}

static void null_mx_and_texts(void **state)
{
    (void)state;
    struct dns_mx m[2] = {{0, ""}, {10, "mx.example.test"}};
    assert_true(mx_is_null(m, 1));
    snprintf(m[0].host, sizeof(m[0].host), ".");
    assert_true(mx_is_null(m, 1));
    assert_false(mx_is_null(m, 2)); /* a root MX among others is not RFC 7505 */
    m[0].pref = 10;
    assert_false(mx_is_null(m, 1));
    m[0].pref = 0;
    snprintf(m[0].host, sizeof(m[0].host), "mx.example.test");
    assert_false(mx_is_null(m, 1));
    assert_false(mx_is_null(m, 0));
    char why[200];
    mx_dns_why("example.test", DNS_T_MX, DNS_TIMEOUT, why, sizeof(why));
    assert_string_equal(why, "Host or domain name not found. Name service error for "
                             "name=example.test type=MX: Host not found, try again");
    mx_dns_why("h.test", DNS_T_AAAA, DNS_NODATA, why, sizeof(why));
    assert_string_equal(why, "Host or domain name not found. Name service error for "
                             "name=h.test type=AAAA: No address associated with hostname");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backup_mx_rule_table),
        cmocka_unit_test(families_and_preference),
        cmocka_unit_test(equal_preferences_are_shuffled),
        cmocka_unit_test(proxy_interfaces_count_as_self),
        cmocka_unit_test(null_mx_and_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
