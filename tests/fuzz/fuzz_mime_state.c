/*
 * fuzz_mime_state.c - any bytes, in any chunking, into the content parser.
 *
 * The first bytes choose small limits (so truncation, splitting, nesting
 * and the body size limit are reached quickly) and the options; the rest
 * is the message, fed in chunks whose sizes come from a simple generator
 * seeded by the input. Invariants: no crash, header units within
 * header_size_limit plus one line, body units within line_length_limit,
 * header text NUL-terminated at its length, exactly one end of headers,
 * and the same units and errors as when the message is fed in one piece.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
    const struct mime_limits *lim;
    uint64_t hash;
    size_t units, header_ends;
};

static void check(void *ctx, const struct mime_unit *u)
{
    struct sink *s = ctx;
    size_t line_max = s->lim->line_length_limit + 16; /* "X-Mailbox-Line: " */
    if (u->cls == MIME_CLASS_BODY) {
        if (u->raw_len > s->lim->line_length_limit || u->len > u->raw_len)
            __builtin_trap();
    } else if (u->cls == MIME_CLASS_HEADER_END) {
        s->header_ends++;
    } else {
        if (u->len > s->lim->header_size_limit + 1 + line_max || u->text[u->len] != '\0' ||
            strlen(u->text) != u->len)
            __builtin_trap();
    }
    /* FNV-1a over everything the caller could observe. */
    uint64_t h = s->hash ^ ((uint64_t)u->cls << 8 | u->flags);
    h *= 1099511628211u;
    h ^= u->offset;
    h *= 1099511628211u;
    for (size_t i = 0; i < u->len; i++) {
        h ^= (unsigned char)u->text[i];
        h *= 1099511628211u;
    }
    s->hash = h;
    s->units++;
}

static unsigned feed(const struct mime_limits *lim, unsigned opts, const uint8_t *msg, size_t n,
                     uint32_t seed, struct sink *s)
{
    struct mime_state *st;
    memset(s, 0, sizeof(*s));
    s->lim = lim;
    s->hash = 14695981039346656037u;
    if (mime_state_create(lim, opts, check, s, &st) != 0)
        __builtin_trap();
    mime_state_header(st, "Received: by fuzz\r\n\tid 1\r\n", 26);
    size_t pos = 0;
    while (pos < n) {
        size_t k = 1;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 16) % 97;
        } else {
            k = n - pos;
        }
        if (k > n - pos)
            k = n - pos;
        mime_state_feed(st, (const char *)msg + pos, k);
        pos += k;
    }
    unsigned errs = mime_state_finish(st);
    mime_state_free(st);
    if (s->header_ends != 1)
        __builtin_trap();
    return errs;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    struct mime_limits lim;
    mime_limits_default(&lim);
    lim.line_length_limit = 1 + data[0] % 64;
    lim.header_size_limit = 1 + data[1] % 200;
    lim.nesting_limit = data[2] % 4;
    lim.boundary_length_limit = 1 + data[3] % 16;
    lim.body_checks_size_limit = data[1] % 3 ? 0 : 50;
    unsigned opts = data[2] >> 6;
    uint32_t seed = (uint32_t)data[3] << 8 | data[0];
    struct sink whole, pieces;
    unsigned e1 = feed(&lim, opts, data + 4, size - 4, 0, &whole);
    unsigned e2 = feed(&lim, opts, data + 4, size - 4, seed | 1, &pieces);
    if (e1 != e2 || whole.hash != pieces.hash || whole.units != pieces.units)
        __builtin_trap();
    return 0;
}
