#!/usr/bin/env python3
"""test_daemon_queue_io.py - delivery_mode = queue: the worker's disk I/O
goes through its io_uring (workers/spool.c), through the real daemon.

Usage: test_daemon_queue_io.py [MXSCREEN] [-v] [--keep]

  * large messages (several spool buffers each, up to 1.5 MB) from three
    sessions at once, two messages per session: every one is queued with
    its content byte for byte (test_daemon_queue.py's independent reader)
    and the length record patched (the file ends where it says);
  * the worker itself makes no pwrite/fsync/fdatasync/rename system call
    and opens no queue file while it queues them (strace on the worker
    process: the file's creation, the writes, the file sync, the rename
    and the directory sync are ring requests);
    skipped with the reason when strace is missing or cannot attach;
  * a disk that fills only at the end of DATA (a small tmpfs, filled up
    to 16 KiB before a 40 KB message, which the worker holds in its buffer
    until the final dot): the last write is short, the next one fails,
    the client gets 452 4.3.1 after its dot, the log names the file and
    the error, no file is left; once space is back a message goes through;
  * a client that goes away in the middle of a large DATA, writes in
    flight: its file is removed and the worker keeps serving.
The tmpfs parts need root (mount); they say so and are skipped otherwise.
Postfix comparison: none (the replies and log lines are those already
compared in test_daemon_queue.py).
"""

import os
import random
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

from daemon_common import Checker, Raw, mxlib, parse_args, wait_log
from test_daemon_queue import queue_files, queued_id, read_queued

RCPT = "r@example.org"


def body_of(seed, size):
    """A message of about size bytes: headers and random printable lines,
    some starting with a dot (stuffed on the wire, un-stuffed in the file)."""
    rnd = random.Random(seed)
    out = [b"Subject: io %d\r\nMessage-ID: <io%d@example.com>\r\n\r\n" % (seed, seed)]
    n = len(out[0])
    while n < size:
        k = rnd.randint(0, 200)
        line = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 .") for _ in range(k))
        out.append(line + b"\r\n")
        n += k + 2
    return b"".join(out)


def stuffed(body):
    return body.replace(b"\r\n.", b"\r\n..")


def worker_pid(srv):
    m = re.search(r"mxscreen/smtpd\[(\d+)\]: worker 1 started", srv.log())
    return int(m.group(1)) if m else None


def send_messages(host, port, bodies, results, key):
    try:
        with smtplib.SMTP(host, port, timeout=30) as c:
            for body in bodies:
                c.mail("big@example.com")
                c.rcpt(RCPT)
                code, text = c.data(body)
                results.append((key, body, code, text.decode()))
    except (OSError, smtplib.SMTPException) as e:
        results.append((key, None, 0, f"{type(e).__name__}: {e}"))


def check_queued(check, qdir, results, what):
    for key, body, code, text in results:
        if not check.expect(code == 250 and body is not None, f"{what} {key}: {code} {text}"):
            continue
        qid = queued_id(text)
        try:
            env = read_queued(qdir, qid)
        except (OSError, ValueError, IndexError) as e:
            check.expect(False, f"{what} {key}: queue file {qid}: {e}")
            continue
        c = env["content"]
        check.expect(c.startswith(b"Received: from ") and c.endswith(body),
                     f"{what} {key}: {len(body)} bytes queued byte for byte ({len(c)} in file)")


def big_messages(check, binary, qdir, use_strace):
    settings = {"delivery_mode": "queue", "queue_directory": qdir,
                "master_service_disable": "qmgr", "message_size_limit": "20000000"}
    with mxlib.MxscreenInstance(settings=settings, binary=binary, workers=1) as srv:
        pid = wait_pid(srv)
        tracer, trace_out = None, None
        if use_strace and pid:
            tracer, trace_out = start_strace(pid)
            if tracer is None:
                print(f"no-syscall check: skipped ({trace_out})")
        sizes = [(1500000, 300000), (700000, 90000), (150000, 40000)]
        results, threads = [], []
        for i, (a, b) in enumerate(sizes):
            bodies = [body_of(10 * i + 1, a), body_of(10 * i + 2, b)]
            t = threading.Thread(target=send_messages,
                                 args=(srv.host, srv.port, bodies, results, f"session {i}"))
            threads.append(t)
            t.start()
        for t in threads:
            t.join(90)
        check.expect(len(results) == 6, f"big messages: 6 answers, got {len(results)}")
        check_queued(check, qdir, results, "big messages")
        check.expect(queue_files(qdir, "tmp") == [], "big messages: nothing left in tmp/")
        if tracer is not None:
            calls = stop_strace(tracer, trace_out)
            queued = sum(1 for r in results if r[2] == 250)
            check.expect(queued > 0 and calls is not None and calls == [],
                         "the worker made no blocking disk call while queueing: "
                         f"{(calls or [])[:5]}")


def wait_pid(srv):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = worker_pid(srv)
        if pid:
            return pid
        time.sleep(0.05)
    return None


BLOCKING = "pwrite64,pwritev,pwritev2,fsync,fdatasync,sync_file_range,rename,renameat,renameat2"
# openat is traced too, but only the creation of a tmp/ file ("PID.ID",
# relative to the tmp/ descriptor) counts: the worker also opens the
# runner's FIFO (non-blocking) after a directory sync.
TMP_OPEN = re.compile(r'\bopenat\(\d+, "\d+\.[0-9A-Za-z]+"')


