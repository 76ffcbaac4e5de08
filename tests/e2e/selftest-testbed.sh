#!/bin/bash
# selftest-testbed.sh - proves that testbed.sh works, without any milter:
#  - Postfix with an unreachable milter: SMTP gets 4xx, a message submitted
#    with the sendmail command stays queued;
#  - Postfix with the milters emptied (PF_EXTRA_MAINCF): an SMTP message and
#    a sendmail-command message reach the sink with the body byte for byte;
#  - Sendmail without a milter relays to the sink; with an unreachable milter
#    (F=T) it answers 4xx;
#  - tb_free_port, tb_wait_files, tb_smtp_send and the cleanup of a test
#    that fails midway.
# Exit: 0 pass, 1 fail, 77 (skip) when postfix is not installed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if ! command -v postfix > /dev/null 2>&1; then
    PATH=$PATH:/usr/sbin:/sbin
    if ! command -v postfix > /dev/null 2>&1; then
        echo "SKIP: postfix is not installed"
        exit 77
    fi
fi

# shellcheck source-path=SCRIPTDIR source=testbed.sh
. "$here/testbed.sh"
tb_init

passed=0
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
t_start=$(tb__now_us)
elapsed() {
    local us=$(( $(tb__now_us) - t_start ))
    printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}

# expect_reply RC_WANT CODE_PREFIX REPLY RC: check a tb_smtp_send result.
expect_reply() {
    if [ "$4" != "$1" ] || [[ $3 != "$2"* ]]; then
        tb_fail "SMTP reply: got exit $4 \"$3\", want exit $1 and \"$2...\""
    fi
}

# A message that is easy to damage: dot lines, trailing blanks, a tab,
# 8-bit UTF-8, an empty line inside and one at the end.  LF line ends here;
# on the wire (and so in the sink) they are CRLF.
msg=$TB/msg.eml
printf '%s\n' \
    'From: Alice <alice@example.com>' \
    'To: Bob <bob@remote.test>' \
    'Subject: testbed selftest' \
    'Message-ID: <selftest-1@example.com>' \
    'Date: Mon, 02 Jan 2023 03:04:05 +0000' \
    'MIME-Version: 1.0' \
    'Content-Type: text/plain; charset=utf-8' \
    'Content-Transfer-Encoding: 8bit' \
    '' \
    'Hello Bob,' \
    '.' \
    '..two dots' \
    '.leading dot' \
    'trailing blanks   ' \
    "a	tab" \
    'Grüße – 8-bit UTF-8' \
    '' \
    'last line' \
    '' > "$msg"
want_body=$TB/want-body
tb_body "$msg" | sed 's/$/\r/' > "$want_body"

# check_body FILE: the body of FILE must be $want_body byte for byte.
check_body() {
    tb_body "$1" > "$TB/got-body"
    if ! cmp -s "$want_body" "$TB/got-body"; then
        tb__err "want body:"; od -c "$want_body" | head -n 30 >&2
        tb__err "got body of $1:"; od -c "$TB/got-body" | head -n 30 >&2
        tb_fail "body of $1 differs from the body sent"
    fi
}

# check_env FILE: envelope alice@example.com -> bob@remote.test.
check_env() {
    printf 'from alice@example.com\nto bob@remote.test\n' > "$TB/want-env"
    cmp -s "$TB/want-env" "$1" || {
        tb__err "want:"; cat "$TB/want-env" >&2
        tb__err "got:"; cat "$1" >&2
        tb_fail "envelope $1 is wrong"
    }
}

milter_tries_ge() {
    [ "$(grep -c 'cleanup.*connect to Milter service' "$PF_LOG")" -ge "$1" ]
}

queue_is() { [ "$(tb_postfix_queue_count)" = "$1" ]; }

# ------------------------------------------------------------------ library
# Ports are never handed out twice, and none of them is in use.
ports=$(for _ in $(seq 1 40); do tb_free_port; done)
[ "$(sort -u <<< "$ports" | wc -l)" = 40 ] || tb_fail "tb_free_port repeated a port"
ok "tb_free_port: 40 distinct free ports"

