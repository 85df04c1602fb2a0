/* test_data_frame.c - DATA/BDAT framing: end of data, smuggling attempts
 * under each smtpd_forbid_bare_newline setting (as Postfix 3.7.11 answered
 * them, see tests/peer/message_peer.py), records, size, chunking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "data_frame.h"

struct buf {
    char b[8192];
    size_t n;
};

static void collect(void *ctx, const char *p, size_t n)
{
    struct buf *b = ctx;
    assert_true(b->n + n <= sizeof(b->b));
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

#define NO DATA_BARE_LF_NO
#define NORM DATA_BARE_LF_NORMALIZE
#define REJ DATA_BARE_LF_REJECT
#define S(x) x, sizeof(x) - 1

static const struct fcase {
    const char *name;
    enum data_bare_lf mode;
    size_t limit;
    uint64_t size_limit;
    const char *in;
    size_t in_len;
    int end;          /* DATA_FRAME_END expected */
    size_t used;      /* bytes of the message (when end) */
    const char *out;  /* bytes passed on */
    size_t out_len;
    unsigned err;
} cases[] = {
    {"plain", NO, 2048, 0, S("a\r\nb\r\n.\r\nQUIT\r\n"), 1, 9, S("a\r\nb\r\n"), 0},
    {"empty message", NO, 2048, 0, S(".\r\n"), 1, 3, S(""), 0},
    {"stuffed kept", NO, 2048, 0, S("..x\r\n.\r\n"), 1, 8, S("..x\r\n"), 0},
    {"dot space is content", NO, 2048, 0, S(". \r\n.\r\n"), 1, 7, S(". \r\n"), 0},
    {"no end yet", NO, 2048, 0, S("a\r\n.\r"), 0, 0, S("a\r\n"), 0},
    /* smuggling, setting no: every variant ends DATA (Postfix 3.7.11 did) */
    {"no lf.lf", NO, 2048, 0, S("b\n.\nX\r\n.\r\n"), 1, 4, S("b\n"), 0},
    {"no crlf.lf", NO, 2048, 0, S("b\r\n.\nX\r\n.\r\n"), 1, 5, S("b\r\n"), 0},
    {"no lf.crlf", NO, 2048, 0, S("b\n.\r\nX\r\n.\r\n"), 1, 5, S("b\n"), 0},
    {"no dot cr cr lf", NO, 2048, 0, S("a\r\n.\r\r\nX\r\n.\r\n"), 1, 7, S("a\r\n"), 0},
    /* normalize: those "." lines vanish, only CRLF.CRLF ends */
    {"norm lf.lf", NORM, 2048, 0, S("b\n.\nX\r\n.\r\n"), 1, 10, S("b\nX\r\n"), 0},
    {"norm crlf.lf", NORM, 2048, 0, S("b\r\n.\nX\r\n.\r\n"), 1, 11, S("b\r\nX\r\n"), 0},
    {"norm lf.crlf", NORM, 2048, 0, S("b\n.\r\nX\r\n.\r\n"), 1, 11, S("b\nX\r\n"), 0},
    {"norm dot cr cr lf is content", NORM, 2048, 0, S("a\r\n.\r\r\nX\r\n.\r\n"), 1, 13,
     S("a\r\n.\r\r\nX\r\n"), 0},
    {"norm bare lf content ok", NORM, 2048, 0, S("a\nb\r\n.\r\n"), 1, 8, S("a\nb\r\n"), 0},
    /* the "." after a discarded bare-LF "." line follows a bare LF too */
    {"norm first line dot lf", NORM, 2048, 0, S(".\n.\r\n.\r\n"), 1, 8, S(""), 0},
    /* reject: same framing, and the bare LF is an error */
    {"rej lf.lf", REJ, 2048, 0, S("b\n.\nX\r\n.\r\n"), 1, 10, S("b\n"), DATA_ERR_BARE_LF},
    {"rej crlf.lf", REJ, 2048, 0, S("b\r\n.\nX\r\n.\r\n"), 1, 11, S("b\r\n"),
     DATA_ERR_BARE_LF},
    {"rej clean", REJ, 2048, 0, S("a\rb\r\n.\r\n"), 1, 8, S("a\rb\r\n"), 0},
    /* records: a dot at the start of a continued record is not a dot line */
    {"split line dot", NO, 4, 0, S("abcd.\r\n.\r\n"), 1, 10, S("abcd.\r\n"), 0},
    {"split at cr lf", NO, 4, 0, S("abc\r\n.\r\n"), 1, 8, S("abc\r\n"), 0},
    {"dot cr at bound", NO, 2, 0, S(".\r\nx\r\n.\r\n"), 1, 3, S(""), 0},
    {"limit one", NO, 1, 0, S("ab\r\n.\r\n"), 0, 0, S("ab\r\n.\r\n"), 0},
    /* message_size_limit: len + 2 per record after unstuffing */
    {"size exact", NO, 2048, 8, S("abc\r\n.x\r\n.\r\n"), 1, 12, S("abc\r\n.x\r\n"), 0},
    {"size over", NO, 2048, 7, S("abc\r\n.x\r\n.\r\n"), 1, 12, S("abc\r\n"), DATA_ERR_SIZE},
    {"8bit", NO, 2048, 0, S("\xc3\xa9\xff\x00z\r\n.\r\n"), 1, 10, S("\xc3\xa9\xff\x00z\r\n"), 0},
};

