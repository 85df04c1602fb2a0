/*
 * transport.h - where accepted mail goes: Postfix's transport(5) table
 * (transport_maps) and relayhost, as trivial-rewrite resolves them, for
 * proxy delivery.
 *
 * Lookup order for "user+ext@domain" (trivial-rewrite transport.c,
 * mail_addr_find_strategy FULL|NOEXT|DOMAIN|parents), each key asked of
 * every table in order before the next key:
 *   user+ext@domain   (every table, regexp/pcre/cidr included)
 *   user@domain       (recipient_delimiter extension removed; fixed tables)
 *   domain            (fixed tables)
 *   parents           ".parent.domain" for each parent, or "parent.domain"
 *                     when transport_maps is in
 *                     parent_domain_matches_subdomains (fixed tables)
 *   "*"               (every table)
 * An address without '@' is taken as user@$myorigin.
 *
 * The result "transport:nexthop" (split at the first ':'):
 *   ""  or ":"        as if the table did not exist: the default below
 *   ":nexthop"        the default transport (SMTP) to nexthop
 *   "smtp:", "relay:" SMTP to the recipient domain (MX lookup)
 *   "smtp:[h]:port", "smtp:h:port", "smtp:[IPv6:addr]:port"
 *   "lmtp:unix:/path", "lmtp:inet:h:port", "lmtp:h:port", "lmtp:[h]:port"
 *   "error:5.1.1 text" (empty: "Address is undeliverable"),
 *   "retry:4.x.y text" (the same, temporary), "discard:text" (empty text:
 *   the recipient domain, as Postfix fills it in)
 * Since Postfix 3.5 the SMTP/LMTP nexthop may be a list separated by
 * commas or blanks: the first is parsed, the rest kept in more[].
 * Without a match: relayhost when set (same nexthop syntax), else SMTP to
 * the recipient domain with MX lookup.
 *
 * Failure: transport_create -EINVAL (err names transport_maps or
 * relayhost) when a table does not open or relayhost is malformed;
 * transport_resolve -EAGAIN when a table lookup fails, -EINVAL for a
 * result that does not parse or names a transport mxscreen cannot deliver
 * with (logged with the table and key).
 */
#ifndef MX_TRANSPORT_H
#define MX_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

struct config;

enum transport_kind {
    TRANSPORT_SMTP, TRANSPORT_LMTP, TRANSPORT_ERROR, TRANSPORT_DISCARD,
    TRANSPORT_RETRY, /* Postfix's retry(8): like error, but temporary */
};

struct nexthop {
    enum transport_kind kind;
    char host[256];      /* host name or address, brackets removed; "" for error/discard */
    unsigned port;       /* 25 (smtp) / 24 (lmtp inet) unless given */
    bool mx;             /* look up MX records: false for [bracketed] hosts (and lmtp) */
    char unix_path[108]; /* lmtp:unix:/path ("" otherwise) */
    char text[512];      /* error:/retry:/discard: text, e.g. "5.1.1 user unknown" */
    char more[512];      /* further SMTP/LMTP destinations of a list, as written */
};

struct transport;

int transport_create(const struct config *cfg, struct transport **out, char *err, size_t errlen);
void transport_free(struct transport *t);
/* Where mail for this recipient goes: 0, -EAGAIN, or -EINVAL (see above). */
int transport_resolve(const struct transport *t, const char *recipient, struct nexthop *out);

/* The pure parser of one table result buf[0..len) for a recipient in
 * domain: 0 with *out filled; 1 when the value changes nothing (empty, or
 * ":"), so the default applies; -EINVAL when malformed or the transport is
 * unknown. */
int transport_parse_value(const char *buf, size_t len, const char *domain, struct nexthop *out);
/* One SMTP/LMTP destination "[host]:port", "host:port", "host",
 * "[IPv6:addr]:port" (LMTP: also "unix:/path", "inet:host:port") into
 * out->host/port/mx/unix_path; default_port when none is given. */
int transport_parse_dest(const char *buf, size_t len, enum transport_kind kind,
                         struct nexthop *out);

#endif
