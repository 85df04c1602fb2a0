/* fuzz_smtp_cmd.c - any bytes as an SMTP command line, loose and strict. */
#include <stdint.h>
#include <string.h>

#include "smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char scratch[SMTP_SCRATCH_NEED(SMTP_LINE_LIMIT_DEFAULT)];
    char reply[4200];
    for (int strict = 0; strict <= 1; strict++) {
        struct smtp_parse_opts o = {.strict = strict, .smtputf8 = !strict, .scratch = scratch,
                                    .scratch_size = sizeof(scratch)};
        struct smtp_cmd c;
        enum smtp_parse_result r = smtp_cmd_parse((const char *)data, size, &o, &c);
        if (r != SMTP_PARSE_OK && (c.reply == SMTP_R_NONE || c.reply >= SMTP_R_COUNT))
            __builtin_trap();
        if (r == SMTP_PARSE_OK && c.reply == SMTP_R_NOSPACE)
            __builtin_trap();
        /* Every string result must lie in the input or in scratch. */
        if (c.addr && (c.addr < scratch || c.addr + c.addr_len >= scratch + sizeof(scratch) ||
                       strlen(c.addr) != c.addr_len))
            __builtin_trap();
        if (c.arg && (c.arg < (const char *)data || c.arg + c.arg_len > (const char *)data + size))
            __builtin_trap();
        if (smtp_reply_format(&c, reply, sizeof(reply)) >= sizeof(reply))
            __builtin_trap();
    }
    return 0;
}
