#!/bin/sh
# harness_reap.sh - a test killed from outside leaves no daemon behind
# (tests/lib/reaper.py, tests/lib/mxscreen.py, tools/run-tests).
#
# Usage: harness_reap.sh SOURCE_ROOT
# A stand-in daemon (a Python script that greets with 220 on the port its
# main.cf names and forks one child into its process group, as mxscreen's
# master forks workers) is started through MxscreenInstance by a test
# process in a session of its own, which is then killed as meson's timeout
# kills it (the test's group: SIGTERM, SIGKILL 0.5 s later). Checks:
#   1. SIGTERM: the test kills the daemon's group itself before it exits,
#      and its pid file is gone;
#   2. SIGKILL at once: the daemon and its child outlive the test, recorded
#      in $MXSCREEN_TEST_PIDDIR; `reaper.py PIDDIR` kills both, names them
#      and removes the file;
#   3. a pid file whose pid is now another process (start time differs):
#      nothing is killed;
#   4. tools/run-tests (a copy, with a stand-in meson whose "test" leaves a
#      recorded daemon behind) kills it after the suite, says so on stderr,
#      still ends with its "N passed, N failed" line and removes its pid
#      directory.
# Every process started here is stopped by pid at the end.
set -u
SRC=$1
T=$(mktemp -d)
PIDS=""
cleanup() {
    for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }

# alive PID: the process exists and is not a zombie
alive() {
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)
    [ "$st" != Z ]
}

# killpg SIG PGID: signal a process group started here (dash's kill takes no "--")
killpg() {
    python3 -c 'import os, signal, sys
try:
    os.killpg(int(sys.argv[2]), getattr(signal, "SIG" + sys.argv[1]))
except ProcessLookupError:
    pass' "$1" "$2"
}

