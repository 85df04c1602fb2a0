#!/usr/bin/env python3
"""test_frontend_early.py - the frontend's early client screening
(frontend/fe_early*.c): PTR lookup with forward confirmation and the
pre-evaluation of smtpd_client_restrictions (the seed's S25R regexps),
against a private Postfix 3.7 given the same main.cf, the same maps and the
same DNS.

Usage: test_frontend_early.py MXSCREEN_BINARY [-v] [--keep]

Postfix's smtpd resolves clients through the C library, which asks the
name servers of /etc/resolv.conf on port 53. So the test runs itself again
in a private mount and network namespace (unshare -m -n, root only): there
a dnsmasq on 127.0.0.1:53 serves the test zones, a resolv.conf naming it
is bind-mounted over /etc/resolv.conf, and both servers see the same DNS.

Clients (source addresses on loopback; 127.0.0.1 alone is mynetworks):
  127.0.0.41  PTR good.example.test, A back to it: confirmed. Mail is
              delivered in one session; the worker logs "connect from
              good.example.test[127.0.0.41]"; dnsmasq saw one PTR query for
              it (the frontend's: the worker did not look it up again).
  127.0.0.42  PTR forged.example.test whose A is another address: forged,
              "unknown" to both, and the warning "hostname ... does not
              resolve to address ..." in both logs; mail accepted.
  127.0.0.43  no PTR: "unknown", mail accepted.
  127.0.0.61  PTR pool61.dyn.test, confirmed: S25R-rejected too.
  127.0.0.44  PTR ppp44.dyn.test, confirmed: the seed's S25R rule
              "/^(dhcp|dialup|ppp|adsl|pool)[^.]*[0-9]/ 550 S25R6 check"
              rejects it. smtpd_delay_reject = yes: every reply of the
              session (220, EHLO, MAIL, RCPT, DATA, QUIT) compared with
              Postfix's, the RCPT reply byte for byte, and the
              "NOQUEUE: reject: RCPT from ..." line identical after the
              program name; smtpd_delay_reject = no: the reject instead of
              the greeting, 503 access denied to the next command, and
              "NOQUEUE: reject: CONNECT from ..." identical.

HELO screening (deep tests on, so the frontend sees the HELO before any
worker; smtpd_helo_restrictions = permit_mynetworks, check_helo_access
texthash:helo_access, reject_invalid_helo_hostname,
reject_non_fqdn_helo_hostname; smtpd_delay_reject = yes): a client that
claims to be localhost or us, an invalid and a non-FQDN HELO get exactly
Postfix's RCPT reply and NOQUEUE line (proto=ESMTP/SMTP, helo=<...>) from
the frontend's enforce engine (no worker sees them); a second EHLO with a
good name is judged afresh; a good HELO delivers in one session. With
smtpd_delay_reject = no the same names are rejected at HELO/EHLO itself
(reply and "NOQUEUE: reject: EHLO from ..." as smtpd's, no name kept, a
later good name delivers in one session, and the worker's disconnect
line counts those HELO/EHLO commands as smtpd's), and smtpd's error limits
(soft 2, hard 4, 1 s sleep) time the replies and end the session with
"421 4.7.0 ... too many errors" as smtpd does.

The enforce engine's smtpd mode (a client smtpd_client_restrictions
rejects): every reply as Postfix's; RCPT TO:<postmaster> hands the session
to a worker whose disconnect line ("ehlo=1 mail=1 rcpt=1/3 ...") counts
the engine's commands too, as smtpd's; a client's
smtpd_discard_ehlo_keyword_address_maps entry shapes its EHLO reply, its
"discarding EHLO keywords" line and MAIL's DSN parameters; after
smtpd_soft_error_limit errors each reply waits smtpd_error_sleep_time per
LINE (a 3-line EHLO reply 3 s), in both.

A session that no worker sees (ended by the enforce engine: QUIT, hangup,
smtpd_timeout, too many errors; or by the deep tests' HELO rejects) is
logged as smtpd's: its "connect from", "lost connection / timeout / too
many errors after ..." and "disconnect from ... commands=N/M" lines equal
Postfix's, in order, and a session handed to a worker has one connect
line, not two.

Time: the sessions to mxscreen and to Postfix run at the same time, and so
do independent clients within a suite, so each error sleep is waited once;
the two servers of a suite start at the same time.
Bounded: every wait has a deadline; every process is stopped by pid.
Exit: 0 pass, 1 fail, 77 not root, no unshare/ip/dnsmasq/Postfix or binary.
"""

import concurrent.futures
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import daemon_common as dc
from daemon_common import wait_for
from dnsmasq import DnsTestServer, Zones, dnsmasq_available
from sink import Sink
import mxscreen as mxlib
import postfix_peer

CLIENT_MAP = """/\\.hotmail\\.com$/      OK
/^(dhcp|dialup|ppp|adsl|pool)[^.]*[0-9]/  550 S25R6 check
/\\.dip\\.t-dialin\\.net$/                 550 domain check t-dialin
"""

MAIN_CF = "compatibility_level = 3.6\n"

