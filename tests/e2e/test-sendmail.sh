#!/usr/bin/env bash
# test-sendmail.sh - sealmilter behind a real Sendmail (Debian's sendmail-bin, unpacked,
# not installed) on loopback with INPUT_MAIL_FILTER(..., F=T), relaying to a sink.
# Covers: a tag rule with subject stripping, a reject rule (5xx to the client), an
# unmatched message delivered with its body unchanged, and sealmilter down (4xx).
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/bin/python3 m4 apt-get
MSG=$SRCDIR/tests/data/msg

tb_init
tb_start_sink
e2e_config "$TB/sealmilter.yaml"
e2e_start_milter "$TB/sealmilter.yaml"
tb_start_sendmail "$MILTER_PORT"

send() { e2e_send "$SM_PORT" "$@"; }
crlf() { sed 's/$/\r/' "$1"; }

send "secure" alice@example.com bob@partner.test < <(crlf "$MSG/secure.eml")
t_rc "secure: accepted" 0 "$SEND_RC"
if tb_wait_files "$SINK_DIR" 1 60 >/dev/null 2>&1; then t_ok "secure: delivered"; else t_fail "secure: delivered"; fi
m=$(e2e_latest "$SINK_DIR")
t_grep "secure: subject trigger stripped" '^Subject: Q3 contract' "$m"
t_grep "secure: tag header added" '^X-Sealmilter-Rule: secure-subject' "$m"
t_grep "secure: marker added" '^X-Sealmilter-Marker: v=1; t=[0-9]+; m=' "$m"
t_grep "secure: logged with Sendmail's queue id" 'info: [0-9A-Za-z]+: direction=outbound from=<alice@example.com> rcpts=1 rules=secure-subject' "$MILTER_LOG"

send "exe" mallory@evil.test bob@example.com < <(crlf "$MSG/exe.eml")
t_rc "exe: rejected (5xx)" 5 "$SEND_RC"
case "$REPLY" in *"5.7.1 Executable attachments are not accepted"*) t_ok "exe: the client sees the rule's text" ;;
	*) t_fail "exe: the client sees the rule's text" "got: $REPLY" ;; esac

send "plain" alice@example.com bob@partner.test < <(crlf "$MSG/plain.eml")
if tb_wait_files "$SINK_DIR" 2 60 >/dev/null 2>&1; then t_ok "plain: delivered"; else t_fail "plain: delivered"; fi
m=$(e2e_latest "$SINK_DIR")
t_nogrep "plain: no sealmilter header" '^X-Sealmilter' "$m"
t_check "plain: body unchanged" bash -c "tail -n 1 '$m' | tr -d '\r' | grep -qx 'Lunch at noon?'"
t_check "exe: nothing else delivered" test "$(e2e_count "$SINK_DIR")" -eq 2

e2e_stop_milter
send "milter down" alice@example.com bob@partner.test < <(crlf "$MSG/secure.eml")
t_rc "milter down: the client gets 4xx (F=T)" 4 "$SEND_RC"
e2e_sanitizer_clean
t_done
