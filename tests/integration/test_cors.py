#!/usr/bin/env python3
"""test_cors.py - CORS on functions with a "cors" block (issue 16.2), with raw requests and in
Chromium.

Topology (one fngate, the demo backend, and a "leaky" Python upstream that sends its own
Access-Control-* fields):
  namespace web (RS256; its "cors" default allows https://app.example.com and http://app.test:P,
  methods GET POST, headers Content-Type, exposes X-Total, max age 600):
    api      private, /api      inherits the default
    pub      public,  /pub      inherits the default
    star     private, /star     its own block: allow_origins ["*"] (replaces the default whole)
    nocors   private, /nocors   "cors": null (no CORS despite the default)
    leaky    private, /leaky    inherits; upstream = the leaky server
    small    private, /small    inherits; max_body_bytes 16 (a 413 of fngate's after the gate)
    down     private, /down     inherits; upstream = a port nobody listens on (502)
  namespace plain (RS256, no cors):
    plainfn  private, /plain    upstream = the leaky server
Tokens: namespace tokens of web / plain, minted here in Scaleway's layout (it.scw_claims), valid
one hour. The browser test serves a page on http://app.test:P and http://evil.test:P (both
127.0.0.1 through Chromium's --host-resolver-rules) and calls fngate at http://127.0.0.1:G.
"""

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
from test_console import BROWSER_DIR, CHROMIUM, build_dir, ensure_chromium, ensure_playwright  # noqa: E402

NS = "web"
NS_PLAIN = "plain"
APP = "https://app.example.com"
EVIL = "https://evil.example.com"


