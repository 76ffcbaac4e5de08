#!/usr/bin/python3
"""A reader's visit to sealview over plain HTTP, step by step, each response checked.

Usage: viewer_visit.py LINK ADDRESS SINK_DIR METRICS_URL SCRAPE_FILE

  GET LINK                 200, the address form (and the CSRF cookie)
  POST LINK/code           200, the passcode page; the passcode is mailed (read from SINK_DIR)
  POST LINK/verify         a wrong passcode: 400, the form again, no session
  POST LINK/verify         the right one: 303 and a session cookie
  GET LINK                 200, the message
  (METRICS_URL saved to SCRAPE_FILE while signed in)
  POST LINK/logout         303, the session ends

Redirects are not followed, so each request is one response. Exits 1 at the
first step that does not answer as it should, saying which.
"""

import glob
import http.client
import re
import sys
import time
import urllib.parse
import urllib.request


def fail(msg):
    sys.exit("visit: " + msg)


class Browser:
    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.cookies = {}

    def request(self, method, path, form=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read().decode("utf-8", "replace")
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0]
                if "Max-Age=0" in v:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
        c.close()
        return r.status, data


def csrf_of(page, step):
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    if not m:
        fail("%s: no CSRF field in the page" % step)
    return m.group(1)


def passcode_for(sink, address, deadline):
    while time.time() < deadline:
        for env in sorted(glob.glob(sink + "/*.env")):
            eml = env[:-4] + ".eml"
            try:
                if ("to " + address) not in open(env).read().split("\n"):
                    continue
                m = re.search(r"one-time passcode is: ([0-9]{8})", open(eml, encoding="utf-8", errors="replace").read())
            except FileNotFoundError:
                continue      # the .eml is written last
            if m:
                return m.group(1)
        time.sleep(0.1)
    fail("no passcode mail to %s in %s" % (address, sink))


def main():
    link, address, sink, metrics_url, scrape = sys.argv[1:6]
    path = urllib.parse.urlsplit(link).path
    b = Browser(link)

    st, page = b.request("GET", path)
    if st != 200 or "svc" not in b.cookies:
        fail("the form: got %d (cookies %s), want 200 and the CSRF cookie" % (st, list(b.cookies)))
    st, page = b.request("POST", path + "/code", {"address": address, "csrf": csrf_of(page, "the form")})
    if st != 200:
        fail("asking for a passcode: got %d, want 200" % st)
    csrf = csrf_of(page, "the passcode page")
    code = passcode_for(sink, address, time.time() + 60)
    wrong = "%08d" % ((int(code) + 1) % 100000000)
    st, page = b.request("POST", path + "/verify", {"address": address, "code": wrong, "csrf": csrf})
    if st != 400 or "svs" in b.cookies:
        fail("a wrong passcode: got %d (cookies %s), want 400 and no session" % (st, list(b.cookies)))
    st, page = b.request("POST", path + "/verify", {"address": address, "code": code, "csrf": csrf})
    if st != 303 or "svs" not in b.cookies:
        fail("the right passcode: got %d (cookies %s), want 303 and a session" % (st, list(b.cookies)))
    st, page = b.request("GET", path)
    if st != 200 or "The terms are attached." not in page:
        fail("the message: got %d, want 200 with its text" % st)
    urllib.request.urlretrieve(metrics_url, scrape)
    st, _ = b.request("POST", path + "/logout", {"csrf": csrf_of(page, "the message page")})
    if st != 303:
        fail("signing out: got %d, want 303" % st)
    print("visit: every step answered as it should")


if __name__ == "__main__":
    main()
