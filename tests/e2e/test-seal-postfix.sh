#!/usr/bin/env bash
# test-seal-postfix.sh - sealing through a real Postfix: a rule seals an outbound
# message; the delivered attachment verifies and decrypts with stock `openssl cms` (and
# sealctl open) to the message exactly as the milter received it; an internal message
# is not sealed; a sealed message submitted again is not sealed twice; and transport
# decryption turns a sealed message arriving from outside back into its original.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/sbin/postfix /usr/bin/python3 openssl
MSG=$SRCDIR/tests/data/msg

tb_init
tb_start_sink
mkdir -p "$TB/keys"
"$SEALCTL" keys generate tenant --name t2026 --out "$TB/keys" >/dev/null
"$SEALCTL" keys generate issuer --out "$TB/keys" >/dev/null
e2e_config "$TB/sealmilter.yaml" "$(printf '  - name: decrypt-inbound\n    if: { direction: inbound }\n    then: { decrypt: true }')"
# Seal instead of tag, with keys and a template.
/usr/bin/python3 - "$TB/sealmilter.yaml" "$TB/keys" <<'PY'
import sys
p, k = sys.argv[1], sys.argv[2]
s = open(p).read()
s = s.replace("      tag: { header: X-Sealmilter-Rule, value: secure-subject }",
              "      seal: do-not-forward")
s += ("keys:\n  tenant: [ { id: t2026, cert: %s/t2026.pem, key: %s/t2026.key } ]\n"
      "  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\n"
      "templates:\n  do-not-forward: { rights: [view, reply, reply_all], expires: 30d }\n" % (k, k, k, k))
open(p, "w").write(s)
PY
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
/usr/bin/python3 - "$m" "$TB/att.der" <<'PY'
import email, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_filename() == "message.sealed":
        open(sys.argv[2], "wb").write(p.get_payload(decode=True))
PY
t_check "stock openssl verifies the policy signature" \
	openssl cms -verify -inform DER -in "$TB/att.der" -CAfile "$TB/keys/issuer.pem" -out "$TB/inner.der"
t_check "and decrypts with the tenant key" \
	openssl cms -decrypt -inform DER -in "$TB/inner.der" -inkey "$TB/keys/t2026.key" -recip "$TB/keys/t2026.pem" -out "$TB/plain.eml"
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

e2e_stop_milter
e2e_sanitizer_clean
t_done
