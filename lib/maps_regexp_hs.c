/*
 * maps_regexp_hs.c - the Hyperscan side of regexp:/pcre: tables: each
 * pattern's expression, flags and mode (exact, confirmed by the real
 * engine, or left to it), the header-name partitions with their rests
 * (see maps_regexp.c's header and regex_anchor.h), compiling the
 * databases (a pattern Hyperscan refuses in a batch is demoted and the
 * batch retried) and placing them in the policy segment.
 * Failure: a database that does not compile or place is an error naming
 * the table file; nothing here logs.
 */
#include "maps_regexp_int.h"
#include "regex_posix.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rx_part_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rx_part *)a)->name, ((const struct rx_part *)b)->name);
}

/* Decide each pattern's Hyperscan expression, flags and mode. */
void rx_hs_prepare(struct rx_map *m, struct hs_input *in)
{
    const struct rxp_table *t = &m->s.t;
    struct strbuf sb;
    strbuf_init(&sb);
    for (size_t p = 0; p < t->npats; p++) {
        const struct rxp_pattern *pat = &t->pats[p];
        const char *text = rxp_pattern_text(t, pat);
        unsigned fl = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY, xf = 0;
        in->expr[p] = NULL;
        m->s.mode[p] = RX_ALWAYS;
        if (m->l.dialect == RXP_REGEXP) {
            enum rxposix_result r = rxposix_translate(text, rx_regexp_cflags(pat->flags), &sb, &xf);
            if (r == RXPOSIX_UNSUPPORTED)
                continue;
            m->s.mode[p] = r == RXPOSIX_EXACT ? RX_EXACT : RX_CONFIRM;
            in->expr[p] = xstrdup(strbuf_cstr(&sb));
        } else {
            /* Hyperscan speaks PCRE; (?x) for the x flag. A and E only
             * narrow the match: Hyperscan without them is a superset. */
            xf = ((pat->flags & RXP_F_ICASE) ? HS_FLAG_CASELESS : 0) |
                 ((pat->flags & RXP_F_MULTILINE) ? HS_FLAG_MULTILINE : 0) |
                 ((pat->flags & RXP_F_DOTALL) ? HS_FLAG_DOTALL : 0);
            m->s.mode[p] = (pat->flags & (RXP_F_ANCHORED | RXP_F_DOLLAR_ENDONLY)) ? RX_CONFIRM : RX_EXACT;
            in->expr[p] = xasprintf("%s%s", (pat->flags & RXP_F_EXTENDED) ? "(?x)" : "", text);
        }
        fl |= xf;
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *ce = NULL;
        if (hs_expression_info(in->expr[p], fl, &info, &ce) != HS_SUCCESS) {
            hs_free_compile_error(ce);
            ce = NULL;
            /* Back-references and the like: Hyperscan can still pre-filter. */
            if (hs_expression_info(in->expr[p], fl | HS_FLAG_PREFILTER, &info, &ce) != HS_SUCCESS) {
                hs_free_compile_error(ce);
                free(in->expr[p]);
                in->expr[p] = NULL;
                m->s.mode[p] = RX_ALWAYS;
                continue;
            }
            fl |= HS_FLAG_PREFILTER;
            m->s.mode[p] = RX_CONFIRM;
        }
        free(info);
        in->flags[p] = fl;
    }
    strbuf_free(&sb);
}

/* Partition membership: pattern p is in partition `which` (-1: generic). */
static int rx_in_part(const struct hs_input *in, const int32_t *part, size_t p, int32_t which)
{
    if (which < 0)
        return part[p] < 0;
    for (size_t k = in->name_off[p]; k < in->name_off[p + 1]; k++)
        if (in->name_part[k] == which)
            return 1;
    return 0;
}

/* Compile the patterns whose part[] equals `which` into *db; a pattern
 * Hyperscan refuses in the batch is demoted (exact -> prefilter -> real
 * engine only) and the batch retried. A demotion is global: a pattern in
 * several partitions is then confirmed everywhere, which is always right. */
