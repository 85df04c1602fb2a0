#!/usr/bin/env python3
"""test_daemon_tls_proxy.py - STARTTLS, the PROXY protocol and XCLIENT through the daemon.

Usage: test_daemon_tls_proxy.py [MXSCREEN_BINARY] [MXSCREEN_CTL] [--keep] [-v]

Each part runs its own daemon (tests/lib/mxscreen.py, relaying to a
recording Sink) with life_common.BASE_MAIN_CF plus the part's settings:
  * tls_may: a self-signed certificate made here with the openssl CLI,
    smtpd_tls_security_level = may, smtpd_tls_received_header = yes,
    smtpd_tls_loglevel = 1: EHLO offers STARTTLS, Python's ssl completes
    the handshake, the message arrives with a Received: header that has
    "(using TLSv1.3 with cipher ..." and "with ESMTPS", the log has
    "Anonymous TLS connection established from localhost[127.0.0.1]"; swaks
    --tls too when swaks is installed.
  * tls_encrypt: smtpd_tls_security_level = encrypt: MAIL before STARTTLS
    gets "530 5.7.0 Must issue a STARTTLS command first" - the same
    session is run against a private Postfix 3.7 with the same main.cf and
    every reply compared (when Postfix is installed and we are root).
  * tls_timeout: smtpd_timeout = 2s after STARTTLS: the idle client gets
    "421 4.4.2 <myhostname> Error: timeout exceeded" over TLS, as Postfix
    gives it (checked against a private Postfix when possible).
  * proxy: smtpd_upstream_proxy_protocol = haproxy: a PROXY v1 and a v2
    header: the log's "connect from unknown[ADDR]" and the Received: header
    name the proxied address; a garbage header closes the connection with a
    warning logged.
  * xclient: smtpd_authorized_xclient_hosts = 127.0.0.1 and a
    check_client_access cidr table refusing 192.0.2.20: "XCLIENT
    ADDR=192.0.2.20 NAME=spam.example" gets a new 220 greeting and the
    restriction fires at RCPT (smtpd_delay_reject) with Postfix's reply; from
    a host not authorized, "550 5.7.0 Error: insufficient authorization".
    Both sessions are compared with Postfix's replies, like tls_encrypt.

Exit: 0 pass, 1 fail, 77 no daemon binary.
"""

import os
import re
import shutil
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tempfile

import life_common as lc

FROM = "sender@example.org"
RCPT = "user@example.test"


def message(tag):
    return (f"From: <{FROM}>\r\nTo: <{RCPT}>\r\nSubject: {tag}\r\n"
            f"Message-ID: <{tag}@example.org>\r\n\r\nbody of {tag}\r\n").encode()


def with_tag(sink, tag):
    return [m for m in sink.wait_messages(0) if f"<{tag}@example.org>".encode() in m.data]


def received(data):
    """The first header (Received:) unfolded, as text."""
    lines = data.decode("utf-8", "replace").split("\r\n")
    out = lines[0]
    for ln in lines[1:]:
        if not ln[:1] in (" ", "\t"):
            break
        out += " " + ln.strip()
    return out


def make_cert(tmp):
    """(cert PEM, key PEM) for CN=mx.example.test, made by the openssl CLI."""
    key, crt = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=mx.example.test"],
                   check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    with open(crt) as f, open(key) as g:
        return f.read(), g.read()


def tls_settings(level):
    return {"smtpd_tls_security_level": level,
            "smtpd_tls_cert_file": "${config_directory}/cert.pem",
            "smtpd_tls_key_file": "${config_directory}/key.pem",
            "smtpd_tls_received_header": "yes",
            "smtpd_tls_loglevel": "1"}


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def run_script(host, port, steps):
    """Replies (code, text) to each step of a scripted session: a step is
    a command line; the first reply is the greeting."""
    c = lc.Raw(host, port)
    out = [c.reply()[:2]]
    for line in steps:
        out.append(c.cmd(line)[:2])
        if out[-1][0] in ("closed", "timeout"):
            break
    c.close()
    return out


def postfix_replies(main_cf, maps, settings, steps, relay):
    """The same session against a private Postfix, or None when Postfix
    cannot run here."""
    if not lc.postfix_peer.postfix_available() or os.getuid() != 0:
        return None
    with lc.postfix_peer.PostfixInstance(main_cf=main_cf, maps=maps, relay=relay,
                                         settings=settings) as pf:
        return run_script(pf.host, pf.port, steps)


