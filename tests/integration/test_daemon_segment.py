#!/usr/bin/env python3
"""test_daemon_segment.py - the policy segment holds the rule tables: a
worker's own memory does not grow with a 10,000-rule header_checks table,
the segment does.

Usage: test_daemon_segment.py MXSCREEN_BINARY MXSCREEN_CTL [-v] [--keep]

Two daemons, one worker each, header_checks = regexp: with 10 rules and
with 10,000 rules ("/^Subject:.*spamwordNNNNNx/ REJECT spam rule N"). In
each, a message whose Subject hits rule 7 gets "550 5.7.1 spam rule 7" at
the end of DATA (the worker looked the table up), then the worker's
/proc/PID/smaps is summed: the anonymous mappings' Rss (heap and private
memory: what a table on the heap, or the compiler's freed leftovers
inherited from the master, would add to) and the size of the segment's
mapping (memfd "mxscreen-policy-gN"). Expectations:
  - the segment grows by more than 2 MiB (the parsed table and its
    Hyperscan database, both placed there);
  - the worker's anonymous Rss grows by less than a quarter of that (it
    keeps only its lookup stamps and scratch: about 250 KiB here; the
    table on the heap added 1.8 MiB, the compiler's leftovers 84 MiB);
  - the master's log line "policy segment N KiB" agrees with the mapping.
Memory is counted, not timed: a loaded machine changes nothing. Figures are
printed with -v. Under AddressSanitizer (its quarantine keeps freed memory,
its shadow maps more) only the lookups and the log line are checked.
Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import argparse
import os
import re
import subprocess
import sys

import daemon_common as dc
from sink import Sink
import mxscreen as mxlib

SETTINGS = {
    "myhostname": "mx.example.test",
    "smtpd_banner": "$myhostname ESMTP",
    "mynetworks": "127.0.0.0/8",
    "header_checks": "regexp:${config_directory}/hc",
}


def table(n):
    return "".join(f"/^Subject:.*spamword{i:05d}x/ REJECT spam rule {i}\n" for i in range(n))


def worker_pids(ctl, conf_dir):
    out = subprocess.run([ctl, "-c", conf_dir, "status"], capture_output=True, text=True,
                         timeout=20).stdout
    return [int(m) for m in re.findall(r"^worker \d+ pid (\d+)", out, re.M)]


def smaps(pid):
    """(anonymous Rss, segment mapping size), in KiB."""
    anon = seg = 0
    kind = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                fields = line.split(None, 5)
                path = fields[5].strip() if len(fields) > 5 else ""
                kind = ("seg" if "mxscreen-policy-g" in path
                        else "anon" if path in ("", "[heap]") else None)
            elif line.startswith("Rss:") and kind == "anon":
                anon += int(line.split()[1])
            elif line.startswith("Size:") and kind == "seg":
                seg += int(line.split()[1])
    return anon, seg


def measure(args, check, n):
    """(anon KiB, segment KiB) of the worker of a daemon with n rules."""
    with Sink() as sink, mxlib.MxscreenInstance(
            main_cf="", maps={"hc": table(n)}, relay=(sink.host, sink.port),
            settings=SETTINGS, binary=args.binary, keep=args.keep) as srv:
        c = dc.Raw(srv.host, srv.port, timeout=30)
        try:
            c.reply()
            for cmd, want in (("EHLO client.example", "250"), ("MAIL FROM:<a@client.example>", "250"),
                              ("RCPT TO:<b@dest.example>", "250"), ("DATA", "354")):
                code, text, _ = c.cmd(cmd)
                check.expect(code == want, f"{n} rules: {cmd} -> {text!r}")
            code, text, _ = c.cmd("Subject: cheap spamword00007x\r\n\r\nbody\r\n.")
            check.expect(text == "550 5.7.1 spam rule 7",
                         f"{n} rules: the worker's lookup: {text!r}")
            c.cmd("QUIT")
        finally:
            c.close()
        pids = worker_pids(args.ctl, srv.conf_dir)
        if not check.expect(len(pids) == 1, f"{n} rules: one worker in status: {pids}"):
            return None
        anon, seg = smaps(pids[0])
        m = re.search(r"generation \d+: policy segment (\d+) KiB", srv.log())
        check.expect(m and abs(int(m.group(1)) - seg) <= 4,
                     f"{n} rules: master's log {m.group(0) if m else None!r}, mapping {seg} KiB")
        if args.v:
            print(f"{n} rules: worker {pids[0]} anonymous Rss {anon} KiB, segment {seg} KiB")
        return anon, seg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("ctl")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK) or not os.access(args.ctl, os.X_OK):
        print("test_daemon_segment.py: no daemon or mxscreen-ctl binary: skipped")
        sys.exit(77)
    check = dc.Checker("daemon_segment", verbose=args.v)
    small = measure(args, check, 10)
    big = measure(args, check, 10000)
    with open(args.binary, "rb") as f:
        sanitized = b"__asan_init" in f.read()
    if sanitized:
        print("daemon_segment: AddressSanitizer build: memory figures not compared")
    elif small and big:
        anon_growth, seg_growth = big[0] - small[0], big[1] - small[1]
        check.expect(seg_growth > 2048,
                     f"the segment grows by more than 2 MiB: {seg_growth} KiB")
        check.expect(anon_growth < seg_growth / 4,
                     f"the worker's anonymous Rss grows by less than a quarter of that: "
                     f"{anon_growth} KiB")
    sys.exit(check.done())


if __name__ == "__main__":
    main()
