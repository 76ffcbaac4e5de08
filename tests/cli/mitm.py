#!/usr/bin/python3
"""A network attacker between sealmilter/sealctl and sealview, for tests/cli/test-threats.sh.

Serve mode: an HTTP proxy on 127.0.0.1 in front of sealview's API. Every request is
recorded as DIR/NNNN.req (JSON: method, path, headers, body in base64); what happens to
it is read from DIR/mode at each request:
  pass                      forward it to the upstream, record the answer (NNNN.resp)
  flip                      forward it with one byte of its body changed
  retarget PATH             forward it to another path, its signature fields unchanged
  forge STATUS BODY...      do not forward; answer STATUS with BODY, as an attacker would
  replay N                  do not forward; answer with the recorded answer N.resp,
                            headers (its signature too) and body exactly as sealview sent them
NNNN.wire holds what went over the wire both ways (request line, header fields, bodies),
for scanning.

  mitm.py serve --port PORT --upstream http://127.0.0.1:PORT --dir DIR --pidfile FILE

Send mode: send a recorded request again, as an attacker who saw it would; prints the
status and the body's first line.
  mitm.py send --to http://127.0.0.1:PORT --req DIR/NNNN.req

Loopback only: the upstream and the target must be 127.0.0.1.
"""

import argparse
import base64
import http.client
import http.server
import json
import os
import sys
import threading
import urllib.parse

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection", "host",
       "content-length", "expect"}


def loopback(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or u.hostname != "127.0.0.1":
        sys.exit("mitm.py: only http://127.0.0.1 is allowed, not " + url)
    return u.hostname, u.port


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    seq = 0

    def log_message(self, fmt, *args):
        sys.stderr.write("mitm: " + (fmt % args) + "\n")

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def answer(self, status, headers, body):
        self.send_response_only(status)
        for k, v in headers:
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def handle_any(self):
        body = self.read_body()
        with Proxy.lock:
            Proxy.seq += 1
            n = Proxy.seq
        d = self.server.dir
        req = {"method": self.command, "path": self.path, "headers": list(self.headers.items()),
               "body": base64.b64encode(body).decode()}
        with open(os.path.join(d, "%04d.req" % n), "w") as f:
            json.dump(req, f)
        wire = open(os.path.join(d, "%04d.wire" % n), "wb")
        wire.write(("%s %s\r\n" % (self.command, self.path)).encode() + bytes(self.headers) + body)
        try:
            mode = open(os.path.join(d, "mode")).read().split(None, 2)
        except OSError:
            mode = ["pass"]
        if mode[0] == "forge":
            self.answer(int(mode[1]), [("Content-Type", "application/json")],
                        (mode[2] if len(mode) > 2 else "").encode())
            wire.close()
            return
        if mode[0] == "replay":
            old = json.load(open(os.path.join(d, "%04d.resp" % int(mode[1]))))
            self.answer(old["status"], old["headers"], base64.b64decode(old["body"]))
            wire.close()
            return
        path = self.path
        if mode[0] == "flip" and body:
            body = body[:len(body) // 2] + bytes([body[len(body) // 2] ^ 1]) + body[len(body) // 2 + 1:]
        if mode[0] == "retarget":
            path = mode[1]
        host, port = self.server.upstream
        c = http.client.HTTPConnection(host, port, timeout=60)
        c.request(self.command, path, body=body,
                  headers={k: v for k, v in self.headers.items() if k.lower() not in HOP})
        r = c.getresponse()
        rbody = r.read()
        rheaders = r.getheaders()
        c.close()
        with open(os.path.join(d, "%04d.resp" % n), "w") as f:
            json.dump({"status": r.status, "headers": rheaders, "body": base64.b64encode(rbody).decode()}, f)
        wire.write(("\r\n%d\r\n" % r.status).encode() + "".join("%s: %s\r\n" % h for h in rheaders).encode() + rbody)
        wire.close()
        self.answer(r.status, rheaders, rbody)

    do_GET = do_PUT = do_POST = do_DELETE = handle_any


def serve(a):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Proxy)
    srv.dir = a.dir
    srv.upstream = loopback(a.upstream)
    with open(a.pidfile, "w") as f:
        f.write("%d\n" % os.getpid())
    srv.serve_forever()


def send(a):
    host, port = loopback(a.to)
    req = json.load(open(a.req))
    body = base64.b64decode(req["body"])
    headers = {k: v for k, v in req["headers"] if k.lower() not in HOP}
    c = http.client.HTTPConnection(host, port, timeout=60)
    c.request(req["method"], req["path"], body=body, headers=headers)
    r = c.getresponse()
    text = r.read().decode("utf-8", "replace")
    print(r.status, text.split("\n", 1)[0])


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--upstream", required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--pidfile", required=True)
    t = sub.add_parser("send")
    t.add_argument("--to", required=True)
    t.add_argument("--req", required=True)
    a = p.parse_args()
    serve(a) if a.cmd == "serve" else send(a)


if __name__ == "__main__":
    main()
