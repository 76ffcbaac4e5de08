#!/usr/bin/env bash
# test-contrib.sh - the systemd units in contrib/ are valid (systemd-analyze verify, with
# ExecStart pointed at this build) and keep the hardening issue 8 asks for: no new
# privileges, a read-only system, a private /tmp, a syscall filter, no capabilities, and
# write access to their own directory only. And contrib/nginx-sealview.conf: nginx -t accepts
# it, and a real nginx on loopback with it (in front of a stand-in upstream) hides the admin
# API, redirects HTTP to HTTPS and answers 429 beyond its rate limits.
set -euo pipefail
. "$SRCDIR/tests/cli/lib.sh"
: "${SEALVIEW:?}" "${SEALMILTER:?}"
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
	out=$(systemd-analyze verify "$T/$u.service" 2>&1) && rc=0 || rc=$?
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
t_done
