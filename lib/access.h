/*
 * access.h - access(5) lookups: which keys are tried, in which order, for
 * check_{client,helo,sender,recipient}_access, as Postfix's smtpd_check.c
 * does (check_namadr_access, check_domain_access, check_addr_access,
 * check_mail_access with mail_addr_find_strategy()).
 *
 * One function per kind, working on any struct map. The first key found
 * ends the search whatever its value (DUNNO included: interpreting the
 * value is the caller's job). Fixed-key tables (MAP_FIXED: hash, lmdb,
 * texthash, inline, static) get every key; pattern tables (MAP_PATTERN:
 * regexp, pcre, cidr) get only the full-string lookups - Postfix's
 * DICT_FLAG_FIXED rule for partial keys. As in Postfix's maps_find(), an
 * empty key is never looked up.
 *
 * Returns 1 found: the value is in out, match->key/keylen say which key
 * matched (for logging); 0 not found; -errno on a table error, or -EINVAL
 * when a table returns an empty value (Postfix: "should return NO RESULT
 * in case of NOT FOUND"). Postfix answers any table error with
 * "451 4.3.5 Server configuration error": callers must do the same.
 * No allocation: derived keys are built in match->scratch; an input too
 * long for it gives -ENAMETOOLONG.
 */
#ifndef MX_ACCESS_H
#define MX_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "maps.h"

#define ACCESS_KEY_MAX 4096 /* twice Postfix's default line_length_limit */

struct access_opts {
    /* parent_domain_matches_subdomains contains smtpd_access_maps: "example.com"
     * also matches sub.example.com; otherwise ".example.com" keys do. */
    bool parent_matches_subdomains;
    /* recipient_delimiter: the set of delimiter characters (Postfix 2.11+);
     * NULL or "" = no address extensions. */
    const char *recipient_delimiter;
    /* owner_request_special (Postfix default yes): with '-' among the
     * delimiters, owner-foo and foo-request are not split. */
    bool owner_request_special;
    /* double_bounce_sender, never split (NULL = "double-bounce"). */
    const char *double_bounce_sender;
    /* smtpd_null_access_lookup_key for the null sender (NULL = "<>"). */
    const char *null_access_key;
};

/* Postfix's defaults for the options above. */
void access_opts_default(struct access_opts *o);

struct access_match {
    const char *key; /* out: the key that matched (points into the input or scratch) */
    size_t keylen;
    char scratch[ACCESS_KEY_MAX]; /* derived keys are built here */
};

/*
 * check_client_access: the client host name (also "unknown": Postfix looks
 * it up), its parent domains, then the address and its parent networks
 * (1.2.3.4, 1.2.3, 1.2, 1; for IPv6 the text is cut at its last ':' again
 * and again). A numeric "name" gets no parent-domain lookups. addr must be
 * the printable form Postfix uses (inet_ntop; IPv4-mapped IPv6 as IPv4).
 * Also used for check_reverse_client_hostname_access with the reverse name.
 */
int access_lookup_client(struct map *m, const struct access_opts *o, const char *name,
                         const char *addr, struct map_value *out, struct access_match *match);

/*
 * check_helo_access: the HELO/EHLO argument as sent, then its parent
 * domains. A bare IPv4/IPv6 address gets no parent lookups. An address
 * literal "[1.2.3.4]" is not numeric to Postfix: it is looked up as is,
 * then cut at dots like a name ("2.3.4]" or ".2.3.4]", ...).
 */
int access_lookup_helo(struct map *m, const struct access_opts *o, const char *helo,
                       struct map_value *out, struct access_match *match);

/*
 * check_sender_access. addr is the envelope address after Postfix's
 * rewriting (fully qualified, user@domain); it is lower-cased as smtpd's
 * resolver does. Keys: user+ext@domain (any table), user@domain, domain
 * and its parents, user+ext@, user@ (fixed tables). An address without
 * '@' gets no lookup (Postfix logs "no @domain in address"). The null
 * sender "" is looked up as null_access_key ("<>"), in any table.
 */
int access_lookup_sender(struct map *m, const struct access_opts *o, const char *addr,
                         struct map_value *out, struct access_match *match);

/* check_recipient_access: as for the sender, without the null-sender case. */
int access_lookup_recipient(struct map *m, const struct access_opts *o, const char *addr,
                            struct map_value *out, struct access_match *match);

#endif
