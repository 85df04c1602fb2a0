/*
 * maps_regexp.c - "regexp:FILE" and "pcre:FILE" tables on one Hyperscan
 * database each.
 *
 * Open: the file is parsed (maps_regexp_parse.c), every pattern is
 * compiled once by its real engine (glibc regcomp for regexp:, PCRE2 for
 * pcre:) to validate it and learn its group count, then all patterns,
 * rule patterns and IF conditions alike (id = index in file order), go
 * into ONE block-mode Hyperscan database, HS_FLAG_SINGLEMATCH |
 * HS_FLAG_ALLOWEMPTY plus per-pattern flags. Each pattern has a mode:
 *   RX_EXACT   Hyperscan's answer is the answer;
 *   RX_CONFIRM Hyperscan says "maybe" (HS_FLAG_PREFILTER, or a superset
 *              translation); the real engine confirms a reported id;
 *   RX_ALWAYS  not in Hyperscan at all; the real engine decides.
 * Only a pattern the real engine refuses is an error ("FILE, line N: ...").
 * A name that starts with '{' is Postfix 3.7's inline table
 * "regexp:{ {rule}, {rule} }" (maps_inline.h: inline_rules_text): its
 * rules are parsed and built exactly as the lines of a file.
 *
 * Partitions: a table of at least RX_PARTITION_MIN patterns is cut by the
 * header name its patterns are anchored on (regex_anchor.c): one database
 * per name ("^Subject:...", "^(From|Reply-To):..." goes into two), and one
 * for every other pattern. A lookup scans the generic database and the one
 * of the key's own name (its text before the first ':'). Measured on 10,000
 * header_checks rules: a Received: line took 8.9 us against one database of
 * everything and 0.23 us against its own 1,249 rules. A partition whose
 * every pattern allows it holds each pattern's rest after "^Name:" (".*x"
 * as a floating "x") and scans only the key's text after its ':'.
 * An expression ending in literal bytes whose end many of the table's
 * expressions share (".example" in 1,249 sender-domain rules) is given to
 * Hyperscan without the common part, which is compared at each reported
 * end offset (maps_regexp_lit.c): Hyperscan confirms a shared literal end
 * against every literal with it, 2.9 us per From: key of bench/maps.
 * maps_regexp_hs.c builds the databases; this file parses, opens, looks up.
 *
 * Lookup: the scans of the key stamp the reported ids. The candidates are
 * the positive rules whose first pattern was reported plus the rules that
 * must always be looked at (negated or RX_ALWAYS first pattern), both in
 * file order; the first whose patterns and enclosing IF conditions all
 * hold wins. Cost is O(matches log matches + negated rules), not O(rules).
 * The real engine runs only to confirm, and on the winner when its result
 * uses $n (POSIX leftmost-longest captures for regexp:, as Postfix).
 *
 * Sharing: with a placer set (maps_set_placer, the master's policy
 * segment) each compiled database is serialized and placed in the shared
 * memory with hs_deserialize_database_at, and the heap copy freed; workers
 * then scan one read-only copy. The rest of struct rx_shared (the parsed
 * table: one pool, index-linked arrays; per-pattern modes, the candidate
 * indexes, the partitions, the cut literals' tails) and the engine array
 * follow once the open is done (rx_place_tables), and so does the PCRE2
 * code the lookups keep: compiled a second time through a general context
 * whose malloc is the placer. glibc's regex_t stays per process (malloc'd
 * internals, and regexec takes a lock inside it).
 * struct rx_local (real-engine objects, scratch, stamps) is per process:
 * the scratch allocated at open is copy-on-write in each forked worker,
 * so every process scans with its own.
 */
#include "maps_regexp_int.h"
#include "maps_inline.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- real engines ---- */


