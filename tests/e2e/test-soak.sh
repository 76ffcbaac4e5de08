#!/usr/bin/env bash
# test-soak.sh - faults under load, through the real Postfix test bed.
#
# SOAK_MSGS messages (default 1,500; `make soak` sends 10,000) go to Postfix at concurrency 16
# (tests/e2e/soakclient.py, which retries what is deferred), mixed: sealed, sealed and
# registered with sealview (on PostgreSQL), S/MIME-signed, plain, and rejected. While they
# flow, timed by progress, the test:
#   - kills sealmilter's worker with SIGKILL (its supervisor starts another);
#   - kills the whole daemon with SIGKILL, twice, and starts it again, as systemd would;
#   - stops sealview for a while;
#   - fills milter.spool_dir's file system (a 8 MB tmpfs) and frees it again;
#   - restarts PostgreSQL under sealview.
# Afterwards:
#   - every message was accepted or, for the rejected kind, refused with 5xx; none gave up;
#   - every accepted message is delivered exactly once (by its Message-ID), no refused one;
#   - no message of a sealed kind is delivered in plaintext: its marker appears nowhere in
#     the sink, and each is sealed; a sample opens with the tenant key (sealctl open);
#   - the signed ones are S/MIME-signed, the plain ones unchanged;
#   - no temp file is left in the spool, and sealmilter holds no deleted file open;
#   - sealmilter's RSS is back to its baseline (not under a sanitizer, whose allocator
#     keeps freed memory in quarantine; there LeakSanitizer checks at the clean stop);
#   - sealmilter and sealview stop cleanly, with no sanitizer report.
# Needs root (the tmpfs). The figures are printed at the end and kept in $BUILDDIR/soak.txt.
set -euo pipefail
. "$(dirname "$0")/common.sh"
: "${SEALVIEW:?}" "${BUILDDIR:?}"
e2e_require /usr/sbin/postfix /usr/bin/python3 openssl mount
if [ "$(id -u)" != 0 ]; then
	[ "${SEALMILTER_REQUIRE_E2E:-0}" = 1 ] && { echo "FAIL: the soak needs root (a tmpfs for the spool)" >&2; exit 1; }
	echo "SKIP: the soak needs root (a tmpfs for the spool)"; exit 77
fi
PY=/usr/bin/python3
E2E=$SRCDIR/tests/e2e
N=${SOAK_MSGS:-1500}
CONC=${SOAK_CONC:-16}
t0=$(date +%s)

tb_init
tb_start_sink
e2e_start_pg

# The spool on its own small file system, so that the test can fill it.
SPOOL=$TB/spool-fs
mkdir -p "$SPOOL"
mount -t tmpfs -o size=8m,mode=0700 soakspool "$SPOOL"
tb_on_cleanup "umount -l '$SPOOL' 2>/dev/null || true"

K=$TB/keys
mkdir -p "$K"
KEYS_YAML=$(e2e_keys_yaml "$K")
"$SEALCTL" keys generate marker --out "$K/marker.key" >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$K/signer.key" -out "$K/signer.pem" -days 30 \
	-subj "/CN=Soak Signer/emailAddress=alice@example.com" -addext "subjectAltName=email:alice@example.com" \
	-addext "keyUsage=critical,digitalSignature,nonRepudiation" -addext "extendedKeyUsage=emailProtection" 2>/dev/null
