#!/usr/bin/env bash
# test-package.sh - the Debian packages from a clean copy of the source to a sealed test mail,
# then an upgrade, a removal and a purge, on this machine:
#   1. build sealmilter and sealview with dpkg-buildpackage -us -uc -b from a copy of the
#      files git knows (as checked out, no build products), and run lintian on them;
#   2. install both with apt-get, and check the files, owners, modes, system users, conffile,
#      the keys postinst made, the units (systemd-analyze verify) and that the packaged
#      configuration passes sealmilter -n;
#   3. start the packaged sealmilter the way its unit does, and send a test mail matching
#      the packaged seal rule through a private Postfix: the sink gets it sealed (no plaintext),
#      and sealctl open and stock openssl (with the packaged keys) restore the bytes sent;
#   4. upgrade to a higher version of the same build: the edited configuration and every key
#      are kept, nothing is regenerated, and the restarted daemon seals with the same key;
#   5. configure sealview as its README.Debian says and start it the way its unit does: it
#      serves /healthz and its signed admin API, as user sealview, from /var/lib/sealview; with
#      sealmilter on the same host (the secret shared as owner and group), a sealed mail is
#      registered with it;
#   6. remove (configuration, keys, spool kept), then purge (all that the package made gone,
#      a file the administrator added kept). apt-get does both (it runs dpkg --remove and
#      dpkg --purge) because it waits for the dpkg lock that other jobs may hold.
# There is no systemd running as PID 1 on the CI machine, so "the way the unit does" is done
# here: the ExecStartPre= and ExecStart= command lines are read from the installed unit and run
# as its User= and Group=, with its UMask=, RuntimeDirectory= and StateDirectory= made as
# systemd makes them, no new privileges, an empty capability bounding set, / as the working
# directory and a clean environment. The rest of the sandbox (ProtectSystem=, the syscall
# filter) is systemd's and is checked only by systemd-analyze verify.
#
# It changes the machine (installs and purges packages, makes system users; cleanup purges
# the packages and deletes the users it made, even when a check fails), so it is not part of
# make check: scripts/test-all.sh runs it as a CI step. Run as root, on a machine where neither
# package is installed. Exit 0 when every check passed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
SRCDIR=${SRCDIR:-$top}
. "$SRCDIR/tests/e2e/testbed.sh"
. "$SRCDIR/tests/cli/lib.sh"
PATH=$PATH:/usr/sbin:/sbin
t0=$(date +%s)

[ "$(id -u)" = 0 ] || { echo "FAIL: test-package.sh installs packages: run it as root" >&2; exit 1; }
for c in dpkg-buildpackage dh lintian apt-get dpkg-deb setpriv systemd-analyze postfix git curl openssl; do
	command -v "$c" >/dev/null || { echo "FAIL: $c is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
[ -x /usr/bin/python3 ] || { echo "FAIL: /usr/bin/python3 is not installed" >&2; exit 1; }
# Other jobs on the machine may hold the dpkg lock for a while: wait for it.
APT="env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600"
pkg_status() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || echo not-installed; }
for p in sealmilter sealview; do
	s=$(pkg_status "$p")
	if [ "$s" != not-installed ]; then
		echo "FAIL: package $p is on this machine ($s); this test installs and purges it:" \
			"dpkg --purge $p first" >&2
		exit 1
	fi
done
made_users=
for u in sealmilter sealview; do getent passwd "$u" >/dev/null || made_users="$made_users $u"; done

tb_init
# Cleanup (registered first, so it runs last, after the servers are stopped): purge what is
# still installed, delete the users this run made, and the files it made outside $TB.
pkg_cleanup() {
	local p
	for p in sealview sealmilter; do
		[ "$(pkg_status "$p")" = not-installed ] || $APT purge "$p" >/dev/null 2>&1 ||
			echo "cleanup: apt-get purge $p failed" >&2
	done
	rm -f /etc/sealmilter/viewer.secret
	rmdir /etc/sealmilter 2>/dev/null || true
	rm -rf /run/sealmilter
	for u in $made_users; do
		if getent passwd "$u" >/dev/null; then userdel "$u" || echo "cleanup: userdel $u failed" >&2; fi
		if getent group "$u" >/dev/null; then groupdel "$u" 2>/dev/null || true; fi
	done
}
tb_on_cleanup pkg_cleanup
# die MSG [LOG]: a step that later steps depend on failed: say so (with LOG's tail), stop.
die() {
	[ -n "${2:-}" ] && [ -f "$2" ] && tail -n 60 "$2" >&2
	echo "$T_PASS passed, $((T_FAIL + 1)) failed"
	tb_fail "$1"
}
phase() { printf -v "TIME_$1" '%s' "$(( $(date +%s) - phase_start ))"; phase_start=$(date +%s); }
phase_start=$t0