static uint32_t pcre_options(uint32_t f)
{
    return ((f & RXP_F_ICASE) ? PCRE2_CASELESS : 0) | ((f & RXP_F_MULTILINE) ? PCRE2_MULTILINE : 0) |
           ((f & RXP_F_EXTENDED) ? PCRE2_EXTENDED : 0) | ((f & RXP_F_DOTALL) ? PCRE2_DOTALL : 0) |
           ((f & RXP_F_ANCHORED) ? PCRE2_ANCHORED : 0) |
           ((f & RXP_F_DOLLAR_ENDONLY) ? PCRE2_DOLLAR_ENDONLY : 0) |
           ((f & RXP_F_UNGREEDY) ? PCRE2_UNGREEDY : 0);
}

/* Compile pattern text; *nsub gets the number of groups. 0 or -EINVAL
 * with the engine's message in why. */
static int engine_compile(enum rxp_dialect d, const char *text, size_t len, uint32_t flags,
                          pcre2_compile_context *cc, void **out, size_t *nsub, char *why,
                          size_t whylen)
{
    if (d == RXP_REGEXP) {
        regex_t *re = xmalloc(sizeof(*re));
        int rc = regcomp(re, text, rx_regexp_cflags(flags));
        if (rc != 0) {
            regerror(rc, re, why, whylen);
            free(re);
            return -EINVAL;
        }
        *nsub = re->re_nsub;
        *out = re;
        return 0;
    }
    int ecode;
    PCRE2_SIZE eoff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)text, len, pcre_options(flags), &ecode, &eoff, cc);
    if (!code) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(ecode, msg, sizeof(msg));
        snprintf(why, whylen, "%s at offset %zu", (const char *)msg, (size_t)eoff);
        return -EINVAL;
    }
    uint32_t n = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &n);
    *nsub = n;
    *out = code;
    return 0;
}

static void engine_free(enum rxp_dialect d, void *e)
{
    if (!e)
        return;
    if (d == RXP_REGEXP) {
        regfree(e);
        free(e);
    } else {
        pcre2_code_free(e);
    }
}

/* 1 match, 0 no match. With want > 0, captures 0..want-1 are left in
 * l->pmatch (regexp) or l->md (pcre). Engine errors count as no match,
 * with a warning, as Postfix does. */
static int engine_match(struct rx_map *m, int32_t pat, size_t want)
{
    struct rx_local *l = &m->l;
    void *e = l->engine[pat];
    if (l->dialect == RXP_REGEXP) {
        int rc = regexec(e, l->key, want, want ? l->pmatch : NULL, 0);
        if (rc == 0)
            return 1;
        if (rc != REG_NOMATCH)
            log_warn("regexp map, line %u: regexec error %d", m->s.t.pats[pat].lineno, rc);
        return 0;
    }
    int rc = pcre2_match(e, (PCRE2_SPTR)l->key, l->keylen, 0, 0, l->md, NULL);
    if (rc >= 0)
        return 1;
    if (rc != PCRE2_ERROR_NOMATCH)
        log_warn("pcre map, line %u: pcre2_match error %d", m->s.t.pats[pat].lineno, rc);
    return 0;
}

/* ---- lookup ---- */

static int on_hs_match(unsigned int id, unsigned long long from, unsigned long long to,
                       unsigned int flags, void *ctx)
{
    struct rx_map *m = ctx;
    struct rx_local *l = &m->l;
    (void)from;
    (void)flags;
    if (l->hs_stamp[id] == l->gen)
        return 0; /* a cut literal's prefix, again, or its second partition */
    if (l->scan_tail && l->scan_tail[id].len) {
        /* Only a prefix of this literal was in the database. */
        const struct rx_tail *t = &l->scan_tail[id];
        const char *want = m->s.tail_pool + t->off;
        if (to > l->scan_len || l->scan_len - to < t->len)
            return 0;
        const char *have = l->scan_buf + to;
        for (uint32_t i = 0; i < t->len; i++) {
            char c = have[i];
            if (t->icase && c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != want[i])
                return 0;
        }
    }
    m->l.hs_stamp[id] = m->l.gen;
    if (m->s.pat_rule[id] >= 0)
        m->l.cand[m->l.ncand++] = m->s.pat_rule[id];
    return 0;
}

