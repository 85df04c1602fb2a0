#!/usr/bin/env python3
"""test_frontend_starttls.py - STARTTLS after the frontend's deep protocol tests.

Usage: test_frontend_starttls.py [MXSCREEN_BINARY] [--keep] [-v]

postscreen_pipelining_enable, postscreen_non_smtp_command_enable and
postscreen_bare_newline_enable on (so the frontend answers the greeting and
EHLO itself), smtpd_tls_security_level = may with a certificate made here
by the openssl CLI. A client that behaves:
  1. gets the frontend's EHLO: STARTTLS offered, PIPELINING not (the
     pipelining test runs);
  2. sends STARTTLS: the deep tests pass there (postscreen's "PASS NEW"),
     the connection is handed to a worker which answers "220 2.0.0 Ready
     to start TLS" in the same session (one CONNECT, no reconnect);
  3. TLS handshake (TLSv1.2 or later), EHLO again over TLS: the worker's
     reply, PIPELINING back, no STARTTLS;
  4. MAIL, RCPT, DATA: the message reaches the sink byte for byte, its
     Received: header says "with ESMTPS"; QUIT -> 221; smtpd's disconnect
     line counts both EHLOs: "ehlo=2 starttls=1 mail=1 rcpt=1 data=1
     quit=1 commands=7" (the worker used to forget the frontend's EHLO).
And STARTTLS pipelined behind EHLO in one write ("EHLO x\\r\\nSTARTTLS\\r\\n")
is the pipelining test's failure (enforce), not a TLS session.
No --postfix variant: postscreen cannot hand a client to smtpd mid-session
(it makes the client reconnect), which is the point of this path.
Exit: 0 pass, 1 fail, 77 no daemon binary or no openssl CLI.
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

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
    "smtpd_tls_security_level": "may",
    "smtpd_tls_cert_file": "${config_directory}/cert.pem",
    "smtpd_tls_key_file": "${config_directory}/key.pem",
    "smtpd_tls_received_header": "yes",
    "smtpd_tls_loglevel": "1",
}


def make_cert(tmp):
    key, crt = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=mx.example.test"],
                   check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    with open(crt) as f, open(key) as g:
        return f.read(), g.read()


def tls_client(check, srv, sink):
    c, port = dc.connect_from(srv.host, srv.port, "127.0.0.7", 20.0)
    try:
        code, text, _ = c.reply()
        check.expect(text == "220 mx.example.test ESMTP", f"greeting {text!r}")
        code, ehlo, _ = c.cmd("EHLO client.example")
        check.expect(code == "250" and "STARTTLS" in ehlo and "PIPELINING" not in ehlo,
                     f"frontend EHLO: STARTTLS, no PIPELINING: {ehlo!r}")
        code, text, _ = c.cmd("STARTTLS")
        check.expect(text == "220 2.0.0 Ready to start TLS", f"STARTTLS -> {text!r}")
        if code != "220":
            return port
        check.expect(c.buf == b"", f"nothing after the 220 in clear: {c.buf!r}")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            c.sock = ctx.wrap_socket(c.sock, server_hostname="mx.example.test")
        except (ssl.SSLError, OSError) as e:
            check.expect(False, f"TLS handshake: {e}")
            return port
        check.expect(c.sock.version() in ("TLSv1.2", "TLSv1.3"), f"TLS {c.sock.version()}")
        code, ehlo2, _ = c.cmd("EHLO client.example")
        check.expect(code == "250" and "PIPELINING" in ehlo2 and "STARTTLS" not in ehlo2,
                     f"EHLO over TLS: PIPELINING, no STARTTLS: {ehlo2!r}")
        for cmd, want in (("MAIL FROM:<a@client.example>", "250"),
                          ("RCPT TO:<b@dest.example>", "250"), ("DATA", "354")):
            code, text, _ = c.cmd(cmd)
            check.expect(code == want, f"{cmd} -> {code} {text!r}")
        code, text, _ = c.cmd("Subject: over tls\r\n\r\nline one\r\n..dot line\r\n.")
        check.expect(code == "250", f"end of data -> {code} {text!r}")
        code, text, _ = c.cmd("QUIT")
        check.expect(code == "221", f"QUIT -> {text!r}")
    finally:
        c.close()
    msgs = sink.wait_messages(1, timeout=10)
    check.expect(len(msgs) == 1, f"the message reached the sink ({len(msgs)})")
    if msgs:
        data = msgs[0].data.decode("latin-1")
        check.expect(data.endswith("Subject: over tls\r\n\r\nline one\r\n..dot line\r\n")
                     or data.endswith("Subject: over tls\r\n\r\nline one\r\n.dot line\r\n"),
                     f"body byte for byte: {data[-60:]!r}")
        check.expect(re.search(r"with ESMTPS id ", data) is not None,
                     f"Received: with ESMTPS: {data[:400]!r}")
    return port


def pipelined_starttls(check, srv):
    c, port = dc.connect_from(srv.host, srv.port, "127.0.0.8", 20.0)
    try:
        c.reply()
        c.send(b"EHLO client.example\r\nSTARTTLS\r\n")
        code, text, _ = c.reply()
        check.expect(code == "250", f"pipelined: EHLO {text!r}")
        check.expect(dc.wait_log(srv, r"COMMAND PIPELINING from \[127\.0\.0\.8\]:%d" % port),
                     "pipelined: COMMAND PIPELINING logged")
        check.expect(not re.search(r"PASS NEW \[127\.0\.0\.8\]", srv.log()),
                     "pipelined: no PASS NEW")
    finally:
        c.close()


def main():
    args = dc.parse_args(__doc__)
    if args.postfix:
        print("test_frontend_starttls: no --postfix variant (see the header)")
        return 77
    if not shutil.which("openssl"):
        print("test_frontend_starttls: no openssl CLI: skipped")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        cert = make_cert(tmp)
    check = dc.Checker("frontend/starttls", args.v)
    maps = {"cert.pem": cert[0], "key.pem": cert[1]}
    with Sink() as sink, dc.server(args, "", maps, relay=(sink.host, sink.port),
                                   settings=SETTINGS) as srv:
        port = tls_client(check, srv, sink)
        check.expect(dc.wait_log(srv, r"postscreen\[\d+\]: PASS NEW \[127\.0\.0\.7\]:%d$" % port),
                     "PASS NEW at STARTTLS")
        check.expect(len(re.findall(r"CONNECT from \[127\.0\.0\.7\]", srv.log())) == 1,
                     "one connection, no reconnect")
        check.expect(dc.wait_log(srv, r"Anonymous TLS connection established from "
                                      r"unknown\[127\.0\.0\.7\]: TLSv1\.[23] with cipher "),
                     "the worker logged the TLS session")
        # The EHLO the frontend answered counts, as in smtpd's one session.
        check.expect(dc.wait_log(srv, r"disconnect from unknown\[127\.0\.0\.7\] ehlo=2 "
                                      r"starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7$"),
                     "disconnect line: ehlo=2 starttls=1 ... commands=7")
        pipelined_starttls(check, srv)
        return check.done(srv)


if __name__ == "__main__":
    sys.exit(main())
