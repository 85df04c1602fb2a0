/*
 * hostname.h - host name and address syntax checks, as Postfix 3.7 makes them.
 *
 * The validators give the verdicts of Postfix's util/valid_hostname.c
 * (valid_hostname, valid_hostaddr, valid_ipv4_hostaddr, valid_ipv6_hostaddr,
 * valid_hostport), global/valid_mailhost_addr.c (valid_mailhost_addr,
 * valid_mailhost_literal) and util/valid_utf8_hostname.c, so that a HELO
 * name, a client name from XCLIENT or the domain of an envelope address is
 * judged exactly as the user's Postfix judges it. On top of them sit the
 * checks behind the restrictions reject_invalid_helo_hostname,
 * reject_non_fqdn_helo_hostname and reject_non_fqdn_sender/recipient (as
 * smtpd_check.c applies them: one trailing dot dropped, "[...]" judged as
 * an address literal), and a "claims to be us" test for HELO screening.
 *
 * Everything is pure: (buf, len) in, a verdict out, no allocation, no I/O.
 * Postfix works on C strings; a NUL byte inside [0, len) makes any input
 * invalid here (smtpd never hands its checks a string with one).
 * The boolean validators return 1 for "valid", 0 otherwise.
 */
#ifndef MX_HOSTNAME_H
#define MX_HOSTNAME_H

#include <stddef.h>
#include <sys/socket.h>

#define HOSTNAME_MAX 255      /* VALID_HOSTNAME_LEN, RFC 1035 */
#define HOSTNAME_LABEL_MAX 63 /* VALID_LABEL_LEN */

/* valid_hostname(): letters, digits, '_', '-' and dots; no empty label, no
 * leading/trailing dot or hyphen per label, labels <= 63, total <= 255, not
 * all-numeric (a hyphen counts as non-numeric, as in 3.7). */
int hostname_valid(const char *name, size_t len);
/* valid_hostaddr(): IPv6 syntax if it contains ':', else IPv4 dotted quad. */
int hostname_valid_addr(const char *addr, size_t len);
int hostname_valid_ipv4(const char *addr, size_t len);
int hostname_valid_ipv6(const char *addr, size_t len);
/* valid_hostport(): decimal 0..65535, no leading zero, no sign. */
int hostname_valid_port(const char *port, size_t len);
/* valid_mailhost_addr(): "IPv6:" (any case) + IPv6 syntax, or IPv4.
 * On success *bare is the offset of the address after the prefix. */
int hostname_mailhost_addr(const char *addr, size_t len, size_t *bare);
/* valid_mailhost_literal(): "[" mailhost_addr "]", nothing after ']'. */
int hostname_valid_literal(const char *lit, size_t len);
/* valid_utf8_hostname(): with smtputf8 set, a non-ASCII name is converted
 * with ICU's UTS #46 ToASCII (transitional, as Postfix's midna_domain.c)
 * and the A-label form must pass hostname_valid(); otherwise as
 * hostname_valid(). */
int hostname_valid_utf8(const char *name, size_t len, int smtputf8);

/*
 * Restriction verdicts. The reply is "CODE DSN <name>: CLASS rejected:
 * TEXT" with CODE from the *_reject_code parameter named below and TEXT
 * from hostname_verdict_text(); CLASS is "Helo command", "Sender address"
 * or "Recipient address".
 */
enum hostname_verdict {
    HOSTNAME_PASS,          /* DUNNO */
    HOSTNAME_INVALID_NAME,  /* invalid_hostname_reject_code (501) 5.5.2 */
    HOSTNAME_INVALID_ADDR,  /* invalid_hostname_reject_code (501) 5.5.2 */
    HOSTNAME_NON_FQDN_HOST, /* non_fqdn_reject_code (504) 5.5.2 */
    HOSTNAME_NON_FQDN_ADDR, /* non_fqdn_reject_code (504) 5.5.2 */
};
#define HOSTNAME_BAD_NAME_CODE 501 /* default invalid_hostname_reject_code */
#define HOSTNAME_NON_FQDN_CODE 504 /* default non_fqdn_reject_code */
#define HOSTNAME_DSN "5.5.2"       /* class follows the reply code */

/* "Invalid name", "invalid ip address", "need fully-qualified hostname",
 * "need fully-qualified address"; "" for HOSTNAME_PASS. */
const char *hostname_verdict_text(enum hostname_verdict v);

/* reject_invalid_helo_hostname: a name must pass hostname_valid() or
 * hostname_valid_addr() after dropping one trailing dot; "[...]" must be a
 * valid address literal. */
enum hostname_verdict hostname_helo_invalid(const char *helo, size_t len);
/* reject_non_fqdn_helo_hostname: a name must pass hostname_valid_utf8()
 * (smtputf8: the client sent MAIL FROM ... SMTPUTF8) after dropping one
 * trailing dot and contain a dot; "[...]" as above. */
enum hostname_verdict hostname_helo_non_fqdn(const char *helo, size_t len, int smtputf8);
/* reject_non_fqdn_sender/recipient on a whole address (local@domain, as
 * the client sent it, without <>); the caller skips the null sender.
 * A domain literal passes; a missing or non-FQDN domain fails. */
enum hostname_verdict hostname_address_non_fqdn(const char *addr, size_t len, int smtputf8);

/*
 * Does a HELO name claim to be this host? Yes if, after dropping one
 * trailing dot, it equals myhostname (ASCII case-insensitively), is
 * "localhost", "localhost.localdomain" or ends in ".localhost" (RFC 6761),
 * or is an address (bare, "[a.b.c.d]" or "[IPv6:...]", valid as Postfix
 * reads it) that is loopback or one of ours (IPv4-mapped IPv6 compares
 * as IPv4). Ports in addrs are ignored.
 */
struct hostname_self {
    const char *myhostname; /* may be NULL */
    const struct sockaddr_storage *addrs;
    size_t naddrs;
};
int hostname_claims_us(const char *helo, size_t len, const struct hostname_self *self);

#endif
