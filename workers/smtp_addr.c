/*
 * smtp_addr.c - MAIL/RCPT/VRFY address extraction, xtext, address hacks.
 *
 * smtp_addr_extract() mirrors what Postfix's smtpd does with the address
 * token (extract_addr() over the RFC 822 tokenizer tok822_parse()):
 *   - "<...>" around the whole token is removed; then a leading source
 *     route "@a,@b:" is dropped up to the first colon;
 *   - the rest is scanned as RFC 822 tokens (atoms, "quoted strings",
 *     [domain literals], (comments), specials) and grouped into addresses:
 *     adjacent words without "." "@" ":" or another special between them
 *     start a new address; "," and ";" separate addresses; a route address
 *     "phrase <addr>" counts as one address, its phrase as non-address;
 *     "name: ... ;" is a group whose name does not count as an address;
 *   - more than one address is an error; with strict_rfc821_envelopes,
 *     so is anything that is not the address (comment, phrase, separator),
 *     a token that did not start with "<", or an address starting with "@".
 * An empty result is allowed only where the caller says (MAIL's null
 * sender). Domain syntax is not checked here: Postfix checks it later, by
 * asking trivial-rewrite, outside the command parser.
 *
 * The internal form drops quotes, backslash escapes, comments and white
 * space between tokens: "a b"@c -> a b@c, as Postfix's internal form.
 */
#include "smtp_cmd.h"

#include <errno.h>
#include <string.h>

enum tok_type { T_WORD, T_JOIN, T_COMMA, T_SEMI, T_COLON, T_LT, T_GT, T_COMMENT };

struct tok {
    enum tok_type type;
    const char *s; /* the token text as sent, for the internal form */
    size_t n;
    char quoted; /* '"' quoted string, '[' domain literal, 0 otherwise */
};

/* Enough tokens for any line: a line_length_limit line has at most that
 * many; a longer token list only comes from a longer input, cut to fit. */
#define MAX_TOKS 1024

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_special(int c)
{
    return c && strchr("()<>@,;:\\\".[]", c) != NULL;
}

/* Skip a quoted string or domain literal starting after the opening char;
 * backslash quotes the next char. Unterminated: runs to the end. */
static size_t skip_quoted(const char *s, size_t i, size_t n, char close)
{
    while (i < n) {
        if (s[i] == '\\' && i + 1 < n)
            i += 2;
        else if (s[i++] == close)
            break;
    }
    return i;
}

static size_t skip_comment(const char *s, size_t i, size_t n)
{
    int depth = 1;
    while (i < n && depth > 0) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        else if (s[i] == '(')
            depth++;
        else if (s[i] == ')')
            depth--;
        i++;
    }
    return i;
}

static size_t scan(const char *s, size_t n, struct tok *t, size_t max)
{
    size_t i = 0, nt = 0;
    while (i < n && nt < max) {
        unsigned char c = (unsigned char)s[i];
        size_t start = i;
        if (is_space(c)) {
            i++;
            continue;
        }
        t[nt].quoted = 0;
        if (c == '(') {
            i = skip_comment(s, i + 1, n);
            t[nt].type = T_COMMENT;
        } else if (c == '"' || c == '[') {
            i = skip_quoted(s, i + 1, n, c == '"' ? '"' : ']');
            t[nt].type = T_WORD;
            t[nt].quoted = (char)c;
        } else if (is_special(c) && c != '\\') {
            i++;
            t[nt].type = c == ',' ? T_COMMA
                         : c == ';' ? T_SEMI
                         : c == ':' ? T_COLON
                         : c == '<' ? T_LT
                         : c == '>' ? T_GT
                                    : T_JOIN;
        } else {
            /* An atom; a backslash quotes the next byte, even a special. */
            while (i < n && !is_space(s[i]) && (!is_special(s[i]) || s[i] == '\\')) {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                i++;
            }
            t[nt].type = T_WORD;
        }
        t[nt].s = s + start;
        t[nt].n = i - start;
        nt++;
    }
    return nt;
}

/* Append a token's internal form: quotes and escapes removed. */
static void put_tok(const struct tok *t, char *dst, size_t *dl)
{
    size_t i = 0, end = t->n;
    if (t->quoted == '"') {
        i = 1;
        if (end > 1 && t->s[end - 1] == '"')
            end--;
    }
    for (; i < end; i++) {
        if (t->quoted != '[' && t->s[i] == '\\' && i + 1 < end)
            i++;
        dst[(*dl)++] = t->s[i];
    }
}

/*
 * Group tokens t[lo..hi) into addresses. A run of words joined by
 * specials is one address; a word right after a word starts another.
 * Colons join words unless the run is a group ("name: ... ;").
 */
struct group_state {
    int naddr, non_addr;
    int in_addr;   /* the last token belongs to an address in progress */
    int last_word; /* ... and it was a word */
    const struct tok *first; /* first token of the last address */
    const struct tok *end;   /* one past its last token */
};

static void add_word_or_join(struct group_state *g, const struct tok *tp)
{
    if (tp->type == T_WORD && g->in_addr && g->last_word)
        g->in_addr = 0; /* two words in a row: a new address */
    if (!g->in_addr) {
        g->naddr++;
        g->first = tp;
        g->in_addr = 1;
    }
    g->end = tp + 1;
    g->last_word = tp->type == T_WORD;
}

