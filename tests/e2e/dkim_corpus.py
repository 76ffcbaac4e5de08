#!/usr/bin/python3
"""dkim_corpus.py - the DKIM corpus for the end-to-end test, made and judged with python3-dkim.

  dkim_corpus.py keys KEYDIR             make the signing keys and KEYDIR/zone.txt
                                          ("name<TAB>TXT record" lines for dnsmasq)
  dkim_corpus.py make KEYDIR OUTDIR      sign the corpus into OUTDIR/NAME.eml and write
                                          OUTDIR/expected.tsv ("NAME<TAB>result,result...")
  dkim_corpus.py check KEYDIR OUTDIR SINKDIR AUTHSERV
                                          for every case, find the delivered copy in SINKDIR,
                                          read our Authentication-Results and compare it with
                                          the expected results and with python3-dkim's own
                                          verdict on the message as sent; prints "ok"/"not ok"
                                          lines, exits 1 on any "not ok".

Disagreements with python3-dkim that RFC 6376/8301 allow are listed in ALLOWED (and in
docs/dkim.md); any other one fails the test.
"""
import base64
import hashlib
import os
import re
import subprocess
import sys
import time

import dkim
import nacl.signing

DOMAIN = b"example.net"

# Case -> why python3-dkim and sealmilter may differ (docs/dkim.md, "Disagreements").
ALLOWED = {
    "l-appended": "unsigned text after l=: python3-dkim passes, sealmilter gives policy (dkim.unsigned_tail)",
    "rsa-sha1": "rsa-sha1: python3-dkim still verifies it, sealmilter refuses it (RFC 8301)",
}

BODY = (b"Hello Bob,\r\n\r\nThe  figures   are in the attachment.  \r\n"
        b"\t an indented line\t \r\n\r\nAlice\r\n\r\n\r\n")


def message(name, extra=b""):
    return (b"From: Alice Sender <alice@example.net>\r\n"
            b"To: Bob <bob@example.org>\r\n"
            b"Subject:  Quarterly   figures \r\n"
            b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
            b"Message-ID: <case-" + name.encode() + b"@example.net>\r\n"
            b"X-Corpus-Case: " + name.encode() + b"\r\n"
            b"X-Extra: original\r\n" + extra +
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=us-ascii\r\n"
            b"\r\n" + BODY)


def rsa_pub_b64(pem):
    der = subprocess.run(["openssl", "rsa", "-in", pem, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return base64.b64encode(der).decode()


def cmd_keys(kd):
    for name, bits in (("rsa", 2048), ("short", 768)):
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % bits,
                        "-out", os.path.join(kd, name + ".pem")], check=True, capture_output=True)
    sk = nacl.signing.SigningKey.generate()
    open(os.path.join(kd, "ed.seed"), "wb").write(base64.b64encode(bytes(sk)))
    ed_pub = base64.b64encode(bytes(sk.verify_key)).decode()
    rsa = rsa_pub_b64(os.path.join(kd, "rsa.pem"))
    zone = [
        ("rsa", "v=DKIM1; k=rsa; p=" + rsa),
        ("ed", "v=DKIM1; k=ed25519; p=" + ed_pub),
        ("revoked", "v=DKIM1; k=rsa; p="),
        ("wrongtype", "v=DKIM1; k=ed25519; p=" + ed_pub),        # an RSA signature finds an Ed25519 key
        ("short", "v=DKIM1; k=rsa; p=" + rsa_pub_b64(os.path.join(kd, "short.pem"))),
        ("multi", "this is not a key record"),                   # two TXT records: junk, then the key
        ("multi", "v=DKIM1; k=rsa; p=" + rsa),
        ("notkey", "v=spf1 -all"),
        ("testing", "v=DKIM1; k=rsa; t=y; p=" + rsa),
    ]
    with open(os.path.join(kd, "zone.txt"), "w") as z:
        for sel, rec in zone:
            z.write("%s._domainkey.example.net\t%s\n" % (sel, rec))


