#!/usr/bin/env bash
# test-seal-sendmail.sh - sealing behind a real Sendmail (the same test bed as
# test-sendmail.sh): a rule seals an outbound message; the delivered attachment verifies and
# decrypts with stock `openssl cms`, and sealctl open gives the same message; the sealed
# body is what the milter received, which ends with the exact bytes the client sent.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/bin/python3 m4 apt-get openssl
MSG=$SRCDIR/tests/data/msg

tb_init
tb_start_sink
e2e_seal_config "$TB/sealmilter.yaml"
e2e_start_milter "$TB/sealmilter.yaml"
tb_start_sendmail "$MILTER_PORT"

sed 's/$/\r/' "$MSG/secure.eml" > "$TB/sent.eml"
e2e_send "$SM_PORT" "secure" alice@example.com bob@partner.test < "$TB/sent.eml"
t_rc "sealed message accepted" 0 "$SEND_RC"
tb_wait_files "$SINK_DIR" 1 60 >/dev/null || true
m=$(e2e_latest "$SINK_DIR")
t_grep "delivered sealed" '^X-Sealmilter-Sealed: v=1; template=do-not-forward; id=' "$m"
t_nogrep "the text is not in the clear" 'Please find the contract terms' "$m"
t_grep "the log has Sendmail's queue id" 'info: [0-9A-Za-z]+: direction=outbound .*actions=.*replace:body' "$MILTER_LOG"
e2e_stock_open "sealed" "$m" "$TB/keys/t2026.key" "$TB/keys/t2026.pem" "$TB/plain.eml"
"$SEALCTL" -c "$TB/sealmilter.yaml" open "$m" > "$TB/opened.eml" 2>/dev/null || true
t_check "sealctl open gives the same bytes" bash -c "test -s '$TB/opened.eml' && cmp -s '$TB/opened.eml' '$TB/plain.eml'"
# Sendmail may prepend its own trace fields before the milter sees the message; the rest
# must be exactly what the client sent.
t_check "the sealed message ends with the exact bytes sent" \
	cmp -s <(tail -c "$(stat -c %s "$TB/sent.eml")" "$TB/plain.eml") "$TB/sent.eml"
t_nogrep "no subject trigger left in the delivered message" '^Subject:.*\[secure\]' "$m"

e2e_stop_milter
e2e_sanitizer_clean
t_done
