/*
 * config.h - the Postfix-compatible configuration: main.cf reading,
 * $name expansion, the declarative parameter table and typed access.
 *
 * Layers (each its own file, each usable alone):
 *   config_parse.c   cfg_parse(): main.cf text -> (name, value, line)
 *                    entries, exactly as Postfix reads it (readllines +
 *                    split_nameval). Pure.
 *   config_expand.c  cfg_expand(): Postfix mac_expand() semantics ($name,
 *                    ${name}, $(name), ${name?x}, ${name:x}, {x} operands,
 *                    ternary and relational forms, nesting limit). Pure.
 *   config_value.c   typed value parsers (boolean, integer, time with a
 *                    default unit, size, lists with {} grouping). Pure.
 *   config_params.c  the table of every parameter mxscreen supports:
 *                    {name, default, type, offset in struct cfg_params,
 *                    min, max, unit, enum values, doc}.
 *   config_postfix_names.c  every Postfix 3.7 parameter name (and its
 *                    Postfix default, used only for $name expansion),
 *                    accepted silently when not in our table.
 *   config.c         config_load(): read DIR/main.cf, apply the table,
 *                    validate every value after expansion (defaults too),
 *                    fill struct cfg_params, keep generic access by name.
 *
 * Workers read cfg->p.<parameter_name> directly: no lookup on hot paths.
 * Times are seconds, sizes bytes, lists parsed vectors, enumerations ints.
 *
 * Failure: config_load() returns -EINVAL when any value is invalid (every
 * problem is recorded in struct cfg_diag as "FILE, line N: ..." text) and
 * -errno when main.cf cannot be read. Warnings (unknown names, undefined
 * $names in values) do not fail the load.
 */
#ifndef MX_CONFIG_H
#define MX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define CFG_DEFAULT_DIR "/etc/mxscreen"
/* Postfix mac_expand(): "unreasonable macro call nesting" beyond this. */
#define CFG_EXPAND_MAX_DEPTH 100

/* ---- diagnostics ------------------------------------------------------ */

