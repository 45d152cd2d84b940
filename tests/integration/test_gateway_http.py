#!/usr/bin/env python3
"""test_gateway_http.py - the HTTP/1.1 front end against malformed and smuggling-shaped requests,
sent as raw bytes on a socket.

Topology: one public function routed at "/" (a catch-all), so every well-formed request would
reach the demo backend; a refused one must get 400, the connection closed, and the backend must
never see it (its request counter, read directly, does not move).
"""

import base64
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402

H = "Host: example.test\r\n"

# (name, raw request). Each must be refused: 400, connection closed, never forwarded.
BAD = [
    ("cl+te", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("te+cl", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("cl+te obfuscated", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nTransfer-Encoding: chunked \r\n\r\n0\r\n\r\n"),
    ("cl duplicate same", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    ("cl duplicate differ", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ("cl list", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5, 5\r\n\r\nhello"),
    ("cl letters", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5a\r\n\r\nhello"),
    ("cl negative", "POST / HTTP/1.1\r\n" + H + "Content-Length: -1\r\n\r\nhello"),
    ("cl plus", "POST / HTTP/1.1\r\n" + H + "Content-Length: +5\r\n\r\nhello"),
    ("cl empty", "POST / HTTP/1.1\r\n" + H + "Content-Length:\r\n\r\nhello"),
    ("cl overflow", "POST / HTTP/1.1\r\n" + H + "Content-Length: 99999999999999999999999\r\n\r\nhello"),
    ("te xchunked", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("te chunked, identity", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("te identity", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: identity\r\n\r\nhello"),
    ("te gzip", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\n\r\nhello"),
    ("te space before colon", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("te obs-fold", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: x\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("bare lf", "GET / HTTP/1.1\n" + "Host: example.test\n\n"),
    ("bare lf in headers", "GET / HTTP/1.1\r\nHost: example.test\nX-A: b\r\n\r\n"),
    ("bare cr", "GET / HTTP/1.1\r\nHost: example.test\rX-A: b\r\n\r\n"),
    ("obs-fold", "GET / HTTP/1.1\r\n" + H + "X-A: a\r\n b\r\n\r\n"),
    ("header name space", "GET / HTTP/1.1\r\n" + H + "X A: b\r\n\r\n"),
    ("header name ctl", "GET / HTTP/1.1\r\n" + H + "X-\x01A: b\r\n\r\n"),
    ("header name empty", "GET / HTTP/1.1\r\n" + H + ": b\r\n\r\n"),
    ("header value nul", "GET / HTTP/1.1\r\n" + H + "X-A: a\x00b\r\n\r\n"),
    ("header value ctl", "GET / HTTP/1.1\r\n" + H + "X-A: a\x0cb\r\n\r\n"),
    ("header value del", "GET / HTTP/1.1\r\n" + H + "X-A: a\x7fb\r\n\r\n"),
    ("no colon", "GET / HTTP/1.1\r\n" + H + "NoColon\r\n\r\n"),
    ("missing host 1.1", "GET / HTTP/1.1\r\n\r\n"),
    ("two hosts", "GET / HTTP/1.1\r\n" + H + "Host: other.test\r\n\r\n"),
    ("space in target", "GET /a b HTTP/1.1\r\n" + H + "\r\n"),
    ("bad method", "G@T / HTTP/1.1\r\n" + H + "\r\n"),
    ("malformed version 1.10", "GET / HTTP/1.10\r\n" + H + "\r\n"),
    ("malformed version 2", "GET / HTTP/2\r\n" + H + "\r\n"),
    ("malformed version lowercase", "GET / http/1.1\r\n" + H + "\r\n"),
    ("bad chunk size", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("chunk size overflow", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    ("chunk missing crlf", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
]


class Http(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = it.Env("http")
        cls.backend = env.backend("http-backend")
        key = env.key("h", "rsa-pkcs1")
        cls.gw = env.fngate(it.config(env, [
            it.namespace("h", "h", [key.conf("k1")], [
                it.function("all", "all", cls.backend.url, privacy="public", prefix="/")])]))

    def assertRefused(self, name, data, timeout=3.0, status=400):
        before = self.backend.requests()
        got, closed = it.raw(self.gw.port, data.encode("latin-1") if isinstance(data, str) else data,
                             timeout=timeout)
        rs = it.parse_responses(got)
        self.assertTrue(rs, "%s: no response at all (closed=%s) %r" % (name, closed, got[:200]))
        self.assertEqual(rs[0][0], status, "%s: %r" % (name, got[:300]))
        self.assertTrue(closed, "%s: connection left open after %d" % (name, status))
        self.assertEqual(self.backend.requests(), before + 1, "%s: reached the upstream" % name)

    def test_smuggling_shapes(self):
        for name, data in BAD:
            with self.subTest(name):
                self.assertRefused(name, data)

    def test_unsupported_versions(self):
        """A well-formed HTTP-version other than 1.0 and 1.1 is unsupported, not malformed:
        505 {"error":"http_version"}, closed, never forwarded (the malformed ones are in BAD)."""
        for v in ("HTTP/5.6", "HTTP/3.0", "HTTP/2.0", "HTTP/1.2", "HTTP/0.9"):
            with self.subTest(v):
                self.assertRefused(v, "GET / %s\r\n%s\r\n" % (v, H), status=505)

    def test_connect_refused(self):
        """CONNECT (no tunnels): 405 with Allow, closed, never forwarded."""
        before = self.backend.requests()
        got, closed = it.raw(self.gw.port, b"CONNECT example.test:443 HTTP/1.1\r\n"
                             b"Host: example.test:443\r\n\r\n", timeout=3)
        rs = it.parse_responses(got)
        self.assertTrue(rs, got[:200])
        self.assertEqual(rs[0][0], 405, got[:300])
        self.assertNotIn("CONNECT", rs[0][1]["allow"][0])
        self.assertEqual(json.loads(rs[0][2])["error"], "method_not_allowed")
        self.assertTrue(closed)
        self.assertEqual(self.backend.requests(), before + 1, "CONNECT reached the upstream")

    def test_good_requests_pass(self):
        # The well-formed neighbours of the refused shapes are forwarded.
        good = [
            "GET / HTTP/1.1\r\n" + H + "Connection: close\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nConnection: close\r\n\r\nhello",
            "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            "2\r\nhe\r\n3;ext=1\r\nllo\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            "5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
            "GET / HTTP/1.1\r\n" + H + "X-Tab:\tv\tw\r\nConnection: close\r\n\r\n",
        ]
        for data in good:
            with self.subTest(data[:40]):
                got, closed = it.raw(self.gw.port, data.encode(), timeout=5)
                rs = it.parse_responses(got)
                self.assertTrue(rs and rs[0][0] == 200, got[:300])
                seen = json.loads(rs[0][2])
                if data.startswith("POST"):
                    self.assertEqual(seen["body_bytes"], 5)
                    self.assertEqual(seen["body_sha256"], it.sha256_hex(b"hello"))

    def test_chunked_trailing_space(self):
        # "chunked " : trailing whitespace is OWS (RFC 9110 5.5) and llhttp reads it as chunked.
        # Either refused, or decoded exactly: the pipelined request after it must stay a request.
        data = ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                "GET /second HTTP/1.1\r\n" + H + "Connection: close\r\n\r\n")
        got, closed = it.raw(self.gw.port, data.encode(), timeout=5)
        rs = it.parse_responses(got)
        self.assertTrue(rs, got[:300])
        if rs[0][0] == 400:
            self.assertTrue(closed)
            return
        self.assertEqual(rs[0][0], 200, got[:300])
        self.assertEqual(json.loads(rs[0][2])["body_sha256"], it.sha256_hex(b"hello"))
        self.assertEqual([s for s, _, _ in rs], [200, 200])
        self.assertEqual(json.loads(rs[1][2])["uri"], "/second")

    def test_pipelined_in_order(self):
        reqs = "".join("GET /p%d HTTP/1.1\r\n%s\r\n" % (i, H) for i in range(5))
        reqs += "POST /p5 HTTP/1.1\r\n" + H + "Content-Length: 3\r\n\r\nabc"
        reqs += "GET /p6 HTTP/1.1\r\n" + H + "Connection: close\r\n\r\n"
        # In one write, and split at awkward places (inside a request line and a body).
        raw = reqs.encode()
        for chunks in (None, [raw[:7], raw[7:61], raw[61:200], raw[200:]]):
            got, closed = it.raw(self.gw.port, raw, timeout=5, chunks=chunks)
            rs = it.parse_responses(got)
            self.assertEqual([s for s, _, _ in rs], [200] * 7, got[:500])
            self.assertEqual([json.loads(b)["uri"] for _, _, b in rs], ["/p%d" % i for i in range(7)])
            self.assertTrue(closed)

    def test_head_end_split_between_cr_and_lf(self):
        """The empty line ending the head split across two reads, between its CR and its LF,
        with a body holding bare LFs and lines that start with a space: the head's end is seen
        (http1_scan_head), so the body is a body, not more head lines (it was refused 400
        bare_lf once)."""
        body = b"{\n \"a\": 1\n}\n"
        head = ("POST / HTTP/1.1\r\n" + H + "Content-Length: %d\r\nConnection: close\r\n\r"
                % len(body)).encode()
        for chunks in ([head, b"\n" + body], [head, b"\n", body]):
            got, closed = it.raw(self.gw.port, None, timeout=5, chunks=chunks)
            rs = it.parse_responses(got)
            self.assertTrue(rs and rs[0][0] == 200, got[:300])
            self.assertEqual(json.loads(rs[0][2])["body_sha256"], it.sha256_hex(body))

    def test_absolute_form_target(self):
        # RFC 9112 3.2.2: absolute-form is accepted; its authority wins over Host, and the
        # upstream gets origin-form. Userinfo and an empty path are refused.
        data = ("GET http://abs.example.test/x?q=1 HTTP/1.1\r\nHost: other.test\r\n"
                "Connection: close\r\n\r\n")
        got, closed = it.raw(self.gw.port, data.encode(), timeout=3)
        rs = it.parse_responses(got)
        self.assertEqual(rs[0][0], 200, got[:300])
        seen = json.loads(rs[0][2])
        self.assertEqual(seen["uri"], "/x?q=1")
        self.assertEqual(seen["headers"]["x-forwarded-host"], ["abs.example.test"])
        for bad in ("http://u@abs.example.test/x", "http://abs.example.test", "http:///x"):
            with self.subTest(bad):
                self.assertRefused(bad, "GET %s HTTP/1.1\r\n%s\r\n" % (bad, H))

    def test_upgrade_answered_200_stays_http(self):
        # An upgrade is forwarded with its Upgrade field (tunnel.c, test_websocket.py); the
        # upstream answers 200, not 101: the answer is relayed as a plain response and a request
        # pipelined after the upgrade is parsed as HTTP, never relayed as tunnel bytes.
        data = ("GET /ws HTTP/1.1\r\n" + H + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                "GET /after HTTP/1.1\r\n" + H + "Connection: close\r\n\r\n")
        got, closed = it.raw(self.gw.port, data.encode(), timeout=3)
        rs = it.parse_responses(got)
        self.assertEqual([s for s, _, _ in rs], [200, 200], got[:500])
        first = json.loads(rs[0][2])
        self.assertEqual(first["headers"]["upgrade"], ["websocket"])
        self.assertEqual(json.loads(rs[1][2])["uri"], "/after")

    def test_pipelined_then_bad(self):
        # A good request, then a smuggling shape: the first is answered, the second refused.
        before = self.backend.requests()
        data = ("GET /ok HTTP/1.1\r\n" + H + "\r\n"
                "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        got, closed = it.raw(self.gw.port, data.encode(), timeout=3)
        rs = it.parse_responses(got)
        self.assertEqual([s for s, _, _ in rs], [200, 400], got[:500])
        self.assertTrue(closed)
        self.assertEqual(self.backend.requests(), before + 2)

    def test_llhttp_corpus(self):
        # Every request case llhttp (strict) rejects: 400, or closed without a 2xx; the messages
        # llhttp completed before the error may be answered, nothing after them.
        cases = [c for c in it.llhttp_vectors()
                 if c["type"].startswith("request") and c["outcome"] == "error"]
        self.assertGreaterEqual(len(cases), 55)
        before = self.backend.requests()

        def one(c):
            # Some cases end mid-request: when nothing comes back in 1.5 s, half-close (a
            # truncated request must then end in a close, never in a 2xx).
            got, closed = it.raw(self.gw.port, base64.b64decode(c["raw_b64"]), timeout=2.5,
                                 half_close_after=1.5)
            return c, got, closed

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, cases))
        allowed = 0
        for c, got, closed in results:
            label = "%s:%s %s" % (c["file"], c["line"], c["title"])
            with self.subTest(label):
                rs = it.parse_responses(got)
                ok2xx = sum(1 for s, _, _ in rs if 200 <= s < 300)
                self.assertLessEqual(ok2xx, c["messages_completed"], "%s: %r" % (label, got[:300]))
                refused = any(s == 400 for s, _, _ in rs) or (closed and ok2xx == c["messages_completed"])
                self.assertTrue(refused, "%s: not refused (closed=%s) %r" % (label, closed, got[:300]))
                if rs and rs[-1][0] != 400 and not closed:
                    self.fail("%s: connection left open" % label)
            allowed += c["messages_completed"]
        delta = self.backend.requests() - before - 1
        self.assertLessEqual(delta, allowed, "malformed requests reached the upstream")

    def test_still_serving(self):
        r = it.curl(self.gw.url("/alive"))
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    it.main()
