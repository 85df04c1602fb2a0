/*
 * content_action.c - parse a header/body_checks result the way Postfix
 * 3.7's cleanup_act() does: action word, optional text, argument checks,
 * REJECT's reason with dsn_prepend(). See content_action.h.
 */
#include "content_action.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

size_t content_dsn_valid(const char *s, size_t len)
{
    size_t i = 0, n;
    if (len < 2 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return 0;
    i = 2;
    for (n = 0; i + n < len && s[i + n] >= '0' && s[i + n] <= '9'; n++)
        ;
    if (n < 1 || n > 3 || i + n >= len || s[i + n] != '.')
        return 0;
    i += n + 1;
    for (n = 0; i + n < len && s[i + n] >= '0' && s[i + n] <= '9'; n++)
        ;
    if (n < 1 || n > 3 || (i + n < len && !is_space(s[i + n])))
        return 0;
    return i + n;
}

size_t content_is_header(const char *s, size_t len)
{
    size_t name = 0, i;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ':')
            return name;
        if (c == ' ' || c == '\t') {
            if (name == 0)
                return 0;
            /* Only white space may sit between the name and the ':'. */
            for (i++; i < len && (s[i] == ' ' || s[i] == '\t'); i++)
                ;
            return i < len && s[i] == ':' ? name : 0;
        }
        if (c < 33 || c > 126)
            return 0;
        name++;
    }
    return 0;
}

/* dsn_prepend(def, text): keep the text's own status code if it has one. */
static void set_reason(struct content_action *a, const char *def, const char *t, size_t n)
{
    const char *dsn = def;
    size_t dsn_len = strlen(def), k;
    while (n > 0 && is_space(*t))
        t++, n--;
    if ((k = content_dsn_valid(t, n)) > 0) {
        dsn = t;
        dsn_len = k;
        t += k;
        n -= k;
        while (n > 0 && is_space(*t))
            t++, n--;
    }
    /* The reason is a C string: text after a NUL byte cannot be used. */
    const char *nul = memchr(t, 0, n);
    if (nul)
        n = (size_t)(nul - t);
    snprintf(a->reason, sizeof(a->reason), "%.*s %.*s", (int)dsn_len, dsn, (int)n, t);
    if (a->reason[0] != '4' && a->reason[0] != '5') {
        a->warn = CONTENT_WARN_BAD_DSN;
        a->reason[0] = '4';
    }
    a->defer = a->reason[0] == '4';
}

