#!/usr/bin/env python3
"""test_daemon_queue_ops.py - how mail reaches the queue runner, through the
real daemon (delivery_mode = queue, a recording sink as the relayhost).

Usage: test_daemon_queue_ops.py [MXSCREEN] [MXSCREEN_CTL] [-v] [--keep]

  * wake-up: with Postfix's default queue_run_delay (300s) the runner scans
    incoming/ only when woken; a worker's 'W' into queue_directory/qmgr
    after its directory sync (as cleanup wakes qmgr) gets every message to
    the sink within seconds, and the runner's own non-delivery notice (a
    550 at the sink) goes out as fast, without a poll;
  * release: a message put on hold by header_checks HOLD sits in hold/;
    `mxscreen-ctl release ID` moves it to deferred/ (postsuper -H, with
    its "ID: released from hold"), and the runner delivers it at its next
    deferred/ scan (queue_run_delay = 2s here), not before the release;
  * requeue: messages deferred with a backoff of an hour go out within
    seconds of `mxscreen-ctl requeue` (postsuper -r ALL), logged
    "requeue: N messages", and the queue is empty afterwards;
  * requeue reset: what the schedule reset in the runner's requeue is for.
    A requeued message is taken from incoming/ whatever its schedule says,
    but one that goes back to deferred/ without a new schedule (its
    NOTIFY=SUCCESS report could not be queued: a full disk, a small tmpfs
    mounted here as root, skipped otherwise) must be retried at the next
    deferred/ scan once there is room, not at the hour its old backoff
    set. Fails with qf_set_schedule removed from requeue().

Postfix comparison: postsuper -H moves hold -> deferred (src/postsuper
release_one); cleanup triggers qmgr once per message (mail_trigger 'W').
No private Postfix runs here.
"""

import os
import re
import smtplib
import subprocess
import sys
import tempfile
import time

import queue_common
from daemon_common import wait_for
from queue_common import QChecker, ctl, parse_args, queue_files, run_scenarios, send_one, server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from postfix_peer import free_port  # noqa: E402
from sink import Sink  # noqa: E402


def send(srv, subject, rcpts=("b@example.test",)):
    """(250 or not, queue id)"""
    qid = send_one(srv, subject, sender="a@example.org", rcpt=rcpts)
    return (250 if qid else None), qid


def test_wake(check, args):
    def rcpt(session, arg):
        return "550 5.1.1 no such user" if "nobody@" in arg else None

    with Sink(replies={"rcpt": rcpt}) as sink:
        # queue_run_delay 300s: without a wake-up nothing would move for 5 minutes
        with server(args, {"queue_run_delay": "300s"}, relay=(sink.host, sink.port),
                    fast={"delivery_mode": "queue"}) as srv:
            # the runner's first incoming/ scan is at its start: wait for its FIFO
            check.expect(wait_for(lambda: os.path.exists(os.path.join(srv.dir, "queue", "qmgr")),
                                  10), "the runner made its trigger FIFO", srv)
            time.sleep(0.5)
            for i in range(3):
                t0 = time.monotonic()
                code, qid = send(srv, f"wake {i}")
                check.expect(code == 250 and qid, f"message {i} queued")
                got = sink.wait_messages(i + 1, timeout=10)
                dt = time.monotonic() - t0
                check.expect(len(got) >= i + 1, f"message {i} delivered after a wake-up "
                             f"({dt:.2f}s)", srv)
                check.expect(wait_for(lambda: f"{qid}: removed" in srv.log(), 5),
                             f"{qid}: removed", srv)
            # a 550: the notice is queued by the runner itself and leaves
            # at once (our own trigger), to the sender through the sink
            code, qid = send(srv, "bounce me", rcpts=("nobody@example.test",))
            check.expect(code == 250, "message to be bounced queued")
            got = sink.wait_messages(4, timeout=15)
            notice = [m for m in got if b"Undelivered Mail Returned to Sender" in m.data]
            check.expect(notice, "the non-delivery notice went out without waiting for a "
                         "queue run", srv)
            check.expect(re.search(rf"{qid}: sender non-delivery notification: \w+", srv.log()),
                         "the notice is logged as Postfix's bounce logs it", srv)


def test_release(check, args):
    maps = {"header_checks": "/^Subject: hold me/ HOLD held by the test\n"}
    with Sink() as sink:
        with server(args, {"queue_run_delay": "2s"}, relay=(sink.host, sink.port),
                    main_cf=queue_common.MAIN_CF + "header_checks = regexp:"
                    "${config_directory}/header_checks\n",
                    maps=maps, fast={"delivery_mode": "queue"}) as srv:
            code, qid = send(srv, "hold me")
            check.expect(code == 250 and qid and queue_files(srv, "hold") == [qid],
                         f"HOLD: the message is in hold/: {queue_files(srv, 'hold')}", srv)
            time.sleep(4.5)  # two queue runs: a held message is left alone
            check.expect(not sink.messages and queue_files(srv, "hold") == [qid],
                         "nothing delivered while on hold", srv)
            if not args.ctl:
                print("release: skipped (no mxscreen-ctl)")
                return
            r = ctl(args, srv, "release", qid)
            check.expect(r.returncode == 0 and f"{qid}: released from hold" in r.stdout
                         and "Released from hold: 1 message" in r.stdout,
                         f"mxscreen-ctl release: {r.stdout} {r.stderr}")
            check.expect(not queue_files(srv, "hold") and (qid in queue_files(srv, "deferred") or
                                                    qid in queue_files(srv, "active") or
                                                    sink.messages),
                         f"released into deferred/: {queue_files(srv, 'deferred')}", srv)
            got = sink.wait_messages(1, timeout=15)
            check.expect(len(got) == 1 and b"Subject: hold me" in got[0].data,
                         "delivered at the next deferred/ scan", srv)
            check.expect(wait_for(lambda: re.search(rf"{qid}: to=<b@example\.test>, relay=.*"
                                                    r"status=sent", srv.log()), 5),
                         "status=sent logged", srv)
            r = ctl(args, srv, "release", qid)
            check.expect(r.returncode == 1, f"release of a message not on hold fails: {r.stderr}")


