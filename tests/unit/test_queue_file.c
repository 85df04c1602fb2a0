/* test_queue_file.c - the queue file codec: round trip, every truncation,
 * hand-made corruptions (each named), in-place updates on a real file,
 * and the queue directory's moves and tmp cleanup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_dir.h"
#include "queue_file.h"

static const char content[] = "Received: from x\r\nSubject: hi\r\n\r\nbody\r\n.dot\r\n";

/* A complete file: envelope (two recipients, one with DSN fields),
 * content, trailer. */
static void build(struct strbuf *sb, const char *id)
{
    struct qf_rcpt r[2] = {
        {.addr = "a@example.org", .orcpt = "rfc822;A@example.org", .notify = "FAILURE,DELAY"},
        {.addr = "\"b c\"@example.net", .state = QF_PENDING, .error = "451 4.3.0 try again"},
    };
    struct qf_env e = {
        .arrival = 1700000000,
        .sender = "s@example.com",
        .client_name = "mail.example.com",
        .client_addr = "192.0.2.1",
        .helo = "mail.example.com",
        .proto = "ESMTP",
        .envid = "ENV1",
        .ret = "HDRS",
        .rcpt = r,
        .nrcpt = 2,
        .content_len = sizeof(content) - 1,
    };
    snprintf(e.queue_id, sizeof(e.queue_id), "%s", id);
    strbuf_init(sb);
    size_t loff = 0;
    assert_int_equal(qf_encode_head(&e, sb, &loff), 0);
    char digits[QF_LENGTH_LEN + 1];
    qf_format_length(sizeof(content) - 1, digits);
    assert_memory_equal(sb->buf + loff, digits, QF_LENGTH_LEN);
    strbuf_append(sb, content, sizeof(content) - 1);
    strbuf_append(sb, QF_TRAILER, QF_TRAILER_LEN);
}

static void round_trip(void **state)
{
    (void)state;
    struct strbuf sb;
    build(&sb, "ABC123");
    struct qf_env e;
    struct qf_error err;
    assert_int_equal(qf_decode(sb.buf, sb.len, sb.len, &e, &err), QF_OK);
    assert_string_equal(e.queue_id, "ABC123");
    assert_int_equal(e.arrival, 1700000000);
    assert_string_equal(e.sender, "s@example.com");
    assert_string_equal(e.client_addr, "192.0.2.1");
    assert_string_equal(e.ret, "HDRS");
    assert_int_equal(e.nrcpt, 2);
    assert_string_equal(e.rcpt[0].addr, "a@example.org");
    assert_string_equal(e.rcpt[0].orcpt, "rfc822;A@example.org");
    assert_string_equal(e.rcpt[0].notify, "FAILURE,DELAY");
    assert_int_equal(e.rcpt[0].state, QF_PENDING);
    assert_string_equal(e.rcpt[0].error, "");
    assert_string_equal(e.rcpt[1].addr, "\"b c\"@example.net");
    assert_null(e.rcpt[1].orcpt);
    assert_string_equal(e.rcpt[1].error, "451 4.3.0 try again");
    assert_int_equal(e.rcpt[1].state, QF_PENDING);
    assert_int_equal(sb.buf[e.rcpt[1].status_off], 'P');
    assert_int_equal(e.content_len, sizeof(content) - 1);
    assert_memory_equal(sb.buf + e.content_off, content, sizeof(content) - 1);
    assert_int_equal(qf_pending(&e), 2);
    qf_env_free(&e);
    /* The null sender and no optional field. */
    struct qf_rcpt r = {.addr = "x@y"};
    struct qf_env m = {.queue_id = "Z", .sender = "", .rcpt = &r, .nrcpt = 1};
    strbuf_reset(&sb);
    assert_int_equal(qf_encode_head(&m, &sb, NULL), 0);
    strbuf_append(&sb, QF_TRAILER, QF_TRAILER_LEN);
    assert_int_equal(qf_decode(sb.buf, sb.len, sb.len, &e, &err), QF_OK);
    assert_string_equal(e.sender, "");
    assert_null(e.helo);
    assert_int_equal(e.content_len, 0);
    qf_env_free(&e);
    strbuf_free(&sb);
}

