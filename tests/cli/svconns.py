#!/usr/bin/env python3
"""svconns.py PORT MAX LOG - sealview.max_connections against a running sealview (one thread).

libmicrohttpd stops accepting at the limit: a connection past it waits in
the listen queue until one closes. This opens MAX connections, each holding
a request whose header is not finished, and waits (a bounded number of
looks) for sealview's log line saying MAX are open. Then connection MAX+1
sends a whole request; one held request is finished (answered 200: it was
held, not dropped) and closed; and connection MAX+1 is then answered 200
too (it waited, and nothing was lost). Prints ok/FAIL lines and the closing
count; exit 1 on a failure. Loopback only.
"""
import socket
import sys
import time

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + name)
    else:
        failed += 1
        print("FAIL - %s%s" % (name, (": " + detail) if detail else ""))


def answer(s):
    """The status line of the answer, or "" when the server closed without one."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return ""
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return ""
    return data.split(b"\r\n")[0].decode("latin-1")


def conn(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(30)
    return s


def main():
    port, limit, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    want = "%d connections open, the most sealview.max_connections (%d) allows" % (limit, limit)
    held = [conn(port) for _ in range(limit)]
    for s in held:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")     # the header goes on...
    seen = False
    for _ in range(200):
        with open(log, errors="replace") as f:
            if want in f.read():
                seen = True
                break
        time.sleep(0.05)
    check("%d connections open (at the limit): the log says so, naming the limit and its value" % limit, seen)
    extra = conn(port)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    last = held.pop()
    last.sendall(b"Connection: close\r\n\r\n")
    st = answer(last)
    check("connection %d (at the limit) was held: its request is answered" % limit, st.startswith("HTTP/1.1 200"),
          repr(st))
    last.close()
    st = answer(extra)
    check("connection %d (past the limit) waited and is answered once a place freed" % (limit + 1),
          st.startswith("HTTP/1.1 200"), repr(st))
    extra.close()
    for s in held:
        s.close()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.stderr.write("usage: svconns.py PORT MAX LOG\n")
        sys.exit(2)
    sys.exit(main())
