/* fuzz_hostname.c - any bytes through every host name/address check.
 * Besides not crashing, the checks must agree with each other the way
 * Postfix's do: an address is never a valid host name, a valid literal
 * holds a valid mailhost address, and so on. */
#include <stdint.h>
#include <string.h>

#include "hostname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t bare = 0;
    struct hostname_self self = {"mx.example.com", NULL, 0};

    int name = hostname_valid(s, size);
    int addr = hostname_valid_addr(s, size);
    int v4 = hostname_valid_ipv4(s, size), v6 = hostname_valid_ipv6(s, size);
    int mh = hostname_mailhost_addr(s, size, &bare);
    (void)hostname_valid_port(s, size);
    (void)hostname_claims_us(s, size, &self);
    if ((name && addr) || (addr && !(v4 || v6)) || (v4 && v6) || (name && size > HOSTNAME_MAX))
        __builtin_trap();
    if (mh && bare != 0 && bare != 5)
        __builtin_trap();
    if (hostname_valid_literal(s, size) && !(size > 2 && hostname_mailhost_addr(s + 1, size - 2, &bare)))
        __builtin_trap();
    if (name != hostname_valid_utf8(s, size, 0))
        __builtin_trap();
    (void)hostname_valid_utf8(s, size, 1);
    /* A name that passes reject_non_fqdn_helo_hostname passes
     * reject_invalid_helo_hostname too (without SMTPUTF8). */
    if (hostname_helo_non_fqdn(s, size, 0) == HOSTNAME_PASS &&
        hostname_helo_invalid(s, size) != HOSTNAME_PASS)
        __builtin_trap();
    (void)hostname_address_non_fqdn(s, size, 1);
    return 0;
}
