/* test_dnsbl_site.c - postscreen_dnsbl_sites items: every syntax form, every
 * error ip_match.c and psc_dnsbl_add_site() report, and reply matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "dnsbl_site.h"

struct parse_case {
    const char *in;
    enum dnsbl_site_result want;
    const char *why;    /* expected error text, NULL when OK */
    const char *domain; /* expected domain when OK */
    int weight;
    int has_filter;
    const char *match;   /* space-separated addresses that must match */
    const char *nomatch; /* ... and that must not */
};

#define OK DNSBL_SITE_OK
#define BW DNSBL_SITE_BAD_WEIGHT
#define BF DNSBL_SITE_BAD_FILTER
#define BD DNSBL_SITE_BAD_DOMAIN

static const struct parse_case cases[] = {
    /* plain domain: weight 1, no filter, any reply matches */
    {"zen.spamhaus.org", OK, NULL, "zen.spamhaus.org", 1, 0, "127.0.0.2 10.1.2.3", ""},
    {"bl.test", OK, NULL, "bl.test", 1, 0, "0.0.0.0", ""},
    /* fixed filter */
    {"bl.test=127.0.0.2", OK, NULL, "bl.test", 1, 1, "127.0.0.2", "127.0.0.3 127.0.1.2"},
    {"bl.test=127.000.0.002", OK, NULL, "bl.test", 1, 1, "127.0.0.2", "127.0.0.20"},
    {"bl.test=[127.0.0.2]", OK, NULL, "bl.test", 1, 1, "127.0.0.2", "127.0.0.3"},
    /* ranges and lists, ';'-separated */
    {"zen.test=127.0.0.[2..11;15]", OK, NULL, "zen.test", 1, 1,
     "127.0.0.2 127.0.0.11 127.0.0.15 127.0.0.7", "127.0.0.1 127.0.0.12 127.0.0.14 127.0.0.16"},
    {"zen.test=127.0.0.[2..11]*3", OK, NULL, "zen.test", 3, 1, "127.0.0.4", "127.0.0.12"},
    {"wl.test=127.0.[0..255].[2;3;4]*-2", OK, NULL, "wl.test", -2, 1, "127.0.9.3", "127.0.9.5"},
    {"x.test=[0..255].[0..255].[0..255].[0..255]", OK, NULL, "x.test", 1, 1, "1.2.3.4", ""},
    {"x.test=[127.0.0.[2..3]]", OK, NULL, "x.test", 1, 1, "127.0.0.3", "127.0.0.4"},
    {"x.test=127.0.0.[5..5]", OK, NULL, "x.test", 1, 1, "127.0.0.5", "127.0.0.4 127.0.0.6"},
    {"x.test=[1;1;1].2.3.4", OK, NULL, "x.test", 1, 1, "1.2.3.4", "2.2.3.4"},
    /* weights: sscanf %d accepts a sign and leading white space */
    {"list.test*3", OK, NULL, "list.test", 3, 0, "127.0.0.2", ""},
    {"list.test*-5", OK, NULL, "list.test", -5, 0, "", ""},
    {"list.test*+2", OK, NULL, "list.test", 2, 0, "", ""},
    {"list.test*0", OK, NULL, "list.test", 0, 0, "", ""},
    {"list.test* 4", OK, NULL, "list.test", 4, 0, "", ""},
    {"list.test*007", OK, NULL, "list.test", 7, 0, "", ""},
    {"list.test*2147483647", OK, NULL, "list.test", 2147483647, 0, "", ""},
    {"list.test*-2147483648", OK, NULL, "list.test", -2147483647 - 1, 0, "", ""},
    /* bad weights: nothing may follow the number; the split is at the
     * FIRST '*', so a filter after the weight is part of the weight */
    {"list.test*", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    {"list.test*x", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    {"list.test*3x", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    {"list.test*3 ", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    {"list.test*-", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    {"list.test*2*3", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    {"list.test*3=127.0.0.2", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    {"list.test*1.5", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    {"list.test*2147483648", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    {"list.test*99999999999999999999999", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    /* the weight is checked before the filter and the domain */
    {"bad..name=1.2.3*x", BW, "bad DNSBL weight factor", NULL, 0, 0, NULL, NULL},
    /* filter errors, in ip_match.c's words */
    {"bl.test=", BF, "empty address pattern", NULL, 0, 0, NULL, NULL},
    {"bl.test=[]", BF, "empty address pattern", NULL, 0, 0, NULL, NULL},
    {"bl.test=[127.0.0.2", BF, "missing \"]\" character", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0", BF, "need \".\"", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.", BF, "need decimal number 0..255 or \"[\"", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.256", BF, "need decimal number 0..255 or \"[\"", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.99999999999999", BF, "need decimal number 0..255 or \"[\"", NULL, 0, 0,
     NULL, NULL},
    {"bl.test=127.0.0.2.5", BF, "garbage after pattern", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.2 ", BF, "garbage after pattern", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.3[6..9]", BF, "garbage after pattern", NULL, 0, 0, NULL, NULL},
    {"bl.test=1.2.[3.4]", BF, "numeric range error", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.[11..2]", BF, "numeric range error", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.[2.11]", BF, "numeric range error", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.[2..]", BF, "numeric range error", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.[2..256]", BF, "numeric range error", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.[2;]", BF, "need decimal number 0..255", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.[;2]", BF, "need decimal number 0..255", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.[256]", BF, "need decimal number 0..255", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.[2,4]", BF, "need \";\" or \"]\"", NULL, 0, 0, NULL, NULL},
    /* no "[" at the start: the whole-pattern "[...]" rule does not apply */
    {"bl.test=127.0.0.[2", BF, "need \";\" or \"]\"", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.[2;3", BF, "need \";\" or \"]\"", NULL, 0, 0, NULL, NULL},
    {"bl.test=1.2.3.[4", BF, "need \";\" or \"]\"", NULL, 0, 0, NULL, NULL},
    {"bl.test=[1.2.3.4]x", BF, "numeric range error", NULL, 0, 0, NULL, NULL},
    {"bl.test=127:0:0:2", BF, "need \".\"", NULL, 0, 0, NULL, NULL},
    {"bl.test=127.0.0.2=x", BF, "garbage after pattern", NULL, 0, 0, NULL, NULL},
    {"bl.test=::1", BF, "need decimal number 0..255 or \"[\"", NULL, 0, 0, NULL, NULL},
    {"bl.test=-1.0.0.2", BF, "need decimal number 0..255 or \"[\"", NULL, 0, 0, NULL, NULL},
    /* the filter is checked before the domain */
    {"=127.0.0.x", BF, "need decimal number 0..255 or \"[\"", NULL, 0, 0, NULL, NULL},
    /* domains, as valid_hostname() judges them */
    {"", BD, "bad DNSBL domain name", NULL, 0, 0, NULL, NULL},
    {"=127.0.0.2", BD, "bad DNSBL domain name", NULL, 0, 0, NULL, NULL},
    {"*2", BD, "bad DNSBL domain name", NULL, 0, 0, NULL, NULL},
    {"bad..name", BD, "bad DNSBL domain name", NULL, 0, 0, NULL, NULL},
    {"-bad.test", BD, "bad DNSBL domain name", NULL, 0, 0, NULL, NULL},
    {"bad name.test", BD, "bad DNSBL domain name", NULL, 0, 0, NULL, NULL},
    {"1.2.3.4", BD, "bad DNSBL domain name", NULL, 0, 0, NULL, NULL},
    {".bl.test", BD, "bad DNSBL domain name", NULL, 0, 0, NULL, NULL},
};

static int parse_addr(const char *s, size_t n, struct in_addr *a)
{
    char buf[32];
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(AF_INET, buf, a) == 1;
}

static void check_addrs(const struct dnsbl_site *site, const char *list, int want, const char *in)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        struct in_addr a;
        assert_true(parse_addr(p, n, &a));
        if (dnsbl_site_match_addr(site, &a) != want) {
            fprintf(stderr, "%s: %.*s: want match=%d\n", in, (int)n, p, want);
            fail();
        }
        assert_int_equal(dnsbl_site_match(site, &a, 1), want);
        p += n;
    }
}

static void parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct parse_case *c = &cases[i];
        struct dnsbl_site s;
        const char *why = "unset";
        enum dnsbl_site_result r = dnsbl_site_parse(c->in, strlen(c->in), &s, &why);
        if (r != c->want) {
            fprintf(stderr, "case \"%s\": got %d (%s), want %d\n", c->in, r, why ? why : "-",
                    c->want);
            fail();
        }
        if (r != DNSBL_SITE_OK) {
            assert_non_null(why);
            if (strcmp(why, c->why) != 0) {
                fprintf(stderr, "case \"%s\": why \"%s\", want \"%s\"\n", c->in, why, c->why);
                fail();
            }
            continue;
        }
        assert_null(why);
        assert_string_equal(s.domain, c->domain);
        assert_int_equal(s.domain_len, strlen(c->domain));
        assert_int_equal(s.weight, c->weight);
        assert_int_equal(s.has_filter, c->has_filter);
        check_addrs(&s, c->match, 1, c->in);
        check_addrs(&s, c->nomatch, 0, c->in);
    }
}

/* Several A records: listed when any one passes the filter; an empty reply
 * never lists, even without a filter. */
static void match_multi(void **state)
{
    (void)state;
    struct dnsbl_site s;
    const char *in = "zen.test=127.0.0.[10..11]*2";
    assert_int_equal(dnsbl_site_parse(in, strlen(in), &s, NULL), DNSBL_SITE_OK);
    struct in_addr a[3];
    inet_pton(AF_INET, "127.0.0.2", &a[0]);
    inet_pton(AF_INET, "127.0.0.4", &a[1]);
    inet_pton(AF_INET, "127.0.0.11", &a[2]);
    assert_int_equal(dnsbl_site_match(&s, a, 2), 0);
    assert_int_equal(dnsbl_site_match(&s, a, 3), 1);
    assert_int_equal(dnsbl_site_match(&s, a, 0), 0);
    in = "any.test";
    assert_int_equal(dnsbl_site_parse(in, strlen(in), &s, NULL), DNSBL_SITE_OK);
    assert_int_equal(dnsbl_site_match(&s, a, 0), 0);
    assert_int_equal(dnsbl_site_match(&s, a, 1), 1);
}

/* Length-bounded input: bytes past len are never read; a NUL inside is
 * an error wherever it sits; an over-long domain is refused. */
static void bounds(void **state)
{
    (void)state;
    struct dnsbl_site s;
    const char *in = "bl.test=127.0.0.2*3GARBAGE";
    assert_int_equal(dnsbl_site_parse(in, strlen("bl.test=127.0.0.2*3"), &s, NULL),
                     DNSBL_SITE_OK);
    assert_int_equal(s.weight, 3);
    assert_int_equal(dnsbl_site_parse(in, strlen("bl.test=127.0.0.2"), &s, NULL), DNSBL_SITE_OK);
    assert_int_equal(s.weight, 1);
    assert_int_equal(dnsbl_site_parse(in, 7, &s, NULL), DNSBL_SITE_OK);
    assert_string_equal(s.domain, "bl.test");
    assert_int_equal(s.has_filter, 0);

    static const char nul_dom[] = "bl\0.test";
    static const char nul_filter[] = "bl.test=127.0.0.2\0";
    static const char nul_weight[] = "bl.test*2\0";
    assert_int_equal(dnsbl_site_parse(nul_dom, sizeof(nul_dom) - 1, &s, NULL),
                     DNSBL_SITE_BAD_DOMAIN);
    assert_int_equal(dnsbl_site_parse(nul_filter, sizeof(nul_filter) - 1, &s, NULL),
                     DNSBL_SITE_BAD_FILTER);
    assert_int_equal(dnsbl_site_parse(nul_weight, sizeof(nul_weight) - 1, &s, NULL),
                     DNSBL_SITE_BAD_WEIGHT);

    char big[600];
    memset(big, 'a', sizeof(big));
    for (size_t i = 60; i < sizeof(big); i += 61)
        big[i] = '.';
    assert_int_equal(dnsbl_site_parse(big, sizeof(big), &s, NULL), DNSBL_SITE_BAD_DOMAIN);
    assert_int_equal(dnsbl_site_parse(big, 253, &s, NULL), DNSBL_SITE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_table),
        cmocka_unit_test(match_multi),
        cmocka_unit_test(bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
