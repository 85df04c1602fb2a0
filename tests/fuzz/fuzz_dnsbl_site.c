/* fuzz_dnsbl_site.c - any bytes into the postscreen_dnsbl_sites item parser;
 * a parsed site must be self-consistent and its matcher total. */
#include <stdint.h>
#include <string.h>

#include "dnsbl_site.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dnsbl_site s;
    const char *why = NULL;
    enum dnsbl_site_result r = dnsbl_site_parse((const char *)data, size, &s, &why);
    if (r != DNSBL_SITE_OK) {
        if (why == NULL || why[0] == '\0')
            __builtin_trap();
        return 0;
    }
    if (why != NULL || s.domain_len == 0 || s.domain_len > DNSBL_SITE_NAME_MAX ||
        strlen(s.domain) != s.domain_len || memcmp(s.domain, data, s.domain_len) != 0)
        __builtin_trap();
    /* A filter that accepts nothing cannot be written: each octet has at
     * least one value. */
    struct in_addr a[4];
    memset(a, 0, sizeof(a));
    if (s.has_filter) {
        for (int i = 0; i < 4; i++) {
            int any = 0;
            for (int b = 0; b < 32; b++)
                any |= s.octet[i][b];
            if (!any)
                __builtin_trap();
        }
    }
    for (unsigned v = 0; v < 4; v++)
        memset(&a[v], (int)(v * 85), sizeof(a[v]));
    (void)dnsbl_site_match(&s, a, 4);
    if (!s.has_filter && !dnsbl_site_match(&s, a, 1))
        __builtin_trap();
    return 0;
}
