#!/usr/bin/env bash
# bench/bench.sh BUILDDIR [--quick] - `make bench`: the whole comparison of docs/benchmarks.md
# in one run on one machine.
#
#   1. Over the milter protocol, every milter pinned to CPU 0 and the driver (bench/miltload)
#      to CPU 1, the same messages (10 KB, 100 KB, 1 MB, 10 MB) at 1, 8 and 32 connections:
#        seal        sealmilter sealing (do-not-forward: AES-256-GCM, RSA-2048 key wrap, ECDSA policy)
#        seal+sign   sealmilter sealing, then S/MIME-signing with RSA-2048
#        verify      sealmilter verifying a DKIM signature (RSA-2048, relaxed/relaxed)
#        od-sign     OpenDKIM signing with RSA-2048, relaxed/relaxed
#        od-verify   OpenDKIM verifying the same signed messages (TestDNSData)
#      Every message's reply is checked (miltload -e/-x): the body was replaced with a sealed
#      message and no plaintext marker went back, a signature was added, Authentication-Results
#      says dkim=pass. Reported: messages/s, the milter's CPU ms per message (/proc), p50/p99
#      latency, the milter's peak RSS during the run, then the ratios to OpenDKIM.
#   2. Concurrency 1 over inet: and unix: sockets (the delayed-ACK check).
#   3. The whole path: smtp-source -> the Postfix test bed -> smtp-sink, with no milter, with
#      OpenDKIM signing, and with sealmilter sealing and signing: messages/s, the whole
#      machine's CPU per message, and what each milter adds.
#
# --quick: short runs of the small sizes only (the smoke test in make check uses it; its
# numbers mean nothing). Run as root (OpenDKIM, Postfix and /proc/PID/clear_refs need it).
# Exit status: 1 when a run failed or a reply was wrong; the targets are reported, not enforced.
set -euo pipefail
B=$(cd "${1:?usage: bench/bench.sh BUILDDIR [--quick]}" && pwd)
S=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
[ "${2:-}" = --quick ] && QUICK=1
for c in opendkim dnsmasq taskset /usr/bin/python3 /usr/sbin/postfix /usr/sbin/smtp-source /usr/sbin/smtp-sink; do
	command -v "$c" >/dev/null || { echo "bench: $c is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench: run as root (OpenDKIM, Postfix, /proc/PID/clear_refs)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "bench: needs two cores (the milter on one, the driver on the other)" >&2; exit 1; }
PATH=$PATH:/usr/sbin:/sbin
. "$S/tests/e2e/testbed.sh"
tb_init
W=$TB/bench
mkdir -m 700 "$W"
LOAD=$B/bench/miltload
CANARY=PLAINTEXT-CANARY-7f3a
if [ $QUICK = 1 ]; then
	SIZES="10k 100k" CONNS="1 8" SECS=0.3 PATH_MSGS=60
else
	SIZES="10k 100k 1m 10m" CONNS="1 8 32" SECS=2 PATH_MSGS=2000
fi
# Narrower runs while profiling: BENCH_SIZES="10k 10m" BENCH_CONNS=32 BENCH_SECS=5 BENCH_PATH_MSGS=0.
SIZES=${BENCH_SIZES:-$SIZES} CONNS=${BENCH_CONNS:-$CONNS} SECS=${BENCH_SECS:-$SECS} PATH_MSGS=${BENCH_PATH_MSGS:-$PATH_MSGS}
case " $SIZES " in *" 10k "*) ;; *) SIZES="10k $SIZES" ;; esac     # the targets and the unix: run need 10k

# ---------------------------------------------------------------- keys and messages
"$B/sealctl" keys generate tenant --out "$W" >/dev/null
"$B/sealctl" keys generate issuer --out "$W" >/dev/null
"$B/sealctl" keys generate marker --out "$W/marker.key" >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/ca.key" -out "$W/ca.pem" -days 2 -subj "/CN=Bench CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$W/sign.key" -out "$W/sign.csr" -subj "/CN=Bench" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n' > "$W/sign.ext"
openssl x509 -req -in "$W/sign.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial -out "$W/sign.pem" -days 2 \
	-extfile "$W/sign.ext" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/od-sign.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/dkim.key" 2>/dev/null
