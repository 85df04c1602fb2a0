/*
 * test_maps_source.c - the postmap source parser against Postfix 3.7.
 *
 * Every expected result below was checked with "postmap lmdb:FILE" and
 * "mdb_dump -p" (entries) and postmap's stderr (warnings, file named F).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casefold.h"
#include "maps_source.h"
#include "util.h"

struct got {
    struct strbuf entries; /* "key=value@line\n"... */
    struct strbuf warnings; /* "message\n"... */
    int stop_after;         /* return 7 from the callback after this many, 0: never */
    int n;
};

static int got_entry(void *ctx, const struct map_source_entry *e)
{
    struct got *g = ctx;
    char line[32];

    assert_int_equal(e->key[e->keylen], '\0');
    assert_int_equal(e->value[e->valuelen], '\0');
    strbuf_append(&g->entries, e->key, e->keylen);
    strbuf_putc(&g->entries, '=');
    strbuf_append(&g->entries, e->value, e->valuelen);
    snprintf(line, sizeof(line), "@%d\n", e->line);
    strbuf_puts(&g->entries, line);
    if (g->stop_after && ++g->n == g->stop_after)
        return 7;
    return 0;
}

static void got_warn(void *ctx, const char *msg)
{
    struct got *g = ctx;
    strbuf_puts(&g->warnings, msg);
    strbuf_putc(&g->warnings, '\n');
}

static const struct map_source_ops ops = {got_entry, got_warn};

struct parse_case {
    const char *name;
    const char *in;
    size_t len; /* 0: strlen(in) */
    unsigned flags;
    const char *entries;
    const char *warnings;
};

#define FOLD MAP_SOURCE_FOLD
#define UTF8 MAP_SOURCE_UTF8
#define TH MAP_SOURCE_TEXTHASH

static const struct parse_case cases[] = {
    {"empty input", "", 0, FOLD, "", ""},
    {"only comments and blanks", "# a\n\n   \n\t# b\n", 0, FOLD, "", ""},
    {"simple", "k v\n", 0, FOLD, "k=v@1\n", ""},
    {"no final newline", "k v", 0, FOLD, "k=v@1\n", ""},
    {"comment then entry", "# c\n\nk v\n", 0, FOLD, "k=v@3\n", ""},
    {"fold key not value", "Foo.EXAMPLE Bar\n", 0, FOLD, "foo.example=Bar@1\n", ""},
    {"keep case (-f)", "Foo.EXAMPLE Bar\n", 0, 0, "Foo.EXAMPLE=Bar@1\n", ""},
    {"continuation keeps its blanks", "k v1\n  more\n", 0, FOLD, "k=v1  more@1\n", ""},
    {"tab continuation", "k1 v1\n\tTabCont  x\n", 0, FOLD, "k1=v1\tTabCont  x@1\n", ""},
    {"comment inside entry", "k8 a\n# c\n  cont\n", 0, FOLD, "k8=a  cont@1\n", ""},
    {"blank line inside entry", "k a\n\n  b\nz y\n", 0, FOLD, "k=a  b@1\nz=y@4\n", ""},
    {"indented comment inside entry", "k a\n  # c\n b\n", 0, FOLD, "k=a b@1\n", ""},
    {"hash mid-line is text", "k5 v5 # x\n", 0, FOLD, "k5=v5 # x@1\n", ""},
    {"continuation at start", "  leading cont\nk1 v1\n", 0, FOLD, "k1=v1@2\n",
     "F: logical line must not start with whitespace: \"  leading cont\"\n"},
    {"long continuation at start", " 0123456789012345678901234567890123456789\nk v\n", 0, FOLD,
     "k=v@2\n",
     "F: logical line must not start with whitespace: \" 01234567890123456789012345678...\"\n"},
    {"continuation only", "  x\n", 0, FOLD, "",
     "F: logical line must not start with whitespace: \"  x\"\n"},
    {"key without value", "novalue\n", 0, FOLD, "",
     "F, line 1: expected format: key whitespace value\n"},
    {"key, blanks, no value", "k3   \n", 0, FOLD, "",
     "F, line 1: expected format: key whitespace value\n"},
    {"texthash wording", "bad\n", 0, FOLD | TH, "",
     "F, line 1: expected format: key whitespace value -- ignoring this line\n"},
    {"error line is the first line of the entry", "a 1\n  2\nbad\n  \n", 0, FOLD, "a=1  2@1\n",
     "F, line 3: expected format: key whitespace value\n"},
    {"blanks around value", "k \t v  \t\n", 0, FOLD, "k=v@1\n", ""},
    {"CRLF", "crlf val\r\nk2 v2\r\n", 0, FOLD, "crlf=val@1\nk2=v2@2\n", ""},
    {"CRLF no value", "k\r\n", 0, FOLD, "", "F, line 1: expected format: key whitespace value\n"},
    {"vertical tab separates", "k\vv\n", 0, FOLD, "k=v@1\n", ""},
    {"backslash alone is a value", "k9 \\\n", 0, FOLD, "k9=\\@1\n", ""},
    {"backslash protects blank", "q\\ r s\n", 0, FOLD, "q\\ r=s@1\n", ""},
    {"quoted key keeps quotes", "\"A b\"@x val\n", 0, FOLD, "\"a b\"@x=val@1\n", ""},
    {"unbalanced quote", "\"unbal x\nk v\n", 0, FOLD, "k=v@2\n",
     "F, line 1: unbalanced '\"' in '\"unbal x' -- ignoring this line\n"},
    {"alias format", "key: v\n", 0, FOLD, "key:=v@1\n",
     "F, line 1: record is in \"key: value\" format; is this an alias file?\n"},
    {"NUL in key", "nul\0byte v\nn2 val\0ue\n", 21, FOLD, "n2=val@2\n",
     "F, line 1: expected format: key whitespace value\n"},
    {"NUL continuation", "nul3\n \0\n", 8, FOLD, "",
     "F, line 1: expected format: key whitespace value\n"},
    {"duplicates are all reported", "a 1\nA 2\n", 0, FOLD, "a=1@1\na=2@2\n", ""},
    {"non-UTF-8 skipped", "bad\xff\xfe v2\nok v\n", 0, FOLD | UTF8, "ok=v@2\n",
     "F, line 1: non-UTF-8 input \"bad?? v2\" -- ignoring this line\n"},
    {"non-UTF-8 kept without -U", "b\xff v\n", 0, FOLD, "b\xff=v@1\n", ""},
    /* Postfix folds with ICU: "\xc3\x84" (A umlaut) -> "\xc3\xa4", sharp s -> "ss" */
    {"UTF-8 folded as Unicode", "\xc3\x84" "bc v\n", 0, FOLD | UTF8, "\xc3\xa4" "bc=v@1\n", ""},
    {"folding that grows a key", "Stra\xc3\x9f" "e v\n", 0, FOLD | UTF8, "strasse=v@1\n", ""},
    {"UTF-8 kept with -f", "\xc3\x84" "bc v\n", 0, UTF8, "\xc3\x84" "bc=v@1\n", ""},
    {"ASCII-only folding with -u", "\xc3\x84" "BC v\n", 0, FOLD, "\xc3\x84" "bc=v@1\n", ""},
    {"overlong UTF-8 refused", "\xc0\xaf v\n", 0, UTF8, "",
     "F, line 1: non-UTF-8 input \"?? v\" -- ignoring this line\n"},
};

