#!/usr/bin/env python3
"""test_daemon_batch.py - the worker's output batching: what one batch of events produces for a socket leaves in one send, and nothing is lost or reordered by it.

Usage: test_daemon_batch.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

mxscreen runs examples/main.cf in proxy mode; the next hop is a scripted
SMTP server in this file (threads, one per connection) that keeps every
message and, for each one, how many TCP segments with data its content
came in (TCP_INFO tcpi_data_segs_in of the accepted socket, read after
the 354 and after the final dot). Checks:
  * a 4 KB message sent by the client in one write reaches the next hop in
    one segment, the final dot included (a worker that sends the first
    content line, or the dot, on its own needs two or three);
  * a 300 KB message with dot-leading lines (more than the next-hop
    client's buffer and the relay's backlog limit, so sending waits for
    completions) arrives byte for byte, dots stuffed;
  * PIPELINING: MAIL, two RCPTs and DATA in one write, the content with
    the next transaction's MAIL/RCPT/DATA and its content and QUIT behind
    it in one more write: every reply in order, both messages arrive;
  * 8 clients at once, 5 messages of 40 KB each on one connection: all 40
    arrive intact.
With --postfix the same run against Postfix with smtpd_proxy_filter (its
proxy writes the content as it reads it, so the one-segment check is
reported, not failed).

Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import socket
import struct
import sys
import threading
import time

import daemon_common as dc

HELO = "client.example.org"
FROM = "sender@example.org"
RCPT = "user@example.test"          # relay_domains of examples/main.cf
TCPI_DATA_SEGS_IN = 152             # offset in struct tcp_info (Linux 4.6+)


def data_segs_in(sock):
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < TCPI_DATA_SEGS_IN + 4:
        return None
    return struct.unpack_from("I", info, TCPI_DATA_SEGS_IN)[0]


class NextHop:
    """A scripted next hop: ESMTP with PIPELINING, 250 to everything, and
    per message (sender, recipients, content as received, data segments)."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.host, self.port = self.lsock.getsockname()
        self.messages = []
        self.lock = threading.Lock()
        self.stopping = False
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, s):
        s.settimeout(30)
        buf = b""

        def line():
            nonlocal buf
            while b"\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    return None
                buf += chunk
            ln, buf = buf.split(b"\r\n", 1)
            return ln

        try:
            s.sendall(b"220 nexthop.example ESMTP\r\n")
            sender, rcpts = None, []
            while True:
                ln = line()
                if ln is None:
                    return
                verb = ln[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    s.sendall(b"250-nexthop.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                              b"250 SIZE 1000000000\r\n")
                elif verb == b"MAIL":
                    sender, rcpts = ln, []
                    s.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    rcpts.append(ln)
                    s.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    s.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    segs0 = data_segs_in(s)
                    while b"\r\n.\r\n" not in b"\r\n" + buf:
                        chunk = s.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    whole = b"\r\n" + buf
                    end = whole.index(b"\r\n.\r\n")
                    content = whole[2:end + 2]
                    buf = whole[end + 5:]
                    segs1 = data_segs_in(s)
                    segs = None if segs0 is None or segs1 is None else segs1 - segs0
                    with self.lock:
                        self.messages.append((sender, rcpts, content, segs))
                    s.sendall(b"250 2.0.0 Ok: queued\r\n")
                elif verb == b"QUIT":
                    s.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    s.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            return
        finally:
            s.close()

    def find(self, tag):
        with self.lock:
            return [m for m in self.messages if tag in m[2]]

    def wait(self, tag, n=1, timeout=15.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.find(tag)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        return self.find(tag)

    def stop(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        self.acceptor.join(2)


def unstuffed(content):
    """The message as the client meant it: leading dots undone."""
    lines = content.split(b"\r\n")
    return b"\r\n".join(ln[1:] if ln.startswith(b".") else ln for ln in lines)


def body_after_received(content):
    """Content without the Received: header the server added (the first
    header and its continuation lines)."""
    lines = content.split(b"\r\n")
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    return b"\r\n".join(lines[i:])


def make_message(tag, size, dots=False):
    """CRLF text of about size bytes with a header naming tag; with dots,
    every tenth line starts with '.' (the client stuffs them)."""
    head = (f"From: <{FROM}>\r\nTo: <{RCPT}>\r\nSubject: batch {tag}\r\n"
            f"Message-ID: <{tag}@example.org>\r\n\r\n").encode()
    lines, n = [], 0
    while len(head) + n < size:
        ln = f"{tag} line {len(lines):06d} " + "x" * 50
        if dots and len(lines) % 10 == 3:
            ln = "." + ln
        lines.append(ln.encode())
        n += len(ln) + 2
    return head + b"\r\n".join(lines) + b"\r\n"


def stuff(msg):
    return b"\r\n".join(b"." + ln if ln.startswith(b".") else ln
                        for ln in msg.split(b"\r\n"))


def session_start(srv):
    c = dc.Raw(srv.host, srv.port)
    code, _, _ = c.reply()
    if code == "220":
        code, _, _ = c.cmd(f"EHLO {HELO}")
    return c, code


def check_one_segment(check, srv, hop, postfix):
    c, code = session_start(srv)
    check.expect(code == "250", f"one segment: EHLO answered {code}")
    msg = make_message("seg4k", 4000)
    replies = []
    for cmd in (f"MAIL FROM:<{FROM}>", f"RCPT TO:<{RCPT}>", "DATA"):
        replies.append(c.cmd(cmd)[0])
    c.send(msg + b".\r\n")
    replies.append(c.reply()[0])
    replies.append(c.cmd("QUIT")[0])
    c.close()
    check.expect(replies == ["250", "250", "354", "250", "221"],
                 f"one segment: replies {replies}")
    got = hop.wait(b"seg4k")
    check.expect(len(got) == 1, f"one segment: {len(got)} messages at the next hop")
    if got:
        sent = body_after_received(got[0][2]) if not postfix else got[0][2]
        check.expect(msg in sent + b"\r\n" or sent.endswith(msg),
                     "one segment: content arrived byte for byte")
        segs = got[0][3]
        if segs is None:
            print("daemon_batch: TCP_INFO has no data_segs_in here: segment count not checked")
        elif postfix:
            print(f"daemon_batch: Postfix's proxy sent the 4 KB content in {segs} segment(s)")
        else:
            check.expect(segs == 1, f"one segment: the content and its dot came in {segs} "
                         "data segments (want 1: one send per batch)")


def check_large(check, srv, hop):
    c, code = session_start(srv)
    msg = make_message("large300k", 300_000, dots=True)
    replies = [c.cmd(f"MAIL FROM:<{FROM}>")[0], c.cmd(f"RCPT TO:<{RCPT}>")[0],
               c.cmd("DATA")[0]]
    c.send(stuff(msg) + b".\r\n")
    replies.append(c.reply()[0])
    replies.append(c.cmd("QUIT")[0])
    c.close()
    check.expect(replies == ["250", "250", "354", "250", "221"], f"large: replies {replies}")
    got = hop.wait(b"large300k")
    check.expect(len(got) == 1, f"large: {len(got)} messages at the next hop")
    if got:
        # The next hop sees the content still stuffed (it is an SMTP wire).
        check.expect(unstuffed(got[0][2]).endswith(msg),
                     "large: 300 KB with dot-leading lines arrived byte for byte")


def check_pipelined(check, srv, hop):
    c, code = session_start(srv)
    m1, m2 = make_message("pipe-one", 3000), make_message("pipe-two", 9000, dots=True)
    c.send(f"MAIL FROM:<{FROM}>\r\nRCPT TO:<{RCPT}>\r\nRCPT TO:<second@example.test>\r\n"
           f"DATA\r\n".encode())
    first = [c.reply()[0] for _ in range(4)]
    c.send(stuff(m1) + b".\r\n" +
           f"MAIL FROM:<{FROM}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n".encode())
    second = [c.reply()[0] for _ in range(4)]
    c.send(stuff(m2) + b".\r\nQUIT\r\n")
    last = [c.reply()[0] for _ in range(2)]
    c.close()
    check.expect(first == ["250", "250", "250", "354"], f"pipelined: first batch {first}")
    check.expect(second == ["250", "250", "250", "354"],
                 f"pipelined: end of data + next transaction {second}")
    check.expect(last == ["250", "221"], f"pipelined: end of data + QUIT {last}")
    g1, g2 = hop.wait(b"pipe-one"), hop.wait(b"pipe-two")
    check.expect(len(g1) == 1 and len(g1[0][1]) == 2,
                 f"pipelined: first message with 2 recipients at the next hop "
                 f"({[len(m[1]) for m in g1]})")
    check.expect(len(g2) == 1 and unstuffed(g2[0][2]).endswith(m2),
                 "pipelined: second message arrived byte for byte")


def check_concurrent(check, srv, hop):
    errors = []

    def client(k):
        try:
            c, code = session_start(srv)
            if code != "250":
                errors.append(f"client {k}: EHLO {code}")
                return
            for j in range(5):
                msg = make_message(f"conc-{k}-{j}-", 40_000, dots=(j % 2 == 1))
                c.send(f"MAIL FROM:<{FROM}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n".encode())
                rs = [c.reply()[0] for _ in range(3)]
                c.send(stuff(msg) + b".\r\n")
                rs.append(c.reply()[0])
                if rs != ["250", "250", "354", "250"]:
                    errors.append(f"client {k} message {j}: {rs}")
                    return
            c.cmd("QUIT")
            c.close()
        except OSError as e:
            errors.append(f"client {k}: {e}")

    ts = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    check.expect(not errors, f"concurrent: {errors[:3]}")
    bad = []
    for k in range(8):
        for j in range(5):
            tag = f"conc-{k}-{j}-".encode()
            got = hop.wait(tag, timeout=5)
            want = make_message(f"conc-{k}-{j}-", 40_000, dots=(j % 2 == 1))
            if len(got) != 1 or not unstuffed(got[0][2]).endswith(want):
                bad.append(f"{k}/{j}:{len(got)}")
    check.expect(not bad, f"concurrent: 40 messages of 40 KB intact ({bad[:5]} wrong)")


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_batch", args.v)
    main_cf, maps = dc.example_config()
    hop = NextHop()
    try:
        with dc.server(args, main_cf, maps, relay=(hop.host, hop.port), proxy=True) as srv:
            check_one_segment(check, srv, hop, args.postfix)
            check_large(check, srv, hop)
            check_pipelined(check, srv, hop)
            check_concurrent(check, srv, hop)
            return check.done(srv)
    finally:
        hop.stop()


if __name__ == "__main__":
    sys.exit(main())
