#!/usr/bin/env bash
# test-milter-limits.sh - the limits the milter front end enforces itself, on a real
# sealmilter daemon over the milter protocol on loopback (no MTA; miltlimits.py is the MTA):
#   milter.max_connections: MAX admitted, one past refused at connect with 451 4.3.2,
#     every way a connection ends (QUIT, dropped mid-message) freeing its place exactly
#     once, new connections admitted again once they close; the default is 256;
#   limits.max_recipients: MAX accepted, those past it refused with 452 4.5.3, the
#     message still delivered to its MAX.
# Each refusal must have a log line naming the limit and its value; the daemon stops
# cleanly with no sanitizer report.
set -euo pipefail
. "$SRCDIR/tests/cli/lib.sh"
: "${SEALMILTER:?}" "${SEALCTL:?}"
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "SKIP: python3 is needed for the milter client"; exit 77; }
T=$(mktemp -d /tmp/milter-conns.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir "$T/spool"
"$SEALCTL" keys generate marker --out "$T/marker.key" >/dev/null
write() {   # write FILE [lines under milter:, or a section]
	cat > "$1" <<YAML
organization: { domains: [example.com] }
milter:
  spool_dir: $T/spool
  marker_key_file: $T/marker.key
${2:-}
rules:
  - name: lunch
    if: { subject: lunch }
    then: { tag: { header: X-Lunch, value: "yes" } }
YAML
}
# start CONFIG LOG: sealmilter in the foreground on a fresh port; waits until it answers.
start() {
	PORT=$(free_port)
	"$SEALMILTER" -f -c "$1" -p "inet:$PORT@127.0.0.1" 2> "$2" &
	PID=$!
	for _ in $(seq 200); do
		"$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()' "$PORT" \
			2>/dev/null && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	t_fail "sealmilter did not start" "$(cat "$2")"
	return 1
}
stop() {   # stop NAME LOG
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=
	t_rc "$1: SIGTERM stops it cleanly" 0 "$rc"
	t_nogrep "$1: no sanitizer report" "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$2"
}

# The default, and the bounds, as sealmilter -n reads them.
write "$T/default.yaml"
"$SEALMILTER" -n -c "$T/default.yaml" > "$T/n.out" 2>&1 || true
write "$T/zero.yaml" "  max_connections: 0"
rc=0
"$SEALMILTER" -n -c "$T/zero.yaml" > "$T/zero.out" 2>&1 || rc=$?
t_rc "-n: max_connections 0 is refused" 1 "$rc"
t_grep "and the key and its bounds are named" "milter.max_connections.*(1|between|at least)" "$T/zero.out"
"$SEALCTL" config-reference > "$T/ref.md"
t_grep "the default is 256" '^\| `milter.max_connections` \| number \| 256 \| 1 to 100000 \|' "$T/ref.md"

# Limit 3: three admitted, the fourth refused, each way of closing frees one place.
write "$T/three.yaml" "  max_connections: 3"
start "$T/three.yaml" "$T/three.log"
"$PY" "$SRCDIR/tests/cli/miltlimits.py" conns 127.0.0.1 "$PORT" 3 > "$T/three.out" 2>&1 && rc=0 || rc=$?
while read -r line; do
	case $line in
	"ok - "*) t_ok "max 3: ${line#ok - }" ;;
	"FAIL - "*) t_fail "max 3: ${line#FAIL - }" ;;
	esac
done < "$T/three.out"
t_rc "max 3: the milter client finished" 0 "$rc"
refused=$(sed -n 's/^refused=//p' "$T/three.out")
want='connection from client.example \[127\.0\.0\.1\] refused: 3 connections open, the most milter\.max_connections \(3\) allows; replied 451 4\.3\.2'
got=$(grep -cE "$want" "$T/three.log" || true)
t_check "max 3: each of the ${refused:-?} refusals has a log line naming the limit and its value" \
	test -n "$refused" -a "$refused" -gt 0 -a "$got" = "$refused"
t_nogrep "max 3: no other refusal was logged" "refused: [0-24-9]+ connections open" "$T/three.log"
t_grep "max 3: the message at the limit was handled (its log line)" "verdict=accept" "$T/three.log"
stop "max 3" "$T/three.log"

# Limit 1, the smallest: one admitted, the second refused.
write "$T/one.yaml" "  max_connections: 1"
start "$T/one.yaml" "$T/one.log"
"$PY" "$SRCDIR/tests/cli/miltlimits.py" conns 127.0.0.1 "$PORT" 1 > "$T/one.out" 2>&1 && rc=0 || rc=$?
t_rc "max 1: every check passed ($(tail -n 1 "$T/one.out"))" 0 "$rc"
[ "$rc" = 0 ] || cat "$T/one.out"
t_grep "max 1: the log names the limit" "refused: 1 connections open, the most milter\.max_connections \(1\) allows" "$T/one.log"
stop "max 1" "$T/one.log"

# limits.max_recipients 4: the fifth and sixth recipients are refused, twice (two messages).
write "$T/rcpts.yaml" "limits: { max_recipients: 4 }"
start "$T/rcpts.yaml" "$T/rcpts.log"
"$PY" "$SRCDIR/tests/cli/miltlimits.py" rcpts 127.0.0.1 "$PORT" 4 > "$T/rcpts.out" 2>&1 && rc=0 || rc=$?
while read -r line; do
	case $line in
	"ok - "*) t_ok "max_recipients 4: ${line#ok - }" ;;
	"FAIL - "*) t_fail "max_recipients 4: ${line#FAIL - }" ;;
	esac
done < "$T/rcpts.out"
t_rc "max_recipients 4: the milter client finished" 0 "$rc"
got=$(grep -cE 'recipients past limits\.max_recipients \(4\) refused with 452 4\.5\.3, from the first: <r4@partner\.test>' \
	"$T/rcpts.log" || true)
t_check "max_recipients 4: one log line per message naming the limit and its value (got $got, want 2)" test "$got" = 2
t_grep "max_recipients 4: the message's own log line counts its 4 recipients" "rcpts=4 .*verdict=accept" "$T/rcpts.log"
stop "max_recipients 4" "$T/rcpts.log"
t_done
