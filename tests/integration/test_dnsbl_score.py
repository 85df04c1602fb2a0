#!/usr/bin/env python3
"""test_dnsbl_score.py DRIVE - lib/dnsbl_score.c against a real dnsmasq.

Starts tests/lib/dnsmasq.py's DnsTestServer with DNSBL test zones and runs
the C driver (tests/integration/dnsbl_drive.c) with postscreen_dnsbl_sites
lists: a listed client (weights summed over two lists, one with a reply
filter), an allowlisted client (negative weight through a filter), a reply
the filter rejects, a client listed nowhere, IPv6, two connections of one
client sharing their queries (counted in dnsmasq's query log), and a zone
that never answers: the score completes at postscreen_dnsbl_timeout with
what did answer, or is read partial when the greet wait ends first.
Exit 77 without dnsmasq. Every process is stopped by pid.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from dnsmasq import DnsTestServer, Zones, dnsmasq_available  # noqa: E402

FAILS = []
SITES = "bl.test*2, fl.test=127.0.0.[2..3]*3, wl.test=127.0.[0..255].[2..3]*-2, slow.test"
FAST = "bl.test*2, fl.test=127.0.0.[2..3]*3, wl.test=127.0.[0..255].[2..3]*-2"


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def drive(exe, resolver, sites, addrs, *opts):
    r = subprocess.run([exe, "-s", resolver, "-l", sites] + list(opts) + addrs,
                       capture_output=True, text=True, timeout=90)
    if r.returncode != 0:
        FAILS.append("drive exit %d: %s" % (r.returncode, r.stderr))
        print("FAIL: drive exit", r.returncode, r.stderr)
        return {}, {}
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    out = {}
    for x in lines[:-1]:
        out.setdefault(x["addr"], []).append(x)
    return out, lines[-1]


def zones():
    z = Zones(ttl=300)
    z.dnsbl("bl.test", "192.0.2.3", ["127.0.0.2", "127.0.0.4"])
    z.dnsbl("fl.test", "192.0.2.3", ["127.0.0.2"])
    z.dnsbl("fl.test", "192.0.2.10", ["127.0.0.10"])       # filtered out
    z.dnsbl("wl.test", "192.0.2.1", ["127.0.9.3"])         # allowlisted
    z.dnsbl("bl.test", "2001:db8::3", ["127.0.0.2"])
    z.slow = ["slow.test"]
    return z


def main():
    if len(sys.argv) != 2:
        print("usage: test_dnsbl_score.py DRIVE", file=sys.stderr)
        return 2
    exe = sys.argv[1]
    if not dnsmasq_available():
        print("dnsmasq not installed: skipped")
        return 77
    with DnsTestServer(zones()) as dns:
        res = dns.resolver
        addrs = ["192.0.2.3", "192.0.2.1", "192.0.2.10", "192.0.2.99", "2001:db8::3"]

        # 1. Every list answers: complete, exact scores, quickly.
        out, tail = drive(exe, res, FAST, addrs + ["192.0.2.3"], "-t", "5000")
        listed = out.get("192.0.2.3", [])
        check(len(listed) == 2, "two results for the repeated client: %s" % listed)
        for x in listed:
            check(x["score"] == 5 and x["name"] == "fl.test" and x["listed"] == 2
                  and x["complete"] and x["ttl"] == 300,
                  "listed client: bl*2 + fl*3 = 5, named by the larger weight, TTL 300: %s" % x)
        a = out.get("192.0.2.1", [{}])[0]
        check(a.get("score") == -2 and a.get("listed") == 1 and a.get("failed") == 0,
              "allowlisted client scores -2: %s" % a)
        check(60 <= a.get("ttl", 0) <= 300, "allowlist TTL from the answers: %s" % a)
        f = out.get("192.0.2.10", [{}])[0]
        check(f.get("score") == 0 and f.get("listed") == 0 and f.get("answered") == 3,
              "a reply the filter rejects counts nothing: %s" % f)
        u = out.get("192.0.2.99", [{}])[0]
        check(u.get("score") == 0 and u.get("name") == "" and u.get("complete"),
              "client listed nowhere: %s" % u)
        check(60 <= u.get("ttl", 0) <= 3600, "pass TTL within min..max: %s" % u)
        v6 = out.get("2001:db8::3", [{}])[0]
        check(v6.get("score") == 2 and v6.get("name") == "bl.test", "IPv6 client: %s" % v6)
        check(all(x["ms"] < 3000 for xs in out.values() for x in xs), "answers are quick")
        check(tail.get("active") == 0, "nothing left active: %s" % tail)
        # The repeated client shared its queries: one per zone in the log.
        log = dns.log()
        n = log.count("query[A] 3.2.0.192.bl.test")
        check(n == 1, "shared queries: 3.2.0.192.bl.test asked %d times" % n)

        # 2. A zone that never answers: done at the 1500 ms deadline with
        #    the partial score; a pass then gets the minimal TTL.
        out, tail = drive(exe, res, SITES, ["192.0.2.3", "192.0.2.99"], "-t", "1500")
        x = out.get("192.0.2.3", [{}])[0]
        check(x.get("score") == 5 and x.get("failed") == 1 and x.get("answered") == 3
              and x.get("complete") and not x.get("partial"),
              "slow zone: partial score 5 at the deadline: %s" % x)
        check(1300 <= x.get("ms", 0) < 6000, "ended by the deadline: %s" % x)
        y = out.get("192.0.2.99", [{}])[0]
        check(y.get("score") == 0 and y.get("failed") == 1 and y.get("ttl") == 60,
              "pass with a timed-out list: min TTL: %s" % y)

        # 3. The greet wait ends first: read partial, released.
        out, tail = drive(exe, res, SITES, ["192.0.2.3", "192.0.2.99"], "-t", "5000",
                          "-g", "400")
        x = out.get("192.0.2.3", [{}])[0]
        check(x.get("partial") and not x.get("complete") and x.get("score") == 5
              and x.get("ttl") == 300,
              "partial read at the greet wait: score so far 5: %s" % x)
        y = out.get("192.0.2.99", [{}])[0]
        check(y.get("partial") and y.get("score") == 0 and y.get("ttl") == 60,
              "partial pass is cached for the minimal TTL only: %s" % y)
        check(x.get("ms", 99999) < 2000, "did not wait for the slow zone: %s" % x)
        check(tail.get("active") == 2, "released entries wait for their queries: %s" % tail)
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
