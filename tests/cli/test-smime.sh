#!/usr/bin/env bash
# test-smime.sh - S/MIME signing identities that cannot sign are refused when the configuration
# loads, each with its position and a reason: a key that does not match its certificate, a
# PKCS#12 file with the wrong password, a certificate without S/MIME signing, a PKCS#11 token
# that is absent. A good PKCS#12 identity signs, and stock openssl verifies the result.
# Certificate care: keys check reports days left, expiry and chains, with an exit status.
set -uo pipefail
: "${SRCDIR:?}" "${SEALCTL:?}" "${SEALMILTER:?}"
. "$SRCDIR/tests/cli/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj "/CN=CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
sign_cert() {   # NAME EKU
	openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=email:alice@example.com\n' \
		"$2" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 30 -extfile "$1.ext" 2>/dev/null
	chmod 600 "$1.key"
}
sign_cert good emailProtection
sign_cert other emailProtection
sign_cert server serverAuth
openssl pkcs12 -export -inkey good.key -in good.pem -certfile ca.pem -passout pass:s3cret -out good.p12 2>/dev/null
printf 's3cret\n' > good.pass
printf 'wrong\n' > bad.pass
chmod 600 good.p12 good.pass bad.pass

check() {   # NAME IDENTITY-YAML WANT-IN-ERROR
	printf 'organization: { domains: [example.com] }\nmilter: { spool_dir: %s }\nsigning:\n  identities:\n    - %s\n' \
		"$T" "$2" > c.yaml
	out=$("$SEALCTL" -c c.yaml check 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q "c.yaml:5:.*$3" <<< "$out"; then
		t_ok "$1: refused at load, with its position"
	else
		t_fail "$1: refused at load, with its position" "exit $rc: $out"
	fi
}
check "a key that does not match its certificate" "{ match: '*@example.com', cert: $T/good.pem, key: $T/other.key }" \
	"the key does not match the certificate"
check "a PKCS#12 file with the wrong password" "{ match: '*@example.com', pkcs12: $T/good.p12, password_file: $T/bad.pass }" \
	"the password (password_file) is wrong"
check "an unreadable PKCS#12 file" "{ match: '*@example.com', pkcs12: $T/none.p12, password_file: $T/good.pass }" \
	"none.p12"
check "a certificate without S/MIME signing" "{ match: '*@example.com', cert: $T/server.pem, key: $T/server.key }" \
	"does not allow S/MIME signing"
check "cert and pkcs12 together" "{ match: '*@example.com', cert: $T/good.pem, pkcs12: $T/good.p12 }" \
	"give either cert and key, or pkcs12"
MODULE=/usr/lib/softhsm/libsofthsm2.so
if [ -f "$MODULE" ] && command -v softhsm2-util >/dev/null; then
	export SOFTHSM2_CONF=$T/softhsm2.conf
	mkdir tokens
	printf 'directories.tokendir = %s/tokens\n' "$T" > "$SOFTHSM2_CONF"
	"$SEALCTL" keys generate tenant --name t --out "$T" >/dev/null
	"$SEALCTL" keys generate issuer --out "$T" >/dev/null
	printf 'organization: { domains: [example.com] }\nmilter: { spool_dir: %s }\nkeys:\n  pkcs11_module: %s\n  tenant: [ { id: t, cert: %s/t.pem } ]\n  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\nsigning:\n  identities:\n    - { match: "*@example.com", cert: %s/good.pem, key: "pkcs11:token=absent;object=sign;type=private?pin-value=1234" }\n' \
		"$T" "$MODULE" "$T" "$T" "$T" "$T" > c.yaml
	out=$("$SEALCTL" -c c.yaml check 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q 'c.yaml:9:.*cannot load the PKCS#11 key' <<< "$out" && ! grep -q '1234' <<< "$out"; then
		t_ok "a PKCS#11 token that is absent: refused at load, the PIN not echoed"
	else
		t_fail "a PKCS#11 token that is absent: refused at load, the PIN not echoed" "exit $rc: $out"
	fi
else
	t_fail "softhsm2 is installed (scripts/install-deps.sh)"
fi

# Certificate care: sealctl keys check (and sealmilter -n) report days left and chains.
mkdir ca2
touch ca2/index.txt
echo 01 > ca2/serial
printf '[ca]\ndefault_ca=d\n[d]\ndir=%s/ca2\ndatabase=$dir/index.txt\nserial=$dir/serial\nnew_certs_dir=$dir\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n[x]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n' \
	"$T" > ca2.cnf
openssl ca -batch -config ca2.cnf -cert ca.pem -keyfile ca.key -in good.csr -out long.pem -days 400 -extensions x >/dev/null 2>&1
openssl ca -batch -config ca2.cnf -cert ca.pem -keyfile ca.key -in good.csr -out old.pem -startdate 20200101000000Z \
	-enddate 20210101000000Z -extensions x >/dev/null 2>&1
keys_check() {   # NAME IDENTITY-YAML WANT-EXIT WANT-LINE; $K_MILTER and $K_EXTRA add to milter: and the end
	printf 'organization: { domains: [example.com] }\nmilter: { spool_dir: %s%s }\nsigning:\n  identities:\n    - %s\n%s' \
		"$T" "${K_MILTER:-}" "$2" "${K_EXTRA:-}" > k.yaml
	out=$("$SEALCTL" -c k.yaml keys check 2>&1)
	rc=$?
	if [ "$rc" -eq "$3" ] && grep -q -- "$4" <<< "$out"; then
		t_ok "keys check: $1"
	else
		t_fail "keys check: $1" "exit $rc (want $3): $out"
	fi
}
keys_check "a year left, chain to the root: ok" "{ match: '*@example.com', cert: $T/long.pem, key: $T/good.key, chain: [$T/ca.pem] }" \
	0 '^ok       signing \*@example.com: .*long.pem: [0-9]* days left .*chain verifies'
keys_check "29 days left: a warning with the days" "{ match: '*@example.com', cert: $T/good.pem, key: $T/good.key, chain: [$T/ca.pem] }" \
	1 '^WARNING  signing .*good.pem: expires in [0-9]* days'
keys_check "expired: an error" "{ match: '*@example.com', cert: $T/old.pem, key: $T/good.key, chain: [$T/ca.pem] }" \
	2 '^ERROR    signing .*old.pem: expired [0-9]* days ago (2021-01-01)'
keys_check "no root in chain: a warning" "{ match: '*@example.com', cert: $T/long.pem, key: $T/good.key }" \
	1 'chain not verifiable: chain: holds no self-signed root'
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca3.key -out ca3.pem -days 30 -subj "/CN=Other CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
keys_check "a chain to another root: a warning" "{ match: '*@example.com', cert: $T/long.pem, key: $T/good.key, chain: [$T/ca3.pem] }" \
	1 'chain does not verify: unable to get local issuer certificate'
out=$("$SEALMILTER" -n -c "$T/k.yaml" 2>&1)
t_check "sealmilter -n prints the same report" grep -q 'WARNING  signing .*chain does not verify' <<< "$out"
# milter.expiry_warning moves the warning, both ways; sealview.tls_cert is covered too.
K_MILTER=", expiry_warning: 500d" keys_check "expiry_warning 500d: 400 days left is a warning" \
	"{ match: '*@example.com', cert: $T/long.pem, key: $T/good.key, chain: [$T/ca.pem] }" \
	1 '^WARNING  signing .*long.pem: expires in [0-9]* days'
out=$("$SEALMILTER" -n -c "$T/k.yaml" 2>&1)
t_check "sealmilter -n warns by milter.expiry_warning too" grep -q 'WARNING  signing .*long.pem: expires in' <<< "$out"
K_MILTER=", expiry_warning: 10d" keys_check "expiry_warning 10d: 29 days left is ok" \
	"{ match: '*@example.com', cert: $T/good.pem, key: $T/good.key, chain: [$T/ca.pem] }" \
	0 '^ok       signing .*good.pem: [0-9]* days left'
K_EXTRA=$(printf 'sealview:\n  tls_cert: %s/old.pem\n  tls_key: %s/good.key\n' "$T" "$T") keys_check \
	"an expired sealview.tls_cert: an error" "{ match: '*@example.com', cert: $T/long.pem, key: $T/good.key, chain: [$T/ca.pem] }" \
	2 '^ERROR    sealview.tls_cert: .*old.pem: expired [0-9]* days ago'
K_MILTER=", expiry_warning: 1h" keys_check "expiry_warning below a day: refused at load, naming the key" \
	"{ match: '*@example.com', cert: $T/long.pem, key: $T/good.key }" 3 'milter.expiry_warning'
# The daemon logs the warning when it starts.
K_MILTER=", expiry_warning: 500d" keys_check "(set-up for the daemon's log)" \
	"{ match: '*@example.com', cert: $T/long.pem, key: $T/good.key, chain: [$T/ca.pem] }" 1 'WARNING'
"$SEALMILTER" -f -c k.yaml -p "unix:$T/m.sock" > daemon.log 2>&1 &
dpid=$!
for _ in $(seq 100); do grep -q 'listening on' daemon.log && break; sleep 0.1; done
sleep 0.3
kill -TERM "$dpid" 2>/dev/null || true
wait "$dpid" 2>/dev/null || true
t_check "the daemon logs the warning at start, with the setting" \
	grep -q 'warning: certificate: signing .*long.pem: expires in [0-9]* days .*(milter.expiry_warning is 500 days)' daemon.log

# prefer_smime looks certificates up by address: an address that is not plain never names a file.
mkdir certs
cp good.pem "certs/alice@example.com.pem"
"$SEALCTL" keys generate tenant --name t --out "$T" >/dev/null 2>&1 || true
"$SEALCTL" keys generate issuer --out "$T" >/dev/null 2>&1 || true
printf 'organization: { domains: [example.com] }\nmilter: { spool_dir: %s }\nkeys:\n  tenant: [ { id: t, cert: %s/t.pem, key: %s/t.key } ]\n  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\ntemplates:\n  dnf: { rights: [view] }\nsmime: { cert_dir: %s/certs }\nrules:\n  - name: p\n    if: { direction: outbound }\n    then: { seal: dnf, prefer_smime: true }\n' \
	"$T" "$T" "$T" "$T" "$T" "$T" > p.yaml
printf 'From: alice@example.com\nSubject: s\n\nsecret\n' > p.eml
out=$("$SEALCTL" -c p.yaml process p.eml --from alice@example.com --to "../certs/alice@example.com" 2>&1 >/dev/null)
t_check "a recipient address with a path in it: no file is read, the message is sealed" \
	grep -q 'sealed, not S/MIME-encrypted: <../certs/alice@example.com>: not a plain address' <<< "$out"

# The identity follows the From address only when it is the envelope sender.
printf 'organization: { domains: [example.com] }\nmilter: { spool_dir: %s }\nsigning:\n  identities:\n    - { match: "*@example.com", pkcs12: %s/good.p12, password_file: %s/good.pass }\nrules:\n  - name: s\n    then: { sign: true }\n' \
	"$T" "$T" "$T" > spoof.yaml
printf 'From: alice@example.com\nTo: bob@partner.example\nSubject: hi\n\nhello\n' > spoof.eml
out=$("$SEALCTL" -c spoof.yaml process spoof.eml --from mallory@example.com --to bob@partner.example 2>&1 >/dev/null)
rc=$?
if [ "$rc" -eq 75 ] && grep -q 'the From address <alice@example.com> is not the envelope sender <mallory@example.com>' <<< "$out"; then
	t_ok "From: alice with MAIL FROM: mallory is not signed as alice (deferred, with the reason)"
else
	t_fail "From: alice with MAIL FROM: mallory is not signed as alice (deferred, with the reason)" "exit $rc: $out"
fi
# Transport safety: a base64 attachment in 2,000-octet lines is encoded afresh; a header line over
# 998 octets cannot be, so the message is deferred rather than sent with a signature that breaks.
{
	printf 'From: alice@example.com\nTo: bob@partner.example\nSubject: b64\nMIME-Version: 1.0\n'
	printf 'Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n'
	printf -- '--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n'
	head -c 3000 /dev/urandom | base64 -w0
	printf '\n--b--\n'
} > b64long.eml
"$SEALCTL" -c spoof.yaml process b64long.eml --from alice@example.com --to bob@partner.example > b64out.eml 2>/dev/null
t_check "a base64 part in long lines: signed, verifies" openssl cms -verify -in b64out.eml -CAfile ca.pem -purpose smimesign -out /dev/null
t_check "and every line is within 998 octets" awk 'length($0) > 998 { bad = 1 } END { exit bad }' b64out.eml
{
	printf 'From: alice@example.com\nTo: bob@partner.example\nSubject: long\nMIME-Version: 1.0\n'
	printf 'Content-Type: text/plain; x-long=%s\n\nhello\n' "$(printf 'y%.0s' $(seq 1200))"
} > longhdr.eml
out=$("$SEALCTL" -c spoof.yaml process longhdr.eml --from alice@example.com --to bob@partner.example 2>&1 >/dev/null)
rc=$?
if [ "$rc" -eq 75 ] && grep -q 'has a line over 998 octets, which a relay would break: not signed' <<< "$out"; then
	t_ok "a Content-Type line over 998 octets: deferred, not sent with a signature that would break"
else
	t_fail "a Content-Type line over 998 octets: deferred, not sent with a signature that would break" "exit $rc: $out"
fi

# A good PKCS#12 identity signs; stock openssl verifies.
printf 'organization: { domains: [example.com] }\nmilter: { spool_dir: %s }\nsigning:\n  identities:\n    - { match: "*@example.com", pkcs12: %s/good.p12, password_file: %s/good.pass }\nrules:\n  - name: s\n    then: { sign: true }\n' \
	"$T" "$T" "$T" > c.yaml
printf 'From: alice@example.com\nTo: bob@partner.example\nSubject: hi\n\nhello\n' > m.eml
"$SEALCTL" -c c.yaml process m.eml --from alice@example.com --to bob@partner.example > out.eml 2>/dev/null
t_check "a PKCS#12 identity signs, and openssl cms verifies it" \
	openssl cms -verify -in out.eml -CAfile ca.pem -purpose smimesign -out /dev/null
t_done
