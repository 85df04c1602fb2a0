#!/usr/bin/env python3
"""test_daemon_segment.py - the policy segment holds the rule tables and the
match lists: a worker's own memory does not grow with a 10,000-rule
header_checks table, nor with 5,000-entry mynetworks and relay_domains
lists; the segment does.

Usage: test_daemon_segment.py MXSCREEN_BINARY MXSCREEN_CTL [-v] [--keep]
       test_daemon_segment.py --postfix [-v] [--keep]

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
Then two daemons with mynetworks and relay_domains of 10 and of 5,000
entries each (networks 10.A.B.0/24, domains relayNNNN.example), and
smtpd_authorized_xclient_hosts = 127.0.0.0/8 so that one session plays
outside clients: from 198.51.100.1 a RCPT to the last relay domain gets 250
and one to another domain "454 4.7.1 ... Relay access denied"
(smtpd_relay_restrictions' default defer_unauth_destination); from an
address in the last listed network the other domain gets 250. The segment
grows by more than 1 MiB (the compiled lists, placed there, and the
configuration's text), the worker's anonymous Rss by less than a quarter
of that (the lists on the heap: 3.1 MiB in every worker, 1.0 MiB of it
the frontend configuration's copies, built by the master after the seal).
With --postfix only these list sessions run, against a private Postfix
3.7 with the same 5,000-entry settings: the same replies (checked).
Last, the copies of an LMDB table that nobody looks up: a daemon with
check_recipient_access hash:DIR/rcpt (built by mxscreen-map, beside
mxscreen-ctl) answers from it; the table is rebuilt (a new file renamed over
the old) and, once a worker answers from the new one, every process must
drop the old file within a few seconds: no "rcpt.lmdb (deleted)" in the
/proc/PID/maps nor among the descriptors of the master, of each worker
(with two workers one of them may never have had a session since) and of
each frontend and queue runner (both inherit the master's tables and
never look them up). Each calls map_lmdb_refresh_due() from its loop, at
most once a second; without it the old file's blocks and pages stayed
pinned until a reload.
Memory is counted, not timed: a loaded machine changes nothing. Figures are
printed with -v. Under AddressSanitizer (its quarantine keeps freed memory,
its shadow maps more) only the lookups and the log line are checked.
Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import daemon_common as dc
import postfix_peer
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


def session(check, srv, what, steps):
    """One SMTP session: (command, expected reply text or code) pairs; an
    expected value of three characters is a code, anything else the whole
    last line of the reply."""
    c = dc.Raw(srv.host, srv.port, timeout=30)
    try:
        c.reply()
        for cmd, want in steps:
            code, text, _ = c.cmd(cmd)
            got = code if len(want) == 3 else text
            check.expect(got == want, f"{what}: {cmd[:60]} -> {text!r}, want {want!r}")
        c.cmd("QUIT")
    finally:
        c.close()


def rules_session(check, srv, n):
    session(check, srv, f"{n} rules", (
        ("EHLO client.example", "250"), ("MAIL FROM:<a@client.example>", "250"),
        ("RCPT TO:<b@dest.example>", "250"), ("DATA", "354"),
        ("Subject: cheap spamword00007x\r\n\r\nbody\r\n.", "550 5.7.1 spam rule 7")))


def list_settings(n):
    nets = " ".join(f"10.{i // 256}.{i % 256}.0/24" for i in range(n))
    domains = " ".join(f"relay{i:04d}.example" for i in range(n))
    return {"compatibility_level": "3.6",
            "myhostname": "mx.example.test", "smtpd_banner": "$myhostname ESMTP",
            "mynetworks": "127.0.0.0/8 " + nets, "relay_domains": domains,
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8"}


def lists_session(check, srv, n):
    last_net = f"10.{(n - 1) // 256}.{(n - 1) % 256}.9"
    last_domain = f"relay{n - 1:04d}.example"
    denied = "454 4.7.1 <u@other.example>: Relay access denied"
    session(check, srv, f"{n} entries, outside client", (
        ("EHLO client.example", "250"), ("XCLIENT ADDR=198.51.100.1 NAME=out.example", "220"),
        ("EHLO out.example", "250"), ("MAIL FROM:<a@out.example>", "250"),
        (f"RCPT TO:<u@{last_domain}>", "250"), ("RCPT TO:<u@other.example>", denied)))
    session(check, srv, f"{n} entries, client in mynetworks", (
        ("EHLO client.example", "250"), (f"XCLIENT ADDR={last_net} NAME=in.example", "220"),
        ("EHLO in.example", "250"), ("MAIL FROM:<a@in.example>", "250"),
        ("RCPT TO:<u@other.example>", "250")))


def measure(args, check, what, settings, maps, talk):
    """(anon KiB, segment KiB) of the one worker of a daemon with these
    settings, after talk(check, srv) had its sessions."""
    with Sink() as sink, mxlib.MxscreenInstance(
            main_cf="", maps=maps, relay=(sink.host, sink.port),
            settings=settings, binary=args.binary, keep=args.keep) as srv:
        talk(check, srv)
        pids = worker_pids(args.ctl, srv.conf_dir)
        if not check.expect(len(pids) == 1, f"{what}: one worker in status: {pids}"):
            return None
        anon, seg = smaps(pids[0])
        m = re.search(r"generation \d+: policy segment (\d+) KiB", srv.log())
        check.expect(m and abs(int(m.group(1)) - seg) <= 4,
                     f"{what}: master's log {m.group(0) if m else None!r}, mapping {seg} KiB")
        if args.v:
            print(f"{what}: worker {pids[0]} anonymous Rss {anon} KiB, segment {seg} KiB")
        return anon, seg


def compare(check, what, small, big, min_seg_growth, sanitized):
    """The segment grows by more than min_seg_growth KiB from small to big,
    the worker's anonymous Rss by less than a quarter of what it did."""
    if sanitized or not small or not big:
        return
    anon_growth, seg_growth = big[0] - small[0], big[1] - small[1]
    check.expect(seg_growth > min_seg_growth,
                 f"{what}: the segment grows by more than {min_seg_growth} KiB: {seg_growth} KiB")
    check.expect(anon_growth < seg_growth / 4,
                 f"{what}: the worker's anonymous Rss grows by less than a quarter of that: "
                 f"{anon_growth} KiB")


