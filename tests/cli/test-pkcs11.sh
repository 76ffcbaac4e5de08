#!/usr/bin/env bash
# test-pkcs11.sh - keys in a hardware token: a SoftHSM2 token of its own holds the tenant and
# issuer private keys; sealctl seals (signing in the token) and opens (unwrapping in the token)
# through OpenSSL's pkcs11 engine; stock openssl verifies what the token signed. A wrong PIN is
# refused at load with a clear error that does not echo the PIN. As docs/hsm.md says: a tenant
# key made in the token (never extractable), its certificate made by openssl req through the
# engine, takes over in a rollover while the imported key still opens older mail; and a DKIM
# key in the token signs what python3-dkim verifies.
set -uo pipefail
: "${SRCDIR:?}" "${SEALCTL:?}"
. "$SRCDIR/tests/cli/lib.sh"
MODULE=/usr/lib/softhsm/libsofthsm2.so
if ! command -v softhsm2-util >/dev/null || ! command -v pkcs11-tool >/dev/null || [ ! -f "$MODULE" ] || \
	[ ! -f /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so ] && [ ! -f /usr/lib/*/engines-3/pkcs11.so ]; then
	if [ "${SEALMILTER_REQUIRE_E2E:-0}" = 1 ]; then
		echo "FAIL: softhsm2, opensc or libengine-pkcs11-openssl is missing (scripts/install-deps.sh installs them)" >&2
		exit 1
	fi
	echo "SKIP: softhsm2, opensc or libengine-pkcs11-openssl is not installed"
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

# A tenant key made in the token, as docs/hsm.md does it, and a rollover to it.
pkcs11-tool --module "$MODULE" --token-label sealtest --login --pin 1234 --keypairgen --key-type rsa:2048 \
	--label t2027 --id 03 >/dev/null 2>&1
t_check "a key made in the token is never extractable" sh -c "pkcs11-tool --module '$MODULE' --token-label sealtest \
	--login --pin 1234 --list-objects --type privkey 2>/dev/null | grep -A4 'label: *t2027' | grep -q 'never extractable'"
openssl req -new -x509 -engine pkcs11 -keyform engine -key "$(uri t2027)" -subj /CN=t2027 -days 3650 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyEncipherment,keyCertSign" \
	-addext "subjectKeyIdentifier=hash" -out "$T/t2027.pem" >/dev/null 2>&1
sed "s#^  tenant: \[ { id: t,#  tenant: [ { id: t2027, cert: $T/t2027.pem, key: \"$(uri t2027)\" }, { id: t,#" "$T/c.yaml" > "$T/roll.yaml"
"$SEALCTL" -c "$T/roll.yaml" check > "$T/out" 2>&1; t_rc "rollover to the key made in the token: it loads" 0 $?
"$SEALCTL" -c "$T/roll.yaml" process "$SRCDIR/tests/data/msg/plain.eml" > "$T/sealed2.eml" 2>/dev/null
"$SEALCTL" -c "$T/roll.yaml" open "$T/sealed2.eml" > "$T/opened2.eml" 2>/dev/null; t_rc "new mail opens" 0 $?
t_check "to the exact original" cmp -s "$T/opened2.eml" "$SRCDIR/tests/data/msg/plain.eml"
"$SEALCTL" -c "$T/roll.yaml" open "$T/sealed.eml" > "$T/opened1.eml" 2>/dev/null; t_rc "mail sealed before the rollover still opens" 0 $?
sed "s#^  tenant: \[ { id: t,.*#  tenant: [ { id: t2027, cert: $T/t2027.pem, key: \"$(uri t2027)\" } ]#" "$T/c.yaml" > "$T/new.yaml"
"$SEALCTL" -c "$T/new.yaml" open "$T/sealed2.eml" > /dev/null 2>&1; t_rc "and the key made in the token alone opens the new mail" 0 $?

# A DKIM key in the token.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/dkim.key" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$T/dkim.key" -out "$T/dkim.p8"
softhsm2-util --import "$T/dkim.p8" --token sealtest --label dkim --id 05 --pin 1234 >/dev/null
rm -f "$T/dkim.key" "$T/dkim.p8"
cp "$T/c.yaml" "$T/dkim.yaml"
printf 'dkim:\n  sign_outbound: true\n  keys: [ { domain: example.com, selector: hsm, key: "%s" } ]\n' "$(uri dkim)" >> "$T/dkim.yaml"
"$SEALCTL" -c "$T/dkim.yaml" keys dkim-record > "$T/dkim.rec" 2>&1
"$SEALCTL" -c "$T/dkim.yaml" process --from alice@example.com --to bob@partner.test "$SRCDIR/tests/data/msg/plain.eml" \
	> "$T/signed.eml" 2>/dev/null
if /usr/bin/python3 - "$T/signed.eml" "$T/dkim.rec" <<'PY'
import re, sys
import dkim
rec = "".join(re.findall(r'"([^"]*)"', open(sys.argv[2]).read())).encode()
sys.exit(0 if dkim.verify(open(sys.argv[1], "rb").read(), dnsfunc=lambda name, timeout=5: rec) else 1)
PY
then t_ok "a DKIM key in the token signs what python3-dkim verifies"; else t_fail "a DKIM key in the token signs what python3-dkim verifies"; fi
t_done
