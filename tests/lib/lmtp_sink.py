"""lmtp_sink.py - a recording LMTP server (RFC 2033) on TCP or a unix
socket, for tests of the LMTP next hop.

    with LmtpSink() as s:             # TCP on 127.0.0.1, s.port
    with LmtpSink(path="/tmp/x") as s:  # unix socket, mode 0777
        ...
        s.delivered                  # [(rcpt, data bytes)] one per 250 after the dot
        s.log                        # every command line received

It answers LHLO with PIPELINING and ENHANCEDSTATUSCODES; EHLO/HELO get
500 (LMTP has no EHLO). A recipient's local part decides its fate:
  rcptfail*  550 5.1.1 at RCPT
  full*      452 4.2.2 after the dot (mailbox full)
  bad*       554 5.6.0 after the dot
  anything else 250 2.0.0 after the dot.
After the final dot one reply per accepted recipient, in RCPT order; with
none accepted, DATA gets 503 as RFC 2033 says. Each connection is a thread;
stop() closes the listener and every connection (bounded joins).
"""

import os
import socket
import threading


class LmtpSink:
    def __init__(self, path=None, host="127.0.0.1"):
        self.path = path
        self.host = host
        self.port = None
        self.delivered = []
        self.log = []
        self.connections = 0
        self._lock = threading.Lock()
        self._conns = []
        self._stop = False

    def __enter__(self):
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self._ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._ls.bind(self.path)
            os.chmod(self.path, 0o777)
        else:
            self._ls = socket.socket()
            self._ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._ls.bind((self.host, 0))
            self.port = self._ls.getsockname()[1]
        self._ls.listen(16)
        self._ls.settimeout(0.2)
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop = True
        self._t.join(5)
        self._ls.close()
        for c in list(self._conns):
            try:
                c.close()
            except OSError:
                pass
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self._ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._conns.append(c)
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(30)
        f = c.makefile("rb")

        def say(*lines):
            c.sendall(b"".join(l.encode() + b"\r\n" for l in lines))

        try:
            say("220 lmtp.sink.test LMTP ready")
            rcpts = []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.rstrip(b"\r\n").decode("latin-1")
                with self._lock:
                    self.log.append(cmd)
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "LHLO":
                    say("250-lmtp.sink.test", "250-PIPELINING", "250 ENHANCEDSTATUSCODES")
                elif verb in ("EHLO", "HELO"):
                    say(f'500 5.5.1 Error: command "{verb}" not recognized')
                elif verb == "MAIL":
                    rcpts = []
                    say("250 2.1.0 Ok")
                elif verb == "RCPT":
                    addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                    if addr.startswith("rcptfail"):
                        say(f"550 5.1.1 <{addr}>: Recipient address rejected: no such user")
                    else:
                        rcpts.append(addr)
                        say("250 2.1.5 Ok")
                elif verb == "DATA":
                    if not rcpts:
                        say("503 5.5.1 Error: no valid recipients")
                        continue
                    say("354 End data with <CR><LF>.<CR><LF>")
                    data = b""
                    while True:
                        l = f.readline()
                        if not l:
                            return
                        if l == b".\r\n":
                            break
                        data += l[1:] if l.startswith(b".") else l
                    out = []
                    for r in rcpts:
                        if r.startswith("full"):
                            out.append(f"452 4.2.2 <{r}> Mailbox full")
                        elif r.startswith("bad"):
                            out.append(f"554 5.6.0 <{r}> Message content rejected")
                        else:
                            with self._lock:
                                self.delivered.append((r, data))
                            out.append(f"250 2.0.0 <{r}> Saved")
                    say(*out)
                    rcpts = []
                elif verb == "RSET":
                    rcpts = []
                    say("250 2.0.0 Ok")
                elif verb == "NOOP":
                    say("250 2.0.0 Ok")
                elif verb == "QUIT":
                    say("221 2.0.0 Bye")
                    return
                else:
                    say("502 5.5.2 Error: command not recognized")
        except OSError:
            return
        finally:
            c.close()
