#!/usr/bin/env bash
# test-viewer.sh - sealview end to end, as an outside recipient meets it: a sealed message
# goes through a real Postfix to bob@partner.test; its link opens in a real Chromium
# (playwright-core, tests/browser/viewer.js); the passcode comes by mail through the same
# Postfix into the sink; the message, its attachment and a reply work. Also: 5 wrong
# passcodes lock a passcode; an address that is not a recipient gets the same page and no
# mail; hostile HTML runs nothing and loads nothing; revocation (sealctl revoke) and expiry
# (with the purge) hold; the audit log shows it all and its chain detects a changed record;
# the database and sealview's configuration alone open nothing; and with sealview down,
# sealmilter defers the message, which goes out once sealview is back.
#
# VIEWER_BACKEND=postgresql (test-viewer-pg.sh) runs the same on a real PostgreSQL, with
# two sealview nodes: the passcode is asked for on one and entered on the other.
# Screenshots stay in $BUILDDIR/tests/e2e/artifacts/viewer-BACKEND/.
set -euo pipefail
. "$(dirname "$0")/common.sh"
: "${SEALVIEW:?}" "${BUILDDIR:?}"
e2e_require /usr/sbin/postfix /usr/bin/python3 openssl node /usr/bin/chromium sqlite3
BACKEND=${VIEWER_BACKEND:-sqlite}
NODE_MODULES=$SRCDIR/tests/browser/node_modules
if [ ! -d "$NODE_MODULES/playwright-core" ]; then
	[ "${SEALMILTER_REQUIRE_E2E:-0}" = 1 ] && { echo "FAIL: playwright-core is not installed (scripts/install-deps.sh)" >&2; exit 1; }
	echo "SKIP: playwright-core is not installed"; exit 77
fi
DATA=$SRCDIR/tests/data/viewer
ART=$BUILDDIR/tests/e2e/artifacts/viewer-$BACKEND
rm -rf "$ART"
mkdir -p "$ART"

tb_init
tb_start_sink
# The policy: [secure] seals under do-not-forward (now with the save right), [short] under a
# template that expires in 3 seconds.
e2e_seal_config "$TB/sealmilter.yaml" "$(printf '  - name: short-lived\n    if: { direction: outbound, subject: { contains: ["[short]"] } }\n    then: { seal: short }\n  - name: shareable\n    if: { direction: outbound, subject: { contains: ["[share]"] } }\n    then: { seal: shareable }')"
sed -i 's/do-not-forward: { rights: \[view, reply, reply_all\], expires: 30d }/do-not-forward: { rights: [view, reply, reply_all, save], expires: 30d }\n  short: { rights: [view], expires: 3s }\n  shareable: { rights: [view, forward], expires: 30d }/' "$TB/sealmilter.yaml"
head -c 48 /dev/urandom > "$TB/viewer.secret"
chmod 600 "$TB/viewer.secret"
SV_PORT=$(tb_free_port)
cat >> "$TB/sealmilter.yaml" <<YAML
viewer:
  public_url: http://127.0.0.1:$SV_PORT
  api_url: http://127.0.0.1:$SV_PORT
  secret_file: $TB/viewer.secret
YAML
e2e_start_milter "$TB/sealmilter.yaml"
tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"

if [ "$BACKEND" = postgresql ]; then
	e2e_start_pg
	STORE=$PG_URL
	dbq() { "$PG_BIN/psql" -qtA "$PG_URL" -c "$1"; }
else
	STORE=sqlite:$TB/sealview.db
	dbq() { sqlite3 "$TB/sealview.db" "$1"; }
fi
# sealview reads the same file; its own section comes now that Postfix's port is known.
cat >> "$TB/sealmilter.yaml" <<YAML
sealview:
  listen: 127.0.0.1:$SV_PORT
  store: $STORE
  smtp: smtp://127.0.0.1:$PF_PORT
  passcode_from: no-reply@example.com
  threads: 4
  purge_interval: 10s
