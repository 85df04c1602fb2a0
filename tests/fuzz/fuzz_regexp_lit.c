/*
 * fuzz_regexp_lit.c - the literal ends of expressions (maps_regexp_lit.c).
 *
 * The input is a list of Hyperscan expressions, one per line. Each is
 * split (rx_lit_split): the run must fit the expression, its offsets must
 * increase and stay inside it, and when Hyperscan accepts the whole
 * expression it must accept the shortest prefix offered too (the one
 * without the whole run, when that is not empty). Then the runs are cut
 * together (rx_lit_cuts): each keeps at least RX_LIT_MIN_KEEP bytes (or all
 * of a shorter one) and never more than it has. Crashes, sanitizer reports
 * and broken invariants are the failures.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps_regexp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES 64
#define MAX_COMPILE 200 /* bytes: keep each run fast */

static void check_prefix(const char *e, size_t cut)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *ce = NULL;
    if (cut == 0 || strlen(e) > MAX_COMPILE)
        return;
    if (hs_expression_info(e, HS_FLAG_ALLOWEMPTY, &info, &ce) != HS_SUCCESS) {
        hs_free_compile_error(ce);
        return;
    }
    free(info);
    char *pre = strndup(e, cut);
    if (hs_expression_info(pre, HS_FLAG_ALLOWEMPTY, &info, &ce) != HS_SUCCESS) {
        /* "a\bxy" can never match, nor can "a\bx": the same verdict is fine */
        if (strstr(ce->message, "never match") == NULL)
            abort();
        hs_free_compile_error(ce);
    } else {
        free(info);
    }
    free(pre);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *runs[MAX_LINES];
    size_t lens[MAX_LINES], keep[MAX_LINES], n = 0;
    char *line = text;
    while (n < MAX_LINES && line) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        size_t elen = strlen(line);
        char *run = malloc(elen + 1);
        size_t *off = malloc((elen + 1) * sizeof(*off));
        size_t len = rx_lit_split(line, run, off);
        if (len > elen)
            abort();
        for (size_t k = 0; k < len; k++)
            if (off[k] >= elen || (k > 0 && off[k] <= off[k - 1]))
                abort();
        if (len > 0) {
            check_prefix(line, off[0]);
            runs[n] = run;
            lens[n++] = len;
        } else {
            free(run);
        }
        free(off);
        line = end ? end + 1 : NULL;
    }
    rx_lit_cuts((const char *const *)runs, lens, n, keep);
    for (size_t i = 0; i < n; i++) {
        size_t min = lens[i] < RX_LIT_MIN_KEEP ? lens[i] : RX_LIT_MIN_KEEP;
        if (keep[i] < min || keep[i] > lens[i])
            abort();
        free(runs[i]);
    }
    free(text);
    return 0;
}
