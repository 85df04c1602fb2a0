#!/usr/bin/env python3
"""matchlist_peer.py - lib/matchlist against Postfix's own match lists.

Usage: matchlist_peer.py PROBE [-v]

PROBE is tests/peer/matchlist_probe (built by meson). A private Postfix
(tests/lib/postfix_peer.py) runs with three lists under test:
  - mynetworks (addr_match_list), seen through
    smtpd_recipient_restrictions = permit_mynetworks, reject:
    RCPT TO a relayed domain gets "Access denied" unless the client matched;
  - smtpd_authorized_verp_clients (namadr_list: client name, then address),
    seen as the XVERP keyword in the EHLO reply;
  - relay_domains (domain_list), seen through
    smtpd_relay_restrictions = reject_unauth_destination: "Relay access
    denied" unless the domain matched.
Each client (name, address) is one session: XCLIENT NAME= ADDR= (allowed
from 127.0.0.1; Postfix allows one XCLIENT per connection), EHLO, MAIL,
RCPT. The domains go as many RCPTs in one session. The expanded list
values (postconf -x) are handed to the probe with the same clients and
domains, and every answer must agree. Two runs: the default
parent_domain_matches_subdomains (mynetworks and relay_domains in it), and
one where none of the three is in it. (Postfix's smtpd never applies the
parent-domain style to smtpd_authorized_verp_clients, under either of its
names: that list is always compared without it.) A third instance has
broken network patterns: the probe must refuse the list, and Postfix must
answer a client that reaches the bad pattern with a 4xx (it parses network
patterns lazily; see the deliberate difference in lib/matchlist.h).
Finally mynetworks_style host/subnet/class: postconf's computed mynetworks
against the probe's, from this machine's interfaces.

Exit 0 when all agree, 1 on a difference, 77 without Postfix or root.
"""
import ipaddress
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import postfix_peer  # noqa: E402
from smtp_client import RawSmtp  # noqa: E402

VERBOSE = "-v" in sys.argv

FILES = {
    "nets.cidr": "10.50.0.0/16 anything\n[2001:db8:50::]/48 x\n",
    "addrs": "10.60.1.1 ok\n2001:db8:60::1 ok\n",
    "inc": "# comment line\n10.70.0.0/16, 10.71.1.1\n  10.72.0.0/16\n\n[2001:db8:70::]/48\n",
    "neg": "10.80.0.0/16 !10.81.0.0/16\n",
    "names.re": "/^mail[0-9]+\\./ ok\n/^10\\.90\\./ ok\n",
    "hosts": "parent.test ok\n.dotted.test ok\n10.77.1.1 ok\nunknown ok\n",
    "domains": "tdom.example ok\n.tdot.example ok\n",
    "dom.re": "/^re[0-9]+\\.example$/ ok\n",
}

MYNETWORKS = ("!10.9.0.0/16, 10.0.0.0/12 [192.168.1.1] 172.16.5.5 [2001:db8::]/32 "
              "[::1]/128 [2001:db8:ff::1] 0.0.0.0/32 example.com .dotnet.test 1.2.3.0/280 "
              "!/${config_directory}/neg /${config_directory}/inc "
              "cidr:${config_directory}/nets.cidr texthash:${config_directory}/addrs "
              "inline:{10.99.9.9=x}")
VERP = (".example.com, !bad.example.org, example.org, 172.16.0.0/12, [2001:db8:1::]/48, "
        "!10.66.0.0/16, 10.64.0.0/10, regexp:${config_directory}/names.re, "
        "texthash:${config_directory}/hosts, Mixed.CASE.test")
RELAY = ("always.relay, example.net, .dot.example, !no.example.com, example.com, "
         "texthash:${config_directory}/domains, regexp:${config_directory}/dom.re, "
         "[1.2.3.4], !/${config_directory}/neg")

