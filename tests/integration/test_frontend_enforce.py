#!/usr/bin/env python3
"""test_frontend_enforce.py - the enforce engine's postscreen mode against postscreen(8).

Usage: test_frontend_enforce.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

Every client pregreets (postscreen_greet_action = enforce), so it ends up
in the enforce engine (frontend/fe_dummy.c), which must answer as Postfix
3.7's postscreen dummy SMTP engine (psc_smtpd.c) does; with --postfix the
same sessions run against a private Postfix whose port is served by
postscreen (tests/lib/postfix_peer.py postscreen=True), which is how these
expectations were checked (Postfix 3.7.11):
  - a pregreeter sees the 220- teaser only, never the final 220 line:
    the reply to its first command comes next;
  - DATA and BDAT end the session: "DATA/BDAT without valid RCPT from
    [ADDR]:PORT", the reply, "DISCONNECT [ADDR]:PORT", close (the chunk is
    not read). DATA: 501 with an argument, 503 before MAIL, else 554;
  - BDAT for a client whose EHLO keyword mask discards CHUNKING (its
    postscreen_discard_ehlo_keyword_address_maps entry, else
    postscreen_discard_ehlo_keywords; set by EHLO only, so nothing is
    discarded before one): "502 5.5.1 Error: command not implemented";
    otherwise "501 5.5.4 Syntax: BDAT count [LAST]" without an argument
    (any word will do), "554 5.5.1 Error: need MAIL command" before MAIL
    (MAIL FROM:<> counts), else "554 5.5.1 Error: no valid recipients";
  - the per-client discard is logged "[ADDR]PORT: discarding EHLO
    keywords: ..." (postscreen's format: no colon before the port), not
    for silent-discard;
  - the reject log line says proto=SMTP after HELO, proto=ESMTP after EHLO;
  - the other commands as psc_smtpd.c's handlers: HELO/EHLO/VRFY/ETRN
    without an argument, VRFY (the RCPT reply, not logged), ETRN ("458
    Unable to queue messages"), MAIL/RCPT state and syntax (any ':' will
    do, the address as psc_extract_addr() takes it, a source route cut),
    STARTTLS without TLS, XCLIENT/AUTH unknown;
  - postscreen_command_count_limit ("COMMAND COUNT LIMIT ... after" the
    command before, "421 HOST Service unavailable - try again later"),
    postscreen_command_time_limit per command ("COMMAND TIME LIMIT", "421
    4.4.2 HOST Error: timeout exceeded"), a line of line_length_limit
    bytes ("COMMAND LENGTH LIMIT"): each ends the session; a shorter line,
    even one of line_length_limit - 1 bytes, is read and answered;
  - postscreen_command_filter rewrites each command line (its leading
    spaces and tabs are not part of the key), logged "[ADDR]:PORT:
    replacing command "OLD" with "NEW""; not a line that is not valid
    UTF-8 (smtputf8_enable);
  - a client that failed a deep test (here pipelining, action enforce)
    keeps the EHLO keyword mask of the EHLO reply it got before: BDAT is
    "502 5.5.1 Error: command not implemented" when CHUNKING was discarded.
The sessions run in parallel (one loopback source address each), so the
greet wait is paid once.

Exit: 0 pass, 1 fail, 77 skipped.
"""

import concurrent.futures
import sys

import daemon_common as dc
import postfix_peer

GLOBAL = "chunking"
EHLO_MAP = ("127.0.0.6 dsn\n"
            "127.0.0.8 silent-discard, chunking, dsn\n"
            "127.0.0.10 dsn\n")
SETTINGS = {
    "compatibility_level": "3.6",
    "myhostname": "mx.example.test",
    "smtpd_banner": "$myhostname ESMTP",
    "mynetworks": "127.0.0.1/32",
    "postscreen_access_list": "",
    "postscreen_greet_action": "enforce",
    "postscreen_greet_wait": "2s",
    "postscreen_discard_ehlo_keywords": GLOBAL,
    "postscreen_discard_ehlo_keyword_address_maps": "texthash:${config_directory}/ps_ehlo",
    "postscreen_command_count_limit": "6",
    "postscreen_command_time_limit": "3s",
    "postscreen_command_filter": "regexp:${config_directory}/ps_filter",
    # the deep tests answer EHLO with smtpd's reply (the same list here)
    "smtpd_discard_ehlo_keywords": GLOBAL,
    "postscreen_pipelining_enable": "yes",
    "postscreen_pipelining_action": "enforce",
}
CMD_FILTER = ("/^FOO$/ NOOP\n"
              "/^HELLO (.*)/ HELO $1\n"
              "/^BAR/ NOOP\n")
TEASER = "220-mx.example.test ESMTP"
PROTO_ERR = "550 5.5.1 Protocol error"
NO_RCPT = "554 5.5.1 Error: no valid recipients"
NOT_IMPL = "502 5.5.1 Error: command not implemented"
DEEP = "127.0.0.30"

