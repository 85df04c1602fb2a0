#!/usr/bin/env python3
"""test_daemon_queue_longline.py - smtp_line_length_limit in delivery_mode =
queue: the real daemon against a recording sink (tests/lib/sink.py); with
--postfix the same checks run against a private Postfix 3.7, whose smtp(8)
(smtp_proto.c smtp_text_out) they come from:

  * a content line longer than smtp_line_length_limit (default 998, CRLF
    not counted) is broken by inserting CRLF SPACE, in a header and in the
    body alike: 998 bytes, then " " + 997 bytes per continuation line;
  * a line of exactly 998 bytes (CRLF not counted) goes as it is;
  * a long line starting with '.' is dot-stuffed once, the dot not
    counted in its length (the sink undoes the stuffing);
  * smtp_line_length_limit = 0 sends every line as it is (second run).

Usage: test_daemon_queue_longline.py [MXSCREEN] [--postfix] [-v] [--keep]
"""

import os
import re
import smtplib
import sys

from daemon_common import Checker, parse_args, server
from queue_common import FAST, MAIN_CF

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from sink import Sink  # noqa: E402

HDR = "X-Long: " + "h" * 2992          # 3,000 bytes
BODY = "b" * 2999 + "B"                # 3,000 bytes
EXACT = "e" * 998
DOT = "." + "d" * 1499


def broken(line, limit):
    """Postfix's smtp_text_out(): the first limit bytes, then ' ' and
    limit - 1 bytes per continuation line."""
    if limit <= 0 or len(line) <= limit:
        return [line]
    out, rest = [line[:limit]], line[limit:]
    while rest:
        out.append(" " + rest[:limit - 1])
        rest = rest[limit - 1:]
    return out


def run(args, check, limit):
    settings = dict(FAST)
    if limit is not None:
        settings["smtp_line_length_limit"] = str(limit)
    tag = f"long{limit}"
    with Sink() as sink, server(args, MAIN_CF, {}, relay=(sink.host, sink.port),
                                settings=settings) as srv:
        data = (f"From: s@example.org\r\n{HDR}\r\nSubject: {tag}\r\n"
                f"Message-Id: <{tag}@example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                f"\r\n{BODY}\r\n{EXACT}\r\n{DOT}\r\nend {tag}\r\n")
        with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
            s.ehlo("client.example.org")
            s.mail("s@example.org")
            s.rcpt("r@example.net")
            code, text = s.data(data)
        check.expect(code == 250, f"{tag}: accepted: {code} {text!r}")
        sink.wait_messages(1, timeout=30)
        msgs = list(sink.messages)
        if not check.expect(len(msgs) == 1, f"{tag}: delivered once: {len(msgs)}"):
            return
        got = msgs[0].data.decode("latin-1")
        lim = 998 if limit is None else limit
        for name, line in (("header", HDR), ("body", BODY), ("998-byte", EXACT),
                           ("dot", DOT)):
            want = "\r\n" + "\r\n".join(broken(line, lim)) + "\r\n"
            check.expect(want in got, f"{tag}: {name} line sent as {len(broken(line, lim))} "
                         f"line(s) of {[len(x) for x in broken(line, lim)]}: got "
                         f"{[len(x) for x in got.split(chr(13) + chr(10))]}")
        longest = max(len(x) for x in got.split("\r\n"))
        check.expect(longest <= lim if lim else longest == 3000,
                     f"{tag}: longest line {longest}")
        check.expect(re.search(r"end %s\r\n$" % tag, got), f"{tag}: content ends intact")


def main():
    args = parse_args(__doc__)
    check = Checker("daemon_queue_longline", args.v)
    run(args, check, None)
    run(args, check, 0)
    return check.done()


if __name__ == "__main__":
    sys.exit(main())
