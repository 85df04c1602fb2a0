#!/usr/bin/env python3
"""test_daemon_lifecycle.py - the daemon's processes under kill -9, SIGHUP, SIGTERM and smtpd_timeout.

Usage: test_daemon_lifecycle.py [MXSCREEN_BINARY] [MXSCREEN_CTL] [--keep] [-v]

Each part runs its own daemon (tests/lib/mxscreen.py, one worker, relaying
to a recording Sink) with tests/integration/life_common.BASE_MAIN_CF:
  * kill: kill -9 of the worker while a client is in the middle of DATA
    (other clients keep sending meanwhile). That client gets no 250, the
    next hop never receives that message complete, the master logs the
    death and restarts the worker, a new connection delivers; every message
    that got 250 (before or around the kill) is at the next hop.
  * reload: SIGHUP with a new smtpd_banner and a header_checks rule while a
    session sits after RCPT: it finishes on the old generation (its 250,
    no header_checks), new connections get the new banner and the rule. A
    broken main.cf (SIGHUP and mxscreen-ctl reload) is refused naming the
    parameter; the previous generation keeps serving; no session dropped.
  * stop: SIGTERM with one transaction in DATA, one stalled in DATA and one
    idle session: the idle one gets "421 4.3.2 <myhostname> Service
    shutting down" at once, the transaction finishes with 250 (and then
    421), the stalled one gets the 421 after the drain time, no new
    connection is served, every process exits with status 0.
  * timeout: smtpd_timeout = 2s gives "421 4.4.2 <myhostname> Error:
    timeout exceeded" to an idle client, after the greeting, after EHLO and
    in DATA, with Postfix's log lines ("timeout after CONNECT from ...",
    "timeout after EHLO from ...", "timeout after DATA (12 bytes) from
    ..."; checked against Postfix 3.7.11).

Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time

import life_common as lc

HOST = "mx.example.test"
FROM = "sender@example.org"
RCPT = "user@example.test"


def message(tag, subject="lifecycle"):
    return (f"From: <{FROM}>\r\nTo: <{RCPT}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{tag}@example.org>\r\n\r\nbody of {tag}\r\n").encode()


def tags_at(sink):
    out = set()
    for m in sink.wait_messages(0):
        for t in re.findall(rb"Message-ID: <([^@>]+)@example.org>", m.data):
            out.add(t.decode())
    return out


def open_txn(mx, check, what, helo="client.example.org"):
    """A Raw session after EHLO, MAIL and RCPT (each checked)."""
    c = lc.Raw(mx.host, mx.port)
    code, text, _ = c.reply()
    check.expect(code == "220", f"{what}: greeting {text!r}")
    code, text, _ = c.cmd(f"EHLO {helo}")
    check.expect(code == "250", f"{what}: EHLO {text!r}")
    code, text, _ = c.cmd(f"MAIL FROM:<{FROM}>")
    check.expect(code == "250", f"{what}: MAIL {text!r}")
    code, text, _ = c.cmd(f"RCPT TO:<{RCPT}>")
    check.expect(code == "250", f"{what}: RCPT {text!r}")
    return c


def send_one(mx, tag, subject="lifecycle"):
    """One message on its own connection: the end-of-DATA reply code (or
    the exception's name)."""
    try:
        with smtplib.SMTP(mx.host, mx.port, local_hostname="client.example.org",
                          timeout=20) as s:
            s.ehlo()
            s.mail(FROM)
            s.rcpt(RCPT)
            code, _ = s.data(message(tag, subject))
            return code
    except (OSError, smtplib.SMTPException) as e:
        return type(e).__name__


def worker_pids(args, mx):
    st = lc.status(args.ctl, mx.conf_dir)
    return [int(w["pid"]) for w in st.get("workers", []) if w.get("pid", "0") != "0"]


# --------------------------------------------------------------------- kill -9
def part_kill(args, check):
    with lc.sinklib.Sink() as sink, lc.instance(args, lc.BASE_MAIN_CF,
                                                relay=(sink.host, sink.port)) as mx:
        acked = set()
        # Acknowledged before the kill, on one connection.
        with smtplib.SMTP(mx.host, mx.port, local_hostname="client.example.org",
                          timeout=20) as s:
            for i in range(3):
                code = s.sendmail(FROM, [RCPT], message(f"before-{i}"))
                if code == {}:
                    acked.add(f"before-{i}")
        check.expect(len(acked) == 3, f"kill: 3 messages acknowledged before ({acked})")

        # A stream of one-message connections around the kill.
        stop = threading.Event()
        results = {}

        def stream():
            n = 0
            while not stop.is_set() and n < 500:
                tag = f"stream-{n}"
                results[tag] = send_one(mx, tag)
                n += 1
                time.sleep(0.02)

        th = threading.Thread(target=stream, daemon=True)
        th.start()

        mid = open_txn(mx, check, "kill: mid-DATA client")
        code, text, _ = mid.cmd("DATA")
        check.expect(code == "354", f"kill: DATA {text!r}")
        mid.send(message("middata")[:-2])          # no final CRLF, no dot
        time.sleep(0.5)

        master_kids = lc.children_of(mx.pid)
        pids = worker_pids(args, mx) if args.ctl else master_kids
        check.expect(len(pids) == 1 and pids[0] in master_kids,
                     f"kill: one worker, a child of the master: status {pids}, "
                     f"children {master_kids}")
        if not pids:
            stop.set()
            th.join(30)
            return mx.log()
        victim = pids[0]
        os.kill(victim, signal.SIGKILL)
        # The rest of the message and the final dot, after the worker died.
        try:
            mid.send(b"\r\n.\r\n")
        except OSError:
            pass
        code, text, _ = mid.reply()
        check.expect(code in ("closed", "timeout") or code.startswith("4"),
                     f"kill: no 250 for the message in DATA when its worker died: "
                     f"{code} {text!r}")
        check.expect(code != "250", f"kill: mid-DATA message not acknowledged ({code})")
        mid.close()

        log_kill = lc.wait_for(lambda: re.search(
            rf"process \S+ pid {victim} killed by signal 9", mx.log()), 10)
        check.expect(log_kill, f"kill: the master logs pid {victim} killed by signal 9")
        restarted = lc.wait_for(lambda: re.search(
            r"worker 1 \(generation 1\) restarted: pid (\d+)", mx.log()), 15)
        check.expect(restarted, "kill: the master logs the worker restarted")
        if restarted:
            newpid = int(restarted.group(1))
            check.expect(newpid != victim, f"kill: a new worker pid {newpid}")
            if args.ctl:
                st = lc.wait_for(lambda: [w for w in lc.status(args.ctl, mx.conf_dir)
                                          .get("workers", []) if w.get("pid") == str(newpid)
                                          and w.get("state") == "running"], 10)
                check.expect(st and st[0].get("restarts") == "1",
                             f"kill: status shows the new worker running, 1 restart: {st}")

        # A new connection after the restart delivers normally.
        code = lc.wait_for(lambda: send_one(mx, "after-restart") == 250, 15, step=0.5)
        check.expect(code, "kill: a message after the restart gets 250")
        stop.set()
        th.join(60)
        check.expect(not th.is_alive(), "kill: the sending thread ended")
        acked |= {t for t, c in results.items() if c == 250}
        lost_ok = [t for t, c in results.items() if c != 250]
        if args.v:
            print(f"kill: stream {len(results)} messages, not acknowledged: {[(t, results[t]) for t in lost_ok]}")
        check.expect(len(results) >= 5, f"kill: the stream sent {len(results)} messages")

        at_sink = lc.wait_for(lambda: acked <= tags_at(sink) and tags_at(sink), 10)
        got = tags_at(sink)
        check.expect(acked <= got, f"kill: acknowledged but not at the next hop: "
                                   f"{sorted(acked - got)}")
        check.expect(at_sink is not None, "kill: sink answered")
        check.expect("middata" not in got, "kill: the next hop has no completed copy of "
                                           "the message whose DATA was cut")
        check.expect(not [m for m in sink.refused if b"middata" in m.raw],
                     "kill: the next hop never saw the final dot of the cut message")
        check.expect("after-restart" in got, "kill: the message after the restart arrived")
        return mx.log()


# --------------------------------------------------------------------- reload
def rewrite_main_cf(mx, banner, extra=""):
    path = os.path.join(mx.conf_dir, "main.cf")
    with open(path) as f:
        text = f.read()
    text = re.sub(r"(?m)^smtpd_banner = .*$", f"smtpd_banner = {banner}", text)
    with open(path, "w") as f:
        f.write(text + extra)


def part_reload(args, check):
    main_cf = lc.BASE_MAIN_CF + "smtpd_banner = $myhostname ESMTP generation-one\n"
    maps = {"header_checks": "/^Subject:.*forbidden/ REJECT forbidden subject here\n"}
    with lc.sinklib.Sink() as sink, lc.instance(args, main_cf, relay=(sink.host, sink.port),
                                                maps=maps) as mx:
        check.expect("generation-one" in (mx.banner or ""), f"reload: first banner {mx.banner!r}")
        old = open_txn(mx, check, "reload: session open across the reload")
        idle = lc.Raw(mx.host, mx.port)
        idle.reply()
        idle.cmd("EHLO idle.example.org")

        rewrite_main_cf(mx, "$myhostname ESMTP generation-two",
                        "header_checks = regexp:${config_directory}/header_checks\n")
        os.kill(mx.pid, signal.SIGHUP)
        ok = lc.wait_for(lambda: re.search(r"reload: generation 2 serves new connections",
                                           mx.log()), 15)
        check.expect(ok, "reload: SIGHUP logged generation 2 serving")

        new = lc.Raw(mx.host, mx.port)
        code, text, _ = new.reply()
        check.expect(code == "220" and "generation-two" in text,
                     f"reload: a new connection gets the new banner: {text!r}")
        new.cmd("EHLO new.example.org")
        new.cmd(f"MAIL FROM:<{FROM}>")
        new.cmd(f"RCPT TO:<{RCPT}>")
        code, text, _ = new.cmd("DATA")
        new.send(message("new-forbidden", "this is forbidden") + b".\r\n")
        code, text, _ = new.reply()
        check.expect(code == "550" and "5.7.1 forbidden subject here" in text,
                     f"reload: the new generation's header_checks rule fires: {text!r}")

        # The session opened before the reload: old generation, no rule.
        code, text, _ = old.cmd("DATA")
        check.expect(code == "354", f"reload: old session DATA {text!r}")
        old.send(message("old-forbidden", "this is forbidden") + b".\r\n")
        code, text, _ = old.reply()
        check.expect(code == "250", f"reload: the session begun before the reload finishes "
                                    f"on the old generation: {text!r}")
        code, text, _ = idle.cmd("NOOP")
        check.expect(code == "250", f"reload: an idle old session still answers: {text!r}")

        # A broken main.cf: refused, generation 2 keeps serving.
        mid = lc.Raw(mx.host, mx.port)
        mid.reply()
        mid.cmd("EHLO mid.example.org")
        mid.cmd(f"MAIL FROM:<{FROM}>")
        rewrite_main_cf(mx, "$myhostname ESMTP generation-three",
                        "message_size_limit = ten megabytes\n")
        os.kill(mx.pid, signal.SIGHUP)
        refused = lc.wait_for(lambda: re.search(r"error: reload refused: (.*)", mx.log()), 15)
        check.expect(refused and "message_size_limit" in refused.group(1)
                     and "main.cf" in refused.group(1),
                     f"reload: a broken main.cf is refused naming the file and the "
                     f"parameter: {refused.group(0) if refused else None!r}")
        if args.ctl:
            r = subprocess.run([args.ctl, "-c", mx.conf_dir, "reload"], capture_output=True,
                                  text=True, timeout=60, stdin=subprocess.DEVNULL)
            check.expect(r.returncode == 1 and r.stdout.startswith("error: reload refused:")
                         and "message_size_limit" in r.stdout,
                         f"reload: mxscreen-ctl reload refused: {r.returncode} {r.stdout!r}")
            st = lc.status(args.ctl, mx.conf_dir)
            check.expect(st.get("generation") == "2", f"reload: still generation 2: {st}")
        after = lc.Raw(mx.host, mx.port)
        code, text, _ = after.reply()
        check.expect(code == "220" and "generation-two" in text,
                     f"reload: after the refused reload, generation 2 greets: {text!r}")
        after.cmd("QUIT")
        after.close()
        code, text, _ = mid.cmd(f"RCPT TO:<{RCPT}>")
        check.expect(code == "250", f"reload: the session open across the refused reload: "
                                    f"RCPT {text!r}")
        mid.cmd("DATA")
        mid.send(message("mid-refused-reload") + b".\r\n")
        code, text, _ = mid.reply()
        check.expect(code == "250", f"reload: ... and its DATA: {text!r}")

        for c in (old, idle, new, mid):
            code, text, _ = c.cmd("QUIT")
            check.expect(code == "221", f"reload: QUIT on each session: {text!r}")
            c.close()
        got = tags_at(sink)
        check.expect({"old-forbidden", "mid-refused-reload"} <= got,
                     f"reload: both accepted messages at the next hop: {sorted(got)}")
        check.expect("new-forbidden" not in got, "reload: the rejected one is not")
        retired = lc.wait_for(lambda: "generation 1 retired" in mx.log(), 10)
        check.expect(retired, "reload: generation 1 retires once its sessions ended")
        return mx.log()


# --------------------------------------------------------------------- SIGTERM
def part_stop(args, check):
    with lc.sinklib.Sink() as sink, lc.instance(args, lc.BASE_MAIN_CF,
                                                relay=(sink.host, sink.port)) as mx:
        busy = open_txn(mx, check, "stop: transaction in DATA")
        busy.cmd("DATA")
        busy.send(message("drained")[:20])
        stalled = open_txn(mx, check, "stop: stalled transaction")
        stalled.cmd("DATA")
        stalled.send(message("stalled")[:20])
        idle = lc.Raw(mx.host, mx.port, timeout=30)
        idle.reply()
        idle.cmd("EHLO idle.example.org")
        time.sleep(0.3)
        pgid = mx.pid
        os.kill(mx.pid, signal.SIGTERM)
        t0 = time.monotonic()

        code, text, took = idle.reply()
        check.expect(code == "421" and re.match(rf"421 4\.3\.2 {HOST} Service shutting down$",
                                                text),
                     f"stop: the idle session gets 421 4.3.2 ... Service shutting down: "
                     f"{code} {text!r}")
        check.expect(took < 3, f"stop: ... at once ({took:.1f} s)")
        check.expect(idle.reply()[0] == "closed", "stop: ... then the connection closes")

        time.sleep(0.3)
        busy.send(message("drained")[20:] + b".\r\n")
        code, text, _ = busy.reply()
        # (Fixed in cd94d45: the session was stopped while its 250 was queued.)
        check.expect(code == "250", f"stop: the transaction in progress finishes with 250: "
                                    f"{code} {text!r}")
        code, text, _ = busy.reply()
        check.expect(code == "421" and "4.3.2" in text,
                     f"stop: ... then, idle, it gets 421: {code} {text!r}")

        try:
            s = socket.create_connection((mx.host, mx.port), timeout=3)
            s.settimeout(3)
            try:
                first = s.recv(100)
            except OSError:
                first = b""
            s.close()
        except OSError:
            first = b""
        check.expect(not first.startswith(b"220"),
                     f"stop: no new session is greeted while stopping: {first!r}")

        stalled.sock.settimeout(25)
        code, text, _ = stalled.reply()
        waited = time.monotonic() - t0
        check.expect(code == "421" and re.match(rf"421 4\.3\.2 {HOST} Service shutting down$",
                                                text),
                     f"stop: the stalled transaction gets 421 after the drain time: "
                     f"{code} {text!r}")
        check.expect(8 <= waited <= 20, f"stop: ... after about 10 s ({waited:.1f} s)")
        try:
            status = mx.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            status = None
        check.expect(status == 0, f"stop: the master exits 0 (got {status})")
        left = lc.wait_for(lambda: not lc.group_pids(pgid), 5)
        check.expect(left, f"stop: every process exited: {lc.group_pids(pgid)}")
        got = tags_at(sink)
        check.expect("drained" in got, "stop: the drained message is at the next hop")
        check.expect("stalled" not in got, "stop: the stalled one is not")
        for c in (busy, stalled, idle):
            c.close()
        return mx.log()


# --------------------------------------------------------------------- timeout
def part_timeout(args, check):
    with lc.sinklib.Sink() as sink, lc.instance(args, lc.BASE_MAIN_CF,
                                                relay=(sink.host, sink.port),
                                                settings={"smtpd_timeout": "2s"}) as mx:
        want = f"421 4.4.2 {HOST} Error: timeout exceeded"
        a = lc.Raw(mx.host, mx.port)
        a.reply()
        b = lc.Raw(mx.host, mx.port)
        b.reply()
        b.cmd("EHLO idle.example.org")
        c = open_txn(mx, check, "timeout: in DATA")
        c.cmd("DATA")
        c.send(b"Subject: x\r\n")
        for conn, what in ((a, "after the greeting"), (b, "after EHLO"), (c, "in DATA")):
            code, text, took = conn.reply()
            check.expect(text == want, f"timeout: {what}: {text!r}, expected {want!r}")
            check.expect(1.5 <= took <= 6, f"timeout: {what}: after {took:.1f} s (2 s)")
            check.expect(conn.reply()[0] == "closed", f"timeout: {what}: then closed")
            conn.close()
        log = lc.wait_for(lambda: mx.log().count("timeout after") >= 3 and mx.log(), 5) \
            or mx.log()
        for line in ("timeout after CONNECT from localhost[127.0.0.1]",
                     "timeout after EHLO from localhost[127.0.0.1]",
                     "timeout after DATA (12 bytes) from localhost[127.0.0.1]"):
            check.expect(line in log, f"timeout: log line {line!r} (as Postfix 3.7.11 writes)")
        check.expect(not sink.wait_messages(0), "timeout: nothing delivered")
        return mx.log()


PARTS = {"kill": part_kill, "reload": part_reload, "stop": part_stop, "timeout": part_timeout}


def main():
    args = lc.parse_args(__doc__)
    status = 0
    only = os.environ.get("LIFECYCLE_PARTS", "").split()
    for name, part in PARTS.items():
        if only and name not in only:
            continue
        check = lc.Checker(f"daemon_lifecycle/{name}", args.v)
        try:
            log = part(args, check)
        except Exception as e:      # a broken part must fail, not abort the rest
            check.expect(False, f"{name}: {type(e).__name__}: {e}")
            log = ""
        status |= check.done(log=log)
    return status


if __name__ == "__main__":
    sys.exit(main())
