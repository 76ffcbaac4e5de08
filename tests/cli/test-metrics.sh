#!/usr/bin/env bash
# test-metrics.sh - sealmilter's metrics endpoint for real: sealmilter runs with
# milter.metrics_listen on a free loopback port, bench/miltload speaks the milter protocol
# to it with messages that are sealed, tagged, refused, deferred and DKIM-checked, and
# /metrics (fetched with curl) must have moved by exactly those amounts. Every scrape is
# read by two parsers that must agree (tests/cli/promcheck.py: a strict one, and
# prometheus_client's), whose checks are shown to fail on broken texts first. Also: the
# endpoint's 404 and 405, a reload counted, a dead worker's successor serving the same
# socket (the supervisor keeps it), the loader refusing an address off loopback, and
# sealctl stats over the same daemon's log, which must tell the same numbers.
set -euo pipefail
. "$SRCDIR/tests/cli/lib.sh"
: "${SEALMILTER:?}" "${SEALCTL:?}" "${BUILDDIR:?}"
PY=/usr/bin/python3
if ! $PY -c 'import prometheus_client' 2>/dev/null; then
	[ "${SEALMILTER_REQUIRE_E2E:-0}" = 1 ] && { echo "FAIL: python3-prometheus-client is not installed (scripts/install-deps.sh)" >&2; exit 1; }
	echo "SKIP: python3-prometheus-client is not installed"; exit 77
