#!/bin/sh
# test-badinput.sh - hostile messages through `sealctl process`, the same
# pipeline the milter runs (engine/eml.c -> engine/session.c).
#
# gen-badinput.py writes the messages (malformed and missing MIME
# boundaries, deep nesting, 5000 parts, 8-bit/invalid UTF-8 headers, broken
# RFC 2047 words, NUL bytes, 10,000 headers, a 1 MB header, 1,000
# recipients, a 100 MB body, no body, no headers, bare CR, an mbox "From "
# line only) and a MANIFEST of what each must give. For every message:
#   - the exit code is 0, 2 or 75: never 1 (a read/usage error), never a signal;
#   - stderr has the decision line (verdict=) and no sanitizer report;
#   - the verdict is the expected one (limits: 552 5.3.4);
#   - an accepted message keeps its body byte for byte;
#   - the 100 MB body is spooled: peak RSS stays under RSS_LIMIT_KB.
# Environment (from TESTS_ENVIRONMENT): SEALCTL, SRCDIR. Skips (77) only
# when python3 is missing.
set -u

: "${SEALCTL:?SEALCTL must name the sealctl binary}"
: "${SRCDIR:?SRCDIR must name the source directory}"
RSS_LIMIT_KB=${RSS_LIMIT_KB:-65536}   # 64 MB; ~28 MB measured under ASan+UBSan

if [ -x /usr/bin/python3 ]; then
	PY=/usr/bin/python3
elif command -v python3 >/dev/null 2>&1; then
	PY=$(command -v python3)
else
	echo "SKIP: python3 is needed to generate the messages"
	exit 77
fi

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
SANITIZER_RE='ERROR: AddressSanitizer|runtime error:|LeakSanitizer|ERROR: UndefinedBehaviorSanitizer'

tmp=$(mktemp -d "${TMPDIR:-/tmp}/badinput.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
mkdir "$tmp/spool" "$tmp/cases" || exit 1

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# The example configuration, spooling to our temp dir, plus rules that make
# every hostile header and body reach the subject, header, body and
# attachment conditions (they only tag, so verdicts stay those of the example).
sed 's#^\([[:space:]]*spool_dir:\).*#\1 '"$tmp/spool"'#' "$SRCDIR/contrib/sealmilter.yaml" >"$tmp/sealmilter.yaml"
printf '\ninclude: badinput-extra.yaml\n' >>"$tmp/sealmilter.yaml"
cat >"$tmp/badinput-extra.yaml" <<'EOF'
rules:
  - name: bad-subject
    if: { subject: { regex: 'gr.{1,4}e aus|cut .* mid|hostile$' } }
    then: { tag: { header: X-Badinput-Subject, value: hit } }
  - name: bad-header
    if:
      any:
        - header: { name: X-Latin, exists: true }
        - header: { name: X-Word, contains: abc }
        - header: { name: X-Overlong, regex: '[^a-z]{3}' }
    then: { tag: { header: X-Badinput-Header, value: hit } }
  - name: bad-body
    if:
      any:
        - body: { contains: [quick brown fox, innermost, "digest item"] }
        - attachment: { content_type: ["application/*"], size: { over: 1 } }
        - attachment: { filename: ["*.pdf", "*.scr"] }
    then: { tag: { header: X-Badinput-Body, value: hit } }
EOF
if out=$("$SEALCTL" -c "$tmp/sealmilter.yaml" check 2>&1); then
	ok "config: $out"
else
	bad "config: $out"
fi

if ! "$PY" "$SRCDIR/tests/cli/gen-badinput.py" "$tmp/cases"; then
	bad "gen-badinput.py failed"
	echo "$pass passed, $fail failed"
	exit 1
fi

# run OUTFILE ERRFILE RSSFILE sealctl-args...: exit status of sealctl; its
# peak RSS (KB) in RSSFILE.
run() {
	_o=$1 _e=$2 _r=$3
	shift 3
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f %M -o "$_r" "$@" </dev/null >"$_o" 2>"$_e"
	else
		"$PY" -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc if rc >= 0 else 128 - rc)' "$_r" "$@" </dev/null >"$_o" 2>"$_e"
	fi
}

