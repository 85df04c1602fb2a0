#!/usr/bin/env python3
"""test_daemon_queue_runner.py - the queue runner (workers/qrun*.c) through
the real daemon: delivery_mode = queue, messages sent over SMTP, delivered
by the runner to recording sinks (tests/lib/sink.py) over real sockets.

Usage: test_daemon_queue_runner.py [MXSCREEN] [MXSCREEN_CTL] [-v] [--keep]

  * down/up: the next hop is down, messages are acknowledged and deferred
    (the error shown by `mxscreen-ctl queue`), the next hop comes up,
    `mxscreen-ctl flush`: every message arrives exactly once with its
    content intact (SHA-256 at the sink), the queue is empty, "removed";
  * 4xx: RCPT answered 450 twice, then accepted: retried after the backoff
    (minimal_backoff_time), delivered once;
  * 5xx: one recipient of two refused with 550: the other delivered, a
    non-delivery notification from <> to the sender arrives (parsed:
    multipart/report, Final-Recipient, Status 5.1.1, the remote reply), the
    log says "sender non-delivery notification: ID"; the same refusal for
    a message from <> bounces without any notification;
  * delay warning at delay_warning_time, then expiry at
    maximal_queue_lifetime: "Delayed Mail" then "Undelivered Mail"
    notifications to the sender, "from=<...>, status=expired, returned to
    sender" (qmgr's line for the message);
  * MX lookup against dnsmasq with the backup-MX rule: MX 10 primary
    (127.0.0.2), MX 20 ourselves (127.0.0.1), MX 30 worse (127.0.0.3):
    mail goes to the primary only; while the primary is down it waits
    (never to the worse MX); a domain whose best MX is us bounces with
    "loops back to myself";
  * kill -9 of the runner in the middle of a delivery run, and kill -9 of
    every daemon process during a load: afterwards every acknowledged
    message is delivered, duplicates only within the crashes' in-flight
    window.

Postfix comparison: the log lines and notifications follow Postfix 3.7
(qmgr/smtp/bounce); no private Postfix runs here (its queue manager would
need the whole Postfix process tree).
"""

import email
import email.policy
import hashlib
import os
import re
import signal
import smtplib
import subprocess
import sys
import time

from daemon_common import wait_for
from queue_common import QChecker, ctl, parse_args, queue_empty, run_scenarios, server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
import dnsmasq  # noqa: E402
from postfix_peer import free_port  # noqa: E402
from sink import Sink  # noqa: E402


def body(i, tag):
    return (f"From: a@example.org\r\nTo: b@example.test\r\nSubject: {tag} {i}\r\n"
            f"Message-Id: <{tag}.{i}@example.org>\r\n\r\n"
            + "".join(f"line {k} of {tag} {i} .\r\n" for k in range(50))
            + ".leading dot\r\n").encode()


def digest(data):
    # The sink's copy starts with our Received: header; the client's part follows it.
    i = data.find(b"\r\nFrom: ")
    return hashlib.sha256(data[i + 2:] if i >= 0 else data).hexdigest()


def send(srv, n, tag, sender="a@example.org", rcpts=("b@example.test",)):
    """Send n messages; returns {sha: queue id} of the acknowledged ones."""
    acked = {}
    with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
        for i in range(n):
            b = body(i, tag)
            s.mail(sender)
            for r in rcpts:
                s.rcpt(r)
            code, text = s.data(b)
            if code == 250:
                m = re.search(rb"queued as (\w+)", text)
                acked[hashlib.sha256(b).hexdigest()] = m.group(1).decode() if m else "?"
    return acked



def runner_pids(srv):
    return set(int(p) for p in re.findall(r"mxscreen/(?:qmgr|smtp)\[(\d+)\]", srv.log()))


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


# ---- scenarios ----

