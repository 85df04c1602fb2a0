/*
 * fuzz_cidr_table.c - the cidr_table(5) parser on arbitrary bytes.
 *
 * Checks, beyond "no crash": every rule is sane (prefix within the family,
 * no host bits, an IF's block_end points at a later ENDIF, a MATCH has a
 * NUL-terminated non-empty result), and the reference matcher answers
 * for addresses made from the input without reading out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps_cidr_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cidr_table t;
    cidr_table_parse((const char *)data, size, "fuzz", &t);
    for (size_t i = 0; i < t.nrules; i++) {
        const struct cidr_rule *r = &t.rules[i];
        if (r->op == CIDR_OP_ENDIF)
            continue;
        int bytes = r->family == 6 ? 16 : 4;
        if ((r->family != 4 && r->family != 6) || r->prefix > bytes * 8)
            abort();
        for (int k = 0; k < 16; k++)
            if (r->net[k] & ~r->mask[k])
                abort();
        if (r->op == CIDR_OP_IF && r->block_end != CIDR_NO_END &&
            (r->block_end <= i || r->block_end >= t.nrules ||
             t.rules[r->block_end].op != CIDR_OP_ENDIF))
            abort();
        if (r->op == CIDR_OP_MATCH &&
            (r->valuelen == 0 || strlen(r->value) != r->valuelen))
            abort();
    }
    uint8_t addr[16] = {0};
    for (size_t off = 0; off + 16 <= size && off < 256; off += 16) {
        memcpy(addr, data + off, 16);
        long a = cidr_table_match_linear(&t, addr, 4);
        long b = cidr_table_match_linear(&t, addr, 6);
        if (a >= (long)t.nrules || b >= (long)t.nrules)
            abort();
    }
    cidr_table_free(&t);
    return 0;
}
