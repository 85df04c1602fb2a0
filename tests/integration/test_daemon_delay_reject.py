#!/usr/bin/env python3
"""test_daemon_delay_reject.py - the seed's restrictions with smtpd_delay_reject = no, through the daemon.

Usage: test_daemon_delay_reject.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

examples/main.cf and its maps (the seed configuration) with
smtpd_delay_reject = no, smtpd_authorized_xclient_hosts = 127.0.0.1 (the
sessions play outside clients with XCLIENT, as the differential suite
does) and no error sleep (the seed's 20 s would only slow the test). Where
each reject happens, every reply compared with a private Postfix 3.7.11
(--postfix):
  * S25R client (smtpd_client_restrictions): the reply to XCLIENT is the
    reject ("550 5.7.1 <ppp123.example.net[192.0.2.11]>: Client host
    rejected: S25R6 check", smtpd's xclient_cmd judges the new client as at
    connect), then every command but QUIT gets "503 5.7.0 Error: access
    denied for ppp123.example.net[192.0.2.11]" (RSET and NOOP too); logged
    "NOQUEUE: reject: XCLIENT from ...". mxscreen answered 220 and let
    the client through to 250 at RCPT: the bug this test found.
  * helo_access (smtpd_helo_restrictions): the HELO/EHLO itself gets "554
    5.7.1 <localhost>: Helo command rejected: 554 BadSender1"; MAIL then
    "503 5.5.1 Error: send HELO/EHLO first" (smtpd_helo_required), a
    later good HELO goes on to 250 at MAIL and RCPT; "reject: HELO from"
    and "reject: EHLO from" in the log; warn_if_reject
    reject_unknown_hostname's "reject_warning: HELO from ..." at HELO.
  * reject_non_fqdn_sender, relaying: in smtpd_recipient_restrictions and
    smtpd_relay_restrictions, so still at RCPT.
  * A clean outside client: 250 throughout.
The EHLO reply is compared in full: the example main.cf sets no
compatibility_level, so smtputf8_enable is "no" (Postfix 3.7's default
${{$compatibility_level} <level {1} ? {no} : {yes}}) and neither server
announces SMTPUTF8; disable_vrfy_command = yes drops VRFY; 127.0.0.1 is
in smtpd_authorized_xclient_hosts, so XCLIENT is announced.
Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import re
import sys

import daemon_common as dc
import sink as sinklib         # noqa: E402

SETTINGS = {
    "smtpd_authorized_xclient_hosts": "127.0.0.1",
    "smtpd_delay_reject": "no",
    "smtpd_error_sleep_time": "0",
    "smtpd_soft_error_limit": "100",
    "smtpd_hard_error_limit": "100",
    "smtpd_junk_command_limit": "100",
}
BANNER = "220 mx.example.test Daemon. All Spam Is Reported. ESMTP"
OUTSIDE = "XCLIENT ADDR=192.0.2.10 NAME=mail.outside.example"
DENIED = "503 5.7.0 Error: access denied for ppp123.example.net[192.0.2.11]"

EHLO = "\n".join([
    "250-mx.example.test", "250-PIPELINING", "250-SIZE 102400000", "250-ETRN",
    "250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT",
    "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-DSN", "250 CHUNKING"])

# (name, [(command, the exact reply text)])
SESSIONS = [
    ("s25r", [
        ("EHLO client.example.org", EHLO),
        ("XCLIENT ADDR=192.0.2.11 NAME=ppp123.example.net",
         "550 5.7.1 <ppp123.example.net[192.0.2.11]>: Client host rejected: S25R6 check"),
        ("HELO ppp123.example.net", DENIED),
        ("MAIL FROM:<sender@example.org>", DENIED),
        ("RCPT TO:<user@example.test>", DENIED),
        ("DATA", DENIED),
        ("RSET", DENIED),
        ("NOOP", DENIED),
        ("VRFY user@example.test", DENIED),
        ("ETRN example.test", DENIED),
        ("QUIT", "221 2.0.0 Bye")]),
    ("helo_localhost", [
        ("EHLO client.example.org", EHLO),
        (OUTSIDE, BANNER),
        ("HELO localhost", "554 5.7.1 <localhost>: Helo command rejected: 554 BadSender1"),
        ("MAIL FROM:<sender@example.org>", "503 5.5.1 Error: send HELO/EHLO first"),
        ("RCPT TO:<user@example.test>", "503 5.5.1 Error: need MAIL command"),
        ("HELO mail.outside.example", "250 mx.example.test"),
        ("MAIL FROM:<sender@example.org>", "250 2.1.0 Ok"),
        ("RCPT TO:<user@example.test>", "250 2.1.5 Ok"),
        ("QUIT", "221 2.0.0 Bye")]),
    ("ehlo_bare_address", [
        ("EHLO client.example.org", EHLO),
        (OUTSIDE, BANNER),
        ("EHLO 127.0.0.1", "554 5.7.1 <127.0.0.1>: Helo command rejected: 554 BadSender3"),
        ("MAIL FROM:<sender@example.org>", "503 5.5.1 Error: send HELO/EHLO first"),
        ("QUIT", "221 2.0.0 Bye")]),
    ("non_fqdn_sender", [
        ("HELO client.example.org", "250 mx.example.test"),
        (OUTSIDE, BANNER),
        ("HELO mail.outside.example", "250 mx.example.test"),
        ("MAIL FROM:<sender>", "250 2.1.0 Ok"),
        ("RCPT TO:<user@example.test>",
         "554 5.5.2 <sender>: Sender address rejected: need fully-qualified address"),
        ("QUIT", "221 2.0.0 Bye")]),
    ("relay_denied", [
        ("EHLO client.example.org", EHLO),
        (OUTSIDE, BANNER),
        ("HELO mail.outside.example", "250 mx.example.test"),
        ("MAIL FROM:<sender@example.org>", "250 2.1.0 Ok"),
        ("RCPT TO:<user@elsewhere.example>",
         "454 4.7.1 <user@elsewhere.example>: Relay access denied"),
        ("RCPT TO:<user@example.test>", "250 2.1.5 Ok"),
        ("QUIT", "221 2.0.0 Bye")]),
    ("clean", [
        ("EHLO client.example.org", EHLO),
        (OUTSIDE, BANNER),
        ("HELO mail.outside.example", "250 mx.example.test"),
        ("MAIL FROM:<sender@example.org>", "250 2.1.0 Ok"),
        ("RCPT TO:<user@example.test>", "250 2.1.5 Ok"),
        ("QUIT", "221 2.0.0 Bye")]),
]

OUT = r"mail\.outside\.example\[192\.0\.2\.10\]"
# Log lines, in this order (the sessions run one after the other).
LOG = [
    r"NOQUEUE: reject: XCLIENT from ppp123\.example\.net\[192\.0\.2\.11\]: 550 5\.7\.1 "
    r"<ppp123\.example\.net\[192\.0\.2\.11\]>: Client host rejected: S25R6 check; proto=SMTP$",
    rf"NOQUEUE: reject: HELO from {OUT}: 554 5\.7\.1 <localhost>: Helo command rejected: "
    r"554 BadSender1; proto=SMTP helo=<localhost>$",
    rf"NOQUEUE: reject_warning: HELO from {OUT}: 450 4\.7\.1 <mail\.outside\.example>: "
    r"Helo command rejected: Host not found; proto=SMTP helo=<mail\.outside\.example>$",
    rf"NOQUEUE: reject: EHLO from {OUT}: 554 5\.7\.1 <127\.0\.0\.1>: Helo command rejected: "
    r"554 BadSender3; proto=SMTP helo=<127\.0\.0\.1>$",
    rf"NOQUEUE: reject_warning: HELO from {OUT}: 450 4\.7\.1",
    rf"NOQUEUE: reject: RCPT from {OUT}: 554 5\.5\.2 <sender>: Sender address rejected: "
    r"need fully-qualified address; from=<sender> to=<user@example\.test> proto=SMTP "
    r"helo=<mail\.outside\.example>$",
    rf"NOQUEUE: reject_warning: HELO from {OUT}: 450 4\.7\.1",
    rf"NOQUEUE: reject: RCPT from {OUT}: 454 4\.7\.1 <user@elsewhere\.example>: Relay access "
    r"denied; from=<sender@example\.org> to=<user@elsewhere\.example> proto=SMTP "
    r"helo=<mail\.outside\.example>$",
    rf"NOQUEUE: reject_warning: HELO from {OUT}: 450 4\.7\.1",
]


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_delay_reject", verbose=args.v)
    main_cf, maps = dc.example_config()
    with sinklib.Sink() as sink, \
            dc.server(args, main_cf, maps, relay=(sink.host, sink.port), settings=SETTINGS) as srv:
        for name, steps in SESSIONS:
            c = dc.Raw(srv.host, srv.port, timeout=15)
            try:
                _, text, _ = c.reply()
                check.expect(text == BANNER, f"{name}: greeting {text!r}")
                for cmd, want in steps:
                    _, text, _ = c.cmd(cmd)
                    check.expect(text == want, f"{name}: {cmd!r} -> {text!r}, want {want!r}")
            finally:
                c.close()
        # Every session's disconnect line (and the start-up probe's): all
        # reject lines are in (Postfix writes its log asynchronously).
        dc.wait_for(lambda: len(re.findall(r"disconnect from ", srv.log())) > len(SESSIONS),
                    timeout=10)
        got = [line for line in srv.log().splitlines() if "reject" in line]
        i = 0
        for pat in LOG:
            while i < len(got) and not re.search(pat, got[i]):
                i += 1
            check.expect(i < len(got), f"log line /{pat}/ (in order)")
            i += 1
        n = len(re.findall(r"NOQUEUE: reject(?:_warning)?: ", srv.log()))
        check.expect(n == len(LOG), f"{len(LOG)} reject lines, got {n}")
        sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
