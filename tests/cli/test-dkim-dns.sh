#!/usr/bin/env bash
# test-dkim-dns.sh - DKIM key look-ups against a DNS server that answers with broken
# packets (tests/cli/baddns.py): a truncated answer, a character-string longer than its
# record, a NUL byte, the TC bit with no TCP, random bytes, silence, and good keys split
# into many strings or after a record that is not a key. sealctl explain runs the daemon's
# pipeline with the daemon's resolver: no crash, a result with its reason, never pass for
# a broken key, and temperror (not permerror) when DNS itself failed. With a DNSSEC trust
# anchor, answers that cannot be validated are bogus: temperror.
set -uo pipefail
: "${SRCDIR:?}" "${SEALCTL:?}"
. "$SRCDIR/tests/cli/lib.sh"
PY=/usr/bin/python3
if ! "$PY" -c 'import dkim, nacl' 2>/dev/null; then
	if [ "${SEALMILTER_REQUIRE_E2E:-0}" = 1 ]; then
		echo "FAIL: python3-dkim is missing (scripts/install-deps.sh installs it)" >&2
		exit 1
	fi
	echo "SKIP: python3-dkim is not installed"
	exit 77
fi
T=$(mktemp -d)
DNSPID=
trap '[ -n "$DNSPID" ] && kill "$DNSPID" 2>/dev/null; rm -rf "$T"' EXIT
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/k.pem" 2>/dev/null
openssl rsa -in "$T/k.pem" -pubout -outform DER 2>/dev/null | base64 -w0 > "$T/k.pub"
"$PY" "$SRCDIR/tests/cli/baddns.py" "$T/port" "$T/k.pub" &
DNSPID=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")
cat > "$T/c.yaml" <<YAML
organization: { name: Example, domains: [example.org] }
milter: { spool_dir: $T }
dns: { nameservers: ["127.0.0.1@$PORT"], timeout: 2s }
dkim: { verify_inbound: true, authserv_id: mx.example.org }
YAML

# selector  want  reason (a part of it)
while read -r sel want reason; do
	"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import dkim_corpus as d
sys.stdout.buffer.write(d.sign(d.message(sys.argv[2]), sys.argv[2], open(sys.argv[3], "rb").read()))' \
		"$SRCDIR/tests/e2e" "$sel" "$T/k.pem" > "$T/$sel.eml"
	out=$("$SEALCTL" -c "$T/c.yaml" explain "$T/$sel.eml" --client-ip 192.0.2.1 --from a@example.net \
		--to bob@example.org 2>&1)
	rc=$?
	t_rc "$sel: sealctl explain finishes" 0 "$rc"
	line=$(printf '%s\n' "$out" | sed -n '/^dkim:/{n;p}')
	if printf '%s' "$line" | grep -q "^  $want .*$reason"; then
		t_ok "$sel: $want ($reason)"
	else
		t_fail "$sel: want $want ($reason)" "got: $line"
	fi
done <<'CASES'
trunc temperror key lookup failed
badlen permerror malformed TXT record
nul permerror malformed TXT record
tc temperror key lookup failed
garbage temperror key lookup failed
silent temperror DNS timeout after 2000 ms
good pass
many pass
nxd permerror NXDOMAIN
CASES

# sealctl takes the envelope from the options at end of headers, as the daemon has it from the
# MTA: outbound mail (a sender of the organisation from a trusted client) is not verified.
out=$("$SEALCTL" -c "$T/c.yaml" explain "$T/good.eml" --from a@example.org --to x@partner.example 2>&1)
t_check "outbound: not verified" grep -q '^direction: outbound' <<< "$out"
if grep -qE '^dkim:|Authentication-Results' <<< "$out"; then
	t_fail "outbound: no dkim results and no Authentication-Results" "$out"
else
	t_ok "outbound: no dkim results and no Authentication-Results"
