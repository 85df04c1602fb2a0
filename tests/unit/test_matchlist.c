/* test_matchlist.c - match lists: items, negation order, parent-domain
 * style, networks, includes, tables, mynetworks_style. Expectations
 * follow Postfix 3.7 (tests/peer/matchlist_peer.py checks the same kind
 * of answers against a running Postfix). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "matchlist.h"
#include "util.h"

struct mcase {
    const char *list;
    unsigned flags;
    const char *name; /* NULL: addr list */
    const char *addr;
    int want;
};

static void run_namadr(const struct mcase *c, size_t n, enum matchlist_kind kind)
{
    for (size_t i = 0; i < n; i++) {
        struct matchlist *l;
        struct matchlist_err err;
        int rc = matchlist_compile("test_list", kind, c[i].flags, c[i].list, &l, &err);
        if (rc != 0)
            fail_msg("case %zu: %s: %s", i, c[i].list, err.msg);
        int got = kind == MATCHLIST_DOMAIN ? matchlist_match_domain(l, c[i].name)
                  : kind == MATCHLIST_ADDR ? matchlist_match_addr(l, c[i].addr)
                                           : matchlist_match_namadr(l, c[i].name, c[i].addr);
        if (got != c[i].want)
            fail_msg("case %zu: list \"%s\" name %s addr %s: got %d want %d", i, c[i].list,
                     c[i].name ? c[i].name : "-", c[i].addr ? c[i].addr : "-", got, c[i].want);
        matchlist_free(l);
    }
}

static void namadr_table(void **state)
{
    (void)state;
    static const struct mcase c[] = {
        /* first match wins; a matching "!" item ends with no match */
        {"!10.9.0.0/16 10.0.0.0/8", 0, "h", "10.9.1.1", 0},
        {"!10.9.0.0/16 10.0.0.0/8", 0, "h", "10.8.1.1", 1},
        {"10.0.0.0/8 !10.9.0.0/16", 0, "h", "10.9.1.1", 1},
        {"!!10.9.0.0/16", 0, "h", "10.9.1.1", 1},
        {"!h.test 10.0.0.0/8", 0, "h.test", "10.1.1.1", 0},
        /* per item: the name, then the address */
        {"10.0.0.0/8, !h.test", 0, "h.test", "10.1.1.1", 1},
        /* parent-domain style */
        {"example.com", MATCHLIST_PARENT, "a.b.example.com", "1.1.1.1", 1},
        {"example.com", 0, "a.b.example.com", "1.1.1.1", 0},
        {"example.com", 0, "EXAMPLE.Com", "1.1.1.1", 1},
        {".example.com", 0, "a.example.com", "1.1.1.1", 1},
        {".example.com", 0, "example.com", "1.1.1.1", 0},
        {".example.com", MATCHLIST_PARENT, "a.example.com", "1.1.1.1", 0},
        {"example.com", MATCHLIST_PARENT, "xexample.com", "1.1.1.1", 0},
        {"Mixed.CASE.test", 0, "mixed.case.TEST", "1.1.1.1", 1},
        /* "unknown" is just a name */
        {"unknown", 0, "unknown", "1.1.1.1", 1},
        {"unknown", 0, "h.test", "1.1.1.1", 0},
        /* addresses and networks */
        {"[192.168.1.1]", 0, "h", "192.168.1.1", 1},
        {"192.168.1.1", 0, "h", "192.168.1.1", 1},
        {"192.168.1.1", 0, "h", "192.168.1.2", 0},
        {"1.2.3.0/280", 0, "h", "1.2.3.77", 1}, /* prefix kept in 8 bits, as Postfix */
        {"0.0.0.0/0", 0, "h", "8.8.8.8", 1},
        {"0.0.0.0/0", 0, "h", "2001:db8::1", 0},
        {"[1.2.3.0]/24", 0, "h", "1.2.3.4", 1},
        {"[1.2.3.0/24]", 0, "h", "1.2.3.4", 1},
        {"[2001:db8::]/32", 0, "h", "2001:DB8:0::5", 1},
        {"[2001:db8::/32]", 0, "h", "2001:db8::5", 1},
        {"[::1]/128", 0, "h", "::1", 1},
        {"[::1]", 0, "h", "0:0::1", 1},
        {"[2001:db8::]/32", 0, "h", "10.0.0.1", 0},
        /* IPv4-mapped IPv6 is matched as IPv4 */
        {"10.0.0.0/8", 0, "h", "::ffff:10.1.1.1", 1},
        {"[::ffff:0:0]/96", 0, "h", "::ffff:10.1.1.1", 0},
        /* names never match addresses and junk never matches */
        {"example.com", 0, "h", "example.com", 0},
        {"10.0.0.0/8", 0, "h", "not-an-address", 0},
        {"foo/bar", 0, "h", "10.0.0.1", 0},
        /* inline table: any value is a hit; parent lookups for names */
        {"inline:{h.test=whatever}", 0, "h.test", "1.1.1.1", 1},
        {"inline:{10.1.1.1=x}", 0, "h", "10.1.1.1", 1},
        {"inline:{.b.test=x}", 0, "a.b.test", "1.1.1.1", 1},
        {"inline:{b.test=x}", 0, "a.b.test", "1.1.1.1", 0},
        {"inline:{b.test=x}", MATCHLIST_PARENT, "a.b.test", "1.1.1.1", 1},
        {"!inline:{b.test=x} b.test", 0, "b.test", "1.1.1.1", 0},
    };
    run_namadr(c, sizeof(c) / sizeof(c[0]), MATCHLIST_NAMADR);
}

