#!/usr/bin/env python3
"""test_daemon_command_filter.py - smtpd_command_filter in the worker's SMTP session.

Usage: test_daemon_command_filter.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

main.cf: smtpd_command_filter = regexp:cmd_filter with
  /^HELLO (.*)$/        HELO $1
  /^(RCPT TO:<)'([^']*)'(>.*)$/   $1$2$3
  /^FOO$/               NOOP
  /^BIG$/               NOOP <a 150-byte argument>
Expectations, each seen with a private Postfix 3.7.11 (--postfix):
  1. "HELLO client.example" is answered as "HELO client.example" (250);
     the key is the line without its CRLF and without leading spaces and
     tabs (" \tFOO" is NOOP); the result replaces the whole line;
  2. RCPT TO:<'b@example.net'> has the quotes taken away: 250, and the
     message reaches the sink for <b@example.net>;
  3. each rewrite is logged by smtpd as
     'NAME[ADDR]: replacing command "OLD" with "NEW"', OLD being the line
     as received (leading blanks included, a tab logged as '?'), each cut
     to 100 bytes;
  4. a line the table does not match is answered as it is (BAR: 500);
  5. 127.0.0.2, rejected by smtpd_client_restrictions, is answered by the
     frontend's enforce engine in smtpd mode (mxscreen; no worker sees it):
     the same rewrites and log lines, and the NOQUEUE reject of the
     rewritten RCPT names to=<c@d.example>.
  6. (mxscreen only) a lookup error: /^HUGE (.*)$/ with $1 2,200 times makes
     a 1.1 MB result from a 500-byte argument, more than the 1 MiB
     cmd_filter_apply() will take (Postfix would build it): in the worker,
     smtpd's SMTP_ERR_DATA, a warning naming the table,
     "421 4.3.0 mx.example.test Server local data error" and the end of
     the connection, "disconnect ... ehlo=1 commands=1" (the line never reached the command
     table); the same from
     the frontend's enforce engine (127.0.0.2).
Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import re
import sys

import daemon_common as dc
from sink import Sink

MAIN_CF = dc.BASE_CF + """mynetworks = 127.0.0.1/32
postscreen_access_list =
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_client_restrictions = check_client_access cidr:${config_directory}/clients
smtpd_command_filter = regexp:${config_directory}/cmd_filter
"""
BIG = "x" * 150
MAPS = {
    "clients": "127.0.0.2/32 550 go away\n",
    "cmd_filter": ("/^HELLO (.*)$/ HELO $1\n"
                   "/^(RCPT TO:<)'([^']*)'(>.*)$/ $1$2$3\n"
                   "/^FOO$/ NOOP\n"
                   "/^BIG$/ NOOP " + BIG + "\n"
                   "/^HUGE (.*)$/ " + "$1" * 2200 + "\n"),
}
HUGE = "HUGE " + "y" * 500


def steps(c, check, src, cmds):
    """The greeting, then each (command, expected reply or None); the last
    reply code."""
    code, text, _ = c.reply()
    check.expect(code == "220", f"{src}: greeting {text!r}")
    for cmd, want in cmds:
        code, text, _ = c.cmd(cmd)
        if want:
            check.expect(text == want, f"{src}: {cmd!r}: {text!r}, want {want!r}")
    return code


def rejected(srv, check):
    c, _ = dc.connect_from(srv.host, srv.port, "127.0.0.2", timeout=15)
    try:
        steps(c, check, "127.0.0.2", (
            ("HELLO client.example", "250 mx.example.test"), (" \tFOO", "250 2.0.0 Ok"),
            ("MAIL FROM:<a@example.org>", "250 2.1.0 Ok"),
            ("RCPT TO:<'c@d.example'>",
             "550 5.7.1 <unknown[127.0.0.2]>: Client host rejected: go away"),
            ("QUIT", "221 2.0.0 Bye")))
    finally:
        c.close()
    who = r"\S+\[127\.0\.0\.2\]"
    for old, new in (("HELLO client\\.example", "HELO client\\.example"), (" \\?FOO", "NOOP"),
                     ("RCPT TO:<'c@d\\.example'>", "RCPT TO:<c@d\\.example>")):
        pat = r'%s: replacing command "%s" with "%s"$' % (who, old, new)
        check.expect(dc.wait_log(srv, pat), f"127.0.0.2: a log line matching {pat!r}")
    pat = (r"NOQUEUE: reject: RCPT from %s: 550 5\.7\.1 <unknown\[127\.0\.0\.2\]>: Client host "
           r"rejected: go away; from=<a@example\.org> to=<c@d\.example> proto=SMTP "
           r"helo=<client\.example>$" % who)
    check.expect(dc.wait_log(srv, pat), f"127.0.0.2: a log line matching {pat!r}")
    if "mxscreen/" in srv.log():  # the frontend's pid wrote them, not a worker's
        fe = set(re.findall(r"/postscreen\[(\d+)\]:", srv.log()))
        pids = re.findall(r"/smtpd\[(\d+)\]: \S+\[127\.0\.0\.2\]: replacing", srv.log())
        check.expect(pids and set(pids) <= fe,
                     f"127.0.0.2: the enforce engine (frontend pids {fe}) rewrote: {pids}")


def after_end(c):
    """What a NOOP gets after the server's 421: ("closed", why) when it ended."""
    try:
        code, text, _ = c.cmd("NOOP")
    except OSError as e:
        return "closed", str(e)
    return code, text