def keys(kd):
    return {
        "rsa": open(os.path.join(kd, "rsa.pem"), "rb").read(),
        "short": open(os.path.join(kd, "short.pem"), "rb").read(),
        "ed": open(os.path.join(kd, "ed.seed"), "rb").read(),
    }


def sign(msg, sel, key, alg=b"rsa-sha256", canon=(b"relaxed", b"relaxed"), length=False, headers=None):
    sig = dkim.sign(msg, sel.encode(), DOMAIN, key, canonicalize=canon, signature_algorithm=alg,
                    length=length, include_headers=headers)
    return sig + msg


def sign_expired(msg, sel, key):
    """An rsa-sha256 signature whose x= is two days past (python3-dkim cannot add x=)."""
    d = dkim.DKIM(msg)
    d.signature_algorithm = b"rsa-sha256"
    d.hasher = hashlib.sha256
    pk = dkim.crypto.parse_pem_private_key(key)
    policy = dkim.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    include = tuple(h.lower() for h in d.default_sign_headers())
    d.include_headers = include

    bh = base64.b64encode(hashlib.sha256(policy.canonicalize_body(d.body)).digest())
    now = int(time.time())
    fields = [(b"v", b"1"), (b"a", b"rsa-sha256"), (b"c", b"relaxed/relaxed"), (b"d", DOMAIN),
              (b"s", sel.encode()), (b"t", str(now - 3 * 86400).encode()), (b"x", str(now - 2 * 86400).encode()),
              (b"h", b" : ".join(include)), (b"bh", bh), (b"b", b"0" * 60)]
    return b"DKIM-Signature: " + d.gen_header(fields, include, policy, b"DKIM-Signature", pk) + msg


def cmd_make(kd, out):
    k = keys(kd)
    cases = []

    def add(name, data, expect):
        open(os.path.join(out, name + ".eml"), "wb").write(data)
        cases.append((name, expect))

    for hc in (b"simple", b"relaxed"):
        for bc in (b"simple", b"relaxed"):
            n = "rsa-%s-%s" % (hc.decode(), bc.decode())
            add(n, sign(message(n), "rsa", k["rsa"], canon=(hc, bc)), "pass")
    for c in (b"simple", b"relaxed"):
        n = "ed25519-%s" % c.decode()
        add(n, sign(message(n), "ed", k["ed"], alg=b"ed25519-sha256", canon=(c, c)), "pass")
    m = sign(message("body-tampered"), "rsa", k["rsa"])
    add("body-tampered", m.replace(b"in the attachment", b"in the other attachment"), "fail")
    m = sign(message("header-tampered"), "rsa", k["rsa"])
    add("header-tampered", m.replace(b"Quarterly   figures", b"Quarterly   invoice"), "fail")
    m = sign(message("ed25519-tampered"), "ed", k["ed"], alg=b"ed25519-sha256")
    add("ed25519-tampered", m.replace(b"Alice\r\n", b"Mallory\r\n"), "fail")
    add("expired", sign_expired(message("expired"), "rsa", k["rsa"]), "permerror")
    add("revoked", sign(message("revoked"), "revoked", k["rsa"]), "permerror")
    add("missing-key", sign(message("missing-key"), "gone", k["rsa"]), "permerror")
    add("wrong-key-type", sign(message("wrong-key-type"), "wrongtype", k["rsa"]), "permerror")
    add("short-key", sign(message("short-key"), "short", k["short"]), "permerror")
    add("not-a-key", sign(message("not-a-key"), "notkey", k["rsa"]), "permerror")
    add("two-records", sign(message("two-records"), "multi", k["rsa"]), "pass")
    add("testing-key", sign(message("testing-key"), "testing", k["rsa"]), "pass")
    add("rsa-sha1", sign(message("rsa-sha1"), "rsa", k["rsa"], alg=b"rsa-sha1"), "permerror")
    add("l-exact", sign(message("l-exact"), "rsa", k["rsa"], length=True), "pass")
    add("l-appended", sign(message("l-appended"), "rsa", k["rsa"], length=True) +
        b"-- \r\nAppended by a list: click here\r\n", "policy")
    # Several signatures, mixed: the bottom one covers X-Extra, which changes after it;
    # then a good Ed25519 signature and one whose key does not exist.
    m = sign(message("mixed"), "rsa", k["rsa"],
             headers=[b"from", b"to", b"subject", b"date", b"message-id", b"x-extra"])
    m = m.replace(b"X-Extra: original", b"X-Extra: changed")
    m = sign(m, "ed", k["ed"], alg=b"ed25519-sha256")
    m = sign(m, "gone", k["rsa"])
    add("mixed", m, "permerror,pass,fail")
    add("unsigned", message("unsigned"), "none")
    with open(os.path.join(out, "expected.tsv"), "w") as f:
        for name, expect in cases:
            f.write("%s\t%s\n" % (name, expect))


