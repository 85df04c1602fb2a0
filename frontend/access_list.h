/*
 * access_list.h - postscreen_access_list, as Postfix's postscreen_access.c
 * evaluates it: a list of permit_mynetworks, permit, reject, dunno and
 * type:table items, read left to right; the first permit or reject wins,
 * dunno ends the list undecided. A table is looked up with the client
 * address alone; its value is read as a list of the same words (not
 * tables: "table T: lookup result "X" is not allowed -- ignoring
 * remainder of access list" and dunno). An unknown word or a table
 * error: warned about, and the rest of the list is ignored (ERROR, which
 * the caller treats as dunno, as postscreen does).
 *
 * fe_acl_value() is the pure reader of one table value (outside input):
 * no I/O but the warnings it logs. fe_acl_load() runs in the master
 * (opens the tables, compiles mynetworks); fe_acl_eval() in the frontend.
 */
#ifndef MX_FE_ACCESS_LIST_H
#define MX_FE_ACCESS_LIST_H

#include <stddef.h>

#include "config.h"

enum fe_acl_result { FE_ACL_DUNNO = 0, FE_ACL_PERMIT, FE_ACL_REJECT, FE_ACL_ERROR };

struct fe_acl;

/* Read a table's value: the first decisive word. origin names the table
 * for warnings; mynet says whether the client is in mynetworks (1, 0, or
 * -1: that lookup failed) for a value that says permit_mynetworks. */
enum fe_acl_result fe_acl_value(const char *val, size_t len, const char *origin, int mynet);

/* NULL *out (and 0) when the list is empty. -errno with diag filled when a
 * table cannot be opened or mynetworks does not compile. */
int fe_acl_load(const struct config *cfg, struct fe_acl **out, struct cfg_diag *diag);
void fe_acl_free(struct fe_acl *acl);
/* addr: the printable client address. */
enum fe_acl_result fe_acl_eval(const struct fe_acl *acl, const char *addr);

#endif