/* The encoder refuses what the decoder would refuse. */
static void encode_refuses(void **state)
{
    (void)state;
    struct qf_rcpt r = {.addr = "x@y"};
    struct qf_rcpt crlf = {.addr = "x@y\r\nR3:bad"};
    struct {
        const char *id, *sender;
        struct qf_rcpt *rc;
        unsigned n;
    } cases[] = {
        {"", "s", &r, 1},           /* empty id */
        {"a/b", "s", &r, 1},        /* id with a slash: a path */
        {"a.b", "s", &r, 1},        /* a dot: "a.b" could be a tmp name */
        {"ID", NULL, &r, 1},        /* no sender */
        {"ID", "s", &r, 0},         /* no recipient */
        {"ID", "s\nS1:x", &r, 1},   /* LF in sender */
        {"ID", "s", &crlf, 1},      /* CRLF in recipient */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qf_env e = {.sender = (char *)cases[i].sender, .rcpt = cases[i].rc,
                           .nrcpt = cases[i].n};
        snprintf(e.queue_id, sizeof(e.queue_id), "%s", cases[i].id);
        struct strbuf sb;
        strbuf_init(&sb);
        strbuf_puts(&sb, "keep");
        assert_int_equal(qf_encode_head(&e, &sb, NULL), -EINVAL);
        assert_int_equal(sb.len, 4); /* nothing appended */
        strbuf_free(&sb);
    }
}

/* Every prefix of a good file is truncated as a whole file, and QF_SHORT
 * or OK (once the envelope is in) as a prefix. */
static void every_truncation(void **state)
{
    (void)state;
    struct strbuf sb;
    build(&sb, "T1");
    struct qf_env e;
    struct qf_error err;
    assert_int_equal(qf_decode(sb.buf, sb.len, sb.len, &e, &err), QF_OK);
    size_t env_end = (size_t)e.content_off;
    qf_env_free(&e);
    for (size_t n = 0; n < sb.len; n++) {
        enum qf_result q = qf_decode(sb.buf, n, n, &e, &err);
        assert_int_equal(q, QF_BAD);
        assert_true(err.what[0] != '\0');
        q = qf_decode(sb.buf, n, sb.len, &e, &err);
        assert_int_equal(q, n >= env_end ? QF_OK : QF_SHORT);
        if (q == QF_OK)
            qf_env_free(&e);
    }
    strbuf_free(&sb);
}

struct bad_case {
    const char *from, *to; /* replace the first "from" in a good file */
    const char *what;      /* part of the error text */
};