def compare(check, what, ours, theirs):
    """Every reply the same as Postfix's (greetings: the code, they name
    the program)."""
    if theirs is None:
        print(f"{what}: Postfix not available here: comparison skipped")
        return
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a[0] == "220" or b[0] == "220":
            check.expect(a[0] == b[0], f"{what}: greeting code {a[0]} vs Postfix {b[0]}")
        else:
            check.expect(a == b, f"{what}: reply {i} {a!r}, Postfix gives {b!r}")
    check.expect(len(ours) == len(theirs), f"{what}: {len(ours)} replies vs Postfix "
                                           f"{len(theirs)}")


# --------------------------------------------------------------------- TLS
def part_tls_may(args, check, cert):
    maps = {"cert.pem": cert[0], "key.pem": cert[1]}
    with lc.sinklib.Sink() as sink, lc.instance(args, lc.BASE_MAIN_CF, maps=maps,
                                                relay=(sink.host, sink.port),
                                                settings=tls_settings("may")) as mx:
        with smtplib.SMTP(mx.host, mx.port, local_hostname="tls.example.org",
                          timeout=30) as s:
            s.ehlo()
            check.expect(s.has_extn("starttls"), "tls_may: EHLO offers STARTTLS")
            code, text = s.starttls(context=client_ctx())
            check.expect(code == 220, f"tls_may: STARTTLS {code} {text!r}")
            check.expect(s.sock.version() == "TLSv1.3", f"tls_may: {s.sock.version()}")
            cipher = s.sock.cipher()[0]
            s.ehlo()
            check.expect(not s.has_extn("starttls"), "tls_may: no STARTTLS offered again")
            check.expect(s.sendmail(FROM, [RCPT], message("tls-may")) == {},
                         "tls_may: message accepted over TLS")
        msgs = with_tag(sink, "tls-may")
        check.expect(len(msgs) == 1, f"tls_may: {len(msgs)} messages at the sink")
        if msgs:
            rcvd = received(msgs[0].data)
            check.expect(f"(using TLSv1.3 with cipher {cipher} (256/256 bits)" in rcvd
                         or f"(using TLSv1.3 with cipher {cipher} (128/128 bits)" in rcvd,
                         f"tls_may: Received: has the TLS clause for {cipher}: {rcvd!r}")
            check.expect(" with ESMTPS id " in rcvd, f"tls_may: Received: with ESMTPS: {rcvd!r}")
        log = lc.wait_for(lambda: "Anonymous TLS connection established" in mx.log()
                          and mx.log(), 5) or mx.log()
        check.expect(re.search(r"Anonymous TLS connection established from "
                               r"localhost\[127\.0\.0\.1\]: TLSv1\.3 with cipher \S+", log),
                     "tls_may: log 'Anonymous TLS connection established from "
                     "localhost[127.0.0.1]: TLSv1.3 with cipher ...'")

        if shutil.which("swaks"):
            r = subprocess.run(["swaks", "--server", f"{mx.host}:{mx.port}", "--tls",
                                "--from", FROM, "--to", RCPT, "--helo", "swaks.example.org",
                                "--header", "Message-ID: <tls-swaks@example.org>",
                                "--timeout", "30"],
                               capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            check.expect(r.returncode == 0, f"tls_may: swaks --tls exit {r.returncode}: "
                                            f"{r.stdout[-500:]}")
            msgs = with_tag(sink, "tls-swaks")
            check.expect(len(msgs) == 1 and " with ESMTPS id " in received(msgs[0].data),
                         f"tls_may: swaks's message arrived with ESMTPS "
                         f"({[received(m.data) for m in msgs]})")
        else:
            print("tls_may: swaks not installed: that part skipped")
        return mx.log()


def part_tls_encrypt(args, check, cert):
    maps = {"cert.pem": cert[0], "key.pem": cert[1]}
    steps = ["EHLO enc.example.org", f"MAIL FROM:<{FROM}>", "QUIT"]
    settings = tls_settings("encrypt")
    with lc.sinklib.Sink() as sink, lc.instance(args, lc.BASE_MAIN_CF, maps=maps,
                                                relay=(sink.host, sink.port),
                                                settings=settings) as mx:
        ours = run_script(mx.host, mx.port, steps)
        check.expect(ours[2] == ("530", "530 5.7.0 Must issue a STARTTLS command first"),
                     f"tls_encrypt: MAIL before STARTTLS: {ours[2]!r}")
        check.expect("STARTTLS" in ours[1][1], f"tls_encrypt: EHLO offers STARTTLS")
        # After STARTTLS the same MAIL is accepted.
        with smtplib.SMTP(mx.host, mx.port, local_hostname="enc.example.org", timeout=30) as s:
            s.starttls(context=client_ctx())
            check.expect(s.sendmail(FROM, [RCPT], message("tls-encrypt")) == {},
                         "tls_encrypt: accepted after STARTTLS")
        check.expect(len(with_tag(sink, "tls-encrypt")) == 1, "tls_encrypt: at the sink")
        log = mx.log()
    compare(check, "tls_encrypt", ours,
            postfix_replies(lc.BASE_MAIN_CF, maps, settings, steps, (sink.host, sink.port)))
    return log


def tls_idle_reply(host, port):
    """STARTTLS, EHLO, then silence: the reply that comes over TLS."""
    with smtplib.SMTP(host, port, local_hostname="idle.example.org", timeout=15) as s:
        s.starttls(context=client_ctx())
        s.ehlo()
        try:
            return s.getreply()
        except (OSError, smtplib.SMTPException) as e:
            return (type(e).__name__, b"")


def part_tls_timeout(args, check, cert):
    maps = {"cert.pem": cert[0], "key.pem": cert[1]}
    settings = dict(tls_settings("may"), smtpd_timeout="2s")
    want = (421, b"4.4.2 mx.example.test Error: timeout exceeded")
    with lc.instance(args, lc.BASE_MAIN_CF, maps=maps, settings=settings) as mx:
        ours = tls_idle_reply(mx.host, mx.port)
        log = mx.log()
    theirs = None
    if lc.postfix_peer.postfix_available() and os.getuid() == 0:
        with lc.postfix_peer.PostfixInstance(main_cf=lc.BASE_MAIN_CF, maps=maps,
                                             settings=settings) as pf:
            theirs = tls_idle_reply(pf.host, pf.port)
        check.expect(theirs == want, f"tls_timeout: Postfix gives {theirs!r} over TLS")
    check.expect(ours == want, f"tls_timeout: an idle TLS session gets {want!r} over TLS "
                               f"(got {ours!r})")
    return log


# --------------------------------------------------------------------- PROXY
def proxy_v2(src, dst, sport, dport):
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) \
        + addrs


