#!/usr/bin/env python3
"""test_daemon_client_tls.py - STARTTLS and AUTH from the daemon to its next hop.

Usage: test_daemon_client_tls.py [MXSCREEN_BINARY] [MXSCREEN_CTL] [--keep] [-v]

The next hop is a small SMTP server written here (threads, Python's ssl)
that records, per connection, whether TLS was on, the AUTH lines it got and
the messages. A CA and two server certificates are made with the openssl
CLI: relay.example.test signed by the CA, and a self-signed one. The
daemon relays (delivery_mode = proxy) to relayhost = [127.0.0.1]:PORT with
smtp_tls_loglevel = 1. Parts, each with its own daemon:
  * may, STARTTLS offered: the message arrives over TLS, intact, and the
    log says "Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:PORT";
  * may with smtp_tls_session_cache_database: a second connection, opened
    while the first is busy, resumes the first one's session ("Untrusted
    TLS connection reused to");
  * may, not offered: it arrives in plaintext;
  * encrypt, not offered: the client gets a 4xx at RCPT, the server no MAIL,
    the log "TLS is required, but was not offered by host";
  * verify with smtp_tls_CAfile: the CA's certificate and a matching
    smtp_tls_verify_cert_match name pass ("Verified TLS connection
    established"); a wrong name gets 4xx and "Server certificate not
    verified"; the self-signed certificate "Server certificate not trusted";
  * secure: smtp_tls_secure_cert_match = .example.test (any subdomain)
    passes, the default "nexthop, dot-nexthop" (127.0.0.1) does not;
  * AUTH PLAIN over TLS with a hash: password map built by mxscreen-map and
    keyed "[127.0.0.1]:PORT", smtp_sasl_tls_security_options = noanonymous:
    the server checks the credentials, the message arrives;
  * AUTH LOGIN in plaintext with smtp_sasl_security_options = noanonymous;
  * a wrong password: the server's 535, the client's 4xx, the log's "SASL
    authentication failed; server 127.0.0.1[127.0.0.1] said: 535";
  * the default options (noplaintext) without TLS: no AUTH line ever
    reaches the server, the client gets 4xx.

Exit: 0 pass, 1 fail, 77 no daemon binary or no openssl.
"""

import base64
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import life_common as lc

FROM = "sender@example.org"
RCPT = "user@example.test"
USER, PASSWORD = "relayuser@example.org", "s3cret:with:colons"


# ---- certificates -------------------------------------------------------------

def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60,
                   stdin=subprocess.DEVNULL)