YAML
rc=0
"$SEALVIEW" -n -c "$TB/sealmilter.yaml" > "$TB/check.out" 2>&1 || rc=$?
t_rc "sealview -n accepts the configuration" 0 "$rc"
t_grep "and says which store" "OK \(store $BACKEND" "$TB/check.out" || true
e2e_start_sealview "$TB/sealmilter.yaml" A "$SV_PORT"
VERIFY_BASE=
if [ "$BACKEND" = postgresql ]; then
	# A second node on the same database, as behind a load balancer.
	SV2_PORT=$(tb_free_port)
	sed "s/^  listen: 127.0.0.1:$SV_PORT\$/  listen: 127.0.0.1:$SV2_PORT/" "$TB/sealmilter.yaml" > "$TB/node2.yaml"
	e2e_start_sealview "$TB/node2.yaml" B "$SV2_PORT"
	VERIFY_BASE=http://127.0.0.1:$SV2_PORT
fi
t_check "the health endpoint answers" curl -fsS "http://127.0.0.1:$SV_PORT/healthz" -o /dev/null

# link MSGFILE: the sealview link in a delivered message's notice.
link_of() {
	/usr/bin/python3 - "$1" <<'PY'
import email, re, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_content_type() == "text/plain":
        t = p.get_payload(decode=True).decode("utf-8", "replace")
        f = re.search(r"http://127\.0\.0\.1:\d+/m/[A-Za-z0-9_-]{43}", t)
        if f:
            print(f.group(0)); sys.exit(0)
sys.exit("no link in " + sys.argv[1])
PY
}
# browser MODE [VAR=VALUE...]: run the browser driver; its ok/FAIL lines count as checks.
browser() {
	local mode=$1 out=$TB/browser-$1.out line
	shift
	env NODE_PATH="$NODE_MODULES" SINK_DIR="$SINK_DIR" ARTIFACTS="$ART" ADDRESS=bob@partner.test \
		OTHER=eve@evil.example VERIFY_BASE="$VERIFY_BASE" "$@" node "$SRCDIR/tests/browser/viewer.js" "$mode" > "$out" 2>&1 || true
	while IFS= read -r line; do
		case $line in
		"ok - "*) t_ok "${line#ok - }" ;;
		"FAIL - "*) t_fail "${line#FAIL - }" ;;
		*) echo "  $line" ;;
		esac
	done < "$out"
	grep -qE '^(ok|FAIL) - ' "$out" || t_fail "browser $mode produced no result" "$(tail -n 20 "$out")"
}