void content_action_parse(const char *buf, size_t len, enum content_ctx ctx,
                          struct content_action *out)
{
    static const struct {
        const char *name;
        enum content_act act;
    } words[] = {
        {"REJECT", CONTENT_ACT_REJECT},     {"WARN", CONTENT_ACT_WARN},
        {"INFO", CONTENT_ACT_INFO},         {"FILTER", CONTENT_ACT_FILTER},
        {"PASS", CONTENT_ACT_PASS},         {"DISCARD", CONTENT_ACT_DISCARD},
        {"HOLD", CONTENT_ACT_HOLD},         {"REDIRECT", CONTENT_ACT_REDIRECT},
        {"BCC", CONTENT_ACT_BCC},           {"DUNNO", CONTENT_ACT_DUNNO},
        {"OK", CONTENT_ACT_DUNNO},          {"IGNORE", CONTENT_ACT_IGNORE},
        {"STRIP", CONTENT_ACT_STRIP},       {"PREPEND", CONTENT_ACT_PREPEND},
        {"REPLACE", CONTENT_ACT_REPLACE},
    };
    size_t w = 0, t;
    memset(out, 0, sizeof(*out));
    /* strcspn(value, " \t"): the word ends at space or tab only. */
    while (w < len && buf[w] != ' ' && buf[w] != '\t' && buf[w] != '\0')
        w++;
    t = w;
    while (t < len && is_space(buf[t]))
        t++;
    out->word = buf;
    out->word_len = w;
    out->text = buf + t;
    out->text_len = len - t;
    {
        const char *nul = memchr(out->text, 0, out->text_len);
        if (nul)
            out->text_len = (size_t)(nul - out->text);
    }
    out->act = CONTENT_ACT_DUNNO;
    out->warn = CONTENT_WARN_UNKNOWN;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].name) == w && strncasecmp(buf, words[i].name, w) == 0) {
            out->act = words[i].act;
            out->warn = CONTENT_WARN_NONE;
            break;
        }
    }
    const char *text = out->text;
    size_t n = out->text_len;
    switch (out->act) {
    case CONTENT_ACT_REJECT:
        if (n > 0)
            set_reason(out, "5.7.1", text, n);
        else
            set_reason(out, "5.7.1", "message content rejected",
                       strlen("message content rejected"));
        break;
    case CONTENT_ACT_FILTER:
        if (n == 0) {
            out->warn = CONTENT_WARN_FILTER_EMPTY;
            out->act = CONTENT_ACT_DUNNO;
        } else if (!memchr(text, ':', n)) {
            out->warn = CONTENT_WARN_FILTER_BAD;
            out->act = CONTENT_ACT_DUNNO;
        }
        break;
    case CONTENT_ACT_REDIRECT:
    case CONTENT_ACT_BCC:
        if (!memchr(text, '@', n)) {
            out->warn = out->act == CONTENT_ACT_BCC ? CONTENT_WARN_BCC_ADDRESS
                                                    : CONTENT_WARN_REDIRECT_TARGET;
            out->act = CONTENT_ACT_DUNNO;
        }
        break;
    case CONTENT_ACT_PREPEND:
    case CONTENT_ACT_REPLACE: {
        int prep = out->act == CONTENT_ACT_PREPEND;
        if (n == 0) {
            out->warn = prep ? CONTENT_WARN_PREPEND_EMPTY : CONTENT_WARN_REPLACE_EMPTY;
            out->act = CONTENT_ACT_DUNNO;
        } else if (ctx == CONTENT_CTX_HEADER && content_is_header(text, n) == 0) {
            out->warn = prep ? CONTENT_WARN_PREPEND_HEADER : CONTENT_WARN_REPLACE_HEADER;
            out->act = CONTENT_ACT_DUNNO;
        }
        break;
    }
    default:
        break;
    }
}

int content_action_warning(const struct content_action *a, const char *map_class, char *buf,
                           size_t size)
{
    int n, tl = (int)a->text_len;
    const char *t = a->text;
    switch (a->warn) {
    case CONTENT_WARN_NONE:
        return -EINVAL;
    case CONTENT_WARN_UNKNOWN:
        /* Postfix prints the whole result value. */
        n = snprintf(buf, size, "unknown command in %s map: %.*s", map_class,
                     (int)(a->text + a->text_len - a->word), a->word);
        break;
    case CONTENT_WARN_BAD_DSN:
        n = snprintf(buf, size, "bad DSN action in %.*s -- need 4.x.x or 5.x.x", tl, t);
        break;
    case CONTENT_WARN_PREPEND_EMPTY:
        n = snprintf(buf, size, "PREPEND action without text in %s map", map_class);
        break;
    case CONTENT_WARN_PREPEND_HEADER:
        n = snprintf(buf, size,
                     "bad PREPEND header text \"%.*s\" in %s map -- need \"headername: "
                     "headervalue\"",
                     tl, t, map_class);
        break;
    case CONTENT_WARN_REPLACE_EMPTY:
        n = snprintf(buf, size, "REPLACE action without text in %s map", map_class);
        break;
    case CONTENT_WARN_REPLACE_HEADER:
        n = snprintf(buf, size,
                     "bad REPLACE header text \"%.*s\" in %s map -- need \"headername: "
                     "headervalue\"",
                     tl, t, map_class);
        break;
    case CONTENT_WARN_REDIRECT_TARGET:
        n = snprintf(buf, size, "bad REDIRECT target \"%.*s\" in %s map -- need user@domain", tl,
                     t, map_class);
        break;
    case CONTENT_WARN_BCC_ADDRESS:
        n = snprintf(buf, size, "bad BCC address \"%.*s\" in %s map -- need user@domain", tl, t,
                     map_class);
        break;
    case CONTENT_WARN_FILTER_EMPTY:
        n = snprintf(buf, size, "missing FILTER command argument in %s map", map_class);
        break;
    case CONTENT_WARN_FILTER_BAD:
        n = snprintf(buf, size, "bad FILTER command %.*s in %s -- need transport:destination",
                     tl, t, map_class);
        break;
    default:
        return -EINVAL;
    }
    return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}
