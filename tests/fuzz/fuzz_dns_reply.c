/*
 * fuzz_dns_reply.c - any bytes as a DNS answer, for every query type.
 *
 * The answer comes off the network; dns_reply_build() must turn anything
 * into a result whose counts, TXT offsets and names stay in bounds.
 */
#include <ares.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct dns_result *r)
{
    if (r->count > DNS_MAX_RR)
        abort();
    if (r->status == DNS_OK && r->count == 0)
        abort();
    if (r->type == DNS_T_TXT)
        for (unsigned i = 0; i < r->count; i++)
            if (r->u.txt.off[i] + r->u.txt.len[i] >= DNS_TXT_MAX ||
                r->u.txt.buf[r->u.txt.off[i] + r->u.txt.len[i]] != '\0')
                abort();
    if (r->type == DNS_T_PTR)
        for (unsigned i = 0; i < r->count; i++)
            if (strnlen(r->u.ptr[i], DNS_NAME_MAX + 1) > DNS_NAME_MAX)
                abort();
    if (r->type == DNS_T_MX)
        for (unsigned i = 0; i < r->count; i++)
            if (strnlen(r->u.mx[i].host, DNS_NAME_MAX + 1) > DNS_NAME_MAX)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum dns_type types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_PTR, DNS_T_MX, DNS_T_TXT};
    struct dns_result *r = malloc(sizeof(*r));
    if (size > 65535 || !r) {
        free(r);
        return 0;
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        memset(r, 0, sizeof(*r));
        dns_reply_build(r, types[i], ARES_SUCCESS, data, (int)size);
        check(r);
        dns_reply_build(r, types[i], ARES_ENOTFOUND, data, (int)size);
        check(r);
    }
    free(r);
    return 0;
}
