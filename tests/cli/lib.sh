# lib.sh - tiny assertion helpers for the shell tests. Source it; call t_ok/t_fail
# per check and t_done at the end (prints "N passed, M failed", exits non-zero on failure).
T_PASS=0
T_FAIL=0
t_ok() { T_PASS=$((T_PASS + 1)); echo "ok - $1"; }
t_fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL - $1" >&2; [ -n "${2:-}" ] && printf '  %s\n' "$2" >&2; return 0; }
# t_check NAME COMMAND...: passes when the command succeeds.
t_check() { local n=$1; shift; if "$@"; then t_ok "$n"; else t_fail "$n" "command failed: $*"; fi; }
# t_grep NAME PATTERN FILE: the file has a line matching the pattern.
t_grep() {
	if grep -qE -- "$2" "$3"; then t_ok "$1"; else t_fail "$1" "want /$2/ in $3; got: $(head -c 2000 "$3")"; fi
}
t_nogrep() {
	if grep -qE -- "$2" "$3"; then t_fail "$1" "did not want /$2/ in $3; got: $(grep -E -- "$2" "$3" | head -3)"; else t_ok "$1"; fi
}
# t_rc NAME WANT GOT
t_rc() { if [ "$2" = "$3" ]; then t_ok "$1"; else t_fail "$1" "got exit code $3, want $2"; fi; }
t_done() {
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}
