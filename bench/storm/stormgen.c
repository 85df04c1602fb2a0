/*
 * stormgen.c - an io_uring SMTP load generator for bench/storm: good senders
 * and bots at once, in one thread and one ring.
 *
 *   bots   N connections from B source addresses (127.x.y.z, bound before
 *          connect with IP_BIND_ADDRESS_NO_PORT so that the port is chosen
 *          per 4-tuple and each address has the whole ephemeral range).
 *          Three kinds, mixed by --pregreet and --slow (percent):
 *            silent    connect, then wait: a poll for POLLRDHUP tells when
 *                      the server closes; what it sends is never read (a
 *                      tarpit's drip stays in the socket buffer: no wakeup
 *                      per dripped byte);
 *            pregreet  send "EHLO bot.example" before the banner, then wait;
 *            slow      send "EHLO slow.example\r\n" one byte every
 *                      --slow-interval seconds.
 *          At most --window connects are in flight, so that a listen
 *          backlog never overflows into SYN retries.
 *   good   M sessions from G source addresses, each in a loop: connect,
 *          banner (a multi-line 220 is read whole), EHLO, MAIL, RCPT,
 *          DATA, a 1 KB message, QUIT; the latency of a message is connect
 *          to the 250 after the final dot. A reply other than the expected
 *          class, a close or no reply in --timeout seconds counts as an
 *          error and the session starts over.
 *
 * Timeline: connect the bots (bounded by --ramp seconds); wait --settle
 * seconds; print "ready ..." (the runner reads the server's memory then);
 * run the good clients for --duration seconds (or until they sent
 * --messages); count the bots still open ("held"); print "result ...".
 * Both lines are key=value, for bench/storm/run.
 *
 * Several processes: one process may not hold more sockets than its
 * RLIMIT_NOFILE (20,000 on the machine this was written on, and not
 * raisable there), so the runner splits the bots over K processes started
 * with --hold 1 and --good 0, and runs the good clients in one more process
 * with --bots 0. With --hold 1 the process does not stop after the good
 * phase (skipped when --good is 0): it keeps its bots (slow talkers keep
 * dripping, closes are still counted) until a line or EOF arrives on its
 * standard input, or --hold-max seconds pass, and only then counts "held"
 * and prints "result": so every generator counts its bots at the moment
 * the good load has ended, and a runner that dies (EOF) frees them.
 *
 * Usage: stormgen --server 127.0.0.1:PORT [--bots N] [--bot-src 127.1.0.1]
 *        [--bot-addrs B] [--good M] [--good-src 127.0.0.1] [--good-addrs G]
 *        [--pregreet P] [--slow S] [--slow-interval SEC] [--window W]
 *        [--ramp SEC] [--settle SEC] [--duration SEC] [--messages K]
 *        [--timeout SEC] [--hold 0|1] [--hold-max SEC]
 * STORMGEN_TRACE=1 in the environment prints every completion of the
 * first good session on stderr (with a millisecond clock), to see where a
 * session waits.
 * Exit: 0 when it ran (the figures say how well), 2 on bad usage or when
 * the ring or the file limit cannot be set up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum op { OP_CONNECT = 1, OP_WATCH, OP_SEND, OP_RECV, OP_TICK, OP_CLOSE, OP_STDIN };
enum kind { K_SILENT, K_PREGREET, K_SLOW };
enum bstate { B_IDLE, B_CONNECTING, B_OPEN, B_CLOSED, B_FAILED };

/* A bot: a few bytes each, N of them. */
struct bot {
    int fd;
    uint8_t kind, state, slow_off, busy;
    uint32_t next_ms;      /* slow talker: when to send its next byte */
};

/* SMTP steps of a good session, and the reply each waits for. */
enum step { G_BANNER, G_EHLO, G_MAIL, G_RCPT, G_DATA, G_EOM, G_NSTEPS };

