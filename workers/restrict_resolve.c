/*
 * restrict_resolve.c - what the restrictions need from trivial-rewrite:
 * local-context rewriting ($myorigin, swap_bangpath, allow_percent_hack),
 * the resolve loop that strips mydestination domains and rewrites what is
 * left, relay_domains, and the source-routing flag (allow_untrusted_routing).
 * Not modelled: virtual alias/mailbox domains, and [address] literals of
 * our own interfaces (Postfix counts those as local through
 * inet_interfaces). Pure apart from the match-list lookups; no allocation.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "matchlist.h"
#include "restrict_int.h"
#include "util.h"

/* Append text to a at its end, within RESTRICT_ADDR_MAX. */
static void addr_append(char *a, const char *s1, const char *s2)
{
    size_t n = strlen(a);
    snprintf(a + n, RESTRICT_ADDR_MAX - n, "%s%s", s1, s2);
}

/* rewrite_tree() in the "local" context (trivial-rewrite's rewrite.c):
 * an address without '@' has site!user swapped to user@site, or its
 * rightmost '%' made an '@', or @$myorigin appended; then a trailing dot
 * (not "..", not "@.") goes. */
static void canonicalize(const struct restrict_ctx *c, char *a)
{
    if (!strchr(a, '@')) {
        char *bang = c->swap_bangpath ? strchr(a, '!') : NULL;
        char *pct = c->percent_hack ? strrchr(a, '%') : NULL;
        if (bang) {
            char site[RESTRICT_ADDR_MAX];
            snprintf(site, sizeof(site), "%.*s", (int)(bang - a), a);
            memmove(a, bang + 1, strlen(bang + 1) + 1);
            addr_append(a, "@", site);
        } else if (pct) {
            *pct = '@';
        } else if (*c->myorigin) {
            addr_append(a, "@", c->myorigin);
        }
    }
    size_t n = strlen(a);
    if (n > 1 && a[n - 1] == '.' && a[n - 2] != '.' && a[n - 2] != '@')
        a[n - 1] = 0;
}

/* The address as smtpd_resolve_addr() gives it: rewritten in the local
 * context, then trivial-rewrite's resolve loop: a domain in mydestination
 * is stripped, and what is left is rewritten again when it still holds a
 * routing operator (user@site, site!user with swap_bangpath, user%site
 * with allow_percent_hack), so "u%remote@ourdomain" resolves to
 * "u@remote" - never final. Source-routed: the first of '@', '!', '%' is
 * not the '@' before the final domain. */
void restrict_resolve(const struct restrict_ctx *c, const char *in, struct restrict_resolved *r)
{
    char *a = r->addr, saved[RESTRICT_ADDR_MAX] = "";
    bool stripped = false, local = false;
    int m;

    snprintf(a, RESTRICT_ADDR_MAX, "%s", in);
    r->err = 0;
    if (*a)
        canonicalize(c, a);
    for (int loop = 0; loop < 100; loop++) {
        size_t n = strlen(a);
        char *at = strrchr(a, '@');
        if (n > 1 && at && a[n - 1] == '.' && a[n - 2] != '.' && a[n - 2] != '@')
            a[--n] = 0;
        if (at) {
            if (at[1]) {
                m = c->mydestination ? matchlist_match_domain(c->mydestination, at + 1) : 0;
                if (m < 0)
                    r->err = m;
                if (m <= 0)
                    break;
            }
            snprintf(saved, sizeof(saved), "%s", at + 1);
            *at = 0;
            stripped = true;
        }
        if (strchr(a, '@') || (c->swap_bangpath && strchr(a, '!'))
            || (c->percent_hack && strchr(a, '%'))) {
            canonicalize(c, a);
            continue;
        }
        if (!*a) {
            snprintf(a, RESTRICT_ADDR_MAX, "%s", "MAILER-DAEMON"); /* empty_address_recipient */
            continue;
        }
        if (!stripped) {
            addr_append(a, "@", c->myhostname);
            continue;
        }
        addr_append(a, "@", saved);
        local = true;
        break;
    }
    for (char *p = a; *p; p++)
        *p = ascii_lower(*p);
    char *at = strrchr(a, '@');
    if (!at) { /* the loop gave up: keep it away from every class */
        addr_append(a, "@", "");
        at = strrchr(a, '@');
    }
    r->domain = at + 1;
    r->routed = a + strcspn(a, "@!%") != at;
    r->final = local;
    m = !local && c->relay_domains ? matchlist_match_domain(c->relay_domains, r->domain) : 0;
    if (m < 0)
        r->err = m;
    r->relay = m > 0;
}
