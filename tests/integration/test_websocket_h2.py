#!/usr/bin/env python3
"""test_websocket_h2.py - WebSocket over HTTP/2 (RFC 8441, extended CONNECT; src/h2.c with
src/tunnel.c): SETTINGS_ENABLE_CONNECT_PROTOCOL announced (and not where a listener turns it
off), the gate before any upstream contact, the upstream's 101 answered as :status 200 and the
stream turned into a tunnel both ways, two tunnels and a plain request multiplexed on one
connection, END_STREAM passed on both ways, the idle timeout (RST_STREAM CANCEL), the tunnel cap,
a :protocol other than websocket (501) and a plain CONNECT (405), an upstream that refuses the
upgrade relayed, one that ignores it (a 2xx: 502), an h2c function (501), and a drain (GOAWAY) that lets an open tunnel run.

The client writes HTTP/2 frames by hand (hyperframe and hpack, from Debian's python3-h2, found
as test_http2 finds it) and WebSocket frames by hand (masked, RFC 6455); the upstream is
tests/integration/ws_upstream.py (Python's websockets, installed as test_websocket installs it)
or a raw socket upstream of test_websocket.py. Tokens: an RS256 Scaleway-shaped token of the
namespace key for function "priv" (it.scw_claims(function_id="priv")), valid an hour."""

import base64
import json
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fngate_it as it  # noqa: E402
import test_http2 as th  # noqa: E402  (python3-h2's hpack and hyperframe, RawH2)
import test_websocket as tw  # noqa: E402  (the WebSocket upstreams, the metrics reader)

hf = th.hf
hpack = th.hpack
ENABLE_CONNECT_PROTOCOL = 0x8
CANCEL = 0x8


ws_frame = tw.client_frame


class Stream:
    def __init__(self):
        self.headers = None     # the response head: {name: value}
        self.data = b""         # DATA received, not yet taken as WebSocket frames
        self.ended = False      # END_STREAM received
        self.reset = None       # RST_STREAM error code
        self.received = 0       # DATA bytes, all told

    def status(self):
        return int(self.headers[":status"]) if self.headers else None