struct good {
    int fd;
    bool connecting;
    uint8_t step, gen;
    uint32_t src;          /* index into the good source addresses */
    uint64_t start_us, deadline_ms;
    const char *out;       /* what is being sent */
    size_t out_len, out_off;
    size_t in_len;
    char in[1024];
};

static const char SLOW_TEXT[] = "EHLO slow.example\r\n";
static const char PREGREET_TEXT[] = "EHLO bot.example\r\n";
static const char *const CMDS[G_NSTEPS] = {
    NULL, "EHLO good.example\r\n", "MAIL FROM:<sender@example.org>\r\n",
    "RCPT TO:<user@example.test>\r\n", "DATA\r\n", NULL /* the message */};
static const char WANT[G_NSTEPS] = {'2', '2', '2', '2', '3', '2'};

struct opts {
    struct sockaddr_in server;
    unsigned bots, bot_addrs, good, good_addrs, pregreet, slow, window;
    struct in_addr bot_src, good_src;
    double slow_interval, ramp, settle, duration, timeout, hold_max;
    unsigned long messages;
    bool hold;
};

struct gen {
    struct opts o;
    struct io_uring ring;
    struct bot *bots;
    struct good *goods;
    char *message;
    size_t message_len;
    unsigned next_bot, connecting, open_bots, bot_closed, bot_fail;
    int first_errno;
    bool good_phase, stopping, released;
    uint64_t good_start_us;
    uint32_t *lat;
    size_t nlat, caplat;
    unsigned long good_errors, good_timeouts, good_closed;
    char last_error[160];
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* user_data: op in the low 8 bits, 0 = bot / 1 = good in bit 8, the good
 * session's generation in bits 9..16 (a completion of a session given up
 * must not touch the next one on the same slot), the index above. */
static uint64_t ud_gen(enum op op, bool good, uint8_t gen, uint32_t i)
{
    return (uint64_t)op | (good ? 0x100u : 0u) | ((uint64_t)gen << 9) | ((uint64_t)i << 17);
}

static uint64_t ud(enum op op, bool good, uint32_t i)
{
    return ud_gen(op, good, 0, i);
}

static struct io_uring_sqe *sqe_get(struct gen *g)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&g->ring);
    while (!sqe) {
        io_uring_submit(&g->ring);
        sqe = io_uring_get_sqe(&g->ring);
    }
    return sqe;
}

static void note_errno(struct gen *g, int e)
{
    if (!g->first_errno)
        g->first_errno = e;
}

static int make_socket(struct gen *g, struct in_addr src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        note_errno(g, errno);
        return -1;
    }
    int one = 1;
    /* The port is picked at connect time, per 4-tuple: each source address
     * can use the whole ephemeral range towards the one server port. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = src};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        note_errno(g, errno);
        close(fd);
        return -1;
    }
    return fd;
}

static struct in_addr addr_plus(struct in_addr base, uint32_t k)
{
    struct in_addr a = {.s_addr = htonl(ntohl(base.s_addr) + k)};
    return a;
}

/* ------------------------------------------------------------------ bots */

static void bot_connect(struct gen *g, uint32_t i)
{
    struct bot *b = &g->bots[i];
    b->fd = make_socket(g, addr_plus(g->o.bot_src, i % g->o.bot_addrs));
    if (b->fd < 0) {
        b->state = B_FAILED;
        g->bot_fail++;
        return;
    }
    b->state = B_CONNECTING;
    g->connecting++;
    struct io_uring_sqe *sqe = sqe_get(g);
    io_uring_prep_connect(sqe, b->fd, (struct sockaddr *)&g->o.server, sizeof(g->o.server));
    io_uring_sqe_set_data64(sqe, ud(OP_CONNECT, false, i));
}

static void bot_send(struct gen *g, uint32_t i, const char *p, size_t n)
{
    struct io_uring_sqe *sqe = sqe_get(g);
    io_uring_prep_send(sqe, g->bots[i].fd, p, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud(OP_SEND, false, i));
    g->bots[i].busy++;
}

