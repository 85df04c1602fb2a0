/*
 * test_dummy_cmd.c - the enforce engine's smtpd mode (dummy_cmd.h
 * dummy_smtpd_command): one table of sessions, each a list of lines with
 * the outcome and reply smtpd (Postfix 3.7) gives, plus the error counts
 * that drive smtpd_soft/hard_error_limit and smtpd_junk_command_limit;
 * then the disconnect line's counters (smtpd_proto()'s total and success
 * counts, what a postmaster handoff leaves to the worker) and the client's
 * EHLO keyword mask refusing DSN parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>

#include "dummy_cmd.h"
#include "ehlo_reply.h"
#include "smtp_cmd.h"

struct step {
    const char *line;
    enum dummy_do what;
    const char *text; /* SAY/CLOSE reply, REJECT/POSTMASTER/HELO argument */
    unsigned errors;  /* after the step (a REJECT counted by the caller) */
};

struct scase {
    const char *name;
    bool denied, helo_required, disable_vrfy;
    struct step steps[12];
};

static const struct scase cases[] = {
    {"transaction", false, false, false,
     {{"EHLO client.example", DUMMY_DO_HELO, "client.example", 0},
      {"MAIL FROM:<a@b.example> SIZE=10", DUMMY_DO_SAY, "250 2.1.0 Ok", 0},
      {"MAIL FROM:<a@b.example>", DUMMY_DO_SAY, "503 5.5.1 Error: nested MAIL command", 1},
      {"RCPT TO:<c@d.example>", DUMMY_DO_REJECT, "c@d.example", 2},
      {"RCPT TO:<Postmaster>", DUMMY_DO_POSTMASTER, "Postmaster", 3},
      {"DATA", DUMMY_DO_SAY, "554 5.5.1 Error: no valid recipients", 4},
      {"RSET", DUMMY_DO_SAY, "250 2.0.0 Ok", 4},
      {"DATA", DUMMY_DO_SAY, "503 5.5.1 Error: need RCPT command", 5},
      {"quit", DUMMY_DO_CLOSE, "221 2.0.0 Bye", 5},
      {NULL, 0, NULL, 0}}},
    {"syntax", false, false, false,
     {{"   ", DUMMY_DO_SAY, "500 5.5.2 Error: bad syntax", 1},
      {"HELO", DUMMY_DO_SAY, "501 Syntax: HELO hostname", 2},
      {"RCPT TO:<bad", DUMMY_DO_SAY, "503 5.5.1 Error: need MAIL command", 3},
      {"MAIL FROM:<bad", DUMMY_DO_SAY, "501 5.1.7 Bad sender address syntax", 4},
      {"HELP", DUMMY_DO_SAY, "500 5.5.2 Error: command not recognized", 5},
      {"AUTH PLAIN", DUMMY_DO_SAY, "503 5.5.1 Error: authentication not enabled", 6},
      {"STARTTLS", DUMMY_DO_SAY, "502 5.5.1 Error: command not implemented", 7},
      {"XCLIENT NAME=x", DUMMY_DO_SAY, "550 5.7.0 Error: insufficient authorization", 8},
      {"Subject: hello", DUMMY_DO_CLOSE, "221 2.7.0 Error: I can break rules, too. Goodbye.",
       9},
      {NULL, 0, NULL, 0}}},
    {"vrfy etrn", false, true, false,
     {{"MAIL FROM:<a@b.example>", DUMMY_DO_SAY, "503 5.5.1 Error: send HELO/EHLO first", 1},
      {"ETRN x.example", DUMMY_DO_SAY, "503 Error: send HELO/EHLO first", 2},
      {"HELO h.example", DUMMY_DO_HELO, "h.example", 2},
      {"VRFY postmaster", DUMMY_DO_SAY, "252 2.0.0 postmaster", 2},
      {"VRFY u@x.example", DUMMY_DO_REJECT, "u@x.example", 3},
      {"ETRN @x.example", DUMMY_DO_REJECT, "x.example", 4},
      {"ETRN bad..name", DUMMY_DO_SAY, "501 Error: invalid parameter syntax", 5},
      {"MAIL FROM:<>", DUMMY_DO_SAY, "250 2.1.0 Ok", 5},
      {"ETRN x.example", DUMMY_DO_SAY, "503 Error: MAIL transaction in progress", 6},
      {"EHLO again.example", DUMMY_DO_HELO, "again.example", 6},
      {"RCPT TO:<c@d.example>", DUMMY_DO_SAY, "503 5.5.1 Error: need MAIL command", 7},
      {NULL, 0, NULL, 0}}},
    {"denied", true, false, true,
     {{"EHLO x.example", DUMMY_DO_SAY, "503 5.7.0 Error: access denied for n[1.2.3.4]", 2},
      {"BOGUS", DUMMY_DO_SAY, "503 5.7.0 Error: access denied for n[1.2.3.4]", 3},
      {"", DUMMY_DO_SAY, "500 5.5.2 Error: bad syntax", 4},
      {"GET / HTTP/1.0", DUMMY_DO_CLOSE, "221 2.7.0 Error: I can break rules, too. Goodbye.", 5},
      {"QUIT", DUMMY_DO_CLOSE, "221 2.0.0 Bye", 5},
      {NULL, 0, NULL, 0}}},
    {"bdat", false, false, true,
     {{"EHLO x.example", DUMMY_DO_HELO, "x.example", 0},
      {"VRFY a@b", DUMMY_DO_SAY, "502 5.5.1 VRFY command is disabled", 1},
      {"BDAT 100", DUMMY_DO_SAY, "503 5.5.1 Error: need RCPT command", 2},
      {"BDAT x", DUMMY_DO_CLOSE, "521 5.5.4 Syntax: BDAT count [LAST]", 3},
      {NULL, 0, NULL, 0}}},
};

