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
    arrive intact;
  * DATA pipelined to the next hop, as Postfix's smtp(8) does it: a client
    that pipelines MAIL, RCPT and DATA gets them to the next hop in one
    write (one round trip less per message), and the replies it gets stay
    what the non-pipelined relay gives: a RCPT refused by the next hop is
    the client's refusal and the next hop's answer to the DATA behind it
    ("554 5.5.1" there) is never shown (the client's DATA gets smtpd's
    "554 5.5.1 Error: no valid recipients"); a next hop that refuses DATA
    after taking the RCPT gives the client its refusal; a next hop without
    PIPELINING gets one command per reply; and when the session is slow to
    get to DATA (its error sleep), the next hop's earlier answer to the DATA
    is kept for it; a HELO client's pipelined DATA (refused by
    reject_unauth_pipelining) does not go ahead, and a RCPT after a DATA
    that the server refused itself while the next hop took it gets 452.
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
    """A scripted next hop: ESMTP with PIPELINING (unless pipelining=False),
    250 to everything but RCPT TO:<refused@..> (550) and DATA after no
    recipient (554) or from a sender datafail@.. (451); per message (sender,
    recipients, content as received, data segments); per connection every
    command as (line, number of the recv() that completed it, whether more
    input was already waiting behind it)."""

    def __init__(self, pipelining=True):
        self.pipelining = pipelining
        self.conns = []
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
        nrecv = 0
        cmds = []
        with self.lock:
            self.conns.append(cmds)

        def line():
            nonlocal buf, nrecv
            while b"\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    return None
                nrecv += 1
                buf += chunk
            ln, buf = buf.split(b"\r\n", 1)
            with self.lock:
                cmds.append((ln, nrecv, len(buf) > 0))
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
                    s.sendall(b"250-nexthop.example\r\n" +
                              (b"250-PIPELINING\r\n" if self.pipelining else b"") +
                              b"250-8BITMIME\r\n250 SIZE 1000000000\r\n")
                elif verb == b"MAIL":
                    sender, rcpts = ln, []
                    s.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT" and b"refused@" in ln:
                    s.sendall(b"550 5.1.1 <refused@example.test>: nexthop says no\r\n")
                elif verb == b"RCPT":
                    rcpts.append(ln)
                    s.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA" and not rcpts:
                    s.sendall(b"554 5.5.1 nexthop-no-valid-recipients\r\n")
                elif verb == b"DATA" and sender and b"datafail@" in sender:
                    s.sendall(b"451 4.3.0 nexthop-data-refused\r\n")
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

    def transaction(self, tag):
        """The commands of the transaction whose MAIL names tag, up to its
        DATA: [(line, recv number, input waiting behind it)]."""
        with self.lock:
            for cmds in self.conns:
                for i, (ln, _, _) in enumerate(cmds):
                    if ln.upper().startswith(b"MAIL") and tag in ln:
                        out = []
                        for c in cmds[i:]:
                            out.append(c)
                            if c[0].upper() == b"DATA":
                                break
                        return out
        return []

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


def pipelined_txn(c, sender, rcpt, msg):
    """MAIL, RCPT and DATA in one write, then the content if DATA got 354:
    the replies as [(code, text)]."""
    c.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
    rs = [c.reply()[:2] for _ in range(3)]
    if rs[2][0] == "354":
        c.send(stuff(msg) + b".\r\n")
        rs.append(c.reply()[:2])
    return rs