static void bot_event(struct gen *g, uint32_t i, enum op op, int res)
{
    struct bot *b = &g->bots[i];
    if (op == OP_SEND) {
        b->busy--;
        return; /* a failed send shows up as the watch firing */
    }
    if (op == OP_CONNECT) {
        g->connecting--;
        if (res < 0) {
            note_errno(g, -res);
            close(b->fd);
            b->fd = -1;
            b->state = B_FAILED;
            g->bot_fail++;
            return;
        }
        b->state = B_OPEN;
        g->open_bots++;
        struct io_uring_sqe *sqe = sqe_get(g);
        /* Only a close or an error wakes us; data is left unread. */
        io_uring_prep_poll_add(sqe, b->fd, POLLRDHUP);
        io_uring_sqe_set_data64(sqe, ud(OP_WATCH, false, i));
        if (b->kind == K_PREGREET)
            bot_send(g, i, PREGREET_TEXT, sizeof(PREGREET_TEXT) - 1);
        return;
    }
    if (op == OP_WATCH && b->state == B_OPEN) {
        /* POLLRDHUP/POLLHUP/POLLERR: the server let it go. */
        b->state = B_CLOSED;
        g->open_bots--;
        g->bot_closed++;
    }
}

/* Once a tick: start more connects up to the window, drip slow talkers. */
static void bots_tick(struct gen *g, uint32_t now_ms)
{
    while (!g->stopping && g->next_bot < g->o.bots && g->connecting < g->o.window)
        bot_connect(g, g->next_bot++);
    if (!g->o.slow)
        return;
    for (uint32_t i = 0; i < g->next_bot; i++) {
        struct bot *b = &g->bots[i];
        if (b->kind != K_SLOW || b->state != B_OPEN || b->busy || now_ms < b->next_ms)
            continue;
        if (b->slow_off < sizeof(SLOW_TEXT) - 1) {
            bot_send(g, i, SLOW_TEXT + b->slow_off, 1);
            b->slow_off++;
        }
        b->next_ms = now_ms + (uint32_t)(g->o.slow_interval * 1000);
    }
}

/* ------------------------------------------------------------------ good */

static void good_error(struct gen *g, struct good *c, const char *what)
{
    g->good_errors++;
    snprintf(g->last_error, sizeof(g->last_error), "%s", what);
    (void)c;
}

static void good_start(struct gen *g, uint32_t i);

/* Close (asynchronously, so no close blocks the loop); the next tick
 * starts over, so that a refusing server is not hammered in a tight loop. */
static void good_restart(struct gen *g, uint32_t i)
{
    struct good *c = &g->goods[i];
    if (c->fd >= 0) {
        /* Cancel whatever is pending on it; the close comes after. */
        struct io_uring_sqe *sqe = sqe_get(g);
        io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, 0);
        sqe->flags |= IOSQE_IO_HARDLINK; /* close even if this fails */
        sqe = sqe_get(g);
        io_uring_prep_close(sqe, c->fd);
        io_uring_sqe_set_data64(sqe, 0);
        c->fd = -1;
    }
    c->gen++;
}

static void good_send(struct gen *g, uint32_t i, const char *p, size_t n)
{
    struct good *c = &g->goods[i];
    c->out = p;
    c->out_len = n;
    c->out_off = 0;
    struct io_uring_sqe *sqe = sqe_get(g);
    io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud_gen(OP_SEND, true, c->gen, i));
}

static void good_recv(struct gen *g, uint32_t i)
{
    struct good *c = &g->goods[i];
    struct io_uring_sqe *sqe = sqe_get(g);
    io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len, 0);
    io_uring_sqe_set_data64(sqe, ud_gen(OP_RECV, true, c->gen, i));
}

