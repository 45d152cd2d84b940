#!/usr/bin/env python3
"""test_upstream_addresses.py - an upstream host name with several addresses (issue 11 item 2).

Each address of an upstream name is a server of the function, as in nginx: a connect that is
refused or times out moves on to the next address within the same request (bounded by the
connect timeout and the retry cap of 3 attempts), and only the failing address is marked down
(logged with its address). IPv4 and IPv6 alike.

fngate runs in a private mount namespace whose /etc/hosts is a file of this test (it.Fngate
hosts=): no system file is touched. The names:
  multi.test   127.0.0.2 (nothing listens there: refused) and 127.0.0.1 (the backend)
  localhost    ::1 (refused: the backend is IPv4 only) and 127.0.0.1, ::1 first as on Debian
  v6only.test  ::1 (an IPv6-only backend)
  mixed.test   127.0.0.1 (refused on that port) and ::1 (the IPv6-only backend)
  slow.test    127.0.0.5 (a listener whose accept queue is full: connect times out), 127.0.0.1
  dead.test    127.0.0.11 .. 127.0.0.15 (all refuse): 502 after 3 attempts, 3 addresses marked
"""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402

NS = "0b5e0000-0000-4000-8000-0000000011a2"


def v6_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class UpstreamAddresses(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        # IPv6 on loopback is part of what is tested: a machine without it fails here, loudly.
        assert v6_available(), "this test needs ::1 on the loopback interface"
        env = cls.env = it.Env("addrs")
        cls.b4 = env.backend("v4")                       # 127.0.0.1 only
        cls.b6 = env.backend("v6", host="::1")           # ::1 only
        # A listener that never accepts, its queue filled: a SYN to it goes unanswered.
        cls.black = socket.socket()
        cls.black.bind(("127.0.0.5", cls.b4.port))
        cls.black.listen(0)
        cls.fillers = []
        for _ in range(2):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.5", cls.b4.port))
            except BlockingIOError:
                pass
            cls.fillers.append(c)
        cls.dead_port = it.free_port()
        hosts = ("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
                 "127.0.0.2\tmulti.test\n127.0.0.1\tmulti.test\n"
                 "::1\t\tv6only.test\n"
                 "127.0.0.1\tmixed.test\n::1\t\tmixed.test\n"
                 "127.0.0.5\tslow.test\n127.0.0.1\tslow.test\n" +
                 "".join("127.0.0.%d\tdead.test\n" % i for i in range(11, 16)))
        p4, p6 = cls.b4.port, cls.b6.port
        fns = [
            it.function("f-multi", "multi", "http://multi.test:%d" % p4, privacy="public",
                        prefix="/multi"),
            it.function("f-lh", "lh", "http://localhost:%d" % p4, privacy="public",
                        prefix="/lh"),
            it.function("f-v6", "v6", "http://v6only.test:%d" % p6, privacy="public",
                        prefix="/v6"),
            it.function("f-v6lit", "v6lit", "http://[::1]:%d" % p6, privacy="public",
                        prefix="/v6lit"),
            it.function("f-mixed", "mixed", "http://mixed.test:%d" % p6, privacy="public",
                        prefix="/mixed"),
            it.function("f-slow", "slow", "http://slow.test:%d" % p4, privacy="public",
                        prefix="/slow", timeouts={"upstream_connect_ms": 300}),
            it.function("f-dead", "dead", "http://dead.test:%d" % cls.dead_port,
                        privacy="public", prefix="/dead"),
        ]
        conf = it.config(env, [it.namespace(NS, "addrs", [], fns)], workers=1)
        cls.gw = env.fngate(conf, hosts=hosts)

    @classmethod
    def tearDownClass(cls):
        for c in cls.fillers:
            c.close()
        cls.black.close()

    def marked_down(self, name_port):
        """The addresses of name_port that fngate logged as marked down."""
        return re.findall(r'upstream %s@([^:\]]+|\[[^\]]+\]):\d+: [^"]*marked down' %
                          re.escape(name_port), self.gw.proc.output())

    def test_first_address_refuses(self):
        """Every request succeeds; the refusing address alone is marked down, and logged."""
        for i in range(12):
            self.assertForwarded(it.curl(self.gw.url("/multi/x%d" % i)), "v4")
        down = self.marked_down("multi.test:%d" % self.b4.port)
        self.assertIn("127.0.0.2", down)
        self.assertNotIn("127.0.0.1", down)

    def test_localhost_ipv6_first_ipv4_backend(self):
        """Debian's /etc/hosts: localhost is ::1 first; an IPv4-only backend still answers."""
        for i in range(8):
            self.assertForwarded(it.curl(self.gw.url("/lh/%d" % i)), "v4")
        down = self.marked_down("localhost:%d" % self.b4.port)
        self.assertEqual(set(down), {"[::1]"})

    def test_ipv6_only_backend(self):
        for path in ("/v6/a", "/v6lit/a"):
            self.assertForwarded(it.curl(self.gw.url(path)), "v6")

    def test_ipv4_refuses_ipv6_answers(self):
        for i in range(8):
            self.assertForwarded(it.curl(self.gw.url("/mixed/%d" % i)), "v6")
        self.assertEqual(set(self.marked_down("mixed.test:%d" % self.b6.port)), {"127.0.0.1"})

    def test_connect_timeout_moves_on(self):
        """An address that never answers the SYN costs one connect timeout (300 ms), then the
        next address answers within the same request."""
        for i in range(4):
            t = time.monotonic()
            r = it.curl(self.gw.url("/slow/%d" % i))
            took = time.monotonic() - t
            self.assertForwarded(r, "v4")
            self.assertLess(took, 2.0, "one connect timeout at most, took %.2fs" % took)
        self.assertEqual(set(self.marked_down("slow.test:%d" % self.b4.port)), {"127.0.0.5"})

    def test_all_addresses_fail_bounded(self):
        """Five refusing addresses: 502 upstream_unavailable after 3 attempts (the retry cap),
        so exactly three addresses were tried and marked down."""
        t = time.monotonic()
        r = it.curl(self.gw.url("/dead/x"))
        self.assertDenied(r, "upstream_unavailable", status=502)
        self.assertLess(time.monotonic() - t, 2.0)
        down = self.marked_down("dead.test:%d" % self.dead_port)
        self.assertEqual(len(down), 3, down)
        self.assertEqual(len(set(down)), 3, down)


if __name__ == "__main__":
    it.main()