# 1. A sealed message to an outside recipient carries a link, and sealview knows it.
cp "$DATA/contract.eml" "$TB/contract.eml"
e2e_send "$PF_PORT" "sealed with a link" alice@example.com bob@partner.test < "$TB/contract.eml"
t_rc "the sealed message was accepted" 0 "$SEND_RC"
tb_wait_files "$SINK_DIR" 1 60 >/dev/null || true
m=$(e2e_latest "$SINK_DIR")
t_grep "it is sealed" '^X-Sealmilter-Sealed: v=1; template=do-not-forward; id=' "$m"
t_nogrep "the text is not in the clear" 'Q4 contract terms are attached' "$m"
LINK=$(link_of "$m") || true
t_check "the notice carries the sealview link" test -n "$LINK"
SEAL_ID=$(sed -n 's/^X-Sealmilter-Sealed: .*id=\([0-9a-f-]*\).*/\1/p' "$m" | tr -d '\r')
TOKEN=${LINK##*/}
t_check "the registration is in the store" test "$(dbq "SELECT count(*) FROM messages WHERE seal_id = '$SEAL_ID'")" = 1
t_nogrep "the token is not in sealview's log" "$TOKEN" "$TB/sealview-A.log"
t_nogrep "the token is not in sealmilter's log" "$TOKEN" "$MILTER_LOG"
if [ "$BACKEND" = sqlite ]; then
	t_check "the token is not in the database" bash -c "! grep -qaF '$TOKEN' '$TB/sealview.db' '$TB/sealview.db-wal' 2>/dev/null"
fi

# 2. The whole flow in the browser: passcode by mail, the message, its attachment, a reply.
browser flow LINK="$LINK" EXPECT_TEXT="The Q4 contract terms are attached" EXPECT_ATTACHMENT=terms.pdf \
	ATTACHMENT_FILE="$DATA/terms.bin"
reply=
for _ in $(seq 100); do
	reply=$(grep -l 'reply from the viewer' "$SINK_DIR"/*.eml 2>/dev/null | head -n 1) && [ -n "$reply" ] && break
	sleep 0.2
done
t_check "the reply reached the sender through the MTA" test -n "$reply"
if [ -n "$reply" ]; then
	t_grep "the reply is to the original sender" '^to alice@example.com$' "${reply%.eml}.env"
	t_grep "from the organisation's address" '^From: "Reply through the protected-message viewer" <no-reply@example.com>' "$reply"
	t_grep "with the reader as Reply-To" '^Reply-To: bob@partner.test' "$reply"
	t_grep "with the original quoted" '^> Dear Bob,' "$reply"
	t_grep "in the thread" '^In-Reply-To: <viewer-1@example.com>' "$reply"
fi
t_grep "the passcode mail went through Postfix" 'from=<no-reply@example.com>' "$PF_DIR/maillog"

# 3. Five wrong passcodes lock it; an address that is not a recipient learns nothing.
browser lock LINK="$LINK" EXPECT_TEXT="The Q4 contract terms are attached"
browser nonrecipient LINK="$LINK"
sleep 1
t_check "no passcode mail went to the address that is not a recipient" \
	bash -c "! grep -lq '^to eve@evil.example' '$SINK_DIR'/*.env"

# 4. Hostile HTML: no script, no dialog, no request but to sealview.
cp "$DATA/hostile.eml" "$TB/hostile.eml"
n=$(e2e_count "$SINK_DIR")
e2e_send "$PF_PORT" "hostile" alice@example.com bob@partner.test < "$TB/hostile.eml"
tb_wait_files "$SINK_DIR" $((n + 1)) 60 >/dev/null || true
HLINK=$(link_of "$(grep -l '^Message-ID: <viewer-hostile@example.com>' "$SINK_DIR"/*.eml | tail -n 1)") || true
# On one node, with the page's CSP in force (the two-node run lifts it to post across nodes).
browser hostile LINK="$HLINK" EXPECT_TEXT="Hostile but harmless" VERIFY_BASE=
hb=$(curl -s -o /dev/null -w '%{http_code}' "${HLINK}/body")
t_rc "the HTML body needs a session" 303 "$hb"

# 4b. The forward right: the reader shares it; the new reader gets the link and a passcode.
n=$(e2e_count "$SINK_DIR")
sed 's/\[secure\] Q4 contract terms/[share] Shareable terms/; s/viewer-1@/viewer-share@/' "$TB/contract.eml" > "$TB/share.eml"
e2e_send "$PF_PORT" "shareable" alice@example.com bob@partner.test < "$TB/share.eml"
tb_wait_files "$SINK_DIR" $((n + 1)) 60 >/dev/null || true
FLINK=$(link_of "$(grep -l 'template=shareable' "$SINK_DIR"/*.eml | tail -n 1)") || true
browser forward LINK="$FLINK" EXPECT_TEXT="The Q4 contract terms are attached" FORWARD_TO=frank@other.test VERIFY_BASE=
FSEAL=$(grep -h '^X-Sealmilter-Sealed: .*template=shareable' "$SINK_DIR"/*.eml | sed -n 's/.*id=\([0-9a-f-]*\).*/\1/p' | tr -d '\r')
"$SEALCTL" -c "$TB/sealmilter.yaml" audit "$FSEAL" > "$TB/faudit.txt" 2>&1 || true
t_grep "the audit shows the forward and who it went to" '^[0-9T:Z-]+ +forward .* bob@partner.test .* ok +frank@other.test' "$TB/faudit.txt"
t_grep "and the new reader's sign-in" '^[0-9T:Z-]+ +passcode_ok .* frank@other.test' "$TB/faudit.txt"

# 5. The audit log.
rc=0
"$SEALCTL" -c "$TB/sealmilter.yaml" audit "$SEAL_ID" > "$TB/audit.txt" 2>&1 || rc=$?
t_rc "sealctl audit SEAL-ID" 0 "$rc"
for ev in register passcode_request passcode_mail passcode_ok passcode_fail view download reply reply_mail; do
	t_grep "the audit shows $ev" "^[0-9T:Z-]+ +$ev " "$TB/audit.txt"
done
t_grep "with the client's address" '127\.0\.0\.1' "$TB/audit.txt"
t_grep "and the lock" 'passcode_fail.* locked' "$TB/audit.txt"
"$SEALCTL" -c "$TB/sealmilter.yaml" audit "$SEAL_ID" --json > "$TB/audit.json" 2>&1 || true
t_check "--json exports one JSON object per record" /usr/bin/python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert recs and all(r["seal_id"] == sys.argv[2] for r in recs), recs[:2]
assert any(r["event"] == "view" and r["user_agent"] for r in recs)' "$TB/audit.json" "$SEAL_ID"
t_nogrep "no passcode or token in the audit" "$TOKEN" "$TB/audit.json"

# 6. The database and sealview's configuration alone open nothing.
/usr/bin/python3 - "$TB" "$BACKEND" "${PG_URL:-}" "${PG_BIN:-}" <<'PY' > "$TB/dbonly.out" 2>&1 || true
import subprocess, sys, os, sqlite3
tb, backend, pg, pgbin = sys.argv[1:5]
if backend == "sqlite":
    rows = sqlite3.connect(tb + "/sealview.db").execute("SELECT lookup, object FROM messages WHERE object IS NOT NULL").fetchall()
else:
    out = subprocess.run([pgbin + "/psql", "-qtA", pg, "-c",
        "SELECT lookup, encode(object, 'hex') FROM messages WHERE object IS NOT NULL"], capture_output=True, text=True).stdout
    rows = [(l.split("|")[0], bytes.fromhex(l.split("|")[1])) for l in out.split("\n") if "|" in l]
secret = open(tb + "/viewer.secret", "rb").read()
def hkdf(ikm, info, salt=None, hexsalt=None):
    r = subprocess.run(["openssl", "kdf", "-keylen", "32", "-kdfopt", "digest:SHA256", "-kdfopt", "hexkey:" + ikm.hex(),
        "-kdfopt", ("hexsalt:" + hexsalt) if hexsalt else ("salt:" + (salt or "sealmilter-viewer")), "-kdfopt",
        "info:" + info, "HKDF"], capture_output=True, text=True)
    return r.stdout.strip().replace(":", "").lower()
pepper = hkdf(secret, "kek pepper v1")
opened = 0
for lookup, obj in rows:
    open(tb + "/obj.der", "wb").write(obj)
    subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", tb + "/obj.der", "-noverify", "-out", tb + "/inner.der"],
        capture_output=True)
    for ikm in (bytes.fromhex(lookup), secret, lookup.encode()):
        for info in ("kek v1", "lookup v1", "api v1"):
            for hs in (None, pepper):
                r = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-in", tb + "/inner.der", "-secretkey",
                    hkdf(ikm, info, hexsalt=hs), "-secretkeyid", b"sealmilter-viewer-v1".hex()], capture_output=True)
                opened += r.returncode == 0
