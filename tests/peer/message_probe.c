/*
 * message_probe.c - run one message through workers/message (the content
 * pipeline) for tests/peer/message_peer.py.
 *
 * Usage: message_probe MODE HEADER_CHECKS NESTED_CHECKS BODY_CHECKS
 *                      BODY_LIMIT SIZE_LIMIT QUEUE_ID SENDER RCPT HELO < DATA
 * MODE is a smtpd_forbid_bare_newline value; a checks argument is a
 * "type:name" table or "-" for none (mime_header_checks uses
 * HEADER_CHECKS, as Postfix's default $header_checks). DATA is what the
 * client sent after the 354 reply.
 * Output: "FATE n reply" (n = enum message_fate), "HOLD 0|1", "USED n"
 * (bytes of DATA taken), "LOG line" per log line, then "OUT n" and the n
 * bytes for the next hop. Exit 0, or 2 on a usage or setup error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maps.h"
#include "message.h"

static char out_buf[1 << 22];
static size_t out_len;

static void out(void *ctx, const char *p, size_t n)
{
    (void)ctx;
    if (out_len + n <= sizeof(out_buf)) {
        memcpy(out_buf + out_len, p, n);
        out_len += n;
    }
}

static void logline(void *ctx, enum message_log_level lvl, const char *line)
{
    (void)ctx;
    printf("LOG %s%s\n", lvl == MESSAGE_LOG_INFO ? "" : "warning: ", line);
}

static struct map *open_table(const char *ref)
{
    struct map *m = NULL;
    struct map_err err;
    if (strcmp(ref, "-") == 0)
        return NULL;
    if (map_open(ref, 0, &m, &err) < 0) {
        fprintf(stderr, "message_probe: %s: %s\n", ref, err.msg);
        exit(2);
    }
    return m;
}

int main(int argc, char **argv)
{
    static char in[1 << 22];
    size_t len, used = 0;
    struct message_opts o = {0};
    struct message_env env = {0};
    struct message_verdict v;
    struct message *m;
    struct maillog_client client = {"localhost", "127.0.0.1", NULL, "ESMTP"};

    if (argc != 11) {
        fprintf(stderr, "usage: message_probe MODE HDR NESTED BODY BODY_LIMIT SIZE_LIMIT QID "
                        "SENDER RCPT HELO < DATA\n");
        return 2;
    }
    if (data_bare_lf_parse(argv[1], strlen(argv[1]), &o.frame.bare_lf) < 0)
        return 2;
    mime_limits_default(&o.mime);
    o.mime.body_checks_size_limit = strtoull(argv[5], NULL, 10);
    o.frame.line_length_limit = o.mime.line_length_limit;
    o.frame.message_size_limit = strtoull(argv[6], NULL, 10);
    o.checks.header = open_table(argv[2]);
    o.checks.mime_header = o.checks.header;
    o.checks.nested_header = open_table(argv[3]);
    o.checks.body = open_table(argv[4]);
    o.myhostname = "mx.test";
    o.bare_lf_reject_code = 550;
    o.out = out;
    o.log = logline;
    client.helo = argv[10];
    env.queue_id = argv[7];
    env.client = &client;
    env.sender = argv[8];
    env.recipient = argv[9];
    len = fread(in, 1, sizeof(in), stdin);
    int rc = 0;
    m = NULL;
    if (message_create(&o, &m) < 0 || message_begin(m, &env) < 0) {
        rc = 2;
    } else if (message_feed(m, in, len, &used) != DATA_FRAME_END) {
        printf("FATE -1 incomplete\n");
    } else {
        message_finish(m, &v);
        printf("FATE %d %s\nHOLD %d\nUSED %zu\nOUT %zu\n", (int)v.fate, v.reply, v.hold,
               used, out_len);
        fwrite(out_buf, 1, out_len, stdout);
    }
    if (m)
        message_free(m);
    /* The tables outlive the message; LeakSanitizer checks this program. */
    map_close(o.checks.header);
    map_close(o.checks.nested_header);
    map_close(o.checks.body);
    return rc;
}
