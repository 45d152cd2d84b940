#!/usr/bin/env python3
"""test_websocket.py - upgrades (src/tunnel.c): the gate before any upstream contact, the 101
relayed and the connection turned into a byte tunnel both ways with backpressure, half-close,
the idle timeout, the tunnel cap, and upgrades answered otherwise (or not eligible) kept plain
HTTP so that no byte after them can pass as a tunnel's.

The upstream is Python's `websockets` (tests/integration/ws_upstream.py, run by Debian's
/usr/bin/python3 with python3-websockets, installed here when missing); the client is a raw
socket speaking RFC 6455 frames, so the test sees every byte fngate relays. Tokens are minted
as in test_gateway_auth: an RS256 Scaleway-shaped token of the namespace key for function
"priv" (it.scw_claims(function_id="priv"))."""

import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import hostile_util as hu  # noqa: E402
import tls_util as tu  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEBIAN_PYTHON = "/usr/bin/python3"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BIG = 8 << 20           # one large message
NBIG = 4                # of them in flight at once (32 MiB) against a bounded fngate


def ensure_websockets():
    """Debian's python3-websockets for /usr/bin/python3 (installed with apt when missing)."""
    probe = [DEBIAN_PYTHON, "-c", "import websockets"]
    if subprocess.run(probe, stderr=subprocess.DEVNULL).returncode == 0:
        return
    it.apt_install("python3-websockets")
    subprocess.run(probe, check=True)



def client_frame(payload, opcode=None):
    """One masked client frame (RFC 6455 5.2); text for str, binary for bytes by default."""
    if opcode is None:
        opcode = 1 if isinstance(payload, str) else 2
    if isinstance(payload, str):
        payload = payload.encode()
    mask = os.urandom(4)
    n = len(payload)
    hdr = bytes([0x80 | opcode])
    if n < 126:
        hdr += bytes([0x80 | n])
    elif n < 65536:
        hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
    # XOR the payload with the mask in one big-integer operation (fast for MiBs).
    m = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big") \
        if n else b""
    return hdr + mask + masked

class WsUpstream:
    def __init__(self, env):
        self.port = it.free_port()
        self.proc = it.Proc([DEBIAN_PYTHON, os.path.join(HERE, "ws_upstream.py"), str(self.port)],
                            os.path.join(env.dir, "ws_upstream.log"), "ws_upstream")
        env.procs.append(self.proc)
        it.wait_port(self.port, self.proc)
        self.url = "http://127.0.0.1:%d" % self.port

    def stats(self):
        r = it.curl("http://127.0.0.1:%d/_stats" % self.port)
        return json.loads(r.body)


