/* fuzz_screen_cache.c - any bytes as a postscreen cache value: the parser
 * must be total, give stamps >= 0, and agree with its own writer (what it
 * writes back parses to the same stamps, and writing is idempotent). */
#include <stdint.h>
#include <string.h>

#include "screen_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct screen_stamps s, back;
    enum screen_parse r = screen_stamps_parse((const char *)data, size, &s);
    if (r != SCREEN_PARSE_OK && r != SCREEN_PARSE_PARTIAL)
        __builtin_trap();
    for (int i = 0; i < SCREEN_NTESTS; i++)
        if (s.t[i] < 0)
            __builtin_trap();
    /* A well-formed value has five fields (";;;;;" is five NEW stamps). */
    if (r == SCREEN_PARSE_OK && size < 5)
        __builtin_trap();
    unsigned enabled = size ? data[0] & SCREEN_ALL_TESTS : SCREEN_ALL_TESTS;
    int64_t now = size > 1 ? (int64_t)data[1] * 1000 : 0;
    unsigned todo = screen_stamps_todo(&s, enabled, now);
    if (todo & ~enabled)
        __builtin_trap();
    /* Keeping with no retention means nothing is due. */
    if (screen_stamps_keep(&s, enabled, now, 0) != (todo == 0))
        __builtin_trap();

    char buf[SCREEN_VALUE_MAX], buf2[SCREEN_VALUE_MAX];
    struct screen_stamps w = s;
    int n = screen_stamps_format(&w, enabled, buf, sizeof(buf));
    if (n <= 0 || (size_t)n >= sizeof(buf) || strlen(buf) != (size_t)n)
        __builtin_trap();
    if (screen_stamps_parse(buf, (size_t)n, &back) != SCREEN_PARSE_OK ||
        memcmp(&back, &w, sizeof(w)) != 0)
        __builtin_trap();
    int n2 = screen_stamps_format(&back, enabled, buf2, sizeof(buf2));
    if (n2 != n || memcmp(buf, buf2, (size_t)n) != 0)
        __builtin_trap();
    /* Writing only ever turns NEW into DISABLED, for disabled tests. */
    for (int i = 0; i < SCREEN_NTESTS; i++)
        if (w.t[i] != s.t[i] && !(s.t[i] == SCREEN_STAMP_NEW && w.t[i] == SCREEN_STAMP_DISABLED &&
                                  !(enabled & SCREEN_BIT(i))))
            __builtin_trap();
    return 0;
}
