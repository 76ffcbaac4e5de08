#!/usr/bin/env bash
# test-dkim-postfix.sh - DKIM verification of inbound mail through a real Postfix, with the
# keys served by a real DNS server (dnsmasq on loopback). The corpus is signed in this run
# by python3-dkim (RSA and Ed25519, every canonicalisation pair, tampered body and header,
# expired, revoked, missing and wrong-type keys, a short key, l= with appended text, several
# signatures with mixed results) and by OpenDKIM (through Postfix's sendmail command); every
# message goes through Postfix and sealmilter to the sink, and its Authentication-Results is
# compared with the expected results and with python3-dkim's own verdict. Also: forged
# Authentication-Results are removed and another server's kept; rules reject mail spoofing
# the organisation and tag failures from a partner; key answers are cached; DNS down gives
# temperror.
set -euo pipefail
. "$(dirname "$0")/common.sh"
e2e_require /usr/sbin/postfix /usr/bin/python3 dnsmasq opendkim opendkim-genkey openssl
PY=/usr/bin/python3
CORPUS=$SRCDIR/tests/e2e/dkim_corpus.py
AUTHSERV=mx.example.org

tb_init
tb_start_sink
mkdir -p "$TB/keys" "$TB/corpus"
"$PY" "$CORPUS" keys "$TB/keys"
# OpenDKIM's own key (selector odk), published beside the others.
opendkim-genkey -b 2048 -s odk -d example.net -D "$TB/keys"
printf 'odk._domainkey.example.net\t%s\n' "$(tr -d '\n' < "$TB/keys/odk.txt" | sed 's/[^"]*"\([^"]*\)"/\1/g; s/ *).*//')" \
	>> "$TB/keys/zone.txt"
"$PY" "$CORPUS" make "$TB/keys" "$TB/corpus"
e2e_start_dns "$TB/keys/zone.txt"

OPORT=$(tb_free_port)
printf 'Domain example.net\nSelector odk\nKeyFile %s/keys/odk.private\nSocket inet:%s@127.0.0.1\nMode s\n%s\n' \
	"$TB" "$OPORT" $'RequireSafeKeys false\nCanonicalization relaxed/simple\nBackground no\nSyslog no\nUserID root\nInternalHosts 127.0.0.1, localhost' \
	> "$TB/opendkim.conf"
opendkim -x "$TB/opendkim.conf" -f > "$TB/opendkim.log" 2>&1 &
tb_register_pid "$!"
tb_wait_port "$OPORT" 20 || tb_fail "opendkim did not start: $(cat "$TB/opendkim.log")"

# Loopback is not trusted here, so all mail is inbound.
cat > "$TB/sealmilter.yaml" <<YAML
organization: { name: Example, domains: [example.org], trusted_networks: [10.0.0.0/8] }
milter: { spool_dir: $TB }
dns: { nameservers: ["127.0.0.1@$DNS_PORT"], timeout: 3s }
dkim: { verify_inbound: true, authserv_id: $AUTHSERV }
rules:
  - name: spoofed-own-domain
    if: { direction: inbound, from: { in: organization }, not: { dkim: { aligned_with_from: true } } }
    then: { reject: "5.7.1 Mail from example.org must carry its DKIM signature" }
  - name: partner-failed
    if: { direction: inbound, from: [example.net], dkim: { domain: example.net, result: [fail, permerror, none] } }
    then: { tag: { header: X-Partner-Auth, value: failed } }
YAML
e2e_start_milter "$TB/sealmilter.yaml"
PF_EXTRA_MAINCF="non_smtpd_milters = inet:127.0.0.1:$OPORT" tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"

# 1. OpenDKIM signs two messages on the sendmail-command path; one is then tampered with.
for c in opendkim opendkim-tampered; do
	"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import dkim_corpus as d; sys.stdout.buffer.write(d.message(sys.argv[2]).replace(b"\r\n", b"\n"))' \
		"$SRCDIR/tests/e2e" "$c" | tb_postfix_sendmail alice@example.net bob@example.org
