/* cmd_filter.c - smtpd_command_filter / postscreen_command_filter lookup
 * and log text, one implementation for the workers and the frontend.
 * Interface and failure: cmd_filter.h. */
#include "cmd_filter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casefold.h"
#include "maps.h"
#include "util.h"

/* Postfix's msg_output() logs a control character as '?'. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

void cmd_filter_error_text(const struct map *m, const char *line, size_t len,
                           char buf[CMD_FILTER_ERR_MAX])
{
    char shown[101];
    snprintf(shown, sizeof(shown), "%.*s", (int)(len > 100 ? 100 : len), line);
    printable(shown);
    snprintf(buf, CMD_FILTER_ERR_MAX, "%.300s lookup error for \"%s\"", m->ref, shown);
}

int cmd_filter_apply(struct map *m, const char *line, size_t len, bool skip_bad_utf8,
                     char *out, size_t size, size_t *outlen, char logbuf[CMD_FILTER_LOG_MAX])
{
    const char *nul = memchr(line, '\0', len);
    size_t n = nul ? (size_t)(nul - line) : len;
    if (skip_bad_utf8 && !utf8_valid(line, len))
        return 0;
    size_t k = 0;
    while (k < n && (line[k] == ' ' || line[k] == '\t'))
        k++;
    /* Pattern tables match a C string (regexp's $1 would run past len):
     * the key gets its own NUL. */
    char stack[2100];
    char *key = n - k < sizeof(stack) ? stack : xmalloc(n - k + 1);
    memcpy(key, line + k, n - k);
    key[n - k] = '\0';
    struct map_value v = {.buf = out, .cap = size};
    int r = map_lookup(m, key, n - k, &v);
    /* A result longer than out (a regexp's $1 repeated) is not an error in
     * Postfix (a VSTRING): look it up again into a bigger buffer, and cut. */
    for (size_t cap = size * 4; r == -ENOSPC && cap <= ((size_t)1 << 20); cap *= 4) {
        char *big = xmalloc(cap);
        struct map_value bv = {.buf = big, .cap = cap};
        r = map_lookup(m, key, n - k, &bv);
        if (r > 0) {
            size_t c = bv.len < size - 1 ? bv.len : size - 1;
            memcpy(out, big, c);
            out[c] = '\0';
        }
        free(big);
    }
    if (key != stack)
        free(key);
    if (r <= 0)
        return r;
    /* The replacement is a C string in Postfix too (vstring_strcpy); the
     * map NUL-terminates it within size bytes. */
    *outlen = strlen(out);
    char was[101], now[101];
    snprintf(was, sizeof(was), "%.*s", (int)(n > 100 ? 100 : n), line);
    snprintf(now, sizeof(now), "%.100s", out);
    printable(was);
    printable(now);
    snprintf(logbuf, CMD_FILTER_LOG_MAX, "replacing command \"%s\" with \"%s\"", was, now);
    return 1;
}