static void good_start(struct gen *g, uint32_t i)
{
    struct good *c = &g->goods[i];
    if (g->stopping || !g->good_phase)
        return;
    if (g->o.messages && g->nlat >= g->o.messages)
        return;
    c->src = (c->src + 1) % g->o.good_addrs;
    c->fd = make_socket(g, addr_plus(g->o.good_src, c->src));
    c->start_us = now_us();
    c->deadline_ms = c->start_us / 1000 + (uint64_t)(g->o.timeout * 1000);
    if (c->fd < 0) {
        good_error(g, c, "socket/bind failed");
        return; /* retried on the next tick */
    }
    c->step = G_BANNER;
    c->in_len = 0;
    c->connecting = true;
    struct io_uring_sqe *sqe = sqe_get(g);
    io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&g->o.server, sizeof(g->o.server));
    io_uring_sqe_set_data64(sqe, ud_gen(OP_CONNECT, true, c->gen, i));
}

static void record(struct gen *g, uint64_t us)
{
    if (g->nlat == g->caplat) {
        g->caplat = g->caplat ? g->caplat * 2 : 4096;
        g->lat = realloc(g->lat, g->caplat * sizeof(*g->lat));
        if (!g->lat) {
            perror("stormgen: realloc");
            exit(2);
        }
    }
    g->lat[g->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* A whole reply in c->in: its last line is "DDD " (or just "DDD"). Returns
 * the first digit, 0 while incomplete. */
static char reply_done(struct good *c)
{
    c->in[c->in_len] = '\0';
    const char *line = c->in;
    for (;;) {
        const char *nl = strchr(line, '\n');
        if (!nl)
            return 0;
        if (nl - line < 4 || line[3] != '-')
            return line[0];
        line = nl + 1;
    }
}

static void good_reply(struct gen *g, uint32_t i, char cls)
{
    struct good *c = &g->goods[i];
    if (cls != WANT[c->step]) {
        char what[160];
        char *nl = strchr(c->in, '\r');
        if (nl)
            *nl = '\0';
        snprintf(what, sizeof(what), "step %u: %.120s", (unsigned)c->step, c->in);
        good_error(g, c, what);
        good_restart(g, i);
        return;
    }
    c->in_len = 0;
    if (c->step == G_EOM) {
        record(g, now_us() - c->start_us);
        /* QUIT without waiting for 221; the close follows it. */
        struct io_uring_sqe *sqe = sqe_get(g);
        io_uring_prep_send(sqe, c->fd, "QUIT\r\n", 6, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, 0);
        sqe->flags |= IOSQE_IO_HARDLINK; /* close even if this fails */
        sqe = sqe_get(g);
        io_uring_prep_close(sqe, c->fd);
        io_uring_sqe_set_data64(sqe, 0);
        c->fd = -1;
        c->gen++;
        good_start(g, i);
        return;
    }
    c->step++;
    if (c->step == G_EOM)
        good_send(g, i, g->message, g->message_len);
    else
        good_send(g, i, CMDS[c->step], strlen(CMDS[c->step]));
}

static void good_event(struct gen *g, uint32_t i, uint8_t gen, enum op op, int res)
{
    struct good *c = &g->goods[i];
    if (getenv("STORMGEN_TRACE") && i == 0)
        fprintf(stderr, "%.3f good0 gen %u/%u op %d res %d step %u\n", now_us() / 1e3,
                (unsigned)gen, (unsigned)c->gen, (int)op, res, (unsigned)c->step);
    if (c->fd < 0 || gen != c->gen)
        return; /* a completion of a session already given up */
    switch (op) {
    case OP_CONNECT:
        c->connecting = false;
        if (res < 0) {
            note_errno(g, -res);
            good_error(g, c, strerror(-res));
            good_restart(g, i);
            return;
        }
        good_recv(g, i);
        return;
    case OP_SEND:
        if (res <= 0) {
            good_error(g, c, "send failed");
            good_restart(g, i);
            return;
        }
        c->out_off += (size_t)res;
        if (c->out_off < c->out_len) {
            struct io_uring_sqe *sqe = sqe_get(g);
            io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_len - c->out_off,
                               MSG_NOSIGNAL);
            io_uring_sqe_set_data64(sqe, ud_gen(OP_SEND, true, c->gen, i));
            return;
        }
        good_recv(g, i);
        return;
    case OP_RECV:
        if (res <= 0) {
            g->good_closed++;
            good_error(g, c, res == 0 ? "closed by server" : strerror(-res));
            good_restart(g, i);
            return;
        }
        c->in_len += (size_t)res;
        char cls = reply_done(c);
        if (cls) {
            good_reply(g, i, cls);
        } else if (c->in_len >= sizeof(c->in) - 1) {
            good_error(g, c, "reply too long");
            good_restart(g, i);
        } else {
            good_recv(g, i);
        }
        return;
    default:
        return;
    }
}

static void goods_tick(struct gen *g, uint64_t now_ms)
{
    for (uint32_t i = 0; i < g->o.good; i++) {
        struct good *c = &g->goods[i];
        if (c->fd < 0) {
            good_start(g, i); /* after a socket/bind failure */
        } else if (now_ms > c->deadline_ms) {
            g->good_timeouts++;
            good_error(g, c, "timeout");
            good_restart(g, i);
        }
    }
}

/* ------------------------------------------------------------------ loop */

static void arm_tick(struct gen *g, struct __kernel_timespec *ts)
{
    struct io_uring_sqe *sqe = sqe_get(g);
    io_uring_prep_timeout(sqe, ts, 0, 0);
    io_uring_sqe_set_data64(sqe, ud(OP_TICK, false, 0));
}

/* Run until done() or the deadline (microseconds, monotonic). */
static void run_until(struct gen *g, uint64_t deadline_us, bool (*done)(struct gen *))
{
    static struct __kernel_timespec tick = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
    arm_tick(g, &tick);
    bool armed = true;
    while (now_us() < deadline_us && !(done && done(g))) {
        io_uring_submit_and_wait(&g->ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&g->ring, head, cqe)
        {
            n++;
            uint64_t d = io_uring_cqe_get_data64(cqe);
            enum op op = (enum op)(d & 0xff);
            uint32_t i = (uint32_t)(d >> 17);
            if (op == OP_TICK) {
                armed = false;
                continue;
            }
            if (op == OP_STDIN) {
                g->released = true; /* a line, EOF or an error: the runner is done */
                continue;
            }
            if (!op)
                continue;
            if (d & 0x100u)
                good_event(g, i, (uint8_t)(d >> 9), op, cqe->res);
            else
                bot_event(g, i, op, cqe->res);
        }
        io_uring_cq_advance(&g->ring, n);
        if (!armed) {
            uint64_t now_ms = now_us() / 1000;
            bots_tick(g, (uint32_t)now_ms);
            if (g->good_phase)
                goods_tick(g, now_ms);
            arm_tick(g, &tick);
            armed = true;
        }
    }
    /* The tick still armed is harmless: it completes later and is ignored. */
}

static bool bots_connected(struct gen *g)
{
    return g->next_bot >= g->o.bots && g->connecting == 0;
}

static bool released(struct gen *g)
{
    return g->released;
}

/* --hold: a poll on standard input; its completion ends the hold. */
static void arm_release(struct gen *g)
{
    struct io_uring_sqe *sqe = sqe_get(g);
    io_uring_prep_poll_add(sqe, STDIN_FILENO, POLLIN);
    io_uring_sqe_set_data64(sqe, ud(OP_STDIN, false, 0));
}

static bool messages_done(struct gen *g)
{
    return g->o.messages && g->nlat >= g->o.messages;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct(const uint32_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)(p * (double)(n - 1) + 0.5);
    return v[k] / 1000.0;
}

/* ------------------------------------------------------------------ setup */

static int parse_hostport(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static int usage(void)
{
    fprintf(stderr, "usage: stormgen --server HOST:PORT [--bots N] [--bot-src ADDR] "
                    "[--bot-addrs B] [--good M] [--good-src ADDR] [--good-addrs G] "
                    "[--pregreet PCT] [--slow PCT] [--slow-interval S] [--window W] "
                    "[--ramp S] [--settle S] [--duration S] [--messages K] [--timeout S] "
                    "[--hold 0|1] [--hold-max S]\n");
    return 2;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.bot_addrs = 16, .good = 10, .good_addrs = 1, .window = 512,
                       .slow_interval = 10, .ramp = 120, .settle = 1, .duration = 10,
                       .timeout = 30, .hold_max = 600};
    inet_pton(AF_INET, "127.1.0.1", &o->bot_src);
    inet_pton(AF_INET, "127.0.0.1", &o->good_src);
    bool have_server = false;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        i++;
        if (!strcmp(k, "--server")) {
            if (parse_hostport(v, &o->server) < 0)
                return usage();
            have_server = true;
        } else if (!strcmp(k, "--bots")) {
            o->bots = (unsigned)strtoul(v, NULL, 10);
        } else if (!strcmp(k, "--bot-addrs")) {
            o->bot_addrs = (unsigned)strtoul(v, NULL, 10);
        } else if (!strcmp(k, "--good")) {
            o->good = (unsigned)strtoul(v, NULL, 10);
        } else if (!strcmp(k, "--good-addrs")) {
            o->good_addrs = (unsigned)strtoul(v, NULL, 10);
        } else if (!strcmp(k, "--pregreet")) {
            o->pregreet = (unsigned)strtoul(v, NULL, 10);
        } else if (!strcmp(k, "--slow")) {
            o->slow = (unsigned)strtoul(v, NULL, 10);
        } else if (!strcmp(k, "--window")) {
            o->window = (unsigned)strtoul(v, NULL, 10);
        } else if (!strcmp(k, "--messages")) {
            o->messages = strtoul(v, NULL, 10);
        } else if (!strcmp(k, "--bot-src") || !strcmp(k, "--good-src")) {
            if (inet_pton(AF_INET, v, k[2] == 'b' ? &o->bot_src : &o->good_src) != 1)
                return usage();
        } else if (!strcmp(k, "--slow-interval")) {
            o->slow_interval = atof(v);
        } else if (!strcmp(k, "--ramp")) {
            o->ramp = atof(v);
        } else if (!strcmp(k, "--settle")) {
            o->settle = atof(v);
        } else if (!strcmp(k, "--duration")) {
            o->duration = atof(v);
        } else if (!strcmp(k, "--timeout")) {
            o->timeout = atof(v);
        } else if (!strcmp(k, "--hold")) {
            o->hold = atoi(v) != 0;
        } else if (!strcmp(k, "--hold-max")) {
            o->hold_max = atof(v);
        } else {
            return usage();
        }
    }
    if (!have_server || !o->bot_addrs || !o->good_addrs || !o->window ||
        o->pregreet + o->slow > 100)
        return usage();
    return 0;
}