# ---- 1. build and lintian
P=$TB/pkg
mkdir -p "$P/src"
(cd "$SRCDIR" && git ls-files -z -c -o --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) |
	tar -C "$P/src" -xf -
[ -f "$P/src/debian/control" ] || die "no debian/control in the copy of $SRCDIR"
echo "== dpkg-buildpackage -us -uc -b in $P/src"
(cd "$P/src" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b) > "$P/build.log" 2>&1 ||
	die "dpkg-buildpackage failed (log: $P/build.log)" "$P/build.log"
t_grep "the build ran the unit tests" '^# PASS: +[1-9]' "$P/build.log"
t_nogrep "and none failed" '^# (FAIL|ERROR): +[1-9]' "$P/build.log"
version=$(dpkg-parsechangelog -l "$P/src/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
DEB_M=$P/sealmilter_${version}_$arch.deb
DEB_V=$P/sealview_${version}_$arch.deb
t_check "sealmilter_${version}_$arch.deb was built" test -s "$DEB_M"
t_check "sealview_${version}_$arch.deb was built" test -s "$DEB_V"
phase build
rc=0
lintian --fail-on error,warning "$P/sealmilter_${version}_$arch.changes" > "$P/lintian.log" 2>&1 || rc=$?
sed 's/^/  lintian: /' "$P/lintian.log"
t_rc "lintian: no error and no warning" 0 "$rc"
phase lintian

# ---- 2. install, and what it made
echo "== apt-get install ./sealmilter ./sealview"
$APT install --no-install-recommends "$DEB_M" "$DEB_V" > "$P/install.log" 2>&1 ||
	die "apt-get install of the packages failed" "$P/install.log"
for p in sealmilter sealview; do
	t_check "$p is installed" test "$(pkg_status "$p")" = installed
done
t_grep "postinst made the tenant key" 'made the tenant key /etc/sealmilter/keys/t1.key' "$P/install.log"
t_nogrep "and the packaged configuration passed sealmilter -n there" 'does not pass sealmilter -n' "$P/install.log"
for f in /usr/sbin/sealmilter /usr/bin/sealctl /usr/sbin/sealview; do t_check "$f is installed" test -x "$f"; done
for f in man8/sealmilter.8 man8/sealctl.8 man5/sealmilter.yaml.5 man8/sealview.8; do
	t_check "man page $f" test -s "/usr/share/man/$f.gz"
done
t_check "the installed configuration is contrib/sealmilter-full.yaml" \
	cmp -s /etc/sealmilter/sealmilter.yaml "$SRCDIR/contrib/sealmilter-full.yaml"
dpkg-query -W -f='${Conffiles}\n' sealmilter > "$P/conffiles"
t_grep "it is a conffile" '^ /etc/sealmilter/sealmilter.yaml [0-9a-f]{32}$' "$P/conffiles"
for u in sealmilter sealview; do
	IFS=: read -r _ _ uid gid _ home shell < <(getent passwd "$u") || uid=
	t_check "system user $u exists" test -n "$uid"
	t_check "$u is a system user (uid $uid below 1000), with group $u, no login" \
		test "${uid:-1000}" -lt 1000 -a "$(getent group "$gid" | cut -d: -f1)" = "$u" -a "$shell" = /usr/sbin/nologin
done
# want PATH OWNER:GROUP MODE
want() {
	local got
	got=$(stat -c '%U:%G %a' "$1" 2>/dev/null) || got=missing
	if [ "$got" = "$2 $3" ]; then t_ok "$1 is $2 $3"; else t_fail "$1 is $2 $3" "got: $got"; fi
}
check_modes() {
	want /etc/sealmilter root:root 755
	want /etc/sealmilter/sealmilter.yaml root:root 644
	want /etc/sealmilter/keys root:root 755
	local k
	for k in t1 issuer; do
		want "/etc/sealmilter/keys/$k.key" sealmilter:sealmilter 600
		want "/etc/sealmilter/keys/$k.pem" root:root 644
	done
	want /etc/sealmilter/keys/marker.key sealmilter:sealmilter 600
	want /var/spool/sealmilter sealmilter:sealmilter 750
	want /var/lib/sealview sealview:sealview 700
}
check_modes
# readable_by USER FILE...: USER can read every FILE.
readable_by() { local u=$1; shift; (cd / && setpriv --reuid="$u" --regid="$u" --init-groups -- cat "$@" > /dev/null 2>&1); }
not_readable_by() { ! readable_by "$@"; }
t_check "sealview's user cannot read the tenant private key" not_readable_by sealview /etc/sealmilter/keys/t1.key
t_check "nor the issuer's" not_readable_by sealview /etc/sealmilter/keys/issuer.key
t_check "but reads the configuration and the certificates" \
	readable_by sealview /etc/sealmilter/sealmilter.yaml /etc/sealmilter/keys/t1.pem /etc/sealmilter/keys/issuer.pem
t_check "sealmilter's user reads its keys" readable_by sealmilter /etc/sealmilter/keys/t1.key /etc/sealmilter/keys/issuer.key \
	/etc/sealmilter/keys/marker.key
rc=0
/usr/sbin/sealmilter -n -c /etc/sealmilter/sealmilter.yaml > "$P/n.out" 2>&1 || rc=$?
t_rc "sealmilter -n accepts the packaged configuration" 0 "$rc"
t_grep "with its rules and the postinst keys" 'OK \(3 rules, 1 patterns\)' "$P/n.out"
# postinst again (dpkg-reconfigure): it makes a missing key, and never one over half a pair.
sha256sum /etc/sealmilter/keys/* > "$P/keys.sum"
mv /etc/sealmilter/keys/marker.key "$P/marker.key"
mv /etc/sealmilter/keys/issuer.pem "$P/issuer.pem"
rc=0
dpkg-reconfigure sealmilter > "$P/reconfigure.log" 2>&1 || rc=$?
t_rc "dpkg-reconfigure sealmilter" 0 "$rc"
want /etc/sealmilter/keys/marker.key sealmilter:sealmilter 600
t_check "it made a new marker key" bash -c "! cmp -s /etc/sealmilter/keys/marker.key '$P/marker.key'"
t_check "it made no issuer certificate over the issuer key left alone" test ! -e /etc/sealmilter/keys/issuer.pem
t_grep "and said so" 'only one of /etc/sealmilter/keys/issuer.key and /etc/sealmilter/keys/issuer.pem exists' "$P/reconfigure.log"
mv -f "$P/marker.key" /etc/sealmilter/keys/marker.key
mv "$P/issuer.pem" /etc/sealmilter/keys/issuer.pem
t_check "every key is as it was" sha256sum --quiet -c "$P/keys.sum"
UNIT_M=/lib/systemd/system/sealmilter.service
UNIT_V=/lib/systemd/system/sealview.service
for u in "$UNIT_M" "$UNIT_V"; do
	t_check "$u is installed" test -s "$u"
	out=$(systemd-analyze verify "$u" 2>&1) && rc=0 || rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ]; then t_ok "systemd-analyze verify $u: clean (its man pages found)";
	else t_fail "systemd-analyze verify $u: clean" "exit $rc: $out"; fi
done
t_check "the installed units are contrib's" \
	bash -c "cmp -s $UNIT_M '$SRCDIR/contrib/sealmilter.service' && cmp -s $UNIT_V '$SRCDIR/contrib/sealview.service'"
t_check "sealmilter.service is enabled" test -L /etc/systemd/system/multi-user.target.wants/sealmilter.service
t_check "sealview.service is not (it needs configuring first)" \
	test ! -e /etc/systemd/system/multi-user.target.wants/sealview.service
phase install

# ---- 3. the packaged daemon, started as its unit does, seals a mail through Postfix
# unit_get UNIT KEY: the values of KEY= in the unit's [Service] section, one a line.
unit_get() {
	awk -v k="$2" '/^\[/ { s = ($0 == "[Service]") } s && index($0, k "=") == 1 { print substr($0, length(k) + 2) }' "$1"
}
# unit_cmd UNIT COMMAND-LINE: set UNIT_CMD (an array) and UNIT_UMASK to run the command line
# as the unit runs it (see the top): run it as (cd / && umask "$UNIT_UMASK" && exec "${UNIT_CMD[@]}").
unit_cmd() {
	local unit=$1 line=$2 user group home
	user=$(unit_get "$unit" User)
	group=$(unit_get "$unit" Group)
	UNIT_UMASK=$(unit_get "$unit" UMask)
	UNIT_UMASK=${UNIT_UMASK:-0022}
	home=$(getent passwd "$user" | cut -d: -f6)
	case $line in
	[-@:+!]* | *'$'* | *%* | *\"* | *\'* | *\\*) die "$unit: '$line' needs more of systemd than this test emulates" ;;
	esac
	local -a argv
	read -r -a argv <<< "$line"
	UNIT_CMD=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin LANG=C.UTF-8 HOME="$home" USER="$user"
		LOGNAME="$user" SHELL=/usr/sbin/nologin
		setpriv --reuid="$user" --regid="${group:-$user}" --init-groups --no-new-privs
		--bounding-set=-all --inh-caps=-all -- "${argv[@]}")
}
# unit_start UNIT NAME: make its RuntimeDirectory= and StateDirectory=, run each ExecStartPre=
# (each must exit 0), then ExecStart= in the background. Sets UNIT_PID; output in $TB/NAME.log.
unit_start() {
	local unit=$1 log=$TB/$2.log user group d line
	user=$(unit_get "$unit" User)
	group=$(unit_get "$unit" Group)
	group=${group:-$user}
	for d in $(unit_get "$unit" RuntimeDirectory); do
		install -d -o "$user" -g "$group" -m "$(unit_get "$unit" RuntimeDirectoryMode)" "/run/$d"
	done
	for d in $(unit_get "$unit" StateDirectory); do
		install -d -o "$user" -g "$group" -m "$(unit_get "$unit" StateDirectoryMode)" "/var/lib/$d"
	done
	while IFS= read -r line; do
		unit_cmd "$unit" "$line"
		(cd / && umask "$UNIT_UMASK" && exec "${UNIT_CMD[@]}") >> "$log" 2>&1 < /dev/null ||
			die "$unit: ExecStartPre=$line failed" "$log"
	done < <(unit_get "$unit" ExecStartPre)
	unit_cmd "$unit" "$(unit_get "$unit" ExecStart)"
	# One subshell that execs the daemon: $! is the daemon's process id.
	(cd / && umask "$UNIT_UMASK" && exec "${UNIT_CMD[@]}") >> "$log" 2>&1 < /dev/null &
	UNIT_PID=$!
	tb_register_pid "$UNIT_PID"
}
# unit_stop PID UNIT NAME: SIGTERM (systemd's stop); it must exit 0. Removes RuntimeDirectory=.
unit_stop() {
	local rc=0 d
	kill -TERM "$1"
	wait "$1" || rc=$?
	t_rc "$3 stopped cleanly on SIGTERM" 0 "$rc"
	for d in $(unit_get "$2" RuntimeDirectory); do rm -rf "/run/$d"; done
}
proc_user() { id -nu "$(awk '/^Uid:/ { print $2 }' "/proc/$1/status")"; }

MPORT=$(tb_free_port)
# The administrator's edit: the milter's port (a free one here, not 8894).
sed -i "s/^  socket: inet:8894@127.0.0.1\$/  socket: inet:$MPORT@127.0.0.1/" /etc/sealmilter/sealmilter.yaml
t_grep "the configuration now listens on $MPORT" "^  socket: inet:$MPORT@127.0.0.1\$" /etc/sealmilter/sealmilter.yaml
tb_start_sink
unit_start "$UNIT_M" sealmilter
tb_wait_port "$MPORT" 30 || die "the packaged sealmilter does not listen on $MPORT" "$TB/sealmilter.log"
M_PID=$UNIT_PID
t_check "sealmilter runs as user sealmilter" test "$(proc_user "$M_PID")" = sealmilter
tb_start_postfix "inet:127.0.0.1:$MPORT"

MSG=$SRCDIR/tests/data/msg/secure.eml
# send_sealed N MESSAGE-ID-PART: send the secure message through Postfix; the Nth delivered
# message must be sealed, with no plaintext, and open (sealctl, stock openssl) to the bytes sent.
send_sealed() {
	local n=$1 sent=$TB/sent$1.eml reply rc=0 m
	sed "s/secure-1@/secure-$2@/; s/\$/\\r/" "$MSG" > "$sent"
	reply=$(tb_smtp_send "$PF_PORT" alice@example.com bob@partner.test < "$sent") || rc=$?
	t_rc "mail $n: Postfix accepts it ($reply)" 0 "$rc"
	tb_wait_files "$SINK_DIR" "$n" 60 > /dev/null || true
	m=$(find "$SINK_DIR" -maxdepth 1 -name '*.eml' | sort | sed -n "${n}p")
	[ -n "$m" ] || die "mail $n did not reach the sink" "$PF_LOG"
	t_grep "mail $n: delivered sealed under the packaged template" '^X-Sealmilter-Sealed: v=1; template=confidential; id=' "$m"
	t_grep "mail $n: with its message.sealed attachment" 'filename="message.sealed"' "$m"
	t_nogrep "mail $n: no plaintext left" 'Please find the contract terms' "$m"
	t_grep "mail $n: the trigger is stripped from the subject" '^Subject: Q3 contract' "$m"
	rc=0
	sealctl -c /etc/sealmilter/sealmilter.yaml open "$m" > "$TB/open$n.eml" 2> "$TB/open$n.err" || rc=$?
	t_rc "mail $n: sealctl open with the packaged configuration" 0 "$rc"
	t_check "mail $n: restores the bytes sent" cmp -s "$TB/open$n.eml" "$sent"
	/usr/bin/python3 - "$m" "$TB/att$n.der" <<'PY' || true
import email, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
for p in m.walk():
    if p.get_filename() == "message.sealed":
        open(sys.argv[2], "wb").write(p.get_payload(decode=True))
PY
	t_check "mail $n: stock openssl verifies the policy with the packaged issuer certificate" \
		openssl cms -verify -inform DER -in "$TB/att$n.der" -CAfile /etc/sealmilter/keys/issuer.pem -out "$TB/inner$n.der"
	t_check "mail $n: and decrypts with the packaged tenant key" \
		openssl cms -decrypt -inform DER -in "$TB/inner$n.der" -inkey /etc/sealmilter/keys/t1.key \
			-recip /etc/sealmilter/keys/t1.pem -out "$TB/plain$n.eml"
	t_check "mail $n: to the bytes sent" cmp -s "$TB/plain$n.eml" "$sent"
	SEALED_MSG=$m
}
send_sealed 1 pkg1
FIRST_SEALED=$SEALED_MSG
t_grep "the daemon logged the rule and the sealed body" \
	'info: [0-9A-F]+: direction=outbound .*rules=secure-subject .*actions=.*replace:body.* verdict=accept' "$TB/sealmilter.log"
# systemctl reload: the unit's ExecReload= line, $MAINPID replaced as systemd replaces it.
line=$(unit_get "$UNIT_M" ExecReload)
unit_cmd "$UNIT_M" "${line//\$MAINPID/$M_PID}"
rc=0
(cd / && umask "$UNIT_UMASK" && exec "${UNIT_CMD[@]}") >> "$TB/sealmilter.log" 2>&1 < /dev/null || rc=$?
t_rc "ExecReload= ($line) as user sealmilter" 0 "$rc"
tb_wait_for 20 grep -q 'reloaded:' "$TB/sealmilter.log" || true
t_grep "the daemon reloaded its configuration" 'reloaded:' "$TB/sealmilter.log"
phase mail

# ---- 4. upgrade to a higher version; the old daemon runs on meanwhile, as under systemd
sum_state() { sha256sum /etc/sealmilter/sealmilter.yaml /etc/sealmilter/keys/*; }
sum_state > "$P/before.sum"
getent passwd sealmilter sealview > "$P/users.before"
new=$version+pkgtest1
for d in "$DEB_M" "$DEB_V"; do
	x=$P/x.$(basename "$d")
	dpkg-deb -R "$d" "$x"
	sed -i "s/^Version: .*/Version: $new/" "$x/DEBIAN/control"
	dpkg-deb -b "$x" "$P/up-$(basename "$d")" > /dev/null
done
echo "== upgrade to $new"
$APT install --no-install-recommends \
	"$P/up-$(basename "$DEB_M")" "$P/up-$(basename "$DEB_V")" > "$P/upgrade.log" 2>&1 ||
	die "apt-get install of the upgrade failed" "$P/upgrade.log"
for p in sealmilter sealview; do
	t_check "$p is upgraded to $new" test "$(dpkg-query -W -f='${Version}' "$p")" = "$new"
done
sum_state > "$P/after.sum"
t_check "the upgrade keeps the edited configuration and every key, byte for byte" cmp -s "$P/before.sum" "$P/after.sum"
t_nogrep "and makes no key" 'made the' "$P/upgrade.log"
t_check "and leaves no .dpkg-new, .dpkg-dist or .dpkg-old file" \
	test -z "$(find /etc/sealmilter -name '*.dpkg-*')"
getent passwd sealmilter sealview > "$P/users.after"
t_check "the users are the same" cmp -s "$P/users.before" "$P/users.after"
check_modes
# systemd restarts the service after an upgrade (dh_installsystemd's postinst): so do we.
unit_stop "$M_PID" "$UNIT_M" "the old sealmilter"
t_check "its runtime directory is gone with it" test ! -e /run/sealmilter
unit_start "$UNIT_M" sealmilter
tb_wait_port "$MPORT" 30 || die "the upgraded sealmilter does not listen on $MPORT" "$TB/sealmilter.log"
M_PID=$UNIT_PID
send_sealed 2 pkg2
rc=0
sealctl -c /etc/sealmilter/sealmilter.yaml open "$FIRST_SEALED" 2>/dev/null | cmp -s - "$TB/sent1.eml" || rc=$?
t_rc "the mail sealed before the upgrade still opens" 0 "$rc"
unit_stop "$M_PID" "$UNIT_M" "the upgraded sealmilter"
phase upgrade

# ---- 5. sealview, configured as README.Debian says, started as its unit does
SVPORT=$(tb_free_port)
awk '/^#(viewer|sealview):$/ { on = 1 } /^[^#]/ || /^$/ { on = 0 } { print (on ? substr($0, 2) : $0) }' \
	/etc/sealmilter/sealmilter.yaml |
	sed "s/^  listen: 127.0.0.1:8025\$/  listen: 127.0.0.1:$SVPORT/; s#^  api_url: http://127.0.0.1:8025\$#  api_url: http://127.0.0.1:$SVPORT#" \
	> "$P/viewer.yaml"
cat "$P/viewer.yaml" > /etc/sealmilter/sealmilter.yaml
t_grep "the viewer section is on" '^viewer:$' /etc/sealmilter/sealmilter.yaml
t_grep "sealview listens on $SVPORT" "^  listen: 127.0.0.1:$SVPORT\$" /etc/sealmilter/sealmilter.yaml
t_grep "and viewer.api_url points there" "^  api_url: http://127.0.0.1:$SVPORT\$" /etc/sealmilter/sealmilter.yaml
head -c 32 /dev/urandom > /etc/sealmilter/viewer.secret
chown sealmilter:sealview /etc/sealmilter/viewer.secret
chmod 640 /etc/sealmilter/viewer.secret
unit_start "$UNIT_V" sealview
tb_wait_port "$SVPORT" 30 || die "the packaged sealview does not listen on $SVPORT" "$TB/sealview.log"
V_PID=$UNIT_PID
t_check "sealview runs as user sealview" test "$(proc_user "$V_PID")" = sealview
out=$(curl -sS --max-time 20 "http://127.0.0.1:$SVPORT/healthz" 2>&1) || true
t_check "GET /healthz: ok (the store answers; got: $out)" test "$out" = ok
want /var/lib/sealview/sealview.db sealview:sealview 600
rc=0
sealctl -c /etc/sealmilter/sealmilter.yaml audit --verify > "$P/audit.out" 2>&1 || rc=$?
t_rc "sealctl audit --verify through its signed admin API: the (empty) chain is intact" 0 "$rc"
[ "$rc" = 0 ] || sed 's/^/  sealctl: /' "$P/audit.out" >&2
# Both daemons on this one host, sharing the secret as owner and group: a sealed mail for an
# outside recipient is registered with the local sealview, and its notice links there.
unit_start "$UNIT_M" sealmilter-viewer
tb_wait_port "$MPORT" 30 || die "sealmilter with the viewer on does not listen on $MPORT" "$TB/sealmilter-viewer.log"
M_PID=$UNIT_PID
n=$(find "$SINK_DIR" -maxdepth 1 -name '*.eml' | wc -l)
sed 's/secure-1@/secure-viewer@/; s/$/\r/' "$MSG" > "$TB/sent-viewer.eml"
reply=$(tb_smtp_send "$PF_PORT" alice@example.com bob@partner.test < "$TB/sent-viewer.eml") && rc=0 || rc=$?
t_rc "both on one host: Postfix accepts a sealed mail for the viewer ($reply)" 0 "$rc"
tb_wait_files "$SINK_DIR" $((n + 1)) 60 > /dev/null || true
m=$(find "$SINK_DIR" -maxdepth 1 -name '*.eml' | sort | sed -n "$((n + 1))p")
t_check "it was delivered" test -n "$m"
t_grep "sealed, its notice linking to sealview" 'https://secure\.example\.com/m/[A-Za-z0-9_-]{43}' "${m:-/dev/null}"
t_nogrep "with no plaintext" 'Please find the contract terms' "${m:-/dev/null}"
t_check "and sealview's store holds its registration" \
	test "$(sqlite3 /var/lib/sealview/sealview.db 'SELECT count(*) FROM messages')" = 1
unit_stop "$M_PID" "$UNIT_M" "sealmilter with the viewer on"
unit_stop "$V_PID" "$UNIT_V" "sealview"
phase sealview

# ---- 6. remove, then purge
$APT remove sealview sealmilter > "$P/remove.log" 2>&1 || die "apt-get remove failed" "$P/remove.log"
for p in sealmilter sealview; do t_check "$p is removed, its configuration kept" test "$(pkg_status "$p")" = config-files; done
t_check "remove keeps the configuration, the keys, the spool and the store" \
	test -f /etc/sealmilter/sealmilter.yaml -a -f /etc/sealmilter/keys/t1.key -a -d /var/spool/sealmilter -a -f /var/lib/sealview/sealview.db
t_check "remove takes the programs" test ! -e /usr/sbin/sealmilter -a ! -e /usr/bin/sealctl -a ! -e /usr/sbin/sealview
$APT purge sealview sealmilter > "$P/purge.log" 2>&1 || die "apt-get purge failed" "$P/purge.log"
for p in sealmilter sealview; do t_check "$p is purged" test "$(pkg_status "$p")" = not-installed; done
for f in /etc/sealmilter/sealmilter.yaml /etc/sealmilter/keys /var/spool/sealmilter /var/lib/sealview \
	"$UNIT_M" "$UNIT_V" /etc/systemd/system/multi-user.target.wants/sealmilter.service; do
	t_check "purge: $f is gone" test ! -e "$f"
done
t_check "purge keeps the file the administrator added (the viewer secret), and nothing else" \
	test "$(ls -A /etc/sealmilter)" = viewer.secret
t_grep "and says so" '/etc/sealmilter holds files the package did not make' "$P/purge.log"
t_check "the system users stay (README.Debian)" bash -c "getent passwd sealmilter sealview > /dev/null"
phase purge

total=$(( $(date +%s) - t0 ))
echo "timings: build ${TIME_build}s, lintian ${TIME_lintian}s, install ${TIME_install}s, mail ${TIME_mail}s," \
	"upgrade ${TIME_upgrade}s, sealview ${TIME_sealview}s, remove and purge ${TIME_purge}s; total ${total}s"
t_done
