/*
 * matchlist.h - Postfix's match lists: mynetworks, relay_domains,
 * smtpd_authorized_xclient_hosts, permit_mx_backup_networks,
 * debug_peer_list and every other "list of names, addresses, networks,
 * /file/name and type:table patterns".
 *
 * Semantics are Postfix 3.7's util/match_list.c + match_ops.c with the
 * three flavours of global/: namadr_list (client name, then address,
 * per pattern: mynetworks, smtpd_authorized_*_hosts/clients,
 * debug_peer_list - in 3.7 smtpd matches mynetworks by name too, checked
 * against Postfix), addr_match_list (address only) and domain_list
 * (relay_domains: a domain). In short:
 *  - items are separated by commas and/or white space, "{...}" groups;
 *  - "!" in front of an item inverts it; the FIRST item that matches
 *    decides, so a matching "!item" ends the search with "no match";
 *  - "/file/name" is replaced by the items in the file (comments, blank
 *    lines and continuation lines as in any Postfix file); "!/file/name"
 *    inverts each of them;
 *  - "type:table" (not starting with "[") matches when the lookup finds
 *    anything (the value is ignored). A name is looked up with its parent
 *    domains ("a.b.c", then "b.c", "c" or, without parent-domain style,
 *    ".b.c", ".c"), but pattern tables (regexp, pcre, cidr) only get the
 *    whole name; an address is looked up as is;
 *  - a name pattern matches the name exactly (ASCII/Unicode case folded);
 *    with parent-domain style (the parameter is listed in
 *    parent_domain_matches_subdomains) "example.com" also matches any
 *    name below it, otherwise ".example.com" does (with the style on,
 *    ".example.com" only ever equals itself, as in Postfix);
 *  - an address pattern: "1.2.3.4", "[1.2.3.4]", "1.2.3.0/24",
 *    "[1.2.3.0]/24", "[1.2.3.0/24]", "[2001:db8::]/32" (IPv6 needs the
 *    brackets: "2001:db8::/32" is read as a table of type "2001", as in
 *    Postfix). An IPv4 pattern never matches an IPv6 address and vice
 *    versa; an IPv4-mapped IPv6 address ("::ffff:1.2.3.4") is matched as
 *    the IPv4 address, as Postfix's smtpd converts it before any list
 *    sees it.
 *
 * Compiling (control path) may allocate, reads include files and opens
 * tables. Network patterns are parsed once here; matching allocates
 * nothing and does no I/O besides the table lookups.
 *
 * Deliberate difference: Postfix parses a network pattern only when an
 * address of its family reaches it, and then answers that client with a
 * temporary error ("451 4.3.0 Server configuration error"); a missing
 * include file likewise becomes a table that fails every lookup, and an
 * unknown table type or "!" without a pattern is fatal. Here all of
 * these refuse the list at compile time: -EINVAL (bad pattern, unknown
 * table type) or -errno from the file, with err = "PARAM: what: ITEM"
 * (the caller adds the main.cf file and line).
 */
#ifndef MX_MATCHLIST_H
#define MX_MATCHLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maps.h"
#include "maps_cidr_parse.h"

#define MATCHLIST_ERR_MAX 640
#define MATCHLIST_NAME_MAX 1024 /* longer names/addresses never match */

struct matchlist_err {
    char msg[MATCHLIST_ERR_MAX];
};

enum matchlist_kind {
    MATCHLIST_ADDR,   /* addr_match_list: the address only */
    MATCHLIST_NAMADR, /* namadr_list: mynetworks, xclient/verp hosts, debug_peer_list */
    MATCHLIST_DOMAIN, /* domain_list: relay_domains, fast_flush_domains */
};

#define MATCHLIST_PARENT 1u /* parent_domain_matches_subdomains style */

/* ---- pure parsing (matchlist_parse.c) --------------------------------- */

/*
 * Tokenizer: the next item of buf[*pos..len), as Postfix's mystrtokq()
 * with separators ", \t\r\n" and "{}" grouping (braces are kept; an
 * unclosed "{" runs to the end, as in 3.7). 1 with *start and *tlen set and
 * *pos advanced, 0 at the end.
 */
int matchlist_next_token(const char *buf, size_t len, size_t *pos, size_t *start, size_t *tlen);

/*
 * Logical lines of an include file, as Postfix's readlline(): blank and
 * comment lines ("#" after optional white space) are dropped, also inside
 * a multi-line entry; a line that starts with white space continues the
 * previous one (the newline is dropped); a first line that starts with
 * white space is skipped (Postfix warns). 1 with the line in *line
 * (reset first), 0 at the end.
 */
struct strbuf;
int matchlist_next_line(const char *buf, size_t len, size_t *pos, struct strbuf *line);