class H2Ws(th.RawH2):
    """A raw HTTP/2 client connection: extended CONNECT streams and plain requests, every
    response head decoded, received DATA acknowledged at once (WINDOW_UPDATE), and DATA sent
    within the windows fngate grants (which it opens only as the upstream takes the bytes)."""

    def __init__(self, port, timeout=10.0):
        super().__init__(port, timeout)
        self.dec = hpack.Decoder()
        self.streams = {}
        self.settings = None
        self.goaway = None
        self.eof = False
        self.block = {}     # header blocks waiting for their CONTINUATIONs
        self.init_win = 65535
        self.win = {0: 65535}   # what we may send: the connection's (0) and each stream's
        self.stingy = set()     # streams whose DATA is not acknowledged (a slow reader)

    def connect(self, sid, path, token=None, protocol="websocket", extra=(), end_stream=False):
        fields = [(":method", "CONNECT")]
        if protocol is not None:
            fields += [(":protocol", protocol), (":scheme", "http"), (":path", path)]
        fields += [(":authority", "localhost"), ("sec-websocket-version", "13")]
        if token:
            fields.append(("x-auth-token", token))
        f = hf.HeadersFrame(sid, data=self.enc.encode(fields + list(extra)))
        f.flags = set(["END_HEADERS"] + (["END_STREAM"] if end_stream else []))
        self.streams[sid] = Stream()
        self.send(f.serialize())

    def get(self, sid, path):
        self.streams[sid] = Stream()
        self.send(self.headers(sid, path))

    def window(self, sid):
        return min(self.win[0], self.win.setdefault(sid, self.init_win))

    def data(self, sid, payload, end=False, timeout=10.0):
        """DATA frames of at most 16384 bytes (the default SETTINGS_MAX_FRAME_SIZE), each
        waiting for window."""
        while True:
            if payload and not self.pump(lambda: self.window(sid) > 0, timeout):
                raise AssertionError("stream %d: no window to send on" % sid)
            n = min(len(payload), 16384, self.window(sid))
            f = hf.DataFrame(sid, data=payload[:n])
            payload = payload[n:]
            self.win[0] -= n
            self.win[sid] -= n
            if end and not payload:
                f.flags.add("END_STREAM")
            self.send(f.serialize())
            if not payload:
                return

    def ws_send(self, sid, payload, opcode=None):
        self.data(sid, ws_frame(payload, opcode))

    def _frame(self, f):
        st = self.streams.get(f.stream_id)
        if isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
            if self.settings is None:
                self.settings = dict(f.settings)
            new = f.settings.get(hf.SettingsFrame.INITIAL_WINDOW_SIZE)
            if new is not None:
                for sid in self.win:
                    if sid != 0:
                        self.win[sid] += new - self.init_win
                self.init_win = new
            ack = hf.SettingsFrame(0)
            ack.flags.add("ACK")
            self.send(ack.serialize())
        elif isinstance(f, hf.PingFrame) and "ACK" not in f.flags:
            pong = hf.PingFrame(0, opaque_data=f.opaque_data)
            pong.flags.add("ACK")
            self.send(pong.serialize())
        elif isinstance(f, hf.GoAwayFrame):
            self.goaway = f
        elif isinstance(f, hf.WindowUpdateFrame):
            self.win[f.stream_id] = self.win.get(f.stream_id, self.init_win) + \
                f.window_increment
        elif isinstance(f, (hf.HeadersFrame, hf.ContinuationFrame)) and st is not None:
            self.block[f.stream_id] = self.block.get(f.stream_id, b"") + f.data
            if isinstance(f, hf.HeadersFrame) and "END_STREAM" in f.flags:
                st.ended = True
            if "END_HEADERS" in f.flags:
                fields = self.dec.decode(self.block.pop(f.stream_id))
                if st.headers is None:
                    st.headers = {k: v for k, v in fields}
        elif isinstance(f, hf.DataFrame) and st is not None:
            st.data += f.data
            st.received += len(f.data)
            if len(st.data) > (1 << 20):
                st.data = st.data[-(1 << 20):]   # a pushed stream: only its count matters
            if f.flow_controlled_length:
                for sid in (0,) if f.stream_id in self.stingy else (0, f.stream_id):
                    self.send(hf.WindowUpdateFrame(sid, window_increment=f.flow_controlled_length)
                              .serialize())
            if "END_STREAM" in f.flags:
                st.ended = True
        elif isinstance(f, hf.RstStreamFrame) and st is not None:
            st.reset = f.error_code

    def pump(self, until, timeout=5.0):
        """Read and handle frames until until() is true, the peer closes, or timeout."""
        deadline = time.time() + timeout
        while not until():
            for f in self.take_frames():
                self._frame(f)
            if until() or self.eof or time.time() >= deadline:
                break
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                d = self.sock.recv(1 << 20)
            except OSError:
                d = None
                if time.time() >= deadline:
                    break
                continue
            if not d:
                self.eof = True
            self.buf += d or b""
        return until()

    def response(self, sid, timeout=5.0):
        st = self.streams[sid]
        self.pump(lambda: st.headers is not None or st.reset is not None, timeout)
        return st

    def body(self, sid, timeout=5.0):
        st = self.streams[sid]
        self.pump(lambda: st.ended or st.reset is not None, timeout)
        return st.data

    def ws_recv(self, sid, timeout=5.0):
        """One (unmasked) server frame of the tunnel: (opcode, payload)."""
        st = self.streams[sid]

        def frame():
            b = st.data
            if len(b) < 2:
                return None
            n, off = b[1] & 0x7f, 2
            if n == 126:
                if len(b) < 4:
                    return None
                n, off = struct.unpack("!H", b[2:4])[0], 4
            elif n == 127:
                if len(b) < 10:
                    return None
                n, off = struct.unpack("!Q", b[2:10])[0], 10
            return (off, n) if len(b) >= off + n else None
        if not self.pump(lambda: frame() is not None, timeout):
            raise AssertionError("no WebSocket frame on stream %d: %r" % (sid, vars(st)))
        off, n = frame()
        op, payload = st.data[0] & 0x0f, st.data[off:off + n]
        st.data = st.data[off + n:]
        return op, payload


