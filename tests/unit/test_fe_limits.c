/* test_fe_limits.c - postscreen's queue bookkeeping and the DNSBL reply text
 * (frontend/fe_limits.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fe_limits.h"

/* One step of a connection's life, applied to connection `conn`. */
enum op { ENTER, HOLD, LEAVE };
struct step {
    int conn;
    enum op op;
    uint32_t pre, held; /* the lengths after the step */
};

static void run(const struct step *steps, size_t n)
{
    struct fe_queues q = {0, 0};
    uint8_t qf[4] = {0};
    for (size_t i = 0; i < n; i++) {
        const struct step *s = &steps[i];
        switch (s->op) {
        case ENTER: fe_queues_enter_pre(&q, &qf[s->conn]); break;
        case HOLD: fe_queues_hold(&q, &qf[s->conn]); break;
        case LEAVE: fe_queues_leave(&q, &qf[s->conn]); break;
        }
        if (q.pre != s->pre || q.held != s->held)
            fail_msg("step %zu (conn %d op %d): pre %u held %u, want %u %u", i, s->conn, s->op,
                     q.pre, q.held, s->pre, s->held);
    }
}

static void queues_move_and_never_drift(void **state)
{
    (void)state;
    /* screening, held, handed over */
    static const struct step life[] = {
        {0, ENTER, 1, 0}, {1, ENTER, 2, 0}, {0, HOLD, 1, 1}, {0, LEAVE, 1, 0}, {1, LEAVE, 0, 0},
    };
    run(life, sizeof(life) / sizeof(life[0]));
    /* counted once however often a step repeats (a held client retries) */
    static const struct step repeat[] = {
        {0, ENTER, 1, 0}, {0, ENTER, 1, 0}, {0, HOLD, 0, 1}, {0, HOLD, 0, 1},
        {0, ENTER, 0, 1}, /* a held client does not go back to screening */
        {0, LEAVE, 0, 0}, {0, LEAVE, 0, 0},
    };
    run(repeat, sizeof(repeat) / sizeof(repeat[0]));
    /* never counted: an allowlisted client held, a client closed before
     * its pre-queue check, a client closed twice */
    static const struct step odd[] = {
        {2, HOLD, 0, 1}, {3, LEAVE, 0, 1}, {1, ENTER, 1, 1}, {2, LEAVE, 1, 0},
        {2, LEAVE, 1, 0}, {1, LEAVE, 0, 0}, {1, LEAVE, 0, 0},
    };
    run(odd, sizeof(odd) / sizeof(odd[0]));
}

static void leave_keeps_other_bits(void **state)
{
    (void)state;
    struct fe_queues q = {0, 0};
    uint8_t qf = FE_QF_VETO;
    fe_queues_enter_pre(&q, &qf);
    fe_queues_leave(&q, &qf);
    assert_int_equal(qf, FE_QF_VETO);
    assert_int_equal(q.pre, 0);
}

static void limits_as_postscreen(void **state)
{
    (void)state;
    static const struct {
        uint32_t pre, held;
        uint64_t unacked;
        uint32_t limit;
        bool pre_full, post_full;
    } t[] = {
        {0, 0, 0, 0, false, false},   /* 0: no limit (never configured: min 10 / 5) */
        {99, 0, 0, 100, false, false},
        {100, 0, 0, 100, true, false}, /* postscreen: length >= limit */
        {0, 99, 0, 100, false, false},
        {0, 99, 1, 100, false, true},  /* held and unacked add up */
        {0, 0, 100, 100, false, true},
        {0, 0, UINT64_MAX, 5, false, true},
        {UINT32_MAX, UINT32_MAX, UINT64_MAX - UINT32_MAX, 5, true, true},
        {5, 5, 0, 0, false, false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct fe_queues q = {t[i].pre, t[i].held};
        if (fe_queues_pre_full(&q, t[i].limit) != t[i].pre_full ||
            fe_queues_post_full(&q, t[i].unacked, t[i].limit) != t[i].post_full)
            fail_msg("row %zu", i);
    }
}

static void dnsbl_reply_text(void **state)
{
    (void)state;
    char buf[192];
    static const char want[] =
        "550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.example\r\n";
    assert_int_equal(fe_dnsbl_reply_format(buf, sizeof(buf), "550", "192.0.2.1", "zen.example", 11),
                     (int)strlen(want));
    assert_string_equal(buf, want);
    /* an empty name, as Postfix would print it */
    assert_true(fe_dnsbl_reply_format(buf, sizeof(buf), "521", "::1", "", 0) > 0);
    assert_string_equal(buf, "521 5.7.1 Service unavailable; client [::1] blocked using \r\n");
    /* name_len bounds the name: no NUL needed */
    char name[3] = {'a', 'b', 'c'};
    assert_true(fe_dnsbl_reply_format(buf, sizeof(buf), "550", "192.0.2.1", name, 2) > 0);
    assert_non_null(strstr(buf, "blocked using ab\r\n"));
}

static void dnsbl_reply_nasty(void **state)
{
    (void)state;
    char buf[192];
    /* a table value with CR, LF, TAB and DEL cannot split the reply */
    static const char evil[] = "a\r\n250 ok\tb\x7f";
    int n = fe_dnsbl_reply_format(buf, sizeof(buf), "550", "192.0.2.1", evil, strlen(evil));
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(buf));
    assert_string_equal(buf + n - 2, "\r\n");
    assert_null(strpbrk(buf, "\t\x7f"));
    assert_ptr_equal(strchr(buf, '\r'), buf + n - 2);
    assert_non_null(strstr(buf, "using a??250 ok?b?\r\n"));
    /* a long name is cut, the CRLF stays, the buffer is never overrun */
    char big[1000];
    memset(big, 'x', sizeof(big));
    for (size_t cap = 0; cap <= sizeof(buf); cap++) {
        char b[200];
        memset(b, '#', sizeof(b));
        n = fe_dnsbl_reply_format(b, cap, "550", "255.255.255.255", big, sizeof(big));
        size_t fixed = strlen("550 5.7.1 Service unavailable; client [255.255.255.255] blocked "
                              "using ");
        if (cap < fixed + 3) {
            assert_int_equal(n, -1);
        } else {
            assert_int_equal(n, (int)cap - 1);
            assert_string_equal(b + n - 2, "\r\n");
        }
        for (size_t i = cap; i < sizeof(b); i++)
            assert_int_equal(b[i], '#');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queues_move_and_never_drift),
        cmocka_unit_test(leave_keeps_other_bits),
        cmocka_unit_test(limits_as_postscreen),
        cmocka_unit_test(dnsbl_reply_text),
        cmocka_unit_test(dnsbl_reply_nasty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