# The byte before offset OFF of FILE, as two hex digits.
byte_before() {
	tail -c "$2" "$1" | head -c 1 | od -An -tx1 | tr -d ' \n'
}

while read -r name expect off tags; do
	in="$tmp/cases/$name.eml"
	o="$tmp/out" e="$tmp/err" r="$tmp/rss"
	rm -f "$o" "$e" "$r"
	set -- "$SEALCTL" -c "$tmp/sealmilter.yaml" process "$in"
	if [ -f "$tmp/cases/$name.rcpts" ]; then
		while read -r rc; do
			set -- "$@" --to "$rc"
		done <"$tmp/cases/$name.rcpts"
	fi
	run "$o" "$e" "$r" "$@"
	status=$?
	verdict=$(grep -a -o ' verdict=[a-z]*' "$e" | head -n 1 | sed 's/^ //')
	why=""
	case $status in
	0 | 2 | 75) ;;
	1) why="exit 1 (usage/config/read error)" ;;
	*) why="exit $status (crash or signal?)" ;;
	esac
	if grep -a -q -E "$SANITIZER_RE" "$e"; then
		why="$why${why:+; }sanitizer report: $(grep -a -m 1 -E 'ERROR: |runtime error:|LeakSanitizer' "$e")"
	fi
	[ -n "$verdict" ] || why="$why${why:+; }no verdict= line on stderr"
	case $expect in
	accept)
		[ "$status" = 0 ] || why="$why${why:+; }expected accept" ;;
	reject:*)
		code=$(echo "$expect" | cut -d: -f2) xcode=$(echo "$expect" | cut -d: -f3)
		if [ "$status" != 2 ] || ! grep -a -q "^rejected: $code $xcode " "$e"; then
			why="$why${why:+; }expected reject $code $xcode"
		fi ;;
	any) ;;
	*) why="$why${why:+; }bad MANIFEST line" ;;
	esac
	# The hostile part still reached the conditions: the rule's tag is there.
	if [ "$status" = 0 ] && [ "${tags:--}" != - ]; then
		for tag in $(echo "$tags" | tr ',' ' '); do
			head -c 1048576 "$o" | grep -a -q "^$tag: hit" ||
				why="$why${why:+; }no $tag: the hostile part did not reach the conditions"
		done
	fi
	# An accepted message ends with its body, untouched, after a line end.
	if [ "$status" = 0 ] && [ "$off" -ge 0 ]; then
		insize=$(wc -c <"$in")
		outsize=$(wc -c <"$o")
		n=$((insize - off))
		outoff=$((outsize - n))
		if [ "$outoff" -lt 1 ]; then
			why="$why${why:+; }output shorter than the body ($outsize < $n + 1)"
		elif ! cmp -s -i "$off:$outoff" "$in" "$o"; then
			why="$why${why:+; }body changed ($(cmp -i "$off:$outoff" "$in" "$o" 2>&1 | head -n 1))"
		elif [ "$(byte_before "$o" $((n + 1)))" != 0a ]; then
			why="$why${why:+; }body not preceded by a line end"
		fi
	fi
	extra=""
	if [ "$name" = body-100mb ]; then
		rss=$(tail -n 1 "$r" 2>/dev/null)
		case $rss in
		'' | *[!0-9]*) why="$why${why:+; }no RSS measured" ;;
		*)
			extra=" rss=${rss}KB (limit ${RSS_LIMIT_KB}KB)"
			[ "$rss" -lt "$RSS_LIMIT_KB" ] || why="$why${why:+; }body held in memory? peak RSS ${rss}KB" ;;
		esac
	fi
	if [ -z "$why" ]; then
		ok "$name: $verdict$extra"
	else
		bad "$name: $why (${verdict:-no verdict}, exit $status)$extra"
		grep -a -v '^$' "$e" | head -n 20 | sed 's/^/    /'
	fi
done <"$tmp/cases/MANIFEST"

# Spool files are unlinked from the start: nothing may be left behind.
if [ -z "$(ls -A "$tmp/spool")" ]; then
	ok "spool_dir left empty"
else
	bad "files left in spool_dir: $(find "$tmp/spool" -mindepth 1 | head -n 5 | tr '\n' ' ')"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
