#!/usr/bin/env bash
# test-guides.sh - the operations guides cannot rot. For docs/deploy-postfix.md,
# deploy-sendmail.md, key-rollover.md, hsm.md, multi-node.md and troubleshooting.md
# (tests/cli/guidecheck.py does the reading):
# - every sealctl, sealmilter and sealview command line uses commands and options the
#   programs list in their usage (README.md and every docs/*.md are held to this too);
# - every `section.key` named is a key of the generated reference (every doc too);
# - every contrib/, tests/, man/, docs/ path and relative link exists;
# - every ```yaml block loads: a block that starts with "# /etc/sealmilter/NAME.yaml" is a
#   whole file, written with its siblings under a temp root (paths under /etc, /var, /run
#   moved there; the keys, secrets, directories, SoftHSM tokens and PostgreSQL database it
#   names made there first) and checked with `sealmilter -n` (when it has milter: or
#   rules:), `sealview -n` (when it has sealview:; a postgresql:// store needs PostgreSQL,
#   started on a free loopback port with TLS), or else `sealctl check` (unless another
#   whole file includes it); any other block is a fragment,
#   and the loader must find no YAML syntax error and no unknown section, key, condition
#   or action in it;
# - every systemd drop-in they show, over its contrib/ unit, passes systemd-analyze verify;
# - docs/troubleshooting.md quotes every log message the daemons write.
# And docs/config-reference.md: every key has an example, and all the examples together
# are one configuration that `sealmilter -n` accepts.
set -uo pipefail
: "${SRCDIR:?}" "${SEALCTL:?}" "${SEALMILTER:?}" "${SEALVIEW:?}"
. "$SRCDIR/tests/cli/lib.sh"
PY=/usr/bin/python3
GC=$SRCDIR/tests/cli/guidecheck.py
GUIDES="deploy-postfix deploy-sendmail key-rollover hsm multi-node troubleshooting"
T=$(mktemp -d /tmp/sealguides.XXXXXX)
PG_BIN= PG_PORT= PG_DATA=
cleanup() {
	[ -n "$PG_DATA" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
REQUIRE=${SEALMILTER_REQUIRE_E2E:-0}
# skip_or_fail NAME WHY: a part that needs a tool that is missing.
skip_or_fail() {
	if [ "$REQUIRE" = 1 ]; then t_fail "$1" "$2"; else echo "skip - $1: $2"; fi
}

{ echo "== sealctl"; "$SEALCTL" --help; echo "== sealmilter"; "$SEALMILTER" -h; echo "== sealview"; "$SEALVIEW" -h; } > "$T/help"

# ---- every doc: commands and keys --------------------------------------------------------
for doc in "$SRCDIR/README.md" "$SRCDIR"/docs/*.md; do
	name=${doc#"$SRCDIR"/}
	if out=$("$PY" "$GC" cli "$doc" "$T/help"); then t_ok "$name: every command is real"; else t_fail "$name: every command is real" "$out"; fi
	if out=$("$PY" "$GC" keys "$doc" "$SRCDIR/docs/config-reference.md"); then
		t_ok "$name: every key named exists"
	else
		t_fail "$name: every key named exists" "$out"
	fi
done

# ---- making what a whole file names ----------------------------------------------------------
# make_file ROOT PATH: create PATH (under ROOT) as its name says: a key pair and certificate
# (issuer*, smime*, else an RSA tenant-style pair), a marker key, a DKIM key, a secret, a
# trust anchor, a directory (no dot in the name), or just its directory.
make_file() {
	local root=$1 p=$2 dir base stem
	dir=$(dirname "$p")
	base=$(basename "$p")
	[ -e "$p" ] && return 0
	mkdir -p "$dir"
	case "$base" in
	*.secret) head -c 32 /dev/urandom > "$p"; chmod 600 "$p" ;;
	marker*.key) "$SEALCTL" keys generate marker --out "$p" >/dev/null ;;
	dkim*.key) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$p" 2>/dev/null; chmod 600 "$p" ;;
	root.key)   # the root zone's KSK-2017 trust anchor, as in dns-root-data
		echo ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D" > "$p" ;;
	*.pgpass) : > "$p" ;;   # filled in once the database exists (pg_prepare)
	*.pem | *.key)
		stem=${base%.*}
		case "$stem" in
		*issuer*) "$SEALCTL" keys generate issuer --name "$stem" --out "$dir" >/dev/null ;;
		*smime*)
			openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/$stem.key" -out "$dir/$stem.pem" -days 365 \
				-subj "/CN=$stem/emailAddress=$stem@example.com" -addext "keyUsage=critical,digitalSignature" \
				-addext "extendedKeyUsage=emailProtection" -addext "subjectAltName=email:$stem@example.com" 2>/dev/null
			chmod 600 "$dir/$stem.key" ;;
		*) "$SEALCTL" keys generate tenant --name "$stem" --out "$dir" >/dev/null ;;
		esac ;;
	*.yaml | *.yml) : ;;
	*.*) : ;;
	*) mkdir -p "$p" ;;
	esac
}

# start_pg: PostgreSQL on a free loopback port with TLS (a certificate for db.example.com from
# a CA of its own, $T/pg/ca.pem) and password authentication only; PG_PORT, PG_BIN.
start_pg() {
	[ -n "$PG_PORT" ] && return 0
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || return 1
	mkdir -p "$T/pg"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/pg/ca.key" -out "$T/pg/ca.pem" -days 2 -subj /CN=test-ca \
		-addext basicConstraints=critical,CA:TRUE 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -keyout "$T/pg/server.key" -out "$T/pg/server.csr" -subj /CN=db.example.com 2>/dev/null
	openssl x509 -req -in "$T/pg/server.csr" -CA "$T/pg/ca.pem" -CAkey "$T/pg/ca.key" -CAcreateserial -days 2 \
		-extfile <(printf 'subjectAltName=DNS:db.example.com\n') -out "$T/pg/server.pem" 2>/dev/null
	chmod 600 "$T/pg/server.key"
	PG_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	PG_DATA=$T/pg/data
	echo pgadmin-pw > "$T/pg/pw"
	chown -R postgres "$T/pg"
	chmod 755 "$T"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -A scram-sha-256 -U pgadmin --pwfile="$T/pg/pw" \
		> "$T/pg/initdb.log" 2>&1 || { cat "$T/pg/initdb.log"; return 1; }
	printf 'hostssl all all 127.0.0.1/32 scram-sha-256\nlocal all pgadmin scram-sha-256\n' > "$PG_DATA/pg_hba.conf"
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$T/pg/log" -w -t 60 -o "-k $T/pg -c listen_addresses=127.0.0.1 \
		-p $PG_PORT -c fsync=off -c ssl=on -c ssl_cert_file=$T/pg/server.pem -c ssl_key_file=$T/pg/server.key" \
		start >/dev/null || { cat "$T/pg/log"; PG_DATA=; return 1; }
}

# pg_prepare ROOT HOST DB USER: the role and database of a guide's store, made as the guide
# says (docs/multi-node.md); its .pgpass files written with the role's password.
pg_prepare() {
	local root=$1 host=$2 db=$3 user=$4 pw f
	pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	PGPASSWORD=pgadmin-pw "$PG_BIN/psql" -qX "host=127.0.0.1 port=$PG_PORT user=pgadmin dbname=postgres sslmode=require" \
		-c "CREATE ROLE $user LOGIN PASSWORD '$pw'" \
		-c "CREATE DATABASE $db OWNER $user ENCODING 'UTF8' TEMPLATE template0" >/dev/null || return 1
	find "$root" -name '*.pgpass' | while read -r f; do
		printf '%s:*:%s:%s:%s\n' "$host" "$db" "$user" "$pw" > "$f"
		chmod 600 "$f"
	done
	while read -r f; do cp "$T/pg/ca.pem" "$f"; done < <(grep -rhoE "sslrootcert=[^&\" ]+" "$root" | sed 's/^sslrootcert=//' | sort -u)
}

# ---- the guides -----------------------------------------------------------------------------------
for g in $GUIDES; do
	doc=$SRCDIR/docs/$g.md
	if [ ! -f "$doc" ]; then
		t_fail "docs/$g.md exists"
		continue
	fi
	if out=$("$PY" "$GC" links "$doc" "$SRCDIR"); then t_ok "$g: every path and link exists"; else t_fail "$g: every path and link exists" "$out"; fi
	root=$T/$g
	mkdir -p "$root/frag" "$root/units"
	# systemd drop-ins, over the contrib unit (pointed at this build, as test-contrib.sh does).
	while read -r unit; do
		if ! command -v systemd-analyze >/dev/null; then
			skip_or_fail "$g: its drop-ins for $unit.service" "systemd-analyze is not installed"
			continue
		fi
		bin=$SEALMILTER
		[ "$unit" = sealview ] && bin=$SEALVIEW
		sed "s#/usr/sbin/$unit#$bin#g" "$SRCDIR/contrib/$unit.service" > "$root/units/$unit.service"
		sed -i "s#/usr/sbin/$unit#$bin#g" "$root/units/$unit.service.d"/*.conf
		out=$(SYSTEMD_UNIT_PATH=$root/units: systemd-analyze verify --man=no "$root/units/$unit.service" 2>&1)
		if [ $? = 0 ] && [ -z "$out" ]; then
			t_ok "$g: its drop-ins for $unit.service pass systemd-analyze verify"
		else
			t_fail "$g: its drop-ins for $unit.service pass systemd-analyze verify" "$out"
		fi
	done < <("$PY" "$GC" dropins "$doc" "$root/units")
	"$PY" "$GC" yaml "$doc" "$root/frag" "$root" > "$root/manifest" || { t_fail "$g: its yaml blocks can be read"; continue; }
	# Fragments: known sections, keys, conditions and actions, and valid YAML.
	while read -r i line kind path; do
		[ "$kind" = fragment ] || continue
		"$SEALMILTER" -n -c "$root/frag/$i.yaml" > "$root/frag/$i.out" 2>&1
		if grep -qE "YAML syntax error|unknown (section|key|condition|action)" "$root/frag/$i.out"; then
			t_fail "$g: the yaml block at line $line uses only real keys" "$(grep -E 'YAML syntax|unknown' "$root/frag/$i.out")"
		else
			t_ok "$g: the yaml block at line $line uses only real keys"
		fi
	done < "$root/manifest"
	# Whole files: make what they name, then load them.
	mapfile -t wholes < <(awk '$3 == "whole" { print $4 }' "$root/manifest")
	[ ${#wholes[@]} -gt 0 ] || continue
	need_pg=0 need_hsm=0 usable=1
	while read -r what a b c d; do
		case "$what" in
		path) case "$a" in "$root"/*) make_file "$root" "$a" ;; esac ;;
		include) [ -e "$a" ] || printf 'rules: []\n' > "$a" ;;
		p11) need_hsm=1 ;;
		pg) need_pg=1 ;;
		esac
	done < <("$PY" "$GC" needs "${wholes[@]}")
	if [ "$need_hsm" = 1 ]; then
		if ! command -v softhsm2-util >/dev/null || [ ! -f /usr/lib/softhsm/libsofthsm2.so ]; then
			skip_or_fail "$g: the token its files name" "softhsm2 is not installed (scripts/install-deps.sh installs it)"
			usable=0
		else
			export SOFTHSM2_CONF=$root/softhsm2.conf
			mkdir -p "$root/tokens"
			printf 'directories.tokendir = %s/tokens\n' "$root" > "$SOFTHSM2_CONF"
			while read -r what token object pin cert; do
				[ "$what" = p11 ] || continue
				softhsm2-util --show-slots 2>/dev/null | grep -q "Label: *$token *$" ||
					softhsm2-util --init-token --free --label "$token" --pin "$pin" --so-pin "so-$pin" >/dev/null
				key=${cert%.pem}.key
				openssl pkcs8 -topk8 -nocrypt -in "$key" -out "$key.p8"
				softhsm2-util --import "$key.p8" --token "$token" --label "$object" --id "$(printf '%02x' $((RANDOM % 250)))" \
					--pin "$pin" >/dev/null
				rm -f "$key" "$key.p8"       # the private key lives only in the token now
			done < <("$PY" "$GC" needs "${wholes[@]}")
		fi
	fi
	if [ "$need_pg" = 1 ]; then
		if ! start_pg; then
			skip_or_fail "$g: the PostgreSQL store its files name" "PostgreSQL is not installed or did not start"
			usable=0
		else
			while read -r what host db user; do
				[ "$what" = pg ] && pg_prepare "$root" "$host" "$db" "$user"
			done < <("$PY" "$GC" needs "${wholes[@]}")
			for f in "${wholes[@]}"; do "$PY" "$GC" pgmap "$f" "$PG_PORT"; done
		fi
	fi
	[ "$usable" = 1 ] || continue
	mapfile -t parts < <("$PY" "$GC" needs "${wholes[@]}" | sed -n 's/^include //p')
	for f in "${wholes[@]}"; do
		rel=${f#"$root"}
		checked=0
		if grep -qE '^(milter|rules):' "$f"; then
			checked=1
			if out=$("$SEALMILTER" -n -c "$f" 2>&1); then
				t_ok "$g: sealmilter -n accepts $rel"
			else
				t_fail "$g: sealmilter -n accepts $rel" "$out"
			fi
		fi
		if grep -qE '^sealview:' "$f"; then
			checked=1
			if out=$("$SEALVIEW" -n -c "$f" 2>&1); then
				t_ok "$g: sealview -n accepts $rel (and opens its store)"
			else
				t_fail "$g: sealview -n accepts $rel (and opens its store)" "$out"
			fi
		fi
		# A file of its own for sealctl (not a part another file includes).
		if [ "$checked" = 0 ] && ! printf '%s\n' "${parts[@]}" | grep -qxF "$f"; then
			if out=$("$SEALCTL" -c "$f" check 2>&1); then
				t_ok "$g: sealctl check accepts $rel"
			else
				t_fail "$g: sealctl check accepts $rel" "$out"
			fi
		fi
	done
	unset SOFTHSM2_CONF
done

# ---- the log messages ---------------------------------------------------------------------------
if out=$("$PY" "$GC" logs "$SRCDIR/docs/troubleshooting.md" "$SRCDIR"); then
	t_ok "troubleshooting: every log message of the daemons is explained"
else
	t_fail "troubleshooting: every log message of the daemons is explained" "$out"
fi

# ---- the reference's examples ---------------------------------------------------------------------
missing=$(grep -E '^\| `[a-z_]+\.[a-z_]+` \|' "$SRCDIR/docs/config-reference.md" | grep -vE '\| `[^`]+` \| [^|]+ \|$' || true)
if [ -z "$missing" ]; then t_ok "reference: every key has an example"; else t_fail "reference: every key has an example" "$missing"; fi
root=$T/examples
mkdir -p "$root/etc/sealmilter"
{ echo "# /etc/sealmilter/examples.yaml"; "$PY" "$GC" examples "$SRCDIR/docs/config-reference.md"; } |
	"$PY" -c 'import re, sys; sys.stdout.write(re.sub(r"(?<![\w./])/((?:etc|var|run|usr/share/dns)/)", sys.argv[1] + r"/\1", sys.stdin.read()))' "$root" \
	> "$root/etc/sealmilter/examples.yaml"
while read -r what a rest; do
	case "$what" in
	path) case "$a" in "$root"/*) make_file "$root" "$a" ;; esac ;;
	include) [ -e "$a" ] || printf 'rules: []\n' > "$a" ;;
	esac
done < <("$PY" "$GC" needs "$root/etc/sealmilter/examples.yaml")
if out=$("$SEALMILTER" -n -c "$root/etc/sealmilter/examples.yaml" 2>&1); then
	t_ok "reference: the examples together are a valid configuration"
else
	t_fail "reference: the examples together are a valid configuration" "$out"
fi
t_done
