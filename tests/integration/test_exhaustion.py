#!/usr/bin/env python3
"""test_exhaustion.py - running out (issue 6, "Exhaustion"): max_connections reached (new
connections are closed or wait, existing keep-alive connections keep working, at most
max_connections are served at once); out of file descriptors (accept pauses instead of spinning:
fngate's CPU stays low at the limit, and connections are served again once others close); memory
per idle keep-alive connection (RSS growth with 5000 of them / 5000 < 4 KiB); no descriptor left
for an upstream connection (503 out_of_descriptors with Retry-After, the endpoint not marked
down: the next request is served at once)."""

import json
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402


def keepalive_request(s, path="/pub/x", timeout=3.0):
    """One request on an open connection: its status, or 0 when none came back."""
    try:
        s.sendall(hu.request_bytes(path))
        st, _, _, complete = hu.read_response(s, timeout)
        return st if complete and st else 0
    except OSError:
        return 0


class Exhaustion(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        hu.raise_nofile(16384)
        cls.env = it.Env("exhaustion")
        cls.backend = cls.env.backend("b")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_01_max_connections(self):
        """max_connections 20: ten keep-alive clients in use, thirty more arrive. The ten keep
        working; at most ten of the thirty are served while the ten stay; once connections
        close, new ones are served again."""
        conf = hu.basic_conf(self.env, self.backend.url, limits={"max_connections": 20})
        gw = self.env.fngate(conf, "maxconn.json")
        old = [socket.create_connection(("127.0.0.1", gw.port), timeout=5) for _ in range(10)]
        self.assertEqual([keepalive_request(s) for s in old], [200] * 10)
        extra = [socket.create_connection(("127.0.0.1", gw.port), timeout=5) for _ in range(30)]
        time.sleep(1.0)
        # The existing connections are untouched.
        self.assertEqual([keepalive_request(s) for s in old], [200] * 10,
                         "existing connections were disturbed at max_connections")
        served = sum(1 for s in extra if keepalive_request(s, timeout=1.0) == 200)
        print("max_connections 20: 10 in use, %d of 30 newcomers served" % served,
              file=sys.stderr)
        self.assertLessEqual(served, 10, "more than max_connections served at once")
        self.assertGreater(served, 0, "no newcomer served below the cap")
        for s in old + extra:
            s.close()
        deadline = time.time() + 3
        st = 0
        while time.time() < deadline and st != 200:
            st = hu.get(gw.port, "/pub/x", timeout=1)[0]
            time.sleep(0.1)
        self.assertEqual(st, 200, "not serving again after connections closed")
        gw.stop()

    def test_02_out_of_descriptors(self):
        """fngate at RLIMIT_NOFILE: accept pauses (logged), CPU stays low while clients keep
        knocking, and connections waiting in the backlog are served once others close."""
        conf = hu.basic_conf(self.env, self.backend.url, limits={"max_connections": 10000})
        gw = self.env.fngate(conf, "nofile.json")
        pid = gw.proc.pid
        self.assertEqual(hu.get(gw.port, "/pub/warm")[0], 200)
        base = hu.nfds(pid)
        limit = base + 12
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
        socks = [socket.create_connection(("127.0.0.1", gw.port), timeout=5) for _ in range(40)]
        time.sleep(0.5)
        at_limit = hu.nfds(pid)
        cpu0 = hu.cpu_s(pid)
        time.sleep(3.0)
        cpu = hu.cpu_s(pid) - cpu0
        print("out of descriptors: limit %d, fngate holds %d; CPU %.3f s over 3 s at the limit"
              % (limit, at_limit, cpu), file=sys.stderr)
        self.assertGreaterEqual(at_limit, limit - 2, "the limit was not reached")
        self.assertLess(cpu, 0.3, "accept spins at the descriptor limit")
        self.assertIn("pausing accept", gw.proc.output())
        # Free descriptors: close the first 35 (every accepted one among them); the last 5
        # waited in the backlog and are served now (a client and an upstream descriptor each
        # fit in the room left: 12 above what fngate held before).
        for s in socks[:35]:
            s.close()
        time.sleep(0.5)
        statuses = [keepalive_request(s, timeout=5) for s in socks[35:]]
        self.assertEqual(statuses, [200] * 5, "connections not served after others closed")
        for s in socks[35:]:
            s.close()
        self.assertEqual(hu.get(gw.port, "/pub/after")[0], 200)
        gw.stop()

    def test_03_memory_per_idle_connection(self):
        """5000 idle keep-alive connections (each after one request) cost < 4 KiB of RSS each."""
        # 5000 when the hard descriptor limit allows (we and fngate each hold one per
        # connection); never fewer than 1000.
        n = min(5000, (hu.raise_nofile(2 * 5000 + 400) - 300))
        self.assertGreaterEqual(n, 1000, "the descriptor limit is too low (ulimit -Hn)")
        conf = hu.basic_conf(self.env, self.backend.url, limits={"max_connections": 20000})
        gw = self.env.fngate(conf, "mem.json")
        pid = gw.proc.pid
        warm = [socket.create_connection(("127.0.0.1", gw.port), timeout=5) for _ in range(200)]
        for s in warm:
            self.assertEqual(keepalive_request(s), 200)
        for s in warm:
            s.close()
        time.sleep(0.5)
        rss0 = hu.rss_kb(pid)
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
            s.sendall(hu.request_bytes("/pub/x"))
            socks.append(s)
        ok = 0
        for s in socks:
            st, _, _, complete = hu.read_response(s, 10)
            ok += st == 200 and complete
        time.sleep(0.5)
        rss1 = hu.rss_kb(pid)
        fds = hu.nfds(pid)
        for s in socks:
            s.close()
        per = (rss1 - rss0) * 1024.0 / n
        print("%d idle keep-alive connections: RSS %d -> %d KiB, %.0f bytes per connection "
              "(%d descriptors)" % (n, rss0, rss1, per, fds), file=sys.stderr)
        self.assertEqual(ok, n, "not every request was answered")
        self.assertGreaterEqual(fds, n, "the connections are not all held by fngate")
        bound = hu.memory_bound(4096)
        if bound is not None:
            self.assertLess(per, bound, "memory per idle connection")
        gw.stop()

    def test_04_no_descriptor_for_the_upstream(self):
        """A client connection was accepted but no descriptor is left for its upstream
        connection: 503 out_of_descriptors with Retry-After (fngate's shortage, not the
        upstream's: never 502), and once descriptors are back the same function is served
        at once (its endpoint was not marked down)."""
        conf = hu.basic_conf(self.env, self.backend.url, limits={"max_connections": 10000},
                             workers=1)
        gw = self.env.fngate(conf, "noupfd.json")
        pid = gw.proc.pid
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        # Fill every hole in fngate's descriptor table with accepted client connections, so
        # that the lowest free descriptor is the one above the highest in use. No request was
        # made yet: the upstream pool is empty, so a request needs a new upstream socket.
        socks = []
        for _ in range(64):
            socks.append(socket.create_connection(("127.0.0.1", gw.port), timeout=5))
            time.sleep(0.05)
            fds = [int(f) for f in os.listdir("/proc/%d/fd" % pid)]
            if len(socks) >= 2 and len(fds) == max(fds) + 1:
                break
        fds = [int(f) for f in os.listdir("/proc/%d/fd" % pid)]
        self.assertEqual(len(fds), max(fds) + 1, "descriptor table still has holes")
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (max(fds) + 1, hard))
        try:
            socks[0].sendall(hu.request_bytes("/pub/short"))
            st, headers, body, complete = hu.read_response(socks[0], 5)
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        print("no descriptor for the upstream: %r %r %r" % (st, headers.get("retry-after"), body),
              file=sys.stderr)
        self.assertEqual(st, 503)
        self.assertTrue(complete)
        self.assertEqual(json.loads(body)["error"], "out_of_descriptors")
        self.assertEqual(headers.get("retry-after"), ["1"])
        # Descriptors are back: served at once on a connection accepted before, and on a new one.
        t0 = time.time()
        self.assertEqual(keepalive_request(socks[1], "/pub/again"), 200)
        for s in socks:
            s.close()
        self.assertEqual(hu.get(gw.port, "/pub/after")[0], 200)
        self.assertLess(time.time() - t0, 1.5)
        self.assertNotIn("upstream_unavailable", gw.proc.output())
        gw.stop()


if __name__ == "__main__":
    it.main()
