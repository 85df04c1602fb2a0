/*
 * maps_cidr.c - "cidr:/path" tables (cidr_table(5)), first match in file
 * order, with an index so that big tables are not scanned rule by rule.
 *
 * Postfix scans the rules linearly. To answer the same in O(log n), each
 * maximal run of consecutive positive rules ("net/len result", no "!", no
 * IF/ENDIF in between) gets a sorted index per address family. CIDR blocks
 * are nested or disjoint, so the blocks of a run form a tree; each block
 * remembers the smallest rule number on its path from the root. A lookup
 * finds the last block starting at or before the address and climbs to the
 * first ancestor that contains it: the innermost containing block, whose
 * remembered rule number is the first matching rule of the run. Negated
 * rules and IF/ENDIF are evaluated exactly as Postfix does, one by one,
 * and a run is entered only from its first rule, so the file order holds.
 *
 * A table with a broken rule is refused (cidr_refusal() says why). A lookup
 * key that is not an IP address matches nothing. A result that is not
 * valid UTF-8 makes the lookup fail (-EIO), as Postfix 3.7 does. The file
 * is re-read when it is replaced (checked by map_lookup at most once per
 * MAP_REFRESH_INTERVAL_MS); on failure the old rules stay.
 *
 * With a placer set (maps.h: the master's policy segment) the rules, their
 * results and the index are moved into it once built; a table re-read
 * later (refresh) lives on the heap of the process that re-read it.
 */
#include "log.h"
#include "maps.h"
#include "maps_cidr_parse.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Runs shorter than this are cheaper to scan than to index. */
#define CIDR_RUN_MIN 4

struct cidr_node {
    uint64_t hi, lo;  /* network, IPv4 as ::a.b.c.d */
    uint32_t best;    /* smallest rule index on the path from the root */
    int32_t parent;   /* enclosing block, -1 for none */
    uint8_t prefix;   /* 0..128 (IPv4: 96 + len) */
};

struct cidr_run {
    uint32_t end;              /* first rule after the run */
    struct cidr_node *fam[2];  /* [0] IPv4, [1] IPv6 */
    uint32_t n[2];
};

struct cidr_map {
    struct cidr_table t;
    int32_t *run_at; /* per rule: run starting here, or -1 */
    struct cidr_run *runs;
    size_t nruns;
    struct stat st;  /* of the file this was read from */
    int placed;      /* rules, results, index: in the placer's memory */
};

static void key128(const uint8_t *b, int family, uint64_t *hi, uint64_t *lo)
{
    uint8_t full[16] = {0};
    if (family == 4)
        memcpy(full + 12, b, 4);
    else
        memcpy(full, b, 16);
    *hi = 0;
    *lo = 0;
    for (int i = 0; i < 8; i++) {
        *hi = (*hi << 8) | full[i];
        *lo = (*lo << 8) | full[8 + i];
    }
}

static int node_contains(const struct cidr_node *n, uint64_t hi, uint64_t lo)
{
    unsigned p = n->prefix;
    if (p == 0)
        return 1;
    if (p <= 64)
        return ((hi ^ n->hi) & (~0ULL << (64 - p))) == 0;
    if (hi != n->hi)
        return 0;
    return p == 128 ? lo == n->lo : ((lo ^ n->lo) & (~0ULL << (128 - p))) == 0;
}

static int node_cmp(const void *a, const void *b)
{
    const struct cidr_node *x = a, *y = b;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1; /* enclosing block first */
    return x->best < y->best ? -1 : (x->best > y->best);
}

/* Sort, merge duplicates (the earlier rule wins), link each block to its
 * enclosing block and carry the smallest rule index down the tree. */
static uint32_t index_build(struct cidr_node *v, uint32_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), node_cmp);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (m > 0 && v[m - 1].hi == v[i].hi && v[m - 1].lo == v[i].lo &&
            v[m - 1].prefix == v[i].prefix)
            continue; /* sorted by rule index within equal blocks */
        v[m++] = v[i];
    }
    int32_t *stack = xmalloc((size_t)m * sizeof(*stack));
    size_t depth = 0;
    for (uint32_t i = 0; i < m; i++) {
        while (depth > 0 && !node_contains(&v[stack[depth - 1]], v[i].hi, v[i].lo))
            depth--;
        v[i].parent = depth > 0 ? stack[depth - 1] : -1;
        if (v[i].parent >= 0 && v[v[i].parent].best < v[i].best)
            v[i].best = v[v[i].parent].best;
        stack[depth++] = (int32_t)i;
    }
    free(stack);
    return m;
}

static long index_find(const struct cidr_node *v, uint32_t n, uint64_t hi, uint64_t lo)
{
    /* Last block whose network starts at or before the address. */
    uint32_t a = 0, b = n;
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        if (v[mid].hi < hi || (v[mid].hi == hi && v[mid].lo <= lo))
            a = mid + 1;
        else
            b = mid;
    }
    for (int32_t i = (int32_t)a - 1; i >= 0; i = v[i].parent)
        if (node_contains(&v[i], hi, lo))
            return v[i].best;
    return -1;
}

