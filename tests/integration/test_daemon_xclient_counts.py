#!/usr/bin/env python3
"""test_daemon_xclient_counts.py - XCLIENT on smtpd's disconnect line.

Usage: test_daemon_xclient_counts.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

smtpd's xclient_cmd() goes back to the greeting with a longjmp past
smtpd_proto()'s tally, so a successful XCLIENT is counted as tried, never
as done ("xclient=0/1"), and is no error either (the next reply does not
wait smtpd_error_sleep_time); a refused one ("501 Bad XCLIENT attribute
name") is tried and an error. The line names the client XCLIENT set. The
sessions come from 127.0.0.1, in smtpd_authorized_xclient_hosts; every
line below is what Postfix 3.7.11 logs (run with --postfix):
  - EHLO, XCLIENT, EHLO, MAIL, RSET, QUIT:
    "disconnect from mail.outside.example[192.0.2.10] ehlo=2 xclient=0/1
    mail=1 rset=1 quit=1 commands=5/6";
  - EHLO, NOOP, XCLIENT, HELO, QUIT: "... helo=1 ehlo=1 xclient=0/1 noop=1
    quit=1 commands=4/5";
  - EHLO, a refused XCLIENT, a good one, QUIT: "disconnect from
    unknown[192.0.2.12] ehlo=1 xclient=0/2 quit=1 commands=2/4";
  - with smtpd_soft_error_limit = 1 and a 2 s error sleep: no sleep after a
    successful XCLIENT (it is no error), and a sleep after one error.

Exit: 0 pass, 1 fail, 77 skipped.
"""

import re
import sys

import daemon_common as dc
from sink import Sink

SETTINGS = {
    "compatibility_level": "3.6",
    "myhostname": "mx.example.test",
    "mynetworks": "127.0.0.1/32",
    "relay_domains": "dest.example",
    "smtpd_authorized_xclient_hosts": "127.0.0.1",
    "smtpd_soft_error_limit": "1",
    "smtpd_error_sleep_time": "2s",
}

# (commands, reply codes, the reply whose wait is measured and whether it
# waits smtpd_error_sleep_time, the disconnect line).
SESSIONS = [
    (["EHLO x.example", "XCLIENT ADDR=192.0.2.10 NAME=mail.outside.example", "EHLO y.example",
      "MAIL FROM:<a@b.example>", "RSET", "QUIT"],
     ["250", "220", "250", "250", "250", "221"], "EHLO y.example", False,
     "disconnect from mail.outside.example[192.0.2.10] ehlo=2 xclient=0/1 mail=1 rset=1 "
     "quit=1 commands=5/6"),
    (["EHLO x.example", "NOOP", "XCLIENT ADDR=192.0.2.11 NAME=mail2.outside.example",
      "HELO y.example", "QUIT"],
     ["250", "250", "220", "250", "221"], "HELO y.example", False,
     "disconnect from mail2.outside.example[192.0.2.11] helo=1 ehlo=1 xclient=0/1 noop=1 "
     "quit=1 commands=4/5"),
    (["EHLO x.example", "XCLIENT ADDR=192.0.2.12 BOGUS=1",
      "XCLIENT NAME=[UNAVAILABLE] ADDR=192.0.2.12", "QUIT"],
     ["250", "501", "220", "221"], "XCLIENT NAME=[UNAVAILABLE] ADDR=192.0.2.12", True,
     "disconnect from unknown[192.0.2.12] ehlo=1 xclient=0/2 quit=1 commands=2/4"),
]


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("xclient_counts" + (" (postfix)" if args.postfix else ""), args.v)
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=SETTINGS) as srv:
        for steps, codes, timed, waits, line in SESSIONS:
            c = dc.Raw(srv.host, srv.port)
            c.reply()
            out = {}
            for s in steps:
                out[s] = c.cmd(s)
            c.close()
            tag = steps[1] if steps[1] != "NOOP" else steps[2]
            got = [out[s][0] for s in steps]
            check.expect(got == codes, f"{tag}: replies {got} (want {codes})")
            took = out[timed][2]
            check.expect(took >= 1.5 if waits else took < 1.5,
                         f"{tag}: {timed!r} {'waits' if waits else 'does not wait'} "
                         f"smtpd_error_sleep_time: {took:.2f} s")
            check.expect(dc.wait_log(srv, r": %s$" % re.escape(line)), f"{tag}: logged {line!r}")
        return check.done(srv)


if __name__ == "__main__":
    sys.exit(main())
