/* fuzz_smtp_reply.c - any bytes as next-hop replies: the parser fed whole
 * and split, the Postfix-style copy, EHLO capabilities, and the client
 * state machine driven through a whole transaction by the same bytes. */
#include <stdint.h>
#include <string.h>

#include "smtp_client.h"
#include "smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct smtp_reply a, b;
    const char *why;
    smtp_reply_reset(&a);
    enum smtp_reply_result ra = smtp_reply_parse(buf, size, &a, &why);
    /* Byte by byte must agree with whole. */
    smtp_reply_reset(&b);
    enum smtp_reply_result rb = SMTP_REPLY_NEED_MORE;
    for (size_t k = 0; k <= size && rb == SMTP_REPLY_NEED_MORE; k++)
        rb = smtp_reply_parse(buf, k, &b, &why);
    if (ra != rb)
        __builtin_trap();
    if (ra == SMTP_REPLY_OK) {
        if (a.len != b.len || a.code != b.code || a.nlines != b.nlines || a.len > size ||
            a.code < 200 || a.code > 559 || a.text_off + a.text_len > a.len ||
            a.nlines > SMTP_REPLY_LINES_MAX || strcmp(a.dsn, b.dsn) != 0)
            __builtin_trap();
        char copy[SMTP_REPLY_COPY_MAX];
        size_t n = smtp_reply_copy(buf, a.len, copy);
        if (n >= sizeof(copy) || strlen(copy) != n)
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if ((copy[i] < 0x20 || copy[i] > 0x7e) && copy[i] != '\r' && copy[i] != '\n')
                __builtin_trap();
        struct smtp_ehlo e;
        smtp_ehlo_parse(buf, a.len, &e);
    }

    /* The client: the input is everything the server says. */
    static struct smtp_client c;
    struct smtp_client_opts o = {.helo_name = "fuzz", .starttls = size & 1};
    smtp_client_init(&c, &o);
    smtp_client_connected(&c);
    smtp_client_mail(&c, "a@b", 3, 10, SMTP_BODY_8BITMIME, 1);
    smtp_client_rcpt(&c, "c@d", 3);
    smtp_client_rcpt(&c, "e@f", 3);
    smtp_client_data(&c);
    unsigned replies = 0;
    size_t off = 0;
    for (int round = 0; round < 65; round++) {
        const char *p;
        size_t n = smtp_client_output(&c, &p);
        smtp_client_output_done(&c, n);
        if (off < size) {
            size_t step = (size - off) > 7 ? 7 : size - off;
            off += smtp_client_feed(&c, buf + off, step);
        } else {
            smtp_client_input_eof(&c);
        }
        if (round == 64) /* the last round always ends the stream */
            smtp_client_input_eof(&c);
        struct smtp_client_event ev;
        while (smtp_client_event(&c, &ev)) {
            if (ev.type == SMTP_EV_REPLY) {
                replies++;
                /* Never an ok without the next hop's own reply. */
                if (ev.ok && ev.fake)
                    __builtin_trap();
                if (ev.fake && strcmp(ev.reply, SMTP_CLIENT_FAKE_REPLY) != 0)
                    __builtin_trap();
                if (ev.cmd == SMTP_CMD_DATA && ev.ok) {
                    smtp_client_body(&c, ".x\r\n", 4);
                    smtp_client_body_end(&c);
                }
            } else if (ev.type == SMTP_EV_STARTTLS) {
                smtp_client_tls_done(&c);
            }
        }
        smtp_client_timer(&c);
    }
    /* After EOF every command got exactly one reply. */
    if (replies > 5) /* MAIL, 2 RCPT, DATA, the dot */
        __builtin_trap();
    if (c.head != c.tail && c.state != SMTP_CLIENT_TLS)
        __builtin_trap();
    return 0;
}
