/*
 * matchlist_mynetworks.c - the mynetworks default from mynetworks_style,
 * as Postfix's global/mynetworks.c computes it from the interface
 * addresses (inet_addr_local(): getifaddrs(), interfaces that are up, in
 * the order the kernel lists them, IPv4 and IPv6 as inet_protocols says).
 *
 * matchlist_mynetworks() is pure (the interfaces are an argument, so the
 * styles are testable); matchlist_mynetworks_local() reads this machine's
 * interfaces. Failure: -EINVAL (class E address in class style, as
 * Postfix's fatal "unknown address class"), -ENOSPC (output too small),
 * -errno from getifaddrs().
 */
#include "matchlist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Postfix's subnet length: shift the mask left until it is zero, so the
 * length runs up to the last 1 bit (a non-contiguous mask keeps its holes
 * in the network, as there). */
static int mask_len(const uint8_t *mask, int bytes)
{
    for (int i = bytes * 8 - 1; i >= 0; i--)
        if (mask[i / 8] & (0x80 >> (i % 8)))
            return i + 1;
    return 0;
}

static int put(char *out, size_t cap, size_t *used, const char *s)
{
    size_t n = strlen(s);
    size_t sep = *used ? 1 : 0;
    if (*used + sep + n + 1 > cap)
        return -ENOSPC;
    if (sep)
        out[(*used)++] = ' ';
    memcpy(out + *used, s, n + 1);
    *used += n;
    return 0;
}

int matchlist_mynetworks(enum matchlist_mynet_style style, const struct matchlist_iface *ifs,
                         size_t n, char *out, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return -ENOSPC;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const struct matchlist_iface *f = &ifs[i];
        char txt[INET6_ADDRSTRLEN], item[INET6_ADDRSTRLEN + 8];
        uint8_t net[16] = {0}, mask[16] = {0};
        int len;
        if (f->family == 4) {
            uint32_t a = (uint32_t)f->addr[0] << 24 | (uint32_t)f->addr[1] << 16 |
                         (uint32_t)f->addr[2] << 8 | f->addr[3];
            switch (style) {
            case MYNET_STYLE_CLASS:
                if ((a & 0x80000000u) == 0)
                    len = 8;
                else if ((a & 0xc0000000u) == 0x80000000u)
                    len = 16;
                else if ((a & 0xe0000000u) == 0xc0000000u)
                    len = 24;
                else if ((a & 0xf0000000u) == 0xe0000000u)
                    len = 4;
                else
                    return -EINVAL;
                for (int b = 0; b < len; b++)
                    mask[b / 8] |= (uint8_t)(0x80 >> (b % 8));
                break;
            case MYNET_STYLE_SUBNET:
                memcpy(mask, f->mask, 4);
                len = mask_len(mask, 4);
                break;
            default:
                memset(mask, 0xff, 4);
                len = 32;
            }
            for (int b = 0; b < 4; b++)
                net[b] = f->addr[b] & mask[b];
            inet_ntop(AF_INET, net, txt, sizeof(txt));
            snprintf(item, sizeof(item), "%s/%d", txt, len);
        } else if (f->family == 6) {
            if (style == MYNET_STYLE_HOST) {
                memcpy(net, f->addr, 16);
                len = 128;
            } else { /* no classes in IPv6: subnet */
                len = mask_len(f->mask, 16);
                for (int b = 0; b < 16; b++)
                    net[b] = f->addr[b] & f->mask[b];
            }
            inet_ntop(AF_INET6, net, txt, sizeof(txt));
            snprintf(item, sizeof(item), "[%s]/%d", txt, len);
        } else {
            continue;
        }
        int rc = put(out, cap, &used, item);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int matchlist_mynetworks_local(enum matchlist_mynet_style style, bool want4, bool want6, char *out,
                               size_t cap)
{
    struct ifaddrs *ifa;
    if (getifaddrs(&ifa) < 0)
        return -errno;
    size_t n = 0, cnt = 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
        cnt++;
    struct matchlist_iface *ifs = cnt ? calloc(cnt, sizeof(*ifs)) : NULL;
    if (cnt && !ifs) {
        freeifaddrs(ifa);
        return -ENOMEM;
    }
    /* Postfix lists the IPv4 addresses first, then the IPv6 ones. */
    for (int pass = 4; pass <= 6; pass += 2) {
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
            if (!i->ifa_addr || !i->ifa_netmask || !(i->ifa_flags & IFF_UP))
                continue;
            struct matchlist_iface *f = &ifs[n];
            if (pass == 4 && want4 && i->ifa_addr->sa_family == AF_INET) {
                const struct sockaddr_in *a = (const void *)i->ifa_addr;
                const struct sockaddr_in *m = (const void *)i->ifa_netmask;
                f->family = 4;
                memcpy(f->addr, &a->sin_addr, 4);
                memcpy(f->mask, &m->sin_addr, 4);
                n++;
            } else if (pass == 6 && want6 && i->ifa_addr->sa_family == AF_INET6) {
                const struct sockaddr_in6 *a = (const void *)i->ifa_addr;
                const struct sockaddr_in6 *m = (const void *)i->ifa_netmask;
                f->family = 6;
                memcpy(f->addr, &a->sin6_addr, 16);
                memcpy(f->mask, &m->sin6_addr, 16);
                n++;
            }
        }
    }
    freeifaddrs(ifa);
    int rc = matchlist_mynetworks(style, ifs, n, out, cap);
    free(ifs);
    return rc;
}
