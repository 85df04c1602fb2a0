#!/usr/bin/env python3
"""test_daemon_queue_limits.py - a backup MX's limits in delivery_mode =
queue, through the real daemon against recording sinks; with --postfix
the same checks run against a private Postfix 3.7, which is where they
come from:

  * relay_recipient_maps (Postfix's implicit smtpd_reject_unlisted_recipient
    = yes, no restriction naming it): in relay_domains, a recipient
    not in the map gets "550 5.1.1 <u@dom>: Recipient address rejected:
    User unknown in relay recipient table" at RCPT time even when no
    restriction names it (nothing is queued, so nothing can bounce to a
    forged sender later); a listed one is taken and delivered;
  * bounce_queue_lifetime: with the next hop down, a message from <>
    (a bounce) is given up after bounce_queue_lifetime (3s here) and
    logged as qmgr does, "ID: from=<>, status=expired, returned to sender"
    (one line for the message, no per-recipient line), without a
    notification of its own, while a message from a real sender, under
    maximal_queue_lifetime (1h), stays queued;
  * bounce_size_limit: a message the next hop refuses (550) comes back
    whole (message/rfc822, its body there) when it is smaller than the
    limit, and with its headers only (text/rfc822-headers, no body) when
    it is larger.

Usage: test_daemon_queue_limits.py [MXSCREEN] [--postfix] [-v] [--keep]
"""

import os
import re
import smtplib
import sys
import time

import queue_common
from daemon_common import Checker, parse_args, server, wait_for
from queue_common import FAST

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from postfix_peer import free_port  # noqa: E402
from sink import Sink  # noqa: E402

MAIN_CF = queue_common.MAIN_CF + """\
relay_domains = relay.test
relay_recipient_maps = inline:{known@relay.test=ok, known2@relay.test=ok}
smtpd_recipient_restrictions = reject_unauth_destination
"""


def message(tag, body=""):
    return (f"From: s@example.org\r\nTo: known@relay.test\r\nSubject: {tag}\r\n"
            f"Message-Id: <{tag}@example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            f"\r\nbody {tag}\r\n{body}").encode()


def transaction(srv, sender, rcpts, data):
    """[(code, text)] for MAIL, each RCPT, and (when a RCPT was taken) the
    end of DATA; the queue id or None."""
    with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
        # from a client outside mynetworks, as a backup MX's senders are
        s.ehlo("client.example.org")
        out = [s.docmd(f"MAIL FROM:<{sender}>")]
        out += [s.docmd(f"RCPT TO:<{r}>") for r in rcpts]
        qid = None
        if any(c == 250 for c, _ in out[1:]):
            s.putcmd("DATA")
            s.getreply()
            s.send(data + b".\r\n")
            out.append(s.getreply())
            m = re.search(rb"queued as (\w+)", out[-1][1])
            qid = m.group(1).decode() if m else None
        else:
            s.docmd("RSET")
        s.quit()
    return [(c, t.decode()) for c, t in out], qid


def test_relay_recipients(check, args):
    with Sink() as sink, server(args, MAIN_CF, {}, relay=(sink.host, sink.port),
                                settings=FAST) as srv:
        replies, qid = transaction(srv, "s@example.org",
                                   ["nobody@relay.test", "known@relay.test"],
                                   message("rrm"))
        want = (550, "5.1.1 <nobody@relay.test>: Recipient address rejected: "
                "User unknown in relay recipient table")
        check.expect(replies[1] == want, f"unknown relay recipient: {replies[1]} want {want}")
        check.expect(replies[2][0] == 250 and qid, f"known relay recipient taken: {replies}")
        msgs = sink.wait_messages(1, timeout=20)
        check.expect(len(msgs) == 1 and msgs[0].rcpt_tos == ["known@relay.test"],
                     f"delivered to the known one only: {[m.rcpt_tos for m in msgs]}")
    return srv


def test_bounce_lifetime(check, args):
    down = free_port()          # nothing listens: connection refused
    settings = dict(FAST, bounce_queue_lifetime="3s", maximal_queue_lifetime="1h")
    with server(args, MAIN_CF, {}, relay=("127.0.0.1", down), settings=settings) as srv:
        _, bounce = transaction(srv, "", ["known@relay.test"], message("null"))
        _, plain = transaction(srv, "s@example.org", ["known@relay.test"], message("plain"))
        check.expect(bounce and plain, f"both queued: {bounce} {plain}")
        line = wait_for(lambda: re.search(r"\b%s: from=<>, status=expired, "
                                          r"returned to sender" % bounce, srv.log()), 25)
        if not check.expect(line, "the message from <> expired after bounce_queue_lifetime"):
            print("\n".join(ln for ln in srv.log().splitlines() if bounce in ln)[-3000:])
        time.sleep(2.0)  # a few more runs: the other one must still be waiting
        log = srv.log()
        check.expect(not re.search(r"\b%s: to=.*status=expired" % bounce, log),
                     "no per-recipient expired line")
        check.expect(not re.search(r"\b%s: .*status=expired" % plain, log),
                     "the message from a sender is still queued (maximal_queue_lifetime)")
        check.expect(re.search(r"\b%s: to=<known@relay\.test>.*status=deferred" % plain, log),
                     "and deferred")
        check.expect(not re.search(r"\b%s: sender non-delivery notification" % bounce, log),
                     "no notification for the message from <>")
    return srv


def test_bounce_size(check, args):
    def refuse(session, arg):
        return "550 5.1.1 <known@relay.test>: User unknown" if "known@" in arg else None

    big = "".join(f"line {i:05d} of a big body that is over the limit\r\n" for i in range(400))
    with Sink(replies={"rcpt": refuse}) as sink, \
            server(args, MAIN_CF, {}, relay=(sink.host, sink.port),
                   settings=dict(FAST, bounce_size_limit="4000")) as srv:
        _, q1 = transaction(srv, "s@example.org", ["known@relay.test"], message("small"))
        _, q2 = transaction(srv, "s@example.org", ["known@relay.test"], message("large", big))
        check.expect(q1 and q2, f"both queued: {q1} {q2}")
        msgs = sink.wait_messages(2, timeout=30)
        bounces = {}
        for m in msgs:
            t = re.search(rb"Subject: (small|large)", m.data)
            if m.mail_from == "" and t:
                bounces[t.group(1).decode()] = m.data.decode("utf-8", "replace")
        small, large = bounces.get("small", ""), bounces.get("large", "")
        check.expect("Content-Type: message/rfc822" in small and "body small" in small,
                     "under bounce_size_limit: the whole message as message/rfc822")
        check.expect("Content-Type: text/rfc822-headers" in large and "body large" not in large
                     and "Subject: large" in large,
                     "over bounce_size_limit: its headers only, text/rfc822-headers")
        check.expect(len(large) < 4000 + 3000, f"the large one's bounce is small: {len(large)}")
    return srv


def main():
    args = parse_args(__doc__)
    check = Checker("daemon_queue_limits", args.v)
    srv = None
    only = os.environ.get("QLIM_ONLY")
    for fn in (test_relay_recipients, test_bounce_lifetime, test_bounce_size):
        if only and only not in fn.__name__:
            continue
        t0 = time.monotonic()
        srv = fn(check, args)
        if check.failures:
            break
        if args.v:
            print(f"{fn.__name__}: {time.monotonic() - t0:.1f}s")
    sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
