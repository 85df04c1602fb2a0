#!/usr/bin/env python3
"""test_frontend.py - the frontend process (frontend/, mxscreen's postscreen) over real sockets.

Usage: test_frontend.py MXSCREEN_BINARY MXSCREEN_CTL [--keep] [-v]

Each client connects from its own loopback address (127.0.0.N) so that the
access list (a cidr: table) can tell them apart:
  greet    postscreen_greet_action = drop, postscreen_greet_wait = 2s,
           postscreen_denylist_action = drop:
           - a clean client sees "220-" at once, the worker's "220 " after
             the greet wait, and its mail reaches the sink in that one
             session (PASS NEW, no reconnect);
           - a pregreeter is caught ("PREGREET 8 after T from [..]:P:
             EHLO x\\r\\n"), gets "521 5.5.1 Protocol error" (DISCONNECT);
           - a client that leaves during the wait is logged HANGUP;
           - a denylisted client gets "521 5.3.2 Service currently
             unavailable" (DENYLISTED), an allowlisted one the worker's 220
             at once (ALLOWLISTED);
           - SIGHUP while three clean clients are held by the old frontend:
             none is lost, each mail arrives; the next client is served by
             the new generation.
  enforce  postscreen_greet_action = enforce, postscreen_denylist_action =
           tarpit at 5 bytes/s for 3 s with a 550 final reply:
           - the pregreeter goes to the enforce engine: its RCPT gets
             "550 5.5.1 Protocol error", logged NOQUEUE: reject: RCPT;
           - its EHLO leaves out its postscreen_discard_ehlo_keyword_address_maps
             keywords (logged "[..]P: discarding EHLO keywords: ..."), another
             client's leaves out postscreen_discard_ehlo_keywords (not logged);
           - the denylisted client is tarpitted: the drip rate is measured
             on the wire (generous margins), then 550 and close;
  pool     postscreen_connection_pool_size = 2: the third client held at
           once gets "421 4.3.2 All screening ports are busy"; STRESS mode
           is entered at 90% of the pool and left at 50%.
  ignore   postscreen_denylist_action = ignore: the denylisted client
           passes after smtpd_error_sleep_time (one error counted); with
           the default greet action a client is handed over at once.
Log wording is Postfix 3.7's postscreen (see the report in the commit).

Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import daemon_common as dc
from sink import Sink

ACCESS = ("127.0.0.2 reject\n"
          "127.0.0.3 permit\n")
BASE = {
    "postscreen_access_list": "cidr:${config_directory}/ps_access",
    "myhostname": "mx.example.test",
    "smtpd_banner": "$myhostname ESMTP",
    "postscreen_greet_banner": "$smtpd_banner",
    "mynetworks": "127.0.0.0/8",
}


def connect(srv, src, timeout=20.0):
    return dc.connect_from(srv.host, srv.port, src, timeout)


def send_mail(check, c, tag):
    """A whole transaction on an open session; True when accepted."""
    ok = True
    for cmd, want in (("EHLO client.example", "250"), ("MAIL FROM:<a@client.example>", "250"),
                      ("RCPT TO:<b@dest.example>", "250"), ("DATA", "354")):
        code, text, _ = c.cmd(cmd)
        ok &= check.expect(code == want, f"{tag}: {cmd} -> {code} {text!r}")
    code, text, _ = c.cmd(f"Subject: {tag}\r\n\r\nbody of {tag}\r\n.")
    ok &= check.expect(code == "250", f"{tag}: end of data -> {code} {text!r}")
    c.cmd("QUIT")
    return ok


def clean_session(check, srv, src, tag, wait):
    """Connect from src: the teaser at once, the worker's 220 after wait
    seconds, then a mail transaction."""
    t0 = time.monotonic()
    c, port = connect(srv, src)
    code, text, _ = c.reply()
    # The teaser and the worker's final line form one multi-line 220.
    lines = text.split("\n")
    took = time.monotonic() - t0
    check.expect(code == "220" and len(lines) == 2 and lines[0] == "220-mx.example.test ESMTP"
                 and lines[1].startswith("220 "), f"{tag}: 220- then the worker's 220: {text!r}")
    check.expect(wait * 0.75 <= took < wait + 5, f"{tag}: greeting after the greet wait: {took:.2f} s")
    send_mail(check, c, tag)
    c.close()
    return port


def greet_suite(args, ctl):
    check = dc.Checker("frontend/greet", args.v)
    settings = dict(BASE, postscreen_greet_action="drop", postscreen_greet_wait="2s",
                    postscreen_denylist_action="drop")
    with Sink() as sink, dc.server(args, "", {"ps_access": ACCESS}, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        # A clean client: one session, mail delivered.
        port = clean_session(check, srv, "127.0.0.5", "clean", 2.0)
        check.expect(sink.wait_messages(1, timeout=10), "clean: message at the sink")
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: CONNECT from \[127\.0\.0\.5\]:%d to "
                              r"\[127\.0\.0\.1\]:%d$" % (port, srv.port)), "CONNECT logged")
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: PASS NEW \[127\.0\.0\.5\]:%d$" % port),
                     "PASS NEW logged")
        check.expect(len(re.findall(r"CONNECT from \[127\.0\.0\.5\]", srv.log())) == 1,
                     "clean: one connection, no reconnect")

        # A pregreeter: caught, 521, disconnected.
        c, port = connect(srv, "127.0.0.6")
        text = dc.first_line(c)
        check.expect(text == "220-mx.example.test ESMTP", f"pregreet: the teaser line: {text!r}")
        c.send(b"EHLO x\r\n")
        code, text, took = c.reply()
        check.expect(text.startswith("521 5.5.1 Protocol error"), f"pregreet: 521: {text!r}")
        check.expect(took < 1.5, f"pregreet: dropped at once, not after the wait: {took:.2f} s")
        check.expect(c.reply()[0] == "closed", "pregreet: closed after the 521")
        c.close()
        check.expect(dc.wait_log(srv, r"PREGREET 8 after [0-9.]+ from \[127\.0\.0\.6\]:%d: "
                              r"EHLO x\\r\\n$" % port), "PREGREET logged as postscreen does")
        check.expect(dc.wait_log(srv, r"DISCONNECT \[127\.0\.0\.6\]:%d$" % port), "pregreet: DISCONNECT")

        # A client that leaves during the greet wait.
        c, port = connect(srv, "127.0.0.7")
        dc.first_line(c)
        c.close()
        check.expect(dc.wait_log(srv, r"HANGUP after [0-9.]+ from \[127\.0\.0\.7\]:%d in tests before "
                              r"SMTP handshake$" % port), "HANGUP logged")

        # Access list: denylisted (drop) and allowlisted.
        c, port = connect(srv, "127.0.0.2")
        code, text, _ = c.reply()
        check.expect(text.startswith("521 5.3.2 Service currently unavailable"),
                     f"denylisted: 521 at once: {text!r}")
        c.close()
        check.expect(dc.wait_log(srv, r"DENYLISTED \[127\.0\.0\.2\]:%d$" % port), "DENYLISTED logged")
        t0 = time.monotonic()
        c, port = connect(srv, "127.0.0.3")
        code, text, _ = c.reply()
        check.expect(code == "220" and "\n" not in text and time.monotonic() - t0 < 1.5,
                     f"allowlisted: the worker's 220 at once, no teaser: {text!r}")
        c.cmd("QUIT")
        c.close()
        check.expect(dc.wait_log(srv, r"ALLOWLISTED \[127\.0\.0\.3\]:%d$" % port), "ALLOWLISTED logged")

        # Reload while the old frontend holds clean clients: none is lost.
        before = len(sink.wait_messages(1, timeout=1))
        results = []

        def held(i):
            results.append(clean_session(check, srv, "127.0.0.%d" % (20 + i), "held%d" % i, 2.0))
        threads = [threading.Thread(target=held, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        check.expect(dc.wait_log(srv, r"CONNECT from \[127\.0\.0\.22\]", 5), "held clients connected")
        os.kill(srv.pid, signal.SIGHUP)
        for t in threads:
            t.join(30)
        check.expect(len(results) == 3, "reload: every held client finished its session")
        check.expect(len(sink.wait_messages(before + 3, timeout=10)) == before + 3,
                     "reload: the held clients' mail arrived")
        check.expect(dc.wait_log(srv, r"reload: generation 2 serves new connections"), "reload logged")
        check.expect(dc.wait_log(srv, r"retiring: a new generation took over"),
                     "the old frontend retired")
        clean_session(check, srv, "127.0.0.8", "after-reload", 2.0)
        st = subprocess.run([ctl, "-c", srv.conf_dir, "status"], capture_output=True, text=True,
                            timeout=20).stdout
        check.expect(re.search(r"^frontend pid \d+ generation 2 state running", st, re.M),
                     f"status shows the new frontend: {st!r}")
        # (the harness's readiness probe may count as a pregreeter too)
        npg = len(re.findall(r"postscreen\[\d+\]: PREGREET ", srv.log()))
        check.expect(re.search(r"^pregreet %d$" % npg, st, re.M)
                     and re.search(r"^denylisted 1$", st, re.M)
                     and re.search(r"^allowlisted 1$", st, re.M), f"status counts: {st!r}")
        return check.done(srv)


def enforce_suite(args):
    check = dc.Checker("frontend/enforce", args.v)
    settings = dict(BASE, postscreen_greet_action="enforce", postscreen_greet_wait="3s",
                    postscreen_denylist_action="tarpit", postscreen_tarpit_byte_rate="5",
                    postscreen_tarpit_time="3s",
                    postscreen_tarpit_reply="550 5.7.1 You are tarpitted",
                    postscreen_discard_ehlo_keywords="etrn",
                    postscreen_discard_ehlo_keyword_address_maps="texthash:${config_directory}/ps_ehlo")
    files = {"ps_access": ACCESS, "ps_ehlo": "127.0.0.6 dsn, chunking\n"}
    with Sink() as sink, dc.server(args, "", files, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        # The pregreeter goes to the enforce engine.
        c, port = connect(srv, "127.0.0.6")
        c.send(b"EHLO early.example\r\n")
        # psc_smtpd_tests(): a pregreeter never gets the final 220 line.
        text = dc.first_line(c)
        check.expect(text == "220-mx.example.test ESMTP", f"enforce: the teaser only: {text!r}")
        code, text, _ = c.reply()  # the early EHLO's answer
        check.expect(code == "250" and "mx.example.test" in text, f"enforce: EHLO: {text!r}")
        # No compatibility_level in this main.cf: smtputf8_enable is "no", and
        # postscreen's EHLO (like smtpd's) then leaves SMTPUTF8 out.
        check.expect("SMTPUTF8" not in text and "8BITMIME" in text,
                     f"enforce: EHLO follows smtputf8_enable: {text!r}")
        # Its postscreen_discard_ehlo_keyword_address_maps entry replaces
        # postscreen_discard_ehlo_keywords, and is logged (psc_ehlo_cmd()).
        kws = [l[4:] for l in text.split("\n")[1:]]
        check.expect("DSN" not in kws and "CHUNKING" not in kws and "ETRN" in kws
                     and "PIPELINING" not in kws and "SIZE 10240000" in kws,
                     f"enforce: EHLO per client address: {kws}")
        check.expect(dc.wait_log(srv, r"\[127\.0\.0\.6\]%d: discarding EHLO keywords: "
                                      r"(DSN CHUNKING|CHUNKING DSN)$" % port),
                     "enforce: the per-client discard logged as postscreen does")
        code, text, _ = c.cmd("EHLO again.example")
        check.expect(code == "250" and "DSN" not in text and "ETRN" in text,
                     f"enforce: looked up on each EHLO: {text!r}")
        code, text, _ = c.cmd("MAIL FROM:<bot@spam.example>")
        check.expect(code == "250", f"enforce: MAIL accepted: {text!r}")
        code, text, _ = c.cmd("RCPT TO:<victim@dest.example>")
        check.expect(text == "550 5.5.1 Protocol error", f"enforce: RCPT rejected: {text!r}")
        code, text, _ = c.cmd("DATA")
        check.expect(code == "554", f"enforce: DATA: {text!r}")
        code, text, _ = c.reply()
        check.expect(code == "closed", f"enforce: DATA ends the session: {code} {text!r}")
        c.close()
        check.expect(dc.wait_log(srv, r"NOQUEUE: reject: RCPT from \[127\.0\.0\.6\]:%d: 550 5\.5\.1 "
                              r"Protocol error; from=<bot@spam\.example>, to=<victim@dest\.example>, "
                              r"proto=ESMTP, helo=<again\.example>$" % port),
                     "enforce: the reject logged as postscreen does")
        check.expect(not sink.wait_messages(1, timeout=0.5), "enforce: nothing delivered")

        # A client not in the table: postscreen_discard_ehlo_keywords.
        c, port = connect(srv, "127.0.0.7")
        c.send(b"EHLO other.example\r\n")
        dc.first_line(c)
        code, text, _ = c.reply()
        kws = [l[4:] for l in text.split("\n")[1:]]
        check.expect(code == "250" and "ETRN" not in kws and "DSN" in kws and "CHUNKING" in kws,
                     f"enforce: postscreen_discard_ehlo_keywords for the others: {kws}")
        c.cmd("QUIT")
        c.close()
        check.expect(not dc.wait_log(srv, r"\[127\.0\.0\.7\]%d: discarding" % port, timeout=0.5),
                     "enforce: the global list is not logged")

        # The tarpit: bytes over time on the wire.
        s = socket.socket()
        s.settimeout(10)
        s.bind(("127.0.0.2", 0))
        s.connect((srv.host, srv.port))
        t0 = time.monotonic()
        got = b""
        stamps = []
        while True:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
            stamps.append((time.monotonic() - t0, len(got)))
        s.close()
        total = time.monotonic() - t0
        drip, _, final = got.rpartition(b"\r\n550 ")
        final = b"550 " + final
        print(f"tarpit: {got!r} in {total:.2f} s", flush=True) if args.v else None
        check.expect(final == b"550 5.7.1 You are tarpitted\r\n", f"tarpit: final reply: {got[-60:]!r}")
        check.expect(2.5 <= total <= 8, f"tarpit: lasted about postscreen_tarpit_time: {total:.2f} s")
        # 5 bytes/s for 3 s: about 15 bytes (the first at once).
        n = len(drip) + 2
        check.expect(8 <= n <= 25, f"tarpit: dripped {n} bytes in {total:.2f} s")
        early = [b for t, b in stamps if t < 1.0]
        check.expect(early and early[-1] <= 8, f"tarpit: slow from the start: {stamps[:6]}")
        check.expect(drip.startswith(b"220-mx.example."), f"tarpit: drips a 220- line: {drip!r}")
        check.expect(dc.wait_log(srv, r"DENYLISTED \[127\.0\.0\.2\]:\d+$"), "tarpit: DENYLISTED")
        check.expect(dc.wait_log(srv, r"TARPIT \[127\.0\.0\.2\]:\d+ for 3 s at 5 bytes/s$"),
                     "tarpit logged")
        return check.done(srv)


def pool_suite(args):
    check = dc.Checker("frontend/pool", args.v)
    settings = dict(BASE, postscreen_greet_action="enforce", postscreen_greet_wait="5s",
                    postscreen_connection_pool_size="2")
    with Sink() as sink, dc.server(args, "", {"ps_access": ACCESS}, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        held = []
        for i in range(2):
            c, _ = connect(srv, "127.0.0.%d" % (30 + i))
            text = dc.first_line(c)
            check.expect(text == "220-mx.example.test ESMTP", f"held {i}: teaser: {text!r}")
            held.append(c)
        c, port = connect(srv, "127.0.0.40")
        code, text, took = c.reply()
        check.expect(text == "421 4.3.2 All screening ports are busy",
                     f"pool full: 421 at once: {text!r}")
        check.expect(took < 2, f"pool full: no wait: {took:.2f} s")
        c.close()
        check.expect(dc.wait_log(srv, r"reject: connect from \[127\.0\.0\.40\]:%d: all screening "
                              r"ports busy$" % port), "pool full logged")
        check.expect(dc.wait_log(srv, r"entering STRESS mode with 2 connections$"),
                     "stress mode entered at 90% of the pool")
        for c in held:
            c.close()
        # The pool is not leaked: a new client gets a state again.
        time.sleep(0.5)
        c, _ = connect(srv, "127.0.0.41")
        text = dc.first_line(c)
        check.expect(text == "220-mx.example.test ESMTP", f"pool freed again: {text!r}")
        c.close()
        check.expect(dc.wait_log(srv, r"leaving STRESS mode with 1 connections$"),
                     "stress mode left at 50% of the pool")
        return check.done(srv)


def ignore_suite(args):
    """postscreen_denylist_action = ignore: the client still passes, with
    one error counted, so it waits smtpd_error_sleep_time in the frontend
    before its handoff; the default greet action (ignore) means no teaser
    and no greet wait."""
    check = dc.Checker("frontend/ignore", args.v)
    settings = dict(BASE, postscreen_denylist_action="ignore", smtpd_error_sleep_time="2s")
    with Sink() as sink, dc.server(args, "", {"ps_access": ACCESS}, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        t0 = time.monotonic()
        c, port = connect(srv, "127.0.0.2")
        code, text, _ = c.reply()
        took = time.monotonic() - t0
        check.expect(code == "220" and "\n" not in text, f"denylisted, ignored: 220: {text!r}")
        check.expect(1.5 <= took < 6, f"after smtpd_error_sleep_time: {took:.2f} s")
        send_mail(check, c, "ignored")
        c.close()
        check.expect(sink.wait_messages(1, timeout=10), "ignored: message at the sink")
        check.expect(dc.wait_log(srv, r"DENYLISTED \[127\.0\.0\.2\]:%d$" % port), "DENYLISTED logged")
        t0 = time.monotonic()
        c, port = connect(srv, "127.0.0.9")
        code, text, _ = c.reply()
        check.expect(code == "220" and time.monotonic() - t0 < 1.5,
                     f"default greet action: handed over at once: {text!r}")
        c.cmd("QUIT")
        c.close()
        return check.done(srv)


def main():
    ctl = None
    argv = list(sys.argv)
    if len(argv) > 2 and not argv[2].startswith("-"):
        ctl = argv.pop(2)
        sys.argv = argv
    args = dc.parse_args(__doc__)
    if args.postfix:
        print("test_frontend: no --postfix variant (postscreen needs its own master.cf)")
        return 77
    if not ctl:
        print("test_frontend: needs mxscreen-ctl")
        return 77
    rc = 0
    for suite in (lambda: greet_suite(args, ctl), lambda: enforce_suite(args),
                  lambda: pool_suite(args), lambda: ignore_suite(args)):
        rc |= suite()
    return rc


if __name__ == "__main__":
    sys.exit(main())
