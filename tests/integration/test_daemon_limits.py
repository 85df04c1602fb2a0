#!/usr/bin/env python3
"""test_daemon_limits.py - smtpd_error_sleep_time, the soft and hard error limits and the junk command limit, through the daemon.

Usage: test_daemon_limits.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

mxscreen runs examples/main.cf with smtpd_error_sleep_time = 1s (the
examples' 20 s would make this slow; the rule is the same) and the limits
each session below names. A client on 127.0.0.1 plays the session; every
reply must have the code (and text, where given) and come after the delay
listed, give or take SLACK seconds. "None" as a command means: send nothing,
read what the server says by itself.

The expectations are Postfix 3.7.11's, as `--postfix` shows (the same
sessions against a private Postfix): an error reply is sent, then counted;
once the count reaches smtpd_soft_error_limit every reply (even 250 or 221)
waits smtpd_error_sleep_time; once it reaches smtpd_hard_error_limit the
server sends "421 4.7.0 myhostname Error: too many errors" without waiting
for a command (after the sleep) and hangs up; NOOP, RSET, VRFY and ETRN
beyond smtpd_junk_command_limit count as errors; an accepted command does
not clear the count.

Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import sys

import daemon_common as dc

SLACK = 0.5
TOO_MANY = "421 4.7.0 mx.example.test Error: too many errors"
BAD = "500 5.5.2 Error: command not recognized"

# (name, settings, steps); a step is (command or None, code, text or None, delay s).
SESSIONS = [
    ("hard_limit", {"smtpd_soft_error_limit": "2", "smtpd_hard_error_limit": "4",
                    "smtpd_junk_command_limit": "100"},
     [("BOGUS", "500", BAD, 0), ("BOGUS", "500", BAD, 0),
      ("BOGUS", "500", BAD, 1), ("BOGUS", "500", BAD, 1),
      (None, "421", TOO_MANY, 1), ("QUIT", "closed", None, 0)]),
    ("soft_limit_one", {"smtpd_soft_error_limit": "1", "smtpd_hard_error_limit": "3",
                        "smtpd_junk_command_limit": "100"},
     [("BOGUS", "500", BAD, 0), ("MAIL FROM:<a@example.org>", "250", "250 2.1.0 Ok", 1),
      ("NOOP", "250", "250 2.0.0 Ok", 1), ("QUIT", "221", "221 2.0.0 Bye", 1)]),
    ("below_soft_limit", {"smtpd_soft_error_limit": "2", "smtpd_hard_error_limit": "4",
                          "smtpd_junk_command_limit": "100"},
     [("BOGUS", "500", BAD, 0), ("MAIL FROM:<a@example.org>", "250", "250 2.1.0 Ok", 0),
      ("NOOP", "250", "250 2.0.0 Ok", 0), ("QUIT", "221", "221 2.0.0 Bye", 0)]),
    ("junk_limit", {"smtpd_soft_error_limit": "2", "smtpd_hard_error_limit": "4",
                    "smtpd_junk_command_limit": "2"},
     [("NOOP", "250", None, 0), ("NOOP", "250", None, 0), ("NOOP", "250", None, 0),
      ("NOOP", "250", None, 0), ("NOOP", "250", None, 1), ("NOOP", "250", None, 1),
      (None, "421", TOO_MANY, 1), ("QUIT", "closed", None, 0)]),
]


def main():
    args = dc.parse_args(__doc__)
    status = 0
    main_cf, maps = dc.example_config()
    for name, limits, steps in SESSIONS:
        check = dc.Checker(f"daemon_limits {name}", args.v)
        settings = dict(limits, smtpd_error_sleep_time="1s")
        with dc.server(args, main_cf, maps, settings=settings) as srv:
            c = dc.Raw(srv.host, srv.port, timeout=10)
            code, text, _ = c.reply()
            check.expect(code == "220", f"greeting {text!r}")
            code, text, _ = c.cmd("HELO client.example.org")
            check.expect(code == "250", f"HELO {text!r}")
            for i, (cmd, want_code, want_text, delay) in enumerate(steps):
                code, text, took = c.cmd(cmd) if cmd else c.reply()
                what = f"step {i} ({cmd or 'nothing sent'})"
                check.expect(code == want_code and (want_text is None or text == want_text),
                             f"{what}: {text or code!r}, expected {want_text or want_code!r}")
                check.expect(abs(took - delay) <= SLACK,
                             f"{what}: reply after {took:.2f} s, expected {delay} s")
            c.close()
            status |= check.done(srv)
    return status


if __name__ == "__main__":
    sys.exit(main())
