#!/usr/bin/env python3
"""test_daemon_queue_pool.py - the queue-file inode pool (lib/queue_dir.h:
queue_directory/free/) through the real daemon, delivery_mode = queue,
against a recording sink (tests/lib/sink.py). mxscreen only: Postfix has
no such pool (its queue unlinks every delivered file).

  * reuse: a delivered 100 KB message's file goes to free/; the next
    message (a short one, held by header_checks HOLD) is written into that
    very inode, and neither its file, nor `mxscreen-ctl queue`'s size, nor
    what the sink gets after `mxscreen-ctl release` holds a byte of the
    long message;
  * restart: the pooled files of delivered messages are not delivered
    again when the daemon starts on the same queue_directory, and the
    start-up removes names in free/ that are not pool slots;
  * kill -9: the queue runner killed while messages flow and files go
    in and out of the pool: every message that got 250 reaches the sink,
    the pool stays within its bound;
  * full disk (root: a small tmpfs): with the pool warm, a message larger
    than the room left gets 452 4.3.1, leaves no file in tmp/ or
    incoming/, and the next one is queued and delivered once the space is
    back.

Each scenario runs twice: as this kernel has it (the pooled file cut by
IORING_OP_FTRUNCATE before its sync), and as a kernel before 6.9 does it
(emptied by O_TRUNC at the open), forced by MXSCREEN_SPOOL_NO_FTRUNCATE=1
(workers/spool_int.h; the reuse scenario checks the worker logged that
mode). Their check messages start "ftruncate:" and "o_trunc:"; POOL_ONLY
takes names such as "reuse" or "o_trunc:reuse".

Usage: test_daemon_queue_pool.py [MXSCREEN] [MXSCREEN_CTL] [-v] [--keep]
"""

import os
import re
import shutil
import signal
import smtplib
import sys
import tempfile
import time

from daemon_common import wait_for, wait_log
from queue_common import MAIN_CF, QChecker, ctl, parse_args, queue_files, run_scenarios, server
from test_daemon_queue_io import fill, mount_tmpfs, umount

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from sink import Sink  # noqa: E402

LONG_MARK = "LONGMESSAGEBYTES"
POOL_SLOTS = 128  # lib/queue_dir.h QDIR_POOL_SLOTS
NO_FTRUNCATE = "MXSCREEN_SPOOL_NO_FTRUNCATE"  # workers/spool_int.h SPOOL_ENV_NO_FTRUNCATE
TEST_MODE_LOG = "pooled files emptied by O_TRUNC at open (test mode)"


class PoolChecker(QChecker):
    """QChecker whose messages name the truncation mode being run."""
    mode = ""

    def expect(self, cond, msg, srv=None):
        return super().expect(cond, f"{self.mode}: {msg}", srv)


def message(tag, body, subject=None):
    return (f"From: s@example.org\r\nSubject: {subject or tag}\r\n"
            f"Message-Id: <{tag}@example.org>\r\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n{body}")


def send(host, port, text, rcpt="r@example.net"):
    """(code, reply text) at the end of DATA; (0, why) when the session broke."""
    try:
        with smtplib.SMTP(host, port, timeout=20) as s:
            s.ehlo("client.example.org")
            s.mail("s@example.org")
            s.rcpt(rcpt)
            code, text = s.data(text)
            return code, text.decode(errors="replace")
    except (OSError, smtplib.SMTPException) as e:
        return 0, str(e)


def queued_id(text):
    m = re.search(r"queued as (\w+)", text)
    return m.group(1) if m else None


def pool_dir(srv):
    return os.path.join(srv.dir, "queue", "free")


def pool_inodes(srv):
    d = pool_dir(srv)
    return {os.stat(os.path.join(d, f)).st_ino for f in queue_files(srv, "free")}


