/*
 * casefold.h - Postfix's key case folding and UTF-8 check for lookup tables.
 *
 * Postfix (smtputf8_enable = yes, the default) folds the keys of fixed
 * tables with ICU's full Unicode case folding (U_FOLD_CASE_DEFAULT: "É" ->
 * "é", "ß" -> "ss"), and refuses to look up a key that is not valid UTF-8,
 * in every table type, with "non-UTF-8 key ...: malformed UTF-8 or invalid
 * codepoint". Pure ASCII, the common case, never reaches ICU.
 */
#ifndef MX_CASEFOLD_H
#define MX_CASEFOLD_H

#include <stddef.h>

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, at
 * most U+10FFFF), as Postfix's valid_utf8_string(). */
int utf8_valid(const char *s, size_t len);

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* 1 when s[0..len) has a byte >= 0x80. */
int str_has_8bit(const char *s, size_t len);

/* Fold s[0..len) into out (cap bytes, NUL-terminated). Folding can grow
 * the text (at most 3x, a bound the caller may rely on: cap >= 3*len+1
 * always fits). Returns the folded length, -ENOSPC when it does not fit,
 * -EILSEQ when s is not valid UTF-8. */
long casefold_utf8(const char *s, size_t len, char *out, size_t cap);

#endif
