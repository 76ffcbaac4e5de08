#!/usr/bin/env bash
# test-smime-encrypt-postfix.sh - the S/MIME encryption cascade through a real Postfix: a seal
# rule with prefer_smime encrypts as S/MIME when every recipient has a usable certificate in
# smime.cert_dir (AES-256-GCM AuthEnvelopedData; after a reload, AES-256-CBC EnvelopedData), to
# the recipient and to the tenant certificate; openssl cms -decrypt opens it with either key, and
# gpgsm (GnuPG 2.2, which reads EnvelopedData but not AuthEnvelopedData) opens the CBC one. A
# recipient without a certificate, or with an expired one, gets the message sealed instead, and
# the log says which recipient and why.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/sbin/postfix /usr/bin/python3 openssl gpgsm
tb_init
tb_start_sink
K=$TB/keys
mkdir -p "$K/certs" "$K/ca"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$K/ca.key" -out "$K/ca.pem" -days 30 -subj "/CN=Test CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
touch "$K/ca/index.txt"
echo 01 > "$K/ca/serial"
printf '[ca]\ndefault_ca=d\n[d]\ndir=%s/ca\ndatabase=$dir/index.txt\nserial=$dir/serial\nnew_certs_dir=$dir\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n[bob]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\nsubjectAltName=email:bob@partner.example\n[dave]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\nsubjectAltName=email:dave@partner.example\n' \
	"$K" > "$K/ca.cnf"
for who in bob dave; do
	openssl req -newkey rsa:2048 -nodes -keyout "$K/$who.key" -out "$K/$who.csr" -subj "/CN=$who" 2>/dev/null
done
openssl ca -batch -config "$K/ca.cnf" -cert "$K/ca.pem" -keyfile "$K/ca.key" -in "$K/bob.csr" \
	-out "$K/certs/bob@partner.example.pem" -days 30 -extensions bob >/dev/null 2>&1
openssl ca -batch -config "$K/ca.cnf" -cert "$K/ca.pem" -keyfile "$K/ca.key" -in "$K/dave.csr" \
	-out "$K/certs/dave@partner.example.pem" -startdate 20200101000000Z -enddate 20210101000000Z -extensions dave >/dev/null 2>&1
