/*
 * smtp_client_drive.c - drive workers/smtp_client over a real TCP
 * connection, for tests/integration/client_peer.py.
 *
 *   smtp_client_drive [-P] [-x] [-t MS] [-n N] [-f FROM] [-b BODYFILE]
 *                     [-c CHUNK] HOST PORT RCPT...
 *
 * Sends N messages (default 1) from FROM to every RCPT over one connection,
 * each with the content of BODYFILE (dot-unstuffed, as our server side
 * would stream it), fed to smtp_client_body() CHUNK bytes at a time, then
 * QUIT. -P: never pipeline; -x: proxy mode (smtpd_proxy_timeout). One line
 * per event on stdout ("READY", "REPLY MAIL 250 ok fake=0 |text", "DOWN
 * why|stage", "TIMEOUT param", "CLOSED"). The glue blocks (poll with a
 * timeout of MS per wait); the library under test never does.
 * Exit 0 when the session ran to its end (whatever the replies), 1 on a
 * usage or socket error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp_client.h"

static const char *cmd_name(enum smtp_client_cmd c)
{
    static const char *n[] = {"NONE", "MAIL", "RCPT", "DATA", "DOT", "RSET", "NOOP", "QUIT"};
    return n[c];
}

static void flush_out(struct smtp_client *c, int fd)
{
    const char *p;
    size_t n;
    while ((n = smtp_client_output(c, &p)) > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            smtp_client_io_error(c);
            return;
        }
        smtp_client_output_done(c, (size_t)w);
    }
}

static void start_message(struct smtp_client *c, const char *from, char **rcpts, int nrcpt,
                          size_t body_len)
{
    smtp_client_mail(c, from, strlen(from), body_len, SMTP_BODY_8BITMIME, 0);
    for (int i = 0; i < nrcpt; i++)
        smtp_client_rcpt(c, rcpts[i], strlen(rcpts[i]));
    smtp_client_data(c);
}

int main(int argc, char **argv)
{
    int opt, timeout_ms = 5000, count = 1;
    size_t chunk = 65536;
    const char *from = "sender@example.org", *bodyfile = NULL;
    struct smtp_client_opts o = {.helo_name = "client.test"};
    while ((opt = getopt(argc, argv, "Pxt:n:f:b:c:")) != -1) {
        switch (opt) {
        case 'P':
            o.no_pipelining = 1;
            break;
        case 'x':
            o.proxy = 1;
            break;
        case 't':
            timeout_ms = atoi(optarg);
            break;
        case 'n':
            count = atoi(optarg);
            break;
        case 'f':
            from = optarg;
            break;
        case 'b':
            bodyfile = optarg;
            break;
        case 'c':
            chunk = (size_t)atol(optarg);
            break;
        default:
            return 1;
        }
    }
    if (argc - optind < 3 || chunk == 0)
        return 1;
    static char body[1 << 20];
    size_t body_len = 0;
    if (bodyfile) {
        FILE *f = fopen(bodyfile, "rb");
        if (!f)
            return 1;
        body_len = fread(body, 1, sizeof(body), f);
        fclose(f);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[optind + 1]))};
    inet_pton(AF_INET, argv[optind], &sa.sin_addr);
    char **rcpts = argv + optind + 2;
    int nrcpt = argc - optind - 2;

    static struct smtp_client c;
    smtp_client_init(&c, &o);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        printf("CONNECT-ERROR %s\n", strerror(errno));
        smtp_client_connect_failed(&c);
    } else {
        smtp_client_connected(&c);
    }
    int sent = 0, done = 0;
    while (!done) {
        struct smtp_client_event ev;
        while (smtp_client_event(&c, &ev)) {
            switch (ev.type) {
            case SMTP_EV_READY:
                printf("READY ext=%x\n", smtp_client_ehlo(&c)->ext);
                if (count > 0) {
                    start_message(&c, from, rcpts, nrcpt, body_len);
                    sent++;
                } else {
                    smtp_client_quit(&c);
                }
                break;
            case SMTP_EV_REPLY:
                printf("REPLY %s %d %s fake=%d |%s\n", cmd_name(ev.cmd), ev.code,
                       ev.ok ? "ok" : "no", ev.fake, ev.reply);
                if (ev.cmd == SMTP_CMD_DATA && ev.ok) {
                    size_t off = 0;
                    while (off < body_len) {
                        size_t want = body_len - off < chunk ? body_len - off : chunk;
                        size_t k = smtp_client_body(&c, body + off, want);
                        if (k == 0)
                            flush_out(&c, fd);
                        off += k;
                    }
                    while (smtp_client_body_end(&c) == -EAGAIN)
                        flush_out(&c, fd);
                }
                /* The transaction is over after the dot, or when DATA was
                 * refused; then the next message or QUIT. */
                if ((ev.cmd == SMTP_CMD_DOT || (ev.cmd == SMTP_CMD_DATA && !ev.ok)) &&
                    smtp_client_usable(&c)) {
                    if (sent < count) {
                        start_message(&c, from, rcpts, nrcpt, body_len);
                        sent++;
                    } else {
                        smtp_client_quit(&c);
                    }
                }
                break;
            case SMTP_EV_DOWN:
                printf("DOWN %s|%s|%s\n", ev.why, smtp_client_stage(&c), ev.reply);
                break;
            case SMTP_EV_CLOSED:
                printf("CLOSED\n");
                break;
            case SMTP_EV_STARTTLS:
            case SMTP_EV_NONE:
                break;
            }
        }
        if (c.state == SMTP_CLIENT_FAILED || c.state == SMTP_CLIENT_CLOSED) {
            if (c.head == c.tail)
                done = 1;
            continue;
        }
        flush_out(&c, fd);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, timeout_ms);
        if (r == 0) {
            printf("TIMEOUT %s\n", smtp_timer_name(smtp_client_timer(&c)));
            smtp_client_timed_out(&c);
            continue;
        }
        char *in;
        size_t room = smtp_client_input_space(&c, &in);
        ssize_t n = recv(fd, in, room, 0);
        if (n < 0)
            smtp_client_io_error(&c);
        else if (n == 0)
            smtp_client_input_eof(&c);
        else
            smtp_client_input_done(&c, (size_t)n);
    }
    printf("END ntxn=%u\n", c.ntxn);
    close(fd);
    return 0;
}
