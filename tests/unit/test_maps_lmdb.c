/*
 * test_maps_lmdb.c - hash:/btree:/lmdb: build, lookup, insert, delete,
 * refresh after an atomic rebuild, failure safety, texthash:, and
 * interoperability with Postfix's postmap (skipped when not installed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maps.h"
#include "maps_lmdb.h"
#include "maps_source.h"
#include "util.h"

#define POSTMAP "/usr/sbin/postmap"

struct fixture {
    char dir[64];
    char name[128]; /* DIR/t */
    struct strbuf warnings;
    struct map_lmdb_build_opts o;
};

static void collect_warn(void *ctx, const char *msg)
{
    struct strbuf *sb = ctx;
    strbuf_puts(sb, msg);
    strbuf_putc(sb, '\n');
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_maps_lmdb.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->name, sizeof(f->name), "%s/t", f->dir);
    strbuf_init(&f->warnings);
    f->o = (struct map_lmdb_build_opts){
        .type = "hash",
        .source_flags = MAP_SOURCE_FOLD,
        .dup = MAP_LMDB_DUP_WARN,
        .mode = 0644,
        .uid = (uid_t)-1,
        .gid = (gid_t)-1,
        .warn = collect_warn,
        .warn_ctx = &f->warnings,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    strbuf_free(&f->warnings);
    free(f);
    return 0;
}