fi
T=$(mktemp -d /tmp/sealmilter-metrics.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
check() { $PY "$SRCDIR/tests/cli/promcheck.py" "$@"; }

# 1. The checker itself fails on what is wrong.
bad() {   # bad NAME TEXT: promcheck must refuse TEXT
	printf '%b' "$2" > "$T/bad.txt"
	if check "$T/bad.txt" > "$T/bad.out" 2>&1; then t_fail "promcheck refuses $1" "$(cat "$T/bad.out")"; else t_ok "promcheck refuses $1"; fi
}
bad "a sample without TYPE" 'x_total 1\n'
bad "a counter not named _total" '# TYPE x counter\nx 1\n'
bad "a bad escape in a label" '# TYPE x_total counter\nx_total{a="\\q"} 1\n'
bad "buckets that are not cumulative" '# TYPE h histogram\nh_bucket{le="1"} 5\nh_bucket{le="+Inf"} 3\nh_sum 1\nh_count 3\n'
bad "a count that is not the +Inf bucket" '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 3\nh_sum 1\nh_count 4\n'
bad "a series twice" '# TYPE x_total counter\nx_total{a="b"} 1\nx_total{a="b"} 2\n'
bad "interleaved families" '# TYPE a_total counter\na_total 1\n# TYPE b_total counter\nb_total 1\n# HELP a_total x\n'
bad "a missing line feed at the end" '# TYPE x_total counter\nx_total 1'
printf '# HELP x_total Help.\n# TYPE x_total counter\nx_total{a="q\\"\\\\"} 7\n' > "$T/good.txt"
t_check "promcheck takes a good text" check "$T/good.txt"
rc=0; check "$T/good.txt" 'x_total{a="q\"\\"}=8' > /dev/null || rc=$?
t_rc "promcheck refuses a wrong value" 1 "$rc"

# 2. The loader keeps the endpoint on loopback.
"$SEALCTL" keys generate tenant --out "$T" >/dev/null
"$SEALCTL" keys generate issuer --out "$T" >/dev/null
mkdir -p "$T/spool"
MPORT=$(free_port)
write() {   # write FILE METRICS-ADDRESS
	cat > "$1" <<YAML
organization: { domains: [example.com] }
milter: { spool_dir: $T/spool, metrics_listen: "$2" }
dns: { nameservers: [127.0.0.1@9], timeout: 1s }
dkim: { verify_inbound: true, authserv_id: mx.example.com }
keys:
  tenant: [ { id: t2026, cert: $T/tenant.pem, key: $T/tenant.key } ]
  issuer: { cert: $T/issuer.pem, key: $T/issuer.key }
templates:
  dnf: { rights: [view] }
rules:
  - name: seal-secure
    if: { direction: outbound, subject: { contains: ["[secure]"] } }
    then: { seal: dnf }
  - name: later
    if: { subject: { contains: ["[later]"] } }
    then: { tempfail: "4.7.1 Try again later" }
  - name: no-exe
    if: { attachment: { filename: ["*.exe"] } }
    then: { reject: "5.7.1 Executable attachments are not accepted" }
  - name: 'odd "name", with \\ and , in it'
    if: { subject: { contains: ["[odd]"] } }
    then: { tag: { header: X-Odd, value: "1" } }
YAML
}
write "$T/remote.yaml" "0.0.0.0:$MPORT"
rc=0
"$SEALMILTER" -n -c "$T/remote.yaml" > "$T/n.out" 2>&1 || rc=$?
t_rc "-n: metrics off loopback are refused" 1 "$rc"
t_grep "and the key and the way out are named" "milter.metrics_listen: '0.0.0.0:$MPORT' is not a loopback address.*milter.metrics_allow_remote: true" "$T/n.out"

# 3. The daemon, and traffic.
write "$T/m.yaml" "127.0.0.1:$MPORT"
PORT=$(free_port)
"$SEALMILTER" -f -c "$T/m.yaml" -p "inet:$PORT@127.0.0.1" > "$T/milter.log" 2>&1 &
PID=$!
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$MPORT/metrics" -o /dev/null 2>/dev/null && break; sleep 0.1; done
curl -fsS -D "$T/h0" "http://127.0.0.1:$MPORT/metrics" -o "$T/m0.txt" || t_fail "the endpoint answers" "$(tail "$T/milter.log")"
t_grep "it says its format" '^Content-Type: text/plain; version=0.0.4; charset=utf-8' <(tr -d '\r' < "$T/h0")
t_check "it listens on loopback only" bash -c "ss -Hltn '( sport = :$MPORT )' | grep -q '127.0.0.1:$MPORT '"
out=$(check "$T/m0.txt" 'sealmilter_messages_total{direction="outbound",verdict="accept"}=0' \
	'sealmilter_processing_seconds_count=0' 'sealmilter_sealed_total=0' 'sealmilter_build_info{version="0.1.0"}=1' \
	'sealmilter_dkim_results_total{result="permerror"}=0' 'sealmilter_tempfails_total{cause="mta"}=0' 2>&1) && rc=0 || rc=$?
t_rc "before any mail: every fixed series at 0, and the text parses ($out)" 0 "$rc"
t_grep "the sealing key's expiry is there" '^sealmilter_certificate_expiry_timestamp_seconds\{kind="tenant",name="t2026"\} [0-9]{10}$' "$T/m0.txt"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/nothing" || true)
t_rc "another path: 404" 404 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data x "http://127.0.0.1:$MPORT/metrics" || true)
t_rc "another method: 405" 405 "$code"