fi
{ printf 'Authentication-Results: mx.example.org; dkim=pass header.d=bank.example\r\n'; cat "$T/good.eml"; } > "$T/forged-out.eml"
"$SEALCTL" -c "$T/c.yaml" process "$T/forged-out.eml" --from a@example.org --to x@partner.example > "$T/out.eml" 2>/dev/null
t_nogrep "outbound: a field claiming our authserv-id is removed all the same" 'mx.example.org' "$T/out.eml"
"$SEALCTL" -c "$T/c.yaml" process "$T/good.eml" --client-ip 192.0.2.1 --from a@example.net --to bob@example.org \
	> "$T/processed.eml" 2>/dev/null
t_check "sealctl process puts the daemon's Authentication-Results on top" \
	sh -c 'head -n 2 "$1" | tr -d "\r" | tr "\n" " " | grep -q "^Authentication-Results: mx.example.org; 	dkim=pass header.d=example.net header.s=good "' _ "$T/processed.eml"

# The loop-guard marker covers our own Authentication-Results: a marked message passes through
# with it, but a forged one added to a marked copy breaks the marker, so it is removed.
"$SEALCTL" keys generate marker --out "$T/marker.key" >/dev/null
sed "s#^milter: { spool_dir: \(.*\) }#milter: { spool_dir: \1, marker_key_file: $T/marker.key }#" "$T/c.yaml" > "$T/m.yaml"
printf 'rules:\n  - name: tag-inbound\n    if: { direction: inbound }\n    then: { tag: { header: X-Seen, value: yes } }\n' >> "$T/m.yaml"
env_in=(--client-ip 192.0.2.1 --from a@example.net --to bob@example.org)
"$SEALCTL" -c "$T/m.yaml" process "$T/good.eml" "${env_in[@]}" > "$T/p1.eml" 2>/dev/null
t_grep "marked: first pass verifies, tags and marks" '^X-Sealmilter-Marker: v=1' "$T/p1.eml"
"$SEALCTL" -c "$T/m.yaml" process "$T/p1.eml" "${env_in[@]}" > "$T/p2.eml" 2> "$T/p2.log"
t_grep "marked: a second pass passes it through" 'already processed' "$T/p2.log"
t_check "marked: with our one Authentication-Results" test "$(grep -c '^Authentication-Results: mx.example.org;' "$T/p2.eml")" -eq 1
{ printf 'Authentication-Results: mx.example.org; dkim=pass header.d=bank.example\r\n'; cat "$T/p1.eml"; } > "$T/p3.eml"
"$SEALCTL" -c "$T/m.yaml" process "$T/p3.eml" "${env_in[@]}" > "$T/p4.eml" 2> "$T/p4.log"
t_nogrep "marked + forged: the forged field is removed" 'header.d=bank.example' "$T/p4.eml"
t_check "marked + forged: one Authentication-Results of ours, made again" \
	test "$(grep -c '^Authentication-Results: mx.example.org;' "$T/p4.eml")" -eq 1

# Inbound sealing deletes the fields it does not keep by index; our Authentication-Results,
# inserted at the top, must not shift those indices onto itself.
"$SEALCTL" keys generate tenant --name t --out "$T" >/dev/null
"$SEALCTL" keys generate issuer --out "$T" >/dev/null
{
	cat "$T/c.yaml"
	printf 'keys:\n  tenant: [ { id: t, cert: %s/t.pem, key: %s/t.key } ]\n  issuer: { cert: %s/issuer.pem, key: %s/issuer.key }\n' \
		"$T" "$T" "$T" "$T"
	printf 'templates:\n  dnf: { rights: [view] }\nrules:\n  - name: seal-in\n    if: { subject: { contains: ["[secure]"] } }\n    then: { seal: dnf }\n'
} > "$T/s.yaml"
printf 'Authentication-Results: other1.example; dkim=pass\r\nAuthentication-Results: other2.example; dkim=pass\r\nFrom: a@example.net\r\nTo: bob@example.org\r\nSubject: [secure] x\r\n\r\nsecret\r\n' \
	> "$T/ar.eml"
"$SEALCTL" -c "$T/s.yaml" process "$T/ar.eml" "${env_in[@]}" > "$T/ar-out.eml" 2>/dev/null
t_grep "inbound sealing keeps our Authentication-Results" '^Authentication-Results: mx.example.org;' "$T/ar-out.eml"
t_nogrep "and the foreign ones go into the sealed original, as every field sealing does not keep" \
	'^Authentication-Results: other[12].example;' "$T/ar-out.eml"

