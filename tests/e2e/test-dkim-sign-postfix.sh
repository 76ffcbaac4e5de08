#!/usr/bin/env bash
# test-dkim-sign-postfix.sh - DKIM signing of outbound mail through a real Postfix: RSA
# (example.com) and Ed25519 (example.org) keys; plain text, 8-bit UTF-8, HTML with an inline
# image, a binary attachment, trailing spaces, a message sealed first and signed after, and
# one that already carries another domain's signature (which must still verify). Every
# delivered message is verified by two independent implementations: python3-dkim and
# OpenDKIM (opendkim -t with TestDNSData). A rule that requires a signature for a From domain
# without a key defers the message (4xx), never sends it unsigned.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/sbin/postfix /usr/bin/python3 opendkim openssl
PY=/usr/bin/python3
CORPUS=$SRCDIR/tests/e2e/dkim_sign_corpus.py

tb_init
tb_start_sink
K=$TB/keys
mkdir -p "$K" "$TB/corpus"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa.key" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$K/ed.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/list.key" 2>/dev/null
chmod 600 "$K"/*.key
KEYS_YAML=$(e2e_keys_yaml "$K")
cat > "$TB/sealmilter.yaml" <<YAML
organization: { name: Example, domains: [example.com, example.org, example.net] }
milter: { spool_dir: $TB }
$KEYS_YAML
dkim:
  sign_outbound: true
  keys:
    - { domain: example.com, selector: s2026, key: $K/rsa.key }
    - { domain: example.org, selector: e2026, key: $K/ed.key }
rules:
  - name: seal-secure
    if: { direction: outbound, subject: { contains: ["[secure]"] } }
    then: { seal: do-not-forward }
  - name: must-sign
    if: { subject: { contains: ["[must-sign]"] } }
    then: { dkim_sign: true }
YAML
# The zone both verifiers read: what sealctl says to publish, and the list's key.
"$SEALCTL" -c "$TB/sealmilter.yaml" keys dkim-record > "$TB/records.txt"
t_grep "sealctl keys dkim-record prints the RSA record" '^s2026._domainkey.example.com. IN TXT \( "v=DKIM1; k=rsa; p=' "$TB/records.txt"
t_grep "and the Ed25519 one" '^e2026._domainkey.example.org. IN TXT \( "v=DKIM1; k=ed25519; p=' "$TB/records.txt"
"$PY" - "$TB/records.txt" "$K/list.key" "$TB/zone.txt" "$TB/testdns.txt" <<'PY'
import base64, re, subprocess, sys
out, test = open(sys.argv[3], "w"), open(sys.argv[4], "w")
for line in open(sys.argv[1]):
    m = re.match(r'(\S+)\. IN TXT \((.*)\)', line)
    name, rec = m.group(1), "".join(re.findall(r'"([^"]*)"', m.group(2)))
    out.write("%s\t%s\n" % (name, rec)); test.write("%s %s\n" % (name, rec))
der = subprocess.run(["openssl", "pkey", "-in", sys.argv[2], "-pubout", "-outform", "DER"], capture_output=True, check=True).stdout
rec = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
out.write("l1._domainkey.lists.example\t%s\n" % rec); test.write("l1._domainkey.lists.example %s\n" % rec)
PY
printf 'Mode v\nSyslog no\nTestDNSData file:%s\n' "$TB/testdns.txt" > "$TB/opendkim-verify.conf"
"$PY" "$CORPUS" make "$TB/corpus" "$K/list.key"

e2e_start_milter "$TB/sealmilter.yaml"
tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"

n=0
while IFS=$'\t' read -r name sender; do
	e2e_send "$PF_PORT" "$name" "$sender" bob@partner.example < "$TB/corpus/$name.eml"
	[ "$SEND_RC" -eq 0 ] || t_fail "$name accepted" "$REPLY"
	n=$((n + 1))
	tb_wait_files "$SINK_DIR" "$n" 30 >/dev/null || true
	f=$(grep -l "^Message-ID: <[a-z0-9-]*@example.[a-z]*>"$'\r' "$SINK_DIR"/*.eml | xargs grep -l "$(sed -n 's/^Message-ID: //p' "$TB/corpus/$name.eml" | tr -d '\r')" | head -n 1)
	if [ -z "$f" ]; then
		t_fail "$name: delivered" "not in $SINK_DIR"
		continue
	fi
	domain=$(sed -n 's/^\([^@]*\)@//p' <<< "$sender")
	out=$("$PY" "$CORPUS" check "$TB/zone.txt" "$f" "$domain" 2>&1) && t_ok "$name: $out" || t_fail "$name: python3-dkim" "$out"
	sed '/^X-Env-/d' "$f" > "$TB/$name.delivered"
	od=$(opendkim -x "$TB/opendkim-verify.conf" -t "$TB/$name.delivered" 2>&1)
	if grep -q "verification (s=[a-z0-9]*, d=$domain, .*) succeeded" <<< "$od" && ! grep -q failed <<< "$od"; then
		t_ok "$name: OpenDKIM verifies it"
	else
		t_fail "$name: OpenDKIM verifies it" "$od"
	fi
done < "$TB/corpus/list.tsv"
t_grep "the sealed message was sealed before it was signed" '^X-Sealmilter-Sealed: v=1' "$TB/sealed.delivered"
t_grep "the log line shows the signature" 'actions=.*insert:DKIM-Signature' "$MILTER_LOG"

# A rule requires a signature, and the From domain has no key: deferred, not sent unsigned.
printf 'From: Carol <carol@example.net>\r\nTo: bob@partner.example\r\nSubject: [must-sign] Offer\r\nMessage-ID: <must@example.net>\r\n\r\nOffer.\r\n' \
	> "$TB/must.eml"
e2e_send "$PF_PORT" "must-sign" carol@example.net bob@partner.example < "$TB/must.eml"
t_rc "required signature without a key: the client is told to retry" 4 "$SEND_RC"
t_grep "and the log says why" 'dkim_sign: no dkim.keys entry for the From domain' "$MILTER_LOG"

e2e_stop_milter
e2e_sanitizer_clean
t_done
