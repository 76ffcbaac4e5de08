#!/usr/bin/python3
"""What an adversary does with what it holds, for tests/cli/test-threats.sh.

Each subcommand recomputes, from the specification (docs/viewer-security.md,
seal/viewtoken.c, viewer/app.c, viewer/store.c) and with stock tools only (Python's
hmac and hashlib, the openssl command), what sealview derives; the test then shows
which of those values an adversary can and cannot reach.

  derive --token T --secret FILE            the lookup id and the viewer KEK of a link token
  cek --object DER --kek HEX                unwrap the content key from a sealed object's
                                            KEKRecipientInfo (stock openssl); fails on a wrong KEK
  passcode-hash --secret F --lookup L --address A --code C
  session-hash --secret F --sid S           the keyed hashes sealview stores
  scan --needles JSON FILE...               which needles (name -> hex bytes) occur in the files,
                                            raw or as hex (digits: not inside a longer number);
                                            prints "absent NAME" or "found NAME in FILE"
  try-open --db SPEC --secret F --workdir D  every stored object, tried with keys derived from all
                                            the database and the configuration hold; "objects N opened M"
  rechain --db SPEC --secret F --seq N      rewrite the audit chain from record N on with the audit key
  sql --db SPEC QUERY                       run a query, print rows as |-separated text

SPEC is sqlite:PATH, or postgresql://... (through psql: PSQL in the environment).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import sqlite3
import struct
import subprocess
import sys

SALT = b"sealmilter-viewer"


def hkdf(ikm, salt, info, n=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def keyed(key, a, b, c):
    m = "%d:%s|%d:%s|%d:%s" % (len(a.encode()), a, len(b.encode()), b, len(c.encode()), c)
    return hmac.new(key, m.encode(), hashlib.sha256).digest()


def secret_of(path):
    return open(path, "rb").read()


class DB:
    def __init__(self, spec):
        self.pg = spec.startswith("postgresql://")
        self.spec = spec
        if not self.pg:
            self.conn = sqlite3.connect(spec[len("sqlite:"):], timeout=30)

    def hexcol(self, col):
        return "encode(%s, 'hex')" % col if self.pg else "lower(hex(%s))" % col

    def rows(self, sql):
        if self.pg:
            out = subprocess.run([os.environ["PSQL"], "-qtA", "-F", "|", self.spec, "-c", sql],
                                 capture_output=True, text=True, check=True).stdout
            return [line.split("|") for line in out.split("\n") if line]
        return [["" if v is None else str(v) for v in r] for r in self.conn.execute(sql).fetchall()]

    def set_hashes(self, seq, prev, h):
        if self.pg:
            subprocess.run([os.environ["PSQL"], "-qtA", self.spec, "-c",
                            "UPDATE audit SET prev_hash = '\\x%s', hash = '\\x%s' WHERE seq = %d" % (prev.hex(), h.hex(), seq)],
                           check=True, capture_output=True)
        else:
            self.conn.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
            self.conn.commit()


def cmd_derive(a):
    raw = b64url_decode(a.token)
    pepper = hkdf(secret_of(a.secret), SALT, b"kek pepper v1")
    print(hkdf(raw, SALT, b"lookup v1").hex(), hkdf(raw, pepper, b"kek v1").hex())


def cek_of(der_path, kek_hex, work):
    inner = os.path.join(work, "cek-inner.der")
    subprocess.run(["openssl", "cms", "-verify", "-noverify", "-inform", "DER", "-in", der_path, "-out", inner],
                   check=True, capture_output=True)
    lines = subprocess.run(["openssl", "asn1parse", "-inform", "DER", "-in", inner], check=True,
                           capture_output=True, text=True).stdout.split("\n")
    wrapped = None
    for i, line in enumerate(lines):
        if line.endswith(":id-aes256-wrap") and i + 1 < len(lines) and "[HEX DUMP]:" in lines[i + 1]:
            wrapped = bytes.fromhex(lines[i + 1].split("[HEX DUMP]:")[1].strip())
    if wrapped is None:
        return None
    r = subprocess.run(["openssl", "enc", "-d", "-id-aes256-wrap", "-K", kek_hex, "-iv", "A6A6A6A6A6A6A6A6"],
                       input=wrapped, capture_output=True)
    return r.stdout if r.returncode == 0 and len(r.stdout) == 32 else None


def cmd_cek(a):
    c = cek_of(a.object, a.kek, os.path.dirname(os.path.abspath(a.object)))
    if c is None:
        sys.exit("no content key: no KEKRecipientInfo, or the KEK does not unwrap it")
    print(c.hex())


def cmd_passcode_hash(a):
    k = hkdf(secret_of(a.secret), SALT, b"passcode v1")
    print(keyed(k, a.lookup, a.address, a.code).hex())


def cmd_session_hash(a):
    k = hkdf(secret_of(a.secret), SALT, b"session v1")
    print(keyed(k, "session", a.sid, "").hex())


def cmd_scan(a):
    needles = json.load(open(a.needles))
    blobs = []
    for f in a.files:
        try:
            blobs.append((f, open(f, "rb").read()))
        except OSError:
            pass
    for name, hx in sorted(needles.items()):
        b = bytes.fromhex(hx)
        forms = [re.escape(x) for x in (b, b.hex().encode(), b.hex().upper().encode())]
        if b.isdigit():
            # A number only counts on its own, not as a piece of a longer one (a time in a dump).
            forms[0] = b"(?<![0-9])" + forms[0] + b"(?![0-9])"
        pat = re.compile(b"|".join(forms))
        where = [f for f, data in blobs if pat.search(data)]
        print(("found %s in %s" % (name, " ".join(where))) if where else "absent " + name)


def cmd_try_open(a):
    db = DB(a.db)
    secret = secret_of(a.secret)
    pepper = hkdf(secret, SALT, b"kek pepper v1")
    rows = db.rows("SELECT lookup, seal_id, %s FROM messages WHERE object IS NOT NULL" % db.hexcol("object"))
    der = os.path.join(a.workdir, "try.der")
    inner = os.path.join(a.workdir, "try-inner.der")
    opened = tried = 0
    for lookup, seal_id, obj in rows:
        open(der, "wb").write(bytes.fromhex(obj))
        subprocess.run(["openssl", "cms", "-verify", "-noverify", "-inform", "DER", "-in", der, "-out", inner],
                       capture_output=True)
        # Everything the row and the configuration give, as a key and as key material.
        ikms = [bytes.fromhex(lookup), lookup.encode(), seal_id.encode(), secret]
        keys = [ikm[:32] for ikm in ikms if len(ikm) >= 32] + [pepper]
        keys += [hkdf(ikm, salt, info) for ikm in ikms for salt in (SALT, pepper) for info in (b"kek v1", b"lookup v1")]
        for key in keys:
            tried += 1
            r = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-in", inner, "-secretkey", key.hex(),
                                "-secretkeyid", b"sealmilter-viewer-v1".hex()], capture_output=True)
            opened += r.returncode == 0
    print("objects %d tried %d opened %d" % (len(rows), tried, opened))


def cmd_rechain(a):
    db = DB(a.db)
    key = hkdf(secret_of(a.secret), SALT, b"audit v1")
    rows = db.rows("SELECT seq, logged, event, seal_id, address, client_ip, user_agent, outcome, detail, %s FROM audit "
                   "WHERE seq >= %d ORDER BY seq" % (db.hexcol("prev_hash"), a.seq))
    prev = bytes.fromhex(rows[0][9])
    for r in rows:
        m = prev + struct.pack(">QQ", int(r[0]), int(r[1]))
        for f in r[2:9]:
            fb = f.encode()
            m += struct.pack(">I", len(fb)) + fb
        h = hmac.new(key, m, hashlib.sha256).digest()
        db.set_hashes(int(r[0]), prev, h)
        prev = h
    print("rechained %d records" % len(rows))


def cmd_sql(a):
    db = DB(a.db)
    for r in db.rows(a.query):
        print("|".join(r))
    if not db.pg:
        db.conn.commit()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("derive")
    s.add_argument("--token", required=True)
    s.add_argument("--secret", required=True)
    s = sub.add_parser("cek")
    s.add_argument("--object", required=True)
    s.add_argument("--kek", required=True)
    s = sub.add_parser("passcode-hash")
    for k in ("secret", "lookup", "address", "code"):
        s.add_argument("--" + k, required=True)
    s = sub.add_parser("session-hash")
    s.add_argument("--secret", required=True)
    s.add_argument("--sid", required=True)
    s = sub.add_parser("scan")
    s.add_argument("--needles", required=True)
    s.add_argument("files", nargs="*")
    s = sub.add_parser("try-open")
    s.add_argument("--db", required=True)
    s.add_argument("--secret", required=True)
    s.add_argument("--workdir", required=True)
    s = sub.add_parser("rechain")
    s.add_argument("--db", required=True)
    s.add_argument("--secret", required=True)
    s.add_argument("--seq", type=int, required=True)
    s = sub.add_parser("sql")
    s.add_argument("--db", required=True)
    s.add_argument("query")
    a = p.parse_args()
    {"derive": cmd_derive, "cek": cmd_cek, "passcode-hash": cmd_passcode_hash, "session-hash": cmd_session_hash,
     "scan": cmd_scan, "try-open": cmd_try_open, "rechain": cmd_rechain, "sql": cmd_sql}[a.cmd](a)


if __name__ == "__main__":
    main()
