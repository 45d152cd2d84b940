#!/usr/bin/env python3
"""test_port_drain.py - issue 16 items 1 and 5 with real processes: a second fngate on an
address a running fngate listens on (data listener, IPv4 and [::1]; admin listener) refuses to
start with a clear message and a non-zero exit, while the first keeps answering every request;
a restart right after a stop binds the same ports again. Drain: with a slow request in flight,
SIGTERM closes the listeners at once (a new connection is refused, ECONNREFUSED), the admin
health check says 503 "draining", and the request in flight completes with 200."""

import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402


def get(host, port, path, timeout=5):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class PortDrain(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("portdrain")
        cls.backend = cls.env.backend("b")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def conf(self, listen, admin):
        c = hu.basic_conf(self.env, self.backend.url, shutdown_timeout_ms=10000)
        c["listen"] = listen
        c["admin"] = {"listen": admin}
        return c

    def start_refused(self, conf, name, what):
        """Start a second fngate on conf: it must exit non-zero at once, naming the address."""
        path = self.env.write_config(conf, name)
        p = it.Proc([it.FNGATE_BIN, "serve", "-c", path],
                    os.path.join(self.env.dir, name + ".log"), name)
        rc = p.wait(15)
        out = p.output()
        self.assertNotEqual(rc, 0, "a second fngate on %s started: %s" % (what, out))
        self.assertIn("already in use by another process", out)
        self.assertIn(what, out)
        self.assertNotIn("listening on", out)

    def assert_all_served_by(self, host, port, n=40):
        """Fresh connections, all answered by the first fngate's configuration."""
        for i in range(n):
            st, body = get(host, port, "/pub/who%d" % i)
            self.assertEqual(st, 200, body[:200])

    def test_01_second_instance_refused(self):
        p4, p6, pa = it.free_port(), it.free_port(), it.free_port()
        first = self.env.fngate(self.conf(["127.0.0.1:%d" % p4, "[::1]:%d" % p6],
                                          "127.0.0.1:%d" % pa), "first.json")
        it.wait_port(pa, first.proc)
        # Each address alone, another admin port / another data port, another state_dir.
        self.start_refused(self.conf(["127.0.0.1:%d" % p4], "127.0.0.1:%d" % it.free_port()),
                           "second-v4.json", "127.0.0.1:%d" % p4)
        self.start_refused(self.conf(["[::1]:%d" % p6], "127.0.0.1:%d" % it.free_port()),
                           "second-v6.json", "[::1]:%d" % p6)
        self.start_refused(self.conf(["127.0.0.1:%d" % it.free_port()], "127.0.0.1:%d" % pa),
                           "second-admin.json", "127.0.0.1:%d" % pa)
        # The first one still has both listeners to itself and all its workers answer.
        self.assertTrue(first.proc.alive())
        self.assert_all_served_by("127.0.0.1", p4)
        self.assert_all_served_by("::1", p6)
        self.assertEqual(get("127.0.0.1", pa, "/healthz")[0], 200)
        # A reload keeps the listeners (the workers' own SO_REUSEPORT sockets).
        first.reload()
        time.sleep(0.5)
        self.assert_all_served_by("127.0.0.1", p4, 10)
        # A restart right after the stop (as systemd does): the same ports bind again.
        self.assertEqual(first.stop(), 0)
        again = self.env.fngate(self.conf(["127.0.0.1:%d" % p4, "[::1]:%d" % p6],
                                          "127.0.0.1:%d" % pa), "again.json")
        it.wait_port(pa, again.proc)
        self.assert_all_served_by("127.0.0.1", p4, 10)
        self.assert_all_served_by("::1", p6, 10)
        self.assertEqual(get("127.0.0.1", pa, "/healthz")[0], 200)
        self.assertEqual(again.stop(), 0)

    def test_02_drain_refuses_new_connections(self):
        port, pa = it.free_port(), it.free_port()
        gw = self.env.fngate(self.conf(["127.0.0.1:%d" % port], "127.0.0.1:%d" % pa),
                             "drain.json")
        it.wait_port(pa, gw.proc)
        self.assertEqual(get("127.0.0.1", pa, "/healthz")[0], 200)
        result = {}

        def slow():
            s = socket.create_connection(("127.0.0.1", port), timeout=15)
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
        t0 = time.monotonic()
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=3).close()
        self.assertLess(time.monotonic() - t0, 0.5, "the refusal was not immediate")
        st, body = get("127.0.0.1", pa, "/healthz")
        self.assertEqual(st, 503, body)
        self.assertEqual(json.loads(body)["status"], "draining")
        t.join(20)
        st, _, body, complete = result["r"]
        self.assertEqual((st, complete), (200, True))
        self.assertTrue(json.loads(body)["uri"].startswith("/_slow?ms=2500"), body[:200])
        self.assertEqual(gw.proc.wait(15), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
