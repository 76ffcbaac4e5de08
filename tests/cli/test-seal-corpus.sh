#!/usr/bin/env bash
# test-seal-corpus.sh - real-world MIME shapes, each sealed with sealctl process and restored
# with sealctl open, byte for byte: plain text, 8-bit UTF-8, HTML with inline images, nested
# multiparts, binary attachments, long lines, no final newline, CRLF and LF files.
set -uo pipefail
: "${SRCDIR:?}" "${SEALCTL:?}"
. "$SRCDIR/tests/cli/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$SEALCTL" keys generate tenant --name t --out "$T" >/dev/null
"$SEALCTL" keys generate issuer --out "$T" >/dev/null
"$SEALCTL" keys generate marker --out "$T/marker.key" >/dev/null
cat > "$T/c.yaml" <<YAML
organization: { domains: [example.com] }
milter: { spool_dir: $T, marker_key_file: $T/marker.key }
keys:
  tenant: [ { id: t, cert: $T/t.pem, key: $T/t.key } ]
  issuer: { cert: $T/issuer.pem, key: $T/issuer.key }
templates:
  dnf: { rights: [view, reply] }
rules:
  - name: all
    then: { seal: dnf }
YAML
/usr/bin/python3 - "$T/corpus" <<'PY'
import base64, os, sys
d = sys.argv[1]; os.makedirs(d)
H = "From: Alice <alice@example.com>\nTo: bob@partner.test\nSubject: %s\nMessage-ID: <%s@example.com>\nDate: Sun, 22 Nov 2026 10:00:00 +0000\n"
def w(name, text, crlf=False, raw=None):
    data = raw if raw is not None else text.encode("utf-8")
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    open(os.path.join(d, name + ".eml"), "wb").write(data)
w("plain", H % ("plain", "p") + "\nHello.\nSecond line.\n")
w("plain-crlf", H % ("crlf", "c") + "\nHello over CRLF.\n", crlf=True)
w("utf8-8bit", H % ("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "u") + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße aus Köln — 東京 🚀\n")
png = base64.b64encode(bytes(range(256)) * 4).decode()
w("html-inline-image", H % ("html", "h") + 'MIME-Version: 1.0\nContent-Type: multipart/related; boundary="rel"\n\n--rel\nContent-Type: text/html; charset=utf-8\n\n<p>Logo: <img src="cid:logo@x"></p>\n--rel\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n' + "\n".join(png[i:i+76] for i in range(0, len(png), 76)) + "\n--rel--\n")
w("nested", H % ("nested", "n") + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="m"\n\n--m\nContent-Type: multipart/alternative; boundary="a"\n\n--a\nContent-Type: text/plain\n\nplain\n--a\nContent-Type: text/html\n\n<b>html</b>\n--a--\n--m\nContent-Type: message/rfc822\n\nFrom: x@y.test\nSubject: inner\n\ninner body\n--m--\n')
binb = base64.b64encode(os.urandom(30000)).decode()
w("binary-attachment", H % ("bin", "b") + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/octet-stream; name="data.bin"\nContent-Disposition: attachment; filename="data.bin"\nContent-Transfer-Encoding: base64\n\n' + "\n".join(binb[i:i+76] for i in range(0, len(binb), 76)) + "\n--b--\n")
w("long-lines", H % ("long", "l") + "\n" + "x" * 5000 + "\n" + "y" * 20000 + "\n")
w("no-final-newline", H % ("nofinal", "f") + "\nthe last line has no line end", )
w("folded-headers", "From: Alice\n <alice@example.com>\nTo: bob@partner.test,\n\tcarol@partner.test\nSubject: a subject\n  folded\n\nbody\n")
w("nul-and-8bit-body", None, raw=(H % ("raw", "r")).encode() + b"\nbinary \x00\xff\xfe bytes\n")
PY
for f in "$T"/corpus/*.eml; do
	n=$(basename "$f" .eml)
	"$SEALCTL" -c "$T/c.yaml" process "$f" > "$T/$n.sealed" 2>/dev/null
	if ! grep -q '^X-Sealmilter-Sealed' "$T/$n.sealed"; then
		t_fail "$n: sealed" "no X-Sealmilter-Sealed header"
		continue
	fi
	"$SEALCTL" -c "$T/c.yaml" open "$T/$n.sealed" > "$T/$n.opened" 2>/dev/null
	if cmp -s "$f" "$T/$n.opened"; then t_ok "$n: sealed and restored byte for byte"
	else t_fail "$n: sealed and restored byte for byte" "$(cmp "$f" "$T/$n.opened" 2>&1 | head -1)"; fi
done
# A 100 MB message is sealed streaming: memory stays far below its size, and it opens whole.
/usr/bin/python3 -c '
import sys
o = open(sys.argv[1], "wb")
o.write(b"From: alice@example.com\nTo: bob@partner.test\nSubject: big\nMessage-ID: <big@example.com>\n\n")
line = b"x" * 998 + b"\n"
for _ in range(100 * 1024 * 1024 // 999): o.write(line)
' "$T/big.eml"
rss=$(/usr/bin/python3 -c '
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:4] + ["process", sys.argv[4]], stdout=open(sys.argv[5], "wb"), stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024 if p.returncode == 0 else -1)
' "$SEALCTL" -c "$T/c.yaml" "$T/big.eml" "$T/big.sealed")
echo "  sealing 100 MB: peak RSS ${rss} MB"
t_check "a 100 MB message is sealed in bounded memory (peak RSS ${rss} MB < 64 MB)" test "$rss" -ge 0 -a "$rss" -lt 64
"$SEALCTL" -c "$T/c.yaml" open "$T/big.sealed" 2>/dev/null | cmp -s - "$T/big.eml" && t_ok "and opens whole" || t_fail "and opens whole"
t_done
