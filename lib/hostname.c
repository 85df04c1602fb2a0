/*
 * hostname.c - Postfix 3.7's host name and address validators over (buf, len).
 *
 * Each validator is a line-by-line port of the Postfix function named in
 * hostname.h, kept in the same shape so that the two can be compared: the
 * point is to give the same verdict as the user's Postfix on every input,
 * quirks included (an underscore is allowed, "0.0.0.0" is allowed but
 * "0.1.2.3" is not, a bare "::1" is a valid HELO for
 * reject_invalid_helo_hostname but "[::1]" is not). Postfix's loops stop
 * at the NUL that ends a C string; here at(s, len, i) returns 0 past the
 * end, and a NUL inside the input is refused up front.
 *
 * The verdicts were checked against the installed Postfix 3.7 (its
 * libpostfix-util/-global functions and smtpd's HELO replies); the unit
 * test keeps those cases.
 */
#include "hostname.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <unicode/uidna.h>

static int has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

static unsigned char at(const char *s, size_t len, size_t i)
{
    return i < len ? (unsigned char)s[i] : 0;
}

/* Postfix's ISDIGIT/ISALNUM are ASCII-only, whatever the locale. */
static int is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(unsigned c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_hex(unsigned c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* valid_hostname() */
static int valid_name(const char *name, size_t len)
{
    size_t label = 0;
    int non_numeric = 0;

    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned ch = (unsigned char)name[i];
        unsigned next = at(name, len, i + 1);
        if (is_alnum(ch) || ch == '_') { /* Postfix: "grr.." */
            if (++label > HOSTNAME_LABEL_MAX)
                return 0;
            if (!is_digit(ch))
                non_numeric = 1;
        } else if (ch == '.') {
            if (label == 0 || next == 0)
                return 0;
            label = 0;
        } else if (ch == '-') {
            /* Since Postfix 3.x a hyphen makes the name non-numeric:
             * "1-2.3" passes, the installed 3.7 agrees. */
            non_numeric = 1;
            if (++label == 1 || next == 0 || next == '.')
                return 0;
        } else {
            return 0;
        }
    }
    return non_numeric && len <= HOSTNAME_MAX;
}

/* addr[strspn(addr, "0.")] == 0, on a buffer without a terminator. */
static int only_zeros_dots(const char *a, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (a[i] != '0' && a[i] != '.')
            return 0;
    return 1;
}

/* valid_ipv4_hostaddr() */
static int valid_ipv4(const char *a, size_t len)
{
    int in_byte = 0, count = 0, val = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned ch = (unsigned char)a[i];
        if (is_digit(ch)) {
            if (!in_byte) {
                in_byte = 1;
                val = 0;
                count++;
            }
            val = val * 10 + (int)(ch - '0');
            if (val > 255)
                return 0;
        } else if (ch == '.') {
            if (!in_byte || i + 1 == len)
                return 0;
            /* "Allow 0.0.0.0 but not 0.1.2.3". */
            if (count == 1 && val == 0 && !only_zeros_dots(a, len))
                return 0;
            in_byte = 0;
        } else {
            return 0;
        }
    }
    return count == 4;
}

/* valid_ipv6_hostaddr(): eight hex fields, or fewer with one "::", the
 * last two may be a dotted quad. */
static int valid_ipv6(const char *a, size_t len)
{
    int null_field = 0, field = 0;
    size_t flen = 0, i = 0;

    for (;;) {
        switch (at(a, len, i)) {
        case 0:
            if (field < 2)
                return 0;
            if (flen == 0 && null_field != field - 1)
                return 0;
            return 1;
        case '.':
            if (field < 2 || field > 6)
                return 0;
            return valid_ipv4(a + i - flen, len - (i - flen));
        case ':':
            if (field == 0 && flen == 0 && is_alnum(at(a, len, i + 1)))
                return 0;
            if (++field > 7)
                return 0;
            i++;
            flen = 0;
            if (at(a, len, i) == ':') {
                if (null_field > 0)
                    return 0;
                null_field = field;
            }
            break;
        default:
            flen = 0;
            while (i + flen < len && is_hex((unsigned char)a[i + flen]))
                flen++;
            if (flen > 4 || flen == 0)
                return 0;
            i += flen;
            break;
        }
    }
}

static int valid_addr(const char *a, size_t len)
{
    if (len == 0)
        return 0;
    return memchr(a, ':', len) ? valid_ipv6(a, len) : valid_ipv4(a, len);
}

#define IPV6_COL "IPv6:"
#define IPV6_COL_LEN (sizeof(IPV6_COL) - 1)

