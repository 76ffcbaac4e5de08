#!/usr/bin/python3
"""dkim_sign_corpus.py - messages for the DKIM signing test, and the check of what was delivered.

  dkim_sign_corpus.py make OUTDIR PRESIGNKEY   write OUTDIR/NAME.eml and OUTDIR/list.tsv
                                                ("NAME<TAB>envelope sender"); PRESIGNKEY signs
                                                the message that already carries a signature
                                                (d=lists.example, s=l1)
  dkim_sign_corpus.py check ZONE FILE DOMAIN [top]
                                                verify FILE with python3-dkim: the top signature
                                                must be ours (d=DOMAIN) and pass, and every other
                                                signature must still pass (with "top": only ours,
                                                for a message sealmilter changed after an earlier
                                                signer signed it); prints a reason and exits 1
                                                otherwise. ZONE has "name<TAB>record" lines.
"""
import base64
import os
import re
import sys

import dkim


def head(frm, subject, mid, extra=b""):
    return (b"From: " + frm + b"\r\nTo: Bob <bob@partner.example>\r\nSubject: " + subject + b"\r\n"
            b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <" + mid + b">\r\n" + extra)


PNG = base64.b64decode(b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def corpus(presign_key):
    b64png = base64.encodebytes(PNG).replace(b"\n", b"\r\n")
    binary = base64.encodebytes(bytes(range(256)) * 8).replace(b"\n", b"\r\n")
    out = {}
    out["plain"] = (b"alice@example.com", head(b"Alice <alice@example.com>", b"Plain text", b"plain@example.com") +
                    b"\r\nHello Bob,\r\n\r\nthe figures are attached.\r\n")
    out["utf8-8bit"] = (b"alice@example.org", head(b"Alice <alice@example.org>", b"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=",
                                                    b"utf8@example.org",
                                                    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                                                    b"Content-Transfer-Encoding: 8bit\r\n") +
                        "\r\nGrüße aus Köln, Bob — schöne Feiertage!\r\n".encode("utf-8"))
    out["html-inline-image"] = (b"alice@example.com", head(
        b"Alice <alice@example.com>", b"Newsletter", b"html@example.com",
        b"MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n") +
        b"\r\n--rel\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
        b"<html><body><p>Hello <b>Bob</b></p><img src=\"cid:logo@example.com\"></body></html>\r\n"
        b"--rel\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <logo@example.com>\r\n"
        b"Content-Disposition: inline; filename=\"logo.png\"\r\n\r\n" + b64png + b"--rel--\r\n")
    out["binary-attachment"] = (b"alice@example.org", head(
        b"Alice <alice@example.org>", b"Report", b"bin@example.org",
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mix\"\r\n") +
        b"\r\n--mix\r\nContent-Type: text/plain\r\n\r\nThe report is attached.\r\n"
        b"--mix\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=\"report.bin\"\r\n\r\n" + binary + b"--mix--\r\n")
    out["trailing-spaces"] = (b"alice@example.com", head(b"Alice <alice@example.com>", b"Spaces  at the end  ",
                                                          b"spaces@example.com") +
                              b"\r\nline with trailing spaces   \r\nand a tab\t\r\n   \r\n")
    out["sealed"] = (b"alice@example.com", head(b"Alice <alice@example.com>", b"[secure] Contract", b"sealed@example.com") +
                     b"\r\nThe contract terms are below.\r\n")
    out["forwarded-8bit"] = (b"alice@example.com", head(
        b"Alice <alice@example.com>", b"Fwd: Angebot", b"fwd@example.com",
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"fw\"\r\n") +
        b"\r\n--fw\r\nContent-Type: text/plain\r\n\r\nSee the forwarded message.\r\n"
        b"--fw\r\nContent-Type: message/rfc822\r\n\r\nFrom: Dora <dora@partner.example>\r\nSubject: Angebot\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
        "Grüße, das Angebot gilt bis Freitag.   \r\n".encode("utf-8") + b"--fw--\r\n")
    pre = head(b"Alice <alice@example.com>", b"Already signed", b"presigned@example.com") + b"\r\nSigned by the list.\r\n"
    sig = dkim.sign(pre, b"l1", b"lists.example", presign_key, canonicalize=(b"relaxed", b"relaxed"))
    out["already-signed"] = (b"alice@example.com", sig + pre)
    return out


def cmd_make(outdir, keyfile):
    with open(os.path.join(outdir, "list.tsv"), "w") as lst:
        for name, (sender, msg) in corpus(open(keyfile, "rb").read()).items():
            open(os.path.join(outdir, name + ".eml"), "wb").write(msg)
            lst.write("%s\t%s\n" % (name, sender.decode()))


def cmd_check(zone, path, domain, top_only=False):
    recs = {}
    for line in open(zone):
        if "\t" in line:
            n, r = line.rstrip("\n").split("\t", 1)
            recs[(n.rstrip(".") + ".").encode()] = r.encode()

    def dnsfunc(name, timeout=5):
        return recs.get(name if isinstance(name, bytes) else name.encode())

    msg = open(path, "rb").read()
    # The sink prepends the envelope as X-Env-* lines: not part of the message.
    msg = re.sub(rb"\AX-Env-[^\n]*\n(X-Env-[^\n]*\n)*", b"", msg)
    d = dkim.DKIM(msg)
    sigs = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
    if not sigs:
        print("no DKIM-Signature")
        return 1
    if (b"d=" + domain.encode() + b";") not in re.sub(rb"\s", b"", sigs[0]):
        print("the top signature is not ours (d=%s)" % domain)
        return 1
    for i in range(1 if top_only else len(sigs)):
        if not d.verify(idx=i, dnsfunc=dnsfunc):
            print("python3-dkim: signature %d does not verify" % i)
            return 1
    print("python3-dkim: %d signature(s) verify" % (1 if top_only else len(sigs)))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "make":
        cmd_make(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check":
        sys.exit(cmd_check(sys.argv[2], sys.argv[3], sys.argv[4], len(sys.argv) > 5 and sys.argv[5] == "top"))
    else:
        sys.exit(__doc__)