static void corruptions(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"MXQ1\n", "MXQ2\n", "bad magic"},
        {"I2:C1\n", "S2:C1\n", "first record is not a queue id"},
        {"I2:C1\n", "I2:C/\n", "bad queue id"},
        {"T10:", "T9:", "no newline"},
        {"T10:1700000000", "T10:17000000x0", "record T: not a number"},
        {"S13:", "S99999999:", "over 65536"},
        {"S13:", "S1234567890:", "bad length"},
        {"S13:", "S:", "bad length"},
        {"S13:", "s13:", "bad record type"},
        {"S13:s@example.com\n", "", "no sender"},
        {"C16:mail.example.com\n", "C16:mail.exa\001ple.com\nC1:x\n", "more than once"},
        {"H16:mail.example.com", "H16:mail.exa\rple.com", "NUL, CR or LF"},
        {"W31:0000000000 ", "W31:0000000000-", "record W"},
        {"W31:", "Q31:", "unknown record type Q"},
        {"D258:P", "D258:Q", "bad recipient state"},
        {"D258:P ", "D258:PX", "bad recipient state"},
        {"D258:", "D257:", "no newline"},
        {"R13:a@example.org\nD258:", "R13:a@example.org\nT258:", "where its state D belongs"},
        {"O20:rfc822;A@example.org\nN13:FAILURE,DELAY\nR13:", "O20:rfc822;A@example.org\nH1:x\nR13:",
         "not followed by a recipient"},
        {"M20:0000", "M20:0009", "truncated: content"},
        {"M20:000", "M20:999", "number out of range"},
        {"M20:0000000000000000004", "M20:0000000000000000003", "after the content"},
        {"M20:", "M19:", "no newline"},
        {"M20:0", "M20:x", "expected 20 digits"},
        {"X0:\n", "X0:x", "no trailer"},
        /* DSN fields: what the runner would act on must mean something. */
        {"N13:FAILURE,DELAY\n", "N13:FAILURE,DELAX\n", "not a valid DSN value"},
        {"N13:FAILURE,DELAY\n", "N15:FAILURE,FAILURE\n", "not a valid DSN value"},
        {"N13:FAILURE,DELAY\n", "N11:NEVER,DELAY\n", "not a valid DSN value"},
        {"N13:FAILURE,DELAY\n", "N8:FAILURE,\n", "not a valid DSN value"},
        {"N13:FAILURE,DELAY\n", "N0:\n", "not a valid DSN value"},
        {"V4:HDRS", "V4:HDRX", "not a valid DSN value"},
        {"V4:HDRS", "V4:hdrs", "not a valid DSN value"},
        {"E4:ENV1", "E4:EN\x7f" "1", "not a valid DSN value"},
        {"E4:ENV1", "E4:EN\xc3" "\xa9", "not a valid DSN value"},
        {"E4:ENV1\n", "E0:\n", "not a valid DSN value"},
        {"O20:rfc822;A@example.org", "O20:rfc822,A@example.org", "not a valid DSN value"},
        {"O20:rfc822;A@example.org", "O20:;rfc822A@example.org", "not a valid DSN value"},
        {"O20:rfc822;A@example.org\nN13:FAILURE,DELAY\n",
         "O20:rfc822;A@example.org\nO4:x;yz\nN13:FAILURE,DELAY\n", "more than once"},
    };
    struct strbuf good;
    build(&good, "C1");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *bc = &cases[i];
        /* Search the envelope only, except for the trailer case. */
        const char *p = NULL;
        for (size_t k = 0; k + strlen(bc->from) <= good.len; k++)
            if (!memcmp(good.buf + k, bc->from, strlen(bc->from))) {
                p = good.buf + k;
                break;
            }
        if (!p)
            fail_msg("case %zu: \"%s\" not in the good file", i, bc->from);
        struct strbuf sb;
        strbuf_init(&sb);
        strbuf_append(&sb, good.buf, (size_t)(p - good.buf));
        strbuf_puts(&sb, bc->to);
        size_t rest = (size_t)(p - good.buf) + strlen(bc->from);
        strbuf_append(&sb, good.buf + rest, good.len - rest);
        struct qf_env e;
        struct qf_error err;
        enum qf_result q = qf_decode(sb.buf, sb.len, sb.len, &e, &err);
        if (q != QF_BAD || !strstr(err.what, bc->what))
            fail_msg("case %zu (%s): result %d, \"%s\"", i, bc->to, (int)q, err.what);
        strbuf_free(&sb);
    }
    strbuf_free(&good);
}

