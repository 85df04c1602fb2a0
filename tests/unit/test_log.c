/* test_log.c - lib/log.c sinks: the maillog_file format Postfix's postlog
 * writes, whole lines from many processes, a failed open keeping the
 * old sink, and held lines (log_hold/log_flush): nothing written until a
 * flush, a full buffer, a fork, a fatal line or exit; never twice, never
 * out of order, never cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/ioctl.h>
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

/* log_init(prog) and the log file NAME in the test directory opened with
 * HOST as myhostname; the file's path. */
static const char *open_log(const char *prog, const char *name, const char *host)
{
    const char *p = path_in_tmp(name);
    log_init(prog, 1);
    assert_int_equal(log_open_file(p, host), 0);
    return p;
}

/* A forked child must end with exit status `status`. */
static void wait_exit(pid_t kid, int status)
{
    int st;
    assert_int_equal(waitpid(kid, &st, 0), kid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == status);
}

/* stderr into a pipe, to see what reaches it and when: the pipe's read
 * end in *rd, the saved stderr returned for stderr_restore(). */
static int stderr_to_pipe(int *rd)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(pfd[1], STDERR_FILENO), STDERR_FILENO);
    close(pfd[1]);
    *rd = pfd[0];
    return saved;
}

/* stderr back; what the pipe got (up to size - 1 bytes, NUL-terminated,
 * the read end closed); its length. */
static size_t stderr_restore(int saved, int rd, char *buf, size_t size)
{
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    size_t len = 0;
    ssize_t r;
    while (len < size - 1 && (r = read(rd, buf + len, size - 1 - len)) > 0)
        len += (size_t)r;
    close(rd);
    buf[len] = '\0';
    return len;
}

static void file_line_has_postfix_prefix(void **state)
{
    (void)state;
    const char *p = open_log("mxscreen/master", "one.log", "mx1.example.test");
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

/* The many-writers cases: KIDS children of a master with the log file
 * open (workers inherit the descriptor across fork) each log `lines` lines
 * "kid K line I PAD" as mxscreen/smtpd and exit; with hold, in held
 * batches flushed every 7th line. The file must then hold exactly KIDS *
 * lines whole lines matching the ERE pad_re: no line lost, cut or mixed. */
struct writers {
    const char *name;
    int lines;
    const char *pad, *pad_re;
    int hold;
};

/* Unheld: every write must be one whole line even with four writers. */
static const struct writers unheld = {"many.log", 500,
                                      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "x{48}", 0};
/* Several processes holding and flushing batches into one O_APPEND file. */
static const struct writers held = {"manyheld.log", 700,
                                    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", "y{40}", 1};

static void many_writers(void **state)
{
    enum { KIDS = 4 };
    const struct writers *w = *state;
    const int lines = w->lines, hold = w->hold;
    const char *pad = w->pad, *pad_re = w->pad_re;
    const char *p = open_log("mxscreen/master", w->name, "h.example");
    pid_t pids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            log_init("mxscreen/smtpd", 1);
            if (hold)
                log_hold(1);
            for (int i = 0; i < lines; i++) {
                log_info("kid %d line %d %s", k, i, pad);
                if (hold && i % 7 == 6)
                    log_flush();
            }
            if (hold)
                log_hold(0);
            _exit(0);
        }
    }
    for (int k = 0; k < KIDS; k++)
        wait_exit(pids[k], 0);
    log_close();
    size_t len;
    char *buf = slurp(p, &len);
    char pattern[256];
    snprintf(pattern, sizeof(pattern),
             "^[A-Z][a-z][a-z] [0-3][0-9] [0-9:]{8} h mxscreen/smtpd\\[[0-9]+\\]: "
             "kid [0-3] line [0-9]+ %s$", pad_re);
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED), 0);
    int count = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
        count++;
    }
    assert_int_equal(count, KIDS * lines);
    regfree(&re);
    free(buf);
}

/* The pid is asked once per process: a child that logs before its own
 * log_init() (the master's fork paths) must still name itself, and the
 * parent keeps its own. */
static void forked_child_logs_its_own_pid(void **state)
{
    (void)state;
    const char *p = open_log("mxscreen/master", "pid.log", "h.example");
    log_info("parent before");
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        log_info("child");
        _exit(0);
    }
    wait_exit(kid, 0);
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
    const char *p = open_log("mxscreen/smtpd", "time.log", "h.example");
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

