#!/usr/bin/env python3
"""test_tls.py - TLS on listeners and to upstreams (issue 7), black-box with curl, openssl s_client
and Python's ssl against a real fngate.

A test CA is made at start with the openssl CLI (tls_util.PKI):
  a.crt    CN a.test, SAN DNS:a.test DNS:localhost IP:127.0.0.1   the listener's default certificate
  b.crt    CN b.test, SAN DNS:b.test DNS:*.wild.test              chosen by SNI
  up.crt   CN localhost, SAN DNS:localhost IP:127.0.0.1           the good TLS upstream
  client.crt CN fngate-client                                     fngate's client certificate (mTLS)
  rogue.crt  self-signed, same names as up.crt                    the bad TLS upstream
  other.crt  CN other.test, SAN DNS:other.test                    an upstream reached as localhost
  expired / future: dated with `openssl ca`                       refused by `fngate check`
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import tls_util as tu  # noqa: E402

NS = "0b5e0000-0000-4000-8000-0000000007a1"
FN_PUB = "0f000000-0000-4000-8000-0000000007a1"
FN_UP = "0f000000-0000-4000-8000-0000000007a2"
FN_ROGUE = "0f000000-0000-4000-8000-0000000007a3"
FN_SYS = "0f000000-0000-4000-8000-0000000007a4"
FN_NAME = "0f000000-0000-4000-8000-0000000007a5"
FN_MTLS = "0f000000-0000-4000-8000-0000000007a6"
FN_MTLS_NONE = "0f000000-0000-4000-8000-0000000007a7"

# A client that can still speak TLS 1.0/1.1 (OpenSSL 3 needs security level 0 for them).
OLD_TLS_ENV = dict(os.environ, OPENSSL_CONF="/dev/null")
OLD_TLS_ARGS = ["--ciphers", "DEFAULT@SECLEVEL=0"]


class TLS(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        env = cls.env = it.Env("tls")
        pki = cls.pki = tu.PKI(env.dir)
        cls.a = pki.issue("a", "a.test", ["DNS:a.test", "DNS:localhost", "IP:127.0.0.1"])
        cls.b = pki.issue("b", "b.test", ["DNS:b.test", "DNS:*.wild.test"])
        cls.up_cert = pki.issue("up", "localhost", ["DNS:localhost", "IP:127.0.0.1"])
        cls.client = pki.issue("client", "fngate-client")
        cls.rogue = tu.self_signed(env.dir, "rogue", "localhost", ["DNS:localhost", "IP:127.0.0.1"])
        cls.other = pki.issue("other", "other.test", ["DNS:other.test"])
        cls.key = env.key("tls", "rsa-pkcs1")
        cls.backend = env.backend("tls-backend")
        cls.up = tu.TLSUpstream(*cls.up_cert)
        cls.rogue_up = tu.TLSUpstream(*cls.rogue)
        cls.mtls_up = tu.TLSUpstream(*cls.up_cert, require_client_ca=pki.crt)
        cls.other_up = tu.TLSUpstream(*cls.other)      # a good certificate, for another name
        cls.port = it.free_port()
        cls.port13 = it.free_port()
        cls.plain = it.free_port()
        conf = cls.gw_conf = cls.make_conf(cls.port, cls.plain, workers=1, port13=cls.port13)
        # The /etc/hosts of a standard Debian 12: localhost is ::1 as well, and getaddrinfo
        # gives ::1 first, while the TLS upstreams listen on 127.0.0.1 only. fngate must try
        # every address of an upstream name (test_upstream_addresses.py covers the rest).
        cls.gw = tu.start_fngate(env, conf, cls.port, hosts=env.write(
            "hosts", "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"))
        it.wait_port(cls.plain, cls.gw.proc)

    @classmethod
    def tearDownClass(cls):
        for u in (cls.up, cls.rogue_up, cls.mtls_up, cls.other_up):
            u.close()

    @classmethod
    def listener(cls, port, cert=None, extra=None):
        crt, key = cert or cls.a
        tls = {"cert": crt, "key": key, "certificates": [{"cert": cls.b[0], "key": cls.b[1]}]}
        tls.update(extra or {})
        return {"address": "127.0.0.1:%d" % port, "tls": tls}

    @classmethod
    def make_conf(cls, port, plain, workers=2, port13=None, cert=None):
        ca = cls.pki.crt
        functions = [
            it.function(FN_PUB, "pub", cls.backend.url, privacy="public", prefix="/pub"),
            it.function(FN_UP, "up", cls.up.url(base="/base"), privacy="public", prefix="/up",
                        upstream_tls={"ca": ca}),
            it.function(FN_ROGUE, "rogue", cls.rogue_up.url(), privacy="public", prefix="/rogue",
                        upstream_tls={"ca": ca}),
            # no "upstream_tls": the system store, which does not know the test CA
            it.function(FN_SYS, "sys", cls.up.url(), privacy="public", prefix="/sys"),
            # the certificate is for other.test, not for localhost
            it.function(FN_NAME, "name", cls.other_up.url(host="localhost"),
                        privacy="public", prefix="/name", upstream_tls={"ca": ca}),
            it.function(FN_MTLS, "mtls", cls.mtls_up.url(host="localhost"), privacy="public",
                        prefix="/mtls", upstream_tls={"ca": ca, "cert": cls.client[0],
                                                      "key": cls.client[1]}),
            it.function(FN_MTLS_NONE, "mtls-none", cls.mtls_up.url(), privacy="public",
                        prefix="/mtls-none", upstream_tls={"ca": ca}),
        ]
        listen = [cls.listener(port), "127.0.0.1:%d" % plain]
        if port13:
            listen.append(cls.listener(port13, extra={"min_version": "TLS1.3"}))
        conf = it.config(cls.env, [it.namespace(NS, "tls", [cls.key.conf("k1")], functions)],
                         port=port, workers=workers)
        conf["listen"] = listen
        return conf

    def served(self, port, sni):
        return tu.served_cert(port, sni, cafile=self.pki.crt)

    def url(self, path, host="127.0.0.1", port=None):
        return "https://%s:%d%s" % (host, port or self.port, path)

    def get(self, path, host="127.0.0.1", port=None, args=()):
        port = port or self.port
        if host != "127.0.0.1":
            args = ["--resolve", "%s:%d:127.0.0.1" % (host, port)] + list(args)
        return tu.https(self.url(path, host, port), self.pki.crt, args=args)

    # -- the listener

    def test_handshake_and_proxy(self):
        r = self.get("/pub/hello")
        self.assertEqual(r.status, 200, r.stderr)
        seen = r.json()
        # The upstream learns the client came over TLS; on the plain listener, it did not.
        self.assertEqual(seen["headers"].get("x-forwarded-proto"), ["https"], seen)
        r = it.curl("http://127.0.0.1:%d/pub/hello" % self.plain)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["headers"].get("x-forwarded-proto"), ["http"])
        # A client spoofing the header changes nothing.
        r = self.get("/pub/x", args=["-H", "X-Forwarded-Proto: http"])
        self.assertEqual(r.json()["headers"].get("x-forwarded-proto"), ["https"])
        # Keep-alive over TLS: two requests, one connection.
        r = tu.https(self.url("/pub/1"), self.pki.crt, args=["-v", self.url("/pub/2")])
        self.assertEqual(r.status, 200)
        self.assertIn(b"Re-using existing connection", r.stderr)

    def handshakes(self):
        """fngate_tls_handshakes_total from the admin API's /metrics: (success, failure)."""
        r = it.curl("http://%s/metrics" % self.gw_conf["admin"]["listen"])
        self.assertEqual(r.status, 200, r.body)
        text = r.body.decode()
        ok = re.search(r'(?m)^fngate_tls_handshakes_total\{result="success"\} (\d+)$', text)
        bad = re.search(r'(?m)^fngate_tls_handshakes_total\{result="failure"\} (\d+)$', text)
        self.assertIsNotNone(ok, text)
        self.assertIsNotNone(bad, text)
        return int(ok.group(1)), int(bad.group(1))

    def test_plain_http_to_tls_port(self):
        # Plain HTTP on the TLS port is not a request: the handshake fails, only that
        # connection is closed, and the listener keeps serving.
        ok0, bad0 = self.handshakes()
        got, closed = it.raw(self.port, b"GET /pub/x HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertNotIn(b"HTTP/1.1 200", got)
        self.assertTrue(closed)
        self.assertEqual(self.get("/pub/x").status, 200)
        ok1, bad1 = self.handshakes()
        self.assertEqual(bad1 - bad0, 1)
        self.assertGreaterEqual(ok1 - ok0, 1)

    def test_handshake_timeout(self):
        # A client that connects and says nothing is cut at client_header_ms (the handshake
        # deadline), like a client that never sends its request head.
        g = self.small_daemon(timeouts={"client_header_ms": 300, "client_idle_ms": 60000,
                                        "upstream_connect_ms": 2000,
                                        "upstream_response_ms": 30000})
        import socket
        s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        t0 = time.time()
        try:
            self.assertEqual(s.recv(1), b"")
        except ConnectionResetError:
            pass
        finally:
            s.close()
        self.assertLess(time.time() - t0, 3)
        # ...and a half-finished handshake the same way, while others go on.
        s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        s.sendall(b"\x16\x03\x01\x00\x10")      # a record header, then nothing
        r = tu.https("https://127.0.0.1:%d/pub/x" % g.port, self.pki.crt)
        self.assertEqual(r.status, 200)
        t0 = time.time()
        try:
            self.assertEqual(s.recv(100), b"")
        except ConnectionResetError:
            pass
        finally:
            s.close()
        self.assertLess(time.time() - t0, 3)

    def test_sni(self):
        # curl checks the name: a wrong certificate would fail the request.
        for host, cn in (("a.test", "a.test"), ("b.test", "b.test"), ("x.wild.test", "b.test"),
                         ("localhost", "a.test")):
            r = self.get("/pub/x", host=host, args=["-v"])
            self.assertEqual(r.status, 200, (host, r.stderr[-600:]))
            self.assertIn(("subject: CN=%s" % cn).encode(), r.stderr, host)
        # The served certificate, as seen by another client.
        self.assertEqual(self.served(self.port, "b.test")["cn"], "b.test")
        self.assertEqual(self.served(self.port, "a.test")["cn"], "a.test")
        # No SNI, or a name no certificate has: the default one.
        self.assertEqual(self.served(self.port, None)["cn"], "a.test")
        self.assertEqual(self.served(self.port, "unknown.test")["cn"], "a.test")
        self.assertEqual(self.served(self.port, "deep.x.wild.test")["cn"], "a.test")

    def test_alpn(self):
        # h2 first when the client offers it (test_http2.py covers HTTP/2 itself), else
        # HTTP/1.1.
        r = self.get("/pub/x", args=["-v", "--http2"])
        self.assertEqual(r.status, 200)
        self.assertIn(b"ALPN: server accepted h2", r.stderr)
        # (one request only: the upstream tests below count on the round robin's position)
        self.assertEqual(self.served(self.port, "a.test")["alpn"], "http/1.1")
        # A client that speaks none of ours is refused in the handshake (no_application_protocol).
        out = tu.s_client(self.port, ["-alpn", "spdy/3", "-servername", "a.test"])
        self.assertIn("no application protocol", out)

    def test_old_versions_refused(self):
        # Control: this client does speak TLS 1.1 to a server that allows it...
        port = it.free_port()
        p = it.Proc(["openssl", "s_server", "-accept", str(port), "-cert", self.a[0], "-key",
                     self.a[1], "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-www"],
                    os.path.join(self.env.dir, "s_server.log"), "openssl s_server tls1.1")
        self.env.procs.append(p)
        it.wait_port(port, p)
        ok_control = self.old_curl(port, "1.1")
        p.stop()
        self.assertEqual(ok_control, 0, "the control failed: this client cannot do TLS 1.1")
        # ...and fngate refuses TLS 1.0 and 1.1, whatever the client allows.
        self.assertEqual(self.old_curl(self.port, "1.1", "/pub/x"), 35)
        self.assertEqual(self.old_curl(self.port, "1.0", "/pub/x"), 35)
        r = self.get("/pub/x", args=["--tls-max", "1.1"])
        self.assertEqual(r.status, 0)
        # TLS 1.2 and 1.3 are served; a "min_version": "TLS1.3" listener refuses 1.2.
        for v in ("1.2", "1.3"):
            r = self.get("/pub/x", args=["--tlsv" + v, "--tls-max", v])
            self.assertEqual(r.status, 200, v)
        r = self.get("/pub/x", port=self.port13, args=["--tlsv1.2", "--tls-max", "1.2"])
        self.assertEqual(r.status, 0)
        r = self.get("/pub/x", port=self.port13, args=["--tlsv1.3"])
        self.assertEqual(r.status, 200)
        self.assertEqual(self.served(self.port13, "a.test")["version"], "TLSv1.3")

    def old_curl(self, port, version, path="/"):
        """curl --tls-max `version` allowing old ciphers; returns curl's exit code (35: TLS)."""
        argv = ["curl", "-s", "-o", "/dev/null", "--max-time", "10", "--cacert", self.pki.crt,
                "--tlsv1.0" if version == "1.0" else "--tlsv1.1", "--tls-max", version] + \
            OLD_TLS_ARGS + ["https://127.0.0.1:%d%s" % (port, path)]
        return subprocess.run(argv, env=OLD_TLS_ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE).returncode

    def test_session_resumption(self):
        req = b"GET /pub/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
        for version in ("-tls1_2", "-tls1_3"):
            sess = os.path.join(self.env.dir, "sess%s.pem" % version)
            out = tu.s_client(self.port, [version, "-servername", "a.test", "-sess_out", sess],
                              request=req)
            self.assertIn("New, TLSv1.", out)
            self.assertIn("HTTP/1.1 200", out)
            for _ in range(3):
                out = tu.s_client(self.port, [version, "-servername", "a.test", "-sess_in", sess],
                                  request=req)
                self.assertIn("Reused, TLSv1.", out, version)
                self.assertIn("HTTP/1.1 200", out)

    def small_daemon(self, workers=1, **top):
        port, plain = it.free_port(), it.free_port()
        conf = self.make_conf(port, plain, workers=workers)
        for k, v in top.items():
            conf[k] = v
        g = tu.start_fngate(self.env, conf, port, name="tls-%d.json" % port)
        g.port = port
        return g

    def test_resumption_across_workers(self):
        # Ticket keys are shared by the workers: a ticket from one resumes on the other.
        g = self.small_daemon(workers=2)
        req = b"GET /pub/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
        sess = os.path.join(self.env.dir, "sess-w.pem")
        tu.s_client(g.port, ["-servername", "a.test", "-sess_out", sess], request=req)
        reused = 0
        for _ in range(8):
            out = tu.s_client(g.port, ["-servername", "a.test", "-sess_in", sess], request=req)
            reused += "Reused, TLSv1.3" in out
        self.assertEqual(reused, 8)

    # -- reload

    def test_reload_swaps_certificate(self):
        d = tempfile.mkdtemp(dir=self.env.dir)
        crt, key = os.path.join(d, "live.crt"), os.path.join(d, "live.key")
        old = self.pki.issue("live1", "a.test", ["DNS:a.test", "DNS:localhost", "IP:127.0.0.1"])
        new = self.pki.issue("live2", "a.test", ["DNS:a.test", "DNS:localhost", "IP:127.0.0.1"])
        shutil.copy(old[0], crt)
        shutil.copy(old[1], key)
        port, plain = it.free_port(), it.free_port()
        conf = self.make_conf(port, plain, workers=2, cert=(crt, key))
        conf["listen"][0] = self.listener(port, cert=(crt, key))
        g = tu.start_fngate(self.env, conf, port, name="reload.json")
        self.assertEqual(self.served(port, "a.test")["serial"], tu.cert_serial(old[0]))

        # A keep-alive connection opened before the reload.
        import http.client
        import ssl
        ctx = ssl.create_default_context(cafile=self.pki.crt)
        kept = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        kept.request("GET", "/pub/before")
        self.assertEqual(kept.getresponse().read() and 200, 200)

        # Requests on new connections all through the reload.
        statuses, stop = [], threading.Event()

        def hammer():
            while not stop.is_set():
                statuses.append(self.get_on(port, "/pub/loop").status)

        t = threading.Thread(target=hammer)
        t.start()
        try:
            time.sleep(0.5)
            shutil.copy(new[1], key + ".tmp")
            shutil.copy(new[0], crt + ".tmp")
            os.replace(key + ".tmp", key)
            os.replace(crt + ".tmp", crt)
            g.reload()
            self.wait_reloads(g, 1, 0)
            time.sleep(0.7)
        finally:
            stop.set()
            t.join()
        self.assertGreater(len(statuses), 5)
        self.assertEqual(set(statuses), {200}, statuses)
        # New connections get the new certificate; the old connection still works.
        self.assertEqual(self.served(port, "a.test")["serial"], tu.cert_serial(new[0]))
        self.assertEqual(self.get_on(port, "/pub/after").status, 200)
        kept.request("GET", "/pub/after-reload")
        resp = kept.getresponse()
        self.assertEqual(resp.status, 200)
        resp.read()
        self.assertEqual(int(kept.sock.getpeercert()["serialNumber"], 16), tu.cert_serial(old[0]))
        kept.close()

        # A reload with a key that does not match is refused; the new certificate stays.
        shutil.copy(self.b[1], key)
        g.reload()
        self.wait_reloads(g, 1, 1)
        self.assertIn("does not match the certificate", g.proc.output())
        self.assertEqual(self.served(port, "a.test")["serial"], tu.cert_serial(new[0]))
        self.assertEqual(self.get_on(port, "/pub/x").status, 200)

        # Turning TLS off on a listener needs a restart: the reload is refused.
        shutil.copy(new[1], key)
        conf["listen"][0] = "127.0.0.1:%d" % port
        self.env.write_config(conf, "reload.json")
        g.reload()
        self.wait_reloads(g, 1, 2)
        self.assertIn("turns TLS on or off", g.proc.output())
        self.assertEqual(self.get_on(port, "/pub/x").status, 200)

    def get_on(self, port, path):
        return tu.https("https://127.0.0.1:%d%s" % (port, path), self.pki.crt)

    def wait_reloads(self, g, done, refused, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if tu.reloads(g) == (done, refused):
                return
            time.sleep(0.05)
        self.fail("reloads %r, want %r:\n%s" % (tu.reloads(g), (done, refused), g.proc.output()[-3000:]))

    # -- fngate check

    def check(self, conf, name, as_user=None):
        path = self.env.write_config(conf, name)
        argv = [it.FNGATE_BIN, "check", "-c", path]
        if as_user:
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + argv
        p = it.run(argv, check=False)
        return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace"), path

    def assert_check_refuses(self, conf, name, key_path, message, as_user=None):
        """`fngate check` exits 1 with path:line:column: ...key_path: ...message, the line being
        the one of the key at fault."""
        rc, out, path = self.check(conf, name, as_user)
        self.assertEqual(rc, 1, out)
        m = re.search(r"(?m)^%s:(\d+):(\d+): (listen\[0\]\.tls\S*|namespaces\S*): (.*)$"
                      % re.escape(path), out)
        self.assertIsNotNone(m, out)
        self.assertTrue(m.group(3).endswith(key_path), out)
        self.assertIn(message, m.group(4))
        with open(path) as f:
            line = f.read().split("\n")[int(m.group(1)) - 1]
        self.assertIn('"%s"' % key_path.split(".")[-1].split("[")[0], line, out)

    def test_check(self):
        port = it.free_port()
        good = self.make_conf(port, it.free_port())
        rc, out, _ = self.check(good, "check-good.json")
        self.assertEqual(rc, 0, out)

        conf = json.loads(json.dumps(good))
        conf["listen"][0]["tls"]["cert"] = os.path.join(self.env.dir, "missing.crt")
        self.assert_check_refuses(conf, "check-missing.json", "tls.cert", "No such file or directory")

        conf = json.loads(json.dumps(good))
        conf["listen"][0]["tls"]["key"] = self.b[1]
        self.assert_check_refuses(conf, "check-mismatch.json", "tls.key",
                                  "does not match the certificate")

        expired = self.pki.issue_dated("expired", "a.test", ["DNS:a.test"], "20200101000000Z",
                                       "20200201000000Z")
        conf = json.loads(json.dumps(good))
        conf["listen"][0]["tls"].update(cert=expired[0], key=expired[1])
        self.assert_check_refuses(conf, "check-expired.json", "tls.cert",
                                  "expired on 2020-02-01T00:00:00Z")

        future = self.pki.issue_dated("future", "a.test", ["DNS:a.test"], "20990101000000Z",
                                      "20990201000000Z")
        conf = json.loads(json.dumps(good))
        conf["listen"][0]["tls"]["certificates"][0].update(cert=future[0], key=future[1])
        self.assert_check_refuses(conf, "check-future.json", "tls.certificates[0].cert",
                                  "not valid before 2099-01-01T00:00:00Z")

        garbage = self.env.write("garbage.crt", "not a certificate\n")
        conf = json.loads(json.dumps(good))
        conf["listen"][0]["tls"]["cert"] = garbage
        self.assert_check_refuses(conf, "check-garbage.json", "tls.cert", "not a PEM certificate")

        conf = json.loads(json.dumps(good))
        conf["listen"][0]["tls"]["min_version"] = "TLS1.1"
        self.assert_check_refuses(conf, "check-version.json", "tls.min_version",
                                  "TLS 1.0 and 1.1 are refused")

        conf = json.loads(json.dumps(good))
        conf["namespaces"][0]["functions"][1]["upstream_tls"]["ca"] = "/nonexistent/ca.pem"
        self.assert_check_refuses(conf, "check-ca.json", "upstream_tls.ca",
                                  "No such file or directory")

    def test_check_unreadable(self):
        # A key fngate may not read. As root, the check runs as nobody (root reads anything).
        d = tempfile.mkdtemp(prefix="fngate-it-tls-perm-")
        try:
            os.chmod(d, 0o755)
            files = {}
            for name, src in (("a.crt", self.a[0]), ("a.key", self.a[1]), ("b.crt", self.b[0]),
                              ("b.key", self.b[1]), ("ns.pub", self.key.pub),
                              ("ca.crt", self.pki.crt)):
                files[name] = os.path.join(d, name)
                shutil.copy(src, files[name])
                os.chmod(files[name], 0o644)
            conf = self.make_conf(it.free_port(), it.free_port())
            conf["listen"][0]["tls"].update(cert=files["a.crt"], key=files["a.key"])
            conf["listen"][0]["tls"]["certificates"] = [{"cert": files["b.crt"], "key": files["b.key"]}]
            conf["namespaces"][0]["keys"][0]["public_key"] = files["ns.pub"]
            conf["state_dir"] = d
            for f in conf["namespaces"][0]["functions"]:
                if "upstream_tls" in f:
                    f["upstream_tls"] = {"ca": files["ca.crt"]}
            as_user = os.geteuid() == 0
            path = os.path.join(d, "conf.json")
            with open(path, "w") as f:
                f.write(json.dumps(conf, indent=2) + "\n")
            os.chmod(path, 0o644)
            argv = [it.FNGATE_BIN, "check", "-c", path]
            if as_user:
                argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + argv
            p = it.run(argv, check=False)
            self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode())
            os.chmod(files["a.key"], 0o000)
            p = it.run(argv, check=False)
            out = (p.stdout + p.stderr).decode()
            self.assertEqual(p.returncode, 1, out)
            self.assertRegex(out, r"(?m)^%s:\d+:\d+: listen\[0\]\.tls\.key: cannot read the private "
                                  r"key %s: Permission denied$" % (re.escape(path),
                                                                   re.escape(files["a.key"])))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    # -- upstream TLS

    def test_upstream_tls_good(self):
        r = self.get("/up/x?q=1")
        self.assertEqual(r.status, 200, r.body)
        seen = r.json()
        self.assertEqual(seen["path"], "/base/x?q=1")
        self.assertEqual(seen["headers"].get("x-forwarded-proto"), "https")
        self.assertEqual(seen["headers"].get("host"), "127.0.0.1:%d" % self.up.port)
        self.assertIsNone(seen["client_cn"])
        # Pooled keep-alive works the same over TLS: one worker, sequential requests, one
        # upstream connection.
        before = self.up.connections()
        conns = {self.get("/up/k%d" % i).json()["conn"] for i in range(4)}
        self.assertEqual(len(conns), 1, conns)
        self.assertLessEqual(self.up.connections() - before, 1)

    def test_upstream_tls_bad_certificate(self):
        for path, reason in (("/rogue/x", "self-signed certificate"),
                             ("/sys/x", "unable to get local issuer certificate"),
                             ("/name/x", "hostname mismatch")):
            r = self.get(path)
            self.assertEqual(r.status, 502, (path, r.body))
            self.assertEqual(r.json().get("error"), "upstream_tls_failed", r.body)
            log = self.gw.proc.output()
            self.assertRegex(log, r"TLS handshake failed: certificate verification failed: %s"
                             % re.escape(reason), path)
        self.assertEqual(self.rogue_up.connections(), 0)   # nothing was ever sent to it
        self.assertEqual(self.get("/up/x").status, 200)

    def test_upstream_client_certificate(self):
        r = self.get("/mtls/x")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["client_cn"], "fngate-client")
        # localhost's ::1, where nothing listens, was refused: a connect failure, never
        # reported as a TLS one (it read "TLS handshake failed: error:00000005")
        log = self.gw.proc.output()
        self.assertNotIn("error:00000005", log)
        self.assertRegex(log, r"localhost:%d@\[::1\]:%d[^\"]*: Connection refused: marked down"
                         % (self.mtls_up.port, self.mtls_up.port))
        r = self.get("/mtls-none/x")
        self.assertEqual(r.status, 502, r.body)
        self.assertEqual(r.json().get("error"), "upstream_tls_failed", r.body)


if __name__ == "__main__":
    it.main()