print("objects", len(rows), "opened", opened)
PY
t_grep "the stored objects were tried" '^objects [1-9]' "$TB/dbonly.out"
t_grep "with every key the database and the configuration could give, none opens" ' opened 0$' "$TB/dbonly.out"
# The positive control: the token from the link does open it (so the attempt above was real).
/usr/bin/python3 - "$TOKEN" > "$TB/token.hex" <<'PY'
import base64, sys
print(base64.urlsafe_b64decode(sys.argv[1] + "=").hex())
PY
hkdf() {   # IKM-HEX SALT-OPTION INFO: HKDF-SHA-256 with stock openssl, as lower-case hex
	openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:"$1" -kdfopt "$2" -kdfopt info:"$3" HKDF |
		tr -d ':' | tr 'A-F' 'a-f'
}
pepper=$(hkdf "$(od -An -tx1 "$TB/viewer.secret" | tr -d ' \n')" salt:sealmilter-viewer "kek pepper v1")
kek=$(hkdf "$(cat "$TB/token.hex")" hexsalt:"$pepper" "kek v1")
e2e_stock_open_kek() {
	/usr/bin/python3 - "$m" "$TB/att.der" <<'PY'
import email, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_filename() == "message.sealed":
        open(sys.argv[2], "wb").write(p.get_payload(decode=True))
PY
	openssl cms -verify -inform DER -in "$TB/att.der" -CAfile "$TB/keys/issuer.pem" -out "$TB/att.inner" 2>/dev/null &&
	openssl cms -decrypt -inform DER -in "$TB/att.inner" -secretkey "$kek" \
		-secretkeyid "$(printf sealmilter-viewer-v1 | od -An -tx1 | tr -d ' \n')" -out "$TB/att.plain" &&
	cmp -s "$TB/att.plain" "$TB/contract.eml"
}
t_check "stock openssl opens the attachment with the link's token and the viewer secret" e2e_stock_open_kek
# The delivered mail alone (its token, without the secret) opens nothing.
kek=$(hkdf "$(cat "$TB/token.hex")" salt:sealmilter-viewer "kek v1")
mail_alone_fails() { ! e2e_stock_open_kek 2>/dev/null; }
t_check "the delivered mail alone (token and object, no secret) does not open" mail_alone_fails

