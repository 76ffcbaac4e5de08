#!/usr/bin/env bash
# test-cli.sh - sealctl and `sealmilter -n` as an administrator uses them:
# check, explain (one file, --dir, a Maildir), process (delivered bytes,
# rejections and exit codes), key generation, and precise config errors.
set -uo pipefail
: "${SRCDIR:?}" "${SEALCTL:?}" "${SEALMILTER:?}"
. "$SRCDIR/tests/cli/lib.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
MSG=$SRCDIR/tests/data/msg
sed "s#/var/spool/sealmilter#$T#" "$SRCDIR/contrib/sealmilter.yaml" > "$T/ok.yaml"

# --- configuration checks
"$SEALMILTER" -n -c "$T/ok.yaml" > "$T/out" 2>&1; t_rc "sealmilter -n accepts the example" 0 $?
t_grep "sealmilter -n says OK" "OK \(3 rules, 1 patterns\)" "$T/out"
"$SEALCTL" -c "$T/ok.yaml" check > "$T/out" 2>&1; t_rc "sealctl check accepts the example" 0 $?

cat > "$T/bad.yaml" <<'YAML'
organization:
  domains: [example.com]
milter:
  sokcet: inet:1@127.0.0.1
  spool_dir: /tmp
rules:
  - name: r1
    if: { subject: { regex: '(unclosed' } }
    then: { tag: { header: X-A, value: a } }
  - name: r2
    if: { body: { pattern: missing } }
    then: { rejcet: true }
YAML
"$SEALMILTER" -n -c "$T/bad.yaml" > "$T/out" 2>&1; t_rc "sealmilter -n refuses a broken config" 1 $?
t_grep "unknown key with position" "bad.yaml:4:3: unknown key 'milter.sokcet' \(did you mean 'milter.socket'\?\)" "$T/out"
t_grep "bad regex with position" "bad.yaml:8:29: subject: bad regex at offset 10: missing closing parenthesis" "$T/out"
t_grep "missing pattern with position" "bad.yaml:11:28: body: pattern 'missing' is not defined" "$T/out"
t_grep "unknown action with position" "bad.yaml:12:13: rule 'r2': unknown action 'rejcet'" "$T/out"
t_grep "refusal is stated" "configuration refused" "$T/out"

printf 'organization: { domains: [example.com] }\nmilter: { spool_dir: /nonexistent/spool }\n' > "$T/nospool.yaml"
"$SEALMILTER" -n -c "$T/nospool.yaml" > "$T/out" 2>&1; t_rc "daemon check refuses a missing spool_dir" 1 $?
t_grep "spool_dir error names the key and file" "nospool.yaml:2:11: milter.spool_dir: /nonexistent/spool: No such file" "$T/out"

# --- explain
"$SEALCTL" -c "$T/ok.yaml" explain "$MSG/secure.eml" > "$T/out" 2>&1; t_rc "explain exits 0" 0 $?
t_grep "explain shows the fired rule and why" "fired +secure-subject: direction is outbound; subject contains \"\[secure\]\"; recipient <bob@partner.test> matches" "$T/out"
t_grep "explain shows the actions" "change header +Subject #1: Q3 contract" "$T/out"
t_grep "explain shows the verdict" "^verdict: +accept" "$T/out"
"$SEALCTL" -c "$T/ok.yaml" explain "$MSG/secure.eml" --client-ip 192.0.2.9 > "$T/out" 2>&1
t_grep "an untrusted client makes it inbound" "^direction: inbound" "$T/out"
t_grep "and the outbound rule does not fire" "not fired +secure-subject" "$T/out"
"$SEALCTL" -c "$T/ok.yaml" explain "$MSG/secure.eml" --client-ip 192.0.2.9 --auth alice > "$T/out" 2>&1
t_grep "SMTP AUTH makes it outbound" "^direction: outbound" "$T/out"
"$SEALCTL" -c "$T/ok.yaml" explain "$MSG/secure.eml" --from carol@example.org --to dan@example.com > "$T/out" 2>&1
t_grep "envelope options override headers; internal" "^direction: internal" "$T/out"

