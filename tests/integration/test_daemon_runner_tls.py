#!/usr/bin/env python3
"""test_daemon_runner_tls.py - STARTTLS, AUTH and the shared TLS session
cache through the queue runner (delivery_mode = queue): every message is
acknowledged and spooled by a worker and delivered later by the runner
process, so these are the runner's next-hop connections, not the proxy's.

Usage: test_daemon_runner_tls.py [MXSCREEN] [MXSCREEN_MAP] [-v] [--keep]

A CA and relay.example.test signed by it are made with the openssl CLI
(test_daemon_client_tls.make_pki); the next hop is that test's recording
server (NextHop) or Python's aiosmtpd (Debian's python3-aiosmtpd) for AUTH.
Parts, each with its own daemon, relayhost = [127.0.0.1]:PORT:
  * verify: smtp_tls_CAfile with the test CA and a matching
    smtp_tls_verify_cert_match: delivered over TLS, "Verified TLS
    connection established to";
  * verify, wrong name: "Server certificate not verified", the message
    deferred (still queued in deferred/), never bounced, no MAIL sent;
  * secure with the default match (nexthop, dot-nexthop = 127.0.0.1):
    deferred the same way;
  * encrypt against a server without STARTTLS: deferred "TLS is required,
    but was not offered by host", no MAIL;
  * the session cache (smtp_tls_session_cache_database =
    btree:$data_directory/smtp_scache, the LMDB every process shares): a
    first delivery makes a full handshake ("Untrusted TLS connection
    established to"); the runner is replaced (reload: a new runner
    process, its memory gone) and the next delivery resumes the session
    ("Untrusted TLS connection reused to", logged by the new pid);
  * AUTH PLAIN over STARTTLS to aiosmtpd (it offers AUTH only after TLS)
    with smtp_sasl_password_maps = hash:... keyed "[127.0.0.1]:PORT":
    the authenticator sees the right credentials on a TLS session;
  * AUTH LOGIN in plaintext with smtp_sasl_security_options = noanonymous;
  * the default options (noplaintext) against a server offering AUTH
    without TLS: the authenticator is never called, no credentials on
    the wire, the message deferred with "no mechanism available".
Next MX (no relayhost, relay_domains, MX records from a dnsmasq on
loopback): MX 10 refuses connections, MX 20 greets with 421, MX 30 answers
RCPT with 450, MX 40 accepts. With smtp_mx_session_limit = 2 the message
goes to MX 40 (the refused and the 421 sessions do not count, the 450 at a
server that is not the last keeps the recipient: "QUEUEID: host ... said:
450"); with smtp_mx_session_limit = 1 the 450 is final: deferred, MX 40
never contacted.

Exit: 0 pass, 1 fail, 77 no daemon, openssl or aiosmtpd.
"""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon_client_tls as ct  # noqa: E402  (make_pki, NextHop)
from daemon_common import Checker, mxlib, wait_for  # noqa: E402

try:
    import aiosmtpd  # noqa: F401
except ImportError:
    # the test may run under another python3 than Debian's, which holds it
    sys.path.append("/usr/lib/python3/dist-packages")
try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
except ImportError:
    Controller = None

VERBOSE = "-v" in sys.argv
KEEP = "--keep" in sys.argv
ARGS = [a for a in sys.argv[1:] if not a.startswith("-")]
BINARY = ARGS[0] if ARGS else None
MAPPER = ARGS[1] if len(ARGS) > 1 else None

FAST = {
    "delivery_mode": "queue",
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "queue_run_delay": "1s",
    "myhostname": "backup.example.test",
    "smtp_tls_loglevel": "1",
}
FROM, RCPT = ct.FROM, ct.RCPT
USER, PASSWORD = ct.USER, ct.PASSWORD


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def server(port, settings):
    s = dict(FAST)
    s.update(settings)
    return mxlib.MxscreenInstance(settings=s, relay=("127.0.0.1", port) if port else None,
                                  binary=BINARY, keep=KEEP)


def send(srv, tag):
    """Send one message; returns its queue id (None when not acknowledged)."""
    import smtplib
    with smtplib.SMTP(srv.host, srv.port, timeout=20) as c:
        c.ehlo("client.example.org")
        c.mail(FROM)
        c.rcpt(RCPT)
        code, text = c.data(ct.message(tag))
        m = re.search(rb"queued as (\w+)", text)
        return m.group(1).decode() if code == 250 and m else None


