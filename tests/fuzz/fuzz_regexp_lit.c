/*
 * fuzz_regexp_lit.c - the literal expressions of maps_regexp_lit.c.
 *
 * The input is a list of Hyperscan expressions, one per line. Each is
 * decoded (rx_lit_decode); a literal must be no longer than its expression
 * and rx_lit_expr of its bytes must decode back to the same bytes. Then the
 * literals are cut together (rx_lit_cuts): each keeps at least
 * RX_LIT_MIN_KEEP bytes (or all of a shorter one) and never more than it
 * has. Crashes, sanitizer reports and broken invariants are the failures.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps_regexp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *lits[MAX_LINES];
    size_t lens[MAX_LINES], keep[MAX_LINES], n = 0;
    char *line = text;
    while (n < MAX_LINES && line) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        size_t elen = strlen(line);
        char *lit = malloc(elen + 1);
        size_t len = 0;
        if (rx_lit_decode(line, lit, &len)) {
            if (len == 0 || len > elen)
                abort();
            char *e = rx_lit_expr(lit, len);
            char *back = malloc(strlen(e) + 1);
            size_t blen = 0;
            if (!rx_lit_decode(e, back, &blen) || blen != len || memcmp(back, lit, len) != 0)
                abort();
            free(back);
            free(e);
            lits[n] = lit;
            lens[n++] = len;
        } else {
            free(lit);
        }
        line = end ? end + 1 : NULL;
    }
    rx_lit_cuts((const char *const *)lits, lens, n, keep);
    for (size_t i = 0; i < n; i++) {
        size_t min = lens[i] < RX_LIT_MIN_KEEP ? lens[i] : RX_LIT_MIN_KEEP;
        if (keep[i] < min || keep[i] > lens[i])
            abort();
        free(lits[i]);
    }
    free(text);
    return 0;
}