load() {   # load N FROM RCPT MESSAGE [miltload checks...]
	local n=$1 from=$2 rcpt=$3 msg=$4
	shift 4
	"$BUILDDIR/bench/miltload" -s "inet:$PORT@127.0.0.1" -m "$msg" -c 1 -n "$n" -f "$from" -r "$rcpt" "$@"
}
printf 'From: alice@example.com\r\nTo: bob@partner.test\r\nSubject: [secure] terms\r\n\r\nSECRET-LINE\r\n' > "$T/secure.eml"
printf 'From: alice@example.com\r\nTo: bob@partner.test\r\nSubject: [later] x\r\n\r\nbody\r\n' > "$T/later.eml"
printf 'From: bob@partner.test\r\nTo: alice@example.com\r\nSubject: [odd] x\r\n\r\nbody\r\n' > "$T/odd.eml"
printf 'DKIM-Signature: v=1; a=rsa-sha256; d=partner.test; s=x\r\nFrom: bob@partner.test\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nhello\r\n' > "$T/badsig.eml"
printf 'From: bob@partner.test\r\nTo: alice@example.com\r\nSubject: tool\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="setup.exe"\r\n\r\nMZ\r\n--b--\r\n' > "$T/exe.eml"
o=$(load 3 alice@example.com bob@partner.test "$T/secure.eml" -e body~application/vnd.sealmilter.sealed -x SECRET-LINE) && rc=0 || rc=$?
t_rc "3 outbound messages sealed" 0 "$rc"
o=$(load 2 alice@example.com bob@partner.test "$T/later.eml") || true
t_grep "2 deferred by a rule" ' tempfail 2 ' <(printf '%s\n' "$o")
o=$(load 1 bob@partner.test alice@example.com "$T/exe.eml") || true
t_grep "1 refused" ' reject 1 ' <(printf '%s\n' "$o")
o=$(load 4 bob@partner.test alice@example.com "$T/badsig.eml" -e Authentication-Results~dkim=permerror) && rc=0 || rc=$?
t_rc "4 inbound with a broken signature: dkim=permerror" 0 "$rc"
o=$(load 1 bob@partner.test alice@example.com "$T/odd.eml" -e X-Odd~1) && rc=0 || rc=$?
t_rc "1 tagged by the rule with the odd name" 0 "$rc"

curl -fsS "http://127.0.0.1:$MPORT/metrics" -o "$T/m1.txt"
out=$(check "$T/m1.txt" \
	'sealmilter_messages_total{direction="outbound",verdict="accept"}=3' \
	'sealmilter_messages_total{direction="outbound",verdict="tempfail"}=2' \
	'sealmilter_messages_total{direction="inbound",verdict="reject"}=1' \
	'sealmilter_messages_total{direction="inbound",verdict="accept"}=5' \
	'sealmilter_messages_total{direction="internal",verdict="accept"}=0' \
	'sealmilter_rules_fired_total{rule="seal-secure"}=3' \
	'sealmilter_rules_fired_total{rule="later"}=2' \
	'sealmilter_rules_fired_total{rule="no-exe"}=1' \
	'sealmilter_rules_fired_total{rule="odd \"name\", with \\ and , in it"}=1' \
	'sealmilter_sealed_total=3' 'sealmilter_smime_signed_total=0' 'sealmilter_dkim_signed_total=0' \
	'sealmilter_tempfails_total{cause="rule"}=2' 'sealmilter_tempfails_total{cause="internal"}=0' \
	'sealmilter_rejects_total{cause="rule"}=1' 'sealmilter_rejects_total{cause="limit"}=0' \
	'sealmilter_dkim_results_total{result="permerror"}=4' \
	'sealmilter_dkim_results_total{result="none"}=2' \
	'sealmilter_dkim_results_total{result="pass"}=0' \
	'sealmilter_processing_seconds_count=11' \
	'sealmilter_processing_seconds_bucket{le="+Inf"}=11' 2>&1) && rc=0 || rc=$?
t_rc "after the traffic, every counter moved by exactly as much ($out)" 0 "$rc"
[ "$rc" = 0 ] || cat "$T/m1.txt" >&2
t_grep "the histogram's sum is the time taken (some, not none)" '^sealmilter_processing_seconds_sum 0\.[0-9]*[1-9]' "$T/m1.txt"

# A reload is counted.
kill -HUP "$PID"
for _ in $(seq 100); do
	curl -fsS "http://127.0.0.1:$MPORT/metrics" -o "$T/m2.txt" && grep -q '^sealmilter_config_reloads_total{result="ok"} 1$' "$T/m2.txt" && break
	sleep 0.1
