/*
 * fe_dummy_log.c - the log lines of the enforce engine's smtpd mode
 * (fe_dummy.c): a session no worker sees is logged as Postfix 3.7's smtpd
 * logs one, so that log tools count it as an smtpd session: "connect
 * from NAME[ADDR] id=ID" once, when the session ends here (a worker that
 * takes it over logs its own); the rejects ("NOQUEUE: reject: RCPT from NAME[ADDR]: ..."), "discarding EHLO
 * keywords: ...", "lost connection / timeout / too many errors after VERB
 * from NAME[ADDR]", and "disconnect from NAME[ADDR] ehlo=1 ...
 * commands=N/M" with smtpd's counters. Interface: fe_int.h (fe_dummy_log_*).
 * They go under the workers' program name (log_msg_as), as Postfix's smtpd
 * writes them as postfix/smtpd, not postfix/postscreen.
 *
 * Failure: a line that does not fit its buffer is not logged (maillog.h
 * builders refuse it); nothing else can fail.
 */
#include "fe_int.h"

#include <stdio.h>

#include "ehlo_reply.h"
#include "fe_early.h"
#include "log.h"
#include "maillog.h"

/* The workers' name (master/supervisor.c's log_init()). */
#define SMTPD_PROG "mxscreen/smtpd"
#define smtpd_info(...) log_msg_as(SMTPD_PROG, LOG_LVL_INFO, __VA_ARGS__)

void fe_smtpd_log_line(int lvl, const char *line)
{
    log_msg_as(SMTPD_PROG, (enum log_level)lvl, "%s", line);
}

void fe_smtpd_log_connect(const struct fe_conn *c)
{
    char name[256], addr[64], line[600];
    fe_early_namaddr(c, name, sizeof(name), addr, sizeof(addr));
    struct maillog_client mc = {.name = name, .addr = addr};
    if (maillog_connect(line, sizeof(line), &mc) < 0)
        return;
    /* The id after the "]", where parsers stop reading (workers/conn.c). */
    if (c->id[0])
        smtpd_info("%s id=%s", line, c->id);
    else
        smtpd_info("%s", line);
}

void fe_smtpd_log_after(const struct fe_conn *c, const char *what, const char *where)
{
    char name[256], addr[64], line[700];
    fe_early_namaddr(c, name, sizeof(name), addr, sizeof(addr));
    struct maillog_client mc = {.name = name, .addr = addr};
    if (maillog_lost(line, sizeof(line), what, where ? where : "CONNECT", -1, &mc) >= 0)
        smtpd_info("%s", line);
}

void fe_smtpd_log_disconnect(const struct fe_conn *c, const struct maillog_cmd_stats *st)
{
    char name[256], addr[64], line[1024];
    fe_early_namaddr(c, name, sizeof(name), addr, sizeof(addr));
    struct maillog_client mc = {.name = name, .addr = addr};
    if (maillog_disconnect(line, sizeof(line), &mc, st) >= 0)
        smtpd_info("%s", line);
}

/* The engine's connect line: once, when the engine ends the session (its
 * last lines), not at its start: until then a RCPT TO:<postmaster> may
 * hand the session to a worker, which logs its own connect line, and a
 * session must have one, not two (log tools count them). */
static void connect_log(struct fe_conn *c)
{
    struct fe_dummy_state *d = c->dummy;
    if (!d || d->connect_logged)
        return;
    d->connect_logged = true;
    fe_smtpd_log_connect(c);
}

void fe_dummy_log_after(struct fe_conn *c, const char *what)
{
    connect_log(c);
    fe_smtpd_log_after(c, what, c->dummy ? c->dummy->verb : NULL);
}

/* The end of a session the engine ran. postscreen mode: "DISCONNECT
 * [ADDR]:PORT". smtpd mode: smtpd's disconnect line with the commands the
 * engine (and the deep tests before it) answered, so that the client looks
 * like any smtpd session in the log (no worker saw it). */
void fe_dummy_log_end(struct fe_conn *c)
{
    const struct fe_dummy_state *d = c->dummy;
    if (!(c->flags & FE_F_SMTPD) || !d) {
        fe_conn_log_disconnect(c);
        return;
    }
    connect_log(c);
    fe_smtpd_log_disconnect(c, &d->sm.counts);
}

/* smtpd_check.c's log_whatsup() line for the reject in c->final. */
void fe_dummy_log_reject(struct fe_conn *c, const char *where, const char *sender,
                         const char *rcpt, const struct fe_dummy_state *d)
{
    char name[256], addr[64], text[FE_LINE_MAX], line[1400];
    fe_early_namaddr(c, name, sizeof(name), addr, sizeof(addr));
    snprintf(text, sizeof(text), "%.*s", (int)(c->final_len - 2), c->final);
    struct maillog_client mc = {.name = name, .addr = addr};
    if (d && d->helo[0]) {
        mc.helo = d->helo;
        mc.proto = d->esmtp ? "ESMTP" : "SMTP";
    } else if (!d) {
        mc.proto = "SMTP";
    }
    if (maillog_reject(line, sizeof(line), "NOQUEUE", "reject", where, &mc, text, sender, rcpt) >= 0)
        smtpd_info("%s", line);
}

/* ehlo_cmd()'s "discarding EHLO keywords: ..." line, on every EHLO. */
void fe_dummy_log_ehlo(struct fe_conn *c)
{
    unsigned mask = c->dummy->sm.ehlo_discard;
    char names[256];
    if (ehlo_reply_logged(mask) && ehlo_reply_mask_str(mask, names, sizeof(names)) >= 0)
        smtpd_info("discarding EHLO keywords: %s", names);
}
