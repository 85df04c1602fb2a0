"""dnsmasq.py - a private dnsmasq on 127.0.0.1:<free port> serving test zones.

    with DnsTestServer(zones) as dns:
        resolver = dns.resolver          # "127.0.0.1:PORT", for dns_resolver

`zones` is a Zones object (or None): PTR, A/AAAA, MX, TXT records and DNSBL
entries, written into a generated dnsmasq configuration; every name under
`local_domains` that is not listed answers NXDOMAIN, a listed name asked for
another type answers NODATA. dnsmasq cannot delay or fail on purpose, so a
second tiny UDP server (BlackHole, in this process's thread) takes the
domains in `zones.slow` (it swallows the queries: the client times out) and
`zones.servfail` (it answers SERVFAIL); dnsmasq forwards them there.

dnsmasq runs as our child in the foreground (--keep-in-foreground), with
its cache off, is stopped by pid (SIGTERM, then SIGKILL after 5 s) from
__exit__, stop() or an atexit hook, and its directory is removed.
Its process group is recorded with reaper.py (killed on the test's SIGTERM,
and by tools/run-tests if the test was SIGKILLed).
dnsmasq_available() says whether the program is there (tests exit 77
otherwise). Python 3 standard library only.
"""

import atexit
import ipaddress
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import reaper

DNSMASQ_PATHS = ("/usr/sbin/dnsmasq", "/usr/bin/dnsmasq")


def dnsmasq_path():
    for p in DNSMASQ_PATHS:
        if os.access(p, os.X_OK):
            return p
    return shutil.which("dnsmasq")


def dnsmasq_available():
    return dnsmasq_path() is not None


def reverse_name(addr, zone=None):
    """1.2.0.192.in-addr.arpa / nibbles.ip6.arpa, or reversed + '.' + zone."""
    ip = ipaddress.ip_address(addr)
    rev = ip.reverse_pointer  # ends in .in-addr.arpa or .ip6.arpa
    if zone is None:
        return rev
    base = rev.rsplit(".", 2)[0]
    return base + "." + zone


class Zones:
    """Records to serve. Every method returns self so calls chain."""

    def __init__(self, local_domains=("test", "in-addr.arpa", "ip6.arpa"), ttl=300):
        self.local_domains = list(local_domains)
        self.ttl = ttl
        self.lines = []
        self.slow = []
        self.servfail = []

    def ptr(self, addr, name):
        self.lines.append("ptr-record=%s,%s" % (reverse_name(addr), name))
        return self

    def addr(self, name, *addrs):
        """A and/or AAAA records for name. dnsmasq's host-record also
        answers the PTR of each address with this name (so a forged PTR
        needs its own address, and a name asked for another type gives
        NODATA, not NXDOMAIN)."""
        for a in addrs:
            # One line per address: a host-record takes at most one IPv4
            # and one IPv6 address.
            ipaddress.ip_address(a)
            self.lines.append("host-record=%s,%s" % (name, a))
        return self

    def mx(self, domain, host, pref):
        self.lines.append("mx-host=%s,%s,%d" % (domain, host, pref))
        return self

    def txt(self, name, *strings):
        quoted = ",".join('"%s"' % s.replace('"', "") for s in strings)
        self.lines.append("txt-record=%s,%s" % (name, quoted))
        return self

    def dnsbl(self, zone, addr, replies, text=None):
        """List addr in a DNSBL zone with A replies (and a TXT text)."""
        name = reverse_name(addr, zone)
        self.addr(name, *replies)
        if text is not None:
            self.txt(name, text)
        return self

    def rhsbl(self, zone, domain, replies, text=None):
        name = domain.rstrip(".") + "." + zone
        self.addr(name, *replies)
        if text is not None:
            self.txt(name, text)
        return self


