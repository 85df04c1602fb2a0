/*
 * fuzz_sasl_client.c - the SASL client against any server replies: the
 * input is split at '\n' into replies fed to sasl_client_step() (code from
 * the first three bytes) after an AUTH LOGIN or PLAIN start, and the whole
 * input also goes through base64 decode, the option/filter parsers and
 * the password value parser. Nothing may crash or overrun, and a step
 * never produces a line that is not CRLF-terminated.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sasl_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    unsigned char raw[4096];
    size_t n;
    unsigned f;
    char err[128], u[SASL_CRED_MAX], p[SASL_CRED_MAX];
    if (size <= 4 * sizeof(raw) / 3)
        sasl_b64_decode(buf, size, raw, sizeof(raw), &n);
    sasl_options_parse(buf, size, &f, err, sizeof(err));
    sasl_filter_parse(buf, size, &f, err, sizeof(err));
    sasl_passwd_parse(buf, size, u, p);

    static struct sasl_client s;
    char out[SASL_LINE_MAX];
    enum sasl_mech m = size && (data[0] & 1) ? SASL_MECH_PLAIN : SASL_MECH_LOGIN;
    if (sasl_client_start(&s, m, "user@example.org", "secret", "h[192.0.2.1]", out, &n) != 0)
        abort();
    size_t i = 0;
    while (i < size) {
        const char *nl = memchr(buf + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (buf + i)) + 1 : size - i;
        int code = 0;
        if (len >= 3)
            code = (buf[i] - '0') * 100 + (buf[i + 1] - '0') * 10 + (buf[i + 2] - '0');
        enum sasl_step st = sasl_client_step(&s, buf + i, len, code, out, &n);
        if (st == SASL_STEP_SEND && (n < 2 || n >= SASL_LINE_MAX || out[n - 2] != '\r' ||
                                     out[n - 1] != '\n'))
            abort();
        if (st != SASL_STEP_SEND)
            break;
        i += len;
    }
    sasl_client_clear(&s);
    return 0;
}