# --- process
"$SEALCTL" -c "$T/ok.yaml" process "$MSG/plain.eml" > "$T/plain.out" 2> "$T/err"; t_rc "process of an unmatched message exits 0" 0 $?
t_check "an unmatched message comes out byte for byte" cmp -s "$MSG/plain.eml" "$T/plain.out"
t_grep "process logs the decision" "verdict=accept" "$T/err"
"$SEALCTL" -c "$T/ok.yaml" process "$MSG/secure.eml" > "$T/secure.out" 2>/dev/null; t_rc "process of a tagged message exits 0" 0 $?
t_grep "subject trigger stripped" "^Subject: Q3 contract$" "$T/secure.out"
t_grep "tag header added" "^X-Sealmilter-Rule: secure-subject$" "$T/secure.out"
t_grep "marker added" "^X-Sealmilter-Marker: v=1; t=[0-9]+; m=" "$T/secure.out"
t_check "the body is unchanged" bash -c "tail -n 1 '$T/secure.out' | grep -qx 'Please find the contract terms below.'"
"$SEALCTL" -c "$T/ok.yaml" process "$MSG/exe.eml" > "$T/out" 2> "$T/err"; t_rc "a rejected message exits 2" 2 $?
t_grep "the rejection is printed" "rejected: 550 5.7.1 Executable attachments are not accepted" "$T/err"
t_check "nothing is written on rejection" test ! -s "$T/out"
printf 'rules:\n  - name: later\n    then: { tempfail: "4.7.0 later" }\n' > "$T/tf-rules.yaml"
{ cat "$T/ok.yaml"; echo "include: tf-rules.yaml"; } > "$T/tf.yaml"
"$SEALCTL" -c "$T/tf.yaml" process "$MSG/plain.eml" > "$T/out" 2> "$T/err"; t_rc "a tempfailed message exits 75" 75 $?
t_grep "the deferral is printed" "deferred: 451 4.7.0 later" "$T/err"

# A CRLF message keeps its line ends, and a processed message is not processed twice.
sed 's/$/\r/' "$MSG/secure.eml" > "$T/crlf.eml"
"$SEALCTL" -c "$T/ok.yaml" process "$T/crlf.eml" > "$T/crlf.out" 2>/dev/null
t_check "added headers use CRLF in a CRLF message" grep -q $'^X-Sealmilter-Rule: secure-subject\r$' "$T/crlf.out"

# A file with no header section keeps its long first line whole; "Subject :" is a header (as in Postfix).
{ printf 'no header here '; head -c 100000 /dev/zero | tr '\0' x; printf '\nsecond\n'; } > "$T/nohdr.eml"
"$SEALCTL" -c "$T/ok.yaml" process "$T/nohdr.eml" > "$T/nohdr.out" 2>/dev/null
t_check "a long first body line comes out whole" cmp -s "$T/nohdr.eml" <(tail -c +2 "$T/nohdr.out")
printf 'From: a@example.com\nSubject : [secure] x\nTo: b@partner.test\n\nbody\n' > "$T/space.eml"
"$SEALCTL" -c "$T/ok.yaml" explain "$T/space.eml" > "$T/out" 2>&1
t_grep "a field name followed by a space is a header" "fired +secure-subject" "$T/out"