def test_down_up(check, args):
    port = free_port()
    with server(args, {}, relay=("127.0.0.1", port)) as srv:
        acked = send(srv, 6, "downup")
        check.expect(len(acked) == 6, f"6 messages acknowledged, got {len(acked)}")
        check.expect(wait_for(lambda: srv.log().count("status=deferred") >= 6, 15),
                     "deferred while the next hop is down", srv)
        check.expect("Connection refused" in srv.log(), "the connect error is logged", srv)
        # qmgr: a dead destination's mail is deferred with the reason an
        # attempt met, "delivery temporarily suspended: " said once
        check.expect("suspended: delivery temporarily suspended" not in srv.log(),
                     "the suspended reason is not nested", srv)
        q = ctl(args, srv, "queue")
        if q:
            check.expect("Connection refused" in q.stdout, f"mxscreen-ctl queue shows the error: "
                         f"{q.stdout[:500]}")
        with Sink(port=port) as sink:
            f = ctl(args, srv, "flush")
            if f:
                check.expect(f.returncode == 0, f"mxscreen-ctl flush: {f.stderr}")
            msgs = sink.wait_messages(6, timeout=20)
            check.expect(wait_for(lambda: queue_empty(srv), 15), "queue empty after delivery", srv)
            time.sleep(1.5)  # a second copy would show up within a queue run
            got = [digest(m.data) for m in sink.messages]
            check.expect(sorted(got) == sorted(acked), "every message exactly once, content "
                         f"intact: {len(got)} delivered, {len(set(got))} distinct")
            log = srv.log()
            for qid in acked.values():
                check.expect(re.search(qid + r": to=<b@example.test>, relay=127\.0\.0\.1\[127\.0\.0"
                                       r"\.1\]:\d+, (?:conn_use=\d+, )?delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+,"
                                       r" dsn=2\.0\.0, status=sent \(250 ", log),
                             f"{qid}: Postfix's status=sent line", srv)
                check.expect(f"{qid}: removed" in log, f"{qid}: removed", srv)
            check.expect(len(msgs) >= 6, "sink got the messages")
            # reload: the runner is replaced by one of the new generation
            before = runner_pids(srv)
            os.kill(srv.pid, signal.SIGHUP)
            check.expect(wait_for(lambda: "generation 2 serves" in srv.log(), 15), "reloaded", srv)
            more = send(srv, 1, "afterreload")
            check.expect(wait_for(lambda: len(sink.messages) == 7, 15) and
                         digest(sink.messages[-1].data) in more, "delivered after a reload", srv)
            check.expect(wait_for(lambda: runner_pids(srv) - before, 5),
                         "by a new runner process", srv)


def test_4xx_retry(check, args):
    tries = []

    def rcpt(session, arg):
        tries.append(time.monotonic())
        return "450 4.2.0 mailbox busy" if len(tries) <= 2 else None

    with Sink(replies={"rcpt": rcpt}) as sink:
        # backoff times are whole seconds (as Postfix's): 2 s waits at least 1 s
        with server(args, {"minimal_backoff_time": "2s", "maximal_backoff_time": "3s"},
                    relay=("127.0.0.1", sink.port)) as srv:
            acked = send(srv, 1, "retry")
            msgs = sink.wait_messages(1, timeout=25)
            check.expect(len(msgs) == 1 and digest(msgs[0].data) in acked,
                         "delivered after the 450s", srv)
            check.expect(len(tries) == 3, f"three attempts, got {len(tries)}")
            if len(tries) >= 3:
                check.expect(tries[1] - tries[0] >= 0.9 and tries[2] - tries[1] >= 0.9,
                             f"retries wait the backoff: {tries}")
            check.expect("status=deferred (host 127.0.0.1[127.0.0.1] said: 450 4.2.0 mailbox busy "
                         "(in reply to RCPT TO command))" in srv.log(), "deferral logged", srv)
            check.expect(wait_for(lambda: queue_empty(srv), 10), "queue empty", srv)


def parse_report(data):
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    parts = {p.get_content_type(): p for p in msg.walk()}
    status = parts.get("message/delivery-status")
    fields = {}
    if status:
        for sub in status.get_payload():
            for k, v in sub.items():
                fields.setdefault(k.lower(), []).append(v)
    return msg, parts, fields


def test_5xx_bounce(check, args):
    def rcpt(session, arg):
        return "550 5.1.1 <nobody@example.test>: User unknown" if "nobody" in arg else None

    with Sink(replies={"rcpt": rcpt}) as sink:
        with server(args, {}, relay=("127.0.0.1", sink.port)) as srv:
            send(srv, 1, "bounce", sender="sender@example.org",
                 rcpts=("b@example.test", "nobody@example.test"))
            msgs = sink.wait_messages(2, timeout=20)
            orig = [m for m in msgs if m.mail_from != ""]
            dsn = [m for m in msgs if m.mail_from == ""]
            check.expect(len(orig) == 1 and orig[0].rcpt_tos == ["b@example.test"],
                         f"the good recipient delivered: {[m.rcpt_tos for m in orig]}", srv)
            check.expect(len(dsn) == 1 and dsn[0].rcpt_tos == ["sender@example.org"],
                         f"one notification from <> to the sender: {[m.rcpt_tos for m in dsn]}", srv)
            if dsn:
                msg, parts, fields = parse_report(dsn[0].data)
                check.expect(msg["Subject"] == "Undelivered Mail Returned to Sender",
                             f"subject {msg['Subject']}")
                check.expect(msg.get_content_type() == "multipart/report", "multipart/report")
                check.expect(fields.get("final-recipient") == ["rfc822; nobody@example.test"],
                             f"Final-Recipient {fields.get('final-recipient')}")
                check.expect(fields.get("status") == ["5.1.1"], f"Status {fields.get('status')}")
                check.expect(fields.get("action") == ["failed"], f"Action {fields.get('action')}")
                diag = " ".join(fields.get("diagnostic-code", []))
                check.expect("User unknown" in diag, f"Diagnostic-Code {diag}")
            log = srv.log()
            check.expect(re.search(r": to=<nobody@example.test>, relay=127.0.0.1\[127.0.0.1\]:\d+, "
                                   r".*dsn=5\.1\.1, status=bounced \(host 127\.0\.0\.1\[127\.0\.0"
                                   r"\.1\] said: 550 5\.1\.1", log), "status=bounced line", srv)
            check.expect(re.search(r"\w+: sender non-delivery notification: \w+", log),
                             "non-delivery notification logged", srv)
            # the null sender is never sent a notification
            n_before = len(sink.messages)
            acked = send(srv, 1, "nullbounce", sender="", rcpts=("nobody@example.test",))
            qid = list(acked.values())[0] if acked else "?"
            check.expect(wait_for(lambda: f"{qid}: removed" in srv.log(), 15),
                         "null-sender message bounced and removed", srv)
            time.sleep(2.5)
            check.expect(len(sink.messages) == n_before and
                         f"{qid}: sender non-delivery notification" not in srv.log(),
                         "no notification for the null sender", srv)
            check.expect(wait_for(lambda: queue_empty(srv), 10), "queue empty", srv)


