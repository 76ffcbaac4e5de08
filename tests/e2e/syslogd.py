#!/usr/bin/python3
"""Tiny syslog receiver for the sealmilter test bed.

Listens on a unix datagram socket (bind-mounted as /dev/log in the private
Sendmail's mount namespace) and appends each message, without its <PRI>
prefix, as one line to a log file.

Usage: syslogd.py --socket PATH --log FILE [--pidfile FILE]
"""

import argparse
import os
import re
import signal
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--pidfile")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(args.socket)
    os.chmod(args.socket, 0o666)
    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, args.pidfile)
    with open(args.log, "ab", buffering=0) as log:
        while True:
            data = sock.recv(65536)
            data = re.sub(rb"^<\d+>", b"", data).rstrip(b"\0\r\n")
            log.write(data.replace(b"\n", b" ") + b"\n")


if __name__ == "__main__":
    main()