class BlackHole:
    """UDP DNS server on 127.0.0.1: swallows queries for the slow domains,
    answers SERVFAIL (empty, with the question) for all others."""

    def __init__(self, slow_domains):
        self.slow = [d.lower().strip(".") for d in slow_domains]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.swallowed = 0
        self.failed = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _qname(pkt):
        labels, i = [], 12
        while i < len(pkt) and pkt[i] != 0:
            n = pkt[i]
            labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        return ".".join(labels).lower(), i + 5  # end of the question

    def _run(self):
        while not self._stop.is_set():
            try:
                pkt, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(pkt) < 12:
                continue
            name, qend = self._qname(pkt)
            if any(name == d or name.endswith("." + d) for d in self.slow):
                self.swallowed += 1
                continue
            qid, flags = struct.unpack("!HH", pkt[:4])
            flags = 0x8000 | (flags & 0x0100) | 0x0080 | 2  # QR, RD copied, RA, SERVFAIL
            reply = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + pkt[12:qend]
            self.failed += 1
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


class DnsTestServer:
    def __init__(self, zones=None, start_timeout=10.0, keep=False):
        self.zones = zones or Zones()
        self.start_timeout = start_timeout
        self.keep = keep
        self.proc = None
        self.hole = None
        self.dir = None
        self.host = "127.0.0.1"
        self.port = None

    @property
    def resolver(self):
        return "%s:%d" % (self.host, self.port)

    def _free_port(self):
        # A port free for both UDP and TCP (dnsmasq listens on both).
        for _ in range(50):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((self.host, 0))
            port = u.getsockname()[1]
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                t.bind((self.host, port))
                return port
            except OSError:
                continue
            finally:
                t.close()
                u.close()
        raise RuntimeError("no free loopback port")

    def config_text(self):
        z = self.zones
        out = [
            "port=%d" % self.port,
            "listen-address=%s" % self.host,
            "bind-interfaces",
            "no-resolv",
            "no-hosts",
            "no-poll",
            "cache-size=0",
            "local-ttl=%d" % z.ttl,
            "log-queries",
            "log-facility=%s" % os.path.join(self.dir, "dnsmasq.log"),
        ]
        if os.geteuid() == 0:
            # Stay root: as "nobody" dnsmasq could not write its log in
            # our private (0700) directory.
            out.append("user=root")
        for d in z.local_domains:
            out.append("local=/%s/" % d)
        for d in z.slow + z.servfail:
            out.append("server=/%s/127.0.0.1#%d" % (d, self.hole.port))
        out.extend(z.lines)
        return "\n".join(out) + "\n"

    def start(self):
        path = dnsmasq_path()
        if path is None:
            raise RuntimeError("dnsmasq is not installed")
        self.dir = tempfile.mkdtemp(prefix="mxdns-")
        self.hole = BlackHole(self.zones.slow)
        self.port = self._free_port()
        conf = os.path.join(self.dir, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write(self.config_text())
        self.proc = subprocess.Popen(
            [path, "--keep-in-foreground", "--conf-file=" + conf, "--pid-file="],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        reaper.record(self.proc, f"dnsmasq in {self.dir}")
        atexit.register(self.stop)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                raise RuntimeError("dnsmasq exited %d: %s" % (self.proc.returncode, err))
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("dnsmasq did not answer within %.0fs" % self.start_timeout)

    def _answers(self):
        """Is dnsmasq up? Ask for the SOA-less local name 'ready.test'."""
        q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
        q += b"\x05ready\x04test\x00" + struct.pack("!HH", 1, 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            s.sendto(q, (self.host, self.port))
            data = s.recv(512)
            return len(data) >= 12 and data[:2] == b"\x42\x42"
        except OSError:
            return False
        finally:
            s.close()

    def log(self):
        try:
            with open(os.path.join(self.dir, "dnsmasq.log")) as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            reaper.forget(self.proc)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream:
                    stream.close()
        self.proc = None
        if self.hole is not None:
            self.hole.stop()
            self.hole = None
        if self.dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
