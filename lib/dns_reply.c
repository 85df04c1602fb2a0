/*
 * dns_reply.c - turn a DNS answer (as c-ares hands it over) into a
 * struct dns_result: the records of the asked type, the TTL the caches
 * will use, and a status.
 *
 * The answer comes from the network, so this is a parser of outside
 * input: record parsing goes through c-ares's own ares_parse_*_reply(),
 * the TTL walk is ours and checks every length against the buffer. A
 * malformed answer gives a temporary failure, never a crash. Pure: no
 * I/O, no state; fuzzed by tests/fuzz/fuzz_dns_reply.c.
 */
#include "dns_reply.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <string.h>

#define DNS_T_SOA 6


static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Skip one (possibly compressed) name at p; 0 or -1 on a malformed reply. */
static int skip_name(const unsigned char *abuf, int alen, const unsigned char **p)
{
    char *name;
    long enclen;
    if (ares_expand_name(*p, abuf, alen, &name, &enclen) != ARES_SUCCESS)
        return -1;
    ares_free_string(name);
    *p += enclen;
    return 0;
}

/* Lowest answer TTL, or for a negative answer the SOA's negative TTL. */
static uint32_t reply_ttl(const unsigned char *abuf, int alen)
{
    if (!abuf || alen < 12)
        return 0;
    const unsigned char *p = abuf + 12, *end = abuf + alen;
    unsigned qd = get16(abuf + 4), an = get16(abuf + 6), ns = get16(abuf + 8);
    uint32_t ttl = UINT32_MAX;
    for (unsigned i = 0; i < qd; i++) {
        if (skip_name(abuf, alen, &p) != 0 || end - p < 4)
            return 0;
        p += 4;
    }
    for (unsigned i = 0; i < an + ns; i++) {
        if (skip_name(abuf, alen, &p) != 0 || end - p < 10)
            break;
        unsigned type = get16(p), rdlen = get16(p + 8);
        uint32_t rttl = get32(p + 4);
        p += 10;
        if (end - p < (long)rdlen)
            break;
        if (i < an) {
            if (rttl < ttl)
                ttl = rttl;
        } else if (an == 0 && type == DNS_T_SOA && rdlen >= 4) {
            uint32_t minimum = get32(p + rdlen - 4);
            uint32_t neg = rttl < minimum ? rttl : minimum;
            if (neg < ttl)
                ttl = neg;
        }
        p += rdlen;
    }
    return ttl == UINT32_MAX ? 0 : ttl;
}

static void copy_name(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n > DNS_NAME_MAX)
        n = DNS_NAME_MAX;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Fill r's records from a successful reply; returns an ares status. */
static int parse_records(struct dns_result *r, const unsigned char *abuf, int alen)
{
    int st;
    switch (r->type) {
    case DNS_T_A: {
        struct ares_addrttl at[DNS_MAX_RR];
        int n = DNS_MAX_RR;
        if ((st = ares_parse_a_reply(abuf, alen, NULL, at, &n)) != ARES_SUCCESS)
            return st;
        for (int i = 0; i < n; i++)
            r->u.a[i] = at[i].ipaddr;
        r->count = (unsigned)n;
        break;
    }
    case DNS_T_AAAA: {
        struct ares_addr6ttl at[DNS_MAX_RR];
        int n = DNS_MAX_RR;
        if ((st = ares_parse_aaaa_reply(abuf, alen, NULL, at, &n)) != ARES_SUCCESS)
            return st;
        for (int i = 0; i < n; i++)
            memcpy(&r->u.aaaa[i], &at[i].ip6addr, sizeof(r->u.aaaa[i]));
        r->count = (unsigned)n;
        break;
    }
    case DNS_T_PTR: {
        struct hostent *he = NULL;
        static const unsigned char zero[4];
        if ((st = ares_parse_ptr_reply(abuf, alen, zero, 4, AF_INET, &he)) != ARES_SUCCESS)
            return st;
        /* c-ares lists every PTR name in h_aliases (the first one also
         * in h_name); h_name alone when there are no aliases. */
        for (char **al = he->h_aliases; al && *al && r->count < DNS_MAX_RR; al++)
            copy_name(r->u.ptr[r->count++], *al);
        if (r->count == 0)
            copy_name(r->u.ptr[r->count++], he->h_name);
        ares_free_hostent(he);
        break;
    }
    case DNS_T_MX: {
        struct ares_mx_reply *mx = NULL;
        if ((st = ares_parse_mx_reply(abuf, alen, &mx)) != ARES_SUCCESS)
            return st;
        for (struct ares_mx_reply *m = mx; m && r->count < DNS_MAX_RR; m = m->next) {
            r->u.mx[r->count].pref = m->priority;
            copy_name(r->u.mx[r->count++].host, m->host);
        }
        ares_free_data(mx);
        break;
    }
    case DNS_T_TXT: {
        struct ares_txt_ext *txt = NULL;
        size_t used = 0;
        if ((st = ares_parse_txt_reply_ext(abuf, alen, &txt)) != ARES_SUCCESS)
            return st;
        for (struct ares_txt_ext *t = txt; t; t = t->next) {
            if (t->record_start) {
                if (r->count == DNS_MAX_RR || used + 1 > sizeof(r->u.txt.buf))
                    break;
                if (r->count > 0)
                    r->u.txt.buf[used++] = 0; /* end the previous record */
                r->u.txt.off[r->count] = used;
                r->u.txt.len[r->count] = 0;
                r->count++;
            }
            if (r->count == 0)
                continue;
            size_t room = sizeof(r->u.txt.buf) - 1 - used;
            size_t n = t->length < room ? t->length : room;
            memcpy(r->u.txt.buf + used, t->txt, n);
            used += n;
            r->u.txt.len[r->count - 1] += n;
        }
        r->u.txt.buf[used] = 0;
        ares_free_data(txt);
        break;
    }
    }
    return r->count ? ARES_SUCCESS : ARES_ENODATA;
}

static enum dns_status map_status(int st)
{
    switch (st) {
    case ARES_SUCCESS:
        return DNS_OK;
    case ARES_ENOTFOUND:
        return DNS_NXDOMAIN;
    case ARES_ENODATA:
        return DNS_NODATA;
    case ARES_ETIMEOUT:
        return DNS_TIMEOUT;
    default:
        return DNS_TEMPFAIL;
    }
}

void dns_reply_build(struct dns_result *r, enum dns_type type, int st, const unsigned char *abuf,
                     int alen)
{
    r->type = type;
    r->count = 0;
    r->ttl = 0;
    if (st == ARES_SUCCESS)
        st = parse_records(r, abuf, alen);
    if (st == ARES_SUCCESS || st == ARES_ENOTFOUND || st == ARES_ENODATA)
        r->ttl = reply_ttl(abuf, alen);
    r->status = map_status(st);
    r->why = st == ARES_SUCCESS ? "" : ares_strerror(st);
}
