#!/usr/bin/env bash
# test-smime-sign-postfix.sh - S/MIME signing through a real Postfix, then DKIM signing of the
# result: plain text, 8-bit UTF-8, HTML with an inline image, a binary attachment, lines over
# 998 octets, trailing spaces, a message sealed first, and one that already carried a DKIM
# signature. Every delivered message must verify with two independent S/MIME implementations,
# `openssl cms -verify` against the test CA and GnuPG's gpgsm (GOODSIG and TRUST_FULLY), and its
# DKIM signature with python3-dkim; the signed entity must be 7-bit with lines within 998 octets.
# An expired identity defers the message (4xx), never sends it unsigned.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/sbin/postfix /usr/bin/python3 openssl gpgsm
PY=/usr/bin/python3
E2E=$SRCDIR/tests/e2e

tb_init
tb_start_sink
K=$TB/keys
mkdir -p "$K" "$TB/corpus" "$K/ca"
# A test CA, a signer for *@example.com, and the same signer's certificate expired in 2021.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$K/ca.key" -out "$K/ca.pem" -days 30 -subj "/CN=Sealmilter Test CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$K/signer.key" -out "$K/signer.csr" \
	-subj "/CN=Example Signing/emailAddress=alice@example.com" 2>/dev/null
touch "$K/ca/index.txt"
echo 01 > "$K/ca/serial"
cat > "$K/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
dir = $K/ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
emailAddress = optional
[x]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = emailProtection
subjectAltName = email:alice@example.com,email:carol@example.com
CNF
openssl ca -batch -config "$K/ca.cnf" -cert "$K/ca.pem" -keyfile "$K/ca.key" -in "$K/signer.csr" -out "$K/signer.pem" \
	-days 30 -extensions x >/dev/null 2>&1
openssl ca -batch -config "$K/ca.cnf" -cert "$K/ca.pem" -keyfile "$K/ca.key" -in "$K/signer.csr" -out "$K/expired.pem" \
	-startdate 20200101000000Z -enddate 20210101000000Z -extensions x >/dev/null 2>&1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/dkim.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/list.key" 2>/dev/null