def deferred_files(srv):
    d = os.path.join(srv.dir, "queue", "deferred")
    return [f for f in os.listdir(d) if not f.startswith(".")]


class QChecker(Checker):
    def expect(self, cond, msg, srv=None):
        ok = super().expect(cond, msg)
        if not ok and srv is not None:
            print("--- log tail:\n" + "\n".join(srv.log().splitlines()[-25:]), flush=True)
        return ok


# ---- TLS levels through the runner --------------------------------------------------

def delivered(check, srv, hop, qid, name, log_has=()):
    ok = wait_for(lambda: re.search(qid + r": to=<" + re.escape(RCPT) + r">, relay=.*status=sent",
                                    srv.log()), 20)
    check.expect(ok, f"{name}: {qid} status=sent by the runner", srv)
    got = [m for m in hop.messages() if f"<{name}@example.org>".encode() in m]
    check.expect(len(got) == 1, f"{name}: the message arrived once", srv)
    check.expect(any(c["tls"] for c in hop.conns if c["messages"]),
                 f"{name}: over TLS", srv)
    for s in log_has:
        check.expect(s in srv.log(), f"{name}: log has {s!r}", srv)


def refused(check, srv, hop, qid, name, why, before):
    ok = wait_for(lambda: re.search(qid + r": to=<" + re.escape(RCPT) + r">, relay=.*status="
                                    r"deferred \(" + re.escape(why), srv.log()), 20)
    check.expect(ok, f"{name}: {qid} deferred ({why})", srv)
    check.expect(wait_for(lambda: qid in deferred_files(srv), 10),
                 f"{name}: {qid} waits in deferred/", srv)
    check.expect("status=bounced" not in srv.log() and "non-delivery" not in srv.log(),
                 f"{name}: never bounced", srv)
    check.expect(not any(c.startswith("MAIL") for cn in hop.conns[before:] for c in cn["cmds"]),
                 f"{name}: no MAIL reached the next hop", srv)


def test_levels(check, p):
    good = (p("srv.pem"), p("srv.key"))
    verify = {"smtp_tls_security_level": "verify", "smtp_tls_CAfile": p("ca.pem")}
    hop = ct.NextHop(starttls=True, cert=good)
    try:
        with server(hop.port, dict(verify, smtp_tls_verify_cert_match="relay.example.test")) as srv:
            qid = send(srv, "verify_good")
            check.expect(qid, "verify_good: acknowledged", srv)
            delivered(check, srv, hop, qid or "?", "verify_good",
                      [f"Verified TLS connection established to 127.0.0.1[127.0.0.1]:{hop.port}"])
        before = len(hop.conns)
        with server(hop.port, dict(verify, smtp_tls_verify_cert_match="other.example.test")) as srv:
            qid = send(srv, "verify_wrong")
            refused(check, srv, hop, qid or "?", "verify_wrong", "Server certificate not verified",
                    before)
            check.expect("num=62:hostname mismatch" in srv.log(), "verify_wrong: Postfix's "
                         "certificate verification line", srv)
        before = len(hop.conns)
        with server(hop.port, {"smtp_tls_security_level": "secure",
                               "smtp_tls_CAfile": p("ca.pem")}) as srv:
            qid = send(srv, "secure_nexthop")
            refused(check, srv, hop, qid or "?", "secure_nexthop",
                    "Server certificate not verified", before)
    finally:
        hop.stop()
    hop = ct.NextHop(starttls=False)
    try:
        with server(hop.port, {"smtp_tls_security_level": "encrypt"}) as srv:
            qid = send(srv, "encrypt_plain")
            refused(check, srv, hop, qid or "?", "encrypt_plain",
                    "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]", 0)
    finally:
        hop.stop()


# ---- the shared session cache across runner processes -------------------------------

def runner_pid_of(log, pattern):
    m = re.search(r"mxscreen/\w+\[(\d+)\]: " + pattern, log)
    return int(m.group(1)) if m else None


