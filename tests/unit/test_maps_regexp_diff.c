/* test_maps_regexp_diff.c - differential test: regexp:/pcre: tables against
 * the engines Postfix uses, on random patterns and keys.
 *
 * For each random pattern that glibc regcomp() (or PCRE2) accepts, a
 * one-rule table "/pattern/flags R" must answer exactly as regexec() (or
 * pcre2_match()) does on every random key: this exercises the ERE to
 * Hyperscan translation, the prefilter and always-candidate paths, and the
 * newline and case flags. Fixed seed: a failure reproduces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"

static const char *const ere_tokens[] = {
    "a", "b", "A", "_", " ", ".", "[ab]", "[^a]", "[[:upper:]]", "[]a]", "[^]a]", "[a-c]",
    "[\\.]", "\\w", "\\W", "\\s", "\\S", "\\b", "\\B", "\\<", "\\>", "\\`", "\\'", "(", "(", ")",
    "|", "*", "+", "?", "{2}", "{,2}", "{1,}", "{0,1}", "^", "$", "\\n", "\\N", "\\{", "\\1",
    "\\.", "\\*", "{", "}",
};

static const char *const pcre_tokens[] = {
    "a", "b", "A", "_", " ", ".", "[ab]", "[^a]", "\\d", "\\w", "\\s", "\\b", "(", "(", ")",
    "(?:", "|", "*", "+", "?", "*?", "{2}", "{1,}", "^", "$", "\\n", "\\1", "(?=a)", "\\.",
    "\\A", "\\z", "\\Z",
};

static const char key_chars[] = "aAbB _\n.{}";

static unsigned long rnd_state = 12345;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 6364136223846793005UL + 1442695040888963407UL;
    return (unsigned)((rnd_state >> 33) % n);
}

static void random_pattern(char *out, size_t cap, const char *const *tok, size_t ntok)
{
    size_t len = 0, n = 1 + rnd(6);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *t = tok[rnd((unsigned)ntok)];
        if (len + strlen(t) + 1 >= cap)
            break;
        strcpy(out + len, t);
        len += strlen(t);
    }
}

static void random_key(char *out, size_t cap)
{
    size_t n = rnd(9);
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = key_chars[rnd(sizeof(key_chars) - 1)];
    out[n] = '\0';
}

static const char *const flag_sets[] = {"", "i", "m", "im"};

/* The "/" delimiter must not occur unescaped; our tokens have none. */
static struct map *open_one(const char *type, const char *pat, const char *flags, char *path)
{
    strcpy(path, "/tmp/test_maps_regexp_diff.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "/%s/%s R\n", pat, flags);
    fclose(f);
    char ref[128];
    snprintf(ref, sizeof(ref), "%s:%s", type, path);
    struct map *m = NULL;
    struct map_err err;
    if (map_open(ref, 0, &m, &err) != 0)
        fail_msg("open /%s/%s: %s", pat, flags, err.msg);
    return m;
}

static void regexp_agrees_with_regexec(void **state)
{
    (void)state;
    int compared = 0;
    for (int iter = 0; iter < 1500; iter++) {
        char pat[128], key[16], path[64], buf[16];
        struct map_value v = {buf, sizeof(buf), 0};
        random_pattern(pat, sizeof(pat), ere_tokens, sizeof(ere_tokens) / sizeof(ere_tokens[0]));
        const char *flags = flag_sets[rnd(4)];
        /* regexp_table(5): i toggles REG_ICASE off; m adds REG_NEWLINE */
        int cflags = REG_EXTENDED | (strchr(flags, 'i') ? 0 : REG_ICASE) |
                     (strchr(flags, 'm') ? REG_NEWLINE : 0);
        regex_t re;
        if (regcomp(&re, pat, cflags) != 0)
            continue;
        struct map *m = open_one("regexp", pat, flags, path);
        for (int k = 0; k < 30; k++) {
            random_key(key, sizeof(key));
            int want = regexec(&re, key, 0, NULL, 0) == 0;
            int got = map_lookup_str(m, key, &v);
            if (got != want)
                fail_msg("/%s/%s on \"%s\": table %d, regexec %d", pat, flags, key, got, want);
            compared++;
        }
        map_close(m);
        regfree(&re);
        unlink(path);
    }
    assert_true(compared > 10000);
}

static void pcre_agrees_with_pcre2(void **state)
{
    (void)state;
    int compared = 0;
    for (int iter = 0; iter < 1000; iter++) {
        char pat[128], key[16], path[64], buf[16];
        struct map_value v = {buf, sizeof(buf), 0};
        random_pattern(pat, sizeof(pat), pcre_tokens, sizeof(pcre_tokens) / sizeof(pcre_tokens[0]));
        const char *flags = flag_sets[rnd(4)];
        /* pcre_table(5): i and s on by default and toggled by the flags */
        uint32_t opts = (strchr(flags, 'i') ? 0 : PCRE2_CASELESS) | PCRE2_DOTALL |
                        (strchr(flags, 'm') ? PCRE2_MULTILINE : 0);
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &ec, &eo, NULL);
        if (!code)
            continue;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
        struct map *m = open_one("pcre", pat, flags, path);
        for (int k = 0; k < 30; k++) {
            random_key(key, sizeof(key));
            int want = pcre2_match(code, (PCRE2_SPTR)key, strlen(key), 0, 0, md, NULL) >= 0;
            int got = map_lookup_str(m, key, &v);
            if (got != want)
                fail_msg("/%s/%s on \"%s\": table %d, pcre2 %d", pat, flags, key, got, want);
            compared++;
        }
        map_close(m);
        pcre2_match_data_free(md);
        pcre2_code_free(code);
        unlink(path);
    }
    assert_true(compared > 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(regexp_agrees_with_regexec),
        cmocka_unit_test(pcre_agrees_with_pcre2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
