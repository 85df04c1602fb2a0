"""daemon_common.py - what the tests/integration/test_daemon_*.py scripts share.

Interface:
    args = parse_args(__doc__)          # [MXSCREEN_BINARY] [--postfix] [-v] [--keep]
    with server(args, main_cf, maps, relay=(sink.host, sink.port),
                settings={...}, proxy=True) as srv:
        srv.host, srv.port, srv.log()
    check = Checker("name"); check.expect(cond, "what went wrong"); sys.exit(check.done(srv))
    sock = Raw(host, port); sock.send(b"..."); sock.reply() -> (code, text, seconds)

The server is the mxscreen daemon (tests/lib/mxscreen.py), binary from the
command line (meson passes the built target), $MXSCREEN_BIN or
$MXSCREEN_BUILD. With --postfix the same assertions run against a private
Postfix 3.7 (tests/lib/postfix_peer.py) instead: that is how each test's
expectations were checked against the program mxscreen imitates, and how a
test shows that it can fail (Postfix differs where the test says so). With
proxy=True the Postfix gets smtpd_proxy_filter = the relay, so it answers
the end of DATA only after the next hop did, as mxscreen does in proxy mode.

Exit statuses: 0 pass, 1 fail (each failure printed with the server's log
tail), 77 skipped (no daemon binary; or --postfix without Postfix or root).
"""

import argparse
import os
import re
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import mxscreen as mxlib       # noqa: E402
import postfix_peer            # noqa: E402

# The main.cf lines the daemon tests' own configurations start with (the
# same in mxscreen and in the private Postfix), and the lines of the tests
# that trust loopback and refuse everyone else.
BASE_CF = """compatibility_level = 3.6
myhostname = mx.example.test
smtpd_banner = $myhostname ESMTP
"""
LOOPBACK_CF = BASE_CF + """mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject
"""
EXAMPLES = os.path.join(ROOT, "examples")
EXAMPLE_MAPS = ("header_checks", "client_restrictions", "helo_access")


def parse_args(doc):
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("binary", nargs="?", help="the mxscreen daemon (master/mxscreen)")
    ap.add_argument("--postfix", action="store_true",
                    help="run the same checks against a private Postfix")
    ap.add_argument("--keep", action="store_true", help="keep the server's directory")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    name = os.path.basename(sys.argv[0])
    if args.postfix:
        if not postfix_peer.postfix_available() or os.getuid() != 0:
            print(f"{name}: --postfix needs Postfix installed and root: skipped")
            sys.exit(77)
    else:
        args.binary = args.binary or mxlib.find_binary()
        if not args.binary or not os.access(args.binary, os.X_OK):
            print(f"{name}: no mxscreen daemon binary: skipped")
            sys.exit(77)
    return args


def example_config():
    """examples/main.cf and its maps, as (text, {name: text})."""
    with open(os.path.join(EXAMPLES, "main.cf")) as f:
        main_cf = f.read()
    maps = {}
    for name in EXAMPLE_MAPS:
        with open(os.path.join(EXAMPLES, name)) as f:
            maps[name] = f.read()
    return main_cf, maps


def server(args, main_cf, maps=None, relay=None, settings=None, proxy=False):
    """The server under test, not started (use it in a with block)."""
    settings = dict(settings or {})
    if args.postfix:
        if proxy and relay:
            settings["smtpd_proxy_filter"] = f"{relay[0]}:{relay[1]}"
        return postfix_peer.PostfixInstance(main_cf=main_cf, maps=maps, relay=relay,
                                            settings=settings, keep=args.keep)
    return mxlib.MxscreenInstance(main_cf=main_cf, maps=maps, relay=relay,
                                  settings=settings, binary=args.binary,
                                  keep=args.keep)


class Checker:
    """Collects failures; done() prints them (and the server log) and
    returns the exit status."""

    def __init__(self, name, verbose=False):
        self.name = name
        self.verbose = verbose
        self.failures = []
        self.checks = 0

    def expect(self, cond, msg):
        self.checks += 1
        if not cond:
            self.failures.append(msg)
            print(f"FAIL {self.name}: {msg}", flush=True)
        elif self.verbose:
            print(f"ok   {self.name}: {msg}"[:300], flush=True)
        return cond

    def done(self, srv=None, log=None):
        if self.failures:
            text = log if log is not None else (srv.log() if srv else "")
            if text:
                tail = "\n".join(text.splitlines()[-40:])
                print(f"--- server log tail:\n{tail}")
            print(f"{self.name}: {len(self.failures)} of {self.checks} checks failed")
            return 1
        print(f"{self.name}: {self.checks} checks passed")
        return 0


class Raw:
    """A line-level SMTP client that sends bytes exactly as given
    (pipelined batches, bare LFs) and reads replies one at a time, each
    with the seconds it took since the last send or read."""

    def __init__(self, host, port, timeout=20.0, sock=None):
        """sock: an already connected socket (after a PROXY header)."""
        self.sock = sock or socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.why = ""
        self.t = time.monotonic()

    def send(self, data):
        """Send data; a server that already hung up is not an error here
        (the next reply() says "closed")."""
        try:
            self.sock.sendall(data)
        except OSError:
            pass
        self.t = time.monotonic()

    def _line(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                self.why = "timeout"
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.why = "closed"
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """(code, "CODE text\\nmore text", seconds); code is "closed" or
        "timeout" when no complete reply came."""
        lines = []
        while True:
            line = self._line()
            if line is None:
                took = time.monotonic() - self.t
                return (self.why if not lines else "partial", "\n".join(lines), took)
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        took = time.monotonic() - self.t
        self.t = time.monotonic()
        return (lines[0][:3], "\n".join(lines), took)

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def pending(self, wait=0.5):
        """Bytes the server sent that nobody asked for, within wait seconds."""
        self.sock.settimeout(wait)
        try:
            more = self.sock.recv(65536)
            self.buf += more
        except (socket.timeout, OSError):
            pass
        return self.buf

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def connect_from(host, port, src, timeout=20.0):
    """A Raw client whose socket is bound to source address src (IPv4 or
    IPv6) before it connects; returns (Raw, local port)."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((host, port))
    return Raw(host, port, timeout=timeout, sock=s), s.getsockname()[1]


def first_line(c):
    """The first line a Raw client receives, without waiting for the rest
    of a multi-line reply (a postscreen teaser "220-...")."""
    while b"\n" not in c.buf:
        try:
            chunk = c.sock.recv(4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        c.buf += chunk
    line, _, c.buf = c.buf.partition(b"\n")
    return line.rstrip(b"\r").decode(errors="replace")


def wait_for(pred, timeout=10.0, step=0.05):
    """pred()'s first true value, polling every step seconds for up to
    timeout seconds; its last (false) value if it never comes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def wait_log(srv, pattern, timeout=10.0):
    """The first match of pattern (re.M) in the server's log, waiting up to
    timeout seconds for it to appear; None if it never does."""
    return wait_for(lambda: re.search(pattern, srv.log(), re.M), timeout)
