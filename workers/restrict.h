/*
 * restrict.h - smtpd's restriction engine (smtpd_*_restrictions), sans I/O.
 *
 * Compiling (control path, restrict.c): a restriction list is read from its
 * text once - restriction names, their arguments (check_*_access TYPE:NAME
 * opened with map_open, reject_rbl_client zone[=filter], ...), names from
 * smtpd_restriction_classes, bare "type:table" items (the stage's default
 * check_*_access, resolved at run time as Postfix does). An unknown name, a
 * missing argument or a table that does not open refuses the list with
 * "PARAM: ..." in err (Postfix answers such a list with "451 4.3.5 Server
 * configuration error" at run time; refusing it at load time is the
 * deliberate difference).
 *
 * Evaluating (data path, restrict_eval.c): restrict_eval() walks a list for
 * one stage with the facts the session knows and answers
 *   RESTRICT_DUNNO    nothing decided (go on with the next list),
 *   RESTRICT_PERMIT   OK (also DISCARD, which sets verdict.discard),
 *   RESTRICT_REJECT   verdict.reply holds "CODE D.D.D text" exactly as
 *                     Postfix's smtpd_check_reject() forms it (4xx or 5xx),
 *   RESTRICT_NEED_DNS state->query says which DNS lookup is needed; the
 *                     caller runs it, hands the answer to restrict_dns_answer()
 *                     and calls restrict_eval() again with the same list,
 *                     facts and state: the walk resumes at the same position
 *                     (a stack of list positions, the pending query and the
 *                     restriction's sub-step live in struct restrict_state).
 * The stage helpers carry Postfix's defer_if_permit/defer_if_reject flags
 * between stages (smtpd_check_client/helo/mail/rcpt); the session decides
 * when each list runs (smtpd_delay_reject).
 *
 * Evaluation allocates nothing: access-map values that name restrictions
 * are tokenized into the state's frame. Table errors give
 * "451 4.3.0 <name>: Temporary lookup failure", configuration errors found
 * at run time "451 4.3.5 Server configuration error".
 */
#ifndef MX_RESTRICT_H
#define MX_RESTRICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

struct config;
struct map;
struct matchlist;

#define RESTRICT_ERR_MAX 768
#define RESTRICT_REPLY_MAX 512 /* Postfix truncates replies at 510 */
#define RESTRICT_DEPTH_MAX 16  /* nested classes / access-map values */
#define RESTRICT_VALUE_MAX 512 /* an access-map value naming restrictions */
#define RESTRICT_VALUE_TOKENS 24

/* ---- reply constants (habit 7): Postfix 3.7's texts and DSN codes ------ */
#define RESTRICT_TXT_ACCESS_DENIED "Access denied"
#define RESTRICT_TXT_TRY_LATER "Try again later"
#define RESTRICT_TXT_RELAY_DENIED "Relay access denied"
#define RESTRICT_TXT_PIPELINING "Improper use of SMTP command pipelining"
#define RESTRICT_TXT_NO_HOSTNAME "cannot find your hostname"
#define RESTRICT_TXT_NO_REVERSE "cannot find your reverse hostname"
#define RESTRICT_TXT_HOST_NOT_FOUND "Host not found"
#define RESTRICT_TXT_DOMAIN_NOT_FOUND "Domain not found"
#define RESTRICT_TXT_UNKNOWN_RELAY_USER "User unknown in relay recipient table"
#define RESTRICT_TXT_SERVICE_UNAVAILABLE "Service unavailable"
#define RESTRICT_TXT_CONFIG_ERROR "Server configuration error"
#define RESTRICT_TXT_LOOKUP_FAILURE "Temporary lookup failure"
#define RESTRICT_CODE_PIPELINING 503
#define RESTRICT_CODE_TEMP 450      /* temporary variants of every check */
#define RESTRICT_CODE_CONFIG 451    /* 451 4.3.5 / 451 4.3.0 */

enum restrict_stage {
    RESTRICT_CLIENT,
    RESTRICT_HELO,
    RESTRICT_SENDER,
    RESTRICT_RELAY,     /* smtpd_relay_restrictions */
    RESTRICT_RECIPIENT, /* smtpd_recipient_restrictions */
    RESTRICT_DATA,
    RESTRICT_EOD,
    RESTRICT_ETRN,
    RESTRICT_STAGES
};

