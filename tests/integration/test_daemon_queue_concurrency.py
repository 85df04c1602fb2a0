#!/usr/bin/env python3
"""test_daemon_queue_concurrency.py - per-destination concurrency in the
queue runner, counted at a slow next hop; with --postfix the same checks
run against a private Postfix 3.7, which is where they come from.

The next hop (a small threaded SMTP server written here) answers every
end of DATA only after a delay, and counts how many connections are open
at once. Eight messages are sent in quick succession:

  * default_destination_concurrency_limit = 2: never more than 2
    connections to the next hop at a time, and 2 are reached (the backlog
    is there); every message arrives once;
  * smtp_destination_concurrency_limit = 1 (the transport's own limit,
    over the default of 3): one connection at a time;
  * recipients in relay_domains go by relay_transport, as trivial-rewrite
    routes them: relay_destination_concurrency_limit = 1 gives one
    connection at a time, and = 2 gives two even with smtp's limit at 1.

Usage: test_daemon_queue_concurrency.py [MXSCREEN] [--postfix] [-v] [--keep]
"""

import os
import smtplib
import socket
import sys
import threading
import time

from daemon_common import Checker, parse_args, server, wait_for
from queue_common import FAST, MAIN_CF

MESSAGES = 8
DELAY = 0.6   # seconds before each end-of-data reply


class SlowHop:
    """SMTP next hop on 127.0.0.1: counts open connections (the most at
    once) and messages; each end of DATA is answered after DELAY."""

    def __init__(self):
        self.lock = threading.Lock()
        self.open = self.most = self.messages = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        with self.lock:
            self.open += 1
            self.most = max(self.most, self.open)
        try:
            c.settimeout(30)
            f = c.makefile("rb")
            c.sendall(b"220 hop.test ESMTP\r\n")
            for line in f:
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    c.sendall(b"250-hop.test\r\n250 PIPELINING\r\n" if verb == b"EHLO"
                              else b"250 hop.test\r\n")
                elif verb == b"DATA":
                    c.sendall(b"354 go ahead\r\n")
                    for d in f:
                        if d in (b".\r\n", b".\n"):
                            break
                    time.sleep(DELAY)
                    with self.lock:
                        self.messages += 1
                    c.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == b"QUIT":
                    c.sendall(b"221 2.0.0 Bye\r\n")
                    break
                else:
                    c.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            pass
        finally:
            with self.lock:
                self.open -= 1
            c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()


def send_all(srv):
    n = 0
    with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
        s.ehlo("client.example.org")
        for i in range(MESSAGES):
            s.sendmail("s@example.org", [f"r{i}@example.net"],
                       f"From: s@example.org\r\nSubject: c{i}\r\n\r\nbody {i}\r\n".encode())
            n += 1
    return n


def run(check, args, name, settings, want, main_cf=MAIN_CF):
    hop = SlowHop()
    try:
        with server(args, main_cf, {}, relay=("127.0.0.1", hop.port),
                    settings=dict(FAST, **settings)) as srv:
            check.expect(send_all(srv) == MESSAGES, f"{name}: {MESSAGES} accepted")
            check.expect(wait_for(lambda: hop.messages >= MESSAGES, 40),
                         f"{name}: all delivered ({hop.messages})")
            time.sleep(DELAY + 0.5)
            check.expect(hop.messages == MESSAGES, f"{name}: each once ({hop.messages})")
            check.expect(hop.most == want,
                         f"{name}: at most {want} connection(s) at once, reached: {hop.most}")
    finally:
        hop.stop()
    return srv


def main():
    args = parse_args(__doc__)
    check = Checker("daemon_queue_concurrency", args.v)
    srv = run(check, args, "default limit 2", {"default_destination_concurrency_limit": "2"}, 2)
    srv = run(check, args, "smtp limit 1", {"default_destination_concurrency_limit": "3",
                                            "smtp_destination_concurrency_limit": "1"}, 1)
    # recipients in relay_domains go by relay_transport (trivial-rewrite),
    # whose own limit applies, not smtp's
    srv = run(check, args, "relay limit 1", {"default_destination_concurrency_limit": "3",
                                             "relay_destination_concurrency_limit": "1"}, 1,
              MAIN_CF + "relay_domains = example.net\n")
    srv = run(check, args, "relay limit 2, smtp 1", {
        "default_destination_concurrency_limit": "3", "smtp_destination_concurrency_limit": "1",
        "relay_destination_concurrency_limit": "2"}, 2, MAIN_CF + "relay_domains = example.net\n")
    sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
