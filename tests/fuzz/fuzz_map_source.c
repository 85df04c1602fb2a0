/*
 * fuzz_map_source.c - the postmap source parser on arbitrary bytes.
 *
 * Checks, beyond "no crash": every entry has a non-empty NUL-terminated
 * key without unquoted white space, a non-empty value without blanks at
 * either end, a line number within the input, and a folded key when
 * folding was asked for. The first input byte selects the flags.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps_source.h"

struct fz {
    int lines;
    unsigned flags;
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int fz_entry(void *ctx, const struct map_source_entry *e)
{
    const struct fz *f = ctx;
    if (e->keylen == 0 || e->valuelen == 0 || e->key[e->keylen] != '\0' ||
        e->value[e->valuelen] != '\0' || strlen(e->key) != e->keylen ||
        strlen(e->value) != e->valuelen)
        abort();
    if (is_blank(e->value[0]) || is_blank(e->value[e->valuelen - 1]) || is_blank(e->key[0]))
        abort();
    if (e->line < 1 || e->line > f->lines)
        abort();
    if (f->flags & MAP_SOURCE_FOLD)
        for (size_t i = 0; i < e->keylen; i++)
            if (e->key[i] >= 'A' && e->key[i] <= 'Z')
                abort();
    return 0;
}

static void fz_warn(void *ctx, const char *msg)
{
    (void)ctx;
    if (strlen(msg) >= 1024)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct map_source_ops ops = {fz_entry, fz_warn};
    struct fz f = {1, 0};

    if (size == 0)
        return 0;
    f.flags = data[0] & (MAP_SOURCE_FOLD | MAP_SOURCE_UTF8 | MAP_SOURCE_TEXTHASH);
    data++;
    size--;
    for (size_t i = 0; i < size; i++)
        f.lines += data[i] == '\n';
    if (map_source_parse((const char *)data, size, "fuzz", f.flags, &ops, &f) != 0)
        abort();
    return 0;
}
