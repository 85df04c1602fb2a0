/*
 * dns_drive.c - the poll loop round and address parsing the DNS test
 * drivers share (see dns_drive.h). Test code: a poll() loop stands in for
 * the ring the daemon uses (lib/dns_ring.c), the resolver is the same.
 */
#include "dns_drive.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>

#include "dns.h"

int dns_drive_step(struct dns_ctx *ctx, int max_wait_ms)
{
    struct pollfd pfd[32];
    size_t nfd = dns_fds(ctx, pfd, 32);
    if (nfd > 32)
        nfd = 32;
    int t = dns_next_timeout_ms(ctx);
    if (t < 0 || t > max_wait_ms)
        t = max_wait_ms;
    int r = poll(pfd, nfd, t);
    if (r < 0 && errno != EINTR)
        return -errno;
    for (size_t i = 0; r > 0 && i < nfd; i++)
        if (pfd[i].revents)
            dns_process(ctx, pfd[i].fd, !!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)),
                        !!(pfd[i].revents & POLLOUT));
    dns_timeout(ctx);
    return 0;
}

int dns_drive_parse_addr(const char *s, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return 0;
    }
    return -EINVAL;
}
