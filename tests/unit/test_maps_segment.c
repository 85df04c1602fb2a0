/* test_maps_segment.c - every table type that can share its memory does
 * so when opened with a placer (maps.h) pointing at a policy segment: after
 * the seal each block the type reports (rule arrays, result strings, the
 * cidr index, PCRE2 code, texthash slots, the static value) lies inside the
 * segment, a write to it faults in a forked child, lookups still answer in
 * the parent and the child, and close leaves the segment's memory alone
 * (ASan would see a bad free). Without a placer the same blocks stay on the
 * heap; a refreshed cidr:/texthash: table moves to the heap cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maps.h"
#include "segment.h"
#include "write_fault.h"

#define MAX_PARTS 64

struct probe {
    const char *key;
    const char *value; /* NULL: not found */
};

struct kind {
    const char *type;   /* "regexp", ... */
    const char *text;   /* file contents, or NULL: name is the reference's name */
    const char *name;   /* for inline:/static: */
    struct probe probes[3];
};

static const struct kind kinds[] = {
    {"regexp",
     "/^Subject:.*viagra/ REJECT spam\n/^From:.*@(bad[0-9]+)\\.example/ REJECT sender $1\n"
     "if /^X-/\n/^X-Mailer: (bulk)/ DISCARD $1\nendif\n",
     NULL,
     {{"Subject: cheap VIAGRA", "REJECT spam"},
      {"From: a@bad7.example", "REJECT sender bad7"},
      {"X-Mailer: bulk", "DISCARD bulk"}}},
    {"pcre",
     "/^Subject:.*viagra/ REJECT spam\n/^From:.*@(bad\\d+)\\.example/ REJECT sender $1\n"
     "/^X-Mailer: (?:bulk|mass)(?=er)/ DISCARD lookahead\n",
     NULL,
     {{"Subject: cheap VIAGRA", "REJECT spam"},
      {"From: a@bad7.example", "REJECT sender bad7"},
      {"X-Mailer: masser", "DISCARD lookahead"}}},
    {"cidr",
     "192.0.2.0/24 REJECT doc\n10.0.0.0/8 OK\n10.1.0.0/16 DUNNO\n172.16.0.0/12 REJECT p\n"
     "2001:db8::/32 REJECT v6\n",
     NULL,
     {{"192.0.2.9", "REJECT doc"}, {"10.1.2.3", "OK"}, {"2001:db8::1", "REJECT v6"}}},
    {"texthash", "alpha@example.com OK\nbeta REJECT no beta\nexample.net DUNNO\n", NULL,
     {{"alpha@example.com", "OK"}, {"beta", "REJECT no beta"}, {"gamma", NULL}}},
    {"inline", NULL, "{ {a=x, y}, b=z, {c = three} }",
     {{"a", "x, y"}, {"b", "z"}, {"c", "three"}}},
    {"static", NULL, "{ REJECT always }",
     {{"anything", "REJECT always"}, {"", "REJECT always"}, {"x", "REJECT always"}}},
};

static char *write_file(const char *text)
{
    char tmpl[] = "/tmp/test_maps_segment.XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return strdup(tmpl);
}

/* 0 if every probe answers as expected, else 1 + the first that did not. */
static int run_probes(struct map *m, const struct kind *k)
{
    char buf[256];
    for (int i = 0; i < 3; i++) {
        struct map_value v = {buf, sizeof(buf), 0};
        int rc = map_lookup_str(m, k->probes[i].key, &v);
        if (rc != (k->probes[i].value != NULL) ||
            (rc == 1 && strcmp(buf, k->probes[i].value) != 0))
            return i + 1;
    }
    return 0;
}

static struct map *open_kind(const struct kind *k, struct segment *seg, char **path)
{
    char ref[512];
    struct map_err err;
    struct map *m = NULL;
    struct map_placer pl;
    *path = k->text ? write_file(k->text) : NULL;
    snprintf(ref, sizeof(ref), "%s:%s", k->type, k->text ? *path : k->name);
    if (seg) {
        segment_map_placer(seg, &pl);
        maps_set_placer(&pl);
    }
    int rc = map_open(ref, 0, &m, &err);
    maps_set_placer(NULL);
    if (rc != 0)
        fail_msg("%s: %s", ref, err.msg);
    return m;
}

static void check_placed(const struct kind *k)
{
    struct segment *seg;
    char *path;
    const void *parts[MAX_PARTS];
    assert_int_equal(segment_create(21, 0, &seg), 0);
    struct map *m = open_kind(k, seg, &path);
    assert_int_equal(segment_seal(seg), 0);

    size_t n = map_shared_parts(m, parts, MAX_PARTS);
    assert_true(n > 0);
    if (n > MAX_PARTS)
        n = MAX_PARTS;
    for (size_t i = 0; i < n; i++)
        if (!segment_contains(seg, parts[i]))
            fail_msg("%s: shared part %zu (%p) is not in the segment", k->type, i, parts[i]);
    if (write_fault_signal(parts[0]) != SIGSEGV)
        fail_msg("%s: a write to %p did not fault", k->type, parts[0]);
    assert_int_equal(write_fault_signal(parts[n - 1]), SIGSEGV);

    assert_int_equal(run_probes(m, k), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(run_probes(m, k));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    map_close(m);
    segment_free(seg);
    if (path) {
        unlink(path);
        free(path);
    }
}

static void test_placed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        check_placed(&kinds[i]);
}

