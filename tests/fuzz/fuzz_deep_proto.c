/*
 * fuzz_deep_proto.c - any bytes through the frontend's deep-test reader as
 * fe_deep.c drives it: lines framed one by one, each judged with every
 * test on. The first byte picks the options. Checks: framing stays inside
 * the input and ends at its LF, the word and rest point into the line,
 * a HELO answered by the frontend has an argument the handoff record
 * can carry, and only tests to do can fail.
 */
#include <stdint.h>
#include <string.h>

#include "deep_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int forbid(void *ctx, const char *w, size_t n)
{
    (void)ctx;
    return n > 0 && (w[0] < 'A' || (w[0] > 'Z' && w[0] < 'a') || w[0] > 'z');
}

static void check_in(const char *p, size_t n, const char *base, size_t len)
{
    if (p < base || p + n > base + len)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned opt = data[0];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1, off = 0;
    struct deep_line ln;
    while (deep_line_next(buf + off, len - off, &ln)) {
        if (ln.used == 0 || off + ln.used > len || buf[off + ln.used - 1] != '\n' ||
            ln.len + (ln.bare_lf ? 1u : 2u) != ln.used)
            __builtin_trap();
        struct deep_in in = {.todo = opt & 7u, .more = off + ln.used < len,
                             .bare_lf = ln.bare_lf, .smtputf8 = (opt & 8u) != 0,
                             .strict = (opt & 16u) != 0,
                             .forbidden = (opt & 32u) ? forbid : NULL};
        struct deep_verdict v;
        const char *line = buf + off;
        deep_judge(line, ln.len, &in, &v);
        check_in(v.word, v.word_len, line, ln.len);
        check_in(v.rest, v.rest_len, line, ln.len);
        if (v.failed & ~in.todo)
            __builtin_trap();
        if (v.next == DEEP_NEXT_HELO || v.next == DEEP_NEXT_EHLO) {
            check_in(v.helo, v.helo_len, line, ln.len);
            if (v.helo_len == 0 || v.helo_len > DEEP_HELO_MAX ||
                memchr(v.helo, '\0', v.helo_len) || memchr(v.helo, '\r', v.helo_len))
                __builtin_trap();
        }
        off += ln.used;
    }
    return 0;
}
