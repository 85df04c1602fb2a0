/*
 * regex_anchor.c - find the header names a pattern is anchored on.
 *
 * Grammar accepted for the prefix (anything else: not anchored):
 *   '^' ( namechar | '\' ('-' | '_') | '(' alt ('|' alt)* ')' )+ ':'
 * where alt is namechar+ (also '(?:' in PCRE), namechar is [A-Za-z0-9_-],
 * and nothing after a name character or group may be a quantifier. The
 * rest of the pattern must not contain '|' at parenthesis depth 0, or the
 * pattern would also match unanchored text ("^Subject:.*a|b" matches "b").
 * The scan of the rest knows brackets and escapes of both syntaxes; when it
 * gets lost (unbalanced parentheses, unterminated brackets) it says "not
 * anchored".
 */
#include "regex_anchor.h"

#include <string.h>

static int is_namechar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int is_quantifier(char c)
{
    return c == '?' || c == '*' || c == '+' || c == '{';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* Skip a bracket expression starting at text[i] == '['; index after ']',
 * or 0 when it does not end. */
static size_t skip_bracket(const char *t, size_t len, size_t i, enum regex_anchor_syntax syn)
{
    i++;
    if (i < len && t[i] == '^')
        i++;
    if (i < len && t[i] == ']')
        i++; /* a leading ']' is literal in both syntaxes */
    while (i < len) {
        char c = t[i];
        if (c == ']')
            return i + 1;
        if (c == '\\' && syn == REGEX_ANCHOR_PCRE) {
            i += 2; /* POSIX: backslash is literal inside brackets */
            continue;
        }
        if (c == '[' && i + 1 < len && (t[i + 1] == ':' || t[i + 1] == '.' || t[i + 1] == '=')) {
            char end = t[i + 1];
            size_t j = i + 2;
            while (j + 1 < len && !(t[j] == end && t[j + 1] == ']'))
                j++;
            if (j + 1 >= len)
                return 0;
            i = j + 2;
            continue;
        }
        i++;
    }
    return 0;
}

/* Whether text[i..len) has a '|' at depth 0 (or cannot be scanned). */
static int rest_has_top_alternation(const char *t, size_t len, size_t i,
                                    enum regex_anchor_syntax syn)
{
    int depth = 0;
    while (i < len) {
        char c = t[i];
        if (c == '\\') {
            if (syn == REGEX_ANCHOR_PCRE && i + 1 < len && t[i + 1] == 'Q') {
                const char *e = NULL;
                for (size_t j = i + 2; j + 1 < len; j++)
                    if (t[j] == '\\' && t[j + 1] == 'E') {
                        e = t + j;
                        break;
                    }
                if (!e)
                    return 0; /* quoted to the end: no metacharacters left */
                i = (size_t)(e - t) + 2;
                continue;
            }
            i += 2;
            continue;
        }
        if (c == '[') {
            size_t j = skip_bracket(t, len, i, syn);
            if (j == 0)
                return 1;
            i = j;
            continue;
        }
        if (c == '(') {
            if (syn == REGEX_ANCHOR_PCRE && i + 2 < len && t[i + 1] == '?' && t[i + 2] == '#') {
                const char *e = memchr(t + i, ')', len - i);
                if (!e)
                    return 1;
                i = (size_t)(e - t) + 1;
                continue;
            }
            depth++;
        } else if (c == ')') {
            if (--depth < 0)
                return 1;
        } else if (c == '|' && depth == 0) {
            return 1;
        }
        i++;
    }
    return depth != 0;
}

int regex_anchor_names(const char *t, size_t len, enum regex_anchor_syntax syn,
                       char names[][REGEX_ANCHOR_NAME_MAX])
{
    return regex_anchor_split(t, len, syn, names, NULL);
}

int regex_anchor_split(const char *t, size_t len, enum regex_anchor_syntax syn,
                       char names[][REGEX_ANCHOR_NAME_MAX], size_t *rest)
{
    size_t n = 1, nlen = 0, i = 1;

    if (len < 3 || t[0] != '^')
        return 0;
    names[0][0] = '\0';
    while (i < len && t[i] != ':') {
        char c = t[i];
        if (c == '\\' && i + 1 < len && (t[i + 1] == '-' || t[i + 1] == '_'))
            c = t[++i];
        else if (c == '(') {
            /* A group of alternatives: names x alternatives. */
            char alts[REGEX_ANCHOR_NAMES_MAX][REGEX_ANCHOR_NAME_MAX];
            size_t na = 0, al = 0;
            i++;
            if (syn == REGEX_ANCHOR_PCRE && i + 1 < len && t[i] == '?' && t[i + 1] == ':')
                i += 2;
            for (;;) {
                if (i >= len)
                    return 0;
                char a = t[i];
                if (a == '\\' && i + 1 < len && (t[i + 1] == '-' || t[i + 1] == '_'))
                    a = t[++i];
                else if (a == '|' || a == ')') {
                    if (al == 0 || na == REGEX_ANCHOR_NAMES_MAX)
                        return 0;
                    alts[na][al] = '\0';
                    na++;
                    al = 0;
                    i++;
                    if (a == ')')
                        break;
                    continue;
                } else if (!is_namechar(a))
                    return 0;
                if (al + 1 >= REGEX_ANCHOR_NAME_MAX || (i + 1 < len && is_quantifier(t[i + 1])))
                    return 0;
                alts[na][al++] = lower(a);
                i++;
            }
            if (i < len && is_quantifier(t[i]))
                return 0;
            if (n * na > REGEX_ANCHOR_NAMES_MAX)
                return 0;
            /* Cross product, in place from the back. */
            for (size_t k = n; k-- > 0;)
                for (size_t a = na; a-- > 0;) {
                    size_t dst = k * na + a;
                    size_t bl = strlen(names[k]), alen = strlen(alts[a]);
                    if (bl + alen + 1 > REGEX_ANCHOR_NAME_MAX)
                        return 0;
                    if (dst != k)
                        memmove(names[dst], names[k], bl + 1);
                    memcpy(names[dst] + bl, alts[a], alen + 1);
                }
            n *= na;
            nlen = 1;
            continue;
        } else if (!is_namechar(c))
            return 0;
        if (i + 1 < len && is_quantifier(t[i + 1]))
            return 0;
        for (size_t k = 0; k < n; k++) {
            size_t bl = strlen(names[k]);
            if (bl + 2 > REGEX_ANCHOR_NAME_MAX)
                return 0;
            names[k][bl] = lower(c);
            names[k][bl + 1] = '\0';
        }
        nlen = 1;
        i++;
    }
    if (i >= len || nlen == 0)
        return 0;
    /* "^Subject:*x" or "^Subject:?" do not require the ':' after the name. */
    if (i + 1 < len && is_quantifier(t[i + 1]))
        return 0;
    if (rest_has_top_alternation(t, len, i + 1, syn))
        return 0;
    if (rest)
        *rest = i + 1;
    return (int)n;
}

/*
 * Whether t[off..len) means the same on its own as after the prefix: it
 * must not look at text before its start. Refused (conservatively):
 * '^' outside brackets (never true after the prefix, true at a buffer's
 * start), the start anchors \A \G \` , lookbehind, and every back-reference
 * or subroutine call (the prefix may hold the group it names). \b \B \< are
 * fine: the prefix ends in ':', a non-word character, as a buffer's start
 * counts.
 */
int regex_anchor_rest_local(const char *t, size_t len, size_t off, enum regex_anchor_syntax syn)
{
    for (size_t i = off; i < len;) {
        char c = t[i];
        if (c == '[') {
            size_t j = skip_bracket(t, len, i, syn);
            if (j == 0)
                return 0;
            i = j;
            continue;
        }
        if (c == '^')
            return 0;
        if (c == '\\') {
            if (i + 1 >= len)
                return 0;
            char e = t[i + 1];
            if ((e >= '0' && e <= '9') || e == 'A' || e == 'G' || e == '`' || e == 'g' || e == 'k' ||
                e == 'Q')
                return 0;
            i += 2;
            continue;
        }
        if (c == '(' && i + 1 < len && t[i + 1] == '?') {
            /* Only non-capturing groups and inline option letters. */
            size_t j = i + 2;
            while (j < len && ((t[j] >= 'a' && t[j] <= 'z') || t[j] == '-'))
                j++;
            if (j >= len || (t[j] != ':' && t[j] != ')'))
                return 0;
        }
        i++;
    }
    return 1;
}

size_t regex_anchor_key_name(const char *key, size_t len, char out[REGEX_ANCHOR_NAME_MAX])
{
    size_t i = 0;
    while (i < len && key[i] != ':') {
        if (!is_namechar(key[i]) || i + 1 >= REGEX_ANCHOR_NAME_MAX)
            return 0;
        out[i] = lower(key[i]);
        i++;
    }
    if (i == len || i == 0)
        return 0;
    out[i] = '\0';
    return i;
}