SETTINGS = {
    "myhostname": "mx.example.test",
    "smtpd_banner": "$myhostname ESMTP",
    "mynetworks": "127.0.0.1/32",
    "relay_domains": "dest.example",
    "postscreen_access_list": "",
    "smtpd_client_restrictions":
        "permit_mynetworks, check_client_access regexp:${config_directory}/client_restrictions",
    "smtpd_peername_lookup": "yes",
}


class Dns53(DnsTestServer):
    """dnsmasq on 127.0.0.1:53: the C library's resolver can reach it."""

    def _free_port(self):
        return 53


def zones():
    z = Zones(ttl=300)
    z.ptr("127.0.0.41", "good.example.test")
    z.addr("good.example.test", "127.0.0.41")
    z.ptr("127.0.0.42", "forged.example.test")
    z.addr("forged.example.test", "127.0.0.99")
    z.ptr("127.0.0.44", "ppp44.dyn.test")
    z.addr("ppp44.dyn.test", "127.0.0.44")
    z.ptr("127.0.0.61", "pool61.dyn.test")
    z.addr("pool61.dyn.test", "127.0.0.61")
    z.ptr("127.0.0.62", "dialup62.dyn.test")
    z.addr("dialup62.dyn.test", "127.0.0.62")
    return z


@contextlib.contextmanager
def pair(args, maps, settings, sink=None, postfix_relay=True):
    """mxscreen (resolving through the dnsmasq on :53) and a private Postfix
    given the same main.cf, maps and settings; both relay to sink when one
    is given (mxscreen alone with postfix_relay=False). They start at the
    same time (each start is bounded by its own timeout); both are stopped
    by pid whatever happens."""
    relay = (sink.host, sink.port) if sink else None
    mx = mxlib.MxscreenInstance(main_cf=MAIN_CF, maps=maps, relay=relay,
                                settings=dict(settings, dns_resolver="127.0.0.1:53"),
                                binary=args.binary, keep=args.keep)
    pf = postfix_peer.PostfixInstance(main_cf=MAIN_CF, maps=maps,
                                      relay=relay if postfix_relay else None,
                                      settings=settings, keep=args.keep)
    try:
        for f in [POOL.submit(mx.start), POOL.submit(pf.start)]:
            f.result(timeout=90)
        yield mx, pf
    finally:
        mx.stop()
        pf.stop()


# Sessions to mxscreen and to Postfix run at the same time (and groups of
# sessions from different source addresses too): the error sleeps are
# waited once, not once per server and session.
POOL = concurrent.futures.ThreadPoolExecutor(8)


def together(*calls):
    """Run the calls (functions of no argument) at once; their results, in
    order. Every session has its own socket timeouts, so each call ends."""
    futs = [POOL.submit(c) for c in calls]
    return [f.result(timeout=150) for f in futs]


def both_each(fn, mx, pf, *runs):
    """fn(host, port, src, steps) for each (src, steps) run, against
    mxscreen and Postfix, all at once: [(got, want), ...]."""
    calls = []
    for src, steps in runs:
        calls += [lambda src=src, steps=steps: fn(mx.host, mx.port, src, steps),
                  lambda src=src, steps=steps: fn(pf.host, pf.port, src, steps)]
    r = together(*calls)
    return [(r[i], r[i + 1]) for i in range(0, len(r), 2)]


def both(fn, mx, pf, src, steps):
    """One run against both servers at once: (got, want)."""
    return both_each(fn, mx, pf, (src, steps))[0]


def session(host, port, src, steps):
    """Replies to the greeting and to each command, as (code, text)."""
    out = []
    c, _ = dc.connect_from(host, port, src)
    try:
        code, text, _ = c.reply()
        out.append((code, text))
        for s in steps:
            code, text, _ = c.cmd(s)
            out.append((code, text))
            if code == "closed":
                break
    finally:
        c.close()
    return out


# The worker's connect line ends with the frontend's " id=ID" (Postfix's
# has nothing there).
WID = r"(?: id=\S+)?$"

STEPS = ["EHLO client.example", "MAIL FROM:<a@client.example>", "RCPT TO:<b@dest.example>",
         "DATA", "QUIT"]


def smtpd_lines(log, addr):
    """smtpd's session lines for addr, in order, without the program name
    and the worker's " id=": connect, "lost connection/timeout/too many
    errors after", disconnect with its counters."""
    a = re.escape(addr)
    pat = (r"((?<!dis)connect from \S+\[%s\])(?: id=\S+)?$|(disconnect from \S+\[%s\].*)$|"
           r"((?:lost connection|timeout|too many errors) after \S+ from \S+\[%s\])$" % (a, a, a))
    return ["".join(m) for m in re.findall(pat, log, re.M)]


