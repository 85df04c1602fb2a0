"""queue_common.py - what the delivery_mode = queue daemon tests share
(test_daemon_queue_*.py, test_daemon_lmtp.py, test_daemon_runner_conn.py):
the main.cf they start from, the settings that make the runner retry within
seconds, one message sent and its queue id read back, the queue's files,
mxscreen-ctl, and the scenario loop. Each works against mxscreen and,
through daemon_common's server(), against a private Postfix.

Interface:
    args = parse_args(__doc__, ctl=True)   # [MXSCREEN] [MXSCREEN_CTL] [-v] [--keep]
    with server(args, {"name": "value"}, relay=(h, p)) as srv:  # MAIN_CF + FAST + these
        qid = send_one(srv, "tag")          # queue id or None
        queue_files(srv, "deferred"); queue_empty(srv); ctl(args, srv, "flush")
    check = QChecker("name", args.v); check.expect(cond, "msg", srv)
    sys.exit(run_scenarios(check, [("name", fn), ...], args))   # fn(check, args)
"""

import argparse
import os
import re
import smtplib
import subprocess
import sys
import time

import daemon_common
from daemon_common import Checker

MAIN_CF = """\
compatibility_level = 3.6
myhostname = backup.example.test
mynetworks = 127.0.0.0/8
"""
# retries within seconds instead of Postfix's 300s/4000s/300s
FAST = {
    "delivery_mode": "queue",
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "queue_run_delay": "1s",
}
QUEUE_DIRS = ("incoming", "active", "deferred")


def parse_args(doc, ctl=False):
    """[MXSCREEN] ([MXSCREEN_CTL] when ctl) [-v] [--keep]: args.binary,
    args.ctl (None when not given), args.v, args.keep; args.postfix is
    False (these tests run against mxscreen only). Exits 77 without a
    daemon binary."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("binary", nargs="?", help="the mxscreen daemon (master/mxscreen)")
    if ctl:
        ap.add_argument("ctl", nargs="?", help="mxscreen-ctl")
    ap.add_argument("--keep", action="store_true", help="keep the server's directory")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    args.postfix = False
    args.ctl = getattr(args, "ctl", None)
    args.binary = args.binary or daemon_common.mxlib.find_binary()
    if not args.binary or not os.access(args.binary, os.X_OK):
        print(f"{os.path.basename(sys.argv[0])}: no mxscreen daemon binary: skipped")
        sys.exit(77)
    return args


def server(args, settings=None, relay=None, main_cf=MAIN_CF, maps=None, fast=FAST):
    """daemon_common.server() with MAIN_CF and FAST, then settings (they win)."""
    return daemon_common.server(args, main_cf, maps or {}, relay=relay,
                                settings=dict(fast, **(settings or {})))


def send_one(srv, tag, sender="s@example.org", rcpt="r@example.net"):
    """One message in its own session (rcpt: one address or a sequence);
    its queue id, or None when the end of DATA was not a 250 with 'queued
    as ID'."""
    rcpts = [rcpt] if isinstance(rcpt, str) else list(rcpt)
    with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
        s.ehlo("client.example.org")
        s.mail(sender)
        for r in rcpts:
            s.rcpt(r)
        code, text = s.data(f"From: {sender}\r\nSubject: {tag}\r\n"
                            f"Message-Id: <{tag.replace(' ', '.')}@example.org>\r\n"
                            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody {tag}\r\n")
    m = re.search(rb"queued as (\w+)", text)
    return m.group(1).decode() if code == 250 and m else None


def queue_files(srv, sub):
    """The file names in queue_directory/sub (no dot files), sorted."""
    try:
        return sorted(f for f in os.listdir(os.path.join(srv.dir, "queue", sub))
                      if not f.startswith("."))
    except OSError:
        return []


def queue_empty(srv):
    return not any(queue_files(srv, d) for d in QUEUE_DIRS)


def ctl(args, srv, *cmd):
    """mxscreen-ctl -c CONF cmd...: the CompletedProcess, None without a ctl."""
    if not args.ctl:
        return None
    return subprocess.run([args.ctl, "-c", srv.conf_dir, *cmd], capture_output=True,
                          text=True, timeout=20)


class QChecker(Checker):
    """Checker whose failures print the daemon's log tail on the spot (a
    scenario's server is gone by the time done() runs)."""

    def expect(self, cond, msg, srv=None):
        ok = super().expect(cond, msg)
        if not ok and srv is not None:
            print("--- log tail:\n" + "\n".join(srv.log().splitlines()[-25:]), flush=True)
        return ok


def run_scenarios(check, scenarios, args, only_env=None):
    """Run each (name, fn) as fn(check, args), timed with -v; only those
    named in $only_env (comma-separated) when it is set. The exit status."""
    only = os.environ.get(only_env) if only_env else None
    for name, fn in scenarios:
        if only and name not in only.split(","):
            continue
        t0 = time.monotonic()
        fn(check, args)
        if args.v:
            print(f"{name}: {time.monotonic() - t0:.1f}s", flush=True)
    return check.done()
