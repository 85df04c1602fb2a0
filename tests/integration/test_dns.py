#!/usr/bin/env python3
"""test_dns.py PROBE - lib/dns.c against a real dnsmasq on loopback.

Starts tests/lib/dnsmasq.py's DnsTestServer with test zones, runs the C
probe (tests/integration/dns_probe.c: lib/dns.c driven by poll()) with
dns_resolver = that server, and checks each result: PTR with and without
forward confirmation, no PTR, IPv6 PTR, A/AAAA, NODATA vs NXDOMAIN, MX with
preferences, DNSBL listed/not listed with several A records and TXT,
RHSBL, IPv6 DNSBL, SERVFAIL (tempfail), a server that never answers
(timeout within the deadline), the in-flight cap, and 400 queries at once.
Exit 77 when dnsmasq is not installed. Every process is stopped by pid.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from dnsmasq import DnsTestServer, Zones, dnsmasq_available  # noqa: E402

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def probe(exe, resolver, queries, *opts):
    r = subprocess.run([exe, "-s", resolver] + list(opts) + queries,
                       capture_output=True, text=True, timeout=90)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    if r.returncode != 0:
        FAILS.append("probe exit %d: %s" % (r.returncode, r.stderr))
    return {x["q"]: x for x in lines if "q" in x}, lines[-1], r


def zones():
    z = Zones(ttl=123)
    z.addr("good.test", "192.0.2.1", "2001:db8::1")      # PTR implied
    z.ptr("192.0.2.2", "forged.test").addr("forged.test", "192.0.2.99")
    z.ptr("192.0.2.6", "nowhere.test")                    # PTR, name NXDOMAIN
    z.ptr("192.0.2.7", "bad_-.name..test")                # PTR, invalid name
    z.ptr("2001:db8::2", "v6forged.test").addr("v6forged.test", "2001:db8::99")
    z.mx("mx.test", "mx1.test", 10).mx("mx.test", "mx2.test", 20).mx("mx.test", "mx0.test", 5)
    z.dnsbl("bl.test", "192.0.2.3", ["127.0.0.2", "127.0.0.4", "127.0.0.11"], "listed: see bl.test")
    z.dnsbl("wl.test", "192.0.2.1", ["127.0.9.3"])
    z.dnsbl("bl.test", "2001:db8::3", ["127.0.0.10"])
    z.rhsbl("dbl.test", "spammer.example", ["127.0.1.2"], "spam domain")
    for i in range(100):
        z.dnsbl("many.test", "10.0.0.%d" % i, ["127.0.0.%d" % (i % 200 + 2)])
    z.ptr("192.0.2.4", "x.slow.test").ptr("192.0.2.5", "x.fail.test")
    z.slow = ["slow.test"]
    z.servfail = ["fail.test"]
    return z


def main():
    if len(sys.argv) != 2:
        print("usage: test_dns.py PROBE", file=sys.stderr)
        return 2
    exe = sys.argv[1]
    if not dnsmasq_available():
        print("dnsmasq not installed: skipped")
        return 77
    with DnsTestServer(zones()) as dns:
        res = dns.resolver
        qs = ["ptr/192.0.2.1", "ptr/2001:db8::1", "ptr/192.0.2.200",
              "client/192.0.2.1", "client/2001:db8::1", "client/::ffff:192.0.2.1",
              "client/192.0.2.2", "client/2001:db8::2", "client/192.0.2.6",
              "client/192.0.2.7", "client/192.0.2.200", "client/192.0.2.5", "client/192.0.2.4",
              "a/good.test", "aaaa/good.test", "mx/good.test", "a/nope.test", "mx/mx.test",
              "dnsbl/192.0.2.3/bl.test", "txt/3.2.0.192.bl.test", "dnsbl/192.0.2.9/bl.test",
              "dnsbl/192.0.2.1/wl.test", "dnsbl/2001:db8::3/bl.test",
              "rhsbl/spammer.example/dbl.test", "rhsbl/spammer.example./dbl.test",
              "rhsbl/good.example/dbl.test", "a/x.fail.test", "a/x.slow.test",
              "a/" + "x" * 300, "dnsbl/not-an-address/bl.test"]
        # c-ares alone would wait 1000 + 2000 ms: the 1500 ms deadline ends it.
        r, tail, _ = probe(exe, res, qs, "-t", "1500", "-r", "1000")

        def st(q):
            return r.get(q, {}).get("status")

        check(st("ptr/192.0.2.1") == "ok" and r["ptr/192.0.2.1"]["answers"] == ["good.test"]
              and r["ptr/192.0.2.1"]["ttl"] == 123, "PTR of 192.0.2.1 with TTL")
        check(r["ptr/2001:db8::1"]["answers"] == ["good.test"], "IPv6 PTR")
        check(st("ptr/192.0.2.200") == "nxdomain", "no PTR is nxdomain")
        for q in ("client/192.0.2.1", "client/2001:db8::1", "client/::ffff:192.0.2.1"):
            check(st(q) == "ok" and r[q]["name"] == "good.test" and r[q]["namestatus"] == 0,
                  "%s forward-confirmed" % q)
        for q, name in (("client/192.0.2.2", "forged.test"), ("client/2001:db8::2", "v6forged.test"),
                        ("client/192.0.2.6", "nowhere.test")):
            check(st(q) == "forged" and r[q]["name"] == name and r[q]["reverse"] == 0
                  and r[q]["namestatus"] == 2, "%s forged: reverse ok, name perm" % q)
        for q in ("client/192.0.2.7", "client/192.0.2.200"):
            check(st(q) == "noptr" and r[q]["reverse"] == 2 and r[q]["namestatus"] == 2,
                  "%s: no (valid) PTR is perm for both" % q)
        for q in ("client/192.0.2.5", "client/192.0.2.4"):
            check(st(q) == "fwd_temp" and r[q]["reverse"] == 0 and r[q]["namestatus"] == 1,
                  "%s: forward tempfail/timeout is temp for the name only" % q)
        check(r["a/good.test"]["answers"] == ["192.0.2.1"], "A")
        check(r["aaaa/good.test"]["answers"] == ["2001:db8::1"], "AAAA")
        check(st("mx/good.test") == "nodata", "existing name without MX is nodata")
        check(st("a/nope.test") == "nxdomain", "unknown name is nxdomain")
        mx = sorted(tuple(x) for x in r["mx/mx.test"]["answers"])
        check(mx == [(5, "mx0.test"), (10, "mx1.test"), (20, "mx2.test")], "MX with preferences")
        check(sorted(r["dnsbl/192.0.2.3/bl.test"]["answers"]) ==
              ["127.0.0.11", "127.0.0.2", "127.0.0.4"], "DNSBL listed with three A records")
        check(r["txt/3.2.0.192.bl.test"]["answers"] == ["listed: see bl.test"], "DNSBL TXT")
        check(st("dnsbl/192.0.2.9/bl.test") == "nxdomain", "DNSBL not listed")
        check(r["dnsbl/192.0.2.1/wl.test"]["answers"] == ["127.0.9.3"], "DNSWL listed")
        check(r["dnsbl/2001:db8::3/bl.test"]["answers"] == ["127.0.0.10"], "IPv6 DNSBL (nibbles)")
        check(r["rhsbl/spammer.example/dbl.test"]["answers"] == ["127.0.1.2"], "RHSBL listed")
        check(r["rhsbl/spammer.example./dbl.test"]["answers"] == ["127.0.1.2"], "RHSBL, FQDN dot")
        check(st("rhsbl/good.example/dbl.test") == "nxdomain", "RHSBL not listed")
        check(st("a/x.fail.test") == "tempfail", "SERVFAIL is tempfail")
        slow = r["a/x.slow.test"]
        check(slow["status"] == "timeout" and 1400 <= slow["ms"] <= 2500,
              "silent server: timeout at the 1500 ms deadline (%s)" % slow)
        check(r["a/" + "x" * 300].get("error") == -22, "over-long name refused (-EINVAL)")
        check(r["dnsbl/not-an-address/bl.test"].get("error") == -22, "bad address refused")
        check(dns.hole.swallowed > 0 and dns.hole.failed > 0, "black hole saw the queries")

        # The in-flight cap: a full table refuses at once with -EAGAIN.
        qs = ["a/x%d.slow.test" % i for i in range(8)]
        r, tail, _ = probe(exe, res, qs, "-m", "5", "-t", "300", "-r", "200")
        errs = [x for x in r.values() if x.get("error") == -11]
        timeouts = [x for x in r.values() if x.get("status") == "timeout"]
        check(len(errs) == 3 and len(timeouts) == 5 and tail["max_inflight"] == 5,
              "cap of 5: 5 time out, 3 refused with -EAGAIN (%s)" % list(r.values()))

        # 400 queries at once: every one answered right.
        qs = []
        for i in range(100):
            qs += ["dnsbl/10.0.0.%d/many.test" % i, "dnsbl/10.0.1.%d/many.test" % i,
                   "client/192.0.2.1", "mx/mx.test"]
        r_lines = subprocess.run([exe, "-s", res, "-t", "5000"] + qs, capture_output=True,
                                 text=True, timeout=90)
        lines = [json.loads(x) for x in r_lines.stdout.splitlines()]
        ok = r_lines.returncode == 0 and len(lines) == len(qs) + 1
        for q, x in zip(qs, lines):
            if q.startswith("dnsbl/10.0.0."):
                i = int(q.split("/")[1].rsplit(".", 1)[1])
                ok &= x.get("answers") == ["127.0.0.%d" % (i % 200 + 2)]
            elif q.startswith("dnsbl/10.0.1."):
                ok &= x.get("status") == "nxdomain"
            elif q.startswith("client/"):
                ok &= x.get("status") == "ok"
            else:
                ok &= len(x.get("answers", [])) == 3
        check(ok and lines[-1]["max_inflight"] == 400, "400 parallel queries all right")

        # The system resolver path: no servers configured still opens.
        sysr = subprocess.run([exe], capture_output=True, text=True, timeout=30)
        check(sysr.returncode == 0, "dns_open with the system resolver")
        if FAILS:
            print(dns.log()[-4000:])
    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