def test_warn_expire(check, args):
    def rcpt(session, arg):
        return "450 4.2.1 try later" if "slow" in arg else None

    settings = {"delay_warning_time": "2s", "maximal_queue_lifetime": "6s"}
    with Sink(replies={"rcpt": rcpt}) as sink:
        with server(args, settings, relay=("127.0.0.1", sink.port)) as srv:
            acked = send(srv, 1, "warn", sender="sender@example.org", rcpts=("slow@example.test",))
            qid = list(acked.values())[0] if acked else "?"
            msgs = sink.wait_messages(2, timeout=25)
            subj = [email.message_from_bytes(m.data)["Subject"] for m in msgs]
            check.expect(subj[:2] == ["Delayed Mail (still being retried)",
                                      "Undelivered Mail Returned to Sender"],
                         f"delay warning then bounce: {subj}", srv)
            check.expect(all(m.mail_from == "" and m.rcpt_tos == ["sender@example.org"]
                             for m in msgs), "both from <> to the sender")
            log = srv.log()
            check.expect(f"{qid}: sender delay notification:" in log, "delay notification logged",
                         srv)
            # qmgr's one line for the message, no per-recipient line (Postfix
            # 3.7.11, test_daemon_queue_limits --postfix)
            check.expect(f"{qid}: from=<sender@example.org>, status=expired, returned to sender"
                         in log and not re.search(qid + r": to=.*status=expired", log),
                         "expired line", srv)
            check.expect(log.count(f"{qid}: sender delay notification:") == 1, "one warning only")
            check.expect(wait_for(lambda: queue_empty(srv), 10), "queue empty", srv)


def test_mx(check, args):
    if not dnsmasq.dnsmasq_available():
        print("skip test_mx: dnsmasq not installed")
        return
    port = free_port("127.0.0.2")
    z = dnsmasq.Zones()
    z.mx("example.test", "primary.example.test", 10)
    z.mx("example.test", "backup.example.test", 20)
    z.mx("example.test", "worse.example.test", 30)
    z.mx("loop.test", "backup.example.test", 10)
    z.mx("loop.test", "primary.example.test", 20)
    z.addr("primary.example.test", "127.0.0.2")
    z.addr("backup.example.test", "127.0.0.1")
    z.addr("worse.example.test", "127.0.0.3")
    with dnsmasq.DnsTestServer(z) as dns, Sink(host="127.0.0.3", port=port) as worse:
        settings = {"dns_resolver": dns.resolver, "smtp_tcp_port": str(port),
                    "relay_domains": "example.test, loop.test"}
        with server(args, settings) as srv:
            acked = send(srv, 2, "mx", sender="sender@example.org")
            check.expect(len(acked) == 2, "2 acknowledged", srv)
            check.expect(wait_for(lambda: srv.log().count("status=deferred") >= 2, 15),
                         "deferred while the primary is down", srv)
            check.expect("127.0.0.3" not in srv.log() and not worse.messages,
                         "never to an MX worse than ourselves", srv)
            with Sink(host="127.0.0.2", port=port) as primary:
                ctl(args, srv, "flush")
                msgs = primary.wait_messages(2, timeout=20)
                check.expect(sorted(digest(m.data) for m in msgs) == sorted(acked),
                             "delivered to the primary MX", srv)
                check.expect(wait_for(lambda: re.search(
                    r"relay=primary\.example\.test\[127\.0\.0\.2\]:\d+, .*status=sent",
                    srv.log()), 10), "relay=primary line", srv)
                acked2 = send(srv, 1, "loop", sender="sender@example.test",
                              rcpts=("x@loop.test",))
                qid = list(acked2.values())[0] if acked2 else "?"
                check.expect(wait_for(lambda: re.search(
                    qid + r": to=<x@loop.test>, relay=none, .*dsn=5\.4\.6, status=bounced "
                    r"\(mail for loop\.test loops back to myself\)", srv.log()), 15),
                    "best MX is us: loops back to myself", srv)
                check.expect(wait_for(lambda: len(primary.messages) == 3, 15),
                             "its notification reaches the sender's MX", srv)
            check.expect(not worse.messages, "nothing at the worse MX")


