"""reaper.py - daemons a killed test left running are found and stopped by pid.

Every daemon the harness starts (mxscreen, a private Postfix's master,
dnsmasq) runs in a session of its own, so its pid is the process group of
everything it forks, and a signal to the test's own group never reaches it.
meson's timeout sends SIGTERM to the test's group and SIGKILL 0.5 s later;
Python's default SIGTERM ends the test without its atexit hooks, so those
daemons would outlive it. Two defences:

  * record(proc, what) writes a pid file PGID.pid ("PGID STARTTIME WHAT")
    into $MXSCREEN_TEST_PIDDIR (tools/run-tests makes one per run; without
    it nothing is written) and forget(proc) removes it once the harness has
    stopped the daemon itself. The first record() also makes SIGTERM in the
    test kill every group it recorded, by pid, at once (a graceful stop
    would not fit in meson's 0.5 s), then exit with status 143 through
    SystemExit, so the `with` blocks still remove their directories. A
    SIGTERM handler the test installed itself is left alone.
  * reap(piddir) (command line: reaper.py PIDDIR, run by tools/run-tests
    after each suite) SIGKILLs each member of every group still recorded
    and removes the files. What is killed is checked, never guessed: the
    leader's start time (/proc/PID/stat) must be the recorded one, or,
    once the leader is gone, a member must have started no earlier than it
    (a pid is not reused as a group id while the group has members).

Interface: record(proc, what), forget(proc), reap(piddir) -> [(pgid, what,
killed pids)], kill_group(pgid, start) -> killed pids, pids_in_group(pgid,
zombies=False), start_time(pid) -> clock ticks since boot or None.
Failure: an unwritable registry or a pid that vanished meanwhile is
ignored (this is clean-up; it must never fail a test by itself).
Python 3 standard library only.
"""

import os
import signal
import sys

ENV = "MXSCREEN_TEST_PIDDIR"

_mine = {}          # pgid -> (start time, what) of the groups this process recorded
_handler_set = False


def _stat(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name is in parentheses and may itself hold ") "
    return stat[stat.rfind(b")") + 2:].split()


def start_time(pid):
    """Process start time (clock ticks after boot), None when it is gone."""
    rest = _stat(pid)
    return int(rest[19]) if rest and len(rest) > 19 else None


def pids_in_group(pgid, zombies=False):
    """Pids of processes whose process group is pgid (read from /proc);
    zombies only when asked."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        rest = _stat(name)
        if rest and len(rest) > 2 and int(rest[2]) == pgid and (rest[0] == b"Z") == zombies:
            out.append(int(name))
    return out


def kill_group(pgid, start):
    """SIGKILL, one pid at a time, each live member of group pgid that is
    the process recorded with start time start (or started after it when
    the leader is gone); the pids signalled."""
    lead = start_time(pgid)
    if lead is not None and lead != start:
        return []       # pgid is another process now: the recorded group is gone
    killed = []
    for pid in pids_in_group(pgid):
        t = start_time(pid)
        if t is None or t < start:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    return killed


def _on_sigterm(signum, frame):
    for pgid, (start, _) in list(_mine.items()):
        kill_group(pgid, start)
    raise SystemExit(128 + signum)


def _install_handler():
    global _handler_set
    if _handler_set:
        return
    _handler_set = True
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        pass            # not the main thread: the pid file still covers it


def record(proc, what):
    """proc (a Popen started with start_new_session) leads its own group:
    remember it for SIGTERM and, with $MXSCREEN_TEST_PIDDIR, in a pid file."""
    start = start_time(proc.pid)
    if start is None:
        return
    _mine[proc.pid] = (start, what)
    _install_handler()
    d = os.environ.get(ENV)
    if not d:
        return
    path = os.path.join(d, f"{proc.pid}.pid")
    try:
        with open(path + ".tmp", "w") as f:
            f.write(f"{proc.pid} {start} {what}\n")
        os.rename(path + ".tmp", path)
    except OSError:
        pass


def forget(proc):
    """The harness stopped proc's group itself: no pid file any more."""
    _mine.pop(proc.pid, None)
    d = os.environ.get(ENV)
    if d:
        try:
            os.unlink(os.path.join(d, f"{proc.pid}.pid"))
        except OSError:
            pass


def reap(piddir):
    """Kill what every pid file in piddir names and remove the files."""
    out = []
    try:
        names = sorted(os.listdir(piddir))
    except OSError:
        return out
    for name in names:
        if not name.endswith(".pid"):
            continue
        path = os.path.join(piddir, name)
        try:
            with open(path) as f:
                pgid, start, what = f.read().split(None, 2)
            out.append((int(pgid), what.strip(), kill_group(int(pgid), int(start))))
        except (OSError, ValueError):
            pass
        try:
            os.unlink(path)
        except OSError:
            pass
    return out


def main(argv):
    if len(argv) != 2:
        print("usage: reaper.py PIDDIR", file=sys.stderr)
        return 2
    for pgid, what, killed in reap(argv[1]):
        if killed:
            print(f"reaper: {what} (process group {pgid}) outlived its test: killed "
                  f"{' '.join(map(str, killed))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
