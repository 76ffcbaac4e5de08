#!/usr/bin/env bash
# test-threats.sh - docs/security.md, checked: what each adversary cannot do, shown against a
# real sealview on loopback, messages sealed and registered by `sealctl process` (the
# daemon's pipeline), passcodes read from an SMTP sink, and curl as the browser. Where
# another test already shows a claim, docs/security.md names that one; this one holds the
# rest:
#   - an outside reader with the link: a passcode is bound to its address and used once, a
#     session to its message; rights, revocation and expiry hold for a signed-in reader; the
#     rate limits per address, per message (whatever the client address) and per client
#     address; X-Forwarded-For only from a trusted proxy; no header injection by the address;
#   - a stolen database: none of the plaintext, tokens, link keys, content keys, passcodes,
#     session cookies, the viewer secret or a private key is in it (scanned raw, and as a
#     dump); its passcode and session hashes are keyed; nothing in it opens an object;
#   - a network attacker between sealctl/sealmilter and sealview (tests/cli/mitm.py): what it
#     sees opens nothing; replayed, altered and retargeted requests are refused; forged and
#     replayed answers are not believed; an untrusted TLS certificate is refused;
#   - a curious administrator: revocation is audited; the database cannot widen who may
#     read a message or bring back an expired one; the audit chain catches a changed record,
#     and a re-chained log (with the secret) still changes the head kept elsewhere;
#   - a compromised viewer host: internal-only and viewer: false mail is never registered and
#     carries no viewer key; the host's database and secret open nothing without a link;
#   - a malicious sender: a seal made with another issuer key is neither decrypted nor taken
#     for "already sealed".
# THREATS_BACKEND=postgresql (test-threats-pg.sh) runs the same on a real PostgreSQL.
set -euo pipefail
. "$SRCDIR/tests/e2e/common.sh"
: "${SEALVIEW:?}"
e2e_require /usr/bin/python3 openssl curl
if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
	[ "${SEALMILTER_REQUIRE_E2E:-0}" = 1 ] && { echo "FAIL: python3-aiosmtpd is not installed" >&2; exit 1; }
	echo "SKIP: python3-aiosmtpd is not installed"
	exit 77
fi
BACKEND=${THREATS_BACKEND:-sqlite}
PY=/usr/bin/python3
TH=$SRCDIR/tests/cli/threats.py
MITM=$SRCDIR/tests/cli/mitm.py

tb_init
tb_start_sink
if [ "$BACKEND" = postgresql ]; then
	e2e_start_pg
	STORE=$PG_URL
	export PSQL=$PG_BIN/psql
else
	STORE=sqlite:$TB/sv.db
fi
dbq() { "$PY" "$TH" sql --db "$STORE" "$1"; }

K=$TB/keys
mkdir -p "$K" "$TB/mallory" "$TB/spool" "$TB/wire"
"$SEALCTL" keys generate tenant --name t1 --out "$K" >/dev/null
"$SEALCTL" keys generate issuer --out "$K" >/dev/null
"$SEALCTL" keys generate issuer --out "$TB/mallory" >/dev/null
head -c 32 /dev/urandom > "$TB/secret"
chmod 600 "$TB/secret"
SV_PORT=$(tb_free_port)
MITM_PORT=$(tb_free_port)
TLS_PORT=$(tb_free_port)
# config FILE API_URL [EXTRA sealview LINES]: the organisation's configuration, shared by
# sealctl (sealing, registering, revoking) and sealview. Small rate limits, so that the
# test reaches them; every scenario comes from a client address of its own.
config() {
	cat > "$1" <<YAML
organization: { domains: [example.com] }
milter: { spool_dir: $TB/spool }
keys:
  tenant: [ { id: t1, cert: $K/t1.pem, key: $K/t1.key } ]
  issuer: { cert: $K/issuer.pem, key: $K/issuer.key }
templates:
  dnf: { rights: [view, reply, save], expires: 30d }
  viewonly: { rights: [view], expires: 30d }
  brief: { rights: [view], expires: 1s }
  nolink: { rights: [view], expires: 30d, viewer: false }
rules:
  - name: secure
    if: { direction: outbound, subject: { contains: ["[secure]"] } }
    then: { seal: dnf }
  - name: viewonly
    if: { direction: outbound, subject: { contains: ["[viewonly]"] } }
    then: { seal: viewonly }
  - name: brief
    if: { direction: outbound, subject: { contains: ["[brief]"] } }
    then: { seal: brief }
  - name: nolink
    if: { direction: outbound, subject: { contains: ["[nolink]"] } }
    then: { seal: nolink }
  - name: decrypt-inbound
    if: { direction: inbound }
    then: { decrypt: true }
viewer: { public_url: "http://127.0.0.1:$SV_PORT", api_url: "$2", secret_file: $TB/secret }
sealview:
  listen: 127.0.0.1:$SV_PORT
  store: $STORE
  smtp: smtp://127.0.0.1:$SINK_PORT
  passcode_from: no-reply@example.com
  purge_interval: 1d
  rate_per_ip: 5
  rate_per_message: 4
  rate_per_address: 2
  trusted_proxies: [127.0.0.1/32]
${3:-}
YAML
}
config "$TB/sv.yaml" "http://127.0.0.1:$SV_PORT"
config "$TB/mitm.yaml" "http://127.0.0.1:$MITM_PORT"
e2e_start_sealview "$TB/sv.yaml" A "$SV_PORT"

