#!/usr/bin/env python3
"""gen-badinput.py OUTDIR - write hostile message files for test-badinput.sh.

Each case is OUTDIR/NAME.eml. A case meant for many recipients also gets
OUTDIR/NAME.rcpts (one address a line: the test passes each with --to).
OUTDIR/MANIFEST has one line per case:

    NAME EXPECT BODY_OFFSET

EXPECT is what the daemon's pipeline must decide:
    accept              delivered (exit 0)
    reject:CODE:XCODE   refused with that reply (exit 2); reject:552:5.3.4
                        is "a limit was passed"
    any                 accept, reject or tempfail; only "no crash, no
                        error" counts
BODY_OFFSET is where the body starts in the .eml (after the blank line
that ends the header section), or -1 when "the body" is not meaningful for
the case (no header/body split the reader and a person would agree on).
When the message is accepted, the delivered message must end with exactly
these bytes, preceded by a line end.

The input is hostile on purpose: malformed and missing MIME boundaries,
deep nesting, thousands of parts, 8-bit and invalid UTF-8 headers, broken
RFC 2047 words, NUL bytes, 10,000 headers, a 1 MB header line, 1,000
recipients, a 100 MB body (streamed to disk, never held in memory), and
messages with no body, no header section, bare CR line ends or only an
mbox "From " line. Output is deterministic.
"""
import os
import sys

CASES = []  # (name, expect, body_offset, tags the delivered message must carry)


def case(name, expect, data=None, body=None, writer=None, rcpts=None, tags=()):
    """Write NAME.eml. data: the whole message (bytes); body: where the body
    starts is computed from data when body is True (after the first blank
    line), given as an int, or None (not meaningful). writer: a function
    writing the message to a file object and returning the body offset."""
    path = os.path.join(OUT, name + ".eml")
    with open(path, "wb") as f:
        if writer is not None:
            off = writer(f)
        else:
            f.write(data)
            if body is True:
                found = [(i, i + len(sep)) for sep in (b"\r\n\r\n", b"\n\n")
                         for i in [data.find(sep)] if i >= 0]
                if not found:
                    raise SystemExit("%s: no blank line" % name)
                off = min(found)[1]
            elif body is None:
                off = -1
            else:
                off = body
    if rcpts is not None:
        with open(os.path.join(OUT, name + ".rcpts"), "w") as f:
            for r in rcpts:
                f.write(r + "\n")
    CASES.append((name, expect, off, ",".join(tags) or "-"))


HDR = (b"From: Alice <alice@example.com>\n"
       b"To: Bob <bob@partner.test>\n"
       b"Message-ID: <bad-%s@example.com>\n"
       b"Date: Sun, 22 Nov 2026 10:00:00 +0000\n")


def hdr(name, subject=b"hostile", extra=b""):
    return HDR % name.encode() + b"Subject: " + subject + b"\n" + extra


def mime(name, ctype, extra=b""):
    return hdr(name, extra=b"MIME-Version: 1.0\nContent-Type: " + ctype + b"\n" + extra)


