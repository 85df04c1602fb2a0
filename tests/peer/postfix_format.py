#!/usr/bin/env python3
"""postfix_format.py - received_format() and maillog_* against a real Postfix 3.7.

Usage: postfix_format.py PROBE [-v]

PROBE is tests/peer/format_probe (built by meson). A private Postfix
(tests/lib/postfix_peer.py) relays to the recording sink (tests/lib/sink.py).
Scripted sessions give it various HELO/EHLO names, XCLIENT NAME/ADDR (IPv4,
IPv6, unknown), quoted addresses, STARTTLS with smtpd_tls_received_header,
header_checks WARN/REJECT, a helo_access reject and a client that vanishes
in DATA. Then:
  - each Received: header the sink got must equal the probe's output for
    the same client, HELO, protocol, recipients, queue id and date (the
    last two read back from the captured header; the TLS key exchange and
    signature from smtpd's "TLS connection established" log line);
  - each smtpd/cleanup/qmgr/smtp line we know how to build (connect,
    disconnect with counters, client=, message-id=, NOQUEUE reject,
    header warning/reject, queue active, status=sent, lost connection)
    must appear in its maillog exactly as the probe writes it.
Exit 0 when all agree, 1 on a difference, 77 without Postfix or root.
"""
import email.utils
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from postfix_peer import PostfixInstance, postfix_available  # noqa: E402
from sink import Sink  # noqa: E402

PROBE = None
VERBOSE = False
LONG_SUBJECT = "rejme " + "z" * 250

MAIN_CF = """compatibility_level = 3.6
myhostname = mx.test
mynetworks = 127.0.0.0/8 192.0.2.0/24 [2001:db8::]/32
smtpd_authorized_xclient_hosts = 127.0.0.1
smtpd_tls_cert_file = {d}/cert.pem
smtpd_tls_key_file = {d}/key.pem
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
header_checks = regexp:${{config_directory}}/header_checks
smtpd_helo_restrictions = check_helo_access texthash:${{config_directory}}/helo_access
"""
HEADER_CHECKS = "/^Subject: warnme/ WARN warned text\n/^Subject: rejme/ REJECT rejected text\n"


def probe(*args):
    r = subprocess.run([PROBE, *[("-" if a is None else str(a)) for a in args]],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"probe {args[0]} failed: {r.stderr.decode(errors='replace')}")
    return r.stdout[:-1].decode("utf-8", "surrogateescape")


