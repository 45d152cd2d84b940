#!/usr/bin/env python3
"""test_health.py - issue 16 item 6: the health listener ("health": {"listen": ...}) with the
admin API disabled: /livez, /readyz, /healthz in JSON, HEAD too, other paths 404, other methods
405, an oversized request refused; during a drain /readyz says 503 "draining" while /livez stays
200; a second fngate on the health address refuses to start; `fngate check` refuses a health
address that is also a listen address."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402


def req(port, method, path, headers=None, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        c.close()


class Health(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("health")
        cls.backend = cls.env.backend("b")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def conf(self, hp):
        c = hu.basic_conf(self.env, self.backend.url, shutdown_timeout_ms=10000,
                          admin={"listen": None}, health={"listen": "127.0.0.1:%d" % hp})
        return c

    def test_01_endpoints_without_admin(self):
        hp = it.free_port()
        gw = self.env.fngate(self.conf(hp), "h1.json")
        it.wait_port(hp, gw.proc)
        for path, status in (("/livez", "alive"), ("/readyz", "ready"), ("/healthz", "ready")):
            st, ctype, body = req(hp, "GET", path)
            self.assertEqual((st, ctype), (200, "application/json"), body)
            self.assertEqual(json.loads(body)["status"], status)
            st, _, body = req(hp, "HEAD", path)
            self.assertEqual((st, body), (200, b""))
        for path in ("/", "/livez/x", "/v1/namespaces", "/metrics", "/readyz.json"):
            st, _, body = req(hp, "GET", path)
            self.assertEqual(st, 404, path)
            self.assertEqual(json.loads(body)["error"], "not_found")
        for method in ("POST", "PUT", "DELETE", "OPTIONS"):
            self.assertEqual(req(hp, method, "/readyz")[0], 405, method)
        st, _, _ = req(hp, "GET", "/readyz", headers={"X-Big": "a" * 8000})
        self.assertGreaterEqual(st, 400)
        # A silent client does not hold the responder: the next probe is answered.
        idle = socket.create_connection(("127.0.0.1", hp), timeout=5)
        self.assertEqual(req(hp, "GET", "/livez")[0], 200)
        idle.close()
        # A second fngate on the health address refuses to start.
        second = self.env.write_config(self.conf(hp), "h1-second.json")
        p = subprocess.run([it.FNGATE_BIN, "serve", "-c", second], capture_output=True,
                           text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("127.0.0.1:%d" % hp, p.stdout + p.stderr)
        self.assertIn("already in use by another process", p.stdout + p.stderr)
        self.assertEqual(req(hp, "GET", "/readyz")[0], 200)
        self.assertEqual(gw.stop(), 0)

    def test_02_readiness_during_drain(self):
        hp = it.free_port()
        gw = self.env.fngate(self.conf(hp), "h2.json")
        it.wait_port(hp, gw.proc)
        result = {}

        def slow():
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=15)
            try:
                s.sendall(hu.request_bytes("/pub/_slow?ms=2500"))
                result["r"] = hu.read_response(s, 15)
            finally:
                s.close()

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.5)
        gw.proc.signal(signal.SIGTERM)
        time.sleep(0.3)
        st, _, body = req(hp, "GET", "/readyz")
        self.assertEqual((st, json.loads(body)["status"]), (503, "draining"))
        self.assertEqual(req(hp, "GET", "/healthz")[0], 503)
        self.assertEqual(req(hp, "GET", "/livez")[0], 200)
        t.join(20)
        self.assertEqual(result["r"][0], 200)
        self.assertEqual(gw.proc.wait(15), 0)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", hp), timeout=3).close()

    def test_03_check_refuses_shared_address(self):
        port = it.free_port()
        c = self.conf(port)
        c["listen"] = ["127.0.0.1:%d" % port]
        path = self.env.write_config(c, "h3.json")
        p = subprocess.run([it.FNGATE_BIN, "check", "-c", path], capture_output=True, text=True,
                           timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("health listener needs its own", p.stdout + p.stderr)
        c = self.conf(port)
        c["health"] = {"listen": "nowhere"}
        path = self.env.write_config(c, "h3b.json")
        p = subprocess.run([it.FNGATE_BIN, "check", "-c", path], capture_output=True, text=True,
                           timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("health.listen", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
