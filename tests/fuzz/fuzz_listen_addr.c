/* fuzz_listen_addr.c - master/listen.c's listen_addresses parsers: any
 * bytes, as one item and as a list; a parsed item is well-formed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct listen_addr a, v[8];
    size_t n, off;
    char buf[128];

    if (listen_addr_parse((const char *)data, size, &a) == LISTEN_OK) {
        if (a.port == 0)
            abort();
        if (a.kind == LISTEN_KIND_ADDR) {
            if (a.sa.ss_family != AF_INET && a.sa.ss_family != AF_INET6)
                abort();
            listen_format_sa((const struct sockaddr *)&a.sa, buf, sizeof(buf));
        } else if (a.kind == LISTEN_KIND_NAME) {
            if (a.host[0] == '\0' || strlen(a.host) > LISTEN_HOST_MAX)
                abort();
        } else if (a.kind != LISTEN_KIND_ANY) {
            abort();
        }
    }
    enum listen_result r = listen_list_parse((const char *)data, size, v, 8, &n, &off);
    if (n > 8 || (r != LISTEN_OK && off > size) || (r == LISTEN_OK && n == 0))
        abort();
    return 0;
}
