#!/usr/bin/env python3
"""test_daemon_queue.py - delivery_mode = queue through the real daemon.

Usage: test_daemon_queue.py [MXSCREEN] [MXSCREEN_CTL] [-v] [--keep]

  * messages accepted (smtplib; DATA with dot lines; pipelined
    transactions; BDAT) are in queue_directory/incoming/ENVELOPE+CONTENT,
    decoded here by an independent reader of lib/queue_file.h's format:
    sender, recipients, client, and the content byte for byte (our
    Received: header, then what the client sent, un-stuffed);
  * the 250 comes only once the file is complete in incoming/: checked at
    the instant the reply arrives, and by a reader thread that watches
    incoming/ the whole time and must never see an incomplete file;
  * log lines as Postfix's cleanup and qmgr write them;
  * a full disk (a 256 KiB tmpfs mounted here as root) gives 452 4.3.1
    and leaves no file; skipped with the reason when mount is refused;
  * kill -9 of every daemon process in the middle of DATA: after a
    restart on the same queue_directory, every acknowledged message is
    there, the unfinished one is not (its tmp/ file removed at start);
  * mxscreen-ctl queue / hold / release / delete on that queue.

Postfix comparison: none here (a Postfix queue file is another format);
the replies ("250 2.0.0 Ok: queued as ID", "452 4.3.1 Insufficient system
storage") and log lines are Postfix 3.7's.
"""

import os
import re
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

from daemon_common import Checker, Raw, mxlib

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- an independent reader of the queue file format ----

def parse_queue_file(data):
    """{"id", "sender", "rcpts": [(addr, state, error)], "client", ...,
    "content"} or raises ValueError naming what is wrong."""
    if not data.startswith(b"MXQ1\n"):
        raise ValueError("bad magic")
    pos, env, rcpts = 5, {}, []
    while True:
        t = data[pos:pos + 1].decode()
        colon = data.index(b":", pos)
        n = int(data[pos + 1:colon])
        val = data[colon + 1:colon + 1 + n]
        if data[colon + 1 + n:colon + 2 + n] != b"\n":
            raise ValueError(f"record {t}: no newline")
        pos = colon + 2 + n
        if t == "R":
            rcpts.append([val.decode()])
        elif t == "D":
            rcpts[-1] += [chr(val[0]), val[2:].decode().rstrip(" ")]
        elif t == "M":
            clen = int(val)
            env["content"] = data[pos:pos + clen]
            if data[pos + clen:] != b"X0:\n":
                raise ValueError("no trailer where the content length says")
            break
        else:
            env[t] = val.decode()
    env["rcpts"] = [tuple(r) for r in rcpts]
    return env


def queue_files(qdir, sub="incoming"):
    d = os.path.join(qdir, sub)
    try:
        return sorted(os.listdir(d))
    except OSError:
        return []


def read_queued(qdir, qid, sub="incoming"):
    with open(os.path.join(qdir, sub, qid), "rb") as f:
        return parse_queue_file(f.read())


class Watcher(threading.Thread):
    """Reads every file that shows up in incoming/ while the test runs:
    each must already be complete (renamed only after it was written)."""

    def __init__(self, qdir):
        super().__init__(daemon=True)
        self.qdir, self.bad, self.seen = qdir, [], set()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for name in queue_files(self.qdir):
                if name in self.seen:
                    continue
                try:
                    with open(os.path.join(self.qdir, "incoming", name), "rb") as f:
                        parse_queue_file(f.read())
                    self.seen.add(name)
                except FileNotFoundError:
                    pass
                except (ValueError, IndexError) as e:
                    self.bad.append((name, str(e)))
                    self.seen.add(name)
            time.sleep(0.002)


def queued_id(text):
    m = re.search(r"queued as ([0-9A-Za-z]+)", text)
    return m.group(1) if m else None


def stuffed(body):
    return b"".join(b"." + ln if ln.startswith(b".") else ln
                    for ln in body.splitlines(keepends=True))


def content_ok(check, env, body, what):
    c = env["content"]
    check.expect(c.startswith(b"Received: from "), f"{what}: content begins with Received:")
    check.expect(c.endswith(body), f"{what}: content ends with the message as sent "
                 f"(un-stuffed): {c[-80:]!r}")