def proxied_session(check, mx, header, tag, what):
    s = socket.create_connection((mx.host, mx.port), timeout=20)
    s.sendall(header)
    c = lc.Raw(mx.host, mx.port, sock=s)
    code, text, _ = c.reply()
    check.expect(code == "220", f"proxy {what}: greeting after the header: {text!r}")
    for line in ("EHLO proxied.example.org", f"MAIL FROM:<{FROM}>", f"RCPT TO:<{RCPT}>"):
        code, text, _ = c.cmd(line)
        check.expect(code == "250", f"proxy {what}: {line.split()[0]}: {text!r}")
    c.cmd("DATA")
    c.send(message(tag) + b".\r\n")
    code, text, _ = c.reply()
    check.expect(code == "250", f"proxy {what}: end of DATA: {text!r}")
    c.cmd("QUIT")
    c.close()


def _wait_banner_proxied(host, port, deadline, alive=lambda: True):
    """mxscreen.py's readiness probe for a daemon that wants a PROXY
    header first: send one, then wait for the 220."""
    import time
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(b"PROXY TCP4 127.0.0.1 127.0.0.1 1 25\r\n")
                s.settimeout(5)
                got = s.recv(512)
                if got.startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return got.decode(errors="replace").strip()
        except OSError:
            pass
        time.sleep(0.1)
    return None


def part_proxy(args, check):
    saved = lc.mxlib.wait_banner
    lc.mxlib.wait_banner = _wait_banner_proxied
    try:
        return _part_proxy(args, check)
    finally:
        lc.mxlib.wait_banner = saved


def _part_proxy(args, check):
    # 192.0.2.0/24 is not in mynetworks: relay only to relay_domains.
    with lc.sinklib.Sink() as sink, lc.instance(
            args, lc.BASE_MAIN_CF, relay=(sink.host, sink.port),
            settings={"smtpd_upstream_proxy_protocol": "haproxy"}) as mx:
        proxied_session(check, mx, b"PROXY TCP4 192.0.2.10 127.0.0.1 12345 25\r\n",
                        "proxy-v1", "v1")
        proxied_session(check, mx, proxy_v2("192.0.2.11", "127.0.0.1", 23456, 25),
                        "proxy-v2", "v2")
        for tag, addr in (("proxy-v1", "192.0.2.10"), ("proxy-v2", "192.0.2.11")):
            msgs = with_tag(sink, tag)
            check.expect(len(msgs) == 1, f"proxy: {tag} at the sink ({len(msgs)})")
            if msgs:
                rcvd = received(msgs[0].data)
                check.expect(f"(unknown [{addr}])" in rcvd,
                             f"proxy: {tag}: Received: names {addr}: {rcvd!r}")
        log = mx.log()
        for addr in ("192.0.2.10", "192.0.2.11"):
            check.expect(f"connect from unknown[{addr}]" in log,
                         f"proxy: log 'connect from unknown[{addr}]'")

        s = socket.create_connection((mx.host, mx.port), timeout=20)
        s.sendall(b"HELLO there, no proxy header\r\n")
        c = lc.Raw(mx.host, mx.port, sock=s)
        code, text, _ = c.reply()
        check.expect(code == "closed", f"proxy: a garbage header closes the connection "
                                       f"({code} {text!r})")
        c.close()
        warn = lc.wait_for(lambda: [ln for ln in mx.log().splitlines()
                                    if "warning:" in ln and "127.0.0.1" in ln
                                    and "proxy" in ln.lower()], 5)
        check.expect(warn, "proxy: a warning naming the client and the proxy protocol")
        if args.v and warn:
            print(f"proxy: {warn[0]}")
        return mx.log()


