/*
 * fuzz_config.c - the pure main.cf reader and $name expansion.
 *
 * The input is main.cf text: it is parsed, then every value is expanded
 * with the parsed file as the $name table (so definitions can refer to
 * each other, loop, nest and blow up), and split as a list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(void *ctx, const char *name, size_t len)
{
    const struct cfg_entry *e = cfg_file_find(ctx, name, len);
    return e ? e->value : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_file f = {0};
    struct cfg_diag d;
    cfg_diag_init(&d);
    (void)cfg_parse((const char *)data, size, "main.cf", &f, &d);
    for (size_t i = 0; i < f.n; i++) {
        struct strbuf sb;
        struct cfg_expand_err err;
        strbuf_init(&sb);
        if (cfg_expand(f.v[i].value, strlen(f.v[i].value), lookup, &f, &sb, &err) == 0) {
            struct cfg_list l;
            if (cfg_value_list(strbuf_cstr(&sb), &l) == 0)
                cfg_list_free(&l);
        }
        strbuf_free(&sb);
    }
    cfg_file_free(&f);
    cfg_diag_free(&d);
    return 0;
}
