#!/usr/bin/env bash
# test-split.sh - mixed recipients through a real MTA (SPLIT_MTA=postfix, the default, or
# sendmail: test-split-sendmail.sh): a rule seals for external recipients only, so a message
# to one partner and two colleagues is split before it is accepted. The original stays,
# sealed, with the partner; the colleagues' plain copy goes back to the MTA (milter.submit_url)
# and passes sealmilter unchanged (its marker). The sink's envelopes prove who got what. A Bcc recipient gets
# a sealed copy of its own, and no copy names it. With the submission address down the client
# gets 4xx, and once it is back every recipient gets the right copy exactly once.
set -euo pipefail
. "$(dirname "$0")/common.sh"
MTA=${SPLIT_MTA:-postfix}
if [ "$MTA" = postfix ]; then
	e2e_require /usr/sbin/postfix /usr/bin/python3 openssl
else
	e2e_require /usr/bin/python3 m4 apt-get openssl
fi

tb_init
tb_start_sink
MILTER_PORT=$(tb_free_port)
# The MTA first (it needs the milter's port), then the configuration (it needs the MTA's).
if [ "$MTA" = postfix ]; then
	tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"
	MTA_PORT=$PF_PORT
else
	tb_start_sendmail "$MILTER_PORT"
	MTA_PORT=$SM_PORT
fi
e2e_seal_config "$TB/sealmilter.yaml" "$(printf '  - name: seal-for-partners\n    if: { direction: outbound, subject: { contains: ["[partner]"], strip: true } }\n    then: { seal: do-not-forward, for: external }')"
sed -i "s#^milter:#milter:\n  submit_url: smtp://127.0.0.1:$MTA_PORT#" "$TB/sealmilter.yaml"
e2e_start_milter "$TB/sealmilter.yaml"

# env_of EML: the envelope recipients the sink recorded for it, sorted, space-separated.
env_of() { sed -n 's/^to //p' "${1%.eml}.env" | sort | tr '\n' ' ' | sed 's/ $//'; }
# policy_rcpts EML: the recipients in the sealed policy (sealctl open prints it).
policy_rcpts() { "$SEALCTL" -c "$TB/sealmilter.yaml" open "$1" 2>&1 >/dev/null | sed -n 's/^recipients: *//p'; }
# wait_for N: until the sink has N messages (and a moment more, to see that no more come).
wait_for() { tb_wait_files "$SINK_DIR" "$1" 90 >/dev/null || true; sleep 2; }

msg() {   # msg ID TO CC: a message from alice
	printf 'From: Alice <alice@example.com>\r\nTo: %s\r\n' "$2"
	[ -z "$3" ] || printf 'Cc: %s\r\n' "$3"
	printf 'Subject: [partner] Q4 figures\r\nMessage-ID: <%s@example.com>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n\r\nRevenue: 4,2 M EUR.\r\n' "$1"
}

