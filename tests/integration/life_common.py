"""life_common.py - what test_daemon_lifecycle.py and test_daemon_tls_proxy.py share.

Interface:
    args = parse_args(__doc__)      # [MXSCREEN_BINARY] [MXSCREEN_CTL] [-v] [--keep]
    check = Checker("name", args.v); check.expect(cond, "what"); sys.exit(check.done(log=log))
                                    # Checker and Raw are daemon_common's
    c = Raw(host, port)             # bytes exactly as given, one reply at a time
    c.reply() -> (code, text, seconds); c.cmd("EHLO x"); c.send(b"..."); c.close()
    wait_for(pred, timeout)         # poll pred() until true (returns its value) or timeout
    status(ctl, conf_dir) -> {"generation": "1", ..., "workers": [{"pid": .., ...}]}
    group_pids(pgid)                # live pids of a process group (from /proc)

The daemon is run by tests/lib/mxscreen.py (MxscreenInstance); its binary is
the first argument (meson passes the built target), else $MXSCREEN_BIN /
$MXSCREEN_BUILD. The second argument is mxscreen-ctl (optional: its tests
are skipped without it).

Exit statuses of the tests: 0 pass, 1 fail (each failure printed, then the
daemon's log tail), 77 skipped (no daemon binary).
"""

import argparse
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import daemon_common as dc     # noqa: E402
import mxscreen as mxlib       # noqa: E402
import postfix_peer            # noqa: E402,F401  (re-exported for the tests)
import sink as sinklib         # noqa: E402,F401

# A small configuration: loopback clients may relay (mynetworks), the
# domain example.test is passed to the next hop, no error sleep so that a
# refused command does not slow the tests down.
BASE_MAIN_CF = """\
compatibility_level = 3.6
myhostname = mx.example.test
mydomain = example.test
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = example.test
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 10
smtpd_hard_error_limit = 20
"""


def parse_args(doc):
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("binary", nargs="?", help="the mxscreen daemon (master/mxscreen)")
    ap.add_argument("ctl", nargs="?", help="mxscreen-ctl")
    ap.add_argument("--keep", action="store_true", help="keep the daemon's directory")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    name = os.path.basename(sys.argv[0])
    args.binary = args.binary or mxlib.find_binary()
    if not args.binary or not os.access(args.binary, os.X_OK):
        print(f"{name}: no mxscreen daemon binary: skipped")
        sys.exit(77)
    args.binary = os.path.abspath(args.binary)
    if args.ctl is None:
        guess = os.path.join(os.path.dirname(os.path.dirname(args.binary)), "tools",
                             "mxscreen-ctl")
        args.ctl = guess if os.access(guess, os.X_OK) else None
    elif args.ctl:
        args.ctl = os.path.abspath(args.ctl)
    return args


def instance(args, main_cf, relay=None, maps=None, settings=None, workers=1):
    """An MxscreenInstance (not started) for this test's binary."""
    return mxlib.MxscreenInstance(main_cf=main_cf, maps=maps, relay=relay, settings=settings,
                                  binary=args.binary, workers=workers, keep=args.keep)


# The checker and the raw SMTP client are daemon_common's.
Checker = dc.Checker
Raw = dc.Raw


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def status(ctl, conf_dir):
    """mxscreen-ctl status as a dict ({} when it failed); "workers" is a
    list of dicts from the "worker N pid P generation G state S ..." lines."""
    if not ctl:
        return {}
    try:
        r = subprocess.run([ctl, "-c", conf_dir, "status"], capture_output=True, text=True,
                           timeout=20, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {}
    if r.returncode != 0:
        return {}
    out = {"workers": []}
    for line in r.stdout.splitlines()[1:]:
        words = line.split()
        if not words:
            continue
        if words[0] == "worker":
            w = {"index": words[1]}
            w.update(dict(zip(words[2::2], words[3::2])))
            out["workers"].append(w)
        elif len(words) >= 2:
            out[words[0]] = words[1]
    return out


def children_of(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            out.append(int(d))
    return out


def group_pids(pgid):
    return postfix_peer.pids_in_group(pgid)
