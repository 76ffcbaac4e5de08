#!/usr/bin/env bash
# test-contrib.sh - the systemd units in contrib/ are valid (systemd-analyze verify, with
# ExecStart pointed at this build) and keep the hardening issue 8 asks for: no new
# privileges, a read-only system, a private /tmp, a syscall filter, no capabilities, and
# write access to their own directory only. The full example configuration (the Debian
# package's /etc/sealmilter/sealmilter.yaml) passes sealmilter -n with its keys made, and
# sealview -n with its commented viewer sections turned on, and mentions every key, section,
# condition and action of `sealctl config-reference`.
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
t_done
