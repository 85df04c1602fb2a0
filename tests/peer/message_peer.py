#!/usr/bin/env python3
"""message_peer.py - workers/message (framing, content checks, output) against Postfix 3.7.

Usage: message_peer.py PROBE [-v]

PROBE is tests/peer/message_probe (built by meson). For each
smtpd_forbid_bare_newline setting (no, normalize, reject) a private
Postfix (tests/lib/postfix_peer.py) relays to the recording sink
(tests/lib/sink.py) with header_checks (IGNORE, PREPEND, WARN, REJECT,
DISCARD, HOLD), nested_header_checks, body_checks with a small
body_checks_size_limit, and message_size_limit. Each message is sent raw
after DATA; then, for the same bytes, the probe must give:
  - the same reply to the end of DATA (a 250 from Postfix is our accept,
    discard or hold: its queue id aside), e.g. the 550 5.5.2 bare <LF>
    reply, 552 5.3.4 for size, 550 5.7.1 for REJECT;
  - when Postfix delivered the message: byte for byte what the sink got,
    minus the Received: header Postfix put first (the probe adds none);
  - when Postfix did not deliver it (DISCARD, HOLD, reject): no output
    that would go on, or a verdict that stops it;
  - for WARN: the same cleanup log line (queue id from the reply).
Smuggling attempts ("\\n.\\n", "\\r\\n.\\n", "\\n.\\r\\n", ".\\r\\r\\n")
and lines ending in several CRs are among the messages, so what ends DATA
and what reaches the next hop (one CR or all removed before the LF) is
compared under each setting. There are no known differences.
Exit 0 when all agree, 1 on a difference, 77 without Postfix or root.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from postfix_peer import PostfixInstance, postfix_available  # noqa: E402
from sink import Sink  # noqa: E402

VERBOSE = "-v" in sys.argv
BODY_LIMIT = 300
SIZE_LIMIT = 30000

HEADER_CHECKS = """/^X-Drop:/ IGNORE
/^X-Tag: (.*)/ PREPEND X-Tagged: $1
/^X-Warn:/ WARN watch it
/^Subject: reject me/ REJECT
/^Subject: reject text/ REJECT 5.7.0 go away now
/^Subject: defer me/ REJECT 4.7.1 try later
/^Subject: discard me/ DISCARD
/^Subject: hold me/ HOLD held for review
"""
NESTED_CHECKS = "/^Subject: inner bad/ REJECT nested rejected\n"
BODY_CHECKS = "/^body reject$/ REJECT body rejected\n/^body drop$/ IGNORE\n"

MAIN_CF = f"""compatibility_level = 3.6
myhostname = mx.test
mynetworks = 192.0.2.0/24
relay_domains = example.net
smtpd_forbid_bare_newline_exclusions =
local_header_rewrite_clients =
smtp_line_length_limit = 0
body_checks_size_limit = {BODY_LIMIT}
message_size_limit = {SIZE_LIMIT}
header_checks = regexp:${{config_directory}}/header_checks
nested_header_checks = regexp:${{config_directory}}/nested_checks
body_checks = regexp:${{config_directory}}/body_checks
"""


def msg(mid, headers=b"", body=b"body\r\n", end=b".\r\n"):
    return (b"From: a@example.com\r\nTo: b@example.net\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            b"Message-ID: <" + mid.encode() + b"@t>\r\n" + headers + b"\r\n" + body + end)


def cases():
    nested = (b"Content-Type: message/rfc822\r\n", b"Subject: inner bad\r\n\r\ninner\r\n")
    return [
        ("headers", msg("h1", b"X-Drop: a\r\n folded\r\nX-Tag: t1\r\nX-Warn: w\r\nSubject: ok\r\n",
                        b"line\r\n..dotted\r\n\xc3\xa9\xe9 8bit\r\nbody drop\r\nend\r\n")),
        ("reject", msg("r1", b"Subject: reject me\r\n")),
        ("reject_text", msg("r2", b"Subject: reject text\r\n")),
        ("defer", msg("r3", b"Subject: defer me\r\n")),
        ("discard", msg("d1", b"Subject: discard me\r\n")),
        ("hold", msg("o1", b"Subject: hold me\r\n")),
        ("nested", msg("n1", b"MIME-Version: 1.0\r\n" + nested[0], nested[1])),
        ("body_reject", msg("b1", b"", b"a\r\nbody reject\r\n")),
        ("body_late", msg("b2", b"", b"x" * 400 + b"\r\nbody reject\r\n")),
        ("long_line", msg("l1", b"", b"y" * 5000 + b"\r\n." + b"z" * 2047 + b"\r\n")),
        ("bare_cr", msg("c1", b"", b"a\rb\r\n")),
        ("size", msg("s1", b"", (b"q" * 998 + b"\r\n") * 40)),
        ("lf.lf", msg("m1", b"", b"body\n.\nSMUGGLED\r\n")),
        ("crlf.lf", msg("m2", b"", b"body\r\n.\nSMUGGLED\r\n")),
        ("lf.crlf", msg("m3", b"", b"body\n.\r\nSMUGGLED\r\n")),
        ("dot_cr_cr", msg("m4", b"", b"body\r\n.\r\r\nSMUGGLED\r\n")),
        ("bare_lf", msg("m5", b"", b"a\nb\r\n")),
        # With normalize/reject only one CR before the LF goes; the others
        # are delivered as spaces. With no, all go.
        ("crs", msg("m6", b"X-Cr: a\r\r\n", b"x\r\r\r\ny\r\r\n\r\r\n")),
    ]


def reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            return " ".join(lines) if lines else "EOF"
        lines.append(line.rstrip(b"\r\n").decode("utf-8", "replace"))
        if line[3:4] != b"-":
            return lines[-1]


def send(pf, data):
    s = socket.create_connection((pf.host, pf.port), timeout=30)
    f = s.makefile("rb")
    reply(f)
    for c in (b"EHLO c.test\r\n", b"MAIL FROM:<a@example.com>\r\n",
              b"RCPT TO:<b@example.net>\r\n", b"DATA\r\n"):
        s.sendall(c)
        r = reply(f)
    if not r.startswith("354"):
        raise RuntimeError(f"no 354: {r}")
    s.sendall(data)
    r = reply(f)
    try:
        s.sendall(b"QUIT\r\n")
        while reply(f) != "EOF":
            pass
    except OSError:
        pass
    s.close()
    return r


def probe(exe, mode, tables, data, qid):
    argv = [exe, mode, tables["header_checks"], tables["nested_checks"], tables["body_checks"],
            str(BODY_LIMIT), str(SIZE_LIMIT), qid, "a@example.com", "b@example.net", "c.test"]
    r = subprocess.run(argv, input=data, capture_output=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"probe failed: {r.stderr.decode(errors='replace')}")
    head, _, rest = r.stdout.partition(b"\nOUT ")
    n, _, out = rest.partition(b"\n")
    res = {"log": [], "out": out[:int(n)]}
    for line in head.decode("utf-8", "surrogateescape").split("\n"):
        key, _, val = line.partition(" ")
        if key == "FATE":
            fate, _, text = val.partition(" ")
            res["fate"], res["reply"] = int(fate), text
        elif key == "HOLD":
            res["hold"] = val == "1"
        elif key == "LOG":
            res["log"].append(val)
    return res


def strip_received(data):
    """Postfix's own Received: header (first, with its continuation lines)."""
    lines = data.split(b"\r\n")
    if not lines[0].startswith(b"Received:"):
        return data
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    return b"\r\n".join(lines[i:])


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    if not postfix_available() or os.geteuid() != 0:
        print("SKIP: needs Postfix and root")
        return 77
    fails = 0
    tmp = tempfile.mkdtemp(prefix="message_peer_")
    tables = {}
    for name, text in (("header_checks", HEADER_CHECKS), ("nested_checks", NESTED_CHECKS),
                       ("body_checks", BODY_CHECKS)):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        tables[name] = "regexp:" + path
    maps = {"header_checks": HEADER_CHECKS, "nested_checks": NESTED_CHECKS,
            "body_checks": BODY_CHECKS}
    for mode in ("no", "normalize", "reject"):
        with Sink() as sink, PostfixInstance(
                main_cf=MAIN_CF + f"smtpd_forbid_bare_newline = {mode}\n", maps=maps,
                relay=(sink.host, sink.port)) as pf:
            results = []
            for name, data in cases():
                results.append((name, data, send(pf, data)))
            time.sleep(2)  # let the queue manager deliver what it will
            delivered = {}
            for m in sink.messages:
                mid = re.search(rb"Message-ID: <([^@]*)@t>", m.data)
                delivered[mid.group(1).decode() if mid else "?"] = m.data
            log = pf.log()
            for name, data, pf_reply in results:
                qm = re.match(r"250 2\.0\.0 Ok: queued as (\S+)", pf_reply)
                qid = qm.group(1) if qm else "NOQUEUE"
                ours = probe(exe, mode, tables, data, qid)
                mid = re.search(rb"Message-ID: <([^@]*)@t>", data).group(1).decode()
                problems = []
                if qm:
                    if ours["fate"] not in (0, 3):
                        problems.append(f"reply: Postfix {pf_reply!r}, ours {ours['reply']!r}")
                elif ours["reply"] != pf_reply:
                    problems.append(f"reply: Postfix {pf_reply!r}, ours {ours['reply']!r}")
                got = delivered.get(mid)
                if got is not None:
                    want = strip_received(got)
                    if ours["fate"] != 0 or ours.get("hold"):
                        problems.append("Postfix delivered it, our verdict stops it")
                    elif ours["out"] != want:
                        problems.append(f"output differs:\n  Postfix {want!r}\n  ours    "
                                        f"{ours['out']!r}")
                elif qm and ours["fate"] == 0 and not ours.get("hold"):
                    problems.append("Postfix kept it (discard/hold), we would pass it on")
                for line in ours["log"]:
                    if qm and "warning: header" in line and line not in log:
                        problems.append(f"log line not in Postfix's maillog: {line!r}")
                status = "ok" if not problems else "DIFF"
                if problems or VERBOSE:
                    print(f"{mode:9} {name:12} {status}: Postfix {pf_reply!r}")
                    for p in problems:
                        print("    " + p)
                fails += bool(problems)
    print(f"message_peer: {fails} difference(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