def main():
    # ---- malformed MIME ---------------------------------------------------
    case("mime-no-boundary", "accept", mime("nb", b"multipart/mixed") +
         b"\n--x\nContent-Type: text/plain\n\nhello\n--x--\n", body=True)
    case("mime-empty-boundary", "accept", mime("eb", b'multipart/mixed; boundary=""') +
         b"\n--\nContent-Type: text/plain\n\nhello\n----\n", body=True)
    case("mime-unterminated-param", "accept", mime("up", b'multipart/mixed; boundary="abc') +
         b"\n--abc\nContent-Type: text/plain\n\nhello\n--abc--\n", body=True)
    case("mime-boundary-unused", "accept", mime("bu", b'multipart/mixed; boundary="never-used"') +
         b"\nThis body never uses its boundary.\n--other\nContent-Type: text/plain\n\nx\n--other--\n",
         body=True)
    case("mime-boundary-too-long", "accept",
         mime("bl", b'multipart/mixed; boundary="' + b"b" * 300 + b'"') +
         b"\n--" + b"b" * 300 + b"\nContent-Type: text/plain\n\nx\n--" + b"b" * 300 + b"--\n", body=True)
    # Nested multiparts none of which is closed, and a part whose close
    # delimiter names an outer boundary (closing the inner ones implicitly).
    nest = b""
    for i in range(10):
        nest += b"--u%d\nContent-Type: multipart/mixed; boundary=\"u%d\"\n\npreamble %d\n" % (i, i + 1, i)
    nest += b"--u10\nContent-Type: text/plain\n\nthe innermost text, never closed\n"
    case("mime-unclosed-nested", "accept", mime("un", b'multipart/mixed; boundary="u0"') + b"\n" + nest,
         body=True, tags=("X-Badinput-Body",))
    case("mime-close-outer-only", "accept", mime("co", b'multipart/mixed; boundary="u0"') + b"\n" + nest +
         b"--u0--\nepilogue\n", body=True)
    # Missing boundaries: no opening delimiter, then a part with no close.
    case("mime-missing-open", "accept", mime("mo", b'multipart/alternative; boundary="alt"') +
         b"\nContent-Type: text/plain\n\nno opening delimiter\n--alt--\n", body=True)
    case("mime-missing-close", "accept", mime("mc", b'multipart/mixed; boundary="mc"') +
         b"\n--mc\nContent-Type: text/plain\n\npart one\n--mc\nContent-Type: application/pdf\n"
         b"Content-Disposition: attachment; filename=\"a.pdf\"\nContent-Transfer-Encoding: base64\n\n"
         b"JVBERi0xLjQK\n", body=True)
    # A part whose headers never end (EOF inside part headers).
    case("mime-eof-in-part-headers", "accept", mime("eh", b'multipart/mixed; boundary="e"') +
         b"\n--e\nContent-Type: text/plain;\n charset=utf-8\nContent-Disposition: attachment;\n", body=True)
    # Bad encodings inside parts.
    # It holds a base64 message/rfc822: GMime shows what is inside, so it is refused.
    case("mime-bad-encodings", "reject:552:5.3.4", mime("be", b'multipart/mixed; boundary="be"') +
         b"\n--be\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
         b"!!!not base64***\n=\n====\nQUJD\n--be\nContent-Type: text/plain; charset=x-no-such-charset\n"
         b"Content-Transfer-Encoding: quoted-printable\n\n=ZZ=4=\n=\n=e2=82\n--be\n"
         b"Content-Type: text/html; charset=utf-7\n\n+AGEAYgBj-\n--be\n"
         b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nRnJvbTogYUBiCgp4Cg==\n--be--\n",
         body=True)
    # A part line far past the scanner's line cap, and a boundary after it.
    # Part headers longer than the scanner reads: others would see fields it did not.
    case("mime-long-lines", "reject:552:5.3.4", mime("ll", b'multipart/mixed; boundary="ll"') +
         b"\n--ll\nContent-Type: text/plain\n\n" + b"x" * 8191 + b"\n" + b"y" * 8192 + b"\n" +
         b"z" * 8193 + b"\n" + b"--ll" + b" " * 9000 + b"\n" + b"w" * 300000 + b"\n--ll--\n", body=True)
    # 200-deep nesting: multipart inside multipart.
    deep = b""
    for i in range(200):
        deep += b"--d%d\nContent-Type: multipart/mixed; boundary=\"d%d\"\n\n" % (i, i + 1)
    deep += b"--d200\nContent-Type: text/plain\n\ndeep\n"
    for i in range(200, -1, -1):
        deep += b"--d%d--\n" % i
    case("mime-deep-200", "reject:552:5.3.4", mime("dp", b'multipart/mixed; boundary="d0"') + b"\n" + deep,
         body=True)
    # 200-deep nesting through message/rfc822.
    r = b"From: x@example.net\nSubject: innermost\n\ninnermost body\n"
    for i in range(200):
        r = b"From: x@example.net\nContent-Type: message/rfc822\n\n" + r
    case("mime-deep-rfc822-200", "reject:552:5.3.4",
         hdr("dr", extra=b"Content-Type: message/rfc822\n") + b"\n" + r, body=True)
    # 5000 tiny parts.
    parts = b"".join(b"--p\nContent-Type: text/plain\n\n%d\n" % i for i in range(5000)) + b"--p--\n"
    case("mime-parts-5000", "reject:552:5.3.4", mime("p5", b'multipart/mixed; boundary="p"') + b"\n" + parts,
         body=True)
    # A digest of 25 forwarded messages, side by side (nesting depth 2): an
    # ordinary message, under max_mime_depth (20) and max_mime_parts.
    # (Regression: mimescan once never lowered the depth when a
    # message/rfc822 part ended, so 20 sibling messages were 20 levels.)
    dig = b"".join(b"--dg\n\nFrom: m%d@example.net\nSubject: digest item %d\n\nitem %d\n" % (i, i, i)
                   for i in range(25)) + b"--dg--\n"
    case("mime-digest-25", "accept", mime("dg", b'multipart/digest; boundary="dg"') + b"\n" + dig, body=True)

    # An executable behind a delimiter line with 9000 bytes of transport
    # padding (RFC 2046: receivers must accept it; GMime and Python's email
    # package see the attachment). The example policy must refuse it.
    # (Known bug: mimescan takes lines over 8192 bytes for content, never a
    # boundary, so the attachment goes unseen and the message is accepted.)
    case("mime-padded-boundary-exe", "reject:550:5.7.1", mime("pb", b'multipart/mixed; boundary="b"') +
         b"\n--b\nContent-Type: text/plain\n\nSee attachment.\n--b" + b" " * 9000 +
         b"\nContent-Type: application/octet-stream\n"
         b"Content-Disposition: attachment; filename=\"invoice.exe\"\nContent-Transfer-Encoding: base64\n\n"
         b"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n--b--\n", body=True)
    # Two Content-Type fields: the scanner takes the first (text/plain),
    # GMime the last (a multipart hiding a.exe). Only "no crash" is asserted.
    # Two Content-Type fields: readers disagree on which counts, so it is refused.
    case("mime-duplicate-ctype", "reject:552:5.3.4", hdr("dc", extra=b"MIME-Version: 1.0\nContent-Type: text/plain\n"
         b"Content-Type: multipart/mixed; boundary=\"b\"\n") + b"\n--b\nContent-Type: text/plain\n\nhi\n--b\n"
         b"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"a.exe\"\n\nMZ\n"
         b"--b--\n", body=True)

    # ---- 8-bit and invalid UTF-8 headers -----------------------------------
    case("hdr-latin1", "accept", b"From: J\xf6rg M\xfcller <joerg@example.com>\n"
         b"To: Bj\xf6rn <bjorn@partner.test>\n"
         b"Subject: Gr\xfc\xdfe aus K\xf6ln \xa9\xff\n"
         b"Content-Type: text/plain; name=\"r\xe9sum\xe9.txt\"\n"
         b"X-Latin: \xe0\xe1\xe2\xe3\n\nbody\n", body=True, tags=("X-Badinput-Subject", "X-Badinput-Header"))
    case("hdr-truncated-utf8", "accept", b"From: \xc3 <alice@example.com>\nTo: bob@partner.test\n"
         b"Subject: cut \xe2\x82 mid \xf0\x9f\x98 sequence \xc3\n"
         b"X-Overlong: \xc0\xaf \xe0\x80\xaf \xf8\x88\x80\x80\x80 \xed\xa0\x80\n"
         b"Content-Disposition: attachment; filename=\"\xe2\x82.exe\xc3\"\n\nbody\n", body=True)
    # The RFC 2231 file name with a bad %-escape still ends in .exe: the
    # example policy's no-executables rule must see it (550 5.7.1).
    case("hdr-broken-rfc2047", "reject:550:5.7.1", b"From: =?utf-8?B?QWxpY2U=?= <alice@example.com>\n"
         b"To: =?utf-8?Q?B=F6b?= <bob@partner.test>\n"
         b"Subject: =?utf-8?B?!!!notbase64?= =?utf-8?Q?=E2=82?= =?no-such-charset?Q?abc?=\n"
         b" =?utf-8?X?unknown-encoding?= =?utf-8?B?W3NlY3VyZV0=?= =?utf-8?Q?unterminated\n"
         b" =?=?=?==??== =??= =?utf-8??= =?utf-8*en?Q?lang?= =?" + b"x" * 2000 + b"?B?QQ==?=\n"
         b"X-Word: =?iso-2022-jp?B?GyRCJCIbKEI?= =?utf-16?B?2D3eAA==?= =?utf-7?Q?+AGE?=\n"
         b"Content-Type: multipart/mixed; boundary*0=\"ab\"; boundary*1=\"cd\"\n"
         b"\n--abcd\nContent-Type: text/plain\nContent-Disposition: attachment;"
         b" filename*=utf-8''%E2%82%ZZ.exe\n\nx\n--abcd\nContent-Disposition: attachment;"
         b" filename*0*=iso-8859-1''%e9; filename*2=\"gap.scr\"\n\ny\n--abcd--\n", body=True)

    # ---- NUL bytes ---------------------------------------------------------
    case("nul-in-headers", "accept", b"From: alice\x00@example.com\nTo: bob@partner.test\n"
         b"Subject: a\x00b\x00[secure]\n\x00X-Nul: lead\nX-Tail: tail\x00\n"
         b"Content-Type: multipart/mixed; boundary=\"n\x00n\"\n\n--n n\n\nbody\n--n n--\n", body=True)
    nulbody = bytes(range(256)) * 64 + b"\x00" * 5000 + b"\n\x00\r\n\x00\n--\x00--\n" + b"end\x00"
    case("nul-in-body", "accept", hdr("nb") + b"\n" + nulbody, body=True, tags=("X-Badinput-Subject",))

    # ---- header limits -----------------------------------------------------
    many = b"".join(b"X-Filler-%d: value %d\n" % (i, i) for i in range(10000))
    case("headers-10000", "reject:552:5.3.4", hdr("h10k") + many + b"\nbody\n", body=True)
    case("header-1mb", "reject:552:5.3.4", hdr("h1m") + b"X-Huge: " + b"A" * (1024 * 1024) + b"\n\nbody\n",
         body=True)
    # 1 MB in one field, but made of folded lines.
    folded = b"".join(b" fold line %06d ....................................................\n" % i
                      for i in range(1024 * 1024 // 70))
    case("header-1mb-folded", "reject:552:5.3.4", hdr("h1f") + b"X-Folded:\n" + folded + b"\nbody\n", body=True)

    # ---- 1,000 recipients --------------------------------------------------
    rc = ["user%04d@partner%d.test" % (i, i % 7) for i in range(1000)]
    case("rcpts-1000", "accept", hdr("r1k") + b"\nOne message, a thousand recipients.\n", body=True, rcpts=rc)

    # ---- 100 MB body, streamed ---------------------------------------------
    def big(f):
        h = hdr("big", extra=b"MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n") + b"\n"
        f.write(h)
        line = b"%08d the quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmn\n"
        chunk = b"".join(line % i for i in range(800))   # 64,000 bytes
        total = 100 * 1024 * 1024
        n = 0
        while n + len(chunk) <= total:
            f.write(chunk)
            n += len(chunk)
        f.write(b"#" * (total - n - 1) + b"\n")
        return len(h)
    case("body-100mb", "accept", writer=big, tags=("X-Badinput-Body",))

    # ---- structure of the file ---------------------------------------------
    case("headers-no-body", "accept", hdr("nobody"), body=len(hdr("nobody")))
    case("headers-no-body-no-eol", "accept", hdr("nobodyeol").rstrip(b"\n"),
         body=len(hdr("nobodyeol")) - 1)
    case("body-no-headers", "accept", b"This message has no header section.\n\nJust text.\n", body=0)
    case("bare-cr", "any", b"From: alice@example.com\rTo: bob@partner.test\rSubject: [secure] cr\r\r"
         b"body line one\rbody line two\r", body=None)
    case("bare-cr-body", "accept", hdr("crb") + b"\nline\rline\r\rline\r--x\r", body=True)
    case("mbox-from-only", "accept", b"From alice@example.com Sun Nov 22 10:00:00 2026\n", body=48)
    case("empty-file", "accept", b"", body=0)
    case("only-blank-line", "accept", b"\n", body=1)
    case("crlf-mixed", "accept", b"From: alice@example.com\r\nTo: bob@partner.test\nSubject: mixed\r\n"
         b"Folded: a\r\n\tb\n \r\n\r\nbody\r\nbody\n", body=True)

    with open(os.path.join(OUT, "MANIFEST"), "w") as f:
        for name, expect, off, tags in CASES:
            f.write("%s %s %d %s\n" % (name, expect, off, tags))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: gen-badinput.py OUTDIR\n")
        sys.exit(1)
    OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    main()
