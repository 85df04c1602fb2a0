/* fuzz_tls_scache.c - any bytes as a stored TLS session cache value: the
 * decoder must be total, stay inside the caller's buffer (the first input
 * byte picks its size), and agree with the encoder: a value it accepts,
 * written back, is the same value in upper case, and decodes the same. */
#include <stdint.h>
#include <string.h>

#include "tls_scache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char out[4096], back[4096];
    static char hex[2 * (4096 + TLS_SCACHE_STAMP) + 1];
    size_t cap = size ? (size_t)data[0] * 16 : 0;
    const char *in = size ? (const char *)data + 1 : (const char *)data;
    size_t len = size ? size - 1 : 0;
    int64_t stamp = 0;
    size_t n = 0;
    enum tls_scache_decode r = tls_scache_decode(in, len, &stamp, out, cap, &n);
    if (r != TLS_SCACHE_OK && r != TLS_SCACHE_MALFORMED && r != TLS_SCACHE_TOO_BIG)
        __builtin_trap();
    if (r != TLS_SCACHE_OK)
        return 0;
    if (n > cap)
        __builtin_trap();
    long m = tls_scache_encode(stamp, out, n, hex, sizeof(hex));
    if (m < 0 || (size_t)m != 2 * (n + TLS_SCACHE_STAMP) || strlen(hex) != (size_t)m)
        __builtin_trap();
    for (long i = 0; i < m; i++) {
        char a = in[i], b = hex[i];
        if (a >= 'a' && a <= 'f')
            a = (char)(a - 'a' + 'A');
        if (a != b)
            __builtin_trap();
    }
    int64_t stamp2;
    size_t n2;
    if (tls_scache_decode(hex, (size_t)m, &stamp2, back, sizeof(back), &n2) != TLS_SCACHE_OK ||
        stamp2 != stamp || n2 != n || memcmp(back, out, n) != 0)
        __builtin_trap();
    return 0;
}
