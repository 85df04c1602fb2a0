/* test_cmd_filter.c - lib/cmd_filter.c: smtpd_command_filter /
 * postscreen_command_filter lookups and their log text, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cmd_filter.h"
#include "maps.h"

#define TABLE                                                                                  \
    "regexp:{{/^HELLO (.*)$/ HELO $1}, {/^FOO$/ NOOP}, {/^X(.*)$/ NOOP $1$1$1$1$1$1$1$1},"     \
    " {/^\xc3\xa9$/ UTF8}, {/^[^[:print:]]/ CTRL}}"

struct row {
    const char *line;
    size_t len;      /* 0: strlen(line) */
    bool skip_utf8;
    int rc;          /* 1 replaced, 0 stays */
    const char *out; /* replaced: the new line */
    const char *log; /* replaced: the log text */
};

static const struct row rows[] = {
    {"HELLO a.example", 0, false, 1, "HELO a.example",
     "replacing command \"HELLO a.example\" with \"HELO a.example\""},
    /* leading blanks are not part of the key; the log shows them (TAB: '?') */
    {" \tFOO", 0, false, 1, "NOOP", "replacing command \" ?FOO\" with \"NOOP\""},
    {"FOO ", 0, false, 0, NULL, NULL},  /* trailing blanks stay in the key */
    /* regexp tables ignore case unless the pattern says otherwise */
    {"foo", 0, false, 1, "NOOP", "replacing command \"foo\" with \"NOOP\""},
    {"BAR", 0, false, 0, NULL, NULL},
    {"", 0, false, 0, NULL, NULL},
    {"   ", 0, false, 0, NULL, NULL},
    /* the line ends at a NUL (a C string in Postfix) */
    {"FOO\0junk", 8, false, 1, "NOOP", "replacing command \"FOO\" with \"NOOP\""},
    {"\0FOO", 4, false, 0, NULL, NULL},
    /* a control character in the key and in the log */
    {"\x01" "abc", 0, false, 1, "CTRL", "replacing command \"?abc\" with \"CTRL\""},
    /* UTF-8: looked up; invalid UTF-8 is skipped when asked (postscreen) */
    {"\xc3\xa9", 0, true, 1, "UTF8", "replacing command \"\xc3\xa9\" with \"UTF8\""},
    {"\xff" "FOO", 0, true, 0, NULL, NULL},
    {"\xff", 0, false, 0, NULL, NULL},
};

static struct map *open_table(void)
{
    struct map *m = NULL;
    struct map_err err;
    if (map_open(TABLE, 0, &m, &err) != 0)
        fail_msg("%s", err.msg);
    return m;
}

static void rows_as_postfix(void **state)
{
    (void)state;
    struct map *m = open_table();
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        char out[64] = "untouched", log[CMD_FILTER_LOG_MAX] = "";
        size_t n = 999, len = r->len ? r->len : strlen(r->line);
        int rc = cmd_filter_apply(m, r->line, len, r->skip_utf8, out, sizeof(out), &n, log);
        if (rc != r->rc)
            fail_msg("row %zu: rc %d, want %d", i, rc, r->rc);
        if (rc == 1) {
            assert_string_equal(out, r->out);
            assert_int_equal(n, strlen(r->out));
            assert_string_equal(log, r->log);
        }
    }
    map_close(m);
}

/* Both sides of the log line are cut to 100 bytes; a long result is cut
 * to the buffer, not refused (Postfix's VSTRING has no limit). */
static void long_lines_are_cut(void **state)
{
    (void)state;
    struct map *m = open_table();
    char line[301], out[64], log[CMD_FILTER_LOG_MAX];
    line[0] = 'X';
    memset(line + 1, 'y', 299);
    line[300] = '\0';
    size_t n = 0;
    assert_int_equal(cmd_filter_apply(m, line, 300, false, out, sizeof(out), &n, log), 1);
    assert_int_equal(n, sizeof(out) - 1);
    assert_memory_equal(out, "NOOP yyyy", 9);
    char want[CMD_FILTER_LOG_MAX];
    snprintf(want, sizeof(want), "replacing command \"%.100s\" with \"%.100s\"", line, out);
    assert_string_equal(log, want);
    assert_int_equal(strlen(log), strlen("replacing command \"\" with \"\"") + 100 + 63);
    map_close(m);
}

/* The lookup-error warning: the table as written, the line cut to 100 bytes
 * with control characters as '?'. */
static void error_text(void **state)
{
    (void)state;
    struct map *m = open_table();
    char buf[CMD_FILTER_ERR_MAX], line[200], want[CMD_FILTER_ERR_MAX];
    memset(line, 'z', sizeof(line));
    memcpy(line, "HU\tGE\x7f ", 7);
    cmd_filter_error_text(m, line, sizeof(line), buf);
    snprintf(want, sizeof(want), "%s lookup error for \"HU?GE? %.93s\"", TABLE, line + 7);
    assert_string_equal(buf, want);
    cmd_filter_error_text(m, "A\0B", 3, buf); /* a C string in Postfix: the NUL ends it */
    snprintf(want, sizeof(want), "%s lookup error for \"A\"", TABLE);
    assert_string_equal(buf, want);
    map_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_as_postfix),
        cmocka_unit_test(long_lines_are_cut),
        cmocka_unit_test(error_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
