#!/usr/bin/env bash
# test-sealview.sh - the sealview daemon on its own (no MTA, no browser): -n and its errors
# (with the file, line and key), HTTP limits (sealview.max_form and max_object at their value
# and one past: 413 before the body is read, logged with the limit; a sealed message over
# max_object deferred by sealctl process; unsigned API requests refused before the body
# too), the security headers on every response, HTTPS when sealview does TLS itself, and a
# clean stop on SIGTERM.
set -euo pipefail
. "$SRCDIR/tests/cli/lib.sh"
: "${SEALVIEW:?}" "${SEALCTL:?}"
T=$(mktemp -d /tmp/sealview-test.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$SEALCTL" keys generate issuer --out "$T" >/dev/null
"$SEALCTL" keys generate tenant --name t1 --out "$T" >/dev/null
head -c 32 /dev/urandom > "$T/secret"
chmod 600 "$T/secret"
PORT=$(free_port)
write() {   # write FILE [extra sealview lines]
	cat > "$1" <<YAML
organization: { domains: [example.com] }
keys:
  tenant: [ { id: t1, cert: $T/t1.pem } ]
  issuer: { cert: $T/issuer.pem }
viewer: { public_url: "http://127.0.0.1:$PORT", api_url: "http://127.0.0.1:$PORT", secret_file: $T/secret }
sealview:
  listen: 127.0.0.1:$PORT
  store: sqlite:$T/sv.db
  passcode_from: no-reply@example.com
${2:-}
YAML
}
write "$T/ok.yaml"

rc=0
"$SEALVIEW" -n -c "$T/ok.yaml" > "$T/n.out" 2>&1 || rc=$?
t_rc "-n accepts a file with certificates only (no private key anywhere)" 0 "$rc"
t_grep "-n names the store" "OK \(store sqlite:" "$T/n.out"

# Errors name the file, the line and the key.
sed 's/  passcode_from: no-reply@example.com//' "$T/ok.yaml" > "$T/nofrom.yaml"
rc=0
"$SEALVIEW" -n -c "$T/nofrom.yaml" > "$T/e1" 2>&1 || rc=$?
t_rc "-n: no passcode_from: exit 1" 1 "$rc"
t_grep "and the key is named" "sealview.passcode_from is required" "$T/e1"
sed 's/  listen: 127.0.0.1:.*/  listen: nowhere/' "$T/ok.yaml" > "$T/listen.yaml"
rc=0
"$SEALVIEW" -n -c "$T/listen.yaml" > "$T/e2" 2>&1 || rc=$?
t_rc "-n: a bad listen address: exit 1" 1 "$rc"
t_grep "and the key is named" "sealview.listen: 'nowhere'" "$T/e2"
chmod 644 "$T/secret"
rc=0
"$SEALVIEW" -n -c "$T/ok.yaml" > "$T/e3" 2>&1 || rc=$?
t_rc "-n: a secret others can read: exit 1" 1 "$rc"
t_grep "with the file and line of the setting" "ok.yaml:[0-9]+:[0-9]+: viewer.secret_file: .* chmod 600 it, or 640 to share it with one group" "$T/e3"
chmod 600 "$T/secret"
sed "s#secret_file: $T/secret }#}#" "$T/ok.yaml" > "$T/half.yaml"
rc=0
"$SEALVIEW" -n -c "$T/half.yaml" > "$T/e4" 2>&1 || rc=$?
t_rc "-n: viewer: without secret_file: exit 1" 1 "$rc"
t_grep "says they go together" "public_url, api_url and secret_file go together" "$T/e4"
sed 's#public_url: "http://127.0.0.1:[0-9]*"#public_url: "http://secure.example.com"#' "$T/ok.yaml" > "$T/http.yaml"
rc=0
"$SEALVIEW" -n -c "$T/http.yaml" > "$T/e5" 2>&1 || rc=$?
t_rc "-n: a plain-http public URL off loopback: exit 1" 1 "$rc"
t_grep "says why" "plain http is for a test on loopback only" "$T/e5"
for u in http://127.0.0.1.evil.example http://localhost.evil.example "http://127.0.0.1@evil.example"; do
	sed "s#public_url: \"http://127.0.0.1:[0-9]*\"#public_url: \"$u\"#" "$T/ok.yaml" > "$T/lb.yaml"
	rc=0
	"$SEALVIEW" -n -c "$T/lb.yaml" > "$T/e7" 2>&1 || rc=$?
	t_rc "-n: $u is not loopback: exit 1" 1 "$rc"
done
sed 's#  store: sqlite:.*#  store: mysql://db/x#' "$T/ok.yaml" > "$T/store.yaml"
rc=0
"$SEALVIEW" -n -c "$T/store.yaml" > "$T/e6" 2>&1 || rc=$?
t_rc "-n: an unknown store: exit 1" 1 "$rc"
t_grep "and it says which" "mysql" "$T/e6"

# The daemon: limits and headers.
"$SEALVIEW" -c "$T/ok.yaml" 2> "$T/sv.log" &
PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
t_check "health endpoint" curl -fsS "http://127.0.0.1:$PORT/healthz" -o /dev/null
curl -s -D "$T/h404" -o /dev/null "http://127.0.0.1:$PORT/nothing-here"
for h in "Content-Security-Policy: default-src 'none'" "X-Content-Type-Options: nosniff" "Referrer-Policy: no-referrer" \
	"X-Frame-Options: DENY" "Cache-Control: no-store"; do
	t_grep "a 404 carries $h" "^$h" "$T/h404"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Length: 999999999' --data-binary 'x' \
	"http://127.0.0.1:$PORT/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/code" || true)
t_rc "a form over 256 KiB is refused (413) from its Content-Length" 413 "$code"
head -c 300000 /dev/zero | tr '\0' 'a' > "$T/big.form"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -H 'Expect: 100-continue' \
	--data-binary "@$T/big.form" \
	"http://127.0.0.1:$PORT/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/code" || true)
