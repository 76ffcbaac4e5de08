#!/usr/bin/env bash
# test-contrib.sh - the systemd units in contrib/ are valid (systemd-analyze verify, with
# ExecStart pointed at this build) and keep the hardening issue 8 asks for: no new
# privileges, a read-only system, a private /tmp, a syscall filter, no capabilities, and
# write access to their own directory only. The full example configuration (the Debian
# package's /etc/sealmilter/sealmilter.yaml) passes sealmilter -n with its keys made, and
# sealview -n with its commented viewer sections turned on, and mentions every key, section,
# condition and action of `sealctl config-reference`. And
# contrib/nginx-sealview.conf: nginx -t accepts it, and a real nginx on loopback with it (in front
# of a stand-in upstream) hides the admin API, redirects HTTP to HTTPS and answers 429 beyond its
# rate limits.
set -euo pipefail
. "$SRCDIR/tests/cli/lib.sh"
: "${SEALVIEW:?}" "${SEALMILTER:?}" "${SEALCTL:?}"
T=$(mktemp -d /tmp/sealcontrib.XXXXXX)
trap 'rm -rf "$T"' EXIT
if ! command -v systemd-analyze >/dev/null; then
	t_fail "systemd-analyze is installed (scripts/install-deps.sh installs systemd)"
	t_done
fi
for u in sealmilter sealview; do
	src=$SRCDIR/contrib/$u.service
	bin=$SEALMILTER
	[ "$u" = sealview ] && bin=$SEALVIEW
	sed "s#/usr/sbin/$u#$bin#g" "$src" > "$T/$u.service"
	# --man=no: the Documentation= pages are not installed here (test-package.sh checks them).
	out=$(systemd-analyze verify --man=no "$T/$u.service" 2>&1) && rc=0 || rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ]; then
		t_ok "$u.service: systemd-analyze verify is clean"
	else
		t_fail "$u.service: systemd-analyze verify is clean" "exit $rc: $out"
	fi
	for line in '^NoNewPrivileges=yes$' '^ProtectSystem=strict$' '^PrivateTmp=yes$' '^SystemCallFilter=@system-service$' \
		'^CapabilityBoundingSet=$' '^ReadWritePaths=/var/' '^User=' '^UMask=00'; do
		t_grep "$u.service has $line" "$line" "$src"
	done
done

# The full example, with its paths moved into $T and the keys it names made as the package's
# postinst makes them.
full=$SRCDIR/contrib/sealmilter-full.yaml
mkdir -p "$T/keys" "$T/spool"
"$SEALCTL" keys generate tenant --name t1 --out "$T/keys" >/dev/null
"$SEALCTL" keys generate issuer --out "$T/keys" >/dev/null
"$SEALCTL" keys generate marker --out "$T/keys/marker.key" >/dev/null
sed -e "s#/etc/sealmilter/keys/#$T/keys/#g; s#/var/spool/sealmilter#$T/spool#" "$full" > "$T/full.yaml"
t_nogrep "the full example names no path left outside the test's directory" \
	'^[^#]*(/etc/sealmilter/keys|/var/spool/sealmilter)' "$T/full.yaml"
out=$("$SEALMILTER" -n -c "$T/full.yaml" 2>&1) && rc=0 || rc=$?
t_rc "sealmilter -n accepts the full example" 0 "$rc"
printf '%s\n' "$out" > "$T/full.out"
t_grep "it has the example's rules and pattern" 'OK \(3 rules, 1 patterns\)' "$T/full.out"
t_grep "its tenant key seals new mail" '^ok +tenant t1: .* seals new mail' "$T/full.out"
"$SEALCTL" -c "$T/full.yaml" process "$SRCDIR/tests/data/msg/secure.eml" > "$T/sealed.eml" 2>/dev/null
t_grep "as it is, it seals mail asking for it" '^X-Sealmilter-Sealed: v=1; template=confidential;' "$T/sealed.eml"
# A section that is commented out as a whole turns on by removing the first "#" of its lines.
awk '/^#(limits|dns|dkim|smime|viewer|sealview):$/ { on = 1 } /^[^#]/ || /^$/ { on = 0 }
	{ print (on ? substr($0, 2) : $0) }' "$T/full.yaml" |
	sed -e "s#/etc/sealmilter/viewer.secret#$T/viewer.secret#; s#sqlite:/var/lib/sealview/#sqlite:$T/#" > "$T/all.yaml"