class Client:
    """A raw SMTP client: exact bytes out, replies and their codes back."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.sock.makefile("rb")
        self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("connection closed")
            lines.append(line.rstrip(b"\r\n").decode("utf-8", "replace"))
            if line[3:4] != b"-":
                return int(lines[0][:3]), lines

    def cmd(self, text):
        self.sock.sendall(text if isinstance(text, bytes) else text.encode() + b"\r\n")
        if isinstance(text, bytes) and not text.endswith(b"\r\n"):
            self.sock.sendall(b"\r\n")
        return self.reply()

    def starttls(self):
        code, _ = self.cmd("STARTTLS")
        assert code == 220, code
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname="mx.test")
        self.f = self.sock.makefile("rb")
        return self.sock.cipher(), self.sock.version()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def message(subject):
    return (f"Subject: {subject}\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <m.{subject[:10]}@example>\r\n\r\nbody\r\n.").encode()


class Session:
    """One scripted session and what we know about it afterwards."""

    def __init__(self, key, helo, verb="EHLO", xclient=None, tls=False, sender="s@example.com",
                 rcpts=("u@example.org",), subject="hi", name="localhost", addr="127.0.0.1",
                 lost=False):
        self.__dict__.update(locals())
        del self.__dict__["self"]
        self.stats = {}
        self.qid = None
        self.proto = None
        self.reject = None
        self.tls_info = None

    def count(self, cmd, ok):
        o, t = self.stats.get(cmd, (0, 0))
        self.stats[cmd] = (o + (1 if ok else 0), t + 1)

    def run(self, port):
        c = Client(port)
        try:
            if self.xclient:
                self.count("ehlo", c.cmd("EHLO x")[0] == 250)
                code, _ = c.cmd("XCLIENT " + self.xclient)
                # Postfix 3.7 counts an accepted XCLIENT (220) as 0/1.
                self.count("xclient", False)
            if self.tls:
                self.count("ehlo", c.cmd("EHLO " + self.helo)[0] == 250)
                self.tls_info = c.starttls()
                self.count("starttls", True)
            code, lines = c.cmd(f"{self.verb} ".encode() + self.helo.encode("latin-1"))
            # A line that is not UTF-8 is refused before smtpd looks the
            # command up, so it is not counted at all.
            if "bad UTF-8" not in lines[0]:
                self.count(self.verb.lower(), code == 250)
            self.proto = ("ESMTPS" if self.tls else "ESMTP") if self.verb == "EHLO" else "SMTP"
            if code != 250:
                # Refused (3.7: "bad UTF-8 syntax"): no HELO name, and the
                # protocol stays smtpd's initial "SMTP".
                self.helo_kept, self.proto = None, "SMTP"
            else:
                self.helo_kept = printable(self.helo)
            self.count("mail", c.cmd(f"MAIL FROM:<{self.sender}>")[0] == 250)
            ok_rcpts = []
            for r in self.rcpts:
                code, lines = c.cmd(f"RCPT TO:<{r}>")
                self.count("rcpt", code == 250)
                if code == 250:
                    ok_rcpts.append(r)
                else:
                    self.reject = (r, lines[0])
            if not ok_rcpts:
                self.count("rset", c.cmd("RSET")[0] == 250)
            else:
                code, _ = c.cmd("DATA")
                if self.lost:
                    c.sock.sendall(b"Subject: lost\r\n\r\n12345")
                    self.count("data", False)
                    return
                code, lines = c.cmd(message(self.subject))
                self.count("data", code == 250)
                if code == 250:
                    self.qid = lines[0].rsplit(" ", 1)[1]
                else:
                    self.count("rset", c.cmd("RSET")[0] == 250)
            self.count("quit", c.cmd("QUIT")[0] == 221)
        finally:
            c.close()


SESSIONS = [
    Session("ehlo", "client.example"),
    Session("helo-localhost", "localhost", verb="HELO"),
    Session("xclient-v4", "h", xclient="NAME=foo.example ADDR=192.0.2.7",
            name="foo.example", addr="192.0.2.7"),
    Session("xclient-v6-unknown", "h6", xclient="NAME=[UNAVAILABLE] ADDR=IPV6:2001:db8::5",
            name="unknown", addr="2001:db8::5"),
    Session("quoted", "x", verb="HELO", sender='"a b"@example.com',
            rcpts=('"c d"@example.org',)),
    Session("tls-2rcpt", "tls.example", tls=True, rcpts=("a@example.org", "b@example.org")),
    Session("helo-ctl-utf8", "h\x01\xc3\xa9x\x7f"),
    Session("helo-latin1", "h\xe9x"),
    Session("warn", "w", subject="warnme please"),
    Session("reject", "r", subject=LONG_SUBJECT),
    Session("helo-reject", "bad.helo"),
    Session("lost", "l", lost=True),
]


def unquote(addr):
    m = re.fullmatch(r'"(.*)"(@.*)', addr)
    return m.group(1) + m.group(2) if m else addr


def printable(s):
    """What Postfix's smtpd stores for a HELO argument (printable(s, '?'))."""
    out, b, i = [], s.encode("latin-1"), 0
    while i < len(b):
        ch = b[i]
        if 0x20 <= ch < 0x7f:
            out.append(b[i:i + 1])
        elif 194 <= ch <= 254 and i + 1 < len(b) and 128 <= b[i + 1] < 192:
            j = i + 1
            while j < len(b) and 128 <= b[j] < 192:
                j += 1
            out.append(b[i:j])
            i = j
            continue
        else:
            out.append(b"?")
        i += 1
    return b"".join(out).decode("utf-8", "surrogateescape")


