/* fuzz_proxy_proto.c - any bytes into the PROXY v1/v2 parser. */
#include <stdint.h>
#include <string.h>

#include "proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_info pi;
    const char *why;
    enum proxy_result r = proxy_parse((const char *)data, size, &pi, &why);
    if (r == PROXY_OK && (pi.consumed == 0 || pi.consumed > size))
        __builtin_trap();
    if (r == PROXY_BAD && (why == NULL || why[0] == '\0'))
        __builtin_trap();
    return 0;
}
