#!/usr/bin/env python3
"""test_daemon_sched.py - scheduling_policy: the frontends, workers and queue
runner run SCHED_BATCH by default, SCHED_OTHER with scheduling_policy =
normal; the master keeps SCHED_OTHER.

Usage: test_daemon_sched.py MXSCREEN_BINARY MXSCREEN_CTL [-v] [--keep]

One daemon, delivery_mode = queue (so there is a queue runner), two
workers, one frontend:
  batch    every child of the master (from /proc: the processes whose
           parent is the master; policy is field 41 of /proc/PID/stat) is
           SCHED_BATCH (3), the master SCHED_OTHER (0); a message sent
           through it reaches the sink;
  normal   main.cf gets scheduling_policy = normal, mxscreen-ctl reload:
           once the old generation has gone, every child is SCHED_OTHER
           (the runner is replaced on reload too); a message goes through;
  restart  kill -9 of a worker: the worker the master starts in its place
           takes its generation's policy (SCHED_OTHER);
  refused  scheduling_policy = fifo: the reload is refused with the
           parameter's name in the answer, and the children keep running
           with their policy.
Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import os
import re
import signal
import smtplib
import subprocess
import sys

import daemon_common as dc
import life_common as lc
import mxscreen as mxlib
from sink import Sink

SCHED_OTHER, SCHED_BATCH = 0, 3
POLICY_NAMES = {SCHED_OTHER: "SCHED_OTHER", SCHED_BATCH: "SCHED_BATCH"}


def policy(pid):
    """Field 41 of /proc/PID/stat (after the command name), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return int(s[s.rindex(")") + 2:].split()[38])


def children(master):
    """{pid: policy} of the master's live children."""
    return {p: v for p in lc.children_of(master) if (v := policy(p)) is not None}


def names(kids):
    return {p: POLICY_NAMES.get(v, v) for p, v in kids.items()}


def settle(master, want, old=()):
    """Wait until the master has `want` children and none of `old`."""
    def ready():
        k = children(master)
        return len(k) == want and not set(k) & set(old) and k
    return dc.wait_for(ready, 25) or children(master)


def send(check, srv, sink, n, tag):
    try:
        with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
            s.ehlo("client.example.org")
            s.sendmail("sender@example.org", ["user@example.test"],
                       f"Subject: {tag}\r\n\r\nbody {tag}\r\n")
    except (OSError, smtplib.SMTPException) as e:
        check.expect(False, f"{tag}: message refused: {e}")
        return
    check.expect(len(sink.wait_messages(n, timeout=20)) == n, f"{tag}: the message arrived")


def reload(srv, ctl, value):
    path = os.path.join(srv.conf_dir, "main.cf")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(mxlib.override_main_cf(text, {"scheduling_policy": value}))
    return subprocess.run([ctl, "-c", srv.conf_dir, "reload"], capture_output=True, text=True,
                          timeout=20)


def main():
    ctl = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("-") else None
    if ctl:
        del sys.argv[2]
    args = dc.parse_args(__doc__)
    if not ctl or not os.access(ctl, os.X_OK):
        print("test_daemon_sched: no mxscreen-ctl: skipped")
        return 77
    check = dc.Checker("daemon_sched", args.v)
    settings = {"delivery_mode": "queue", "frontend_processes": "1"}
    with Sink() as sink, mxlib.MxscreenInstance(main_cf=dc.LOOPBACK_CF, relay=(sink.host, sink.port),
                                                settings=settings, binary=args.binary, workers=2,
                                                keep=args.keep) as srv:
        master = srv.pid
        kids = settle(master, 4)
        check.expect(len(kids) == 4, f"batch: frontend, two workers and the runner: {names(kids)}")
        check.expect(kids and all(v == SCHED_BATCH for v in kids.values()),
                     f"batch: every child is SCHED_BATCH by default: {names(kids)}")
        check.expect(policy(master) == SCHED_OTHER,
                     f"batch: the master stays SCHED_OTHER: {policy(master)}")
        send(check, srv, sink, 1, "batch")

        r = reload(srv, ctl, "normal")
        check.expect(r.returncode == 0, f"normal: reload accepted: {r.returncode} {r.stdout!r}")
        kids = settle(master, 4, old=kids)
        check.expect(len(kids) == 4 and all(v == SCHED_OTHER for v in kids.values()),
                     f"normal: the new generation's children are SCHED_OTHER: {names(kids)}")
        send(check, srv, sink, 2, "normal")

        st = subprocess.run([ctl, "-c", srv.conf_dir, "status"], capture_output=True, text=True,
                            timeout=20).stdout
        workers = [int(p) for p in re.findall(r"^worker \d+ pid (\d+)", st, re.M)]
        victim = workers[0] if workers else None
        if victim and policy(victim) is not None:
            os.kill(victim, signal.SIGKILL)
            kids = settle(master, 4, old=[victim])
            check.expect(victim not in kids and len(kids) == 4 and
                         all(v == SCHED_OTHER for v in kids.values()),
                         f"restart: the replacement worker runs its generation's policy: "
                         f"{names(kids)}")
        else:
            check.expect(False, f"restart: no worker to kill among {names(kids)}")

        before = children(master)
        r = reload(srv, ctl, "fifo")
        check.expect(r.returncode != 0 and "scheduling_policy" in (r.stdout + r.stderr),
                     f"refused: reload refused naming the parameter: {r.returncode} "
                     f"{(r.stdout + r.stderr).strip()!r}")
        after = children(master)
        check.expect(after == before,
                     f"refused: the children run on unchanged: {names(before)} -> {names(after)}")
        return check.done(srv)


if __name__ == "__main__":
    sys.exit(main())
