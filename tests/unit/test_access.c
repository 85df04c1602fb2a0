/*
 * test_access.c - the access(5) lookup order. A recording table type
 * (defined here) notes every key it is asked for, so each case asserts the
 * exact sequence Postfix's smtpd_check.c would try: fixed vs pattern
 * tables, parent_domain_matches_subdomains on/off, recipient_delimiter
 * "+", "+-" and empty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "maps.h"

#define MAX_KEYS 16

static char seen[MAX_KEYS][128];
static size_t nseen;
static const char *hit_key;   /* the key that is "in the table", or NULL */
static const char *hit_value; /* its value */
static const char *fail_key;  /* the key whose lookup fails with -EIO */

static int rec_lookup(struct map *m, const char *key, size_t keylen, struct map_value *out)
{
    (void)m;
    assert_true(nseen < MAX_KEYS);
    assert_int_equal(strlen(key), keylen); /* NUL-terminated at key[keylen] */
    assert_true(keylen < sizeof(seen[0]));
    memcpy(seen[nseen], key, keylen + 1);
    nseen++;
    if (fail_key && strcmp(key, fail_key) == 0)
        return -EIO;
    if (hit_key && strcmp(key, hit_key) == 0) {
        int rc = map_value_set(out, hit_value, strlen(hit_value));
        return rc < 0 ? rc : 1;
    }
    return 0;
}

static const struct map_type rec_fixed = {
    .name = "recfixed", .flags = MAP_FIXED | MAP_FOLD, .lookup = rec_lookup};
static const struct map_type rec_pattern = {
    .name = "recpattern", .flags = MAP_PATTERN, .lookup = rec_lookup};

enum kind { CLIENT, HELO, SENDER, RCPT };

struct order_case {
    enum kind kind;
    int pattern;       /* pattern table instead of fixed */
    int pdms;          /* parent_domain_matches_subdomains */
    const char *delim; /* recipient_delimiter */
    const char *a, *b; /* name+addr, helo, or address */
    const char *keys[MAX_KEYS];
};