enum restrict_result {
    RESTRICT_DUNNO,
    RESTRICT_PERMIT,
    RESTRICT_REJECT,
    RESTRICT_NEED_DNS,
};

/* The operations a list item compiles to. */
enum restrict_op {
    ROP_PERMIT, ROP_REJECT, ROP_DEFER, ROP_WARN_IF_REJECT,
    ROP_DEFER_IF_PERMIT, ROP_DEFER_IF_REJECT,
    ROP_PERMIT_MYNETWORKS, ROP_PERMIT_SASL, ROP_PERMIT_TLS_CERTS,
    ROP_REJECT_UNAUTH_PIPELINING,
    ROP_REJECT_UNKNOWN_CLIENT, ROP_REJECT_UNKNOWN_REVERSE,
    ROP_CHECK_CLIENT, ROP_CHECK_HELO, ROP_CHECK_SENDER, ROP_CHECK_RECIPIENT,
    ROP_DEFAULT_ACL, /* bare type:table */
    ROP_REJECT_RBL_CLIENT, ROP_REJECT_RHSBL_CLIENT, ROP_REJECT_RHSBL_HELO,
    ROP_REJECT_RHSBL_SENDER, ROP_REJECT_RHSBL_RECIPIENT,
    ROP_REJECT_INVALID_HELO, ROP_REJECT_NON_FQDN_HELO, ROP_REJECT_UNKNOWN_HELO,
    ROP_REJECT_NON_FQDN_SENDER, ROP_REJECT_NON_FQDN_RECIPIENT,
    ROP_REJECT_UNKNOWN_SENDER_DOMAIN, ROP_REJECT_UNKNOWN_RECIPIENT_DOMAIN,
    ROP_PERMIT_AUTH_DESTINATION, ROP_REJECT_UNAUTH_DESTINATION,
    ROP_DEFER_UNAUTH_DESTINATION, ROP_REJECT_UNLISTED_RECIPIENT,
    ROP_CLASS,
    ROP_REJECT_UNLISTED_SENDER,
};

struct restrict_item {
    uint8_t op;          /* enum restrict_op */
    uint16_t cls;        /* ROP_CLASS: index in the context's classes */
    struct map *map;     /* check_*_access: shared, owned by the context */
    char *zone;          /* rbl/rhsbl: "zone" (filter cut off) */
    char *arg;           /* rbl/rhsbl: the argument as written (zone=filter) */
    bool has_filter;
    unsigned char filter[4][32]; /* dnsbl_site's reply filter */
};

struct restrict_list {
    char *param;
    struct restrict_item *v;
    size_t n;
    bool placed; /* param, v and its strings live in placer memory */
};

/* The transport an address resolves to, for the unlisted-address checks:
 * RESTRICT_TRANSPORT_ERROR (error:TEXT) or _RETRY (retry:TEXT) with TEXT
 * copied to text, 0 for anything deliverable, or -EAGAIN when a table
 * lookup failed. */
enum { RESTRICT_TRANSPORT_ERROR = 1, RESTRICT_TRANSPORT_RETRY = 2 };
typedef int (*restrict_transport_fn)(void *arg, const char *addr, char *text, size_t size);

/* Everything a list needs besides itself: the parameters it reads, the
 * lists and tables it matches against, the restriction classes. Built once
 * per configuration generation; read-only while sessions evaluate. */
struct restrict_ctx {
    long access_map_reject_code, access_map_defer_code, defer_code, reject_code;
    long invalid_hostname_reject_code, maps_rbl_reject_code, non_fqdn_reject_code;
    long relay_domains_reject_code, unknown_address_reject_code;
    long unknown_client_reject_code, unknown_hostname_reject_code;
    long unknown_relay_recipient_reject_code;
    bool allow_untrusted_routing, show_user_unknown_table_name;
    /* smtpd_reject_unlisted_sender / _recipient: the implicit checks. */
    bool reject_unlisted_sender, reject_unlisted_recipient;
    /* transport(5) for check_rcpt_maps' "resolves to the error mailer"
     * rule (restrict_ctx_set_transport); NULL: not known here. */
    restrict_transport_fn transport;
    void *transport_arg;
    bool percent_hack, swap_bangpath; /* allow_percent_hack, swap_bangpath */
    bool tempfail_defer_if_permit; /* reject_tempfail_action = defer_if_permit */
    char *myorigin, *myhostname, *default_rbl_reply, *recipient_delimiter, *null_access_key;
    bool parent_access; /* smtpd_access_maps in parent_domain_matches_subdomains */
    struct matchlist *mynetworks, *relay_domains, *mydestination;
    struct map **relay_rcpt_maps, **rbl_reply_maps;
    size_t n_relay_rcpt_maps, n_rbl_reply_maps;
    struct map **maps; /* every table opened for the lists, once */
    size_t nmaps;
    char **class_names;
    struct restrict_list *classes;
    size_t nclasses;
};

