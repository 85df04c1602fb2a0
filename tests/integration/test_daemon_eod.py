#!/usr/bin/env python3
"""test_daemon_eod.py - smtpd_end_of_data_restrictions through the daemon.

Usage: test_daemon_eod.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

main.cf: smtpd_end_of_data_restrictions = check_sender_access
texthash:eod_senders, permit (delivery_mode = proxy). One session sends
messages of 60 kB each (the restriction is evaluated once the whole
message, and its size, is in):
  1. big@example.org (REJECT no big mail here): "554 5.7.1
     <big@example.org>: Sender address rejected: no big mail here" at the
     final dot (the name and class of what was looked up, not
     "<END-OF-MESSAGE>: End-of-data rejected": that was our bug), the next
     hop gets nothing; the log line "ID: reject: END-OF-MESSAGE from ...".
  2. RSET, later@example.org (451 4.7.1 come back later): "451 4.7.1
     <later@example.org>: Sender address rejected: come back later".
  3. RSET, ok@example.org (not listed): 250, delivered whole to the sink.
  4. big@example.org again: rejected again.
  5. MAIL at once, without RSET: a deliberate difference. Postfix 3.7.11's
     smtpd.c returns from an end-of-data reject without mail_reset(): the
     transaction stays open, the next MAIL gets "503 5.5.1 Error: nested
     MAIL command" (and with smtpd_proxy_filter the smtpd then dies of
     signal 11 at the next DATA). RFC 5321 4.1.1.4 ends the transaction
     with the reply to the final dot, whatever it says; mxscreen does that:
     MAIL gets 250. The --postfix run expects Postfix's 503 here.
The Postfix run uses its queue (no smtpd_proxy_filter, see 5.); its
replies at the final dot are the same in both of its modes.
Expectations checked with a private Postfix 3.7.11 (--postfix).
Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import re
import sys

import daemon_common as dc
import sink as sinklib         # noqa: E402

MAIN_CF = dc.LOOPBACK_CF + """smtpd_end_of_data_restrictions = check_sender_access texthash:${config_directory}/eod_senders,
    permit
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
"""
MAPS = {
    "eod_senders": "big@example.org REJECT no big mail here\n"
                   "later@example.org 451 4.7.1 come back later\n",
}

BODY_LINES = 1000           # 1000 lines of 60 bytes: 60 kB


def message(sender, n):
    body = "".join(f"line {i:05d} " + "x" * 48 + "\r\n" for i in range(BODY_LINES))
    return (f"From: <{sender}>\r\nTo: <rcpt@example.net>\r\nSubject: eod {n}\r\n"
            f"Message-ID: <eod{n}@example.org>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n"
            f"\r\n{body}").encode()


def transaction(c, check, sender, n, want):
    """MAIL, RCPT, DATA, the message, the final dot; want is the reply to
    the dot (exact, or a prefix ending in '*')."""
    code, text, _ = c.cmd(f"MAIL FROM:<{sender}>")
    check.expect(code == "250", f"#{n} MAIL {sender}: {text!r}")
    code, text, _ = c.cmd("RCPT TO:<rcpt@example.net>")
    check.expect(code == "250", f"#{n} RCPT: {text!r}")
    code, text, _ = c.cmd("DATA")
    check.expect(code == "354", f"#{n} DATA: {text!r}")
    c.send(message(sender, n) + b".\r\n")
    code, text, _ = c.reply()
    ok = text.startswith(want[:-1]) if want.endswith("*") else text == want
    check.expect(ok, f"#{n} end of DATA from {sender}: {text!r}, want {want!r}")


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_eod", verbose=args.v)
    with sinklib.Sink() as sink, \
            dc.server(args, MAIN_CF, MAPS, relay=(sink.host, sink.port),
                      proxy=False) as srv:
        c = dc.Raw(srv.host, srv.port, timeout=30)
        try:
            code, text, _ = c.reply()
            check.expect(code == "220", f"greeting {text!r}")
            code, text, _ = c.cmd("EHLO client.example.org")
            check.expect(code == "250", f"EHLO {text!r}")
            transaction(c, check, "big@example.org", 1,
                        "554 5.7.1 <big@example.org>: Sender address rejected: no big mail here")
            code, text, _ = c.cmd("RSET")
            check.expect(text == "250 2.0.0 Ok", f"RSET after the reject: {text!r}")
            transaction(c, check, "later@example.org", 2,
                        "451 4.7.1 <later@example.org>: Sender address rejected: come back later")
            c.cmd("RSET")
            transaction(c, check, "ok@example.org", 3, "250 2.0.0 Ok: queued as *")
            transaction(c, check, "big@example.org", 4,
                        "554 5.7.1 <big@example.org>: Sender address rejected: no big mail here")
            code, text, _ = c.cmd("MAIL FROM:<again@example.org>")
            want = ("503 5.5.1 Error: nested MAIL command" if args.postfix
                    else "250 2.1.0 Ok")
            check.expect(text == want, f"#5 MAIL right after an end-of-data reject: {text!r}, "
                                       f"want {want!r}")
            code, text, _ = c.cmd("QUIT")
            check.expect(code == "221", f"QUIT {text!r}")
        finally:
            c.close()
        msgs = sink.wait_messages(1, timeout=15)
        check.expect(len(msgs) == 1 and msgs[0].mail_from == "ok@example.org",
                     f"the sink got only ok@'s message: {[m.mail_from for m in msgs]}")
        if msgs:
            check.expect(msgs[0].data.endswith(message("ok@example.org", 3)),
                         "ok@'s message reached the sink whole")
        check.expect(not sink.refused, f"nothing was refused by the sink: {sink.refused}")
        line = dc.wait_log(srv, r"\S+: reject: END-OF-MESSAGE from \S+: 554 5\.7\.1 "
                                r"<big@example\.org>: Sender address rejected: no big mail here; "
                                r"from=<big@example\.org> to=<rcpt@example\.net> proto=ESMTP "
                                r"helo=<client\.example\.org>$")
        check.expect(line is not None, "the END-OF-MESSAGE reject is logged as Postfix does")
        dc.wait_for(lambda: len(re.findall(r"disconnect from ", srv.log())) >= 2, timeout=10)
        n = len(re.findall(r"reject: END-OF-MESSAGE", srv.log()))
        check.expect(n == 3, f"three END-OF-MESSAGE reject lines, got {n}")
        sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
