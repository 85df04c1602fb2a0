#!/usr/bin/env python3
"""test_frontend_counters.py - the frontend's screening counters in
"mxscreen-ctl status" (the "counters name=value ..." line, doc/status.md),
provoked one by one through the real daemon over real sockets, with the
DNS list served by a private dnsmasq.

Usage: test_frontend_counters.py MXSCREEN_BINARY MXSCREEN_CTL [-v] [--keep]

frontend_processes = 2 (the master sums both frontends' counters), greet
action drop with a 2 s greet wait, postscreen_dnsbl_sites = bl.test*2
(action drop), the three deep tests on (pipelining: enforce, non-SMTP and
bare newline: drop), postscreen_cache_map on,
smtpd_client_restrictions = check_client_access cidr (127.0.0.76 REJECT),
smtpd_helo_restrictions = reject_non_fqdn_helo_hostname. One client per
source address, one after the other; after each, status must show exactly
the counts so far (every other counter unchanged):
  A 127.0.0.71  silent in the greet wait, not listed, EHLO + a mail in one
                session: pregreet_pass, dnsbl_pass, the three deep passes,
                pass_new, handed_off; the mail reaches the sink
  B 127.0.0.71  again: pass_old, handed_off
  C 127.0.0.72  talks first: pregreet_fail, dropped (521)
  D 127.0.0.10  listed: pregreet_pass, dnsbl_fail, dropped (521)
  E 127.0.0.73  MAIL+RCPT+DATA in one write: pregreet_pass, dnsbl_pass,
                pipelining_fail (enforce engine: 550 5.5.1 Protocol error,
                then DATA's 554 ends the session, as postscreen's)
  F 127.0.0.74  "GET / HTTP/1.0": pregreet_pass, dnsbl_pass,
                non_smtp_command_fail, dropped
  G 127.0.0.75  "EHLO x\\n": pregreet_pass, dnsbl_pass, bare_newline_fail,
                dropped
  H 127.0.0.76  pregreet_pass, dnsbl_pass, client_reject: its RCPT gets
                smtpd's "554 5.7.1 ... Client host rejected: Access denied"
  I 127.0.0.77  "EHLO bot": pregreet_pass, dnsbl_pass, helo_reject, then
                MAIL passes the deep tests (three deep passes) and
                its RCPT gets "504 5.5.2 <bot>: Helo command rejected"
(I logs no PASS NEW: its session failed the HELO test.) Counts are taken
relative to status once the harness's start-up probe is over. At the end:
9 more accepted, held 0, hangup 0, tarpitted/denylisted/
allowlisted/refused_* 0, and the old "name value" lines agree with the
counters line. Then kill -9 of one frontend: once the master restarted
it, the counters are the same (the dead one's counts stay in the total).

Bounded: every wait has a deadline; every process is stopped by pid.
Exit: 0 pass, 1 fail, 77 no daemon binary, no mxscreen-ctl or no dnsmasq.
"""

import os
import re
import signal
import subprocess
import sys
import time

import daemon_common as dc
from dnsmasq import DnsTestServer, Zones, dnsmasq_available
from sink import Sink

SETTINGS = {
    "myhostname": "mx.example.test",
    "smtpd_banner": "$myhostname ESMTP",
    "postscreen_greet_banner": "$smtpd_banner",
    "mynetworks": "127.0.0.1/32",
    "relay_domains": "dest.example",
    "postscreen_access_list": "",
    "frontend_processes": "2",
    "postscreen_greet_action": "drop",
    "postscreen_greet_wait": "2s",
    "postscreen_dnsbl_sites": "bl.test*2",
    "postscreen_dnsbl_threshold": "1",
    "postscreen_dnsbl_action": "drop",
    "postscreen_dnsbl_timeout": "5s",
    "postscreen_pipelining_enable": "yes",
    "postscreen_non_smtp_command_enable": "yes",
    "postscreen_bare_newline_enable": "yes",
    "postscreen_bare_newline_action": "drop",
    "smtpd_client_restrictions":
        "permit_mynetworks, check_client_access cidr:${config_directory}/client_access",
    "smtpd_helo_restrictions": "permit_mynetworks, reject_non_fqdn_helo_hostname",
    "smtpd_peername_lookup": "yes",
}
MAPS = {"client_access": "127.0.0.76/32 REJECT\n"}
TEASER = "220-mx.example.test ESMTP"

