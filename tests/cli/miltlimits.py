#!/usr/bin/env python3
"""miltlimits.py MODE HOST PORT MAX - a limit of a running sealmilter, over the milter protocol.

Speaks the milter protocol (version 6) as an MTA does.

MODE conns (milter.max_connections = MAX), with many connections held open:
  - MAX connections are admitted at connect (reply 'c'), and a message goes
    through the last of them (at the limit: it works);
  - one more is refused at connect with 451 4.3.2 (one past: a tempfail);
  - a refused connection that closes frees nothing (the next is refused too);
  - an admitted connection frees its place exactly once, on each way a
    connection ends: QUIT, and the MTA dropping the socket mid-message
    (abort, then close). (libmilter's QUIT_NC, a new SMTP session on the same
    socket, is legal only after a message whose end was not accepted, and
    Postfix never sends it; it also runs close first.)
  - once all have closed, MAX are admitted again.
  Ordering, not timing: a place is freed by the daemon's close callback,
  which libmilter runs before it closes the socket, so after reading end of
  file here the count is already lower.

MODE rcpts (limits.max_recipients = MAX), two messages on one connection:
  - recipients 1 to MAX are accepted ('c'), MAX+1 and MAX+2 are refused with
    452 4.5.3, and the message still goes through with its MAX recipients;
  - the next message starts afresh: MAX recipients accepted again.

Prints "ok - NAME" / "FAIL - NAME" lines, then "refused=N" (how many
connections or messages had a refusal, for the log check) and exits 1 on any
failure. Untrusted input: the daemon's replies (lengths checked, at most 1 MiB).
"""
import socket
import struct
import sys