class Ws:
    """A raw WebSocket client over one socket (RFC 6455: masked frames out)."""

    def __init__(self, port, path, token=None, extra="", timeout=10, tls=False):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.s = ctx.wrap_socket(self.s, server_hostname="localhost")
        self.key = base64.b64encode(os.urandom(16)).decode()
        head = ("GET %s HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: chat\r\n" % (path, self.key))
        if token:
            head += "X-Auth-Token: %s\r\n" % token
        self.s.sendall((head + extra + "\r\n").encode())
        self.buf = b""
        self.status, self.headers, self.body = self._read_head()

    def _recv(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError
        self.buf += d

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = b""
        if status != 101:
            n = int(headers.get("content-length", "0"))
            while len(self.buf) < n:
                self._recv()
            body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def accept_ok(self):
        want = base64.b64encode(hashlib.sha1(self.key.encode() + WS_GUID).digest()).decode()
        return self.headers.get("sec-websocket-accept") == want

    def send(self, payload, opcode=None):
        self.s.sendall(client_frame(payload, opcode))

    def recv(self):
        """One frame: (opcode, payload). Raises EOFError when the connection closed."""
        while len(self.buf) < 2:
            self._recv()
        b1 = self.buf[1] & 0x7f
        off = 2
        if b1 == 126:
            while len(self.buf) < 4:
                self._recv()
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif b1 == 127:
            while len(self.buf) < 10:
                self._recv()
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        else:
            n = b1
        while len(self.buf) < off + n:
            self._recv()
        op, payload = self.buf[0] & 0x0f, self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return op, payload

    def eof(self, timeout):
        """True when the peer closes within timeout (whatever arrives first is discarded)."""
        self.s.settimeout(timeout)
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except (socket.timeout, ConnectionResetError):
            return False

    def close(self):
        self.s.close()


def metric(admin_port, name):
    text = it.curl("http://127.0.0.1:%d/metrics" % admin_port).body.decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line
    return None


def metric_value(admin_port, name):
    line = metric(admin_port, name)
    return float(line.rsplit(" ", 1)[1]) if line else None


class AnswersAnything:
    """A raw upstream that answers 101 Switching Protocols to any request (a broken or hostile
    one): fngate must not tunnel a request that was not an eligible upgrade."""

    def __init__(self):
        self.up = hu.FakeUpstream(self.handle)
        self.url = self.up.url

    @staticmethod
    def handle(s, path, head, body):
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\n\r\nRAW-BYTES-FROM-UPSTREAM")
        return False


class HalfCloseUpstream:
    """A raw upstream that accepts any upgrade, reads the tunnel to the client's end (our FIN
    passed on), then sends back "got:" and what it read, and closes."""

    def __init__(self):
        self.up = hu.FakeUpstream(self.handle)
        self.url = self.up.url

    @staticmethod
    def handle(s, path, head, body):
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\n\r\n")
        got = b""
        s.settimeout(10)
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        s.sendall(b"got:" + got)
        return False


PUSH = 64 << 20         # pushed through a client / upstream that reads nothing for 2 s
IN_FLIGHT = 24 << 20    # what the kernel's loopback buffers on the way may hold, and more


class RawTunnelUpstream:
    """A raw upstream for the two directions of backpressure. After its 101:
    .../push   sends PUSH bytes as fast as the tunnel takes them (self.pushed counts them);
    .../sink   reads nothing for 2 s, then reads to the client's end and answers the count."""

    def __init__(self):
        self.pushed = 0
        self.up = hu.FakeUpstream(self.handle)
        self.url = self.up.url

    def handle(self, s, path, head, body):
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
        if path.endswith("/push"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            piece = b"p" * 65536
            for _ in range(PUSH // len(piece)):
                s.sendall(piece)
                self.pushed += len(piece)
        else:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            time.sleep(2.0)
            n = 0
            s.settimeout(30)
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break
                n += len(d)
            s.sendall(b"%d" % n)
        return False


class WebSocket(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        ensure_websockets()
        cls.env = it.Env("websocket")
        cls.ws = WsUpstream(cls.env)
        cls.anything = AnswersAnything()
        cls.half = HalfCloseUpstream()
        cls.rawtun = RawTunnelUpstream()
        cls.demo = cls.env.backend("demo")
        cls.key = cls.env.key("ns")
        cls.token = it.mint(cls.key, it.scw_claims(function_id="priv"))
        fns = [
            it.function("priv", "priv", cls.ws.url, prefix="/priv"),
            it.function("pub", "pub", cls.ws.url, privacy="public", prefix="/pub"),
            it.function("idle", "idle", cls.ws.url, privacy="public", prefix="/idle",
                        timeouts={"tunnel_idle_ms": 800}),
            it.function("demo", "demo", cls.demo.url, privacy="public", prefix="/demo"),
            it.function("any", "any", cls.anything.url, privacy="public", prefix="/any"),
            it.function("half", "half", cls.half.url, privacy="public", prefix="/half"),
            it.function("raw", "raw", cls.rawtun.url, privacy="public", prefix="/raw"),
        ]
        conf = it.config(cls.env, [it.namespace("ns", "ns", [cls.key.conf()], fns)])
        cls.admin_port = int(conf["admin"]["listen"].rsplit(":", 1)[1])
        cls.gw = cls.env.fngate(conf)

    @classmethod
    def tearDownClass(cls):
        cls.anything.up.stop()
        cls.half.up.stop()
        cls.rawtun.up.stop()
        cls.env.close()

    def open(self, path="/priv/echo", token=True, **kw):
        return Ws(self.gw.port, path, self.token if token is True else token, **kw)

    def wait_tunnels_closed(self):
        deadline = time.time() + 5
        while time.time() < deadline:
            if metric_value(self.admin_port, "fngate_tunnels_open") == 0:
                return
            time.sleep(0.05)
        self.fail("tunnels still open: %s" % metric(self.admin_port, "fngate_tunnels_open"))

    # ------------------------------------------------------------------ the gate first

    def test_01_gate_before_any_upstream_contact(self):
        before = self.ws.stats()["connections"]
        for tok in (None, "not-a-token", it.mint(self.key, it.scw_claims(function_id="other"))):
            w = self.open(token=tok)
            self.assertEqual(w.status, 403)
            self.assertIn(json.loads(w.body)["error"], ("token_missing", "token_malformed",
                                                        "token_scope"))
            self.assertNotIn("upgrade", w.headers.get("connection", "").lower())
            w.close()
        # The only connection the upstream saw since is the _stats query itself.
        self.assertEqual(self.ws.stats()["connections"] - before, 1,
                         "the upstream was contacted for a refused upgrade")

    # ------------------------------------------------------------------ the tunnel

    def test_02_echo_text_and_binary(self):
        w = self.open()
        self.assertEqual(w.status, 101)
        self.assertTrue(w.accept_ok(), w.headers)
        self.assertEqual(w.headers.get("upgrade", "").lower(), "websocket")
        self.assertEqual(w.headers.get("connection", "").lower(), "upgrade")
        self.assertEqual(w.headers.get("sec-websocket-protocol"), None)   # none chosen upstream
        w.send("hello")
        self.assertEqual(w.recv(), (1, b"hello"))
        blob = bytes(range(256)) * 40
        w.send(blob)
        self.assertEqual(w.recv(), (2, blob))
        for i in range(50):
            w.send("m%d" % i)
        for i in range(50):
            self.assertEqual(w.recv(), (1, b"m%d" % i))
        w.send(b"\x03\xe8", opcode=8)       # close 1000
        op, _ = w.recv()
        self.assertEqual(op, 8)
        self.assertTrue(w.eof(5), "the tunnel did not end after the close handshake")
        w.close()
        self.wait_tunnels_closed()

    def test_03_upgrade_fields_forwarded(self):
        w = self.open("/priv/headers")
        self.assertEqual(w.status, 101)
        op, payload = w.recv()
        seen = json.loads(payload)
        self.assertEqual(seen["upgrade"], "websocket")
        self.assertEqual(seen["connection"], "Upgrade")
        self.assertEqual(seen["sec-websocket-key"], w.key)
        self.assertEqual(seen["sec-websocket-version"], "13")
        self.assertEqual(seen["sec-websocket-protocol"], "chat")
        self.assertNotIn("x-auth-token", seen)
        self.assertEqual(seen["x-fngate-function"], "priv")
        w.close()

    def test_04_large_messages_with_backpressure(self):
        rss0 = hu.rss_kb(self.gw.proc.pid)
        w = self.open(timeout=60)
        self.assertEqual(w.status, 101)
        w.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        msgs = [it.pattern(BIG, off=i) for i in range(NBIG)]
        t0 = time.time()
        sent = []

        def sender():
            for m in msgs:
                w.send(m)
            sent.append(time.time() - t0)

        th = threading.Thread(target=sender, daemon=True)
        th.start()
        # Read nothing for 2 s: every buffer on the way fills, fngate must stop reading.
        peak = rss0
        while time.time() - t0 < 2.0:
            peak = max(peak, hu.rss_kb(self.gw.proc.pid))
            time.sleep(0.05)
        # (The upstream itself may take it all: websockets queues whole messages in memory.)
        for m in msgs:
            op, payload = w.recv()
            self.assertEqual(op, 2)
            self.assertEqual(len(payload), len(m))
            self.assertTrue(payload == m, "a large message came back altered")
        th.join(30)
        growth = (peak - rss0) / 1024.0
        print("%d x %d MiB echoed through a client that paused 2 s: RSS +%.1f MB"
              % (NBIG, BIG >> 20, growth), file=sys.stderr)
        bound = hu.memory_bound(16.0)
        if bound is not None:
            self.assertLess(growth, bound, "fngate buffered the tunnel")
        w.close()

    def test_04b_upstream_pushing_to_a_client_that_does_not_read(self):
        rss0 = hu.rss_kb(self.gw.proc.pid)
        self.rawtun.pushed = 0
        w = self.open("/raw/push", token=None, timeout=30)
        self.assertEqual(w.status, 101)
        peak = rss0
        for _ in range(40):
            peak = max(peak, hu.rss_kb(self.gw.proc.pid))
            time.sleep(0.05)
        stalled = self.rawtun.pushed
        self.assertLess(stalled, IN_FLIGHT, "fngate kept reading the upstream")
        got = len(w.buf)
        while got < PUSH:
            d = w.s.recv(1 << 20)
            self.assertTrue(d, "the tunnel ended after %d bytes" % got)
            got += len(d)
        self.assertEqual(got, PUSH)
        print("upstream push to a client paused 2 s: %.1f MiB left the upstream, RSS +%.1f MB"
              % (stalled / 1048576.0, (peak - rss0) / 1024.0), file=sys.stderr)
        bound = hu.memory_bound(16.0)
        if bound is not None:
            self.assertLess((peak - rss0) / 1024.0, bound)
        w.close()

    def test_04c_client_pushing_to_an_upstream_that_does_not_read(self):
        rss0 = hu.rss_kb(self.gw.proc.pid)
        w = self.open("/raw/sink", token=None, timeout=30)
        self.assertEqual(w.status, 101)
        w.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sent = [0]

        def sender():
            piece = b"c" * 65536
            for _ in range(PUSH // len(piece)):
                w.s.sendall(piece)
                sent[0] += len(piece)
            w.s.shutdown(socket.SHUT_WR)

        th = threading.Thread(target=sender, daemon=True)
        th.start()
        peak = rss0
        for _ in range(30):
            peak = max(peak, hu.rss_kb(self.gw.proc.pid))
            time.sleep(0.05)
        stalled = sent[0]
        self.assertLess(stalled, IN_FLIGHT, "fngate kept reading the client")
        th.join(30)
        w.s.settimeout(30)
        got = w.buf
        while True:
            d = w.s.recv(65536)
            if not d:
                break
            got += d
        self.assertEqual(int(got), PUSH)
        print("client push to an upstream paused 2 s: %.1f MiB left the client, RSS +%.1f MB"
              % (stalled / 1048576.0, (peak - rss0) / 1024.0), file=sys.stderr)
        bound = hu.memory_bound(16.0)
        if bound is not None:
            self.assertLess((peak - rss0) / 1024.0, bound)
        w.close()

    def test_05_close_from_upstream_ends_both(self):
        w = self.open("/priv/close")
        w.send("last")
        self.assertEqual(w.recv(), (1, b"last"))
        op, payload = w.recv()
        self.assertEqual(op, 8)
        self.assertEqual(payload[:2], b"\x03\xe8")
        w.send(b"\x03\xe8", opcode=8)
        self.assertTrue(w.eof(5))
        w.close()
        self.wait_tunnels_closed()

    def test_06_client_vanishing_ends_both(self):
        w = self.open()
        w.send("x")
        self.assertEqual(w.recv(), (1, b"x"))
        w.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.close()       # a reset, no close frame
        self.wait_tunnels_closed()

    def test_07_client_half_close(self):
        """The client ends its direction (FIN); the upstream sees the end, and its own
        direction goes on until it ends it too."""
        w = self.open("/half/x", token=None)
        self.assertEqual(w.status, 101)
        w.send("before-fin")
        w.s.shutdown(socket.SHUT_WR)
        w.s.settimeout(10)
        got = w.buf
        while True:
            d = w.s.recv(65536)
            if not d:
                break
            got += d
        # The upstream read to our FIN, then answered with everything it had read.
        self.assertTrue(got.startswith(b"got:"), got[:100])
        self.assertEqual(len(got), 4 + 2 + 4 + len("before-fin"))   # "got:", head, mask, data
        w.close()
        self.wait_tunnels_closed()

    def test_08_idle_timeout(self):
        w = self.open("/idle/echo", token=None)
        self.assertEqual(w.status, 101)
        w.send("a")
        self.assertEqual(w.recv(), (1, b"a"))
        t0 = time.time()
        self.assertTrue(w.eof(5), "an idle tunnel was not closed")
        self.assertGreater(time.time() - t0, 0.6)
        w.close()
        time.sleep(0.3)
        lines = [r for r in self.gw.access_lines() if r.get("function") == "idle"]
        self.assertTrue(lines)
        self.assertEqual(lines[-1]["status"], 101)
        self.assertEqual(lines[-1]["reason"], "tunnel_idle_timeout")

    def test_09_access_log_and_metrics(self):
        total0 = metric_value(self.admin_port, "fngate_tunnels_total")
        w = self.open()
        w.send("0123456789")
        self.assertEqual(w.recv(), (1, b"0123456789"))
        w.send(b"\x03\xe8", opcode=8)
        w.recv()
        self.assertTrue(w.eof(5))
        w.close()
        self.wait_tunnels_closed()
        self.assertEqual(metric_value(self.admin_port, "fngate_tunnels_total"), total0 + 1)
        self.assertIsNotNone(metric(self.admin_port, "fngate_tunnel_bytes_total"))
        time.sleep(0.3)
        r = [x for x in self.gw.access_lines() if x.get("function") == "priv"][-1]
        self.assertEqual((r["status"], r["reason"], r["decision"]), (101, "token", "allow"))
        # 10 payload bytes + 6 of frame and mask + the close frame (8), each way minus the mask
        self.assertEqual(r["bytes_in"], 16 + 8)
        self.assertGreater(r["bytes_out"], 12 + 4)     # the 101 head + the frames back
        self.assertGreater(r["total_ms"], 0)

    # ------------------------------------------------------------------ not a tunnel

    def test_10_upgrade_answered_otherwise_is_a_response(self):
        for code in (404, 200):
            w = self.open("/priv/_status/%d" % code)
            self.assertEqual(w.status, code)
            self.assertEqual(w.body, b"status %d\n" % code)
            # The connection goes on as HTTP/1.1.
            w.s.sendall(b"GET /demo/after HTTP/1.1\r\nHost: gw\r\n\r\n")
            st, _, body, complete = hu.read_response(w.s, 5)
            self.assertEqual((st, complete), (200, True))
            self.assertEqual(json.loads(body)["uri"], "/after")
            w.close()

    def test_11_pipelined_bytes_after_a_refused_upgrade_are_http(self):
        """A request smuggled behind an upgrade that was not accepted is parsed (and gated) as
        the next request, never relayed as tunnel bytes."""
        before = self.ws.stats()["requests"].get("/_status/200", 0)
        smuggled = b"GET /priv/_status/200 HTTP/1.1\r\nHost: gw\r\n\r\n"   # no token
        w = self.open("/priv/_status/200", extra="", timeout=5)
        self.assertEqual(w.status, 200)
        w.close()
        data, _ = it.raw(self.gw.port, (
            "GET /priv/_status/200 HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\nX-Auth-Token: %s\r\n\r\n" % self.token).encode()
            + smuggled, timeout=2)
        rs = it.parse_responses(data)
        self.assertEqual([r[0] for r in rs], [200, 403], data[:500])
        body2 = rs[1][2]
        self.assertEqual(json.loads(body2)["error"], "token_missing")
        # Two upgrades with a token reached the upstream; the smuggled one did not.
        self.assertEqual(self.ws.stats()["requests"].get("/_status/200", 0) - before, 2)

    def test_12_not_eligible_upgrades_are_plain(self):
        """POST, HTTP/1.0, a body, or no "upgrade" in Connection: forwarded without Upgrade."""
        cases = [
            b"POST /demo/x HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Content-Length: 0\r\n\r\n",
            b"GET /demo/x HTTP/1.0\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            b"GET /demo/x HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\n\r\n",
        ]
        for req in cases:
            s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
            s.sendall(req)
            st, hdrs, body, _ = hu.read_response(s, 5)
            s.close()
            self.assertEqual(st, 200, req)
            seen = {k.lower(): str(v) for k, v in json.loads(body)["headers"].items()}
            self.assertNotIn("upgrade", seen, req)
            self.assertNotIn("upgrade", seen.get("connection", "").lower(), req)

    def test_13_101_to_a_plain_request_is_refused(self):
        """An upstream that switches protocols unasked: 502, no tunnel, none of its bytes."""
        for req in (b"POST /any/x HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nContent-Length: 0\r\n\r\n",
                    b"GET /any/x HTTP/1.0\r\nHost: gw\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\n\r\n",
                    b"GET /any/x HTTP/1.1\r\nHost: gw\r\n\r\n"):
            s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
            s.sendall(req)
            data = b""
            s.settimeout(5)
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    data += d
                    if b"\r\n\r\n" in data and b"upstream_bad_response" in data:
                        break
            except socket.timeout:
                pass
            s.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 502"), data[:200])
            self.assertNotIn(b"RAW-BYTES-FROM-UPSTREAM", data)

    def test_14_still_serving(self):
        self.assertTrue(self.gw.proc.alive())
        self.wait_tunnels_closed()


class TunnelCap(it.GatewayCase):
    """limits.max_tunnels: the next upgrade is refused with 503 tunnel_limit (after the gate)."""

    @classmethod
    def setUpClass(cls):
        ensure_websockets()
        cls.env = it.Env("websocket-cap")
        cls.ws = WsUpstream(cls.env)
        fns = [it.function("pub", "pub", cls.ws.url, privacy="public", prefix="/pub"),
               it.function("priv", "priv", cls.ws.url, prefix="/priv")]
        key = cls.env.key("ns")
        conf = it.config(cls.env, [it.namespace("ns", "ns", [key.conf()], fns)])
        conf["limits"]["max_tunnels"] = 2
        conf["shutdown_timeout_ms"] = 1500
        cls.gw = cls.env.fngate(conf)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def open_when_free(self):
        """A tunnel, once a closed one gave its slot back (fngate sees the close soon after)."""
        deadline = time.time() + 5
        while True:
            w = Ws(self.gw.port, "/pub/echo")
            if w.status == 101 or time.time() > deadline:
                break
            w.close()
            time.sleep(0.1)
        self.assertEqual(w.status, 101, "a closed tunnel did not give its slot back")
        return w

    def test_cap(self):
        a = Ws(self.gw.port, "/pub/echo")
        b = Ws(self.gw.port, "/pub/echo")
        self.assertEqual((a.status, b.status), (101, 101))
        c = Ws(self.gw.port, "/pub/echo")
        self.assertEqual(c.status, 503)
        self.assertEqual(json.loads(c.body)["error"], "tunnel_limit")
        c.close()
        # The gate still answers first: no token is 403, not 503.
        d = Ws(self.gw.port, "/priv/echo")
        self.assertEqual(d.status, 403)
        d.close()
        a.close()
        e = self.open_when_free()
        e.send("ok")
        self.assertEqual(e.recv(), (1, b"ok"))
        e.close()
        b.close()

    def test_zz_sigterm_ends_open_tunnels(self):
        """A graceful stop waits shutdown_timeout_ms for tunnels, then closes them; exit 0."""
        w = self.open_when_free()
        t0 = time.time()
        self.gw.proc.signal(signal.SIGTERM)
        self.assertTrue(w.eof(10), "an open tunnel kept fngate from stopping")
        self.assertLess(time.time() - t0, 5)
        self.assertEqual(self.gw.proc.wait(10), 0)
        w.close()


class TunnelOverTls(it.GatewayCase):
    """A TLS client connection as a tunnel: no half-close of its own, so an end either way ends
    the tunnel whole (after what is queued is sent)."""

    @classmethod
    def setUpClass(cls):
        ensure_websockets()
        cls.env = it.Env("websocket-tls")
        cls.ws = WsUpstream(cls.env)
        crt, key = tu.self_signed(cls.env.dir, "gw", "localhost", ["DNS:localhost"])
        conf = it.config(cls.env, [it.namespace("ns", "ns", [], [
            it.function("pub", "pub", cls.ws.url, privacy="public", prefix="/pub")])])
        cls.port = int(conf["listen"][0].rsplit(":", 1)[1])
        conf["listen"] = [{"address": conf["listen"][0], "tls": {"cert": crt, "key": key}}]
        cls.gw = tu.start_fngate(cls.env, conf, cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_echo_and_close_from_upstream(self):
        w = Ws(self.port, "/pub/close", tls=True)
        self.assertEqual(w.status, 101)
        self.assertTrue(w.accept_ok())
        big = os.urandom(3 << 20)
        w.send(big)
        self.assertEqual(w.recv(), (2, big))
        op, _ = w.recv()
        self.assertEqual(op, 8)
        w.send(b"\x03\xe8", opcode=8)
        self.assertTrue(w.eof(5))
        w.close()

    def test_client_close(self):
        w = Ws(self.port, "/pub/echo", tls=True)
        w.send("x")
        self.assertEqual(w.recv(), (1, b"x"))
        w.close()
        time.sleep(0.5)
        self.assertTrue(self.gw.proc.alive())
        r = [x for x in self.gw.access_lines() if x.get("path") == "/pub/echo"]
        self.assertTrue(r)
        self.assertEqual(r[-1]["status"], 101)


if __name__ == "__main__":
    it.main()