class WebSocketH2(it.GatewayCase):
    @classmethod
    def setUpClass(cls):
        tw.ensure_websockets()
        cls.env = it.Env("websocket-h2")
        cls.ws = tw.WsUpstream(cls.env)
        cls.half = tw.HalfCloseUpstream()
        cls.rawtun = tw.RawTunnelUpstream()
        cls.demo = cls.env.backend("demo")
        cls.key = cls.env.key("ns")
        cls.token = it.mint(cls.key, it.scw_claims(function_id="priv"))
        fns = [
            it.function("priv", "priv", cls.ws.url, prefix="/priv"),
            it.function("pub", "pub", cls.ws.url, privacy="public", prefix="/pub"),
            it.function("idle", "idle", cls.ws.url, privacy="public", prefix="/idle",
                        timeouts={"tunnel_idle_ms": 800}),
            it.function("half", "half", cls.half.url, privacy="public", prefix="/half"),
            it.function("demo", "demo", cls.demo.url, privacy="public", prefix="/demo"),
            it.function("raw", "raw", cls.rawtun.url, privacy="public", prefix="/raw"),
            # h2c upstreams carry no tunnel: refused before any connection (nothing listens)
            it.function("grpc", "grpc", "http://127.0.0.1:%d" % it.free_port(),
                        privacy="public", prefix="/grpc", upstream_protocol="h2c"),
        ]
        cls.port = it.free_port()
        cls.off_port = it.free_port()
        conf = it.config(cls.env, [it.namespace("ns", "ns", [cls.key.conf()], fns)],
                         port=cls.port, workers=1)
        conf["listen"] = ["127.0.0.1:%d" % cls.port,
                          {"address": "127.0.0.1:%d" % cls.off_port,
                           "http2": {"extended_connect": False}}]
        conf["limits"]["max_tunnels"] = 3
        conf["shutdown_timeout_ms"] = 3000
        cls.admin_port = int(conf["admin"]["listen"].rsplit(":", 1)[1])
        cls.gw = cls.env.fngate(conf)
        it.wait_port(cls.off_port, cls.gw.proc)

    @classmethod
    def tearDownClass(cls):
        cls.half.up.stop()
        cls.rawtun.up.stop()
        cls.env.close()

    def conn(self, port=None):
        c = H2Ws(port or self.port)
        self.addCleanup(c.close)
        self.assertTrue(c.pump(lambda: c.settings is not None), "no SETTINGS")
        return c

    def tunnels_open(self):
        return tw.metric_value(self.admin_port, "fngate_tunnels_open")

    def wait_tunnels_closed(self):
        deadline = time.time() + 5
        while self.tunnels_open() != 0:
            if time.time() > deadline:
                self.fail("tunnels still open: %s" % self.tunnels_open())
            time.sleep(0.05)

    def open_tunnel(self, c, sid, path="/priv/echo", **kw):
        c.connect(sid, path, token=kw.pop("token", self.token), **kw)
        st = c.response(sid)
        self.assertEqual(st.status(), 200, vars(st))
        return st

    # ------------------------------------------------------------------ SETTINGS

    def test_01_settings_announce_extended_connect(self):
        c = self.conn()
        self.assertEqual(c.settings.get(ENABLE_CONNECT_PROTOCOL), 1, c.settings)
        # A listener with "extended_connect": false does not announce it, and nghttp2 then
        # takes :protocol for a malformed request: the stream is reset, no upstream reached.
        before = self.ws.stats()["connections"]
        off = self.conn(self.off_port)
        self.assertNotIn(ENABLE_CONNECT_PROTOCOL, off.settings)
        off.connect(1, "/pub/echo")
        st = off.response(1)
        self.assertIsNone(st.headers)
        self.assertIsNotNone(st.reset)
        self.assertEqual(self.ws.stats()["connections"] - before, 1)    # the _stats query

    # ------------------------------------------------------------------ the gate first

    def test_02_gate_before_any_upstream_contact(self):
        before = self.ws.stats()["connections"]
        c = self.conn()
        other = it.mint(self.key, it.scw_claims(function_id="other"))
        for sid, tok, reason in ((1, None, "token_missing"), (3, "not-a-token", "token_malformed"),
                                 (5, other, "token_scope")):
            c.connect(sid, "/priv/echo", token=tok)
            st = c.response(sid)
            self.assertEqual(st.status(), 403)
            self.assertEqual(json.loads(c.body(sid))["error"], reason)
        self.assertEqual(self.ws.stats()["connections"] - before, 1,
                         "the upstream was contacted for a refused extended CONNECT")
        self.assertEqual(self.tunnels_open(), 0)

    # ------------------------------------------------------------------ the tunnel

    def test_03_echo_both_ways(self):
        c = self.conn()
        st = self.open_tunnel(c, 1)
        # RFC 8441 5: no accept (the client sent no key), no connection-specific fields.
        for name in ("sec-websocket-accept", "upgrade", "connection"):
            self.assertNotIn(name, st.headers)
        self.assertTrue(st.headers.get("x-request-id"))
        c.ws_send(1, "hello")
        self.assertEqual(c.ws_recv(1), (1, b"hello"))
        blob = bytes(range(256)) * 400      # 100 KiB: more than a stream window each way
        c.ws_send(1, blob)
        self.assertEqual(c.ws_recv(1, timeout=10), (2, blob))
        for i in range(30):
            c.ws_send(1, "m%d" % i)
        for i in range(30):
            self.assertEqual(c.ws_recv(1), (1, b"m%d" % i))
        self.assertEqual(self.tunnels_open(), 1)
        c.ws_send(1, b"\x03\xe8", opcode=8)     # close 1000: the upstream answers and closes
        self.assertEqual(c.ws_recv(1)[0], 8)
        self.assertTrue(c.pump(lambda: c.streams[1].ended), "no END_STREAM after the close")
        self.assertIsNone(c.streams[1].reset)
        c.data(1, b"", end=True)
        self.wait_tunnels_closed()
        time.sleep(0.3)
        r = [x for x in self.gw.access_lines() if x.get("function") == "priv"][-1]
        self.assertEqual((r["status"], r["reason"], r["protocol"]), (200, "token", "HTTP/2.0"))
        self.assertGreater(r["bytes_in"], len(blob))

    def test_04_upgrade_fields_reach_the_upstream(self):
        c = self.conn()
        self.open_tunnel(c, 1, "/priv/headers",
                         extra=[("sec-websocket-protocol", "chat"),
                                ("sec-websocket-key", "c2VudCBieSB0aGUgY2xpZW50IQ==")])
        seen = json.loads(c.ws_recv(1)[1])
        self.assertEqual(seen["upgrade"], "websocket")
        self.assertEqual(seen["connection"], "Upgrade")
        self.assertEqual(len(base64.b64decode(seen["sec-websocket-key"], validate=True)), 16)
        self.assertNotEqual(seen["sec-websocket-key"], "c2VudCBieSB0aGUgY2xpZW50IQ==")
        self.assertEqual(seen["sec-websocket-version"], "13")
        self.assertEqual(seen["sec-websocket-protocol"], "chat")
        self.assertNotIn("x-auth-token", seen)
        self.assertEqual(seen["x-fngate-function"], "priv")
        self.assertEqual(seen["x-fngate-credential"], "jwt")

    def test_05_two_tunnels_and_a_request_on_one_connection(self):
        self.wait_tunnels_closed()
        c = self.conn()
        self.open_tunnel(c, 1)
        self.open_tunnel(c, 3, "/pub/echo", token=None)
        self.assertEqual(self.tunnels_open(), 2)
        c.get(5, "/demo/plain")
        self.assertEqual(c.response(5).status(), 200)
        self.assertTrue(json.loads(c.body(5))["uri"].endswith("/plain"))
        for i in range(5):
            c.ws_send(3, "three-%d" % i)
            c.ws_send(1, "one-%d" % i)
        for i in range(5):
            self.assertEqual(c.ws_recv(1), (1, b"one-%d" % i))
            self.assertEqual(c.ws_recv(3), (1, b"three-%d" % i))
        # One tunnel reset by the client: the other goes on.
        c.send(hf.RstStreamFrame(1, error_code=CANCEL).serialize())
        c.ws_send(3, "still")
        self.assertEqual(c.ws_recv(3), (1, b"still"))
        c.close()
        self.wait_tunnels_closed()

    def test_06_end_stream_passed_both_ways(self):
        """The client's END_STREAM reaches the upstream as a FIN (it then answers what it
        read and closes); the upstream's close ends the stream (END_STREAM, no reset)."""
        c = self.conn()
        self.open_tunnel(c, 1, "/half/x", token=None)
        c.data(1, b"abc")
        c.data(1, b"def", end=True)
        self.assertEqual(c.body(1), b"got:abcdef")
        self.assertTrue(c.streams[1].ended)
        self.assertIsNone(c.streams[1].reset)
        self.wait_tunnels_closed()
        # The connection is still good for more.
        c.get(3, "/demo/after")
        self.assertEqual(c.response(3).status(), 200)

    def test_07_idle_timeout_resets(self):
        c = self.conn()
        self.open_tunnel(c, 1, "/idle/echo", token=None)
        c.ws_send(1, "a")
        self.assertEqual(c.ws_recv(1), (1, b"a"))
        t0 = time.time()
        c.pump(lambda: c.streams[1].reset is not None, timeout=5)
        self.assertEqual(c.streams[1].reset, CANCEL)
        self.assertGreater(time.time() - t0, 0.6)
        self.wait_tunnels_closed()
        time.sleep(0.3)
        r = [x for x in self.gw.access_lines() if x.get("function") == "idle"][-1]
        self.assertEqual((r["status"], r["reason"]), (200, "tunnel_idle_timeout"))

    def test_08_tunnel_cap(self):
        self.wait_tunnels_closed()
        c = self.conn()
        for sid in (1, 3, 5):
            self.open_tunnel(c, sid, "/pub/echo", token=None)
        c.connect(7, "/pub/echo")
        self.assertEqual(c.response(7).status(), 503)
        self.assertEqual(json.loads(c.body(7))["error"], "tunnel_limit")
        # The gate answers first: without a token, 403, not 503.
        c.connect(9, "/priv/echo")
        self.assertEqual(c.response(9).status(), 403)
        c.send(hf.RstStreamFrame(1, error_code=CANCEL).serialize())
        deadline = time.time() + 5
        while self.tunnels_open() != 2 and time.time() < deadline:
            time.sleep(0.05)
        self.open_tunnel(c, 11, "/pub/echo", token=None)
        c.ws_send(11, "ok")
        self.assertEqual(c.ws_recv(11), (1, b"ok"))
        c.close()
        self.wait_tunnels_closed()

    def test_08b_slow_reader_bounds_the_tunnel(self):
        """The upstream pushes 64 MiB into a tunnel whose client grants no more window: fngate
        stops reading the upstream (flow control is the backpressure) and buffers a bounded
        amount, while another stream of the connection is served; once the client reads
        again, the bytes flow."""
        self.wait_tunnels_closed()
        rss0 = th.rss_kb(self.gw.proc.pid)
        self.rawtun.pushed = 0
        c = self.conn()
        c.stingy.add(1)
        self.open_tunnel(c, 1, "/raw/push", token=None)
        c.pump(lambda: False, timeout=2.0)
        stalled = self.rawtun.pushed
        self.assertEqual(c.streams[1].received, 65535)      # the stream's window, no more
        self.assertLess(stalled, tw.IN_FLIGHT, "fngate kept reading the upstream")
        c.get(3, "/demo/meanwhile")
        self.assertEqual(c.response(3).status(), 200)
        c.pump(lambda: False, timeout=0.5)
        self.assertLess(self.rawtun.pushed - stalled, 1 << 20)
        bound = tw.hu.memory_bound(8 * 1024)
        if bound is not None:
            self.assertLess(th.rss_kb(self.gw.proc.pid) - rss0, bound, "fngate buffered the tunnel")
        c.stingy.discard(1)
        c.send(hf.WindowUpdateFrame(1, window_increment=8 << 20).serialize())
        self.assertTrue(c.pump(lambda: c.streams[1].received > 4 << 20, timeout=10),
                        "the tunnel did not resume: %d bytes" % c.streams[1].received)
        c.close()
        self.wait_tunnels_closed()

    def test_09_other_protocols_and_plain_connect_refused(self):
        before = self.ws.stats()["connections"]
        c = self.conn()
        c.connect(1, "/pub/echo", protocol="connect-udp")
        self.assertEqual(c.response(1).status(), 501)
        self.assertEqual(json.loads(c.body(1))["error"], "protocol_not_supported")
        c.connect(3, None, protocol=None)       # CONNECT localhost: a TCP tunnel
        self.assertEqual(c.response(3).status(), 405)
        self.assertEqual(json.loads(c.body(3))["error"], "method_not_allowed")
        self.assertEqual(self.ws.stats()["connections"] - before, 1)

    def test_10_upstream_answering_otherwise_is_relayed(self):
        c = self.conn()
        c.connect(1, "/pub/_status/404")
        st = c.response(1)
        self.assertEqual(st.status(), 404)
        self.assertEqual(c.body(1), b"status 404\n")
        self.assertTrue(st.ended)
        # Data the client sends on it is not a tunnel's: dropped, and the connection goes on.
        c.data(1, b"ignored")
        c.get(3, "/demo/next")
        self.assertEqual(c.response(3).status(), 200)
        self.wait_tunnels_closed()

    def test_10b_upstream_ignoring_the_upgrade_is_refused(self):
        """A 2xx in place of the 101 would tell the client its tunnel is open (RFC 8441 5):
        the demo backend answers 200 to anything, so the call fails 502, and the
        connection goes on."""
        c = self.conn()
        c.connect(1, "/demo/ws")
        st = c.response(1)
        self.assertEqual(st.status(), 502, vars(st))
        self.assertEqual(json.loads(c.body(1))["error"], "upstream_upgrade_refused")
        c.get(3, "/demo/next")
        self.assertEqual(c.response(3).status(), 200)
        self.wait_tunnels_closed()

    def test_10c_h2c_function_carries_no_tunnel(self):
        c = self.conn()
        c.connect(1, "/grpc/ws")
        st = c.response(1)
        self.assertEqual(st.status(), 501, vars(st))
        self.assertEqual(json.loads(c.body(1))["error"], "protocol_not_supported")
        self.wait_tunnels_closed()

    def test_zz_drain_lets_tunnels_run(self):
        """SIGTERM: GOAWAY, the open tunnel still carries bytes, and ends with the shutdown
        timeout (3 s here)."""
        c = self.conn()
        self.open_tunnel(c, 1, "/pub/echo", token=None)
        self.gw.proc.signal(signal.SIGTERM)
        self.assertTrue(c.pump(lambda: c.goaway is not None), "no GOAWAY")
        self.assertEqual(c.goaway.last_stream_id, 1)
        time.sleep(1.0)
        c.ws_send(1, "during the drain")
        self.assertEqual(c.ws_recv(1), (1, b"during the drain"))
        c.pump(lambda: c.eof, timeout=8)
        self.assertTrue(c.eof, "the connection outlived the shutdown timeout")
        self.gw.proc.wait(10)


if __name__ == "__main__":
    it.main()
