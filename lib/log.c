/*
 * log.c - Postfix-style log lines on stderr.
 *
 * One write(2) per line so that lines from several processes sharing a
 * descriptor never interleave mid-line. Output errors are ignored: logging
 * must never take the daemon down.
 */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_prog = "mxscreen";
static int log_with_pid;
static enum log_level log_min = LOG_LVL_INFO;

void log_init(const char *progname, int with_pid)
{
    log_prog = progname;
    log_with_pid = with_pid;
}

const char *log_progname(void)
{
    return log_prog;
}

void log_set_level(enum log_level min)
{
    log_min = min;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    static const char *const names[] = {
        [LOG_LVL_DEBUG] = "debug: ", [LOG_LVL_INFO] = "",
        [LOG_LVL_WARN] = "warning: ", [LOG_LVL_ERROR] = "error: ",
        [LOG_LVL_FATAL] = "fatal: ",
    };
    char line[2048];
    int n;

    if (lvl < log_min)
        return;
    if (log_with_pid)
        n = snprintf(line, sizeof(line), "%s[%ld]: %s", log_prog, (long)getpid(), names[lvl]);
    else
        n = snprintf(line, sizeof(line), "%s: %s", log_prog, names[lvl]);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = 0;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
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
