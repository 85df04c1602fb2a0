#!/usr/bin/env python3
"""test_daemon_queue_discard.py - transport_maps discard: next hops in
delivery_mode = queue: the real daemon against a recording sink
(tests/lib/sink.py); with --postfix the same checks run against a private
Postfix 3.7, where discard(8) (src/discard/discard.c) writes the line:

  * a recipient whose domain maps to "discard:" never reaches the next hop
    and gets "to=<..>, relay=none, delay=.., delays=../../../..,
    dsn=2.0.0, status=sent (DOMAIN)": the recipient domain as the text
    (trivial-rewrite fills in the next hop);
  * "discard:some text" logs that text: status=sent (some text);
  * the message's other recipients go to the next hop as usual, once,
    and the discarded ones are never logged as relayed;
  * every recipient is queued (qmgr's "from=<..>, size=.., nrcpt=3"), and
    a message of discard: recipients only is queued, logged per
    recipient and removed, nothing sent.

Usage: test_daemon_queue_discard.py [MXSCREEN] [--postfix] [-v] [--keep]
"""

import os
import re
import smtplib
import sys

import daemon_common as dc
from daemon_common import Checker, parse_args, server
from queue_common import FAST

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from sink import Sink  # noqa: E402

MAIN_CF = """\
compatibility_level = 3.6
myhostname = backup.example.test
mydestination =
relay_domains = ok.test, disc.test, why.test
transport_maps = texthash:${config_directory}/transport
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
"""
MAPS = {"transport": "disc.test discard:\nwhy.test discard:dropped by policy\n"}


def main():
    args = parse_args(__doc__)
    check = Checker("daemon_queue_discard", args.v)
    with Sink() as sink, server(args, MAIN_CF, MAPS, relay=(sink.host, sink.port),
                                settings=dict(FAST)) as srv:
        rcpts = ["a@disc.test", "b@why.test", "c@ok.test"]
        with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
            s.ehlo("client.example.org")
            s.mail("s@example.org")
            for r in rcpts:
                code, _ = s.rcpt(r)
                check.expect(code == 250, f"RCPT {r}: {code}")
            code, text = s.data("From: s@example.org\r\nSubject: discard\r\n"
                                "Message-Id: <disc@example.org>\r\n"
                                "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\n")
        m = re.search(rb"queued as (\w+)", text)
        check.expect(code == 250 and m, f"accepted: {code} {text!r}")
        qid = m.group(1).decode() if m else "?"
        for addr, why in [("a@disc.test", "disc.test"), ("b@why.test", "dropped by policy")]:
            pat = (rf": {qid}: to=<{re.escape(addr)}>, relay=none, delay=[0-9.]+, "
                   rf"delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, dsn=2\.0\.0, "
                   rf"status=sent \({re.escape(why)}\)$")
            check.expect(dc.wait_log(srv, pat, timeout=15) is not None, f"logged /{pat}/")
        sink.wait_messages(1, timeout=15)
        pat = rf": {qid}: to=<c@ok\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent"
        check.expect(dc.wait_log(srv, pat, timeout=15) is not None, f"logged /{pat}/")
        got = [m.rcpt_tos for m in sink.messages]
        check.expect(got == [["c@ok.test"]], f"the next hop got {got}")
        log = srv.log()
        n = len(re.findall(r"to=<(?:a@disc|b@why)\.test>, relay=(?!none)", log))
        check.expect(n == 0, f"discarded recipients logged as relayed: {n}")
        n = len(re.findall(rf"{qid}: to=<(?:a@disc|b@why)\.test>", log))
        check.expect(n == 2, f"one line per discarded recipient: {n}")
        pat = rf": {qid}: from=<s@example\.org>, size=\d+, nrcpt=3 \(queue active\)$"
        check.expect(re.search(pat, log, re.M), f"logged /{pat}/")
        with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
            s.ehlo("client.example.org")
            s.mail("s@example.org")
            s.rcpt("only@disc.test")
            code, text = s.data("Subject: only discard\r\n\r\nbody\r\n")
        m = re.search(rb"queued as (\w+)", text)
        check.expect(code == 250 and m, f"only discard: accepted: {code} {text!r}")
        qid = m.group(1).decode() if m else "?"
        pat = (rf": {qid}: to=<only@disc\.test>, relay=none, delay=[0-9.]+, "
               rf"delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, dsn=2\.0\.0, status=sent \(disc\.test\)$")
        check.expect(dc.wait_log(srv, pat, timeout=15) is not None, f"logged /{pat}/")
        check.expect(dc.wait_log(srv, rf": {qid}: removed$", timeout=15) is not None,
                     f"only discard: {qid} removed")
        got = [m.rcpt_tos for m in sink.messages]
        check.expect(got == [["c@ok.test"]], f"only discard: nothing more sent: {got}")
        sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