static void cidr_index(struct cidr_map *cm)
{
    const struct cidr_table *t = &cm->t;
    cm->run_at = xmalloc((t->nrules ? t->nrules : 1) * sizeof(*cm->run_at));
    for (size_t i = 0; i < t->nrules; i++)
        cm->run_at[i] = -1;
    size_t cap = 0;
    for (size_t i = 0; i < t->nrules;) {
        size_t j = i;
        while (j < t->nrules && t->rules[j].op == CIDR_OP_MATCH && t->rules[j].match)
            j++;
        if (j - i < CIDR_RUN_MIN) {
            i = j > i ? j : i + 1;
            continue;
        }
        if (cm->nruns == cap) {
            cap = cap ? cap * 2 : 4;
            cm->runs = xrealloc(cm->runs, cap * sizeof(*cm->runs));
        }
        struct cidr_run *run = &cm->runs[cm->nruns];
        memset(run, 0, sizeof(*run));
        run->end = (uint32_t)j;
        for (int f = 0; f < 2; f++)
            run->fam[f] = xmalloc((j - i) * sizeof(struct cidr_node));
        for (size_t k = i; k < j; k++) {
            const struct cidr_rule *r = &t->rules[k];
            int f = r->family == 6;
            struct cidr_node *nd = &run->fam[f][run->n[f]++];
            key128(r->net, r->family, &nd->hi, &nd->lo);
            nd->prefix = (uint8_t)(r->family == 4 ? 96 + r->prefix : r->prefix);
            nd->best = (uint32_t)k;
        }
        for (int f = 0; f < 2; f++)
            run->n[f] = index_build(run->fam[f], run->n[f]);
        cm->run_at[i] = (int32_t)cm->nruns++;
        i = j;
    }
}

/* cidr_table_match_linear() with runs answered by their index. */
static long cidr_match(const struct cidr_map *cm, const uint8_t addr[16], int family)
{
    const struct cidr_table *t = &cm->t;
    uint64_t hi, lo;
    key128(addr, family, &hi, &lo);
    for (size_t i = 0; i < t->nrules; i++) {
        if (cm->run_at[i] >= 0) {
            const struct cidr_run *run = &cm->runs[cm->run_at[i]];
            int f = family == 6;
            long hit = index_find(run->fam[f], run->n[f], hi, lo);
            if (hit >= 0)
                return hit;
            i = run->end - 1;
            continue;
        }
        const struct cidr_rule *r = &t->rules[i];
        if (r->op == CIDR_OP_MATCH) {
            if (cidr_rule_accepts(r, addr, family))
                return (long)i;
        } else if (r->op == CIDR_OP_IF && !cidr_rule_accepts(r, addr, family)) {
            if (r->block_end == CIDR_NO_END)
                return -1;
            i = r->block_end;
        }
    }
    return -1;
}

static void cidr_map_free(struct cidr_map *cm)
{
    if (!cm)
        return;
    if (cm->placed) {
        cm->t.rules = NULL; /* the segment's, freed with it */
        cm->t.arena = NULL;
        cidr_table_free(&cm->t);
        free(cm);
        return;
    }
    for (size_t i = 0; i < cm->nruns; i++) {
        free(cm->runs[i].fam[0]);
        free(cm->runs[i].fam[1]);
    }
    free(cm->runs);
    free(cm->run_at);
    cidr_table_free(&cm->t);
    free(cm);
}

/*
 * Move the rules, their results and the run index into the placer's
 * memory (maps.h), so that the workers share one read-only copy. All or
 * nothing: on failure the table stays on the heap as it was.
 */
static int cidr_place(struct cidr_map *cm)
{
    struct cidr_table *t = &cm->t;
    size_t alen = 1;
    for (size_t i = 0; i < t->nrules; i++)
        if (t->rules[i].value && t->rules[i].value_off + t->rules[i].valuelen + 1 > alen)
            alen = t->rules[i].value_off + t->rules[i].valuelen + 1;
    char *arena = maps_place_dup(t->arena, alen);
    struct cidr_rule *rules = maps_place_alloc((t->nrules ? t->nrules : 1) * sizeof(*rules), 16);
    int32_t *run_at = maps_place_dup(cm->run_at, (t->nrules ? t->nrules : 1) * sizeof(*run_at));
    struct cidr_run *runs = maps_place_alloc((cm->nruns ? cm->nruns : 1) * sizeof(*runs), 16);
    if (!arena || !rules || !run_at || !runs)
        return -ENOMEM;
    for (size_t i = 0; i < t->nrules; i++) {
        rules[i] = t->rules[i];
        if (rules[i].value)
            rules[i].value = arena + rules[i].value_off;
    }
    for (size_t i = 0; i < cm->nruns; i++) {
        runs[i] = cm->runs[i];
        for (int f = 0; f < 2; f++)
            if (!(runs[i].fam[f] = maps_place_dup(cm->runs[i].fam[f],
                                                  (cm->runs[i].n[f] ? cm->runs[i].n[f] : 1) *
                                                      sizeof(struct cidr_node))))
                return -ENOMEM;
    }
    for (size_t i = 0; i < cm->nruns; i++) {
        free(cm->runs[i].fam[0]);
        free(cm->runs[i].fam[1]);
    }
    free(cm->runs);
    free(cm->run_at);
    free(t->rules);
    free(t->arena);
    cm->runs = runs;
    cm->run_at = run_at;
    t->rules = rules;
    t->arena = arena;
    cm->placed = 1;
    return 0;
}

