/*
 * mxscreen-map - postmap(1) for mxscreen tables.
 *
 *   mxscreen-map [-fiorsuw] [-c dir] [type:]file...     build (hash/btree/lmdb)
 *   mxscreen-map [-f] -q key [type:]file...             query, any table type
 *   mxscreen-map [-f] -q - [type:]file... < keys        query many: "key<TAB>value"
 *   mxscreen-map [-f] -d key|- [type:]file...           delete
 *   mxscreen-map -s [type:]file                         list a hash/btree/lmdb table
 *
 * Flags, messages and exit codes follow postmap: -q exits 0 when a key was
 * found and 1 otherwise; -q - exits 0 when any key was found; -d exits 0
 * when a key was deleted; fatal errors exit 1. The default type is hash.
 * hash:, btree: and lmdb: all write NAME.lmdb in Postfix's lmdb format;
 * every write replaces the file atomically (see maps_lmdb.h).
 *
 * Refused with a message: -b -h -m (message header/body keys), -F (base64
 * file values), -n/-N (tables always store the trailing NUL, as postmap
 * does by default). -c is accepted for compatibility and ignored.
 *
 * "-q -" is the hot path: stdin is read in large blocks and split in
 * place, results are collected in a large output buffer and written with
 * write(2); there is no allocation and no system call per key.
 */
#include "casefold.h"
#include "log.h"
#include "maps.h"
#include "maps_lmdb.h"
#include "maps_source.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define IO_BUF (1u << 20)

struct opts {
    unsigned open_flags;        /* MAP_OPEN_KEEPCASE with -f */
    struct map_lmdb_build_opts build;
    int as_owner, save_perm;
    int verbose; /* -v: log table open times and the -q - lookup time */
};

/* Seconds spent opening tables (compiling regexp/pcre tables can take
 * seconds), kept apart so -v can report the lookup time alone. */
static double open_seconds;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static noreturn void usage(void)
{
    log_fatal("usage: mxscreen-map [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] "
              "[map_type:]file...");
}

/* Split "type:name" (default type hash, as postmap's default_database_type). */
static void split_ref(const char *arg, char *type, size_t typesz, const char **name)
{
    const char *colon = strchr(arg, ':');
    if (strncmp(arg, "proxy:", 6) == 0)
        log_fatal("can't use the proxy service from mxscreen-map: %s", arg);
    if (!colon) {
        snprintf(type, typesz, "hash");
        *name = arg;
        return;
    }
    snprintf(type, typesz, "%.*s", (int)(colon - arg), arg);
    *name = colon + 1;
}

static int type_is_lmdb(const char *type)
{
    return strcmp(type, "hash") == 0 || strcmp(type, "btree") == 0 || strcmp(type, "lmdb") == 0;
}

static struct map *open_or_die(const char *arg, const struct opts *o)
{
    char ref[4096];
    struct map *m;
    struct map_err err = {{0}};

    snprintf(ref, sizeof(ref), "%s%s", strchr(arg, ':') ? "" : "hash:", arg);
    double t0 = now_seconds();
    if (map_open(ref, o->open_flags, &m, &err) < 0)
        log_fatal("%s", err.msg);
    double dt = now_seconds() - t0;
    open_seconds += dt;
    if (o->verbose)
        log_info("%s: opened in %.3f s", ref, dt);
    return m;
}

