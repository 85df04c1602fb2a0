/*
 * config_postfix_names.c - every Postfix parameter name, accepted silently
 * in main.cf when it is not in our table (config_params.c), with Postfix's
 * default, used only when a value refers to it as $name.
 *
 * The data is lib/postfix_defaults.cf (postconf -d output; see its header),
 * turned into sorted C rows at build time by gen_postfix_names.py. A unit
 * test checks the order that bsearch relies on.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

static const struct cfg_postfix_name names[] = {
#include "config_postfix_names_data.h"
};

const struct cfg_postfix_name *config_postfix_table(size_t *n)
{
    *n = ARRAY_LEN(names);
    return names;
}

const struct cfg_postfix_name *config_postfix_find(const char *name, size_t len)
{
    size_t lo = 0, hi = ARRAY_LEN(names);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strncmp(names[mid].name, name, len);
        if (c == 0 && names[mid].name[len] != '\0')
            c = 1;
        if (c == 0)
            return &names[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
