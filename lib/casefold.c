/*
 * casefold.c - UTF-8 validation and ICU case folding for table keys.
 *
 * The ICU case map is opened once per process on first use; if ICU cannot
 * open it (out of memory at start-up) we die, since answering lookups with
 * differently folded keys would silently change policy.
 */
#include "casefold.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <unicode/ucasemap.h>
#include <unicode/utypes.h>

int str_has_8bit(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else
        return 0;
    if (n < need + 1)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return need + 1;
}

int utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(u + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

static UCaseMap *casefold_map(void)
{
    static UCaseMap *csm;
    if (!csm) {
        UErrorCode e = U_ZERO_ERROR;
        csm = ucasemap_open("", U_FOLD_CASE_DEFAULT, &e);
        if (U_FAILURE(e) || !csm)
            log_fatal("cannot open the ICU case map: %s", u_errorName(e));
    }
    return csm;
}

long casefold_utf8(const char *s, size_t len, char *out, size_t cap)
{
    if (!str_has_8bit(s, len)) {
        if (len + 1 > cap)
            return -ENOSPC;
        for (size_t i = 0; i < len; i++)
            out[i] = ascii_lower(s[i]);
        out[len] = '\0';
        return (long)len;
    }
    if (!utf8_valid(s, len))
        return -EILSEQ;
    if (len > INT32_MAX / 4 || cap > INT32_MAX)
        return -ENOSPC;
    UErrorCode e = U_ZERO_ERROR;
    int32_t n = ucasemap_utf8FoldCase(casefold_map(), out, (int32_t)cap, s, (int32_t)len, &e);
    if (e == U_BUFFER_OVERFLOW_ERROR || e == U_STRING_NOT_TERMINATED_WARNING || n < 0 ||
        (size_t)n + 1 > cap)
        return -ENOSPC;
    if (U_FAILURE(e))
        return -EILSEQ;
    out[n] = '\0';
    return n;
}