t_rc "a chunked form over 256 KiB is refused (413)" 413 "$code"
# sealview.max_form (default 256K = 262144): a body of exactly that is read (and the unknown
# token gets its 404); one byte more is refused, announced or chunked, and the log says why.
FORM_URL="http://127.0.0.1:$PORT/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/code"
post() {   # post FILE [chunked]: the HTTP status
	if [ -n "${2:-}" ]; then
		curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -H 'Expect: 100-continue' \
			--data-binary "@$1" "$FORM_URL" || true
	else
		curl -s -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' --data-binary "@$1" "$FORM_URL" || true
	fi
}
head -c 262144 /dev/zero | tr '\0' 'a' > "$T/at.form"
head -c 262145 /dev/zero | tr '\0' 'a' > "$T/past.form"
t_rc "max_form: a form of exactly 262144 bytes is read (404: no such message)" 404 "$(post "$T/at.form")"
t_rc "max_form: chunked, exactly 262144 bytes is read too" 404 "$(post "$T/at.form" chunked)"
t_rc "max_form: 262145 bytes are refused (413)" 413 "$(post "$T/past.form")"
t_grep "max_form: the log names the limit and its value" \
	'POST from 127\.0\.0\.1 refused with 413: a body of 262145 bytes, over sealview\.max_form \(262144\)' "$T/sv.log"
t_rc "max_form: chunked, 262145 bytes are refused (413)" 413 "$(post "$T/past.form" chunked)"
t_grep "max_form: chunked: the log names the limit and its value" \
	'POST from 127\.0\.0\.1 refused with 413: a chunked body over sealview\.max_form \(262144\)' "$T/sv.log"
