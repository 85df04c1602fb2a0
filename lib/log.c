/*
 * log.c - Postfix-style log lines on stderr, in a file (maillog_file) or
 * through syslog(3).
 *
 * Whole lines per write(2) so that lines from several processes sharing a
 * descriptor never interleave mid-line (the file is O_APPEND: each write
 * lands at the end whole; a pipe keeps writes of up to PIPE_BUF whole).
 * Output errors are ignored: logging must never take the daemon down.
 * A process that holds lines (log_hold, see log.h) writes one pass of
 * its event loop at once: the write(2) per line was ~4% of a worker's CPU
 * per SMTP session.
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
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
/* The file sink is a regular file: O_APPEND writes of any size land
 * whole, so a held batch may be larger than PIPE_BUF. */
static bool log_fd_regular;

/* Held lines (log_hold), all whole, for the current sink's descriptor. */
#define HOLD_MAX 16384
static char hold_buf[HOLD_MAX];
static size_t hold_len;
static bool hold_on;

/* getpid() once per process; log_pid_fresh() after fork (pthread_atfork). */
static pid_t log_pid;
static bool log_atfork_set;
/* The line prefix before the level name, for the second pre_sec and the
 * current sink, program and pid; pre_len 0: to be made again. */
static char pre[160];
static size_t pre_len;
static time_t pre_sec;
static enum log_sink pre_sink;

/* In a child (pthread_atfork, log_after_fork): its own pid, and no
 * holding until its own loop asks (the parent flushed before the fork,
 * so nothing held is inherited). */
static void log_pid_fresh(void)
{
    log_pid = getpid();
    pre_len = 0;
    hold_len = 0;
    hold_on = false;
}

static int sink_fd(void)
{
    return log_sink == SINK_FILE ? log_fd : STDERR_FILENO;
}

void log_flush(void)
{
    if (hold_len == 0)
        return;
    ssize_t w = write(sink_fd(), hold_buf, hold_len);
    (void)w;
    hold_len = 0;
}

/* Once per process image: held lines go out before a fork (else parent
 * and child would both write them) and at exit; forked children refresh
 * the cached pid. A failure only means no handler; every daemon child
 * calls log_init(), which refreshes it too, and holds only in its loop,
 * which flushes. */
static void watch_fork(void)
{
    if (!log_atfork_set) {
        log_atfork_set = pthread_atfork(log_flush, NULL, log_pid_fresh) == 0;
        atexit(log_flush);
    }
}

void log_hold(int on)
{
    watch_fork();
    if (!on)
        log_flush();
    hold_on = on != 0;
}

/* syslog_facility values as Postfix names them (msg_syslog.c), in the
 * order of facility_codes[]. */
const char *const log_facility_names[] = {
    "auth",   "authpriv", "cron",   "daemon", "ftp",    "kern",   "lpr",    "mail",
    "news",   "syslog",   "user",   "uucp",   "local0", "local1", "local2", "local3",
    "local4", "local5",   "local6", "local7", NULL,
};
static const int facility_codes[] = {
    LOG_AUTH,   LOG_AUTHPRIV, LOG_CRON,   LOG_DAEMON, LOG_FTP,    LOG_KERN,   LOG_LPR,
    LOG_MAIL,   LOG_NEWS,     LOG_SYSLOG, LOG_USER,   LOG_UUCP,   LOG_LOCAL0, LOG_LOCAL1,
    LOG_LOCAL2, LOG_LOCAL3,   LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7,
};
_Static_assert(sizeof(facility_codes) / sizeof(facility_codes[0]) ==
                   sizeof(log_facility_names) / sizeof(log_facility_names[0]) - 1,
               "one code per facility name");

/* syslog_name and syslog_facility (log_open_syslog); the ident openlog()
 * keeps by pointer, rebuilt by each log_init(). */
static char syslog_prefix[64];
static int syslog_facility = LOG_MAIL;
static char syslog_ident[160];

/* Postfix's ident is "syslog_name/service": our program names are
 * "mxscreen/service", so the part after the first '/' is the service. */
static void syslog_ident_for(const char *prog, char *buf, size_t len)
{
    const char *svc = strchr(prog, '/');
    if (syslog_prefix[0] && svc)
        snprintf(buf, len, "%s%s", syslog_prefix, svc);
    else
        snprintf(buf, len, "%s", syslog_prefix[0] ? syslog_prefix : prog);
}

static void syslog_reopen(void)
{
    syslog_ident_for(log_prog, syslog_ident, sizeof(syslog_ident));
    closelog();
    openlog(syslog_ident, LOG_PID, syslog_facility);
}

void log_init(const char *progname, int with_pid)
{
    log_prog = progname;
    log_with_pid = with_pid;
    watch_fork();
    log_pid_fresh();
    if (log_sink == SINK_SYSLOG)
        syslog_reopen();
}

long log_pid_get(void)
{
    watch_fork();
    if (log_pid == 0)
        log_pid = getpid();
    return (long)log_pid;
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
    struct stat st;
    log_fd_regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
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

void log_open_syslog(const char *name, int facility)
{
    log_close();
    log_sink = SINK_SYSLOG;
    snprintf(syslog_prefix, sizeof(syslog_prefix), "%s", name ? name : "");
    syslog_facility = facility >= 0 && (size_t)facility < sizeof(facility_codes) / sizeof(facility_codes[0])
                          ? facility_codes[facility]
                          : LOG_MAIL;
    syslog_reopen();
}

void log_close(void)
{
    log_flush(); /* held lines belong to the sink being closed */
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
    /* Lines held when the parent forked were flushed before (atfork);
     * none of them are this child's to write. */
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

/* One line to the sink: held when holding (and may_hold), else written. */
static void emit(enum log_level lvl, const char *fmt, va_list ap, bool may_hold)
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
        emit(lvl, fmt, aq, false); /* the held lines are the file's */
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
    if (may_hold && hold_on) {
        size_t cap = log_sink == SINK_FILE && log_fd_regular ? HOLD_MAX : PIPE_BUF;
        if (hold_len + len > cap)
            log_flush();
        memcpy(hold_buf + hold_len, line, len); /* len < sizeof(line) <= cap */
        hold_len += len;
        return;
    }
    if (may_hold)
        log_flush(); /* never a line before ones held earlier */
    ssize_t w = write(sink_fd(), line, len);
    (void)w;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    emit(lvl, fmt, ap, true);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}

void log_msg_as(const char *progname, enum log_level lvl, const char *fmt, ...)
{
    static char ident_as[160]; /* openlog() keeps the pointer */
    const char *own = log_prog;
    va_list ap;

    if (lvl < log_min)
        return;
    log_prog = progname;
    pre_len = 0; /* the cached prefix carries the own name: rebuilt */
    if (log_sink == SINK_SYSLOG) {
        /* openlog() without closelog(): glibc only swaps the ident and
         * keeps its connection, so this costs no reconnect. */
        syslog_ident_for(progname, ident_as, sizeof(ident_as));
        openlog(ident_as, LOG_PID, syslog_facility);
    }
    va_start(ap, fmt);
    emit(lvl, fmt, ap, true);
    va_end(ap);
    log_prog = own;
    pre_len = 0;
    if (log_sink == SINK_SYSLOG)
        openlog(syslog_ident, LOG_PID, syslog_facility);
}

noreturn void log_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_LVL_FATAL, fmt, ap);
    va_end(ap);
    log_flush(); /* exit() does too, but a fatal line must not depend on it */
    exit(1);
}
