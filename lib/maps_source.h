/*
 * maps_source.h - parser of postmap(1) source text ("key whitespace value").
 *
 * The text is cut into logical lines exactly as Postfix 3.7 readllines()
 * does, then split into key and value as postmap.c does:
 *  - empty lines, white-space-only lines and lines whose first non-blank
 *    is '#' are ignored, also in the middle of a multi-line entry;
 *  - a line that starts with white space continues the logical line; the
 *    newline is dropped and the leading white space is kept;
 *  - the key ends at the first white space outside "double quotes"; a
 *    backslash protects the next byte; the key keeps its quotes;
 *  - the value is what follows, without leading/trailing white space;
 *  - the logical line is a C string: text after a NUL byte is ignored.
 * Problems are reported through ops->warn with Postfix's wording and line
 * numbers ("PATH, line N: ..." where N is the first line of the entry).
 *
 * Pure: no I/O, no globals. The parser allocates one scratch buffer for the
 * logical line and frees it before returning. Entries are handed to
 * ops->entry one by one; key and value point into the scratch buffer and
 * are valid only during the call, both NUL-terminated.
 */
#ifndef MX_MAPS_SOURCE_H
#define MX_MAPS_SOURCE_H

#include <stddef.h>

enum map_source_flags {
    MAP_SOURCE_FOLD = 1u << 0,     /* fold keys (Unicode with MAP_SOURCE_UTF8, else ASCII); postmap without -f */
    MAP_SOURCE_UTF8 = 1u << 1,     /* skip non-UTF-8 lines (smtputf8_enable = yes) */
    MAP_SOURCE_TEXTHASH = 1u << 2, /* dict_thash wording: "... -- ignoring this line" */
};

struct map_source_entry {
    const char *key;
    size_t keylen;
    const char *value;
    size_t valuelen;
    int line; /* first physical line of the logical line, from 1 */
};

struct map_source_ops {
    /* 0 to go on; anything else stops the parse and is returned. */
    int (*entry)(void *ctx, const struct map_source_entry *e);
    /* A complete warning without program name, e.g. "f, line 3: ...". May be NULL. */
    void (*warn)(void *ctx, const char *msg);
};

/*
 * Parse buf[0..len). path names the input in warnings ("stdin" for -i).
 * Returns 0, or the first nonzero value returned by ops->entry.
 */
int map_source_parse(const char *buf, size_t len, const char *path, unsigned flags,
                     const struct map_source_ops *ops, void *ctx);

#endif