tb_start_sink
tb_port_listening "$SINK_PORT" || tb_fail "sink not listening on $SINK_PORT"
ok "sink listens on 127.0.0.1:$SINK_PORT"

dead=$(tb_free_port)   # a milter address that nobody listens on
rc=0; reply=$(tb_smtp_send "$dead" a@example.com b@remote.test < "$msg") || rc=$?
expect_reply 1 000 "$reply" "$rc"
ok "tb_smtp_send to a closed port: exit 1 ($reply)"

rc=0; tb_wait_files "$SINK_DIR" 1 1 2> "$TB/wait.err" || rc=$?
[ $rc != 0 ] || tb_fail "tb_wait_files did not time out on an empty dir"
tb_assert_grep 'timed out after 1s' "$TB/wait.err"
ok "tb_wait_files times out with a message"

# A test that dies midway (set -e) leaves no server and no temp dir behind.
cat > "$TB/dies.sh" <<EOF
set -euo pipefail
. "$here/testbed.sh"
tb_init
echo "\$TB" > "$TB/dies.tb"
tb_start_sink
tb_start_postfix "inet:127.0.0.1:$dead"
sleep 300 &
tb_register_pid "\$!"
echo "\$SINK_PID \$(cat "\$PF_DIR/queue/pid/master.pid") \$!" > "$TB/dies.pids"
false
echo "not reached"
EOF
rc=0; env -u TB_KEEP bash "$TB/dies.sh" > "$TB/dies.out" 2>&1 || rc=$?
[ $rc = 1 ] || { cat "$TB/dies.out" >&2; tb_fail "dying test exited $rc, want 1"; }
[ -s "$TB/dies.pids" ] || { cat "$TB/dies.out" >&2; tb_fail "dying test did not start"; }
read -r d_sink d_master d_sleep < "$TB/dies.pids"
for p in "$d_sink" "$d_master" "$d_sleep"; do
    if tb__pid_alive "$p"; then tb_fail "process $p of the dying test still runs"; fi
done
if tb__group_alive "$d_master"; then tb_fail "Postfix of the dying test still runs"; fi
[ ! -e "$(cat "$TB/dies.tb")" ] || tb_fail "dying test left $(cat "$TB/dies.tb")"
tb_assert_not_grep 'not reached' "$TB/dies.out"
ok "a test failing midway stops its sink, Postfix and registered pid, removes its dir"

# ------------------------------------------------------------------ Postfix
# 1. Milter configured but down: milter_default_action = tempfail.
tb_start_postfix "inet:127.0.0.1:$dead"
ok "Postfix listens on 127.0.0.1:$PF_PORT ($(elapsed)s)"

rc=0; reply=$(tb_smtp_send "$PF_PORT" alice@example.com bob@remote.test < "$msg") || rc=$?
expect_reply 4 4 "$reply" "$rc"
ok "Postfix SMTP with the milter down: $reply"

tb_postfix_sendmail alice@example.com bob@remote.test < "$msg"
tb_wait_for 20 milter_tries_ge 1 ||
    tb_fail "cleanup never tried the milter for the sendmail-command message"
queue_is 1 || tb_fail "queue holds $(tb_postfix_queue_count) messages, want 1"
tb_postfix_flush
tb_wait_for 20 milter_tries_ge 2 ||
    tb_fail "the flush did not retry the queued message"
queue_is 1 || tb_fail "after a flush the queue holds $(tb_postfix_queue_count) messages, want 1"
[ "$(tb_count_eml "$SINK_DIR")" = 0 ] || tb_fail "a message reached the sink past a dead milter"
ok "Postfix sendmail command with the milter down: message stays queued"
tb_stop_postfix
if tb_port_listening "$PF_PORT"; then tb_fail "Postfix still listens after tb_stop_postfix"; fi
ok "tb_stop_postfix"

# 2. Milters emptied through PF_EXTRA_MAINCF: mail goes through untouched.
PF_EXTRA_MAINCF=$'smtpd_milters =\nnon_smtpd_milters =' \
    tb_start_postfix "inet:127.0.0.1:$dead"
