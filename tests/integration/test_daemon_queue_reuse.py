#!/usr/bin/env python3
"""test_daemon_queue_reuse.py - smtp_connection_reuse_count_limit in the
queue runner, counted at a recording sink; with --postfix the same checks
run against a private Postfix 3.7, which is where they come from.

Postfix's smtp(8) (smtp_reuse.c, smtp_session.c) counts REUSES: a fresh
connection has reuse_count 0, each time it is taken from the connection
cache the count goes up by one, and a connection whose count has reached
the limit is not cached again (THIS_SESSION_IS_EXPIRED: reuse_count >=
smtp_connection_reuse_count_limit). So a limit of N lets a connection
carry N + 1 deliveries, the last one logged conn_use=N+1.

With smtp_connection_cache_destinations = 127.0.0.1 every delivery leaves
its connection in the cache; five messages sent one after another (each
waits for the previous one to arrive) with a limit of 2 go over two
connections: 3 messages (conn_use none, 2, 3), then 2 (none, 2). The
connection that reached the limit ends with QUIT.

Usage: test_daemon_queue_reuse.py [MXSCREEN] [--postfix] [-v] [--keep]
"""

import os
import re
import sys

from daemon_common import Checker, parse_args, server, wait_for
from queue_common import FAST, MAIN_CF, send_one

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from sink import Sink  # noqa: E402

SETTINGS = dict(FAST, **{
    "smtp_connection_cache_destinations": "127.0.0.1",
    # long enough that a loaded machine never lets the cached one expire
    "smtp_connection_cache_time_limit": "20s",
    "smtp_connection_reuse_count_limit": "2",
})
MESSAGES = 5


def mails(session):
    return sum(1 for who, ln in session.log if who == "C" and ln.upper().startswith("MAIL "))


def main():
    args = parse_args(__doc__)
    check = Checker("daemon_queue_reuse", args.v)
    srv = None
    with Sink() as sink, server(args, MAIN_CF, {}, relay=(sink.host, sink.port),
                                settings=SETTINGS) as srv:
        ids = []
        for i in range(MESSAGES):
            qid = send_one(srv, f"reuse{i}")
            check.expect(qid is not None, f"message {i} accepted")
            ids.append(qid or "?")
            check.expect(len(sink.wait_messages(i + 1, timeout=20)) == i + 1,
                         f"message {i} delivered")
        check.expect(wait_for(lambda: all(re.search(rf"\b{q}: to=<r@example\.net>.*status=sent",
                                                    srv.log()) for q in ids), 10),
                     "every message logged sent")
        log = srv.log()
        uses = []
        for q in ids:
            m = re.search(rf"\b{q}: to=<r@example\.net>, relay=[^,]*(?:, conn_use=(\d+))?, ", log)
            uses.append(int(m.group(1)) if m and m.group(1) else (1 if m else None))
        check.expect(uses == [1, 2, 3, 1, 2], f"conn_use per message: {uses} (1: none logged)")
        per = [mails(s) for s in sink.sessions]
        check.expect(per == [3, 2], f"deliveries per connection: {per}")
        if sink.sessions:
            first = sink.sessions[0]
            check.expect(wait_for(lambda: any(who == "C" and ln.upper() == "QUIT"
                                              for who, ln in first.log), 5),
                         "the connection that reached the limit ends with QUIT")
    sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
