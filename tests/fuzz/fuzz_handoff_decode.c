/*
 * fuzz_handoff_decode.c - any bytes into the handoff record and ack
 * decoders. An accepted input must be canonical: encoding what was decoded
 * gives back exactly the same bytes (so encode and decode agree on every
 * rule, and no byte of the wire is ignored).
 */
#include <stdint.h>
#include <string.h>

#include "handoff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct handoff h;
    static unsigned char again[HANDOFF_RECORD_MAX];
    struct handoff_ack a;
    unsigned char ack[HANDOFF_ACK_LEN];
    size_t len;

    if (handoff_decode(data, size, &h) == HANDOFF_OK) {
        if (handoff_check(&h) != HANDOFF_OK || handoff_encode(&h, again, sizeof(again), &len) != 0 ||
            len != size || memcmp(again, data, size) != 0)
            __builtin_trap();
    }
    if (handoff_ack_decode(data, size, &a) == HANDOFF_OK) {
        if (handoff_ack_encode(&a, ack) != 0 || size != HANDOFF_ACK_LEN ||
            memcmp(ack, data, size) != 0)
            __builtin_trap();
    }
    (void)handoff_strerror(handoff_decode(data, size, &h));
    return 0;
}