# --- keys and the loop guard across runs
"$SEALCTL" keys generate marker --out "$T/marker.key" > "$T/out" 2>&1; t_rc "keys generate marker" 0 $?
t_check "marker key is 32 bytes, mode 600" test "$(stat -c '%s %a' "$T/marker.key")" = "32 600"
"$SEALCTL" keys generate marker --out "$T/marker.key" > "$T/out" 2>&1; t_rc "keys generate refuses to overwrite" 1 $?
"$SEALCTL" keys generate tenant --bits 3072 --name t2026 --out "$T" > "$T/out" 2>&1; t_rc "keys generate tenant" 0 $?
t_check "tenant key 0600, certificate 0644" test "$(stat -c '%a' "$T/t2026.key") $(stat -c '%a' "$T/t2026.pem")" = "600 644"
t_check "tenant certificate is RSA 3072" bash -c "openssl x509 -in '$T/t2026.pem' -noout -text | grep -q 'Public-Key: (3072 bit)'"
"$SEALCTL" keys generate issuer --out "$T" > "$T/out" 2>&1; t_rc "keys generate issuer" 0 $?
t_check "issuer certificate is ECDSA P-256" bash -c "openssl x509 -in '$T/issuer.pem' -noout -text | grep -q 'NIST CURVE: P-256'"
"$SEALCTL" keys generate tenant --bits 1024 --out "$T" > "$T/out" 2>&1; t_rc "keys generate refuses 1024 bits" 1 $?
t_grep "and says why" "--bits must be 2048, 3072 or 4096" "$T/out"
"$SEALCTL" keys generate issuer --out "$T" > "$T/out" 2>&1; t_rc "keys generate refuses to overwrite a key" 1 $?
printf 'keys:\n  tenant:\n    - { id: t2026, cert: %s/t2026.pem, key: %s/t2026.key }\n  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\n' \
	"$T" "$T" "$T" "$T" > "$T/keys.yaml"
{ cat "$T/ok.yaml"; echo "include: keys.yaml"; } > "$T/withkeys.yaml"
"$SEALMILTER" -n -c "$T/withkeys.yaml" > "$T/out" 2>&1; t_rc "a configuration with generated keys loads" 0 $?
chmod 640 "$T/t2026.key"
"$SEALMILTER" -n -c "$T/withkeys.yaml" > "$T/out" 2>&1; t_rc "a group-readable tenant key is refused" 1 $?
t_grep "with its position and the fix" "keys.yaml:3:.*t2026.key is readable or writable by group or others \(mode 640\); chmod 600 it" "$T/out"
chmod 600 "$T/t2026.key"
# Sealing: sealctl process seals; stock openssl cms opens the attachment to the exact input.
"$SEALCTL" keys generate marker --out "$T/seal-marker.key" > /dev/null
cat > "$T/seal.yaml" <<YAML
organization: { domains: [example.com] }
milter: { spool_dir: $T, marker_key_file: $T/seal-marker.key }
keys:
  tenant: [ { id: t2026, cert: $T/t2026.pem, key: $T/t2026.key } ]
  issuer: { cert: $T/issuer.pem, key: $T/issuer.key }
templates:
  do-not-forward: { rights: [view, reply, reply_all], expires: 30d }
rules:
  - name: secure-subject
    if: { direction: outbound, subject: { contains: ["[secure]"], strip: true } }
    then: { seal: do-not-forward }
YAML
"$SEALCTL" -c "$T/seal.yaml" process "$MSG/secure.eml" > "$T/sealed.eml" 2> "$T/err"; t_rc "process seals" 0 $?
t_grep "the log says the body was replaced" "actions=.*replace:body" "$T/err"
t_grep "sealed: the notice is multipart/mixed" "^Content-Type: multipart/mixed; boundary=" "$T/sealed.eml"
t_grep "sealed: the seal header names the template" "^X-Sealmilter-Sealed: v=1; template=do-not-forward; id=" "$T/sealed.eml"
t_nogrep "sealed: the original text is not in the clear" "Please find the contract terms" "$T/sealed.eml"
/usr/bin/python3 -c '
import email, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_filename() == "message.sealed":
        open(sys.argv[2], "wb").write(p.get_payload(decode=True))
' "$T/sealed.eml" "$T/att.der"
t_check "stock openssl cms verifies and decrypts it to the exact original" bash -c "cd '$T' && \
	openssl cms -verify -inform DER -in att.der -CAfile issuer.pem -out inner.der 2>/dev/null && \
	openssl cms -decrypt -inform DER -in inner.der -inkey t2026.key -recip t2026.pem -out plain.eml && \
	cmp -s plain.eml '$MSG/secure.eml'"
