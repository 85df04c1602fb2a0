/*
 * fuzz_data_frame.c - any bytes as DATA (or BDAT) content, in any chunking.
 *
 * The first two bytes choose the smtpd_forbid_bare_newline mode, DATA or
 * BDAT, a small line_length_limit and message_size_limit; the rest is fed
 * in chunks whose sizes come from a generator seeded by the input.
 * Invariants: no crash; never more bytes passed on than taken (BDAT may
 * add one '.' per line); the end, the bytes used, the errors, the size
 * count and (without errors) the bytes passed on are the same as when the
 * input is fed in one piece.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct acc {
    uint64_t hash, n;
};

static void out(void *ctx, const char *p, size_t n)
{
    struct acc *a = ctx;
    for (size_t i = 0; i < n; i++)
        a->hash = (a->hash ^ (uint8_t)p[i]) * 1099511628211ull;
    a->n += n;
}

struct res {
    struct acc a;
    int end;
    size_t used;
    unsigned err;
    uint64_t size;
};

static void run(const struct data_frame_opts *o, int bdat, const char *buf, size_t len,
                uint32_t seed, struct res *r)
{
    struct data_frame f;
    size_t off = 0;
    memset(r, 0, sizeof(*r));
    r->a.hash = 14695981039346656037ull;
    if ((bdat ? data_frame_init_bdat(&f, o) : data_frame_init(&f, o)) != 0)
        __builtin_trap();
    while (!r->end) {
        size_t n = len - off;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            size_t c = (seed >> 16) % 17;
            if (c < n)
                n = c;
        }
        if (bdat) {
            int last = off + n == len;
            r->end = data_frame_bdat(&f, buf + off, n, last, out, &r->a) == DATA_FRAME_END;
            off += n;
        } else {
            size_t used = 0;
            r->end = data_frame_feed(&f, buf + off, n, &used, out, &r->a) == DATA_FRAME_END;
            if (used > n)
                __builtin_trap();
            off += used;
            if (off == len)
                break;
        }
    }
    r->used = off;
    r->err = f.err;
    r->size = f.size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct data_frame_opts o;
    struct res one, many;
    if (size < 2)
        return 0;
    o.bare_lf = (enum data_bare_lf)(data[0] % 3);
    int bdat = (data[0] >> 2) & 1;
    o.line_length_limit = 1 + (data[1] & 0x0f);
    o.message_size_limit = (data[1] >> 4) * 8u;
    const char *buf = (const char *)data + 2;
    size = size - 2;
    run(&o, bdat, buf, size, 0, &one);
    run(&o, bdat, buf, size, (uint32_t)size * 2654435761u | 1u, &many);
    if (one.end != many.end || one.used != many.used || one.err != many.err ||
        one.size != many.size)
        __builtin_trap();
    if (one.err == 0 && (one.a.hash != many.a.hash || one.a.n != many.a.n))
        __builtin_trap();
    if (one.a.n > (bdat ? 2 * size : size))
        __builtin_trap();
    return 0;
}