static int hs_build_one(struct rx_map *m, struct hs_input *in, const int32_t *part, int32_t which,
                        hs_database_t **db, const char *file, struct map_err *err)
{
    size_t np = m->s.t.npats;
    int strip = which >= 0 && m->s.parts[which].strip;
    char **expr = strip ? in->rest_expr : in->expr;
    unsigned *flags = strip ? in->rest_flags : in->flags;
    const char **ex = xmalloc((np ? np : 1) * sizeof(*ex));
    unsigned *fl = xmalloc((np ? np : 1) * sizeof(*fl));
    unsigned *ids = xmalloc((np ? np : 1) * sizeof(*ids));
    int rc = 0;

    *db = NULL;
    for (;;) {
        unsigned n = 0;
        for (size_t p = 0; p < np; p++)
            if (m->s.mode[p] != RX_ALWAYS && expr[p] && rx_in_part(in, part, p, which)) {
                ex[n] = expr[p];
                fl[n] = flags[p];
                ids[n++] = (unsigned)p;
            }
        if (n == 0)
            break;
        hs_compile_error_t *ce = NULL;
        if (hs_compile_multi(ex, fl, ids, n, HS_MODE_BLOCK, NULL, db, &ce) == HS_SUCCESS)
            break;
        if (ce->expression < 0) {
            map_err_set(err, "%s: hyperscan: %s", file, ce->message);
            hs_free_compile_error(ce);
            rc = -EINVAL;
            break;
        }
        unsigned p = ids[ce->expression];
        hs_free_compile_error(ce);
        const struct rx_tail *tails = strip ? m->s.tail_rest : m->s.tail_whole;
        if (tails && tails[p].len) {
            /* A cut literal's tail is compared at the prefix's end offsets,
             * which a prefilter match does not promise: engine only. */
            m->s.mode[p] = RX_ALWAYS;
        } else if (!(flags[p] & HS_FLAG_PREFILTER)) {
            flags[p] |= HS_FLAG_PREFILTER;
            m->s.mode[p] = RX_CONFIRM;
        } else {
            m->s.mode[p] = RX_ALWAYS;
        }
    }
    free(ex);
    free(fl);
    free(ids);
    return rc;
}

/*
 * The Hyperscan expression for what pattern p says after its anchor prefix
 * "^Name:" (text[off..]), scanned over a key's text after its ':'. When the
 * rest starts with ".*" and '.' matches every byte (POSIX ERE without m:
 * glibc's '.' takes a newline; PCRE with s, pcre_table's default), the rest
 * after the ".*" unanchored: Hyperscan runs it as a floating pattern,
 * measured 1.65 times faster than the whole anchored pattern on the 3,750
 * Subject rules of bench/maps' 10,000-rule table. Otherwise "^" + rest.
 * Left NULL (the partition then scans whole keys) when the rest looks
 * before its start, or translates less exactly than the whole pattern.
 */
static void rest_prepare(struct rx_map *m, struct hs_input *in, size_t p, size_t off)
{
    const struct rxp_pattern *pat = &m->s.t.pats[p];
    const char *text = rxp_pattern_text(&m->s.t, pat);
    const char *r = text + off;
    size_t rlen = pat->text_len - off;
    enum regex_anchor_syntax syn =
        m->l.dialect == RXP_REGEXP ? REGEX_ANCHOR_POSIX_ERE : REGEX_ANCHOR_PCRE;
    int dot_all = m->l.dialect == RXP_REGEXP ? !(pat->flags & RXP_F_MULTILINE)
                                             : (pat->flags & RXP_F_DOTALL) != 0;

    in->rest_expr[p] = NULL;
    if (!in->expr[p] || m->s.mode[p] == RX_ALWAYS ||
        !regex_anchor_rest_local(text, pat->text_len, off, syn))
        return;
    int floating = dot_all && rlen > 2 && r[0] == '.' && r[1] == '*' && !strchr("*+?{", r[2]);
    for (int tries = floating ? 2 : 1; tries > 0; tries--, floating = 0) {
        char *cand = floating ? xasprintf("%.*s", (int)(rlen - 2), r + 2)
                              : xasprintf("^%.*s", (int)rlen, r);
        char *expr = NULL;
        unsigned fl = in->flags[p];
        if (m->l.dialect == RXP_REGEXP) {
            struct strbuf sb;
            unsigned xf = 0;
            strbuf_init(&sb);
            enum rxposix_result tr = rxposix_translate(cand, rx_regexp_cflags(pat->flags), &sb, &xf);
            if (tr == RXPOSIX_EXACT || (tr == RXPOSIX_SUPERSET && m->s.mode[p] == RX_CONFIRM))
                expr = xstrdup(strbuf_cstr(&sb));
            strbuf_free(&sb);
            free(cand);
        } else {
            expr = cand;
        }
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *ce = NULL;
        if (expr && hs_expression_info(expr, fl, &info, &ce) == HS_SUCCESS) {
            free(info);
            in->rest_expr[p] = expr;
            in->rest_flags[p] = fl;
            return;
        }
        hs_free_compile_error(ce);
        free(expr);
    }
}

