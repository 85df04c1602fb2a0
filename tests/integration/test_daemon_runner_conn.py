#!/usr/bin/env python3
"""test_daemon_runner_conn.py - the queue runner's next-hop connections
(delivery_mode = queue, relayhost = [127.0.0.1]:PORT, a recording Sink):

  * greeting: the next hop greets with "554 5.7.1 go away".
    smtp_skip_5xx_greeting = yes (Postfix's default): deferred with the
    server's status made a 4 (dsn=4.7.1, "host 127.0.0.1[127.0.0.1]
    refused to talk to me: 554 5.7.1 go away"), the file waits in
    deferred/, nothing bounced. = no: bounced at once (dsn=5.7.1, same
    text) and a non-delivery notification queued whose DSN names the
    Remote-MTA and the server's reply (smtp_proto.c smtp_helo,
    smtp_trouble.c smtp_bulk_fail);
  * idle cache: with smtp_connection_cache_destinations = 127.0.0.1 two
    messages sent about a second apart go over ONE connection (the second
    after RSET, logged conn_use=2), which is closed without QUIT when
    smtp_connection_cache_time_limit (3s here) is over; with the time
    limit 0, and with the defaults (on-demand caching only after
    back-to-back deliveries within a backlog, qmgr_entry.c), two
    connections each ended with QUIT, no conn_use. Postfix 3.7.11 checked
    by hand: the same connections, RSET, "conn_use=2" and closing without
    QUIT; the same 554 log lines and dsn for both settings;
  * the next hop closing an idle connection: the runner notices and the
    next message connects anew.

Usage: test_daemon_runner_conn.py [MXSCREEN] [-v] [--keep]
Exit: 0 pass, 1 fail, 77 no daemon.
"""

import os
import re
import sys
import time

from daemon_common import wait_for
from queue_common import QChecker, parse_args, queue_files, run_scenarios, send_one, server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
from sink import Sink  # noqa: E402

FROM, RCPT = "sender@example.org", "user@example.test"
# queue runs and retries a minute apart: every connection seen is a first try
SLOW = {
    "minimal_backoff_time": "60s",
    "maximal_backoff_time": "120s",
    "queue_run_delay": "60s",
    "smtp_tls_security_level": "none",
}


def mx(args, port, settings):
    return server(args, dict(SLOW, **settings), relay=("127.0.0.1", port))


def send(srv, tag):
    return send_one(srv, tag, sender=FROM, rcpt=RCPT)


def line_of(srv, qid, status):
    m = re.search(r"^.*" + qid + r": to=<" + re.escape(RCPT) + r">, .*status=" + status + r".*$",
                  srv.log(), re.M)
    return m.group(0) if m else None


def test_greeting(check, args):
    why = "host 127.0.0.1[127.0.0.1] refused to talk to me: 554 5.7.1 go away"
    with Sink(replies={"connect": "554 5.7.1 go away"}) as sink, Sink() as back:
        for skip in ("yes", "no"):
            # the sender's domain goes to another next hop, which takes the DSN
            tm = f"inline:{{example.org=smtp:[127.0.0.1]:{back.port}}}"
            with mx(args, sink.port, {"smtp_skip_5xx_greeting": skip,
                                      "transport_maps": tm}) as srv:
                qid = send(srv, f"greet_{skip}") or "?"
                if skip == "yes":
                    ln = wait_for(lambda: line_of(srv, qid, "deferred"), 20)
                    check.expect(ln and re.search(
                        r", relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, delay=[\d.]+, "
                        r"delays=[\d./]+, dsn=4\.7\.1, status=deferred \(" + re.escape(why)
                        + r"\)$", ln), f"skip=yes: deferred, dsn=4.7.1 ({ln})", srv)
                    check.expect(wait_for(lambda: qid in queue_files(srv, "deferred"), 10),
                                 "skip=yes: waits in deferred/", srv)
                    check.expect("status=bounced" not in srv.log()
                                 and "non-delivery" not in srv.log(),
                                 "skip=yes: nothing bounced", srv)
                else:
                    ln = wait_for(lambda: line_of(srv, qid, "bounced"), 20)
                    check.expect(ln and re.search(
                        r", dsn=5\.7\.1, status=bounced \(" + re.escape(why) + r"\)$", ln),
                        f"skip=no: bounced at once, dsn=5.7.1 ({ln})", srv)
                    m = wait_for(lambda: re.search(
                        qid + r": sender non-delivery notification: (\w+)", srv.log()), 10)
                    check.expect(m, "skip=no: a non-delivery notification queued", srv)
                    dsn = back.wait_messages(1, timeout=20)
                    data = dsn[0].data if dsn else b""
                    check.expect(b"Remote-MTA: dns; 127.0.0.1" in data
                                 and b"Diagnostic-Code: smtp; 554 5.7.1 go away" in data
                                 and b"Status: 5.7.1" in data and b"Action: failed" in data,
                                 "skip=no: the DSN (to the sender) names the Remote-MTA and "
                                 "its reply", srv)
                    if args.v and dsn:
                        print(data.decode("utf-8", "replace"))
                    check.expect(not queue_files(srv, "deferred") or
                                 qid not in queue_files(srv, "deferred"),
                                 "skip=no: the message is not kept", srv)
        check.expect(not sink.messages and not any(
            who == "C" and ln.upper().startswith("MAIL") for s in sink.sessions
            for who, ln in s.log), "no MAIL after the 554 greeting")