chmod 600 "$K"/*.key
head -c 48 /dev/urandom > "$K/viewer.secret"
chmod 600 "$K/viewer.secret"
SV_PORT=$(tb_free_port)
MILTER_PORT=$(tb_free_port)
tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"
CFG=$TB/sealmilter.yaml
cat > "$CFG" <<YAML
organization: { name: Example Corp, domains: [example.com], trusted_networks: [127.0.0.0/8] }
milter:
  spool_dir: $SPOOL
  spool_threshold: 16K
  marker_key_file: $K/marker.key
$KEYS_YAML
  via-viewer: { rights: [view], expires: 30d }
signing:
  identities:
    - { match: "*@example.com", cert: $K/signer.pem, key: $K/signer.key }
viewer:
  public_url: http://127.0.0.1:$SV_PORT
  api_url: http://127.0.0.1:$SV_PORT
  secret_file: $K/viewer.secret
sealview:
  listen: 127.0.0.1:$SV_PORT
  store: $PG_URL
  smtp: smtp://127.0.0.1:$PF_PORT
  passcode_from: no-reply@example.com
rules:
  - name: no-executables
    if: { attachment: { filename: ["*.exe"] } }
    then: { reject: "5.7.1 Executable attachments are not accepted" }
  - name: secure
    if: { direction: outbound, subject: { contains: ["[secure]"] } }
    then: { seal: do-not-forward }
  - name: viewer
    if: { direction: outbound, subject: { contains: ["[viewer]"] } }
    then: { seal: via-viewer }
  - name: signed
    if: { direction: outbound, subject: { contains: ["[signed]"] } }
    then: { sign: true }
YAML
# do-not-forward does not use the viewer: only [viewer] mail depends on sealview.
sed -i 's/^  do-not-forward: { rights: \[view, reply\], expires: 30d }$/  do-not-forward: { rights: [view, reply], expires: 30d, viewer: false }/' "$CFG"
rc=0
"$SEALMILTER" -n -c "$CFG" > "$TB/check.out" 2>&1 || rc=$?
t_rc "sealmilter -n accepts the soak configuration" 0 "$rc"
[ "$rc" -eq 0 ] || { cat "$TB/check.out"; t_done; exit 1; }

MILTER_LOG=$TB/sealmilter.log
# run_bg NAME CMD...: start CMD in the background (from any subshell); its pid goes to
# $TB/NAME.pid and, once it ends, its exit status to $TB/NAME.rc.
run_bg() {
	local name=$1
	shift
	rm -f "$TB/$name.rc"
	( "$@" & p=$!; echo "$p" > "$TB/$name.pid"; rc=0; wait "$p" || rc=$?; echo "$rc" > "$TB/$name.rc" ) &
	tb_wait_for 10 test -s "$TB/$name.pid"
	tb_register_pid "$(cat "$TB/$name.pid")"
}
# stop_bg NAME LABEL: SIGTERM, wait for the exit; it must be 0.
stop_bg() {
	kill -TERM "$(cat "$TB/$1.pid")"
	tb_wait_for 60 test -s "$TB/$1.rc" || true
	t_rc "$2 stopped cleanly on SIGTERM" 0 "$(cat "$TB/$1.rc" 2>/dev/null || echo 'still running')"
}
# milter_start: the daemon in the foreground (its supervisor and a worker), as systemd runs
# it; waits until the new daemon listens (not an orphan of an earlier one: it must live on).
milter_start() {
	run_bg milter "$SEALMILTER" -f -c "$CFG" -p "inet:$MILTER_PORT@127.0.0.1" >> "$MILTER_LOG" 2>&1
	tb_wait_port "$MILTER_PORT" 20 && sleep 0.3 && kill -0 "$(cat "$TB/milter.pid")" 2>/dev/null
}
# milter_worker: the worker's pid (the supervisor's only child).
milter_worker() { pgrep -P "$(cat "$TB/milter.pid")" | head -n 1; }
# rss PID: resident set size in kB.
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
sv_start() {
	run_bg sealview "$SEALVIEW" -c "$CFG" >> "$TB/sealview.log" 2>&1
	tb_wait_port "$SV_PORT" 20
}

milter_start || tb_fail "sealmilter did not start: $(tail -n 5 "$MILTER_LOG")"
sv_start || tb_fail "sealview did not start: $(tail -n 5 "$TB/sealview.log")"
SANITIZED=0
if ldd "$SEALMILTER" 2>/dev/null | grep -q libasan || grep -q '__asan_init' "$SEALMILTER" 2>/dev/null; then
	SANITIZED=1
fi

PROGRESS=$TB/progress
LEDGER=$TB/ledger.jsonl
echo 0 > "$PROGRESS"
progress() { cat "$PROGRESS" 2>/dev/null || echo 0; }
# at FRACTION: wait until that share of the messages is finished (or the client has ended).
at() {
	local want=$(( N * $1 / 100 ))
	while [ "$(progress)" -lt "$want" ] && kill -0 "$CLIENT_PID" 2>/dev/null; do sleep 0.2; done
}
flog() { printf '%s at %s/%s: %s\n' "$(date +%T)" "$(progress)" "$N" "$*" >> "$TB/faults.log"; }

"$PY" "$E2E/soakclient.py" --port "$PF_PORT" --count "$N" --conc "$CONC" --ledger "$LEDGER" \
	--progress "$PROGRESS" --deadline 600 > "$TB/client.log" 2>&1 &
CLIENT_PID=$!
tb_register_pid "$CLIENT_PID"

# The faults, in the background; each one is logged in faults.log.
faults() {
	local w pg_ctl=$PG_BIN/pg_ctl
	at 5
	w=$(milter_worker)
	kill -KILL "$w" && flog "SIGKILL to the worker $w"
	at 10
	kill -KILL "$(cat "$TB/milter.pid")" && flog "SIGKILL to the daemon (its supervisor; the worker must follow)"
	if tb_wait_for 5 bash -c "! ss -Hltn '( sport = :$MILTER_PORT )' | grep -q ."; then
		flog "the worker is gone, the port is free"
	else
		flog "an orphaned worker still holds the port"
	fi
	milter_start && flog "sealmilter started again" || flog "sealmilter did not start again"
	at 18
	kill -KILL "$(cat "$TB/milter.pid")" && flog "SIGKILL to the daemon again"
	tb_wait_for 5 bash -c "! ss -Hltn '( sport = :$MILTER_PORT )' | grep -q ." || true
	milter_start && flog "sealmilter started again" || flog "sealmilter did not start again"
	at 25
	# The final daemon's baseline, once it is warm: it has served a few hundred messages at
	# full concurrency, so its threads and malloc arenas exist.
	echo "$(rss "$(milter_worker)")" > "$TB/rss.base"
	flog "baseline RSS of the worker: $(cat "$TB/rss.base") kB"
	at 40
	kill -TERM "$(cat "$TB/sealview.pid")" && flog "sealview stopped"
	sleep 4
	sv_start && flog "sealview started again"
	at 55
	dd if=/dev/zero of="$SPOOL/filler" bs=64k 2>/dev/null || true
	flog "the spool's file system is full ($(df -k --output=avail "$SPOOL" | tail -n 1 | tr -d ' ') kB free)"
	sleep 4
	rm -f "$SPOOL/filler"
	flog "the spool's file system has room again"
	at 70
	runuser -u postgres -- "$pg_ctl" -D "$TB/pg/data" -m fast -w -t 60 restart > /dev/null 2>&1 &&
		flog "PostgreSQL restarted" || flog "PostgreSQL did not restart"
	wait "$CLIENT_PID" 2>/dev/null || true
}
faults &
FAULTS_PID=$!
tb_register_pid "$FAULTS_PID"
wait "$CLIENT_PID" || true
wait "$FAULTS_PID" || true
t_client=$(date +%s)
cat "$TB/faults.log"

# Drain: Postfix's queue empties, the sink stops growing.
tb_postfix_flush || true
tb_wait_for 300 bash -c "[ \"\$(postqueue -c '$PF_CONF' -j | grep -c queue_id)\" = 0 ]" ||
	t_fail "Postfix's queue drained" "$(postqueue -c "$PF_CONF" -p | tail -n 20)"
prev=-1
while :; do
	cur=$(e2e_count "$SINK_DIR")
	[ "$cur" = "$prev" ] && break
	prev=$cur
	sleep 2
done

# The verdicts on the ledger and the sink.
"$PY" - "$LEDGER" "$SINK_DIR" "$N" > "$TB/verdict.txt" 2>&1 <<'PY' || true
import collections, email, json, os, re, sys
ledger, sink, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
recs = {}
for line in open(ledger):
    r = json.loads(line)
    recs[r["id"]] = r
out = collections.Counter()
attempts = collections.Counter()
bad = []
for r in recs.values():
    out[(r["kind"], r["outcome"])] += 1
    attempts[r["kind"]] += r["attempts"] - 1
    want = "rejected" if r["kind"] == "rejected" else "accepted"
    if r["outcome"] != want:
        bad.append("message %d (%s): %s after %d attempts: %s" % (r["id"], r["kind"], r["outcome"], r["attempts"], r["reply"]))
print("ledger: %d of %d messages" % (len(recs), n))
for k in sorted(out):
    print("  %-8s %-9s %6d" % (k[0], k[1], out[k]))
print("deferred and retried: " + ", ".join("%s %d" % kv for kv in sorted(attempts.items())))
if len(recs) != n:
    bad.append("the ledger has %d messages, not %d" % (len(recs), n))
seen = collections.Counter()
plain_leaks, unsealed, unsigned, changed = [], [], [], []
for name in sorted(os.listdir(sink)):
    if not name.endswith(".eml"):
        continue
    raw = open(os.path.join(sink, name), "rb").read()
    # Sealing drops header fields it does not know (X-Soak-Id): the Message-ID stays.
    m = re.search(rb"^Message-ID: <soak-(\d+)@example\.com>\r?$", raw, re.M | re.I)
    if not m:
        continue       # not a soak message (a passcode mail, say)
    i = int(m.group(1))
    seen[i] += 1
    kind = recs.get(i, {}).get("kind", "?")
    if b"SOAKPLAIN-" in raw:
        plain_leaks.append("%s (message %d)" % (name, i))
    msg = email.message_from_bytes(raw)
    # Decode every part that is not the sealed object itself: no marker in any encoding.
    for p in msg.walk():
        if p.is_multipart() or p.get_filename() == "message.sealed":
            continue
        body = p.get_payload(decode=True) or b""
        if b"SOAKPLAIN-" in body:
            plain_leaks.append("%s (message %d, decoded part %s)" % (name, i, p.get_content_type()))
    if kind in ("sealed", "viewer"):
        if not re.search(rb"^X-Sealmilter-Sealed: v=1; template=", raw, re.M):
            unsealed.append("%s (message %d)" % (name, i))
    elif kind == "signed":
        if msg.get_content_type() != "multipart/signed":
            unsigned.append("%s (message %d)" % (name, i))
    elif kind == "plain":
        if ("soakclear-%d" % i).encode() not in raw:
            changed.append("%s (message %d)" % (name, i))
for i, r in recs.items():
    c = seen.get(i, 0)
    if r["outcome"] == "accepted" and c != 1:
        bad.append("message %d (%s) accepted, delivered %d times" % (i, r["kind"], c))
    if r["outcome"] != "accepted" and c != 0:
        bad.append("message %d (%s) %s, yet delivered %d times" % (i, r["kind"], r["outcome"], c))
for what, lst in (("plaintext delivered", plain_leaks), ("not sealed", unsealed), ("not signed", unsigned),
                  ("changed", changed)):
    for x in lst:
        bad.append("%s: %s" % (what, x))
print("delivered: %d soak messages" % sum(seen.values()))
for b in bad[:50]:
    print("BAD " + b)
print("verdict: %d problems" % len(bad))
PY
cat "$TB/verdict.txt"
t_grep "every message was accepted or refused as intended, and delivered exactly once" '^verdict: 0 problems$' "$TB/verdict.txt"
t_nogrep "no plaintext of a sealed kind was delivered" '^BAD (plaintext delivered|not sealed)' "$TB/verdict.txt"
t_grep "the faults all happened" 'PostgreSQL restarted' "$TB/faults.log"
late=$(awk -v n="$N" '{ split($3, a, "/"); if (a[1] + 0 >= n + 0) print }' "$TB/faults.log")
t_check "each fault came while mail was flowing${late:+ (not: $late)}" test -z "$late"
t_check "sealmilter was killed and came back twice" test "$(grep -c 'sealmilter started again' "$TB/faults.log")" = 2
t_nogrep "no orphaned worker kept the port, no failed restart" 'orphaned|did not start' "$TB/faults.log"

# A sample of the sealed messages opens with the tenant key, with the marker inside.
opened=0 failed=0
for f in $(grep -l '^X-Sealmilter-Sealed: v=1; template=do-not-forward' "$SINK_DIR"/*.eml | awk 'NR % 25 == 1'); do
	id=$(sed -n 's/^Message-ID: <soak-\([0-9]*\)@example.com>.*/\1/p' "$f" | head -n 1)
	if "$SEALCTL" -c "$CFG" open "$f" > "$TB/opened.eml" 2> "$TB/open.err" && grep -q "SOAKPLAIN-$id" "$TB/opened.eml"; then
		opened=$((opened + 1))
	else
		failed=$((failed + 1))
		echo "  cannot open $f: $(head -c 300 "$TB/open.err")"
	fi
