#!/usr/bin/env python3
"""test_frontend_limits.py - the frontend's queue limits, the backup-MX
interface rule and the DNSBL reply names (frontend/fe_limits.[ch],
fe_screen.c, fe_workers.c) through the real daemon over raw sockets.

Usage: test_frontend_limits.py MXSCREEN_BINARY MXSCREEN_CTL [-v] [--keep]

  post    postscreen_post_queue_limit = 5 (Postfix's minimum), no tests,
          one worker stopped with SIGSTOP (by pid, from mxscreen-ctl
          status) so that its handoffs are not acknowledged: five clients
          are handed off and wait; the sixth gets "421 4.3.2 All server
          ports are busy" at once, logged "NOQUEUE: reject: CONNECT from
          [addr]:port: all server ports busy". After SIGCONT the five get
          the worker's 220 and each delivers a message (none lost), and a
          new client is let in again. An allowlisted client
          (postscreen_access_list) gets the same 421 while full, without
          an ALLOWLISTED line (postscreen checks the post-queue before its
          access list), and is ALLOWLISTED once there is room.
  pre     postscreen_pre_queue_limit = 10 (Postfix's minimum), greet action
          enforce with a 5 s greet wait (holds the clients being screened):
          ten clients get the teaser; the eleventh gets "421 4.3.2 All
          screening ports are busy", logged "reject: connect from
          [addr]:port: all screening ports busy" (postscreen's words: no
          NOQUEUE); a client whose tests passed before is "PASS OLD" and
          gets the worker's 220 while the pre-queue is full (postscreen
          checks the cache first); once the ten left, a new client is
          screened again (the count went back down).
  veto    listen on 127.0.0.1 and 127.0.0.2, postscreen_allowlist_interfaces
          = !127.0.0.2 static:all: a new client of 127.0.0.2 is "ALLOWLIST
          VETO [addr]:port", is never handed to a worker: its RCPT gets
          "450 4.3.2 Service currently unavailable" from the enforce
          engine, logged as postscreen's NOQUEUE line, and nothing is
          passed or cached (no PASS NEW; the same client at 127.0.0.1 is
          screened again). A client that passed at 127.0.0.1 is PASS OLD
          at 127.0.0.2 too (the cache is read before the veto) and
          delivers through a worker.
  replymap postscreen_dnsbl_reply_map = texthash: bl.test -> "Example
          Blocklist" against a private dnsmasq: the drop reply is "521
          5.7.1 Service unavailable; client [127.0.0.10] blocked using
          Example Blocklist"; an unmapped list (bl2.test) shows its own
          name. Skipped without dnsmasq.

Postfix checked (postscreen.c psc_service, 3.7): post-queue check before
the access list; cache (PASS OLD) before the allowlist-interface veto
before the pre-queue check; postscreen_dnsbl_reply_map is keyed by the
DNSBL domain without its filter and weight.

Bounded: every wait has a deadline; every process is stopped by pid, the
stopped worker is always continued.
Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import os
import re
import signal
import subprocess
import sys
import time

import daemon_common as dc
from daemon_common import wait_for
from dnsmasq import DnsTestServer, Zones, dnsmasq_available
from sink import Sink
import mxscreen as mxlib

BASE = {
    "myhostname": "mx.example.test",
    "smtpd_banner": "$myhostname ESMTP",
    "postscreen_greet_banner": "$smtpd_banner",
    "mynetworks": "127.0.0.0/8",
    "postscreen_access_list": "",
}
TEASER = "220-mx.example.test ESMTP"


def status(ctl, conf_dir):
    return subprocess.run([ctl, "-c", conf_dir, "status"], capture_output=True, text=True,
                          timeout=20).stdout


def worker_pids(ctl, conf_dir):
    return [int(m) for m in re.findall(r"^worker \d+ pid (\d+)", status(ctl, conf_dir), re.M)]


def send_mail(check, c, tag, greeted=True):
    ok = True
    if not greeted:
        code, text, _ = c.reply()
        ok &= check.expect(code == "220", f"{tag}: 220 -> {text!r}")
    for cmd, want in (("EHLO client.example", "250"), ("MAIL FROM:<a@client.example>", "250"),
                      ("RCPT TO:<b@dest.example>", "250"), ("DATA", "354")):
        code, text, _ = c.cmd(cmd)
        ok &= check.expect(code == want, f"{tag}: {cmd} -> {code} {text!r}")
    code, text, _ = c.cmd(f"Subject: {tag}\r\n\r\nbody of {tag}\r\n.")
    ok &= check.expect(code == "250", f"{tag}: end of data -> {code} {text!r}")
    c.cmd("QUIT")
    c.close()
    return ok


def busy(check, h, p, src, want, tag):
    """A client refused at connect: (reply as expected, its port)."""
    t0 = time.monotonic()
    c, port = dc.connect_from(h, p, src)
    code, text, _ = c.reply()
    took = time.monotonic() - t0
    check.expect(text == want, f"{tag}: {want!r}: got {text!r}")
    check.expect(took < 3.0, f"{tag}: refused at once: {took:.2f} s")
    check.expect(c.reply()[0] == "closed", f"{tag}: closed after the 421")
    c.close()
    return port


# ---- post-queue -----------------------------------------------------------

def post_suite(args, ctl):
    check = dc.Checker("frontend_limits/post", args.v)
    settings = dict(BASE, postscreen_post_queue_limit="5",
                    postscreen_access_list="cidr:${config_directory}/psacl")
    maps = {"psacl": "127.0.0.57/32 permit\n"}
    with Sink() as sink, dc.server(args, "", maps, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        h, p = srv.host, srv.port
        pids = worker_pids(ctl, srv.conf_dir)
        if not check.expect(len(pids) == 1, f"one worker in status: {pids}"):
            return check.done(srv)
        wpid = pids[0]
        waiting = []
        try:
            os.kill(wpid, signal.SIGSTOP)
            for i in range(5):
                src = f"127.0.0.{50 + i}"
                c, port = dc.connect_from(h, p, src, timeout=30)
                waiting.append(c)
                # Handed off (unacked) before the next one connects.
                check.expect(wait_for(lambda: re.search(
                    r"^worker \d+ pid %d .* pending %d " % (wpid, i + 1),
                    status(ctl, srv.conf_dir), re.M), 10),
                    f"post: client {i + 1} handed off and not acked")
            port = busy(check, h, p, "127.0.0.55", "421 4.3.2 All server ports are busy",
                        "post: the sixth")
            check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: NOQUEUE: reject: CONNECT from "
                                     r"\[127\.0\.0\.55\]:%d: all server ports busy$" % port),
                         "post: postscreen's NOQUEUE line")
            # Allowlisted too: postscreen checks the post-queue before its
            # access list, so no ALLOWLISTED line, the same 421.
            port = busy(check, h, p, "127.0.0.57", "421 4.3.2 All server ports are busy",
                        "post: an allowlisted client")
            check.expect(dc.wait_log(srv, r"NOQUEUE: reject: CONNECT from \[127\.0\.0\.57\]:%d: "
                                     r"all server ports busy$" % port),
                         "post: allowlisted: the NOQUEUE line")
            check.expect(not re.search(r"ALLOWLISTED \[127\.0\.0\.57\]", srv.log()),
                         "post: allowlisted: refused before the access list")
            check.expect(all(not c.pending(0.2) for c in waiting),
                         "post: the waiting clients have no greeting yet")
        finally:
            os.kill(wpid, signal.SIGCONT)
        for i, c in enumerate(waiting):
            send_mail(check, c, f"held{i}", greeted=False)
        got = sink.wait_messages(5, timeout=20)
        check.expect(len(got) == 5, f"post: the five waiting clients' mail arrived: {len(got)}")
        c, _ = dc.connect_from(h, p, "127.0.0.56")
        send_mail(check, c, "after", greeted=False)
        c, port = dc.connect_from(h, p, "127.0.0.57")
        send_mail(check, c, "allowlisted", greeted=False)
        check.expect(dc.wait_log(srv, r"ALLOWLISTED \[127\.0\.0\.57\]:%d$" % port),
                     "post: allowlisted once there is room")
        check.expect(len(sink.wait_messages(7, timeout=10)) == 7, "post: seven messages in all")
        return check.done(srv)


# ---- pre-queue ------------------------------------------------------------

def pre_suite(args):
    check = dc.Checker("frontend_limits/pre", args.v)
    settings = dict(BASE, postscreen_pre_queue_limit="10", postscreen_greet_action="enforce",
                    postscreen_greet_wait="5s")
    with Sink() as sink, dc.server(args, "", {}, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        h, p = srv.host, srv.port
        # One client passes first (PASS NEW, cached).
        c, port = dc.connect_from(h, p, "127.0.0.60")
        check.expect(dc.first_line(c) == TEASER, "pre: first client screened (teaser)")
        send_mail(check, c, "first", greeted=False)
        check.expect(dc.wait_log(srv, r"PASS NEW \[127\.0\.0\.60\]:%d$" % port), "pre: PASS NEW")

        held = []
        t0 = time.monotonic()
        for i in range(10):
            c, _ = dc.connect_from(h, p, f"127.0.0.{61 + i}")
            check.expect(dc.first_line(c) == TEASER, f"pre: client {i + 1} screened (teaser)")
            held.append(c)
        port = busy(check, h, p, "127.0.0.71", "421 4.3.2 All screening ports are busy",
                    "pre: the eleventh")
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: reject: connect from "
                                 r"\[127\.0\.0\.71\]:%d: all screening ports busy$" % port),
                     "pre: postscreen's reject line")
        # PASS OLD is exempt: the cache is read before the pre-queue check.
        c, port = dc.connect_from(h, p, "127.0.0.60")
        code, text, _ = c.reply()
        check.expect(code == "220" and "\n" not in text and text.startswith("220 mx.example.test"),
                     f"pre: PASS OLD gets the worker's 220 while full: {text!r}")
        check.expect(dc.wait_log(srv, r"PASS OLD \[127\.0\.0\.60\]:%d$" % port), "pre: PASS OLD")
        send_mail(check, c, "passold")
        check.expect(time.monotonic() - t0 < 4.5,
                     "pre: the checks ran inside the greet wait (not a slow-machine artefact)")
        for c in held:
            c.close()
        check.expect(wait_for(lambda: len(re.findall(r"HANGUP after \S+ from \[127\.0\.0\.(6[1-9]|70)\]",
                                                     srv.log())) == 10, 15),
                     "pre: the ten left")
        c, _ = dc.connect_from(h, p, "127.0.0.72")
        check.expect(dc.first_line(c) == TEASER, "pre: a new client is screened again")
        c.close()
        check.expect(len(sink.wait_messages(2, timeout=10)) == 2, "pre: both messages arrived")
        return check.done(srv)


# ---- allowlist interfaces -------------------------------------------------

def veto_suite(args):
    check = dc.Checker("frontend_limits/veto", args.v)
    port = mxlib.free_port()
    settings = dict(BASE, listen_addresses=f"127.0.0.1:{port} 127.0.0.2:{port}",
                    inet_interfaces="127.0.0.1, 127.0.0.2",
                    postscreen_allowlist_interfaces="!127.0.0.2, static:all",
                    postscreen_greet_action="enforce", postscreen_greet_wait="1s")
    with Sink() as sink, mxlib.MxscreenInstance(main_cf="", relay=(sink.host, sink.port),
                                                settings=settings, binary=args.binary,
                                                port=port, keep=args.keep) as srv:
        backup = "127.0.0.2"
        # A new client at the backup address: VETO, enforce engine, 450.
        c, cport = dc.connect_from(backup, port, "127.0.0.80")
        code, text, _ = c.reply()
        lines = text.split("\n")
        check.expect(code == "220" and lines[0] == TEASER and len(lines) == 2,
                     f"veto: teaser then the enforce engine's 220: {text!r}")
        code, text, _ = c.cmd("EHLO client.example")
        check.expect(code == "250", f"veto: EHLO -> {text!r}")
        code, text, _ = c.cmd("MAIL FROM:<a@client.example>")
        check.expect(code == "250", f"veto: MAIL -> {text!r}")
        code, text, _ = c.cmd("RCPT TO:<b@dest.example>")
        check.expect(text == "450 4.3.2 Service currently unavailable",
                     f"veto: RCPT gets postscreen's 450: {text!r}")
        c.cmd("QUIT")
        c.close()
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: ALLOWLIST VETO \[127\.0\.0\.80\]:%d$"
                                 % cport), "veto: ALLOWLIST VETO logged")
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: NOQUEUE: reject: RCPT from "
                                 r"\[127\.0\.0\.80\]:%d: 450 4\.3\.2 Service currently "
                                 r"unavailable; from=<a@client\.example>, to=<b@dest\.example>, "
                                 r"proto=ESMTP, helo=<client\.example>$" % cport),
                     "veto: postscreen's NOQUEUE line")
        check.expect(not re.search(r"PASS NEW \[127\.0\.0\.80\]", srv.log()), "veto: no PASS NEW")
        # Not cached: at the primary address it is screened again.
        c, cport = dc.connect_from("127.0.0.1", port, "127.0.0.80")
        check.expect(dc.first_line(c) == TEASER, "veto: not cached (teaser at the primary)")
        send_mail(check, c, "primary", greeted=False)
        check.expect(dc.wait_log(srv, r"PASS NEW \[127\.0\.0\.80\]:%d$" % cport),
                     "veto: PASS NEW at the primary address")
        # Now PASS OLD, and that wins at the backup address too.
        c, cport = dc.connect_from(backup, port, "127.0.0.80")
        code, text, _ = c.reply()
        check.expect(code == "220" and "\n" not in text, f"veto: PASS OLD at the backup: {text!r}")
        send_mail(check, c, "backup-passold")
        check.expect(dc.wait_log(srv, r"PASS OLD \[127\.0\.0\.80\]:%d$" % cport),
                     "veto: PASS OLD logged at the backup")
        check.expect(len(re.findall(r"VETO \[127\.0\.0\.80\]", srv.log())) == 1,
                     "veto: no VETO for the PASS OLD client")
        check.expect(len(sink.wait_messages(2, timeout=10)) == 2, "veto: two messages, none vetoed")
        return check.done(srv)


# ---- postscreen_dnsbl_reply_map -------------------------------------------

def replymap_suite(args, dns):
    check = dc.Checker("frontend_limits/replymap", args.v)
    settings = dict(BASE, dns_resolver=dns.resolver,
                    postscreen_dnsbl_sites="bl.test=127.0.0.2*2, bl2.test*2",
                    postscreen_dnsbl_threshold="1", postscreen_dnsbl_action="drop",
                    postscreen_dnsbl_reply_map="texthash:${config_directory}/dnsbl_reply",
                    postscreen_greet_wait="2s")
    maps = {"dnsbl_reply": "bl.test   Example Blocklist\n"}
    with Sink() as sink, dc.server(args, "", maps, relay=(sink.host, sink.port),
                                   settings=settings) as srv:
        h, p = srv.host, srv.port
        for src, name in (("127.0.0.10", "Example Blocklist"), ("127.0.0.13", "bl2.test")):
            c, _ = dc.connect_from(h, p, src)
            code, text, _ = c.reply()  # no pregreet test: no teaser
            want = f"521 5.7.1 Service unavailable; client [{src}] blocked using {name}"
            check.expect(text == want, f"replymap {src}: {want!r}: got {text!r}")
            check.expect(c.reply()[0] == "closed", f"replymap {src}: closed")
            c.close()
        return check.done(srv)


def main():
    argv = list(sys.argv)
    ctl = None
    if len(argv) > 2 and not argv[2].startswith("-"):
        ctl = argv.pop(2)
    sys.argv = argv
    args = dc.parse_args(__doc__)
    if args.postfix:
        print("test_frontend_limits: no --postfix variant (postscreen needs its own master.cf)")
        return 77
    if not ctl:
        print("test_frontend_limits: needs mxscreen-ctl")
        return 77
    rc = post_suite(args, ctl)
    rc |= pre_suite(args)
    rc |= veto_suite(args)
    if dnsmasq_available():
        z = Zones(ttl=300)
        z.dnsbl("bl.test", "127.0.0.10", ["127.0.0.2"])
        z.dnsbl("bl2.test", "127.0.0.13", ["127.0.0.2"])
        with DnsTestServer(z) as dns:
            rc |= replymap_suite(args, dns)
    else:
        print("test_frontend_limits: dnsmasq not installed: replymap suite skipped")
    return rc


if __name__ == "__main__":
    sys.exit(main())
