/* test_matchlist_segment.c - a match list compiled while a maps.h placer
 * points at a policy segment lives in the segment: the struct, every item,
 * every text and the table pointers lie inside it after the seal, a write
 * to them faults (in a forked child), and every probe answers exactly as
 * the same list compiled on the heap - for an address list with networks,
 * IPv6, negation, an include file and a cidr: table, and a 5,000-entry
 * domain list. matchlist_free() of a placed list closes its tables and
 * leaves the segment alone (ASan would see a bad free). A segment too
 * small for the list refuses it with "policy segment full", nothing leaked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"
#include "matchlist.h"
#include "segment.h"
#include "util.h"
#include "write_fault.h"

static char dir[] = "/tmp/test_matchlist_segment.XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    write_file("nets", "# an include file\n10.9.0.0/16\n!10.8.0.1 10.8.0.0/16\n");
    write_file("cidr", "172.16.0.0/12 OK\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

struct probe {
    const char *name, *addr;
};

/* Compile value twice, on the heap and in a sealed segment, and compare
 * every probe; then check where the placed list's memory is. */
static void compare(enum matchlist_kind kind, unsigned flags, const char *value,
                    const struct probe *probes, size_t np)
{
    struct matchlist *heap, *placed;
    struct matchlist_err err;
    assert_int_equal(matchlist_compile("mynetworks", kind, flags, value, &heap, &err), 0);
    assert_false(heap->placed);

    struct segment *seg;
    struct map_placer pl;
    assert_int_equal(segment_create(31, 0, &seg), 0);
    segment_map_placer(seg, &pl);
    maps_set_placer(&pl);
    int rc = matchlist_compile("mynetworks", kind, flags, value, &placed, &err);
    maps_set_placer(NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(segment_seal(seg), 0);

    assert_true(placed->placed);
    assert_true(segment_contains(seg, placed));
    assert_true(segment_contains(seg, placed->name));
    assert_string_equal(placed->name, "mynetworks");
    assert_int_equal(placed->n, heap->n);
    assert_int_equal(placed->nmaps, heap->nmaps);
    if (placed->nmaps)
        assert_true(segment_contains(seg, placed->maps));
    for (size_t i = 0; i < placed->n; i++) {
        assert_true(segment_contains(seg, &placed->items[i]));
        assert_true(segment_contains(seg, placed->items[i].text));
        assert_string_equal(placed->items[i].text, heap->items[i].text);
    }
    assert_int_equal(write_fault_signal(placed->items), SIGSEGV);
    assert_int_equal(write_fault_signal(placed->items[placed->n - 1].text), SIGSEGV);

    for (size_t i = 0; i < np; i++) {
        int want = matchlist_match_namadr(heap, probes[i].name, probes[i].addr);
        int got = matchlist_match_namadr(placed, probes[i].name, probes[i].addr);
        if (want != got)
            fail_msg("probe %zu (%s, %s): heap %d, segment %d", i,
                     probes[i].name ? probes[i].name : "-", probes[i].addr ? probes[i].addr : "-",
                     want, got);
    }
    matchlist_free(placed);
    matchlist_free(heap);
    segment_free(seg);
}

static void test_addresses(void **state)
{
    (void)state;
    char value[512];
    snprintf(value, sizeof(value),
             "127.0.0.0/8 [::1]/128 !192.0.2.7 192.0.2.0/24 [2001:db8::]/32 %s/nets "
             "cidr:%s/cidr .trusted.example host.example",
             dir, dir);
    static const struct probe probes[] = {
        {"unknown", "127.0.0.1"},     {"unknown", "::1"},         {"unknown", "192.0.2.7"},
        {"unknown", "192.0.2.8"},     {"unknown", "2001:db8::5"}, {"unknown", "2001:db9::5"},
        {"unknown", "10.9.3.4"},      {"unknown", "10.8.0.1"},    {"unknown", "10.8.0.2"},
        {"unknown", "172.20.1.1"},    {"unknown", "198.51.100.1"},
        {"a.trusted.example", "198.51.100.1"}, {"HOST.example", "198.51.100.1"},
        {"unknown", "::ffff:192.0.2.9"},
    };
    compare(MATCHLIST_NAMADR, 0, value, probes, ARRAY_LEN(probes));
}

static int domain_item(char *buf, size_t cap, int i)
{
    return snprintf(buf, cap, "relay%04d.example ", i);
}

static int net_item(char *buf, size_t cap, int i)
{
    return snprintf(buf, cap, "10.%d.%d.0/24 ", i / 256, i % 256);
}

/* A list value of n items, item(i) each. */
static void list_value(struct strbuf *v, int n, int (*item)(char *buf, size_t cap, int i))
{
    strbuf_init(v);
    for (int i = 0; i < n; i++) {
        char one[64];
        strbuf_append(v, one, (size_t)item(one, sizeof(one), i));
    }
    strbuf_cstr(v);
}

/* The size a big relay_domains list has: every entry answers. */
static void test_big_domain_list(void **state)
{
    (void)state;
    struct strbuf v;
    list_value(&v, 5000, domain_item);
    static const struct probe probes[] = {
        {"relay0000.example", NULL}, {"RELAY4999.example", NULL}, {"relay2500.example", NULL},
        {"sub.relay0001.example", NULL}, {"relay5000.example", NULL}, {"example", NULL},
    };
    compare(MATCHLIST_DOMAIN, MATCHLIST_PARENT, v.buf, probes, ARRAY_LEN(probes));
    strbuf_free(&v);
}

/* Too small a segment: the list is refused, the heap copy freed. */
static void test_segment_full(void **state)
{
    (void)state;
    struct strbuf v;
    list_value(&v, 2000, net_item);
    struct segment *seg;
    struct map_placer pl;
    assert_int_equal(segment_create(32, 64 * 1024, &seg), 0);
    segment_map_placer(seg, &pl);
    maps_set_placer(&pl);
    struct matchlist *l = (struct matchlist *)1;
    struct matchlist_err err;
    int rc = matchlist_compile("mynetworks", MATCHLIST_NAMADR, 0, v.buf, &l, &err);
    maps_set_placer(NULL);
    assert_int_equal(rc, -ENOMEM);
    assert_null(l);
    assert_string_equal(err.msg, "mynetworks: policy segment full");
    segment_free(seg);
    strbuf_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_big_domain_list),
        cmocka_unit_test(test_segment_full),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