head -c 32 /dev/urandom > "$T/viewer.secret"
chmod 600 "$T/viewer.secret"
t_grep "the viewer section turns on that way" '^viewer:$' "$T/all.yaml"
out=$("$SEALMILTER" -n -c "$T/all.yaml" 2>&1) && rc=0 || rc=$?
t_rc "sealmilter -n accepts it with every commented section on" 0 "$rc"
out=$("$SEALVIEW" -n -c "$T/all.yaml" 2>&1) && rc=0 || rc=$?
t_rc "sealview -n accepts it too" 0 "$rc"
# Completeness: each key (section.name) appears as "name:" inside its section, commented
# or not; each section, condition and action as "name:" anywhere.
"$SEALCTL" config-reference > "$T/ref.md"
keys=$(sed -nE 's/^\| `([a-z_]+\.[a-z_]+)` \|.*/\1/p' "$T/ref.md")
t_check "config-reference lists keys" test "$(printf '%s\n' "$keys" | wc -l)" -gt 40
missing=
for k in $keys; do
	sec=${k%%.*} name=${k#*.}
	awk -v sec="$sec" -v name="$name" '
		{ line = $0; sub(/^#/, "", line) }
		line ~ /^[a-z_]+:/ { cur = line; sub(/:.*/, "", cur); next }
		cur == sec && line ~ ("^ *(# *)?" name ":") { found = 1 }
		END { exit !found }' "$full" || missing="$missing $k"
done
t_check "every key is in the full example${missing:+ (missing:$missing)}" test -z "$missing"
missing=
for w in $(sed -nE 's/^- `([a-z_]+)`:.*/\1/p; s/^\| `([a-z_]+)` \| `.*/\1/p' "$T/ref.md"); do
	grep -qE "(^|[ {#])$w:" "$full" || missing="$missing $w"
done
t_check "every section, condition and action is in it${missing:+ (missing:$missing)}" test -z "$missing"

# --- nginx in front of sealview
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
	t_fail "nginx is installed (scripts/install-deps.sh installs nginx-light)"
	t_done
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HTTPS=$(free_port) HTTP=$(free_port) UP=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
	-subj "/CN=secure.example.com" 2>/dev/null
sed -e "s#/etc/ssl/secure.example.com/fullchain.pem#$T/cert.pem#; s#/etc/ssl/secure.example.com/privkey.pem#$T/key.pem#" \
	-e "s#listen 443 ssl http2;#listen 127.0.0.1:$HTTPS ssl http2;#; /listen \[::\]/d; s#listen 80;#listen 127.0.0.1:$HTTP;#" \
	-e "s#127.0.0.1:8025#127.0.0.1:$UP#" "$SRCDIR/contrib/nginx-sealview.conf" > "$T/sealview.conf"
t_check "the test copy points both locations at the stand-in" test "$(grep -c "proxy_pass http://127.0.0.1:$UP;" "$T/sealview.conf")" = 2
mkdir -p "$T/www/m/tok"
echo page > "$T/www/index.html"
echo form > "$T/www/m/tok/code"
cat > "$T/nginx.conf" <<NGX
daemon off;
pid $T/nginx.pid;
error_log $T/error.log;
events { worker_connections 64; }
http {
	access_log $T/access.log;
	client_body_temp_path $T/body;
	proxy_temp_path $T/proxy;
	fastcgi_temp_path $T/fcgi;
	uwsgi_temp_path $T/uwsgi;
	scgi_temp_path $T/scgi;
	include $T/sealview.conf;
}
NGX
out=$("$NGINX" -t -p "$T" -c "$T/nginx.conf" 2>&1) && rc=0 || rc=$?
t_rc "nginx -t accepts contrib/nginx-sealview.conf" 0 "$rc"
[ "$rc" = 0 ] || echo "$out"
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$UP" > "$T/upstream.log" 2>&1 &
UPID=$!
"$NGINX" -p "$T" -c "$T/nginx.conf" > "$T/nginx.out" 2>&1 &
NPID=$!
trap 'kill $UPID $NPID 2>/dev/null || true; rm -rf "$T"' EXIT
for _ in $(seq 100); do
	curl -sk -o /dev/null "https://127.0.0.1:$HTTPS/" && curl -s -o /dev/null "http://127.0.0.1:$UP/" && break
	sleep 0.1
done
code() { curl -sk -o /dev/null -w '%{http_code}' "$@" || true; }
t_rc "a page is passed to sealview over TLS" 200 "$(code "https://127.0.0.1:$HTTPS/")"
t_rc "the admin API is hidden (404 from nginx)" 404 "$(code "https://127.0.0.1:$HTTPS/api/v1/audit")"
t_nogrep "and never reaches sealview" 'GET /api/' "$T/upstream.log"
t_rc "plain HTTP is redirected to HTTPS" 301 "$(code "http://127.0.0.1:$HTTP/m/tok")"
codes=$(for _ in $(seq 12); do code "https://127.0.0.1:$HTTPS/m/tok/code"; echo; done | tr '\n' ' ')
# 10 a minute with a burst of 5: the first 6 pass at once, then 429.
t_check "the passcode form: 6 pass, then 429 ($codes)" test "$(echo "$codes" | cut -d' ' -f1-6)" = "200 200 200 200 200 200" -a \
	"$(echo "$codes" | cut -d' ' -f7-12)" = "429 429 429 429 429 429"
codes=$(for _ in $(seq 60); do code "https://127.0.0.1:$HTTPS/"; echo; done)
ok=$(grep -c '^200$' <<< "$codes" || true) lim=$(grep -c '^429$' <<< "$codes" || true)
t_check "pages: the burst of 40 passes, then 429 ($ok passed, $lim refused)" test "$ok" -ge 41 -a "$lim" -ge 1 -a $((ok + lim)) = 60
kill "$NPID" "$UPID" 2>/dev/null || true
wait "$NPID" 2>/dev/null || true

# The Prometheus files: YAML, and every metric an alert uses is one the daemons export
# (docs/operations.md lists them).
for f in prometheus.yml sealmilter-alerts.yml; do
	t_check "$f is YAML" /usr/bin/python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$SRCDIR/contrib/$f"
done
for m in $(grep -oE '(sealmilter|sealview)_[a-z_]+' "$SRCDIR/contrib/sealmilter-alerts.yml" | sed -E 's/_(bucket|sum|count)$//' | sort -u); do
	bt='`'
	t_grep "the alerts' $m is a documented metric" "^\\| $bt$m$bt \\|" "$SRCDIR/docs/operations.md"
done
t_done