static void run_case(const struct fcase *c, size_t split)
{
    struct data_frame f;
    struct data_frame_opts o = {c->mode, c->limit, c->size_limit};
    struct buf b = {.n = 0};
    size_t used = 0, total = 0;
    enum data_frame_status st = DATA_FRAME_MORE;
    assert_int_equal(data_frame_init(&f, &o), 0);
    /* Feed in two pieces cut at split (the whole when split >= len). */
    size_t pieces[2] = {split < c->in_len ? split : c->in_len, 0};
    pieces[1] = c->in_len - pieces[0];
    for (int i = 0; i < 2 && st == DATA_FRAME_MORE; i++) {
        st = data_frame_feed(&f, c->in + total, pieces[i], &used, collect, &b);
        total += used;
    }
    if (st != (c->end ? DATA_FRAME_END : DATA_FRAME_MORE) || (c->end && total != c->used) ||
        f.err != c->err ||
        /* After an error the bytes passed on do not matter (the message
         * is refused) and depend on where the chunks end. */
        (c->err == 0 && (b.n != c->out_len || memcmp(b.b, c->out, b.n) != 0))) {
        print_error("case '%s' split %zu: end %d used %zu err %u out '%.*s'\n", c->name, split,
                    st == DATA_FRAME_END, total, f.err, (int)b.n, b.b);
        fail();
    }
}

static void table_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i], SIZE_MAX);
}

static void every_split_same_result(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (size_t s = 0; s <= cases[i].in_len; s++)
            run_case(&cases[i], s);
}

static void byte_at_a_time(void **state)
{
    (void)state;
    static const char in[] = "x\r\n..y\r\n.\r\r\n" "abcdefgh\r\n.\r\nNEXT";
    struct data_frame_opts o = {DATA_BARE_LF_NORMALIZE, 5, 0};
    struct data_frame f;
    struct buf b = {.n = 0};
    size_t used, i;
    assert_int_equal(data_frame_init(&f, &o), 0);
    for (i = 0; i < sizeof(in) - 1; i++)
        if (data_frame_feed(&f, in + i, 1, &used, collect, &b) == DATA_FRAME_END)
            break;
    assert_int_equal(i + 1, sizeof(in) - 1 - 4);
    assert_int_equal(b.n, strlen("x\r\n..y\r\n.\r\r\nabcdefgh\r\n"));
    assert_memory_equal(b.b, "x\r\n..y\r\n.\r\r\nabcdefgh\r\n", b.n);
    /* After the end nothing more is taken. */
    assert_int_equal(data_frame_feed(&f, "a", 1, &used, collect, &b), DATA_FRAME_END);
    assert_int_equal(used, 0);
}

static void bdat_chunks(void **state)
{
    (void)state;
    struct data_frame_opts o = {DATA_BARE_LF_REJECT, 2048, 0};
    struct data_frame f;
    struct buf b = {.n = 0};
    assert_int_equal(data_frame_init_bdat(&f, &o), 0);
    assert_int_equal(data_frame_bdat(&f, S(".a\r\n.\r"), 0, collect, &b), DATA_FRAME_MORE);
    assert_int_equal(data_frame_bdat(&f, S("\nz"), 1, collect, &b), DATA_FRAME_END);
    /* Dots are stuffed for the consumer; ".\r\n" is content in BDAT. */
    assert_int_equal(b.n, strlen("..a\r\n..\r\nz"));
    assert_memory_equal(b.b, "..a\r\n..\r\nz", b.n);
    assert_int_equal(f.err, 0);
    assert_int_equal(f.size, 4 + 3 + 3);

    memset(&b, 0, sizeof(b));
    assert_int_equal(data_frame_init_bdat(&f, &o), 0);
    assert_int_equal(data_frame_bdat(&f, S("a\nb\r\n"), 1, collect, &b), DATA_FRAME_END);
    assert_int_equal(f.err, DATA_ERR_BARE_LF);
}