# (source address, [(command, expected reply or a predicate name)]); the
# first command is the pregreet. "CLOSED": the session must be over.
SESSIONS = [
    ("127.0.0.6", [("EHLO six.example", "ehlo+chunking"), ("MAIL FROM:<>", "250 2.1.0 Ok"),
                   ("BDAT 10 LAST", NO_RCPT), (None, "CLOSED")]),
    ("127.0.0.7", [("EHLO seven.example", "ehlo-chunking"), ("MAIL FROM:<a@b.example>",
                                                             "250 2.1.0 Ok"),
                   ("RCPT TO:<c@d.example>", PROTO_ERR), ("BDAT 10 LAST", NOT_IMPL),
                   (None, "CLOSED")]),
    ("127.0.0.8", [("EHLO eight.example", "ehlo-chunking"), ("BDAT 5", NOT_IMPL),
                   (None, "CLOSED")]),
    ("127.0.0.9", [("HELO nine.example", "250 mx.example.test"),
                   ("MAIL FROM:<a@b.example>", "250 2.1.0 Ok"),
                   ("RCPT TO:<c@d.example>", PROTO_ERR), ("RSET", "250 2.0.0 Ok"),
                   ("BDAT x y", "554 5.5.1 Error: need MAIL command"), (None, "CLOSED")]),
    ("127.0.0.10", [("EHLO ten.example", "ehlo+chunking"),
                    ("BDAT", "501 5.5.4 Syntax: BDAT count [LAST]"), (None, "CLOSED")]),
    ("127.0.0.11", [("EHLO eleven.example", "ehlo-chunking"), ("MAIL FROM:<a@b.example>",
                                                               "250 2.1.0 Ok"),
                    ("DATA", NO_RCPT), (None, "CLOSED")]),
    ("127.0.0.12", [("NOOP", "250 2.0.0 Ok"), ("DATA", "503 5.5.1 Error: need RCPT command"),
                    (None, "CLOSED")]),
    ("127.0.0.13", [("NOOP", "250 2.0.0 Ok"), ("DATA now", "501 5.5.4 Syntax: DATA"),
                    (None, "CLOSED")]),
    # The other commands, as psc_smtpd.c's handlers answer them.
    ("127.0.0.20", [("NOOP", "250 2.0.0 Ok"), ("HELO", "501 Syntax: HELO hostname"),
                    ("EHLO", "501 Syntax: EHLO hostname"),
                    ("VRFY", "501 5.5.4 Syntax: VRFY address"), ("VRFY a@b.example", PROTO_ERR),
                    ("QUIT", "221 2.0.0 Bye"), (None, "CLOSED")]),
    ("127.0.0.21", [("NOOP", "250 2.0.0 Ok"), ("ETRN", "500 Syntax: ETRN domain"),
                    ("ETRN x.example", "458 Unable to queue messages"),
                    ("RCPT TO:<a@b.example>", "503 5.5.1 Error: need MAIL command"),
                    ("MAIL FROM", "501 5.5.4 Syntax: MAIL FROM:<address>"),
                    ("QUIT", "221 2.0.0 Bye")]),
    ("127.0.0.22", [("NOOP", "250 2.0.0 Ok"), ("MAIL TO:<x@y.example>", "250 2.1.0 Ok"),
                    ("MAIL FROM:<a@b.example>", "503 5.5.1 Error: nested MAIL command"),
                    ("RCPT FROM:<@r.example:c@d.example>", PROTO_ERR),
                    ("RCPT TO", "501 5.5.4 Syntax: RCPT TO:<address>"),
                    ("QUIT", "221 2.0.0 Bye")]),
    ("127.0.0.23", [("NOOP", "250 2.0.0 Ok"),
                    ("STARTTLS", "502 5.5.1 Error: command not implemented"),
                    ("XCLIENT ADDR=192.0.2.1", "502 5.5.2 Error: command not recognized"),
                    ("AUTH PLAIN", "502 5.5.2 Error: command not recognized"),
                    ("QUIT", "221 2.0.0 Bye")]),
    # postscreen_command_count_limit (6): the 7th command, QUIT excepted.
    ("127.0.0.24", [("NOOP", "250 2.0.0 Ok"), ("NOOP", "250 2.0.0 Ok"), ("NOOP", "250 2.0.0 Ok"),
                    ("RSET", "250 2.0.0 Ok"), ("NOOP", "250 2.0.0 Ok"),
                    ("BOGUS", "502 5.5.2 Error: command not recognized"),
                    ("NOOP", "421 mx.example.test Service unavailable - try again later"),
                    (None, "CLOSED")]),
    # postscreen_command_time_limit (3 s) per command.
    ("127.0.0.25", [("NOOP", "250 2.0.0 Ok"), ("EHLO x.example", "ehlo-chunking"),
                    (None, "421 4.4.2 mx.example.test Error: timeout exceeded"),
                    (None, "CLOSED")]),
    # postscreen_command_filter.
    ("127.0.0.28", [("NOOP", "250 2.0.0 Ok"), (" \tFOO", "250 2.0.0 Ok"),
                    ("HELLO filt.example", "250 mx.example.test"),
                    ("MAIL FROM:<a@b.example>", "250 2.1.0 Ok"),
                    ("RCPT TO:<c@d.example>", PROTO_ERR), ("QUIT", "221 2.0.0 Bye")]),
    # not for a line that is not valid UTF-8 (smtputf8_enable = yes)
    ("127.0.0.31", [("NOOP", "250 2.0.0 Ok"), (b"BAR \xff", "502 5.5.2 Error: command not recognized"),
                    ("BAR \u00e9", "250 2.0.0 Ok"), ("QUIT", "221 2.0.0 Bye")]),
    # line_length_limit (2048) bytes read, not ended by CRLF: the end; fewer
    # are a command (past what the engine keeps of a line, 512 bytes), and
    # so are more when each byte past the limit follows a CR.
    ("127.0.0.29", [("NOOP", "250 2.0.0 Ok"),
                    ("X" * 1500, "502 5.5.2 Error: command not recognized"),
                    ("X" * 2047, "502 5.5.2 Error: command not recognized"),
                    # not checked right after a CR: 2047 bytes, CR, CR, LF is a line
                    ("X" * 2047 + "\r\r", "502 5.5.2 Error: command not recognized"),
                    ("X" * 2048, "421 mx.example.test Service unavailable - try again later"),
                    (None, "CLOSED")]),
    # line_length_limit (2048): the session ends.
    ("127.0.0.27", [("NOOP", "250 2.0.0 Ok"),
                    ("X" * 2100, "421 mx.example.test Service unavailable - try again later"),
                    (None, "CLOSED")]),
]


