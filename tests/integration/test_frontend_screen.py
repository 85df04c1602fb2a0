#!/usr/bin/env python3
"""test_frontend_screen.py - the frontend's DNSBL test, screening cache and
connection limits (frontend/fe_screen*.c) over real sockets, through the real
daemon, with the DNS lists served by a private dnsmasq on loopback.

Usage: test_frontend_screen.py MXSCREEN_BINARY MXSCREEN_CTL [-v] [--keep]

  dnsbl   postscreen_dnsbl_sites = bl.test*2, wl.test=127.0.9.3*-2,
          threshold 1, allowlist threshold -1, action drop, greet action
          enforce with a 3 s greet wait:
          - listed (127.0.0.10): the teaser, then after the greet wait
            "521 5.7.1 Service unavailable; client [127.0.0.10] blocked
            using bl.test", logged "DNSBL rank 2 for [127.0.0.10]:PORT";
          - allowlisted (127.0.0.11): the worker's 220 long before the greet
            wait is over (the allowlist ends it, as Postfix's
            psc_whitelist_non_dnsbl);
          - not listed (127.0.0.12): 220 after the greet wait, PASS NEW,
            mail delivered; its second connection is "PASS OLD" and gets the
            worker's 220 at once, without the teaser;
          - the cache file is Postfix's format (read back with postmap -q
            when postmap is there).
  slow    bl.test*2 plus a zone that never answers, action enforce, greet
          action ignore (the wait is for DNS only), greet wait 2 s:
          - listed: enforce engine, RCPT gets "550 5.7.1 ... blocked using
            bl.test" after the partial score at the greet wait's end;
          - not listed: passes at the end of the greet wait, PASS NEW.
  limits  postscreen_client_connection_count_limit = 1,
          postscreen_client_connection_rate_limit = 3, greet wait 3 s
          (holds connections): a second connection from 127.0.0.20 gets
          "421 4.7.0 Error: too many connections" at once, logged
          "NOQUEUE: reject: CONNECT from [127.0.0.20]:PORT: too many
          connections"; 127.0.0.21 is not affected; the fourth attempt
          from 127.0.0.30 within the minute is refused (rate); a frontend
          killed while it holds a counted connection is restarted and the
          master's anvil_reset lets that client in again.
  ipv6    in a private network namespace (unshare -n, root only): two
          addresses of fd00:6d78::/64 share one count, an address of
          another /64 does not. Skipped with a message without unshare;
          the prefix arithmetic is also covered by tests/unit/test_anvil.c.

Bounded: every wait has a deadline; every process is stopped by pid.
Exit: 0 pass, 1 fail, 77 no daemon binary or no dnsmasq.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import daemon_common as dc
from dnsmasq import DnsTestServer, Zones, dnsmasq_available
from sink import Sink
import mxscreen as mxlib

BASE = {
    "myhostname": "mx.example.test",
    "smtpd_banner": "$myhostname ESMTP",
    "postscreen_greet_banner": "$smtpd_banner",
    "mynetworks": "127.0.0.0/8",
    "postscreen_access_list": "",
}
TEASER = "220-mx.example.test ESMTP"


def esc(addr):
    return re.escape(addr)


def send_mail(check, c, tag):
    ok = True
    for cmd, want in (("EHLO client.example", "250"), ("MAIL FROM:<a@client.example>", "250"),
                      ("RCPT TO:<b@dest.example>", "250"), ("DATA", "354")):
        code, text, _ = c.cmd(cmd)
        ok &= check.expect(code == want, f"{tag}: {cmd} -> {code} {text!r}")
    code, text, _ = c.cmd(f"Subject: {tag}\r\n\r\nbody of {tag}\r\n.")
    ok &= check.expect(code == "250", f"{tag}: end of data -> {code} {text!r}")
    c.cmd("QUIT")
    return ok


def zones():
    z = Zones(ttl=300)
    z.dnsbl("bl.test", "127.0.0.10", ["127.0.0.2"])
    z.dnsbl("wl.test", "127.0.0.11", ["127.0.9.3"])
    z.slow = ["slow.test"]
    return z


# ---- dnsbl ----------------------------------------------------------------

def dnsbl_suite(args, dns):
    check = dc.Checker("frontend_screen/dnsbl", args.v)
    settings = dict(BASE, dns_resolver=dns.resolver,
                    postscreen_dnsbl_sites="bl.test*2, wl.test=127.0.9.3*-2",
                    postscreen_dnsbl_threshold="1",
                    postscreen_dnsbl_whitelist_threshold="-1",  # the old name, as users have it
                    postscreen_dnsbl_action="drop", postscreen_dnsbl_timeout="5s",
                    postscreen_greet_action="enforce", postscreen_greet_wait="3s",
                    postscreen_cache_cleanup_interval="2s")
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        h, p = srv.host, srv.port
        # Listed: teaser, then the drop after the greet wait.
        t0 = time.monotonic()
        c, port = dc.connect_from(h, p, "127.0.0.10")
        check.expect(dc.first_line(c) == TEASER, "listed: the teaser first")
        code, text, _ = c.reply()
        took = time.monotonic() - t0
        check.expect(text.startswith("521 5.7.1 Service unavailable; client [127.0.0.10] "
                                     "blocked using bl.test"), f"listed: 521 from the list: {text!r}")
        check.expect(2.25 <= took < 8, f"listed: judged at the end of the greet wait: {took:.2f} s")
        check.expect(c.reply()[0] == "closed", "listed: closed after the 521")
        c.close()
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: DNSBL rank 2 for \[127\.0\.0\.10\]:%d$"
                              % port), "DNSBL rank logged as postscreen does")

        # Allowlisted: the greet wait ends as soon as the lists answered.
        t0 = time.monotonic()
        c, port = dc.connect_from(h, p, "127.0.0.11")
        code, text, _ = c.reply()
        took = time.monotonic() - t0
        lines = text.split("\n")
        check.expect(code == "220" and lines[0] == TEASER and lines[-1].startswith("220 "),
                     f"allowlisted: teaser then the worker's 220: {text!r}")
        check.expect(took < 2.0, f"allowlisted: no greet wait: {took:.2f} s")
        c.cmd("QUIT")
        c.close()
        check.expect(dc.wait_log(srv, r"PASS NEW \[127\.0\.0\.11\]:%d$" % port), "allowlisted: PASS NEW")
        check.expect(not re.search(r"DNSBL rank \S+ for \[127\.0\.0\.11\]", srv.log()),
                     "allowlisted: no DNSBL rank line")

        # Not listed: passes at the end of the greet wait, mail in one session.
        t0 = time.monotonic()
        c, port = dc.connect_from(h, p, "127.0.0.12")
        code, text, _ = c.reply()
        took = time.monotonic() - t0
        check.expect(code == "220" and text.split("\n")[0] == TEASER,
                     f"not listed: teaser and 220: {text!r}")
        check.expect(2.25 <= took < 8, f"not listed: after the greet wait: {took:.2f} s")
        send_mail(check, c, "notlisted")
        c.close()
        check.expect(sink.wait_messages(1, timeout=10), "not listed: mail at the sink")
        check.expect(dc.wait_log(srv, r"PASS NEW \[127\.0\.0\.12\]:%d$" % port), "not listed: PASS NEW")

        # Its second connection: PASS OLD, the worker's own 220 at once.
        t0 = time.monotonic()
        c, port = dc.connect_from(h, p, "127.0.0.12")
        code, text, _ = c.reply()
        took = time.monotonic() - t0
        check.expect(code == "220" and "\n" not in text and text.startswith("220 mx.example.test"),
                     f"PASS OLD: the worker's 220, no teaser: {text!r}")
        check.expect(took < 1.5, f"PASS OLD: no greet wait: {took:.2f} s")
        send_mail(check, c, "passold")
        c.close()
        check.expect(len(sink.wait_messages(2, timeout=10)) >= 2, "PASS OLD: mail at the sink")
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: PASS OLD \[127\.0\.0\.12\]:%d$" % port),
                     "PASS OLD logged")
        # The listed client is tested again (a failed test is not cached).
        c, port = dc.connect_from(h, p, "127.0.0.10")
        check.expect(dc.first_line(c) == TEASER, "listed again: tested again (teaser)")
        c.close()

        # The sweep runs on the frontend's timer and keeps the live records.
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: cache btree:\S+/postscreen_cache full "
                              r"cleanup: retained=[1-9]\d* dropped=\d+ entries$", 10),
                     "sweep: Postfix's cleanup line, live records retained")

        # The cache file in Postfix's format: read back by Postfix's postmap.
        cache = os.path.join(srv.dir, "data", "postscreen_cache")
        check.expect(os.path.exists(cache + ".lmdb"), "the cache file exists")
        if shutil.which("postmap"):
            pf = os.path.join(srv.dir, "pf")
            os.makedirs(pf, exist_ok=True)
            with open(os.path.join(pf, "main.cf"), "w") as f:
                f.write("compatibility_level = 3.6\n")
            r = subprocess.run(["postmap", "-c", pf, "-q", "127.0.0.12", "lmdb:" + cache],
                               capture_output=True, text=True, timeout=20)
            w = subprocess.run(["postmap", "-c", pf, "-q", "127.0.0.11", "lmdb:" + cache],
                               capture_output=True, text=True, timeout=20).stdout.strip().split(";")
            v = r.stdout.strip().split(";")
            now = time.time()
            check.expect(len(v) == 5, f"postmap reads our record: {r.stdout!r} {r.stderr!r}")
            if len(v) == 5:
                check.expect(now + 86400 - 120 < int(v[0]) <= now + 86400 + 5,
                             f"pregreet stamp = now + postscreen_greet_ttl (1d): {v}")
                check.expect(now + 60 - 30 < int(v[1]) <= now + 300 + 5,
                             f"dnsbl stamp = now + the answer's TTL in [min_ttl, max_ttl]: {v}")
                check.expect(v[2:] == ["1", "1", "1"], f"deep tests disabled: {v}")
            check.expect(len(w) == 5 and int(w[0]) <= now + 300 + 5 and int(w[0]) == int(w[1])
                         and w[2:] == [w[1]] * 3,
                         f"allowlisted: every other test stamped with the DNSBL TTL: {w}")
        return check.done(srv)


# ---- slow -----------------------------------------------------------------

def slow_suite(args, dns):
    check = dc.Checker("frontend_screen/slow", args.v)
    settings = dict(BASE, dns_resolver=dns.resolver,
                    postscreen_dnsbl_sites="bl.test*2 slow.test",
                    postscreen_dnsbl_action="enforce", postscreen_dnsbl_timeout="10s",
                    postscreen_greet_wait="2s")
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        h, p = srv.host, srv.port
        t0 = time.monotonic()
        c, port = dc.connect_from(h, p, "127.0.0.10")
        code, text, _ = c.reply()
        took = time.monotonic() - t0
        check.expect(code == "220" and "\n" not in text, f"listed: a 220 (enforce engine): {text!r}")
        check.expect(1.5 <= took < 6, f"listed: after the greet wait: {took:.2f} s")
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@client.example>")
        code, text, _ = c.cmd("RCPT TO:<b@dest.example>")
        check.expect(text.startswith("550 5.7.1 Service unavailable; client [127.0.0.10] "
                                     "blocked using bl.test"), f"listed: RCPT 550: {text!r}")
        c.cmd("QUIT")
        c.close()
        check.expect(dc.wait_log(srv, r"DNSBL rank 2 for \[127\.0\.0\.10\]:%d$" % port),
                     "partial score judged: DNSBL rank 2")
        check.expect(dc.wait_log(srv, r"NOQUEUE: reject: RCPT from \[127\.0\.0\.10\]:%d: 550 5\.7\.1 "
                              % port), "enforce: NOQUEUE: reject: RCPT logged")

        t0 = time.monotonic()
        c, port = dc.connect_from(h, p, "127.0.0.12")
        code, text, _ = c.reply()
        took = time.monotonic() - t0
        check.expect(code == "220" and "\n" not in text, f"not listed: the worker's 220: {text!r}")
        check.expect(1.5 <= took < 6, f"not listed: passes when the greet wait ends: {took:.2f} s")
        send_mail(check, c, "slow")
        c.close()
        check.expect(sink.wait_messages(1, timeout=10), "not listed: mail at the sink")
        check.expect(dc.wait_log(srv, r"PASS NEW \[127\.0\.0\.12\]:%d$" % port), "not listed: PASS NEW")
        return check.done(srv)


# ---- limits ---------------------------------------------------------------

LIMITS = dict(BASE, postscreen_client_connection_count_limit="1",
              postscreen_client_connection_rate_limit="3",
              postscreen_greet_action="enforce", postscreen_greet_wait="3s")


def refused(check, h, p, src, tag):
    t0 = time.monotonic()
    c, port = dc.connect_from(h, p, src)
    code, text, _ = c.reply()
    took = time.monotonic() - t0
    check.expect(text == "421 4.7.0 Error: too many connections",
                 f"{tag}: 421 as postscreen: {text!r}")
    check.expect(took < 2.0, f"{tag}: refused at once: {took:.2f} s")
    c.close()
    return port


def held(check, h, p, src, tag):
    c, port = dc.connect_from(h, p, src)
    check.expect(dc.first_line(c) == TEASER, f"{tag}: accepted (teaser)")
    return c, port


def frontend_pid(ctl, conf_dir):
    st = subprocess.run([ctl, "-c", conf_dir, "status"], capture_output=True, text=True,
                        timeout=20).stdout
    m = re.search(r"^frontend pid (\d+)", st, re.M)
    return int(m.group(1)) if m else None


def limits_suite(args, ctl):
    check = dc.Checker("frontend_screen/limits", args.v)
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=LIMITS) as srv:
        h, p = srv.host, srv.port
        c1, _ = held(check, h, p, "127.0.0.20", "count: first")
        port = refused(check, h, p, "127.0.0.20", "count: second")
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: NOQUEUE: reject: CONNECT from "
                              r"\[127\.0\.0\.20\]:%d: too many connections$" % port),
                     "count: NOQUEUE line as postscreen")
        c3, _ = held(check, h, p, "127.0.0.21", "count: another client")
        c1.close()
        c3.close()
        check.expect(dc.wait_log(srv, r"HANGUP after \S+ from \[127\.0\.0\.20\]"), "count: first left")
        c, _ = held(check, h, p, "127.0.0.20", "count: again once the first left")
        c.close()

        # Rate: three attempts per minute; the fourth is refused.
        for i in range(3):
            c, port = held(check, h, p, "127.0.0.30", f"rate: attempt {i + 1}")
            c.close()
            check.expect(dc.wait_log(srv, r"HANGUP after \S+ from \[127\.0\.0\.30\]:%d" % port),
                         f"rate: attempt {i + 1} gone")
        port = refused(check, h, p, "127.0.0.30", "rate: attempt 4")
        check.expect(dc.wait_log(srv, r"Connection rate limit exceeded: 4 from \[127\.0\.0\.30\]:%d "
                              r"for service smtp" % port), "rate: smtpd's warning")
        check.expect(dc.wait_log(srv, r"NOQUEUE: reject: CONNECT from \[127\.0\.0\.30\]:%d: too many "
                              r"connections$" % port), "rate: NOQUEUE line")

        # A frontend that dies holding a counted connection: the master
        # resets the table when it restarts it.
        c, _ = held(check, h, p, "127.0.0.40", "restart: held")
        pid = frontend_pid(ctl, srv.conf_dir)
        check.expect(pid is not None, "restart: frontend pid from status")
        if pid:
            os.kill(pid, signal.SIGKILL)
            check.expect(dc.wait_log(srv, r"frontend \(generation \d+\) restarted", 15),
                         "restart: frontend restarted")
            c.close()
            c, _ = held(check, h, p, "127.0.0.40", "restart: the client is let in again")
            c.close()
        return check.done(srv)


# ---- ipv6 (inside a private network namespace) -----------------------------

NET6 = ("fd00:6d78::1", "fd00:6d78::5", "fd00:6d78::6", "fd00:6d78:0:1::5")


def ipv6_inner(args):
    check = dc.Checker("frontend_screen/ipv6", args.v)
    try:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
        for a in NET6:
            subprocess.run(["ip", "-6", "addr", "add", a + "/64", "dev", "lo", "nodad"],
                           check=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"frontend_screen/ipv6: cannot add addresses: {e}: skipped")
        return 77
    port = mxlib.free_port()
    settings = dict(LIMITS, listen_addresses=f"127.0.0.1:{port} [{NET6[0]}]:{port}",
                    inet_interfaces=f"127.0.0.1, {NET6[0]}")
    with Sink() as sink, mxlib.MxscreenInstance(main_cf="", relay=(sink.host, sink.port),
                                                settings=settings, binary=args.binary,
                                                port=port, keep=args.keep) as srv:
        c1, _ = held(check, NET6[0], port, NET6[1], "v6: first of the /64")
        p2 = refused(check, NET6[0], port, NET6[2], "v6: second address, same /64")
        check.expect(dc.wait_log(srv, r"NOQUEUE: reject: CONNECT from \[%s\]:%d: too many "
                              r"connections$" % (esc(NET6[2]), p2)), "v6: NOQUEUE line")
        c3, _ = held(check, NET6[0], port, NET6[3], "v6: another /64")
        c1.close()
        c3.close()
        return check.done(srv)


def ipv6_suite(args, ctl):
    unshare = shutil.which("unshare")
    if os.getuid() != 0 or not unshare or not shutil.which("ip"):
        print("frontend_screen/ipv6: needs root, unshare and ip: skipped "
              "(prefix counting is unit-tested in tests/unit/test_anvil.c)")
        return 0
    cmd = [unshare, "-n", sys.executable, os.path.abspath(__file__), args.binary, ctl,
           "--inner-ipv6"] + (["-v"] if args.v else []) + (["--keep"] if args.keep else [])
    try:
        r = subprocess.run(cmd, timeout=120)
    except subprocess.TimeoutExpired:
        print("FAIL frontend_screen/ipv6: timed out")
        return 1
    if r.returncode == 77:
        print("frontend_screen/ipv6: skipped inside the namespace")
        return 0
    return r.returncode


def main():
    argv = list(sys.argv)
    inner = "--inner-ipv6" in argv
    if inner:
        argv.remove("--inner-ipv6")
    ctl = None
    if len(argv) > 2 and not argv[2].startswith("-"):
        ctl = argv.pop(2)
    sys.argv = argv
    args = dc.parse_args(__doc__)
    if args.postfix:
        print("test_frontend_screen: no --postfix variant (postscreen needs its own master.cf)")
        return 77
    if inner:
        return ipv6_inner(args)
    if not ctl:
        print("test_frontend_screen: needs mxscreen-ctl")
        return 77
    rc = 0
    if dnsmasq_available():
        with DnsTestServer(zones()) as dns:
            rc |= dnsbl_suite(args, dns)
            rc |= slow_suite(args, dns)
    else:
        print("test_frontend_screen: dnsmasq not installed: DNSBL suites skipped")
    rc |= limits_suite(args, ctl)
    rc |= ipv6_suite(args, ctl)
    return rc


if __name__ == "__main__":
    sys.exit(main())