def start_strace(pid):
    """strace on every thread of the worker, attached before it returns:
    (process, output file), or (None, why not)."""
    if not shutil.which("strace"):
        return None, "no strace"
    out = tempfile.mktemp(prefix="mxq-io-strace-")
    p = subprocess.Popen(["strace", "-f", "-e", "trace=openat," + BLOCKING, "-o", out,
                          "-p", str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    line = ""
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        if "attached" in line:
            return p, out
        if not line and p.poll() is not None:
            break
    p.kill()
    p.wait(5)
    return None, f"strace could not attach: {line.strip()}"


def stop_strace(p, out):
    """The blocking calls strace saw (their lines), or None."""
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
    try:
        with open(out) as f:
            lines = f.read().splitlines()
        os.unlink(out)
    except OSError:
        return None
    names = BLOCKING.split(",")
    return [ln for ln in lines
            if TMP_OPEN.search(ln) or any(re.search(r"\b%s\(" % n, ln) for n in names)]


def mount_tmpfs(size):
    if os.getuid() != 0:
        return None, "mounting a small tmpfs needs root"
    mnt = tempfile.mkdtemp(prefix="mxq-io-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        return None, f"mount refused: {r.stderr.strip()}"
    return mnt, ""


def umount(mnt):
    subprocess.run(["umount", mnt], capture_output=True)
    os.rmdir(mnt)


def fill(path, leave):
    """Fill the file system of path up, then give back leave bytes."""
    with open(path, "wb", buffering=0) as f:
        chunk = b"f" * 4096
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    size = os.path.getsize(path)
    os.truncate(path, max(0, size - leave))


def late_full_disk(check, binary):
    mnt, why = mount_tmpfs("512k")
    if not mnt:
        print(f"late full disk: skipped ({why})")
        return
    try:
        qdir = os.path.join(mnt, "queue")
        settings = {"delivery_mode": "queue", "queue_directory": qdir,
                    "master_service_disable": "qmgr"}
        with mxlib.MxscreenInstance(settings=settings, binary=binary, workers=1) as srv:
            s = Raw(srv.host, srv.port)
            s.reply()
            s.cmd("EHLO client.example")
            filler = os.path.join(mnt, "filler")
            fill(filler, 16384)
            s.cmd("MAIL FROM:<late@example.com>")
            s.cmd(f"RCPT TO:<{RCPT}>")
            s.cmd("DATA")
            s.send(stuffed(body_of(7, 40000)) + b".\r\n")
            code, text, _ = s.reply()
            check.expect(text.startswith("452 4.3.1 Insufficient system storage"),
                         f"late full disk: after the dot: {text}")
            check.expect(queue_files(qdir) == [] and queue_files(qdir, "tmp") == [],
                         "late full disk: no file left")
            check.expect(wait_log(srv, r"write \S+/tmp/\d+\.\w+: No space left on device"),
                         "late full disk: the log names the file and the error")
            os.unlink(filler)
            body = body_of(8, 40000)
            s.cmd("MAIL FROM:<late@example.com>")
            s.cmd(f"RCPT TO:<{RCPT}>")
            s.cmd("DATA")
            s.send(stuffed(body) + b".\r\n")
            code, text, _ = s.reply()
            check.expect(code == "250", f"late full disk: space back, 250: {text}")
            if code == "250":
                env = read_queued(qdir, queued_id(text))
                check.expect(env["content"].endswith(body), "late full disk: then queued whole")
            s.close()
    finally:
        umount(mnt)


def client_leaves(check, binary, qdir):
    settings = {"delivery_mode": "queue", "queue_directory": qdir,
                "master_service_disable": "qmgr", "message_size_limit": "20000000"}
    with mxlib.MxscreenInstance(settings=settings, binary=binary, workers=1) as srv:
        before = set(queue_files(qdir))
        s = Raw(srv.host, srv.port)
        s.reply()
        s.cmd("EHLO client.example")
        s.cmd("MAIL FROM:<gone@example.com>")
        s.cmd(f"RCPT TO:<{RCPT}>")
        s.cmd("DATA")
        s.send(body_of(9, 800000))
        deadline = time.monotonic() + 10
        while not queue_files(qdir, "tmp") and time.monotonic() < deadline:
            time.sleep(0.01)
        check.expect(queue_files(qdir, "tmp") != [], "client leaves: its file was in tmp/")
        s.close()
        deadline = time.monotonic() + 10
        while queue_files(qdir, "tmp") and time.monotonic() < deadline:
            time.sleep(0.02)
        check.expect(queue_files(qdir, "tmp") == [], "client leaves: its tmp/ file is removed")
        check.expect(set(queue_files(qdir)) == before, "client leaves: nothing queued")
        results = []
        send_messages(srv.host, srv.port, [body_of(10, 200000)], results, "after")
        check_queued(check, qdir, results, "client leaves: next session")
        check.expect(srv.alive(), "client leaves: the daemon is still running")


def main():
    args = parse_args(__doc__)
    check = Checker("daemon_queue_io", args.v)
    work = tempfile.mkdtemp(prefix="mxq-io-")
    os.chmod(work, 0o755)  # the workers run as mail_owner
    try:
        big_messages(check, args.binary, os.path.join(work, "q1"), use_strace=True)
        late_full_disk(check, args.binary)
        client_leaves(check, args.binary, os.path.join(work, "q2"))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return check.done()


if __name__ == "__main__":
    sys.exit(main())