def same_session_lines(check, mx, pf, addr, tag, n):
    """The n smtpd lines for addr in both logs (waited for), equal."""
    got = wait_for(lambda: len(smtpd_lines(mx.log(), addr)) >= n and smtpd_lines(mx.log(), addr))
    want = wait_for(lambda: len(smtpd_lines(pf.log(), addr)) >= n and smtpd_lines(pf.log(), addr))
    check.expect(got and got == want, f"{tag}: connect/disconnect lines as smtpd's:\n  {got}\n"
                                      f"  {want}")
    # ... and under smtpd's name, as Postfix writes them (postfix/smtpd),
    # although the frontend (mxscreen/postscreen) wrote them.
    a = re.escape(addr)
    named = re.findall(r"^.* (\S+)\[\d+\]: (?:(?:dis)?connect from|"
                       r"(?:lost connection|timeout|too many errors) after \S+ from) \S+\[%s\]" % a,
                       mx.log(), re.M)
    check.expect(len(named) >= n and set(named) == {"mxscreen/smtpd"},
                 f"{tag}: the smtpd lines are mxscreen/smtpd's: {named}")


def worker_saw(log, addr):
    """A worker logged a session for addr: a connect line under
    mxscreen/smtpd from a pid that is not a frontend's (the frontend writes
    the smtpd lines of the sessions it ends under mxscreen/smtpd too, with
    its own pid; its other lines are mxscreen/postscreen's)."""
    frontends = set(re.findall(r"/postscreen\[(\d+)\]:", log))
    pids = re.findall(r"/smtpd\[(\d+)\]: connect from \S+\[%s\]" % re.escape(addr), log, re.M)
    return any(p not in frontends for p in pids)


def noqueue(log, where, addr):
    """The text after "NOQUEUE: " of smtpd's reject line for addr."""
    m = re.search(r"NOQUEUE: (reject: %s from \S+\[%s\]: .*)$" % (where, re.escape(addr)), log,
                  re.M)
    return m.group(1) if m else None



def delay_suite(args, dns, check):
    maps = {"client_restrictions": CLIENT_MAP}
    with Sink() as sink, pair(args, maps, SETTINGS, sink) as (mx, pf):
        # S25R: the whole session against Postfix's.
        got, want = both(session, mx, pf, "127.0.0.44", STEPS)
        check.expect(got[3] == want[3] and got[3][1].startswith(
            "550 5.7.1 <ppp44.dyn.test[127.0.0.44]>: Client host rejected: S25R6 check"),
            f"S25R: RCPT reply as Postfix's: {got[3]!r} vs {want[3]!r}")
        for i, name in ((0, "greeting"), (2, "MAIL"), (4, "DATA"), (5, "QUIT")):
            check.expect(len(got) > i and len(want) > i and got[i][0] == want[i][0],
                         f"S25R: {name} code as Postfix's: {got[i:i+1]!r} vs {want[i:i+1]!r}")
        check.expect(got[0][1] == want[0][1], f"S25R: greeting {got[0]!r} vs {want[0]!r}")
        line = wait_for(lambda: noqueue(mx.log(), "RCPT", "127.0.0.44"))
        pline = wait_for(lambda: noqueue(pf.log(), "RCPT", "127.0.0.44"))
        check.expect(line is not None and line == pline,
                     f"S25R: NOQUEUE line as smtpd's:\n  {line}\n  {pline}")
        # The session the enforce engine ended is logged as smtpd's:
        # "connect from", "disconnect from ... ehlo=1 mail=1 rcpt=0/1
        # data=0/1 quit=1 commands=3/5".
        same_session_lines(check, mx, pf, "127.0.0.44", "S25R", 2)
        check.expect(not worker_saw(mx.log(), "127.0.0.44"),
                     "S25R: no worker saw the rejected client")

        # Confirmed: mail in one session, the worker knows the name.
        before = dns.log().count("41.0.0.127.in-addr.arpa")
        got = session(mx.host, mx.port, "127.0.0.41",
                      STEPS[:4] + ["Subject: early\r\n\r\nbody\r\n."] + ["QUIT"])
        check.expect([g[0] for g in got] == ["220", "250", "250", "250", "354", "250", "221"],
                     f"confirmed: delivered in one session: {got!r}")
        check.expect(sink.wait_messages(1, timeout=10), "confirmed: mail at the sink")
        check.expect(dc.wait_log(mx, r"connect from good\.example\.test\[127\.0\.0\.41\]" + WID),
                     "confirmed: the worker logs the name")
        queries = len(re.findall(r"query\[PTR\] 41\.0\.0\.127\.in-addr\.arpa", dns.log())) - before
        check.expect(queries == 1, f"confirmed: one PTR query (the frontend's): {queries}")
        want = session(pf.host, pf.port, "127.0.0.41", STEPS[:3] + ["QUIT"])
        check.expect(want[3][0] == "250", f"confirmed: Postfix accepts too: {want!r}")

        # Forged and no PTR: "unknown" to both, mail accepted by both.
        for addr, tag in (("127.0.0.42", "forged"), ("127.0.0.43", "no PTR")):
            got, want = both(session, mx, pf, addr, STEPS[:3] + ["QUIT"])
            check.expect([g[0] for g in got] == [w[0] for w in want] == ["220", "250", "250",
                                                                        "250", "221"],
                         f"{tag}: accepted as by Postfix: {got!r} vs {want!r}")
            pat = r"connect from unknown\[%s\]" % re.escape(addr) + WID
            # Postfix logs through postlogd: wait for its line too.
            check.expect(dc.wait_log(mx, pat) and dc.wait_log(pf, pat),
                         f"{tag}: 'connect from unknown[{addr}]' in both logs")
        warn = "hostname forged.example.test does not resolve to address 127.0.0.42"
        check.expect(wait_for(lambda: warn in mx.log()) and wait_for(lambda: warn in pf.log()),
                     f"forged: '{warn}' in both logs")


