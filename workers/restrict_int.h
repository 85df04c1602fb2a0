/*
 * restrict_int.h - internals shared by restrict_eval.c (the walk and the
 * reply formatting) and restrict_exec.c (one function per restriction).
 * Not for other modules.
 */
#ifndef MX_RESTRICT_INT_H
#define MX_RESTRICT_INT_H

#include "restrict.h"

/* Internal result: a frame was pushed (class or access-map value). */
#define RESTRICT_NEED_FRAME ((enum restrict_result)16)

/* One evaluation's context. */
struct rx {
    const struct restrict_ctx *ctx;
    const struct restrict_facts *f;
    struct restrict_state *st;
    struct restrict_verdict *v;
};

const char *restrict_reply_class(enum restrict_stage s);
const char *restrict_reply_name(const struct restrict_facts *f, enum restrict_stage s);

/* smtpd_check_reject(): software errors are never turned into warnings. */
enum restrict_result restrict_reject(struct rx *x, bool software, int code, const char *dsn,
                                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void restrict_defer_if(struct restrict_defer *d, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
enum restrict_result restrict_defer_if_permit(struct rx *x, int code, const char *dsn,
                                              const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
enum restrict_result restrict_config_error(struct rx *x);
enum restrict_result restrict_lookup_failure(struct rx *x, const char *name);
enum restrict_result restrict_push_value(struct rx *x, const char *value);

/* Run one restriction (restrict_exec.c). */
enum restrict_result restrict_exec(struct rx *x, const struct restrict_item *it);

/* ---- address resolution (restrict_resolve.c) ------------------------- */

#define RESTRICT_ADDR_MAX 1024

struct restrict_resolved {
    char addr[RESTRICT_ADDR_MAX]; /* the resolved address, lower case */
    const char *domain;           /* points into addr */
    bool routed, final, relay;
    int err; /* a list lookup failed */
};

/* The address as smtpd_resolve_addr() gives it; see restrict_resolve.c. */
void restrict_resolve(const struct restrict_ctx *c, const char *in, struct restrict_resolved *r);

#endif
