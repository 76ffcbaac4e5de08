# common.sh - shared set-up for the end-to-end tests: the test bed and the assertion
# helpers, skip or fail when the MTA is missing, a sealmilter configuration, and
# starting/stopping sealmilter. Source it first; it needs SRCDIR, SEALCTL, SEALMILTER.
: "${SRCDIR:?}" "${SEALCTL:?}" "${SEALMILTER:?}"
. "$SRCDIR/tests/e2e/testbed.sh"
. "$SRCDIR/tests/cli/lib.sh"

# e2e_require CMD...: skip (77) when a command is missing, unless SEALMILTER_REQUIRE_E2E=1 (CI).
e2e_require() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1 && [ ! -x "$c" ]; then
			if [ "${SEALMILTER_REQUIRE_E2E:-0}" = 1 ]; then
				echo "FAIL: $c is not installed (scripts/install-deps.sh installs it)" >&2
				exit 1
			fi
			echo "SKIP: $c is not installed"
			exit 77
		fi
	done
}

# e2e_config FILE [extra rules YAML]: the test policy.
e2e_config() {
	mkdir -p "$TB/spool"
	[ -f "$TB/marker.key" ] || "$SEALCTL" keys generate marker --out "$TB/marker.key" >/dev/null
	cat > "$1" <<YAML
organization:
  name: Example Corp
  domains: [example.com]
  trusted_networks: [127.0.0.0/8]
milter:
  spool_dir: $TB/spool
  marker_key_file: $TB/marker.key
patterns:
  card: { regex: '\b(?:\d[ -]?){13,19}\b', check: luhn }
rules:
  - name: secure-subject
    if:
      direction: outbound
      subject: { contains: ["[secure]"], strip: true }
      recipients: { any: { not_in: organization } }
    then:
      tag: { header: X-Sealmilter-Rule, value: ${E2E_TAG_VALUE:-secure-subject} }
  - name: card-numbers
    if: { body: { pattern: card } }
    then: { tag: { header: X-Sealmilter-DLP, value: card } }
  - name: no-executables
    if: { attachment: { filename: ["*.exe", "*.scr"] } }
    then: { reject: "5.7.1 Executable attachments are not accepted" }
${2:-}
YAML
}

# e2e_seal_config FILE [extra rules YAML]: the test policy with the secure-subject rule
# sealing under do-not-forward, with a tenant key t2026 and an issuer key made in $TB/keys.
e2e_seal_config() {
	mkdir -p "$TB/keys"
	[ -f "$TB/keys/t2026.pem" ] || "$SEALCTL" keys generate tenant --name t2026 --out "$TB/keys" >/dev/null
	[ -f "$TB/keys/issuer.pem" ] || "$SEALCTL" keys generate issuer --out "$TB/keys" >/dev/null
	e2e_config "$@"
	/usr/bin/python3 - "$1" "$TB/keys" <<'PY'
import sys
p, k = sys.argv[1], sys.argv[2]
s = open(p).read()
tag = "      tag: { header: X-Sealmilter-Rule, value: secure-subject }"
assert tag in s, "e2e_seal_config: the secure-subject tag rule is missing"
s = s.replace(tag, "      seal: do-not-forward")
s += ("keys:\n  tenant: [ { id: t2026, cert: %s/t2026.pem, key: %s/t2026.key } ]\n"
      "  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\n"
      "templates:\n  do-not-forward: { rights: [view, reply, reply_all], expires: 30d }\n" % (k, k, k, k))
open(p, "w").write(s)
PY
}

