/*
 * fe_deep_helo.c - THE HELO POINT of the deep protocol tests (fe_deep.c's
 * header tells the whole story): the one place where the frontend knows
 * the HELO/EHLO argument before it answers. The HELO restrictions are
 * pre-evaluated here (fe_early_helo), a reject with smtpd_delay_reject =
 * no is answered and logged as smtpd's helo_cmd() does, and a reject due
 * at RCPT hands the session to the enforce engine in smtpd mode.
 *
 * Failure: nothing allocates; what the frontend cannot decide goes to a
 * worker unanswered (FE_DEEP_HELO_HANDOFF).
 */
#include "fe_deep_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "fe_early.h"
#include "log.h"
#include "maillog.h"

/* smtpd_check_helo()'s reject with smtpd_delay_reject = no, logged by
 * log_whatsup() with the new name as helo=<> (SMTPD_CHECK_PUSH) and the
 * protocol of the session so far (helo_cmd() sets it after the check). */
static void helo_reject_log(const struct fe_conn *c, const char *name, const char *reply,
                            size_t len)
{
    const struct fe_deep_state *s = c->deep;
    char host[DNS_NAME_MAX + 1], addr[INET6_ADDRSTRLEN], text[RESTRICT_REPLY_MAX + 1];
    char helo[DEEP_HELO_MAX + 1], line[1400];
    fe_early_namaddr(c, host, sizeof(host), addr, sizeof(addr));
    snprintf(text, sizeof(text), "%.*s", (int)(len >= 2 ? len - 2 : 0), reply);
    snprintf(helo, sizeof(helo), "%s", name);
    for (char *p = helo; *p; p++) /* printable(name, '?') */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    struct maillog_client mc = {
        .name = host,
        .addr = addr,
        .helo = helo,
        .proto = s->helo_cmd == HANDOFF_HELO_EHLO ? "ESMTP" : "SMTP",
    };
    if (maillog_reject(line, sizeof(line), "NOQUEUE", "reject",
                       s->where, &mc, text, NULL, NULL) >= 0)
        log_msg_as("mxscreen/smtpd", LOG_LVL_INFO, "%s", line); /* smtpd's line, smtpd's name */
}

/*
 * THE HELO POINT (see the file header): the client sent HELO/EHLO with
 * argument arg[0..len), which the worker's parser accepts.
 */
enum fe_deep_helo_res fe_deep_helo_known(struct fe *fe, struct fe_conn *c, bool ehlo,
                                         const char *arg, size_t len, const char **rej,
                                         size_t *rej_len)
{
    const struct fe_deep_conf *d = fe->conf->deep;
    struct fe_deep_state *s = c->deep;
    if (d->helo_handoff)
        return FE_DEEP_HELO_HANDOFF;
    char name[DEEP_HELO_MAX + 1];
    memcpy(name, arg, len);
    name[len] = '\0';
    const char *reply;
    size_t rlen;
    if (d->helo_now) {
        /* smtpd_delay_reject = no: smtpd's helo_cmd() judges the name
         * before it takes it; a reject keeps the name in force (none, or
         * the last one accepted) and counts an error. */
        switch (fe_early_helo(fe, c, name, ehlo, &reply, &rlen)) {
        case FE_EARLY_HANDOFF: return FE_DEEP_HELO_HANDOFF;
        case FE_EARLY_REJECT:
            helo_reject_log(c, name, reply, rlen);
            *rej = reply;
            *rej_len = rlen;
            return FE_DEEP_HELO_REJECT;
        case FE_EARLY_CLEAN: break;
        }
    }
    memcpy(s->helo, name, len + 1);
    s->helo_cmd = ehlo ? HANDOFF_HELO_EHLO : HANDOFF_HELO_HELO;
    if (d->helo_now)
        return FE_DEEP_HELO_ANSWER;
    /* smtpd_delay_reject = yes: smtpd answers the HELO and gives the HELO
     * restrictions' reject at RCPT. A later HELO/EHLO replaces the name,
     * so it is judged again. */
    s->helo_rej = NULL;
    s->helo_rej_len = 0;
    if (fe_early_helo(fe, c, s->helo, ehlo, &reply, &rlen) == FE_EARLY_REJECT) {
        s->helo_rej = reply;
        s->helo_rej_len = (uint16_t)rlen;
    }
    return FE_DEEP_HELO_ANSWER;
}

/* The client starts a transaction with a HELO the restrictions reject:
 * smtpd's session from here on is the enforce engine's in smtpd mode
 * (every RCPT rejected and logged as smtpd logs it). */
void fe_deep_helo_enforce(struct fe *fe, struct fe_conn *c, size_t off)
{
    struct fe_deep_state *s = c->deep;
    timer_wheel_cancel(&fe->tw, &c->timer);
    c->flags |= FE_F_NOFORWARD | FE_F_SMTPD;
    c->final = s->helo_rej;
    c->final_len = s->helo_rej_len;
    fe_dummy_continue(fe, c, s->helo, s->helo_cmd == HANDOFF_HELO_EHLO, s->buf + off,
                      s->have - off);
}