def check_data_pipelined(check, srv, hop, postfix):
    """A pipelining client's MAIL, RCPT and DATA reach the next hop in one
    write; what the client is told is what the lock-step relay tells it."""
    c, code = session_start(srv)
    check.expect(code == "250", f"data pipelined: EHLO answered {code}")
    codes = []
    for k in range(3):      # a new next-hop connection, then a reused one
        msg = make_message(f"dpipe{k}", 2000)
        codes.append([r[0] for r in pipelined_txn(c, f"dpipe{k}@example.org", RCPT, msg)])
        got = hop.wait(f"dpipe{k}".encode())
        check.expect(len(got) == 1, f"data pipelined: message {k}: {len(got)} at the next hop")
        txn = hop.transaction(f"dpipe{k}@".encode())
        verbs = [ln[:4].upper() for ln, _, _ in txn]
        check.expect(verbs == [b"MAIL", b"RCPT", b"DATA"],
                     f"data pipelined: message {k}: next hop got {verbs}")
        writes = sorted({n for _, n, _ in txn})
        if postfix:
            print(f"daemon_batch: Postfix's proxy sent MAIL, RCPT, DATA in {len(writes)} reads")
        else:
            check.expect(len(writes) == 1, f"data pipelined: message {k}: MAIL, RCPT and "
                         f"DATA came in {len(writes)} reads at the next hop (want 1)")
    check.expect(codes == [["250", "250", "354", "250"]] * 3, f"data pipelined: replies {codes}")
    check.expect(c.cmd("QUIT")[0] == "221", "data pipelined: QUIT")
    c.close()

    # Every RCPT refused by the next hop: its refusal is the client's, the
    # next hop's answer to the DATA that went along is not. (One session
    # per refusal: smtpd_hard_error_limit of examples/main.cf is 3.)
    c, code = session_start(srv)
    rs = pipelined_txn(c, "dnorcpt@example.org", "refused@example.test", b"")
    check.expect([r[0] for r in rs] == ["250", "550", "554"], f"all refused: replies {rs}")
    check.expect("nexthop says no" in rs[1][1], f"all refused: RCPT reply {rs[1]}")
    check.expect("5.5.1 Error: no valid recipients" in rs[2][1] and
                 "nexthop" not in rs[2][1], f"all refused: DATA reply {rs[2]}")
    check.expect(c.cmd("RSET")[0] == "250", "all refused: RSET")
    c.close()

    # The next hop takes the RCPT and refuses DATA: its refusal is the client's.
    c, code = session_start(srv)
    rs = pipelined_txn(c, "datafail@example.org", RCPT, b"")
    check.expect([r[0] for r in rs] == ["250", "250", "451"], f"DATA refused: replies {rs}")
    check.expect("nexthop-data-refused" in rs[2][1], f"DATA refused: DATA reply {rs[2]}")
    check.expect(c.cmd("RSET")[0] == "250", "DATA refused: RSET")

    # And the session goes on: another message arrives.
    msg = make_message("dafter", 2000)
    rs = [r[0] for r in pipelined_txn(c, "dafter@example.org", RCPT, msg)]
    check.expect(rs == ["250", "250", "354", "250"], f"after refusals: replies {rs}")
    check.expect(len(hop.wait(b"dafter")) == 1, "after refusals: message at the next hop")
    c.close()


def check_data_reply_first(check, srv, hop, postfix):
    """After two errors the session holds each reply for
    smtpd_error_sleep_time (1 s here) and reads nothing meanwhile, so the
    next hop's answer to the DATA that went with the RCPT comes before the
    session gets to the client's DATA: kept for it, 354 or refusal."""
    for sender, want, text in (("dearly@example.org", ["250", "250", "354", "250"], ""),
                               ("datafail@example.org", ["250", "250", "451"],
                                "nexthop-data-refused")):
        c, code = session_start(srv)
        errs = [c.cmd(bad)[0] for bad in ("FOO", "BAR")]
        msg = make_message(sender.split("@")[0], 2000)
        rs = pipelined_txn(c, sender, RCPT, msg)
        c.close()
        check.expect(errs == ["500", "500"] and [r[0] for r in rs] == want,
                     f"reply first: {sender}: {errs} {rs}")
        check.expect(text in rs[-1][1], f"reply first: {sender}: last reply {rs[-1]}")
        txn = hop.transaction(sender.encode())
        if not postfix:
            check.expect(len({n for _, n, _ in txn}) == 1 and len(txn) == 3,
                         f"reply first: {sender}: MAIL, RCPT, DATA in one read ({txn})")
    check.expect(len(hop.wait(b"dearly")) == 1, "reply first: the message arrived")


def check_helo_client(check, srv, hop, postfix):
    """A HELO client that pipelines anyway: its DATA is refused
    (reject_unauth_pipelining in examples/main.cf's smtpd_data_restrictions),
    so the DATA does not go ahead to the next hop."""
    c = dc.Raw(srv.host, srv.port)
    c.reply()
    code = c.cmd(f"HELO {HELO}")[0]
    rs = pipelined_txn(c, "heloclient@example.org", RCPT, b"")
    c.cmd("QUIT")
    c.close()
    check.expect(code == "250" and [r[0] for r in rs] == ["250", "250", "503"],
                 f"HELO client: replies {code} {rs}")
    verbs = [ln[:4].upper() for ln, _, _ in hop.transaction(b"heloclient@")]
    if not postfix:
        check.expect(verbs[:2] == [b"MAIL", b"RCPT"] and b"DATA" not in verbs,
                     f"HELO client: the next hop got {verbs}")


