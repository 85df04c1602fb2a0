"""mxscreen.py - the mxscreen daemon on loopback, for integration tests and benchmarks.

Interface (the same shape as postfix_peer.PostfixInstance):
    with Sink() as sink, MxscreenInstance(main_cf=TEXT, maps={"helo_access": TEXT},
                                          relay=(sink.host, sink.port),
                                          binary=find_binary(build_dir)) as mx:
        mx.host, mx.port            # where it listens (127.0.0.1:<free port>)
        mx.conf_dir                 # the directory given to -c (main.cf, maps)
        mx.pid                      # the daemon (master) pid = its process group
        mx.log()                    # maillog_file and stderr, as text
        mx.stop()

How the instance is run:
  * Everything lives under one temporary directory (mode 0755: when started
    as root the daemon's children run as mail_owner and must reach it):
    etc/ (main.cf and the map files; refer to them as
    ${config_directory}/NAME), queue/, data/, maillog, stderr.
  * The caller's main.cf text is written with every definition of a name we
    force removed (a logical line and its indented continuation lines) and
    ours appended: listen_addresses = 127.0.0.1:PORT, relayhost =
    [127.0.0.1]:SINKPORT (or empty without `relay`), delivery_mode = proxy,
    queue_directory, data_directory, maillog_file, worker_processes
    (`workers`, unless None), mail_owner (postfix when root, else the current user), and
    `settings` last (they win).
  * The binary is `binary`, else $MXSCREEN_BIN, else BUILD/master/mxscreen
    for the build directory given as `build` or $MXSCREEN_BUILD.
  * `mxscreen -c etc` runs in the foreground as our child in a new session:
    its pid is the process group of every process it forks. Readiness: a
    client gets a 220 greeting on the port, bounded by start_timeout.
  * stop(): SIGTERM to the daemon (it drains and 421s what remains), a
    bounded wait, then SIGKILL to every process still in its process group,
    one pid at a time; orphans are reaped (we are a child subreaper); the
    directory is removed unless keep=True. stop() also runs from __exit__
    and an atexit hook.
  * The daemon's process group is recorded with tests/lib/reaper.py: a
    SIGTERM to the test (meson's timeout) kills it by pid before the test
    exits, and tools/run-tests kills what a SIGKILLed test left behind.

Failure: start() raises MxscreenError with the reason (no binary, daemon
exited with its status, no greeting in time), its stderr and the maillog
tail; the instance is stopped and cleaned before the exception leaves.
"""

import atexit
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import reaper
from postfix_peer import (_become_subreaper, free_port, pids_in_group, start_on_free_port,  # noqa: F401
                          stop_process_group, wait_banner)

_live = set()


class MxscreenError(RuntimeError):
    """The daemon could not be started."""


