#!/usr/bin/env python3
"""test_daemon_queue_tls_cert.py - the queue runner's client certificate
(smtp_tls_cert_file, smtp_tls_key_file) to a next hop that requires one;
with --postfix the same checks run against a private Postfix 3.7.

A CA, the next hop's certificate (relay.example.test) and a client
certificate (client.example.test) are made here with the openssl CLI; the
next hop is test_daemon_client_tls's recording server with its TLS context
set to require a client certificate signed by that CA. With
smtp_tls_security_level = encrypt:

  * with smtp_tls_cert_file/smtp_tls_key_file: the handshake passes, the
    message arrives over TLS;
  * without them: the next hop refuses the handshake, the message is
    deferred (never sent in clear text, never bounced).

Usage: test_daemon_queue_tls_cert.py [MXSCREEN] [--postfix] [-v] [--keep]
Exit: 0 pass, 1 fail, 77 no daemon or no openssl.
"""

import os
import re
import shutil
import ssl
import sys
import tempfile

from daemon_common import Checker, parse_args, server, wait_for
from queue_common import FAST, MAIN_CF, send_one
from test_daemon_client_tls import NextHop, make_pki, openssl

ENCRYPT = dict(FAST, smtp_tls_security_level="encrypt")


def client_cert(p):
    """client.example.test signed by the test CA."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("cli.key"), "-out",
            p("cli.csr"), "-subj", "/CN=client.example.test")
    openssl("x509", "-req", "-in", p("cli.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
            "-CAcreateserial", "-out", p("cli.pem"), "-days", "2")
    for n in ("cli.key", "cli.pem"):
        os.chmod(p(n), 0o644)


def run(check, args, p, name, settings, want_delivered):
    hop = NextHop(starttls=True, cert=(p("srv.pem"), p("srv.key")))
    hop.ctx.verify_mode = ssl.CERT_REQUIRED
    hop.ctx.load_verify_locations(p("ca.pem"))
    try:
        with server(args, MAIN_CF, {}, relay=("127.0.0.1", hop.port),
                    settings=dict(ENCRYPT, **settings)) as srv:
            qid = send_one(srv, name)
            check.expect(qid, f"{name}: queued")
            if want_delivered:
                check.expect(wait_for(lambda: hop.messages(), 20),
                             f"{name}: delivered with the client certificate")
                check.expect(all(c["tls"] for c in hop.conns if c["messages"]),
                             f"{name}: over TLS")
            else:
                line = wait_for(lambda: re.search(r"\b%s: to=<r@example\.net>.*status=deferred"
                                                  % qid, srv.log()), 20)
                check.expect(line, f"{name}: deferred without a client certificate")
                check.expect(not hop.messages() and
                             not any("MAIL" in c for x in hop.conns for c in x["cmds"]),
                             f"{name}: nothing sent, no MAIL in clear text")
                check.expect("status=bounced" not in srv.log(), f"{name}: never bounced")
    finally:
        hop.stop()
    return srv


def main():
    args = parse_args(__doc__)
    if not shutil.which("openssl"):
        print("test_daemon_queue_tls_cert: no openssl: skipped")
        sys.exit(77)
    check = Checker("daemon_queue_tls_cert", args.v)
    d = tempfile.mkdtemp(prefix="qtlscert-")
    os.chmod(d, 0o755)
    srv = None
    try:
        p = make_pki(d)
        client_cert(p)
        srv = run(check, args, p, "with", {"smtp_tls_cert_file": p("cli.pem"),
                                           "smtp_tls_key_file": p("cli.key")}, True)
        srv = run(check, args, p, "without", {}, False)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
