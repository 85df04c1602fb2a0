#!/usr/bin/env python3
"""test_daemon_transport_proxy.py - transport_maps error:, retry: and discard: next hops in delivery_mode = proxy.

Usage: test_daemon_transport_proxy.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

transport_maps (texthash): err.test error:5.1.1 no such domain here,
err2.test error: (no text), e4.test error:4.2.0 busy now, retry.test
retry:4.4.1 try later, r2.test retry:, disc.test discard:; every domain in
relay_domains, the next hop a recording sink. The --postfix run is a
Postfix 3.7.11 with smtpd_proxy_filter = the sink, where these replies come
from (doc/delivery.md, "transport_maps in proxy mode"):
  1. smtpd_reject_unlisted_recipient = yes (the default): smtpd's
     check_rcpt_maps() refuses at RCPT what resolves to the error mailer,
     even with smtpd_proxy_filter: "550 5.1.1 <a@err.test>: Recipient
     address rejected: no such domain here", "... Address is undeliverable"
     without a text, the text's code with its class forced (error:4.2.0 ->
     550 5.2.0), retry: 450 (4.1.1 without a code); a sender in such a
     domain with smtpd_reject_unlisted_sender = yes: "550 5.1.7
     <s@err.test>: Sender address rejected: no such domain here". mxscreen
     refused these too, but with its own text ("550 5.1.1 <a@err.test>: no
     such domain here", 5.0.0 without a code): the bug this test found.
  2. discard: Postfix's smtpd has no transport before its proxy filter, so
     a@disc.test goes to the filter with the others. mxscreen is the last
     stage before the next hop: it takes the recipient (250) and does not
     pass it on (a deliberate difference, the run with --postfix expects
     Postfix's); a transaction of discard: recipients only is accepted and
     never reaches the next hop.
  3. smtpd_reject_unlisted_recipient = no: Postfix takes a@err.test and
     passes it to the filter; mxscreen cannot deliver to error: and still
     refuses it at RCPT with 550 (deliberate difference; that refusal is
     made by the proxy relay (workers/relay.c), which writes smtpd's
     "NOQUEUE: reject: RCPT from ..." line for it, checked).
The discard: recipients get discard(8)'s log line (src/discard/discard.c:
sent() with relay "none", dsn_split(.., "2.0.0", nexthop), the next hop -
the recipient domain for a bare "discard:" - as the text), never the next
hop's "relay=127.0.0.1[...], status=sent (250 ...)" (checked, mxscreen only).
Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import re
import sys
import time

import daemon_common as dc
import sink as sinklib         # noqa: E402

MAIN_CF = dc.BASE_CF + """mydestination =
relay_domains = ok.test, err.test, err2.test, e4.test, retry.test, r2.test, disc.test
transport_maps = texthash:${config_directory}/transport
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
"""
MAPS = {"transport": "err.test error:5.1.1 no such domain here\nerr2.test error:\n"
                     "e4.test error:4.2.0 busy now\nretry.test retry:4.4.1 try later\n"
                     "r2.test retry:\ndisc.test discard:\n"}
MSG = (b"From: <s@x.test>\r\nTo: <a@ok.test>\r\nSubject: transport\r\n"
       b"Message-ID: <tp@x.test>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n")
RR = "Recipient address rejected"


def session(srv, check, tag, sender, steps, data=True):
    """EHLO, MAIL, each (RCPT address, reply), then DATA when data."""
    c = dc.Raw(srv.host, srv.port, timeout=15)
    try:
        c.reply()
        c.cmd("EHLO client.example.org")
        _, text, _ = c.cmd(f"MAIL FROM:<{sender}>")
        check.expect(text == "250 2.1.0 Ok", f"{tag}: MAIL {text!r}")
        for addr, want in steps:
            _, text, _ = c.cmd(f"RCPT TO:<{addr}>")
            ok = text[:3] == want[:3] if len(want) == 4 and want.endswith("*") else text == want
            check.expect(ok, f"{tag}: RCPT {addr}: {text!r}, want {want!r}")
        if data:
            code, text, _ = c.cmd("DATA")
            check.expect(code == "354", f"{tag}: DATA {text!r}")
            c.send(MSG + b".\r\n")
            _, text, _ = c.reply()
            check.expect(text.startswith("250 2.0.0 Ok: queued"), f"{tag}: end of DATA {text!r}")
        c.cmd("QUIT")
    finally:
        c.close()


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_transport_proxy", verbose=args.v)
    pf = args.postfix
    with sinklib.Sink() as sink, \
            dc.server(args, MAIN_CF, MAPS, relay=(sink.host, sink.port), proxy=True,
                      settings={"smtpd_reject_unlisted_sender": "yes"}) as srv:
        session(srv, check, "1", "s@x.test", [
            ("a@err.test", f"550 5.1.1 <a@err.test>: {RR}: no such domain here"),
            ("a@err2.test", f"550 5.1.1 <a@err2.test>: {RR}: Address is undeliverable"),
            ("a@e4.test", f"550 5.2.0 <a@e4.test>: {RR}: busy now"),
            ("a@retry.test", f"450 4.4.1 <a@retry.test>: {RR}: try later"),
            ("a@r2.test", f"450 4.1.1 <a@r2.test>: {RR}: Address is undeliverable"),
            ("a@disc.test", "250 2.1.5 Ok"),
            ("a@ok.test", "250 2.1.5 Ok")])
        session(srv, check, "sender", "s@err.test", [
            ("a@ok.test", "550 5.1.7 <s@err.test>: Sender address rejected: no such domain here")],
            data=False)
        session(srv, check, "2", "s@x.test", [("b@disc.test", "250 2.1.5 Ok")])
        want = [["a@disc.test", "a@ok.test"], ["b@disc.test"]] if pf else [["a@ok.test"]]
        sink.wait_messages(len(want), timeout=10)
        time.sleep(0.5)
        got = [m.rcpt_tos for m in sink.messages]
        check.expect(got == want, f"the next hop got {got}, want {want}")
        for addr, reply in [("a@err.test", "550 5.1.1"), ("a@r2.test", "450 4.1.1"),
                            ("s@err.test", "550 5.1.7")]:
            pat = rf"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: {reply} <{addr}>: "
            check.expect(dc.wait_log(srv, pat, timeout=5) is not None, f"logged /{pat}/")
        if not pf:
            # discard(8)'s line for what never reached the next hop: relay=none,
            # the next hop (the recipient domain for a bare "discard:") as the text.
            for addr in ["a@disc.test", "b@disc.test"]:
                pat = (rf"^.*: [0-9A-F]+: to=<{re.escape(addr)}>, relay=none, delay=[0-9.]+, "
                       r"delays=[0-9.]+/[0-9.]+/0/0, dsn=2\.0\.0, status=sent \(disc\.test\)$")
                check.expect(dc.wait_log(srv, pat, timeout=5) is not None, f"logged /{pat}/")
            log = srv.log()
            n = len(re.findall(r"to=<[ab]@disc\.test>, relay=127", log))
            check.expect(n == 0, f"discard: recipients logged as relayed: {n}")
            n = len(re.findall(r"to=<a@ok\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*"
                               r"status=sent \(250 ", log))
            check.expect(n == 1, f"a@ok.test's relayed line: {n}, want 1")
        if check.failures:
            sys.exit(check.done(srv))
    with sinklib.Sink() as sink, \
            dc.server(args, MAIN_CF, MAPS, relay=(sink.host, sink.port), proxy=True,
                      settings={"smtpd_reject_unlisted_recipient": "no"}) as srv:
        session(srv, check, "3", "s@x.test", [
            ("a@err.test", "250 2.1.5 Ok" if pf else "550*"), ("a@ok.test", "250 2.1.5 Ok")])
        want = [["a@err.test", "a@ok.test"]] if pf else [["a@ok.test"]]
        sink.wait_messages(1, timeout=10)
        got = [m.rcpt_tos for m in sink.messages]
        check.expect(got == want, f"3: the next hop got {got}, want {want}")
        if pf:
            n = len(re.findall(r"reject: RCPT", srv.log()))
            check.expect(n == 0, f"3: Postfix logs no reject, got {n}")
        else:
            # The proxy relay's own refusal gets smtpd's reject line (NOQUEUE:
            # the first recipient, no queue file yet).
            pat = (r"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.1 "
                   r"<a@err\.test>: .*no such domain here; from=<s@x\.test> to=<a@err\.test> "
                   r"proto=ESMTP helo=<client\.example\.org>$")
            check.expect(dc.wait_log(srv, pat, timeout=5) is not None, f"3: logged /{pat}/")
        sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
