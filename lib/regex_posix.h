/*
 * regex_posix.h - POSIX ERE, as glibc regcomp() reads it, to Hyperscan syntax.
 *
 * rxposix_translate() rewrites a pattern that regcomp() already accepted
 * with the same cflags into a Hyperscan expression plus HS_FLAG_* bits.
 * The answer says how far the translation can be trusted:
 *   RXPOSIX_EXACT       Hyperscan matches exactly the keys regexec() matches;
 *   RXPOSIX_SUPERSET    Hyperscan matches at least those keys: confirm each
 *                       candidate with regexec() (\< and \> become \b);
 *   RXPOSIX_UNSUPPORTED no translation; the caller lets regexec() decide
 *                       on every key (BRE, REG_NEWLINE with ^, [.x.] ...).
 * Single-character atoms (bracket expressions, '.', \w \W \s \S) are not
 * translated by rule: each is compiled alone with regcomp() and every byte
 * 1..255 is tried with regexec(), so the class is glibc's own in the
 * current (C) locale, including REG_ICASE and REG_NEWLINE effects.
 * Back-references are kept as \N; Hyperscan refuses them without
 * HS_FLAG_PREFILTER, which the caller then adds.
 */
#ifndef MX_REGEX_POSIX_H
#define MX_REGEX_POSIX_H

#include "util.h"

enum rxposix_result {
    RXPOSIX_EXACT = 0,
    RXPOSIX_SUPERSET = 1,
    RXPOSIX_UNSUPPORTED = 2,
};

/* re: NUL-terminated pattern; cflags: REG_EXTENDED/REG_ICASE/REG_NEWLINE.
 * out receives the expression (reset first); *hs_flags gets
 * HS_FLAG_CASELESS/HS_FLAG_MULTILINE as needed. */
enum rxposix_result rxposix_translate(const char *re, int cflags, struct strbuf *out,
                                      unsigned *hs_flags);

#endif
