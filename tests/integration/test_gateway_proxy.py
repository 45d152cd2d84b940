#!/usr/bin/env python3
"""test_gateway_proxy.py - what the upstream sees and how responses come back.

Topology: namespace p (RS256) with
  priv     private  /p/priv
  pub      public   /p/pub
  nostrip  public   /p/nostrip   strip_prefix false
  base     public   /p/base      upstream http://127.0.0.1:PORT/base
  down     public   /p/down      upstream on a port nothing listens on
  slow     public   /p/slow      upstream_response_ms 500
  small    public   /p/small     max_body_bytes 1024
  psmall   private  /p/psmall    max_body_bytes 1024
A second gateway (forward_token true) serves the same namespace for the forward_token test.
"""

import os
import json
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402

NS = "7a1e0000-0000-4000-8000-0000000000a1"
FN_PRIV = "7f000000-0000-4000-8000-000000000001"
FN_PUB = "7f000000-0000-4000-8000-000000000002"

HOP_BY_HOP = ("keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection",
              "x-hop")


class Proxy(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = it.Env("proxy")
        cls.backend = env.backend("proxy-backend")
        up = cls.backend.url
        cls.key = env.key("p", "rsa-pkcs1")
        dead = "http://127.0.0.1:%d" % it.free_port()

        def ns():
            return [it.namespace(NS, "p", [cls.key.conf("k1")], [
                it.function(FN_PRIV, "priv", up, prefix="/p/priv"),
                it.function(FN_PUB, "pub", up, privacy="public", prefix="/p/pub"),
                it.function("nostrip", "nostrip", up, privacy="public", prefix="/p/nostrip",
                            strip_prefix=False),
                it.function("base", "base", up + "/base", privacy="public", prefix="/p/base"),
                it.function("down", "down", dead, privacy="public", prefix="/p/down"),
                it.function("slow", "slow", up, privacy="public", prefix="/p/slow",
                            timeouts={"upstream_response_ms": 500}),
                it.function("small", "small", up, privacy="public", prefix="/p/small",
                            limits={"max_body_bytes": 1024}),
                it.function("psmall", "psmall", up, prefix="/p/psmall",
                            limits={"max_body_bytes": 1024}),
                it.function("nokeep", "nokeep", up, privacy="public", prefix="/p/nokeep",
                            limits={"upstream_keepalive": 0}),
            ])]
        cls.gw = env.fngate(it.config(env, ns()))
        cls.gw_fwd = env.fngate(it.config(env, ns(), tokens={"leeway_s": 60, "forward_token": True}),
                                name="fngate-fwd.json")
        cls.token = it.mint(cls.key, it.scw_claims(function_id=FN_PRIV))
        cls.jti = it.jwt_claims(cls.token)["jti"]
        cls.big = os.path.join(env.dir, "upload.bin")
        with open(cls.big, "wb") as f:
            f.write(os.urandom(20 * 1024 * 1024))

    def get(self, path, token=None, gw=None, **kw):
        return it.curl((gw or self.gw).url(path), token=token, **kw)

    # -- what the upstream sees

    def test_identity_headers_private(self):
        seen = self.assertForwarded(self.get("/p/priv/x", self.token))
        h = seen["headers"]
        self.assertNotIn("x-auth-token", h)
        self.assertEqual(h.get("x-fngate-namespace"), [NS])
        self.assertEqual(h.get("x-fngate-function"), [FN_PRIV])
        self.assertEqual(h.get("x-fngate-token-id"), [self.jti])

    def test_forward_token_option(self):
        seen = self.assertForwarded(self.get("/p/priv/x", self.token, gw=self.gw_fwd))
        self.assertEqual(seen["headers"].get("x-auth-token"), [self.token])
        self.assertEqual(seen["headers"].get("x-fngate-token-id"), [self.jti])

    def test_forwarded_headers(self):
        seen = self.assertForwarded(self.get("/p/pub/x"))
        h = seen["headers"]
        self.assertEqual(h.get("x-forwarded-for"), ["127.0.0.1"])
        self.assertEqual(h.get("x-forwarded-proto"), ["http"])
        self.assertEqual(h.get("x-forwarded-host"), ["127.0.0.1:%d" % self.gw.port])
        self.assertEqual(len(h.get("host", [])), 1)
        # A client's own X-Forwarded-For is kept in front of the address fngate saw.
        seen = self.assertForwarded(self.get("/p/pub/x", headers=["X-Forwarded-For: 192.0.2.7"]))
        xff = ",".join(seen["headers"].get("x-forwarded-for", []))
        self.assertEqual([a.strip() for a in xff.split(",")][-1], "127.0.0.1")

    def test_request_id(self):
        seen = self.assertForwarded(self.get("/p/pub/x"))
        rid = seen["headers"].get("x-request-id", [])
        self.assertEqual(len(rid), 1)
        self.assertRegex(rid[0], r"^[A-Za-z0-9._-]{8,64}$")
        seen2 = self.assertForwarded(self.get("/p/pub/x"))
        self.assertNotEqual(seen2["headers"]["x-request-id"], rid, "request ids repeat")
        # A well-formed incoming id is kept.
        seen = self.assertForwarded(self.get("/p/pub/x", headers=["X-Request-Id: abc-123_DEF.9"]))
        self.assertEqual(seen["headers"].get("x-request-id"), ["abc-123_DEF.9"])
        # A malformed one (spaces, quotes, too long) is replaced.
        for bad in ('a b"<script>', "x" * 300):
            seen = self.assertForwarded(self.get("/p/pub/x", headers=["X-Request-Id: " + bad]))
            got = seen["headers"].get("x-request-id", [])
            self.assertEqual(len(got), 1)
            self.assertNotEqual(got[0], bad)
            self.assertRegex(got[0], r"^[A-Za-z0-9._-]{8,64}$")

    def test_spoofed_identity_removed(self):
        spoof = ["X-Fngate-Namespace: evil", "X-Fngate-Function: evil", "X-Fngate-Token-Id: evil",
                 "x-fngate-namespace: evil2"]
        # Public function: the real namespace/function, no token id.
        h = self.assertForwarded(self.get("/p/pub/x", headers=spoof))["headers"]
        self.assertEqual(h.get("x-fngate-namespace"), [NS])
        self.assertEqual(h.get("x-fngate-function"), [FN_PUB])
        self.assertNotIn("x-fngate-token-id", h)
        # Private function: only the values fngate derived from the token.
        h = self.assertForwarded(self.get("/p/priv/x", self.token, headers=spoof))["headers"]
        self.assertEqual(h.get("x-fngate-namespace"), [NS])
        self.assertEqual(h.get("x-fngate-function"), [FN_PRIV])
        self.assertEqual(h.get("x-fngate-token-id"), [self.jti])

    def test_hop_by_hop_removed(self):
        hdrs = ["Connection: keep-alive, X-Hop", "X-Hop: secret", "Keep-Alive: timeout=5",
                "TE: trailers", "Trailer: X-T", "Upgrade: h2c", "Proxy-Authorization: Basic eDp5",
                "Proxy-Connection: keep-alive", "X-End-To-End: kept"]
        h = self.assertForwarded(self.get("/p/pub/x", headers=hdrs))["headers"]
        for name in HOP_BY_HOP:
            self.assertNotIn(name, h, "hop-by-hop header %s forwarded" % name)
        self.assertNotIn("x-hop", ",".join(h.get("connection", [])).lower())
        self.assertEqual(h.get("x-end-to-end"), ["kept"])

    def test_prefix_stripped(self):
        cases = [("/p/pub/a/b?x=1&y=2", "/a/b?x=1&y=2"), ("/p/pub", "/"), ("/p/pub/", "/"),
                 ("/p/pub?q=1", "/?q=1"), ("/p/nostrip/a", "/p/nostrip/a"), ("/p/base/a?z", "/base/a?z")]
        for path, want in cases:
            seen = self.assertForwarded(self.get(path))
            self.assertEqual(seen["uri"], want, path)

    def test_methods_and_body(self):
        data = os.urandom(5000)
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            seen = self.assertForwarded(self.get("/p/pub/m", method=method, data=data))
            self.assertEqual(seen["method"], method)
            self.assertEqual(seen["body_bytes"], len(data))
            self.assertEqual(seen["body_sha256"], it.sha256_hex(data))

    # -- errors fngate answers itself

    def test_unknown_route(self):
        before = self.backend.requests()
        for path in ("/nope", "/p", "/p/unknown/x"):
            r = self.get(path)
            self.assertEqual(r.status, 404, path)
            self.assertIn("error", r.json())
        self.assertEqual(self.backend.requests(), before + 1, "an unrouted request reached the upstream")

    def test_upstream_down(self):
        r = self.get("/p/down/x")
        self.assertEqual(r.status, 502, r)
        self.assertIn("error", r.json())
        # The gateway is still fine afterwards.
        self.assertForwarded(self.get("/p/pub/x"))

    def test_slow_upstream(self):
        t0 = time.time()
        r = self.get("/p/slow/_slow?ms=4000")
        took = time.time() - t0
        self.assertEqual(r.status, 504, r)
        self.assertIn("error", r.json())
        self.assertLess(took, 3.0, "504 came after %.1fs with upstream_response_ms 500" % took)
        # Under the timeout: answered.
        self.assertForwarded(self.get("/p/slow/_slow?ms=100"))

    def test_body_too_large(self):
        before = self.backend.requests()
        r = self.get("/p/small/x", data=b"a" * 2048)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(self.backend.requests(), before + 1, "the 413 body reached the upstream")
        r = self.get("/p/small/x", data=b"a" * 2048, headers=["Transfer-Encoding: chunked"])
        self.assertEqual(r.status, 413, r)
        self.assertForwarded(self.get("/p/small/x", data=b"a" * 1000))

    def test_private_gate_before_body_limit(self):
        """A private function refuses a caller without a valid token (403) before it looks at
        the body's size (413): the refusal names the reason that matters and says nothing of
        the function's limits. With a valid token, the limit applies."""
        tok = it.mint(self.key, it.scw_claims(function_id="psmall"))
        for hdrs in ([], ["Transfer-Encoding: chunked"]):
            self.assertDenied(self.get("/p/psmall/x", data=b"a" * 2048, headers=hdrs),
                              "token_missing")
            self.assertDenied(self.get("/p/psmall/x", token=self.token, data=b"a" * 2048,
                                       headers=hdrs), "token_scope")
            self.assertDenied(self.get("/p/psmall/x", token=tok, data=b"a" * 2048, headers=hdrs),
                              "body_too_large", status=413)
        self.assertForwarded(self.get("/p/psmall/x", token=tok, data=b"a" * 1000))

    def test_headers_too_large(self):
        r = self.get("/p/pub/x", headers=["X-Big: " + "b" * 20000])
        self.assertEqual(r.status, 431, r)
        many = ["X-H%d: v" % i for i in range(1000)]
        r = self.get("/p/pub/x", headers=many)
        self.assertEqual(r.status, 431, r)
        # a request target alone over the head limit is 414, not 431
        r = self.get("/p/pub/" + "u" * 20000)
        self.assertEqual(r.status, 414, r)

    # -- streaming

    def test_large_chunked_upload_echo(self):
        with open(self.big, "rb") as f:
            digest = it.sha256_hex(f.read())
        r = self.get("/p/pub/_echo", data_file=self.big, headers=["Transfer-Encoding: chunked"],
                     timeout=60)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-body-sha256"), digest, "the upstream received another body")
        self.assertEqual(len(r.body), 20 * 1024 * 1024)
        self.assertEqual(it.sha256_hex(r.body), digest, "the echoed body differs")
        # The same with Content-Length framing.
        r = self.get("/p/pub/_echo", data_file=self.big, timeout=60)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(it.sha256_hex(r.body), digest)

    def test_large_downloads(self):
        n = 20 * 1024 * 1024
        r = self.get("/p/pub/_chunked?n=320&size=65536", timeout=60)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.body), n)
        self.assertEqual(it.sha256_hex(r.body), it.sha256_hex(it.pattern(n)))
        r = self.get("/p/pub/_big?bytes=%d" % n, timeout=60)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-length"), str(n))
        self.assertEqual(it.sha256_hex(r.body), it.sha256_hex(it.pattern(n)))

    # -- connections

    def test_keepalive_client(self):
        st, err = it.curl_multi([self.gw.url("/p/pub/a"), self.gw.url("/p/pub/b")], args=["-v"])
        self.assertEqual(st, [200, 200])
        self.assertIn(b"Re-using existing connection", err, err[-2000:])

    def test_keepalive_upstream(self):
        # Warm the pool, then 5 requests on one client connection: at most one new upstream
        # connection (each _stats call is one direct connection of its own).
        self.assertForwarded(self.get("/p/pub/warm"))
        c0 = self.backend.stats()["connections"]
        st, _ = it.curl_multi([self.gw.url("/p/pub/k%d" % i) for i in range(5)])
        self.assertEqual(st, [200] * 5)
        c1 = self.backend.stats()["connections"]
        self.assertLessEqual(c1 - c0, 2, "upstream connections are not reused (%d new)" % (c1 - c0 - 1))

    def test_upstream_keepalive_zero(self):
        # limits.upstream_keepalive 0: no connection is kept after its response, so each of 5
        # requests opens one (the first may take one the pool kept for another function).
        self.assertForwarded(self.get("/p/pub/warm"))
        c0 = self.backend.stats()["connections"]
        st, _ = it.curl_multi([self.gw.url("/p/nokeep/k%d" % i) for i in range(5)])
        self.assertEqual(st, [200] * 5)
        c1 = self.backend.stats()["connections"]
        self.assertGreaterEqual(c1 - c0 - 1, 4, "connections kept despite upstream_keepalive 0")

    def test_pipelined_direct(self):
        # Two requests in one write on a keep-alive connection, answered in order.
        req = ("GET /p/pub/one HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /p/pub/two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode()
        got, closed = it.raw(self.gw.port, req, timeout=5)
        rs = it.parse_responses(got)
        self.assertEqual([s for s, _, _ in rs], [200, 200], got[:500])
        self.assertEqual([json.loads(b)["uri"] for _, _, b in rs], ["/one", "/two"])
        self.assertTrue(closed)

    def test_pipelined_bodies(self):
        """Content-Length bodies of every size around fngate's read and move boundaries (0, 1,
        2, 4 KiB +- 1, 64 KiB + 1, 300 KB), pipelined in one write with a GET after them: each
        reaches the upstream whole and nothing of one is read as the next request."""
        sizes = [100000, 0, 1, 2, 4095, 4096, 4097, 65537, 300000, 5000]
        bodies = [os.urandom(n) for n in sizes]
        req = b"".join(b"POST /p/pub/_echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                       % len(b) + b for b in bodies)
        req += b"GET /p/pub/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        got, closed = it.raw(self.gw.port, req, timeout=10)
        rs = it.parse_responses(got)
        self.assertEqual([st for st, _, _ in rs], [200] * (len(bodies) + 1), got[:300])
        for (st, h, body), b in zip(rs, bodies):
            self.assertEqual(h["x-body-bytes"], [str(len(b))])
            self.assertEqual(h["x-body-sha256"], [it.sha256_hex(b)])
            self.assertEqual(body, b)
        self.assertEqual(json.loads(rs[-1][2])["uri"], "/last")
        self.assertTrue(closed)
        # The same body trickled in uneven pieces, the next request in the last piece.
        b = os.urandom(200000)
        head = b"POST /p/pub/_echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(b)
        tail = b"GET /p/pub/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        pieces = [head + b[:10]] + [b[i:i + 33333] for i in range(10, len(b), 33333)]
        pieces[-1] += tail
        got, _ = it.raw(self.gw.port, None, timeout=10, chunks=pieces)
        rs = it.parse_responses(got)
        self.assertEqual([st for st, _, _ in rs], [200, 200], got[:300])
        self.assertEqual(rs[0][2], b)
        self.assertEqual(json.loads(rs[1][2])["uri"], "/after")

    def test_pipelined_downloads(self):
        """Content-Length responses of every size around the read and move boundaries, asked
        for in one pipelined write: each arrives whole, in order, with its own length."""
        sizes = [0, 1, 2, 4095, 4096, 4097, 65537, 300000, 1000000, 5]
        req = b"".join(b"GET /p/pub/_big?bytes=%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in sizes)
        req += b"GET /p/pub/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        got, closed = it.raw(self.gw.port, req, timeout=10)
        rs = it.parse_responses(got)
        self.assertEqual([st for st, _, _ in rs], [200] * (len(sizes) + 1), got[:300])
        for (st, h, body), n in zip(rs, sizes):
            self.assertEqual(h["content-length"], [str(n)])
            self.assertEqual(body, it.pattern(n))
        self.assertEqual(json.loads(rs[-1][2])["uri"], "/last")
        self.assertTrue(closed)

    def test_head(self):
        t0 = time.time()
        st, err = it.curl_multi([self.gw.url("/p/pub/h"), self.gw.url("/p/pub/h2")], args=["-I", "-v"])
        self.assertEqual(st, [200, 200], err[-2000:])
        self.assertLess(time.time() - t0, 5, "HEAD response waited for a body")
        self.assertIn(b"Re-using existing connection", err)
        # HEAD then GET on one connection: the GET's answer is intact.
        req = (b"HEAD /p/pub/h HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /p/pub/g HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got, _ = it.raw(self.gw.port, req, timeout=5)
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:300])
        second = got.find(b"HTTP/1.1 200", 10)
        self.assertGreater(second, 0, got[:600])
        rs = it.parse_responses(got[second:])
        self.assertEqual(json.loads(rs[0][2])["uri"], "/g")

    def test_no_body_statuses(self):
        for code in (204, 304):
            t0 = time.time()
            st, err = it.curl_multi([self.gw.url("/p/pub/_status/%d" % code), self.gw.url("/p/pub/after")],
                                    args=["-v"])
            self.assertEqual(st, [code, 200], err[-2000:])
            self.assertLess(time.time() - t0, 5, "%d response waited for a body" % code)
            r = self.get("/p/pub/_status/%d" % code)
            self.assertEqual(r.status, code)
            self.assertEqual(r.body, b"")

    def test_upstream_statuses_relayed(self):
        for st in (201, 400, 404, 418, 500, 503):
            r = self.get("/p/pub/_status/%d" % st)
            self.assertEqual(r.status, st)
            self.assertEqual(r.json()["uri"], "/_status/%d" % st)


if __name__ == "__main__":
    it.main()