def make_pki(d):
    """CA, relay.example.test signed by it, and a self-signed certificate."""
    p = lambda n: os.path.join(d, n)  # noqa: E731
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key"), "-out",
            p("ca.pem"), "-days", "2", "-subj", "/CN=Test CA")
    with open(p("ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:relay.example.test\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("srv.key"), "-out", p("srv.csr"),
            "-subj", "/CN=relay.example.test")
    openssl("x509", "-req", "-in", p("srv.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
            "-CAcreateserial", "-out", p("srv.pem"), "-days", "2", "-extfile", p("ext.cnf"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("self.key"), "-out",
            p("self.pem"), "-days", "2", "-subj", "/CN=relay.example.test")
    for n in os.listdir(d):
        os.chmod(p(n), 0o644)
    return p


# ---- the next hop ---------------------------------------------------------------

class NextHop:
    """A recording SMTP server: starttls (offer it), cert (ssl context files),
    auth ("" none, "PLAIN LOGIN", ...)."""

    def __init__(self, starttls=True, cert=None, auth=""):
        self.starttls = starttls
        self.auth = auth
        self.ctx = None
        if cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert[0], cert[1])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.conns = []      # per connection: dict(tls, auth=[lines], messages=[bytes], cmds=[])
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_flag:
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def stop(self):
        self.stop_flag = True
        self.sock.close()
        self.thread.join(5)

    def messages(self):
        return [m for c in self.conns for m in c["messages"]]

    def _serve(self, s):
        rec = {"tls": False, "auth": [], "messages": [], "cmds": [], "authed": False}
        self.conns.append(rec)
        s.settimeout(20)
        f = s.makefile("rb")

        def send(line):
            s.sendall(line.encode() + b"\r\n")

        def readline():
            ln = f.readline(4096)
            if not ln:
                raise EOFError
            return ln.rstrip(b"\r\n").decode("latin-1")

        try:
            send("220 relay.example.test ESMTP test")
            while True:
                line = readline()
                rec["cmds"].append(line)
                verb = line.split(" ")[0].upper()
                if verb == "EHLO":
                    caps = ["relay.example.test"]
                    if self.starttls and not rec["tls"]:
                        caps.append("STARTTLS")
                    if self.auth:
                        caps.append("AUTH " + self.auth)
                    caps.append("8BITMIME")
                    for c in caps[:-1]:
                        send("250-" + c)
                    send("250 " + caps[-1])
                elif verb == "STARTTLS" and self.starttls and not rec["tls"]:
                    send("220 2.0.0 Ready to start TLS")
                    s = self.ctx.wrap_socket(s, server_side=True)
                    s.settimeout(20)
                    f = s.makefile("rb")
                    rec["tls"] = True
                elif verb == "AUTH":
                    rec["auth"].append((line, rec["tls"]))
                    parts = line.split(" ")
                    mech = parts[1].upper() if len(parts) > 1 else ""
                    if mech == "PLAIN" and len(parts) == 3:
                        raw = base64.b64decode(parts[2])
                        _, user, pw = raw.split(b"\0")
                    elif mech == "LOGIN":
                        send("334 VXNlcm5hbWU6")
                        u = readline()
                        rec["auth"].append((u, rec["tls"]))
                        send("334 UGFzc3dvcmQ6")
                        p = readline()
                        rec["auth"].append((p, rec["tls"]))
                        user, pw = base64.b64decode(u), base64.b64decode(p)
                    else:
                        send("504 5.5.4 Unrecognized authentication type")
                        continue
                    if user.decode() == USER and pw.decode() == PASSWORD:
                        rec["authed"] = True
                        send("235 2.7.0 Authentication successful")
                    else:
                        send("535 5.7.8 Error: authentication failed: bad credentials")
                elif verb == "MAIL":
                    if self.auth and not rec["authed"]:
                        send("530 5.7.0 Authentication required")
                    else:
                        send("250 2.1.0 Ok")
                elif verb in ("RCPT", "RSET", "NOOP"):
                    send("250 2.1.5 Ok")
                elif verb == "DATA":
                    send("354 End data with <CR><LF>.<CR><LF>")
                    data = b""
                    while True:
                        ln = f.readline(65536)
                        if not ln:
                            raise EOFError
                        if ln == b".\r\n":
                            break
                        data += ln[1:] if ln.startswith(b".") else ln
                    rec["messages"].append(data)
                    send("250 2.0.0 Ok: queued as NH%d" % len(rec["messages"]))
                elif verb == "QUIT":
                    send("221 2.0.0 Bye")
                    break
                else:
                    send("502 5.5.2 Error: command not recognized")
        except (EOFError, OSError, ValueError, ssl.SSLError):
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass


# ---- parts ---------------------------------------------------------------------

def message(tag):
    body = "".join(f"line {i} of {tag} .dot\r\n" for i in range(50))
    return (f"From: <{FROM}>\r\nTo: <{RCPT}>\r\nSubject: {tag}\r\n"
            f"Message-ID: <{tag}@example.org>\r\n\r\n.leading dot\r\n{body}").encode()


def send_one(srv, tag):
    """(code of RCPT, code of the end of DATA or None)."""
    with smtplib.SMTP(srv.host, srv.port, timeout=30) as c:
        c.ehlo("client.example.org")
        c.mail(FROM)
        code, _ = c.rcpt(RCPT)
        if code != 250:
            return code, None
        code, _ = c.data(message(tag))
        return 250, code


class Env:
    def __init__(self, args, pki, mapfile):
        self.args, self.pki, self.mapfile = args, pki, mapfile


def run_part(env, ck, name, hop, settings, expect_ok, log_has=(), log_not=()):
    srv = lc.instance(env.args, lc.BASE_MAIN_CF, relay=("127.0.0.1", hop.port),
                      settings=dict(settings, smtp_tls_loglevel="1"))
    before = len(hop.conns)
    try:
        srv.start()
        rcpt, end = send_one(srv, name)
        if expect_ok:
            ck.expect(rcpt == 250 and end == 250, f"{name}: delivered (RCPT {rcpt}, end {end})")
            got = [m for m in hop.messages() if f"<{name}@example.org>".encode() in m]
            ck.expect(len(got) == 1 and got[0].endswith(message(name).split(b"\r\n\r\n", 1)[1]),
                      f"{name}: the message arrived intact at the next hop")
        else:
            ck.expect(rcpt is not None and 400 <= rcpt < 500,
                      f"{name}: the client got a 4xx at RCPT (got {rcpt})")
            ck.expect(not any(c.startswith("MAIL") for cn in hop.conns[before:] for c in cn["cmds"]),
                      f"{name}: no MAIL reached the next hop")
        log = ""
        for s in log_has:
            log = lc.wait_for(lambda: s in srv.log() and srv.log(), 5) or srv.log()
            ck.expect(s in log, f"{name}: log has {s!r}")
        for s in log_not:
            ck.expect(s not in srv.log(), f"{name}: log has no {s!r}")
    finally:
        srv.stop()
        if ck.failures and env.args.v:
            print(srv.log()[-3000:])
    return srv


def session_reuse(env, ck, hop, p):
    """smtp_tls_session_cache_database set: a second connection to the
    same next hop, opened while the first is busy, resumes its session."""
    srv = lc.instance(env.args, lc.BASE_MAIN_CF, relay=("127.0.0.1", hop.port),
                      settings={"smtp_tls_security_level": "may", "smtp_tls_loglevel": "1",
                                "smtp_tls_session_cache_database": "btree:$data_directory/smtp_scache"})
    try:
        srv.start()
        with smtplib.SMTP(srv.host, srv.port, timeout=30) as a:
            a.ehlo("a.example.org")
            a.mail(FROM)
            ck.expect(a.rcpt(RCPT)[0] == 250, "session_reuse: first RCPT")
            with smtplib.SMTP(srv.host, srv.port, timeout=30) as b:
                b.ehlo("b.example.org")
                b.mail(FROM)
                ck.expect(b.rcpt(RCPT)[0] == 250, "session_reuse: second RCPT")
                ck.expect(b.data(message("reuse_b"))[0] == 250, "session_reuse: second delivered")
            ck.expect(a.data(message("reuse_a"))[0] == 250, "session_reuse: first delivered")
        want = f"Untrusted TLS connection reused to 127.0.0.1[127.0.0.1]:{hop.port}"
        ck.expect(lc.wait_for(lambda: want in srv.log(), 5), f"session_reuse: log has {want!r}")
        ck.expect(f"Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:{hop.port}"
                  in srv.log(), "session_reuse: the first connection made a full handshake")
    finally:
        srv.stop()


def main():
    args = lc.parse_args(__doc__)
    ck = lc.Checker("daemon_client_tls", args.v)
    if not shutil.which("openssl"):
        print("test_daemon_client_tls: no openssl CLI: skipped")
        return 77
    mapper = os.path.join(os.path.dirname(os.path.dirname(args.binary)), "tools", "mxscreen-map")
    tmp = tempfile.mkdtemp(prefix="mx-client-tls-")
    os.chmod(tmp, 0o755)
    try:
        p = make_pki(tmp)
        good, self_signed = (p("srv.pem"), p("srv.key")), (p("self.pem"), p("self.key"))
        env = Env(args, p, None)

        # ---- TLS levels
        hop = NextHop(starttls=True, cert=good)
        run_part(env, ck, "may_offered", hop, {"smtp_tls_security_level": "may"}, True,
                 log_has=[f"Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:{hop.port}: TLSv1.3 with cipher"])
        ck.expect(hop.conns and all(c["tls"] for c in hop.conns if c["messages"]),
                  "may_offered: the message went over TLS")
        hop.stop()

        hop = NextHop(starttls=True, cert=good)
        session_reuse(env, ck, hop, p)
        hop.stop()

        hop = NextHop(starttls=False)
        run_part(env, ck, "may_plain", hop, {"smtp_tls_security_level": "may"}, True)
        hop.stop()

        hop = NextHop(starttls=False)
        run_part(env, ck, "encrypt_not_offered", hop, {"smtp_tls_security_level": "encrypt"},
                 False, log_has=["dsn=4.7.4, status=deferred (TLS is required, but was not "
                                 "offered by host 127.0.0.1[127.0.0.1])"])
        hop.stop()

        verify = {"smtp_tls_security_level": "verify", "smtp_tls_CAfile": p("ca.pem")}
        hop = NextHop(starttls=True, cert=good)
        run_part(env, ck, "verify_good", hop,
                 dict(verify, smtp_tls_verify_cert_match="hostname, relay.example.test"), True,
                 log_has=["Verified TLS connection established to 127.0.0.1[127.0.0.1]"])
        run_part(env, ck, "verify_wrong_name", hop,
                 dict(verify, smtp_tls_verify_cert_match="other.example.test"), False,
                 log_has=["num=62:hostname mismatch",
                          "status=deferred (Server certificate not verified)"])
        hop.stop()
        hop = NextHop(starttls=True, cert=self_signed)
        run_part(env, ck, "verify_untrusted", hop,
                 dict(verify, smtp_tls_verify_cert_match="relay.example.test"), False,
                 log_has=["certificate verification failed for 127.0.0.1[127.0.0.1]",
                          "status=deferred (Server certificate not trusted)"])
        hop.stop()

        secure = {"smtp_tls_security_level": "secure", "smtp_tls_CAfile": p("ca.pem")}
        hop = NextHop(starttls=True, cert=good)
        run_part(env, ck, "secure_dot_domain", hop,
                 dict(secure, smtp_tls_secure_cert_match=".example.test"), True,
                 log_has=["Verified TLS connection established"])
        run_part(env, ck, "secure_default_nexthop", hop, secure, False,
                 log_has=["Server certificate not verified"])
        hop.stop()

        # ---- SASL: the map keyed as Postfix looks it up, "[host]:port"
        hop = NextHop(starttls=True, cert=good, auth="PLAIN LOGIN")
        src = os.path.join(tmp, "sasl_passwd")
        with open(src, "w") as f:
            f.write(f"[127.0.0.1]:{hop.port} {USER}:{PASSWORD}\n")
        subprocess.run([mapper, f"hash:{src}"], check=True, timeout=30)
        for n in os.listdir(tmp):
            os.chmod(os.path.join(tmp, n), 0o644)
        sasl = {"smtp_sasl_auth_enable": "yes", "smtp_sasl_password_maps": f"hash:{src}"}
        run_part(env, ck, "auth_plain_tls", hop,
                 dict(sasl, smtp_tls_security_level="encrypt",
                      smtp_sasl_tls_security_options="noanonymous"), True)
        auths = [a for c in hop.conns for a in c["auth"]]
        ck.expect(any(a[0].startswith("AUTH PLAIN ") and a[1] for a in auths),
                  f"auth_plain_tls: AUTH PLAIN went over TLS ({auths})")
        hop.stop()

        hop = NextHop(starttls=False, auth="LOGIN")
        with open(src, "w") as f:
            f.write(f"[127.0.0.1]:{hop.port} {USER}:{PASSWORD}\n")
        subprocess.run([mapper, f"hash:{src}"], check=True, timeout=30)
        run_part(env, ck, "auth_login_plain", hop,
                 dict(sasl, smtp_sasl_security_options="noanonymous"), True)
        auths = [a[0] for c in hop.conns for a in c["auth"]]
        ck.expect(auths[:1] == ["AUTH LOGIN"] and len(auths) == 3,
                  f"auth_login_plain: AUTH LOGIN, user, password ({auths})")
        hop.stop()

        hop = NextHop(starttls=False, auth="PLAIN LOGIN")
        with open(src, "w") as f:
            f.write(f"[127.0.0.1]:{hop.port} {USER}:wrong-password\n")
        subprocess.run([mapper, f"hash:{src}"], check=True, timeout=30)
        run_part(env, ck, "auth_wrong_password", hop,
                 dict(sasl, smtp_sasl_security_options="noanonymous"), False,
                 log_has=["dsn=4.7.8, status=deferred (SASL authentication failed; server "
                          "127.0.0.1[127.0.0.1] said: 535 5.7.8 Error: authentication failed"])
        hop.stop()

        hop = NextHop(starttls=False, auth="PLAIN LOGIN")
        with open(src, "w") as f:
            f.write(f"[127.0.0.1]:{hop.port} {USER}:{PASSWORD}\n")
        subprocess.run([mapper, f"hash:{src}"], check=True, timeout=30)
        run_part(env, ck, "noplaintext_no_tls", hop, sasl, False,
                 log_has=["cannot authenticate to server 127.0.0.1[127.0.0.1]: no mechanism "
                          "available"])
        ck.expect(not any(c["auth"] for c in hop.conns),
                  "noplaintext_no_tls: no AUTH line (no credentials) reached the server")
        hop.stop()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return ck.done()


if __name__ == "__main__":
    sys.exit(main())