def connect_suite(args, dns, check):
    maps = {"client_restrictions": CLIENT_MAP}
    settings = dict(SETTINGS, smtpd_delay_reject="no")
    with pair(args, maps, settings) as (mx, pf):
        steps = ["EHLO client.example", "MAIL FROM:<a@client.example>", "QUIT"]
        got, want = both(session, mx, pf, "127.0.0.44", steps)
        check.expect(got == want and got[0][1].startswith("550 5.7.1 <ppp44.dyn.test"),
                     f"delay_reject=no: replies as Postfix's:\n  {got!r}\n  {want!r}")
        line = wait_for(lambda: noqueue(mx.log(), "CONNECT", "127.0.0.44"))
        pline = wait_for(lambda: noqueue(pf.log(), "CONNECT", "127.0.0.44"))
        check.expect(line is not None and line == pline,
                     f"delay_reject=no: NOQUEUE line as smtpd's:\n  {line}\n  {pline}")
        same_session_lines(check, mx, pf, "127.0.0.44", "delay_reject=no", 2)
        got = session(mx.host, mx.port, "127.0.0.41", ["QUIT"])
        check.expect(got[0][0] == "220", f"delay_reject=no: a clean client is greeted: {got!r}")


# smtpd mode of the enforce engine: a client rejected by
# smtpd_client_restrictions (S25R) talks on; every reply as smtpd's.
SMTPD_STEPS = ["EHLO client.example", "NOOP", "RSET", "VRFY b@dest.example",
               "MAIL FROM:<a@client.example>", "MAIL FROM:<x@client.example>",
               "RCPT TO:<b@dest.example>", "DATA", "ETRN dest.example", "RSET",
               "ETRN dest.example", "HELO again.example", "RCPT TO:<c@dest.example>",
               "MAIL FROM:<bad", "STARTTLS", "QUIT"]


def idle_session(host, port, src, steps):
    """session(), where a None step sends nothing and reads what the
    server says on its own (its timeout reply)."""
    out = []
    c, _ = dc.connect_from(host, port, src)
    try:
        out.append(c.reply()[:2])
        for s in steps:
            code, text, _ = c.reply() if s is None else c.cmd(s)
            out.append((code, text))
    finally:
        c.close()
    return out


def smtpd_suite(args, dns, check):
    maps = {"client_restrictions": CLIENT_MAP}
    settings = dict(SETTINGS, smtpd_timeout="3s")
    with Sink() as sink, pair(args, maps, settings, sink, postfix_relay=False) as (mx, pf):
        got, want = both(session, mx, pf, "127.0.0.44", SMTPD_STEPS)
        for i, step in enumerate(["greeting"] + SMTPD_STEPS):
            g = got[i] if i < len(got) else None
            w = want[i] if i < len(want) else None
            check.expect(g == w, f"smtpd mode: {step}: {g!r} vs {w!r}")
        for where in ("VRFY", "ETRN", "RCPT"):
            pat = lambda log: re.findall(
                r"NOQUEUE: (reject: %s from \S+\[127\.0\.0\.44\]: .*)$" % where, log, re.M)
            line = wait_for(lambda: pat(mx.log()))
            pline = wait_for(lambda: pat(pf.log()))
            check.expect(line and line == pline,
                         f"smtpd mode: {where} NOQUEUE lines as smtpd's:\n  {line}\n  {pline}")

        # RCPT TO:<postmaster>: smtpd_check_rcpt() accepts the bare
        # postmaster before any delayed restriction. The enforce engine
        # hands the session to a worker mid-transaction (the MAIL line it
        # answered and that RCPT first in the record's preread): the worker
        # answers that RCPT and everything after it, as smtpd.
        steps = ["EHLO client.example", "MAIL FROM:<a@client.example> SIZE=100",
                 "RCPT TO:<b@dest.example>", "RCPT TO:<postmaster>", "VRFY postmaster",
                 "RCPT TO:<c@dest.example>", "DATA", "Subject: pm\r\n\r\nbody\r\n.", "QUIT"]
        got, want = both(session, mx, pf, "127.0.0.44", steps)
        for i, step in enumerate(["greeting"] + steps):
            g = got[i] if i < len(got) else None
            w = want[i] if i < len(want) else None
            if step.startswith("Subject"):  # queue ids differ
                g, w = g and g[0], w and w[0]
            check.expect(g == w, f"postmaster: {step}: {g!r} vs {w!r}")
        check.expect(wait_for(lambda: worker_saw(mx.log(), "127.0.0.44")),
                     "postmaster: a worker took the session over")
        check.expect(sink.wait_messages(1, timeout=10), "postmaster: the mail reached the sink")
        # The worker's disconnect line counts what the enforce engine
        # answered before the handoff too (handoff.h HANDOFF_F_CMD_COUNTS):
        # "ehlo=1 mail=1 rcpt=1/3 vrfy=1 data=1 quit=1 commands=6/8", as
        # smtpd's (Postfix's last line for the address: its 2nd session).
        pat = lambda log: re.findall(r"(disconnect from \S+\[127\.0\.0\.44\] .*)$", log, re.M)
        # (the 2nd line for the address: the engine's session logged one)
        line = wait_for(lambda: len(pat(mx.log())) >= 2 and pat(mx.log()))
        pline = wait_for(lambda: len(pat(pf.log())) >= 2 and pat(pf.log()))
        check.expect(line and pline and line[-1] == pline[-1] and "rcpt=1/3" in line[-1],
                     f"postmaster: disconnect line as smtpd's:\n  {line}\n  {pline}")
        # Both sessions: the engine's (ended by QUIT) and the one a worker
        # took over: one connect line each (the engine logged nothing
        # before the handoff), as smtpd's.
        same_session_lines(check, mx, pf, "127.0.0.44", "smtpd mode", 4)

        # Two more rejected clients at once (S25R): one hangs up ("lost
        # connection after MAIL"), one goes silent after MAIL: smtpd_timeout
        # (3 s here), "421 4.4.2 HOST Error: timeout exceeded", "timeout
        # after MAIL".
        steps = ["EHLO client.example", "MAIL FROM:<a@client.example>"]
        _, (got, want) = both_each(idle_session, mx, pf, ("127.0.0.61", steps),
                                   ("127.0.0.62", steps + [None]))
        check.expect(got[-1] == want[-1] == ("421", "421 4.4.2 mx.example.test Error: timeout "
                                                    "exceeded"),
                     f"timeout: smtpd's reply: {got[-1:]!r} vs {want[-1:]!r}")
        same_session_lines(check, mx, pf, "127.0.0.61", "hangup", 3)
        same_session_lines(check, mx, pf, "127.0.0.62", "timeout", 3)


