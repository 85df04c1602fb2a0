/* test_regex_anchor.c - header-name anchors of patterns, and partitioned
 * regexp: tables answering exactly as a naive first-match walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"
#include "regex_anchor.h"

struct anchor_case {
    const char *pattern;
    enum regex_anchor_syntax syn;
    const char *names; /* space-separated, "" = not anchored */
};

static const struct anchor_case anchor_cases[] = {
    {"^Subject:.*spam", REGEX_ANCHOR_POSIX_ERE, "subject"},
    {"^subject:", REGEX_ANCHOR_POSIX_ERE, "subject"},
    {"^(From|Reply-To):.*@x\\.example", REGEX_ANCHOR_POSIX_ERE, "from reply-to"},
    {"^Content-(Type|Disposition):.*(file)?name=.*\\.(bat|com|exe)", REGEX_ANCHOR_POSIX_ERE,
     "content-type content-disposition"},
    {"^(X|Y)-(A|B):", REGEX_ANCHOR_POSIX_ERE, "x-a x-b y-a y-b"},
    {"^(?:From|To):", REGEX_ANCHOR_PCRE, "from to"},
    {"^(?:From|To):", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^X\\-Spam:", REGEX_ANCHOR_PCRE, "x-spam"},
    /* a top-level alternative is not anchored */
    {"^Subject:.*a|b", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^Subject:(a|b)", REGEX_ANCHOR_POSIX_ERE, "subject"},
    {"^Subject:[|]x", REGEX_ANCHOR_POSIX_ERE, "subject"},
    {"^Subject:\\|x", REGEX_ANCHOR_POSIX_ERE, "subject"},
    /* POSIX: backslash is literal in brackets, so ']' after it ends it */
    {"^Subject:[\\]|x", REGEX_ANCHOR_POSIX_ERE, ""},
    /* PCRE: \] stays inside the bracket */
    {"^Subject:[\\]|x]", REGEX_ANCHOR_PCRE, "subject"},
    {"^Subject:[[:alpha:]|]", REGEX_ANCHOR_POSIX_ERE, "subject"},
    {"^Subject:[]|]", REGEX_ANCHOR_POSIX_ERE, "subject"},
    {"^Subject:\\Q|\\E", REGEX_ANCHOR_PCRE, "subject"},
    {"^Subject:(?#|)x", REGEX_ANCHOR_PCRE, "subject"},
    {"^Subject:(a", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^Subject:a)|b", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^Subject:[abc", REGEX_ANCHOR_POSIX_ERE, ""},
    /* quantifiers, metacharacters and missing colons */
    {"^Subjects?:", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^(From|To)?:", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^(Froms*|To):", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^Sub.ect:", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^Subject", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^:", REGEX_ANCHOR_POSIX_ERE, ""},
    {"Subject:", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^ Subject:", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^(|To):", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^(From|To:", REGEX_ANCHOR_POSIX_ERE, ""},
    {"^\\w+:", REGEX_ANCHOR_PCRE, ""},
    {"^(a|b|c|d)(e|f|g|h)(i|j):", REGEX_ANCHOR_POSIX_ERE, ""}, /* 32 names: too many */
};

static void anchor_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(anchor_cases) / sizeof(anchor_cases[0]); i++) {
        const struct anchor_case *c = &anchor_cases[i];
        char names[REGEX_ANCHOR_NAMES_MAX][REGEX_ANCHOR_NAME_MAX];
        int n = regex_anchor_names(c->pattern, strlen(c->pattern), c->syn, names);
        char got[512] = "";
        for (int k = 0; k < n; k++) {
            if (k)
                strcat(got, " ");
            strcat(got, names[k]);
        }
        if (strcmp(got, c->names) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", c->pattern, got, c->names);
    }
}

/* Where the rest starts, and whether it may be scanned on its own. */
static void rest_split(void **state)
{
    (void)state;
    static const struct {
        const char *pattern;
        enum regex_anchor_syntax syn;
        int off;   /* -1: not anchored */
        int local; /* regex_anchor_rest_local() */
    } cases[] = {
        {"^Subject:.*spam", REGEX_ANCHOR_POSIX_ERE, 9, 1},
        {"^(From|Reply-To):.*@x", REGEX_ANCHOR_POSIX_ERE, 17, 1},
        {"^(?:From|To): *x$", REGEX_ANCHOR_PCRE, 13, 1},
        {"^Subject:[^a-z]{3}", REGEX_ANCHOR_POSIX_ERE, 9, 1},
        {"^Subject:.*\\bfree\\b", REGEX_ANCHOR_PCRE, 9, 1},
        {"^Subject:(?i)x(?:y)", REGEX_ANCHOR_PCRE, 9, 1},
        /* a quantified ':' is not required: not anchored */
        {"^Subject:*x", REGEX_ANCHOR_POSIX_ERE, -1, 0},
        {"^Subject:?", REGEX_ANCHOR_PCRE, -1, 0},
        /* rests that look before their start */
        {"^Subject:(^|x)", REGEX_ANCHOR_POSIX_ERE, 9, 0},
        {"^Subject:.*\\Ax", REGEX_ANCHOR_PCRE, 9, 0},
        {"^Subject:.*(?<=:)x", REGEX_ANCHOR_PCRE, 9, 0},
        {"^Content-(Type|Disposition):.*\\1", REGEX_ANCHOR_POSIX_ERE, 28, 0},
        {"^Subject:(a)\\g1", REGEX_ANCHOR_PCRE, 9, 0},
        {"^Subject:.*(?=x)", REGEX_ANCHOR_PCRE, 9, 0}, /* conservative */
        {"^Subject:.*\\Qa^b\\E", REGEX_ANCHOR_PCRE, 9, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char names[REGEX_ANCHOR_NAMES_MAX][REGEX_ANCHOR_NAME_MAX];
        size_t off = 0, len = strlen(cases[i].pattern);
        int n = regex_anchor_split(cases[i].pattern, len, cases[i].syn, names, &off);
        if (cases[i].off < 0) {
            if (n != 0)
                fail_msg("%s: anchored, want not", cases[i].pattern);
            continue;
        }
        if (n <= 0 || off != (size_t)cases[i].off)
            fail_msg("%s: n %d off %zu, want off %d", cases[i].pattern, n, off, cases[i].off);
        if (regex_anchor_rest_local(cases[i].pattern, len, off, cases[i].syn) != cases[i].local)
            fail_msg("%s: local != %d", cases[i].pattern, cases[i].local);
    }
}

static void key_names(void **state)
{
    (void)state;
    char out[REGEX_ANCHOR_NAME_MAX];
    assert_int_equal(regex_anchor_key_name("Subject: hi", 11, out), 7);
    assert_string_equal(out, "subject");
    assert_int_equal(regex_anchor_key_name("X-Spam-Flag:", 12, out), 11);
    assert_string_equal(out, "x-spam-flag");
    assert_int_equal(regex_anchor_key_name("Subject : hi", 12, out), 0);
    assert_int_equal(regex_anchor_key_name("no colon", 8, out), 0);
    assert_int_equal(regex_anchor_key_name(": empty", 7, out), 0);
    assert_int_equal(regex_anchor_key_name("", 0, out), 0);
}

/* A regexp: table of >= RX_PARTITION_MIN rules, anchored and not, with
 * negations, answers exactly as walking the rules in file order with
 * regexec (what Postfix does). */
#define NRULES 240
static void partitioned_table_matches_naive_walk(void **state)
{
    (void)state;
    static const char *const heads[] = {"Subject", "From", "Reply-To", "Received", "X-Mailer"};
    static const char *const words[] = {"spam", "cash", "pills", "domain7", "relay", "bulk"};
    char path[] = "/tmp/test_regex_anchor.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    char pats[NRULES][128];
    int neg[NRULES];
    srand(7);
    for (int r = 0; r < NRULES; r++) {
        const char *h = heads[rand() % 5], *w = words[rand() % 6];
        switch (rand() % 9) {
        case 0:
            snprintf(pats[r], sizeof(pats[r]), "^%s:.*%s%d", h, w, r % 9);
            break;
        case 1:
            snprintf(pats[r], sizeof(pats[r]), "^(%s|%s):.*%s", h, heads[rand() % 5], w);
            break;
        case 2:
            snprintf(pats[r], sizeof(pats[r]), "%s%d", w, r % 7); /* unanchored */
            break;
        case 3:
            snprintf(pats[r], sizeof(pats[r]), "^%s:.*%s|%s%d", h, w, words[rand() % 6], r % 5);
            break;
        case 4:
            snprintf(pats[r], sizeof(pats[r]), "^%s:[^|]*%s", h, w);
            break;
        case 6: /* the rest anchored at the ':' ("^" + rest in the partition) */
            snprintf(pats[r], sizeof(pats[r]), "^%s: *%s[0-9]", h, w);
            break;
        case 7: /* a rest that ends at the key's end */
            snprintf(pats[r], sizeof(pats[r]), "^%s:.*%s[0-9]$", h, w);
            break;
        case 8: /* '.' takes the newline of a folded header */
            snprintf(pats[r], sizeof(pats[r]), "^%s:.*x[0-9].*%s", h, w);
            break;
        default:
            snprintf(pats[r], sizeof(pats[r]), "^%s: .*[0-9]{%d}", h, 1 + r % 4);
            break;
        }
        neg[r] = rand() % 23 == 0;
        fprintf(f, "%s/%s/ rule%d\n", neg[r] ? "!" : "", pats[r], r);
    }
    fclose(f);

    regex_t re[NRULES];
    for (int r = 0; r < NRULES; r++)
        assert_int_equal(regcomp(&re[r], pats[r], REG_EXTENDED | REG_ICASE | REG_NOSUB), 0);
    char ref[64];
    snprintf(ref, sizeof(ref), "regexp:%s", path);
    struct map *m;
    struct map_err err;
    assert_int_equal(map_open(ref, 0, &m, &err), 0);

    char key[256], buf[64];
    struct map_value v = {buf, sizeof(buf), 0};
    int found = 0;
    for (int k = 0; k < 4000; k++) {
        snprintf(key, sizeof(key), "%s%s %s%d %s x%d%s%s%d", heads[rand() % 5],
                 rand() % 4 ? ":" : " :", words[rand() % 6], rand() % 10, words[rand() % 6],
                 rand() % 100000, rand() % 5 ? " " : "\n\t", words[rand() % 6], rand() % 10);
        int want = -1;
        for (int r = 0; r < NRULES && want < 0; r++)
            if ((regexec(&re[r], key, 0, NULL, 0) == 0) != neg[r])
                want = r;
        int rc = map_lookup_str(m, key, &v);
        if (want < 0) {
            if (rc != 0)
                fail_msg("key \"%s\": want no match, got %s", key, buf);
            continue;
        }
        char exp[32];
        snprintf(exp, sizeof(exp), "rule%d", want);
        if (rc != 1 || strcmp(buf, exp) != 0)
            fail_msg("key \"%s\": want %s, got %s (rc %d)", key, exp, rc == 1 ? buf : "-", rc);
        found++;
    }
    assert_true(found > 400); /* the keys do exercise the rules */
    map_close(m);
    for (int r = 0; r < NRULES; r++)
        regfree(&re[r]);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(anchor_table),
        cmocka_unit_test(rest_split),
        cmocka_unit_test(key_names),
        cmocka_unit_test(partitioned_table_matches_naive_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
