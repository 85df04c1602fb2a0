/*
 * fuzz_fe_text.c - what a client sends, into the frontend's readers of it:
 * the PREGREET escaper (bounded output, no byte outside printable ASCII),
 * the enforce engine's command reader (the argument and its first word
 * stay inside the line; the MAIL/RCPT address fits its buffer, NUL
 * terminated) and the access list's table value reader.
 */
#include <stdint.h>
#include <string.h>

#include "access_list.h"
#include "dummy_cmd.h"
#include "pregreet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[PREGREET_TEXT_MAX + 1];
    size_t n = pregreet_escape(data, size, out, sizeof(out));
    if (n > PREGREET_TEXT_MAX || strlen(out) != n)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (out[i] < 0x20 || out[i] > 0x7e)
            __builtin_trap();
    const char *line = (const char *)data, *arg;
    size_t alen;
    enum dummy_verb v = dummy_cmd_parse(line, size, &arg, &alen);
    if (arg < line || arg + alen > line + size)
        __builtin_trap();
    (void)dummy_cmd_name(v);
    const char *w;
    size_t wl;
    if (dummy_cmd_word(arg, alen, &w, &wl) && (w < arg || w + wl > arg + alen || wl == 0))
        __builtin_trap();
    char addr[16];
    int an = dummy_cmd_addr(arg, alen, addr, sizeof(addr));
    if (an >= (int)sizeof(addr) || (an >= 0 && strlen(addr) != (size_t)an))
        __builtin_trap();
    enum fe_acl_result r = fe_acl_value(line, size, "fuzz:table", (int)(size % 3) - 1);
    if (r != FE_ACL_DUNNO && r != FE_ACL_PERMIT && r != FE_ACL_REJECT && r != FE_ACL_ERROR)
        __builtin_trap();
    return 0;
}
