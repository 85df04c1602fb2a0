/*
 * maps_regexp_int.h - what maps_regexp.c (parse, engines, lookup, open)
 * and maps_regexp_hs.c (the Hyperscan databases: expressions, partitions,
 * placement in shared memory) share. Not an interface for anything else.
 */
#ifndef MX_MAPS_REGEXP_INT_H
#define MX_MAPS_REGEXP_INT_H

#include "maps.h"
#include "maps_regexp_parse.h"
#include "regex_anchor.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <pcre2.h>
#include <regex.h>
#include <stdint.h>

enum rx_mode { RX_EXACT = 0, RX_CONFIRM = 1, RX_ALWAYS = 2 };

/* Below this many patterns one database is as fast as any split. */
#define RX_PARTITION_MIN 64

struct rx_part {
    char name[REGEX_ANCHOR_NAME_MAX]; /* lower case, without ':' */
    hs_database_t *db;
    int placed;             /* db is in the placer's memory: not ours to free */
    int strip;              /* db holds the patterns' rests: scan the key after its ':' */
};

/* The rest of a literal pattern Hyperscan was given only a prefix of
 * (maps_regexp_lit.c): tail_pool[off..off+len), compared at the reported
 * end offset; len 0: nothing to compare. */
struct rx_tail {
    uint32_t off;
    uint32_t len;
    uint8_t icase;
};

struct rx_shared {
    struct rxp_table t;
    uint8_t *mode;          /* per pattern, enum rx_mode */
    int32_t *pat_rule;      /* per pattern: MATCH rule it is the positive first pattern of, or -1 */
    int32_t *always;        /* MATCH rules to look at on every lookup, ascending */
    size_t nalways;
    hs_database_t *db;      /* patterns not in a partition; NULL if none */
    int db_placed;          /* db is in the placer's memory: not ours to free */
    struct rx_part *parts;  /* sorted by name */
    size_t nparts;
    struct rx_tail *tail_whole; /* per pattern, for its whole expression; NULL: none cut */
    struct rx_tail *tail_rest;  /* per pattern, for its rest (strip partitions); NULL: none */
    char *tail_pool;
    size_t tail_pool_len;
    int placed;             /* the arrays above and the PCRE2 code are in the placer's memory */
};

struct rx_local {
    enum rxp_dialect dialect;
    void **engine;          /* per pattern: regex_t * or pcre2_code *, NULL if not needed */
    hs_scratch_t *scratch;
    pcre2_match_data *md;
    regmatch_t *pmatch;
    size_t pmatch_n;
    uint32_t gen;
    uint32_t *hs_stamp;     /* per pattern: == gen when Hyperscan reported it */
    uint32_t *ev_stamp;     /* per pattern: == gen when ev_val is valid */
    uint8_t *ev_val;
    uint32_t *if_stamp;     /* per rule (IF rules): == gen when if_val is valid */
    uint8_t *if_val;
    int32_t *cand;          /* candidates reported in this scan */
    size_t ncand;
    const char *key;
    size_t keylen;
    const struct rx_tail *scan_tail; /* the tails of the database being scanned */
    const char *scan_buf;           /* and the text it scans */
    size_t scan_len;
};

struct rx_map {
    struct rx_shared s;
    struct rx_local l;
};

/* What the database build needs per pattern; freed after open. */
struct hs_input {
    char **expr;
    unsigned *flags;
    size_t *name_off;   /* per pattern: its partitions are name_part[name_off[p]..name_off[p+1]) */
    int32_t *name_part;
    char **rest_expr;   /* per pattern: the expression for its text after the anchor, or NULL */
    unsigned *rest_flags;
};

static inline int rx_regexp_cflags(uint32_t f)
{
    return ((f & RXP_F_EXTENDED) ? REG_EXTENDED : 0) | ((f & RXP_F_ICASE) ? REG_ICASE : 0) |
           ((f & RXP_F_MULTILINE) ? REG_NEWLINE : 0);
}

/* maps_regexp_lit.c */
#define RX_LIT_RARE 8     /* a 4-byte end in at most this many literals is rare */
#define RX_LIT_MIN_KEEP 4 /* never give Hyperscan less of a literal */
size_t rx_lit_split(const char *expr, char *run, size_t *off);
void rx_lit_cuts(const char *const *lits, const size_t *lens, size_t n, size_t *keep);

/* maps_regexp_hs.c */
void rx_hs_prepare(struct rx_map *m, struct hs_input *in);
int rx_hs_build(struct rx_map *m, struct hs_input *in, const char *file, struct map_err *err);
int rx_place_all(struct rx_map *m, const char *file, struct map_err *err);
int rx_part_cmp(const void *a, const void *b);

#endif
