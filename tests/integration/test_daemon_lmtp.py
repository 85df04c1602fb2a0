#!/usr/bin/env python3
"""test_daemon_lmtp.py - the LMTP next hop (transport_maps lmtp:...) through
the real daemon, delivery_mode = queue: the queue runner speaks LMTP (RFC
2033) to a recording LMTP server (tests/lib/lmtp_sink.py) over TCP
(lmtp:[127.0.0.1]:PORT) and over a unix socket (lmtp:unix:/path).

Checks: LHLO, never EHLO; one message with five recipients - r0 and r1
delivered, rcptfail refused at RCPT (bounced: 5.1.1), full* 452 after the
dot (deferred, "said: 452 ... (in reply to end of DATA command)"), bad*
554 after the dot (bounced) - each recipient with its own Postfix
delivery line: relay=127.0.0.1[127.0.0.1]:PORT for TCP,
relay=$myhostname[/path] (no port) for the unix socket, status=sent
(250 2.0.0 <r0@...> Saved). The deferred one is tried again and
deferred again; the delivered ones arrive once.
delivery_mode = proxy: the client's one end-of-data reply from the
per-recipient replies (relay.c lmtp_dot_reply: 250 only if all got 250, the
5xx if all got 5xx, the first 4xx, else 451 4.3.0), each recipient logged.

Postfix comparison: lmtp(8)'s per-recipient end-of-data handling and log
wording (smtp_proto.c: survivors[], "host %s said: %s (in reply to %s)")
read from the source; no private Postfix runs here (its lmtp client needs
the whole queue manager).
"""

import os
import re
import smtplib
import sys
import tempfile

from daemon_common import wait_for
from queue_common import QChecker, parse_args, run_scenarios, server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from lmtp_sink import LmtpSink  # noqa: E402

QUEUE = {"relay_domains": "lmtp.test"}
MSG = (b"From: s@example.org\r\nTo: r0@lmtp.test\r\nSubject: lmtp test\r\n"
       b"Message-Id: <lmtp.1@example.org>\r\n\r\nhello\r\n.dot line\r\n")
WIRE = MSG.replace(b"\r\n.dot", b"\r\n..dot")  # dot-stuffed as a client sends it
RCPTS = ["r0", "r1", "rcptfail", "full", "bad"]



def send(srv, rcpts):
    with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
        s.ehlo("client.example.org")
        code, _ = s.docmd("MAIL FROM:<s@example.org>")
        assert code == 250, code
        for r in rcpts:
            code, text = s.docmd(f"RCPT TO:<{r}>")
            assert code == 250, (r, code, text)
        code, _ = s.docmd("DATA")
        assert code == 354, code
        s.send(WIRE + b".\r\n")
        return s.getreply()


def line_for(log, rcpt):
    m = [l for l in log.splitlines() if f"to=<{rcpt}>" in l and "status=" in l]
    return m


def run(check, args, sink, transport, relay_re, label):
    with server(args, dict(QUEUE, transport_maps=f"inline:{{lmtp.test={transport}}}")) as srv:
        code, text = send(srv, [f"{r}@lmtp.test" for r in RCPTS])
        check.expect(code == 250, f"{label}: accepted into the queue: {code} {text}")
        got = wait_for(lambda: all(line_for(srv.log(), f"{r}@lmtp.test") for r in RCPTS), 20)
        log = srv.log()
        check.expect(got, f"{label}: a delivery line per recipient")
        check.expect(sorted(r for r, _ in sink.delivered) == ["r0@lmtp.test", "r1@lmtp.test"],
                     f"{label}: delivered to r0, r1: {sink.delivered}")
        check.expect(all(d.startswith(b"Received: ") and d.endswith(b"\r\n" + MSG)
                         for _, d in sink.delivered),
                     f"{label}: content intact (dot-unstuffed) {[d for _, d in sink.delivered]}")
        check.expect(any(l.startswith("LHLO backup.example.test") for l in sink.log) and
                     not any(l.startswith(("EHLO", "HELO")) for l in sink.log),
                     f"{label}: LHLO only: {sink.log[:3]}")

        def one(rcpt, pat):
            ls = line_for(log, f"{rcpt}@lmtp.test")
            ok = bool(ls) and re.search(pat, ls[0]) is not None
            check.expect(ok, f"{label}: {rcpt}: want /{pat}/ in {ls[:1]}")

        for r in ("r0", "r1"):
            one(r, rf"relay={relay_re}, delay=[\d.]+, delays=[\d./]+, dsn=2\.0\.0, "
                   rf"status=sent \(250 2\.0\.0 <{r}@lmtp\.test> Saved\)")
        one("rcptfail", rf"relay={relay_re}, .*dsn=5\.1\.1, status=bounced \(host "
                        r".* said: 550 5\.1\.1 <rcptfail@lmtp\.test>: "
                        r"Recipient address rejected: no such user \(in reply to RCPT TO command\)\)")
        one("full", rf"dsn=4\.2\.2, status=deferred \(host .* said: 452 4\.2\.2 "
                    r"<full@lmtp\.test> Mailbox full \(in reply to end of DATA command\)\)")
        one("bad", r"dsn=5\.6\.0, status=bounced \(host .* said: 554 5\.6\.0 <bad@lmtp\.test> "
                   r"Message content rejected \(in reply to end of DATA command\)\)")
        # the deferred recipient alone is tried again (and deferred again)
        again = wait_for(lambda: len(line_for(srv.log(), "full@lmtp.test")) >= 2, 15)
        check.expect(again, f"{label}: full@ retried")
        check.expect(sink.connections >= 2 and len(sink.delivered) == 2,
                     f"{label}: retry delivered nothing twice: {sink.delivered}")