"$SEALCTL" -c "$T/seal.yaml" process "$T/sealed.eml" > "$T/twice.eml" 2> "$T/err"
t_check "a sealed message is not sealed twice" cmp -s "$T/sealed.eml" "$T/twice.eml"
# sealctl open: the policy on stderr, the exact original on stdout; refusals print nothing on stdout.
"$SEALCTL" -c "$T/seal.yaml" open "$T/sealed.eml" > "$T/opened.eml" 2> "$T/err"; t_rc "open exits 0" 0 $?
t_check "open restores the exact original" cmp -s "$T/opened.eml" "$MSG/secure.eml"
t_grep "open prints the policy" "^rights: +view reply reply_all" "$T/err"
t_grep "and its template" "^policy: +template do-not-forward" "$T/err"
/usr/bin/python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
i = d.index(b"filename=\"message.sealed\"")
j = d.index(b"\n\n", i) + 2 if b"\n\n" in d[i:] else d.index(b"\r\n\r\n", i) + 4
k = j + 200
d = d[:k] + (b"A" if d[k:k+1] != b"A" else b"B") + d[k+1:]
open(sys.argv[2], "wb").write(d)
' "$T/sealed.eml" "$T/tampered.eml"
"$SEALCTL" -c "$T/seal.yaml" open "$T/tampered.eml" > "$T/out" 2> "$T/err"; rc=$?
t_check "a tampered attachment is refused" test "$rc" -ne 0
t_check "with nothing on stdout" test ! -s "$T/out"
t_grep "and a reason" "cannot open: " "$T/err"
"$SEALCTL" -c "$T/seal.yaml" open "$MSG/plain.eml" > "$T/out" 2> "$T/err"; t_rc "a message without an attachment: exit 3" 3 $?
t_grep "and it says so" "no sealed attachment \(message.sealed\)" "$T/err"
"$SEALCTL" keys generate tenant --name other --out "$T" > /dev/null
sed "s#id: t2026, cert: $T/t2026.pem, key: $T/t2026.key#id: other, cert: $T/other.pem, key: $T/other.key#" "$T/seal.yaml" > "$T/other.yaml"
"$SEALCTL" -c "$T/other.yaml" open "$T/sealed.eml" > "$T/out" 2> "$T/err"; t_rc "another tenant key: exit 5" 5 $?
t_check "nothing on stdout" test ! -s "$T/out"
t_grep "and why" "no configured tenant key can open it" "$T/err"
sed 's/expires: 30d/expires: 1s/' "$T/seal.yaml" > "$T/short.yaml"
"$SEALCTL" -c "$T/short.yaml" process "$MSG/secure.eml" > "$T/short.eml" 2>/dev/null
sleep 2
"$SEALCTL" -c "$T/short.yaml" open "$T/short.eml" > "$T/out" 2> "$T/err"; t_rc "an expired policy: exit 7" 7 $?
t_check "nothing on stdout" test ! -s "$T/out"
t_grep "and why" "the policy expired" "$T/err"
"$SEALCTL" -c "$T/short.yaml" open --ignore-expiry "$T/short.eml" > "$T/out" 2> "$T/err"; t_rc "--ignore-expiry opens it" 0 $?
t_check "to the exact original" cmp -s "$T/out" "$MSG/secure.eml"
t_grep "and says it was logged" "opened anyway \(--ignore-expiry\), and logged" "$T/err"

# Transport decryption: inbound sealed mail for an allowed internal recipient becomes its original.
{ cat "$T/seal.yaml"; printf '  - name: decrypt-inbound\n    if: { direction: inbound }\n    then: { decrypt: true }\n'; } > "$T/decrypt.yaml"
"$SEALCTL" -c "$T/decrypt.yaml" process "$MSG/secure.eml" --to carol@example.com > "$T/to-carol.eml" 2>/dev/null
"$SEALCTL" -c "$T/decrypt.yaml" process "$T/to-carol.eml" --client-ip 192.0.2.1 --from alice@example.com \
	--to carol@example.com > "$T/decrypted.eml" 2> "$T/err"; t_rc "decrypt: exit 0" 0 $?
t_check "decrypt: the original body comes back" bash -c "tail -n 1 '$T/decrypted.eml' | grep -qx 'Please find the contract terms below.'"
t_grep "decrypt: the original subject comes back" "^Subject: \[secure\] Q3 contract$" "$T/decrypted.eml"
t_grep "decrypt: a header names the policy" "^X-Sealmilter-Decrypted: v=1; template=do-not-forward; id=" "$T/decrypted.eml"
t_nogrep "decrypt: the notice and attachment are gone" "message.sealed|X-Sealmilter-Sealed" "$T/decrypted.eml"
"$SEALCTL" -c "$T/decrypt.yaml" process "$T/to-carol.eml" --client-ip 192.0.2.1 --from alice@example.com \
	--to eve@example.com > "$T/not-allowed.eml" 2> "$T/err"
