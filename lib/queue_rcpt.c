/*
 * queue_rcpt.c - how a queued message's recipients compare, as Postfix
 * compares them:
 *
 *   qf_addr_equal()   strcasecmp_utf8(): two addresses are the same when
 *                     they differ only in case, local part included (ICU
 *                     full case folding when smtputf8_enable and either
 *                     has a non-ASCII byte). log_adhoc.c prints
 *                     orig_to=<...> and bounce(8) "(expanded from <...>)"
 *                     only when the original differs from the address in
 *                     more than case.
 *   qf_rcpt_dedup()   cleanup(8)'s duplicate elimination
 *                     (cleanup_out_recipient, been_here with
 *                     BH_FLAG_FOLD): a recipient whose (ORCPT, NOTIFY,
 *                     original recipient, recipient), folded, was seen
 *                     before in the message is not written to the queue
 *                     file; the first spelling is kept. Only the first
 *                     duplicate_filter_limit distinct keys are remembered
 *                     (0: no limit), as been_here.
 *
 * Both pure (no I/O). Text that is not valid UTF-8 is compared byte for
 * byte after ASCII folding. Allocation failure is fatal (xmalloc).
 */
#include "queue_file.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "casefold.h"
#include "util.h"

/* s folded into a new string: ASCII lower case, or ICU case folding of
 * valid UTF-8 when utf8 (casefold.h); invalid UTF-8 only ASCII-lowered. */
static char *fold(const char *s, bool utf8)
{
    size_t len = strlen(s);
    char *out = xmalloc(3 * len + 1); /* casefold_utf8's growth bound */
    if (!utf8 || casefold_utf8(s, len, out, 3 * len + 1) < 0) {
        for (size_t i = 0; i < len; i++)
            out[i] = ascii_lower(s[i]);
        out[len] = '\0';
    }
    return out;
}

bool qf_addr_equal(const char *a, const char *b, bool utf8)
{
    if (!utf8 || (!str_has_8bit(a, strlen(a)) && !str_has_8bit(b, strlen(b))))
        return strcasecmp(a, b) == 0;
    char *fa = fold(a, true), *fb = fold(b, true);
    bool eq = strcmp(fa, fb) == 0;
    free(fa);
    free(fb);
    return eq;
}

/* FNV-1a: the keys are short and few (smtpd_recipient_limit). */
static size_t key_hash(const char *s)
{
    size_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The been_here key of recipient r: smtpd records "rfc822;" + the address
 * as ORCPT when the client gave none (smtpd.c rcpt_cmd), and the original
 * recipient is the address itself (no rewriting before the queue). */
static char *dedup_key(const struct qf_rcpt *r, bool utf8)
{
    struct strbuf sb;
    strbuf_init(&sb);
    if (r->orcpt)
        strbuf_puts(&sb, r->orcpt);
    else {
        strbuf_puts(&sb, "rfc822;");
        strbuf_puts(&sb, r->addr);
    }
    strbuf_putc(&sb, '\n');
    int mask = r->notify ? qf_notify_parse(r->notify, strlen(r->notify)) : 0;
    char num[16];
    snprintf(num, sizeof(num), "%d", mask > 0 ? mask : 0);
    strbuf_puts(&sb, num);
    const char *orig = r->orig_addr ? r->orig_addr : r->addr;
    strbuf_putc(&sb, '\n');
    strbuf_puts(&sb, orig);
    strbuf_putc(&sb, '\n');
    strbuf_puts(&sb, r->addr);
    char *k = fold(sb.buf, utf8);
    strbuf_free(&sb);
    return k;
}

unsigned qf_rcpt_dedup(struct qf_rcpt *r, unsigned n, unsigned long limit, bool utf8)
{
    if (n < 2)
        return n;
    size_t cap = 4;
    while (cap < 2 * (size_t)n)
        cap *= 2;
    char **set = xcalloc(cap, sizeof(*set));
    unsigned long stored = 0;
    unsigned out = 0;
    for (unsigned i = 0; i < n; i++) {
        char *k = dedup_key(&r[i], utf8);
        size_t h = key_hash(k) & (cap - 1);
        bool seen = false;
        while (set[h]) {
            if (strcmp(set[h], k) == 0) {
                seen = true;
                break;
            }
            h = (h + 1) & (cap - 1);
        }
        if (seen) {
            free(k);
            continue;
        }
        /* been_here: a full table remembers nothing more, so later
         * duplicates of unremembered keys go through. */
        if (limit == 0 || stored < limit) {
            set[h] = k;
            stored++;
        } else {
            free(k);
        }
        if (out != i)
            r[out] = r[i];
        out++;
    }
    for (size_t h = 0; h < cap; h++)
        free(set[h]);
    free(set);
    return out;
}
