/*
 * test_queue_rcpt.c - recipients compared as Postfix compares them
 * (lib/queue_rcpt.c): qf_addr_equal (strcasecmp_utf8: orig_to= and
 * "expanded from") and qf_rcpt_dedup (cleanup's duplicate filter). The
 * expectations were checked against Postfix 3.7.11 through the daemon
 * test test_daemon_queue_redirect.py --postfix where SMTP can show them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "queue_file.h"

static void addr_equal(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        bool utf8, equal;
    } t[] = {
        {"a@example.org", "a@example.org", true, true},
        {"A@Example.ORG", "a@example.org", true, true},  /* local part folds too */
        {"C6@Y.TEST", "c6@y.test", false, true},
        {"a@example.org", "b@example.org", true, false},
        {"a@example.org", "a@example.org.", true, false},
        {"a@example.org", "a@example.or", true, false},
        {"", "", true, true},
        {"", "a", true, false},
        /* non-ASCII: full folding only with smtputf8_enable */
        {"\xc3\x89t\xc3\xa9@example.org", "\xc3\xa9t\xc3\xa9@example.org", true, true},
        {"\xc3\x89t\xc3\xa9@example.org", "\xc3\xa9t\xc3\xa9@example.org", false, false},
        {"stra\xc3\x9f" "e@x", "STRASSE@x", true, true},  /* sharp s folds to "ss" */
        {"stra\xc3\x9f" "e@x", "STRASSE@x", false, false},
        /* invalid UTF-8: byte for byte after ASCII folding */
        {"\xff" "A@x", "\xff" "a@x", true, true},
        {"\xff" "A@x", "\xfe" "a@x", true, false},
        {"\xc3" "@x", "\xc3\x89@x", true, false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (qf_addr_equal(t[i].a, t[i].b, t[i].utf8) != t[i].equal)
            fail_msg("case %zu: <%s> <%s> utf8=%d: want %d", i, t[i].a, t[i].b, t[i].utf8,
                     t[i].equal);
        /* symmetric */
        assert_int_equal(qf_addr_equal(t[i].b, t[i].a, t[i].utf8), t[i].equal);
    }
}

#define MAXR 8
#define R(a) {a, NULL, NULL}
struct rc {
    const char *addr, *orcpt, *notify;
};

static void dedup(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        struct rc in[MAXR];
        unsigned limit;
        const char *out[MAXR]; /* kept addresses, in order */
    } t[] = {
        {"none", {R("a@x"), R("b@x"), R("c@x")}, 1000, {"a@x", "b@x", "c@x"}},
        {"exact", {R("a@x"), R("a@x"), R("b@x"), R("a@x")}, 1000, {"a@x", "b@x"}},
        {"case, first spelling kept", {R("D@Y.TEST"), R("d@y.test"), R("d@Y.test")}, 1000,
         {"D@Y.TEST"}},
        {"NOTIFY differs", {R("e@x"), {"e@x", NULL, "FAILURE"}, {"e@x", NULL, "failure"}}, 1000,
         {"e@x", "e@x"}},
        {"NOTIFY order is the same mask",
         {{"e@x", NULL, "SUCCESS,FAILURE"}, {"e@x", NULL, "FAILURE,SUCCESS"}}, 1000, {"e@x"}},
        {"ORCPT differs", {{"f@x", "rfc822;g@x", NULL}, {"f@x", "rfc822;h@x", NULL}}, 1000,
         {"f@x", "f@x"}},
        {"ORCPT as smtpd makes it up",
         {{"f@x", "rfc822;f@x", NULL}, R("f@x"), {"F@X", "RFC822;F@x", NULL}}, 1000, {"f@x"}},
        {"limit 2: the third key is not remembered",
         {R("a@x"), R("b@x"), R("c@x"), R("c@x"), R("a@x")}, 2, {"a@x", "b@x", "c@x", "c@x"}},
        {"limit 0: no limit", {R("a@x"), R("b@x"), R("c@x"), R("c@x")}, 0, {"a@x", "b@x", "c@x"}},
        {"one", {R("a@x")}, 1, {"a@x"}},
        {"utf-8 folding", {R("\xc3\x89@x"), R("\xc3\xa9@X")}, 1000, {"\xc3\x89@x"}},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct qf_rcpt r[MAXR];
        memset(r, 0, sizeof(r));
        unsigned n = 0;
        for (; n < MAXR && t[i].in[n].addr; n++) {
            r[n].addr = (char *)t[i].in[n].addr;
            r[n].orcpt = (char *)t[i].in[n].orcpt;
            r[n].notify = (char *)t[i].in[n].notify;
            r[n].state = QF_PENDING;
        }
        unsigned got = qf_rcpt_dedup(r, n, t[i].limit, true);
        unsigned want = 0;
        while (want < MAXR && t[i].out[want])
            want++;
        if (got != want)
            fail_msg("%s: %u kept, want %u", t[i].what, got, want);
        for (unsigned k = 0; k < want; k++)
            if (strcmp(r[k].addr, t[i].out[k]) != 0)
                fail_msg("%s: #%u is <%s>, want <%s>", t[i].what, k, r[k].addr, t[i].out[k]);
    }
    /* the kept recipient keeps its own DSN facts (cleanup: "we do keep the
     * DSN attributes of the recipient that survives") */
    struct qf_rcpt r[3] = {{.addr = (char *)"a@x", .notify = (char *)"NEVER"},
                           {.addr = (char *)"b@x"},
                           {.addr = (char *)"A@X", .notify = (char *)"NEVER"}};
    assert_int_equal(qf_rcpt_dedup(r, 3, 1000, true), 2);
    assert_string_equal(r[0].notify, "NEVER");
    assert_string_equal(r[1].addr, "b@x");
    assert_null(r[1].notify);
    assert_int_equal(qf_rcpt_dedup(r, 0, 1000, true), 0);
}

/* Many recipients, every one twice in another case: the table grows with n. */
static void dedup_many(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char buf[2 * N][32];
    static struct qf_rcpt r[2 * N];
    memset(r, 0, sizeof(r));
    for (unsigned i = 0; i < N; i++) {
        snprintf(buf[2 * i], sizeof(buf[0]), "user%u@example.org", i);
        snprintf(buf[2 * i + 1], sizeof(buf[0]), "USER%u@EXAMPLE.ORG", i);
        r[2 * i].addr = buf[2 * i];
        r[2 * i + 1].addr = buf[2 * i + 1];
    }
    assert_int_equal(qf_rcpt_dedup(r, 2 * N, 0, true), N);
    for (unsigned i = 0; i < N; i++)
        assert_ptr_equal(r[i].addr, buf[2 * i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addr_equal),
        cmocka_unit_test(dedup),
        cmocka_unit_test(dedup_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
