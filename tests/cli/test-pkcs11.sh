#!/usr/bin/env bash
# test-pkcs11.sh - keys in a hardware token: a SoftHSM2 token of its own holds the tenant and
# issuer private keys; sealctl seals (signing in the token) and opens (unwrapping in the token)
# through OpenSSL's pkcs11 engine; stock openssl verifies what the token signed. A wrong PIN is
# refused at load with a clear error that does not echo the PIN.
set -uo pipefail
: "${SRCDIR:?}" "${SEALCTL:?}"
. "$SRCDIR/tests/cli/lib.sh"
MODULE=/usr/lib/softhsm/libsofthsm2.so
if ! command -v softhsm2-util >/dev/null || [ ! -f "$MODULE" ] || \
	[ ! -f /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so ] && [ ! -f /usr/lib/*/engines-3/pkcs11.so ]; then
	if [ "${SEALMILTER_REQUIRE_E2E:-0}" = 1 ]; then
		echo "FAIL: softhsm2 or libengine-pkcs11-openssl is missing (scripts/install-deps.sh installs them)" >&2
		exit 1
	fi
	echo "SKIP: softhsm2 or libengine-pkcs11-openssl is not installed"
	exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export SOFTHSM2_CONF=$T/softhsm2.conf
mkdir "$T/tokens"
printf 'directories.tokendir = %s/tokens\n' "$T" > "$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label sealtest --pin 1234 --so-pin 5678 >/dev/null
"$SEALCTL" keys generate tenant --name tenant --out "$T" >/dev/null
"$SEALCTL" keys generate issuer --out "$T" >/dev/null
for k in tenant issuer; do
	openssl pkcs8 -topk8 -nocrypt -in "$T/$k.key" -out "$T/$k.p8"
	softhsm2-util --import "$T/$k.p8" --token sealtest --label "$k" --id "0$([ $k = tenant ] && echo 1 || echo 2)" \
		--pin 1234 >/dev/null
	rm -f "$T/$k.key" "$T/$k.p8"      # the private keys now live only in the token
done
uri() { printf 'pkcs11:token=sealtest;object=%s;type=private?pin-value=%s' "$1" "${2:-1234}"; }
cat > "$T/c.yaml" <<YAML
organization: { domains: [example.com] }
milter: { spool_dir: $T }
keys:
  pkcs11_module: $MODULE
  tenant: [ { id: t, cert: $T/tenant.pem, key: "$(uri tenant)" } ]
  issuer: { cert: $T/issuer.pem, key: "$(uri issuer)" }
templates:
  dnf: { rights: [view, reply] }
rules:
  - name: all
    then: { seal: dnf }
YAML
"$SEALCTL" -c "$T/c.yaml" check > "$T/out" 2>&1; t_rc "keys in the token load" 0 $?
"$SEALCTL" -c "$T/c.yaml" process "$SRCDIR/tests/data/msg/plain.eml" > "$T/sealed.eml" 2>/dev/null
t_grep "sealed, signing in the token" "^X-Sealmilter-Sealed: " "$T/sealed.eml"
"$SEALCTL" -c "$T/c.yaml" open "$T/sealed.eml" > "$T/opened.eml" 2>/dev/null; t_rc "open with the tenant key in the token" 0 $?
t_check "restores the exact original" cmp -s "$T/opened.eml" "$SRCDIR/tests/data/msg/plain.eml"
/usr/bin/python3 -c '
import email, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_filename() == "message.sealed":
        open(sys.argv[2], "wb").write(p.get_payload(decode=True))
' "$T/sealed.eml" "$T/att.der"
t_check "stock openssl verifies the token's signature" \
	openssl cms -verify -inform DER -in "$T/att.der" -CAfile "$T/issuer.pem" -out /dev/null
sed "s/pin-value=1234\" } ]/pin-value=9999\" } ]/" "$T/c.yaml" > "$T/badpin.yaml"
"$SEALCTL" -c "$T/badpin.yaml" check > "$T/out" 2>&1; t_rc "a wrong PIN is refused at load" 1 $?
t_grep "with a clear error" "cannot load the PKCS#11 key pkcs11:token=sealtest;object=tenant;type=private \\(token, object, PIN\\?\\)" "$T/out"
t_nogrep "that does not echo the PIN" "9999" "$T/out"
t_done
