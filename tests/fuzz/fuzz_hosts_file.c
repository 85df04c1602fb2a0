/* fuzz_hosts_file.c - any bytes as a hosts file: lookups must be total,
 * and a name found for an address must be found again for it. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hosts_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0; /* the reader NUL-terminates the file the same way */
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
    inet_pton(AF_INET6, "::1", &s6.sin6_addr);
    char name[256];
    const struct sockaddr *addrs[] = {(struct sockaddr *)&s4, (struct sockaddr *)&s6};
    for (int i = 0; i < 2; i++) {
        int r = hosts_file_name(text, addrs[i], name, sizeof(name));
        if (r == 1) {
            if (name[0] == 0 || strlen(name) >= sizeof(name))
                __builtin_trap();
            /* the line that named it lists the name with this address */
            if (hosts_file_confirms(text, name, addrs[i]) != 1)
                __builtin_trap();
        } else if (r != 0) {
            __builtin_trap();
        }
    }
    free(text);
    return 0;
}
