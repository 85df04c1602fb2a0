/*
 * policy_log.c - the restriction engine's events as smtpd logs them
 * (smtpd_check.c log_whatsup()):
 *   "QID|NOQUEUE: WHATSUP: WHERE from NAME[ADDR]: TEXT; from=<s> to=<r>
 *    proto=P helo=<h>"
 * WHATSUP is reject, reject_warning, warn, hold, discard, filter,
 * redirect; WHERE is the SMTP command being answered (CONNECT, HELO, MAIL,
 * RCPT, VRFY, ETRN, DATA, BDAT, END-OF-MESSAGE). from= appears once MAIL
 * gave a sender; to= at RCPT/VRFY, and at DATA/END-OF-MESSAGE only when
 * the transaction has exactly one recipient (smtpd_check_data()).
 *
 * Lines of a delayed chain's early stages (smtpd_delay_reject) are held
 * until the chain's last stage, where the command and the recipient are
 * known; more than POLICY_LOG_HELD of them are written at once, with the
 * command guessed ("RCPT" inside a transaction, else "VRFY").
 *
 * Failure: a line too long for the buffer is written truncated.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "maillog.h"
#include "policy_int.h"

static const char *where_of(const struct policy_session *ps)
{
    switch (ps->stage) {
    case SESSION_STAGE_CONNECT:
        if (ps->p->delay_reject)
            return ps->rf.sender ? "RCPT" : "VRFY";
        /* Judged again after XCLIENT: "reject: XCLIENT from", as smtpd. */
        return ps->where && !strcmp(ps->where, "XCLIENT") ? "XCLIENT" : "CONNECT";
    case SESSION_STAGE_HELO:
        if (ps->p->delay_reject)
            return ps->rf.sender ? "RCPT" : "VRFY";
        /* "EHLO from" for EHLO, as Postfix logs it. */
        return ps->where && !strcmp(ps->where, "EHLO") ? "EHLO" : "HELO";
    case SESSION_STAGE_MAIL: return ps->p->delay_reject ? "RCPT" : "MAIL";
    case SESSION_STAGE_RCPT: return "RCPT";
    case SESSION_STAGE_VRFY: return "VRFY";
    case SESSION_STAGE_ETRN: return "ETRN";
    case SESSION_STAGE_DATA: return ps->bdat ? "BDAT" : "DATA";
    case SESSION_STAGE_EOD: return "END-OF-MESSAGE";
    }
    return "UNKNOWN";
}

static const char *recipient_of(const struct policy_session *ps)
{
    switch (ps->stage) {
    case SESSION_STAGE_RCPT:
    case SESSION_STAGE_VRFY: return ps->rf.recipient;
    case SESSION_STAGE_DATA:
    case SESSION_STAGE_EOD: return ps->rcpt_count == 1 && ps->first_rcpt[0] ? ps->first_rcpt : NULL;
    default: return NULL;
    }
}

static void write_line(const struct policy_session *ps, const char *whatsup, const char *text)
{
    char line[2 * RESTRICT_REPLY_MAX + 3 * SMTP_LINE_LIMIT_DEFAULT];
    struct maillog_client c = {
        .name = ps->name, .addr = ps->addr, .helo = ps->rf.helo, .proto = ps->proto,
    };
    (void)maillog_reject(line, sizeof(line), ps->queue_id[0] ? ps->queue_id : NULL, whatsup,
                         where_of(ps), &c, text, ps->rf.sender, recipient_of(ps));
    log_info("%s", line);
}

void policy_log_event(void *arg, const char *whatsup, const char *text)
{
    struct policy_session *ps = arg;
    bool early = ps->p->delay_reject
                 && (ps->stage == SESSION_STAGE_CONNECT || ps->stage == SESSION_STAGE_HELO
                     || ps->stage == SESSION_STAGE_MAIL);
    if (early && ps->nlog < POLICY_LOG_HELD) {
        struct policy_held_log *h = &ps->log[ps->nlog++];
        snprintf(h->whatsup, sizeof(h->whatsup), "%s", whatsup);
        snprintf(h->text, sizeof(h->text), "%s", text);
        return;
    }
    write_line(ps, whatsup, text);
}

void policy_log_flush(struct policy_session *ps)
{
    for (unsigned i = 0; i < ps->nlog; i++)
        write_line(ps, ps->log[i].whatsup, ps->log[i].text);
    ps->nlog = 0;
}
