#!/bin/sh
# run_tests_format.sh - tools/run-tests (what .ci/run calls) ends with the
# line "N passed, N failed" and exits non-zero when a test failed.
#
# Usage: run_tests_format.sh SOURCE_ROOT
# Runs a copy of tools/run-tests in a scratch tree with a stand-in
# install-deps and a stand-in `meson` whose testlog.json holds 2 OK, 1 SKIP
# and 1 FAIL per build, so no build happens; expects "4 passed, 2 failed"
# as the last line, the skipped count before it, and exit status 1.
set -u
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/tools" "$T/bin" "$T/build" "$T/build-asan"
cp "$1/tools/run-tests" "$T/tools/"
printf '#!/bin/sh\nexit 0\n' > "$T/tools/install-deps"
touch "$T/build/build.ninja" "$T/build-asan/build.ninja"
cat > "$T/bin/meson" <<'FAKE'
#!/bin/sh
if [ "$1" = test ]; then
    mkdir -p "$3/meson-logs"
    printf '{"result":"OK"}\n{"result":"SKIP"}\n{"result":"FAIL"}\n{"result":"OK"}\n' \
        > "$3/meson-logs/testlog.json"
fi
exit 0
FAKE
chmod +x "$T/bin/meson" "$T/tools/run-tests" "$T/tools/install-deps"
PATH="$T/bin:$PATH" sh "$T/tools/run-tests" > "$T/out" 2>&1
rc=$?
fail=0
last=$(tail -n 1 "$T/out")
[ "$last" = "4 passed, 2 failed" ] || { echo "last line: '$last'"; fail=1; }
grep -qx 'run-tests: 2 skipped' "$T/out" || { echo "no skipped count"; fail=1; }
[ "$rc" -ne 0 ] || { echo "exit status 0 with failed tests"; fail=1; }
[ $fail = 0 ] || cat "$T/out"
exit $fail
