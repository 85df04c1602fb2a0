#!/usr/bin/env python3
"""test_daemon_queue_redirect.py - REDIRECT in delivery_mode = queue, the real
daemon against a recording sink (tests/lib/sink.py); with --postfix the same
checks run against a private Postfix 3.7, which is where they come from:

  * an access map's REDIRECT (check_recipient_access) in
    smtpd_recipient_restrictions: the message of three recipients is
    delivered ONCE, to the redirect address only (qmgr_message_resolve:
    "Redirect overrides all else. But only once"); the delivery line says
    to=<target>, orig_to=<the first recipient in qmgr's sort order: domain,
    then address>, status=sent; the other recipients get no line at all;
  * a header_checks REDIRECT does the same for its message;
  * both in one message: the header_checks target wins (cleanup's
    extracted-segment record replaces smtpd's);
  * a message without REDIRECT in the same session goes to its own
    recipients (the REDIRECT does not outlive its transaction).

Usage: test_daemon_queue_redirect.py [MXSCREEN] [--postfix] [-v] [--keep]
"""

import os
import re
import smtplib
import sys
import time

from daemon_common import Checker, parse_args, server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from sink import Sink  # noqa: E402

MAIN_CF = """\
compatibility_level = 3.6
myhostname = backup.example.test
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions =
    check_recipient_access regexp:${config_directory}/rcpt_access,
    permit_mynetworks, reject_unauth_destination
header_checks = regexp:${config_directory}/header_checks
"""
MAPS = {
    "rcpt_access": "/^redir@/ REDIRECT boss@example.net\n",
    "header_checks": "/^Subject: send elsewhere/ REDIRECT hdr@example.org\n",
}
SETTINGS = {
    "delivery_mode": "queue",
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "queue_run_delay": "1s",
}


def message(subject, tag):
    return (f"From: s@example.org\r\nTo: x@y.test\r\nSubject: {subject}\r\n"
            f"Message-Id: <{tag}@example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            f"\r\nbody {tag}\r\n").encode()


def send(s, rcpts, data):
    """One transaction on an open session: the replies to MAIL, RCPTs, DATA."""
    out = [s.docmd("MAIL FROM:<s@example.org>")]
    out += [s.docmd(f"RCPT TO:<{r}>") for r in rcpts]
    s.putcmd("DATA")
    out.append(s.getreply())
    s.send(data + b".\r\n")
    out.append(s.getreply())
    return out


def delivered(log, tag_id):
    """Delivery lines (to, orig_to, status) of one queue id."""
    out = []
    for m in re.finditer(r"\b%s: to=<([^>]*)>(?:, orig_to=<([^>]*)>)?, relay=.*?status=(\w+)"
                         % re.escape(tag_id), log):
        out.append((m.group(1), m.group(2), m.group(3)))
    return out


def main():
    args = parse_args(__doc__)
    check = Checker("daemon_queue_redirect", args.v)
    srv = None
    with Sink() as sink, server(args, MAIN_CF, MAPS, relay=(sink.host, sink.port),
                                settings=SETTINGS) as srv:
        cases = [
            # rcpts, subject, tag, expected sink recipients, expected orig_to
            (["c@y.test", "redir@z.test", "b@y.test"], "access", "m1",
             ["boss@example.net"], "b@y.test"),
            (["one@y.test", "two@x.test"], "send elsewhere", "m2",
             ["hdr@example.org"], "two@x.test"),
            (["redir@z.test"], "send elsewhere too", "m3", ["hdr@example.org"], "redir@z.test"),
            (["plain@y.test", "other@x.test"], "plain", "m4",
             ["other@x.test", "plain@y.test"], None),
        ]
        ids = {}
        with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
            s.ehlo("client.example.org")
            for rcpts, subject, tag, _, _ in cases:
                r = send(s, rcpts, message(subject, tag))
                check.expect([c for c, _ in r] == [250] * (len(rcpts) + 1) + [354, 250],
                             f"{tag}: accepted: {r}")
                m = re.search(rb"queued as (\w+)", r[-1][1])
                ids[tag] = m.group(1).decode() if m else "?"
            s.quit()
        msgs = sink.wait_messages(len(cases), timeout=30)
        time.sleep(1.0)  # nothing more may come
        msgs = list(sink.messages)
        check.expect(len(msgs) == len(cases), f"one delivery per message: {len(msgs)}")
        by_tag = {}
        for m in msgs:
            t = re.search(rb"body (m\d)", m.data)
            by_tag.setdefault(t.group(1).decode() if t else "?", []).append(m)
        end = time.monotonic() + 15
        while time.monotonic() < end and not all(
                delivered(srv.log(), ids[c[2]]) for c in cases):
            time.sleep(0.2)
        log = srv.log()
        for rcpts, subject, tag, want, orig in cases:
            got = by_tag.get(tag, [])
            check.expect(len(got) == 1 and sorted(got[0].rcpt_tos) == want,
                         f"{tag}: delivered once to {want}: {[g.rcpt_tos for g in got]}")
            lines = delivered(log, ids[tag])
            if orig:
                check.expect(lines == [(want[0], orig, "sent")],
                             f"{tag}: one line to=<{want[0]}>, orig_to=<{orig}>: {lines}")
            else:
                check.expect(sorted(lines) == sorted((w, None, "sent") for w in want),
                             f"{tag}: own recipients, no orig_to: {lines}")
    sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
