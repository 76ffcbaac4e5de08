#!/usr/bin/env bash
# test-contrib.sh - the systemd units in contrib/ are valid (systemd-analyze verify, with
# ExecStart pointed at this build) and keep the hardening issue 8 asks for: no new
# privileges, a read-only system, a private /tmp, a syscall filter, no capabilities, and
# write access to their own directory only.
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