# 1. One partner, two colleagues.
msg split-1 "bob@partner.test, carol@example.com" "dave@example.com" > "$TB/m1.eml"
e2e_send "$MTA_PORT" "mixed" alice@example.com bob@partner.test carol@example.com dave@example.com < "$TB/m1.eml"
t_rc "the mixed message is accepted" 0 "$SEND_RC"
wait_for 2
t_check "two deliveries: the sealed copy and the original" test "$(e2e_count "$SINK_DIR")" -eq 2
sealed=$(grep -l '^X-Sealmilter-Sealed:' "$SINK_DIR"/*.eml | head -n 1 || true)
plain=$(grep -L '^X-Sealmilter-Sealed:' "$SINK_DIR"/*.eml | head -n 1 || true)
t_check "the partner's copy is sealed" test -n "$sealed"
[ -n "$sealed" ] && t_check "and goes to the partner alone (envelope)" test "$(env_of "$sealed")" = "bob@partner.test"
[ -n "$sealed" ] && t_nogrep "with no text in the clear" 'Revenue: 4,2 M EUR' "$sealed"
[ -n "$sealed" ] && t_check "its policy names the partner alone" test "$(policy_rcpts "$sealed")" = "bob@partner.test"
t_check "the colleagues get the original" test -n "$plain"
[ -n "$plain" ] && t_check "both of them, and no one else (envelope)" test "$(env_of "$plain")" = "carol@example.com dave@example.com"
[ -n "$plain" ] && t_grep "in the clear" '^Revenue: 4,2 M EUR' "$plain"
t_grep "the log names the copy (the colleagues' plain one), its queue id and its recipients" \
	'actions=.*delrcpt:<carol@example.com>,delrcpt:<dave@example.com>,.* copy1=[0-9A-Za-z]+:<carol@example.com>,<dave@example.com> verdict=accept' \
	"$MILTER_LOG"
t_grep "the copy passed sealmilter unchanged (its marker)" 'already processed \(valid marker\)' "$MILTER_LOG"

# 1b. Addresses in mixed case, as some clients send them: the MTA matches a deleted recipient
# exactly, so a normalised address would leave it in the original transaction too.
n=$(e2e_count "$SINK_DIR")
msg split-case "Bob <Bob@Partner.TEST>, Carol@Example.COM" "" > "$TB/mcase.eml"
e2e_send "$MTA_PORT" "mixed case" alice@example.com Bob@Partner.TEST Carol@Example.COM < "$TB/mcase.eml"
wait_for $((n + 2))
t_check "mixed case: two deliveries" test "$(e2e_count "$SINK_DIR")" -eq $((n + 2))
# (The two arrive in either order: each loop ends true, or set -e would stop the test when the
# last file is not of the loop's kind.)
plain_to=$(for f in $(ls "$SINK_DIR"/*.eml | sort | tail -n 2); do grep -q '^X-Sealmilter-Sealed:' "$f" || env_of "$f"; done; true)
sealed_to=$(for f in $(ls "$SINK_DIR"/*.eml | sort | tail -n 2); do grep -q '^X-Sealmilter-Sealed:' "$f" && env_of "$f"; done; true)
t_check "mixed case: the partner alone keeps the sealed original (got: $sealed_to)" \
	bash -c "echo '$sealed_to' | grep -qix 'bob@partner.test'"
t_check "mixed case: the colleague gets the plain copy, once (got: $plain_to)" \
	bash -c "echo '$plain_to' | grep -qix 'carol@example.com'"

# 2. A Bcc partner: a copy of its own; no delivered message names it but its own.
n=$(e2e_count "$SINK_DIR")
msg split-2 "erin@partner.test, carol@example.com" "" > "$TB/m2.eml"
e2e_send "$MTA_PORT" "with a Bcc" alice@example.com erin@partner.test carol@example.com bob@partner.test < "$TB/m2.eml"
t_rc "the message with a Bcc partner is accepted" 0 "$SEND_RC"
wait_for $((n + 3))
t_check "three deliveries: erin's, bob's (Bcc) and the colleagues'" test "$(e2e_count "$SINK_DIR")" -eq $((n + 3))
bcc_ok=1
for f in $(ls "$SINK_DIR"/*.eml | sort | tail -n 3); do
	to=$(env_of "$f")
	if grep -q '^X-Sealmilter-Sealed:' "$f"; then
		p=$(policy_rcpts "$f")
		[ "$p" = "$to" ] || { bcc_ok=0; echo "  $f: envelope $to, policy $p"; }
	fi
	if [ "$to" != "bob@partner.test" ] && { grep -qi 'bob@partner.test' "$f" || [ "$(policy_rcpts "$f" 2>/dev/null)" = bob@partner.test ]; }; then
		bcc_ok=0
		echo "  $f (to $to) names the Bcc"
	fi
	echo "  $(basename "$f"): to $to $(grep -q '^X-Sealmilter-Sealed:' "$f" && echo sealed || echo original)"
done
t_check "each sealed copy's policy names exactly its own recipients, and no copy names the Bcc" test "$bcc_ok" = 1
t_check "the Bcc partner got a sealed copy" bash -c "for f in \$(ls '$SINK_DIR'/*.eml | sort | tail -n 3); do
	grep -qx 'to bob@partner.test' \"\${f%.eml}.env\" && grep -q '^X-Sealmilter-Sealed:' \"\$f\" && exit 0; done; exit 1"

# 3. The submission address is down: 4xx, nothing delivered; back up: each gets one copy.
n=$(e2e_count "$SINK_DIR")
DEAD=$(tb_free_port)
sed -i "s#submit_url: smtp://127.0.0.1:$MTA_PORT#submit_url: smtp://127.0.0.1:$DEAD#" "$TB/sealmilter.yaml"
reloads=$(grep -c 'reloaded:' "$MILTER_LOG" || true)
kill -HUP "$MILTER_PID"
for _ in $(seq 50); do [ "$(grep -c 'reloaded:' "$MILTER_LOG" || true)" -gt "$reloads" ] && break; sleep 0.1; done
msg split-3 "bob@partner.test, carol@example.com" "" > "$TB/m3.eml"
e2e_send "$MTA_PORT" "submission down" alice@example.com bob@partner.test carol@example.com < "$TB/m3.eml"
t_rc "with the submission address down the client gets 4xx" 4 "$SEND_RC"
t_grep "and the log says why" 'cannot hand the sealed copy for 1 recipient to milter.submit_url' "$MILTER_LOG"
sleep 2
t_check "nothing was delivered" test "$(e2e_count "$SINK_DIR")" -eq "$n"
sed -i "s#submit_url: smtp://127.0.0.1:$DEAD#submit_url: smtp://127.0.0.1:$MTA_PORT#" "$TB/sealmilter.yaml"
reloads=$(grep -c 'reloaded:' "$MILTER_LOG" || true)
kill -HUP "$MILTER_PID"
for _ in $(seq 50); do [ "$(grep -c 'reloaded:' "$MILTER_LOG" || true)" -gt "$reloads" ] && break; sleep 0.1; done
e2e_send "$MTA_PORT" "the client retries" alice@example.com bob@partner.test carol@example.com < "$TB/m3.eml"
t_rc "the retry is accepted" 0 "$SEND_RC"
wait_for $((n + 2))
t_check "exactly two deliveries after recovery" test "$(e2e_count "$SINK_DIR")" -eq $((n + 2))
t_check "bob got exactly one copy, sealed" test "$(grep -lx 'to bob@partner.test' $(ls "$SINK_DIR"/*.env | sort | tail -n 2) | wc -l)" -eq 1
t_check "carol got exactly one copy" test "$(grep -lx 'to carol@example.com' $(ls "$SINK_DIR"/*.env | sort | tail -n 2) | wc -l)" -eq 1

# 4. A retry of a message whose copy was already handed over does not send it twice.
n=$(e2e_count "$SINK_DIR")
e2e_send "$MTA_PORT" "the same message again" alice@example.com bob@partner.test carol@example.com < "$TB/m3.eml"
wait_for $((n + 1))
t_check "the same message again: the copy is not handed over twice (only the original is new)" \
	test "$(e2e_count "$SINK_DIR")" -eq $((n + 1))
t_grep "and the log says the copy went on an earlier try" 'copy1=earlier:<' "$MILTER_LOG"

e2e_stop_milter
e2e_sanitizer_clean
t_done