static off_t file_size(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

static int count_of(const char *buf, const char *needle)
{
    int n = 0;
    for (const char *q = buf; (q = strstr(q, needle)); q += strlen(needle))
        n++;
    return n;
}

/* Held lines reach the file only at log_flush(), in order, and a line
 * logged after log_hold(0) is written at once. */
static void held_lines_wait_for_flush(void **state)
{
    (void)state;
    const char *p = open_log("mxscreen/smtpd", "hold.log", "h");
    log_hold(1);
    log_info("one");
    log_warn("two");
    log_info("three");
    assert_int_equal(file_size(p), 0);
    log_flush();
    off_t after = file_size(p);
    assert_true(after > 0);
    log_flush(); /* nothing held: nothing written */
    assert_int_equal(file_size(p), after);
    log_info("four");
    assert_int_equal(file_size(p), after);
    log_hold(0); /* flushes */
    off_t four = file_size(p);
    assert_true(four > after);
    log_info("five");
    assert_true(file_size(p) > four);
    log_close();
    size_t len;
    char *buf = slurp(p, &len);
    const char *a = strstr(buf, "]: one\n"), *b = strstr(buf, "]: warning: two\n"),
               *c = strstr(buf, "]: three\n"), *d = strstr(buf, "]: four\n"),
               *e = strstr(buf, "]: five\n");
    assert_true(a && b && c && d && e);
    assert_true(a < b && b < c && c < d && d < e);
    assert_int_equal(count_of(buf, "\n"), 5);
    free(buf);
}

/* A buffer that would overflow is written first: whole lines only, and
 * every line once, in order, after the final flush. */
static void full_buffer_writes_whole_lines(void **state)
{
    (void)state;
    enum { LINES = 400 };
    const char *p = open_log("mxscreen/smtpd", "full.log", "h");
    log_hold(1);
    for (int i = 0; i < LINES; i++)
        log_info("line %03d %0100d", i, 0);
    size_t len;
    char *buf = slurp(p, &len);
    assert_true(len > 0); /* ~56 KB logged: some were written */
    assert_true(buf[len - 1] == '\n');
    int written = count_of(buf, "\n");
    assert_true(written < LINES); /* and some are still held */
    assert_true(LINES - written <= 16384 / 100);
    free(buf);
    log_flush();
    log_hold(0);
    log_close();
    buf = slurp(p, &len);
    int i = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"), i++) {
        char want[32];
        snprintf(want, sizeof(want), "]: line %03d ", i);
        assert_non_null(strstr(line, want));
    }
    assert_int_equal(i, LINES);
    free(buf);
}

/* stderr may be a pipe: a held batch is written before it passes
 * PIPE_BUF, so the pipe keeps it whole against other writers. */
static void stderr_batches_fit_pipe_buf(void **state)
{
    (void)state;
    int rd;
    int saved = stderr_to_pipe(&rd);
    log_init("mxscreen-test", 0);
    log_hold(1);
    log_info("held %s", "a");
    int avail = -1;
    assert_int_equal(ioctl(rd, FIONREAD, &avail), 0);
    assert_int_equal(avail, 0);
    /* 40 lines of ~215 bytes: 8.6 KB, more than PIPE_BUF. */
    for (int i = 0; i < 40; i++)
        log_info("%02d %0200d", i, 0);
    assert_int_equal(ioctl(rd, FIONREAD, &avail), 0);
    assert_true(avail > 0 && avail <= 2 * PIPE_BUF);
    log_hold(0);
    char buf[16384];
    stderr_restore(saved, rd, buf, sizeof(buf));
    assert_true(strncmp(buf, "mxscreen-test: held a\n", 22) == 0);
    assert_int_equal(count_of(buf, "\n"), 41);
    assert_non_null(strstr(buf, "mxscreen-test: 39 000"));
}

/* Lines held at fork(2) are written once, by the parent; the child starts
 * with nothing held and not holding; a child's held lines survive exit(3)
 * and log_fatal(). */
