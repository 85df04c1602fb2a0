#!/usr/bin/env python3
"""test_master.py MASTER_FAKE MXSCREEN_CTL - the master over real sockets.

MASTER_FAKE is the real master (master/: supervisor, frontend link,
control socket) with the real frontend process (frontend/: accept,
screening at the defaults, handoff) and a fake worker
(tests/integration/master_fake.c) that greets "220 fake generation G
worker I ...". Checks, on 127.0.0.1:<free port>:
start-up failures (bad listen address, missing data_directory) exit 1
naming what; clients are greeted through the handoff; status over the
control socket; a worker killed with SIGKILL is logged Postfix-style and
restarted; a reload with a broken main.cf (SIGHUP and mxscreen-ctl) is
refused and the old generation keeps serving; a good reload starts a new
generation while the old one finishes its sessions and retires; a full
house gets "421 4.3.2 All server ports are busy"; maillog_file lines carry
Postfix's prefix; started as root the workers run as mail_owner; SIGTERM
stops every process within the limit (the fake drains at once); "stop"
over the control socket; -d detaches (own session, pid file). Every process
is stopped by pid.
"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

FAILS = []
FAKE, CTL = sys.argv[1], sys.argv[2]
PROCS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(fn, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


class Instance:
    def __init__(self, workers=2, capacity=None, extra=""):
        self.dir = tempfile.mkdtemp(prefix="mxmaster.")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        os.mkdir(self.data)
        self.root = os.geteuid() == 0
        if self.root:
            pw = pwd.getpwnam("postfix")
            os.chown(self.data, pw.pw_uid, pw.pw_gid)
            self.owner = "postfix"
        else:
            self.owner = pwd.getpwuid(os.geteuid()).pw_name
        self.port = free_port()
        self.maillog = os.path.join(self.dir, "maillog")
        self.capacity = capacity
        self.write_cf(workers, extra)
        self.proc = None

    def write_cf(self, workers, extra=""):
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            f.write("listen_addresses = 127.0.0.1:%d\n" % self.port)
            f.write("worker_processes = %d\n" % workers)
            f.write("data_directory = %s\n" % self.data)
            f.write("mail_owner = %s\n" % self.owner)
            f.write("maillog_file = %s\n" % self.maillog)
            f.write("myhostname = mx1.example.test\n")
            f.write(extra)

    def start(self):
        env = dict(os.environ)
        if self.capacity:
            env["MXFAKE_CAPACITY"] = str(self.capacity)
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen([FAKE, "-c", self.dir], stderr=self.err, env=env,
                                     start_new_session=True)
        PROCS.append(self)
        ok = wait_for(lambda: os.path.exists(os.path.join(self.data, "mxscreen.ctl"))
                      and self.status_ok(), 10)
        return ok

    def status_ok(self):
        r = self.ctl("status")
        return r.returncode == 0

    def ctl(self, cmd):
        return subprocess.run([CTL, "-c", self.dir, cmd], capture_output=True, text=True,
                              timeout=70)

    def status(self):
        r = self.ctl("status")
        out = {"workers": []}
        for line in r.stdout.splitlines():
            f = line.split()
            if f and f[0] == "worker":
                out["workers"].append(dict(zip(f[0::2], f[1::2])))
            elif len(f) == 2:
                out[f[0]] = f[1]
        return out

    def log(self):
        try:
            with open(self.maillog) as f:
                return f.read()
        except OSError:
            return ""

    def worker_pids(self):
        return [int(w["pid"]) for w in self.status()["workers"] if int(w["pid"]) > 0]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(5)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def connect(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(512)
        if not chunk:
            break
        data += chunk
    return s, data.decode(errors="replace")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent will reap it).
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def startup_failures():
    inst = Instance()
    try:
        inst.write_cf(2, "listen_addresses = 127.0.0.1:99999\n")
        r = subprocess.run([FAKE, "-c", inst.dir], capture_output=True, text=True, timeout=20)
        check(r.returncode == 1, "bad port: exit 1 (got %d)" % r.returncode)
        check("127.0.0.1:99999" in r.stderr and "port must be" in r.stderr,
              "bad port named: %r" % r.stderr)
        # Someone else holds the port: the bind error names it.
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", inst.port))
        holder.listen(1)
        inst.write_cf(2)
        r = subprocess.run([FAKE, "-c", inst.dir], capture_output=True, text=True, timeout=20)
        holder.close()
        check(r.returncode == 1, "port in use: exit 1")
        check("bind 127.0.0.1:%d: Address already in use" % inst.port in r.stderr,
              "bind error names the address: %r" % r.stderr)
        inst.write_cf(2, "data_directory = %s/nonexistent\n" % inst.dir)
        r = subprocess.run([FAKE, "-c", inst.dir], capture_output=True, text=True, timeout=20)
        check(r.returncode == 1, "missing data_directory: exit 1")
        check("data_directory %s/nonexistent: No such file or directory" % inst.dir in r.stderr,
              "data_directory named: %r" % r.stderr)
        inst.write_cf(2, "worker_processes = many\n")
        r = subprocess.run([FAKE, "-c", inst.dir], capture_output=True, text=True, timeout=20)
        check(r.returncode == 1 and "worker_processes" in r.stderr and "main.cf" in r.stderr,
              "bad main.cf: exit 1 naming the parameter: %r" % r.stderr)
    finally:
        inst.cleanup()


def main_scenario():
    inst = Instance(workers=2, capacity=3)
    try:
        if not check(inst.start(), "master starts and answers status"):
            inst.err.seek(0)
            print(inst.err.read())
            return
        st = inst.status()
        check(st.get("generation") == "1", "generation 1: %r" % st)
        check(len(st["workers"]) == 2 and all(w["state"] == "running" for w in st["workers"]),
              "two running workers: %r" % st["workers"])
        pids = inst.worker_pids()
        if inst.root:
            for p in pids:
                with open("/proc/%d/status" % p) as f:
                    uid = re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1)
                check(int(uid) == pwd.getpwnam("postfix").pw_uid, "worker %d runs as postfix" % p)

        clients = []
        for i in range(4):
            s, g = connect(inst.port)
            check(g.startswith("220 fake generation 1 worker "), "greeting %d: %r" % (i, g))
            check(re.search(r" id [0-9A-F]+\r\n$", g) is not None, "connection id: %r" % g)
            clients.append(s)
        # Least-loaded: 4 sessions over 2 workers go 2 and 2.
        st = wait_for(lambda: (lambda s: s if sorted(w["sessions"] for w in s["workers"])
                               == ["2", "2"] else None)(inst.status()), 5)
        check(st is not None, "sessions spread 2/2 over the workers: %r" % inst.status())

        # SIGKILL a worker: logged as Postfix does, restarted.
        victim = pids[0]
        os.kill(victim, signal.SIGKILL)
        newpids = wait_for(lambda: (lambda p: p if len(p) == 2 and victim not in p else None)(
            inst.worker_pids()), 10)
        check(newpids is not None, "killed worker restarted: %r" % inst.status())
        check(re.search(r"warning: process \S+ pid %d killed by signal 9" % victim, inst.log()),
              "death logged Postfix-style")
        st = inst.status()
        check(sum(int(w["restarts"]) for w in st["workers"]) == 1, "one restart counted")
        s, g = connect(inst.port)
        check(g.startswith("220 fake generation 1"), "served after the restart: %r" % g)
        clients.append(s)

        # A broken main.cf: SIGHUP refused, old generation keeps serving.
        inst.write_cf(2, "worker_processes = lots\n")
        os.kill(inst.proc.pid, signal.SIGHUP)
        check(wait_for(lambda: "error: reload refused:" in inst.log(), 5),
              "SIGHUP with a bad main.cf: reload refused logged")
        check(re.search(r"reload refused: .*worker_processes", inst.log()),
              "refusal names the parameter")
        r = inst.ctl("reload")
        check(r.returncode == 1 and r.stdout.startswith("error: reload refused:"),
              "mxscreen-ctl reload refused: %r %r" % (r.returncode, r.stdout))
        check(inst.status().get("generation") == "1", "still generation 1")
        s, g = connect(inst.port)
        check(g.startswith("220 fake generation 1"), "old generation serves: %r" % g)
        clients.append(s)

        # A good one: generation 2 with 3 workers; the old ones retire.
        inst.write_cf(3)
        r = inst.ctl("reload")
        check(r.returncode == 0 and r.stdout.strip() == "ok generation 2",
              "reload ok: %r %r" % (r.returncode, r.stdout))
        # The old workers retire once the old frontend has handed over what
        # it held and exited (supervisor_reload), a moment after the reply.
        def gens():
            st = inst.status()
            return ([w for w in st["workers"] if w["generation"] == "1"],
                    [w for w in st["workers"] if w["generation"] == "2"])
        wait_for(lambda: all(w["state"] == "retiring" for w in gens()[0]), 10)
        g1, g2 = gens()
        check(len(g2) == 3 and all(w["state"] == "running" for w in g2), "3 new workers: %r" % g2)
        check(len(g1) == 2 and all(w["state"] == "retiring" for w in g1),
              "old workers retiring: %r" % g1)
        s, g = connect(inst.port)
        check(g.startswith("220 fake generation 2"), "new generation serves: %r" % g)
        # Old sessions still open on the old generation.
        clients[0].sendall(b"NOOP\r\n")
        for c in clients:
            c.close()
        clients = [s]
        check(wait_for(lambda: all(w["generation"] == "2" for w in inst.status()["workers"]), 10),
              "old generation gone after its sessions ended: %r" % inst.status())
        check("generation 1 retired" in inst.log(), "retirement logged")

        # Full house: 3 workers x capacity 3 = 9 sessions; the 10th gets 421.
        for i in range(8):
            s, g = connect(inst.port)
            check(g.startswith("220 fake generation 2"), "session %d: %r" % (i, g))
            clients.append(s)
        wait_for(lambda: sum(int(w["sessions"]) for w in inst.status()["workers"]) == 9, 5)
        # The frontend holds the client (FE_HOLD_MS, 2 s) hoping for room.
        t0 = time.monotonic()
        s, g = connect(inst.port)
        held = time.monotonic() - t0
        check(g == "421 4.3.2 All server ports are busy\r\n", "busy: %r" % g)
        check(1.5 <= held < 10, "busy only after the hold: %.2f s" % held)
        s.close()
        # The frontend reports its counters to the master every 50 ms at most.
        check(wait_for(lambda: int(inst.status().get("refused_busy", 0)) == 1, 5),
              "busy counted: %r" % inst.status())
        check(re.search(r"postscreen\[\d+\]: NOQUEUE: reject: CONNECT from \[127\.0\.0\.1\]:\d+: "
                        r"all server ports busy", inst.log()),
              "busy logged as postscreen does")

        # maillog_file lines: "Mon DD HH:MM:SS host prog[pid]: text".
        lines = inst.log().splitlines()
        pat = re.compile(r"^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d mx1 "
                         r"mxscreen/(master|smtpd|postscreen)\[\d+\]: ")
        check(lines and all(pat.match(x) for x in lines),
              "maillog prefix: %r" % [x for x in lines if not pat.match(x)][:3])
        check(any("mxscreen/smtpd[" in x for x in lines), "workers log to the same file")
        check(any(re.search(r"mxscreen/postscreen\[\d+\]: CONNECT from \[127\.0\.0\.1\]:\d+ "
                            r"to \[127\.0\.0\.1\]:%d$" % inst.port, x) for x in lines),
              "the frontend logs CONNECT as postscreen does")

        # SIGTERM: every process gone in time, sessions told 421.
        allpids = inst.worker_pids()
        t0 = time.monotonic()
        os.kill(inst.proc.pid, signal.SIGTERM)
        try:
            rc = inst.proc.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "master exits 0 on SIGTERM (got %r)" % rc)
        check(time.monotonic() - t0 < 15, "stopped within the limit")
        check(wait_for(lambda: not any(alive(p) for p in allpids), 5), "all workers gone")
        clients[0].settimeout(5)
        try:
            bye = clients[0].recv(100)
        except OSError:
            bye = b""
        check(bye.startswith(b"421 "), "open session told 421: %r" % bye)
        check(not os.path.exists(os.path.join(inst.data, "mxscreen.ctl")), "control socket removed")
        for c in clients:
            c.close()
    finally:
        inst.cleanup()


def stop_over_control():
    inst = Instance(workers=1)
    try:
        if not check(inst.start(), "second master starts"):
            return
        # A second master on the same data_directory is refused.
        r = subprocess.run([FAKE, "-c", inst.dir], capture_output=True, text=True, timeout=20)
        check(r.returncode == 1, "second master refused")
        pids = inst.worker_pids()
        r = inst.ctl("stop")
        check(r.returncode == 0 and r.stdout.startswith("ok stopping"), "stop: %r" % r.stdout)
        try:
            rc = inst.proc.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "exit 0 after stop")
        check(wait_for(lambda: not any(alive(p) for p in pids), 5), "worker gone after stop")
        r = inst.ctl("status")
        check(r.returncode == 1, "ctl fails without a master")
    finally:
        inst.cleanup()


def detached():
    inst = Instance(workers=1)
    pid = None
    try:
        r = subprocess.run([FAKE, "-c", inst.dir, "-d"], capture_output=True, text=True,
                           timeout=20)
        check(r.returncode == 0, "-d: the starting process exits 0 (%r)" % r.stderr)
        pidfile = os.path.join(inst.data, "mxscreen.pid")
        check(wait_for(lambda: os.path.exists(pidfile) and inst.status_ok(), 10),
              "-d: pid file written and control socket answers")
        with open(pidfile) as f:
            pid = int(f.read())
        check(str(pid) == inst.status().get("pid"), "pid file names the master")
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().split(")")[-1].split()
        check(int(fields[3]) == pid, "-d: the master leads its own session")
        s, g = connect(inst.port)
        check(g.startswith("220 fake generation 1"), "-d: serves: %r" % g)
        s.close()
        check(inst.ctl("stop").returncode == 0, "-d: stop")
        check(wait_for(lambda: not alive(pid), 15), "-d: master gone after stop")
        check(not os.path.exists(pidfile), "-d: pid file removed")
        pid = None
    finally:
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)
        inst.cleanup()


def main():
    try:
        startup_failures()
        main_scenario()
        stop_over_control()
        detached()
    finally:
        for p in PROCS:
            p.stop()
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