done
t_check "a sample of $((opened + failed)) sealed messages opens with the tenant key ($failed failed)" \
	test "$failed" = 0 -a "$opened" -gt 0

# No temp file: nothing in the spool but the ledger of split copies (unused here), and the
# worker holds no deleted file open once the traffic is over.
sleep 2
left=$(find "$SPOOL" -mindepth 1 -not -path "$SPOOL/submitted" -not -path "$SPOOL/submitted/*" | head -n 5)
t_check "no temp file is left in the spool${left:+ ($left)}" test -z "$left"
W=$(milter_worker)
held=$(ls -l "/proc/$W/fd" 2>/dev/null | grep -c '(deleted)' || true)
t_check "the worker holds no deleted temp file open ($held)" test "$held" = 0
RSS_END=$(rss "$W")
RSS_BASE=$(cat "$TB/rss.base" 2>/dev/null || echo 0)
if [ "$SANITIZED" = 1 ]; then
	t_ok "RSS after the soak: $RSS_END kB, baseline $RSS_BASE kB (not compared under ASan; LeakSanitizer checks at the stop)"
else
	# Back to baseline: within 10% + 4 MB of it (malloc keeps some freed memory in its arenas).
	t_check "sealmilter's RSS is back to its baseline ($RSS_END kB, baseline $RSS_BASE kB)" \
		test "$RSS_END" -le $(( RSS_BASE + RSS_BASE / 10 + 4096 ))
