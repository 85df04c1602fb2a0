/*
 * format_probe.c - received_format() and the maillog_* builders from the
 * command line, for tests/peer/postfix_format.py, which compares their
 * output with what a real Postfix 3.7 wrote for the same inputs.
 *
 *   format_probe received HELO NAME ADDR PROTO QID RCPT NRCPT EPOCH
 *                [TLSPROTO CIPHER USEBITS ALGBITS KEX KEXCURVE KEXBITS
 *                 SSIG SSIGCURVE SSIGBITS SDGST]
 *   format_probe connect NAME ADDR
 *   format_probe disconnect NAME ADDR CMD=OK/TOTAL...
 *   format_probe reject QID ACTION WHERE NAME ADDR HELO PROTO TEXT SENDER RCPT
 *   format_probe client QID NAME ADDR
 *   format_probe msgid QID VALUE
 *   format_probe active QID SENDER SIZE NRCPT
 *   format_probe delivery QID RCPT HOST ADDR PORT CONN_USE DELAY D1 D2 D3 D4 DSN STATUS REPLY
 *   format_probe content QID ACTION CLASS CONTENT NAME ADDR HELO PROTO SENDER RCPT TEXT
 *   format_probe lost WHAT WHERE BYTES NAME ADDR
 *
 * "-" stands for NULL; delays are in microseconds. Prints the result and a
 * newline; exits 1 when the builder fails, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maillog.h"
#include "received.h"

static const char *arg(char **argv, int i)
{
    return strcmp(argv[i], "-") == 0 ? NULL : argv[i];
}

static int need(int argc, int n)
{
    if (argc < n) {
        fprintf(stderr, "format_probe: need %d arguments\n", n - 2);
        exit(2);
    }
    return 0;
}

static int do_received(int argc, char **argv, char *buf, size_t size)
{
    struct received_tls tls = {0};
    struct received_info ri = {0};

    need(argc, 10);
    ri.helo = arg(argv, 2);
    ri.name = arg(argv, 3);
    ri.addr = arg(argv, 4);
    ri.protocol = arg(argv, 5);
    ri.queue_id = arg(argv, 6);
    ri.recipient = arg(argv, 7);
    ri.rcpt_count = (unsigned)atoi(argv[8]);
    ri.arrival = (time_t)atoll(argv[9]);
    ri.myhostname = getenv("PROBE_MYHOSTNAME") ? getenv("PROBE_MYHOSTNAME") : "mx.test";
    ri.mail_name = "Postfix";
    if (argc >= 21) {
        tls.protocol = arg(argv, 10);
        tls.cipher_name = arg(argv, 11);
        tls.cipher_usebits = atoi(argv[12]);
        tls.cipher_algbits = atoi(argv[13]);
        tls.kex_name = arg(argv, 14);
        tls.kex_curve = arg(argv, 15);
        tls.kex_bits = atoi(argv[16]);
        tls.srvr_sig_name = arg(argv, 17);
        tls.srvr_sig_curve = arg(argv, 18);
        tls.srvr_sig_bits = atoi(argv[19]);
        tls.srvr_sig_dgst = arg(argv, 20);
        ri.tls = &tls;
    }
    return received_format(&ri, "\r\n", buf, size, NULL);
}

static int do_disconnect(int argc, char **argv, char *buf, size_t size)
{
    static const char *const names[MAILLOG_NCMDS] = {
        "helo", "ehlo", "xclient", "xforward", "starttls", "auth", "mail", "rcpt",
        "data", "bdat", "rset", "noop", "vrfy", "etrn", "quit", "unknown",
    };
    struct maillog_cmd_stats st = {{0}, {0}};
    struct maillog_client c = {arg(argv, 2), arg(argv, 3), NULL, NULL};

    for (int i = 4; i < argc; i++) {
        char name[32];
        unsigned ok, total;
        int k;
        if (sscanf(argv[i], "%31[a-z]=%u/%u", name, &ok, &total) != 3)
            return 2;
        for (k = 0; k < MAILLOG_NCMDS && strcmp(names[k], name) != 0; k++)
            ;
        if (k == MAILLOG_NCMDS)
            return 2;
        st.ok[k] = ok;
        st.total[k] = total;
    }
    return maillog_disconnect(buf, size, &c, &st);
}

int main(int argc, char **argv)
{
    static char buf[65536];
    int r;

    if (argc < 2)
        return 2;
    const char *what = argv[1];
    if (strcmp(what, "received") == 0) {
        r = do_received(argc, argv, buf, sizeof(buf));
    } else if (strcmp(what, "connect") == 0 && !need(argc, 4)) {
        struct maillog_client c = {arg(argv, 2), arg(argv, 3), NULL, NULL};
        r = maillog_connect(buf, sizeof(buf), &c);
    } else if (strcmp(what, "disconnect") == 0 && !need(argc, 4)) {
        r = do_disconnect(argc, argv, buf, sizeof(buf));
    } else if (strcmp(what, "reject") == 0 && !need(argc, 12)) {
        struct maillog_client c = {arg(argv, 5), arg(argv, 6), arg(argv, 7), arg(argv, 8)};
        r = maillog_reject(buf, sizeof(buf), arg(argv, 2), argv[3], argv[4], &c, argv[9],
                           arg(argv, 10), arg(argv, 11));
    } else if (strcmp(what, "client") == 0 && !need(argc, 5)) {
        struct maillog_client c = {arg(argv, 3), arg(argv, 4), NULL, NULL};
        r = maillog_client(buf, sizeof(buf), argv[2], &c);
    } else if (strcmp(what, "msgid") == 0 && !need(argc, 4)) {
        r = maillog_message_id(buf, sizeof(buf), argv[2], argv[3]);
    } else if (strcmp(what, "active") == 0 && !need(argc, 6)) {
        r = maillog_queue_active(buf, sizeof(buf), argv[2], argv[3],
                                 strtoull(argv[4], NULL, 10), (unsigned)atoi(argv[5]));
    } else if (strcmp(what, "delivery") == 0 && !need(argc, 16)) {
        struct maillog_delivery d = {
            .queue_id = argv[2], .recipient = argv[3], .relay_host = arg(argv, 4),
            .relay_addr = arg(argv, 5), .relay_port = (unsigned)atoi(argv[6]),
            .conn_use = (unsigned)atoi(argv[7]), .delay_us = strtoull(argv[8], NULL, 10),
            .dsn = argv[13], .status = argv[14], .reply = arg(argv, 15),
        };
        for (int i = 0; i < 4; i++)
            d.delays_us[i] = strtoull(argv[9 + i], NULL, 10);
        r = maillog_delivery(buf, sizeof(buf), &d);
    } else if (strcmp(what, "content") == 0 && !need(argc, 13)) {
        struct maillog_client c = {arg(argv, 6), arg(argv, 7), arg(argv, 8), arg(argv, 9)};
        r = maillog_content_action(buf, sizeof(buf), argv[2], argv[3], argv[4], argv[5], &c,
                                   arg(argv, 10), arg(argv, 11), arg(argv, 12));
    } else if (strcmp(what, "lost") == 0 && !need(argc, 7)) {
        struct maillog_client c = {arg(argv, 5), arg(argv, 6), NULL, NULL};
        r = maillog_lost(buf, sizeof(buf), argv[2], argv[3], atoll(argv[4]), &c);
    } else {
        fprintf(stderr, "format_probe: unknown form %s\n", what);
        return 2;
    }
    if (r != 0) {
        fprintf(stderr, "format_probe: %s: error %d\n", what, r);
        return 1;
    }
    fputs(buf, stdout);
    fputc('\n', stdout);
    return 0;
}