def check_data_refused_here(check, srv, hop, postfix):
    """smtpd_data_restrictions = reject: the DATA that went ahead found the
    next hop's 354, and the session refuses the client's DATA. A RCPT after
    that cannot join the next hop's transaction, which is in DATA: 452
    4.5.3, sent again in another transaction (Postfix, which never sends
    DATA ahead, takes it). Nothing is delivered: the next hop never gets
    a final dot."""
    c, code = session_start(srv)
    rs = pipelined_txn(c, "hererefused@example.org", RCPT, b"")
    more = c.cmd("RCPT TO:<second@example.test>")
    c.cmd("RSET")
    c.cmd("QUIT")
    c.close()
    check.expect([r[0] for r in rs] == ["250", "250", "554"], f"DATA refused here: {rs}")
    if postfix:
        print(f"daemon_batch: Postfix's reply to a RCPT after its refused DATA: {more[1]}")
    else:
        check.expect(more[0] == "452" and "4.5.3" in more[1],
                     f"DATA refused here: the next RCPT got {more[:2]}")
    time.sleep(0.5)
    check.expect(not hop.find(b"hererefused"), "DATA refused here: nothing delivered")


def check_no_pipelining_hop(check, srv, hop):
    """A next hop without PIPELINING gets every command after the reply to
    the one before, however the client pipelines."""
    c, code = session_start(srv)
    check.expect(code == "250", f"lock-step next hop: EHLO answered {code}")
    for k in range(2):
        msg = make_message(f"lockstep{k}", 2000)
        rs = [r[0] for r in pipelined_txn(c, f"lockstep{k}@example.org", RCPT, msg)]
        check.expect(rs == ["250", "250", "354", "250"], f"lock-step next hop: replies {rs}")
        check.expect(len(hop.wait(f"lockstep{k}".encode())) == 1,
                     f"lock-step next hop: message {k} arrived")
    rs = pipelined_txn(c, "lsnorcpt@example.org", "refused@example.test", b"")
    check.expect([r[0] for r in rs] == ["250", "550", "554"] and "nexthop" not in rs[2][1],
                 f"lock-step next hop: all refused: {rs}")
    c.cmd("QUIT")
    c.close()
    with hop.lock:
        early = [ln for cmds in hop.conns for ln, _, more in cmds if more]
    check.expect(not early, f"lock-step next hop: commands sent before the reply to "
                 f"the one before: {early[:3]}")


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_batch", args.v)
    main_cf, maps = dc.example_config()
    hop, plain = NextHop(), NextHop(pipelining=False)
    # examples/main.cf sleeps 20 s before each reply after the first error
    # of a session; the refusals here are the next hop's, not the client's.
    quick = {"smtpd_error_sleep_time": "0s"}
    try:
        with dc.server(args, main_cf, maps, relay=(plain.host, plain.port), proxy=True,
                       settings=quick) as srv:
            check_no_pipelining_hop(check, srv, plain)
        with dc.server(args, main_cf, maps, relay=(hop.host, hop.port), proxy=True,
                       settings=dict(quick, smtpd_data_restrictions="reject")) as srv:
            check_data_refused_here(check, srv, hop, args.postfix)
        with dc.server(args, main_cf, maps, relay=(hop.host, hop.port), proxy=True,
                       settings={"smtpd_error_sleep_time": "1s"}) as srv:
            check_one_segment(check, srv, hop, args.postfix)
            check_large(check, srv, hop)
            check_pipelined(check, srv, hop)
            check_data_pipelined(check, srv, hop, args.postfix)
            check_data_reply_first(check, srv, hop, args.postfix)
            check_helo_client(check, srv, hop, args.postfix)
            check_concurrent(check, srv, hop)
            return check.done(srv)
    finally:
        hop.stop()
        plain.stop()


if __name__ == "__main__":
    sys.exit(main())
