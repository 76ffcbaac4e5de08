#!/usr/bin/env bash
# test-sealview-metrics.sh - sealview's metrics endpoint for real: sealview runs with
# sealview.metrics_listen on a free loopback port and an SMTP sink (tests/e2e/sink.py) as
# its MTA; sealctl process seals a message and registers it; a reader's whole visit is
# played over HTTP (tests/cli/viewer_visit.py: the address form, a passcode mailed to the
# sink, one wrong passcode, the right one, the message, sign-out); and /metrics must have
# moved by exactly that: passcodes sent and failed, sign-ins, views, the events, the
# responses by class, the live sessions (up, then down), and the store's timings. Each
# scrape goes through tests/cli/promcheck.py (two parsers that must agree).
set -euo pipefail
. "$SRCDIR/tests/e2e/testbed.sh"
. "$SRCDIR/tests/cli/lib.sh"
: "${SEALVIEW:?}" "${SEALCTL:?}"
PY=/usr/bin/python3
for m in prometheus_client aiosmtpd; do
	if ! $PY -c "import $m" 2>/dev/null; then
		[ "${SEALMILTER_REQUIRE_E2E:-0}" = 1 ] && { echo "FAIL: python3 $m is not installed (scripts/install-deps.sh)" >&2; exit 1; }
		echo "SKIP: python3 $m is not installed"; exit 77
	fi
done
check() { $PY "$SRCDIR/tests/cli/promcheck.py" "$@"; }
scrape() { curl -fsS "http://127.0.0.1:$MPORT/metrics" -o "$1"; }

tb_init
tb_start_sink
T=$TB
"$SEALCTL" keys generate issuer --out "$T" >/dev/null
"$SEALCTL" keys generate tenant --name t1 --out "$T" >/dev/null
head -c 32 /dev/urandom > "$T/secret"
chmod 600 "$T/secret"
mkdir -p "$T/spool"
PORT=$(tb_free_port)
MPORT=$(tb_free_port)
cat > "$T/sv.yaml" <<YAML
organization: { domains: [example.com] }
milter: { spool_dir: $T/spool }
keys:
  tenant: [ { id: t1, cert: $T/t1.pem, key: $T/t1.key } ]
  issuer: { cert: $T/issuer.pem, key: $T/issuer.key }
templates:
  dnf: { rights: [view], expires: 30d }
rules:
  - name: seal-secure
    if: { direction: outbound, subject: { contains: ["[secure]"] } }
    then: { seal: dnf }
viewer: { public_url: "http://127.0.0.1:$PORT", api_url: "http://127.0.0.1:$PORT", secret_file: $T/secret }
sealview:
  listen: 127.0.0.1:$PORT
  metrics_listen: 127.0.0.1:$MPORT
  store: sqlite:$T/sv.db
  smtp: smtp://127.0.0.1:$SINK_PORT
  passcode_from: no-reply@example.com
YAML
# sealview reads the keys' certificates only; the private keys are sealctl's (it seals).
"$SEALVIEW" -c "$T/sv.yaml" > "$T/sv.log" 2>&1 &
SVPID=$!
tb_register_pid "$SVPID"
# Ready when the metrics answer (not /healthz: every public response is counted).
tb_wait_for 20 curl -fs "http://127.0.0.1:$MPORT/metrics" -o /dev/null || tb_fail "sealview's metrics did not come up: $(tail "$T/sv.log")"
t_grep "sealview says where its metrics are" "metrics on http://127.0.0.1:$MPORT/metrics" "$T/sv.log"
scrape "$T/m0.txt"
out=$(check "$T/m0.txt" 'sealview_passcodes_sent_total=0' 'sealview_active_sessions=0' \
	'sealview_http_responses_total{code="2xx"}=0' 'sealview_passcode_failures_total{reason="wrong"}=0' \
	'sealview_build_info{version="0.1.0"}=1' 2>&1) && rc=0 || rc=$?
t_rc "before any request: every fixed series at 0 ($out)" 0 "$rc"

