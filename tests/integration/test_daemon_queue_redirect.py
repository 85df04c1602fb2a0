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
    recipients (the REDIRECT does not outlive its transaction);
  * a redirect target the next hop refuses (550 at RCPT) bounces as
    Postfix's bounce(8) reports it: "<target> (expanded from <first
    recipient>): host ... said: 550 ...", Final-Recipient the target,
    Original-Recipient "rfc822;" + the first recipient; the log says
    "sender non-delivery notification";
  * a target that differs from the first recipient only in case (local
    part too) is no expansion: no orig_to=, no "(expanded from", as
    Postfix's strcasecmp_utf8 in log_adhoc.c;
  * a recipient given twice in one transaction (case aside) is delivered
    once, in its first spelling, as cleanup(8)'s duplicate filter; the
    same address with a different NOTIFY is a different recipient.

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
    "rcpt_access": ("/^redir@/ REDIRECT boss@example.net\n"
                    "/^gone@/ REDIRECT Gone@Example.NET\n"
                    "/^case@/ REDIRECT C6@Y.TEST\n"),
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
    """One transaction on an open session: the replies to MAIL, RCPTs, DATA.
    A recipient may carry RCPT parameters after a blank."""
    out = [s.docmd("MAIL FROM:<s@example.org>")]
    for r in rcpts:
        addr, _, params = r.partition(" ")
        out.append(s.docmd(f"RCPT TO:<{addr}>" + (f" {params}" if params else "")))
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


def refuse(session, arg):
    """The next hop refuses the two bounce cases' targets."""
    a = arg.lower()
    if "gone@example.net" in a or "c6@y.test" in a:
        return ("550 5.1.1 <%s>: Recipient address rejected: User unknown"
                % a[a.find("<") + 1:a.find(">")])
    return None


def notification(data):
    """The bounce's human-readable part: its recipient lines, unwrapped."""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    part = text.split("Content-Description: Notification", 1)[-1].split("\n--", 1)[0]
    return re.sub(r"\n {4}", " ", part)


def check_bounce(check, tag, bounce, target, orig):
    """One bounce of message tag to the sender, as Postfix 3.7 writes it."""
    if not check.expect(bounce is not None, f"{tag}: a bounce to the sender"):
        return
    text = notification(bounce.data)
    said = "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <%s>: Recipient address rejected: " \
           "User unknown (in reply to RCPT TO command)" % target.lower()
    line = f"<{target}> (expanded from <{orig}>): {said}" if orig else f"<{target}>: {said}"
    check.expect(line in text and "expanded from" not in text.replace(line, ""),
                 f"{tag}: bounce says {line!r}: {text!r}")
    d = bounce.data.decode("utf-8", "replace")
    check.expect(f"Final-Recipient: rfc822; {target}\r\n" in d, f"{tag}: Final-Recipient {target}")
    check.expect(bounce.mail_from == "" and bounce.rcpt_tos == ["s@example.org"],
                 f"{tag}: from <> to the sender: {bounce.mail_from!r} {bounce.rcpt_tos}")


def main():
    args = parse_args(__doc__)
    check = Checker("daemon_queue_redirect", args.v)
    srv = None
    with Sink(replies={"rcpt": refuse}) as sink, \
            server(args, MAIN_CF, MAPS, relay=(sink.host, sink.port), settings=SETTINGS) as srv:
        cases = [
            # rcpts, subject, tag, expected sink recipients, expected orig_to
            (["c@y.test", "redir@z.test", "b@y.test"], "access", "m1",
             ["boss@example.net"], "b@y.test"),
            (["one@y.test", "two@x.test"], "send elsewhere", "m2",
             ["hdr@example.org"], "two@x.test"),
            (["redir@z.test"], "send elsewhere too", "m3", ["hdr@example.org"], "redir@z.test"),
            (["plain@y.test", "other@x.test"], "plain", "m4",
             ["other@x.test", "plain@y.test"], None),
            # duplicates: case aside the same recipient; another NOTIFY is another one
            (["d@y.test", "D@Y.TEST", "d@Y.test", "e@y.test", "e@y.test",
              "e@y.test NOTIFY=FAILURE"], "dups", "m7", ["d@y.test", "e@y.test", "e@y.test"],
             None),
        ]
        bounces = [
            # rcpts, tag, the refused target, orig in the bounce and log (None: none)
            (["a5@y.test", "gone@z.test"], "m5", "Gone@Example.NET", "a5@y.test"),
            (["c6@y.test", "case@z.test"], "m6", "C6@Y.TEST", None),
        ]
        ids = {}
        with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
            s.ehlo("client.example.org")
            for rcpts, subject, tag in ([(c[0], c[1], c[2]) for c in cases] +
                                        [(b[0], "bounce", b[1]) for b in bounces]):
                r = send(s, rcpts, message(subject, tag))
                check.expect([c for c, _ in r] == [250] * (len(rcpts) + 1) + [354, 250],
                             f"{tag}: accepted: {r}")
                m = re.search(rb"queued as (\w+)", r[-1][1])
                ids[tag] = m.group(1).decode() if m else "?"
            s.quit()
        want = len(cases) + len(bounces)
        sink.wait_messages(want, timeout=30)
        time.sleep(1.0)  # nothing more may come
        msgs = list(sink.messages)
        check.expect(len(msgs) == want, f"one delivery per message, one bounce each: {len(msgs)}")
        by_tag, bounce_of = {}, {}
        for m in msgs:
            t = re.search(rb"body (m\d)", m.data)
            t = t.group(1).decode() if t else "?"
            if m.mail_from == "":
                bounce_of[t] = m
            else:
                by_tag.setdefault(t, []).append(m)
        end = time.monotonic() + 15
        while time.monotonic() < end and not all(
                delivered(srv.log(), ids[t]) for t in ids):
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
        for rcpts, tag, target, orig in bounces:
            check.expect(tag not in by_tag, f"{tag}: nothing delivered")
            lines = delivered(log, ids[tag])
            check.expect(lines == [(target, orig, "bounced")],
                         f"{tag}: one line to=<{target}>, orig_to={orig}, bounced: {lines}")
            check_bounce(check, tag, bounce_of.get(tag), target, orig)
            check.expect(re.search(r"%s: sender non-delivery notification: \w+" % ids[tag], log),
                         f"{tag}: sender non-delivery notification logged")
    sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