def find_binary(build=None):
    """The daemon to run: $MXSCREEN_BIN, else BUILD/master/mxscreen for
    build (or $MXSCREEN_BUILD); None when there is none."""
    env = os.environ.get("MXSCREEN_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    build = build or os.environ.get("MXSCREEN_BUILD")
    if build:
        p = os.path.join(build, "master", "mxscreen")
        if os.access(p, os.X_OK):
            return p
    return None


_NAME = re.compile(r"^([A-Za-z0-9_]+)\s*=")


def override_main_cf(text, values):
    """main.cf text with every definition of a name in values removed (the
    logical line: the name's line and the indented lines continuing it)
    and "name = value" appended for each, in order."""
    out, skipping = [], False
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and line.strip() and not line.lstrip().startswith("#"):
            if not skipping:
                out.append(line)
            continue
        m = _NAME.match(line)
        skipping = bool(m) and m.group(1) in values
        if not skipping:
            out.append(line)
    out.append("# tests/lib/mxscreen.py")
    out += [f"{k} = {v}" for k, v in values.items()]
    return "\n".join(out) + "\n"


class MxscreenInstance:
    """One mxscreen daemon (master and its workers) on 127.0.0.1."""

    def __init__(self, main_cf="", maps=None, relay=None, settings=None, binary=None,
                 build=None, workers=1, port=None, start_timeout=30.0, keep=False,
                 extra_args=()):
        """main_cf: main.cf text; maps: {file name: text or bytes} beside
        it; relay: (host, port) of the next hop, or None (relayhost empty);
        settings: {name: value} appended after ours (they win); binary /
        build: see find_binary(); workers: worker_processes (None:
        the configured default); keep: leave
        the directory on stop; extra_args: more daemon arguments."""
        self.main_cf = main_cf
        self.maps = dict(maps or {})
        self.relay = relay
        self.settings = dict(settings or {})
        # Absolute: the daemon runs with its temporary directory as cwd.
        self.binary = binary or find_binary(build)
        if self.binary:
            self.binary = os.path.abspath(self.binary)
        self.workers = workers
        self.host = "127.0.0.1"
        self.port = port
        self.start_timeout = start_timeout
        self.keep = keep
        self.extra_args = list(extra_args)
        self.dir = None
        self.conf_dir = None
        self.proc = None
        self.pid = None
        self.banner = None
        self._stderr = None
        self._final_log = None

    def _write_config(self):
        d = self.dir
        self.conf_dir = os.path.join(d, "etc")
        for sub in ("etc", "queue", "data"):
            os.makedirs(os.path.join(d, sub))
        os.chmod(d, 0o755)
        os.chmod(self.conf_dir, 0o755)
        if os.getuid() == 0:
            owner = "postfix"
            try:
                pw = pwd.getpwnam(owner)
                for sub in ("queue", "data"):
                    os.chown(os.path.join(d, sub), pw.pw_uid, pw.pw_gid)
            except KeyError:
                owner = "nobody"
        else:
            owner = pwd.getpwuid(os.getuid()).pw_name
        forced = {
            "listen_addresses": f"{self.host}:{self.port}",
            "inet_interfaces": self.host,
            "delivery_mode": "proxy",
            "relayhost": f"[{self.relay[0]}]:{self.relay[1]}" if self.relay else "",
            "queue_directory": os.path.join(d, "queue"),
            "data_directory": os.path.join(d, "data"),
            "maillog_file": os.path.join(d, "maillog"),
            "mail_owner": owner,
        }
        if self.workers is not None:
            forced["worker_processes"] = str(self.workers)
        forced.update(self.settings)
        with open(os.path.join(self.conf_dir, "main.cf"), "w") as f:
            f.write(override_main_cf(self.main_cf, forced))
        for name, text in self.maps.items():
            if "/" in name:
                raise MxscreenError(f"map file name must be plain: {name!r}")
            path = os.path.join(self.conf_dir, name)
            with open(path, "wb") as f:
                f.write(text.encode() if isinstance(text, str) else text)
            os.chmod(path, 0o644)
        # The maillog is created here so that a daemon that opens it after
        # dropping to mail_owner can still append to it.
        log = os.path.join(d, "maillog")
        open(log, "a").close()
        if os.getuid() == 0 and owner != "root":
            try:
                pw = pwd.getpwnam(owner)
                os.chown(log, pw.pw_uid, pw.pw_gid)
            except KeyError:
                pass

    def log(self):
        """maillog_file followed by the daemon's stderr ("" when empty)."""
        if self._final_log is not None:
            return self._final_log
        out = []
        for name in ("maillog", "stderr"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text = f.read()
                if text:
                    out.append(text)
            except (OSError, TypeError):
                pass
        return "".join(out)

    def start(self):
        if self.proc:
            return self
        if not self.binary:
            raise MxscreenError("no mxscreen binary (set MXSCREEN_BIN or give the build dir)")
        return start_on_free_port(self, MxscreenError, "exited")

    def _start_once(self):
        _become_subreaper()
        self.dir = tempfile.mkdtemp(prefix="mxs-daemon-")
        self._final_log = None
        _live.add(self)
        try:
            if self.port is None:
                self.port = free_port(self.host)
            self._write_config()
            self._stderr = open(os.path.join(self.dir, "stderr"), "wb")
            self.proc = subprocess.Popen(
                [self.binary, "-c", self.conf_dir, *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr,
                cwd=self.dir, start_new_session=True)
            self.pid = self.proc.pid
            reaper.record(self.proc, f"mxscreen in {self.dir}")
            deadline = time.monotonic() + self.start_timeout
            self.banner = wait_banner(self.host, self.port, deadline,
                                      alive=lambda: self.proc.poll() is None)
            if self.banner is None:
                why = (f"mxscreen exited with status {self.proc.returncode}"
                       if self.proc.poll() is not None
                       else f"no 220 greeting on {self.host}:{self.port} "
                            f"within {self.start_timeout:.0f} s")
                raise MxscreenError(self._failure(why))
        except BaseException:
            self.stop()
            raise
        return self

    def _failure(self, why):
        tail = "\n".join(self.log().splitlines()[-30:])
        return (f"mxscreen in {self.dir}: {why}"
                + (f"\nlog tail:\n{tail}" if tail else "\n(no log output)"))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15.0):
        """SIGTERM, bounded wait, SIGKILL what is left of the process
        group; remove the directory. Returns the daemon's exit status (None
        if it never ran)."""
        p, self.proc = self.proc, None
        status = None
        if p is not None:
            status = stop_process_group(p, timeout)
            reaper.forget(p)
        if self._stderr:
            self._stderr.close()
            self._stderr = None
        if self.dir and not self.keep:
            # log() keeps answering after the directory is gone.
            self._final_log = self.log()
            shutil.rmtree(self.dir, ignore_errors=True)
        _live.discard(self)
        return status

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


@atexit.register
def _stop_all():
    for inst in list(_live):
        inst.stop()
