#!/usr/bin/env python3
"""test_header_names.py - header names with '_' (issue 11 item 3).

CGI-style runtimes (CGI, WSGI, PHP-FPM, serverless adapters) turn X-Fngate-Namespace and
X_Fngate_Namespace into the same variable. So fngate, like nginx by default, drops request
fields whose name holds '_'; with "underscores_in_headers": true it keeps them, except those that
read, '_' as '-', as a field fngate sets, strips or frames with. Responses: a field that reads
as a framing field (Content_Length, Transfer_Encoding...) never reaches the client. Both counted
in fngate_headers_dropped_total. A raw-socket upstream records exactly what reached it.
"""

import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402

# Every field fngate sets, strips or frames with, spelled with '_' (mixed case on purpose).
PROTECTED = [
    "X_Fngate_Namespace: evil", "x_fngate_function: evil", "X_FNGATE_TOKEN_ID: evil",
    "X-Fngate_Anything: evil", "X_Forwarded_For: 6.6.6.6", "X_Forwarded_Host: evil.example",
    "X_Forwarded_Proto: https", "X_Real_IP: 6.6.6.6", "X_Request_Id: evil-id",
    "Content_Length: 5", "Transfer_Encoding: chunked", "Keep_Alive: timeout=99",
    "Proxy_Authorization: Basic ZXZpbA==", "Proxy_Connection: keep-alive", "X_Auth_Token: evil",
]
# Names with '_' that alias nothing fngate handles: kept when the switch is on.
HARMLESS = ["X_Custom_Thing: a", "_X-Fngate-Namespace: b", "Content-Length_: c",
            "my_header: d"]


def response_handler(s, path, head, body):
    if path.startswith("/framing"):     # /pub/framing, the prefix stripped
        s.sendall(hu.response(body=b"hello", headers=(
            "Content_Length: 99999", "Transfer_Encoding: chunked", "Connection_: x",
            "Keep_Alive: 1", "X_Custom: y")))
    else:
        s.sendall(hu.response(body=b"ok"))
    return True


class HeaderNames(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = it.Env("hdrnames")
        cls.key = env.key("hn")
        cls.up = hu.FakeUpstream(response_handler)
        conf = hu.basic_conf(env, cls.up.url, key=cls.key)
        cls.drop_admin = conf["admin"]["listen"]
        cls.drop = env.fngate(conf, name="drop.json")
        conf = hu.basic_conf(env, cls.up.url, key=cls.key, underscores_in_headers=True)
        cls.keep_admin = conf["admin"]["listen"]
        cls.keep = env.fngate(conf, name="keep.json")

    @classmethod
    def tearDownClass(cls):
        cls.up.stop()

    def sent(self, gw, path, headers):
        """Send one request through gw; return (status, the head the upstream received)."""
        n = len(self.up.heads)
        st, _ = hu.get(gw.port, path, headers=headers)
        self.assertEqual(st, 200)
        self.assertEqual(len(self.up.heads), n + 1)
        return self.up.heads[-1].decode("latin-1")

    def names_in(self, head):
        return [line.split(":", 1)[0] for line in head.split("\r\n")[1:]]

    def test_default_drops_every_underscore_name(self):
        head = self.sent(self.drop, "/pub/a", PROTECTED + HARMLESS + ["X-Normal: kept"])
        names = self.names_in(head)
        self.assertFalse([n for n in names if "_" in n], head)
        self.assertIn("X-Normal", names)
        # fngate's own fields are there once, with fngate's values
        self.assertEqual(names.count("X-Fngate-Namespace"), 1)
        self.assertIn("X-Fngate-Namespace: ns", head)
        self.assertNotIn("evil", head)
        self.assertNotIn("6.6.6.6", head)

    def test_kept_but_never_an_alias(self):
        head = self.sent(self.keep, "/pub/b", PROTECTED + HARMLESS)
        names = self.names_in(head)
        for h in PROTECTED:
            self.assertNotIn(h.split(":")[0], names, head)
        for h in HARMLESS:
            self.assertIn(h.split(":")[0], names, head)
        self.assertNotIn("evil", head)
        self.assertNotIn("6.6.6.6", head)
        # the body framing is fngate's (no body: no Content-Length, no chunking)
        self.assertNotRegex(head, r"(?i)\r\n(content.length|transfer.encoding):")

    def test_real_ip_and_forwarded_not_trusted(self):
        """The dash spellings too: fngate states the client address in X-Forwarded-For."""
        head = self.sent(self.drop, "/pub/c", ["X-Real-IP: 6.6.6.6",
                                               "Forwarded: for=6.6.6.6;proto=https"])
        self.assertNotIn("6.6.6.6", head)
        self.assertIn("X-Forwarded-For: 127.0.0.1", head)

    def test_underscore_token_is_no_token(self):
        """X_Auth_Token is not the credential: a private function refuses as token_missing,
        switch or not, and the value never reaches the upstream."""
        tok = it.mint(self.key, it.scw_claims(function_id="priv"))
        for gw in (self.drop, self.keep):
            n = len(self.up.heads)
            r = it.curl(gw.url("/priv/x"), headers=["X_Auth_Token: " + tok])
            self.assertDenied(r, "token_missing")
            self.assertEqual(len(self.up.heads), n)
            # with the real header it passes, and the alias is still not forwarded
            r = it.curl(gw.url("/priv/x"), token=tok, headers=["X_Auth_Token: " + tok])
            self.assertEqual(r.status, 200)
            self.assertNotIn(tok, self.up.heads[-1].decode("latin-1"))

    def test_response_framing_aliases_dropped(self):
        for gw in (self.drop, self.keep):
            r = it.curl(gw.url("/pub/framing"))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"hello")
            raw = r.raw_headers
            for name in ("Content_Length", "Transfer_Encoding", "Keep_Alive"):
                self.assertNotIn(name, raw)
            self.assertIn("X_Custom: y", raw)        # not framing: relayed
            self.assertIn("Connection_: x", raw)     # reads as "connection-", not a field
            self.assertRegex(raw, r"(?i)content-length: 5\r\n")

    def test_zz_counted(self):
        """Runs last (unittest sorts by name): what the tests above dropped is counted."""
        self.sent(self.keep, "/pub/d", ["X_Request_Id: x"])
        self.sent(self.drop, "/pub/e", ["my_header: d"])
        for admin in (self.drop_admin, self.keep_admin):
            with urllib.request.urlopen("http://%s/metrics" % admin, timeout=5) as resp:
                text = resp.read().decode()
            counts = {(d, rs): int(v) for d, rs, v in re.findall(
                r'fngate_headers_dropped_total\{direction="(\w+)",reason="(\w+)"\} (\d+)', text)}
            self.assertEqual(set(counts), {("request", "underscore"), ("request", "alias"),
                                           ("response", "alias")})
            if admin == self.keep_admin:
                self.assertGreaterEqual(counts[("request", "alias")], len(PROTECTED) + 1)
                self.assertEqual(counts[("request", "underscore")], 0)
            else:
                self.assertGreaterEqual(counts[("request", "underscore")],
                                        len(PROTECTED) + len(HARMLESS) + 1)
                self.assertEqual(counts[("request", "alias")], 0)
            self.assertGreaterEqual(counts[("response", "alias")], 3)

if __name__ == "__main__":
    it.main()
