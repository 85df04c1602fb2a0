/*
 * ehlo_reply.c - see ehlo_reply.h.
 */
#include "ehlo_reply.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "xclient.h"

int ehlo_reply_format(const struct ehlo_opts *o, char *buf, size_t size)
{
    char sz[40];
    if (o->message_size_limit)
        snprintf(sz, sizeof(sz), "SIZE %llu", (unsigned long long)o->message_size_limit);
    else
        snprintf(sz, sizeof(sz), "SIZE");
    const unsigned d = o->discard;
    /* Postfix 3.7's order (smtpd.c ehlo_cmd), checked with the daemon. */
    const struct {
        bool on;
        const char *text;
    } kw[] = {
        {!(d & EHLO_KW_PIPELINING), "PIPELINING"},
        {!(d & EHLO_KW_SIZE), sz},
        {!(d & EHLO_KW_VRFY) && o->vrfy, "VRFY"},
        {!(d & EHLO_KW_ETRN), "ETRN"},
        {!(d & EHLO_KW_STARTTLS) && o->starttls, "STARTTLS"},
        {!(d & EHLO_KW_XCLIENT) && o->xclient, XCLIENT_EHLO_KEYWORD},
        {!(d & EHLO_KW_ENHANCEDSTATUSCODES), "ENHANCEDSTATUSCODES"},
        {!(d & EHLO_KW_8BITMIME), "8BITMIME"},
        {!(d & EHLO_KW_DSN), "DSN"},
        {!(d & EHLO_KW_SMTPUTF8) && o->smtputf8, "SMTPUTF8"},
        {!(d & EHLO_KW_CHUNKING), "CHUNKING"},
    };
    if (size == 0)
        return -ENOSPC;
    size_t len = 0;
    const char *prev = o->myhostname ? o->myhostname : "";
    /* Each line is written when the next is known: the last gets "250 ". */
    for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
        if (!kw[i].on)
            continue;
        int n = snprintf(buf + len, size - len, "250-%s\r\n", prev);
        if (n < 0 || (size_t)n >= size - len)
            return -ENOSPC;
        len += (size_t)n;
        prev = kw[i].text;
    }
    int n = snprintf(buf + len, size - len, "250 %s", prev);
    if (n < 0 || (size_t)n >= size - len)
        return -ENOSPC;
    return (int)(len + (size_t)n);
}

/* Postfix 3.7's ehlo_mask_table, in its order: str_ehlo_mask prints the
 * first name of each bit in this order. 3.7 prints SMTPUTF8 as
 * "EHLO_MASK_SMTPUTF8" (seen in its log) yet reads "smtputf8" in a
 * keyword list (seen in its EHLO reply): both names are here. */
static const struct {
    const char *name;
    unsigned bit;
} mask_table[] = {
    {"8BITMIME", EHLO_KW_8BITMIME},
    {"AUTH", EHLO_KW_AUTH},
    {"ETRN", EHLO_KW_ETRN},
    {"PIPELINING", EHLO_KW_PIPELINING},
    {"SIZE", EHLO_KW_SIZE},
    {"VERP", EHLO_KW_VERP},
    {"VRFY", EHLO_KW_VRFY},
    {"XCLIENT", EHLO_KW_XCLIENT},
    {"XFORWARD", EHLO_KW_XFORWARD},
    {"STARTTLS", EHLO_KW_STARTTLS},
    {"ENHANCEDSTATUSCODES", EHLO_KW_ENHANCEDSTATUSCODES},
    {"DSN", EHLO_KW_DSN},
    {"EHLO_MASK_SMTPUTF8", EHLO_KW_SMTPUTF8},
    {"SMTPUTF8", EHLO_KW_SMTPUTF8},
    {"CHUNKING", EHLO_KW_CHUNKING},
    {"SILENT-DISCARD", EHLO_KW_SILENT},
};
#define MASK_N (sizeof(mask_table) / sizeof(mask_table[0]))

static unsigned word_bit(const char *w, size_t len)
{
    for (size_t k = 0; k < MASK_N; k++)
        if (strlen(mask_table[k].name) == len && strncasecmp(w, mask_table[k].name, len) == 0)
            return mask_table[k].bit;
    return 0;
}

unsigned ehlo_reply_mask(const char *const *words, size_t n)
{
    unsigned m = 0;
    for (size_t i = 0; i < n; i++)
        if (words[i])
            m |= word_bit(words[i], strlen(words[i]));
    return m;
}

unsigned ehlo_reply_mask_text(const char *text, size_t len)
{
    unsigned m = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && strchr(", \t\r\n", text[i]) && text[i])
            i++;
        size_t start = i;
        while (i < len && !(strchr(", \t\r\n", text[i]) && text[i]))
            i++;
        if (i > start)
            m |= word_bit(text + start, i - start);
    }
    return m;
}

bool ehlo_reply_logged(unsigned mask)
{
    return mask != 0 && !(mask & EHLO_KW_SILENT) && !(mask & EHLO_KW_ENHANCEDSTATUSCODES);
}

int ehlo_reply_mask_str(unsigned mask, char *buf, size_t size)
{
    if (size == 0)
        return -ENOSPC;
    size_t len = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < MASK_N; k++) {
        if (!(mask & mask_table[k].bit))
            continue;
        mask &= ~mask_table[k].bit;
        int n = snprintf(buf + len, size - len, "%s%s", len ? " " : "", mask_table[k].name);
        if (n < 0 || (size_t)n >= size - len)
            return -ENOSPC;
        len += (size_t)n;
    }
    return (int)len;
}
