/* fuzz_transport.c - any bytes into the transport(5) result parser
 * (transport_parse_value) for a fixed recipient domain; a parsed result
 * must be self-consistent: NUL-terminated fields, a port for network
 * destinations, no MX lookup for LMTP, text only for error/retry/discard. */
#include <stdint.h>
#include <string.h>

#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t cap)
{
    if (memchr(s, 0, cap) == NULL)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nexthop h;
    int rc = transport_parse_value((const char *)data, size, "example.com", &h);
    if (rc == 1 || rc < 0)
        return 0;
    if (rc != 0)
        __builtin_trap();
    check_str(h.host, sizeof(h.host));
    check_str(h.unix_path, sizeof(h.unix_path));
    check_str(h.text, sizeof(h.text));
    check_str(h.more, sizeof(h.more));
    switch (h.kind) {
    case TRANSPORT_SMTP:
        if (h.host[0] == 0 || h.port == 0 || h.port > 65535 || h.unix_path[0] || h.text[0])
            __builtin_trap();
        break;
    case TRANSPORT_LMTP:
        if (h.mx || h.text[0])
            __builtin_trap();
        if ((h.unix_path[0] != 0) == (h.host[0] != 0))
            __builtin_trap();
        if (h.host[0] && (h.port == 0 || h.port > 65535))
            __builtin_trap();
        break;
    case TRANSPORT_ERROR:
    case TRANSPORT_RETRY:
    case TRANSPORT_DISCARD:
        if (h.host[0] || h.unix_path[0] || h.more[0] || h.text[0] == 0)
            __builtin_trap();
        break;
    default:
        __builtin_trap();
    }
    /* A bracketed host never contains the brackets. */
    if (strchr(h.host, '[') || strchr(h.host, ']'))
        __builtin_trap();
    return 0;
}