static void fork_exit_and_fatal_keep_held_lines(void **state)
{
    (void)state;
    const char *p = open_log("mxscreen/master", "forkhold.log", "h");
    log_hold(1);
    log_info("held before fork");
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        /* Not holding: written at once, so _exit() loses nothing. */
        log_info("child unheld");
        _exit(0);
    }
    wait_exit(kid, 0);
    pid_t kid2 = fork();
    assert_true(kid2 >= 0);
    if (kid2 == 0) {
        log_hold(1);
        log_info("child held, then exit");
        exit(0);
    }
    wait_exit(kid2, 0);
    pid_t kid3 = fork();
    assert_true(kid3 >= 0);
    if (kid3 == 0) {
        log_hold(1);
        log_info("child held, then fatal");
        log_fatal("child fatal %d", 3);
    }
    wait_exit(kid3, 1);
    log_hold(0);
    log_close();
    size_t len;
    char *buf = slurp(p, &len);
    assert_int_equal(count_of(buf, "]: held before fork\n"), 1);
    assert_int_equal(count_of(buf, "]: child unheld\n"), 1);
    assert_int_equal(count_of(buf, "]: child held, then exit\n"), 1);
    assert_int_equal(count_of(buf, "]: child held, then fatal\n"), 1);
    assert_int_equal(count_of(buf, "]: fatal: child fatal 3\n"), 1);
    /* The parent's held line went out before the first child existed. */
    assert_true(strstr(buf, "held before fork") < strstr(buf, "child unheld"));
    assert_true(strstr(buf, "then fatal") < strstr(buf, "child fatal 3"));
    free(buf);
}

/* The stderr tee is never held: a start-up error reaches the terminal at
 * once while the file's copy waits for the flush. */
static void tee_is_not_held(void **state)
{
    (void)state;
    int rd;
    int saved = stderr_to_pipe(&rd);
    const char *p = open_log("mxscreen/master", "tee.log", "h");
    log_tee_stderr(1);
    log_hold(1);
    log_error("cannot bind %s", "x");
    int avail = -1;
    assert_int_equal(ioctl(rd, FIONREAD, &avail), 0);
    assert_true(avail > 0);
    assert_int_equal(file_size(p), 0);
    log_hold(0);
    log_tee_stderr(0);
    log_close();
    char buf[512];
    assert_true(stderr_restore(saved, rd, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "]: error: cannot bind x\n"));
    size_t len;
    char *fb = slurp(p, &len);
    assert_int_equal(count_of(fb, "]: error: cannot bind x\n"), 1);
    free(fb);
}

/* log_msg_as(): that one line under the other name with this process's
 * pid, held in order with the others; the lines after it under the own
 * name again (the cached prefix must not keep either name). */
static void line_as_another_program(void **state)
{
    (void)state;
    const char *p = open_log("mxscreen/postscreen", "as.log", "h");
    log_info("one");
    log_hold(1);
    log_msg_as("mxscreen/smtpd", LOG_LVL_INFO, "connect from %s", "x[192.0.2.1]");
    log_warn("two");
    log_msg_as("mxscreen/smtpd", LOG_LVL_WARN, "three");
    log_msg_as("mxscreen/smtpd", LOG_LVL_DEBUG, "dropped: below the level");
    log_hold(0);
    log_info("four");
    log_close();
    size_t len;
    char *buf = slurp(p, &len);
    char want[512];
    long pid = (long)getpid();
    snprintf(want, sizeof(want),
             " mxscreen/postscreen[%ld]: one\n"
             "%%s mxscreen/smtpd[%ld]: connect from x[192.0.2.1]\n"
             "%%s mxscreen/postscreen[%ld]: warning: two\n"
             "%%s mxscreen/smtpd[%ld]: warning: three\n"
             "%%s mxscreen/postscreen[%ld]: four\n", pid, pid, pid, pid, pid);
    /* Compare without the time and host in front of each line. */
    char got[512];
    size_t n = 0;
    for (const char *l = buf; *l && n < sizeof(got) - 1;) {
        const char *sp = strstr(l, " mxscreen/");
        const char *nl = strchr(l, '\n');
        assert_true(sp && nl && sp < nl);
        if (l != buf)
            n += (size_t)snprintf(got + n, sizeof(got) - n, "%%s");
        n += (size_t)snprintf(got + n, sizeof(got) - n, "%.*s", (int)(nl + 1 - sp), sp);
        l = nl + 1;
    }
    assert_string_equal(got, want);
    assert_int_equal(count_of(buf, "\n"), 5);
    free(buf);
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
        {"forked_writers_interleave_whole_lines", many_writers, NULL, NULL, (void *)&unheld},
        cmocka_unit_test(forked_child_logs_its_own_pid),
        cmocka_unit_test(time_prefix_follows_the_clock),
        cmocka_unit_test(open_failure_keeps_sink),
        cmocka_unit_test(held_lines_wait_for_flush),
        cmocka_unit_test(full_buffer_writes_whole_lines),
        cmocka_unit_test(stderr_batches_fit_pipe_buf),
        cmocka_unit_test(fork_exit_and_fatal_keep_held_lines),
        {"held_batches_from_many_processes_stay_whole", many_writers, NULL, NULL,
         (void *)&held},
        cmocka_unit_test(tee_is_not_held),
        cmocka_unit_test(line_as_another_program),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