static void addr_and_domain_lists(void **state)
{
    (void)state;
    static const struct mcase a[] = {
        {"h.test 10.0.0.0/8", 0, NULL, "10.1.1.1", 1},
        {"h.test", 0, NULL, "10.1.1.1", 0},
        {"!10.1.1.1 10.0.0.0/8", 0, NULL, "10.1.1.1", 0},
    };
    run_namadr(a, sizeof(a) / sizeof(a[0]), MATCHLIST_ADDR);
    static const struct mcase d[] = {
        {"example.net", MATCHLIST_PARENT, "sub.example.net", NULL, 1},
        {"example.net", 0, "sub.example.net", NULL, 0},
        {"!no.example.com example.com", MATCHLIST_PARENT, "x.no.example.com", NULL, 0},
        {"!no.example.com example.com", MATCHLIST_PARENT, "yes.example.com", NULL, 1},
        {"[1.2.3.4]", 0, "[1.2.3.4]", NULL, 1},
        /* a network is only text in a domain list: never an error */
        {"1.2.3.4/24", 0, "1.2.3.4/24", NULL, 1},
        {"EXAMPLE.NET", 0, "example.net", NULL, 1},
    };
    run_namadr(d, sizeof(d) / sizeof(d[0]), MATCHLIST_DOMAIN);
}

static void bad_items_are_errors(void **state)
{
    (void)state;
    static const struct {
        const char *list;
        enum matchlist_kind kind;
        const char *needle;
    } c[] = {
        {"1.2.3.4/24", MATCHLIST_NAMADR, "non-null host address bits in \"1.2.3.4/24\", perhaps you should use \"1.2.3.0/24\""},
        {"1.2.3.0/33", MATCHLIST_ADDR, "bad mask length"},
        {"1.2.3.0/a", MATCHLIST_ADDR, "bad mask value"},
        {"1.2.3.0/x", MATCHLIST_ADDR, NULL}, /* not address characters: text, as Postfix */
        {"1.2.3.0/", MATCHLIST_ADDR, "bad mask value"},
        {"[2001:db8::1]/32", MATCHLIST_ADDR, "non-null host address bits"},
        {"[2001:db8::", MATCHLIST_ADDR, "missing ']'"},
        {"[::1]a", MATCHLIST_ADDR, "garbage after"},
        {"1.2.3.999/32", MATCHLIST_ADDR, "bad network value"},
        {"[1.2.3]", MATCHLIST_NAMADR, NULL}, /* no ':' or '/': text only, as Postfix */
        {"!", MATCHLIST_DOMAIN, "no pattern after '!'"},
        {"a, !!", MATCHLIST_DOMAIN, "no pattern after '!'"},
        {"2001:db8::/32", MATCHLIST_ADDR, "unsupported"}, /* IPv6 needs [] */
        {"nosuchtype:/x", MATCHLIST_DOMAIN, "nosuchtype"},
        {"/nonexistent/matchlist/file", MATCHLIST_DOMAIN, "open file /nonexistent/matchlist/file"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct matchlist *l;
        struct matchlist_err err;
        int rc = matchlist_compile("mynetworks", c[i].kind, 0, c[i].list, &l, &err);
        if (!c[i].needle) {
            assert_int_equal(rc, 0);
            matchlist_free(l);
            continue;
        }
        if (rc == 0)
            fail_msg("case %zu: \"%s\" compiled", i, c[i].list);
        assert_null(l);
        if (!strstr(err.msg, c[i].needle) || strncmp(err.msg, "mynetworks: ", 12) != 0)
            fail_msg("case %zu: \"%s\": message \"%s\"", i, c[i].list, err.msg);
    }
}

static void includes_expand_in_place(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_matchlistXXXXXX";
    assert_non_null(mkdtemp(dir));
    char inc[256], neg[256], list[1024];
    snprintf(inc, sizeof(inc), "%s/inc", dir);
    snprintf(neg, sizeof(neg), "%s/neg", dir);
    FILE *f = fopen(inc, "w");
    assert_non_null(f);
    fputs("# comment\n10.70.0.0/16, 10.71.1.1\n  10.72.0.0/16\n\n  # x\n[2001:db8:70::]/48\n", f);
    fclose(f);
    f = fopen(neg, "w");
    assert_non_null(f);
    fputs("10.80.0.0/16 !10.81.0.0/16\n", f);
    fclose(f);
    snprintf(list, sizeof(list), "!%s %s 10.0.0.0/8", neg, inc);
    struct matchlist *l;
    struct matchlist_err err;
    assert_int_equal(matchlist_compile("p", MATCHLIST_NAMADR, 0, list, &l, &err), 0);
    assert_int_equal(matchlist_match_namadr(l, "h", "10.70.1.1"), 1);
    assert_int_equal(matchlist_match_namadr(l, "h", "10.72.1.1"), 1); /* continuation */
    assert_int_equal(matchlist_match_namadr(l, "h", "2001:db8:70::1"), 1);
    assert_int_equal(matchlist_match_namadr(l, "h", "10.80.1.1"), 0); /* !file */
    assert_int_equal(matchlist_match_namadr(l, "h", "10.81.1.1"), 1); /* !!: match */
    assert_int_equal(matchlist_match_namadr(l, "h", "10.99.1.1"), 1);
    matchlist_free(l);
    unlink(inc);
    unlink(neg);
    rmdir(dir);
}

static void logical_lines(void **state)
{
    (void)state;
    static const char text[] = "  lead\nskipped-too? no\n# c\na\n b\n#x\n c\n\nd";
    struct strbuf sb;
    strbuf_init(&sb);
    size_t pos = 0;
    const char *want[] = {"skipped-too? no", "a b c", "d"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(matchlist_next_line(text, sizeof(text) - 1, &pos, &sb), 1);
        assert_string_equal(sb.buf, want[i]);
    }
    assert_int_equal(matchlist_next_line(text, sizeof(text) - 1, &pos, &sb), 0);
    strbuf_free(&sb);
}

static void tokens_and_braces(void **state)
{
    (void)state;
    static const char text[] = " a,b ,, inline:{x=1, y=2} {c d} !e {unclosed x";
    const char *want[] = {"a", "b", "inline:{x=1, y=2}", "{c d}", "!e", "{unclosed x"};
    size_t pos = 0, s, n;
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(matchlist_next_token(text, sizeof(text) - 1, &pos, &s, &n), 1);
        assert_int_equal(n, strlen(want[i]));
        assert_memory_equal(text + s, want[i], n);
    }
    assert_int_equal(matchlist_next_token(text, sizeof(text) - 1, &pos, &s, &n), 0);
}

