/*
 * smtp_cmd_probe.c - what smtp_cmd_parse() predicts, one line per input line.
 *
 * Reads command lines (LF-terminated, any bytes but LF) on stdin and prints
 * for each either "OK <VERB>" (the syntax is fine; the reply then depends on
 * session state or policy) or the reply Postfix gives for the syntax error.
 * Options: -s strict_rfc821_envelopes = yes; -n smtputf8_enable = no.
 * Used by smtpd_syntax.py to compare with Postfix's smtpd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp_cmd.h"

int main(int argc, char **argv)
{
    struct smtp_parse_opts o = {.strict = 0, .smtputf8 = 1};
    int c;
    while ((c = getopt(argc, argv, "sn")) != -1) {
        if (c == 's')
            o.strict = 1;
        else if (c == 'n')
            o.smtputf8 = 0;
        else
            return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        char *scratch = malloc(SMTP_SCRATCH_NEED((size_t)n));
        if (!scratch)
            return 1;
        o.scratch = scratch;
        o.scratch_size = SMTP_SCRATCH_NEED((size_t)n);
        struct smtp_cmd cmd;
        char reply[4096];
        if (smtp_cmd_parse(line, (size_t)n, &o, &cmd) == SMTP_PARSE_OK) {
            printf("OK %s\n", smtp_verb_name(cmd.verb));
        } else {
            smtp_reply_format(&cmd, reply, sizeof(reply));
            printf("%s\n", reply);
        }
        free(scratch);
    }
    free(line);
    return 0;
}
