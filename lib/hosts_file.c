/*
 * hosts_file.c - /etc/hosts lookups for the client name (hosts_file.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hosts_file.h"
#include "util.h"

int hosts_file_read(const char *path, char **out)
{
    size_t len;
    int rc = file_read_all(path, out, &len);
    if (rc == -ENOENT) {
        *out = xstrdup("");
        return 0;
    }
    return rc;
}

/* The address of a sockaddr as 16 bytes + family, for comparison. */
static int addr_bytes(const struct sockaddr *sa, unsigned char buf[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(buf, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(buf, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        return AF_INET6;
    }
    return -1;
}

/* Walk the lines: fn gets the address token and the name tokens; a
 * nonzero return stops the walk and is returned. */
typedef int (*line_fn)(void *ctx, int family, const unsigned char *addr, char **names, int n);

static int walk(const char *text, line_fn fn, void *ctx)
{
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char line[1024];
        if (len >= sizeof(line))
            len = sizeof(line) - 1;
        memcpy(line, p, len);
        line[len] = 0;
        p = end ? end + 1 : p + strlen(p);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *names[32], *save = NULL;
        char *tok = strtok_r(line, " \t\r", &save);
        if (!tok)
            continue;
        unsigned char a[16];
        int family = inet_pton(AF_INET, tok, a) == 1    ? AF_INET
                     : inet_pton(AF_INET6, tok, a) == 1 ? AF_INET6
                                                        : -1;
        if (family < 0)
            continue;
        int n = 0;
        while (n < 32 && (tok = strtok_r(NULL, " \t\r", &save)) != NULL)
            names[n++] = tok;
        if (n == 0)
            continue;
        int r = fn(ctx, family, a, names, n);
        if (r)
            return r;
    }
    return 0;
}

struct by_addr {
    int family;
    unsigned char a[16];
    char *name;
    size_t size;
};

static int match_addr(void *ctx, int family, const unsigned char *a, char **names, int n)
{
    struct by_addr *q = ctx;
    (void)n;
    if (family != q->family || memcmp(a, q->a, family == AF_INET ? 4 : 16) != 0)
        return 0;
    if (strlen(names[0]) >= q->size)
        return 0; /* longer than any host name: not a usable answer */
    snprintf(q->name, q->size, "%s", names[0]);
    return 1;
}

int hosts_file_name(const char *text, const struct sockaddr *addr, char *name, size_t size)
{
    struct by_addr q = {.name = name, .size = size};
    q.family = addr_bytes(addr, q.a);
    if (q.family < 0)
        return 0;
    return walk(text, match_addr, &q);
}

struct by_name {
    const char *name;
    int family;
    unsigned char a[16];
    int listed;
};

static int match_name(void *ctx, int family, const unsigned char *a, char **names, int n)
{
    struct by_name *q = ctx;
    for (int i = 0; i < n; i++) {
        if (strcasecmp(names[i], q->name) != 0)
            continue;
        if (family == q->family) {
            q->listed = 1;
            if (memcmp(a, q->a, family == AF_INET ? 4 : 16) == 0)
                return 1;
        }
    }
    return 0;
}

int hosts_file_confirms(const char *text, const char *name, const struct sockaddr *addr)
{
    struct by_name q = {.name = name};
    q.family = addr_bytes(addr, q.a);
    if (q.family < 0)
        return -1;
    if (walk(text, match_name, &q))
        return 1;
    return q.listed ? 0 : -1;
}