static void parent_style_lookup(void **state)
{
    (void)state;
    assert_true(matchlist_parent_style("debug_peer_list,mynetworks relay_domains", "mynetworks"));
    assert_true(matchlist_parent_style("MYNETWORKS", "mynetworks"));
    assert_false(matchlist_parent_style("mynetworks_style", "mynetworks"));
    assert_false(matchlist_parent_style("", "mynetworks"));
}

static void mynetworks_styles(void **state)
{
    (void)state;
    const struct matchlist_iface ifs[] = {
        {4, {127, 0, 0, 1}, {255, 0, 0, 0}},
        {4, {192, 0, 2, 2}, {255, 255, 255, 0}},
        {4, {172, 20, 1, 9}, {255, 255, 240, 0}},
        {4, {10, 1, 2, 3}, {255, 0, 255, 0}}, /* non-contiguous: kept as Postfix */
        {6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
        {6, {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
    };
    char out[512];
    assert_int_equal(matchlist_mynetworks(MYNET_STYLE_HOST, ifs, 6, out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.1/32 192.0.2.2/32 172.20.1.9/32 10.1.2.3/32 [::1]/128 [fd00::2]/128");
    assert_int_equal(matchlist_mynetworks(MYNET_STYLE_SUBNET, ifs, 6, out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.0/8 192.0.2.0/24 172.20.0.0/20 10.0.2.0/24 [::1]/128 [fd00::]/64");
    assert_int_equal(matchlist_mynetworks(MYNET_STYLE_CLASS, ifs, 6, out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.0/8 192.0.2.0/24 172.20.0.0/16 10.0.0.0/8 [::1]/128 [fd00::]/64");
    const struct matchlist_iface mc[] = {{4, {224, 1, 2, 3}, {255, 255, 255, 255}}};
    assert_int_equal(matchlist_mynetworks(MYNET_STYLE_CLASS, mc, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "224.0.0.0/4");
    const struct matchlist_iface e[] = {{4, {240, 1, 2, 3}, {255, 255, 255, 255}}};
    assert_int_equal(matchlist_mynetworks(MYNET_STYLE_CLASS, e, 1, out, sizeof(out)), -EINVAL);
    assert_int_equal(matchlist_mynetworks(MYNET_STYLE_HOST, ifs, 6, out, 20), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(namadr_table),
        cmocka_unit_test(addr_and_domain_lists),
        cmocka_unit_test(bad_items_are_errors),
        cmocka_unit_test(includes_expand_in_place),
        cmocka_unit_test(logical_lines),
        cmocka_unit_test(tokens_and_braces),
        cmocka_unit_test(parent_style_lookup),
        cmocka_unit_test(mynetworks_styles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
