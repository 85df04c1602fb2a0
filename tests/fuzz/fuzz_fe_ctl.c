/*
 * fuzz_fe_ctl.c - any bytes into the master <-> frontend control message
 * decoder. An accepted input must be canonical: encoding what was decoded
 * gives back exactly the same bytes.
 */
#include <stdint.h>
#include <string.h>

#include "fe_ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fe_ctl_msg m;
    static unsigned char again[FE_CTL_MAX_LEN];
    size_t len;
    if (fe_ctl_decode(data, size, &m) == FE_CTL_OK) {
        if (fe_ctl_encode(&m, again, sizeof(again), &len) != 0 || len != size ||
            memcmp(again, data, size) != 0)
            __builtin_trap();
    }
    return 0;
}
