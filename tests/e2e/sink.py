#!/usr/bin/python3
"""SMTP sink for the sealmilter end-to-end test bed.

Accepts every message (no size limit, lines up to 4 MiB) and stores it in
DIR as
  NNNN.env  line 1 "from ADDR", then one "to ADDR" line per recipient
  NNNN.eml  the DATA bytes exactly as received (dot-unstuffed, CRLF line
            ends as on the wire, nothing added)
The .env file is written first and the .eml file last, each through a
temporary name and rename(), so a reader that sees NNNN.eml sees a complete
message and its envelope.

Usage: sink.py --port PORT --dir DIR [--host 127.0.0.1] [--pidfile FILE]
Needs Debian's python3-aiosmtpd: run it with /usr/bin/python3.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys

from aiosmtpd.smtp import SMTP


class SinkSMTP(SMTP):
    # A sink keeps what the MTA sends rather than judging it: accept lines
    # longer than RFC 5321's 1000 octets (up to 4 MiB, the stream buffer).
    line_length_limit = 4 << 20


class SinkHandler:
    def __init__(self, directory):
        self.dir = directory
        self.seq = 0
        # Continue numbering after files left by an earlier sink in DIR.
        for name in os.listdir(directory):
            stem = name.split(".", 1)[0]
            if stem.isdigit():
                self.seq = max(self.seq, int(stem))

    def _write(self, name, data):
        tmp = os.path.join(self.dir, ".%s.tmp" % name)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.dir, name))

    async def handle_DATA(self, server, session, envelope):
        # No await between numbering and the renames: messages arriving on
        # concurrent sessions get distinct numbers and complete files.
        self.seq += 1
        stem = "%04d" % self.seq
        env = "from %s\n" % envelope.mail_from
        env += "".join("to %s\n" % r for r in envelope.rcpt_tos)
        self._write(stem + ".env", env.encode("utf-8", "surrogateescape"))
        self._write(stem + ".eml", envelope.original_content)
        logging.info("stored %s from=%s to=%s bytes=%d", stem,
                     envelope.mail_from, ",".join(envelope.rcpt_tos),
                     len(envelope.original_content))
        return "250 2.0.0 Ok: stored as %s" % stem


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--pidfile")
    ap.add_argument("--hostname", default="sink.example.test")
    args = ap.parse_args()

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s sink[%(process)d] %(message)s")
    # aiosmtpd's own INFO chatter (one line per command) is too much.
    logging.getLogger("mail.log").setLevel(logging.WARNING)

    os.makedirs(args.dir, exist_ok=True)
    handler = SinkHandler(args.dir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        # data_size_limit=None: no size limit (aiosmtpd's default, 32 MiB,
        # would bounce a big test message).
        return SinkSMTP(handler, hostname=args.hostname, enable_SMTPUTF8=True,
                        decode_data=False, data_size_limit=None, loop=loop)

    server = loop.run_until_complete(
        loop.create_server(factory, host=args.host, port=args.port,
                           reuse_address=True))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, args.pidfile)
    logging.info("listening on %s:%d, storing in %s", args.host, args.port,
                 args.dir)
    try:
        loop.run_forever()
    finally:
        server.close()
        logging.info("stopped")


if __name__ == "__main__":
    main()
