#!/usr/bin/env python3
"""test_frontend_procs.py - frontend_processes = 2: two frontend processes
per generation on the same listeners (master/fe_link.c, frontend.c's
accept, the workers' one channel per frontend) through the real daemon
over raw sockets.

Usage: test_frontend_procs.py MXSCREEN_BINARY MXSCREEN_CTL [-v] [--keep]

  spread  frontend_processes = 2, worker_processes = 2: "mxscreen-ctl
          status" lists two running frontends; 40 connections one after
          the other are taken by both (postscreen's "CONNECT from" lines
          name the pid: each of the two took at least 5); a clean client's
          mail reaches the sink; afterwards every worker is back to 0
          sessions and 0 pending handoffs.
  limit   postscreen_client_connection_count_limit = 4 with a 30 s enforced
          greet wait (clients held in the frontends): four clients of one
          address are held, by both frontends together, and the fifth gets
          "421 4.7.0 Error: too many connections" with postscreen's NOQUEUE
          line: the count is the shared anvil table's, not a frontend's.
          kill -9 of the frontend holding more of them: the master logs
          "frontend pid P: N client connection count(s) it held released"
          (its ledger), N new clients of the address are held again and
          the next is refused (the survivor's counts were kept: no reset).
  kill    kill -9 of one frontend: the other answers every one of 10 new
          clients at once (a 220 within 3 s each) while the master logs
          "frontend N (generation 1): restarting in 1 s" and then
          "restarted: pid P"; status lists two running frontends again,
          the new pid among them; the workers are the same processes (no
          worker died or was restarted) and both frontends take
          connections again; mail still arrives, and the workers end with
          0 sessions and 0 pending.

  addrs   frontend_processes = 1 (multishot accept: the client's address
          from getpeername) and 2 (single accepts: from the accept
          itself), listening on 0.0.0.0:P (wildcard: the local address
          from getsockname) and 127.0.0.3:Q (one address, asked once at
          start): clients of several source addresses and ports connecting
          to 127.0.0.2:P and 127.0.0.3:Q are logged "CONNECT from
          [src]:sport to [dst]:dport" with exactly their own addresses and
          ports, and the worker's "connect from unknown[src]" names the
          same client (fe_conn_accepted's addresses reach the handoff).

Bounded: every wait has a deadline; the daemon is stopped by the harness
(by pid). Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import os
import re
import signal
import subprocess
import sys
import time

import daemon_common as dc
from daemon_common import wait_for
from sink import Sink
import mxscreen as mxlib

BASE = {
    "myhostname": "mx.example.test",
    "smtpd_banner": "$myhostname ESMTP",
    "mynetworks": "127.0.0.0/8",
    "postscreen_access_list": "",
    "frontend_processes": "2",
    "worker_processes": "2",
}


def status(ctl, conf_dir):
    return subprocess.run([ctl, "-c", conf_dir, "status"], capture_output=True, text=True,
                          timeout=20).stdout


def frontends(ctl, conf_dir):
    """{pid: state} of the frontends in status."""
    return {int(p): s for p, s in re.findall(r"^frontend pid (\d+) generation \d+ state (\S+)",
                                              status(ctl, conf_dir), re.M)}


def workers(ctl, conf_dir):
    """[(pid, sessions, pending)] of the workers in status."""
    return [(int(p), int(s), int(q)) for p, s, q in re.findall(
        r"^worker \d+ pid (\d+) generation \d+ state \S+ sessions (\d+) pending (\d+)",
        status(ctl, conf_dir), re.M)]



def connect_pids(log):
    """How many CONNECT lines each postscreen pid logged."""
    n = {}
    for pid in re.findall(r"postscreen\[(\d+)\]: CONNECT from ", log):
        n[int(pid)] = n.get(int(pid), 0) + 1
    return n


def connect_pid(srv, port, src=None):
    """The frontend pid whose CONNECT line names client port `port` (from
    address `src` if given). The last such line: an ephemeral port comes
    round again, and an earlier connection from another address (or an
    earlier attempt) may have used the same one."""
    pat = r"postscreen\[(\d+)\]: CONNECT from \[%s\]:%d " % (
        re.escape(src) if src else "[^]]+", port)
    if not dc.wait_log(srv, pat, 5):
        return 0
    return int(re.findall(pat, srv.log())[-1])


TEASER = "220-mx.example.test ESMTP"


def hold_spread(srv, srcs, attempts=5):
    """One client per address in srcs held in the greet wait (teaser read,
    postscreen_greet_banner = $smtpd_banner), by both frontends. Which
    frontend takes a connection is the kernel's choice: on a loaded
    machine the frontend that runs re-arms its accept first and can take
    them all (and a frontend just started may not accept yet). Then they
    are closed, the frontends see them leave, and after a pause it tries
    again; the last attempt's clients are returned held, whatever the
    spread. Returns (clients, ports, {pid: how many}, teasers ok)."""
    for attempt in range(attempts):
        held, ports, pids, ok = [], [], [], True
        for src in srcs:
            c, port = dc.connect_from(srv.host, srv.port, src, timeout=20)
            ok &= dc.first_line(c) == TEASER
            held.append(c)
            ports.append(port)
            pids.append(connect_pid(srv, port, src))
        by = {pid: pids.count(pid) for pid in set(pids)}
        if len(by) >= 2 or not ok or attempt == attempts - 1:
            break
        for c in held:
            c.close()
        wait_for(lambda: all(re.search(r"HANGUP after \S+ from \[[^]]+\]:%d" % port,
                                       srv.log()) for port in ports), 15)
        time.sleep(0.5 * (attempt + 1))
    return held, ports, by, ok


def greet_quit(check, h, p, src, tag):
    """Connect, read the 220, QUIT; True when the greeting came in 3 s."""
    t0 = time.monotonic()
    c, _ = dc.connect_from(h, p, src, timeout=10)
    code, text, _ = c.reply()
    took = time.monotonic() - t0
    ok = check.expect(code == "220" and took < 3.0, f"{tag}: 220 at once: {code} {text!r} "
                      f"after {took:.2f} s")
    c.cmd("QUIT")
    c.close()
    return ok


def send_mail(check, h, p, src, tag):
    c, _ = dc.connect_from(h, p, src, timeout=20)
    code, text, _ = c.reply()
    check.expect(code == "220", f"{tag}: 220 -> {text!r}")
    for cmd, want in (("EHLO client.example", "250"), ("MAIL FROM:<a@client.example>", "250"),
                      ("RCPT TO:<b@dest.example>", "250"), ("DATA", "354")):
        code, text, _ = c.cmd(cmd)
        check.expect(code == want, f"{tag}: {cmd} -> {code} {text!r}")
    code, text, _ = c.cmd(f"Subject: {tag}\r\n\r\nbody of {tag}\r\n.")
    check.expect(code == "250", f"{tag}: end of data -> {code} {text!r}")
    c.cmd("QUIT")
    c.close()


def spread(check, srv, ctl, n, first_src, tag, want_pids=None):
    """n connections one after the other: both frontends take some."""
    before = connect_pids(srv.log())
    for i in range(n):
        greet_quit(check, srv.host, srv.port, f"127.0.{first_src}.{1 + i}", f"{tag}: client {i}")
    wait_for(lambda: sum(connect_pids(srv.log()).values()) >= sum(before.values()) + n, 10)
    after = connect_pids(srv.log())
    took = {pid: after.get(pid, 0) - before.get(pid, 0) for pid in after}
    took = {pid: k for pid, k in took.items() if k > 0}
    check.expect(sum(took.values()) == n, f"{tag}: {n} CONNECT lines: {took}")
    check.expect(len(took) == 2 and min(took.values()) >= 5,
                 f"{tag}: both frontends took connections (at least 5 each): {took}")
    if want_pids is not None:
        check.expect(set(took) == set(want_pids),
                     f"{tag}: the frontends in status took them: {took} vs {want_pids}")


def idle_workers(ctl, conf_dir):
    return wait_for(lambda: all(s == 0 and q == 0 for _, s, q in workers(ctl, conf_dir))
                    and workers(ctl, conf_dir), 15)


def spread_suite(args, ctl):
    check = dc.Checker("frontend_procs/spread", args.v)
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=BASE) as srv:
        fes = wait_for(lambda: len(frontends(ctl, srv.conf_dir)) == 2
                       and frontends(ctl, srv.conf_dir), 10)
        if not check.expect(fes and all(s == "running" for s in fes.values()),
                            f"two running frontends in status: {fes}"):
            return check.done(srv)
        check.expect(len(re.findall(r"frontend \d of 2 started", srv.log())) == 2,
                     "both log 'frontend N of 2 started'")
        spread(check, srv, ctl, 40, 1, "spread", want_pids=fes)
        send_mail(check, srv.host, srv.port, "127.0.2.1", "spread-mail")
        check.expect(len(sink.wait_messages(1, timeout=20)) == 1, "spread: the mail arrived")
        check.expect(idle_workers(ctl, srv.conf_dir),
                     f"spread: workers back to 0 sessions, 0 pending: {workers(ctl, srv.conf_dir)}")
        return check.done(srv)


def limit_suite(args, ctl):
    check = dc.Checker("frontend_procs/limit", args.v)
    settings = dict(BASE, postscreen_client_connection_count_limit="4",
                    postscreen_greet_action="enforce", postscreen_greet_wait="30s",
                    postscreen_greet_banner="$smtpd_banner")
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        h, p = srv.host, srv.port
        held, ports, by, ok = hold_spread(srv, ["127.0.3.1"] * 4)
        check.expect(ok, "limit: four clients held (teaser)")
        holders = set(by)
        check.expect(len(holders) == 2, f"limit: both frontends hold some of the four: {by}")
        c, port = dc.connect_from(h, p, "127.0.3.1", timeout=20)
        code, text, _ = c.reply()
        check.expect(text == "421 4.7.0 Error: too many connections",
                     f"limit: the fifth: {code} {text!r} (held by {sorted(holders)})")
        c.close()
        check.expect(dc.wait_log(srv, r"NOQUEUE: reject: CONNECT from \[127\.0\.3\.1\]:%d: "
                                 r"too many connections$" % port), "limit: the NOQUEUE line")
        # Another address is not limited.
        c, _ = dc.connect_from(h, p, "127.0.3.2", timeout=20)
        check.expect(dc.first_line(c) == TEASER, "limit: another address")
        c.close()
        # kill -9 of a frontend that holds some of the four: the master
        # disconnects its counts (its ledger), the survivor's stay.
        by_pid = {}
        for pid, port in re.findall(r"postscreen\[(\d+)\]: CONNECT from \[127\.0\.3\.1\]:"
                                    r"(\d+) ", srv.log()):
            if int(port) in ports:
                by_pid[int(pid)] = by_pid.get(int(pid), 0) + 1
        fes = frontends(ctl, srv.conf_dir)
        victim = max(fes, key=lambda pid: by_pid.get(pid, 0)) if fes else 0
        lost = by_pid.get(victim, 0)
        if check.expect(victim and 0 < lost < 4, f"limit: a frontend holds some: {by_pid}"):
            os.kill(victim, signal.SIGKILL)
            check.expect(dc.wait_log(srv, r"frontend pid %d: %d client connection count\(s\) "
                                     r"it held released$" % (victim, lost)),
                         f"limit: the master released the victim's {lost} count(s)")
            for i in range(lost):
                c, _ = dc.connect_from(h, p, "127.0.3.1", timeout=20)
                check.expect(dc.first_line(c) == TEASER,
                             f"limit: after the kill, client {i + 1} of {lost} held again")
                held.append(c)
            c, _ = dc.connect_from(h, p, "127.0.3.1", timeout=20)
            code, text, _ = c.reply()
            check.expect(text == "421 4.7.0 Error: too many connections",
                         f"limit: after the kill, four again: the next one refused: {text!r}")
            c.close()
        for c in held:
            c.close()
        return check.done(srv)


def kill_suite(args, ctl):
    check = dc.Checker("frontend_procs/kill", args.v)
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=BASE) as srv:
        d = srv.conf_dir
        fes = wait_for(lambda: len(frontends(ctl, d)) == 2 and frontends(ctl, d), 10)
        ws = wait_for(lambda: len(workers(ctl, d)) == 2 and workers(ctl, d), 10)
        if not check.expect(fes and ws, f"two frontends, two workers: {fes} {ws}"):
            return check.done(srv)
        victim, survivor = sorted(fes)
        os.kill(victim, signal.SIGKILL)
        # A connection the victim accepted in its last instant is lost with
        # it (as with one frontend): start once the master reaped it.
        check.expect(dc.wait_log(srv, r"pid %d killed by signal 9$" % victim),
                     "kill: the master reaped the victim")
        # The survivor answers every client while the master restarts the
        # victim (1 s backoff); the listeners are the same sockets.
        for i in range(10):
            greet_quit(check, srv.host, srv.port, f"127.0.4.{1 + i}", f"kill: client {i}")
        m = dc.wait_log(srv, r"frontend (\d) \(generation 1\): restarting in 1 s$")
        check.expect(m, "kill: the master logs the restart")
        m = dc.wait_log(srv, r"frontend \d \(generation 1\) restarted: pid (\d+)$", timeout=15)
        check.expect(m, "kill: restarted")
        newpid = int(m.group(1)) if m else 0
        fes2 = wait_for(lambda: (lambda f: len(f) == 2 and all(s == "running" for s in f.values())
                                 and f)(frontends(ctl, d)), 10)
        check.expect(fes2 and set(fes2) == {survivor, newpid},
                     f"kill: status lists the survivor and the new pid: {fes2}, {survivor}, "
                     f"{newpid}")
        ws2 = workers(ctl, d)
        check.expect(sorted(w[0] for w in ws2) == sorted(w[0] for w in ws),
                     f"kill: the same two workers: {ws} -> {ws2}")
        check.expect(not re.search(r"worker \d+ \(generation \d+\): restarting", srv.log()),
                     "kill: no worker restarted")
        spread(check, srv, ctl, 40, 5, "kill: after the restart", want_pids=[survivor, newpid])
        send_mail(check, srv.host, srv.port, "127.0.6.1", "kill-mail")
        check.expect(len(sink.wait_messages(1, timeout=20)) == 1, "kill: the mail arrived")
        check.expect(idle_workers(ctl, d),
                     f"kill: workers back to 0 sessions, 0 pending: {workers(ctl, d)}")
        return check.done(srv)


def addrs_suite(args, ctl):
    check = dc.Checker("frontend_procs/addrs", args.v)
    for fp in ("1", "2"):
        port, port2 = mxlib.free_port(), mxlib.free_port()
        settings = dict(BASE, frontend_processes=fp,
                        listen_addresses=f"0.0.0.0:{port} 127.0.0.3:{port2}")
        with Sink() as sink, mxlib.MxscreenInstance(
                main_cf="", relay=(sink.host, sink.port), settings=settings,
                binary=args.binary, port=port, keep=args.keep) as srv:
            for i in range(6):
                src = f"127.0.12.{1 + i}"
                dst, dport = ("127.0.0.2", port) if i % 2 == 0 else ("127.0.0.3", port2)
                c, sport = dc.connect_from(dst, dport, src, timeout=20)
                code, text, _ = c.reply()
                check.expect(code == "220", f"addrs fp={fp}: {src} -> {dst}: {text!r}")
                c.cmd("QUIT")
                c.close()
                check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: CONNECT from \[%s\]:%d to "
                                         r"\[%s\]:%d$" % (re.escape(src), sport, re.escape(dst),
                                                          dport)),
                             f"addrs fp={fp}: CONNECT from [{src}]:{sport} to [{dst}]:{dport}")
                check.expect(dc.wait_log(srv, r"smtpd\[\d+\]: connect from unknown\[%s\]"
                                         % re.escape(src)),
                             f"addrs fp={fp}: the worker's connect line names {src}")
            check.expect(not re.search(r"CONNECT from .* to \[0\.0\.0\.0\]", srv.log()),
                         f"addrs fp={fp}: never the wildcard as the local address")
    return check.done()


def run_suites(doc, name, suites):
    """main() of the frontend_processes tests: BINARY CTL [-v] [--keep],
    each suite(args, ctl) in turn; no --postfix variant."""
    argv = list(sys.argv)
    ctl = None
    if len(argv) > 2 and not argv[2].startswith("-"):
        ctl = argv.pop(2)
    sys.argv = argv
    args = dc.parse_args(doc)
    if args.postfix:
        print(f"{name}: no --postfix variant (Postfix has one postscreen)")
        return 77
    if not ctl:
        print(f"{name}: needs mxscreen-ctl")
        return 77
    rc = 0
    for suite in suites:
        rc |= suite(args, ctl)
    return rc


def main():
    return run_suites(__doc__, "test_frontend_procs",
                      (spread_suite, limit_suite, kill_suite, addrs_suite))


if __name__ == "__main__":
    sys.exit(main())
