/* test_message.c - the content pipeline: header/mime/nested/body checks
 * acting on a message fed as DATA bytes, the output for the next hop, the
 * fate, and that chunking never changes any of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"
#include "message.h"

struct out {
    char b[65536];
    size_t n;
    char log[8][600];
    int nlog;
};

static void collect(void *ctx, const char *p, size_t n)
{
    struct out *o = ctx;
    assert_true(o->n + n <= sizeof(o->b));
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void logline(void *ctx, enum message_log_level lvl, const char *line)
{
    struct out *o = ctx;
    (void)lvl;
    if (o->nlog < 8)
        snprintf(o->log[o->nlog++], sizeof(o->log[0]), "%s", line);
}

static struct map *table(const char *text)
{
    char path[] = "/tmp/test_message_XXXXXX";
    char ref[64];
    int fd = mkstemp(path);
    struct map *m;
    struct map_err err;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    snprintf(ref, sizeof(ref), "regexp:%s", path);
    assert_int_equal(map_open(ref, 0, &m, &err), 0);
    unlink(path);
    return m;
}

static const struct maillog_client client = {"host.test", "192.0.2.1", "helo.test", "ESMTP"};

/* Run msg through a fresh pipeline, fed in pieces of at most chunk bytes. */
static void run(const struct message_checks *ck, size_t body_limit, uint64_t size_limit,
                const char *msg, size_t len, size_t chunk, struct out *o,
                struct message_verdict *v)
{
    struct message_opts mo = {0};
    struct message *m;
    struct message_env env = {.queue_id = "QID1", .client = &client, .sender = "s@x.test",
                              .recipient = "r@y.test",
                              .received = "Received: from helo.test\n\tby mx.test; date",
                              .received_len = strlen("Received: from helo.test\n\tby mx.test; date")};
    size_t off = 0, used;
    enum data_frame_status st = DATA_FRAME_MORE;
    memset(o, 0, sizeof(*o));
    mime_limits_default(&mo.mime);
    mo.mime.body_checks_size_limit = body_limit;
    mo.frame.line_length_limit = mo.mime.line_length_limit;
    mo.frame.bare_lf = DATA_BARE_LF_NORMALIZE;
    mo.frame.message_size_limit = size_limit;
    mo.checks = *ck;
    mo.myhostname = "mx.test";
    mo.out = collect;
    mo.log = logline;
    mo.ctx = o;
    assert_int_equal(message_create(&mo, &m), 0);
    assert_int_equal(message_begin(m, &env), 0);
    while (off < len && st == DATA_FRAME_MORE) {
        size_t n = len - off < chunk ? len - off : chunk;
        st = message_feed(m, msg + off, n, &used);
        off += used;
    }
    assert_int_equal(st, DATA_FRAME_END);
    message_finish(m, v);
    message_free(m);
}

#define MSG(x) x, sizeof(x) - 1

static void header_actions(void **state)
{
    (void)state;
    struct map *h = table("/^X-Drop:/ IGNORE\n/^Subject: (.*)/ PREPEND X-Old-Subject: $1\n"
                          "/^X-Warn:/ WARN watch it\n");
    struct message_checks ck = {h, h, h, NULL};
    struct out o;
    struct message_verdict v;
    run(&ck, 0, 0,
        MSG("X-Drop: a\r\n b\r\nSubject: hi\r\nX-Warn: w\r\n\r\n..dotted\r\n\xc3\xa9t\xe9\r\n.\r\n"),
        SIZE_MAX, &o, &v);
    static const char want[] = "Received: from helo.test\r\n\tby mx.test; date\r\n"
                               "X-Old-Subject: hi\r\nSubject: hi\r\nX-Warn: w\r\n\r\n"
                               ".dotted\r\n\xc3\xa9t\xe9\r\n";
    assert_int_equal(v.fate, MESSAGE_ACCEPT);
    assert_int_equal(o.n, sizeof(want) - 1);
    assert_memory_equal(o.b, want, o.n);
    assert_int_equal(o.nlog, 1);
    assert_string_equal(o.log[0], "QID1: warning: header X-Warn: w from host.test[192.0.2.1]; "
                                  "from=<s@x.test> to=<r@y.test> proto=ESMTP helo=<helo.test>: "
                                  "watch it");
    map_close(h);
}

static void every_chunking_same(void **state)
{
    (void)state;
    struct map *h = table("/^X-Drop:/ IGNORE\n/^Subject:/ PREPEND X-P: 1\n");
    struct map *b = table("/^strip me$/ IGNORE\n");
    struct message_checks ck = {h, h, h, b};
    static const char msg[] = "Subject: a\r\nX-Drop: x\r\n\tcont\r\nMIME-Version: 1.0\r\n"
                              "Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
                              "--BB\r\nContent-Type: text/plain\r\n\r\nstrip me\r\n.\n..\r\n"
                              "keep\r\n--BB--\r\n.\r\n";
    struct out o1, o2;
    struct message_verdict v1, v2;
    run(&ck, 0, 0, MSG(msg), SIZE_MAX, &o1, &v1);
    assert_null(memmem(o1.b, o1.n, "strip me", 8));
    assert_non_null(memmem(o1.b, o1.n, "X-P: 1\r\nSubject: a\r\n", 20));
    assert_null(memmem(o1.b, o1.n, "X-Drop", 6));
    for (size_t c = 1; c < sizeof(msg); c++) {
        run(&ck, 0, 0, MSG(msg), c, &o2, &v2);
        assert_int_equal(o1.n, o2.n);
        assert_memory_equal(o1.b, o2.b, o1.n);
        assert_int_equal(v1.fate, v2.fate);
    }
    map_close(h);
    map_close(b);
}

