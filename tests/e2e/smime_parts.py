#!/usr/bin/python3
"""smime_parts.py MSG OUTDIR - split a delivered multipart/signed message for independent checks.

Writes OUTDIR/signed.part (the signed entity, byte for byte as delivered: from after the first
boundary line to the CRLF before the next one), OUTDIR/sig.p7s (the detached signature, DER) and
OUTDIR/message.eml (the message without the sink's X-Env-* lines). Exits 1 when MSG is not
multipart/signed with an application/pkcs7-signature part.
"""
import base64
import re
import sys


def main():
    raw = open(sys.argv[1], "rb").read()
    raw = re.sub(rb"\AX-Env-[^\n]*\n(X-Env-[^\n]*\n)*", b"", raw)
    out = sys.argv[2]
    open(out + "/message.eml", "wb").write(raw)
    head, _, body = raw.partition(b"\r\n\r\n")
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", head)
    ct = re.search(rb"^Content-Type:\s*multipart/signed;(.*)$", unfolded, re.M | re.I)
    if not ct:
        sys.exit("not multipart/signed")
    b = re.search(rb'boundary="?([^";\r\n]+)"?', ct.group(1), re.I)
    if not b or b"application/pkcs7-signature" not in ct.group(1):
        sys.exit("no boundary or not protocol=application/pkcs7-signature")
    delim = b"--" + b.group(1)
    start = body.index(delim + b"\r\n") + len(delim) + 2
    end = body.index(b"\r\n" + delim, start)
    open(out + "/signed.part", "wb").write(body[start:end])
    sigpart = body[end + 2 + len(delim) + 2:]
    sigpart = sigpart[:sigpart.index(b"\r\n" + delim)]
    sh, _, sb = sigpart.partition(b"\r\n\r\n")
    if b"application/pkcs7-signature" not in sh.lower():
        sys.exit("the second part is not application/pkcs7-signature")
    open(out + "/sig.p7s", "wb").write(base64.b64decode(sb))
    # The signed part must be 7-bit with lines of at most 998 octets: safe for any relay.
    for line in body[start:end].split(b"\r\n"):
        if len(line) > 998 or any(c > 127 for c in line):
            sys.exit("the signed entity is not safe for transport")


if __name__ == "__main__":
    main()
