#!/usr/bin/env bash
# bench/viewer.sh BUILDDIR - the sealview benchmark of docs/benchmarks.md:
#   1. the message page for a signed-in session (GET /m/TOKEN with the session cookie),
#      with wrk at 8 and 64 connections, sealview on SQLite with its default 8 threads;
#   2. a brute-force attempt on a passcode: wrk posting wrong passcodes as fast as it
#      can; every one must be refused, the passcode must lock after 5 tries, and the
#      server must stay fast for everyone else meanwhile (a page request is timed during it).
# It seals a 10 KB message with `sealctl process` (the daemon's pipeline, which registers it
# with sealview), signs in with curl, reading the passcode from an SMTP sink.
set -euo pipefail
B=$(cd "${1:?usage: bench/viewer.sh BUILDDIR}" && pwd)
S=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/sealviewbench.XXXXXX)
chmod 755 "$W"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$B/sealctl" keys generate tenant --out "$W" >/dev/null
"$B/sealctl" keys generate issuer --out "$W" >/dev/null
head -c 32 /dev/urandom > "$W/secret"
chmod 600 "$W/secret"
SV=$(free_port)
SINK=$(free_port)
cat > "$W/seal.yaml" <<YAML
organization: { domains: [example.com] }
milter: { spool_dir: $W }
keys:
  tenant: [ { id: t, cert: $W/tenant.pem, key: $W/tenant.key } ]
  issuer: { cert: $W/issuer.pem, key: $W/issuer.key }
templates:
  do-not-forward: { rights: [view, reply, reply_all], expires: 30d }
rules:
  - name: seal-outbound
    if: { direction: outbound }
    then: { seal: do-not-forward }
viewer: { public_url: "http://127.0.0.1:$SV", api_url: "http://127.0.0.1:$SV", secret_file: $W/secret }
sealview:
  listen: 127.0.0.1:$SV
  store: sqlite:$W/sealview.db
  smtp: smtp://127.0.0.1:$SINK
  passcode_from: no-reply@example.com
  rate_per_ip: 1000000
  rate_per_message: 100000
