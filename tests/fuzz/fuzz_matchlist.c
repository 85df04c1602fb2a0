/* fuzz_matchlist.c - the match list item parser: tokenizer, logical lines
 * of include files, and item classification (network patterns included),
 * for every list kind. Tables and files are not opened (no I/O here). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "matchlist.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct strbuf line;
    strbuf_init(&line);
    size_t lpos = 0;
    while (matchlist_next_line(buf, size, &lpos, &line)) {
        size_t pos = 0, s, n;
        while (matchlist_next_token(line.buf, line.len, &pos, &s, &n)) {
            if (s + n > line.len || n == 0)
                __builtin_trap();
            for (int k = MATCHLIST_ADDR; k <= MATCHLIST_DOMAIN; k++) {
                struct matchlist_item it;
                struct matchlist_err err;
                if (matchlist_item_parse(line.buf + s, n, (enum matchlist_kind)k, 1, &it, &err) ==
                    0) {
                    if (!it.text || strlen(it.text) != it.len)
                        __builtin_trap();
                    matchlist_item_clear(&it);
                } else if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL) {
                    __builtin_trap();
                }
            }
        }
    }
    strbuf_free(&line);
    return 0;
}
