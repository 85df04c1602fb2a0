#!/usr/bin/env python3
"""The worker's own client lookups through c-ares in its ring (lib/dns_ring.c).

A client the frontend does not screen (no postscreen tests configured) is
looked up by the worker: PTR, then forward confirmation, against a private
dnsmasq named by dns_resolver. Checked as smtpd logs it:
  - PTR and matching A: "connect from host77.example.test[127.0.0.77]";
  - PTR whose name has no matching A: "unknown[127.0.0.78]" and smtpd's
    "hostname ... does not resolve to address" warning;
  - reject_unknown_client_hostname answers the forged one at RCPT with
    Postfix's 450 4.7.25 and accepts the confirmed one.
Each session is bounded; the daemon and dnsmasq are stopped by pid.

Exit: 0 pass, 1 fail, 77 no daemon binary or no dnsmasq.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import daemon_common as dc  # noqa: E402
from dnsmasq import DnsTestServer, Zones, dnsmasq_available  # noqa: E402
from sink import Sink  # noqa: E402


def zones():
    z = Zones(ttl=300)
    z.ptr("127.0.0.77", "host77.example.test")
    z.addr("host77.example.test", "127.0.0.77")
    z.ptr("127.0.0.78", "forged78.example.test")
    z.addr("forged78.example.test", "127.0.0.99")
    return z


def session(check, srv, src, tag):
    c, _ = dc.connect_from(srv.host, srv.port, src)
    code, text, _ = c.reply()
    check.expect(code == "220", f"{tag}: greeting {text!r}")
    c.cmd("EHLO client.example.test")
    c.cmd("MAIL FROM:<a@example.test>")
    code, text, _ = c.cmd("RCPT TO:<b@example.test>")
    c.cmd("QUIT")
    c.close()
    return code, text


def main():
    args = dc.parse_args(__doc__)
    if not dnsmasq_available():
        print("test_daemon_worker_dns: dnsmasq not installed: skipped")
        return 77
    check = dc.Checker("daemon_worker_dns", args.v)
    settings = {"myhostname": "mx.example.test", "mynetworks": "127.0.0.1/32",
                "relay_domains": "example.test",
                "smtpd_client_restrictions": "reject_unknown_client_hostname"}
    with DnsTestServer(zones()) as dns, Sink() as sink:
        settings["dns_resolver"] = dns.resolver
        with dc.server(args, "", {}, relay=(sink.host, sink.port), settings=settings) as srv:
            code, text = session(check, srv, "127.0.0.77", "confirmed")
            check.expect(code == "250", f"confirmed: RCPT accepted: {text!r}")
            check.expect(dc.wait_log(srv, r"connect from host77\.example\.test\[127\.0\.0\.77\]"),
                         "confirmed: the worker logs the PTR name")
            code, text = session(check, srv, "127.0.0.78", "forged")
            check.expect(code == "450" and "4.7.25" in text and "cannot find your hostname" in text,
                         f"forged: Postfix's 450 4.7.25 at RCPT: {text!r}")
            check.expect(dc.wait_log(srv, r"connect from unknown\[127\.0\.0\.78\]"),
                         "forged: logged as unknown")
            check.expect(re.search(r"hostname forged78\.example\.test does not resolve to "
                                   r"address 127\.0\.0\.78", srv.log()) is not None,
                         "forged: smtpd's warning")
            return check.done(srv)


if __name__ == "__main__":
    sys.exit(main())