if [ -n "$(postconf -c "$PF_CONF" -h smtpd_milters)" ] ||
   [ -n "$(postconf -c "$PF_CONF" -h non_smtpd_milters)" ]; then
    tb_fail "PF_EXTRA_MAINCF did not override the milters"
fi
tb_assert_not_grep 'inet:127' "$PF_CONF/main.cf"
ok "PF_EXTRA_MAINCF overrides main.cf"

rc=0; reply=$(tb_smtp_send "$PF_PORT" alice@example.com bob@remote.test < "$msg") || rc=$?
expect_reply 0 250 "$reply" "$rc"
tb_wait_files "$SINK_DIR" 1 20
tb_postfix_sendmail alice@example.com bob@remote.test < "$msg"
tb_wait_files "$SINK_DIR" 2 20
tb_wait_for 10 queue_is 0 || tb_fail "Postfix queue not empty after delivery"
check_env "$SINK_DIR/0001.env"
check_env "$SINK_DIR/0002.env"
check_body "$SINK_DIR/0001.eml"
check_body "$SINK_DIR/0002.eml"
tb_assert_grep '^Received: from client\.example\.test \(localhost \[127\.0\.0\.1\]\)' "$SINK_DIR/0001.eml"
tb_assert_grep '^Message-ID: <selftest-1@example\.com>' "$SINK_DIR/0001.eml"
tb_assert_grep '^Received: by mta\.example\.test \(Postfix, from userid 0\)' "$SINK_DIR/0002.eml"
tb_assert_not_grep '^X-' "$SINK_DIR/0001.eml"
ok "Postfix without milter: SMTP and sendmail-command messages delivered, bodies byte-identical"
tb_stop_postfix

# ------------------------------------------------------------------ Sendmail
if [ "${TB_SKIP_SENDMAIL:-0}" = 1 ]; then
    echo "# Sendmail part skipped (TB_SKIP_SENDMAIL=1)"
else
    tb_start_sendmail ""
    ok "Sendmail (no milter) listens on 127.0.0.1:$SM_PORT ($(elapsed)s)"
    rc=0; reply=$(tb_smtp_send "$SM_PORT" alice@example.com bob@remote.test < "$msg") || rc=$?
    expect_reply 0 250 "$reply" "$rc"
    tb_wait_files "$SINK_DIR" 3 20
    check_env "$SINK_DIR/0003.env"
    check_body "$SINK_DIR/0003.eml"
    tb_assert_grep '^Received: from client\.example\.test .*by smta\.example\.test|^	by smta\.example\.test' "$SINK_DIR/0003.eml"
    tb_assert_grep 'stat=Sent' "$SM_SYSLOG"
    ok "Sendmail without milter relays to the sink, body byte-identical"
    tb_stop_sendmail

    tb_start_sendmail "$dead"
    tb_assert_grep "^INPUT_MAIL_FILTER\(\`sealmilter', \`S=inet:$dead@127\.0\.0\.1, F=T, T=C:10s;S:30s;R:30s;E:2m'\)" "$SM_DIR/sendmail.mc"
    rc=0; reply=$(tb_smtp_send "$SM_PORT" alice@example.com bob@remote.test < "$msg") || rc=$?
    expect_reply 4 4 "$reply" "$rc"
    tb_assert_grep '<<< mail FROM:<alice@example.com>' "$SM_LOG"
    if [ "$SM_NS" = -um ]; then
        tb_wait_for 5 grep -q 'Milter (sealmilter): error connecting to filter' "$SM_SYSLOG" ||
            tb_fail "no milter error in $SM_SYSLOG"
    fi
    [ "$(tb_count_eml "$SINK_DIR")" = 3 ] || tb_fail "a message reached the sink past a dead milter"
    ok "Sendmail with the milter down (F=T): $reply"
    tb_stop_sendmail
fi

echo "selftest-testbed: $passed passed, 0 failed ($(elapsed)s)"
