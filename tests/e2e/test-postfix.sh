#!/usr/bin/env bash
# test-postfix.sh - sealmilter behind a real, private Postfix on loopback, relaying
# to a sink that keeps every delivered message. Covers: a tag rule, a reject rule
# (5xx to the client), subject stripping, an unmatched message delivered unchanged,
# the sendmail-command path (non_smtpd_milters), sealmilter down (4xx, queued mail
# delivered once it is back), SIGHUP with a broken and then a good configuration, and
# hostile input through the milter (malformed MIME, 8-bit headers, NUL bytes, 10,000
# headers, a 1 MB header line, 1,000 recipients, a 100 MB body).
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/sbin/postfix /usr/bin/python3
MSG=$SRCDIR/tests/data/msg

tb_init
tb_start_sink
e2e_config "$TB/sealmilter.yaml"
e2e_start_milter "$TB/sealmilter.yaml"
PF_EXTRA_MAINCF="message_size_limit = 209715200
smtpd_recipient_limit = 1000" tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"

# send NAME FROM RCPT... < msg: SMTP to Postfix; sets REPLY and SEND_RC.
send() { e2e_send "$PF_PORT" "$@"; }
# delivered N: wait until the sink has N messages.
delivered() { tb_wait_files "$SINK_DIR" "$1" 60 >/dev/null 2>&1; }
crlf() { sed 's/$/\r/' "$1"; }

# 1. tag + subject stripping over SMTP
send "secure" alice@example.com bob@partner.test < <(crlf "$MSG/secure.eml")
t_rc "secure: accepted (250)" 0 "$SEND_RC"
delivered 1 && t_ok "secure: delivered" || t_fail "secure: delivered" "sink has $(e2e_count "$SINK_DIR")"
m=$(e2e_latest "$SINK_DIR")
t_grep "secure: subject trigger stripped" $'^Subject: Q3 contract\r$' "$m"
t_grep "secure: tag header added" $'^X-Sealmilter-Rule: secure-subject\r$' "$m"
t_grep "secure: marker added" '^X-Sealmilter-Marker: v=1; t=[0-9]+; m=' "$m"
t_grep "secure: body intact" $'^Please find the contract terms below.\r$' "$m"

# 2. reject: the client sees 5xx and nothing is delivered
send "exe" mallory@evil.test bob@example.com < <(crlf "$MSG/exe.eml")
t_rc "exe: rejected (5xx)" 5 "$SEND_RC"
case "$REPLY" in *"5.7.1 Executable attachments are not accepted"*) t_ok "exe: the client sees the rule's text" ;;
	*) t_fail "exe: the client sees the rule's text" "got: $REPLY" ;; esac
sleep 1
t_check "exe: nothing delivered" test "$(e2e_count "$SINK_DIR")" -eq 1

# 3. a message no rule matches is delivered byte for byte (apart from Postfix's Received)
send "plain" alice@example.com bob@partner.test < <(crlf "$MSG/plain.eml")
delivered 2 || true
m=$(e2e_latest "$SINK_DIR")
awk 'BEGIN{skip=0} NR==1 && /^Received:/ {skip=1; next} skip && /^[ \t]/ {next} {skip=0; print}' "$m" > "$TB/plain.stripped"
crlf "$MSG/plain.eml" > "$TB/plain.crlf"
if cmp -s "$TB/plain.crlf" "$TB/plain.stripped"; then t_ok "plain: delivered unchanged byte for byte"
else t_fail "plain: delivered unchanged byte for byte" "$(diff <(cat -A "$TB/plain.crlf") <(cat -A "$TB/plain.stripped") | head)"; fi
t_grep "plain: Postfix added only its Received header" '^Received: ' "$m"

