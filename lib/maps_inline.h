/*
 * maps_inline.h - parser of Postfix "inline:{ key=value, ... }" tables.
 *
 * Syntax (Postfix 3.0+ dict_inline.c, checked against postmap 3.7.11):
 * the text after "inline:" must be one "{...}" group with balanced braces
 * and something inside; items are separated by commas or white space
 * outside braces; an item "key=value" has no blanks around '='; an item in
 * braces "{ key = text, with commas }" has its braces and outer blanks
 * stripped, blanks around '=' allowed. The key ends at white space or '='
 * outside "double quotes" (a backslash protects the next byte; quotes and
 * backslashes stay in the key); the value is the rest, trimmed. A later
 * duplicate key replaces an earlier one. An empty value is accepted here
 * (Postfix fails the lookup that finds it, see access.c).
 *
 * Pure: no I/O, no globals. Errors carry Postfix's reason text, e.g.
 * "missing '=' after attribute name"; maps_inline.c adds the
 * ": \"inline:...\"; need \"inline:{name=value...}\"" tail.
 */
#ifndef MX_MAPS_INLINE_H
#define MX_MAPS_INLINE_H

#include <stddef.h>

enum inline_parse_result {
    INLINE_OK = 0,
    INLINE_BAD_UTF8,   /* "bad UTF-8 syntax" */
    INLINE_BAD_SYNTAX, /* "bad syntax": not one non-empty {...} group */
    INLINE_BAD_ITEM,   /* an item is malformed: why says how */
    INLINE_EMPTY,      /* "empty table" */
};

struct inline_entry {
    const char *key; /* NUL-terminated, in the table's arena */
    size_t keylen;
    const char *value;
    size_t valuelen;
};

struct inline_table {
    struct inline_entry *entries; /* sorted by key, no duplicates */
    size_t n;
    char *arena;
    char **grown; /* keys that Unicode folding made longer than the arena's copy */
    size_t ngrown;
    int placed;   /* entries and strings in the placer's memory (maps.h) */
};

/* Parse the text after "inline:". fold: case-fold keys (Unicode, as Postfix). On an
 * error, why (if non-NULL) gets Postfix's reason and out is empty. */
enum inline_parse_result inline_parse(const char *buf, size_t len, int fold,
                                      struct inline_table *out, char *why, size_t whylen);
void inline_table_free(struct inline_table *t);

/*
 * Postfix 3.7's inline pattern tables, "regexp:{ {rule}, {rule} }" and
 * "pcre:{...}" (dict_stream.c): buf is the text after "regexp:" and starts
 * with '{'. The outer braces must balance with nothing after them; inside,
 * items are separated by commas or white space outside braces and each
 * must be "{...}" with balanced braces (so a pattern cannot contain an
 * unbalanced brace); the braces and the blanks inside them are stripped
 * and the rule becomes one line of table text, "\n"-terminated, in order.
 * "{}" gives an empty line (it still counts as a line, as in Postfix, so
 * "line N" of a later error is the Nth rule); "{ }" as a whole is an
 * empty table. A newline inside a rule stays: the text after it is a new
 * line, or a continuation when it starts with white space.
 * On success *text (malloc'ed, NUL-terminated, the caller frees) and
 * *textlen are set. On INLINE_BAD_ITEM, why gets Postfix's reason:
 * "missing '}' in \"...\"", "syntax error after '}' in \"...\"" or
 * "no '{' at start of text in \"...\"", quoting the text from the fault
 * on; the caller adds "regexp map: " in front. Pure.
 */
enum inline_parse_result inline_rules_text(const char *buf, size_t len, char **text,
                                           size_t *textlen, char *why, size_t whylen);
/* The entry for key, or NULL. */
const struct inline_entry *inline_find(const struct inline_table *t, const char *key,
                                       size_t keylen);

#endif
