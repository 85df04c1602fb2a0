/*
 * fuzz_cmd_filter.c - cmd_filter_apply() (smtpd_command_filter /
 * postscreen_command_filter) on arbitrary command lines.
 *
 * Checks, beyond "no crash": a replaced line is NUL-terminated with the
 * stated length within the buffer, the log text has no control character
 * and both of its commands are at most 100 bytes; a line that is not
 * replaced leaves the buffer as it was. The first input byte selects the
 * UTF-8 skip and a small or large result buffer (the retry path).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_filter.h"
#include "maps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct map *table;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (!table) {
        struct map_err err;
        if (map_open("regexp:{{/^HELLO (.*)$/ HELO $1}, {/^(RCPT TO:<)'([^']*)'(>.*)$/ $1$2$3},"
                     " {/^X(.*)$/ NOOP $1$1$1$1}, {/^[^A-Z]/ NOOP}}",
                     0, &table, &err) != 0)
            abort();
    }
    bool skip = data[0] & 1;
    size_t cap = data[0] & 2 ? 2100 : 16;
    char *out = malloc(cap), log[CMD_FILTER_LOG_MAX];
    if (!out)
        return 0;
    memset(out, 'Z', cap);
    size_t n = 0;
    int r = cmd_filter_apply(table, (const char *)data + 1, size - 1, skip, out, cap, &n, log);
    /* The lookup-error warning for the same line: bounded, printable. */
    char err[CMD_FILTER_ERR_MAX];
    cmd_filter_error_text(table, (const char *)data + 1, size - 1, err);
    for (const char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort();
    if (r == 1) {
        if (n >= cap || strlen(out) != n)
            abort();
        size_t l = strlen(log);
        if (l >= CMD_FILTER_LOG_MAX || strncmp(log, "replacing command \"", 19) != 0)
            abort();
        for (size_t i = 0; i < l; i++)
            if ((unsigned char)log[i] < 0x20 || log[i] == 0x7f)
                abort();
    } else if (r == 0) {
        for (size_t i = 0; i < cap; i++)
            if (out[i] != 'Z')
                abort();
    } else {
        abort(); /* an inline table has no lookup errors */
    }
    free(out);
    return 0;
}
