/*
 * access.c - access(5) lookup order for client, HELO, sender and
 * recipient checks; see access.h.
 *
 * Each step below names the Postfix code it follows (smtpd_check.c,
 * mail_addr_find.c, split_addr.c, valid_hostname.c). "full" lookups go to
 * every table, "partial" ones only to fixed-key tables (Postfix passes
 * DICT_FLAG_FIXED to maps_find() for them).
 */
#include "access.h"
#include "hostname.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

void access_opts_default(struct access_opts *o)
{
    o->parent_matches_subdomains = true; /* Postfix default includes smtpd_access_maps */
    o->recipient_delimiter = "";
    o->owner_request_special = true;
    o->double_bounce_sender = "double-bounce";
    o->null_access_key = "<>";
}

/* One maps_find(): key must be NUL-terminated at key[len]. */
static int try_key(struct map *m, const char *key, size_t len, bool partial,
                   struct map_value *out, struct access_match *match)
{
    if (len == 0)
        return 0;
    if (partial && !(m->type->flags & MAP_FIXED))
        return 0;
    int rc = map_lookup(m, key, len, out);
    if (rc <= 0)
        return rc;
    match->key = key;
    match->keylen = len;
    return out->len == 0 ? -EINVAL : 1;
}

/*
 * check_domain_access() (numeric_stop = true, first lookup full) and the
 * MA_FIND_DOMAIN step of mail_addr_find (numeric_stop = false, all
 * partial): the name, then "parent" or ".parent" keys, TLD included.
 */
static int domain_walk(struct map *m, const struct access_opts *o, const char *domain,
                       bool partial, bool numeric_stop, struct map_value *out,
                       struct access_match *match)
{
    bool maybe_numerical = numeric_stop;
    const char *next;
    for (const char *name = domain; *name; name = next) {
        int rc = try_key(m, name, strlen(name), partial, out, match);
        if (rc != 0)
            return rc;
        /* Don't apply subdomain magic to numerical host names. */
        if (maybe_numerical && (maybe_numerical = hostname_valid_addr(domain, strlen(domain))))
            break;
        if ((next = strchr(name + 1, '.')) == NULL)
            break;
        if (o->parent_matches_subdomains)
            next++;
        partial = true;
    }
    return 0;
}

/* check_addr_access(): the address, then cut at its last '.' (IPv4) or
 * ':' (IPv6) until nothing is left to cut. */
static int addr_walk(struct map *m, const char *addr, struct map_value *out,
                     struct access_match *match)
{
    size_t len = strlen(addr);
    if (len >= sizeof(match->scratch))
        return -ENAMETOOLONG;
    char *k = match->scratch;
    memcpy(k, addr, len + 1);
    char delim = strchr(k, ':') ? ':' : '.';
    bool partial = false;
    for (;;) {
        int rc = try_key(m, k, len, partial, out, match);
        if (rc != 0)
            return rc;
        partial = true;
        char *cut = strrchr(k, delim);
        if (!cut)
            return 0;
        *cut = '\0';
        len = (size_t)(cut - k);
    }
}

int access_lookup_client(struct map *m, const struct access_opts *o, const char *name,
                         const char *addr, struct map_value *out, struct access_match *match)
{
    /* check_namadr_access(): a name match pre-empts an address match. */
    int rc = domain_walk(m, o, name, false, true, out, match);
    if (rc != 0)
        return rc;
    return addr_walk(m, addr, out, match);
}

int access_lookup_helo(struct map *m, const struct access_opts *o, const char *helo,
                       struct map_value *out, struct access_match *match)
{
    return domain_walk(m, o, helo, false, true, out, match);
}

/*
 * split_addr(): the length of the local part without its extension, or 0
 * when it is not split (reserved names, owner-/-request, no delimiter, or
 * an empty result).
 */
static size_t split_localpart(const struct access_opts *o, const char *lp, size_t lplen)
{
    const char *delims = o->recipient_delimiter ? o->recipient_delimiter : "";
    const char *dbl = o->double_bounce_sender ? o->double_bounce_sender : "double-bounce";

    if (*delims == '\0')
        return 0;
#define LP_IS(s) (strlen(s) == lplen && strncasecmp(lp, (s), lplen) == 0)
    if (LP_IS("postmaster") || LP_IS("mailer-daemon") || LP_IS(dbl))
        return 0;
#undef LP_IS
    if (strchr(delims, '-') && o->owner_request_special) {
        if (lplen >= 6 && strncasecmp(lp, "owner-", 6) == 0)
            return 0;
        if (lplen > 8 && strncasecmp(lp + lplen - 8, "-request", 8) == 0)
            return 0;
    }
    size_t n = 0;
    while (n < lplen && !strchr(delims, lp[n]))
        n++;
    return (n == 0 || n == lplen) ? 0 : n;
}

/*
 * check_mail_access() with strategy FULL | NOEXT | DOMAIN | LOCALPART_AT
 * and PDMS or PDDMDS: user+ext@domain, user@domain, domain and parents,
 * user+ext@, user@.
 */
static int mail_lookup(struct map *m, const struct access_opts *o, const char *addr,
                       struct map_value *out, struct access_match *match)
{
    const char *at = strrchr(addr, '@');
    size_t len = strlen(addr);
    if (!at)
        return 0;
    if (2 * (len + 1) > sizeof(match->scratch))
        return -ENAMETOOLONG;

    /* smtpd's resolver lower-cases the address before any lookup. */
    char *full = match->scratch;
    char *key = match->scratch + len + 1;
    for (size_t i = 0; i <= len; i++)
        full[i] = ascii_lower(addr[i]);
    size_t atpos = (size_t)(at - addr);
    size_t barelen = split_localpart(o, full, atpos);

    int rc = try_key(m, full, len, false, out, match);
    if (rc != 0)
        return rc;
    if (barelen) {
        memcpy(key, full, barelen);
        memcpy(key + barelen, full + atpos, len - atpos + 1);
        rc = try_key(m, key, barelen + len - atpos, true, out, match);
        if (rc != 0)
            return rc;
    }
    rc = domain_walk(m, o, full + atpos + 1, true, false, out, match);
    if (rc != 0)
        return rc;
    memcpy(key, full, atpos + 1);
    key[atpos + 1] = '\0';
    rc = try_key(m, key, atpos + 1, true, out, match);
    if (rc != 0 || !barelen)
        return rc;
    memcpy(key, full, barelen);
    key[barelen] = '@';
    key[barelen + 1] = '\0';
    return try_key(m, key, barelen + 1, true, out, match);
}

int access_lookup_sender(struct map *m, const struct access_opts *o, const char *addr,
                         struct map_value *out, struct access_match *match)
{
    if (*addr == '\0') {
        const char *k = o->null_access_key ? o->null_access_key : "<>";
        return try_key(m, k, strlen(k), false, out, match);
    }
    return mail_lookup(m, o, addr, out, match);
}

int access_lookup_recipient(struct map *m, const struct access_opts *o, const char *addr,
                            struct map_value *out, struct access_match *match)
{
    return mail_lookup(m, o, addr, out, match);
}