# e2e_stock_open LABEL MSG KEY CERT OUT: open MSG's message.sealed attachment with stock
# openssl alone, as the sealing issue specifies: verify the issuer's signature, then decrypt
# with the tenant KEY and CERT into OUT. Each step is a check.
e2e_stock_open() {
	local label=$1 msg=$2 key=$3 cert=$4 out=$5
	/usr/bin/python3 - "$msg" "$out.der" <<'PY' || true
import email, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_filename() == "message.sealed":
        open(sys.argv[2], "wb").write(p.get_payload(decode=True))
        sys.exit(0)
sys.exit("no message.sealed attachment in " + sys.argv[1])
PY
	t_check "$label: stock openssl verifies the policy signature" \
		openssl cms -verify -inform DER -in "$out.der" -CAfile "$TB/keys/issuer.pem" -out "$out.inner"
	t_check "$label: and decrypts with the tenant key" \
		openssl cms -decrypt -inform DER -in "$out.inner" -inkey "$key" -recip "$cert" -out "$out"
}

# e2e_start_milter CONFIG: start sealmilter in the foreground on a free port (sets MILTER_PORT, MILTER_PID, MILTER_LOG).
e2e_start_milter() {
	MILTER_PORT=${MILTER_PORT:-$(tb_free_port)}
	MILTER_LOG=$TB/sealmilter.log
	"$SEALMILTER" -f -c "$1" -p "inet:$MILTER_PORT@127.0.0.1" >> "$MILTER_LOG" 2>&1 &
	MILTER_PID=$!
	tb_register_pid "$MILTER_PID"
	if ! tb_wait_port "$MILTER_PORT" 20; then
		cat "$MILTER_LOG" >&2
		tb_fail "sealmilter did not start listening on $MILTER_PORT"
	fi
}

# e2e_keys_yaml DIR: make a tenant key (t1) and an issuer key in DIR, and print the keys: and
# templates: (do-not-forward) sections that use them.
e2e_keys_yaml() {
	"$SEALCTL" keys generate tenant --name t1 --out "$1" >/dev/null
	"$SEALCTL" keys generate issuer --out "$1" >/dev/null
	printf 'keys:\n  tenant: [ { id: t1, cert: %s/t1.pem, key: %s/t1.key } ]\n  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\n' \
		"$1" "$1" "$1" "$1"
	printf 'templates:\n  do-not-forward: { rights: [view, reply], expires: 30d }\n'
}

# e2e_start_dns ZONE [DNSMASQ ARG...]: a real DNS server (dnsmasq) on a free loopback port
# serving the TXT records in ZONE ("name<TAB>record" lines; a name may repeat for several
# records; records longer than 255 bytes are split into several strings, as in real DNS).
# Names under example.net and example.org that are not listed answer NXDOMAIN. TTL 300 s.
# Sets DNS_PORT, DNS_PID and DNS_LOG (every query is logged there).
e2e_start_dns() {
	local zone=$1 name rec args=() parts
	shift
	while IFS=$'\t' read -r name rec; do
		[ -n "$name" ] || continue
		parts=$(printf '%s' "$rec" | fold -w 255 | paste -sd, -)
		args+=("--txt-record=$name,$parts")
	done < "$zone"
	DNS_PORT=$(tb_free_port)
	DNS_LOG=$TB/dnsmasq.log
	dnsmasq -k --conf-file=/dev/null --port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces \
		--no-resolv --no-hosts --user=root --pid-file="$TB/dnsmasq.pid" --local-ttl=300 \
		--local=/example.net/ --local=/example.org/ --log-queries --log-facility="$DNS_LOG" \
		"${args[@]}" "$@" 2>> "$TB/dnsmasq.err" &
	DNS_PID=$!
	tb_register_pid "$DNS_PID"
	if ! tb_wait_for 10 e2e__udp_listening "$DNS_PORT"; then
		cat "$TB/dnsmasq.err" >&2
		tb_fail "dnsmasq did not start on $DNS_PORT"
	fi
}
e2e__udp_listening() { ss -Hlun "( sport = :$1 )" 2>/dev/null | grep -qF "127.0.0.1:$1 "; }

