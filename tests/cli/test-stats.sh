#!/usr/bin/env bash
# test-stats.sh - sealctl stats over a sample mail.log (tests/data/logs/sample.maillog): RFC 3339
# and traditional syslog stamps, sealmilter -f's prefix, a CRLF line, other programs' lines
# (one carrying text that looks like sealmilter's), sealmilter's own lines that are not
# about a message, malformed ones (an unterminated quote, a bad key, two spaces, a bad
# escape), a hostile address whose quoted text tries to pass for pairs, encoded rule names,
# binary garbage, an impossible date. The summary must equal tests/data/logs/sample.maillog.stats
# (the period line aside: a traditional stamp has no year). Also: standard input, --since
# and --until, a line over the 1 MiB cap, a file of random bytes, and the errors.
set -euo pipefail
. "$SRCDIR/tests/cli/lib.sh"
: "${SEALCTL:?}"
T=$(mktemp -d /tmp/sealctl-stats.XXXXXX)
trap 'rm -rf "$T"' EXIT
LOG=$SRCDIR/tests/data/logs/sample.maillog
export TZ=UTC

rc=0
"$SEALCTL" stats "$LOG" > "$T/out" 2> "$T/err" || rc=$?
t_rc "stats over the sample log" 0 "$rc"
grep -v '^period:' "$T/out" > "$T/out.noperiod"
if diff -u "$SRCDIR/tests/data/logs/sample.maillog.stats" "$T/out.noperiod" > "$T/diff"; then
	t_ok "the summary is exactly the expected one"
else
	t_fail "the summary is exactly the expected one" "$(cat "$T/diff")"
fi
t_grep "the first message's time, from a +01:00 stamp" '^period: 2026-11-20 09:10:00 to ' "$T/out"
t_nogrep "nothing of the lines that only look like sealmilter's is counted" 'evil' "$T/out"
t_grep "the hostile address could not make a pair: its line is an accepted inbound message" \
	'^inbound +3 +1 +0 +0 +4$' "$T/out"

"$SEALCTL" stats < "$LOG" | grep -v '^period:' > "$T/stdin.out"
t_check "standard input gives the same summary" diff -u "$SRCDIR/tests/data/logs/sample.maillog.stats" "$T/stdin.out"

"$SEALCTL" stats --since 2026-11-20T10:00 --until 2026-11-20T10:26 "$LOG" > "$T/period.out"
t_grep "--since/--until: 5 messages, 2 outside, 1 without a time" \
	'^sealmilter messages: 5 \(1 file; skipped: 9 lines of other programs, 4 malformed, 0 too long, 2 outside the period, 1 without a time\)$' \
	"$T/period.out"
t_grep "and the period they span" '^period: 2026-11-20 10:00:03 to 2026-11-20 10:25:00$' "$T/period.out"
t_grep "their latency" '^latency \(ms\): p50 3\.0  p95 40\.0  max 40\.0  \(5 messages\)$' "$T/period.out"

# A line over the cap is skipped to its end; the next one still counts.
{
	head -c 2100000 /dev/zero | tr '\0' 'x'
	echo
	grep -a '4XyzAB1:' "$LOG"
} > "$T/long.log"
"$SEALCTL" stats "$T/long.log" > "$T/long.out"
t_grep "a 2 MB line is skipped as too long" '^sealmilter messages: 1 \(1 file; skipped: 0 lines of other programs, 0 malformed, 1 too long\)$' \
	"$T/long.out"

head -c 1000000 /dev/urandom > "$T/random.log"
rc=0
"$SEALCTL" stats "$T/random.log" > "$T/random.out" 2>&1 || rc=$?
t_rc "a megabyte of random bytes: no crash" 0 "$rc"
t_grep "and no message" '^sealmilter messages: 0 ' "$T/random.out"

rc=0
"$SEALCTL" stats --since yesterday "$LOG" > /dev/null 2> "$T/e1" || rc=$?
t_rc "a bad --since: exit 1" 1 "$rc"
t_grep "naming the option and the value" "--since: 'yesterday' is not a time" "$T/e1"
rc=0
"$SEALCTL" stats "$LOG" "$T/no-such.log" > /dev/null 2> "$T/e2" || rc=$?
t_rc "a file that cannot be read: exit 1" 1 "$rc"
t_grep "naming it" "no-such.log: No such file or directory" "$T/e2"
t_done