def test_tcp(check, args):
    with LmtpSink() as sink:
        run(check, args, sink, f"lmtp:[127.0.0.1]:{sink.port}", rf"127\.0\.0\.1\[127\.0\.0\.1\]:{sink.port}",
            "tcp")


def test_unix(check, args):
    d = tempfile.mkdtemp(prefix="mxs-lmtp-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "lmtp.sock")
    try:
        with LmtpSink(path=path) as sink:
            run(check, args, sink, f"lmtp:unix:{path}",
                rf"backup\.example\.test\[{re.escape(path)}\]", "unix")
    finally:
        os.rmdir(d)


def proxy_txn(srv, rcpts):
    """One message in proxy mode: [(RCPT code)], (end-of-data code, text)."""
    with smtplib.SMTP(srv.host, srv.port, timeout=30) as s:
        s.ehlo("client.example.org")
        s.docmd("MAIL FROM:<s@example.org>")
        rc = [s.docmd(f"RCPT TO:<{r}@lmtp.test>")[0] for r in rcpts]
        if 250 not in rc:
            return rc, None
        code, _ = s.docmd("DATA")
        if code != 354:
            return rc, (code, b"")
        s.send(WIRE + b".\r\n")
        return rc, s.getreply()


def test_proxy(check, args):
    """delivery_mode = proxy: the client's single end-of-data reply from
    the per-recipient LMTP replies: 250 only when every recipient got 250,
    the 5xx when all got 5xx, the first 4xx, else 451 4.3.0."""
    with LmtpSink() as sink, server(
            args, dict(QUEUE, delivery_mode="proxy",
                       transport_maps=f"inline:{{lmtp.test=lmtp:[127.0.0.1]:{sink.port}}}")) as srv:
        cases = [
            (["p0", "p1"], [250, 250], 250, rb"^2\.0\.0 Ok: queued as "),
            (["p2", "rcptfail"], [250, 550], 250, rb"^2\.0\.0 Ok: queued as "),
            (["p3", "full3"], [250, 250], 452, rb"^4\.2\.2 <full3@lmtp\.test> Mailbox full$"),
            (["bad4", "bad5"], [250, 250], 554, rb"^5\.6\.0 <bad4@lmtp\.test> Message content"),
            (["p6", "bad6"], [250, 250], 451, rb"^4\.3\.0 Error: queue file write error$"),
            (["bad7", "full7"], [250, 250], 452, rb"^4\.2\.2 <full7@"),
        ]
        for rcpts, want_rc, want_code, want_text in cases:
            rc, end = proxy_txn(srv, rcpts)
            check.expect(rc == want_rc, f"proxy {rcpts}: RCPT replies {rc}, want {want_rc}")
            check.expect(end is not None and end[0] == want_code and
                         re.search(want_text, end[1]) is not None,
                         f"proxy {rcpts}: end of data {end}, want {want_code} /{want_text}/")
        got = sorted(r for r, _ in sink.delivered)
        check.expect(got == ["p0@lmtp.test", "p1@lmtp.test", "p2@lmtp.test", "p3@lmtp.test",
                             "p6@lmtp.test"], f"proxy: delivered {got}")
        check.expect(not any(l.startswith(("EHLO", "HELO")) for l in sink.log) and
                     any(l.startswith("LHLO") for l in sink.log), "proxy: LHLO")
        log = srv.log()
        for r, pat in (("p0", r"status=sent \(250 2\.0\.0 <p0@lmtp\.test> Saved\)"),
                       ("full3", r"dsn=4\.2\.2, status=deferred \(452 4\.2\.2 <full3@"),
                       ("bad6", r"dsn=5\.6\.0, status=bounced \(554 5\.6\.0 <bad6@")):
            ls = line_for(log, f"{r}@lmtp.test")
            check.expect(ls and re.search(rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{sink.port}, .*"
                                          + pat, ls[0]) is not None,
                         f"proxy: {r}'s own delivery line /{pat}/: {ls[:1]}")
        check.expect("LMTP next hop delivered 1 of 2 recipients" in log, "proxy: partial logged")


def main():
    args = parse_args(__doc__)
    check = QChecker("daemon_lmtp", args.v)
    return run_scenarios(check, [("tcp", test_tcp), ("unix", test_unix),
                                 ("proxy", test_proxy)], args)


if __name__ == "__main__":
    sys.exit(main())
