/*
 * fuzz_dummy_smtpd.c - the enforce engine's smtpd mode over arbitrary
 * input: the first byte picks the switches (denied, HELO required, VRFY
 * off, strict, SMTPUTF8, TLS offered, DSN and CHUNKING discarded for this
 * client, and whether RCPT TO:<postmaster> is handed to a worker or
 * rejected), the rest is split at LF into command lines fed to one
 * session. Every reply must be a complete "DDD ..." line without CR/LF;
 * the disconnect-line counters never count more successes than tries, and
 * a handoff leaves the MAIL and that RCPT to the worker (one fewer of
 * each).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dummy_cmd.h"
#include "ehlo_reply.h"
#include "smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sw = data[0];
    struct dummy_smtpd_conf cf = {.myhostname = "mx.example", .message_size_limit = 1000,
                                  .soft_limit = 10, .hard_limit = 20, .junk_limit = 5,
                                  .helo_required = sw & 2, .disable_vrfy = sw & 4,
                                  .strict = sw & 8, .smtputf8 = sw & 16, .tls_offered = sw & 32};
    struct dummy_smtpd st = {.denied = sw & 1,
                             .ehlo_discard = (sw & 64) ? EHLO_KW_DSN | EHLO_KW_CHUNKING : 0};
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    char *scratch = malloc(SMTP_SCRATCH_NEED(size));
    if (!scratch)
        return 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct dummy_smtpd_out o;
        dummy_smtpd_command(&st, &cf, "n[1.2.3.4]", p, len, scratch, SMTP_SCRATCH_NEED(size), &o);
        if (o.what == DUMMY_DO_SAY || o.what == DUMMY_DO_CLOSE) {
            size_t n = strlen(o.text);
            if (n < 3 || o.text[0] < '2' || o.text[0] > '5' || memchr(o.text, '\n', n) ||
                memchr(o.text, '\r', n))
                abort();
        }
        if ((o.what == DUMMY_DO_HELO || o.what == DUMMY_DO_REJECT) && o.arg_len > len)
            abort();
        if (o.what == DUMMY_DO_REJECT || (o.what == DUMMY_DO_POSTMASTER && !(sw & 128)))
            dummy_smtpd_rejected(&st);
        for (int i = 0; i < MAILLOG_NCMDS; i++)
            if (st.counts.ok[i] > st.counts.total[i])
                abort();
        if (o.what == DUMMY_DO_POSTMASTER && (sw & 128)) {
            /* A MAIL was taken (RCPT needs one) and this RCPT tried. */
            struct maillog_cmd_stats before = st.counts;
            if (!before.ok[MAILLOG_MAIL] || !before.total[MAILLOG_RCPT])
                abort();
            dummy_smtpd_handed_off(&st);
            if (st.counts.ok[MAILLOG_MAIL] != before.ok[MAILLOG_MAIL] - 1 ||
                st.counts.total[MAILLOG_MAIL] != before.total[MAILLOG_MAIL] - 1 ||
                st.counts.total[MAILLOG_RCPT] != before.total[MAILLOG_RCPT] - 1)
                abort();
            break; /* the worker has the session */
        }
        if (o.what == DUMMY_DO_CLOSE)
            break;
        p += len + 1;
    }
    free(scratch);
    return 0;
}
