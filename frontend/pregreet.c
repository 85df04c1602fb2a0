/*
 * pregreet.c - see pregreet.h.
 */
#include "pregreet.h"

#include <stdio.h>
#include <string.h>

size_t pregreet_escape(const unsigned char *in, size_t len, char *out, size_t cap)
{
    size_t lim = cap - 1 < PREGREET_TEXT_MAX ? cap - 1 : PREGREET_TEXT_MAX;
    size_t o = 0;
    for (size_t i = 0; i < len && o < lim; i++) {
        unsigned ch = in[i];
        char tmp[8];
        size_t tl;
        if (ch >= 0x20 && ch < 0x7f) {
            tmp[0] = (char)ch;
            tl = 1;
            if (ch == '\\')
                tmp[tl++] = '\\';
        } else {
            const char *name = NULL;
            switch (ch) {
            case '\a': name = "\\a"; break;
            case '\b': name = "\\b"; break;
            case '\f': name = "\\f"; break;
            case '\n': name = "\\n"; break;
            case '\r': name = "\\r"; break;
            case '\t': name = "\\t"; break;
            case '\v': name = "\\v"; break;
            default: break;
            }
            if (name) {
                memcpy(tmp, name, 2);
                tl = 2;
            } else {
                int next_digit = i + 1 < len && in[i + 1] >= '0' && in[i + 1] <= '9';
                tl = (size_t)snprintf(tmp, sizeof(tmp), next_digit ? "\\%03o" : "\\%o", ch);
            }
        }
        /* "%.100s": the escaped text is cut, even inside an escape. */
        for (size_t k = 0; k < tl && o < lim; k++)
            out[o++] = tmp[k];
    }
    out[o] = '\0';
    return o;
}
