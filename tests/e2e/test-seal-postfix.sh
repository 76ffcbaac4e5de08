#!/usr/bin/env bash
# test-seal-postfix.sh - sealing through a real Postfix: a rule seals an outbound
# message; the delivered attachment verifies and decrypts with stock `openssl cms` (and
# sealctl open) to the message exactly as the milter received it; an internal message
# is not sealed; a sealed message submitted again is not sealed twice; transport
# decryption turns a sealed message arriving from outside back into its original; and a
# key rollover (sealctl keys rotate, then SIGHUP) seals new mail with the new key while the
# message sealed before it still opens.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/sbin/postfix /usr/bin/python3 openssl
MSG=$SRCDIR/tests/data/msg

tb_init
tb_start_sink
e2e_seal_config "$TB/sealmilter.yaml" "$(printf '  - name: decrypt-inbound\n    if: { direction: inbound }\n    then: { decrypt: true }')"
e2e_start_milter "$TB/sealmilter.yaml"
tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"

sed 's/$/\r/' "$MSG/secure.eml" > "$TB/sent.eml"
e2e_send "$PF_PORT" "secure" alice@example.com bob@partner.test < "$TB/sent.eml"
t_rc "sealed message accepted" 0 "$SEND_RC"
tb_wait_files "$SINK_DIR" 1 60 >/dev/null || true
m=$(e2e_latest "$SINK_DIR")
t_grep "delivered sealed" '^X-Sealmilter-Sealed: v=1; template=do-not-forward; id=' "$m"
t_nogrep "the text is not in the clear" 'Please find the contract terms' "$m"
t_grep "the log says so" 'actions=.*replace:body.* verdict=accept' "$MILTER_LOG"
e2e_stock_open "sealed" "$m" "$TB/keys/t2026.key" "$TB/keys/t2026.pem" "$TB/plain.eml"
t_check "to the message exactly as the milter received it" cmp -s "$TB/plain.eml" "$TB/sent.eml"
"$SEALCTL" -c "$TB/sealmilter.yaml" open "$m" > "$TB/opened.eml" 2>/dev/null
t_check "sealctl open restores the same bytes" cmp -s "$TB/opened.eml" "$TB/sent.eml"

# Internal mail matches no seal rule (recipients: not_in organization).
sed 's/bob@partner.test/carol@example.com/; s/secure-1@/secure-2@/; s/$/\r/' "$MSG/secure.eml" > "$TB/internal.eml"
e2e_send "$PF_PORT" "internal" alice@example.com carol@example.com < "$TB/internal.eml"
tb_wait_files "$SINK_DIR" 2 60 >/dev/null || true
t_nogrep "internal mail is not sealed" '^X-Sealmilter-Sealed' "$(e2e_latest "$SINK_DIR")"

# The delivered sealed message, submitted again with the trigger back in its subject: not sealed twice.
sed 's/^Subject: Q3 contract/Subject: [secure] Q3 contract/' "$m" > "$TB/again.eml"
e2e_send "$PF_PORT" "again" alice@example.com dave@partner.test < "$TB/again.eml"
tb_wait_files "$SINK_DIR" 3 60 >/dev/null || true
again=$(e2e_latest "$SINK_DIR")
t_check "a sealed message is not sealed twice (one seal header, one attachment)" \
	test "$(grep -c '^X-Sealmilter-Sealed' "$again")" -eq 1 -a "$(grep -c 'filename="message.sealed"' "$again")" -eq 1
t_grep "and the log says why" 'note="already sealed: not sealed again"' "$MILTER_LOG"
# Transport decryption: the sealed message arrives from outside (a partner's sender,
# so inbound) for the recipient its policy allows: the original is delivered.
e2e_send "$PF_PORT" "inbound sealed" carol@partner.test bob@partner.test < "$m"
t_rc "inbound sealed message accepted" 0 "$SEND_RC"
tb_wait_files "$SINK_DIR" 4 60 >/dev/null || true
dec=$(e2e_latest "$SINK_DIR")
t_grep "decrypted: a header names the policy" '^X-Sealmilter-Decrypted: v=1; template=do-not-forward; id=' "$dec"
t_grep "decrypted: the original text is back" $'^Please find the contract terms below.\r$' "$dec"
t_nogrep "decrypted: no attachment left" 'message.sealed' "$dec"

# Rollover: rotate the tenant key, put the new list in the live configuration, reload.
mkdir -p "$TB/rot"
rc=0
"$SEALCTL" -c "$TB/sealmilter.yaml" keys rotate --out "$TB/rot" > "$TB/rot.yaml" 2>/dev/null || rc=$?
t_rc "rollover: keys rotate" 0 "$rc"
/usr/bin/python3 - "$TB/sealmilter.yaml" "$TB/rot.yaml" <<'PY'
import re, sys
cfg, rot = open(sys.argv[1]).read(), open(sys.argv[2]).read()
new = re.sub(r"  tenant: \[[^\n]*\]\n", lambda _: rot[rot.index("  tenant:"):], cfg)
assert new != cfg, "no tenant list to replace"
open(sys.argv[1], "w").write(new)
PY
reloads=$(grep -c 'reloaded:' "$MILTER_LOG" || true)
kill -HUP "$MILTER_PID"
for _ in $(seq 50); do [ "$(grep -c 'reloaded:' "$MILTER_LOG" || true)" -gt "$reloads" ] && break; sleep 0.1; done
t_grep "rollover: the milter reloaded" 'reloaded:' "$MILTER_LOG"
sed 's/secure-1@/secure-3@/; s/$/\r/' "$MSG/secure.eml" > "$TB/sent3.eml"
e2e_send "$PF_PORT" "after rollover" alice@example.com bob@partner.test < "$TB/sent3.eml"
tb_wait_files "$SINK_DIR" 5 60 >/dev/null || true
m3=$(e2e_latest "$SINK_DIR")
t_grep "rollover: new mail is sealed" '^X-Sealmilter-Sealed: v=1' "$m3"
newkey=$(ls "$TB"/rot/t*.key | head -n 1)
e2e_stock_open "rollover, new mail with the new key" "$m3" "$newkey" "${newkey%.key}.pem" "$TB/plain3.eml"
t_check "rollover: to the exact bytes sent" cmp -s "$TB/plain3.eml" "$TB/sent3.eml"
"$SEALCTL" -c "$TB/sealmilter.yaml" open "$m" > "$TB/opened1.eml" 2>/dev/null
t_check "rollover: mail sealed before it still opens" cmp -s "$TB/opened1.eml" "$TB/sent.eml"
"$SEALCTL" -c "$TB/sealmilter.yaml" open "$m3" > "$TB/opened3.eml" 2>/dev/null
t_check "rollover: mail sealed after it opens" cmp -s "$TB/opened3.eml" "$TB/sent3.eml"

e2e_stop_milter
e2e_sanitizer_clean
t_done
