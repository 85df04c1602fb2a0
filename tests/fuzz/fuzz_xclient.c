/* fuzz_xclient.c - any bytes as the XCLIENT argument list. */
#include <stdint.h>
#include <string.h>

#include "xclient.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xclient_attrs a;
    char reply[1024];
    const char *in = (const char *)data;

    for (unsigned flags = 0; flags <= XCLIENT_FLAG_ASCII; flags++) {
        enum xclient_result r = xclient_parse_flags(in, size, flags, &a);
        size_t n = xclient_reply(r, &a, reply, sizeof(reply));
        /* Every error has a 501 reply; success has none. */
        if ((r == XCLIENT_OK) != (n == 0) || (n > 0 && memcmp(reply, "501 5.5.4 ", 10) != 0))
            __builtin_trap();
        if (r == XCLIENT_ERR_BAD_NAME && (a.bad_name < in || a.bad_name + a.bad_name_len > in + size))
            __builtin_trap();
        for (int i = 0; i < XCLIENT_NATTR; i++)
            if (a.attr[i].len > XCLIENT_VALUE_MAX || a.attr[i].text[a.attr[i].len] != '\0')
                __builtin_trap();
    }
    return 0;
}
