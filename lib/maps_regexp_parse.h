/*
 * maps_regexp_parse.h - pure parser of regexp_table(5) and pcre_table(5) text.
 *
 * rxp_parse() turns the text of a regexp: or pcre: table into a flat rule
 * list: patterns (id = index in file order, the Hyperscan id), rules
 * (match / if / endif with their nesting) and result templates split into
 * literal text and $n references. Everything refers to other parts by
 * index or by offset into one string pool, so a parsed table can be copied
 * or placed in shared memory as it is.
 *
 * Syntax is Postfix 3.7's: logical lines as readllines() builds them
 * (a line starting with white space continues the previous one; blank and
 * '#' lines are skipped even between a line and its continuation),
 * "[!]/pattern/flags result", regexp's "/p1/flags!/p2/flags result",
 * "if [!]/pattern/flags" ... "endif" (case-insensitive, nesting), any
 * delimiter, $n ${n} $(n) $$ in results (mac_parse rules).
 *
 * On failure the outcome is RXP_SYNTAX and err holds the logical line
 * number and a message. Where Postfix warns and skips a rule or ignores a
 * line, we refuse the table: a rule that silently disappears is worse
 * than a start-up error (see the notes at each message in the .c file).
 * Memory exhaustion dies (xmalloc): this runs at configuration time.
 */
#ifndef MX_MAPS_REGEXP_PARSE_H
#define MX_MAPS_REGEXP_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum rxp_dialect {
    RXP_REGEXP, /* regexp_table(5): POSIX regcomp() */
    RXP_PCRE,   /* pcre_table(5): PCRE2 */
};

/* Pattern flags after applying the per-pattern toggles to the defaults. */
enum rxp_flags {
    RXP_F_ICASE = 1u << 0,     /* i: both dialects, default on */
    RXP_F_MULTILINE = 1u << 1, /* m: REG_NEWLINE / PCRE2_MULTILINE */
    RXP_F_EXTENDED = 1u << 2,  /* x: regexp default on (off = BRE); pcre PCRE2_EXTENDED */
    RXP_F_DOTALL = 1u << 3,    /* s: pcre only, default on */
    RXP_F_ANCHORED = 1u << 4,  /* A: pcre only */
    RXP_F_DOLLAR_ENDONLY = 1u << 5, /* E: pcre only */
    RXP_F_UNGREEDY = 1u << 6,  /* U: pcre only */
};

struct rxp_pattern {
    uint32_t text_off; /* NUL-terminated pattern text in the pool */
    uint32_t text_len;
    uint32_t flags;    /* enum rxp_flags */
    uint32_t lineno;
};

enum rxp_op {
    RXP_MATCH = 1,
    RXP_IF = 2,
    RXP_ENDIF = 3,
};

struct rxp_rule {
    uint8_t op;        /* enum rxp_op */
    uint8_t neg1;      /* first pattern (or the IF condition) negated */
    uint8_t neg2;      /* second pattern negated (regexp /p1/!/p2/) */
    uint32_t lineno;
    int32_t pat1;      /* pattern id, -1 for ENDIF */
    int32_t pat2;      /* second pattern id or -1 */
    int32_t parent;    /* innermost enclosing IF rule index, -1 at top */
    int32_t endif;     /* IF: index of its ENDIF rule */
    uint32_t seg_first; /* MATCH: result template segments */
    uint32_t seg_count;
    uint32_t max_sub;  /* largest $n in the result, 0 if none */
};

/* One piece of a result: literal text ($$ already made $) or group $n. */
struct rxp_seg {
    uint32_t group; /* 0: literal pool[off..off+len), else $group */
    uint32_t off;
    uint32_t len;
};

struct rxp_table {
    char *pool;
    size_t pool_len, pool_cap;
    struct rxp_pattern *pats;
    size_t npats, pats_cap;
    struct rxp_rule *rules;
    size_t nrules, rules_cap;
    struct rxp_seg *segs;
    size_t nsegs, segs_cap;
};

enum rxp_status {
    RXP_OK = 0,
    RXP_SYNTAX = 1,
};

struct rxp_error {
    unsigned line; /* logical line number (first physical line), 0 if none */
    char msg[256];
};

/* Parse buf[0..len). out is initialised here; free it with rxp_table_free
 * (also after RXP_SYNTAX). */
enum rxp_status rxp_parse(const char *buf, size_t len, enum rxp_dialect dialect,
                          struct rxp_table *out, struct rxp_error *err);
void rxp_table_free(struct rxp_table *t);

static inline const char *rxp_pattern_text(const struct rxp_table *t, const struct rxp_pattern *p)
{
    return t->pool + p->text_off;
}

#endif
