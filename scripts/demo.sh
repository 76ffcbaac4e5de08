#!/usr/bin/env bash
# demo.sh - install what is missing, build, and run a live demo: sealmilter behind a
# private Postfix on loopback that relays to a sink. Sample mails go through by SMTP
# and by the sendmail command, and the demo shows what happened to each: the SMTP
# reply, sealmilter's decision, and the delivered headers; a sealed one is opened with
# stock openssl cms and with sealctl open; a partner's DKIM-signed mail is verified with
# its key from a DNS server of the demo's own (dnsmasq); outbound mail is DKIM-signed, and
# S/MIME-signed on request, each checked by openssl, python3-dkim and OpenDKIM; and an outside
# recipient reads a sealed message in sealview, the web viewer, after a one-time passcode that
# comes by mail, until the sender revokes it (the audit log shows it all); and a message to a
# partner and two colleagues is split: the partner gets it sealed, the colleagues the original.
# Everything stops at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/install-deps.sh
echo "== building (build/)"
bash scripts/build.sh "$top/build" CFLAGS="-O2 -g"
SEALCTL=$top/build/sealctl
SEALMILTER=$top/build/sealmilter
SEALVIEW=$top/build/sealview
SRCDIR=$top
export SEALCTL SEALMILTER SEALVIEW SRCDIR

. "$top/tests/e2e/common.sh"
tb_init
tb_start_sink
mkdir -p "$TB/keys"
"$SEALCTL" keys generate tenant --name tenant --out "$TB/keys" >/dev/null
"$SEALCTL" keys generate issuer --out "$TB/keys" >/dev/null
e2e_config "$TB/sealmilter.yaml" "$(printf '  - name: seal-confidential\n    if: { direction: outbound, subject: { contains: ["[confidential]"], strip: true } }\n    then: { seal: do-not-forward }')"
cat >> "$TB/sealmilter.yaml" <<YAML
keys:
  tenant: [ { id: tenant, cert: $TB/keys/tenant.pem, key: $TB/keys/tenant.key } ]
  issuer: { cert: $TB/keys/issuer.pem, key: $TB/keys/issuer.key }
templates:
  do-not-forward: { rights: [view, reply, reply_all], expires: 30d }
branding:
  default: { org_name: Example Corp, intro: "{sender} has sent you a protected message.", button: "Read the message" }
YAML
# DKIM: a partner's signing key, published by a DNS server of the demo's own (dnsmasq).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TB/keys/partner-dkim.pem" 2>/dev/null
printf 's1._domainkey.partner.example\tv=DKIM1; k=rsa; p=%s\n' \
	"$(openssl rsa -in "$TB/keys/partner-dkim.pem" -pubout -outform DER 2>/dev/null | base64 -w0)" > "$TB/zone.txt"
e2e_start_dns "$TB/zone.txt" --local=/partner.example/
# S/MIME: a demo CA and a signing certificate for *@example.com.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TB/keys/ca.key" -out "$TB/keys/ca.pem" -days 30 \
	-subj "/CN=Demo CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$TB/keys/sign.key" -out "$TB/keys/sign.csr" -subj "/CN=Example Corp" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\nsubjectAltName=email:alice@example.com\n' \
	> "$TB/keys/sign.ext"
openssl x509 -req -in "$TB/keys/sign.csr" -CA "$TB/keys/ca.pem" -CAkey "$TB/keys/ca.key" -CAcreateserial \
	-out "$TB/keys/sign.pem" -days 30 -extfile "$TB/keys/sign.ext" 2>/dev/null
chmod 600 "$TB/keys/sign.key"
cat >> "$TB/sealmilter.yaml" <<YAML
signing:
  identities: [ { match: "*@example.com", cert: $TB/keys/sign.pem, key: $TB/keys/sign.key, chain: [$TB/keys/ca.pem] } ]
YAML
/usr/bin/python3 - "$TB/sealmilter.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace("rules:\n", """rules:
  - name: sign-on-request
    if: { direction: outbound, subject: { contains: ["[signed]"], strip: true } }
    then: { sign: true }
