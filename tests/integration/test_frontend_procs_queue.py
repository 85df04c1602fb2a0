#!/usr/bin/env python3
"""test_frontend_procs_queue.py - postscreen's two queue limits with
several frontends, frontend_processes = 0, and a reload that changes
frontend_processes, through the real daemon over raw sockets
(frontend/fe_ledger.c's board, master/fe_link.c, doc/frontends.md).

Usage: test_frontend_procs_queue.py MXSCREEN_BINARY MXSCREEN_CTL [-v] [--keep]

  pre     frontend_processes = 2, postscreen_pre_queue_limit = 10
          (Postfix's minimum), greet action enforce with a 30 s greet wait:
          ten clients of ten addresses are held in screening, by both
          frontends together (tried again when one took all ten), and the eleventh gets "421 4.3.2 All
          screening ports are busy" with postscreen's "reject: connect
          from ... all screening ports busy" line: the limit is the
          host's, not each frontend's (with a per-frontend count, each
          would still have had room). "mxscreen-ctl status" counts it
          (refused_pool=1). Once the ten left, a new client is screened.
  post    frontend_processes = 2, one worker, SIGSTOPped,
          postscreen_post_queue_limit = 5 (Postfix's minimum), no tests:
          five clients are handed over by both frontends and not acked
          (tried again when one frontend took all five);
          the sixth gets "421 4.3.2 All server ports are busy" with
          postscreen's NOQUEUE line; refused_busy=1 in status. After
          SIGCONT the five get the worker's 220 and their mail arrives.
  zero    frontend_processes = 0: one frontend per 2 online CPUs (at
          least 1, at most 16): status lists that many running and each
          logs "frontend N of M started".
  reload  frontend_processes = 2 -> 3 -> 1 by reloads (mxscreen-ctl
          reload) while clients are held in the old frontends' greet wait:
          each held client is finished by its old frontend (its mail
          arrives: nothing dropped), status then lists only the new
          generation's frontends, as many as configured, and the new ones
          take the new connections (every one gets a 220).

Bounded: every wait has a deadline; the daemon is stopped by the harness
(by pid), the stopped worker is always continued.
Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import os
import re
import signal
import subprocess
import sys

import daemon_common as dc
from daemon_common import wait_for
from sink import Sink
import mxscreen as mxlib
import test_frontend_limits as tfl
from test_frontend_limits import busy, send_mail
from test_frontend_procs import TEASER, connect_pid, hold_spread, run_suites, status

BASE = dict(tfl.BASE, frontend_processes="2")


def frontends(ctl, conf_dir):
    """{pid: (generation, state)} of the frontends in status."""
    return {int(p): (int(g), s) for p, g, s in re.findall(
        r"^frontend pid (\d+) generation (\d+) state (\S+)", status(ctl, conf_dir), re.M)}


def counter(ctl, conf_dir, name):
    m = re.search(r"^counters .*\b%s=(\d+)" % name, status(ctl, conf_dir), re.M)
    return int(m.group(1)) if m else -1


def pending(ctl, conf_dir):
    return sum(int(q) for q in re.findall(r"^worker \d+ pid \d+ .* pending (\d+)",
                                          status(ctl, conf_dir), re.M))


def pre_suite(args, ctl):
    check = dc.Checker("frontend_procs_queue/pre", args.v)
    settings = dict(BASE, postscreen_pre_queue_limit="10", postscreen_greet_action="enforce",
                    postscreen_greet_wait="30s")
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        h, p, d = srv.host, srv.port, srv.conf_dir
        if not check.expect(wait_for(lambda: len(frontends(ctl, d)) == 2, 10),
                            f"two frontends: {frontends(ctl, d)}"):
            return check.done(srv)
        held, _, by, ok = hold_spread(srv, [f"127.0.7.{1 + i}" for i in range(10)])
        check.expect(ok, "pre: ten clients screened (teaser)")
        check.expect(len(by) == 2, f"pre: both frontends hold some of the ten: {by}")
        port = busy(check, h, p, "127.0.7.11", "421 4.3.2 All screening ports are busy",
                       "pre: the eleventh")
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: reject: connect from "
                                 r"\[127\.0\.7\.11\]:%d: all screening ports busy$" % port),
                     "pre: postscreen's reject line")
        check.expect(wait_for(lambda: counter(ctl, d, "refused_pool") == 1, 5),
                     f"pre: refused_pool=1 in status: {counter(ctl, d, 'refused_pool')}")
        for c in held:
            c.close()
        check.expect(wait_for(lambda: len(re.findall(
            r"HANGUP after \S+ from \[127\.0\.7\.(\d+)\]", srv.log())) % 10 == 0
            and counter(ctl, d, "held") == 0, 15), "pre: the ten left")
        c, _ = dc.connect_from(h, p, "127.0.7.12")
        check.expect(dc.first_line(c) == TEASER, "pre: a new client is screened again")
        c.close()
        return check.done(srv)


def post_suite(args, ctl):
    check = dc.Checker("frontend_procs_queue/post", args.v)
    settings = dict(BASE, postscreen_post_queue_limit="5", worker_processes="1")
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        h, p, d = srv.host, srv.port, srv.conf_dir
        wpids = [int(m) for m in re.findall(r"^worker \d+ pid (\d+)", status(ctl, d), re.M)]
        if not check.expect(len(wpids) == 1 and wait_for(lambda: len(frontends(ctl, d)) == 2,
                                                         10),
                            f"one worker, two frontends: {wpids} {frontends(ctl, d)}"):
            return check.done(srv)
        # Which frontend takes a connection is the kernel's choice (see
        # hold_spread): when one took all five, they are served and it
        # tries again.
        mails = 0
        for attempt in range(4):
            waiting, pids = [], []
            try:
                os.kill(wpids[0], signal.SIGSTOP)
                for i in range(5):
                    c, port = dc.connect_from(h, p, f"127.0.8.{1 + i}", timeout=30)
                    waiting.append(c)
                    pids.append(connect_pid(srv, port, f"127.0.8.{1 + i}"))
                    check.expect(wait_for(lambda: pending(ctl, d) == i + 1, 10),
                                 f"post: client {i + 1} handed off and not acked")
                by = {pid: pids.count(pid) for pid in set(pids)}
                spread = len(by) == 2
                if spread or attempt == 3:
                    check.expect(spread, f"post: both frontends handed some over: {by}")
                    port = busy(check, h, p, "127.0.8.6",
                                   "421 4.3.2 All server ports are busy", "post: the sixth")
                    check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: NOQUEUE: reject: "
                                             r"CONNECT from \[127\.0\.8\.6\]:%d: all server "
                                             r"ports busy$" % port),
                                 "post: postscreen's NOQUEUE line")
                    check.expect(wait_for(lambda: counter(ctl, d, "refused_busy") == 1, 5),
                                 f"post: refused_busy=1 in status: "
                                 f"{counter(ctl, d, 'refused_busy')}")
            finally:
                os.kill(wpids[0], signal.SIGCONT)
            for i, c in enumerate(waiting):
                send_mail(check, c, f"post{attempt}.{i}", greeted=False)
            mails += 5
            check.expect(wait_for(lambda: pending(ctl, d) == 0, 10), "post: all acked again")
            if spread:
                break
        check.expect(len(sink.wait_messages(mails, timeout=20)) == mails,
                     f"post: the {mails} mails arrived")
        return check.done(srv)


def zero_suite(args, ctl):
    check = dc.Checker("frontend_procs_queue/zero", args.v)
    want = min(16, max(1, (os.cpu_count() or 1) // 2))
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=dict(BASE, frontend_processes="0")) as srv:
        d = srv.conf_dir
        fes = wait_for(lambda: (lambda f: len(f) == want and
                                all(s == "running" for _, s in f.values()) and f)(
                                    frontends(ctl, d)), 10)
        check.expect(fes, f"zero: {want} running frontend(s) for {os.cpu_count()} CPUs: "
                          f"{frontends(ctl, d)}")
        check.expect(len(re.findall(r"frontend \d+ of %d started" % want, srv.log())) == want,
                     f"zero: each logs 'frontend N of {want} started'")
        c, _ = dc.connect_from(srv.host, srv.port, "127.0.9.1")
        send_mail(check, c, "zero", greeted=False)
        check.expect(len(sink.wait_messages(1, timeout=20)) == 1, "zero: the mail arrived")
        return check.done(srv)


def reload_to(check, srv, ctl, n, gen, tag):
    """Hold two clients in the greet wait, reload to n frontends, finish them."""
    h, p, d = srv.host, srv.port, srv.conf_dir
    held = []
    for i in range(2):
        c, _ = dc.connect_from(h, p, f"127.0.10.{gen * 10 + i}")
        check.expect(dc.first_line(c) == TEASER, f"{tag}: held client {i + 1} (teaser)")
        held.append(c)
    path = os.path.join(d, "main.cf")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(mxlib.override_main_cf(text, {"frontend_processes": str(n)}))
    r = subprocess.run([ctl, "-c", d, "reload"], capture_output=True, text=True, timeout=20)
    check.expect(r.returncode == 0, f"{tag}: reload: {r.returncode} {r.stdout!r}")
    fes = wait_for(lambda: (lambda f: len(f) == n and
                            all(g == gen and s == "running" for g, s in f.values()) and f)(
                                frontends(ctl, d)), 25)
    # The held clients stay with their old frontend: after the greet wait
    # it hands them to a worker, and then the old generation is gone.
    for i, c in enumerate(held):
        code, text, _ = c.reply()
        check.expect(code == "220", f"{tag}: held client {i + 1} served after the reload: "
                                    f"{text!r}")
        send_mail(check, c, f"{tag}-held{i}")
    fes = wait_for(lambda: (lambda f: len(f) == n and
                            all(g == gen and s == "running" for g, s in f.values()) and f)(
                                frontends(ctl, d)), 25)
    check.expect(fes, f"{tag}: status lists {n} running frontend(s) of generation {gen} only: "
                      f"{frontends(ctl, d)}")
    seen = set()
    for i in range(12):
        src = f"127.0.11.{gen * 20 + i}"
        c, port = dc.connect_from(h, p, src)
        check.expect(dc.first_line(c) == TEASER, f"{tag}: new client {i + 1} greeted")
        c.close()
        seen.add(connect_pid(srv, port, src))
    check.expect(fes and seen and seen <= set(fes),
                 f"{tag}: the new frontends took the new clients: {seen} of {fes}")


def reload_suite(args, ctl):
    check = dc.Checker("frontend_procs_queue/reload", args.v)
    settings = dict(BASE, postscreen_greet_action="enforce", postscreen_greet_wait="3s")
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        if not check.expect(wait_for(lambda: len(frontends(ctl, srv.conf_dir)) == 2, 10),
                            f"two frontends: {frontends(ctl, srv.conf_dir)}"):
            return check.done(srv)
        reload_to(check, srv, ctl, 3, 2, "reload 2->3")
        reload_to(check, srv, ctl, 1, 3, "reload 3->1")
        check.expect(len(sink.wait_messages(4, timeout=20)) == 4,
                     "reload: the four held clients' mail arrived")
        check.expect(not re.search(r"still held after", srv.log()),
                     "reload: no held connection was cut by a retiring frontend")
        return check.done(srv)


def main():
    return run_suites(__doc__, "test_frontend_procs_queue",
                      (pre_suite, post_suite, zero_suite, reload_suite))

if __name__ == "__main__":
    sys.exit(main())
