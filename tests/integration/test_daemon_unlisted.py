#!/usr/bin/env python3
"""test_daemon_unlisted.py - unknown recipients and senders, smtpd_recipient_limit, through the daemon.

Usage: test_daemon_unlisted.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

relay_domains = example.test, other.test; relay_recipient_maps = texthash:
known@example.test, known2@example.test, @other.test; mydestination empty
(mxscreen has no local delivery: local_recipient_maps is meaningless here,
doc/parameters.md); smtpd_recipient_restrictions = permit_mynetworks,
reject_unauth_destination; the client is 127.0.0.1, in mynetworks. Four
configurations, each session's replies and reject lines compared with a
private Postfix 3.7.11 (--postfix), where they come from:
  1. Defaults: smtpd_reject_unlisted_recipient = yes is an implicit
     check after the lists, even after permit_mynetworks' OK: VRFY and
     RCPT of an unknown address in a relay domain get "550 5.1.1
     <unknown@example.test>: Recipient address rejected: User unknown in
     relay recipient table" (show_user_unknown_table_name = yes); a
     recipient outside the relay domains passes; recipient_delimiter is
     empty, so Known+ext@ is unknown. smtpd_recipient_limit = 3: the
     fourth accepted recipient gets "452 4.5.3 Error: too many recipients"
     (refused ones do not count). mxscreen let every recipient through: it
     had only the explicit reject_unlisted_recipient (the bug this test
     found).
  2. show_user_unknown_table_name = no (no " in relay recipient table"),
     recipient_delimiter = + (known+ext@ is known), and
     smtpd_reject_unlisted_sender = yes: after MAIL FROM:<nobody@example.test>
     every RCPT gets "550 5.1.0 <nobody@example.test>: Sender address
     rejected: User unknown" (smtpd_delay_reject: the sender check runs at
     RCPT, before the recipient's); a known sender passes.
  3. smtpd_delay_reject = no with smtpd_reject_unlisted_sender = yes: the
     same reject at MAIL.
  4. smtpd_reject_unlisted_recipient = no: unknown recipients pass (VRFY
     too), unless the list runs reject_unlisted_recipient itself (here a
     restriction class that a recipient access map names for
     strict.example.test); reject_unlisted_sender in
     smtpd_sender_restrictions (a restriction name mxscreen did not know)
     rejects an unknown sender at RCPT.
Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import re
import sys

import daemon_common as dc
import sink as sinklib         # noqa: E402

MAIN_CF = dc.BASE_CF + """mydestination =
relay_domains = example.test, other.test
relay_recipient_maps = texthash:${config_directory}/relay_rcpts
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_recipient_limit = 3
"""
MAPS = {
    "relay_rcpts": "known@example.test OK\nknown2@example.test OK\n@other.test OK\n",
    "rcpt_access": "strict.example.test unlisted\n",
}
TABLE = " in relay recipient table"


def unknown_rcpt(addr, table=TABLE):
    return f"550 5.1.1 <{addr}>: Recipient address rejected: User unknown{table}"


def unknown_sender(addr, table=TABLE):
    return f"550 5.1.0 <{addr}>: Sender address rejected: User unknown{table}"


OK_MAIL, OK_RCPT = "250 2.1.0 Ok", "250 2.1.5 Ok"
LIMIT = "452 4.5.3 Error: too many recipients"

# (name, settings, [(command, reply)], number of reject lines)
CONFIGS = [
    ("defaults", {}, [
        ("VRFY unknown@example.test", unknown_rcpt("unknown@example.test")),
        ("VRFY known@example.test", "252 2.0.0 known@example.test"),
        ("MAIL FROM:<nobody@example.test>", OK_MAIL),
        ("RCPT TO:<unknown@example.test>", unknown_rcpt("unknown@example.test")),
        ("RCPT TO:<known@example.test>", OK_RCPT),
        ("RCPT TO:<Known+ext@Example.TEST>", unknown_rcpt("Known+ext@Example.TEST")),
        ("RCPT TO:<x@other.test>", OK_RCPT),
        ("RCPT TO:<y@elsewhere.example>", OK_RCPT),
        ("RCPT TO:<known2@example.test>", LIMIT),
        ("RCPT TO:<unknown@example.test>", LIMIT),
        ("RSET", "250 2.0.0 Ok"),
        ("MAIL FROM:<>", OK_MAIL),
        ("RCPT TO:<known2@example.test>", OK_RCPT),
    ], 3),
    ("sender_no_table", {"show_user_unknown_table_name": "no",
                         "smtpd_reject_unlisted_sender": "yes",
                         "recipient_delimiter": "+"}, [
        ("VRFY unknown@example.test", unknown_rcpt("unknown@example.test", "")),
        ("MAIL FROM:<nobody@example.test>", OK_MAIL),
        ("RCPT TO:<known@example.test>", unknown_sender("nobody@example.test", "")),
        ("RCPT TO:<y@elsewhere.example>", unknown_sender("nobody@example.test", "")),
        ("RSET", "250 2.0.0 Ok"),
        ("MAIL FROM:<Known+ext@example.test>", OK_MAIL),
        ("RCPT TO:<unknown@example.test>", unknown_rcpt("unknown@example.test", "")),
        ("RCPT TO:<known+ext@example.test>", OK_RCPT),
        ("RSET", "250 2.0.0 Ok"),
        ("MAIL FROM:<>", OK_MAIL),
        ("RCPT TO:<known@example.test>", OK_RCPT),
    ], 4),
    ("no_delay", {"smtpd_reject_unlisted_sender": "yes", "smtpd_delay_reject": "no"}, [
        ("MAIL FROM:<nobody@example.test>", unknown_sender("nobody@example.test")),
        ("MAIL FROM:<someone@other.test>", OK_MAIL),
        ("RCPT TO:<unknown@example.test>", unknown_rcpt("unknown@example.test")),
    ], 2),
    ("explicit", {"smtpd_reject_unlisted_recipient": "no",
                  "smtpd_restriction_classes": "unlisted",
                  "unlisted": "reject_unlisted_recipient",
                  "smtpd_sender_restrictions": "reject_unlisted_sender",
                  "relay_domains": "example.test, other.test, strict.example.test",
                  "smtpd_recipient_restrictions":
                      "check_recipient_access texthash:${config_directory}/rcpt_access, "
                      "permit_mynetworks, reject_unauth_destination"}, [
        ("VRFY unknown@example.test", "252 2.0.0 unknown@example.test"),
        ("MAIL FROM:<a@elsewhere.example>", OK_MAIL),
        ("RCPT TO:<unknown@example.test>", OK_RCPT),
        ("RCPT TO:<who@strict.example.test>", unknown_rcpt("who@strict.example.test")),
        ("RSET", "250 2.0.0 Ok"),
        ("MAIL FROM:<nobody@example.test>", OK_MAIL),
        ("RCPT TO:<known@example.test>", unknown_sender("nobody@example.test")),
    ], 2),
]


def run(args, check, name, settings, steps, nlog):
    with sinklib.Sink() as sink, \
            dc.server(args, MAIN_CF, MAPS, relay=(sink.host, sink.port),
                      settings=settings) as srv:
        c = dc.Raw(srv.host, srv.port, timeout=15)
        try:
            c.reply()
            code, text, _ = c.cmd("EHLO client.example.org")
            check.expect(code == "250", f"{name}: EHLO {text!r}")
            for cmd, want in steps:
                _, text, _ = c.cmd(cmd)
                check.expect(text == want, f"{name}: {cmd!r} -> {text!r}, want {want!r}")
            c.cmd("QUIT")
        finally:
            c.close()
        # This session's disconnect line, after the start-up probe's: its
        # reject lines are in (Postfix writes its log asynchronously).
        dc.wait_for(lambda: len(re.findall(r"disconnect from ", srv.log())) >= 2, timeout=10)
        log = srv.log()
        # Each reject is logged with its stage and the envelope, as smtpd.
        for cmd, want in steps:
            if not want.startswith("550"):
                continue
            stage = cmd.split()[0]
            if stage == "MAIL" and settings.get("smtpd_delay_reject", "yes") == "yes":
                continue
            pat = rf"\S+: reject: {stage} from localhost\[127\.0\.0\.1\]: {re.escape(want)}; "
            check.expect(re.search(pat, log) is not None, f"{name}: logged /{pat}/")
        n = len(re.findall(r": reject: ", log))
        check.expect(n == nlog, f"{name}: {nlog} reject lines, got {n}")
        if check.failures:
            check.done(srv)


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_unlisted", verbose=args.v)
    for name, settings, steps, nlog in CONFIGS:
        run(args, check, name, settings, steps, nlog)
    sys.exit(check.done())


if __name__ == "__main__":
    main()
