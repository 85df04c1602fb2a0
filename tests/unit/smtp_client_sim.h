/* smtp_client_sim.h - the scripted next-hop server the smtp_client unit
 * tests share (test_smtp_client.c: SMTP; test_smtp_client_more.c: LMTP,
 * the flush hook, the long-line split): a transcript of what the client
 * wrote and which events it raised, compared at each step; every script
 * runs with replies fed whole and byte by byte. */
#ifndef MX_SMTP_CLIENT_SIM_H
#define MX_SMTP_CLIENT_SIM_H

#include <stddef.h>

#include "smtp_client.h"

struct sim {
    struct smtp_client c;
    int bytewise;
    char out[65536];
    size_t outlen;
    char log[8192];
    size_t loglen;
};

#define EHLO_PIPE "250-sink.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
#define EHLO_PLAIN "250-sink.test\r\n250 8BITMIME\r\n"

/* Drain events and output until the client has nothing more to say. */
void pump(struct sim *s);
/* The next hop sends bytes (whole or byte by byte). */
void server(struct sim *s, const char *bytes);
/* What the client wrote and raised since the last call, or fail. */
void expect_(struct sim *s, const char *out, const char *log, int line);
#define expect(s, out, log) expect_(s, out, log, __LINE__)
/* A connected client (o: NULL for the defaults), before the greeting. */
struct sim *sim_new(int bytewise, const struct smtp_client_opts *o);
/* A client past EHLO with the reply given. */
struct sim *sim_ready(int bytewise, const char *ehlo);
/* The content in the chunks given (NULL-terminated, at most 4), each fed
 * whole or byte by byte, then its end. */
void body_chunks(struct sim *s, const char *const *chunk);
void body_all(struct sim *s, const char *b);

#endif