t_check "max_form: no body within the limit was refused" test "$(grep -c 'refused with 413' "$T/sv.log")" -eq 4
head -c 1000000 /dev/zero > "$T/big.der"
# Expect: 100-continue, as a careful client sends: the refusal comes before any of the body
# is sent, so the answer is read every time (without it, a client still sending when the
# server answers and closes may see a reset instead of the 401).
code=$(curl -s -o "$T/api.out" -w '%{http_code}' -X PUT -H 'Expect: 100-continue' --data-binary "@$T/big.der" \
	"http://127.0.0.1:$PORT/api/v1/messages/$(printf '%064d' 0)" || true)
t_rc "an unsigned registration is refused (401) before its body is read" 401 "$code"
# Headers that look right but are forged: refused before the body is read, so an anonymous
# client cannot make sealview hold a registration's worth of memory.
head -c 50000000 /dev/zero > "$T/huge.der"
out=$(curl -s -o /dev/null -w '%{http_code} %{size_upload}' -X PUT -H 'Transfer-Encoding: chunked' \
	-H "X-Seal-Date: $(date +%s)" -H "X-Seal-Nonce: $(printf '%032d' 7)" -H "X-Seal-Signature: $(printf '%064d' 0)" \
	-H "X-Seal-Content-SHA256: $(printf '%064d' 0)" --data-binary "@$T/huge.der" \
	"http://127.0.0.1:$PORT/api/v1/messages/$(printf '%064d' 0)" || true)
t_rc "a forged registration is refused (401)" 401 "${out%% *}"
t_check "before its 50 MB body was sent (uploaded: ${out#* } bytes)" test "${out#* }" -lt 50000000
rm -f "$T/huge.der"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Seal-Date: $(( $(date +%s) - 1000 ))" \
	-H "X-Seal-Nonce: $(printf '%032d' 1)" -H "X-Seal-Signature: $(printf '%064d' 0)" "http://127.0.0.1:$PORT/api/v1/audit" || true)
t_rc "a stale signed request is refused (401)" 401 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Seal-Date: $(date +%s)" \
	-H "X-Seal-Nonce: $(printf '%032d' 2)" -H "X-Seal-Signature: $(printf '%064d' 0)" "http://127.0.0.1:$PORT/api/v1/audit" || true)
t_rc "a badly signed request is refused (401)" 401 "$code"
t_check "sealctl audit --verify reaches the signed API" "$SEALCTL" -c "$T/ok.yaml" audit --verify
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
t_rc "SIGTERM: a clean stop" 0 "$rc"
t_grep "it says it stopped" "^sealview: info: stopped" "$T/sv.log"
t_nogrep "no sanitizer report" "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/sv.log"

# Smaller limits: sealview.max_object 4K, sealview.max_form 64K (its least).
PORT=$(free_port)
write "$T/small.yaml" "  max_object: 4K
  max_form: 64K
  max_connections: 8
  threads: 1"
"$SEALVIEW" -c "$T/small.yaml" 2> "$T/small.log" &
PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
REG_URL="http://127.0.0.1:$PORT/api/v1/messages/$(printf '%064d' 0)"
head -c 4096 /dev/zero > "$T/at.der"
head -c 4097 /dev/zero > "$T/past.der"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Expect: 100-continue' --data-binary "@$T/at.der" "$REG_URL" || true)
t_rc "max_object 4K: a registration of 4096 bytes passes the size check (401: it is not signed)" 401 "$code"
code=$(curl -s -o "$T/413.out" -w '%{http_code}' -X PUT -H 'Expect: 100-continue' --data-binary "@$T/past.der" "$REG_URL" || true)
t_rc "max_object 4K: 4097 bytes are refused (413) before the signature is even looked at" 413 "$code"
t_grep "max_object 4K: the answer gives the limit" 'the request is too large \(more than 4096 bytes\)' "$T/413.out"
t_grep "max_object 4K: the log names the limit and its value" \
	'PUT from 127\.0\.0\.1 refused with 413: a body of 4097 bytes, over sealview\.max_object \(4096\)' "$T/small.log"
