/*
 * config_params.c - the declarative table of every parameter mxscreen
 * supports, Postfix style: {name, default, type, field, min, max, unit,
 * values, doc}. config.c applies it; mxscreen-conf -D prints it as
 * doc/parameters.md.
 *
 * Defaults are Postfix 3.7's at compatibility_level 3.6 (postconf -d with
 * the compatibility expressions resolved), written as Postfix writes them
 * so that $name references and ${stress?...} forms expand as in Postfix.
 * Deliberate differences (mail_name, directories, config_directory) are
 * marked "mxscreen:" in their doc text. A time's default unit is the unit
 * letter of its Postfix default, as Postfix derives it.
 *
 * Each row checks at compile time that its field in struct cfg_params has
 * the C type its parameter type needs (FIELD() below), so the table and
 * the struct cannot drift apart silently.
 */
#include "config.h"
#include "log.h"
#include "matchlist.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define FIELD(n, T)                                                                               \
    (offsetof(struct cfg_params, n) +                                                             \
     0 * sizeof(char[_Generic(((struct cfg_params *)0)->n, T: 1, default: -1)]))

#define ROW(n, d, t, T, lo, hi, u, fl, vals, fn, doc)                                             \
    {#n, d, t, FIELD(n, T), lo, hi, u, fl, vals, fn, doc}
#define STR(n, d, doc) ROW(n, d, CFG_STR, const char *, 0, 0, 0, 0, NULL, NULL, doc)
#define CACHE(n, d, doc) ROW(n, d, CFG_CACHE, const char *, 0, 0, 0, 0, NULL, NULL, doc)
#define BOOL(n, d, doc) ROW(n, d, CFG_BOOL, bool, 0, 0, 0, 0, NULL, NULL, doc)
#define INT(n, d, lo, hi, doc) ROW(n, d, CFG_INT, long, lo, hi, 0, 0, NULL, NULL, doc)
#define TIME(n, d, u, lo, hi, doc) ROW(n, d, CFG_TIME, long, lo, hi, u, 0, NULL, NULL, doc)
#define SIZE(n, d, lo, hi, doc) ROW(n, d, CFG_SIZE, long, lo, hi, 0, 0, NULL, NULL, doc)
#define CODE(n, d, doc) ROW(n, d, CFG_CODE, long, 400, 599, 0, 0, NULL, NULL, doc)
#define DCODE(n, d, doc) ROW(n, d, CFG_CODE, long, 400, 499, 0, CFG_F_ACCEPT_250, NULL, NULL, doc)
#define RAW(n, d, doc) ROW(n, d, CFG_STR, const char *, 0, 0, 0, CFG_F_RAW, NULL, NULL, doc)
#define ENUM(n, d, vals, doc) ROW(n, d, CFG_ENUM, int, 0, 0, 0, 0, vals, NULL, doc)
#define LIST(n, d, doc) ROW(n, d, CFG_LIST, struct cfg_list, 0, 0, 0, 0, NULL, NULL, doc)
#define MATCH(n, d, doc) ROW(n, d, CFG_MATCH, struct cfg_list, 0, 0, 0, 0, NULL, NULL, doc)
#define MAPS(n, d, doc) ROW(n, d, CFG_MAPS, struct cfg_list, 0, 0, 0, 0, NULL, NULL, doc)
#define RESTR(n, d, doc) ROW(n, d, CFG_RESTRICT, struct cfg_list, 0, 0, 0, 0, NULL, NULL, doc)

/* Enumerations: the index is the value stored (see enum cfg_enum_* in
 * config.h). "" is accepted where Postfix has an empty default. */
static const char *const delivery_modes[] = {"queue", "proxy", NULL};
static const char *const sched_policies[] = {"normal", "batch", NULL};
static const char *const smtpd_tls_levels[] = {"", "none", "may", "encrypt", NULL};
static const char *const smtp_tls_levels[] = {"",       "none",        "may",    "encrypt", "dane",
                                              "dane-only", "fingerprint", "verify", "secure",  NULL};
/* "tarpit" is mxscreen's (frontend/tarpit.h). */
static const char *const ps_actions[] = {"ignore", "enforce", "drop", "tarpit", NULL};
static const char *const mynet_styles[] = {"host", "subnet", "class", NULL};
static const char *const proxy_protocols[] = {"", "haproxy", NULL};
static const char *const bare_nl_modes[] = {"no", "yes", "normalize", "reject", NULL};

/* ---- computed defaults --------------------------------------------------- */

static void def_myhostname(const struct config *cfg, struct strbuf *out)
{
    (void)cfg;
    char host[256];
    if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    strbuf_puts(out, host);
    /* Postfix: a name without a dot gets ".localdomain". */
    if (!strchr(host, '.'))
        strbuf_puts(out, ".localdomain");
}

static void def_mydomain(const struct config *cfg, struct strbuf *out)
{
    struct cfg_expand_err err;
    char *h = config_expand(cfg, "$myhostname", &err);
    const char *dot = h ? strchr(h, '.') : NULL;
    strbuf_puts(out, dot && dot[1] ? dot + 1 : "localdomain");
    free(h);
}

/* delivery_mode = proxy: three workers per online CPU. A worker answers all
 * its ready sessions in one loop pass and then sleeps; with one per CPU both
 * CPUs of a 2-CPU machine were idle 16-18% of the time under bench/relay's
 * one message per connection load (every worker asleep while its replies
 * travel), with three per CPU 3-5%: 5-12% more messages per second for 0-8%
 * more CPU per message (smaller batches per pass).
 * delivery_mode = queue: one per online CPU. A worker syncs the spool files
 * of a loop pass together; three per CPU meant three times the journal
 * commits: bench/queue 0.33 -> 0.52 CPU ms/msg, 4,061 -> 2,912 msg/s.
 * bench/relay/README.md, bench/queue/README.md. */
static void def_worker_processes(const struct config *cfg, struct strbuf *out)
{
    struct cfg_expand_err err;
    char *mode = config_expand(cfg, "$delivery_mode", &err);
    long per_cpu = mode && strcasecmp(mode, "queue") == 0 ? 1 : 3; /* as the enum reads it */
    free(mode);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld", per_cpu * (n > 0 ? n : 1));
    strbuf_puts(out, buf);
}

/* Postfix's mynetworks default: the interface addresses per
 * mynetworks_style, for the families inet_protocols enables. The
 * computation is matchlist_mynetworks_local(), checked against postconf;
 * if the interfaces cannot be read, loopback only. */
static void def_mynetworks(const struct config *cfg, struct strbuf *out)
{
    struct cfg_expand_err err;
    char *style = config_expand(cfg, "$mynetworks_style", &err);
    char *proto = config_expand(cfg, "$inet_protocols", &err);
    enum matchlist_mynet_style st = style && strcmp(style, "subnet") == 0  ? MYNET_STYLE_SUBNET
                                    : style && strcmp(style, "class") == 0 ? MYNET_STYLE_CLASS
                                                                           : MYNET_STYLE_HOST;
    bool all = !proto || strstr(proto, "all") != NULL;
    bool want4 = all || strstr(proto, "ipv4") != NULL;
    bool want6 = all || strstr(proto, "ipv6") != NULL;
    char nets[4096];
    if (matchlist_mynetworks_local(st, want4, want6, nets, sizeof(nets)) < 0 || !nets[0])
        strbuf_puts(out, "127.0.0.0/8 [::1]/128");
    else
        strbuf_puts(out, nets);
    free(style);
    free(proto);
}

#define DYN(n, dtext, t, T, fn, doc) ROW(n, dtext, t, T, 0, 0, 0, 0, NULL, fn, doc)

/* ---- the table ------------------------------------------------------------ */

static const struct cfg_param_def params[] = {
    /* general */
    STR(compatibility_level, "0",
        "Postfix's compatibility level: below 1, smtputf8_enable defaults to no, as in Postfix; "
        "mxscreen: the other compatibility-dependent defaults are always those of level 3.6."),
    /* Postfix's own default expression, so that a main.cf without
     * compatibility_level gets "no" (no SMTPUTF8 in EHLO) as Postfix does. */
    BOOL(smtputf8_enable, "${{$compatibility_level} <level {1} ? {no} : {yes}}",
         "Announce and accept SMTPUTF8; 8-bit addresses in notifications."),
    STR(syslog_name, "mxscreen",
        "mxscreen: syslog ident prefix, \"syslog_name/service\"; Postfix's default is postfix."),
    ENUM(syslog_facility, "mail", log_facility_names, "The syslog facility (maillog_file empty)."),
    STR(config_directory, CFG_DEFAULT_DIR,
        "mxscreen: directory of main.cf (set by -c); Postfix uses /etc/postfix."),
    STR(queue_directory, "/var/spool/mxscreen",
        "mxscreen: spool for delivery_mode = queue; Postfix uses /var/spool/postfix."),
    STR(data_directory, "/var/lib/mxscreen",
        "mxscreen: caches (screening, verification, TLS sessions); Postfix: /var/lib/postfix."),
    STR(mail_owner, "postfix", "Unprivileged user every child process runs as."),
    STR(maillog_file, "", "Log to this file instead of syslog (empty: syslog)."),
    DYN(myhostname, "the host name; \".localdomain\" is appended when it has no dot", CFG_STR,
        const char *, def_myhostname, "Internet host name of this mail system."),
    DYN(mydomain, "$myhostname without its first label, or \"localdomain\"", CFG_STR,
        const char *, def_mydomain, "Internet domain name of this mail system."),
    STR(myorigin, "$myhostname", "Domain appended to unqualified addresses in bounces."),
    MATCH(mydestination, "$myhostname, localhost.$mydomain, localhost",
          "Domains this system is the final destination for."),
    STR(mail_name, "mxscreen",
        "mxscreen: mail system name used in the banner and logs; Postfix's default is Postfix."),
    LIST(listen_addresses, "0.0.0.0:25",
         "mxscreen: addresses the frontend listens on, host:port ([ipv6]:port), comma "
         "or space separated."),
    DYN(worker_processes, "3 x online CPUs (queue: 1 x)", CFG_INT, long, def_worker_processes,
        "mxscreen: number of worker processes."),
    INT(frontend_processes, "1", 0, 16,
        "mxscreen: frontend processes per generation, all accepting on the same listeners "
        "(0: one per 2 online CPUs); postscreen_connection_pool_size is per frontend."),
    ENUM(scheduling_policy, "batch", sched_policies,
         "mxscreen: CPU scheduling of the frontends, workers and queue runner: batch "
         "(SCHED_BATCH: a process woken by another does not preempt it, so each finishes its "
         "loop pass; fewer context switches) or normal (SCHED_OTHER)."),
    INT(default_process_limit, "100", 1, 0,
        "Default process limit (feeds postscreen_pre_queue_limit, post_queue_limit)."),
    ENUM(delivery_mode, "proxy", delivery_modes,
         "mxscreen: proxy = pass each message to the next hop before answering 250; queue = "
         "write it to queue_directory first."),
    LIST(dns_resolver, "",
         "mxscreen: DNS resolver address(es) for c-ares, ip or ip:port; empty = system resolver."),

    /* networks, relaying, addresses */
    DYN(mynetworks, "per mynetworks_style, from this host's interfaces", CFG_MATCH,
        struct cfg_list, def_mynetworks, "Trusted SMTP clients (permit_mynetworks)."),
    ENUM(mynetworks_style, "host", mynet_styles,
         "How the mynetworks default is computed: host, subnet or class."),
    MATCH(relay_domains, "", "Destinations this system relays mail to (backup MX)."),
    MAPS(relay_recipient_maps, "", "Valid recipients in relay_domains (empty: any)."),
    MAPS(transport_maps, "", "Next hop per recipient or domain."),
    STR(relayhost, "", "Default next hop for non-local mail ([host]:port)."),
    LIST(parent_domain_matches_subdomains,
         "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,"
         "qmqpd_authorized_clients,relay_domains,smtpd_access_maps",
         "Features where a domain name matches its subdomains."),
    STR(recipient_delimiter, "", "Delimiters between user name and address extension."),
    BOOL(allow_untrusted_routing, "no", "Allow sender-specified routing (user%domain@here)."),
    BOOL(strict_rfc821_envelopes, "no", "Require <> around MAIL FROM/RCPT TO addresses."),
    BOOL(allow_percent_hack, "yes", "Rewrite user%domain to user@domain."),
    BOOL(swap_bangpath, "yes", "Rewrite site!user to user@site."),
    SIZE(message_size_limit, "10240000", 0, 0, "Largest message accepted, bytes (0: no limit)."),
    SIZE(header_size_limit, "102400", 0, 0, "Largest message header kept, bytes."),
    SIZE(line_length_limit, "2048", 0, 0, "Longest SMTP or message line handled as one, bytes."),
    BOOL(show_user_unknown_table_name, "yes",
         "Name the table in \"User unknown in ... table\" replies."),
    BOOL(disable_vrfy_command, "no", "Refuse VRFY."),

    /* content checks */
    MAPS(header_checks, "", "Patterns for primary message headers."),
    MAPS(mime_header_checks, "$header_checks", "Patterns for MIME headers."),
    MAPS(nested_header_checks, "$header_checks", "Patterns for attached message headers."),
    MAPS(body_checks, "", "Patterns for body lines."),

    /* smtpd */
    STR(smtpd_banner, "$myhostname ESMTP $mail_name", "Text after 220 in the greeting."),
    RESTR(smtpd_client_restrictions, "", "Restrictions at connect time."),
    RESTR(smtpd_helo_restrictions, "", "Restrictions on HELO/EHLO."),
    RESTR(smtpd_sender_restrictions, "", "Restrictions on MAIL FROM."),
    RESTR(smtpd_relay_restrictions,
          "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
          "Relay control at RCPT TO, before smtpd_recipient_restrictions."),
    RESTR(smtpd_recipient_restrictions, "", "Restrictions at RCPT TO."),
    RESTR(smtpd_data_restrictions, "", "Restrictions on DATA."),
    RESTR(smtpd_end_of_data_restrictions, "", "Restrictions at end of message."),
    RESTR(smtpd_etrn_restrictions, "", "Restrictions on ETRN."),
    LIST(smtpd_restriction_classes, "",
         "Names of user-defined restriction lists (each is then a parameter)."),
    BOOL(smtpd_delay_reject, "yes", "Wait until RCPT TO before rejecting client/HELO/sender."),
    BOOL(smtpd_helo_required, "no", "Require HELO/EHLO before MAIL FROM."),
    TIME(smtpd_error_sleep_time, "1s", 's', 0, 0, "Delay before replying to a client error."),
    INT(smtpd_soft_error_limit, "10", 0, 0, "Errors after which each reply is delayed."),
    INT(smtpd_hard_error_limit, "${stress?{1}:{20}}", 1, 0, "Errors after which we disconnect."),
    INT(smtpd_junk_command_limit, "${stress?{1}:{100}}", 1, 0,
        "NOOP/VRFY/ETRN/RSET commands counted as errors beyond this."),
    TIME(smtpd_timeout, "${stress?{10}:{300}}s", 's', 1, 0, "Read/write timeout per command."),
    INT(smtpd_recipient_limit, "1000", 1, 0, "Recipients accepted per message."),
    INT(smtpd_client_connection_count_limit, "50", 0, 0,
        "Simultaneous connections per client (0: no limit)."),
    INT(smtpd_client_connection_rate_limit, "0", 0, 0,
        "Connections per client per minute (0: no limit)."),
    TIME(anvil_rate_time_unit, "60s", 's', 1, 0,
         "Time unit of the connection rate limits (the anvil table's fixed window)."),
    TIME(smtpd_starttls_timeout, "${stress?{10}:{300}}s", 's', 1, 0, "TLS handshake timeout."),
    ENUM(smtpd_forbid_bare_newline, "no", bare_nl_modes,
         "Bare LF in SMTP: no, yes/reject (reply with smtpd_forbid_bare_newline_reject_code), "
         "normalize."),
    MATCH(smtpd_forbid_bare_newline_exclusions, "$mynetworks",
          "Clients exempt from smtpd_forbid_bare_newline."),
    MATCH(smtpd_authorized_xclient_hosts, "", "Clients allowed to use XCLIENT."),
    ENUM(smtpd_upstream_proxy_protocol, "", proxy_protocols,
         "Proxy protocol in front of smtpd: empty or haproxy."),
    TIME(smtpd_upstream_proxy_timeout, "5s", 's', 1, 0, "Time to receive the proxy header."),
    BOOL(smtpd_reject_unlisted_sender, "no", "Reject unknown senders in our domains."),
    BOOL(smtpd_reject_unlisted_recipient, "yes", "Reject unknown recipients in our domains."),
    BOOL(smtpd_peername_lookup, "yes", "Look up the client's PTR name."),
    STR(smtpd_null_access_lookup_key, "<>", "Access-map key for the null sender."),
    RAW(smtpd_reject_footer, "", "Text appended to 4xx/5xx replies."),
    MAPS(smtpd_reject_footer_maps, "", "Footer per reply text."),
    LIST(smtpd_discard_ehlo_keywords, "", "EHLO keywords not announced."),
    MAPS(smtpd_discard_ehlo_keyword_address_maps, "", "EHLO keywords not announced, per client."),
    LIST(smtpd_forbidden_commands, "CONNECT GET POST regexp:{{/^[^A-Z]/ Bogus}}",
         "Commands that end the session at once (HTTP, bogus)."),
    MAPS(smtpd_command_filter, "", "Rewrite SMTP commands before parsing."),
    MAPS(rbl_reply_maps, "", "Reply templates per DNSBL domain."),
    RAW(default_rbl_reply,
        "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using "
        "$rbl_domain${rbl_reason?; $rbl_reason}",
        "Default DNSBL reject reply template."),

    /* smtpd TLS */
    ENUM(smtpd_tls_security_level, "", smtpd_tls_levels,
         "STARTTLS for clients: none, may, encrypt; empty: may with smtpd_use_tls, encrypt "
         "with smtpd_enforce_tls."),
    BOOL(smtpd_use_tls, "no", "Obsolete: announce STARTTLS (see smtpd_tls_security_level)."),
    BOOL(smtpd_enforce_tls, "no", "Obsolete: require STARTTLS (see smtpd_tls_security_level)."),
    BOOL(smtpd_tls_received_header, "no", "Note TLS details in the Received: header."),
    BOOL(smtpd_tls_ask_ccert, "no", "Ask for a client certificate."),
    BOOL(smtpd_tls_req_ccert, "no", "Require a client certificate (with encrypt)."),
    BOOL(smtpd_tls_auth_only, "no", "AUTH only after STARTTLS."),
    BOOL(smtpd_tls_wrappermode, "no", "TLS from the first byte (port 465 style)."),
    STR(smtpd_tls_cert_file, "", "Server certificate (PEM)."),
    STR(smtpd_tls_key_file, "$smtpd_tls_cert_file", "Server private key (PEM)."),
    STR(smtpd_tls_CAfile, "", "CA certificates for client certificates (PEM)."),
    STR(smtpd_tls_CApath, "", "Directory of CA certificates."),
    LIST(smtpd_tls_chain_files, "", "Key and certificate chain files."),
    STR(smtpd_tls_dh1024_param_file, "", "DH parameters file."),
    STR(smtpd_tls_eecdh_grade, "auto", "ECDHE curve grade."),
    STR(smtpd_tls_protocols, ">=TLSv1", "TLS protocols offered."),
    STR(smtpd_tls_mandatory_protocols, ">=TLSv1", "TLS protocols with encrypt."),
    STR(smtpd_tls_ciphers, "medium", "Cipher grade offered."),
    STR(smtpd_tls_mandatory_ciphers, "medium", "Cipher grade with encrypt."),
    STR(smtpd_tls_exclude_ciphers, "", "Ciphers never used."),
    STR(smtpd_tls_fingerprint_digest, "sha256", "Digest for client certificate fingerprints."),
    INT(smtpd_tls_loglevel, "0", 0, 4, "TLS logging: 0 none .. 4 everything."),
    INT(smtpd_tls_ccert_verifydepth, "9", 1, 0, "Client certificate chain depth."),
    TIME(smtpd_tls_session_cache_timeout, "3600s", 's', 0, 31536000, "TLS session lifetime."),
    CACHE(smtpd_tls_session_cache_database, "", "TLS session cache table (made at run time)."),

    /* reject codes */
    CODE(access_map_reject_code, "554", "Code for REJECT in access maps."),
    CODE(access_map_defer_code, "450", "Code for DEFER in access maps."),
    CODE(defer_code, "450", "Code for defer restrictions."),
    CODE(reject_code, "554", "Code for the reject restriction."),
    CODE(invalid_hostname_reject_code, "501", "Code for reject_invalid_helo_hostname."),
    CODE(maps_rbl_reject_code, "554", "Code for DNSBL rejects."),
    CODE(multi_recipient_bounce_reject_code, "550", "Code for reject_multi_recipient_bounce."),
    CODE(non_fqdn_reject_code, "504", "Code for reject_non_fqdn_*."),
    CODE(plaintext_reject_code, "450", "Code when TLS is required and not used."),
    CODE(relay_domains_reject_code, "554", "Code for reject_unauth_destination."),
    CODE(unknown_address_reject_code, "450", "Code for reject_unknown_*_domain."),
    CODE(unknown_client_reject_code, "450", "Code for reject_unknown_client_hostname."),
    CODE(unknown_hostname_reject_code, "450", "Code for reject_unknown_helo_hostname."),
    CODE(unknown_local_recipient_reject_code, "550", "Code for unknown local recipients."),
    CODE(unknown_relay_recipient_reject_code, "550", "Code for unknown relay recipients."),
    CODE(unknown_virtual_alias_reject_code, "550", "Code for unknown virtual alias recipients."),
    CODE(unknown_virtual_mailbox_reject_code, "550", "Code for unknown virtual mailboxes."),
    CODE(unverified_recipient_reject_code, "450", "Code when recipient verification fails."),
    CODE(unverified_sender_reject_code, "450", "Code when sender verification fails."),
    DCODE(unverified_recipient_defer_code, "450",
          "Code when recipient verification is temporarily impossible (250: accept)."),
    DCODE(unverified_sender_defer_code, "450",
          "Code when sender verification is temporarily impossible (250: accept)."),
    CODE(smtpd_forbid_bare_newline_reject_code, "550", "Code for a bare LF in SMTP."),

    /* address verification */
    CACHE(address_verify_map, "btree:$data_directory/verify_cache",
          "Address verification cache (made at run time)."),
    STR(address_verify_sender, "$double_bounce_sender", "Sender of verification probes."),
    STR(unverified_sender_reject_reason, "", "Reply text when sender verification fails."),
    STR(unverified_recipient_reject_reason, "", "Reply text when recipient verification fails."),
    BOOL(address_verify_negative_cache, "yes", "Cache failed verifications."),
    TIME(address_verify_cache_cleanup_interval, "12h", 's', 0, 0,
         "Interval between verification cache sweeps (0: none)."),
    TIME(address_verify_positive_expire_time, "31d", 'd', 1, 0, "Lifetime of a good result."),
    TIME(address_verify_positive_refresh_time, "7d", 'd', 1, 0, "Refresh age of a good result."),
    TIME(address_verify_negative_expire_time, "3d", 'd', 1, 0, "Lifetime of a bad result."),
    TIME(address_verify_negative_refresh_time, "3h", 'h', 1, 0, "Refresh age of a bad result."),
    INT(address_verify_poll_count, "${stress?{1}:{3}}", 1, 0, "Polls for a pending result."),
    TIME(address_verify_poll_delay, "3s", 's', 1, 0, "Delay between polls."),

    /* queue and delivery */
    TIME(maximal_queue_lifetime, "5d", 'd', 0, 8640000, "Age at which a message bounces."),
    TIME(bounce_queue_lifetime, "5d", 'd', 0, 8640000, "Age at which a bounce is dropped."),
    TIME(delay_warning_time, "0h", 'h', 0, 0, "Age of the delay warning (0: none)."),
    TIME(minimal_backoff_time, "300s", 's', 1, 0, "Minimal retry interval."),
    TIME(maximal_backoff_time, "4000s", 's', 1, 0, "Maximal retry interval."),
    TIME(queue_run_delay, "300s", 's', 1, 0, "Interval between deferred queue scans."),
    SIZE(bounce_size_limit, "50000", 1, 0, "Bytes of the original message in a bounce."),
    INT(default_destination_concurrency_limit, "20", 0, 0,
        "Parallel deliveries per destination."),
    TIME(smtp_connect_timeout, "30s", 's', 0, 0, "Next-hop connect timeout."),
    TIME(smtp_helo_timeout, "300s", 's', 1, 0, "Next-hop greeting/HELO timeout."),
    INT(smtp_line_length_limit, "998", 0, 0,
        "Longest content line sent to a next hop; longer ones broken with CRLF SPACE (0: no limit)."),
    INT(lmtp_line_length_limit, "998", 0, 0, "As smtp_line_length_limit, for LMTP next hops."),

    /* smtp client TLS and SASL */
    ENUM(smtp_tls_security_level, "", smtp_tls_levels,
         "Next-hop TLS: none, may, encrypt, dane, dane-only, fingerprint, verify, secure; empty: "
         "may with smtp_use_tls, encrypt with smtp_enforce_tls."),
    BOOL(smtp_use_tls, "no", "Obsolete: use STARTTLS when offered."),
    BOOL(smtp_enforce_tls, "no", "Obsolete: require STARTTLS."),
    BOOL(smtp_tls_enforce_peername, "yes", "Obsolete: verify the next-hop name (enforce_tls)."),
    BOOL(smtp_tls_note_starttls_offer, "no", "Log next hops that offer STARTTLS."),
    STR(smtp_tls_CAfile, "", "CA certificates for next hops (PEM)."),
    STR(smtp_tls_CApath, "", "Directory of CA certificates."),
    STR(smtp_tls_cert_file, "", "Client certificate (PEM)."),
    STR(smtp_tls_key_file, "$smtp_tls_cert_file", "Client private key (PEM)."),
    LIST(smtp_tls_chain_files, "", "Client key and certificate chain files."),
    CACHE(smtp_tls_session_cache_database, "", "Client TLS session cache (made at run time)."),
    STR(smtp_tls_protocols, ">=TLSv1", "TLS protocols used."),
    STR(smtp_tls_mandatory_protocols, ">=TLSv1", "TLS protocols with encrypt and above."),
    STR(smtp_tls_ciphers, "medium", "Cipher grade."),
    STR(smtp_tls_mandatory_ciphers, "medium", "Cipher grade with encrypt and above."),
    STR(smtp_tls_exclude_ciphers, "", "Ciphers never used."),
    STR(smtp_tls_fingerprint_digest, "sha256", "Digest for the fingerprint level."),
    STR(smtp_tls_servername, "", "SNI name sent (empty: none)."),
    LIST(smtp_tls_fingerprint_cert_match, "", "Fingerprints for the fingerprint level."),
    LIST(smtp_tls_verify_cert_match, "hostname", "Name checks for the verify level."),
    LIST(smtp_tls_secure_cert_match, "nexthop, dot-nexthop", "Name checks for the secure level."),
    MAPS(smtp_tls_policy_maps, "", "TLS policy per next hop."),
    INT(smtp_tls_loglevel, "0", 0, 4, "TLS logging: 0 none .. 4 everything."),
    TIME(smtp_tls_session_cache_timeout, "3600s", 's', 0, 31536000, "TLS session lifetime."),
    INT(smtp_tls_scert_verifydepth, "9", 1, 0, "Server certificate chain depth."),
    BOOL(smtp_sasl_auth_enable, "no", "Authenticate to the next hop with SASL."),
    MAPS(smtp_sasl_password_maps, "", "user:password per next hop."),
    LIST(smtp_sasl_security_options, "noplaintext, noanonymous", "SASL mechanism limits."),
    LIST(smtp_sasl_tls_security_options, "$smtp_sasl_security_options",
         "SASL mechanism limits over TLS."),
    LIST(smtp_sasl_mechanism_filter, "", "SASL mechanisms offered by the next hop to use."),

    /* postscreen (the frontend) */
    RESTR(postscreen_access_list, "permit_mynetworks",
          "Permanent allow/deny list: permit_mynetworks and type:table (cidr) lookups."),
    ENUM(postscreen_denylist_action,
         "${postscreen_blacklist_action?{$postscreen_blacklist_action}:{ignore}}", ps_actions,
         "Action for denylisted clients: ignore, enforce, drop, tarpit (mxscreen)."),
    STR(postscreen_blacklist_action, "", "Obsolete name of postscreen_denylist_action."),
    STR(postscreen_greet_banner, "$smtpd_banner", "Text of the 220- pregreet banner."),
    TIME(postscreen_greet_wait, "${stress?{2}:{6}}s", 's', 1, 0,
         "Time to wait for a client that talks first."),
    TIME(postscreen_greet_ttl, "1d", 'd', 1, 0, "Lifetime of a passed greet test."),
    ENUM(postscreen_greet_action, "ignore", ps_actions,
         "Action for clients that talk first: ignore, enforce, drop, tarpit (mxscreen)."),
    LIST(postscreen_dnsbl_sites, "", "DNSBL/DNSWL domains with filters and weights."),
    INT(postscreen_dnsbl_threshold, "1", 1, 0, "Score at which a client is denylisted."),
    INT(postscreen_dnsbl_allowlist_threshold,
        "${postscreen_dnsbl_whitelist_threshold?{$postscreen_dnsbl_whitelist_threshold}:{0}}",
        -1000000, 0, "Score at or below which a client skips the other tests (0: off)."),
    STR(postscreen_dnsbl_whitelist_threshold, "",
        "Obsolete name of postscreen_dnsbl_allowlist_threshold."),
    ENUM(postscreen_dnsbl_action, "ignore", ps_actions,
         "Action at the DNSBL threshold: ignore, enforce, drop."),
    TIME(postscreen_dnsbl_timeout, "10s", 's', 1, 0, "Time to wait for DNSBL answers."),
    TIME(postscreen_dnsbl_min_ttl, "60s", 's', 1, 0, "Minimal lifetime of a DNSBL result."),
    TIME(postscreen_dnsbl_max_ttl, "${postscreen_dnsbl_ttl?{$postscreen_dnsbl_ttl}:{1}}h", 'h', 1,
         0, "Maximal lifetime of a DNSBL result."),
    STR(postscreen_dnsbl_ttl, "", "Obsolete name of postscreen_dnsbl_max_ttl."),
    MAPS(postscreen_dnsbl_reply_map, "", "DNSBL names shown to clients."),
    BOOL(postscreen_pipelining_enable, "no", "Test for commands sent ahead of replies."),
    ENUM(postscreen_pipelining_action, "enforce", ps_actions, "Action for pipelining clients."),
    TIME(postscreen_pipelining_ttl, "30d", 'd', 1, 0, "Lifetime of a passed pipelining test."),
    BOOL(postscreen_non_smtp_command_enable, "no", "Test for non-SMTP commands."),
    ENUM(postscreen_non_smtp_command_action, "drop", ps_actions,
         "Action for non-SMTP commands."),
    TIME(postscreen_non_smtp_command_ttl, "30d", 'd', 1, 0, "Lifetime of a passed test."),
    BOOL(postscreen_bare_newline_enable, "no", "Test for bare LF."),
    ENUM(postscreen_bare_newline_action, "ignore", ps_actions, "Action for bare LF."),
    TIME(postscreen_bare_newline_ttl, "30d", 'd', 1, 0, "Lifetime of a passed bare LF test."),
    CACHE(postscreen_cache_map, "btree:$data_directory/postscreen_cache",
          "Screening cache (made at run time)."),
    TIME(postscreen_cache_cleanup_interval, "12h", 'h', 0, 0,
         "Interval between screening cache sweeps (0: none)."),
    TIME(postscreen_cache_retention_time, "7d", 'd', 0, 0,
         "How long expired cache entries are kept."),
    INT(postscreen_client_connection_count_limit, "$smtpd_client_connection_count_limit", 0, 0,
        "Simultaneous connections per client."),
    INT(postscreen_client_connection_rate_limit, "$smtpd_client_connection_rate_limit", 0, 0,
        "mxscreen: connection attempts per client per anvil_rate_time_unit (0: no limit)."),
    INT(postscreen_client_ipv4_prefix_length, "32", 1, 32,
        "mxscreen: IPv4 clients share the connection limits per this prefix."),
    INT(postscreen_client_ipv6_prefix_length, "64", 1, 128,
        "mxscreen: IPv6 clients share the connection limits per this prefix."),
    INT(postscreen_pre_queue_limit, "$default_process_limit", 10, 0,
        "Connections waiting for a test verdict."),
    INT(postscreen_post_queue_limit, "$default_process_limit", 5, 0,
        "Connections waiting for a worker."),
    INT(postscreen_command_count_limit, "20", 1, 0, "Commands in the deep tests."),
    TIME(postscreen_command_time_limit, "${stress?{10}:{300}}s", 's', 1, 0,
         "Time limit of the deep tests."),
    TIME(postscreen_watchdog_timeout, "10s", 's', 1, 0, "Stuck-process watchdog."),
    TIME(postscreen_upstream_proxy_timeout, "5s", 's', 1, 0, "Time to read the proxy header."),
    INT(postscreen_tarpit_byte_rate, "1", 1, 1000000,
        "mxscreen: bytes per second the tarpit action drips (a 220- line, repeated)."),
    TIME(postscreen_tarpit_time, "${stress?{30}:{60}}s", 's', 1, 0,
         "mxscreen: how long the tarpit action drips before its final reply."),
    STR(postscreen_tarpit_reply, "421 4.7.0 Service currently unavailable",
        "mxscreen: the tarpit action's final reply (4XX or 5XX), then the connection is closed."),
    INT(postscreen_connection_pool_size, "50000", 1, 4000000,
        "mxscreen: most connections the frontend holds at once (screening, tarpit, waiting for "
        "a worker); beyond: 421 4.3.2 All screening ports are busy."),
    ENUM(postscreen_upstream_proxy_protocol, "", proxy_protocols, "Proxy protocol: empty or haproxy."),
    MATCH(postscreen_allowlist_interfaces,
          "${postscreen_whitelist_interfaces?{$postscreen_whitelist_interfaces}:{static:all}}",
          "Local addresses where clients can become allowlisted."),
    MATCH(postscreen_whitelist_interfaces, "", "Obsolete name of postscreen_allowlist_interfaces."),
    MAPS(postscreen_command_filter, "", "Rewrite commands in the deep tests."),
    MAPS(postscreen_discard_ehlo_keyword_address_maps, "$smtpd_discard_ehlo_keyword_address_maps",
         "EHLO keywords not announced, per client."),
    LIST(postscreen_discard_ehlo_keywords, "$smtpd_discard_ehlo_keywords",
         "EHLO keywords not announced."),
    LIST(postscreen_forbidden_commands, "$smtpd_forbidden_commands",
         "Commands counted as non-SMTP."),
    MAPS(postscreen_reject_footer_maps, "$smtpd_reject_footer_maps", "Footer per reply text."),
    RAW(postscreen_reject_footer, "$smtpd_reject_footer", "Text appended to rejects."),
    RAW(postscreen_expansion_filter, "$smtpd_expansion_filter",
        "Characters allowed in $name expansions of replies."),
    BOOL(postscreen_disable_vrfy_command, "$disable_vrfy_command", "Refuse VRFY in deep tests."),
    BOOL(postscreen_helo_required, "$smtpd_helo_required", "Require HELO in deep tests."),
    BOOL(postscreen_enforce_tls, "$smtpd_enforce_tls", "Obsolete: require STARTTLS."),
    BOOL(postscreen_use_tls, "$smtpd_use_tls", "Obsolete: offer STARTTLS."),
    ENUM(postscreen_tls_security_level, "$smtpd_tls_security_level", smtpd_tls_levels,
         "STARTTLS in the deep tests."),
};

const struct cfg_param_def *config_param_table(size_t *n)
{
    *n = ARRAY_LEN(params);
    return params;
}

const struct cfg_param_def *config_param_find(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(params); i++)
        if (strncmp(params[i].name, name, len) == 0 && params[i].name[len] == '\0')
            return &params[i];
    return NULL;
}

