/* fuzz_dsn.c - outside text into a delivery status notification.
 *
 * Input: one flags byte, then NUL-separated fields: reason, diagnostic
 * text, remote MTA name, recipient address, ORCPT, sender, original
 * content (the rest). The reply text, names and addresses come from remote
 * servers and clients; whatever they hold, the report must stay
 * well-formed: CRLF line ends everywhere before the returned original, the
 * boundary delimiting exactly three parts, the close delimiter last. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *field(const uint8_t **p, const uint8_t *end, char **own)
{
    const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
    size_t n = nul ? (size_t)(nul - *p) : (size_t)(end - *p);
    *own = malloc(n + 1);
    memcpy(*own, *p, n);
    (*own)[n] = '\0';
    *p += nul ? n + 1 : n;
    return *own;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    char *own[6];
    struct dsn_rcpt r = {0};
    r.reason = field(&p, end, &own[0]);
    r.diag_text = field(&p, end, &own[1]);
    r.mta_name = field(&p, end, &own[2]);
    r.address = field(&p, end, &own[3]);
    r.orcpt = field(&p, end, &own[4]);
    const char *sender = field(&p, end, &own[5]);
    r.status = (flags & 1) ? "4.4.1" : "5.1.1";
    r.mta_type = "dns";
    r.diag_type = (flags & 2) ? "smtp" : NULL;

    struct dsn_message m = {
        .kind = (flags & 1) ? DSN_DELAY : DSN_FAILURE,
        .queue_id = "4ZxY1r2abc",
        .sender = sender,
        .arrival = 1700000000,
        .now = 1700003600,
        .dsn_queue_id = (flags & 4) ? "4ZxY1r2def" : NULL,
        .encoding = (enum dsn_encoding)((flags >> 3) % 3),
        .smtputf8 = (flags & 32) != 0,
        .ret = (flags & 64) ? DSN_RET_HDRS : DSN_RET_DEFAULT,
        .rcpt = &r,
        .nrcpt = 1,
        .content = (const char *)p,
        .content_size = (size_t)(end - p),
    };
    struct dsn_params prm = {
        .myhostname = "mx.example.test",
        .mail_name = "mxscreen",
        .bounce_size_limit = 200,
        .maximal_queue_lifetime = 5 * 86400,
        .delay_warning_time = 4 * 3600,
        .smtputf8_enable = (flags & 128) != 0,
    };
    struct strbuf out;
    strbuf_init(&out);
    int rc = dsn_build(&m, &prm, &out);
    if (rc < 0 || (rc == 0) != (sender[0] == '\0'))
        __builtin_trap();
    if (rc == 1) {
        /* The parameter line of Content-Type (a sender may hold the
         * same text in To:). */
        const char *b = strstr(out.buf, "\r\n\tboundary=\"");
        if (!b)
            __builtin_trap();
        b += 13;
        const char *q = strchr(b, '"');
        char delim[700];
        int dl = snprintf(delim, sizeof(delim), "\r\n--%.*s\r\n", (int)(q - b), b);
        const char *s = out.buf, *third = NULL;
        int n = 0;
        while ((s = memmem(s, out.len - (size_t)(s - out.buf), delim, (size_t)dl)) != NULL) {
            third = s;
            n++;
            s++;
        }
        if (n != 3)
            __builtin_trap();
        for (const char *c = out.buf; c < third; c++) {
            if (*c == '\n' && (c == out.buf || c[-1] != '\r'))
                __builtin_trap();
            if (*c == '\r' && c[1] != '\n')
                __builtin_trap();
        }
        char close[700];
        int cl = snprintf(close, sizeof(close), "\r\n--%.*s--\r\n", (int)(q - b), b);
        if (out.len < (size_t)cl || memcmp(out.buf + out.len - cl, close, (size_t)cl) != 0)
            __builtin_trap();
    }
    strbuf_free(&out);
    for (int i = 0; i < 6; i++)
        free(own[i]);
    return 0;
}
