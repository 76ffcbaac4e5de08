#!/usr/bin/env bash
# fuzz.sh [SECONDS] - `make fuzz`: build every libFuzzer target with clang (ASan + UBSan) in
# build-fuzz/ and run each for SECONDS (default 60) on a copy of its seed corpus
# (fuzz/corpus/TARGET). Prints executions, coverage and corpus size per target, and the table
# docs/testing.md keeps. Exit 1 on any crash, leak, timeout or sanitizer report: its
# reproducer is kept in build-fuzz/fuzz-artifacts/ and printed. CI (scripts/test-all.sh)
# runs it with 60 s a target.
#
# Needs clang and libclang-rt-14-dev (scripts/install-deps.sh installs them).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-${FUZZ_SECONDS:-60}}
B=$top/build-fuzz
TARGETS="message config open dkim msgview app logline"
FLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"

command -v clang >/dev/null || { echo "fuzz: clang is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
mkdir -p "$B"
cd "$B"
if [ ! -f Makefile ]; then
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null 2>&1)
	"$top/configure" -q --disable-e2e-tests CC=clang CFLAGS="$FLAGS -fsanitize=fuzzer-no-link" > configure.out 2>&1 ||
		{ cat configure.out >&2; echo "fuzz: configure failed" >&2; exit 1; }
fi
make -s -j"$(nproc)" libseal.a libview.a > make.out 2>&1 || { tail -n 40 make.out >&2; echo "fuzz: build failed" >&2; exit 1; }
libs=$(make -s print-fuzz-libs)
cppflags=$(make -s print-fuzz-cppflags)
mkdir -p fuzz fuzz-artifacts fuzz-work
for t in $TARGETS; do
	# shellcheck disable=SC2086
	clang $FLAGS -fsanitize=fuzzer $cppflags -I"$top" -I. -o "fuzz/lf_$t" "$top/fuzz/fuzz_$t.c" $libs ||
		{ echo "fuzz: cannot build fuzz_$t" >&2; exit 1; }
done

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
failed=0
printf '%-8s %10s %9s %6s %6s %9s %s\n' target seconds execs exec/s cov features corpus
for t in $TARGETS; do
	case $t in message) max=16384 ;; dkim) max=8192 ;; *) max=4096 ;; esac
	rm -rf "fuzz-work/$t"
	mkdir -p "fuzz-work/$t"
	cp "$top/fuzz/corpus/$t"/* "fuzz-work/$t/"
	rc=0
	"./fuzz/lf_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max" -print_final_stats=1 \
		-artifact_prefix="fuzz-artifacts/$t-" "fuzz-work/$t" > "fuzz-work/$t.log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz-work/$t.log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "fuzz-work/$t.log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+' "fuzz-work/$t.log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -oE 'ft: [0-9]+' "fuzz-work/$t.log" | tail -n 1 | cut -d' ' -f2)
	corpus=$(find "fuzz-work/$t" -type f | wc -l)
	printf '%-8s %10s %9s %6s %6s %9s %s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corpus"
	if [ "$rc" -ne 0 ]; then
		failed=1
		echo "fuzz: fuzz_$t FAILED (exit $rc); the end of its log:" >&2
		tail -n 60 "fuzz-work/$t.log" >&2
		ls fuzz-artifacts/"$t"-* 2>/dev/null | sed 's/^/fuzz: reproducer: build-fuzz\//' >&2 || true
	fi
done
if [ "$failed" -ne 0 ]; then
	echo "fuzz: FAILED: add each reproducer to fuzz/corpus/TARGET as a regression once it is fixed" >&2
	exit 1
fi
echo "fuzz: every target ran ${secs}s with no finding"