LIMIT_SETTINGS = dict(SETTINGS, smtpd_soft_error_limit="2", smtpd_hard_error_limit="4",
                      smtpd_error_sleep_time="1s", smtpd_junk_command_limit="3")


def timed_session(host, port, src, steps):
    """(code, text, seconds waited for the reply) for greeting and steps."""
    out = []
    c, _ = dc.connect_from(host, port, src)
    try:
        t = time.monotonic()
        code, text, _ = c.reply()
        out.append((code, text, time.monotonic() - t))
        for s in steps:
            t = time.monotonic()
            code, text, _ = c.cmd(s)
            out.append((code, text, time.monotonic() - t))
            if code == "closed":
                break
    finally:
        c.close()
    return out


def limits_suite(args, dns, check):
    maps = {"client_restrictions": CLIENT_MAP}
    with pair(args, maps, LIMIT_SETTINGS) as (mx, pf):
        # 127.0.0.44, errors: BOGUS 1, RCPT 2 (then every reply sleeps
        # 1 s), DATA 3, BOGUS 4 -> "421 4.7.0 ... too many errors" and
        # close. At the same time 127.0.0.61 (S25R too): junk commands.
        steps = ["EHLO client.example", "BOGUS", "MAIL FROM:<a@client.example>",
                 "RCPT TO:<b@dest.example>", "NOOP", "DATA", "BOGUS2", "NOOP"]
        junk = ["EHLO client.example"] + ["NOOP"] * 8
        (got, want), junk_run = both_each(timed_session, mx, pf, ("127.0.0.44", steps),
                                          ("127.0.0.61", junk))
        check.expect([g[:2] for g in got][1:] == [w[:2] for w in want][1:] and
                     got[-1][0] == "421",
                     f"limits: replies as smtpd's:\n  {got!r}\n  {want!r}")
        # NOOP after the 2nd error waits the error sleep, in both.
        for tag, r in (("mxscreen", got), ("postfix", want)):
            check.expect(len(r) > 5 and r[5][2] >= 0.8 and r[3][2] < 0.8,
                         f"limits: {tag}: sleep only after the soft limit: "
                         f"{[round(x[2], 2) for x in r]}")
        pat = lambda log: re.findall(r"(too many errors after \S+ from \S+\[127\.0\.0\.44\])$",
                                     log, re.M)
        line = wait_for(lambda: pat(mx.log()))
        pline = wait_for(lambda: pat(pf.log()))
        check.expect(line and line == pline, f"limits: log line as smtpd's: {line} {pline}")
        same_session_lines(check, mx, pf, "127.0.0.44", "limits", 3)

        # Junk commands: NOOP past smtpd_junk_command_limit counts errors.
        got, want = junk_run
        check.expect([g[:2] for g in got][1:] == [w[:2] for w in want][1:],
                     f"junk limit: replies as smtpd's:\n  {got!r}\n  {want!r}")


HELO_MAP = "localhost REJECT\nmx.example.test 550 You are not me\n"