t_grep "decrypt: a recipient the policy does not allow gets it sealed" "^X-Sealmilter-Sealed: " "$T/not-allowed.eml"
t_grep "decrypt: and the log says why" "not decrypted: the policy does not allow <eve@example.com>; delivered sealed" "$T/err"
"$SEALCTL" -c "$T/decrypt.yaml" process "$T/tampered.eml" --client-ip 192.0.2.1 --from alice@example.com \
	--to bob@partner.test > "$T/out" 2> "$T/err"
t_grep "decrypt: a tampered one is delivered sealed, with the reason" "not decrypted: .*delivered sealed" "$T/err"
t_nogrep "decrypt: and never as plaintext" "Please find the contract terms" "$T/out"
# The other bad inputs in transport decryption: each is delivered exactly as it came, with a reason.
/usr/bin/python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
i = d.index(b"filename=\"message.sealed\"")
j = d.index(b"\n\n", i) + 2
e = d.index(b"\n--", j)
open(sys.argv[2], "wb").write(d[:j] + d[j:j + (e - j) // 2] + d[e:])
' "$T/sealed.eml" "$T/truncated.eml"
{ cat "$T/other.yaml"; printf '  - name: decrypt-inbound\n    if: { direction: inbound }\n    then: { decrypt: true }\n'; } > "$T/other-decrypt.yaml"
{ cat "$T/short.yaml"; printf '  - name: decrypt-inbound\n    if: { direction: inbound }\n    then: { decrypt: true }\n'; } > "$T/short-decrypt.yaml"
for c in "truncated|$T/decrypt.yaml|$T/truncated.eml|not decrypted: .*delivered sealed" \
	"wrong key|$T/other-decrypt.yaml|$T/sealed.eml|not decrypted: .*no configured tenant key.*delivered sealed" \
	"expired|$T/short-decrypt.yaml|$T/short.eml|not decrypted: .*expired.*delivered sealed"; do
	IFS='|' read -r what cfg in why <<< "$c"
	"$SEALCTL" -c "$cfg" process "$in" --client-ip 192.0.2.1 --from alice@example.com \
		--to bob@partner.test > "$T/out" 2> "$T/err"
	t_grep "decrypt, $what: the reason is logged" "$why" "$T/err"
	t_nogrep "decrypt, $what: never as plaintext" "Please find the contract terms" "$T/out"
	t_grep "decrypt, $what: delivered sealed" "^X-Sealmilter-Sealed: " "$T/out"
done

# A reply that still carries message.sealed, with new text beside it, is sealed: only a whole
# envelope of ours counts as sealed.
/usr/bin/python3 -c '
import sys
d = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
i = d.index(b"Content-Type: application/vnd.sealmilter.sealed")
att = d[i:d.index(b"\n--", i)]
open(sys.argv[2], "wb").write(b"From: Alice <alice@example.com>\nTo: bob@partner.test\nSubject: [secure] re: Q3\n"
    b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"r\"\n\n--r\nContent-Type: text/plain\n\n"
    b"TOPSECRET new terms\n--r\n" + att + b"\n--r--\n")
' "$T/sealed.eml" "$T/reply.eml"
"$SEALCTL" -c "$T/seal.yaml" process "$T/reply.eml" > "$T/reply.out" 2> "$T/err"
t_grep "a reply carrying an old sealed part is sealed" "^X-Sealmilter-Sealed: " "$T/reply.out"
t_nogrep "and its new text is not in the clear" "TOPSECRET" "$T/reply.out"
# S/MIME: compressed data is readable by anyone (sealed); enveloped data is encrypted (not sealed).
printf 'From: a@example.com\nTo: b@partner.test\nSubject: [secure] c\nMIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=compressed-data; name=smime.p7z\nContent-Transfer-Encoding: base64\n\nMIAGCyqGSIb3DQEJEAEJoIAwgAIBADANBgsqhkiG9w0BCRADCDCABgkqhkiG9w0BBwGggCSABIIB\n' > "$T/compressed.eml"
"$SEALCTL" -c "$T/seal.yaml" process "$T/compressed.eml" > "$T/out" 2> "$T/err"
t_grep "S/MIME compressed-data is sealed" "^X-Sealmilter-Sealed: " "$T/out"
sed 's/compressed-data; name=smime.p7z/enveloped-data; name=smime.p7m/' "$T/compressed.eml" > "$T/enveloped.eml"
"$SEALCTL" -c "$T/seal.yaml" process "$T/enveloped.eml" > "$T/out" 2> "$T/err"
t_grep "S/MIME enveloped-data is not sealed again" 'note="already S/MIME-encrypted: not sealed"' "$T/err"
# subject: protect replaces every Subject field.
cat >> "$T/seal.yaml" <<YAML
  - name: protect-all
    if: { subject: { contains: ["[hush]"] } }
    then: { seal: hush }
YAML
sed -i 's/^templates:$/templates:\n  hush: { rights: [view], subject: protect, branding: plain }/' "$T/seal.yaml"
printf 'branding:\n  plain: { intro: "{sender} has sent you a protected message." }\n' >> "$T/seal.yaml"
printf 'From: a@example.com\nTo: b@partner.test\nSubject: [hush] merger with Acme\nSubject: merger with Acme, again\n\nbody\n' > "$T/twosubj.eml"
"$SEALCTL" -c "$T/seal.yaml" process "$T/twosubj.eml" > "$T/out" 2> "$T/err"
t_check "protect: exactly one Subject is left" test "$(grep -c '^Subject:' "$T/out")" -eq 1
t_grep "protect: the branding's text" "^Subject: a@example.com has sent you a protected message.$" "$T/out"
t_nogrep "protect: no subject text in the clear" "Acme" "$T/out"
# A forged claim of decryption arriving from outside is removed.
printf 'From: m@evil.test\nTo: carol@example.com\nSubject: hi\nX-Sealmilter-Decrypted: v=1; template=x; id=y\n\nbody\n' > "$T/forgeddec.eml"
"$SEALCTL" -c "$T/decrypt.yaml" process "$T/forgeddec.eml" --client-ip 192.0.2.1 > "$T/out" 2>/dev/null
t_nogrep "a forged X-Sealmilter-Decrypted from outside is removed" "^X-Sealmilter-Decrypted" "$T/out"

# Rollover: keys rotate makes a new tenant key and prints the list with it first; under the new
# list, what the old key sealed still opens, and new mail is sealed with the new key first.
mkdir -p "$T/rot"
"$SEALCTL" -c "$T/seal.yaml" keys rotate --out "$T/rot" > "$T/rot.yaml" 2> "$T/err"; t_rc "keys rotate" 0 $?
t_grep "rotate: the new key comes first" "^    - \{ id: t[0-9]{8}, cert: $T/rot/t[0-9]{8}.pem, key: $T/rot/t[0-9]{8}.key \}$" "$T/rot.yaml"
t_grep "rotate: the old key stays" "^    - \{ id: t2026, cert: $T/t2026.pem, key: $T/t2026.key \}$" "$T/rot.yaml"
/usr/bin/python3 -c '
import re, sys
cfg, rot = open(sys.argv[1]).read(), open(sys.argv[2]).read()
tenant = rot[rot.index("  tenant:"):]
cfg = re.sub(r"  tenant: \[[^\n]*\]\n", tenant, cfg)
open(sys.argv[3], "w").write(cfg)
' "$T/seal.yaml" "$T/rot.yaml" "$T/rotated.yaml"
"$SEALCTL" -c "$T/rotated.yaml" open "$T/sealed.eml" > "$T/out" 2>/dev/null
t_check "rotate: a message sealed before the rollover still opens" cmp -s "$T/out" "$MSG/secure.eml"
"$SEALCTL" -c "$T/rotated.yaml" process "$MSG/secure.eml" > "$T/new.eml" 2>/dev/null
"$SEALCTL" -c "$T/rotated.yaml" open "$T/new.eml" > "$T/out" 2>/dev/null
t_check "rotate: a message sealed after it opens" cmp -s "$T/out" "$MSG/secure.eml"

"$SEALCTL" -c "$T/seal.yaml" explain "$MSG/secure.eml" > "$T/out" 2>&1
t_grep "explain shows the body replacement" "replace body +\([0-9]+ bytes: the sealed message\)" "$T/out"

sed "s#^milter:#milter:\n  marker_key_file: $T/marker.key#" "$T/ok.yaml" > "$T/keyed.yaml"
"$SEALCTL" -c "$T/keyed.yaml" process "$MSG/secure.eml" > "$T/once.eml" 2>/dev/null
"$SEALCTL" -c "$T/keyed.yaml" process "$T/once.eml" > "$T/twice.eml" 2> "$T/err"
t_check "a message with a valid marker passes through unchanged" cmp -s "$T/once.eml" "$T/twice.eml"
t_grep "and the log says why" "already processed" "$T/err"
# Change the marker's first MAC character (to a different one: it may already be A).
sed '/^X-Sealmilter-Marker:/{s/m=A/m=B/;t;s/m=./m=A/}' "$T/once.eml" > "$T/forged.eml"
t_check "the forged copy differs from the real one" bash -c "! cmp -s '$T/once.eml' '$T/forged.eml'"
"$SEALCTL" -c "$T/keyed.yaml" explain "$T/forged.eml" > "$T/out" 2>&1
t_grep "a forged marker is deleted" "delete header +X-Sealmilter-Marker #1" "$T/out"

# --- explain --dir: a folder and a Maildir
"$SEALCTL" -c "$T/ok.yaml" explain --dir "$MSG" > "$T/out" 2>&1; t_rc "explain --dir exits 0" 0 $?
t_grep "dir: message count" "^messages: 4 \(0 unreadable\) in [0-9.]+ s$" "$T/out"
t_grep "dir: verdicts, a table" "^accept +3 +75\.0%$" "$T/out"
t_grep "dir: rejects" "^reject +1 +25\.0%$" "$T/out"
t_grep "dir: per-rule summary" "^secure-subject +1 +25\.0%$" "$T/out"
t_grep "dir: card rule" "^card-numbers +1 +25\.0%$" "$T/out"
t_nogrep "dir: no progress line when not on a terminal" "explain: [0-9]+ of" "$T/out"
# On a terminal (a pty from script(1)): a progress line on stderr, erased before the table.
script -qec "'$SEALCTL' -c '$T/ok.yaml' explain --dir '$MSG'" /dev/null > "$T/tty" 2>&1
t_grep "dir on a terminal: progress with counts and rate" $'explain: 4 of 4 \\(100%\\), [0-9]+/s, 0 s left\x1b\\[K' "$T/tty"
t_grep "dir on a terminal: then the table" "^accept +3 +75\.0%" "$T/tty"
TERM=dumb script -qec "'$SEALCTL' -c '$T/ok.yaml' explain --dir '$MSG'" /dev/null > "$T/tty" 2>&1
t_nogrep "dir on a dumb terminal: no progress line" "explain: [0-9]+ of" "$T/tty"
script -qec "'$SEALCTL' -c '$T/ok.yaml' explain --dir '$MSG' --verbose" /dev/null > "$T/tty" 2>&1
t_nogrep "dir --verbose on a terminal: a line per message, no progress line among them" "explain: [0-9]" "$T/tty"
t_grep "dir --verbose: its lines are there" "secure.eml: .*verdict=" "$T/tty"
mkdir -p "$T/Maildir/cur" "$T/Maildir/new" "$T/Maildir/tmp"
cp "$MSG/secure.eml" "$T/Maildir/cur/1700000000.1.host:2,S"
cp "$MSG/exe.eml" "$T/Maildir/new/1700000001.2.host"
"$SEALCTL" -c "$T/ok.yaml" explain --dir "$T/Maildir" > "$T/out" 2>&1
t_grep "Maildir: cur and new are read" "^messages: 2 " "$T/out"
t_grep "Maildir: verdicts" "^reject +1 +50\.0%" "$T/out"
# An empty folder: nothing to sort (qsort() of no list was undefined behaviour, found
# by clang-analyzer; UBSan stops it in the sanitizer suite).
mkdir -p "$T/empty"
"$SEALCTL" -c "$T/ok.yaml" explain --dir "$T/empty" > "$T/out" 2>&1; t_rc "explain --dir of an empty folder exits 0" 0 $?
t_grep "empty folder: no message" "^messages: 0 \(0 unreadable\)" "$T/out"

# --- usage errors
"$SEALCTL" -c "$T/ok.yaml" frobnicate > "$T/out" 2>&1; t_rc "unknown command exits 1" 1 $?
"$SEALCTL" -c "$T/ok.yaml" process /nonexistent.eml > "$T/out" 2>&1; t_rc "missing file exits 1" 1 $?
t_grep "missing file is named" "/nonexistent.eml: No such file or directory" "$T/out"

t_done
