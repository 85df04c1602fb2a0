/*
 * pregreet.h - the text of postscreen's PREGREET log line: what an early
 * talker sent, escaped as Postfix's escape() does (printable ASCII as is,
 * a backslash doubled, \a \b \f \n \r \t \v by name, any other byte as a
 * backslash and octal digits: three when a digit follows, else as few as
 * needed), cut at 100 characters as postscreen's "%.100s".
 * Pure: no I/O.
 */
#ifndef MX_FE_PREGREET_H
#define MX_FE_PREGREET_H

#include <stddef.h>

#define PREGREET_TEXT_MAX 100u

/* Escape in[0..len) into out (NUL-terminated, at most
 * PREGREET_TEXT_MAX characters + NUL; cap >= PREGREET_TEXT_MAX + 1).
 * Returns the length written. */
size_t pregreet_escape(const unsigned char *in, size_t len, char *out, size_t cap);

#endif