HELO_SETTINGS = dict(
    SETTINGS,
    smtpd_helo_restrictions="permit_mynetworks, check_helo_access "
    "texthash:${config_directory}/helo_access, reject_invalid_helo_hostname, "
    "reject_non_fqdn_helo_hostname",
    postscreen_pipelining_enable="yes",
    postscreen_non_smtp_command_enable="yes",
    postscreen_bare_newline_enable="yes",
)


def helo_suite(args, dns, check):
    maps = {"client_restrictions": CLIENT_MAP, "helo_access": HELO_MAP}
    with Sink() as sink, pair(args, maps, HELO_SETTINGS, sink) as (mx, pf):
        # One source address each (no PTR): a pass is cached (PASS OLD
        # would skip the frontend's tests on the next connection).
        cases = [("127.0.0.45", "EHLO localhost", "localhost"),
                 ("127.0.0.46", "EHLO mx.example.test", "us"),
                 ("127.0.0.47", "HELO bad..name", "invalid"),
                 ("127.0.0.48", "EHLO foo", "non-FQDN")]
        for src, helo, tag in cases:
            steps = [helo] + STEPS[1:]
            got, want = both(session, mx, pf, src, steps)
            check.expect(len(got) == len(want) and got[3] == want[3] and
                         want[3][0] in ("554", "550", "501", "504"),
                         f"HELO {tag}: RCPT reply as Postfix's: {got!r} vs {want!r}")
            check.expect([g[0] for g in got] == [w[0] for w in want],
                         f"HELO {tag}: every reply code as Postfix's: {got!r} vs {want!r}")
            arg = helo.split()[1]
            pat = lambda log: [m for m in re.findall(
                r"NOQUEUE: (reject: RCPT from \S+\[%s\]: .*helo=<%s>)$"
                % (re.escape(src), re.escape(arg)), log, re.M)]
            line = wait_for(lambda: pat(mx.log()))
            pline = wait_for(lambda: pat(pf.log()))
            check.expect(line and line == pline,
                         f"HELO {tag}: NOQUEUE line as smtpd's:\n  {line}\n  {pline}")
        for src, _, tag in cases:
            same_session_lines(check, mx, pf, src, f"HELO {tag}", 2)
            check.expect(not worker_saw(mx.log(), src), f"HELO {tag}: no worker saw it")

        # A bad EHLO replaced by a good one: judged afresh, mail delivered.
        got = session(mx.host, mx.port, "127.0.0.41",
                      ["EHLO localhost", "EHLO good.example.test"] + STEPS[1:4]
                      + ["Subject: helo\r\n\r\nbody\r\n."] + ["QUIT"])
        check.expect([g[0] for g in got] == ["220", "250", "250", "250", "250", "354", "250",
                                             "221"],
                     f"HELO: a second good EHLO delivers in one session: {got!r}")
        check.expect(sink.wait_messages(1, timeout=10), "HELO: the mail reached the sink")
        check.expect(dc.wait_log(mx, r"PASS NEW \[127\.0\.0\.41\]:\d+$"),
                     "HELO: the deep tests passed")



# smtpd_delay_reject = no: smtpd's helo_cmd() judges the name at HELO
# (smtpd_check_helo) and the frontend does the same at the deep tests'
# HELO point; smtpd's error limits (2/4/1s) count those rejects.
HELO_NOW_SETTINGS = dict(HELO_SETTINGS, smtpd_delay_reject="no", smtpd_soft_error_limit="2",
                         smtpd_hard_error_limit="4", smtpd_error_sleep_time="1s")