# 4. the sendmail command (non_smtpd_milters)
sed 's/Message-ID: <secure-1@/Message-ID: <secure-2@/' "$MSG/secure.eml" | tb_postfix_sendmail alice@example.com carol@partner.test
delivered 3 && t_ok "sendmail command: delivered" || t_fail "sendmail command: delivered" "queue: $(tb_postfix_queue_count)"
t_grep "sendmail command: tagged" '^X-Sealmilter-Rule: secure-subject' "$(e2e_latest "$SINK_DIR")"
t_grep "the decision is logged on one line with the queue id" \
	'info: [0-9A-F]+: direction=outbound from=<alice@example.com> rcpts=1 rules=secure-subject actions=change:Subject,add:X-Sealmilter-Rule,add:X-Sealmilter-Marker verdict=accept size=[0-9]+ ms=[0-9]+\.[0-9] why="secure-subject \(direction is outbound; subject contains \\"\[secure\]\\"; recipient <carol@partner.test> matches\)"$' \
	"$MILTER_LOG"

# 5. sealmilter down: SMTP gets 4xx; a sendmail-command message waits and is delivered later
e2e_stop_milter
send "milter down" alice@example.com bob@partner.test < <(crlf "$MSG/secure.eml")
t_rc "milter down: the SMTP client gets 4xx" 4 "$SEND_RC"
sed 's/Message-ID: <secure-1@/Message-ID: <secure-3@/' "$MSG/secure.eml" | tb_postfix_sendmail alice@example.com dave@partner.test
sleep 2
t_check "milter down: the submitted message waits in the queue" test "$(tb_postfix_queue_count)" -ge 1
t_check "milter down: nothing delivered meanwhile" test "$(e2e_count "$SINK_DIR")" -eq 3
e2e_start_milter "$TB/sealmilter.yaml"
tb_postfix_flush
delivered 4 && t_ok "milter back: the queued message is delivered" || t_fail "milter back: the queued message is delivered" "queue: $(tb_postfix_queue_count)"
m=$(e2e_latest "$SINK_DIR")
t_grep "milter back: it was filtered (tagged)" '^X-Sealmilter-Rule: secure-subject' "$m"
t_grep "milter back: to the right recipient" '^to dave@partner.test' "${m%.eml}.env"

# 6. SIGHUP: a broken configuration is refused and the old one keeps working
cp "$TB/sealmilter.yaml" "$TB/good.yaml"
printf 'organization: { domains: [example.com] }\nrules:\n  - name: x\n    if: { subjet: y }\n    then: { stop: true }\n' > "$TB/sealmilter.yaml"
kill -HUP "$MILTER_PID"
tb_wait_for 10 grep -q "reload failed" "$MILTER_LOG" && t_ok "SIGHUP broken: reload refused" || t_fail "SIGHUP broken: reload refused" "$(tail -5 "$MILTER_LOG")"
t_grep "SIGHUP broken: the error has file:line:column" "sealmilter.yaml:4:19: unknown condition 'subjet'" "$MILTER_LOG"
sed 's/Message-ID: <secure-1@/Message-ID: <secure-4@/' "$MSG/secure.eml" > "$TB/s4.eml"
send "after broken reload" alice@example.com bob@partner.test < <(crlf "$TB/s4.eml")
delivered 5 || true
t_grep "SIGHUP broken: the old rules still apply" '^X-Sealmilter-Rule: secure-subject' "$(e2e_latest "$SINK_DIR")"
t_check "SIGHUP broken: the daemon is still running" kill -0 "$MILTER_PID"
# ... and a good one takes effect.
E2E_TAG_VALUE=reloaded e2e_config "$TB/sealmilter.yaml"
kill -HUP "$MILTER_PID"
tb_wait_for 10 grep -q "reloaded: 3 rules" "$MILTER_LOG" && t_ok "SIGHUP good: reloaded" || t_fail "SIGHUP good: reloaded" "$(tail -5 "$MILTER_LOG")"
sed 's/Message-ID: <secure-1@/Message-ID: <secure-5@/' "$MSG/secure.eml" > "$TB/s5.eml"
send "after good reload" alice@example.com bob@partner.test < <(crlf "$TB/s5.eml")
delivered 6 || true
t_grep "SIGHUP good: the new rules apply" $'^X-Sealmilter-Rule: reloaded\r$' "$(e2e_latest "$SINK_DIR")"

