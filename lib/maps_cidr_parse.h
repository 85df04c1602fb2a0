/*
 * maps_cidr_parse.h - parser of cidr_table(5) source text, and the
 * reference (linear, first-match) matcher.
 *
 * The text is cut into logical lines as Postfix 3.7 readllines() does
 * (comments, blank lines, continuation lines that start with white space),
 * then each logical line is one rule, as in Postfix dict_cidr.c:
 *
 *     [!]...network[/prefix]  result     (IPv4 or IPv6, "[...]" allowed)
 *     if [!]...network[/prefix]          (Postfix 3.2+, case-insensitive)
 *     endif
 *
 * Postfix never refuses a cidr table: a bad rule is skipped with a warning
 * ("cidr map FILE, line N: bad mask length in "1.2.3.4/33": skipping this
 * rule"), and so does this parser; the warnings are returned with the
 * table, worded exactly as Postfix words them. Quirks kept on purpose:
 * the prefix length is stored in 8 bits as Postfix does ("/280" is "/24"),
 * an IF without ENDIF ends all matching when its test fails, a negated rule
 * only matches addresses of its own family.
 *
 * Pure: no I/O, no globals; the result owns its memory (cidr_table_free).
 * Allocation failure is fatal (xmalloc), as for every control path.
 */
#ifndef MX_MAPS_CIDR_PARSE_H
#define MX_MAPS_CIDR_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum cidr_op {
    CIDR_OP_MATCH, /* a rule with a result */
    CIDR_OP_IF,    /* enter the block when the test matches, else skip it */
    CIDR_OP_ENDIF, /* end of a block */
};

#define CIDR_NO_END UINT32_MAX

struct cidr_rule {
    uint8_t op;       /* enum cidr_op */
    uint8_t family;   /* 4 or 6; 0 for ENDIF */
    uint8_t match;    /* 1: match inside the network, 0: outside ("!") */
    uint8_t prefix;   /* network bits, 0..32 or 0..128 */
    uint8_t bad_utf8; /* the result is not UTF-8: a lookup that hits it fails */
    uint8_t net[16];  /* network bytes (host bits are zero) */
    uint8_t mask[16];
    uint32_t block_end; /* IF: index of its ENDIF, or CIDR_NO_END */
    int line;           /* first physical line of the rule, from 1 */
    const char *value;  /* MATCH: the result, NUL-terminated (in the table's arena) */
    size_t valuelen;
    size_t value_off;   /* offset of value in the arena */
};

struct cidr_table {
    struct cidr_rule *rules;
    size_t nrules;
    char *arena; /* all result strings */
    char **warnings; /* "cidr map NAME, line N: ...", as Postfix logs them */
    size_t nwarnings;
};

/*
 * Parse buf[0..len). name is the file name used in warnings. Always
 * succeeds (Postfix semantics); returns the number of warnings.
 */
size_t cidr_table_parse(const char *buf, size_t len, const char *name, struct cidr_table *out);
void cidr_table_free(struct cidr_table *t);

/*
 * Postfix's cidr_match_parse(): one "net/len", "addr", "[v6]/len" or
 * "[v6/len]" pattern into r (a MATCH rule, negated when match is 0),
 * modifying pattern in place. NULL, or why (filled) with Postfix's text:
 * bad mask value/length, bad network value, non-null host address bits,
 * bad address pattern, missing ']', garbage after "[...]". Shared by
 * cidr: tables and match lists (mynetworks, ...).
 */
const char *cidr_pattern_parse(char *pattern, int match, struct cidr_rule *r, char *why,
                               size_t whylen);

/* A lookup key as Postfix reads it: family by the presence of ':', then
 * inet_pton(). 0 and *family set (4 or 6), or -EINVAL: not an address. */
int cidr_key_parse(const char *key, uint8_t addr[16], int *family);

/* Whether rule r (MATCH or IF) accepts addr, with negation applied. */
int cidr_rule_accepts(const struct cidr_rule *r, const uint8_t addr[16], int family);

/* Reference matcher: Postfix's cidr_match_execute(), rule by rule. The
 * index of the first matching MATCH rule, or -1. */
long cidr_table_match_linear(const struct cidr_table *t, const uint8_t addr[16], int family);

#endif