def zone_lookup(kd):
    recs = {}
    for line in open(os.path.join(kd, "zone.txt")):
        name, rec = line.rstrip("\n").split("\t", 1)
        recs.setdefault(name + ".", []).append(rec)

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        for rec in recs.get(n, []):
            if rec.startswith("v=DKIM1"):
                return rec.encode()
        return None
    return dnsfunc


def unfold(v):
    return re.sub(r"\r?\n[ \t]", " ", v)


def our_results(path, authserv):
    """The dkim= results of the Authentication-Results fields with our authserv-id, and how many there are."""
    text = open(path, "rb").read().decode("latin-1")
    head = text.split("\r\n\r\n", 1)[0] if "\r\n\r\n" in text else text.split("\n\n", 1)[0]
    fields = re.findall(r"^Authentication-Results:(.*(?:\r?\n[ \t].*)*)", head, re.M | re.I)
    ours = [unfold(f) for f in fields if unfold(f).strip().split(";")[0].strip().lower() == authserv.lower()]
    if not ours:
        return None, 0
    return re.findall(r"dkim=([a-z]+)", ours[0]), len(ours)


def find_delivered(sink, name):
    for f in sorted(os.listdir(sink)):
        p = os.path.join(sink, f)
        if os.path.isfile(p) and ("X-Corpus-Case: %s\r\n" % name).encode() in open(p, "rb").read():
            return p
    return None


def cmd_check(kd, out, sink, authserv):
    dnsfunc = zone_lookup(kd)
    bad = 0
    for line in open(os.path.join(out, "expected.tsv")):
        name, expect = line.rstrip("\n").split("\t")
        expect = expect.split(",")
        delivered = find_delivered(sink, name)
        if delivered is None:
            print("not ok - %s: not delivered" % name)
            bad += 1
            continue
        got, count = our_results(delivered, authserv)
        if got != expect or count != 1:
            print("not ok - %s: Authentication-Results says %s (%d of ours), want %s" % (name, got, count, expect))
            bad += 1
        else:
            print("ok - %s: dkim=%s" % (name, ",".join(got)))
        # python3-dkim on the message as it was sent, signature by signature.
        sent = open(os.path.join(out, name + ".eml"), "rb").read()
        d = dkim.DKIM(sent, minkey=1024)
        nsig = len([h for h in d.headers if h[0].lower() == b"dkim-signature"])
        theirs = []
        for i in range(nsig):
            try:
                theirs.append(d.verify(idx=i, dnsfunc=dnsfunc))
            except Exception:
                theirs.append(False)
        mine = [r == "pass" for r in (got or [])]
        if nsig == 0:
            mine, theirs = [], []
        if mine != theirs:
            if name in ALLOWED:
                print("ok - %s: python3-dkim differs as documented (%s)" % (name, ALLOWED[name]))
            else:
                print("not ok - %s: python3-dkim says %s, sealmilter %s" % (name, theirs, got))
                bad += 1
        else:
            print("ok - %s: python3-dkim agrees" % name)
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "keys":
        cmd_keys(sys.argv[2])
    elif sys.argv[1] == "make":
        cmd_make(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check":
        sys.exit(cmd_check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]))
    else:
        sys.exit("usage: dkim_corpus.py keys|make|check ...")