# e2e_stop_milter: SIGTERM and wait; the exit status must be 0 (no sanitizer error, clean stop).
e2e_stop_milter() {
	local rc=0
	kill -TERM "$MILTER_PID"
	wait "$MILTER_PID" || rc=$?
	if [ "$rc" -ne 0 ]; then
		t_fail "sealmilter stopped cleanly" "exit status $rc; log: $(tail -n 40 "$MILTER_LOG")"
	else
		t_ok "sealmilter stopped cleanly on SIGTERM"
	fi
}

# e2e_sanitizer_clean: no ASan/UBSan/LSan report in the milter log.
e2e_sanitizer_clean() {
	t_nogrep "no sanitizer report from sealmilter" "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$MILTER_LOG"
}

# e2e_latest DIR: the newest delivered message file.
e2e_latest() { find "$1" -maxdepth 1 -name '*.eml' | sort | tail -n 1; }
e2e_count() { find "$1" -maxdepth 1 -name '*.eml' | wc -l; }

# e2e_send PORT NAME FROM RCPT... < msg: send by SMTP; sets REPLY and SEND_RC (0, 4, 5; 1: no connection).
e2e_send() {
	local port=$1 name=$2
	shift 2
	SEND_RC=0
	REPLY=$(tb_smtp_send "$port" "$@") || SEND_RC=$?
	echo "  $name: $REPLY"
}

# e2e_start_pg: a real PostgreSQL 15 on a free loopback port, in $TB/pg (initdb as user
# postgres, trust authentication on loopback). Sets PG_URL (a fresh database "sealview"),
# PG_PORT and PG_BIN; the server stops at cleanup.
e2e_start_pg() {
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	e2e_require "$PG_BIN/initdb" runuser
	PG_PORT=$(tb_free_port)
	mkdir -p "$TB/pg"
	chown postgres "$TB/pg"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$TB/pg/data" -A trust -U sealtest > "$TB/pg/initdb.log" 2>&1 ||
		{ cat "$TB/pg/initdb.log" >&2; tb_fail "initdb failed"; }
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$TB/pg/data" -l "$TB/pg/log" -w -t 60 \
		-o "-k $TB/pg -c listen_addresses=127.0.0.1 -p $PG_PORT -c fsync=off" start > /dev/null ||
		{ cat "$TB/pg/log" >&2; tb_fail "PostgreSQL did not start"; }
	tb_on_cleanup "runuser -u postgres -- '$PG_BIN/pg_ctl' -D '$TB/pg/data' -m fast -w stop >/dev/null 2>&1 || true"
	"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U sealtest sealview
	PG_URL="postgresql://sealtest@127.0.0.1:$PG_PORT/sealview"
}

# e2e_start_sealview CONFIG NAME: start sealview in the foreground; waits for sealview.listen's
# port (given as SV_PORT). Sets SV_PID_<NAME> and SV_LOG_<NAME> ($TB/sealview-NAME.log).
e2e_start_sealview() {
	local cfg=$1 name=$2 port=$3 log=$TB/sealview-$2.log pid
	"$SEALVIEW" -c "$cfg" >> "$log" 2>&1 &
	pid=$!
	tb_register_pid "$pid"
	printf -v "SV_PID_$name" '%s' "$pid"
	printf -v "SV_LOG_$name" '%s' "$log"
	if ! tb_wait_port "$port" 20; then
		cat "$log" >&2
		tb_fail "sealview $name did not start listening on $port"
	fi
}

# e2e_stop_sealview NAME: SIGTERM; the exit status must be 0 and its log free of sanitizer reports.
e2e_stop_sealview() {
	local pidv=SV_PID_$1 logv=SV_LOG_$1 rc=0
	kill -TERM "${!pidv}"
	wait "${!pidv}" || rc=$?
	t_rc "sealview $1 stopped cleanly on SIGTERM" 0 "$rc"
	t_nogrep "no sanitizer report from sealview $1" "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "${!logv}"
}