def slow_eom(session, arg):
    time.sleep(0.05)  # the sink's own thread: keeps deliveries in flight when we kill
    return None


def test_kill(check, args):
    port = free_port()
    with server(args, {}, relay=("127.0.0.1", port)) as srv:
        acked = send(srv, 40, "kill")
        check.expect(wait_for(lambda: srv.log().count("status=deferred") >= 40, 20),
                     "40 deferred", srv)
        with Sink(port=port, replies={"eom": slow_eom}) as sink:
            before = runner_pids(srv)
            ctl(args, srv, "flush")
            wait_for(lambda: len(sink.messages) >= 5, 15)
            check.expect(len(sink.messages) < 40, f"killed mid-run ({len(sink.messages)} of 40 in)")
            for pid in runner_pids(srv):
                if alive(pid) and pid != srv.pid:
                    os.kill(pid, signal.SIGKILL)
            check.expect(wait_for(lambda: len(runner_pids(srv) - before) > 0 or
                                  "queue runner restarted" in srv.log(), 15),
                         "the runner is restarted", srv)
            check.expect(wait_for(lambda: queue_empty(srv), 25), "queue empty after restart", srv)
            got = [digest(m.data) for m in sink.messages]
            check.expect(set(got) == set(acked), f"every message delivered after kill -9 of the "
                         f"runner: {len(set(got))}/{len(acked)}", srv)
            # A duplicate is allowed only where SMTP cannot tell: the sink
            # took the message but the killed runner never read its 250
            # (so it never logged status=sent, which follows the mark).
            log = srv.log()
            dups = [acked[h] for h in set(got) if got.count(h) > 1]
            marked = [q for q in dups if any(
                re.search(rf"mxscreen/smtp\[{p}\]: {q}: .*status=sent", log) for p in before)]
            check.expect(not marked, f"{len(dups)} duplicates, of which recorded as sent "
                         f"before the kill: {marked}", srv)

    # kill -9 of every process during a load, restart on the same queue
    with Sink(replies={"eom": slow_eom}) as sink:
        srv = server(args, {}, relay=("127.0.0.1", sink.port))
        srv.keep = True
        srv.start()
        acked = {}
        try:
            acked.update(send(srv, 30, "load"))
        except (smtplib.SMTPException, OSError):
            pass
        in_before = len(sink.messages)
        pids = [srv.pid] + [int(p) for p in re.findall(r"\[(\d+)\]:", srv.log())]
        for pid in set(pids):
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        srv.proc.wait(timeout=10)
        old_log = srv.log()
        d = srv.dir
        with server(args, {"queue_directory": os.path.join(d, "queue")},
                    relay=("127.0.0.1", sink.port)) as srv2:
            check.expect(in_before < len(acked), f"killed during the load ({in_before} of "
                         f"{len(acked)} delivered)")
            ok = wait_for(lambda: set(digest(m.data) for m in sink.messages) >= set(acked), 25)
            got = [digest(m.data) for m in sink.messages]
            check.expect(ok, f"every acknowledged message delivered after kill -9 of all: "
                         f"{len(set(got) & set(acked))}/{len(acked)}", srv2)
            dups = [acked[h] for h in set(got) if got.count(h) > 1 and h in acked]
            marked = [q for q in dups if re.search(rf"{q}: .*status=sent", old_log)]
            check.expect(not marked, f"{len(dups)} duplicates, of which recorded as sent "
                         f"before the kill: {marked}", srv2)
            # The old runner (SIGTERM from its dying master, draining) and
            # the new one never work on the queue at once: a file removed
            # under the other runner's feet would show here.
            check.expect("remove: No such file" not in srv2.log(),
                         "one queue runner at a time on the queue", srv2)
        subprocess.run(["rm", "-rf", d])


def main():
    args = parse_args(__doc__, ctl=True)
    check = QChecker("daemon_queue_runner", args.v)
    return run_scenarios(check, [("down_up", test_down_up), ("4xx", test_4xx_retry),
                                 ("5xx", test_5xx_bounce), ("warn_expire", test_warn_expire),
                                 ("mx", test_mx), ("kill", test_kill)], args, "QRUN_ONLY")


if __name__ == "__main__":
    sys.exit(main())