static int mailhost_addr(const char *a, size_t len, size_t *bare)
{
    if (len >= IPV6_COL_LEN && strncasecmp(a, IPV6_COL, IPV6_COL_LEN) == 0) {
        *bare = IPV6_COL_LEN;
        return valid_ipv6(a + IPV6_COL_LEN, len - IPV6_COL_LEN);
    }
    *bare = 0;
    return valid_ipv4(a, len);
}

int hostname_valid(const char *name, size_t len)
{
    return !has_nul(name, len) && valid_name(name, len);
}

int hostname_valid_addr(const char *addr, size_t len)
{
    return !has_nul(addr, len) && valid_addr(addr, len);
}

int hostname_valid_ipv4(const char *addr, size_t len)
{
    return !has_nul(addr, len) && valid_ipv4(addr, len);
}

int hostname_valid_ipv6(const char *addr, size_t len)
{
    return !has_nul(addr, len) && valid_ipv6(addr, len);
}

int hostname_valid_port(const char *s, size_t len)
{
    unsigned v = 0;

    /* Postfix checks the leading zero first, then alldig() (which
     * refuses the empty string), then at most five digits <= 65535. */
    if (len == 0 || (s[0] == '0' && len > 1) || len > 5)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v <= 65535;
}

int hostname_mailhost_addr(const char *addr, size_t len, size_t *bare)
{
    return !has_nul(addr, len) && mailhost_addr(addr, len, bare);
}

/* MAI_HOSTADDR_STR: INET6_ADDRSTRLEN bytes including the NUL, so a literal
 * whose text (with its "IPv6:") is 46 bytes or more is refused even when
 * the address itself is fine. */
#define LITERAL_TEXT_MAX (INET6_ADDRSTRLEN - 1)

int hostname_valid_literal(const char *lit, size_t len)
{
    const char *last;
    size_t bare;

    if (has_nul(lit, len) || len == 0 || lit[0] != '[')
        return 0;
    if ((last = memchr(lit, ']', len)) == NULL || (size_t)(last - lit) != len - 1)
        return 0;
    if (len - 2 > LITERAL_TEXT_MAX)
        return 0;
    return mailhost_addr(lit + 1, len - 2, &bare);
}

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF): Postfix refuses anything else before ICU sees it. */
static int utf8_ok(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t n;
        unsigned lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else
            return 0;
        if (len - i <= n || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return 0;
        i += n + 1;
    }
    return 1;
}

int hostname_valid_utf8(const char *name, size_t len, int smtputf8)
{
    int ascii = 1;

    if (len == 0 || has_nul(name, len))
        return 0;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = (unsigned char)name[i] < 0x80;
    if (!smtputf8 || ascii)
        return valid_name(name, len);
    if (len > INT32_MAX || !utf8_ok((const unsigned char *)name, len))
        return 0;

    /* midna_domain_to_ascii_create(): UTS #46 with ICU's defaults, a
     * 1024-byte result buffer, and no IDNA error of any kind. The UIDNA
     * object is opened per call: this path is rare (non-ASCII HELO with
     * SMTPUTF8), and a shared one would be hidden state. */
    char buf[1024];
    UErrorCode err = U_ZERO_ERROR;
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    UIDNA *idna = uidna_openUTS46(UIDNA_DEFAULT, &err);
    if (U_FAILURE(err))
        return 0;
    int32_t n = uidna_nameToASCII_UTF8(idna, name, (int32_t)len, buf, (int32_t)sizeof(buf) - 1,
                                       &info, &err);
    uidna_close(idna);
    if (U_FAILURE(err) || info.errors != 0 || n <= 0)
        return 0;
    return valid_name(buf, (size_t)n);
}

const char *hostname_verdict_text(enum hostname_verdict v)
{
    switch (v) {
    case HOSTNAME_INVALID_NAME:
        return "Invalid name";
    case HOSTNAME_INVALID_ADDR:
        return "invalid ip address";
    case HOSTNAME_NON_FQDN_HOST:
        return "need fully-qualified hostname";
    case HOSTNAME_NON_FQDN_ADDR:
        return "need fully-qualified address";
    case HOSTNAME_PASS:
        break;
    }
    return "";
}

/* dup_if_truncate(): drop one trailing dot, but not from "x.." or ".". */
static size_t drop_dot(const char *s, size_t len)
{
    if (len > 1 && s[len - 1] == '.' && s[len - 2] != '.')
        return len - 1;
    return len;
}