""", 1)
open(p, "w").write(s)
PY
# And our own signing key: outbound mail from example.com is DKIM-signed, last.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TB/keys/dkim.key" 2>/dev/null
chmod 600 "$TB/keys/dkim.key"
cat >> "$TB/sealmilter.yaml" <<YAML
dns: { nameservers: ["127.0.0.1@$DNS_PORT"], timeout: 5s }
dkim:
  verify_inbound: true
  authserv_id: mx.example.com
  sign_outbound: true
  keys: [ { domain: example.com, selector: demo, key: $TB/keys/dkim.key } ]
YAML
/usr/bin/python3 - "$TB/sealmilter.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace("rules:\n", """rules:
  - name: spoofed-own-domain
    if: { direction: inbound, from: { in: organization }, not: { dkim: { aligned_with_from: true } } }
    then: { reject: "5.7.1 Mail from example.com must carry its DKIM signature" }
  - name: partner-not-authenticated
    if: { direction: inbound, from: [partner.example], dkim: { domain: partner.example, result: [fail, permerror, policy, none] } }
    then: { tag: { header: X-Partner-Auth, value: failed } }
""", 1)
open(p, "w").write(s)
PY
# sealview: sealed mail to outside recipients carries a link to it.
head -c 32 /dev/urandom > "$TB/viewer.secret"
chmod 600 "$TB/viewer.secret"
SV_PORT=$(tb_free_port)
cat >> "$TB/sealmilter.yaml" <<YAML
viewer: { public_url: "http://127.0.0.1:$SV_PORT", api_url: "http://127.0.0.1:$SV_PORT", secret_file: $TB/viewer.secret }
YAML
# Prometheus metrics on loopback (docs/operations.md).
METRICS_PORT=$(tb_free_port)
sed -i "0,/^milter:\$/s//milter:\n  metrics_listen: 127.0.0.1:$METRICS_PORT/" "$TB/sealmilter.yaml"
e2e_start_milter "$TB/sealmilter.yaml"
tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"
cat >> "$TB/sealmilter.yaml" <<YAML
sealview:
  listen: 127.0.0.1:$SV_PORT
  store: sqlite:$TB/sealview.db
  smtp: smtp://127.0.0.1:$PF_PORT          # passcodes and replies go through Postfix
  passcode_from: no-reply@example.com
YAML
e2e_start_sealview "$TB/sealmilter.yaml" demo "$SV_PORT"
MSG=$top/tests/data/msg

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
show() {   # show TITLE FILE FROM RCPT: send by SMTP and show what happened
	local title=$1 file=$2 from=$3 rcpt=$4 before reply rc=0
	before=$(e2e_count "$SINK_DIR")
	bold "== $title"
	echo "   sent:      MAIL FROM:<$from> RCPT TO:<$rcpt>, Subject: $(sed -n 's/^Subject: //p' "$file" | head -1)"
	reply=$(sed 's/$/\r/' "$file" | tb_smtp_send "$PF_PORT" "$from" "$rcpt") || rc=$?
	echo "   SMTP:      $reply"
	tb_wait_for 5 grep -q "verdict=" "$MILTER_LOG" || true
	sleep 0.5
	echo "   decision:  $(grep 'verdict=' "$MILTER_LOG" | tail -n 1 | sed 's/^sealmilter: info: //')"
	if [ "$rc" -eq 0 ] && tb_wait_files "$SINK_DIR" $((before + 1)) 20 >/dev/null 2>&1; then
		echo "   delivered headers:"
		sed -n '1,/^\r\?$/p' "$(e2e_latest "$SINK_DIR")" | tr -d '\r' | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n[[:space:]]\+/ /g' |
			grep -vE '^(Received:|$)' | cut -c1-150 | sed 's/^/     | /'
	else
		echo "   delivered: nothing (the client was refused)"
	fi
}

bold "sealmilter is listening on 127.0.0.1:$MILTER_PORT; Postfix on 127.0.0.1:$PF_PORT; sink on $SINK_PORT"
echo "Policy ($TB/sealmilter.yaml):"
sed -n '/^rules:/,$p' "$TB/sealmilter.yaml" | sed 's/^/  /'

show "1. Outbound, the sender asked for encryption: subject trigger stripped, tagged" "$MSG/secure.eml" alice@example.com bob@partner.test
show "2. Outbound, nothing special: delivered unchanged, DKIM-signed" "$MSG/plain.eml" alice@example.com bob@partner.test
"$SEALCTL" -c "$TB/sealmilter.yaml" keys dkim-record > "$TB/dkim-record.txt"
echo "   the record to publish (sealctl keys dkim-record): $(cut -c1-90 "$TB/dkim-record.txt")..."
sed '/^X-Env-/d' "$(e2e_latest "$SINK_DIR")" > "$TB/signed-out.eml"
/usr/bin/python3 - "$TB/dkim-record.txt" "$TB/signed-out.eml" <<'PY'
import re, sys, dkim
line = open(sys.argv[1]).read()
rec = "".join(re.findall(r'"([^"]*)"', line)).encode()
ok = dkim.verify(open(sys.argv[2], "rb").read(), dnsfunc=lambda name, timeout=5: rec)
print("   python3-dkim verifies the delivered signature:", "yes" if ok else "NO")
PY
printf 'demo._domainkey.example.com %s\n' "$(grep -o '"[^"]*"' "$TB/dkim-record.txt" | tr -d '"\n')" > "$TB/testdns.txt"
printf 'Mode v\nSyslog no\nTestDNSData file:%s\n' "$TB/testdns.txt" > "$TB/opendkim.conf"
echo "   OpenDKIM: $(opendkim -x "$TB/opendkim.conf" -t "$TB/signed-out.eml" 2>&1 | sed 's/^opendkim: //')"
show "3. A card number in the body (data-loss pattern with a Luhn check): tagged" "$MSG/card.eml" carol@example.com dan@partner.test
show "4. Inbound, an executable attachment: rejected at SMTP time" "$MSG/exe.eml" mallory@evil.test bob@example.com

sed 's/Subject: \[secure\] Q3 contract/Subject: [confidential] Q3 contract/; s/secure-1@/conf-1@/' "$MSG/secure.eml" > "$TB/conf.eml"
show "5. Outbound, [confidential] in the subject: sealed" "$TB/conf.eml" alice@example.com bob@partner.test
sealed=$(e2e_latest "$SINK_DIR")
/usr/bin/python3 -c '
import email, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_filename() == "message.sealed":
        open(sys.argv[2], "wb").write(p.get_payload(decode=True))
' "$sealed" "$TB/att.der"
echo "   stock OpenSSL, no sealmilter code:"
echo "     openssl cms -verify -inform DER -in att.der -CAfile issuer.pem -out inner.der"
openssl cms -verify -inform DER -in "$TB/att.der" -CAfile "$TB/keys/issuer.pem" -out "$TB/inner.der" 2>&1 | sed 's/^/     | /'
echo "     openssl cms -decrypt -inform DER -in inner.der -inkey tenant.key -recip tenant.pem"
openssl cms -decrypt -inform DER -in "$TB/inner.der" -inkey "$TB/keys/tenant.key" -recip "$TB/keys/tenant.pem" \
	-out "$TB/plain.eml" && tr -d '\r' < "$TB/plain.eml" | sed 's/^/     | /'
echo "   sealctl open (checks the policy too; the policy goes to stderr):"
"$SEALCTL" -c "$TB/sealmilter.yaml" open "$sealed" 2>&1 >/dev/null | sed 's/^/     | /'

bold "== 5b. Submitted with Postfix's sendmail command (non_smtpd_milters)"
before=$(e2e_count "$SINK_DIR")
sed 's/secure-1@/secure-demo@/' "$MSG/secure.eml" | tb_postfix_sendmail alice@example.com erin@partner.test
tb_wait_files "$SINK_DIR" $((before + 1)) 30 >/dev/null
echo "   decision:  $(grep 'verdict=' "$MILTER_LOG" | tail -n 1 | sed 's/^sealmilter: info: //')"
grep -E '^(Subject|X-Sealmilter-Rule):' "$(e2e_latest "$SINK_DIR")" | tr -d '\r' | sed 's/^/     | /'

# DKIM: a partner signs with python3-dkim; the key comes from the demo's DNS server.
/usr/bin/python3 - "$TB/keys/partner-dkim.pem" "$TB" <<'PY'
import sys, dkim
key = open(sys.argv[1], "rb").read()
msg = (b"From: Alice <alice@partner.example>\r\nTo: Bob <bob@example.com>\r\nSubject: Signed invoice\r\n"
       b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <inv-1@partner.example>\r\n\r\n"
       b"Invoice 4711: please pay 1,200 EUR to the usual account.\r\n")
signed = dkim.sign(msg, b"s1", b"partner.example", key, canonicalize=(b"relaxed", b"relaxed")) + msg
open(sys.argv[2] + "/signed.eml", "wb").write(signed.replace(b"\r\n", b"\n"))
open(sys.argv[2] + "/tampered.eml", "wb").write(signed.replace(b"1,200 EUR to the usual", b"9,900 EUR to a new")
    .replace(b"inv-1@", b"inv-2@").replace(b"\r\n", b"\n"))
spoof = msg.replace(b"Alice <alice@partner.example>", b"The CEO <ceo@example.com>").replace(b"inv-1@", b"inv-3@")
open(sys.argv[2] + "/spoof.eml", "wb").write(spoof.replace(b"\r\n", b"\n"))
PY
show "6. Inbound, DKIM-signed by a partner: verified (key from DNS), Authentication-Results added" "$TB/signed.eml" alice@partner.example bob@example.com
show "7. The same invoice altered on the way: dkim=fail, and the partner rule tags it" "$TB/tampered.eml" alice@partner.example bob@example.com
show "8. From: ceo@example.com, sent from outside with no signature: rejected as a spoof" "$TB/spoof.eml" mallory@evil.example bob@example.com

sed 's/^Subject: Lunch/Subject: [signed] Lunch/; s/plain-1@/signed-1@/' "$MSG/plain.eml" > "$TB/tosign.eml"
show "9. Outbound, [signed] in the subject: S/MIME-signed, then DKIM-signed" "$TB/tosign.eml" alice@example.com bob@partner.test
sed '/^X-Env-/d' "$(e2e_latest "$SINK_DIR")" > "$TB/smime.eml"
echo "   openssl cms -verify -CAfile ca.pem -purpose smimesign: $(openssl cms -verify -in "$TB/smime.eml" -CAfile "$TB/keys/ca.pem" \
	-purpose smimesign -out /dev/null 2>&1 | tail -n 1)"
echo "   OpenDKIM on the same message: $(opendkim -x "$TB/opendkim.conf" -t "$TB/smime.eml" 2>&1 | sed 's/^opendkim: [^:]*: //')"

bold "== 10. sealview: bob@partner.test reads message 5 in the web viewer"
link=$(/usr/bin/python3 -c '
import email, re, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_content_type() == "text/plain":
        f = re.search(r"http://\S+/m/[A-Za-z0-9_-]{43}", p.get_payload(decode=True).decode())
        if f: print(f.group(0)); break' "$sealed")
echo "   the notice links to: ${link%/*}/<token: 256 random bits, never stored>"
jar=$TB/cookies
csrf() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$1" | head -n 1; }
curl -s -c "$jar" -b "$jar" "$link" > "$TB/v1.html"
echo "   the page asks for an address: $(grep -o '<label for="address">[^<]*' "$TB/v1.html" | sed 's/.*>//')"
before=$(e2e_count "$SINK_DIR")
curl -s -c "$jar" -b "$jar" --data-urlencode "csrf=$(csrf "$TB/v1.html")" --data-urlencode address=bob@partner.test \
	"$link/code" > "$TB/v2.html"
echo "   after bob@partner.test: reference $(grep -o 'id="ref">[^<]*' "$TB/v2.html" | sed 's/.*>//'); the passcode goes by mail through Postfix"
tb_wait_files "$SINK_DIR" $((before + 1)) 30 >/dev/null
pmail=$(e2e_latest "$SINK_DIR")
grep -E '^(From|To|Subject):' "$pmail" | tr -d '\r' | sed 's/^/     | /'
code=$(grep -o 'passcode is: [0-9]*' "$pmail" | awk '{print $3}')
curl -s -c "$jar" -b "$jar" --data-urlencode "csrf=$(csrf "$TB/v2.html")" --data-urlencode address=bob@partner.test \
	--data-urlencode "code=$code" -o /dev/null -w '   passcode entered: HTTP %{http_code} -> %{redirect_url}\n' "$link/verify" |
	sed "s#/m/[A-Za-z0-9_-]*#/m/<token>#"
curl -s -b "$jar" "$link" > "$TB/v3.html"
echo "   the message, decrypted for this request only (the database alone opens nothing):"
sed -n 's/.*<div class="text[^"]*" id="text">\([^<]*\).*/\1/p' "$TB/v3.html" | head -n 3 | sed 's/^/     | /'
echo "   rights shown: $(grep -o 'data-right="[a-z_]*"' "$TB/v3.html" | sed 's/data-right=//; s/"//g' | paste -sd, -)"
echo "   the sender revokes it: sealctl revoke SEAL-ID"
sid=$(sed -n 's/^X-Sealmilter-Sealed: .*id=\([0-9a-f-]*\).*/\1/p' "$sealed" | tr -d '\r')
"$SEALCTL" -c "$TB/sealmilter.yaml" revoke "$sid" | sed 's/^/     | /'
echo "   the same link now: HTTP $(curl -s -o "$TB/v4.html" -w '%{http_code}' -b "$jar" "$link"), \"$(grep -o 'The sender has revoked[^<]*' "$TB/v4.html")\""
echo "   the audit log (sealctl audit SEAL-ID; hash-chained, sealctl audit --verify checks it):"
"$SEALCTL" -c "$TB/sealmilter.yaml" audit "$sid" | cut -c1-150 | sed 's/^/     | /'
"$SEALCTL" -c "$TB/sealmilter.yaml" audit --verify | sed 's/^/     | /'
echo "   (tests/e2e/test-viewer.sh drives the same flow in Chromium: attachments, replies, hostile HTML.)"

bold "== 11. A partner and two colleagues in one message: split (seal: ..., for: external)"
/usr/bin/python3 - "$TB/sealmilter.yaml" "$PF_PORT" <<'PY'
import sys
p, port = sys.argv[1], sys.argv[2]
s = open(p).read().replace("milter:\n", "milter:\n  submit_url: smtp://127.0.0.1:%s\n" % port, 1)
s = s.replace("rules:\n", """rules:
  - name: seal-for-partners
    if: { direction: outbound, subject: { contains: ["[partner]"], strip: true } }
    then: { seal: do-not-forward, for: external }