# 6b. a message in flight during SIGHUP finishes on the configuration it started with:
# the session pins the configuration at MAIL FROM; the reload happens before DATA.
E2E_TAG_VALUE=inflight-old e2e_config "$TB/sealmilter.yaml"
kill -HUP "$MILTER_PID"
tb_wait_for 10 bash -c "[ \$(grep -c 'reloaded: 3 rules' '$MILTER_LOG') -ge 2 ]" || true
/usr/bin/python3 - "$PF_PORT" "$TB/inflight" <<'PY' &
import os, socket, sys, time
port, flag = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
def cmd(line):
    if line: s.sendall(line.encode() + b"\r\n")
    while True:
        r = f.readline()
        if r[3:4] != b"-": return r
cmd(""); cmd("EHLO client.test"); cmd("MAIL FROM:<alice@example.com>"); cmd("RCPT TO:<bob@partner.test>")
open(flag + ".started", "w").close()
for _ in range(200):
    if os.path.exists(flag + ".go"): break
    time.sleep(0.05)
cmd("DATA")
s.sendall(b"From: alice@example.com\r\nTo: bob@partner.test\r\nMessage-ID: <inflight@example.com>\r\n"
          b"Subject: [secure] in flight\r\n\r\nbody\r\n.\r\n")
open(flag + ".reply", "wb").write(cmd("")); cmd("QUIT")
PY
inflight=$!
tb_wait_for 20 test -e "$TB/inflight.started" || t_fail "in flight: the transaction started"
E2E_TAG_VALUE=inflight-new e2e_config "$TB/sealmilter.yaml"
kill -HUP "$MILTER_PID"
tb_wait_for 10 bash -c "[ \$(grep -c 'reloaded: 3 rules' '$MILTER_LOG') -ge 3 ]" || t_fail "in flight: reloaded meanwhile"
touch "$TB/inflight.go"
wait "$inflight" || true
t_grep "in flight: accepted" '^250 ' "$TB/inflight.reply"
tb_wait_for 30 bash -c "grep -l 'Message-ID: <inflight@example.com>' '$SINK_DIR'/*.eml" >/dev/null 2>&1 || true
m=$(grep -l 'Message-ID: <inflight@example.com>' "$SINK_DIR"/*.eml | head -1 || true)
t_grep "in flight: it finished on the configuration it started with" $'^X-Sealmilter-Rule: inflight-old\r$' "${m:-/dev/null}"
sed 's/Message-ID: <secure-1@/Message-ID: <secure-6@/' "$MSG/secure.eml" > "$TB/s6.eml"
send "after in-flight reload" alice@example.com bob@partner.test < <(crlf "$TB/s6.eml")
tb_wait_for 30 bash -c "grep -l 'Message-ID: <secure-6@' '$SINK_DIR'/*.eml" >/dev/null 2>&1 || true
t_grep "in flight: the next message uses the new configuration" $'^X-Sealmilter-Rule: inflight-new\r$' \
	"$(grep -l 'Message-ID: <secure-6@' "$SINK_DIR"/*.eml | head -1 || echo /dev/null)"

# 7. hostile input through the milter: a decision for each, no crash, nothing lost
/usr/bin/python3 - "$TB/bad" <<'PY'
import os, sys
d = sys.argv[1]; os.makedirs(d, exist_ok=True)
H = b"From: alice@example.com\r\nTo: bob@partner.test\r\nMessage-ID: <bad-%s@example.com>\r\n"
def w(name, data): open(os.path.join(d, name), "wb").write(data)
w("malformed-mime", H % b"1" + b"Subject: mime\r\nContent-Type: multipart/mixed\r\n\r\n--nobody\r\nContent-Type: text/plain\r\n\r\nx\r\n")
w("missing-boundary", H % b"2" + b"Subject: nb\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--other\r\n\r\nunterminated\r\n")
w("eight-bit-headers", H % b"3" + b"Subject: caf\xe9 \xff\xfe broken \xc3\r\nX-Raw: \x80\x81=?utf-8?q?=E2=82?=\r\n\r\nbody\r\n")
w("nul-bytes", H % b"4" + b"Subject: nul\r\n\r\nbefore\x00after\r\n\x00\x00\r\n")
w("many-headers", H % b"5" + b"".join(b"X-H%d: v\r\n" % i for i in range(10000)) + b"\r\nbody\r\n")
w("huge-header", H % b"6" + b"X-Big: " + b"a" * (1 << 20) + b"\r\n\r\nbody\r\n")
w("many-rcpts", H % b"7" + b"Subject: many\r\n\r\nhello\r\n")
PY
# Each case: expected SMTP class (2, 4 or 5) per Postfix's own limits and ours.
check_bad() {   # NAME WANT_RC [RCPTS...]
	local name=$1 want=$2
	shift 2
	send "bad $name" alice@example.com "${@:-bob@partner.test}" < "$TB/bad/$name"
	t_rc "bad $name: decided (SMTP class $want)" "$want" "$SEND_RC"
}
before=$(e2e_count "$SINK_DIR")
check_bad malformed-mime 0
check_bad missing-boundary 0
check_bad eight-bit-headers 0
check_bad nul-bytes 0
check_bad many-headers 5
check_bad huge-header 0    # Postfix cuts the line at line_length_limit; what reaches us is small
rcpts=()
for i in $(seq 1 1000); do rcpts+=("r$i@partner.test"); done
check_bad many-rcpts 0 "${rcpts[@]}"
# 100 MB body, streamed
/usr/bin/python3 -c '
import sys
o = sys.stdout.buffer
o.write(b"From: alice@example.com\r\nTo: bob@partner.test\r\nMessage-ID: <big@example.com>\r\nSubject: big\r\n\r\n")
line = b"x" * 998 + b"\r\n"
for _ in range(100 * 1024 * 1024 // 1000): o.write(line)
' > "$TB/bad/big"
send "bad 100MB" alice@example.com bob@partner.test < "$TB/bad/big"
t_rc "bad 100MB: accepted" 0 "$SEND_RC"
# Everything accepted must arrive: 5 single messages and the 1,000 recipients (in batches).
tb_postfix_flush
tb_wait_for 120 bash -c "[ \$(cat '$SINK_DIR'/*.env | grep -c '^to r[0-9]*@partner.test') -ge 1000 ]" || true
t_check "bad: all 1,000 recipients received the message" \
	test "$(cat "$SINK_DIR"/*.env | grep -c '^to r[0-9]*@partner.test')" -eq 1000
# The 100 MB message (104,857 lines of 1,000 bytes after the header) must arrive whole.
tb_wait_for 120 bash -c "grep -l '^Subject: big' '$SINK_DIR'/*.eml" >/dev/null 2>&1 || true
big=$(grep -l '^Subject: big' "$SINK_DIR"/*.eml | head -1 || true)
t_check "bad: the 100 MB message arrived whole" test -n "$big" -a "$(tb_body "${big:-/dev/null}" | wc -c)" -eq 104857000
t_grep "bad: many headers rejected by a named limit" "note=\"more than limits.max_headers \(5000\) header fields\"" "$MILTER_LOG"
t_check "bad: nothing stays in the queue" test "$(tb_postfix_queue_count)" -eq 0
t_check "bad: no spool file is left behind" test -z "$(ls -A "$TB/spool")"
t_check "bad: the daemon is still running" kill -0 "$MILTER_PID"

e2e_stop_milter
e2e_sanitizer_clean
t_done