static void nested_reject(void **state)
{
    (void)state;
    struct map *h = table("/^Subject: bad/ DUNNO\n");
    struct map *n = table("/^Subject: bad/ REJECT nested bad\n");
    struct message_checks ck = {h, h, n, NULL};
    struct out o;
    struct message_verdict v;
    static const char msg[] = "Subject: bad\r\nContent-Type: message/rfc822\r\n\r\n"
                              "Subject: bad\r\n\r\ninner\r\n.\r\n";
    run(&ck, 0, 0, MSG(msg), SIZE_MAX, &o, &v);
    assert_int_equal(v.fate, MESSAGE_REJECT);
    assert_string_equal(v.reply, "550 5.7.1 nested bad");
    assert_non_null(strstr(o.log[0], "QID1: reject: header Subject: bad from host.test"));
    map_close(h);
    map_close(n);
}

static void fates(void **state)
{
    (void)state;
    struct map *h = table("/^X-Hold:/ HOLD held\n/^X-Discard:/ DISCARD\n/^X-Rej:/ REJECT\n"
                          "/^X-Defer:/ REJECT 4.7.1 later\n/^X-Redir:/ REDIRECT a@b.test\n"
                          "/^X-Filter:/ FILTER smtp:[h]\n");
    struct message_checks ck = {h, h, h, NULL};
    struct out o;
    struct message_verdict v;
    run(&ck, 0, 0, MSG("X-Hold: 1\r\nX-Hold: 2\r\nX-Redir: 1\r\n\r\nb\r\n.\r\n"), SIZE_MAX, &o, &v);
    assert_int_equal(v.fate, MESSAGE_ACCEPT);
    assert_true(v.hold);
    assert_string_equal(v.redirect, "a@b.test");
    assert_int_equal(o.nlog, 2); /* one hold line only, and the redirect */
    run(&ck, 0, 0, MSG("X-Hold: 1\r\nX-Discard: 1\r\nX-Rej: 1\r\n\r\n.\r\n"), SIZE_MAX, &o, &v);
    assert_int_equal(v.fate, MESSAGE_DISCARD);
    run(&ck, 0, 0, MSG("X-Rej: 1\r\nX-Discard: 1\r\n\r\n.\r\n"), SIZE_MAX, &o, &v);
    assert_int_equal(v.fate, MESSAGE_REJECT);
    assert_string_equal(v.reply, "550 5.7.1 message content rejected");
    run(&ck, 0, 0, MSG("X-Defer: 1\r\n\r\n.\r\n"), SIZE_MAX, &o, &v);
    assert_int_equal(v.fate, MESSAGE_DEFER);
    assert_string_equal(v.reply, "451 4.7.1 later");
    run(&ck, 0, 0, MSG("X-Filter: 1\r\n\r\n.\r\n"), SIZE_MAX, &o, &v);
    assert_int_equal(v.fate, MESSAGE_DEFER);
    assert_string_equal(v.reply, "451 4.3.5 Error: server configuration error");
    map_close(h);
}

static void body_limit_and_size(void **state)
{
    (void)state;
    struct map *b = table("/^bad$/ REJECT body bad\n");
    struct message_checks ck = {NULL, NULL, NULL, b};
    struct out o;
    struct message_verdict v;
    /* The empty line counts 1, "x...x" (20 bytes) 21: "bad" is at 22. */
    static const char late[] = "S: 1\r\n\r\nxxxxxxxxxxxxxxxxxxxx\r\nbad\r\n.\r\n";
    run(&ck, 22, 0, MSG(late), SIZE_MAX, &o, &v);
    assert_int_equal(v.fate, MESSAGE_ACCEPT);
    assert_non_null(memmem(o.b, o.n, "\r\nbad\r\n", 7));
    run(&ck, 23, 0, MSG(late), SIZE_MAX, &o, &v);
    assert_int_equal(v.fate, MESSAGE_REJECT);
    assert_string_equal(v.reply, "550 5.7.1 body bad");
    /* 6 + 2 + 22 + 5 = 35 bytes of records */
    run(&ck, 0, 35, MSG(late), SIZE_MAX, &o, &v);
    assert_int_equal(v.fate, MESSAGE_REJECT);
    assert_int_equal(v.size, 35);
    run(&ck, 0, 34, MSG(late), SIZE_MAX, &o, &v);
    assert_int_equal(v.fate, MESSAGE_REJECT);
    assert_string_equal(v.reply, "552 5.3.4 Error: message file too big");
    assert_int_equal(v.frame_err, DATA_ERR_SIZE);
    map_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_actions), cmocka_unit_test(every_chunking_same),
        cmocka_unit_test(nested_reject),  cmocka_unit_test(fates),
        cmocka_unit_test(body_limit_and_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
