#!/usr/bin/python3
"""baddns.py - a DNS server on loopback that answers TXT queries with broken packets.

  baddns.py PORTFILE KEYFILE   listen on a free UDP port of 127.0.0.1, write the port to
                               PORTFILE, answer until killed.

By the first label of the name asked for:
  trunc     an answer whose RDLENGTH runs past the end of the packet
  badlen    a TXT record whose character-string length runs past its RDATA
  nul       a TXT record holding a NUL byte
  tc        the TC bit (try TCP), and nothing listens on TCP
  garbage   twelve random bytes
  silent    no answer at all
  good      the key in KEYFILE, split into 255-byte strings, in one record
  many      the key in 60-byte strings, after a record that is not a key
anything else: NXDOMAIN. Used by test-dkim-dns.sh: whatever comes back, sealmilter must
not crash, and must say temperror or permerror with a reason.
"""
import os
import socket
import struct
import sys


def qname_end(pkt, off):
    while pkt[off]:
        off += 1 + pkt[off]
    return off + 1


def txt_rdata(strings):
    return b"".join(bytes([len(s)]) + s for s in strings)


def answer(pkt, key):
    qid, flags = struct.unpack("!HH", pkt[:4])
    end = qname_end(pkt, 12)
    question = pkt[12:end + 4]
    label = pkt[13:13 + pkt[12]].decode("ascii", "replace").lower()

    def reply(rcode, answers, tc=False):
        fl = 0x8000 | 0x0400 | 0x0100 | 0x0080 | (0x0200 if tc else 0) | rcode
        head = struct.pack("!HHHHHH", qid, fl, 1, len(answers), 0, 0)
        body = b""
        for rdata, claimed in answers:
            body += b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 300, claimed if claimed is not None else len(rdata)) + rdata
        return head + question + body

    if label == "trunc":
        return reply(0, [(txt_rdata([b"v=DKIM1; p="]), 200)])
    if label == "badlen":
        return reply(0, [(b"\x50v=DKIM1; k=rsa; p=AAAA", None)])
    if label == "nul":
        return reply(0, [(txt_rdata([b"v=DKIM1; k=rsa\x00; p=" + key[:40]]), None)])
    if label == "tc":
        return reply(0, [], tc=True)
    if label == "garbage":
        return os.urandom(12)
    if label == "silent":
        return None
    if label == "good":
        rec = b"v=DKIM1; k=rsa; p=" + key
        return reply(0, [(txt_rdata([rec[i:i + 255] for i in range(0, len(rec), 255)]), None)])
    if label == "many":
        rec = b"v=DKIM1; k=rsa; p=" + key
        return reply(0, [(txt_rdata([b"not a key record"]), None),
                         (txt_rdata([rec[i:i + 60] for i in range(0, len(rec), 60)]), None)])
    return reply(3, [])


def main():
    key = open(sys.argv[2], "rb").read().strip()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    while True:
        pkt, peer = s.recvfrom(4096)
        try:
            out = answer(pkt, key)
        except Exception:
            out = None
        if out is not None:
            s.sendto(out, peer)


if __name__ == "__main__":
    main()
