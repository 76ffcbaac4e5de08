#!/usr/bin/env bash
# test-daemon.sh - sealmilter as a real daemon: it detaches, writes its pid file,
# drops to milter.user/milter.group after opening a unix socket that the MTA's group
# can use (0660), serves Postfix over that socket, reloads on SIGHUP as the
# unprivileged user (keeping the root-only marker key it read at start), survives
# a burst of SIGHUPs, replaces a worker that dies, and on SIGTERM stops and removes
# its pid file.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/sbin/postfix /usr/bin/python3
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: dropping privileges needs root"
	exit 77
fi
getent group postfix >/dev/null || tb_fail "no postfix group"
MSG=$SRCDIR/tests/data/msg

tb_init
tb_start_sink
mkdir -p "$TB/run" "$TB/sock"
e2e_config "$TB/sealmilter.yaml" "$(printf '  - name: extra\n    if: { subject: lunch }\n    then: { tag: { header: X-Lunch, value: yes } }')"
sed -i "s#^milter:#milter:\n  user: nobody\n  group: postfix\n  pid_file: $TB/run/sealmilter.pid\n  socket: unix:$TB/sock/sealmilter.sock#" "$TB/sealmilter.yaml"
chown nobody "$TB/run" "$TB/spool"
chown nobody:postfix "$TB/sock"
chmod 750 "$TB/sock"
chmod 600 "$TB/marker.key"      # root's: a reload as nobody must keep the key read at start
chmod 644 "$TB/sealmilter.yaml"

# Without -f it detaches at once (logs go to syslog).
"$SEALMILTER" -c "$TB/sealmilter.yaml"
t_rc "daemon: the command returns once detached" 0 $?
tb_wait_for 20 test -S "$TB/sock/sealmilter.sock" || tb_fail "no socket appeared"
tb_wait_for 10 test -s "$TB/run/sealmilter.pid" || tb_fail "no pid file appeared"
pid=$(cat "$TB/run/sealmilter.pid")
tb_register_pid "$pid"
t_check "daemon: the pid file names a running process" kill -0 "$pid"
t_check "daemon: it runs as milter.user" test "$(ps -o user= -p "$pid")" = nobody
t_check "daemon: with milter.group" test "$(ps -o group= -p "$pid")" = postfix
t_check "daemon: it has no root saved uid" bash -c "grep -E '^Uid:' /proc/$pid/status | awk '{exit !(\$2!=0 && \$3!=0 && \$4!=0 && \$5!=0)}'"
t_check "daemon: socket owned by user:group, mode 660" test "$(stat -c '%U:%G %a' "$TB/sock/sealmilter.sock")" = "nobody:postfix 660"
t_check "daemon: it left our session (detached)" test "$(ps -o sid= -p "$pid" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')"

tb_start_postfix "unix:$TB/sock/sealmilter.sock"
REPLY=$(sed 's/$/\r/' "$MSG/secure.eml" | tb_smtp_send "$PF_PORT" alice@example.com bob@partner.test) && rc=0 || rc=$?
t_rc "daemon: Postfix reaches it over the unix socket" 0 "$rc"
tb_wait_files "$SINK_DIR" 1 30 >/dev/null || true
t_grep "daemon: the message was tagged" '^X-Sealmilter-Rule: secure-subject' "$(e2e_latest "$SINK_DIR")"

# SIGHUP as the unprivileged user: the new policy (no extra rule) applies.
e2e_config "$TB/sealmilter.yaml"
sed -i "s#^milter:#milter:\n  user: nobody\n  group: postfix\n  pid_file: $TB/run/sealmilter.pid\n  socket: unix:$TB/sock/sealmilter.sock#" "$TB/sealmilter.yaml"
chmod 644 "$TB/sealmilter.yaml"
sed 's/$/\r/' "$MSG/plain.eml" | tb_smtp_send "$PF_PORT" alice@example.com bob@partner.test >/dev/null
tb_wait_files "$SINK_DIR" 2 30 >/dev/null || true
t_grep "daemon: before reload the extra rule applies" '^X-Lunch: yes' "$(e2e_latest "$SINK_DIR")"
kill -HUP "$pid"
sleep 1
sed 's/plain-1@/plain-2@/; s/$/\r/' "$MSG/plain.eml" | tb_smtp_send "$PF_PORT" alice@example.com bob@partner.test >/dev/null
tb_wait_files "$SINK_DIR" 3 30 >/dev/null || true
t_nogrep "daemon: after SIGHUP the reloaded policy applies" '^X-Lunch' "$(e2e_latest "$SINK_DIR")"
t_check "daemon: still running after reload" kill -0 "$pid"

# A burst of SIGHUPs (libmilter itself would stop on one) leaves it serving.
for i in $(seq 1 10); do kill -HUP "$pid"; done
sleep 2
t_check "daemon: a burst of SIGHUPs leaves it running" kill -0 "$pid"
sed 's/plain-1@/plain-3@/; s/$/\r/' "$MSG/plain.eml" | tb_smtp_send "$PF_PORT" alice@example.com bob@partner.test >/dev/null && rc=0 || rc=$?
t_rc "daemon: and serving" 0 "$rc"

# A worker that dies is replaced; mail goes on.
worker=$(pgrep -P "$pid" | head -n 1)
t_check "daemon: a worker process serves under the supervisor" test -n "$worker"
kill -KILL "$worker"
tb_wait_for 10 bash -c "w=\$(pgrep -P $pid | head -n 1); [ -n \"\$w\" ] && [ \"\$w\" != $worker ]" \
	&& t_ok "daemon: a dead worker is replaced" || t_fail "daemon: a dead worker is replaced"
sed 's/plain-1@/plain-4@/; s/$/\r/' "$MSG/plain.eml" | tb_smtp_send "$PF_PORT" alice@example.com bob@partner.test >/dev/null && rc=0 || rc=$?
t_rc "daemon: mail flows through the new worker" 0 "$rc"
t_check "daemon: the new worker runs unprivileged too" test "$(ps -o user= -p "$(pgrep -P "$pid" | head -n 1)")" = nobody

kill -TERM "$pid"
tb_wait_for 20 bash -c "! kill -0 $pid 2>/dev/null" && t_ok "daemon: SIGTERM stops it" || t_fail "daemon: SIGTERM stops it"
t_check "daemon: the pid file is removed" test ! -e "$TB/run/sealmilter.pid"
t_done
