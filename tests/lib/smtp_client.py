"""smtp_client.py - replay scripted SMTP sessions and record the exact replies.

Interface:
    replies = run_session(host, port, steps, source=None, timeout=30)
    problems = compare(expected_steps, replies)       # [] when all match

A session script is a list of steps, each a dict:
    {"send": "HELO localhost"}          one command line (CRLF added)
    {"data": "Subject: x\\r\\n\\r\\nbody\\r\\n"}   a message body after a 354:
                                        dot-stuffed here, ".\\r\\n" appended
    and the reply expected for it:
    "expect": "554 5.7.1 <localhost>: Helo command rejected: BadSender1"
    "match": "exact" (default: code and full text, lines joined by "\\n"),
             "code" (the three digits only) or "prefix" (text starts with it).
The first step is the greeting: {"connect": true, "expect": "220 ..."}.
A step may also say "delay": N: the reply must take N seconds, give or take
DELAY_SLACK (e.g. smtpd_error_sleep_time before the reply after an error).

Replies are read with smtplib (so a multi-line reply is "250-a\\n250 b" ->
"250 a\\nb" as smtplib joins it: code, space, the lines' texts joined by
"\\n"). Every read is bounded by timeout; a server that closes the
connection yields the reply "closed", one that does not answer within
timeout "timeout".

Failure: run_session never raises for what the server says; it raises
OSError only when it cannot connect at all.
"""

import smtplib
import socket
import time


def _reply(code, msg):
    return f"{code} {msg.decode('utf-8', 'replace')}"


def run_session(host, port, steps, source=None, timeout=30.0, timings=None):
    """Play steps against host:port; return one reply string per step.

    timings, if a list, gets the seconds each reply took."""
    out = []
    client = smtplib.SMTP(timeout=timeout,
                          source_address=(source, 0) if source else None)
    try:
        for step in steps:
            start = time.monotonic()
            try:
                if step.get("connect"):
                    code, msg = client.connect(host, port)
                elif "data" in step:
                    body = step["data"].encode("utf-8", "surrogateescape")
                    body = body.replace(b"\r\n.", b"\r\n..")
                    if body.startswith(b"."):
                        body = b"." + body
                    if not body.endswith(b"\r\n"):
                        body += b"\r\n"
                    client.send(body + b".\r\n")
                    code, msg = client.getreply()
                else:
                    client.putcmd(step["send"])
                    code, msg = client.getreply()
            except smtplib.SMTPServerDisconnected as e:
                # smtplib reports a read timeout as a disconnection too.
                out.append("timeout" if "timed out" in str(e) else "closed")
                break
            out.append(_reply(code, msg))
            if timings is not None:
                timings.append(time.monotonic() - start)
            if code == 421:
                break
    finally:
        try:
            client.close()
        except OSError:
            pass
    return out


DELAY_SLACK = 2.0


def matches(step, got):
    want = step.get("expect")
    if want is None:
        return True
    how = step.get("match", "exact")
    if how == "code":
        return got[:3] == want[:3]
    if how == "prefix":
        return got.startswith(want)
    return got == want


def compare(steps, replies, timings=None):
    """Readable differences between a script's expectations and replies
    (and, given timings, the steps' expected delays)."""
    problems = []
    for i, step in enumerate(steps):
        what = "connect" if step.get("connect") else (
            "end of DATA" if "data" in step else step.get("send"))
        got = replies[i] if i < len(replies) else "(no reply: session ended)"
        if not matches(step, got):
            problems.append(f"step {i} ({what}): expected {step.get('match', 'exact')} "
                            f"{step.get('expect')!r}, got {got!r}")
        if timings is not None and "delay" in step and i < len(timings):
            if abs(timings[i] - step["delay"]) > DELAY_SLACK:
                problems.append(f"step {i} ({what}): reply after {timings[i]:.1f} s, "
                                f"expected {step['delay']} s")
    return problems


class RawSmtp:
    """A bare line-level SMTP connection for peer tests that need what
    smtplib hides (several XCLIENTs, every reply line as sent): read() one
    reply as its list of lines, cmd() sends a line and reads the reply,
    close() says QUIT without waiting (the server may already have hung up
    after a 421) and closes."""

    def __init__(self, host, port, timeout=20):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.read()

    def read(self):
        lines = []
        while True:
            line = self.f.readline().decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                raise RuntimeError("connection closed")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.read()

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.f.close()
        self.sock.close()
