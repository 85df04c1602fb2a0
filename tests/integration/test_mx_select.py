#!/usr/bin/env python3
"""test_mx_select.py DRIVE - lib/mx_select (the backup-MX rule) against a real
dnsmasq on loopback.

Starts tests/lib/dnsmasq.py's DnsTestServer with MX zones and runs the C
driver (tests/integration/mx_select_drive.c: mx_lookup_start() driven by
poll()) with the server as resolver and 192.0.2.99 as "our" address:
we are the primary MX (loop, 5.4.6), we are a backup (only better MX
hosts), equal preferences randomised (every order seen over seeds, the
best preference always first), a null MX (5.1.0), no MX (the domain's
A record), no such domain (5.4.4), a SERVFAIL (4.4.3, deferred), a backup
whose better MX has no address (4.4.4), and a [host] next hop without MX
lookup. Exit 77 when dnsmasq is not installed. dnsmasq is stopped by pid.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from dnsmasq import DnsTestServer, Zones, dnsmasq_available  # noqa: E402

SELF = "192.0.2.99"
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def drive(exe, resolver, domains, *opts):
    r = subprocess.run([exe, "-s", resolver, "-S", SELF, "-t", "3000"] + list(opts) + domains,
                       capture_output=True, text=True, timeout=90)
    if r.returncode != 0:
        FAILS.append("driver exit %d: %s" % (r.returncode, r.stderr))
    return {x["d"]: x for x in (json.loads(l) for l in r.stdout.splitlines()) if "d" in x}


def zones():
    z = Zones(ttl=60)
    z.addr("us.test", SELF)
    z.addr("b.test", "192.0.2.20")
    z.mx("primary.test", "us.test", 10).mx("primary.test", "b.test", 20)
    z.addr("p1.test", "192.0.2.1").addr("p2.test", "192.0.2.2").addr("c.test", "192.0.2.30")
    z.mx("backup.test", "p1.test", 10).mx("backup.test", "p2.test", 10)
    z.mx("backup.test", "us.test", 20).mx("backup.test", "c.test", 30)
    z.addr("best.test", "192.0.2.5")
    for i in (1, 2, 3):
        z.addr("t%d.test" % i, "192.0.2.1%d" % i)
        z.mx("tie.test", "t%d.test" % i, 10)
    z.mx("tie.test", "best.test", 5)
    z.mx("nullmx.test", ".", 0)
    z.addr("nomx.test", "192.0.2.50")
    z.mx("lost.test", "ghost.test", 10).mx("lost.test", "us.test", 20)
    z.addr("v6.test", "2001:db8::6").addr("v6.test", "192.0.2.6")
    z.mx("dual.test", "v6.test", 10)
    z.servfail = ["fail.test"]
    return z


def main():
    if len(sys.argv) != 2:
        print("usage: test_mx_select.py DRIVE")
        return 2
    if not dnsmasq_available():
        print("dnsmasq not installed: skipped")
        return 77
    exe = sys.argv[1]
    with DnsTestServer(zones()) as dns:
        r = drive(exe, dns.resolver, ["primary.test", "backup.test", "nullmx.test", "nomx.test",
                                      "lost.test", "x.fail.test", "dual.test"])
        p = r.get("primary.test", {})
        check(p.get("outcome") == "perm" and p.get("status") == "5.4.6" and p.get("self")
              and p.get("why") == "mail for primary.test loops back to myself",
              "we are the primary: %s" % p)
        b = r.get("backup.test", {})
        check(b.get("outcome") == "ok" and b.get("self") and
              sorted(tuple(c) for c in b.get("c", [])) ==
              [(10, "p1.test", "192.0.2.1"), (10, "p2.test", "192.0.2.2")],
              "backup: only the better MX hosts: %s" % b)
        n = r.get("nullmx.test", {})
        check(n.get("outcome") == "perm" and n.get("status") == "5.1.0" and
              n.get("why") == "Domain nullmx.test does not accept mail (nullMX)",
              "null MX: %s" % n)
        i = r.get("nomx.test", {})
        check(i.get("outcome") == "ok" and i.get("implicit") and
              i.get("c") == [[0, "nomx.test", "192.0.2.50"]], "no MX: the A record: %s" % i)
        lo = r.get("lost.test", {})
        check(lo.get("outcome") == "temp" and lo.get("status") == "4.4.4" and
              lo.get("why") == "unable to find primary relay for lost.test",
              "backup, primary without address: %s" % lo)
        f = r.get("x.fail.test", {})
        check(f.get("outcome") == "temp" and f.get("status") == "4.4.3" and
              f.get("why") == "Host or domain name not found. Name service error for "
              "name=x.fail.test type=MX: Host not found, try again", "SERVFAIL: %s" % f)
        d = r.get("dual.test", {})
        check(d.get("outcome") == "ok" and
              sorted(c[2] for c in d.get("c", [])) == ["192.0.2.6", "2001:db8::6"],
              "A and AAAA of an MX host: %s" % d)

        # inet_protocols = ipv4; NXDOMAIN (the A lookup's text, 5.4.4).
        r = drive(exe, dns.resolver, ["nosuch.test", "dual.test"], "-4")
        x = r.get("nosuch.test", {})
        check(x.get("outcome") == "perm" and x.get("status") == "5.4.4" and
              x.get("why") == "Host or domain name not found. Name service error for "
              "name=nosuch.test type=A: Host not found", "NXDOMAIN: %s" % x)
        check(r.get("dual.test", {}).get("c") == [[10, "v6.test", "192.0.2.6"]],
              "ipv4 only: %s" % r.get("dual.test"))

        # [host]: no MX lookup, even though the name has MX records.
        r = drive(exe, dns.resolver, ["b.test", "us.test"], "-x", "-4")
        check(r.get("b.test", {}).get("c") == [[0, "b.test", "192.0.2.20"]],
              "[host] next hop: %s" % r.get("b.test"))
        check(r.get("us.test", {}).get("status") == "5.4.6", "[host] is us: %s" % r.get("us.test"))

        # Equal preferences randomised, the better one always first.
        orders = set()
        for seed in range(1, 41):
            t = drive(exe, dns.resolver, ["tie.test"], "-r", str(seed)).get("tie.test", {})
            c = t.get("c", [])
            check(len(c) == 4 and c[0] == [5, "best.test", "192.0.2.5"],
                  "tie: best first (%s)" % t)
            orders.add(tuple(x[1] for x in c[1:]))
        check(len(orders) == 6, "tie: all 6 orders of t1..t3 seen: %s" % sorted(orders))
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
