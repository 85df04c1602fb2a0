#!/usr/bin/env python3
"""test_daemon_queue_dsn.py - RFC 3461 DSN through the queue (delivery_mode =
queue), the real daemon against recording sinks (tests/lib/sink.py):

  * EHLO announces DSN; MAIL RET=/ENVID= and RCPT NOTIFY=/ORCPT= are taken;
  * next hop without DSN: NOTIFY=SUCCESS recipients get ONE "Successful Mail
    Delivery Report" from <> (Action: relayed, Status 2.0.0, Original-Recipient
    from ORCPT or "rfc822;" + the address as sent, Original-Envelope-Id),
    headers only; a recipient without NOTIFY is not in it; the log says
    "sender delivery status notification: ID"; the DSN parameters are not
    sent to that next hop;
  * next hop with DSN: MAIL ... ENVID=xtext RET=HDRS and RCPT ... ORCPT=..
    NOTIFY=.. are forwarded in Postfix's order and no report is sent;
  * NOTIFY=NEVER and a 550: no bounce; NOTIFY=DELAY only and a 550: no
    bounce either; no NOTIFY: the bounce as before;
  * smtpd_discard_ehlo_keywords = dsn: no DSN line, "501 5.7.1 DSN support
    is disabled" for the parameters.
The report's bytes are compared with Postfix 3.7's in tests/unit/test_dsn.c
(tests/data/dsn/postfix37_success_relayed.eml); here its fields are read
back with Python's email parser.

Usage: test_daemon_queue_dsn.py [MXSCREEN] [-v] [--keep]
"""

import email
import email.policy
import os
import re
import smtplib
import sys
import time

from daemon_common import wait_for
from queue_common import QChecker, parse_args, run_scenarios, server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from sink import Sink  # noqa: E402

MSG = (b"From: s@example.org\r\nTo: ok@example.test\r\nSubject: dsn test\r\n"
       b"Message-Id: <dsn.1@example.org>\r\n\r\nhello\r\n")
DSN_EHLO = "250-sink.test\r\n250-PIPELINING\r\n250-DSN\r\n250 8BITMIME"


def transaction(srv, mail, rcpts):
    """One message; returns the replies to MAIL, each RCPT, and DATA."""
    with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
        code, ehlo = s.ehlo("client.example.org")
        out = [s.docmd(mail)]
        out += [s.docmd(r) for r in rcpts]
        if any(c == 250 for c, _ in out[1:]):
            s.putcmd("DATA")
            s.getreply()
            s.send(MSG + b".\r\n")
            out.append(s.getreply())
        return ehlo.decode(), out


def report_fields(data):
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    parts = msg.get_payload()
    status = parts[1].get_payload()  # message/delivery-status: list of blocks
    per = [dict((k.lower(), v) for k, v in blk.items()) for blk in status[1:]]
    head = dict((k.lower(), v) for k, v in status[0].items())
    return msg, parts, head, per


def client_lines(sink, verb):
    return [l for s in sink.sessions for d, l in s.log if d == "C" and l.startswith(verb)]


def test_success_relayed(check, args):
    with Sink() as sink, server(args, relay=(sink.host, sink.port)) as srv:
        ehlo, r = transaction(srv, "MAIL FROM:<s@example.org> RET=HDRS ENVID=abc+2Bd", [
            "RCPT TO:<ok@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;O+2Bk@example.test",
            "RCPT TO:<two@example.test> NOTIFY=SUCCESS",
            "RCPT TO:<three@example.test>"])
        check.expect("DSN" in ehlo.split("\n"), f"EHLO announces DSN: {ehlo!r}")
        check.expect([c for c, _ in r] == [250] * 5, f"accepted: {r}")
        msgs = sink.wait_messages(2, timeout=20)
        orig = [m for m in msgs if m.mail_from]
        rep = [m for m in msgs if not m.mail_from]
        check.expect(len(orig) == 1 and len(orig[0].rcpt_tos) == 3, "message delivered once")
        check.expect(len(rep) == 1 and rep[0].rcpt_tos == ["s@example.org"],
                     f"one report from <> to the sender: {[m.rcpt_tos for m in rep]}")
        mails = client_lines(sink, "MAIL FROM:<s@")
        rcpts = client_lines(sink, "RCPT TO:<ok@")
        check.expect(mails == ["MAIL FROM:<s@example.org> SIZE=%d" % len(MSG)] or
                     (mails and "ENVID" not in mails[0] and "RET" not in mails[0]),
                     f"no DSN parameters to a next hop without DSN: {mails}")
        check.expect(rcpts == ["RCPT TO:<ok@example.test>"], f"plain RCPT: {rcpts}")
        if rep:
            msg, parts, head, per = report_fields(rep[0].data)
            check.expect(msg["Subject"] == "Successful Mail Delivery Report", msg["Subject"])
            check.expect(head.get("original-envelope-id") == "abc+d",
                         f"Original-Envelope-Id {head.get('original-envelope-id')}")
            check.expect([p.get("final-recipient") for p in per] ==
                         ["rfc822; ok@example.test", "rfc822; two@example.test"],
                         f"the SUCCESS recipients only: {per}")
            check.expect([p.get("original-recipient") for p in per] ==
                         ["rfc822;O+k@example.test", "rfc822;two@example.test"],
                         f"Original-Recipient {[p.get('original-recipient') for p in per]}")
            check.expect(all(p.get("action") == "relayed" and p.get("status") == "2.0.0"
                             for p in per), f"relayed 2.0.0: {per}")
            check.expect(parts[2]["Content-Description"] == "Message Headers" and
                         parts[2].get_content_type() == "text/rfc822-headers",
                         "headers only as Message Headers")
            text = parts[0].get_payload()
            check.expect("Your message was successfully delivered" in text and
                         re.search(r"<ok@example.test>: delivery via 127\.0\.0\.1\[127\.0\.0\.1\]:"
                                   r"\d+: 250", text) is not None, f"notification text {text!r}")
        check.expect(wait_for(lambda: re.search(r"\w+: sender delivery status notification: \w+",
                                                srv.log()), 10), "report logged")


