/*
 * log.c - Postfix-style log lines on stderr, in a file (maillog_file) or
 * through syslog(3).
 *
 * One write(2) per line so that lines from several processes sharing a
 * descriptor never interleave mid-line (the file is O_APPEND: each write
 * lands at the end whole). Output errors are ignored: logging must never
 * take the daemon down.
 *
 * A worker logs several lines per SMTP session, so the per-line work is
 * kept to the message itself: the pid is asked once per process (again in
 * a forked child: pthread_atfork, so a child that logs before its
 * log_init() still names itself), and the "Mon DD HH:MM:SS host prog[pid]: "
 * prefix is formatted once per second, not per line (localtime_r and
 * strftime were about a tenth of a worker's user time).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum log_sink { SINK_STDERR, SINK_FILE, SINK_SYSLOG };

static const char *log_prog = "mxscreen";
static int log_with_pid;
static enum log_level log_min = LOG_LVL_INFO;
static enum log_sink log_sink = SINK_STDERR;
static int log_fd = -1;
static char log_host[64];
static int log_tee;

/* getpid() once per process; log_pid_fresh() after fork (pthread_atfork). */
static pid_t log_pid;
static bool log_atfork_set;
/* The line prefix before the level name, for the second pre_sec and the
 * current sink, program and pid; pre_len 0: to be made again. */
static char pre[160];
static size_t pre_len;
static time_t pre_sec;
static enum log_sink pre_sink;

static void log_pid_fresh(void)
{
    log_pid = getpid();
    pre_len = 0;
}

/* Once per process image: forked children refresh the cached pid. A
 * failure only means no handler; every daemon child calls log_init(),
 * which refreshes it too. */
static void watch_fork(void)
{
    if (!log_atfork_set)
        log_atfork_set = pthread_atfork(NULL, NULL, log_pid_fresh) == 0;
}

void log_init(const char *progname, int with_pid)
{
    log_prog = progname;
    log_with_pid = with_pid;
    watch_fork();
    log_pid_fresh();
    if (log_sink == SINK_SYSLOG) {
        /* ident is kept by pointer; progname outlives the process's use. */
        closelog();
        openlog(log_prog, LOG_PID, LOG_MAIL);
    }
}

const char *log_progname(void)
{
    return log_prog;
}

void log_set_level(enum log_level min)
{
    log_min = min;
}

int log_open_file(const char *path, const char *host)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return -errno;
    log_close();
    log_fd = fd;
    log_sink = SINK_FILE;
    /* Postfix writes the first label of myhostname. */
    size_t n = host ? strcspn(host, ".") : 0;
    if (n >= sizeof(log_host))
        n = sizeof(log_host) - 1;
    memcpy(log_host, host ? host : "", n);
    log_host[n] = '\0';
    if (!log_host[0]) {
        if (gethostname(log_host, sizeof(log_host) - 1) < 0)
            strcpy(log_host, "localhost");
        log_host[strcspn(log_host, ".")] = '\0';
    }
    pre_len = 0;
    return 0;
}

void log_open_syslog(void)
{
    log_close();
    log_sink = SINK_SYSLOG;
    openlog(log_prog, LOG_PID, LOG_MAIL);
}

void log_close(void)
{
    if (log_sink == SINK_FILE && log_fd >= 0)
        close(log_fd);
    if (log_sink == SINK_SYSLOG)
        closelog();
    log_fd = -1;
    log_sink = SINK_STDERR;
    pre_len = 0;
}

void log_tee_stderr(int on)
{
    log_tee = on;
}

int log_file_fd(void)
{
    return log_sink == SINK_FILE ? log_fd : -1;
}

void log_after_fork(void)
{
    if (log_sink == SINK_SYSLOG)
        closelog();
    log_pid_fresh();
}

/* "Mon DD HH:MM:SS host prog[pid]: " (file), "prog[pid]: " or "prog: "
 * (stderr) into pre, for the second now. */
static void make_prefix(time_t now)
{
    int n = 0;
    watch_fork(); /* a process that never called log_init() */
    if (log_pid == 0)
        log_pid = getpid();
    if (log_sink == SINK_FILE) {
        struct tm tm;
        if (localtime_r(&now, &tm))
            n = (int)strftime(pre, sizeof(pre), "%b %d %H:%M:%S ", &tm);
        n += snprintf(pre + n, sizeof(pre) - (size_t)n, "%s ", log_host);
    }
    int p;
    if (log_with_pid || log_sink == SINK_FILE)
        p = snprintf(pre + n, sizeof(pre) - (size_t)n, "%s[%ld]: ", log_prog, (long)log_pid);
    else
        p = snprintf(pre + n, sizeof(pre) - (size_t)n, "%s: ", log_prog);
    if (p < 0 || (size_t)n + (size_t)p >= sizeof(pre))
        p = 0; /* an absurd program name: the line goes without it */
    pre_len = (size_t)n + (size_t)p;
    pre_sec = now;
    pre_sink = log_sink;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    static const char *const names[] = {
        [LOG_LVL_DEBUG] = "debug: ", [LOG_LVL_INFO] = "",
        [LOG_LVL_WARN] = "warning: ", [LOG_LVL_ERROR] = "error: ",
        [LOG_LVL_FATAL] = "fatal: ",
    };
    static const int prio[] = {
        [LOG_LVL_DEBUG] = LOG_DEBUG, [LOG_LVL_INFO] = LOG_INFO,
        [LOG_LVL_WARN] = LOG_WARNING, [LOG_LVL_ERROR] = LOG_ERR,
        [LOG_LVL_FATAL] = LOG_CRIT,
    };
    char line[2048];
    int n = 0;

    if (lvl < log_min)
        return;
    if (log_tee && log_sink != SINK_STDERR) {
        va_list aq;
        va_copy(aq, ap);
        enum log_sink s = log_sink;
        log_sink = SINK_STDERR;
        log_vmsg(lvl, fmt, aq);
        log_sink = s;
        va_end(aq);
    }
    if (log_sink == SINK_SYSLOG) {
        /* syslog adds time, host, ident and pid itself. */
        n = snprintf(line, sizeof(line), "%s", names[lvl]);
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        syslog(prio[lvl], "%s", line);
        return;
    }
    /* The stderr prefix has no time: any second will do. */
    time_t now = log_sink == SINK_FILE ? time(NULL) : pre_sec;
    if (pre_len == 0 || now != pre_sec || pre_sink != log_sink)
        make_prefix(now);
    memcpy(line, pre, pre_len);
    n = (int)pre_len;
    size_t lv = strlen(names[lvl]);
    memcpy(line + n, names[lvl], lv);
    n += (int)lv;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(log_sink == SINK_FILE ? log_fd : STDERR_FILENO, line, len);
    (void)w;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}

noreturn void log_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_LVL_FATAL, fmt, ap);
    va_end(ap);
    exit(1);
}
