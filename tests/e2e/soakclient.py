#!/usr/bin/python3
"""Load generator for the fault soak (test-soak.sh).

Sends N messages to an SMTP server with C concurrent connections, each message
once, and retries it while the server defers it (4xx, or a connection that
fails) until it is accepted (2xx) or refused (5xx), or until --deadline
seconds pass. Every message carries a unique id (Message-ID <soak-ID@...>,
X-Soak-Id: ID) and its kind decides the subject and body, so the rules in the
soak's configuration treat it as intended:

  sealed   "[secure]" subject, to an outside recipient; sealed without the
           viewer. Its body holds the plaintext marker SOAKPLAIN-ID, which
           must never be delivered in the clear. One in four has a 96 KB
           attachment, so its body goes through milter.spool_dir.
  viewer   "[viewer]" subject: sealed and registered with sealview.
  signed   "[signed]" subject: S/MIME-signed.
  plain    no rule matches: delivered as sent.
  rejected an .exe attachment: refused with 5xx.

The outcome of each message goes to --ledger, one JSON object per line:
{"id", "kind", "outcome": accepted|rejected|gave_up, "attempts", "reply"}.
--progress FILE is rewritten with the number of messages finished so far,
so the test can time its faults by progress rather than by the clock.

Usage: soakclient.py --port P --count N [--conc C] --ledger FILE
                     [--progress FILE] [--deadline SECONDS] [--first ID]
"""

import argparse
import base64
import json
import os
import random
import smtplib
import socket
import sys
import threading
import time

KINDS = ["sealed", "plain", "viewer", "signed", "sealed", "plain", "rejected", "viewer", "signed", "sealed"]


def kind_of(i):
    return KINDS[i % len(KINDS)]


def message(i):
    kind = kind_of(i)
    subject = {
        "sealed": "[secure] soak %d" % i,
        "viewer": "[viewer] soak %d" % i,
        "signed": "[signed] soak %d" % i,
        "plain": "soak %d" % i,
        "rejected": "soak %d with a program" % i,
    }[kind]
    marker = ("SOAKPLAIN-%d" if kind in ("sealed", "viewer") else "soakclear-%d") % i
    text = "Hello,\r\n\r\nThis is message %d of the soak: %s.\r\n%s\r\n" % (
        i, marker, "Some ordinary text to make the body longer than a line. " * 20)
    attach = None
    if kind == "rejected":
        attach = ("setup.exe", "application/octet-stream", b"MZ" + os.urandom(2000))
    elif kind == "sealed" and i % 4 == 0:
        attach = ("report.bin", "application/octet-stream",
                  (marker.encode() + b" ") * 8 + os.urandom(96 * 1024))
    head = ("From: Alice <alice@example.com>\r\nTo: Bob <bob@partner.test>\r\n"
            "Subject: %s\r\nMessage-ID: <soak-%d@example.com>\r\nX-Soak-Id: %d\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n") % (subject, i, i)
    if attach is None:
        return head + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text
    name, ctype, data = attach
    b64 = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return (head + 'Content-Type: multipart/mixed; boundary="soakb"\r\n\r\n'
            "--soakb\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + text +
            "--soakb\r\nContent-Type: %s\r\nContent-Disposition: attachment; filename=%s\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s--soakb--\r\n" % (ctype, name, b64))


class Soak:
    def __init__(self, a):
        self.a = a
        self.next = a.first
        self.end = a.first + a.count
        self.done = 0
        self.lock = threading.Lock()
        self.ledger = open(a.ledger, "a")

    def take(self):
        with self.lock:
            if self.next >= self.end:
                return None
            self.next += 1
            return self.next - 1

    def finish(self, rec):
        with self.lock:
            self.ledger.write(json.dumps(rec) + "\n")
            self.ledger.flush()
            self.done += 1
            if self.a.progress:
                tmp = self.a.progress + ".tmp"
                with open(tmp, "w") as f:
                    f.write("%d\n" % self.done)
                os.rename(tmp, self.a.progress)

    def send_one(self, i):
        data = message(i).encode()
        rcpt = "bob@partner.test"
        attempts, reply = 0, ""
        give_up = time.monotonic() + self.a.deadline
        while True:
            attempts += 1
            code = 0
            try:
                with smtplib.SMTP("127.0.0.1", self.a.port, timeout=120) as s:
                    s.ehlo("soak.example.com")
                    code, msg = s.mail("alice@example.com")
                    if code == 250:
                        code, msg = s.rcpt(rcpt)
                    if code == 250:
                        code, msg = s.data(data)
                    reply = "%d %s" % (code, msg.decode("utf-8", "replace"))
                    try:
                        s.quit()
                    except (smtplib.SMTPException, OSError):
                        pass
            except smtplib.SMTPResponseException as e:
                code = e.smtp_code
                reply = "%d %s" % (code, e.smtp_error.decode("utf-8", "replace"))
            except (smtplib.SMTPException, OSError) as e:
                code = 0
                reply = "connection: %s" % e
            if 200 <= code < 300:
                return {"id": i, "kind": kind_of(i), "outcome": "accepted", "attempts": attempts, "reply": reply}
            if 500 <= code < 600:
                return {"id": i, "kind": kind_of(i), "outcome": "rejected", "attempts": attempts, "reply": reply}
            if time.monotonic() > give_up:
                return {"id": i, "kind": kind_of(i), "outcome": "gave_up", "attempts": attempts, "reply": reply}
            time.sleep(random.uniform(0.2, 1.0))

    def worker(self):
        while True:
            i = self.take()
            if i is None:
                return
            self.finish(self.send_one(i))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--conc", type=int, default=16)
    p.add_argument("--first", type=int, default=1)
    p.add_argument("--ledger", required=True)
    p.add_argument("--progress")
    p.add_argument("--deadline", type=float, default=600.0)
    a = p.parse_args()
    socket.setdefaulttimeout(120)
    s = Soak(a)
    threads = [threading.Thread(target=s.worker) for _ in range(a.conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
