/*
 * test_maps_cidr.c - cidr_table(5): parser warnings, matching, first match,
 * negation, if/endif, and the indexed lookup against the linear reference.
 *
 * Expected answers and warning texts were taken from postmap 3.7.11
 * (printf KEYS | postmap -q - cidr:FILE) on the same inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"
#include "maps_cidr_parse.h"

struct probe {
    const char *key;
    const char *want; /* NULL: not found */
};

struct table_case {
    const char *text;
    const char *warnings[6]; /* expected warnings after "cidr map F, " / "F: " */
    struct probe probes[10];
};

static const struct table_case cases[] = {
    {"# comment\n1.2.3.0/24   one\n  continued\n1.2.3.4/24 hostbits\n1.2.3.4/33 badprefix\n"
     "1.2.3 badaddr\n!10.0.0.0/8 notten\n::1 v6lo\n2001:db8::/32 doc6\n1.2.3.5\n",
     {"line 4: non-null host address bits in \"1.2.3.4/24\", perhaps you should use "
      "\"1.2.3.0/24\" instead: skipping this rule",
      "line 5: bad mask length in \"1.2.3.4/33\": skipping this rule",
      "line 6: bad address pattern: \"1.2.3\": skipping this rule",
      "line 10: no lookup result: skipping this rule"},
     {{"1.2.3.4", "one  continued"},
      {"10.1.1.1", NULL},
      {"11.1.1.1", "notten"},
      {"::1", "v6lo"},
      {"0:0:0:0:0:0:0:1", "v6lo"},
      {"2001:DB8::5", "doc6"},
      {"foo", NULL},
      {"::ffff:1.2.3.4", NULL},
      {"[1.2.3.4]", NULL},
      {" 1.2.3.4", NULL}}},
    /* if/endif, nesting, negated IF, an IF without ENDIF */
    {"if 192.168.0.0/16\n192.168.1.0/24 inner\n!192.168.2.0/24 innerneg\nif !192.168.3.0/24\n"
     "192.168.0.0/16 nested\nendif\nendif\nendif\nif 10.0.0.0/8\n0.0.0.0/0 all\n",
     {"line 8: ENDIF without IF: skipping this rule", "line 9: IF has no matching ENDIF"},
     {{"192.168.1.1", "inner"},
      {"192.168.3.1", "innerneg"},
      {"192.168.2.1", "nested"},
      {"10.0.0.1", "all"},
      {"1.1.1.1", NULL}}},
    /* negation only matches its own family; first match wins */
    {"! 1.2.3.4 x\n1.2.3.4 a\n1.2.3.4 b\n",
     {NULL},
     {{"1.2.3.5", "x"}, {"1.2.3.4", "a"}, {"::1", NULL}}},
    /* mask quirks: 8-bit storage, empty, signs, leading zeros */
    {"1.2.3.0/280 x\n1.2.3.0/256 y\n1.2.3.4/ z\n1.2.3.0/+24 w\n0.0.0.0/99999999999999999999 v\n"
     "01.2.3.4 u\n",
     {"line 2: non-null host address bits in \"1.2.3.0/256\", perhaps you should use "
      "\"0.0.0.0/0\" instead: skipping this rule",
      "line 3: bad mask value in \"1.2.3.4/\": skipping this rule",
      "line 4: bad mask value in \"1.2.3.0/+24\": skipping this rule",
      "line 5: bad mask length in \"0.0.0.0/99999999999999999999\": skipping this rule",
      "line 6: bad address pattern: \"01.2.3.4\": skipping this rule"},
     {{"1.2.3.4", "x"}, {"1.2.4.4", NULL}}},
    /* brackets, keywords, CRLF, tabs, comment inside an entry */
    {"[1.2.3.4] a\n[1.2.3.0]/24 b\n[1.2.3.4 d\n[1.2.3.4]x e\nIF 5.0.0.0/8\n5.5.5.5\tfive \r\n"
     "# c\n   more\nEndIf\n",
     {"line 3: missing ']' character after \"[1.2.3.4\": skipping this rule",
      "line 4: garbage after \"[1.2.3.4]\": skipping this rule"},
     {{"1.2.3.4", "a"}, {"1.2.3.9", "b"}, {"5.5.5.5", "five \r   more"}}},
    {"if1.2.3.0/24\nif\nif 1.2.3.0/24 foo\nendif foo\nendifx 1\n!\n",
     {"line 1: bad network value in \"if1.2.3.0/24\": skipping this rule",
      "line 2: no address pattern: skipping this rule",
      "line 3: bad mask value in \"1.2.3.0/24 foo\": skipping this rule",
      "line 4: garbage after ENDIF: skipping this rule",
      "line 5: bad address pattern: \"endifx\": skipping this rule",
      "line 6: no address pattern: skipping this rule"},
     {{"1.2.3.4", NULL}}},
    /* continuation without a first line is dropped with a warning */
    {"   1.2.3.4 x\n1.2.3.5 y\n", {"logical line must not start with whitespace: \"   1.2.3.4 x\""},
     {{"1.2.3.4", NULL}, {"1.2.3.5", "y"}}},
    {"::/0 all6\n0.0.0.0/0 all4\n", {NULL}, {{"1.2.3.4", "all4"}, {"fe80::1", "all6"}}},
};

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/test_cidr_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void cidr_cases_match_postmap(void **state)
{
    (void)state;
    char buf[256];
    struct map_value v = {buf, sizeof(buf), 0};

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct table_case *tc = &cases[c];
        struct cidr_table t;
        cidr_table_parse(tc->text, strlen(tc->text), "F", &t);
        size_t nwant = 0;
        while (nwant < 6 && tc->warnings[nwant])
            nwant++;
        if (t.nwarnings != nwant) {
            for (size_t i = 0; i < t.nwarnings; i++)
                print_message("case %zu: got warning %s\n", c, t.warnings[i]);
        }
        assert_int_equal(t.nwarnings, nwant);
        for (size_t i = 0; i < nwant; i++) {
            char want[512];
            if (strncmp(tc->warnings[i], "line ", 5) == 0)
                snprintf(want, sizeof(want), "cidr map F, %s", tc->warnings[i]);
            else
                snprintf(want, sizeof(want), "F: %s", tc->warnings[i]);
            assert_string_equal(t.warnings[i], want);
        }

        char *path = write_tmp(tc->text);
        char ref[300];
        struct map *m;
        struct map_err err;
        snprintf(ref, sizeof(ref), "cidr:%s", path);
        if (nwant > 0) {
            /* Postfix skips the broken rules; we refuse the table, naming
             * the first problem as "FILE, line N: what". The answers the
             * rest of the table gives (Postfix's) are still checked, with
             * the parser's reference matcher. */
            assert_int_equal(map_open(ref, 0, &m, &err), -EINVAL);
            const char *first = tc->warnings[0];
            char want[512];
            size_t wl = strlen(first);
            if (wl > 20 && strcmp(first + wl - 20, ": skipping this rule") == 0)
                wl -= 20;
            snprintf(want, sizeof(want), "%s%s%.*s", path,
                     strncmp(first, "line ", 5) == 0 ? ", " : ": ", (int)wl, first);
            assert_string_equal(err.msg, want);
            for (size_t i = 0; i < 10 && tc->probes[i].key; i++) {
                uint8_t addr[16];
                int family;
                long r = -1;
                if (cidr_key_parse(tc->probes[i].key, addr, &family) == 0)
                    r = cidr_table_match_linear(&t, addr, family);
                if (tc->probes[i].want == NULL)
                    assert_int_equal(r, -1);
                else {
                    assert_true(r >= 0);
                    assert_string_equal(t.rules[r].value, tc->probes[i].want);
                }
            }
            cidr_table_free(&t);
            unlink(path);
            free(path);
            continue;
        }
        cidr_table_free(&t);
        assert_int_equal(map_open(ref, 0, &m, &err), 0);
        for (size_t i = 0; i < 10 && tc->probes[i].key; i++) {
            int rc = map_lookup_str(m, tc->probes[i].key, &v);
            if (tc->probes[i].want == NULL) {
                if (rc != 0)
                    print_message("case %zu key %s: got %s\n", c, tc->probes[i].key, buf);
                assert_int_equal(rc, 0);
            } else {
                if (rc != 1)
                    print_message("case %zu key %s: not found\n", c, tc->probes[i].key);
                assert_int_equal(rc, 1);
                assert_string_equal(buf, tc->probes[i].want);
            }
        }
        map_close(m);
        unlink(path);
        free(path);
    }
}