/* NOTIFY text both ways, and the writer refusing what the reader would. */
static void dsn_fields(void **state)
{
    (void)state;
    static const struct {
        unsigned mask;
        const char *text;
    } fmt[] = {
        {0, ""},
        {QF_NOTIFY_NEVER, "NEVER"},
        {QF_NOTIFY_NEVER | QF_NOTIFY_SUCCESS, "NEVER"},
        {QF_NOTIFY_DELAY | QF_NOTIFY_SUCCESS, "SUCCESS,DELAY"},
        {QF_NOTIFY_SUCCESS | QF_NOTIFY_FAILURE | QF_NOTIFY_DELAY, "SUCCESS,FAILURE,DELAY"},
    };
    for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
        char out[QF_NOTIFY_TEXT_MAX];
        qf_notify_format(fmt[i].mask, out);
        assert_string_equal(out, fmt[i].text);
        if (fmt[i].text[0])
            assert_int_equal(qf_notify_parse(out, strlen(out)), (int)(fmt[i].mask & QF_NOTIFY_NEVER ? QF_NOTIFY_NEVER : fmt[i].mask));
    }
    static const struct {
        const char *text;
        int want;
    } parse[] = {
        {"delay,Success", QF_NOTIFY_DELAY | QF_NOTIFY_SUCCESS},
        {"FAILURE", QF_NOTIFY_FAILURE},
        {"", -EINVAL},
        {",", -EINVAL},
        {"SUCCESS,", -EINVAL},
        {",SUCCESS", -EINVAL},
        {"SUCCESS,,DELAY", -EINVAL},
        {"NEVER,NEVER", -EINVAL},
        {"FAILURE,NEVER", -EINVAL},
        {"SUCCES", -EINVAL},
        {"SUCCESSX", -EINVAL},
        {"SUCCESS DELAY", -EINVAL},
    };
    for (size_t i = 0; i < sizeof(parse) / sizeof(parse[0]); i++)
        if (qf_notify_parse(parse[i].text, strlen(parse[i].text)) != parse[i].want)
            fail_msg("\"%s\": got %d", parse[i].text,
                     qf_notify_parse(parse[i].text, strlen(parse[i].text)));

    /* The writer refuses the same values. */
    struct qf_rcpt r = {.addr = "a@b"};
    struct qf_env e = {.sender = "", .rcpt = &r, .nrcpt = 1};
    snprintf(e.queue_id, sizeof(e.queue_id), "Q1");
    struct strbuf sb;
    strbuf_init(&sb);
    const char *bad_notify[] = {"", "SOMETIMES", "NEVER,DELAY"};
    for (size_t i = 0; i < 3; i++) {
        r.notify = (char *)bad_notify[i];
        assert_int_equal(qf_encode_head(&e, &sb, NULL), -EINVAL);
        assert_int_equal(sb.len, 0);
    }
    r.notify = NULL;
    r.orcpt = (char *)"no-type";
    assert_int_equal(qf_encode_head(&e, &sb, NULL), -EINVAL);
    r.orcpt = NULL;
    e.ret = (char *)"ALL";
    assert_int_equal(qf_encode_head(&e, &sb, NULL), -EINVAL);
    e.ret = NULL;
    e.envid = (char *)"";
    assert_int_equal(qf_encode_head(&e, &sb, NULL), -EINVAL);
    e.envid = (char *)"x\tb";
    assert_int_equal(qf_encode_head(&e, &sb, NULL), -EINVAL);
    e.envid = (char *)"ok";
    r.state = QF_SUCCESS_DUE;
    assert_int_equal(qf_encode_head(&e, &sb, NULL), 0);
    /* 'S' reads back: delivered, not pending, its notice owed. */
    strbuf_append(&sb, QF_TRAILER, QF_TRAILER_LEN);
    struct qf_env d;
    struct qf_error err;
    assert_int_equal(qf_decode(sb.buf, sb.len, sb.len, &d, &err), QF_OK);
    assert_int_equal(d.rcpt[0].state, QF_SUCCESS_DUE);
    assert_int_equal(qf_pending(&d), 0);
    assert_string_equal(d.envid, "ok");
    qf_env_free(&d);
    strbuf_free(&sb);
}

static void no_recipient_and_missing_records(void **state)
{
    (void)state;
    static const char *files[] = {
        "MXQ1\nI1:A\nT1:0\nS0:\nW31:0000000000 00000000000000000000\nM20:00000000000000000000\nX0:\n",
        "MXQ1\nI1:A\nS0:\nW31:0000000000 00000000000000000000\nR1:x\nD258:P",
        "MXQ1\nI1:A\nI1:A\n",
        "MXQ1\nI1:A\nT1:0\nT1:0\n",
    };
    static const char *what[] = {"no recipient", "truncated", "more than once", "more than once"};
    for (size_t i = 0; i < 4; i++) {
        struct qf_env e;
        struct qf_error err;
        size_t n = strlen(files[i]);
        enum qf_result q = qf_decode(files[i], n, n, &e, &err);
        if (q != QF_BAD || !strstr(err.what, what[i]))
            fail_msg("file %zu: result %d, \"%s\"", i, (int)q, err.what);
    }
}