CLIENTS = [
    ("a.example.com", "10.1.2.3"), ("example.com", "11.0.0.1"), ("x.y.example.com", "11.0.0.1"),
    ("bad.example.org", "172.16.1.1"), ("ok.example.org", "11.0.0.1"),
    ("example.org", "11.0.0.1"), ("sub.bad.example.org", "11.0.0.1"),
    ("[UNAVAILABLE]", "172.16.9.9"), ("[UNAVAILABLE]", "11.2.2.2"),
    ("[TEMPUNAVAIL]", "10.66.1.1"), ("h.test", "10.66.1.1"), ("h.test", "10.65.1.1"),
    ("h.test", "10.9.1.1"), ("h.test", "10.15.255.255"), ("h.test", "10.16.0.1"),
    ("h.test", "192.168.1.1"), ("h.test", "192.168.1.2"), ("h.test", "172.16.5.5"),
    ("h.test", "172.16.5.6"), ("h.test", "1.2.3.77"), ("h.test", "1.2.4.1"),
    ("h.test", "0.0.0.0"), ("h.test", "10.50.3.3"), ("h.test", "10.60.1.1"),
    ("h.test", "10.60.1.2"), ("h.test", "10.70.1.1"), ("h.test", "10.71.1.1"),
    ("h.test", "10.72.9.9"), ("h.test", "10.80.1.1"), ("h.test", "10.81.1.1"),
    ("h.test", "10.99.9.9"), ("mail7.other.test", "11.3.3.3"), ("xmail7.other.test", "11.3.3.3"),
    ("parent.test", "11.3.3.3"), ("a.parent.test", "11.3.3.3"), ("dotted.test", "11.3.3.3"),
    ("a.dotted.test", "11.3.3.3"), ("h.test", "10.77.1.1"), ("h.test", "10.90.1.1"),
    ("mixed.case.test", "11.4.4.4"), ("MIXED.Case.Test", "11.4.4.4"),
    ("h.test", "IPv6:2001:db8::1"), ("h.test", "IPv6:2001:db9::1"),
    ("h.test", "IPv6:2001:DB8:1::5"), ("h.test", "IPv6:2001:db8:50::9"),
    ("h.test", "IPv6:2001:db8:60::1"), ("h.test", "IPv6:2001:db8:70::1"),
    ("h.test", "IPv6:::1"), ("h.test", "IPv6:2001:db8:ff::1"),
    ("h.test", "IPv6:2001:db8:ff:0:0:0:0:1"), ("h.test", "IPv6:fd00::1"),
    ("h.test", "IPv6:::ffff:10.1.1.1"), ("h.test", "IPv6:::ffff:11.1.1.1"),
    ("example.com", "IPv6:fd00::2"), ("a.dotnet.test", "11.5.5.5"), ("dotnet.test", "11.5.5.5"),
]
DOMAINS = [
    "always.relay", "example.net", "sub.example.net", "dot.example", "a.dot.example",
    "no.example.com", "x.no.example.com", "example.com", "yes.example.com", "tdom.example",
    "a.tdom.example", "tdot.example", "b.tdot.example", "re5.example", "x.re5.example",
    "EXAMPLE.NET", "other.test", "[1.2.3.4]", "com",
]

MAIN_CF = f"""compatibility_level = 3.6
mynetworks = {MYNETWORKS}
smtpd_authorized_verp_clients = {VERP}
relay_domains = {RELAY}
smtpd_authorized_xclient_hosts = 127.0.0.1
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_junk_command_limit = 100000
smtpd_recipient_limit = 1000
mydestination =
"""

BAD_CF = """compatibility_level = 3.6
mynetworks = 10.0.0.0/8 1.2.3.4/24 [2001:db8::]/32
smtpd_authorized_xclient_hosts = 127.0.0.1
smtpd_relay_restrictions =
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
mydestination =
"""


def probe_addr(text):
    """The client address as smtpd hands it to its lists."""
    if text.startswith("IPv6:"):
        return ipaddress.IPv6Address(text[5:]).compressed
    return text


def probe_name(text):
    return "unknown" if text in ("[UNAVAILABLE]", "[TEMPUNAVAIL]") else text


def run_probe(probe, kind, pname, parent, value, queries):
    p = subprocess.run([probe, "list", kind, pname, "1" if parent else "0", value],
                       input="".join(q + "\n" for q in queries), capture_output=True,
                       text=True, timeout=60)
    out = p.stdout.splitlines()
    if p.returncode == 2:
        return None, out[0] if out else p.stderr
    if p.returncode != 0 or len(out) != len(queries):
        raise RuntimeError(f"probe failed ({p.returncode}): {p.stderr}")
    return out, None


def postfix_client(pf, name, addr):
    s = RawSmtp(pf.host, pf.port)
    try:
        r = s.cmd(f"XCLIENT NAME={name} ADDR={addr}")
        if not r[0].startswith("220"):
            raise RuntimeError(f"XCLIENT {name} {addr}: {r}")
        ehlo = s.cmd("EHLO probe.test")
        verp = "1" if any(line[4:].split(" ")[0] == "XVERP" for line in ehlo) else "0"
        s.cmd("MAIL FROM:<>")
        r = s.cmd("RCPT TO:<u@always.relay>")[0]
        mynet = "0" if "Access denied" in r else "E" if r.startswith("4") else "1"
        return verp, mynet, r
    finally:
        s.close()


def postfix_domains(pf, domains):
    s = RawSmtp(pf.host, pf.port)
    out = []
    try:
        s.cmd("EHLO probe.test")
        s.cmd("MAIL FROM:<>")
        for d in domains:
            r = s.cmd(f"RCPT TO:<u@{d}>")[0]
            out.append(("0" if "Relay access denied" in r else "E" if r.startswith("4")
                        else "1", r))
    finally:
        s.close()
    return out


def compare(label, queries, ours, theirs, fails):
    for q, o, t in zip(queries, ours, theirs):
        tv, detail = t if isinstance(t, tuple) else (t, "")
        if VERBOSE or o != tv:
            print(f"{'ok  ' if o == tv else 'DIFF'} {label}: {q!r}: ours {o}, postfix {tv} {detail}")
        if o != tv:
            fails.append((label, q))


