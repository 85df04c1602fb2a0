/*
 * dnsbl_site.h - one postscreen_dnsbl_sites item: domain, reply filter,
 * weight; and the match of a DNSBL's A reply against it.
 *
 * Syntax, as Postfix 3.7's postscreen_dnsbl.c (psc_dnsbl_add_site) and
 * util/ip_match.c read it:
 *
 *   item   = domain [ "=" filter ] [ "*" weight ]
 *   filter = field "." field "." field "." field      (optionally in "[...]")
 *   field  = octet | "[" member *( ";" member ) "]"
 *   member = octet | octet ".." octet                 (low <= high)
 *   octet  = decimal 0..255 (leading zeros allowed)
 *
 * The item is split at its FIRST "*" (the rest is the weight, read as
 * sscanf "%d%c" reads it: optional leading white space and sign, nothing
 * after the digits), then the part before at its first "=" (the rest is the
 * filter); what remains must be a valid host name. Without "*weight" the
 * weight is 1; a negative weight marks an allowlist (DNSWL). Without a
 * filter any A reply counts as listed.
 *
 * Deliberate difference: a weight outside the range of int is refused
 * (Postfix's sscanf would silently truncate it).
 *
 * Pure: no allocation, no I/O; a NUL byte inside [0, len) makes the item
 * invalid. On error *why (if not NULL) is a static text; for filter errors
 * it is ip_match.c's wording ("numeric range error", "need \".\"", ...).
 */
#ifndef MX_DNSBL_SITE_H
#define MX_DNSBL_SITE_H

#include <netinet/in.h>
#include <stddef.h>

#define DNSBL_SITE_NAME_MAX 255

enum dnsbl_site_result {
    DNSBL_SITE_OK,
    DNSBL_SITE_BAD_WEIGHT, /* "bad DNSBL weight factor" */
    DNSBL_SITE_BAD_FILTER, /* "bad DNSBL filter syntax" */
    DNSBL_SITE_BAD_DOMAIN, /* "bad DNSBL domain name" */
};

struct dnsbl_site {
    char domain[DNSBL_SITE_NAME_MAX + 1]; /* NUL-terminated, as written */
    size_t domain_len;
    int weight;
    int has_filter;
    /* One 256-bit set per address octet: bit v set = value v matches. */
    unsigned char octet[4][32];
};

enum dnsbl_site_result dnsbl_site_parse(const char *buf, size_t len, struct dnsbl_site *out,
                                        const char **why);

/* Does one reply address (network byte order, as from an A record) pass
 * the filter? Always 1 without a filter. */
int dnsbl_site_match_addr(const struct dnsbl_site *site, const struct in_addr *addr);

/* Does a DNSBL reply (n A records) list the client for this site? 0 when
 * n == 0; otherwise 1 if any record passes the filter (ip_match_execute
 * over each reply, as psc_dnsbl_match does). */
int dnsbl_site_match(const struct dnsbl_site *site, const struct in_addr *addrs, size_t n);

#endif
