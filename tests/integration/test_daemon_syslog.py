#!/usr/bin/env python3
"""test_daemon_syslog.py - the daemon's log through syslog(3) (maillog_file empty, mxscreen -d).

Usage: test_daemon_syslog.py [MXSCREEN_BINARY] [-v] [--keep]

With maillog_file empty and -d (detach), the master and every child log
through syslog(3): LOG_MAIL, ident "mxscreen/<service>" with LOG_PID,
which is Postfix's own syslog format with syslog_name "mxscreen"
("postfix/smtpd[PID]: connect from ..." there). glibc's syslog writes to
/dev/log, which this machine does not have, so the daemon runs in a
private mount namespace (unshare -m, root only; skipped otherwise) whose
/dev is a tmpfs holding bind mounts of the real /dev's entries plus "log":
a bind mount of an AF_UNIX datagram socket this test listens on. Nothing
outside the namespace changes. Checked, on the datagrams received:
  * "<22>" (mail.info) then an RFC 3164 time stamp, "mxscreen/master[PID]:
    daemon started -- version ..., configuration DIR", PID the pid file's;
  * a session: "mxscreen/postscreen[P]: CONNECT from [127.0.0.1]:PORT to
    [127.0.0.1]:PORT", "mxscreen/smtpd[W]: connect from
    localhost[127.0.0.1]", "... ID: client=localhost[127.0.0.1]", a reject
    at RCPT as "<22>... mxscreen/smtpd[W]: NOQUEUE: reject: RCPT from
    localhost[127.0.0.1]: 554 5.7.1 <x@elsewhere.example>: Relay access
    denied; from=<a@example.org> to=<x@elsewhere.example> proto=ESMTP
    helo=<client.example.org>", "disconnect from localhost[127.0.0.1] ..."
    with W a worker of the master (its parent);
  * SIGTERM: "mxscreen/master[PID]: terminating" and the master exits.
The same run again with syslog_facility = local3 and syslog_name = mx2:
every line above as "<158>" (local3.info: 19 * 8 + 6) and "mx2/master",
"mx2/postscreen", "mx2/smtpd" (Postfix's "syslog_name/service" ident).
mxscreen-conf (next to the daemon: BUILD/tools/mxscreen-conf) refuses
syslog_facility = local9 with "main.cf, line N: syslog_facility = local9:
expected one of: auth, ..." and exit 1 (Postfix 3.7's postlog refuses it
too; the names are msg_syslog.c's facility_list on Linux).
Every process is stopped by pid; every wait is bounded.
Exit: 0 pass, 1 fail, 77 no daemon binary, not root, or no unshare.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import daemon_common as dc
import mxscreen as mxlib       # noqa: E402
import postfix_peer            # noqa: E402

MAIN_CF = dc.BASE_CF + """mynetworks = 127.0.0.0/8
relay_domains = example.test
smtpd_recipient_restrictions = reject_unauth_destination
"""

# Inside the namespace: /dev becomes a tmpfs with the real entries bound
# back (devices, directories, symlinks copied) and log -> our socket.
SETUP = r"""
set -e
mkdir -p "$T/olddev"
mount --bind /dev "$T/olddev"
mount -t tmpfs -o mode=0755 tmpfs /dev
for e in "$T"/olddev/* "$T"/olddev/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=/dev/$(basename "$e")
    if [ -L "$e" ]; then cp -P "$e" "$n"
    elif [ -d "$e" ]; then mkdir "$n"; mount --rbind "$e" "$n"
    else touch "$n"; mount --bind "$e" "$n"; fi
done
touch /dev/log
mount --bind "$T/log" /dev/log
exec "$BIN" -c "$T/etc" -d
"""


def parse_args():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary", nargs="?")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.binary = a.binary or mxlib.find_binary()
    name = os.path.basename(sys.argv[0])
    if not a.binary or not os.access(a.binary, os.X_OK):
        print(f"{name}: no mxscreen daemon binary: skipped")
        sys.exit(77)
    if os.getuid() != 0 or not shutil.which("unshare"):
        print(f"{name}: needs root and unshare(1) for a private /dev/log: skipped")
        sys.exit(77)
    a.binary = os.path.abspath(a.binary)
    return a


class Syslog:
    """The datagrams received on our /dev/log, as text."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)   # the children run as mail_owner
        self.sock.settimeout(0.1)
        self.lines = []

    def drain(self):
        while True:
            try:
                self.lines.append(self.sock.recv(65536).decode("utf-8", "replace"))
            except (socket.timeout, BlockingIOError):
                return

    def wait(self, pattern, timeout=10.0):
        end = time.monotonic() + timeout
        while True:
            self.drain()
            for line in self.lines:
                m = re.search(pattern, line)
                if m:
                    return m
            if time.monotonic() > end:
                return None


def setup_dir(args, settings):
    """The daemon's directory, written by tests/lib/mxscreen.py (which we
    do not let start it: it runs the daemon in the foreground) with
    maillog_file empty."""
    port = postfix_peer.free_port()
    inst = mxlib.MxscreenInstance(main_cf=MAIN_CF, binary=args.binary, port=port,
                                  settings=dict(settings, maillog_file=""))
    inst.dir = tempfile.mkdtemp(prefix="mxs-syslog-")
    inst._write_config()
    return inst.dir, port


def read_pid(path, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            time.sleep(0.05)
    return None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop(pid, timeout=15.0):
    """SIGTERM to the master, a bounded wait, then SIGKILL to it and to
    every process whose parent it was."""
    if pid is None:
        return
    kids = postfix_peer.pids_children(pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    end = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < end:
        reap()
        time.sleep(0.05)
    for p in [pid] + list(kids):
        if alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    end = time.monotonic() + 5
    while any(alive(p) for p in [pid] + list(kids)) and time.monotonic() < end:
        reap()
        time.sleep(0.05)
    reap()


def reap():
    """Orphans come to us (child subreaper): collect them."""
    while True:
        try:
            p, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if p == 0:
            return


def run(args, check, settings, pri, name):
    """One daemon with settings; its syslog lines must start with
    "<pri>" and carry the ident "name/service"."""
    d, port = setup_dir(args, settings)
    log = Syslog(os.path.join(d, "log"))
    pid = None
    try:
        env = dict(os.environ, T=d, BIN=args.binary)
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SETUP],
                           env=env, cwd=d, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        check.expect(r.returncode == 0, f"mxscreen -d started: {r.returncode} {r.stderr!r}")
        pid = read_pid(os.path.join(d, "data", "mxscreen.pid"))
        check.expect(pid is not None and alive(pid), f"the pid file names a live master: {pid}")
        ts = r"[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d"
        m = log.wait(rf"^<{pri}>{ts} {name}/master\[(\d+)\]: daemon started -- version \S+, "
                     rf"configuration {re.escape(os.path.join(d, 'etc'))}$")
        check.expect(m is not None and int(m.group(1)) == pid,
                     f"{name}: master's start line, pid {pid}: {log.lines[:3]}")
        banner = postfix_peer.wait_banner("127.0.0.1", port, time.monotonic() + 20)
        check.expect(banner is not None, "a 220 greeting")
        c = dc.Raw("127.0.0.1", port, timeout=15)
        try:
            c.reply()
            c.cmd("EHLO client.example.org")
            c.cmd("MAIL FROM:<a@example.org>")
            _, text, _ = c.cmd("RCPT TO:<x@elsewhere.example>")
            check.expect(text.startswith("554 5.7.1"), f"RCPT refused: {text!r}")
            c.cmd("QUIT")
        finally:
            c.close()
        m = log.wait(rf"^<{pri}>{ts} {name}/postscreen\[\d+\]: CONNECT from \[127\.0\.0\.1\]:\d+ "
                     rf"to \[127\.0\.0\.1\]:{port}$")
        check.expect(m is not None, "the frontend's CONNECT line")
        m = log.wait(rf"^<{pri}>{ts} {name}/smtpd\[(\d+)\]: connect from localhost\[127\.0\.0\.1\]")
        check.expect(m is not None, "the worker's connect line")
        worker = int(m.group(1)) if m else None
        if worker:
            check.expect(worker in postfix_peer.pids_children(pid),
                         f"smtpd[{worker}] is a child of the master [{pid}]")
        w = rf"{name}/smtpd\[{worker}\]"
        for pat in [
            rf"^<{pri}>{ts} {w}: NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 "
            r"<x@elsewhere\.example>: Relay access denied; from=<a@example\.org> "
            r"to=<x@elsewhere\.example> proto=ESMTP helo=<client\.example\.org>$",
            rf"^<{pri}>{ts} {w}: disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 "
            r"rcpt=0/1 quit=1 commands=3/4$",
        ]:
            check.expect(log.wait(pat) is not None, f"syslog line /{pat}/")
        stop(pid)
        pid_gone = not alive(pid)
        check.expect(pid_gone, "the master exited on SIGTERM")
        check.expect(log.wait(rf"^<{pri}>{ts} {name}/master\[{pid}\]: terminating", 5) is not None,
                     "the master's terminating line")
        pid = None
        if check.failures or args.v:
            print("\n".join(log.lines[-30:]))
    finally:
        stop(pid)
        log.sock.close()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


def conf_refuses(args, check):
    """mxscreen-conf refuses an unknown syslog_facility with file:line."""
    conf = os.path.join(os.path.dirname(os.path.dirname(args.binary)), "tools", "mxscreen-conf")
    if not os.access(conf, os.X_OK):
        check.expect(False, f"mxscreen-conf next to the daemon: {conf}")
        return
    d = tempfile.mkdtemp(prefix="mxs-syslog-conf-")
    try:
        cf = os.path.join(d, "main.cf")
        with open(cf, "w") as f:
            f.write("myhostname = mx.example.test\n\nsyslog_facility = local9\n")
        r = subprocess.run([conf, "-c", d], capture_output=True, text=True, timeout=30)
        want = (f"{cf}, line 3: syslog_facility = local9: expected one of: auth, authpriv, "
                "cron, daemon, ftp, kern, lpr, mail, news, syslog, user, uucp, local0, local1, "
                "local2, local3, local4, local5, local6, local7")
        check.expect(r.returncode == 1 and want in r.stderr,
                     f"syslog_facility = local9 refused: {r.returncode} {r.stderr!r}")
        with open(cf, "w") as f:
            f.write("syslog_facility = local3\nsyslog_name = mx2\n")
        r = subprocess.run([conf, "-c", d, "syslog_facility", "syslog_name"],
                           capture_output=True, text=True, timeout=30)
        check.expect(r.returncode == 0 and r.stdout == "syslog_facility = local3\n"
                     "syslog_name = mx2\n", f"local3, mx2 accepted: {r.returncode} {r.stdout!r}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    args = parse_args()
    check = dc.Checker("daemon_syslog", verbose=args.v)
    postfix_peer._become_subreaper()
    conf_refuses(args, check)
    run(args, check, {}, 22, "mxscreen")
    run(args, check, {"syslog_facility": "local3", "syslog_name": "mx2"}, 158, "mx2")
    sys.exit(check.done())


if __name__ == "__main__":
    main()