def data_session(check, srv, qdir, watcher):
    body = (b"Subject: queue test\r\nMessage-ID: <q1@example.com>\r\n\r\n"
            b"line one\r\n.leading dot\r\n..two dots\r\n" + b"x" * 5000 + b"\r\n")
    s = Raw(srv.host, srv.port)
    check.expect(s.reply()[0] == "220", "greeting")
    s.cmd("EHLO client.example")
    check.expect(s.cmd("MAIL FROM:<sender@example.com>")[0] == "250", "MAIL")
    check.expect(s.cmd("RCPT TO:<a@example.org>")[0] == "250", "RCPT a")
    check.expect(s.cmd("RCPT TO:<b@example.org>")[0] == "250", "RCPT b")
    check.expect(s.cmd("DATA")[0] == "354", "DATA")
    s.send(stuffed(body) + b".\r\n")
    code, text, _ = s.reply()
    # The instant the reply is here, the message must be whole in incoming/.
    qid = queued_id(text)
    present = qid in queue_files(qdir)
    check.expect(code == "250" and text.startswith("250 2.0.0 Ok: queued as "),
                 f"end of DATA: {text}")
    check.expect(present, f"incoming/{qid} exists when the 250 arrives")
    if present:
        env = read_queued(qdir, qid)
        check.expect(env["I"] == qid, "queue id record")
        check.expect(env["S"] == "sender@example.com", f"sender {env['S']}")
        check.expect(env["rcpts"] == [("a@example.org", "P", ""), ("b@example.org", "P", "")],
                     f"recipients {env['rcpts']}")
        check.expect(env.get("A") == "127.0.0.1" and env.get("H") == "client.example"
                     and env.get("P") == "ESMTP", f"client {env}"[:200])
        content_ok(check, env, body, "DATA")
    # Pipelined: two transactions in one write, content included.
    b2, b3 = b"Subject: p2\r\n\r\nsecond\r\n", b"Subject: p3\r\n\r\nthird\r\n"
    s.send(b"MAIL FROM:<>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n" + b2 + b".\r\n"
           b"MAIL FROM:<s3@example.com>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n" + b3 +
           b".\r\n")
    codes = [s.reply() for _ in range(8)]
    check.expect([c[0] for c in codes] == ["250", "250", "354", "250", "250", "250", "354",
                                            "250"], f"pipelined replies {codes}")
    ids = [queued_id(codes[3][1]), queued_id(codes[7][1])]
    for qid, body_, sender, rcpt in ((ids[0], b2, "", "c@example.org"),
                                     (ids[1], b3, "s3@example.com", "d@example.org")):
        ok = check.expect(qid in queue_files(qdir), f"pipelined {qid} in incoming")
        if ok:
            env = read_queued(qdir, qid)
            check.expect(env["S"] == sender and env["rcpts"][0][0] == rcpt,
                         f"pipelined envelope {env['S']} {env['rcpts']}")
            content_ok(check, env, body_, "pipelined")
    # BDAT in two chunks.
    s.cmd("RSET")
    s.cmd("MAIL FROM:<bdat@example.com>")
    s.cmd("RCPT TO:<e@example.org>")
    c1, c2 = b"Subject: bdat\r\n\r\n", b"chunked .body\r\n"
    s.send(b"BDAT %d\r\n" % len(c1) + c1)
    check.expect(s.reply()[0] == "250", "BDAT chunk")
    s.send(b"BDAT %d LAST\r\n" % len(c2) + c2)
    code, text, _ = s.reply()
    qid = queued_id(text)
    check.expect(code == "250" and qid in queue_files(qdir), f"BDAT LAST: {text}")
    if qid in queue_files(qdir):
        content_ok(check, read_queued(qdir, qid), c1 + c2, "BDAT")
    s.cmd("QUIT")
    s.close()
    # smtplib, a second client.
    with smtplib.SMTP(srv.host, srv.port, timeout=20) as c:
        c.sendmail("x@example.com", ["y@example.org"], b"Subject: s\r\n\r\nsmtplib\r\n")
    log = srv.log()
    check.expect(re.search(r"smtpd\[\d+\]: \w+: message-id=<q1@example.com>", log),
                 "cleanup's message-id= line")
    check.expect(re.search(r"\w+: message-id=<>", log), "message-id=<> without one")
    check.expect(re.search(r"\w+: from=<sender@example.com>, size=\d+, nrcpt=2 "
                           r"\(queue active\)", log), "qmgr's queue active line")
    check.expect(len(queue_files(qdir)) == 5, f"5 messages queued: {queue_files(qdir)}")
    check.expect(queue_files(qdir, "tmp") == [], "tmp/ empty after the sessions")