const char *config_type_name(enum cfg_type t)
{
    switch (t) {
    case CFG_STR: return "string";
    case CFG_BOOL: return "boolean";
    case CFG_INT: return "integer";
    case CFG_TIME: return "time";
    case CFG_SIZE: return "size";
    case CFG_CODE: return "reply code";
    case CFG_ENUM: return "enumeration";
    case CFG_LIST: return "list";
    case CFG_MATCH: return "match list";
    case CFG_MAPS: return "list of maps";
    case CFG_RESTRICT: return "restriction list";
    case CFG_CACHE: return "cache map";
    }
    return "?";
}

const char *config_type_form(const struct cfg_param_def *d, char *buf, size_t cap)
{
    switch (d->type) {
    case CFG_BOOL: return "expected yes or no";
    case CFG_INT: return "expected an integer";
    case CFG_TIME:
        snprintf(buf, cap,
                 "expected a time: a number with optional unit s, m, h, d or w (default %c)",
                 d->unit);
        return buf;
    case CFG_SIZE: return "expected a size: a number of bytes";
    case CFG_CODE:
        snprintf(buf, cap, "expected an SMTP reply code %ld..%ld%s", d->min, d->max,
                 (d->flags & CFG_F_ACCEPT_250) ? " or 250" : "");
        return buf;
    case CFG_ENUM: {
        size_t o = (size_t)snprintf(buf, cap, "expected one of:");
        for (const char *const *v = d->values; *v && o < cap; v++)
            o += (size_t)snprintf(buf + o, cap - o, "%s %s", v == d->values ? "" : ",",
                                  **v ? *v : "(empty)");
        return buf;
    }
    case CFG_MAPS: return "expected type:name table references";
    case CFG_CACHE: return "expected one type:name table reference, or empty";
    case CFG_LIST:
    case CFG_MATCH:
    case CFG_RESTRICT: return "expected a list with balanced {}";
    case CFG_STR: return "expected text";
    }
    return "";
}
