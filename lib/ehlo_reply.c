/*
 * ehlo_reply.c - see ehlo_reply.h.
 */
#include "ehlo_reply.h"

#include <errno.h>
#include <stdio.h>
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

unsigned ehlo_reply_mask(const char *const *words, size_t n)
{
    static const struct {
        const char *name;
        unsigned bit;
    } kw[] = {
        {"pipelining", EHLO_KW_PIPELINING}, {"size", EHLO_KW_SIZE},
        {"vrfy", EHLO_KW_VRFY}, {"etrn", EHLO_KW_ETRN},
        {"starttls", EHLO_KW_STARTTLS}, {"enhancedstatuscodes", EHLO_KW_ENHANCEDSTATUSCODES},
        {"8bitmime", EHLO_KW_8BITMIME}, {"dsn", EHLO_KW_DSN},
        {"smtputf8", EHLO_KW_SMTPUTF8}, {"chunking", EHLO_KW_CHUNKING},
        {"xclient", EHLO_KW_XCLIENT},
    };
    unsigned m = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sizeof(kw) / sizeof(kw[0]); k++)
            if (words[i] && strcasecmp(words[i], kw[k].name) == 0)
                m |= kw[k].bit;
    return m;
}
