#!/usr/bin/env python3
"""test_daemon_nexthop.py - proxy delivery: the next hop's verdict is the client's verdict.

Usage: test_daemon_nexthop.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

mxscreen runs examples/main.cf with delivery_mode = proxy and relayhost = a
scripted Sink (tests/lib/sink.py) and error limits high enough for the
refusals below not to bring on the error sleep. A client on 127.0.0.1 sends:
  1. next hop refuses at end of DATA with 554 5.7.1: the client gets 554 at
     its end of DATA, with the next hop's text; nothing was accepted;
  2. next hop defers at end of DATA with 451 4.7.1: the client gets 451;
  3. on the same connection, a message the next hop accepts: 250, and it is
     at the Sink (a refusal does not end the session);
  4. next hop drops the connection after the DATA (no reply to the final
     dot): the client gets 451 4.3.0, never 250;
  5. next hop dead (relayhost port where nothing listens): no 250 at end of
     DATA, and the first refusal anywhere in the transaction (MAIL, RCPT,
     DATA or end of DATA) is 451 4.3.0. The session stays usable (QUIT 221).
With --postfix the same runs against a private Postfix with
smtpd_proxy_filter = the Sink (Postfix's own "proxy mode"), which is where
these expectations come from.

Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import sys

import daemon_common as dc
import postfix_peer            # noqa: E402
import sink as sinklib         # noqa: E402

HELO = "client.example.org"


def message(tag):
    return (f"From: <sender@example.org>\r\nTo: <user@example.test>\r\n"
            f"Subject: {tag}\r\nDate: Mon, 03 Jun 2024 10:00:00 +0000\r\n"
            f"Message-ID: <{tag}@example.org>\r\n\r\nbody of {tag}\r\n.\r\n").encode()


def transaction(c, tag):
    """MAIL, RCPT, DATA, message on Raw connection c; returns the list of
    (stage, code, text) up to and including the first refusal or the end
    of DATA reply."""
    out = []
    for stage, line in (("mail", "MAIL FROM:<sender@example.org>"),
                        ("rcpt", "RCPT TO:<user@example.test>"), ("data", "DATA")):
        code, text, _ = c.cmd(line)
        out.append((stage, code, text))
        if code not in ("250", "354"):
            return out
    c.send(message(tag))
    code, text, _ = c.reply()
    out.append(("eom", code, text))
    return out


def eom_reply(session, msg):
    """The Sink's reply after the final dot, chosen by the Subject."""
    if b"Subject: refuse-me" in msg.data:
        return "554 5.7.1 next hop refuses this one"
    if b"Subject: defer-me" in msg.data:
        return "451 4.7.1 next hop defers this one"
    if b"Subject: drop-me" in msg.data:
        return sinklib.CLOSE
    return None


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_nexthop", args.v)
    main_cf, maps = dc.example_config()
    # Each refusal counts as a client error; the examples' error sleep (20 s
    # after the first) would only make this test slow.
    limits = {"smtpd_soft_error_limit": "100", "smtpd_hard_error_limit": "100"}
    status = 0

    with sinklib.Sink(replies={"eom": eom_reply}) as sink, \
            dc.server(args, main_cf, maps, relay=(sink.host, sink.port),
                      settings=limits, proxy=True) as srv:
        c = dc.Raw(srv.host, srv.port, timeout=60)
        code, text, _ = c.reply()
        check.expect(code == "220", f"greeting {text!r}")
        code, text, _ = c.cmd(f"EHLO {HELO}")
        check.expect(code == "250", f"EHLO {code}")

        t = transaction(c, "refuse-me")
        last = t[-1]
        check.expect(last[0] == "eom" and last[1] == "554"
                     and "next hop refuses this one" in last[2],
                     f"next hop 554 at end of DATA reaches the client: {t}")
        t = transaction(c, "defer-me")
        last = t[-1]
        check.expect(last[0] == "eom" and last[1] == "451"
                     and "next hop defers this one" in last[2],
                     f"next hop 451 at end of DATA reaches the client: {t}")
        t = transaction(c, "accept-me")
        check.expect(t[-1][:2] == ("eom", "250"),
                     f"after two refusals the session still relays: {t}")
        msgs = sink.wait_messages(1, timeout=10)
        check.expect([m.rcpt_tos for m in msgs] == [["user@example.test"]]
                     and b"Subject: accept-me" in msgs[0].data,
                     f"only the accepted message is at the sink: "
                     f"{[m.data[-60:] for m in msgs]}")

        t = transaction(c, "drop-me")
        codes = [x[1] for x in t]
        check.expect(t[-1][0] != "eom" or not t[-1][1].startswith("2"),
                     f"next hop closed after DATA: no 250 to the client: {t}")
        check.expect(t[-1][1] == "451" and "4.3.0" in t[-1][2],
                     f"next hop closed after DATA: 451 4.3.0: {t}")
        code, text, _ = c.cmd("QUIT")
        check.expect(code in ("221", "closed"), f"QUIT after the drop: {code} {text!r}")
        c.close()
        check.expect(len(sink.wait_messages(2, timeout=1)) == 1,
                     f"the sink has {len(sink.messages)} messages, expected 1 ({codes})")
        status |= check.done(srv)

    # The next hop is dead: nothing listens on its port.
    check = dc.Checker("daemon_nexthop_dead", args.v)
    dead = ("127.0.0.1", postfix_peer.free_port())
    with dc.server(args, main_cf, maps, relay=dead, settings=limits, proxy=True) as srv:
        c = dc.Raw(srv.host, srv.port, timeout=120)
        c.reply()
        c.cmd(f"EHLO {HELO}")
        t = transaction(c, "nowhere")
        refusals = [x for x in t if not x[1].startswith(("2", "3"))]
        check.expect(not (t[-1][0] == "eom" and t[-1][1].startswith("2")),
                     f"dead next hop: never 250 at end of DATA: {t}")
        check.expect(bool(refusals) and refusals[0][1] == "451"
                     and refusals[0][2].startswith("451 4.3.0"),
                     f"dead next hop: the first refusal is 451 4.3.0: {t}")
        code, text, _ = c.cmd("RSET")
        check.expect(code in ("250", "closed"), f"RSET after the failure: {code} {text!r}")
        if code == "250":
            code, text, _ = c.cmd("QUIT")
            check.expect(code == "221", f"QUIT: {code} {text!r}")
        c.close()
        status |= check.done(srv)
    return status


if __name__ == "__main__":
    sys.exit(main())
