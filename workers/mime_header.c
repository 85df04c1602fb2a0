/*
 * mime_header.c - what mime_state needs to know about one header: is a
 * line the start of a header (Postfix's is_header.c), which headers are
 * MIME headers (header_opts.c), and what Content-Type and
 * Content-Transfer-Encoding say (header_token.c and mime_state.c's
 * mime_state_content_type/_encoding), ported so that odd input parses the
 * way Postfix parses it: the same tokens, the same ignored parameters, the
 * same boundary value even when it is a special character or empty.
 *
 * Everything works on st->hdr, which never holds a NUL before its end, so
 * the NUL-terminated loops below see what Postfix's see.
 */
#include "mime_state_int.h"

#include <string.h>
#include <strings.h>

#define IS_LWSP(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')
/* Postfix's ISCNTRL: ASCII control characters only; 8-bit bytes are text. */
#define IS_CNTRL(c) ((c) < 32 || (c) == 127)

/* Length of the header name when s starts "name:" or "name :", else 0. */
size_t mime_is_header(const char *s, size_t len)
{
    size_t n = 0;
    int seen_space = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ':')
            return n;
        if (c == ' ' || c == '\t') {
            if (n == 0)
                return 0;
            seen_space = 1;
            continue;
        }
        if (c == 0 || c >= 128 || IS_CNTRL(c) || seen_space)
            return 0;
        n++;
    }
    return 0;
}

static const struct {
    const char *name;
    int kind;
} mime_names[] = {
    {"Content-Description", HDR_MIME},
    {"Content-Disposition", HDR_MIME},
    {"Content-ID", HDR_MIME},
    {"Content-Transfer-Encoding", HDR_CONTENT_TRANSFER_ENCODING},
    {"Content-Type", HDR_CONTENT_TYPE},
    {"MIME-Version", HDR_MIME},
};

/* hdr starts with "name:"; say whether the name is one of the MIME ones. */
int mime_header_kind(const char *hdr, size_t len)
{
    const char *colon = memchr(hdr, ':', len);
    if (!colon)
        return HDR_OTHER;
    size_t n = (size_t)(colon - hdr);
    for (size_t i = 0; i < sizeof(mime_names) / sizeof(mime_names[0]); i++)
        if (strlen(mime_names[i].name) == n && strncasecmp(hdr, mime_names[i].name, n) == 0)
            return mime_names[i].kind;
    return HDR_OTHER;
}

static void tok_start(struct mime_state *st, int i, int type)
{
    st->tok[i].type = type;
    st->tok[i].len = st->tok[i].kept = st->tok[i].trail_lwsp = 0;
}

static void tok_add(struct mime_state *st, int i, int ch)
{
    struct mime_tok *t = &st->tok[i];
    if (t->kept < st->tok_cap && t->kept == t->len)
        t->val[t->kept++] = (char)ch;
    t->len++;
    t->trail_lwsp = IS_LWSP(ch) ? t->trail_lwsp + 1 : 0;
}

/*
 * header_token(): up to max tokens from *pp, stopping after terminator
 * term (0: none). Returns the number stored, or -1 when the input ran out
 * before any token.
 */
static int header_token(struct mime_state *st, const char **pp, int max, const char *specials,
                        int term)
{
    const unsigned char *cp = (const unsigned char *)*pp;
    int count = 0, ch;

    while ((ch = *cp) != 0 && (term != 0 || count < max)) {
        cp++;
        if (IS_LWSP(ch))
            continue;
        if (ch == term)
            break;
        if (ch == '(') { /* comments nest; backslash quotes */
            int level = 1;
            while ((ch = *cp) != 0) {
                cp++;
                if (ch == '(') {
                    level++;
                } else if (ch == ')') {
                    if (--level == 0)
                        break;
                } else if (ch == '\\') {
                    if (*cp == 0)
                        break;
                    cp++;
                }
            }
            continue;
        }
        if (ch == '"') {
            if (count < max)
                tok_start(st, count, TOK_QSTRING);
            while ((ch = *cp) != 0) {
                cp++;
                if (ch == '"')
                    break;
                if (ch == '\n') { /* unfold: drop white space before the newline */
                    if (count < max) {
                        struct mime_tok *t = &st->tok[count];
                        t->len -= t->trail_lwsp;
                        if (t->kept > t->len)
                            t->kept = t->len;
                        t->trail_lwsp = 0;
                    }
                    continue;
                }
                if (ch == '\\') {
                    if ((ch = *cp) == 0)
                        break;
                    cp++;
                }
                if (count < max)
                    tok_add(st, count, ch);
            }
            if (count < max)
                count++;
            continue;
        }
        if (strchr(specials, ch) || IS_CNTRL(ch)) {
            if (count < max) {
                tok_start(st, count, ch);
                tok_add(st, count, ch);
                count++;
            }
            continue;
        }
        if (count < max) {
            tok_start(st, count, TOK_TOKEN);
            tok_add(st, count, ch);
        }
        while ((ch = *cp) != 0 && !IS_LWSP(ch) && !IS_CNTRL(ch) && !strchr(specials, ch)) {
            cp++;
            if (count < max)
                tok_add(st, count, ch);
        }
        if (count < max)
            count++;
    }
    if (count == 0 && ch == 0)
        return -1;
    *pp = (const char *)cp;
    return count;
}