/* Whether pattern p matches this key (cached per lookup). */
static int pat_matches(struct rx_map *m, int32_t p)
{
    struct rx_local *l = &m->l;
    if (l->ev_stamp[p] == l->gen)
        return l->ev_val[p];
    int v;
    switch (m->s.mode[p]) {
    case RX_EXACT:
        v = l->hs_stamp[p] == l->gen;
        break;
    case RX_CONFIRM:
        v = l->hs_stamp[p] == l->gen && engine_match(m, p, 0);
        break;
    default:
        v = engine_match(m, p, 0);
        break;
    }
    l->ev_stamp[p] = l->gen;
    l->ev_val[p] = (uint8_t)v;
    return v;
}

/* Whether every IF enclosing (and including) rule index r holds. */
static int ifs_hold(struct rx_map *m, int32_t r)
{
    struct rx_local *l = &m->l;
    if (r < 0)
        return 1;
    if (l->if_stamp[r] == l->gen)
        return l->if_val[r];
    const struct rxp_rule *ir = &m->s.t.rules[r];
    int v = pat_matches(m, ir->pat1) != ir->neg1 && ifs_hold(m, ir->parent);
    l->if_stamp[r] = l->gen;
    l->if_val[r] = (uint8_t)v;
    return v;
}

static int rule_applies(struct rx_map *m, int32_t r)
{
    const struct rxp_rule *rule = &m->s.t.rules[r];
    return pat_matches(m, rule->pat1) != rule->neg1 &&
           (rule->pat2 < 0 || pat_matches(m, rule->pat2) != rule->neg2) &&
           ifs_hold(m, rule->parent);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Append the winner's result with $n filled in. */
static int expand(struct rx_map *m, const struct rxp_rule *r, struct map_value *out)
{
    struct rx_local *l = &m->l;
    const struct rxp_table *t = &m->s.t;
    size_t len = 0;

    if (r->max_sub > 0 && !engine_match(m, r->pat1, r->max_sub + 1))
        return -EIO; /* Hyperscan and the engine disagree: impossible */
    if (!out->buf || out->cap == 0)
        return -ENOSPC;
    for (uint32_t i = 0; i < r->seg_count; i++) {
        const struct rxp_seg *g = &t->segs[r->seg_first + i];
        const char *s = NULL;
        size_t n = 0;
        if (g->group == 0) {
            s = t->pool + g->off;
            n = g->len;
        } else if (l->dialect == RXP_REGEXP) {
            regmatch_t *pm = &l->pmatch[g->group];
            if (pm->rm_so >= 0 && pm->rm_eo > pm->rm_so) {
                s = l->key + pm->rm_so;
                n = (size_t)(pm->rm_eo - pm->rm_so);
            }
        } else {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(l->md);
            uint32_t pairs = pcre2_get_ovector_count(l->md);
            if (g->group < pairs && ov[2 * g->group] != PCRE2_UNSET &&
                ov[2 * g->group + 1] > ov[2 * g->group]) {
                s = l->key + ov[2 * g->group];
                n = ov[2 * g->group + 1] - ov[2 * g->group];
            }
        }
        if (len + n + 1 > out->cap)
            return -ENOSPC;
        if (n)
            memcpy(out->buf + len, s, n);
        len += n;
    }
    out->buf[len] = '\0';
    out->len = len;
    return 1;
}


static const struct rx_part *rx_part_find(const struct rx_shared *s, const char *name)
{
    struct rx_part k;
    strcpy(k.name, name);
    return bsearch(&k, s->parts, s->nparts, sizeof(*s->parts), rx_part_cmp);
}

static int rx_lookup(struct map *mp, const char *key, size_t keylen, struct map_value *out)
{
    struct rx_map *m = mp->priv;
    struct rx_local *l = &m->l;

    /* Postfix sees the key as a C string. */
    l->key = key;
    l->keylen = strnlen(key, keylen);
    if (++l->gen == 0) {
        size_t np = m->s.t.npats, nr = m->s.t.nrules;
        memset(l->hs_stamp, 0, np * sizeof(*l->hs_stamp));
        memset(l->ev_stamp, 0, np * sizeof(*l->ev_stamp));
        memset(l->if_stamp, 0, nr * sizeof(*l->if_stamp));
        l->gen = 1;
    }
    l->ncand = 0;
    l->scan_tail = m->s.tail_whole;
    l->scan_buf = key;
    l->scan_len = l->keylen;
    if (m->s.db &&
        hs_scan(m->s.db, key, (unsigned)l->keylen, 0, l->scratch, on_hs_match, m) != HS_SUCCESS)
        return -EIO;
    char name[REGEX_ANCHOR_NAME_MAX];
    size_t nlen;
    if (m->s.nparts && (nlen = regex_anchor_key_name(key, l->keylen, name))) {
        const struct rx_part *part = rx_part_find(&m->s, name);
        size_t skip = part && part->strip ? nlen + 1 : 0; /* the name and its ':' */
        l->scan_tail = part && part->strip ? m->s.tail_rest : m->s.tail_whole;
        l->scan_buf = key + skip;
        l->scan_len = l->keylen - skip;
        if (part && hs_scan(part->db, key + skip, (unsigned)(l->keylen - skip), 0, l->scratch,
                            on_hs_match, m) != HS_SUCCESS)
            return -EIO;
    }
    /* Reported ids arrive by end offset, not file order. */
    qsort(l->cand, l->ncand, sizeof(*l->cand), cmp_i32);
    size_t i = 0, j = 0;
    while (i < l->ncand || j < m->s.nalways) {
        int32_t r;
        if (j >= m->s.nalways || (i < l->ncand && l->cand[i] < m->s.always[j]))
            r = l->cand[i++];
        else
            r = m->s.always[j++];
        if (rule_applies(m, r))
            return expand(m, &m->s.t.rules[r], out);
    }
    return 0;
}

/* ---- placement in shared memory ---- */

/* The heap arrays of struct rx_shared (not the databases). */
static void rx_shared_arrays_free(struct rx_shared *s)
{
    free(s->parts);
    free(s->mode);
    free(s->pat_rule);
    free(s->always);
    free(s->tail_whole);
    free(s->tail_rest);
    free(s->tail_pool);
    rxp_table_free(&s->t);
}

/* PCRE2 allocates placed code through these: the segment hands out memory
 * and takes none back (it is freed as a whole). */
static void *pcre_place_malloc(size_t size, void *data)
{
    (void)data;
    return maps_place_alloc(size, 16);
}

static void pcre_place_free(void *p, void *data)
{
    (void)p;
    (void)data;
}

/* Compile the PCRE2 engines the table keeps once more, into the placer's
 * memory (pcre2_code cannot be copied into memory of our choosing):
 * placed[p] gets each, NULL where no engine is kept. */
static int rx_place_pcre(struct rx_map *m, void **placed)
{
    const struct rxp_table *t = &m->s.t;
    pcre2_general_context *gc = pcre2_general_context_create(pcre_place_malloc, pcre_place_free,
                                                             NULL);
    pcre2_compile_context *cc = gc ? pcre2_compile_context_create(gc) : NULL;
    if (!cc)
        return -ENOMEM;
    for (size_t p = 0; p < t->npats; p++) {
        char why[256];
        size_t nsub;
        const struct rxp_pattern *pat = &t->pats[p];
        if (m->l.engine[p] && engine_compile(RXP_PCRE, rxp_pattern_text(t, pat), pat->text_len,
                                             pat->flags, cc, &placed[p], &nsub, why,
                                             sizeof(why)) < 0)
            return -ENOMEM; /* it compiled on the heap: only memory can fail */
    }
    /* The contexts are placed memory too: nothing to free. */
    return 0;
}

/*
 * Move the table's read-only parts into the placer's memory: the parsed
 * rules, patterns and result templates, the per-pattern modes and
 * candidate indexes, the partitions, the cut literals' tails, the engine
 * array and the compiled PCRE2 code (glibc's regex_t stays on the heap: its
 * internals are malloc'd and partly written by regexec). All or nothing: on
 * failure the table stays as it was, on the heap.
 */
static int rx_place_tables(struct rx_map *m)
{
    struct rx_shared *s = &m->s;
    struct rxp_table *t = &s->t;
    size_t np = t->npats, nr = t->nrules;
    void **eng = xcalloc(np ? np : 1, sizeof(*eng));
    if (m->l.dialect == RXP_PCRE && rx_place_pcre(m, eng) < 0) {
        free(eng);
        return -ENOMEM;
    }
    for (size_t p = 0; p < np; p++)
        if (m->l.dialect == RXP_REGEXP)
            eng[p] = m->l.engine[p];
    enum { POOL, PATS, RULES, SEGS, MODE, PAT_RULE, ALWAYS, PARTS, TWHOLE, TREST, TPOOL, ENG, N };
    const void *src[N] = {t->pool,      t->pats,      t->rules,     t->segs,
                          s->mode,      s->pat_rule,  s->always,    s->parts,
                          s->tail_whole, s->tail_rest, s->tail_pool, eng};
    const size_t size[N] = {t->pool_len,
                            np * sizeof(*t->pats),
                            nr * sizeof(*t->rules),
                            t->nsegs * sizeof(*t->segs),
                            np,
                            np * sizeof(*s->pat_rule),
                            s->nalways * sizeof(*s->always),
                            s->nparts * sizeof(*s->parts),
                            s->tail_whole ? np * sizeof(*s->tail_whole) : 0,
                            s->tail_rest ? np * sizeof(*s->tail_rest) : 0,
                            s->tail_pool_len,
                            np * sizeof(*eng)};
    void *dst[N] = {NULL};
    for (int i = 0; i < N; i++)
        if (src[i] && !(dst[i] = maps_place_dup(src[i], size[i]))) {
            free(eng);
            return -ENOMEM;
        }
    if (m->l.dialect == RXP_PCRE)
        for (size_t p = 0; p < np; p++)
            engine_free(RXP_PCRE, m->l.engine[p]);
    free(m->l.engine);
    free(eng);
    struct rxp_table counts = *t; /* rxp_table_free zeroes the counts too */
    rx_shared_arrays_free(s);
    *t = counts;
    t->pool_cap = t->pool_len;
    t->pats_cap = np;
    t->rules_cap = nr;
    t->segs_cap = t->nsegs;
    t->pool = dst[POOL];
    t->pats = dst[PATS];
    t->rules = dst[RULES];
    t->segs = dst[SEGS];
    s->mode = dst[MODE];
    s->pat_rule = dst[PAT_RULE];
    s->always = dst[ALWAYS];
    s->parts = dst[PARTS];
    s->tail_whole = dst[TWHOLE];
    s->tail_rest = dst[TREST];
    s->tail_pool = dst[TPOOL];
    m->l.engine = dst[ENG];
    s->placed = 1;
    return 0;
}

/* maps.h shared_parts: the arrays, the databases, then the kept engines
 * (PCRE2 code when placed; regex_t never is). */
static size_t rx_shared_parts(const struct map *mp, const void **out, size_t max)
{
    const struct rx_map *m = mp->priv;
    const struct rx_shared *s = &m->s;
    const void *fixed[] = {s->t.pool,     s->t.pats,  s->t.rules,      s->t.segs,
                           s->mode,       s->pat_rule, s->always,      s->parts,
                           s->tail_whole, s->tail_rest, s->tail_pool,  m->l.engine,
                           s->db};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (fixed[i] && n++ < max)
            out[n - 1] = fixed[i];
    for (size_t i = 0; i < s->nparts; i++)
        if (n++ < max)
            out[n - 1] = s->parts[i].db;
    if (m->l.dialect == RXP_PCRE)
        for (size_t p = 0; p < s->t.npats; p++)
            if (m->l.engine[p] && n++ < max)
                out[n - 1] = m->l.engine[p];
    return n;
}

/* ---- open ---- */

static void rx_free(struct rx_map *m)
{
    /* Placed PCRE2 code and arrays go with the segment; glibc's regex_t
     * never is placed (its memory is malloc's own). */
    if (m->l.engine && !(m->s.placed && m->l.dialect == RXP_PCRE))
        for (size_t i = 0; i < m->s.t.npats; i++)
            engine_free(m->l.dialect, m->l.engine[i]);
    if (!m->s.placed)
        free(m->l.engine);
    if (m->l.scratch)
        hs_free_scratch(m->l.scratch);
    if (m->l.md)
        pcre2_match_data_free(m->l.md);
    free(m->l.pmatch);
    free(m->l.hs_stamp);
    free(m->l.ev_stamp);
    free(m->l.ev_val);
    free(m->l.if_stamp);
    free(m->l.if_val);
    free(m->l.cand);
    if (m->s.db && !m->s.db_placed)
        hs_free_database(m->s.db);
    for (size_t i = 0; i < m->s.nparts; i++)
        if (!m->s.parts[i].placed)
            hs_free_database(m->s.parts[i].db);
    if (!m->s.placed)
        rx_shared_arrays_free(&m->s);
    free(m);
}


static int rx_open_common(struct map *mp, enum rxp_dialect d, struct map_err *err)
{
    const char *file = mp->name;
    char *buf;
    size_t len;
    int rc = 0;
    if (file[0] == '{') {
        /* Postfix 3.7's inline form: the rules become the lines of the
         * same text a file would hold; "line N" below is the Nth rule. */
        char why[512];
        if (inline_rules_text(file, strlen(file), &buf, &len, why, sizeof(why)) != INLINE_OK) {
            map_err_set(err, "%s map: %s", d == RXP_REGEXP ? "regexp" : "pcre", why);
            return -EINVAL;
        }
    } else if ((rc = file_read_all(file, &buf, &len)) < 0) {
        map_err_set(err, "%s: %s", file, strerror(-rc));
        return rc;
    }
    struct rx_map *m = xcalloc(1, sizeof(*m));
    m->l.dialect = d;
    struct rxp_error pe;
    enum rxp_status st = rxp_parse(buf, len, d, &m->s.t, &pe);
    free(buf);
    if (st != RXP_OK) {
        map_err_set(err, "%s, line %u: %s", file, pe.line, pe.msg);
        rx_free(m);
        return -EINVAL;
    }
    const struct rxp_table *t = &m->s.t;
    size_t np = t->npats, nr = t->nrules;

    /* Which patterns need captures: first patterns of rules using $n. */
    size_t max_sub = 0;
    uint8_t *captures = xcalloc(np ? np : 1, 1);
    for (size_t r = 0; r < nr; r++)
        if (t->rules[r].op == RXP_MATCH && t->rules[r].max_sub > 0) {
            captures[t->rules[r].pat1] = 1;
            if (t->rules[r].max_sub > max_sub)
                max_sub = t->rules[r].max_sub;
        }

    m->l.engine = xcalloc(np ? np : 1, sizeof(*m->l.engine));
    size_t *nsub = xcalloc(np ? np : 1, sizeof(*nsub));
    for (size_t p = 0; p < np; p++) {
        char why[256];
        const struct rxp_pattern *pat = &t->pats[p];
        if (engine_compile(d, rxp_pattern_text(t, pat), pat->text_len, pat->flags, NULL,
                           &m->l.engine[p], &nsub[p], why, sizeof(why)) < 0) {
            map_err_set(err, "%s, line %u: %s", file, pat->lineno, why);
            rc = -EINVAL;
            goto out;
        }
    }
    for (size_t r = 0; r < nr; r++) {
        const struct rxp_rule *rule = &t->rules[r];
        if (rule->op == RXP_MATCH && rule->max_sub > nsub[rule->pat1]) {
            /* Postfix skips the rule with a warning. */
            map_err_set(err, "%s, line %u: out of range replacement index \"%u\"", file, rule->lineno,
                        rule->max_sub);
            rc = -EINVAL;
            goto out;
        }
    }

    m->s.mode = xcalloc(np ? np : 1, 1);
    struct hs_input in = {xcalloc(np ? np : 1, sizeof(char *)), xcalloc(np ? np : 1, sizeof(unsigned)),
                          NULL, NULL, xcalloc(np ? np : 1, sizeof(char *)),
                          xcalloc(np ? np : 1, sizeof(unsigned))};
    rx_hs_prepare(m, &in);
    rc = rx_hs_build(m, &in, file, err);
    for (size_t p = 0; p < np; p++) {
        free(in.expr[p]);
        free(in.rest_expr[p]);
    }
    free(in.expr);
    free(in.rest_expr);
    free(in.rest_flags);
    free(in.flags);
    free(in.name_off);
    free(in.name_part);
    if (rc == 0 && maps_placing())
        rc = rx_place_all(m, file, err);
    if (rc < 0)
        goto out;

    /* Candidate indexes. */
    m->s.pat_rule = xmalloc((np ? np : 1) * sizeof(*m->s.pat_rule));
    for (size_t p = 0; p < np; p++)
        m->s.pat_rule[p] = -1;
    m->s.always = xmalloc((nr ? nr : 1) * sizeof(*m->s.always));
    for (size_t r = 0; r < nr; r++) {
        const struct rxp_rule *rule = &t->rules[r];
        if (rule->op != RXP_MATCH)
            continue;
        if (rule->neg1 || m->s.mode[rule->pat1] == RX_ALWAYS)
            m->s.always[m->s.nalways++] = (int32_t)r;
        else
            m->s.pat_rule[rule->pat1] = (int32_t)r;
    }

    /* Keep a real engine only where a lookup can call it. */
    for (size_t p = 0; p < np; p++)
        if (m->s.mode[p] == RX_EXACT && !captures[p]) {
            engine_free(d, m->l.engine[p]);
            m->l.engine[p] = NULL;
        }

    if (maps_placing() && (rc = rx_place_tables(m)) < 0) {
        map_err_set(err, "%s: cannot place the rule table in the policy segment", file);
        goto out;
    }

    /* Per-process lookup state. */
    /* One scratch, grown to fit every database of the table. */
    int scratch_ok = !m->s.db || hs_alloc_scratch(m->s.db, &m->l.scratch) == HS_SUCCESS;
    for (size_t i = 0; scratch_ok && i < m->s.nparts; i++)
        scratch_ok = hs_alloc_scratch(m->s.parts[i].db, &m->l.scratch) == HS_SUCCESS;
    if (!scratch_ok) {
        map_err_set(err, "%s: cannot allocate hyperscan scratch", file);
        rc = -ENOMEM;
        goto out;
    }
    m->l.pmatch_n = max_sub + 1;
    m->l.pmatch = xcalloc(m->l.pmatch_n, sizeof(*m->l.pmatch));
    if (d == RXP_PCRE)
        m->l.md = pcre2_match_data_create((uint32_t)(max_sub + 1), NULL);
    m->l.hs_stamp = xcalloc(np ? np : 1, sizeof(uint32_t));
    m->l.ev_stamp = xcalloc(np ? np : 1, sizeof(uint32_t));
    m->l.ev_val = xcalloc(np ? np : 1, 1);
    m->l.if_stamp = xcalloc(nr ? nr : 1, sizeof(uint32_t));
    m->l.if_val = xcalloc(nr ? nr : 1, 1);
    m->l.cand = xcalloc(np ? np : 1, sizeof(int32_t));
    mp->priv = m;
    rc = 0;
out:
    free(captures);
    free(nsub);
    if (rc < 0)
        rx_free(m);
    return rc;
}

static int regexp_open(struct map *mp, struct map_err *err)
{
    return rx_open_common(mp, RXP_REGEXP, err);
}

static int pcre_open(struct map *mp, struct map_err *err)
{
    return rx_open_common(mp, RXP_PCRE, err);
}

static void rx_close(struct map *mp)
{
    if (mp->priv)
        rx_free(mp->priv);
}

const struct map_type map_type_regexp = {
    .name = "regexp",
    .flags = MAP_PATTERN,
    .open = regexp_open,
    .lookup = rx_lookup,
    .close = rx_close,
    .shared_parts = rx_shared_parts,
};

const struct map_type map_type_pcre = {
    .name = "pcre",
    .flags = MAP_PATTERN,
    .open = pcre_open,
    .lookup = rx_lookup,
    .close = rx_close,
    .shared_parts = rx_shared_parts,
};