FORM_URL="http://127.0.0.1:$PORT/m/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/code"
head -c 65536 /dev/zero | tr '\0' 'a' > "$T/at.form"
head -c 65537 /dev/zero | tr '\0' 'a' > "$T/past.form"
t_rc "max_form 64K: a form of 65536 bytes is read" 404 "$(post "$T/at.form")"
t_rc "max_form 64K: 65537 bytes are refused (413)" 413 "$(post "$T/past.form")"
t_grep "max_form 64K: the log names the limit and its value" \
	'POST from 127\.0\.0\.1 refused with 413: a body of 65537 bytes, over sealview\.max_form \(65536\)' "$T/small.log"

# sealview.max_connections 8 (one thread, so the limit is the server's, not a share of it):
# past it a connection waits in the listen queue, and is served once a place frees.
/usr/bin/python3 "$SRCDIR/tests/cli/svconns.py" "$PORT" 8 "$T/small.log" > "$T/svconns.out" 2>&1 && rc=0 || rc=$?
while read -r line; do
	case $line in
	"ok - "*) t_ok "max_connections 8: ${line#ok - }" ;;
	"FAIL - "*) t_fail "max_connections 8: ${line#FAIL - }" ;;
	esac
done < "$T/svconns.out"
t_rc "max_connections 8: the client finished" 0 "$rc"
t_grep "max_connections 8: once a place freed, the log says so" \
	'http: below sealview\.max_connections \(8\) again' "$T/small.log"

# sealmilter's side of max_object (sealctl process runs its pipeline): a sealed message for
# an outside reader is registered first; one whose sealed object is over the limit is refused,
# so the message is deferred (never sent with a dead link), and the log line says why.
mkdir -p "$T/spool"
cat > "$T/proc.yaml" <<YAML
organization: { domains: [example.com] }
milter: { spool_dir: $T/spool }
keys:
  tenant: [ { id: t1, cert: $T/t1.pem } ]
  issuer: { cert: $T/issuer.pem, key: $T/issuer.key }
viewer: { public_url: "http://127.0.0.1:$PORT", api_url: "http://127.0.0.1:$PORT", secret_file: $T/secret }
templates:
  dnf: { rights: [view] }
rules:
  - name: seal-secure
    if: { subject: { contains: ["[secure]"] } }
    then: { seal: dnf }
YAML
msg() {   # msg BODY-BYTES
	printf 'From: alice@example.com\r\nTo: bob@partner.test\r\nSubject: [secure] limits\r\nMessage-ID: <lim-%s@example.com>\r\n\r\n' "$1"
	head -c "$1" /dev/urandom | base64 -w 76 | sed 's/$/\r/'
}
msg 100 > "$T/small.eml"
msg 8000 > "$T/large.eml"
rc=0
"$SEALCTL" -c "$T/proc.yaml" process "$T/small.eml" --from alice@example.com --to bob@partner.test \
	> "$T/small.out" 2> "$T/small.err" || rc=$?
t_rc "max_object 4K: a small sealed message is registered and delivered" 0 "$rc"
[ "$rc" = 0 ] || cat "$T/small.err"
rc=0
"$SEALCTL" -c "$T/proc.yaml" process "$T/large.eml" --from alice@example.com --to bob@partner.test \
	> "$T/large.out" 2> "$T/large.err" || rc=$?
t_rc "max_object 4K: a sealed object over it is deferred (tempfail, exit 75)" 75 "$rc"
t_grep "and the log line says sealview refused it as too large" \
	'verdict=tempfail cause=viewer reply="451 .*HTTP 413.*the request is too large \(more than 4096 bytes\)' \
	"$T/large.err"
t_grep "and sealview's log names sealview.max_object" 'PUT from 127\.0\.0\.1 refused with 413: a body of [0-9]+ bytes, over sealview\.max_object \(4096\)' "$T/small.log"
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
t_rc "small limits: a clean stop" 0 "$rc"
t_nogrep "small limits: no sanitizer report" "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/small.log"