def long_body():
    line = (LONG_MARK * 4)[:60] + "\r\n"
    return line * (100000 // len(line))


def reuse(check, args):
    maps = {"header_checks": "/^Subject: hold me/ HOLD held by the test\n"}
    main_cf = MAIN_CF + "header_checks = regexp:${config_directory}/header_checks\n"
    with Sink() as sink, server(args, relay=(sink.host, sink.port), main_cf=main_cf,
                                maps=maps) as srv:
        code, text = send(srv.host, srv.port, message("long", long_body()))
        check.expect(code == 250, f"reuse: long message: {code} {text}", srv)
        otrunc = os.environ.get(NO_FTRUNCATE) == "1"
        check.expect((TEST_MODE_LOG in srv.log()) == otrunc,
                     f"reuse: the worker logged the O_TRUNC test mode: {otrunc}", srv)
        check.expect(len(sink.wait_messages(1, timeout=20)) == 1, "reuse: long one delivered", srv)
        check.expect(wait_for(lambda: len(queue_files(srv, "free")) == 1, timeout=10),
                     f"reuse: its file went to free/: {queue_files(srv, 'free')}", srv)
        pooled = pool_inodes(srv)
        time.sleep(0.2)  # a worker that found free/ empty looks again after 10 ms (queue_dir.h)
        short_body = "short body\r\n"
        short = message("short", short_body, subject="hold me")
        code, text = send(srv.host, srv.port, short)
        qid = queued_id(text)
        check.expect(code == 250 and qid, f"reuse: short message: {code} {text}", srv)
        if not qid:
            return
        path = os.path.join(srv.dir, "queue", "hold", qid)
        check.expect(wait_for(lambda: os.path.exists(path), timeout=10),
                     f"reuse: short one held: {queue_files(srv, 'hold')}", srv)
        st = os.stat(path)
        check.expect(st.st_ino in pooled,
                     f"reuse: the held message's inode {st.st_ino} is the pooled one {pooled}",
                     srv)
        check.expect(queue_files(srv, "free") == [], "reuse: the pool slot was taken", srv)
        with open(path, "rb") as f:
            data = f.read()
        check.expect(st.st_size < 2000 and len(data) == st.st_size,
                     f"reuse: the file is the short message's size: {st.st_size}", srv)
        check.expect(LONG_MARK.encode() not in data and b"\0" not in data,
                     "reuse: no byte of the long message in the file", srv)
        check.expect(data.endswith(b"X0:\n") and short_body.encode() in data,
                     "reuse: the file ends with the short message and the trailer", srv)
        m = re.search(rb"\nM20:(\d{20})\n", data)
        clen = int(m.group(1)) if m else -1
        r = ctl(args, srv, "queue")
        if r is not None:
            rows = [ln for ln in r.stdout.splitlines() if ln.startswith(qid)]
            size = int(rows[0].split()[1]) if rows else -2
            check.expect(size == clen and 0 < size < 2000,
                         f"reuse: mxscreen-ctl queue size {size} == file's content length "
                         f"{clen}: {r.stdout!r}", srv)
            r = ctl(args, srv, "release", qid)
            check.expect(r.returncode == 0, f"reuse: release: {r.stdout} {r.stderr}", srv)
            got = sink.wait_messages(2, timeout=20)
            check.expect(len(got) == 2, f"reuse: released one delivered: {len(got)}", srv)
            if len(got) == 2:
                d = got[1].data
                check.expect(LONG_MARK.encode() not in d and d.endswith(short_body.encode()),
                             f"reuse: the sink got the short message only: {d[-200:]!r}", srv)
                check.expect(len(d) < 2000, f"reuse: sink size {len(d)}", srv)


def restart(check, args):
    qdir = tempfile.mkdtemp(prefix="mxq-pool-")
    os.chmod(qdir, 0o755)
    if os.getuid() == 0:
        shutil.chown(qdir, "postfix", "postfix")
    settings = {"queue_directory": qdir}
    try:
        with Sink() as sink:
            with server(args, settings, relay=(sink.host, sink.port)) as srv:
                for i in range(3):
                    code, text = send(srv.host, srv.port, message(f"r{i}", f"body {i}\r\n"))
                    check.expect(code == 250, f"restart: message {i}: {code} {text}", srv)
                check.expect(len(sink.wait_messages(3, timeout=20)) == 3,
                             "restart: three delivered", srv)
                free = os.path.join(qdir, "free")
                check.expect(wait_for(lambda: len(os.listdir(free)) >= 1, timeout=10),
                             f"restart: pooled files: {os.listdir(free)}", srv)
            # a name that is no slot: a file left by someone else
            for junk in ("junk", "p-999", "ABCDEF"):
                with open(os.path.join(qdir, "free", junk), "w") as f:
                    f.write("MXQ1\nnot a message\n")
            pooled = sorted(n for n in os.listdir(os.path.join(qdir, "free"))
                            if re.fullmatch(r"p-\d+", n) and int(n[2:]) < POOL_SLOTS)
            with server(args, settings, relay=(sink.host, sink.port)) as srv:
                left = lambda: sorted(os.listdir(os.path.join(qdir, "free")))  # noqa: E731
                check.expect(wait_for(lambda: not {"junk", "p-999", "ABCDEF"} & set(left()),
                                      timeout=10),
                             f"restart: names that are no pool slot removed: {left()}", srv)
                check.expect(set(pooled) <= set(left()),
                             f"restart: the pool's own files kept: {pooled} {left()}", srv)
                code, text = send(srv.host, srv.port, message("after", "after restart\r\n"))
                check.expect(code == 250, f"restart: message after restart: {code}", srv)
                got = sink.wait_messages(4, timeout=20)
                time.sleep(1.5)  # two queue_run_delay scans: nothing else may come
                check.expect(len(sink.messages) == 4 and got[3].data.endswith(b"after restart\r\n"),
                             f"restart: nothing pooled delivered again: {len(sink.messages)}",
                             srv)
    finally:
        shutil.rmtree(qdir, ignore_errors=True)


def kill_runner(check, args):
    with Sink() as sink, server(args, {"worker_processes": "2"},
                                relay=(sink.host, sink.port)) as srv:
        ok = []
        killed = set()
        for i in range(60):
            code, text = send(srv.host, srv.port, message(f"k{i}", f"kill body {i}\r\n"))
            if code == 250:
                ok.append(f"<k{i}@example.org>")
            if i in (20, 40):
                pids = set(re.findall(r"mxscreen/qmgr\[(\d+)\]", srv.log())) - killed
                for p in pids:
                    try:
                        os.kill(int(p), signal.SIGKILL)
                        killed.add(p)
                    except ProcessLookupError:
                        pass
        check.expect(len(ok) == 60, f"kill -9: all 60 accepted: {len(ok)}", srv)
        check.expect(len(killed) >= 1, "kill -9: a runner was killed", srv)

        def ids():
            return {re.search(rb"Message-Id: (<[^>]+>)", m.data).group(1).decode()
                    for m in list(sink.messages)}
        check.expect(wait_for(lambda: set(ok) <= ids(), timeout=40),
                     f"kill -9: every acknowledged message delivered; missing "
                     f"{sorted(set(ok) - ids())[:5]}", srv)
        check.expect(len(queue_files(srv, "free")) <= POOL_SLOTS,
                     f"kill -9: pool within its bound: {len(queue_files(srv, 'free'))}", srv)
        check.expect("corrupt" not in srv.log(), "kill -9: nothing moved to corrupt", srv)


def full_disk(check, args):
    mnt, why = mount_tmpfs("1m")
    if not mnt:
        print(f"full disk: skipped ({why})")
        return
    try:
        qdir = os.path.join(mnt, "queue")
        with Sink() as sink, server(args, {"queue_directory": qdir},
                                    relay=(sink.host, sink.port)) as srv:
            code, _ = send(srv.host, srv.port, message("warm", "x" * 20000 + "\r\n"))
            check.expect(code == 250 and len(sink.wait_messages(1, timeout=20)) == 1,
                         "full disk: a message delivered", srv)
            free = os.path.join(qdir, "free")
            check.expect(wait_for(lambda: len(os.listdir(free)) == 1, timeout=10),
                         "full disk: its file pooled", srv)
            filler = os.path.join(mnt, "filler")
            fill(filler, 16384)
            body = ("y" * 998 + "\r\n") * 100
            code, text = send(srv.host, srv.port, message("big", body))
            check.expect(code == 452 and text.startswith("4.3.1 Insufficient system storage"),
                         f"full disk: 452 4.3.1: {code} {text}", srv)
            check.expect(not os.listdir(os.path.join(qdir, "tmp")) and
                         not os.listdir(os.path.join(qdir, "incoming")),
                         "full disk: no file left in tmp/ or incoming/", srv)
            check.expect(wait_log(srv, r"write \S+/tmp/\d+\.\w+: No space left on device"),
                         "full disk: the log names the file and the error", srv)
            os.unlink(filler)
            code, text = send(srv.host, srv.port, message("back", body))
            check.expect(code == 250, f"full disk: space back, 250: {code} {text}", srv)
            got = sink.wait_messages(2, timeout=20)
            check.expect(len(got) == 2 and got[1].data.endswith(body.encode()),
                         "full disk: then delivered whole", srv)
    finally:
        umount(mnt)


def in_mode(check, mode, fn):
    """fn run with the daemon's truncation mode set: mode "o_trunc"
    puts NO_FTRUNCATE=1 in the environment the daemon inherits."""
    def run(check_, args):
        check.mode = mode
        if mode == "o_trunc":
            os.environ[NO_FTRUNCATE] = "1"
        else:
            os.environ.pop(NO_FTRUNCATE, None)
        try:
            fn(check_, args)
        finally:
            os.environ.pop(NO_FTRUNCATE, None)
    return run


def main():
    args = parse_args(__doc__, ctl=True)
    check = PoolChecker("daemon_queue_pool", args.v)
    scenarios = [("reuse", reuse), ("restart", restart), ("kill_runner", kill_runner),
                 ("full_disk", full_disk)]
    only = os.environ.get("POOL_ONLY")
    runs = [(f"{mode}:{name}", in_mode(check, mode, fn))
            for mode in ("ftruncate", "o_trunc") for name, fn in scenarios
            if not only or name in only.split(",") or f"{mode}:{name}" in only.split(",")]
    return run_scenarios(check, runs, args)


if __name__ == "__main__":
    sys.exit(main())