static void cidr_missing_file_fails(void **state)
{
    (void)state;
    struct map *m;
    struct map_err err;
    assert_int_equal(map_open("cidr:/nonexistent/x.cidr", 0, &m, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "open /nonexistent/x.cidr"));
}

static void cidr_bad_utf8_result_fails_lookup(void **state)
{
    (void)state;
    char buf[64];
    struct map_value v = {buf, sizeof(buf), 0};
    char *path = write_tmp("1.2.3.4 a\xff\n1.2.3.5 b\n");
    char ref[300];
    struct map *m;
    struct map_err err;
    snprintf(ref, sizeof(ref), "cidr:%s", path);
    assert_int_equal(map_open(ref, 0, &m, &err), 0);
    assert_int_equal(map_lookup_str(m, "1.2.3.4", &v), -EIO);
    assert_int_equal(map_lookup_str(m, "1.2.3.5", &v), 1);
    map_close(m);
    unlink(path);
    free(path);
}

/* A small deterministic PRNG so the test is reproducible. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

/* Random tables mixing long runs (indexed), negations and if/endif: the
 * map (indexed) must answer exactly as the linear reference. */
static void cidr_index_agrees_with_linear(void **state)
{
    (void)state;
    char buf[64];
    struct map_value v = {buf, sizeof(buf), 0};

    for (int round = 0; round < 40; round++) {
        size_t cap = 1 << 16, len = 0;
        char *text = malloc(cap);
        int nrules = 50 + (int)(rnd() % 400), depth = 0;
        for (int i = 0; i < nrules; i++) {
            uint32_t kind = rnd() % 20;
            uint32_t a = rnd() & 0x0f0f0f0f; /* few distinct networks: many overlaps */
            int p = (int)(rnd() % 33);
            uint32_t net = p ? a & (0xffffffffu << (32 - p)) : 0;
            char line[160];
            /* IF/ENDIF balanced: a stray one makes the table refused. */
            if (kind == 1 && depth == 0)
                kind = 4;
            if (kind == 0) {
                snprintf(line, sizeof(line), "if %s%u.%u.%u.%u/%d\n", (rnd() & 1) ? "!" : "",
                         net >> 24, (net >> 16) & 255, (net >> 8) & 255, net & 255, p);
                depth++;
            } else if (kind == 1) {
                snprintf(line, sizeof(line), "endif\n");
                depth--;
            }
            else if (kind == 2)
                snprintf(line, sizeof(line), "!%u.%u.%u.%u/%d neg%d\n", net >> 24,
                         (net >> 16) & 255, (net >> 8) & 255, net & 255, p, i);
            else if (kind == 3)
                snprintf(line, sizeof(line), "2001:db8:%x::/48 v6r%d\n", rnd() & 0xf, i);
            else
                snprintf(line, sizeof(line), "%u.%u.%u.%u/%d r%d\n", net >> 24,
                         (net >> 16) & 255, (net >> 8) & 255, net & 255, p, i);
            memcpy(text + len, line, strlen(line));
            len += strlen(line);
        }
        for (; depth > 0; depth--) {
            memcpy(text + len, "endif\n", 6);
            len += 6;
        }
        text[len] = '\0';
        struct cidr_table t;
        cidr_table_parse(text, len, "R", &t);
        char *path = write_tmp(text);
        char ref[300];
        struct map *m;
        struct map_err err;
        snprintf(ref, sizeof(ref), "cidr:%s", path);
        assert_int_equal(map_open(ref, 0, &m, &err), 0);
        for (int q = 0; q < 2000; q++) {
            char key[64];
            uint8_t addr[16];
            int family;
            if (q % 10 == 9)
                snprintf(key, sizeof(key), "2001:db8:%x::%x", rnd() & 0xf, rnd() & 0xffff);
            else {
                uint32_t a = rnd() & 0x0f0f0f0f;
                snprintf(key, sizeof(key), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
                         (a >> 8) & 255, a & 255);
            }
            assert_int_equal(cidr_key_parse(key, addr, &family), 0);
            long want = cidr_table_match_linear(&t, addr, family);
            int rc = map_lookup_str(m, key, &v);
            if (want < 0) {
                assert_int_equal(rc, 0);
            } else {
                assert_int_equal(rc, 1);
                assert_string_equal(buf, t.rules[want].value);
            }
        }
        map_close(m);
        cidr_table_free(&t);
        unlink(path);
        free(path);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cidr_cases_match_postmap),
        cmocka_unit_test(cidr_missing_file_fails),
        cmocka_unit_test(cidr_bad_utf8_result_fails_lookup),
        cmocka_unit_test(cidr_index_agrees_with_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