enum matchlist_item_type {
    MLI_FILE,   /* "/file/name": text is the path */
    MLI_TABLE,  /* "type:table": text is the reference */
    MLI_STRING, /* name or address compared as text (and maybe a network) */
};

struct matchlist_item {
    uint8_t type;  /* enum matchlist_item_type */
    uint8_t match; /* 1, or 0 for an odd number of "!" */
    uint8_t has_net; /* addr/namadr lists: a network pattern, in net */
    struct cidr_rule net;
    char *text;    /* folded pattern without "!" (NUL-terminated, owned) */
    size_t len;
    struct map *map; /* MLI_TABLE after compile (shared, owned by the list) */
};

/*
 * Classify one token tok[0..len) with the given starting sense (1, or 0
 * inside "!/file"). For ADDR and NAMADR lists, a pattern that Postfix
 * would hand to cidr_match_parse() is parsed here; a bad one is an error.
 * Text patterns are folded (ASCII; Unicode when valid UTF-8).
 * 0, or -EINVAL with err filled ("no pattern after '!'", "bad net/mask
 * pattern ..."). Pure; allocates out->text (matchlist_item_clear frees it).
 */
int matchlist_item_parse(const char *tok, size_t len, enum matchlist_kind kind, int match,
                         struct matchlist_item *out, struct matchlist_err *err);
void matchlist_item_clear(struct matchlist_item *it);

/* ---- compiled lists (matchlist.c) ------------------------------------- */

struct matchlist {
    char *name;
    enum matchlist_kind kind;
    unsigned flags;
    struct matchlist_item *items; /* files expanded in place */
    size_t n, cap;
    struct map **maps; /* each opened table once */
    size_t nmaps;
    bool placed; /* the list lives in placer memory (see matchlist_compile) */
};

/*
 * Compile the expanded value of parameter pname. flags: MATCHLIST_PARENT
 * (see matchlist_parent_style). Returns 0 with *out set, or -errno with
 * err filled and *out NULL.
 *
 * While a maps.h placer is set (the master building a generation), the
 * finished list - the struct, its items, their texts and networks, the
 * table pointers - is moved into placer memory, the generation's policy
 * segment: a 5,000-entry mynetworks is then one read-only copy for every
 * worker instead of heap pages in each. Matching never writes to a list,
 * so a sealed segment is fine. The tables themselves are opened under the
 * same placer. -ENOMEM when the placer is full ("PARAM: policy segment
 * full"). matchlist_free() closes the tables of a placed list and leaves
 * its memory to the segment.
 */
int matchlist_compile(const char *pname, enum matchlist_kind kind, unsigned flags,
                      const char *value, struct matchlist **out, struct matchlist_err *err);
void matchlist_free(struct matchlist *l);

/* Postfix's match_parent_style(): whether pname is one of the tokens of
 * parent_domain_matches_subdomains (case-insensitive). */
bool matchlist_parent_style(const char *pdms_value, const char *pname);

/*
 * Matching: 1 matched, 0 not matched (also a "!" item that matched),
 * -errno when a table lookup failed (Postfix: the caller answers with a
 * temporary error). Arguments are NUL-terminated; the list kind decides
 * which arguments are used.
 *   namadr: name (a host name, or "unknown") and addr (printable address)
 *   addr:   addr
 *   domain: domain
 */
int matchlist_match_namadr(const struct matchlist *l, const char *name, const char *addr);
int matchlist_match_addr(const struct matchlist *l, const char *addr);
int matchlist_match_domain(const struct matchlist *l, const char *domain);

/* ---- mynetworks default (matchlist_mynetworks.c) ---------------------- */

enum matchlist_mynet_style { MYNET_STYLE_HOST, MYNET_STYLE_SUBNET, MYNET_STYLE_CLASS };

struct matchlist_iface {
    int family;          /* 4 or 6 */
    uint8_t addr[16];    /* address bytes */
    uint8_t mask[16];    /* netmask bytes */
};

/*
 * Postfix's mynetworks_core(): one "net/len" per interface address, in
 * order ("a.b.c.d/len", "[v6]/len"), separated by single spaces, into
 * out (cap bytes). host: the address itself (/32, /128); subnet: the
 * interface network (prefix = up to the last 1 bit of the mask); class:
 * IPv4 class A/B/C/D network, IPv6 as subnet. -EINVAL for a class E
 * address in class style (Postfix: fatal "unknown address class"),
 * -ENOSPC when out is too small.
 */
int matchlist_mynetworks(enum matchlist_mynet_style style, const struct matchlist_iface *ifs,
                         size_t n, char *out, size_t cap);
/* The same for this machine's interfaces that are up (getifaddrs()),
 * IPv4 and/or IPv6 as want4/want6 (inet_protocols). */
int matchlist_mynetworks_local(enum matchlist_mynet_style style, bool want4, bool want6, char *out,
                               size_t cap);

#endif