def main():
    global PROBE, VERBOSE
    args = [a for a in sys.argv[1:] if a != "-v"]
    VERBOSE = "-v" in sys.argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    PROBE = args[0]
    if os.geteuid() != 0 or not postfix_available():
        print("postfix_format: needs root and Postfix 3.7; skipped")
        return 77
    d = tempfile.mkdtemp(prefix="mxs-fmt-")
    os.chmod(d, 0o755)
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem", "-days", "2",
                        "-subj", "/CN=mx.test"], capture_output=True)
    if r.returncode != 0:
        print("postfix_format: openssl req failed; skipped")
        return 77
    for f in ("key.pem", "cert.pem"):
        os.chmod(f"{d}/{f}", 0o644)
    failures = []
    with Sink() as sink, PostfixInstance(
            main_cf=MAIN_CF.format(d=d),
            maps={"header_checks": HEADER_CHECKS, "helo_access": "bad.helo REJECT go away\n"},
            relay=(sink.host, sink.port), settings={"inet_protocols": "all"}) as pf:
        for s in SESSIONS:
            s.run(pf.port)
        queued = [s for s in SESSIONS if s.qid]
        sink.wait_messages(len(queued), timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            log = pf.log()
            if (all(f"{s.qid}: to=<" in log for s in queued)
                    # +1: the harness's own readiness probe connects too
                    and log.count("disconnect from") >= len(SESSIONS) + 1):
                break
            time.sleep(0.2)
        log = pf.log()
    lines = []
    for raw in log.splitlines():
        m = re.match(r"^\S+ +\d+ [\d:]+ \S+ postfix/(\w+)\[\d+\]: (.*)$", raw)
        if m:
            lines.append((m.group(1), m.group(2)))
    texts = {t for _, t in lines}

    def check(what, want, got_ok, got=None):
        if got_ok:
            if VERBOSE:
                print(f"ok   {what}: {want!r}")
        else:
            failures.append(what)
            print(f"DIFF {what}:\n  ours:    {want!r}\n  postfix: {got!r}")

    # Received: headers, matched to sessions by queue id.
    by_qid = {}
    for m in sink.messages:
        hdr = m.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "surrogateescape")
        rec = re.match(r"Received: .*?(?=\r\n\S|\Z)", hdr, re.S).group(0)
        qid = re.search(r" id (\w+)", rec).group(1)
        by_qid[qid] = rec
    for s in queued:
        got = by_qid.get(s.qid)
        if got is None:
            check(f"{s.key} Received", "(a message)", False, None)
            continue
        epoch = email.utils.mktime_tz(email.utils.parsedate_tz(got.rsplit(";", 1)[1].strip()))
        ok_rcpts = [r for r in s.rcpts]
        extra = []
        if s.tls:
            tl = next(t for p, t in lines if p == "smtpd" and "TLS connection established" in t)
            km = re.search(r"key-exchange (\S+)(?: \((\d+) bits\)| \(([^)]*)\))?", tl)
            sm = re.search(r"server-signature (\S+)(?: \((\d+) bits\)| \(([^)]*)\))?"
                           r"(?: server-digest (\S+))?", tl)
            (cname, proto, bits) = s.tls_info[0]
            extra = [s.tls_info[1], cname, bits, bits,
                     km.group(1), km.group(3), km.group(2) or 0,
                     sm.group(1), sm.group(3), sm.group(2) or 0, sm.group(4)]
        want = probe("received", s.helo_kept, s.name, s.addr, s.proto, s.qid,
                     unquote(ok_rcpts[0]), len(ok_rcpts), epoch, *extra)
        check(f"{s.key} Received", want, want == got, got)

    # Log lines.
    for s in SESSIONS:
        helo = s.helo_kept
        want = probe("connect", "localhost", "127.0.0.1")
        check(f"{s.key} connect", want, want in texts)
        stats = [f"{k}={o}/{t}" for k, (o, t) in s.stats.items()]
        want = probe("disconnect", s.name, s.addr, *stats)
        check(f"{s.key} disconnect", want, want in texts,
              [t for t in texts if t.startswith(f"disconnect from {s.name}[{s.addr}]")])
        if s.lost:
            # smtpd counts whole lines with their CRLF: 15 + 2, not the
            # unterminated "12345".
            want = probe("lost", "lost connection", "DATA", 17, s.name, s.addr)
            check(f"{s.key} lost", want, want in texts,
                  [t for t in texts if t.startswith("lost connection")])
        if s.reject:
            want = probe("reject", None, "reject", "RCPT", s.name, s.addr, helo, s.proto,
                         s.reject[1], unquote(s.sender), unquote(s.reject[0]))
            check(f"{s.key} NOQUEUE reject", want, want in texts,
                  [t for t in texts if "NOQUEUE" in t])
        if s.subject.startswith(("warnme", "rejme")):
            qid = next((t.split(":")[0] for p, t in lines
                        if p == "cleanup" and ": header Subject: " + s.subject[:6] in t), "?")
            action = "warning" if s.subject.startswith("warnme") else "reject"
            text = "warned text" if action == "warning" else "5.7.1 rejected text"
            want = probe("content", qid, action, "header", "Subject: " + s.subject, s.name,
                         s.addr, helo, s.proto, unquote(s.sender), unquote(s.rcpts[-1]), text)
            check(f"{s.key} header_checks", want, want in texts,
                  [t for t in texts if t.startswith(qid + ": " + action)])
        if not s.qid:
            continue
        for want in (probe("client", s.qid, s.name, s.addr),
                     probe("msgid", s.qid, f" <m.{s.subject[:10]}@example>")):
            check(f"{s.key} {want.split(':')[1].split('=')[0].strip()}", want, want in texts)
        act = next((t for p, t in lines if p == "qmgr" and t.startswith(s.qid + ": from=")), "")
        size = re.search(r"size=(\d+)", act)
        want = probe("active", s.qid, unquote(s.sender), size.group(1) if size else 0,
                     len(s.rcpts))
        check(f"{s.key} queue active", want, want == act, act)
        for r in s.rcpts:
            got = next((t for p, t in lines if p == "smtp"
                        and t.startswith(f"{s.qid}: to=<{r}>")), "")
            m = re.search(r"relay=([^\[]+)\[([^\]]+)\]:(\d+), (?:conn_use=(\d+), )?delay=([\d.]+),"
                          r" delays=([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+), dsn=([\d.]+), "
                          r"status=(\w+) \((.*)\)$", got)
            if not m:
                check(f"{s.key} delivery {r}", "(a status=sent line)", False, got)
                continue
            us = [int(round(float(x) * 1e6)) for x in m.group(5, 6, 7, 8, 9)]
            want = probe("delivery", s.qid, unquote(r), m.group(1), m.group(2), m.group(3),
                         m.group(4) or 0, *us, m.group(10), m.group(11), m.group(12))
            check(f"{s.key} delivery {r}", want, want == got, got)
    if failures:
        if VERBOSE:
            print(log)
        print(f"postfix_format: {len(failures)} difference(s): {', '.join(failures)}")
        return 1
    print("postfix_format: Received: headers and log lines agree with Postfix 3.7")
    return 0


if __name__ == "__main__":
    sys.exit(main())