def helo_now_suite(args, dns, check):
    maps = {"client_restrictions": CLIENT_MAP, "helo_access": HELO_MAP}
    with Sink() as sink, pair(args, maps, HELO_NOW_SETTINGS, sink) as (mx, pf):
        # Three clients at once (their sleeps overlap), checked in turn.
        # 127.0.0.51: rejected at HELO (no name kept), then a good name:
        # judged afresh, the mail is delivered in the same session. (HELO,
        # not EHLO: smtpd sleeps before each line of a reply, and the deep
        # tests' EHLO has no PIPELINING line while that test runs.)
        steps51 = ["EHLO localhost", "HELO bad..name", "HELO good.example.test"] + STEPS[1:4] + \
            ["Subject: helo now\r\n\r\nbody\r\n."] + ["QUIT"]
        steps53 = ["EHLO localhost", "HELO bad..name", "MAIL FROM:<a@client.example>",
                   "EHLO good.example.test", "QUIT"]
        steps52 = ["EHLO good.example.test", "EHLO foo", "HELO localhost",
                   "EHLO mx.example.test", "HELO bad..name", "NOOP"]
        r51, r53, r52 = both_each(timed_session, mx, pf, ("127.0.0.51", steps51),
                                  ("127.0.0.53", steps53), ("127.0.0.52", steps52))
        got, want = r51
        check.expect([g[0] for g in got] == [w[0] for w in want] ==
                     ["220", "554", "501", "250", "250", "250", "354", "250", "221"],
                     f"HELO now: codes as Postfix's: {got!r} vs {want!r}")
        check.expect(len(got) > 3 and [g[:2] for g in got[1:4]] == [w[:2] for w in want[1:4]],
                     f"HELO now: rejects and HELO byte for byte: {got[1:4]!r} vs {want[1:4]!r}")
        for tag, r in (("mxscreen", got), ("postfix", want)):
            # errors: 2 after HELO bad..name: the EHLO reply waits 1 s.
            check.expect(len(r) > 3 and r[3][2] >= 0.8 and r[2][2] < 0.8,
                         f"HELO now: {tag}: the reply after the 2nd error waits: "
                         f"{[round(x[2], 2) for x in r]}")
        pat = lambda log: re.findall(
            r"NOQUEUE: (reject: [EH][EH]LO from \S+\[127\.0\.0\.51\]: .*)$", log, re.M)
        lines = wait_for(lambda: len(pat(mx.log())) >= 2 and pat(mx.log()))
        plines = wait_for(lambda: len(pat(pf.log())) >= 2 and pat(pf.log()))
        check.expect(lines and lines == plines,
                     f"HELO now: NOQUEUE lines as smtpd's:\n  {lines}\n  {plines}")
        progs = re.findall(r"(\S+)\[\d+\]: NOQUEUE: reject: [EH][EH]LO from \S+\[127\.0\.0\.51\]",
                           mx.log())
        check.expect(bool(progs) and set(progs) == {"mxscreen/smtpd"},
                     f"HELO now: the deep test's NOQUEUE lines under smtpd's name: {progs}")
        # The worker's disconnect line counts the HELO/EHLO the deep tests
        # answered or rejected too: "helo=1/2 ehlo=0/1 mail=1 ...", as smtpd.
        pat = lambda log: re.findall(r"(disconnect from \S+\[127\.0\.0\.51\] .*)$", log, re.M)
        line = wait_for(lambda: pat(mx.log()))
        pline = wait_for(lambda: pat(pf.log()))
        check.expect(line and line == pline and "helo=1/2 ehlo=0/1" in line[0],
                     f"HELO now: disconnect line as smtpd's:\n  {line}\n  {pline}")
        check.expect(sink.wait_messages(2, timeout=20), "HELO now: both mails at the sink")
        check.expect(dc.wait_log(mx, r"PASS NEW \[127\.0\.0\.51\]:\d+$"),
                     "HELO now: the deep tests passed")

        # 127.0.0.53: the worker takes the count over (MAIL is handed off)
        # and sleeps as smtpd: before each line of its EHLO reply (10
        # lines: 10 s).
        got, want = r53
        check.expect([g[:2] for g in got] == [w[:2] for w in want],
                     f"HELO now: handed off after errors: replies as smtpd's:\n  {got!r}\n"
                     f"  {want!r}")
        for tag, r in (("mxscreen", got), ("postfix", want)):
            check.expect(len(r) > 5 and 0.8 <= r[3][2] < 3 and 9 <= r[4][2] < 14,
                         f"HELO now: {tag}: 1 s before MAIL's reply, 10 before EHLO's: "
                         f"{[round(x[2], 2) for x in r]}")

        # 127.0.0.52: an accepted EHLO, then rejects: the name in force
        # stays (proto=ESMTP, helo=<the new name> in the log); the 4th
        # error ends the session with smtpd's 421 after the error sleep.
        got, want = r52
        check.expect([g[:2] for g in got][2:] == [w[:2] for w in want][2:] and
                     got[1][0] == want[1][0] == "250" and got[-1][0] == "421",
                     f"HELO now: hard limit: replies as smtpd's:\n  {got!r}\n  {want!r}")
        for tag, r in (("mxscreen", got), ("postfix", want)):
            check.expect(len(r) > 6 and r[3][2] < 0.8 and min(x[2] for x in r[4:7]) >= 0.8,
                         f"HELO now: {tag}: every reply from the 2nd error on waits, the 421 too: "
                         f"{[round(x[2], 2) for x in r]}")
        pat = lambda log: re.findall(
            r"NOQUEUE: (reject: [EH][EH]LO from \S+\[127\.0\.0\.52\]: .*)$|"
            r"(too many errors after \S+ from \S+\[127\.0\.0\.52\])$", log, re.M)
        lines = wait_for(lambda: len(pat(mx.log())) >= 5 and pat(mx.log()))
        plines = wait_for(lambda: len(pat(pf.log())) >= 5 and pat(pf.log()))
        check.expect(lines and lines == plines,
                     f"HELO now: hard limit: log lines as smtpd's:\n  {lines}\n  {plines}")
        same_session_lines(check, mx, pf, "127.0.0.52", "HELO now: hard limit", 3)
        check.expect(not worker_saw(mx.log(), "127.0.0.52"),
                     "HELO now: no worker saw the client of the hard limit")

# Per-client EHLO keywords in the enforce engine's smtpd mode, and the
# error sleep before each LINE of a reply (smtpd_chat_reply()).
DISCARD_MAP = "127.0.0.44 pipelining, dsn, vrfy, etrn, 8bitmime, chunking, smtputf8\n"
DISCARD_SETTINGS = dict(
    LIMIT_SETTINGS, smtpd_discard_ehlo_keywords="etrn",
    smtpd_discard_ehlo_keyword_address_maps="texthash:${config_directory}/ehlo_dis")


