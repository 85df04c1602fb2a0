"""postfix_peer.py - a private Postfix instance on loopback, for peer tests and benchmarks.

Interface:
    with PostfixInstance(main_cf=TEXT, maps={"helo_access": TEXT, ...},
                         relay=("127.0.0.1", sink_port)) as pf:
        pf.port, pf.host            # where its smtpd listens (127.0.0.1:<free port>)
        pf.conf_dir                 # its config_directory (main.cf, master.cf, maps)
        pf.log()                    # its maillog, as text
        pf.postmap("hash:helo_access"), pf.postconf("-n")

How the instance is run (see tests/lib/README.md for why):
  * Everything lives under one temporary directory: etc/ (config_directory:
    main.cf, master.cf, the map files), queue/ (queue_directory), data/
    (data_directory) and maillog (maillog_file, written by postlogd).
  * The caller's main.cf text is written first; then `postconf -c etc -X`
    removes the names in `drop` and `postconf -c etc -e` forces the settings
    that keep the instance private: its own directories, the installed
    daemon/command directories, log file, ipv4 loopback, and no delivery
    anywhere but `relay` (relayhost = [127.0.0.1]:PORT) -- local, virtual
    and, without relay, all other transports are error:.
  * master.cf is ours: one smtpd on 127.0.0.1:PORT plus the internal
    services smtpd and the queue need; nothing listens elsewhere. With
    postscreen=True, postscreen listens there instead and hands clients to
    a "smtpd pass" service (plus dnsblog and tlsproxy).
  * The queue tree is created here with the owners and modes that
    `postfix check` would give it, so `postfix start` and its
    postfix-script are not needed.
  * The master daemon is run directly, `master -c etc`, as our child: it
    stays in the foreground (only `-w` makes it fork) and calls setsid(),
    so it and every daemon it forks share one process group whose id is the
    master's pid. `-e LIFETIME` bounds its life even if this process dies.
    Postfix's own commands never see this instance, so the default
    instance's alternate_config_directories (and /etc/postfix/main.cf,
    which may not exist) do not matter: only setgid commands such as
    postdrop and postqueue check that list, and we use none of them.
  * stop(): SIGTERM to the master (it stops its children), a bounded wait,
    then SIGKILL to every process still in its process group, one pid at a
    time, and the temporary directory is removed. stop() also runs from
    __exit__ and from an atexit hook, so an exception never leaks a Postfix.

Failure: start() raises PostfixError with the reason and the tail of the
maillog (a bad main.cf, a port already taken, a daemon that dies); the
instance is stopped and cleaned before the exception leaves start().
"""

import atexit
import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import reaper
from reaper import pids_in_group

# Parameters of mxscreen that Postfix does not have; main.cf texts written
# for mxscreen lose them before Postfix reads them.
MXSCREEN_ONLY = ("listen_addresses", "worker_processes", "delivery_mode")

# Internal services smtpd, cleanup and the queue manager talk to (tlsmgr
# feeds smtpd's TLS entropy; without it STARTTLS is off). chroot is "n"
# everywhere: a chroot would need copies of /etc files in the queue.
MASTER_CF_SERVICES = """\
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
"""

# With postscreen=True: the services postscreen uses besides "smtpd pass"
# (POSTSCREEN_README, "Turning on postscreen(8) without blocking mail").
MASTER_CF_POSTSCREEN = """\
dnsblog   unix  -       -       n       -       0       dnsblog
tlsproxy  unix  -       -       n       -       0       tlsproxy
"""

# The queue tree as `postfix check` (post-install, postfix-files) makes it:
# (name, owner is mail_owner?, group is setgid_group?, mode).
QUEUE_DIRS = (
    ("active", True, False, 0o700), ("bounce", True, False, 0o700),
    ("corrupt", True, False, 0o700), ("defer", True, False, 0o700),
    ("deferred", True, False, 0o700), ("flush", True, False, 0o700),
    ("hold", True, False, 0o700), ("incoming", True, False, 0o700),
    ("saved", True, False, 0o700), ("trace", True, False, 0o700),
    ("private", True, False, 0o700), ("maildrop", True, True, 0o730),
    ("public", True, True, 0o710), ("pid", False, False, 0o755),
)