fi

stop_bg milter sealmilter
e2e_sanitizer_clean
stop_bg sealview sealview
t_nogrep "no sanitizer report from sealview" "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$TB/sealview.log"
t_nogrep "no worker died but those the test killed" 'worker [0-9]+ (died of signal [^9]|exited with status [^0])' "$MILTER_LOG"

{
	echo "soak: $N messages at concurrency $CONC, client $(( t_client - t0 ))s, whole test $(( $(date +%s) - t0 ))s"
	echo "sealmilter ($( [ "$SANITIZED" = 1 ] && echo ASan+UBSan || echo optimised)): RSS baseline $RSS_BASE kB, after $RSS_END kB"
	cat "$TB/faults.log"
	cat "$TB/verdict.txt"
	echo "tempfails by cause (sealmilter's log; Postfix's own when sealmilter was down):"
	{ sed -n 's/.*verdict=tempfail .*note="\([^"]*\)".*/sealmilter: \1/p' "$MILTER_LOG" |
		sed -E 's#https?://[^ )]*#URL#g; s/[0-9a-f]{32,}/ID/g; s/: HTTP [0-9]+ .*/: HTTP .../; s/ after [0-9]+ ms.*//; s/port [0-9]+/port N/' | cut -c1-160
	  grep -oE 'milter-reject: [A-Z]+ from [^:]*: 451 4\.7\.1 Service unavailable' "$PF_LOG" |
		sed 's/ from [^:]*:/:/; s/^/postfix: /'; } | sort | uniq -c | sort -rn
} > "$BUILDDIR/soak.txt"
cat "$BUILDDIR/soak.txt"
t_done
