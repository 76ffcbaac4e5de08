#!/usr/bin/env bash
# test-store-pg.sh - sealview's store on PostgreSQL: starts a PostgreSQL server of its own
# (initdb in a temp dir, trust authentication, a free loopback port, its socket in the
# data dir), creates a database, and runs the store's unit tests (tests/unit/test_store)
# against it; every test there works in a schema of its own, dropped at its end. The
# server is always stopped and the dir removed. Without PostgreSQL: skipped, or a failure
# when SEALMILTER_REQUIRE_E2E=1. PGBIN may name the server's bin directory.
set -uo pipefail
: "${SRCDIR:?}" "${BUILDDIR:?}"
. "$SRCDIR/tests/cli/lib.sh"
TEST_STORE=$BUILDDIR/tests/unit/test_store
if [ -z "${PGBIN:-}" ]; then
	PGBIN=/usr/lib/postgresql/15/bin
	[ -x "$PGBIN/initdb" ] || PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
skip() {
	if [ "${SEALMILTER_REQUIRE_E2E:-0}" = 1 ]; then
		echo "FAIL: $1 (scripts/install-deps.sh installs PostgreSQL)" >&2
		exit 1
	fi
	echo "SKIP: $1"
	exit 77
}
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] && [ -x "$PGBIN/psql" ] ||
	skip "PostgreSQL (initdb, pg_ctl, psql) is not installed"
if [ ! -x "$TEST_STORE" ]; then
	echo "SKIP: $TEST_STORE was not built (no Check)"
	exit 77
fi
# initdb refuses to run as root: then the server runs as postgres.
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || skip "there is no postgres user to run the server as"
	as_pg() { runuser -u postgres -- "$@"; }
else
	as_pg() { "$@"; }
fi

T=$(mktemp -d /tmp/sealpg-XXXXXX)
chmod 0755 "$T"
DATA=$T/data
STARTED=0
cleanup() {
	if [ "$STARTED" = 1 ]; then
		as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1
	fi
	rm -rf "$T"
}
trap cleanup EXIT
mkdir "$DATA"
chmod 0700 "$DATA"
[ "$(id -u)" = 0 ] && chown postgres "$DATA"

if ! as_pg "$PGBIN/initdb" -D "$DATA" -A trust -U sealtest -E UTF8 --locale=C --no-sync > "$T/initdb.log" 2>&1; then
	t_fail "initdb" "$(tail -n 20 "$T/initdb.log")"
	t_done
	exit 1
fi

# A free port below the ephemeral range; retried if another process takes it first.
free_port() {
	local lo hi port i
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { lo=32768; hi=60999; }
	for ((i = 0; i < 500; i++)); do
		port=$(( 15000 + (RANDOM * 32768 + RANDOM) % 17000 ))
		if [ "$port" -ge "$lo" ] && [ "$port" -le "$hi" ]; then continue; fi
		if [ -n "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]; then continue; fi
		echo "$port"
		return 0
	done
	return 1
}
for attempt in 1 2 3; do
	PORT=$(free_port) || break
	if as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
		-o "-k $DATA -c listen_addresses=127.0.0.1 -p $PORT -c fsync=off -c max_connections=200" \
		start > "$T/pg_ctl.log" 2>&1; then
		STARTED=1
		break
	fi
done
if [ "$STARTED" != 1 ]; then
	t_fail "the server starts" "$(cat "$T/pg_ctl.log"; tail -n 20 "$DATA/server.log" 2>/dev/null)"
	t_done
	exit 1
fi
t_ok "PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$PORT"

psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U sealtest "$@"; }
psql -d postgres -c "CREATE DATABASE sealstore ENCODING 'UTF8' TEMPLATE template0" > "$T/psql.log" 2>&1
t_rc "the test database is created" 0 $?

URI=postgresql://sealtest@127.0.0.1:$PORT/sealstore
SEALVIEW_TEST_STORE=$URI "$TEST_STORE" > "$T/unit.log" 2>&1
rc=$?
cat "$T/unit.log"
t_rc "the store's unit tests pass on PostgreSQL" 0 "$rc"
t_grep "they ran against PostgreSQL, all of them" "^100%: Checks: [0-9]+, Failures: 0, Errors: 0" "$T/unit.log"

left=$(psql -d sealstore -tAc "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'sv_test_%'" 2>&1)
t_rc "every test dropped its schema" 0 "$left"

# sealview shows its store without the password, in -n and in its start-up line (the server
# trusts loopback here, so any password connects).
if [ -n "${SEALVIEW:-}" ] && [ -n "${SEALCTL:-}" ]; then
	"$SEALCTL" keys generate issuer --out "$T" >/dev/null
	"$SEALCTL" keys generate tenant --name t1 --out "$T" >/dev/null
	head -c 32 /dev/urandom > "$T/secret"
	chmod 600 "$T/secret"
	SVP=$(free_port)
	cat > "$T/sv.yaml" <<YAML
organization: { domains: [example.com] }
keys:
  tenant: [ { id: t1, cert: $T/t1.pem } ]
  issuer: { cert: $T/issuer.pem }
viewer: { public_url: "http://127.0.0.1:$SVP", api_url: "http://127.0.0.1:$SVP", secret_file: $T/secret }
sealview:
  listen: 127.0.0.1:$SVP
  store: "postgresql://sealtest:Pw-s3cret-42@127.0.0.1:$PORT/sealstore?password=Pw-s3cret-43"
  passcode_from: no-reply@example.com
YAML
	"$SEALVIEW" -n -c "$T/sv.yaml" > "$T/svn.out" 2>&1
	t_rc "sealview -n connects with a password in the URI" 0 $?
	t_grep "and names the store" "OK \(store postgresql://sealtest@127.0.0.1:$PORT/sealstore," "$T/svn.out"
	t_nogrep "without the password" "Pw-s3cret" "$T/svn.out"
	"$SEALVIEW" -c "$T/sv.yaml" > "$T/sv.log" 2>&1 &
	svpid=$!
	for _ in $(seq 100); do grep -q 'listening on' "$T/sv.log" && break; sleep 0.1; done
	kill -TERM "$svpid" 2>/dev/null
	wait "$svpid" 2>/dev/null
	t_grep "sealview's start-up line names the store" "listening on 127.0.0.1:$SVP \(store postgresql://sealtest@" "$T/sv.log"
	t_nogrep "without the password" "Pw-s3cret" "$T/sv.log"
fi
t_nogrep "no deadlock or crash in the server log" "deadlock detected|PANIC|terminated by signal" "$DATA/server.log"
t_done