def test_forwarded(check, args):
    with Sink(replies={"helo": DSN_EHLO}) as sink, \
            server(args, relay=(sink.host, sink.port)) as srv:
        transaction(srv, "MAIL FROM:<s@example.org> RET=HDRS ENVID=abc+2Bd", [
            "RCPT TO:<ok@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;O+2Bk@example.test",
            "RCPT TO:<three@example.test>"])
        msgs = sink.wait_messages(1, timeout=20)
        check.expect(len(msgs) == 1, "delivered")
        mails = client_lines(sink, "MAIL FROM:<s@")
        rcpts = client_lines(sink, "RCPT TO:")
        check.expect(len(mails) == 1 and mails[0].endswith(" ENVID=abc+2Bd RET=HDRS"),
                     f"MAIL with ENVID, RET: {mails}")
        check.expect(rcpts == ["RCPT TO:<ok@example.test> ORCPT=rfc822;O+2Bk@example.test "
                               "NOTIFY=SUCCESS,FAILURE",
                               "RCPT TO:<three@example.test> ORCPT=rfc822;three@example.test"],
                     f"RCPT with ORCPT, NOTIFY as Postfix sends them: {rcpts}")
        time.sleep(2.5)
        check.expect(len(sink.messages) == 1 and "delivery status notification" not in srv.log(),
                     "no report: the next hop took the NOTIFY")


def test_never(check, args):
    def rcpt(session, arg):
        return "550 5.1.1 <x>: User unknown" if "nobody" in arg else None

    with Sink(replies={"rcpt": rcpt}) as sink, server(args, relay=(sink.host, sink.port)) as srv:
        for notify, want in (("NOTIFY=NEVER", 0), ("NOTIFY=DELAY", 0), ("", 1)):
            n0 = len(sink.messages)
            b0 = srv.log().count("status=bounced")
            transaction(srv, "MAIL FROM:<s@example.org>",
                        [f"RCPT TO:<nobody@example.test> {notify}".strip()])
            check.expect(wait_for(lambda: srv.log().count("status=bounced") > b0, 15),
                         f"{notify or 'no NOTIFY'}: bounced")
            if want:
                wait_for(lambda: len(sink.messages) > n0, 10)
            else:
                time.sleep(2)
            bounces = [m for m in sink.messages[n0:] if not m.mail_from]
            check.expect(len(bounces) == want, f"{notify or 'no NOTIFY'}: {len(bounces)} "
                         f"notification(s), want {want}")


def test_discard(check, args):
    with Sink() as sink, server(args, {"smtpd_discard_ehlo_keywords": "dsn"},
                                relay=(sink.host, sink.port)) as srv:
        ehlo, r = transaction(srv, "MAIL FROM:<s@example.org> RET=FULL",
                              ["RCPT TO:<ok@example.test>"])
        check.expect("DSN" not in ehlo.split("\n") and "CHUNKING" in ehlo, f"no DSN line: {ehlo!r}")
        check.expect(r[0] == (501, b"5.7.1 DSN support is disabled"), f"MAIL: {r[0]}")


def main():
    args = parse_args(__doc__)
    check = QChecker("daemon_queue_dsn", args.v)
    return run_scenarios(check, [("success_relayed", test_success_relayed),
                                 ("forwarded", test_forwarded), ("never", test_never),
                                 ("discard", test_discard)], args)


if __name__ == "__main__":
    sys.exit(main())