""", 1)
open(p, "w").write(s)
PY
reloads=$(grep -c 'reloaded:' "$MILTER_LOG" || true)
kill -HUP "$MILTER_PID"
for _ in $(seq 50); do [ "$(grep -c 'reloaded:' "$MILTER_LOG" || true)" -gt "$reloads" ] && break; sleep 0.1; done
before=$(e2e_count "$SINK_DIR")
printf 'From: Alice <alice@example.com>\r\nTo: Bob <bob@partner.test>, Carol <carol@example.com>\r\nCc: dave@example.com\r\nSubject: [partner] Q4 figures\r\nMessage-ID: <split-demo@example.com>\r\n\r\nRevenue: 4.2 M EUR.\r\n' |
	tb_smtp_send "$PF_PORT" alice@example.com bob@partner.test carol@example.com dave@example.com > /dev/null || true
tb_wait_files "$SINK_DIR" $((before + 2)) 30 >/dev/null || true
sleep 1
echo "   decision:  $(grep 'copy1=' "$MILTER_LOG" | tail -n 1 | sed 's/^sealmilter: info: //' | cut -c1-260)"
for f in $(ls "$SINK_DIR"/*.eml | sort | tail -n 2); do
	printf '   delivered to %-40s %s\n' "$(sed -n 's/^to //p' "${f%.eml}.env" | paste -sd, -)" \
		"$(grep -q '^X-Sealmilter-Sealed:' "$f" && echo "sealed (its policy: $("$SEALCTL" -c "$TB/sealmilter.yaml" open "$f" 2>&1 >/dev/null | sed -n 's/^recipients: *//p'))" || echo "in the clear, as sent")"
done

bold "== 12. The same policy as a dry run: sealctl explain"
"$SEALCTL" -c "$TB/sealmilter.yaml" explain "$MSG/card.eml" | sed 's/^/   /'

bold "== 13. A broken policy is refused with its position: sealmilter -n"
printf 'organization: { domains: [example.com] }\nrules:\n  - name: oops\n    if: { subjet: x }\n    then: { rejcet: true }\n' > "$TB/broken.yaml"
"$SEALMILTER" -n -c "$TB/broken.yaml" 2>&1 | sed "s#$TB/##; s/^/   /" || true

bold "== 14. Operations: the metrics endpoint and sealctl stats"
echo "   curl http://127.0.0.1:$METRICS_PORT/metrics (a few of its lines):"
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
	grep -E '^sealmilter_(messages_total|sealed_total|smime_signed_total|dkim_signed_total|rules_fired_total|processing_seconds_count)' |
	grep -v ' 0$' | head -n 14 | sed 's/^/     /'
echo "   sealctl stats over sealmilter's log:"
"$SEALCTL" stats "$MILTER_LOG" | sed 's/^/     /'

bold "Demo done; stopping sealview, sealmilter, Postfix and the sink."
