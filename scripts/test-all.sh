#!/usr/bin/env bash
# test-all.sh - install what is missing, build, and run every test:
#   1. an AddressSanitizer + UndefinedBehaviorSanitizer build with -Werror runs the whole
#      suite: unit tests, CLI and hostile-input tests, and the end-to-end tests with a
#      real Postfix and a real Sendmail;
#   2. an optimised -Werror build runs `make distcheck` (dist tarball, VPATH build,
#      install/uninstall, and the unit and CLI tests again).
# Fails loudly: any failing test prints its log and the script exits non-zero.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
start=$(date +%s)

bash scripts/install-deps.sh

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87
export SEALMILTER_REQUIRE_E2E=1     # in CI a missing MTA is a failure, not a skip

summary() {   # summary LOGFILE: the automake totals as "N passed, M failed"
	local pass fail
	pass=$(sed -n 's/^# PASS: *//p' "$1" | head -1)
	fail=$(sed -n 's/^# FAIL: *//p' "$1" | head -1)
	echo "${pass:-0} ${fail:-0}"
}

echo "== sanitizer build (ASan + UBSan, -Werror) and the whole suite"
bash scripts/build.sh "$top/build-asan" --enable-werror \
	CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
	LDFLAGS="-fsanitize=address,undefined"
rc=0
make -C "$top/build-asan" check VERBOSE=1 > "$top/build-asan/check.out" 2>&1 || rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$top/build-asan/check.out" || true
read -r p1 f1 < <(summary "$top/build-asan/check.out")
if [ "$rc" -ne 0 ]; then
	echo "== FAILED: the sanitizer suite; details:" >&2
	sed -n '/^=* *$/,$p' "$top/build-asan/check.out" | tail -n 300 >&2
	echo "$p1 passed, ${f1:-1} failed"
	exit 1
fi
if grep -qE '^SKIP:' "$top/build-asan/check.out"; then
	echo "== FAILED: a test was skipped; every test must run here" >&2
	exit 1
fi

echo "== optimised build (-O2 -Werror) and make distcheck"
rc=0
bash scripts/build.sh "$top/build" --enable-werror CFLAGS="-O2 -g" || rc=$?
[ "$rc" -eq 0 ] || { echo "== FAILED: optimised build" >&2; exit 1; }
make -C "$top/build" distcheck > "$top/build/distcheck.out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "== FAILED: make distcheck; details:" >&2
	tail -n 100 "$top/build/distcheck.out" >&2
	exit 1
fi
read -r p2 f2 < <(summary "$top/build/distcheck.out")
echo "== all green in $(( $(date +%s) - start ))s: sanitizer suite $p1 tests, distcheck $p2 tests"
echo "$((p1 + p2)) passed, $((f1 + f2)) failed"