YAML
/usr/bin/python3 "$S/tests/e2e/sink.py" --port "$SINK" --dir "$W/sink" 2> "$W/sink.log" &
"$B/sealview" -c "$W/seal.yaml" 2> "$W/sealview.log" &
SVPID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$SV/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do ss -Hltn "( sport = :$SINK )" | grep -q . && break; sleep 0.1; done
/usr/bin/python3 -c '
import sys
h = b"From: alice@example.com\r\nTo: bob@partner.test\r\nSubject: bench\r\nMessage-ID: <b@example.com>\r\n\r\n"
line = b"x" * 76 + b"\r\n"
open(sys.argv[1], "wb").write(h + line * ((10240 - len(h)) // len(line)))' "$W/10k.eml"
"$B/sealctl" -c "$W/seal.yaml" process "$W/10k.eml" --from alice@example.com --to bob@partner.test > "$W/sealed.eml" 2>/dev/null
LINK=$(/usr/bin/python3 -c '
import email, re, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_content_type() == "text/plain":
        f = re.search(r"http://\S+/m/[A-Za-z0-9_-]{43}", p.get_payload(decode=True).decode())
        if f: print(f.group(0)); break' "$W/sealed.eml")
J=$W/jar
csrf() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$1" | head -n 1; }
curl -s -c "$J" -b "$J" "$LINK" > "$W/p1.html"
curl -s -c "$J" -b "$J" --data-urlencode "csrf=$(csrf "$W/p1.html")" --data-urlencode address=bob@partner.test \
	"$LINK/code" > "$W/p2.html"
for _ in $(seq 300); do ls "$W"/sink/*.eml >/dev/null 2>&1 && break; sleep 0.1; done
CODE=$(grep -ho 'passcode is: [0-9]*' "$W"/sink/*.eml 2>/dev/null | head -n 1 | awk '{print $3}')
[ -n "$CODE" ] || { echo "no passcode mail; sealview's log:" >&2; tail -n 20 "$W/sealview.log" >&2; exit 1; }
curl -s -c "$J" -b "$J" --data-urlencode "csrf=$(csrf "$W/p2.html")" --data-urlencode address=bob@partner.test \
	--data-urlencode "code=$CODE" -o /dev/null "$LINK/verify"
COOKIE=$(awk '$6 == "svs" || $6 == "svc" {printf "%s=%s; ", $6, $7}' "$J")
curl -s -H "Cookie: $COOKIE" "$LINK" | grep -q 'data-right="view"' ||
	{ echo "sign-in failed; sealview's log:" >&2; tail -n 20 "$W/sealview.log" >&2; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$SVPID/stat"; }
hz=$(getconf CLK_TCK)
echo "== the reference in the same run: sealview's stylesheet (no store, no crypto), 64 connections"
out=$(wrk -t 2 -c 64 -d 10s "http://127.0.0.1:$SV/static/style.css")
echo "$out" | awk '/^Requests\/sec/ {printf "static %8.0f req/s\n", $2}'
[ -n "${PERF:-}" ] && { perf record -g -p "$SVPID" -o "$PERF" -- sleep 8 > /dev/null 2>&1 & }
echo "== the message page, signed in (10 KB message, SQLite, sealview.threads 8)"
for c in 8 64; do
	c0=$(cpu)
	out=$(wrk -t 2 -c "$c" -d 10s -H "Cookie: $COOKIE" "$LINK")
	c1=$(cpu)
	reqs=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
	total=$(echo "$out" | awk '/requests in/ {print $1}')
	non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
	lat=$(echo "$out" | awk '/Latency/ {print $2}')
	awk -v c="$c" -v r="$reqs" -v t="$total" -v cp=$((c1 - c0)) -v hz="$hz" -v l="$lat" -v n="${non2xx:-0}" \
		'BEGIN { printf "c=%-3s %8.0f req/s  mean latency %-8s  sealview CPU %.3f ms/request  non-2xx %s\n", c, r, l, cp * 1000 / hz / t, n }'
done
echo "== a brute-force attempt: wrong passcodes posted as fast as wrk can, 10 s"
# A fresh passcode for the attacker to guess at (the session above stays signed in).
curl -s -c "$W/jar2" -b "$W/jar2" "$LINK" > "$W/q1.html"
curl -s -c "$W/jar2" -b "$W/jar2" --data-urlencode "csrf=$(csrf "$W/q1.html")" --data-urlencode address=bob@partner.test \
	"$LINK/code" > "$W/q2.html"
C2=$(awk '$6 == "svc" {printf "svc=%s", $7}' "$W/jar2")
cat > "$W/brute.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "$C2"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format("csrf=$(csrf "$W/q2.html")&address=bob%%40partner.test&code=%08d", counter))
end
LUA
wrk -t 2 -c 16 -d 10s -s "$W/brute.lua" "$LINK/verify" > "$W/brute.out" &
sleep 3
t0=$(date +%s%N)
curl -s -o /dev/null -H "Cookie: $COOKIE" "$LINK"
t1=$(date +%s%N)
wait %%wrk 2>/dev/null || wait
awk '/Requests\/sec/ {printf "%8.0f wrong passcodes/s refused", $2} /requests in/ {printf " (%s in all)", $1}' "$W/brute.out"; echo
echo "a reader's page during the attack: $(( (t1 - t0) / 1000000 )) ms"
sleep 1
fails=$(sqlite3 "$W/sealview.db" "SELECT count(*) FROM audit WHERE event = 'passcode_fail'")
locked=$(sqlite3 "$W/sealview.db" "SELECT count(*) FROM audit WHERE event = 'passcode_fail' AND outcome = 'locked'")
oks=$(sqlite3 "$W/sealview.db" "SELECT count(*) FROM audit WHERE event = 'passcode_ok'")
echo "audit: $fails failed tries ($locked after the lock), $oks successful sign-ins (1 is the benchmark's own)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