/* The PCRE2 code a lookup keeps (the $1 rule's) is placed: more shared
 * blocks than the regexp: twin, whose regex_t stays on the heap. */
static void test_pcre_code_placed(void **state)
{
    (void)state;
    static const struct kind rx = {"regexp", "/^From: (a+)/ OK $1\n/^To: (b+)/ OK $1\n", NULL,
                                   {{"From: aa", "OK aa"}, {"To: b", "OK b"}, {"x", NULL}}};
    struct kind pc = rx;
    pc.type = "pcre";
    const void *parts[MAX_PARTS];
    size_t n[2];
    for (int i = 0; i < 2; i++) {
        struct segment *seg;
        char *path;
        assert_int_equal(segment_create(22, 0, &seg), 0);
        struct map *m = open_kind(i ? &pc : &rx, seg, &path);
        assert_int_equal(segment_seal(seg), 0);
        n[i] = map_shared_parts(m, parts, MAX_PARTS);
        for (size_t j = 0; j < n[i]; j++)
            assert_true(segment_contains(seg, parts[j]));
        assert_int_equal(run_probes(m, i ? &pc : &rx), 0);
        map_close(m);
        segment_free(seg);
        unlink(path);
        free(path);
    }
    assert_int_equal(n[1], n[0] + 2); /* two PCRE2 codes */
}

/* No placer: nothing in the segment, everything still answers. */
static void test_heap(void **state)
{
    (void)state;
    struct segment *seg;
    assert_int_equal(segment_create(23, 0, &seg), 0);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char *path;
        const void *parts[MAX_PARTS];
        struct map *m = open_kind(&kinds[i], NULL, &path);
        size_t n = map_shared_parts(m, parts, MAX_PARTS);
        for (size_t j = 0; j < n && j < MAX_PARTS; j++)
            assert_false(segment_contains(seg, parts[j]));
        assert_int_equal(run_probes(m, &kinds[i]), 0);
        map_close(m);
        if (path) {
            unlink(path);
            free(path);
        }
    }
    struct segment_stats st;
    segment_stats(seg, &st);
    assert_int_equal(st.used, 0);
    segment_free(seg);
}

/* A placed cidr:/texthash: table whose file is replaced is re-read onto
 * the heap; the old placed copy is dropped without a free. */
static void test_refresh_leaves_segment(void **state)
{
    (void)state;
    static const char *types[] = {"cidr", "texthash"};
    static const char *old_text[] = {"192.0.2.0/24 REJECT old\n", "key REJECT old\n"};
    static const char *new_text[] = {"192.0.2.0/24 REJECT new one\n", "key REJECT new one\n"};
    static const char *keys[] = {"192.0.2.1", "key"};
    struct segment *seg;
    struct map *m[2];
    char *path[2];
    assert_int_equal(segment_create(24, 0, &seg), 0);
    for (int i = 0; i < 2; i++) {
        struct kind k = {types[i], old_text[i], NULL, {{NULL, NULL}}};
        m[i] = open_kind(&k, seg, &path[i]);
    }
    assert_int_equal(segment_seal(seg), 0);
    usleep(20000); /* a different mtime */
    for (int i = 0; i < 2; i++) {
        char tmp[600];
        snprintf(tmp, sizeof(tmp), "%s.new", path[i]);
        FILE *f = fopen(tmp, "w");
        assert_non_null(f);
        fputs(new_text[i], f);
        fclose(f);
        assert_int_equal(rename(tmp, path[i]), 0);
    }
    usleep((MAP_REFRESH_INTERVAL_MS + 100) * 1000);
    for (int i = 0; i < 2; i++) {
        char buf[64];
        struct map_value v = {buf, sizeof(buf), 0};
        const void *parts[MAX_PARTS];
        assert_int_equal(map_lookup_str(m[i], keys[i], &v), 1);
        assert_string_equal(buf, "REJECT new one");
        assert_true(map_shared_parts(m[i], parts, MAX_PARTS) > 0);
        assert_false(segment_contains(seg, parts[0]));
        map_close(m[i]);
        unlink(path[i]);
        free(path[i]);
    }
    segment_free(seg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placed),
        cmocka_unit_test(test_pcre_code_placed),
        cmocka_unit_test(test_heap),
        cmocka_unit_test(test_refresh_leaves_segment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