/* ---- facts the session knows --------------------------------------------- */

typedef void (*restrict_log_fn)(void *arg, const char *whatsup, const char *text);


struct restrict_facts {
    const char *name;         /* client name, "unknown" without one */
    const char *reverse_name; /* PTR name, "unknown" without one */
    const char *addr;         /* printable address (IPv4-mapped as IPv4) */
    const char *namaddr;      /* "name[addr]" */
    enum dns_name_status name_status, reverse_name_status;
    const char *helo;      /* NULL: no HELO/EHLO yet */
    const char *sender;    /* NULL: no MAIL yet; "": the null sender */
    const char *recipient; /* NULL: not at RCPT */
    const char *etrn;      /* ETRN argument */
    bool esmtp;            /* EHLO was used */
    bool pipelined;        /* the client sent ahead improperly (smtpd peeks) */
    bool smtputf8;
    bool tls;
    restrict_log_fn log; /* "reject_warning", "warn", "hold", ... may be NULL */
    void *log_arg;
};

/* ---- evaluation state ------------------------------------------------------ */

enum restrict_qtype { RQ_NONE, RQ_A, RQ_AAAA, RQ_MX, RQ_TXT };

struct restrict_query {
    enum restrict_qtype type;
    char name[DNS_NAME_MAX + 2]; /* fully built (DNSBL reversal done) */
};

struct restrict_defer {
    bool active;
    int code;
    char reply[RESTRICT_REPLY_MAX]; /* "CODE DSN text" */
};

struct restrict_frame {
    const struct restrict_list *list; /* NULL: tokens of an access-map value */
    size_t pos;
    int ntok;
    char buf[RESTRICT_VALUE_MAX];
    uint16_t tok[RESTRICT_VALUE_TOKENS];
};

struct restrict_state {
    enum restrict_stage stage;
    int depth;
    struct restrict_frame frames[RESTRICT_DEPTH_MAX];
    bool discard, hold;
    /* smtpd's sender_/recipient_rcptmap_checked: the table check ran in
     * this MAIL / RCPT evaluation (explicitly), the implicit one is not
     * repeated. Cleared when the sender / recipient stage begins. */
    bool sender_checked, rcpt_checked;
    struct restrict_defer defer_if_permit, defer_if_reject;
    bool dip_client, dip_helo, dip_sender; /* defer_if_permit per stage */
    /* DNS: the pending query, the restriction's progress, the answers. */
    struct restrict_query query;
    int step; /* per-restriction progress; 0 = not started */
    enum dns_status dns_status;
    bool dns_temp; /* an earlier step of this restriction failed temporarily */
    int warn_level; /* depth at which warn_if_reject was given; 0 = off */
    unsigned naddr;
    struct in_addr addrs[DNS_MAX_RR];
    bool null_mx;
    char txt[RESTRICT_REPLY_MAX];
    char redirect[RESTRICT_REPLY_MAX], filter[RESTRICT_REPLY_MAX], prepend[RESTRICT_REPLY_MAX];
};

struct restrict_verdict {
    enum restrict_result result;
    int code; /* REJECT: 4xx or 5xx */
    char reply[RESTRICT_REPLY_MAX];
};

/* ---- compile (restrict.c) ---------------------------------------------- */

struct restrict_err {
    char msg[RESTRICT_ERR_MAX];
};

/* Build the context from a loaded configuration: codes, mynetworks,
 * relay_domains, mydestination, relay_recipient_maps, rbl_reply_maps and
 * smtpd_restriction_classes (each compiled). 0 or -errno with err. */
