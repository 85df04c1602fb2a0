/*
 * log.h - the one logging API of mxscreen.
 *
 * Lines are formatted as Postfix formats them, so pflogsumm, fail2ban and
 * log dashboards keep working: "PROG[PID]: LEVEL: text" where LEVEL is
 * omitted for info. Tools (mxscreen-map, mxscreen-conf) log as
 * "PROG: warning: text" on stderr, like postmap and postconf do.
 *
 * log_fatal() logs and exits with status 1; it never returns.
 */
#ifndef MX_LOG_H
#define MX_LOG_H

#include <stdarg.h>
#include <stdnoreturn.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR, LOG_LVL_FATAL };

/* Set the program name ("mxscreen/smtpd", "mxscreen-map") and whether to
 * prefix lines with the pid, as daemons do. */
void log_init(const char *progname, int with_pid);
const char *log_progname(void);
/* Lines below this level are dropped. */
void log_set_level(enum log_level min);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
noreturn void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