class Leaky(http.server.BaseHTTPRequestHandler):
    """An upstream that answers for CORS itself, too generously: fngate must replace it."""
    protocol_version = "HTTP/1.1"
    count = 0

    def _answer(self):
        Leaky.count += 1
        body = json.dumps({"name": "leaky", "method": self.command}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("access-control-expose-headers", "X-Secret")
        self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_OPTIONS = _answer

    def log_message(self, *args):
        pass


class Page(http.server.BaseHTTPRequestHandler):
    """The web page of the browser test (any path): nothing but an origin to run fetch() from."""

    def do_GET(self):
        body = b"<!doctype html><title>cors test page</title><p>fngate CORS test"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(handler):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def preflight(url, origin, method="POST", headers=None, extra=()):
    """What a browser sends before a non-simple request: OPTIONS, Origin, the method it wants
    and (when there are any) the non-safelisted header names it will send."""
    h = ["Origin: " + origin, "Access-Control-Request-Method: " + method]
    if headers is not None:
        h.append("Access-Control-Request-Headers: " + headers)
    return it.curl(url, method="OPTIONS", headers=h + list(extra))


def cors_fields(r):
    """The Access-Control-* fields of a response, by lowercase name."""
    return {k: v for k, v in r.headers.items() if k.startswith("access-control-")}


class Cors(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = it.Env("cors")
        cls.backend = env.backend("cors-backend")
        cls.leaky = serve(Leaky)
        cls.page = serve(Page)
        cls.page_port = cls.page.server_address[1]
        cls.page_origin = "http://app.test:%d" % cls.page_port
        leaky_url = "http://127.0.0.1:%d" % cls.leaky.server_address[1]
        up = cls.backend.url
        cls.key = env.key("web")
        cls.key_plain = env.key("plain")
        cls.admin_port = it.free_port()
        web_cors = {"allow_origins": [APP, cls.page_origin], "allow_methods": ["GET", "POST"],
                    "allow_headers": ["Content-Type"], "expose_headers": ["X-Total"],
                    "max_age_s": 600, "allow_credentials": False}
        conf = it.config(env, [
            it.namespace(NS, "web", [cls.key.conf("k1")], [
                it.function("api", "api", up, prefix="/api"),
                it.function("pub", "pub", up, privacy="public", prefix="/pub"),
                it.function("star", "star", up, prefix="/star", cors={"allow_origins": ["*"]}),
                it.function("nocors", "nocors", up, prefix="/nocors", cors=None),
                it.function("leaky", "leaky", leaky_url, prefix="/leaky"),
                it.function("small", "small", up, prefix="/small",
                            limits={"max_body_bytes": 16}),
                it.function("down", "down", "http://127.0.0.1:%d" % it.free_port(),
                            prefix="/down"),
            ], cors=web_cors),
            it.namespace(NS_PLAIN, "plain", [cls.key_plain.conf("k1")], [
                it.function("plainfn", "plainfn", leaky_url, prefix="/plain"),
            ]),
        ], admin={"listen": "127.0.0.1:%d" % cls.admin_port})
        cls.gw = env.fngate(conf)
        cls.token = it.mint(cls.key, it.scw_claims(namespace_id=NS))
        cls.token_plain = it.mint(cls.key_plain, it.scw_claims(namespace_id=NS_PLAIN))

    @classmethod
    def tearDownClass(cls):
        cls.leaky.shutdown()
        cls.page.shutdown()

    def assertVaryOrigin(self, r):
        vary = ",".join(r.headers.get("vary", []))
        self.assertIn("origin", [v.strip().lower() for v in vary.split(",")], "Vary: %r" % vary)

    def backend_calls(self):
        """Requests that reached the demo backend, not counting these questions themselves (each
        /_stats query is one request of its own)."""
        Cors.stats_queries = getattr(Cors, "stats_queries", 0) + 1
        return self.backend.requests() - (Cors.stats_queries - 1)

    def access_reason(self, path):
        """The access log's reason of the last request whose path is `path`."""
        for _ in range(50):
            lines = [a for a in self.gw.access_lines() if a.get("path") == path]
            if lines:
                return lines[-1].get("reason")
            time.sleep(0.05)
        self.fail("no access-log line for %s" % path)

    # ---- preflights: answered by fngate, never by the upstream, no token needed

    def test_preflight_allowed(self):
        before = self.backend_calls()
        r = preflight(self.gw.url("/api/x"), APP, "POST", "content-type,x-auth-token")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertIsNone(r.header("content-length"))
        self.assertEqual(r.header("access-control-allow-origin"), APP)
        self.assertEqual(r.header("access-control-allow-methods"), "GET, POST")
        self.assertEqual(r.header("access-control-allow-headers"), "X-Auth-Token, Content-Type")
        self.assertEqual(r.header("access-control-max-age"), "600")
        self.assertIsNone(r.header("access-control-allow-credentials"))
        self.assertEqual(r.header("vary"),
                         "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        self.assertTrue(r.header("x-request-id"))
        self.assertEqual(self.backend_calls(), before, "a preflight reached the upstream")
        self.assertEqual(self.access_reason("/api/x"), "cors_preflight")

    def test_preflight_origin_compared_as_browsers_send_it(self):
        r = preflight(self.gw.url("/api/case"), "HTTPS://APP.EXAMPLE.COM", "GET")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("access-control-allow-origin"), "HTTPS://APP.EXAMPLE.COM")
        for origin in (APP + "/", APP + ":443", "http://app.example.com", "null",
                       "https://app.example.com.evil.test"):
            r = preflight(self.gw.url("/api/case"), origin, "GET")
            self.assertDenied(r, "cors_origin")
            self.assertEqual(cors_fields(r), {}, origin)

    def test_preflight_other_origin(self):
        before = self.backend_calls()
        r = preflight(self.gw.url("/api/evil"), EVIL, "POST", "x-auth-token")
        self.assertDenied(r, "cors_origin")
        self.assertEqual(cors_fields(r), {}, "CORS fields for an origin not allowed")
        self.assertVaryOrigin(r)
        self.assertEqual(self.backend_calls(), before)
        self.assertEqual(self.access_reason("/api/evil"), "cors_origin")

    def test_preflight_method_not_allowed(self):
        before = self.backend_calls()
        r = preflight(self.gw.url("/api/del"), APP, "DELETE", "x-auth-token")
        self.assertDenied(r, "cors_method")
        # the origin is allowed: the page may read the refusal; nothing is allowed by it
        self.assertEqual(r.header("access-control-allow-origin"), APP)
        self.assertEqual(set(cors_fields(r)), {"access-control-allow-origin"})
        r = preflight(self.gw.url("/api/del"), APP, "post")     # methods are case-sensitive
        self.assertDenied(r, "cors_method")
        self.assertEqual(self.backend_calls(), before)

    def test_preflight_header_not_allowed(self):
        r = preflight(self.gw.url("/api/hdr"), APP, "GET", "x-auth-token, authorization")
        self.assertDenied(r, "cors_headers")
        self.assertEqual(set(cors_fields(r)), {"access-control-allow-origin"})
        r = preflight(self.gw.url("/api/hdr"), APP, "GET", "X-Auth-Token,Content-Type")
        self.assertEqual(r.status, 204, r)

    def test_preflight_needs_no_token_and_ignores_one(self):
        bad = "eyJhbGciOiJub25lIn0.e30."
        r = preflight(self.gw.url("/api/t"), APP, "GET", None, ["X-Auth-Token: " + bad])
        self.assertEqual(r.status, 204, r)

    def test_plain_options_goes_through_the_gate(self):
        # OPTIONS without Access-Control-Request-Method is not a preflight: a call like others
        r = it.curl(self.gw.url("/api/opt"), method="OPTIONS", headers=["Origin: " + APP])
        self.assertDenied(r, "token_missing")
        self.assertEqual(r.header("access-control-allow-origin"), APP)
        before = self.backend_calls()
        r = it.curl(self.gw.url("/api/opt"), method="OPTIONS", token=self.token,
                    headers=["Origin: " + APP])
        seen = self.assertForwarded(r, "cors-backend")
        self.assertEqual(seen["method"], "OPTIONS")
        self.assertEqual(self.backend_calls(), before + 1)
        self.assertEqual(r.header("access-control-allow-origin"), APP)

    def test_preflight_then_call_on_one_connection(self):
        # a 204 without a body keeps the connection in step: the next request's answer follows
        req = ("OPTIONS /api/pipe HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n"
               "Access-Control-Request-Method: GET\r\n\r\n"
               "GET /api/pipe HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\nConnection: close\r\n\r\n"
               % (APP, APP)).encode()
        data, _ = it.raw(self.gw.port, req)
        resp = it.parse_responses(data)
        self.assertEqual([s for s, _, _ in resp], [204, 403], data)
        self.assertEqual(resp[1][1]["access-control-allow-origin"], [APP])
        self.assertEqual(json.loads(resp[1][2])["error"], "token_missing")

    def test_preflight_with_a_body(self):
        # answered too; the body is never read as a next request (the connection closes)
        req = ("OPTIONS /api/body HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n"
               "Access-Control-Request-Method: GET\r\nContent-Length: 30\r\n\r\n"
               "GET /api/x HTTP/1.1\r\nHost: x\r\n" % APP).encode()
        data, closed = it.raw(self.gw.port, req)
        resp = it.parse_responses(data)
        self.assertEqual([s for s, _, _ in resp], [204], data)
        self.assertTrue(closed)

    # ---- every response to an allowed origin carries Access-Control-Allow-Origin

    def test_refusal_readable_by_allowed_origin(self):
        r = it.curl(self.gw.url("/api/x"), headers=["Origin: " + APP])
        body = self.assertDenied(r, "token_missing")
        self.assertEqual(body, {"error": "token_missing"})
        self.assertEqual(r.header("access-control-allow-origin"), APP)
        self.assertEqual(r.header("access-control-expose-headers"), "X-Request-Id, X-Total")
        self.assertVaryOrigin(r)
        r = it.curl(self.gw.url("/api/x"), token="not.a.token", headers=["Origin: " + APP])
        self.assertDenied(r, "token_malformed")
        self.assertEqual(r.header("access-control-allow-origin"), APP)

    def test_refusal_other_origin_or_none(self):
        for h in (["Origin: " + EVIL], [], ["Origin: " + APP, "Origin: " + APP]):
            r = it.curl(self.gw.url("/api/x"), headers=h)
            self.assertDenied(r, "token_missing")
            self.assertEqual(cors_fields(r), {}, h)
            self.assertVaryOrigin(r)

    def test_other_local_answers_carry_it(self):
        # a 413 after the gate, and a 502 of an upstream that fails, both fngate's own
        r = it.curl(self.gw.url("/small/x"), token=self.token, data=b"x" * 100,
                    headers=["Origin: " + APP])
        self.assertDenied(r, "body_too_large", 413)
        self.assertEqual(r.header("access-control-allow-origin"), APP)
        r = it.curl(self.gw.url("/down/x"), token=self.token, headers=["Origin: " + APP])
        self.assertDenied(r, "upstream_unavailable", 502)
        self.assertEqual(r.header("access-control-allow-origin"), APP)
        self.assertVaryOrigin(r)

    def test_proxied_response(self):
        r = it.curl(self.gw.url("/api/hello"), token=self.token, headers=["Origin: " + APP])
        seen = self.assertForwarded(r, "cors-backend")
        self.assertEqual(seen["headers"].get("origin"), [APP])       # forwarded as it came
        self.assertEqual(r.header("access-control-allow-origin"), APP)
        self.assertEqual(r.header("access-control-expose-headers"), "X-Request-Id, X-Total")
        self.assertIsNone(r.header("access-control-allow-methods"))
        self.assertVaryOrigin(r)
        r = it.curl(self.gw.url("/api/hello"), token=self.token, headers=["Origin: " + EVIL])
        self.assertForwarded(r)
        self.assertEqual(cors_fields(r), {})
        self.assertVaryOrigin(r)

    def test_public_function(self):
        before = self.backend_calls()
        r = preflight(self.gw.url("/pub/x"), APP, "GET", "x-auth-token")
        self.assertEqual(r.status, 204)
        self.assertEqual(self.backend_calls(), before)
        r = it.curl(self.gw.url("/pub/x"), headers=["Origin: " + APP])
        self.assertForwarded(r)
        self.assertEqual(r.header("access-control-allow-origin"), APP)

    def test_star(self):
        # the function's own block replaces the namespace's: default methods, no more headers
        r = preflight(self.gw.url("/star/x"), "https://anyone.test", "POST", "content-type")
        self.assertDenied(r, "cors_headers")
        r = preflight(self.gw.url("/star/x"), "https://anyone.test", "HEAD", "x-auth-token")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("access-control-allow-origin"), "*")
        self.assertEqual(r.header("access-control-allow-methods"), "GET, HEAD, POST")
        self.assertEqual(r.header("access-control-allow-headers"), "X-Auth-Token")
        r = it.curl(self.gw.url("/star/x"), headers=["Origin: null"])
        self.assertDenied(r, "token_missing")
        self.assertEqual(r.header("access-control-allow-origin"), "*")
        self.assertEqual(r.header("access-control-expose-headers"), "X-Request-Id")

    def test_upstream_fields_replaced(self):
        before = Leaky.count
        r = preflight(self.gw.url("/leaky/x"), APP, "GET")
        self.assertEqual(r.status, 204)
        self.assertEqual(Leaky.count, before, "a preflight reached the upstream")
        r = it.curl(self.gw.url("/leaky/x"), token=self.token, headers=["Origin: " + APP])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["name"], "leaky")
        self.assertEqual(cors_fields(r), {
            "access-control-allow-origin": [APP],
            "access-control-expose-headers": ["X-Request-Id, X-Total"]})
        self.assertIn("Accept-Encoding", r.headers["vary"])         # the upstream's Vary stays
        self.assertVaryOrigin(r)
        r = it.curl(self.gw.url("/leaky/x"), token=self.token, headers=["Origin: " + EVIL])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(cors_fields(r), {}, "the upstream's wildcard reached another origin")

    # ---- without cors: as before

    def test_no_cors_unchanged(self):
        for path in ("/nocors/x", "/plain/x"):
            before = (self.backend_calls(), Leaky.count)
            r = preflight(self.gw.url(path), APP, "GET", "x-auth-token")
            self.assertDenied(r, "token_missing")
            self.assertEqual(cors_fields(r), {})
            self.assertIsNone(r.header("vary"))
            self.assertEqual((self.backend_calls(), Leaky.count), before)
            r = it.curl(self.gw.url(path), headers=["Origin: " + APP])
            self.assertDenied(r, "token_missing")
            self.assertEqual(cors_fields(r), {})
        r = it.curl(self.gw.url("/nocors/x"), token=self.token, headers=["Origin: " + APP])
        self.assertForwarded(r)
        self.assertEqual(cors_fields(r), {})
        self.assertIsNone(r.header("vary"))
        # the upstream's own fields pass as they always did
        r = it.curl(self.gw.url("/plain/x"), token=self.token_plain, headers=["Origin: " + APP])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("access-control-allow-origin"), "*")
        self.assertEqual(r.header("access-control-allow-credentials"), "true")

    def test_metrics(self):
        preflight(self.gw.url("/api/m"), APP, "GET")
        preflight(self.gw.url("/api/m"), EVIL, "GET")
        text = it.curl("http://127.0.0.1:%d/metrics" % self.admin_port).body.decode()
        self.assertRegex(text, r'fngate_requests_total\{namespace="web",function="api",'
                               r'decision="allow",reason="cors_preflight",status_class="2xx"\} \d+')
        self.assertRegex(text, r'fngate_requests_total\{namespace="web",function="api",'
                               r'decision="deny",reason="cors_origin",status_class="4xx"\} \d+')

    # ---- a real browser

    def test_chromium_fetch(self):
        err = ensure_chromium()
        self.assertIsNone(err, err)
        node_dir = os.path.join(build_dir(), "console-node")
        err = ensure_playwright(node_dir)
        self.assertIsNone(err, err)
        env = dict(os.environ,
                   NODE_PATH=os.path.join(node_dir, "node_modules"),
                   PAGE_URL=self.page_origin + "/",
                   OTHER_URL="http://evil.test:%d/" % self.page_port,
                   API_URL=self.gw.url("/api"),
                   TOKEN=self.token,
                   RESOLVE="MAP app.test 127.0.0.1, MAP evil.test 127.0.0.1",
                   CHROMIUM=CHROMIUM)
        preflights = len([a for a in self.gw.access_lines() if a.get("reason") == "cors_preflight"])
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "cors.test.js")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240)
        out = p.stdout.decode("utf-8", "replace")
        print(out, file=sys.stderr)
        self.assertEqual(p.returncode, 0, "the browser run failed")
        res = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(res["pageOrigin"], self.page_origin)
        # with the token: the preflight passed, the call went through, the body is readable
        w = res["withToken"]
        self.assertTrue(w["ok"], w)
        self.assertEqual(w["status"], 200, w)
        seen = json.loads(w["body"])
        self.assertEqual(seen["name"], "cors-backend")
        self.assertEqual(seen["headers"].get("origin"), [self.page_origin])
        # the proxied answer's X-Request-Id is exposed to the page, and is the access log's
        self.assertIn(w["requestId"], [a.get("request_id") for a in self.gw.access_lines()], w)
        self.assertEqual(res["postJson"]["status"], 200, res["postJson"])
        self.assertEqual(res["postJson"]["body"], '{"a":1}')     # the backend's echo
        # without: a 403 the page can read, simple request or preflighted
        for k in ("noToken", "noTokenPreflighted"):
            n = res[k]
            self.assertTrue(n["ok"], (k, n))
            self.assertEqual(n["status"], 403, (k, n))
            self.assertEqual(json.loads(n["body"]), {"error": "token_missing"}, (k, n))
            self.assertTrue(n["contentType"].startswith("application/json"), n)
            self.assertRegex(n["requestId"] or "", r"\S+", "X-Request-Id not exposed")
        # a method the cors block does not allow, and a page on another origin: blocked
        self.assertFalse(res["deleteMethod"]["ok"], res["deleteMethod"])
        self.assertEqual(res["otherOrigin"], "http://evil.test:%d" % self.page_port)
        self.assertFalse(res["fromOther"]["ok"], res["fromOther"])
        self.assertFalse(res["fromOtherNoToken"]["ok"], res["fromOtherNoToken"])
        after = len([a for a in self.gw.access_lines() if a.get("reason") == "cors_preflight"])
        self.assertGreaterEqual(after - preflights, 1, "the browser sent no preflight fngate answered")
        reasons = [a.get("reason") for a in self.gw.access_lines()]
        self.assertIn("cors_method", reasons)
        self.assertIn("cors_origin", reasons)


if __name__ == "__main__":
    it.main()