def test_requeue(check, args):
    """mxscreen-ctl requeue (postsuper -r ALL): deferred messages go back to
    incoming/ with their schedule reset and are tried at once, not after
    their backoff (an hour here)."""
    if not args.ctl:
        print("requeue: skipped (no mxscreen-ctl)")
        return
    port = free_port()  # the next hop is down until the sink takes this port
    settings = {"queue_run_delay": "1h", "minimal_backoff_time": "1h",
                "maximal_backoff_time": "2h"}
    with server(args, settings, relay=("127.0.0.1", port)) as srv:
        qids = [send(srv, f"requeue {i}")[1] for i in range(2)]
        check.expect(all(qids), f"two queued: {qids}")
        check.expect(wait_for(lambda: sorted(queue_files(srv, "deferred")) == sorted(qids), 15),
                     f"both deferred: {queue_files(srv, 'deferred')}", srv)
        with Sink(port=port) as sink:
            time.sleep(1.5)
            check.expect(not sink.messages, "nothing tried before the requeue (backoff 1h)")
            r = ctl(args, srv, "requeue")
            check.expect(r.returncode == 0, f"mxscreen-ctl requeue: {r.stdout} {r.stderr}")
            got = sink.wait_messages(2, timeout=15)
            check.expect(len(got) == 2, f"both delivered after the requeue ({len(got)})", srv)
            check.expect("requeue: 2 messages" in srv.log(), "the runner logs the requeue",
                         srv)
            check.expect(wait_for(lambda: not queue_files(srv, "deferred") and
                                  not queue_files(srv, "incoming") and not queue_files(srv, "active"), 5),
                         "the queue is empty", srv)


def fill(path):
    """Fill the file system of path up."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"f" * 4096)
        except OSError:
            pass


def test_requeue_reset(check, args):
    if not args.ctl:
        print("requeue reset: skipped (no mxscreen-ctl)")
        return
    if os.getuid() != 0:
        print("requeue reset: skipped (mounting a small tmpfs needs root)")
        return
    mnt = tempfile.mkdtemp(prefix="mxq-ops-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", mnt],
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        os.rmdir(mnt)
        print(f"requeue reset: skipped (mount refused: {r.stderr.strip()})")
        return
    try:
        requeue_reset(check, args, mnt)
    finally:
        subprocess.run(["umount", mnt], capture_output=True, timeout=20)
        os.rmdir(mnt)


def requeue_reset(check, args, mnt):
    qdir = os.path.join(mnt, "queue")

    def deferred():
        return sorted(os.listdir(os.path.join(qdir, "deferred")))

    def queued():
        return [f for d in ("incoming", "active", "deferred")
                for f in os.listdir(os.path.join(qdir, d))]

    port = free_port()  # the next hop is down until the sink takes this port
    settings = {"queue_run_delay": "1s", "minimal_backoff_time": "1h",
                "maximal_backoff_time": "2h", "queue_directory": qdir}
    with server(args, settings, relay=("127.0.0.1", port)) as srv:
        with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
            s.ehlo("client.example.org")
            s.mail("a@example.org")
            s.rcpt("b@example.test", options=["NOTIFY=SUCCESS"])
            code, text = s.data("Subject: requeue reset\r\n\r\nbody\r\n")
        m = re.search(rb"queued as (\w+)", text)
        qid = m.group(1).decode() if code == 250 and m else None
        check.expect(qid, f"queued with NOTIFY=SUCCESS: {code} {text}")
        check.expect(wait_for(lambda: deferred() == [qid], 15),
                     f"deferred (backoff 1h): {deferred()}", srv)
        filler = os.path.join(mnt, "filler")
        fill(filler)
        with Sink(port=port) as sink:
            r = ctl(args, srv, "requeue")
            check.expect(r.returncode == 0, f"mxscreen-ctl requeue: {r.stdout} {r.stderr}")
            got = sink.wait_messages(1, timeout=15)
            check.expect(len(got) == 1, f"delivered after the requeue ({len(got)})", srv)
            check.expect(wait_for(lambda: f"{qid}: cannot queue the delivery status "
                                  "notification" in srv.log(), 10),
                         "the success report could not be queued (disk full)", srv)
            check.expect(wait_for(lambda: deferred() == [qid], 10),
                         f"back in deferred/: {deferred()}", srv)
            os.unlink(filler)
            # with its schedule reset it is due at the next deferred/ scan
            # (queue_run_delay 1s); with the old one, in an hour
            got = sink.wait_messages(2, timeout=15)
            check.expect(len(got) == 2 and b"Successful Mail Delivery Report" in got[-1].data,
                         "the success report went out once there was room", srv)
            check.expect(len([g for g in got if b"Subject: requeue reset" in g.data
                              and b"Delivery Report" not in g.data]) == 1,
                         "the message itself was delivered once", srv)
            check.expect(wait_for(lambda: not queued(), 10), f"the queue is empty: {queued()}",
                         srv)


def main():
    args = parse_args(__doc__, ctl=True)
    check = QChecker("daemon_queue_ops", args.v)
    return run_scenarios(check, [("wake", test_wake), ("release", test_release),
                                 ("requeue", test_requeue),
                                 ("requeue_reset", test_requeue_reset)], args)


if __name__ == "__main__":
    sys.exit(main())
