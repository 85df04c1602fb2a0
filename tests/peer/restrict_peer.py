#!/usr/bin/env python3
"""restrict_peer.py - workers/restrict against Postfix 3.7's smtpd_check.

Usage: restrict_peer.py PROBE [-v]

PROBE is tests/peer/restrict_probe (built by meson). For each
configuration in CONFIGS a private Postfix (tests/lib/postfix_peer.py) runs
with that main.cf and those tables; every session is one connection:
XCLIENT NAME= ADDR= HELO= (allowed from 127.0.0.1 by
smtpd_authorized_xclient_hosts; one XCLIENT per connection), MAIL FROM,
then one RCPT TO per recipient. With smtpd_delay_reject = yes every RCPT
runs the client, HELO, sender, relay and recipient lists, so the RCPT
replies show them all. The probe reads the instance's own main.cf and
tables (config_load on its config_directory) and is given the same
sessions; every RCPT reply must be the same line: code, enhanced code and
text.

What is kept out of the comparison, and why:
  - smtpd_reject_unlisted_recipient = no: the implicit recipient-table
    check after the lists is the session's job (session.c), not the
    engine's; reject_unlisted_recipient named in a list is compared.
  - relay delivery goes to a port nobody listens on (no DATA is sent), so
    relay_domains resolve to the relay transport, not to the harness's
    error: transport (which check_rcpt_maps would answer first).
  - local_transport = local and local_recipient_maps empty: the engine has
    no local/virtual recipient tables (KNOWN_DIFFERENCES).
  - DNS-based restrictions run in a second part (dns_outer): a private
    network namespace whose resolv.conf names a dnsmasq inside it, so
    Postfix's own resolver and the probe's lib/dns ask the same zones
    (reject_rbl_client with and without reply filters, reject_rhsbl_*,
    reject_unknown_helo_hostname, reject_unknown_sender/recipient_domain,
    SERVFAIL as a temporary failure, rbl_reply_maps, default_rbl_reply).
    Without dnsmasq, ip(8) or network namespaces that part is skipped
    with a note.
  - The recipient "postmaster" (bare) is accepted by smtpd_check_rcpt()
    before any list: the session's job, not used here.

Each configuration has smtpd_error_sleep_time = 0 and soft/hard error
limits of 1000 so that rejects neither slow nor end the sessions.

Exit 0 when all replies agree (or differ only as KNOWN_DIFFERENCES
says), 1 on a difference, 77 without Postfix or root.
"""
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import postfix_peer  # noqa: E402
from smtp_client import RawSmtp  # noqa: E402

VERBOSE = "-v" in sys.argv

# (config label, client addr, recipient) -> why the engine answers
# differently on purpose, or where the difference lies outside it.
OWN_LITERAL = ("Postfix resolves [an address of inet_interfaces] as a local domain "
               "(resolve_local); the engine has no interface list and treats the literal "
               "as remote")
KNOWN_DIFFERENCES = {
    ("route", "10.30.0.1", "u@[127.0.0.1]"): OWN_LITERAL,
}

COMMON = """compatibility_level = 3.6
myhostname = mx.test
mydomain = test
smtpd_authorized_xclient_hosts = 127.0.0.1
smtpd_delay_reject = yes
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_junk_command_limit = 100000
smtpd_recipient_limit = 1000
smtpd_reject_unlisted_recipient = no
smtpd_reject_unlisted_sender = no
local_recipient_maps =
"""


