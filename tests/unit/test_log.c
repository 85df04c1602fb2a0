/* test_log.c - lib/log.c sinks: the maillog_file format Postfix's postlog
 * writes, whole lines from many processes, and a failed open keeping the
 * old sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char tmpdir[] = "/tmp/test_log.XXXXXX";

static char *path_in_tmp(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
    return buf;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void file_line_has_postfix_prefix(void **state)
{
    (void)state;
    const char *p = path_in_tmp("one.log");
    log_init("mxscreen/master", 1);
    assert_int_equal(log_open_file(p, "mx1.example.test"), 0);
    assert_true(log_file_fd() >= 0);
    log_info("daemon started -- version %s", "0.1.0");
    log_warn("process /x/mxscreen pid %d exit status %d", 12, 1);
    log_debug("dropped: below the level");
    log_close();
    assert_int_equal(log_file_fd(), -1);

    size_t len;
    char *buf = slurp(p, &len);
    regex_t re;
    /* "%b %d %H:%M:%S host prog[pid]: text", as postlog writes it. */
    assert_int_equal(regcomp(&re,
        "^[A-Z][a-z][a-z] [0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] mx1 "
        "mxscreen/master\\[[0-9]+\\]: daemon started -- version 0\\.1\\.0\n"
        "[A-Z][a-z][a-z] [0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] mx1 "
        "mxscreen/master\\[[0-9]+\\]: warning: process /x/mxscreen pid 12 exit status 1\n$",
        REG_EXTENDED), 0);
    assert_int_equal(regexec(&re, buf, 0, NULL, 0), 0);
    regfree(&re);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(buf);
}

static void file_appends_to_existing(void **state)
{
    (void)state;
    const char *p = path_in_tmp("append.log");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("old line\n", f);
    fclose(f);
    log_init("mxscreen/master", 1);
    assert_int_equal(log_open_file(p, "host"), 0);
    log_error("reload refused: %s", "x");
    log_close();
    size_t len;
    char *buf = slurp(p, &len);
    const char *rest = strchr(buf, '\n');
    assert_non_null(rest);
    assert_int_equal(rest - buf, 8);
    assert_true(memcmp(buf, "old line", 8) == 0);
    assert_non_null(strstr(rest, " host mxscreen/master["));
    assert_non_null(strstr(buf, "]: error: reload refused: x\n"));
    free(buf);
}

static void long_line_is_cut_but_ends_with_newline(void **state)
{
    (void)state;
    const char *p = path_in_tmp("long.log");
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_init("mxscreen/smtpd", 1);
    assert_int_equal(log_open_file(p, ""), 0); /* empty: gethostname's label */
    log_info("%s", big);
    log_info("next");
    log_close();
    size_t len;
    char *buf = slurp(p, &len);
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    assert_true(nl - buf < 2048);
    assert_true(nl[-1] == 'a');
    assert_non_null(strstr(nl + 1, "mxscreen/smtpd["));
    assert_non_null(strstr(nl + 1, "]: next\n"));
    free(buf);
}

/* Children inherit the descriptor across fork (as workers do) and write
 * concurrently: every line must arrive whole. */
static void forked_writers_interleave_whole_lines(void **state)
{
    (void)state;
    enum { KIDS = 4, LINES = 500 };
    const char *p = path_in_tmp("many.log");
    log_init("mxscreen/master", 1);
    assert_int_equal(log_open_file(p, "h.example"), 0);
    pid_t pids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            log_init("mxscreen/smtpd", 1);
            for (int i = 0; i < LINES; i++)
                log_info("kid %d line %d %s", k, i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            _exit(0);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    log_close();
    size_t len;
    char *buf = slurp(p, &len);
    regex_t re;
    assert_int_equal(regcomp(&re,
        "^[A-Z][a-z][a-z] [0-3][0-9] [0-9:]{8} h mxscreen/smtpd\\[[0-9]+\\]: "
        "kid [0-3] line [0-9]+ x{48}$", REG_EXTENDED), 0);
    int count = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
        count++;
    }
    assert_int_equal(count, KIDS * LINES);
    regfree(&re);
    free(buf);
}

/* The pid is asked once per process: a child that logs before its own
 * log_init() (the master's fork paths) must still name itself, and the
 * parent keeps its own. */
static void forked_child_logs_its_own_pid(void **state)
{
    (void)state;
    const char *p = path_in_tmp("pid.log");
    log_init("mxscreen/master", 1);
    assert_int_equal(log_open_file(p, "h.example"), 0);
    log_info("parent before");
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        log_info("child");
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(kid, &st, 0), kid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    log_info("parent after");
    log_close();
    size_t len;
    char *buf = slurp(p, &len);
    char want[128];
    snprintf(want, sizeof(want), " h mxscreen/master[%ld]: parent before\n", (long)getpid());
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof(want), " h mxscreen/master[%ld]: child\n", (long)kid);
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof(want), " h mxscreen/master[%ld]: parent after\n", (long)getpid());
    assert_non_null(strstr(buf, want));
    free(buf);
}

/* The time prefix is made once per second: a line in the next second has
 * the next second's time. */
static void time_prefix_follows_the_clock(void **state)
{
    (void)state;
    const char *p = path_in_tmp("time.log");
    log_init("mxscreen/smtpd", 1);
    assert_int_equal(log_open_file(p, "h.example"), 0);
    time_t t0 = time(NULL);
    log_info("first");
    while (time(NULL) == t0)
        usleep(20000);
    time_t t1 = time(NULL);
    log_info("second");
    log_close();
    size_t len;
    char *buf = slurp(p, &len);
    char want[64];
    struct tm tm;
    assert_non_null(localtime_r(&t0, &tm));
    size_t n = strftime(want, sizeof(want), "%b %d %H:%M:%S h ", &tm);
    assert_memory_equal(buf, want, n);
    char *second = strchr(buf, '\n');
    assert_non_null(second);
    second++;
    assert_non_null(localtime_r(&t1, &tm));
    n = strftime(want, sizeof(want), "%b %d %H:%M:%S h ", &tm);
    assert_memory_equal(second, want, n);
    free(buf);
}

static void open_failure_keeps_sink(void **state)
{
    (void)state;
    assert_int_equal(log_open_file("/nonexistent-dir/x/maillog", "h"), -ENOENT);
    assert_int_equal(log_file_fd(), -1);
    const char *p = path_in_tmp("keep.log");
    assert_int_equal(log_open_file(p, "h"), 0);
    int fd = log_file_fd();
    assert_int_equal(log_open_file("/nonexistent-dir/y", "h"), -ENOENT);
    assert_int_equal(log_file_fd(), fd);
    log_close();
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_line_has_postfix_prefix),
        cmocka_unit_test(file_appends_to_existing),
        cmocka_unit_test(long_line_is_cut_but_ends_with_newline),
        cmocka_unit_test(forked_writers_interleave_whole_lines),
        cmocka_unit_test(forked_child_logs_its_own_pid),
        cmocka_unit_test(time_prefix_follows_the_clock),
        cmocka_unit_test(open_failure_keeps_sink),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