# --------------------------------------------------------------------- XCLIENT
XCLIENT_MAPS = {"client_cidr": "192.0.2.20/32 REJECT go away xclient\n"}
XCLIENT_STEPS = ["EHLO relay.example.org", "XCLIENT ADDR=192.0.2.20 NAME=spam.example",
                 "EHLO spam.example", f"MAIL FROM:<{FROM}>", f"RCPT TO:<{RCPT}>", "QUIT"]


def xclient_settings(hosts):
    return {"smtpd_authorized_xclient_hosts": hosts,
            "smtpd_client_restrictions":
                "check_client_access cidr:${config_directory}/client_cidr"}


def part_xclient(args, check):
    log = ""
    for hosts, what in (("127.0.0.1", "authorized"), ("192.0.2.99", "unauthorized")):
        settings = xclient_settings(hosts)
        with lc.sinklib.Sink() as sink, lc.instance(args, lc.BASE_MAIN_CF, maps=XCLIENT_MAPS,
                                                    relay=(sink.host, sink.port),
                                                    settings=settings) as mx:
            ours = run_script(mx.host, mx.port, XCLIENT_STEPS)
            check.expect(len(ours) == 7, f"xclient {what}: {len(ours)} replies ({ours})")
            if what == "authorized":
                check.expect("XCLIENT" in ours[1][1], "xclient: EHLO offers XCLIENT")
                check.expect(ours[2][0] == "220", f"xclient: a new greeting: {ours[2]!r}")
                want = ("554", "554 5.7.1 <spam.example[192.0.2.20]>: Client host rejected: "
                               "go away xclient")
                check.expect(len(ours) > 5 and ours[5] == want,
                             f"xclient: RCPT refused for the XCLIENT address: "
                             f"{ours[5] if len(ours) > 5 else None!r}")
                log = lc.wait_for(lambda: "192.0.2.20" in mx.log() and mx.log(), 5) \
                    or mx.log()
                check.expect(re.search(r"NOQUEUE: reject: RCPT from spam\.example\[192\.0\.2"
                                       r"\.20\]: 554 5\.7\.1", log),
                             "xclient: the reject is logged for spam.example[192.0.2.20]")
            else:
                check.expect("XCLIENT" not in ours[1][1], "xclient: not offered to others")
                check.expect(ours[2] == ("550", "550 5.7.0 Error: insufficient authorization"),
                             f"xclient: unauthorized: {ours[2]!r}")
                check.expect(ours[5][0] == "250", f"xclient: unauthorized client keeps its "
                                                  f"own address: RCPT {ours[5]!r}")
                log += mx.log()
        # Postfix decides again whether XCLIENT is allowed, for the address
        # XCLIENT gave: 192.0.2.20 is not authorized, so the next EHLO does
        # not offer it (reply 3 below).
        compare(check, f"xclient {what}", ours,
                postfix_replies(lc.BASE_MAIN_CF, XCLIENT_MAPS, settings, XCLIENT_STEPS,
                                (sink.host, sink.port)))
    return log


def main():
    args = lc.parse_args(__doc__)
    if not shutil.which("openssl"):
        print("test_daemon_tls_proxy: no openssl CLI: skipped")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        cert = make_cert(tmp)
    parts = {"tls_may": lambda a, c: part_tls_may(a, c, cert),
             "tls_encrypt": lambda a, c: part_tls_encrypt(a, c, cert),
             "tls_timeout": lambda a, c: part_tls_timeout(a, c, cert),
             "proxy": part_proxy, "xclient": part_xclient}
    only = os.environ.get("TLS_PROXY_PARTS", "").split()
    status = 0
    for name, part in parts.items():
        if only and name not in only:
            continue
        check = lc.Checker(f"daemon_tls_proxy/{name}", args.v)
        try:
            log = part(args, check)
        except Exception as e:      # a broken part must fail, not abort the rest
            check.expect(False, f"{name}: {type(e).__name__}: {e}")
            log = ""
        status |= check.done(log=log)
    return status


if __name__ == "__main__":
    sys.exit(main())