def ctl(ctl_bin, conf, *args):
    p = subprocess.run([ctl_bin, "-c", conf, *args], capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout + p.stderr


def ctl_checks(check, ctl_bin, conf, qdir):
    ids = queue_files(qdir)
    rc, out = ctl(ctl_bin, conf, "queue")
    check.expect(rc == 0 and all(i in out for i in ids) and "sender@example.com" in out
                 and "Requests." in out, f"mxscreen-ctl queue lists every message: {out}")
    rc, out = ctl(ctl_bin, conf, "hold", ids[0])
    check.expect(rc == 0 and queue_files(qdir, "hold") == [ids[0]], f"hold: {out}")
    rc, out = ctl(ctl_bin, conf, "queue")
    check.expect(re.search(re.escape(ids[0]) + r"!", out), f"held shown with '!': {out}")
    rc, out = ctl(ctl_bin, conf, "release", ids[0])
    # postsuper -H: hold/ -> deferred/ (not incoming/)
    check.expect(rc == 0 and ids[0] in queue_files(qdir, "deferred")
                 and not queue_files(qdir, "hold"), f"release: {out}")
    rc, out = ctl(ctl_bin, conf, "release", ids[0])
    check.expect(rc == 1, f"release of a message not on hold fails: {out}")
    rc, out = ctl(ctl_bin, conf, "delete", ids[1])
    check.expect(rc == 0 and ids[1] not in queue_files(qdir), f"delete ID: {out}")
    rc, out = ctl(ctl_bin, conf, "delete", "NOSUCHID")
    check.expect(rc == 1 and "no such message" in out, f"delete unknown: {out}")
    rc, out = ctl(ctl_bin, conf, "flush")
    check.expect(rc == 1 and "queue runner is not running" in out,
                 f"flush without a runner says so: {out}")
    rc, out = ctl(ctl_bin, conf, "delete", "ALL")
    check.expect(rc == 0 and queue_files(qdir) == [], f"delete ALL: {out}")
    rc, out = ctl(ctl_bin, conf, "queue")
    check.expect(rc == 0 and "Mail queue is empty" in out, f"empty queue: {out}")


def full_disk(check, binary):
    if os.getuid() != 0:
        print("full disk: skipped (mounting a small tmpfs needs root)")
        return
    mnt = tempfile.mkdtemp(prefix="mxq-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"full disk: skipped (mount refused: {r.stderr.strip()})")
        os.rmdir(mnt)
        return
    try:
        qdir = os.path.join(mnt, "queue")
        with mxlib.MxscreenInstance(settings={"delivery_mode": "queue",
                                              "queue_directory": qdir,
                                              "master_service_disable": "qmgr"},
                                    binary=binary) as srv:
            s = Raw(srv.host, srv.port)
            s.reply()
            s.cmd("EHLO client.example")
            s.cmd("MAIL FROM:<big@example.com>")
            s.cmd("RCPT TO:<a@example.org>")
            s.cmd("DATA")
            s.send(b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 600 + b".\r\n")
            code, text, _ = s.reply()
            check.expect(text.startswith("452 4.3.1 Insufficient system storage"),
                         f"full disk: {text}")
            check.expect(queue_files(qdir) == [] and queue_files(qdir, "tmp") == [],
                         "full disk: no file left")
            check.expect(re.search(r"write \S+/tmp/\d+\.\w+: No space left on device",
                                   srv.log()), "full disk: log names the file and error")
            # A small one still goes through once the space is back.
            s.cmd("MAIL FROM:<small@example.com>")
            s.cmd("RCPT TO:<a@example.org>")
            s.cmd("DATA")
            s.send(b"Subject: small\r\n\r\nfits\r\n.\r\n")
            code, text, _ = s.reply()
            check.expect(code == "250", f"full disk: a small message after it: {text}")
            s.close()
    finally:
        subprocess.run(["umount", mnt], capture_output=True)
        os.rmdir(mnt)


def kill_mid_data(check, binary, qdir):
    """Everything killed with SIGKILL while a client is inside DATA."""
    acked = []
    settings = {"delivery_mode": "queue", "queue_directory": qdir,
                "master_service_disable": "qmgr"}  # the files stay where the worker put them
    srv = mxlib.MxscreenInstance(settings=settings, binary=binary)
    srv.start()
    try:
        with smtplib.SMTP(srv.host, srv.port, timeout=20) as c:
            for i in range(5):
                c.mail(f"k{i}@example.com")
                c.rcpt("r@example.org")
                code, text = c.data(b"Subject: k%d\r\n\r\nbody\r\n" % i)
                if code == 250:
                    acked.append(queued_id(text.decode()))
        s = Raw(srv.host, srv.port)
        s.reply()
        s.cmd("EHLO client.example")
        s.cmd("MAIL FROM:<half@example.com>")
        s.cmd("RCPT TO:<r@example.org>")
        s.cmd("DATA")
        s.send(b"Subject: half\r\n\r\n" + b"z" * 200000)
        deadline = time.monotonic() + 10
        while not queue_files(qdir, "tmp") and time.monotonic() < deadline:
            time.sleep(0.05)
        check.expect(queue_files(qdir, "tmp") != [], "kill -9: the unfinished file is in tmp/")
        for pid in mxlib.pids_in_group(srv.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        s.close()
    finally:
        srv.stop()
    check.expect(sorted(acked) == queue_files(qdir) and len(acked) == 5,
                 f"kill -9: acknowledged {sorted(acked)} == queued {queue_files(qdir)}")
    # A restart on the same queue removes the half-written file.
    with mxlib.MxscreenInstance(settings=settings, binary=binary) as srv2:
        deadline = time.monotonic() + 10
        while queue_files(qdir, "tmp") and time.monotonic() < deadline:
            time.sleep(0.05)
        check.expect(queue_files(qdir, "tmp") == [], "restart: tmp/ cleaned")
        check.expect(sorted(acked) == queue_files(qdir), "restart: acknowledged ones kept")
        check.expect("removed 1 unfinished file(s) from tmp" in srv2.log(),
                     "restart: the cleanup is logged")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    binary = args[0] if args else mxlib.find_binary()
    if not binary or not os.access(binary, os.X_OK):
        print("test_daemon_queue: no mxscreen daemon binary: skipped")
        return 77
    ctl_bin = args[1] if len(args) > 1 else os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(binary))), "tools", "mxscreen-ctl")
    check = Checker("daemon_queue", verbose)
    work = tempfile.mkdtemp(prefix="mxq-test-")
    os.chmod(work, 0o755)
    qdir = os.path.join(work, "queue")
    settings = {"delivery_mode": "queue", "queue_directory": qdir,
                "mynetworks": "127.0.0.0/8", "master_service_disable": "qmgr"}
    srv = mxlib.MxscreenInstance(settings=settings, binary=binary, keep="--keep" in sys.argv)
    with srv:
        watcher = Watcher(qdir)
        watcher.start()
        data_session(check, srv, qdir, watcher)
        deadline = time.monotonic() + 5
        while len(watcher.seen) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        watcher.stop.set()
        watcher.join(5)
        check.expect(watcher.bad == [], f"no incomplete file ever in incoming/: {watcher.bad}")
        check.expect(len(watcher.seen) >= 5, f"the watcher saw them: {len(watcher.seen)}")
        if os.access(ctl_bin, os.X_OK):
            ctl_checks(check, ctl_bin, srv.conf_dir, qdir)
        else:
            check.expect(False, f"no mxscreen-ctl at {ctl_bin}")
        log = srv.log()
    full_disk(check, binary)
    kill_mid_data(check, binary, os.path.join(work, "queue2"))
    subprocess.run(["rm", "-rf", work])
    return check.done(log=log)


if __name__ == "__main__":
    sys.exit(main())
