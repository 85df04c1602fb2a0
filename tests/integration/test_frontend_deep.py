#!/usr/bin/env python3
"""test_frontend_deep.py - postscreen's deep protocol tests in the frontend, with the
handoff to a worker in the SAME session (no reconnect), over real sockets.

Usage: test_frontend_deep.py MXSCREEN_BINARY [--keep] [-v]

postscreen_pipelining_enable, postscreen_non_smtp_command_enable and
postscreen_bare_newline_enable on (pipelining: enforce, non-SMTP: drop,
bare newline: drop), postscreen_cache_map btree:. Each client has its own
loopback source address:
  - a good client gets our 220, an EHLO reply without PIPELINING, then its
    MAIL is answered by the worker and its mail reaches the sink byte for
    byte in that one session (PASS NEW, one CONNECT);
  - the same address again is PASS OLD: the worker's own EHLO reply, which
    is the frontend's plus PIPELINING (one builder, lib/ehlo_reply.c);
  - the cache stamps of the three tests are now + 30d, read back with
    Postfix's postmap;
  - a pipelining bot (EHLO, then MAIL+RCPT+DATA in one write) is logged
    "COMMAND PIPELINING from [..]:P after MAIL: RCPT TO:<...>\\r\\nDATA\\r\\n"
    and goes to the enforce engine (RCPT: 550 5.5.1 Protocol error);
  - "GET / HTTP/1.0": "NON-SMTP COMMAND from [..]:P after CONNECT: GET /
    HTTP/1.0", 521 5.7.0 and close;
  - a bare LF: "BARE NEWLINE from [..]:P after EHLO bare.example", 521;
  - postscreen_command_filter applies before the tests (postscreen's one
    command reader): "HTTPGET / HTTP/1.0" rewritten to a forbidden "GET ..."
    is a NON-SMTP COMMAND (logged with the new text), and a header-like
    "X-Fix: y" rewritten to NOOP is answered 250, each with Postfix's
    '[ADDR]:PORT: replacing command "OLD" with "NEW"' line.
Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import daemon_common as dc
from sink import Sink

SETTINGS = {
    "myhostname": "mx.example.test",
    "smtpd_banner": "$myhostname ESMTP",
    "mynetworks": "127.0.0.0/8",
    "postscreen_access_list": "",
    "postscreen_pipelining_enable": "yes",
    "postscreen_non_smtp_command_enable": "yes",
    "postscreen_bare_newline_enable": "yes",
    "postscreen_bare_newline_action": "drop",
    "postscreen_command_filter": "regexp:${config_directory}/ps_filter",
}
# postscreen_command_filter: psc_smtpd_read_event() applies it before the
# deep tests look at a command.
PS_FILTER = "/^HTTPGET (.*)$/ GET $1\n/^X-Fix: /i NOOP\n"


def good_client(check, srv, sink, src, tag, before):
    c, port = dc.connect_from(srv.host, srv.port, src, 20.0)
    code, text, _ = c.reply()
    check.expect(text == "220 mx.example.test ESMTP", f"{tag}: 220: {text!r}")
    code, ehlo, _ = c.cmd("EHLO client.example")
    check.expect(code == "250", f"{tag}: EHLO {ehlo!r}")
    for cmd, want in (("MAIL FROM:<a@client.example>", "250"), ("RCPT TO:<b@dest.example>", "250"),
                      ("DATA", "354")):
        code, text, _ = c.cmd(cmd)
        check.expect(code == want, f"{tag}: {cmd} -> {code} {text!r}")
    body = f"Subject: {tag}\r\n\r\nline one\r\n..dot line\r\n"
    code, text, _ = c.cmd(body + ".")
    check.expect(code == "250", f"{tag}: end of data -> {code} {text!r}")
    c.cmd("QUIT")
    c.close()
    msgs = sink.wait_messages(before + 1, timeout=10)
    check.expect(len(msgs) == before + 1, f"{tag}: the message reached the sink")
    if len(msgs) == before + 1:
        data = msgs[-1].data if hasattr(msgs[-1], "data") else msgs[-1]["data"]
        if isinstance(data, bytes):
            data = data.decode("latin-1")
        check.expect(data.endswith("Subject: %s\r\n\r\nline one\r\n..dot line\r\n" % tag)
                     or data.endswith("Subject: %s\r\n\r\nline one\r\n.dot line\r\n" % tag),
                     f"{tag}: body byte for byte: {data[-60:]!r}")
    return port, ehlo


def non_smtp(srv, check, src, cmd, logged, tag):
    """cmd from src is a NON-SMTP COMMAND, logged as logged: 521, closed.
    Returns the client port."""
    c, port = dc.connect_from(srv.host, srv.port, src, 20.0)
    c.reply()
    code, text, _ = c.cmd(cmd)
    check.expect(text == "521 5.7.0 Error: I can break rules, too. Goodbye.",
                 f"{tag}: 521: {text!r}")
    check.expect(c.reply()[0] == "closed", f"{tag}: closed")
    c.close()
    pat = r"NON-SMTP COMMAND from \[%s\]:%d after CONNECT: %s$" % (
        re.escape(src), port, re.escape(logged))
    check.expect(dc.wait_log(srv, pat), f"{tag}: NON-SMTP COMMAND logged as {logged!r}")
    return port


def main():
    args = dc.parse_args(__doc__)
    if args.postfix:
        print("test_frontend_deep: no --postfix variant (postscreen needs its own master.cf)")
        return 77
    check = dc.Checker("frontend/deep", args.v)
    with Sink() as sink, dc.server(args, "", {"ps_filter": PS_FILTER}, relay=(sink.host, sink.port),
                                   settings=SETTINGS) as srv:
        port, ehlo = good_client(check, srv, sink, "127.0.0.5", "good", 0)
        check.expect("PIPELINING" not in ehlo and "8BITMIME" in ehlo and "CHUNKING" in ehlo,
                     f"good: EHLO without PIPELINING during the test: {ehlo!r}")
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: PASS NEW \[127\.0\.0\.5\]:%d$" % port),
                     "good: PASS NEW")
        check.expect(len(re.findall(r"CONNECT from \[127\.0\.0\.5\]", srv.log())) == 1,
                     "good: one connection, no reconnect")
        port2, ehlo2 = good_client(check, srv, sink, "127.0.0.5", "again", 1)
        check.expect(dc.wait_log(srv, r"PASS OLD \[127\.0\.0\.5\]:%d$" % port2), "again: PASS OLD")
        check.expect(ehlo2.replace("250-PIPELINING\n", "") == ehlo and "PIPELINING" in ehlo2,
                     f"the worker's EHLO = the frontend's + PIPELINING: {ehlo2!r} vs {ehlo!r}")

        cache = os.path.join(srv.dir, "data", "postscreen_cache")
        if shutil.which("postmap"):
            pf = os.path.join(srv.dir, "pf")
            os.makedirs(pf, exist_ok=True)
            with open(os.path.join(pf, "main.cf"), "w") as f:
                f.write("compatibility_level = 3.6\n")
            r = subprocess.run(["postmap", "-c", pf, "-q", "127.0.0.5", "lmdb:" + cache],
                               capture_output=True, text=True, timeout=20)
            v = r.stdout.strip().split(";")
            now = time.time()
            check.expect(len(v) == 5, f"postmap reads the record: {r.stdout!r} {r.stderr!r}")
            if len(v) == 5:
                for i in (2, 3, 4):
                    check.expect(now + 30 * 86400 - 300 < int(v[i]) <= now + 30 * 86400 + 5,
                                 f"deep stamp {i} = now + 30d: {v}")

        # A pipelining bot: enforce engine.
        c, port = dc.connect_from(srv.host, srv.port, "127.0.0.6", 20.0)
        c.reply()
        c.cmd("EHLO bot.example")
        c.send(b"MAIL FROM:<bot@spam.example>\r\nRCPT TO:<victim@dest.example>\r\nDATA\r\n")
        code, text, _ = c.reply()
        check.expect(code == "250", f"bot: MAIL answered by the enforce engine: {text!r}")
        code, text, _ = c.reply()
        check.expect(text == "550 5.5.1 Protocol error", f"bot: RCPT rejected: {text!r}")
        c.close()
        check.expect(dc.wait_log(srv, r"COMMAND PIPELINING from \[127\.0\.0\.6\]:%d after MAIL: "
                              r"RCPT TO:<victim@dest\.example>\\r\\nDATA\\r\\n$" % port),
                     "bot: COMMAND PIPELINING logged")

        # Non-SMTP; Postfix's default table regexp:{{/^[^A-Z]/ Bogus}}
        # (inline, opened by lib/maps): a command that does not start with a
        # letter.
        non_smtp(srv, check, "127.0.0.7", "GET / HTTP/1.0", "GET / HTTP/1.0", "http")
        non_smtp(srv, check, "127.0.0.9", "1234 hello", "1234 hello", "digit")
        check.expect("entry ignored" not in srv.log(),
                     "the default postscreen_forbidden_commands table opened")

        # Bare newline.
        c, port = dc.connect_from(srv.host, srv.port, "127.0.0.8", 20.0)
        c.reply()
        c.send(b"EHLO bare.example\n")
        code, text, _ = c.reply()
        check.expect(text == "521 5.5.1 Protocol error", f"bare: 521: {text!r}")
        c.close()
        check.expect(dc.wait_log(srv, r"BARE NEWLINE from \[127\.0\.0\.8\]:%d after "
                              r"EHLO bare\.example$" % port), "bare: BARE NEWLINE logged")

        # postscreen_command_filter, then the tests.
        port = non_smtp(srv, check, "127.0.0.10", "HTTPGET / HTTP/1.0", "GET / HTTP/1.0",
                        "filter: rewritten to GET")
        check.expect(dc.wait_log(srv, r"\[127\.0\.0\.10\]:%d: replacing command "
                              r'"HTTPGET / HTTP/1\.0" with "GET / HTTP/1\.0"$' % port),
                     "filter: replacing command logged")
        c, port = dc.connect_from(srv.host, srv.port, "127.0.0.11", 20.0)
        c.reply()
        code, text, _ = c.cmd("X-Fix: y")
        check.expect(text == "250 2.0.0 Ok", f"filter: header-like line made NOOP: {text!r}")
        code, text, _ = c.cmd("QUIT")
        check.expect(code == "221", f"filter: QUIT: {text!r}")
        c.close()
        check.expect(not re.search(r"NON-SMTP COMMAND from \[127\.0\.0\.11\]", srv.log()),
                     "filter: no NON-SMTP COMMAND for the rewritten line")
        return check.done(srv)


if __name__ == "__main__":
    sys.exit(main())
