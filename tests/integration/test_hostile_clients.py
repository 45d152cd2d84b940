#!/usr/bin/env python3
"""test_hostile_clients.py - clients that attack with time and memory (issue 6, "Hostile and
broken peers"): a head sent a byte a second is cut at client_header_ms (408, close); a thousand
such connections do not delay a normal client; a client that never reads a 1 GiB response does
not make fngate buffer it (RSS bounded, then the write stall timeout closes it); a refused
request (403, 404) that carries a body holding a complete second request never has that body
read as a next request."""

import json
import os
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402

SMUGGLED = b"GET /pub/smuggled HTTP/1.1\r\nHost: gw\r\n\r\n"


def latencies(port, n, path="/pub/x"):
    """n sequential requests on fresh connections: their latencies in seconds (all must be 200)."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        st, _ = hu.get(port, path)
        out.append(time.perf_counter() - t0)
        if st != 200:
            raise AssertionError("status %d during the latency measurement" % st)
    return out


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


class HostileClients(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        hu.raise_nofile(8192)   # inherited by fngate: the thousand connections below
        cls.env = it.Env("hostile-clients")
        cls.backend = cls.env.backend("b")
        cls.key = cls.env.key("k")
        cls.fake = hu.FakeUpstream(lambda s, path, head, body: (
            s.sendall(hu.response(body=b"upstream saw " + path.encode())) or True))
        conf = hu.basic_conf(cls.env, cls.backend.url, key=cls.key,
                             limits={"max_connections": 5000},
                             timeouts={"client_header_ms": 1500, "client_idle_ms": 3000})
        # The refused-body cases use the recording fake upstream for both functions.
        conf["namespaces"][0]["functions"].append(
            it.function("rec", "rec", cls.fake.url, privacy="public", prefix="/rec"))
        conf["namespaces"][0]["functions"].append(
            it.function("recpriv", "recpriv", cls.fake.url, prefix="/recpriv"))
        conf["namespaces"][0]["functions"].append(
            it.function("small", "small", cls.fake.url, privacy="public", prefix="/small",
                        limits={"max_body_bytes": 1024}))
        cls.gw = cls.env.fngate(conf)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        cls.env.close()

    # -- slow heads

    def test_01_byte_a_second_head_cut(self):
        """A head trickled a byte a second gets 408 at client_header_ms (1.5 s), then a close."""
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        head = b"GET /pub/x HTTP/1.1\r\nHost: gw\r\nX-Slow: " + b"a" * 100
        t0 = time.time()
        got = b""
        closed = False
        s.settimeout(1.0)
        for i in range(len(head)):
            try:
                s.send(head[i:i + 1])
            except OSError:
                closed = True
                break
            try:
                d = s.recv(65536)
                if not d:
                    closed = True
                    break
                got += d
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed = True
                break
            if time.time() - t0 > 8:
                break
        if not closed:
            closed = hu.peer_closed(s, 2)
        elapsed = time.time() - t0
        s.close()
        self.assertTrue(got.startswith(b"HTTP/1.1 408 "), "expected 408, got %r" % got[:200])
        self.assertTrue(closed, "the connection stayed open after the 408")
        self.assertLess(elapsed, 4.0, "the trickled head was cut after %.1f s" % elapsed)
        self.assertGreater(elapsed, 1.3, "cut before client_header_ms: %.1f s" % elapsed)
        print("byte-a-second head cut after %.2f s (client_header_ms 1500)" % elapsed,
              file=sys.stderr)

    def test_02_thousand_slow_heads_do_not_delay(self):
        """A thousand connections trickling their heads: a normal client's latency is unchanged
        (median within +20 ms, p90 within +50 ms), and the slow ones are cut at the deadline."""
        env = self.env
        self.assertGreaterEqual(hu.raise_nofile(8192), 2200,
                                "the descriptor limit is too low for 1000 connections (ulimit -Hn)")
        conf = hu.basic_conf(env, self.backend.url, limits={"max_connections": 5000},
                             timeouts={"client_header_ms": 60000})
        gw = env.fngate(conf, "thousand.json")
        latencies(gw.port, 20)      # warm up (upstream pool)
        base = latencies(gw.port, 60)
        tr = hu.Trickler(gw.port, 1000, period=1.0)
        try:
            time.sleep(2.0)
            self.assertEqual(tr.alive(), 1000, "slow connections were closed early")
            loaded = latencies(gw.port, 60)
            still = tr.alive()
        finally:
            tr.close()
        b50, l50 = statistics.median(base), statistics.median(loaded)
        b90, l90 = pct(base, 0.9), pct(loaded, 0.9)
        print("latency without / with 1000 slow heads: median %.2f / %.2f ms, p90 %.2f / %.2f ms"
              % (b50 * 1e3, l50 * 1e3, b90 * 1e3, l90 * 1e3), file=sys.stderr)
        self.assertEqual(still, 1000, "slow connections were dropped while within their deadline")
        self.assertLess(l50, b50 + 0.020, "median latency with 1000 slow heads")
        self.assertLess(l90, b90 + 0.050, "p90 latency with 1000 slow heads")
        gw.stop()

    # -- a client that does not read

    def test_03_non_reading_client_bounded(self):
        """GET of a 1 GiB body by a client that reads nothing: fngate's RSS grows < 50 MB
        (backpressure), and the write stall timeout (client_idle_ms 3 s) closes the client."""
        pid = self.gw.proc.pid
        rss0 = hu.rss_kb(pid)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", self.gw.port))
        s.sendall(hu.request_bytes("/pub/_big?bytes=%d" % (1 << 30)))
        t0 = time.time()
        peak = rss0
        closed_at = None
        while time.time() - t0 < 12:
            peak = max(peak, hu.rss_kb(pid))
            # fngate closed its side: its end of the connection leaves ESTABLISHED (FIN-WAIT-1:
            # the FIN waits behind the data our full receive window refuses).
            if closed_at is None and self._server_side_closed(s.getsockname()[1]):
                closed_at = time.time() - t0
                break
            time.sleep(0.2)
        total = 0
        s.settimeout(3)
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break
                total += len(d)
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
        growth_mb = (peak - rss0) / 1024.0
        print("non-reading client: RSS %d -> peak %d KiB (+%.1f MB); closed after %s s; %d bytes "
              "were in flight" % (rss0, peak, growth_mb, closed_at, total), file=sys.stderr)
        bound = hu.memory_bound(50.0)
        if bound is not None:
            self.assertLess(growth_mb, bound, "fngate buffered the response")
        self.assertIsNotNone(closed_at, "the stalled client was not closed")
        self.assertLess(closed_at, 9.0)
        self.assertLess(total, 64 << 20)
        # Still serving.
        self.assertEqual(hu.get(self.gw.port, "/pub/x")[0], 200)

    def _server_side_closed(self, client_port):
        """Has fngate's end of the connection from client_port left ESTABLISHED?"""
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                lport = int(parts[1].split(":")[1], 16)
                rport = int(parts[2].split(":")[1], 16)
                if lport == self.gw.port and rport == client_port:
                    return parts[3] != "01"
        return True

    # -- refused requests that carry a body

    def refused_case(self, first, later=b""):
        """Send `first` (then `later` after the answer); expect one refusal and a close, and
        nothing of the body reaching the upstream."""
        before = len(self.fake.heads)
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
        s.sendall(first)
        st, _, body, complete = hu.read_response(s, 3)
        if later:
            try:
                s.sendall(later)
            except OSError:
                pass
        s.settimeout(2)
        rest = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                rest += d
        except socket.timeout:
            self.fail("the connection stayed open after a refused request with a body")
        except ConnectionResetError:
            pass
        s.close()
        time.sleep(0.3)
        self.assertTrue(complete, "refusal incomplete: %r" % body)
        self.assertEqual(rest, b"", "more than one response: %r" % rest[:300])
        seen = self.fake.paths()[before:]
        self.assertNotIn("/smuggled", seen, "the refused request's body was read as a request")
        self.assertEqual(seen, [], "something reached the upstream: %r" % seen)
        return st

    def test_04_refused_with_content_length_body(self):
        req = (b"POST /recpriv/x HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n"
               % len(SMUGGLED)) + SMUGGLED
        self.assertEqual(self.refused_case(req), 403)
        # With an invalid token too.
        req = (b"POST /recpriv/x HTTP/1.1\r\nHost: gw\r\nX-Auth-Token: a.b.c\r\n"
               b"Content-Length: %d\r\n\r\n" % len(SMUGGLED)) + SMUGGLED
        self.assertEqual(self.refused_case(req), 403)

    def test_05_refused_with_chunked_body(self):
        req = (b"POST /recpriv/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"%x\r\n" % len(SMUGGLED)) + SMUGGLED + b"\r\n0\r\n\r\n"
        self.assertEqual(self.refused_case(req), 403)

    def test_06_refused_body_sent_after_the_answer(self):
        """The head alone first; the body (a complete request) only after the 403 arrived."""
        head = (b"POST /recpriv/x HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n"
                % len(SMUGGLED))
        self.assertEqual(self.refused_case(head, SMUGGLED), 403)
        head = b"POST /recpriv/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
        self.assertEqual(self.refused_case(head, b"%x\r\n" % len(SMUGGLED) + SMUGGLED +
                                           b"\r\n0\r\n\r\n"), 403)
        head = (b"POST /recpriv/x HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\n"
                b"Content-Length: %d\r\n\r\n" % len(SMUGGLED))
        self.assertEqual(self.refused_case(head, SMUGGLED), 403)

    def test_07_no_route_with_body(self):
        req = (b"POST /nowhere HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n"
               % len(SMUGGLED)) + SMUGGLED
        self.assertEqual(self.refused_case(req), 404)

    def test_08_allowed_body_is_not_a_request_either(self):
        """Control: the same body on an allowed request is relayed as a body, once."""
        before = len(self.fake.heads)
        req = (b"POST /rec/x HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n"
               % len(SMUGGLED)) + SMUGGLED
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
        s.sendall(req)
        st, _, body, complete = hu.read_response(s, 3)
        s.close()
        time.sleep(0.2)
        self.assertEqual((st, complete), (200, True))
        self.assertEqual(self.fake.paths()[before:], ["/x"])

    def test_12_refused_upload_reaches_real_clients(self):
        """An HTTP client that sends its whole body before reading (Python's http.client, as
        requests does) gets the refusal, not a connection reset, however big the body: fngate
        half-closes and discards the rest of the upload before closing (a close with unread
        input would make the kernel reset the connection and destroy the response at the
        client)."""
        import http.client
        before = len(self.fake.heads)
        cases = [("/recpriv/x", 403), ("/nowhere", 404), ("/small/x", 413)]
        for size in (1 << 20, 16 << 20):
            body = b"\0" * size
            for path, want in cases:
                for _ in range(3):
                    c = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=10)
                    try:
                        c.request("POST", path, body=body)
                        r = c.getresponse()
                        got = (r.status, json.loads(r.read())["error"] != "")
                    except OSError as e:
                        got = (type(e).__name__, False)
                    finally:
                        c.close()
                    self.assertEqual(got, (want, True), "%s with a %d-byte body" % (path, size))
        self.assertEqual(self.fake.paths()[before:], [], "a refused request reached the upstream")

    def test_13_linger_is_bounded(self):
        """A client that keeps sending after its refusal is cut after the linger limits: it
        does not hold the connection (silence ends it at once)."""
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
        s.sendall(b"POST /recpriv/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 60000000\r\n\r\n")
        st, _, _, complete = hu.read_response(s, 3)
        self.assertEqual((st, complete), (403, True))
        t0 = time.time()
        ended = None
        try:
            while time.time() - t0 < 15:
                s.sendall(b"x" * 65536)
                time.sleep(0.01)
        except OSError as e:
            ended = time.time() - t0
            print("linger ended the upload after %.1f s (%s)" % (ended, type(e).__name__),
                  file=sys.stderr)
        s.close()
        self.assertIsNotNone(ended, "the connection stayed open for 15 s of upload")
        self.assertLess(ended, 8.0)

    # -- a client that waits or downloads longer than client_idle_ms is not idle

    def test_10_slow_upstream_beyond_client_idle(self):
        """client_idle_ms (3 s) bounds client stalls; waiting 4.5 s for the upstream with the
        whole request sent is not one (upstream_response_ms bounds it)."""
        t0 = time.time()
        st, body = hu.get(self.gw.port, "/pub/_slow?ms=4500", timeout=15)
        self.assertEqual(st, 200, "a slow upstream was cut at client_idle_ms after %.1f s"
                         % (time.time() - t0))

    def test_11_long_download_beyond_client_idle(self):
        """A client reading a 24 MiB body at 4 MB/s (6 s, longer than client_idle_ms) gets it
        whole."""
        n = 24 << 20
        r = it.run(["curl", "-s", "-o", os.devnull, "-w", "%{http_code} %{size_download}",
                    "--limit-rate", "4M", "--max-time", "30",
                    self.gw.url("/pub/_big?bytes=%d" % n)], check=False)
        self.assertEqual(r.stdout.decode(), "200 %d" % n,
                         "download cut (curl exit %d)" % r.returncode)

    def test_11b_slow_reader_after_the_response_completed(self):
        """A client reading slowly through a small receive window, longer than client_idle_ms
        (1 s here) in all: it gets the whole body. (The keep-alive idle timer, armed when the
        upstream's response completed, must not cut a connection whose output is pending.)"""
        conf = hu.basic_conf(self.env, self.backend.url,
                             timeouts={"client_header_ms": 1000, "client_idle_ms": 1000})
        gw = self.env.fngate(conf, "slowreader.json")
        n = 512 * 1024
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5)
        s.connect(("127.0.0.1", gw.port))
        s.sendall(hu.request_bytes("/pub/_big?bytes=%d" % n))
        got = b""
        t0 = time.time()
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
                if b"\r\n\r\n" in got and len(got.split(b"\r\n\r\n", 1)[1]) >= n:
                    break
                time.sleep(4096 / 150000.0)     # ~150 KB/s
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
        body = got.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in got else b""
        print("slow reader: %d of %d bytes in %.1f s" % (len(body), n, time.time() - t0),
              file=sys.stderr)
        self.assertEqual(len(body), n, "the body was cut")
        self.assertEqual(body, it.pattern(n))
        gw.stop()

    def test_09_still_serving(self):
        self.assertEqual(hu.get(self.gw.port, "/pub/x")[0], 200)
        self.assertTrue(self.gw.proc.alive())


if __name__ == "__main__":
    it.main()