def test_session_cache(check, p):
    hop = ct.NextHop(starttls=True, cert=(p("srv.pem"), p("srv.key")))
    settings = {"smtp_tls_security_level": "may",
                "smtp_tls_session_cache_database": "btree:$data_directory/smtp_scache"}
    est = re.escape(f"Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:{hop.port}")
    reu = re.escape(f"Untrusted TLS connection reused to 127.0.0.1[127.0.0.1]:{hop.port}")
    try:
        with server(hop.port, settings) as srv:
            q1 = send(srv, "cache_first")
            delivered(check, srv, hop, q1 or "?", "cache_first")
            pid1 = runner_pid_of(srv.log(), est)
            check.expect(pid1 is not None, "cache_first: a full handshake", srv)
            check.expect(os.path.exists(os.path.join(srv.dir, "data", "smtp_scache.lmdb")),
                         "the cache is data_directory/smtp_scache.lmdb", srv)
            # a new runner process: nothing of the old one's memory survives
            os.kill(srv.pid, signal.SIGHUP)
            check.expect(wait_for(lambda: "generation 2 serves" in srv.log(), 15), "reloaded",
                         srv)
            q2 = send(srv, "cache_second")
            delivered(check, srv, hop, q2 or "?", "cache_second")
            pid2 = wait_for(lambda: runner_pid_of(srv.log(), reu), 5)
            check.expect(pid2 is not None, "cache_second: the session was resumed "
                         "('Untrusted TLS connection reused to')", srv)
            check.expect(pid2 is not None and pid2 != pid1,
                         f"cache_second: by another process ({pid1} then {pid2})", srv)
    finally:
        hop.stop()


# ---- AUTH through the runner (aiosmtpd) ----------------------------------------------

class AuthHop:
    """aiosmtpd on 127.0.0.1 recording AUTH attempts and messages."""

    def __init__(self, tls_ctx=None, require_tls=True):
        self.attempts = []   # (mechanism, login, password, tls)
        self.messages = []   # (content, tls, authenticated)
        hop = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                hop.messages.append((envelope.content, bool(session.ssl),
                                     bool(session.authenticated)))
                return "250 2.0.0 Ok: queued"

        def authenticator(server, session, envelope, mechanism, data):
            login = getattr(data, "login", b"") or b""
            pw = getattr(data, "password", b"") or b""
            hop.attempts.append((mechanism, login, pw, bool(session.ssl)))
            ok = login.decode(errors="replace") == USER and pw.decode(errors="replace") == PASSWORD
            return AuthResult(success=ok)

        self.port = free_port()
        self.ctl = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                              tls_context=tls_ctx, authenticator=authenticator,
                              auth_require_tls=require_tls, ready_timeout=10)
        self.ctl.start()

    def stop(self):
        self.ctl.stop()


def password_map(tmp, port, pw=PASSWORD):
    src = os.path.join(tmp, f"sasl_passwd_{port}")
    with open(src, "w") as f:
        f.write(f"[127.0.0.1]:{port} {USER}:{pw}\n")
    subprocess.run([MAPPER, f"hash:{src}"], check=True, timeout=30)
    for n in os.listdir(tmp):
        os.chmod(os.path.join(tmp, n), 0o644)
    return f"hash:{src}"