/* Find each pattern's header names and build the partition list. */
static void rx_partition(struct rx_map *m, struct hs_input *in, int32_t *part)
{
    const struct rxp_table *t = &m->s.t;
    size_t np = t->npats, eligible = 0;
    char names[REGEX_ANCHOR_NAMES_MAX][REGEX_ANCHOR_NAME_MAX];

    in->name_off = xcalloc(np + 1, sizeof(*in->name_off));
    for (size_t p = 0; p < np; p++)
        part[p] = -1;
    for (size_t p = 0; p < np; p++)
        eligible += m->s.mode[p] != RX_ALWAYS;
    for (size_t p = 0; p < np; p++) {
        const struct rxp_pattern *pat = &t->pats[p];
        int n = 0;
        size_t off = 0;
        in->name_off[p + 1] = in->name_off[p];
        if (eligible < RX_PARTITION_MIN || m->s.mode[p] == RX_ALWAYS ||
            !(pat->flags & RXP_F_ICASE) || (pat->flags & RXP_F_MULTILINE))
            continue;
        if (m->l.dialect == RXP_REGEXP && (pat->flags & RXP_F_EXTENDED))
            n = regex_anchor_split(rxp_pattern_text(t, pat), pat->text_len, REGEX_ANCHOR_POSIX_ERE,
                                   names, &off);
        else if (m->l.dialect == RXP_PCRE && !(pat->flags & RXP_F_EXTENDED))
            n = regex_anchor_split(rxp_pattern_text(t, pat), pat->text_len, REGEX_ANCHOR_PCRE, names,
                                   &off);
        if (n > 0)
            rest_prepare(m, in, p, off);
        for (int k = 0; k < n; k++) {
            size_t i;
            for (i = 0; i < m->s.nparts; i++)
                if (strcmp(m->s.parts[i].name, names[k]) == 0)
                    break;
            if (i == m->s.nparts) {
                m->s.parts = xrealloc(m->s.parts, (m->s.nparts + 1) * sizeof(*m->s.parts));
                strcpy(m->s.parts[i].name, names[k]);
                m->s.parts[i].db = NULL;
                m->s.parts[i].placed = 0;
                m->s.parts[i].strip = 1;
                m->s.nparts++;
            }
            in->name_part = xrealloc(in->name_part, (in->name_off[p + 1] + 1) * sizeof(int32_t));
            in->name_part[in->name_off[p + 1]++] = (int32_t)i;
            part[p] = (int32_t)i;
            if (!in->rest_expr[p])
                m->s.parts[i].strip = 0; /* one whole-key pattern: the part scans whole keys */
        }
    }
}

/*
 * Hand Hyperscan each expression that ends in literal bytes whose end is
 * common in this table without the last of them (maps_regexp_lit.c says
 * why and how much); the rest goes to tail_whole or tail_rest, lower-cased
 * when the pattern is caseless, and the pattern loses HS_FLAG_SINGLEMATCH
 * so that every end of the prefix is reported and compared.
 */
