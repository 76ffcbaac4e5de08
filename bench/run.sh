#!/usr/bin/env bash
# bench/run.sh BUILDDIR - the sealing benchmark of docs/benchmarks.md: sealmilter sealing
# 10 KB, 100 KB, 1 MB and 10 MB messages (do-not-forward) over the milter protocol, driven by
# bench/miltload at 1 and 4 connections, and OpenDKIM signing the same messages in the same run
# when it is installed (apt-get install opendkim opendkim-tools), for a ratio on the same machine;
# then sealmilter pinned to one core (the driver on another), for the per-core targets.
set -euo pipefail
B=$(cd "${1:?usage: bench/run.sh BUILDDIR}" && pwd)
W=$(mktemp -d /root/sealbench.XXXXXX 2>/dev/null || mktemp -d)
chmod 700 "$W"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT
"$B/sealctl" keys generate tenant --out "$W" >/dev/null
"$B/sealctl" keys generate issuer --out "$W" >/dev/null
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
YAML
/usr/bin/python3 -c '
import sys
for size, name in ((10*1024, "10k"), (100*1024, "100k"), (1024*1024, "1m"), (10*1024*1024, "10m")):
    h = b"From: alice@example.com\r\nTo: bob@partner.test\r\nSubject: bench\r\nMessage-ID: <b@example.com>\r\n\r\n"
    line = b"x" * 76 + b"\r\n"
    open(sys.argv[1] + "/%s.eml" % name, "wb").write(h + line * ((size - len(h)) // len(line)))
' "$W"
port=$((20000 + RANDOM % 10000))
"$B/sealmilter" -f -c "$W/seal.yaml" -p "inet:$port@127.0.0.1" > "$W/sealmilter.log" 2>&1 &
sleep 1
worker=$(pgrep -P "$!" | head -n 1)
run() {   # NAME PORT PID
	for spec in "10k 2000" "100k 1000" "1m 200" "10m 20"; do
		set -- "$1" "$2" "$3" $spec
		for c in 1 4; do
			printf '%-10s %-5s c=%s  ' "$1" "$4" "$c"
			"$B/bench/miltload" -s "inet:$2@127.0.0.1" -m "$W/$4.eml" -c "$c" -n "$5" -p "$3"
		done
	done
}
run sealmilter "$port" "$worker"
# The targets are per core: a second sealmilter pinned to CPU 0, the driver pinned to CPU 1.
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	pport=$((port + 2))
	taskset -c 0 "$B/sealmilter" -f -c "$W/seal.yaml" -p "inet:$pport@127.0.0.1" > "$W/pinned.log" 2>&1 &
	sleep 1
	pworker=$(pgrep -P "$!" | head -n 1)
	for spec in "10k 4000" "10m 40"; do
		set -- $spec
		printf '%-10s %-5s c=8  ' "one-core" "$1"
		taskset -c 1 "$B/bench/miltload" -s "inet:$pport@127.0.0.1" -m "$W/$1.eml" -c 8 -n "$2" -p "$pworker"
	done
	kill "$!" 2>/dev/null || true
	# Seal, then S/MIME-sign (RSA-2048), pinned the same way: the signing issue's target.
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/ca.key" -out "$W/ca.pem" -days 2 -subj "/CN=Bench CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -keyout "$W/sign.key" -out "$W/sign.csr" -subj "/CN=Bench" 2>/dev/null
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n' > "$W/sign.ext"
	openssl x509 -req -in "$W/sign.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial -out "$W/sign.pem" -days 2 \
		-extfile "$W/sign.ext" 2>/dev/null
	chmod 600 "$W/sign.key"
	sed 's/    then: { seal: do-not-forward }/    then: { seal: do-not-forward, sign: true }/' "$W/seal.yaml" > "$W/sign.yaml"
	printf 'signing:\n  identities: [ { match: "*@example.com", cert: %s/sign.pem, key: %s/sign.key, chain: [%s/ca.pem] } ]\n' \
		"$W" "$W" "$W" >> "$W/sign.yaml"
	sport=$((port + 3))
	taskset -c 0 "$B/sealmilter" -f -c "$W/sign.yaml" -p "inet:$sport@127.0.0.1" > "$W/sign.log" 2>&1 &
	sleep 1
	sworker=$(pgrep -P "$!" | head -n 1)
	printf '%-10s %-5s c=8  ' "seal+sign" "10k"
	taskset -c 1 "$B/bench/miltload" -s "inet:$sport@127.0.0.1" -m "$W/10k.eml" -c 8 -n 4000 -p "$sworker" \
		-e 'Content-Type~multipart/signed'
	kill "$!" 2>/dev/null || true
fi
if command -v opendkim >/dev/null && command -v opendkim-genkey >/dev/null; then
	opendkim-genkey -b 2048 -s sel -d example.com -D "$W"
	oport=$((port + 1))
	printf 'Domain example.com\nSelector sel\nKeyFile %s/sel.private\nSocket inet:%s@127.0.0.1\nMode s\nCanonicalization relaxed/relaxed\nBackground no\nSyslog no\nUserID root\n' \
		"$W" "$oport" > "$W/opendkim.conf"
	opendkim -x "$W/opendkim.conf" -f > "$W/opendkim.log" 2>&1 &
	sleep 1
	run opendkim "$oport" "$!"
else
	echo "opendkim is not installed: no peer in this run"
fi