/* Read all of stdin (control path: -i and -d -). */
static char *read_stdin(size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap)
            buf = xrealloc(buf, (cap *= 2) + 1);
        ssize_t r = read(0, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            log_fatal("read stdin: %s", strerror(errno));
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void build(const char *arg, const struct opts *o, int incremental)
{
    char type[64];
    const char *name;
    struct map_err err = {{0}};
    struct map_lmdb_build_opts b = o->build;
    char *src;
    size_t len;
    int rc;

    split_ref(arg, type, sizeof(type), &name);
    b.type = type;
    if (incremental) {
        src = read_stdin(&len);
    } else {
        struct stat st;
        /* Like postmap: open the source first, then look at the type. */
        if ((rc = file_read_all(name, &src, &len)) < 0 || stat(name, &st) < 0)
            log_fatal("open %s: %s", name, strerror(rc < 0 ? -rc : errno));
        if (o->save_perm) /* group/other lose what the source denies them */
            b.mode = 0644 & ~(022 | (~(int)st.st_mode & 077));
        if (o->as_owner && getuid() == 0) {
            b.uid = st.st_uid;
            b.gid = st.st_gid;
        }
    }
    if (!type_is_lmdb(type)) {
        /* Postfix's read-only types, whether or not registered here yet. */
        static const char *const readonly[] = {"regexp", "pcre",  "cidr",     "static",
                                               "inline", "texthash", "unionmap", "pipemap",
                                               "fail",   "environ", "internal", "randmap"};
        int known = map_type_find(type, strlen(type)) != NULL;
        for (size_t i = 0; i < ARRAY_LEN(readonly); i++)
            known |= strcmp(type, readonly[i]) == 0;
        if (known)
            log_fatal("unsupported dictionary type: %s does not support bulk-mode creation.", type);
        log_fatal("unsupported dictionary type: %s", type);
    }
    if (incremental)
        rc = map_lmdb_insert(name, src, len, "stdin", &b, &err);
    else
        rc = map_lmdb_build(name, src, len, name, &b, &err);
    free(src);
    if (rc < 0)
        log_fatal("%s", err.msg);
}

/* Buffered stdout for -q - and -s: one write(2) per megabyte. */
struct outbuf {
    char *buf;
    size_t len;
};

static void out_flush(struct outbuf *ob)
{
    size_t off = 0;
    while (off < ob->len) {
        ssize_t w = write(1, ob->buf + off, ob->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            log_fatal("write stdout: %s", strerror(errno));
        off += (size_t)w;
    }
    ob->len = 0;
}

static void out_put(struct outbuf *ob, const char *s, size_t n)
{
    if (ob->len + n > IO_BUF) {
        out_flush(ob);
        if (n > IO_BUF) {
            struct outbuf big = {(char *)s, n};
            out_flush(&big);
            return;
        }
    }
    memcpy(ob->buf + ob->len, s, n);
    ob->len += n;
}

static void out_pair(struct outbuf *ob, const char *k, size_t kl, const char *v, size_t vl)
{
    if (ob->len + kl + vl + 2 <= IO_BUF) { /* the common case: one check */
        char *p = ob->buf + ob->len;
        memcpy(p, k, kl);
        p[kl] = '\t';
        memcpy(p + kl + 1, v, vl);
        p[kl + 1 + vl] = '\n';
        ob->len += kl + vl + 2;
        return;
    }
    out_put(ob, k, kl);
    out_put(ob, "\t", 1);
    out_put(ob, v, vl);
    out_put(ob, "\n", 1);
}

/* map_lookup into a growable result buffer; dies on table errors. */
static int lookup(struct map *m, const char *key, size_t keylen, struct map_value *v)
{
    for (;;) {
        int rc = map_lookup(m, key, keylen, v);
        if (rc != -ENOSPC) {
            if (rc < 0)
                log_fatal("table %s: query error: %s", m->ref, strerror(-rc));
            return rc;
        }
        v->cap *= 4;
        v->buf = xrealloc(v->buf, v->cap);
    }
}

static int query_one(char **maps, int nmaps, const char *key, const struct opts *o)
{
    struct map_value v = {xmalloc(65536), 65536, 0};

    for (int i = 0; i < nmaps; i++) {
        struct map *m = open_or_die(maps[i], o);
        int rc = lookup(m, key, strlen(key), &v);
        map_close(m);
        if (rc == 1) {
            printf("%s\n", v.buf);
            fflush(stdout);
            free(v.buf);
            return 1;
        }
    }
    free(v.buf);
    return 0;
}

/* One key of "-q -": the first table that has it answers. */
static int query_key(struct map **m, char **maps, int nmaps, const struct opts *o,
                     const char *key, size_t keylen, struct map_value *v, struct outbuf *ob)
{
    for (int i = 0; i < nmaps; i++) {
        if (!m[i]) /* opened on first use, as postmap does */
            m[i] = open_or_die(maps[i], o);
        if (lookup(m[i], key, keylen, v) == 1) {
            /* postmap prints the key as read, not as folded */
            out_pair(ob, key, keylen, v->buf, v->len);
            return 1;
        }
    }
    return 0;
}

static int query_stdin(char **maps, int nmaps, const struct opts *o)
{
    struct map **m = xcalloc((size_t)nmaps, sizeof(*m));
    struct map_value v = {xmalloc(65536), 65536, 0};
    struct outbuf ob = {xmalloc(IO_BUF), 0};
    size_t cap = IO_BUF, have = 0;
    char *in = xmalloc(cap + 1);
    int found = 0, eof = 0;
    size_t nkeys = 0;
    double t0 = now_seconds();

    while (!eof) {
        ssize_t r = read(0, in + have, cap - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            log_fatal("read stdin: %s", strerror(errno));
        if (r == 0) {
            eof = 1;
            if (have == 0)
                break;
            in[have++] = '\n'; /* a last line without newline still counts */
        }
        have += (size_t)r;
        char *p = in, *end = in + have, *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            *nl = '\0';
            /* The key is a C string, as in postmap: a NUL byte ends it. */
            found |= query_key(m, maps, nmaps, o, p, strlen(p), &v, &ob);
            nkeys++;
            p = nl + 1;
        }
        have = (size_t)(end - p);
        memmove(in, p, have);
        if (have == cap) /* a line longer than the buffer */
            in = xrealloc(in, (cap *= 2) + 1);
    }
    out_flush(&ob);
    if (o->verbose)
        log_info("%zu keys looked up in %.6f s (table opening excluded)", nkeys,
                 now_seconds() - t0 - open_seconds);
    for (int i = 0; i < nmaps; i++)
        map_close(m[i]);
    free(m);
    free(in);
    free(v.buf);
    free(ob.buf);
    return found;
}

static int delete_keys(char **maps, int nmaps, const char *const *keys, size_t nkeys,
                       const struct opts *o)
{
    int found = 0;
    char **folded = xcalloc(nkeys ? nkeys : 1, sizeof(*folded));

    for (size_t i = 0; i < nkeys; i++) {
        size_t len = strlen(keys[i]);
        folded[i] = xmalloc(3 * len + 1);
        memcpy(folded[i], keys[i], len + 1);
        if (o->open_flags & MAP_OPEN_KEEPCASE)
            continue;
        /* The same folding as the build: Unicode unless -u. */
        if (!(o->build.source_flags & MAP_SOURCE_UTF8) ||
            casefold_utf8(keys[i], len, folded[i], 3 * len + 1) < 0)
            str_lower(folded[i]);
    }
    for (int i = 0; i < nmaps; i++) {
        char type[64];
        const char *name;
        struct map_err err = {{0}};
        struct map_lmdb_build_opts b = o->build;

        split_ref(maps[i], type, sizeof(type), &name);
        if (!type_is_lmdb(type))
            log_fatal("%s:%s map requires O_RDONLY access mode", type, name);
        b.type = type;
        int rc = map_lmdb_delete(name, (const char *const *)folded, nkeys, &b, &err);
        if (rc < 0)
            log_fatal("%s", err.msg);
        found |= rc > 0;
    }
    for (size_t i = 0; i < nkeys; i++)
        free(folded[i]);
    free(folded);
    return found;
}

static int delete_stdin(char **maps, int nmaps, const struct opts *o)
{
    size_t len, n = 0, cap = 1024;
    char *buf = read_stdin(&len);
    const char **keys = xmalloc(cap * sizeof(*keys));

    for (char *p = buf; p < buf + len;) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (nl)
            *nl = '\0';
        if (n == cap)
            keys = xrealloc(keys, (cap *= 2) * sizeof(*keys));
        keys[n++] = p;
        p = nl ? nl + 1 : buf + len;
    }
    int found = delete_keys(maps, nmaps, keys, n, o);
    free(keys);
    free(buf);
    return found;
}

static int print_pair(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    out_pair(ctx, k, kl, v, vl);
    return 0;
}

static void sequence(const char *arg, const struct opts *o)
{
    struct map *m = open_or_die(arg, o);
    struct outbuf ob = {xmalloc(IO_BUF), 0};

    if (!map_is_lmdb(m))
        log_fatal("table %s: sequence is not supported by mxscreen-map", m->ref);
    int rc = map_lmdb_foreach(m, print_pair, &ob);
    out_flush(&ob);
    free(ob.buf);
    if (rc < 0)
        log_fatal("table %s: sequence error: %s", m->ref, strerror(-rc));
    map_close(m);
}

int main(int argc, char **argv)
{
    struct opts o = {
        .build = {.source_flags = MAP_SOURCE_FOLD | MAP_SOURCE_UTF8,
                  .dup = MAP_LMDB_DUP_WARN,
                  .mode = -1,
                  .uid = (uid_t)-1,
                  .gid = (gid_t)-1},
        .as_owner = 1,
        .save_perm = 1,
    };
    const char *query = NULL, *delkey = NULL;
    int seq = 0, incremental = 0, ch;

    log_init("mxscreen-map", 0);
    umask(022);
    while ((ch = getopt(argc, argv, "+bc:d:fFhimnNopq:rsuUvw")) > 0) {
        switch (ch) {
        case 'b':
        case 'h':
        case 'm':
            log_fatal("-%c is not supported: mxscreen-map does not query message headers or "
                      "bodies",
                      ch);
        case 'F':
            log_fatal("-F is not supported: values are not file names");
        case 'n':
        case 'N':
            log_fatal("-%c is not supported: keys and values are always stored with a trailing "
                      "NUL, as postmap does by default",
                      ch);
        case 'c': /* no configuration is needed to build or read tables */
            break;
        case 'd':
            if (seq || query || delkey)
                log_fatal("specify only one of -s -q or -d");
            delkey = optarg;
            break;
        case 'f':
            o.open_flags |= MAP_OPEN_KEEPCASE;
            o.build.source_flags &= ~(unsigned)MAP_SOURCE_FOLD;
            break;
        case 'i':
            incremental = 1;
            break;
        case 'o':
            o.as_owner = 0;
            break;
        case 'p':
            o.save_perm = 0;
            break;
        case 'q':
            if (seq || query || delkey)
                log_fatal("specify only one of -s -q or -d");
            query = optarg;
            break;
        case 'r':
            o.build.dup = MAP_LMDB_DUP_REPLACE;
            break;
        case 's':
            if (query || delkey)
                log_fatal("specify only one of -s or -q or -d");
            seq = 1;
            break;
        case 'u':
            o.build.source_flags &= ~(unsigned)MAP_SOURCE_UTF8;
            break;
        case 'U':
            break;
        case 'v':
            o.verbose = 1;
            break;
        case 'w':
            o.build.dup = MAP_LMDB_DUP_IGNORE;
            break;
        default:
            usage();
        }
    }
    char **maps = argv + optind;
    int nmaps = argc - optind;
    if (nmaps < 1)
        usage();

    if (delkey) {
        if (strcmp(delkey, "-") == 0)
            return delete_stdin(maps, nmaps, &o) ? 0 : 1;
        return delete_keys(maps, nmaps, &delkey, 1, &o) ? 0 : 1;
    }
    if (query) {
        if (strcmp(query, "-") == 0)
            return query_stdin(maps, nmaps, &o) ? 0 : 1;
        return query_one(maps, nmaps, query, &o) ? 0 : 1;
    }
    if (seq) {
        sequence(maps[0], &o);
        return 0;
    }
    for (int i = 0; i < nmaps; i++)
        build(maps[i], &o, incremental);
    return 0;
}