def discard_suite(args, dns, check):
    maps = {"client_restrictions": CLIENT_MAP, "ehlo_dis": DISCARD_MAP}
    with pair(args, maps, DISCARD_SETTINGS) as (mx, pf):
        # 127.0.0.44 (S25R-rejected: the enforce engine in smtpd mode) has
        # its own list: "250-mx.example.test", "250-SIZE 10240000", "250
        # ENHANCEDSTATUSCODES"; DSN parameters refused. After two errors
        # the 3-line EHLO reply waits 3 x 1 s, the 1-line NOOP reply 1 s.
        steps = ["EHLO client.example", "MAIL FROM:<a@client.example> RET=FULL", "BOGUS",
                 "BOGUS2", "EHLO client.example", "NOOP", "QUIT"]
        got, want = both(timed_session, mx, pf, "127.0.0.44", steps)
        check.expect([g[:2] for g in got] == [w[:2] for w in want] and
                     got[1][1] == "250-mx.example.test\n250-SIZE 10240000\n250 ENHANCEDSTATUSCODES"
                     and got[2][1] == "501 5.7.1 DSN support is disabled",
                     f"discard: replies as smtpd's:\n  {got!r}\n  {want!r}")
        for tag, r in (("mxscreen", got), ("postfix", want)):
            check.expect(len(r) > 6 and r[1][2] < 0.8 and r[5][2] >= 2.7 and r[6][2] >= 0.8,
                         f"discard: {tag}: after the soft limit the EHLO reply waits once per "
                         f"line (3 s), NOOP's 1 s: {[round(x[2], 2) for x in r]}")
        pat = lambda log: re.findall(r"(discarding EHLO keywords: .*)$", log, re.M)
        lines = wait_for(lambda: len(pat(mx.log())) >= 2 and pat(mx.log()))
        plines = wait_for(lambda: len(pat(pf.log())) >= 2 and pat(pf.log()))
        check.expect(lines and lines == plines,
                     f"discard: logged as smtpd's, on each EHLO:\n  {lines}\n  {plines}")
        # Another rejected client (S25R) without an entry: the global list.
        got, want = both(session, mx, pf, "127.0.0.61", ["EHLO client.example", "QUIT"])
        check.expect(got == want and "ETRN" not in got[1][1] and "PIPELINING" in got[1][1],
                     f"discard: smtpd_discard_ehlo_keywords for the others:\n  {got!r}\n"
                     f"  {want!r}")
        # CHUNKING is not offered to 127.0.0.44: BDAT is "521 5.5.1 Error:
        # command not implemented" and the end, whatever the state (HELO
        # only, no MAIL); the disconnect line says bdat=0/1, no quit.
        got, want = both(session, mx, pf, "127.0.0.44", ["HELO client.example", "BDAT 4 LAST",
                                                         "NOOP"])
        check.expect(got == want and got[2] == ("521", "521 5.5.1 Error: command not implemented")
                     and got[3][0] == "closed",
                     f"discard: BDAT without CHUNKING as smtpd's:\n  {got!r}\n  {want!r}")
        same_session_lines(check, mx, pf, "127.0.0.44", "discard", 4)


def inner(args):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    d = tempfile.mkdtemp(prefix="mxearly-")
    try:
        rc = os.path.join(d, "resolv.conf")
        with open(rc, "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
        subprocess.run(["mount", "--bind", rc, "/etc/resolv.conf"], check=True, timeout=10)
        check = dc.Checker("frontend_early", args.v)
        with Dns53(zones()) as dns:
            for suite in (delay_suite, connect_suite, helo_suite, helo_now_suite, smtpd_suite,
                          limits_suite, discard_suite):
                t0 = time.monotonic()
                suite(args, dns, check)
                print(f"frontend_early: {suite.__name__}: {time.monotonic() - t0:.1f} s",
                      flush=True)
        return check.done()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    is_inner = "--inner" in sys.argv
    if is_inner:
        sys.argv.remove("--inner")
    args = dc.parse_args(__doc__)
    if not args.binary or not os.access(args.binary, os.X_OK):
        print("frontend_early: no daemon binary: skipped")
        return 77
    if is_inner:
        return inner(args)
    unshare = shutil.which("unshare")
    if (os.getuid() != 0 or not unshare or not shutil.which("ip") or not dnsmasq_available()
            or not postfix_peer.postfix_available()):
        print("frontend_early: needs root, unshare, ip, dnsmasq and Postfix: skipped")
        return 77
    cmd = [unshare, "-m", "-n", sys.executable, os.path.abspath(__file__), args.binary,
           "--inner"] + (["-v"] if args.v else []) + (["--keep"] if args.keep else [])
    try:
        return subprocess.run(cmd, timeout=180).returncode
    except subprocess.TimeoutExpired:
        print("FAIL frontend_early: timed out")
        return 1


if __name__ == "__main__":
    sys.exit(main())