chmod 600 "$K"/*.key
KEYS_YAML=$(e2e_keys_yaml "$K")
write_config() {   # CIPHER
	cat > "$TB/sealmilter.yaml" <<YAML
organization: { name: Example, domains: [example.com] }
milter: { spool_dir: $TB }
$KEYS_YAML
smime: { cert_dir: $K/certs, cipher: $1 }
rules:
  - name: protect
    if: { direction: outbound, subject: { contains: ["[secure]"] } }
    then: { seal: do-not-forward, prefer_smime: true }
YAML
}
write_config aes-256-gcm
e2e_start_milter "$TB/sealmilter.yaml"
tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"

msg() {   # ID RCPT...
	local id=$1
	shift
	printf 'From: Alice <alice@example.com>\r\nTo: %s\r\nSubject: [secure] Contract\r\nMessage-ID: <%s@example.com>\r\n' "$*" "$id"
	printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThe contract terms, %s.\r\n' "$id"
}
delivered() {   # ID -> the delivered file, without the sink's envelope lines
	local f
	tb_wait_for 30 sh -c "grep -lq 'Message-ID: <$1@example.com>' '$SINK_DIR'/*.eml 2>/dev/null" || true
	f=$(grep -l "Message-ID: <$1@example.com>" "$SINK_DIR"/*.eml | head -n 1)
	sed '/^X-Env-/d' "$f" > "$TB/$1.eml"
	echo "$TB/$1.eml"
}

# 1. Every recipient has a certificate: S/MIME, AES-256-GCM, to bob and to the tenant.
e2e_send "$PF_PORT" gcm alice@example.com bob@partner.example < <(msg gcm bob@partner.example)
t_rc "to bob: accepted" 0 "$SEND_RC"
m=$(delivered gcm)
t_grep "to bob: application/pkcs7-mime, authEnveloped-data" '^Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data' "$m"
t_nogrep "to bob: not sealed" '^X-Sealmilter-Sealed' "$m"
t_check "to bob: openssl cms -decrypt with bob's key gives the original" sh -c \
	"openssl cms -decrypt -in '$m' -inkey '$K/bob.key' -recip '$K/certs/bob@partner.example.pem' | grep -q 'The contract terms, gcm.'"
t_check "to bob: the tenant key opens it too (the organisation keeps access)" sh -c \
	"openssl cms -decrypt -in '$m' -inkey '$K/t1.key' -recip '$K/t1.pem' | grep -q 'The contract terms, gcm.'"

# 2. One recipient without a certificate: sealed, and the log says who.
e2e_send "$PF_PORT" nocert alice@example.com bob@partner.example carol@partner.example < <(msg nocert bob@partner.example carol@partner.example)
m=$(delivered nocert)
t_grep "bob and carol: sealed instead" '^X-Sealmilter-Sealed: v=1' "$m"
t_grep "and the log names carol" 'sealed, not S/MIME-encrypted: <carol@partner.example>: no certificate' "$MILTER_LOG"

# 3. An expired certificate is not used.
e2e_send "$PF_PORT" expired alice@example.com dave@partner.example < <(msg expired dave@partner.example)
m=$(delivered expired)
t_grep "dave (expired certificate): sealed" '^X-Sealmilter-Sealed: v=1' "$m"
t_grep "and the log says the certificate expired" '<dave@partner.example>: the certificate has expired' "$MILTER_LOG"

# 4. AES-256-CBC EnvelopedData after a reload: gpgsm reads it as well.
write_config aes-256-cbc
reloads=$(grep -c 'reloaded:' "$MILTER_LOG" || true)
kill -HUP "$MILTER_PID"
for _ in $(seq 50); do [ "$(grep -c 'reloaded:' "$MILTER_LOG" || true)" -gt "$reloads" ] && break; sleep 0.1; done
e2e_send "$PF_PORT" cbc alice@example.com bob@partner.example < <(msg cbc bob@partner.example)
m=$(delivered cbc)
t_grep "cbc: enveloped-data" '^Content-Type: application/pkcs7-mime; smime-type=enveloped-data' "$m"
t_check "cbc: openssl cms -decrypt gives the original" sh -c \
	"openssl cms -decrypt -in '$m' -inkey '$K/bob.key' -recip '$K/certs/bob@partner.example.pem' | grep -q 'The contract terms, cbc.'"
export GNUPGHOME=$TB/gnupg
mkdir -m 700 "$GNUPGHOME"
printf 'disable-crl-checks\ndisable-dirmngr\n' > "$GNUPGHOME/gpgsm.conf"
printf 'allow-loopback-pinentry\n' > "$GNUPGHOME/gpg-agent.conf"
tb_on_cleanup "gpgconf --kill gpg-agent >/dev/null 2>&1 || true"
# GnuPG 2.2 reads only the legacy PKCS#12 encryption.
openssl pkcs12 -export -inkey "$K/bob.key" -in "$K/certs/bob@partner.example.pem" -passout pass:x -keypbe PBE-SHA1-3DES \
	-certpbe PBE-SHA1-3DES -macalg sha1 -out "$K/bob.p12" 2>/dev/null
imp=$(gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 --import "$K/bob.p12" <<< "x" 2>&1 || true)
sed '1,/^\r\?$/d' "$m" | tr -d '\r' | base64 -d > "$TB/cbc.der" || true
out=$(gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 --decrypt "$TB/cbc.der" <<< "x" 2>&1 || true)
if grep -q 'The contract terms, cbc.' <<< "$out"; then
	t_ok "cbc: gpgsm decrypts it with bob's key"
else
	t_fail "cbc: gpgsm decrypts it with bob's key" "import: $imp; decrypt: $out"
fi

e2e_stop_milter
e2e_sanitizer_clean
t_done