def lookup_error(srv, check):
    warn = r"warning: regexp:\S+/cmd_filter lookup error for \"HUGE y{95}\"$"
    c, _ = dc.connect_from(srv.host, srv.port, "127.0.0.1", timeout=15)
    try:
        steps(c, check, "error", (("EHLO client.example", None),
                                  (HUGE, "421 4.3.0 mx.example.test Server local data error")))
        code, text = after_end(c)
        check.expect(code == "closed", f"error: the connection ended: {code} {text!r}")
    finally:
        c.close()
    check.expect(dc.wait_log(srv, r"/smtpd\[\d+\]: " + warn),
                 f"error: the worker's warning matching {warn!r}")
    c, _ = dc.connect_from(srv.host, srv.port, "127.0.0.2", timeout=15)
    try:
        steps(c, check, "error 127.0.0.2", (
            ("EHLO client.example", None),
            (HUGE, "421 4.3.0 mx.example.test Server local data error")))
        code, text = after_end(c)
        check.expect(code == "closed", f"error 127.0.0.2: the connection ended: {code} {text!r}")
    finally:
        c.close()
    check.expect(dc.wait_log(srv, r"/smtpd\[\d+\]: " + warn + r"(?s:.*)" + warn),
                 "error 127.0.0.2: the enforce engine's warning too")
    ends = re.findall(r"disconnect from \S+\[127\.0\.0\.([12])\] (ehlo=1 commands=1)$",
                      srv.log(), re.M)
    check.expect(sorted(ends) == [("1", "ehlo=1 commands=1"), ("2", "ehlo=1 commands=1")],
                 f"error: neither disconnect line counts the line that failed (smtpd fails it "
                 f"before its command lookup): {ends}")


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_command_filter", verbose=args.v)
    with Sink() as sink, dc.server(args, MAIN_CF, MAPS, relay=(sink.host, sink.port)) as srv:
        c, _ = dc.connect_from(srv.host, srv.port, "127.0.0.1", timeout=15)
        try:
            code = steps(c, check, "127.0.0.1", (
                ("HELLO client.example", "250 mx.example.test"), (" \tFOO", "250 2.0.0 Ok"),
                ("BIG", "250 2.0.0 Ok"), ("BAR", "500 5.5.2 Error: command not recognized"),
                ("MAIL FROM:<a@example.org>", "250 2.1.0 Ok"),
                ("RCPT TO:<'b@example.net'>", "250 2.1.5 Ok"), ("DATA", None)))
            check.expect(code == "354", f"DATA: {code}")
            code, text, _ = c.cmd("Subject: filtered\r\n\r\nbody\r\n.")
            check.expect(code == "250", f"end of data: {text!r}")
            code, text, _ = c.cmd("QUIT")
            check.expect(code == "221", f"QUIT {text!r}")
        finally:
            c.close()
        got = sink.wait_messages(1, timeout=30)
        check.expect(len(got) == 1 and got[0].rcpt_tos == ["b@example.net"],
                     f"the sink got it for <b@example.net>: {got!r}")
        who = r"\S+\[127\.0\.0\.1\]"
        for old, new in (("HELLO client\\.example", "HELO client\\.example"),
                         (" \\?FOO", "NOOP"),
                         ("BIG", "NOOP " + "x" * 95),
                         ("RCPT TO:<'b@example\\.net'>", "RCPT TO:<b@example\\.net>")):
            pat = r'%s: replacing command "%s" with "%s"$' % (who, old, new)
            check.expect(dc.wait_log(srv, pat), f"a log line matching {pat!r}")
        check.expect(not re.search(r'replacing command "BAR"', srv.log()), "BAR not replaced")
        rejected(srv, check)
        if not args.postfix:
            lookup_error(srv, check)
        sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
