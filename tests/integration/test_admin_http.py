#!/usr/bin/env python3
"""test_admin_http.py - the admin listener's own HTTP/1.1 transport (issue 17, items 1-3 and the
console's files): strict parsing with raw sockets (NUL in a value, obs-fold, bare LF, HTTP/1.1
without Host, repeated singleton headers, unknown methods, malformed requests), each answered
with a JSON body and the security headers; Host checks against DNS rebinding (421); the body
limit before buffering; exhaustion with a low RLIMIT_NOFILE (idle connections, trickled heads,
unfinished bodies) while the data plane keeps answering, the head deadline not restarted per
byte, bounded memory and no spinning accept; the console refusing dot-files and FIFOs; refused
admin keys logged with their client, rate-limited."""

import json
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402
import lifecycle_util as lu  # noqa: E402

SECURITY = ("content-security-policy", "x-frame-options", "x-content-type-options",
            "referrer-policy")


def raw(port, data, timeout=5.0, pause=0.0):
    """Send raw bytes on a fresh connection (in pieces if a list), read one response:
    (status, headers, body bytes). Status 0 when no response came."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        for piece in (data if isinstance(data, list) else [data]):
            s.sendall(piece)
            if pause:
                time.sleep(pause)
        st, h, body, complete = hu.read_response(s, timeout)
        return (st or 0) if complete else 0, h, body
    except OSError:
        return 0, {}, b""
    finally:
        s.close()


class AdminHTTP(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        hu.raise_nofile(16384)
        cls.env = it.Env("adminhttp")
        cls.backend = cls.env.backend("b")
        cls.key, frag = lu.new_admin_key()
        frag.update({"name": "ops", "role": "owner"})
        conf = hu.basic_conf(cls.env, cls.backend.url)
        conf["admin"]["keys"] = [frag]
        conf["admin"]["hosts"] = ["admin.example.test"]
        conf["timeouts"]["client_header_ms"] = 2000
        cls.web = os.path.join(cls.env.dir, "web")
        os.makedirs(os.path.join(cls.web, ".git"))
        with open(os.path.join(cls.web, "index.html"), "w") as f:
            f.write("<!doctype html><title>console</title>\n")
        with open(os.path.join(cls.web, ".git", "config"), "w") as f:
            f.write("[core]\n")
        with open(os.path.join(cls.web, ".hidden.js"), "w") as f:
            f.write("secret\n")
        os.mkfifo(os.path.join(cls.web, "fifo.js"))
        os.environ["FNGATE_WEB_ROOT"] = cls.web
        cls.gw = cls.env.fngate(conf)
        cls.aport = int(conf["admin"]["listen"].rsplit(":", 1)[1])
        it.wait_port(cls.aport, cls.gw.proc)

    @classmethod
    def tearDownClass(cls):
        os.environ.pop("FNGATE_WEB_ROOT", None)
        cls.env.close()

    def req(self, first="GET /healthz HTTP/1.1", headers=("Host: 127.0.0.1",), body=b""):
        return ("%s\r\n%s\r\n\r\n" % (first, "".join(h + "\r\n" for h in headers)[:-2] if
                                      headers else "")).encode().replace(b"\r\n\r\n\r\n",
                                                                          b"\r\n\r\n") + body

    def assert_json_error(self, resp, status, what):
        st, h, body = resp
        self.assertEqual(st, status, "%s: %r" % (what, body))
        for name in SECURITY:
            self.assertIn(name, h, "%s: %s missing" % (what, name))
        self.assertEqual(h.get("content-type"), ["application/json"], what)
        self.assertIn("error", json.loads(body), what)

    def test_01_well_formed(self):
        st, h, body = raw(self.aport, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body)["status"], "ok")
        for name in SECURITY:
            self.assertIn(name, h)
        # keep-alive: two requests on one connection, then a pipelined pair
        s = socket.create_connection(("127.0.0.1", self.aport), timeout=5)
        one = b"GET /healthz HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % self.aport
        s.sendall(one)
        self.assertEqual(hu.read_response(s)[0], 200)
        s.sendall(one + one)
        self.assertEqual(hu.read_response(s)[0], 200)
        self.assertEqual(hu.read_response(s)[0], 200)
        s.close()
        # HTTP/1.0 without Host is fine (no browser sends it); HEAD has no body
        self.assertEqual(raw(self.aport, b"GET /healthz HTTP/1.0\r\n\r\n")[0], 200)

    def test_02_strict_parser(self):
        k = ("Bearer " + self.key).encode()
        cases = [
            ("NUL in Authorization", b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Authorization: " + k + b"\x00junk\r\n\r\n", 400),
            ("NUL in another value", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x00b\r\n\r\n", 400),
            ("obs-fold", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n b\r\n\r\n", 400),
            ("bare LF", b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n", 400),
            ("bare LF in a header", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\nX-A: b\r\n\r\n", 400),
            ("bare CR", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\rX-A: b\r\n\r\n", 400),
            ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n", 400),
            ("two Authorization", b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Authorization: " + k + b"\r\nAuthorization: Bearer x\r\n\r\n", 400),
            ("two X-Auth-Token", b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"X-Auth-Token: a\r\nX-Auth-Token: b\r\n\r\n", 400),
            ("two Host", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: localhost\r\n\r\n", 400),
            ("two Content-Length", b"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400),
            ("CL and TE", b"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("unknown method", b"FROB /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405),
            ("PUT on the API", b"PUT /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Authorization: " + k + b"\r\nContent-Length: 0\r\n\r\n", 405),
            ("POST on the console", b"POST /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Content-Length: 0\r\n\r\n", 405),
            ("garbage", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400),
            ("bad version", b"GET /healthz HTTP/9\r\nHost: 127.0.0.1\r\n\r\n", 400),
            ("absolute form", b"GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
            ("dot segment", b"GET /v1/../healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
            ("space in a name", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX A: b\r\n\r\n", 400),
            ("head too large", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: " +
             b"a" * 20000 + b"\r\n\r\n", 431),
            # the target alone over the limit: 414, as on the data plane (http1_head_too_large)
            ("target too long", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
             414),
        ]
        for what, data, status in cases:
            with self.subTest(what):
                self.assert_json_error(raw(self.aport, data), status, what)
        st, h, _ = raw(self.aport, b"FROB /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(h.get("allow"), ["GET, HEAD, POST, PATCH, DELETE"])
        # the key alone authenticates; with a NUL after it, it does not (above)
        st, _, body = raw(self.aport, b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Authorization: " + k + b"\r\n\r\n")
        self.assertEqual(st, 200, body)

    def test_03_host(self):
        p = self.aport
        ok = [b"127.0.0.1", b"127.0.0.1:%d" % p, b"localhost", b"LOCALHOST:%d" % p,
              b"admin.example.test", b"admin.example.test:%d" % p]
        bad = [b"evil.example", b"evil.example:%d" % p, b"127.0.0.1:1", b"localhost:80",
               b"127.0.0.2", b"localhost.evil.example", b"admin.example.test.evil", b"[::1]",
               b"", b"127.0.0.1:", b"a b"]
        for host in ok:
            with self.subTest(host=host):
                st = raw(p, b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")[0]
                self.assertEqual(st, 200)
        for host in bad:
            with self.subTest(host=host):
                r = raw(p, b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
                # a malformed Host may be refused as malformed (400) or as foreign (421)
                malformed = host in (b"", b"127.0.0.1:", b"a b")
                self.assert_json_error(r, r[0] if malformed and r[0] == 400 else 421, host)
        # the console and /metrics too: a rebound page reads neither
        for path in (b"/", b"/metrics", b"/v1/whoami"):
            r = raw(p, b"GET " + path + b" HTTP/1.1\r\nHost: rebound.example:%d\r\n\r\n" % p)
            self.assert_json_error(r, 421, path)

    def test_04_body_limit(self):
        k = ("Bearer " + self.key).encode()
        # Content-Length over the limit: 413 at once, before any body byte is sent
        t0 = time.time()
        r = raw(self.aport, b"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " +
                k + b"\r\nContent-Length: 100000000\r\n\r\n", timeout=5)
        self.assert_json_error(r, 413, "Content-Length over the limit")
        self.assertLess(time.time() - t0, 1.5)
        # chunked: counted as it comes
        chunk = b"%x\r\n" % 16384 + b"a" * 16384 + b"\r\n"
        r = raw(self.aport, [b"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " +
                             k + b"\r\nTransfer-Encoding: chunked\r\n\r\n"] + [chunk] * 5)
        self.assert_json_error(r, 413, "chunked body over the limit")
        # a body over the limit sent whole: the 413 still reaches the client (no reset)
        body = b"{" + b" " * 100000 + b"}"
        r = raw(self.aport, b"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " +
                k + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        self.assert_json_error(r, 413, "whole body over the limit")
        # Expect: 100-continue gets the interim response, then the answer
        s = socket.create_connection(("127.0.0.1", self.aport), timeout=5)
        s.sendall(b"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + k +
                  b"\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        self.assertEqual(hu.read_response(s)[0], 100)
        s.sendall(b"{}")
        self.assertEqual(hu.read_response(s)[0], 400)
        s.close()

    def test_05_console_files(self):
        p = self.aport
        self.assertEqual(raw(p, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")[0], 200)
        for path in (b"/.git/config", b"/.hidden.js", b"/%2egit/config", b"/.git/",
                     b"/fifo.js", b"/nope.js"):
            with self.subTest(path=path):
                t0 = time.time()
                self.assert_json_error(raw(p, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1"
                                          b"\r\n\r\n", timeout=3), 404, path)
                self.assertLess(time.time() - t0, 2.0, "blocked on %r" % path)
        # the loop was not blocked by the FIFO
        self.assertEqual(raw(p, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")[0], 200)

    def test_05b_api_routes(self):
        """The API's routing table (admin.c api_routes): a known path with a method it does not
        take is 405 with the route's methods in Allow; an unknown path is 404; HEAD is GET."""
        k = ("Bearer " + self.key).encode()

        def call(method, path):
            return raw(self.aport, method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Authorization: " + k + b"\r\nContent-Length: 0\r\n\r\n", timeout=3)

        allow = [
            (b"/v1/whoami", "GET"), (b"/v1/namespaces", "GET"), (b"/v1/namespaces/ns", "GET"),
            (b"/v1/namespaces/ns/functions", "GET"), (b"/v1/functions", "GET"),
            (b"/v1/functions/pub", "GET, PATCH"), (b"/v1/functions/pub/privacy", "DELETE"),
            (b"/v1/tokens", "GET, POST"), (b"/v1/tokens/revoke", "POST"),
            (b"/v1/tokens/some-id", "GET, DELETE"),
        ]
        for path, methods in allow:
            with self.subTest(path=path):
                st, h, body = call(b"PUT", path)
                self.assert_json_error((st, h, body), 405, path)
                self.assertEqual(h.get("allow"), [methods], path)
        for path in (b"/v1", b"/v1/nope", b"/v1/tokens/a/b", b"/v1/functions/pub/other",
                     b"/v1/namespaces/ns/tokens", b"/v1/whoami/x"):
            with self.subTest(path=path):
                self.assert_json_error(call(b"GET", path), 404, path)
        self.assertEqual(call(b"GET", b"/v1/whoami")[0], 200)
        s = socket.create_connection(("127.0.0.1", self.aport), timeout=3)
        s.sendall(b"HEAD /v1/functions/pub HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + k +
                  b"\r\n\r\n")
        self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200 "), "HEAD is not GET")
        s.close()
        self.assertEqual(call(b"GET", b"/v1/tokens/no-such-token")[0], 404)

    def test_06_refused_keys_logged(self):
        for _ in range(50):
            st = raw(self.aport, b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: Bearer wrong-key-123\r\n\r\n")[0]
            self.assertEqual(st, 401)
        time.sleep(0.3)
        lines = [r for r in self.gw.proc.json_lines()
                 if "refused an unknown admin key" in r.get("msg", "")]
        self.assertGreaterEqual(len(lines), 1)
        self.assertLessEqual(len(lines), 2, "a flood of refusals is not rate-limited")
        self.assertIn("127.0.0.1:", lines[0]["msg"])
        self.assertNotIn("wrong-key-123", self.gw.proc.output())

    def test_07_deadlines(self):
        """client_header_ms 2000: a head trickled one byte every 0.3 s is cut at ~2 s (408),
        not kept alive by each byte; an unfinished body is cut too."""
        s = socket.create_connection(("127.0.0.1", self.aport), timeout=10)
        t0 = time.time()
        data = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
        cut = None
        for b in data:
            try:
                s.sendall(bytes([b]))
            except OSError:
                cut = time.time() - t0
                break
            time.sleep(0.3)
            if time.time() - t0 > 6:
                break
        st, _, body, _ = hu.read_response(s, 2)
        cut = cut or (time.time() - t0)
        self.assertEqual(st, 408, body)
        self.assertLess(cut, 5.0, "the head deadline was restarted by trickled bytes")
        s.close()
        s = socket.create_connection(("127.0.0.1", self.aport), timeout=10)
        t0 = time.time()
        s.sendall(b"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{")
        st = hu.read_response(s, 6)[0]
        self.assertEqual(st, 408)
        self.assertLess(time.time() - t0, 4.5)
        s.close()


class AdminExhaustion(it.GatewayCase):
    """The admin port cannot starve the data plane: its own cap (admin.max_connections 64),
    deadlines, and accept paused (one JSON line) when descriptors run out."""

    @classmethod
    def setUpClass(cls):
        hu.raise_nofile(16384)
        cls.env = it.Env("adminexh")
        cls.backend = cls.env.backend("b")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_01_idle_trickled_and_unfinished(self):
        conf = hu.basic_conf(self.env, self.backend.url, timeouts={"client_header_ms": 3000})
        gw = self.env.fngate(conf)
        aport = int(conf["admin"]["listen"].rsplit(":", 1)[1])
        it.wait_port(aport, gw.proc)
        pid = gw.proc.pid
        self.assertEqual(hu.get(gw.port, "/pub/warm")[0], 200)
        base = hu.nfds(pid)
        limit = base + 100     # the admin cap (64) fits; 300 idle connections would not
        resource.prlimit(pid, resource.RLIMIT_NOFILE,
                         (limit, resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]))
        rss0 = hu.rss_kb(pid)
        socks = []
        for i in range(300):
            try:
                s = socket.create_connection(("127.0.0.1", aport), timeout=5)
            except OSError:
                break
            s.setblocking(False)
            kind = i % 3
            try:
                if kind == 1:       # a trickled head
                    s.send(b"GET /healthz HTTP/1.1\r\nHo")
                elif kind == 2:     # an unfinished 250 KiB body
                    s.send(b"POST /v1/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Length: 256000\r\n\r\n" + b"x" * 8192)
            except OSError:
                pass
            socks.append(s)
        cpu0 = hu.cpu_s(pid)
        statuses = []
        t0 = time.time()
        while time.time() - t0 < 2.0:
            statuses.append(hu.get(gw.port, "/pub/x", timeout=2)[0])
            time.sleep(0.1)
        cpu = hu.cpu_s(pid) - cpu0
        held = hu.nfds(pid)
        rss = hu.rss_kb(pid) - rss0
        print("admin flood: %d sockets opened, fngate holds %d fds (base %d, limit %d), "
              "RSS +%d KiB, CPU %.3f s over 2 s, data plane %s" %
              (len(socks), held, base, limit, rss, cpu, sorted(set(statuses))), file=sys.stderr)
        self.assertEqual(set(statuses), {200}, "the data plane stopped answering")
        self.assertLessEqual(held, base + 64 + 4, "more admin connections than the cap")
        self.assertLess(cpu, 0.5, "fngate spins")
        self.assertLess(rss, 16 * 1024, "memory grows with unfinished admin bodies")
        # Once the flood is gone, the admin API answers again (the cap was released).
        for s in socks:
            s.close()
        deadline = time.time() + 5
        st = 0
        while time.time() < deadline and st != 200:
            st = raw(aport, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout=2)[0]
            time.sleep(0.1)
        self.assertEqual(st, 200, "the admin API does not answer after the flood")
        out = gw.proc.output()
        self.assertNotIn("Error from accept", out)
        gw.stop()

    def test_02_out_of_descriptors(self):
        """Descriptors run out below the admin cap: accept pauses with one JSON line, no
        spinning, and resumes once descriptors are free."""
        conf = hu.basic_conf(self.env, self.backend.url)
        gw = self.env.fngate(conf, "nofile.json")
        aport = int(conf["admin"]["listen"].rsplit(":", 1)[1])
        it.wait_port(aport, gw.proc)
        pid = gw.proc.pid
        base = hu.nfds(pid)
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (base + 5, hard))
        socks = [socket.create_connection(("127.0.0.1", aport), timeout=5) for _ in range(30)]
        time.sleep(0.5)
        cpu0 = hu.cpu_s(pid)
        time.sleep(3.0)
        cpu = hu.cpu_s(pid) - cpu0
        out = gw.proc.output()
        print("admin out of descriptors: CPU %.3f s over 3 s" % cpu, file=sys.stderr)
        self.assertLess(cpu, 0.3, "the admin accept spins at the descriptor limit")
        self.assertEqual(out.count("pausing the admin accept"), 1, out[-2000:])
        self.assertNotIn("Error from accept", out)
        for line in out.splitlines():
            if line.strip():
                json.loads(line)    # every log line JSON
        for s in socks:
            s.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        deadline = time.time() + 5
        st = 0
        while time.time() < deadline and st != 200:
            st = raw(aport, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout=2)[0]
            time.sleep(0.2)
        self.assertEqual(st, 200, "admin accept did not resume")
        gw.stop()


if __name__ == "__main__":
    it.main()