enum cfg_diag_level { CFG_DIAG_WARN, CFG_DIAG_ERROR };
struct cfg_diag_msg {
    enum cfg_diag_level level;
    char *text;
};
struct cfg_diag {
    struct cfg_diag_msg *v;
    size_t n, cap;
    int errors, warnings;
};
void cfg_diag_init(struct cfg_diag *d);
void cfg_diag_free(struct cfg_diag *d);
void cfg_diag_add(struct cfg_diag *d, enum cfg_diag_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* First message containing needle, or NULL (for tests and tools). */
const char *cfg_diag_find(const struct cfg_diag *d, const char *needle);

/* ---- pure main.cf reader (config_parse.c) ----------------------------- */

struct cfg_entry {
    char *name;
    char *value; /* trimmed; continuation lines joined as Postfix joins them */
    int line;    /* first physical line of the logical line */
};
struct cfg_file {
    struct cfg_entry *v; /* one per name; the last definition wins */
    size_t n, cap;
};
/* Parse main.cf text. fname is only used in messages. Returns 0, or
 * -EINVAL when a line is not "name = value" (all such lines are reported;
 * the other entries are still filled in). */
int cfg_parse(const char *buf, size_t len, const char *fname, struct cfg_file *out,
              struct cfg_diag *diag);
const struct cfg_entry *cfg_file_find(const struct cfg_file *f, const char *name, size_t len);
void cfg_file_free(struct cfg_file *f);

/* ---- $name expansion (config_expand.c) -------------------------------- */

/* Value of name[0..len), or NULL when undefined. */
typedef const char *(*cfg_lookup_fn)(void *ctx, const char *name, size_t len);
struct cfg_expand_err {
    char msg[256];   /* set when cfg_expand() fails */
    char undef[128]; /* first undefined $name met (expands to empty) */
};
/* Expand in[0..len) into out (appended). Looked-up values are expanded in
 * turn, as Postfix does for main.cf. 0, -EINVAL (syntax) or -ELOOP
 * (nesting deeper than CFG_EXPAND_MAX_DEPTH, e.g. a = $b, b = $a). */
int cfg_expand(const char *in, size_t len, cfg_lookup_fn lookup, void *ctx, struct strbuf *out,
               struct cfg_expand_err *err);
/* Call fn for each $name referenced in in (without expanding). */
void cfg_expand_scan(const char *in, void (*fn)(void *ctx, const char *name, size_t len),
                     void *ctx);

/* ---- typed values (config_value.c) ------------------------------------ */

struct cfg_list {
    size_t n;
    char **v; /* n tokens, NULL-terminated */
};
int cfg_value_bool(const char *s, bool *out);
int cfg_value_long(const char *s, long *out);
/* Number with optional unit s, m, h, d, w; unit is the default unit. */
int cfg_value_time(const char *s, char unit, long *out);
int cfg_value_size(const char *s, long *out);
/* Split on commas and/or whitespace; {...} groups (outer braces of a
 * whole-token group are removed). -EINVAL on an unbalanced '{'. */
int cfg_value_list(const char *s, struct cfg_list *out);
void cfg_list_free(struct cfg_list *l);
/* Whether a list token names a table ("type:name", not "[ipv6]..."). */
bool cfg_token_is_map(const char *tok);

/* ---- the parameter table (config_params.c) ---------------------------- */

enum cfg_type {
    CFG_STR,      /* free text */
    CFG_BOOL,     /* yes | no */
    CFG_INT,      /* integer */
    CFG_TIME,     /* integer + unit, stored in seconds */
    CFG_SIZE,     /* bytes */
    CFG_CODE,     /* SMTP reply code, range min..max (+250 if max2 = 250) */
    CFG_ENUM,     /* one of def->values, stored as its index */
    CFG_LIST,     /* plain list */
    CFG_MATCH,    /* match list: names, addresses, patterns, type:table */
    CFG_MAPS,     /* list of type:table */
    CFG_RESTRICT, /* restriction list: restrictions and type:table args */
    CFG_CACHE,    /* one read-write type:table made at run time (not opened) */
};

enum cfg_enum_delivery { DELIVERY_QUEUE, DELIVERY_PROXY };
enum cfg_enum_sched { SCHED_POLICY_NORMAL, SCHED_POLICY_BATCH };
enum cfg_enum_tls { TLS_LEV_EMPTY, TLS_LEV_NONE, TLS_LEV_MAY, TLS_LEV_ENCRYPT, TLS_LEV_DANE,
                    TLS_LEV_DANE_ONLY, TLS_LEV_FINGERPRINT, TLS_LEV_VERIFY, TLS_LEV_SECURE };
enum cfg_enum_action { PS_ACT_IGNORE, PS_ACT_ENFORCE, PS_ACT_DROP, PS_ACT_TARPIT };
enum cfg_enum_mynet { MYNET_HOST, MYNET_SUBNET, MYNET_CLASS };
enum cfg_enum_proxy { PROXY_NONE, PROXY_HAPROXY };
enum cfg_enum_bare_nl { BARE_NL_NO, BARE_NL_YES, BARE_NL_NORMALIZE, BARE_NL_REJECT };

/* CODE: 250 is accepted too ("unlike elsewhere in Postfix, you can
 * specify 250 in order to accept the address anyway"). */
#define CFG_F_ACCEPT_250 1u
/* Never expanded at load time: $names are filled in per reply (Postfix
 * "raw" parameters; postconf -x shows them unexpanded too). */
#define CFG_F_RAW 2u

struct config;
struct cfg_param_def {
    const char *name;
    const char *def;  /* Postfix-style default (may use $name) */
    enum cfg_type type;
    size_t off;       /* offset of the typed field in struct cfg_params */
    long min, max;    /* INT/TIME/SIZE/CODE range; max 0 = no maximum */
    char unit;        /* TIME: default unit */
    unsigned flags;   /* CFG_F_* */
    const char *const *values; /* ENUM: NULL-terminated */
    /* Computed default (host name, CPU count...); def is then the text
     * shown in the documentation. */
    void (*def_fn)(const struct config *cfg, struct strbuf *out);
    const char *doc;
};

#define L(name) struct cfg_list name
/* Field names are the parameter names: cfg->p.smtpd_error_sleep_time. */
struct cfg_params {
    /* general */
    const char *config_directory, *queue_directory, *data_directory, *mail_owner;
    const char *myhostname, *mydomain, *myorigin, *mail_name, *maillog_file;
    const char *compatibility_level;
    const char *syslog_name;
    int syslog_facility; /* index in log_facility_names[] */
    bool smtputf8_enable;
    L(mydestination);
    L(listen_addresses);
    long worker_processes, default_process_limit;
    long frontend_processes;
    int delivery_mode;
    int scheduling_policy; /* enum cfg_enum_sched */
    L(dns_resolver);
    /* networks, relaying, addresses */
    L(mynetworks);
    int mynetworks_style;
    L(relay_domains);
    L(relay_recipient_maps);
    L(transport_maps);
    const char *relayhost;
    L(parent_domain_matches_subdomains);
    const char *recipient_delimiter;
    bool allow_untrusted_routing, strict_rfc821_envelopes, allow_percent_hack, swap_bangpath;
    long message_size_limit, header_size_limit, line_length_limit;
    bool show_user_unknown_table_name, disable_vrfy_command;
    /* content checks */
    L(header_checks);
    L(mime_header_checks);
    L(nested_header_checks);
    L(body_checks);
    /* smtpd */
    const char *smtpd_banner;
    L(smtpd_client_restrictions);
    L(smtpd_helo_restrictions);
    L(smtpd_sender_restrictions);
    L(smtpd_relay_restrictions);
    L(smtpd_recipient_restrictions);
    L(smtpd_data_restrictions);
    L(smtpd_end_of_data_restrictions);
    L(smtpd_etrn_restrictions);
    L(smtpd_restriction_classes);
    bool smtpd_delay_reject, smtpd_helo_required;
    long smtpd_error_sleep_time, smtpd_soft_error_limit, smtpd_hard_error_limit;
    long smtpd_junk_command_limit, smtpd_timeout, smtpd_recipient_limit;
    long smtpd_client_connection_count_limit, smtpd_client_connection_rate_limit;
    long anvil_rate_time_unit;
    long smtpd_starttls_timeout;
    int smtpd_forbid_bare_newline;
    L(smtpd_forbid_bare_newline_exclusions);
    L(smtpd_authorized_xclient_hosts);
    int smtpd_upstream_proxy_protocol;
    long smtpd_upstream_proxy_timeout;
    bool smtpd_reject_unlisted_sender, smtpd_reject_unlisted_recipient, smtpd_peername_lookup;
    const char *smtpd_null_access_lookup_key, *smtpd_reject_footer;
    L(smtpd_reject_footer_maps);
    L(smtpd_discard_ehlo_keywords);
    L(smtpd_discard_ehlo_keyword_address_maps);
    L(smtpd_forbidden_commands);
    L(smtpd_command_filter);
    L(rbl_reply_maps);
    const char *default_rbl_reply;
    /* smtpd TLS */
    int smtpd_tls_security_level; /* "" resolved from smtpd_use_tls/enforce_tls */
    bool smtpd_use_tls, smtpd_enforce_tls, smtpd_tls_received_header, smtpd_tls_ask_ccert;
    bool smtpd_tls_req_ccert, smtpd_tls_auth_only, smtpd_tls_wrappermode;
    const char *smtpd_tls_cert_file, *smtpd_tls_key_file, *smtpd_tls_CAfile, *smtpd_tls_CApath;
    L(smtpd_tls_chain_files);
    const char *smtpd_tls_dh1024_param_file, *smtpd_tls_eecdh_grade;
    const char *smtpd_tls_protocols, *smtpd_tls_mandatory_protocols, *smtpd_tls_ciphers;
    const char *smtpd_tls_mandatory_ciphers, *smtpd_tls_exclude_ciphers;
    const char *smtpd_tls_fingerprint_digest;
    long smtpd_tls_loglevel, smtpd_tls_ccert_verifydepth, smtpd_tls_session_cache_timeout;
    const char *smtpd_tls_session_cache_database;
    /* reject codes */
    long access_map_reject_code, access_map_defer_code, defer_code, reject_code;
    long invalid_hostname_reject_code, maps_rbl_reject_code, multi_recipient_bounce_reject_code;
    long non_fqdn_reject_code, plaintext_reject_code, relay_domains_reject_code;
    long unknown_address_reject_code, unknown_client_reject_code, unknown_hostname_reject_code;
    long unknown_local_recipient_reject_code, unknown_relay_recipient_reject_code;
    long unknown_virtual_alias_reject_code, unknown_virtual_mailbox_reject_code;
    long unverified_recipient_reject_code, unverified_sender_reject_code;
    long unverified_recipient_defer_code, unverified_sender_defer_code;
    long smtpd_forbid_bare_newline_reject_code;
    /* address verification */
    const char *address_verify_map, *address_verify_sender;
    const char *unverified_sender_reject_reason, *unverified_recipient_reject_reason;
    bool address_verify_negative_cache;
    long address_verify_cache_cleanup_interval, address_verify_positive_expire_time;
    long address_verify_positive_refresh_time, address_verify_negative_expire_time;
    long address_verify_negative_refresh_time, address_verify_poll_count;
    long address_verify_poll_delay;
    /* queue and delivery */
    long maximal_queue_lifetime, bounce_queue_lifetime, delay_warning_time;
    long minimal_backoff_time, maximal_backoff_time, queue_run_delay, bounce_size_limit;
    long default_destination_concurrency_limit, smtp_connect_timeout, smtp_helo_timeout;
    long smtp_line_length_limit, lmtp_line_length_limit;
    /* smtp client TLS and SASL */
    int smtp_tls_security_level;
    bool smtp_use_tls, smtp_enforce_tls, smtp_tls_enforce_peername, smtp_tls_note_starttls_offer;
    const char *smtp_tls_CAfile, *smtp_tls_CApath, *smtp_tls_cert_file, *smtp_tls_key_file;
    L(smtp_tls_chain_files);
    const char *smtp_tls_session_cache_database, *smtp_tls_protocols;
    const char *smtp_tls_mandatory_protocols, *smtp_tls_ciphers, *smtp_tls_mandatory_ciphers;
    const char *smtp_tls_exclude_ciphers, *smtp_tls_fingerprint_digest, *smtp_tls_servername;
    L(smtp_tls_fingerprint_cert_match);
    L(smtp_tls_verify_cert_match);
    L(smtp_tls_secure_cert_match);
    L(smtp_tls_policy_maps);
    long smtp_tls_loglevel, smtp_tls_session_cache_timeout, smtp_tls_scert_verifydepth;
    bool smtp_sasl_auth_enable;
    L(smtp_sasl_password_maps);
    L(smtp_sasl_security_options);
    L(smtp_sasl_tls_security_options);
    L(smtp_sasl_mechanism_filter);
    /* postscreen (the frontend) */
    L(postscreen_access_list);
    int postscreen_denylist_action;
    const char *postscreen_blacklist_action; /* obsolete alias, feeds the default */
    const char *postscreen_greet_banner;
    long postscreen_greet_wait, postscreen_greet_ttl;
    int postscreen_greet_action;
    L(postscreen_dnsbl_sites);
    long postscreen_dnsbl_threshold, postscreen_dnsbl_allowlist_threshold;
    const char *postscreen_dnsbl_whitelist_threshold; /* obsolete alias */
    int postscreen_dnsbl_action;
    long postscreen_dnsbl_timeout, postscreen_dnsbl_min_ttl, postscreen_dnsbl_max_ttl;
    const char *postscreen_dnsbl_ttl;
    L(postscreen_dnsbl_reply_map);
    bool postscreen_pipelining_enable, postscreen_non_smtp_command_enable;
    bool postscreen_bare_newline_enable;
    int postscreen_pipelining_action, postscreen_non_smtp_command_action;
    int postscreen_bare_newline_action;
    long postscreen_pipelining_ttl, postscreen_non_smtp_command_ttl, postscreen_bare_newline_ttl;
    const char *postscreen_cache_map;
    long postscreen_cache_cleanup_interval, postscreen_cache_retention_time;
    long postscreen_client_connection_count_limit, postscreen_pre_queue_limit;
    long postscreen_client_connection_rate_limit; /* mxscreen: the anvil table */
    long postscreen_client_ipv4_prefix_length, postscreen_client_ipv6_prefix_length;
    long postscreen_post_queue_limit, postscreen_command_count_limit;
    long postscreen_command_time_limit, postscreen_watchdog_timeout;
    long postscreen_upstream_proxy_timeout;
    /* mxscreen: the tarpit action and the frontend's connection pool */
    long postscreen_tarpit_byte_rate, postscreen_tarpit_time, postscreen_connection_pool_size;
    const char *postscreen_tarpit_reply;
    L(postscreen_allowlist_interfaces);
    L(postscreen_whitelist_interfaces);
    L(postscreen_command_filter);
    L(postscreen_discard_ehlo_keyword_address_maps);
    L(postscreen_discard_ehlo_keywords);
    L(postscreen_forbidden_commands);
    L(postscreen_reject_footer_maps);
    const char *postscreen_reject_footer, *postscreen_expansion_filter;
    bool postscreen_disable_vrfy_command, postscreen_helo_required, postscreen_enforce_tls;
    bool postscreen_use_tls;
    int postscreen_tls_security_level, postscreen_upstream_proxy_protocol;
};
#undef L

const struct cfg_param_def *config_param_table(size_t *n);
const struct cfg_param_def *config_param_find(const char *name, size_t len);
/* Printable name of a type ("time", "list of maps", ...) and its expected
 * form (used in error messages and the documentation). */
const char *config_type_name(enum cfg_type t);
const char *config_type_form(const struct cfg_param_def *d, char *buf, size_t cap);

/* ---- Postfix names (config_postfix_names.c) --------------------------- */

struct cfg_postfix_name {
    const char *name;
    const char *def; /* Postfix 3.7 default (postconf -d), for $name expansion */
};
/* NULL when Postfix does not know the name. */
const struct cfg_postfix_name *config_postfix_find(const char *name, size_t len);
const struct cfg_postfix_name *config_postfix_table(size_t *n);

/* ---- the loaded configuration (config.c) ------------------------------ */

enum cfg_name_kind {
    CFG_KIND_OURS,     /* in the table: typed, validated, used */
    CFG_KIND_POSTFIX,  /* a Postfix name: accepted, has no effect here */
    CFG_KIND_CLASS,    /* a smtpd_restriction_classes name */
    CFG_KIND_USER,     /* neither: warned about, still usable as $name */
};

struct config {
    struct cfg_params p;
    char *dir, *path; /* DIR and DIR/main.cf */
    bool dir_given;   /* DIR came from the caller, not CFG_DEFAULT_DIR */
    struct cfg_file file;
    /* Per table row: default text (def_fn computed) and expanded value. */
    char **defaults, **expanded;
    struct cfg_list *lists; /* owned storage behind the struct cfg_list fields */
    bool placed;            /* all of the above is in placer memory (config_place) */
};

struct cfg_value {
    const char *name;
    enum cfg_name_kind kind;
    const struct cfg_param_def *def; /* CFG_KIND_OURS only */
    const char *raw;                 /* value as written (or default) */
    const char *expanded;            /* CFG_KIND_OURS only; else NULL */
    bool set;                        /* defined in main.cf */
    int line;                        /* its line in cfg->path */
};

/* Read dir/main.cf (dir NULL: CFG_DEFAULT_DIR). On success *out is filled;
 * on failure it is freed and left zeroed. diag may be NULL (then every
 * message is logged with log_warn/log_error). */
int config_load(const char *dir, struct config *out, struct cfg_diag *diag);
/* The same from text already in memory (tests, fuzzing). */
int config_load_buf(const char *dir, const char *buf, size_t len, struct config *out,
                    struct cfg_diag *diag);
void config_free(struct config *cfg);
/* Move everything cfg points to (entries, defaults, expanded values, lists,
 * the typed fields' strings and vectors) into memory from alloc (the
 * master's policy segment: shm/segment.h), freeing the heap copies, so
 * that the children read one sealed copy. alloc(ctx, size, align) returns
 * zero-filled memory or NULL. 0, or -ENOMEM with cfg unchanged. A placed
 * cfg is read-only: config_free() only forgets it (config_place.c). */
int config_place(struct config *cfg, void *(*alloc)(void *ctx, size_t size, size_t align),
                 void *ctx);

/* Generic access by name: 0, or -ENOENT for a name nobody knows. */
int config_get(const struct config *cfg, const char *name, struct cfg_value *out);
/* Whether some value set in the file refers to $name. */
bool config_is_referenced(const struct config *cfg, const char *name);
/* Expand a value in this configuration. Returns a malloc'd string, or NULL
 * with err filled. */
char *config_expand(const struct config *cfg, const char *value, struct cfg_expand_err *err);
/* The raw default of a table row in this configuration. */
const char *config_default(const struct config *cfg, const struct cfg_param_def *d);

/* Every table reference ("type:name") in the configuration that must exist
 * now: list-of-maps parameters, type:table tokens of match lists,
 * restriction lists and restriction classes. fn returns 0 to go on. */
typedef int (*cfg_map_fn)(void *ctx, const char *param, int line, const char *ref);
int config_foreach_map(const struct config *cfg, cfg_map_fn fn, void *ctx);

#endif
