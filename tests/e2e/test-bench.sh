#!/usr/bin/env bash
# test-bench.sh - `make bench` must keep working: bench/bench.sh --quick runs every part of the
# comparison (sealmilter sealing, sealing and signing, DKIM verifying; OpenDKIM signing and
# verifying; inet: and unix:; the whole path through Postfix) with short runs, and every reply
# it gets is checked. Its numbers mean nothing here (sanitizers, a shared machine): only that
# it runs, and that its checks can fail (a milter that answers wrongly is caught).
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/sbin/postfix /usr/sbin/opendkim /usr/sbin/dnsmasq /usr/sbin/smtp-source /usr/bin/taskset
[ "$(id -u)" = 0 ] || { echo "SKIP: not root"; exit 77; }

out=$(bash "$SRCDIR/bench/bench.sh" "$BUILDDIR" --quick 2>&1) && rc=0 || rc=$?
t_rc "bench.sh --quick: every run complete, every reply checked" 0 "$rc"
[ "$rc" = 0 ] || printf '%s\n' "$out" | tail -n 40 >&2
for m in seal sign verify od-sign od-verify; do
	t_grep "the table has $m at 1 and 8 connections, none wrong" "^$m +10k +8 inet .* 0$" <(printf '%s\n' "$out")
done
t_grep "the unix: socket run" '^seal-unix +10k +1 unix ' <(printf '%s\n' "$out")
t_grep "ratios to OpenDKIM" '^seal / od-sign +10k +8 ' <(printf '%s\n' "$out")
t_grep "the targets are reported" 'DKIM verify vs OpenDKIM verify, 10 KB, 8 connections' <(printf '%s\n' "$out")
t_grep "the whole path, with each milter" '^sign +[0-9.]+ +[0-9.]+ +[0-9.]+$' <(printf '%s\n' "$out")

# The driver's checks can fail: a sealing milter, and a check it cannot pass.
tb_init
mkdir -p "$TB/spool"
"$SEALCTL" keys generate tenant --out "$TB" >/dev/null
"$SEALCTL" keys generate issuer --out "$TB" >/dev/null
cat > "$TB/seal.yaml" <<YAML
organization: { domains: [example.com] }
milter: { spool_dir: $TB/spool }
keys:
  tenant: [ { id: t, cert: $TB/tenant.pem, key: $TB/tenant.key } ]
  issuer: { cert: $TB/issuer.pem, key: $TB/issuer.key }
templates:
  dnf: { rights: [view] }
rules:
  - name: seal-outbound
    if: { direction: outbound }
    then: { seal: dnf }
YAML
printf 'From: alice@example.com\r\nTo: bob@partner.test\r\nSubject: s\r\n\r\nSECRET-LINE\r\n' > "$TB/m.eml"
e2e_start_milter "$TB/seal.yaml"
load() { "$BUILDDIR/bench/miltload" -s "inet:$MILTER_PORT@127.0.0.1" -m "$TB/m.eml" -c 2 -n 10 "$@"; }
o=$(load -e body~application/vnd.sealmilter.sealed -x SECRET-LINE) && rc=0 || rc=$?
t_rc "miltload: a sealed reply passes its checks" 0 "$rc"
t_grep "miltload: 10 messages, 10 accepted, none wrong" 'messages 10 .* accept 10 .* wrong 0 ' <(printf '%s\n' "$o")
o=$(load -e body~no-such-text) && rc=0 || rc=$?
t_rc "miltload: a reply without the expected body is wrong (exit 3)" 3 "$rc"
t_grep "miltload: and every message counts as wrong" ' wrong 10 ' <(printf '%s\n' "$o")
o=$(load -x application/vnd.sealmilter.sealed) && rc=0 || rc=$?
t_rc "miltload: a reply with forbidden text is wrong (exit 3)" 3 "$rc"
o=$(load -e X-No-Such-Field~x) && rc=0 || rc=$?
t_rc "miltload: a reply without the expected header field is wrong (exit 3)" 3 "$rc"
e2e_stop_milter
e2e_sanitizer_clean
t_done