/* reject_invalid_hostaddr(): strip [] only when something is inside. */
static enum hostname_verdict helo_literal(const char *s, size_t len)
{
    size_t bare;

    if (len > 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    return hostname_mailhost_addr(s, len, &bare) ? HOSTNAME_PASS : HOSTNAME_INVALID_ADDR;
}

enum hostname_verdict hostname_helo_invalid(const char *helo, size_t len)
{
    if (len > 0 && helo[0] == '[')
        return helo_literal(helo, len);
    len = drop_dot(helo, len);
    /* "XXX back compat": a bare address is a valid HELO here. */
    if (hostname_valid(helo, len) || hostname_valid_addr(helo, len))
        return HOSTNAME_PASS;
    return HOSTNAME_INVALID_NAME;
}

enum hostname_verdict hostname_helo_non_fqdn(const char *helo, size_t len, int smtputf8)
{
    if (len > 0 && helo[0] == '[')
        return helo_literal(helo, len);
    len = drop_dot(helo, len);
    if (!hostname_valid_utf8(helo, len, smtputf8) || memchr(helo, '.', len) == NULL)
        return HOSTNAME_NON_FQDN_HOST;
    return HOSTNAME_PASS;
}

enum hostname_verdict hostname_address_non_fqdn(const char *addr, size_t len, int smtputf8)
{
    const char *dom = addr + len;
    size_t dlen = 0;

    /* The domain is what follows the last '@'; no '@' means no domain. */
    for (size_t i = len; i > 0; i--) {
        if (addr[i - 1] == '@') {
            dom = addr + i;
            dlen = len - i;
            break;
        }
    }
    if (dlen > 0 && dom[0] == '[' && dom[dlen - 1] == ']')
        return HOSTNAME_PASS; /* "forms that we can't handle yet" */
    dlen = drop_dot(dom, dlen);
    if (dlen == 0 || !hostname_valid_utf8(dom, dlen, smtputf8) || memchr(dom, '.', dlen) == NULL)
        return HOSTNAME_NON_FQDN_ADDR;
    return HOSTNAME_PASS;
}

static int name_is(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && strncasecmp(s, lit, n) == 0;
}

/* An address as 16 bytes, IPv4 in its mapped IPv6 form. */
static void as_v6(int family, const void *a, unsigned char out[16])
{
    if (family == AF_INET) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, a, 4);
    } else {
        memcpy(out, a, 16);
    }
}

static int parse_helo_addr(const char *s, size_t len, unsigned char out[16])
{
    char tmp[INET6_ADDRSTRLEN];
    size_t bare = 0;
    int family;

    if (len > 2 && s[0] == '[' && s[len - 1] == ']') {
        if (!hostname_mailhost_addr(s + 1, len - 2, &bare))
            return 0;
        s += 1 + bare;
        len -= 2 + bare;
        family = bare ? AF_INET6 : AF_INET;
    } else if (hostname_valid_addr(s, len)) {
        family = memchr(s, ':', len) ? AF_INET6 : AF_INET;
    } else {
        return 0;
    }
    if (len >= sizeof(tmp))
        return 0;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    unsigned char bin[16];
    if (inet_pton(family, tmp, bin) != 1)
        return 0;
    as_v6(family, bin, out);
    return 1;
}

int hostname_claims_us(const char *helo, size_t len, const struct hostname_self *self)
{
    static const unsigned char v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    unsigned char a[16];

    if (has_nul(helo, len))
        return 0;
    size_t n = drop_dot(helo, len);
    if (self->myhostname) {
        size_t m = drop_dot(self->myhostname, strlen(self->myhostname));
        if (m > 0 && n == m && strncasecmp(helo, self->myhostname, m) == 0)
            return 1;
    }
    if (name_is(helo, n, "localhost") || name_is(helo, n, "localhost.localdomain") ||
        (n > 10 && name_is(helo + n - 10, 10, ".localhost")))
        return 1;
    if (!parse_helo_addr(helo, len, a))
        return 0;
    if (memcmp(a, v6_loop, 16) == 0 || (a[10] == 0xff && a[11] == 0xff &&
                                        memcmp(a, v6_loop, 10) == 0 && a[12] == 127))
        return 1;
    for (size_t i = 0; i < self->naddrs; i++) {
        const struct sockaddr_storage *ss = &self->addrs[i];
        unsigned char b[16];
        if (ss->ss_family == AF_INET)
            as_v6(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, b);
        else if (ss->ss_family == AF_INET6)
            as_v6(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, b);
        else
            continue;
        if (memcmp(a, b, 16) == 0)
            return 1;
    }
    return 0;
}