# 7. Revocation: through sealview's admin API; the page says so, the object is gone.
rc=0
"$SEALCTL" -c "$TB/sealmilter.yaml" revoke "$SEAL_ID" > "$TB/revoke.out" 2>&1 || rc=$?
t_rc "sealctl revoke SEAL-ID" 0 "$rc"
t_grep "it answers" '"revoked":"now"' "$TB/revoke.out"
rc=0
"$SEALCTL" -c "$TB/sealmilter.yaml" revoke '<viewer-1@example.com>' > "$TB/revoke2.out" 2>&1 || rc=$?
t_rc "revoking again, by Message-ID" 0 "$rc"
t_grep "says it was revoked already" '"revoked":"already"' "$TB/revoke2.out"
rc=0
"$SEALCTL" -c "$TB/sealmilter.yaml" revoke no-such-id > /dev/null 2>&1 || rc=$?
t_rc "revoking an unknown id exits 2" 2 "$rc"
t_check "the stored object is deleted" test -z "$(dbq "SELECT 1 FROM messages WHERE seal_id = '$SEAL_ID' AND object IS NOT NULL")"
browser revoked LINK="$LINK" EXPECT_TEXT="revoked"

# 8. Expiry: a template that expires in 3 s; the purge deletes the object.
n=$(e2e_count "$SINK_DIR")
sed 's/\[secure\] Q4 contract terms/[short] Short-lived/; s/viewer-1@/viewer-short@/' "$TB/contract.eml" > "$TB/short.eml"
e2e_send "$PF_PORT" "short-lived" alice@example.com bob@partner.test < "$TB/short.eml"
tb_wait_files "$SINK_DIR" $((n + 1)) 60 >/dev/null || true
SLINK=$(link_of "$(grep -l 'template=short' "$SINK_DIR"/*.eml | tail -n 1)") || true
SHORT_ID=$(grep -h '^X-Sealmilter-Sealed: .*template=short' "$SINK_DIR"/*.eml | sed -n 's/.*id=\([0-9a-f-]*\).*/\1/p' | tr -d '\r')
sleep 4
browser expired LINK="$SLINK" EXPECT_TEXT="expired"
for _ in $(seq 60); do
	[ -z "$(dbq "SELECT 1 FROM messages WHERE seal_id = '$SHORT_ID' AND object IS NOT NULL")" ] && break
	sleep 0.5
done
t_check "the purge deleted the expired object" test -z "$(dbq "SELECT 1 FROM messages WHERE seal_id = '$SHORT_ID' AND object IS NOT NULL")"

# 9. sealview down: sealmilter defers; once sealview is back, the queued message goes out.
e2e_stop_sealview A
n=$(e2e_count "$SINK_DIR")
sed 's/viewer-1@/viewer-2@/' "$TB/contract.eml" > "$TB/later.eml"
e2e_send "$PF_PORT" "sealview down, by SMTP" alice@example.com bob@partner.test < "$TB/later.eml"
t_rc "by SMTP: deferred (4xx), so the client retries" 4 "$SEND_RC"
tb_postfix_sendmail alice@example.com bob@partner.test < "$TB/later.eml"
for _ in $(seq 50); do grep -q 'cannot register it with sealview' "$MILTER_LOG" && break; sleep 0.2; done
t_grep "the log says why" 'cannot register it with sealview' "$MILTER_LOG"
sleep 2
t_check "nothing went out without a live link" test "$(e2e_count "$SINK_DIR")" -eq "$n"
t_check "the message waits in Postfix's queue" test "$(tb_postfix_queue_count)" -ge 1
e2e_start_sealview "$TB/sealmilter.yaml" A "$SV_PORT"
tb_postfix_flush
tb_wait_files "$SINK_DIR" $((n + 1)) 90 >/dev/null || true
t_check "once sealview is back it is delivered" test "$(e2e_count "$SINK_DIR")" -ge $((n + 1))
LLINK=$(link_of "$(e2e_latest "$SINK_DIR")") || true
t_check "with a link that works" test "$(curl -s -o /dev/null -w '%{http_code}' "$LLINK")" = 200

# 10. The audit chain detects a changed record.
rc=0
"$SEALCTL" -c "$TB/sealmilter.yaml" audit --verify > "$TB/verify.out" 2>&1 || rc=$?
t_rc "sealctl audit --verify: intact" 0 "$rc"
t_grep "it says so, with the record count and the head" '^audit chain +intact$' "$TB/verify.out"
t_grep "and the head to keep elsewhere" '^head +[0-9a-f]{64} ' "$TB/verify.out"
# On a terminal, a progress line on stderr while sealview works; in a file, none.
script -qec "'$SEALCTL' -c '$TB/sealmilter.yaml' audit --verify" /dev/null > "$TB/verify.tty" 2>&1 || true
t_grep "on a terminal: a progress line, then erased" $'audit --verify: [0-9]+ s\x1b\[K' "$TB/verify.tty"
t_nogrep "in a file: no progress line" 'audit --verify:' "$TB/verify.out"
dbq "UPDATE audit SET address = 'mallory@evil.example' WHERE seq = 3" > /dev/null
rc=0
"$SEALCTL" -c "$TB/sealmilter.yaml" audit --verify > "$TB/verify2.out" 2>&1 || rc=$?
t_rc "after a record was changed in the database: broken (exit 4)" 4 "$rc"
t_grep "and it names the record" '^first bad +3$' "$TB/verify2.out"
"$SEALCTL" -c "$TB/sealmilter.yaml" audit --verify --json > "$TB/verify3.out" 2>&1 || true
t_grep "--json gives sealview's answer as it is" '"intact":false,"records":[0-9]+,"first_bad":3' "$TB/verify3.out"

e2e_stop_sealview A
[ "$BACKEND" = postgresql ] && e2e_stop_sealview B
e2e_stop_milter
e2e_sanitizer_clean
t_done
