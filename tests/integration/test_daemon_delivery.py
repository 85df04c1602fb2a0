#!/usr/bin/env python3
"""test_daemon_delivery.py - a clean message through the daemon arrives at the next hop byte for byte.

Usage: test_daemon_delivery.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

mxscreen runs examples/main.cf (tests/lib/mxscreen.py: loopback port,
delivery_mode = proxy, relayhost = a recording Sink). Clients on 127.0.0.1
(mynetworks) send with Python's smtplib and with swaks:
  * a message with dot-leading lines, a folded header, a 990-byte line, an
    empty line at the end and 8-bit text (BODY=8BITMIME), one recipient;
  * a message for two recipients, then a second message on the same
    connection (RSET-free transaction reuse);
  * swaks with PIPELINING; what swaks itself sends is learned first by
    running it against the Sink directly.
Each must get 250 at the end of DATA, and the Sink must hold, for its
envelope, exactly one Received: header (folded lines; first line "Received:
from HELO (" and naming "by mx.example.test") followed by the client's
bytes unchanged.

Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import os
import smtplib
import subprocess
import sys
import tempfile

import daemon_common as dc
import sink as sinklib         # noqa: E402  (tests/lib via daemon_common)

HELO = "client.example.org"
FROM = "sender@example.org"


def split_received(data):
    """(the leading Received: header with its continuation lines, the rest)
    or (None, data) when the message does not start with one."""
    if not data.startswith(b"Received: "):
        return None, data
    lines = data.splitlines(keepends=True)
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    return b"".join(lines[:i]), b"".join(lines[i:])


def find(msgs, tag):
    return [m for m in msgs if tag in m.data]


def check_arrived(check, sink, tag, original, rcpts, helo, what):
    msgs = find(sink.wait_messages(0), tag)
    if not check.expect(len(msgs) == 1, f"{what}: {len(msgs)} messages with {tag!r} at "
                                        f"the sink, expected 1"):
        return
    m = msgs[0]
    check.expect(m.mail_from == FROM, f"{what}: sink MAIL FROM {m.mail_from!r}")
    check.expect(m.rcpt_tos == rcpts, f"{what}: sink recipients {m.rcpt_tos}, expected {rcpts}")
    rcvd, rest = split_received(m.data)
    check.expect(rcvd is not None, f"{what}: the first header is a Received: "
                                   f"(got {m.data[:80]!r})")
    if rcvd is None:
        return
    first = rcvd.split(b"\r\n", 1)[0]
    check.expect(first.startswith(f"Received: from {helo} (".encode()),
                 f"{what}: Received: names the HELO first: {first!r}")
    check.expect(b"by mx.example.test" in rcvd, f"{what}: Received: by myhostname: {rcvd!r}")
    check.expect(rest == original, f"{what}: bytes after Received: differ from the "
                                   f"client's:\n  sent {original[:300]!r}\n  got  {rest[:300]!r}")


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_delivery", args.v)
    main_cf, maps = dc.example_config()
    long_line = b"x" * 60 + b"y" * 928   # 988 bytes + CRLF = 990
    m1 = (b"From: Sender <sender@example.org>\r\n"
          b"To: <user@example.test>\r\n"
          b"Subject: a subject that is folded\r\n"
          b"\tover two lines\r\n"
          b"Date: Mon, 03 Jun 2024 10:00:00 +0000\r\n"
          b"Message-ID: <delivery-1@example.org>\r\n"
          b"MIME-Version: 1.0\r\n"
          b"Content-Type: text/plain; charset=utf-8\r\n"
          b"Content-Transfer-Encoding: 8bit\r\n"
          b"\r\n"
          b"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\n"
          b".a line that starts with a dot\r\n"
          b"..and one with two\r\n"
          b". \r\n"                  # a dot and a space: not the end
          + long_line + b"\r\n"
          + b"\r\n")
    m2 = (b"From: <sender@example.org>\r\nTo: <a@example.test>, <b@example.test>\r\n"
          b"Subject: two recipients\r\nDate: Mon, 03 Jun 2024 10:00:01 +0000\r\n"
          b"Message-ID: <delivery-2@example.org>\r\n\r\nfor both of you\r\n")
    m3 = (b"From: <sender@example.org>\r\nTo: <a@example.test>\r\n"
          b"Subject: second on the connection\r\nDate: Mon, 03 Jun 2024 10:00:02 +0000\r\n"
          b"Message-ID: <delivery-3@example.org>\r\n\r\nsame connection\r\n")

    with tempfile.TemporaryDirectory() as tmp:
        swaks_file = os.path.join(tmp, "swaks.eml")
        with open(swaks_file, "w") as f:
            f.write("From: <sender@example.org>\nTo: <user@example.test>\n"
                    "Subject: sent by swaks\nDate: Mon, 03 Jun 2024 10:00:03 +0000\n"
                    "Message-ID: <delivery-swaks@example.org>\n\nswaks body\n"
                    ".dot line\nend\n")

        def swaks(port):
            return subprocess.run(
                ["swaks", "--server", f"127.0.0.1:{port}", "--from", FROM,
                 "--to", "user@example.test", "--helo", "swaks.example.org",
                 "--data", "@" + swaks_file, "--pipeline", "--timeout", "30"],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

        # What swaks sends, seen by the Sink itself.
        swaks_sent = None
        if subprocess.run(["which", "swaks"], capture_output=True).returncode == 0:
            with sinklib.Sink() as ref:
                r = swaks(ref.port)
                got = ref.wait_messages(1, timeout=10)
                if r.returncode == 0 and got:
                    swaks_sent = got[0].data
            check.expect(swaks_sent is not None, "swaks against the Sink directly")
        else:
            print("daemon_delivery: swaks not installed: that part skipped")

        with sinklib.Sink() as sink, dc.server(args, main_cf, maps,
                                               relay=(sink.host, sink.port),
                                               proxy=True) as srv:
            # 1. smtplib, 8BITMIME, one recipient.
            with smtplib.SMTP(srv.host, srv.port, local_hostname=HELO, timeout=60) as c:
                c.ehlo()
                check.expect(c.has_extn("8bitmime"), "EHLO offers 8BITMIME")
                check.expect(c.has_extn("pipelining"), "EHLO offers PIPELINING")
                code, _ = c.mail(FROM, ["BODY=8BITMIME"])
                check.expect(code == 250, f"MAIL FROM BODY=8BITMIME: {code}")
                code, _ = c.rcpt("user@example.test")
                check.expect(code == 250, f"RCPT: {code}")
                code, msg = c.data(m1)
                check.expect(code == 250, f"end of DATA (message 1): {code} {msg!r}")
                # 2 and 3 on the same connection.
                refused = c.sendmail(FROM, ["a@example.test", "b@example.test"], m2)
                check.expect(refused == {}, f"message 2 refused {refused}")
                refused = c.sendmail(FROM, ["a@example.test"], m3)
                check.expect(refused == {}, f"message 3 refused {refused}")
            sink.wait_messages(3, timeout=10)
            check_arrived(check, sink, b"<delivery-1@example.org>", m1,
                          ["user@example.test"], HELO, "smtplib 8-bit message")
            check_arrived(check, sink, b"<delivery-2@example.org>", m2,
                          ["a@example.test", "b@example.test"], HELO, "two recipients")
            check_arrived(check, sink, b"<delivery-3@example.org>", m3,
                          ["a@example.test"], HELO, "second message, same connection")

            if swaks_sent is not None:
                r = swaks(srv.port)
                check.expect(r.returncode == 0, f"swaks through the daemon: exit "
                                                f"{r.returncode}: {r.stdout[-600:]}")
                sink.wait_messages(4, timeout=10)
                check_arrived(check, sink, b"<delivery-swaks@example.org>", swaks_sent,
                              ["user@example.test"], "swaks.example.org", "swaks")
            check.expect(len(sink.refused) == 0, f"the sink refused {len(sink.refused)}")
            status = check.done(srv)
    return status


if __name__ == "__main__":
    sys.exit(main())
