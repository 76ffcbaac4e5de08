#!/usr/bin/python3
"""Minimal SMTP client for the sealmilter end-to-end test bed.

Usage: smtpclient.py --port PORT [--host 127.0.0.1] [--helo NAME]
                     [--timeout SECONDS] FROM RCPT... < message

Sends the message read from stdin as one SMTP transaction.  The bytes are
sent as they are (no MIME re-encoding); only line ends are made CRLF on the
wire (a bare LF becomes CRLF; CRLF and a lone CR are left alone) and lines
starting with "." are dot-stuffed as SMTP requires.  BODY=8BITMIME is
offered when the message has 8-bit bytes and the server announces it.

Prints the server's reply to the end of DATA, or to the first command that
failed, as one line "CODE TEXT" (a multi-line reply is joined with spaces).
Exit status: 0 for 2xx, 4 for 4xx, 5 for 5xx, 1 for a connection failure
(refused, timed out, dropped) or any other reply.
"""

import argparse
import re
import smtplib
import socket
import sys


def finish(code, text, smtp=None):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join(text.split("\n"))
    print(("%03d %s" % (code, text)).rstrip())
    if smtp is not None:
        try:
            if code >= 400:
                smtp.rset()
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
    if 200 <= code < 300:
        sys.exit(0)
    if 400 <= code < 500:
        sys.exit(4)
    if 500 <= code < 600:
        sys.exit(5)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--helo", default="client.example.test")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("mail_from")
    ap.add_argument("rcpt_to", nargs="+")
    args = ap.parse_args()

    data = sys.stdin.buffer.read()
    data = re.sub(rb"(?<!\r)\n", b"\r\n", data)

    smtp = smtplib.SMTP(timeout=args.timeout)
    try:
        try:
            code, msg = smtp.connect(args.host, args.port)
        except (OSError, smtplib.SMTPException) as e:
            finish(0, "connection to %s:%d failed: %s"
                   % (args.host, args.port, e))
        if code != 220:
            finish(code, msg, smtp)

        code, msg = smtp.ehlo(args.helo)
        if not 200 <= code < 300:
            code, msg = smtp.helo(args.helo)
            if not 200 <= code < 300:
                finish(code, msg, smtp)

        options = []
        if smtp.does_esmtp:
            if smtp.has_extn("8bitmime") and re.search(rb"[\x80-\xff]", data):
                options.append("BODY=8BITMIME")
            addrs = "".join([args.mail_from] + args.rcpt_to)
            if smtp.has_extn("smtputf8") and not addrs.isascii():
                options.append("SMTPUTF8")
        code, msg = smtp.mail(args.mail_from, options)
        if not 200 <= code < 300:
            finish(code, msg, smtp)
        for rcpt in args.rcpt_to:
            code, msg = smtp.rcpt(rcpt)
            if not 200 <= code < 300:
                finish(code, msg, smtp)
        try:
            code, msg = smtp.data(data)
        except smtplib.SMTPDataError as e:
            code, msg = e.smtp_code, e.smtp_error
        finish(code, msg, smtp)
    except (smtplib.SMTPServerDisconnected, OSError, socket.timeout) as e:
        finish(0, "connection to %s:%d lost: %s" % (args.host, args.port, e))


if __name__ == "__main__":
    main()