# wait_gone PID...: up to 5 s for every PID to be gone
wait_gone() {
    i=0
    while [ $i -lt 50 ]; do
        left=""
        for p in "$@"; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

cat > "$T/fakedaemon" <<'EOF'
#!/usr/bin/env python3
# listen where main.cf says, greet, fork a "worker"; write both pids
import os, re, socket, sys, time
conf = open(os.path.join(sys.argv[2], "main.cf")).read()
port = int(re.findall(r"^listen_addresses = 127\.0\.0\.1:(\d+)$", conf, re.M)[-1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(8)
child = os.fork()
if child == 0:
    time.sleep(300)
    os._exit(0)
with open(os.environ["FAKE_PIDS"], "w") as f:
    f.write(f"{os.getpid()} {child}\n")
while True:
    c, _ = s.accept()
    c.sendall(b"220 fake ESMTP\r\n")
    c.close()
EOF
chmod +x "$T/fakedaemon"

# the test: start the daemon, say "up", wait to be killed
cat > "$T/victim.py" <<EOF
import os, sys, time
sys.path.insert(0, "$SRC/tests/lib")
import mxscreen
with mxscreen.MxscreenInstance(binary="$T/fakedaemon", start_timeout=20) as srv:
    open("$T/up", "w").close()
    time.sleep(60)
EOF

# run_victim NAME: start the test in its own session; its pid (= group) in VICTIM
run_victim() {
    rm -f "$T/up" "$T/$1.pids"
    FAKE_PIDS="$T/$1.pids" setsid python3 "$T/victim.py" > "$T/$1.out" 2>&1 &
    VICTIM=$!
    PIDS="$PIDS $VICTIM"
    i=0
    while [ ! -f "$T/up" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
    [ -f "$T/up" ] || { no "$1: the test never started its daemon"; cat "$T/$1.out"; return 1; }
    read -r DPID CPID < "$T/$1.pids"
    PIDS="$PIDS $DPID $CPID"
    alive "$DPID" && alive "$CPID" || { no "$1: daemon not running"; return 1; }
}

export MXSCREEN_TEST_PIDDIR="$T/piddir"
mkdir "$MXSCREEN_TEST_PIDDIR"

# 1. meson's timeout: SIGTERM to the test's group, SIGKILL 0.5 s later
if run_victim term; then
    [ -f "$MXSCREEN_TEST_PIDDIR/$DPID.pid" ] || no "term: no pid file for the daemon"
    killpg TERM "$VICTIM"
    sleep 0.5
    killpg KILL "$VICTIM"
    wait "$VICTIM" 2>/dev/null
    wait_gone "$DPID" "$CPID" || no "term: the daemon ($DPID $CPID) outlived a SIGTERMed test"
    [ ! -f "$MXSCREEN_TEST_PIDDIR/$DPID.pid" ] || no "term: pid file left behind"
fi

# 2. SIGKILL at once: nothing runs in the test; the reaper does it
if run_victim kill; then
    killpg KILL "$VICTIM"
    wait "$VICTIM" 2>/dev/null
    sleep 0.3
    alive "$DPID" && alive "$CPID" || no "kill: expected the daemon to outlive a SIGKILLed test"
    python3 "$SRC/tests/lib/reaper.py" "$MXSCREEN_TEST_PIDDIR" > "$T/reap.out" 2>&1
    wait_gone "$DPID" "$CPID" || no "kill: reaper left $DPID $CPID running"
    grep -q "mxscreen in .*(process group $DPID) outlived its test: killed" "$T/reap.out" ||
        no "kill: reaper output: $(cat "$T/reap.out")"
    [ -z "$(ls "$MXSCREEN_TEST_PIDDIR")" ] || no "kill: pid files left: $(ls "$MXSCREEN_TEST_PIDDIR")"
fi

# 3. a recorded pid that now leads another group (another start time) is left alone
setsid sleep 300 &
OTHER=$!
PIDS="$PIDS $OTHER"
echo "$OTHER 1 stale entry" > "$MXSCREEN_TEST_PIDDIR/$OTHER.pid"
python3 "$SRC/tests/lib/reaper.py" "$MXSCREEN_TEST_PIDDIR" > "$T/reap3.out" 2>&1
sleep 0.2
alive "$OTHER" || no "stale: the reaper killed a process that only reuses a recorded pid"
[ ! -s "$T/reap3.out" ] || no "stale: reaper said: $(cat "$T/reap3.out")"
[ ! -f "$MXSCREEN_TEST_PIDDIR/$OTHER.pid" ] || no "stale: its pid file is not removed"

# 4. tools/run-tests reaps after each suite
R="$T/tree"
mkdir -p "$R/tools" "$R/bin" "$R/build" "$R/build-asan" "$R/tests/lib"
cp "$SRC/tools/run-tests" "$R/tools/"
cp "$SRC/tests/lib/reaper.py" "$R/tests/lib/"
printf '#!/bin/sh\nexit 0\n' > "$R/tools/install-deps"
touch "$R/build/build.ninja" "$R/build-asan/build.ninja"
cat > "$R/bin/meson" <<FAKE
#!/bin/sh
if [ "\$1" = test ]; then
    mkdir -p "\$3/meson-logs"
    printf '{"result":"OK"}\n' > "\$3/meson-logs/testlog.json"
    # a test that dies without stopping its daemon (a sleep in its own session)
    python3 - "\$3" <<'PY'
import os, subprocess, sys
sys.path.insert(0, "$R/tests/lib")
import reaper
p = subprocess.Popen(["sleep", "300"], start_new_session=True)
reaper.record(p, "leftover of " + os.path.basename(sys.argv[1]))
with open("$T/leftovers", "a") as f:
    f.write(f"{p.pid}\n")
os._exit(0)
PY
fi
exit 0
FAKE
chmod +x "$R/bin/meson" "$R/tools/run-tests" "$R/tools/install-deps"
mkdir "$T/tmp"
env -u MXSCREEN_TEST_PIDDIR TMPDIR="$T/tmp" PATH="$R/bin:$PATH" sh "$R/tools/run-tests" \
    > "$T/rt.out" 2>&1
rc=$?
LEFT=$(cat "$T/leftovers" 2>/dev/null)
PIDS="$PIDS $LEFT"
[ "$(echo "$LEFT" | wc -w)" -eq 2 ] || no "run-tests: expected a leftover per suite, got '$LEFT'"
# shellcheck disable=SC2086
wait_gone $LEFT || no "run-tests: leftovers still running"
grep -q "leftover of build (process group [0-9]*) outlived its test" "$T/rt.out" &&
    grep -q "leftover of build-asan (process group [0-9]*) outlived its test" "$T/rt.out" ||
    no "run-tests does not name what it killed"
[ "$(tail -n 1 "$T/rt.out")" = "2 passed, 0 failed" ] && [ $rc -eq 0 ] ||
    no "run-tests: last line '$(tail -n 1 "$T/rt.out")', status $rc"
[ -z "$(ls -A "$T/tmp")" ] || no "run-tests left its pid directory: $(ls -A "$T/tmp")"

[ $fail = 0 ] || { echo "--- run-tests output:"; cat "$T/rt.out"; }
[ $fail = 0 ] && echo "harness_reap: ok"
exit $fail
