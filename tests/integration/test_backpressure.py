#!/usr/bin/env python3
"""test_backpressure.py - an upload to an upstream that stops reading (conn_backpressure in
conn.c, the one place both directions of a request stop reading the client).

A raw-socket upstream reads the request head, then reads nothing for two seconds while the client
keeps sending a 48 MiB body (Content-Length, then chunked): fngate must stop reading the client
once EXCHANGE_HIGH_WATER (256 KiB) waits towards the upstream, so its memory stays bounded, and it
must resume reading when the upstream drains, so the whole body arrives and the response is
relayed. The other direction (a client that stops reading an endless response) is
test_broken_upstreams' endless body."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402

BODY = 48 << 20         # far more than the loopback socket buffers hold on either side
PAUSE_S = 2.0
PIECE = 1 << 16


class StallingUpstream:
    """One connection at a time: read the head, read nothing for PAUSE_S (while sampling fngate's
    RSS), then read the whole body (Content-Length or chunked, as fngate framed it) and answer
    with the number of body bytes received."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.pid = None
        self.rss = []           # fngate's RSS (KiB) sampled during each pause
        self.received = []      # body bytes received per request
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            try:
                self._serve(s)
            except OSError:
                pass
            finally:
                s.close()

    def _serve(self, s):
        # A small receive buffer: what the kernel holds for us stays small against BODY.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        head, buf = it.recv_head(s)
        if head is None:
            return
        lines = head.lower().split(b"\r\n")
        t_end = time.time() + PAUSE_S
        peak = 0
        while time.time() < t_end:
            peak = max(peak, hu.rss_kb(self.pid))
            time.sleep(0.1)
        self.rss.append(peak)
        if b"transfer-encoding: chunked" in lines:
            n = self._read_chunked(s, buf)
        else:
            want = [int(x.split(b":")[1]) for x in lines if x.startswith(b"content-length:")][0]
            n = len(buf)
            while n < want:
                d = s.recv(1 << 20)
                if not d:
                    break
                n += len(d)
        self.received.append(n)
        body = str(n).encode()
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                  % (len(body), body))

    @staticmethod
    def _read_chunked(s, buf):
        """Decode a chunked body; returns its data length."""
        total = 0

        def need(k):
            nonlocal buf
            while len(buf) < k:
                d = s.recv(1 << 20)
                if not d:
                    raise OSError("closed in a chunked body")
                buf += d

        while True:
            while b"\r\n" not in buf:
                need(len(buf) + 1)
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            need(size + 2)
            if buf[size:size + 2] != b"\r\n":
                raise OSError("bad chunk framing")
            buf = buf[size + 2:]
            total += size
            if size == 0:
                return total

    def stop(self):
        self.sock.close()


class Backpressure(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.env = it.Env("backpressure")
        cls.up = StallingUpstream()
        conf = hu.basic_conf(cls.env, cls.up.url, limits={"max_body_bytes": 1 << 30},
                             timeouts={"upstream_response_ms": 30000, "client_idle_ms": 30000})
        cls.gw = cls.env.fngate(conf)
        cls.up.pid = cls.gw.proc.pid

    @classmethod
    def tearDownClass(cls):
        cls.up.stop()
        cls.env.close()

    def upload(self, chunked):
        rss0 = hu.rss_kb(self.gw.proc.pid)
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        head = "POST /pub/up HTTP/1.1\r\nHost: gw\r\n"
        head += "Transfer-Encoding: chunked\r\n" if chunked else "Content-Length: %d\r\n" % BODY
        piece = it.pattern(PIECE)
        if chunked:
            piece = b"%x\r\n" % PIECE + piece + b"\r\n"
        t0 = time.time()
        s.sendall(head.encode() + b"\r\n")
        for _ in range(BODY // PIECE):
            s.sendall(piece)
        if chunked:
            s.sendall(b"0\r\n\r\n")
        sent_s = time.time() - t0
        st, _, body, complete = hu.read_response(s, 30)
        s.close()
        growth = (self.up.rss[-1] - rss0) / 1024.0
        print("upload of %d MiB (%s) to an upstream silent for %.0f s: sent in %.1f s, RSS +%.1f MB"
              % (BODY >> 20, "chunked" if chunked else "Content-Length", PAUSE_S, sent_s, growth),
              file=sys.stderr)
        self.assertEqual((st, complete), (200, True))
        self.assertEqual(int(body), BODY, "the upstream did not receive the whole body")
        self.assertEqual(self.up.received[-1], BODY)
        # The client could not have sent it all before the upstream read again.
        self.assertGreater(sent_s, PAUSE_S * 0.8, "the client was never paused")
        bound = hu.memory_bound(16.0)
        if bound is not None:
            self.assertLess(growth, bound, "fngate buffered the upload")

    def test_01_content_length_upload(self):
        self.upload(chunked=False)

    def test_02_chunked_upload(self):
        self.upload(chunked=True)

    def test_03_still_serving(self):
        self.assertTrue(self.gw.proc.alive())


if __name__ == "__main__":
    it.main()
