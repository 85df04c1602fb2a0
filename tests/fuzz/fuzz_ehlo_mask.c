/* fuzz_ehlo_mask.c - any bytes as an EHLO keyword list (a value of
 * smtpd_discard_ehlo_keyword_address_maps), then its log text and the
 * EHLO reply it leaves. */
#include <stdint.h>
#include <string.h>

#include "ehlo_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned m = ehlo_reply_mask_text((const char *)data, size);
    if (m & ~((EHLO_KW_SILENT << 1) - 1))
        __builtin_trap();
    char names[256];
    int n = ehlo_reply_mask_str(m, names, sizeof(names));
    if (n < 0 || (size_t)n != strlen(names) || (m != 0) != (n > 0))
        __builtin_trap();
    /* The printed names read back to the same bits. */
    if (ehlo_reply_mask_text(names, (size_t)n) != m)
        __builtin_trap();
    char reply[EHLO_REPLY_MAX];
    struct ehlo_opts o = {.myhostname = "mx.example.test", .message_size_limit = 1,
                          .discard = m, .vrfy = true, .starttls = true, .xclient = true,
                          .smtputf8 = true};
    n = ehlo_reply_format(&o, reply, sizeof(reply));
    if (n < 14 || memcmp(reply, "250", 3) != 0 || (size_t)n != strlen(reply))
        __builtin_trap();
    return 0;
}
