/*
 * dns_drive.h - what the DNS test drivers (dns_probe, dnsbl_drive,
 * mx_select_drive) share: one round of lib/dns.c's poll loop and the
 * parsing of a literal address from the command line.
 */
#ifndef MXSCREEN_TESTS_DNS_DRIVE_H
#define MXSCREEN_TESTS_DNS_DRIVE_H

#include <sys/socket.h>

struct dns_ctx;

/* Waits for the resolver's sockets (at most max_wait_ms, less when c-ares
 * has an earlier timeout), processes what is ready and c-ares' timeouts.
 * Returns 0, or -errno when poll fails (EINTR is not a failure). */
int dns_drive_step(struct dns_ctx *ctx, int max_wait_ms);

/* A literal IPv4 or IPv6 address into *ss (port 0). 0 or -EINVAL. */
int dns_drive_parse_addr(const char *s, struct sockaddr_storage *ss);

#endif
