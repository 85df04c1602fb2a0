/*
 * util.h - small helpers used everywhere on control paths.
 *
 * The x* allocators die (log_fatal) on failure: they are for start-up and
 * configuration paths only. Per-connection paths use fixed pools.
 */
#ifndef MX_UTIL_H
#define MX_UTIL_H

#include <stdarg.h>
#include <stddef.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* ASCII-only case folding, as Postfix does (lowercase() in util/). */
void str_lower(char *s);
static inline char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}
/* Pointer to the first non-blank, and length without trailing blanks. */
const char *str_skip_space(const char *s);
size_t str_trim_len(const char *s, size_t len);

/* Growable byte buffer for control paths (map building, config). */
struct strbuf {
    char *buf;
    size_t len;
    size_t cap;
};
void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const char *s, size_t n);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
/* Always NUL-terminates; returns sb->buf. */
const char *strbuf_cstr(struct strbuf *sb);

/* Read a whole file into a NUL-terminated buffer. 0 or -errno. */
int file_read_all(const char *path, char **out, size_t *len);

/*
 * The signals of a child process (frontend, worker, queue runner): SIGTERM,
 * SIGINT, SIGUSR1 and SIGHUP are blocked and read from the returned signalfd
 * (non-blocking, close-on-exec) by the event loop, never by async handlers;
 * SIGPIPE is blocked for good, so a write to a closed socket returns EPIPE.
 * Returns the descriptor or -errno.
 */
int daemon_signalfd(void);

#endif