/* Room for every socket: raise the soft limit, and the hard one when we
 * may (root). */
static int raise_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    if (rl.rlim_cur >= want)
        return 0;
    struct rlimit nl = {.rlim_cur = want, .rlim_max = rl.rlim_max > want ? rl.rlim_max : want};
    if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
        return 0;
    nl.rlim_cur = rl.rlim_max;
    nl.rlim_max = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nl);
    fprintf(stderr, "stormgen: RLIMIT_NOFILE only %llu, wanted %llu\n",
            (unsigned long long)rl.rlim_max, (unsigned long long)want);
    return -EMFILE;
}

int main(int argc, char **argv)
{
    struct gen *g = calloc(1, sizeof(*g));
    if (!g || parse_args(argc, argv, &g->o) < 0)
        return 2;
    raise_nofile((rlim_t)g->o.bots + g->o.good + 256);
    g->bots = calloc(g->o.bots ? g->o.bots : 1, sizeof(*g->bots));
    g->goods = calloc(g->o.good ? g->o.good : 1, sizeof(*g->goods));
    if (!g->bots || !g->goods)
        return 2;
    for (unsigned i = 0; i < g->o.bots; i++) {
        unsigned r = (i * 37u) % 100u; /* spread the kinds evenly */
        g->bots[i].fd = -1;
        g->bots[i].kind = r < g->o.pregreet ? K_PREGREET
                          : r < g->o.pregreet + g->o.slow ? K_SLOW : K_SILENT;
    }
    for (unsigned i = 0; i < g->o.good; i++) {
        g->goods[i].fd = -1;
        g->goods[i].src = i;
    }
    /* A 1 KB message: 5 headers and text lines, ending in the final dot. */
    static char msg[1400];
    int n = snprintf(msg, sizeof(msg),
                     "From: <sender@example.org>\r\nTo: <user@example.test>\r\n"
                     "Subject: storm benchmark\r\nMessage-ID: <storm@example.org>\r\n"
                     "Date: Mon, 03 Jun 2024 10:00:00 +0000\r\n\r\n");
    while (n < 1024)
        n += snprintf(msg + n, sizeof(msg) - (size_t)n,
                      "the quick brown fox jumps over the lazy dog, again and again\r\n");
    n += snprintf(msg + n, sizeof(msg) - (size_t)n, ".\r\n");
    g->message = msg;
    g->message_len = (size_t)n;

    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = 65536};
    int rc = io_uring_queue_init_params(4096, &g->ring, &p);
    if (rc < 0) {
        fprintf(stderr, "stormgen: io_uring: %s\n", strerror(-rc));
        return 2;
    }

    uint64_t t0 = now_us();
    run_until(g, t0 + (uint64_t)(g->o.ramp * 1e6), bots_connected);
    uint64_t t1 = now_us();
    run_until(g, t1 + (uint64_t)(g->o.settle * 1e6), NULL);
    printf("ready bots=%u connected=%u open=%u failed=%u closed=%u ramp_s=%.2f errno=%s\n",
           g->o.bots, g->open_bots + g->bot_closed, g->open_bots, g->bot_fail, g->bot_closed,
           (double)(t1 - t0) / 1e6, g->first_errno ? strerrorname_np(g->first_errno) : "-");
    fflush(stdout);

    g->good_start_us = now_us();
    if (g->o.good || !g->o.hold) {
        g->good_phase = true;
        for (uint32_t i = 0; i < g->o.good; i++)
            good_start(g, i);
        run_until(g, g->good_start_us + (uint64_t)(g->o.duration * 1e6), messages_done);
    }
    uint64_t t2 = now_us();
    double secs = (double)(t2 - g->good_start_us) / 1e6;
    if (g->o.hold) {
        /* Keep the bots (and stop starting good sessions) until released. */
        g->stopping = true;
        arm_release(g);
        run_until(g, now_us() + (uint64_t)(g->o.hold_max * 1e6), released);
    }
    g->stopping = true;
    /* A moment for closes that are already on the wire to be seen. */
    run_until(g, now_us() + 200000, NULL);

    if (g->nlat)
        qsort(g->lat, g->nlat, sizeof(*g->lat), cmp_u32);
    printf("result bots=%u held=%u closed=%u failed=%u good=%u msgs=%zu secs=%.2f msg_s=%.1f "
           "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f good_errors=%lu timeouts=%lu errno=%s\n",
           g->o.bots, g->open_bots, g->bot_closed, g->bot_fail, g->o.good, g->nlat, secs,
           secs > 0 ? (double)g->nlat / secs : 0, pct(g->lat, g->nlat, 0.50),
           pct(g->lat, g->nlat, 0.99), g->nlat ? g->lat[g->nlat - 1] / 1000.0 : 0,
           g->good_errors, g->good_timeouts,
           g->first_errno ? strerrorname_np(g->first_errno) : "-");
    if (g->good_errors)
        printf("last_error %s\n", g->last_error);
    fflush(stdout);
    /* Exit closes every socket; the kernel does it faster than we could. */
    _exit(0);
}