done
t_check "a reload is counted" check "$T/m2.txt" 'sealmilter_config_reloads_total{result="ok"}=1' \
	'sealmilter_config_reloads_total{result="failed"}=0' 'sealmilter_messages_total{direction="outbound",verdict="accept"}=3'

# A worker that dies is replaced by the supervisor, which kept the socket: the endpoint
# answers again, from a new process, its counters from 0.
worker=$(pgrep -P "$PID" | head -n 1)
t_check "a worker serves under the supervisor" test -n "$worker"
started=$(sed -n 's/^process_start_time_seconds //p' "$T/m2.txt")
kill -KILL "$worker"
again() {
	w=$(pgrep -P "$PID" | head -n 1)
	[ -n "$w" ] && [ "$w" != "$worker" ] && curl -fsS "http://127.0.0.1:$MPORT/metrics" -o "$T/m3.txt" 2>/dev/null
}
for _ in $(seq 300); do again && break; sleep 0.1; done
out=$(check "$T/m3.txt" 'sealmilter_messages_total{direction="outbound",verdict="accept"}=0' \
	'sealmilter_processing_seconds_count=0' 2>&1) && rc=0 || rc=$?
t_rc "after a worker died, the new one serves the endpoint, from 0 ($out)" 0 "$rc"
t_nogrep "and it is a new process" "^process_start_time_seconds $started\$" "$T/m3.txt"
o=$(load 1 alice@example.com bob@partner.test "$T/secure.eml" -e body~application/vnd.sealmilter.sealed) && rc=0 || rc=$?
t_rc "and mail flows through it" 0 "$rc"
curl -fsS "http://127.0.0.1:$MPORT/metrics" -o "$T/m4.txt"
t_check "counted there" check "$T/m4.txt" 'sealmilter_sealed_total=1' 'sealmilter_processing_seconds_count=1'

kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
t_rc "SIGTERM: a clean stop" 0 "$rc"
t_nogrep "no sanitizer report" "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/milter.log"
t_grep "one log line per message, queue id first" \
	'^sealmilter: info: [0-9]+: direction=outbound from=<alice@example.com> rcpts=1 rules=seal-secure actions=.*replace:body.* sealed=1 verdict=accept size=[0-9]+ ms=[0-9.]+ why="seal-secure \(' "$T/milter.log"
t_grep "a rule's tempfail has its cause" ' rules=later actions=none verdict=tempfail cause=rule reply="451 4.7.1 Try again later" ' "$T/milter.log"
t_grep "a rule name with a comma and a quote is encoded in the list" ' rules=odd%20%22name%22%2C%20with%20%5C%20and%20%2C%20in%20it ' "$T/milter.log"

# sealctl stats over the same daemon's log tells the same numbers as its metrics.
"$SEALCTL" stats "$T/milter.log" > "$T/stats.out"
t_grep "stats: 12 messages (11, and 1 after the restart)" '^sealmilter messages: 12 ' "$T/stats.out"
t_grep "stats: inbound 5 accepted, 1 refused" '^inbound +5 +1 +0 +0 +6$' "$T/stats.out"
t_grep "stats: outbound 4 accepted, 2 deferred" '^outbound +4 +0 +2 +0 +6$' "$T/stats.out"
t_grep "stats: 4 sealed" '^done to mail: sealed 4,' "$T/stats.out"
t_grep "stats: the rules" '^  seal-secure +4$' "$T/stats.out"
t_grep "stats: the odd rule name, decoded" '^  odd "name", with \\ and , in it +1$' "$T/stats.out"
t_grep "stats: DKIM" '^  permerror +4$' "$T/stats.out"
t_grep "stats: tempfails by cause" '^  rule +2$' "$T/stats.out"
t_grep "stats: the latency of all 12" '^latency \(ms\): p50 [0-9.]+  p95 [0-9.]+  max [0-9.]+  \(12 messages\)$' "$T/stats.out"
t_done
