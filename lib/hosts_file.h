/*
 * hosts_file.h - the hosts file (/etc/hosts) as the C library's "files"
 * source reads it, for the client name lookup: Postfix's smtpd asks the
 * system resolver (getnameinfo, getaddrinfo), which reads this file before
 * DNS ("hosts: files dns"), so 127.0.0.1 is "localhost" without a query.
 *
 * Format: "ADDRESS NAME [ALIAS...]" per line, '#' starts a comment. The
 * reverse answer for an address is the first name of the first line with
 * that address; a name (or alias, case-insensitive) maps to the addresses
 * of every line that lists it.
 *
 * Pure over the text given; hosts_file_read() reads the file. Returns are
 * documented per function; a missing file reads as empty.
 */
#ifndef MX_HOSTS_FILE_H
#define MX_HOSTS_FILE_H

#include <stddef.h>
#include <sys/socket.h>

/* The file's text (malloc'd, NUL-terminated) in *out; "" when it does not
 * exist. 0 or -errno. */
int hosts_file_read(const char *path, char **out);
/* The name of addr: 1 with name filled, 0 when no line has the address. */
int hosts_file_name(const char *text, const struct sockaddr *addr, char *name, size_t size);
/* Whether name maps to addr: 1 yes, 0 the name is listed but not with
 * this address, -1 the name is not in the file (ask DNS). */
int hosts_file_confirms(const char *text, const char *name, const struct sockaddr *addr);

#endif
