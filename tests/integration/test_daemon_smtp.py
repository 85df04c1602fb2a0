#!/usr/bin/env python3
"""test_daemon_smtp.py - pipelining with partial rejections, and bare-LF smuggling, through the daemon.

Usage: test_daemon_smtp.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

mxscreen runs examples/main.cf with smtpd_recipient_restrictions =
check_recipient_access texthash:rcpt_access (bad@example.test REJECT), high
error limits (so refusals bring no error sleep), relayhost = a Sink.

Pipelining (one write per batch, replies read afterwards, in order):
  1. EHLO (PIPELINING offered); MAIL, RCPT good1, RCPT bad, RCPT good2, DATA
     -> 250 250 554 250 354; the message -> 250; the Sink gets it for
     good1 and good2 only;
  2. MAIL, RCPT bad, DATA -> 250 554 "554 5.5.1 Error: no valid recipients";
  3. RSET, NOOP, QUIT -> 250 250 221;
  4. a HELO client (no PIPELINING offered) that pipelines MAIL, RCPT, DATA:
     the examples' smtpd_data_restrictions = reject_unauth_pipelining
     refuses the DATA with Postfix's "503 5.5.0 <DATA>: Data command
     rejected: Improper use of SMTP command pipelining"; nothing is relayed.
Smuggling: after DATA, a body holding "first part" SEP "MAIL FROM:<evil@...>
RCPT TO:<victim@...> DATA ... CRLF.CRLF", for SEP in LF.LF, CRLF.LF,
LF.CRLF, CR.CRLF. Only the final CRLF.CRLF may end the message: the client
gets exactly one reply (250, or a 5xx refusal of the bare LF), then 221 to
its QUIT (a smuggled MAIL would have answered 250 first), the Sink never
sees evil@ or victim@ as an envelope, and an accepted message carries the
smuggled text inside its body.

With --postfix the same runs against a private Postfix 3.7.11 (queue mode):
the pipelining part passes; the smuggling part FAILS there for LF.LF,
CRLF.LF and LF.CRLF, because its default smtpd_forbid_bare_newline = no lets
a bare LF end a line and so DATA -- the behaviour mxscreen must not have
(issue 3).

Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import sys

import daemon_common as dc
import sink as sinklib         # noqa: E402

RCPT_ACCESS = "bad@example.test REJECT no such user here\n"


def replies(c, n):
    return [c.reply()[:2] for _ in range(n)]


def pipelining(args, check, srv, sink):
    c = dc.Raw(srv.host, srv.port, timeout=30)
    c.reply()
    code, text, _ = c.cmd("EHLO client.example.org")
    check.expect(code == "250" and "PIPELINING" in text, f"EHLO offers PIPELINING: {text!r}")
    c.send(b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<good1@example.test>\r\n"
           b"RCPT TO:<bad@example.test>\r\nRCPT TO:<good2@example.test>\r\nDATA\r\n")
    got = replies(c, 5)
    codes = [g[0] for g in got]
    check.expect(codes == ["250", "250", "554", "250", "354"],
                 f"batch MAIL RCPT RCPT(bad) RCPT DATA: {got}")
    check.expect("Recipient address rejected: no such user here" in got[2][1],
                 f"the bad recipient's reply: {got[2][1]!r}")
    if codes[-1] == "354":
        c.send(b"Subject: pipelined\r\nMessage-ID: <pipelined@example.org>\r\n"
               b"Date: Mon, 03 Jun 2024 10:00:00 +0000\r\n\r\nbody\r\n.\r\n")
        code, text, _ = c.reply()
        check.expect(code == "250", f"end of DATA after partial rejection: {text!r}")
    msgs = [m for m in sink.wait_messages(1, timeout=10) if b"<pipelined@" in m.data]
    check.expect(len(msgs) == 1 and msgs[0].rcpt_tos == ["good1@example.test",
                                                         "good2@example.test"],
                 f"the sink has it for the two good recipients: "
                 f"{[m.rcpt_tos for m in msgs]}")

    c.send(b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<bad@example.test>\r\nDATA\r\n")
    got = replies(c, 3)
    check.expect([g[0] for g in got] == ["250", "554", "554"],
                 f"batch MAIL RCPT(bad) DATA: {got}")
    check.expect(got[2][1] == "554 5.5.1 Error: no valid recipients",
                 f"DATA without a recipient: {got[2][1]!r}")
    c.send(b"RSET\r\nNOOP\r\nQUIT\r\n")
    got = replies(c, 3)
    check.expect([g[0] for g in got] == ["250", "250", "221"], f"batch RSET NOOP QUIT: {got}")
    c.close()

    # HELO: PIPELINING was never offered, so a pipelined DATA is refused.
    before = len(sink.messages)
    c = dc.Raw(srv.host, srv.port, timeout=30)
    c.reply()
    c.cmd("HELO client.example.org")
    c.send(b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<good1@example.test>\r\nDATA\r\n")
    got = replies(c, 3)
    check.expect([g[0] for g in got] == ["250", "250", "503"]
                 and got[2][1] == "503 5.5.0 <DATA>: Data command rejected: "
                                  "Improper use of SMTP command pipelining",
                 f"unauthorized pipelining after HELO: {got}")
    c.cmd("QUIT")
    c.close()
    check.expect(len(sink.wait_messages(before + 1, timeout=1)) == before,
                 "nothing relayed after refused pipelining")


SEPARATORS = [("LF.LF", b"\n.\n"), ("CRLF.LF", b"\r\n.\n"), ("LF.CRLF", b"\n.\r\n"),
              ("CR.CRLF", b"\r.\r\n")]


def smuggling(args, check, srv, sink):
    for name, sep in SEPARATORS:
        tag = f"smuggle-{name}".encode()
        c = dc.Raw(srv.host, srv.port, timeout=30)
        c.reply()
        c.cmd("EHLO client.example.org")
        c.cmd("MAIL FROM:<sender@example.org>")
        c.cmd("RCPT TO:<user@example.test>")
        code, text, _ = c.cmd("DATA")
        if not check.expect(code == "354", f"{name}: DATA {text!r}"):
            c.close()
            continue
        c.send(b"Subject: " + tag + b"\r\nMessage-ID: <" + tag + b"@example.org>\r\n"
               b"Date: Mon, 03 Jun 2024 10:00:00 +0000\r\n\r\nfirst part" + sep +
               b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nsmuggled body\r\n.\r\n")
        first = c.reply()
        check.expect(first[0] == "250" or first[0].startswith("5"),
                     f"{name}: one reply to the whole message: {first[1]!r}")
        code, text, _ = c.cmd("QUIT")
        check.expect(code in ("221", "closed"),
                     f"{name}: the next reply answers QUIT, not a smuggled command: "
                     f"{text!r} (after {first[1]!r})")
        c.close()
        msgs = sink.wait_messages(0)
        evil = [m for m in msgs if m.mail_from == "evil@example.org"
                or "victim@example.test" in m.rcpt_tos]
        check.expect(not evil, f"{name}: the sink got a smuggled envelope "
                               f"{[(m.mail_from, m.rcpt_tos) for m in evil]}")
        if first[0] == "250":
            def mine_now(msgs):
                return [m for m in msgs if b"<" + tag + b"@" in m.data]
            # Relayed before the 250 in proxy mode; a queueing server may
            # deliver it a moment later.
            mine = mine_now(msgs) or mine_now(sink.wait_messages(len(msgs) + 1, timeout=5))
            check.expect(len(mine) == 1 and b"MAIL FROM:<evil@example.org>" in mine[0].data,
                         f"{name}: the accepted message holds the smuggled text: "
                         f"{[m.data[-120:] for m in mine]}")


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_smtp", args.v)
    main_cf, maps = dc.example_config()
    maps["rcpt_access"] = RCPT_ACCESS
    settings = {
        "smtpd_recipient_restrictions":
            "check_recipient_access texthash:${config_directory}/rcpt_access",
        "smtpd_soft_error_limit": "100",
        "smtpd_hard_error_limit": "100",
    }
    with sinklib.Sink() as sink, dc.server(args, main_cf, maps, relay=(sink.host, sink.port),
                                           settings=settings) as srv:
        pipelining(args, check, srv, sink)
        smuggling(args, check, srv, sink)
        return check.done(srv)


if __name__ == "__main__":
    sys.exit(main())