MAX_REPLY = 1 << 20
# Protocol steps the MTA offers (SMFIP_*): everything but the "no reply" bits,
# so every step the milter keeps is answered and can be checked.
P_NOCONNECT, P_NOHELO, P_NOMAIL, P_NORCPT, P_NOBODY, P_NOHDRS, P_NOEOH = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
OFFER_PROTO = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x100 | 0x200 | 0x400 | 0x100000
OFFER_ACTIONS = 0x1FF
FINAL = b"arty"   # accept, reject, tempfail, reply code: the end of a step

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + name)
    else:
        failed += 1
        print("FAIL - %s%s" % (name, (": " + detail) if detail else ""))


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port))
        self.s.settimeout(60)
        self.steps = 0

    def send(self, cmd, data=b""):
        self.s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def read_exact(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise EOFError("the milter closed the connection")
            b += chunk
        return b

    def reply(self):
        (n,) = struct.unpack(">I", self.read_exact(4))
        if n < 1 or n > MAX_REPLY:
            raise ValueError("reply length %d" % n)
        b = self.read_exact(n)
        return b[:1], b[1:]

    def final(self):
        """Replies up to the one that ends the step (edits before it are skipped)."""
        while True:
            cmd, data = self.reply()
            if cmd in FINAL or cmd == b"c":
                return cmd, data

    def negotiate(self):
        self.send(b"O", struct.pack(">III", 6, OFFER_ACTIONS, OFFER_PROTO))
        cmd, data = self.reply()
        if cmd != b"O" or len(data) < 12:
            raise ValueError("negotiation answered %r" % cmd)
        self.steps = struct.unpack(">III", data[:12])[2]

    def connect(self):
        """Negotiate (first time) and report the SMTP client: the reply to connect."""
        addr = b"127.0.0.1"
        self.send(b"C", b"client.example\0" + b"4" + struct.pack(">H", 25000) + addr + b"\0")
        return self.final()

    def start_message(self, rcpts=(b"<bob@partner.test>",)):
        """MAIL and RCPT; the replies to each RCPT."""
        got = []
        if not self.steps & P_NOMAIL:
            self.send(b"M", b"<alice@example.com>\0")
            self.final()
        if not self.steps & P_NORCPT:
            for r in rcpts:
                self.send(b"R", r + b"\0")
                got.append(self.final())
        return got

    def message(self, started=False):
        """A whole message (or the rest of one); the end-of-message reply."""
        if not started:
            self.start_message()
        if not self.steps & P_NOHDRS:
            for name, value in ((b"From", b" alice@example.com"), (b"To", b" bob@partner.test"),
                                (b"Subject", b" at the limit")):
                self.send(b"L", name + b"\0" + value + b"\0")
                self.final()
        if not self.steps & P_NOEOH:
            self.send(b"N")
            self.final()
        if not self.steps & P_NOBODY:
            self.send(b"B", b"Hello.\r\n")
            self.final()
        self.send(b"E")
        return self.final()

    def wait_eof(self):
        """Read until the daemon closes its end (after its close callback ran)."""
        while self.s.recv(65536):
            pass
        self.s.close()

    def quit(self):
        self.send(b"Q")
        self.wait_eof()

    def drop(self):
        """The MTA goes away without a word (a crash, a killed smtpd)."""
        self.s.shutdown(socket.SHUT_WR)
        self.wait_eof()


def opened(host, port):
    c = Conn(host, port)
    c.negotiate()
    return c, c.connect()


def is_refusal(rep):
    """451 4.3.2, and the text says why (the SMTP client may see it)."""
    cmd, data = rep
    return cmd == b"y" and data.rstrip(b"\0").startswith(b"451 4.3.2 ") and b"too many connections" in data


def rcpts(host, port, limit):
    c, rep = opened(host, port)
    check("connection admitted", rep[0] == b"c", "connect answered %r %r" % rep)
    for n in (1, 2):
        addrs = [b"<r%d@partner.test>" % i for i in range(limit + 2)]
        got = c.start_message(addrs)
        check("message %d: recipients 1 to %d accepted (at the limit)" % (n, limit),
              [g[0] for g in got[:limit]] == [b"c"] * limit, "replies %r" % got[:limit])
        past = got[limit:]
        check("message %d: recipients %d and %d (past the limit) refused with 452 4.5.3" % (n, limit + 1, limit + 2),
              len(past) == 2 and all(g[0] == b"y" and g[1].startswith(b"452 4.5.3 ") for g in past),
              "replies %r" % past)
        rep = c.message(started=True)
        check("message %d: goes through with its %d recipients" % (n, limit), rep[0] == b"a",
              "end of message: %r %r" % rep)
    c.quit()
    print("refused=2")


def main():
    mode, host, port, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if mode == "rcpts":
        rcpts(host, port, limit)
        print("%d passed, %d failed" % (passed, failed))
        return 1 if failed else 0
    refused = 0

    def admit(name):
        c, rep = opened(host, port)
        check(name, rep[0] == b"c", "connect answered %r %r" % rep)
        return c

    def refuse(name):
        nonlocal refused
        c, rep = opened(host, port)
        ok = is_refusal(rep)
        refused += ok
        check(name, ok, "connect answered %r %r" % rep)
        return c

    held = [admit("connection %d of %d admitted" % (i + 1, limit)) for i in range(limit)]
    rep = held[-1].message()
    check("a message goes through connection %d (at the limit)" % limit, rep[0] == b"a", "end of message: %r %r" % rep)
    refuse("connection %d (one past the limit) refused at connect with 451 4.3.2" % (limit + 1)).quit()
    refuse("a refused connection that closed freed no place: the next is refused too").drop()

    held.pop(0).quit()
    held.append(admit("after one closed with QUIT, a new connection is admitted"))
    refuse("and the one after it is refused (the place was freed once)").quit()

    c = held.pop(0)
    c.start_message()
    c.drop()
    held.append(admit("after one was dropped mid-message (abort, close), a new connection is admitted"))
    refuse("and the one after it is refused (freed once)").quit()

    for c in held:
        c.quit()
    held = [admit("all closed: connection %d of %d admitted again" % (i + 1, limit)) for i in range(limit)]
    refuse("and connection %d refused again" % (limit + 1)).quit()
    for c in held:
        c.quit()
    print("refused=%d" % refused)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in ("conns", "rcpts"):
        sys.stderr.write("usage: miltlimits.py conns|rcpts HOST PORT MAX\n")
        sys.exit(2)
    sys.exit(main())