static void parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct parse_case *c = &cases[i];
        struct got g = {0};
        strbuf_init(&g.entries);
        strbuf_init(&g.warnings);
        size_t len = c->len ? c->len : strlen(c->in);
        /* An exact-size copy: reads past the end would show under ASan. */
        char *in = xmalloc(len ? len : 1);
        memcpy(in, c->in, len);
        int rc = map_source_parse(in, len, "F", c->flags, &ops, &g);
        print_message("case: %s\n", c->name);
        assert_int_equal(rc, 0);
        assert_string_equal(g.entries.len ? g.entries.buf : "", c->entries);
        assert_string_equal(g.warnings.len ? g.warnings.buf : "", c->warnings);
        free(in);
        strbuf_free(&g.entries);
        strbuf_free(&g.warnings);
    }
}

static void long_lines(void **state)
{
    (void)state;
    size_t vlen = 200000;
    char *in = xmalloc(vlen + 16);
    memcpy(in, "big ", 4);
    memset(in + 4, 'v', vlen);
    memcpy(in + 4 + vlen, "\n  w\n", 5);
    struct got g = {0};
    strbuf_init(&g.entries);
    strbuf_init(&g.warnings);
    assert_int_equal(map_source_parse(in, vlen + 9, "F", FOLD, &ops, &g), 0);
    assert_int_equal(g.entries.len, 4 + vlen + 3 + 3);
    assert_memory_equal(g.entries.buf + 4 + vlen, "  w@1\n", 6);
    assert_int_equal(g.warnings.len, 0);
    free(in);
    strbuf_free(&g.entries);
    strbuf_free(&g.warnings);
}

static void callback_stops_parse(void **state)
{
    (void)state;
    struct got g = {0};
    strbuf_init(&g.entries);
    strbuf_init(&g.warnings);
    g.stop_after = 2;
    const char *in = "a 1\nb 2\nc 3\n";
    assert_int_equal(map_source_parse(in, strlen(in), "F", FOLD, &ops, &g), 7);
    assert_string_equal(g.entries.buf, "a=1@1\nb=2@2\n");
    strbuf_free(&g.entries);
    strbuf_free(&g.warnings);
}

static void utf8_validation(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
    } v[] = {
        {"plain", 1},          {"\xc3\xa9", 1},     {"\xe2\x82\xac", 1},  {"\xf0\x9f\x98\x80", 1},
        {"\xc3", 0},           {"\xc0\x80", 0},     {"\xe0\x80\x80", 0},  {"\xed\xa0\x80", 0},
        {"\xf4\x90\x80\x80", 0}, {"\xff", 0},       {"\x80", 0},          {"\xe2\x82", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(v); i++)
        assert_int_equal(utf8_valid(v[i].s, strlen(v[i].s)), v[i].ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_table),
        cmocka_unit_test(long_lines),
        cmocka_unit_test(callback_stops_parse),
        cmocka_unit_test(utf8_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
