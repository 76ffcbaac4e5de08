#!/usr/bin/env bash
# test-smime.sh - S/MIME signing identities that cannot sign are refused when the configuration
# loads, each with its position and a reason: a key that does not match its certificate, a
# PKCS#12 file with the wrong password, a certificate without S/MIME signing, a PKCS#11 token
# that is absent. A good PKCS#12 identity signs, and stock openssl verifies the result.
set -uo pipefail
: "${SRCDIR:?}" "${SEALCTL:?}"
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

# A good PKCS#12 identity signs; stock openssl verifies.
printf 'organization: { domains: [example.com] }\nmilter: { spool_dir: %s }\nsigning:\n  identities:\n    - { match: "*@example.com", pkcs12: %s/good.p12, password_file: %s/good.pass }\nrules:\n  - name: s\n    then: { sign: true }\n' \
	"$T" "$T" "$T" > c.yaml
printf 'From: alice@example.com\nTo: bob@partner.example\nSubject: hi\n\nhello\n' > m.eml
"$SEALCTL" -c c.yaml process m.eml --from alice@example.com --to bob@partner.example > out.eml 2>/dev/null
t_check "a PKCS#12 identity signs, and openssl cms verifies it" \
	openssl cms -verify -in out.eml -CAfile ca.pem -purpose smimesign -out /dev/null
t_done
