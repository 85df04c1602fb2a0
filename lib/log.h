/*
 * log.h - the one logging API of mxscreen.
 *
 * Lines are formatted as Postfix formats them, so pflogsumm, fail2ban and
 * log dashboards keep working: "PROG[PID]: LEVEL: text" where LEVEL is
 * omitted for info. Tools (mxscreen-map, mxscreen-conf) log as
 * "PROG: warning: text" on stderr, like postmap and postconf do.
 *
 * Sinks (one at a time, per process):
 *   stderr  the default (tools, and the daemon in the foreground);
 *   file    log_open_file(): Postfix's maillog_file. Each line gets the
 *           prefix Postfix's postlog writes ("Mon DD HH:MM:SS host "; the
 *           day zero-padded, strftime "%b %d %H:%M:%S", host = first label
 *           of myhostname, as Postfix 3.7 does). The file is opened
 *           O_APPEND and every line is one write(2), so lines from the
 *           master and all its workers, which inherit the descriptor
 *           across fork, interleave whole;
 *   syslog  log_open_syslog(): syslog(3), syslog_facility, ident syslog_name/service.
 * log_init() may be called again after fork (the worker renames itself
 * "mxscreen/smtpd"); the sink stays.
 *
 * Held lines (log_hold): an event loop that logs several lines per pass
 * (a worker logs ~8 per SMTP session) holds them and writes them with one
 * write(2) per pass: log_flush() right before it submits the pass's I/O
 * and waits, so a line is still written before the reply it goes with
 * reaches the client (tests and people read the log right after a reply;
 * a hold of even 10 ms broke that), and before any syscall the peer sees
 * at once (the worker's shutdown/close of a client; the frontend's direct
 * sends, closes and the handoff after which a worker greets). Lines
 * are whole in the buffer and a write is at most PIPE_BUF
 * bytes (stderr) or 16 KiB (a regular file, O_APPEND), so lines of
 * several processes still never interleave mid-line. Held lines are
 * written when the buffer would overflow, by log_flush(), log_hold(0), a
 * sink change, before fork(2) (pthread_atfork: the child starts empty and
 * not holding), by log_fatal() and at exit(3). A process killed by a
 * signal loses at most the lines of its current pass. The syslog sink and
 * the stderr tee are never held.
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
/* This process's id as its log lines show it: asked once, again after
 * fork (a getpid(2) per call is a syscall on every queue id). */
long log_pid_get(void);
/* Lines below this level are dropped. */
void log_set_level(enum log_level min);

/* Log to path (created 0600 if missing, appended to). host: myhostname;
 * its first label goes into each line. 0, or -errno (the current sink
 * stays). */
int log_open_file(const char *path, const char *host);
/* Log through syslog(3) as Postfix does: ident "NAME/service" (NAME is
 * syslog_name; service is what follows the '/' of log_init()'s progname;
 * NULL or "": the progname itself), with LOG_PID, facility
 * log_facility_names[facility] (syslog_facility; out of range: mail). */
void log_open_syslog(const char *name, int facility);
/* syslog_facility's values, NULL-terminated (the config table's enum). */
extern const char *const log_facility_names[];
/* Also copy every line to stderr (without the file prefix) while a file
 * or syslog sink is open: a daemon's start-up errors must reach the
 * person who started it, as Postfix's do. */
void log_tee_stderr(int on);
/* Back to stderr (closes a file sink). */
void log_close(void);
/* The file sink's descriptor, or -1: a child that closes inherited
 * descriptors keeps this one. */
int log_file_fd(void);
/* In a child about to close inherited descriptors: forget syslog's
 * connection (reopened by the next line) so that a descriptor number
 * reused later is never written to by syslog(3). */
void log_after_fork(void);

/* on: hold lines until log_flush() (see above); off: flush, then write
 * each line at once again (the default). */
void log_hold(int on);
/* Write the held lines, if any. Cheap when there are none. */
void log_flush(void);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* One line under another program name (its "[pid]" stays this
 * process's): the frontend writes the smtpd lines of the sessions it ends
 * itself as "mxscreen/smtpd", the name Postfix's smtpd logs them under, so
 * log tools count them with the workers' (lib/log.c swaps the cached
 * prefix, or syslog's ident, for this one line). */
void log_msg_as(const char *progname, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
noreturn void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
