/* test_maps_regexp_segment.c - regexp:/pcre: tables whose Hyperscan
 * databases were placed in a policy segment: placed (one per header-name
 * partition plus the generic one), lookups right after the seal and in a
 * forked child, close leaving the segment's memory alone, and no placement
 * once the placer is cleared.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maps.h"
#include "segment.h"

/* 100 anchored rules on 4 header names (partitioned: more than 64 patterns)
 * plus unanchored ones for the generic database; a $1 rule needs the real
 * engine after Hyperscan. */
static char *write_table(void)
{
    char tmpl[] = "/tmp/test_maps_regexp_segment.XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    static const char *names[] = {"Subject", "From", "Received", "X-Mailer"};
    for (int i = 0; i < 100; i++)
        fprintf(f, "/^%s:.*token%03d/ REJECT rule %d\n", names[i % 4], i, i);
    fprintf(f, "/^(From|Reply-To):.*@(bad[0-9]+)\\.example/ REJECT sender $2\n");
    fprintf(f, "/viagra/ DISCARD generic\n");
    fprintf(f, "/(a|b)c{2,3}d$/ WARN cc\n");
    fclose(f);
    return strdup(tmpl);
}

struct probe {
    const char *key;
    int rc;
    const char *value;
};

static const struct probe probes[] = {
    {"Subject: hello token000", 1, "REJECT rule 0"},
    {"subject: x token004 y", 1, "REJECT rule 4"},
    {"From: a token001", 1, "REJECT rule 1"},
    {"Received: from token098", 1, "REJECT rule 98"},
    {"X-Mailer: token099", 1, "REJECT rule 99"},
    {"Subject: token001", 0, NULL},            /* token001 is a From: rule */
    {"Reply-To: x@bad42.example", 1, "REJECT sender bad42"},
    {"Subject: cheap VIAGRA", 1, "DISCARD generic"},
    {"Comment: bcccd", 1, "WARN cc"},
    {"Comment: nothing", 0, NULL},
};

/* 0 when every probe gives its answer, else the index of the first that
 * does not, plus one. */
static int run_probes(struct map *m)
{
    char buf[256];
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        struct map_value v = {buf, sizeof(buf), 0};
        int rc = map_lookup_str(m, probes[i].key, &v);
        if (rc != probes[i].rc || (rc == 1 && strcmp(buf, probes[i].value) != 0))
            return (int)i + 1;
    }
    return 0;
}

static void open_placed(const char *type, struct segment **seg, struct map **m, char **path)
{
    struct map_err err;
    struct map_placer pl;
    char ref[256];
    *path = write_table();
    snprintf(ref, sizeof(ref), "%s:%s", type, *path);
    assert_int_equal(segment_create(9, 0, seg), 0);
    segment_map_placer(*seg, &pl);
    maps_set_placer(&pl);
    int rc = map_open(ref, 0, m, &err);
    maps_set_placer(NULL);
    if (rc != 0)
        fail_msg("%s", err.msg);
}

static void check_type(const char *type)
{
    struct segment *seg;
    struct map *m;
    char *path;
    open_placed(type, &seg, &m, &path);

    struct segment_stats st;
    segment_stats(seg, &st);
    /* generic + subject, from, received, x-mailer, reply-to */
    assert_int_equal(st.databases, 6);
    assert_true(st.used > 0);

    assert_int_equal(segment_seal(seg), 0);
    assert_int_equal(run_probes(m), 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(run_probes(m));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* the databases are the segment's: close must not free them */
    map_close(m);
    segment_free(seg);
    unlink(path);
    free(path);
}

static void test_regexp_placed(void **state)
{
    (void)state;
    check_type("regexp");
}

static void test_pcre_placed(void **state)
{
    (void)state;
    check_type("pcre");
}

/* With the placer cleared, tables stay on the heap as before. */
static void test_no_placer(void **state)
{
    (void)state;
    struct segment *seg;
    struct map *m, *m2;
    struct map_err err;
    char *path;
    char ref[256];
    open_placed("regexp", &seg, &m, &path);
    snprintf(ref, sizeof(ref), "regexp:%s", path);
    assert_int_equal(map_open(ref, 0, &m2, &err), 0);
    struct segment_stats st;
    segment_stats(seg, &st);
    assert_int_equal(st.databases, 6); /* nothing more placed */
    assert_int_equal(run_probes(m2), 0);
    map_close(m2);
    map_close(m);
    segment_free(seg);
    unlink(path);
    free(path);
}

/* A segment too small for the databases: the open fails cleanly. */
static void test_segment_full(void **state)
{
    (void)state;
    struct segment *seg;
    struct map *m = NULL;
    struct map_err err;
    struct map_placer pl;
    char ref[256];
    char *path = write_table();
    snprintf(ref, sizeof(ref), "regexp:%s", path);
    assert_int_equal(segment_create(10, 4096, &seg), 0);
    segment_map_placer(seg, &pl);
    maps_set_placer(&pl);
    int rc = map_open(ref, 0, &m, &err);
    maps_set_placer(NULL);
    assert_true(rc < 0);
    assert_non_null(strstr(err.msg, "policy segment"));
    segment_free(seg);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regexp_placed),
        cmocka_unit_test(test_pcre_placed),
        cmocka_unit_test(test_no_placer),
        cmocka_unit_test(test_segment_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