static void in_place_updates(void **state)
{
    (void)state;
    char path[] = "/tmp/test_queue_file_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct strbuf sb;
    build(&sb, "U1");
    assert_int_equal(write(fd, sb.buf, sb.len), (ssize_t)sb.len);
    struct qf_env e;
    struct qf_error err;
    assert_int_equal(qf_read_envelope(fd, &e, &err), 0);
    assert_int_equal(qf_mark(fd, &e, 0, QF_DELIVERED, "250 2.0.0 Ok\r\n"), 0);
    assert_int_equal(qf_mark(fd, &e, 1, QF_PENDING, "450 4.1.1 <b>: mailbox busy"), 0);
    assert_int_equal(qf_mark(fd, &e, 2, QF_DELIVERED, NULL), -EINVAL);
    assert_int_equal(qf_mark(fd, &e, 0, 'Z', NULL), -EINVAL);
    assert_int_equal(qf_set_schedule(fd, &e, 3, 1700003600), 0);
    qf_env_free(&e);
    assert_int_equal(qf_read_envelope(fd, &e, &err), 0);
    assert_int_equal(e.rcpt[0].state, QF_DELIVERED);
    assert_string_equal(e.rcpt[0].error, "250 2.0.0 Ok");
    assert_string_equal(e.rcpt[1].error, "450 4.1.1 <b>: mailbox busy");
    assert_int_equal(e.attempts, 3);
    assert_int_equal(e.next_attempt, 1700003600);
    assert_int_equal(qf_pending(&e), 1);
    /* The content is untouched. */
    char buf[sizeof(content)];
    assert_int_equal(pread(fd, buf, e.content_len, (off_t)e.content_off),
                     (ssize_t)e.content_len);
    assert_memory_equal(buf, content, e.content_len);
    qf_env_free(&e);
    /* A truncated file says so. */
    assert_int_equal(ftruncate(fd, (off_t)sb.len - 2), 0);
    assert_int_equal(qf_read_envelope(fd, &e, &err), -EBADMSG);
    assert_non_null(strstr(err.what, "truncated"));
    close(fd);
    unlink(path);
    strbuf_free(&sb);
}

static int count_cb(void *ctx, const char *id)
{
    (void)id;
    (*(int *)ctx)++;
    return 0;
}

static void directory(void **state)
{
    (void)state;
    char top[] = "/tmp/test_queue_dir_XXXXXX";
    assert_non_null(mkdtemp(top));
    char q[256];
    snprintf(q, sizeof(q), "%s/queue", top);
    assert_int_equal(qdir_create(q, getuid(), getgid()), 0);
    assert_int_equal(qdir_create(q, getuid(), getgid()), 0); /* again: all there */
    struct qdir d;
    assert_int_equal(qdir_open(q, &d), 0);
    /* A message in incoming, tmp leftovers of a dead and a live writer. */
    int fd = openat(d.fd[QDIR_INCOMING], "M1", O_CREAT | O_WRONLY, 0600);
    close(fd);
    char live[64];
    snprintf(live, sizeof(live), "%ld.M2", (long)getpid());
    close(openat(d.fd[QDIR_TMP], live, O_CREAT | O_WRONLY, 0600));
    close(openat(d.fd[QDIR_TMP], "999999999.M3", O_CREAT | O_WRONLY, 0600));
    close(openat(d.fd[QDIR_TMP], "junk", O_CREAT | O_WRONLY, 0600));
    assert_int_equal(qdir_clean_tmp(&d, 0), 2);
    assert_int_equal(faccessat(d.fd[QDIR_TMP], live, F_OK, 0), 0);
    assert_int_equal(qdir_find(&d, "M1"), QDIR_INCOMING);
    assert_int_equal(qdir_move(&d, "M1", QDIR_INCOMING, QDIR_HOLD), 0);
    assert_int_equal(qdir_find(&d, "M1"), QDIR_HOLD);
    assert_int_equal(qdir_move(&d, "M1", QDIR_INCOMING, QDIR_HOLD), -ENOENT);
    assert_int_equal(qdir_move(&d, "../x", QDIR_INCOMING, QDIR_HOLD), -EINVAL);
    assert_int_equal(qdir_find(&d, "nope"), -ENOENT);
    int n = 0;
    assert_int_equal(qdir_scan(&d, QDIR_HOLD, count_cb, &n), 0);
    assert_int_equal(n, 1);
    unlinkat(d.fd[QDIR_HOLD], "M1", 0);
    unlinkat(d.fd[QDIR_TMP], live, 0);
    qdir_close(&d);
    for (int i = 0; i < QDIR_COUNT; i++) {
        char p[300];
        snprintf(p, sizeof(p), "%s/%s", q, qdir_name((enum qdir_queue)i));
        rmdir(p);
    }
    rmdir(q);
    rmdir(top);
}

/* A file with content of clen bytes ('x') and the given tail bytes. */
static void build_tail(struct strbuf *sb, size_t clen, const char *tail, size_t tlen)
{
    struct qf_rcpt r = {.addr = "a@example.org"};
    struct qf_env e = {.arrival = 1, .sender = "", .rcpt = &r, .nrcpt = 1, .content_len = clen};
    snprintf(e.queue_id, sizeof(e.queue_id), "R1");
    strbuf_init(sb);
    assert_int_equal(qf_encode_head(&e, sb, NULL), 0);
    for (size_t i = 0; i < clen; i++)
        strbuf_putc(sb, 'x');
    strbuf_append(sb, tail, tlen);
}