def test_auth(check, p, tmp):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(p("srv.pem"), p("srv.key"))

    hop = AuthHop(tls_ctx=ctx, require_tls=True)
    try:
        sasl = {"smtp_sasl_auth_enable": "yes", "smtp_sasl_password_maps":
                password_map(tmp, hop.port), "smtp_tls_security_level": "encrypt",
                # Postfix defaults it to $smtp_sasl_security_options (noplaintext)
                "smtp_sasl_tls_security_options": "noanonymous"}
        with server(hop.port, sasl) as srv:
            qid = send(srv, "auth_plain_tls")
            ok = wait_for(lambda: re.search((qid or "?") + r": to=.*status=sent", srv.log()), 20)
            check.expect(ok, "auth_plain_tls: delivered by the runner", srv)
            check.expect(hop.attempts[:1] == [("PLAIN", USER.encode(), PASSWORD.encode(), True)],
                         f"auth_plain_tls: PLAIN with the map's credentials over TLS "
                         f"({hop.attempts})", srv)
            check.expect(len(hop.messages) == 1 and hop.messages[0][1] and hop.messages[0][2],
                         "auth_plain_tls: the message came on the TLS, authenticated session", srv)
    finally:
        hop.stop()

    hop = AuthHop(require_tls=False)
    try:
        sasl = {"smtp_sasl_auth_enable": "yes", "smtp_sasl_password_maps":
                password_map(tmp, hop.port), "smtp_sasl_security_options": "noanonymous",
                "smtp_sasl_mechanism_filter": "login"}
        with server(hop.port, sasl) as srv:
            qid = send(srv, "auth_login_plain")
            ok = wait_for(lambda: re.search((qid or "?") + r": to=.*status=sent", srv.log()), 20)
            check.expect(ok, "auth_login_plain: delivered by the runner", srv)
            check.expect(hop.attempts[:1] == [("LOGIN", USER.encode(), PASSWORD.encode(), False)],
                         f"auth_login_plain: LOGIN in plaintext, allowed by the options "
                         f"({hop.attempts})", srv)
    finally:
        hop.stop()

    hop = AuthHop(require_tls=False)
    try:
        sasl = {"smtp_sasl_auth_enable": "yes", "smtp_sasl_password_maps":
                password_map(tmp, hop.port)}
        with server(hop.port, sasl) as srv:
            qid = send(srv, "noplaintext")
            ok = wait_for(lambda: re.search(
                (qid or "?") + r": to=.*status=deferred \(SASL authentication failed; cannot "
                r"authenticate to server 127\.0\.0\.1\[127\.0\.0\.1\]: no mechanism available",
                srv.log()), 20)
            check.expect(ok, "noplaintext: deferred, no mechanism available", srv)
            check.expect(not hop.attempts and not hop.messages,
                         f"noplaintext: no credentials reached the server ({hop.attempts})", srv)
            check.expect(wait_for(lambda: (qid or "?") in deferred_files(srv), 10),
                         "noplaintext: still queued", srv)
    finally:
        hop.stop()


# ---- next MX -------------------------------------------------------------------------

def test_next_mx(check):
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
    import dnsmasq
    from sink import Sink
    if not dnsmasq.dnsmasq_available():
        print("skip next MX: dnsmasq not installed")
        return
    s = socket.socket()
    s.bind(("127.0.0.3", 0))
    port = s.getsockname()[1]
    s.close()
    z = dnsmasq.Zones()
    for pref, name, ip in ((10, "a", "127.0.0.2"), (20, "b", "127.0.0.3"), (30, "c", "127.0.0.4"),
                           (40, "d", "127.0.0.5")):
        z.mx("example.test", f"{name}.example.test", pref)
        z.addr(f"{name}.example.test", ip)
    with dnsmasq.DnsTestServer(z) as dns, \
            Sink(host="127.0.0.3", port=port, replies={"connect": "421 4.3.2 busy"}) as b, \
            Sink(host="127.0.0.4", port=port, replies={"rcpt": "450 4.2.0 try later"}) as c, \
            Sink(host="127.0.0.5", port=port) as d:
        base = {"dns_resolver": dns.resolver, "smtp_tcp_port": str(port),
                "relay_domains": "example.test", "smtp_tls_security_level": "none"}
        with server(None, base) as srv:
            qid = send(srv, "nextmx") or "?"
            msgs = d.wait_messages(1, timeout=20)
            check.expect(len(msgs) == 1 and b"<nextmx@example.org>" in msgs[0].data,
                         "session limit 2: delivered by MX 40", srv)
            log = srv.log()
            check.expect(re.search(r"connect to a\.example\.test\[127\.0\.0\.2\]:\d+: "
                                   r"Connection refused", log), "MX 10: connection refused", srv)
            check.expect("host b.example.test[127.0.0.3] refused to talk to me: 421" in log,
                         "MX 20: 421 greeting, skipped", srv)
            check.expect(f"{qid}: host c.example.test[127.0.0.4] said: 450 4.2.0 try later "
                         "(in reply to RCPT TO command)" in log,
                         "MX 30: 450 to RCPT at a non-final server: kept, logged", srv)
            check.expect(wait_for(lambda: re.search(
                qid + r": to=<user@example.test>, relay=d\.example\.test\[127\.0\.0\.5\]:\d+,"
                r".*status=sent", srv.log()), 10), "status=sent by MX 40", srv)
            check.expect("status=deferred" not in srv.log(), "nothing deferred", srv)
            check.expect(not c.messages, "MX 30 got no message", srv)
        nd = len(d.sessions)
        with server(None, dict(base, smtp_mx_session_limit="1")) as srv:
            qid = send(srv, "nextmx1") or "?"
            check.expect(wait_for(lambda: re.search(
                qid + r": to=<user@example.test>, relay=c\.example\.test\[127\.0\.0\.4\]:\d+,"
                r".*status=deferred \(host c\.example\.test\[127\.0\.0\.4\] said: 450 4\.2\.0",
                srv.log()), 20), "session limit 1: the 450 at MX 30 is final, deferred", srv)
            check.expect(len(d.sessions) == nd, "MX 40 never contacted", srv)


