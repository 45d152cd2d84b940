#!/usr/bin/env python3
"""test_endpoints.py - where callers reach a function and what its responses tell them
(issue 16 items 3 and 9).

- public_url: the endpoint of a function is public_url + its route (top-level, and a namespace's
  own overriding it), in the admin API, `fngate function list|get` and `token create`'s curl
  line; a gateway with a TLS listener only and no public_url gives https:// endpoints, and the
  one shown answers.
- the CLI's --function: an id, or a name with --namespace; a name without it, a name that is
  another function's id, an unknown one: a clear message and a non-zero exit.
- X-Request-Id on proxied responses: the id of the access log record (and the caller's own
  when it sent a well-formed one); an upstream's own X-Request-Id gives way to fngate's.
- Location, Content-Location and Refresh from a function whose prefix is stripped (or whose
  upstream has a base path) come back under the public prefix, as nginx's default
  proxy_redirect does: the upstream's absolute URL and root-relative paths; relative URLs and
  other hosts are left alone.

The redirecting upstream is a Python http.server in a thread of this process: GET /loc?h=NAME&v=VALUE
answers 302 with the field NAME: VALUE; GET /rid answers 200 with X-Request-Id: upstream-own.
"""

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import lifecycle_util as lu  # noqa: E402
import tls_util as tu  # noqa: E402