# HTTPS by sealview itself.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls.key" -out "$T/tls.pem" -days 2 -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
chmod 600 "$T/tls.key"
PORT=$(free_port)
write "$T/tls.yaml" "  tls_cert: $T/tls.pem
  tls_key: $T/tls.key"
sed -i "s#http://127.0.0.1:$PORT\"#https://127.0.0.1:$PORT\"#g" "$T/tls.yaml"
"$SEALVIEW" -c "$T/tls.yaml" 2> "$T/tls.log" &
PID=$!
for _ in $(seq 100); do curl -fs --cacert "$T/tls.pem" "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
t_check "HTTPS when sealview does TLS itself" curl -fsS --cacert "$T/tls.pem" "https://127.0.0.1:$PORT/healthz" -o /dev/null
curl -s --cacert "$T/tls.pem" -D "$T/htls" -o /dev/null "https://127.0.0.1:$PORT/healthz"
t_grep "with Strict-Transport-Security" "^Strict-Transport-Security: max-age=" "$T/htls"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" || true)
t_check "and no plain HTTP on that port" test "$code" != 200
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
t_rc "SIGTERM (TLS): a clean stop" 0 "$rc"
t_grep "its TLS certificate (2 days left) is warned of at start" \
	'warning: certificate: sealview.tls_cert: .*/tls.pem: expires in [0-9]+ days? .*\(milter.expiry_warning is 30 days\)' "$T/tls.log"
# Privileges: started as root with sealview.user, sealview binds, reads its secret, then runs as
# that user, opens (and owns) its store as that user, and cannot read the tenant's private key,
# even when the shared configuration names it (CONFIG_VIEWER never opens a private key).
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
	chmod 711 "$T"
	mkdir -m 755 "$T/priv"
	mkdir -m 700 "$T/priv/store"
	chown nobody "$T/priv/store"
	PORT=$(free_port)
	write "$T/priv.yaml" "  user: nobody"
	sed -i "s#store: sqlite:$T/sv.db#store: sqlite:$T/priv/store/sv.db#; s#cert: $T/t1.pem }#cert: $T/t1.pem, key: $T/t1.key }#" "$T/priv.yaml"
	t_grep "(the configuration names the tenant private key)" "key: $T/t1.key" "$T/priv.yaml"
	"$SEALVIEW" -c "$T/priv.yaml" 2> "$T/priv.log" &
	PID=$!
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
	t_check "sealview.user: it serves after dropping root" curl -fsS "http://127.0.0.1:$PORT/healthz" -o /dev/null
	t_check "sealview.user: it runs as nobody" test "$(ps -o user= -p "$PID" | tr -d ' ')" = nobody
	t_check "sealview.user: no supplementary groups, no root group" \
		awk '/^Groups:/ { exit NF > 2 } /^Gid:/ { if ($2 == 0 || $3 == 0) exit 1 }' "/proc/$PID/status"
	t_check "sealview.user: the store file belongs to nobody" test "$(stat -c %U "$T/priv/store/sv.db")" = nobody
	t_check "sealview.user: the tenant private key is not open in it" \
		bash -c "! ls -l /proc/$PID/fd 2>/dev/null | grep -q 't1.key'"
	if runuser -u nobody -- cat "$T/t1.key" > /dev/null 2>&1; then
		t_fail "sealview.user: that user cannot read the tenant private key"
	else
		t_ok "sealview.user: that user cannot read the tenant private key"
	fi
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=
	t_rc "sealview.user: a clean stop" 0 "$rc"
	write "$T/nouser.yaml" "  user: no-such-user-here"
	rc=0
	"$SEALVIEW" -c "$T/nouser.yaml" > "$T/e5" 2>&1 || rc=$?
	t_rc "sealview.user: an unknown user: exit 1" 1 "$rc"
	t_grep "and the key is named" "sealview.user: no such user 'no-such-user-here'" "$T/e5"
else
	t_fail "the privilege checks need root, the user nobody and runuser"
fi
t_done
