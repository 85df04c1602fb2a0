/*
 * fuzz_content_action.c - any bytes as a header/body_checks result.
 *
 * Invariants: no crash; the text lies inside the input; a REJECT reason is
 * NUL-terminated and starts with a 4 or 5 status class; every warning can
 * be formatted; a warned rule acts as DUNNO unless it is the DSN fix-up.
 */
#include <stdint.h>
#include <string.h>

#include "content_action.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    char warn[2 * CONTENT_REASON_MAX + 256];
    for (int ctx = 0; ctx < 2; ctx++) {
        struct content_action a;
        content_action_parse(buf, size, (enum content_ctx)ctx, &a);
        if (a.text < buf || a.text + a.text_len > buf + size || a.word != buf ||
            a.word_len > size)
            __builtin_trap();
        if (a.act == CONTENT_ACT_REJECT) {
            if (memchr(a.reason, 0, sizeof(a.reason)) == NULL ||
                (a.reason[0] != '4' && a.reason[0] != '5') || a.defer != (a.reason[0] == '4'))
                __builtin_trap();
        }
        if (a.warn != CONTENT_WARN_NONE) {
            if (a.warn != CONTENT_WARN_BAD_DSN && a.act != CONTENT_ACT_DUNNO)
                __builtin_trap();
            (void)content_action_warning(&a, "header_checks", warn, sizeof(warn));
        }
        (void)content_is_header(buf, size);
        (void)content_dsn_valid(buf, size);
    }
    return 0;
}