def judge(want, code, text):
    if want in ("ehlo+chunking", "ehlo-chunking"):
        kws = [l[4:] for l in text.split("\n")[1:]]
        if code != "250" or "PIPELINING" in kws:
            return False
        return ("CHUNKING" in kws) == (want == "ehlo+chunking")
    if want == "CLOSED":
        return code == "closed"
    return text == want


def run_steps(c, steps, out):
    """Send each command (None: nothing, read the next reply) and judge
    its reply into out."""
    for cmd, want in steps:
        if cmd is not None:
            c.send((cmd if isinstance(cmd, bytes) else cmd.encode()) + b"\r\n")
        code, text, _ = c.reply()
        out.append((f"{cmd[:40] if cmd else cmd!r}", judge(want, code, text),
                    f"{code} {text!r}, want {want!r}"))


def session(srv, src, steps):
    """Run one script; [(what, ok, got)] and the client's port."""
    c, port = dc.connect_from(srv.host, srv.port, src, timeout=20.0)
    out = []
    try:
        c.send(steps[0][0].encode() + b"\r\n")  # the pregreet
        first = dc.first_line(c)
        out.append(("teaser", first == TEASER, first))
        run_steps(c, [(None, steps[0][1])] + steps[1:], out)
    finally:
        c.close()
    return out, port


