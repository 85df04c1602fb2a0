/*
 * fuzz_inline_rules.c - inline_rules_text() (Postfix 3.7's inline pattern
 * tables "regexp:{ {rule}, ... }") on arbitrary bytes, then the regexp
 * parser on the text it produced.
 *
 * Checks, beyond "no crash": on success the text is NUL-terminated at the
 * stated length, ends with a newline when not empty, and is shorter than
 * the input (every rule loses its two braces and gains one newline); on
 * failure there is no text and a reason. The first input byte selects the
 * dialect given to rxp_parse().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps_inline.h"
#include "maps_regexp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum rxp_dialect d = (data[0] & 1) ? RXP_PCRE : RXP_REGEXP;
    const char *in = (const char *)data + 1;
    size_t inlen = size - 1;
    char *text = NULL;
    size_t len = 0;
    char why[256];
    if (inline_rules_text(in, inlen, &text, &len, why, sizeof(why)) != INLINE_OK) {
        if (text != NULL || len != 0 || strlen(why) == 0)
            abort();
        return 0;
    }
    if (!text || strlen(text) != len || len >= strnlen(in, inlen) ||
        (len > 0 && text[len - 1] != '\n'))
        abort();
    struct rxp_table t;
    struct rxp_error e;
    (void)rxp_parse(text, len, d, &t, &e);
    rxp_table_free(&t);
    free(text);
    return 0;
}