def run_config(probe, settings, parents, fails):
    # IPv6 client addresses need IPv6 enabled (XCLIENT: "Bad ADDR syntax").
    settings = dict(settings, inet_protocols="all")
    with postfix_peer.PostfixInstance(main_cf=MAIN_CF, maps=FILES, settings=settings) as pf:
        values = {n: pf.postconf("-h", "-x", n).strip()
                  for n in ("mynetworks", "smtpd_authorized_verp_clients", "relay_domains")}
        pairs = [(probe_name(n), probe_addr(a)) for n, a in CLIENTS]
        verp_ours, e1 = run_probe(probe, "namadr", "smtpd_authorized_verp_clients",
                                  parents["smtpd_authorized_verp_clients"],
                                  values["smtpd_authorized_verp_clients"],
                                  [f"{n} {a}" for n, a in pairs])
        mynet_ours, e2 = run_probe(probe, "namadr", "mynetworks", parents["mynetworks"],
                                   values["mynetworks"], [f"{n} {a}" for n, a in pairs])
        dom_ours, e3 = run_probe(probe, "domain", "relay_domains", parents["relay_domains"],
                                 values["relay_domains"], [d.lower() for d in DOMAINS])
        for e in (e1, e2, e3):
            if e:
                print(f"DIFF probe refused a list Postfix accepts: {e}")
                fails.append(("compile", e))
                return
        verp_pf, mynet_pf = [], []
        for name, addr in CLIENTS:
            v, m, r = postfix_client(pf, name, addr)
            verp_pf.append(v)
            mynet_pf.append((m, r))
        tag = ",".join(k for k, v in parents.items() if v)
        compare(f"[{tag}] verp_clients", CLIENTS, verp_ours, verp_pf, fails)
        compare(f"[{tag}] mynetworks", CLIENTS, mynet_ours, mynet_pf, fails)
        compare(f"[{tag}] relay_domains", DOMAINS, dom_ours, postfix_domains(pf, DOMAINS), fails)


def run_bad(probe, fails):
    with postfix_peer.PostfixInstance(main_cf=BAD_CF, settings={"inet_protocols": "all"}) as pf:
        value = pf.postconf("-h", "-x", "mynetworks").strip()
        _, err = run_probe(probe, "addr", "mynetworks", False, value, [])
        if not err or "non-null host address bits" not in err or "1.2.3.4/24" not in err:
            print(f"DIFF bad mynetworks not refused with the reason: {err!r}")
            fails.append(("bad", value))
        expect = [("10.1.1.1", "1"), ("11.1.1.1", "E"), ("IPv6:2001:db8::1", "1")]
        for addr, want in expect:
            _, got, r = postfix_client(pf, "h.test", addr)
            if VERBOSE or got != want:
                print(f"{'ok  ' if got == want else 'DIFF'} bad mynetworks {addr}: "
                      f"postfix {got} ({r}), expected {want}")
            if got != want:
                fails.append(("bad", addr))


def run_styles(probe, fails):
    import tempfile
    for style in ("host", "subnet", "class"):
        for proto, flags in (("ipv4", "4"), ("all", "46")):
            with tempfile.TemporaryDirectory() as d:
                with open(os.path.join(d, "main.cf"), "w") as f:
                    f.write(f"compatibility_level = 3.6\nmynetworks_style = {style}\n"
                            f"inet_protocols = {proto}\n")
                with open(os.path.join(d, "master.cf"), "w") as f:
                    f.write("")
                theirs = subprocess.run(["postconf", "-c", d, "-h", "mynetworks"],
                                        capture_output=True, text=True).stdout.strip()
            ours = subprocess.run([probe, "mynetworks", style, flags], capture_output=True,
                                  text=True).stdout.strip()
            if VERBOSE or ours != theirs:
                print(f"{'ok  ' if ours == theirs else 'DIFF'} mynetworks_style={style} "
                      f"inet_protocols={proto}: ours {ours!r}, postconf {theirs!r}")
            if ours != theirs:
                fails.append(("style", style))


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    probe = sys.argv[1]
    if not postfix_peer.postfix_available() or os.geteuid() != 0:
        print("SKIP: Postfix or root not available")
        return 77
    fails = []
    run_config(probe, {}, {"mynetworks": True, "smtpd_authorized_verp_clients": False,
                           "relay_domains": True}, fails)
    run_config(probe, {"parent_domain_matches_subdomains": "debug_peer_list"},
               {"mynetworks": False, "smtpd_authorized_verp_clients": False,
                "relay_domains": False}, fails)
    run_bad(probe, fails)
    run_styles(probe, fails)
    n = 2 * (2 * len(CLIENTS) + len(DOMAINS)) + 3 + 6
    print(f"{n - len(fails)}/{n} answers agree")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