def two_messages(srv, sink, tag):
    q1 = send(srv, f"{tag}_1") or "?"
    ok1 = wait_for(lambda: line_of(srv, q1, "sent"), 20)
    time.sleep(0.7)
    q2 = send(srv, f"{tag}_2") or "?"
    ok2 = wait_for(lambda: line_of(srv, q2, "sent"), 20)
    sink.wait_messages(2, timeout=10)
    return ok1, ok2


def test_idle(check, args):
    with Sink() as sink:
        settings = {"smtp_connection_cache_destinations": "127.0.0.1",
                    "smtp_connection_cache_time_limit": "3s"}
        with mx(args, sink.port, settings) as srv:
            l1, l2 = two_messages(srv, sink, "idle")
            check.expect(l1 and l2, "listed: both sent", srv)
            check.expect(len(sink.sessions) == 1,
                         f"listed: one connection for both ({len(sink.sessions)})", srv)
            check.expect(l1 and "conn_use" not in l1, "first delivery: no conn_use", srv)
            check.expect(l2 and re.search(r", relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, conn_use=2, "
                                          r"delay=", l2), f"second: conn_use=2 ({l2})", srv)
            if sink.sessions:
                s = sink.sessions[0]
                cmds = lambda: [ln.split(" ")[0].upper() for who, ln in s.log if who == "C"]
                check.expect(cmds().count("RSET") == 1 and cmds().count("MAIL") == 2,
                             f"RSET before the second MAIL ({cmds()})", srv)
                # idle for 3s, then closed without QUIT (Postfix's scache closes it)
                time.sleep(4.5)
                n = len(sink.sessions)
                q3 = send(srv, "idle_3") or "?"
                check.expect(wait_for(lambda: line_of(srv, q3, "sent"), 20), "third sent", srv)
                check.expect(len(sink.sessions) == n + 1,
                             "after the time limit: a new connection", srv)
                check.expect("QUIT" not in cmds(), f"the idle one closed without QUIT ({cmds()})",
                             srv)
    for name, extra in (("time limit 0", {"smtp_connection_cache_destinations": "127.0.0.1",
                                          "smtp_connection_cache_time_limit": "0"}),
                        ("defaults", {})):
        with Sink() as sink, mx(args, sink.port, extra) as srv:
            l1, l2 = two_messages(srv, sink, "two")
            check.expect(l1 and l2, f"{name}: both sent", srv)
            check.expect(len(sink.sessions) == 2,
                         f"{name}: two connections ({len(sink.sessions)})", srv)
            check.expect("conn_use" not in srv.log(), f"{name}: no conn_use", srv)
            # no backlog, so no on-demand caching (Postfix 3.7: the same)
            wait_for(lambda: all(any(who == "C" and ln.upper() == "QUIT" for who, ln in x.log)
                                 for x in sink.sessions), 5)
            check.expect(all(any(who == "C" and ln.upper() == "QUIT" for who, ln in x.log)
                             for x in sink.sessions), f"{name}: each ended with QUIT", srv)


def test_peer_close(check, args):
    with Sink(timeout=0.5) as sink:  # the sink drops a session idle for 0.5 s
        settings = {"smtp_connection_cache_destinations": "127.0.0.1",
                    "smtp_connection_cache_time_limit": "30s"}
        with mx(args, sink.port, settings) as srv:
            q1 = send(srv, "close_1") or "?"
            check.expect(wait_for(lambda: line_of(srv, q1, "sent"), 20), "first sent", srv)
            time.sleep(2)
            q2 = send(srv, "close_2") or "?"
            l2 = wait_for(lambda: line_of(srv, q2, "sent"), 20)
            check.expect(l2 and "conn_use" not in l2,
                         f"the next hop closed the idle connection: a new one ({l2})", srv)
            check.expect(len(sink.sessions) == 2, f"two connections ({len(sink.sessions)})", srv)


def main():
    args = parse_args(__doc__)
    check = QChecker("daemon_runner_conn", args.v)
    return run_scenarios(check, [("greeting", test_greeting), ("idle", test_idle),
                                 ("peer_close", test_peer_close)], args, "RCONN_ONLY")


if __name__ == "__main__":
    sys.exit(main())
