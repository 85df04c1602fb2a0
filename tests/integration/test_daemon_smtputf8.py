#!/usr/bin/env python3
"""test_daemon_smtputf8.py - smtputf8_enable and its compatibility_level default, through the daemon.

Usage: test_daemon_smtputf8.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

Postfix 3.7's smtputf8_enable default is
"${{$compatibility_level} <level {1} ? {no} : {yes}}" and
compatibility_level's default is 0: a main.cf that does not set
compatibility_level gets no SMTPUTF8. Four servers, one session each:
  * no compatibility_level                       -> disabled
  * compatibility_level = 3.6                    -> enabled
  * compatibility_level = 3.6, smtputf8_enable = no  -> disabled
  * no compatibility_level, smtputf8_enable = yes    -> enabled
Each session, every reply compared exactly; the replies below were seen
with a private Postfix 3.7.11 (--postfix runs the same sessions there):
  * EHLO: the full keyword list, with "250-SMTPUTF8" only when enabled;
  * MAIL FROM:<a@example.org> SMTPUTF8: enabled "250 2.1.0 Ok"; disabled
    "555 5.5.4 Unsupported option: SMTPUTF8" (the parameter as the client
    wrote it: "smtputf8" in lower case gets "... option: smtputf8", and
    is accepted when enabled: the keyword is case-insensitive);
  * MAIL FROM:<a@example.org> SMTPUTF8=x: "555 5.5.4 Unsupported option:
    SMTPUTF8=x" either way (SMTPUTF8 takes no value);
  * a UTF-8 address without SMTPUTF8, MAIL FROM:<\u00e9t\u00e9@example.org> and
    RCPT TO:<\u00e9@example.test>: accepted, enabled or not (smtpd does not
    look at the bytes; strict_smtputf8 = no).
Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import sys

import daemon_common as dc
import sink as sinklib         # noqa: E402

BASE_CF = """myhostname = mx.example.test
smtpd_banner = $myhostname ESMTP
mynetworks = 127.0.0.0/8
relay_domains = example.test
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_error_sleep_time = 0
"""
CASES = [
    ("no compatibility_level", "", False),
    ("compatibility_level = 3.6", "compatibility_level = 3.6\n", True),
    ("3.6, smtputf8_enable = no", "compatibility_level = 3.6\nsmtputf8_enable = no\n", False),
    ("level 0, smtputf8_enable = yes", "smtputf8_enable = yes\n", True),
]
KEYWORDS = ["mx.example.test", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN",
            "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"]


def ehlo_text(utf8):
    words = [w for w in KEYWORDS if utf8 or w != "SMTPUTF8"]
    return "\n".join(("250-" if i < len(words) - 1 else "250 ") + w
                     for i, w in enumerate(words))


def steps(utf8):
    def opt(word):
        return "250 2.1.0 Ok" if utf8 else f"555 5.5.4 Unsupported option: {word}"
    return [
        ("EHLO client.example.org", ehlo_text(utf8)),
        ("MAIL FROM:<a@example.org> SMTPUTF8", opt("SMTPUTF8")),
        ("RSET", "250 2.0.0 Ok"),
        ("MAIL FROM:<a@example.org> smtputf8", opt("smtputf8")),
        ("RSET", "250 2.0.0 Ok"),
        ("MAIL FROM:<a@example.org> SMTPUTF8=x", "555 5.5.4 Unsupported option: SMTPUTF8=x"),
        ("MAIL FROM:<\u00e9t\u00e9@example.org>", "250 2.1.0 Ok"),
        ("RCPT TO:<\u00e9@example.test>", "250 2.1.5 Ok"),
        ("RSET", "250 2.0.0 Ok"),
        ("QUIT", "221 2.0.0 Bye"),
    ]


def run(args, check, sink, name, extra, utf8):
    with dc.server(args, extra + BASE_CF, relay=(sink.host, sink.port)) as srv:
        c = dc.Raw(srv.host, srv.port, timeout=15)
        try:
            code, text, _ = c.reply()
            check.expect(code == "220", f"{name}: greeting {text!r}")
            for cmd, want in steps(utf8):
                _, text, _ = c.cmd(cmd)
                check.expect(text == want, f"{name}: {cmd!r} ->\n{text}\nwant\n{want}")
        finally:
            c.close()
        if check.failures:
            sys.exit(check.done(srv))


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_smtputf8", verbose=args.v)
    # A next hop: without one the private Postfix refuses every recipient.
    with sinklib.Sink() as sink:
        for name, extra, utf8 in CASES:
            run(args, check, sink, name, extra, utf8)
    sys.exit(check.done())


if __name__ == "__main__":
    main()