int restrict_ctx_create(const struct config *cfg, struct restrict_ctx **out,
                        struct restrict_err *err);
void restrict_ctx_free(struct restrict_ctx *ctx);
/* Where addresses are delivered (the worker's transport_maps): with it,
 * reject_unlisted_* and the implicit checks refuse an address that
 * resolves to error: or retry: as smtpd's check_rcpt_maps() does. */
void restrict_ctx_set_transport(struct restrict_ctx *ctx, restrict_transport_fn fn, void *arg);

/* Compile the restriction list text[0..len) of parameter pname. Tables
 * named in it are opened once and kept in ctx. 0 or -errno with err.
 * While a maps.h placer is set (the master building a generation) the
 * finished list - items, their strings, the struct - moves into placer
 * memory, the policy segment, as do the lists of smtpd_restriction_classes
 * (restrict_ctx_create): evaluation never writes to a list. -ENOMEM with
 * "PARAM: policy segment full" when the placer is exhausted;
 * restrict_list_free() leaves a placed list to the segment. */
int restrict_compile(struct restrict_ctx *ctx, const char *pname, const char *text, size_t len,
                     struct restrict_list **out, struct restrict_err *err);
/* Compile a configuration parameter by name (its expanded value). */
int restrict_compile_param(struct restrict_ctx *ctx, const struct config *cfg, const char *pname,
                           struct restrict_list **out, struct restrict_err *err);
void restrict_list_free(struct restrict_list *l);
/* Postfix name of an operation ("permit_mynetworks"), for logs and tests. */
const char *restrict_op_name(enum restrict_op op);
/* Look up a restriction name: 0 with *op, or -ENOENT. *takes_arg: 1 when
 * the restriction consumes the next token (table or domain). */
int restrict_op_lookup(const char *name, size_t len, enum restrict_op *op, int *takes_arg);

/* ---- evaluate (restrict_eval.c) -------------------------------------- */

/* Start a stage: carries defer_if_permit from earlier stages as Postfix's
 * smtpd_check_* drivers do, and clears the per-list state. */
void restrict_stage_begin(struct restrict_state *st, enum restrict_stage stage);
/* Evaluate (or resume) one list. A NULL or empty list answers DUNNO. */
enum restrict_result restrict_eval(const struct restrict_ctx *ctx,
                                   const struct restrict_list *list,
                                   const struct restrict_facts *facts, struct restrict_state *st,
                                   struct restrict_verdict *v);
/* End a stage with the last list's result: records defer_if_permit for the
 * client/helo/sender stages; at RCPT, DATA, END-OF-DATA and ETRN a pending
 * defer_if_permit turns a non-reject into its deferral. Returns the final
 * result (verdict updated). */
enum restrict_result restrict_stage_end(struct restrict_state *st, enum restrict_result r,
                                        const struct restrict_facts *facts,
                                        struct restrict_verdict *v);
/* After restrict_stage_end(), the checks Postfix's smtpd_check_mail() and
 * smtpd_check_rcpt() add at the end of the lists: at the sender stage,
 * with smtpd_reject_unlisted_sender, the sender against the recipient
 * tables of its domain ("<s>: Sender address rejected: User unknown...");
 * at the recipient stage (RCPT, VRFY), with smtpd_reject_unlisted_recipient,
 * the recipient. Skipped after a reject or a DISCARD, for the null sender,
 * and when the list already ran reject_unlisted_sender/_recipient. Returns
 * the final result (verdict updated on a reject). */
enum restrict_result restrict_stage_unlisted(const struct restrict_ctx *ctx,
                                             const struct restrict_facts *facts,
                                             struct restrict_state *st, enum restrict_result r,
                                             struct restrict_verdict *v);
/* Hand the answer to state->query to the state (the next restrict_eval()
 * resumes). res->type must be the queried type. */
void restrict_dns_answer(struct restrict_state *st, const struct dns_result *res);

/* Pure helpers, exposed for tests. */
/* dsn_split: a leading RFC 3463 code "d.ddd.ddd" followed by space or end;
 * returns the length of the code (0 if none). */
size_t restrict_dsn_len(const char *text);
/* smtpd_dsn_fix: address-related codes fitted to the reply class. */
void restrict_dsn_fix(char dsn[16], enum restrict_stage stage);

#endif