# dkim.max_signatures: two signatures (selectors good, then many on top) with the limit at 2
# are both checked; with the limit at 1 the top one is, and the field and the log line say
# one was left unchecked, naming the limit (and its value, in the log).
"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import dkim_corpus as d
k = open(sys.argv[2], "rb").read()
sys.stdout.buffer.write(d.sign(d.sign(d.message("two"), "good", k), "many", k))' "$SRCDIR/tests/e2e" "$T/k.pem" > "$T/two.eml"
for max in 2 1; do
	sed "s#dkim: { verify_inbound: true,#dkim: { max_signatures: $max, verify_inbound: true,#" "$T/c.yaml" > "$T/max$max.yaml"
	"$SEALCTL" -c "$T/max$max.yaml" process "$T/two.eml" "${env_in[@]}" > "$T/max$max.eml" 2> "$T/max$max.log"
	tr -d '\r' < "$T/max$max.eml" | sed -n '/^Authentication-Results: mx.example.org;/,/^[^[:space:]]/p' | sed '$d' > "$T/ar$max"
done
t_check "max_signatures 2 (at the limit): both signatures checked" \
	test "$(grep -c 'dkim=pass header.d=example.net' "$T/ar2")" = 2
t_nogrep "max_signatures 2: nothing left unchecked in the field" 'not checked' "$T/ar2"
t_nogrep "max_signatures 2: nor in the log line" 'dkim_unchecked' "$T/max2.log"
t_check "max_signatures 1 (one past it): the top signature is checked" \
	sh -c 'grep -c "dkim=pass header.d=example.net" "$1" | grep -qx 1 && grep -q "header.s=many" "$1"' _ "$T/ar1"
t_grep "max_signatures 1: the field says one was not checked, and why" \
	'\(1 more DKIM signature not checked: dkim.max_signatures\)' "$T/ar1"
t_grep "max_signatures 1: the log line names the limit and its value" \
	'dkim=pass:example.net dkim_unchecked="1 \(past dkim.max_signatures: 1\)" .*verdict=accept' "$T/max1.log"
# (sealctl process writes the daemon's line after "sealctl: "; the daemon after "sealmilter: info: ".)
sed 's/^sealctl: /sealmilter: info: Q1: /' "$T/max1.log" | "$SEALCTL" stats > "$T/max1.stats" 2>&1
t_grep "max_signatures 1: and sealctl stats reads that line (one message, none malformed)" \
	'^sealmilter messages: 1 \(1 file; skipped: [0-9]+ lines of other programs, 0 malformed' "$T/max1.stats"

# DNSSEC: with a trust anchor for the root, this server's unsigned answers cannot be validated:
# bogus, so temperror (never pass), and sealctl says the key was bogus.
echo ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D" > "$T/root.key"
sed "s#timeout: 2s#timeout: 2s, trust_anchor_file: $T/root.key#" "$T/c.yaml" > "$T/ta.yaml"
out=$("$SEALCTL" -c "$T/ta.yaml" explain "$T/good.eml" --client-ip 192.0.2.1 --from a@example.net --to bob@example.org 2>&1)
t_check "DNSSEC bogus: temperror" grep -q '^  temperror .*DNSSEC validation failed' <<< "$out"
t_check "DNSSEC bogus: the key is reported bogus" grep -q 'key DNSSEC-bogus' <<< "$out"
t_check "without a trust anchor the key is reported unsigned" grep -q 'key not DNSSEC-signed' \
	<<< "$("$SEALCTL" -c "$T/c.yaml" explain "$T/good.eml" --client-ip 192.0.2.1 --from a@example.net --to bob@example.org)"
rm -f "$T/root.key"
out=$("$SEALCTL" -c "$T/ta.yaml" check 2>&1)
t_check "a missing trust anchor is refused at load, with its position" grep -q 'ta.yaml:3:.*dns.trust_anchor_file: .*No such file' <<< "$out"
t_done