# ---- connection reuse ------------------------------------------------------------------

def test_reuse(check):
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
    from sink import Sink
    port = free_port()
    one = {"smtp_destination_concurrency_limit": "1", "initial_destination_concurrency": "1",
           "smtp_tls_security_level": "none"}
    for on_demand, want in (("yes", 1), ("no", 6)):
        with server(port, dict(one, smtp_connection_cache_on_demand=on_demand)) as srv:
            qids = [send(srv, f"reuse_{on_demand}_{i}") for i in range(6)]
            check.expect(all(qids), "6 acknowledged", srv)
            check.expect(wait_for(lambda: srv.log().count("status=deferred") >= 6, 15),
                         "deferred while the next hop is down (a backlog builds)", srv)
            with Sink(port=port) as sink:
                subprocess.run([os.path.join(os.path.dirname(MAPPER), "mxscreen-ctl"), "-c",
                                srv.conf_dir, "flush"], capture_output=True, timeout=20)
                msgs = sink.wait_messages(6, timeout=20)
                check.expect(len(msgs) == 6, f"on_demand={on_demand}: 6 delivered", srv)
                n = len(sink.sessions)
                check.expect(n == want, f"on_demand={on_demand}: over {want} connection(s), "
                             f"got {n}", srv)
                if want == 1 and sink.sessions:
                    cmds = [ln.split(" ")[0].upper() for who, ln in sink.sessions[0].log
                            if who == "C"]
                    check.expect(cmds.count("RSET") == 5 and cmds.count("MAIL") == 6,
                                 f"RSET between the 6 transactions ({cmds.count('RSET')})", srv)
                # smtp(8)'s "relay=..., conn_use=N, delay=": 2..6 on the reused connection
                wait_for(lambda: srv.log().count("status=sent") >= 6, 10)
                uses = sorted(int(m.group(1) or 1) for m in re.finditer(
                    r": to=<[^>]*>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, (?:conn_use=(\d+), )?"
                    r"delay=.*status=sent", srv.log()))
                if want == 1:
                    check.expect(uses == [1, 2, 3, 4, 5, 6], f"conn_use=2..6 logged ({uses})", srv)
                else:
                    check.expect(uses == [1] * 6, f"no conn_use without reuse ({uses})", srv)


def main():
    global MAPPER
    check = QChecker("daemon_runner_tls", verbose=VERBOSE)
    if not BINARY and not mxlib.find_binary():
        print("skip: no mxscreen binary")
        return 77
    if not shutil.which("openssl"):
        print("skip: no openssl CLI")
        return 77
    if not MAPPER:
        MAPPER = os.path.join(os.path.dirname(os.path.dirname(BINARY or mxlib.find_binary())),
                              "tools", "mxscreen-map")
    tmp = tempfile.mkdtemp(prefix="mx-runner-tls-")
    os.chmod(tmp, 0o755)
    only = os.environ.get("RTLS_ONLY")
    try:
        p = ct.make_pki(tmp)
        parts = [("nextmx", lambda: test_next_mx(check)),
                 ("reuse", lambda: test_reuse(check)),
                 ("levels", lambda: test_levels(check, p)),
                 ("cache", lambda: test_session_cache(check, p))]
        if Controller is not None:
            parts.append(("auth", lambda: test_auth(check, p, tmp)))
        else:
            print("skip auth parts: python3-aiosmtpd not installed")
        for name, fn in parts:
            if only and name not in only.split(","):
                continue
            t0 = time.monotonic()
            fn()
            if VERBOSE:
                print(f"{name}: {time.monotonic() - t0:.1f}s")
    finally:
        if not KEEP:
            shutil.rmtree(tmp, ignore_errors=True)
    return check.done()


if __name__ == "__main__":
    threading.excepthook = lambda a: None  # a next hop's thread dying is not a test result
    sys.exit(main())
