#!/usr/bin/env bash
# static.sh [BUILDDIR] - `make static`: static analysis of every .c file of the project
# (not build directories, not node_modules), failing on any finding:
#   1. cppcheck (--enable=warning,style,performance,portability), global suppressions
#      in scripts/cppcheck.supp, Check's macros described in scripts/cppcheck-check.cfg;
#   2. clang-tidy with the checks of .clang-tidy (per-directory .clang-tidy files in
#      tests/unit/ and fuzz/ add to it), compiled with the flags of BUILDDIR's Makefile;
#      its clang-analyzer-* checks are the Clang static analyzer, the one scan-build runs
#      (scan-build is not run: same findings, and no way to mark a false positive).
# Each finding is printed as FILE:LINE: ... [check]; the whole logs stay in
# BUILDDIR/static/. A false positive is suppressed on its line (NOLINT(check) or
# cppcheck-suppress id) with a reason. BUILDDIR (default build/) must be configured
# (scripts/build.sh; it is configured here if it is not): its build-config.h and its
# Makefile's flags (GMime, GLib, OpenSSL... through pkg-config) are used.
# STATIC_JOBS (default 2) processes at a time. Needs cppcheck and clang-tidy-14
# (scripts/install-deps.sh installs them). CI: scripts/test-all.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=$(mkdir -p "${1:-$top/build}" && cd "${1:-$top/build}" && pwd)
jobs=${STATIC_JOBS:-2}
out=$B/static
start=$(date +%s)

tidy=$(command -v clang-tidy-14 || command -v clang-tidy || true)
if ! command -v cppcheck >/dev/null || [ -z "$tidy" ]; then
	echo "static: cppcheck or clang-tidy-14 is missing (scripts/install-deps.sh installs them)" >&2
	exit 1
fi
if [ ! -f "$B/build-config.h" ] || [ ! -f "$B/Makefile" ]; then
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null 2>&1)
	(cd "$B" && "$top/configure" -q --disable-e2e-tests) > "$B/configure.out" 2>&1 ||
		{ cat "$B/configure.out" >&2; echo "static: configure failed in $B" >&2; exit 1; }
fi
rm -rf "$out"
mkdir -p "$out/tidy"

# The project's .c files, relative to the top: not build trees (build*/, _build/, a
# distdir, BUILDDIR wherever it is), not node_modules.
cd "$top"
mapfile -t files < <(find . -type d \( -name 'build*' -o -name _build -o -name 'sealmilter-*' -o -name node_modules \
	-o -name .git -o -name autom4te.cache \) -prune -o -name '*.c' -type f -print | sed 's|^\./||' |
	while read -r f; do case "$top/$f" in "$B"/*) ;; *) echo "$f" ;; esac; done | sort)
[ ${#files[@]} -gt 0 ] || { echo "static: no .c files under $top" >&2; exit 1; }
failed=0

echo "static: cppcheck $(cppcheck --version | sed 's/^Cppcheck //') over ${#files[@]} files"
rc=0
cppcheck -q -j"$jobs" --std=c11 --platform=unix64 --enable=warning,style,performance,portability \
	--inline-suppr --suppressions-list="$top/scripts/cppcheck.supp" \
	--library=posix,gnu,openssl,gtk,libcurl,sqlite3 --library="$top/scripts/cppcheck-check.cfg" \
	-I"$top" -I"$B" -DHAVE_CONFIG_H -D_GNU_SOURCE -DSRCDIR='"."' -DFUZZ_CORPUS_DIR='"."' \
	--error-exitcode=3 --template='{file}:{line}: {severity}: {message} [{id}]' \
	"${files[@]}" > "$out/cppcheck.log" 2>&1 || rc=$?
grep -E '^[^ ]+:[0-9]+: ' "$out/cppcheck.log" | sort -u > "$out/cppcheck.findings" || true
n=$(wc -l < "$out/cppcheck.findings")
if [ "$rc" -ne 0 ] || [ "$n" -ne 0 ]; then
	cat "$out/cppcheck.findings"
	[ "$n" -ne 0 ] || cat "$out/cppcheck.log"
	echo "static: cppcheck: $n finding(s) (exit $rc)"
	failed=1
else
	echo "static: cppcheck: no finding"
fi

# clang-tidy: a compilation database with the flags of BUILDDIR's Makefile, and those
# Makefile.am gives the unit tests (Check's flags, SRCDIR) and fuzz targets.
json() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }
read -r -a cflags <<< "$(make -s -C "$B" print-static-flags | tail -n 1 | sed 's/ -Werror\b//g')"
read -r -a checkflags <<< "$(make -s -C "$B" print-check-cflags | tail -n 1)"
{
	echo "["
	sep=""
	for f in "${files[@]}"; do
		args=(clang "${cflags[@]}")
		case $f in
		tests/unit/*) args+=("${checkflags[@]}" "-DSRCDIR=\"$top\"") ;;
		fuzz/*) args+=("-DFUZZ_CORPUS_DIR=\"$top/fuzz/corpus\"") ;;
		esac
		args+=(-c "$top/$f")
		printf '%s{"directory": %s, "file": %s, "arguments": [' "$sep" "$(json "$B")" "$(json "$top/$f")"
		s=""
		for a in "${args[@]}"; do printf '%s%s' "$s" "$(json "$a")"; s=", "; done
		printf ']}\n'
		sep=","
	done
	echo "]"
} > "$out/compile_commands.json"

echo "static: $("$tidy" --version | sed -n 's/.*LLVM version \([0-9.]*\).*/clang-tidy \1/p') over ${#files[@]} files ($jobs at a time)"
export tidy out top
# The largest files first, so that the last one to finish is a small one.
ls -S "${files[@]}" | xargs -P"$jobs" -I{} sh -c \
	'log="$out/tidy/$(echo "$1" | tr / _).log"; "$tidy" -p "$out" --quiet "$top/$1" > "$log" 2>&1 || echo "exit $?" >> "$log"' _ {}
cat "$out"/tidy/*.log > "$out/clang-tidy.log"
grep -E '^/[^ ]+:[0-9]+:[0-9]+: (warning|error): ' "$out/clang-tidy.log" | sed "s|^$top/||" | sort -u > "$out/clang-tidy.findings" || true
n=$(wc -l < "$out/clang-tidy.findings")
bad=$(grep -l '^exit [0-9]' "$out"/tidy/*.log || true)
if [ "$n" -ne 0 ] || [ -n "$bad" ]; then
	cat "$out/clang-tidy.findings"
	[ "$n" -ne 0 ] || { echo "static: clang-tidy failed without a finding:" >&2; cat $bad >&2; }
	echo "static: clang-tidy: $n finding(s) (details with the analyzer's path: $out/clang-tidy.log)"
	failed=1
else
	echo "static: clang-tidy: no finding"
fi

echo "static: done in $(( $(date +%s) - start ))s"
if [ "$failed" -ne 0 ]; then
	echo "static: FAILED: fix each finding, or suppress a false positive on its line with the reason" >&2
	exit 1
fi