static int tok_match(const struct mime_state *st, int i, const char *word)
{
    const struct mime_tok *t = &st->tok[i];
    size_t n = strlen(word);
    return t->type == TOK_TOKEN && t->len == n && strncasecmp(t->val, word, n) == 0;
}

/* mime_state_push(): the boundary is kept up to boundary_length_limit. */
static void mime_push(struct mime_state *st, int def_ctype, int def_stype, const struct mime_tok *t)
{
    size_t off = 0;
    if (st->depth > 0)
        off = st->stack[st->depth - 1].off + st->stack[st->depth - 1].len;
    size_t n = t->len < st->lim.boundary_length_limit ? t->len : st->lim.boundary_length_limit;
    struct mime_bound *b = &st->stack[st->depth++];
    b->def_ctype = def_ctype;
    b->def_stype = def_stype;
    b->off = off;
    b->len = n;
    memcpy(st->arena + off, t->val, n);
}

#define RFC2045_TSPECIALS "()<>@,;:\\\"/[]?="
#define RFC822_SPECIALS "()<>@,;:\\\".[]"

void mime_content_type(struct mime_state *st, size_t name_len)
{
    const char *cp = st->hdr + name_len + 1;
    int n = header_token(st, &cp, MIME_MAX_TOKEN, RFC2045_TSPECIALS, ';');
    if (n <= 0)
        return;
    if (tok_match(st, 0, "text")) {
        st->curr_ctype = CTYPE_TEXT;
        st->curr_stype = (n >= 3 && st->tok[1].type == '/' && tok_match(st, 2, "plain"))
                             ? STYPE_PLAIN
                             : STYPE_OTHER;
        return;
    }
    if (tok_match(st, 0, "message")) {
        st->curr_ctype = CTYPE_MESSAGE;
        st->curr_stype = STYPE_OTHER;
        if (n >= 3 && st->tok[1].type == '/') {
            if (tok_match(st, 2, "rfc822"))
                st->curr_stype = STYPE_RFC822;
            else if (tok_match(st, 2, "partial"))
                st->curr_stype = STYPE_PARTIAL;
            else if (tok_match(st, 2, "external-body"))
                st->curr_stype = STYPE_EXTERN_BODY;
        }
        return;
    }
    if (tok_match(st, 0, "multipart")) {
        int def_ctype = CTYPE_TEXT, def_stype = STYPE_PLAIN;
        st->curr_ctype = CTYPE_MULTIPART;
        if (n >= 3 && st->tok[1].type == '/' && tok_match(st, 2, "digest")) {
            def_ctype = CTYPE_MESSAGE;
            def_stype = STYPE_RFC822;
        }
        /*
         * Every boundary= parameter is pushed, as Postfix does: several
         * are illegal, but a sender hiding content behind one of them must
         * still have its part headers found. The value's type (token,
         * quoted string, even a lone special character) does not matter.
         */
        while ((n = header_token(st, &cp, MIME_MAX_TOKEN, RFC2045_TSPECIALS, ';')) >= 0) {
            if (n >= 3 && tok_match(st, 0, "boundary") && st->tok[1].type == '=') {
                if (st->depth > st->lim.nesting_limit)
                    st->err_flags |= MIME_ERR_NESTING;
                else
                    mime_push(st, def_ctype, def_stype, &st->tok[2]);
            }
        }
        return;
    }
    st->curr_ctype = CTYPE_OTHER;
}

void mime_content_encoding(struct mime_state *st, size_t name_len)
{
    static const struct {
        const char *name;
        int encoding, domain;
    } map[] = {
        {"7bit", ENC_7BIT, ENC_7BIT},
        {"8bit", ENC_8BIT, ENC_8BIT},
        {"binary", ENC_BINARY, ENC_BINARY},
        {"base64", ENC_BASE64, ENC_7BIT},
        {"quoted-printable", ENC_QP, ENC_7BIT},
    };
    const char *cp = st->hdr + name_len + 1;
    if (header_token(st, &cp, 1, RFC822_SPECIALS, 0) <= 0 || st->tok[0].type != TOK_TOKEN)
        return;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (tok_match(st, 0, map[i].name)) {
            st->curr_encoding = map[i].encoding;
            st->curr_domain = map[i].domain;
            return;
        }
    }
}