chmod 600 "$K"/*.key
KEYS_YAML=$(e2e_keys_yaml "$K")
cat > "$TB/sealmilter.yaml" <<YAML
organization: { name: Example, domains: [example.com, example.org] }
milter: { spool_dir: $TB }
$KEYS_YAML
signing:
  identities:
    - { match: "*@example.com", cert: $K/signer.pem, key: $K/signer.key, chain: [$K/ca.pem] }
    - { match: "carol@example.com", cert: $K/expired.pem, key: $K/signer.key }
  missing_identity: tempfail
dkim:
  sign_outbound: true
  keys: [ { domain: example.com, selector: s1, key: $K/dkim.key } ]
rules:
  - name: seal-secure
    if: { direction: outbound, subject: { contains: ["[secure]"] } }
    then: { seal: do-not-forward }
  - name: sign-outbound
    if: { direction: outbound }
    then: { sign: true }
YAML
"$SEALCTL" -c "$TB/sealmilter.yaml" keys dkim-record > "$TB/records.txt"
"$PY" - "$TB/records.txt" "$K/list.key" "$TB/zone.txt" <<'PY'
import base64, re, subprocess, sys
out = open(sys.argv[3], "w")
for line in open(sys.argv[1]):
    m = re.match(r'(\S+)\. IN TXT \((.*)\)', line)
    out.write("%s\t%s\n" % (m.group(1), "".join(re.findall(r'"([^"]*)"', m.group(2)))))
der = subprocess.run(["openssl", "pkey", "-in", sys.argv[2], "-pubout", "-outform", "DER"], capture_output=True, check=True).stdout
out.write("l1._domainkey.lists.example\tv=DKIM1; k=rsa; p=%s\n" % base64.b64encode(der).decode())
PY
"$PY" "$E2E/dkim_sign_corpus.py" make "$TB/corpus" "$K/list.key"
# Only example.com has an identity here; and a message with a line of 1,500 octets.
sed -i 's/\talice@example.org$/\talice@example.com/' "$TB/corpus/list.tsv"
for f in "$TB"/corpus/*.eml; do sed -i 's/alice@example.org/alice@example.com/g; s/@example.org>/@example.com>/g' "$f"; done
{
	printf 'From: Alice <alice@example.com>\r\nTo: bob@partner.example\r\nSubject: Long lines\r\n'
	printf 'Message-ID: <long@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n'
	printf 'x%.0s' $(seq 1500)
	printf '\r\nend\r\n'
} > "$TB/corpus/long-lines.eml"
printf 'long-lines\talice@example.com\n' >> "$TB/corpus/list.tsv"

# gpgsm with the test CA trusted.
export GNUPGHOME=$TB/gnupg
mkdir -m 700 "$GNUPGHOME"
printf 'disable-crl-checks\ndisable-dirmngr\n' > "$GNUPGHOME/gpgsm.conf"
gpgsm --batch --import "$K/ca.pem" >/dev/null 2>&1
fpr=$(openssl x509 -in "$K/ca.pem" -noout -fingerprint -sha1 | sed 's/.*=//')
echo "$fpr S relax" > "$GNUPGHOME/trustlist.txt"
tb_on_cleanup "gpgconf --kill gpg-agent >/dev/null 2>&1 || true"

e2e_start_milter "$TB/sealmilter.yaml"
tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"

n=0
while IFS=$'\t' read -r name sender; do
	e2e_send "$PF_PORT" "$name" "$sender" bob@partner.example < "$TB/corpus/$name.eml"
	[ "$SEND_RC" -eq 0 ] || { t_fail "$name accepted" "$REPLY"; continue; }
	n=$((n + 1))
	tb_wait_files "$SINK_DIR" "$n" 30 >/dev/null || true
	mid=$(sed -n 's/^Message-ID: //p' "$TB/corpus/$name.eml" | tr -d '\r')
	f=$(grep -lF "Message-ID: $mid" "$SINK_DIR"/*.eml | head -n 1)
	[ -n "$f" ] || { t_fail "$name: delivered" "not in $SINK_DIR"; continue; }
	d=$TB/out/$name
	mkdir -p "$d"
	if ! out=$("$PY" "$E2E/smime_parts.py" "$f" "$d" 2>&1); then
		t_fail "$name: multipart/signed, 7-bit, lines within 998" "$out"
		continue
	fi
	t_ok "$name: multipart/signed, 7-bit, lines within 998"
	t_check "$name: openssl cms -verify" openssl cms -verify -in "$d/message.eml" -CAfile "$K/ca.pem" -purpose smimesign \
		-out /dev/null
	st=$(gpgsm --batch --status-fd 1 --verify "$d/sig.p7s" "$d/signed.part" 2>/dev/null || true)
	if grep -q GOODSIG <<< "$st" && grep -q TRUST_FULLY <<< "$st"; then
		t_ok "$name: gpgsm GOODSIG TRUST_FULLY"
	else
		t_fail "$name: gpgsm GOODSIG TRUST_FULLY" "$st"
	fi
	out=$("$PY" "$E2E/dkim_sign_corpus.py" check "$TB/zone.txt" "$f" example.com top 2>&1) && t_ok "$name: DKIM over it: $out" ||
		t_fail "$name: DKIM over it" "$out"
done < "$TB/corpus/list.tsv"
t_grep "the sealed message was sealed, then signed" 'filename="message.sealed"' "$TB/out/sealed/signed.part"
t_check "the signature's attributes: signing time and S/MIME capabilities, SHA-256" sh -c \
	"openssl cms -cmsout -print -inform DER -in '$TB/out/plain/sig.p7s' | grep -q 'signingTime' &&
	 openssl cms -cmsout -print -inform DER -in '$TB/out/plain/sig.p7s' | grep -q 'S/MIME Capabilities' &&
	 openssl cms -cmsout -print -inform DER -in '$TB/out/plain/sig.p7s' | grep -q 'sha256'"
t_check "it carries the chain (signer and CA)" test "$(openssl pkcs7 -inform DER -in "$TB/out/plain/sig.p7s" -print_certs | grep -c '^subject=')" -eq 2
t_grep "the micalg names the digest" 'micalg=sha-256' "$TB/out/plain/message.eml"

# carol's identity (the most specific match) has expired: deferred, never sent unsigned.
printf 'From: Carol <carol@example.com>\r\nTo: bob@partner.example\r\nSubject: Offer\r\nMessage-ID: <carol@example.com>\r\n\r\nOffer.\r\n' \
	> "$TB/carol.eml"
e2e_send "$PF_PORT" "expired identity" carol@example.com bob@partner.example < "$TB/carol.eml"
t_rc "an expired identity: the client is told to retry" 4 "$SEND_RC"
t_grep "and the log says why" 'sign: the S/MIME identity carol@example.com cannot sign: its certificate has expired' "$MILTER_LOG"

e2e_stop_milter
e2e_sanitizer_clean
t_done