def stale_lmdb(pid):
    """Mappings and descriptors of a deleted rcpt.lmdb in process pid."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            stale = [f"pid {pid}: {ln.split()[-2]}" for ln in f
                     if "rcpt.lmdb" in ln and "(deleted)" in ln]
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []  # gone meanwhile
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if "rcpt.lmdb" in target and "(deleted)" in target:
            stale.append(f"pid {pid}: fd {fd} -> {target}")
    return stale


def children(pid):
    """The pids of pid's children (every role: workers, frontends, runner)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def rcpt_reply(srv, rcpt):
    c = dc.Raw(srv.host, srv.port, timeout=15)
    try:
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@client.example>")
        return c.cmd(f"RCPT TO:<{rcpt}>")[1]
    finally:
        c.close()


def lmdb_rebuild(args, check):
    mapper = os.path.join(os.path.dirname(args.ctl), "mxscreen-map")
    if not check.expect(os.access(mapper, os.X_OK), f"mxscreen-map beside mxscreen-ctl: {mapper}"):
        return
    tmp = tempfile.mkdtemp(prefix="daemon_segment.")
    os.chmod(tmp, 0o755)  # the children run as mail_owner
    path = os.path.join(tmp, "rcpt")

    def build(text):
        with open(path + ".src", "w") as f:
            f.write(text)
        os.replace(path + ".src", path)
        subprocess.run([mapper, "hash:" + path], check=True, capture_output=True, timeout=30)

    try:
        build("old@dest.example REJECT old rule\n")
        # queue mode: the queue runner is one more process holding the tables
        settings = dict(SETTINGS, smtpd_recipient_restrictions=f"check_recipient_access "
                        f"hash:{path}, permit_mynetworks, reject", delivery_mode="queue")
        del settings["header_checks"]
        with Sink() as sink, mxlib.MxscreenInstance(
                main_cf="", relay=(sink.host, sink.port), settings=settings,
                binary=args.binary, keep=args.keep, workers=2) as srv:
            pids = worker_pids(args.ctl, srv.conf_dir)
            kids = children(srv.pid)
            check.expect(len(pids) == 2 and set(pids) < set(kids) and len(kids) >= 4,
                         f"lmdb: two workers, a frontend and a queue runner: {kids}")
            old = "554 5.7.1 <old@dest.example>: Recipient address rejected: old rule"
            check.expect(rcpt_reply(srv, "old@dest.example") == old, "lmdb: the first table")
            build("new@dest.example REJECT new rule\n")
            new = "554 5.7.1 <new@dest.example>: Recipient address rejected: new rule"
            check.expect(dc.wait_for(lambda: rcpt_reply(srv, "new@dest.example") == new,
                                     timeout=15, step=0.3),
                         "lmdb: a worker answers from the rebuilt table")
            stale = []

            procs = [("master", srv.pid)] + [
                ("worker" if pid in pids else "frontend or queue runner", pid) for pid in kids]
            for role, pid in procs:
                def dropped(pid=pid):
                    stale[:] = stale_lmdb(pid)
                    return not stale
                check.expect(dc.wait_for(dropped, timeout=10, step=0.2),
                             f"lmdb: the {role} (pid {pid}) let the old file go: {stale}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def postfix_lists(args):
    """--postfix: the list sessions' answers (5,000 entries) from Postfix."""
    if not postfix_peer.postfix_available() or os.getuid() != 0:
        print("test_daemon_segment.py: --postfix needs Postfix installed and root: skipped")
        sys.exit(77)
    check = dc.Checker("daemon_segment", verbose=args.v)
    with Sink() as sink, postfix_peer.PostfixInstance(
            main_cf="", relay=(sink.host, sink.port), settings=list_settings(5000),
            keep=args.keep) as srv:
        lists_session(check, srv, 5000)
    sys.exit(check.done())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary", nargs="?")
    ap.add_argument("ctl", nargs="?")
    ap.add_argument("--postfix", action="store_true",
                    help="only the list sessions' answers, from a private Postfix")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    if args.postfix:
        postfix_lists(args)
    if not all(p and os.access(p, os.X_OK) for p in (args.binary, args.ctl)):
        print("test_daemon_segment.py: no daemon or mxscreen-ctl binary: skipped")
        sys.exit(77)
    check = dc.Checker("daemon_segment", verbose=args.v)
    with open(args.binary, "rb") as f:
        sanitized = b"__asan_init" in f.read()
    if sanitized:
        print("daemon_segment: AddressSanitizer build: memory figures not compared")
    small, big = (measure(args, check, f"{n} rules", SETTINGS, {"hc": table(n)},
                          lambda check, srv, n=n: rules_session(check, srv, n))
                  for n in (10, 10000))
    compare(check, "header_checks", small, big, 2048, sanitized)
    small, big = (measure(args, check, f"{n} list entries", list_settings(n), {},
                          lambda check, srv, n=n: lists_session(check, srv, n))
                  for n in (10, 5000))
    compare(check, "mynetworks and relay_domains", small, big, 1024, sanitized)
    lmdb_rebuild(args, check)
    sys.exit(check.done())


if __name__ == "__main__":
    main()