class RedirectUpstream:
    """An upstream whose answers carry the header fields a test asks for."""

    def __init__(self):
        self.port = it.free_port()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                if u.path.endswith("/rid"):
                    self.send_response(200)
                    self.send_header("X-Request-Id", "upstream-own")
                else:
                    self.send_response(302)
                    for name, value in urllib.parse.parse_qsl(u.query):
                        if name == "h":
                            field = value
                        elif name == "v":
                            self.send_header(field, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.port

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Endpoints(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = it.Env("endpoints")
        cls.backend = env.backend("ep-backend")
        cls.up = RedirectUpstream()
        up, demo = cls.up.url, cls.backend.url
        cls.key, frag = lu.new_admin_key()
        conf = it.config(env, [
            it.namespace("ns-a", "a", [], [
                it.function("hello", "hello", demo, privacy="public", prefix="/hello"),
                it.function("shop", "shop", up, privacy="public", prefix="/shop/catalog"),
                it.function("based", "based", up + "/base", privacy="public", prefix="/b"),
                it.function("a-same", "same", demo, prefix="/a-same"),
                # "beta" is the id of one function and the name of another
                it.function("alpha", "beta", demo, prefix="/alpha"),
                it.function("beta", "gamma", demo, prefix="/beta"),
            ], issue_tokens=True),
            it.namespace("ns-b", "b", [], [
                it.function("b-same", "same", demo, prefix="/b-same"),
            ], issue_tokens=True, public_url="http://B.example.net:8080/"),
        ], public_url="https://fn.example.com/gw")
        conf["admin"]["keys"] = [dict(frag, name="ops", role="owner")]
        cls.admin_port = int(conf["admin"]["listen"].rsplit(":", 1)[1])
        cls.gw = env.fngate(conf)
        it.wait_port(cls.admin_port, cls.gw.proc)

        # A gateway served by a TLS listener only, without public_url.
        pki = tu.PKI(env.dir)
        crt, key = pki.issue("gw", "localhost", ["DNS:localhost", "IP:127.0.0.1"])
        cls.ca = pki.crt
        cls.tls_port = it.free_port()
        tconf = it.config(env, [
            it.namespace("ns-t", "t", [], [
                it.function("t", "t", demo, privacy="public", prefix="/t")])])
        tconf["listen"] = [{"address": "127.0.0.1:%d" % cls.tls_port,
                            "tls": {"cert": crt, "key": key}}]
        tconf["admin"]["keys"] = [dict(frag, name="ops", role="owner")]
        cls.tls_admin_port = int(tconf["admin"]["listen"].rsplit(":", 1)[1])
        tpath = env.write_config(tconf, "fngate-tls.json")
        g = it.Fngate(env, tpath, cls.tls_port, label="fngate-tls", wait=False)
        env.procs.append(g.proc)
        it.wait_port(cls.tls_port, g.proc)
        it.wait_port(cls.tls_admin_port, g.proc)

    @classmethod
    def tearDownClass(cls):
        cls.up.close()
        cls.env.close()

    # -- helpers

    def api(self, path, port=None):
        st, body = lu.admin_request(port or self.admin_port, "GET", path, self.key)
        self.assertEqual(st, 200, body)
        return body

    def cli(self, *args):
        env = dict(os.environ, FNGATE_ADMIN_KEY=self.key)
        p = subprocess.run([it.FNGATE_BIN] + list(args) +
                           ["--admin-url", "http://127.0.0.1:%d" % self.admin_port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    # -- public_url

    def test_01_public_url_top_level(self):
        self.assertEqual(self.api("/v1/functions/hello")["endpoint"],
                         "https://fn.example.com/gw/hello")
        self.assertEqual(self.api("/v1/functions/shop")["endpoint"],
                         "https://fn.example.com/gw/shop/catalog")

    def test_02_public_url_namespace_override(self):
        # normalised: lowercase host, no trailing '/'
        self.assertEqual(self.api("/v1/functions/b-same")["endpoint"],
                         "http://b.example.net:8080/b-same")
        fns = self.api("/v1/namespaces/ns-b/functions")["functions"]
        self.assertEqual([f["endpoint"] for f in fns], ["http://b.example.net:8080/b-same"])

    def test_03_tls_only_listener_gives_https(self):
        ep = self.api("/v1/functions/t", port=self.tls_admin_port)["endpoint"]
        self.assertEqual(ep, "https://127.0.0.1:%d/t" % self.tls_port)
        # The endpoint shown is one a caller can use as it is.
        r = it.curl(ep, args=["--cacert", self.ca])
        self.assertForwarded(r)

    def test_04_cli_shows_the_same_endpoints(self):
        rc, out, err = self.cli("function", "list")
        self.assertEqual(rc, 0, err)
        self.assertIn("https://fn.example.com/gw/hello", out)
        self.assertIn("http://b.example.net:8080/b-same", out)
        rc, out, err = self.cli("function", "get", "b-same")
        self.assertEqual(rc, 0, err)
        self.assertIn("endpoint      http://b.example.net:8080/b-same", out)

    # -- --function: an id, or a name with --namespace

    def test_05_token_create_by_name_with_namespace(self):
        rc, out, err = self.cli("token", "create", "--function", "same", "--namespace", "ns-b",
                                "--description", "by name", "--no-expiry")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"function_id\s+b-same\n")
        tok = out.split("\ntoken:\n", 1)[1].split("\n", 1)[0]
        self.assertIn("curl -H 'X-Auth-Token: %s' 'http://b.example.net:8080/b-same'" % tok, out)
        # The same name in the other namespace is the other function.
        rc, out, err = self.cli("token", "create", "--function", "same", "--namespace", "ns-a",
                                "--description", "by name", "--no-expiry", "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["function_id"], "a-same")
        # token list takes the name too.
        rc, out, err = self.cli("token", "list", "--function", "same", "--namespace", "ns-a")
        self.assertEqual(rc, 0, err)
        self.assertIn("a-same", out)
        self.assertNotIn("b-same", out)

    def test_06_token_create_by_id(self):
        rc, out, err = self.cli("token", "create", "--function", "b-same", "--description", "id",
                                "--no-expiry", "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["function_id"], "b-same")
        # An id with its own namespace is fine too; "beta" is an id: without --namespace it
        # is that function.
        rc, out, err = self.cli("token", "create", "--function", "beta", "--description", "id",
                                "--no-expiry", "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["function_id"], "beta")

    def test_07_function_name_errors(self):
        args = ("--description", "x", "--no-expiry")
        # a name without --namespace, in two namespaces
        rc, out, err = self.cli("token", "create", "--function", "same", *args)
        self.assertEqual(rc, 2, err)
        self.assertIn('no function has the id "same"', err)
        self.assertIn("namespaces ns-a, ns-b", err)
        self.assertIn("--namespace", err)
        # the id of one function and the name of another in the namespace
        rc, out, err = self.cli("token", "create", "--function", "beta", "--namespace", "ns-a",
                                *args)
        self.assertEqual(rc, 2, err)
        self.assertIn('"beta" is ambiguous in namespace ns-a', err)
        self.assertIn("function alpha", err)
        # unknown, with and without a namespace
        rc, out, err = self.cli("token", "create", "--function", "nosuch", "--namespace", "ns-a",
                                *args)
        self.assertEqual(rc, 4, err)
        self.assertIn('namespace ns-a has no function with the id or name "nosuch"', err)
        rc, out, err = self.cli("token", "create", "--function", "nosuch", *args)
        self.assertEqual(rc, 5, err)        # the API's refusal, as before names were taken
        self.assertIn("unknown_function", err)
        self.assertNotIn("--namespace", err)
        rc, out, err = self.cli("token", "list", "--function", "nosuch")
        self.assertEqual(rc, 4, err)
        self.assertIn('no function has the id "nosuch"', err)
        rc, out, err = self.cli("token", "list", "--function", "same")
        self.assertEqual(rc, 2, err)
        # an unknown namespace: the API's 404
        rc, out, err = self.cli("token", "create", "--function", "same", "--namespace", "ns-z",
                                *args)
        self.assertEqual(rc, 4, err)
        self.assertEqual(out, "")

    # -- X-Request-Id

    def test_08_request_id_on_proxied_responses(self):
        r = it.curl(self.gw.url("/hello/rid-made"))
        self.assertForwarded(r)
        rid = r.header("x-request-id")
        self.assertTrue(rid, r.headers)
        self.assertEqual(len(r.headers["x-request-id"]), 1)
        # the id the upstream received, and the one in the access log
        self.assertEqual(r.json()["headers"].get("x-request-id"), [rid])
        for _ in range(50):
            recs = [a for a in self.gw.access_lines() if a.get("path") == "/hello/rid-made"]
            if recs:
                break
            time.sleep(0.1)
        self.assertEqual([a.get("request_id") for a in recs], [rid])
        # a caller's own well-formed id is kept throughout
        r = it.curl(self.gw.url("/hello/rid-given"), headers=["X-Request-Id: caller-42.a_b"])
        self.assertEqual(r.headers.get("x-request-id"), ["caller-42.a_b"])

    def test_09_upstream_request_id_gives_way(self):
        r = it.curl(self.gw.url("/shop/catalog/rid"))
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.headers["x-request-id"]), 1, r.headers)
        self.assertNotEqual(r.header("x-request-id"), "upstream-own")

    # -- Location, Content-Location, Refresh

    def redirect(self, prefix, field, value):
        q = urllib.parse.urlencode([("h", field), ("v", value)])
        r = it.curl(self.gw.url(prefix + "/loc?" + q))
        self.assertEqual(r.status, 302, r)
        return r.header(field)

    def test_10_location_rewritten(self):
        own = self.up.url
        cases = [
            # the issue's case: root-relative, the prefix was stripped
            ("Location", "/api/", "/shop/catalog/api/"),
            ("Location", "/", "/shop/catalog/"),
            ("Location", "/api/x?next=/y#f", "/shop/catalog/api/x?next=/y#f"),
            # the upstream's own absolute URL
            ("Location", own + "/api/x", "/shop/catalog/api/x"),
            ("Content-Location", "/doc", "/shop/catalog/doc"),
            ("Refresh", "0; url=/api/", "0; url=/shop/catalog/api/"),
            ("Refresh", "3;URL='%s/api/'" % own, "3;URL='/shop/catalog/api/'"),
            # left alone: relative, other hosts and ports, another scheme
            ("Location", "api/x", "api/x"),
            ("Location", "../x", "../x"),
            ("Location", "https://example.com/api/", "https://example.com/api/"),
            ("Location", "http://127.0.0.1:1/api/", "http://127.0.0.1:1/api/"),
            ("Location", "//example.com/x", "//example.com/x"),
            ("Refresh", "5", "5"),
        ]
        for field, value, want in cases:
            with self.subTest(field=field, value=value):
                self.assertEqual(self.redirect("/shop/catalog", field, value), want)

    def test_11_location_with_base_path(self):
        # upstream http://127.0.0.1:PORT/base serves /b: /base/x upstream is /b/x here
        self.assertEqual(self.redirect("/b", "Location", "/base/x"), "/b/x")
        self.assertEqual(self.redirect("/b", "Location", self.up.url + "/base"), "/b")
        self.assertEqual(self.redirect("/b", "Location", "/basement"), "/basement")
        self.assertEqual(self.redirect("/b", "Location", "/other"), "/other")


if __name__ == "__main__":
    it.main()