chmod 600 "$W"/*.key
pub=$(openssl rsa -in "$W/dkim.key" -pubout -outform DER 2>/dev/null | base64 -w0)
mkdir "$W/plain" "$W/signed"
/usr/bin/python3 - "$W" "$CANARY" $SIZES <<'PY'
import sys, dkim
w, canary, sizes = sys.argv[1], sys.argv[2].encode(), sys.argv[3:]
n = {"10k": 10 * 1024, "100k": 100 * 1024, "1m": 1024 * 1024, "10m": 10 * 1024 * 1024}
key = open(w + "/dkim.key", "rb").read()
text = b"The quarterly figures are attached below for the board's review. "
line = (text * 2)[:76] + b"\r\n"
for s in sizes:
    h = (b"From: Alice <alice@example.com>\r\nTo: bob@partner.test\r\nSubject: bench " + s.encode() +
         b"\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench-" + s.encode() + b"@example.com>\r\n\r\n")
    body = canary + b"\r\n" + line * ((n[s] - len(h)) // len(line))
    open("%s/plain/%s.eml" % (w, s), "wb").write(h + body)
    h = h.replace(b"alice@example.com", b"alice@example.net").replace(b"bob@partner.test", b"bob@example.org")
    sig = dkim.sign(h + body, b"sel", b"example.net", key, canonicalize=(b"relaxed", b"relaxed"))
    open("%s/signed/%s.eml" % (w, s), "wb").write(sig + h + body)
PY
# The whole path: smtp-source adds CRLF itself.
sed 's/\r$//' "$W/plain/10k.eml" > "$W/path-10k.eml"

# ---------------------------------------------------------------- milters, pinned to CPU 0
DNS_PORT=$(tb_free_port)
dnsmasq -k --conf-file=/dev/null --port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
	--no-hosts --user=root --local-ttl=3600 --local=/example.net/ \
	--txt-record="sel._domainkey.example.net,$(printf 'v=DKIM1; k=rsa; p=%s' "$pub" | fold -w 255 | paste -sd, -)" \
	2> "$W/dnsmasq.log" &
tb_register_pid $!

seal_yaml() {   # FILE [sign]
	cat > "$1" <<YAML
organization: { domains: [example.com] }
milter: { spool_dir: $W, marker_key_file: $W/marker.key }
keys:
  tenant: [ { id: t, cert: $W/tenant.pem, key: $W/tenant.key } ]
  issuer: { cert: $W/issuer.pem, key: $W/issuer.key }
templates:
  do-not-forward: { rights: [view, reply, reply_all], expires: 30d }
rules:
  - name: seal-outbound
    if: { direction: outbound }
    then: { seal: do-not-forward${2:+, sign: true} }
YAML
	[ -z "${2:-}" ] || printf 'signing:\n  identities: [ { match: "*@example.com", cert: %s/sign.pem, key: %s/sign.key, chain: [%s/ca.pem] } ]\n' \
		"$W" "$W" "$W" >> "$1"
}
seal_yaml "$W/seal.yaml"
seal_yaml "$W/sign.yaml" sign
cat > "$W/verify.yaml" <<YAML
organization: { domains: [example.org] }
milter: { spool_dir: $W, marker_key_file: $W/marker.key }
dns: { nameservers: ["127.0.0.1@$DNS_PORT"] }
dkim: { verify_inbound: true, authserv_id: mx.example.org }
YAML
printf 'sel._domainkey.example.net v=DKIM1;k=rsa;p=%s\n' "$pub" > "$W/od-dns"

declare -A SOCK PID
# start_milter NAME SOCKET COMMAND...: pinned to CPU 0; SOCKET is inet:PORT@127.0.0.1 or
# unix:PATH, and the command must listen there. Sets SOCK[NAME] and PID[NAME] (the process
# that does the work: sealmilter's child, OpenDKIM itself).
start_milter() {
	local name=$1 sock=$2 pid port
	shift 2
	taskset -c 0 "$@" > "$W/$name.log" 2>&1 &
	pid=$!
	tb_register_pid "$pid"
	SOCK[$name]=$sock
	case $sock in
	inet:*) port=${sock#inet:}; tb_wait_port "${port%@*}" 20 > /dev/null 2>&1 ;;
	*) tb_wait_for 20 test -S "${sock#unix:}" ;;
	esac || { cat "$W/$name.log" >&2; echo "bench: $name did not start" >&2; exit 1; }
	sleep 0.3
	PID[$name]=$(pgrep -P "$pid" | head -n 1 || true)
	[ -n "${PID[$name]}" ] || PID[$name]=$pid
}
inet() { echo "inet:$(tb_free_port)@127.0.0.1"; }
for m in seal sign verify; do
	sock=$(inet)
	start_milter "$m" "$sock" "$B/sealmilter" -f -c "$W/$m.yaml" -p "$sock"
done
sock=$(inet)
printf 'Mode s\nDomain example.com\nSelector od\nKeyFile %s/od-sign.key\nCanonicalization relaxed/relaxed\nRequireSafeKeys false\nSocket %s\nBackground no\nSyslog no\nUserID root\n' \
	"$W" "$sock" > "$W/od-sign.conf"
start_milter od-sign "$sock" opendkim -x "$W/od-sign.conf" -f
sock=$(inet)
printf 'Mode v\nSocket %s\nBackground no\nSyslog no\nUserID root\nAuthservID mx.example.org\nTestDNSData file:%s/od-dns\n' \
	"$sock" "$W" > "$W/od-verify.conf"
start_milter od-verify "$sock" opendkim -x "$W/od-verify.conf" -f

# The checks each milter's every reply must pass, and its messages.
declare -A CHECK DIR
CHECK[seal]="-e body~application/vnd.sealmilter.sealed -x $CANARY"
CHECK[sign]="-e Content-Type~multipart/signed -e body~application/vnd.sealmilter.sealed -x $CANARY"
CHECK[verify]="-e Authentication-Results~dkim=pass -f alice@example.net -r bob@example.org"
CHECK[od-sign]="-e DKIM-Signature~d=example.com"
CHECK[od-verify]="-e Authentication-Results~dkim=pass -f alice@example.net -r bob@example.org"
DIR[seal]=plain DIR[sign]=plain DIR[verify]=signed DIR[od-sign]=plain DIR[od-verify]=signed
FAILED=0
RES=$W/results.tsv
: > "$RES"
# load NAME SIZE CONNECTIONS [SOCKET]: one timed run on CPU 1; appends a row to results.tsv.
load() {
	local name=$1 size=$2 c=$3 sock=${4:-${SOCK[$1]}} out rc=0 cap
	case $size in 10k) cap=200000 ;; 100k) cap=50000 ;; 1m) cap=5000 ;; *) cap=500 ;; esac
	[ "$cap" -ge "$c" ] || cap=$c
	# shellcheck disable=SC2086
	out=$(taskset -c 1 "$LOAD" -s "$sock" -m "$W/${DIR[$name]}/$size.eml" -c "$c" -n "$cap" -t "$SECS" \
		-p "${PID[$name]}" ${CHECK[$name]}) || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "bench: $name $size c=$c failed (exit $rc): $out" >&2
		FAILED=1
	fi
	awk -v n="$name" -v s="$size" -v c="$c" -v k="${sock%%:*}" '{
		for (i = 1; i < NF; i++) v[$i] = $(i + 1)
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\n", n, s, c, k, v["msgs_per_s"], v["cpu_ms_per_msg"],
			v["p50_ms"], v["p99_ms"], v["milter_peak_rss_kb"] / 1024, v["wrong"], v["messages"] }' <<< "$out" >> "$RES"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(. /etc/os-release; echo "$PRETTY_NAME"), $(openssl version | cut -d' ' -f1-2), $(opendkim -V 2>/dev/null | head -n 1 | sed 's/^opendkim: //'); $(date -u '+%F %H:%M UTC')"
echo "each run: ${SECS} s, milter on CPU 0, driver on CPU 1; every reply checked"
# Warm every milter (keys, DNS caches, code) first.
for m in seal sign verify od-sign od-verify; do
	"$LOAD" -s "${SOCK[$m]}" -m "$W/${DIR[$m]}/10k.eml" -c 1 -n 20 ${CHECK[$m]} > /dev/null ||
		{ echo "bench: $m does not answer as it should:" >&2; tail -n 20 "$W/$m.log" >&2; exit 1; }
done
for size in $SIZES; do
	for c in $CONNS; do
		for m in seal sign verify od-sign od-verify; do
			load "$m" "$size" "$c"
		done
	done
done

# Concurrency 1 over a unix socket, against the inet rows above.
usock=unix:$W/seal.sock
start_milter seal-unix "$usock" "$B/sealmilter" -f -c "$W/seal.yaml" -p "$usock"
usock=unix:$W/od.sock
sed "s|^Socket .*|Socket local:$W/od.sock|" "$W/od-sign.conf" > "$W/od-sign-unix.conf"
start_milter od-sign-unix "$usock" opendkim -x "$W/od-sign-unix.conf" -f
CHECK[seal-unix]=${CHECK[seal]} DIR[seal-unix]=plain CHECK[od-sign-unix]=${CHECK[od-sign]} DIR[od-sign-unix]=plain
load seal-unix 10k 1
load od-sign-unix 10k 1

# ---------------------------------------------------------------- the table
echo
printf '%-10s %-5s %5s %-5s %10s %9s %8s %8s %9s %6s\n' milter size conns sock msgs/s cpu_ms/msg p50_ms p99_ms peak_MB wrong
awk -F'\t' '{ printf "%-10s %-5s %5s %-5s %10.1f %9.3f %8.2f %8.2f %9.1f %6s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$RES"
echo
echo "ratios to OpenDKIM (throughput: sealmilter / OpenDKIM; CPU: OpenDKIM's ms per message / sealmilter's)"
printf '%-22s %-5s %5s %11s %8s\n' pair size conns throughput CPU
awk -F'\t' '$4 == "inet" { t[$1 "|" $2 "|" $3] = $5; m[$1 "|" $2 "|" $3] = $6; if (!seen[$2 "|" $3]++) order[++n] = $2 "|" $3 }
	END {
		split("seal:od-sign sign:od-sign verify:od-verify", pairs, " ")
		for (p = 1; p <= 3; p++) {
			split(pairs[p], a, ":")
			for (i = 1; i <= n; i++) {
				split(order[i], sc, "|"); x = a[1] "|" order[i]; y = a[2] "|" order[i]
				if (t[y] > 0 && m[x] > 0) printf "%-22s %-5s %5s %10.2fx %7.2fx\n", a[1] " / " a[2], sc[1], sc[2], t[x] / t[y], m[y] / m[x]
			}
		}
	}' "$RES"

# ---------------------------------------------------------------- the targets
row() { awk -F'\t' -v n="$1" -v s="$2" -v c="$3" -v k="${4:-inet}" '$1 == n && $2 == s && $3 == c && $4 == k { print $'"$5"' }' "$RES"; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo "NOT MET"; fi; }
echo
echo "targets"
maxc=${CONNS##* }
for pair in "sign od-sign seal+sign vs OpenDKIM signing" "verify od-verify DKIM verify vs OpenDKIM verify"; do
	set -- $pair
	a=$1 b=$2
	shift 2
	tr=$(awk "BEGIN { printf \"%.2f\", $(row "$a" 10k "$maxc" "" 5) / $(row "$b" 10k "$maxc" "" 5) }")
	cr=$(awk "BEGIN { printf \"%.2f\", $(row "$b" 10k "$maxc" "" 6) / $(row "$a" 10k "$maxc" "" 6) }")
	echo "  $*, 10 KB, $maxc connections, one core: ≥ 3x: throughput ${tr}x, CPU per message ${cr}x: $(verdict "$tr >= 3 && $cr >= 3")"
done
if [ "$(row seal 10m 32 "" 9)" ]; then
	for m in seal sign; do
		rss=$(row "$m" 10m 32 "" 9)
		echo "  peak RSS, $m, 32 concurrent 10 MB messages: ≤ 64 MB: ${rss} MB: $(verdict "$rss <= 64")"
	done
fi
ti=$(row seal 10k 1 inet 5) tu=$(row seal-unix 10k 1 unix 5)
echo "  seal, 10 KB, concurrency 1, inet: and unix: within 2x of each other: inet ${ti}/s, unix ${tu}/s: $(verdict "$ti * 2 >= $tu && $tu * 2 >= $ti")"
echo "    (the peer, for comparison: OpenDKIM signing, inet $(row od-sign 10k 1 inet 5)/s, unix $(row od-sign-unix 10k 1 unix 5)/s)"

# ---------------------------------------------------------------- the whole path
# smtp-source -> Postfix (private, loopback) -> smtp-sink, 10 KB messages, 16 sessions.
if [ "$PATH_MSGS" -gt 0 ]; then
echo
echo "whole path: smtp-source (16 sessions) -> Postfix -> smtp-sink, $PATH_MSGS messages of 10 KB each; nothing pinned"
SINK_PORT=$(tb_free_port)
smtp-sink -u nobody "127.0.0.1:$SINK_PORT" 256 > "$W/smtp-sink.log" 2>&1 &
tb_register_pid $!
tb_wait_port "$SINK_PORT" 20
busy() { awk '/^cpu / { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) }' /proc/stat; }
proc_cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
delivered() { [ "$(grep -c 'status=sent' "$PF_LOG" || true)" -ge "$1" ]; }
hz=$(getconf CLK_TCK)
printf '%-20s %10s %14s %14s\n' milter msgs/s machine_cpu_ms milter_cpu_ms
declare -A PATHCPU
for m in none od-sign sign; do
	case $m in none) milter="" ;; *) milter=${SOCK[$m]#inet:}; milter="inet:127.0.0.1:${milter%@*}" ;; esac
	PF_EXTRA_MAINCF="default_destination_concurrency_limit = 32
smtpd_client_connection_count_limit = 0" tb_start_postfix "$milter"
	mpid=${PID[$m]:-}
	sealed0=$(grep -c 'replace:body' "$W/sign.log" || true)
	c0=$(busy) t0=$EPOCHREALTIME p0=0
	[ -z "$mpid" ] || p0=$(proc_cpu "$mpid")
	smtp-source -s 16 -m "$PATH_MSGS" -f alice@example.com -t bob@partner.test -F "$W/path-10k.eml" \
		"127.0.0.1:$PF_PORT" > "$W/smtp-source-$m.log" 2>&1 || { echo "bench: smtp-source failed ($m)" >&2; cat "$W/smtp-source-$m.log" >&2; FAILED=1; }
	if ! tb_wait_for 300 delivered "$PATH_MSGS"; then
		echo "bench: only $(grep -c 'status=sent' "$PF_LOG" || true) of $PATH_MSGS delivered through Postfix ($m)" >&2
		FAILED=1
	fi
	t1=$EPOCHREALTIME c1=$(busy) p1=0
	[ -z "$mpid" ] || p1=$(proc_cpu "$mpid")
	PATHCPU[$m]=$(awk "BEGIN { print ($c1 - $c0) * 1000 / $hz / $PATH_MSGS }")
	awk -v m="$m" -v n="$PATH_MSGS" -v t="$(awk "BEGIN { print $t1 - $t0 }")" -v c="${PATHCPU[$m]}" \
		-v p="$(awk "BEGIN { print ($p1 - $p0) * 1000 / $hz / $PATH_MSGS }")" \
		'BEGIN { printf "%-20s %10.1f %14.2f %14s\n", m, n / t, c, m == "none" ? "-" : sprintf("%.2f", p) }'
	tb_stop_postfix
	if [ "$m" = sign ]; then
		sealed=$(( $(grep -c 'replace:body' "$W/sign.log" || true) - sealed0 ))
		[ "$sealed" = "$PATH_MSGS" ] ||
			{ echo "bench: sealmilter sealed $sealed of the $PATH_MSGS messages on the whole path" >&2; FAILED=1; }
	fi
done
echo "(machine CPU: every process on the machine, Postfix, smtp-source and smtp-sink included; with both"
echo " cores saturated it is noisy, and a slower path can show less: compare the milters' own CPU first)"
fi
echo
if [ "$FAILED" != 0 ]; then
	echo "bench: FAILED: a run failed or a milter answered wrongly (see above)" >&2
	exit 1
fi
echo "bench: every run complete and every reply checked"