static void build_ok(struct fixture *f, const char *src)
{
    struct map_err err = {{0}};
    int rc = map_lmdb_build(f->name, src, strlen(src), "src", &f->o, &err);
    if (rc != 0)
        print_error("build: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static struct map *open_ok(struct fixture *f, const char *type, unsigned flags)
{
    char ref[256];
    struct map *m;
    struct map_err err = {{0}};
    snprintf(ref, sizeof(ref), "%s:%s", type, f->name);
    int rc = map_open(ref, flags, &m, &err);
    if (rc != 0)
        print_error("open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return m;
}

/* Lookup result as a string: the value, "-" when not found, "E" on error. */
static const char *q(struct map *m, const char *key)
{
    static char buf[256];
    struct map_value v = {buf, sizeof(buf), 0};
    int rc = map_lookup_str(m, key, &v);
    return rc == 1 ? buf : rc == 0 ? "-" : "E";
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void build_and_lookup(void **state)
{
    struct fixture *f = *state;
    build_ok(f, "# access table\nFoo.Example REJECT go away\nuser@x.test OK\n  # c\n"
                "long 550 line one\n  and two\n");
    static const char *const types[] = {"hash", "btree", "lmdb"};
    for (size_t t = 0; t < ARRAY_LEN(types); t++) {
        struct map *m = open_ok(f, types[t], 0);
        static const struct {
            const char *key, *want;
        } cases[] = {
            {"foo.example", "REJECT go away"}, {"FOO.Example", "REJECT go away"},
            {"user@x.test", "OK"},             {"long", "550 line one  and two"},
            {"nope", "-"},                     {"", "-"},
            {"foo.exampl", "-"},               {"foo.example.", "-"},
        };
        for (size_t i = 0; i < ARRAY_LEN(cases); i++)
            assert_string_equal(q(m, cases[i].key), cases[i].want);
        /* A key longer than LMDB allows cannot be there: not found, no error. */
        char big[2000];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        assert_string_equal(q(m, big), "-");
        /* Too small a result buffer. */
        char tiny[4];
        struct map_value v = {tiny, sizeof(tiny), 0};
        assert_int_equal(map_lookup_str(m, "foo.example", &v), -ENOSPC);
        map_close(m);
    }
    /* -f: case kept at build and lookup. */
    f->o.source_flags = 0;
    build_ok(f, "MiXed v\n");
    struct map *m = open_ok(f, "hash", MAP_OPEN_KEEPCASE);
    assert_string_equal(q(m, "MiXed"), "v");
    assert_string_equal(q(m, "mixed"), "-");
    map_close(m);
    struct stat st;
    char path[256];
    snprintf(path, sizeof(path), "%s.lmdb", f->name);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(count_tmp_files(f->dir), 0);
}

static void duplicates_and_policies(void **state)
{
    struct fixture *f = *state;
    const char *src = "b 1\nB 2\na x\n";
    static const struct {
        enum map_lmdb_dup dup;
        const char *want, *warn;
    } cases[] = {
        {MAP_LMDB_DUP_WARN, "1", "hash:%s: duplicate entry: \"b\"\n"},
        {MAP_LMDB_DUP_IGNORE, "1", ""},
        {MAP_LMDB_DUP_REPLACE, "2", ""},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char want_warn[256];
        snprintf(want_warn, sizeof(want_warn), cases[i].warn, f->name);
        strbuf_reset(&f->warnings);
        f->o.dup = cases[i].dup;
        build_ok(f, src);
        struct map *m = open_ok(f, "hash", 0);
        assert_string_equal(q(m, "b"), cases[i].want);
        assert_string_equal(q(m, "a"), "x");
        map_close(m);
        assert_string_equal(f->warnings.len ? f->warnings.buf : "", want_warn);
    }
}

static void sorted_and_unsorted_large(void **state)
{
    struct fixture *f = *state;
    struct strbuf src;
    strbuf_init(&src);
    /* Sorted input takes the MDB_APPEND path, reversed input plain puts;
     * 60000 entries outgrow the minimum map size estimate's first guess. */
    for (int pass = 0; pass < 2; pass++) {
        strbuf_reset(&src);
        for (int i = 0; i < 60000; i++) {
            char line[192];
            int k = pass == 0 ? i : 59999 - i;
            snprintf(line, sizeof(line), "key%07d.example value-%d-%0100d\n", k, k, 0);
            strbuf_puts(&src, line);
        }
        struct map_err err = {{0}};
        assert_int_equal(map_lmdb_build(f->name, src.buf, src.len, "src", &f->o, &err), 0);
        struct map *m = open_ok(f, "lmdb", 0);
        for (int k = 0; k < 60000; k += 997) {
            char key[64], want[160];
            snprintf(key, sizeof(key), "KEY%07d.example", k);
            snprintf(want, sizeof(want), "value-%d-%0100d", k, 0);
            assert_string_equal(q(m, key), want);
        }
        assert_string_equal(q(m, "key0060000.example"), "-");
        map_close(m);
    }
    strbuf_free(&src);
}

static void insert_and_delete(void **state)
{
    struct fixture *f = *state;
    struct map_err err = {{0}};
    char path[256];
    struct stat before, after;

    build_ok(f, "a 1\nb 2\nc 3\n");
    const char *add = "D 4\nb other\nbad\n";
    assert_int_equal(map_lmdb_insert(f->name, add, strlen(add), "stdin", &f->o, &err), 0);
    assert_non_null(strstr(f->warnings.buf, "stdin, line 3: expected format: key whitespace value"));
    assert_non_null(strstr(f->warnings.buf, "duplicate entry: \"b\""));
    struct map *m = open_ok(f, "hash", 0);
    assert_string_equal(q(m, "d"), "4");
    assert_string_equal(q(m, "b"), "2"); /* existing value kept, as postmap -i */
    map_close(m);

    const char *del[] = {"a", "zz"};
    assert_int_equal(map_lmdb_delete(f->name, del, 2, &f->o, &err), 1);
    m = open_ok(f, "hash", 0);
    assert_string_equal(q(m, "a"), "-");
    assert_string_equal(q(m, "c"), "3");
    map_close(m);

    /* Nothing to delete: the file is not rewritten. */
    snprintf(path, sizeof(path), "%s.lmdb", f->name);
    assert_int_equal(stat(path, &before), 0);
    const char *none[] = {"nothere"};
    assert_int_equal(map_lmdb_delete(f->name, none, 1, &f->o, &err), 0);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(count_tmp_files(f->dir), 0);

    /* Insert into or delete from a missing table: an error. */
    snprintf(f->name, sizeof(f->name), "%s/missing", f->dir);
    assert_true(map_lmdb_insert(f->name, add, strlen(add), "stdin", &f->o, &err) < 0);
    assert_non_null(strstr(err.msg, "missing.lmdb"));
    assert_true(map_lmdb_delete(f->name, del, 1, &f->o, &err) < 0);
    assert_int_equal(count_tmp_files(f->dir), 0);
}

static void reader_sees_rebuild_after_refresh(void **state)
{
    struct fixture *f = *state;
    build_ok(f, "k old\n");
    struct map *m = open_ok(f, "hash", 0);
    assert_string_equal(q(m, "k"), "old");

    build_ok(f, "k new\nn 1\n");
    /* Until the refresh interval passes, the old (unlinked) file serves. */
    m->next_refresh_ms = map_now_ms() + 60000;
    assert_string_equal(q(m, "k"), "old");
    m->next_refresh_ms = 0; /* test hook: force the refresh check */
    assert_string_equal(q(m, "k"), "new");
    assert_string_equal(q(m, "n"), "1");

    /* A delete is a rebuild too. */
    const char *del[] = {"n"};
    struct map_err err = {{0}};
    assert_int_equal(map_lmdb_delete(f->name, del, 1, &f->o, &err), 1);
    m->next_refresh_ms = 0;
    assert_string_equal(q(m, "n"), "-");

    /* A damaged replacement: the refresh fails and the old table stays. */
    char path[256], junk[280];
    snprintf(path, sizeof(path), "%s.lmdb", f->name);
    snprintf(junk, sizeof(junk), "%s.junk", path);
    FILE *fp = fopen(junk, "w");
    assert_non_null(fp);
    fputs("this is not an lmdb file, not at all, no.\n", fp);
    fclose(fp);
    assert_int_equal(rename(junk, path), 0);
    m->next_refresh_ms = 0;
    assert_string_equal(q(m, "k"), "new");
    /* And a removed file: the old table stays as well. */
    unlink(path);
    m->next_refresh_ms = 0;
    assert_string_equal(q(m, "k"), "new");
    map_close(m);
}

/* The inode behind the one descriptor map_lmdb_fds() lists; 0 if it does
 * not list exactly one. */
static ino_t listed_ino(void)
{
    int fds[4];
    struct stat st;
    if (map_lmdb_fds(fds, 4) != 1 || fstat(fds[0], &st) < 0)
        return 0;
    return st.st_ino;
}

static ino_t path_ino(struct fixture *f)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s.lmdb", f->name);
    return stat(path, &st) < 0 ? 0 : st.st_ino;
}

/* As the master's children: fork, close every descriptor but stdio and
 * the listed ones, reuse the freed numbers, refresh after a rebuild. The
 * child's mdb_env_close() of the inherited table must close only the
 * table's own descriptor, and the parent's copy must keep answering. */
static void open_fds_survive_fork_and_refresh(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(map_lmdb_fds(NULL, 0), 0);
    build_ok(f, "k old\n");
    struct map *m = open_ok(f, "hash", 0);
    ino_t old_ino = path_ino(f);
    assert_int_equal(listed_ino(), old_ino);
    assert_string_equal(q(m, "k"), "old");

    build_ok(f, "k new\n");
    ino_t new_ino = path_ino(f);
    assert_true(new_ino != old_ino); /* the old file is still open here */

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int keep[4];
        size_t n = map_lmdb_fds(keep, 4);
        for (int fd = 3; fd < 1024; fd++) {
            int kept = 0;
            for (size_t i = 0; i < n; i++)
                kept |= keep[i] == fd;
            if (!kept)
                close(fd);
        }
        int p[2];
        char c = 0;
        if (pipe(p) < 0)
            _exit(10);
        m->next_refresh_ms = 0;
        if (strcmp(q(m, "k"), "new") != 0)
            _exit(11);
        if (listed_ino() != new_ino)
            _exit(12);
        /* The pipe took freed numbers; the refresh must not have closed it. */
        if (write(p[1], "x", 1) != 1 || read(p[0], &c, 1) != 1 || c != 'x')
            _exit(13);
        map_close(m);
        _exit(map_lmdb_fds(NULL, 0) == 0 ? 0 : 14);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* The parent's table is untouched by the child's refresh and close. */
    m->next_refresh_ms = map_now_ms() + 60000;
    assert_string_equal(q(m, "k"), "old");
    assert_int_equal(listed_ino(), old_ino);
    m->next_refresh_ms = 0;
    assert_string_equal(q(m, "k"), "new");
    assert_int_equal(listed_ino(), new_ino);
    map_close(m);
    assert_int_equal(map_lmdb_fds(NULL, 0), 0);
}

static void failed_build_keeps_old_table(void **state)
{
    struct fixture *f = *state;
    char path[256];
    struct stat before, after;

    build_ok(f, "keep me\n");
    snprintf(path, sizeof(path), "%s.lmdb", f->name);
    assert_int_equal(stat(path, &before), 0);

    /* Line 3 has a key longer than LMDB's 511-byte limit. */
    struct strbuf src;
    strbuf_init(&src);
    strbuf_puts(&src, "a 1\nb 2\n");
    for (int i = 0; i < 600; i++)
        strbuf_putc(&src, 'x');
    strbuf_puts(&src, " v\n");
    struct map_err err = {{0}};
    assert_int_equal(map_lmdb_build(f->name, src.buf, src.len, "src", &f->o, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "src, line 3: key is too long"));
    strbuf_free(&src);

    /* Unwritable directory for the temporary file (skip when root). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(f->dir, 0555), 0);
        assert_true(map_lmdb_build(f->name, "a 1\n", 4, "src", &f->o, &err) < 0);
        assert_int_equal(chmod(f->dir, 0755), 0);
    }
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(count_tmp_files(f->dir), 0);
    struct map *m = open_ok(f, "hash", 0);
    assert_string_equal(q(m, "keep"), "me");
    map_close(m);
}

static void missing_table_message(void **state)
{
    struct fixture *f = *state;
    struct map *m;
    struct map_err err = {{0}};
    char ref[256], want[256];
    snprintf(ref, sizeof(ref), "lmdb:%s/none", f->dir);
    assert_int_equal(map_open(ref, 0, &m, &err), -ENOENT);
    snprintf(want, sizeof(want), "%s/none.lmdb: No such file or directory", f->dir);
    assert_non_null(strstr(err.msg, want));
    snprintf(want, sizeof(want), "mxscreen-map lmdb:%s/none", f->dir);
    assert_non_null(strstr(err.msg, want));
}

static int collect_pairs(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct strbuf *sb = ctx;
    strbuf_append(sb, k, kl);
    strbuf_putc(sb, '=');
    strbuf_append(sb, v, vl);
    strbuf_putc(sb, ';');
    return 0;
}

static void foreach_in_key_order(void **state)
{
    struct fixture *f = *state;
    build_ok(f, "b 2\na 1\nab 3\n");
    struct map *m = open_ok(f, "btree", 0);
    struct strbuf sb;
    strbuf_init(&sb);
    assert_int_equal(map_lmdb_foreach(m, collect_pairs, &sb), 0);
    assert_string_equal(sb.buf, "a=1;ab=3;b=2;");
    strbuf_free(&sb);
    map_close(m);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void texthash_tables(void **state)
{
    struct fixture *f = *state;
    write_file(f->name, "Foo.Example bar\nk 1\nK 2\nbad\nj  cont\n  more\n");
    struct map *m = open_ok(f, "texthash", 0);
    assert_string_equal(q(m, "FOO.EXAMPLE"), "bar");
    assert_string_equal(q(m, "k"), "1"); /* first value wins */
    assert_string_equal(q(m, "bad"), "-");
    assert_string_equal(q(m, "j"), "cont  more");
    assert_string_equal(q(m, "zzz"), "-");
    map_close(m);
    m = open_ok(f, "texthash", MAP_OPEN_KEEPCASE);
    assert_string_equal(q(m, "K"), "2");
    assert_string_equal(q(m, "foo.example"), "-");
    /* The refresh hook rereads a replaced file. */
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s.new", f->name);
    write_file(tmp, "K 3\n");
    assert_int_equal(rename(tmp, f->name), 0);
    m->next_refresh_ms = 0;
    assert_string_equal(q(m, "K"), "3");
    map_close(m);
    /* Many keys: the index grows. */
    struct strbuf src;
    strbuf_init(&src);
    for (int i = 0; i < 5000; i++) {
        char line[64];
        snprintf(line, sizeof(line), "k%d v%d\n", i, i);
        strbuf_puts(&src, line);
    }
    write_file(f->name, src.buf);
    strbuf_free(&src);
    m = open_ok(f, "texthash", 0);
    assert_string_equal(q(m, "k4999"), "v4999");
    assert_string_equal(q(m, "k0"), "v0");
    assert_string_equal(q(m, "k5000"), "-");
    map_close(m);

    struct map_err err = {{0}};
    char ref[256];
    snprintf(ref, sizeof(ref), "texthash:%s/none", f->dir);
    assert_int_equal(map_open(ref, 0, &m, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "No such file or directory"));
}

/* Postfix builds, we read; we build, Postfix reads. */
static void postfix_interop(void **state)
{
    struct fixture *f = *state;
    char cmd[1024], path[256];

    if (access(POSTMAP, X_OK) != 0)
        skip();
    snprintf(path, sizeof(path), "%s/main.cf", f->dir);
    write_file(path, "compatibility_level = 3.6\n");
    write_file(f->name, "Foo.Example REJECT x\nuser@y.test OK\n  cont\n");
    snprintf(cmd, sizeof(cmd), POSTMAP " -c %s lmdb:%s 2>/dev/null", f->dir, f->name);
    if (system(cmd) != 0)
        skip(); /* postfix-lmdb not installed */
    struct map *m = open_ok(f, "lmdb", 0);
    assert_string_equal(q(m, "FOO.example"), "REJECT x");
    assert_string_equal(q(m, "user@y.test"), "OK  cont");
    assert_string_equal(q(m, "nope"), "-");
    map_close(m);

    build_ok(f, "Ours.Example 554 from mxscreen\n");
    snprintf(cmd, sizeof(cmd), POSTMAP " -c %s -q OURS.example lmdb:%s 2>&1", f->dir, f->name);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[256] = "";
    assert_non_null(fgets(out, sizeof(out), p));
    assert_int_equal(pclose(p), 0);
    assert_string_equal(out, "554 from mxscreen\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(build_and_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicates_and_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(sorted_and_unsorted_large, setup, teardown),
        cmocka_unit_test_setup_teardown(insert_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(reader_sees_rebuild_after_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(open_fds_survive_fork_and_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_build_keeps_old_table, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_table_message, setup, teardown),
        cmocka_unit_test_setup_teardown(foreach_in_key_order, setup, teardown),
        cmocka_unit_test_setup_teardown(texthash_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(postfix_interop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
