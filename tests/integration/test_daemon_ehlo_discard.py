#!/usr/bin/env python3
"""test_daemon_ehlo_discard.py - smtpd_discard_ehlo_keyword_address_maps through the daemon.

Usage: test_daemon_ehlo_discard.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

main.cf: smtpd_discard_ehlo_keywords = etrn, and
smtpd_discard_ehlo_keyword_address_maps = texthash:ehlo_dis, cidr:ehlo_cidr
  ehlo_dis:  127.0.0.1 pipelining, dsn, auth, chunking, silly
             127.0.0   size                 (not a parent-net match: unused)
  ehlo_cidr: 127.0.0.0/8 vrfy, silent-discard for 127.0.0.3/32 first
Expectations, each seen with a private Postfix 3.7.11 (--postfix):
  1. 127.0.0.1: the first table has the address: its list REPLACES
     smtpd_discard_ehlo_keywords (ETRN is announced), PIPELINING, DSN and
     CHUNKING are not; every EHLO logs "discarding EHLO keywords: AUTH
     PIPELINING DSN CHUNKING" (3.7's own order; AUTH although never
     offered; "silly" ignored), HELO logs nothing; MAIL ... RET=FULL gets
     "501 5.7.1 DSN support is disabled".
  2. 127.0.0.2: the texthash "127.0.0" entry does not match (the lookup is
     the address string alone, no access(5) parent networks), the cidr
     entry does: VRFY not announced, ETRN announced, "discarding EHLO
     keywords: VRFY", DSN parameters accepted.
  3. 127.0.0.3: "dsn silent-discard": no DSN, no log line.
  4. BDAT from 127.0.0.1 (CHUNKING discarded): "521 5.5.1 Error: command
     not implemented" and the session ends, before the syntax or the state
     is looked at (after HELO alone; after MAIL, no RCPT, a bad chunk size); the
     disconnect line counts it as tried: "helo=1 bdat=0/1 commands=1/2".
     127.0.0.2 (CHUNKING offered) still gets the state error and goes on.
Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import re
import sys
import time

import daemon_common as dc

MAIN_CF = dc.LOOPBACK_CF + """smtpd_discard_ehlo_keywords = etrn
smtpd_discard_ehlo_keyword_address_maps = texthash:${config_directory}/ehlo_dis,
    cidr:${config_directory}/ehlo_cidr
"""
MAPS = {
    "ehlo_dis": "127.0.0.1 pipelining, dsn, auth, chunking, silly\n127.0.0 size\n",
    "ehlo_cidr": "127.0.0.3/32 dsn silent-discard\n127.0.0.0/8 vrfy\n",
}

BASE = ["mx.example.test", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN",
        "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"]


def ehlo_text(drop):
    words = [w for w in BASE if w not in drop]
    return "\n".join(("250-" if i < len(words) - 1 else "250 ") + w
                     for i, w in enumerate(words))


def session(srv, src, check, want_ehlo, dsn_ok):
    c, _ = dc.connect_from(srv.host, srv.port, src, timeout=15)
    try:
        code, text, _ = c.reply()
        check.expect(code == "220", f"{src}: greeting {text!r}")
        for i in range(2):
            code, text, _ = c.cmd("EHLO client.example.org")
            check.expect(text == want_ehlo, f"{src}: EHLO #{i + 1}:\n{text}\nwant\n{want_ehlo}")
        code, text, _ = c.cmd("HELO client.example.org")
        check.expect(text == "250 mx.example.test", f"{src}: HELO {text!r}")
        code, text, _ = c.cmd("MAIL FROM:<a@example.org> RET=FULL")
        want = "250 2.1.0 Ok" if dsn_ok else "501 5.7.1 DSN support is disabled"
        check.expect(text == want, f"{src}: MAIL RET=FULL: {text!r}, want {want!r}")
        code, text, _ = c.cmd("QUIT")
        check.expect(code == "221", f"{src}: QUIT {text!r}")
    finally:
        c.close()


def bdat_session(srv, src, cmds, chunk):
    """The replies to cmds, then to a pipelined "BDAT 4 LAST" + chunk,
    then to NOOP: a list of (code, text)."""
    c, _ = dc.connect_from(srv.host, srv.port, src, timeout=15)
    try:
        got = [c.reply()[:2]]
        got += [c.cmd(x)[:2] for x in cmds]
        c.send(chunk)
        got.append(c.reply()[:2])
        got.append(c.cmd("NOOP")[:2])
        return got
    finally:
        c.close()


def bdat_suite(srv, check):
    not_impl = ("521", "521 5.5.1 Error: command not implemented")
    got = bdat_session(srv, "127.0.0.1", ["HELO client.example.org"], b"BDAT 4 LAST\r\nabcd")
    check.expect(got[2] == not_impl and got[3][0] == "closed",
                 f"127.0.0.1: BDAT after HELO alone: 521 and the end: {got!r}")
    got = bdat_session(srv, "127.0.0.1", ["EHLO client.example.org", "MAIL FROM:<a@example.org>"],
                      b"BDAT x LAST\r\n")
    check.expect(got[3] == not_impl and got[4][0] == "closed",
                 f"127.0.0.1: BDAT with a bad size after MAIL, no RCPT: 521 and the end: {got!r}")
    for want in (r"helo=1 bdat=0/1 commands=1/2$", r"ehlo=1 mail=1 bdat=0/1 commands=2/3$"):
        pat = r"disconnect from \S+\[127\.0\.0\.1\] " + want
        check.expect(dc.wait_log(srv, pat), f"127.0.0.1: a line matching {pat!r}")
    check.expect(not re.search(r"lost connection after BDAT", srv.log()),
                 "127.0.0.1: no 'lost connection after BDAT' line")
    got = bdat_session(srv, "127.0.0.2", ["HELO client.example.org"], b"BDAT 4 LAST\r\nabcd")
    check.expect(got[2] == ("503", "503 5.5.1 Error: need RCPT command") and got[3][0] == "250",
                 f"127.0.0.2: CHUNKING offered: the state error, the session goes on: {got!r}")


def discard_lines(srv, n, timeout=10.0):
    """The "discarding EHLO keywords" texts logged so far, waiting up to
    timeout for at least n of them."""
    end = time.monotonic() + timeout
    while True:
        got = re.findall(r"discarding EHLO keywords: (.*)$", srv.log(), re.M)
        if len(got) >= n or time.monotonic() > end:
            return got
        time.sleep(0.05)


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_ehlo_discard", verbose=args.v)
    with dc.server(args, MAIN_CF, MAPS) as srv:
        session(srv, "127.0.0.1", check,
                ehlo_text({"PIPELINING", "DSN", "CHUNKING"}), dsn_ok=False)
        got = discard_lines(srv, 2)
        check.expect(got == ["AUTH PIPELINING DSN CHUNKING"] * 2,
                     f"127.0.0.1: one log line per EHLO, none for HELO: {got}")
        session(srv, "127.0.0.2", check, ehlo_text({"VRFY"}), dsn_ok=True)
        got = discard_lines(srv, 4)
        check.expect(got[2:] == ["VRFY"] * 2, f"127.0.0.2: {got[2:]}")
        session(srv, "127.0.0.3", check, ehlo_text({"DSN"}), dsn_ok=False)
        time.sleep(0.5)
        got = discard_lines(srv, 5, timeout=0)
        check.expect(len(got) == 4, f"127.0.0.3: silent-discard logs nothing: {got[4:]}")
        bdat_suite(srv, check)
        sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
