/*
 * matchlist_probe.c - answers of lib/matchlist for tests/peer/matchlist_peer.py.
 *
 *   matchlist_probe list KIND PNAME PARENT VALUE < queries
 *     KIND addr|namadr|domain, PARENT 0|1, VALUE the expanded list.
 *     One query per stdin line ("NAME ADDR" for namadr, else one word);
 *     one answer per line: 1 (match), 0 (no match), E (table error).
 *     A list that does not compile prints "ERROR <message>" and exits 2.
 *   matchlist_probe mynetworks host|subnet|class 4|6|46
 *     prints the mynetworks default from this machine's interfaces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matchlist.h"

static int run_list(const char *kind_s, const char *pname, const char *parent, const char *value)
{
    enum matchlist_kind kind = strcmp(kind_s, "addr") == 0     ? MATCHLIST_ADDR
                               : strcmp(kind_s, "namadr") == 0 ? MATCHLIST_NAMADR
                                                               : MATCHLIST_DOMAIN;
    struct matchlist *l;
    struct matchlist_err err;
    if (matchlist_compile(pname, kind, strcmp(parent, "1") == 0 ? MATCHLIST_PARENT : 0, value, &l,
                          &err) < 0) {
        printf("ERROR %s\n", err.msg);
        return 2;
    }
    char line[4096];
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        int rc;
        if (kind == MATCHLIST_NAMADR) {
            char *sp = strchr(line, ' ');
            if (!sp)
                return 1;
            *sp = '\0';
            rc = matchlist_match_namadr(l, line, sp + 1);
        } else if (kind == MATCHLIST_ADDR) {
            rc = matchlist_match_addr(l, line);
        } else {
            rc = matchlist_match_domain(l, line);
        }
        puts(rc < 0 ? "E" : rc ? "1" : "0");
    }
    matchlist_free(l);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "list") == 0)
        return run_list(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 4 && strcmp(argv[1], "mynetworks") == 0) {
        enum matchlist_mynet_style st = strcmp(argv[2], "subnet") == 0  ? MYNET_STYLE_SUBNET
                                        : strcmp(argv[2], "class") == 0 ? MYNET_STYLE_CLASS
                                                                        : MYNET_STYLE_HOST;
        char out[8192];
        int rc = matchlist_mynetworks_local(st, strchr(argv[3], '4') != NULL,
                                            strchr(argv[3], '6') != NULL, out, sizeof(out));
        if (rc < 0)
            return 1;
        puts(out);
        return 0;
    }
    fprintf(stderr, "usage: matchlist_probe list KIND PNAME PARENT VALUE | mynetworks STYLE 4|6|46\n");
    return 1;
}