ZERO = ("accepted", "handed_off", "refused_busy", "refused_by_worker", "refused_pool", "held",
        "pregreet_fail", "denylisted", "allowlisted", "tarpitted", "dropped", "hangup",
        "pregreet_pass", "dnsbl_pass", "dnsbl_fail", "pipelining_pass", "pipelining_fail",
        "non_smtp_command_pass", "non_smtp_command_fail", "bare_newline_pass",
        "bare_newline_fail", "pass_new", "pass_old", "client_reject", "helo_reject")
DEEP_PASS = ("pipelining_pass", "non_smtp_command_pass", "bare_newline_pass")


def status(ctl, conf_dir):
    try:
        r = subprocess.run([ctl, "-c", conf_dir, "status"], capture_output=True, text=True,
                           timeout=20, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ""
    return r.stdout if r.returncode == 0 else ""


def counters(text):
    """{name: int} from the "counters" line (None: no such line)."""
    for line in text.splitlines():
        words = line.split(" ")
        if words[0] == "counters":
            out = {}
            for w in words[1:]:
                k, _, v = w.partition("=")
                out[k] = int(v)
            return out
    return None


class Counts:
    """The counters expected so far; check() waits (bounded) for status to
    show exactly them: a frontend reports at most every few hundred ms."""

    def __init__(self, check, ctl, srv):
        self.check, self.ctl, self.srv = check, ctl, srv
        self.want = {k: 0 for k in ZERO}
        self.last = None

    def baseline(self, timeout=10.0):
        """Take the counters as they are once nothing is held and two reads
        half a second apart agree; False if that never happens or a name
        is missing."""
        deadline = time.monotonic() + timeout
        prev = None
        while time.monotonic() < deadline:
            self.last = status(self.ctl, self.srv.conf_dir)
            got = counters(self.last)
            if got is not None and got.get("held") == 0 and got == prev:
                if set(got) != set(ZERO):
                    return False
                self.want = dict(got)
                return True
            prev = got
            time.sleep(0.5)
        return False

    def add(self, *names):
        for n in names:
            self.want[n] += 1

    def check_now(self, tag, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            self.last = status(self.ctl, self.srv.conf_dir)
            got = counters(self.last)
            if got is not None and all(got.get(k) == v for k, v in self.want.items()):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        diff = {k: (got or {}).get(k) for k, v in self.want.items() if (got or {}).get(k) != v}
        return self.check.expect(not diff, f"{tag}: counters differ (got): {diff}; want "
                                 f"{ {k: self.want[k] for k in diff} }")


def silent_220(check, c, tag):
    """The teaser, then (after the greet wait) the frontend's own 220."""
    first = dc.first_line(c)
    code, text, _ = c.reply()
    ok = check.expect(first == TEASER and code == "220",
                      f"{tag}: teaser then 220: {first!r} {text!r}")
    return ok


def main():
    argv = list(sys.argv)
    ctl = argv.pop(2) if len(argv) > 2 and not argv[2].startswith("-") else None
    sys.argv = argv
    args = dc.parse_args(__doc__)
    if args.postfix:
        print("test_frontend_counters: no --postfix variant (mxscreen's own status)")
        return 77
    if not ctl:
        print("test_frontend_counters: needs mxscreen-ctl")
        return 77
    if not dnsmasq_available():
        print("test_frontend_counters: dnsmasq not installed: skipped")
        return 77
    check = dc.Checker("frontend_counters", args.v)
    z = Zones(ttl=300)
    z.dnsbl("bl.test", "127.0.0.10", ["127.0.0.2"])
    with DnsTestServer(z) as dns, Sink() as sink, \
            dc.server(args, "", MAPS, relay=(sink.host, sink.port),
                      settings=dict(SETTINGS, dns_resolver=dns.resolver)) as srv:
        h, p = srv.host, srv.port
        n = Counts(check, ctl, srv)
        # The harness's readiness probe (a QUIT before our 220: a pregreet)
        # is counted too: start from what status shows once it is over.
        if not check.expect(n.baseline(), f"status settles at start: {n.last!r}"):
            return check.done(srv)
        check.expect(len(re.findall(r"^frontend pid \d+ ", n.last, re.M)) == 2,
                     f"two frontends in status: {n.last!r}")

        # A: passes everything, mail delivered in the same session.
        c, _ = dc.connect_from(h, p, "127.0.0.71")
        silent_220(check, c, "A")
        for cmd, want in (("EHLO client.example", "250"), ("MAIL FROM:<a@client.example>", "250"),
                          ("RCPT TO:<b@dest.example>", "250"), ("DATA", "354"),
                          ("Subject: A\r\n\r\nbody\r\n.", "250"), ("QUIT", "221")):
            code, text, _ = c.cmd(cmd)
            check.expect(code == want, f"A: {cmd.split()[0]} -> {code} {text!r}")
        c.close()
        check.expect(len(sink.wait_messages(1, timeout=10)) == 1, "A: the mail reached the sink")
        n.add("accepted", "handed_off", "pregreet_pass", "dnsbl_pass", "pass_new", *DEEP_PASS)
        n.check_now("A passed")

        # B: the same address is PASS OLD.
        c, _ = dc.connect_from(h, p, "127.0.0.71")
        code, text, took = c.reply()
        check.expect(code == "220" and not text.startswith("220-"),
                     f"B: the worker's 220 at once: {text!r}")
        c.cmd("QUIT")
        c.close()
        n.add("accepted", "handed_off", "pass_old")
        n.check_now("B pass old")

        # C: pregreet.
        c, _ = dc.connect_from(h, p, "127.0.0.72")
        c.send(b"EHLO early.example\r\n")
        first = dc.first_line(c)
        code, text, _ = c.reply()
        check.expect(first == TEASER and text == "521 5.5.1 Protocol error",
                     f"C: pregreet dropped with 521: {first!r} {text!r}")
        c.close()
        n.add("accepted", "pregreet_fail", "dropped")
        n.check_now("C pregreet")

        # D: DNSBL listed.
        c, _ = dc.connect_from(h, p, "127.0.0.10")
        first = dc.first_line(c)
        code, text, _ = c.reply()
        check.expect(first == TEASER and text.startswith(
            "521 5.7.1 Service unavailable; client [127.0.0.10] blocked using bl.test"),
            f"D: dropped by the DNSBL: {first!r} {text!r}")
        c.close()
        n.add("accepted", "pregreet_pass", "dnsbl_fail", "dropped")
        n.check_now("D dnsbl")

        # E: command pipelining (enforce).
        c, _ = dc.connect_from(h, p, "127.0.0.73")
        silent_220(check, c, "E")
        c.cmd("EHLO bot.example")
        c.send(b"MAIL FROM:<bot@spam.example>\r\nRCPT TO:<v@dest.example>\r\nDATA\r\n")
        c.reply()
        code, text, _ = c.reply()
        check.expect(text == "550 5.5.1 Protocol error", f"E: RCPT rejected: {text!r}")
        code, text, _ = c.reply()
        check.expect(text == "554 5.5.1 Error: no valid recipients", f"E: DATA: {text!r}")
        code, text, _ = c.reply()  # psc_data_cmd(): DATA ends the session
        check.expect(code == "closed", f"E: closed after DATA: {code} {text!r}")
        c.close()
        n.add("accepted", "pregreet_pass", "dnsbl_pass", "pipelining_fail")
        n.check_now("E pipelining")

        # F: non-SMTP command.
        c, _ = dc.connect_from(h, p, "127.0.0.74")
        silent_220(check, c, "F")
        code, text, _ = c.cmd("GET / HTTP/1.0")
        check.expect(text == "521 5.7.0 Error: I can break rules, too. Goodbye.",
                     f"F: 521: {text!r}")
        c.close()
        n.add("accepted", "pregreet_pass", "dnsbl_pass", "non_smtp_command_fail", "dropped")
        n.check_now("F non-SMTP")

        # G: bare newline.
        c, _ = dc.connect_from(h, p, "127.0.0.75")
        silent_220(check, c, "G")
        c.send(b"EHLO bare.example\n")
        code, text, _ = c.reply()
        check.expect(text == "521 5.5.1 Protocol error", f"G: 521: {text!r}")
        c.close()
        n.add("accepted", "pregreet_pass", "dnsbl_pass", "bare_newline_fail", "dropped")
        n.check_now("G bare newline")

        # H: smtpd_client_restrictions rejects the address (at RCPT).
        c, _ = dc.connect_from(h, p, "127.0.0.76")
        silent_220(check, c, "H")
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@client.example>")
        code, text, _ = c.cmd("RCPT TO:<b@dest.example>")
        check.expect(text == "554 5.7.1 <unknown[127.0.0.76]>: Client host rejected: "
                     "Access denied", f"H: RCPT: {text!r}")
        c.cmd("QUIT")
        c.close()
        n.add("accepted", "pregreet_pass", "dnsbl_pass", "client_reject")
        n.check_now("H client reject")

        # I: smtpd_helo_restrictions rejects the HELO name (at RCPT).
        c, _ = dc.connect_from(h, p, "127.0.0.77")
        silent_220(check, c, "I")
        code, text, _ = c.cmd("EHLO bot")
        check.expect(code == "250", f"I: EHLO answered: {text!r}")
        code, text, _ = c.cmd("MAIL FROM:<a@client.example>")
        check.expect(code == "250", f"I: MAIL: {text!r}")
        code, text, _ = c.cmd("RCPT TO:<b@dest.example>")
        check.expect(text == "504 5.5.2 <bot>: Helo command rejected: need fully-qualified "
                     "hostname", f"I: RCPT: {text!r}")
        c.cmd("QUIT")
        c.close()
        # No PASS NEW: the session failed a test (the HELO's), as logged.
        n.add("accepted", "pregreet_pass", "dnsbl_pass", "helo_reject", *DEEP_PASS)
        n.check_now("I helo reject")

        # The old lines say the same as the counters line.
        got = counters(n.last) or {}
        old = dict(re.findall(r"^(\w+) (\d+)$", n.last, re.M))
        for name, cname in (("accepted", "accepted"), ("handed_off", "handed_off"),
                            ("pregreet", "pregreet_fail"), ("dropped", "dropped"),
                            ("held", "held"), ("hangup", "hangup")):
            check.expect(old.get(name) is not None and int(old[name]) == got.get(cname),
                         f"status line {name} {old.get(name)} = {cname}={got.get(cname)}")
        check.expect(len(sink.wait_messages(2, timeout=0.5)) == 1, "only A's mail was delivered")

        # kill -9 of a frontend: its counts stay in the total (the master
        # keeps the last ones it got) after the restart.
        pids = [int(x) for x in re.findall(r"^frontend pid (\d+) generation \d+ state running",
                                            n.last, re.M)]
        if check.expect(len(pids) == 2, f"two running frontends: {pids}"):
            os.kill(pids[0], signal.SIGKILL)
            deadline = time.monotonic() + 15
            new = []
            while time.monotonic() < deadline:
                new = [int(x) for x in re.findall(
                    r"^frontend pid (\d+) generation \d+ state running",
                    status(ctl, srv.conf_dir), re.M)]
                if len(new) == 2 and pids[0] not in new:
                    break
                time.sleep(0.2)
            check.expect(len(new) == 2 and pids[0] not in new and pids[1] in new,
                         f"the killed frontend was restarted: {pids} -> {new}")
            n.check_now("after the restart")
        return check.done(srv)


if __name__ == "__main__":
    sys.exit(main())
