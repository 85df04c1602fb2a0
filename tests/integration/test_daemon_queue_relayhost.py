#!/usr/bin/env python3
"""test_daemon_queue_relayhost.py - relayhost with and without MX lookup in
the queue runner, against a dnsmasq on loopback serving the records
(tests/lib/dnsmasq.py) and recording sinks on two loopback addresses:

  relay.test  MX 10 mx.relay.test;  mx.relay.test A 127.0.0.2
  relay.test  A 127.0.0.4

  * relayhost = relay.test: the MX is looked up, the message goes to
    127.0.0.2 (logged relay=mx.relay.test[127.0.0.2]:PORT), nothing to
    127.0.0.4;
  * relayhost = [relay.test]: no MX lookup, the A record: 127.0.0.4
    (relay=relay.test[127.0.0.4]:PORT), nothing to the MX.

As Postfix's smtp(8) treats the two spellings (no private Postfix here:
it would need its resolver pointed at the dnsmasq).

Usage: test_daemon_queue_relayhost.py [MXSCREEN] [-v] [--keep]
Exit: 0 pass, 1 fail, 77 no daemon or no dnsmasq.
"""

import os
import re
import sys

from daemon_common import Checker, mxlib, parse_args, wait_for
from queue_common import FAST, send_one

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))
import dnsmasq  # noqa: E402
from postfix_peer import free_port  # noqa: E402
from sink import Sink  # noqa: E402


def main():
    args = parse_args(__doc__)
    if args.postfix or not dnsmasq.dnsmasq_available():
        print("test_daemon_queue_relayhost: needs dnsmasq, runs against mxscreen only: skipped")
        return 77
    check = Checker("daemon_queue_relayhost", args.v)
    port = free_port("127.0.0.2")
    z = dnsmasq.Zones()
    z.mx("relay.test", "mx.relay.test", 10)
    z.addr("mx.relay.test", "127.0.0.2")
    z.addr("relay.test", "127.0.0.4")
    srv = None
    with dnsmasq.DnsTestServer(z) as dns, Sink(host="127.0.0.2", port=port) as mx, \
            Sink(host="127.0.0.4", port=port) as a:
        for relayhost, want, other, host, addr in (
                ("relay.test", mx, a, "mx.relay.test", "127.0.0.2"),
                ("[relay.test]", a, mx, "relay.test", "127.0.0.4")):
            n_want, n_other = len(want.messages), len(other.messages)
            settings = dict(FAST, dns_resolver=dns.resolver, smtp_tcp_port=str(port),
                            relayhost=relayhost)
            with mxlib.MxscreenInstance(settings=settings, binary=args.binary,
                                        keep=args.keep) as srv:
                qid = send_one(srv, relayhost)
                check.expect(qid, f"{relayhost}: queued")
                got = want.wait_messages(n_want + 1, timeout=20)
                check.expect(len(got) == n_want + 1, f"{relayhost}: delivered to {addr}")
                line = wait_for(lambda: re.search(
                    r"\b%s: to=<r@example\.net>, relay=%s\[%s\]:%d, .*status=sent"
                    % (qid, re.escape(host), re.escape(addr), port), srv.log()), 10)
                check.expect(line, f"{relayhost}: logged relay={host}[{addr}]:{port}")
                check.expect(len(other.messages) == n_other, f"{relayhost}: nothing elsewhere")
    return check.done(srv)


if __name__ == "__main__":
    sys.exit(main())
