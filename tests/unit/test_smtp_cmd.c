/* test_smtp_cmd.c - SMTP command lines: verbs, MAIL/RCPT addresses and
 * parameters, and the exact Postfix replies for the bad ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "smtp_cmd.h"

struct cmd_case {
    const char *in;
    int strict;
    enum smtp_parse_result want;
    enum smtp_verb verb;
    const char *reply; /* formatted reply, for every result but OK */
    const char *addr;  /* internal form, for MAIL/RCPT/VRFY when OK */
};

static const struct cmd_case cases[] = {
    {"EHLO mx.example.com", 0, SMTP_PARSE_OK, SMTP_VERB_EHLO, NULL, NULL},
    {"helo  a b  ", 0, SMTP_PARSE_OK, SMTP_VERB_HELO, NULL, NULL},
    {"HELO", 0, SMTP_PARSE_ERROR, SMTP_VERB_HELO, "501 Syntax: HELO hostname", NULL},
    {"EHLO   ", 0, SMTP_PARSE_ERROR, SMTP_VERB_EHLO, "501 Syntax: EHLO hostname", NULL},
    {"", 0, SMTP_PARSE_ERROR, SMTP_VERB_NONE, "500 5.5.2 Error: bad syntax", NULL},
    {" \t ", 0, SMTP_PARSE_ERROR, SMTP_VERB_NONE, "500 5.5.2 Error: bad syntax", NULL},
    {"FOO bar", 0, SMTP_PARSE_UNKNOWN, SMTP_VERB_NONE, "500 5.5.2 Error: command not recognized", NULL},
    {"HELP", 0, SMTP_PARSE_UNKNOWN, SMTP_VERB_HELP, "500 5.5.2 Error: command not recognized", NULL},
    {"GET / HTTP/1.0", 0, SMTP_PARSE_NONSMTP, SMTP_VERB_NONE, "221 2.7.0 Error: I can break rules, too. Goodbye.", NULL},
    {"connect x:25", 0, SMTP_PARSE_NONSMTP, SMTP_VERB_NONE, "221 2.7.0 Error: I can break rules, too. Goodbye.", NULL},
    {"Subject: hi", 0, SMTP_PARSE_NONSMTP, SMTP_VERB_NONE, "221 2.7.0 Error: I can break rules, too. Goodbye.", NULL},
    {"Message-ID:<x@y>", 0, SMTP_PARSE_NONSMTP, SMTP_VERB_NONE, "221 2.7.0 Error: I can break rules, too. Goodbye.", NULL},
    {"X-Foo : bar", 0, SMTP_PARSE_UNKNOWN, SMTP_VERB_NONE, "500 5.5.2 Error: command not recognized", NULL},
    {".", 0, SMTP_PARSE_NONSMTP, SMTP_VERB_NONE, "221 2.7.0 Error: I can break rules, too. Goodbye.", NULL},
    {"NOOP \xff", 0, SMTP_PARSE_ERROR, SMTP_VERB_NONE, "500 5.5.2 Error: bad UTF-8 syntax", NULL},
    {"NOOP \xed\xa0\x80", 0, SMTP_PARSE_ERROR, SMTP_VERB_NONE, "500 5.5.2 Error: bad UTF-8 syntax", NULL},
    {"NOOP \xc3\xa9", 0, SMTP_PARSE_OK, SMTP_VERB_NOOP, NULL, NULL},
    {"mail from:<a@b>", 0, SMTP_PARSE_OK, SMTP_VERB_MAIL, NULL, "a@b"},
    {"MAIL FROM: <a@b>", 1, SMTP_PARSE_OK, SMTP_VERB_MAIL, NULL, "a@b"},
    {"MAIL FROM:<>", 1, SMTP_PARSE_OK, SMTP_VERB_MAIL, NULL, ""},
    {"MAIL FROM:a@b", 0, SMTP_PARSE_OK, SMTP_VERB_MAIL, NULL, "a@b"},
    {"MAIL FROM:a@b", 1, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {"MAIL FROM:<@a,@b:u@d>", 1, SMTP_PARSE_OK, SMTP_VERB_MAIL, NULL, "u@d"},
    {"MAIL FROM:<\"a b\"@c>", 1, SMTP_PARSE_OK, SMTP_VERB_MAIL, NULL, "a b@c"},
    {"MAIL FROM:<Name <a@b>>", 0, SMTP_PARSE_OK, SMTP_VERB_MAIL, NULL, "a@b"},
    {"MAIL FROM:<Name <a@b>>", 1, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {"MAIL FROM:<a@b (c)>", 0, SMTP_PARSE_OK, SMTP_VERB_MAIL, NULL, "a@b"},
    {"MAIL FROM:<a . b>", 1, SMTP_PARSE_OK, SMTP_VERB_MAIL, NULL, "a.b"},
    {"MAIL FROM:<a b>", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {"MAIL FROM:<a\"b\"@c>", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {"MAIL FROM:<a@b", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {"MAIL FROM:<@a>", 1, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {"MAIL FROM:<a <b> c>", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {"MAIL FROM:<a@b;>", 1, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {"MAIL FROM:<a:b>", 1, SMTP_PARSE_OK, SMTP_VERB_MAIL, NULL, "a:b"},
    {"MAIL FROM:", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {"MAIL FROM :<a>", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {"MAIL TO:<a>", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {"MAIL FROM:a b", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "555 5.5.4 Unsupported option: b", NULL},
    {"MAIL FROM:<a@b> BODY=BINARYMIME", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "555 5.5.4 Unsupported option: BODY=BINARYMIME", NULL},
    {"MAIL FROM:<a@b> <x\ry>a", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "555 5.5.4 Unsupported option: <x?y>a", NULL}, /* no CR in a reply */
    {"MAIL FROM:<a@b> SIZE=", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.5.4 Bad message size syntax", NULL},
    {"MAIL FROM:<a@b> SIZE=+1", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.5.4 Bad message size syntax", NULL},
    {"MAIL FROM:<a@b> SIZE=9223372036854775808", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "552 5.3.4 Message size exceeds file system imposed limit", NULL},
    {"MAIL FROM:<a@b> RET=FULL RET=HDRS", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.5.4 Bad RET parameter syntax", NULL},
    {"MAIL FROM:<a@b> ENVID=a+0A", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.5.4 Bad ENVID parameter syntax", NULL},
    {"MAIL FROM:<a@b> ENVID=a+2", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.5.4 Bad ENVID parameter syntax", NULL},
    {"MAIL FROM:<a@b> ENVID=", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "501 5.5.4 Bad ENVID parameter syntax", NULL},
    {"MAIL FROM:<a@b> NOTIFY=NEVER", 0, SMTP_PARSE_ERROR, SMTP_VERB_MAIL, "555 5.5.4 Unsupported option: NOTIFY=NEVER", NULL},
    {"RCPT TO:<>", 0, SMTP_PARSE_ERROR, SMTP_VERB_RCPT, "501 5.1.3 Bad recipient address syntax", NULL},
    {"RCPT TO:<group:;>", 0, SMTP_PARSE_ERROR, SMTP_VERB_RCPT, "501 5.1.3 Bad recipient address syntax", NULL},
    {"RCPT TO:<a@b> NOTIFY=NEVER,SUCCESS", 0, SMTP_PARSE_ERROR, SMTP_VERB_RCPT, "501 5.5.4 Error: Bad NOTIFY parameter syntax", NULL},
    {"RCPT TO:<a@b> NOTIFY=", 0, SMTP_PARSE_ERROR, SMTP_VERB_RCPT, "501 5.5.4 Error: Bad NOTIFY parameter syntax", NULL},
    {"RCPT TO:<a@b> ORCPT=rfc822", 0, SMTP_PARSE_ERROR, SMTP_VERB_RCPT, "501 5.5.4 Error: Bad ORCPT parameter syntax", NULL},
    {"RCPT TO:<a@b> ORCPT=rfc822;a+zz", 0, SMTP_PARSE_ERROR, SMTP_VERB_RCPT, "501 5.5.4 Error: Bad ORCPT parameter syntax", NULL},
    {"RCPT TO:<a@b> SIZE=10", 0, SMTP_PARSE_ERROR, SMTP_VERB_RCPT, "555 5.5.4 Unsupported option: SIZE=10", NULL},
    {"RCPT FROM:<a@b>", 0, SMTP_PARSE_ERROR, SMTP_VERB_RCPT, "501 5.5.4 Syntax: RCPT TO:<address>", NULL},
    {"DATA x", 0, SMTP_PARSE_ERROR, SMTP_VERB_DATA, "501 5.5.4 Syntax: DATA", NULL},
    {"BDAT", 0, SMTP_PARSE_ERROR, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {"BDAT 10 LAST x", 0, SMTP_PARSE_ERROR, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {"BDAT -1", 0, SMTP_PARSE_ERROR, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {"RSET x", 0, SMTP_PARSE_ERROR, SMTP_VERB_RSET, "501 5.5.4 Syntax: RSET", NULL},
    {"QUIT now", 0, SMTP_PARSE_OK, SMTP_VERB_QUIT, NULL, NULL},
    {"VRFY SMTPUTF8", 0, SMTP_PARSE_ERROR, SMTP_VERB_VRFY, "501 5.5.4 Syntax: VRFY address [SMTPUTF8]", NULL},
    {"VRFY a b", 0, SMTP_PARSE_ERROR, SMTP_VERB_VRFY, "501 5.1.3 Bad recipient address syntax", NULL},
    {"VRFY <a", 0, SMTP_PARSE_OK, SMTP_VERB_VRFY, NULL, "<a"},
    {"ETRN a b", 0, SMTP_PARSE_ERROR, SMTP_VERB_ETRN, "500 Syntax: ETRN domain", NULL},
    {"STARTTLS x", 0, SMTP_PARSE_ERROR, SMTP_VERB_STARTTLS, "501 5.5.4 Syntax: STARTTLS", NULL},
    {"XCLIENT", 0, SMTP_PARSE_ERROR, SMTP_VERB_XCLIENT, "501 5.5.4 Syntax: XCLIENT attribute=value...", NULL},
};

static void table(void **state)
{
    (void)state;
    struct smtp_parse_opts o = {.smtputf8 = 1};
    char scratch[4096], reply[512];
    o.scratch = scratch;
    o.scratch_size = sizeof(scratch);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct cmd_case *c = &cases[i];
        struct smtp_cmd cmd;
        o.strict = c->strict;
        enum smtp_parse_result r = smtp_cmd_parse(c->in, strlen(c->in), &o, &cmd);
        smtp_reply_format(&cmd, reply, sizeof(reply));
        if (r != c->want || cmd.verb != c->verb)
            fail_msg("case %zu (%s): got %d/%d want %d/%d (%s)", i, c->in, r, cmd.verb, c->want,
                     c->verb, reply);
        if (r != SMTP_PARSE_OK && strcmp(reply, c->reply) != 0)
            fail_msg("case %zu (%s): reply '%s' want '%s'", i, c->in, reply, c->reply);
        if (r == SMTP_PARSE_OK && c->addr) {
            assert_non_null(cmd.addr);
            if (strcmp(cmd.addr, c->addr) != 0 || cmd.addr_len != strlen(c->addr))
                fail_msg("case %zu (%s): addr '%s' want '%s'", i, c->in, cmd.addr, c->addr);
        }
    }
}

/* smtpd_discard_ehlo_keywords = dsn: the DSN parameters are refused
 * before their value is looked at, in command-line order (checked with
 * Postfix 3.7.11's smtpd through sendmail -bs). */
static void dsn_disabled(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        enum smtp_parse_result want;
        const char *reply;
    } dc[] = {
        {"MAIL FROM:<a@b> RET=FULL", SMTP_PARSE_ERROR, "501 5.7.1 DSN support is disabled"},
        {"MAIL FROM:<a@b> ENVID=", SMTP_PARSE_ERROR, "501 5.7.1 DSN support is disabled"},
        {"MAIL FROM:<a@b> ret=bogus", SMTP_PARSE_ERROR, "501 5.7.1 DSN support is disabled"},
        {"MAIL FROM:<a@b> FOO RET=FULL", SMTP_PARSE_ERROR, "555 5.5.4 Unsupported option: FOO"},
        {"MAIL FROM:<a@b> SIZE=x RET=FULL", SMTP_PARSE_ERROR, "501 5.5.4 Bad message size syntax"},
        {"MAIL FROM:<a@b> BODY=8BITMIME", SMTP_PARSE_OK, NULL},
        {"RCPT TO:<c@d> NOTIFY=SUCCESS", SMTP_PARSE_ERROR, "501 5.7.1 DSN support is disabled"},
        {"RCPT TO:<c@d> orcpt=x", SMTP_PARSE_ERROR, "501 5.7.1 DSN support is disabled"},
        {"RCPT TO:<c@d> FOO=1 NOTIFY=NEVER", SMTP_PARSE_ERROR, "555 5.5.4 Unsupported option: FOO=1"},
        {"RCPT TO:<c@d>", SMTP_PARSE_OK, NULL},
    };
    char scratch[512], reply[256];
    struct smtp_parse_opts o = {.smtputf8 = 1, .dsn_disabled = 1, .scratch = scratch,
                                .scratch_size = sizeof(scratch)};
    for (size_t i = 0; i < sizeof(dc) / sizeof(dc[0]); i++) {
        struct smtp_cmd c;
        enum smtp_parse_result r = smtp_cmd_parse(dc[i].in, strlen(dc[i].in), &o, &c);
        smtp_reply_format(&c, reply, sizeof(reply));
        if (r != dc[i].want || (r != SMTP_PARSE_OK && strcmp(reply, dc[i].reply) != 0))
            fail_msg("%s: got %d '%s'", dc[i].in, r, r == SMTP_PARSE_OK ? "" : reply);
    }
    /* Enabled again: the same lines parse. */
    o.dsn_disabled = 0;
    struct smtp_cmd c;
    assert_int_equal(smtp_cmd_parse(dc[0].in, strlen(dc[0].in), &o, &c), SMTP_PARSE_OK);
    assert_int_equal(c.ret, SMTP_RET_FULL);
    assert_int_equal(smtp_cmd_parse(dc[6].in, strlen(dc[6].in), &o, &c), SMTP_PARSE_OK);
    assert_int_equal(c.notify, SMTP_NOTIFY_SUCCESS);
}

static void mail_values(void **state)
{
    (void)state;
    char scratch[256];
    struct smtp_parse_opts o = {.smtputf8 = 1, .scratch = scratch, .scratch_size = sizeof(scratch)};
    struct smtp_cmd c;
    const char *l = "MAIL FROM:<u@d> size=0010 BODY=8bitmime SMTPUTF8 RET=hdrs ENVID=q+2Bx+20 "
                    "AUTH=<>";
    assert_int_equal(smtp_cmd_parse(l, strlen(l), &o, &c), SMTP_PARSE_OK);
    assert_int_equal(c.has_size, 1);
    assert_int_equal(c.size, 10);
    assert_int_equal(c.body, SMTP_BODY_8BITMIME);
    assert_int_equal(c.smtputf8, 1);
    assert_int_equal(c.ret, SMTP_RET_HDRS);
    assert_string_equal(c.envid, "q+x ");
    assert_int_equal(c.auth_len, 2);
    assert_int_equal(c.auth_xtext_ok, 1);
    assert_string_equal(c.addr, "u@d");
    assert_memory_equal(c.addr_raw, "<u@d>", 5);

    /* SMTPUTF8 is an option only while smtputf8_enable is on. */
    o.smtputf8 = 0;
    l = "MAIL FROM:<u@d> SMTPUTF8";
    assert_int_equal(smtp_cmd_parse(l, strlen(l), &o, &c), SMTP_PARSE_ERROR);
    assert_int_equal(c.reply, SMTP_R_UNSUPPORTED_OPT);

    l = "RCPT TO:<r@d> NOTIFY=success,,delay ORCPT=rfc822;r+40d";
    o.smtputf8 = 1;
    assert_int_equal(smtp_cmd_parse(l, strlen(l), &o, &c), SMTP_PARSE_OK);
    assert_int_equal(c.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY);
    assert_int_equal(c.orcpt_type_len, 6);
    assert_string_equal(c.orcpt, "r@d");

    l = "BDAT 4096 last";
    assert_int_equal(smtp_cmd_parse(l, strlen(l), &o, &c), SMTP_PARSE_OK);
    assert_int_equal(c.chunk_size, 4096);
    assert_int_equal(c.last, 1);
}

static void limits(void **state)
{
    (void)state;
    char line[3000], scratch[3100];
    struct smtp_parse_opts o = {.smtputf8 = 1, .scratch = scratch, .scratch_size = sizeof(scratch)};
    struct smtp_cmd c;
    /* "MAIL FROM:<aaa...@b>" of 2048 bytes fits; one more cuts off the '>'. */
    for (size_t total = 2046; total <= 2050; total++) {
        memcpy(line, "MAIL FROM:<", 11);
        memset(line + 11, 'a', total - 14);
        memcpy(line + total - 3, "@b>", 3);
        enum smtp_parse_result r = smtp_cmd_parse(line, total, &o, &c);
        assert_int_equal(r, total <= 2048 ? SMTP_PARSE_OK : SMTP_PARSE_ERROR);
    }
    /* A cut line skips the UTF-8 check, as Postfix. */
    memcpy(line, "NOOP \xff", 6);
    memset(line + 6, 'x', 2100);
    assert_int_equal(smtp_cmd_parse(line, 2047, &o, &c), SMTP_PARSE_ERROR);
    assert_int_equal(smtp_cmd_parse(line, 2048, &o, &c), SMTP_PARSE_OK);
    /* A NUL ends the command. */
    assert_int_equal(smtp_cmd_parse("NO\0OP", 5, &o, &c), SMTP_PARSE_UNKNOWN);
    assert_int_equal(smtp_cmd_parse("MAIL FROM:<a\0b>", 15, &o, &c), SMTP_PARSE_ERROR);
    /* Too little scratch is refused, not overrun. */
    o.scratch_size = 4;
    assert_int_equal(smtp_cmd_parse("MAIL FROM:<a@b>", 15, &o, &c), SMTP_PARSE_ERROR);
    assert_int_equal(c.reply, SMTP_R_NOSPACE);
}

static void helpers(void **state)
{
    (void)state;
    char buf[64], d[64];
    size_t n;
    assert_int_equal(smtp_xtext_decode("a+2Bb+3d", 8, d, &n), 0);
    assert_string_equal(d, "a+b=");
    assert_int_equal(smtp_xtext_decode("a+2", 3, d, &n), -22);
    assert_int_equal(smtp_xtext_decode("+g0", 3, d, &n), -22);
    strcpy(buf, "user%dom@here");
    n = strlen(buf);
    assert_int_equal(smtp_addr_percent_hack(buf, &n), 1);
    assert_string_equal(buf, "user@dom");
    strcpy(buf, "user@here");
    n = strlen(buf);
    assert_int_equal(smtp_addr_percent_hack(buf, &n), 0);
    strcpy(buf, "host!user");
    n = strlen(buf);
    assert_int_equal(smtp_addr_swap_bangpath(buf, &n, sizeof(buf)), 1);
    assert_string_equal(buf, "user@host");
    strcpy(buf, "a!b@c");
    n = strlen(buf);
    assert_int_equal(smtp_addr_swap_bangpath(buf, &n, sizeof(buf)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table),
        cmocka_unit_test(mail_values),
        cmocka_unit_test(dsn_disabled),
        cmocka_unit_test(limits),
        cmocka_unit_test(helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