/* The size Postfix 3.7.11 reports after BDAT ... LAST ("Ok: N bytes
 * queued as"), its act_size, for chunk sequences seen there
 * (tests/peer/bdat_peer.py): each record counts its length plus 2. */
static void bdat_size(void **state)
{
    static const struct {
        enum data_bare_lf mode;
        const char *chunks[3]; /* the last one is sent with LAST */
        uint64_t size;
    } sizes[] = {
        {DATA_BARE_LF_NO, {"hello", "abc"}, 10},
        {DATA_BARE_LF_NO, {"hello"}, 7},
        {DATA_BARE_LF_NO, {"ab\ncd\n"}, 8},
        {DATA_BARE_LF_NO, {"ab\r", "\ncd\r\n"}, 8},
        {DATA_BARE_LF_NO, {"ab", "cd\r\nef"}, 10},
        {DATA_BARE_LF_NO, {"ab\r\r\ncd\r\n"}, 8},
        {DATA_BARE_LF_NORMALIZE, {"ab\r\r\ncd\r\n"}, 9},
        {DATA_BARE_LF_NO, {".\r\n..x\r\n"}, 8},
        {DATA_BARE_LF_NO, {"a\r\n.x"}, 7},
        {DATA_BARE_LF_NO, {"ab\r"}, 5},
        {DATA_BARE_LF_NO, {"\r\n", ""}, 2},
        {DATA_BARE_LF_NO, {"a\r\n", "b\r\n", "c\r\n"}, 9},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct data_frame_opts o = {sizes[i].mode, 2048, 0};
        struct data_frame f;
        struct buf b = {.n = 0};
        size_t n = 0;
        while (n < 3 && sizes[i].chunks[n])
            n++;
        assert_int_equal(data_frame_init_bdat(&f, &o), 0);
        for (size_t k = 0; k < n; k++)
            data_frame_bdat(&f, sizes[i].chunks[k], strlen(sizes[i].chunks[k]), k + 1 == n,
                            collect, &b);
        if (f.size != sizes[i].size)
            fail_msg("case %zu: size %llu, Postfix says %llu", i, (unsigned long long)f.size,
                     (unsigned long long)sizes[i].size);
    }
    /* 3000 bytes and CRLF: records of 2048 and 952 bytes. */
    struct data_frame_opts o = {DATA_BARE_LF_NO, 2048, 0};
    struct data_frame f;
    static char big[3002];
    memset(big, 'y', 3000);
    memcpy(big + 3000, "\r\n", 2);
    assert_int_equal(data_frame_init_bdat(&f, &o), 0);
    data_frame_bdat(&f, big, sizeof(big), 1, NULL, NULL);
    assert_int_equal(f.size, 3004);
}

static void parse_and_reply(void **state)
{
    (void)state;
    enum data_bare_lf m;
    char buf[128];
    assert_int_equal(data_bare_lf_parse(S("Normalize"), &m), 0);
    assert_int_equal(m, DATA_BARE_LF_NORMALIZE);
    assert_int_equal(data_bare_lf_parse(S("YES"), &m), 0);
    assert_int_equal(m, DATA_BARE_LF_NORMALIZE);
    assert_int_equal(data_bare_lf_parse(S("reject"), &m), 0);
    assert_int_equal(m, DATA_BARE_LF_REJECT);
    assert_int_equal(data_bare_lf_parse(S("no"), &m), 0);
    assert_int_equal(m, DATA_BARE_LF_NO);
    assert_int_equal(data_bare_lf_parse(S("noo"), &m), -EINVAL);
    assert_int_equal(data_bare_lf_parse(S(""), &m), -EINVAL);
    assert_int_equal(data_frame_reply(DATA_ERR_BARE_LF, 550, "mx.test", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "550 5.5.2 mx.test Error: bare <LF> received");
    assert_int_equal(data_frame_reply(DATA_ERR_SIZE, 550, "mx.test", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "552 5.3.4 Error: message file too big");
    assert_int_equal(data_frame_reply(0, 550, "mx.test", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(data_frame_reply(DATA_ERR_SIZE, 550, "mx", buf, 10), -ENOSPC);
    struct data_frame f;
    struct data_frame_opts bad = {DATA_BARE_LF_NO, 0, 0};
    assert_int_equal(data_frame_init(&f, &bad), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_cases),     cmocka_unit_test(every_split_same_result),
        cmocka_unit_test(byte_at_a_time),  cmocka_unit_test(bdat_chunks),
        cmocka_unit_test(bdat_size),
        cmocka_unit_test(parse_and_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