static const struct order_case order_cases[] = {
    {CLIENT, 0, 1, "", "mail.Example.COM", "192.0.2.10",
     {"mail.example.com", "example.com", "com", "192.0.2.10", "192.0.2", "192.0", "192"}},
    {CLIENT, 0, 0, "", "mail.example.com", "192.0.2.10",
     {"mail.example.com", ".example.com", ".com", "192.0.2.10", "192.0.2", "192.0", "192"}},
    {CLIENT, 1, 1, "", "mail.Example.COM", "192.0.2.10", {"mail.Example.COM", "192.0.2.10"}},
    /* "unknown" is looked up like any name */
    {CLIENT, 0, 1, "", "unknown", "2001:db8::1",
     {"unknown", "2001:db8::1", "2001:db8:", "2001:db8", "2001"}},
    /* the empty key left after cutting "::1" is never looked up */
    {CLIENT, 0, 1, "", "unknown", "::1", {"unknown", "::1", ":"}},
    {HELO, 0, 1, "", "Mail.Example.com", NULL, {"mail.example.com", "example.com", "com"}},
    {HELO, 0, 0, "", "mail.example.com", NULL, {"mail.example.com", ".example.com", ".com"}},
    {HELO, 1, 0, "", "Mail.Example.com", NULL, {"Mail.Example.com"}},
    {HELO, 0, 1, "", "192.0.2.1", NULL, {"192.0.2.1"}},
    {HELO, 0, 1, "", "2001:db8::1", NULL, {"2001:db8::1"}},
    {HELO, 0, 1, "", "[192.0.2.1]", NULL, {"[192.0.2.1]", "0.2.1]", "2.1]", "1]"}},
    {HELO, 0, 0, "", "[192.0.2.1]", NULL, {"[192.0.2.1]", ".0.2.1]", ".2.1]", ".1]"}},
    {HELO, 0, 1, "", "foo.", NULL, {"foo."}},
    {HELO, 0, 0, "", "foo.", NULL, {"foo.", "."}},
    {HELO, 0, 1, "", "localhost", NULL, {"localhost"}},
    {SENDER, 0, 1, "+", "User+Ext@Sub.Example.COM", NULL,
     {"user+ext@sub.example.com", "user@sub.example.com", "sub.example.com", "example.com",
      "com", "user+ext@", "user@"}},
    {SENDER, 0, 0, "+", "u@sub.example.com", NULL,
     {"u@sub.example.com", "sub.example.com", ".example.com", ".com", "u@"}},
    /* resolved addresses are lower-cased even for pattern tables */
    {SENDER, 1, 1, "+", "User+Ext@Sub.Example.COM", NULL, {"user+ext@sub.example.com"}},
    {SENDER, 0, 1, "", "user+ext@x.org", NULL, {"user+ext@x.org", "x.org", "org", "user+ext@"}},
    {SENDER, 0, 1, "+-", "a-b+c@x.org", NULL,
     {"a-b+c@x.org", "a@x.org", "x.org", "org", "a-b+c@", "a@"}},
    {SENDER, 0, 1, "-", "owner-list@x.org", NULL, {"owner-list@x.org", "x.org", "org", "owner-list@"}},
    {SENDER, 0, 1, "+-", "list-request@x.org", NULL,
     {"list-request@x.org", "x.org", "org", "list-request@"}},
    {SENDER, 0, 1, "+", "owner-list+x@x.org", NULL,
     {"owner-list+x@x.org", "owner-list@x.org", "x.org", "org", "owner-list+x@", "owner-list@"}},
    {SENDER, 0, 1, "+", "postmaster+x@x.org", NULL,
     {"postmaster+x@x.org", "postmaster@x.org", "x.org", "org", "postmaster+x@", "postmaster@"}},
    {SENDER, 0, 1, "+", "MAILER-DAEMON@x.org", NULL, {"mailer-daemon@x.org", "x.org", "org", "mailer-daemon@"}},
    {SENDER, 0, 1, "+", "+x@x.org", NULL, {"+x@x.org", "x.org", "org", "+x@"}},
    {SENDER, 0, 1, "+", "u+@x.org", NULL, {"u+@x.org", "u@x.org", "x.org", "org", "u+@", "u@"}},
    {SENDER, 0, 1, "+", "", NULL, {"<>"}},
    {SENDER, 1, 1, "+", "", NULL, {"<>"}},
    {SENDER, 0, 1, "+", "nodomain", NULL, {NULL}},
    {RCPT, 0, 1, "+", "", NULL, {NULL}},
    {RCPT, 0, 1, "+", "a+b@[192.0.2.1]", NULL,
     {"a+b@[192.0.2.1]", "a@[192.0.2.1]", "[192.0.2.1]", "0.2.1]", "2.1]", "1]", "a+b@", "a@"}},
    {RCPT, 1, 0, "+", "A+B@X.ORG", NULL, {"a+b@x.org"}},
};

static int run(const struct map_type *type, enum kind kind, const struct access_opts *o,
               const char *a, const char *b, struct map_value *v, struct access_match *mt)
{
    struct map m = {.type = type, .ref = (char *)"rec:x", .name = (char *)"x"};
    nseen = 0;
    switch (kind) {
    case CLIENT:
        return access_lookup_client(&m, o, a, b, v, mt);
    case HELO:
        return access_lookup_helo(&m, o, a, v, mt);
    case SENDER:
        return access_lookup_sender(&m, o, a, v, mt);
    default:
        return access_lookup_recipient(&m, o, a, v, mt);
    }
}

static void access_key_order(void **state)
{
    (void)state;
    char buf[64];
    struct map_value v = {buf, sizeof(buf), 0};
    static struct access_match mt;

    hit_key = fail_key = NULL;
    for (size_t c = 0; c < sizeof(order_cases) / sizeof(order_cases[0]); c++) {
        const struct order_case *tc = &order_cases[c];
        struct access_opts o;
        access_opts_default(&o);
        o.parent_matches_subdomains = tc->pdms;
        o.recipient_delimiter = tc->delim;
        int rc = run(tc->pattern ? &rec_pattern : &rec_fixed, tc->kind, &o, tc->a, tc->b, &v,
                     &mt);
        assert_int_equal(rc, 0);
        size_t nwant = 0;
        while (nwant < MAX_KEYS && tc->keys[nwant])
            nwant++;
        if (nseen != nwant) {
            print_message("case %zu (%s): keys tried:\n", c, tc->a);
            for (size_t i = 0; i < nseen; i++)
                print_message("  %s\n", seen[i]);
        }
        assert_int_equal(nseen, nwant);
        for (size_t i = 0; i < nwant; i++)
            assert_string_equal(seen[i], tc->keys[i]);
    }
}