# A sealed message, registered with sealview by the same pipeline as the daemon's.
printf 'From: alice@example.com\nTo: bob@partner.test\nSubject: [secure] terms\nMessage-ID: <m1@example.com>\n\nThe terms are attached.\n' > "$T/m.eml"
rc=0
"$SEALCTL" -c "$T/sv.yaml" process "$T/m.eml" --from alice@example.com --to bob@partner.test > "$T/sealed.eml" 2> "$T/process.err" || rc=$?
t_rc "sealctl process seals and registers it" 0 "$rc"
LINK=$($PY - "$T/sealed.eml" <<'PY'
import email, re, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_content_type() == "text/plain":
        f = re.search(r"http://127\.0\.0\.1:\d+/m/[A-Za-z0-9_-]{43}", p.get_payload(decode=True).decode("utf-8", "replace"))
        if f:
            print(f.group(0)); sys.exit(0)
sys.exit("no link")
PY
) || tb_fail "no link in the sealed message: $(cat "$T/process.err")"

# The reader's visit.
rc=0
$PY "$SRCDIR/tests/cli/viewer_visit.py" "$LINK" bob@partner.test "$SINK_DIR" "http://127.0.0.1:$MPORT/metrics" \
	"$T/m-in.txt" > "$T/visit.out" 2>&1 || rc=$?
t_rc "the visit: form, passcode by mail, a wrong one, the right one, the message, sign-out ($(tail -n 1 "$T/visit.out"))" 0 "$rc"

# While signed in (scraped by the visit before signing out): one live session.
out=$(check "$T/m-in.txt" 'sealview_active_sessions=1' 'sealview_views_total=1' 'sealview_signins_total=1' 2>&1) && rc=0 || rc=$?
t_rc "signed in: one live session, one view, one sign-in ($out)" 0 "$rc"
# The passcode mail's outcome is recorded by sealview's mail thread once the MTA took it.
sent() { scrape "$T/m1.txt" && grep -q '^sealview_passcodes_sent_total 1$' "$T/m1.txt"; }
tb_wait_for 30 sent || true
# Responses on the public port: the registration (200), the form (200), the passcode page
# (200), the wrong passcode (400, the form again), the right one (303), the message (200),
# sign-out (303).
out=$(check "$T/m1.txt" \
	'sealview_passcodes_sent_total=1' 'sealview_passcode_mail_failures_total=0' \
	'sealview_passcode_failures_total{reason="wrong"}=1' 'sealview_passcode_failures_total{reason="locked"}=0' \
	'sealview_signins_total=1' 'sealview_views_total=1' 'sealview_active_sessions=0' \
	'sealview_events_total{event="register",outcome="ok"}=1' \
	'sealview_events_total{event="passcode_request",outcome="ok"}=1' \
	'sealview_events_total{event="passcode_mail",outcome="sent"}=1' \
	'sealview_events_total{event="passcode_fail",outcome="wrong"}=1' \
	'sealview_events_total{event="passcode_ok",outcome="ok"}=1' \
	'sealview_events_total{event="view",outcome="ok"}=1' \
	'sealview_http_responses_total{code="2xx"}=4' 'sealview_http_responses_total{code="3xx"}=2' \
	'sealview_http_responses_total{code="4xx"}=1' 'sealview_http_responses_total{code="5xx"}=0' \
	'sealview_store_seconds_count{op="put_message"}=1' 'sealview_store_seconds_count{op="add_passcode"}=1' \
	'sealview_store_seconds_count{op="try_passcode"}=2' 'sealview_store_seconds_count{op="session_create"}=1' \
	'sealview_store_seconds_count{op="session_delete"}=1' 2>&1) && rc=0 || rc=$?
t_rc "after the visit, every counter moved by exactly as much ($out)" 0 "$rc"
[ "$rc" = 0 ] || grep -v '^#' "$T/m1.txt" >&2
t_grep "the audit write is timed too" '^sealview_store_seconds_count\{op="audit_add"\} [1-9]' "$T/m1.txt"
t_nogrep "no address, token or passcode in the metrics" 'bob@partner|alice@example|/m/' "$T/m1.txt"

kill -TERM "$SVPID"
rc=0
wait "$SVPID" || rc=$?
t_rc "SIGTERM: a clean stop" 0 "$rc"
t_nogrep "no sanitizer report" "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/sv.log"
t_done