/* maps.h shared_parts. */
static size_t cidr_shared_parts(const struct map *m, const void **out, size_t max)
{
    const struct cidr_map *cm = m->priv;
    const void *p[] = {cm->t.rules, cm->t.arena, cm->run_at, cm->runs};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
        if (n++ < max)
            out[n - 1] = p[i];
    for (size_t i = 0; i < cm->nruns; i++)
        for (int f = 0; f < 2; f++)
            if (n++ < max)
                out[n - 1] = cm->runs[i].fam[f];
    return n;
}

/*
 * Where Postfix warns and skips a broken rule (or ignores a stray ENDIF),
 * we refuse the table, as for regexp: and pcre:. A policy table that lost
 * a rule without anyone noticing is worse than a daemon that will not
 * start and says where. The parser keeps Postfix's wording; the refusal
 * reads "FILE, line N: what" like every other table error.
 */
static void cidr_refusal(const char *warning, struct map_err *err)
{
    static const char prefix[] = "cidr map ", skip[] = ": skipping this rule";
    const char *w = warning;
    size_t n;

    if (strncmp(w, prefix, sizeof(prefix) - 1) == 0)
        w += sizeof(prefix) - 1;
    n = strlen(w);
    if (n >= sizeof(skip) - 1 && strcmp(w + n - (sizeof(skip) - 1), skip) == 0)
        n -= sizeof(skip) - 1;
    map_err_set(err, "%.*s", (int)n, w);
}

static int cidr_load(const char *path, struct cidr_map **out, struct map_err *err)
{
    char *buf;
    size_t len;
    struct stat st;

    int rc = file_read_all(path, &buf, &len);
    if (rc < 0) {
        map_err_set(err, "open %s: %s", path, strerror(-rc));
        return rc;
    }
    if (stat(path, &st) < 0)
        memset(&st, 0, sizeof(st));
    struct cidr_map *cm = xcalloc(1, sizeof(*cm));
    cidr_table_parse(buf, len, path, &cm->t);
    free(buf);
    if (cm->t.nwarnings > 0) {
        cidr_refusal(cm->t.warnings[0], err); /* it names the file */
        cidr_map_free(cm);
        return -EINVAL;
    }
    cidr_index(cm);
    if (maps_placing() && cidr_place(cm) < 0) {
        map_err_set(err, "%s: cannot place the table in the policy segment", path);
        cidr_map_free(cm);
        return -ENOMEM;
    }
    cm->st = st;
    *out = cm;
    return 0;
}

static int cidr_open(struct map *m, struct map_err *err)
{
    struct cidr_map *cm;
    int rc = cidr_load(m->name, &cm, err);
    if (rc < 0)
        return rc;
    m->priv = cm;
    return 0;
}

static int cidr_refresh(struct map *m)
{
    struct cidr_map *cm = m->priv;
    struct stat st;
    if (stat(m->name, &st) < 0)
        return -errno;
    if (st.st_ino == cm->st.st_ino && st.st_dev == cm->st.st_dev && st.st_size == cm->st.st_size &&
        st.st_mtim.tv_sec == cm->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == cm->st.st_mtim.tv_nsec)
        return 0;
    struct cidr_map *fresh;
    struct map_err err;
    int rc = cidr_load(m->name, &fresh, &err);
    if (rc < 0) {
        log_warn("cidr:%s: reload failed, keeping the old table: %s", m->name, err.msg);
        return rc;
    }
    cidr_map_free(cm);
    m->priv = fresh;
    return 0;
}

static int cidr_lookup(struct map *m, const char *key, size_t keylen, struct map_value *out)
{
    const struct cidr_map *cm = m->priv;
    uint8_t addr[16];
    int family;

    (void)keylen;
    if (cidr_key_parse(key, addr, &family) < 0)
        return 0;
    long hit = cidr_match(cm, addr, family);
    if (hit < 0)
        return 0;
    const struct cidr_rule *r = &cm->t.rules[hit];
    if (r->bad_utf8)
        return -EIO;
    int rc = map_value_set(out, r->value, r->valuelen);
    return rc < 0 ? rc : 1;
}

static void cidr_close(struct map *m)
{
    cidr_map_free(m->priv);
}

const struct map_type map_type_cidr = {
    .name = "cidr",
    .flags = MAP_PATTERN,
    .open = cidr_open,
    .lookup = cidr_lookup,
    .refresh = cidr_refresh,
    .close = cidr_close,
    .shared_parts = cidr_shared_parts,
};
