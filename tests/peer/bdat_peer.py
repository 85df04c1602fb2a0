#!/usr/bin/env python3
"""bdat_peer.py - BDAT replies of workers/session + workers/message against Postfix 3.7.

Usage: bdat_peer.py PROBE [-v]

PROBE is tests/peer/bdat_probe (built by meson). For smtpd_forbid_bare_newline
= no and normalize, a private Postfix (tests/lib/postfix_peer.py) relaying to
the sink gets each session pipelined in one write (EHLO, MAIL, RCPT, BDAT
chunks, QUIT); the probe gets the same bytes. Every reply after the EHLO
must be the same, queue ids aside. What is pinned down (seen on 3.7.11):
"250 2.0.0 Ok: N bytes" after a chunk that is not the last, with N that
chunk's declared size; "250 2.0.0 Ok: N bytes queued as ID" after LAST with
N the message's act_size: each record (line, or line_length_limit piece,
after the CR-before-LF removal of the mode) counts its length plus 2, dots
are not unstuffed, a chunk boundary inside a line does not end it.
Exit 0 when all agree, 1 on a difference, 77 without Postfix or root.
"""
import os
import re
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from postfix_peer import PostfixInstance, postfix_available  # noqa: E402
from sink import Sink  # noqa: E402

VERBOSE = "-v" in sys.argv

MAIN_CF = """compatibility_level = 3.6
myhostname = mx.test
mynetworks = 192.0.2.0/24
relay_domains = example.net
smtpd_forbid_bare_newline_exclusions =
local_header_rewrite_clients =
smtp_line_length_limit = 0
"""

HDR = (b"From: a@example.com\r\nTo: b@example.net\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
       b"Message-ID: <m@t>\r\n\r\n")


def bdat(data, last=False):
    return b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data


CASES = [
    ("hello_abc", [bdat(b"hello"), bdat(b"abc", True)]),
    ("hello_last", [bdat(b"hello", True)]),
    ("crlf", [bdat(b"ab\r\ncd\r\n", True)]),
    ("crlf_two", [bdat(b"ab\r\n"), bdat(b"cd\r\n", True)]),
    ("bare_lf", [bdat(b"ab\ncd\n", True)]),
    ("split_crlf", [bdat(b"ab\r"), bdat(b"\ncd\r\n", True)]),
    ("split_line", [bdat(b"ab"), bdat(b"cd\r\nef", True)]),
    ("cr_cr_lf", [bdat(b"ab\r\r\ncd\r\n", True)]),
    ("dots", [bdat(b".\r\n..x\r\n", True)]),
    ("dot_last", [bdat(b"a\r\n.x", True)]),
    ("cr_last", [bdat(b"ab\r", True)]),
    ("empty_last", [bdat(b"\r\n"), bdat(b"", True)]),
    ("three", [bdat(b"a\r\n"), bdat(b"b\r\n"), bdat(b"c\r\n", True)]),
    ("long_line", [bdat(b"y" * 3000 + b"\r\n", True)]),
    ("message", [bdat(HDR), bdat(b"body\r\nmore\r\n", True)]),
]


def session(steps):
    return (b"EHLO c.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n"
            + b"".join(steps) + b"QUIT\r\n")


def replies(data):
    """Complete replies (multi-line ones joined), in order."""
    out, cur = [], []
    for line in data.split(b"\r\n"):
        if len(line) < 4:
            continue
        cur.append(line.decode("utf-8", "replace"))
        if line[3:4] != b"-":
            out.append(" / ".join(cur))
            cur = []
    return [re.sub(r"queued as \S+", "queued as ID", r) for r in out]


def postfix_session(pf, data):
    s = socket.create_connection((pf.host, pf.port), timeout=30)
    s.sendall(data)
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
        if b"\r\n221 " in got or got.startswith(b"221 "):
            break
    s.close()
    return replies(got)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    if not postfix_available() or os.geteuid() != 0:
        print("SKIP: needs Postfix and root")
        return 77
    fails = 0
    for mode in ("no", "normalize"):
        with Sink() as sink, PostfixInstance(
                main_cf=MAIN_CF + f"smtpd_forbid_bare_newline = {mode}\n",
                relay=(sink.host, sink.port)) as pf:
            for name, steps in CASES:
                data = session(steps)
                want = postfix_session(pf, data)[2:]
                r = subprocess.run([exe, mode], input=data, capture_output=True, timeout=30)
                if r.returncode != 0:
                    print(f"{mode} {name}: probe failed: {r.stderr.decode(errors='replace')}")
                    fails += 1
                    continue
                ours = replies(r.stdout)[2:]
                ok = want == ours
                if not ok or VERBOSE:
                    print(f"{mode:9} {name:11} {'ok' if ok else 'DIFF'}: Postfix {want}")
                    if not ok:
                        print(f"{'':22}ours    {ours}")
                fails += not ok
    print(f"bdat_peer: {fails} difference(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