int smtp_addr_extract(const char *tok, size_t tok_len, int strict, int allow_empty, char *dst,
                      size_t *dst_len)
{
    struct tok t[MAX_TOKS];
    const char *text = tok;
    size_t n = tok_len;

    if (n >= 2 && tok[0] == '<' && tok[n - 1] == '>') {
        text++;
        n -= 2;
    }
    if (n > 0 && text[0] == '@') {
        const char *colon = memchr(text, ':', n);
        if (colon) {
            n -= (size_t)(colon + 1 - text);
            text = colon + 1;
        }
    }
    size_t nt = scan(text, n, t, MAX_TOKS);

    /* A semicolon makes the tokens before the last colon a group name. */
    size_t group_colon = nt;
    for (size_t i = 0; i < nt; i++)
        if (t[i].type == T_SEMI) {
            for (size_t j = i; j-- > 0;)
                if (t[j].type == T_COLON) {
                    group_colon = j;
                    break;
                }
            break;
        }

    struct group_state g = {0};
    for (size_t i = 0; i < nt; i++) {
        const struct tok *tp = &t[i];
        if (i < group_colon && group_colon < nt && tp->type != T_COMMENT) {
            g.non_addr++; /* group name phrase */
            continue;
        }
        switch (tp->type) {
        case T_WORD:
        case T_JOIN:
            add_word_or_join(&g, tp);
            break;
        case T_COLON:
            if (i == group_colon) {
                g.non_addr++;
                g.in_addr = 0;
            } else {
                add_word_or_join(&g, tp);
            }
            break;
        case T_LT: {
            /* A route address: the words before it were its phrase. */
            size_t j = i + 1;
            while (j < nt && t[j].type != T_GT)
                j++;
            if (j == nt) {
                /* A '<' without '>' is kept as part of the address. */
                add_word_or_join(&g, tp);
                break;
            }
            if (g.in_addr && g.first) {
                g.naddr--;
                g.non_addr++;
            }
            size_t k = i + 1;
            /* Inside <...> a source route is dropped too. */
            if (k < j && t[k].type == T_JOIN && t[k].s[0] == '@') {
                for (size_t m = k; m < j; m++)
                    if (t[m].type == T_COLON) {
                        k = m + 1;
                        break;
                    }
            }
            g.naddr++;
            g.first = k < j ? &t[k] : NULL;
            g.end = &t[j];
            g.in_addr = 0;
            for (size_t m = k; m < j; m++)
                if (t[m].type == T_COMMENT || t[m].type == T_COMMA || t[m].type == T_SEMI)
                    g.non_addr++;
            i = j;
            break;
        }
        case T_GT:
            break; /* a lone '>' is ignored */
        case T_COMMA:
        case T_SEMI:
        case T_COMMENT:
            g.non_addr++;
            if (tp->type != T_COMMENT)
                g.in_addr = 0;
            break;
        }
    }
    if (g.naddr > 1 || (strict && (g.non_addr || tok_len == 0 || tok[0] != '<')))
        return -EINVAL;

    size_t dl = 0;
    if (g.naddr == 1 && g.first)
        for (const struct tok *tp = g.first; tp < g.end; tp++)
            if (tp->type != T_COMMENT && tp->type != T_GT)
                put_tok(tp, dst, &dl);
    dst[dl] = '\0';
    *dst_len = dl;
    if ((dl == 0 && !allow_empty) || (strict && dst[0] == '@'))
        return -EINVAL;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int smtp_xtext_decode(const char *src, size_t len, char *dst, size_t *dst_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '+') {
            int hi, lo;
            if (i + 2 >= len)
                return -EINVAL;
            hi = hexval((unsigned char)src[i + 1]);
            lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            dst[o++] = src[i];
        }
    }
    dst[o] = '\0';
    *dst_len = o;
    return 0;
}

int smtp_addr_percent_hack(char *addr, size_t *len)
{
    char *at = memchr(addr, '@', *len);
    char *pct = NULL;
    for (char *p = addr; p < (at ? at : addr + *len); p++)
        if (*p == '%')
            pct = p;
    if (!at || !pct)
        return 0;
    /* "user%dom@here" -> "user@dom": drop "@here", the % becomes @. */
    *pct = '@';
    *len = (size_t)(at - addr);
    addr[*len] = '\0';
    return 1;
}

int smtp_addr_swap_bangpath(char *addr, size_t *len, size_t size)
{
    char *bang = memchr(addr, '!', *len);
    if (!bang || memchr(addr, '@', *len) || bang == addr || bang + 1 == addr + *len ||
        *len + 2 > size)
        return 0;
    /* "host!user" -> "user@host": rotate the host part to the end. */
    size_t hl = (size_t)(bang - addr), ul = *len - hl - 1;
    char tmp[256];
    if (hl >= sizeof(tmp))
        return 0;
    memcpy(tmp, addr, hl);
    memmove(addr, bang + 1, ul);
    addr[ul] = '@';
    memcpy(addr + ul + 1, tmp, hl);
    addr[*len] = '\0';
    return 1;
}