static void access_first_found_stops(void **state)
{
    (void)state;
    char buf[64];
    struct map_value v = {buf, sizeof(buf), 0};
    static struct access_match mt;
    struct access_opts o;
    access_opts_default(&o);

    hit_key = "192.0.2";
    hit_value = "REJECT no";
    fail_key = NULL;
    assert_int_equal(run(&rec_fixed, CLIENT, &o, "unknown", "192.0.2.10", &v, &mt), 1);
    assert_string_equal(buf, "REJECT no");
    assert_int_equal(mt.keylen, 7);
    assert_memory_equal(mt.key, "192.0.2", 7);
    assert_int_equal(nseen, 3); /* unknown, 192.0.2.10, 192.0.2 */

    /* DUNNO is found too: the search ends there */
    hit_key = "example.com";
    hit_value = "DUNNO";
    o.recipient_delimiter = "+";
    assert_int_equal(run(&rec_fixed, SENDER, &o, "a+b@mail.example.com", NULL, &v, &mt), 1);
    assert_string_equal(mt.key, "example.com");
    assert_int_equal(nseen, 4);

    /* an empty result is a table error, as in Postfix's maps_find() */
    hit_key = "x.org";
    hit_value = "";
    assert_int_equal(run(&rec_fixed, RCPT, &o, "u@x.org", NULL, &v, &mt), -EINVAL);

    /* a table error stops the search and is returned */
    hit_key = NULL;
    fail_key = "com";
    assert_int_equal(run(&rec_fixed, HELO, &o, "a.b.com", NULL, &v, &mt), -EIO);
    assert_int_equal(nseen, 3);
    fail_key = NULL;
}

static void access_long_input(void **state)
{
    (void)state;
    char buf[64];
    struct map_value v = {buf, sizeof(buf), 0};
    static struct access_match mt;
    static char addr[ACCESS_KEY_MAX];
    struct access_opts o;
    access_opts_default(&o);

    memset(addr, 'a', sizeof(addr) - 1);
    addr[100] = '@';
    addr[sizeof(addr) - 1] = '\0';
    hit_key = fail_key = NULL;
    assert_int_equal(run(&rec_fixed, SENDER, &o, addr, NULL, &v, &mt), -ENAMETOOLONG);
    assert_int_equal(nseen, 0);
}

/* End to end on a real fixed table: inline: folds keys like hash: does. */
static void access_with_inline_table(void **state)
{
    (void)state;
    char buf[64];
    struct map_value v = {buf, sizeof(buf), 0};
    static struct access_match mt;
    struct access_opts o;
    struct map *m;
    struct map_err err;
    access_opts_default(&o);
    o.recipient_delimiter = "+";

    assert_int_equal(map_open("inline:{ example.com=REJECT, { 192.0.2 = 554 go away }, "
                              "postmaster@=OK, <>=DUNNO }",
                              0, &m, &err),
                     0);
    assert_int_equal(access_lookup_client(m, &o, "x.Example.COM", "198.51.100.1", &v, &mt), 1);
    assert_string_equal(buf, "REJECT");
    assert_int_equal(access_lookup_client(m, &o, "unknown", "192.0.2.77", &v, &mt), 1);
    assert_string_equal(buf, "554 go away");
    assert_int_equal(access_lookup_sender(m, &o, "PostMaster+x@other.org", &v, &mt), 1);
    assert_string_equal(buf, "OK");
    assert_string_equal(mt.key, "postmaster@");
    assert_int_equal(access_lookup_sender(m, &o, "", &v, &mt), 1);
    assert_string_equal(buf, "DUNNO");
    assert_int_equal(access_lookup_helo(m, &o, "other.org", &v, &mt), 0);
    map_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(access_key_order),
        cmocka_unit_test(access_first_found_stops),
        cmocka_unit_test(access_long_input),
        cmocka_unit_test(access_with_inline_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