done
tb_wait_files "$SINK_DIR" 2 60 >/dev/null || tb_fail "OpenDKIM's messages did not arrive"
for c in opendkim opendkim-tampered; do
	f=$(grep -l "^X-Corpus-Case: $c"$'\r' "$SINK_DIR"/*.eml | head -n 1)
	t_grep "OpenDKIM signed $c" '^DKIM-Signature: .*s=odk' "$f"
	sed '/^X-Env-/d' "$f" > "$TB/corpus/$c.eml"
	rm -f "$f"
done
sed -i 's/in the attachment/in the other attachment/' "$TB/corpus/opendkim-tampered.eml"
printf 'opendkim\tpass\nopendkim-tampered\tfail\n' >> "$TB/corpus/expected.tsv"

# 2. The whole corpus through Postfix and sealmilter, one SMTP session per message.
n=0
while IFS=$'\t' read -r name _; do
	e2e_send "$PF_PORT" "$name" sender@example.net bob@example.org < "$TB/corpus/$name.eml"
	[ "$SEND_RC" -eq 0 ] || t_fail "$name accepted" "$REPLY"
	n=$((n + 1))
done < "$TB/corpus/expected.tsv"
t_ok "the corpus ($n messages) was accepted"
tb_wait_files "$SINK_DIR" "$n" 60 >/dev/null || true
rc=0
"$PY" "$CORPUS" check "$TB/keys" "$TB/corpus" "$SINK_DIR" "$AUTHSERV" > "$TB/check.out" || rc=$?
while read -r line; do
	case $line in
	"ok - "*) t_ok "${line#ok - }" ;;
	*) t_fail "${line#not ok - }" "see $TB/check.out" ;;
	esac
done < "$TB/check.out"
t_rc "the corpus agrees with the expected results and python3-dkim" 0 "$rc"

first=$(grep -l '^X-Corpus-Case: rsa-relaxed-relaxed' "$SINK_DIR"/*.eml | head -n 1)
t_check "Authentication-Results is at the top (above Postfix's Received)" \
	sh -c "sed '/^X-Env-/d' '$first' | head -n 1 | grep -q '^Authentication-Results: $AUTHSERV;'"
t_grep "the log line names the results" 'dkim=permerror:example.net,pass:example.net,fail:example.net' "$MILTER_LOG"
t_grep "a failing partner is tagged" '^X-Partner-Auth: failed' "$(grep -l '^X-Corpus-Case: body-tampered' "$SINK_DIR"/*.eml)"
t_nogrep "a passing partner is not" '^X-Partner-Auth' "$first"

# 3. Key answers are cached within their TTL: one query per key for the whole corpus.
t_check "the rsa key was looked up once for $n messages" \
	test "$(grep -c 'query\[TXT\] rsa._domainkey.example.net' "$DNS_LOG")" -eq 1
t_check "a missing key (NXDOMAIN) was looked up once too" \
	test "$(grep -c 'query\[TXT\] gone._domainkey.example.net' "$DNS_LOG")" -eq 1

# 4. Forged Authentication-Results (our authserv-id) go; another server's stays.
{
	printf 'Authentication-Results: %s; dkim=pass header.d=example.net\r\n' "$AUTHSERV"
	printf 'Authentication-Results: relay.example.com; dkim=pass header.d=example.com\r\n'
	"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import dkim_corpus as d; sys.stdout.buffer.write(d.message("forged-ar"))' \
		"$SRCDIR/tests/e2e"
} > "$TB/forged.eml"
e2e_send "$PF_PORT" "forged" sender@example.net bob@example.org < "$TB/forged.eml"
tb_wait_files "$SINK_DIR" $((n + 1)) 30 >/dev/null || true
f=$(grep -l '^X-Corpus-Case: forged-ar' "$SINK_DIR"/*.eml | head -n 1)
t_check "forged: exactly one Authentication-Results with our authserv-id, saying none" \
	test "$(grep -c "^Authentication-Results: $AUTHSERV;" "$f")" -eq 1 -a "$(grep -c 'dkim=pass header.d=example.net' "$f")" -eq 0
t_grep "forged: another server's is kept" '^Authentication-Results: relay.example.com; dkim=pass' "$f"

# 5. Rules: mail claiming to be from the organisation without its signature is refused.
"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import dkim_corpus as d
sys.stdout.buffer.write(d.message("spoof").replace(b"alice@example.net", b"ceo@example.org"))' "$SRCDIR/tests/e2e" > "$TB/spoof.eml"
e2e_send "$PF_PORT" "spoof" attacker@example.net bob@example.org < "$TB/spoof.eml"
t_rc "a spoof of example.org is rejected" 5 "$SEND_RC"
t_check "with the rule's reply" grep -q '5.7.1 Mail from example.org must carry its DKIM signature' <<< "$REPLY"

# 6. DNS down: a key not in the cache gives temperror, and the message is still delivered.
kill "$DNS_PID"
"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import dkim_corpus as d, dkim
k = open(sys.argv[2], "rb").read()
sys.stdout.buffer.write(d.sign(d.message("dns-down"), "fresh", k))' "$SRCDIR/tests/e2e" "$TB/keys/rsa.pem" > "$TB/dnsdown.eml"
e2e_send "$PF_PORT" "dns down" sender@example.net bob@example.org < "$TB/dnsdown.eml"
t_rc "DNS down: accepted" 0 "$SEND_RC"
tb_wait_files "$SINK_DIR" $((n + 2)) 30 >/dev/null || true
f=$(grep -l '^X-Corpus-Case: dns-down' "$SINK_DIR"/*.eml | head -n 1)
t_grep "DNS down: temperror, never pass" 'dkim=temperror \(key lookup failed: DNS timeout after 3000 ms' "$f"

e2e_stop_milter
e2e_sanitizer_clean
t_done
