/*
 * fuzz_inline.c - the inline:{...} parser on arbitrary bytes.
 *
 * Checks, beyond "no crash": on success the entries are sorted with no
 * duplicate keys, keys and values are NUL-terminated with the stated
 * lengths, keys are folded when asked, and inline_find() finds each key.
 * The first input byte selects folding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps_inline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int fold = data[0] & 1;
    struct inline_table t;
    char why[256];
    if (inline_parse((const char *)data + 1, size - 1, fold, &t, why, sizeof(why)) != INLINE_OK) {
        if (t.n != 0 || t.entries != NULL || strlen(why) == 0)
            abort();
        return 0;
    }
    if (t.n == 0)
        abort();
    for (size_t i = 0; i < t.n; i++) {
        const struct inline_entry *e = &t.entries[i];
        if (strlen(e->key) != e->keylen || strlen(e->value) != e->valuelen)
            abort();
        if (i > 0 && strcmp(t.entries[i - 1].key, e->key) >= 0)
            abort();
        for (size_t k = 0; fold && k < e->keylen; k++)
            if (e->key[k] >= 'A' && e->key[k] <= 'Z')
                abort();
        if (inline_find(&t, e->key, e->keylen) != e)
            abort();
    }
    inline_table_free(&t);
    return 0;
}