_live = set()           # instances not yet stopped, for the atexit hook


class PostfixError(RuntimeError):
    """The instance could not be started or a Postfix tool failed."""


def postfix_available():
    """True when the Postfix programs this module runs are installed."""
    if not shutil.which("postconf") or not shutil.which("postmap"):
        return False
    daemon_dir = _postconf_default("daemon_directory")
    return bool(daemon_dir) and all(
        os.access(os.path.join(daemon_dir, d), os.X_OK)
        for d in ("master", "smtpd", "cleanup", "qmgr", "postlogd"))


def _postconf_default(name):
    try:
        r = subprocess.run(["postconf", "-d", "-h", name], capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout.strip() if r.returncode == 0 else ""


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on right now (the caller binds it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_banner(host, port, deadline, alive=lambda: True):
    """Poll host:port until a client gets a 220 greeting or deadline passes.

    Returns the banner line, or None on timeout or when alive() turns false.
    """
    while time.monotonic() < deadline:
        if not alive():
            return None
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.settimeout(max(0.5, min(5.0, deadline - time.monotonic())))
                line = s.makefile("rb").readline(1000)
                if line.startswith(b"220"):
                    try:
                        s.sendall(b"QUIT\r\n")
                    except OSError:
                        pass
                    return line.decode("ascii", "replace").rstrip("\r\n")
        except OSError:
            pass
        time.sleep(0.1)
    return None


def pids_children(ppid):
    """Pids of the live children of ppid (read from /proc). postscreen
    calls setsid(), so it is the master's child outside its group."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) > 1 and int(rest[1]) == ppid and rest[0] != b"Z":
            out.append(int(name))
    return out


def stop_process_group(proc, timeout, strays=()):
    """Stop a daemon started with start_new_session (proc.pid is its process
    group): SIGTERM with a bounded wait, SIGKILL what is left of the group,
    SIGKILL the strays (children that left the group), reap the group's
    zombies (we are their subreaper) and proc itself. Returns proc's exit
    status, None if it would not die."""
    pgid = proc.pid
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + timeout
    while pgid != os.getpgrp():
        left = pids_in_group(pgid)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in strays:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, os.WNOHANG)
        except (ProcessLookupError, ChildProcessError):
            pass
    for pid in pids_in_group(pgid, zombies=True):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    if proc.poll() is None:
        proc.kill()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def start_on_free_port(inst, error, exited):
    """inst._start_once(), again on a fresh port when it failed with an
    error whose text holds `exited`: a port we picked with free_port() can
    be taken by a test running in parallel before the daemon binds it, and
    the daemon then exits at once. At most 3 tries; a port the caller chose
    (inst.port set), or any other failure, is reported as it is."""
    chosen = inst.port is None
    for attempt in range(3):
        try:
            return inst._start_once()
        except error as e:
            if not chosen or attempt == 2 or exited not in str(e):
                raise
            inst.port = None
    return inst


def _become_subreaper():
    """Make daemons orphaned by the master our children (Linux
    PR_SET_CHILD_SUBREAPER), so stop() can reap them instead of leaving
    zombies to an init that may never wait for them."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)      # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


class PostfixInstance:
    """One private Postfix (master, smtpd and the queue) on 127.0.0.1."""

    def __init__(self, main_cf="", maps=None, relay=None, drop=MXSCREEN_ONLY,
                 settings=None, smtpd_options=None, port=None,
                 start_timeout=30.0, lifetime=1800, keep=False, postscreen=False):
        """main_cf: main.cf text; maps: {file name: text or bytes} put
        beside it (refer to them as ${config_directory}/NAME); relay:
        (host, port) every message goes to, or None to deliver nowhere;
        drop: names removed from main_cf; settings: {name: value} set after
        ours (they win); smtpd_options: {name: value} as -o on the smtpd
        line; lifetime: seconds after which master exits by itself; keep:
        leave the directory on stop (for debugging); postscreen: the port
        is served by postscreen, which hands clean clients to a "smtpd pass"
        service (with smtpd_options), as Postfix's POSTSCREEN_README shows,
        plus the dnsblog and tlsproxy services it uses."""
        self.main_cf = main_cf
        self.maps = dict(maps or {})
        self.relay = relay
        self.drop = tuple(drop)
        self.settings = dict(settings or {})
        self.smtpd_options = dict(smtpd_options or {})
        self.host = "127.0.0.1"
        self.port = port
        self.start_timeout = start_timeout
        self.lifetime = int(lifetime)
        self.keep = keep
        self.postscreen = postscreen
        self.dir = None
        self.conf_dir = None
        self.master = None
        self.banner = None

    # ---------------------------------------------------------------- setup
    def _write_config(self):
        d = self.dir
        self.conf_dir = os.path.join(d, "etc")
        queue = os.path.join(d, "queue")
        data = os.path.join(d, "data")
        os.makedirs(self.conf_dir)
        os.makedirs(queue)
        os.makedirs(data)
        owner = pwd.getpwnam("postfix")
        setgid = grp.getgrnam("postdrop")
        # Daemons run as mail_owner and must reach the queue, data and maps.
        os.chmod(d, 0o755)
        os.chmod(self.conf_dir, 0o755)
        os.chmod(queue, 0o755)
        os.chown(data, owner.pw_uid, 0)
        os.chmod(data, 0o700)
        for name, by_owner, by_group, mode in QUEUE_DIRS:
            p = os.path.join(queue, name)
            os.mkdir(p)
            os.chown(p, owner.pw_uid if by_owner else 0,
                     setgid.gr_gid if by_group else 0)
            os.chmod(p, mode)

        with open(os.path.join(self.conf_dir, "main.cf"), "w") as f:
            f.write(self.main_cf)
            if self.main_cf and not self.main_cf.endswith("\n"):
                f.write("\n")
        for name, text in self.maps.items():
            if "/" in name:
                raise PostfixError(f"map file name must be plain: {name!r}")
            path = os.path.join(self.conf_dir, name)
            with open(path, "wb") as f:
                f.write(text.encode() if isinstance(text, str) else text)
            os.chmod(path, 0o644)

        present = self.postconf("-n", "-H").split()
        to_drop = [n for n in self.drop if n in present]
        if to_drop:
            self.postconf("-X", *to_drop)

        forced = {
            "queue_directory": queue,
            "data_directory": data,
            "maillog_file": os.path.join(d, "maillog"),
            "maillog_file_prefixes": d,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "master_service_disable": "",
            # Nothing is ever delivered on this machine.
            "local_transport": "error:5.1.1 local delivery disabled in this test instance",
            "virtual_transport": "error:5.1.1 virtual delivery disabled in this test instance",
            "alias_maps": "",
            "alias_database": "",
        }
        # The installed Postfix's own directories, whatever the text said
        # (the examples name /usr/libexec/postfix, Debian uses another).
        for name in ("daemon_directory", "command_directory", "meta_directory",
                     "shlib_directory"):
            value = _postconf_default(name)
            if value:
                forced[name] = value
        if self.relay:
            forced["relayhost"] = f"[{self.relay[0]}]:{self.relay[1]}"
            forced["default_transport"] = "smtp"
            forced["relay_transport"] = "relay"
        else:
            forced["relayhost"] = ""
            forced["default_transport"] = "error:5.3.0 no next hop in this test instance"
            forced["relay_transport"] = "error:5.3.0 no next hop in this test instance"
        forced.update(self.settings)
        self.postconf("-e", *[f"{k}={v}" for k, v in forced.items()])

        opts = "".join(f"\n  -o {k}={v}" for k, v in self.smtpd_options.items())
        with open(os.path.join(self.conf_dir, "master.cf"), "w") as f:
            if self.postscreen:
                f.write(f"{self.host}:{self.port} inet n - n - 1 postscreen\n")
                f.write(f"smtpd     pass  -       -       n       -       -       smtpd{opts}\n")
                f.write(MASTER_CF_POSTSCREEN)
            else:
                f.write(f"{self.host}:{self.port} inet n - n - - smtpd{opts}\n")
            f.write(MASTER_CF_SERVICES)

    # ---------------------------------------------------------------- tools
    def postconf(self, *args, check=True):
        """Run `postconf -c CONF_DIR ARGS...`; return its stdout."""
        return self._tool(["postconf", "-c", self.conf_dir, *args], check)

    def postmap(self, *args, check=True):
        """Run `postmap -c CONF_DIR ARGS...` in CONF_DIR; return stdout.

        e.g. postmap("hash:helo_access") builds helo_access.db beside it,
        postmap("-q", "localhost", "texthash:helo_access") queries it."""
        return self._tool(["postmap", "-c", self.conf_dir, *args], check)

    def _tool(self, argv, check):
        try:
            r = subprocess.run(argv, cwd=self.conf_dir, capture_output=True,
                               text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise PostfixError(f"{' '.join(argv)}: no answer in 60 s") from None
        if check and r.returncode not in (0, 1 if "-q" in argv else 0):
            raise PostfixError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
        return r.stdout

    def log(self):
        """The instance's maillog so far ("" when there is none)."""
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    # ---------------------------------------------------------------- run
    def start(self):
        if self.master:
            return self
        return start_on_free_port(self, PostfixError, "master exited")

    def _start_once(self):
        _become_subreaper()
        self.dir = tempfile.mkdtemp(prefix="mxs-postfix-")
        _live.add(self)
        try:
            if self.port is None:
                self.port = free_port(self.host)
            self._write_config()
            master = os.path.join(_postconf_default("daemon_directory"), "master")
            self.master = subprocess.Popen(
                [master, "-c", self.conf_dir, "-e", str(self.lifetime)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, cwd=self.dir, start_new_session=True)
            reaper.record(self.master, f"Postfix master in {self.dir}")
            deadline = time.monotonic() + self.start_timeout
            self.banner = wait_banner(self.host, self.port, deadline,
                                      alive=lambda: self.master.poll() is None)
            if self.banner is None:
                why = ("master exited with status %d" % self.master.returncode
                       if self.master.poll() is not None
                       else f"no 220 greeting on {self.host}:{self.port} "
                            f"within {self.start_timeout:.0f} s")
                raise PostfixError(self._failure(why))
        except BaseException:
            self.stop()
            raise
        return self

    def _failure(self, why):
        err = ""
        if self.master and self.master.poll() is not None and self.master.stderr:
            err = self.master.stderr.read().decode(errors="replace").strip()
        tail = "\n".join(self.log().splitlines()[-25:])
        return (f"private Postfix in {self.dir}: {why}"
                + (f"\nmaster stderr: {err}" if err else "")
                + (f"\nmaillog tail:\n{tail}" if tail else "\n(maillog is empty)"))

    def stop(self, timeout=10.0):
        """Stop master and all its daemons, then remove the directory."""
        m, self.master = self.master, None
        if m is not None:
            # A new session (start_new_session, and master's own setsid()):
            # the master's pid is the process group of all its daemons.
            pgid = m.pid
            # Children in a session of their own (postscreen) are not
            # reached through the group: stopped by pid.
            strays = [p for p in pids_children(m.pid) if p not in pids_in_group(pgid)]
            stop_process_group(m, timeout, strays)
            reaper.forget(m)
            if m.stderr:
                m.stderr.close()
        if self.dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        _live.discard(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


@atexit.register
def _stop_all():
    for inst in list(_live):
        inst.stop()