SECRETS=()        # every message's secret text: none of it may reach the database or the wire
TOKENS=()         # every link token
# seal NAME TAG RCPT...: a message whose subject, text, attachment name and attachment carry a
# random secret of its own, sealed by `sealctl process` (which registers it with sealview when
# it goes outside). CFG picks the configuration. Sets SEAL_RC, PLAIN (the secret), LINK,
# TOKEN, SEAL (the seal id), and $TB/NAME.sealed, $TB/NAME.der (the sealed object).
seal() {
	local name=$1 tag=$2 r
	shift 2
	local to=() list
	for r in "$@"; do to+=(--to "$r"); done
	list=$(IFS=,; echo "$*")
	PLAIN=$(openssl rand -hex 12)
	SECRETS+=("$PLAIN")
	printf 'From: Alice <alice@example.com>\nTo: %s\nSubject: [%s] Subject %s\nMessage-ID: <threat-%s@example.com>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\nBody %s\n--b\nContent-Type: text/plain; name="att-%s.txt"\nContent-Disposition: attachment; filename="att-%s.txt"\n\nAttachment %s\n--b--\n' \
		"$list" "$tag" "$PLAIN" "$name" "$PLAIN" "$PLAIN" "$PLAIN" "$PLAIN" > "$TB/$name.eml"
	SEAL_RC=0
	"$SEALCTL" -c "${CFG:-$TB/sv.yaml}" process "$TB/$name.eml" --from alice@example.com "${to[@]}" \
		> "$TB/$name.sealed" 2> "$TB/$name.err" || SEAL_RC=$?
	LINK=$(link_of "$TB/$name.sealed" 2>/dev/null) || LINK=
	TOKEN=${LINK##*/}
	[ -n "$TOKEN" ] && TOKENS+=("$TOKEN")
	SEAL=$(sed -n 's/^X-Sealmilter-Sealed: .*id=\([0-9a-f-]*\).*/\1/p' "$TB/$name.sealed" | tr -d '\r')
	object_of "$TB/$name.sealed" "$TB/$name.der" 2>/dev/null || rm -f "$TB/$name.der"
}
link_of() {
	"$PY" - "$1" <<'PY'
import email, re, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_content_type() == "text/plain":
        f = re.search(r"http://127\.0\.0\.1:\d+/m/[A-Za-z0-9_-]{43}", p.get_payload(decode=True).decode("utf-8", "replace"))
        if f:
            print(f.group(0)); sys.exit(0)
sys.exit("no link in " + sys.argv[1])
PY
}
object_of() {
	"$PY" - "$1" "$2" <<'PY'
import email, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_filename() == "message.sealed":
        open(sys.argv[2], "wb").write(p.get_payload(decode=True)); sys.exit(0)
sys.exit(1)
PY
}
has_kekri() { openssl cms -verify -noverify -inform DER -in "$1" -out "$1.inner" 2>/dev/null &&
	openssl asn1parse -inform DER -in "$1.inner" | grep -q ':id-aes256-wrap$'; }
no_kekri() { [ -s "$1" ] && ! has_kekri "$1"; }

# The browser: curl with a cookie jar of its own, from client address $IP (X-Forwarded-For,
# believed from 127.0.0.1, a trusted proxy); IFACE picks the local address it connects from.
IP_N=0
next_ip() { IP_N=$((IP_N + 1)); IP=198.51.100.$IP_N; }
next_ip
IFACE=127.0.0.1
web() {   # web JAR METHOD URL [FIELD=VALUE...]: prints the status; the page is in $TB/page
	local jar=$TB/jar-$1 method=$2 url=$3 f args=()
	shift 3
	for f in "$@"; do args+=(--data-urlencode "$f"); done
	curl -s -o "$TB/page" -w '%{http_code}' --interface "$IFACE" -c "$jar" -b "$jar" -H "X-Forwarded-For: $IP" \
		-X "$method" "${args[@]}" "$url" || echo 000
}
csrf() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$TB/page" | head -n 1; }
ask_code() {   # ask_code JAR LINK ADDRESS: sets ST and REF (the reference code on the page)
	local c
	ST=$(web "$1" GET "$2")
	c=$(csrf)
	ST=$(web "$1" POST "$2/code" "csrf=$c" "address=$3")
	REF=$(sed -n 's/.*id="ref">\([A-Z0-9-]*\)<.*/\1/p' "$TB/page" | head -n 1)
}
enter_code() {   # enter_code JAR LINK ADDRESS CODE: sets ST (303: signed in)
	local c
	ST=$(web "$1" GET "$2")
	c=$(csrf)
	ST=$(web "$1" POST "$2/verify" "csrf=$c" "address=$3" "code=$4")
}
mail_with_ref() { grep -l "^X-Sealview-Reference: $1" "$SINK_DIR"/*.eml 2>/dev/null | head -n 1; }
have_mail() { [ -n "$(mail_with_ref "$1")" ]; }
passcode_for() {   # passcode_for REF: the passcode mailed with that reference
	tb_wait_for 30 have_mail "$1" || return 1
	sed -n 's/.*passcode is: \([0-9]\{8\}\).*/\1/p' "$(mail_with_ref "$1")" | head -n 1
}
CODES=()
sign_in() {   # sign_in JAR LINK ADDRESS: the whole passcode flow; sets ST (303: signed in) and CODE
	ask_code "$1" "$2" "$3"
	CODE=$(passcode_for "$REF") || CODE=
	CODES+=("$CODE")
	enter_code "$1" "$2" "$3" "$CODE"
}
wrong_of() { printf '%08d' $(( (10#$1 + 1) % 100000000 )); }
audit_of() { "$SEALCTL" -c "$TB/sv.yaml" audit "$1" --json 2>&1 || true; }

# ---- A curious administrator: the audit chain (first, while nothing else writes to it) ----
seal adm0 secure bob@partner.test
seal adm1 secure bob@partner.test
"$SEALCTL" -c "$TB/sv.yaml" audit --verify --json > "$TB/v1" 2>&1 || true
t_grep "admin: the audit chain verifies" '"intact":true,"records":2,' "$TB/v1"
H1=$(sed -n 's/.*"head":"\([0-9a-f]*\)".*/\1/p' "$TB/v1")
dbq "UPDATE audit SET detail = 'nothing happened here' WHERE seq = 1" >/dev/null
rc=0
"$SEALCTL" -c "$TB/sv.yaml" audit --verify --json > "$TB/v2" 2>&1 || rc=$?
t_rc "admin: a record changed in the database without the viewer secret breaks the chain (exit 4)" 4 "$rc"
t_grep "admin: and --verify names the record" '"first_bad":1' "$TB/v2"
"$PY" "$TH" rechain --db "$STORE" --secret "$TB/secret" --seq 1 > /dev/null
rc=0
"$SEALCTL" -c "$TB/sv.yaml" audit --verify --json > "$TB/v3" 2>&1 || rc=$?
t_rc "admin (residual): re-chained with the viewer secret, the log verifies again" 0 "$rc"
t_grep "admin: with as many records as before" '"intact":true,"records":2,' "$TB/v3"
H3=$(sed -n 's/.*"head":"\([0-9a-f]*\)".*/\1/p' "$TB/v3")
t_check "admin: but its head is not the head kept elsewhere before, so the change shows" \
	test -n "$H1" -a -n "$H3" -a "$H1" != "$H3"

# ---- A malicious outside reader, with a link ----
seal A secure bob@partner.test carol@partner.test
t_rc "reader: a message to two outside recipients is sealed and registered" 0 "$SEAL_RC"
LINK_A=$LINK SEAL_A=$SEAL PLAIN_A=$PLAIN
t_check "reader: its notice carries a link" test -n "$LINK_A"
ask_code bob "$LINK_A" bob@partner.test
t_rc "reader: bob asks for a passcode" 200 "$ST"
CODE_A=$(passcode_for "$REF") || CODE_A=
CODES+=("$CODE_A")
t_check "reader: the passcode comes by mail" test -n "$CODE_A"
enter_code carol "$LINK_A" carol@partner.test "$CODE_A"
t_rc "reader: bob's passcode with carol's address (another recipient) is refused" 400 "$ST"
t_grep "reader: with the one answer for every failure" "That passcode is not valid" "$TB/page"
enter_code bob "$LINK_A" bob@partner.test "$CODE_A"
t_rc "reader: with bob's own address it signs in" 303 "$ST"
ST=$(web bob GET "$LINK_A")
t_grep "reader: (the signed-in reader reads the message)" "Body $PLAIN_A" "$TB/page"
enter_code bob2 "$LINK_A" bob@partner.test "$CODE_A"
t_rc "reader: a passcode is used once: the same one again, from another browser, is refused" 400 "$ST"
t_nogrep "reader: and shows nothing of the message" "$PLAIN_A" "$TB/page"

seal B secure bob@partner.test
LINK_B=$LINK SEAL_B=$SEAL PLAIN_B=$PLAIN
ST=$(web bob GET "$LINK_B")
t_grep "reader: a session for one message does not open another (the address form)" 'id="address"' "$TB/page"
t_nogrep "reader: nothing of the other message is shown" "$PLAIN_B" "$TB/page"
for p in body att/1; do
	ST=$(web bob GET "$LINK_B/$p")
	t_rc "reader: nor its /$p (back to the start)" 303 "$ST"
done

# Rights are the server's: a view-only message refuses what the page does not offer.
next_ip
seal V viewonly bob@partner.test
LINK_V=$LINK SEAL_V=$SEAL PLAIN_V=$PLAIN
cp "$TB/V.der" "$TB/live.der"
sign_in vbob "$LINK_V" bob@partner.test
CODE_V=$CODE
t_rc "rights: bob signs in to a view-only message" 303 "$ST"
ST=$(web vbob GET "$LINK_V")
t_grep "rights: (and reads it)" "Body $PLAIN_V" "$TB/page"
t_nogrep "rights: no download link without the save right" "/att/1" "$TB/page"
C=$(csrf)
ST=$(web vbob GET "$LINK_V/att/1")
t_rc "rights: an attachment asked for anyway is refused (403)" 403 "$ST"
t_nogrep "rights: and not sent" "Attachment $PLAIN_V" "$TB/page"
ST=$(web vbob GET "$LINK_V/print")
t_rc "rights: the printable page without the print right: 403" 403 "$ST"
ST=$(web vbob POST "$LINK_V/reply" "csrf=$C" "text=hello")
t_rc "rights: a reply without a reply right: 403" 403 "$ST"
ST=$(web vbob POST "$LINK_V/forward" "csrf=$C" "address=frank@other.test")
t_rc "rights: a forward without the forward right: 403" 403 "$ST"
audit_of "$SEAL_V" > "$TB/audit-v"
t_grep "rights: the refused download is audited" '"event":"download".*"outcome":"refused","detail":"no save right"' "$TB/audit-v"

# A reply and a download (the database must keep neither), then revocation while signed in.
ST=$(web bob GET "$LINK_A/att/1")
t_rc "reader: bob downloads the attachment (the save right)" 200 "$ST"
t_grep "reader: (its content)" "Attachment $PLAIN_A" "$TB/page"
audit_of "$SEAL_A" > "$TB/audit-a"
t_grep "reader: the download is audited by number" '"event":"download".*"outcome":"ok","detail":"attachment 1 of 1"' "$TB/audit-a"
t_nogrep "reader: not by the file name (it is part of the message)" "att-$PLAIN_A" "$TB/audit-a"
ST=$(web bob GET "$LINK_A")
C=$(csrf)
REPLY_SECRET=$(openssl rand -hex 12)
SECRETS+=("$REPLY_SECRET")
ST=$(web bob POST "$LINK_A/reply" "csrf=$C" "text=Reply $REPLY_SECRET")
t_rc "reader: bob replies" 200 "$ST"
mail_with_text() { grep -l "$1" "$SINK_DIR"/*.eml 2>/dev/null | head -n 1; }
have_text() { [ -n "$(mail_with_text "$1")" ]; }
t_check "reader: (the reply reaches the sender through the MTA)" tb_wait_for 30 have_text "$REPLY_SECRET"
rc=0
"$SEALCTL" -c "$TB/sv.yaml" revoke "$SEAL_A" > "$TB/revoke-a" 2>&1 || rc=$?
t_rc "reader: the sender revokes the message" 0 "$rc"
for p in "" /body /att/1; do
	ST=$(web bob GET "$LINK_A$p")
	t_rc "reader: revocation holds for a signed-in reader at once: ${p:-the page} is 410" 410 "$ST"
	t_nogrep "reader: with nothing of the message (${p:-the page})" "$PLAIN_A" "$TB/page"
done
audit_of "$SEAL_A" > "$TB/audit-a"
t_grep "admin: the revocation is in the audit, with where it came from" '"event":"revoke","seal_id":"'"$SEAL_A"'","address":"","client_ip":"127.0.0.1".*"outcome":"ok"' "$TB/audit-a"

# Expiry, checked on every request: the stored expiry moved to the past, as time would.
next_ip
sign_in bexp "$LINK_B" bob@partner.test
t_rc "reader: bob signs in to another message" 303 "$ST"
ST=$(web bexp GET "$LINK_B")
t_grep "reader: (and reads it)" "Body $PLAIN_B" "$TB/page"
dbq "UPDATE messages SET expires = $(( $(date +%s) - 1 )) WHERE seal_id = '$SEAL_B'" > /dev/null
for p in "" /att/1; do
	ST=$(web bexp GET "$LINK_B$p")
	t_rc "reader: once it expires, ${p:-the page} is 410 for the signed-in reader" 410 "$ST"
done
t_grep "reader: and the page says it expired" "This message has expired" "$TB/page"

# The address field cannot add a recipient to the passcode mail.
next_ip
seal H secure bob@partner.test
LINK_H=$LINK
n_before=$(dbq "SELECT count(*) FROM passcodes")
ask_code h "$LINK_H" $'bob@partner.test\r\nBcc: eve@evil.example'
t_rc "reader: an address with a line break is refused" 400 "$ST"
ask_code h "$LINK_H" 'bob@partner.test, eve@evil.example'
t_rc "reader: two addresses in one are refused" 400 "$ST"
t_check "reader: and no passcode was made for either" test "$(dbq "SELECT count(*) FROM passcodes")" = "$n_before"

# Rate limits. Per address: passcode mails to one address for one message.
next_ip
seal R1 secure bob@partner.test
for i in 1 2 3; do ask_code r1 "$LINK" bob@partner.test; done
t_rc "rate: a third passcode for the same address within 15 minutes is refused" 429 "$ST"
t_grep "rate: the page says so" "Too many attempts" "$TB/page"
audit_of "$SEAL" > "$TB/audit-r1"
t_check "rate: two passcodes were issued, the third audited as rate_limited" test \
	"$(grep -c '"event":"passcode_request".*"outcome":"ok"' "$TB/audit-r1")/$(grep -c '"event":"passcode_request".*"outcome":"rate_limited"' "$TB/audit-r1")" = 2/1
# Per message, whatever the client address: an attacker with many addresses gets 4 tries in
# all (rate_per_message), and then even the right passcode is refused.
next_ip
seal R2 secure bob@partner.test
LINK_R2=$LINK SEAL_R2=$SEAL
cp "$TB/R2.der" "$TB/live2.der"
ask_code r2 "$LINK_R2" bob@partner.test
CODE_R2=$(passcode_for "$REF") || CODE_R2=
CODES+=("$CODE_R2")
for i in 1 2 3; do
	next_ip
	enter_code "r2w$i" "$LINK_R2" bob@partner.test "$(wrong_of "$CODE_R2")"
	t_rc "rate: wrong guess $i, from a client address of its own, is refused" 400 "$ST"
done
next_ip
enter_code r2 "$LINK_R2" bob@partner.test "$CODE_R2"
t_rc "rate: over the message's limit, the right passcode (3 wrong tries: not locked) is refused" 429 "$ST"
t_grep "rate: as too many attempts" "Too many attempts" "$TB/page"
audit_of "$SEAL_R2" > "$TB/audit-r2"
t_grep "rate: audited as rate_limited" '"event":"passcode_fail".*"outcome":"rate_limited"' "$TB/audit-r2"
# Per client address, across messages.
next_ip
seal R3 secure bob@partner.test
LINK_R3=$LINK
seal R4 secure bob@partner.test
LINK_R4=$LINK
ask_code r3 "$LINK_R3" bob@partner.test
CODE_R3=$(passcode_for "$REF") || CODE_R3=
CODES+=("$CODE_R3")
enter_code r3 "$LINK_R3" bob@partner.test "$(wrong_of "$CODE_R3")"
enter_code r3 "$LINK_R3" bob@partner.test "$(wrong_of "$CODE_R3")"
ask_code r4 "$LINK_R4" bob@partner.test
CODE_R4=$(passcode_for "$REF") || CODE_R4=
CODES+=("$CODE_R4")
enter_code r4 "$LINK_R4" bob@partner.test "$(wrong_of "$CODE_R4")"
enter_code r4 "$LINK_R4" bob@partner.test "$CODE_R4"
t_rc "rate: the 6th passcode step from one client address (rate_per_ip 5) is refused, right passcode or not" 429 "$ST"
t_grep "rate: as too many attempts" "Too many attempts" "$TB/page"
next_ip
enter_code r4b "$LINK_R4" bob@partner.test "$CODE_R4"
t_rc "rate: (the same passcode from another client address signs in: it was the address's limit)" 303 "$ST"
# X-Forwarded-For is believed only from a trusted proxy (127.0.0.1/32 here).
seal X secure bob@partner.test
SEAL_X=$SEAL
IP=203.0.113.77 IFACE=127.0.0.2 ask_code x2 "$LINK" bob@partner.test
IP=203.0.113.78 ask_code x1 "$LINK" bob@partner.test
audit_of "$SEAL_X" > "$TB/audit-x"
t_grep "reader: X-Forwarded-For from a trusted proxy names the client" '"event":"passcode_request".*"client_ip":"203.0.113.78"' "$TB/audit-x"
t_grep "reader: from anywhere else it is ignored: the connection's address counts" '"event":"passcode_request".*"client_ip":"127.0.0.2"' "$TB/audit-x"
t_nogrep "reader: (the forged one appears nowhere)" '203.0.113.77' "$TB/audit-x"

# ---- A network attacker between sealctl/sealmilter and sealview ----
"$PY" "$MITM" serve --port "$MITM_PORT" --upstream "http://127.0.0.1:$SV_PORT" --dir "$TB/wire" \
	--pidfile "$TB/mitm.pid" 2> "$TB/mitm.log" &
tb_register_pid $!
tb_wait_port "$MITM_PORT" 20 || tb_fail "the proxy did not start"
mode() { printf '%s\n' "$*" > "$TB/wire/mode"; }
last_req() { find "$TB/wire" -name '*.req' | sort | tail -n 1; }
mode pass
CFG=$TB/mitm.yaml seal N1 secure bob@partner.test
t_rc "network: through the attacker's proxy (passing it on), a registration works" 0 "$SEAL_RC"
SEAL_N1=$SEAL TOKEN_N1=$TOKEN PLAIN_N1=$PLAIN
cp "$TB/N1.der" "$TB/live3.der"
REG=$(last_req)
out=$("$PY" "$MITM" send --to "http://127.0.0.1:$SV_PORT" --req "$REG")
t_rc "network: the captured registration, sent again, is refused as a replay" "401 replayed request" "$out"
n_msgs=$(dbq "SELECT count(*) FROM messages")
mode flip
CFG=$TB/mitm.yaml seal N2 secure bob@partner.test
t_rc "network: a registration changed on the way is refused, and the message deferred (75)" 75 "$SEAL_RC"
t_grep "network: sealctl says why" "HTTP 401" "$TB/N2.err"
t_check "network: (nothing delivered)" test ! -s "$TB/N2.sealed"
mode forge 201 '{"seal_id":"x","registered":true}'
CFG=$TB/mitm.yaml seal N3 secure bob@partner.test
t_rc "network: a forged 201 for a registration is not believed: deferred (75), no dead link goes out" 75 "$SEAL_RC"
t_grep "network: the answer is not signed, it says" "is not signed by sealview" "$TB/N3.err"
t_check "network: (nothing delivered)" test ! -s "$TB/N3.sealed"
t_check "network: neither was registered" test "$(dbq "SELECT count(*) FROM messages")" = "$n_msgs"
seal N4 secure bob@partner.test
SEAL_N4=$SEAL LINK_N4=$LINK
mode retarget "/api/v1/revoke/$SEAL_N4"
rc=0
"$SEALCTL" -c "$TB/mitm.yaml" revoke "$SEAL_N1" > "$TB/n4.out" 2>&1 || rc=$?
t_check "network: a revocation sent on to another message is refused" test "$rc" -ne 0
t_check "network: that other message is not revoked" \
	test "$(dbq "SELECT revoked FROM messages WHERE seal_id = '$SEAL_N4'")" = 0
mode forge 200 '{"seal_ids":["'"$SEAL_N4"'"],"revoked_now":1,"revoked":"now"}'
rc=0
"$SEALCTL" -c "$TB/mitm.yaml" revoke "$SEAL_N4" > "$TB/n5.out" 2>&1 || rc=$?
t_check "network: a forged 'revoked now' is not believed" test "$rc" -ne 0
t_grep "network: sealctl says the answer is not sealview's" "is not signed by sealview" "$TB/n5.out"
t_check "network: (and the message is not revoked)" test "$(dbq "SELECT revoked FROM messages WHERE seal_id = '$SEAL_N4'")" = 0
mode pass
rc=0
"$SEALCTL" -c "$TB/mitm.yaml" revoke "$SEAL_N1" > "$TB/n6.out" 2>&1 || rc=$?
t_rc "network: a genuine revocation passes the proxy" 0 "$rc"
GOOD=$(basename "$(last_req)" .req)
mode replay "$GOOD"
rc=0
"$SEALCTL" -c "$TB/mitm.yaml" revoke "$SEAL_N4" > "$TB/n7.out" 2>&1 || rc=$?
t_check "network: sealview's genuine signed answer, replayed for another revocation, is not believed" \
	test "$rc" -ne 0
t_grep "network: its signature is for another request" "wrong signature" "$TB/n7.out"
t_check "network: (that message is not revoked)" test "$(dbq "SELECT revoked FROM messages WHERE seal_id = '$SEAL_N4'")" = 0
out=$("$PY" "$MITM" send --to "http://127.0.0.1:$SV_PORT" --req "$TB/wire/$GOOD.req")
t_rc "network: the captured revocation, sent again, is refused as a replay" "401 replayed request" "$out"
mode forge 200 '{"intact":true,"records":1,"head":"0000000000000000000000000000000000000000000000000000000000000000"}'
rc=0
"$SEALCTL" -c "$TB/mitm.yaml" audit --verify > "$TB/n8.out" 2>&1 || rc=$?
t_check "network: a forged 'intact' audit chain is not believed" test "$rc" -ne 0 -a "$rc" -ne 4
mode pass
# What it saw: the sealed object and the lookup id, never the token, a key or the text.
"$PY" "$TH" derive --token="$TOKEN_N1" --secret "$TB/secret" > "$TB/n1.keys"
read -r LOOKUP_N1 KEK_N1 < "$TB/n1.keys"
CEK_N1=$("$PY" "$TH" cek --object "$TB/live3.der" --kek "$KEK_N1") || CEK_N1=
t_check "network: (the test unwraps the content key with the link's key)" test ${#CEK_N1} -eq 64
/usr/bin/python3 - "$TB/wire-needles.json" "$PLAIN_N1" "$TOKEN_N1" "$KEK_N1" "$CEK_N1" "$LOOKUP_N1" "$TB/live3.der" <<'PY'
import base64, json, sys
out, plain, token, kek, cek, lookup, der = sys.argv[1:8]
obj = open(der, "rb").read()
json.dump({"must_not:plaintext": plain.encode().hex(), "must_not:token": token.encode().hex(),
           "must_not:token-raw": base64.urlsafe_b64decode(token + "=").hex(), "must_not:kek": kek,
           "must_not:cek": cek, "must:lookup": lookup.encode().hex(), "must:object": obj[200:232].hex()},
          open(out, "w"))
PY
"$PY" "$TH" scan --needles "$TB/wire-needles.json" "$TB"/wire/*.wire > "$TB/wire-scan"
t_grep "network: (the capture holds the lookup id)" "^found must:lookup" "$TB/wire-scan"
t_grep "network: (and the sealed object)" "^found must:object" "$TB/wire-scan"
for n in plaintext token token-raw kek cek; do
	t_grep "network: what crossed the wire holds no $n" "^absent must_not:$n$" "$TB/wire-scan"
done
# TLS: sealview serving HTTPS itself, with a certificate the system does not trust (as an
# attacker's would be): refused.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TB/tls.key" -out "$TB/tls.pem" -days 2 -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
chmod 600 "$TB/tls.key"
config "$TB/tls.yaml" "https://127.0.0.1:$TLS_PORT" "  tls_cert: $TB/tls.pem
  tls_key: $TB/tls.key"
sed -i "s/^  listen: 127.0.0.1:$SV_PORT\$/  listen: 127.0.0.1:$TLS_PORT/" "$TB/tls.yaml"
e2e_start_sealview "$TB/tls.yaml" B "$TLS_PORT"
t_check "network: (sealview answers HTTPS with its certificate)" \
	curl -fsS --cacert "$TB/tls.pem" "https://127.0.0.1:$TLS_PORT/healthz" -o /dev/null
rc=0
"$SEALCTL" -c "$TB/tls.yaml" audit --verify > "$TB/tls.out" 2>&1 || rc=$?
t_check "network: an HTTPS api_url with a certificate the system does not trust is refused" test "$rc" -ne 0
t_grep "network: because of the certificate" "SSL certificate problem" "$TB/tls.out"
e2e_stop_sealview B

# ---- A curious administrator with the database ----
next_ip
seal W secure bob@partner.test
LINK_W=$LINK SEAL_W=$SEAL PLAIN_W=$PLAIN
dbq "UPDATE messages SET policy = replace(policy, '\"recipients\":[\"bob@partner.test\"]', '\"recipients\":[\"bob@partner.test\",\"eve@evil.example\"]') WHERE seal_id = '$SEAL_W'" > /dev/null
t_check "admin: (eve is added to the stored policy)" test "$(dbq "SELECT count(*) FROM messages WHERE seal_id = '$SEAL_W' AND policy LIKE '%eve@evil.example%'")" = 1
sign_in eve "$LINK_W" eve@evil.example
ST=$(web eve GET "$LINK_W")
t_rc "admin: a recipient added in the database is refused when the object is opened" 500 "$ST"
t_nogrep "admin: and sees nothing of the message" "$PLAIN_W" "$TB/page"
audit_of "$SEAL_W" > "$TB/audit-w"
t_grep "admin: the audit says why" '"event":"view".*"address":"eve@evil.example".*"outcome":"error","detail":"the sealed object.s policy differs from the registered one"' "$TB/audit-w"
next_ip
seal E brief bob@partner.test
LINK_E=$LINK SEAL_E=$SEAL
dbq "UPDATE messages SET expires = 0 WHERE seal_id = '$SEAL_E'" > /dev/null
EXP=$(dbq "SELECT policy FROM messages WHERE seal_id = '$SEAL_E'" | sed -n 's/.*"expires":"\([^"]*\)".*/\1/p')
EXP_T=$(date -d "$EXP" +%s)
past_expiry() { [ "$(date +%s)" -gt "$EXP_T" ]; }
tb_wait_for 10 past_expiry || true
ST=$(web e GET "$LINK_E")
t_rc "admin: the stored expiry set to never cannot bring back a message whose signed policy expired" 410 "$ST"
t_grep "admin: the page says it expired" "This message has expired" "$TB/page"
ask_code e "$LINK_E" bob@partner.test
t_rc "admin: and no passcode is issued for it" 410 "$ST"

# Nothing is shown unaudited: with the store refusing view and download records (a trigger, as
# a full disk or a broken database would), the reader gets 503 and nothing of the message.
next_ip
seal D secure bob@partner.test
LINK_D=$LINK PLAIN_D=$PLAIN
sign_in d "$LINK_D" bob@partner.test
ST=$(web d GET "$LINK_D")
t_grep "admin: (bob reads a message)" "Body $PLAIN_D" "$TB/page"
if [ "$BACKEND" = postgresql ]; then
	dbq "CREATE FUNCTION refuse_audit() RETURNS trigger AS \$\$ BEGIN IF NEW.event IN ('view', 'download') THEN
		RAISE EXCEPTION 'the test refuses this record'; END IF; RETURN NEW; END \$\$ LANGUAGE plpgsql;
		CREATE TRIGGER refuse_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION refuse_audit()" > /dev/null
else
	dbq "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit WHEN NEW.event IN ('view', 'download')
		BEGIN SELECT RAISE(ABORT, 'the test refuses this record'); END" > /dev/null
fi
for p in "" /att/1; do
	ST=$(web d GET "$LINK_D$p")
	t_rc "admin: when its audit record cannot be written, ${p:-the page} is refused (503)" 503 "$ST"
	t_nogrep "admin: and shows nothing of the message (${p:-the page})" "$PLAIN_D" "$TB/page"
done
dbq "DROP TRIGGER refuse_audit$( [ "$BACKEND" = postgresql ] && echo " ON audit")" > /dev/null
ST=$(web d GET "$LINK_D/att/1")
t_rc "admin: (once records can be written again, it is served)" 200 "$ST"

# ---- A compromised viewer host: what never reaches it ----
seal I secure carol@example.com
t_rc "viewer host: a message to an internal recipient is sealed" 0 "$SEAL_RC"
t_check "viewer host: its notice has no link" test -z "$LINK"
t_check "viewer host: it is not registered" test "$(dbq "SELECT count(*) FROM messages WHERE seal_id = '$SEAL'")" = 0
t_check "viewer host: its object has no viewer key (KEKRecipientInfo)" no_kekri "$TB/I.der"
seal NL nolink bob@partner.test
t_rc "viewer host: a viewer: false message to an outsider is sealed" 0 "$SEAL_RC"
t_check "viewer host: no link" test -z "$LINK"
t_check "viewer host: not registered" test "$(dbq "SELECT count(*) FROM messages WHERE seal_id = '$SEAL'")" = 0
t_check "viewer host: no viewer key" no_kekri "$TB/NL.der"
t_check "viewer host: (a message with a link has one)" has_kekri "$TB/live.der"

# ---- A stolen database (and what the viewer host holds besides) ----
e2e_stop_sealview A      # the mail queue is drained and every file written
"$PY" "$TH" derive --token="${LINK_V##*/}" --secret "$TB/secret" > "$TB/v.keys"
read -r LOOKUP_V KEK_V < "$TB/v.keys"
CEK_V=$("$PY" "$TH" cek --object "$TB/live.der" --kek "$KEK_V") || CEK_V=
t_check "db: (the test unwraps a content key with the link's key)" test ${#CEK_V} -eq 64
"$PY" "$TH" derive --token="${LINK_R2##*/}" --secret "$TB/secret" > "$TB/r2.keys"
read -r LOOKUP_R2 KEK_R2 < "$TB/r2.keys"
CEK_R2=$("$PY" "$TH" cek --object "$TB/live2.der" --kek "$KEK_R2") || CEK_R2=
SVS_V=$(awk '$6 == "svs" { print $7 }' "$TB/jar-vbob" | tail -n 1)
t_check "db: (bob's session cookie)" test ${#SVS_V} -eq 43
openssl pkey -in "$K/t1.key" -outform DER -out "$TB/t1.key.der" 2>/dev/null
openssl pkey -in "$K/issuer.key" -outform DER -out "$TB/issuer.key.der" 2>/dev/null
/usr/bin/python3 - "$TB/db-needles.json" "$TB" "$LOOKUP_V" "$KEK_V" "$CEK_V" "$KEK_R2" "$CEK_R2" "$SVS_V" \
	"${TOKENS[@]}" -- "${SECRETS[@]}" -- "${CODES[@]}" <<'PY'
import base64, json, sys
out, tb, lookup, kek_v, cek_v, kek_r2, cek_r2, svs = sys.argv[1:9]
rest = sys.argv[9:]
i = rest.index("--")
tokens, rest = rest[:i], rest[i + 1:]
i = rest.index("--")
secrets, codes = rest[:i], [c for c in rest[i + 1:] if c]
n = {"must:lookup": lookup.encode().hex(), "must:address": b"bob@partner.test".hex(),
     "must:object": open(tb + "/live.der", "rb").read()[200:232].hex(),
     "must_not:kek-v": kek_v, "must_not:cek-v": cek_v, "must_not:kek-r2": kek_r2, "must_not:cek-r2": cek_r2,
     "must_not:session-cookie": svs.encode().hex(), "must_not:viewer-secret": open(tb + "/secret", "rb").read().hex(),
     "must_not:tenant-key": open(tb + "/t1.key.der", "rb").read().hex(),
     "must_not:issuer-key": open(tb + "/issuer.key.der", "rb").read().hex()}
for k, t in enumerate(tokens):
    n["must_not:token-%d" % k] = t.encode().hex()
    n["must_not:token-raw-%d" % k] = base64.urlsafe_b64decode(t + "=").hex()
for k, s in enumerate(secrets):
    n["must_not:plaintext-%d" % k] = s.encode().hex()
for k, c in enumerate(codes):
    n["must_not:passcode-%d" % k] = c.encode().hex()
json.dump(n, open(out, "w"))
PY
if [ "$BACKEND" = postgresql ]; then
	"$PSQL" -q "$PG_URL" -c CHECKPOINT
	"$PG_BIN/pg_dump" "$PG_URL" > "$TB/dump.sql"
	mapfile -t FILES < <(find "$TB/pg/data/base" "$TB/pg/data/pg_wal" -type f)
	FILES+=("$TB/dump.sql")
else
	/usr/bin/python3 -c 'import sqlite3, sys
open(sys.argv[2], "w").write("\n".join(sqlite3.connect(sys.argv[1]).iterdump()))' "$TB/sv.db" "$TB/dump.sql"
	FILES=("$TB/sv.db" "$TB/sv.db-wal" "$TB/sv.db-shm" "$TB/dump.sql")
fi
"$PY" "$TH" scan --needles "$TB/db-needles.json" "${FILES[@]}" > "$TB/db-scan"
t_check "db: (the scan looks for every message's and reply's text, every token and at least 6 passcodes)" \
	test "${#SECRETS[@]}" -ge 15 -a "${#TOKENS[@]}" -ge 10 -a "${#CODES[@]}" -ge 6
for n in lookup address object; do
	t_grep "db: (the stolen copy holds the $n, so the scan sees what is there)" "^found must:$n " "$TB/db-scan"
done
if grep -q '^found must_not' "$TB/db-scan"; then
	t_fail "db: the stolen copy holds none of the plaintext, tokens, link keys, content keys, passcodes, the session cookie, the viewer secret or a private key" "$(grep '^found must_not' "$TB/db-scan")"
else
	t_ok "db: the stolen copy holds none of the plaintext, tokens, link keys, content keys, passcodes, the session cookie, the viewer secret or a private key"
fi
# Passcodes and sessions are stored as hashes keyed with the viewer secret (not in the database).
want=$("$PY" "$TH" passcode-hash --secret "$TB/secret" --lookup "$LOOKUP_V" --address bob@partner.test --code "$CODE_V")
got=$(dbq "SELECT $( [ "$BACKEND" = postgresql ] && echo "encode(hash, 'hex')" || echo "lower(hex(hash))") FROM passcodes WHERE lookup = '$LOOKUP_V'")
t_check "db: a stored passcode is HMAC(key from the viewer secret, lookup, address, passcode): no offline guessing without the secret" \
	test -n "$CODE_V" -a "$got" = "$want"
want=$("$PY" "$TH" session-hash --secret "$TB/secret" --sid "$SVS_V")
got=$(dbq "SELECT $( [ "$BACKEND" = postgresql ] && echo "encode(id_hash, 'hex')" || echo "lower(hex(id_hash))") FROM sessions WHERE lookup = '$LOOKUP_V'")
t_check "db: a stored session is the keyed hash of its cookie, not the cookie" test "$got" = "$want"
"$PY" "$TH" try-open --db "$STORE" --secret "$TB/secret" --workdir "$TB" > "$TB/try-open"
t_grep "db: every stored object, tried with every key the database and the viewer secret give, opens with none" \
	'^objects [1-9][0-9]* tried [1-9][0-9]* opened 0$' "$TB/try-open"
openssl cms -verify -noverify -inform DER -in "$TB/live.der" -out "$TB/live.inner" 2>/dev/null
t_check "db: (the link's key, which only the mail holds, opens one: the attempt was real)" \
	openssl cms -decrypt -inform DER -in "$TB/live.inner" -secretkey "$KEK_V" \
	-secretkeyid "$(printf sealmilter-viewer-v1 | od -An -tx1 | tr -d ' \n')" -out "$TB/live.plain"
t_grep "db: (to the original)" "Body $PLAIN_V" "$TB/live.plain"
NOPEPPER=$(/usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import threats, base64
print(threats.hkdf(base64.urlsafe_b64decode(sys.argv[2] + "="), threats.SALT, b"kek v1").hex())' "$SRCDIR/tests/cli" "${LINK_V##*/}")
t_check "db: the link without the viewer secret (the delivered mail alone) does not unwrap the content key" \
	bash -c "! '$PY' '$TH' cek --object '$TB/live.der' --kek '$NOPEPPER' 2>/dev/null"
e2e_start_sealview "$TB/sv.yaml" A "$SV_PORT"
ST=$(web vbob GET "$LINK_V")
t_grep "db: (bob's session still reads the message)" "Body $PLAIN_V" "$TB/page"
B64=$(/usr/bin/python3 -c 'import base64, sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$want")
ST=$(curl -s -o "$TB/page" -w '%{http_code}' -H "Cookie: svs=$B64" "$LINK_V")
t_grep "db: the stored session hash, presented as the cookie, signs nobody in" 'id="address"' "$TB/page"
t_nogrep "db: (nothing of the message)" "$PLAIN_V" "$TB/page"
ST=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SV_PORT/m/${LOOKUP_V:0:43}")
t_rc "db: a lookup id from the database is not a link" 404 "$ST"

# ---- A malicious sender: seals made with another issuer key ----
cat > "$TB/mallory.yaml" <<YAML
organization: { domains: [example.com, evil.example] }
milter: { spool_dir: $TB/spool }
keys:
  tenant: [ { id: t1, cert: $K/t1.pem } ]
  issuer: { cert: $TB/mallory/issuer.pem, key: $TB/mallory/issuer.key }
templates:
  dnf: { rights: [view, reply, save], expires: 30d }
rules:
  - name: secure
    if: { direction: outbound, subject: { contains: ["[secure]"] } }
    then: { seal: dnf }
YAML
CFG=$TB/mallory.yaml seal F secure carol@example.com
t_rc "sender: (mallory seals for carol with our public tenant certificate and an issuer key of her own)" 0 "$SEAL_RC"
PLAIN_F=$PLAIN
"$SEALCTL" -c "$TB/sv.yaml" process "$TB/F.sealed" --client-ip 192.0.2.1 --from mallory@evil.example \
	--to carol@example.com > "$TB/F.in" 2> "$TB/F.in.err" || true
t_grep "sender: transport decryption refuses it, and says why" "not decrypted: .*signature.*delivered sealed" "$TB/F.in.err"
t_nogrep "sender: nothing of its text in the clear" "Body $PLAIN_F" "$TB/F.in"
rc=0
"$SEALCTL" -c "$TB/sv.yaml" open "$TB/F.sealed" > "$TB/F.open" 2>&1 || rc=$?
t_rc "sender: sealctl open refuses it: bad signature (exit 4)" 4 "$rc"
CFG=$TB/mallory.yaml seal G secure bob@partner.test
TOPSECRET=$(openssl rand -hex 12)
SECRETS+=("$TOPSECRET")
/usr/bin/python3 - "$TB/G.sealed" "$TB/G.forged" "$TOPSECRET" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
nl = b"\r\n" if b"\r\n" in d else b"\n"
i = d.index(b"Content-Type: text/plain; charset=utf-8")
j = d.index(nl + nl, i) + 2 * len(nl)
k = d.index(nl + b"--", j)
open(sys.argv[2], "wb").write(d[:j] + b"Plain text: " + sys.argv[3].encode() + nl + d[k:])
PY
rc=0
"$SEALCTL" -c "$TB/sv.yaml" process "$TB/G.forged" --from alice@example.com --to bob@partner.test \
	> "$TB/G.out" 2> "$TB/G.err" || rc=$?
t_nogrep "sender: an envelope sealed by another issuer is not taken for 'already sealed'" "already sealed" "$TB/G.err"
t_nogrep "sender: its text goes out sealed, not in the clear" "$TOPSECRET" "$TB/G.out"
"$SEALCTL" -c "$TB/sv.yaml" open "$TB/G.out" > "$TB/G.open" 2>/dev/null || true
t_grep "sender: (sealed by us: our key opens it, with that text inside)" "$TOPSECRET" "$TB/G.open"

e2e_stop_sealview A
# sealctl's own output (sealing, revoking, auditing, opening), under the sanitizers too.
mapfile -t OUTS < <(find "$TB" -maxdepth 1 -type f \( -name '*.err' -o -name '*.out' -o -name 'audit-*' -o -name 'v[0-9]' \
	-o -name '*.open' -o -name 'revoke-*' \))
t_check "no sanitizer report from sealctl" \
	bash -c '! grep -lE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$@"' _ "${OUTS[@]}"
t_done
