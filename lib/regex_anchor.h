/*
 * regex_anchor.h - the header names a pattern is anchored on.
 *
 * Most header_checks rules look like /^Subject:.*spam/ or
 * /^(From|Reply-To):.*@example/. Such a pattern can only match a key whose
 * text before its first ':' is one of those names, so a table can keep one
 * Hyperscan database per header name and scan just the key's own (plus the
 * patterns that are not anchored). regex_anchor_names() finds the names; it
 * is conservative: anything it is not sure of (a top-level '|', a quantifier
 * on the name, escapes it does not know, case-sensitive or multi-line
 * matching) is reported as not anchored, which is always correct.
 */
#ifndef MX_REGEX_ANCHOR_H
#define MX_REGEX_ANCHOR_H

#include <stddef.h>

#define REGEX_ANCHOR_NAME_MAX 64 /* bytes, including the NUL */
#define REGEX_ANCHOR_NAMES_MAX 16

enum regex_anchor_syntax { REGEX_ANCHOR_POSIX_ERE, REGEX_ANCHOR_PCRE };

/*
 * For a case-insensitive, single-line pattern text[0..len): store the
 * lower-case names (without ':') in names[], return how many (1..16), or 0
 * when the pattern is not anchored on a header name.
 */
int regex_anchor_names(const char *text, size_t len, enum regex_anchor_syntax syn,
                       char names[][REGEX_ANCHOR_NAME_MAX]);

/*
 * regex_anchor_names(), and on success *rest (if not NULL) = the offset of
 * the text after the prefix's ':'. A key whose name is one of names[]
 * matches the pattern iff its text after the ':' matches "^" + that rest
 * (Hyperscan scans only the rest of the key: see maps_regexp.c), provided
 * regex_anchor_rest_local() says the rest does not look behind its start.
 */
int regex_anchor_split(const char *text, size_t len, enum regex_anchor_syntax syn,
                       char names[][REGEX_ANCHOR_NAME_MAX], size_t *rest);
int regex_anchor_rest_local(const char *text, size_t len, size_t off,
                            enum regex_anchor_syntax syn);

/* The lower-case name of key[0..len) (text before its first ':', if it is
 * a valid name) into out; returns its length, or 0 when there is none. */
size_t regex_anchor_key_name(const char *key, size_t len, char out[REGEX_ANCHOR_NAME_MAX]);

#endif
