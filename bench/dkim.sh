#!/usr/bin/env bash
# bench/dkim.sh BUILDDIR - the DKIM verification benchmark of docs/benchmarks.md: sealmilter and
# OpenDKIM (Mode v) verifying the same 10 KB message, signed once with RSA-2048 relaxed/relaxed
# by python3-dkim, over the milter protocol, in the same run, with the same DNS (a dnsmasq on
# loopback serving the key; both milters resolve through libunbound and cache it). Each milter
# is pinned to CPU 0 and the driver (bench/miltload) to CPU 1; every reply must carry an
# Authentication-Results with dkim=pass (miltload -e), so a fast but wrong milter does not win.
# Prints one line per run and the ratios of sealmilter to OpenDKIM.
set -euo pipefail
B=$(cd "${1:?usage: bench/dkim.sh BUILDDIR}" && pwd)
W=$(mktemp -d /root/sealdkim.XXXXXX 2>/dev/null || mktemp -d)
chmod 700 "$W"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT
for c in dnsmasq opendkim taskset /usr/bin/python3; do
	command -v "$c" >/dev/null || { echo "bench/dkim.sh: $c is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "bench/dkim.sh: needs two cores (milter on one, driver on the other)" >&2; exit 1; }

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/k.pem" 2>/dev/null
pub=$(openssl rsa -in "$W/k.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
/usr/bin/python3 - "$W/k.pem" "$W/10k.eml" <<'PY'
import sys, dkim
h = (b"From: Alice <alice@example.net>\r\nTo: bob@example.org\r\nSubject: bench\r\n"
     b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <b@example.net>\r\n\r\n")
line = b"x" * 76 + b"\r\n"
msg = h + line * ((10 * 1024 - len(h)) // len(line))
sig = dkim.sign(msg, b"sel", b"example.net", open(sys.argv[1], "rb").read(), canonicalize=(b"relaxed", b"relaxed"))
open(sys.argv[2], "wb").write(sig + msg)
PY
# OpenDKIM's ResolverConfiguration (an unbound.conf naming a forwarder with a port) crashes it
# under concurrent verification (trusteddomainproject/OpenDKIM#56; seen here at 8 connections),
# and its Nameservers setting takes addresses only: so the shared DNS server is on port 53.
if [ -n "$(ss -Hlun '( sport = :53 )' 2>/dev/null)" ]; then
	echo "bench/dkim.sh: 127.0.0.1:53 is taken; OpenDKIM can only be pointed at port 53" >&2
	exit 1
fi
base=$((20000 + RANDOM % 10000))
dport=53 sport=$((base + 1)) oport=$((base + 2))
dnsmasq -k --conf-file=/dev/null --port="$dport" --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
	--no-hosts --user=root --pid-file="$W/dnsmasq.pid" --local-ttl=3600 --local=/example.net/ \
	--txt-record="sel._domainkey.example.net,$(printf 'v=DKIM1; k=rsa; p=%s' "$pub" | fold -w 255 | paste -sd, -)" \
	2> "$W/dnsmasq.log" &

cat > "$W/verify.yaml" <<YAML
organization: { domains: [example.org] }
milter: { spool_dir: $W }
dns: { nameservers: ["127.0.0.1"] }
dkim: { verify_inbound: true, authserv_id: mx.example.org }
YAML
taskset -c 0 "$B/sealmilter" -f -c "$W/verify.yaml" -p "inet:$sport@127.0.0.1" > "$W/sealmilter.log" 2>&1 &
spid=$!
printf 'Mode v\nSocket inet:%s@127.0.0.1\nBackground no\nSyslog no\nUserID root\nAuthservID mx.example.org\nNameservers 127.0.0.1\n' \
	"$oport" > "$W/opendkim.conf"
taskset -c 0 opendkim -x "$W/opendkim.conf" -f > "$W/opendkim.log" 2>&1 &
opid=$!
sleep 1.5
sworker=$(pgrep -P "$spid" | head -n 1)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $(date -u +%F)"
printf '%-11s %-4s %s\n' milter conn "miltload"
run() {   # NAME PORT PID CONNECTIONS MESSAGES
	printf '%-11s c=%-3s ' "$1" "$4"
	taskset -c 1 "$B/bench/miltload" -s "inet:$2@127.0.0.1" -m "$W/10k.eml" -c "$4" -n "$5" -p "$3" \
		-e 'Authentication-Results~dkim=pass' | tee -a "$W/results.txt"
}
for spec in "1 500" "8 4000" "32 4000"; do
	set -- $spec
	# Warm the caches (DNS, code) with a few messages first.
	"$B/bench/miltload" -s "inet:$sport@127.0.0.1" -m "$W/10k.eml" -c 1 -n 20 >/dev/null
	"$B/bench/miltload" -s "inet:$oport@127.0.0.1" -m "$W/10k.eml" -c 1 -n 20 >/dev/null
	run sealmilter "$sport" "$sworker" "$1" "$2"
	run opendkim "$oport" "$opid" "$1" "$2"
done
echo
echo "ratios (sealmilter / OpenDKIM): messages per second, and OpenDKIM's CPU per message / sealmilter's"
awk '{ for (i = 1; i < NF; i++) { if ($i == "connections") c = $(i + 1); if ($i == "msgs_per_s") r = $(i + 1); if ($i == "cpu_ms_per_msg") m = $(i + 1) }
	n = NR % 2; if (n == 1) { sr = r; sm = m } else printf "  c=%-3s  throughput %.2fx   CPU per message %.2fx\n", c, sr / r, m / sm }' \
	"$W/results.txt"
echo "sealmilter log: $(grep -c 'dkim=pass' "$W/sealmilter.log") messages verified pass"