static void test_sessions(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const struct scase *sc = &cases[k];
        struct dummy_smtpd_conf cf = {.myhostname = "mx.example", .message_size_limit = 1000,
                                      .soft_limit = 10, .hard_limit = 20, .junk_limit = 100,
                                      .helo_required = sc->helo_required,
                                      .disable_vrfy = sc->disable_vrfy, .smtputf8 = true};
        struct dummy_smtpd st = {.denied = sc->denied, .errors = sc->denied ? 1 : 0};
        for (const struct step *s = sc->steps; s->line; s++) {
            char scratch[SMTP_SCRATCH_NEED(600)];
            struct dummy_smtpd_out o;
            dummy_smtpd_command(&st, &cf, "n[1.2.3.4]", s->line, strlen(s->line), scratch,
                                sizeof(scratch), &o);
            if (o.what != s->what)
                fail_msg("%s: %s: outcome %d, want %d", sc->name, s->line, o.what, s->what);
            if (o.what == DUMMY_DO_SAY || o.what == DUMMY_DO_CLOSE) {
                if (strcmp(o.text, s->text) != 0)
                    fail_msg("%s: %s: '%s', want '%s'", sc->name, s->line, o.text, s->text);
            } else if (o.arg_len != strlen(s->text) ||
                       memcmp(o.arg, s->text, o.arg_len) != 0) {
                fail_msg("%s: %s: argument '%.*s', want '%s'", sc->name, s->line,
                         (int)o.arg_len, o.arg, s->text);
            }
            if (o.what == DUMMY_DO_REJECT || o.what == DUMMY_DO_POSTMASTER)
                dummy_smtpd_rejected(&st);
            if (st.errors != s->errors)
                fail_msg("%s: %s: errors %u, want %u", sc->name, s->line, st.errors, s->errors);
        }
    }
}

static void test_bdat_skip_and_limits(void **state)
{
    (void)state;
    struct dummy_smtpd_conf cf = {.myhostname = "mx", .soft_limit = 2, .hard_limit = 3,
                                  .junk_limit = 1};
    struct dummy_smtpd st = {0};
    char scratch[SMTP_SCRATCH_NEED(64)];
    struct dummy_smtpd_out o;
    dummy_smtpd_command(&st, &cf, "n[a]", "BDAT 4096 LAST\r", 15, scratch, sizeof(scratch), &o);
    assert_int_equal(o.skip, 4096);
    assert_false(dummy_smtpd_sleeps(&st, &cf));
    /* NOOP: junk 0, 1 fine; the third is past the limit of 1 */
    for (int i = 0; i < 3; i++)
        dummy_smtpd_command(&st, &cf, "n[a]", "NOOP", 4, scratch, sizeof(scratch), &o);
    assert_string_equal(o.text, "250 2.0.0 Ok");
    assert_int_equal(st.errors, 2);
    assert_true(dummy_smtpd_sleeps(&st, &cf));
    assert_false(dummy_smtpd_hard_limit(&st, &cf));
    dummy_smtpd_command(&st, &cf, "n[a]", "NOOP", 4, scratch, sizeof(scratch), &o);
    assert_true(dummy_smtpd_hard_limit(&st, &cf));
    assert_string_equal(o.verb, "NOOP");
}

/* The counters as smtpd's disconnect line prints them (maillog.c's
 * order), without "commands=". */
static void counts_str(const struct maillog_cmd_stats *st, char *buf, size_t size)
{
    static const char *const names[MAILLOG_NCMDS] = {
        "helo", "ehlo", "xclient", "xforward", "starttls", "auth", "mail", "rcpt",
        "data", "bdat", "rset", "noop", "vrfy", "etrn", "quit", "unknown",
    };
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < MAILLOG_NCMDS && n < size; i++) {
        if (!st->total[i])
            continue;
        n += (size_t)snprintf(buf + n, size - n, "%s%s=%u", n ? " " : "", names[i],
                              (unsigned)st->ok[i]);
        if (st->ok[i] != st->total[i] && n < size)
            n += (size_t)snprintf(buf + n, size - n, "/%u", (unsigned)st->total[i]);
    }
}