/* The REDIRECT record after the content: written, read whole, read
 * through qf_read_envelope's head + tail path (content over its first
 * read), and refused in every malformed spelling. */
static void redirect_tail(void **state)
{
    (void)state;
    struct strbuf t, sb;
    strbuf_init(&t);
    assert_int_equal(qf_encode_tail("r@example.net", &t), 0);
    assert_int_equal(t.len, strlen("G13:r@example.net\nX0:\n"));
    assert_memory_equal(t.buf, "G13:r@example.net\nX0:\n", t.len);
    struct qf_env e;
    struct qf_error err;
    for (size_t clen = 0; clen < 70000; clen += 69999) {
        build_tail(&sb, clen, t.buf, t.len);
        assert_int_equal(qf_decode(sb.buf, sb.len, sb.len, &e, &err), QF_OK);
        assert_string_equal(e.redirect, "r@example.net");
        assert_int_equal(e.tail_off, e.content_off + clen);
        qf_env_free(&e);
        /* head only: the tail is not read, only its size checked */
        size_t head = sb.len - t.len - clen;
        assert_int_equal(qf_decode(sb.buf, head, sb.len, &e, &err), QF_OK);
        assert_null(e.redirect);
        assert_int_equal(qf_decode_tail(sb.buf + e.tail_off, sb.len - e.tail_off, &e, &err),
                         QF_OK);
        assert_string_equal(e.redirect, "r@example.net");
        qf_env_free(&e);
        char path[] = "/tmp/test_queue_file_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, sb.buf, sb.len), (ssize_t)sb.len);
        assert_int_equal(qf_read_envelope(fd, &e, &err), 0);
        assert_string_equal(e.redirect, "r@example.net");
        qf_env_free(&e);
        /* a torn tail is found by the head + tail path too */
        assert_int_equal(ftruncate(fd, (off_t)sb.len - 1), 0);
        assert_int_equal(qf_read_envelope(fd, &e, &err), -EBADMSG);
        close(fd);
        unlink(path);
        strbuf_free(&sb);
    }
    /* no G: plain trailer, redirect NULL */
    strbuf_free(&t);
    strbuf_init(&t);
    assert_int_equal(qf_encode_tail(NULL, &t), 0);
    assert_memory_equal(t.buf, QF_TRAILER, QF_TRAILER_LEN);
    strbuf_free(&t);
    static const struct {
        const char *tail, *what;
    } bad[] = {
        {"G3:a@b\nG3:c@d\nX0:\n", "record G"},
        {"G3:abc\nX0:\n", "record G"},
        {"G0:\nX0:\n", "record G"},
        {"G3:a\r@\nX0:\n", "record G"},
        {"R3:a@b\nX0:\n", "record R after the content"},
        {"X0:\nG3:a@b\n", "no trailer"},
        {"G3:a@b\n", "truncated"},
        {"G2:a@b\nX0:\n", "no newline"},
        {"X1:x\n", "no trailer"},
        {"\nX0:\n", "bad record type"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        build_tail(&sb, 5, bad[i].tail, strlen(bad[i].tail));
        enum qf_result q = qf_decode(sb.buf, sb.len, sb.len, &e, &err);
        if (q != QF_BAD || !strstr(err.what, bad[i].what) || err.offset < sb.len - strlen(bad[i].tail))
            fail_msg("tail %zu: result %d, \"%s\" at %llu", i, (int)q, err.what,
                     (unsigned long long)err.offset);
        strbuf_free(&sb);
    }
    /* a tail over QF_TAIL_MAX is refused by its size, even unread */
    char big[QF_TAIL_MAX + 16];
    int n = snprintf(big, sizeof(big), "G%d:", QF_TAIL_MAX);
    memset(big + n, 'a', QF_TAIL_MAX);
    big[n + 1] = '@';
    memcpy(big + n + QF_TAIL_MAX, "\nX0:\n", 5);
    size_t blen = (size_t)n + QF_TAIL_MAX + 5;
    build_tail(&sb, 0, big, blen);
    assert_int_equal(qf_decode(sb.buf, sb.len - blen, sb.len, &e, &err), QF_BAD);
    assert_non_null(strstr(err.what, "where the trailer belongs"));
    strbuf_free(&sb);
    /* the writer refuses what the reader would */
    strbuf_init(&t);
    static const char *refuse[] = {"", "nobody", "a@b\n", "a\r@b"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(qf_encode_tail(refuse[i], &t), -EINVAL);
    big[n + QF_REDIRECT_MAX] = '\0';
    assert_int_equal(qf_encode_tail(big + n, &t), 0); /* the longest one fits */
    assert_true(t.len <= QF_TAIL_MAX);
    t.len = 0;
    big[n + QF_REDIRECT_MAX] = 'a';
    big[n + QF_REDIRECT_MAX + 1] = '\0';
    assert_int_equal(qf_encode_tail(big + n, &t), -EINVAL);
    assert_int_equal(t.len, 0);
    strbuf_free(&t);
}

/* Postfix's qmgr_message_sort order picks the one recipient redirected. */
static void redirect_pick(void **state)
{
    (void)state;
    static const struct {
        const char *addrs[4];
        char states[5];
        int want;
    } cases[] = {
        {{"b@y.test", "a@z.test", "c@y.test", NULL}, "PPP", 0},
        {{"b@y.test", "a@z.test", "c@y.test", NULL}, "DPP", 2},
        {{"b@y.test", "a@z.test", "c@y.test", NULL}, "DPD", 1},
        {{"b@y.test", "a@z.test", "c@y.test", NULL}, "DBD", -1},
        {{"b@Y.test", "a@y.TEST", NULL, NULL}, "PP", 1},   /* domain ignoring case, then address */
        {{"B@y.test", "a@y.test", NULL, NULL}, "PP", 0},   /* address: byte order, 'B' < 'a' */
        {{"local", "z@z.test", NULL, NULL}, "PP", 1},      /* no '@' sorts last */
        {{"x@a.b@c.test", "y@b.test", NULL, NULL}, "PP", 1}, /* the last '@' */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qf_rcpt r[4];
        memset(r, 0, sizeof(r));
        unsigned n = 0;
        for (; n < 4 && cases[i].addrs[n]; n++) {
            r[n].addr = (char *)cases[i].addrs[n];
            r[n].state = cases[i].states[n];
        }
        struct qf_env e = {.rcpt = r, .nrcpt = n};
        if (qf_redirect_pick(&e) != cases[i].want)
            fail_msg("case %zu: picked %d, want %d", i, qf_redirect_pick(&e), cases[i].want);
    }
    /* apply: the picked one goes to the target, the other pending ones are
     * done in memory, settled ones stay as they are; twice is once */
    struct qf_rcpt r[3] = {{.addr = xstrdup("b@y.test"), .state = QF_PENDING},
                           {.addr = xstrdup("a@z.test"), .state = QF_BOUNCED},
                           {.addr = xstrdup("c@y.test"), .state = QF_PENDING}};
    struct qf_env e = {.rcpt = xmalloc(sizeof(r)), .nrcpt = 3};
    memcpy(e.rcpt, r, sizeof(r));
    assert_int_equal(qf_redirect_apply(&e), -1); /* no redirect */
    assert_null(e.rcpt[0].orig_addr);
    e.sender = xstrdup("");
    e.redirect = xstrdup("t@r.test");
    for (int k = 0; k < 2; k++) {
        assert_int_equal(qf_redirect_apply(&e), 0);
        assert_string_equal(e.rcpt[0].addr, "t@r.test");
        assert_string_equal(e.rcpt[0].orig_addr, "b@y.test");
        assert_int_equal(e.rcpt[1].state, QF_BOUNCED);
        assert_int_equal(e.rcpt[2].state, QF_DELIVERED);
        assert_int_equal(qf_pending(&e), 1);
    }
    qf_env_free(&e); /* frees orig_addr too (ASan) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(encode_refuses),
        cmocka_unit_test(every_truncation),
        cmocka_unit_test(corruptions),
        cmocka_unit_test(dsn_fields),
        cmocka_unit_test(no_recipient_and_missing_records),
        cmocka_unit_test(in_place_updates),
        cmocka_unit_test(directory),
        cmocka_unit_test(redirect_tail),
        cmocka_unit_test(redirect_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
