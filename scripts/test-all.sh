#!/usr/bin/env bash
# test-all.sh - install what is missing, build, and run every test:
#   1. an AddressSanitizer + UndefinedBehaviorSanitizer build with -Werror runs the whole
#      suite: unit tests, CLI and hostile-input tests, and the end-to-end tests with a
#      real Postfix and a real Sendmail;
#   2. static analysis: cppcheck and clang-tidy over every .c file, no finding allowed
#      (scripts/static.sh, the checks in .clang-tidy and scripts/cppcheck.supp);
#   3. every libFuzzer target runs for 60 s (scripts/fuzz.sh, clang, ASan + UBSan);
#   4. an optimised -Werror build runs `make distcheck` (dist tarball, VPATH build,
#      install/uninstall, and the unit and CLI tests again);
#   5. that build runs the fault soak with 10,000 messages (`make soak`; the suite in 1.
#      runs it with 1,500 under the sanitizers);
#   6. the Debian packages are built from a clean copy, installed, started as their units
#      do, carry a test mail through Postfix, are upgraded and purged
#      (tests/e2e/test-package.sh; it changes the machine, so it is not in make check).
# Fails loudly: any failing test prints its log and the script exits non-zero.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
start=$(date +%s)

bash scripts/install-deps.sh

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87
export SEALMILTER_REQUIRE_E2E=1     # in CI a missing MTA is a failure, not a skip

summary() {   # summary LOGFILE: the automake totals (test programs) as "PASSED FAILED"
	local pass fail
	pass=$(sed -n 's/^# PASS: *//p' "$1" | head -1)
	fail=$(sed -n 's/^# FAIL: *//p' "$1" | head -1)
	echo "${pass:-0} ${fail:-0}"
}

checks() {    # checks BUILDDIR: individual checks in the test logs as "PASSED FAILED"
	local p=0 f=0 n fl
	while read -r n fl; do p=$((p + n - fl)); f=$((f + fl)); done < <(
		find "$1/tests" "$1/fuzz" -name '*.log' -exec cat {} + 2>/dev/null |
		sed -nE 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p' |
		while read -r a b c; do echo "$a $((b + c))"; done)
	while read -r n fl; do p=$((p + n)); f=$((f + fl)); done < <(
		find "$1/tests" -name '*.log' -exec cat {} + 2>/dev/null | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p')
	while read -r n; do p=$((p + n)); done < <(   # each fuzz corpus input is a check
		find "$1/fuzz" -name '*.log' -exec cat {} + 2>/dev/null | sed -nE 's/.*: ([0-9]+) inputs from .* ran.*/\1/p')
	echo "$p $f"
}

echo "== sanitizer build (ASan + UBSan, -Werror) and the whole suite"
bash scripts/build.sh "$top/build-asan" --enable-werror \
	CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
	LDFLAGS="-fsanitize=address,undefined"
rc=0
make -C "$top/build-asan" check VERBOSE=1 > "$top/build-asan/check.out" 2>&1 || rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$top/build-asan/check.out" || true
read -r p1 f1 < <(summary "$top/build-asan/check.out")
read -r c1 cf1 < <(checks "$top/build-asan")
if [ "$rc" -ne 0 ]; then
	echo "== FAILED: the sanitizer suite; details:" >&2
	sed -n '/^=* *$/,$p' "$top/build-asan/check.out" | tail -n 300 >&2
	echo "$c1 passed, $((cf1 > 0 ? cf1 : 1)) failed"
	exit 1
fi
if grep -qE '^SKIP:' "$top/build-asan/check.out"; then
	echo "== FAILED: a test was skipped; every test must run here" >&2
	exit 1
fi

echo "== static analysis: cppcheck and clang-tidy"
if ! bash scripts/static.sh "$top/build-asan"; then
	echo "== FAILED: static analysis: each finding is printed above (FILE:LINE ... [check]);" \
		"fix it, or mark a false positive on its line with the reason (docs/testing.md)" >&2
	exit 1
fi

echo "== libFuzzer: every fuzz target for ${FUZZ_SECONDS:-60} s (clang, ASan + UBSan)"
if ! bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"; then
	echo "== FAILED: a fuzz target found a problem (its reproducer is printed above)" >&2
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

echo "== fault soak: ${SOAK_MSGS:-10000} messages through Postfix under faults (make soak, optimised build)"
rc=0
make -C "$top/build" soak SOAK_MSGS="${SOAK_MSGS:-10000}" > "$top/build/soak.out" 2>&1 || rc=$?
sed -n '/^soak: /,$p' "$top/build/soak.out" | grep -v '^BAD ' | head -n 40
if [ "$rc" -ne 0 ]; then
	echo "== FAILED: the fault soak; details:" >&2
	grep -E '^(FAIL|BAD) ' "$top/build/soak.out" | head -n 60 >&2
	tail -n 40 "$top/build/soak.out" >&2
	exit 1
fi
read -r c4 cf4 < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$top/build/soak.out" | tail -n 1) || true
echo "== Debian packages: build, install, carry a test mail"
rc=0
bash "$top/tests/e2e/test-package.sh" > "$top/build/package.out" 2>&1 || rc=$?
grep -E '^(FAIL|timings:)' "$top/build/package.out" || true
read -r c3 cf3 < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$top/build/package.out" | tail -n 1) || true
if [ "$rc" -ne 0 ]; then
	echo "== FAILED: the Debian packages; details:" >&2
	tail -n 150 "$top/build/package.out" >&2
	echo "$((c1 + ${c3:-0})) passed, $(( ${cf3:-0} > 0 ? ${cf3:-0} : 1 )) failed"
	exit 1
fi
echo "== all green in $(( $(date +%s) - start ))s: sanitizer suite $p1 test programs ($c1 checks), distcheck $p2 test programs, fault soak ${SOAK_MSGS:-10000} messages (${c4:-0} checks), packages ${c3:-0} checks"
echo "$((c1 + ${c3:-0} + ${c4:-0})) passed, $((cf1 + f1 + f2)) failed"