static void rx_cut_literals(struct rx_map *m, struct hs_input *in)
{
    size_t np = m->s.t.npats, n = 0, pool_len = 0, pool_cap = 0;
    char **lit = xcalloc(2 * np + 1, sizeof(*lit));
    size_t **off = xcalloc(2 * np + 1, sizeof(*off));
    size_t *len = xcalloc(2 * np + 1, sizeof(*len)), *slot = xcalloc(2 * np + 1, sizeof(*slot));
    size_t *keep = xcalloc(2 * np + 1, sizeof(*keep));

    for (size_t k = 0; k < 2 * np; k++) {
        size_t p = k % np;
        const char *e = k < np ? in->expr[p] : in->rest_expr[p];
        unsigned fl = k < np ? in->flags[p] : in->rest_flags[p];
        if (!e || m->s.mode[p] == RX_ALWAYS || (fl & HS_FLAG_PREFILTER))
            continue;
        size_t elen = strlen(e);
        char *b = xmalloc(elen + 1);
        size_t *o = xmalloc((elen + 1) * sizeof(*o));
        if ((len[n] = rx_lit_split(e, b, o)) > 0) {
            lit[n] = b;
            off[n] = o;
            slot[n++] = k;
        } else {
            free(b);
            free(o);
        }
    }
    rx_lit_cuts((const char *const *)lit, len, n, keep);
    for (size_t i = 0; i < n; i++) {
        if (keep[i] == len[i])
            continue;
        size_t p = slot[i] % np, tl = len[i] - keep[i];
        int rest = slot[i] >= np;
        char **expr = rest ? &in->rest_expr[p] : &in->expr[p];
        unsigned *fl = rest ? &in->rest_flags[p] : &in->flags[p];
        struct rx_tail **tails = rest ? &m->s.tail_rest : &m->s.tail_whole;
        if (!*tails)
            *tails = xcalloc(np, sizeof(**tails));
        if (pool_len + tl > pool_cap) {
            pool_cap = 2 * (pool_len + tl);
            m->s.tail_pool = xrealloc(m->s.tail_pool, pool_cap);
        }
        struct rx_tail *t = &(*tails)[p];
        t->off = (uint32_t)pool_len;
        t->len = (uint32_t)tl;
        t->icase = (*fl & HS_FLAG_CASELESS) != 0;
        for (size_t j = 0; j < tl; j++) {
            char c = lit[i][keep[i] + j];
            m->s.tail_pool[pool_len++] = t->icase && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        (*expr)[off[i][keep[i]]] = '\0'; /* the expression without the tail */
        *fl &= ~(unsigned)HS_FLAG_SINGLEMATCH;
    }
    m->s.tail_pool_len = pool_len;
    for (size_t i = 0; i < n; i++) {
        free(lit[i]);
        free(off[i]);
    }
    free(lit);
    free(off);
    free(len);
    free(slot);
    free(keep);
}

/* The generic database and one per partition; partitions end up sorted by
 * name for bsearch, and one whose patterns all fell out is dropped. */
int rx_hs_build(struct rx_map *m, struct hs_input *in, const char *file, struct map_err *err)
{
    size_t np = m->s.t.npats;
    int32_t *part = xmalloc((np ? np : 1) * sizeof(*part));
    rx_partition(m, in, part);
    rx_cut_literals(m, in);
    int rc = hs_build_one(m, in, part, -1, &m->s.db, file, err);
    for (size_t i = 0; rc == 0 && i < m->s.nparts; i++)
        rc = hs_build_one(m, in, part, (int32_t)i, &m->s.parts[i].db, file, err);
    size_t kept = 0;
    for (size_t i = 0; i < m->s.nparts; i++)
        if (m->s.parts[i].db)
            m->s.parts[kept++] = m->s.parts[i];
    m->s.nparts = kept;
    if (kept > 0) /* qsort(NULL, 0, ...) is undefined */
        qsort(m->s.parts, m->s.nparts, sizeof(*m->s.parts), rx_part_cmp);
    free(part);
    return rc;
}

/* ---- placement in shared memory ---- */

/* Move *db into the placer's memory (serialize, deserialize in place),
 * freeing the heap copy. On failure *db is left as it was. */
static int hs_place(hs_database_t **db, int *placed, const char *file, struct map_err *err)
{
    char *bytes = NULL;
    size_t len = 0, size = 0;
    if (hs_serialize_database(*db, &bytes, &len) != HS_SUCCESS) {
        map_err_set(err, "%s: hyperscan: cannot serialize database", file);
        return -ENOMEM;
    }
    int rc = 0;
    /* 8-byte alignment is Hyperscan's minimum; a cache line keeps the
     * bytecode's own 64-byte alignment free of padding. */
    void *at = NULL;
    if (hs_serialized_database_size(bytes, len, &size) != HS_SUCCESS)
        rc = -EIO;
    else if (!(at = maps_place_alloc(size, 64)))
        rc = -ENOMEM;
    else if (hs_deserialize_database_at(bytes, len, at) != HS_SUCCESS)
        rc = -EIO;
    free(bytes); /* hs_serialize_database uses the misc allocator: malloc */
    if (rc < 0) {
        map_err_set(err, "%s: cannot place hyperscan database in the policy segment (%zu bytes)",
                    file, size);
        return rc;
    }
    hs_free_database(*db);
    *db = at;
    *placed = 1;
    maps_place_count_db();
    return 0;
}

int rx_place_all(struct rx_map *m, const char *file, struct map_err *err)
{
    int rc = 0;
    if (m->s.db)
        rc = hs_place(&m->s.db, &m->s.db_placed, file, err);
    for (size_t i = 0; rc == 0 && i < m->s.nparts; i++)
        rc = hs_place(&m->s.parts[i].db, &m->s.parts[i].placed, file, err);
    return rc;
}