static const struct {
    const char *name;
    bool denied;
    unsigned discard;
    const char *lines[10];
    const char *want; /* counters after the last line */
    const char *last; /* the last line's SAY/CLOSE reply, or NULL */
} count_cases[] = {
    {"session", false, 0,
     {"EHLO a.example", "NOOP", "BOGUS", "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>",
      "DATA", "RSET", "  ", "QUIT", NULL},
     "ehlo=1 mail=1 rcpt=0/1 data=0/1 rset=1 noop=1 quit=1 unknown=0/1", "221 2.0.0 Bye"},
    {"syntax errors count as tried", false, 0,
     {"HELO", "MAIL FROM:<bad", "HELO h.example", "VRFY postmaster", "ETRN bad..name", NULL},
     "helo=1/2 mail=0/1 vrfy=1 etrn=0/1", "501 Error: invalid parameter syntax"},
    {"denied: only QUIT succeeds", true, 0, {"EHLO x.example", "NOOP", "QUIT", NULL},
     "ehlo=0/1 noop=0/1 quit=1", "221 2.0.0 Bye"},
    {"non-SMTP line: unknown", false, 0, {"EHLO x.example", "Subject: x", NULL},
     "ehlo=1 unknown=0/1", "221 2.7.0 Error: I can break rules, too. Goodbye."},
    {"postmaster handoff: MAIL and that RCPT are the worker's", false, 0,
     {"EHLO x.example", "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "RSET",
      "MAIL FROM:<a@b.example>", "RCPT TO:<e@d.example>", "RCPT TO:<postmaster>", NULL},
     "ehlo=1 mail=1 rcpt=0/2 rset=1", NULL},
    {"DSN discarded for this client", false, EHLO_KW_DSN,
     {"EHLO x.example", "MAIL FROM:<a@b.example> RET=FULL", NULL}, "ehlo=1 mail=0/1",
     "501 5.7.1 DSN support is disabled"},
    {"DSN offered", false, EHLO_KW_PIPELINING | EHLO_KW_SMTPUTF8,
     {"EHLO x.example", "MAIL FROM:<a@b.example> RET=FULL ENVID=x", NULL}, "ehlo=1 mail=1",
     "250 2.1.0 Ok"},
    {"CHUNKING discarded: BDAT refused before its syntax", false, EHLO_KW_CHUNKING,
     {"HELO x.example", "BDAT", NULL}, "helo=1 bdat=0/1",
     "521 5.5.1 Error: command not implemented"},
    {"CHUNKING discarded: BDAT refused before the state", false, EHLO_KW_CHUNKING,
     {"BDAT 4 LAST", NULL}, "bdat=0/1", "521 5.5.1 Error: command not implemented"},
    {"CHUNKING offered: BDAT judged by the state", false, EHLO_KW_DSN,
     {"EHLO x.example", "BDAT 4", NULL}, "ehlo=1 bdat=0/1", "503 5.5.1 Error: need RCPT command"},
};

static void test_counts(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(count_cases) / sizeof(count_cases[0]); k++) {
        struct dummy_smtpd_conf cf = {.myhostname = "mx", .soft_limit = 10, .hard_limit = 20,
                                      .junk_limit = 100, .smtputf8 = true};
        struct dummy_smtpd st = {.denied = count_cases[k].denied,
                                 .ehlo_discard = count_cases[k].discard};
        struct dummy_smtpd_out o = {0};
        for (const char *const *l = count_cases[k].lines; *l; l++) {
            char scratch[SMTP_SCRATCH_NEED(600)];
            dummy_smtpd_command(&st, &cf, "n[1.2.3.4]", *l, strlen(*l), scratch, sizeof(scratch),
                                &o);
            if (o.what == DUMMY_DO_REJECT)
                dummy_smtpd_rejected(&st);
            else if (o.what == DUMMY_DO_POSTMASTER)
                dummy_smtpd_handed_off(&st);
        }
        char got[300];
        counts_str(&st.counts, got, sizeof(got));
        if (strcmp(got, count_cases[k].want) != 0)
            fail_msg("%s: '%s', want '%s'", count_cases[k].name, got, count_cases[k].want);
        if (count_cases[k].last && strcmp(o.text, count_cases[k].last) != 0)
            fail_msg("%s: last reply '%s', want '%s'", count_cases[k].name, o.text,
                     count_cases[k].last);
        if (count_cases[k].last && !strncmp(count_cases[k].last, "521 ", 4) &&
            o.what != DUMMY_DO_CLOSE)
            fail_msg("%s: a 521 ends the session", count_cases[k].name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_bdat_skip_and_limits),
        cmocka_unit_test(test_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