def read_data(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


# ---------------------------------------------------------------- configs
# Sessions: (client name or [UNAVAILABLE]/[TEMPUNAVAIL], address, HELO or
# None, sender ("" is <>), [recipients]).

ACCESS_MAPS = {
    "client_access": """\
10.2.0.1     REJECT
10.2.0.2     REJECT go away client
10.2.0.3     550 5.7.9 custom code
10.2.0.4     DEFER
10.2.0.5     DEFER_IF_PERMIT client says later
10.2.0.6     DEFER_IF_REJECT client maybe
10.2.0.7     DUNNO
10.2.0.8     OK
10.2.0.9     strict
10.2.0.10    reject_non_fqdn_helo_hostname
10.2.0.11    421 4.1.1 four two one
10.2.0.12    DEFER 4.2.2 custom defer dsn
10.2.0.13    WARN warned
10.2.0.14    defer_if_permit
10.2.0.15    reject_unauth_destination
10.2.0.16    12345
10.2.0.17    HOLD
10.2.0.18    DISCARD
10.2.0.19    REJECT 5.1.1 address dsn in client context
10.2.0.20    permit_mynetworks, reject
10.2.0.21    warn_if_reject reject
10.2.0.22    defer_if_reject, reject
10.2.0.23    lenient
10.2.0.24    450 text only
10.2.0.25    REJECT 4.7.1 temp dsn with reject code
10.3         REJECT subnet
bad.client.example   REJECT by name
client.example       REJECT domain wide
""",
    "client.cidr": """\
10.4.0.0/16     REJECT cidr says no
10.5.1.0/24     DEFER_IF_PERMIT cidr later
10.5.2.0/24     550 5.7.0 cidr numbered
""",
    "client.re": """\
/^re([0-9]+)\\.regexp\\.example$/    REJECT regexp name $1
/^10\\.6\\.(1|2)\\./              554 regexp addr
""",
    "helo_access": """\
reject.helo.test   REJECT
text.helo.test     REJECT helo text
dip.helo.test      DEFER_IF_PERMIT
dir.helo.test      DEFER_IF_REJECT
ok.helo.test       OK
num.helo.test      450 4.7.5 numbered
cls.helo.test      strict
nfr.helo.test      reject_non_fqdn_recipient
sub.helo.test      REJECT parent
defer.helo.test    DEFER
""",
    "sender_access": """\
<>                REJECT null sender refused
bad@sender.test   REJECT
spam.test         REJECT spam domain
user@             REJECT localpart
dip@sender.test   DEFER_IF_PERMIT
dir@sender.test   DEFER_IF_REJECT
cls@sender.test   strict
ok@sender.test    OK
x@sender.test     554 5.1.1 bad dsn
w@sender.test     WARN
bare@mx.test      REJECT bare local part
nf@sender.test    reject_non_fqdn_recipient
""",
    "rcpt_access": """\
r1@relay.example   REJECT
r2@relay.example   DEFER
r3@relay.example   DEFER_IF_PERMIT rcpt later
r4@relay.example   DEFER_IF_REJECT
r5@relay.example   550 5.1.8 bad dsn
r6@relay.example   OK
r7@relay.example   strict
r8@relay.example   lenient
r9@relay.example   reject_unauth_destination
r10@relay.example  defer_if_permit
r11@relay.example  defer_if_reject, reject
r12@relay.example  warn_if_reject reject
r13@relay.example  warn_if_reject, reject_non_fqdn_sender
r14@relay.example  reject_non_fqdn_sender
r15@relay.example  DISCARD
deny.relay.example REJECT domain wide
ok.relay.example   OK
other.test         REJECT other domain
localonly@         REJECT any domain
r16@nofqdn         DEFER_IF_REJECT table says maybe
""",
}

ACCESS_CF = COMMON + """\
mynetworks = 127.0.0.0/8, 10.1.0.0/16, trusted.example, .trustdom.example
mydestination = $myhostname, localhost, local.example
relay_domains = relay.example, .subrelay.example
smtpd_restriction_classes = strict, lenient
strict = reject_non_fqdn_sender, reject
lenient = permit
smtpd_client_restrictions = check_client_access texthash:${config_directory}/client_access,
    check_client_access cidr:${config_directory}/client.cidr,
    check_client_access regexp:${config_directory}/client.re
smtpd_helo_restrictions = check_helo_access texthash:${config_directory}/helo_access,
    reject_invalid_helo_hostname
smtpd_sender_restrictions = check_sender_access texthash:${config_directory}/sender_access,
    reject_non_fqdn_sender
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access texthash:${config_directory}/rcpt_access,
    reject_non_fqdn_recipient
"""

R = "u@relay.example"
H = "h.client.test"
RCPTS = [R] + [f"r{i}@relay.example" for i in range(1, 16)] + [
    "x@deny.relay.example", "x@ok.relay.example", "x%y@ok.relay.example",
    "y!x@ok.relay.example", "u@other.test", "u@sub.subrelay.example", "u@subrelay.example",
    "u@local.example", "u@mx.test", "u@MX.TEST.", "bare", "u%other.test@local.example",
    "localonly@relay.example", "U@Relay.Example", "u@relay", "u@[10.9.9.9]", "r16@nofqdn",
]


def access_sessions():
    s = []
    # The client table, one address each; two recipients so that per-RCPT
    # state (defer flags, DISCARD, the re-run client list) shows.
    for i in range(1, 26):
        s.append((H, f"10.2.0.{i}", "mail.sender.test", "a@sender.test", [R, "u@other.test"]))
    s.append((H, "10.2.0.9", "mail.sender.test", "a@nofqdn", [R]))
    s.append((H, "10.2.0.10", "nofqdn", "a@sender.test", [R]))
    s.append((H, "10.2.0.15", "mail.sender.test", "a@sender.test", ["u@x.example", R]))
    s.append((H, "10.2.0.20", "mail.sender.test", "a@sender.test", [R]))
    s.append((H, "10.1.2.3", "mail.sender.test", "a@sender.test", ["u@x.example"]))
    s.append((H, "10.2.0.14", "reject.helo.test", "a@sender.test", [R]))
    s.append((H, "10.2.0.5", "reject.helo.test", "a@sender.test", [R]))
    s.append((H, "10.2.0.6", "mail.sender.test", "a@sender.test", ["r1@relay.example"]))
    s.append((H, "10.3.7.7", "mail.sender.test", "a@sender.test", [R]))
    s.append(("bad.client.example", "10.7.0.1", "mail.sender.test", "a@sender.test", [R]))
    s.append(("x.client.example", "10.7.0.2", "mail.sender.test", "a@sender.test", [R]))
    s.append(("client.example", "10.7.0.3", "mail.sender.test", "a@sender.test", [R]))
    s.append(("[UNAVAILABLE]", "10.7.0.4", "mail.sender.test", "a@sender.test", [R]))
    s.append(("[TEMPUNAVAIL]", "10.7.0.5", "mail.sender.test", "a@sender.test", [R]))
    s.append((H, "10.4.9.9", "mail.sender.test", "a@sender.test", [R]))
    s.append((H, "10.5.1.1", "mail.sender.test", "a@sender.test", [R, "r1@relay.example"]))
    s.append((H, "10.5.2.2", "mail.sender.test", "a@sender.test", [R]))
    s.append(("re42.regexp.example", "10.7.0.6", "mail.sender.test", "a@sender.test", [R]))
    s.append(("x.re42.regexp.example", "10.7.0.7", "mail.sender.test", "a@sender.test", [R]))
    s.append((H, "10.6.1.9", "mail.sender.test", "a@sender.test", [R]))
    s.append((H, "10.6.3.9", "mail.sender.test", "a@sender.test", [R]))
    # HELO table and syntax.
    for helo in ("reject.helo.test", "text.helo.test", "dip.helo.test", "dir.helo.test",
                 "ok.helo.test", "num.helo.test", "cls.helo.test", "nfr.helo.test",
                 "x.sub.helo.test", "sub.helo.test", "defer.helo.test", "REJECT.HELO.TEST",
                 "reject.helo.test.", "a..b", "bad_name.test", "[10.1.1.1]", "[10.1.1]",
                 "[IPv6:::1]", "-dash.test", "nodots", "1.2.3.4", "x" * 70 + ".test", None):
        s.append((H, "10.8.0.1", helo, "a@sender.test", [R, "u@nofqdn"]))
    s.append((H, "10.8.0.1", "cls.helo.test", "a@nofqdn", [R]))
    s.append((H, "10.2.0.6", "dir.helo.test", "a@sender.test", [R]))
    s.append((H, "10.8.0.1", "dip.helo.test", "a@sender.test", ["r1@relay.example"]))
    # Sender table.
    for snd in ("", "bad@sender.test", "x@spam.test", "x@sub.spam.test", "user@any.test",
                "dip@sender.test", "dir@sender.test", "cls@sender.test", "ok@sender.test",
                "x@sender.test", "w@sender.test", "bare", "nf@sender.test", "BAD@Sender.Test",
                "a@nofqdn", "a@sender.test."):
        s.append((H, "10.8.0.2", "mail.sender.test", snd, [R, "u@nofqdn", "u@other.test"]))
    s.append((H, "10.8.0.2", "dir.helo.test", "dir@sender.test", [R]))
    # Recipient table, relay control, routing.
    s.append((H, "10.8.0.3", "mail.sender.test", "a@sender.test", RCPTS))
    s.append((H, "10.1.0.9", "mail.sender.test", "a@sender.test", RCPTS))
    s.append(("trusted.example", "10.8.0.4", "mail.sender.test", "a@sender.test",
              ["u@x.example", "u%y@x.example"]))
    s.append(("a.trustdom.example", "10.8.0.5", "mail.sender.test", "a@sender.test",
              ["u@x.example"]))
    s.append(("trustdom.example", "10.8.0.6", "mail.sender.test", "a@sender.test",
              ["u@x.example"]))
    s.append((H, "10.8.0.7", "mail.sender.test", "dip@sender.test",
              ["r4@relay.example", "r1@relay.example", "r6@relay.example"]))
    s.append((H, "10.8.0.7", "mail.sender.test", "a@sender.test",
              ["r15@relay.example", "r1@relay.example"]))
    return s


# The S25R client regexps and helo_access of the seed, with the seed's
# reject codes (every *_reject_code it sets).
SEED_CODES = """\
access_map_reject_code = 554
invalid_hostname_reject_code = 554
maps_rbl_reject_code = 554
multi_recipient_bounce_reject_code = 554
non_fqdn_reject_code = 554
plaintext_reject_code = 554
reject_code = 554
relay_domains_reject_code = 554
unknown_address_reject_code = 554
unknown_client_reject_code = 450
unknown_hostname_reject_code = 450
unknown_local_recipient_reject_code = 554
unknown_relay_recipient_reject_code = 554
unknown_virtual_alias_reject_code = 554
unknown_virtual_mailbox_reject_code = 554
unverified_recipient_reject_code = 554
unverified_sender_reject_code = 554
show_user_unknown_table_name = no
allow_percent_hack = no
swap_bangpath = no
strict_rfc821_envelopes = yes
recipient_delimiter =
"""

SEED_CF = COMMON + SEED_CODES + """\
myhostname = mx.example.test
mynetworks = 127.0.0.0/8, 192.0.2.0/24
mydestination = $myhostname, localhost.localdomain, ,localhost
relay_domains = relay.example
relay_recipient_maps = texthash:${config_directory}/relay_rcpts
smtpd_client_restrictions = permit_mynetworks,
    check_client_access regexp:${config_directory}/client_restrictions
smtpd_helo_restrictions = permit_mynetworks,
    check_helo_access texthash:${config_directory}/helo_access,
    reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname
smtpd_sender_restrictions = permit_mynetworks, reject_non_fqdn_sender,
    check_sender_access inline:{{r@codes.test = reject}, {d@codes.test = defer},
    {u@codes.test = reject_unknown_client_hostname}}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_non_fqdn_sender, reject_non_fqdn_recipient,
    reject_unlisted_recipient,
    check_recipient_access inline:{{x@relay.example = REJECT}, {d@relay.example = defer_unauth_destination}}
"""

SEED_MAPS = {
    "client_restrictions": read_data("tests", "peer", "data", "seed_client_restrictions"),
    "helo_access": read_data("examples", "helo_access"),
    "relay_rcpts": "known@relay.example x\n@open.relay.example x\n",
}

S25R_NAMES = [
    "mail.hotmail.com", "x.google.com", "smtp.yahoo.com", "dhcp123.isp.test", "dialup-7.isp.test",
    "ppp9.x.test", "adsl1.x.test", "pool-3.x.test", "dhcp.isp.test", "host.internetdsl.tpnet.pl",
    "x.adsl.tpnet.pl", "user1.mindspring.com", "userx.mindspring.com", "ab12.dyn.pppool.de",
    "x.dip.t-dialin.net", "x.cable.wanadoo.nl", "x.adsl.wanadoo.nl", "clean.example.org",
    "DHCP77.ISP.TEST",
]


def seed_sessions():
    s = []
    for i, name in enumerate(S25R_NAMES):
        s.append((name, f"10.20.0.{i + 1}", "mail.sender.test", "a@sender.test",
                  ["known@relay.example"]))
    for helo in ("localhost", "LocalHost", "mx.example.test", "127.0.0.1", "a..b", "nofqdn",
                 "[1.2.3.4]", "ok.helo.test", "x.localhost"):
        s.append(("clean.example.org", "10.21.0.1", helo, "a@sender.test",
                  ["known@relay.example"]))
        s.append(("clean.example.org", "192.0.2.5", helo, "a@sender.test",
                  ["known@relay.example"]))
    s.append(("clean.example.org", "10.22.0.1", "mail.sender.test", "a@sender.test",
              ["known@relay.example", "unknown@relay.example", "x@open.relay.example",
               "u@elsewhere.test", "x@relay.example", "d@relay.example", "u@nofqdn",
               "u@localhost", "u@mx.example.test", "known@RELAY.example"]))
    for snd in ("r@codes.test", "d@codes.test", "u@codes.test", "a@nofqdn", ""):
        s.append(("clean.example.org", "10.22.0.2", "mail.sender.test", snd,
                  ["known@relay.example"]))
        s.append(("[UNAVAILABLE]", "10.22.0.3", "mail.sender.test", snd,
                  ["known@relay.example"]))
    s.append(("clean.example.org", "192.0.2.9", "mail.sender.test", "a@nofqdn",
              ["u@elsewhere.test"]))
    return s


# Routing and FQDN checks with allow_untrusted_routing, no parent-domain
# matching, a different null-sender key, defer_unauth_destination and
# reject_unlisted_recipient with an address extension.
ROUTE_CF = COMMON + """\
mynetworks = 127.0.0.0/8
myorigin = origin.test
mydestination = $myhostname, local.example
relay_domains = relay.example, texthash:${config_directory}/relay_doms
parent_domain_matches_subdomains =
allow_untrusted_routing = ALLOW
smtpd_null_access_lookup_key = <null>
recipient_delimiter = +
relay_recipient_maps = texthash:${config_directory}/relay_rcpts
smtpd_sender_restrictions = check_sender_access texthash:${config_directory}/senders,
    reject_non_fqdn_sender
smtpd_relay_restrictions = permit_mynetworks, defer_unauth_destination
smtpd_recipient_restrictions = reject_non_fqdn_recipient,
    check_recipient_access texthash:${config_directory}/rcpts, reject_unlisted_recipient
"""

ROUTE_MAPS = {
    "relay_doms": "tabled.example x\n",
    "relay_rcpts": "known@relay.example x\nknown@tabled.example x\n",
    "senders": "<null> REJECT null key\n<> REJECT plain key\nsub.dom.test REJECT parent off\n",
    "rcpts": "ok.relay.example OK\nrouted.example OK\nrelay.example DUNNO\n"
             "bare@origin.test REJECT qualified with myorigin\n"
             "u@x.test 550 5.7.1 looked up as rewritten\n",
}

ROUTE_RCPTS = [
    "known@relay.example", "known+ext@relay.example", "unknown@relay.example",
    "known@tabled.example", "u@sub.relay.example", "u%x.test@relay.example",
    "x.test!u@relay.example", "u%routed.example@relay.example", "u@ok.relay.example",
    "u@local.example", "u%x.test@local.example", "u@x.test", "u@x.test.", "u",
    "u@[127.0.0.1]", "u@[IPv6:::1]", "u@relay", "known@relay.example.", "x.test!u@local.example",
    "u%local.example@local.example", "u%x.test", "x.test!u", "u%known@relay.example",
    "u@x.test@local.example", "u%x.test%local.example@local.example", "a!b!c@local.example",
    "u%x%y@relay.example", "known%relay.example@local.example", "bare",
]


def route_sessions():
    s = []
    for allow in ("yes", "no"):
        for snd in ("a@sender.test", "", "a@x.sub.dom.test", "a@sub.dom.test", "a@nofqdn",
                    "a", "a@[10.1.1.1]"):
            s.append((allow, ("h.test", "10.30.0.1", "mail.sender.test", snd, ROUTE_RCPTS)))
        s.append((allow, ("h.test", "127.0.0.2", "mail.sender.test", "a@sender.test",
                          ROUTE_RCPTS)))
    return s


def config_runs():
    """[(label, main.cf, maps, sessions)]"""
    runs = [
        ("access", ACCESS_CF, ACCESS_MAPS, access_sessions()),
        ("access-nopercent", ACCESS_CF + "allow_percent_hack = no\nswap_bangpath = no\n"
         "access_map_defer_code = 451\naccess_map_reject_code = 521\ndefer_code = 421\n",
         ACCESS_MAPS, access_sessions()),
        ("seed", SEED_CF, SEED_MAPS, seed_sessions()),
    ]
    for allow in ("yes", "no"):
        runs.append((f"route-untrusted-{allow}",
                     ROUTE_CF.replace("ALLOW", allow), ROUTE_MAPS,
                     [sess for a, sess in route_sessions() if a == allow]))
    return runs


# ---------------------------------------------------------------- sessions

def xtext(s):
    out = []
    for ch in s.encode():
        out.append(f"+{ch:02X}" if ch < 33 or ch > 126 or ch in (ord("+"), ord("=")) else chr(ch))
    return "".join(out)


def postfix_session(pf, sess):
    name, addr, helo, sender, rcpts = sess
    c = RawSmtp(pf.host, pf.port)
    try:
        r = c.cmd(f"XCLIENT NAME={xtext(name)} ADDR={addr} "
                  f"HELO={xtext(helo) if helo else '[UNAVAILABLE]'}")
        if not r[0].startswith("220"):
            raise RuntimeError(f"XCLIENT for {sess[:3]}: {r}")
        r = c.cmd(f"MAIL FROM:<{sender}>")
        if not r[0].startswith("250"):
            raise RuntimeError(f"MAIL FROM:<{sender}>: {r}")
        out = []
        for rcpt in rcpts:
            if out and (out[-1] is None or out[-1][:3] in ("421", "521")):
                out.append(None)        # smtpd hangs up after 421 and 521
            else:
                out.append(c.cmd(f"RCPT TO:<{rcpt}>")[0])
        return out
    finally:
        c.close()


def probe_script(sessions):
    lines = []
    for name, addr, helo, sender, rcpts in sessions:
        status = {"[UNAVAILABLE]": "perm", "[TEMPUNAVAIL]": "temp"}.get(name, "ok")
        pname = "unknown" if status != "ok" else name
        lines.append(f"S\t{pname}\t{status}\t{addr}\t{helo or ''}\t{sender}")
        lines.extend(f"R\t{r}" for r in rcpts)
    return "".join(line + "\n" for line in lines)


def restriction_of(reply):
    """A short tag for the per-restriction counts in the summary."""
    if reply.startswith("250"):
        return "accepted"
    for key, tag in (("Relay access denied", "relay control"),
                     ("need fully-qualified", "non_fqdn"), ("Invalid name", "invalid_helo"),
                     ("invalid ip address", "invalid_helo"), ("User unknown", "unlisted_rcpt"),
                     ("cannot find your", "unknown_client"), ("defer_if_permit", "defer_if"),
                     ("defer_if_reject", "defer_if"), ("Try again later", "defer"),
                     ("Client host rejected", "client access"),
                     ("Helo command rejected", "helo access"),
                     ("Sender address rejected", "sender access"),
                     ("Recipient address rejected", "recipient access")):
        if key in reply:
            return tag
    return "other"


def run_config(probe, label, main_cf, maps, sessions, fails, counts, dns=None):
    relay_port = postfix_peer.free_port()
    settings = {"local_transport": "local", "local_recipient_maps": ""}
    with postfix_peer.PostfixInstance(main_cf=main_cf, maps=maps, settings=settings,
                                      relay=("127.0.0.1", relay_port)) as pf:
        p = subprocess.run([probe, pf.conf_dir] + ([dns] if dns else []),
                           input=probe_script(sessions),
                           capture_output=True, text=True, timeout=60)
        ours = p.stdout.splitlines()
        if p.returncode != 0 or any(line.startswith("ERROR") for line in ours):
            print(f"DIFF [{label}] probe failed ({p.returncode}): "
                  f"{ours[:1]} {p.stderr.strip()[:2000]}")
            fails.append((label, "probe"))
            return 0
        with ThreadPoolExecutor(max_workers=8) as ex:
            theirs = [r for replies in ex.map(lambda s: postfix_session(pf, s), sessions)
                      for r in replies]
        if len(ours) != len(theirs):
            print(f"DIFF [{label}] probe gave {len(ours)} replies, postfix {len(theirs)}")
            fails.append((label, "count"))
            return 0
        i = 0
        for name, addr, helo, sender, rcpts in sessions:
            for rcpt in rcpts:
                o, t = ours[i], theirs[i]
                i += 1
                if t is None:
                    continue
                key = (label.split("-")[0], addr, rcpt)
                known = KNOWN_DIFFERENCES.get(key)
                tag = restriction_of(t)
                counts[tag] = counts.get(tag, 0) + 1
                if o == t and not VERBOSE:
                    continue
                what = "ok  " if o == t else "KNOWN" if known else "DIFF"
                print(f"{what} [{label}] {name}[{addr}] helo={helo} from=<{sender}> "
                      f"to=<{rcpt}>\n    ours:    {o}\n    postfix: {t}"
                      + (f"\n    known: {known}" if known and o != t else ""))
                if o != t and not known:
                    fails.append((label, addr, rcpt))
                elif o != t:
                    counts["(known difference)"] = counts.get("(known difference)", 0) + 1
        return sum(1 for t in theirs if t is not None)


# ---------------------------------------------------------------- DNS
# DNS-based restrictions: Postfix's smtpd asks the system resolver, so the
# DNS runs happen inside a private network namespace (ip netns) where
# /etc/netns/NS/resolv.conf (bind-mounted over /etc/resolv.conf by `ip
# netns exec`) names a dnsmasq on 127.0.0.1:53 of that namespace. The
# probe asks the same dnsmasq through lib/dns. This script re-runs itself
# inside the namespace with --dns-inner; the inner run prints its result
# as a last line "@@ JSON" for the outer one.

DNS_CF = COMMON + """\
mynetworks = 127.0.0.0/8, 10.40.0.0/16
mydestination = $myhostname
relay_domains = relay.test
smtpd_client_restrictions = reject_rbl_client bl.test,
    reject_rbl_client filt.test=127.0.0.[2..5], reject_rhsbl_client rhs.test
smtpd_helo_restrictions = reject_unknown_helo_hostname, reject_rhsbl_helo rhs.test
smtpd_sender_restrictions = reject_unknown_sender_domain, reject_rhsbl_sender rhs.test
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_unknown_recipient_domain, reject_rhsbl_recipient rhs.test
"""

# The seed's codes and its "warn_if_reject reject_unknown_hostname", with
# a custom DNSBL reply (rbl_reply_maps) and default_rbl_reply.
DNS_SEED_CF = COMMON + SEED_CODES + """\
mynetworks = 127.0.0.0/8, 10.40.0.0/16
mydestination = $myhostname
relay_domains = relay.test
rbl_reply_maps = texthash:${config_directory}/rbl_reply
default_rbl_reply = $rbl_code Listed: $rbl_class [$rbl_what] by $rbl_domain${rbl_reason?: $rbl_reason}
smtpd_client_restrictions = reject_rbl_client bl.test, reject_rbl_client filt.test
smtpd_helo_restrictions = warn_if_reject reject_unknown_hostname, reject_rhsbl_helo rhs.test
smtpd_sender_restrictions = reject_unknown_sender_domain, reject_non_fqdn_sender
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_unknown_recipient_domain, reject_unknown_helo_hostname
"""


def dns_zones(dnsmasq):
    z = dnsmasq.Zones(local_domains=("test", "in-addr.arpa", "ip6.arpa"))
    z.dnsbl("bl.test", "10.50.0.2", ["127.0.0.2"], "listed by bl")
    z.dnsbl("bl.test", "10.50.0.3", ["127.0.0.3"])
    z.dnsbl("bl.test", "10.50.0.4", ["127.0.0.10"], "outside")
    z.dnsbl("filt.test", "10.50.0.5", ["127.0.0.4"], "filtered in")
    z.dnsbl("filt.test", "10.50.0.6", ["127.0.0.9"], "filtered out")
    z.dnsbl("filt.test", "10.50.0.7", ["127.0.0.9", "127.0.0.2"])
    for d in ("badname.test", "badhelo.test", "badsender.test", "badrcpt.test"):
        z.rhsbl("rhs.test", d, ["127.0.0.2"], f"rhs {d}")
        z.addr(d, "192.0.2.77")
    z.addr("good.helo.test", "192.0.2.1")
    z.addr("aaaaonly.test", "2001:db8::1")
    z.mx("mxonly.test", "mx.mxonly.test", 10)
    z.addr("good.sender.test", "192.0.2.2")
    z.mx("good.sender.test", "mx.good.sender.test", 10)
    z.mx("relay.test", "mx.relay.test", 10)
    z.servfail.append("fail.test")
    return z


DNS_HELOS = ["good.helo.test", "aaaaonly.test", "mxonly.test", "nohost.test", "fail.test",
             "badhelo.test", "[192.0.2.1]", "GOOD.Helo.Test.", "good.helo.test.",
             "GOOD.HELO.TEST", "1.2.3.4", "nodots", "[1.2.3]", "x-.test"]
DNS_SENDERS = ["a@good.sender.test", "a@aonly.none.test", "a@mxonly.test", "a@aaaaonly.test",
               "a@nohost.test", "a@fail.test", "a@badsender.test", "", "a@[192.0.2.1]",
               "a@mx.test", "bare", "a@good.sender.test."]
DNS_RCPTS = ["u@relay.test", "u@good.sender.test", "u@nohost.test", "u@fail.test",
             "u@badrcpt.test", "u@mxonly.test", "u@mx.test", "u@aaaaonly.test"]


def dns_sessions():
    s = []
    for addr in ("10.50.0.1", "10.50.0.2", "10.50.0.3", "10.50.0.4", "10.50.0.5", "10.50.0.6",
                 "10.50.0.7"):
        s.append(("h.test", addr, "good.helo.test", "a@good.sender.test", ["u@relay.test"]))
    s.append(("badname.test", "10.50.1.1", "good.helo.test", "a@good.sender.test",
              ["u@relay.test"]))
    s.append(("[UNAVAILABLE]", "10.50.1.2", "good.helo.test", "a@good.sender.test",
              ["u@relay.test"]))
    for helo in DNS_HELOS:
        s.append(("h.test", "10.50.2.1", helo, "a@good.sender.test", ["u@relay.test"]))
    for snd in DNS_SENDERS:
        s.append(("h.test", "10.50.3.1", "good.helo.test", snd, ["u@relay.test"]))
    s.append(("h.test", "10.40.0.1", "good.helo.test", "a@good.sender.test", DNS_RCPTS))
    s.append(("h.test", "10.40.0.2", "nohost.test", "a@good.sender.test", DNS_RCPTS[:3]))
    s.append(("h.test", "10.40.0.3", "fail.test", "a@fail.test", DNS_RCPTS[:4]))
    return s


def dns_inner(probe):
    """Inside the namespace: dnsmasq on 127.0.0.1:53, two instances."""
    import json
    import dnsmasq
    fails, counts, total = [], {}, 0
    server = dnsmasq.DnsTestServer(dns_zones(dnsmasq))
    server._free_port = lambda: 53     # the port resolv.conf can name
    with server:
        reply = {"rbl_reply": "bl.test $rbl_code 5.7.9 $client_address is in $rbl_domain "
                              "(${rbl_reason?$rbl_reason})\n"}
        for label, cf in (("dns", DNS_CF), ("dns-seed", DNS_SEED_CF)):
            total += run_config(probe, label, cf, reply, dns_sessions(), fails, counts,
                                dns="127.0.0.1:53")
    print("@@ " + json.dumps({"total": total, "fails": len(fails), "counts": counts}))
    return 1 if fails else 0


def dns_outer(probe, fails, counts):
    """Make the namespace, run the DNS part in it, clean up. Returns the
    replies compared (0 when it could not run: told, not failed)."""
    import json
    import shutil
    sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
    import dnsmasq
    if not dnsmasq.dnsmasq_available() or not shutil.which("ip"):
        print("SKIP dns part: dnsmasq or ip(8) missing")
        return 0
    ns = f"mxrp{os.getpid()}"
    etc = f"/etc/netns/{ns}"
    try:
        if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
            print("SKIP dns part: cannot create a network namespace")
            return 0
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
                            probe, "--dns-inner"] + (["-v"] if VERBOSE else []),
                           capture_output=True, text=True, timeout=180)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(etc, ignore_errors=True)
    lines = p.stdout.splitlines()
    result = [json.loads(x[3:]) for x in lines if x.startswith("@@ ")]
    for x in lines:
        if not x.startswith("@@ "):
            print(x)
    if not result:
        print(f"DIFF dns part failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
        fails.append(("dns", "run"))
        return 0
    r = result[0]
    fails.extend([("dns", "reply")] * r["fails"])
    for k, v in r["counts"].items():
        counts[k] = counts.get(k, 0) + v
    return r["total"]


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    probe = sys.argv[1]
    if not postfix_peer.postfix_available() or os.geteuid() != 0:
        print("SKIP: Postfix or root not available")
        return 77
    if "--dns-inner" in sys.argv:
        return dns_inner(probe)
    fails, counts, total = [], {}, 0
    start = time.monotonic()
    for label, main_cf, maps, sessions in config_runs():
        total += run_config(probe, label, main_cf, maps, sessions, fails, counts)
    total += dns_outer(probe, fails, counts)
    print("replies compared, by what Postfix answered: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    known = counts.get("(known difference)", 0)
    print(f"{total - len(fails) - known}/{total} RCPT replies agree, {known} known "
          f"differences, {len(fails)} new ({time.monotonic() - start:.1f} s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