def deep_session(srv, src):
    """No pregreet: the deep tests run; a pipelined NOOP fails the
    pipelining test (enforce) after an EHLO without CHUNKING."""
    c, port = dc.connect_from(srv.host, srv.port, src, timeout=20.0)
    out = []
    try:
        code, text, _ = c.reply()  # teaser, then the 220 after the greet wait
        out.append(("greeting", code == "220", f"{code} {text!r}"))
        steps = [("EHLO deep.example", "ehlo-chunking"), ("NOOP\r\nNOOP", "250 2.0.0 Ok"),
                 (None, "250 2.0.0 Ok"), ("MAIL FROM:<a@b.example>", "250 2.1.0 Ok"),
                 ("BDAT 10 LAST", NOT_IMPL), (None, "CLOSED")]
        run_steps(c, steps, out)
    finally:
        c.close()
    return out, port


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("frontend/enforce-ps" + (" (postfix)" if args.postfix else ""), args.v)
    files = {"ps_ehlo": EHLO_MAP, "ps_filter": CMD_FILTER}
    if args.postfix:
        srv = postfix_peer.PostfixInstance(main_cf="", maps=files, settings=SETTINGS,
                                           postscreen=True, keep=args.keep)
    else:
        srv = dc.server(args, "", files, settings=SETTINGS)
    with srv:
        with concurrent.futures.ThreadPoolExecutor(len(SESSIONS) + 1) as ex:
            futs = {src: ex.submit(session, srv, src, steps) for src, steps in SESSIONS}
            futs[DEEP] = ex.submit(deep_session, srv, DEEP)
            results = {src: f.result(timeout=60) for src, f in futs.items()}
        ports = {}
        for src, (out, port) in results.items():
            ports[src] = port
            for what, ok, got in out:
                check.expect(ok, f"{src}: {what}: {got}")

        def logged(pattern, what):
            check.expect(dc.wait_log(srv, pattern, timeout=10), what)

        def ep(src):
            return r"\[%s\]:%d" % (src.replace(".", r"\."), ports[src])

        for src, verb in (("127.0.0.6", "BDAT"), ("127.0.0.7", "BDAT"), ("127.0.0.8", "BDAT"),
                          ("127.0.0.9", "BDAT"), ("127.0.0.10", "BDAT"), ("127.0.0.11", "DATA"),
                          ("127.0.0.12", "DATA"), ("127.0.0.13", "DATA")):
            logged(r"%s without valid RCPT from %s$" % (verb, ep(src)),
                   f"{src}: '{verb} without valid RCPT' logged")
            logged(r"DISCONNECT %s$" % ep(src), f"{src}: DISCONNECT logged")
        logged(r"\[127\.0\.0\.6\]%d: discarding EHLO keywords: DSN$" % ports["127.0.0.6"],
               "127.0.0.6: its own discard list logged as postscreen does")
        log = srv.log()
        check.expect("[127.0.0.8]%d: discarding" % ports["127.0.0.8"] not in log,
                     "127.0.0.8: silent-discard is not logged")
        check.expect("[127.0.0.7]%d: discarding" % ports["127.0.0.7"] not in log,
                     "127.0.0.7: the global list is not logged")
        logged(r"NOQUEUE: reject: RCPT from %s: 550 5\.5\.1 Protocol error; from=<a@b\.example>, "
               r"to=<c@d\.example>, proto=SMTP, helo=<nine\.example>$" % ep("127.0.0.9"),
               "127.0.0.9: proto=SMTP after HELO")
        logged(r"NOQUEUE: reject: RCPT from %s: 550 5\.5\.1 Protocol error; from=<a@b\.example>, "
               r"to=<c@d\.example>, proto=ESMTP, helo=<seven\.example>$" % ep("127.0.0.7"),
               "127.0.0.7: proto=ESMTP after EHLO")
        logged(r"NOQUEUE: reject: RCPT from %s: 550 5\.5\.1 Protocol error; from=<x@y\.example>, "
               r"to=<c@d\.example>, proto=SMTP, helo=<>$" % ep("127.0.0.22"),
               "127.0.0.22: the address after any colon, its source route cut")
        for src, what, after in (("127.0.0.24", "COUNT", "UNIMPLEMENTED"),
                                 ("127.0.0.25", "TIME", "EHLO"), ("127.0.0.27", "LENGTH", "NOOP")):
            logged(r"COMMAND %s LIMIT from %s after %s$" % (what, ep(src), after),
                   f"{src}: COMMAND {what} LIMIT after {after} logged")
            logged(r"DISCONNECT %s$" % ep(src), f"{src}: DISCONNECT logged")
        logged(r"%s: replacing command \" \?FOO\" with \"NOOP\"$" % ep("127.0.0.28"),
               "127.0.0.28: the filter's rewrite logged as postscreen logs it (TAB as ?)")
        logged(r"%s: replacing command \"HELLO filt\.example\" with \"HELO filt\.example\"$"
               % ep("127.0.0.28"), "127.0.0.28: a regexp's $1 in the rewrite")
        logged(r"NOQUEUE: reject: RCPT from %s: 550 5\.5\.1 Protocol error; from=<a@b\.example>, "
               r"to=<c@d\.example>, proto=SMTP, helo=<filt\.example>$" % ep("127.0.0.28"),
               "127.0.0.28: the rewritten HELO is the one in force")
        check.expect("non-UTF-8 key" not in srv.log(),
                     "127.0.0.31: a line that is not UTF-8 is not looked up (no table warning)")
        logged(r"COMMAND LENGTH LIMIT from %s after UNIMPLEMENTED$" % ep("127.0.0.29"),
               "127.0.0.29: COMMAND LENGTH LIMIT at line_length_limit, not before")
        logged(r"COMMAND PIPELINING from %s after NOOP: " % ep(DEEP),
               f"{DEEP}: the deep pipelining test failed")
        logged(r"BDAT without valid RCPT from %s$" % ep(DEEP), f"{DEEP}: BDAT logged")
        check.expect(not dc.wait_log(srv, r"RCPT from %s" % ep("127.0.0.20"), timeout=0.2),
                     "127.0.0.20: VRFY is not logged")
        return check.done(srv)


if __name__ == "__main__":
    sys.exit(main())
